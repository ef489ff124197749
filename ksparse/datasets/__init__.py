"""Data sets: the bundled MNIST subset, IDX readers and downloads."""
