"""Bookkeeping for the server: how many sessions are open, and which have gone idle."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from ..errors import ConfigError


class SessionManager:
    """Admits at most ``max_sessions`` at once and says which have been idle too long."""

    def __init__(self, max_sessions: int = 32, idle_timeout: float = 600.0,
                 clock: Callable[[], float] = time.monotonic):
        if max_sessions < 1:
            raise ConfigError(f"max_sessions must be at least 1, got {max_sessions}")
        if idle_timeout <= 0:
            raise ConfigError(f"idle_timeout must be positive, got {idle_timeout}")
        self.max_sessions = int(max_sessions)
        self.idle_timeout = float(idle_timeout)
        self.clock = clock
        self._last_seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self.opened = 0
        self.refused = 0

    def open(self) -> str | None:
        """A new session id, or ``None`` when the server is full."""
        with self._lock:
            if len(self._last_seen) >= self.max_sessions:
                self.refused += 1
                return None
            sid = uuid.uuid4().hex[:12]
            self._last_seen[sid] = self.clock()
            self.opened += 1
            return sid

    def touch(self, sid: str) -> None:
        with self._lock:
            if sid in self._last_seen:
                self._last_seen[sid] = self.clock()

    def close(self, sid: str) -> None:
        with self._lock:
            self._last_seen.pop(sid, None)

    def idle_for(self, sid: str) -> float:
        with self._lock:
            seen = self._last_seen.get(sid)
        return 0.0 if seen is None else self.clock() - seen

    def is_idle(self, sid: str) -> bool:
        return self.idle_for(sid) >= self.idle_timeout

    def time_left(self, sid: str) -> float:
        return max(0.0, self.idle_timeout - self.idle_for(sid))

    def __len__(self) -> int:
        with self._lock:
            return len(self._last_seen)

    def __contains__(self, sid: str) -> bool:
        with self._lock:
            return sid in self._last_seen
