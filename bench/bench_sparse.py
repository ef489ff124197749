"""Benchmarks of the sparse-code kernels and the fused optimizer pass.

Shapes: B=256 samples, m=1000 hidden units, n=784 inputs, k=25, float32.

Compared, each at 1 and 2 threads (numpy's BLAS limited to the same count):

- ``sparse_decode`` vs the dense numpy product ``dense_codes @ W`` with the
  masked (B, m) code matrix;
- ``sparse_decode_backward`` vs ``dense_codes.T @ G`` plus ``G @ W.T`` (and the
  gather of the selected entries);
- ``sparse_encoder_backward`` vs ``dense_dz.T @ Xc`` plus the column sums;
- the fused Adam pass over W_enc, W_dec, b_enc, b_dec (``ksparse.Adam.step``)
  vs a numpy Adam written with in-place ufuncs;
- all of them against the encoder product ``X @ W_enc.T``, the one dense
  O(B n m) product of a training step (the yardstick).

Two ways to run it (from the repository root, after
``python setup.py build_ext --inplace``)::

    python -m pytest bench/bench_sparse.py --benchmark-only   # pytest-benchmark tables
    python bench/bench_sparse.py                              # medians and ratios

The script mode measures every candidate in one process, interleaved round
by round (so that load from other processes hits all of them alike), and
prints medians and ratios.

On a machine whose cores are busy with other processes, OpenMP's default
(spinning) wait policy can add tens of milliseconds to every parallel region
with 2 threads; ``OMP_WAIT_POLICY=passive python bench/bench_sparse.py`` shows
the kernels without that effect (the results are identical either way).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

try:
    import ksparse  # noqa: F401
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ksparse
from ksparse import Adam, sparse_decode, sparse_decode_backward, sparse_encoder_backward

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl is optional
    threadpool_limits = None

B, M, N, K = 256, 1000, 784, 25
DTYPE = np.float32


def make_data(seed: int = 0) -> dict:
    """Random data of the benchmark shapes: a top-k code and its dense form."""
    rng = np.random.default_rng(seed)
    X = rng.random((B, N), dtype=DTYPE)
    W_enc = (rng.standard_normal((M, N)) / np.sqrt(N)).astype(DTYPE)
    W_dec = (rng.standard_normal((M, N)) / np.sqrt(N)).astype(DTYPE)
    b_dec = rng.standard_normal(N).astype(DTYPE) * 0.1
    Z = X @ W_enc.T
    idx = np.argpartition(-Z, K - 1, axis=1)[:, :K].astype(np.int64)
    val = np.take_along_axis(Z, idx, axis=1).astype(DTYPE)
    G = rng.standard_normal((B, N)).astype(DTYPE)
    dz = rng.standard_normal((B, K)).astype(DTYPE)
    dense = np.zeros((B, M), DTYPE)
    np.put_along_axis(dense, idx, val, axis=1)
    dense_dz = np.zeros((B, M), DTYPE)
    np.put_along_axis(dense_dz, idx, dz, axis=1)
    return dict(X=X, W_enc=W_enc, W_dec=W_dec, b_dec=b_dec, idx=idx, val=val, G=G, dz=dz,
                dense=dense, dense_dz=dense_dz)


class NumpyAdam:
    """Adam written with in-place numpy ufuncs and one scratch array per parameter."""

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, beta1, beta2, eps
        self.state = {}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        a = self.lr / (1 - self.b1 ** self.t)
        c = 1 / np.sqrt(1 - self.b2 ** self.t)
        for name, p in params.items():
            g = grads[name]
            if name not in self.state:
                self.state[name] = (np.zeros_like(p), np.zeros_like(p), np.empty_like(p))
            m, v, tmp = self.state[name]
            m *= self.b1
            np.multiply(g, 1 - self.b1, out=tmp)
            m += tmp
            v *= self.b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - self.b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp *= c
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= a
            p -= tmp


def adam_problem(seed: int = 1):
    rng = np.random.default_rng(seed)
    shapes = {"W_enc": (M, N), "b_enc": (M,), "W_dec": (M, N), "b_dec": (N,)}
    params = {k: (rng.standard_normal(s) * 0.01).astype(DTYPE) for k, s in shapes.items()}
    grads = {k: (rng.standard_normal(s) * 1e-3).astype(DTYPE) for k, s in shapes.items()}
    return params, grads


def candidates(d: dict, n_threads: int) -> dict:
    """Name -> zero-argument callable, for one thread count."""
    out_dec = np.empty((B, N), DTYPE)
    dW = np.zeros((M, N), DTYPE)
    dW_enc = np.zeros((M, N), DTYPE)
    db_enc = np.zeros(M, DTYPE)
    params_k, grads_k = adam_problem()
    params_n, grads_n = adam_problem()
    adam_k = Adam(lr=1e-3, n_threads=n_threads)
    adam_n = NumpyAdam(lr=1e-3)
    X, W_enc, W_dec, G = d["X"], d["W_enc"], d["W_dec"], d["G"]
    idx, val, dz, dense, dense_dz = d["idx"], d["val"], d["dz"], d["dense"], d["dense_dz"]

    def dense_decode_backward():
        dWd = dense.T @ G
        dval = np.take_along_axis(G @ W_dec.T, idx, axis=1)
        return dWd, dval

    def dense_encoder_backward():
        return dense_dz.T @ X, dense_dz.sum(axis=0)

    return {
        "encoder product X @ W_enc.T": lambda: X @ W_enc.T,
        "sparse_decode": lambda: sparse_decode(idx, val, W_dec, d["b_dec"], n_threads=n_threads,
                                               out=out_dec),
        "dense decode (codes @ W_dec)": lambda: dense @ W_dec + d["b_dec"],
        "sparse_decode_backward": lambda: sparse_decode_backward(idx, val, W_dec, G, dW=dW,
                                                                 n_threads=n_threads),
        "dense decode backward": dense_decode_backward,
        "sparse_encoder_backward": lambda: sparse_encoder_backward(
            idx, dz, X, dW=dW_enc, db=db_enc, n_threads=n_threads),
        "dense encoder backward": dense_encoder_backward,
        "ksparse Adam step (fused)": lambda: adam_k.step(params_k, grads_k),
        "numpy Adam (in-place ufuncs)": lambda: adam_n.step(params_n, grads_n),
    }


#: pytest-benchmark group of each candidate.
GROUPS = {
    "encoder product X @ W_enc.T": "yardstick",
    "sparse_decode": "decode",
    "dense decode (codes @ W_dec)": "decode",
    "sparse_decode_backward": "decode backward",
    "dense decode backward": "decode backward",
    "sparse_encoder_backward": "encoder backward",
    "dense encoder backward": "encoder backward",
    "ksparse Adam step (fused)": "adam",
    "numpy Adam (in-place ufuncs)": "adam",
}

RATIOS = [
    ("dense decode (codes @ W_dec)", "sparse_decode"),
    ("dense decode backward", "sparse_decode_backward"),
    ("dense encoder backward", "sparse_encoder_backward"),
    ("numpy Adam (in-place ufuncs)", "ksparse Adam step (fused)"),
]


def measure(funcs: dict, rounds: int) -> dict:
    """Median seconds per call of each function, interleaved round by round."""
    times = {name: [] for name in funcs}
    for f in funcs.values():  # warm up (allocates optimizer state, faults pages in)
        f()
    for _ in range(rounds):
        for name, f in funcs.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def main(rounds: int = 200) -> None:
    d = make_data()
    print(f"ksparse {ksparse.__version__}, OpenMP {'on' if ksparse.openmp_enabled() else 'off'}; "
          f"B={B} m={M} n={N} k={K} float32; {rounds} interleaved rounds, medians")
    for n_threads in (1, 2):
        ctx = threadpool_limits(n_threads) if threadpool_limits is not None else None
        try:
            med = measure(candidates(d, n_threads), rounds)
        finally:
            if ctx is not None:
                ctx.unregister()
        yard = med["encoder product X @ W_enc.T"]
        print(f"\n== {n_threads} thread(s) ==")
        print(f"{'':34s} {'median ms':>10s} {'x encoder product':>18s}")
        for name, t in med.items():
            print(f"{name:34s} {t * 1e3:10.3f} {t / yard:18.3f}")
        for slow, fast in RATIOS:
            print(f"speed-up {fast} vs {slow}: {med[slow] / med[fast]:.1f}x")


# ----------------------------------------------------------------------------- pytest-benchmark
try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="module")
    def data():
        return make_data()

    @pytest.mark.parametrize("n_threads", [1, 2])
    @pytest.mark.parametrize("name", list(GROUPS))
    def test_bench(benchmark, data, name, n_threads):
        benchmark.group = f"{GROUPS[name]}, {n_threads} thread(s)"
        if threadpool_limits is not None:
            with threadpool_limits(n_threads):
                f = candidates(data, n_threads)[name]
                f()
                benchmark(f)
        else:  # pragma: no cover
            f = candidates(data, n_threads)[name]
            benchmark(f)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
