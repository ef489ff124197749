# cython: language_level=3
"""Compiled kernels of ksparse.

Everything here trusts its inputs: shapes, dtypes, ``1 <= k <= m``, index
ranges, finiteness and thread counts are checked once by the Python wrappers
(``ksparse.topk``, ``ksparse.sparse`` ...), which then call the ``def`` entry
points below.  The kernels are ``noexcept nogil`` and write into
caller-allocated outputs in place.

The C kernels live in real headers (``_ks_simd.h``: the one SIMD dispatch and the
vector families; ``_ks_common.h``: axpy/dot/scale, row normalisation, firing
counters, counting sort; ``_ks_optim.h``: every optimizer rule, Adam once;
``_ks_sparse.h``; ``_ks_step.h``; ``_topk_simd.h``), each body written once for
float and double, all declared in ``_kernels.pxd`` and cimported here, so the
include files below use nothing of one another's C.

The module is assembled from one include file per idea:

``_topk.pxi``
    top-k selection (by value and by absolute value) and mask generation.
``_sparse.pxi``
    sparse decode, its backward, the sparse encoder backward, decoder-row
    normalisation and gradient projection, dead-unit firing counters.
``_optim.pxi``
    fused in-place optimizer updates (dense and row-sparse).
``_step.pxi``
    the fused sparse training step of the autoencoder.
"""

cimport cython
from cython cimport floating
from cython.parallel cimport prange, parallel
from ksparse._kernels cimport *

# the one SIMD dispatch: CPU and KSPARSE_SIMD read once, at import
ksp_simd_init()


def _simd_level():
    """Instruction set every kernel uses: 0 portable C, 1 SSE2, 2 AVX2 (AVX for the float kernels)."""
    return int(ks_simd_get_level())


def _simd_set_level(int level):
    """Use instruction set ``level`` (clamped to what the CPU runs and KSPARSE_SIMD allows)
    for every kernel; return it. For tests and benchmarks: not thread-safe with running kernels."""
    return int(ks_simd_set_level(level))


def openmp_enabled():
    """Return True when the compiled core was built with OpenMP."""
    return bool(KSPARSE_HAVE_OPENMP)


def openmp_max_threads():
    """Return OpenMP's default thread count (1 without OpenMP)."""
    return int(omp_get_max_threads())


include "_topk.pxi"
include "_sparse.pxi"
include "_optim.pxi"
include "_step.pxi"
