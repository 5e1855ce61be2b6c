"""The LeNet-style MNIST CNN in chainrule and in PyTorch CPU, epoch by epoch, side by side.

The model in both (``chainrule.nn.lenet()``, the network of ``chainrule train --model cnn``):
conv5×5·32 – maxpool2 – ReLU – conv5×5·64 – maxpool2 – ReLU – fc128 – ReLU – fc10, PyTorch's
default initialisation, softmax cross-entropy, Adam lr 1e-3, batch 128, float32, the 60,000
training images of ../shared/data/mnist, test accuracy on the 10,000 test images after each
epoch. The frameworks train each epoch in alternating turns of an eighth of an epoch
(``--chunks``; benchlib.interleaved_epoch), so that machine noise, which on a shared host drifts
within seconds, hits them alike; a 5 ms pause precedes each turn (idle OpenMP/OpenBLAS worker
threads spin for a while after their last call).

lenet() pools before its ReLUs (the same function and gradient as the textbook conv – ReLU –
pool, since ReLU is monotone, with the ReLU on a quarter of the values). PyTorch runs twice: as
"pytorch", the same layer order as lenet() (the like-for-like comparison), and as
"pytorch-textbook", conv – ReLU – maxpool, the order PyTorch users usually write. The benchmark
prints chainrule's ratio to both. PyTorch
runs with ``torch.set_num_threads(2)``; NumPy's BLAS uses its default threads, except inside
chainrule's convolutions, which split the batch over chainrule's own threads (``--threads``
does not change them; ``cr.set_num_threads`` does).

    python benchmarks/mnist_cnn.py                  # 3 epochs each
    python benchmarks/mnist_cnn.py --epochs 1 --no-torch
    python benchmarks/mnist_cnn.py --limit 6000     # a quick look on a tenth of the data
    python benchmarks/mnist_cnn.py --profile        # where a chainrule epoch's time goes, per op
    OPENBLAS_NUM_THREADS=1 python benchmarks/mnist_cnn.py --cpu-time   # work, not wall time

Besides the epoch times it prints the floor (the epoch's FLOPs over this machine's float32 GEMM
rate, see benchlib.py) with the fraction of it each library achieves, and the peak resident
memory of a chainrule CNN training process (a child process: load MNIST, train one epoch,
score the test set). ``--profile`` runs one chainrule epoch under cProfile and prints, per op,
the forward and backward seconds, then the engine's walk, the optimizer and data loading.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import benchlib
import numpy as np

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset, mnist

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
TURN_PAUSE = 0.005  # seconds before each turn of an epoch (see main)


# ----------------------------------------------------------------------------- chainrule
class Chainrule:
    name = "chainrule"

    def __init__(self, data, batch: int, lr: float, seed: int) -> None:
        xtr, ytr, self.xte, self.yte = data
        cr.manual_seed(seed)
        self.model = nn.lenet()
        self.opt = optim.Adam(self.model.parameters(), lr=lr)
        self.loader = DataLoader(TensorDataset(xtr, ytr), batch_size=batch, shuffle=True,
                                 seed=seed)

    def steps(self) -> Iterator[None]:
        """One epoch, yielding after every step; returns the mean training loss."""
        self.model.train()
        total, n = 0.0, 0
        for xb, yb in self.loader:
            self.opt.zero_grad()
            loss = F.cross_entropy(self.model(xb), yb)
            loss.backward()
            self.opt.step()
            total += loss.item() * len(yb)
            n += len(yb)
            yield
        return total / n

    def epoch(self) -> float:
        loss: float = benchlib.exhaust(self.steps())
        return loss

    def accuracy(self) -> float:
        self.model.eval()
        with cr.no_grad():
            pred = np.concatenate([self.model(self.xte[i:i + 1000]).data.argmax(1)
                                   for i in range(0, len(self.xte), 1000)])
        return float((pred == self.yte).mean())


# ----------------------------------------------------------------------------- PyTorch
class Torch:
    def __init__(self, data, batch: int, lr: float, seed: int, threads: int,
                 textbook: bool = False) -> None:
        import torch
        self.torch = torch
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        xtr, ytr, xte, yte = data
        tn = torch.nn
        self.name = "pytorch-textbook" if textbook else "pytorch"

        def stage(conv):  # lenet()'s order, or the textbook conv - ReLU - pool
            return [conv, tn.ReLU(), tn.MaxPool2d(2)] if textbook else [conv, tn.MaxPool2d(2), tn.ReLU()]

        self.model = tn.Sequential(
            tn.Unflatten(1, (1, 28, 28)), *stage(tn.Conv2d(1, 32, 5)), *stage(tn.Conv2d(32, 64, 5)),
            tn.Flatten(), tn.Linear(1024, 128), tn.ReLU(), tn.Linear(128, 10))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.xtr, self.ytr = torch.from_numpy(xtr), torch.from_numpy(ytr.astype(np.int64))
        self.xte, self.yte = torch.from_numpy(xte), yte
        self.batch = batch
        self.rng = np.random.default_rng(seed)

    def steps(self) -> Iterator[None]:
        """One epoch, yielding after every step; returns the mean training loss."""
        torch = self.torch
        self.model.train()
        order = torch.from_numpy(self.rng.permutation(len(self.xtr)))
        total = 0.0
        for i in range(0, len(order), self.batch):
            idx = order[i:i + self.batch]
            self.opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.model(self.xtr[idx]), self.ytr[idx])
            loss.backward()
            self.opt.step()
            total += loss.item() * len(idx)
            yield
        return total / len(order)

    def accuracy(self) -> float:
        self.model.eval()
        with self.torch.no_grad():
            pred = np.concatenate([self.model(self.xte[i:i + 1000]).argmax(1).numpy()
                                   for i in range(0, len(self.xte), 1000)])
        return float((pred == self.yte).mean())


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(DATA_DIR))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    ap.add_argument("--chunks", type=int, default=8,
                    help="the libraries alternate in turns of 1/CHUNKS epoch (default 8; 1: "
                         "whole epochs, one after the other)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    ap.add_argument("--no-torch", action="store_true", help="chainrule only")
    ap.add_argument("--torch-order", choices=("both", "lenet", "textbook"), default="both",
                    help="PyTorch's layer order: lenet()'s (conv-pool-ReLU), the textbook "
                         "conv-ReLU-pool, or both (default), each its own runner")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results here")
    ap.add_argument("--profile", action="store_true",
                    help="only profile one chainrule epoch: seconds per op, forward and backward")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-RSS child process")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time CPU, not wall clock, every library on one thread (run it under "
                         "OPENBLAS_NUM_THREADS=1): the work each does, robust to a loaded machine")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    ds = mnist(args.data_dir)
    xtr, ytr = ds.train.arrays
    xte, yte = ds.test.arrays
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    data = (xtr, ytr, xte, yte)
    print(benchlib.blas_report())
    if args.memory_child:
        return memory_child(data, args)

    clock = time.perf_counter
    if args.cpu_time:
        clock, args.threads = time.process_time, 1
        cr.set_num_threads(1)
        if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
            print("note: --cpu-time without OPENBLAS_NUM_THREADS=1 also counts BLAS's threads",
                  file=sys.stderr)
    if args.profile:
        return profile(data, args, clock)
    runners = [Chainrule(data, args.batch_size, args.lr, args.seed)]
    if not args.no_torch:
        try:
            for textbook in {"both": (False, True), "lenet": (False,),
                             "textbook": (True,)}[args.torch_order]:
                runners.append(Torch(data, args.batch_size, args.lr, args.seed, args.threads,
                                     textbook))
        except ImportError:
            print("PyTorch is not installed: chainrule only", file=sys.stderr)
    print(f"LeNet-style CNN on MNIST: {len(xtr)} training images, batch {args.batch_size}, "
          f"Adam lr {args.lr:g}, seed {args.seed}; {benchlib.load_line()}", flush=True)

    rate_before = benchlib.gemm_rate()  # the floor's GEMM rate: measured before and after
    results: dict[str, list[dict]] = {r.name: [] for r in runners}
    steps = -(-len(xtr) // args.batch_size)
    cpu_before = benchlib.cpu_times()
    for epoch in range(1, args.epochs + 1):
        # every runner's epoch in turns of 1/chunks epoch, who goes first rotating. A turn
        # waits TURN_PAUSE: enough for the other library's idle threads to stop spinning (both
        # spin briefly here: OpenMP's default, and OpenBLAS parked by chainrule's first split),
        # short of the idle that puts a core to sleep (after 0.3 s a chainrule step that hands
        # work to its threads takes 51 ms instead of 18: docs/performance.md)
        order = runners[(epoch - 1) % len(runners):] + runners[:(epoch - 1) % len(runners)]
        runs = benchlib.interleaved_epoch({r.name: r.steps() for r in order}, steps, args.chunks,
                                          pause=TURN_PAUSE, clock=clock)
        for r in order:
            seconds, loss = runs[r.name].seconds, runs[r.name].result
            acc = r.accuracy()
            results[r.name].append({"epoch": epoch, "seconds": seconds, "loss": loss,
                                    "test_accuracy": acc})
            print(f"  epoch {epoch}  {r.name:16s} {seconds:7.1f} s  train loss {loss:.4f}  "
                  f"test accuracy {acc * 100:.2f} %", flush=True)

    print(benchlib.steal_line(cpu_before))
    print(f"\n{'':16s} {'median epoch':>12s} {'best test acc':>14s}"
          + ("   (CPU seconds, one thread each)" if args.cpu_time else ""))
    med = {}
    for name, recs in results.items():
        med[name] = statistics.median(r["seconds"] for r in recs)
        best = max(r["test_accuracy"] for r in recs)
        print(f"{name:16s} {med[name]:10.1f} s {best * 100:12.2f} %")
    for name, order in (("pytorch", "the same layer order"), ("pytorch-textbook", "PyTorch in "
                        "the textbook order conv-ReLU-pool")):
        if name in med:  # the median of the epochs' paired ratios (benchlib.paired_ratio)
            ratio, each = benchlib.paired_ratio([r["seconds"] for r in results["chainrule"]],
                                                [r["seconds"] for r in results[name]])
            print(f"chainrule / {name} epoch time: {ratio:.2f}x ({order}; target <= 1.15x); "
                  f"epoch by epoch {', '.join(f'{r:.2f}' for r in each)}; ratio of the median "
                  f"epochs {med['chainrule'] / med[name]:.2f}x")
    flops = benchlib.epoch_flops(runners[0].model, xtr[:1], len(xtr))
    floor = benchlib.Floor(flops, max(rate_before, benchlib.gemm_rate()))
    print(floor.header())
    for name, m in med.items():
        print(floor.line(name, m))
    peak = None
    if not args.no_memory:
        peak = peak_rss_child(args)
        print(f"peak resident memory of a chainrule CNN training process: {peak:.0f} MB "
              f"(target <= 600)")
    print(f"after: {benchlib.load_line()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results, "median_seconds": med,
                       "floor_seconds": floor.seconds, "gemm_flops_per_s": floor.rate,
                       "epoch_flops": flops, "peak_rss_mb": peak}, f, indent=1)
    return 0


def memory_child(data, args) -> int:
    """In a child process (no PyTorch loaded): train one epoch, score the test set, and print
    the process's peak RSS as JSON."""
    r = Chainrule(data, args.batch_size, args.lr, args.seed)
    r.epoch()
    r.accuracy()
    print(json.dumps({"peak_rss_mb": benchlib.peak_rss_mb()}))
    return 0


def peak_rss_child(args) -> float:
    cmd = [sys.executable, __file__, "--memory-child", "--data-dir", args.data_dir,
           "--batch-size", str(args.batch_size), "--seed", str(args.seed)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def profile(data, args, clock) -> int:
    """One chainrule epoch under cProfile, split by op (CPU time with --cpu-time)."""
    r = Chainrule(data, args.batch_size, args.lr, args.seed)
    print(f"profiling one chainrule CNN epoch on {len(data[0])} images under cProfile"
          f"{' (CPU time)' if args.cpu_time else ''}; {benchlib.load_line()}", flush=True)
    total, recs, other = benchlib.op_profile(r.epoch, clock)
    print(benchlib.profile_table(total, recs, other))
    return 0


if __name__ == "__main__":
    sys.exit(main())
