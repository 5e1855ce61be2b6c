"""training/ is split by concern with no import cycle: fit (the loop), checkpoint, run, evaluation ..."""
import ast
from pathlib import Path

import chainrule.training

PACKAGE = Path(chainrule.training.__file__).parent


def _sibling_imports(path: Path) -> tuple[set[str], set[str]]:
    """(siblings imported at module level, siblings imported inside functions) of one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top: set[str] = set()
    nested: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom) and child.level == 1 and child.module:
                (nested if in_function else top).add(child.module.split(".")[0])
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only: no import at run time
            visit(child, inner)

    visit(tree, False)
    return top, nested


def test_training_modules_import_each_other_only_at_the_top_and_without_a_cycle():
    graph = {}
    for path in sorted(PACKAGE.glob("*.py")):
        top, nested = _sibling_imports(path)
        assert not nested, f"{path.name} imports {sorted(nested)} inside a function (a hidden cycle?)"
        graph[path.stem] = top

    seen, done = set(), set()

    def walk(name, trail):
        assert name not in seen or name in done, f"import cycle: {' -> '.join(trail + [name])}"
        if name in done:
            return
        seen.add(name)
        for dep in graph.get(name, ()):
            walk(dep, trail + [name])
        done.add(name)

    for name in graph:
        walk(name, [])


def test_run_and_history_are_dataclasses_with_declared_fields():
    import dataclasses

    from chainrule.training import History, Run

    assert dataclasses.is_dataclass(Run) and dataclasses.is_dataclass(History)
    run = Run(model=None, optimizer=None)
    assert run.history.epochs == [] and run.stop_training is False and run.saved_epochs is None
    assert not hasattr(run, "__dict__") or set(vars(run)) == {f.name for f in dataclasses.fields(Run)}
