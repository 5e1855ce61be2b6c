"""Character-level text corpora for language models: bundled lists of names.

A corpus is a list of words (names), split into training and validation words, each part
joined into one stream of characters with a newline before and after every word:
``"\\nmary\\npatricia\\n..."``. A model learns to predict each next character from the ones
before it; the newline marks where a name ends and the next begins, so sampling after a
newline until the next newline produces one new name.

Bundled (sources and licences in ``files/SOURCES.md``), from the US Census Bureau's 1990
name frequency files as shipped in the MIT-licensed ``names`` 0.3.0 package:

* ``names``: 5163 distinct first names (36 KB), the default;
* ``surnames``: 88 799 surnames (320 KB gzipped, 660 KB of text).
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, DatasetNotFoundError

FILES_DIR = Path(__file__).resolve().parent / "files"
SEPARATOR = "\n"
_MAX_BYTES = 4 << 20  # the bundled files are < 1 MB of text; refuse anything far larger


@dataclass(frozen=True)
class TextCorpus:
    """A character corpus split into training and validation streams.

    Attributes:
        name: the catalogue name (``names``).
        vocab: the characters, sorted; id ``i`` is ``vocab[i]`` (id 0 is the newline).
        train_text, val_text: the two streams, each starting and ending with a newline.
        train_words, val_words: how many words each holds.
    """

    name: str
    vocab: str
    train_text: str
    val_text: str
    train_words: int
    val_words: int

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        """Character ids (int64) of ``text``; a DataError names characters not in the vocab."""
        table = {c: i for i, c in enumerate(self.vocab)}
        try:
            return np.fromiter((table[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as e:
            raise DataError(f"{self.name}: character {e.args[0]!r} is not in the vocabulary "
                            f"{self.vocab!r}") from None

    def decode(self, ids: np.ndarray) -> str:
        return decode(self.vocab, ids)

    def windows(self, split: str, block_size: int, stride: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and next-character targets, each (M, block_size) int64: window ``m``
        covers characters ``m·stride .. m·stride + block_size`` of the ``split`` stream
        (``train`` or ``val``), the targets shifted one to the right. ``stride`` defaults to
        ``block_size`` (non-overlapping: every character is a target once)."""
        if split not in ("train", "val"):
            raise ConfigError(f"windows: split must be 'train' or 'val'; got {split!r}")
        stride = block_size if stride is None else stride
        if block_size < 1 or stride < 1:
            raise ConfigError(f"windows: block_size and stride must be positive; got "
                              f"{block_size}, {stride}")
        ids = self.encode(self.train_text if split == "train" else self.val_text)
        if len(ids) < block_size + 1:
            raise DataError(f"{self.name}: the {split} text has {len(ids)} characters, too few "
                            f"for windows of {block_size} + 1")
        starts = np.arange(0, len(ids) - block_size, stride)
        offsets = starts[:, None] + np.arange(block_size)[None, :]
        return ids[offsets], ids[offsets + 1]

    def summary(self) -> str:
        return (f"{self.name}: {self.train_words} training / {self.val_words} validation words, "
                f"{len(self.train_text)} / {len(self.val_text)} characters, vocabulary of "
                f"{self.vocab_size} ({self.vocab.replace(SEPARATOR, '⏎')})")


def decode(vocab: str, ids: np.ndarray) -> str:
    """The text of character ids ``ids`` under ``vocab``."""
    return "".join(vocab[int(i)] for i in np.asarray(ids).reshape(-1))


def _read_words(filename: str) -> list[str]:
    path = FILES_DIR / filename
    if not path.is_file():
        raise DatasetNotFoundError(f"bundled data file {path} is missing; the chainrule "
                                   f"installation is incomplete")
    opener = gzip.open if filename.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read(_MAX_BYTES + 1)
        if len(raw) > _MAX_BYTES:
            raise DataError(f"bundled data file {path} is larger than {_MAX_BYTES} bytes")
        words = raw.decode("ascii").split()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"bundled data file {path} is corrupt: {e}") from None
    if not words:
        raise DataError(f"bundled data file {path} holds no words")
    return words


def corpus_from_words(name: str, words: list[str], val_fraction: float = 0.1,
                      seed: int = 0) -> TextCorpus:
    """Shuffle ``words`` (fixed ``seed``), hold out ``val_fraction`` of them, and join each
    part into a newline-separated stream."""
    if not 0 < val_fraction < 1:
        raise ConfigError(f"{name}: val_fraction must be in (0, 1); got {val_fraction}")
    order = np.random.default_rng(seed).permutation(len(words))
    n_val = max(1, round(len(words) * val_fraction))
    val = [words[i] for i in order[:n_val]]
    train = [words[i] for i in order[n_val:]]
    if not train:
        raise DataError(f"{name}: too few words ({len(words)}) to split")
    vocab = "".join(sorted(set(SEPARATOR).union(*words)))

    def join(ws: list[str]) -> str:
        return SEPARATOR + SEPARATOR.join(ws) + SEPARATOR

    return TextCorpus(name, vocab, join(train), join(val), len(train), len(val))


def names(val_fraction: float = 0.1, seed: int = 0) -> TextCorpus:
    """5163 distinct US first names (1990 census), lower case; 10 % held out for validation."""
    return corpus_from_words("names", _read_words("names.txt"), val_fraction, seed)


def surnames(val_fraction: float = 0.1, seed: int = 0) -> TextCorpus:
    """88 799 US surnames (1990 census), lower case; 10 % held out for validation."""
    return corpus_from_words("surnames", _read_words("surnames.txt.gz"), val_fraction, seed)


__all__ = ["SEPARATOR", "TextCorpus", "corpus_from_words", "decode", "names", "surnames"]
