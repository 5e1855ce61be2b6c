// The chain-rule panel: click an edge (a weight) or a neuron (its bias) -- or pick it in the
// panel's menu, by keyboard or on a phone -- and training pauses and the panel shows how
// ∂L/∂w is made — every path from w to the loss, each local derivative with its value and
// its formula in words, the product per path, the sum over paths and over the minibatch, the
// engine's .grad and a finite-difference check. The numbers are cr.explain's record, sent by
// the server; Step adds the update w ← w − α·∂L/∂w. One click opens this one panel; the
// field that sets the parameter's value (network.js's editParam) sits at its top.
import { $ } from "./util.js";
import { S, on, send } from "./state.js";
import { editParam, paramName } from "./network.js";

let open = null;    // the request shown: {layer, kind, index, scope, point}
let which = null;   // the same parameter as the network names it: {layer, row, col}

const f6 = (v) => (v === null || v === undefined) ? "—" : (v === 0 ? "0" : Number(v).toPrecision(6).replace(/\.?0+(e|$)/, "$1"));
const num = (v, cls, tid) => `<span class="num ${cls || ""}"${tid ? ` data-testid="${tid}"` : ""} data-value="${v}">${f6(v)}</span>`;
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));

function request(req) {
  open = req;
  if (S.running) send({ type: "pause" });
  send({ type: "chain", ...req });
  const box = $("chain-panel");
  box.hidden = false;
  box.querySelector(".chain-body").innerHTML = '<p class="muted small">tracing the paths…</p>';
}

// explain one parameter ({layer, row, col}; col null for a bias) and offer to set it
function choose(w, { focus = true, scroll = true } = {}) {
  if (S.mode !== "playground" || !w) return;
  which = w;
  const key = `${w.layer},${w.row},${w.col === null ? "b" : w.col}`;
  if ($("chain-which").value !== key) $("chain-which").value = key;
  request({ layer: w.layer, kind: w.col === null ? "bias" : "weight",
            index: w.col === null ? [w.row] : [w.row, w.col], scope: scope(), point: point() });
  editParam(w, focus);
  // the panel sits below the network: if its head and value field are not both on screen,
  // scroll so that the panel starts at the top of the window
  const head = $("chain-panel").querySelector(".panel-head"), field = $("param-editor");
  if (scroll && (head.getBoundingClientRect().top < 0 || field.getBoundingClientRect().bottom > window.innerHeight)) {
    head.scrollIntoView({ block: "start" });
  }
}

// the menu of every weight and bias, rebuilt when the network changes
let menuKey = "";
function fillMenu() {
  const f = S.frame, sel = $("chain-which");
  if (!f || !sel) return;
  const key = JSON.stringify(f.weights.map((W) => [W.length, W.length ? W[0].length : 0]));
  if (key === menuKey) return;
  menuKey = key;
  const opts = ['<option value="">choose a weight or bias…</option>'];
  f.weights.forEach((W, l) => {
    W.forEach((row, j) => row.forEach((_, i) => opts.push(
      `<option value="${l},${j},${i}">W${l + 1}[${j},${i}]: ${esc(paramName(l, j, i))}</option>`)));
    W.forEach((_, j) => opts.push(`<option value="${l},${j},b">b${l + 1}[${j}]: ${esc(paramName(l, j, null))}</option>`));
  });
  sel.innerHTML = opts.join("");
  sel.value = which ? `${which.layer},${which.row},${which.col === null ? "b" : which.col}` : "";
}
const scope = () => ($("chain-scope") ? $("chain-scope").value : "batch");
const point = () => Math.max(0, parseInt(($("chain-point") || {}).value || "0", 10) || 0);

function render(m) {
  const ex = m.explanation, box = $("chain-panel");
  box.hidden = false;
  const where = m.scope === "point" ? `training point #${m.examples[0]}` : `the minibatch of ${m.examples.length} points the next step uses`;
  let h = `<p class="chain-title"><b data-testid="chain-label">∂L/∂${esc(m.label)}</b> at step ${m.step}, on ${where}:
    ${esc(m.label)} = ${num(ex.value, "", "chain-value")}, L = ${f6(ex.loss)}.</p>`;
  h += `<p class="small muted">tensors on the way: ${ex.graph.map((g) => esc(g.name) + (g.formula ? ` <i>= ${esc(g.formula)}</i>` : "")).join(" → ")}</p>`;
  h += `<p class="small">${ex.n_paths === null ? "too many paths to trace" : `${ex.n_paths} path${ex.n_paths === 1 ? "" : "s"} from ${esc(m.label)} to L` +
    (ex.truncated ? `; the ${ex.paths.length} contributing most are listed (the sum covers all)` : "")}</p>`;
  h += `<table class="sums">`;
  if (ex.per_example && ex.per_example.length > 1) {
    h += `<tr><td>each example's share (Σ over its paths)</td><td class="small">${ex.per_example.map((v) => num(v, "", "chain-share")).join(" + ")}</td></tr>`;
  }
  h += `<tr><td>sum over all paths${ex.per_example && ex.per_example.length > 1 ? " and the batch" : ""}</td><td>${num(ex.path_sum, "strong", "chain-sum")}</td></tr>`;
  h += `<tr><td>∂L/∂w from backward()</td><td>${num(ex.grad, "strong", "chain-grad")} ${ex.matches_grad ? '<span class="ok">✓ equal</span>' : '<span class="bad">✗</span>'}</td></tr>`;
  h += `<tr><td>finite difference (L(w+ε) − L(w−ε))/2ε</td><td>${num(ex.finite_difference, "", "chain-fd")} ${ex.matches_fd ? '<span class="ok">✓ agrees</span>' : ""}</td></tr></table>`;
  if (m.update) {
    const u = m.update;
    h += `<p class="update" data-testid="chain-update" data-old="${u.old}" data-grad="${u.grad}" data-lr="${u.lr}" data-new="${u.new}">
      the step just taken, with the ∂L/∂w this panel showed before it: <b>${esc(u.label)} ← ${f6(u.old)} − ${f6(u.lr)} × ${f6(u.grad)} = ${f6(u.predicted)}</b>${u.note ? `<br><span class="small muted">${esc(u.note)}; the optimizer wrote ${f6(u.new)}</span>` : ""}</p>`;
  } else {
    h += `<p class="small muted">Press <b>Step</b>: the update w ← w − α·∂L/∂w appears here, with these numbers.</p>`;
  }
  h += `<div class="chain-paths">`;
  ex.paths.forEach((p, k) => {
    h += `<div class="chain-path" data-testid="chain-path"><div class="small"><b>path ${k + 1}</b>: ${p.nodes.map(esc).join(" → ")}</div><table class="factors">`;
    for (const f of p.factors) {
      h += `<tr><td>∂${esc(f.of)}/∂${esc(f.wrt)}</td><td>${num(f.value, "", "chain-factor")}</td><td class="muted">${esc(f.op)}: ${esc(f.formula)}</td></tr>`;
    }
    h += `<tr class="prod"><td>product</td><td>${num(p.product, "", "chain-product")}</td><td class="muted">${p.factors.map((f) => f6(f.value)).join(" × ")}</td></tr></table></div>`;
  });
  h += `</div>`;
  box.querySelector(".chain-body").innerHTML = h;
  // the value field follows the parameter (after a Step, say) unless the learner is typing in it
  const input = $("param-value");
  if (document.activeElement !== input && ex.value !== null && ex.value !== undefined) input.value = f6(ex.value);
}

export function wireChain() {
  const host = $("teach");
  const box = document.createElement("section");
  box.id = "chain-panel"; box.className = "panel chain"; box.hidden = true;
  box.setAttribute("data-testid", "chain-panel");
  box.innerHTML = `<div class="panel-head"><h2>The chain rule for one weight</h2>
    <label class="small">for <select id="chain-which" data-testid="chain-which"></select></label>
    <label class="small">on <select id="chain-scope" data-testid="chain-scope"><option value="batch">the next minibatch</option><option value="point">one training point</option></select></label>
    <input id="chain-point" data-testid="chain-point" type="number" min="0" value="0" class="small" title="which training point" size="4">
    <button id="chain-close" class="link-button" data-testid="chain-close">close</button></div>
    <div class="chain-body"></div>`;
  host.prepend(box);
  // the value field (index.html's form) moves into the panel: one place per parameter
  box.querySelector(".panel-head").after($("param-editor"));
  $("param-editor").classList.add("in-panel");
  const hint = document.createElement("p");
  hint.className = "small muted"; hint.id = "chain-hint";
  hint.innerHTML = "Click any edge of the network (a weight) or a neuron (its bias): training pauses and the chain rule that made its gradient opens here, with a field to set its value. " +
    '<button id="chain-open" class="link-button" data-testid="chain-open">or choose one from a list</button>';
  host.prepend(hint);
  $("chain-open").onclick = () => { box.hidden = false; fillMenu(); $("chain-which").focus(); };
  $("chain-which").onchange = () => {
    const v = $("chain-which").value;
    if (!v) return;
    const [l, j, i] = v.split(",");
    choose({ layer: +l, row: +j, col: i === "b" ? null : +i }, { scroll: false, focus: false });
  };
  $("chain-close").onclick = () => { open = null; which = null; box.hidden = true; editParam(null); send({ type: "chain_close" }); };
  const again = () => { if (open) request({ ...open, scope: scope(), point: point() }); };
  $("chain-scope").onchange = again; $("chain-point").onchange = again;
}

on("chain", render);
on("param", (w) => choose(w));
on("param-set", () => { if (open) request({ ...open, scope: scope(), point: point() }); });
on("frame", (f) => {
  fillMenu();
  if (which && !(f.weights[which.layer] && f.weights[which.layer][which.row])) {  // that neuron is gone
    open = null; which = null; $("chain-panel").hidden = true; editParam(null);
  }
});
on("mode", () => { if (S.mode !== "playground" && $("chain-panel")) $("chain-panel").hidden = true; });
