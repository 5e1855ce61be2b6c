"""`mpiexec -n 2 chainrule train`: identical replicas, the one-process result, resumable, and
failures that end the whole job quickly with one clear message.

Each test launches real MPI jobs in subprocesses on the bundled digits (a few seconds each).
Skipped only when mpi4py or mpiexec is not installed (``pip install -e ".[mpi]"``)."""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpirun")
if MPIEXEC is None:
    pytest.skip("no mpiexec on PATH", allow_module_level=True)
try:
    from mpi4py import MPI  # noqa: F401 - the library must load, not only the package
except Exception as e:  # noqa: BLE001
    pytest.skip(f"mpi4py cannot load an MPI library: {e}", allow_module_level=True)

HERE = Path(__file__).parent
CHAINRULE = [sys.executable, "-m", "chainrule"]
DUMP = [sys.executable, str(HERE / "_rank_dump.py")]
#: every job below must end within this many seconds, failures included
BOUND = 90
#: 2 ranks vs 1 process on the same global batches (per-rank batch B vs one process at 2B)
#: differ only by float32 rounding (the
#: gradient is summed in another order): after 3 epochs of Adam on digits the loss curves agree
#: to a relative 1e-4 and the weights to an absolute 1e-4 (the weights are of size ~0.1-1)
LOSS_RTOL, WEIGHT_ATOL = 1e-4, 1e-4
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _mpiexec(n, *args, env=None, timeout=BOUND):
    return subprocess.run([MPIEXEC, "-n", str(n), *args], check=False, capture_output=True, text=True, timeout=timeout,
                          env={**ENV, **(env or {})})


def _losses(out_dir):
    with open(out_dir / "history.csv", newline="") as f:
        return np.array([[float(r["loss"]), float(r["val_loss"])] for r in csv.DictReader(f)])


def _weights(path):
    import chainrule as cr
    from chainrule.io import load_checkpoint  # noqa: F401 - keeps the import cheap elsewhere

    return dict(cr.load(str(path)).state_dict())


def test_every_rank_ends_with_bitwise_identical_weights(tmp_path):
    r = _mpiexec(2, *DUMP, str(tmp_path), "train", "--epochs", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    a, b = np.load(tmp_path / "rank0.npz"), np.load(tmp_path / "rank1.npz")
    assert sorted(a.files) == sorted(b.files) and a.files
    for k in a.files:
        assert a[k].tobytes() == b[k].tobytes(), k


def test_two_ranks_at_batch_b_match_one_process_at_batch_2b(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["train", "--epochs", "3", "--seed", "1"]  # --batch-size is per rank: the same global batch 64
    r1 = subprocess.run([*CHAINRULE, *args, "--batch-size", "64", "--out", str(one)], check=False,
                        capture_output=True, text=True, timeout=BOUND, env=ENV)
    assert r1.returncode == 0, r1.stderr
    r2 = _mpiexec(2, *CHAINRULE, *args, "--batch-size", "32", "--out", str(two))
    assert r2.returncode == 0, r2.stderr
    assert "batch 32 per rank on 2 MPI ranks = global batch 64" in r2.stdout
    # only rank 0 printed: one summary line, one line per epoch
    assert r2.stdout.count("test accuracy") == 1 and r2.stdout.count("epoch 3/3") == 1
    np.testing.assert_allclose(_losses(two), _losses(one), rtol=LOSS_RTOL)
    w1, w2 = _weights(one / "model.safetensors"), _weights(two / "model.safetensors")
    for k in w1:
        np.testing.assert_allclose(w2[k], w1[k], rtol=0, atol=WEIGHT_ATOL, err_msg=k)
    m1, m2 = json.loads((one / "metrics.json").read_text()), json.loads((two / "metrics.json").read_text())
    assert set(m1) == set(m2)
    assert m2["test_accuracy"] == pytest.approx(m1["test_accuracy"], abs=2 / 359)
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())


def _descendants_with_rank(root_pid):
    """pid -> MPI rank of the processes below ``root_pid`` that MPICH started as ranks."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rank = [e.split(b"=", 1)[1] for e in env if e.startswith(b"PMI_RANK=")]
        if rank and f" {root_pid} " not in stat and not _is_below(int(entry), root_pid):
            continue
        if rank:
            found[int(entry)] = int(rank[0])
    return found


def _is_below(pid, root):
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
        if pid == root:
            return True
    return False


def _start(n, *args, env=None):
    return subprocess.Popen([MPIEXEC, "-n", str(n), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**ENV, **(env or {})}, start_new_session=True)


def _wait_for(predicate, timeout=BOUND):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _rank_pid(job, rank):
    assert _wait_for(lambda: rank in _descendants_with_rank(job.pid).values(), 30)
    return next(p for p, r in _descendants_with_rank(job.pid).items() if r == rank)


def test_resume_after_sigkill_of_the_whole_job_equals_an_unbroken_run(tmp_path, jobs):
    args = ["train", "--epochs", "30", "--seed", "2", "--quiet"]
    unbroken, broken = tmp_path / "unbroken", tmp_path / "broken"
    r = _mpiexec(2, *CHAINRULE, *args, "--out", str(unbroken))
    assert r.returncode == 0, r.stderr
    job = _start(2, *CHAINRULE, *args, "--out", str(broken))
    jobs.append(job)
    assert _wait_for(lambda: (broken / "history.csv").exists() and
                     len((broken / "history.csv").read_text().splitlines()) >= 3)  # 2 epochs done
    os.killpg(job.pid, signal.SIGKILL)  # the launcher and every rank, mid-run
    job.wait(timeout=BOUND)
    done = len((broken / "history.csv").read_text().splitlines()) - 1
    assert done < 30, "the job finished before it could be killed; the test proved nothing"
    r = _mpiexec(2, *CHAINRULE, *args, "--out", str(broken), "--resume")
    assert r.returncode == 0, r.stderr
    a, b = _weights(unbroken / "model.safetensors"), _weights(broken / "model.safetensors")
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k


def test_resuming_on_another_number_of_ranks_is_refused_naming_it(tmp_path):
    # --batch-size is per rank, so another number of ranks would silently change the global batch
    r = subprocess.run([*CHAINRULE, "train", "--epochs", "1", "--quiet", "--out", str(tmp_path)], check=False,
                       capture_output=True, text=True, timeout=BOUND, env=ENV)
    assert r.returncode == 0, r.stderr
    r = _mpiexec(2, *CHAINRULE, "train", "--epochs", "1", "--quiet", "--out", str(tmp_path), "--resume")
    assert r.returncode == 2
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("chainrule: error:")]
    assert len(errors) == 1 and "the number of MPI ranks 1 then, 2 now" in errors[0], r.stderr


def test_ranks_launched_with_different_arguments_stop_naming_the_difference():
    t0 = time.monotonic()
    r = subprocess.run([MPIEXEC, "-n", "1", *CHAINRULE, "train", "--epochs", "2", ":",
                        "-n", "1", *CHAINRULE, "train", "--epochs", "3"],
                       check=False, capture_output=True, text=True, timeout=BOUND, env=ENV)
    assert time.monotonic() - t0 < BOUND
    assert r.returncode == 2
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("chainrule: error:")]
    assert errors == [("chainrule: error: the ranks were launched differently: --epochs is '3' on rank 1 but '2' "
                       "on rank 0; every rank must run the same command on the same data")]


def test_a_rank_that_raises_stops_every_rank_with_its_message(tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    bad.write_text("x,y\n1,0\n2\n")
    t0 = time.monotonic()
    r = subprocess.run([MPIEXEC, "-n", "1", *CHAINRULE, "train", "--csv", str(good), "--target", "y", ":",
                        "-n", "1", *CHAINRULE, "train", "--csv", str(bad), "--target", "y"],
                       check=False, capture_output=True, text=True, timeout=BOUND, env=ENV)
    assert time.monotonic() - t0 < BOUND
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("chainrule: error:")]
    assert len(errors) == 1 and errors[0].startswith("chainrule: error: rank 1: ")
    assert str(bad) in errors[0] and "stopping all 2 ranks" in errors[0]


def test_a_diverging_run_stops_every_rank_with_one_message(tmp_path):
    r = _mpiexec(2, *CHAINRULE, "train", "--epochs", "3", "--optimizer", "sgd", "--lr", "1e6", "--quiet")
    assert r.returncode == 1, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("chainrule: error:")]
    assert len(errors) == 1 and "diverged" in errors[0] and "learning rate" in errors[0], r.stderr


def _training_started(out_dir):
    """Wait until the job has finished an epoch, so every rank is past MPI's start-up (a
    rank stopped inside MPI_Init would hang the others where no watchdog runs yet)."""
    assert _wait_for(lambda: (out_dir / "history.csv").exists()), "the job never finished an epoch"


@pytest.fixture
def jobs():
    """Started jobs; whatever still runs when the test ends is killed with its process group."""
    started = []
    yield started
    for job in started:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()


def test_a_rank_killed_with_sigkill_ends_the_job_within_the_bound(tmp_path, jobs):
    job = _start(2, *CHAINRULE, "train", "--epochs", "1000", "--quiet", "--out", str(tmp_path))
    jobs.append(job)
    victim = _rank_pid(job, 1)
    _training_started(tmp_path)
    t0 = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    job.wait(timeout=BOUND)
    assert time.monotonic() - t0 < BOUND
    assert job.returncode != 0
    assert not _descendants_with_rank(job.pid), "a rank outlived the job"


def test_a_hung_rank_makes_the_watchdog_stop_the_job(tmp_path, jobs):
    job = _start(2, *CHAINRULE, "train", "--epochs", "1000", "--quiet", "--out", str(tmp_path),
                 env={"CHAINRULE_MPI_TIMEOUT": "3"})
    jobs.append(job)
    victim = _rank_pid(job, 1)
    _training_started(tmp_path)
    os.kill(victim, signal.SIGSTOP)  # alive but silent: no launcher notices this
    t0 = time.monotonic()
    _, err = job.communicate(timeout=BOUND)
    assert time.monotonic() - t0 < 3 + 30
    assert job.returncode != 0
    assert "chainrule: error: rank 0 waited more than 3 s for the other ranks" in err


API = [sys.executable, str(HERE / "_api_train.py")]


@pytest.mark.parametrize("mode", ["fit", "loop"])
def test_python_api_keeps_replicas_identical_batchnorm_buffers_included(tmp_path, mode):
    r = _mpiexec(2, *API, str(tmp_path), mode)
    assert r.returncode == 0, r.stderr
    a, b = np.load(tmp_path / f"{mode}-rank0.npz"), np.load(tmp_path / f"{mode}-rank1.npz")
    names = [k for k in a.files if k != "losses"]
    assert any("running_mean" in k for k in names)
    for k in names:  # parameters and rank 0's BatchNorm running statistics
        assert a[k].tobytes() == b[k].tobytes(), k


def test_fit_distributed_history_matches_one_process(tmp_path):
    r1 = subprocess.run([*API, str(tmp_path), "fit"], check=False, capture_output=True, text=True, timeout=BOUND,
                        env=ENV)
    assert r1.returncode == 0, r1.stderr
    one = dict(np.load(tmp_path / "fit-rank0.npz"))
    r2 = _mpiexec(2, *API, str(tmp_path), "fit")
    assert r2.returncode == 0, r2.stderr
    two = dict(np.load(tmp_path / "fit-rank0.npz"))
    # BatchNorm normalises each rank's half-batch by its own statistics (as DDP does), so the
    # runs differ by more than rounding; clipping and weight decay applied to the averaged
    # gradient keep them close
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=0.05)


def test_hierarchical_allreduce_gives_the_plain_mpi_allreduce_bits_on_one_machine(tmp_path):
    runs = {}
    for algorithm in ("mpi", "hierarchical"):
        out = tmp_path / algorithm
        out.mkdir()
        r = _mpiexec(2, *API, str(out), "loop", env={"CHAINRULE_ALLREDUCE": algorithm})
        assert r.returncode == 0, r.stderr
        runs[algorithm] = [np.load(out / f"loop-rank{k}.npz") for k in (0, 1)]
    mpi, shm = runs["mpi"], runs["hierarchical"]
    for k in mpi[0].files:  # a + b is the same float32 sum whichever way it is computed
        assert mpi[0][k].tobytes() == shm[0][k].tobytes(), k
        if k != "losses":  # each rank's own shard losses; the weights are replicas
            assert shm[1][k].tobytes() == shm[0][k].tobytes(), k


def test_hierarchical_allreduce_across_machines_keeps_replicas_identical(tmp_path):
    # four ranks posing as two machines of two: shared-memory sums on each, Iallreduce across
    env = {"CHAINRULE_ALLREDUCE": "hierarchical", "CHAINRULE_TEST_RANKS_PER_NODE": "2"}
    r = _mpiexec(4, *API, str(tmp_path), "loop", env=env)
    assert r.returncode == 0, r.stderr
    ranks = [np.load(tmp_path / f"loop-rank{k}.npz") for k in range(4)]
    (tmp_path / "mpi").mkdir()
    r = _mpiexec(4, *API, str(tmp_path / "mpi"), "loop", env={"CHAINRULE_ALLREDUCE": "mpi"})
    assert r.returncode == 0, r.stderr
    mpi = np.load(tmp_path / "mpi" / "loop-rank0.npz")
    for k in [k for k in ranks[0].files if k != "losses"]:
        for other in ranks[1:]:
            assert ranks[0][k].tobytes() == other[k].tobytes(), k
        # the sums run in another order than MPI's: float32 rounding apart after 2 epochs
        np.testing.assert_allclose(ranks[0][k], mpi[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_an_unknown_allreduce_algorithm_is_refused_by_name(tmp_path):
    r = _mpiexec(2, *API, str(tmp_path), "loop", env={"CHAINRULE_ALLREDUCE": "carrier-pigeon"})
    assert r.returncode != 0
    assert "unknown allreduce algorithm 'carrier-pigeon'" in r.stderr


BUCKET_PLAN = """
import json, sys
import chainrule.distributed as dist
from chainrule import nn
dist.init()
model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
ddp = dist.DataParallel(model, **json.loads(sys.argv[1]))
if dist.rank() == 0:
    print(json.dumps({"sizes": [int(b.buffer.nbytes) for b in ddp.buckets], "algorithm": ddp.algorithm}))
ddp.remove_hooks()
"""


@pytest.mark.parametrize("env, options, buckets", [
    ({}, {}, 1),                                              # one machine, shared memory: one bucket
    ({"CHAINRULE_TEST_RANKS_PER_NODE": "1"}, {}, 2),          # across machines: DDP's small first bucket
    ({"CHAINRULE_ALLREDUCE": "mpi"}, {}, 2),                  # MPI's own allreduce: DDP's buckets
    ({}, {"first_bucket_mb": 1}, 2),                          # asked for
], ids=["one-machine", "two-machines", "plain-mpi", "asked-for"])
def test_the_first_bucket_is_small_only_where_starting_early_can_overlap(env, options, buckets):
    # the MNIST MLP's 1.08 MB of gradients: one bucket, or a first bucket of at most 1 MB
    r = _mpiexec(2, sys.executable, "-c", BUCKET_PLAN, json.dumps(options), env=env)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(plan["sizes"]) == buckets and sum(plan["sizes"]) == 1_077_292  # + the loss slot
    if buckets == 2:
        assert plan["sizes"][0] <= 2**20


STARTED_IN_BACKWARD = """
import json
import numpy as np
import chainrule.distributed as dist
import chainrule.nn.functional as F
from chainrule import nn
dist.init()
model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
ddp = dist.DataParallel(model)
F.cross_entropy(ddp(np.ones((4, 784), np.float32)), np.arange(4)).backward()
started = [b.started for b in ddp.buckets]
ddp.synchronize()
if dist.rank() == 0:
    print(json.dumps(started))
ddp.remove_hooks()
"""


@pytest.mark.parametrize("env, early", [
    ({}, False),                                      # one machine: the cores that sum run backward
    ({"CHAINRULE_TEST_RANKS_PER_NODE": "1"}, True),   # across machines: the network carries the slices
    ({"CHAINRULE_ALLREDUCE": "mpi"}, True),           # MPI's own allreduce: progressed during backward
], ids=["one-machine", "two-machines", "plain-mpi"])
def test_buckets_start_during_backward_only_where_the_sum_can_overlap_it(env, early):
    r = _mpiexec(2, sys.executable, "-c", STARTED_IN_BACKWARD, env=env)
    assert r.returncode == 0, r.stderr
    started = json.loads(r.stdout.strip().splitlines()[-1])
    assert started and all(s is early for s in started)


_SHOW_THREADS = """
import json, os, sys
import chainrule as cr
import chainrule.distributed as dist
from chainrule.blas_threads import blas_threads
dist.init()
share = dist.core_share()
sys.stdout.write(json.dumps([dist.rank(), cr.get_num_threads(), blas_threads(), share.threads, share.source]) + "\\n")
"""


def _thread_rows(stdout):
    """Each rank's printed row (the two ranks' lines may interleave in mpiexec's output)."""
    return [json.loads(m) for m in re.findall(r"\[[^\]]*\]", stdout)]


def test_ranks_share_the_machines_cores_instead_of_each_taking_all():
    env = {k: v for k, v in ENV.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    r = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", _SHOW_THREADS], check=False, capture_output=True,
                       text=True, timeout=BOUND, env=env)
    assert r.returncode == 0, r.stderr
    cores = len(os.sched_getaffinity(0))
    expected = max(1, cores // 2) if cores == os.cpu_count() else None  # None: the launcher bound the ranks
    rows = sorted(_thread_rows(r.stdout))
    assert [row[0] for row in rows] == [0, 1]
    for _, ours, blas, threads, source in rows:
        assert source in ("shared", "bound")
        if expected is not None:
            assert threads == expected
        assert ours == threads
        assert blas in (None, threads)


def test_a_thread_variable_of_the_user_is_left_as_it_is():
    r = _mpiexec(2, sys.executable, "-c", _SHOW_THREADS, env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "3"})
    assert r.returncode == 0, r.stderr
    rows = _thread_rows(r.stdout)
    assert len(rows) == 2 and all(row[1:] == [1, 1, 1, "OPENBLAS_NUM_THREADS"] for row in rows)
