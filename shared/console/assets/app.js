// The Updraft console: a hash-routed page over /v1. What a key may not do is not shown.

import { api, session, whenSignedOut, ApiError } from './api.js';
import { h, fill, table, link, when, bytes, form } from './dom.js';
import { stackedBars } from './chart.js';

const main = document.getElementById('main');
const notice = document.getElementById('notice');
const RANK = { read: 0, upload: 1, write: 2, all: 3 };
let me = null; // the signed-in key (whoami)
let timers = [];
// Each route() takes a turn; only the newest may fill the page, so a slow answer for a page
// the operator has already left never replaces the one in front of them.
let turn = 0;

const can = (mode) => me && RANK[me.mode] >= RANK[mode];

function say(text, kind = 'info') {
  notice.hidden = !text;
  notice.className = kind;
  fill(notice, text || '');
}

/** Runs an action, showing the server's message if it is refused. */
async function attempt(fn, done) {
  try {
    const r = await fn();
    say(done || '');
    await route();
    return r;
  } catch (e) {
    say(e instanceof ApiError ? `${e.message}${e.code ? ` (${e.code})` : ''}` : String(e), 'error');
    return undefined;
  }
}

/** Repeats `fn` while the page that asked for it is the one shown. */
function every(ms, fn) {
  const mine = turn;
  const id = setInterval(() => (mine === turn ? fn() : clearInterval(id)), ms);
  timers.push(id);
}

// ------------------------------------------------------------------ sign in / out

function signInPage(message) {
  document.getElementById('nav').hidden = true;
  document.getElementById('sign-out').hidden = true;
  fill(document.getElementById('who'));
  fill(main, h('section.card.narrow', {},
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Paste an Updraft API key. It stays in this tab only, until you sign out or close it.'),
    message ? h('p.error', { id: 'signin-error' }, message) : null,
    form([
      h('input', { name: 'key', type: 'password', autocomplete: 'off', placeholder: 'upd_…', required: true, id: 'key' }),
    ], 'Sign in', async ({ key }) => {
      try {
        me = await api.whoami(key.trim());
        session.set(key.trim());
        // pushState, not location.hash: a hashchange would route a second time.
        history.pushState(null, '', '#/apps');
        await start();
      } catch (e) {
        signInPage(e.status === 401 ? 'That key is not valid (unknown, revoked or expired).' : e.message);
      }
    }, 'stack')));
}

function signOut(message) {
  session.clear();
  me = null;
  timers.forEach(clearInterval);
  timers = [];
  signInPage(message);
}

whenSignedOut((message) => signOut(`Signed out: the server no longer accepts this key${message ? ` (${message})` : ''}.`));

async function start() {
  const key = session.key();
  if (!key) return signInPage();
  try {
    me = await api.whoami(key);
  } catch (e) {
    if (!session.key()) return undefined; // signed out by the 401 handler
    return fill(main, h('p.error', {}, e.message));
  }
  document.getElementById('nav').hidden = false;
  for (const a of document.querySelectorAll('[data-needs]')) a.hidden = !can(a.dataset.needs);
  fill(document.getElementById('who'), `${me.name} · ${me.mode}`);
  document.getElementById('sign-out').hidden = false;
  return route();
}

// ------------------------------------------------------------------ routes

async function route() {
  const mine = ++turn;
  timers.forEach(clearInterval);
  timers = [];
  if (!session.key()) return signInPage();
  // The key may be revoked while the page is open: the heartbeat notices within seconds.
  every(5000, () => api.whoami().catch(() => {}));
  let content;
  try {
    content = await page(location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent));
  } catch (e) {
    if (!session.key()) return undefined;
    content = [h('p.error', {}, e.message)];
  }
  if (mine === turn) fill(main, ...content);
  return undefined;
}

/** The content of the page an address names. */
function page(parts) {
  if (parts[0] === 'keys') return keysPage();
  if (parts[0] === 'apps' && parts[1]) {
    const [, app, section, name] = parts;
    if (section === 'channels' && name) return channelPage(app, name);
    if (section === 'devices' && name) return devicePage(app, name);
    if (section === 'bundles') return bundlesPage(app);
    if (section === 'devices') return devicesPage(app);
    return appPage(app);
  }
  return appsPage();
}

function appNav(app, current) {
  const tabs = [['Overview', ''], ['Bundles', 'bundles'], ['Devices', 'devices']];
  return h('nav.tabs', {}, h('h1', {}, app),
    tabs.map(([label, s]) => {
      const a = s ? link(label, 'apps', app, s) : link(label, 'apps', app);
      if (s === current) a.className = 'current';
      return a;
    }));
}

// ------------------------------------------------------------------ apps

async function appsPage() {
  const apps = await api.apps();
  return [
    h('h1', {}, 'Apps'),
    table(['App id', 'Name', 'Created'],
      apps.map((a) => [link(a.app_id, 'apps', a.app_id), a.name || '', when(a.created_at)]),
      'No apps yet.'),
    can('all') ? h('section.card', {}, h('h2', {}, 'New app'),
      form([
        h('input', { name: 'app_id', placeholder: 'com.example.app', required: true, id: 'new-app-id' }),
        h('input', { name: 'name', placeholder: 'Name (optional)', id: 'new-app-name' }),
      ], 'Create app', ({ app_id, name }) =>
        attempt(() => api.createApp({ app_id: app_id.trim(), name: name.trim() || null }), `App ${app_id} created.`))) : null];
}

async function appPage(app) {
  const [stats, channels] = await Promise.all([api.stats(app), api.channels(app)]);
  return [
    appNav(app, ''),
    h('section.charts', {},
      stackedBars('Update checks per day', stats, 'checks'),
      stackedBars('Installs per day', stats, 'installs'),
      stackedBars('Failures per day', stats, 'failures')),
    h('h2', {}, 'Channels'),
    table(['Channel', 'Serves', 'Rollout', 'Public', 'Automatic rollback'],
      channels.map((c) => [
        link(c.name, 'apps', app, 'channels', c.name),
        c.bundle || 'builtin',
        c.rollout ? `${c.rollout.bundle} to ${(c.rollout.share / 100).toFixed(2)} %${c.rollout.paused ? ' (paused)' : ''}` : '—',
        c.public ? 'yes' : 'no',
        c.auto_rollback && c.auto_rollback.enabled ? 'on' : 'off',
      ]), 'No channels yet.'),
    can('write') ? h('section.card', {}, h('h2', {}, 'New channel'),
      form([
        h('input', { name: 'name', placeholder: 'production', required: true, id: 'new-channel-name' }),
        h('label', {}, h('input', { type: 'checkbox', name: 'public', id: 'new-channel-public' }), ' default channel (public)'),
      ], 'Create channel', ({ name, public: pub }) =>
        attempt(() => api.createChannel(app, { name: name.trim(), public: pub === 'on' }), `Channel ${name} created.`))) : null,
    can('all') ? h('section.card.danger', {}, h('h2', {}, 'Delete app'),
      h('p', {}, 'Deletes the app with its channels, bundles, devices and statistics.'),
      h('button', {
        type: 'button', id: 'delete-app',
        onclick: () => {
          if (confirm(`Delete ${app} and everything in it? This cannot be undone.`)) {
            attempt(async () => { await api.deleteApp(app); location.hash = '#/apps'; }, `App ${app} deleted.`);
          }
        },
      }, 'Delete app')) : null];
}

// ------------------------------------------------------------------ channels

const FLAGS = [
  ['public', 'Default channel (public)'], ['ios', 'iOS'], ['android', 'Android'], ['electron', 'Electron'],
  ['allow_emulator', 'Emulators'], ['allow_dev', 'Development builds'], ['allow_prod', 'Production builds'],
  ['allow_device_self_set', 'Devices may choose it'], ['allow_device', 'Device overrides'],
  ['disable_auto_update_under_native', 'No bundle older than the native version'],
];

async function channelPage(app, name) {
  const [status, bundles] = await Promise.all([api.channelStatus(app, name), api.bundles(app)]);
  const c = status.channel;
  const write = can('write');
  const ready = bundles.filter((b) => b.status === 'ready').map((b) => b.version);
  const select = (id, extra = [], current = null) => h('select', { name: 'bundle', id },
    [...extra, ...ready].map((v) => h('option', { value: v, selected: v === current ? 'selected' : null }, v)));
  const r = c.rollout;
  return [
    appNav(app, 'channels'),
    h('h2', {}, `Channel ${c.name}`),
    h('dl.facts', {},
      h('dt', {}, 'Serves'), h('dd', { id: 'serves' }, c.bundle || 'builtin'),
      h('dt', {}, 'Rollout'), h('dd', { id: 'rollout' }, r ? `${r.bundle} to ${(r.share / 100).toFixed(2)} % of devices${r.paused ? ', paused' : ''}, since ${when(r.started_at)}` : 'none'),
      h('dt', {}, 'Automatic rollback'), h('dd', {}, c.auto_rollback.enabled
        ? `on: over ${c.auto_rollback.threshold / 100} % failing with ${c.auto_rollback.min_failures}+ failures in ${c.auto_rollback.window_minutes} min`
        : 'off'),
      h('dt', {}, 'Rolled back'), h('dd', {}, (c.rolled_back || []).join(', ') || '—')),
    write ? h('section.card', {}, h('h3', {}, 'Serve a bundle'),
      form([select('set-bundle', ['builtin'], c.bundle || 'builtin')], 'Point channel at it', ({ bundle }) =>
        attempt(() => api.updateChannel(app, name, { bundle }), `${name} now serves ${bundle}.`))) : null,
    write && !r ? h('section.card', {}, h('h3', {}, 'Start a rollout'),
      form([select('rollout-bundle'),
        h('input', { name: 'percent', type: 'number', min: '0', max: '100', step: '0.01', value: '10', id: 'rollout-percent' }),
        h('span', {}, '% of devices')], 'Start rollout', ({ bundle, percent }) =>
        attempt(() => api.startRollout(app, name, { bundle, share: Math.round(Number(percent) * 100) }), `Rollout of ${bundle} started.`))) : null,
    write && r ? h('section.card', {}, h('h3', {}, 'Rollout'),
      form([h('input', { name: 'percent', type: 'number', min: '0', max: '100', step: '0.01', value: String(r.share / 100), id: 'rollout-share' }), h('span', {}, '%')],
        'Set share', ({ percent }) => attempt(() => api.changeRollout(app, name, { share: Math.round(Number(percent) * 100) }), 'Share changed.')),
      h('div.row', {},
        h('button', { type: 'button', id: r.paused ? 'resume' : 'pause', onclick: () => attempt(() => api.changeRollout(app, name, { paused: !r.paused }), r.paused ? 'Resumed.' : 'Paused.') }, r.paused ? 'Resume' : 'Pause'),
        h('button', { type: 'button', id: 'promote', onclick: () => attempt(() => api.promote(app, name), `${r.bundle} promoted.`) }, 'Promote to everyone'),
        h('button.danger', { type: 'button', id: 'abort', onclick: () => confirm('Abort the rollout?') && attempt(() => api.rollback(app, name, {}), 'Rollout aborted.') }, 'Abort (roll back)'))) : null,
    write && !r && c.bundle ? h('section.card', {}, h('h3', {}, 'Roll back'),
      h('button.danger', { type: 'button', id: 'rollback', onclick: () => confirm(`Stop serving ${c.bundle}?`) && attempt(() => api.rollback(app, name, {}), 'Rolled back.') }, `Roll back ${c.bundle}`)) : null,
    h('h3', {}, 'Health per version'),
    table(['Version', 'Installs', 'Failures', 'Failure rate', 'Lower bound (95 %)', 'Rollback rule'],
      (status.health || []).map((v) => [v.version, v.installs, v.failures,
        `${(v.failure_rate * 100).toFixed(2)} %`, `${(v.lower_bound * 100).toFixed(2)} %`,
        v.rolls_back ? 'crossed: rolls back' : 'within']), 'No installs reported yet.'),
    h('h3', {}, 'Settings'),
    h('form.flags', { id: 'flags' }, FLAGS.map(([k, label]) => h('label', {},
      h('input', { type: 'checkbox', name: k, checked: c[k], disabled: !write, onchange: (e) => attempt(() => api.updateChannel(app, name, { [k]: e.target.checked }), 'Saved.') }),
      ' ', label)),
    h('label', {},
      h('input', { type: 'checkbox', name: 'auto_rollback', id: 'auto-rollback', checked: c.auto_rollback.enabled, disabled: !write, onchange: (e) => attempt(() => api.updateChannel(app, name, { auto_rollback: { enabled: e.target.checked } }), e.target.checked ? 'Automatic rollback on.' : 'Automatic rollback off.') }),
      ' Automatic rollback')),
    h('h3', {}, 'History'),
    table(['When', 'Change', 'From', 'To', 'By', 'Why'],
      (status.history || []).map((e) => [when(e.at), e.kind, e.from || '—', e.to || '—', e.by, e.reason || '']), 'No changes yet.'),
    write ? h('section.card.danger', {}, h('button', {
      type: 'button', id: 'delete-channel',
      onclick: () => confirm(`Delete channel ${name}?`) && attempt(async () => { await api.deleteChannel(app, name); location.hash = `#/apps/${encodeURIComponent(app)}`; }, `Channel ${name} deleted.`),
    }, 'Delete channel')) : null];
}

// ------------------------------------------------------------------ bundles

async function bundlesPage(app) {
  const [bundles, channels] = await Promise.all([api.bundles(app), api.channels(app)]);
  const servedBy = (v) => channels.filter((c) => c.bundle === v || (c.rollout && c.rollout.bundle === v)).map((c) => c.name).join(', ');
  return [
    appNav(app, 'bundles'),
    h('p.hint', {}, 'Bundles are uploaded with the CLI: updraft bundle upload --channel NAME'),
    table(['Version', 'Status', 'Size', 'SHA-256', 'Uploaded', 'Served by', 'Delta', 'Encrypted', ''],
      bundles.map((b) => [
        b.version, b.status, bytes(b.size), h('code', { title: b.checksum }, (b.checksum || '').slice(0, 12) + '…'),
        when(b.ready_at || b.created_at), servedBy(b.version) || '—',
        b.manifest ? `${b.manifest.length} files` : 'zip only',
        b.session_key ? `yes${b.key_id ? ` (key ${b.key_id})` : ''}` : 'no',
        can('write') ? h('button.small', {
          type: 'button', 'data-version': b.version,
          onclick: () => confirm(`Delete bundle ${b.version}?`) && attempt(() => api.deleteBundle(app, b.version), `Bundle ${b.version} deleted.`),
        }, 'Delete') : '',
      ]), 'No bundles yet.')];
}

// ------------------------------------------------------------------ devices

async function devicesPage(app) {
  return [
    appNav(app, 'devices'),
    h('section.card', {}, h('h2', {}, 'Look up a device'),
      form([h('input', { name: 'device', placeholder: 'device id (UUID)', required: true, id: 'device-id', size: '40' })],
        'Show', ({ device }) => { location.hash = `#/apps/${encodeURIComponent(app)}/devices/${encodeURIComponent(device.trim().toLowerCase())}`; }))];
}

function describe(e) {
  const from = e.old_version_name ? ` (was ${e.old_version_name})` : '';
  const outcome = e.outcome ? ` → ${e.outcome}` : '';
  return `${e.action} ${e.version_name}${from}${outcome} · ${e.platform}, plugin ${e.plugin_version}${e.is_emulator ? ', emulator' : ''}${e.is_prod ? '' : ', dev build'}`;
}

async function devicePage(app, device) {
  // The page shows whatever id it was given (as text), even one the server refuses.
  const [events, override, channels] = await Promise.all([
    api.events(app, device).catch((e) => e), api.override(app, device).catch(() => ({ channel: null })),
    api.channels(app)]);
  const timeline = h('ol.timeline', { id: 'timeline' });
  const show = (list) => fill(timeline, list instanceof Error
    ? h('li.error', {}, list.message)
    : list.length
    ? list.map((e) => h('li', {}, h('time', {}, when(e.at)), ' ', describe(e)))
    : h('li.empty', {}, 'No events from this device yet (update checks are logged while a debug session runs).'));
  show(events);
  const debugUntil = Number(sessionStorage.getItem(`updraft.debug.${app}.${device}`) || 0);
  const live = debugUntil > Date.now();
  if (live) every(2000, async () => show(await api.events(app, device)));
  return [
    appNav(app, 'devices'),
    h('h2', {}, 'Device ', h('code', { id: 'device' }, device)),
    h('dl.facts', {},
      h('dt', {}, 'Channel override'), h('dd', { id: 'override' }, override.channel || 'none'),
      h('dt', {}, 'Debug session'), h('dd', { id: 'debug' }, live ? `until ${when(debugUntil)} (refreshing)` : 'none')),
    can('write') ? h('div.row', {},
      live
        ? h('button', { type: 'button', id: 'end-debug', onclick: () => attempt(async () => { await api.endDebug(app, device); sessionStorage.removeItem(`updraft.debug.${app}.${device}`); }, 'Debug session ended.') }, 'End debug session')
        : h('button', { type: 'button', id: 'start-debug', onclick: () => attempt(async () => { const s = await api.startDebug(app, device, 30); sessionStorage.setItem(`updraft.debug.${app}.${device}`, String(s.until)); }, 'Debug session started: every check is logged for 30 minutes.') }, 'Start debug session')) : null,
    can('write') ? form([h('select', { name: 'channel', id: 'override-channel' }, channels.map((c) => h('option', { value: c.name }, c.name)))],
      'Set override', ({ channel }) => attempt(() => api.setOverride(app, device, channel), `Device pinned to ${channel}.`)) : null,
    can('write') && override.channel ? h('button', { type: 'button', id: 'clear-override', onclick: () => attempt(() => api.deleteOverride(app, device), 'Override removed.') }, 'Remove override') : null,
    h('h3', {}, 'Timeline (newest first)'),
    timeline];
}

// ------------------------------------------------------------------ keys

async function keysPage() {
  const keys = await api.keys();
  const created = h('div', { id: 'created-key' });
  return [
    h('h1', {}, 'API keys'),
    table(['Name', 'Mode', 'Apps', 'Expires', 'Created', ''],
      keys.map((k) => [k.name, k.mode, (k.apps || ['every app']).join(', '), k.expires_at ? when(k.expires_at) : 'never', when(k.created_at),
        h('button.small.danger', { type: 'button', 'data-key': k.id, onclick: () => confirm(`Revoke key ${k.name}?`) && attempt(() => api.deleteKey(k.id), `Key ${k.name} revoked.`) },
          k.id === me.id ? 'Revoke (signs you out)' : 'Revoke')])),
    h('section.card', {}, h('h2', {}, 'New key'),
      form([
        h('input', { name: 'name', placeholder: 'name', required: true, id: 'key-name' }),
        h('select', { name: 'mode', id: 'key-mode' }, ['read', 'upload', 'write', 'all'].map((m) => h('option', { value: m }, m))),
        h('input', { name: 'apps', placeholder: 'apps (comma-separated; empty: all)', id: 'key-apps' }),
        h('input', { name: 'days', type: 'number', min: '1', placeholder: 'expires in days (empty: never)', id: 'key-days' }),
      ], 'Create key', async ({ name, mode, apps, days }) => {
        const list = apps.split(',').map((a) => a.trim()).filter(Boolean);
        try {
          const k = await api.createKey({
            name: name.trim(), mode, apps: list.length ? list : null,
            expires_at: days ? Date.now() + Number(days) * 86400000 : null,
          });
          await route();
          fill(document.getElementById('created-key'), h('section.card.secret', {},
            h('p', {}, `Key ${k.name} created. Its secret is shown this once:`),
            h('code', { id: 'secret' }, k.key)));
          say('');
        } catch (e) {
          say(e.message, 'error');
        }
      })),
    created];
}

// ------------------------------------------------------------------ start

document.getElementById('sign-out').addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', () => { say(''); route(); });
start();
