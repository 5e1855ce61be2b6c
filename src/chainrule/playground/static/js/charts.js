// Line charts (loss, accuracy) and the per-layer gradient-size bars.
import { $, fmtSci, hiDPI } from "./util.js";
import { S, on } from "./state.js";

export function drawLineChart(canvas, hist, opt) {
  const [ctx, w, h] = hiDPI(canvas);
  ctx.clearRect(0, 0, w, h);
  const padL = 34, padR = 8, padT = 8, padB = 16;
  const pts = hist.filter((p) => p[1] !== null || p[2] !== null);
  let ymax = opt.max !== undefined ? opt.max : 0;
  if (opt.max === undefined) {
    for (const p of pts) for (const v of [p[1], p[2]]) if (v !== null && isFinite(v)) ymax = Math.max(ymax, v);
    ymax = ymax > 0 ? ymax * 1.05 : 1;
  }
  const ymin = opt.min || 0;
  const x0 = pts.length ? pts[0][0] : 0, x1 = pts.length ? Math.max(pts[pts.length - 1][0], x0 + 1) : 1;
  const X = (s) => padL + (s - x0) / (x1 - x0) * (w - padL - padR);
  const Y = (v) => padT + (1 - (Math.min(v, ymax) - ymin) / (ymax - ymin)) * (h - padT - padB);
  ctx.strokeStyle = "#e4e7ec"; ctx.lineWidth = 1; ctx.fillStyle = "#667085"; ctx.font = "10px system-ui, sans-serif";
  const ticks = opt.percent ? [0, 0.25, 0.5, 0.75, 1] : [0, ymax / 2, ymax];
  for (const t of ticks) {
    const y = Math.round(Y(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(w - padR, y); ctx.stroke();
    ctx.fillText(opt.percent ? Math.round(t * 100) + "%" : t.toFixed(t < 1 ? 2 : 1), 2, y + 3);
  }
  const last = pts.length ? pts[pts.length - 1][0] : 0;
  ctx.fillText(pts.length ? "step " + last.toLocaleString("en-US") : "no steps yet", w - padR - 70, h - 3);
  const series = [{ k: 1, color: "#9aa4b2", width: 1.5 }, { k: 2, color: "#1f2328", width: 1.8 }];
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.lineWidth = s.width; ctx.beginPath();
    let started = false;
    for (const p of pts) {
      const v = p[s.k];
      if (v === null || !isFinite(v)) { started = false; continue; }
      if (!started) { ctx.moveTo(X(p[0]), Y(v)); started = true; } else ctx.lineTo(X(p[0]), Y(v));
    }
    ctx.stroke();
  }
  // legend
  let lx = padL + 4;
  opt.labels.forEach((lab, i) => {
    const s = series[i];
    ctx.strokeStyle = s.color; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(lx, h - 7); ctx.lineTo(lx + 14, h - 7); ctx.stroke();
    ctx.fillStyle = "#667085"; ctx.fillText(lab, lx + 18, h - 3);
    lx += 26 + ctx.measureText(lab).width;
  });
}

export function drawGradNorms() {
  const canvas = $("grad-norms");
  const [ctx, w, h] = hiDPI(canvas);
  ctx.clearRect(0, 0, w, h);
  const f = S.frame;
  if (!f) return;
  const raw = f.grad_norms;                                     // null: not a number
  const vals = raw.map((v) => (v && v > 0 ? v : 1e-12));       // log scale: 0 sits at the floor
  const logs = vals.map(Math.log10);
  const real = logs.filter((_, i) => raw[i] && raw[i] > 0);
  let lo = real.length ? Math.floor(Math.min.apply(null, real)) : -4;
  let hi = real.length ? Math.ceil(Math.max.apply(null, real)) : 0;
  if (f.step === 0) { lo = -4; hi = 0; }
  if (hi === Math.max.apply(null, real)) hi += 1;                // headroom above the tallest bar
  lo = Math.max(lo, -12); if (hi - lo < 3) lo = hi - 3;
  const padL = 34, padB = 18, padT = 6, n = vals.length;
  const Y = (lg) => padT + (1 - (lg - lo) / (hi - lo)) * (h - padT - padB);
  ctx.font = "10px system-ui, sans-serif"; ctx.fillStyle = "#667085"; ctx.strokeStyle = "#e4e7ec";
  const every = Math.ceil((hi - lo) / 5);
  for (let e = lo; e <= hi; e += every) {
    const y = Math.round(Y(e)) + 0.5;
    ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(w - 4, y); ctx.stroke();
    ctx.fillText("1e" + e, 2, y + 3);
  }
  const bw = (w - padL - 8) / n;
  const font = bw < 34 ? 8 : bw < 44 ? 9 : 10;                   // many layers: smaller labels
  for (let i = 0; i < n; i++) {
    const x = padL + i * bw + bw * 0.18, bwid = bw * 0.64, mid = x + bwid / 2;
    const nan = raw[i] === null, zero = raw[i] === 0;
    const y = nan ? padT : Y(Math.max(logs[i], lo));
    ctx.fillStyle = nan ? "#f5c2c0" : f.step === 0 ? "#d0d5dd" : "#183d4e";
    if (!zero) ctx.fillRect(x, y, bwid, h - padB - y);
    if (f.step > 0) {
      const t = nan ? "NaN" : zero ? "0" : fmtSci(vals[i]);
      ctx.font = font + "px system-ui, sans-serif";
      const tw = ctx.measureText(t).width;
      // above the bar when there is room, else inside it in white (readable on navy)
      const inside = !nan && !zero && y - 3 < padT + font;
      ctx.fillStyle = nan ? "#c62828" : inside ? "#ffffff" : "#344054";
      const ty = zero ? h - padB - 3 : inside ? y + font + 2 : nan ? padT + font + 2 : y - 3;
      ctx.fillText(t, mid - tw / 2, ty);
      ctx.font = "10px system-ui, sans-serif";
    }
    ctx.fillStyle = "#667085";
    const lab = i === n - 1 ? "out" : "W" + (i + 1);
    ctx.fillText(lab, mid - ctx.measureText(lab).width / 2, h - 5);
  }
  if (f.step === 0) { ctx.fillStyle = "#667085"; ctx.fillText("press play or step: no backward pass yet", padL + 8, padT + 12); }
}

on("draw", () => {
  if (S.mode === "playground") {
    drawLineChart($("loss-chart"), S.history, { min: 0, labels: ["train", "test"] });
    drawGradNorms();
  } else {
    drawLineChart($("accuracy-chart"), S.mnistHistory, { min: 0, max: 1, percent: true, labels: ["train (last 50 batches)", "test"] });
  }
});
