"""ksparse: fast, dependable k-sparse (top-k) autoencoders with a compiled core."""

from ksparse._version import __version__
from ksparse._core import openmp_enabled
from ksparse._validation import InvalidParameterError, ThreadCountWarning
# the array kernels: top-k selection and the sparse-code operations
from ksparse.topk import codes_to_dense, masked_dense, topk, topk_mask
from ksparse.sparse import (
    normalize_rows,
    remove_parallel_component,
    sparse_decode,
    sparse_decode_backward,
    sparse_encoder_backward,
    update_firing,
)
# training: optimizers, schedules and the engine's error
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
from ksparse.engine import DivergenceError
# models: the estimator, the layers, their activations and losses
from ksparse.activations import Activation, get_activation
from ksparse.layers import DenseLayer, KSparseLayer, Network
from ksparse.autoencoder import ConvergenceWarning, DataScaleWarning, KSparseAutoencoder
from ksparse import losses
# files, data and evaluation
from ksparse.io import load, save
from ksparse import datasets, metrics, report

__all__ = [
    "__version__",
    "openmp_enabled",
    "InvalidParameterError",
    "ThreadCountWarning",
    "topk",
    "topk_mask",
    "masked_dense",
    "codes_to_dense",
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
    "DivergenceError",
    "Activation",
    "get_activation",
    "KSparseLayer",
    "DenseLayer",
    "Network",
    "KSparseAutoencoder",
    "ConvergenceWarning",
    "DataScaleWarning",
    "losses",
    "save",
    "load",
    "datasets",
    "metrics",
    "plotting",
    "report",
]


def __getattr__(name):  # PEP 562: import ksparse.plotting (and matplotlib) only when first used
    if name == "plotting":
        import importlib

        return importlib.import_module("ksparse.plotting")
    raise AttributeError(f"module 'ksparse' has no attribute {name!r}")
