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


def test_csv_sniffer_sees_a_bounded_sample(tmp_path, monkeypatch):
    # found while fuzzing csv: csv.Sniffer's quote regexes are quadratic in the sample, and
    # 8 KB of '"\n' lines took 10 s; the sniffer now sees at most 20 lines / 2048 characters
    import csv as stdlib_csv

    from chainrule.data import csv
    from chainrule.data import tabular

    seen = []
    real = stdlib_csv.Sniffer.sniff

    def spy(self, sample, delimiters=None):
        seen.append(len(sample))
        return real(self, sample, delimiters)

    monkeypatch.setattr(stdlib_csv.Sniffer, "sniff", spy)
    p = tmp_path / "quotes.csv"
    p.write_text('"\n' * 4000)
    with pytest.raises(DataError, match="quotes.csv"):
        csv(p)
    assert seen and max(seen) <= tabular._SNIFF_CHARS
    # a normal table is still sniffed right
    p.write_text("a;b;y\n" + "".join(f"{i};{i * 2};{i % 2}\n" for i in range(50)))
    assert csv(p).num_features == 2
