"""Data-parallel scaling of the MNIST MLP epoch on MPI, weak and strong, run interleaved so
machine noise hits every configuration alike.

The model is the performance benchmark's (benchmarks/mnist_mlp.py): 784-256-256-10, ReLU,
softmax cross-entropy, SGD momentum 0.9, lr 0.05, float32, one epoch of the 60,000 MNIST
training images. Every rank runs one BLAS thread unless said otherwise. Runs:

* 1 rank, batch 128 (the reference of both comparisons);
* **weak scaling** (the headline, the convention of Horovod's and DDP's published figures):
  2 ranks x 128 per rank = global batch 256, so each rank does the 1-rank run's work per step
  and the epoch has half the steps; once with the default (hierarchical, shared-memory)
  allreduce and once with the plain MPI ``Iallreduce``; compared also with 1 rank x 2 BLAS
  threads at batch 256 (the same global batch on the same two cores), and with its
  *ceiling*: two ranks that each train their own model on their own shards of 128 with no
  communication at all (what two busy cores, sharing caches and memory, allow before any
  gradient is averaged);
* **strong scaling**: 2 ranks x 64 = global batch 128, the 1-rank run's very steps split in
  two; compared with 1 rank x 2 threads at batch 128, and with its *ceiling*: two ranks that
  each train their own half-batches of 64 with no communication at all (what the fixed
  per-step costs — Python, the optimizer update of every parameter — allow);
* **the same weak scaling in two baselines**, each against its own 1-rank epoch: the
  hand-written NumPy MLP of benchmarks/mnist_mlp.py with the same exact average in shared
  memory, written out with mpi4py (:class:`SharedAverage`: what the machine allows an
  exact average at all, with no framework around it), and PyTorch's
  ``DistributedDataParallel`` on its CPU backend, gloo (when PyTorch is installed);
* **an experiment, not a chainrule option**: the same weak scaling with each global batch
  split between the ranks by their measured speeds (:func:`speed_balanced_sampler`), to
  measure how much of the communication share is one rank waiting for a slower one;

each one warm-up and one timed epoch between barriers; every run checks that its ranks end
with bitwise identical weights. Printed: median epoch seconds, speed-up and efficiency
(T1 / (N * TN)), the ratio against 1 rank x 2 threads, the share of
the epoch each rank spent in communication (packing, starting and waiting on the bucketed
Iallreduce, waiting for the slower rank included) and how it is spread over the steps (the
median step's against the mean, and the share carried by steps that waited for a stalled
rank) and what it is made of (:func:`rank_split`: how much longer the slowest rank computes,
and the average's own work), the share of benchlib's GEMM floor each run
reaches, and a model of the weak-scaling epoch on 8, 64 and 256 ranks (ring allreduce of the
measured gradient bytes) on 10 and 100 Gbit/s networks.

    python benchmarks/distributed.py                  # 3 interleaved rounds
    python benchmarks/distributed.py --rounds 5 --batch 256
    python benchmarks/distributed.py --variants       # what each DataParallel option is worth
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import benchlib
import numpy as np

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
SIZES = (784, 256, 256, 10)
LR, MOMENTUM = 0.05, 0.9
#: ring allreduce model: per-message latency (s) and bandwidth (bytes/s) of two networks
NETWORKS = {"10 Gbit/s Ethernet (latency 20 us)": (20e-6, 10e9 / 8),
            "100 Gbit/s InfiniBand (latency 2 us)": (2e-6, 100e9 / 8)}


# ----------------------------------------------------------------------------- one run (a rank)
@dataclass
class Replica:
    """One rank's side of a run, whatever trains it: chainrule, hand-written NumPy or PyTorch.

    ``step(x, y, global_examples)`` trains one step on this rank's shard and returns the
    seconds it spent averaging gradients (None where the library does not say)."""
    rank: int
    world: int
    step: Callable[[np.ndarray, np.ndarray, int], float | None]
    barrier: Callable[[], None]
    gather: Callable[[dict], list[dict]]  # every rank's result, in rank order
    algorithm: str
    parameters: Callable[[], list[np.ndarray]]  # the model's, as arrays (checked after the epochs)


def chainrule_replica(ranks: int, batch: int, seed: int, independent: bool, options: dict) -> Replica:
    """chainrule's MLP, wrapped in ``DataParallel`` on more than one rank (unless ``independent``)."""
    import chainrule as cr
    import chainrule.distributed as dist
    import chainrule.nn.functional as F
    from chainrule import nn, optim

    if ranks > 1:
        dist.init()
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    ddp = dist.DataParallel(model, **options) if ranks > 1 and not independent else None

    def step(xb: np.ndarray, yb: np.ndarray, global_examples: int) -> float:
        opt.zero_grad()
        if ddp is None:
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
            return 0.0
        comm_before = ddp.comm_seconds
        ddp.set_batch(len(yb), global_examples)
        F.cross_entropy(ddp(xb), yb).backward()
        ddp.synchronize()
        opt.step()
        return ddp.comm_seconds - comm_before

    def parameters() -> list[np.ndarray]:
        return [p.data for p in model.parameters()]

    if ranks == 1:
        return Replica(0, 1, step, lambda: None, lambda r: [r], "none", parameters)
    return Replica(dist.rank(), dist.world_size(), step, dist.barrier, dist.allgather_json,
                   ddp.algorithm if ddp is not None else "none", parameters)


def mpi_gather(comm) -> Callable[[dict], list[dict]]:
    """Every rank's result dict, in rank order, over an mpi4py communicator (as JSON)."""
    return lambda result: [json.loads(s) for s in comm.allgather(json.dumps(result))]


class SharedAverage:
    """The exact average of the ranks' gradients, written by hand with mpi4py: the fastest
    way known here, and the same as chainrule's default on one machine, so the two differ
    only by the framework around it. Each rank writes its scaled gradients into its slot of
    one shared-memory window, one barrier, and every rank sums the slots in rank order (the
    same bits everywhere). Two sets of slots alternate, so a rank that runs ahead never
    overwrites a slot that a slower one still reads."""

    def __init__(self, comm, shapes: list[tuple[int, ...]]) -> None:
        from mpi4py import MPI

        self.comm, self.rank, self.world = comm, comm.Get_rank(), comm.Get_size()
        self.bounds = list(itertools.pairwise(np.cumsum([0] + [int(np.prod(s)) for s in shapes])))
        self.shapes, size = shapes, self.bounds[-1][1]
        self.win = MPI.Win.Allocate_shared(2 * self.world * size * 4 if self.rank == 0 else 0, 4, comm=comm)
        memory, _ = self.win.Shared_query(0)
        self.slots = np.frombuffer(memory, np.float32, count=2 * self.world * size).reshape(2, self.world, size)
        self.win.Lock_all()
        self.sum = np.empty(size, np.float32)
        self.parity = 0

    def __call__(self, grads: list[np.ndarray], scale: float) -> list[np.ndarray]:
        mine = self.slots[self.parity, self.rank]
        for g, (lo, hi) in zip(grads, self.bounds):
            np.multiply(g.reshape(-1), scale, out=mine[lo:hi])
        self.win.Sync()  # this rank's writes are visible before the barrier says they are there
        self.comm.Barrier()
        self.win.Sync()
        rows = self.slots[self.parity]
        np.add(rows[0], rows[1], out=self.sum)
        for k in range(2, self.world):
            np.add(self.sum, rows[k], out=self.sum)
        self.parity ^= 1
        return [self.sum[lo:hi].reshape(s) for (lo, hi), s in zip(self.bounds, self.shapes)]


def numpy_replica(ranks: int, batch: int, seed: int, independent: bool, options: dict) -> Replica:
    """mnist_mlp.py's hand-written NumPy MLP; on more than one rank its gradients are averaged
    with :class:`SharedAverage`, weighted by examples as chainrule's are."""
    from mnist_mlp import NumpyMLP

    net = NumpyMLP(seed)
    average: SharedAverage | None = None
    if ranks > 1:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        average = SharedAverage(comm, [p.shape for p in net.params])

    def step(xb: np.ndarray, yb: np.ndarray, global_examples: int) -> float:
        grads = net.gradients(xb, yb)
        seconds = 0.0
        if average is not None:
            t0 = time.perf_counter()
            grads = average(grads, len(yb) / global_examples)
            seconds = time.perf_counter() - t0
        net.update(grads)
        return seconds

    if average is None:
        return Replica(0, 1, step, lambda: None, lambda r: [r], "none", lambda: net.params)
    return Replica(comm.Get_rank(), comm.Get_size(), step, comm.Barrier, mpi_gather(comm), "shared memory, by hand",
                   lambda: net.params)


def torch_replica(ranks: int, batch: int, seed: int, independent: bool, options: dict) -> Replica:
    """mnist_mlp.py's PyTorch MLP; on more than one rank in ``DistributedDataParallel`` over
    PyTorch's CPU backend, gloo (the parent sets MASTER_ADDR and MASTER_PORT; the rank comes
    from MPI, which launched the processes)."""
    from mnist_mlp import torch_setup

    torch, model = torch_setup(seed)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    rank, world, gather, barrier = 0, 1, (lambda r: [r]), (lambda: None)
    if ranks > 1:
        import torch.distributed as tdist
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        rank, world = comm.Get_rank(), comm.Get_size()
        tdist.init_process_group("gloo", rank=rank, world_size=world)
        model = torch.nn.parallel.DistributedDataParallel(model)
        barrier = tdist.barrier
        gather = mpi_gather(comm)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    lossf = torch.nn.functional.cross_entropy

    def step(xb: np.ndarray, yb: np.ndarray, global_examples: int) -> None:
        opt.zero_grad()
        lossf(model(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
        opt.step()
        return None

    return Replica(rank, world, step, barrier, gather, "gloo" if ranks > 1 else "none",
                   lambda: [p.detach().numpy() for p in model.parameters()])


REPLICAS = {"chainrule": chainrule_replica, "numpy": numpy_replica, "torch": torch_replica}


def worker(framework: str, ranks: int, data_dir: Path, batch: int, seed: int, independent: bool,
           options: dict, balance: bool = False) -> None:
    """Train a warm-up and a timed epoch at ``batch`` examples per rank; rank 0 prints one
    JSON line of every rank's measurements. ``independent``: each rank trains its own model
    on its shards with no gradient average (MPI only for the barriers around the epoch).
    Every framework reads the same shards (chainrule's DistributedSampler, one index array
    per rank and step) from the same arrays."""
    from chainrule.data import mnist
    from chainrule.distributed import DistributedSampler

    x, y = mnist(data_dir).train.arrays
    rep = REPLICAS[framework](ranks, batch, seed, independent, options)
    sampler = (speed_balanced_sampler(len(x), batch, seed, rep) if balance
               else DistributedSampler(len(x), batch, seed=seed, rank=rep.rank, world_size=rep.world))

    def epoch(k: int) -> float:
        sampler.set_epoch(k)
        rep.barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        steps.clear()
        for i, idx in enumerate(sampler):
            ts = time.perf_counter()
            step_comm = rep.step(x[idx], y[idx], sampler.global_size(i))
            if balance:  # the exchange of speeds is communication too
                step_comm += sampler.observe(len(idx), time.perf_counter() - ts - step_comm)
            steps.append((time.perf_counter() - ts, step_comm))
        cpu[0] = time.process_time() - c0
        seconds = time.perf_counter() - t0  # this rank's own epoch, before waiting for the others
        rep.barrier()
        return seconds

    cpu = [0.0]
    steps: list[tuple[float, float | None]] = []  # (seconds, communication seconds) of each step
    epoch(0)
    seconds = epoch(1)
    comm = [c for _, c in steps]
    grad_bytes = 4 * sum(a * b + b for a, b in zip(SIZES[:-1], SIZES[1:]))
    params = rep.parameters()
    result = {"weights_sha256": hashlib.sha256(b"".join(p.tobytes() for p in params)).hexdigest(),
              "seconds": seconds, "cpu_seconds": cpu[0], "grad_bytes": grad_bytes, "steps": len(sampler),
              "algorithm": rep.algorithm, "step_seconds": [round(t, 7) for t, _ in steps],
              "comm_seconds": None if None in comm else sum(comm),
              "step_comm": None if None in comm else [round(c, 7) for c in comm]}
    per_rank = rep.gather(result)
    if rep.rank == 0:
        print(json.dumps({"ranks": per_rank}), flush=True)


#: a speed-balanced run re-splits the global batch after this many steps
BALANCE_EVERY = 10


def split_counts(shares: np.ndarray, size: int) -> np.ndarray:
    """``size`` examples dealt to the ranks in proportion to ``shares`` (summing to 1), as
    integers summing to ``size``: each rank its floor, the rest one each to the largest
    remainders (ties to the lower rank), so every rank computes the same split. (random_split's
    fractions hand the rest out round-robin from the first part, as PyTorch's do; here the
    split should follow the speeds as closely as whole examples allow.)"""
    raw = shares * size
    counts = np.floor(raw).astype(np.int64)
    for r in np.argsort(-(raw - counts), kind="stable")[:size - int(counts.sum())]:
        counts[r] += 1
    return counts


def speed_balanced_sampler(n: int, batch: int, seed: int, rep: Replica):
    """This benchmark's experiment, not a chainrule option: chainrule's DistributedSampler
    (the same global batches, in the same order) with each global batch split between the
    ranks in proportion to their measured speeds instead of evenly. ``observe(examples,
    seconds)`` records a step's computing time (its communication left out); every
    BALANCE_EVERY steps the ranks exchange their examples a second, and each rank's share
    moves halfway to its share of the summed speed, so the split settles where the ranks
    compute a step in the same time. The gradient stays the global batch's (DataParallel
    weights each rank's by its examples); which rank computes which example, and so the
    rounding of the sum, depends on the timing: runs no longer repeat bit for bit."""
    from chainrule.distributed import DistributedSampler

    class SpeedBalanced(DistributedSampler):
        def __init__(self) -> None:
            super().__init__(n, batch, seed=seed, rank=rep.rank, world_size=rep.world)
            self.shares = np.full(rep.world, 1 / rep.world)
            self.seen: list[tuple[int, float]] = []

        def shard_bounds(self, size: int) -> tuple[int, int]:
            counts = split_counts(self.shares, size)
            lo = int(counts[:self.rank].sum())
            return lo, lo + int(counts[self.rank])

        def observe(self, examples: int, seconds: float) -> float:
            """Record a step; re-split every BALANCE_EVERY steps. Returns the seconds spent
            exchanging the speeds (a collective: it waits for every rank)."""
            self.seen.append((examples, seconds))
            if len(self.seen) < BALANCE_EVERY:
                return 0.0
            t0 = time.perf_counter()
            done, took = (sum(v) for v in zip(*self.seen))
            self.seen.clear()
            speeds = np.array([r["speed"] for r in rep.gather({"speed": done / max(took, 1e-9)})])
            self.shares = 0.5 * self.shares + 0.5 * speeds / speeds.sum()
            return time.perf_counter() - t0

    return SpeedBalanced()


# ----------------------------------------------------------------------------- the comparison
@dataclass(frozen=True)
class Config:
    name: str
    ranks: int
    threads: int
    batch: int  # per rank
    independent: bool = False  # no gradient average: the no-communication ceiling
    framework: str = "chainrule"  # or the baselines: "numpy" (by hand), "torch" (DistributedDataParallel)
    env: tuple[tuple[str, str], ...] = ()  # extra environment (CHAINRULE_ALLREDUCE=mpi)
    options: str = "{}"  # DataParallel keyword arguments, as JSON
    balance: bool = False  # split each global batch by the ranks' measured speeds (the experiment)


def run_config(cfg: Config, args: argparse.Namespace) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(cfg.threads), "OMP_NUM_THREADS": str(cfg.threads),
           "MKL_NUM_THREADS": str(cfg.threads), **dict(cfg.env)}
    for var in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE"):
        env.pop(var, None)
    if cfg.framework == "torch" and cfg.ranks > 1:  # where gloo's ranks meet: a free port of this machine
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(s.getsockname()[1]))
    cmd = [sys.executable, __file__, "--worker", cfg.framework, "--ranks", str(cfg.ranks), "--data-dir",
           str(args.data_dir), "--batch", str(cfg.batch), "--seed", str(args.seed), "--options", cfg.options] + (
        ["--independent"] if cfg.independent else []) + (["--balance"] if cfg.balance else [])
    if cfg.ranks > 1:
        mpiexec = shutil.which("mpiexec")
        if mpiexec is None:
            sys.exit("distributed.py: no mpiexec on PATH; pip install -e \".[mpi]\"")
        cmd = [mpiexec, "-n", str(cfg.ranks), *cmd]
    time.sleep(0.3)  # let the previous run's BLAS threads go idle
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        sys.exit(f"distributed.py: {cfg.name} failed:\n{r.stderr[-2000:]}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1]
    result = json.loads(line)
    if not cfg.independent and len({rank["weights_sha256"] for rank in result["ranks"]}) > 1:
        sys.exit(f"distributed.py: {cfg.name}: the ranks' weights differ after training; the gradient "
                 f"average is broken and no timing of it means anything")
    return result


def _epoch_flops(n_examples: int) -> int:
    import chainrule as cr
    from chainrule import nn

    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    return benchlib.epoch_flops(model, np.zeros((1, 784), np.float32), n_examples)


def ring_allreduce_seconds(nbytes: float, ranks: int, latency: float, bandwidth: float) -> float:
    """Ring allreduce: 2(N-1) steps, each moving nbytes/N per rank: 2(N-1)/N * nbytes / B
    on the wire plus 2(N-1) message latencies."""
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) * latency + 2 * (ranks - 1) / ranks * nbytes / bandwidth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128,
                        help="the 1-rank batch: per-rank batch of weak scaling, global batch of strong (128)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=sorted(REPLICAS), help=argparse.SUPPRESS)
    parser.add_argument("--ranks", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--variants", action="store_true",
                        help="instead: weak scaling with each DataParallel option turned off in turn")
    parser.add_argument("--independent", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--balance", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.ranks, args.data_dir, args.batch, args.seed, args.independent,
               json.loads(args.options), args.balance)
        return
    if not (args.data_dir / "train-images-idx3-ubyte.gz").exists():
        sys.exit(f"distributed.py: no MNIST in {args.data_dir} (--data-dir)")
    b = args.batch
    if b % 2:
        sys.exit("distributed.py: --batch must be even (strong scaling splits it over 2 ranks)")

    print(benchlib.load_line())
    print(benchlib.blas_report())
    if args.variants:
        variants(args)
        return
    rate_before = benchlib.gemm_rate()  # the floor's GEMM rate, measured before and after
    one = Config(f"1 rank x 1 thread, batch {b}", 1, 1, b)
    weak = Config(f"2 ranks x 1 thread, {b} per rank", 2, 1, b)
    weak_threads = Config(f"1 rank x 2 threads, batch {2 * b}", 1, 2, 2 * b)
    weak_ceiling = Config(f"2 independent ranks, {b} each", 2, 1, b, independent=True)
    strong = Config(f"2 ranks x 1 thread, {b // 2} per rank", 2, 1, b // 2)
    ceiling = Config(f"2 independent ranks, {b // 2} each", 2, 1, b // 2, independent=True)
    strong_threads = Config(f"1 rank x 2 threads, batch {b}", 1, 2, b)
    weak_mpi = Config(f"2 ranks x 1 thread, {b} per rank, MPI", 2, 1, b, env=(("CHAINRULE_ALLREDUCE", "mpi"),))
    weak_balanced = Config(f"2 ranks x 1 thread, {2 * b} a step split by speed", 2, 1, b, balance=True)
    configs = [one, weak, weak_mpi, weak_balanced, weak_ceiling, weak_threads, strong, ceiling, strong_threads]
    # the same weak scaling in hand-written NumPy and in PyTorch, each against its own 1 rank
    baselines = {"hand-written NumPy, the same exact average in shared memory":
                 (Config(f"NumPy 1 rank x 1 thread, batch {b}", 1, 1, b, framework="numpy"),
                  Config(f"NumPy 2 ranks x 1 thread, {b} per rank", 2, 1, b, framework="numpy"))}
    if importlib.util.find_spec("torch") is not None:
        baselines["PyTorch DistributedDataParallel (gloo)"] = (
            Config(f"PyTorch 1 rank x 1 thread, batch {b}", 1, 1, b, framework="torch"),
            Config(f"PyTorch DDP 2 ranks x 1 thread, {b} per rank", 2, 1, b, framework="torch"))
    else:
        print("(PyTorch is not installed: no DistributedDataParallel baseline)")
    configs += [c for pair in baselines.values() for c in pair]
    runs: dict[Config, list[dict]] = {c: [] for c in configs}
    stolen: dict[Config, list[float]] = {c: [] for c in configs}  # the hypervisor's share of each run
    load_before = os.getloadavg()
    for rnd in range(args.rounds):
        for cfg in configs:
            before = benchlib.cpu_times()
            runs[cfg].append(run_config(cfg, args))
            share = benchlib.steal_share(before, benchlib.cpu_times())
            if share is not None:
                stolen[cfg].append(share)
            print(f"round {rnd + 1}/{args.rounds}  {cfg.name:34s} epoch "
                  f"{max(r['seconds'] for r in runs[cfg][-1]['ranks']):.3f} s", flush=True)
    load_after = os.getloadavg()

    def per_round(cfg: Config, key: str = "seconds") -> list[float]:
        """Each round's figure of its slowest rank."""
        return [max(r[key] for r in run["ranks"]) for run in runs[cfg]]

    def med(cfg: Config, key: str = "seconds") -> float:
        """Median over the rounds of the slowest rank's figure."""
        return statistics.median(per_round(cfg, key))

    def comm_share(cfg: Config) -> float:
        return statistics.median(statistics.mean(r["comm_seconds"] / r["seconds"] for r in run["ranks"])
                                 for run in runs[cfg])

    def efficiency(single: Config, two: Config) -> str:
        """Weak-scaling efficiency from the medians, and the median of the rounds' (each round ran
        the two a few seconds apart, so their pairs drift less)."""
        paired, rounds = benchlib.paired_ratio(per_round(single), [2 * t for t in per_round(two)])
        return (f"efficiency {med(single) / (2 * med(two)):.2f}; paired: median of the rounds' {paired:.2f} "
                f"(round by round {', '.join(f'{e:.2f}' for e in rounds)})")

    t1 = med(one)
    grad_bytes = runs[weak][0]["ranks"][0]["grad_bytes"]
    print(f"\nMNIST MLP {'-'.join(map(str, SIZES))}, SGD momentum, one epoch of 60,000 examples; median of "
          f"{args.rounds} interleaved rounds; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
          f"({os.cpu_count()} cores); {grad_bytes:,} gradient bytes per allreduce step")
    if any(stolen.values()):
        print("  (stolen: the share of all CPUs' time during the run, start-up included, that the "
              "hypervisor gave to other machines; a rank stopped so makes its partner wait)")
    for cfg in configs:
        cpu = statistics.median(sum(r["cpu_seconds"] for r in run["ranks"]) for run in runs[cfg])
        steps = runs[cfg][0]["ranks"][0]["steps"]
        steal = f", {statistics.median(stolen[cfg]):.1%} stolen" if stolen[cfg] else ""
        print(f"  {cfg.name:36s} epoch {med(cfg):6.3f} s wall ({steps} steps), {cpu:5.2f} CPU s (all ranks)"
              f"{steal}")
    for title, two, threads in (("weak scaling (headline)", weak, weak_threads), ("strong scaling", strong,
                                                                                  strong_threads)):
        t2 = med(two)
        print(f"{title}: {two.name} vs {one.name}")
        print(f"  speed-up {t1 / t2:.2f}, scaling {efficiency(one, two)} (target >= 0.85)")
        print(f"  vs {threads.name} (same global batch): {med(threads) / t2:.2f}x its speed "
              f"(epoch {t2:.3f} s vs {med(threads):.3f} s)")
        print(f"  communication share of the 2-rank epoch: {comm_share(two):.1%} (target <= 10 %), allreduce "
              f"{runs[two][0]['ranks'][0]['algorithm']}")
        if two is weak:
            print(f"  the same with the plain MPI Iallreduce: efficiency {t1 / (2 * med(weak_mpi)):.2f}, "
                  f"communication share {comm_share(weak_mpi):.1%}")
            print(f"  the same with each global batch split by the ranks' measured speeds (this benchmark's "
                  f"experiment, not a chainrule option; runs no longer repeat bit for bit): "
                  f"{efficiency(one, weak_balanced)}, communication share {comm_share(weak_balanced):.1%}; "
                  + _split_line(runs[weak_balanced]))
            for name, (single, pair) in baselines.items():
                shown = runs[pair][0]["ranks"][0]["comm_seconds"] is not None
                print(f"  {name}: epoch {med(single):.3f} s on 1 rank, {med(pair):.3f} s on 2; "
                      f"{efficiency(single, pair)}"
                      + (f", communication share {comm_share(pair):.1%}" if shown else "")
                      + f"; chainrule's 2-rank epoch is {t2 / med(pair):.2f}x this one's")
        print("  " + _per_step_line(runs[two]))
        print("  " + _split_line(runs[two]))
        top = weak_ceiling if two is weak else ceiling
        tc = med(top)
        print(f"  ceiling with no communication ({top.name}): epoch {tc:.3f} s, efficiency "
              f"{t1 / (2 * tc):.2f} (two busy cores share caches and memory); the gradient average "
              f"costs {t2 - tc:+.3f} s on top")
    print(benchlib.floor_report(_epoch_flops(60000), {c.name: med(c) for c in configs}, rate_before))
    print(benchlib.load_line())
    # --- a model for larger jobs: weak scaling (each rank keeps b examples a step), compute
    # per step from the 1-rank epoch's CPU time (what an idle core takes), no overlap (an
    # upper bound: the buckets hide part of the allreduce behind backward)
    steps1 = runs[one][0]["ranks"][0]["steps"]
    compute_step = med(one, "cpu_seconds") / max(steps1, 1)
    node_step = 3 * _pass_seconds(grad_bytes)  # pack, sum of the slice, copy out: 3 passes over S
    print(f"\nmodel: each rank computes {b} examples a step ({compute_step * 1e3:.2f} ms CPU measured), the global "
          f"batch grows with the ranks, {grad_bytes / 1e6:.2f} MB of gradients a step, no overlap (upper bound)")
    print(f"  one rank per machine, ring allreduce: 2(N-1) latencies + 2(N-1)/N x {grad_bytes / 1e6:.2f} MB / link")
    _model_table(compute_step, lambda n, lat, bw: ring_allreduce_seconds(grad_bytes, n, lat, bw), b)
    print(f"  {PER_NODE} ranks per machine, hierarchical: shared memory within a machine (3 passes over the "
          f"gradients at this core's measured memory speed, {node_step * 1e3:.3f} ms; no contention assumed) + "
          f"a ring of the M = N/{PER_NODE} machines, each rank sending its 1/{PER_NODE} slice (the machine's "
          f"link carries 2(M-1)/M x {grad_bytes / 1e6:.2f} MB)")
    _model_table(compute_step, lambda n, lat, bw: node_step + ring_allreduce_seconds(
        grad_bytes, max(n // PER_NODE, 1), lat, bw), b)


def variants(args: argparse.Namespace) -> None:
    """Weak scaling (2 ranks x batch) with the gradient average's options changed one at a
    time, interleaved: what each choice of DataParallel is worth on this machine."""
    b, mpi = args.batch, (("CHAINRULE_ALLREDUCE", "mpi"),)
    configs = [Config(f"1 rank, batch {b} (no MPI)", 1, 1, b),
               Config("2 ranks, no communication at all", 2, 1, b, independent=True),
               Config("MPI Iallreduce, gradients copied back", 2, 1, b, env=mpi,
                      options='{"gradient_as_bucket_view": false}'),
               Config("MPI Iallreduce, gradients as bucket views", 2, 1, b, env=mpi),
               Config("hierarchical, one bucket (default, one machine)", 2, 1, b),
               Config("hierarchical, DDP's 1 MB first bucket", 2, 1, b, options='{"first_bucket_mb": 1}')]
    runs: dict[Config, list[dict]] = {c: [] for c in configs}
    for rnd in range(args.rounds):
        for cfg in configs:
            runs[cfg].append(run_config(cfg, args))
        print(f"round {rnd + 1}/{args.rounds} done ({benchlib.load_line()})", flush=True)
    print(f"\nweak scaling, {b} examples per rank a step, median of {args.rounds} interleaved rounds:")
    for cfg in configs:
        ms = statistics.median(max(r["seconds"] / r["steps"] for r in run["ranks"]) for run in runs[cfg]) * 1e3
        comm = statistics.median(statistics.mean(r["comm_seconds"] / r["steps"] for r in run["ranks"])
                                 for run in runs[cfg]) * 1e3
        print(f"  {cfg.name:44s} {ms:6.3f} ms a step, {comm:6.3f} ms communicating")


#: a step whose communication takes longer than this has waited for a stalled rank
STALL_SECONDS = 1e-3


def _per_step_line(runs: list[dict]) -> str:
    """How the communication time is spread over the steps (every rank of every round): the
    median step's (what the average itself costs: packing, the barrier, the sum) against the
    mean, and the share carried by the steps that waited more than STALL_SECONDS for the
    other rank (a rank stalled by something else on its core, which a synchronous step
    passes on to every rank)."""
    comm = np.concatenate([r["step_comm"] for run in runs for r in run["ranks"]])
    step = np.concatenate([r["step_seconds"] for run in runs for r in run["ranks"]])
    if not comm.size or comm.sum() <= 0:
        return "per step: no communication recorded"
    stalls = comm > STALL_SECONDS
    return (f"per step: communication median {np.median(comm) * 1e3:.3f} ms ({np.median(comm) / np.median(step):.1%} "
            f"of the median step, {np.median(step) * 1e3:.2f} ms), mean {comm.mean() * 1e3:.3f} ms; the "
            f"{stalls.mean():.1%} of steps waiting > {STALL_SECONDS * 1e3:g} ms for a stalled rank carry "
            f"{comm[stalls].sum() / comm.sum():.0%} of it")


def rank_split(run: dict) -> tuple[float, float, float]:
    """One run's communication taken apart, from its ranks' per-step records (the steps are
    synchronous, so step i is the same average on every rank): the ranks' speed difference
    (the slowest rank's median computing time a step, its step minus its communication, over
    the fastest's, minus 1); the median over the steps of the least communication any rank
    had in that step, which is the average's own work (packing, barrier, sum) as the last rank
    to arrive meets it, with no waiting in it; and the median step."""
    steps = np.array([r["step_seconds"] for r in run["ranks"]])  # (ranks, steps)
    comm = np.array([r["step_comm"] for r in run["ranks"]])
    compute = np.median(steps - comm, axis=1)
    return (float(compute.max() / compute.min() - 1), float(np.median(comm.min(axis=0))),
            float(np.median(steps)))


def _split_line(runs: list[dict]) -> str:
    """What the communication share is made of, median over the rounds (see rank_split): a
    synchronous exact average waits every step for the last rank, whatever it costs itself."""
    if any(r["step_comm"] is None for run in runs for r in run["ranks"]):
        return "per rank: no communication recorded"
    splits = [rank_split(run) for run in runs]
    gap, own, step = (statistics.median(x) for x in zip(*splits))
    return (f"per rank: computing a step takes the slowest rank {gap:.1%} longer than the fastest (median "
            f"of the rounds; round by round {', '.join(f'{s[0]:.1%}' for s in splits)}), which the others "
            f"wait out; the average's own work, as the last rank to arrive meets it, {own * 1e3:.3f} ms a "
            f"step ({own / step:.1%} of the median step)")


def _pass_seconds(nbytes: int) -> float:
    """Best-of time of one float32 ``np.add`` over ``nbytes`` (two reads, one write): one
    pass of the shared-memory sum. The best of many is what an idle core does."""
    a, b = np.ones(nbytes // 4, np.float32), np.ones(nbytes // 4, np.float32)
    out = np.empty_like(a)
    best = float("inf")
    for _ in range(200):
        t0 = time.perf_counter()
        np.add(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return best


#: ranks per machine in the hierarchical model (an 8-core node with one rank a core)
PER_NODE = 8


def _model_table(compute_step: float, comm_seconds, b: int) -> None:
    print(f"  {'ranks':>6s} " + " ".join(f"{net:>38s}" for net in NETWORKS))
    for n in (1, 8, 64, 256):
        cells = []
        for latency, bandwidth in NETWORKS.values():
            t_comm = comm_seconds(n, latency, bandwidth) if n > 1 else 0.0
            epoch = (60000 / (b * n)) * (compute_step + t_comm)
            cells.append(f"epoch {epoch:7.3f} s, comm {t_comm / (compute_step + t_comm):5.1%}")
        print(f"  {n:6d} " + " ".join(f"{c:>38s}" for c in cells))


if __name__ == "__main__":
    main()
