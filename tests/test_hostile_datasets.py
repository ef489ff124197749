"""Hostile inputs for ksparse.datasets: gzip bombs, lying IDX headers, bad sources,
slow, oversized and interrupted downloads. Everything runs offline (files and a
server on 127.0.0.1) and the whole file takes a few seconds."""

import gzip
import http.server
import io
import os
import resource
import signal
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from ksparse import datasets
from ksparse.datasets import (
    MAX_IDX_BYTES,
    DownloadError,
    IDXFormatError,
    load_idx_folder,
    load_mnist,
    read_idx,
    write_idx,
)
from ksparse.datasets import _loaders

MiB = 1 << 20
# A file whose official checksums are known and that ships with ksparse (4542
# bytes); its content matches the published "raw" SHA-256.
LABELS = "t10k-labels-idx1-ubyte.gz"


def _idx_header(code, shape):
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


class _NoSeek:
    """A file object that only reads: a pipe or a socket, whose length is unknown."""

    def __init__(self, data):
        self._buf = io.BytesIO(data)

    def read(self, n=-1):
        return self._buf.read(n)


# ------------------------------------------------------------------ gzip bombs


BOMB_ZEROS = 1 << 30  # decompressed zeros after the header


@pytest.fixture(scope="module")
def bomb():
    """A valid gzip stream (about 1 MB) of an IDX header declaring 10**12 bytes, then 1 GiB of zeros.

    Built without ever holding the zeros: deflate blocks ended by a full flush
    do not refer to each other, so the block for 1 MiB of zeros is repeated.
    """
    header = _idx_header(0x08, (10**6, 10**6))
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head_blocks = first.compress(header) + first.flush(zlib.Z_FULL_FLUSH)
    zeros = bytes(MiB)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero_block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty last block
    crc = zlib.crc32(header)
    for _ in range(BOMB_ZEROS // MiB):
        crc = zlib.crc32(zeros, crc)
    size = (len(header) + BOMB_ZEROS) & 0xFFFFFFFF
    gz_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    data = (
        gz_header + head_blocks + zero_block * (BOMB_ZEROS // MiB) + final + struct.pack("<II", crc, size)
    )
    assert len(data) < 2 * MiB
    return data


def test_bomb_fixture_is_valid_gzip(bomb):
    with gzip.GzipFile(fileobj=io.BytesIO(bomb)) as gz:
        assert gz.read(16)[:4] == bytes([0, 0, 0x08, 2])


class _Bounded:
    """Time and peak allocations (tracemalloc) and peak RSS growth of a block."""

    def __enter__(self):
        self.rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.rss0
        self.rss_growth = rss * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux
        return False

    def check(self, seconds=2.0, limit=200 * MiB):
        assert self.seconds < seconds, f"took {self.seconds:.2f} s"
        assert self.peak < limit, f"allocated {self.peak / MiB:.0f} MiB"
        assert self.rss_growth < limit, f"peak RSS grew by {self.rss_growth / MiB:.0f} MiB"


@pytest.mark.parametrize("kind", ["path", "bytes", "file", "stream"])
def test_gzip_bomb_is_refused_quickly_in_bounded_memory(tmp_path, bomb, kind):
    path = tmp_path / "bomb-idx.gz"
    path.write_bytes(bomb)
    with _Bounded() as b:
        with pytest.raises(IDXFormatError) as info:
            if kind == "path":
                read_idx(path)
            elif kind == "bytes":
                read_idx(bomb, name="bomb-idx.gz")
            elif kind == "file":
                with open(path, "rb") as fh:
                    read_idx(fh, name="bomb-idx.gz")
            else:
                read_idx(_NoSeek(bomb), name="bomb-idx.gz")
    b.check()
    msg = str(info.value)
    assert "bomb-idx.gz" in msg and "(1000000, 1000000)" in msg and "cannot decompress to more than" in msg


def test_gzip_bomb_in_a_folder(tmp_path, bomb):
    folder = tmp_path / "f"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (4, 2, 2), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    (folder / "train-images-idx3-ubyte.gz").write_bytes(bomb)
    with _Bounded() as b:
        with pytest.raises(IDXFormatError, match="train-images-idx3-ubyte.gz"):
            load_idx_folder(folder)
    b.check()


def test_checksum_of_a_bomb_streams_and_stops(tmp_path, bomb, monkeypatch):
    """Verifying a download hashes the decompressed content in blocks, and no more than a cap."""
    monkeypatch.setattr(_loaders, "_MAX_VERIFY_BYTES", 8 * MiB)
    path = tmp_path / LABELS
    path.write_bytes(bomb)
    with _Bounded() as b:
        reason = _loaders._verify(path, LABELS)
    b.check()
    assert "decompresses to more than 8388608 bytes" in reason


def test_declared_size_within_the_gzip_bound_but_missing(tmp_path):
    """A header that a gzip file of its size could hold, but whose data is short: truncated."""
    noise = np.random.default_rng(0).integers(0, 256, MiB, dtype=np.uint8).tobytes()
    path = tmp_path / "short-idx.gz"
    path.write_bytes(gzip.compress(_idx_header(0x08, (4096, 16384)) + noise, mtime=0))
    with _Bounded() as b:
        with pytest.raises(IDXFormatError, match="file truncated.*holds 1048588 bytes"):
            read_idx(path)
    b.check()


# ------------------------------------------------------------ lying headers


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("shape", [(2**32 - 1,) * 4, (2**32 - 1,) * 255, (2**20, 2**20, 2)])
def test_absurd_dimensions(tmp_path, compress, shape):
    raw = _idx_header(0x0E, shape) + bytes(64)
    path = tmp_path / "absurd-idx"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(IDXFormatError, match=r"absurd-idx: .*more than the 1099511627776 bytes.*MAX_IDX_BYTES"):
        read_idx(path)
    assert MAX_IDX_BYTES == 2**40


@pytest.mark.parametrize("compress", [False, True])
def test_declared_larger_than_data(tmp_path, compress):
    raw = _idx_header(0x0C, (1000, 1000)) + bytes(400)
    path = tmp_path / "short-idx"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(IDXFormatError, match="short-idx") as info:
        read_idx(path)
    msg = str(info.value)
    assert "(1000, 1000) of int32" in msg
    assert ("cannot decompress" in msg) if compress else ("file truncated" in msg and "holds 412 bytes" in msg)


def test_declared_larger_than_data_from_a_stream():
    """Without a known length the data is read as it comes, and found short."""
    raw = _idx_header(0x08, (10**6, 10**6)) + bytes(5000)
    with pytest.raises(IDXFormatError, match="file truncated.*holds 5012 bytes"):
        read_idx(_NoSeek(raw))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda good: good + b"\x00", "trailing bytes"),
        (lambda good: gzip.compress(good + b"\x00"), "trailing bytes"),
        (lambda good: gzip.compress(good) + gzip.compress(b"\x00" * 100), "trailing bytes"),
        (lambda good: gzip.compress(good) + b"garbage", "corrupt gzip"),
        (lambda good: gzip.compress(good)[:-4], "gzip stream is truncated"),
        (lambda good: gzip.compress(good)[:-20], "gzip stream is truncated"),
    ],
)
@pytest.mark.parametrize("kind", ["path", "stream"])
def test_trailing_and_truncated(tmp_path, build, message, kind):
    buf = io.BytesIO()
    write_idx(buf, np.arange(24, dtype=np.float32).reshape(4, 6))
    data = build(buf.getvalue())
    path = tmp_path / "odd-idx"
    path.write_bytes(data)
    with pytest.raises(IDXFormatError, match="odd-idx") as info:
        read_idx(path) if kind == "path" else read_idx(_NoSeek(data), name="odd-idx")
    assert message in str(info.value)


def test_zero_padding_and_multiple_members_are_fine():
    buf = io.BytesIO()
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    write_idx(buf, a)
    raw = buf.getvalue()
    np.testing.assert_array_equal(read_idx(gzip.compress(raw) + bytes(10)), a)
    np.testing.assert_array_equal(read_idx(gzip.compress(raw[:20]) + gzip.compress(raw[20:])), a)


@pytest.mark.parametrize("compress", [False, True])
def test_streams_and_offsets(compress):
    a = (np.arange(5000, dtype=np.int16) - 2500).reshape(50, 100)
    buf = io.BytesIO()
    write_idx(buf, a, compress=compress)
    data = buf.getvalue()
    out = read_idx(_NoSeek(data))
    np.testing.assert_array_equal(out, a)
    assert out.dtype.isnative and out.flags.writeable and out.flags.c_contiguous
    fh = io.BytesIO(b"skip" + data)
    fh.read(4)  # read from the current position, as before
    np.testing.assert_array_equal(read_idx(fh), a)
    assert not fh.closed


# ------------------------------------------------------------------ sources


@pytest.mark.parametrize("source", [0, 5, True, None, 1.5, [b"\x00"], np.zeros(4, np.uint8)])
def test_refuses_other_sources(source):
    with pytest.raises(TypeError, match=type(source).__name__) as info:
        read_idx(source)
    assert "path" in str(info.value) and "file object" in str(info.value)


def test_int_is_not_taken_as_a_file_descriptor(tmp_path):
    path = tmp_path / "a.idx"
    write_idx(path, np.arange(3, dtype=np.uint8))
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(TypeError, match="not int.*file descriptor.*closefd=False"):
            read_idx(fd)
        os.fstat(fd)  # still open
        with open(fd, "rb", closefd=False) as fh:
            np.testing.assert_array_equal(read_idx(fh), [0, 1, 2])
        os.fstat(fd)
    finally:
        os.close(fd)


def test_text_mode_file_is_refused(tmp_path):
    with pytest.raises(TypeError, match="binary mode"):
        read_idx(io.StringIO("\x00\x00\x08\x01"))


# ---------------------------------------------------------------- downloads


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.stop = threading.Event()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.body`` for any path, in the way ``server.mode`` says.

    - "slow": announces 100 bytes and sends one every 0.5 s (at most 40, and
      stops as soon as the test ends);
    - "plain": the whole body with its Content-Length;
    - "unannounced": the whole body, no Content-Length (ends when the
      connection closes);
    - "cut": announces the body, sends half of it, then closes.
    """

    protocol_version = "HTTP/1.0"

    def do_GET(self):
        body, mode = self.server.body, self.server.mode
        self.send_response(200)
        if mode != "unannounced":
            self.send_header("Content-Length", str(100 if mode == "slow" else len(body)))
        self.end_headers()
        try:
            if mode == "slow":
                for _ in range(40):
                    if self.server.stop.is_set():
                        return
                    self.wfile.write(b"\x00")
                    self.wfile.flush()
                    self.server.stop.wait(0.5)
            elif mode == "cut":
                self.wfile.write(body[: len(body) // 2])
            else:
                self.wfile.write(body)
        except OSError:  # the client went away
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """Start a server on 127.0.0.1: serve(mode, body) -> base URL. Stopped at the end of the test."""
    started = []

    def serve(mode, body=b""):
        srv = _Server(_Handler)
        srv.mode, srv.body = mode, body
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        started.append((srv, t))
        return f"http://127.0.0.1:{srv.server_address[1]}/"

    yield serve
    for srv, t in started:
        srv.stop.set()
        srv.shutdown()
        srv.server_close()
        t.join(5)


def _parts(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_slow_server_hits_the_deadline(tmp_path, server, monkeypatch):
    monkeypatch.setattr(_loaders, "DOWNLOAD_DEADLINE_FACTOR", 2)  # 2 x timeout=1 s
    home = tmp_path / "home"
    t0 = time.perf_counter()
    with pytest.raises(DownloadError) as info:
        load_mnist(full=True, data_home=home, url=server("slow"), timeout=1.0)
    elapsed = time.perf_counter() - t0
    assert 1.9 < elapsed < 5.0
    msg = str(info.value)
    assert "took more than 2 s in all" in msg and "bytes received" in msg and "by hand" in msg
    assert not list((home / "mnist").iterdir())


def test_download_deadline_parameter(tmp_path, server):
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="took more than 1 s"):
        _loaders._download(server("slow") + LABELS, tmp_path / LABELS, LABELS, progress=False,
                           timeout=5.0, deadline=1.0)
    assert time.perf_counter() - t0 < 3.0
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("mode, message", [
    ("plain", "announces 5000 bytes.*more than the 1000 bytes"),
    ("unannounced", "sent more than 1000 bytes"),
])
def test_oversize_download_hits_the_cap(tmp_path, server, monkeypatch, mode, message):
    monkeypatch.setattr(_loaders, "MAX_DOWNLOAD_BYTES", 1000)
    home = tmp_path / "home"
    with pytest.raises(DownloadError, match=message):
        load_mnist(full=True, data_home=home, url=server(mode, bytes(5000)))
    assert not list((home / "mnist").iterdir())


def test_default_download_cap():
    assert _loaders.MAX_DOWNLOAD_BYTES == datasets.MAX_DOWNLOAD_BYTES == 64 * MiB
    assert datasets.DOWNLOAD_DEADLINE_FACTOR == 10


def test_cut_connection_is_a_download_error(tmp_path, server, bundled_file):
    with pytest.raises(DownloadError, match="closed after 2271 of the 4542 bytes"):
        _loaders._download(server("cut", bundled_file(LABELS)) + LABELS, tmp_path / LABELS, LABELS,
                           progress=False, timeout=5.0)
    assert not list(tmp_path.iterdir())


def test_good_download_over_the_test_server(tmp_path, server, bundled_file):
    _loaders._download(server("plain", bundled_file(LABELS)) + LABELS, tmp_path / LABELS, LABELS,
                       progress=False, timeout=5.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [LABELS]
    assert (tmp_path / LABELS).read_bytes() == bundled_file(LABELS)


def test_interrupted_download_leaves_no_part(tmp_path, server, monkeypatch, bundled_file):
    def interrupted(resp, out, fname, **kwargs):
        out.write(resp.read(100))
        out.flush()
        assert len(_parts(tmp_path)) == 1  # the temporary file exists while writing
        raise KeyboardInterrupt

    monkeypatch.setattr(_loaders, "_copy_response", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _loaders._download(server("plain", bundled_file(LABELS)) + LABELS, tmp_path / LABELS, LABELS,
                           progress=False, timeout=5.0)
    assert not list(tmp_path.iterdir())


def test_stale_parts_are_removed_by_the_next_download(tmp_path, server, bundled_file):
    folder = tmp_path
    stale = folder / f".{LABELS}.x1y2z3.part"
    stale.write_bytes(b"left by a killed download")
    other_target = folder / ".train-labels-idx1-ubyte.gz.a1b2c3.part"
    other_target.write_bytes(b"not ours")
    # A download of the same file running at the same time holds its lock.
    fd, live = _loaders._new_part(folder, LABELS)
    try:
        url = server("plain", bundled_file(LABELS)) + LABELS
        _loaders._download(url, folder / LABELS, LABELS, progress=False, timeout=5.0)
        assert not stale.exists()
        assert other_target.exists()
        if _loaders.fcntl is not None:
            assert live.exists()
    finally:
        os.close(fd)
    assert (folder / LABELS).read_bytes() == bundled_file(LABELS)
    # Once its owner is gone, the next download removes it.
    (folder / LABELS).unlink()
    _loaders._download(url, folder / LABELS, LABELS, progress=False, timeout=5.0)
    assert _parts(folder) == [other_target.name]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_part_of_a_killed_process_is_cleaned(tmp_path, server, bundled_file):
    """A download killed outright (no clean-up code runs) leaves its .part; the next one removes it."""
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from ksparse.datasets import _loaders\n"
        "fd, part = _loaders._new_part(Path(sys.argv[1]), sys.argv[2])\n"
        "os.write(fd, b'half a file')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path), LABELS], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert len(_parts(tmp_path)) == 1
    _loaders._download(server("plain", bundled_file(LABELS)) + LABELS, tmp_path / LABELS, LABELS,
                       progress=False, timeout=5.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [LABELS]
