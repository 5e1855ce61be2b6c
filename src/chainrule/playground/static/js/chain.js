// The chain-rule panel: pause, click an edge (a weight) or a neuron (its bias), and see how
// ∂L/∂w is made — every path from w to the loss, each local derivative with its value and
// its formula in words, the product per path, the sum over paths and over the minibatch, the
// engine's .grad and a finite-difference check. The numbers are cr.explain's record, sent by
// the server; Step adds the update w ← w − α·∂L/∂w.
import { $ } from "./util.js";
import { S, on, send } from "./state.js";

let open = null;   // the request shown: {layer, kind, index, scope, point}

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

function onClick(ev) {
  if (S.mode !== "playground") return;
  const edge = ev.target.closest("#network path");
  const node = ev.target.closest("#network .node");
  if (edge) {
    const l = +edge.dataset.l, i = +edge.dataset.i, j = +edge.dataset.j;
    request({ layer: l, kind: "weight", index: [j, i], scope: scope(), point: point() });
  } else if (node && node.dataset.c && +node.dataset.c > 0) {
    request({ layer: +node.dataset.c - 1, kind: "bias", index: [+node.dataset.i], scope: scope(), point: point() });
  }
}
const scope = () => ($("chain-scope") ? $("chain-scope").value : "batch");
const point = () => Math.max(0, parseInt(($("chain-point") || {}).value || "0", 10) || 0);

function render(m) {
  const ex = m.explanation, box = $("chain-panel");
  box.hidden = false;
  const where = m.scope === "point" ? `training point #${m.examples[0]}` : `the minibatch of ${m.examples.length} points the next step uses`;
  let h = `<p class="chain-title"><b data-testid="chain-label">∂L/∂${esc(m.label)}</b> at step ${m.step}, on ${where}:
    ${esc(m.label)} = ${f6(ex.value)}, L = ${f6(ex.loss)}.</p>`;
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
}

export function wireChain() {
  const host = $("teach");
  const box = document.createElement("section");
  box.id = "chain-panel"; box.className = "panel chain"; box.hidden = true;
  box.setAttribute("data-testid", "chain-panel");
  box.innerHTML = `<div class="panel-head"><h2>The chain rule for one weight</h2>
    <label class="small">on <select id="chain-scope" data-testid="chain-scope"><option value="batch">the next minibatch</option><option value="point">one training point</option></select></label>
    <input id="chain-point" data-testid="chain-point" type="number" min="0" value="0" class="small" title="which training point" size="4">
    <button id="chain-close" class="link-button" data-testid="chain-close">close</button></div>
    <div class="chain-body"></div>`;
  host.prepend(box);
  const hint = document.createElement("p");
  hint.className = "small muted"; hint.id = "chain-hint";
  hint.textContent = "Click any edge of the network (a weight) or a neuron (its bias) to see the chain rule that made its gradient.";
  host.prepend(hint);
  document.addEventListener("click", onClick, true);  // capture: the value editor stops the click
  $("chain-close").onclick = () => { open = null; box.hidden = true; send({ type: "chain_close" }); };
  const again = () => { if (open) request({ ...open, scope: scope(), point: point() }); };
  $("chain-scope").onchange = again; $("chain-point").onchange = again;
}

on("chain", render);
on("mode", () => { if (S.mode !== "playground" && $("chain-panel")) $("chain-panel").hidden = true; });
