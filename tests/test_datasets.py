"""Tests for ksparse.datasets: IDX reading, the bundled MNIST, downloads, IDX folders."""

import functools
import gzip
import hashlib
import http.server
import io
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from ksparse import datasets
from ksparse.datasets import (
    ChecksumError,
    DownloadError,
    IDXFormatError,
    load_idx_folder,
    load_mnist,
    read_idx,
    write_idx,
)

FASHION = Path("/usr/share/datasets/fashion-mnist")


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    p = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(p, a)
    assert (p.read_bytes()[:2] == b"\x1f\x8b") == compress
    b = read_idx(p)
    assert b.dtype == a.dtype and b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_idx_header_layout():
    buf = io.BytesIO()
    write_idx(buf, np.arange(6, dtype=np.uint8).reshape(2, 3))
    raw = buf.getvalue()
    assert raw[:4] == bytes([0, 0, 0x08, 2])
    assert raw[4:12] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert raw[12:] == bytes(range(6))


def _good_bytes():
    buf = io.BytesIO()
    write_idx(buf, np.arange(12, dtype=np.int16).reshape(3, 4))
    return buf.getvalue()


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda b: b"\x01" + b[1:], "bad magic number"),
        (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX type code 0x07"),
        (lambda b: b[:3] + b"\x00" + b[4:], "0 dimensions"),
        (lambda b: b[:2], "too short for an IDX header"),
        (lambda b: b[:6], "too short for a header with 2 dimensions"),
        (lambda b: b[:-1], "truncated"),
        (lambda b: b + b"\x00", "trailing bytes"),
        (lambda b: b[:4] + (4).to_bytes(4, "big") + b[8:], "declares shape (4, 4)"),
        (lambda b: gzip.compress(b)[:-10], "gzip stream is truncated"),
        (lambda b: gzip.compress(b)[:12] + b"\xff" * 20 + gzip.compress(b)[32:], "corrupt gzip"),
    ],
)
def test_idx_errors_name_the_problem(tmp_path, mangle, message):
    p = tmp_path / "bad-idx"
    p.write_bytes(mangle(_good_bytes()))
    with pytest.raises(IDXFormatError, match="bad-idx") as info:
        read_idx(p)
    assert message in str(info.value)


def test_write_idx_rejects_unstorable():
    with pytest.raises(ValueError, match="cannot store dtype"):
        write_idx(io.BytesIO(), np.zeros(3, dtype=np.complex64))
    with pytest.raises(ValueError, match="cannot store an array"):
        write_idx(io.BytesIO(), np.float32(1.0))


# ---------------------------------------------------------------- bundled MNIST


def test_bundled_mnist():
    d = load_mnist()
    assert d.X_train.shape == (5000, 784) and d.X_test.shape == (10000, 784)
    assert d.X_train.dtype == np.float32 and d.X_train.flags.c_contiguous
    assert d.y_train.dtype == np.int64 and d.image_shape == (28, 28)
    assert 0.0 == d.X_train.min() and d.X_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(d.y_train), [500] * 10)
    assert np.bincount(d.y_test).sum() == 10000 and set(d.y_test) == set(range(10))
    assert "CC BY-SA 3.0" in d.description and "LeCun" in d.description
    X_train, y_train, X_test, y_test = d
    assert X_train is d.X_train and y_test is d.y_test


def test_bundled_mnist_dtypes():
    raw = load_mnist(normalize=False, dtype="uint8")
    assert raw.X_train.dtype == np.uint8 and raw.X_train.max() == 255
    d64 = load_mnist(dtype="float64")
    assert d64.X_test.dtype == np.float64
    np.testing.assert_allclose(d64.X_test, raw.X_test / 255.0)
    f = load_mnist(normalize=False)
    assert f.X_train.dtype == np.float32 and f.X_train.max() == 255.0
    with pytest.raises(ValueError, match="normalize=False"):
        load_mnist(dtype="uint8")
    with pytest.raises(TypeError, match="float32"):
        load_mnist(dtype="int32")


def test_bundled_test_files_are_the_official_ones(bundled_file):
    """The bundled t10k files decompress to the published SHA-256 of the official test set."""
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        content = gzip.decompress(bundled_file(name))
        assert hashlib.sha256(content).hexdigest() == datasets.MNIST_FILES[name]["raw"]


def test_download_options_need_full():
    with pytest.raises(ValueError, match="only with full=True"):
        load_mnist(data_home="/tmp")
    with pytest.raises(ValueError, match="only with full=True"):
        load_mnist(url="file:///nowhere/")


# ------------------------------------------------------------ full download


@pytest.fixture
def mirror(tmp_path, monkeypatch, bundled_file):
    """A folder laid out like an MNIST mirror.

    The two test files are the official ones (bundled), checked against the real
    published checksums. The training files are small synthetic IDX files, whose
    checksums replace the 60k values for the duration of the test.
    """
    src = tmp_path / "mirror"
    src.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (src / name).write_bytes(bundled_file(name))
    rng = np.random.default_rng(1)
    write_idx(src / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (60, 28, 28), dtype=np.uint8))
    write_idx(src / "train-labels-idx1-ubyte.gz", (np.arange(60) % 10).astype(np.uint8))
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        data = (src / name).read_bytes()
        monkeypatch.setitem(
            datasets.MNIST_FILES,
            name,
            {"gz": hashlib.sha256(data).hexdigest(), "raw": hashlib.sha256(gzip.decompress(data)).hexdigest()},
        )
    return src


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """Start a file server on 127.0.0.1 for a folder; returns a function folder -> base URL."""
    servers = []

    def start(folder):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        servers.append((srv, t))
        return f"http://127.0.0.1:{srv.server_address[1]}/"

    yield start
    for srv, t in servers:
        srv.shutdown()
        srv.server_close()
        t.join()


def _closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def test_full_download_over_http_and_cache(tmp_path, mirror, http_server, mnist):
    home = tmp_path / "home"
    d = load_mnist(full=True, data_home=home, url=http_server(mirror))
    assert d.X_train.shape == (60, 784) and d.X_test.shape == (10000, 784)
    assert "official" in d.description
    np.testing.assert_array_equal(d.X_test, mnist.X_test)
    cached = sorted(p.name for p in (home / "mnist").iterdir())
    assert cached == sorted(datasets.MNIST_FILES)  # no leftover temporary files
    # Cached: a second call needs no server.
    d2 = load_mnist(full=True, data_home=home, url=_closed_port_url(), dtype="float64")
    assert d2.X_train.dtype == np.float64
    np.testing.assert_allclose(d2.X_train, d.X_train, rtol=1e-6)


def test_full_download_file_url_and_env(tmp_path, mirror, monkeypatch):
    home = tmp_path / "envhome"
    monkeypatch.setenv("KSPARSE_DATA", str(home))
    d = load_mnist(full=True, url=mirror.as_uri() + "/")
    assert d.X_train.shape == (60, 784)
    assert (home / "mnist" / "train-images-idx3-ubyte.gz").exists()
    assert datasets.get_data_home() == home


def test_corrupt_download_rejected_and_not_cached(tmp_path, mirror, http_server):
    data = bytearray((mirror / "t10k-labels-idx1-ubyte.gz").read_bytes())
    data[100] ^= 0xFF
    (mirror / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(data))
    home = tmp_path / "home"
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz.*corrupt.*not saved"):
        load_mnist(full=True, data_home=home, url=http_server(mirror))
    left = sorted(p.name for p in (home / "mnist").iterdir())
    assert "t10k-labels-idx1-ubyte.gz" not in left
    assert not [n for n in left if n.endswith(".part")]


def test_truncated_download_rejected(tmp_path, mirror):
    p = mirror / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-50])
    home = tmp_path / "home"
    with pytest.raises(ChecksumError, match="train-images"):
        load_mnist(full=True, data_home=home, url=mirror.as_uri() + "/")
    assert not (home / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_mirror_fallback(tmp_path, mirror, http_server):
    bad = tmp_path / "empty-mirror"
    bad.mkdir()
    d = load_mnist(full=True, data_home=tmp_path / "h", url=[http_server(bad), mirror.as_uri()])
    assert d.X_train.shape == (60, 784)


def test_offline_error_explains_manual_install(tmp_path):
    home = tmp_path / "home"
    with pytest.raises(DownloadError) as info:
        load_mnist(full=True, data_home=home, url=_closed_port_url(), timeout=5)
    msg = str(info.value)
    assert "by hand" in msg and str(home / "mnist") in msg and "train-images-idx3-ubyte.gz" in msg
    assert not list((home / "mnist").iterdir())


def test_files_placed_by_hand(tmp_path, mirror):
    """Uncompressed or re-compressed copies are accepted by their content checksum."""
    folder = tmp_path / "home" / "mnist"
    folder.mkdir(parents=True)
    for name in datasets.MNIST_FILES:
        content = gzip.decompress((mirror / name).read_bytes())
        if name.startswith("train"):
            (folder / name[:-3]).write_bytes(content)  # uncompressed
        else:
            (folder / name).write_bytes(gzip.compress(content, compresslevel=1, mtime=123))  # re-compressed
    d = load_mnist(full=True, data_home=tmp_path / "home", url=_closed_port_url())
    assert d.X_train.shape == (60, 784)


def test_bad_cached_file_is_reported(tmp_path, mirror):
    folder = tmp_path / "home" / "mnist"
    folder.mkdir(parents=True)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"not mnist")
    with pytest.raises(ChecksumError, match="Delete it"):
        load_mnist(full=True, data_home=tmp_path / "home", url=mirror.as_uri())


# ------------------------------------------------------------ IDX folders


@pytest.fixture
def write_folder(make_idx_folder):
    """30 training and 20 test images of 8x6 pixels in 3 classes."""
    def write(folder, gz=True, prefix="t10k"):
        return make_idx_folder(folder, n_train=30, n_test=20, image_shape=(8, 6), n_classes=3, seed=2,
                               gz=gz, prefix=prefix)
    return write


@pytest.mark.parametrize("gz, prefix", [(True, "t10k"), (False, "test")])
def test_load_idx_folder(tmp_path, gz, prefix, write_folder):
    write_folder(tmp_path / "f", gz=gz, prefix=prefix)
    (tmp_path / "f" / "README").write_text("ignored")
    d = load_idx_folder(tmp_path / "f")
    assert d.X_train.shape == (30, 48) and d.X_test.shape == (20, 48) and d.image_shape == (8, 6)
    assert d.X_train.max() <= 1.0 and "3 classes" in d.description


def test_load_idx_folder_errors(tmp_path, write_folder):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_idx_folder(tmp_path / "nope")
    write_folder(tmp_path / "f")
    (tmp_path / "f" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="missing the test labels"):
        load_idx_folder(tmp_path / "f")
    write_idx(tmp_path / "f" / "t10k-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(IDXFormatError, match="20 images but 5 labels"):
        load_idx_folder(tmp_path / "f")
    write_idx(tmp_path / "f" / "t10k-labels-idx1-ubyte", np.zeros(20, np.uint8))
    with pytest.raises(ValueError, match="keep only one"):
        load_idx_folder(tmp_path / "f")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist is not installed")
def test_fashion_mnist_folder():
    d = load_idx_folder(FASHION)
    assert d.X_train.shape == (60000, 784) and d.X_test.shape == (10000, 784)
    np.testing.assert_array_equal(np.bincount(d.y_test), [1000] * 10)


def test_data_home_default_is_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("KSPARSE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and not os.uname().sysname == "Darwin":
        assert datasets.get_data_home() == tmp_path / "xdg" / "ksparse"
