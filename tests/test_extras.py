"""Optional pieces stay optional: importing chainrule loads none of them, and a missing one is
a ConfigError naming the extra that installs it."""
from __future__ import annotations

import subprocess
import sys

import pytest

import chainrule as cr
from chainrule.extras import EXTRAS, require

OPTIONAL = ("onnx", "onnxruntime", "tensorboardX", "tbparse", "tqdm", "tqdm.notebook", "tqdm.auto",
            "ipywidgets", "IPython", "ipykernel", "matplotlib", "nbformat", "nbclient", "torch")


def test_import_chainrule_loads_no_optional_package():
    code = ("import sys, chainrule, chainrule.nn, chainrule.training, chainrule.onnx\n"
            f"print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_require_names_the_extra_of_a_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(cr.ConfigError, match=r"TensorBoard logging needs the tensorboardX package.*"
                                             r"pip install 'chainrule\[tensorboard\]'"):
        require("tensorboardX", "TensorBoard logging")


def test_every_extra_named_exists_in_pyproject():
    import pathlib
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = pathlib.Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS.values()) <= set(extras)
