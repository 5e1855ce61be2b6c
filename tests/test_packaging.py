"""Packaging: one version, read by pyproject and the CLI; a changelog; package data declared.
(The wheel itself is built, installed in a fresh venv and trained from by .ci/wheel-check.)"""
from __future__ import annotations

import pathlib
import re

import pytest

import chainrule as cr
from chainrule.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_version_has_one_source():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "chainrule.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+([a-z]+\d+)?", cr.__version__)


def test_cli_version_is_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"chainrule {cr.__version__}"


def test_changelog_names_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {cr.__version__}" in text and "## Unreleased" in text


def test_package_data_covers_the_playground_and_bundled_files():
    tomllib = pytest.importorskip("tomllib")
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["chainrule"]
    pkg = ROOT / "src" / "chainrule"
    needed = [p for d in ("playground/static", "data/files") for p in (pkg / d).rglob("*") if p.is_file()]
    assert needed
    for path in needed:
        rel = path.relative_to(pkg).as_posix()
        assert any(pathlib.PurePosixPath(rel).match(g) or (g.endswith("**/*") and rel.startswith(g[:-4]))
                   for g in globs), f"{rel} would be left out of the wheel"
