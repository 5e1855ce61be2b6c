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

each one warm-up and one timed epoch between barriers. Printed: median epoch seconds,
speed-up and efficiency (T1 / (N * TN)), the ratio against 1 rank x 2 threads, the share of
the epoch each rank spent in communication (packing, starting and waiting on the bucketed
Iallreduce, waiting for the slower rank included) and how it is spread over the steps (the
median step's against the mean, and the share carried by steps that waited for a stalled
rank), the share of benchlib's GEMM floor each run
reaches, and a model of the weak-scaling epoch on 8, 64 and 256 ranks (ring allreduce of the
measured gradient bytes) on 10 and 100 Gbit/s networks.

    python benchmarks/distributed.py                  # 3 interleaved rounds
    python benchmarks/distributed.py --rounds 5 --batch 256
    python benchmarks/distributed.py --variants       # what each DataParallel option is worth
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
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
def worker(data_dir: Path, batch: int, seed: int, independent: bool, options: dict) -> None:
    """Train a warm-up and a timed epoch at ``batch`` examples per rank; rank 0 prints one
    JSON line of every rank's measurements. ``independent``: each rank trains its own model
    on its shards with no gradient average (MPI only for the barriers around the epoch)."""
    import chainrule as cr
    import chainrule.distributed as dist
    import chainrule.nn.functional as F
    from chainrule import nn, optim
    from chainrule.data import DataLoader, TensorDataset, mnist

    distributed = dist.is_launched()
    if distributed:
        dist.init()
    ds = mnist(data_dir)
    x, y = ds.train.arrays
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    data = TensorDataset(x, y)
    ddp = dist.DataParallel(model, **options) if distributed and not independent else None
    sampler = dist.DistributedSampler(len(data), batch, seed=seed) if distributed else None
    loader = DataLoader(data, batch_sampler=sampler) if sampler is not None else \
        DataLoader(data, batch, shuffle=True, seed=seed)

    def epoch(k: int) -> float:
        loader.set_epoch(k)
        if distributed:
            dist.barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        steps.clear()
        for i, (xb, yb) in enumerate(loader):
            ts = time.perf_counter()
            opt.zero_grad()
            if ddp is not None:
                assert sampler is not None
                comm_before = ddp.comm_seconds
                ddp.set_batch(len(yb), sampler.global_size(i))
                F.cross_entropy(ddp(xb), yb).backward()
                ddp.synchronize()
                step_comm = ddp.comm_seconds - comm_before
            else:
                F.cross_entropy(model(xb), yb).backward()
                step_comm = 0.0
            opt.step()
            steps.append((time.perf_counter() - ts, step_comm))
        cpu[0] = time.process_time() - c0
        seconds = time.perf_counter() - t0  # this rank's own epoch, before waiting for the others
        if distributed:
            dist.barrier()
        return seconds

    cpu = [0.0]
    steps: list[tuple[float, float]] = []  # (seconds, communication seconds) of each step
    epoch(0)
    comm_before = ddp.comm_seconds if ddp is not None else 0.0
    seconds = epoch(1)
    comm = (ddp.comm_seconds - comm_before) if ddp is not None else 0.0
    grad_bytes = 4 * sum(a * b + b for a, b in zip(SIZES[:-1], SIZES[1:]))
    result = {"seconds": seconds, "cpu_seconds": cpu[0], "comm_seconds": comm, "grad_bytes": grad_bytes,
              "steps": len(loader), "algorithm": ddp.algorithm if ddp is not None else "none",
              "step_seconds": [round(t, 7) for t, _ in steps], "step_comm": [round(c, 7) for _, c in steps]}
    if distributed:
        per_rank = dist.allgather_json(result)
        if dist.rank() == 0:
            print(json.dumps({"ranks": per_rank}), flush=True)
    else:
        print(json.dumps({"ranks": [result]}), flush=True)


# ----------------------------------------------------------------------------- the comparison
@dataclass(frozen=True)
class Config:
    name: str
    ranks: int
    threads: int
    batch: int  # per rank
    independent: bool = False  # no gradient average: the no-communication ceiling
    env: tuple[tuple[str, str], ...] = ()  # extra environment (CHAINRULE_ALLREDUCE=mpi)
    options: str = "{}"  # DataParallel keyword arguments, as JSON


def run_config(cfg: Config, args: argparse.Namespace) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(cfg.threads), "OMP_NUM_THREADS": str(cfg.threads),
           "MKL_NUM_THREADS": str(cfg.threads), **dict(cfg.env)}
    for var in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE"):
        env.pop(var, None)
    cmd = [sys.executable, __file__, "--worker", "--data-dir", str(args.data_dir), "--batch", str(cfg.batch),
           "--seed", str(args.seed), "--options", cfg.options] + (["--independent"] if cfg.independent else [])
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
    return json.loads(line)


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
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variants", action="store_true",
                        help="instead: weak scaling with each DataParallel option turned off in turn")
    parser.add_argument("--independent", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.data_dir, args.batch, args.seed, args.independent, json.loads(args.options))
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
    configs = [one, weak, weak_mpi, weak_ceiling, weak_threads, strong, ceiling, strong_threads]
    runs: dict[Config, list[dict]] = {c: [] for c in configs}
    load_before = os.getloadavg()
    for rnd in range(args.rounds):
        for cfg in configs:
            runs[cfg].append(run_config(cfg, args))
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

    t1 = med(one)
    grad_bytes = runs[weak][0]["ranks"][0]["grad_bytes"]
    print(f"\nMNIST MLP {'-'.join(map(str, SIZES))}, SGD momentum, one epoch of 60,000 examples; median of "
          f"{args.rounds} interleaved rounds; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
          f"({os.cpu_count()} cores); {grad_bytes:,} gradient bytes per allreduce step")
    for cfg in configs:
        cpu = statistics.median(sum(r["cpu_seconds"] for r in run["ranks"]) for run in runs[cfg])
        steps = runs[cfg][0]["ranks"][0]["steps"]
        print(f"  {cfg.name:36s} epoch {med(cfg):6.3f} s wall ({steps} steps), {cpu:5.2f} CPU s (all ranks)")
    for title, two, threads in (("weak scaling (headline)", weak, weak_threads), ("strong scaling", strong,
                                                                                  strong_threads)):
        t2 = med(two)
        print(f"{title}: {two.name} vs {one.name}")
        print(f"  speed-up {t1 / t2:.2f}, scaling efficiency {t1 / (2 * t2):.2f} (target >= 0.85)")
        # each round ran the 1-rank epoch and this one a few seconds apart: their pairs drift less
        paired, rounds = benchlib.paired_ratio(per_round(one), [2 * t for t in per_round(two)])
        print(f"  paired: median of the rounds' efficiencies {paired:.2f} (round by round "
              f"{', '.join(f'{e:.2f}' for e in rounds)})")
        print(f"  vs {threads.name} (same global batch): {med(threads) / t2:.2f}x its speed "
              f"(epoch {t2:.3f} s vs {med(threads):.3f} s)")
        print(f"  communication share of the 2-rank epoch: {comm_share(two):.1%} (target <= 10 %), allreduce "
              f"{runs[two][0]['ranks'][0]['algorithm']}")
        if two is weak:
            print(f"  the same with the plain MPI Iallreduce: efficiency {t1 / (2 * med(weak_mpi)):.2f}, "
                  f"communication share {comm_share(weak_mpi):.1%}")
        print("  " + _per_step_line(runs[two]))
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
