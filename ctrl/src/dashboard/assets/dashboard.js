// The RVS dashboard: polls /api/v1/dashboard, keeps the hour of history it returns (only
// the new points after the first answer), redraws tables and SVG graphs. No framework.
"use strict";

const HOUR_MS = 3600 * 1000;
const COLORS = ["#2b6cb0", "#d97706", "#2f855a", "#b83280", "#6b46c1", "#c53030", "#718096"];
const state = { since: 0, t: [], series: {}, refreshMs: 2000, token: sessionStorage.getItem("rvsToken") || "" };

function $(id) { return document.getElementById(id); }
function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function fmt(n, unit) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  const a = Math.abs(n);
  const [d, s] = a >= 1e9 ? [1e9, "G"] : a >= 1e6 ? [1e6, "M"] : a >= 1e3 ? [1e3, "k"] : [1, ""];
  const v = n / d;
  const txt = d === 1 && Number.isInteger(v) ? String(v) : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2);
  return txt + s + (unit || "");
}
function bytesFmt(n) { return fmt(n, "B"); }

// History: merge the new points, drop what is older than an hour.
function mergeHistory(h) {
  const n = h.t.length;
  if (!n) return;
  const old = state.t.length;
  for (const id of Object.keys(state.series)) {
    const add = h.series[id] || new Array(n).fill(null);
    state.series[id] = state.series[id].concat(add);
  }
  for (const [id, pts] of Object.entries(h.series)) {
    if (!state.series[id]) state.series[id] = new Array(old).fill(null).concat(pts);
  }
  state.t = state.t.concat(h.t);
  state.since = h.t[n - 1];
  const cut = state.t.findIndex((t) => t >= state.since - HOUR_MS);
  if (cut > 0) {
    state.t = state.t.slice(cut);
    for (const id of Object.keys(state.series)) state.series[id] = state.series[id].slice(cut);
  }
}

// The graphs' time span: the last hour, or less while rvs-ctrl has less (at least 10 min),
// so a fresh start does not squeeze its first minutes into the right edge.
function span() {
  const now = Date.now();
  const first = state.t.length ? state.t[0] : now;
  const t0 = Math.max(now - HOUR_MS, Math.min(first, now - 10 * 60 * 1000));
  return { now, t0, len: now - t0 };
}

// One graph: lines of one series' values (indices into its points) over the span.
function chart(title, id, lines, opts) {
  const W = opts && opts.w || 300, H = opts && opts.h || 90, P = 2;
  const pts = state.series[id] || [];
  const { t0, len } = span();
  const x = (t) => P + (W - 2 * P) * (t - t0) / len;
  let max = 0;
  for (const l of lines) for (const p of pts) if (p && p[l.i] > max) max = p[l.i];
  const top = max > 0 ? max * 1.1 : 1;
  const y = (v) => H - P - (H - 2 * P) * v / top;
  let paths = "";
  lines.forEach((l, k) => {
    let d = "", pen = false;
    pts.forEach((p, j) => {
      const t = state.t[j];
      if (!p || t < t0) { pen = false; return; }
      d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + y(p[l.i]).toFixed(1);
      pen = true;
    });
    paths += `<path d="${d}" fill="none" stroke="${l.color || COLORS[k]}" stroke-width="1.5"/>`;
  });
  const f = (opts && opts.fmt) || fmt;
  const grid = [0.25, 0.5, 0.75].map((g) => `<line x1="0" x2="${W}" y1="${(H * g).toFixed(0)}" y2="${(H * g).toFixed(0)}" stroke="#eef0f3"/>`).join("");
  const legend = lines.map((l, k) => `<span><i style="background:${l.color || COLORS[k]}"></i>${esc(l.label)}</span>`).join("");
  return `<div class="chart" data-chart="${esc(id)}"><div class="title"><b>${esc(title)}</b><span>max ${f(max)}</span></div>` +
    `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)} over the last hour">` +
    `<rect width="${W}" height="${H}" fill="#fff"/>${grid}${paths}` +
    `<text x="2" y="${H - 3}" font-size="9" fill="#8a94a3">−${Math.round(len / 60000)} min</text><text x="${W - 22}" y="${H - 3}" font-size="9" fill="#8a94a3">now</text></svg>` +
    `<div class="legend">${legend}</div></div>`;
}

// A tiny line for a table cell.
function spark(id, i) {
  const pts = state.series[id] || [];
  const W = 90, H = 18, { t0, len } = span();
  let max = 0;
  for (const p of pts) if (p && p[i] > max) max = p[i];
  let d = "", pen = false;
  pts.forEach((p, j) => {
    if (!p || state.t[j] < t0) { pen = false; return; }
    const xx = W * (state.t[j] - t0) / len, yy = H - 1 - (H - 2) * (max ? p[i] / max : 0);
    d += (pen ? "L" : "M") + xx.toFixed(1) + " " + yy.toFixed(1);
    pen = true;
  });
  return `<svg width="${W}" height="${H}"><path d="${d}" fill="none" stroke="#2b6cb0" stroke-width="1"/></svg>`;
}

function cell(k, v, text, cls) {
  return `<td data-k="${k}" data-v="${v === null || v === undefined ? "" : esc(v)}"${cls ? ` class="${cls}"` : ""}>${text}</td>`;
}

function realRow(vs, r) {
  const live = r.rvsd || {};
  const rate = r.rate || {};
  const stats = live.stats || {};
  const sorry = r.source === "sorry_server";
  const down = !sorry && r.alive === false;
  const cls = sorry ? "sorry" : down ? "down" : "up";
  const checks = r.checks || [];
  const failing = checks.filter((c) => !c.up);
  let last = "no checker";
  if (checks.length) {
    last = failing.length
      ? failing.map((c) => `${c.type} ${c.target}: ${c.last_error || "down"}`).join("; ")
      : checks.map((c) => `${c.type} ok` + (c.last_duration_seconds !== null ? ` (${(c.last_duration_seconds * 1000).toFixed(1)} ms)` : "")).join(", ");
  }
  const stateText = sorry ? (vs.sorry_server_active ? "SORRY (serving)" : "sorry server") : down ? "DOWN" : "UP";
  const eff = r.weight === null || r.weight === undefined ? "–" : r.weight;
  const conf = r.config_weight === null || r.config_weight === undefined ? (r.source === "api" ? "api" : "–") : r.config_weight;
  const acts = sorry ? "<td class=\"actions\"></td>" :
    `<td class="actions"><button class="act" data-act="drain">drain</button> <button class="act" data-act="weight">weight…</button></td>`;
  return `<tr class="${cls}" data-rs="${esc(r.address)}" data-id="${esc(r.id || "")}" data-state="${down ? "down" : "up"}" data-vs="${esc(vs.protocol + "/" + vs.vip + ":" + vs.port)}">` +
    `<td class="l" data-k="address">${esc(r.address)}${r.override ? ` <span class="muted">(${esc(r.override)})</span>` : ""}</td>` +
    cell("state", down ? "down" : "up", stateText, "state l") +
    `<td class="l err" data-k="last_check" title="${esc(last)}">${esc(last)}</td>` +
    cell("weight", r.weight, `${eff} / ${conf}`) +
    cell("active_conns", live.active_conns, fmt(live.active_conns)) +
    cell("inactive_conns", live.inactive_conns, fmt(live.inactive_conns)) +
    cell("conns", stats.conns, fmt(stats.conns)) +
    cell("conns_per_s", rate.conns_per_s, fmt(rate.conns_per_s)) +
    cell("pps", rate.in_pps, `${fmt(rate.in_pps)} / ${fmt(rate.out_pps)}`) +
    cell("Bps", rate.in_Bps, `${bytesFmt(rate.in_Bps)} / ${bytesFmt(rate.out_Bps)}`) +
    cell("in_bytes", stats.in_bytes, bytesFmt(stats.in_bytes)) +
    cell("out_bytes", stats.out_bytes, bytesFmt(stats.out_bytes)) +
    `<td>${r.id ? spark(r.id, 0) : ""}</td>` + acts + "</tr>";
}

function renderServices(d) {
  const html = d.services.map((vs) => {
    const st = vs.stats || {};
    const rate = vs.rate || {};
    const id = vs.id;
    const opts = [];
    if (vs.options.persistence_timeout) opts.push(`persistent ${vs.options.persistence_timeout}s`);
    if (vs.options.syn_proxy) opts.push("syn proxy");
    if (vs.options.toa) opts.push("toa");
    if (vs.options.proxy_protocol) opts.push(`proxy ${vs.options.proxy_protocol}`);
    const q = vs.quorum_up ? `<span class="badge ok">quorum ${vs.quorum}</span>` : `<span class="badge bad">quorum lost${vs.sorry_server_active ? ": sorry server" : ""}</span>`;
    const rows = vs.reals.map((r) => realRow(vs, r)).join("");
    const up = vs.reals.filter((r) => r.source !== "sorry_server" && r.alive).length;
    const all = vs.reals.filter((r) => r.source !== "sorry_server").length;
    return `<div class="vs${vs.quorum_up ? "" : " noquorum"}" data-vs="${esc(vs.protocol + "/" + vs.vip + ":" + vs.port)}">` +
      `<h2>${esc(vs.protocol.toUpperCase())} ${esc(vs.vip)}:${vs.port} <span class="tag">${esc(vs.scheduler)}${opts.length ? " · " + esc(opts.join(", ")) : ""}${vs.group ? " · group " + esc(vs.group) : ""}</span>${q}` +
      `<span class="badge ${up === all ? "ok" : "bad"}">${up}/${all} real servers up</span>` +
      `<span class="tag">${fmt(st.conns)} conns · ${fmt(rate.conns_per_s)}/s · in ${bytesFmt(rate.in_Bps)}/s · out ${bytesFmt(rate.out_Bps)}/s</span>${vs.in_rvsd ? "" : '<span class="badge bad">not in rvsd</span>'}</h2>` +
      `<div class="charts">` +
      chart("connections/s", id, [{ label: "new conns/s", i: 0 }]) +
      chart("active / inactive connections", id, [{ label: "active", i: 5 }, { label: "inactive", i: 6 }]) +
      chart("packets/s", id, [{ label: "in", i: 1 }, { label: "out", i: 2 }]) +
      chart("bytes/s", id, [{ label: "in", i: 3 }, { label: "out", i: 4 }], { fmt: bytesFmt }) +
      `</div><table class="grid reals"><thead><tr><th class="l">real server</th><th class="l">state</th><th class="l">last check</th>` +
      `<th title="effective (what rvsd is given) / configured">weight eff/conf</th><th>active</th><th>inactive</th><th>conns</th><th>conns/s</th>` +
      `<th>pkts/s in/out</th><th>bytes/s in/out</th><th>bytes in</th><th>bytes out</th><th>conns/s graph</th><th class="actions"></th></tr></thead><tbody>${rows}</tbody></table></div>`;
  }).join("");
  $("services").innerHTML = html || '<p class="muted">No virtual services configured.</p>';
}

function renderWorkers(d) {
  const ws = d.workers;
  $("worker-charts").innerHTML = ws.map((w) =>
    chart(`worker ${w.worker} packets/s`, w.id, [{ label: "rx", i: 0 }, { label: "tx", i: 1 }, { label: "drops", i: 4, color: "#c53030" }])).join("") +
    ws.map((w) => chart(`worker ${w.worker} sessions`, w.id, [{ label: "sessions", i: 5 }])).join("");
  const total = ws.reduce((a, w) => a + ((w.rate || {}).rx_pps || 0), 0);
  $("workers").innerHTML = `<thead><tr><th class="l">worker</th><th>lcore</th><th>rx pkts/s</th><th>tx pkts/s</th><th>rx bytes/s</th><th>tx bytes/s</th>` +
    `<th title="share of all received packets">load share</th><th>loops/s</th><th>sessions / table size</th><th>created</th><th>expired</th><th>handed out</th><th>handed in</th><th>drops/s</th></tr></thead><tbody>` +
    ws.map((w) => {
      const r = w.rate || {};
      return `<tr data-worker="${w.worker}"><td class="l">${w.worker}</td><td>${w.lcore}</td>${cell("rx_pps", r.rx_pps, fmt(r.rx_pps))}${cell("tx_pps", r.tx_pps, fmt(r.tx_pps))}` +
        `<td>${bytesFmt(r.rx_Bps)}</td><td>${bytesFmt(r.tx_Bps)}</td><td>${total ? ((100 * (r.rx_pps || 0)) / total).toFixed(0) + " %" : "–"}</td><td>${fmt(r.loops_per_s)}</td>` +
        `${cell("sessions", w.sessions, fmt(w.sessions) + (w.sessions_capacity ? ` / ${fmt(w.sessions_capacity)}` : ""))}<td>${fmt(w.sessions_created)}</td><td>${fmt(w.sessions_expired)}</td><td>${fmt(w.redirected_out)}</td><td>${fmt(w.redirected_in)}</td><td>${fmt(r.drops_per_s)}</td></tr>`;
    }).join("") + "</tbody>";
  const byWorker = (reason) => ws.map((w) => { const x = w.drops.find((e) => e.reason === reason); return x ? x.count : 0; });
  $("drops").innerHTML = d.drops.length
    ? `<thead><tr><th class="l">reason</th><th>total</th><th>per s</th>${ws.map((w) => `<th>worker ${w.worker}</th>`).join("")}</tr></thead><tbody>` +
      d.drops.map((x) => `<tr data-reason="${esc(x.reason)}"><td class="l">${esc(x.reason)}</td>${cell("count", x.count, fmt(x.count))}<td>${fmt(x.per_s)}</td>${byWorker(x.reason).map((n) => `<td>${fmt(n)}</td>`).join("")}</tr>`).join("") + "</tbody>"
    : '<tbody><tr><td class="l muted">no drops</td></tr></tbody>';
}

function renderPorts(d) {
  const ps = d.ports || [];
  $("ports").innerHTML = ps.length
    ? `<thead><tr><th class="l">port</th><th class="l">device</th><th>rx pkts/s</th><th>tx pkts/s</th><th>rx pkts</th><th>tx pkts</th>` +
      `<th title="dropped by the NIC: the workers' receive queues were full">rx missed</th><th>missed/s</th><th>rx errors</th><th>rx no mbuf</th><th>tx errors</th></tr></thead><tbody>` +
      ps.map((p) => `<tr data-port="${esc(p.port)}"${p.rx_missed_per_s > 0 ? ' class="down"' : ""}><td class="l">${esc(p.port)}</td><td class="l">${esc(p.device)}</td>` +
        `<td>${fmt(p.rx_pps)}</td><td>${fmt(p.tx_pps)}</td>${cell("rx_packets", p.rx_packets, fmt(p.rx_packets))}${cell("tx_packets", p.tx_packets, fmt(p.tx_packets))}` +
        `${cell("rx_missed", p.rx_missed, fmt(p.rx_missed))}<td>${fmt(p.rx_missed_per_s)}</td><td>${fmt(p.rx_errors)}</td><td>${fmt(p.rx_nombuf)}</td><td>${fmt(p.tx_errors)}</td></tr>`).join("") + "</tbody>"
    : '<tbody><tr><td class="l muted">rvsd reports no port counters</td></tr></tbody>';
}

function renderNeighbours(d) {
  const ns = d.neighbours || [];
  // As rvsadm --neigh prints them; an unresolved next hop (what neigh_timeout drops come from) in red.
  $("neighbours").innerHTML = ns.length
    ? `<thead><tr><th class="l">address</th><th class="l">dev</th><th class="l">lladdr</th><th class="l">state</th>` +
      `<th title="packets waiting for the ARP/NDP answer">queued</th><th class="l">workers</th></tr></thead><tbody>` +
      ns.map((n) => `<tr data-neigh="${esc(n.addr)}" data-state="${esc(n.state)}"${n.state === "incomplete" ? ' class="down"' : ""}>` +
        `<td class="l">${esc(n.addr)}</td><td class="l">${esc(n.dev)}</td><td class="l" data-k="lladdr">${esc(n.mac || "")}</td>` +
        `<td class="l">${esc(n.state.toUpperCase())}</td><td>${fmt(n.queued)}</td>` +
        `<td class="l">${n.workers.length === d.workers.length ? "all" : esc(n.workers.join(", "))}</td></tr>`).join("") + "</tbody>"
    : '<tbody><tr><td class="l muted">no neighbours</td></tr></tbody>';
}

function renderSynproxy(d) {
  const names = d.fields.synproxy;
  $("synproxy-charts").innerHTML = chart("SYN proxy per second", "synproxy", [
    { label: "SYNs answered", i: 0 }, { label: "ACKs accepted", i: 1 }, { label: "ACKs invalid", i: 2 }, { label: "bad ACK drops", i: 4 }]);
  const r = d.synproxy_rate || {};
  $("synproxy").innerHTML = `<thead><tr><th class="l">counter</th><th>total</th><th>per s</th></tr></thead><tbody>` +
    names.map((n) => `<tr><td class="l">${esc(n)}</td>${cell(n, d.synproxy[n], fmt(d.synproxy[n]))}<td>${fmt(r[n])}</td></tr>`).join("") + "</tbody>";
}

function message(text) {
  const m = $("message");
  m.hidden = !text;
  m.textContent = text || "";
}

async function poll() {
  try {
    const res = await fetch(`/api/v1/dashboard?since=${state.since}`, { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const d = await res.json();
    state.refreshMs = d.refresh_ms || 2000;
    mergeHistory(d.history);
    const pill = $("rvsd");
    pill.dataset.up = d.rvsd_up ? "1" : "0";
    pill.textContent = d.rvsd_up ? "rvsd: up" : "rvsd: not answering";
    message(d.rvsd_up ? "" : `rvsd does not answer rvs-ctrl: ${d.rvsd_error || "no data yet"}; counters are from the last answer.`);
    renderServices(d);
    renderWorkers(d);
    renderPorts(d);
    renderNeighbours(d);
    renderSynproxy(d);
    const when = d.sampled_ms ? new Date(d.sampled_ms).toLocaleTimeString() : "never";
    $("updated").textContent = `counters at ${when}, refresh every ${state.refreshMs / 1000} s`;
    document.body.dataset.sampled = d.sampled_ms || "";
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (e) {
    $("rvsd").dataset.up = "0";
    message(`cannot reach rvs-ctrl: ${e.message}`);
  }
  setTimeout(poll, state.refreshMs);
}

// Actions: through the JSON API with the operator's token; rvs-ctrl refuses them without one.
async function act(tr, what) {
  const [proto, vs] = tr.dataset.vs.split("/");
  const base = `/api/v1/services/${proto}/${vs}/reals/${tr.dataset.rs}`;
  let req;
  if (what === "drain") {
    if (!confirm(`Drain ${tr.dataset.rs} (weight 0: no new connections)?`)) return;
    req = { method: "POST", url: base + "/drain" };
  } else {
    const w = prompt(`New weight for ${tr.dataset.rs}:`);
    if (w === null) return;
    req = { method: "PUT", url: base, body: JSON.stringify({ weight: Number(w) }) };
  }
  const res = await fetch(req.url, { method: req.method, body: req.body, headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" } });
  const body = await res.json().catch(() => ({}));
  message(res.ok ? "" : `${req.method} ${req.url}: ${res.status} ${body.error || ""}`);
}

$("services").addEventListener("click", (e) => {
  const b = e.target.closest("button.act");
  if (b) act(b.closest("tr"), b.dataset.act);
});
$("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("rvsToken", state.token);
  document.body.classList.toggle("unlocked", !!state.token);
});
document.body.classList.toggle("unlocked", !!state.token);
poll();
