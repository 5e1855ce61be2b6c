// The page's shared state and its message bus. Panels subscribe with on(type, fn) to server
// messages ("frame", "data", ...) and to page events ("mode", "draw", "resize"); a new panel is
// a module that imports this one and subscribes -- nothing else needs to change.
export const S = {
  ws: null, connected: false, closedByServer: false,
  mode: "playground", running: false,
  config: null, mnistConfig: null, limits: null,
  data: null, frame: null, run: null,
  history: [], mnistHistory: [], mnistRun: null, mnistFrame: null,
  edges: "weights", showTest: true, hover: null,
  pending: null, mnistReady: false, side: 28,
  inflight: 0,          // 2-D settings sent and not yet echoed: local edits win until they are
  discretize: false,
};

const handlers = new Map();
export function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, []);
  handlers.get(type).push(fn);
}
export function emit(type, msg) {
  for (const fn of handlers.get(type) || []) {
    try { fn(msg); } catch (e) { console.error(e); }
  }
}

export function send(obj) {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(obj));
}

// the settings of the tab in view
export function cfg() { return S.mode === "mnist" ? S.mnistConfig : S.config; }

// change 2-D settings: applied to the page at once (so quick clicks build on each other) and
// sent; the server's echo (or refusal) settles them
export function sendPlayground(values) {
  S.config = Object.assign({}, S.config, values);
  S.inflight += 1;
  send(Object.assign({ type: "config" }, values));
  emit("local-config");
}
