"""The MNIST promise: the default recipe reaches >= 98 % test accuracy within 10 epochs.

Takes minutes, so it runs only with ``CHAINRULE_SLOW=1`` (and the MNIST files beside the
checkout): ``CHAINRULE_SLOW=1 pytest -m slow tests/training/test_mnist_slow.py``.
"""
import json
import os

import pytest

from chainrule.cli import main


@pytest.mark.slow
def test_mnist_recipe_reaches_98_percent(mnist_dir, tmp_path):
    if os.environ.get("CHAINRULE_SLOW") != "1":
        pytest.skip("full MNIST training; set CHAINRULE_SLOW=1 to run it")
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "10", "--seed", "0",
                 "--quiet", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.98 and metrics["epochs"] <= 10
