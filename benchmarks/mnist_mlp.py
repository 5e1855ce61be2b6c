"""One MNIST MLP epoch in chainrule, in hand-written NumPy backprop, and in PyTorch, side by side.

The model everywhere: 784-256-256-10, ReLU, softmax cross-entropy, SGD with momentum 0.9,
lr 0.05, batch 128, float32, the 60,000 training images of ../shared/data/mnist. Every round
trains one epoch of each. Machine noise must hit them alike, and this machine's speed drifts
within seconds, so chainrule and NumPy (the tight comparison) alternate in turns of an eighth
of an epoch (``--chunks``; benchlib.interleaved_epoch) and PyTorch's epoch comes before or
after the pair; the median epochs and, as the ratios, the medians of the rounds' ratios are
printed. Options add the wall time to reach 98% test accuracy with Adam (lr 1e-3) and the peak
resident memory of a chainrule training process.

    python benchmarks/mnist_mlp.py                 # epoch times, 3 rounds
    python benchmarks/mnist_mlp.py --to-98         # + time to 98% test accuracy (Adam 1e-3)
    python benchmarks/mnist_mlp.py --memory        # + peak RSS of a chainrule training process
    python benchmarks/mnist_mlp.py --fixed-cost    # + each library's fixed cost a step (tiny arrays)
    python benchmarks/mnist_mlp.py --phases        # + each phase of a step, both libraries in turns

With the epoch times it prints the floor: the epoch's FLOPs over this machine's float32 GEMM
rate measured in the same run, and the fraction of it each library achieves (benchlib.py).
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import benchlib
import numpy as np
from benchlib import blas_report, peak_rss_mb, settled_seconds

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset, mnist

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
SIZES = (784, 256, 256, 10)
LR, MOMENTUM, BATCH = 0.05, 0.9, 128
def load(data_dir: Path):
    ds = mnist(data_dir)
    xtr, ytr = ds.train.arrays
    xte, yte = ds.test.arrays
    return xtr, ytr, xte, yte


# ----------------------------------------------------------------------------- chainrule
def chainrule_model(seed: int, sizes: tuple[int, ...] = SIZES) -> nn.Module:
    """Linear layers of ``sizes`` with a ReLU between each two."""
    cr.manual_seed(seed)
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def chainrule_training(seed: int, sizes: tuple[int, ...] = SIZES) -> tuple[nn.Module, optim.SGD]:
    """The benchmark's model and its optimizer (SGD, ``LR``, ``MOMENTUM``)."""
    model = chainrule_model(seed, sizes)
    return model, optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def layer_phase(k: int) -> str:
    """The name ``--phases`` gives layer ``k`` of the stack (0-based, Linear and ReLU
    alternating): "linear 1", "ReLU 1", "linear 2", ..."""
    return f"{'linear' if k % 2 == 0 else 'ReLU'} {k // 2 + 1}"


def chainrule_steps(model, opt, loader) -> Iterator[None]:
    """One epoch, yielding after every step (see benchlib.interleaved_epoch)."""
    model.train()
    for xb, yb in loader:
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        yield


def chainrule_epoch(model, opt, loader) -> None:
    benchlib.exhaust(chainrule_steps(model, opt, loader))


def chainrule_accuracy(model, x, y) -> float:
    model.eval()
    with cr.no_grad():
        pred = np.concatenate([model(x[i:i + 2000]).data.argmax(1) for i in range(0, len(x), 2000)])
    return float((pred == y).mean())


# ----------------------------------------------------------------------------- NumPy by hand
class NumpyMLP:
    """The same MLP with its backward pass written out by hand (the baseline to match)."""

    def __init__(self, seed: int, sizes: tuple[int, ...] = SIZES) -> None:
        rng = np.random.default_rng(seed)
        self.params = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1 / np.sqrt(fan_in)  # PyTorch's default Linear init
            w = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
            b = rng.uniform(-bound, bound, fan_out).astype(np.float32)
            self.params += [w, b]
        self.bufs = [np.zeros_like(p) for p in self.params]

    def forward(self, x, mark: Callable[[str], None] | None = None):
        """Every layer's output, ``x`` first. ``mark(name)``, if given, is called as each
        layer and each ReLU ends (``--phases`` times them)."""
        acts = [x]
        for i in range(0, len(self.params), 2):
            x = x @ self.params[i] + self.params[i + 1]
            if mark:
                mark(layer_phase(i))  # parameters i, i + 1 are the stack's layer i
            if i < len(self.params) - 2:
                x = np.maximum(x, 0)
                if mark:
                    mark(layer_phase(i + 1))
            acts.append(x)
        return acts

    def steps(self, x, y, order) -> Iterator[None]:
        """One epoch over ``x[order]``, yielding after every step."""
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            self.step(x[idx], y[idx])
            yield

    def step(self, x, y) -> None:
        self.update(self.gradients(x, y))

    def gradients(self, x, y, mark: Callable[[str], None] | None = None) -> list[np.ndarray]:
        """∂L/∂θ of the batch's mean cross-entropy, one array per parameter (a separate
        step, so the data-parallel benchmark can average them over the ranks first)."""
        acts = self.forward(x, mark)
        z = acts[-1]
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(y)), y] -= 1
        g = p / len(y)                      # ∂L/∂logits
        if mark:
            mark("loss")
        grads = [None] * len(self.params)
        for layer in reversed(range(len(self.params) // 2)):
            w = self.params[2 * layer]
            a_in = acts[layer]
            grads[2 * layer] = a_in.T @ g
            grads[2 * layer + 1] = g.sum(0)
            if layer:
                g = (g @ w.T) * (a_in > 0)
        if mark:
            mark("backward")
        return grads

    def update(self, grads: list[np.ndarray]) -> None:
        """SGD with momentum, as torch.optim.SGD."""
        for p_, g_, buf in zip(self.params, grads, self.bufs):
            buf *= MOMENTUM
            buf += g_
            p_ -= LR * buf

    def accuracy(self, x, y) -> float:
        return float((self.forward(x)[-1].argmax(1) == y).mean())


# ----------------------------------------------------------------------------- PyTorch
def torch_setup(seed: int):
    import torch
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    return torch, model


def torch_epoch(torch, model, opt, xt, yt, order) -> None:
    model.train()
    lossf = torch.nn.functional.cross_entropy
    for i in range(0, len(order), BATCH):
        idx = order[i:i + BATCH]
        opt.zero_grad()
        loss = lossf(model(xt[idx]), yt[idx])
        loss.backward()
        opt.step()


def torch_accuracy(torch, model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


# ----------------------------------------------------------------------------- runs
def epoch_times(data, rounds: int, seed: int, chunks: int) -> dict[str, list[float]]:
    xtr, ytr, xte, yte = data
    times: dict[str, list[float]] = {"chainrule": [], "numpy": [], "pytorch": []}
    cmodel, copt = chainrule_training(seed)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=BATCH, shuffle=True, seed=seed)
    npm = NumpyMLP(seed)
    try:
        torch, tmodel = torch_setup(seed)
        torch.set_num_threads(2)
        topt = torch.optim.SGD(tmodel.parameters(), lr=LR, momentum=MOMENTUM)
        xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    except ImportError:
        torch = None
        del times["pytorch"]
    rng = np.random.default_rng(seed)

    # epoch generators; the shuffling runs inside the timed turns, as the loader's does
    def chainrule_run(r: int) -> Iterator[None]:
        loader.set_epoch(r)
        yield from chainrule_steps(cmodel, copt, loader)

    def numpy_run(r: int) -> Iterator[None]:
        yield from npm.steps(xtr, ytr, rng.permutation(len(xtr)))

    def run_pytorch(r: int) -> None:
        torch_epoch(torch, tmodel, topt, xt, yt, torch.from_numpy(rng.permutation(len(xtr))))

    runners = {"chainrule": chainrule_run, "numpy": numpy_run}
    steps = -(-len(xtr) // BATCH)
    for r in range(rounds):
        # chainrule and NumPy share one BLAS: they alternate in turns of 1/chunks epoch with
        # no pause (benchlib.interleaved_epoch), so both meet the same machine; PyTorch, whose
        # threads would compete with OpenBLAS's still spinning ones, runs its epoch after a
        # pause, before or after the pair (alternately). The pair itself starts after a pause
        # every round, so its first turn's wake-up falls on chainrule and NumPy alternately
        pair = ["chainrule", "numpy"] if r % 2 == 0 else ["numpy", "chainrule"]
        if torch is not None and r % 2:
            times["pytorch"].append(settled_seconds(run_pytorch, r))
        time.sleep(benchlib.SETTLE_SECONDS)
        runs = benchlib.interleaved_epoch({name: runners[name](r) for name in pair}, steps, chunks, pause=0)
        for name in pair:
            times[name].append(runs[name].seconds)
        if torch is not None and not r % 2:
            times["pytorch"].append(settled_seconds(run_pytorch, r))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
              flush=True)
    print(f"  test accuracy after {rounds} epochs: chainrule {chainrule_accuracy(cmodel, xte, yte):.4f}, "
          f"numpy {npm.accuracy(xte, yte):.4f}"
          + (f", pytorch {torch_accuracy(torch, tmodel, xte, yte):.4f}" if torch else ""))
    return times


def time_to_98(data, seed: int, max_epochs: int = 15) -> dict[str, tuple[int, float, float]]:
    """Epochs and wall time (training only) until test accuracy >= 98%, Adam lr 1e-3.

    The two libraries train in alternation, one epoch each in turn (a pause before each), so
    that a slow spell of the machine falls on both; each stops once it reaches 98%.
    """
    xtr, ytr, xte, yte = data
    cmodel = chainrule_model(seed)
    copt = optim.Adam(cmodel.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=BATCH, shuffle=True, seed=seed)

    def chainrule_run(epoch: int) -> None:
        loader.set_epoch(epoch)
        chainrule_epoch(cmodel, copt, loader)

    runs = {"chainrule": (chainrule_run, lambda: chainrule_accuracy(cmodel, xte, yte))}
    try:
        torch, tmodel = torch_setup(seed)
        torch.set_num_threads(2)
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
        gen = torch.Generator().manual_seed(seed)
        runs["pytorch"] = (
            lambda epoch: torch_epoch(torch, tmodel, topt, xt, yt,
                                      torch.randperm(len(xtr), generator=gen)),
            lambda: torch_accuracy(torch, tmodel, xte, yte))
    except ImportError:
        pass
    state = {name: [0, 0.0, 0.0] for name in runs}  # epochs, seconds, accuracy
    for epoch in range(1, max_epochs + 1):
        for name, (train, accuracy) in runs.items():
            st = state[name]
            if st[2] >= 0.98:
                continue
            st[1] += settled_seconds(train, epoch)
            st[0], st[2] = epoch, accuracy()
        if all(st[2] >= 0.98 for st in state.values()):
            break
    return {name: (st[0], st[1], st[2]) for name, st in state.items()}


#: the step of the MLP on arrays too small to cost anything: what is left is each library's
#: fixed cost a step (Python, NumPy's call overhead, the engine's bookkeeping)
FIXED_SIZES, FIXED_BATCH = (8, 8, 8, 4), 4


def fixed_cost(seed: int, steps: int = 20000, chunks: int = 40) -> dict[str, float]:
    """Seconds a training step takes when its arrays cost nothing: the same network shape,
    loss and optimizer on ``FIXED_SIZES`` with a batch of ``FIXED_BATCH``, chainrule and the
    hand-written loop taking turns of ``steps / chunks`` steps (benchlib.interleaved_epoch);
    the mean step of each. On the real MLP a framework pays about this much more than the
    hand-written loop a step, and more again where the products evict its working set from
    the caches."""
    model, opt = chainrule_training(seed, FIXED_SIZES)
    npm = NumpyMLP(seed, FIXED_SIZES)
    rng = np.random.default_rng(seed)
    x = rng.random((FIXED_BATCH, FIXED_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, FIXED_SIZES[-1], FIXED_BATCH)

    def numpy_run() -> Iterator[None]:
        for _ in range(steps):
            npm.step(x, y)
            yield

    epochs = {"chainrule": chainrule_steps(model, opt, itertools.repeat((x, y), steps)), "numpy": numpy_run()}
    runs = benchlib.interleaved_epoch(epochs, steps, chunks)
    return {name: run.seconds / steps for name, run in runs.items()}


class PhaseClock:
    """Seconds of each named phase of a step: ``start()`` as the step begins, ``mark(name)``
    as each phase ends (the time since the previous mark is that phase's)."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}
        self.last = time.perf_counter()

    def start(self) -> None:
        self.last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds.setdefault(name, []).append(now - self.last)
        self.last = now


def phases(data, seed: int, epochs: int = 2, warmup: int = 100, sizes: tuple[int, ...] = SIZES,
           batch: int = BATCH) -> dict[str, dict[str, float]]:
    """Median seconds of each phase of a training step, library by library: the batch's
    gather, each layer and ReLU, the loss, backward and the update. chainrule's model is
    called layer by layer (what ``Sequential`` does) and the hand-written step through
    :class:`NumpyMLP` with its marks; the two take the same batches, which one goes first
    swapping every step, and the first ``warmup`` steps are left out. The hand-written loss
    is its gradient only, which chainrule computes in backward."""
    xtr, ytr = data[0], data[1]
    model, opt = chainrule_training(seed, sizes)
    npm = NumpyMLP(seed, sizes)
    clocks = {"chainrule": PhaseClock(), "numpy": PhaseClock()}
    rng = np.random.default_rng(seed)

    def chainrule_step(idx: np.ndarray, clock: PhaseClock) -> None:
        clock.start()
        x, y = xtr[idx], ytr[idx]
        clock.mark("batch")
        h = x
        for k, layer in enumerate(model):
            h = layer(h)
            clock.mark(layer_phase(k))
        loss = F.cross_entropy(h, y)
        clock.mark("loss")
        loss.backward()
        clock.mark("backward")
        opt.step()
        opt.zero_grad()  # here rather than before the forward pass, so the first layer is the layer alone
        clock.mark("update")

    def numpy_step(idx: np.ndarray, clock: PhaseClock) -> None:
        clock.start()
        x, y = xtr[idx], ytr[idx]
        clock.mark("batch")
        grads = npm.gradients(x, y, clock.mark)
        npm.update(grads)
        clock.mark("update")

    steps = {"chainrule": chainrule_step, "numpy": numpy_step}
    k = 0
    for _ in range(epochs):
        order = rng.permutation(len(xtr))
        for i in range(0, len(order) - batch + 1, batch):
            pair = ("chainrule", "numpy") if k % 2 == 0 else ("numpy", "chainrule")
            for name in pair:
                steps[name](order[i:i + batch], clocks[name])
            k += 1
    return {name: {phase: statistics.median(v[warmup:] or v) for phase, v in clock.seconds.items()}
            for name, clock in clocks.items()}


def memory_child(data_dir: Path, seed: int) -> None:
    """Run in a subprocess (no PyTorch loaded): load MNIST, train 2 epochs, report peak RSS."""
    xtr, ytr, xte, yte = load(data_dir)
    model, opt = chainrule_training(seed)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=BATCH, shuffle=True, seed=seed)
    for epoch in range(2):
        loader.set_epoch(epoch)
        chainrule_epoch(model, opt, loader)
    chainrule_accuracy(model, xte, yte)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description="MNIST MLP epoch: chainrule vs NumPy vs PyTorch")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=8,
                        help="chainrule and NumPy alternate in turns of 1/CHUNKS epoch (default 8; "
                             "1: whole epochs, one after the other)")
    parser.add_argument("--to-98", action="store_true", help="also time training to 98%% test accuracy")
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS of chainrule training")
    parser.add_argument("--fixed-cost", action="store_true",
                        help="also time the step on tiny arrays (8-8-8-4, batch 4): each library's fixed cost a step")
    parser.add_argument("--phases", action="store_true",
                        help="also time each phase of a step (layers, loss, backward, update) in both, in turns")
    parser.add_argument("--skip-epochs", action="store_true", help="skip the epoch-time comparison")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.data_dir, args.seed)
        return
    data = load(args.data_dir)
    print(blas_report())
    print(benchlib.load_line())
    if not args.skip_epochs:
        print(f"MNIST MLP 784-256-256-10, SGD momentum {MOMENTUM}, lr {LR}, batch {BATCH}, float32; "
              f"{args.rounds} rounds; chainrule and NumPy in turns of 1/{args.chunks} epoch")
        rate_before = benchlib.gemm_rate()  # the floor's GEMM rate, measured before and after
        cpu_before = benchlib.cpu_times()
        times = epoch_times(data, args.rounds, args.seed, args.chunks)
        print(benchlib.steal_line(cpu_before))
        med = {k: statistics.median(v) for k, v in times.items()}
        print("median epoch time:")
        for k, v in med.items():
            print(f"  {k:10s} {v:6.2f} s")
        for other, target in (("numpy", 1.10), ("pytorch", 0.70)):
            if other in times:  # the median of the rounds' ratios (benchlib.paired_ratio)
                ratio, each = benchlib.paired_ratio(times["chainrule"], times[other])
                print(f"  ratio chainrule/{other:8s}= {ratio:.2f}  (target <= {target:.2f}); round by round "
                      f"{', '.join(f'{r:.2f}' for r in each)}; ratio of the medians "
                      f"{med['chainrule'] / med[other]:.2f}")
        flops = benchlib.epoch_flops(chainrule_model(args.seed), data[0][:1], len(data[0]))
        print(benchlib.floor_report(flops, med, rate_before))
    if args.to_98:
        print("time to 98% test accuracy, Adam lr 1e-3, batch 128 (training time, evaluation excluded):")
        res = time_to_98(data, args.seed)
        for k, (ep, secs, acc) in res.items():
            print(f"  {k:10s} {ep:2d} epochs {secs:6.1f} s  (accuracy {acc:.4f})")
        if "pytorch" in res:
            print(f"  ratio chainrule/pytorch = {res['chainrule'][1] / res['pytorch'][1]:.2f}  (target <= 0.80)")
    if args.fixed_cost:
        cost = fixed_cost(args.seed)
        print(f"fixed cost a step ({'-'.join(map(str, FIXED_SIZES))}, batch {FIXED_BATCH}, in turns): "
              f"chainrule {cost['chainrule'] * 1e6:.1f} us, numpy {cost['numpy'] * 1e6:.1f} us "
              f"(+{(cost['chainrule'] - cost['numpy']) * 1e6:.1f} us a step)")
    if args.phases:
        med = phases(data, args.seed)
        print("each phase of a step, median us over two epochs of steps in turns (the hand-written "
              "loss is its gradient; chainrule's is in its backward):")
        print(f"  {'phase':10s} {'chainrule':>10s} {'numpy':>10s} {'difference':>11s}")
        for n in med["chainrule"]:
            c, h = med["chainrule"][n] * 1e6, med["numpy"][n] * 1e6
            print(f"  {n:10s} {c:10.1f} {h:10.1f} {c - h:+11.1f}")
        c, h = (sum(med[k].values()) * 1e6 for k in ("chainrule", "numpy"))
        print(f"  {'step':10s} {c:10.1f} {h:10.1f} {c - h:+11.1f}  ({c / h:.2f}x)")
    if args.memory:
        out = subprocess.run([sys.executable, __file__, "--memory-child", "--data-dir", str(args.data_dir),
                              "--seed", str(args.seed)], capture_output=True, text=True, check=True)
        peak = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]
        print(f"peak resident memory of a chainrule MNIST MLP training process: {peak:.0f} MB (target <= 400)")


if __name__ == "__main__":
    main()
