"""Tests for ksparse.io: safetensors round trips, bad files, atomic saves, checkpoints."""

import json
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ksparse import io as kio
from ksparse.autoencoder import KSparseAutoencoder
from ksparse.io import FORMAT_VERSION, ModelFileError, load, read_metadata, save
from ksparse.layers import DenseLayer, KSparseLayer, Network


class FakeModel:
    """A tiny class implementing the persistence protocol, for tests that need no real model."""

    def __init__(self, n_hidden=4, k=2, dtype="float32", seed=0):
        self.n_hidden, self.k, self.dtype, self.seed = n_hidden, k, dtype, seed
        rng = np.random.default_rng(seed)
        self.W_enc_ = rng.standard_normal((n_hidden, 3)).astype(dtype)
        self.b_dec_ = rng.standard_normal(3).astype(dtype)
        self.steps_since_fired_ = np.arange(n_hidden, dtype=np.int64)
        self.history_ = {"epoch": [1, 2], "loss": [0.5, 0.25], "time": [0.1, 0.2]}
        self.n_iter_ = 2
        self.optim_m = rng.standard_normal((n_hidden, 3)).astype(dtype)
        self.rng = np.random.default_rng(seed)

    def _get_state(self, include_optimizer):
        arrays = {"W_enc": self.W_enc_, "b_dec": self.b_dec_, "steps_since_fired": self.steps_since_fired_}
        meta = {
            "class": "FakeModel",
            "params": {"n_hidden": self.n_hidden, "k": self.k, "dtype": self.dtype, "seed": self.seed},
            "attributes": {"history_": self.history_, "n_iter_": self.n_iter_},
        }
        if include_optimizer:
            arrays["optim.W_enc.m"] = self.optim_m
            meta["training"] = {"epoch": 2, "step": 40, "rng": self.rng.bit_generator.state,
                                "optimizer": {"name": "adam", "lr": 1e-3, "t": 40}}
        return arrays, meta

    @classmethod
    def _from_state(cls, arrays, meta):
        obj = cls.__new__(cls)
        p = meta["params"]
        obj.n_hidden, obj.k, obj.dtype, obj.seed = p["n_hidden"], p["k"], p["dtype"], p["seed"]
        obj.W_enc_, obj.b_dec_ = arrays["W_enc"], arrays["b_dec"]
        obj.steps_since_fired_ = arrays["steps_since_fired"]
        obj.history_ = meta["attributes"]["history_"]
        obj.n_iter_ = meta["attributes"]["n_iter_"]
        obj.optim_m = arrays.get("optim.W_enc.m")
        obj.rng = np.random.default_rng()
        if "training" in meta:
            obj.rng.bit_generator.state = meta["training"]["rng"]
        obj.training = meta.get("training")
        return obj


@pytest.fixture(autouse=True)
def _register_fake(monkeypatch):
    monkeypatch.setitem(kio._CLASSES, "FakeModel", lambda: FakeModel)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_fake(tmp_path, dtype):
    m = FakeModel(dtype=dtype)
    p = save(m, tmp_path / "m.safetensors")
    assert p == tmp_path / "m.safetensors"
    r = load(p)
    assert isinstance(r, FakeModel)
    assert r.W_enc_.dtype == np.dtype(dtype) and r.W_enc_.flags.writeable
    np.testing.assert_array_equal(r.W_enc_, m.W_enc_)
    np.testing.assert_array_equal(r.steps_since_fired_, m.steps_since_fired_)
    assert r.history_ == m.history_ and r.n_iter_ == 2 and r.k == 2
    assert r.optim_m is None and r.training is None  # not a checkpoint


def test_checkpoint_holds_optimizer_rng_and_position(tmp_path):
    m = FakeModel()
    m.rng.random(5)  # advance
    save(m, tmp_path / "c.safetensors", checkpoint=True)
    r = load(tmp_path / "c.safetensors")
    np.testing.assert_array_equal(r.optim_m, m.optim_m)
    assert r.training["step"] == 40 and r.training["optimizer"]["t"] == 40
    assert r.rng.random() == m.rng.random()
    md = read_metadata(tmp_path / "c.safetensors")
    assert md["kind"] == "checkpoint"


def test_metadata_contents(tmp_path):
    from safetensors import safe_open

    from ksparse import __version__

    save(FakeModel(), tmp_path / "m.safetensors")
    md = read_metadata(tmp_path / "m.safetensors")
    assert md["format_version"] == FORMAT_VERSION and md["ksparse_version"] == __version__
    assert md["kind"] == "model"
    assert md["meta"]["params"] == {"n_hidden": 4, "k": 2, "dtype": "float32", "seed": 0}
    assert md["training_summary"]["epochs"] == 2 and md["training_summary"]["final_loss"] == 0.25
    assert md["training_summary"]["n_iter"] == 2
    assert md["training_summary"]["train_seconds"] == pytest.approx(0.3)
    assert set(md["sha256"]) == {"W_enc", "b_dec", "steps_since_fired"}
    # A standard safetensors file that other tools can open.
    with safe_open(str(tmp_path / "m.safetensors"), framework="numpy") as f:
        assert set(f.keys()) == {"W_enc", "b_dec", "steps_since_fired"}
        assert f.metadata()["format"] == "ksparse"


def test_save_rejects_non_models(tmp_path):
    with pytest.raises(TypeError, match="KSparseAutoencoder"):
        save(object(), tmp_path / "x.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(FakeModel(), tmp_path / "no" / "x.safetensors")


def test_checkpoint_needs_training_state(tmp_path):
    class NoTraining(FakeModel):
        def _get_state(self, include_optimizer):
            return super()._get_state(False)

    with pytest.raises(ValueError, match="no training state"):
        save(NoTraining(), tmp_path / "x.safetensors", checkpoint=True)


# ------------------------------------------------------------------- bad files


def _saved(tmp_path):
    p = tmp_path / "m.safetensors"
    save(FakeModel(), p)
    return p


def test_truncated_file(tmp_path):
    p = _saved(tmp_path)
    data = p.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 40, 5):
        p.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="truncated"):
            load(p)


def test_tampered_tensor_detected(tmp_path):
    p = _saved(tmp_path)
    data = bytearray(p.read_bytes())
    data[-1] ^= 0x01  # last byte of the tensor data
    p.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum mismatch for tensor"):
        load(p)


def _rewrite_metadata(p, change, rehash=True):
    """Edit a saved file's metadata; with ``rehash`` recompute its checksum, as an editor could."""
    from ksparse.io import _header_digest

    data = p.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    change(header["__metadata__"])
    if rehash:
        header["__metadata__"]["header_sha256"] = _header_digest(header["__metadata__"])
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    p.write_bytes(struct.pack("<Q", len(new)) + new + data[8 + n:])


def test_tampered_checksum_detected(tmp_path):
    p = _saved(tmp_path)

    def change(md):
        sums = json.loads(md["sha256"])
        sums["b_dec"] = "0" * 64
        md["sha256"] = json.dumps(sums)

    _rewrite_metadata(p, change)
    with pytest.raises(ModelFileError, match="'b_dec'"):
        load(p)


def test_newer_format_refused(tmp_path):
    p = _saved(tmp_path)
    _rewrite_metadata(p, lambda md: md.update(format_version=str(FORMAT_VERSION + 1), ksparse_version="9.0"))
    with pytest.raises(ModelFileError, match=f"format version {FORMAT_VERSION + 1} by ksparse 9.0.*Upgrade"):
        load(p)


def test_corrupt_header_and_foreign_files(tmp_path):
    from safetensors.numpy import save as st_save

    p = _saved(tmp_path)
    data = bytearray(p.read_bytes())
    data[9] = ord("~")
    p.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(p)
    p.write_bytes(st_save({"a": np.zeros(3, np.float32)}))
    with pytest.raises(ModelFileError, match="not one written by ksparse"):
        load(p)
    p.write_bytes(b"\xff" * 64)
    with pytest.raises(ModelFileError, match="not a safetensors file"):
        load(p)
    with pytest.raises(FileNotFoundError, match="no such model file"):
        load(tmp_path / "missing.safetensors")


def test_unknown_class_refused(tmp_path):
    p = _saved(tmp_path)

    def change(md):
        meta = json.loads(md["meta"])
        meta["class"] = "os.system"
        md["meta"] = json.dumps(meta)

    _rewrite_metadata(p, change)
    with pytest.raises(ModelFileError, match="cannot rebuild"):
        load(p)


def test_trailing_bytes_refused(tmp_path):
    p = _saved(tmp_path)
    p.write_bytes(p.read_bytes() + b"\x00" * 8)
    with pytest.raises(ModelFileError, match="unexpected bytes"):
        load(p)


# ------------------------------------------------------------------ atomicity


def test_crash_mid_write_keeps_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "m.safetensors"
    old = FakeModel(seed=1)
    save(old, p)
    before = p.read_bytes()

    def crash(fh, data, chunk=1 << 20):
        fh.write(data[: len(data) // 2])
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(kio, "_write_all", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        save(FakeModel(seed=2), p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]  # the temporary file is cleaned up
    np.testing.assert_array_equal(load(p).W_enc_, old.W_enc_)


def test_crash_at_fsync_keeps_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "m.safetensors"
    save(FakeModel(seed=1), p)
    before = p.read_bytes()

    def bad_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(kio.os, "fsync", bad_fsync)
    with pytest.raises(OSError, match="disk full"):
        save(FakeModel(seed=2), p)
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["m.safetensors"]


def test_process_killed_mid_write_keeps_previous_file(tmp_path):
    """A hard kill (no clean-up at all) during the write leaves the old file intact."""
    p = tmp_path / "m.safetensors"
    save(FakeModel(seed=1), p)
    before = p.read_bytes()
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        from ksparse import io as kio
        from test_io import FakeModel
        def die(fh, data, chunk=0):
            fh.write(data[:100]); fh.flush(); os._exit(3)
        kio._write_all = die
        kio._CLASSES["FakeModel"] = lambda: FakeModel
        kio.save(FakeModel(seed=2), {str(p)!r})
        """
    )
    res = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), capture_output=True, text=True)
    assert res.returncode == 3, res.stderr
    assert p.read_bytes() == before
    assert isinstance(load(p), FakeModel)


def test_overwrite_replaces(tmp_path):
    p = tmp_path / "m.safetensors"
    save(FakeModel(seed=1), p)
    save(FakeModel(seed=2), p)
    np.testing.assert_array_equal(load(p).W_enc_, FakeModel(seed=2).W_enc_)


# ------------------------------------------- the real estimator and network


@pytest.fixture(scope="module")
def small_X(mnist):
    rng = np.random.default_rng(0)
    return mnist.X_train[rng.permutation(len(mnist.X_train))[:256]], mnist.X_test[:64]


class _Stop(Exception):
    pass


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("checkpoint", [False, True])
def test_estimator_round_trip(tmp_path, small_X, dtype, checkpoint):
    X, X_test = small_X
    model = KSparseAutoencoder(n_hidden=32, k=5, n_epochs=2, batch_size=64, dtype=dtype, random_state=0, n_threads=1)
    model.fit(X.astype(dtype))
    p = save(model, tmp_path / "est.safetensors", checkpoint=checkpoint)
    r = load(p)
    assert type(r) is KSparseAutoencoder and r.get_params() == model.get_params()
    for name in ("W_enc_", "b_enc_", "W_dec_", "b_dec_", "steps_since_fired_"):
        a, b = getattr(model, name), getattr(r, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert r.history_ == model.history_ and r.n_iter_ == model.n_iter_
    assert r.n_features_in_ == model.n_features_in_
    Xt = X_test.astype(dtype)
    np.testing.assert_array_equal(r.transform(Xt), model.transform(Xt))
    md = read_metadata(p)
    assert md["meta"]["class"] == "KSparseAutoencoder" and md["kind"] == ("checkpoint" if checkpoint else "model")
    assert md["training_summary"]["epochs"] == 2
    if checkpoint:
        assert any(k.startswith("optim.") for k in md["sha256"])


@pytest.mark.filterwarnings("ignore::ksparse.ConvergenceWarning")  # four epochs of random data
@pytest.mark.parametrize("optimizer", ["adam", "sparse_adam", "nesterov", "sparse_rmsprop"])
def test_estimator_resume_equals_uninterrupted(tmp_path, small_X, optimizer):
    X, _ = small_X
    params = dict(n_hidden=32, k=5, n_epochs=4, batch_size=64, random_state=3, n_threads=1, optimizer=optimizer)
    full = KSparseAutoencoder(**params).fit(X)

    ckpt = tmp_path / "ckpt.safetensors"

    def interrupt_after_two(est, epoch):
        if len(est.history_["epoch"]) == 2:
            save(est, ckpt, checkpoint=True)
            raise _Stop

    with pytest.raises(_Stop):
        KSparseAutoencoder(**params).fit(X, callback=interrupt_after_two)
    resumed = load(ckpt)
    assert len(resumed.history_["epoch"]) == 2
    resumed.fit(X, resume=True)
    for name in ("W_enc_", "b_enc_", "W_dec_", "b_dec_", "steps_since_fired_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name), err_msg=name)
    assert resumed.history_["loss"] == full.history_["loss"]
    assert resumed.n_iter_ == full.n_iter_


def _network(dtype):
    return Network(
        [KSparseLayer(784, 32, k=5, activation="relu"), DenseLayer(32, 784, activation="linear")],
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_network_round_trip(tmp_path, small_X, dtype):
    X, X_test = small_X
    X, X_test = X.astype(dtype), X_test.astype(dtype)
    net = _network(dtype)
    net.train(X, X, epochs=2, batch_size=64, random_state=0)
    r = load(save(net, tmp_path / "net.safetensors"))
    assert type(r) is type(net) and len(r.layers) == 2 and r.layers[0].k == 5
    for a, b in zip(net.layers, r.layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)
        assert a.activation.name == b.activation.name
    np.testing.assert_array_equal(r.predict(X_test), net.predict(X_test))


def test_network_resume_equals_uninterrupted(tmp_path, small_X):
    X, _ = small_X
    full = _network("float32")
    full.train(X, X, epochs=4, batch_size=64, random_state=1)
    ckpt = tmp_path / "net-ckpt.safetensors"

    def interrupt_after_two(net, epoch):
        if len(net.history_["epoch"]) == 2:
            save(net, ckpt, checkpoint=True)
            raise _Stop

    with pytest.raises(_Stop):
        _network("float32").train(X, X, epochs=4, batch_size=64, random_state=1, callback=interrupt_after_two)
    resumed = load(ckpt)
    resumed.train(X, X, epochs=4, batch_size=64, random_state=1, resume=True)
    for a, b in zip(full.layers, resumed.layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)


def test_saved_file_has_the_permissions_of_a_plain_open(tmp_path):
    path = tmp_path / "plain.bin"
    kio.atomic_write_bytes(path, b"abc")
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~mask)
