"""Inputs the fuzzers (fuzz/) found that made a loader raise something other than a
ChainruleError, each written out by hand so the bug is readable. The raw inputs are also
kept in tests/fuzz_corpus/ and replayed by test_fuzz_corpus.py."""
from __future__ import annotations

import struct

import pytest

from chainrule.data import read_idx
from chainrule.errors import DataError


@pytest.mark.parametrize("shape", [(0, 2**32 - 1, 2**32 - 1, 2**32 - 1), (2**32 - 1, 2**32 - 1, 2**32 - 1, 0)])
def test_idx_empty_shape_whose_other_sides_overflow_is_a_data_error(tmp_path, shape):
    # found by fuzz_read_idx: zero bytes of data passed the size check, then numpy's
    # reshape raised ValueError("array is too big")
    p = tmp_path / "zero-but-huge.idx"
    p.write_bytes(bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape))
    with pytest.raises(DataError, match="zero-but-huge.idx.*too large"):
        read_idx(p)
