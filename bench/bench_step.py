"""Speed of one training step (float32, 1 thread).

One ``partial_fit`` step (B=256, 784 -> 1000, k=25, Adam, the peers' optimizer; the
default lazy Adam, ``optimizer="sparse_adam"``, is timed beside it) against
  * the encoder product ``X @ W_enc.T`` alone (target: step <= 2.0x),
  * a PyTorch CPU autograd step of the same model, when torch is importable (target: >= 3.5x faster),
  * the dense numpy reference step ``ksparse.training.reference_step`` (target: >= 5x faster),
and how the step time grows with m = 1000, 4000, 16000 at fixed k. It also times the
DESIGN's lower bound of a step, the encoder product plus one Adam pass over the encoder
and decoder weights, which caps what the numpy ratio can reach on this machine.

Two modes::

    python bench/bench_step.py [--rounds 30] [--scaling] [--auxk 0.125] [--clip-training]   # medians, ratios
    python -m pytest bench/bench_step.py --benchmark-only     # pytest-benchmark
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from threadpoolctl import threadpool_limits  # noqa: E402

from ksparse import KSparseAutoencoder  # noqa: E402
from ksparse.training import AdamState, reference_step  # noqa: E402

B, N, M, K = 256, 784, 1000, 25


def make_estimator(m=M, k=K, seed=0, auxk_coef=None, optimizer="adam", clip_training=False):
    """An estimator after one partial_fit (workspaces allocated), and a batch.

    ``auxk_coef=None`` keeps the estimator's default (0 since n_epochs="auto": no AuxK),
    which is the model of the PyTorch and numpy reference steps (top-k, ReLU, MSE, Adam,
    unit-norm decoder; the output clip only with ``clip_training=True``, and only the
    estimator also decays the encoder rows that fire); ``--auxk 0.125`` times the fused
    step with AuxK as well.
    """
    rng = np.random.default_rng(seed)
    X = rng.random((B, N), dtype=np.float32)
    extra = {} if auxk_coef is None else {"auxk_coef": auxk_coef}
    est = KSparseAutoencoder(n_hidden=m, k=k, batch_size=B, random_state=seed, n_threads=1, optimizer=optimizer,
                             clip_training=clip_training, **extra)
    est.partial_fit(X)
    return est, X


def _training_bounds(est):
    """The bounds the estimator's training step clips to (None unless ``clip_training``)."""
    return est.output_bounds_ if est.clip_training else None


def make_torch_step(est, X):
    """A PyTorch autograd step of the same model (top-k, ReLU, MSE, Adam, unit-norm decoder; the
    output clipped as the estimator's with ``clip_training``)."""
    import torch

    torch.set_num_threads(1)
    W_enc = torch.tensor(est.W_enc_, requires_grad=True)
    b_enc = torch.tensor(est.b_enc_, requires_grad=True)
    W_dec = torch.tensor(est.W_dec_, requires_grad=True)
    b_dec = torch.tensor(est.b_dec_, requires_grad=True)
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=1e-3)
    x = torch.tensor(X)
    k = int(est.k)
    bounds = _training_bounds(est)

    def step():
        opt.zero_grad(set_to_none=True)
        z = (x - b_dec) @ W_enc.T + b_enc
        val, idx = torch.topk(z, k, dim=1)
        codes = torch.zeros_like(z).scatter(1, idx, torch.relu(val))
        xh = codes @ W_dec + b_dec
        if bounds is not None:
            xh = xh.clamp(*bounds)
        loss = ((xh - x) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            W_dec.grad -= (W_dec.grad * W_dec).sum(1, keepdim=True) * W_dec
        opt.step()
        with torch.no_grad():
            W_dec.div_(W_dec.norm(dim=1, keepdim=True))
        return float(loss.detach())

    return step


def make_reference_step(est, X):
    P = {name: a.copy() for name, a in est._params().items()}
    adam = AdamState(P)
    k = int(est.k)

    def step():
        return reference_step(P, adam, X, k, lr=1e-3, output_bounds=_training_bounds(est))

    return step


def make_floor(est, X):
    """The DESIGN's lower bound of a step: the encoder product plus one Adam pass over the
    encoder and decoder weights (the compiled Adam rows of the fused step, on copies)."""
    from ksparse import _core

    rng = np.random.default_rng(1)
    Xc = X - est.b_dec_
    Z = np.empty((X.shape[0], est.W_enc_.shape[0]), dtype=np.float32)
    arrays = []
    for W in (est.W_enc_, est.W_dec_):
        w = W.copy().reshape(-1)
        g = (1e-3 * rng.standard_normal(w.shape)).astype(np.float32)
        arrays.append((w, np.zeros_like(w), np.zeros_like(w), g))

    def floor():
        np.matmul(Xc, est.W_enc_.T, out=Z)
        for w, m, v, g in arrays:
            _core._step_adam_row(w, m, v, g, 1e-3, 1.0, 0.9, 0.999, 1e-8)

    return floor


def timed_rounds(funcs: dict, rounds: int) -> dict:
    """Seconds of each function per round, the calls interleaved round by round."""
    for f in funcs.values():
        f()
        f()
    times = {name: [] for name in funcs}
    for _ in range(rounds):
        for name, f in funcs.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {name: np.asarray(t) for name, t in times.items()}


def medians(times: dict) -> dict:
    """Median seconds of each function from :func:`timed_rounds`."""
    return {name: float(np.median(t)) for name, t in times.items()}


def ratio(times: dict, num: str, den: str) -> float:
    """Median over rounds of time[num] / time[den]: the two were timed back to back in each
    round, so a host that speeds up or slows down during the run cancels out."""
    return float(np.median(times[num] / times[den]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="ksparse training-step benchmark")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--scaling", action="store_true", help="also time m = 1000, 4000, 16000")
    ap.add_argument("--auxk", type=float, default=None, metavar="COEF",
                    help="auxk_coef of the ksparse steps (default: the estimator's, 0: exactly the model of "
                         "the PyTorch and numpy steps); e.g. 0.125 times the AuxK pass on the units that die")
    ap.add_argument("--no-auxk", action="store_true", help="the same as --auxk 0")
    ap.add_argument("--clip-training", action="store_true",
                    help="train through the output clip (clip_training=True), in the peers' steps too")
    args = ap.parse_args(argv)
    aux = 0.0 if args.no_auxk else args.auxk
    clip = args.clip_training
    with threadpool_limits(limits=1):
        est, X = make_estimator(auxk_coef=aux, clip_training=clip)
        lazy, _ = make_estimator(auxk_coef=aux, optimizer="sparse_adam", clip_training=clip)
        Xc = X - est.b_dec_
        Z = np.empty((B, M), dtype=np.float32)
        funcs = {
            "encoder product X @ W_enc.T": lambda: np.matmul(Xc, est.W_enc_.T, out=Z),
            "ksparse partial_fit step": lambda: est.partial_fit(X),
            "same, lazy Adam (the default)": lambda: lazy.partial_fit(X),
            "dense numpy reference step": make_reference_step(est, X),
            "floor: product + one Adam pass": make_floor(est, X),
        }
        try:
            funcs["torch autograd step"] = make_torch_step(est, X)
        except ImportError:
            print("torch is not importable: skipping the PyTorch comparison")
        times = timed_rounds(funcs, args.rounds)
        med = medians(times)
        print(f"B={B}, {N} -> {M}, k={K}, float32, 1 thread, {args.rounds} interleaved rounds (medians)")
        for name, t in med.items():
            print(f"  {name:<32} {t * 1e3:8.2f} ms")
        n_dead = int((est.steps_since_fired_ >= est.dead_samples).sum())
        if est.auxk_coef == 0:
            print(f"  dead units after the run: {n_dead} of {M} (AuxK off: the same model as the other steps)")
        else:
            print(f"  dead units after the run: {n_dead} of {M} (the fused step runs AuxK on them: "
                  f"auxk_k={min(M, 2 * K)} more units per sample; without --auxk the peers' exact model is timed)")
        step, gemm, ref = "ksparse partial_fit step", "encoder product X @ W_enc.T", "dense numpy reference step"
        print("  ratios: median over rounds of the per-round ratio")
        print(f"  step / encoder product          {ratio(times, step, gemm):8.2f}x   (target <= 2.0)")
        print(f"  lazy step / encoder product     {ratio(times, 'same, lazy Adam (the default)', gemm):8.2f}x")
        print(f"  dense numpy reference / step    {ratio(times, ref, step):8.2f}x   (target >= 5)")
        floor = "floor: product + one Adam pass"
        print(f"  floor / encoder product         {ratio(times, floor, gemm):8.2f}x   (no step can beat this)")
        print(f"  dense numpy reference / floor   {ratio(times, ref, floor):8.2f}x   (the most numpy / step "
              "could be, with the O(B k n) work free)")
        if "torch autograd step" in times:
            print(f"  torch autograd / step           {ratio(times, 'torch autograd step', step):8.2f}x   (target >= 3.5)")
        if args.scaling:
            print("scaling with m at k=25 (medians; 'lazy' is optimizer='sparse_adam', which updates only the")
            print("units in the batch's code, so its time beyond the product should not grow with m):")
            print(f"  {'m':>6} {'product ms':>11} {'step ms':>9} {'- product':>10} {'ratio':>6}"
                  f" {'lazy ms':>9} {'- product':>10} {'ratio':>6}")
            for m in (1000, 4000, 16000):
                e, Xm = make_estimator(m=m, auxk_coef=aux, clip_training=clip)
                lz, _ = make_estimator(m=m, auxk_coef=aux, optimizer="sparse_adam", clip_training=clip)
                Xcm = Xm - e.b_dec_
                Zm = np.empty((B, m), dtype=np.float32)
                r = max(5, args.rounds // (m // 1000))
                tm = timed_rounds({"step": lambda: e.partial_fit(Xm), "lazy": lambda: lz.partial_fit(Xm),
                                   "gemm": lambda: np.matmul(Xcm, e.W_enc_.T, out=Zm)}, r)
                md = medians(tm)
                print(f"  {m:>6} {md['gemm'] * 1e3:>11.2f}"
                      f" {md['step'] * 1e3:>9.2f} {float(np.median(tm['step'] - tm['gemm'])) * 1e3:>10.2f}"
                      f" {ratio(tm, 'step', 'gemm'):>6.2f}"
                      f" {md['lazy'] * 1e3:>9.2f} {float(np.median(tm['lazy'] - tm['gemm'])) * 1e3:>10.2f}"
                      f" {ratio(tm, 'lazy', 'gemm'):>6.2f}")
                del e, lz
    return 0


# ---------------------------------------------------------------- pytest-benchmark
def _bench_setup():
    est, X = make_estimator()
    return est, X


def test_bench_partial_fit_step(benchmark):
    with threadpool_limits(limits=1):
        est, X = _bench_setup()
        benchmark(est.partial_fit, X)


def test_bench_encoder_product(benchmark):
    with threadpool_limits(limits=1):
        est, X = _bench_setup()
        Xc = X - est.b_dec_
        Z = np.empty((B, M), dtype=np.float32)
        benchmark(np.matmul, Xc, est.W_enc_.T, out=Z)


def test_bench_reference_step(benchmark):
    with threadpool_limits(limits=1):
        est, X = _bench_setup()
        benchmark(make_reference_step(est, X))


def test_bench_torch_step(benchmark):
    import pytest

    pytest.importorskip("torch")
    with threadpool_limits(limits=1):
        est, X = _bench_setup()
        benchmark(make_torch_step(est, X))


if __name__ == "__main__":
    raise SystemExit(main())
