"""Rich display in notebooks: graphs as SVG, explanations, histories and models as HTML,
live curves and the notebook progress bar."""
from __future__ import annotations

import sys
import types
import xml.etree.ElementTree as ET
from html import escape as html_escape

import numpy as np
import pytest

import chainrule as cr
from chainrule import display, nn, optim
from chainrule.tiny_network import TinyNetwork
from chainrule.training import History, fit
from chainrule.training.progress import EpochProgress


def _history() -> History:
    return History([{"epoch": i + 1, "loss": 1.0 / (i + 1), "accuracy": 0.5 + 0.1 * i, "lr": 0.01,
                     "val_loss": 1.2 / (i + 1), "val_accuracy": 0.4 + 0.1 * i,
                     "grad_norms": {"0": 0.1}} for i in range(4)])


def test_graph_returns_svg_text_that_notebooks_draw():
    net = TinyNetwork()
    svg = cr.viz.graph(net.loss(), engine="svg")
    assert isinstance(svg, str) and svg._repr_svg_() == str(svg)
    ET.fromstring(svg._repr_svg_())  # well-formed XML


def test_explanation_html_has_one_table_per_path_and_the_checks():
    net = TinyNetwork()
    e = cr.explain(net.loss, net.W1, (0, 0), name="W1")
    html = e._repr_html_()
    assert html.count("<table>") == len(e.paths) + 1
    assert "∂L/∂ŷ" in html and "product" in html and "✓ equal" in html and "✓ agrees" in html
    for f in e.paths[0].factors:
        assert html_escape(f.formula) in html


def test_explanation_html_escapes_names():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.name = "<b>x"
    html = cr.explain(lambda: (x * x).sum(), x, 0)._repr_html_()
    assert "<b>x" not in html and "&lt;b&gt;x" in html


def test_history_html_shows_the_epochs_and_the_curves():
    html = _history()._repr_html_()
    assert "<table>" in html and "<svg" in html and "val_accuracy" in html
    assert html.count("<tr>") == 1 + 4  # header + epochs
    assert "grad_norms" not in html
    assert html.count("<polyline") == 4  # loss, val_loss, accuracy, val_accuracy


def test_history_curves_are_well_formed_svg_even_with_nan_and_one_epoch():
    h = History([{"epoch": 1, "loss": float("nan")}])
    ET.fromstring(display.history_svg(h))
    ET.fromstring(display.history_svg(_history()))


def test_long_history_table_elides_the_middle():
    h = History([{"epoch": i + 1, "loss": 1.0} for i in range(100)])
    html = h._repr_html_()
    assert "… 80 epochs …" in html and html.count("<tr>") == 1 + 20 + 1


def test_not_in_notebook_without_an_ipython_kernel(monkeypatch):
    assert not display.in_notebook()
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: type("TerminalInteractiveShell", (), {})()
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert not display.in_notebook()


def _fake_kernel(monkeypatch) -> list:
    """A stand-in IPython kernel: get_ipython() is a ZMQInteractiveShell, display() records."""
    shown: list = []

    class Handle:
        def update(self, obj):
            shown.append(obj)

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: type("ZMQInteractiveShell", (), {})()
    disp = types.ModuleType("IPython.display")

    def show(obj, display_id=False):
        shown.append(obj)
        return Handle()

    disp.display = show
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", disp)
    return shown


def _fit(**kw) -> History:
    ds = cr.data.load_dataset("iris")
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    return fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), ds.train, val=ds.test,
               epochs=3, seed=0, **kw)


def test_fit_plot_redraws_the_curves_in_place_each_epoch(monkeypatch):
    shown = _fake_kernel(monkeypatch)
    history = _fit(plot=True, progress=False)
    assert len(shown) == 1 + 3  # the placeholder, then one update per epoch
    assert all(isinstance(s, display.SVG) for s in shown)
    assert shown[-1] == display.history_svg(history)


def test_fit_plot_outside_a_notebook_warns_and_trains():
    with pytest.warns(UserWarning, match="notebook"):
        history = _fit(plot=True, progress=False)
    assert len(history) == 3


def test_progress_bar_is_shown_in_a_notebook_even_though_stderr_is_not_a_terminal(monkeypatch):
    class NotATerminal:
        def write(self, s):
            pass

        def flush(self):
            pass

        def isatty(self):
            return False

    assert not EpochProgress(10, "epoch", stream=NotATerminal()).active
    _fake_kernel(monkeypatch)
    bar = EpochProgress(10, "epoch", stream=NotATerminal())
    try:
        assert bar.active
        bar.update(3, loss=0.5)
        assert bar.bar.n == 3
    finally:
        bar.close()


def test_curves_svg_scales_into_the_plot_area():
    svg = display.curves_svg({"a": [0.0, 1.0, 2.0]}, "t", width=320, height=200)
    pts = ET.fromstring(svg).find("{http://www.w3.org/2000/svg}polyline").get("points").split()
    xs, ys = zip(*[map(float, p.split(",")) for p in pts])
    assert np.isclose(xs[0], 46) and np.isclose(xs[-1], 310)
    assert ys[0] > ys[-1]  # larger values are drawn higher


def test_notebook_without_ipywidgets_names_the_extra_and_shows_a_text_bar(monkeypatch):
    import importlib.util

    from chainrule.training import progress

    _fake_kernel(monkeypatch)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ipywidgets" else real(name, *a))
    monkeypatch.setattr(progress, "_warned_widgets", False)

    class Sink:
        def write(self, s):
            pass

        def flush(self):
            pass

    with pytest.warns(UserWarning, match=r"pip install 'chainrule\[notebook\]'"):
        bar = EpochProgress(5, "epoch", stream=Sink())
    try:
        assert bar.active and type(bar.bar).__module__ == "tqdm.std"
    finally:
        bar.close()
