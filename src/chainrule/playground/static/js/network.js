// The network diagram: every input feature (click to switch it on or off), a thumbnail per
// neuron with its bias at the corner, an edge per weight or gradient, and +/- controls per
// layer. Clicking an edge (a weight) or a neuron (its bias) does one thing: it emits "param",
// and the chain-rule panel (chain.js) opens for that parameter -- how its gradient is made --
// with the field that sets its value (editParam, below) at its top.
import { $, LUT, GRAD_POS, GRAD_NEG, b64bytes, fmtSci, paintMap } from "./util.js";
import { S, on, emit, send, sendPlayground } from "./state.js";
import { numberOrRaw } from "./controls.js";

let layout = null, layoutKey = "", card = null;
const svgNS = "http://www.w3.org/2000/svg";

function allFeatures() { return S.limits ? S.limits.features : [["x1", "x₁"], ["x2", "x₂"]]; }

function networkLayout() {
  const feats = allFeatures();
  const chosen = S.config.features || ["x1", "x2"];
  const hidden = S.config.hidden;
  const sizes = [chosen.length].concat(hidden, [1]);
  const box = $("network");
  const W = Math.max(box.clientWidth, 240);
  const left = 52, right = 8, top = 44, cols = sizes.length + 0;
  // nodes shrink on narrow screens so that every column fits
  const node = Math.max(20, Math.min(38, Math.floor((W - left - right) / (cols * 2.1))));
  const gapY = Math.max(6, Math.round(node / 3));
  const rows = Math.max(feats.length, ...sizes);
  const H = top + rows * (node + gapY) + 6;
  const step = cols > 1 ? (W - left - right - node) / (cols - 1) : 0;
  const column = (n, c) => {
    const x = left + c * step, colH = n * node + (n - 1) * gapY;
    const y0 = top + (rows * (node + gapY) - gapY - colH) / 2;
    return Array.from({ length: n }, (_, i) => ({ x: x, y: y0 + i * (node + gapY) }));
  };
  // column 0 shows every feature; the weights' columns follow the chosen ones
  const inputs = column(feats.length, 0);
  const pos = [chosen.map((name) => inputs[feats.findIndex((f) => f[0] === name)])];
  for (let c = 1; c < sizes.length; c++) pos.push(column(sizes[c], c));
  return { sizes, pos, inputs, feats, chosen, node, W, H, top, step };
}

function el(tag, cls, parent) { const e = document.createElement(tag); if (cls) e.className = cls; if (parent) parent.appendChild(e); return e; }

function buildNetwork() {
  const box = $("network");
  const L = networkLayout();
  layout = L;
  box.innerHTML = "";
  box.style.height = L.H + "px";
  box.style.setProperty("--node", L.node + "px");
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
        p.addEventListener("click", (ev) => pick(ev, l, j, i));
        svg.appendChild(p);
        L.edges.push({ el: p, l: l, i: i, j: j });
      }
    }
  }
  // inputs: every feature, the chosen ones solid; a click switches one on or off
  L.inputNodes = {};
  L.feats.forEach(([name, label], k) => {
    const on = L.chosen.includes(name);
    const d = el("div", "node input" + (on ? "" : " off"), box);
    d.style.left = L.inputs[k].x + "px"; d.style.top = L.inputs[k].y + "px";
    d.dataset.feature = name; d.title = (on ? "switch off " : "switch on ") + label;
    d.setAttribute("role", "switch"); d.setAttribute("aria-checked", String(on)); d.tabIndex = 0;
    const cv = el("canvas", null, d); cv.width = 20; cv.height = 20;
    L.inputNodes[name] = cv;
    const toggle = () => {
      const now = S.config.features.includes(name)
        ? S.config.features.filter((f) => f !== name) : S.config.features.concat([name]);
      if (!now.length) return;  // at least one input
      sendPlayground({ features: L.feats.map((f) => f[0]).filter((f) => now.includes(f)) });
    };
    d.addEventListener("click", toggle);
    d.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
    const lab = el("div", "node-label" + (on ? "" : " off"), box); lab.textContent = label;
    lab.style.left = (L.inputs[k].x - 5) + "px"; lab.style.top = (L.inputs[k].y + L.node / 2 - 8) + "px";
  });
  // neurons, each with its bias square; a click sets the bias
  L.canvases = [null]; L.biasEls = [null];
  for (let c = 1; c < L.sizes.length; c++) {
    L.canvases.push([]); L.biasEls.push([]);
    for (let i = 0; i < L.sizes[c]; i++) {
      const d = el("div", "node" + (c === L.sizes.length - 1 ? " output" : ""), box);
      d.dataset.c = c; d.dataset.i = i;  // layer column and neuron: the chain panel explains its bias
      d.style.left = L.pos[c][i].x + "px"; d.style.top = L.pos[c][i].y + "px";
      const cv = el("canvas", null, d); cv.width = 20; cv.height = 20;
      L.canvases[c].push(cv);
      const bias = el("div", "bias", box);
      bias.style.left = (L.pos[c][i].x - 5) + "px"; bias.style.top = (L.pos[c][i].y + L.node - 7) + "px";
      L.biasEls[c].push(bias);
      d.addEventListener("click", (ev) => pick(ev, c - 1, i, null));
      bias.addEventListener("click", (ev) => pick(ev, c - 1, i, null));
      d.addEventListener("mousemove", moveCard);
      if (c < L.sizes.length - 1) {
        d.addEventListener("mouseenter", (ev) => { S.hover = { l: c - 1, j: i }; emit("hover"); nodeCard(ev, c - 1, i); });
        d.addEventListener("mouseleave", () => { S.hover = null; emit("hover"); hideCard(); });
      } else {
        d.addEventListener("mouseenter", (ev) => nodeCard(ev, c - 1, i));
        d.addEventListener("mouseleave", hideCard);
      }
    }
  }
  // column heads and per-layer controls
  const narrow = L.step < 70;
  L.sizes.forEach((n, c) => {
    const head = el("div", "col-head", box);
    const x = c === 0 ? L.inputs[0].x : L.pos[c][0].x;
    head.style.left = (x + L.node / 2) + "px"; head.style.top = "0px";
    if (c === 0) head.innerHTML = "<div>input</div><div>&nbsp;</div>";
    else if (c === L.sizes.length - 1) {
      const regression = S.limits && S.limits.regression.includes(S.config.dataset);
      head.innerHTML = "<div>output</div><div>" + (regression ? "value" : "p(blue)") + "</div>";
    } else {
      const ctl = el("div", null, head);
      const plus = el("button", "pm", ctl); plus.textContent = "+";
      plus.title = "add a neuron"; plus.setAttribute("aria-label", "add a neuron to layer " + c);
      const minus = el("button", "pm", ctl); minus.textContent = "−";
      minus.title = "remove a neuron"; minus.setAttribute("aria-label", "remove a neuron from layer " + c);
      const max = S.limits ? S.limits.neurons[1] : 8;
      plus.disabled = n >= max; minus.disabled = n <= 1;
      // built on the page's own settings, so quick clicks add up before the server answers
      plus.onclick = () => { const h = S.config.hidden.slice(); if (h[c - 1] >= max) return; h[c - 1] += 1; sendPlayground({ hidden: h }); };
      minus.onclick = () => { const h = S.config.hidden.slice(); if (h[c - 1] <= 1) return; h[c - 1] -= 1; sendPlayground({ hidden: h }); };
      const lab = el("div", "count", head); lab.textContent = narrow ? String(n) : n + (n === 1 ? " neuron" : " neurons");
    }
  });
  paintInputs();
}

function paintInputs() {
  const L = layout, d = S.data;
  if (!L || !d || !d.feature_maps) return;
  for (const [name, cv] of Object.entries(L.inputNodes)) {
    if (d.feature_maps[name]) paintMap(cv, b64bytes(d.feature_maps[name]), d.feature_size, LUT, true);
  }
}

// the frame matches the diagram: same layers, same widths, same inputs
function matches(L, f) {
  if (!f || f.weights.length !== L.sizes.length - 1) return false;
  return f.weights.every((m, l) => m.length === L.sizes[l + 1] && (m.length === 0 || m[0].length === L.sizes[l]));
}

export function drawNetwork() {
  if (!S.config) return;
  const key = JSON.stringify([S.config.hidden, S.config.features, S.config.dataset]) + "|" + $("network").clientWidth + "|" + (S.limits ? 1 : 0);
  if (key !== layoutKey) { buildNetwork(); layoutKey = key; }
  const L = layout, f = S.frame;
  $("network").classList.toggle("diverged", Boolean(f && f.diverged));
  if (!matches(L, f)) return;
  // neuron maps
  f.neurons.forEach((layer, l) => layer.forEach((b64, j) => {
    const cv = L.canvases[l + 1] && L.canvases[l + 1][j];
    if (cv) paintMap(cv, b64bytes(b64), f.neuron_size, LUT, true);
  }));
  paintMap(L.canvases[L.sizes.length - 1][0], b64bytes(f.boundary), f.boundary_size, LUT, true);
  // biases: colour by sign, opacity by size; NaN crossed out
  f.biases.forEach((layer, l) => layer.forEach((b, j) => {
    const e = L.biasEls[l + 1][j];
    if (!e) return;
    e.classList.toggle("nan", b === null);
    e.style.background = b === null ? "" : b >= 0 ? "rgb(8,119,189)" : "rgb(245,147,34)";
    e.style.opacity = b === null ? "1" : String(Math.min(1, 0.25 + Math.abs(b) / 2));
  }));
  // edges
  const grads = S.edges === "grads";
  const src = grads ? f.grads : f.weights;
  let maxAbs = 0;
  if (grads) for (const m of src) for (const row of m) for (const v of row) if (v !== null) maxAbs = Math.max(maxAbs, Math.abs(v));
  for (const e of L.edges) {
    const v = src[e.l][e.j][e.i];
    let width, color;
    if (v === null) { width = 1.2; color = "#c62828"; }  // not a number: drawn as such, never as 0
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
    if (v === null) e.el.setAttribute("stroke-dasharray", "3 3"); else e.el.removeAttribute("stroke-dasharray");
  }
  const views = { average: "averaged over the last ~50 steps", full: "on the whole training set", last: "of the last minibatch" };
  $("edge-legend").innerHTML = f.diverged
    ? `<span class="bad-text">the weights are not numbers (NaN): red dashed edges; press reset</span>`
    : grads
      ? `<span><i style="border-color:${GRAD_POS};border-top-width:3px"></i>∂L/∂w &gt; 0 (gradient descent lowers w)</span>` +
        `<span><i style="border-color:${GRAD_NEG};border-top-width:3px"></i>∂L/∂w &lt; 0 (raises w)</span>` +
        `<span>thickness: |∂L/∂w| ${views[f.grad_view] || ""}, relative to the largest (${fmtSci(maxAbs)})</span>`
      : `<span><i style="border-color:rgb(8,119,189);border-top-width:3px"></i>positive weight</span>` +
        `<span><i style="border-color:rgb(245,147,34);border-top-width:3px"></i>negative weight</span><span>thickness: |w|; the corner square is the bias</span>`;
  if (card) card();
}

function edgeName(l, i, j, f) {
  const from = l === 0 ? (S.limits ? S.limits.features.find((x) => x[0] === S.config.features[i])[1] : "x" + (i + 1))
    : "hidden " + l + "." + (i + 1);
  const to = l === f.weights.length - 1 ? "output" : "hidden " + (l + 1) + "." + (j + 1);
  return from + " → " + to;
}
function edgeHover(ev) {
  const l = +ev.target.dataset.l, i = +ev.target.dataset.i, j = +ev.target.dataset.j;
  card = () => {
    const f = S.frame; if (!f || !f.weights[l] || !f.weights[l][j]) return;
    showCard(`<b>${edgeName(l, i, j, f)}</b><br>w = ${fmtSci(f.weights[l][j][i])}<br>∂L/∂w = ${fmtSci(f.grads[l][j][i])}<br><span class="muted">click: how ∂L/∂w is made, and set w</span>`);
  };
  card(); moveCard(ev);
}
function nodeCard(ev, l, j) {
  card = () => {
    const f = S.frame; if (!f || !f.biases[l]) return;
    const last = l === f.biases.length - 1;
    const name = last ? "output" : `hidden ${l + 1}, neuron ${j + 1}`;
    showCard(`<b>${name}</b><br>bias = ${fmtSci(f.biases[l][j])}<br><span class="muted">${last ? "" : "its output is shown in the big picture; "}click: how ∂L/∂b is made, and set b</span>`);
  };
  card(); moveCard(ev);
}
function showCard(html) { const c = $("hovercard"); c.innerHTML = html; c.hidden = false; }
function moveCard(ev) { const c = $("hovercard"); c.style.left = (ev.clientX + 14) + "px"; c.style.top = (ev.clientY + 12) + "px"; }
function hideCard() { $("hovercard").hidden = true; card = null; }

// ---- a click picks a parameter; the chain-rule panel holds the field that sets it
function pick(ev, layer, row, col) {
  const f = S.frame;
  if (!f || !f.weights[layer]) return;
  ev.stopPropagation();
  hideCard();
  emit("param", { layer, row, col });
}

// the name of weight [row, col] (or bias ``row`` when col is null) of ``layer``, for the page
export function paramName(layer, row, col) {
  const f = S.frame;
  if (!f || !f.weights[layer]) return "";
  return col === null ? "bias of " + (layer === f.biases.length - 1 ? "the output" : `hidden ${layer + 1}.${row + 1}`)
    : "weight " + edgeName(layer, col, row, f);
}

// fill the value field (inside the chain-rule panel) for one parameter; null hides it
let editing = null;
export function editParam(which, focus = true) {
  const form = $("param-editor");
  const f = S.frame;
  if (!which || !f || !f.weights[which.layer]) { form.hidden = true; editing = null; return; }
  editing = which;
  const { layer, row, col } = which;
  const value = col === null ? f.biases[layer][row] : f.weights[layer][row][col];
  $("param-what").textContent = "set " + paramName(layer, row, col) + " to";
  form.hidden = false;
  const input = $("param-value");
  input.value = value === null ? "" : String(value);
  input.classList.remove("bad");
  if (focus) { input.focus({ preventScroll: true }); input.select(); }
}

export function wireNetwork() {
  document.querySelectorAll(".seg").forEach((b) => b.onclick = () => {
    S.edges = b.dataset.edges;
    document.querySelectorAll(".seg").forEach((x) => {
      x.classList.toggle("active", x === b); x.setAttribute("aria-checked", String(x === b));
    });
    drawNetwork();
  });
  $("param-editor").addEventListener("submit", (e) => {
    e.preventDefault();
    if (!editing) return;
    const v = numberOrRaw($("param-value").value);
    if (typeof v !== "number") { $("param-value").classList.add("bad"); return; }
    $("param-value").classList.remove("bad");
    send(Object.assign({ type: "set", value: v }, editing));
    emit("param-set", editing);   // the chain panel explains the new value
  });
  $("param-cancel").hidden = true;   // the field lives in the chain panel, which has "close"
  $("param-value").addEventListener("keydown", (e) => { if (e.key === "Escape") editParam(editing); });
}

on("draw", () => { if (S.mode === "playground") drawNetwork(); });
on("data", paintInputs);
on("resize", () => { layoutKey = ""; });
on("mode", () => { layoutKey = ""; });
