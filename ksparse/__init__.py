"""ksparse: fast, dependable k-sparse (top-k) autoencoders with a compiled core."""

from ksparse._version import __version__
from ksparse._core import openmp_enabled
from ksparse import metrics, report

__all__ = [
    "__version__",
    "openmp_enabled",
    "metrics",
    "plotting",
    "report",
]


def __getattr__(name):  # PEP 562: import ksparse.plotting (and matplotlib) only when first used
    if name == "plotting":
        import importlib

        return importlib.import_module("ksparse.plotting")
    raise AttributeError(f"module 'ksparse' has no attribute {name!r}")
