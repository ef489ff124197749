"""Tests for ksparse.plotting: every figure renders, is not blank and has the expected size."""

import os
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ksparse import plotting as P

DPI = 40  # small renders keep the tests fast


def render(fig):
    """Draw the figure with Agg and return its RGB pixels."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(np.float64)


def check_figure(fig, size_inches=None, dpi=DPI):
    assert isinstance(fig, Figure)
    w, h = fig.get_size_inches()
    if size_inches is not None:
        np.testing.assert_allclose((w, h), size_inches, atol=1e-9)
    pixels = render(fig)
    # Agg truncates fractional pixel sizes
    assert abs(pixels.shape[0] - h * dpi) < 1 and abs(pixels.shape[1] - w * dpi) < 1
    assert pixels.std() > 8.0, "figure looks blank"
    assert (pixels < 128).mean() > 0.002, "figure has almost nothing dark on it"
    return pixels


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def digits():
    """Smooth blob 'images' of 28x28 in [0, 1] and two noisier reconstructions."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:28, 0:28]
    imgs = []
    for _ in range(12):
        cy, cx, r = rng.uniform(9, 19), rng.uniform(9, 19), rng.uniform(3, 7)
        ring = np.exp(-((np.hypot(yy - cy, xx - cx) - r) ** 2) / 3.0)
        imgs.append(ring.ravel())
    X = np.clip(np.array(imgs), 0, 1)
    recs = {k: np.clip(X + rng.normal(0, s, X.shape), 0, 1) for k, s in ((5, 0.2), (20, 0.08))}
    return X, recs


@pytest.fixture(scope="module")
def history():
    n = 6
    return {
        "epoch": list(range(1, n + 1)),
        "loss": list(np.geomspace(0.08, 0.01, n)),
        "mse": list(np.geomspace(0.07, 0.009, n)),
        "l0": [24.5] * n,
        "dead_fraction": [0.2, 0.1, 0.05, 0.0, 0.0, 0.0],
        "k": [100, 75, 50, 25, 25, 25],
        "time": [1.2, 1.0, 1.1, 1.0, 0.9, 1.0],
        "peak_rss_mb": [210.0, 212.0, 212.5, 213.0, 213.0, 213.0],
    }


# ----------------------------------------------------------------------------- reconstructions
def test_reconstructions(digits, tmp_path):
    X, recs = digits
    path = tmp_path / "sub" / "rec.png"
    fig = P.plot_reconstructions(X, recs, n_images=6, path=path, dpi=DPI)
    pixels = check_figure(fig)
    assert png_size(path) == (pixels.shape[1], pixels.shape[0])
    assert fig.get_size_inches()[0] == pytest.approx(0.95 * 6 + 1.35)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels[0] == "original" and labels[1].startswith("k = 5") and labels[2].startswith("k = 20")


def test_reconstructions_string_keys_keep_order_and_fewer_images(digits):
    X, recs = digits
    fig = P.plot_reconstructions(X[:3], {"k = 20": recs[20][:3], "PCA, 5": recs[5][:3]}, n_images=8, dpi=DPI)
    check_figure(fig)
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes] == ["original", "k = 20", "PCA, 5"]


def test_reconstructions_errors(digits):
    X, recs = digits
    with pytest.raises(ValueError, match="image_shape"):
        P.plot_reconstructions(X, recs, image_shape=(20, 20))
    with pytest.raises(ValueError, match="non-empty dict"):
        P.plot_reconstructions(X, {})
    with pytest.raises(ValueError, match="needs at least"):
        P.plot_reconstructions(X, {5: X[:2]}, n_images=4)
    with pytest.raises(ValueError, match="n_images"):
        P.plot_reconstructions(X, recs, n_images=0)
    with pytest.raises(ValueError, match="dpi"):
        P.plot_reconstructions(X, recs, dpi=0)


# ----------------------------------------------------------------------------- atoms
def test_atoms_by_usage(tmp_path):
    rng = np.random.default_rng(1)
    W = rng.standard_normal((30, 784))
    usage = rng.random(30)
    path = tmp_path / "atoms.png"
    fig = P.plot_decoder_atoms(W, usage=usage, n_atoms=9, path=path, dpi=DPI)
    pixels = check_figure(fig)
    assert png_size(path) == (pixels.shape[1], pixels.shape[0])
    labels = [t.get_text() for t in fig.axes[0].texts]
    first = int(np.argmax(usage))
    assert len(labels) == 9 and labels[0].startswith(f"#{first} ")


def test_atoms_first_n_non_square():
    W = np.random.default_rng(2).standard_normal((5, 12 * 20))
    fig = P.plot_decoder_atoms(W, image_shape=(12, 20), n_atoms=64, dpi=DPI)
    check_figure(fig)
    assert "5 of 5" in fig._suptitle.get_text()


def test_atoms_errors():
    W = np.zeros((4, 784))
    with pytest.raises(ValueError, match="one per unit"):
        P.plot_decoder_atoms(W, usage=np.ones(3))
    with pytest.raises(ValueError, match="image_shape"):
        P.plot_decoder_atoms(np.zeros((4, 100)))
    with pytest.raises(ValueError, match="2-D"):
        P.plot_decoder_atoms(np.zeros(784))


# ----------------------------------------------------------------------------- training curves
def test_training_curves(history, tmp_path):
    path = tmp_path / "curves.png"
    fig = P.plot_training_curves(history, path=path, dpi=DPI)
    check_figure(fig, size_inches=(12.0, 6.6))
    assert png_size(path) == (480, 264)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Loss = MSE + auxiliary terms", "Reconstruction MSE", "Active units per sample", "Dead units",
                      "Time per epoch (total 6.2 s)", "Peak memory (RSS)"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "train", "auxiliary terms (loss - MSE)", "MSE part", "k annealing"]
    total, aux, mse_part = fig.axes[0].get_lines()
    np.testing.assert_allclose(aux.get_ydata(), np.subtract(history["loss"], history["mse"]))
    np.testing.assert_allclose(mse_part.get_ydata(), history["mse"])


def test_training_curves_loss_breakdown_only_where_there_are_auxiliary_terms(history):
    # the objective is the MSE alone: one line, plain title
    h = dict(history, loss=list(history["mse"]))
    fig = P.plot_training_curves(h, dpi=DPI)
    assert fig.axes[0].get_title() == "Loss" and len(fig.axes[0].get_lines()) == 1
    # AuxK joins in at epoch 4 (units die): the auxiliary line starts there
    loss = list(history["mse"][:3]) + [m + 0.02 for m in history["mse"][3:]]
    fig = P.plot_training_curves(dict(history, loss=loss), dpi=DPI)
    aux = np.asarray(fig.axes[0].get_lines()[1].get_ydata(), dtype=float)
    assert np.isnan(aux[:3]).all()
    np.testing.assert_allclose(aux[3:], 0.02)


def test_training_curves_with_validation_and_one_epoch(history):
    h = dict(history, val_loss=[x * 1.1 for x in history["loss"]], val_mse=[x * 1.1 for x in history["mse"]])
    fig = P.plot_training_curves(h, dpi=DPI)
    check_figure(fig)
    # loss panel: train, validation, and the breakdown of train (loss > mse in the fixture)
    assert len(fig.axes[0].get_lines()) == 4 and len(fig.axes[1].get_lines()) == 2
    one = {key: values[:1] for key, values in history.items()}
    check_figure(P.plot_training_curves(one, dpi=DPI))


def test_training_curves_of_a_network_history():
    h = {"epoch": [1, 2, 3, 4], "loss": [0.9, 0.5, 0.4, 0.35], "time": [0.5, 0.4, 0.4, 0.45]}
    fig = P.plot_training_curves(h, dpi=DPI)
    check_figure(fig, size_inches=(8.0, 3.6))
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Time per epoch (total 1.8 s)"]
    fig = P.plot_training_curves({"loss": [1.0, 0.5]}, dpi=DPI)  # no epoch key: numbered from 1
    check_figure(fig, size_inches=(4.0, 3.6))
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_xdata(), [1, 2])


def test_training_curves_errors(history):
    with pytest.raises(ValueError, match="neither 'loss' nor 'mse'"):
        P.plot_training_curves({"epoch": [1], "time": [1.0]})
    bad = dict(history, mse=history["mse"][:-1])
    with pytest.raises(ValueError, match="entries"):
        P.plot_training_curves(bad)
    with pytest.raises(ValueError, match="empty"):
        P.plot_training_curves({key: [] for key in history})
    with pytest.raises(TypeError, match="dict"):
        P.plot_training_curves([1, 2, 3])


# ----------------------------------------------------------------------------- trade-off and PCA
def test_k_tradeoff(tmp_path):
    rows = [{"k": 5, "mse": 0.024, "psnr": 16.2, "seconds": 3.0}, {"k": 20, "mse": 0.0116}]
    path = tmp_path / "tradeoff.png"
    fig = P.plot_k_tradeoff(rows, pca_rows=P.PCA_REFERENCE_ROWS, target_rows=P.TARGET_ROWS, path=path, dpi=DPI)
    check_figure(fig, size_inches=(11.0, 4.6))
    assert png_size(path) == (440, 184)
    ax_mse, ax_psnr = fig.axes
    assert ax_mse.get_yscale() == "log"
    labels = [line.get_label() for line in ax_psnr.get_lines()]
    assert labels == ["original project", "PCA, k components", "target", "ksparse"]
    # the measured line uses the given PSNR, or 10 log10(1 / mse)
    np.testing.assert_allclose(ax_psnr.get_lines()[-1].get_ydata(), [16.2, 10 * np.log10(1 / 0.0116)])
    ratios = [t.get_text() for t in ax_mse.texts]
    assert ratios == [f"{0.0518 / 0.024:.1f}×", f"{0.0367 / 0.0116:.1f}×"]


def test_k_tradeoff_dict_rows_without_references():
    fig = P.plot_k_tradeoff({10: 0.02, 30: 0.01}, original_rows=None, dpi=DPI)
    check_figure(fig)
    assert len(fig.axes[0].get_lines()) == 1 and not fig.axes[0].texts


def test_k_tradeoff_errors():
    with pytest.raises(ValueError, match="empty"):
        P.plot_k_tradeoff([])
    with pytest.raises(ValueError, match="'k' and 'mse'"):
        P.plot_k_tradeoff([{"k": 5}])
    with pytest.raises(ValueError, match="finite"):
        P.plot_k_tradeoff([{"k": 5, "mse": float("nan")}])


def test_reference_tables_match_design():
    assert [r["k"] for r in P.ORIGINAL_ROWS] == [5, 10, 20, 30, 50]
    assert [r["mse"] for r in P.ORIGINAL_ROWS] == [0.0518, 0.0410, 0.0367, 0.0356, 0.0345]


def test_pca_k_mse_matches_sklearn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(3)
    basis = rng.standard_normal((6, 40))
    Xtr = rng.standard_normal((300, 6)) @ basis + 0.1 * rng.standard_normal((300, 40))
    Xte = rng.standard_normal((50, 6)) @ basis + 0.1 * rng.standard_normal((50, 40))
    rows = P.pca_k_mse(Xtr, Xte, [1, 3, 6])
    for row in rows:
        pca = PCA(n_components=row["k"], svd_solver="full").fit(Xtr)
        ref = np.mean((pca.inverse_transform(pca.transform(Xte)) - Xte) ** 2)
        assert row["mse"] == pytest.approx(ref, rel=1e-8)
        assert row["psnr"] == pytest.approx(10 * np.log10(1 / ref))
    assert rows[0]["mse"] > rows[1]["mse"] > rows[2]["mse"]
    # fewer samples than features: the direct SVD path
    full = P.pca_k_mse(Xte[:10], Xte[:10], [9])[0]
    assert full["mse"] < 1e-20 or full["mse"] == pytest.approx(0.0, abs=1e-20)


def test_pca_k_mse_errors():
    with pytest.raises(ValueError, match="between 1 and"):
        P.pca_k_mse(np.zeros((5, 3)) + np.arange(3), np.zeros((2, 3)), [4])
    with pytest.raises(ValueError, match="features"):
        P.pca_k_mse(np.zeros((5, 3)), np.zeros((2, 4)), [1])


# ----------------------------------------------------------------------------- firing histogram
def test_firing_histogram_marks_dead_and_dense(tmp_path):
    rng = np.random.default_rng(4)
    f = rng.uniform(0.005, 0.08, 200)
    f[:15] = 0.0
    f[15:19] = [0.6, 0.7, 0.9, 1.0]
    path = tmp_path / "hist.png"
    fig = P.plot_firing_histogram(f, n_samples=1000, path=path, dpi=DPI)
    check_figure(fig, size_inches=(8.0, 4.4))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "dead\n15" in texts and "dense > " in texts and ": 4" in texts
    heights = [p.get_height() for p in ax.patches]
    assert heights[-1] == 15  # the dead bar
    assert sum(heights[:-1]) == 185  # every live unit lands in a bin
    from matplotlib.colors import to_rgba

    orange = to_rgba(P.COLORS["dense"])
    assert sum(p.get_height() for p in ax.patches[:-1] if p.get_facecolor() == orange) == 4


def test_firing_histogram_all_dead_and_uniform():
    check_figure(P.plot_firing_histogram(np.zeros(50), dpi=DPI))
    fig = P.plot_firing_histogram(np.full(100, 0.5), dpi=DPI)  # dense threshold 1: no dense line
    check_figure(fig)
    assert not any("dense >" in t.get_text() for t in fig.axes[0].texts)


def test_firing_histogram_errors():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        P.plot_firing_histogram(np.array([0.5, 3.0]))
    with pytest.raises(ValueError, match="dense_threshold"):
        P.plot_firing_histogram(np.array([0.5]), dense_threshold=0)
    with pytest.raises(ValueError, match="n_samples"):
        P.plot_firing_histogram(np.array([0.001]), n_samples=10)


# ----------------------------------------------------------------------------- code sparsity
def test_code_sparsity(tmp_path):
    rng = np.random.default_rng(5)
    idx = np.stack([rng.choice(300, 8, replace=False) for _ in range(80)])
    vals = rng.random(idx.shape)
    vals[0, 0] = 0.0
    path = tmp_path / "codes.png"
    fig = P.plot_code_sparsity(idx, 300, values=vals, n_samples=32, path=path, dpi=DPI)
    check_figure(fig, size_inches=(11.0, 5.6))
    assert png_size(path) == (440, 224)
    ax, ax_top, ax_right = fig.axes
    img = ax.get_images()[0].get_array()
    assert img.shape == (32, 300)
    assert np.count_nonzero(img) == 32 * 8 - 1
    widths = [p.get_width() for p in ax_right.patches]
    assert widths[0] == 7 and widths[1] == 8


def test_code_sparsity_sorted_binary():
    idx = np.array([[0, 1], [1, 2], [1, 3]])
    fig = P.plot_code_sparsity(idx, 6, sort_units=True, dpi=DPI)
    check_figure(fig)
    counts = [p.get_height() for p in fig.axes[1].patches]
    assert counts == [3, 1, 1, 1, 0, 0]


def test_code_sparsity_errors():
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        P.plot_code_sparsity([[0, 4]], 4)
    with pytest.raises(ValueError, match="same shape"):
        P.plot_code_sparsity([[0, 1]], 4, values=[[1.0]])


# ----------------------------------------------------------------------------- architecture
class Act:
    def __init__(self, name):
        self.name = name


class KSparseLayer:
    def __init__(self, n_in, n_out, k, activation="relu"):
        self.n_in, self.n_out, self.k, self.activation = n_in, n_out, k, Act(activation)


class DenseLayer:
    def __init__(self, n_in, n_out, activation="linear"):
        self.n_in, self.n_out, self.activation = n_in, n_out, Act(activation)


def texts_of(fig):
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]
    return " | ".join(texts) + " | " + fig._suptitle.get_text()


def test_architecture_of_network(tmp_path):
    net = types.SimpleNamespace(layers=[KSparseLayer(784, 1000, 25), DenseLayer(1000, 784, "sigmoid")])
    path = tmp_path / "arch.png"
    fig = P.plot_architecture(net, path=path, dpi=DPI)
    check_figure(fig, size_inches=(2.7 * 3 + 0.6, 4.6))
    text = texts_of(fig)
    for expected in ("KSparseLayer", "DenseLayer", "relu · top-25", "sigmoid", "25 of 1,000 active", "784",
                     "1,000 × 784 weights"):
        assert expected in text
    assert png_size(path)[1] == round(4.6 * DPI)


def test_architecture_of_layer_list_and_autoencoder():
    layers = [KSparseLayer(64, 32, 4, "tanh"), DenseLayer(32, 16, "gelu"), DenseLayer(16, 10)]
    fig = P.plot_architecture(layers, dpi=DPI)
    check_figure(fig)
    assert "64 → 32 → 16 → 10" in texts_of(fig)
    ae = types.SimpleNamespace(n_features_in_=784, n_hidden=100, k=10, activation="relu")
    fig = P.plot_architecture(ae, dpi=DPI)
    check_figure(fig)
    text = texts_of(fig)
    assert "KSparse encoder" in text and "Linear decoder" in text and "10 of 100 active" in text


def test_architecture_errors():
    with pytest.raises(ValueError, match="not fitted"):
        P.plot_architecture(types.SimpleNamespace(n_hidden=10, k=2, activation="relu"))
    with pytest.raises(ValueError, match="takes 20 inputs"):
        P.plot_architecture([DenseLayer(10, 30), DenseLayer(20, 5)])
    with pytest.raises(TypeError, match="no .activation"):
        P.plot_architecture([types.SimpleNamespace(n_in=3, n_out=2)])
    with pytest.raises(ValueError, match="no layers"):
        P.plot_architecture([])


# ----------------------------------------------------------------------------- import hygiene
def test_no_pyplot_and_lazy_matplotlib():
    code = (
        "import sys, numpy as np\n"
        "import ksparse\n"
        "assert 'matplotlib' not in sys.modules, 'import ksparse imported matplotlib'\n"
        "fig = ksparse.plotting.plot_firing_histogram(np.linspace(0, 1, 20), dpi=20)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "print('ok')\n"
    )
    root = pathlib.Path(__file__).resolve().parents[1]
    # a GUI backend and no display: figures must still be drawn (Agg, no pyplot)
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["MPLBACKEND"] = "tkagg"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=root,
                            env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# ----------------------------------------------------------------------------- one unit
@pytest.fixture(scope="module")
def small_model():
    from ksparse import KSparseAutoencoder

    X = np.random.default_rng(7).random((80, 64)).astype(np.float32)
    return KSparseAutoencoder(n_hidden=12, k=3, n_epochs=1, random_state=0).fit(X), X


def test_plot_unit(tmp_path, small_model):
    model, X = small_model
    unit = int(np.argmax(model.unit_statistics(X)["count"]))
    fig = P.plot_unit(model, X, unit, image_shape=(8, 8), n=5, path=tmp_path / "unit.png", dpi=DPI)
    check_figure(fig)
    assert len(fig.axes) == 1 + 5  # the atom, then one axes per sample
    assert (tmp_path / "unit.png").read_bytes().startswith(b"\x89PNG")
    rows, acts = model.top_activating(X, unit, n=5)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == f"atom #{unit}"
    assert titles[1:] == [f"row {r}\n{float(a):.3g}" for r, a in zip(rows, acts)]
    # more samples asked for than X holds: all of them, over two rows of tiles
    fig = P.plot_unit(model, X[:11], unit, image_shape=(8, 8), n=50, dpi=DPI)
    assert len(fig.axes) == 1 + 11


def test_plot_unit_errors(small_model):
    model, X = small_model
    with pytest.raises(ValueError, match="cannot be shown as 28x28"):
        P.plot_unit(model, X, 0)  # the default image_shape does not fit 64 features
    with pytest.raises(ValueError, match="unit=12 is outside"):
        P.plot_unit(model, X, 12, image_shape=(8, 8))
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        P.plot_unit(model, X, 0, image_shape=(8, 8), n=0)
    with pytest.raises(ValueError, match="expecting 64 features"):
        P.plot_unit(model, X[:, :16], 0, image_shape=(8, 8))
    with pytest.raises(TypeError, match="fitted KSparseAutoencoder"):
        P.plot_unit(object(), X, 0, image_shape=(8, 8))
