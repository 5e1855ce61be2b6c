// The network diagram: a thumbnail per neuron, an edge per weight (or gradient), +/- controls.
import { $, LUT, GRAD_POS, GRAD_NEG, b64bytes, fmtSci, paintMap } from "./util.js";
import { S, on, emit, send } from "./state.js";

let layout = null, layoutKey = "", card = null;

function networkLayout() {
  const hidden = S.config ? S.config.hidden : [];
  const sizes = [2].concat(hidden, [1]);
  const box = $("network");
  const W = Math.max(box.clientWidth, 360);
  const node = 38, gapY = 12, top = 44;
  const maxN = Math.max.apply(null, sizes);
  const H = top + maxN * (node + gapY) + 10;
  const left = 46, right = 24;
  const cols = sizes.length;
  const step = cols > 1 ? (W - left - right - node) / (cols - 1) : 0;
  const pos = sizes.map((n, c) => {
    const x = left + c * step;
    const colH = n * node + (n - 1) * gapY;
    const y0 = top + (maxN * (node + gapY) - gapY - colH) / 2;
    return Array.from({ length: n }, (_, i) => ({ x: x, y: y0 + i * (node + gapY) }));
  });
  return { sizes: sizes, pos: pos, node: node, W: W, H: H, top: top };
}

function buildNetwork() {
  const box = $("network");
  const L = networkLayout();
  layout = L;
  box.innerHTML = "";
  box.style.height = L.H + "px";
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("class", "edges");
  svg.setAttribute("width", L.W); svg.setAttribute("height", L.H);
  box.appendChild(svg);
  L.edges = [];
  for (let l = 0; l < L.sizes.length - 1; l++) {
    for (let j = 0; j < L.sizes[l + 1]; j++) {
      for (let i = 0; i < L.sizes[l]; i++) {
        const a = L.pos[l][i], b = L.pos[l + 1][j], r = L.node / 2;
        const x1 = a.x + L.node, y1 = a.y + r, x2 = b.x, y2 = b.y + r, mx = (x1 + x2) / 2;
        const p = document.createElementNS(svgNS, "path");
        p.setAttribute("d", `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`);
        p.dataset.l = l; p.dataset.i = i; p.dataset.j = j;
        p.addEventListener("mouseenter", edgeHover); p.addEventListener("mousemove", moveCard);
        p.addEventListener("mouseleave", hideCard);
        svg.appendChild(p);
        L.edges.push({ el: p, l: l, i: i, j: j });
      }
    }
  }
  L.canvases = [];
  L.sizes.forEach((n, c) => {
    L.canvases.push([]);
    for (let i = 0; i < n; i++) {
      const d = document.createElement("div");
      d.className = "node";
      d.style.left = L.pos[c][i].x + "px"; d.style.top = L.pos[c][i].y + "px";
      const cv = document.createElement("canvas"); cv.width = 20; cv.height = 20;
      d.appendChild(cv);
      box.appendChild(d);
      L.canvases[c].push(cv);
      if (c > 0 && c < L.sizes.length - 1) {
        d.addEventListener("mouseenter", (ev) => { S.hover = { l: c - 1, j: i }; emit("hover"); nodeCard(ev, c - 1, i); });
        d.addEventListener("mousemove", moveCard);
        d.addEventListener("mouseleave", () => { S.hover = null; emit("hover"); hideCard(); });
      }
    }
  });
  // labels and per-layer controls
  ["x₁", "x₂"].forEach((t, i) => {
    const lab = document.createElement("div"); lab.className = "node-label"; lab.textContent = t;
    lab.style.left = (L.pos[0][i].x - 6) + "px"; lab.style.top = (L.pos[0][i].y + 11) + "px"; box.appendChild(lab);
  });
  L.sizes.forEach((n, c) => {
    const head = document.createElement("div"); head.className = "col-head";
    head.style.left = (L.pos[c][0].x + L.node / 2) + "px"; head.style.top = "0px";
    if (c === 0) head.innerHTML = "<div>input</div><div>&nbsp;</div>";
    else if (c === L.sizes.length - 1) head.innerHTML = "<div>output</div><div>p(blue)</div>";
    else {
      const ctl = document.createElement("div");
      const plus = document.createElement("button"); plus.className = "pm"; plus.textContent = "+";
      plus.title = "add a neuron"; plus.setAttribute("aria-label", "add a neuron to layer " + c);
      const minus = document.createElement("button"); minus.className = "pm"; minus.textContent = "−";
      minus.title = "remove a neuron"; minus.setAttribute("aria-label", "remove a neuron from layer " + c);
      const max = S.limits ? S.limits.neurons[1] : 8;
      plus.disabled = n >= max; minus.disabled = n <= 1;
      plus.onclick = () => { const h = S.config.hidden.slice(); h[c - 1] += 1; send({ type: "config", hidden: h }); };
      minus.onclick = () => { const h = S.config.hidden.slice(); h[c - 1] -= 1; send({ type: "config", hidden: h }); };
      ctl.appendChild(plus); ctl.appendChild(minus);
      const lab = document.createElement("div"); lab.textContent = n + (n === 1 ? " neuron" : " neurons");
      head.appendChild(ctl); head.appendChild(lab);
    }
    box.appendChild(head);
  });
  // fixed input maps: x1 grows to the right, x2 upwards
  const n = 20, b1 = new Uint8Array(n * n), b2 = new Uint8Array(n * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
    b1[r * n + c] = Math.round((c + 0.5) / n * 255); b2[r * n + c] = Math.round((1 - (r + 0.5) / n) * 255);
  }
  paintMap(L.canvases[0][0], b1, n, LUT, true);
  paintMap(L.canvases[0][1], b2, n, LUT, true);
}

export function drawNetwork() {
  if (!S.config) return;
  const key = JSON.stringify(S.config.hidden) + "|" + $("network").clientWidth + "|" + (S.limits ? 1 : 0);
  if (key !== layoutKey) { buildNetwork(); layoutKey = key; }
  const L = layout, f = S.frame;
  if (!f || f.weights.length !== L.sizes.length - 1) return;
  // neuron maps
  f.neurons.forEach((layer, l) => layer.forEach((b64, j) => {
    const cv = L.canvases[l + 1] && L.canvases[l + 1][j];
    if (cv) paintMap(cv, b64bytes(b64), f.neuron_size, LUT, true);
  }));
  const outCv = L.canvases[L.sizes.length - 1][0];
  paintMap(outCv, b64bytes(f.boundary), f.boundary_size, LUT, true);
  // edges
  const grads = S.edges === "grads";
  const src = grads ? f.grads : f.weights;
  let maxAbs = 0;
  if (grads) for (const m of src) for (const row of m) for (const v of row) if (v !== null) maxAbs = Math.max(maxAbs, Math.abs(v));
  for (const e of L.edges) {
    const v = src[e.l][e.j][e.i];
    let width, color;
    if (v === null) { width = 1; color = "#c62828"; }  // not a number: drawn as such, never as 0
    else if (grads) {
      const t = maxAbs > 0 ? Math.abs(v) / maxAbs : 0;
      width = 0.4 + 6 * Math.sqrt(t);
      color = v >= 0 ? GRAD_POS : GRAD_NEG;
    } else {
      width = Math.min(8, 0.4 + 2.2 * Math.abs(v));
      color = v >= 0 ? "rgb(8,119,189)" : "rgb(245,147,34)";
    }
    e.el.setAttribute("stroke", color);
    e.el.setAttribute("stroke-width", width.toFixed(2));
    e.el.setAttribute("stroke-opacity", grads ? "0.85" : "0.75");
    e.el.setAttribute("stroke-dasharray", v === null ? "2 3" : "");
  }
  $("edge-legend").innerHTML = grads
    ? `<span><i style="border-color:${GRAD_POS};border-top-width:3px"></i>∂L/∂w &gt; 0 (gradient descent lowers w)</span>` +
      `<span><i style="border-color:${GRAD_NEG};border-top-width:3px"></i>∂L/∂w &lt; 0 (raises w)</span>` +
      `<span>thickness: |∂L/∂w| relative to the largest (${fmtSci(maxAbs)})</span>`
    : `<span><i style="border-color:rgb(8,119,189);border-top-width:3px"></i>positive weight</span>` +
      `<span><i style="border-color:rgb(245,147,34);border-top-width:3px"></i>negative weight</span><span>thickness: |w|</span>`;
  if (card) card();
}

function edgeHover(ev) {
  const l = +ev.target.dataset.l, i = +ev.target.dataset.i, j = +ev.target.dataset.j;
  card = () => {
    const f = S.frame; if (!f || !f.weights[l]) return;
    const from = l === 0 ? "x" + (i + 1) : "hidden " + l + "." + (i + 1);
    const to = l === f.weights.length - 1 ? "output" : "hidden " + (l + 1) + "." + (j + 1);
    showCard(`<b>${from} → ${to}</b><br>w = ${fmtSci(f.weights[l][j][i])}<br>∂L/∂w = ${fmtSci(f.grads[l][j][i])}`);
  };
  card(); moveCard(ev);
}
function nodeCard(ev, l, j) {
  card = () => {
    const f = S.frame; if (!f || !f.biases[l]) return;
    showCard(`<b>hidden ${l + 1}, neuron ${j + 1}</b><br>bias = ${fmtSci(f.biases[l][j])}<br><span class="muted">its output is shown in the big picture</span>`);
  };
  card(); moveCard(ev);
}
function showCard(html) { const c = $("hovercard"); c.innerHTML = html; c.hidden = false; }
function moveCard(ev) { const c = $("hovercard"); c.style.left = (ev.clientX + 14) + "px"; c.style.top = (ev.clientY + 12) + "px"; }
function hideCard() { $("hovercard").hidden = true; card = null; }

export function wireNetwork() {
  document.querySelectorAll(".seg").forEach((b) => b.onclick = () => {
    S.edges = b.dataset.edges;
    document.querySelectorAll(".seg").forEach((x) => {
      x.classList.toggle("active", x === b); x.setAttribute("aria-checked", String(x === b));
    });
    drawNetwork();
  });
}

on("draw", () => { if (S.mode === "playground") drawNetwork(); });
on("resize", () => { layoutKey = ""; });
on("mode", () => { layoutKey = ""; });
