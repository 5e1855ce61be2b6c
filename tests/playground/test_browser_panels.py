"""The teaching panels in real Chromium: the chain rule read off the page equals the engine's
gradient, Step shows the update, the error mountain's drawn path carries the training losses,
the MNIST insides render, and a lesson sets the network up.

Set ``CHAINRULE_PANEL_SHOTS=folder`` to keep screenshots of each view (1400 px and 390 px).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from test_browser import ARGS, CHROMIUM, browser, page, server_url, sync_api  # noqa: F401  (fixtures)
from test_landscape import FULL_BATCH, PATH_STEPS, RUNS, check_optimizer_paths, path_measures

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("CHAINRULE_PANEL_SHOTS")


def _shot(pg, name: str, selector: str | None = None) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    target = pg.locator(selector) if selector else pg
    target.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def _listen(pg, kinds: tuple[str, ...]) -> list[dict]:
    """The server's messages of these types, in order, from the page's next websocket on."""
    got: list[dict] = []

    def on_ws(ws):
        def received(payload):
            try:
                m = json.loads(payload)
            except (TypeError, ValueError):
                return
            if isinstance(m, dict) and m.get("type") in kinds:
                got.append(m)
        ws.on("framereceived", received)

    pg.on("websocket", on_ws)
    return got


def _values(pg, testid: str) -> list[float]:
    return [float(v) for v in pg.eval_on_selector_all(
        f'[data-testid="{testid}"]', "els => els.map(e => e.dataset.value)")]


def test_chain_panel_numbers_equal_the_engine_gradient(page) -> None:  # noqa: F811
    pg = page
    # a first-layer weight on the next minibatch: the sum over paths and over the batch's
    # examples is the engine's gradient
    pg.locator('#network path[data-l="0"]').nth(1).click(force=True)
    pg.wait_for_function("document.querySelectorAll('[data-testid=chain-share]').length > 1",
                         timeout=20000)
    (grad,) = _values(pg, "chain-grad")
    (total,) = _values(pg, "chain-sum")
    assert total == pytest.approx(grad, rel=1e-6)
    assert math.fsum(_values(pg, "chain-share")) == pytest.approx(grad, rel=1e-6)
    (fd,) = _values(pg, "chain-fd")
    assert fd == pytest.approx(grad, rel=1e-3, abs=1e-7)
    batch_grad = grad
    # the last layer's first weight on one point: one path, whose product is the gradient
    pg.select_option('[data-testid="chain-scope"]', "point")
    last = pg.eval_on_selector_all("#network path", "ps => Math.max(...ps.map(p => +p.dataset.l))")
    pg.locator(f'#network path[data-l="{last}"]').first.click(force=True)
    pg.wait_for_function("document.querySelectorAll('[data-testid=chain-product]').length === 1"
                         " && document.querySelector('[data-testid=chain-label]').textContent"
                         f".startsWith('∂L/∂W{last + 1}')", timeout=20000)
    (grad,) = _values(pg, "chain-grad")
    (total,) = _values(pg, "chain-sum")
    (product,) = _values(pg, "chain-product")
    assert product == pytest.approx(grad, rel=1e-6) and total == pytest.approx(grad, rel=1e-6)
    factors = _values(pg, "chain-factor")
    assert math.prod(factors) == pytest.approx(product, rel=1e-5)  # shown to 6 digits
    # back to the minibatch for the step
    pg.select_option('[data-testid="chain-scope"]', "batch")
    pg.locator('#network path[data-l="0"]').nth(1).click(force=True)
    pg.wait_for_function("document.querySelectorAll('[data-testid=chain-share]').length > 1",
                         timeout=20000)
    (grad,) = _values(pg, "chain-grad")
    assert grad == pytest.approx(batch_grad, rel=1e-9)  # same weights, same next minibatch
    _shot(pg, "chain-panel", '[data-testid="chain-panel"]')
    pg.click('[data-testid="step-button"]')
    upd = pg.wait_for_selector('[data-testid="chain-update"]', timeout=20000)
    old, g, lr, new = (float(upd.get_attribute(f"data-{k}")) for k in ("old", "grad", "lr", "new"))
    assert g == pytest.approx(grad, rel=1e-4)       # the step used the minibatch explained
    assert new == pytest.approx(old - lr * g, rel=1e-5, abs=1e-8)
    assert "←" in upd.inner_text()
    _shot(pg, "chain-update", '[data-testid="chain-panel"]')
    if SHOTS:
        pg.set_viewport_size({"width": 1400, "height": 1800})
        _shot(pg, "page-1400")
        pg.set_viewport_size({"width": 390, "height": 2400})
        _shot(pg, "page-390")


def test_error_mountain_path_losses_are_the_training_losses(page) -> None:  # noqa: F811
    pg = page
    got = _listen(pg, ("frame",))
    pg.reload()
    pg.wait_for_selector("#conn.ok", timeout=10000)
    pg.click('[data-testid="landscape-button"]')
    pg.wait_for_function("document.getElementById('land-canvas').dataset.path", timeout=30000)
    assert "random directions" in pg.inner_text('[data-testid="landscape-caption"]')
    pg.click('[data-testid="train-toggle"]')
    pg.wait_for_function("JSON.parse(document.getElementById('land-canvas').dataset.path).length > 8",
                         timeout=30000)
    pg.click('[data-testid="train-toggle"]')
    path = json.loads(pg.get_attribute('[data-testid="landscape-canvas"]', "data-path"))
    frames = {m["step"]: m["loss_train"] for m in got}
    later = [(s, loss) for s, _, _, loss in path[1:]]
    assert later and all(s in frames for s, _ in later)
    for step, loss in later:
        assert loss == frames[step]
    _shot(pg, "error-mountain", "#land-panel")


def test_lesson_sets_the_network_up(page) -> None:  # noqa: F811
    pg = page
    pg.locator("#lessons").scroll_into_view_if_needed()  # the questions load when seen
    pg.wait_for_selector('[data-testid="lesson-vanishing"]', timeout=10000)
    pg.click('[data-testid="lesson-vanishing"]')
    pg.wait_for_function("document.querySelectorAll('#network .node').length >= 2 + 6 * 4 + 1",
                         timeout=15000)
    assert pg.input_value('[data-testid="activation-select"]') == "sigmoid"
    pg.click('[data-testid="train-toggle"]')
    _shot(pg, "lessons", "#lessons")


def test_mnist_insides_render(page) -> None:  # noqa: F811
    pg = page
    pg.click("#tab-mnist")
    pg.wait_for_function("!document.getElementById('mnist-source').textContent.includes('loading')",
                         timeout=60000)
    pg.click('[data-testid="insides-button"]')
    pg.wait_for_function("document.querySelectorAll('#ins-filters canvas').length > 0", timeout=30000)
    assert pg.locator("#ins-confusion tr").count() == 11
    assert "‖∂L/∂W‖" in pg.inner_text('[data-testid="insides-grads"]')
    box = pg.locator("#ins-filters canvas").first.bounding_box()
    pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    pg.wait_for_selector('[data-testid="ins-chain-sum"]', timeout=30000)
    (s,) = _values(pg, "ins-chain-sum")
    (g,) = _values(pg, "ins-chain-grad")
    assert s == pytest.approx(g, rel=1e-4, abs=1e-9)
    pad = pg.locator('[data-testid="draw-pad"]').bounding_box()
    pg.mouse.move(pad["x"] + 140, pad["y"] + 40)
    pg.mouse.down()
    pg.mouse.move(pad["x"] + 140, pad["y"] + 240, steps=12)
    pg.mouse.up()
    pg.wait_for_function("document.getElementById('ins-saliency-caption').textContent.includes('score')",
                         timeout=20000)
    _shot(pg, "mnist-insides", "#insides")


# ---- one click, one thing: the chain-rule panel, which holds the field that sets the value

_OPEN = """() => {
  const shown = (el) => el && !el.hidden && el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden';
  const editor = document.getElementById('param-editor');
  return {panel: shown(document.getElementById('chain-panel')), editor: shown(editor),
          editorInPanel: Boolean(editor.closest('#chain-panel')),
          card: shown(document.getElementById('hovercard')),
          floating: [...document.querySelectorAll('body *')].filter((el) => shown(el)
            && getComputedStyle(el).position === 'fixed').map((el) => el.id || el.className)};
}"""


def _label_is(text: str) -> str:
    return ("(document.querySelector('[data-testid=chain-label]') || {textContent: ''})"
            f".textContent.startsWith('{text}')")


def _edge_point(pg, selector: str) -> tuple[float, float]:
    """A point a quarter along an edge (its middle is where edges cross), in page coordinates."""
    return tuple(pg.eval_on_selector(selector, """p => {
        const m = p.getPointAtLength(p.getTotalLength() / 4), box = p.ownerSVGElement.getBoundingClientRect();
        return [box.left + m.x, box.top + m.y]; }"""))


def test_one_click_opens_the_chain_panel_and_both_features_stay_usable(page) -> None:  # noqa: F811
    pg = page
    assert pg.evaluate(_OPEN)["panel"] is False
    pg.click('[data-testid="train-toggle"]')
    pg.wait_for_function("document.body.classList.contains('running')", timeout=5000)
    x, y = _edge_point(pg, '#network path[data-l="1"][data-j="0"][data-i="1"]')
    pg.mouse.click(x, y)          # a real click at the pointer, on a running network
    pg.wait_for_function("!document.body.classList.contains('running')", timeout=5000)
    pg.wait_for_selector('[data-testid="chain-sum"]', timeout=20000)
    opened = pg.evaluate(_OPEN)
    # exactly one thing opened: the chain panel, the value field inside it, nothing floating
    assert opened == {"panel": True, "editor": True, "editorInPanel": True, "card": False,
                      "floating": []}, opened
    assert pg.inner_text('[data-testid="chain-label"]').startswith("∂L/∂W2[0,1]")
    assert pg.input_value('[data-testid="chain-which"]') == "1,0,1"
    # the chain rule is there and right
    (grad,) = _values(pg, "chain-grad")
    (total,) = _values(pg, "chain-sum")
    assert total == pytest.approx(grad, rel=1e-6)
    # and the weight can be set from the same panel: the panel then explains the new value
    assert pg.evaluate("document.activeElement.id") == "param-value"
    pg.fill('[data-testid="param-value"]', "0.625")
    pg.press('[data-testid="param-value"]', "Enter")
    pg.wait_for_function("playground.frame.weights[1][0][1] === 0.625", timeout=5000)
    pg.wait_for_function("(document.querySelector('[data-testid=chain-value]') || {dataset: {}})"
                         ".dataset.value === '0.625'", timeout=20000)
    # keyboard only: the panel's list reaches every weight and bias, Enter sets it
    pg.focus('[data-testid="chain-which"]')
    pg.keyboard.press("End")                                   # the last entry: the output's bias
    pg.wait_for_function(_label_is("∂L/∂b3[0]"), timeout=20000)
    assert pg.evaluate(_OPEN)["floating"] == []
    pg.focus('[data-testid="param-value"]')
    pg.keyboard.press("Control+A")
    pg.keyboard.type("-0.25")
    pg.keyboard.press("Enter")
    pg.wait_for_function("playground.frame.biases[2][0] === -0.25", timeout=5000)
    # close: nothing stays open; a click on a neuron opens the panel for its bias
    pg.click('[data-testid="chain-close"]')
    assert pg.evaluate(_OPEN) == {"panel": False, "editor": False, "editorInPanel": True,
                                  "card": False, "floating": []}
    pg.click("#network .node.output")
    pg.wait_for_function(_label_is("∂L/∂b3[0]"), timeout=20000)
    assert pg.evaluate(_OPEN)["panel"] is True


def test_on_a_phone_a_tap_opens_the_chain_panel_in_view(browser, server_url) -> None:  # noqa: F811
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                              is_mobile=True, has_touch=True, bypass_csp=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server_url)
    pg.wait_for_selector("#conn.ok", timeout=10000)
    pg.wait_for_function("document.querySelectorAll('#network .node').length >= 4", timeout=10000)
    x, y = _edge_point(pg, '#network path[data-l="0"][data-j="2"][data-i="0"]')
    pg.touchscreen.tap(x, y)
    pg.wait_for_selector('[data-testid="chain-sum"]', timeout=20000)
    opened = pg.evaluate(_OPEN)
    assert opened["panel"] and opened["editor"] and opened["editorInPanel"] and opened["floating"] == []
    assert pg.inner_text('[data-testid="chain-label"]').startswith("∂L/∂W1[2,0]")
    # the panel's head (with the value field) was brought on screen, and nothing is wider
    box = pg.locator("#param-editor").bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 844
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    pg.locator('[data-testid="param-value"]').tap()
    pg.fill('[data-testid="param-value"]', "1.25")
    pg.press('[data-testid="param-value"]', "Enter")
    pg.wait_for_function("playground.frame.weights[0][2][0] === 1.25", timeout=5000)
    pg.select_option('[data-testid="chain-which"]', "1,3,b")   # the list, where edges are small
    pg.wait_for_function(_label_is("∂L/∂b2[3]"), timeout=20000)
    _shot(pg, "chain-panel-390")
    ctx.close()
    assert errors == [], errors


# ---- the error mountain: switching optimizer or learning rate changes the path

#: how long the two waits of a drawn path may take: seconds on an idle machine, but the
#: widened grid is a few hundred forward passes that a machine loaded by other jobs (2 cores
#: shared with a test run and benchmarks) once took over 60 s to deliver; the waits return as
#: soon as the page shows the result, so a long bound costs nothing when all is well
LOADED_MACHINE_MS = 180000

def _drawn_path(browser, url: str, hash_: str, shot: str) -> list[tuple[int, float, float, float]]:  # noqa: F811
    """Open ``url#hash_`` in a fresh page (a fresh session: the link's start), draw the slice
    along the output layer's first two weights, train PATH_STEPS steps, and return the path
    as drawn on the page: ``(step, a, b, loss)`` per step."""
    ctx = browser.new_context(viewport={"width": 1360, "height": 940}, bypass_csp=True)
    pg = ctx.new_page()
    got = _listen(pg, ("landscape", "landscape_pending", "error"))
    pg.goto(url + hash_)
    pg.wait_for_selector("#conn.ok", timeout=10000)
    init = int(hash_.split("init=")[1].split("&")[0])
    pg.wait_for_function(f"playground.config && playground.config.init === {init} && playground.inflight === 0"
                         " && playground.frame && playground.frame.weights.length === 3", timeout=15000)
    pg.select_option('[data-testid="land-kind"]', "weights")
    pg.select_option('[data-testid="land-first"]', "2,0")
    pg.select_option('[data-testid="land-second"]', "2,1")
    pg.click('[data-testid="landscape-button"]')
    pg.wait_for_function("document.getElementById('land-canvas').dataset.path", timeout=30000)
    assert "W3[0,0] across, W3[0,1] up" in pg.inner_text('[data-testid="landscape-caption"]')
    pg.click('[data-testid="train-toggle"]')
    pg.wait_for_function("JSON.parse(document.getElementById('land-canvas').dataset.path)"
                         f".some((p) => p[0] >= {PATH_STEPS})", timeout=LOADED_MACHINE_MS)
    pg.click('[data-testid="train-toggle"]')
    # a path that walked off the grid gets the same plane's grid widened under it
    try:
        pg.wait_for_function("(() => { const c = document.getElementById('land-canvas');"
                             " return JSON.parse(c.dataset.path).every((p) => Math.abs(p[1]) <= +c.dataset.extent"
                             " && Math.abs(p[2]) <= +c.dataset.extent); })()", timeout=LOADED_MACHINE_MS)
    except sync_api.TimeoutError as exc:  # say what the page had asked for and been sent
        asked = [(m["type"], m.get("alphas", [None])[-1], m.get("message")) for m in got]
        raise AssertionError(f"the grid was not widened over the path: extent "
                             f"{pg.get_attribute('#land-canvas', 'data-extent')}, caption "
                             f"{pg.inner_text('[data-testid=landscape-caption]')!r}; server sent {asked}") from exc
    drawn = json.loads(pg.get_attribute('[data-testid="landscape-canvas"]', "data-path"))
    _shot(pg, shot, "#land-panel")
    ctx.close()
    by_step = {int(s): (int(s), a, b, loss) for s, a, b, loss in drawn}   # a pause re-draws the last
    return [by_step[s] for s in range(PATH_STEPS + 1)]


@pytest.mark.parametrize("init", [0, 3, 5])
def test_error_mountain_paths_show_each_optimizer(browser, server_url, init: int) -> None:  # noqa: F811
    """From one link's start: plain SGD, momentum, a learning rate too high, and Adam, each
    read off the drawn path, differ as the maths says (see test_landscape.check_optimizer_paths)."""
    fixed = "&".join(f"{k}={v}" for k, v in FULL_BATCH.items())
    paths, starts = {}, set()
    for name, (optimizer, lr) in RUNS.items():
        drawn = _drawn_path(browser, server_url, f"#init={init}&{fixed}&optimizer={optimizer}&lr={lr}",
                            f"mountain-{init}-{name}")
        assert drawn[0][1:3] == (0.0, 0.0)                       # every run starts at the origin
        starts.add(drawn[0][3])
        paths[name] = path_measures(drawn)
    assert len(starts) == 1                                      # the same start: the same loss
    check_optimizer_paths(paths)


def test_mnist_error_mountain_path_losses_are_the_training_losses(page) -> None:  # noqa: F811
    pg = page
    got = _listen(pg, ("mnist_frame", "landscape"))
    pg.reload()
    pg.wait_for_selector("#conn.ok", timeout=10000)
    pg.click("#tab-mnist")
    pg.wait_for_function("!document.getElementById('mnist-source').textContent.includes('loading')",
                         timeout=60000)
    pg.click('[data-testid="mnist-landscape-button"]')
    pg.click('[data-testid="train-toggle"]')         # the slice is computed while it trains
    pg.wait_for_function("(JSON.parse(document.getElementById('mland-canvas').dataset.path || '[]'))"
                         ".length > 4", timeout=180000)
    pg.click('[data-testid="train-toggle"]')
    path = json.loads(pg.get_attribute('[data-testid="mnist-landscape-canvas"]', "data-path"))
    caption = pg.inner_text('[data-testid="mnist-landscape-caption"]')
    assert "random directions" in caption and "500 examples" in caption and "projected" in caption
    (land,) = [m for m in got if m["type"] == "landscape"]
    frames = {m["step"]: m["loss_train"] for m in got if m["type"] == "mnist_frame" and "loss_train" in m}
    # the drawn path's losses are the training losses the frames reported at those steps
    later = [(s, loss) for s, _, _, loss in path[1:]]
    assert len(later) >= 4 and all(s in frames for s, _ in later)
    assert all(loss == frames[s] for s, loss in later)
    # ... of the same loss as the slice: at the plane's origin (a = b = 0) the grid's centre
    mid = len(land["loss"]) // 2
    assert path[0][1:3] == [0, 0] and land["loss"][mid][mid] == pytest.approx(path[0][3], rel=1e-5)
    # (that training does not wait for the grid is tested deterministically, with the grid held
    # back, in test_panel_messages.py: here a quiet machine may finish the grid before a frame)
    _shot(pg, "mnist-error-mountain", "#mland-panel")
