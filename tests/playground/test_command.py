"""``chainrule playground``: the command starts the server on loopback and refuses bad values."""
from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from chainrule.cli import main

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


def test_bad_port_is_one_line_and_exit_2(capsys):
    assert main(["playground", "--port", "70000", "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "port" in err[0]


def test_missing_data_dir_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["playground", "--data-dir", str(tmp_path / "absent"), "--no-browser"]) == 2
    assert "data-dir" in capsys.readouterr().err


def test_command_serves_the_page_on_loopback():
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "playground", "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # "chainrule playground: http://127.0.0.1:PORT/?token=... ..."
        url = re.search(r"(http://127\.0\.0\.1:\d+/)\?token=[\w-]{24,}", line)
        assert url, line
        with urllib.request.urlopen(url.group(0), timeout=30) as resp:
            page = resp.read().decode()
        assert resp.status == 200 and 'data-testid="train-toggle"' in page
        with pytest.raises(urllib.error.HTTPError) as info:  # without the token: refused
            urllib.request.urlopen(url.group(1), timeout=30)
        assert info.value.code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=30)
