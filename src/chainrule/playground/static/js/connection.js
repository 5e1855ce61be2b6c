// The websocket to the local server: connect, show its state, hand every message to the bus.
import { $ } from "./util.js";
import { S, emit, on } from "./state.js";

let msgTimer = null;
export function showMessage(text, kind, sticky) {
  const el = $("message");
  el.textContent = text;
  el.className = "message" + (kind === "info" ? " info" : "");
  el.hidden = false;
  clearTimeout(msgTimer);
  if (!sticky) msgTimer = setTimeout(() => { el.hidden = true; }, 7000);
}
export function hideMessage() { clearTimeout(msgTimer); $("message").hidden = true; }

function setConn(text, cls) { $("conn-text").textContent = text; $("conn").className = "conn " + cls; }

export function connect() {
  const proto = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(proto + location.host + "/ws");
  S.ws = ws;
  setConn("connecting…", "");
  ws.onopen = () => { S.connected = true; setConn("connected", "ok"); };
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    emit(msg.type, msg);
  };
  ws.onclose = (ev) => {
    S.connected = false; S.running = false; emit("state", { running: false, mode: S.mode });
    setConn("disconnected", "down");
    if (!S.closedByServer) {
      const why = ev.code === 1009 ? "a message was too large" : (ev.reason || "the server went away");
      showMessage("Connection closed (" + why + "). Reload the page to start a new session.", "error", true);
    }
  };
}

on("error", (msg) => {
  showMessage(msg.message, "error");
  if (S.pending) { S.pending.classList.add("bad"); S.pending = null; }
});
on("closing", (msg) => { S.closedByServer = true; showMessage(msg.reason, "info", true); });
