"""Fixtures shared by several test files.

- ``mnist``: the bundled MNIST subset, loaded once per session (read it, do not write to it);
- ``bundled_file``: the bytes of a file shipped in ``ksparse/datasets/data`` (the official t10k files);
- ``make_idx_folder``: writes a small synthetic IDX folder (train/test images and labels);
- ``type_check_cache``: one mypy cache folder for the session (kept across sessions when the
  pytest cache is enabled).

Plain helper functions that tests import by name (``init_params``) live in ``_model_helpers.py``.
"""

import importlib.resources

import numpy as np
import pytest

from ksparse.datasets import load_mnist, write_idx


@pytest.fixture(scope="session")
def mnist():
    """The bundled MNIST (5,000 training and the 10,000 official test images), loaded once."""
    return load_mnist()


@pytest.fixture(scope="session")
def bundled_file():
    """``bundled_file(name) -> bytes``: a file of ``ksparse/datasets/data`` (e.g. the official t10k files)."""
    root = importlib.resources.files("ksparse.datasets").joinpath("data")

    def read(name):
        return root.joinpath(name).read_bytes()

    return read


@pytest.fixture(scope="session")
def make_idx_folder():
    """``make_idx_folder(folder, n_train, n_test, image_shape, n_classes, seed, gz=True, prefix="t10k")``.

    Writes ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte`` and the ``prefix`` test pair
    (``.gz`` unless ``gz=False``): uint8 images drawn by ``default_rng(seed)`` (training images
    first), labels ``arange(n) % n_classes``. Creates ``folder`` if needed and returns it.
    """

    def make(folder, n_train, n_test, image_shape, n_classes, seed, gz=True, prefix="t10k"):
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        ext = ".gz" if gz else ""
        for part, n in (("train", n_train), (prefix, n_test)):
            write_idx(folder / f"{part}-images-idx3-ubyte{ext}",
                      rng.integers(0, 256, (n, *image_shape), dtype=np.uint8))
            write_idx(folder / f"{part}-labels-idx1-ubyte{ext}", (np.arange(n) % n_classes).astype(np.uint8))
        return folder

    return make


@pytest.fixture(scope="session")
def type_check_cache(request, tmp_path_factory):
    """A mypy cache folder: in the pytest cache when it is enabled (warm across sessions), else per session.

    mypy's incremental cache is keyed by mypy's version and options and by the sources' content,
    so a warm cache gives the same answers as a cold one, in a fraction of the time.
    """
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return cache.mkdir("mypy")
    return tmp_path_factory.mktemp("mypy-cache")
