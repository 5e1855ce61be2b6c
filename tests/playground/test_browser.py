"""End to end in real Chromium: the page loads, trains, and shows what it should.

Runs Debian's /usr/bin/chromium through Playwright (never a downloaded browser) against a
real uvicorn server on 127.0.0.1. Skips when either is missing. Set
``CHAINRULE_PLAYGROUND_SCREENSHOT=path.png`` to keep the screenshot it takes.
"""
from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

from chainrule.playground import create_app  # noqa: E402
from chainrule.playground.server import LOOPBACK_NAMES  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TESTIDS = ["train-toggle", "step-button", "reset-button", "step-counter", "loss-train", "loss-test",
           "boundary", "network", "loss-chart", "grad-norms", "dataset-select", "lr-input",
           "activation-select", "draw-pad", "prediction"]


@pytest.fixture(scope="module")
def server_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    app = create_app(allowed_hosts=LOOPBACK_NAMES)  # as serve() makes it on 127.0.0.1
    config = uvicorn.Config(app, log_level="warning", ws_max_size=1 << 20)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}/?token={app.state.token}"  # the address serve() prints
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server_url):
    # bypass_csp: Playwright evaluates wait_for_function strings with eval, which the page's CSP forbids
    ctx = browser.new_context(viewport={"width": 1360, "height": 940}, bypass_csp=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto(server_url)
    pg.wait_for_selector("#conn.ok", timeout=10000)
    pg.wait_for_function("document.querySelectorAll('#network .node').length >= 4", timeout=10000)
    yield pg
    ctx.close()
    assert errors == [], errors


def step_count(pg) -> int:
    return int(re.sub(r"\D", "", pg.inner_text("[data-testid=step-counter]")) or 0)


def loss(pg, which="train") -> float:
    return float(pg.inner_text(f"[data-testid=loss-{which}]"))


def test_press_play_and_watch_it_learn(page, tmp_path):
    for tid in TESTIDS:
        assert page.locator(f"[data-testid={tid}]").count() == 1, tid
    assert step_count(page) == 0
    start = loss(page)
    page.click("[data-testid=train-toggle]")
    page.wait_for_function("Number(document.querySelector('[data-testid=step-counter]').textContent"
                           ".replace(/\\D/g, '')) > 100", timeout=15000)
    first = step_count(page)
    page.wait_for_function(f"Number(document.querySelector('[data-testid=step-counter]').textContent"
                           f".replace(/\\D/g, '')) > {first}", timeout=5000)
    assert step_count(page) > first
    # the training loss falls well below where it started
    page.wait_for_function(f"Number(document.querySelector('[data-testid=loss-train]').textContent) < {start * 0.6}",
                           timeout=30000)
    assert loss(page) < start * 0.6 and loss(page, "test") < start
    # gradients view
    page.click("[data-testid=grad-switch]")
    page.wait_for_timeout(300)
    page.click("[data-testid=train-toggle]")  # pause
    page.wait_for_function("!document.body.classList.contains('running')", timeout=5000)
    out = Path(os.environ.get("CHAINRULE_PLAYGROUND_SCREENSHOT", tmp_path / "playground.png"))
    page.click("#show-weights")
    page.wait_for_timeout(200)
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 20000


def test_step_reset_and_a_bad_value(page):
    page.click("[data-testid=step-button]")
    page.wait_for_function("document.querySelector('[data-testid=step-counter]').textContent === '1'", timeout=5000)
    page.click("[data-testid=step-button]")
    page.wait_for_function("document.querySelector('[data-testid=step-counter]').textContent === '2'", timeout=5000)
    page.click("[data-testid=reset-button]")
    page.wait_for_function("document.querySelector('[data-testid=step-counter]').textContent === '0'", timeout=5000)
    lr = page.locator("[data-testid=lr-input]")
    lr.fill("-1")
    lr.press("Enter")
    page.wait_for_selector("#message:not([hidden])", timeout=5000)
    assert "learning rate must be a number in (0, 10]" in page.inner_text("#message")
    assert "bad" in (lr.get_attribute("class") or "")
    lr.fill("0.1")
    lr.press("Enter")
    page.wait_for_function("!document.querySelector('[data-testid=lr-input]').classList.contains('bad')", timeout=5000)
    # the session is still alive and training
    page.click("[data-testid=step-button]")
    page.wait_for_function("document.querySelector('[data-testid=step-counter]').textContent === '1'", timeout=5000)


def test_changing_the_problem_and_the_network(page):
    page.select_option("[data-testid=dataset-select]", "xor")
    page.select_option("[data-testid=activation-select]", "sigmoid")
    for _ in range(4):
        page.click("#add-layer")
        page.wait_for_timeout(150)
    page.wait_for_function("document.querySelector('#layers-label').textContent.startsWith('6')", timeout=5000)
    assert page.locator("#add-layer").is_disabled()
    page.wait_for_function("document.querySelectorAll('#network .node').length === 2 + 4 + 2 + 4 * 2 + 1",
                           timeout=5000)
    page.click("[data-testid=step-button]")
    page.wait_for_function("document.querySelector('[data-testid=step-counter]').textContent === '1'", timeout=5000)


def test_mnist_draw_a_digit(page):
    page.click("#tab-mnist")
    page.wait_for_function("document.querySelector('#mnist-source').textContent.includes('training images')",
                           timeout=20000)
    page.click("[data-testid=train-toggle]")
    page.wait_for_function("Number(document.querySelector('[data-testid=step-counter]').textContent"
                           ".replace(/\\D/g, '')) > 40", timeout=20000)
    # test accuracy is evaluated every so often while training: wait for a fresh figure
    page.wait_for_function("parseFloat(document.querySelector('[data-testid=acc-test]').textContent) > 30",
                           timeout=60000)
    page.click("[data-testid=train-toggle]")
    box = page.locator("[data-testid=draw-pad]").bounding_box()
    x, y = box["x"], box["y"]
    page.mouse.move(x + 140, y + 40)
    page.mouse.down()
    page.mouse.move(x + 140, y + 240, steps=12)
    page.mouse.up()
    page.wait_for_selector("[data-testid=prediction] .row", timeout=5000)
    rows = page.locator("[data-testid=prediction] .row")
    assert rows.count() == 10
    assert page.locator("[data-testid=prediction] .row.best").count() == 1
    best = page.locator("[data-testid=prediction] .row.best .fill").bounding_box()
    track = page.locator("[data-testid=prediction] .row.best .track").bounding_box()
    assert best["width"] > 0.1 * track["width"]  # the most likely digit gets a visible bar
    acc = page.inner_text("[data-testid=acc-test]")
    assert acc.endswith("%") and float(acc[:-1]) > 30


def test_the_page_runs_under_its_own_content_security_policy(browser, server_url):
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})  # CSP enforced here
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    requests: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(server_url)
    pg.wait_for_selector("#conn.ok", timeout=10000)
    pg.wait_for_selector("#network .node >> nth=4", timeout=10000)
    pg.click("[data-testid=step-button]")
    pg.wait_for_selector("[data-testid=step-counter]:text-is('1')", timeout=5000)
    pg.click("#show-grads")
    pg.click("#tab-mnist")
    pg.wait_for_selector("#mnist-source:has-text('training images')", timeout=20000)
    ctx.close()
    assert problems == []
    origin = server_url.split("/?")[0]
    assert all(u.startswith(origin) or u.startswith("ws://127.0.0.1") for u in requests), requests


def test_the_menus_are_built_from_the_catalogue(page):
    from chainrule import catalogue
    from chainrule.playground import protocol

    def options(sel):
        return page.eval_on_selector(sel, "s => [...s.options].map(o => o.value)")

    assert options("[data-testid=activation-select]") == list(catalogue.ACTIVATIONS)
    assert options("[data-testid=optimizer-select]") == list(catalogue.OPTIMIZERS)
    assert options("[data-testid=dataset-select]") == list(protocol.DATASETS)
    # the page starts from the server's settings, not numbers of its own
    assert page.input_value("[data-testid=lr-input]") == "0.3"
    assert page.eval_on_selector("[data-testid=activation-select]", "s => s.value") == "tanh"
