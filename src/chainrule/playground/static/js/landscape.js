// The error mountain: the loss over a plane through the current weights (two chosen weights,
// or two random directions scaled to the weights), shaded, with contour steps, and the
// optimizer's path drawn on it live. The server computes the grid in the background while
// training goes on. One mountain per tab: the 2-D net's (either kind of plane) and the MNIST
// net's (random directions: it has ~100 000 weights); the server's messages say which tab
// ("mode") they belong to.
import { $ } from "./util.js";
import { S, on, send } from "./state.js";

function colour(t) { // 0 low (dark blue) .. 1 high (light)
  const a = [22, 48, 92], b = [250, 240, 215];
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * t)).join(",")})`;
}

// mode: the tab ("playground" | "mnist"); host: where the panel goes; p: the prefix of its
// element ids and test ids; frames: the frame message it follows; weights: offer the
// "two weights" plane; intro: the caption before a slice is drawn
function mountain({ mode, host, p, tid, frames, weights, intro }) {
  let land = null, path = [], run = null, widening = false;
  const id = (k) => `${p}-${k}`;

  function weightNames() {
    const f = S.frame; if (!f) return [];
    const out = [];
    f.weights.forEach((W, l) => W.forEach((row, j) => row.forEach((_, i) => out.push([`W${l + 1}[${j},${i}]`, l, j * row.length + i]))));
    return out;
  }

  function fillSelects() {
    if (!weights) return;
    const names = weightNames();
    for (const [k, pick] of [["first", 0], ["second", 1]]) {
      const sel = $(id(k)), keep = sel.value;
      if (sel.options.length === names.length && keep) continue;
      sel.innerHTML = names.map(([n, l, f]) => `<option value="${l},${f}">${n}</option>`).join("");
      sel.selectedIndex = Math.min(pick, names.length - 1);
    }
  }

  function ask() {
    const kind = weights ? $(id("kind")).value : "random";
    const msg = { type: "landscape", kind };
    if (kind === "weights") {
      msg.first = $(id("first")).value.split(",").map(Number);
      msg.second = $(id("second")).value.split(",").map(Number);
    } else msg.seed = Math.floor(Math.random() * 1000);
    $(id("caption")).textContent = "computing the slice in the background (training goes on)…";
    send(msg);
  }

  function draw() {
    const cv = $(id("canvas")), ctx = cv.getContext("2d");
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
    path.forEach((q, k) => (k ? ctx.lineTo(X(q.a), Y(q.b)) : ctx.moveTo(X(q.a), Y(q.b))));
    ctx.stroke();
    ctx.fillStyle = "#d7263d";
    for (const q of path) { ctx.beginPath(); ctx.arc(X(q.a), Y(q.b), 2.2, 0, 6.3); ctx.fill(); }
    if (path.length) { const q = path[path.length - 1]; ctx.fillStyle = "#fff"; ctx.beginPath(); ctx.arc(X(q.a), Y(q.b), 4, 0, 6.3); ctx.fill(); ctx.stroke(); }
    cv.dataset.path = JSON.stringify(path.map((q) => [q.step, q.a, q.b, q.loss]));  // what is drawn, for tests
    cv.dataset.extent = hi;
    const last = path[path.length - 1];
    $(id("readout")).textContent = last ? `step ${last.step}: training loss ${last.loss}, ${last.off_plane.toFixed(3)} off the plane` : "";
    // the path walked off the grid: the same plane again, its grid widened to cover the path
    if (last && !widening && path.some((q) => Math.max(Math.abs(q.a), Math.abs(q.b)) > hi)) {
      widening = true;
      $(id("caption")).textContent = "the path left the slice: widening it (the same plane) in the background…";
      send({ type: "landscape", kind: land.kind, keep: true });
    }
  }

  const box = document.createElement("section");
  box.className = "panel landscape"; box.id = id("panel");
  const kinds = weights
    ? `<select id="${id("kind")}" data-testid="${id("kind")}"><option value="random">two random directions</option><option value="weights">two weights</option></select>
       <select id="${id("first")}" data-testid="${id("first")}"></select><select id="${id("second")}" data-testid="${id("second")}"></select>`
    : `<span class="small muted">along two random directions</span>`;
  box.innerHTML = `<div class="panel-head"><h2>The error mountain</h2>${kinds}
    <button id="${id("button")}" data-testid="${tid}-button">draw the slice</button></div>
    <canvas id="${id("canvas")}" class="land-canvas" data-testid="${tid}-canvas" width="300" height="300" aria-label="loss over a slice of weight space with the optimizer's path"></canvas>
    <p id="${id("readout")}" class="small" data-testid="${tid}-readout"></p>
    <p id="${id("caption")}" class="small muted" data-testid="${tid}-caption">${intro}</p>`;
  host.appendChild(box);
  if (weights) {
    const sync = () => { const w = $(id("kind")).value === "weights"; $(id("first")).hidden = $(id("second")).hidden = !w; fillSelects(); };
    $(id("kind")).onchange = sync; sync();
  }
  $(id("button")).onclick = ask;

  on(frames, (f) => {
    if (f.run !== run) { run = f.run; land = null; path = []; widening = false; fillSelects(); draw(); }
    if (weights && !$(id("first")).options.length) fillSelects();
  });
  const mine = (m) => (m.mode || "playground") === mode;
  // the grid's message holds the path up to when it was made; points recorded after that may
  // have come first, so they are kept
  on("landscape", (m) => {
    if (!mine(m)) return;
    const upTo = m.path.length ? m.path[m.path.length - 1].step : -1;
    land = m; widening = false; path = m.path.concat(path.filter((q) => q.step > upTo)).slice(-2000);
    $(id("caption")).textContent = m.description; draw();
  });
  on("landscape_path", (m) => { if (!mine(m)) return; path.push(m.point); if (path.length > 2000) path.shift(); if (land) draw(); });
}

export function wireLandscape() {
  mountain({ mode: "playground", host: $("teach"), p: "land", tid: "landscape", frames: "frame", weights: true,
    intro: "Gradient descent is a ball rolling down an error mountain. Draw the real one: the loss on a plane through the weights (dark is low). Then press play and switch optimizer or learning rate." });
  mountain({ mode: "mnist", host: $("mnist-insides"), p: "mland", tid: "mnist-landscape", frames: "mnist_frame", weights: false,
    intro: "The MNIST net's error mountain: its loss on 500 training images over a plane through all its weights, along two random directions scaled to each unit’s weights. Training goes on while the slice is computed; the path is projected onto the plane." });
}
