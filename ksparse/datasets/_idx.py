"""Reading and writing IDX files (the MNIST file format), raw or gzip-compressed.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` the type code of the
elements, ``DD`` the number of dimensions), then ``DD`` big-endian uint32 sizes,
then the elements in C order, big-endian. Nothing else may follow.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from typing import IO, Dict, Union

import numpy as np

__all__ = ["IDXFormatError", "read_idx", "write_idx", "IDX_DTYPES"]

PathLike = Union[str, "os.PathLike[str]"]

#: IDX type code -> numpy dtype (big-endian, as stored in the file).
IDX_DTYPES: Dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """Raised when a file is not a valid IDX file; the message names the problem."""


def _read_bytes(source: Union[PathLike, bytes, IO[bytes]], name: str) -> bytes:
    """Return the uncompressed bytes of ``source`` (gzip detected by its magic bytes)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    elif hasattr(source, "read"):
        raw = source.read()
    else:
        with open(source, "rb") as fh:
            raw = fh.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as exc:
        raise IDXFormatError(
            f"{name}: the gzip stream is truncated (file cut short); download or copy it again"
        ) from exc
    except (OSError, zlib.error) as exc:
        raise IDXFormatError(f"{name}: corrupt gzip data ({exc}); download or copy it again") from exc


def read_idx(source: Union[PathLike, bytes, IO[bytes]], *, name: str | None = None) -> np.ndarray:
    """Read one IDX file (raw or gzip-compressed) into a numpy array.

    Parameters
    ----------
    source : path, bytes or binary file object
        The IDX file. Gzip compression is recognised by the file's first bytes,
        not its name.
    name : str, optional
        How to call the file in error messages (defaults to the path).

    Returns
    -------
    numpy.ndarray
        An array in native byte order with the shape stored in the header
        (for MNIST images ``(n, 28, 28)`` uint8, for labels ``(n,)`` uint8).

    Raises
    ------
    IDXFormatError
        If the magic number, the type code, the number of dimensions or the
        file length is wrong, or the gzip stream is corrupt or truncated.
    OSError
        If the file cannot be opened.

    Examples
    --------
    >>> import numpy as np, io
    >>> from ksparse.datasets import read_idx, write_idx
    >>> buf = io.BytesIO()
    >>> write_idx(buf, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_idx(buf.getvalue()).tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    if name is None:
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "IDX data"
    data = _read_bytes(source, name)
    if len(data) < 4:
        raise IDXFormatError(f"{name}: file is {len(data)} bytes long, too short for an IDX header (4 bytes at least)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise IDXFormatError(
            f"{name}: bad magic number 0x{data[:4].hex()}; an IDX file starts with two zero bytes "
            "(is this really an IDX file, e.g. train-images-idx3-ubyte?)"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({IDX_DTYPES[c].name})" for c in IDX_DTYPES)
        raise IDXFormatError(f"{name}: unknown IDX type code 0x{code:02X}; known codes are {known}")
    if ndim == 0:
        raise IDXFormatError(f"{name}: the header declares 0 dimensions; an IDX array needs at least one")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IDXFormatError(
            f"{name}: file is {len(data)} bytes long, too short for a header with {ndim} dimensions "
            f"({header_len} bytes)"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[code]
    expected = header_len + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise IDXFormatError(
            f"{name}: file {what}: the header declares shape {tuple(shape)} of {dtype.name} "
            f"({expected} bytes in all) but the file holds {len(data)} bytes"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(target: Union[PathLike, IO[bytes]], array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file.

    Parameters
    ----------
    target : path or binary file object
        Where to write. With a path, the file is gzip-compressed when its name
        ends in ``.gz`` (unless ``compress`` says otherwise).
    array : numpy.ndarray
        At least 1-D, of dtype uint8, int8, int16, int32, float32 or float64;
        every dimension below 2**32.
    compress : bool, optional
        Force (True) or forbid (False) gzip compression.

    Raises
    ------
    ValueError
        If the array's dtype or shape cannot be stored in IDX.
    """
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODE_OF:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}; use uint8, int8, int16, int32, float32 or float64")
    if arr.ndim < 1 or arr.ndim > 255 or any(s >= 2**32 for s in arr.shape):
        raise ValueError(f"IDX cannot store an array of shape {arr.shape}")
    code = _CODE_OF[native]
    payload = (
        bytes([0, 0, code, arr.ndim])
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    )
    if isinstance(target, (str, os.PathLike)):
        if compress is None:
            compress = os.fspath(target).endswith(".gz")
        with open(target, "wb") as fh:
            fh.write(gzip.compress(payload, mtime=0) if compress else payload)
    else:
        target.write(gzip.compress(payload, mtime=0) if compress else payload)
