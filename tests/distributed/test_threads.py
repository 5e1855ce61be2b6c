"""Each rank's share of its machine's cores (chainrule/distributed/threads.py)."""
import pytest

from chainrule.distributed import comm
from chainrule.distributed.threads import CoreShare, decide


def test_ranks_on_one_machine_share_its_cores_equally():
    share = decide(local_ranks=2, cores=8, machine_cores=8, environ={})
    assert (share.threads, share.source) == (4, "shared")
    assert share.describe() == "4 threads per rank (8 cores, 2 ranks on this machine)"


def test_more_ranks_than_cores_still_get_one_thread_each():
    assert decide(local_ranks=4, cores=2, machine_cores=2, environ={}).threads == 1


def test_a_rank_the_launcher_bound_to_some_cores_uses_all_of_them():
    share = decide(local_ranks=8, cores=4, machine_cores=32, environ={})
    assert (share.threads, share.source) == (4, "bound")


@pytest.mark.parametrize("var", ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"])
def test_a_thread_variable_set_by_the_user_wins(var):
    share = decide(local_ranks=2, cores=8, machine_cores=8, environ={var: "3"})
    assert (share.threads, share.source) == (3, var)
    assert share.describe() == f"3 threads per rank ({var} is set)"


def test_an_unusable_thread_variable_is_ignored():
    assert decide(local_ranks=2, cores=8, machine_cores=8, environ={"OMP_NUM_THREADS": "auto"}).source == "shared"


@pytest.mark.parametrize("local_ranks, cores, machine_cores, environ, own", [
    (2, 2, 2, {}, True),                              # a core per rank
    (4, 2, 2, {}, False),                             # more ranks than cores
    (8, 4, 32, {}, True),                             # the launcher bound each rank to its cores
    (4, 2, 2, {"OMP_NUM_THREADS": "1"}, False),       # a thread variable changes no core count
], ids=["core-per-rank", "oversubscribed", "bound", "variable"])
def test_a_rank_has_a_core_to_itself_unless_the_machine_is_oversubscribed(local_ranks, cores, machine_cores,
                                                                          environ, own):
    assert decide(local_ranks, cores, machine_cores, environ).own_core is own


@pytest.mark.parametrize("share, spin", [
    (None, comm.SPIN_SECONDS),                                              # a single process
    (CoreShare(1, 2, 2, "shared", own_core=True), comm.OWN_CORE_SPIN_SECONDS),
    (CoreShare(1, 2, 4, "shared", own_core=False), comm.SPIN_SECONDS),
], ids=["single-process", "own-core", "oversubscribed"])
def test_a_wait_spins_longer_only_on_a_core_of_its_own(monkeypatch, share, spin):
    monkeypatch.setattr(comm._state, "cores", share)
    assert comm.spin_seconds() == spin
