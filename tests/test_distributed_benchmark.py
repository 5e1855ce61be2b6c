"""benchmarks/distributed.py's hand-written NumPy baseline averages gradients exactly, so its
scaling efficiency, set beside chainrule's, measures the framework and not a shortcut.

Each test runs the benchmark's worker (two epochs of the MNIST MLP) in real MPI jobs.
Skipped when mpi4py or mpiexec is not installed (``pip install -e ".[mpi]"``), or when the
shared MNIST files are absent."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpirun")
if MPIEXEC is None:
    pytest.skip("no mpiexec on PATH", allow_module_level=True)

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "distributed.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def numpy_worker(mnist_dir: Path, ranks: int, batch: int) -> list[dict]:
    """Every rank's result of the hand-written NumPy run at ``batch`` examples per rank."""
    cmd = [sys.executable, str(BENCHMARK), "--worker", "numpy", "--ranks", str(ranks), "--data-dir", str(mnist_dir),
           "--batch", str(batch)]
    if ranks > 1:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180, env=ENV)
    assert r.returncode == 0, r.stderr
    return json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])["ranks"]


def test_the_hand_written_average_leaves_every_rank_the_same_weights(mnist_dir):
    ranks = numpy_worker(mnist_dir, 2, 64)
    assert len(ranks) == 2
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]


#: one process that trains as two ranks would: each step's gradient computed on the two
#: shards separately, each scaled by its share of the examples, summed in rank order
BY_HALVES = """
import hashlib, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from mnist_mlp import NumpyMLP
from chainrule.data import mnist
from chainrule.distributed import DistributedSampler
x, y = mnist(sys.argv[2]).train.arrays
net = NumpyMLP(0)
shards = [DistributedSampler(len(x), 64, seed=0, rank=r, world_size=2) for r in (0, 1)]
for epoch in (0, 1):
    for s in shards:
        s.set_epoch(epoch)
    for k, (i0, i1) in enumerate(zip(*shards)):
        total = shards[0].global_size(k)
        g0, g1 = net.gradients(x[i0], y[i0]), net.gradients(x[i1], y[i1])
        net.update([a * (len(i0) / total) + b * (len(i1) / total) for a, b in zip(g0, g1)])
print(hashlib.sha256(b"".join(p.tobytes() for p in net.params)).hexdigest())
"""


def test_two_ranks_of_the_hand_written_baseline_average_exactly_as_one_process_would(mnist_dir):
    # bit for bit: the same shards, the same products on one BLAS thread, the same float32
    # sums; a forgotten 1/2 or a rank's missing share would change every weight. (Against a
    # one-process run at batch 128 only a tolerance could be asked: this training is chaotic
    # enough that the rounding of the split mean moves weights by up to 0.07 in two epochs.)
    ranks = numpy_worker(mnist_dir, 2, 64)
    r = subprocess.run([sys.executable, "-c", BY_HALVES, str(BENCHMARK.parent), str(mnist_dir)], check=False,
                       capture_output=True, text=True, timeout=180, env=ENV)
    assert r.returncode == 0, r.stderr
    assert ranks[0]["weights_sha256"] == r.stdout.strip()
