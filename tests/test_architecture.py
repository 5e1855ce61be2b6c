"""The layers of docs/architecture.md hold: a module imports only from its own layer or below.

Every import between chainrule's top-level modules is read from the source (at module level
and inside functions alike: a lazy import is still a dependency). The few deliberate upward
imports are listed with their reason; a new one fails here until docs/architecture.md and this
list are changed together.
"""
import ast
from pathlib import Path

import chainrule

PACKAGE = Path(chainrule.__file__).parent

#: lowest first; the same numbers as the layer diagram in docs/architecture.md
LAYERS = {
    0: {"errors", "rng", "catalogue", "opspec", "extras", "parallel", "allocator", "blas_threads",
        "_startup"},
    1: {"tensor", "gradcheck"},
    2: {"ops"},
    3: {"nn", "optim", "tiny_network"},
    4: {"io"},
    5: {"data"},
    6: {"training", "distributed"},
    7: {"viz", "display", "explanation", "onnx"},
    8: {"commands", "cli", "playground", "__init__", "__main__"},
}
LEVEL = {name: level for level, names in LAYERS.items() for name in names}

#: (importer, imported): why this upward import is right
ALLOWED_UPWARD = {
    ("tensor", "ops"): "tensor.py imports ops last, so a Tensor always has its operators bound",
    ("training", "display"): "fit(plot=True) and History's notebook view draw with display, imported on use",
    ("training", "onnx"): "the TensorBoard callback draws the model's graph through an ONNX export, on use",
    ("onnx", "commands"): "export_file reads a model file's preparation with the CLI's own checked reader",
}


def _top(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> set[tuple[str, str, str]]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts)
        package = module[: -len(".__init__")] if module.endswith(".__init__") else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                if node.module:
                    targets.append(".".join(base + [node.module]))
                else:
                    targets += [".".join(base + [a.name]) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chainrule."):
                targets.append(node.module)
            elif isinstance(node, ast.Import):
                targets += [a.name for a in node.names if a.name.startswith("chainrule.")]
            for target in targets:
                a, b = _top(module), _top(target)
                if a != b and b != "__version__":
                    found.add((a, b, str(path.relative_to(PACKAGE))))
    return found


def test_every_top_level_module_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert names - set(LEVEL) == set(), "add the new module to a layer here and in docs/architecture.md"


def test_no_module_imports_from_a_higher_layer():
    upward = sorted((a, b, where) for a, b, where in _imports()
                    if LEVEL[b] > LEVEL[a] and (a, b) not in ALLOWED_UPWARD)
    assert not upward, "upward imports (see docs/architecture.md, 'Layers'): " + "; ".join(
        f"{where} imports {b} (layer {LEVEL[b]}) from layer {LEVEL[a]}" for a, b, where in upward)


def test_the_allowed_upward_imports_still_exist():
    pairs = {(a, b) for a, b, _ in _imports()}
    assert set(ALLOWED_UPWARD) <= pairs, "drop the exceptions that are gone: " + str(set(ALLOWED_UPWARD) - pairs)
