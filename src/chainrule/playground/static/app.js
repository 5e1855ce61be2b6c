// chainrule playground — the page. Plain JavaScript, no build step, no libraries.
// Training happens on the server (in chainrule); this file sends settings and draws frames.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const BLUE = [8, 119, 189], ORANGE = [245, 147, 34], MID = [232, 234, 235];
  const GRAD_POS = "#b0306a", GRAD_NEG = "#138a72";

  const S = {
    ws: null, connected: false, closedByServer: false,
    mode: "playground", running: false,
    config: null, mnistConfig: null, limits: null,
    data: null, frame: null, run: null,
    history: [], mnistHistory: [], mnistRun: null, mnistFrame: null,
    edges: "weights", showTest: true, hover: null,
    layout: null, layoutKey: "", pending: null,
    mnistReady: false, side: 28, padDirty: false, lastPredict: 0,
  };

  // ---------- colour ----------
  function mix(a, b, t) { return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]; }
  // v in [0,1]: 0 orange, 0.5 light grey, 1 blue; "soft" lightens the ends for backgrounds
  function lut(soft) {
    const out = new Uint8ClampedArray(256 * 3);
    const o = soft ? mix(ORANGE, [255, 255, 255], 0.25) : ORANGE;
    const b = soft ? mix(BLUE, [255, 255, 255], 0.25) : BLUE;
    for (let i = 0; i < 256; i++) {
      const t = i / 255;
      const c = t < 0.5 ? mix(o, MID, t / 0.5) : mix(MID, b, (t - 0.5) / 0.5);
      out[3 * i] = c[0]; out[3 * i + 1] = c[1]; out[3 * i + 2] = c[2];
    }
    return out;
  }
  const LUT_SOFT = lut(true), LUT = lut(false);

  function b64bytes(s) {
    const bin = atob(s), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // paint n x n uint8 values onto a canvas (whatever its size) through a colour table
  const scratch = document.createElement("canvas");
  function paintMap(canvas, bytes, n, table, smooth) {
    scratch.width = n; scratch.height = n;
    const sctx = scratch.getContext("2d");
    const img = sctx.createImageData(n, n);
    for (let i = 0; i < n * n; i++) {
      const v = bytes[i] * 3;
      img.data[4 * i] = table[v]; img.data[4 * i + 1] = table[v + 1]; img.data[4 * i + 2] = table[v + 2]; img.data[4 * i + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = smooth;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
  }

  function hiDPI(canvas) {
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    const W = Math.round(w * dpr), H = Math.round(h * dpr);
    if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return [ctx, w, h];
  }

  const fmt = (x, d = 3) => (x === null || x === undefined || !isFinite(x)) ? "–" : Number(x).toFixed(d);
  const fmtSci = (x) => (x === 0 ? "0" : Math.abs(x) >= 0.01 && Math.abs(x) < 1000 ? x.toPrecision(2) : x.toExponential(1));

  // ---------- messages on the page ----------
  let msgTimer = null;
  function showMessage(text, kind, sticky) {
    const el = $("message");
    el.textContent = text;
    el.className = "message" + (kind === "info" ? " info" : "");
    el.hidden = false;
    clearTimeout(msgTimer);
    if (!sticky) msgTimer = setTimeout(() => { el.hidden = true; }, 7000);
  }

  // ---------- connection ----------
  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(proto + location.host + "/ws");
    S.ws = ws;
    setConn("connecting…", "");
    ws.onopen = () => { S.connected = true; setConn("connected", "ok"); };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      try { handle(msg); } catch (e) { console.error(e); }
    };
    ws.onclose = (ev) => {
      S.connected = false; S.running = false; updateRunning();
      setConn("disconnected", "down");
      if (!S.closedByServer) {
        const why = ev.code === 1009 ? "a message was too large" : (ev.reason || "the server went away");
        showMessage("Connection closed (" + why + "). Reload the page to start a new session.", "error", true);
      }
    };
  }
  function setConn(text, cls) { $("conn-text").textContent = text; $("conn").className = "conn " + cls; }
  function send(obj) {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(obj));
  }
  function sendConfig(field, values, inputEl) {
    S.pending = inputEl || null;
    send(Object.assign({ type: S.mode === "mnist" ? "mnist_config" : "config" }, values));
  }

  function handle(msg) {
    switch (msg.type) {
      case "hello": S.limits = msg.limits; S.config = msg.config; fillControls(); break;
      case "data": S.data = msg; drawBoundary(); break;
      case "frame": onFrame(msg); break;
      case "state":
        S.running = msg.running; updateRunning(); break;
      case "config":
        S.config = msg.config; clearBad(); fillControls(); break;
      case "mnist_status":
        if (msg.loading) { $("mnist-source").textContent = "data: loading…"; break; }
        S.mnistReady = true; S.side = msg.side; S.mnistConfig = msg.config;
        $("mnist-source").textContent = "data: " + msg.source;
        fillControls(); break;
      case "mnist_config": S.mnistConfig = msg.config; clearBad(); fillControls(); break;
      case "mnist_frame": onMnistFrame(msg); break;
      case "prediction": drawPrediction(msg); break;
      case "error":
        showMessage(msg.message, "error");
        if (S.pending) { S.pending.classList.add("bad"); S.pending = null; }
        break;
      case "closing":
        S.closedByServer = true; showMessage(msg.reason, "info", true); break;
      default: break;
    }
  }
  function clearBad() {
    document.querySelectorAll("input.bad").forEach((el) => el.classList.remove("bad"));
    S.pending = null;
  }

  // ---------- controls ----------
  function cfg() { return S.mode === "mnist" ? S.mnistConfig : S.config; }
  function setIfIdle(el, value) { if (document.activeElement !== el) el.value = String(value); }
  function ensureOption(sel, value) {
    const v = String(value);
    if (![...sel.options].some((o) => o.value === v)) {
      const o = document.createElement("option"); o.value = v; o.textContent = v; sel.appendChild(o);
    }
    sel.value = v;
  }
  function fillControls() {
    const c = cfg();
    if (!c) return;
    if (!$("lr-input").classList.contains("bad")) setIfIdle($("lr-input"), c.lr);
    $("activation-select").value = c.activation;
    $("optimizer-select").value = c.optimizer;
    if (!$("batch-input").classList.contains("bad")) setIfIdle($("batch-input"), c.batch_size);
    ensureOption($("l2-select"), c.l2);
    ensureOption($("dropout-select"), c.dropout);
    ensureOption($("speed-select"), c.steps_per_frame);
    if (S.mode === "playground") {
      $("dataset-select").value = c.dataset;
      $("noise-input").value = c.noise; $("noise-value").textContent = c.noise;
      $("split-input").value = Math.round(c.test_fraction * 100);
      $("split-value").textContent = Math.round(c.test_fraction * 100) + "%";
      ensureOption($("points-select"), c.n_points);
      const n = c.hidden.length;
      $("layers-label").textContent = n + " hidden layer" + (n === 1 ? "" : "s");
      $("add-layer").disabled = n >= (S.limits ? S.limits.hidden_layers[1] : 6);
      $("remove-layer").disabled = n <= 0;
    } else if (!$("mnist-hidden").classList.contains("bad")) {
      setIfIdle($("mnist-hidden"), c.hidden.join(", "));
    }
  }
  function numberOrRaw(text) {
    const t = String(text).trim();
    return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) ? Number(t) : t;
  }
  function wireControls() {
    $("train-toggle").onclick = () => send({ type: S.running ? "pause" : "play" });
    $("step-button").onclick = () => send({ type: "step" });
    $("reset-button").onclick = () => send({ type: "reset" });
    const lr = $("lr-input");
    lr.addEventListener("change", () => sendConfig("lr", { lr: numberOrRaw(lr.value) }, lr));
    lr.addEventListener("keydown", (e) => { if (e.key === "Enter") lr.blur(); });
    $("activation-select").onchange = (e) => sendConfig("activation", { activation: e.target.value });
    $("optimizer-select").onchange = (e) => sendConfig("optimizer", { optimizer: e.target.value });
    const bs = $("batch-input");
    bs.addEventListener("change", () => sendConfig("batch_size", { batch_size: numberOrRaw(bs.value) }, bs));
    $("l2-select").onchange = (e) => sendConfig("l2", { l2: Number(e.target.value) });
    $("dropout-select").onchange = (e) => sendConfig("dropout", { dropout: Number(e.target.value) });
    $("speed-select").onchange = (e) => sendConfig("steps_per_frame", { steps_per_frame: Number(e.target.value) });
    $("dataset-select").onchange = (e) => send({ type: "config", dataset: e.target.value });
    $("noise-input").oninput = (e) => { $("noise-value").textContent = e.target.value; };
    $("noise-input").onchange = (e) => send({ type: "config", noise: Number(e.target.value) });
    $("split-input").oninput = (e) => { $("split-value").textContent = e.target.value + "%"; };
    $("split-input").onchange = (e) => send({ type: "config", test_fraction: Number(e.target.value) / 100 });
    $("points-select").onchange = (e) => send({ type: "config", n_points: Number(e.target.value) });
    $("regenerate").onclick = () => send({ type: "config", seed: Math.floor(Math.random() * 1e6) });
    $("add-layer").onclick = () => {
      const h = S.config.hidden.slice(); h.push(h.length ? h[h.length - 1] : 4);
      send({ type: "config", hidden: h });
    };
    $("remove-layer").onclick = () => { const h = S.config.hidden.slice(); h.pop(); send({ type: "config", hidden: h }); };
    document.querySelectorAll(".seg").forEach((b) => b.onclick = () => {
      S.edges = b.dataset.edges;
      document.querySelectorAll(".seg").forEach((x) => {
        x.classList.toggle("active", x === b); x.setAttribute("aria-checked", String(x === b));
      });
      drawNetwork();
    });
    $("show-test").onchange = (e) => { S.showTest = e.target.checked; drawBoundary(); };
    document.querySelectorAll(".tab").forEach((t) => t.onclick = () => setMode(t.dataset.mode));
    const mh = $("mnist-hidden");
    mh.addEventListener("change", () => {
      const parts = mh.value.split(",").map((s) => s.trim()).filter((s) => s.length);
      sendConfig("hidden", { hidden: parts.map(numberOrRaw) }, mh);
    });
    mh.addEventListener("keydown", (e) => { if (e.key === "Enter") mh.blur(); });
    document.addEventListener("keydown", (e) => {
      const tag = (e.target.tagName || "").toLowerCase();
      if (tag === "input" || tag === "select" || tag === "textarea") return;
      if (e.key === " ") { e.preventDefault(); $("train-toggle").click(); }
      else if (e.key === "s" || e.key === "S") $("step-button").click();
      else if (e.key === "r" || e.key === "R") $("reset-button").click();
    });
    window.addEventListener("resize", () => { S.layoutKey = ""; drawAll(); });
    wirePad();
  }
  function setMode(mode) {
    if (mode === S.mode) return;
    S.mode = mode;
    document.body.classList.toggle("mode-playground", mode === "playground");
    document.body.classList.toggle("mode-mnist", mode === "mnist");
    document.querySelectorAll(".tab").forEach((t) => {
      t.classList.toggle("active", t.dataset.mode === mode); t.setAttribute("aria-selected", String(t.dataset.mode === mode));
    });
    clearBad();
    send({ type: "mode", mode: mode });
    fillControls();
    updateCounter();
    S.layoutKey = "";
    drawAll();
  }
  function updateRunning() {
    document.body.classList.toggle("running", S.running);
    $("train-toggle").setAttribute("aria-pressed", String(S.running));
    $("train-toggle").setAttribute("aria-label", S.running ? "pause" : "play");
  }
  function updateCounter() {
    const f = S.mode === "mnist" ? S.mnistFrame : S.frame;
    $("step-counter").textContent = f ? f.step.toLocaleString("en-US") : "0";
    $("epoch").textContent = f ? Number(f.epoch).toFixed(S.mode === "mnist" ? 2 : 1) : "0";
  }

  // ---------- frames ----------
  function pushHistory(hist, point) {
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
    if (S.mode === "playground") { updateCounter(); drawAll(); }
  }
  function onMnistFrame(f) {
    if (f.run !== S.mnistRun) { S.mnistHistory = []; S.mnistRun = f.run; }
    S.mnistFrame = f;
    if (f.step > 0 && f.test_accuracy !== null) S.mnistHistory = pushHistory(S.mnistHistory, [f.step, f.train_accuracy, f.test_accuracy]);
    $("acc-test").textContent = f.test_accuracy === null ? "–" : (100 * f.test_accuracy).toFixed(1) + "%";
    $("test-size").textContent = f.test_size ? "on " + f.test_size.toLocaleString("en-US") + " held-out images" : "";
    $("acc-train").textContent = f.train_accuracy === null ? "–" : (100 * f.train_accuracy).toFixed(1) + "%";
    $("mnist-loss").textContent = fmt(f.loss);
    if (S.mode === "mnist") {
      updateCounter();
      drawLineChart($("accuracy-chart"), S.mnistHistory, { min: 0, max: 1, percent: true, labels: ["train (last 50 batches)", "test"] });
      const now = performance.now();
      if (S.padDirty && now - S.lastPredict > 500) predictPad();
    }
  }
  function drawAll() {
    if (S.mode === "playground") {
      drawBoundary(); drawNetwork(); drawLineChart($("loss-chart"), S.history, { min: 0, labels: ["train", "test"] }); drawGradNorms();
    } else {
      drawLineChart($("accuracy-chart"), S.mnistHistory, { min: 0, max: 1, percent: true, labels: ["train (last 50 batches)", "test"] });
    }
  }

  // ---------- decision boundary ----------
  function drawBoundary() {
    const canvas = $("boundary");
    const [ctx, w, h] = hiDPI(canvas);
    const f = S.frame;
    ctx.clearRect(0, 0, w, h);
    let caption = "the network's output p(blue) over the plane";
    if (f) {
      let bytes, n;
      if (S.hover && f.neurons[S.hover.l] && f.neurons[S.hover.l][S.hover.j]) {
        bytes = b64bytes(f.neurons[S.hover.l][S.hover.j]); n = f.neuron_size;
        caption = "output of neuron " + (S.hover.j + 1) + " in hidden layer " + (S.hover.l + 1);
      } else { bytes = b64bytes(f.boundary); n = f.boundary_size; }
      ctx.save(); ctx.setTransform(1, 0, 0, 1, 0, 0);
      paintMap(canvas, bytes, n, LUT_SOFT, true);
      ctx.restore();
    }
    $("boundary-caption").textContent = caption;
    const d = S.data;
    if (!d) return;
    const e = d.extent;
    const px = (x) => (x + e) / (2 * e) * w, py = (y) => (e - y) / (2 * e) * h;
    // axes
    ctx.strokeStyle = "rgba(0,0,0,0.12)"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(px(0), 0); ctx.lineTo(px(0), h); ctx.moveTo(0, py(0)); ctx.lineTo(w, py(0)); ctx.stroke();
    const dot = (p, ring) => {
      ctx.beginPath(); ctx.arc(px(p[0]), py(p[1]), ring === "test" ? 2.8 : 3.2, 0, 2 * Math.PI);
      ctx.fillStyle = p[2] > 0 ? "rgb(8,119,189)" : "rgb(245,147,34)"; ctx.fill();
      ctx.lineWidth = ring === "test" ? 0.9 : 1; ctx.strokeStyle = ring === "test" ? "#1f2328" : "#ffffff"; ctx.stroke();
    };
    for (const p of d.train) dot(p, "train");
    if (S.showTest) for (const p of d.test) dot(p, "test");
    ctx.fillStyle = "rgba(31,35,40,0.55)"; ctx.font = "10px system-ui, sans-serif";
    ctx.fillText("x₁ →", w - 30, py(0) - 4); ctx.fillText("x₂ ↑", px(0) + 4, 11);
  }

  // ---------- network diagram ----------
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
    S.layout = L;
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
          d.addEventListener("mouseenter", (ev) => { S.hover = { l: c - 1, j: i }; drawBoundary(); nodeCard(ev, c - 1, i); });
          d.addEventListener("mousemove", moveCard);
          d.addEventListener("mouseleave", () => { S.hover = null; drawBoundary(); hideCard(); });
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
  function drawNetwork() {
    if (!S.config) return;
    const key = JSON.stringify(S.config.hidden) + "|" + $("network").clientWidth + "|" + (S.limits ? 1 : 0);
    if (key !== S.layoutKey) { buildNetwork(); S.layoutKey = key; }
    const L = S.layout, f = S.frame;
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
    if (grads) for (const m of src) for (const row of m) for (const v of row) maxAbs = Math.max(maxAbs, Math.abs(v));
    for (const e of L.edges) {
      const v = src[e.l][e.j][e.i];
      let width, color;
      if (grads) {
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
    }
    $("edge-legend").innerHTML = grads
      ? `<span><i style="border-color:${GRAD_POS};border-top-width:3px"></i>∂L/∂w &gt; 0 (gradient descent lowers w)</span>` +
        `<span><i style="border-color:${GRAD_NEG};border-top-width:3px"></i>∂L/∂w &lt; 0 (raises w)</span>` +
        `<span>thickness: |∂L/∂w| relative to the largest (${fmtSci(maxAbs)})</span>`
      : `<span><i style="border-color:rgb(8,119,189);border-top-width:3px"></i>positive weight</span>` +
        `<span><i style="border-color:rgb(245,147,34);border-top-width:3px"></i>negative weight</span><span>thickness: |w|</span>`;
    if (S.card) S.card();
  }
  function layerName(l, nLayers) { return l === nLayers - 1 ? "output" : "hidden " + (l + 1); }
  function edgeHover(ev) {
    const l = +ev.target.dataset.l, i = +ev.target.dataset.i, j = +ev.target.dataset.j;
    S.card = () => {
      const f = S.frame; if (!f || !f.weights[l]) return;
      const from = l === 0 ? "x" + (i + 1) : "hidden " + l + "." + (i + 1);
      const to = l === f.weights.length - 1 ? "output" : "hidden " + (l + 1) + "." + (j + 1);
      showCard(`<b>${from} → ${to}</b><br>w = ${fmtSci(f.weights[l][j][i])}<br>∂L/∂w = ${fmtSci(f.grads[l][j][i])}`);
    };
    S.card(); moveCard(ev);
  }
  function nodeCard(ev, l, j) {
    S.card = () => {
      const f = S.frame; if (!f || !f.biases[l]) return;
      showCard(`<b>hidden ${l + 1}, neuron ${j + 1}</b><br>bias = ${fmtSci(f.biases[l][j])}<br><span class="muted">its output is shown in the big picture</span>`);
    };
    S.card(); moveCard(ev);
  }
  function showCard(html) { const c = $("hovercard"); c.innerHTML = html; c.hidden = false; }
  function moveCard(ev) { const c = $("hovercard"); c.style.left = (ev.clientX + 14) + "px"; c.style.top = (ev.clientY + 12) + "px"; }
  function hideCard() { $("hovercard").hidden = true; S.card = null; }

  // ---------- charts ----------
  function drawLineChart(canvas, hist, opt) {
    const [ctx, w, h] = hiDPI(canvas);
    ctx.clearRect(0, 0, w, h);
    const padL = 34, padR = 8, padT = 8, padB = 16;
    const pts = hist.filter((p) => p[1] !== null || p[2] !== null);
    let ymax = opt.max !== undefined ? opt.max : 0;
    if (opt.max === undefined) {
      for (const p of pts) for (const v of [p[1], p[2]]) if (v !== null && isFinite(v)) ymax = Math.max(ymax, v);
      ymax = ymax > 0 ? ymax * 1.05 : 1;
    }
    const ymin = opt.min || 0;
    const x0 = pts.length ? pts[0][0] : 0, x1 = pts.length ? Math.max(pts[pts.length - 1][0], x0 + 1) : 1;
    const X = (s) => padL + (s - x0) / (x1 - x0) * (w - padL - padR);
    const Y = (v) => padT + (1 - (Math.min(v, ymax) - ymin) / (ymax - ymin)) * (h - padT - padB);
    ctx.strokeStyle = "#e4e7ec"; ctx.lineWidth = 1; ctx.fillStyle = "#667085"; ctx.font = "10px system-ui, sans-serif";
    const ticks = opt.percent ? [0, 0.25, 0.5, 0.75, 1] : [0, ymax / 2, ymax];
    for (const t of ticks) {
      const y = Math.round(Y(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(w - padR, y); ctx.stroke();
      ctx.fillText(opt.percent ? Math.round(t * 100) + "%" : t.toFixed(t < 1 ? 2 : 1), 2, y + 3);
    }
    ctx.fillText(pts.length ? "step " + x1.toLocaleString("en-US") : "no steps yet", w - padR - 70, h - 3);
    const series = [{ k: 1, color: "#9aa4b2", width: 1.5 }, { k: 2, color: "#1f2328", width: 1.8 }];
    for (const s of series) {
      ctx.strokeStyle = s.color; ctx.lineWidth = s.width; ctx.beginPath();
      let started = false;
      for (const p of pts) {
        const v = p[s.k];
        if (v === null || !isFinite(v)) { started = false; continue; }
        if (!started) { ctx.moveTo(X(p[0]), Y(v)); started = true; } else ctx.lineTo(X(p[0]), Y(v));
      }
      ctx.stroke();
    }
    // legend
    let lx = padL + 4;
    opt.labels.forEach((lab, i) => {
      const s = series[i];
      ctx.strokeStyle = s.color; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(lx, h - 7); ctx.lineTo(lx + 14, h - 7); ctx.stroke();
      ctx.fillStyle = "#667085"; ctx.fillText(lab, lx + 18, h - 3);
      lx += 26 + ctx.measureText(lab).width;
    });
  }
  function drawGradNorms() {
    const canvas = $("grad-norms");
    const [ctx, w, h] = hiDPI(canvas);
    ctx.clearRect(0, 0, w, h);
    const f = S.frame;
    if (!f) return;
    const vals = f.grad_norms.map((v) => (v && v > 0 ? v : 1e-12));
    const logs = vals.map(Math.log10);
    let lo = Math.floor(Math.min.apply(null, logs)), hi = Math.ceil(Math.max.apply(null, logs));
    if (f.step === 0) { lo = -4; hi = 0; }
    lo = Math.max(lo, -12); if (hi - lo < 3) lo = hi - 3;
    const padL = 34, padB = 18, padT = 6, n = vals.length;
    const Y = (lg) => padT + (1 - (lg - lo) / (hi - lo)) * (h - padT - padB);
    ctx.font = "10px system-ui, sans-serif"; ctx.fillStyle = "#667085"; ctx.strokeStyle = "#e4e7ec";
    const every = Math.ceil((hi - lo) / 5);
    for (let e = lo; e <= hi; e += every) {
      const y = Math.round(Y(e)) + 0.5;
      ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(w - 4, y); ctx.stroke();
      ctx.fillText("1e" + e, 2, y + 3);
    }
    const bw = (w - padL - 8) / n;
    for (let i = 0; i < n; i++) {
      const x = padL + i * bw + bw * 0.18, bwid = bw * 0.64;
      const y = Y(Math.max(logs[i], lo));
      ctx.fillStyle = f.step === 0 ? "#d0d5dd" : "#183d4e";
      ctx.fillRect(x, y, bwid, h - padB - y);
      ctx.fillStyle = "#667085";
      if (f.step > 0) {
        const t = fmtSci(vals[i]);
        ctx.fillText(t, x + bwid / 2 - ctx.measureText(t).width / 2, Math.max(padT + 9, y - 3));
      }
      const lab = i === n - 1 ? "out" : "W" + (i + 1);
      ctx.fillText(lab, x + bwid / 2 - ctx.measureText(lab).width / 2, h - 5);
    }
    if (f.step === 0) { ctx.fillStyle = "#667085"; ctx.fillText("press play or step: no backward pass yet", padL + 8, padT + 12); }
  }

  // ---------- MNIST drawing pad ----------
  function wirePad() {
    const pad = $("draw-pad");
    const ctx = pad.getContext("2d", { willReadFrequently: true });
    const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); S.padDirty = false; drawPrediction(null); };
    clear();
    let drawing = false, last = null;
    const at = (ev) => { const r = pad.getBoundingClientRect(); return [(ev.clientX - r.left) * pad.width / r.width, (ev.clientY - r.top) * pad.height / r.height]; };
    pad.addEventListener("pointerdown", (ev) => {
      drawing = true; last = at(ev); pad.setPointerCapture(ev.pointerId);
      ctx.fillStyle = "#fff"; ctx.beginPath(); ctx.arc(last[0], last[1], 9, 0, 2 * Math.PI); ctx.fill();
    });
    pad.addEventListener("pointermove", (ev) => {
      if (!drawing) return;
      const p = at(ev);
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 18; ctx.lineCap = "round"; ctx.lineJoin = "round";
      ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
      last = p; S.padDirty = true;
      if (performance.now() - S.lastPredict > 150) predictPad();
    });
    const end = () => { if (drawing) { drawing = false; S.padDirty = true; predictPad(); } };
    pad.addEventListener("pointerup", end); pad.addEventListener("pointercancel", end);
    $("clear-pad").onclick = clear;
  }
  function padPixels() {
    const pad = $("draw-pad");
    const d = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
    const n = 28, bx = pad.width / n, by = pad.height / n, out = new Array(n * n).fill(0);
    for (let y = 0; y < pad.height; y++) for (let x = 0; x < pad.width; x++) {
      out[Math.floor(y / by) * n + Math.floor(x / bx)] += d[4 * (y * pad.width + x)];
    }
    return out.map((v) => Math.round(v / (bx * by)));
  }
  function predictPad() {
    S.lastPredict = performance.now();
    if (!S.mnistReady) return;
    send({ type: "predict", pixels: padPixels() });
  }
  function drawPrediction(msg) {
    const box = $("prediction");
    const probs = msg && msg.probs;
    if (!probs) {
      box.innerHTML = '<div class="hint">Draw a digit (0–9) in the black square; the bars show the model\'s probabilities.</div>';
      const c = $("model-input").getContext("2d"); c.fillStyle = "#000"; c.fillRect(0, 0, 84, 84);
      return;
    }
    let html = "";
    for (let k = 0; k < 10; k++) {
      const p = probs[k];
      html += `<div class="row${k === msg.label ? " best" : ""}" data-digit="${k}"><span class="digit">${k}</span>` +
        `<span class="track"><span class="fill" style="width:${(100 * p).toFixed(1)}%"></span></span>` +
        `<span class="pct">${(100 * p).toFixed(1)}%</span></div>`;
    }
    box.innerHTML = html;
    box.dataset.label = String(msg.label);
    if (msg.input) {
      const n = msg.input_side, bytes = b64bytes(msg.input);
      const g = new Uint8ClampedArray(256 * 3); for (let i = 0; i < 256; i++) g[3 * i] = g[3 * i + 1] = g[3 * i + 2] = i;
      paintMap($("model-input"), bytes, n, g, false);
    }
  }

  // ---------- go ----------
  wireControls();
  drawPrediction(null);
  updateRunning();
  connect();
})();
