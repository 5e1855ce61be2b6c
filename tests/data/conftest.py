"""Shared fixtures for the data tests: tiny MNIST-like files and a local HTTP mirror."""
from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from chainrule.data.idx import write_idx
from chainrule.data.mnist import FILES

SHARED_MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


@pytest.fixture
def shared_mnist() -> Path:
    """The full standard MNIST files beside the checkout; skip when they are absent."""
    if not all((SHARED_MNIST / f).is_file() for f in FILES):
        pytest.skip(f"full MNIST not found in {SHARED_MNIST}")
    return SHARED_MNIST


def make_tiny_mnist(directory: Path, n_train: int = 12, n_test: int = 5, size: int = 28,
                    gzip: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the four MNIST files with a few random images; returns the arrays by file name."""
    rng = np.random.default_rng(seed)
    arrays = {
        FILES[0]: rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        FILES[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        FILES[2]: rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        FILES[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        write_idx(directory / (name if gzip else name[:-3]), a, gzip=gzip)
    return arrays


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    d = tmp_path / "tiny"
    return d, make_tiny_mnist(d)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@contextlib.contextmanager
def serve_directory(directory: Path):
    """Serve ``directory`` over HTTP on 127.0.0.1 in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
