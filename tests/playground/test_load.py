"""A short run of benchmarks/playground_load.py: 5 sessions for 4 s against a real server.

The full figures (20 sessions x 60 s) come from running the script itself; here only the
functional checks count (no latency thresholds: the machine may be busy).
"""
from __future__ import annotations

import pytest
from conftest import load_benchmark

pytest.importorskip("uvicorn")
pytest.importorskip("websockets")


def test_five_sessions_for_four_seconds():
    r = load_benchmark("playground_load").run_load(sessions=5, seconds=4, mnist_sessions=1)
    problems = [p for p in r["problems"] if "not responsive" not in p]
    assert problems == []
    assert r["frames_total"] >= 5 and r["steps_total"] > 0
    assert r["bad_messages"]["sent"] > 0
    assert r["bad_messages"]["refused_with_error"] == r["bad_messages"]["sent"]
    assert "full" in r["extra_session_refused"] and "1013" in r["extra_session_refused"]
    assert r["sessions_open_after_close"] == 0
    assert r["fps_per_session"]["max"] <= 21
    assert r["ping_ms"]["n"] > 0 and r["healthz_ms"]["n"] > 0
