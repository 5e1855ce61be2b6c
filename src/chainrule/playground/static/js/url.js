// The whole 2-D state in the address: #dataset=xor&hidden=6,4&lr=0.3&... A copied link
// rebuilds the same data, the same starting weights (seed and init) and so the same run;
// a reload keeps it. The hash (not the query) holds it, so the server never sees it.
import { S, on, send } from "./state.js";

// the settings a link carries, and how each is written and read back
const LIST = (v) => v.join(","), NUMBERS = (t) => (t === "" ? [] : t.split(",").map(Number));
const WORDS = (t) => (t === "" ? [] : t.split(","));
const FIELDS = {
  dataset: [String, String], features: [LIST, WORDS], hidden: [LIST, NUMBERS],
  activation: [String, String], optimizer: [String, String], lr: [String, Number],
  batch_size: [String, Number], l1: [String, Number], l2: [String, Number],
  dropout: [String, Number], noise: [String, Number], test_fraction: [String, Number],
  n_points: [String, Number], seed: [String, Number], init: [String, Number],
  grad_view: [String, String], steps_per_frame: [String, Number],
};

export function stateToHash(config) {
  const parts = [];
  for (const [key, [write]] of Object.entries(FIELDS)) {
    if (config[key] !== undefined) parts.push(key + "=" + encodeURIComponent(write(config[key])));
  }
  return "#" + parts.join("&");
}

export function hashToState(hash) {
  const out = {};
  for (const part of hash.replace(/^#/, "").split("&")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    if (!(key in FIELDS)) continue;
    out[key] = FIELDS[key][1](decodeURIComponent(part.slice(eq + 1)));
  }
  return out;
}

let restored = false;
on("hello", () => {
  if (restored) return;
  restored = true;
  const wanted = hashToState(location.hash);
  if (Object.keys(wanted).length) { S.inflight += 1; send(Object.assign({ type: "config" }, wanted)); }
});
on("config", (msg) => {
  if (S.inflight === 0) history.replaceState(null, "", stateToHash(msg.config));
});
