"""Saving and loading models and checkpoints (safetensors + a JSON header).

File layout: a standard `safetensors <https://github.com/huggingface/safetensors>`_
file. The tensors are the model's arrays (weights, biases, counters and, in a
checkpoint, the optimizer's arrays under keys starting ``"optim."``). The
safetensors header's ``__metadata__`` holds, as JSON strings:

- ``format`` ("ksparse") and ``format_version`` (an integer, :data:`FORMAT_VERSION`);
- ``ksparse_version``: the library version that wrote the file;
- ``kind``: "model" or "checkpoint";
- ``meta``: the object's full state description (its class, constructor
  parameters, learned attributes and, in a checkpoint, the training position,
  RNG state and optimizer hyper-parameters);
- ``training_summary``: epochs, steps, final loss/MSE..., for a quick look;
- ``sha256``: the SHA-256 of every tensor's bytes;
- ``header_sha256``: the SHA-256 of all the entries above (as sorted JSON), so that
  damage to the metadata is caught like damage to a tensor.

On load, every tensor's checksum and the metadata's checksum are verified, and then
every parameter, attribute, tensor shape and dtype and (in a checkpoint) the training
position, generator and optimizer state are checked against each other by the class's
``_from_state``, so that a file edited by hand (with its checksums recomputed) is
refused with :class:`ModelFileError` before any compiled kernel sees its arrays.

Nothing in a file is executed on load (no pickle). Writes are atomic: the bytes
go to a temporary file in the same folder, which is flushed, fsync'ed and renamed
over the target, so a crash during a save leaves the previous file intact. The
temporary file's name carries the writer's process id; the next save of the same
target removes the temporaries of writers that no longer run.

Objects take part through the persistence protocol: ``obj._get_state(
include_optimizer) -> (arrays, meta)`` and ``Class._from_state(arrays, meta)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Tuple, Union

import numpy as np

__all__ = ["FORMAT_VERSION", "ModelFileError", "save", "load", "read_metadata"]

#: Version of the file layout written by this library. Files with a higher
#: version are refused (they were written by a newer ksparse). Version 2 adds
#: ``header_sha256``, the checksum of the metadata; version 1 files (ksparse 0.1)
#: still load, with every value validated but no metadata checksum.
FORMAT_VERSION = 2
_FORMAT_NAME = "ksparse"
_MAX_HEADER = 100 * 1024 * 1024

PathLike = Union[str, "os.PathLike[str]"]


class ModelFileError(ValueError):
    """Raised when a model file is truncated, tampered with, of a newer format, or not a ksparse file.

    A ValueError; the message names the file and what is wrong with it.

    Examples
    --------
    >>> import os, tempfile
    >>> import ksparse
    >>> from ksparse.io import ModelFileError
    >>> path = os.path.join(tempfile.mkdtemp(), "empty.safetensors")
    >>> open(path, "wb").close()
    >>> try:
    ...     ksparse.load(path)
    ... except ModelFileError:
    ...     print("refused")
    refused
    """


def _import_estimator():
    from ksparse.autoencoder import KSparseAutoencoder

    return KSparseAutoencoder


def _import_network():
    from ksparse.layers import Network

    return Network


# meta["class"] -> a function returning the class (imported lazily, so that
# ksparse.io does not import the whole library).
_CLASSES: Dict[str, Callable[[], Any]] = {
    "KSparseAutoencoder": _import_estimator,
    "Network": _import_network,
}


# ----------------------------------------------------------------------- write


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _dumps(o: Any) -> str:
    return json.dumps(o, default=_json_default, allow_nan=True, sort_keys=True)


def _le_contiguous(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return a


def _training_summary(meta: dict) -> dict:
    """A short summary for people inspecting a file: epochs, steps, last losses."""
    attrs = meta.get("attributes") or {}
    out: Dict[str, Any] = {}
    for key in ("n_iter_", "n_features_in_", "n_steps_", "t_"):
        if key in attrs:
            out[key.rstrip("_")] = attrs[key]
    history = attrs.get("history_", attrs.get("history"))
    if isinstance(history, dict):
        lengths = {len(v) for v in history.values() if isinstance(v, list)}
        if lengths:
            out["epochs"] = max(lengths)
        for key, values in history.items():
            if isinstance(values, list) and values and isinstance(values[-1], (int, float)):
                out[f"final_{key}"] = values[-1]
        if isinstance(history.get("time"), list):
            out["train_seconds"] = float(sum(history["time"]))
    if "training" in meta and isinstance(meta["training"], dict):
        for key in ("epoch", "step"):
            if key in meta["training"]:
                out[f"position_{key}"] = meta["training"][key]
    return out


def _encode(obj: Any, checkpoint: bool) -> bytes:
    from safetensors.numpy import save as st_save

    from ksparse._version import __version__

    if not hasattr(obj, "_get_state"):
        raise TypeError(
            f"cannot save a {type(obj).__name__}: ksparse.save takes a KSparseAutoencoder or a "
            "ksparse.layers.Network (objects with a _get_state method)"
        )
    arrays, meta = obj._get_state(include_optimizer=bool(checkpoint))
    if not isinstance(meta, dict) or "class" not in meta:
        raise TypeError(f"{type(obj).__name__}._get_state returned metadata without a 'class' entry")
    if checkpoint and "training" not in meta:
        raise ValueError(
            f"{type(obj).__name__} has no training state to checkpoint (is it fitted?); "
            "save it with checkpoint=False"
        )
    tensors = {}
    for name, a in arrays.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"array names must be non-empty strings, got {name!r}")
        arr = np.asarray(a)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"array {name!r} has dtype {arr.dtype}, which cannot be stored")
        tensors[name] = _le_contiguous(arr)
    sums = {name: hashlib.sha256(t.tobytes()).hexdigest() for name, t in tensors.items()}
    header = {
        "format": _FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "ksparse_version": __version__,
        "kind": "checkpoint" if checkpoint else "model",
        "meta": _dumps(meta),
        "training_summary": _dumps(_training_summary(meta)),
        "sha256": _dumps(sums),
    }
    header["header_sha256"] = _header_digest(header)
    return st_save(tensors, metadata=header)


def _header_digest(md: Dict[str, Any]) -> str:
    """SHA-256 of the metadata entries other than ``header_sha256`` (sorted JSON)."""
    body = {k: v for k, v in md.items() if k != "header_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def _write_all(fh, data: bytes, chunk: int = 1 << 20) -> None:
    """Write ``data`` to ``fh`` in chunks."""
    view = memoryview(data)
    for start in range(0, len(view), chunk):
        fh.write(view[start:start + chunk])


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # a folder cannot be opened for fsync on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask_permissions(fd: int) -> None:
    """Give a file made by ``tempfile.mkstemp`` (mode 0600) the permissions of a plain ``open``."""
    if os.name == "nt":
        return
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)


#: a temporary of ours: ".<target>.<pid>.<random>.tmp" (or, from ksparse 0.1, ".<target>.<random>.tmp")
_TMP_TAIL = re.compile(r"(?:(\d+)\.)?[A-Za-z0-9_]{8}\.tmp")
#: a temporary without a process id is left alone until it is this old (seconds)
_TMP_MAX_AGE = 3600.0


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's live process, or an unknowable one: keep its file
    return True


def _remove_stale_temporaries(folder: Path, target: str) -> None:
    """Delete temporaries of ``target`` left by a save that was killed.

    A temporary whose writer process no longer runs is removed; one whose name has no
    process id (written by ksparse 0.1) is removed once it is an hour old. Temporaries
    of this process and of running processes are left alone (a save may be in progress).
    """
    prefix = f".{target}."
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        match = _TMP_TAIL.fullmatch(name[len(prefix):])
        if match is None:
            continue
        tmp = folder / name
        try:
            if match.group(1) is not None:
                pid = int(match.group(1))
                stale = pid != os.getpid() and not _process_exists(pid)
            else:
                stale = time.time() - tmp.stat().st_mtime > _TMP_MAX_AGE
            if stale and tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()
        except OSError:
            continue


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename, fsync folder).

    Either the whole new content is at ``path`` afterwards, or (after an error or
    a crash) the previous file is untouched.

    Parameters
    ----------
    path : path
        Target file; its folder must exist.
    data : bytes
        The file's whole new content.

    Returns
    -------
    path : Path
        The file written.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from ksparse.io import atomic_write_bytes
    >>> path = atomic_write_bytes(os.path.join(tempfile.mkdtemp(), "a.txt"), b"hello")
    >>> path.read_bytes()
    b'hello'
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {folder} does not exist")
    _remove_stale_temporaries(folder, path.name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        _umask_permissions(fd)
        with os.fdopen(fd, "wb") as fh:
            _write_all(fh, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)
    return path


def save(obj: Any, path: PathLike, *, checkpoint: bool = False) -> Path:
    """Save a model (or a training checkpoint) to a safetensors file.

    Parameters
    ----------
    obj : KSparseAutoencoder or ksparse.layers.Network
        The object to save.
    path : path
        Target file (by convention ``*.safetensors``). Replaced atomically if
        it exists; its folder must exist.
    checkpoint : bool, default False
        Also store the optimizer state, the RNG state and the position in
        training, so that ``fit(resume=True)`` on the loaded object continues
        exactly where training stopped.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    TypeError
        If ``obj`` does not implement the persistence protocol.
    ValueError
        If ``checkpoint=True`` and ``obj`` has no training state.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import ksparse
    >>> X = np.random.default_rng(0).random((40, 8))
    >>> model = ksparse.KSparseAutoencoder(16, 3, n_epochs=1, random_state=0).fit(X)
    >>> path = ksparse.save(model, os.path.join(tempfile.mkdtemp(), "model.safetensors"))
    >>> np.array_equal(ksparse.load(path).reconstruct(X), model.reconstruct(X))
    True
    """
    return atomic_write_bytes(path, _encode(obj, checkpoint))


# ------------------------------------------------------------------------ read


def _parse_header(data: bytes, name: str) -> Tuple[dict, int]:
    """Check the safetensors framing; return (header, offset of the data)."""
    if len(data) < 8:
        raise ModelFileError(f"{name}: file is truncated ({len(data)} bytes; not even a safetensors header)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER:
        raise ModelFileError(f"{name}: not a safetensors file (header length field is {n} bytes)")
    if len(data) < 8 + n:
        raise ModelFileError(f"{name}: file is truncated inside its header ({len(data)} bytes, header needs {8 + n})")
    header = _json_loads(data[8:8 + n], name, "header")
    if not isinstance(header, dict):
        raise ModelFileError(f"{name}: corrupt header (not a JSON object)")
    end = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            begin, stop = info["data_offsets"]
            stop = int(stop)
        except (TypeError, KeyError, ValueError, OverflowError) as exc:
            raise ModelFileError(f"{name}: corrupt header entry for tensor {key!r}") from exc
        end = max(end, stop)
    if len(data) < 8 + n + end:
        raise ModelFileError(
            f"{name}: file is truncated: the header announces {end} bytes of tensor data, "
            f"the file holds {len(data) - 8 - n}"
        )
    if len(data) > 8 + n + end:
        raise ModelFileError(
            f"{name}: file has {len(data) - 8 - n - end} unexpected bytes after the tensor data (tampered?)"
        )
    return header, 8 + n


def _json_loads(text: Any, name: str, what: str) -> Any:
    """``json.loads`` whose every failure (bad UTF-8 or JSON, nesting too deep) is a ModelFileError."""
    try:
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = bytes(text).decode("utf-8")
        if not isinstance(text, str):
            raise TypeError(f"expected a JSON string, found {type(text).__name__}")
        return json.loads(text)
    except RecursionError:
        raise ModelFileError(f"{name}: corrupt {what}: its JSON is nested too deeply (tampered?)") from None
    except (UnicodeDecodeError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{name}: corrupt {what} (not valid JSON: {exc}); the file is damaged or tampered with") from None


def _check_metadata(header: dict, name: str) -> dict:
    from ksparse._version import __version__

    md = header.get("__metadata__")
    if not isinstance(md, dict) or md.get("format") != _FORMAT_NAME:
        raise ModelFileError(
            f"{name}: a safetensors file, but not one written by ksparse.save (no ksparse metadata)"
        )
    try:
        version = int(md.get("format_version", ""))
    except ValueError as exc:
        raise ModelFileError(f"{name}: bad format_version {md.get('format_version')!r}") from exc
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{name}: written with file format version {version} by ksparse "
            f"{md.get('ksparse_version', '?')}; this ksparse ({__version__}) reads format versions up to "
            f"{FORMAT_VERSION}. Upgrade ksparse to load it."
        )
    if version < 1:
        raise ModelFileError(f"{name}: bad format_version {version}")
    if not all(isinstance(v, str) for v in md.values()):
        raise ModelFileError(f"{name}: corrupt metadata (every entry must be a string)")
    if version >= 2 and md.get("header_sha256") != _header_digest(md):
        raise ModelFileError(
            f"{name}: checksum mismatch for the metadata (params, attributes, history): the file is "
            "damaged or was edited"
        )
    out: Dict[str, Any] = {
        "format_version": version,
        "ksparse_version": md.get("ksparse_version"),
        "kind": md.get("kind"),
    }
    for key in ("meta", "training_summary", "sha256"):
        if key not in md:
            raise ModelFileError(f"{name}: missing {key!r} metadata (tampered?)")
        out[key] = _json_loads(md[key], name, f"{key!r} metadata")
    if not isinstance(out["meta"], dict) or not isinstance(out["meta"].get("class"), str):
        raise ModelFileError(f"{name}: the metadata does not say which class it holds")
    if not isinstance(out["sha256"], dict) or not all(isinstance(v, str) for v in out["sha256"].values()):
        raise ModelFileError(f"{name}: corrupt 'sha256' metadata (not an object of hex digests)")
    return out


def _read(path: PathLike) -> Tuple[bytes, dict, int, str]:
    name = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: no such model file") from None
    header, offset = _parse_header(data, name)
    info = _check_metadata(header, name)
    return data, info, offset, name


def read_metadata(path: PathLike) -> dict:
    """Read a model file's metadata without building the model.

    Parameters
    ----------
    path : path
        A file written by :func:`save`.

    Returns
    -------
    dict
        ``format_version``, ``ksparse_version``, ``kind`` ("model" or
        "checkpoint"), ``meta`` (class, params, attributes...),
        ``training_summary`` and ``sha256`` (per tensor).

    Raises
    ------
    ModelFileError
        If the file is truncated, not a ksparse file, or of a newer format.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import ksparse
    >>> X = np.random.default_rng(0).random((40, 8))
    >>> model = ksparse.KSparseAutoencoder(16, 3, n_epochs=1, random_state=0).fit(X)
    >>> path = ksparse.save(model, os.path.join(tempfile.mkdtemp(), "model.safetensors"))
    >>> from ksparse.io import read_metadata
    >>> info = read_metadata(path)
    >>> info["kind"], info["meta"]["class"], info["meta"]["params"]["k"]
    ('model', 'KSparseAutoencoder', 3)
    """
    return _read(path)[1]


def load(path: PathLike) -> Any:
    """Load a model or checkpoint written by :func:`save`.

    Every tensor is checked against the SHA-256 stored in the file before the
    object is rebuilt; nothing in the file is executed.

    Parameters
    ----------
    path : path
        A file written by :func:`save`.

    Returns
    -------
    KSparseAutoencoder or ksparse.layers.Network
        The object, rebuilt exactly. A checkpoint also carries the optimizer
        and RNG state, so ``fit(resume=True)`` continues the interrupted run.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ModelFileError
        If the file is truncated, tampered with (a checksum mismatch), of a
        newer format, not a ksparse file, holds an unknown class, or its
        parameters, metadata and tensors do not agree (the message names the
        parameter or tensor).

    Examples
    --------
    Save a checkpoint during training and resume from it:

    >>> import os, tempfile
    >>> import numpy as np
    >>> import ksparse
    >>> X = np.random.default_rng(0).random((40, 8))
    >>> model = ksparse.KSparseAutoencoder(16, 3, n_epochs=2, random_state=0).fit(X)
    >>> path = ksparse.save(model, os.path.join(tempfile.mkdtemp(), "ckpt.safetensors"), checkpoint=True)
    >>> restored = ksparse.load(path)
    >>> restored.n_iter_
    2
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    data, info, _offset, name = _read(path)
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError) as exc:
        raise ModelFileError(f"{name}: corrupt safetensors data ({exc})") from exc
    sums = info["sha256"]
    if set(sums) != set(tensors):
        missing = sorted(set(sums) - set(tensors))
        extra = sorted(set(tensors) - set(sums))
        raise ModelFileError(
            f"{name}: tampered: tensors missing {missing} / unexpected {extra} compared with the recorded checksums"
        )
    for key, arr in tensors.items():
        digest = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()
        if digest != sums[key]:
            raise ModelFileError(
                f"{name}: checksum mismatch for tensor {key!r} (file damaged or tampered with): "
                f"SHA-256 {digest}, recorded {sums[key]}"
            )
    meta = info["meta"]
    cls_name = meta["class"]
    if cls_name not in _CLASSES:
        raise ModelFileError(
            f"{name}: holds a {cls_name!r}, which ksparse.load cannot rebuild; known classes: {sorted(_CLASSES)}"
        )
    cls = _CLASSES[cls_name]()
    arrays = {k: np.array(v) for k, v in tensors.items()}  # writeable copies in native order
    try:
        return cls._from_state(arrays, meta)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
        what = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ModelFileError(f"{name}: refused: {what}") from exc
