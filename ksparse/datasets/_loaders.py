"""MNIST loaders: the bundled subset, the full download, and any IDX folder."""

from __future__ import annotations

import dataclasses
import glob
import gzip
import hashlib
import http.client
import importlib.resources
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Any, Optional, Sequence, Tuple, Union

import numpy as np

from ksparse._validation import check_dtype
from ksparse.datasets._idx import IDXFormatError, read_idx
from ksparse.io import _fsync_dir, _umask_permissions

try:  # locks the temporary files of downloads in progress (POSIX only)
    import fcntl
except ImportError:  # Windows, where an open file cannot be deleted anyway
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Dataset",
    "DownloadError",
    "ChecksumError",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "load_mnist",
    "load_idx_folder",
    "get_data_home",
    "MAX_DOWNLOAD_BYTES",
    "DOWNLOAD_DEADLINE_FACTOR",
]

#: Mirrors of the official MNIST files, tried in order (the first is the one
#: TensorFlow Datasets uses, the second the one torchvision uses).
MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

# SHA-256 of the official MNIST files.
# - "gz": the published .gz archives, as listed in tensorflow/datasets,
#   tensorflow_datasets/url_checksums/mnist.txt (with sizes 9912422, 28881,
#   1648877 and 4542 bytes).
# - "raw": the uncompressed IDX content, as published in many projects that pin
#   MNIST (e.g. build scripts that verify the decompressed files); the two t10k
#   values were checked against the official test files bundled in this package,
#   whose gzip wrappers differ from the published archives but whose content is
#   identical. A file is accepted when either checksum matches, so a re-compressed
#   or uncompressed copy placed by hand is accepted too.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": {
        "gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "raw": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    "train-labels-idx1-ubyte.gz": {
        "gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "raw": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    "t10k-images-idx3-ubyte.gz": {
        "gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "raw": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    "t10k-labels-idx1-ubyte.gz": {
        "gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "raw": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
}

#: Most bytes a download may bring (64 MiB); the largest official MNIST file,
#: train-images-idx3-ubyte.gz, has 9,912,422 bytes. A server announcing or
#: sending more is refused (a wrong URL, or a hostile server).
MAX_DOWNLOAD_BYTES = 64 * 2**20

#: A download is abandoned once it has taken this many times ``timeout``
#: seconds in all (10 minutes with the default timeout of 60 s): the timeout
#: alone bounds each read, and a server trickling a byte at a time would never
#: trip it.
DOWNLOAD_DEADLINE_FACTOR = 10

# Most bytes decompressed to check the content checksum of a gzip file (the
# largest official file holds 47,040,016 bytes uncompressed).
_MAX_VERIFY_BYTES = 64 * 2**20

_BUNDLED = {
    "X_train": "train-5k-images-idx3-ubyte.gz",
    "y_train": "train-5k-labels-idx1-ubyte.gz",
    "X_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

_MNIST_CREDIT = (
    "MNIST by Yann LeCun and Corinna Cortes (with Christopher J.C. Burges), "
    "licensed CC BY-SA 3.0."
)


class DownloadError(OSError):
    """Raised when a data file cannot be downloaded; the message says how to place it by hand.

    An OSError.

    Examples
    --------
    >>> from ksparse.datasets import DownloadError
    >>> issubclass(DownloadError, OSError)
    True
    """


class ChecksumError(ValueError):
    """Raised when a file's SHA-256 does not match the published value.

    A ValueError; the corrupt file is not kept.

    Examples
    --------
    >>> from ksparse.datasets import ChecksumError
    >>> issubclass(ChecksumError, ValueError)
    True
    """


@dataclasses.dataclass
class Dataset:
    """A train/test split of flattened images with their labels.

    Unpacks like a tuple: ``X_train, y_train, X_test, y_test = load_mnist()``.

    Parameters
    ----------
    X_train, X_test : ndarray of shape (n, n_features)
        Training and test images, one flattened image per row.
    y_train, y_test : ndarray of int64, shape (n,)
        Their labels.
    description : str, default ""
        Where the data comes from, its size and its licence.
    image_shape : tuple, default ()
        Shape of one image before flattening, e.g. (28, 28).

    Examples
    --------
    >>> from ksparse.datasets import load_mnist
    >>> X_train, y_train, X_test, y_test = load_mnist()
    >>> X_train.shape, y_train.dtype
    ((5000, 784), dtype('int64'))
    """

    X_train: np.ndarray
    """Training images, shape (n_train, n_features), one flattened image per row."""
    y_train: np.ndarray
    """Training labels, shape (n_train,), int64."""
    X_test: np.ndarray
    """Test images, shape (n_test, n_features)."""
    y_test: np.ndarray
    """Test labels, shape (n_test,), int64."""
    description: str = ""
    """Where the data comes from, its size and its licence."""
    image_shape: tuple = ()
    """Shape of one image before flattening, e.g. (28, 28)."""

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))

    def __repr__(self) -> str:
        return (
            f"Dataset(X_train={self.X_train.shape} {self.X_train.dtype}, "
            f"X_test={self.X_test.shape}, image_shape={self.image_shape})"
        )


def get_data_home(data_home: Union[str, os.PathLike, None] = None) -> Path:
    """Return the folder that holds downloaded data sets (created if missing).

    The first of: ``data_home``; the environment variable ``KSPARSE_DATA``; the
    user cache folder (``$XDG_CACHE_HOME/ksparse`` or ``~/.cache/ksparse`` on
    Linux, ``~/Library/Caches/ksparse`` on macOS, ``%LOCALAPPDATA%\\ksparse`` on
    Windows).

    Parameters
    ----------
    data_home : path, optional
        The folder to use; None picks one as above.

    Returns
    -------
    folder : Path
        The folder, created if it did not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from ksparse.datasets import get_data_home
    >>> folder = os.path.join(tempfile.mkdtemp(), "data")
    >>> get_data_home(folder).is_dir()
    True
    """
    if data_home is None:
        data_home = os.environ.get("KSPARSE_DATA") or None
    if data_home is None:
        if sys.platform == "win32":
            base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        elif sys.platform == "darwin":
            base = Path.home() / "Library" / "Caches"
        else:
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        data_home = base / "ksparse"
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _is_uint8(dtype: Any) -> bool:
    try:
        return np.dtype(dtype) == np.uint8
    except TypeError:
        return False


def _to_xy(images: np.ndarray, labels: np.ndarray, *, normalize: bool, dtype: Any, what: str):
    if labels.ndim != 1:
        raise IDXFormatError(f"{what}: labels must be 1-D, the file holds shape {labels.shape}")
    if images.ndim < 2:
        raise IDXFormatError(f"{what}: images must be at least 2-D (n, ...), the file holds shape {images.shape}")
    if images.shape[0] != labels.shape[0]:
        raise IDXFormatError(
            f"{what}: {images.shape[0]} images but {labels.shape[0]} labels; the files do not belong together"
        )
    X = images.reshape(images.shape[0], -1)
    if normalize:
        if _is_uint8(dtype):
            raise ValueError("dtype='uint8' needs normalize=False (normalized pixels are floats)")
        if images.dtype != np.uint8:
            raise ValueError(
                f"{what}: normalize=True scales uint8 pixels to [0, 1], but the images are {images.dtype}; "
                "pass normalize=False"
            )
        dt = check_dtype(dtype)
        X = X.astype(dt) / dt.type(255)
    else:
        if not _is_uint8(dtype):
            X = X.astype(check_dtype(dtype))
        elif images.dtype != np.uint8:
            raise ValueError(f"{what}: dtype='uint8' needs uint8 data, the files hold {images.dtype}")
    return np.ascontiguousarray(X), labels.astype(np.int64), tuple(images.shape[1:])


def _load_bundled(normalize: bool, dtype: Any) -> Dataset:
    root = importlib.resources.files("ksparse.datasets").joinpath("data")
    arrays = {}
    for key, fname in _BUNDLED.items():
        with root.joinpath(fname).open("rb") as fh:
            arrays[key] = read_idx(fh, name=f"bundled {fname}")
    X_train, y_train, shape = _to_xy(arrays["X_train"], arrays["y_train"], normalize=normalize, dtype=dtype, what="bundled MNIST train")
    X_test, y_test, _ = _to_xy(arrays["X_test"], arrays["y_test"], normalize=normalize, dtype=dtype, what="bundled MNIST test")
    desc = (
        f"MNIST subset bundled with ksparse: {len(X_train)} training images (500 per digit, "
        f"drawn from the official 60,000-image training set, sorted by class: shuffle before "
        f"training) and the official {len(X_test)}-image test set; 28x28 pixels, "
        f"{'scaled to [0, 1]' if normalize else 'raw 0-255 values'}. {_MNIST_CREDIT}"
    )
    return Dataset(X_train, y_train, X_test, y_test, desc, shape)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sha256_gunzip(path: Path, limit: int) -> Optional[str]:
    """SHA-256 of the decompressed content of a gzip file, or None if it exceeds ``limit`` bytes.

    The content is decompressed and hashed a block at a time and never more
    than ``limit + 1`` bytes are decompressed, so a small file that expands to
    gigabytes costs neither memory nor much time.
    """
    h = hashlib.sha256()
    total = 0
    with gzip.open(path, "rb") as gz:
        while True:
            block = gz.read(min(1 << 20, limit + 1 - total))
            if not block:
                return h.hexdigest()
            total += len(block)
            if total > limit:
                return None
            h.update(block)


def _verify(path: Path, fname: str) -> Optional[str]:
    """Return None when ``path`` holds the official ``fname``, else a reason."""
    sums = MNIST_FILES[fname]
    digest = _sha256_file(path)
    if digest == sums["gz"]:
        return None
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    raw_digest: Optional[str]
    if not compressed:
        raw_digest = digest  # an uncompressed copy: its content is the file itself
    else:
        try:
            raw_digest = _sha256_gunzip(path, _MAX_VERIFY_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            return f"SHA-256 {digest} does not match the published {sums['gz']}, and it does not decompress ({exc})"
        if raw_digest is None:
            return (
                f"SHA-256 {digest} does not match the published {sums['gz']}, and it decompresses to more "
                f"than {_MAX_VERIFY_BYTES} bytes, more than any MNIST file holds"
            )
    if raw_digest == sums["raw"]:
        return None
    return (
        f"SHA-256 {digest} does not match the published {sums['gz']} "
        f"(uncompressed content {raw_digest}, expected {sums['raw']})"
    )


def _part_pattern(fname: str) -> str:
    """Glob pattern of the temporary files of downloads of ``fname`` (see :func:`_new_part`)."""
    return f".{glob.escape(fname)}.*.part"


def _remove_stale_parts(folder: Path, fname: str) -> None:
    """Delete the temporary files left by downloads of ``fname`` that were killed.

    A download in progress holds an exclusive lock on its temporary file (on
    POSIX; on Windows an open file cannot be deleted), so only the files of
    dead downloads are removed and a download running in another process at the
    same time is left alone.
    """
    for part in folder.glob(_part_pattern(fname)):
        if fcntl is None:
            try:
                part.unlink()
            except OSError:  # still open, so still being written
                pass
            continue
        try:
            fd = os.open(part, os.O_RDONLY)
        except OSError:  # already gone (finished or removed meanwhile)
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # locked: a live download
                continue
            # The file may have been renamed into place between open and lock;
            # delete the name only if it still is the file that was locked.
            try:
                if os.path.samestat(os.fstat(fd), os.stat(part)):
                    part.unlink()
            except FileNotFoundError:
                pass
        finally:
            os.close(fd)


def _new_part(folder: Path, fname: str) -> Tuple[int, Path]:
    """Create a locked temporary file for a download of ``fname``: ``.<fname>.<random>.part``.

    Returns its file descriptor, which holds the lock until it is closed (see
    :func:`_remove_stale_parts`).
    """
    for _ in range(10):
        fd, name = tempfile.mkstemp(prefix=f".{fname}.", suffix=".part", dir=folder)
        if fcntl is None:
            return fd, Path(name)
        # Another process cleaning up may have locked (and deleted) the new file
        # before this one locked it: then make another one.
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(name)):
                return fd, Path(name)
        except FileNotFoundError:
            pass
        os.close(fd)
    raise DownloadError(f"could not create a temporary file for {fname} in {folder}: it keeps being deleted")


def _content_length(resp: Any) -> Optional[int]:
    headers = getattr(resp, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:  # a malformed header: rely on counting the bytes
        return None


def _copy_response(resp: Any, out: IO[bytes], fname: str, *, progress: bool, deadline: Optional[float],
                   max_bytes: int) -> None:
    """Copy the body of ``resp`` to ``out``, within ``max_bytes`` bytes and ``deadline`` seconds."""
    start = time.monotonic()
    total = _content_length(resp)
    if total is not None and total > max_bytes:
        raise DownloadError(
            f"the server announces {total} bytes for {fname}, more than the {max_bytes} bytes a download may "
            "bring (MAX_DOWNLOAD_BYTES); is the URL right?"
        )
    # read1 returns whatever has arrived (at most the size asked), where read
    # would wait for the whole block: a server trickling bytes would then never
    # let the loop check the deadline.
    read = getattr(resp, "read1", None) or resp.read
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc=fname, leave=False)
    got = 0
    try:
        while True:
            if deadline is not None and time.monotonic() - start > deadline:
                raise DownloadError(
                    f"the download of {fname} took more than {deadline:g} s in all ({got} bytes received) and "
                    "was abandoned; the server is too slow: try another mirror, or a larger timeout= (a "
                    f"download may take {DOWNLOAD_DEADLINE_FACTOR} times the timeout)"
                )
            block = read(1 << 16)
            if not block:
                break
            got += len(block)
            if got > max_bytes:
                raise DownloadError(
                    f"the server sent more than {max_bytes} bytes for {fname}, more than a download may bring "
                    "(MAX_DOWNLOAD_BYTES); is the URL right?"
                )
            out.write(block)
            if bar is not None:
                bar.update(len(block))
    finally:
        if bar is not None:
            bar.close()
    if total is not None and got < total:
        raise DownloadError(
            f"the connection was closed after {got} of the {total} bytes announced for {fname}; try again"
        )


def _download(url: str, dest: Path, fname: str, *, progress: bool, timeout: Optional[float],
              deadline: Optional[float] = None, max_bytes: Optional[int] = None) -> None:
    """Download ``url`` to ``dest`` atomically; keep it only if the checksum matches.

    Parameters
    ----------
    url : str
        Where to download from.
    dest : Path
        Where the file goes; its folder must exist.
    fname : str
        The key of the file in :data:`MNIST_FILES`, to verify it.
    progress : bool
        Show a progress bar.
    timeout : float or None
        Seconds to wait for each read from the server (None: no limit).
    deadline : float, optional
        Seconds the whole download may take, checked between reads (so it may
        be exceeded by up to ``timeout``). Default: ``DOWNLOAD_DEADLINE_FACTOR *
        timeout``, no limit when ``timeout`` is None.
    max_bytes : int, optional
        Most bytes the file may have. Default: :data:`MAX_DOWNLOAD_BYTES`.

    Notes
    -----
    The deadline covers the body of the response; connecting and receiving
    the status line and headers are bounded by ``timeout`` for each read only.

    The data goes to a temporary file ``.<fname>.<random>.part`` next to
    ``dest``, deleted on any error; temporary files of ``fname`` left by a
    download that was killed are deleted when the next one starts.
    """
    if deadline is None and timeout is not None:
        deadline = DOWNLOAD_DEADLINE_FACTOR * timeout
    if max_bytes is None:
        max_bytes = MAX_DOWNLOAD_BYTES
    folder = dest.parent
    _remove_stale_parts(folder, fname)
    fd, tmp = _new_part(folder, fname)
    kept = False
    with os.fdopen(fd, "wb") as out:
        try:
            _umask_permissions(fd)
            read_timeout = timeout if deadline is None or timeout is None else min(timeout, deadline)
            with urllib.request.urlopen(url, timeout=read_timeout) as resp:
                _copy_response(resp, out, fname, progress=progress, deadline=deadline, max_bytes=max_bytes)
            out.flush()
            os.fsync(out.fileno())
            if fcntl is None:
                out.close()  # Windows cannot rename a file that is open
            reason = _verify(tmp, fname)
            if reason is not None:
                raise ChecksumError(f"download of {fname} from {url} is corrupt: {reason}; it was not saved")
            os.replace(tmp, dest)
            kept = True
            _fsync_dir(folder)
        finally:
            # Removed while the lock is still held (the file is closed after
            # this), so no other process can mistake it for a stale one.
            if not kept:
                try:
                    tmp.unlink()
                except FileNotFoundError:
                    pass


def _manual_hint(folder: Path) -> str:
    names = ", ".join(MNIST_FILES)
    return (
        f"To install the files by hand, download {names} from any MNIST mirror "
        f"(e.g. {MNIST_MIRRORS[0]}) on a machine with internet access and copy them into "
        f"{folder} (set KSPARSE_DATA or data_home= to use another folder); "
        "or use the bundled subset with load_mnist(full=False)."
    )


def _fetch_full(folder: Path, mirrors: Sequence[str], *, progress: bool, timeout: float) -> dict:
    paths = {}
    for fname in MNIST_FILES:
        dest = folder / fname
        raw_copy = folder / fname[:-3]  # an uncompressed copy placed by hand
        existing = dest if dest.exists() else raw_copy if raw_copy.exists() else None
        if existing is not None:
            reason = _verify(existing, fname)
            if reason is not None:
                raise ChecksumError(
                    f"{existing} is not the official {fname}: {reason}. Delete it so that it is "
                    "downloaded again, or replace it with a good copy."
                )
            paths[fname] = existing
            continue
        errors = []
        for base in mirrors:
            url = base if base.endswith(fname) else base.rstrip("/") + "/" + fname
            try:
                _download(url, dest, fname, progress=progress, timeout=timeout)
            except ChecksumError as exc:
                errors.append(str(exc))
                continue
            except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
                errors.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
                continue
            paths[fname] = dest
            break
        else:
            detail = "; ".join(errors)
            if errors and all("is corrupt" in e for e in errors):
                raise ChecksumError(f"could not get a good copy of {fname}: {detail}. {_manual_hint(folder)}")
            raise DownloadError(f"could not download {fname} ({detail}). {_manual_hint(folder)}")
    return paths


def load_mnist(
    full: bool = False,
    *,
    normalize: bool = True,
    dtype: Any = "float32",
    data_home: Union[str, os.PathLike, None] = None,
    url: Union[str, Sequence[str], None] = None,
    progress: bool = False,
    timeout: float = 60.0,
) -> Dataset:
    """Load MNIST: the bundled subset (default, offline) or the full data set.

    Parameters
    ----------
    full : bool, default False
        False: the bundled subset, 5,000 training images (500 per digit, sorted
        by class) and the official 10,000 test images. True: the official 60,000
        and 10,000, downloaded once into ``data_home`` and verified by SHA-256.
    normalize : bool, default True
        Scale pixels from 0-255 to [0, 1].
    dtype : {"float32", "float64", "uint8"}, default "float32"
        dtype of the images; "uint8" only with ``normalize=False``.
    data_home : path, optional
        Folder for downloaded files (only with ``full=True``). Default:
        ``$KSPARSE_DATA``, else the user cache folder (see :func:`get_data_home`).
        The files live in its ``mnist/`` subfolder.
    url : str or sequence of str, optional
        Base URL(s) to download from, tried in order (only with ``full=True``);
        http(s) and file:// URLs work. Default: :data:`MNIST_MIRRORS`.
    progress : bool, default False
        Show a progress bar while downloading.
    timeout : float, default 60
        Seconds to wait for a server before trying the next mirror; a file's
        download is abandoned after ``DOWNLOAD_DEADLINE_FACTOR`` (10) times this
        in all, or beyond :data:`MAX_DOWNLOAD_BYTES`.

    Returns
    -------
    Dataset
        ``X_train`` (n, 784), ``y_train`` (n,) int64, ``X_test``, ``y_test``,
        ``description`` and ``image_shape`` (28, 28).

    Raises
    ------
    DownloadError
        If ``full=True`` and a file cannot be downloaded (the message says where
        to put the files by hand).
    ChecksumError
        If a downloaded or cached file is not the official one; a corrupt
        download is never kept.

    Examples
    --------
    >>> from ksparse.datasets import load_mnist
    >>> data = load_mnist()
    >>> data.X_train.shape, data.X_test.shape
    ((5000, 784), (10000, 784))
    """
    if not full:
        for name, value in (("data_home", data_home), ("url", url)):
            if value is not None:
                raise ValueError(f"{name}= is used only with full=True (the bundled subset needs no download)")
        return _load_bundled(normalize, dtype)
    mirrors = (url,) if isinstance(url, str) else tuple(url) if url is not None else MNIST_MIRRORS
    if not mirrors:
        raise ValueError("url= must name at least one base URL")
    folder = get_data_home(data_home) / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    paths = _fetch_full(folder, mirrors, progress=progress, timeout=timeout)
    arr = {f: read_idx(p, name=str(p)) for f, p in paths.items()}
    X_train, y_train, shape = _to_xy(arr["train-images-idx3-ubyte.gz"], arr["train-labels-idx1-ubyte.gz"],
                                     normalize=normalize, dtype=dtype, what="MNIST train")
    X_test, y_test, _ = _to_xy(arr["t10k-images-idx3-ubyte.gz"], arr["t10k-labels-idx1-ubyte.gz"],
                               normalize=normalize, dtype=dtype, what="MNIST test")
    desc = (
        f"MNIST, the official {len(X_train)} training and {len(X_test)} test images (28x28), "
        f"from {folder}; {'scaled to [0, 1]' if normalize else 'raw 0-255 values'}. {_MNIST_CREDIT}"
    )
    return Dataset(X_train, y_train, X_test, y_test, desc, shape)


_SLOT_RE = re.compile(r"^(?P<split>train|t10k|test)[-_.]?(?P<rest>.*)$")


def _classify(fname: str) -> Optional[tuple]:
    low = fname.lower()
    m = _SLOT_RE.match(low)
    if not m or not re.search(r"(ubyte|idx)", low):
        return None
    split = "train" if m.group("split") == "train" else "test"
    rest = m.group("rest")
    if "idx3" in rest or "images" in rest:
        kind = "images"
    elif "idx1" in rest or "labels" in rest:
        kind = "labels"
    else:
        return None
    return split, kind


def load_idx_folder(
    path: Union[str, os.PathLike],
    *,
    normalize: bool = True,
    dtype: Any = "float32",
) -> Dataset:
    """Load a folder of MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST...).

    The folder must hold four files named like MNIST's: ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` (or ``test-...``),
    ``t10k-labels-idx1-ubyte``, each raw or gzip-compressed (``.gz``); ``.`` in
    place of ``-`` before ``idx`` is accepted too.

    Parameters
    ----------
    path : path
        The folder, e.g. ``/usr/share/datasets/fashion-mnist`` (Debian package
        ``dataset-fashion-mnist``).
    normalize : bool, default True
        Scale uint8 pixels to [0, 1].
    dtype : {"float32", "float64", "uint8"}, default "float32"
        dtype of the images; "uint8" only with ``normalize=False``.

    Returns
    -------
    Dataset
        ``X_train`` (n, n_features), ``y_train`` (n,) int64, ``X_test``,
        ``y_test``, ``description`` and ``image_shape``.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist or one of the four files is missing.
    ValueError
        If two files match the same role, or the files are inconsistent.
    IDXFormatError
        If a file is not valid IDX.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ksparse.datasets import load_idx_folder, write_idx
    >>> folder = tempfile.mkdtemp()
    >>> rng = np.random.default_rng(0)
    >>> for split, n in (("train", 6), ("t10k", 2)):
    ...     write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"),
    ...               rng.integers(0, 256, (n, 4, 4), dtype=np.uint8))
    ...     write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), np.zeros(n, np.uint8))
    >>> data = load_idx_folder(folder)
    >>> data.X_train.shape, data.X_test.shape, data.image_shape
    ((6, 16), (2, 16), (4, 4))
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; pass the folder that holds the IDX files")
    slots: dict = {}
    for entry in sorted(folder.iterdir()):
        if not entry.is_file():
            continue
        slot = _classify(entry.name)
        if slot is None:
            continue
        if slot in slots:
            raise ValueError(
                f"{folder}: both {slots[slot].name} and {entry.name} look like the {slot[0]} {slot[1]}; "
                "keep only one of them"
            )
        slots[slot] = entry
    wanted = [("train", "images"), ("train", "labels"), ("test", "images"), ("test", "labels")]
    missing = [f"{s} {k}" for s, k in wanted if (s, k) not in slots]
    if missing:
        found = ", ".join(sorted(p.name for p in slots.values())) or "none"
        raise FileNotFoundError(
            f"{folder}: missing the {', '.join(missing)} file(s) (found: {found}); expected names like "
            "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
            "t10k-labels-idx1-ubyte[.gz]"
        )
    arr = {slot: read_idx(p, name=str(p)) for slot, p in slots.items()}
    X_train, y_train, shape = _to_xy(arr["train", "images"], arr["train", "labels"], normalize=normalize,
                                     dtype=dtype, what=f"{folder} train")
    X_test, y_test, _ = _to_xy(arr["test", "images"], arr["test", "labels"], normalize=normalize,
                               dtype=dtype, what=f"{folder} test")
    desc = (
        f"IDX data from {folder}: {len(X_train)} training and {len(X_test)} test samples of shape "
        f"{shape}, {len(np.unique(y_train))} classes; {'scaled to [0, 1]' if normalize else 'raw values'}."
    )
    return Dataset(X_train, y_train, X_test, y_test, desc, shape)

