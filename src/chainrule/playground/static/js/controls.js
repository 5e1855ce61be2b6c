// The toolbar and the data column: settings go to the server, its echo fills them back in.
// Every menu is built from the server's hello message: the names (activation, optimizer,
// problem) come from chainrule's catalogue, the numbers (learning rates, batch sizes, speeds,
// dropout and regularisation rates, noise, test share, points) from the protocol's menus --
// the same lists the server checks against. index.html types none of them.
import { $ } from "./util.js";
import { S, on, emit, send, cfg, sendPlayground } from "./state.js";
import { hideMessage } from "./connection.js";

function setIfIdle(el, value) { if (document.activeElement !== el) el.value = String(value); }
// how a menu's number reads on the page
const WORDS = { steps_per_frame: (v) => v + (v === 1 ? " step" : " steps") + "/frame" };
function fillNumbers(el, key, values) {
  el.innerHTML = "";
  for (const v of values) {
    const o = document.createElement("option");
    o.value = String(v);
    if (el.tagName !== "DATALIST") o.textContent = (WORDS[key] || String)(v);
    el.appendChild(o);
  }
}
// a slider over an evenly spaced menu: its ends and step (scale: the slider's unit, e.g. %)
function fillSlider(el, values, scale) {
  const n = values.length;
  el.min = String(values[0] * scale); el.max = String(values[n - 1] * scale);
  el.step = String(Math.round((values[1] - values[0]) * scale * 1e6) / 1e6);
}
// entries: [name, words]; the option reads the name (words as its tooltip), or the words
function fillSelect(sel, entries, readWords = false) {
  const keep = sel.value;
  sel.innerHTML = "";
  for (const [name, description] of entries) {
    const o = document.createElement("option");
    o.value = name; o.textContent = readWords ? description : name.replace(/_/g, " ");
    if (!readWords) o.title = description;
    sel.appendChild(o);
  }
  if (keep) sel.value = keep;
}
const MENUS = { activation: "activation-select", optimizer: "optimizer-select", dataset: "dataset-select" };

export function fillControls() {
  const c = cfg();
  if (!c) return;
  if (!$("lr-input").classList.contains("bad")) setIfIdle($("lr-input"), c.lr);
  $("activation-select").value = c.activation;
  $("optimizer-select").value = c.optimizer;
  if (!$("batch-input").classList.contains("bad")) setIfIdle($("batch-input"), c.batch_size);
  const reg = c.l1 > 0 ? "l1" : c.l2 > 0 ? "l2" : "none";
  $("reg-select").value = reg;
  $("reg-rate").disabled = reg === "none";
  if (reg !== "none") $("reg-rate").value = String(reg === "l1" ? c.l1 : c.l2);
  $("dropout-select").value = String(c.dropout);
  $("speed-select").value = String(c.steps_per_frame);
  if (S.mode === "playground") {
    $("dataset-select").value = c.dataset;
    const regression = S.limits && S.limits.regression.includes(c.dataset);
    $("problem-kind").textContent = regression ? "regression: predict a value (mean squared error)"
      : "classification: tell blue from orange (cross-entropy)";
    $("noise-input").value = c.noise; $("noise-value").textContent = c.noise;
    $("split-input").value = Math.round(c.test_fraction * 100);
    $("split-value").textContent = Math.round(c.test_fraction * 100) + "%";
    $("points-select").value = String(c.n_points);
    $("grad-view").value = c.grad_view;
    const n = c.hidden.length;
    $("layers-label").textContent = n + " hidden layer" + (n === 1 ? "" : "s");
    $("add-layer").disabled = n >= (S.limits ? S.limits.hidden_layers[1] : 6);
    $("remove-layer").disabled = n <= 0;
  } else if (!$("mnist-hidden").classList.contains("bad")) {
    setIfIdle($("mnist-hidden"), c.hidden.join(", "));
  }
}

function clearBad() {
  const bad = document.querySelectorAll("input.bad");
  bad.forEach((el) => el.classList.remove("bad"));
  if (bad.length) hideMessage();  // the value that was refused has been corrected
  S.pending = null;
}

export function numberOrRaw(text) {
  const t = String(text).trim();
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) ? Number(t) : t;
}

// a setting of the tab in view; inputEl is marked bad if the server refuses it
export function sendConfig(values, inputEl) {
  S.pending = inputEl || null;
  if (S.mode === "mnist") send(Object.assign({ type: "mnist_config" }, values));
  else sendPlayground(values);
}

function setMode(mode) {
  if (mode === S.mode) return;
  S.mode = mode;
  S.running = false;  // the server pauses on a tab switch; the button must not wait to say so
  updateRunning();
  document.body.classList.toggle("mode-playground", mode === "playground");
  document.body.classList.toggle("mode-mnist", mode === "mnist");
  document.querySelectorAll(".tab").forEach((t) => {
    t.classList.toggle("active", t.dataset.mode === mode); t.setAttribute("aria-selected", String(t.dataset.mode === mode));
  });
  clearBad();
  send({ type: "mode", mode: mode });
  fillControls();
  updateCounter();
  emit("mode", mode);
  emit("draw");
}

function updateRunning() {
  document.body.classList.toggle("running", S.running);
  $("train-toggle").setAttribute("aria-pressed", String(S.running));
  $("train-toggle").setAttribute("aria-label", S.running ? "pause" : "play");
}
export function updateCounter() {
  const f = S.mode === "mnist" ? S.mnistFrame : S.frame;
  $("step-counter").textContent = f ? f.step.toLocaleString("en-US") : "0";
  $("epoch").textContent = f ? Number(f.epoch).toFixed(S.mode === "mnist" ? 2 : 1) : "0";
}

function regularize() {
  const kind = $("reg-select").value, rate = Number($("reg-rate").value);
  $("reg-rate").disabled = kind === "none";
  const values = S.mode === "mnist" ? { l2: kind === "l2" ? rate : 0 }
    : { l1: kind === "l1" ? rate : 0, l2: kind === "l2" ? rate : 0 };
  sendConfig(values);
}

export function wireControls() {
  // the button says what the page asked for at once; the server's "state" confirms it
  $("train-toggle").onclick = () => {
    S.running = !S.running; updateRunning();
    send({ type: S.running ? "play" : "pause" });
  };
  $("step-button").onclick = () => { S.running = false; updateRunning(); send({ type: "step" }); };
  $("reset-button").onclick = () => send({ type: "reset" });
  const lr = $("lr-input");
  lr.addEventListener("change", () => sendConfig({ lr: numberOrRaw(lr.value) }, lr));
  lr.addEventListener("keydown", (e) => { if (e.key === "Enter") lr.blur(); });
  $("activation-select").onchange = (e) => sendConfig({ activation: e.target.value });
  $("optimizer-select").onchange = (e) => sendConfig({ optimizer: e.target.value });
  const bs = $("batch-input");
  bs.addEventListener("change", () => sendConfig({ batch_size: numberOrRaw(bs.value) }, bs));
  $("reg-select").onchange = regularize;
  $("reg-rate").onchange = regularize;
  $("dropout-select").onchange = (e) => sendConfig({ dropout: Number(e.target.value) });
  $("speed-select").onchange = (e) => sendConfig({ steps_per_frame: Number(e.target.value) });
  $("dataset-select").onchange = (e) => sendPlayground({ dataset: e.target.value });
  $("noise-input").oninput = (e) => { $("noise-value").textContent = e.target.value; };
  $("noise-input").onchange = (e) => sendPlayground({ noise: Number(e.target.value) });
  $("split-input").oninput = (e) => { $("split-value").textContent = e.target.value + "%"; };
  $("split-input").onchange = (e) => sendPlayground({ test_fraction: Number(e.target.value) / 100 });
  $("points-select").onchange = (e) => sendPlayground({ n_points: Number(e.target.value) });
  $("regenerate").onclick = () => sendPlayground({ seed: Math.floor(Math.random() * 1e6) });
  $("grad-view").onchange = (e) => sendPlayground({ grad_view: e.target.value });
  $("add-layer").onclick = () => {
    const h = S.config.hidden.slice();
    if (h.length >= S.limits.hidden_layers[1]) return;
    h.push(h.length ? h[h.length - 1] : 4);
    sendPlayground({ hidden: h });
  };
  $("remove-layer").onclick = () => {
    const h = S.config.hidden.slice(); if (!h.length) return; h.pop(); sendPlayground({ hidden: h });
  };
  document.querySelectorAll(".tab").forEach((t) => t.onclick = () => setMode(t.dataset.mode));
  document.addEventListener("keydown", (e) => {
    const tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") return;
    if (e.key === " ") { e.preventDefault(); $("train-toggle").click(); }
    else if (e.key === "s" || e.key === "S") $("step-button").click();
    else if (e.key === "r" || e.key === "R") $("reset-button").click();
  });
  window.addEventListener("resize", () => { emit("resize"); emit("draw"); });
  updateRunning();
}

function buildMenus(limits) {
  for (const [key, id] of Object.entries(MENUS)) fillSelect($(id), limits.choices[key]);
  fillSelect($("grad-view"), limits.grad_views, true);
  fillSelect($("reg-select"), limits.regularizers, true);
  const l1 = [...$("reg-select").options].find((o) => o.value === "l1");
  if (l1) l1.className = "pg-only";                      // the MNIST model has L2 only
  document.querySelectorAll("[data-menu]").forEach((el) => fillNumbers(el, el.dataset.menu, limits.menus[el.dataset.menu]));
  const bs = limits.menus.batch_size;
  $("batch-input").min = String(bs[0]); $("batch-input").max = String(bs[bs.length - 1]);
  fillSlider($("noise-input"), limits.menus.noise, 1);
  fillSlider($("split-input"), limits.menus.test_fraction, 100);
}

on("hello", (msg) => {
  S.limits = msg.limits; S.config = msg.config; S.serverConfig = msg.config;
  buildMenus(msg.limits);
  fillControls();
});
on("state", (msg) => { S.running = msg.running; updateRunning(); });
on("config", (msg) => {
  S.inflight = Math.max(0, S.inflight - 1);
  S.serverConfig = msg.config;
  if (S.inflight === 0) S.config = msg.config;  // settled: the server's settings are the truth
  clearBad(); fillControls(); emit("draw");
});
on("error", () => {
  // a refused 2-D setting: go back to the server's settings once nothing else is in flight
  if (S.inflight > 0) {
    S.inflight -= 1;
    if (S.inflight === 0 && S.serverConfig) { S.config = S.serverConfig; fillControls(); emit("draw"); }
  }
});
on("local-config", () => { fillControls(); emit("draw"); });
on("mnist_config", (msg) => { S.mnistConfig = msg.config; clearBad(); fillControls(); });
on("mnist_status", (msg) => { if (!msg.loading) { S.mnistConfig = msg.config; fillControls(); } });
