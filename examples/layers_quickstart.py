"""Quick start of the layers API: a k-sparse autoencoder built from layers.

784 pixels -> KSparseLayer(100 units, keep k=20) -> DenseLayer(784), trained on
the 5,000 MNIST training images bundled with ksparse (MNIST by Yann LeCun and
Corinna Cortes, CC BY-SA 3.0) and evaluated on the first 1,000 test images.

Run it from a checkout with the compiled core built::

    python examples/layers_quickstart.py
"""

import gzip
import pathlib
import time

import numpy as np

import ksparse
from ksparse.layers import DenseLayer, KSparseLayer, Network


def _read_idx_images(path: pathlib.Path) -> np.ndarray:
    # IDX: magic 0x00000803 (unsigned bytes, 3 dimensions), big-endian sizes, then pixels
    raw = gzip.decompress(path.read_bytes())
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 0x803 or len(raw) != 16 + n * rows * cols:
        raise ValueError(f"{path} is not an IDX image file")
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, rows * cols)


def load_bundled_mnist():
    # stand-in until ksparse.datasets.load_mnist lands
    folder = pathlib.Path(ksparse.__file__).parent / "datasets" / "data"
    X_train = _read_idx_images(folder / "train-5k-images-idx3-ubyte.gz").astype(np.float32) / 255
    X_test = _read_idx_images(folder / "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
    return X_train, X_test


def main(epochs: int = 30, seed: int = 0) -> float:
    X_train, X_test = load_bundled_mnist()  # pixels scaled to [0, 1], float32
    X_test = X_test[:1000]

    net = Network([KSparseLayer(784, 100, k=20, activation="relu"), DenseLayer(100, 784)])
    print(net)
    t0 = time.perf_counter()
    history = net.train(
        X_train, X_train, epochs=epochs, batch_size=64, optimizer="adam", learning_rate=2e-3, random_state=seed
    )
    seconds = time.perf_counter() - t0
    for epoch, loss in zip(history["epoch"], history["loss"]):
        print(f"epoch {epoch:2d}  train MSE {loss:.4f}")

    indices, values = net.layers[0].forward(X_test)  # the sparse code: (1000, 20) each
    mse = net.loss(X_test, X_test)
    shown = ", ".join(f"{u}: {v:.2f}" for u, v in zip(indices[0, :5], values[0, :5]))
    print(f"sparse code of the first test image (unit: value), first 5 of {indices.shape[1]}: {shown}")
    print(f"trained {epochs} epochs in {seconds:.1f} s")
    print(f"test MSE on the first 1000 test images: {mse:.4f} (the original numpy project reported 0.0367 for k=20)")
    return mse


if __name__ == "__main__":
    main()
