// The 2-D tab's frames: keep the latest, extend the loss curve, show the numbers, redraw.
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

function onFrame(f) {
  if (f.run !== S.run) { S.history = []; S.run = f.run; }
  S.frame = f;
  S.history = pushHistory(S.history, [f.step, f.loss_train, f.loss_test]);
  $("loss-train").textContent = fmt(f.loss_train);
  $("loss-test").textContent = fmt(f.loss_test);
  if (S.mode === "playground") { updateCounter(); emit("draw"); }
}

on("frame", onFrame);
