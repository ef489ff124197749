"""ksparse: fast, dependable k-sparse (top-k) autoencoders with a compiled core."""

from ksparse._version import __version__
from ksparse._core import openmp_enabled

__all__ = [
    "__version__",
    "openmp_enabled",
]

# model engineer: the estimator, its losses and errors
from ksparse.autoencoder import DivergenceError, KSparseAutoencoder  # noqa: E402
from ksparse import losses  # noqa: E402

__all__ += ["KSparseAutoencoder", "DivergenceError", "losses"]
