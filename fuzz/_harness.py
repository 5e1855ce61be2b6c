"""The machinery shared by the loader fuzzers in this folder.

Each ``fuzz_<loader>.py`` defines a :class:`Target` (seed files, a format-aware mutator,
and ``run(data, workdir)`` that feeds one input to the loader) and calls :func:`main`.

    python fuzz/fuzz_read_idx.py --seconds 600          # fuzz for ten minutes
    python fuzz/fuzz_read_idx.py FILE ...               # replay inputs, report each
    nice -n 19 python fuzz/fuzz_csv.py --seconds 600 --engine random

A *finding* is an input on which the loader

* raises anything that is not a ``ChainruleError`` (``MemoryError`` included: the worker
  runs under ``RLIMIT_AS`` = ``--mem-mb``, 2 GiB by default, so an allocation the file
  does not justify fails loudly instead of swapping), or
* takes more than ``--slow`` seconds of CPU time (2 by default; CPU time because at
  ``nice -n 19`` on a busy machine even a trivial input can wait seconds for a core), or
* does not return at all (libFuzzer's ``-timeout`` kills the worker; the supervisor
  saves the input it was given and starts a new worker).

Findings are saved to ``tests/fuzz_corpus/<loader>/`` (at most three inputs per distinct
problem, named after the problem) where ``tests/reliability/test_fuzz_corpus.py`` replays
them, and described in ``fuzz/.work/<loader>/findings.log``. Engines: ``atheris``
(coverage-guided libFuzzer, when the ``atheris`` package is installed) and ``random``
(mutate seeds and earlier inputs at random, no coverage feedback; standard library only).
The supervisor prints, and writes to ``fuzz/.work/<loader>/summary.json``, the number of
inputs tried, the distinct problems found and the duration.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS_ROOT = ROOT / "tests" / "fuzz_corpus"
WORK_ROOT = Path(__file__).resolve().parent / ".work"
MAX_SAVED_PER_PROBLEM = 3

INTERESTING_32 = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
INTERESTING_64 = (0, 1, 2**31, 2**32, 2**53, 2**63 - 1, 2**63, 2**64 - 1)


# --------------------------------------------------------------------------- mutations
def mutate_bytes(data: bytes, rng: random.Random, pool: list[bytes] | None = None) -> bytes:
    """One generic byte-level mutation: truncate, flip, overwrite, insert, delete, splice."""
    b = bytearray(data)
    n = len(b)
    op = rng.randrange(10)
    if n == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    if op == 0:  # truncate
        return bytes(b[: rng.randrange(n)])
    if op == 1:  # bit flips
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
    elif op == 2:  # interesting byte
        b[rng.randrange(n)] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, 0x0A, 0x22, 0x2C))
    elif op == 3:  # interesting 32-bit word, either endianness
        i = rng.randrange(max(n - 3, 1))
        v = rng.choice(INTERESTING_32)
        b[i : i + 4] = struct.pack(rng.choice((">I", "<I")), v)
    elif op == 4:  # insert random bytes
        i = rng.randrange(n + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32)))
    elif op == 5:  # delete a range
        i = rng.randrange(n)
        del b[i : i + rng.randrange(1, 64)]
    elif op == 6:  # duplicate a range
        i = rng.randrange(n)
        chunk = b[i : i + rng.randrange(1, 256)]
        j = rng.randrange(n + 1)
        b[j:j] = chunk
    elif op == 7 and pool:  # splice with another input
        other = rng.choice(pool)
        i, j = rng.randrange(n + 1), rng.randrange(len(other) + 1)
        b = b[:i] + other[j:]
    elif op == 8:  # append garbage
        b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    else:  # random byte
        b[rng.randrange(n)] = rng.randrange(256)
    return bytes(b)


# --------------------------------------------------------------------------- targets
@dataclass
class Target:
    name: str  # folder under tests/fuzz_corpus
    suffix: str  # of the temporary file the loader reads, and of saved findings
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes, Path], object]  # feed one input to the loader; may raise
    mutate: Callable[[bytes, random.Random, list[bytes]], bytes] | None = None  # format-aware
    max_len: int = 1 << 16
    modules: tuple[str, ...] = ("chainrule.data",)  # imported (and instrumented) before fuzzing


@dataclass
class Stats:
    tried: int = 0
    passed: int = 0  # loader returned normally
    rejected: int = 0  # ChainruleError
    failing_inputs: int = 0
    problems: dict[str, int] = field(default_factory=dict)  # problem key -> inputs
    slow: int = 0
    peak_rss_mb: float = 0.0  # the worker's high-water resident memory (VmHWM)
    start: float = field(default_factory=time.time)

    def as_dict(self) -> dict:
        return {
            "tried": self.tried,
            "passed": self.passed,
            "rejected": self.rejected,
            "failing_inputs": self.failing_inputs,
            "problems": self.problems,
            "slow": self.slow,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "seconds": round(time.time() - self.start, 1),
        }


def problem_key(exc: BaseException) -> str:
    """Exception type plus the innermost chainrule frame: one key per distinct bug."""
    where = "?"
    for fr in traceback.extract_tb(exc.__traceback__):
        if "chainrule" in fr.filename:
            where = f"{Path(fr.filename).name}:{fr.lineno}"
    return f"{type(exc).__name__}@{where}"


class Recorder:
    def __init__(self, target: Target, work: Path, stats_name: str):
        self.target = target
        self.work = work
        self.corpus = CORPUS_ROOT / target.name
        self.stats = Stats()
        self.stats_path = work / stats_name
        self.log = work / "findings.log"
        self._last_flush = 0.0

    def save(self, data: bytes, key: str, detail: str) -> None:
        self.stats.failing_inputs += 1
        seen = self.stats.problems.get(key, 0)
        self.stats.problems[key] = seen + 1
        if seen >= MAX_SAVED_PER_PROBLEM or self._saved(key) >= MAX_SAVED_PER_PROBLEM:
            return
        self.corpus.mkdir(parents=True, exist_ok=True)
        slug = "".join(c if c.isalnum() else "-" for c in key).strip("-")[:60]
        digest = hashlib.sha1(data).hexdigest()[:12]
        (self.corpus / f"{slug}-{digest}{self.target.suffix}").write_bytes(data)
        with open(self.log, "a") as f:
            f.write(f"=== {key} ({len(data)} bytes, {slug}-{digest})\n{detail}\n")
        self.flush(force=True)

    def _saved(self, key: str) -> int:
        slug = "".join(c if c.isalnum() else "-" for c in key).strip("-")[:60]
        return len(list(self.corpus.glob(f"{slug}-*"))) if self.corpus.is_dir() else 0

    def flush(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last_flush > 2.0:
            self._last_flush = now
            tmp = self.stats_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.stats.as_dict()))
            os.replace(tmp, self.stats_path)


def peak_rss_mb() -> float:
    """This process's high-water resident memory in MiB (VmHWM; 0 where /proc is absent)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration, ValueError):
        return 0.0


def run_one(target: Target, data: bytes, scratch: Path, slow: float) -> tuple[str, str | None, str, float]:
    """Feed one input; returns (outcome, problem key or None, detail, seconds)."""
    from chainrule.errors import ChainruleError

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        target.run(data, scratch)
        outcome, key, detail = "passed", None, ""
    except ChainruleError as e:
        outcome, key, detail = "rejected", None, str(e)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - anything else is a finding
        outcome, key, detail = "failed", problem_key(e), "".join(traceback.format_exception(e))[-4000:]
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    # CPU time, not wall time: at nice 19 on a busy machine a trivial input can wait seconds
    if key is None and cpu > slow:
        outcome, key, detail = "failed", "slow", f"took {cpu:.2f} s of CPU ({dt:.2f} s wall; limit {slow} s)"
    return outcome, key, detail, dt


# --------------------------------------------------------------------------- worker
def _limit_memory(mb: int) -> None:
    if mb > 0:
        limit = mb * 1024 * 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def worker(target: Target, args: argparse.Namespace) -> None:
    work = Path(args.work)
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    current = scratch.parent / "current"
    rec = Recorder(target, work, f"stats-{os.getpid()}.json")
    deadline = time.time() + args.seconds
    rng = random.Random(args.seed)
    seeds = target.seeds()

    def mutate(data: bytes, r: random.Random, pool: list[bytes]) -> bytes:
        rounds = 1 + int(r.expovariate(0.7))
        for _ in range(rounds):
            if target.mutate is not None and r.random() < 0.6:
                try:
                    data = target.mutate(data, r, pool)
                except Exception:  # noqa: BLE001 - a mutator bug must not stop the fuzzer
                    data = mutate_bytes(data, r, pool)
            else:
                data = mutate_bytes(data, r, pool)
        return data[: target.max_len]

    def one(data: bytes) -> None:
        rec.stats.tried += 1
        # the supervisor saves this input if the worker dies on it (timeout, crash)
        current.write_bytes(data)
        outcome, key, detail, dt = run_one(target, data, scratch, args.slow)
        if outcome == "passed":
            rec.stats.passed += 1
        elif outcome == "rejected":
            rec.stats.rejected += 1
        else:
            if key == "slow":
                rec.stats.slow += 1
            rec.save(data, key, detail)
        rec.stats.peak_rss_mb = peak_rss_mb()
        if args.rss_mb and rec.stats.peak_rss_mb > args.rss_mb:
            # this input took the worker past the bound: save it, and start a fresh worker
            # (the high-water mark cannot go down, so later inputs could not be judged)
            rec.save(data, "memory", f"peak resident memory {rec.stats.peak_rss_mb:.0f} MB, over the "
                                     f"{args.rss_mb} MB bound")
            rec.flush(force=True)
            os._exit(0)
        rec.flush()
        if time.time() > deadline:
            rec.flush(force=True)
            os._exit(0)

    _limit_memory(args.mem_mb)
    if args.engine == "atheris":
        import atheris

        with atheris.instrument_imports(include=["chainrule"]):
            _import(target)

        seed_dir = work / "seeds"
        seed_dir.mkdir(parents=True, exist_ok=True)
        for i, s in enumerate(seeds):
            (seed_dir / f"seed-{i}").write_bytes(s)
        live = work / "corpus"
        live.mkdir(parents=True, exist_ok=True)
        pool = list(seeds)

        def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
            r = random.Random(seed)
            if r.random() < 0.5:
                return atheris.Mutate(data, max_size)
            return mutate(data, r, pool)[:max_size]

        def test_one_input(data: bytes) -> None:
            if len(pool) < 256 and rng.random() < 0.01:
                pool.append(bytes(data))
            one(bytes(data))

        atheris.Setup(
            [sys.argv[0], str(live), str(seed_dir), f"-max_len={target.max_len}",
             f"-max_total_time={int(args.seconds) + 5}", f"-timeout={args.timeout}",
             "-rss_limit_mb=0", "-print_final_stats=0", f"-seed={args.seed}",
             f"-artifact_prefix={work}/artifact-"],
            test_one_input, custom_mutator=custom_mutator,
        )
        atheris.Fuzz()
    else:
        _import(target)
        pool = list(seeds)
        for s in seeds:
            one(s)
        while True:
            data = mutate(rng.choice(pool), rng, pool)
            one(data)
            if len(pool) < 512:
                pool.append(data)
            else:
                pool[rng.randrange(len(seeds), len(pool))] = data


def _import(target: Target) -> None:
    import importlib

    for m in ("chainrule", *target.modules):
        importlib.import_module(m)


def _scratch_parent() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


# --------------------------------------------------------------------------- supervisor
def supervise(target: Target, args: argparse.Namespace) -> dict:
    work = WORK_ROOT / target.name
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("stats-*.json"):
        old.unlink()
    tmp_root = Path(tempfile.mkdtemp(prefix=f"fuzz-{target.name}-", dir=_scratch_parent()))
    current = tmp_root / "current"
    start = time.time()
    restarts = 0
    crashes: dict[str, int] = {}
    seed = args.seed
    while True:
        remaining = args.seconds - (time.time() - start)
        if remaining < 2:
            break
        cmd = [sys.executable, sys.argv[0], "--worker", "--work", str(work), "--seconds", str(remaining),
               "--engine", args.engine, "--scratch", str(tmp_root / "scratch"), "--seed", str(seed),
               "--mem-mb", str(args.mem_mb), "--rss-mb", str(args.rss_mb),
               "--slow", str(args.slow), "--timeout", str(args.timeout)]
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        out = open(work / "worker.log", "a")
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                  timeout=remaining + args.timeout + 60)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -9
        finally:
            out.close()
        if rc != 0 and not current.exists():  # died before its first input: a set-up error
            log = (work / "worker.log").read_text(errors="replace").splitlines()
            sys.exit("fuzz worker failed to start:\n" + "\n".join(log[-15:]))
        if rc != 0:  # the worker died on an input: a hang (libFuzzer timeout) or a hard crash
            restarts += 1
            key = "timeout" if any(work.glob("artifact-timeout-*")) else f"crash-rc{rc}"
            for a in work.glob("artifact-*"):
                a.unlink()
            if current.exists():
                rec = Recorder(target, work, f"stats-crash-{restarts}.json")
                rec.save(current.read_bytes(), key, f"worker exited with status {rc}")
                rec.flush(force=True)
                crashes[key] = crashes.get(key, 0) + 1
            seed += 1
    shutil.rmtree(tmp_root, ignore_errors=True)
    total = Stats(start=start)
    for f in work.glob("stats-*.json"):
        d = json.loads(f.read_text())
        total.tried += d["tried"]
        total.passed += d["passed"]
        total.rejected += d["rejected"]
        total.failing_inputs += d["failing_inputs"]
        total.slow += d["slow"]
        total.peak_rss_mb = max(total.peak_rss_mb, d.get("peak_rss_mb", 0.0))
        for k, v in d["problems"].items():
            total.problems[k] = total.problems.get(k, 0) + v
    summary = {"loader": target.name, "engine": args.engine, **total.as_dict(),
               "distinct_problems": len(total.problems), "worker_restarts": restarts}
    (work / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return summary


def replay(target: Target, files: list[str], slow: float) -> int:
    scratch = Path(tempfile.mkdtemp(prefix=f"replay-{target.name}-"))
    bad = 0
    try:
        _import(target)
        for name in files:
            outcome, key, detail, dt = run_one(target, Path(name).read_bytes(), scratch, slow)
            print(f"{name}: {outcome} in {dt:.3f} s" + (f" [{key}]" if key else ""))
            if detail and outcome != "passed":
                print("   ", detail.strip().splitlines()[-1] if outcome == "rejected" else detail)
            bad += outcome == "failed"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if bad else 0


def main(target: Target) -> None:
    try:
        import atheris  # noqa: F401

        default_engine = "atheris"
    except ImportError:
        default_engine = "random"
    p = argparse.ArgumentParser(description=f"Fuzz the {target.name} loader.")
    p.add_argument("files", nargs="*", help="replay these inputs instead of fuzzing")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz (default 60)")
    p.add_argument("--engine", choices=("atheris", "random"), default=default_engine)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mem-mb", type=int, default=2048, help="RLIMIT_AS of the worker (0: none)")
    p.add_argument("--rss-mb", type=int, default=400,
                   help="an input taking the worker's peak resident memory past this is a finding (0: off)")
    p.add_argument("--slow", type=float, default=2.0, help="an input taking more CPU seconds is a finding")
    p.add_argument("--timeout", type=int, default=20, help="an input taking longer kills the worker")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--scratch", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(target, args)
    elif args.files:
        sys.exit(replay(target, args.files, args.slow))
    else:
        summary = supervise(target, args)
        sys.exit(0 if summary["distinct_problems"] == 0 else 1)
