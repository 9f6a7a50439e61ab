// The management API (/v1), with the key of this tab's session. The key lives in
// sessionStorage only: never in a URL, a cookie or a log.

const STORE = 'updraft.key';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  key: () => sessionStorage.getItem(STORE),
  set: (key) => sessionStorage.setItem(STORE, key),
  clear: () => sessionStorage.removeItem(STORE),
};

/** Called when the server no longer accepts the key (revoked, expired). */
let onSignedOut = () => {};
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

export async function call(method, path, body, key = session.key()) {
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'The server did not answer: ' + e.message);
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (resp.status === 401 && key === session.key()) {
    session.clear();
    onSignedOut(data && data.message);
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, data && data.error, data && data.message);
  }
  return data;
}

const enc = encodeURIComponent;
export const api = {
  whoami: (key) => call('GET', '/v1/whoami', undefined, key),
  apps: () => call('GET', '/v1/apps'),
  app: (app) => call('GET', `/v1/apps/${enc(app)}`),
  createApp: (body) => call('POST', '/v1/apps', body),
  deleteApp: (app) => call('DELETE', `/v1/apps/${enc(app)}`),
  stats: (app) => call('GET', `/v1/apps/${enc(app)}/stats`),
  channels: (app) => call('GET', `/v1/apps/${enc(app)}/channels`),
  createChannel: (app, body) => call('POST', `/v1/apps/${enc(app)}/channels`, body),
  channelStatus: (app, ch) => call('GET', `/v1/apps/${enc(app)}/channels/${enc(ch)}/status`),
  updateChannel: (app, ch, body) => call('PATCH', `/v1/apps/${enc(app)}/channels/${enc(ch)}`, body),
  deleteChannel: (app, ch) => call('DELETE', `/v1/apps/${enc(app)}/channels/${enc(ch)}`),
  startRollout: (app, ch, body) => call('POST', `/v1/apps/${enc(app)}/channels/${enc(ch)}/rollout`, body),
  changeRollout: (app, ch, body) => call('PATCH', `/v1/apps/${enc(app)}/channels/${enc(ch)}/rollout`, body),
  promote: (app, ch) => call('POST', `/v1/apps/${enc(app)}/channels/${enc(ch)}/promote`),
  rollback: (app, ch, body) => call('POST', `/v1/apps/${enc(app)}/channels/${enc(ch)}/rollback`, body),
  bundles: (app) => call('GET', `/v1/apps/${enc(app)}/bundles`),
  deleteBundle: (app, v) => call('DELETE', `/v1/apps/${enc(app)}/bundles/${enc(v)}`),
  events: (app, dev) => call('GET', `/v1/apps/${enc(app)}/devices/${enc(dev)}/events`),
  startDebug: (app, dev, minutes) => call('POST', `/v1/apps/${enc(app)}/devices/${enc(dev)}/debug`, { minutes }),
  endDebug: (app, dev) => call('DELETE', `/v1/apps/${enc(app)}/devices/${enc(dev)}/debug`),
  override: (app, dev) => call('GET', `/v1/apps/${enc(app)}/devices/${enc(dev)}/channel`),
  setOverride: (app, dev, channel) => call('PUT', `/v1/apps/${enc(app)}/devices/${enc(dev)}/channel`, { channel }),
  deleteOverride: (app, dev) => call('DELETE', `/v1/apps/${enc(app)}/devices/${enc(dev)}/channel`),
  keys: () => call('GET', '/v1/keys'),
  createKey: (body) => call('POST', '/v1/keys', body),
  deleteKey: (id) => call('DELETE', `/v1/keys/${enc(id)}`),
};
