"""The bench scripts that take a data folder run offline on a tiny IDX folder."""

import os

import pytest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")


@pytest.fixture
def dead_units(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import dead_units

    return dead_units


@pytest.mark.filterwarnings("ignore::ksparse.ConvergenceWarning")  # two epochs on 48 random images
def test_dead_units_runs_on_a_folder(dead_units, tmp_path, capsys, make_idx_folder):
    folder = make_idx_folder(tmp_path, n_train=64, n_test=32, image_shape=(28, 28), n_classes=10, seed=0)
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
