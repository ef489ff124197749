"""ksparse: fast, dependable k-sparse (top-k) autoencoders with a compiled core."""

from ksparse._version import __version__
from ksparse._core import openmp_enabled
from ksparse.topk import codes_to_dense, masked_dense, topk, topk_mask

__all__ = [
    "__version__",
    "openmp_enabled",
    "topk",
    "topk_mask",
    "masked_dense",
    "codes_to_dense",
]
