"""training.language: recipes build catalogue models; nats/char equals the mean token
cross-entropy; sampled words are reproducible and end at the newline."""
import numpy as np
import pytest

import chainrule.nn.functional as F
from chainrule import nn
from chainrule.errors import ConfigError
from chainrule.training.language import (
    build_language_model,
    nats_per_char,
    perplexity,
    sample_words,
    text_recipe,
)


def test_recipes_build_the_catalogue_models():
    assert isinstance(build_language_model(text_recipe("gpt"), 27), nn.GPT)
    rnn = build_language_model(text_recipe("rnn").replace(cell="lstm", hidden=8), 27)
    assert isinstance(rnn, nn.CharRNN) and rnn.cell == "lstm" and rnn.hidden_size == 8
    with pytest.raises(ConfigError, match="gpt, rnn"):
        text_recipe("mlp")


def test_nats_per_char_is_the_mean_cross_entropy_over_every_target():
    m = nn.gpt(5, 4, 1, 1, 8)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, (7, 4)), rng.integers(0, 5, (7, 4))
    expected = F.cross_entropy(m.eval()(x), y).item()
    assert nats_per_char(m, x, y, batch_size=3) == pytest.approx(expected, rel=1e-6)
    assert perplexity(np.log(27)) == pytest.approx(27)


def test_sampled_words_are_reproducible_and_newline_free():
    m = nn.char_rnn(4, 8)
    a = sample_words(m, "\nabc", 6, temperature=0.8, seed=3)
    assert a == sample_words(m, "\nabc", 6, temperature=0.8, seed=3)
    assert len(a) == 6 and all("\n" not in w and set(w) <= set("abc") for w in a)
