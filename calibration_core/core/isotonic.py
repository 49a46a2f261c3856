# Pure: imports only numpy, attrs, math and calibration_core's _arrays, exceptions,
# constants and pav.
"""The confidence map built on our PAV: fit, sufficient statistics for partitions, ±bound."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
import numpy as np

from calibration_core._arrays import as_vector, frozen_array, require_finite
from calibration_core.constants import MAX_CONFIDENCE_CHANGE
from calibration_core.core.numbers import require
from calibration_core.core.pav import _ARRAY_EQ, _as_weights, _pool_adjacent_violators
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    IndexArray = npt.NDArray[np.intp]

__all__ = [
    "IsotonicCalibration",
    "SufficientStatistics",
    "bound_confidence_change",
    "fit_isotonic",
    "fit_sufficient_statistics",
    "merge_sufficient_statistics",
    "sufficient_statistics",
]


def _as_bound(name: str, value: float | None) -> float | None:
    """Check an optional clip bound: None or a finite real number."""
    if value is None:
        return None
    try:
        bound = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be a real number or None (got {value!r})") from exc
    require(math.isfinite(bound), name, "finite or None", bound)
    return bound


def _check_knots(instance: IsotonicCalibration, _attribute: object, values: FloatArray) -> None:
    """Validate the knots of an :class:`IsotonicCalibration` (several fields at once)."""
    thresholds = instance.thresholds
    if thresholds.ndim != 1 or values.ndim != 1:
        raise InvalidInputError(
            f"thresholds and values must be 1-D (got shapes {thresholds.shape} and {values.shape})"
        )
    if thresholds.shape[0] == 0:
        raise InvalidInputError("thresholds must hold at least one knot (got 0)")
    if values.shape != thresholds.shape:
        raise InvalidInputError(
            "values must have the same length as thresholds "
            f"(got {values.shape[0]}, expected {thresholds.shape[0]})"
        )
    require_finite("thresholds", thresholds)
    require_finite("values", values)
    steps = np.diff(thresholds)
    if steps.size and not float(np.min(steps)) > 0.0:
        index = int(np.flatnonzero(steps <= 0.0)[0]) + 1
        raise InvalidInputError(
            "thresholds must be strictly increasing (got "
            f"{float(thresholds[index])} after {float(thresholds[index - 1])} at index {index})"
        )
    rises = np.diff(values) if instance.increasing else -np.diff(values)
    if rises.size and not float(np.min(rises)) >= 0.0:
        index = int(np.flatnonzero(rises < 0.0)[0]) + 1
        direction = "nondecreasing" if instance.increasing else "nonincreasing"
        raise InvalidInputError(
            f"values must be {direction} "
            f"(got {float(values[index])} after {float(values[index - 1])} at index {index})"
        )


@attrs.frozen
class IsotonicCalibration:
    """A monotone, piecewise-linear map from raw confidence to calibrated confidence.

    Attributes
    ----------
    thresholds : ndarray of shape (K,)
        Strictly increasing knot positions (raw confidence).
    values : ndarray of shape (K,)
        Map values at the knots, monotone in the direction of ``increasing``.
    increasing : bool
        True for a nondecreasing map, False for a nonincreasing one.
    n_samples : int
        Number of observations the map was fitted on (0 for a hand-made map).

    Notes
    -----
    Between knots the map interpolates linearly; outside ``[thresholds[0], thresholds[-1]]``
    it holds the end values (:func:`numpy.interp` semantics, scikit-learn's
    ``out_of_bounds="clip"``). The arrays are private read-only copies; equality compares
    them with :func:`numpy.array_equal` and the hash ignores them.
    """

    thresholds: FloatArray = attrs.field(converter=frozen_array, eq=_ARRAY_EQ, hash=False)
    values: FloatArray = attrs.field(
        converter=frozen_array, eq=_ARRAY_EQ, hash=False, validator=_check_knots
    )
    increasing: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    n_samples: int = attrs.field(
        default=0,
        validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)],
    )

    @classmethod
    def identity(cls) -> IsotonicCalibration:
        """Return the map that leaves every confidence in [0, 1] unchanged.

        Returns
        -------
        IsotonicCalibration
            Knots ``thresholds = [0, 1]`` and ``values = [0, 1]``, fitted on no samples.
        """
        return cls(thresholds=[0.0, 1.0], values=[0.0, 1.0], increasing=True, n_samples=0)

    def predict(self, confidence: npt.ArrayLike) -> FloatArray:
        """Map raw confidences through the calibration.

        Parameters
        ----------
        confidence : array_like of any shape
            Raw confidences; must be finite.

        Returns
        -------
        ndarray of float64, same shape as ``confidence``
            Linear interpolation between the knots, holding the end values outside them.

        Raises
        ------
        InvalidInputError
            If ``confidence`` is not numeric or holds NaN or infinity.
        """
        try:
            points = np.asarray(confidence, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"confidence must be an array of real numbers ({exc})") from exc
        if points.size:
            require_finite("confidence", points)
        return np.asarray(np.interp(points, self.thresholds, self.values), dtype=np.float64)

    def max_abs_change(self) -> float:
        """Return the largest ``|value - threshold|`` over the knots.

        Returns
        -------
        float
            ``max_k |values[k] - thresholds[k]|``; for a map whose knots span [0, 1] this is
            the largest change the map makes to any confidence in [0, 1].
        """
        return float(np.max(np.abs(self.values - self.thresholds)))


# ---------------------------------------------------------------------------
# Calibration map
# ---------------------------------------------------------------------------


def _samples(
    x: npt.ArrayLike, y: npt.ArrayLike, weights: npt.ArrayLike | None, *, allow_empty: bool
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Check the samples of a fit: ``x``, ``y`` of the same length and optional case weights."""
    points = as_vector("x", x, allow_empty=allow_empty)
    n = points.shape[0]
    outcomes = as_vector("y", y, allow_empty=True)
    if outcomes.shape[0] != n:
        raise InvalidInputError(
            f"y must have the same length as x (got {outcomes.shape[0]}, expected {n})"
        )
    return points, outcomes, _as_weights(weights, n, of="x")


def _runs(ordered: FloatArray) -> tuple[FloatArray, IndexArray]:
    """Distinct values of a sorted array and the length of each run of equal values."""
    n = ordered.shape[0]
    head = np.empty(n, dtype=bool)
    head[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=head[1:])
    starts = np.flatnonzero(head)
    return ordered[starts], np.diff(starts, append=n)


def _pool_binary_ties(
    points: FloatArray, outcomes: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray | None] | None:
    """Pool unweighted 0/1 outcomes by distinct ``x`` with two sorts and no permutation.

    The count of each distinct ``x`` comes from ``sort(x)`` and its count of 1s from
    ``sort(x where y == 1)``; the mean is their exact quotient. ``np.sort`` is several
    times faster than ``np.argsort`` followed by the gathers. Returns None unless every
    outcome is exactly 0 or 1.
    """
    n = points.shape[0]
    ones = outcomes == 1.0
    positives = int(np.count_nonzero(ones))
    if positives + int(np.count_nonzero(outcomes == 0.0)) != n:
        return None
    distinct, counts = _runs(np.sort(points))
    # x is finite (checked), so +inf sorts the 0 outcomes after every 1.
    hits = np.where(ones, points, math.inf)
    hits.sort()
    hit_values, hit_counts = _runs(hits[:positives]) if positives else (np.empty(0), counts[:0])
    successes = np.zeros(distinct.shape[0])
    successes[np.searchsorted(distinct, hit_values)] = hit_counts
    if distinct.shape[0] == n:
        return distinct, successes, None
    weights = counts.astype(np.float64)
    return distinct, successes / weights, weights


def _pool_ties(
    points: FloatArray, outcomes: FloatArray, weights: FloatArray | None
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Sort by ``x`` and pool equal ``x`` into (x, weighted mean of y, summed weight)."""
    n = points.shape[0]
    # The default introsort measured fastest on 1e6 confidences with many ties; stability
    # is not needed because tied points are pooled into one.
    order = np.argsort(points)
    sorted_x = points[order]
    sorted_y = outcomes[order]
    sorted_w = None if weights is None else weights[order]
    head = np.empty(n, dtype=bool)
    head[0] = True
    np.not_equal(sorted_x[1:], sorted_x[:-1], out=head[1:])
    starts = np.flatnonzero(head)
    if starts.shape[0] == n:
        return sorted_x, sorted_y, sorted_w
    if sorted_w is None:
        knots_w = np.diff(starts, append=n).astype(np.float64)
        return sorted_x[starts], np.add.reduceat(sorted_y, starts) / knots_w, knots_w
    knots_w = np.add.reduceat(sorted_w, starts)
    return sorted_x[starts], np.add.reduceat(sorted_w * sorted_y, starts) / knots_w, knots_w


def fit_isotonic(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    increasing: bool = True,
    y_min: float | None = 0.0,
    y_max: float | None = 1.0,
) -> IsotonicCalibration:
    r"""Fit a monotone calibration map from confidences ``x`` to outcomes ``y``.

    Parameters
    ----------
    x : array_like of shape (n,)
        Finite raw confidences, in any order; ``n >= 1``.
    y : array_like of shape (n,)
        Finite outcomes: 0/1 results or observed rates.
    weights : array_like of shape (n,), optional
        Finite, strictly positive case weights; all ones when omitted.
    increasing : bool, default True
        Fit a nondecreasing map; False fits a nonincreasing one.
    y_min, y_max : float or None, default 0.0 and 1.0
        Clip the fitted values to ``[y_min, y_max]``; None leaves that side open.

    Returns
    -------
    IsotonicCalibration
        Knots at the distinct ``x`` where the fitted value changes (the first and last
        point of every run of equal values are kept), with ``n_samples = n``.

    Raises
    ------
    InvalidInputError
        If an array is empty, not 1-D or not finite, the lengths differ, a weight is not
        strictly positive, or ``y_min > y_max``.

    Notes
    -----
    Ties in ``x`` are pooled first (scikit-learn's "secondary" rule): the points with
    the same :math:`x = u` become one point with

    .. math::

        \bar y_u = \frac{\sum_{i: x_i = u} w_i y_i}{\sum_{i: x_i = u} w_i}, \qquad
        W_u = \sum_{i: x_i = u} w_i .

    The pooled points, in increasing ``u``, are fitted by :func:`isotonic_regression`
    with weights :math:`W_u`, and the values are clipped to ``[y_min, y_max]``.
    Only exactly equal ``x`` are ties (scikit-learn also pools ``x`` closer than
    1e-15). Predictions equal ``IsotonicRegression(out_of_bounds="clip")`` fitted with
    the same ``y_min``/``y_max``.

    Examples
    --------
    >>> cal = fit_isotonic([0.2, 0.4, 0.6, 0.8], [0.0, 1.0, 0.0, 1.0])
    >>> cal.predict([0.1, 0.5, 0.9]).tolist()
    [0.0, 0.5, 1.0]
    """
    points, outcomes, case_weights = _samples(x, y, weights, allow_empty=False)
    n = points.shape[0]
    low = _as_bound("y_min", y_min)
    high = _as_bound("y_max", y_max)
    if low is not None and high is not None and low > high:
        raise InvalidInputError(f"y_min must not exceed y_max (got {low} > {high})")

    pooled = _pool_binary_ties(points, outcomes) if case_weights is None else None
    if pooled is None:
        pooled = _pool_ties(points, outcomes, case_weights)
    return _fit_pooled(pooled, n, increasing=increasing, bounds=(low, high))


def _fit_pooled(
    knots: tuple[FloatArray, FloatArray, FloatArray | None],
    n_samples: int,
    *,
    increasing: bool,
    bounds: tuple[float | None, float | None],
) -> IsotonicCalibration:
    """Fit the map from pooled points: distinct ``x``, their mean ``y`` and their weight."""
    knots_x, knots_y, knots_w = knots
    low, high = bounds
    means, _, boundaries, _ = _pool_adjacent_violators(knots_y if increasing else -knots_y, knots_w)
    if not increasing:
        means = -means
    if low is not None or high is not None:
        means = np.clip(
            means, -math.inf if low is None else low, math.inf if high is None else high
        )
    fitted = np.repeat(means, np.diff(boundaries))

    # Keep the first and last knot of every run of equal values: the points between
    # them lie on a flat segment and change no prediction.
    keep = np.ones(fitted.shape[0], dtype=bool)
    keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return IsotonicCalibration(
        thresholds=knots_x[keep], values=fitted[keep], increasing=increasing, n_samples=n_samples
    )


# ---------------------------------------------------------------------------
# Sufficient statistics: fitting a history split across partitions
# ---------------------------------------------------------------------------


def _check_statistics(
    instance: SufficientStatistics, _attribute: object, weight_sums: FloatArray
) -> None:
    """Validate a :class:`SufficientStatistics` table (several fields at once)."""
    x, sums = instance.x, instance.weighted_sums
    if not (x.ndim == sums.ndim == weight_sums.ndim == 1):
        raise InvalidInputError("x, weighted_sums and weight_sums must be 1-D")
    if not (x.shape == sums.shape == weight_sums.shape):
        raise InvalidInputError(
            "x, weighted_sums and weight_sums must have the same length "
            f"(got {x.shape[0]}, {sums.shape[0]} and {weight_sums.shape[0]})"
        )
    require_finite("x", x)
    require_finite("weighted_sums", sums)
    require_finite("weight_sums", weight_sums)
    if x.shape[0] > 1 and not float(np.min(np.diff(x))) > 0.0:
        index = int(np.flatnonzero(np.diff(x) <= 0.0)[0]) + 1
        raise InvalidInputError(
            f"x must be strictly increasing (got {float(x[index])} after "
            f"{float(x[index - 1])} at index {index})"
        )
    if x.shape[0] and not float(np.min(weight_sums)) > 0.0:
        index = int(np.flatnonzero(weight_sums <= 0.0)[0])
        raise InvalidInputError(
            f"weight_sums must be strictly positive (got {float(weight_sums[index])} "
            f"at index {index})"
        )
    if instance.n_samples < x.shape[0]:
        raise InvalidInputError(
            f"n_samples must be at least the number of distinct x "
            f"(got {instance.n_samples} < {x.shape[0]})"
        )


@attrs.frozen
class SufficientStatistics:
    r"""What the isotonic fit needs from a set of samples: per distinct ``x``, ``Σw`` and ``Σwy``.

    Attributes
    ----------
    x : ndarray of shape (K,)
        The distinct confidences, strictly increasing.
    weighted_sums : ndarray of shape (K,)
        :math:`\sum_{i: x_i = u} w_i y_i` for each distinct :math:`u`.
    weight_sums : ndarray of shape (K,)
        :math:`\sum_{i: x_i = u} w_i` (the count when unweighted), strictly positive.
    n_samples : int
        Number of samples summarised.

    Notes
    -----
    Tables of disjoint partitions merge by adding the sums of equal ``x``
    (:func:`merge_sufficient_statistics`), and :func:`fit_sufficient_statistics` of the
    merged table equals :func:`fit_isotonic` of all the samples (to rounding): the fit
    pools ties first and sees nothing else. ``K`` is bounded by the distinct
    confidences (about 1,000 at 3 decimals), whatever the number of samples.
    """

    x: FloatArray = attrs.field(converter=frozen_array, eq=_ARRAY_EQ, hash=False)
    weighted_sums: FloatArray = attrs.field(converter=frozen_array, eq=_ARRAY_EQ, hash=False)
    weight_sums: FloatArray = attrs.field(
        converter=frozen_array, eq=_ARRAY_EQ, hash=False, validator=_check_statistics
    )
    n_samples: int = attrs.field(
        validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)]
    )


def _grouped(
    x: FloatArray, sums: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sort by ``x`` and add ``sums`` and ``weights`` over equal ``x``."""
    order = np.argsort(x)
    sorted_x = x[order]
    head = np.empty(sorted_x.shape[0], dtype=bool)
    head[:1] = True
    np.not_equal(sorted_x[1:], sorted_x[:-1], out=head[1:])
    starts = np.flatnonzero(head)
    if starts.shape[0] == 0:
        return sorted_x, sums[:0], weights[:0]
    return (
        sorted_x[starts],
        np.add.reduceat(sums[order], starts),
        np.add.reduceat(weights[order], starts),
    )


def sufficient_statistics(
    x: npt.ArrayLike, y: npt.ArrayLike, *, weights: npt.ArrayLike | None = None
) -> SufficientStatistics:
    """Summarise samples for the isotonic fit: per distinct ``x``, ``Σw`` and ``Σwy``.

    Parameters
    ----------
    x : array_like of shape (n,)
        Finite raw confidences, in any order; ``n = 0`` gives an empty table.
    y : array_like of shape (n,)
        Finite outcomes.
    weights : array_like of shape (n,), optional
        Finite, strictly positive case weights; all ones when omitted.

    Returns
    -------
    SufficientStatistics
        The table of this partition.

    Raises
    ------
    InvalidInputError
        If an array is not 1-D or not finite, the lengths differ or a weight is not
        strictly positive.

    Examples
    --------
    >>> table = sufficient_statistics([0.6, 0.5, 0.6], [1.0, 0.0, 0.0])
    >>> table.x.tolist(), table.weighted_sums.tolist(), table.weight_sums.tolist()
    ([0.5, 0.6], [0.0, 1.0], [1.0, 2.0])
    """
    points, outcomes, case_weights = _samples(x, y, weights, allow_empty=True)
    n = points.shape[0]
    unit = np.ones(n) if case_weights is None else case_weights
    distinct, sums, weight_sums = _grouped(points, unit * outcomes, unit)
    return SufficientStatistics(
        x=distinct, weighted_sums=sums, weight_sums=weight_sums, n_samples=n
    )


def merge_sufficient_statistics(
    first: SufficientStatistics, second: SufficientStatistics
) -> SufficientStatistics:
    """Merge the tables of two disjoint partitions: add the sums of equal ``x``.

    Parameters
    ----------
    first, second : SufficientStatistics
        Tables of disjoint sets of samples.

    Returns
    -------
    SufficientStatistics
        The table of their union. Merging is associative and commutative up to the
        rounding of the sums, so partitions may be merged in any order or tree.

    Examples
    --------
    >>> a = sufficient_statistics([0.5, 0.6], [1.0, 0.0])
    >>> b = sufficient_statistics([0.6, 0.7], [1.0, 1.0])
    >>> merge_sufficient_statistics(a, b).weight_sums.tolist()
    [1.0, 2.0, 1.0]
    """
    distinct, sums, weight_sums = _grouped(
        np.concatenate((first.x, second.x)),
        np.concatenate((first.weighted_sums, second.weighted_sums)),
        np.concatenate((first.weight_sums, second.weight_sums)),
    )
    return SufficientStatistics(
        x=distinct,
        weighted_sums=sums,
        weight_sums=weight_sums,
        n_samples=first.n_samples + second.n_samples,
    )


def fit_sufficient_statistics(
    statistics: SufficientStatistics,
    *,
    increasing: bool = True,
    y_min: float | None = 0.0,
    y_max: float | None = 1.0,
) -> IsotonicCalibration:
    """Fit the calibration map from a (merged) table, as :func:`fit_isotonic` would.

    Parameters
    ----------
    statistics : SufficientStatistics
        A non-empty table, usually merged from every partition's.
    increasing, y_min, y_max
        As for :func:`fit_isotonic`.

    Returns
    -------
    IsotonicCalibration
        Equal (to rounding) to ``fit_isotonic`` of all the samples the table summarises.

    Raises
    ------
    InvalidInputError
        If the table is empty or ``y_min > y_max``.
    """
    if statistics.x.shape[0] == 0:
        raise InvalidInputError("statistics must summarise at least one sample (got 0)")
    low = _as_bound("y_min", y_min)
    high = _as_bound("y_max", y_max)
    if low is not None and high is not None and low > high:
        raise InvalidInputError(f"y_min must not exceed y_max (got {low} > {high})")
    weight_sums = np.array(statistics.weight_sums)
    knots = (statistics.x, statistics.weighted_sums / weight_sums, weight_sums)
    return _fit_pooled(knots, statistics.n_samples, increasing=increasing, bounds=(low, high))


# ---------------------------------------------------------------------------
# Bounding the change of a confidence map
# ---------------------------------------------------------------------------


def _band_edges(knots: FloatArray, max_change: float) -> tuple[FloatArray, FloatArray]:
    """Return per-knot band edges whose distance to the knot is at most ``max_change`` in floats.

    ``knots ± max_change`` can round one ulp outside the band; the edges are pulled in
    until ``edge - knot`` (and ``knot - edge``) computed in float64 is within the bound, and
    made monotone so that the clipped values stay monotone.
    """
    upper = knots + max_change
    while True:
        over = (upper - knots) > max_change
        if not over.any():
            break
        upper[over] = np.nextafter(upper[over], -math.inf)
    lower = knots - max_change
    while True:
        over = (knots - lower) > max_change
        if not over.any():
            break
        lower[over] = np.nextafter(lower[over], math.inf)
    upper = np.minimum.accumulate(upper[::-1])[::-1]
    lower = np.maximum.accumulate(lower)
    return lower, upper


def _crossings(knots: FloatArray, gaps: FloatArray) -> FloatArray:
    """Points strictly inside a segment where the linear ``gaps`` change sign."""
    left, right = gaps[:-1], gaps[1:]
    where = np.flatnonzero(((left < 0.0) & (right > 0.0)) | ((left > 0.0) & (right < 0.0)))
    if where.size == 0:
        return np.empty(0)
    share = left[where] / (left[where] - right[where])
    start, stop = knots[where], knots[where + 1]
    return np.clip(start + (stop - start) * share, start, stop)


def bound_confidence_change(
    calibration: IsotonicCalibration,
    max_change: float = MAX_CONFIDENCE_CHANGE,
) -> IsotonicCalibration:
    r"""Clamp a confidence map so that no confidence in [0, 1] moves by more than ``max_change``.

    Parameters
    ----------
    calibration : IsotonicCalibration
        An increasing map (its ``predict``, with its end-value extrapolation, is ``f``).
    max_change : float, default MAX_CONFIDENCE_CHANGE
        The largest allowed ``|g(c) - c|``, in (0, 1]. The system always passes
        ``MAX_CONFIDENCE_CHANGE`` (0.15); other values exist for tests and analysis.

    Returns
    -------
    IsotonicCalibration
        The map ``g`` with knots spanning exactly [0, 1] (no extrapolation region), the
        same ``n_samples`` and ``increasing=True``.

    Raises
    ------
    InvalidInputError
        If ``calibration`` is decreasing or ``max_change`` is not in (0, 1].

    Notes
    -----
    With :math:`\delta` = ``max_change``, the result is, pointwise on [0, 1],

    .. math::

        g(c) = \min\bigl(1, \max\bigl(0, \min(c + \delta, \max(c - \delta, f(c)))\bigr)\bigr).

    ``g`` is piecewise linear with kinks only at ``f``'s knots, at the points where
    ``f`` crosses :math:`c \pm \delta`, 0 or 1, and at :math:`c = \delta` /
    :math:`c = 1 - \delta` where a band edge meets 0 or 1; all of these in [0, 1] become
    knots, so interpolating the knots reproduces ``g`` up to rounding. Knot values are
    nudged by at most an ulp so that ``|g - c| <= max_change`` holds exactly in float64
    at every knot. Interior knots inside a flat run or a run along one band edge are
    trimmed. Applying the function twice gives the same map (up to rounding).
    """
    if not calibration.increasing:
        raise InvalidInputError(
            "calibration must be increasing to bound a confidence map (got a decreasing map)"
        )
    try:
        delta = float(max_change)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"max_change must be a real number (got {max_change!r})") from exc
    require(math.isfinite(delta) and 0.0 < delta <= 1.0, "max_change", "in (0, 1]", delta)

    thresholds = calibration.thresholds
    inside = thresholds[(thresholds > 0.0) & (thresholds < 1.0)]
    base = np.concatenate(([0.0], inside, [1.0]))
    base_values = calibration.predict(base)
    candidates = [
        base,
        _crossings(base, base_values - (base + delta)),
        _crossings(base, base_values - (base - delta)),
        _crossings(base, base_values),
        _crossings(base, base_values - 1.0),
    ]
    # A band edge meets 0 (at c = δ) or 1 (at c = 1 - δ): a kink only where f lies beyond it.
    edge_points = np.array([delta, 1.0 - delta])
    edge_values = calibration.predict(edge_points)
    if 0.0 < delta < 1.0 and edge_values[0] <= 0.0:
        candidates.append(edge_points[:1])
    if 0.0 < 1.0 - delta < 1.0 and edge_values[1] >= 1.0:
        candidates.append(edge_points[1:])
    knots = np.unique(np.concatenate(candidates))

    raw = np.maximum.accumulate(calibration.predict(knots))
    lower, upper = _band_edges(knots, delta)
    values = np.clip(np.minimum(upper, np.maximum(lower, raw)), 0.0, 1.0)

    # Give each segment one line type (flat first, then either band edge, else 0) and
    # drop an interior knot when both its segments have the same type: they lie on one
    # line. Typing segments, not knots, keeps a knot that ends one run and starts another.
    on_upper = values == upper
    on_lower = values == lower
    segment = np.select(
        [values[1:] == values[:-1], on_upper[1:] & on_upper[:-1], on_lower[1:] & on_lower[:-1]],
        [1, 2, 3],
        default=0,
    )
    keep = np.ones(knots.shape[0], dtype=bool)
    keep[1:-1] = (segment[1:] != segment[:-1]) | (segment[1:] == 0)
    return IsotonicCalibration(
        thresholds=knots[keep],
        values=values[keep],
        increasing=True,
        n_samples=calibration.n_samples,
    )
