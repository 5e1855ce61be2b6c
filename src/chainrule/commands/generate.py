"""``chainrule generate MODEL``: sample words from a character-level language model."""
from __future__ import annotations

import argparse

from ._common import existing_file, nonneg_int, positive_float, positive_int

NAME = "generate"
HELP = "sample new words from a language model trained with 'chainrule train --model gpt/rnn'"
DESCRIPTION = """Sample new words (one per line) from a character-level language model written by
'chainrule train --dataset names --model gpt --out DIR' (or --model rnn).

Each word starts after a newline and ends at the next one the model produces. --temperature
divides the logits before the softmax: below 1 the samples stay closer to the most likely
characters, above 1 they grow more varied (and stranger). --start gives the first letters.

examples:
  chainrule generate run/model.safetensors --n 20 --temperature 0.8 --seed 0
  chainrule generate run/model.safetensors --n 5 --start ma
"""

MAX_SAMPLES = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=existing_file, metavar="MODEL", help="a .safetensors model file")
    parser.add_argument("--n", type=positive_int, default=20, metavar="N", help="how many words (default 20)")
    parser.add_argument("--temperature", type=positive_float, default=1.0, metavar="T",
                        help="softmax temperature (default 1.0)")
    parser.add_argument("--seed", type=nonneg_int, default=0, help="random seed (default 0)")
    parser.add_argument("--start", default="", metavar="TEXT", help="the first characters of every word")
    parser.add_argument("--max-length", type=positive_int, default=None, metavar="L",
                        help="stop a word after L characters (default: the model's block size)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data.text import SEPARATOR, decode
    from ..errors import ConfigError, ModelFileError
    from ._common import load_model

    if args.n > MAX_SAMPLES:
        raise ConfigError(f"--n {args.n}: at most {MAX_SAMPLES} words per call")
    model, meta = load_model(args.model)
    text = meta.get("text") if isinstance(meta, dict) else None
    vocab = text.get("vocab") if isinstance(text, dict) else None
    if not isinstance(vocab, str) or not vocab or not hasattr(model, "generate"):
        raise ModelFileError(f"{args.model}: not a language model with a vocabulary (train one with "
                             f"'chainrule train --dataset names --model gpt --out DIR')")
    if SEPARATOR not in vocab or len(vocab) != getattr(model, "vocab_size", -1):
        raise ModelFileError(f"{args.model}: its vocabulary does not match the model's {model.vocab_size} tokens")
    bad = sorted(set(args.start) - set(vocab) | ({SEPARATOR} & set(args.start)))
    if bad:
        raise ConfigError(f"--start: characters {''.join(bad)!r} are not in the model's vocabulary "
                          f"{vocab.replace(SEPARATOR, '')!r}")
    prefix = [vocab.index(SEPARATOR)] + [vocab.index(c) for c in args.start]
    block = getattr(model, "block_size", None)
    limit = args.max_length or block or 32
    ids = model.generate(np.tile(prefix, (args.n, 1)), limit, temperature=args.temperature,
                         rng=np.random.default_rng(args.seed), stop=vocab.index(SEPARATOR))
    for row in ids:
        print(decode(vocab, row[1:]).split(SEPARATOR)[0])
    return 0
