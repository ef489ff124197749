"""Tests for ksparse.report: the HTML report, compute_metrics and the demo/reproduce reports."""

import base64
import re
import types

import numpy as np
import pytest

from ksparse import metrics as M
from ksparse import plotting as P
from ksparse import report as R

DPI = 30


class FakeAutoencoder:
    """A tiny fitted top-k autoencoder following the KSparseAutoencoder contract."""

    def __init__(self, n_features=784, n_hidden=40, k=4, seed=0, history=True):
        rng = np.random.default_rng(seed)
        self.n_hidden, self.k, self.activation, self.dead_samples = n_hidden, k, "relu", 500
        self.W_dec_ = rng.standard_normal((n_hidden, n_features)).astype(np.float32)
        self.W_dec_ /= np.linalg.norm(self.W_dec_, axis=1, keepdims=True)
        self.W_enc_ = self.W_dec_.copy()
        self.b_enc_ = np.zeros(n_hidden, np.float32)
        self.b_dec_ = np.full(n_features, 0.1, np.float32)
        self.n_features_in_ = n_features
        self.steps_since_fired_ = np.array([0] * (n_hidden - 4) + [600] * 4, dtype=np.int64)
        self.history_ = {
            "epoch": [1, 2, 3], "loss": [0.05, 0.03, 0.02], "mse": [0.05, 0.03, 0.02], "l0": [4.0] * 3,
            "dead_fraction": [0.2, 0.1, 0.1], "k": [8, 4, 4], "time": [1.0, 1.5, 2.0],
            "peak_rss_mb": [100.0, 120.0, 110.0],
        } if history else {}

    def get_params(self, deep=True):
        return {"n_hidden": self.n_hidden, "k": self.k, "activation": self.activation,
                "dead_samples": self.dead_samples, "random_state": None}

    def encode(self, X, k=None):
        k = self.k if k is None else k
        Z = np.maximum((np.asarray(X, np.float32) - self.b_dec_) @ self.W_enc_.T + self.b_enc_, 0)
        idx = np.argsort(-Z, axis=1, kind="stable")[:, :k].astype(np.int64)
        return idx, np.take_along_axis(Z, idx, 1)

    def transform(self, X, k=None):
        idx, val = self.encode(X, k)
        codes = np.zeros((len(idx), self.n_hidden), np.float32)
        np.put_along_axis(codes, idx, val, 1)
        return codes

    def inverse_transform(self, codes):
        return codes @ self.W_dec_ + self.b_dec_

    def reconstruct(self, X):
        return self.inverse_transform(self.transform(X))


@pytest.fixture(scope="module")
def X_test():
    return np.random.default_rng(1).random((40, 784)).astype(np.float32)


@pytest.fixture
def two_figures(tmp_path):
    a = tmp_path / "figs" / "hist.png"
    b = tmp_path / "figs" / "tradeoff.png"
    P.plot_firing_histogram(np.linspace(0, 1, 30), path=a, dpi=DPI)
    P.plot_k_tradeoff({5: 0.03, 10: 0.02}, path=b, dpi=DPI)
    return {"firing_histogram": a, "my <odd> figure": b}


# ----------------------------------------------------------------------------- write_report
def test_write_report_embeds_every_figure_and_metric(tmp_path, two_figures):
    out = tmp_path / "out"
    metrics = {"mse": 0.012345, "psnr": float("inf"), "n_test": 10000, "custom_thing": "hello"}
    path = R.write_report(out, metrics=metrics, figures=two_figures,
                          tables={"Reproduced table": [{"k": 5, "MSE": 0.02}, {"k": 10, "MSE": 0.015, "extra": 1}]},
                          title="My <report>", notes="a & b")
    assert path == out / "report.html" and path.is_file()
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>My &lt;report&gt;</title>" in html and "a &amp; b" in html
    # the metrics table
    for text in ("MSE (mean squared error)", "0.01235", "∞", "10,000", "Custom thing", "hello", ">mse<"):
        assert text in html
    # each figure: its id, its relative link, and its bytes embedded
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 2
    for (name, fig_path), data in zip(two_figures.items(), images):
        assert base64.b64decode(data) == fig_path.read_bytes()
        assert f'href="../figs/{fig_path.name}"' in html
    assert 'id="fig-firing-histogram"' in html and 'id="fig-my--odd--figure"' in html
    assert "<odd>" not in html
    # the table, with the union of the columns and a dash for a missing cell
    assert "Reproduced table" in html and "<th>extra</th>" in html and "–" in html
    assert not list(out.glob("*.tmp"))


def test_write_report_linked(tmp_path, two_figures):
    path = R.write_report(tmp_path, metrics={"k": 5}, figures=two_figures, embed=False, filename="r.html")
    html = path.read_text(encoding="utf-8")
    assert "base64" not in html
    assert html.count('src="figs/hist.png"') == 1 and html.count('src="figs/tradeoff.png"') == 1


def test_write_report_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file"):
        R.write_report(tmp_path, metrics={}, figures={"x": tmp_path / "missing.png"})
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    with pytest.raises(ValueError, match="not a PNG"):
        R.write_report(tmp_path, metrics={}, figures={"x": bad})
    with pytest.raises(ValueError, match="non-empty list of dicts"):
        R.write_report(tmp_path, metrics={}, figures={}, tables={"t": []})
    with pytest.raises(TypeError, match="metrics"):
        R.write_report(tmp_path, metrics=[("mse", 1.0)], figures={})


@pytest.mark.parametrize(
    "value, text",
    [(None, "–"), (True, "yes"), (12345, "12,345"), (0.0, "0"), (float("nan"), "nan"), (float("-inf"), "-∞"),
     (1234.5, "1,234"), (123.45, "123.5"), (0.0123456, "0.01235"), (1.5e-5, "1.500e-05"), ("text", "text"),
     (np.float32(0.5), "0.5"), (np.int64(7), "7")],
)
def test_cell_format(value, text):
    assert R._fmt(value) == text


# ----------------------------------------------------------------------------- compute_metrics
def test_compute_metrics_agrees_with_metric_functions(X_test):
    est = FakeAutoencoder()
    got = R.compute_metrics(est, X_test)
    X_hat = est.reconstruct(X_test)
    idx, val = est.encode(X_test)
    assert got["mse"] == pytest.approx(M.mse(X_test, X_hat))
    assert got["psnr"] == pytest.approx(M.psnr(X_test, X_hat))
    assert got["ssim"] == pytest.approx(M.ssim(X_test, X_hat, image_shape=(28, 28)))
    assert got["fvu"] == pytest.approx(M.fraction_of_variance_unexplained(X_test, X_hat))
    assert got["mean_l0"] == pytest.approx(M.mean_l0((idx, val)))
    assert got["never_fired_fraction"] == pytest.approx(M.dead_fraction(M.firing_frequency(idx, 40, values=val)))
    assert got["dead_fraction"] == pytest.approx(4 / 40)
    # only the nonzero (index, value) pairs are stored: mean L0 of them per sample
    assert got["compression_ratio"] == pytest.approx(784 * 32 / (M.mean_l0((idx, val)) * (6 + 32)))
    assert (got["n_test"], got["n_features"], got["n_hidden"], got["k"]) == (40, 784, 40, 4)
    assert (got["epochs"], got["train_seconds"], got["peak_rss_mb"]) == (3, 4.5, 120.0)


def test_compute_metrics_is_evaluate_then_the_model_context(X_test):
    est = FakeAutoencoder()
    got = R.compute_metrics(est, X_test)
    evaluated = M.evaluate(est, X_test, image_shape=(28, 28), data_range=1.0)
    assert tuple(evaluated) == M.EVALUATION_KEYS
    assert {k: got[k] for k in evaluated} == evaluated
    context = ["dead_fraction", "n_test", "n_features", "n_hidden", "k", "epochs", "train_seconds", "peak_rss_mb"]
    assert list(got) == list(M.EVALUATION_KEYS) + context
    # dead_fraction is the training counter's figure (history.csv), not measured on X
    assert got["dead_fraction"] == M.dead_fraction(steps_since_fired=est.steps_since_fired_, dead_samples=500)
    # a given evaluation is shown as is, not measured again
    given = {"mse": 1.5, "psnr": 2.5}
    shown = R.compute_metrics(est, X_test, evaluation=given)
    assert (shown["mse"], shown["psnr"]) == (1.5, 2.5) and "ssim" not in shown
    # every key has a readable label in the report
    assert set(got) <= set(R.METRIC_LABELS)


def test_compute_metrics_leaves_out_ssim_of_small_images():
    est = FakeAutoencoder(n_features=64)
    X = np.random.default_rng(2).random((10, 64)).astype(np.float32)
    assert "ssim" not in R.compute_metrics(est, X, image_shape=(8, 8))


def test_compute_metrics_without_images_or_history():
    est = FakeAutoencoder(n_features=30, history=False)
    est.steps_since_fired_ = None
    X = np.random.default_rng(2).random((10, 30)).astype(np.float32)
    got = R.compute_metrics(est, X, image_shape=(28, 28))
    assert "ssim" not in got and "epochs" not in got and "dead_fraction" not in got
    assert got["mse"] > 0


# ----------------------------------------------------------------------------- demo / reproduce
def test_make_demo_report(tmp_path, X_test):
    est = FakeAutoencoder()
    paths = R.make_demo_report(est, X_test, tmp_path / "demo", extra_metrics={"wall_seconds": 9.5}, dpi=DPI)
    expected = {"report", "reconstructions", "atoms", "training_curves", "firing_histogram", "code_sparsity",
                "architecture"}
    assert set(paths) == expected
    for name, p in paths.items():
        assert p.is_file() and p.stat().st_size > 1000, name
    html = paths["report"].read_text(encoding="utf-8")
    for name in expected - {"report"}:
        assert f'id="fig-{name.replace("_", "-")}"' in html
        assert f'href="figures/{name}.png"' in html
    assert html.count("data:image/png;base64,") == 6
    metrics = R.compute_metrics(est, X_test)
    assert R._fmt(metrics["mse"]) in html and "wall_seconds" in html and "9.5" in html
    assert "Model parameters" in html and "dead_samples" in html


def test_make_demo_report_without_history_and_custom_ks(tmp_path, X_test):
    est = FakeAutoencoder(history=False)
    paths = R.make_demo_report(est, X_test[:12], tmp_path, encode_ks=[4, 8, 12], n_images=5, dpi=DPI)
    assert "training_curves" not in paths
    assert paths["report"].is_file()


def test_make_reproduce_report(tmp_path, X_test):
    rows = [{"k": 5, "mse": 0.0259, "psnr": 15.9, "seconds": 4.0}, {"k": 10, "mse": 0.0205, "seconds": 5.0}]
    pca = [{"k": 5, "mse": 0.0447}, {"k": 10, "mse": 0.0347}]
    recs = {5: X_test[:10] * 0.9, 10: X_test[:10] * 0.95}
    paths = R.make_reproduce_report(rows, tmp_path / "repro", pca_rows=pca, originals=X_test[:10],
                                    reconstructions=recs, extra_metrics={"threads": 1}, dpi=DPI)
    assert set(paths) == {"report", "tradeoff", "reconstructions"}
    html = paths["report"].read_text(encoding="utf-8")
    for text in ("Reproduced table", "× lower than original", "PCA-k MSE", "original MSE", "0.0259", "0.0518",
                 R._fmt(0.0518 / 0.0259), R._fmt(0.0410 / 0.0205), "0.0447", "Total training time, s", "median_improvement", "threads",
                 'id="fig-tradeoff"', 'id="fig-reconstructions"'):
        assert text in html, text
    assert R._fmt(10 * np.log10(1 / 0.0205)) in html  # PSNR derived from the MSE when absent


def test_make_reproduce_report_minimal_and_errors(tmp_path):
    paths = R.make_reproduce_report({7: 0.03}, tmp_path, dpi=DPI)
    assert set(paths) == {"report", "tradeoff"}
    html = paths["report"].read_text(encoding="utf-8")
    assert "× lower than original" in html and "median_improvement" not in html
    with pytest.raises(ValueError, match="empty"):
        R.make_reproduce_report([], tmp_path)
    with pytest.raises(ValueError, match="together"):
        R.make_reproduce_report([{"k": 5, "mse": 0.1}], tmp_path, originals=np.zeros((2, 784)))



# ----------------------------------------------------------------------------- the command's entry points
def test_write_demo_report_entry_point(tmp_path, X_test):
    data = types.SimpleNamespace(X_train=X_test, X_test=X_test, description="fake")
    metrics = {"dataset": "fake", "n_train": 40, "fit_seconds": 1.25, "train": {"mse": 0.05, "psnr": 13.0, "l0": 4}}
    path = R.write_demo_report(tmp_path, model=FakeAutoencoder(), data=data, metrics=metrics, dpi=DPI)
    html = path.read_text(encoding="utf-8")
    for text in ("fit_seconds", "1.25", "train_mse", "train_psnr", 'id="fig-atoms"', 'id="fig-reconstructions"',
                 "Data: fake"):
        assert text in html


def test_write_demo_report_shows_the_commands_test_figures(tmp_path, X_test):
    """The figures ksparse demo wrote to metrics.json ("test") are the report's, not measured again."""
    data = types.SimpleNamespace(X_train=X_test, X_test=X_test, description="fake")
    model = FakeAutoencoder()
    test = M.evaluate(model, X_test, image_shape=(28, 28), data_range=1.0)
    written = dict(test, mse=0.0123456)  # a value this model would not give on X_test
    path = R.write_demo_report(tmp_path, model=model, data=data, metrics={"test": written}, dpi=DPI)
    rows = dict(re.findall(r'<td class="key">(.*?)</td><td>(.*?)</td>', path.read_text(encoding="utf-8")))
    for key, value in written.items():
        assert rows[key] == R._esc(value), key


def test_write_demo_report_non_image_data(tmp_path):
    X = np.random.default_rng(3).random((20, 30)).astype(np.float32)
    data = types.SimpleNamespace(X_test=X)
    path = R.write_demo_report(tmp_path, model=FakeAutoencoder(n_features=30), data=data, dpi=DPI)
    html = path.read_text(encoding="utf-8")
    assert 'id="fig-atoms"' not in html and 'id="fig-firing-histogram"' in html and "ssim" not in html


def test_write_reproduce_report_entry_point(tmp_path):
    rng = np.random.default_rng(4)
    data = types.SimpleNamespace(X_train=rng.random((60, 784)), X_test=rng.random((12, 784)))
    rows = [{"k": 5, "mse": 0.03, "psnr": 15.2, "seconds": 1.0, "original_mse": 0.0518},
            {"k": 10, "mse": 0.02, "psnr": 17.0, "seconds": 1.0, "original_mse": 0.041}]
    models = {5: FakeAutoencoder(k=5), 10: FakeAutoencoder(k=10)}
    path = R.write_reproduce_report(tmp_path, rows=rows, data=data, models=models, dpi=DPI)
    html = path.read_text(encoding="utf-8")
    assert "PCA-k MSE" in html and 'id="fig-reconstructions"' in html and 'id="fig-tradeoff"' in html
    pca = P.pca_k_mse(data.X_train, data.X_test, [5])[0]["mse"]
    assert R._fmt(pca) in html
    assert R.write_reproduce_report(tmp_path / "b", rows=rows, dpi=DPI).is_file()
    with pytest.raises(ValueError, match="need data"):
        R.write_reproduce_report(tmp_path / "c", rows=rows, models=models)


# ----------------------------------------------------------------------------- the real estimator and network
def test_demo_report_of_a_real_estimator(tmp_path):
    from ksparse import KSparseAutoencoder

    X = np.random.default_rng(5).random((120, 784)).astype(np.float32)
    est = KSparseAutoencoder(n_hidden=24, k=3, n_epochs=2, batch_size=40, random_state=0).fit(X)
    paths = R.make_demo_report(est, X[:30], tmp_path, dpi=DPI)
    assert {"report", "reconstructions", "atoms", "training_curves", "firing_histogram", "code_sparsity",
            "architecture"} <= set(paths)
    got = R.compute_metrics(est, X[:30])
    assert got["mse"] == pytest.approx(-est.score(X[:30]), rel=1e-5)
    assert got["mean_l0"] <= 3 and got["k"] == 3 and got["epochs"] == 2


def test_figures_of_a_real_network():
    from ksparse.layers import DenseLayer, KSparseLayer, Network

    X = np.random.default_rng(6).random((60, 784)).astype(np.float32)
    net = Network([KSparseLayer(784, 16, 3), DenseLayer(16, 784, activation="sigmoid")])
    net.train(X, X, epochs=2, batch_size=30, learning_rate=1e-3, random_state=0)
    fig = P.plot_architecture(net, dpi=DPI)
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "KSparseLayer" in text and "DenseLayer" in text and "relu · top-3" in text and "sigmoid" in text
    fig = P.plot_training_curves(net.history_, dpi=DPI)
    assert [ax.get_title() for ax in fig.axes][0] == "Loss"


# ----------------------------------------------------------------------------- data that are not images
def test_plausible_image_shape():
    rng = np.random.default_rng(8)
    assert R.plausible_image_shape(rng.random((3, 784))) == (28, 28)
    assert R.plausible_image_shape(rng.random((3, 64))) == (8, 8)
    assert R.plausible_image_shape(rng.random((3, 768))) is None  # not a square
    assert R.plausible_image_shape(rng.random((3, 16))) is None  # 4 x 4: too small for an image
    assert R.plausible_image_shape(rng.normal(size=(3, 1024))) is None  # negative values: an embedding
    with pytest.raises(ValueError):
        R.plausible_image_shape(np.zeros(784))


def test_make_demo_report_on_embeddings_leaves_out_the_image_figures(tmp_path):
    X = np.random.default_rng(9).normal(size=(30, 768)).astype(np.float32)
    paths = R.make_demo_report(FakeAutoencoder(n_features=768), X, tmp_path, dpi=DPI)  # default image_shape
    assert set(paths) == {"report", "training_curves", "firing_histogram", "code_sparsity", "architecture"}
    html = paths["report"].read_text(encoding="utf-8")
    assert "not read as images" in html and "ssim" not in html and "fvu" in html


def test_make_demo_report_image_shape_choices(tmp_path, X_test):
    est = FakeAutoencoder()
    told = R.make_demo_report(est, X_test, tmp_path / "none", image_shape=None, dpi=DPI)  # told: not images
    assert "atoms" not in told and "reconstructions" not in told and "firing_histogram" in told
    assert "ssim" not in told["report"].read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=r"image_shape=\(24, 32\) does not fit samples of 784 features.*None"):
        R.make_demo_report(est, X_test, tmp_path / "bad", image_shape=(24, 32), dpi=DPI)
    with pytest.raises(ValueError, match="'auto', \\(height, width\\) or None"):
        R.make_demo_report(est, X_test, tmp_path / "bad", image_shape="square", dpi=DPI)


def test_write_demo_report_uses_the_data_image_shape_and_title(tmp_path):
    rng = np.random.default_rng(10)
    X = rng.normal(size=(20, 768)).astype(np.float32)  # 24 x 32 images, standardised: no guess
    data = types.SimpleNamespace(X_test=X, image_shape=(24, 32))
    html = R.write_demo_report(tmp_path / "a", model=FakeAutoencoder(n_features=768), data=data,
                               title="ksparse train", dpi=DPI).read_text(encoding="utf-8")
    assert 'id="fig-atoms"' in html and "<h1>ksparse train</h1>" in html
    html = R.write_demo_report(tmp_path / "b", model=FakeAutoencoder(n_features=768), data=data,
                               image_shape=None, dpi=DPI).read_text(encoding="utf-8")
    assert 'id="fig-atoms"' not in html and 'id="fig-training-curves"' in html
