"""Module: walking parameters and submodules, modes, state_dict, config and repr."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.errors import ConfigError, ModelFileError


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(3, 4), nn.Linear(4, 2)]
        self.scale = nn.Parameter(np.ones(2))
        self.register_buffer("seen", np.zeros(2))

    def forward(self, x):
        return self.layers[1](self.layers[0](x).relu()) * self.scale


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3))


def test_named_parameters_follow_attribute_order_with_list_indices():
    names = [n for n, _ in TwoLayer().named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                     "scale"]


def test_sequential_names_parameters_by_index():
    assert [n for n, _ in mlp().named_parameters()] == ["0.weight", "0.bias", "3.weight",
                                                       "3.bias"]


def test_shared_parameter_is_listed_once():
    lin = nn.Linear(2, 2)
    assert len(nn.Sequential(lin, lin).parameters()) == 2


def test_named_modules_lists_self_and_nested_children():
    m = nn.Sequential(nn.Linear(2, 2), nn.Residual(nn.Sequential(nn.Linear(2, 2), nn.Tanh())))
    assert [n for n, _ in m.named_modules()] == ["", "0", "1", "1.module", "1.module.0",
                                                 "1.module.1"]
    assert len(list(m.children())) == 2


def test_num_parameters_counts_scalars():
    assert mlp().num_parameters() == 4 * 8 + 8 + 8 * 3 + 3


def test_train_and_eval_set_flag_on_every_submodule():
    m = mlp()
    m.eval()
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_dropout_is_identity_in_eval_mode():
    m = nn.Dropout(0.5).eval()
    x = np.random.randn(10, 10).astype(np.float32)
    np.testing.assert_array_equal(m(x).data, x)


def test_dropout_layers_sharing_a_generator_repeat_their_masks():
    def run(seed):
        g = np.random.default_rng(seed)
        m = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5, generator=g), nn.Linear(8, 8),
                          nn.Dropout(0.3, generator=g))
        m.load_state_dict(ref.state_dict())
        np.random.seed(0)                           # other randomness in between changes nothing
        return [m(x).data.copy() for _ in range(3)]

    ref = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 8), nn.Dropout(0.3))
    x = np.ones((5, 4), dtype=np.float32)
    a, b = run(11), run(11)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], a[1])           # a fresh mask each call
    assert not np.array_equal(a[0], run(12)[0])     # another seed, other masks
    assert nn.Dropout(0.5, generator=np.random.default_rng(0)).config() == {"p": 0.5}


def test_dropout_refuses_a_generator_that_is_not_one_when_built():
    with pytest.raises(cr.ConfigError, match="Dropout: generator"):
        nn.Dropout(0.5, generator="seed")


def test_zero_grad_sets_grads_to_none():
    m = mlp()
    m(np.random.randn(2, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_module_accepts_numpy_input():
    out = nn.Linear(3, 2)(np.ones((5, 3)))
    assert isinstance(out, cr.Tensor) and out.shape == (5, 2) and out.dtype == np.float32


def test_state_dict_includes_buffers_and_is_a_copy():
    m = TwoLayer()
    sd = m.state_dict()
    assert list(sd) == ["layers.0.weight", "layers.0.bias", "layers.1.weight",
                        "layers.1.bias", "scale", "seen"]
    sd["scale"][:] = 5
    assert m.scale.data[0] == 1


def test_load_state_dict_into_fresh_model_gives_identical_outputs():
    cr.manual_seed(1)
    a, b = mlp().eval(), mlp().eval()
    x = np.random.randn(6, 4)
    assert not np.allclose(a(x).data, b(x).data)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_load_state_dict_restores_buffers():
    a, b = TwoLayer(), TwoLayer()
    a.seen = np.array([3.0, 4.0])
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.seen, [3.0, 4.0])


def test_load_state_dict_keeps_parameter_dtype():
    m = nn.Linear(2, 2)
    m.load_state_dict({k: v.astype(np.float64) for k, v in m.state_dict().items()})
    assert m.weight.dtype == np.float32


def test_load_state_dict_missing_and_unexpected_keys_are_named():
    m = nn.Linear(2, 2)
    with pytest.raises(ModelFileError, match=r"missing keys \['bias'\].*unexpected keys \['b'\]"):
        m.load_state_dict({"weight": np.zeros((2, 2)), "b": np.zeros(2)})


def test_load_state_dict_non_strict_reports_keys():
    m = nn.Linear(2, 2)
    res = m.load_state_dict({"weight": np.zeros((2, 2)), "b": np.zeros(2)}, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["b"]
    assert not m.weight.data.any()


def test_load_state_dict_shape_mismatch_is_named():
    m = nn.Linear(2, 2)
    sd = m.state_dict()
    sd["weight"] = np.zeros((3, 2))
    with pytest.raises(ModelFileError, match=r"'weight': file \(3, 2\) vs model \(2, 2\)"):
        m.load_state_dict(sd)


def test_config_round_trip_rebuilds_same_architecture():
    m = nn.Sequential(nn.Flatten(), nn.Linear(4, 8, bias=False), nn.LeakyReLU(0.2),
                      nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.GELU("tanh"))),
                      nn.Softmax(axis=1))
    cfg = m.to_config()
    assert nn.from_config(cfg).to_config() == cfg
    assert repr(nn.from_config(cfg)) == repr(m)


def test_custom_module_without_config_refuses_to_config():
    with pytest.raises(ConfigError, match="TwoLayer has no architecture config"):
        TwoLayer().to_config()


def test_from_config_unknown_type_lists_known_types():
    with pytest.raises(ConfigError, match="unknown layer type 'Evil'.*Linear"):
        nn.from_config({"type": "Evil"})


def test_register_makes_a_custom_layer_buildable():
    @nn.register
    class Scale(nn.Module):
        def __init__(self, factor: float = 2.0):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

        def config(self):
            return {"factor": self.factor}

    try:
        m = nn.from_config(nn.Sequential(Scale(3.0)).to_config())
        assert isinstance(m[0], Scale) and m[0].factor == 3.0
    finally:
        del nn.LAYERS["Scale"]


def test_sequential_indexing_len_iteration_append():
    m = mlp()
    assert len(m) == 4 and isinstance(m[0], nn.Linear) and isinstance(m[-1], nn.Linear)
    assert isinstance(m[1:3], nn.Sequential) and len(m[1:3]) == 2
    assert [type(x).__name__ for x in m] == ["Linear", "ReLU", "Dropout", "Linear"]
    m.append(nn.Softmax())
    assert len(m) == 5 and "4" in dict(m.named_modules())


def test_residual_adds_input():
    body = nn.Linear(3, 3)
    x = np.random.randn(2, 3).astype(np.float32)
    np.testing.assert_allclose(nn.Residual(body)(x).data, x + body(x).data, rtol=1e-6)


def test_repr_is_pytorch_like():
    assert repr(nn.Sequential(nn.Linear(2, 3), nn.ReLU())) == (
        "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n)")


def test_allocation_budget_stops_oversized_parameters_before_allocating():
    with nn.allocation_budget(1000):
        with pytest.raises(ModelFileError, match=r"shape \(100, 100\) needs 40000 bytes"):
            nn.Linear(100, 100)
        nn.Linear(10, 10)


def test_allocation_budget_counts_assigned_parameters_and_buffers():
    class Big(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("stats", np.zeros(100))

    with nn.allocation_budget(500):
        with pytest.raises(ModelFileError, match="'stats' needs 800 bytes"):
            Big()
    Big()  # no budget outside the context


def test_apply_visits_every_module_children_first():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)))
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "Linear", "Sequential", "Sequential"]
    m.apply(lambda mod: nn.init.zeros_(mod.weight) if isinstance(mod, nn.Linear) else None)
    assert not any(p.data.any() for n, p in m.named_parameters() if n.endswith("weight"))


def test_module_without_super_init_still_reports_training():
    class Lazy(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    m = Lazy()
    assert m.training and [n for n, _ in m.named_parameters()] == ["w"]
    assert list(m.state_dict()) == ["w"]


def test_cached_intermediate_tensors_are_not_parameters():
    class Caching(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            self.last = self.lin(x)
            return self.last

    m = Caching()
    m(np.ones((1, 2)))
    assert [n for n, _ in m.named_parameters()] == ["lin.weight", "lin.bias"]


def test_subclass_of_sequential_is_not_saved_as_plain_sequential():
    class Doubling(nn.Sequential):
        def forward(self, x):
            return super().forward(x) * 2

    with pytest.raises(ConfigError, match="Doubling has no architecture config"):
        Doubling(nn.Linear(2, 2)).to_config()


def test_astype_float64_model_passes_gradcheck():
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).astype(np.float64)
    assert all(p.dtype == np.float64 for p in m.parameters())
    x = cr.tensor(np.random.randn(5, 3), dtype=np.float64, requires_grad=True)
    assert cr.gradcheck(lambda x: m(x), [x])
    w = m[0].weight
    cr.gradcheck(lambda w: F.linear(x.data, w, m[0].bias).tanh().sum(), [w])


def test_astype_rejects_integer_dtypes():
    with pytest.raises(ConfigError, match="floating point"):
        nn.Linear(2, 2).astype(np.int32)
