"""The bench scripts that take a data folder run offline on a tiny IDX folder."""

import os

import numpy as np
import pytest

from ksparse.datasets import write_idx

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")


@pytest.fixture
def dead_units(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import dead_units

    return dead_units


def _idx_folder(path, n_train=64, n_test=32, seed=0):
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(path / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    return path


@pytest.mark.filterwarnings("ignore::ksparse.ConvergenceWarning")  # two epochs on 48 random images
def test_dead_units_runs_on_a_folder(dead_units, tmp_path, capsys):
    folder = _idx_folder(tmp_path)
    assert dead_units.main(["--data", str(folder), "--n-train", "48", "--epochs", "2", "--probe",
                            "--set", "batch_size=16"]) == 0
    out = capsys.readouterr().out
    assert "on 48 images (defaults, batch_size=16)" in out
    shares = out.split("dead share after each epoch: ")[1].splitlines()[0].split()
    assert len(shares) == 2 and all(0.0 <= float(s) <= 1.0 for s in shares)
    assert "test MSE" in out and "units that never fire on the 32 test images" in out
    acc = float(out.split("accuracy ")[1].split()[0])
    assert 0.0 <= acc <= 1.0


def test_dead_units_missing_folder_says_how_to_get_it(dead_units, tmp_path, capsys):
    assert dead_units.main(["--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "dataset-fashion-mnist" in err and "--data FOLDER" in err
