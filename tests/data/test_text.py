"""The bundled character corpora: sizes, vocabulary, a fixed split, windows, encode/decode."""
import numpy as np
import pytest

from chainrule.data import load_dataset
from chainrule.data.text import TextCorpus, corpus_from_words, names, surnames
from chainrule.errors import ConfigError, DataError


def test_names_holds_5163_lowercase_names_split_90_10():
    c = names()
    assert c.train_words + c.val_words == 5163 and c.val_words == 516
    assert c.vocab == "\nabcdefghijklmnopqrstuvwxyz"
    train = set(c.train_text.split())
    assert not train & set(c.val_text.split())      # no name in both parts


def test_surnames_load_through_the_catalogue():
    c = load_dataset("surnames")
    assert isinstance(c, TextCorpus) and c.train_words + c.val_words == 88799


def test_windows_are_the_stream_with_targets_shifted_by_one():
    c = corpus_from_words("t", ["abc", "de", "fgh", "ij"] * 3, val_fraction=0.25)
    x, y = c.windows("train", 4, stride=2)
    ids = c.encode(c.train_text)
    assert x.shape == y.shape and x.shape[1] == 4
    np.testing.assert_array_equal(x[1], ids[2:6])
    np.testing.assert_array_equal(y[1], ids[3:7])
    assert c.decode(x[0]) == c.train_text[:4]


def test_split_is_fixed_by_the_seed():
    assert names().val_text == names().val_text != names(seed=1).val_text


def test_bad_characters_and_arguments_are_named():
    c = names()
    with pytest.raises(DataError, match="'Z'"):
        c.encode("Zoe")
    with pytest.raises(ConfigError, match="split"):
        c.windows("test", 8)
    with pytest.raises(DataError, match="too few"):
        corpus_from_words("t", ["ab", "cd"], 0.5).windows("val", 10)
    with pytest.raises(ConfigError, match="val_fraction"):
        surnames(val_fraction=1.0)
