"""Data-parallel scaling of the MNIST MLP epoch: 1 rank x 1 BLAS thread, 2 ranks x 1 thread
(``mpiexec -n 2``), and 1 rank x 2 threads, run interleaved so machine noise hits them alike.

The model is the performance benchmark's (benchmarks/mnist_mlp.py): 784-256-256-10, ReLU,
softmax cross-entropy, SGD momentum 0.9, lr 0.05, float32, the 60,000 MNIST training images,
a *global* batch of 128 (so the 2-rank run computes the same steps as 1 rank: 64 per rank).
Each run trains one warm-up epoch and one timed epoch, between barriers. Printed: median
epoch seconds, speed-up and scaling efficiency (T1 / (N * TN)), the share of the 2-rank
epoch each rank spent in communication (packing, starting and waiting on the bucketed
Iallreduce, waiting for the slower rank included), the floor of benchlib.py (the epoch's
matrix-product FLOPs over this machine's float32 GEMM rate with all its cores) and the
fraction of it each run achieves, and a model of the epoch time on 8, 64 and 256 ranks (ring
allreduce of the measured gradient bytes) for 10 and 100 Gbit/s networks.

    python benchmarks/distributed.py                  # 3 interleaved rounds
    python benchmarks/distributed.py --rounds 5 --batch 256
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
def worker(data_dir: Path, batch: int, seed: int) -> None:
    """Train a warm-up and a timed epoch; rank 0 prints one JSON line of measurements."""
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
    if distributed:
        ddp = dist.DataParallel(model)
        sampler = dist.DistributedSampler(len(data), batch, seed=seed)
        loader = DataLoader(data, batch_sampler=sampler)
    else:
        ddp, sampler = None, None
        loader = DataLoader(data, batch, shuffle=True, seed=seed)

    def epoch(k: int) -> float:
        if sampler is not None:
            sampler.set_epoch(k)
        else:
            loader.set_epoch(k)
        if distributed:
            dist.barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        for i, (xb, yb) in enumerate(loader):
            opt.zero_grad()
            if ddp is not None:
                ddp.set_batch(len(yb), sampler.global_size(i))
                F.cross_entropy(ddp(xb), yb).backward()
                ddp.synchronize()
            else:
                F.cross_entropy(model(xb), yb).backward()
            opt.step()
        cpu[0] = time.process_time() - c0
        if distributed:
            dist.barrier()
        return time.perf_counter() - t0

    cpu = [0.0]
    epoch(0)
    comm_before = ddp.comm_seconds if ddp is not None else 0.0
    seconds = epoch(1)
    comm = (ddp.comm_seconds - comm_before) if ddp is not None else 0.0
    shard = len(next(iter(loader))[1])
    result = {"seconds": seconds, "cpu_seconds": cpu[0], "comm_seconds": comm,
              "grad_bytes": ddp.bytes_per_step if ddp is not None else 4 * sum(
                  a * b + b for a, b in zip(SIZES[:-1], SIZES[1:])),
              "steps": len(loader), "per_rank_batch": shard}
    if distributed:
        per_rank = dist.allgather_json(result)
        if dist.rank() == 0:
            print(json.dumps({"ranks": per_rank}), flush=True)
    else:
        print(json.dumps({"ranks": [result]}), flush=True)


# ----------------------------------------------------------------------------- the comparison
def run_config(name: str, ranks: int, threads: int, args: argparse.Namespace) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    for var in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE"):
        env.pop(var, None)
    cmd = [sys.executable, __file__, "--worker", "--data-dir", str(args.data_dir), "--batch", str(args.batch),
           "--seed", str(args.seed)]
    if ranks > 1:
        mpiexec = shutil.which("mpiexec")
        if mpiexec is None:
            sys.exit("distributed.py: no mpiexec on PATH; pip install -e \".[mpi]\"")
        cmd = [mpiexec, "-n", str(ranks), *cmd]
    time.sleep(0.3)  # let the previous run's BLAS threads go idle
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        sys.exit(f"distributed.py: {name} failed:\n{r.stderr[-2000:]}")
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
    parser.add_argument("--batch", type=int, default=128, help="global batch (default 128)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.data_dir, args.batch, args.seed)
        return
    if not (args.data_dir / "train-images-idx3-ubyte.gz").exists():
        sys.exit(f"distributed.py: no MNIST in {args.data_dir} (--data-dir)")

    print(benchlib.load_line())
    print(benchlib.blas_report())
    rate_before = benchlib.gemm_rate()  # the floor's GEMM rate, measured before and after
    configs = [("1 rank x 1 thread", 1, 1), ("2 ranks x 1 thread", 2, 1), ("1 rank x 2 threads", 1, 2)]
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in configs}
    load_before = os.getloadavg()
    for rnd in range(args.rounds):
        for name, ranks, threads in configs:
            runs[name].append(run_config(name, ranks, threads, args))
            print(f"round {rnd + 1}/{args.rounds}  {name:20s} epoch {runs[name][-1]['ranks'][0]['seconds']:.2f} s",
                  flush=True)
    load_after = os.getloadavg()

    def med(name: str, key: str = "seconds", agg=max) -> float:
        return statistics.median(agg(r[key] for r in run["ranks"]) for run in runs[name])

    t1, t2, t1x2 = med("1 rank x 1 thread"), med("2 ranks x 1 thread"), med("1 rank x 2 threads")
    comm_share = statistics.median(
        statistics.mean(r["comm_seconds"] / r["seconds"] for r in run["ranks"]) for run in runs["2 ranks x 1 thread"])
    first = runs["2 ranks x 1 thread"][0]["ranks"][0]
    grad_bytes, steps = first["grad_bytes"], first["steps"]
    print(f"\nMNIST MLP {'-'.join(map(str, SIZES))}, SGD momentum, global batch {args.batch}, one epoch "
          f"({steps} steps); median of {args.rounds} interleaved rounds; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after ({os.cpu_count()} cores)")
    for name, _, _ in configs:
        cpu = statistics.median(sum(r["cpu_seconds"] for r in run["ranks"]) for run in runs[name])
        print(f"  {name:22s} epoch {med(name):6.2f} s wall, {cpu:6.2f} CPU seconds (all ranks)")
    print(f"  speed-up 2 ranks vs 1 rank x 1 thread:  {t1 / t2:.2f}  (scaling efficiency {t1 / (2 * t2):.2f})")
    print(f"  2 ranks vs 1 rank x 2 threads:          {t1x2 / t2:.2f}x  (epoch {t2:.2f} s vs {t1x2:.2f} s)")
    print(f"  communication share of the 2-rank epoch: {comm_share:.1%}  ({grad_bytes:,} gradient bytes a step)")
    print(benchlib.floor_report(_epoch_flops(steps * args.batch), {name: med(name) for name, _, _ in configs},
                                rate_before))
    print(benchlib.load_line())
    cpu1 = med("1 rank x 1 thread", "cpu_seconds")
    print(f"  CPU seconds of the 1 rank x 1 thread epoch: {cpu1:.2f} (the wall time it would take on an idle "
          f"core; wall {t1:.2f} s)")
    # --- a model for larger jobs: weak scaling (each rank keeps the per-rank batch of the
    # 1-rank run), compute per step from the 1-rank epoch's CPU time (what an idle core would
    # take; the wall time on a shared machine includes other programs), no overlap (upper bound)
    compute_step = cpu1 / max(runs["1 rank x 1 thread"][0]["ranks"][0]["steps"], 1)
    n_examples = steps * args.batch
    print(f"\nmodel: each rank computes {args.batch} examples a step ({compute_step * 1e3:.1f} ms CPU measured), the "
          f"global batch grows with the ranks, {grad_bytes / 1e6:.2f} MB of gradients per ring allreduce, no "
          f"overlap (upper bound)")
    print(f"  {'ranks':>6s} " + " ".join(f"{net:>38s}" for net in NETWORKS))
    for n in (1, 2, 8, 64, 256):
        cells = []
        for latency, bandwidth in NETWORKS.values():
            t_comm = ring_allreduce_seconds(grad_bytes, n, latency, bandwidth)
            epoch = (n_examples / (args.batch * n)) * (compute_step + t_comm)
            cells.append(f"epoch {epoch:7.3f} s, comm {t_comm / (compute_step + t_comm):5.1%}")
        print(f"  {n:6d} " + " ".join(f"{c:>38s}" for c in cells))


if __name__ == "__main__":
    main()
