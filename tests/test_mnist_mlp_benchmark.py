"""benchmarks/mnist_mlp.py compares like with like: its hand-written NumPy MLP takes the same
training step as chainrule's model, so the ratio of their times measures the framework."""
import numpy as np
import pytest
from conftest import load_benchmark

import chainrule.nn.functional as F
from chainrule import optim


@pytest.fixture(scope="module")
def bench():
    load_benchmark("benchlib")  # mnist_mlp.py imports it by name
    return load_benchmark("mnist_mlp")


def test_the_hand_written_step_is_chainrules_step(bench):
    model = bench.chainrule_model(0, bench.FIXED_SIZES)
    linears = [m for m in model if hasattr(m, "weight")]
    npm = bench.NumpyMLP(0, bench.FIXED_SIZES)
    npm.params = [a for lin in linears for a in (lin.weight.data.T.copy(), lin.bias.data.copy())]
    npm.bufs = [np.zeros_like(p) for p in npm.params]
    opt = optim.SGD(model.parameters(), lr=bench.LR, momentum=bench.MOMENTUM)
    rng = np.random.default_rng(1)
    for _ in range(3):  # the second and third steps use the momentum buffers
        x = rng.random((bench.FIXED_BATCH, bench.FIXED_SIZES[0]), dtype=np.float32)
        y = rng.integers(0, bench.FIXED_SIZES[-1], bench.FIXED_BATCH)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        npm.step(x, y)
    for lin, w, b in zip(linears, npm.params[::2], npm.params[1::2]):
        np.testing.assert_allclose(lin.weight.data.T, w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lin.bias.data, b, rtol=1e-5, atol=1e-6)


def test_the_default_model_is_the_benchmarks_784_256_256_10(bench):
    shapes = [p.shape for p in bench.chainrule_model(0).parameters()]
    assert shapes == [(256, 784), (256,), (256, 256), (256,), (10, 256), (10,)]


def test_the_fixed_cost_is_the_mean_step_of_each_library(bench):
    cost = bench.fixed_cost(0, steps=4, chunks=2)
    assert set(cost) == {"chainrule", "numpy"}
    assert all(0 < seconds < 1 for seconds in cost.values())


def test_phases_times_the_same_phases_in_both_libraries(bench):
    rng = np.random.default_rng(0)
    data = (rng.random((16, 8), dtype=np.float32), rng.integers(0, 4, 16))
    med = bench.phases(data, 0, epochs=1, warmup=0, sizes=bench.FIXED_SIZES, batch=4)
    names = ["batch", "linear 1", "ReLU 1", "linear 2", "ReLU 2", "linear 3", "loss", "backward", "update"]
    assert list(med["chainrule"]) == names
    assert list(med["numpy"]) == names
    assert all(s > 0 for m in med.values() for s in m.values())
