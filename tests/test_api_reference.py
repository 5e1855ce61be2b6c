"""The API reference (docs/api, built by mkdocs + mkdocstrings in .ci/run) covers every public name.

A public name is one in the ``__all__`` of a module users import (``PUBLIC_MODULES``). It is
covered when some ``::: dotted.path`` line of a page in docs/api resolves to the same object.
A new public function or class fails here until its line is added to the page of its package.
"""
import importlib
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"

PUBLIC_MODULES = [
    "chainrule", "chainrule.nn", "chainrule.nn.functional", "chainrule.nn.init", "chainrule.optim",
    "chainrule.optim.lr_scheduler", "chainrule.data", "chainrule.training", "chainrule.training.recipes",
    "chainrule.io", "chainrule.catalogue", "chainrule.explanation", "chainrule.opspec", "chainrule.viz",
    "chainrule.viz.plots", "chainrule.display", "chainrule.onnx", "chainrule.distributed", "chainrule.playground",
    "chainrule.extras",
]


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _documented() -> dict[str, object]:
    paths = [m.group(1) for page in sorted(API.glob("*.md"))
             for m in re.finditer(r"^::: ([\w.]+)\s*$", page.read_text(encoding="utf-8"), re.M)]
    return {p: _resolve(p) for p in paths}


def test_every_reference_line_names_an_existing_object():
    assert len(_documented()) > 200


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_has_an_entry_in_the_api_reference(module_name):
    pytest.importorskip("matplotlib") if module_name == "chainrule.viz.plots" else None
    module = importlib.import_module(module_name)
    documented = _documented()
    ids = {id(obj) for obj in documented.values()}
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            assert obj.__name__ in PUBLIC_MODULES, f"{module_name}.{name} is a public module without a page"
        elif id(obj) not in ids:
            missing.append(name)
    assert not missing, (f"add '::: {module_name}.<name>' lines to a page in docs/api for: "
                         f"{', '.join(missing)}")


def test_every_api_page_is_in_the_mkdocs_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in API.glob("*.md"):
        assert f"api/{page.name}" in nav, page.name
