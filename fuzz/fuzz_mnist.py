"""Fuzz ``chainrule.data.mnist`` with a folder of four (mutated) IDX files.

One input encodes the whole folder (see ``_formats.pack_mnist``): which files exist, their
bytes, gzipped or not, and the ``limit``/``normalize`` options.

    python fuzz/fuzz_mnist.py --seconds 600
"""
from __future__ import annotations

import shutil
from pathlib import Path

from _formats import MNIST_FILES, mnist_seeds, mutate_mnist, unpack_mnist
from _harness import Target, main


def materialize(data: bytes, scratch: Path) -> tuple[Path, dict]:
    """Write the folder an input describes; returns (root, keyword arguments for mnist)."""
    flags, files = unpack_mnist(data)
    root = scratch / "mnist-root"
    if root.exists():
        shutil.rmtree(root)
    folder = root / "mnist" if flags & 0x40 else root
    folder.mkdir(parents=True)
    for i, (name, content) in enumerate(zip(MNIST_FILES, files)):
        if content is None:
            continue
        fname = name[:-3] if flags & (1 << i) else name
        (folder / fname).write_bytes(content)
    kwargs = {"limit": 2} if flags & 0x10 else {}
    if flags & 0x20:
        kwargs["normalize"] = False
    return root, kwargs


def run(data: bytes, scratch: Path) -> object:
    from chainrule.data import mnist

    root, kwargs = materialize(data, scratch)
    return mnist(root, download=False, **kwargs)


TARGET = Target(name="mnist", suffix=".mnist", seeds=mnist_seeds, run=run, mutate=mutate_mnist, max_len=1 << 17)

if __name__ == "__main__":
    main(TARGET)
