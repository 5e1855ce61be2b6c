// The 2-D tab's frames and data: keep the latest, extend the loss curve, show the numbers,
// measure steps per second, and redraw.
import { $, fmt } from "./util.js";
import { S, on, emit } from "./state.js";
import { updateCounter } from "./controls.js";

// append [step, a, b] to a curve, replacing a point of the same step; thin when it grows long
export function pushHistory(hist, point) {
  if (hist.length && hist[hist.length - 1][0] === point[0]) { hist[hist.length - 1] = point; return hist; }
  hist.push(point);
  if (hist.length > 1200) hist = hist.filter((_, i) => i % 2 === 0 || i === hist.length - 1);
  return hist;
}

// steps per second over the last two seconds of frames (either tab)
const recent = [];
function measure(step) {
  const now = performance.now();
  if (recent.length && step < recent[recent.length - 1][1]) recent.length = 0;  // a reset
  recent.push([now, step]);
  while (recent.length > 2 && now - recent[0][0] > 2000) recent.shift();
  const [t0, s0] = recent[0];
  const rate = now - t0 > 200 ? (step - s0) / ((now - t0) / 1000) : 0;
  $("steps-per-second").textContent = S.running ? Math.round(rate).toLocaleString("en-US") : "0";
}

const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%");

function onFrame(f) {
  if (f.run !== S.run) { S.history = []; S.run = f.run; }
  S.frame = f;
  S.history = pushHistory(S.history, [f.step, f.loss_train, f.loss_test]);
  $("loss-train").textContent = f.diverged ? "NaN" : fmt(f.loss_train);
  $("loss-test").textContent = f.diverged ? "NaN" : fmt(f.loss_test);
  $("acc-train-2d").textContent = pct(f.accuracy_train);
  $("acc-test-2d").textContent = pct(f.accuracy_test);
  document.querySelectorAll(".out-col .acc").forEach((e) => { e.hidden = f.problem === "regression"; });
  if (S.mode === "playground") { measure(f.step); updateCounter(); emit("draw"); emit("hints", f.hints || []); }
}

on("frame", onFrame);
on("mnist_frame", (f) => { if (S.mode === "mnist") measure(f.step); });
on("data", (msg) => { S.data = msg; });
on("state", (msg) => { if (!msg.running) $("steps-per-second").textContent = "0"; });
