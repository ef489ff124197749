"""Anomaly scores from the reconstruction error of a k-sparse autoencoder.

Train on every digit but one, then score each test image by how badly the
model reconstructs it. The digit never seen in training and images with added
noise should score higher than the familiar digits; the ROC AUC says how well
the score separates them (0.5 = chance, 1.0 = perfect).

How well an unseen digit stands out depends on the digit: with these settings
(seed 0) the AUC ranged from 0.90 for a held-out 2 (and 0.86-0.88 for 0 and 6)
down to 0.57 for 9, which is made of strokes the model knows from 4 and 7, and
0.29 for 1, which is simpler than every digit the model saw. Noise stands out
almost perfectly.

Run: python examples/anomaly_scores.py [DIGIT]   (about 10 s of CPU time)
"""

import sys

import numpy as np
from sklearn.metrics import roc_auc_score

from ksparse import KSparseAutoencoder
from ksparse.datasets import load_mnist


def anomaly_score(model: KSparseAutoencoder, X: np.ndarray) -> np.ndarray:
    """Mean squared reconstruction error of each sample (higher = more unusual)."""
    return ((X - model.reconstruct(X)) ** 2).mean(axis=1)


def main(held_out: int = 2, seed: int = 0) -> None:
    data = load_mnist()
    normal = data.y_train != held_out
    model = KSparseAutoencoder(n_hidden=200, k=20, n_epochs=20, random_state=seed)
    model.fit(data.X_train[normal])

    X_test, y_test = data.X_test[:3000], data.y_test[:3000]
    scores = anomaly_score(model, X_test)
    unseen = y_test == held_out
    print(f"trained on {normal.sum()} images of every digit but {held_out}")
    print(f"mean score, familiar digits: {scores[~unseen].mean():.4f}   "
          f"digit {held_out} (never seen): {scores[unseen].mean():.4f}")
    print(f"ROC AUC, digit {held_out} as the anomaly: {roc_auc_score(unseen, scores):.3f}")

    rng = np.random.default_rng(seed)
    familiar = X_test[~unseen][:500]
    noisy = np.clip(familiar + rng.normal(0.0, 0.3, familiar.shape), 0.0, 1.0).astype(familiar.dtype)
    s_clean, s_noisy = anomaly_score(model, familiar), anomaly_score(model, noisy)
    labels = np.r_[np.zeros(len(s_clean)), np.ones(len(s_noisy))]
    print(f"mean score, clean: {s_clean.mean():.4f}   with Gaussian noise (sigma 0.3): {s_noisy.mean():.4f}")
    print(f"ROC AUC, noisy images as the anomaly: {roc_auc_score(labels, np.r_[s_clean, s_noisy]):.3f}")

    worst = np.argsort(scores)[::-1][:10]
    print("the 10 most unusual test images have labels:", y_test[worst].tolist())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
