"""Without mpi4py: chainrule imports NumPy only and one process trains exactly as before."""
import json
import os
import subprocess
import sys

BLOCK = "import sys; sys.modules['mpi4py'] = None\n"  # `import mpi4py` now raises ImportError


def _python(code, env=None):
    return subprocess.run([sys.executable, "-c", BLOCK + code], check=False, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_import_chainrule_loads_no_mpi_and_no_distributed_package():
    r = _python("import chainrule, sys; print(json.dumps(sorted(m for m in sys.modules "
                "if m.startswith(('mpi4py', 'chainrule.distributed')) and sys.modules[m] is not None)))"
                .replace("print(", "import json; print("))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


def test_one_process_trains_as_today_without_mpi4py(tmp_path):
    code = ("from chainrule.cli import main; import sys; "
            f"sys.exit(main(['train', '--epochs', '2', '--quiet', '--out', {str(tmp_path)!r}]))")
    r = _python(code)
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["test_accuracy"] > 0.5


def test_launched_with_several_ranks_but_no_mpi4py_says_what_to_install():
    code = "from chainrule.cli import main; import sys; sys.exit(main(['train', '--epochs', '1', '--quiet']))"
    r = _python(code, env={"PMI_SIZE": "2", "PMI_RANK": "0"})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: ") and 'pip install "chainrule[mpi]"' in lines[0]
