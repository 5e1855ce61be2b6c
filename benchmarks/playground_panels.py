"""Training speed of the 2-D playground with the teaching panels open, against closed.

Runs the server's per-frame work in process, at the page's default settings: ``advance``
(up to ``steps_per_frame`` steps and a frame), then what an open panel adds to each frame
(``Panels.on_frame``: a path point on the error mountain, the chain panel refreshed at most
every 0.5 s) and the JSON encoding of everything sent. Two figures:

* **paced**, as the server runs: a frame (with its steps) at most ``protocol.MAX_FPS`` times a
  second, so the panels slow training only if a tick no longer fits in a frame's time;
* **unpaced**, the worst case: ticks back to back, as fast as the CPU allows.

Rounds alternate closed / open so that load from other processes hits both; each figure is
the median ratio of steps per second, open over closed.

    python benchmarks/playground_panels.py              # 8 rounds of 3 s each
    python benchmarks/playground_panels.py --rounds 4 --seconds 1
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

from chainrule.playground import protocol
from chainrule.playground.panels import Panels
from chainrule.playground.session import FrameClock
from chainrule.playground.toy import ToySession


def steps_per_second(open_panels: bool, seconds: float, paced: bool) -> float:
    sess = ToySession()
    panels = None
    if open_panels:
        panels = Panels(sess)
        panels.open_chain(0, "weight", [0, 0])
        panels.open_landscape("random")()        # the grid is computed once, before timing
    sess.step(20)                                # warm up
    clock = FrameClock(protocol.MAX_FPS)
    start, steps0 = time.perf_counter(), sess.steps
    while time.perf_counter() - start < seconds:
        if paced:
            time.sleep(clock.wait_time())
            clock.sent()
        _, frame = sess.advance(0.15, True)
        sent = [frame]
        if panels is not None:
            sent += panels.on_frame(frame)
        for msg in sent:
            protocol.encode(msg)
    return (sess.steps - steps0) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    out: dict = {"rounds": a.rounds, "seconds": a.seconds, "max_fps": protocol.MAX_FPS,
                 "defaults": {k: ToySession().config[k] for k in ("hidden", "batch_size",
                                                                  "steps_per_frame")}}
    for paced in (True, False):
        closed, opened = [], []
        for _ in range(a.rounds):
            closed.append(steps_per_second(False, a.seconds, paced))
            opened.append(steps_per_second(True, a.seconds, paced))
        ratio = statistics.median(o / c for o, c in zip(opened, closed))
        name = "paced" if paced else "unpaced"
        out[name] = {"closed_steps_per_s": round(statistics.median(closed), 1),
                     "open_steps_per_s": round(statistics.median(opened), 1),
                     "open_over_closed": round(ratio, 3)}
        if not a.json:
            r = out[name]
            print(f"{name:8s} steps/s with panels closed {r['closed_steps_per_s']}, open "
                  f"{r['open_steps_per_s']}: open/closed = {r['open_over_closed']} "
                  f"(median of {a.rounds} alternating rounds of {a.seconds:g} s)")
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
