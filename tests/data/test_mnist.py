"""mnist() / fashion_mnist(): finding files, clear errors, downloads with checksums."""
from __future__ import annotations

import hashlib
import re
import socket

import numpy as np
import pytest

from chainrule.data import fashion_mnist, mnist
from chainrule.data.idx import write_idx
from chainrule.data.mnist import FASHION_MNIST_SHA256, FILES, MNIST_SHA256, download
from chainrule.errors import DataError, DatasetNotFoundError, DownloadError

from .conftest import make_tiny_mnist, serve_directory


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never look at (or write to) the real ~/.cache during these tests."""
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_missing_files_error_names_files_folders_and_options(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        mnist(tmp_path / "empty")
    msg = str(info.value)
    for f in FILES:
        assert f in msg
    assert str(tmp_path / "empty") in msg
    assert "--data-dir" in msg and "--download" in msg


def test_error_lists_only_the_files_that_are_missing(tmp_path):
    make_tiny_mnist(tmp_path)
    (tmp_path / FILES[3]).unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        mnist(tmp_path)
    assert "missing t10k-labels-idx1-ubyte.gz (" in str(info.value)


def test_without_root_searches_chainrule_data_then_home_cache(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        mnist()
    msg = str(info.value)
    assert str(tmp_path / "cache" / "mnist") in msg
    assert str(tmp_path / "home" / ".cache" / "chainrule" / "mnist") in msg


def test_finds_files_in_chainrule_data_folder(tmp_path):
    make_tiny_mnist(tmp_path / "cache" / "mnist")
    assert len(mnist().train) == 12


def test_loads_tiny_files_with_shapes_dtypes_and_metadata(tiny_mnist):
    root, arrays = tiny_mnist
    ds = mnist(root)
    x, y = ds.train.arrays
    assert x.shape == (12, 784) and x.dtype == np.float32
    assert y.shape == (12,) and y.dtype == np.int64
    assert ds.test.arrays[0].shape == (5, 784)
    np.testing.assert_array_equal(y, arrays[FILES[1]])
    assert ds.image_shape == (1, 28, 28)
    assert ds.num_features == 784 and ds.num_classes == 10 and ds.task == "classification"
    assert ds.class_names == [str(d) for d in range(10)]


def test_pixels_are_scaled_then_normalised_with_mnist_mean_and_std(tiny_mnist):
    root, arrays = tiny_mnist
    x = mnist(root).train.arrays[0]
    expected = (arrays[FILES[0]].reshape(12, -1) / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)


def test_normalize_false_gives_pixels_in_unit_interval(tiny_mnist):
    root, arrays = tiny_mnist
    x = mnist(root, normalize=False).train.arrays[0]
    np.testing.assert_allclose(x, arrays[FILES[0]].reshape(12, -1) / 255.0, rtol=1e-6)


def test_transform_maps_raw_pixels_like_the_loader(tiny_mnist):
    root, arrays = tiny_mnist
    ds = mnist(root)
    np.testing.assert_allclose(ds.transform(arrays[FILES[0]]), ds.train.arrays[0], rtol=1e-5, atol=1e-5)


def test_limit_keeps_first_examples_of_each_split(tiny_mnist):
    root, arrays = tiny_mnist
    ds = mnist(root, limit=3)
    assert len(ds.train) == 3 and len(ds.test) == 3
    np.testing.assert_array_equal(ds.train.arrays[1], arrays[FILES[1]][:3])


def test_accepts_ungzipped_files(tmp_path):
    make_tiny_mnist(tmp_path, gzip=False)
    assert len(mnist(tmp_path).test) == 5


def test_finds_files_in_torchvision_layout(tmp_path):
    make_tiny_mnist(tmp_path / "MNIST" / "raw")
    assert len(mnist(tmp_path).train) == 12


def test_image_and_label_count_mismatch_raises_data_error(tiny_mnist):
    root, _ = tiny_mnist
    write_idx(root / FILES[1], np.zeros(11, np.uint8))
    with pytest.raises(DataError, match="12 images but .* 11 labels"):
        mnist(root)


def test_label_out_of_range_raises_data_error(tiny_mnist):
    root, _ = tiny_mnist
    write_idx(root / FILES[3], np.full(5, 10, np.uint8))
    with pytest.raises(DataError, match="label 10 out of range"):
        mnist(root)


def test_images_with_wrong_dimensions_raise_data_error(tiny_mnist):
    root, _ = tiny_mnist
    write_idx(root / FILES[0], np.zeros((12, 784), np.uint8))
    with pytest.raises(DataError, match="3-D"):
        mnist(root)


def test_fashion_mnist_uses_its_folder_classes_and_statistics(tmp_path):
    arrays = make_tiny_mnist(tmp_path / "fashion-mnist")
    ds = fashion_mnist(tmp_path)
    assert ds.name == "fashion-mnist" and ds.class_names[0] == "T-shirt/top" and len(ds.class_names) == 10
    expected = (arrays[FILES[0]].reshape(12, -1) / 255.0 - 0.2860) / 0.3530
    np.testing.assert_allclose(ds.train.arrays[0], expected, rtol=1e-5, atol=1e-5)


def test_fashion_mnist_missing_error_names_its_cache_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(tmp_path / "cache" / "fashion-mnist"))):
        fashion_mnist()


def test_published_checksums_are_sha256_hex_for_all_four_files():
    for table in (MNIST_SHA256, FASHION_MNIST_SHA256):
        assert set(table) == set(FILES)
        assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in table.values())


def test_download_fetches_from_local_mirror_into_root_and_verifies(tmp_path):
    arrays = make_tiny_mnist(tmp_path / "mirror")
    sums = {f: _sha256(tmp_path / "mirror" / f) for f in FILES}
    with serve_directory(tmp_path / "mirror") as url:
        ds = mnist(tmp_path / "data", download=True, mirrors=[url], checksums=sums, progress=False)
    np.testing.assert_array_equal(ds.test.arrays[1], arrays[FILES[3]])
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted(FILES)  # no temp files left


def test_download_without_root_goes_to_cache(tmp_path):
    make_tiny_mnist(tmp_path / "mirror")
    with serve_directory(tmp_path / "mirror") as url:
        mnist(download=True, mirrors=[url], checksums={f: None for f in FILES}, progress=False)
    assert all((tmp_path / "cache" / "mnist" / f).is_file() for f in FILES)


def test_download_checksum_mismatch_names_file_and_both_digests_and_keeps_nothing(tmp_path):
    make_tiny_mnist(tmp_path / "mirror")
    got = _sha256(tmp_path / "mirror" / FILES[0])
    with serve_directory(tmp_path / "mirror") as url:
        with pytest.raises(DownloadError) as info:
            mnist(tmp_path / "data", download=True, mirrors=[url], progress=False)  # real MNIST digests
    msg = str(info.value)
    assert FILES[0] in msg and MNIST_SHA256[FILES[0]] in msg and got in msg
    assert list((tmp_path / "data").iterdir()) == []


def test_download_falls_back_to_next_mirror(tmp_path):
    make_tiny_mnist(tmp_path / "mirror")
    (tmp_path / "empty").mkdir()
    with serve_directory(tmp_path / "empty") as bad, serve_directory(tmp_path / "mirror") as good:
        ds = mnist(tmp_path / "data", download=True, mirrors=[bad, good],
                   checksums={f: None for f in FILES}, progress=False)
    assert len(ds.train) == 12


def test_download_skips_files_already_present(tmp_path):
    make_tiny_mnist(tmp_path / "data")
    (tmp_path / "data" / FILES[2]).unlink()
    make_tiny_mnist(tmp_path / "mirror")
    for f in (FILES[0], FILES[1], FILES[3]):
        (tmp_path / "mirror" / f).unlink()  # the mirror can only supply the missing one
    with serve_directory(tmp_path / "mirror") as url:
        paths = download(tmp_path / "data", mirrors=[url], checksums={f: None for f in FILES}, progress=False)
    assert len(paths) == 4


def test_unreachable_mirror_raises_download_error_naming_file(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="train-images-idx3-ubyte.gz"):
        mnist(tmp_path, download=True, mirrors=[f"http://127.0.0.1:{port}/"], progress=False)


def test_full_mnist_has_standard_sizes_and_normalised_pixels(shared_mnist):
    ds = mnist(shared_mnist)
    x, y = ds.train.arrays
    assert x.shape == (60000, 784) and len(ds.test) == 10000
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1.0) < 0.01
    assert np.bincount(y).min() > 5000


def test_download_progress_bar_goes_to_stderr_when_asked(tmp_path, capsys):
    pytest.importorskip("tqdm")
    make_tiny_mnist(tmp_path / "mirror")
    with serve_directory(tmp_path / "mirror") as url:
        download(tmp_path / "data", mirrors=[url], checksums={f: None for f in FILES}, progress=True)
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_download_is_silent_when_stderr_is_not_a_terminal(tmp_path, capsys):
    make_tiny_mnist(tmp_path / "mirror")
    with serve_directory(tmp_path / "mirror") as url:
        download(tmp_path / "data", mirrors=[url], checksums={f: None for f in FILES})
    assert capsys.readouterr().err == ""
