// Building the page from API values: every value becomes text (a Text node or an
// attribute set with setAttribute), never parsed as markup (a test forbids the APIs that do).

/** h('tag.class', {attr: value, onclick: fn}, child, ...) — children are nodes or text. */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'hidden' || k === 'disabled' || k === 'checked' || k === 'required') el[k] = Boolean(v);
    else if (k === 'value') el.value = String(v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table: headers, then rows of cells (text or nodes). */
export function table(headers, rows, empty = 'Nothing yet.') {
  if (!rows.length) return h('p.empty', {}, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', {}, t)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

/** A link inside the console (hash routes), its path segments encoded. */
export function link(text, ...segments) {
  return h('a', { href: '#/' + segments.map(encodeURIComponent).join('/') }, text);
}

export function when(ms) {
  if (!ms) return '—';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

export function bytes(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + ' MB';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + ' kB';
  return n + ' B';
}

/** A form whose submit calls `action(values)`; its button is disabled meanwhile. */
export function form(fields, label, action, cls = 'row') {
  const f = h('form.' + cls, {}, fields, h('button', { type: 'submit' }, label));
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = f.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await action(Object.fromEntries(new FormData(f).entries()), f);
    } finally {
      button.disabled = false;
    }
  });
  return f;
}
