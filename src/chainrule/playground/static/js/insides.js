// Inside the MNIST net: what each first-layer unit looks for (its weights as a picture), the
// test digits it gets wrong, a live confusion matrix, per-layer gradient sizes, which pixels of
// a drawing pushed the prediction, and the chain rule for one first-layer weight.
import { $, b64bytes } from "./util.js";
import { S, on, send } from "./state.js";
import { padPixels } from "./mnist.js";

let shown = false, lastAsk = 0;

function grey(canvas, bytes, side, signed) {
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(side, side);
  for (let k = 0; k < side * side; k++) {
    const v = bytes[k];
    let r = v, g = v, b = v;
    if (signed) { // 128 grey = 0; positive blue, negative orange
      const t = (v - 127.5) / 127.5;
      r = t > 0 ? 255 - 247 * t : 255; g = t > 0 ? 255 - 136 * t : 255 + 108 * t; b = t > 0 ? 255 - 66 * t : 255 + 221 * t;
    }
    img.data.set([r, g, b, 255], 4 * k);
  }
  canvas.width = side; canvas.height = side;
  ctx.putImageData(img, 0, 0);
}

function render(m) {
  const side = m.side;
  const filters = $("ins-filters"); filters.innerHTML = "";
  for (const f of m.filters) {
    const c = document.createElement("canvas");
    c.className = "filter"; c.title = `unit ${f.unit}: light blue +${f.scale}, orange −${f.scale}; click a pixel for the chain rule of that weight`;
    grey(c, b64bytes(f.image), side, true);
    c.onclick = (ev) => {
      const r = c.getBoundingClientRect();
      const px = Math.floor((ev.clientY - r.top) / r.height * side) * side + Math.floor((ev.clientX - r.left) / r.width * side);
      send({ type: "mnist_chain", unit: f.unit, pixel: Math.min(side * side - 1, Math.max(0, px)) });
    };
    filters.appendChild(c);
  }
  let t = `<tr><th>true ↓ / predicted →</th>${[...Array(10).keys()].map((d) => `<th>${d}</th>`).join("")}</tr>`;
  m.confusion.forEach((row, i) => {
    const tot = row.reduce((a, b) => a + b, 0) || 1;
    t += `<tr><th>${i}</th>${row.map((v, j) => `<td style="background:rgba(${i === j ? "8,119,189" : "245,147,34"},${(v / tot).toFixed(2)})">${v}</td>`).join("")}</tr>`;
  });
  $("ins-confusion").innerHTML = t;
  $("ins-accuracy").textContent = `step ${m.step}: ${(100 * m.accuracy).toFixed(1)} % right; ${m.n_wrong} wrong`;
  const wrong = $("ins-wrong"); wrong.innerHTML = "";
  for (const w of m.wrong) {
    const fig = document.createElement("figure");
    const c = document.createElement("canvas"); grey(c, b64bytes(w.image), side, false);
    fig.appendChild(c);
    const cap = document.createElement("figcaption");
    cap.textContent = `said ${w.predicted} (${Math.round(100 * w.confidence)} %), is ${w.true}`;
    fig.appendChild(cap); wrong.appendChild(fig);
  }
  $("ins-grads").textContent = "‖∂L/∂W‖ per layer, input side first: " +
    m.grad_norms.map((g, k) => `W${k + 1} ${g === null ? "—" : g.toExponential(2)}`).join(" · ");
}

function renderChain(m) {
  const f6 = (v) => Number(v).toPrecision(6);
  let h = `<p><b>∂L/∂${m.label}</b> (unit ${m.unit}, pixel row ${Math.floor(m.pixel / 28)}, column ${m.pixel % 28}) over a minibatch of ${m.n_examples}:
    one example reaches the loss along <b>${m.paths_per_example}</b> paths (through every later unit and every class), so the panel sums them per example:
    share = pixel × ${m.activation}' (${m.slope_formula}) × ∂L/∂h (the sum over all paths above the unit).</p><table class="factors"><tr><th>example</th><th>pixel</th><th>slope</th><th>∂L/∂h</th><th>share</th></tr>`;
  for (const s of m.shares) h += `<tr><td>#${s.example}</td><td>${f6(s.pixel)}</td><td>${f6(s.slope)}</td><td>${f6(s.dl_dh)}</td><td>${f6(s.product)}</td></tr>`;
  h += `</table><p>Σ over the ${m.n_examples} examples = <b data-testid="ins-chain-sum" data-value="${m.batch_sum}">${f6(m.batch_sum)}</b>;
    ∂L/∂w from backward() = <b data-testid="ins-chain-grad" data-value="${m.grad}">${f6(m.grad)}</b> ${m.matches_grad ? "✓ equal" : "✗"}</p>
    <details><summary>one example, path by path (the largest of its ${m.paths_per_example})</summary><pre>${m.text.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" }[c]))}</pre></details>`;
  $("ins-chain").innerHTML = h;
}

function renderSaliency(m) {
  // the map over the drawing: what the model saw in grey, the gradient tinted on top
  const map = document.createElement("canvas");
  grey(map, b64bytes(m.image), m.side, true);
  const cv = $("ins-saliency"), ctx = cv.getContext("2d");
  cv.width = cv.height = 112;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage($("model-input"), 0, 0, 112, 112);
  ctx.globalAlpha = 0.7;
  ctx.drawImage(map, 0, 0, 112, 112);
  ctx.globalAlpha = 1;
  $("ins-saliency-caption").textContent = `∂(score of ${m.class})/∂(pixel): blue pixels raise it, orange lower it (largest ${m.scale.toExponential(2)})`;
}

export function wireInsides() {
  const box = document.createElement("section");
  box.className = "panel insides"; box.id = "insides";
  box.innerHTML = `<div class="panel-head"><h2>Inside the network</h2>
    <button id="ins-button" data-testid="insides-button">look inside</button>
    <span id="ins-accuracy" class="small" data-testid="insides-accuracy"></span></div>
    <div class="ins-grid" hidden id="ins-body">
      <div><h3>What each first-layer unit looks for</h3><div id="ins-filters" class="filters" data-testid="insides-filters"></div>
        <p class="small muted">Each square is one hidden unit's 784 incoming weights, laid out as the image: blue where ink excites it, orange where ink inhibits it. Click a pixel of one for the chain rule of that weight.</p>
        <div id="ins-chain" data-testid="insides-chain" class="small"></div></div>
      <div><h3>Confusion matrix (test set)</h3><table id="ins-confusion" class="confusion" data-testid="insides-confusion"></table>
        <p id="ins-grads" class="small" data-testid="insides-grads"></p>
        <h3>Which pixels pushed the prediction</h3><canvas id="ins-saliency" class="saliency" data-testid="insides-saliency" width="28" height="28"></canvas>
        <p id="ins-saliency-caption" class="small muted">Draw a digit: the gradient of the predicted class's score with respect to each pixel.</p></div>
      <div><h3>Test digits it gets wrong</h3><div id="ins-wrong" class="wrong" data-testid="insides-wrong"></div></div>
    </div>`;
  $("mnist-insides").appendChild(box);
  $("ins-button").onclick = () => { shown = true; $("ins-body").hidden = false; lastAsk = Date.now(); send({ type: "mnist_insides" }); };
}

on("mnist_insides", render);
on("mnist_chain", renderChain);
on("saliency", renderSaliency);
// live: refresh at most every 3 s while training, and after each new prediction
on("mnist_frame", () => { if (shown && S.mode === "mnist" && Date.now() - lastAsk > 3000) { lastAsk = Date.now(); send({ type: "mnist_insides" }); } });
on("prediction", (m) => { if (shown && m && m.label !== null && m.label !== undefined) send({ type: "saliency", pixels: padPixels(), class: m.label }); });
