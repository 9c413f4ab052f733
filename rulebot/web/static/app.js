// rulebot web: one page, no framework. Data arrives as server-sent events (`bot`, a bot's
// summary whenever its status or journal changed); the journal's views are fetched when its
// head moves. Every value from a bot or a rulebook is put in the page as text, never as HTML;
// the diagram and the charts are SVG the server built with every name escaped.
"use strict";

const S = { tradesOnly: false, answer: "", session: null, bots: {}, current: null, heads: {}, decisions: [], versions: [], timer: null,
  chartBot: null, chartAt: 0, chartTimer: null };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

const num = (v, d = 2) => (v === null || v === undefined || v === "" ? "–" : Number(v).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
// Amounts as the terminal's status and the backtest summary write them: cents of a dollar-like
// asset, 6 decimals of a coin (COIN-M), where 0.004 BTC is hundreds of dollars, not "0.00".
const DOLLAR_LIKE = new Set(["USDT", "USDC", "BUSD", "FDUSD", "USD", ""]);
const places = (asset) => (DOLLAR_LIKE.has(asset) ? 2 : 6);
const px = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: 8 }));
const pct = (v, d = 1) => (v === null || v === undefined ? "–" : v === "inf" ? "∞" : (Number(v) * 100).toFixed(d) + "%");
const when = (ms) => (ms ? new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19) : "–");
const sign = (v) => (Number(v) > 0 ? "pos" : Number(v) < 0 ? "neg" : "");

function uptime(s) {
  if (s === null || s === undefined) return "–";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
  return r.json();
}

async function getText(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  return r.ok ? r.text() : "";
}

// -- the status panel --------------------------------------------------------------------------

function card(title, ...body) {
  const id = "card-" + title.toLowerCase().split(" ")[0].replace(/[^a-z]/g, "");
  return el("section", { class: "card", id }, el("h2", {}, title), ...body);
}

// `stack`: on a phone each row becomes a small card of label: value lines.
function table(headers, rows, empty, stack) {
  if (!rows.length) return el("p", { class: "muted" }, empty);
  return el("div", { class: "scroll" }, el("table", { class: stack ? "stack" : null },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) => el("td", { "data-label": headers[i] }, c)))))));
}

function chip(label, state, detail) {
  return el("div", { class: "chip " + state, title: detail || "" }, el("span", { class: "dot" }), el("b", {}, label), el("span", {}, detail || ""));
}

function hero(b) {
  const st = b.status || {};
  const run = b.run || {};
  const badge = el("span", { class: "badge " + b.mode }, b.mode);
  const state = b.running ? el("span", { class: "badge ok", id: "running" }, "running") : el("span", { class: "badge off", id: "running" }, st.halted ? "halted" : "stopped");
  const facts = [
    ["market", st.market ? `${st.market.toUpperCase()} · ${(st.symbols || []).join(", ")}` : "–"],
    ["account", b.venue || "–"],
    ["margin", st.margin || "–"],
    ["rulebook", `${st.rulebook || run.rulebook || "–"} ${st.version ? "· " + st.version : ""}`],
    ["uptime", b.running ? uptime(b.uptime_s) : run.stopped ? "ended " + when(run.stopped) : "–"],
    ["events", st.events ? Number(st.events).toLocaleString("en-US") : "–"],
  ];
  // The control answer lives in S: the hero is redrawn on every live update.
  return el("section", { class: "hero" },
    el("div", { class: "title" }, el("h1", {}, b.name), badge, state),
    el("dl", { class: "facts" }, facts.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v)))),
    controls(b));
}

function controls(b) {
  if (!S.session.control) return el("p", { class: "muted small" }, "read-only page (start with --control to allow kill and reload)");
  if (!S.session.signed_in) return el("p", { class: "muted small" }, "sign in with the link `rulebot web` printed to use kill and reload");
  const off = !b.running;
  return el("div", { class: "controls" },
    el("button", { class: "danger", id: "kill-flatten", disabled: off, onclick: () => ask(b, "kill", "flatten") }, "Kill · flatten"),
    el("button", { class: "warn", id: "kill-keep", disabled: off, onclick: () => ask(b, "kill", "keep") }, "Kill · keep stops"),
    el("button", { id: "reload", disabled: off, onclick: () => ask(b, "reload") }, "Reload rulebook"),
    el("span", { id: "control-answer", class: "muted small" }, S.answer || ""));
}

function ask(b, cmd, policy) {
  const text = cmd === "reload" ? `Reload the rulebook file of ${b.name}?`
    : policy === "flatten" ? `Stop ${b.name} now: cancel every order and close every position?`
    : `Stop ${b.name} now: cancel entries, keep positions with their stops on the exchange?`;
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  const yes = document.getElementById("confirm-yes"), no = document.getElementById("confirm-no");
  yes.onclick = async () => { dlg.close(); await send(b, cmd, policy); };
  no.onclick = () => dlg.close();
  dlg.showModal();
}

async function send(b, cmd, policy) {
  const r = await fetch(`/api/bots/${b.id}/${cmd}`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Rulebot-CSRF": S.session.csrf || "" },
    body: JSON.stringify(policy ? { policy } : {}),
  });
  const a = await r.json().catch(() => ({}));
  S.answer = a.ok ? `${cmd} sent${a.policy ? " (" + a.policy + ")" : ""}${a.version ? " · version " + a.version : ""}` : `refused: ${a.error || (a.errors || []).join("; ")}`;
  const out = document.getElementById("control-answer");
  if (out) out.textContent = S.answer;
}

function money(b) {
  const st = b.status || {};
  const rows = Object.entries(st.equity || {}).map(([asset, eq]) => {
    const d = (st.daily_loss || {})[asset] || {};
    const pnl = Number((st.daily_pnl || {})[asset] || 0), cap = Number(d.cap || 0);
    const used = cap > 0 ? Math.min(1, Math.max(0, -pnl / cap)) : 0;
    const d2 = places(asset);
    return el("div", { class: "money" },
      el("div", { class: "big" }, num(eq, d2), el("small", {}, " " + asset)),
      el("div", { class: sign(pnl) }, `today ${pnl >= 0 ? "+" : ""}${num(pnl, d2)} ${asset}`),
      el("div", { class: "capbar", title: `daily loss cap ${num(cap, d2)} ${asset}` }, el("div", { class: used > 0.8 ? "fill hot" : "fill", style: `width:${(used * 100).toFixed(1)}%` })),
      el("div", { class: "muted small" }, cap ? `loss cap ${num(cap, d2)} ${asset} · ${(used * 100).toFixed(0)}% used` : "loss cap –"));
  });
  return card("Equity and today's PnL", rows.length ? rows : el("p", { class: "muted" }, "not running: see the chart below"));
}

function guards(b) {
  const st = b.status || {}, g = st.guards || {}, lim = st.limits || {}, risk = st.risk || {};
  if (!b.status) return card("Guards", el("p", { class: "muted" }, "not running"));
  const ratios = Object.values(risk).map((r) => r.margin_ratio).filter((x) => x !== null);
  const worst = ratios.length ? Math.max(...ratios.map((x) => (x === "inf" ? Infinity : Number(x)))) : null;
  const ages = Object.values(risk).map((r) => r.data_age_ms).filter((x) => x !== null);
  const age = ages.length ? Math.max(...ages) : null;
  const vol = Object.entries(risk).map(([s, r]) => `${s} ${r.volatility_ratio}x`).join(", ");
  const tripped = Object.values(g.volatility_breaker || {}).some(Boolean);
  const rb = st.rate_budget || {};
  const limitMr = Number(lim.max_margin_ratio || 0.8);
  return card("Guards", el("div", { class: "chips" },
    chip("kill switch / halt", g.halted ? "bad" : "ok", g.halted ? String(g.halted) : "not halted"),
    chip("daily loss cap", g.daily_loss_breached ? "bad" : "ok", g.daily_loss_breached ? "breached: no entries until 00:00 UTC" : "within the cap"),
    chip("margin ratio", worst === null ? "ok" : worst >= limitMr ? "bad" : worst >= limitMr * 0.75 ? "warn" : "ok", `${worst === null ? "no position" : pct(worst)} (cuts at ${pct(limitMr, 0)})`),
    chip("stale data", (g.streams_down || []).length || (age !== null && age > lim.stale_after_ms) ? "bad" : "ok", (g.streams_down || []).length ? "down: " + g.streams_down.join(", ") : `data ${age === null ? "–" : (age / 1000).toFixed(1) + " s"} old (limit ${(lim.stale_after_ms || 0) / 1000} s)`),
    chip("volatility breaker", tripped ? "warn" : "ok", `${tripped ? "tripped · " : ""}${vol || "–"} (trips at ${lim.volatility_breaker || "–"}x)`),
    chip("rate budget", rb.orders_last_minute >= rb.max_per_minute ? "bad" : "ok", `${rb.orders_last_minute ?? "–"} / ${rb.max_per_minute ?? "–"} orders a minute`)));
}

// A position's PnL is in its margin asset: the coin of a COIN-M symbol (BTCUSD_PERP, BTCUSD_251226).
const pnlPlaces = (symbol) => (/USD_(PERP|\d{6})$/.test(symbol) ? 6 : 2);

function positions(b) {
  const st = b.status || {}, risk = st.risk || {};
  const rows = (st.positions || []).map((p) => {
    const r = risk[p.symbol] || {};
    const dist = r.liquidation_distance;
    return [p.symbol, el("span", { class: p.side === "long" ? "pos" : "neg" }, p.side), px(p.size), px(p.entry_price), px(r.mark),
      px(r.liquidation_price), el("span", { class: dist !== null && Number(dist) < 0.1 ? "neg" : "" }, pct(dist)), el("span", { class: sign(p.upnl) }, num(p.upnl, pnlPlaces(p.symbol)))];
  });
  if (!b.status && (b.left_open || []).length) return leftOpen(b);
  return card("Positions", table(["symbol", "side", "size", "entry", "mark", "liq. price", "distance", "uPnL"], rows, b.status ? "flat: no position" : "not running", true));
}

// Stopped with positions open (a kill that kept them, or a backtest's end): what the journal saw last.
function leftOpen(b) {
  const rows = b.left_open.map((p) => {
    const long = Number(p.amount) > 0;
    return [p.symbol, el("span", { class: long ? "pos" : "neg" }, long ? "long" : "short"),
      px(Math.abs(Number(p.amount))), px(p.entry_price),
      el("span", { class: sign(p.unrealized_pnl) }, num(p.unrealized_pnl, pnlPlaces(p.symbol)))];
  });
  const then = when(b.left_open[0].time), real = b.mode === "live" || b.mode === "testnet";
  const note = real
    ? `not running: open on the exchange as the journal last recorded them, ${then} (they may differ since)`
    : `not running: open when the ${b.mode} stopped, as its journal recorded them, ${then}`;
  return card("Positions", el("p", { class: "muted small" }, note),
    table(["symbol", "side", "size", "entry", "uPnL then"], rows, "", true));
}

function orders(b) {
  const rows = ((b.status || {}).working || []).map((o) => [o.symbol, o.purpose, o.rule || "engine", o.side, o.type,
    o.close_position ? "all" : px(o.quantity), px(o.price || o.trigger_price), o.status]);
  return card("Working orders and stops", table(["symbol", "purpose", "rule", "side", "type", "qty", "price / trigger", "status"], rows, b.status ? "no working orders" : "not running", true));
}

function notices(b) {
  const rows = (b.problems || []).map((p) => [when(p.time), p.kind, p.symbol || "", p.message]);
  return card("Notices from the guards and the runner", table(["time", "what", "symbol", "message"], rows, "none"));
}

// -- the journal's views ------------------------------------------------------------------------

function decisionRow(d) {
  const what = d.fired ? (d.intents.length ? d.intents.join("; ") : "fired") : d.error ? "error: " + d.error : "did not fire";
  return el("li", { class: d.fired ? "fired" : "quiet" },
    el("button", { class: "link decision", "data-id": d.id, onclick: () => explain(d.id) },
      el("span", { class: "t" }, when(d.time)), el("b", {}, d.rule), el("span", { class: "muted" }, ` ${d.symbol} · ${d.state}`)),
    el("div", { class: "what" }, what),
    d.interventions.length ? el("div", { class: "guard" }, "⚠ " + d.interventions.join(", ")) : null);
}

async function explain(id) {
  const b = S.bots[S.current];
  const body = document.getElementById("explain-body");
  body.replaceChildren(el("p", { class: "muted" }, "loading…"));
  document.getElementById("explain").showModal();
  let s;
  try { s = await getJSON(`/api/bots/${b.id}/decisions/${id}`); } catch (e) { body.replaceChildren(el("p", {}, String(e.message))); return; }
  const inputs = Object.entries(s.inputs || {}).map(([k, v]) => [k, typeof v === "number" ? Number(v.toPrecision(8)).toString() : String(v)]);
  const parts = [
    el("h2", { id: "explain-title" }, `decision ${s.id} · ${s.rule}`),
    el("p", { class: "muted" }, `${when(s.time)} · ${s.symbol} · rulebook ${String(s.version).slice(0, 12)}`),
    el("p", {}, `trigger: ${s.trigger} in state ${s.state} → `, el("b", { class: s.fired ? "pos" : "" }, s.fired ? "fired" : "did not fire"), s.error ? ` (${s.error})` : ""),
    el("h3", {}, "Inputs the condition read"), table(["name", "value"], inputs, "none"),
  ];
  for (const g of s.verdicts) {
    parts.push(el("h3", {}, `Guards on '${g.intent}'`), table(["verdict", "guard", "reason"], g.verdicts.map((v) => [el("span", { class: "verdict " + v.kind }, v.kind), v.guard, v.reason]), "none"));
  }
  if (s.state_changes.length) parts.push(el("h3", {}, "State"), el("ul", {}, s.state_changes.map((c) => el("li", {}, `${c.from_state} → ${c.to_state} (${c.why})`))));
  const ord = s.orders.map((o) => {
    if (o.kind === "command") return [when(o.time), "sent", `${o.side || ""} ${o.quantity || "close-position"} ${o.order_type || o.type}${o.price || o.trigger_price ? " @ " + (o.price || o.trigger_price) : ""}`, o.client_order_id];
    const filled = o.last_filled_qty && o.last_filled_qty !== "0" ? ` filled ${o.last_filled_qty} @ ${o.last_filled_price} fee ${o.commission}` : "";
    return [when(o.time), o.kind === "algo" ? "algo " + o.status : o.status, filled.trim() || "–", o.client_order_id || o.client_algo_id || ""];
  });
  parts.push(el("h3", {}, "Orders and fills that followed"), table(["time", "status", "what", "client id"], ord, "no order"));
  const pos = (s.position_after || {}).positions || [];
  if (pos.length) parts.push(el("h3", {}, "Position after"), el("ul", {}, pos.map((p) => el("li", {}, `${p.symbol} ${p.amount} @ ${p.entry_price}`))));
  // What the engine did on its own for the symbol until its next decision (its stops, cancels, notices).
  const eng = (s.engine_after || []).map((e) => {
    if (e.kind === "guard") return [when(e.time), `${e.rule}: ${e.intent}`, e.verdicts.map((v) => `${v.kind} ${v.guard}: ${v.reason}`).join("; "), e.client_order_id || ""];
    if (e.kind === "notice") return [when(e.time), `notice ${e.notice}`, e.message, ""];
    if (e.kind === "command" && e.type !== "PlaceOrder") return [when(e.time), `${e.type} sent`, e.reason || "–", e.client_order_id || ""];
    if (e.kind === "command") return [when(e.time), `sent ${e.side} ${e.quantity || "close-position"} ${e.order_type}${e.price || e.trigger_price ? " @ " + (e.price || e.trigger_price) : ""}`, "–", e.client_order_id];
    const filled = e.last_filled_qty && Number(e.last_filled_qty) > 0 ? `filled ${e.last_filled_qty} @ ${e.last_filled_price} fee ${e.commission}` : "";
    return [when(e.time), e.kind === "algo" ? "algo " + e.status : e.status, e.reject_reason || e.reason || filled || "–", e.client_order_id || ""];
  });
  if (eng.length) parts.push(el("h3", {}, "Then the engine, on its own"), table(["time", "what", "why", "client id"], eng, "nothing"));
  parts.push(el("p", { class: "muted small" }, `the same as: rulebot audit -j JOURNAL explain ${s.id}`));
  body.replaceChildren(...parts);
}

// The card is redrawn whenever the journal moves: the chosen versions and their diff live in S.
function versionsCard(b) {
  const rows = S.versions.map((v) => [when(v.time), el("code", {}, v.hash.slice(0, 12)), v.loaded_by, v.name]);
  const n = S.versions.length;
  const chosen = { old: S.diffOld || (n > 1 ? S.versions[n - 2].hash : ""), new: S.diffNew || (n ? S.versions[n - 1].hash : "") };
  const pick = (id) => el("select", { id, onchange: (e) => { S[id === "old" ? "diffOld" : "diffNew"] = e.target.value; } },
    S.versions.map((v) => el("option", { value: v.hash, selected: v.hash === chosen[id] }, `${v.hash.slice(0, 12)} · ${v.loaded_by}`)));
  const out = el("pre", { class: "diff", id: "diff" });
  if (S.diffText !== undefined) {
    out.replaceChildren(...S.diffText.split("\n").map((l) => el("span", { class: l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : "" }, l + "\n")));
    if (!S.diffText) out.textContent = "the same text";
  }
  const show = async () => {
    S.diffOld = document.getElementById("old").value; S.diffNew = document.getElementById("new").value;
    S.diffText = await getText(`/api/bots/${b.id}/diff?old=${encodeURIComponent(S.diffOld)}&new=${encodeURIComponent(S.diffNew)}`);
    const box = document.getElementById("versions");
    if (box) box.replaceChildren(versionsCard(b));
  };
  const diffUi = n > 1 ? el("div", { class: "diffui" }, pick("old"), " → ", pick("new"), el("button", { onclick: show }, "Diff")) : null;
  return card("Rulebook versions", table(["loaded", "version", "how", "rulebook"], rows, "none"), diffUi, out);
}

function drawDecisions() {
  const box = document.getElementById("decisions");
  if (!box) return;
  const shown = S.tradesOnly ? S.decisions.filter((d) => d.intents.length) : S.decisions;
  box.replaceChildren(shown.length ? el("ol", { class: "timeline" }, shown.map(decisionRow))
    : el("p", { class: "muted" }, S.decisions.length ? "no decision sent an order" : "no decision yet"));
}

// The chart is drawn from the whole journal (a month of a busy bot: a megabyte, and a third of a
// second of the server's time): fetched at most this often, the last change always shown.
const CHART_EVERY_MS = 10_000;

async function refreshJournal(fresh = false) {
  const b = S.bots[S.current];
  if (!b) return;
  const now = Date.now();
  const chartDue = fresh || S.chartBot !== b.id || now - S.chartAt >= CHART_EVERY_MS;
  if (chartDue) { S.chartBot = b.id; S.chartAt = now; }
  else if (!S.chartTimer) S.chartTimer = setTimeout(() => { S.chartTimer = null; refreshJournal(); }, S.chartAt + CHART_EVERY_MS - now);
  const [decisions, versions, diagram, chart] = await Promise.all([
    getJSON(`/api/bots/${b.id}/decisions?limit=200`).catch(() => []),
    getJSON(`/api/bots/${b.id}/versions`).catch(() => []),
    getText(`/api/bots/${b.id}/diagram`), chartDue ? getText(`/api/bots/${b.id}/chart`) : null,
  ]);
  S.decisions = decisions; S.versions = versions;
  const set = (id, node) => { const e = document.getElementById(id); if (e) e.replaceChildren(node); };
  const dg = document.getElementById("diagram"); if (dg) dg.innerHTML = diagram;
  const ch = document.getElementById("chart"); if (ch && chart !== null) ch.innerHTML = chart;
  drawDecisions();
  set("versions", versionsCard(b));
}

function render() {
  const b = S.bots[S.current];
  const main = document.getElementById("main");
  if (!b) { main.replaceChildren(el("p", { class: "muted" }, "no bot")); return; }
  const reports = (b.reports || []).map((r) => el("li", {}, el("a", { href: `/reports/${b.id}/${r.split("/").map(encodeURIComponent).join("/")}`, target: "_blank", rel: "noopener" }, r)));
  main.replaceChildren(
    hero(b),
    statusCards(b),
    card("State machine", b.running ? null : el("p", { class: "muted small" }, "not running: the states as the journal last recorded them"),
      el("div", { id: "diagram", class: "diagram-box" })),
    card("Equity and price", el("div", { id: "chart", class: "chart-box" })),
    el("div", { class: "cards two" },
      card("Decisions", el("p", { class: "muted small filter" }, "newest first · click one for why · ",
        el("label", {}, el("input", { type: "checkbox", id: "trades-only", checked: S.tradesOnly, onchange: (e) => { S.tradesOnly = e.target.checked; drawDecisions(); } }), " only those that sent orders")),
        el("div", { id: "decisions" })),
      el("div", {}, el("div", { id: "versions" }), notices(b), card("Backtest reports", reports.length ? el("ul", {}, reports) : el("p", { class: "muted" }, "none in the run directory")))));
  refreshJournal(true);  // the chart box is new and empty
}

function renderLive(b) {
  // Status changes redraw the status panels only; the journal's views follow its head.
  const main = document.getElementById("main");
  const old = main.querySelector(".hero");
  if (!old) return render();
  old.replaceWith(hero(b));
  main.querySelector("#status").replaceWith(statusCards(b));
  // The diagram lights the states of the status, the rest follows the journal: either moves.
  const key = `${b.head} ${JSON.stringify((b.status || {}).states || {})} ${b.running}`;
  // At most one refresh per 300 ms, however busy the bot (a debounce would starve).
  if (S.heads[b.id] !== key) {
    S.heads[b.id] = key;
    if (!S.timer) S.timer = setTimeout(() => { S.timer = null; refreshJournal(); }, 300);
  }
}

function statusCards(b) {
  return el("div", { id: "status" }, el("div", { class: "cards" }, money(b), guards(b)),
    el("div", { class: "cards halves" }, positions(b), orders(b)));
}

function tabs() {
  const nav = document.getElementById("tabs");
  nav.replaceChildren(...Object.values(S.bots).map((b) => el("button", { class: "tab" + (b.id === S.current ? " on" : ""), onclick: () => { S.current = b.id; S.diffText = S.diffOld = S.diffNew = undefined; tabs(); render(); } },
    el("span", { class: "dot " + (b.running ? "ok" : "off") }), b.name)));
}

async function start() {
  S.session = await getJSON("/api/session");
  for (const b of S.session.bots) S.bots[b.id] = b;
  S.current = S.session.bots.length ? S.session.bots[0].id : null;
  tabs(); render();
  const es = new EventSource("/api/events");
  const live = document.getElementById("live");
  es.onopen = () => live.classList.remove("off");
  es.onerror = () => live.classList.add("off");
  es.addEventListener("bot", (ev) => {
    const b = JSON.parse(ev.data);
    const was = S.bots[b.id];
    S.bots[b.id] = b;
    const changed = !was || was.running !== b.running || was.name !== b.name;
    if (changed) tabs();
    if (b.id === S.current) (changed ? render : renderLive)(b);
  });
}

start().catch((e) => { document.getElementById("main").replaceChildren(el("p", { class: "neg" }, "cannot load: " + e.message)); });
