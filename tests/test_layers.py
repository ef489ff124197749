"""Tests of ksparse.layers: gradients, training, the sparse path, errors, persistence."""

import json

import numpy as np
import pytest

import ksparse.layers as layers_mod
from ksparse.activations import get_activation
from ksparse.layers import DenseLayer, KSparseLayer, Network

ACTIVATIONS = ["linear", "sigmoid", "relu", "tanh", "leaky_relu", "elu", "swish", "gelu"]


def _data(n=40, n_in=6, n_out=None, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    Y = X if n_out is None else rng.normal(size=(n, n_out)).astype(dtype)
    return X, Y


def _numeric_grads(net, X, Y, eps=1e-6):
    """Central finite differences of net.loss with respect to every parameter."""
    grads = {}
    for i, layer in enumerate(net.layers):
        for pname in ("W", "b"):
            p = getattr(layer, pname)
            g = np.zeros_like(p)
            flat, gflat = p.reshape(-1), g.reshape(-1)
            for j in range(flat.size):
                old = flat[j]
                flat[j] = old + eps
                lp = net.loss(X, Y)
                flat[j] = old - eps
                lm = net.loss(X, Y)
                flat[j] = old
                gflat[j] = (lp - lm) / (2 * eps)
            grads[f"layers.{i}.{pname}"] = g
    return grads


def _check_gradients(net, X, Y):
    loss, grads = net.loss_and_gradients(X, Y)
    assert loss == pytest.approx(net.loss(X, Y), rel=1e-12)
    numeric = _numeric_grads(net, X, Y)
    assert set(grads) == set(numeric)
    for name in grads:
        np.testing.assert_allclose(grads[name], numeric[name], rtol=1e-5, atol=1e-8, err_msg=name)
    # the gradient is not trivially zero
    assert any(np.abs(g).max() > 1e-4 for g in grads.values())


def _smooth_activation_kwargs(name):
    return {"activation": get_activation(name, alpha=0.2)} if name in ("leaky_relu", "elu") else {"activation": name}


@pytest.mark.parametrize("by", ["value", "abs"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_gradient_sparse_then_dense(act, by):
    X, Y = _data(n=7, n_in=5, n_out=4, seed=1)
    net = Network(
        [KSparseLayer(5, 8, k=3, by=by, **_smooth_activation_kwargs(act)), DenseLayer(8, 4)],
        dtype="float64",
    ).initialize(random_state=2)
    _check_gradients(net, X, Y)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "gelu"])
def test_gradient_dense_sparse_dense_with_output_activation(act):
    # a dense layer before the sparse one receives the sparse layer's input gradient
    X, Y = _data(n=6, n_in=4, n_out=3, seed=3)
    net = Network(
        [DenseLayer(4, 6, activation=act), KSparseLayer(6, 7, k=2, activation="elu"), DenseLayer(7, 3, activation=act)],
        dtype="float64",
    ).initialize(random_state=4)
    _check_gradients(net, X, Y)


def test_gradient_two_sparse_layers_and_sparse_output():
    # KSparse -> KSparse (densified in between) and a sparse code at the very end
    X, Y = _data(n=5, n_in=4, n_out=6, seed=5)
    net = Network(
        [KSparseLayer(4, 7, k=4, activation="tanh"), KSparseLayer(7, 6, k=3, activation="linear", by="abs")],
        dtype="float64",
    ).initialize(random_state=6)
    _check_gradients(net, X, Y)


def _reference_forward_backward(net, X, Y):
    """Dense numpy reference for [KSparseLayer, DenseLayer]: masks instead of codes."""
    enc, dec = net.layers
    Z = X @ enc.W.T + enc.b
    A = enc.activation.forward(Z)
    key = np.abs(A) if enc.by == "abs" else A
    order = np.argsort(-key, axis=1, kind="stable")[:, : enc.k]
    mask = np.zeros_like(A, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    H = np.where(mask, A, 0.0)
    out_pre = H @ dec.W + dec.b
    out = dec.activation.forward(out_pre)
    G = 2 * (out - Y) / Y.size
    dpre = G * dec.activation.derivative(out_pre)
    grads = {"layers.1.W": H.T @ dpre, "layers.1.b": dpre.sum(0)}
    dH = (dpre @ dec.W.T) * mask
    dZ = dH * enc.activation.derivative(Z)
    grads["layers.0.W"] = dZ.T @ X
    grads["layers.0.b"] = dZ.sum(0)
    return out, float(np.mean((out - Y) ** 2)), grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("by", ["value", "abs"])
def test_sparse_path_equals_dense_reference(dtype, by):
    X, Y = _data(n=33, n_in=12, n_out=9, seed=7, dtype=dtype)
    net = Network(
        [KSparseLayer(12, 20, k=5, activation="swish", by=by), DenseLayer(20, 9, activation="sigmoid")],
        dtype=dtype,
    ).initialize(random_state=8)
    out_ref, loss_ref, grads_ref = _reference_forward_backward(net, X.astype(np.float64), Y.astype(np.float64))
    tol = dict(rtol=2e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-13)
    pred = net.predict(X)
    assert pred.dtype == dtype
    np.testing.assert_allclose(pred, out_ref, **tol)
    loss, grads = net.loss_and_gradients(X, Y)
    assert loss == pytest.approx(loss_ref, rel=1e-4 if dtype == np.float32 else 1e-10)
    for name, g in grads.items():
        assert g.dtype == dtype
        np.testing.assert_allclose(g, grads_ref[name], err_msg=name, **tol)


def test_layer_forward_methods():
    X, _ = _data(n=10, n_in=6, seed=9)
    enc, dec = KSparseLayer(6, 11, k=4), DenseLayer(11, 6, activation="tanh")
    Network([enc, dec], dtype="float64").initialize(random_state=0)
    indices, values = enc.forward(X)
    assert indices.shape == values.shape == (10, 4) and indices.dtype == np.int64
    A = np.maximum(X @ enc.W.T + enc.b, 0)
    np.testing.assert_allclose(values, np.take_along_axis(A, indices, axis=1))
    assert np.all(np.diff(values, axis=1) <= 0)  # descending
    dense = np.zeros((10, 11))
    np.put_along_axis(dense, indices, values, axis=1)
    np.testing.assert_allclose(dec.forward((indices, values)), dec.forward(dense), rtol=1e-12, atol=1e-14)


def test_training_hot_path_never_densifies(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the code was densified")

    monkeypatch.setattr(layers_mod, "codes_to_dense", forbidden)
    X, _ = _data(n=32, n_in=10, seed=10, dtype=np.float32)
    net = Network([KSparseLayer(10, 30, k=4), DenseLayer(30, 10)])
    net.train(X, X, epochs=2, batch_size=8, random_state=0)
    net.predict(X)
    net.loss(X, X)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_training_reduces_the_loss(optimizer):
    rng = np.random.default_rng(11)
    # data on a few sparse directions: a k-sparse autoencoder can fit it well
    basis = rng.normal(size=(12, 24))
    codes = rng.random((300, 12)) * (rng.random((300, 12)) < 0.25)
    X = (codes @ basis).astype(np.float32)
    net = Network([KSparseLayer(24, 32, k=6), DenseLayer(32, 24)])
    net.initialize(random_state=0)
    before = net.loss(X, X)
    lr = 3e-3 if optimizer == "adam" else 0.5
    hist = net.train(X, X, epochs=15, batch_size=32, optimizer=optimizer, learning_rate=lr, random_state=0)
    after = net.loss(X, X)
    assert after < 0.5 * before
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist["epoch"] == list(range(15))  # epochs count from 0, as in the estimator
    assert len(hist["time"]) == 15 and all(t >= 0 for t in hist["time"])
    assert net.epoch_ == 15 and net.n_steps_ == 15 * 10  # ceil(300 / 32) steps per epoch
    assert net.optimizer_ is not None


def test_predict_shapes_and_dtypes():
    X, _ = _data(n=9, n_in=5, seed=12)
    net32 = Network([KSparseLayer(5, 8, k=2), DenseLayer(8, 3)]).initialize(random_state=0)
    out = net32.predict(X)  # float64 input to a float32 network
    assert out.shape == (9, 3) and out.dtype == np.float32
    net64 = Network([KSparseLayer(5, 8, k=2), DenseLayer(8, 3)], dtype="float64").initialize(random_state=0)
    out = net64.predict(X.astype(np.float32))
    assert out.shape == (9, 3) and out.dtype == np.float64
    assert net64.predict(X[:1]).shape == (1, 3)
    # integer input is accepted and converted
    assert net64.predict(np.ones((2, 5), dtype=np.int64)).dtype == np.float64
    # the bias of the output layer starts at the mean target when trained fresh
    Y = np.tile(np.array([[1.0, 2.0, 3.0]]), (9, 1))
    net = Network([KSparseLayer(5, 8, k=2), DenseLayer(8, 3)], dtype="float64")
    net.train(X, Y, epochs=1, batch_size=100, learning_rate=1e-9, random_state=0)
    np.testing.assert_allclose(net.layers[1].b, [1.0, 2.0, 3.0], atol=1e-6)


def test_chunked_predict_equals_one_batch(monkeypatch):
    X, _ = _data(n=50, n_in=5, seed=13)
    net = Network([KSparseLayer(5, 8, k=3), DenseLayer(8, 5)], dtype="float64").initialize(random_state=1)
    full = net.predict(X)
    monkeypatch.setattr(layers_mod, "_PREDICT_CHUNK", 7)
    # BLAS may round a 1-row product differently from a 50-row one
    np.testing.assert_allclose(net.predict(X), full, rtol=1e-12, atol=1e-15)
    assert net.loss(X, X) == pytest.approx(float(np.mean((full - X) ** 2)), rel=1e-12)


def test_reproducible_with_random_state():
    X, _ = _data(n=60, n_in=8, seed=14, dtype=np.float32)

    def run(seed):
        net = Network([KSparseLayer(8, 16, k=3, activation="gelu"), DenseLayer(16, 8)])
        hist = net.train(X, X, epochs=3, batch_size=16, random_state=seed)
        return net, hist

    a, ha = run(5)
    b, hb = run(5)
    c, _ = run(6)
    assert ha == {**hb, "time": ha["time"], "peak_rss_mb": ha["peak_rss_mb"]}  # all but the measurements
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.W, lb.W)
        np.testing.assert_array_equal(la.b, lb.b)
    assert not np.array_equal(a.layers[0].W, c.layers[0].W)


def test_decoder_starts_as_encoder_transpose():
    net = Network([KSparseLayer(7, 5, k=2), DenseLayer(5, 7)]).initialize(random_state=0)
    enc, dec = net.layers
    np.testing.assert_array_equal(dec.W, enc.W)  # W_dec (m, n) == W_enc (m, n)
    assert dec.W is not enc.W
    assert enc.W.shape == (5, 7) and dec.W.shape == (5, 7)
    # a non-autoencoder pair is drawn independently
    net = Network([KSparseLayer(7, 5, k=2), DenseLayer(5, 3)]).initialize(random_state=0)
    assert net.layers[1].W.shape == (5, 3)


def test_layer_attributes_for_users_and_diagrams():
    enc = KSparseLayer(784, 100, k=20, activation="tanh", by="abs")
    dec = DenseLayer(100, 784)
    net = Network([enc, dec])
    assert net.layers == [enc, dec]
    assert (enc.n_in, enc.n_out, enc.k, enc.by) == (784, 100, 20, "abs")
    assert enc.activation.name == "tanh" and dec.activation.name == "linear"
    assert (net.n_in, net.n_out) == (784, 784)
    assert not net.initialized and enc.W is None
    assert "KSparseLayer(n_in=784, n_out=100" in repr(net)


def test_shape_chain_error_names_both_layers():
    with pytest.raises(ValueError) as info:
        Network([KSparseLayer(784, 100, k=20), DenseLayer(200, 784)])
    msg = str(info.value)
    assert "layer 0" in msg and "layer 1" in msg
    assert "KSparseLayer 784->100" in msg and "DenseLayer 200->784" in msg
    assert "100" in msg and "200" in msg


def test_constructor_errors():
    with pytest.raises(ValueError, match="k=0 must be between 1 and n_out=5"):
        KSparseLayer(3, 5, k=0)
    with pytest.raises(ValueError, match="k=6 must be between 1 and n_out=5"):
        KSparseLayer(3, 5, k=6)
    with pytest.raises(TypeError, match="k must be an integer"):
        KSparseLayer(3, 5, k=2.5)
    with pytest.raises(ValueError, match="by='top'"):
        KSparseLayer(3, 5, k=2, by="top")
    with pytest.raises(ValueError, match="unknown activation"):
        DenseLayer(3, 5, activation="softmax")
    with pytest.raises(ValueError, match="n_in=0"):
        DenseLayer(0, 5)
    with pytest.raises(TypeError, match="n_out"):
        DenseLayer(3, "5")
    with pytest.raises(ValueError, match="non-empty"):
        Network([])
    with pytest.raises(TypeError, match=r"layers\[1\]"):
        Network([DenseLayer(3, 3), "dense"])
    same = DenseLayer(3, 3)
    with pytest.raises(ValueError, match="same object"):
        Network([same, same])
    with pytest.raises(TypeError, match="float32"):
        Network([DenseLayer(3, 3)], dtype="int32")
    with pytest.raises(ValueError, match="n_threads"):
        Network([DenseLayer(3, 3)], n_threads=0)


def test_data_errors():
    net = Network([KSparseLayer(4, 6, k=2), DenseLayer(6, 3)])
    X = np.zeros((5, 4))
    Y = np.zeros((5, 3))
    with pytest.raises(RuntimeError, match="no weights"):
        net.predict(X)
    with pytest.raises(ValueError, match="X has 5 features but the first layer .* expects 4"):
        net.train(np.zeros((5, 5)), Y, epochs=1)
    with pytest.raises(ValueError, match="Y has 4 features but the last layer .* outputs 3"):
        net.train(X, np.zeros((5, 4)), epochs=1)
    with pytest.raises(ValueError, match="same number of samples"):
        net.train(X, np.zeros((4, 3)), epochs=1)
    Xn = X.copy()
    Xn[2, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        net.train(Xn, Y, epochs=1)
    Yn = Y.copy()
    Yn[0, 0] = np.inf
    with pytest.raises(ValueError, match="Y contains NaN or infinity"):
        net.train(X, Yn, epochs=1)
    with pytest.raises(ValueError, match="empty"):
        net.train(np.zeros((0, 4)), np.zeros((0, 3)), epochs=1)
    with pytest.raises(ValueError, match="2-D"):
        net.train(np.zeros(4), Y, epochs=1)
    with pytest.raises(ValueError, match="epochs=0"):
        net.train(X, Y, epochs=0)
    with pytest.raises(ValueError, match="batch_size=-1"):
        net.train(X, Y, epochs=1, batch_size=-1)
    with pytest.raises(ValueError, match="learning_rate"):
        net.train(X, Y, epochs=1, learning_rate=float("nan"))
    with pytest.raises(TypeError, match="optimizer"):
        net.train(X, Y, epochs=1, optimizer=None)
    # nothing was trained or initialised by the failed calls
    assert not net.initialized and net.history_ is None


def test_divergence_stops_with_clear_error_and_keeps_finite_weights():
    X, _ = _data(n=64, n_in=6, seed=15, dtype=np.float32)
    X *= 1e3
    net = Network([KSparseLayer(6, 12, k=3, activation="linear"), DenseLayer(12, 6)])
    net.train(X, X, epochs=1, batch_size=64, optimizer="sgd", learning_rate=1e-12, random_state=0)
    with pytest.raises(FloatingPointError, match="diverged"):
        net.train(X, X, epochs=50, batch_size=8, optimizer="sgd", learning_rate=1e3, random_state=0)
    for layer in net.layers:
        assert np.isfinite(layer.W).all() and np.isfinite(layer.b).all()
    with pytest.raises(ValueError, match="no saved run"):
        net.train(X, X, epochs=1, batch_size=8, optimizer="sgd", learning_rate=1e3, resume=True)


def test_verbose_shows_progress(capsys):
    X, _ = _data(n=20, n_in=4, seed=16, dtype=np.float32)
    net = Network([KSparseLayer(4, 6, k=2), DenseLayer(6, 4)])
    net.train(X, X, epochs=2, batch_size=10, random_state=0, verbose=True)
    err = capsys.readouterr().err
    assert "loss" in err
    net.train(X, X, epochs=1, batch_size=10, random_state=0, verbose=False)
    assert capsys.readouterr().err == ""


def _assert_same_network(a, b):
    assert a.get_config() == b.get_config()
    for la, lb in zip(a.layers, b.layers):
        assert type(la) is type(lb)
        assert la.W.dtype == lb.W.dtype
        np.testing.assert_array_equal(la.W, lb.W)
        np.testing.assert_array_equal(la.b, lb.b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_persistence_round_trip(dtype):
    X, _ = _data(n=30, n_in=6, seed=17, dtype=np.float32)
    net = Network(
        [
            KSparseLayer(6, 10, k=3, activation=get_activation("leaky_relu", alpha=0.05), by="abs"),
            DenseLayer(10, 6, activation="tanh"),
        ],
        dtype=dtype,
    )
    net.train(X, X, epochs=2, batch_size=8, random_state=0)
    arrays, meta = net._get_state(include_optimizer=False)
    json.dumps(meta)  # JSON-able
    assert meta["class"] == "Network"
    assert meta["params"]["layers"][0] == {
        "class": "KSparseLayer",
        "n_in": 6,
        "n_out": 10,
        "activation": {"name": "leaky_relu", "alpha": 0.05},
        "k": 3,
        "by": "abs",
    }
    assert set(arrays) == {"layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b"}
    assert "training" not in meta
    copy = Network._from_state({k: v.copy() for k, v in arrays.items()}, json.loads(json.dumps(meta)))
    _assert_same_network(net, copy)
    assert copy.layers[0].activation == net.layers[0].activation
    assert copy.history_ == net.history_ and copy.epoch_ == 2
    np.testing.assert_array_equal(copy.predict(X), net.predict(X))


def test_persistence_of_an_untrained_network():
    net = Network([KSparseLayer(6, 10, k=3), DenseLayer(10, 2)])
    arrays, meta = net._get_state(include_optimizer=True)
    assert arrays == {}
    json.dumps(meta)
    copy = Network._from_state(arrays, meta)
    assert not copy.initialized and copy.get_config() == net.get_config()


def test_from_state_rejects_bad_input():
    net = Network([KSparseLayer(6, 10, k=3), DenseLayer(10, 2)]).initialize(random_state=0)
    arrays, meta = net._get_state(include_optimizer=False)
    with pytest.raises(ValueError, match="not a 'Network'"):
        Network._from_state(arrays, {**meta, "class": "KSparseAutoencoder"})
    broken = dict(arrays)
    del broken["layers.1.b"]
    with pytest.raises(ValueError, match="layers.1.b"):
        Network._from_state(broken, meta)
    wrong = {**arrays, "layers.0.W": np.zeros((3, 3), dtype=np.float32)}
    with pytest.raises(ValueError, match="expected W"):
        Network._from_state(wrong, meta)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "nesterov", "sparse_adam"])
def test_checkpoint_resume_equals_uninterrupted(optimizer):
    X, _ = _data(n=50, n_in=6, seed=18, dtype=np.float32)

    def make():
        return Network([KSparseLayer(6, 12, k=3, activation="gelu"), DenseLayer(12, 6)])

    kwargs = dict(batch_size=8, optimizer=optimizer, learning_rate=1e-2, random_state=3,
                  lr_schedule="cosine", warmup_fraction=0.1)
    full = make()
    full.train(X, X, epochs=5, **kwargs)

    saved = {}

    class Interrupted(Exception):
        pass

    def callback(net, epoch):
        if epoch == 1:  # epochs count from 0: two are done
            arrays, meta = net._get_state(include_optimizer=True)
            saved["arrays"] = {k: v.copy() for k, v in arrays.items()}
            saved["meta"] = json.loads(json.dumps(meta))
            raise Interrupted

    part = make()
    with pytest.raises(Interrupted):
        part.train(X, X, epochs=5, callback=callback, **kwargs)
    assert saved["meta"]["training"]["state"]["epoch"] == 2  # the engine's checkpoint layout
    assert saved["meta"]["training"]["run"]["batch_size"] == 8
    if optimizer != "sgd":
        assert any(k.startswith("optim.") for k in saved["arrays"])

    resumed = Network._from_state(saved["arrays"], saved["meta"])
    # a checkpoint in the layout of ksparse 0.1 (training position flat, generator state flat) loads the same
    tr = saved["meta"]["training"]
    rng = tr["rng"]
    old_meta = dict(saved["meta"], training={
        "epoch": tr["state"]["epoch"], "step": tr["state"]["step"], "run": tr["run"],
        "rng_state": {"bit_generator": "PCG64", "state": rng["state"]["state"], "inc": rng["state"]["inc"],
                      "has_uint32": int(rng["has_uint32"]), "uinteger": int(rng["uinteger"])},
        "optimizer_scalars": tr["optimizer"]["scalars"] if tr["optimizer"] else None})
    old = Network._from_state(saved["arrays"], old_meta)
    assert old.epoch_ == resumed.epoch_ and old.n_steps_ == resumed.n_steps_
    assert old._rng.bit_generator.state == resumed._rng.bit_generator.state
    with pytest.raises(ValueError, match="batch_size"):
        resumed.train(X, X, epochs=5, **{**kwargs, "batch_size": 4}, resume=True)
    hist = resumed.train(X, X, epochs=5, **kwargs, resume=True)
    _assert_same_network(full, resumed)
    assert hist["epoch"] == [0, 1, 2, 3, 4]
    assert hist["loss"] == full.history_["loss"]
    assert resumed.n_steps_ == full.n_steps_


def test_resume_requires_a_saved_run():
    X, _ = _data(n=10, n_in=4, seed=19, dtype=np.float32)
    net = Network([KSparseLayer(4, 6, k=2), DenseLayer(6, 4)])
    with pytest.raises(ValueError, match="checkpoint"):
        net.train(X, X, epochs=2, resume=True)


def test_further_training_continues_the_history():
    X, _ = _data(n=20, n_in=4, seed=20, dtype=np.float32)
    net = Network([KSparseLayer(4, 6, k=2), DenseLayer(6, 4)])
    net.train(X, X, epochs=2, batch_size=5, random_state=0)
    W_before = net.layers[0].W.copy()
    hist = net.train(X, X, epochs=3, batch_size=5, random_state=1)
    assert hist["epoch"] == [0, 1, 2, 3, 4] and net.epoch_ == 5
    assert not np.array_equal(net.layers[0].W, W_before)  # kept the weights and trained further


def test_lazy_optimizer_gets_the_selected_rows(monkeypatch):
    X, _ = _data(n=40, n_in=6, seed=21)
    seen = []
    real_make = layers_mod.make_optimizer

    def spying_make(*args, **kwargs):
        opt = real_make(*args, **kwargs)
        step = opt.step

        def spy(params, grads, *, rows=None):
            seen.append({k: v.copy() for k, v in (rows or {}).items()})
            step(params, grads, rows=rows)

        opt.step = spy
        return opt

    monkeypatch.setattr(layers_mod, "make_optimizer", spying_make)

    def run(optimizer):
        net = Network([KSparseLayer(6, 15, k=2), DenseLayer(15, 6)], dtype="float64")
        net.train(X, X, epochs=3, batch_size=8, optimizer=optimizer, learning_rate=0.3, random_state=0)
        return net

    dense = run("sgd")
    assert all(rows == {} for rows in seen)
    seen.clear()
    lazy = run("sparse_sgd")
    assert len(seen) == 15
    for rows in seen:
        assert set(rows) == {"layers.0.W", "layers.0.b", "layers.1.W"}
        assert len(rows["layers.0.W"]) <= 8 * 2
        np.testing.assert_array_equal(rows["layers.0.W"], np.unique(rows["layers.0.W"]))
    # for SGD, skipping rows whose gradient is zero changes nothing
    for a, b in zip(dense.layers, lazy.layers):
        np.testing.assert_allclose(a.W, b.W, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(a.b, b.b, rtol=1e-12, atol=1e-14)


def test_layer_forward_checks_its_input():
    enc, dec = KSparseLayer(6, 11, k=4), DenseLayer(11, 6)
    with pytest.raises(RuntimeError, match="no weights"):
        enc.forward(np.zeros((2, 6)))
    with pytest.raises(RuntimeError, match="no weights"):
        dec.forward((np.zeros((2, 4), dtype=np.int64), np.zeros((2, 4))))
    Network([enc, dec]).initialize(random_state=0)  # float32 weights
    indices, values = enc.forward(np.ones((2, 6)))  # float64 input is converted
    assert values.dtype == np.float32
    assert dec.forward((indices, values.astype(np.float64))).dtype == np.float32
    with pytest.raises(ValueError, match="X has 5 features but KSparseLayer 6->11"):
        enc.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="indices"):
        dec.forward((indices + 11, values))
    with pytest.raises(ValueError, match="same shape"):
        dec.forward((indices[:, :2], values))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unchecked_ops_match_the_public_wrappers(dtype):
    """ksparse._model_ops, the unchecked layer under the layers and the steps."""
    from ksparse import _model_ops as ops
    from ksparse.sparse import sparse_decode, sparse_decode_backward, sparse_encoder_backward
    from ksparse.topk import topk

    rng = np.random.default_rng(22)
    B, m, n, k = 9, 13, 7, 4
    A = rng.normal(size=(B, m)).astype(dtype)
    for by in ("value", "abs"):
        v, i = ops.topk_rows(A, k, by, n_threads=2)
        v_ref, i_ref = topk(A, k, by=by)
        np.testing.assert_array_equal(i, i_ref)
        np.testing.assert_array_equal(v, v_ref)
    idx, vals = i, v
    W = rng.normal(size=(m, n)).astype(dtype)
    b = rng.normal(size=n).astype(dtype)
    G = rng.normal(size=(B, n)).astype(dtype)
    np.testing.assert_array_equal(ops.decode(idx, vals, W, b), sparse_decode(idx, vals, W, b))
    np.testing.assert_array_equal(ops.decode(idx, vals, W), sparse_decode(idx, vals, W))
    dW = np.zeros_like(W)
    dv = ops.decode_backward(idx, vals, W, G, dW)
    dW_ref, dv_ref = sparse_decode_backward(idx, vals, W, G)
    np.testing.assert_array_equal(dW, dW_ref)
    np.testing.assert_array_equal(dv, dv_ref)
    Xc = rng.normal(size=(B, n)).astype(dtype)
    dW = np.zeros_like(W)
    db = np.zeros(m, dtype=dtype)
    ops.encoder_backward(idx, vals, Xc, dW, db)
    dW_ref, db_ref = sparse_encoder_backward(idx, vals, Xc, m=m)
    np.testing.assert_array_equal(dW, dW_ref)
    np.testing.assert_array_equal(db, db_ref)
    A[3, 2] = np.nan
    with pytest.raises(FloatingPointError, match="NaN or infinity"):
        ops.topk_rows(A, k)


def test_predict_reports_overflowing_weights():
    net = Network([KSparseLayer(4, 6, k=2), DenseLayer(6, 4)]).initialize(random_state=0)
    net.layers[0].W[:] = 3e38
    with pytest.raises(FloatingPointError, match="KSparseLayer 4->6"):
        with np.errstate(over="ignore"):
            net.predict(np.ones((2, 4)))


def test_learning_rate_schedule(monkeypatch):
    X, _ = _data(n=30, n_in=5, seed=23, dtype=np.float32)
    lrs = []
    real_make = layers_mod.make_optimizer

    def spying_make(*args, **kwargs):
        opt = real_make(*args, **kwargs)
        step = opt.step

        def spy(params, grads, *, rows=None):
            lrs.append(opt.lr)
            step(params, grads, rows=rows)

        opt.step = spy
        return opt

    monkeypatch.setattr(layers_mod, "make_optimizer", spying_make)
    net = Network([KSparseLayer(5, 8, k=2), DenseLayer(8, 5)])
    # 3 batches per epoch, 4 epochs: 12 steps, 3 of warm-up, then linear decay to 0
    net.train(X, X, epochs=4, batch_size=10, learning_rate=0.01, lr_schedule="linear",
              warmup_fraction=0.25, random_state=0)
    expected = [0.01 * (i + 1) / 3 for i in range(3)] + [0.01 * (12 - i) / 9 for i in range(3, 12)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    lrs.clear()
    net.train(X, X, epochs=1, batch_size=10, learning_rate=0.01, lr_schedule="constant", warmup_fraction=0.0,
              random_state=0)
    assert lrs == [0.01] * 3
    with pytest.raises(ValueError, match="warmup_fraction"):
        net.train(X, X, epochs=1, warmup_fraction=1.5)
    with pytest.raises(ValueError):
        net.train(X, X, epochs=1, lr_schedule="exponential")


def test_quickstart_example_runs(capsys):
    import pathlib
    import runpy

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "layers_quickstart.py"
    main = runpy.run_path(str(path))["main"]
    mse = main(epochs=1)
    out = capsys.readouterr().out
    assert "test MSE on the first 1000 test images" in out
    assert 0 < mse < 0.0367  # one epoch (about 0.026) already beats the original project's k=20 figure


def test_single_dense_layer_is_linear_regression():
    rng = np.random.default_rng(24)
    X = rng.normal(size=(200, 3))
    true_W = np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]])
    Y = X @ true_W + np.array([0.3, -0.1])
    net = Network([DenseLayer(3, 2)], dtype="float64")
    net.train(X, Y, epochs=300, batch_size=50, learning_rate=0.05, random_state=0)
    np.testing.assert_allclose(net.layers[0].W, true_W, atol=1e-3)
    np.testing.assert_allclose(net.layers[0].b, [0.3, -0.1], atol=1e-3)


@pytest.mark.parametrize("optimizer", ["adam", "sparse_adam"])
def test_two_threads_match_one(optimizer):
    X, _ = _data(n=96, n_in=12, seed=25, dtype=np.float32)

    def run(n_threads):
        net = Network([KSparseLayer(12, 40, k=5), DenseLayer(40, 12)], n_threads=n_threads)
        net.train(X, X, epochs=2, batch_size=32, optimizer=optimizer, random_state=0)
        return net

    a, b = run(1), run(2)
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_allclose(la.W, lb.W, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(la.b, lb.b, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(a.layers[0].forward(X)[0], b.layers[0].forward(X, n_threads=2)[0])
