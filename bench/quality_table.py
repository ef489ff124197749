"""Reproduce the original project's table: 784 -> 100 hidden on the 5,000 bundled MNIST
training images, MSE on the first 1,000 test images, k = 5, 10, 20, 30, 50, with the
estimator's DEFAULT hyperparameters apart from n_hidden, k and random_state.

Run from the repository root::

    python bench/quality_table.py [--k 5 10 20 30 50] [--seed 0] [--threads 1]

Measured (seed 0, 1 thread, busy 2-core machine, defaults: batch_size 32, 100 epochs,
lr 1e-2, decoder initialised from training samples): MSE 0.0254 0.0180 0.0123 0.0098
0.0074 for k = 5 10 20 30 50 (targets 0.024 0.018 0.012 0.009 0.007), 22-70 s per model.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from ksparse import KSparseAutoencoder  # noqa: E402

ORIGINAL = {5: 0.0518, 10: 0.0410, 20: 0.0367, 30: 0.0356, 50: 0.0345}
TARGET = {5: 0.024, 10: 0.018, 20: 0.012, 30: 0.009, 50: 0.007}


def read_idx(path: str) -> np.ndarray:
    """Read an IDX (gz) file into a uint8 array (a few lines, for the benchmarks)."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist_subset():
    """(X_train 5000x784, y_train, X_test 10000x784, y_test), pixels / 255 in [0, 1], float32."""
    try:
        from ksparse.datasets import load_mnist  # the io engineer's loader, once merged

        d = load_mnist()
        if isinstance(d, dict):
            Xtr, ytr, Xte, yte = d["X_train"], d["y_train"], d["X_test"], d["y_test"]
        else:
            Xtr, ytr, Xte, yte = d
        Xtr = np.asarray(Xtr, dtype=np.float32).reshape(len(Xtr), -1)
        Xte = np.asarray(Xte, dtype=np.float32).reshape(len(Xte), -1)
        if Xtr.max() > 1.0:
            Xtr, Xte = Xtr / 255.0, Xte / 255.0
        return Xtr, np.asarray(ytr), Xte, np.asarray(yte)
    except (ImportError, AttributeError, KeyError, TypeError, ValueError):
        pass
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ksparse", "datasets", "data")
    Xtr = read_idx(os.path.join(here, "train-5k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255.0
    ytr = read_idx(os.path.join(here, "train-5k-labels-idx1-ubyte.gz")).astype(np.int64)
    Xte = read_idx(os.path.join(here, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255.0
    yte = read_idx(os.path.join(here, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    return Xtr, ytr, Xte, yte


def pca_mse(Xtr: np.ndarray, Xte: np.ndarray, k: int) -> float:
    mu = Xtr.mean(axis=0)
    _, _, Vt = np.linalg.svd(Xtr - mu, full_matrices=False)
    P = Vt[:k]
    R = (Xte - mu) @ P.T @ P + mu
    return float(((R - Xte) ** 2).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=int, nargs="+", default=[5, 10, 20, 30, 50])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-mse", action="store_true", help="also print the training-set MSE")
    ap.add_argument("--set", nargs="*", default=[], help="extra estimator params name=value (for tuning only)")
    args = ap.parse_args(argv)
    extra = {}
    for kv in args.set:
        name, value = kv.split("=", 1)
        extra[name] = eval(value)  # noqa: S307 - a developer's tuning switch
    Xtr, _, Xte, _ = load_mnist_subset()
    Xte = Xte[:1000]
    print(f"{'k':>3} {'ksparse MSE':>12} {'target':>8} {'original':>9} {'PCA-k':>8} {'seconds':>8} {'ok':>3}")
    all_ok = True
    for k in args.k:
        t0 = time.perf_counter()
        est = KSparseAutoencoder(n_hidden=100, k=k, random_state=args.seed, n_threads=args.threads, **extra)
        est.fit(Xtr)
        secs = time.perf_counter() - t0
        mse = -est.score(Xte)
        if args.train_mse:
            print(f"    train MSE (first 1000) {-est.score(Xtr[:1000]):.4f}")
        ok = mse <= TARGET.get(k, np.inf)
        all_ok &= ok
        print(f"{k:>3} {mse:>12.4f} {TARGET.get(k, float('nan')):>8.4f} {ORIGINAL.get(k, float('nan')):>9.4f} "
              f"{pca_mse(Xtr, Xte, k):>8.4f} {secs:>8.1f} {'yes' if ok else 'NO':>3}", flush=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
