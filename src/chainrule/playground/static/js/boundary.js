// The output panel's big picture: the network's output (or a hovered neuron's) over the plane,
// with the train and test points on top, and the colour bar that says what the colours mean.
import { $, LUT_SOFT, b64bytes, hiDPI, paintMap } from "./util.js";
import { S, on } from "./state.js";

const DISCRETE = (() => {  // two colours: below and above the middle
  const t = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const j = i < 128 ? 0 : 255;
    t[3 * i] = LUT_SOFT[3 * j]; t[3 * i + 1] = LUT_SOFT[3 * j + 1]; t[3 * i + 2] = LUT_SOFT[3 * j + 2];
  }
  return t;
})();

function regression() { return S.data && S.data.problem === "regression"; }

export function drawBoundary() {
  const canvas = $("boundary");
  const [ctx, w, h] = hiDPI(canvas);
  const f = S.frame;
  ctx.clearRect(0, 0, w, h);
  let caption = regression() ? "the network's predicted value over the plane" : "the network's output p(blue) over the plane";
  let low = regression() ? "−1 orange" : "0 orange", high = regression() ? "+1 blue" : "1 blue";
  const diverged = Boolean(f && f.diverged);
  if (diverged) {
    // a diverged network has no picture to show: grey, and a note on top of the points (below)
    ctx.fillStyle = "#eef1f4"; ctx.fillRect(0, 0, w, h);
    caption = "no output: the weights are not numbers"; low = ""; high = "";
  } else if (f) {
    let bytes, n;
    const hv = S.hover && f.neurons[S.hover.l] && f.neurons[S.hover.l][S.hover.j];
    if (hv) {
      bytes = b64bytes(f.neurons[S.hover.l][S.hover.j]); n = f.neuron_size;
      caption = "output of neuron " + (S.hover.j + 1) + " in hidden layer " + (S.hover.l + 1) + " (" + S.config.activation + ")";
      const s = f.neuron_scales ? f.neuron_scales[S.hover.l][S.hover.j] : 1;
      low = "−" + s + " orange"; high = "+" + s + " blue";
    } else { bytes = b64bytes(f.boundary); n = f.boundary_size; }
    ctx.save(); ctx.setTransform(1, 0, 0, 1, 0, 0);
    paintMap(canvas, bytes, n, S.discretize && !hv ? DISCRETE : LUT_SOFT, !(S.discretize && !hv));
    ctx.restore();
    if (S.discretize && !hv) { low = regression() ? "below 0" : "orange: p < ½"; high = regression() ? "above 0" : "blue: p ≥ ½"; }
  }
  $("boundary-caption").textContent = caption;
  $("bar-low").textContent = low; $("bar-high").textContent = high;
  const d = S.data;
  if (!d) return;
  const e = d.extent;
  const px = (x) => (x + e) / (2 * e) * w, py = (y) => (e - y) / (2 * e) * h;
  // axes
  ctx.strokeStyle = "rgba(0,0,0,0.12)"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(px(0), 0); ctx.lineTo(px(0), h); ctx.moveTo(0, py(0)); ctx.lineTo(w, py(0)); ctx.stroke();
  const reg = regression();
  const colour = (v) => {
    if (!reg) return v > 0 ? "rgb(8,119,189)" : "rgb(245,147,34)";
    const k = 3 * Math.round((Math.max(-1, Math.min(1, v)) + 1) * 127.5);
    return `rgb(${LUT_SOFT[k] * 0.8},${LUT_SOFT[k + 1] * 0.8},${LUT_SOFT[k + 2] * 0.8})`;
  };
  const dot = (p, ring) => {
    ctx.beginPath(); ctx.arc(px(p[0]), py(p[1]), ring === "test" ? 2.8 : 3.2, 0, 2 * Math.PI);
    ctx.fillStyle = colour(p[2]); ctx.fill();
    ctx.lineWidth = ring === "test" ? 0.9 : 1; ctx.strokeStyle = ring === "test" ? "#1f2328" : "#ffffff"; ctx.stroke();
  };
  for (const p of d.train) dot(p, "train");
  if (S.showTest) for (const p of d.test) dot(p, "test");
  ctx.fillStyle = "rgba(31,35,40,0.55)"; ctx.font = "10px system-ui, sans-serif";
  ctx.fillText("x₁ →", w - 30, py(0) - 4); ctx.fillText("x₂ ↑", px(0) + 4, 11);
  if (diverged) {
    ctx.fillStyle = "rgba(255,255,255,0.92)"; ctx.fillRect(10, h / 2 - 30, w - 20, 52);
    ctx.strokeStyle = "#f5c2c0"; ctx.strokeRect(10.5, h / 2 - 29.5, w - 21, 51);
    ctx.textAlign = "center";
    ctx.fillStyle = "#c62828"; ctx.font = "600 15px system-ui, sans-serif";
    ctx.fillText("NaN: the network diverged", w / 2, h / 2 - 8);
    ctx.font = "12px system-ui, sans-serif"; ctx.fillStyle = "#344054";
    ctx.fillText("lower the learning rate and press reset", w / 2, h / 2 + 12);
    ctx.textAlign = "start";
  }
}

export function wireBoundary() {
  $("show-test").onchange = (e) => { S.showTest = e.target.checked; drawBoundary(); };
  $("discretize").onchange = (e) => { S.discretize = e.target.checked; drawBoundary(); };
}

on("data", drawBoundary);
on("hover", drawBoundary);
on("draw", () => { if (S.mode === "playground") drawBoundary(); });
