"""The playground's web server: a Starlette app that streams training frames over websockets.

Each websocket is one session (one browser tab). Training runs in worker threads, a few steps
at a time, so the event loop stays free to serve other tabs; frames go out at most
``max_fps`` times a second. Every message from the page passes ``protocol.parse_message``
and a bad one gets ``{"type": "error", "message": ...}`` back, never a server error.

Starlette and uvicorn are imported only inside :func:`create_app` and :func:`serve`, so
``import chainrule.playground`` works without the ``playground`` extra.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ChainruleError, ConfigError
from . import protocol
from .digits import DigitData, load_digits
from .manager import SessionManager
from .mnist import MnistSession
from .panels import Panels
from .protocol import ProtocolError
from .session import FrameClock, Session
from .toy import ToySession

log = logging.getLogger("chainrule.playground")

STATIC_DIR = Path(__file__).resolve().parent / "static"
EXTRA_MESSAGE = "the playground needs the 'playground' extra: pip install 'chainrule[playground]'"

DEFAULTS: dict[str, Any] = {
    "max_sessions": 32,
    "max_sessions_per_client": 8,  # one remote address may not take every session
    "idle_timeout": 600.0,
    "max_fps": protocol.MAX_FPS,
    "max_message_bytes": protocol.MAX_MESSAGE_BYTES,
    "tick_budget": 0.15,      # seconds of training per frame at most, whatever steps_per_frame says
    "inbox_size": 64,         # messages waiting to be handled; more are refused
    "train_threads": 2,       # sessions training at once (NumPy work; the GIL does the rest)
    "control_threads": 2,     # threads for settings, resets and predictions, never queued behind training
}


class _Closed(Exception):
    """The page went away; stop quietly."""


class Connection:
    """One page's session: reads its messages, trains, and sends frames.

    Independent of Starlette: it needs ``receive()`` returning ASGI websocket events,
    ``send_text(str)`` and ``close(code, reason)``, all awaitable.
    """

    def __init__(self, sid: str, receive: Callable, send_text: Callable, close: Callable, *,
                 manager: SessionManager, limiters: dict, options: dict,
                 factories: dict[str, Callable[[], Session]], clock: Callable[[], float] = time.monotonic):
        import anyio

        self.sid = sid
        self._receive = receive
        self._send_text = send_text
        self._close = close
        self.manager = manager
        self.limiters = limiters
        self._waiting: Any = None  # cancel scope of a tick waiting for a training slot
        self._tasks: Any = None    # the connection's task group, for background jobs
        self.opt = options
        self.clock = clock
        self.frames = FrameClock(options["max_fps"], clock)
        self.factories = factories          # mode -> how its session is made
        self.sessions: dict[str, Session] = {}
        self.panels: dict[str, Panels] = {}  # mode -> its teaching panels, once one is opened
        self.mode = protocol.MODES[0]
        self.running = False
        self.frames_sent = 0
        self._last_eval = -math.inf
        self._send_lock = anyio.Lock()
        streams: Any = anyio.create_memory_object_stream(options["inbox_size"])
        self._inbox_send, self._inbox = streams
        self.closed = False

    # ---- sending ---------------------------------------------------------------------------
    async def send(self, msg: dict) -> None:
        if self.closed:
            raise _Closed
        text = protocol.encode(msg)
        async with self._send_lock:
            try:
                await self._send_text(text)
            except Exception as exc:  # the socket is gone (disconnect, reset, closed)
                self.closed = True
                raise _Closed from exc

    async def error(self, message: str) -> None:
        await self.send(protocol.error(message))

    async def _thread(self, fn: Callable, *args, **kwargs):
        import anyio

        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs), limiter=self.limiters["control"])

    # ---- the two tasks ---------------------------------------------------------------------------
    async def run(self) -> None:
        import anyio

        ends = (_Closed, anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError)
        try:
            first = await self._thread(self.factories[self.mode])
            self.sessions[self.mode] = first
            await self.send({"type": "hello", "session": self.sid, "limits": self._limits(),
                             "config": first.config, "max_fps": self.opt["max_fps"]})
            for msg in await self._thread(first.opening):
                await self.send(msg)
            await self._send_state()
            async with anyio.create_task_group() as tg:
                self._tasks = tg                 # background jobs (the landscape grid) join it
                tg.start_soon(self._reader)
                try:
                    await self._main()
                except ends:
                    pass
                finally:
                    tg.cancel_scope.cancel()
        except ends:
            pass
        finally:
            self.closed = True
            self.manager.close(self.sid)

    async def _reader(self) -> None:
        import anyio

        try:
            while True:
                event = await self._receive()
                kind = event.get("type")
                if kind == "websocket.disconnect":
                    break
                if kind != "websocket.receive":
                    continue
                self.manager.touch(self.sid)
                raw = event.get("text")
                if raw is None:
                    raw = event.get("bytes")
                try:
                    msg = protocol.parse_message(raw, self.opt["max_message_bytes"])
                except ProtocolError as exc:
                    await self.error(str(exc))
                    continue
                if msg["type"] == "ping":  # answered at once: it measures the server, not the queue
                    await self.send({"type": "pong"})
                    continue
                try:
                    self._inbox_send.send_nowait(msg)
                except anyio.WouldBlock:
                    await self.error("too many messages at once; this one was dropped")
                    continue
                if self._waiting is not None:  # let the message go before a tick still queued
                    self._waiting.cancel()
        except _Closed:
            pass
        except Exception:  # a broken socket ends the session, quietly
            pass
        finally:
            self.closed = True
            self._inbox_send.close()

    async def _main(self) -> None:
        import anyio

        while not self.closed:
            while True:  # everything already waiting, in order
                try:
                    msg = self._inbox.receive_nowait()
                except anyio.WouldBlock:
                    break
                await self._handle(msg)
            if self.manager.is_idle(self.sid):
                minutes = self.manager.idle_timeout / 60
                await self.send({"type": "closing", "reason":
                                 f"session closed after {minutes:g} minutes without input; "
                                 "reload the page to start again"})
                self.closed = True
                await self._close(1000, "idle")
                return
            if self.running and self.frames.wait_time() <= 0:
                await self._tick()
                continue
            if self.running:
                wait = self.frames.wait_time()
            else:
                wait = min(self.manager.time_left(self.sid) + 0.01, 5.0)
            # only the waiting is bounded: a message that arrives is handled outside the timer,
            # or a slow answer (a landscape request while training runs) would be cancelled
            # half-way at the next frame's time and its reply never sent
            msg = None
            with anyio.move_on_after(wait):
                msg = await self._inbox.receive()
            if msg is not None:
                await self._handle(msg)

    # ---- what messages do --------------------------------------------------------------------
    async def _handle(self, msg: dict) -> None:
        try:
            await self._dispatch(msg)
        except _Closed:
            raise
        except ChainruleError as exc:
            await self.error(str(exc))
        except Exception as exc:  # an engine bug must not take the page down with it
            log.exception("playground: %s failed", msg.get("type"))
            self.running = False
            await self.error(f"internal error while handling '{msg.get('type')}': "
                             f"{type(exc).__name__}: {exc}")
            await self._send_state()

    async def _dispatch(self, msg: dict) -> None:
        kind = msg["type"]
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "mode":
            self.running = False
            self.mode = msg["mode"]
            await self._session(self.mode)
            await self._send_state()
        elif kind == "play":
            await self._session(self.mode)
            self.running = True
            await self._send_state()
        elif kind == "pause":
            self.running = False
            await self._send_state()
        elif kind == "step":
            self.running = False
            await self._send_state()
            sess = await self._session(self.mode)
            panels = self.panels.get(self.mode)
            old = panels.value() if panels else None
            await self._thread(sess.step, 1)
            if panels is not None:  # the chain panel shows w ← w − α·∂L/∂w for this step
                shown = await self._thread(panels.after_step, old, 1)
                if shown:
                    await self.send(shown)
            await self._send_frame(force_eval=True)
        elif kind in protocol.PANEL_FIELDS:
            sess = await self._session(self.mode)
            panels = self.panels.setdefault(self.mode, Panels(sess))
            replies, job = await self._thread(panels.answer, msg)
            for reply in replies:
                await self.send(reply)
            if job is not None:  # the landscape grid: seconds of forward passes, in a thread,
                self._tasks.start_soon(self._background, job)   # while training goes on
        elif kind == "reset":
            sess = await self._session(self.mode)
            await self._thread(sess.restart)
            await self.send({"type": sess.config_message, "config": sess.config, "rebuilt": "network"})
            await self._send_frame(force_eval=True)
        elif kind in protocol.CONFIG_MESSAGES:
            sess = await self._session(protocol.CONFIG_MESSAGES[kind])
            values = {k: v for k, v in msg.items() if k != "type"}
            what = await self._thread(sess.configure, **values)
            await self.send({"type": kind, "config": sess.config, "rebuilt": what})
            for extra in await self._thread(sess.after_configure, what):
                await self.send(extra)
            await self._frame_out(await self._thread(sess.frame, True))
        elif kind == "predict":
            digits = await self._session(MnistSession.mode)
            assert isinstance(digits, MnistSession)
            await self.send(await self._thread(digits.predict, msg["pixels"]))
        elif kind == "set":
            toy = await self._session(ToySession.mode)
            assert isinstance(toy, ToySession)
            await self._thread(toy.set_parameter, msg["layer"], msg["row"], msg["col"], msg["value"])
            await self._frame_out(await self._thread(toy.frame, True))

    async def _background(self, job: Callable[[], dict | None]) -> None:
        """Run a slow panel job in a worker thread and send its message (None: nothing), with
        the errors a message handler would report; training and messages go on meanwhile."""
        try:
            try:
                msg = await self._thread(job)
            except ChainruleError as exc:
                msg = protocol.error(str(exc))
            except Exception as exc:  # an engine bug must not take the page down with it
                log.exception("playground: a background job failed")
                msg = protocol.error(f"internal error in a background job: {type(exc).__name__}: {exc}")
            if msg is not None:
                await self.send(msg)
        except _Closed:  # the page went away meanwhile
            pass

    async def _session(self, mode: str) -> Session:
        """The session behind ``mode``, made (and announced to the page) on first use."""
        sess = self.sessions.get(mode)
        if sess is None:
            make = self.factories[mode]
            notice = getattr(make, "loading", lambda: None)()
            if notice:
                await self.send(notice)
            sess = await self._thread(make)
            self.sessions[mode] = sess
            for msg in await self._thread(sess.opening):
                await self.send(msg)
        return sess

    async def _send_state(self) -> None:
        await self.send({"type": "state", "running": self.running, "mode": self.mode})

    def _evaluate_now(self, force: bool = False) -> bool:
        """Whether this frame scores held-out data (at most once a second unless forced)."""
        now = self.clock()
        if force or now - self._last_eval >= 1.0:
            self._last_eval = now
            return True
        return False

    async def _send_frame(self, force_eval: bool = False) -> None:
        sess = self.sessions[self.mode]
        frame = await self._thread(sess.frame, self._evaluate_now(force_eval))
        await self._frame_out(frame)
        await self._panel_extras(frame)

    async def _frame_out(self, frame: dict) -> None:
        """Send a frame and count it against the rate cap: every frame, training or the answer
        to a control, takes a slot of the frame clock, so no mix of both exceeds ``max_fps``."""
        await self.send(frame)
        self.frames.sent()
        self.frames_sent += 1

    async def _panel_extras(self, frame: dict) -> None:
        """What open panels add to a frame: the path point, a refreshed chain panel."""
        panels = self.panels.get(self.mode)
        if panels is not None:
            for msg in await self._thread(panels.on_frame, frame):
                await self.send(msg)

    async def _tick(self) -> None:
        import anyio

        sess = self.sessions[self.mode]
        slots = self.limiters["train"]
        with anyio.CancelScope() as waiting:
            self._waiting = waiting
            await slots.acquire()
        self._waiting = None
        if waiting.cancelled_caught:  # a message came in while this tick queued: handle it first
            return
        try:
            loss, frame = await anyio.to_thread.run_sync(sess.advance, self.opt["tick_budget"],
                                                         self._evaluate_now(),
                                                         limiter=self.limiters["run"])
        except ChainruleError as exc:  # the session refuses to train (e.g. its weights are NaN)
            self.running = False
            await self.error(str(exc))
            await self._send_state()
            return
        finally:
            slots.release()
        await self._frame_out(frame)
        await self._panel_extras(frame)
        if (loss is not None and not math.isfinite(loss)) or frame.get("diverged"):
            self.running = False
            await self.error("training diverged (the loss is not a finite number), so it stopped: "
                             "lower the learning rate and press reset")
            await self._send_state()

    def _limits(self) -> dict:
        return {**protocol.limits(), "max_message_bytes": self.opt["max_message_bytes"],
                "idle_timeout": self.opt["idle_timeout"], "max_fps": self.opt["max_fps"]}


class _Factory:
    """A session maker with the notice to show while it works (``loading()``)."""

    def __init__(self, make: Callable[[], Session], loading: Callable[[], dict | None]):
        self.make = make
        self.loading = loading

    def __call__(self) -> Session:
        return self.make()


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _host_ok(headers, allowed: frozenset | None) -> bool:
    """With ``allowed`` set, the Host header must name one of them (no DNS rebinding)."""
    if allowed is None:
        return True
    host = headers.get("host", "").strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in allowed


def _origin_ok(headers) -> bool:
    """Refuse pages from other sites (a web page may not drive a local playground)."""
    origin = headers.get("origin")
    if not origin:
        return True  # not a browser: scripts and tests
    host = headers.get("host", "")
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


def token_cookie(token: str) -> str:
    """The cookie name that carries ``token`` (one per launch, so two servers on one host don't clash)."""
    return "chainrule_playground_" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _token_ok(conn, token: str) -> bool:
    """The launch token, from ``?token=`` or the cookie the page set, compared in constant time."""
    given = conn.query_params.get("token") or conn.cookies.get(token_cookie(token)) or ""
    return hmac.compare_digest(given.encode(), token.encode())


class _HostGuard:
    """ASGI middleware: every request, ``/static/*`` included, must name an allowed host."""

    def __init__(self, app, allowed_hosts: frozenset | None):
        self.app = app
        self.allowed = allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and self.allowed is not None:
            from starlette.datastructures import Headers
            from starlette.responses import PlainTextResponse

            if not _host_ok(Headers(scope=scope), self.allowed):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008, "reason": "unknown host name"})
                else:
                    await PlainTextResponse("unknown host name; open the playground at the address it printed",
                                            status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(data_dir: str | None = None, *, max_sessions: int = DEFAULTS["max_sessions"],
               idle_timeout: float = DEFAULTS["idle_timeout"], max_fps: float = DEFAULTS["max_fps"],
               max_message_bytes: int = DEFAULTS["max_message_bytes"],
               tick_budget: float = DEFAULTS["tick_budget"], inbox_size: int = DEFAULTS["inbox_size"],
               train_threads: int = DEFAULTS["train_threads"],
               control_threads: int = DEFAULTS["control_threads"],
               allowed_hosts: frozenset | None = None, token: str | None = None,
               max_sessions_per_client: int = DEFAULTS["max_sessions_per_client"],
               playground_factory: Callable[[], Session] | None = None,
               digits_loader: Callable[[], DigitData] | None = None,
               clock: Callable[[], float] = time.monotonic):
    """The Starlette application: the page at ``/``, its files at ``/static``, sessions at ``/ws``.

    ``allowed_hosts``: host names the Host header may carry, checked on every route (``serve``
    passes the loopback names when it binds to loopback, so a rebinding web site cannot reach
    the server). ``token``: the secret the page and the socket require, as ``?token=`` or the
    cookie the page sets (None: a fresh random one, in ``app.state.token``), so another local
    process or a page elsewhere cannot open sessions. One remote address holds at most
    ``max_sessions_per_client`` sessions.
    ``playground_factory`` and ``digits_loader`` replace how sessions and MNIST data are made
    (tests use small ones); ``clock`` drives idle timeouts and frame pacing.
    """
    try:
        import anyio
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.responses import FileResponse, JSONResponse, PlainTextResponse
        from starlette.routing import Mount, Route, WebSocketRoute
        from starlette.staticfiles import StaticFiles
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(EXTRA_MESSAGE) from exc

    if not 0 < max_fps <= protocol.MAX_FPS:
        raise ConfigError(f"max_fps must be in (0, {protocol.MAX_FPS:g}], got {max_fps}")
    options = {"max_fps": float(max_fps), "max_message_bytes": int(max_message_bytes),
               "tick_budget": float(tick_budget), "inbox_size": int(inbox_size),
               "idle_timeout": float(idle_timeout)}
    manager = SessionManager(max_sessions, idle_timeout, clock)
    token = token or secrets.token_urlsafe(24)
    per_client: dict[str, int] = {}  # remote address -> open sessions
    state: dict = {"limiters": None}
    load = digits_loader or (lambda: load_digits(data_dir))
    factories: dict[str, Callable[[], Session]] = {ToySession.mode: playground_factory or ToySession,
                 MnistSession.mode: _Factory(lambda: MnistSession(load()), MnistSession.loading)}

    def limiters():
        if state["limiters"] is None:  # made inside the running event loop
            state["limiters"] = {
                "train": anyio.CapacityLimiter(train_threads),      # slots, taken before a tick
                "run": anyio.CapacityLimiter(train_threads + 2),    # the threads ticks run in
                "control": anyio.CapacityLimiter(control_threads),
            }
        return state["limiters"]

    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                                   "connect-src 'self'; frame-ancestors 'none'",
    }

    async def index(request):
        if not _token_ok(request, token):
            return PlainTextResponse("open the playground at the address it printed (with its ?token=)",
                                     status_code=403)
        page = FileResponse(STATIC_DIR / "index.html", headers=headers)
        page.set_cookie(token_cookie(token), token, httponly=True, samesite="strict")
        return page

    async def healthz(request):
        return JSONResponse({"ok": True, "sessions": len(manager), "max_sessions": manager.max_sessions,
                             "opened": manager.opened, "refused": manager.refused})

    async def ws_endpoint(websocket):
        if not _origin_ok(websocket.headers):
            await websocket.close(code=1008, reason="cross-origin connections are not allowed")
            return
        if not _token_ok(websocket, token):
            await websocket.close(code=1008, reason="missing or wrong token; open the address the server printed")
            return
        await websocket.accept()
        client = websocket.client.host if websocket.client else "?"
        sid = manager.open() if per_client.get(client, 0) < max_sessions_per_client else None
        if sid is None:
            await websocket.send_text(protocol.encode(protocol.error(
                f"the playground is full ({manager.max_sessions} sessions are open); "
                "close another tab or try again later" if len(manager) >= manager.max_sessions
                else f"one client may hold {max_sessions_per_client} sessions at once and this one "
                "holds them all; close one of its tabs")))
            await websocket.close(code=1013, reason="too many sessions")
            return
        per_client[client] = per_client.get(client, 0) + 1

        async def close(code, reason):
            try:
                await websocket.close(code=code, reason=reason)
            except Exception:
                pass

        conn = Connection(sid, websocket.receive, websocket.send_text, close, manager=manager,
                          limiters=limiters(), options=options, factories=factories, clock=clock)
        try:
            await conn.run()
        finally:
            manager.close(sid)
            per_client[client] -= 1
            if not per_client[client]:
                del per_client[client]
            if not conn.closed:
                await close(1000, "bye")

    async def not_found(request, exc):
        return PlainTextResponse("not found", status_code=404)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            WebSocketRoute("/ws", ws_endpoint),
            Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
        ],
        exception_handlers={404: not_found},
        middleware=[Middleware(_HostGuard, allowed_hosts=allowed_hosts)],
    )
    app.state.manager = manager
    app.state.token = token
    return app


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                          "choose another with --port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True,
          data_dir: str | None = None, **options) -> None:
    """Run the playground until Ctrl+C: ``chainrule playground`` calls this.

    Binds to ``host`` (loopback unless told otherwise), prints the page's address with this
    launch's random token (nothing opens a session without it), opens it in the default browser
    unless ``open_browser`` is false, and trains MNIST from ``data_dir`` (or the cache; the
    bundled digits when neither has it). ``options`` go to :func:`create_app`.
    """
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
        import websockets  # noqa: F401
    except ImportError:
        raise ConfigError(EXTRA_MESSAGE) from None
    import uvicorn

    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port must be a whole number from 0 to 65535, got {port!r}")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ConfigError(f"--data-dir {data_dir!r} is not a directory")
    if host in LOOPBACK_NAMES:
        options.setdefault("allowed_hosts", LOOPBACK_NAMES)
    app = create_app(data_dir=data_dir, **options)
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    shown = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/?token={app.state.token}"
    print(f"chainrule playground: {url}  (Ctrl+C to stop)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}, so other machines can reach this server", file=sys.stderr)
    config = uvicorn.Config(app, log_level="warning", ws_max_size=1 << 20, ws_ping_interval=20,
                            ws_ping_timeout=20, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    if open_browser:
        def _open():
            for _ in range(100):
                if server.started:
                    break
                time.sleep(0.05)
            try:
                webbrowser.open(url)
            except Exception:
                pass
        threading.Thread(target=_open, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
