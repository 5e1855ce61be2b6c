"""The playground's training speed at the page's default settings: two checkouts side by side.

Runs the server's per-tick work in a fresh process per measurement -- ``advance`` (up to
``steps_per_frame`` steps and a frame, held-out scoring at most once a second, as the server
does) and the JSON encoding of the frame -- unpaced, for the 2-D tab (``ToySession``) and the
MNIST tab (``MnistSession``), from each checkout's ``src`` in turn. Rounds alternate the order
so that other processes' load hits both; each figure is the median over rounds of the ratio
after/before measured back to back, in steps per wall second and per CPU second (the CPU figure
is less moved by other processes). OpenBLAS runs one thread, so its spinning threads do not
decide the result on a loaded machine.

    git archive main src | tar -x -C /tmp/before
    python benchmarks/playground_speed.py --before /tmp/before/src --after src --rounds 6
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
from chainrule.playground import protocol
kind, seconds, data_dir = sys.argv[2], float(sys.argv[3]), sys.argv[4] or None
if kind == "2-D":
    from chainrule.playground.toy import ToySession
    s = ToySession()
else:
    from chainrule.playground.digits import load_digits
    from chainrule.playground.mnist import MnistSession
    s = MnistSession(load_digits(data_dir))
s.step(20)
t0, c0, n0, last = time.perf_counter(), time.process_time(), s.steps, -1.0
while time.perf_counter() - t0 < seconds:
    now = time.perf_counter()
    evaluate = now - last >= 1.0
    if evaluate:
        last = now
    _, frame = s.advance(0.15, evaluate)
    protocol.encode(frame)
print((s.steps - n0) / (time.perf_counter() - t0), (s.steps - n0) / (time.process_time() - c0))
'''


def measure(src: str, kind: str, seconds: float, data_dir: str) -> tuple[float, float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, src, kind, str(seconds), data_dir],
                         capture_output=True, text=True, env=env, check=True)
    wall, cpu = map(float, out.stdout.split())
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="the src directory of the first checkout")
    ap.add_argument("--after", default=str(Path(__file__).resolve().parents[1] / "src"))
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--data-dir", default="", help="MNIST's directory (default: the cache, else bundled digits)")
    a = ap.parse_args()
    trees = {"before": a.before, "after": a.after}
    res: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in range(a.rounds):
        for kind in ("2-D", "MNIST"):
            for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
                res.setdefault((kind, name), []).append(measure(trees[name], kind, a.seconds, a.data_dir))
    for kind in ("2-D", "MNIST"):
        before, after = res[(kind, "before")], res[(kind, "after")]
        for i, unit in enumerate(("wall", "CPU")):
            ratio = statistics.median(x[i] / y[i] for x, y in zip(after, before, strict=True))
            print(f"{kind:5} steps per {unit} second: before {statistics.median(x[i] for x in before):7.1f}, "
                  f"after {statistics.median(x[i] for x in after):7.1f}, after/before {ratio:.3f}")


if __name__ == "__main__":
    main()
