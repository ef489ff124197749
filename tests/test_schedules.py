"""Learning-rate schedules: shapes, end points, errors."""

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ksparse import Schedule, make_schedule


def test_constant():
    s = make_schedule("constant", total_steps=5)
    assert [s(i) for i in range(8)] == [1.0] * 8


def test_warmup_ramps_then_stays():
    s = make_schedule("warmup", total_steps=10, warmup_steps=4)
    assert [s(i) for i in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert s(100) == 1.0


def test_linear_decay_with_warmup_and_final_fraction():
    s = make_schedule("linear", total_steps=12, warmup_steps=2, final_fraction=0.2)
    assert s(0) == 0.5 and s(1) == 1.0 and s(2) == 1.0
    assert s(7) == pytest.approx(0.2 + 0.8 * 0.5)
    assert s(12) == pytest.approx(0.2) and s(50) == pytest.approx(0.2)
    vals = [s(i) for i in range(2, 13)]
    assert all(a > b for a, b in zip(vals, vals[1:]))


def test_cosine():
    s = make_schedule("cosine", total_steps=100)
    assert s(0) == 1.0
    assert s(50) == pytest.approx(0.5)
    assert s(25) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert s(100) == pytest.approx(0.0, abs=1e-15)
    s2 = make_schedule("cosine", total_steps=100, warmup_steps=10, final_fraction=0.1)
    assert s2(4) == 0.5 and s2(10) == 1.0
    assert s2(55) == pytest.approx(0.1 + 0.9 * 0.5)
    assert s2(1000) == pytest.approx(0.1)


def test_warmup_equal_to_total():
    s = make_schedule("linear", total_steps=3, warmup_steps=3)
    assert [s(i) for i in range(5)] == pytest.approx([1 / 3, 2 / 3, 1.0, 0.0, 0.0])


@settings(deadline=None)
@given(name=st.sampled_from(["linear", "cosine"]), total=st.integers(1, 500),
       wfrac=st.floats(0, 1), ff=st.floats(0, 1), step=st.integers(0, 1000))
def test_property_bounds_and_monotone_decay(name, total, wfrac, ff, step):
    w = int(wfrac * total)
    s = make_schedule(name, total_steps=total, warmup_steps=w, final_fraction=ff)
    v = s(step)
    assert 0 < v <= 1.0 or (v == 0.0 and ff == 0.0 and step >= total)
    if step >= w:
        assert s(step + 1) <= v + 1e-12
        assert v >= ff - 1e-12


def test_picklable_and_params():
    s = make_schedule("cosine", total_steps=10, warmup_steps=2, final_fraction=0.5)
    s2 = pickle.loads(pickle.dumps(s))
    assert s2 == s and s2(5) == s(5)
    assert Schedule(**s.get_params()) == s
    assert "cosine" in repr(s)


@pytest.mark.parametrize(
    "args, exc, match",
    [
        (dict(name="exp", total_steps=10), ValueError, "unknown schedule"),
        (dict(name="linear", total_steps=0), ValueError, "total_steps"),
        (dict(name="linear", total_steps=2.5), TypeError, "total_steps"),
        (dict(name="linear", total_steps=10, warmup_steps=11), ValueError, "exceed"),
        (dict(name="linear", total_steps=10, warmup_steps=-1), ValueError, "warmup_steps"),
        (dict(name="linear", total_steps=10, final_fraction=1.5), ValueError, "final_fraction"),
        (dict(name="linear", total_steps=10, final_fraction="a"), TypeError, "final_fraction"),
        (dict(name="constant", total_steps=10, warmup_steps=2), ValueError, "warm-up"),
        (dict(name="warmup", total_steps=10), ValueError, "warmup_steps >= 1"),
        (dict(name="constant", total_steps=10, final_fraction=0.5), ValueError, "final_fraction"),
    ],
)
def test_bad_arguments(args, exc, match):
    name = args.pop("name")
    with pytest.raises(exc, match=match):
        make_schedule(name, **args)


def test_bad_step():
    s = make_schedule("linear", total_steps=10)
    with pytest.raises(ValueError, match="step"):
        s(-1)
    with pytest.raises(TypeError, match="step"):
        s(1.5)
    assert s(np.int64(3)) == s(3)
