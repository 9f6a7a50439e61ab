// Stacked bars per day and version, drawn as SVG elements (no library, no markup strings).

const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = ['#2563eb', '#16a34a', '#f59e0b', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

/** rows: [{day, version, <metric>}]; one bar per day, one segment per version. */
export function stackedBars(title, rows, metric) {
  const days = [...new Set(rows.map((r) => r.day))].sort();
  const versions = [...new Set(rows.map((r) => r.version))].sort();
  const colour = (v) => COLOURS[versions.indexOf(v) % COLOURS.length];
  const totals = days.map((d) => rows.filter((r) => r.day === d).reduce((a, r) => a + (r[metric] || 0), 0));
  const max = Math.max(1, ...totals);
  const W = 560, H = 180, left = 40, bottom = 24, top = 10;
  const bw = Math.max(4, Math.min(40, (W - left - 10) / Math.max(1, days.length) - 6));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
  svg.append(s('title', {}, title));
  for (const frac of max < 4 ? [0, 1] : [0, 0.5, 1]) {
    const y = H - bottom - frac * (H - bottom - top);
    svg.append(s('line', { x1: left, x2: W - 5, y1: y, y2: y, class: 'grid' }));
    svg.append(s('text', { x: left - 4, y: y + 4, 'text-anchor': 'end', class: 'axis' }, Math.round(frac * max)));
  }
  days.forEach((d, i) => {
    const x = left + 6 + i * (bw + 6);
    let y = H - bottom;
    for (const v of versions) {
      const n = rows.filter((r) => r.day === d && r.version === v).reduce((a, r) => a + (r[metric] || 0), 0);
      if (!n) continue;
      const hgt = (n / max) * (H - bottom - top);
      y -= hgt;
      const bar = s('rect', { x, y, width: bw, height: Math.max(1, hgt), fill: colour(v) });
      bar.append(s('title', {}, `${d} · ${v}: ${n} ${metric}`));
      svg.append(bar);
    }
    if (days.length <= 14 || i % Math.ceil(days.length / 14) === 0) {
      svg.append(s('text', { x: x + bw / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis' }, d.slice(5)));
    }
  });
  const legend = document.createElement('ul');
  legend.className = 'legend';
  for (const v of versions) {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = colour(v);
    li.append(sw, document.createTextNode(v));
    legend.append(li);
  }
  const fig = document.createElement('figure');
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  fig.append(cap, svg, legend);
  return fig;
}
