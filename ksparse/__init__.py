"""ksparse: fast, dependable k-sparse (top-k) autoencoders with a compiled core."""

from ksparse._version import __version__
from ksparse._core import openmp_enabled
from ksparse.io import load, save
from ksparse import datasets

__all__ = [
    "__version__",
    "openmp_enabled",
    "save",
    "load",
    "datasets",
]
