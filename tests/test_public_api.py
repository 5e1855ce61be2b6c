"""What ``import chainrule`` offers: the public API only, every name reachable; the licence."""
from pathlib import Path

import tomllib

import chainrule as cr

ROOT = Path(__file__).resolve().parents[1]


def test_dir_shows_the_public_api_only():
    names = dir(cr)
    assert set(names) == set(cr.__all__) | cr._SUBMODULES | {"__version__"}
    leaked = [n for n in names if n.startswith("_") and n != "__version__"]
    assert not leaked, leaked
    for helper in ("importlib", "annotations", "ops", "rng", "errors", "opspec"):
        assert helper not in names


def test_every_public_name_resolves():
    for name in dir(cr):
        assert getattr(cr, name) is not None, name


def test_license_file_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["license"]
    declared = declared.get("text") if isinstance(declared, dict) else declared
    assert declared == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
