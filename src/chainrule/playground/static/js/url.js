// The whole 2-D state in the address: #dataset=xor&hidden=6,4&lr=0.3&... A copied link
// rebuilds the same data, the same starting weights (seed and init) and so the same run;
// a reload keeps it. The hash (not the query) holds it, so the server never sees it.
//
// Which settings a link carries is not typed here: it is every key of the server's 2-D
// settings (the protocol's field table, as the hello message shows it), each written as the
// server sent it -- a list as "a,b,c", anything else as text -- and read back by the same rule.
import { S, on, send } from "./state.js";

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const item = (t) => (NUMBER.test(t) ? Number(t) : t);

export function stateToHash(config) {
  const parts = [];
  for (const [key, value] of Object.entries(config)) {
    const text = Array.isArray(value) ? value.join(",") : String(value);
    parts.push(key + "=" + encodeURIComponent(text));
  }
  return "#" + parts.join("&");
}

// template: the server's settings, which say what each key holds (a list, a number, a name)
export function hashToState(hash, template) {
  const out = {};
  for (const part of hash.replace(/^#/, "").split("&")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    if (!template || !(key in template)) continue;
    const text = decodeURIComponent(part.slice(eq + 1));
    const like = template[key];
    if (Array.isArray(like)) out[key] = text === "" ? [] : text.split(",").map(item);
    else out[key] = typeof like === "number" ? item(text) : text;
  }
  return out;
}

let restored = false;
on("hello", (msg) => {
  if (restored) return;
  restored = true;
  const wanted = hashToState(location.hash, msg.config);
  if (Object.keys(wanted).length) { S.inflight += 1; send(Object.assign({ type: "config" }, wanted)); }
});
on("config", (msg) => {
  if (S.inflight === 0) history.replaceState(null, "", stateToHash(msg.config));
});
