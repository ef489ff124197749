"""Quick start of the layers API: a k-sparse autoencoder built from layers.

784 pixels -> KSparseLayer(100 units, keep k=20) -> DenseLayer(784), trained on
the 5,000 MNIST training images bundled with ksparse (MNIST by Yann LeCun and
Corinna Cortes, CC BY-SA 3.0) and evaluated on the first 1,000 test images.

Run it with ksparse installed (``pip install .``), or from a checkout with the
compiled core built in place::

    PYTHONPATH=. python examples/layers_quickstart.py
"""

import time

from ksparse.datasets import load_mnist
from ksparse.layers import DenseLayer, KSparseLayer, Network


def main(epochs: int = 20, seed: int = 0) -> float:
    data = load_mnist()  # the bundled subset, pixels scaled to [0, 1], float32
    X_train, X_test = data.X_train, data.X_test[:1000]

    net = Network([KSparseLayer(784, 100, k=20, activation="relu"), DenseLayer(100, 784)])
    print(net)
    t0 = time.perf_counter()
    history = net.train(
        X_train, X_train, epochs=epochs, batch_size=64, optimizer="adam", learning_rate=2e-3, random_state=seed
    )
    seconds = time.perf_counter() - t0
    for epoch, loss in zip(history["epoch"], history["loss"]):
        if epoch == 1 or epoch % 5 == 0:
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
