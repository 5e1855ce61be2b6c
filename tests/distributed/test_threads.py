"""Each rank's share of its machine's cores (chainrule/distributed/threads.py)."""
import pytest

from chainrule.distributed.threads import decide


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
