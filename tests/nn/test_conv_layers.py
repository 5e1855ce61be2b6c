"""Conv2d, MaxPool2d, AvgPool2d, BatchNorm1d/2d, Unflatten and lenet(): initialisation,
configs, train/eval behaviour against PyTorch, and saving a CNN with cr.save/cr.load."""
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.errors import ConfigError, ShapeError


def small_cnn():
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(4, 6, (3, 2), stride=(1, 2)), nn.ReLU(), nn.AvgPool2d(2, 1),
        nn.Flatten(), nn.Linear(6 * 1 * 1, 5), nn.BatchNorm1d(5), nn.Linear(5, 3))


# ----------------------------------------------------------------------------- Conv2d
def test_conv2d_shapes_and_pytorch_default_initialisation():
    cr.manual_seed(0)
    conv = nn.Conv2d(3, 8, 5)
    assert conv.weight.shape == (8, 3, 5, 5) and conv.bias.shape == (8,)
    assert conv.weight.dtype == np.float32 and conv.weight.requires_grad
    bound = 1 / math.sqrt(3 * 5 * 5)                  # kaiming_uniform_(a=√5) = U(±1/√fan_in)
    for p in (conv.weight, conv.bias):
        assert np.abs(p.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.9 * bound  # spread over the range
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    assert nn.Conv2d(3, 8, 3, bias=False).bias is None


def test_conv2d_forward_equals_the_functional_op():
    conv = nn.Conv2d(2, 3, (3, 2), stride=2, padding=(1, 0))
    x = np.random.default_rng(0).standard_normal((2, 2, 7, 6)).astype(np.float32)
    out = conv(x)
    assert out.shape == (2, 3, 4, 3)
    np.testing.assert_array_equal(out.data, F.conv2d(x, conv.weight, conv.bias, 2, (1, 0)).data)
    assert conv.output_shape(7, 6) == (4, 3)


def test_conv2d_matches_torch_with_copied_weights(torch):
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    tconv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
    with torch.no_grad():
        tconv.weight.copy_(torch.from_numpy(conv.weight.data))
        tconv.bias.copy_(torch.from_numpy(conv.bias.data))
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 9)).astype(np.float32)
    np.testing.assert_allclose(conv(x).data, tconv(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", [
    dict(in_channels=0, out_channels=2, kernel_size=3),
    dict(in_channels=2, out_channels=2, kernel_size=0),
    dict(in_channels=2, out_channels=2, kernel_size=3, stride=0),
    dict(in_channels=2, out_channels=2, kernel_size=3, padding=-1),
])
def test_conv2d_rejects_bad_hyperparameters(kwargs):
    with pytest.raises(ConfigError, match="Conv2d"):
        nn.Conv2d(**kwargs)


# ----------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("cls,fn", [(nn.MaxPool2d, F.max_pool2d), (nn.AvgPool2d, F.avg_pool2d)])
def test_pool_layers_apply_their_ops_and_default_stride_to_the_kernel(cls, fn):
    layer = cls(3)
    assert layer.config() == {"kernel_size": 3, "stride": 3, "padding": 0}
    x = np.random.default_rng(0).standard_normal((1, 2, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).data, fn(cr.tensor(x), 3).data)
    assert cls(2, (1, 2), 1).config() == {"kernel_size": 2, "stride": [1, 2], "padding": 1}
    assert list(layer.parameters()) == []


# ----------------------------------------------------------------------------- BatchNorm
@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (8, 3)), (nn.BatchNorm1d, (8, 3, 4)),
                                       (nn.BatchNorm2d, (4, 3, 5, 5))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_layers_track_statistics_like_pytorch(torch, cls, shape, momentum):
    bn = cls(3, momentum=momentum)
    tbn = getattr(torch.nn, cls.__name__)(3, momentum=momentum)
    rng = np.random.default_rng(0)
    bn.weight.data[:] = rng.standard_normal(3)
    bn.bias.data[:] = rng.standard_normal(3)
    with torch.no_grad():
        tbn.weight.copy_(torch.from_numpy(bn.weight.data))
        tbn.bias.copy_(torch.from_numpy(bn.bias.data))
    for step in range(3):                              # training: batch statistics
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        np.testing.assert_allclose(bn(x).data, tbn(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean, tbn.running_mean.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.running_var, tbn.running_var.numpy(), rtol=1e-5, atol=1e-5)
    assert int(bn.num_batches_tracked) == int(tbn.num_batches_tracked) == 3
    bn.eval()
    tbn.eval()                                         # evaluation: running statistics
    x = rng.standard_normal(shape).astype(np.float32)
    before = bn.running_mean.copy()
    np.testing.assert_allclose(bn(x).data, tbn(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(bn.running_mean, before)


def test_batch_norm_buffers_are_state_but_not_parameters():
    bn = nn.BatchNorm2d(4)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert bn.config() == {"num_features": 4, "eps": 1e-5, "momentum": 0.1, "affine": True,
                           "track_running_stats": True}
    plain = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert plain.parameters() == [] and list(plain.state_dict()) == []
    plain.eval()                       # no running statistics: batch statistics even in eval
    out = plain(np.arange(8.0).reshape(2, 4))
    np.testing.assert_allclose(out.data, [[-1] * 4, [1] * 4], atol=1e-3)


def test_batch_norm_backward_reaches_weight_bias_and_input():
    bn = nn.BatchNorm2d(2)
    x = cr.randn(3, 2, 2, 2, requires_grad=True)
    (bn(x) * cr.randn(3, 2, 2, 2)).sum().backward()
    assert x.grad.shape == x.shape and bn.weight.grad.shape == (2,)
    assert bn.bias.grad.shape == (2,)


@pytest.mark.parametrize("cls,shape,words", [
    (nn.BatchNorm2d, (4, 3), "4-D"), (nn.BatchNorm1d, (4, 3, 2, 2), "2-D or 3-D"),
    (nn.BatchNorm1d, (4, 5), "5 channels")])
def test_batch_norm_rejects_inputs_of_the_wrong_shape(cls, shape, words):
    with pytest.raises(ShapeError, match=cls.__name__) as info:
        cls(3)(np.zeros(shape, np.float32))
    assert words in str(info.value)


def test_batch_norm_rejects_bad_hyperparameters():
    for kwargs in (dict(num_features=0), dict(num_features=3, eps=0),
                   dict(num_features=3, momentum=1.5)):
        with pytest.raises(ConfigError, match="BatchNorm2d"):
            nn.BatchNorm2d(**kwargs)


# ----------------------------------------------------------------------------- Unflatten, lenet
def test_unflatten_splits_one_axis_and_passes_gradients_back():
    x = cr.tensor(np.arange(24.0).reshape(2, 12), requires_grad=True)
    out = nn.Unflatten(1, (3, 2, 2))(x)
    assert out.shape == (2, 3, 2, 2)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 12)))
    assert nn.Unflatten(-1, [3, 4]).config() == {"axis": -1, "shape": [3, 4]}
    with pytest.raises(ShapeError, match="Unflatten"):
        nn.Unflatten(1, (5, 5))(x)


def test_lenet_is_the_documented_network():
    cr.manual_seed(0)
    model = nn.lenet()
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Unflatten", "Conv2d", "MaxPool2d", "ReLU", "Conv2d", "MaxPool2d", "ReLU",
                     "Flatten", "Linear", "ReLU", "Linear"]
    assert (model[1].out_channels, model[4].out_channels, model[8].in_features,
            model[8].out_features, model[10].out_features) == (32, 64, 1024, 128, 10)
    assert model.num_parameters() == 32 * 25 + 32 + 64 * 32 * 25 + 64 + 1024 * 128 + 128 + 1290
    out = model(np.zeros((3, 784), np.float32))
    assert out.shape == (3, 10) and out.dtype == np.float32
    small = nn.lenet(in_channels=3, num_classes=4, image_size=(16, 20), channels=(4,), hidden=8,
                     kernel_size=3, dropout=0.5)
    assert small(np.zeros((2, 3 * 16 * 20), np.float32)).shape == (2, 4)
    with pytest.raises(ConfigError, match="too small"):
        nn.lenet(image_size=8)


def _textbook_order(model: nn.Sequential) -> nn.Sequential:
    """The same layers (the same parameter objects) as conv -> ReLU -> pool."""
    layers = list(model)
    for i in range(len(layers) - 1):
        if isinstance(layers[i], nn.MaxPool2d) and isinstance(layers[i + 1], nn.ReLU):
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return nn.Sequential(*layers)


def test_lenet_pool_then_relu_equals_relu_then_pool_bit_for_bit_with_its_gradients():
    cr.manual_seed(5)
    model = nn.lenet(channels=(6, 8), hidden=16)
    textbook = _textbook_order(model)
    assert [type(m).__name__ for m in textbook][1:4] == ["Conv2d", "ReLU", "MaxPool2d"]
    x = np.random.default_rng(6).standard_normal((5, 784)).astype(np.float32)
    x[0] = -1.0                  # windows whose maximum is <= 0 and many ties: zero gradient
    x[1] = 0.0
    y = np.array([0, 1, 2, 3, 4])
    grads = []
    for m in (model, textbook):
        for p in m.parameters():
            p.grad = None
        out = m(x)
        F.cross_entropy(out, y).backward()
        grads.append((out.data, [p.grad.copy() for p in m.parameters()]))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1]):
        np.testing.assert_array_equal(a, b)


def test_a_lenet_saved_in_the_textbook_order_loads_as_saved_and_into_todays_lenet(tmp_path):
    cr.manual_seed(7)
    old = _textbook_order(nn.lenet()).eval()   # what lenet() built before pooling moved first
    x = np.random.default_rng(8).random((3, 784)).astype(np.float32)
    cr.save(old, tmp_path / "old.safetensors")
    loaded = cr.load(tmp_path / "old.safetensors").eval()
    assert [type(m).__name__ for m in loaded] == [type(m).__name__ for m in old]
    np.testing.assert_array_equal(loaded(x).data, old(x).data)
    today = nn.lenet().eval()
    today.load_state_dict(loaded.state_dict())
    np.testing.assert_array_equal(today(x).data, old(x).data)


def test_layers_are_registered_for_saved_architectures():
    for name in ("Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Unflatten"):
        assert nn.get_layer(name) is getattr(nn, name)


def test_a_cnn_trains_one_step_and_every_parameter_gets_a_gradient():
    cr.manual_seed(1)
    model = small_cnn()
    x = np.random.default_rng(0).standard_normal((6, 64)).astype(np.float32)
    loss = F.cross_entropy(model(x), np.array([0, 1, 2, 0, 1, 2]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert p.grad.dtype == np.float32


def test_cnn_round_trips_through_save_and_load(tmp_path):
    cr.manual_seed(2)
    model = small_cnn()
    x = np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32)
    model(x)                                   # training step: running statistics move
    model.eval()
    expected = model(x).data
    cr.save(model, tmp_path / "cnn.safetensors")
    loaded = cr.load(tmp_path / "cnn.safetensors")
    assert repr(loaded) == repr(model)
    loaded.eval()
    np.testing.assert_array_equal(loaded(x).data, expected)
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a, b)


def test_lenet_round_trips_through_save_and_load(tmp_path):
    model = nn.lenet().eval()
    x = np.random.default_rng(4).random((2, 784)).astype(np.float32)
    cr.save(model, tmp_path / "lenet.safetensors")
    loaded = cr.load(tmp_path / "lenet.safetensors").eval()
    np.testing.assert_array_equal(loaded(x).data, model(x).data)
