"""The quick scripts in examples/ run as written (from the repository root) and print what
the README says they print. (examples/mnist_mlp.py trains for minutes: not run here.)"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / name)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_iris_example_cross_validates_above_95_percent_and_names_the_flowers():
    out = run_example("iris.py").splitlines()
    correct = int(out[0].split(": ")[1].split("/")[0])
    assert out[0].startswith("5-fold cross-validated accuracy: ") and correct >= 143  # >= 95 %
    assert [line.split("-> ")[1].split()[0] for line in out[1:4]] == ["setosa", "versicolor", "virginica"]


def test_csv_regression_example_reports_r2():
    out = run_example("csv_regression.py")
    assert "R²" in out or "R2" in out


@pytest.mark.parametrize("name", ["iris.py", "csv_regression.py", "mnist_mlp.py"])
def test_examples_are_documented_in_the_readme(name):
    assert f"examples/{name}" in (ROOT / "README.md").read_text(encoding="utf-8")
