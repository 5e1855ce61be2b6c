// The error mountain: the loss over a plane through the current weights (two chosen weights,
// or two random directions scaled to the weights), shaded, with contour steps, and the
// optimizer's path drawn on it live. The server computes the grid in the background.
import { $ } from "./util.js";
import { S, on, send } from "./state.js";

let land = null, path = [];

function weightNames() {
  const f = S.frame; if (!f) return [];
  const out = [];
  f.weights.forEach((W, l) => W.forEach((row, j) => row.forEach((_, i) => out.push([`W${l + 1}[${j},${i}]`, l, j * row.length + i]))));
  return out;
}

function fillSelects() {
  const names = weightNames();
  for (const [id, pick] of [["land-first", 0], ["land-second", 1]]) {
    const sel = $(id), keep = sel.value;
    if (sel.options.length === names.length && keep) continue;
    sel.innerHTML = names.map(([n, l, k]) => `<option value="${l},${k}">${n}</option>`).join("");
    sel.selectedIndex = Math.min(pick, names.length - 1);
  }
}

function ask() {
  const kind = $("land-kind").value;
  const msg = { type: "landscape", kind };
  if (kind === "weights") {
    msg.first = $("land-first").value.split(",").map(Number);
    msg.second = $("land-second").value.split(",").map(Number);
  } else msg.seed = Math.floor(Math.random() * 1000);
  $("land-caption").textContent = "computing the slice…";
  send(msg);
}

function colour(t) { // 0 low (dark blue) .. 1 high (light)
  const a = [22, 48, 92], b = [250, 240, 215];
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * t)).join(",")})`;
}

function draw() {
  const cv = $("land-canvas"), ctx = cv.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, cv.width, cv.height);
  if (!land) return;
  const n = land.alphas.length, lo = land.alphas[0], hi = land.alphas[n - 1];
  const vals = land.loss.flat().filter((v) => v !== null);
  const vmin = Math.min(...vals), vmax = Math.max(...vals);
  const lg = (v) => Math.log(v - vmin + 1e-3), t0 = lg(vmin), t1 = lg(vmax);
  const cw = cv.width / n, ch = cv.height / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const v = land.loss[i][j];
    const t = v === null ? 1 : (lg(v) - t0) / Math.max(t1 - t0, 1e-12);
    ctx.fillStyle = colour(Math.floor(t * 8) / 8);   // 8 bands: the bands' edges are contours
    ctx.fillRect(j * cw, cv.height - (i + 1) * ch, cw + 1, ch + 1);
  }
  const X = (a) => (a - lo) / (hi - lo) * cv.width, Y = (b) => cv.height - (b - lo) / (hi - lo) * cv.height;
  ctx.strokeStyle = "#d7263d"; ctx.lineWidth = 2; ctx.beginPath();
  path.forEach((p, k) => (k ? ctx.lineTo(X(p.a), Y(p.b)) : ctx.moveTo(X(p.a), Y(p.b))));
  ctx.stroke();
  ctx.fillStyle = "#d7263d";
  for (const p of path) { ctx.beginPath(); ctx.arc(X(p.a), Y(p.b), 2.2, 0, 6.3); ctx.fill(); }
  if (path.length) { const p = path[path.length - 1]; ctx.fillStyle = "#fff"; ctx.beginPath(); ctx.arc(X(p.a), Y(p.b), 4, 0, 6.3); ctx.fill(); ctx.stroke(); }
  cv.dataset.path = JSON.stringify(path.map((p) => [p.step, p.loss]));
  const last = path[path.length - 1];
  $("land-readout").textContent = last ? `step ${last.step}: training loss ${last.loss}, ${last.off_plane.toFixed(3)} off the plane` : "";
}

export function wireLandscape() {
  const box = document.createElement("section");
  box.className = "panel landscape"; box.id = "landscape";
  box.innerHTML = `<div class="panel-head"><h2>The error mountain</h2>
    <select id="land-kind" data-testid="land-kind"><option value="random">two random directions</option><option value="weights">two weights</option></select>
    <select id="land-first" data-testid="land-first"></select><select id="land-second" data-testid="land-second"></select>
    <button id="land-button" data-testid="landscape-button">draw the slice</button></div>
    <canvas id="land-canvas" data-testid="landscape-canvas" width="300" height="300" aria-label="loss over a slice of weight space with the optimizer's path"></canvas>
    <p id="land-readout" class="small" data-testid="landscape-readout"></p>
    <p id="land-caption" class="small muted" data-testid="landscape-caption">Gradient descent is a ball rolling down an error mountain. Draw the real one: the loss on a plane through the weights (dark is low). Then press play and switch optimizer or learning rate.</p>`;
  $("teach").appendChild(box);
  const sync = () => { const w = $("land-kind").value === "weights"; $("land-first").hidden = $("land-second").hidden = !w; fillSelects(); };
  $("land-kind").onchange = sync; sync();
  $("land-button").onclick = ask;
}

let run = null;
on("frame", (f) => {
  if (f.run !== run) { run = f.run; land = null; path = []; if ($("land-canvas")) { fillSelects(); draw(); } }
  if ($("land-first") && !$("land-first").options.length) fillSelects();
});
on("landscape", (m) => { land = m; path = m.path.slice(); $("land-caption").textContent = m.description; draw(); });
on("landscape_path", (m) => { if (!land) return; path.push(m.point); if (path.length > 2000) path.shift(); draw(); });
