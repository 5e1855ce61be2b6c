"""Per-step overhead of a tiny graph: ((a*b + a).tanh() @ b).sum().backward(), 2×2 tensors.

With tensors this small the arithmetic is nothing; what is measured is the framework itself:
building graph nodes, the backward walk, gradient bookkeeping. chainrule and (when installed)
PyTorch run interleaved in one process, several rounds, and the medians are compared.

    python benchmarks/overhead.py [--steps 20000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import time

import benchlib
import numpy as np

import chainrule as cr

# Matrix-product FLOPs of one step: the 2x2 @ 2x2 product forward (8 multiply-adds = 16 FLOPs),
# and backward one product per input (a and b both need a gradient): 3 x 16.
STEP_FLOPS = 3 * 2 * 2 * 2 * 2


def chainrule_step_fn():
    rng = np.random.default_rng(0)
    a = cr.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    b = cr.tensor(rng.standard_normal((2, 2)), requires_grad=True)

    def step():
        a.grad = None
        b.grad = None
        ((a * b + a).tanh() @ b).sum().backward()

    return step


def torch_step_fn():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    a = torch.randn(2, 2, requires_grad=True)
    b = torch.randn(2, 2, requires_grad=True)

    def step():
        a.grad = None
        b.grad = None
        ((a * b + a).tanh() @ b).sum().backward()

    return step


def time_per_step(step, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    runners = {"chainrule": chainrule_step_fn()}
    torch_step = torch_step_fn()
    if torch_step is not None:
        runners["pytorch"] = torch_step
    for step in runners.values():  # warm up
        time_per_step(step, 500)
    rate_before = benchlib.gemm_rate()  # the floor's GEMM rate, measured before and after
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.rounds):  # interleaved, so machine noise hits both alike
        for name, step in runners.items():
            times[name].append(time_per_step(step, args.steps))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"tiny-graph step ((a*b + a).tanh() @ b).sum().backward(), 2x2, "
          f"median of {args.rounds} rounds x {args.steps} steps; {benchlib.load_line()}")
    for name, m in med.items():
        print(f"  {name:10s} {m * 1e6:8.1f} us/step")
    if "pytorch" in med:
        print(f"  ratio chainrule/pytorch = {med['chainrule'] / med['pytorch']:.2f}  (target <= 0.50)")
    else:
        print("  (PyTorch not installed: no ratio)")
    print(benchlib.floor_report(STEP_FLOPS, med, rate_before).replace("per epoch", "per step"))


if __name__ == "__main__":
    main()
