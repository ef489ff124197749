"""Dead units on a larger data set: 784 -> 1000 hidden, k=25 on 20,000 Fashion-MNIST
training images, with the DEFAULT hyperparameters (``--set`` overrides them, for
comparisons; ``--epochs`` sets the number of passes, by default the 48 of
``n_epochs="auto"`` here). Prints the share of dead units after each epoch, the test MSE,
the share of units that never fire on the 10,000 test images and, with ``--probe``, the
accuracy of a logistic regression on the codes (as bench/features_accuracy.py).

Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``); any folder of MNIST-format IDX files works::

    python bench/dead_units.py [--data FOLDER] [--n-train 20000] [--epochs N] [--seed 0] [--probe] [--set name=value ...]

Measured (seed = random_state; the 20,000 images are the same for every seed), test MSE
and dead share at the end. The test MSEs in the tables were measured before the output
clip (``output_bounds``), as ``--set output_bounds=None`` measures them now; the dead
shares do not depend on it, since the clip acts only on the model's output. With the
clip (the default, seed 0): test MSE 0.0071 (training MSE 0.0058), against 0.0073
(0.0061) without it, and 0.0078 (0.0056) with ``clip_training=True``, which leaves 7.5%
dead (probe accuracy 0.8730). With the defaults (48 epochs, no AuxK, no resets):

================================================  =====================  ======================
settings, 48 epochs                               seeds 0, 1, 2          dead at the end
================================================  =====================  ======================
defaults (no AuxK, no resets)                     0.0073 0.0074 0.0074   15%, 15%, 16%
``auxk_coef=1/32`` (seed 0); ``1/16`` (seed 0)    0.0073; 0.0074         23%; 26%
``auxk_coef=1/8`` (the default before "auto")     0.0075 0.0074 0.0075   37%, 37%, 38%
``auxk_coef=1/8``, AuxK kept off the pre-bias     0.0075                 25%
(an experiment, not in the code; seed 0)
``encoder_decay=0.0 auxk_coef=1/8`` (seed 0)      0.0084                 37%
``encoder_decay=0.1`` (seed 0)                    0.0076                 2%
``encoder_decay=0.0`` (seed 0)                    0.0084                 10%
================================================  =====================  ======================

``--n-train 60000`` (16 epochs, seed 0): 0.0069 and 23% dead by default, 0.0072 and 45%
with ``auxk_coef=1/8``. ``--probe`` (seed 0, 48 epochs): accuracy 0.8719 by default, 0.8706 with
``auxk_coef=1/8``.

With ``--epochs 20`` (the script's default before "auto"):

================================================  =====================  ======================
settings, 20 epochs                               seeds 0, 1, 2          dead at the end
================================================  =====================  ======================
``auxk_coef=1/8`` (no resets)                     0.0089 0.0089 0.0089   11%, 9%, 8%
``auxk_coef=0.0``                                 0.0089 0.0088 0.0089   16%, 13%, 15%
``auxk_coef=1/32``                                0.0089 0.0088 0.0089   24%, 25%, 26%
``auxk_coef=1/16`` (seed 0); ``1/4`` (seed 1)     0.0089; 0.0089         13%; 24%
``auxk_coef=1/4`` (seed 0); ``1/2`` (seed 0)      0.0089; 0.0089         25%; 36%
``dead_reset=True auxk_coef=1/32`` (the defaults
before)                                           0.0093 0.0092          43%, 47%
``dead_reset=True auxk_coef=0.0`` (seed 0)        0.0091                 28%
``optimizer="adam" auxk_coef=1/8`` (seed 0)       0.0087                 62%
``optimizer="adam" auxk_coef=1/8
dead_reset=True`` (seed 0)                        0.0139                 93%
================================================  =====================  ======================

With ``--probe`` (seed 0, 20 epochs, AuxK at 1/8): accuracy 0.8597, and 0.8681 with
``optimizer="adam"``; on these images dense Adam's pruned model makes the better
features, where on MNIST the lazy rule's does (bench/features_accuracy.py).

After the 48 epochs (seed 0), the units left dead under AuxK at 1/8 have large encoder
rows (median norm 1.76 against 0.92 for live units) and a negative pre-activation on
nearly every training image (median of their maxima over 5,000 images -0.006, against
1.88 for live units), where the ReLU stops AuxK's gradient as well as the main loss's.
Without AuxK the dead units have small encoder rows (median norm 0.045 against 0.94)
and positive pre-activations below the top-k threshold (median maximum 0.19 against a
median 25th-largest pre-activation of 0.29): the encoder decay shrinks a unit each step
it fires, and a rarely useful unit loses that race. ``encoder_decay=0.1`` leaves 2% dead
at a 4% higher test MSE; the default 0.3 is what the MNIST table needs (with 0.1,
bench/quality_table.py gives 0.0243 at k=5, 0.0093 at k=30, 0.0070 at k=50).

In the 20-epoch runs most units die while k is annealed (k falls from 100 to 25 over the
first 10 epochs) and AuxK then brings some of them back; in the 48-epoch runs the dead
share keeps climbing after that, the more so the larger the AuxK weight. 50-70 s of
training per 20-epoch run, about 2 min per 48-epoch run.
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
    ap.add_argument("--epochs", type=int, default=None,
                    help="passes over the training images (default: the estimator's n_epochs='auto')")
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
    params = {} if args.epochs is None else {"n_epochs": args.epochs}
    params.update(extra)  # --set n_epochs=... wins over --epochs
    est = KSparseAutoencoder(n_hidden=1000, k=25, random_state=args.seed, n_threads=args.threads, **params)
    est.fit(Xtr)
    secs = time.perf_counter() - t0
    label = describe_setting({name: value for name, value in extra.items() if name != "n_epochs"})
    print(f"784 -> 1000, k=25, {est.n_iter_} epochs on {len(Xtr)} images ({label}), seed {args.seed}: "
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
