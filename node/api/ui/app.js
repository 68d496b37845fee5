// Shoal's dashboard. Everything it shows comes from the daemon's API, with
// the token as a header (never in a URL that is sent); the page writes what
// peers and jobs report as text only (textContent), never as HTML.
"use strict";

const API = "/api/v0";
const TOKEN_KEY = "shoal-api-token";
const SVGNS = "http://www.w3.org/2000/svg";
const OUTPUT_LIMIT = 64 << 10; // bytes of stdout/stderr shown

const st = {
  token: null, self: null, peers: [], nodes: [], jobs: [], pins: [],
  details: new Map(), // job ID -> GET /jobs/{id}
  providers: new Map(), // input CID -> GET /providers
  outputs: new Map(), // CID -> text
  live: new Map(), // job ID -> {text, done}: its live logs (GET /jobs/{id}/logs)
  selected: null, // job ID shown below the table and on the map
};

// --- the token ----------------------------------------------------------

function takeToken() {
  const m = /(?:^#|&)token=([0-9a-fA-F]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, m[1]);
    history.replaceState(null, "", location.pathname + location.search); // out of the address bar and history
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function askToken(msg) {
  document.getElementById("main").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = msg || "";
}

document.getElementById("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = document.getElementById("token").value.trim();
  if (!t) return;
  sessionStorage.setItem(TOKEN_KEY, t);
  st.token = t;
  start();
});

class Unauthorized extends Error {}

async function api(path) {
  const r = await fetch(API + path, { headers: { Authorization: "Bearer " + st.token }, cache: "no-store" });
  if (r.status === 401) throw new Unauthorized("the API refused the token");
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()));
  return r;
}
const getJSON = async (path) => (await api(path)).json();

// --- helpers -------------------------------------------------------------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v; else if (k === "title") e.title = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k === undefined || k === null ? "" : String(k)));
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
const short = (id) => (id ? (id.length > 14 ? "…" + id.slice(-8) : id) : "");
const bytes = (n) => { if (!n) return "0 B"; const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return n.toFixed(i ? 1 : 0) + " " + u[i]; };
const ago = (t) => { const s = (Date.now() - new Date(t).getTime()) / 1000; return s < 60 ? Math.max(0, s).toFixed(0) + " s ago" : s < 3600 ? (s / 60).toFixed(0) + " min ago" : new Date(t).toLocaleString(); };
const transport = (addr) => (/\/quic/.test(addr) ? "quic" : /\/tcp\//.test(addr) ? "tcp" : /p2p-circuit/.test(addr) ? "relay" : "?") + (/p2p-circuit/.test(addr) ? " (relayed)" : "");
function fill(tbody, rows) { tbody.replaceChildren(...rows); }
function executorOf(d) {
  if (!d) return "";
  const r = (d.receipts || []).find((x) => !x.late);
  if (r) return r.executor;
  const a = (d.awards || []).filter((x) => !["declined", "lost", "failed"].includes(x.state));
  return a.length ? a[a.length - 1].executor : "";
}

// --- loading -------------------------------------------------------------

async function refreshAll() {
  const [self, peers, jobs, pins] = await Promise.all([getJSON("/id"), getJSON("/peers"), getJSON("/jobs"), getJSON("/pin/ls")]);
  Object.assign(st, { self, peers, jobs, pins });
  render();
  for (const j of jobs.slice(0, 20)) if (!st.details.has(j.id) || !isFinal(st.details.get(j.id))) refreshJob(j.id);
  refreshNodes();
}
async function refreshNodes() {
  try { st.nodes = (await getJSON("/nodes?timeout=3s")).nodes || []; render(); } catch (e) { console.warn(e); }
}
async function refreshPeers() {
  try { st.peers = await getJSON("/peers"); st.self = await getJSON("/id"); render(); } catch (e) { console.warn(e); }
}
const isFinal = (d) => ["completed", "failed", "cancelled"].includes(d.state);

const pending = new Map();
function refreshJob(id) { // at most one reload of a job at a time, coalesced
  if (pending.has(id)) { pending.set(id, true); return; }
  pending.set(id, false);
  getJSON("/jobs/" + encodeURIComponent(id)).then((d) => {
    st.details.set(id, d);
    const i = st.jobs.findIndex((j) => j.id === id);
    if (i >= 0) st.jobs[i] = Object.assign({}, st.jobs[i], { state: d.state, updated: d.updated, attempts: d.attempts });
    else st.jobs.unshift(d);
    if (!st.selected) st.selected = id;
    render();
    if (id === st.selected) loadJobExtras(d);
  }).catch((e) => console.warn(e)).finally(() => {
    const again = pending.get(id);
    pending.delete(id);
    if (again) refreshJob(id);
  });
}

// readRecords reads a streamed response, calling onRecord for each record
// ended by sep and afterChunk once the records of a chunk were handled.
async function readRecords(r, sep, onRecord, afterChunk) {
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf(sep)) >= 0) {
      const rec = buf.slice(0, i);
      buf = buf.slice(i + sep.length);
      onRecord(rec);
    }
    if (afterChunk) afterChunk();
  }
}

// followLogs streams a running job's live stdout and stderr (NDJSON lines
// of GET /jobs/{id}/logs?follow) into st.live, once per job, keeping the
// last OUTPUT_LIMIT characters.
async function followLogs(id) {
  if (st.live.has(id)) return;
  const l = { text: "", done: false };
  st.live.set(id, l);
  try {
    const r = await api("/jobs/" + encodeURIComponent(id) + "/logs?follow=true&stream=all");
    await readRecords(r, "\n", (line) => {
      if (!line) return;
      const m = JSON.parse(line);
      if (m.line) l.text += (m.line.stream === "stderr" ? "! " : "") + m.line.line + "\n";
      if (l.text.length > OUTPUT_LIMIT) l.text = l.text.slice(l.text.length - OUTPUT_LIMIT);
    }, () => { if (st.selected === id) render(); });
  } catch (e) {
    l.text += "(" + e.message + ")\n";
  }
  l.done = true;
  if (st.selected === id) render();
}

async function loadJobExtras(d) {
  if (!isFinal(d)) followLogs(d.id);
  for (const r of d.receipts || []) for (const c of [r.stdout, r.stderr]) {
    if (!c || st.outputs.has(c)) continue;
    st.outputs.set(c, "…");
    api("/cat?arg=" + encodeURIComponent(c)).then(async (resp) => {
      const b = new Uint8Array(await resp.arrayBuffer());
      let t = new TextDecoder().decode(b.subarray(0, OUTPUT_LIMIT));
      if (b.length > OUTPUT_LIMIT) t += "\n[… " + bytes(b.length - OUTPUT_LIMIT) + " more]";
      st.outputs.set(c, t);
      render();
    }).catch((e) => st.outputs.set(c, "(" + e.message + ")"));
  }
  for (const inp of d.inputs || []) {
    if (st.providers.has(inp.cid)) continue;
    st.providers.set(inp.cid, null);
    getJSON("/providers?arg=" + encodeURIComponent(inp.cid) + "&timeout=3s").then((p) => { st.providers.set(inp.cid, p); render(); }).catch((e) => console.warn(e));
  }
}

// --- the live stream (server-sent events, read with fetch so that the
// token goes as a header: EventSource cannot send one) --------------------

async function follow() {
  const live = document.getElementById("live");
  for (let backoff = 500; ; backoff = Math.min(backoff * 2, 10000)) {
    try {
      const r = await api("/events");
      live.textContent = "live"; live.className = "live on";
      backoff = 500;
      await readRecords(r, "\n\n", (block) => {
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) onEvent(JSON.parse(data));
      });
    } catch (e) {
      if (e instanceof Unauthorized) { askToken(e.message); return; }
      console.warn("event stream", e);
    }
    live.textContent = "offline"; live.className = "live off";
    await new Promise((res) => setTimeout(res, backoff));
    refreshAll().catch(() => {});
  }
}

function onEvent(ev) {
  if (ev.kind === "job" && ev.job) {
    const j = st.jobs.find((x) => x.id === ev.job.id);
    if (j) j.state = ev.job.state;
    refreshJob(ev.job.id);
    render();
  } else if (ev.kind === "peer") {
    refreshPeers();
  }
}

// --- rendering -------------------------------------------------------------

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; draw(); });
}

function draw() {
  const s = st.self;
  if (s) {
    document.getElementById("self").textContent = s.id + "  ·  shoal " + s.version + "  ·  " + (s.engines || []).join(", ");
    const dl = document.getElementById("node");
    const row = (k, v) => [el("dt", null, k), el("dd", null, v)];
    dl.replaceChildren(...row("peer ID", s.id), ...row("version", s.version), ...row("engines", (s.engines || []).join(", ")),
      ...row("peers", s.peers + " connected, " + s.topic_peers + " on the job topic"), ...row("private network", s.private_network ? "yes" : "no"),
      ...row("repo", s.repo || "(in memory)"), ...row("addresses", (s.addrs || []).join("\n")));
  }
  document.getElementById("peers-count").textContent = "(" + st.peers.length + ")";
  fill(document.querySelector("#peers tbody"), st.peers.map((p) => el("tr", { "data-peer": p.id },
    el("td", { class: "id", title: p.id }, short(p.id)), el("td", { title: p.addr }, transport(p.addr)), el("td", null, p.direction),
    el("td", null, p.latency_ms ? p.latency_ms.toFixed(2) + " ms" : "–"))));

  document.getElementById("nodes-count").textContent = "(" + st.nodes.length + ")";
  fill(document.querySelector("#nodes tbody"), st.nodes.map((n) => el("tr", { "data-node": n.peer },
    el("td", { class: "id", title: n.peer }, short(n.peer) + (s && n.peer === s.id ? " (this node)" : "")),
    el("td", null, (n.engines || []).join(", ")), el("td", null, n.cpu), el("td", null, bytes(n.memory)),
    el("td", null, n.load.running + " / " + n.load.queued + " / " + n.load.free_slots),
    el("td", null, Object.entries(n.labels || {}).map(([k, v]) => k + "=" + v).join(" ")))));

  document.getElementById("pins-count").textContent = "(" + st.pins.length + ")";
  fill(document.querySelector("#pins tbody"), st.pins.map((p) => el("tr", null, el("td", { class: "id" }, p.cid), el("td", null, p.type))));

  document.getElementById("jobs-count").textContent = "(" + st.jobs.length + ")";
  fill(document.querySelector("#jobs tbody"), st.jobs.map((j) => {
    const d = st.details.get(j.id);
    const state = d ? d.state : j.state;
    const ex = executorOf(d);
    const tr = el("tr", { "data-job": j.id, "data-state": state, class: j.id === st.selected ? "selected" : "" },
      el("td", { class: "id", title: j.id }, short(j.id)), el("td", null, j.name || ""), el("td", null, j.engine),
      el("td", { class: "state state-" + state }, state), el("td", { class: "id executor", title: ex, "data-executor": ex }, short(ex)),
      el("td", null, j.attempts), el("td", null, ago(j.updated)));
    tr.addEventListener("click", () => { st.selected = j.id; refreshJob(j.id); render(); });
    return tr;
  }));
  drawJob();
  drawMap();
}

function drawJob() {
  const box = document.getElementById("job");
  const d = st.selected && st.details.get(st.selected);
  if (!d) { box.hidden = true; return; }
  box.hidden = false;
  const kids = [el("h3", null, "Job " + d.id + (d.name ? " (" + d.name + ")" : "")),
    el("div", null, "state ", el("span", { class: "state state-" + d.state }, d.state), d.error ? el("span", { class: "error" }, "  " + (d.error_code ? d.error_code + ": " : "") + d.error) : "")];
  if ((d.inputs || []).length) {
    kids.push(el("h3", null, "Inputs"));
    kids.push(el("table", null, el("tbody", null, ...d.inputs.map((i) => {
      const p = st.providers.get(i.cid);
      const holders = p ? [...(p.local ? ["this node"] : []), ...p.providers.map(short)].join(", ") || "none found" : "looking…";
      return el("tr", null, el("td", { class: "id" }, i.cid), el("td", null, i.path), el("td", null, "held by " + holders));
    }))));
  }
  kids.push(el("h3", null, "Placement"));
  const bids = d.bids || [];
  kids.push(bids.length ? el("table", null, el("thead", null, el("tr", null, ...["bidder", "locality", "free slots", "queue", "awarded"].map((h) => el("th", null, h)))),
    el("tbody", null, ...bids.map((b) => {
      const aw = (d.awards || []).filter((a) => a.executor === b.peer).map((a) => a.state).join(", ");
      return el("tr", null, el("td", { class: "id", title: b.peer }, short(b.peer)),
        el("td", null, b.total_bytes ? (100 * b.local_bytes / b.total_bytes).toFixed(0) + " % of " + bytes(b.total_bytes) : (d.inputs || []).length ? "holds none" : "no inputs"),
        el("td", null, b.free_slots), el("td", null, b.queue_depth), el("td", null, aw || "–"));
    }))) : el("p", { class: "hint" }, "no bids yet"));
  const live = st.live.get(d.id);
  if (live && !(d.receipts || []).length) {
    kids.push(el("h3", null, "Live output" + (live.done ? "" : " (following)")));
    kids.push(el("pre", { class: "stdout live-logs" }, live.text || "(nothing yet)"));
  }
  for (const r of d.receipts || []) {
    kids.push(el("h3", null, "Receipt from " + short(r.executor) + ": exit " + r.exit_code + (r.error ? " (" + r.error + ")" : "")));
    if (r.stdout) kids.push(el("div", { class: "hint" }, "stdout"), el("pre", { class: "stdout" }, st.outputs.get(r.stdout) || ""));
    if (r.stderr) kids.push(el("div", { class: "hint" }, "stderr"), el("pre", { class: "stderr" }, st.outputs.get(r.stderr) || ""));
  }
  kids.push(el("h3", null, "Events"));
  kids.push(el("pre", null, (d.events || []).map((e) => new Date(e.time).toLocaleTimeString() + "  " + e.type + (e.state ? " " + e.state : "") + (e.peer ? " " + short(e.peer) : "") + "  " + e.message).join("\n")));
  box.replaceChildren(...kids);
}

function drawMap() {
  const map = document.getElementById("map");
  const W = 900, H = 420, cx = W / 2, cy = H / 2;
  const s = st.self;
  if (!s) return;
  const ids = [s.id];
  const connected = new Set(st.peers.map((p) => p.id));
  for (const p of st.peers) if (!ids.includes(p.id)) ids.push(p.id);
  for (const n of st.nodes) if (!ids.includes(n.peer)) ids.push(n.peer);
  const d = st.selected && st.details.get(st.selected);
  if (d) for (const b of d.bids || []) if (!ids.includes(b.peer)) ids.push(b.peer);
  const pos = new Map([[s.id, [cx, cy]]]);
  const others = ids.slice(1);
  others.forEach((id, i) => {
    const a = -Math.PI / 2 + Math.PI / 3 + (2 * Math.PI * i) / Math.max(others.length, 1);
    pos.set(id, [cx + 300 * Math.cos(a), cy + 150 * Math.sin(a)]);
  });
  const kids = [svg("defs", {})];
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "22", refY: "5", markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#b48cff" }));
  kids[0].append(marker);
  for (const p of st.peers) {
    const [x1, y1] = pos.get(s.id), [x2, y2] = pos.get(p.id);
    kids.push(svg("line", { class: "link", x1, y1, x2, y2 }));
    if (p.latency_ms) kids.push(svg("text", { class: "small", x: (x1 + x2) / 2 + 4, y: (y1 + y2) / 2 - 4 }, p.latency_ms.toFixed(1) + " ms"));
  }
  // Links between other nodes, as their capability records list their
  // peers (as of each record: they are republished when peers change).
  const drawn = new Set(st.peers.map((p) => [s.id, p.id].sort().join(" ")));
  for (const n of st.nodes) {
    for (const q of n.peers || []) {
      const pair = [n.peer, q].sort();
      const key = pair.join(" ");
      if (drawn.has(key) || !pos.has(pair[0]) || !pos.has(pair[1])) continue;
      drawn.add(key);
      const [x1, y1] = pos.get(pair[0]), [x2, y2] = pos.get(pair[1]);
      kids.push(svg("line", { class: "link remote", x1, y1, x2, y2, "data-a": pair[0], "data-b": pair[1] }));
    }
  }
  const ex = executorOf(d);
  if (d && ex && pos.has(ex)) {
    const [x1, y1] = pos.get(s.id), [x2, y2] = pos.get(ex);
    const mx = (x1 + x2) / 2 + (y2 - y1) * 0.15, my = (y1 + y2) / 2 - (x2 - x1) * 0.15;
    kids.push(svg("path", { class: "path" + (d.state === "completed" ? " done" : ""), d: `M ${x1} ${y1} Q ${mx} ${my} ${x2} ${y2}`, "data-job": d.id }));
  }
  for (const id of ids) {
    const [x, y] = pos.get(id);
    const cls = "node" + (id === s.id ? " self" : connected.has(id) ? "" : " dht") + (id === ex ? " executor" : "");
    const c = svg("circle", { class: cls, cx: x, cy: y, r: id === s.id ? 16 : 12, "data-peer": id });
    c.append(svg("title", {}, id));
    kids.push(c);
    const n = st.nodes.find((x) => x.peer === id);
    kids.push(svg("text", { x: x + 18, y: y + 4 }, short(id) + (id === s.id ? " (this node)" : "")));
    if (n) kids.push(svg("text", { class: "small", x: x + 18, y: y + 17 }, (n.engines || []).join(",") + "  load " + n.load.running + "/" + n.load.queued + "/" + n.load.free_slots));
  }
  if (d) (d.inputs || []).forEach((inp, k) => {
    const p = st.providers.get(inp.cid);
    if (!p) return;
    const holders = [...(p.local ? [s.id] : []), ...p.providers];
    for (const h of holders) {
      if (!pos.has(h)) continue;
      const [x, y] = pos.get(h);
      const r = svg("rect", { class: "input", x: x - 14 + 10 * k, y: y - 30, width: 8, height: 8, "data-input": inp.cid });
      r.append(svg("title", {}, "input " + inp.path + " " + inp.cid));
      kids.push(r);
    }
  });
  if (d) kids.push(svg("text", { class: "small", x: 10, y: H - 10 }, "job " + short(d.id) + " " + d.state + (ex ? " on " + short(ex) : "")));
  map.replaceChildren(...kids);
}

// --- start -------------------------------------------------------------------

async function start() {
  st.token = st.token || takeToken();
  if (!st.token) { askToken(""); return; }
  try {
    await refreshAll();
  } catch (e) {
    if (e instanceof Unauthorized) { sessionStorage.removeItem(TOKEN_KEY); st.token = null; askToken(e.message); return; }
    askToken("cannot reach the API: " + e.message);
    return;
  }
  document.getElementById("login").hidden = true;
  document.getElementById("main").hidden = false;
  follow();
  setInterval(() => { refreshPeers(); refreshNodes(); }, 10000);
  setInterval(render, 5000); // the "updated" column
}

start();
