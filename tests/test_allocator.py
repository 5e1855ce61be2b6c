"""chainrule.allocator: glibc's malloc keeps freed blocks for reuse, unless told not to."""
import platform
import sys

import pytest

from chainrule.allocator import retain_freed_memory

glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not glibc, reason="mallopt is glibc's")
def test_applied_on_linux_with_glibc(monkeypatch):
    for var in ("CHAINRULE_MALLOC", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(var, raising=False)
    assert retain_freed_memory() is True


def test_chainrule_malloc_default_leaves_malloc_alone(monkeypatch):
    monkeypatch.setenv("CHAINRULE_MALLOC", "default")
    assert retain_freed_memory() is False


@pytest.mark.parametrize("var", ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"])
def test_a_users_own_malloc_tuning_wins(monkeypatch, var):
    monkeypatch.delenv("CHAINRULE_MALLOC", raising=False)
    monkeypatch.setenv(var, "65536")
    assert retain_freed_memory() is False
