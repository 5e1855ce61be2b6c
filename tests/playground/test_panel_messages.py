"""The teaching panels over the websocket: chain panel and step update, the landscape and its
path, MNIST insides and saliency, lessons; bad requests become messages."""
from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from test_server import TestClient, make_app, opened, recv_until  # noqa: E402

from chainrule.playground import protocol  # noqa: E402


def test_chain_panel_then_step_shows_the_update() -> None:
    with TestClient(make_app()) as c, c.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_json({"type": "chain", "layer": 0, "kind": "weight", "index": [1, 0]})
        chain, _ = recv_until(ws, "chain")
        ex = chain["explanation"]
        assert ex["path_sum"] == pytest.approx(ex["grad"], rel=1e-6) and ex["matches_fd"]
        ws.send_json({"type": "step"})
        after, _ = recv_until(ws, "chain", pred=lambda m: m["update"] is not None)
        up = after["update"]
        assert up["grad"] == pytest.approx(ex["grad"], rel=1e-4)
        assert up["new"] == pytest.approx(up["predicted"], rel=1e-6, abs=1e-9)
        recv_until(ws, "frame")


def test_landscape_grid_and_path_points() -> None:
    with TestClient(make_app()) as c, c.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_json({"type": "landscape", "kind": "random", "seed": 2})
        recv_until(ws, "landscape_pending")
        land, _ = recv_until(ws, "landscape")
        assert len(land["loss"]) == 21 and land["path"][0]["step"] == 0
        ws.send_json({"type": "step"})
        frame, seen = recv_until(ws, "frame")
        pt, _ = recv_until(ws, "landscape_path")
        assert pt["point"]["loss"] == frame["loss_train"] and pt["point"]["step"] == 1


def test_lessons_and_mnist_insides() -> None:
    with TestClient(make_app()) as c, c.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_json({"type": "lessons"})
        lessons, _ = recv_until(ws, "lessons")
        assert len(lessons["lessons"]) >= 7
        ws.send_json({"type": "mnist_insides"})
        err, _ = recv_until(ws, "error")
        assert "MNIST" in err["message"]
        ws.send_json({"type": "mode", "mode": "mnist"})
        recv_until(ws, "state", pred=lambda m: m["mode"] == "mnist")
        ws.send_json({"type": "mnist_insides"})
        ins, _ = recv_until(ws, "mnist_insides")
        assert len(ins["confusion"]) == 10 and ins["filters"]
        ws.send_json({"type": "saliency", "pixels": [0] * 300 + [255] * 100 + [0] * 384,
                      "class": 3})
        sal, _ = recv_until(ws, "saliency")
        assert sal["class"] == 3
        ws.send_json({"type": "mnist_chain", "unit": 1, "pixel": 30})  # tiny digits: 8×8
        mc, _ = recv_until(ws, "mnist_chain")
        assert mc["matches_grad"]


@pytest.mark.parametrize("msg,words", [
    ({"type": "chain", "layer": 0}, "needs"),
    ({"type": "chain", "layer": 0, "kind": "weight", "index": [99, 0]}, "not an element"),
    ({"type": "landscape", "kind": "weights"}, "two weights"),
    ({"type": "landscape", "kind": "random", "keep": 1}, "true or false"),
    ({"type": "saliency", "pixels": [0] * 784, "class": 11}, "class"),
])
def test_bad_panel_requests_are_messages(msg, words) -> None:
    with TestClient(make_app()) as c, c.websocket_connect("/ws") as ws:
        opened(ws)
        ws.send_json(msg)
        err, _ = recv_until(ws, "error")
        assert words in err["message"]
    assert set(protocol.PANEL_FIELDS) <= set(protocol.MESSAGE_TYPES)


def test_the_mnist_landscape_is_computed_in_the_background_while_training_goes_on(
        monkeypatch) -> None:
    import threading

    from chainrule.playground import panels as panels_module

    release = threading.Event()
    real = panels_module.loss_surface

    def held(*args, **kwargs):  # the grid waits until training has been seen to go on
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(panels_module, "loss_surface", held)
    try:
        with TestClient(make_app()) as c, c.websocket_connect("/ws") as ws:
            opened(ws)
            ws.send_json({"type": "mode", "mode": "mnist"})
            recv_until(ws, "state", pred=lambda m: m["mode"] == "mnist")
            ws.send_json({"type": "landscape", "kind": "random", "seed": 1})
            pending, _ = recv_until(ws, "landscape_pending")
            assert pending["mode"] == "mnist"
            ws.send_json({"type": "play"})
            first, _ = recv_until(ws, "mnist_frame", pred=lambda m: m["step"] > 0)
            _, seen = recv_until(ws, "mnist_frame", pred=lambda m: m["step"] > first["step"])
            assert "landscape" not in {m["type"] for m in seen}   # training did not wait
            release.set()
            land, seen = recv_until(ws, "landscape")
            points = [m for m in seen if m["type"] == "landscape_path"]
            ws.send_json({"type": "pause"})
            assert land["mode"] == "mnist" and len(land["loss"]) == 11
            # the path went on being recorded meanwhile: the grid's message carries it
            assert len(land["path"]) >= 1 + len(points) and land["path"][0]["step"] == 0
    finally:
        release.set()
