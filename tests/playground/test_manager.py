"""The server's bookkeeping: a bound on sessions, and idle ones noticed."""
from __future__ import annotations

import pytest

from chainrule.errors import ConfigError
from chainrule.playground.manager import SessionManager


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_session_manager_limits_and_idle_timeout():
    clock = FakeClock()
    m = SessionManager(max_sessions=2, idle_timeout=600, clock=clock)
    a, b = m.open(), m.open()
    assert a and b and a != b and len(m) == 2
    assert m.open() is None and m.refused == 1
    clock.t += 599
    m.touch(b)
    assert not m.is_idle(a) and m.time_left(a) == pytest.approx(1)
    clock.t += 1
    assert m.is_idle(a) and not m.is_idle(b)
    m.close(a)
    assert a not in m and len(m) == 1
    c = m.open()
    assert c is not None and m.opened == 3
    m.close("unknown")  # harmless
    with pytest.raises(ConfigError):
        SessionManager(max_sessions=0)
    with pytest.raises(ConfigError):
        SessionManager(idle_timeout=0)
