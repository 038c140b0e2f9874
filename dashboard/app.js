// Twine's dashboard: reads the same documents as `twine status --json`
// (/api/containers, /healthz) once a second and draws them. It keeps no state
// of its own beyond what is on screen; the selection lives in the URL hash.
// Every value from the API is hostile input (labels are): text goes into the
// DOM through textContent and attributes only, never as HTML.

const POLL_MS = 1000;
const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 170;
const NODE_H = 38;
const COL_GAP = 230;
const ROW_GAP = 26;
const PAD = 24;

const graphEl = document.getElementById('graph');
const tbody = document.querySelector('#containers tbody');
const search = document.getElementById('search');
const detail = document.getElementById('detail');
const healthEl = document.getElementById('health');
const updatedEl = document.getElementById('updated');

let docs = [];
/** The selected container's own document (/api/containers/<name>): the list's plus what is applied, as text. */
let detailDoc;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function selectedName() {
  const m = /^#c=(.*)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : undefined;
}

function select(name) {
  location.hash = name ? `c=${encodeURIComponent(name)}` : '';
  render();
}

/** Reads the selected container's own document; none selected or unknown: undefined. */
async function loadDetail() {
  const name = selectedName();
  if (!name) {
    detailDoc = undefined;
    return;
  }
  const r = await fetch(`/api/containers/${encodeURIComponent(name)}`, { cache: 'no-store' });
  detailDoc = r.ok ? await r.json() : undefined;
}

const portText = (p) => (p.lo === p.hi ? String(p.lo) : `${p.lo}-${p.hi}`);

function errorOf(d) {
  if (d.labelErrors && d.labelErrors.length > 0) {
    const e = d.labelErrors[0];
    return `${e.key}: ${e.reason}`;
  }
  return d.lastError ?? '';
}

const hasError = (d) => ['invalid', 'failed', 'refused'].includes(d.status);

/** The leaks Twine reports but cannot close ("dns-leak", "ipv6-bypass"). */
const leaksOf = (d) => (d.warnings ?? []).flatMap((w) => (w.leak ? [w.leak] : []));

/** Nodes and edges from the documents: containers, the peers they reference, the host. */
export function buildGraph(list) {
  const nodes = new Map();
  const edges = [];
  const node = (id, kind, label, doc) => {
    if (!nodes.has(id)) nodes.set(id, { id, kind, label, doc, gateway: false });
    return nodes.get(id);
  };
  for (const d of list) node(d.name, 'container', d.name, d);
  for (const d of list) {
    if (!d.running) continue;
    const desired = d.desired ?? {};
    if ((d.natInterfaces ?? []).length > 0) node(d.name).gateway = true;
    for (const r of desired.routes ?? []) {
      const to = r.via?.name ?? r.dest;
      const target = node(to, nodes.has(to) ? 'container' : 'external', to);
      target.gateway = true;
      edges.push({ from: d.name, to, kind: 'route', down: r.state === 'down', label: r.state === 'down' ? `${r.dst} (down)` : r.dst, title: r.reason ?? r.label });
    }
    for (const f of desired.forwards ?? []) {
      const to = f.targets?.[0]?.via?.name ?? f.dest;
      node(to, nodes.has(to) ? 'container' : 'external', to);
      const label = f.portFile && f.state === 'down' ? `${f.proto}/(port file)` : `${f.proto}/${portText(f.port)} → ${portText(f.destPort)}${f.portFile ? ' (port file)' : ''}`;
      edges.push({ from: d.name, to, kind: 'forward', down: f.state === 'down', label: f.state === 'down' ? `${label} (down)` : label, title: f.reason ?? f.label });
    }
    for (const h of desired.hostRoutes ?? []) {
      node('@host', 'host', 'Docker host');
      edges.push({ from: '@host', to: d.name, kind: 'host', down: !h.via, label: h.dst, title: h.reason ?? 'host route' });
    }
  }
  return { nodes, edges };
}

/** Columns by the longest path to a sink: apps left, their gateways to the right. */
function layout(g) {
  const out = new Map();
  for (const e of g.edges) {
    if (!out.has(e.from)) out.set(e.from, []);
    out.get(e.from).push(e.to);
  }
  const rank = new Map();
  const visiting = new Set();
  const rankOf = (id) => {
    if (rank.has(id)) return rank.get(id);
    if (visiting.has(id)) return 0; // a cycle: cut it here
    visiting.add(id);
    let r = 0;
    for (const to of out.get(id) ?? []) if (to !== id) r = Math.max(r, rankOf(to) + 1);
    visiting.delete(id);
    rank.set(id, r);
    return r;
  };
  const linked = new Set(g.edges.flatMap((e) => [e.from, e.to]));
  let maxRank = 0;
  for (const id of g.nodes.keys()) maxRank = Math.max(maxRank, rankOf(id));
  const columns = Array.from({ length: maxRank + 1 }, () => []);
  // A container with no edges at all stands with the apps, on the left.
  for (const n of g.nodes.values()) columns[linked.has(n.id) ? maxRank - rank.get(n.id) : 0].push(n);
  const pos = new Map();
  columns.forEach((col, c) => {
    col.sort((a, b) => a.label.localeCompare(b.label));
    col.forEach((n, r) => pos.set(n.id, { x: PAD + c * (NODE_W + COL_GAP), y: PAD + r * (NODE_H + ROW_GAP) }));
  });
  const rows = Math.max(1, ...columns.map((c) => c.length));
  return { pos, width: PAD * 2 + columns.length * NODE_W + (columns.length - 1) * COL_GAP, height: PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP };
}

function renderGraph() {
  const g = buildGraph(docs);
  const { pos, width, height } = layout(g);
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'container network' });
  const sel = selectedName();
  const edgeLayer = svg('g');
  const labelLayer = svg('g');
  const seen = new Map();
  for (const e of g.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    // Parallel edges between one pair are fanned out so their labels stay apart.
    const key = `${e.from}\u0000${e.to}`;
    const k = seen.get(key) ?? 0;
    seen.set(key, k + 1);
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const bend = k * 24;
    const mx = (x1 + x2) / 2;
    const d = x2 > x1
      ? `M${x1},${y1} C${mx},${y1 + bend} ${mx},${y2 + bend} ${x2},${y2}`
      : `M${a.x + NODE_W / 2},${a.y + NODE_H} C${a.x + NODE_W / 2},${a.y + NODE_H + 40 + bend} ${b.x + NODE_W / 2},${b.y + NODE_H + 40 + bend} ${b.x + NODE_W / 2},${b.y + NODE_H}`;
    const cls = `edge ${e.kind}${e.down ? ' down' : ''}`;
    const group = svg('g', { class: cls, 'data-from': e.from, 'data-to': e.to, 'data-kind': e.kind });
    group.append(svg('title', {}, e.title ?? ''));
    group.append(svg('path', { d, 'marker-end': `url(#arrow-${e.kind}${e.down ? '-down' : ''})` }));
    edgeLayer.append(group);
    const lx = x2 > x1 ? mx : (a.x + b.x) / 2 + NODE_W / 2;
    const ly = x2 > x1 ? (y1 + y2) / 2 + bend - 4 : Math.max(a.y, b.y) + NODE_H + 30 + bend;
    const lg = svg('g', { class: cls, 'data-from': e.from, 'data-to': e.to });
    const text = svg('text', { x: lx, y: ly, 'text-anchor': 'middle', class: 'edge-label' }, e.label);
    const w = Math.max(30, e.label.length * 6.4 + 8);
    lg.append(svg('rect', { class: 'label-bg', x: lx - w / 2, y: ly - 12, width: w, height: 16, rx: 3 }), text);
    labelLayer.append(lg);
  }
  const defs = svg('defs');
  for (const [kind, color] of [['route', 'var(--route)'], ['forward', 'var(--forward)'], ['host', 'var(--host)']]) {
    for (const down of [false, true]) {
      const m = svg('marker', { id: `arrow-${kind}${down ? '-down' : ''}`, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
      m.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', style: `fill: ${down ? 'var(--down)' : color}` }));
      defs.append(m);
    }
  }
  const nodeLayer = svg('g');
  for (const n of g.nodes.values()) {
    const p = pos.get(n.id);
    const classes = ['node', n.kind];
    if (n.gateway) classes.push('gateway');
    if (n.doc && hasError(n.doc)) classes.push('error');
    if (n.doc && leaksOf(n.doc).length > 0) classes.push('leak');
    if (n.id === sel) classes.push('selected');
    const group = svg('g', { class: classes.join(' '), transform: `translate(${p.x},${p.y})`, 'data-name': n.id });
    group.append(svg('title', {}, n.doc ? `${n.label}: ${n.doc.status}${errorOf(n.doc) ? ` — ${errorOf(n.doc)}` : ''}` : n.label));
    group.append(svg('rect', { width: NODE_W, height: NODE_H }));
    const name = n.label.length > 24 ? `${n.label.slice(0, 23)}…` : n.label;
    group.append(svg('text', { x: 8, y: 16 }, name));
    const into = g.edges.filter((e) => e.to === n.id);
    const sub = n.doc
      ? `${n.doc.status}${n.gateway ? ' · gateway' : ''}${leaksOf(n.doc).map((k) => ` · ${k}`).join('')}`
      : n.kind === 'host'
        ? 'host routes'
        : into.length > 0 && into.every((e) => e.down)
          ? 'down'
          : 'no twine labels';
    group.append(svg('text', { x: 8, y: 31, class: 'sub' }, sub));
    if (n.doc) group.addEventListener('click', () => select(n.id));
    nodeLayer.append(group);
  }
  root.append(defs, edgeLayer, nodeLayer, labelLayer);
  if (g.nodes.size === 0) graphEl.replaceChildren(el('p', { class: 'muted' }, 'No containers with twine.* labels yet.'));
  else graphEl.replaceChildren(root);
}

function renderTable() {
  const q = search.value.trim().toLowerCase();
  const sel = selectedName();
  const rows = [];
  for (const d of docs) {
    const err = errorOf(d);
    if (q && ![d.name, d.status, err, ...leaksOf(d)].some((s) => s.toLowerCase().includes(q))) continue;
    const counts = (c) => (c.down > 0 ? `${c.up} up, ${c.down} down` : String(c.up));
    const tr = el(
      'tr',
      { 'data-name': d.name, class: d.name === sel ? 'selected' : '' },
      el('td', {}, d.name),
      el('td', {}, el('span', { class: `state state-${d.status}` }, d.status), ...leaksOf(d).map((k) => el('span', { class: 'leak', title: 'see the container\'s warnings' }, k))),
      el('td', {}, counts(d.routes)),
      el('td', {}, counts(d.forwards)),
      el('td', {}, counts(d.rules)),
      el('td', {}, String(d.hostRoutes)),
      el('td', {}, d.lastLatencyMs === undefined ? '' : `${d.lastLatencyMs.toFixed(1)} ms`),
      el('td', { class: 'error' }, err),
    );
    tr.addEventListener('click', () => select(d.name));
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
}

function list(items, f) {
  if (!items || items.length === 0) return el('p', { class: 'muted' }, '(none)');
  return el('ul', {}, ...items.map((x) => el('li', {}, f(x))));
}

function renderDetail() {
  const name = selectedName();
  const d = docs.find((x) => x.name === name);
  if (!d) {
    detail.hidden = true;
    detail.replaceChildren();
    return;
  }
  detail.hidden = false;
  const close = el('button', { class: 'close', title: 'close' }, '×');
  close.addEventListener('click', () => select(undefined));
  const desired = d.desired ?? {};
  // The text of what is applied comes with the container's own document, once it is read.
  const own = detailDoc?.name === d.name ? detailDoc : undefined;
  const applied = own?.appliedText;
  const labels = Object.entries(d.labels ?? {}).filter(([k]) => k.startsWith('twine.')).sort(([a], [b]) => a.localeCompare(b));
  const parts = [
    close,
    el('h3', {}, d.name),
    el('p', {}, el('span', { class: `state state-${d.status}` }, d.status), ` ${d.id.slice(0, 12)}`, d.lastApplyAt ? ` · applied ${d.lastApplyAt}` : ''),
  ];
  if (d.lastError) parts.push(el('p', { class: 'err' }, d.lastError));
  if (d.labelErrors?.length) {
    parts.push(el('h4', {}, 'Label errors'), list(d.labelErrors, (e) => el('span', { class: 'err' }, `${e.key}=${JSON.stringify(e.value ?? '')}: ${e.reason}`)));
  }
  if (d.warnings?.length) parts.push(el('h4', {}, 'Warnings'), list(d.warnings, (w) => (w.leak ? el('span', { class: 'warn' }, `${w.leak}: ${w.message}`) : `${w.key}: ${w.message}`)));
  parts.push(el('h4', {}, 'Labels'), list(labels, ([k, v]) => `${k}=${v}`));
  parts.push(
    el('h4', {}, 'Routes (desired)'),
    list(desired.routes, (r) => `${r.dst} via ${r.gateway ?? r.dest}${r.state === 'down' ? ` — DOWN (unreachable): ${r.reason ?? ''}` : r.via ? ` (${r.via.name} on ${r.via.network})` : ''}`),
    el('h4', {}, 'Forwards (desired)'),
    list(desired.forwards, (f) =>
      f.portFile && f.state === 'down'
        ? `${f.iface} ${f.proto}/(${f.portFile.path}) → ${f.dest} — DOWN: ${f.reason ?? ''}`
        : `${f.iface} ${f.proto}/${portText(f.port)} → ${f.dest}:${portText(f.destPort)}${f.portFile ? ` (port from ${f.portFile.path}${f.portFile.problem ? `; kept: ${f.portFile.problem}` : ''})` : ''}${f.state === 'down' ? ` — DOWN: ${f.reason ?? ''}` : ''}`,
    ),
    el('h4', {}, 'Rules (desired)'),
    list(desired.rules, (r) => `${r.chain} ${r.name}${r.state === 'down' ? ` — DOWN: ${r.reason ?? ''}` : ''}`),
    el('h4', {}, 'Host routes (desired)'),
    list(desired.hostRoutes, (h) => `${h.dst}${h.via ? ` via ${h.via}` : ''}${h.reason ? ` — ${h.reason}` : ''}`),
  );
  if (!own) parts.push(el('h4', {}, 'Applied in the namespace'), el('p', { class: 'muted' }, 'reading…'));
  else {
    parts.push(
      el('h4', {}, 'Applied in the namespace: routes'),
      el('pre', {}, (applied?.routes ?? []).join('\n') || '(none)'),
      el('h4', {}, 'Applied in the namespace: nftables'),
      el('pre', { class: 'table-text' }, (applied?.table ?? ['(nothing applied)']).join('\n')),
    );
  }
  detail.replaceChildren(...parts);
}

function render() {
  renderGraph();
  renderTable();
  renderDetail();
}

async function refresh() {
  try {
    const [cs, h] = await Promise.all([
      fetch('/api/containers', { cache: 'no-store' }).then((r) => r.json()),
      fetch('/healthz', { cache: 'no-store' }).then((r) => r.json()),
    ]);
    docs = cs;
    await loadDetail();
    healthEl.dataset.state = h.ok ? 'ok' : 'bad';
    healthEl.textContent = h.ok
      ? `healthy · ${h.containers} running · ${h.errors} with errors · v${h.version}`
      : `not healthy: ${h.reason ?? 'unknown'}`;
    updatedEl.textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = 'true';
    render();
  } catch (err) {
    healthEl.dataset.state = 'bad';
    healthEl.textContent = `cannot reach twine: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    setTimeout(refresh, POLL_MS);
  }
}

search.addEventListener('input', renderTable);
window.addEventListener('hashchange', () => {
  render();
  void loadDetail().then(renderDetail);
});
void refresh();
