// The MNIST tab: accuracy, the drawing pad, and what the model reads in a drawing.
import { $, GREY, b64bytes, fmt, paintMap } from "./util.js";
import { S, on, emit, send } from "./state.js";
import { pushHistory } from "./frames.js";
import { updateCounter, sendConfig, numberOrRaw } from "./controls.js";

let padDirty = false, lastPredict = 0;

function onMnistFrame(f) {
  if (f.run !== S.mnistRun) { S.mnistHistory = []; S.mnistRun = f.run; }
  S.mnistFrame = f;
  if (f.step > 0 && f.test_accuracy !== null) S.mnistHistory = pushHistory(S.mnistHistory, [f.step, f.train_accuracy, f.test_accuracy]);
  $("acc-test").textContent = f.test_accuracy === null ? "–" : (100 * f.test_accuracy).toFixed(1) + "%";
  $("test-size").textContent = f.test_size ? "on " + f.test_size.toLocaleString("en-US") + " held-out images" : "";
  $("acc-train").textContent = f.train_accuracy === null ? "–" : (100 * f.train_accuracy).toFixed(1) + "%";
  $("mnist-loss").textContent = f.diverged ? "NaN" : fmt(f.loss);
  if (S.mode === "mnist") {
    updateCounter();
    emit("draw");
    emit("hints", f.hints || []);
    if (padDirty && performance.now() - lastPredict > 500) predictPad();
  }
}

export function wirePad() {
  const pad = $("draw-pad");
  const ctx = pad.getContext("2d", { willReadFrequently: true });
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); padDirty = false; drawPrediction(null); };
  clear();
  let drawing = false, last = null;
  const at = (ev) => { const r = pad.getBoundingClientRect(); return [(ev.clientX - r.left) * pad.width / r.width, (ev.clientY - r.top) * pad.height / r.height]; };
  pad.addEventListener("pointerdown", (ev) => {
    drawing = true; last = at(ev); pad.setPointerCapture(ev.pointerId);
    ctx.fillStyle = "#fff"; ctx.beginPath(); ctx.arc(last[0], last[1], 9, 0, 2 * Math.PI); ctx.fill();
  });
  pad.addEventListener("pointermove", (ev) => {
    if (!drawing) return;
    const p = at(ev);
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 18; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
    last = p; padDirty = true;
    if (performance.now() - lastPredict > 150) predictPad();
  });
  const end = () => { if (drawing) { drawing = false; padDirty = true; predictPad(); } };
  pad.addEventListener("pointerup", end); pad.addEventListener("pointercancel", end);
  $("clear-pad").onclick = clear;
  const mh = $("mnist-hidden");
  mh.addEventListener("change", () => {
    const parts = mh.value.split(",").map((s) => s.trim()).filter((s) => s.length);
    sendConfig({ hidden: parts.map(numberOrRaw) }, mh);
  });
  mh.addEventListener("keydown", (e) => { if (e.key === "Enter") mh.blur(); });
}

export function padPixels() {
  const pad = $("draw-pad");
  const d = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
  const n = 28, bx = pad.width / n, by = pad.height / n, out = new Array(n * n).fill(0);
  for (let y = 0; y < pad.height; y++) for (let x = 0; x < pad.width; x++) {
    out[Math.floor(y / by) * n + Math.floor(x / bx)] += d[4 * (y * pad.width + x)];
  }
  return out.map((v) => Math.round(v / (bx * by)));
}
function predictPad() {
  lastPredict = performance.now();
  if (!S.mnistReady) return;
  send({ type: "predict", pixels: padPixels() });
}

export function drawPrediction(msg) {
  const box = $("prediction");
  const probs = msg && msg.probs;
  if (!probs) {
    box.innerHTML = '<div class="hint">Draw a digit (0–9) in the black square; the bars show the model\'s probabilities.</div>';
    const c = $("model-input").getContext("2d"); c.fillStyle = "#000"; c.fillRect(0, 0, 84, 84);
    return;
  }
  let html = "";
  for (let k = 0; k < 10; k++) {
    const p = probs[k];
    html += `<div class="row${k === msg.label ? " best" : ""}" data-digit="${k}"><span class="digit">${k}</span>` +
      `<span class="track"><span class="fill" style="width:${(100 * p).toFixed(1)}%"></span></span>` +
      `<span class="pct">${(100 * p).toFixed(1)}%</span></div>`;
  }
  box.innerHTML = html;
  box.dataset.label = String(msg.label);
  if (msg.input) paintMap($("model-input"), b64bytes(msg.input), msg.input_side, GREY, false);
}

on("mnist_frame", onMnistFrame);
on("prediction", drawPrediction);
on("mnist_status", (msg) => {
  if (msg.loading) { $("mnist-source").textContent = "data: loading…"; return; }
  S.mnistReady = true; S.side = msg.side;
  $("mnist-source").textContent = "data: " + msg.source;
});
