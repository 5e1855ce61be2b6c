"""Bucket plan: reverse registration order, a small first bucket, one dtype per bucket."""
import numpy as np

from chainrule import nn
from chainrule.distributed import plan_buckets


def test_buckets_run_last_layer_first_with_a_small_first_bucket():
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    params = model.parameters()
    buckets = plan_buckets(params, first_mb=1.0, cap_mb=25.0)
    order = [id(p) for b in buckets for p in b.params]
    assert order == [id(p) for p in reversed(params)]
    assert buckets[0].buffer.nbytes <= 2**20 + 4  # the first bucket (+ the loss slot) fits 1 MB
    assert len(buckets) == 2 and buckets[1].params == [params[0]]  # the 784x256 weight travels last
    assert buckets[0].extra == 1 and buckets[1].extra == 0
    assert sum(b.buffer.size for b in buckets) == sum(p.data.size for p in params) + 1


def test_a_dtype_change_starts_a_new_bucket():
    a, b = nn.Linear(3, 2), nn.Linear(2, 2).astype(np.float64)
    buckets = plan_buckets(a.parameters() + b.parameters(), first_mb=10, cap_mb=10)
    assert [bk.buffer.dtype for bk in buckets] == [np.float64, np.float32]
