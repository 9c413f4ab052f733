// Zoom and pan for the backtest report: every time chart shows the same window of time.
// Wheel (or the + / - buttons) zooms around the pointer, dragging pans, a double click or
// "reset" shows the whole run. Each chart is drawn again from the data embedded in the page
// (#chart-data), reduced to the extremes of each pixel column of the window, with its value
// axis fitted to what is visible. Text from the data (marker tips) is set as text, never as markup.
(function () {
  "use strict";
  const holder = document.getElementById("chart-data");
  if (!holder) return;
  const DATA = JSON.parse(holder.textContent);
  for (const chart of DATA.charts) {
    for (const s of chart.series) {  // times come as steps from the one before
      let t = 0;
      for (let i = 0; i < s.t.length; i++) s.t[i] = t += s.t[i];
    }
  }
  const W = DATA.width, H = DATA.height, L = DATA.pad[0], R = DATA.pad[1], T = DATA.pad[2], B = DATA.pad[3];
  const FULL = [DATA.t0, DATA.t1];
  const MIN_SPAN = Math.max(10 * 60000, (FULL[1] - FULL[0]) / 20000);
  const figures = Array.from(document.querySelectorAll("figure.chart"));
  if (!figures.length) return;
  const NS = figures[0].querySelector("svg").namespaceURI;
  let view = FULL.slice();

  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function niceTicks(lo, hi, count) {
    if (!(isFinite(lo) && isFinite(hi))) return [0];
    if (hi <= lo) { const pad = Math.abs(lo) * 0.01 || 1; lo -= pad; hi += pad; }
    const raw = (hi - lo) / Math.max(1, count - 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const out = [];
    for (let v = Math.floor(lo / step) * step; v < hi + step * 0.999; v += step) out.push(+v.toFixed(12));
    return out;
  }

  function tickLabel(v, ticks) {
    const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
    const e = Math.floor(Math.log10(step));
    const digits = Math.max(0, -e + (step / Math.pow(10, e) === 2.5 ? 1 : 0));
    return v.toLocaleString("en-US", { minimumFractionDigits: Math.min(digits, 8), maximumFractionDigits: Math.min(digits, 8) });
  }

  const STEPS = [1, 5, 15, 30, 60, 180, 360, 720, 1440, 2880, 10080, 20160].map((m) => m * 60000)
    .concat([30, 61, 91, 182, 365].map((d) => d * 86400000));

  function timeTicks(t0, t1) {
    const step = STEPS.find((s) => (t1 - t0) / s <= 6) || STEPS[STEPS.length - 1];
    const out = [];
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
    return { ticks: out.length ? out : [t0], step: step };
  }

  function timeLabel(t, step) {
    const iso = new Date(t).toISOString();
    return step >= 86400000 ? iso.slice(0, 10) : iso.slice(5, 10) + " " + iso.slice(11, 16);
  }

  // The points inside [a, b] and one either side, reduced to first/min/max/last per column.
  function visible(ts, vs, a, b, buckets) {
    let lo = 0, hi = ts.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (ts[m] < a) lo = m + 1; else hi = m; }
    const start = Math.max(0, lo - 1);
    lo = start; hi = ts.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (ts[m] <= b) lo = m + 1; else hi = m; }
    const end = Math.min(ts.length, lo + 1);
    const out = [];
    if (end - start <= buckets * 2) {
      for (let i = start; i < end; i++) if (vs[i] !== null) out.push([ts[i], vs[i]]);
      return out;
    }
    let group = [], current = -1;
    const flush = () => {
      if (!group.length) return;
      let mn = group[0], mx = group[0];
      for (const p of group) { if (p[1] < mn[1]) mn = p; if (p[1] > mx[1]) mx = p; }
      const keep = [group[0], mn, mx, group[group.length - 1]].sort((x, y) => x[0] - y[0]);
      for (let i = 0; i < keep.length; i++) if (i === 0 || keep[i] !== keep[i - 1]) out.push(keep[i]);
      group = [];
    };
    for (let i = start; i < end; i++) {
      if (vs[i] === null) continue;
      const bucket = Math.min(buckets - 1, Math.max(0, Math.floor((ts[i] - a) * buckets / Math.max(1, b - a))));
      if (bucket !== current) { flush(); current = bucket; }
      group.push([ts[i], vs[i]]);
    }
    flush();
    return out;
  }

  function draw(figure, chart) {
    const svg = figure.querySelector("svg");
    const [a, b] = view;
    const x = (t) => L + (t - a) / Math.max(1, b - a) * (W - L - R);
    const lines = chart.series.map((s) => visible(s.t, s.v, a, b, W - L - R));
    const marks = (chart.marks || []).filter((m) => m.t >= a && m.t <= b);
    const values = [];
    for (const pts of lines) for (const p of pts) values.push(p[1]);
    for (const m of marks) values.push(m.v);
    if (chart.baseline !== null && chart.baseline !== undefined) values.push(chart.baseline);
    if (chart.fill) values.push(0);
    if (!values.length) return;
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const ticks = niceTicks(lo, hi, 5);
    const y0 = ticks[0], y1 = ticks[ticks.length - 1] > ticks[0] ? ticks[ticks.length - 1] : ticks[0] + 1;
    const y = (v) => T + (y1 - v) / (y1 - y0) * (H - T - B);
    const body = document.createDocumentFragment();
    const clip = "clip-" + figure.dataset.chart;
    const defs = el("defs", {});
    const cp = el("clipPath", { id: clip });
    cp.appendChild(el("rect", { x: L, y: T, width: W - L - R, height: H - T - B }));
    defs.appendChild(cp);
    body.appendChild(defs);
    const plot = el("g", { "clip-path": "url(#" + clip + ")" });
    for (const band of chart.bands || []) {
      if (band[1] < a || band[0] > b) continue;
      const x0 = x(Math.max(band[0], a)), x1 = x(Math.min(band[1], b));
      plot.appendChild(el("rect", { x: x0.toFixed(1), y: T, width: Math.max(x1 - x0, 0.5).toFixed(1), height: H - T - B,
        class: band[2] > 0 ? "long" : "short" }));
    }
    for (const v of ticks) {
      const yy = y(v).toFixed(1);
      body.appendChild(el("line", { x1: L, x2: W - R, y1: yy, y2: yy, class: "grid" }));
      body.appendChild(el("text", { x: L - 6, y: (y(v) + 4).toFixed(1), "text-anchor": "end" }, tickLabel(v, ticks)));
    }
    const tt = timeTicks(a, b);
    for (const t of tt.ticks) {
      const xx = x(t).toFixed(1);
      body.appendChild(el("line", { x1: xx, x2: xx, y1: T, y2: H - B, class: "grid" }));
      if (x(t) > W - R - 30) continue;  // a label cut by the edge says nothing
      body.appendChild(el("text", { x: xx, y: H - 6, "text-anchor": "middle", class: "time" }, timeLabel(t, tt.step)));
    }
    if (chart.baseline !== null && chart.baseline !== undefined) {
      const yb = y(chart.baseline).toFixed(1);
      plot.appendChild(el("line", { x1: L, x2: W - R, y1: yb, y2: yb, class: "base" }));
    }
    chart.series.forEach((s, i) => {
      const pts = lines[i];
      if (!pts.length) return;
      const d = pts.map((p, j) => (j ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ");
      if (chart.fill && i === 0) {
        const base = y(0).toFixed(1);
        plot.appendChild(el("path", { d: d + " L" + x(pts[pts.length - 1][0]).toFixed(1) + "," + base + " L" +
          x(pts[0][0]).toFixed(1) + "," + base + " Z", class: s.cls + "-fill" }));
      }
      const path = el("path", { d: d, class: s.cls });
      if (s.colour) path.setAttribute("style", "stroke:" + s.colour);
      if (s.name) path.setAttribute("data-name", s.name);
      plot.appendChild(path);
    });
    for (const m of marks) {
      const t = el("text", { x: x(m.t).toFixed(1), y: (y(m.v) + 5).toFixed(1), style: "fill:" + m.c, "text-anchor": "middle",
        class: "mark" }, m.g);
      t.appendChild(el("title", {}, m.tip));
      plot.appendChild(t);
    }
    body.appendChild(plot);
    svg.replaceChildren(body);
  }

  function drawAll() {
    figures.forEach((f) => draw(f, DATA.charts[+f.dataset.chart]));
    document.documentElement.dataset.view = Math.round(view[0]) + "," + Math.round(view[1]);
    const shown = document.getElementById("zoom-window");
    if (shown) shown.textContent = timeLabel(view[0], 0) + " → " + timeLabel(view[1], 0) + " UTC";
  }

  function setView(a, b) {
    let span = Math.min(FULL[1] - FULL[0], Math.max(MIN_SPAN, b - a));
    a = Math.max(FULL[0], Math.min(a, FULL[1] - span));
    view = [a, a + span];
    drawAll();
  }

  function zoom(factor, at) {
    const [a, b] = view;
    const centre = at === undefined ? (a + b) / 2 : at;
    setView(centre - (centre - a) * factor, centre + (b - centre) * factor);
  }

  function timeAt(svg, clientX) {
    const box = svg.getBoundingClientRect();
    const px = (clientX - box.left) / box.width * W;
    return view[0] + (px - L) / (W - L - R) * (view[1] - view[0]);
  }

  let drag = null;
  for (const f of figures) {
    const svg = f.querySelector("svg");
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      zoom(e.deltaY < 0 ? 0.8 : 1.25, timeAt(svg, e.clientX));
    }, { passive: false });
    svg.addEventListener("pointerdown", (e) => {
      drag = { x: e.clientX, view: view.slice(), width: svg.getBoundingClientRect().width };
      svg.setPointerCapture(e.pointerId);
    });
    svg.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const dt = (e.clientX - drag.x) / drag.width * W / (W - L - R) * (drag.view[1] - drag.view[0]);
      setView(drag.view[0] - dt, drag.view[1] - dt);
    });
    const end = () => { drag = null; };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    svg.addEventListener("dblclick", () => setView(FULL[0], FULL[1]));
  }
  const on = (id, fn) => { const b = document.getElementById(id); if (b) b.addEventListener("click", fn); };
  on("zoom-in", () => zoom(0.5));
  on("zoom-out", () => zoom(2));
  on("zoom-reset", () => setView(FULL[0], FULL[1]));
  document.documentElement.classList.add("zoomable");
  drawAll();
})();
