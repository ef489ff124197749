"""scikit-learn compatibility of KSparseAutoencoder (check_estimator)."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from ksparse import KSparseAutoencoder  # noqa: E402


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
# KSparseAutoencoder implements the estimator protocol itself so that `import ksparse`
# does not import scikit-learn (about a second); check_estimator notes that it does not
# inherit from BaseEstimator, and then every check must still pass.
@pytest.mark.filterwarnings("ignore:Estimator KSparseAutoencoder does not inherit:UserWarning")
def test_check_estimator():
    est = KSparseAutoencoder(n_hidden=8, k=2, n_epochs=3, batch_size=16, random_state=0)
    check_estimator(est)


def test_get_set_params_and_clone():
    est = KSparseAutoencoder(n_hidden=10, k=3)
    assert est.get_params()["n_hidden"] == 10
    est.set_params(k=4, learning_rate=1e-3)
    assert est.k == 4 and est.learning_rate == 1e-3
    c = clone(est)
    assert c.get_params() == est.get_params()
    with pytest.raises(ValueError):
        est.set_params(not_a_param=1)


def test_in_pipeline():
    rng = np.random.default_rng(0)
    X = rng.random((60, 10)) * 5
    pipe = make_pipeline(MinMaxScaler(), KSparseAutoencoder(n_hidden=8, k=2, n_epochs=3, random_state=0))
    codes = pipe.fit_transform(X)
    assert codes.shape == (60, 8)
    assert ((codes != 0).sum(1) <= 2).all()


def test_import_does_not_load_sklearn():
    import subprocess
    import sys

    code = "import sys, ksparse; ksparse.KSparseAutoencoder(); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_repr_shows_changed_params():
    assert repr(KSparseAutoencoder()) == "KSparseAutoencoder()"
    assert repr(KSparseAutoencoder(n_hidden=10, k=3)) == "KSparseAutoencoder(k=3, n_hidden=10)"
