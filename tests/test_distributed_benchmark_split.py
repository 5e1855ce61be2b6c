"""benchmarks/distributed.py takes its communication share apart from the ranks' per-step
records: how much longer the slowest rank computes, which every other rank waits out, and what
the average costs the rank that waits least. Pure arithmetic on a run's JSON: no MPI needed."""
import pytest
from conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    load_benchmark("benchlib")  # distributed.py imports it by name
    return load_benchmark("distributed")


def test_rank_split_separates_the_slower_ranks_compute_from_the_averages_own_cost(bench):
    # rank 0 computes 4 ms a step and waits 1 ms for rank 1, which computes 5 ms; both then
    # spend 0.2 ms in the average itself
    fast = {"step_seconds": [5.2e-3] * 3, "step_comm": [1.2e-3] * 3}
    slow = {"step_seconds": [5.2e-3] * 3, "step_comm": [0.2e-3] * 3}
    gap, own, step = bench.rank_split({"ranks": [fast, slow]})
    assert gap == pytest.approx(0.25)
    assert own == pytest.approx(0.2e-3)
    assert step == pytest.approx(5.2e-3)
