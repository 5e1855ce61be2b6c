// The output panel's big picture: the network's output (or a hovered neuron's) over the plane,
// with the train and test points on top.
import { $, LUT_SOFT, b64bytes, hiDPI, paintMap } from "./util.js";
import { S, on } from "./state.js";

export function drawBoundary() {
  const canvas = $("boundary");
  const [ctx, w, h] = hiDPI(canvas);
  const f = S.frame;
  ctx.clearRect(0, 0, w, h);
  let caption = "the network's output p(blue) over the plane";
  if (f) {
    let bytes, n;
    if (S.hover && f.neurons[S.hover.l] && f.neurons[S.hover.l][S.hover.j]) {
      bytes = b64bytes(f.neurons[S.hover.l][S.hover.j]); n = f.neuron_size;
      caption = "output of neuron " + (S.hover.j + 1) + " in hidden layer " + (S.hover.l + 1);
    } else { bytes = b64bytes(f.boundary); n = f.boundary_size; }
    ctx.save(); ctx.setTransform(1, 0, 0, 1, 0, 0);
    paintMap(canvas, bytes, n, LUT_SOFT, true);
    ctx.restore();
  }
  $("boundary-caption").textContent = caption;
  const d = S.data;
  if (!d) return;
  const e = d.extent;
  const px = (x) => (x + e) / (2 * e) * w, py = (y) => (e - y) / (2 * e) * h;
  // axes
  ctx.strokeStyle = "rgba(0,0,0,0.12)"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(px(0), 0); ctx.lineTo(px(0), h); ctx.moveTo(0, py(0)); ctx.lineTo(w, py(0)); ctx.stroke();
  const dot = (p, ring) => {
    ctx.beginPath(); ctx.arc(px(p[0]), py(p[1]), ring === "test" ? 2.8 : 3.2, 0, 2 * Math.PI);
    ctx.fillStyle = p[2] > 0 ? "rgb(8,119,189)" : "rgb(245,147,34)"; ctx.fill();
    ctx.lineWidth = ring === "test" ? 0.9 : 1; ctx.strokeStyle = ring === "test" ? "#1f2328" : "#ffffff"; ctx.stroke();
  };
  for (const p of d.train) dot(p, "train");
  if (S.showTest) for (const p of d.test) dot(p, "test");
  ctx.fillStyle = "rgba(31,35,40,0.55)"; ctx.font = "10px system-ui, sans-serif";
  ctx.fillText("x₁ →", w - 30, py(0) - 4); ctx.fillText("x₂ ↑", px(0) + 4, 11);
}

export function wireBoundary() {
  $("show-test").onchange = (e) => { S.showTest = e.target.checked; drawBoundary(); };
}

on("data", (msg) => { S.data = msg; drawBoundary(); });
on("hover", drawBoundary);
on("draw", () => { if (S.mode === "playground") drawBoundary(); });
