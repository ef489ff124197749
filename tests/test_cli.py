"""Every ``ksparse`` command, run in a subprocess on small data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--limit", "300", "--test-limit", "200", "--epochs", "2", "--threads", "1"]


def run(*args, cwd, check_rc=0):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.pop("KSPARSE_DEBUG", None)
    res = subprocess.run([sys.executable, "-m", "ksparse", *map(str, args)], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=600)
    if check_rc is not None:
        assert res.returncode == check_rc, f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    return res


def inproc(*args, capsys):
    """Run the command in this process (for option parsing and error paths); returns (rc, out, err)."""
    from ksparse.cli import main

    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:  # argparse: --help, usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def inproc_error(*args, capsys, needles=()):
    rc, out, err = inproc(*args, capsys=capsys)
    assert rc == 2, (rc, out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def one_line_error(res, *needles):
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def estimator():
    from ksparse.autoencoder import KSparseAutoencoder

    return KSparseAutoencoder


# ------------------------------------------------------------ help and errors


@pytest.mark.parametrize("command", ["demo", "train", "evaluate", "encode", "reproduce"])
def test_help(capsys, command):
    rc, out, _ = inproc(command, "--help", capsys=capsys)
    assert rc == 0
    assert f"usage: ksparse {command}" in out and "--quiet" in out and "--threads" in out
    assert "--epochs" not in out and "--test-limit" not in out  # test-only options stay hidden


def test_top_level_help_and_version(tmp_path, capsys):
    res = run("--help", cwd=tmp_path)
    for command in ("demo", "train", "evaluate", "encode", "reproduce"):
        assert command in res.stdout
    import ksparse

    rc, out, _ = inproc("--version", capsys=capsys)
    assert rc == 0 and out.strip() == f"ksparse {ksparse.__version__}"
    inproc_error(capsys=capsys, needles=["required"])


def test_bad_arguments_are_one_line(tmp_path, capsys):
    one_line_error(run("demo", "--threads", "0", cwd=tmp_path, check_rc=2), "--threads")
    inproc_error("reproduce", "--k", "five", capsys=capsys, needles=["five"])
    inproc_error("frobnicate", capsys=capsys, needles=["frobnicate"])


def test_config_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("model:\n  learnin_rate: 0.1\n")
    one_line_error(run("train", "--config", "c.yaml", cwd=tmp_path, check_rc=2),
                   "unknown key 'model.learnin_rate'", "did you mean 'model.learning_rate'")
    inproc_error("train", "--config", "missing.yaml", capsys=capsys, needles=["no such configuration file"])
    (tmp_path / "c.yaml").write_text("model:\n  k: 5\n")
    inproc_error("train", "--config", "c.yaml", "--set", "model.k=abc", capsys=capsys, needles=["model.k='abc'"])


def test_output_folder_is_checked_before_training(tmp_path, capsys, monkeypatch):
    """An output folder that cannot be created or written stops demo/train before any data or training."""
    import ksparse.cli as cli

    def no_work(*args, **kwargs):
        raise AssertionError("the data was loaded: the output folder was checked too late")

    monkeypatch.setattr(cli, "_load_data", no_work)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "c.yaml").write_text("model:\n  k: 5\n")
    (tmp_path / "c2.yaml").write_text("model:\n  k: 5\noutput_dir: file/run\n")
    cases = [(tmp_path / "file" / "sub", "cannot create output folder"), (tmp_path / "file", "is a file")]
    for out, needle in cases:
        inproc_error("demo", "--out", out, *SMALL, capsys=capsys, needles=[str(out), needle, "--out"])
        inproc_error("train", "--config", "c.yaml", "--out", out, capsys=capsys, needles=[str(out), needle])
    inproc_error("train", "--config", "c2.yaml", capsys=capsys,
                 needles=["file/run", "cannot create output folder", "output_dir"])


def test_unwritable_output_folder_is_refused(tmp_path, capsys, monkeypatch):
    """A folder that exists but takes no files (tests run as root, so the refusal is simulated)."""
    import tempfile

    import ksparse.cli as cli

    monkeypatch.setattr(cli, "_load_data", lambda *a, **k: pytest.fail("the data was loaded before the check"))
    ro = tmp_path / "ro"
    ro.mkdir()
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == ro:
            raise PermissionError(13, "Permission denied", str(ro / ".probe"))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    needles = [str(ro), "cannot write in output folder", "Permission denied"]
    inproc_error("demo", "--out", ro, *SMALL, capsys=capsys, needles=needles + ["--out"])
    (tmp_path / "c.yaml").write_text("model:\n  k: 5\n")
    inproc_error("train", "--config", tmp_path / "c.yaml", "--out", ro, capsys=capsys, needles=needles)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes in read-only folders")
def test_read_only_output_folder_is_refused(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        inproc_error("demo", "--out", ro, *SMALL, capsys=capsys, needles=[str(ro), "cannot write in output folder"])
    finally:
        ro.chmod(0o700)


def test_output_folder_probe_leaves_nothing(tmp_path):
    from ksparse.cli import _out_dir

    out = _out_dir(str(tmp_path / "a" / "b"))
    assert out.is_dir() and list(out.iterdir()) == []
    assert _out_dir(str(out)) == out and list(out.iterdir()) == []


def test_unusable_output_folder_exits_at_once(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    res = run("demo", "--out", tmp_path / "file" / "out", *SMALL, cwd=tmp_path, check_rc=2)
    one_line_error(res, "cannot create output folder", "file/out")
    assert res.stdout == ""  # nothing printed: no data loaded, no training started


def test_missing_and_bad_model_files(tmp_path, capsys, monkeypatch):
    one_line_error(run("evaluate", "nope.safetensors", cwd=tmp_path, check_rc=2), "no such model file")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    inproc_error("encode", "bad.safetensors", "x.npy", "--out", "c.npz", capsys=capsys, needles=["bad.safetensors"])


# ------------------------------------------------------------- the commands


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory, estimator):
    out = tmp_path_factory.mktemp("demo")
    res = run("demo", "--out", out / "d", "--seed", "1", *SMALL, cwd=out)
    assert "MSE" in res.stdout and "PSNR" in res.stdout and "test (200)" in res.stdout
    assert "report: " in res.stdout
    (out / "stdout.txt").write_text(res.stdout)  # the printed table, for the tests below
    return out / "d"


def test_demo_outputs(demo_dir):
    import ksparse

    assert (demo_dir / "model.safetensors").is_file()
    metrics = json.loads((demo_dir / "metrics.json").read_text())
    assert metrics["n_train"] == 300 and metrics["n_test"] == 200 and metrics["epochs"] == 2
    assert metrics["params"]["random_state"] == 1 and metrics["params"]["n_epochs"] == 2
    for split in ("train", "test"):
        # exactly the keys of ksparse.metrics.evaluate (MNIST: images, so SSIM too)
        assert list(metrics[split]) == ["mse", "psnr", "ssim", "fvu", "mean_l0", "never_fired_fraction",
                                        "compression_ratio"]
        assert 0 < metrics[split]["mse"] < 1
        assert -1 <= metrics[split]["ssim"] <= 1 and metrics[split]["fvu"] > 0
        assert metrics[split]["compression_ratio"] > 1
    assert len(metrics["epoch_seconds"]) == 2 and "peak_rss_mb" in metrics
    lines = (demo_dir / "history.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].split(",")[:2] == ["epoch", "loss"]
    model = ksparse.load(demo_dir / "model.safetensors")
    assert model.get_params()["random_state"] == 1
    assert list(demo_dir.glob("report.*")), "the demo writes a report (ksparse.report)"


def test_demo_figures_are_evaluate_in_metrics_json_report_and_table(demo_dir, tmp_path):
    """One demo run: metrics.json, the report, the printed table and ksparse evaluate give the same figures."""
    import re

    import ksparse
    from ksparse import report
    from ksparse.cli import _QUALITY_LABELS, _load_data
    from ksparse.config import DataConfig
    from ksparse.metrics import EVALUATION_KEYS, evaluate

    metrics = json.loads((demo_dir / "metrics.json").read_text())
    assert tuple(metrics["test"]) == EVALUATION_KEYS
    # the same figures from Python, on the demo's data (same seed, limits and dtype)
    model = ksparse.load(demo_dir / "model.safetensors")
    data = _load_data(DataConfig(limit=300, test_limit=200), seed=1, dtype="float32", quiet=True)
    assert evaluate(model, data.X_test, image_shape=(28, 28)) == metrics["test"]
    assert evaluate(model, data.X_train, image_shape=(28, 28)) == metrics["train"]
    # the report shows each of them, under the same key, with the same value
    html = (demo_dir / "report.html").read_text(encoding="utf-8")
    rows = dict(re.findall(r'<td class="key">(.*?)</td><td>(.*?)</td>', html))
    for key, value in metrics["test"].items():
        assert rows[key] == report._esc(value), key
    # dead_fraction in the report is the training counter of history.csv (its last value), not a test figure
    history = (demo_dir / "history.csv").read_text().splitlines()
    column = history[0].split(",").index("dead_fraction")
    assert rows["dead_fraction"] == report._esc(float(history[-1].split(",")[column]))
    # ksparse evaluate on the same test set: the same keys and values
    run("evaluate", demo_dir / "model.safetensors", "--limit", "200", "--json", "ev.json", cwd=tmp_path)
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert {k: ev[k] for k in EVALUATION_KEYS} == metrics["test"]
    assert set(ev) == {"model", "data", "n_test", *EVALUATION_KEYS}
    # the printed table has a label for every key and nothing else, and shows the same values
    assert set(_QUALITY_LABELS) == set(EVALUATION_KEYS)
    from ksparse.cli import _fmt

    printed = (demo_dir.parent / "stdout.txt").read_text()
    for key in EVALUATION_KEYS:
        cells = [_QUALITY_LABELS[key], _fmt(metrics["train"][key]), _fmt(metrics["test"][key])]
        assert any(line.split()[-2:] == cells[1:] and line.startswith(cells[0]) for line in printed.splitlines()), key
    assert set(EVALUATION_KEYS) <= set(report.METRIC_LABELS)


def test_demo_quiet_prints_nothing(tmp_path, estimator, capsys):
    rc, out, err = inproc("demo", "--out", tmp_path / "q", "--quiet", *SMALL, capsys=capsys)
    assert rc == 0 and out == "" and err == ""
    assert (tmp_path / "q" / "model.safetensors").is_file()


def test_evaluate(demo_dir, tmp_path, capsys):
    res = run("evaluate", demo_dir / "model.safetensors", "--limit", "100", "--json", "ev.json", cwd=tmp_path)
    assert "mse" in res.stdout
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["n_test"] == 100 and 0 < ev["mse"] < 1 and ev["psnr"] > 0
    inproc_error("evaluate", demo_dir / "model.safetensors", "--data", "/no/such", capsys=capsys, needles=["/no/such"])


def test_encode_inputs(demo_dir, tmp_path, capsys, monkeypatch):
    from ksparse.datasets import load_mnist, write_idx

    d = load_mnist(normalize=False, dtype="uint8")
    model = demo_dir / "model.safetensors"
    np.save(tmp_path / "x.npy", d.X_test[:40] / 255.0)
    np.savez(tmp_path / "x.npz", a=d.X_test[:7] / 255.0, b=d.X_test[:3] / 255.0)
    write_idx(tmp_path / "imgs-idx3-ubyte.gz", d.X_test[:40].reshape(40, 28, 28))

    run("encode", model, "x.npy", "--out", "c1.npz", cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    assert inproc("encode", model, "imgs-idx3-ubyte.gz", "--out", "c2.npz", capsys=capsys)[0] == 0
    assert inproc("encode", model, "x.npz", "--key", "a", "--out", "c3.npz", "--k", "7", capsys=capsys)[0] == 0
    c1, c2, c3 = (np.load(tmp_path / f"c{i}.npz") for i in (1, 2, 3))
    k = c1["indices"].shape[1]
    assert c1["indices"].shape == (40, k) and c1["values"].shape == (40, k) and c1["indices"].dtype == np.int64
    np.testing.assert_array_equal(c1["indices"], c2["indices"])  # IDX uint8 input is scaled like the .npy
    np.testing.assert_allclose(c1["values"], c2["values"], rtol=1e-5)
    assert c3["indices"].shape == (7, 7) and int(c1["n_hidden"]) > 0
    inproc_error("encode", model, "x.npz", "--out", "c.npz", capsys=capsys, needles=["--key"])
    inproc_error("encode", model, "x.npy", "--out", "c.txt", capsys=capsys, needles=[".npz"])


def test_train_checkpoint_and_resume(tmp_path, estimator, capsys, monkeypatch):
    (tmp_path / "run.yaml").write_text(
        "model:\n  n_hidden: 40\n  k: 8\n  n_epochs: 3\n  random_state: 0\n"
        "data:\n  limit: 200\n  test_limit: 100\noutput_dir: runA\ncheckpoint_every: 1\n"
    )
    res = run("train", "--config", "run.yaml", "--set", "model.k=6", "--quiet", cwd=tmp_path)
    assert res.stdout == ""
    for name in ("model.safetensors", "metrics.json", "history.csv", "checkpoint.safetensors", "config.yaml"):
        assert (tmp_path / "runA" / name).is_file(), name
    metrics = json.loads((tmp_path / "runA" / "metrics.json").read_text())
    assert metrics["params"]["k"] == 6 and metrics["n_train"] == 200 and metrics["epochs"] == 3
    # The saved config records the override.
    assert "k: 6" in (tmp_path / "runA" / "config.yaml").read_text()
    # Resuming a finished run from its last checkpoint keeps the same model.
    run("train", "--config", "runA/config.yaml", "--resume", "runA/checkpoint.safetensors", "--out", "runB",
        "--quiet", cwd=tmp_path)
    assert json.loads((tmp_path / "runB" / "metrics.json").read_text())["epochs"] == 3
    # A checkpoint does not fit another model configuration.
    monkeypatch.chdir(tmp_path)
    inproc_error("train", "--config", "run.yaml", "--resume", "runA/checkpoint.safetensors", "--out", "runC",
                 capsys=capsys, needles=["model.k"])


def test_reproduce(tmp_path, estimator, capsys):
    res = run("reproduce", "--k", "5", "20", "--json", "r.json", "--out", "rep", *SMALL, cwd=tmp_path)
    assert "0.0518" in res.stdout and "0.0367" in res.stdout
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert [r["k"] for r in rows] == [5, 20]
    for r in rows:
        assert set(r) == {"k", "mse", "psnr", "seconds"}
        assert 0 < r["mse"] < 1 and r["seconds"] > 0
        assert r["psnr"] == pytest.approx(10 * np.log10(1 / r["mse"]))
    assert (tmp_path / "rep" / "reproduce.json").is_file()
    assert list((tmp_path / "rep").glob("report.*")), "reproduce --out writes a report (ksparse.report)"
    inproc_error("reproduce", "--k", "101", *SMALL, capsys=capsys, needles=["n_hidden=100"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, expected",
    [("anomaly_scores.py", "ROC AUC, digit 2 as the anomaly"), ("estimator_pipeline.py", "k-sparse codes ->")],
)
def test_examples_run(tmp_path, estimator, script, expected):
    pytest.importorskip("sklearn")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    res = subprocess.run([sys.executable, str(ROOT / "examples" / script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert expected in res.stdout and "Warning" not in res.stderr


# ------------------------------------------------------------- data files, data that are not images


def test_train_and_evaluate_on_a_npy_file(tmp_path, estimator):
    """train --data FILE.npy (width 40, not images) and evaluate on it, end to end and offline."""
    X = np.random.default_rng(0).normal(size=(300, 40)).astype(np.float32)
    np.save(tmp_path / "x40.npy", X)
    res = run("train", "--data", "x40.npy", "--set", "model.n_epochs=1", "--set", "model.n_hidden=16",
              "--set", "model.k=4", "--out", "run", "--threads", "1", cwd=tmp_path)
    assert "report: " in res.stdout and "SSIM" not in res.stdout
    out = tmp_path / "run"
    for name in ("model.safetensors", "metrics.json", "history.csv", "config.yaml", "report.html"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    # 10% of the rows (ksparse.cli.HOLDOUT_FRACTION) are held out for the test figures
    assert metrics["n_train"] == 270 and metrics["n_test"] == 30 and metrics["n_features"] == 40
    assert "held out" in metrics["dataset"] and "not read as images" in metrics["dataset"]
    assert "ssim" not in metrics["test"] and "fvu" in metrics["test"]
    assert "dataset: x40.npy" in (out / "config.yaml").read_text()
    # the report: metrics, training curves and firing frequencies, but no image figures
    html = (out / "report.html").read_text(encoding="utf-8")
    for name in ("training-curves", "firing-histogram", "code-sparsity"):
        assert f'id="fig-{name}"' in html, name
    assert 'id="fig-atoms"' not in html and 'id="fig-reconstructions"' not in html
    assert not (out / "figures" / "atoms.png").exists() and "<h1>ksparse train</h1>" in html
    # evaluate on the same file measures the rows train held out: the same figures as metrics.json
    res = run("evaluate", out / "model.safetensors", "--data", "x40.npy", "--json", "ev.json", cwd=tmp_path)
    assert "30 held-out samples of x40.npy" in res.stdout
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["n_test"] == 30 and {k: ev[k] for k in metrics["test"]} == metrics["test"] and "ssim" not in ev


def test_train_on_an_npz_split_of_images(tmp_path, estimator):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "split.npz", X_train=rng.random((120, 784)), X_test=rng.random((25, 784)))
    common = ["--set", "model.n_epochs=1", "--set", "model.n_hidden=16", "--set", "model.k=4", "--quiet"]
    run("train", "--data", "split.npz", *common, "--out", "img", cwd=tmp_path)
    metrics = json.loads((tmp_path / "img" / "metrics.json").read_text())
    assert metrics["n_train"] == 120 and metrics["n_test"] == 25 and "ssim" in metrics["test"]
    assert (tmp_path / "img" / "figures" / "atoms.png").is_file()
    # told that the data are not images: no SSIM, no image figures
    run("train", "--data", "split.npz", *common, "--out", "flat", "--image-shape", "none", cwd=tmp_path)
    assert "ssim" not in json.loads((tmp_path / "flat" / "metrics.json").read_text())["test"]
    assert not (tmp_path / "flat" / "figures" / "atoms.png").exists()
    res = run("evaluate", tmp_path / "img" / "model.safetensors", "--data", "split.npz", "--image-shape", "none",
              cwd=tmp_path)
    assert "25 test samples" in res.stdout and "ssim" not in res.stdout


def test_data_file_errors(tmp_path, capsys, monkeypatch, demo_dir):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(2)
    np.save("x40.npy", rng.random((50, 40)))
    np.save("one.npy", rng.random((1, 40)))
    np.savez("two.npz", a=rng.random((5, 4)), b=rng.random((5, 4)))
    inproc_error("train", capsys=capsys, needles=["--config FILE", "--data FILE|FOLDER"])
    inproc_error("train", "--data", "nope.npy", capsys=capsys, needles=["--data nope.npy", "no such file"])
    inproc_error("train", "--data", "two.npz", capsys=capsys, needles=["['a', 'b']", "X_train"])
    inproc_error("train", "--data", "one.npy", capsys=capsys, needles=["1 sample", "at least 2"])
    inproc_error("train", "--data", "x40.npy", "--image-shape", "7x7", capsys=capsys,
                 needles=["--image-shape 7x7", "40 features", "--image-shape none"])
    inproc_error("train", "--data", "x40.npy", "--image-shape", "big", capsys=capsys, needles=["HxW"])
    # a configuration's data.dataset may name a data file; a missing one is named
    (tmp_path / "d.yaml").write_text("data:\n  dataset: missing.npy\n")
    inproc_error("train", "--config", "d.yaml", capsys=capsys, needles=["data.dataset", "data file"])
    model = demo_dir / "model.safetensors"
    inproc_error("evaluate", model, "--data", "x40.npy", capsys=capsys, needles=["784 features", "has 40"])
    inproc_error("evaluate", model, "--data", "nope", capsys=capsys, needles=["--data nope", "no such file"])
