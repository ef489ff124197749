"""The k-sparse autoencoder as a feature extractor inside a scikit-learn Pipeline.

The estimator learns sparse codes of MNIST digits without labels; a logistic
regression then classifies the digits from those codes. The same classifier on
raw pixels is printed for comparison.

Run: python examples/estimator_pipeline.py   (well under a minute on a laptop CPU)
"""

import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from ksparse import KSparseAutoencoder
from ksparse.datasets import load_mnist


def main(n_test: int = 2000, seed: int = 0) -> None:
    data = load_mnist()  # the bundled subset: 5,000 training and 10,000 test images
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.X_train))  # the bundled training images are sorted by class
    X_train, y_train = data.X_train[order], data.y_train[order]
    X_test, y_test = data.X_test[:n_test], data.y_test[:n_test]

    t0 = time.perf_counter()
    pipe = make_pipeline(
        KSparseAutoencoder(n_hidden=400, k=25, random_state=seed),
        LogisticRegression(max_iter=2000),
    )
    pipe.fit(X_train, y_train)
    codes_acc = pipe.score(X_test, y_test)
    t_codes = time.perf_counter() - t0

    t0 = time.perf_counter()
    raw = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    raw_acc = raw.score(X_test, y_test)
    t_raw = time.perf_counter() - t0

    ae = pipe[0]
    codes = ae.transform(X_test[:5])
    print(f"sparse codes: {codes.shape[1]} units, {int((codes[0] != 0).sum())} active for the first test image")
    print(f"accuracy on {n_test} test images:")
    print(f"  k-sparse codes -> logistic regression: {codes_acc:.4f}  ({t_codes:.1f} s)")
    print(f"  raw pixels     -> logistic regression: {raw_acc:.4f}  ({t_raw:.1f} s)")


if __name__ == "__main__":
    main()
