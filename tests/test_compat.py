"""Files written by ksparse 0.1.0 still load and work (tests/data/v0.1-*, made by that release)."""

from pathlib import Path

import numpy as np
import pytest

import ksparse
from ksparse.layers import Network

DATA = Path(__file__).resolve().parent / "data"


def test_v01_model_loads_and_reconstructs_the_same():
    model = ksparse.load(DATA / "v0.1-model.safetensors")
    X = np.load(DATA / "v0.1-X.npy")
    np.testing.assert_allclose(model.reconstruct(X), np.load(DATA / "v0.1-reconstruction.npy"), rtol=1e-6, atol=1e-7)
    assert ksparse.io.read_metadata(DATA / "v0.1-model.safetensors")["format_version"] == 1


def test_v01_model_trains_further():
    model = ksparse.load(DATA / "v0.1-model.safetensors")
    X = np.load(DATA / "v0.1-X.npy")
    model.partial_fit(X)
    assert np.isfinite(model.W_enc_).all()


@pytest.mark.filterwarnings("ignore::ksparse.ConvergenceWarning")  # three epochs of 64 random samples
def test_v01_checkpoint_resumes():
    model = ksparse.load(DATA / "v0.1-checkpoint.safetensors")
    assert model.n_iter_ == 2
    model.set_params(n_epochs=3)
    model.fit(np.load(DATA / "v0.1-X.npy"), resume=True)
    assert model.n_iter_ == 3


def test_v01_network_checkpoint_resumes():
    net = ksparse.load(DATA / "v0.1-network.safetensors")
    assert isinstance(net, Network) and net.epoch_ == 2
    X = np.load(DATA / "v0.1-X.npy")
    run = net._run
    net.train(X, X, epochs=run["epochs"] + 1, batch_size=run["batch_size"], optimizer=run["optimizer"],
              learning_rate=run["learning_rate"], lr_schedule=run["lr_schedule"],
              warmup_fraction=run["warmup_fraction"], resume=True)
    assert net.epoch_ == 3
