"""bench/quality_suite.py on tiny shapes, offline and without torch (the peer is left out
with ``--no-torch``): the generators, the metrics on constructed cases, and one short run
of the suite end to end."""

import json
import os
import sys

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")
sys.path.insert(0, BENCH)

import _planted  # noqa: E402
import quality_suite  # noqa: E402


def test_planted_data_is_seeded_and_shaped():
    a = _planted.make_planted(16, 32, 3, 400, 100, freq="zipf", seed=1)
    b = _planted.make_planted(16, 32, 3, 400, 100, freq="zipf", seed=1)
    c = _planted.make_planted(16, 32, 3, 400, 100, freq="zipf", seed=2)
    assert a["X_train"].shape == (400, 16) and a["X_test"].shape == (100, 16)
    assert a["X_train"].dtype == np.float32
    np.testing.assert_array_equal(a["X_train"], b["X_train"])
    assert not np.array_equal(a["X_train"], c["X_train"])
    np.testing.assert_allclose(np.linalg.norm(a["atoms"], axis=1), 1.0)
    assert a["counts"].sum() == 400 * 3
    # Zipf: the most likely atom is drawn far more often than the rarest quartile's
    assert a["counts"][np.argmax(a["p"])] > 4 * a["counts"][_planted.rarest_quartile(a["counts"])].mean()


def test_supports_are_distinct_and_follow_the_weights():
    rng = np.random.default_rng(0)
    p = _planted.atom_probabilities(20, "zipf")
    idx = _planted.draw_supports(p, 4, 3000, rng)
    assert idx.shape == (3000, 4)
    assert all(len(set(r)) == 4 for r in idx[:200])
    counts = np.bincount(idx.ravel(), minlength=20)
    assert counts[0] > counts[10] > counts[19] > 0


def test_recovery_of_the_planted_dictionary_itself_is_complete():
    d = _planted.make_planted(24, 48, 3, 300, 50, seed=0)
    rng = np.random.default_rng(0)
    W = d["atoms"][rng.permutation(48)] * rng.uniform(0.5, 2.0, (48, 1))  # order and row norms do not matter
    r = _planted.recovery(W, d["atoms"], d["counts"])
    assert r == {"recovered": 1.0, "rare": 1.0, "mean_max_cos": pytest.approx(1.0)}


def test_recovery_counts_missing_and_negated_atoms():
    d = _planted.make_planted(24, 48, 3, 300, 50, seed=0)
    rare = _planted.rarest_quartile(d["counts"])
    assert len(rare) == 12
    W = d["atoms"].copy()
    W[rare[:6]] = -W[rare[:6]]  # an opposite row does not recover an atom
    r = _planted.recovery(W, d["atoms"], d["counts"])
    assert r["recovered"] == pytest.approx(42 / 48)
    assert r["rare"] == pytest.approx(0.5)
    assert r["mean_max_cos"] < 1.0
    # a slightly rotated atom still counts (cosine 0.95 > 0.9), a farther one not (0.85)
    W = d["atoms"].copy()
    for j, c in ((0, 0.95), (1, 0.85)):
        other = d["atoms"][j + 2] - (d["atoms"][j + 2] @ d["atoms"][j]) * d["atoms"][j]
        other /= np.linalg.norm(other)
        W[j] = c * d["atoms"][j] + np.sqrt(1 - c * c) * other
    cos = _planted.max_cosines(W, d["atoms"])
    assert cos[0] == pytest.approx(0.95) and cos[1] < 0.9


def test_fvu():
    X = np.random.default_rng(0).normal(size=(200, 5)) + 7.0
    assert _planted.fvu(X, X) == 0.0
    assert _planted.fvu(X, np.broadcast_to(X.mean(0), X.shape)) == pytest.approx(1.0)
    assert _planted.fvu(X, X + 0.1 * (X - X.mean(0))) == pytest.approx(0.01)


def test_activation_like_data_is_anisotropic_with_a_large_mean():
    d = _planted.make_activation_like(32, 64, 3, 2000, 200, seed=0, n_outlier_dims=4)
    X = d["X_train"].astype(np.float64)
    var = X.var(0)
    assert np.sort(var)[-4:].min() > 5 * np.median(var)  # a few dimensions dominate
    mu = X.mean(0)
    assert np.linalg.norm(mu) ** 2 > 10 * var.sum()  # a large shared mean
    norms = np.linalg.norm(X - mu, axis=1)
    assert np.percentile(norms, 99) > 2.5 * np.median(norms)  # heavy-tailed norms
    np.testing.assert_allclose(np.linalg.norm(d["atoms"], axis=1), 1.0)


def test_evaluate_with_the_true_dictionary():
    name = "planted_n64_m512_k4_uniform"
    d = _planted.make_planted(16, 32, 2, 200, 100, seed=0, noise=0.0)
    res = quality_suite.evaluate(name, d, d["atoms"], d["X_test"].astype(np.float64))
    assert res["fvu"] == 0.0 and res["recovered"] == 1.0 and res["rare"] == 1.0


def test_plan_steps_matches_auto_epochs():
    epochs, B, steps = quality_suite.plan_steps("mnist_k5", 5000, 0)
    assert (epochs, B) == (None, 32) and steps == 192 * 157
    epochs, B, steps = quality_suite.plan_steps("mnist_k5", 5000, 0, steps=200)
    assert epochs == 2 and steps == 314


def test_suite_end_to_end_tiny(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(quality_suite.ROWS, "tiny_planted",
                        {"kind": "planted", "n": 16, "m": 24, "k": 2, "freq": "zipf", "samples": 600})
    monkeypatch.setitem(quality_suite.ROWS, "tiny_act",
                        {"kind": "act", "n": 16, "m": 24, "k": 2, "freq": "zipf", "samples": 600})
    monkeypatch.setattr(quality_suite, "N_TEST_PLANTED", 100)
    out = tmp_path / "suite.json"
    rc = quality_suite.main(["--rows", "tiny_planted", "tiny_act", "--steps", "40", "--seeds", "0", "1",
                             "--no-torch", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "tiny_planted" in text and "tiny_act" in text and "targets missed" in text
    doc = json.loads(out.read_text())
    assert [l["row"] for l in doc["rows"]] == ["tiny_planted", "tiny_act"]
    assert doc["torch"] is False
    assert {r["who"] for r in doc["results"]} == {"ksparse"}
    assert len(doc["results"]) == 4  # two rows, two seeds
    for line in doc["rows"]:
        assert line["seeds"] == [0, 1] and line["steps"] == 57  # 40 steps -> 3 epochs of 19 batches
        ks = line["ksparse"]
        assert 0.0 <= ks["recovered"]["min"] <= ks["recovered"]["mean"] <= 1.0
        assert 0.0 <= ks["err"]["min"] and np.isfinite(ks["err"]["mean"])
        assert "torch" not in line
    assert doc["misses"]  # 57 steps recover few atoms: the targets are missed


def test_missing_fashion_folder_skips_the_row(tmp_path, capsys):
    res = quality_suite.run_suite(["fashion_k25"], with_torch=False, fashion_dir=str(tmp_path / "none"),
                                  log=lambda s: None)
    assert res["rows"] == [{"row": "fashion_k25", "skipped": True}]
    assert "skipped" in capsys.readouterr().err
    assert "skipped" in quality_suite.format_table(res["rows"])


def test_fashion_row_on_a_tiny_idx_folder(tmp_path, make_idx_folder):
    folder = make_idx_folder(tmp_path, n_train=64, n_test=32, image_shape=(28, 28), n_classes=10, seed=0)
    res = quality_suite.run_suite(["fashion_k25"], steps=4, with_torch=False, fashion_n=48,
                                  fashion_dir=str(folder), log=lambda s: None)
    (line,) = res["rows"]
    assert (line["n"], line["m"], line["k"], line["samples"], line["steps"]) == (784, 1000, 25, 48, 4)
    assert line["err_name"] == "MSE" and "recovered" not in line["ksparse"]
    assert 0.0 <= line["ksparse"]["err"]["mean"] < 1.0
