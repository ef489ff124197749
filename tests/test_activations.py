"""Tests of ksparse.activations: values, derivatives, dtypes, stability, errors."""

import math
import warnings

import numpy as np
import pytest

from ksparse.activations import (
    ACTIVATIONS,
    ELU,
    GELU,
    Activation,
    LeakyReLU,
    get_activation,
)

NAMES = ["linear", "sigmoid", "relu", "tanh", "leaky_relu", "elu", "swish", "gelu"]

# activations with a kink at 0 (finite differences are only checked away from it)
KINKED = {"relu", "leaky_relu"}


def _make(name):
    # non-default alphas so a mixed-up parameter cannot pass unnoticed
    if name == "leaky_relu":
        return get_activation(name, alpha=0.2)
    if name == "elu":
        return get_activation(name, alpha=0.7)
    return get_activation(name)


def _closed_form(name, z, alpha):
    """Reference values from the math module, one scalar at a time."""
    if name == "linear":
        return z
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    if name == "relu":
        return max(z, 0.0)
    if name == "tanh":
        return math.tanh(z)
    if name == "leaky_relu":
        return z if z > 0 else alpha * z
    if name == "elu":
        return z if z > 0 else alpha * (math.exp(z) - 1.0)
    if name == "swish":
        return z / (1.0 + math.exp(-z)) if z > -700 else 0.0
    if name == "gelu":
        return 0.5 * z * (1.0 + math.erf(z / math.sqrt(2.0)))
    raise AssertionError(name)


def _grid(include_zero):
    z = np.concatenate(
        [
            np.linspace(-12.0, 12.0, 97),
            [-1e6, -1e3, -80.0, -40.0, -20.0, 20.0, 40.0, 80.0, 1e3, 1e6],
            [-1e-3, 1e-3],
        ]
    )
    if not include_zero:
        z = z[np.abs(z) > 1e-4]
    return z


def test_registry_has_every_contract_name():
    assert sorted(ACTIVATIONS) == sorted(NAMES)
    for name in NAMES:
        act = get_activation(name)
        assert isinstance(act, Activation)
        assert act.name == name


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_finite_differences(name):
    act = _make(name)
    # ELU with alpha != 1 has a kink at 0 as well
    smooth_at_zero = name not in KINKED and not (name == "elu" and act.params["alpha"] != 1.0)
    z = _grid(include_zero=smooth_at_zero)
    h = 1e-6 * np.maximum(1.0, np.abs(z))
    fd = (act.forward(z + h) - act.forward(z - h)) / (2 * h)
    d = act.derivative(z)
    np.testing.assert_allclose(d, fd, rtol=1e-6, atol=1e-8)


def test_elu_with_alpha_one_is_smooth_at_zero():
    act = get_activation("elu")
    z = np.array([0.0])
    fd = (act.forward(z + 1e-6) - act.forward(z - 1e-6)) / 2e-6
    np.testing.assert_allclose(act.derivative(z), fd, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_from_outputs_matches(name):
    act = _make(name)
    z = _grid(include_zero=True)
    a = act.forward(z)
    np.testing.assert_allclose(act.derivative(z, a), act.derivative(z), rtol=1e-9, atol=1e-12)


def test_derivative_uses_outputs_when_it_says_so():
    # a deliberately wrong A changes the result exactly for the activations that use it
    z = np.array([-1.0, 0.5, 2.0])
    fake = np.full(3, 0.25)
    for name in NAMES:
        act = _make(name)
        changed = not np.allclose(act.derivative(z, fake), act.derivative(z))
        assert changed == act.uses_output, name


def test_kink_conventions():
    z = np.array([0.0, -0.0])
    assert np.all(get_activation("relu").derivative(z) == 0.0)
    assert np.all(get_activation("leaky_relu", alpha=0.3).derivative(z) == 0.3)
    assert np.all(get_activation("elu", alpha=0.4).derivative(z) == 0.4)


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_closed_form(name):
    act = _make(name)
    alpha = act.params.get("alpha")
    z = np.concatenate([np.linspace(-30.0, 30.0, 241), [-700.0, -1e3, 1e3]])
    expected = np.array([_closed_form(name, float(v), alpha) for v in z])
    # 1 + erf(z / sqrt 2) in the GELU reference cancels in the negative tail
    atol = 1e-13 if name == "gelu" else 1e-300
    np.testing.assert_allclose(act.forward(z), expected, rtol=1e-12, atol=atol)
    if name == "gelu":
        tail = z < -3
        ref = np.array([0.5 * v * math.erfc(-v / math.sqrt(2.0)) for v in z[tail]])
        np.testing.assert_allclose(act.forward(z[tail]), ref, rtol=1e-12, atol=1e-300)


def test_known_values():
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(get_activation("sigmoid")(z), [0.2689414213699951, 0.5, 0.8807970779778823])
    np.testing.assert_allclose(get_activation("gelu")(z), [-0.15865525393145707, 0.0, 1.9544997361036416])
    np.testing.assert_allclose(get_activation("swish")(z), [-0.2689414213699951, 0.0, 1.7615941559557646])
    np.testing.assert_allclose(get_activation("elu")(z), [math.expm1(-1.0), 0.0, 2.0])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(name, dtype):
    act = _make(name)
    z = np.linspace(-5, 5, 23).astype(dtype).reshape(-1, 1)
    a = act.forward(z)
    assert a.dtype == dtype and a.shape == z.shape
    assert act.derivative(z).dtype == dtype
    assert act.derivative(z, a).dtype == dtype
    # float32 results agree with the float64 ones to float32 precision
    a64 = act.forward(z.astype(np.float64))
    np.testing.assert_allclose(a, a64, rtol=2e-6, atol=2e-7)
    np.testing.assert_allclose(act.derivative(z), act.derivative(z.astype(np.float64)), rtol=2e-5, atol=2e-6)


def test_integer_input_is_computed_in_float64():
    act = get_activation("sigmoid")
    out = act.forward(np.array([0, 1, -1]))
    assert out.dtype == np.float64
    assert get_activation("relu").derivative([True, False]).dtype == np.float64


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_floating_point_errors_for_extreme_inputs(name, dtype):
    act = _make(name)
    info = np.finfo(dtype)
    z = np.array([-info.max, -1e30, -1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4, 1e30, info.max], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            a = act.forward(z)
            d = act.derivative(z)
            d2 = act.derivative(z, a)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d)) and np.all(np.isfinite(d2))
    if name != "linear":
        # every activation here has a bounded derivative
        assert np.all(np.abs(d) <= 1.2)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "swish", "gelu", "elu"])
def test_saturated_tails(name):
    act = get_activation(name)
    z = np.array([-1e6, 1e6])
    d = act.derivative(z)
    np.testing.assert_array_equal(d[0], 0.0)
    assert d[1] == (0.0 if name in ("sigmoid", "tanh") else 1.0)


@pytest.mark.parametrize("name", NAMES)
def test_forward_in_place_and_into_out(name):
    act = _make(name)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 5)) * 3
    expected = act.forward(z)
    out = np.empty_like(z)
    res = act.forward(z, out=out)
    assert res is out
    np.testing.assert_array_equal(out, expected)
    zc = z.copy()
    res = act.forward(zc, out=zc)
    assert res is zc
    np.testing.assert_array_equal(zc, expected)
    # non-contiguous views work too
    zt = z.T.copy().T
    np.testing.assert_array_equal(act.forward(zt), expected)


def test_out_is_checked():
    act = get_activation("relu")
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match="shape and dtype"):
        act.forward(z, out=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape and dtype"):
        act.forward(z, out=np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="numpy array"):
        act.forward(z, out=[0.0] * 6)
    ro = np.zeros((2, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        act.forward(z, out=ro)
    with pytest.raises(ValueError, match="shape of Z"):
        act.derivative(z, A=np.zeros(3))


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError) as info:
        get_activation("softplus")
    msg = str(info.value)
    assert "softplus" in msg
    for name in NAMES:
        assert repr(name) in msg


def test_name_normalisation_and_instances():
    assert get_activation("ReLU") == get_activation("relu")
    assert get_activation("Leaky-ReLU", alpha=0.1) == LeakyReLU(0.1)
    inst = ELU(alpha=0.5)
    assert get_activation(inst) is inst
    with pytest.raises(TypeError, match="existing"):
        get_activation(inst, alpha=0.2)
    with pytest.raises(TypeError, match="name"):
        get_activation(3)


def test_params_and_config_round_trip():
    for name in NAMES:
        act = _make(name)
        config = act.get_config()
        assert config["name"] == name
        again = get_activation(config)
        assert again == act and hash(again) == hash(act)
        assert again.params == act.params
    assert get_activation("leaky_relu").params == {"alpha": 0.01}
    assert get_activation("elu").params == {"alpha": 1.0}
    assert GELU().params == {}
    assert LeakyReLU(0.2) != LeakyReLU(0.3)
    assert "alpha=0.2" in repr(LeakyReLU(0.2))


def test_parameter_errors():
    with pytest.raises(ValueError, match="alpha"):
        LeakyReLU(alpha=-0.1)
    with pytest.raises(ValueError, match="alpha"):
        ELU(alpha=float("nan"))
    with pytest.raises(TypeError, match="alpha"):
        LeakyReLU(alpha="big")
    with pytest.raises(ValueError, match="does not accept"):
        get_activation("relu", alpha=0.1)
    with pytest.raises(ValueError, match="'name'"):
        get_activation({"alpha": 0.1})
    with pytest.raises(TypeError, match="real numbers"):
        get_activation("relu").forward(np.array(["a", "b"]))
