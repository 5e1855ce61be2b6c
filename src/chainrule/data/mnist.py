"""MNIST and Fashion-MNIST: find the four standard IDX files, or download them with a checksum.

Files looked for (gzipped, or un-gzipped without ``.gz``)::

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz

in ``root`` (and ``root/mnist``, ``root/MNIST/raw`` as torchvision lays them out) when
given, else in ``$CHAINRULE_DATA/mnist`` and ``~/.cache/chainrule/mnist``
(``fashion-mnist`` / ``FashionMNIST`` for Fashion-MNIST). Nothing is downloaded unless
asked: ``download=True`` fetches missing files from the mirrors into ``root`` (or the
cache), through a temporary file, checks the SHA-256 and renames atomically.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, DatasetNotFoundError, DownloadError
from .dataset import TensorDataset
from .idx import read_idx, read_idx_header
from .splits import DatasetSplits

FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FASHION_MNIST_MIRRORS: tuple[str, ...] = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

# SHA-256 of the files as the mirrors serve them (9,912,422 / 28,881 / 1,648,877 / 4,542
# bytes; the same digests are published by TensorFlow Datasets and others). A copy that
# was re-compressed (same IDX content, other gzip bytes) has other digests: digests are
# only checked on download; files found on disk are checked by format and counts.
MNIST_SHA256: dict[str, str | None] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# Fashion-MNIST's own repository publishes MD5s (8d4fb7e6..., 25c81989..., bef4ecab...,
# bb300cfd...); these SHA-256s of the same files come from two independent public
# download scripts that agree. They could not be verified here (no network).
FASHION_MNIST_SHA256: dict[str, str | None] = {
    "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
    "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
    "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
    "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
}

MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024  # the largest real file is 26 MB; stop a runaway server
DOWNLOAD_TIMEOUT = 30.0  # seconds per network operation


class ChecksumMismatchError(DownloadError):
    """A downloaded file's SHA-256 differs from the published one; the file is not kept."""


@dataclass(frozen=True)
class _Spec:
    name: str  # registry name, also the cache sub-directory
    title: str
    aliases: tuple[str, ...]  # other sub-directories of root to look in
    mirrors: tuple[str, ...]
    sha256: Mapping[str, str | None]
    mean: float  # of pixels scaled to [0, 1], over the training set
    std: float
    class_names: tuple[str, ...]


MNIST = _Spec(
    "mnist", "MNIST", ("MNIST/raw",), MNIST_MIRRORS, MNIST_SHA256, 0.1307, 0.3081,
    tuple(str(d) for d in range(10)),
)
FASHION_MNIST = _Spec(
    "fashion-mnist", "Fashion-MNIST", ("fashion_mnist", "FashionMNIST/raw"), FASHION_MNIST_MIRRORS,
    FASHION_MNIST_SHA256, 0.2860, 0.3530,
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
)


def default_cache_dir(name: str = "mnist") -> Path:
    """Where downloads go: ``$CHAINRULE_DATA/<name>`` if set, else ``~/.cache/chainrule/<name>``."""
    env = os.environ.get("CHAINRULE_DATA")
    if env:
        return Path(env).expanduser() / name
    return Path.home() / ".cache" / "chainrule" / name


def _search_dirs(spec: _Spec, root: str | os.PathLike | None) -> list[Path]:
    if root is not None:
        base = Path(root).expanduser()
        return [base, base / spec.name, *(base / a for a in spec.aliases)]
    dirs = []
    env = os.environ.get("CHAINRULE_DATA")
    if env:
        dirs.append(Path(env).expanduser() / spec.name)
    dirs.append(Path.home() / ".cache" / "chainrule" / spec.name)
    return dirs


def _candidates(directory: Path, fname: str) -> list[Path]:
    stem = fname[:-3]  # without .gz
    return [directory / fname, directory / stem, directory / stem.replace("-idx", ".idx")]


def _present(directory: Path) -> dict[str, Path]:
    found = {}
    for fname in FILES:
        for c in _candidates(directory, fname):
            if c.is_file():
                found[fname] = c
                break
    return found


def _not_found(spec: _Spec, dirs: list[Path], root: str | os.PathLike | None) -> DatasetNotFoundError:
    best = max(dirs, key=lambda d: len(_present(d)))
    missing = [f for f in FILES if f not in _present(best)]
    where = ", ".join(str(d) for d in dirs)
    target = Path(root).expanduser() if root is not None else default_cache_dir(spec.name)
    return DatasetNotFoundError(
        f"{spec.title} files not found: missing {', '.join(missing)} (searched {where}). "
        f"Pass --data-dir DIR (root=DIR in Python) naming a folder that holds the four files "
        f"(gzipped or not), or --download (download=True) to fetch them into {target}."
    )


@contextmanager
def _progress(total: int | None, label: str, enabled: bool | None) -> Iterator:
    """A tqdm bar on stderr when it is a terminal (or when forced); else a no-op."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    bar = None
    if enabled:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, file=sys.stderr)
        except ImportError:
            bar = None

    class _Null:
        def update(self, n: int) -> None:
            pass

    try:
        yield bar if bar is not None else _Null()
    finally:
        if bar is not None:
            bar.close()


def _fetch(url: str, target: Path, expected: str | None, progress: bool | None) -> Path:
    """Download ``url`` to ``target`` via a temporary file in the same folder; verify sha256."""
    import urllib.request  # lazily: only downloads need the network stack

    req = urllib.request.Request(url, headers={"User-Agent": "chainrule"})
    with urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > MAX_DOWNLOAD_BYTES:
            raise DownloadError(f"{url}: server announces {total} bytes, more than the {MAX_DOWNLOAD_BYTES} allowed")
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out, _progress(total, target.name, progress) as bar:
                while True:
                    chunk = resp.read(1 << 16)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise DownloadError(f"{url}: more than {MAX_DOWNLOAD_BYTES} bytes, stopped")
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            if total is not None and size != total:
                raise DownloadError(f"{url}: got {size} bytes, server announced {total}")
            got = digest.hexdigest()
            if expected is not None and got != expected:
                raise ChecksumMismatchError(
                    f"checksum mismatch for {target.name} from {url}: expected sha256 {expected}, got {got}"
                )
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
    return target


def download(
    directory: str | os.PathLike,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    checksums: Mapping[str, str | None] = MNIST_SHA256,
    files: Sequence[str] = FILES,
    progress: bool | None = None,
) -> list[Path]:
    """Fetch each of ``files`` missing from ``directory``, trying ``mirrors`` in order.

    A file whose checksum (``checksums[name]``, SHA-256 hex; None = not checked) does not
    match is never kept. Raises ``DownloadError`` naming the file, and for a mismatch the
    expected and actual digests, when no mirror delivers it. Returns the paths.
    """
    import http.client
    import urllib.error

    if isinstance(mirrors, str):
        mirrors = [mirrors]
    if not mirrors:
        raise ConfigError("download: no mirror URLs given")
    d = Path(directory).expanduser()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create download folder {d}: {e.strerror or e}") from None
    paths = []
    for fname in files:
        have = [c for c in _candidates(d, fname) if c.is_file()]
        if have:
            paths.append(have[0])
            continue
        failures: list[str] = []
        mismatch: ChecksumMismatchError | None = None
        for base in mirrors:
            url = base.rstrip("/") + "/" + fname
            try:
                paths.append(_fetch(url, d / fname, checksums.get(fname), progress))
                break
            except ChecksumMismatchError as e:
                mismatch = e
                failures.append(str(e))
            except DownloadError as e:
                failures.append(str(e))
            except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as e:
                failures.append(f"{url}: {getattr(e, 'reason', None) or e}")
        else:
            if mismatch is not None:
                raise mismatch
            raise DownloadError(f"could not download {fname}: " + "; ".join(failures))
    return paths


# MNIST and Fashion-MNIST hold 70 000 images of 28x28 (55 M pixels); this allows data sets
# of the same kind up to about 3.6x that, whose float32 features take at most 800 MB.
MAX_PIXELS = 200_000_000


def _check_headers(spec: _Spec, paths: dict[str, Path]) -> None:
    """Cross-check the four IDX headers before any payload is read: types and ranks, image
    and label counts per split, image sizes, a non-empty training set, the total size. A
    0.95 MB gzip declaring 10**9 labels is refused here, not after decompressing 1 GB."""
    headers = {fname: read_idx_header(path) for fname, path in paths.items()}
    for fname, h in headers.items():
        kind = "images" if "images" in fname else "labels"
        want = 3 if kind == "images" else 1
        if h.dtype != np.uint8 or len(h.shape) != want:
            raise DataError(f"{paths[fname]}: expected {kind} as a {want}-D ubyte IDX array, "
                            f"got {len(h.shape)}-D {h.dtype}")
    for split in ("train", "t10k"):
        images, labels = f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"
        if headers[images].shape[0] != headers[labels].shape[0]:
            raise DataError(f"{spec.title}: {paths[images]} has {headers[images].shape[0]} images but "
                            f"{paths[labels]} has {headers[labels].shape[0]} labels")
    train, test = headers["train-images-idx3-ubyte.gz"].shape, headers["t10k-images-idx3-ubyte.gz"].shape
    if train[1:] != test[1:]:
        raise DataError(f"{spec.title}: training images are {train[1:]} but test images are {test[1:]}")
    if train[0] == 0 or 0 in train[1:]:
        raise DataError(f"{spec.title}: {paths['train-images-idx3-ubyte.gz']} holds no training images "
                        f"(shape {train})")
    pixels = (train[0] + test[0]) * train[1] * train[2]
    if pixels > MAX_PIXELS:
        raise DataError(f"{spec.title}: the files declare {train[0]} + {test[0]} images of {train[1]}x{train[2]} "
                        f"({pixels} pixels), more than the {MAX_PIXELS} allowed")


def _validate(spec: _Spec, paths: dict[str, Path], arrays: dict[str, np.ndarray]) -> None:
    for fname, a in arrays.items():
        kind = "images" if "images" in fname else "labels"
        want = 3 if kind == "images" else 1
        if a.dtype != np.uint8 or a.ndim != want:
            raise DataError(
                f"{paths[fname]}: expected {kind} as a {want}-D ubyte IDX array, got {a.ndim}-D {a.dtype}"
            )
    for split in ("train", "t10k"):
        images = arrays[f"{split}-images-idx3-ubyte.gz"]
        labels = arrays[f"{split}-labels-idx1-ubyte.gz"]
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{spec.title}: {paths[f'{split}-images-idx3-ubyte.gz']} has {images.shape[0]} images but "
                f"{paths[f'{split}-labels-idx1-ubyte.gz']} has {labels.shape[0]} labels"
            )
        if labels.size and labels.max() >= len(spec.class_names):
            raise DataError(
                f"{paths[f'{split}-labels-idx1-ubyte.gz']}: label {int(labels.max())} out of range "
                f"0..{len(spec.class_names) - 1}"
            )
    tr = arrays["train-images-idx3-ubyte.gz"].shape[1:]
    te = arrays["t10k-images-idx3-ubyte.gz"].shape[1:]
    if tr != te:
        raise DataError(f"{spec.title}: training images are {tr} but test images are {te}")


def _load(
    spec: _Spec,
    root: str | os.PathLike | None,
    download_: bool,
    mirrors: Sequence[str] | None,
    checksums: Mapping[str, str | None] | None,
    normalize: bool,
    limit: int | None,
    progress: bool | None,
) -> DatasetSplits:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"{spec.name}: limit must be a positive integer or None, got {limit!r}")
    dirs = _search_dirs(spec, root)
    found = next((p for p in map(_present, dirs) if len(p) == len(FILES)), None)
    if found is None:
        if not download_:
            raise _not_found(spec, dirs, root)
        target = Path(root).expanduser() if root is not None else default_cache_dir(spec.name)
        download(target, mirrors or spec.mirrors, spec.sha256 if checksums is None else checksums, FILES, progress)
        found = _present(target)
    _check_headers(spec, found)  # all four, before any payload is decompressed
    arrays = {fname: read_idx(path) for fname, path in found.items()}
    _validate(spec, found, arrays)

    h, w = arrays["train-images-idx3-ubyte.gz"].shape[1:]
    d = h * w
    m, s = (spec.mean, spec.std) if normalize else (0.0, 1.0)
    mean = np.full(d, 255.0 * m, np.float32)  # in raw pixel units: (p/255 - m)/s == (p - 255m)/(255s)
    std = np.full(d, 255.0 * s, np.float32)

    def features(images: np.ndarray) -> np.ndarray:
        if limit is not None:
            images = images[:limit]
        x = images.reshape(images.shape[0], -1).astype(np.float32)
        x -= mean
        x /= std
        return x

    labels = {k: arrays[k][:limit].astype(np.int64)
              for k in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
    return DatasetSplits(
        name=spec.name,
        train=TensorDataset(features(arrays["train-images-idx3-ubyte.gz"]), labels["train-labels-idx1-ubyte.gz"]),
        test=TensorDataset(features(arrays["t10k-images-idx3-ubyte.gz"]), labels["t10k-labels-idx1-ubyte.gz"]),
        task="classification",
        num_features=d,
        num_classes=len(spec.class_names),
        class_names=list(spec.class_names),
        feature_names=[f"pixel_{r}_{c}" for r in range(h) for c in range(w)],
        mean=mean,
        std=std,
        image_shape=(1, h, w),
        source=str(next(iter(found.values())).parent),
    )


def mnist(
    root: str | os.PathLike | None = None,
    download: bool = False,
    *,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str | None] | None = None,
    normalize: bool = True,
    limit: int | None = None,
    progress: bool | None = None,
) -> DatasetSplits:
    """MNIST handwritten digits: 60,000 train and 10,000 test images of 28x28, 10 classes.

    X ``(N, 784)`` float32: pixels scaled to [0, 1] then normalised with mean 0.1307 and
    std 0.3081 (``normalize=False``: just [0, 1]); ``image_shape`` ``(1, 28, 28)``;
    y ``(N,)`` int64. ``limit`` keeps only the first ``limit`` examples of each split.
    Missing files raise ``DatasetNotFoundError`` (naming files, folders and the
    ``--data-dir``/``--download`` options) unless ``download=True``. ``mirrors`` and
    ``checksums`` override the download sources (tests point them at a local server).
    """
    return _load(MNIST, root, download, mirrors, checksums, normalize, limit, progress)


def fashion_mnist(
    root: str | os.PathLike | None = None,
    download: bool = False,
    *,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str | None] | None = None,
    normalize: bool = True,
    limit: int | None = None,
    progress: bool | None = None,
) -> DatasetSplits:
    """Fashion-MNIST (Zalando): same shapes and file names as MNIST, 10 clothing classes.

    Normalised with mean 0.2860 and std 0.3530; looked for under ``fashion-mnist/``.
    Otherwise exactly as :func:`mnist`.
    """
    return _load(FASHION_MNIST, root, download, mirrors, checksums, normalize, limit, progress)


__all__ = [
    "mnist", "fashion_mnist", "download", "ChecksumMismatchError", "default_cache_dir", "FILES",
    "MNIST_MIRRORS", "FASHION_MNIST_MIRRORS", "MNIST_SHA256", "FASHION_MNIST_SHA256",
]
