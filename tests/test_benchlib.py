"""benchmarks/benchlib.py's interleaved epochs: the turns, and what each runner is charged."""
from __future__ import annotations

import os

import pytest
from conftest import load_benchmark


@pytest.fixture(scope="module")
def benchlib():
    return load_benchmark("benchlib")


class Clock:
    """A clock that moves only when a fake training step says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_epoch(name, steps, cost, clock, log):
    """An epoch of ``steps`` steps of ``cost`` seconds each; returns its name as the result."""
    for _ in range(steps):
        clock.now += cost
        log.append(name)
        yield
    return f"{name} done"


def turn_order(benchlib, steps, chunks):
    """The order in which runners ``a`` and ``b``, ``steps`` steps each, ran their steps."""
    clock, log = Clock(), []
    epochs = {n: fake_epoch(n, steps, 1.0, clock, log) for n in ("a", "b")}
    benchlib.interleaved_epoch(epochs, steps=steps, chunks=chunks, pause=0, clock=clock)
    return "".join(log)


def test_runners_take_turns_of_a_fraction_of_an_epoch(benchlib):
    assert turn_order(benchlib, steps=10, chunks=4) == "aaabbbaaabbbaaabbbab"


def test_each_runner_is_charged_its_own_turns_and_keeps_its_result(benchlib):
    clock, log = Clock(), []
    epochs = {"fast": fake_epoch("fast", 10, 1.0, clock, log),
              "slow": fake_epoch("slow", 10, 3.0, clock, log)}
    runs = benchlib.interleaved_epoch(epochs, steps=10, chunks=3, pause=0, clock=clock)
    assert runs["fast"].seconds == pytest.approx(10.0)
    assert runs["slow"].seconds == pytest.approx(30.0)
    assert (runs["fast"].result, runs["slow"].result) == ("fast done", "slow done")


def test_one_chunk_runs_whole_epochs_one_after_the_other(benchlib):
    assert turn_order(benchlib, steps=5, chunks=1) == "aaaaabbbbb"


def test_runners_of_different_lengths_all_finish(benchlib):
    clock, log = Clock(), []
    epochs = {"short": fake_epoch("s", 3, 1.0, clock, log), "long": fake_epoch("l", 9, 1.0, clock, log)}
    runs = benchlib.interleaved_epoch(epochs, steps=9, chunks=3, pause=0, clock=clock)
    assert log.count("s") == 3 and log.count("l") == 9
    assert runs["short"].seconds == pytest.approx(3.0) and runs["long"].seconds == pytest.approx(9.0)


@pytest.mark.parametrize("steps, chunks", [(10, 0), (0, 4)])
def test_no_steps_or_no_chunks_is_refused(benchlib, steps, chunks):
    with pytest.raises(ValueError, match="steps and chunks"):
        benchlib.interleaved_epoch({}, steps=steps, chunks=chunks, pause=0)


def test_the_paired_ratio_is_the_median_of_the_rounds_ratios(benchlib):
    # the host got slower round by round, and the first round hit a stall: the ratio of the
    # median epochs (2.5 / 2.0) would mix rounds; each round's own ratio does not
    chainrule, numpy_ = [2.5, 2.1, 3.1], [1.0, 2.0, 3.0]
    ratio, each = benchlib.paired_ratio(chainrule, numpy_)
    assert each == pytest.approx([2.5, 1.05, 3.1 / 3.0])
    assert ratio == pytest.approx(1.05)


def test_a_paired_ratio_needs_a_round(benchlib):
    with pytest.raises(ValueError, match="no rounds"):
        benchlib.paired_ratio([], [])


def fake_cache(tmp_path, levels):
    """A sysfs cache folder with one indexN per (level, size)."""
    for i, (level, size) in enumerate(levels):
        index = tmp_path / f"index{i}"
        index.mkdir()
        (index / "level").write_text(f"{level}\n")
        (index / "size").write_text(f"{size}\n")
    return tmp_path


def test_cpu_report_names_the_model_the_widest_vector_unit_and_the_l2(benchlib, tmp_path):
    cpuinfo = ("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n\n"
               "processor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n")
    cache = fake_cache(tmp_path, [(1, "32K"), (1, "32K"), (2, "512K"), (3, "32768K")])
    assert benchlib.cpu_report(cpuinfo, cache) == "CPU: AMD EPYC, AVX2, L2 512KB per core"


def test_cpu_report_tells_avx512_apart_from_avx2(benchlib, tmp_path):
    cpuinfo = "model name\t: Intel(R) Xeon(R) Platinum\nflags\t\t: avx2 avx512f avx512bw\n"
    report = benchlib.cpu_report(cpuinfo, fake_cache(tmp_path, [(2, "2048K")]))
    assert report == "CPU: Intel(R) Xeon(R) Platinum, AVX-512, L2 2048KB per core"


def test_cpu_report_without_cache_information_still_names_the_cpu(benchlib, tmp_path):
    report = benchlib.cpu_report("model name\t: Some CPU\nflags\t\t: sse2\n", tmp_path / "missing")
    assert report == "CPU: Some CPU, no AVX2"


def test_cpu_times_reads_all_cpus_seconds_and_the_stolen_part(benchlib):
    hz = os.sysconf("SC_CLK_TCK")
    stat = f"cpu  {hz * 6} 0 {hz} {hz * 2} 0 0 0 {hz}\ncpu0 1 2 3 4 5 6 7 8\n"
    assert benchlib.cpu_times(stat) == (10.0, 1.0)


def test_cpu_times_without_a_cpu_line_is_none(benchlib):
    assert benchlib.cpu_times("intr 1 2 3\n") is None


def test_steal_share_is_the_stolen_fraction_between_two_readings(benchlib):
    assert benchlib.steal_share((10.0, 1.0), (30.0, 2.0)) == 0.05
    assert benchlib.steal_share(None, (30.0, 2.0)) is None
    assert benchlib.steal_share((10.0, 1.0), (10.0, 1.0)) is None


def test_steal_line_says_when_the_system_does_not_report_it(benchlib):
    assert benchlib.steal_line(None).endswith("not reported by this system")
