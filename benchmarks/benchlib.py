"""What every benchmark in this folder shares: the pause-then-time helper, peak RSS, the BLAS
report, and the *floor* — how fast the hardware could run an epoch at best.

The floor of an epoch is its FLOPs (the matrix products: convolutions, linear layers, matmuls;
a multiply-add counts 2) divided by the single-precision GEMM rate NumPy's BLAS reaches on
this machine, measured in the same run (the best of a few large square products, so it is a
rate the machine demonstrably has). A framework that spent its whole time in perfect GEMMs would
run at the floor; ``floor / epoch time`` is the fraction of that limit a library achieves.
Elementwise work (ReLU, pooling, the optimizer, the loss) is not counted: it is what keeps
every real run above the floor.

Scripts import it as ``import benchlib`` (they run as ``python benchmarks/NAME.py``, which puts
this folder on ``sys.path``).
"""
from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SETTLE_SECONDS = 0.3


def settled_seconds(run: Callable[..., Any], *args: Any,
                    clock: Callable[[], float] = time.perf_counter) -> float:
    """Wall time of ``run(*args)``, after a pause: a library's idle worker threads (OpenMP's,
    OpenBLAS's) spin for a while after its last call and would slow whatever runs next.
    ``clock=time.process_time`` measures the process's CPU time instead: on a loaded machine,
    with every library on one thread, that is the work each one does, whatever the load."""
    time.sleep(SETTLE_SECONDS)
    t0 = clock()
    run(*args)
    return clock() - t0


def exhaust(steps: Iterator[Any]) -> Any:
    """Run a generator to its end; its return value (an epoch generator's result)."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


@dataclass
class EpochRun:
    """One runner's epoch under :func:`interleaved_epoch`: its time and its result."""
    seconds: float = 0.0
    result: Any = None


def interleaved_epoch(epochs: dict[str, Iterator[Any]], steps: int, chunks: int,
                      pause: float = 0.0,
                      clock: Callable[[], float] = time.perf_counter) -> dict[str, EpochRun]:
    """Run one epoch of every runner, in turns of ``ceil(steps / chunks)`` steps each.

    ``epochs[name]`` is a generator that trains one epoch of ``steps`` steps, yielding after
    every step and returning its result (say the mean loss). The runners take turns (``a``'s
    first turn, ``b``'s first, ..., ``a``'s second, ...), each turn timed after ``pause``
    seconds, and a runner's epoch time is the sum of its turns.

    Why turns: the machine's speed drifts over seconds (a shared virtual machine; this one
    swings by 1.4×), so two epochs run one after the other can meet two different machines,
    and their ratio moves by as much. Turns of a fraction of an epoch put the runners on
    nearly the same machine, so the ratio of their epoch times is a paired comparison.

    What a turn costs: its first step finds the caches holding the other runner's data, alike
    for all. A pause costs more, and not alike: after 0.3 s idle the vCPUs must wake up, which
    cost a NumPy MLP turn 2-4 ms, a PyTorch CNN turn 1-5 ms, and a chainrule CNN step that
    hands work to its threads 51 ms instead of 18 (docs/performance.md, "Paired turns"). So
    keep ``pause`` short: 0 for runners that share one BLAS (nothing of another library left
    spinning), a few milliseconds where another library's threads must stop spinning first.
    ``chunks=1``: whole epochs in turn.
    """
    if chunks < 1 or steps < 1:
        raise ValueError("interleaved_epoch: steps and chunks must be >= 1")
    turn = -(-steps // chunks)
    runs = {name: EpochRun() for name in epochs}
    live = dict(epochs)
    while live:
        for name, gen in list(live.items()):
            run = runs[name]
            if pause:
                time.sleep(pause)
            t0 = clock()
            try:
                for _ in range(turn):
                    next(gen)
            except StopIteration as stop:
                run.result = stop.value
                del live[name]
            run.seconds += clock() - t0
    return runs


def paired_ratio(a: list[float], b: list[float]) -> tuple[float, list[float]]:
    """The median of the round-by-round ratios ``a[i] / b[i]``, and those ratios.

    With paired rounds (:func:`interleaved_epoch`) this is the figure to quote: each ratio
    compares two epochs that met the same machine. The ratio of the two medians can come from
    different rounds, so in a run whose host changes speed it may fall outside every round's
    ratio (measured: 1.05× from medians of a run whose nine rounds all lay within 1.05–1.19×)."""
    ratios = [x / y for x, y in zip(a, b)]
    if not ratios:
        raise ValueError("paired_ratio: no rounds")
    return statistics.median(ratios), ratios


# ----------------------------------------------------------------------------- the GEMM rate
def gemm_rate(n: int = 512, seconds: float = 1.0) -> float:
    """Single-precision GEMM rate of NumPy's BLAS (FLOP/s): the best of repeated (n, n) @ (n, n)
    float32 products over about ``seconds``, with BLAS's default threads (the ones every
    NumPy-based library in the benchmark uses). Best, not median: the floor is a lower bound, and
    other processes on a shared machine only ever slow a product down."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    np.matmul(a, b, out=out)  # warm up: threads started, pages touched
    best = float("inf")
    t_end = time.perf_counter() + seconds
    reps = 0
    while reps < 5 or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
        reps += 1
    return 2.0 * n ** 3 / best


# ----------------------------------------------------------------------------- FLOPs
@dataclass
class LayerFlops:
    """The matrix-product FLOPs of one layer for one sample: forward, and backward (the weight
    gradient, plus the input gradient when the layer's input needs one)."""
    name: str
    forward: int
    backward: int


def model_flops(model: Any, sample: np.ndarray) -> list[LayerFlops]:
    """Per-sample FLOPs of every ``Linear`` and ``Conv2d`` in a chainrule ``model``, found by
    running ``sample`` (one example, batch axis included: shape (1, ...)) through it once.

    Each such layer is a product ``out = x·W``: its forward costs 2·(multiply-adds), and its
    backward the same again for ∂L/∂W and once more for ∂L/∂x — except where x needs no
    gradient (the first layer, whose input is the data), which the engine skips.
    """
    import chainrule as cr
    from chainrule import nn

    records: list[LayerFlops] = []
    patched = []
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            def traced(x: Any, _mod: Any = mod, _name: str = name,
                       _forward: Callable[..., Any] = mod.forward) -> Any:
                out = _forward(x)
                if isinstance(_mod, nn.Linear):
                    macs = out.data.size * _mod.in_features
                else:
                    kh, kw = _mod.kernel_size
                    macs = out.data.size * _mod.in_channels * kh * kw
                needs_dx = isinstance(x, cr.Tensor) and x.requires_grad
                records.append(LayerFlops(f"{_name} ({type(_mod).__name__})", 2 * macs,
                                          2 * macs * (2 if needs_dx else 1)))
                return out
            object.__setattr__(mod, "forward", traced)
            patched.append(mod)
    was_training = model.training
    try:
        model.eval()  # dropout off; the products are the same
        model(sample)
    finally:
        for mod in patched:
            object.__delattr__(mod, "forward")
        model.train(was_training)
    return records


def epoch_flops(model: Any, sample: np.ndarray, n_samples: int) -> int:
    """Training FLOPs of one epoch over ``n_samples`` examples (forward + backward products)."""
    return n_samples * sum(r.forward + r.backward for r in model_flops(model, sample))


# ----------------------------------------------------------------------------- reporting
@dataclass
class Floor:
    """An epoch's FLOPs against the machine's GEMM rate: ``seconds`` is the floor."""
    flops: float
    rate: float

    @property
    def seconds(self) -> float:
        return self.flops / self.rate

    def header(self) -> str:
        return (f"floor: {self.flops / 1e9:.3g} GFLOP of matrix products per epoch / "
                f"{self.rate / 1e9:.0f} GFLOP/s float32 GEMM (NumPy's BLAS, measured now) "
                f"= {_fmt_seconds(self.seconds)}")

    def fraction(self, seconds: float) -> float:
        """Share of the hardware limit a run of ``seconds`` achieves (1 = at the floor)."""
        return self.seconds / seconds

    def line(self, name: str, seconds: float) -> str:
        return (f"  {name:10s} {_fmt_seconds(seconds):>9s} = {seconds / self.seconds:6.3g}x the floor,"
                f" {_fmt_percent(self.fraction(seconds))} of the GEMM limit")


def _fmt_percent(f: float) -> str:
    return f"{100 * f:5.1f} %" if f >= 0.001 else f"{100 * f:.2g} %"


def _fmt_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.1f} us"
    return f"{s * 1e9:.2f} ns"


def floor_report(flops: float, times: dict[str, float], rate: float | None = None) -> str:
    """The floor block every benchmark prints: header, then one line per library's (median)
    time. The GEMM rate is measured now; when ``rate`` (an earlier measurement of the same
    run, e.g. before the timed epochs) is given, the higher of the two counts — on a shared
    machine a measurement can only come out too low."""
    now = gemm_rate()
    floor = Floor(flops, now if rate is None else max(now, rate))
    return "\n".join([floor.header()] + [floor.line(k, v) for k, v in times.items()])


# ----------------------------------------------------------------------------- memory, BLAS
def peak_rss_mb() -> float:
    """Peak resident memory of this process. VmHWM belongs to the address space made at exec;
    ru_maxrss would also count the parent's peak, which Linux carries across fork + exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_report(cpuinfo: str | None = None, cache_dir: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> str:
    """The processor every figure was measured on: its model name, the widest vector unit
    NumPy's and PyTorch's kernels can use, and its per-core L2 cache (Linux's
    ``/proc/cpuinfo`` and sysfs; ``cpuinfo`` passes that text instead). The ratios to PyTorch
    and to hand-written NumPy move with it (the interpreter's speed, AVX-512 or not: see
    docs/performance.md, "Which processor"), so a figure printed without it cannot be compared."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return f"CPU: {platform.processor() or platform.machine()} (no /proc/cpuinfo)"
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2" if flags else "?"
    l2 = ""
    for index in sorted(cache_dir.glob("index*")):
        try:
            if (index / "level").read_text().strip() == "2":
                l2 = f", L2 {(index / 'size').read_text().strip()}B per core"
        except OSError:
            continue
    return f"CPU: {fields.get('model name', platform.machine())}, {vector}{l2}"


def blas_report() -> str:
    """The CPU (:func:`cpu_report`) above :func:`blas_line`."""
    return f"{cpu_report()}\n{blas_line()}"


def blas_line() -> str:
    """Which BLAS NumPy calls and which CPU kernels it runs, plus a warning when the
    environment pins those kernels (OPENBLAS_CORETYPE), which slows every NumPy product."""
    try:
        from threadpoolctl import threadpool_info
        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        return "BLAS: (pip install threadpoolctl to see which kernels NumPy runs)"
    if not info:
        return "BLAS: none found"
    b = info[0]
    line = (f"BLAS: {b.get('internal_api')} {b.get('version')}, kernels for "
            f"{b.get('architecture', '?')}, {b.get('num_threads')} threads")
    pinned = os.environ.get("OPENBLAS_CORETYPE")
    if pinned:
        line += (f"\n  note: OPENBLAS_CORETYPE={pinned} is set, so OpenBLAS does not choose the kernels "
                 f"for this CPU;\n  to measure them, run this command alone under "
                 f"`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`")
    return line


def cpu_times(stat: str | None = None) -> tuple[float, float] | None:
    """(all CPUs' seconds, of which stolen) since boot, from the first line of Linux's
    ``/proc/stat`` (``stat`` passes that text instead); None where there is none.

    *Steal* is time a virtual CPU was ready to run but the hypervisor ran something else: on a
    shared cloud host a rank can stop for milliseconds while its partner waits at the next
    gradient average, and no code in the process can prevent it. Two readings around a run give
    the share of the machine it lost that way (:func:`steal_share`)."""
    if stat is None:
        try:
            stat = Path("/proc/stat").read_text()
        except OSError:
            return None
    fields = stat.split("\n", 1)[0].split()
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return sum(ticks) / hz, ticks[7] / hz


def steal_share(before: tuple[float, float] | None, after: tuple[float, float] | None) -> float | None:
    """The fraction of all CPUs' time between two :func:`cpu_times` readings that the hypervisor
    took (None when either reading is missing or no time passed)."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return (after[1] - before[1]) / (after[0] - before[0])


def steal_line(since: tuple[float, float] | None) -> str:
    """What the hypervisor took since the :func:`cpu_times` reading ``since``, as a line to
    print beside the results."""
    share = steal_share(since, cpu_times())
    return ("stolen by the hypervisor meanwhile: " + ("not reported by this system" if share is None
                                                      else f"{share:.1%} of the CPUs' time"))


def load_line() -> str:
    """The machine's load average, printed with every result (a shared machine is noisy)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} CPUs"


# ----------------------------------------------------------------------------- per-op profile
@dataclass
class OpTime:
    """Seconds spent in one op: its forward function and its VJPs (the backward pass)."""
    op: str
    forward: float = 0.0
    backward: float = 0.0
    calls: int = 0


def _op_functions() -> dict[tuple[str, int], tuple[str, bool]]:
    """Map each function defined in ``chainrule/ops/*.py`` (by file and first line) to the op
    it belongs to and whether it is backward: a top-level function is an op's forward pass;
    a function or lambda nested inside one is one of its VJPs (or a helper of them)."""
    import ast
    import pathlib

    import chainrule.ops as ops_pkg

    table: dict[tuple[str, int], tuple[str, bool]] = {}
    for path in pathlib.Path(ops_pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for top in tree.body:  # private helpers (_name) count inside the op that calls them
            if not isinstance(top, ast.FunctionDef) or top.name.startswith("_"):
                continue
            table[(str(path), top.lineno)] = (top.name, False)
            for node in ast.walk(top):
                if node is not top and isinstance(node, (ast.FunctionDef, ast.Lambda)):
                    table[(str(path), node.lineno)] = (top.name, True)
    return table


_SPLITTER = "chainrule/parallel.py"


def op_profile(run: Callable[[], Any], clock: Callable[[], float] = time.perf_counter
               ) -> tuple[float, list[OpTime], dict[str, float]]:
    """Run ``run()`` under cProfile and split its time by op, forward and backward.

    Returns (total seconds, per-op times sorted by total, other named parts). An op's forward
    time excludes the ops it calls itself (so nothing is counted twice); its backward time is
    the time of its VJPs. ``other`` names the rest: the backward walk's own bookkeeping, the
    optimizer, data loading, and everything else (layer calls, the training loop).
    cProfile adds a little time per Python call, spread over all parts alike.
    ``clock=time.process_time`` profiles CPU time instead of wall time (see settled_seconds).
    """
    import cProfile
    import pstats

    table = _op_functions()
    prof = cProfile.Profile(clock)
    t0 = clock()
    prof.enable()
    run()
    prof.disable()
    total = clock() - t0
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]

    def owner(func: tuple[str, int, str]) -> tuple[str, bool] | None:
        return table.get((func[0], func[1]))

    ops: dict[str, OpTime] = {}
    sweep = optim = loader = 0.0
    for func, (_cc, nc, _tt, ct, callers) in stats.items():
        who = owner(func)
        if who is not None:
            op, backward = who
            rec = ops.setdefault(op, OpTime(op))
            # time of this function when called from outside its own op (a helper or VJP
            # called by the same op's function is already inside that function's time)
            outside = 0.0
            for caller, c in callers.items():
                cw = owner(caller)
                if caller[0].endswith(_SPLITTER):  # run for an op by parallel.over_batch:
                    continue                       # already inside that op's own time
                outside += c[3] if cw is None or cw[0] != op else 0.0
            if not backward:
                rec.calls += nc
                rec.forward += outside
            else:
                rec.backward += outside
            # an op called by another op's function: its time is counted here, not there
            for caller, c in callers.items():
                cw = owner(caller)
                if cw is not None and cw[0] != op:
                    parent = ops.setdefault(cw[0], OpTime(cw[0]))
                    if cw[1]:
                        parent.backward -= c[3]
                    else:
                        parent.forward -= c[3]
        elif func[2] == "_sweep" and func[0].endswith("tensor.py"):
            sweep += ct
        elif func[2] == "step" and "/optim/" in func[0]:
            optim += ct
        elif func[2] in ("__next__", "__iter__") and "/data/" in func[0]:
            loader += ct
    vjp_total = sum(r.backward for r in ops.values())
    recs = sorted((r for r in ops.values() if r.forward + r.backward > 0),
                  key=lambda r: -(r.forward + r.backward))
    fwd_total = sum(r.forward for r in recs)
    other = {"backward walk (engine bookkeeping)": max(sweep - vjp_total, 0.0),
             "optimizer step": optim, "data loading": loader}
    other["rest (layers, loss.item, loop)"] = max(total - fwd_total - vjp_total - sum(other.values()), 0.0)
    return total, recs, other


def profile_table(total: float, recs: list[OpTime], other: dict[str, float]) -> str:
    """``op_profile``'s result as the table the benchmarks print."""
    lines = [f"{'op':16s} {'calls':>7s} {'forward':>9s} {'backward':>9s} {'total':>9s} {'share':>6s}"]
    for r in recs:
        t = r.forward + r.backward
        lines.append(f"{r.op:16s} {r.calls:7d} {r.forward:8.2f}s {r.backward:8.2f}s "
                     f"{t:8.2f}s {100 * t / total:5.1f}%")
    fwd = sum(r.forward for r in recs)
    bwd = sum(r.backward for r in recs)
    lines.append(f"{'all ops':16s} {'':7s} {fwd:8.2f}s {bwd:8.2f}s {fwd + bwd:8.2f}s "
                 f"{100 * (fwd + bwd) / total:5.1f}%")
    for k, v in other.items():
        lines.append(f"{k:44s} {v:8.2f}s {100 * v / total:5.1f}%")
    lines.append(f"{'epoch under the profiler':44s} {total:8.2f}s")
    return "\n".join(lines)
