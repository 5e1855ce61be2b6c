"""Training speed of the playground with each teaching panel open, against all closed.

Runs the server's per-frame work in process, at each tab's default settings: ``advance`` (up
to ``steps_per_frame`` steps and a frame, held-out data scored once a second as the server
does), then what the open panel adds (``Panels.on_frame``: a path point on the error mountain,
the chain panel refreshed at most every 0.5 s; the MNIST insides re-asked every 3 s, as the
page does while training) and the JSON encoding of everything sent. One panel per case:

* ``2d-chain``: the chain-rule panel on a first-layer weight of the 2-D net;
* ``2d-mountain``: the 2-D error mountain (grid computed before timing), its path live;
* ``mnist-mountain``: the MNIST error mountain, its path live (loss_train on 500 images at
  about 2 % of the time, spaced by its own cost); ``mnist-mountain-grid``: the same while its 11x11 grid is
  still being computed in a background thread (a few seconds after "draw the slice");
* ``mnist-insides``: the MNIST insides (weights as images, mistakes, confusion matrix).

Three figures each: **paced**, as the server runs (a frame at most ``protocol.MAX_FPS`` times a
second, so a panel slows training only if a tick no longer fits in a frame's time);
**unpaced**, the worst case (ticks back to back); and **cpu**, steps per second of the
process's CPU time in the unpaced rounds (every thread's, the background grid's included),
which other processes' load does not change: on a shared machine the wall-clock ratios swing,
this one says what the panel costs; and **share**, the time the training thread spent on the
panel's own work (path points, the MNIST path's loss, chain refreshes, insides), as a share of
the unpaced open rounds' time -- measured inside the same rounds, so load cancels out (the
MNIST grid, computed on another thread, shows only in the ratios). Rounds alternate closed /
open so that load hits both; each figure is the median ratio, open over closed.

    python benchmarks/playground_panels.py                  # every case, 6 rounds of 2 s
    python benchmarks/playground_panels.py --data-dir ../shared/data/mnist --case mnist-mountain
    python benchmarks/playground_panels.py --case 2d-chain --rounds 4 --seconds 1
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from chainrule.playground import protocol
from chainrule.playground.panels import Panels
from chainrule.playground.session import FrameClock, Session
from chainrule.playground.toy import ToySession

CASES = ("2d-chain", "2d-mountain", "mnist-mountain", "mnist-mountain-grid", "mnist-insides")


DATA_DIR: str | None = None   # --data-dir: where MNIST is (None: what the server would find)


def _digits() -> Any:
    from chainrule.playground.digits import load_digits

    if not hasattr(_digits, "cache"):
        _digits.cache = load_digits(DATA_DIR)  # type: ignore[attr-defined]
        print(f"MNIST tab data: {_digits.cache.source}", file=sys.stderr)  # type: ignore[attr-defined]
    return _digits.cache  # type: ignore[attr-defined]


def _session(case: str) -> Session:
    if case.startswith("2d"):
        return ToySession()
    from chainrule.playground.mnist import MnistSession

    return MnistSession(_digits())


def _open(case: str, sess: Session) -> tuple[Panels, Callable[[], None]]:
    """Open the case's panel; return it and what the page asks for every 3 s (or nothing)."""
    panels = Panels(sess)
    nothing: Callable[[], None] = lambda: None  # noqa: E731
    if case == "2d-chain":
        panels.open_chain(0, "weight", [0, 0])
    elif case == "2d-mountain":
        panels.open_landscape("random")()                    # the grid, before timing
    elif case == "mnist-mountain":
        panels.open_landscape("random")()
    elif case == "mnist-mountain-grid":
        job = panels.open_landscape("random")
        threading.Thread(target=job, daemon=True).start()   # competes with training, as live
    elif case == "mnist-insides":
        def insides() -> None:
            protocol.encode(panels.mnist_insides())
        return panels, insides
    return panels, nothing


def _timed(fn: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t
    return run


def steps_per_second(case: str, open_panel: bool, seconds: float, paced: bool
                     ) -> tuple[float, float, float]:
    """Steps per second of wall-clock time and of the process's CPU time, and the share of
    the wall-clock time the training thread spent on the panel's work."""
    sess = _session(case)
    panels, every_3s = _open(case, sess) if open_panel else (None, lambda: None)
    spent = [0.0]
    if panels is not None:  # time the panel's own work on the training thread
        every_3s = _timed(every_3s, spent)
        panels.on_frame = _timed(panels.on_frame, spent)  # type: ignore[method-assign]
        if hasattr(sess, "training_loss"):  # the MNIST path's loss, measured inside frames
            sess.training_loss = _timed(sess.training_loss, spent)  # type: ignore[attr-defined]
    sess.step(20)                                # warm up
    clock = FrameClock(protocol.MAX_FPS)
    start, cpu0, steps0 = time.perf_counter(), time.process_time(), sess.steps
    scored, asked = start, start - 3.0      # the page asks for the insides when it opens them
    while time.perf_counter() - start < seconds:
        if paced:
            time.sleep(clock.wait_time())
            clock.sent()
        now = time.perf_counter()
        evaluate = now - scored >= 1.0           # the server scores held-out data once a second
        scored = now if evaluate else scored
        _, frame = sess.advance(0.15, evaluate)
        sent = [frame]
        if panels is not None:
            sent += panels.on_frame(frame)
            if now - asked >= 3.0:
                asked = now
                every_3s()
        for msg in sent:
            protocol.encode(msg)
    steps, wall = sess.steps - steps0, time.perf_counter() - start
    return steps / wall, steps / max(time.process_time() - cpu0, 1e-9), spent[0] / wall


def _figure(closed: list[float], opened: list[float]) -> dict[str, float]:
    return {"closed_steps_per_s": round(statistics.median(closed), 1),
            "open_steps_per_s": round(statistics.median(opened), 1),
            "open_over_closed": round(statistics.median(o / c for o, c in zip(opened, closed)), 3)}


def measure(case: str, rounds: int, seconds: float) -> dict[str, dict[str, float]]:
    """The case's paced, unpaced and cpu figures."""
    out = {}
    for paced in (True, False):
        closed, opened = [], []
        for _ in range(rounds):
            closed.append(steps_per_second(case, False, seconds, paced))
            opened.append(steps_per_second(case, True, seconds, paced))
        out["paced" if paced else "unpaced"] = _figure([c[0] for c in closed], [o[0] for o in opened])
        if not paced:
            out["cpu"] = _figure([c[1] for c in closed], [o[1] for o in opened])
            # the panel's work as a share of the training thread's time: 1 - share is the
            # speed left, whatever the load (both are timed in the same rounds)
            out["share"] = {"panel_share_of_time": round(statistics.median(o[2] for o in opened), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=CASES, action="append",
                    help="a panel to measure (repeatable; default: all)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--data-dir", help="MNIST's folder (default: as the server finds it)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    global DATA_DIR
    DATA_DIR = a.data_dir
    out: dict[str, Any] = {"rounds": a.rounds, "seconds": a.seconds, "max_fps": protocol.MAX_FPS}
    for case in a.case or CASES:
        out[case] = measure(case, a.rounds, a.seconds)
        for name, r in out[case].items():
            if name == "share":
                if not a.json:
                    print(f"{case:20s} share    the panel's work: {100 * r['panel_share_of_time']:.1f} % "
                          "of the training thread's time (unpaced)", flush=True)
                continue
            if not a.json:
                unit = "steps/cpu-s" if name == "cpu" else "steps/s"
                print(f"{case:20s} {name:8s} {unit:12s} closed {r['closed_steps_per_s']:7.1f}, open "
                      f"{r['open_steps_per_s']:7.1f}: open/closed = {r['open_over_closed']:.3f}",
                      flush=True)
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
