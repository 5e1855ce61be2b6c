"""Read-only zeros backed by the kernel's zero page (chainrule/ops/zero_page.py)."""
import resource
import sys

import numpy as np
import pytest

from chainrule.ops.zero_page import zeros_like

posix = pytest.mark.skipif(sys.platform == "win32", reason="the zero page is mapped with POSIX mmap flags")


@posix
@pytest.mark.parametrize("layout", ["C", "F", "channels_last"])
def test_zeros_have_the_shape_dtype_and_memory_layout_of_the_array(layout):
    a = np.ones((4, 3, 5, 6), np.float32)
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "channels_last":
        a = np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    z = zeros_like(a)
    assert z.shape == a.shape and z.dtype == a.dtype and z.strides == a.strides
    assert not z.any()


@posix
def test_zeros_are_read_only():
    z = zeros_like(np.ones(10))
    with pytest.raises(ValueError):
        z[0] = 1


def test_a_strided_slice_gets_no_zeros():
    assert zeros_like(np.ones((8, 8))[:, ::2]) is None


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_zeros_larger_than_any_earlier_ones_cost_no_resident_memory():
    """256 MB of zeros read end to end: the mapping grows, the resident memory does not."""
    like = np.empty(64 << 20, np.float32)  # never written, so never resident either
    before = _resident_mb()
    z = zeros_like(like)
    assert z.nbytes == 256 << 20 and z.sum() == 0
    grown = _resident_mb() - before
    assert grown < 32, f"reading 256 MB of zeros made {grown:.0f} MB resident"


@posix
def test_no_zeros_when_the_mapping_cannot_be_made(monkeypatch):
    import chainrule.ops.zero_page as zp

    def refuse(*args, **kwargs):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(zp.mmap, "mmap", refuse)
    monkeypatch.setattr(zp, "_pages", None)
    assert zp.zeros_like(np.ones(10, np.float32)) is None


def test_an_array_of_objects_gets_no_zeros():
    assert zeros_like(np.array([1, None], dtype=object)) is None
