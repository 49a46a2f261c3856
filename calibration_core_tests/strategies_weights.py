"""Hypothesis strategies for ensemble weights, model performance and check results."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from calibration_core.constants import MAX_WEIGHT, MIN_WEIGHT, WEIGHT_SUM_TOLERANCE
from calibration_core.core.validation import CheckResult, Severity
from calibration_core.core.weights import MAX_MODELS, MIN_MODELS, ModelPerformance

MODEL_NAMES = ("xgb", "lgbm", "nhits", "patchtst", "tft", "nbeats")


def _water_fill(shares: list[float], total: float) -> list[float]:
    """Split ``total`` in proportion to ``shares`` with no part above 1 (shares > 0)."""
    parts = [0.0] * len(shares)
    free = list(range(len(shares)))
    remaining = total
    while free:
        weight = math.fsum(shares[i] for i in free)
        capped = [i for i in free if remaining * shares[i] / weight >= 1.0]
        if not capped:
            for i in free:
                parts[i] = remaining * shares[i] / weight
            break
        for i in capped:
            parts[i] = 1.0
            remaining -= 1.0
            free.remove(i)
    return parts


@st.composite
def feasible_weights(draw: st.DrawFn, *, sum_offset: bool = False) -> dict[str, float]:
    """Draw MIN_MODELS..MAX_MODELS weights in [MIN_WEIGHT, MAX_WEIGHT] summing to 1.

    Each model starts at MIN_WEIGHT and the rest of the unit is water-filled by
    random shares, so every weight stays in bounds. With ``sum_offset`` the
    weights are rescaled so that their sum misses 1 by up to 0.9 of the
    tolerance, as a hand-edited live config may.
    """
    n_models = draw(st.integers(MIN_MODELS, MAX_MODELS))
    shares = draw(st.lists(st.floats(0.01, 1.0), min_size=n_models, max_size=n_models))
    room = MAX_WEIGHT - MIN_WEIGHT
    parts = _water_fill(shares, (1.0 - n_models * MIN_WEIGHT) / room)
    scale = 1.0
    if sum_offset:
        scale += draw(st.floats(-0.9 * WEIGHT_SUM_TOLERANCE, 0.9 * WEIGHT_SUM_TOLERANCE))
    weights = [min(MAX_WEIGHT, max(MIN_WEIGHT, (MIN_WEIGHT + room * p) * scale)) for p in parts]
    return dict(zip(MODEL_NAMES, weights, strict=False))


@st.composite
def performance_for(draw: st.DrawFn, names: tuple[str, ...]) -> tuple[ModelPerformance, ...]:
    """Draw one ModelPerformance per name, with 0..2000 sided trades and any precision."""
    result = []
    for name in names:
        n_trades = draw(st.one_of(st.just(0), st.integers(1, 60), st.integers(1, 2000)))
        correct = draw(st.integers(0, n_trades))
        result.append(ModelPerformance(name, correct, n_trades))
    return tuple(result)


@st.composite
def equal_precision_performance(
    draw: st.DrawFn, names: tuple[str, ...]
) -> tuple[ModelPerformance, ...]:
    """Draw performances whose precisions are all exactly equal (``k·t / m·t``)."""
    denominator = draw(st.integers(1, 20))
    numerator = draw(st.integers(0, denominator))
    scales = draw(st.lists(st.integers(1, 50), min_size=len(names), max_size=len(names)))
    return tuple(
        ModelPerformance(name, numerator * t, denominator * t)
        for name, t in zip(names, scales, strict=True)
    )


check_results = st.builds(
    CheckResult,
    name=st.sampled_from(["weight_sum", "weight_bounds", "min_trades", "no_degradation:x"]),
    severity=st.sampled_from(Severity),
    passed=st.booleans(),
    value=st.floats(allow_nan=True, allow_infinity=True),
    threshold=st.floats(allow_nan=False, allow_infinity=False),
    message=st.text(max_size=40),
)
"""Any CheckResult, including NaN and infinite measured values."""
