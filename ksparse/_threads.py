"""One BLAS thread limiter for the whole library (built on threadpoolctl).

``n_threads`` governs the compiled kernels and the BLAS products alike: small
products are much slower with more BLAS threads than there are free cores (the
threads spin waiting for each other). threadpoolctl scans the loaded libraries
once per process (it costs milliseconds), so the scan is cached here and a
``partial_fit`` on one batch stays cheap.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

__all__ = ["blas_threads"]

_CONTROLLER: Any = None


def _controller() -> Any:
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with at most ``n`` BLAS threads.

    Parameters
    ----------
    n : int
        Positive thread count, already checked by
        :func:`ksparse._validation.check_n_threads` (-1 resolved to the core count).
    """
    ctl = _controller()
    n = int(n)
    if all(lib.num_threads == n for lib in ctl.lib_controllers if lib.user_api == "blas"):
        # already there (e.g. inside the caller's own threadpool_limits): setting the
        # count again and restoring it costs more than a small product
        yield
        return
    with ctl.limit(limits=n, user_api="blas"):
        yield
