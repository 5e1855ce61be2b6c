"""chainrule.parallel: the batch split of large elementwise work across threads, and the ops
that use it giving the same numbers, bit for bit, split or not."""
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.blas_threads as blas_threads
import chainrule.nn.functional as F
import chainrule.ops.conv as conv_module
import chainrule.parallel as parallel
from chainrule.errors import ConfigError

from .parallel_helpers import split_everything


@given(n=st.integers(1, 40), threads=st.integers(1, 5))
def test_over_batch_covers_every_row_once(n, threads):
    seen = np.zeros(n, dtype=int)
    lock = threading.Lock()

    def mark(s):
        with lock:
            seen[s] += 1

    with split_everything(threads):
        parallel.over_batch(mark, n, size=10**9)
    assert (seen == 1).all()


def test_small_work_stays_in_the_calling_thread():
    names = []
    parallel.over_batch(lambda s: names.append(threading.current_thread().name), 8, size=10)
    assert names == [threading.current_thread().name]


def test_large_work_is_split_over_threads():
    names = set()
    with split_everything(2):
        parallel.over_batch(lambda s: names.add(threading.current_thread().name), 8,
                            size=parallel.MIN_PARALLEL_ELEMENTS)
    assert len(names) == 2


@pytest.mark.skipif(not blas_threads.blas_thread_count_settable(), reason="NumPy's BLAS is not OpenBLAS")
def test_slices_with_products_run_with_openblas_held_to_one_thread_then_restored():
    count = blas_threads._thread_count()
    before = count.get()
    seen, lock = [], threading.Lock()

    def product_rows(s):
        with lock:
            seen.append((threading.current_thread().name, count.get()))

    with split_everything(2):
        parallel.over_batch(product_rows, 8, size=10**9, products=True)
    assert len({name for name, _ in seen}) == 2 and {n for _, n in seen} == {1}
    assert count.get() == before


def test_slices_with_products_stay_whole_when_the_blas_thread_count_cannot_be_set(monkeypatch):
    monkeypatch.setattr(parallel, "blas_thread_count_settable", lambda: False)
    names = []
    with split_everything(2):
        parallel.over_batch(lambda s: names.append((threading.current_thread().name, s)), 8,
                            size=10**9, products=True)
    assert names == [(threading.current_thread().name, slice(0, 8))]


def test_an_error_in_a_worker_is_raised_in_the_caller():
    def fail_late(s):
        if s.start > 0:
            raise ValueError("worker failed")

    with split_everything(2), pytest.raises(ValueError, match="worker failed"):
        parallel.over_batch(fail_late, 4, size=10**9)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "2"])
def test_set_num_threads_rejects_non_positive_ints(bad):
    with pytest.raises(ConfigError, match="positive int"):
        parallel.set_num_threads(bad)


def _cnn_step(x, w1, w2):
    """conv -> relu -> max-pool -> conv -> relu -> max-pool, then the gradients."""
    X, W1, W2 = (cr.tensor(a, requires_grad=True) for a in (x, w1, w2))
    h = F.max_pool2d(F.conv2d(X, W1).relu(), 2)
    out = F.max_pool2d(F.conv2d(h, W2, padding=1).relu(), 2)
    out.backward(np.ones(out.shape, dtype=out.dtype))
    return [out.data, X.grad, W1.grad, W2.grad]


@pytest.mark.parametrize("chunk_bytes", [None, 50_000])  # conv2d's own; 3 samples a chunk in conv 1
def test_split_ops_give_the_same_numbers_bit_for_bit(monkeypatch, chunk_bytes):
    if chunk_bytes is not None:  # im2col chunks that cut across the threads' slices of the batch
        monkeypatch.setattr(conv_module, "_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 3, 14, 14)).astype(np.float32)
    w1 = rng.standard_normal((20, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((5, 20, 3, 3)).astype(np.float32)
    serial = _cnn_step(x, w1, w2)
    with split_everything(3):
        split = _cnn_step(x, w1, w2)
    for a, b in zip(serial, split):
        np.testing.assert_array_equal(a, b)


@given(n=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_split_relu_and_max_pool_pass_gradcheck(n, seed):
    x = np.random.default_rng(seed).standard_normal((n, 2, 4, 6))
    with split_everything(3):
        assert cr.gradcheck(lambda a: F.max_pool2d(a.relu(), 2),
                            [cr.tensor(x, requires_grad=True, dtype=np.float64)])
