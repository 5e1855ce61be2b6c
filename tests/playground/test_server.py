"""The web layer: pages, the websocket session, bounds. Uses Starlette's in-process TestClient."""
from __future__ import annotations

import json
import sys
import time
import warnings

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
with warnings.catch_warnings():  # newer Starlette prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient as _TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402
from test_mnist import tiny_digits  # noqa: E402

from chainrule.errors import ConfigError  # noqa: E402
from chainrule.playground import create_app, serve  # noqa: E402
from chainrule.playground.server import LOOPBACK_NAMES, STATIC_DIR, token_cookie  # noqa: E402
from chainrule.playground.toy import ToySession  # noqa: E402

TESTIDS = ["train-toggle", "step-button", "reset-button", "step-counter", "loss-train", "loss-test",
           "boundary", "network", "loss-chart", "grad-norms", "dataset-select", "lr-input",
           "activation-select", "draw-pad", "prediction"]


def small_session():
    return ToySession({"n_points": 100, "seed": 1})


def TestClient(app, **kw):
    """A client holding the launch token's cookie, as a browser that opened the printed address does."""
    return _TestClient(app, cookies={token_cookie(app.state.token): app.state.token}, **kw)


def make_app(**kw):
    kw.setdefault("playground_factory", small_session)
    kw.setdefault("digits_loader", tiny_digits)
    return create_app(**kw)


@pytest.fixture
def client():
    with TestClient(make_app()) as c:
        yield c


def recv_until(ws, kind, limit=500, pred=lambda m: True):
    """Messages up to and including the first of type ``kind`` that satisfies ``pred``."""
    seen = []
    for _ in range(limit):
        m = ws.receive_json()
        seen.append(m)
        if m["type"] == kind and pred(m):
            return m, seen
    kinds = sorted({s["type"] for s in seen})
    raise AssertionError(f"no {kind!r} message in {limit}; saw types {kinds}")


def opened(ws):
    """Read the greeting: hello, data, first frame, state."""
    hello = ws.receive_json()
    assert hello["type"] == "hello"
    data = ws.receive_json()
    frame = ws.receive_json()
    state = ws.receive_json()
    assert (data["type"], frame["type"], state["type"]) == ("data", "frame", "state")
    return hello, data, frame, state


def test_page_and_static_files_are_served(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for tid in TESTIDS:
        assert f'data-testid="{tid}"' in r.text, tid
    assert "Content-Security-Policy" in r.headers
    assert "http://" not in r.text and "https://" not in r.text.replace("http://www.w3.org", "")
    for name in ("app.js", "style.css", "js/state.js", "js/network.js"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and len(r.text) > 500
    assert client.get("/static/nope.js").status_code == 404
    assert client.get("/static/../server.py").status_code == 404


def test_no_network_resources_in_the_static_files():
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert len(files) > 3
    for path in files:
        text = path.read_text()
        for needle in ("cdn", "googleapis", "unpkg", "jsdelivr", "@import"):
            assert needle not in text.lower(), (path.name, needle)
        assert "https://" not in text
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")


def test_healthz(client):
    r = client.get("/healthz").json()
    assert r == {"ok": True, "sessions": 0, "max_sessions": 32, "opened": 0, "refused": 0}


def test_greeting_describes_the_session(client):
    with client.websocket_connect("/ws") as ws:
        hello, data, frame, state = opened(ws)
        assert hello["limits"]["hidden_layers"] == [0, 6] and hello["limits"]["neurons"] == [1, 8]
        assert hello["config"]["dataset"] == "circle" and hello["max_fps"] == 20
        assert len(data["train"]) + len(data["test"]) == 100
        assert frame["step"] == 0 and state == {"type": "state", "running": False, "mode": "playground"}
        assert client.get("/healthz").json()["sessions"] == 1
    # the session is gone once its page is
    for _ in range(50):
        if client.get("/healthz").json()["sessions"] == 0:
            break
    assert client.get("/healthz").json()["sessions"] == 0


def test_play_streams_frames_until_pause(client):
    with client.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_text('{"type":"play"}')
        recv_until(ws, "state", pred=lambda m: m["running"])
        steps = [recv_until(ws, "frame")[0]["step"] for _ in range(4)]
        assert steps == sorted(steps) and steps[-1] > steps[0] > 0
        ws.send_text('{"type":"pause"}')
        recv_until(ws, "state", pred=lambda m: not m["running"])
        ws.send_text('{"type":"ping"}')
        _, between = recv_until(ws, "pong")
        assert [m["type"] for m in between] == ["pong"]  # paused: no more frames


def test_step_and_reset(client):
    with client.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_text('{"type":"step"}')
        f, _ = recv_until(ws, "frame")
        assert f["step"] == 1 and any(g for g in f["grad_norms"])
        ws.send_text('{"type":"step"}')
        assert recv_until(ws, "frame")[0]["step"] == 2
        ws.send_text('{"type":"reset"}')
        f2, _ = recv_until(ws, "frame")
        assert f2["step"] == 0 and f2["run"] == f["run"] + 1


def test_config_changes_are_echoed(client):
    with client.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_text(json.dumps({"type": "config", "lr": 0.05}))
        c, _ = recv_until(ws, "config")
        assert c["config"]["lr"] == 0.05 and c["rebuilt"] == "optimizer"
        recv_until(ws, "frame")
        ws.send_text(json.dumps({"type": "config", "dataset": "spiral", "hidden": [8, 8, 8]}))
        c, seen = recv_until(ws, "frame")
        types = [m["type"] for m in seen]
        assert types == ["config", "data", "frame"]
        assert seen[0]["config"]["hidden"] == [8, 8, 8]
        assert [len(x) for x in c["neurons"]] == [8, 8, 8]


@pytest.mark.parametrize("raw,words", [
    ('{"type":"config","lr":-1}', "learning rate must be a number in (0, 10], got -1"),
    ('{"type":"config","hidden":[4,4,4,4,4,4,4]}', "at most 6 hidden layers"),
    ('{"type":"config","hidden":[100]}', "from 1 to 8 neurons"),
    ('{"type":"config","batch_size":100000}', "batch size"),
    ('{"type":"config","noise":9}', "noise"),
    ("definitely not json", "not valid JSON"),
    ('{"type":"format_disk"}', "unknown message type"),
    ("[]", "JSON object"),
])
def test_bad_messages_get_a_message_and_the_session_lives_on(client, raw, words):
    with client.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_text(raw)
        err = ws.receive_json()
        assert err["type"] == "error" and words in err["message"]
        ws.send_text('{"type":"step"}')
        assert recv_until(ws, "frame")[0]["step"] == 1


def test_oversized_and_binary_messages_are_refused(client):
    with client.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_text(json.dumps({"type": "config", "dataset": "x" * 20000}))
        err = ws.receive_json()
        assert err["type"] == "error" and "too large" in err["message"]
        ws.send_bytes(b"\x00\x01binary")
        err = ws.receive_json()
        assert err["type"] == "error" and "binary" in err["message"]
        ws.send_text('{"type":"ping"}')
        assert ws.receive_json() == {"type": "pong"}


def test_a_flood_of_messages_is_bounded():
    with TestClient(make_app(inbox_size=2)) as c, c.websocket_connect("/ws") as ws:
        opened(ws)
        for _ in range(60):
            ws.send_text('{"type":"ping"}')
        kinds = [ws.receive_json()["type"] for _ in range(60)]
        assert set(kinds) <= {"pong", "error"} and "pong" in kinds


def test_concurrent_session_limit():
    with TestClient(make_app(max_sessions=1)) as c:
        with c.websocket_connect("/ws") as first:
            opened(first)
            with c.websocket_connect("/ws") as second:
                err = second.receive_json()
                assert err["type"] == "error" and "full" in err["message"]
                with pytest.raises(WebSocketDisconnect) as info:
                    second.receive_json()
                assert info.value.code == 1013
            assert c.get("/healthz").json()["refused"] == 1
            first.send_text('{"type":"ping"}')
            assert first.receive_json() == {"type": "pong"}


def test_idle_sessions_are_closed():
    with TestClient(make_app(idle_timeout=0.3)) as c, c.websocket_connect("/ws") as ws:
        opened(ws)
        m = ws.receive_json()
        assert m["type"] == "closing" and "without input" in m["reason"]
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()


def test_cross_origin_pages_are_refused(client):
    with pytest.raises(WebSocketDisconnect) as info:
        with client.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()
    assert info.value.code == 1008
    with client.websocket_connect("/ws", headers={"origin": "http://testserver"}) as ws:
        opened(ws)


def test_divergence_pauses_with_advice():
    class Diverging(ToySession):
        def _train(self, n):
            super()._train(n)
            self.last_loss = float("nan") if self.steps > 3 else self.last_loss

    with TestClient(make_app(playground_factory=lambda: Diverging({"n_points": 100}))) as c, \
            c.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_text('{"type":"play"}')
        err, _ = recv_until(ws, "error", limit=50)
        assert "diverged" in err["message"] and "lower the learning rate" in err["message"]
        recv_until(ws, "state", pred=lambda m: not m["running"], limit=50)


def test_engine_failures_become_messages_not_crashes():
    class Broken(ToySession):
        def step(self, n=1):
            raise RuntimeError("boom")

    with TestClient(make_app(playground_factory=lambda: Broken({"n_points": 100}))) as c, \
            c.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_text('{"type":"step"}')
        err, _ = recv_until(ws, "error")
        assert "internal error" in err["message"] and "boom" in err["message"]
        ws.send_text('{"type":"ping"}')
        recv_until(ws, "pong")


def test_mnist_mode_trains_and_predicts(client):
    with client.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_text('{"type":"predict","pixels":' + json.dumps([0] * 784) + "}")
        status, seen = recv_until(ws, "mnist_status", pred=lambda m: not m["loading"])
        assert status["source"] == "tiny test digits" and status["side"] == 8
        recv_until(ws, "prediction")
        ws.send_text('{"type":"mode","mode":"mnist"}')
        recv_until(ws, "state", pred=lambda m: m["mode"] == "mnist")
        ws.send_text(json.dumps({"type": "mnist_config", "hidden": [32], "lr": 0.01}))
        c, _ = recv_until(ws, "mnist_config")
        assert c["config"]["hidden"] == [32]
        ws.send_text('{"type":"play"}')
        f, _ = recv_until(ws, "mnist_frame", pred=lambda m: m["step"] >= 30)
        ws.send_text('{"type":"pause"}')
        recv_until(ws, "state", pred=lambda m: not m["running"])
        px = [0] * 784
        for r in range(4, 24):
            px[r * 28 + 14] = 255
        ws.send_text(json.dumps({"type": "predict", "pixels": px}))
        p, _ = recv_until(ws, "prediction")
        assert len(p["probs"]) == 10 and 0 <= p["label"] <= 9
        ws.send_text(json.dumps({"type": "mnist_config", "hidden": [1000]}))
        err, _ = recv_until(ws, "error")
        assert "512" in err["message"]


def test_serve_explains_a_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ConfigError, match=r"pip install 'chainrule\[playground\]'"):
        serve(open_browser=False)


def test_serve_refuses_a_busy_port_and_bad_arguments(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        with pytest.raises(ConfigError, match="cannot listen on 127.0.0.1"):
            serve(port=s.getsockname()[1], open_browser=False)
    finally:
        s.close()
    with pytest.raises(ConfigError, match="port"):
        serve(port=70000, open_browser=False)
    with pytest.raises(ConfigError, match="not a directory"):
        serve(port=0, open_browser=False, data_dir=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="max_fps"):
        create_app(max_fps=60)


def test_only_loopback_host_names_when_asked():
    with TestClient(make_app(allowed_hosts=LOOPBACK_NAMES), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/").status_code == 200
        assert c.get("/", headers={"host": "localhost:8000"}).status_code == 200
        assert c.get("/", headers={"host": "[::1]:8000"}).status_code == 200
        assert c.get("/", headers={"host": "rebind.example:8000"}).status_code == 400
        assert c.get("/healthz", headers={"host": "rebind.example"}).status_code == 400
        with pytest.raises(WebSocketDisconnect) as info:
            with c.websocket_connect("/ws", headers={"host": "rebind.example:8000",
                                                     "origin": "http://rebind.example:8000"}) as ws:
                ws.receive_json()
        assert info.value.code == 1008
        with c.websocket_connect("/ws", headers={"host": "127.0.0.1:8000"}) as ws:
            opened(ws)
        assert c.get("/static/app.js", headers={"host": "rebind.example:8000"}).status_code == 400
        assert c.get("/static/app.js", headers={"host": "localhost:8000"}).status_code == 200


def test_the_page_and_the_socket_need_the_launch_token():
    with _TestClient(make_app(token="s3cret")) as c:  # no cookie: another local process
        assert c.get("/").status_code == 403
        assert c.get("/?token=wrong").status_code == 403
        for path in ("/ws", "/ws?token=wrong"):
            with pytest.raises(WebSocketDisconnect) as info:
                with c.websocket_connect(path) as ws:
                    ws.receive_json()
            assert info.value.code == 1008
        with c.websocket_connect("/ws?token=s3cret") as ws:
            opened(ws)
        page = c.get("/?token=s3cret")  # the printed address: the page sets the cookie its socket sends
        assert page.status_code == 200
        assert token_cookie("s3cret") in page.headers["set-cookie"]
        assert "httponly" in page.headers["set-cookie"].lower()
        with c.websocket_connect("/ws") as ws:
            opened(ws)


def test_each_launch_has_its_own_random_token():
    a, b = create_app().state.token, create_app().state.token
    assert a != b and len(a) >= 24


def test_one_client_may_not_hold_every_session():
    with TestClient(make_app(max_sessions=4, max_sessions_per_client=2)) as c:
        with c.websocket_connect("/ws") as first, c.websocket_connect("/ws") as second:
            opened(first)
            opened(second)
            with c.websocket_connect("/ws") as third:
                msg = third.receive_json()
                assert msg["type"] == "error" and "one client may hold 2 sessions" in msg["message"]
        with c.websocket_connect("/ws") as again:  # closing tabs gives the slots back
            opened(again)
        assert c.get("/healthz").json()["sessions"] <= 1


def test_frames_answering_a_control_count_against_the_frame_rate():
    # a hand-moved clock: the frame clock's slots are 50 ms apart at 20 frames a second
    now = [0.0]
    with TestClient(make_app(clock=lambda: now[0])) as c, c.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_text('{"type":"play"}')
        recv_until(ws, "frame")                      # the first training frame takes the slot at 0
        ws.send_text('{"type":"config","lr":0.2}')
        recv_until(ws, "frame")                      # the answer takes the next slot, at 50 ms
        now[0] = 0.075                               # past the first slot's end, before the answer's
        time.sleep(0.3)                              # the server's loop wakes several times meanwhile
        ws.send_text('{"type":"ping"}')
        _, between = recv_until(ws, "pong")
        assert [m["type"] for m in between] == ["pong"]
        now[0] = 0.1                                 # the answer's slot has ended: training resumes
        assert recv_until(ws, "frame")[0]["step"] > 0


def test_a_slow_answer_while_training_is_not_cut_off_by_the_frame_timer():
    # the frame clock stands still after the first frame, so the server waits between frames
    # (50 ms at 20 frames a second) with messages arriving inside that wait; a control message
    # whose answer takes longer than the wait must still be answered
    class SlowToConfigure(ToySession):
        def configure(self, **values):
            time.sleep(0.3)
            return super().configure(**values)

    now = [0.0]
    with TestClient(make_app(clock=lambda: now[0],
                             playground_factory=lambda: SlowToConfigure({"n_points": 100}))) as c, \
            c.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_text('{"type":"play"}')
        recv_until(ws, "frame")
        time.sleep(0.1)                              # the server is now inside a frame wait
        ws.send_text('{"type":"config","lr":0.2}')
        ws.send_text('{"type":"pause"}')             # handled after the config, in order
        _, between = recv_until(ws, "state", pred=lambda m: not m["running"])
        echoes = [m for m in between if m["type"] == "config"]
        assert [m["config"]["lr"] for m in echoes] == [0.2], [m["type"] for m in between]
