"""Type stubs for the compiled module ``ksparse._core``."""

def openmp_enabled() -> bool: ...
def openmp_max_threads() -> int: ...

# fused training step of the autoencoder (ksparse/_step.pxi); called by ksparse.training.FusedStep
from typing import Any

def _fused_step_adam(
    X: Any, Xc: Any, Z: Any, W_enc: Any, b_enc: Any, W_dec: Any, b_dec: Any,
    mWe: Any, vWe: Any, mbe: Any, vbe: Any, mWd: Any, vWd: Any, mbd: Any, vbd: Any,
    idx: Any, val: Any, G: Any, dz: Any, starts: Any, order: Any, gbe: Any, gbd: Any,
    rows: Any, rowerr: Any, c1: float, s2: float, beta1: float, beta2: float, eps: float,
    relu: int, normalize: int, n_threads: int,
) -> float: ...
def _step_uses_avx() -> bool: ...
