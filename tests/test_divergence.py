"""Every optimizer stops a diverging run with DivergenceError; a run that learns nothing warns."""

import numpy as np
import pytest

import ksparse
from ksparse import ConvergenceWarning, DivergenceError, KSparseAutoencoder
from ksparse.layers import DenseLayer, KSparseLayer, Network


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return rng.random((256, 20)).astype(np.float32)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "sparse_sgd"])
def test_exploding_optimizers_stop_with_divergence_error_and_keep_good_weights(optimizer, X):
    model = KSparseAutoencoder(16, 4, optimizer=optimizer, learning_rate=1e3, encoder_decay=0.0, n_epochs=5,
                               batch_size=32, random_state=0)
    seen = {}

    def keep(est, epoch):
        seen["W_enc"] = est.W_enc_.copy()

    with pytest.raises(DivergenceError, match="diverged"):
        model.fit(X, callback=keep)
    for name in ("W_enc_", "W_dec_", "b_enc_", "b_dec_"):
        assert np.isfinite(getattr(model, name)).all(), name
    if "W_enc" in seen:  # the weights are those of the last epoch that ended well
        np.testing.assert_array_equal(model.W_enc_, seen["W_enc"])


@pytest.mark.parametrize("optimizer", ["adam", "sparse_adam", "rmsprop", "adagrad"])
def test_a_model_worse_than_the_mean_warns(optimizer, X):
    model = KSparseAutoencoder(16, 4, optimizer=optimizer, learning_rate=100.0, encoder_decay=0.0, n_epochs=2,
                               batch_size=32, random_state=0)
    with pytest.warns(ConvergenceWarning, match="above the data's variance"):
        model.fit(X)


def test_a_model_that_learns_does_not_warn(X):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        KSparseAutoencoder(16, 4, n_epochs=5, batch_size=32, random_state=0).fit(X)


def test_partial_fit_divergence_leaves_the_weights_of_before_the_batch(X):
    model = KSparseAutoencoder(16, 4, optimizer="sgd", learning_rate=1e3, encoder_decay=0.0, batch_size=32,
                               random_state=0)
    with pytest.raises(DivergenceError):
        for _ in range(50):
            before = model.W_enc_.copy() if hasattr(model, "W_enc_") else None
            model.partial_fit(X[:32])
    np.testing.assert_array_equal(model.W_enc_, before)


def test_network_divergence_is_the_same_error(X):
    net = Network([KSparseLayer(20, 16, k=4), DenseLayer(16, 20)])
    with pytest.raises(DivergenceError, match="diverged"):
        net.train(X, X, epochs=20, batch_size=32, optimizer="sgd", learning_rate=1e4, random_state=0)
    assert all(np.isfinite(layer.W).all() for layer in net.layers)
    assert issubclass(ksparse.DivergenceError, FloatingPointError)


def test_most_units_dead_at_the_end_warns(X):
    model = KSparseAutoencoder(64, 1, k_start=1, dead_samples=16, n_epochs=3, batch_size=8, random_state=0)
    with pytest.warns(ConvergenceWarning, match="units are dead at the end"):
        model.fit(X[:64])


def test_a_loss_that_keeps_rising_after_annealing_warns():
    from ksparse.autoencoder import _warn_if_training_failed

    history = {"loss": [1.0, 0.5, 0.4, 0.45, 0.5, 0.6], "dead_fraction": [0.0] * 6}
    with pytest.warns(ConvergenceWarning, match="rose in 3 epochs in a row"):
        _warn_if_training_failed(history, first_epoch=0, anneal_epochs=2)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        _warn_if_training_failed(history, first_epoch=0, anneal_epochs=5)  # the rise is during annealing
        _warn_if_training_failed({"loss": [1.0, 1.01, 1.02, 1.03], "dead_fraction": [0.0]}, 0, 0)  # < 10%


def test_the_progress_bar_says_when_k_anneals():
    from ksparse.engine import _bar_figures

    assert _bar_figures({"loss": 0.5, "mse": 0.4, "k": 80, "_annealing": True})["k"] == "80 (annealing)"
    assert _bar_figures({"loss": 0.5, "k": 20})["k"] == "20"
