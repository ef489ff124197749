"""Anomaly scores from the reconstruction error of a k-sparse autoencoder.

Train on the digits 0-8 only, then score every test image by how badly the
model reconstructs it. The unseen digit 9 and images with added noise should
score higher than the familiar digits; the ROC AUC says how well the score
separates them (0.5 = chance, 1.0 = perfect).

Run: python examples/anomaly_scores.py   (well under a minute on a laptop CPU)
"""

import numpy as np
from sklearn.metrics import roc_auc_score

from ksparse import KSparseAutoencoder
from ksparse.datasets import load_mnist


def anomaly_score(model: KSparseAutoencoder, X: np.ndarray) -> np.ndarray:
    """Mean squared reconstruction error of each sample (higher = more unusual)."""
    return ((X - model.reconstruct(X)) ** 2).mean(axis=1)


def main(seed: int = 0) -> None:
    data = load_mnist()
    normal = data.y_train != 9
    model = KSparseAutoencoder(n_hidden=200, k=20, random_state=seed)
    model.fit(data.X_train[normal])

    X_test, y_test = data.X_test[:3000], data.y_test[:3000]
    scores = anomaly_score(model, X_test)
    is_nine = y_test == 9
    print(f"trained on {normal.sum()} images of digits 0-8")
    print(f"mean score, digits 0-8: {scores[~is_nine].mean():.4f}   digit 9 (never seen): {scores[is_nine].mean():.4f}")
    print(f"ROC AUC, digit 9 as the anomaly: {roc_auc_score(is_nine, scores):.3f}")

    rng = np.random.default_rng(seed)
    familiar = X_test[~is_nine][:500]
    noisy = np.clip(familiar + rng.normal(0.0, 0.3, familiar.shape), 0.0, 1.0).astype(familiar.dtype)
    s_clean, s_noisy = anomaly_score(model, familiar), anomaly_score(model, noisy)
    labels = np.r_[np.zeros(len(s_clean)), np.ones(len(s_noisy))]
    print(f"mean score, clean: {s_clean.mean():.4f}   with Gaussian noise (sigma 0.3): {s_noisy.mean():.4f}")
    print(f"ROC AUC, noisy images as the anomaly: {roc_auc_score(labels, np.r_[s_clean, s_noisy]):.3f}")

    worst = np.argsort(scores)[::-1][:10]
    print("the 10 most unusual test images have labels:", y_test[worst].tolist())


if __name__ == "__main__":
    main()
