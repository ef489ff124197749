"""Dead units on a larger data set: 784 -> 1000 hidden, k=25, 20 epochs on 20,000
Fashion-MNIST training images, with the DEFAULT hyperparameters (``--set`` overrides
them, for comparisons). Prints the share of dead units after each epoch, the test MSE,
the share of units that never fire on the 10,000 test images and, with ``--probe``, the
accuracy of a logistic regression on the codes (as bench/features_accuracy.py).

Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``); any folder of MNIST-format IDX files works::

    python bench/dead_units.py [--data FOLDER] [--seed 0] [--probe] [--set name=value ...]

Measured (seed = random_state; the 20,000 images are the same for every seed), test MSE
and dead share at the end:

================================================  =====================  ======================
settings                                          seeds 0, 1, 2          dead at the end
================================================  =====================  ======================
defaults (AuxK at 1/8, no resets)                 0.0089 0.0089 0.0089   11%, 9%, 8%
``auxk_coef=0.0``                                 0.0089 0.0088 0.0089   16%, 13%, 15%
``auxk_coef=1/32``                                0.0089 0.0088 0.0089   24%, 25%, 26%
``auxk_coef=1/16`` (seed 0); ``1/4`` (seed 1)     0.0089; 0.0089         13%; 24%
``auxk_coef=1/4`` (seed 0); ``1/2`` (seed 0)      0.0089; 0.0089         25%; 36%
``dead_reset=True auxk_coef=1/32`` (the defaults
before)                                           0.0093 0.0092          43%, 47%
``dead_reset=True auxk_coef=0.0`` (seed 0)        0.0091                 28%
``optimizer="adam"`` (seed 0)                     0.0087                 62%
``optimizer="adam" dead_reset=True`` (seed 0)     0.0139                 93%
================================================  =====================  ======================

With ``--probe`` (seed 0): accuracy 0.8597 with the defaults, 0.8681 with
``optimizer="adam"``; on these images dense Adam's pruned model makes the better
features, where on MNIST the lazy rule's does (bench/features_accuracy.py).

Most units die while k is annealed (k falls from 100 to 25 over the first 10 epochs);
AuxK then brings some of them back. 50-70 s of training per run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from features_accuracy import logistic_accuracy  # noqa: E402
from quality_table import describe_setting, tuning_params  # noqa: E402

from ksparse import KSparseAutoencoder, metrics  # noqa: E402
from ksparse.datasets import load_idx_folder  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="dead units of a 784 -> 1000, k=25 model on Fashion-MNIST")
    ap.add_argument("--data", default=FASHION, help=f"a folder of MNIST-format IDX files (default {FASHION})")
    ap.add_argument("--n-train", type=int, default=20000, help="training images (a fixed random subset)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0, help="the estimator's random_state")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--probe", action="store_true", help="also score a logistic regression on the codes")
    ap.add_argument("--set", nargs="*", default=[], help="extra estimator params name=value (for comparisons)")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.data):
        print(f"{args.data} does not exist: install Debian's dataset-fashion-mnist "
              "(apt-get install dataset-fashion-mnist) or pass --data FOLDER", file=sys.stderr)
        return 2
    extra = tuning_params(args.set)
    Xtr, ytr, Xte, yte = load_idx_folder(args.data)
    sel = np.random.default_rng(0).permutation(len(Xtr))[: args.n_train]
    Xtr, ytr = Xtr[sel], ytr[sel]
    t0 = time.perf_counter()
    est = KSparseAutoencoder(n_hidden=1000, k=25, n_epochs=args.epochs, random_state=args.seed,
                             n_threads=args.threads, **extra).fit(Xtr)
    secs = time.perf_counter() - t0
    print(f"784 -> 1000, k=25, {args.epochs} epochs on {len(Xtr)} images ({describe_setting(extra)}), seed {args.seed}: "
          f"trained in {secs:.0f} s")
    print("dead share after each epoch: " + " ".join(f"{d:.2f}" for d in est.history_["dead_fraction"]))
    idx, val = est.encode(Xte)
    silent = metrics.dead_fraction(metrics.firing_frequency(idx, est.n_hidden, values=val))
    print(f"test MSE {-est.score(Xte):.4f}; dead at the end {est.history_['dead_fraction'][-1]:.3f}; "
          f"units that never fire on the {len(Xte)} test images {silent:.3f}")
    if args.probe:
        ke = 3 * est.k
        acc = logistic_accuracy(est.transform(Xtr, k=ke), ytr, est.transform(Xte, k=ke), yte, C=0.05)
        print(f"logistic regression (C=0.05) on codes with {ke} active: accuracy {acc:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
