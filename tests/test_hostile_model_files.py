"""Hostile model files, checkpoints and parameter changes.

Every file here is crafted as an attacker or a careless editor would make it: the
tensors or the metadata are changed and every checksum recomputed, so that only the
library's own checks of shapes, dtypes and values stand between the file and the
compiled kernels. Each case must end in ``ModelFileError`` (or, for a parameter
changed in memory, a ``ValueError``) naming the problem; none may reach a kernel.
"""

import hashlib
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import ksparse
from ksparse import KSparseAutoencoder, load, save
from ksparse.io import ModelFileError, _header_digest
from ksparse.layers import DenseLayer, KSparseLayer, Network

M, N, K = 8, 12, 2


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((64, N)).astype(np.float32)


def _fitted(data, **params):
    base = dict(n_epochs=2, batch_size=16, random_state=0)
    base.update(params)
    return KSparseAutoencoder(M, K, **base).fit(data)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("files") / "model.safetensors"
    save(_fitted(data), p)
    return p


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("files") / "ckpt.safetensors"
    save(_fitted(data), p, checkpoint=True)
    return p


def _read(p):
    raw = p.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    md = json.loads(raw[8:8 + n])["__metadata__"]
    return dict(st_load(raw)), md


def _write(p, tensors, md):
    """Write a file with every checksum recomputed, as an editor of the file could."""
    md = dict(md)
    md["sha256"] = json.dumps({k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
                               for k, v in tensors.items()})
    md["header_sha256"] = _header_digest(md)
    p.write_bytes(st_save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=md))


def _craft(src, dst, tensors=None, meta=None, drop=()):
    """Copy ``src`` to ``dst`` with tensors replaced and ``meta`` changed by a function."""
    t, md = _read(src)
    t.update(tensors or {})
    for key in drop:
        t.pop(key)
    if meta is not None:
        m = json.loads(md["meta"])
        meta(m)
        md["meta"] = json.dumps(m)
    _write(dst, t, md)
    return dst


def _set(path, value):
    """A meta editor setting ``meta[path[0]][path[1]]... = value``."""
    def edit(m):
        d = m
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value
    return edit


# ------------------------------------------------------------------ tensors that disagree
CUT_TENSORS = ["W_enc", "W_dec", "b_enc", "b_dec", "steps_since_fired"]


@pytest.mark.parametrize("name", CUT_TENSORS)
@pytest.mark.parametrize("which", ["model", "checkpoint"])
def test_tensor_cut_to_one_row_is_refused(name, which, model_file, checkpoint_file, tmp_path):
    src = model_file if which == "model" else checkpoint_file
    t, _ = _read(src)
    p = _craft(src, tmp_path / "bad.safetensors", tensors={name: t[name][:1].copy()})
    with pytest.raises(ModelFileError, match=name):
        load(p)


@pytest.mark.parametrize("name,dtype", [("W_enc", np.float64), ("b_dec", np.float16), ("W_dec", np.int32),
                                        ("steps_since_fired", np.float32)])
def test_tensor_of_wrong_dtype_is_refused(name, dtype, model_file, tmp_path):
    t, _ = _read(model_file)
    p = _craft(model_file, tmp_path / "bad.safetensors", tensors={name: t[name].astype(dtype)})
    with pytest.raises(ModelFileError, match=name):
        load(p)


@pytest.mark.parametrize("name", ["W_enc", "b_dec"])
def test_non_finite_weights_are_refused(name, model_file, tmp_path):
    t, _ = _read(model_file)
    bad = t[name].copy()
    bad.flat[0] = np.nan
    p = _craft(model_file, tmp_path / "bad.safetensors", tensors={name: bad})
    with pytest.raises(ModelFileError, match=f"{name}.*NaN"):
        load(p)


def test_missing_and_extra_tensors_are_refused(model_file, tmp_path):
    with pytest.raises(ModelFileError, match="W_dec"):
        load(_craft(model_file, tmp_path / "a.safetensors", drop=["W_dec"]))
    with pytest.raises(ModelFileError, match="unexpected tensors"):
        load(_craft(model_file, tmp_path / "b.safetensors", tensors={"evil": np.zeros(3, np.float32)}))


def test_negative_firing_counters_are_refused(model_file, tmp_path):
    p = _craft(model_file, tmp_path / "bad.safetensors", tensors={"steps_since_fired": -np.ones(M, np.int64)})
    with pytest.raises(ModelFileError, match="steps_since_fired"):
        load(p)


# ------------------------------------------------------------------ hostile params and metadata
BAD_PARAMS = [
    ({"n_hidden": 20, "k": 15}, "n_hidden=20"),
    ({"n_hidden": -5}, "n_hidden=-5"),
    ({"k": "3"}, "k"),
    ({"k": 3.7}, "k"),
    ({"k": 9}, "k=9"),
    ({"activation": "evil"}, "evil"),
    ({"selection": "valte"}, "selection='valte'"),
    ({"dtype": "float64"}, "dtype"),
    ({"optimizer": "nope"}, "nope"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"n_threads": 0}, "n_threads"),
    ({"batch_size": 0}, "batch_size"),
    ({"output_bounds": "sideways"}, "output_bounds"),
    ({"evil_param": 1}, "evil_param"),
]


@pytest.mark.parametrize("change,match", BAD_PARAMS, ids=[str(c) for c, _ in BAD_PARAMS])
def test_hostile_params_are_refused(change, match, checkpoint_file, tmp_path):
    def edit(m):
        m["params"].update(change)
    p = _craft(checkpoint_file, tmp_path / "bad.safetensors", meta=edit)
    with pytest.raises(ModelFileError, match=match):
        load(p)


BAD_ATTRIBUTES = [
    (("attributes", "n_features_in_"), 5, "n_features_in_"),
    (("attributes", "n_features_in_"), "12", "n_features_in_"),
    (("attributes", "n_iter_"), -1, "n_iter_"),
    (("attributes", "output_bounds_"), [1.0, 0.0], "output_bounds"),
    (("attributes", "output_bounds_"), "auto", "output_bounds_"),
    (("attributes", "history_"), {"loss": ["x"]}, "history_"),
    (("attributes", "history_"), [1, 2], "history_"),
    (("attributes",), [], "attributes"),
    (("params",), None, "params"),
]


@pytest.mark.parametrize("path,value,match", BAD_ATTRIBUTES, ids=[f"{p[-1]}={v!r}" for p, v, _ in BAD_ATTRIBUTES])
def test_hostile_attributes_are_refused(path, value, match, model_file, tmp_path):
    p = _craft(model_file, tmp_path / "bad.safetensors", meta=_set(path, value))
    with pytest.raises(ModelFileError, match=match):
        load(p)


BAD_TRAINING = [
    (("training", "state", "epoch"), -3, "epoch"),
    (("training", "state", "step"), "7", "step"),
    (("training", "state", "split_seed"), 2**70, "split_seed"),
    (("training", "state", "done"), "yes", "done"),
    (("training", "state"), {}, "missing keys"),
    (("training", "rng"), {"bit_generator": "MT19937"}, "PCG64"),
    (("training", "rng", "state", "state"), "not a number", "generator"),
    (("training", "optimizer", "name"), "sgd", "optimizer"),
    (("training", "optimizer", "scalars", "eps"), 0.0, "eps"),
    (("training", "optimizer", "scalars", "beta1"), 1.5, "beta1"),
    (("training", "optimizer", "scalars", "t"), -1, "t="),
    (("training",), "x", "training"),
]


@pytest.mark.parametrize("path,value,match", BAD_TRAINING, ids=[f"{'.'.join(p[1:])}={v!r}"[:60] for p, v, _ in BAD_TRAINING])
def test_hostile_checkpoint_state_is_refused(path, value, match, checkpoint_file, tmp_path):
    p = _craft(checkpoint_file, tmp_path / "bad.safetensors", meta=_set(path, value))
    with pytest.raises(ModelFileError, match=match):
        load(p)


@pytest.mark.parametrize("name", ["m.W_enc", "v.W_dec", "m.b_enc", "v.b_dec"])
def test_optimizer_moment_of_wrong_shape_is_refused(name, checkpoint_file, tmp_path):
    t, _ = _read(checkpoint_file)
    key = "optim." + name
    p = _craft(checkpoint_file, tmp_path / "bad.safetensors", tensors={key: t[key][:1].copy()})
    with pytest.raises(ModelFileError, match=name):
        load(p)


def test_negative_second_moment_is_refused(checkpoint_file, tmp_path):
    t, _ = _read(checkpoint_file)
    v = t["optim.v.W_enc"].copy()
    v[0, 0] = -1.0
    p = _craft(checkpoint_file, tmp_path / "bad.safetensors", tensors={"optim.v.W_enc": v})
    with pytest.raises(ModelFileError, match="v.W_enc"):
        load(p)


def test_metadata_bit_flip_is_caught_by_its_checksum(model_file, tmp_path):
    raw = model_file.read_bytes()
    flipped = raw.replace(b'\\"selection\\": \\"value\\"', b'\\"selection\\": \\"valte\\"', 1)
    assert flipped != raw
    p = tmp_path / "flip.safetensors"
    p.write_bytes(flipped)
    with pytest.raises(ModelFileError, match="checksum mismatch for the metadata"):
        load(p)


def test_deeply_nested_metadata_is_refused(model_file, tmp_path):
    t, md = _read(model_file)
    md = dict(md)
    md["training_summary"] = "[" * 100_000 + "]" * 100_000
    _write(tmp_path / "deep.safetensors", t, md)
    with pytest.raises(ModelFileError, match="nested too deeply"):
        load(tmp_path / "deep.safetensors")


def test_deeply_nested_header_is_refused(tmp_path):
    header = ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()
    p = tmp_path / "deep.safetensors"
    p.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(ModelFileError, match="nested too deeply"):
        load(p)


def test_version_1_files_still_load(model_file, tmp_path):
    """Files of ksparse 0.1 (format version 1, no metadata checksum) load, validated."""
    t, md = _read(model_file)
    md = dict(md)
    md["format_version"] = "1"
    md.pop("header_sha256")
    p = tmp_path / "v1.safetensors"
    p.write_bytes(st_save(t, metadata=md))
    model = load(p)
    assert model.W_enc_.shape == (M, N)


# ------------------------------------------------------------------ what a loaded file may do
def test_loaded_plain_model_trains_with_partial_fit(model_file, data):
    model = load(model_file)
    before = model.W_dec_.copy()
    model.partial_fit(data)
    assert not np.array_equal(before, model.W_dec_)
    assert len(model.history_["loss"]) == model.n_iter_


def test_loaded_checkpoint_resumes(checkpoint_file, data):
    model = load(checkpoint_file)
    model.set_params(n_epochs=3)
    model.fit(data, resume=True)
    assert model.n_iter_ == 3


# ------------------------------------------------------------------ parameters changed after fit
@pytest.mark.parametrize("change,match", [
    ({"n_hidden": 20, "k": 15}, "n_hidden=20 does not match the fitted model's 8 units"),
    ({"n_hidden": 4}, "n_hidden=4 does not match"),
    ({"dtype": "float64"}, "dtype='float64' does not match"),
])
def test_shape_parameter_changed_after_fit_is_refused(change, match, data):
    model = _fitted(data)
    before = model.W_enc_.copy()
    model.set_params(**change)
    with pytest.raises(ValueError, match=match):
        model.partial_fit(data)
    np.testing.assert_array_equal(model.W_enc_, before)
    with pytest.raises(ValueError, match=match):
        model.fit(data, resume=True)
    model.fit(data)  # fit starts anew with the new shape
    assert model.W_enc_.shape[0] == model.n_hidden


def test_k_raised_above_the_fitted_units_is_refused_at_inference(data):
    model = _fitted(data)
    model.k = 15  # set directly, as a careless user might
    with pytest.raises(ValueError, match="k=15 must be between 1 and n_hidden=8"):
        model.transform(data)
    with pytest.raises(ValueError, match="k=15"):
        model.score(data)


@pytest.mark.parametrize("change", [{"k": 6}, {"k_start": 8}, {"auxk_coef": 0.5, "auxk_k": 8},
                                    {"optimizer": "sgd"}, {"optimizer": "adam"}, {"activation": "tanh"},
                                    {"batch_size": 64}, {"n_threads": 2}])
def test_other_parameter_changes_after_fit_train_correctly(change, data):
    """Parameters that do not change the arrays' shapes rebuild the step and keep training."""
    model = _fitted(data)
    model.partial_fit(data)
    model.set_params(**change)
    model.partial_fit(data)
    assert np.isfinite(model.W_enc_).all()
    idx, _ = model.encode(data)
    assert idx.shape == (data.shape[0], model.k)


def test_learned_array_replaced_by_hand_is_refused(data):
    model = _fitted(data)
    model.b_enc_ = np.zeros(1, np.float32)
    with pytest.raises(ValueError, match="b_enc_ has shape"):
        model.partial_fit(data)
    with pytest.raises(ValueError, match="b_enc_ has shape"):
        model.transform(data)


# ------------------------------------------------------------------ networks
@pytest.fixture(scope="module")
def network_file(tmp_path_factory):
    rng = np.random.default_rng(1)
    X = rng.random((32, 6)).astype(np.float32)
    net = Network([KSparseLayer(6, 5, k=2), DenseLayer(5, 6)])
    net.train(X, X, epochs=1, batch_size=8, random_state=0)
    p = tmp_path_factory.mktemp("net") / "net.safetensors"
    save(net, p, checkpoint=True)
    return p


@pytest.mark.parametrize("name", ["layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b"])
def test_network_tensor_cut_is_refused(name, network_file, tmp_path):
    t, _ = _read(network_file)
    p = _craft(network_file, tmp_path / "bad.safetensors", tensors={name: t[name][:1].copy()})
    with pytest.raises(ModelFileError, match=name.rsplit(".", 1)[0]):
        load(p)


@pytest.mark.parametrize("path,value", [
    (("params", "layers", 0, "k"), 50),
    (("params", "layers", 0, "n_out"), 50),
    (("params", "layers", 0, "class"), "EvilLayer"),
    (("params", "n_threads"), -7),
    (("params", "dtype"), "int8"),
    (("attributes", "epoch_"), "x"),
])
def test_network_hostile_params_are_refused(path, value, network_file, tmp_path):
    p = _craft(network_file, tmp_path / "bad.safetensors", meta=_set(path, value))
    with pytest.raises(ModelFileError):
        load(p)


# ------------------------------------------------------------------ saves killed half-way
def test_killed_save_leaves_no_temporary_behind_after_the_next_save(tmp_path, data):
    target = tmp_path / "model.safetensors"
    # a writer killed by SIGKILL after creating its temporary
    code = (
        "import os, signal, tempfile, sys\n"
        "from pathlib import Path\n"
        "t = Path(sys.argv[1])\n"
        "fd, name = tempfile.mkstemp(prefix=f'.{t.name}.{os.getpid()}.', suffix='.tmp', dir=t.parent)\n"
        "os.write(fd, b'x' * 1000)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(target)])
    assert proc.returncode != 0
    leftovers = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert len(leftovers) == 1
    # a temporary of this very process (a save in progress) and one of another target stay
    mine = tmp_path / f".model.safetensors.{os.getpid()}.abcdefgh.tmp"
    mine.write_bytes(b"y")
    other = tmp_path / ".other.safetensors.1.abcdefgh.tmp"
    other.write_bytes(b"z")
    save(_fitted(data), target)
    left = sorted(f for f in os.listdir(tmp_path) if f.endswith(".tmp"))
    assert left == sorted([mine.name, other.name])
    assert isinstance(load(target), KSparseAutoencoder)


def test_library_exports_the_new_warning():
    assert issubclass(ksparse.ConvergenceWarning, UserWarning)
    assert issubclass(ksparse.DivergenceError, FloatingPointError)


@pytest.mark.parametrize("optimizer", ["rmsprop", "sparse_momentum", "adagrad"])
def test_object_optimizer_checkpoints_are_checked(optimizer, data, tmp_path):
    src = tmp_path / "ck.safetensors"
    save(_fitted(data, optimizer=optimizer), src, checkpoint=True)
    t, md = _read(src)
    scalars = json.loads(md["meta"])["training"]["optimizer"]["scalars"]
    slot_key = next(k for k in t if k.startswith("optim.state.W_enc."))
    with pytest.raises(ModelFileError, match="W_enc"):
        load(_craft(src, tmp_path / "a.safetensors", tensors={slot_key: t[slot_key][:1].copy()}))
    if "eps" in scalars:
        with pytest.raises(ModelFileError, match="eps"):
            load(_craft(src, tmp_path / "b.safetensors",
                        meta=_set(("training", "optimizer", "scalars", "eps"), 0.0)))
    with pytest.raises(ModelFileError, match="lr"):
        load(_craft(src, tmp_path / "c.safetensors", meta=_set(("training", "optimizer", "scalars", "lr"), -1.0)))
    model = load(src)
    model.set_params(n_epochs=3)
    model.fit(data, resume=True)
