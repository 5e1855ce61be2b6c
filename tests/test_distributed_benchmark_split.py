"""benchmarks/distributed.py takes its communication share apart from the ranks' per-step
records (how much longer the slowest rank computes, which every other rank waits out, and
what the average itself costs), and its speed-balanced experiment splits each global batch by
the ranks' measured speeds. Pure arithmetic on a run's records and a sampler with a stand-in
for the exchange: no MPI needed."""
import numpy as np
import pytest
from conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    load_benchmark("benchlib")  # distributed.py imports it by name
    return load_benchmark("distributed")


def test_rank_split_separates_the_slower_ranks_compute_from_the_averages_own_cost(bench):
    # rank 0 computes 4 ms a step, rank 1 5 ms; the average itself costs 0.2 ms, and in the
    # third step rank 1 is the one that waits (0.5 ms), so no rank's median is the own cost
    fast = {"step_seconds": [5.2e-3, 5.2e-3, 5.2e-3], "step_comm": [1.2e-3, 1.2e-3, 0.2e-3]}
    slow = {"step_seconds": [5.2e-3, 5.2e-3, 5.2e-3], "step_comm": [0.2e-3, 0.2e-3, 0.5e-3]}
    gap, own, step = bench.rank_split({"ranks": [fast, slow]})
    assert gap == pytest.approx(0.25)
    assert own == pytest.approx(0.2e-3)
    assert step == pytest.approx(5.2e-3)


def test_split_counts_deal_every_example_in_proportion_to_the_shares(bench):
    assert bench.split_counts(np.array([0.6, 0.4]), 256).tolist() == [154, 102]
    assert bench.split_counts(np.array([0.5, 0.5]), 255).tolist() == [128, 127]  # ties: the lower rank


def test_the_speed_balanced_split_gives_the_faster_rank_more_of_the_batch(bench):
    # this rank (0) does 128 examples in 4 ms, the other reports half that speed: after
    # BALANCE_EVERY steps this rank's share moves halfway from 1/2 to 2/3
    rep = bench.Replica(0, 2, step=None, barrier=lambda: None, algorithm="none", parameters=list,
                        gather=lambda mine: [mine, {"speed": mine["speed"] / 2}])
    sampler = bench.speed_balanced_sampler(1024, 128, 0, rep)
    assert sampler.shard_bounds(256) == (0, 128)
    for _ in range(bench.BALANCE_EVERY):
        sampler.observe(128, 0.004)
    assert sampler.shares[0] == pytest.approx(0.5 / 2 + (2 / 3) / 2)
    assert sampler.shard_bounds(256) == (0, 149)
    assert len(next(iter(sampler))) == 149
