"""Data sets: the bundled MNIST subset, IDX readers and downloads.

- :func:`load_mnist` returns the MNIST subset shipped with ksparse (5,000 training
  images, the official 10,000 test images; no network), or with ``full=True`` the
  official 60,000/10,000 files, downloaded once and verified by SHA-256.
- :func:`load_idx_folder` reads any folder of MNIST-format files (Fashion-MNIST...).
- :func:`read_idx` / :func:`write_idx` read and write single IDX files.

Limits against hostile files and servers: an IDX header may declare at most
:data:`MAX_IDX_BYTES` of data (and no more than the file can hold), a download
at most :data:`MAX_DOWNLOAD_BYTES`, taking at most
:data:`DOWNLOAD_DEADLINE_FACTOR` times its ``timeout`` in all.

MNIST is by Yann LeCun and Corinna Cortes, licensed CC BY-SA 3.0.
"""

from ksparse.datasets._idx import MAX_IDX_BYTES, IDXFormatError, read_idx, write_idx
from ksparse.datasets._loaders import (
    DOWNLOAD_DEADLINE_FACTOR,
    MAX_DOWNLOAD_BYTES,
    MNIST_FILES,
    MNIST_MIRRORS,
    ChecksumError,
    Dataset,
    DownloadError,
    get_data_home,
    load_idx_folder,
    load_mnist,
)

__all__ = [
    "ChecksumError",
    "DOWNLOAD_DEADLINE_FACTOR",
    "Dataset",
    "DownloadError",
    "IDXFormatError",
    "MAX_DOWNLOAD_BYTES",
    "MAX_IDX_BYTES",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "get_data_home",
    "load_idx_folder",
    "load_mnist",
    "read_idx",
    "write_idx",
]
