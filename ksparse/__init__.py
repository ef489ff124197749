"""ksparse: fast, dependable k-sparse (top-k) autoencoders with a compiled core."""

from ksparse._version import __version__
from ksparse._core import openmp_enabled
from ksparse.topk import codes_to_dense, masked_dense, topk, topk_mask
# kernels engineer: sparse-code kernels, optimizers, learning-rate schedules
from ksparse.sparse import (
    normalize_rows,
    remove_parallel_component,
    sparse_decode,
    sparse_decode_backward,
    sparse_encoder_backward,
    update_firing,
)
from ksparse.optim import (
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Optimizer,
    RMSprop,
    SparseAdam,
    make_optimizer,
)
from ksparse.schedules import Schedule, make_schedule
from ksparse import metrics, report
# layers engineer: activations and the composable layers API
from ksparse.activations import Activation, get_activation
from ksparse.layers import DenseLayer, KSparseLayer, Network
# io engineer: persistence and data sets
from ksparse.io import load, save
from ksparse import datasets

__all__ = [
    "__version__",
    "openmp_enabled",
    "topk",
    "topk_mask",
    "masked_dense",
    "codes_to_dense",
    # kernels engineer
    "sparse_decode",
    "sparse_decode_backward",
    "sparse_encoder_backward",
    "normalize_rows",
    "remove_parallel_component",
    "update_firing",
    "Optimizer",
    "SGD",
    "Momentum",
    "Adam",
    "SparseAdam",
    "RMSprop",
    "AdaGrad",
    "make_optimizer",
    "Schedule",
    "make_schedule",
    "metrics",
    "plotting",
    "report",
    # layers engineer
    "Activation",
    "get_activation",
    "KSparseLayer",
    "DenseLayer",
    "Network",
    # io engineer
    "save",
    "load",
    "datasets",
]

# model engineer: the estimator, its losses and errors
from ksparse.autoencoder import (ConvergenceWarning, DataScaleWarning, DivergenceError,  # noqa: E402
                                 KSparseAutoencoder)
from ksparse import losses  # noqa: E402

__all__ += ["KSparseAutoencoder", "DivergenceError", "DataScaleWarning", "ConvergenceWarning", "losses"]

def __getattr__(name):  # PEP 562: import ksparse.plotting (and matplotlib) only when first used
    if name == "plotting":
        import importlib

        return importlib.import_module("ksparse.plotting")
    raise AttributeError(f"module 'ksparse' has no attribute {name!r}")
