"""Shared hypothesis strategies and deterministic test inputs for calibration_core's tests."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calibration_core.core.isotonic import IsotonicCalibration

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

__all__ = [
    "adversarial_shapes",
    "calibration_samples",
    "forecasts_and_outcomes",
    "increasing_maps",
    "ordered_responses",
    "real_samples",
    "weighted_responses",
]


def _finite(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(
        min_value=low,
        max_value=high,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
    )


@st.composite
def ordered_responses(draw: st.DrawFn, *, min_size: int = 1, max_size: int = 60) -> FloatArray:
    """Ordered responses for PAV: continuous values, few distinct levels (ties) or 0/1."""
    size = draw(st.integers(min_value=min_size, max_value=max_size))
    elements = draw(
        st.sampled_from(
            [
                _finite(-1e3, 1e3),
                st.integers(min_value=-3, max_value=3).map(float),
                st.sampled_from([0.0, 1.0]),
                _finite(0.0, 1.0),
            ]
        )
    )
    return draw(hnp.arrays(np.float64, size, elements=elements))


@st.composite
def weighted_responses(
    draw: st.DrawFn, *, min_size: int = 1, max_size: int = 60
) -> tuple[FloatArray, FloatArray | None]:
    """Ordered responses with either no weights or strictly positive weights of equal length."""
    y = draw(ordered_responses(min_size=min_size, max_size=max_size))
    if draw(st.booleans()):
        return y, None
    elements = draw(
        st.sampled_from([_finite(0.01, 100.0), st.integers(min_value=1, max_value=5).map(float)])
    )
    return y, draw(hnp.arrays(np.float64, y.shape[0], elements=elements))


@st.composite
def calibration_samples(
    draw: st.DrawFn, *, max_size: int = 80
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Confidences on a coarse grid (so ties are common), outcomes 0/1 or rates, optional weights.

    Confidences are multiples of 1/50 in [-0.2, 1.2]: exactly equal values are ties and
    distinct values are far apart, so no tie rule subtler than equality is exercised.
    """
    size = draw(st.integers(min_value=1, max_value=max_size))
    x = draw(hnp.arrays(np.float64, size, elements=st.integers(-10, 60).map(lambda k: k / 50)))
    outcomes = draw(st.sampled_from([st.sampled_from([0.0, 1.0]), _finite(0.0, 1.0)]))
    y = draw(hnp.arrays(np.float64, size, elements=outcomes))
    weights = None
    if draw(st.booleans()):
        weights = draw(hnp.arrays(np.float64, size, elements=_finite(0.1, 10.0)))
    return x, y, weights


@st.composite
def increasing_maps(draw: st.DrawFn) -> IsotonicCalibration:
    """Increasing piecewise-linear maps with knots inside and around [0, 1]."""
    size = draw(st.integers(min_value=1, max_value=12))
    knots = draw(
        st.lists(
            _finite(-0.3, 1.3).map(lambda v: round(v, 6)),
            min_size=size,
            max_size=size,
            unique=True,
        )
    )
    low, high = draw(st.sampled_from([(0.0, 1.0), (-0.5, 1.5), (0.3, 0.7)]))
    values = draw(st.lists(_finite(low, high), min_size=size, max_size=size))
    if draw(st.booleans()):
        # Flat stretches (equal values) are typical of isotonic fits.
        values = [round(v, 1) for v in values]
    return IsotonicCalibration(
        thresholds=sorted(knots), values=sorted(values), increasing=True, n_samples=size
    )


@st.composite
def forecasts_and_outcomes(
    draw: st.DrawFn, *, min_size: int = 1, max_size: int = 80
) -> tuple[FloatArray, FloatArray]:
    """Probabilities in [0, 1] (sometimes on a coarse grid) and 0/1 or rate outcomes."""
    size = draw(st.integers(min_value=min_size, max_value=max_size))
    probabilities = draw(
        st.sampled_from([_finite(0.0, 1.0), st.integers(0, 20).map(lambda k: k / 20)])
    )
    p = draw(hnp.arrays(np.float64, size, elements=probabilities))
    outcomes = draw(st.sampled_from([st.sampled_from([0.0, 1.0]), _finite(0.0, 1.0)]))
    y = draw(hnp.arrays(np.float64, size, elements=outcomes))
    return p, y


@st.composite
def real_samples(
    draw: st.DrawFn, *, min_size: int = 2, max_size: int = 60
) -> tuple[FloatArray, FloatArray]:
    """Two equal-length samples, continuous or with many ties."""
    size = draw(st.integers(min_value=min_size, max_value=max_size))
    elements = draw(
        st.sampled_from([_finite(-1e3, 1e3), st.integers(min_value=-3, max_value=3).map(float)])
    )
    a = draw(hnp.arrays(np.float64, size, elements=elements))
    b = draw(hnp.arrays(np.float64, size, elements=elements))
    return a, b


def adversarial_shapes(n: int) -> dict[str, FloatArray]:
    """Ordered inputs that make naive or partly vectorised PAV implementations quadratic.

    Parameters
    ----------
    n : int
        Length of each sequence (at least 4).

    Returns
    -------
    dict of str to ndarray of shape (n,)
        ``increasing_then_drop``: one long increasing run ended by a drop so deep that
        everything pools into one block. ``repeated_drops``: every ``sqrt(n)``-th point
        drops far below everything before it. ``alternating``: ``i, -i`` alternately.
        ``sawtooth``: ``i mod sqrt(n)``. ``staircase``: ramps of length ``sqrt(n)``, each
        starting ``2 sqrt(n)`` below the previous one.
    """
    index = np.arange(n)
    ramp = index.astype(np.float64)
    step = math.isqrt(n)
    return {
        "increasing_then_drop": np.where(index < n - 1, ramp, -float(n) * n),
        "repeated_drops": np.where(index % step == step - 1, -1e3 * ramp, ramp),
        "alternating": np.where(index % 2 == 0, ramp, -ramp),
        "sawtooth": (index % step).astype(np.float64),
        "staircase": (index % step) - 2.0 * step * (index // step),
    }
