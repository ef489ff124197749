"""Reading and writing IDX files (the MNIST file format), raw or gzip-compressed.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` the type code of the
elements, ``DD`` the number of dimensions), then ``DD`` big-endian uint32 sizes,
then the elements in C order, big-endian. Nothing else may follow.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import shutil
import stat
import struct
import tempfile
import zlib
from typing import IO, Any, Dict, Optional, Protocol, Tuple, Union

import numpy as np

__all__ = ["IDXFormatError", "read_idx", "write_idx", "IDX_DTYPES", "MAX_IDX_BYTES"]

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

#: Largest array data (2**40 bytes, 1 TiB) a header may declare. A header whose
#: dimensions multiply to more is refused as corrupt before anything is read;
#: the real limit is usually much lower, see :func:`read_idx`.
MAX_IDX_BYTES = 2**40

# Deflate cannot expand data more than 1032-fold (a 258-byte match coded in two
# bits), so a gzip file of n bytes holds at most about 1032 * n bytes; a header
# declaring more is lying. The slack covers the first literals of tiny streams.
_MAX_DEFLATE_RATIO = 1032
_DEFLATE_SLACK = 1024

# Bytes read (or decompressed) at a time.
_CHUNK = 1 << 22
# Gzip data from a stream of unknown length is copied to a temporary file,
# kept in memory up to this size.
_SPOOL_IN_MEMORY = 1 << 24


class IDXFormatError(ValueError):
    """Raised when a file is not a valid IDX file; the message names the problem.

    A ValueError, so ``except ValueError`` catches it too.

    Examples
    --------
    >>> from ksparse.datasets import IDXFormatError, read_idx
    >>> try:
    ...     read_idx(b"not an IDX file")
    ... except IDXFormatError:
    ...     print("refused")
    refused
    """


class _Reader(Protocol):
    """What reading needs of a stream: ``read(size)`` returning bytes."""

    def read(self, size: int = ..., /) -> bytes: ...


def _read_exact(stream: _Reader, n: int) -> bytes:
    """Read up to ``n`` bytes, fewer only at the end of the stream.

    Plain file objects may return short reads before their end, so this loops.
    """
    parts = []
    left = n
    while left > 0:
        block = stream.read(left)
        if not isinstance(block, (bytes, bytearray)):
            raise TypeError(
                f"the file object returned {type(block).__name__} from read(), not bytes; "
                "open IDX files in binary mode ('rb')"
            )
        if not block:
            break
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


class _Prefixed:
    """A read-only stream that yields ``prefix`` and then the rest of ``stream``.

    Used to hand the bytes already read to detect gzip back to the decompressor,
    which works on streams that cannot seek back.
    """

    def __init__(self, prefix: bytes, stream: _Reader):
        self._prefix = prefix
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0 or size >= len(self._prefix):
                head, self._prefix = self._prefix, b""
                rest = self._stream.read(size - len(head)) if size >= 0 else self._stream.read()
                return head + rest
            head, self._prefix = self._prefix[:size], self._prefix[size:]
            return head
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = 0, /) -> int:
        # Never called while reading forwards; present because gzip.GzipFile
        # declares that it may seek (to rewind), which this stream cannot do.
        raise io.UnsupportedOperation("this stream cannot seek")


def _stream_size(stream: IO[bytes]) -> Optional[int]:
    """Bytes left in a file object from its current position, when that is known for sure.

    Only plain files and in-memory buffers are trusted: asking an arbitrary
    stream (e.g. a ``gzip.GzipFile``) to seek to its end may decompress all of
    it, and its ``fileno()`` may describe another (compressed) file.
    """
    try:
        if isinstance(stream, io.BytesIO):
            return max(stream.getbuffer().nbytes - stream.tell(), 0)
        raw = stream.raw if isinstance(stream, (io.BufferedReader, io.BufferedRandom)) else stream
        if isinstance(raw, io.FileIO):
            st = os.fstat(stream.fileno())
            if stat.S_ISREG(st.st_mode):
                return max(st.st_size - stream.tell(), 0)
    except (OSError, ValueError):  # closed, detached or unseekable
        pass
    return None


def _open_source(source: Any) -> Tuple[IO[bytes], Optional[int], bool]:
    """Return ``(stream, size, owned)`` for a ``read_idx`` source.

    ``size`` is the number of bytes the stream holds when known exactly (else
    None); ``owned`` says whether the stream was opened here and must be closed.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        return io.BytesIO(view), view.nbytes, False
    if isinstance(source, (str, os.PathLike)):
        fh = open(source, "rb")
        try:
            st = os.fstat(fh.fileno())
        except OSError:
            fh.close()
            raise
        return fh, (st.st_size if stat.S_ISREG(st.st_mode) else None), True
    if hasattr(source, "read"):
        return source, _stream_size(source), False
    # Anything else is refused here; in particular open() would take an int as a
    # file descriptor, read it and close it behind the caller's back.
    hint = (
        "; an int is not taken as a file descriptor, wrap it with open(fd, 'rb', closefd=False)"
        if isinstance(source, int) and not isinstance(source, bool)
        else ""
    )
    raise TypeError(
        f"read_idx() reads a path (str or os.PathLike), bytes-like data or a binary file object "
        f"with a read() method, not {type(source).__name__}{hint}"
    )


def _read_payload(stream: _Reader, nbytes: int, backed: bool) -> Tuple[np.ndarray, int]:
    """Read up to ``nbytes`` bytes into a new uint8 array; return it and the count read.

    ``backed`` says that the source's size is known and was checked against
    ``nbytes`` (exactly for raw data; for gzip data, against the most deflate
    can expand to): the array is then allocated at once and filled in place
    (the operating system only provides its memory pages as they are written,
    so a short stream costs no more than its data). Otherwise
    the data is gathered in blocks of at most ``_CHUNK`` bytes, so memory grows
    with the data actually present, not with what a header declares, and the
    array is only assembled (block by block, each released once copied) when
    all of it was there; the returned array is then empty if the data was short.
    """
    if backed:
        out = np.empty(nbytes, dtype=np.uint8)
        got = 0
        while got < nbytes:
            block = _read_exact(stream, min(_CHUNK, nbytes - got))
            if not block:
                break
            out[got : got + len(block)] = np.frombuffer(block, dtype=np.uint8)
            got += len(block)
        return out, got
    blocks = []
    got = 0
    while got < nbytes:
        block = _read_exact(stream, min(_CHUNK, nbytes - got))
        if not block:
            break
        blocks.append(block)
        got += len(block)
    if got < nbytes:
        return np.empty(0, dtype=np.uint8), got
    out = np.empty(nbytes, dtype=np.uint8)
    blocks.reverse()
    pos = 0
    while blocks:
        block = blocks.pop()
        out[pos : pos + len(block)] = np.frombuffer(block, dtype=np.uint8)
        pos += len(block)
    return out, got


def _parse(stream: _Reader, size: Optional[int], gz: bool, name: str) -> np.ndarray:
    """Read one IDX array from ``stream`` (already decompressed when ``gz``).

    ``size`` is the exact length of the underlying file when known: the length
    of the IDX data itself for a raw file, of the compressed data for gzip.
    """
    head = _read_exact(stream, 4)
    if len(head) < 4:
        raise IDXFormatError(f"{name}: file is {len(head)} bytes long, too short for an IDX header (4 bytes at least)")
    zero0, zero1, code, ndim = head
    if zero0 != 0 or zero1 != 0:
        raise IDXFormatError(
            f"{name}: bad magic number 0x{head.hex()}; an IDX file starts with two zero bytes "
            "(is this really an IDX file, e.g. train-images-idx3-ubyte?)"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({IDX_DTYPES[c].name})" for c in IDX_DTYPES)
        raise IDXFormatError(f"{name}: unknown IDX type code 0x{code:02X}; known codes are {known}")
    if ndim == 0:
        raise IDXFormatError(f"{name}: the header declares 0 dimensions; an IDX array needs at least one")
    header_len = 4 + 4 * ndim
    dims = _read_exact(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise IDXFormatError(
            f"{name}: file is {4 + len(dims)} bytes long, too short for a header with {ndim} dimensions "
            f"({header_len} bytes)"
        )
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_DTYPES[code]
    # Python integers do not overflow, so an absurd header gives an absurd number
    # here (up to 255 factors of 2**32 - 1), refused before anything is allocated.
    nbytes = math.prod(shape) * dtype.itemsize
    expected = header_len + nbytes
    declared = f"the header declares shape {tuple(shape)} of {dtype.name} ({expected} bytes in all)"
    if nbytes > MAX_IDX_BYTES:
        raise IDXFormatError(
            f"{name}: {declared}, more than the {MAX_IDX_BYTES} bytes (2**40, MAX_IDX_BYTES) read_idx "
            "accepts; the header is corrupt"
        )
    if size is not None and not gz and size != expected:
        what = "truncated" if size < expected else "has trailing bytes"
        raise IDXFormatError(f"{name}: file {what}: {declared} but the file holds {size} bytes")
    if size is not None and gz and expected > _MAX_DEFLATE_RATIO * size + _DEFLATE_SLACK:
        raise IDXFormatError(
            f"{name}: {declared}, but {size} bytes of gzip data cannot decompress to more than "
            f"{_MAX_DEFLATE_RATIO * size + _DEFLATE_SLACK} bytes (deflate expands at most "
            f"{_MAX_DEFLATE_RATIO}-fold); the file is truncated or its header is corrupt"
        )
    payload, got = _read_payload(stream, nbytes, backed=size is not None)
    if got < nbytes:
        raise IDXFormatError(f"{name}: file truncated: {declared} but the file holds {header_len + got} bytes")
    # One byte more tells whether anything follows; for gzip this read also
    # checks the stream's CRC and length, and that nothing but padding follows it.
    if _read_exact(stream, 1):
        raise IDXFormatError(
            f"{name}: file has trailing bytes: {declared} but the file holds more than {expected} bytes"
        )
    arr = payload.view(dtype)
    if not dtype.isnative:
        arr.byteswap(inplace=True)
        arr = arr.view(dtype.newbyteorder("="))
    return arr.reshape(shape)


def read_idx(source: Union[PathLike, bytes, IO[bytes]], *, name: str | None = None) -> np.ndarray:
    """Read one IDX file (raw or gzip-compressed) into a numpy array.

    Parameters
    ----------
    source : path, bytes or binary file object
        A path, bytes-like data, or a binary file object (read from its current
        position and left open). Gzip compression is recognised by the file's
        first bytes, not its name.
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
        file length is wrong, the dimensions declare more than
        :data:`MAX_IDX_BYTES` (or more than the file can hold), or the gzip
        stream is corrupt or truncated.
    TypeError
        If ``source`` is none of the accepted kinds (an int, for instance, is
        refused rather than taken as a file descriptor), or a file object
        returns text.
    OSError
        If the file cannot be opened.

    Notes
    -----
    The header is read first and bounds everything after it: exactly the
    declared number of bytes is read (decompressed, for gzip), then one more to
    check that nothing follows. A header that declares more than the source can
    hold is refused before any data is read: for a raw file whose size is known
    (a path, bytes, a plain file object) the size must match exactly, and gzip
    data of n bytes cannot hold more than about 1032 * n bytes (the largest
    expansion deflate allows); gzip data from a stream of unknown length is
    first copied to a temporary file to learn its size. So a small gzip file
    cannot make ``read_idx`` decompress or allocate much: a header declaring a
    huge array is refused at once, and memory only grows as data arrives.

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
    source_stream, size, owned = _open_source(source)
    spool = None
    try:
        head = _read_exact(source_stream, 2)
        stream = _Prefixed(head, source_stream)
        if head != _GZIP_MAGIC:
            return _parse(stream, size, False, name)
        compressed: Union[_Prefixed, tempfile.SpooledTemporaryFile[bytes]] = stream
        if size is None:
            # A stream of unknown length (a pipe, a custom file object) is first
            # copied to a temporary file, in memory while small: the compressed
            # size is what bounds how much the header may declare.
            spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
            shutil.copyfileobj(stream, spool, _CHUNK)
            size = spool.tell()
            spool.seek(0)
            compressed = spool
        # The gzip stream is decompressed as it is read, a block at a time, so
        # no more is ever decompressed than the header declares (plus one byte).
        with gzip.GzipFile(fileobj=compressed, mode="rb") as gz:
            try:
                return _parse(gz, size, True, name)
            except EOFError as exc:
                raise IDXFormatError(
                    f"{name}: the gzip stream is truncated (file cut short); download or copy it again"
                ) from exc
            except (gzip.BadGzipFile, zlib.error) as exc:
                raise IDXFormatError(f"{name}: corrupt gzip data ({exc}); download or copy it again") from exc
    finally:
        if spool is not None:
            spool.close()
        if owned:
            source_stream.close()


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

    Returns
    -------
    None

    Raises
    ------
    ValueError
        If the array's dtype or shape cannot be stored in IDX.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ksparse.datasets import read_idx, write_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
    >>> write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
    >>> read_idx(path)
    array([3, 1, 4], dtype=uint8)
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
