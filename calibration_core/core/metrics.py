# Pure: imports only numpy, attrs, math and calibration_core's _arrays and exceptions.
"""Scores of probability forecasts: Brier, log loss, calibration error, reliability, correlation.

Every score takes ``(y_true, y_prob)``, scikit-learn's order; a call whose ``y_true`` is
not 0/1 while ``y_prob`` is all 0/1 looks swapped and is refused with InvalidInputError.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final, Literal

import attrs
import numpy as np

from calibration_core._arrays import as_vector
from calibration_core.core.numbers import require
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

__all__ = [
    "ReliabilityBin",
    "ReliabilityTable",
    "brier_score",
    "expected_calibration_error",
    "log_loss",
    "maximum_calibration_error",
    "mse",
    "pearson_correlation",
    "reliability_table",
    "spearman_correlation",
    "wilson_interval",
]

Strategy = Literal["uniform", "quantile"]

_Z_95: Final = 1.959963984540054
"""The standard normal 97.5 % quantile: two-sided 95 % intervals."""

_MAX_EPS: Final = 0.5
"""Log-loss clipping beyond this would fold probabilities over 1/2."""


# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------


def _as_unit_interval(name: str, value: npt.ArrayLike) -> FloatArray:
    """Convert ``value`` to a non-empty 1-D float64 array with every entry in [0, 1]."""
    array = as_vector(name, value)
    outside = (array < 0.0) | (array > 1.0)
    if outside.any():
        index = int(np.flatnonzero(outside)[0])
        raise InvalidInputError(
            f"{name} must be in [0, 1] (got {float(array[index])} at index {index})"
        )
    return array


def _as_pair(
    first: npt.ArrayLike, second: npt.ArrayLike, names: tuple[str, str], *, unit: bool
) -> tuple[FloatArray, FloatArray]:
    """Convert two same-length vectors (each in [0, 1] when ``unit``)."""
    convert = _as_unit_interval if unit else as_vector
    left = convert(names[0], first)
    right = convert(names[1], second)
    if right.shape[0] != left.shape[0]:
        raise InvalidInputError(
            f"{names[1]} must have the same length as {names[0]} "
            f"(got {right.shape[0]}, expected {left.shape[0]})"
        )
    return left, right


def _is_binary(values: FloatArray) -> bool:
    """Whether every entry is exactly 0 or 1."""
    return bool(np.all((values == 0.0) | (values == 1.0)))


def _as_forecasts(y_true: npt.ArrayLike, y_prob: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert ``(y_true, y_prob)``, scikit-learn's order, and refuse a swapped call.

    Both must be same-length vectors in [0, 1]. Outcomes may be rates, but when
    ``y_true`` holds a value other than 0 and 1 while ``y_prob`` holds only 0s and 1s,
    the call is almost surely ``(y_prob, y_true)``, the order these functions took
    before: it is refused rather than scored wrong.
    """
    outcome, forecast = _as_pair(y_true, y_prob, ("y_true", "y_prob"), unit=True)
    if _is_binary(forecast) and not _is_binary(outcome):
        index = int(np.flatnonzero((outcome != 0.0) & (outcome != 1.0))[0])
        raise InvalidInputError(
            "the arguments look swapped: metrics take (y_true, y_prob) as scikit-learn does, "
            f"but y_true holds {float(outcome[index])} at index {index} while y_prob holds "
            "only 0s and 1s"
        )
    return forecast, outcome


def _as_weights(weights: npt.ArrayLike | None, n: int) -> FloatArray | None:
    """Check optional case weights: finite, strictly positive, length ``n``."""
    if weights is None:
        return None
    array = as_vector("weights", weights)
    if array.shape[0] != n:
        raise InvalidInputError(
            f"weights must have the same length as y_true (got {array.shape[0]}, expected {n})"
        )
    not_positive = array <= 0.0
    if not_positive.any():
        index = int(np.flatnonzero(not_positive)[0])
        raise InvalidInputError(
            f"weights must be strictly positive (got {float(array[index])} at index {index})"
        )
    return array


def _as_bin_count(n_bins: int) -> int:
    """Check ``n_bins``: an integer (not a bool) of at least 1."""
    integer = not isinstance(n_bins, bool) and isinstance(n_bins, (int, np.integer))
    require(integer and n_bins >= 1, "n_bins", "an integer >= 1", n_bins)
    return int(n_bins)


def _as_strategy(strategy: str) -> Strategy:
    """Check the binning strategy name."""
    if strategy == "uniform":
        return "uniform"
    if strategy == "quantile":
        return "quantile"
    raise InvalidInputError(f"strategy must be 'uniform' or 'quantile' (got {strategy!r})")


# ---------------------------------------------------------------------------
# Proper scores
# ---------------------------------------------------------------------------


def brier_score(
    y_true: npt.ArrayLike, y_prob: npt.ArrayLike, *, weights: npt.ArrayLike | None = None
) -> float:
    r"""Return the (weighted) mean squared error of probabilities against outcomes.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Outcomes in [0, 1]: 0/1 results or observed rates; ``n >= 1``.
    y_prob : array_like of shape (n,)
        Forecast probabilities in [0, 1].
    weights : array_like of shape (n,), optional
        Finite, strictly positive case weights; all ones when omitted.

    Returns
    -------
    float
        The Brier score, in [0, 1]; lower is better.

    Raises
    ------
    InvalidInputError
        If an array is empty, not 1-D, not finite or outside [0, 1], the lengths differ,
        a weight is not strictly positive, or the arguments look swapped (``y_prob``
        all 0/1 while ``y_true`` is not).

    Notes
    -----
    With :math:`p` = ``y_prob`` and :math:`y` = ``y_true``,

    .. math:: \mathrm{BS} = \frac{\sum_i w_i (p_i - y_i)^2}{\sum_i w_i}

    Examples
    --------
    >>> brier_score([1.0, 0.0], [0.9, 0.2])
    0.025
    """
    forecast, outcome = _as_forecasts(y_true, y_prob)
    case_weights = _as_weights(weights, forecast.shape[0])
    squared = (forecast - outcome) ** 2
    if case_weights is None:
        return float(np.mean(squared))
    return float(np.sum(case_weights * squared) / np.sum(case_weights))


mse = brier_score
"""Alias of :func:`brier_score`: the mean squared error of probabilities."""


def log_loss(y_true: npt.ArrayLike, y_prob: npt.ArrayLike, *, eps: float = 1e-15) -> float:
    r"""Return the mean negative log-likelihood of outcomes under the forecast probabilities.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Outcomes in [0, 1]: 0/1 results or observed rates; ``n >= 1``.
    y_prob : array_like of shape (n,)
        Forecast probabilities in [0, 1].
    eps : float, default 1e-15
        Probabilities are clipped to ``[eps, 1 - eps]`` so that a confident miss costs a
        large but finite amount; must be in (0, 0.5).

    Returns
    -------
    float
        The log loss in nats; lower is better.

    Raises
    ------
    InvalidInputError
        If an array is empty, not 1-D, not finite or outside [0, 1], the lengths differ,
        the arguments look swapped (``y_prob`` all 0/1 while ``y_true`` is not), or
        ``eps`` is not in (0, 0.5).

    Notes
    -----
    With :math:`y` = ``y_true`` and :math:`q_i = \min(\max(p_i, \varepsilon), 1 - \varepsilon)`
    for :math:`p` = ``y_prob``,

    .. math:: \mathrm{LL} = -\frac{1}{n} \sum_i \bigl(y_i \ln q_i + (1 - y_i) \ln(1 - q_i)\bigr)

    Examples
    --------
    >>> round(log_loss([1.0, 0.0], [0.5, 0.5]), 6)
    0.693147
    """
    forecast, outcome = _as_forecasts(y_true, y_prob)
    require(isinstance(eps, (int, float)) and 0.0 < eps < _MAX_EPS, "eps", "in (0, 0.5)", eps)
    clipped = np.clip(forecast, eps, 1.0 - eps)
    terms = outcome * np.log(clipped) + (1.0 - outcome) * np.log1p(-clipped)
    return float(-np.mean(terms))


# ---------------------------------------------------------------------------
# Reliability
# ---------------------------------------------------------------------------


def wilson_interval(successes: float, n: float, *, z: float = _Z_95) -> tuple[float, float]:
    r"""Return the Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes : float
        Number of successes, in ``[0, n]``; a sum of rates is allowed.
    n : float
        Number of trials, ``>= 0``.
    z : float, default 1.959963984540054
        Standard normal quantile; the default gives a two-sided 95 % interval.

    Returns
    -------
    tuple of float
        ``(low, high)`` with ``0 <= low <= high <= 1``; ``(0.0, 1.0)`` when ``n == 0``.

    Raises
    ------
    InvalidInputError
        If ``n`` is negative or not finite, ``successes`` is outside ``[0, n]``, or ``z``
        is not a positive finite number.

    Notes
    -----
    With :math:`\hat p = s / n`,

    .. math::

        \frac{\hat p + \frac{z^2}{2n} \pm
        z \sqrt{\frac{\hat p (1 - \hat p)}{n} + \frac{z^2}{4 n^2}}}{1 + \frac{z^2}{n}}

    Examples
    --------
    >>> low, high = wilson_interval(5, 10)
    >>> round(low, 4), round(high, 4)
    (0.2366, 0.7634)
    """
    try:
        trials, wins, width = float(n), float(successes), float(z)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"successes, n and z must be real numbers ({exc})") from exc
    if not (math.isfinite(trials) and trials >= 0.0):
        raise InvalidInputError(f"n must be a finite number >= 0 (got {trials:g})")
    if not (math.isfinite(wins) and 0.0 <= wins <= trials):
        raise InvalidInputError(f"successes must be in [0, n] (got {wins:g} with n={trials:g})")
    if not (math.isfinite(width) and width > 0.0):
        raise InvalidInputError(f"z must be a positive finite number (got {width:g})")
    if trials == 0.0:
        return 0.0, 1.0
    rate = wins / trials
    z2 = width * width
    denominator = 1.0 + z2 / trials
    centre = (rate + z2 / (2.0 * trials)) / denominator
    half = width * math.sqrt(rate * (1.0 - rate) / trials + z2 / (4.0 * trials * trials))
    half /= denominator
    # Exact at the ends: rounding can leave 0 wins with a lower bound of 5.6e-17, or
    # all wins with an upper bound of 0.9999999999999999, an interval that misses
    # its own rate.
    low = 0.0 if wins == 0.0 else max(0.0, centre - half)
    high = 1.0 if wins == trials else min(1.0, centre + half)
    return low, high


@attrs.frozen
class ReliabilityBin:
    """One non-empty bin of a reliability table.

    Attributes
    ----------
    lower, upper : float
        The bin's edges; the bin holds ``lower <= p < upper`` (the last bin also
        ``p == upper``).
    count : int
        Number of forecasts in the bin (at least 1).
    mean_predicted : float
        Mean forecast probability in the bin.
    observed_rate : float
        Mean outcome in the bin.
    ci_low, ci_high : float
        Wilson 95 % score interval for ``observed_rate``.
    """

    lower: float
    upper: float
    count: int = attrs.field(validator=attrs.validators.ge(1))
    mean_predicted: float
    observed_rate: float
    ci_low: float
    ci_high: float


@attrs.frozen
class ReliabilityTable:
    """A reliability (calibration) table: forecasts binned by probability.

    Attributes
    ----------
    bins : tuple of ReliabilityBin
        The non-empty bins in increasing order; empty bins are omitted.
    strategy : {"uniform", "quantile"}
        How the edges were chosen.
    n_bins : int
        The number of bins requested (``len(bins)`` may be smaller).
    """

    bins: tuple[ReliabilityBin, ...]
    strategy: Strategy
    n_bins: int


@attrs.frozen
class _Binned:
    """Per-bin sums of the non-empty bins, shared by the table and the error scores."""

    lower: FloatArray
    upper: FloatArray
    count: FloatArray
    mean_predicted: FloatArray
    observed_rate: FloatArray
    successes: FloatArray


def _bin_edges(forecast: FloatArray, n_bins: int, strategy: Strategy) -> FloatArray:
    """Return the increasing bin edges (at least one value)."""
    if strategy == "uniform":
        # arange / n gives exact decimal edges (3/10 == 0.3); linspace gives
        # 0.30000000000000004, which would put a confidence of 0.3 in the bin below.
        return np.arange(n_bins + 1, dtype=np.float64) / n_bins
    # Duplicate quantiles (many equal forecasts) would make empty bins: merge them.
    return np.unique(np.quantile(forecast, np.linspace(0.0, 1.0, n_bins + 1)))


def _binned(forecast: FloatArray, outcome: FloatArray, n_bins: int, strategy: Strategy) -> _Binned:
    """Assign forecasts to bins ``[lower, upper)`` (last closed) and sum each bin."""
    edges = _bin_edges(forecast, n_bins, strategy)
    last = max(edges.shape[0] - 2, 0)
    index = np.clip(np.searchsorted(edges, forecast, side="right") - 1, 0, last)
    slots = last + 1
    count = np.bincount(index, minlength=slots).astype(np.float64)
    sum_predicted = np.asarray(np.bincount(index, weights=forecast, minlength=slots), np.float64)
    successes = np.asarray(np.bincount(index, weights=outcome, minlength=slots), np.float64)
    filled = np.flatnonzero(count)
    count = count[filled]
    upper_edges = edges[1:] if edges.shape[0] > 1 else edges
    return _Binned(
        lower=edges[filled],
        upper=upper_edges[filled],
        count=count,
        mean_predicted=sum_predicted[filled] / count,
        observed_rate=successes[filled] / count,
        successes=successes[filled],
    )


def reliability_table(
    y_true: npt.ArrayLike,
    y_prob: npt.ArrayLike,
    *,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
) -> ReliabilityTable:
    r"""Bin forecasts by probability and compare each bin's mean forecast with its outcome rate.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Outcomes in [0, 1]: 0/1 results or observed rates; ``n >= 1``.
    y_prob : array_like of shape (n,)
        Forecast probabilities in [0, 1].
    n_bins : int, default 10
        Number of bins requested, ``>= 1``.
    strategy : {"uniform", "quantile"}, default "uniform"
        ``"uniform"``: equal-width bins on [0, 1]. ``"quantile"``: edges at the
        quantiles of ``y_prob``, duplicate edges merged (so there may be fewer bins).

    Returns
    -------
    ReliabilityTable
        The non-empty bins; empty bins are omitted rather than reported with NaN.

    Raises
    ------
    InvalidInputError
        If an array is empty, not 1-D, not finite or outside [0, 1], the lengths differ,
        the arguments look swapped (``y_prob`` all 0/1 while ``y_true`` is not),
        ``n_bins < 1`` or ``strategy`` is unknown.

    Notes
    -----
    A bin :math:`b = [l_b, u_b)` (the last one closed) holding :math:`n_b` forecasts
    reports :math:`\bar p_b = \frac{1}{n_b}\sum_{i \in b} p_i`,
    :math:`\bar o_b = \frac{1}{n_b}\sum_{i \in b} y_i`, and the Wilson 95 % interval
    for :math:`\bar o_b` with :math:`s_b = \sum_{i \in b} y_i` successes in
    :math:`n_b` trials (see :func:`wilson_interval`).
    """
    forecast, outcome = _as_forecasts(y_true, y_prob)
    bins = _as_bin_count(n_bins)
    rule = _as_strategy(strategy)
    binned = _binned(forecast, outcome, bins, rule)
    rows = []
    for k in range(binned.count.shape[0]):
        count = int(binned.count[k])
        ci_low, ci_high = wilson_interval(min(float(binned.successes[k]), count), count)
        rows.append(
            ReliabilityBin(
                lower=float(binned.lower[k]),
                upper=float(binned.upper[k]),
                count=count,
                mean_predicted=float(binned.mean_predicted[k]),
                observed_rate=float(binned.observed_rate[k]),
                ci_low=ci_low,
                ci_high=ci_high,
            )
        )
    return ReliabilityTable(bins=tuple(rows), strategy=rule, n_bins=bins)


def _calibration_gaps(
    y_true: npt.ArrayLike, y_prob: npt.ArrayLike, n_bins: int, strategy: str
) -> tuple[FloatArray, FloatArray]:
    """Return ``|observed - predicted|`` and the bin counts of the non-empty bins."""
    forecast, outcome = _as_forecasts(y_true, y_prob)
    binned = _binned(forecast, outcome, _as_bin_count(n_bins), _as_strategy(strategy))
    return np.abs(binned.observed_rate - binned.mean_predicted), binned.count


def expected_calibration_error(
    y_true: npt.ArrayLike,
    y_prob: npt.ArrayLike,
    *,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
) -> float:
    r"""Return the count-weighted mean gap between outcome rate and forecast over the bins.

    Parameters
    ----------
    y_true, y_prob, n_bins, strategy
        As for :func:`reliability_table`.

    Returns
    -------
    float
        The ECE, in [0, 1].

    Raises
    ------
    InvalidInputError
        As :func:`reliability_table`.

    Notes
    -----
    .. math:: \mathrm{ECE} = \sum_b \frac{n_b}{n} \, \lvert \bar o_b - \bar p_b \rvert
    """
    gaps, counts = _calibration_gaps(y_true, y_prob, n_bins, strategy)
    return float(np.sum(counts * gaps) / np.sum(counts))


def maximum_calibration_error(
    y_true: npt.ArrayLike,
    y_prob: npt.ArrayLike,
    *,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
) -> float:
    r"""Return the largest gap between outcome rate and forecast over the non-empty bins.

    Parameters
    ----------
    y_true, y_prob, n_bins, strategy
        As for :func:`expected_calibration_error`.

    Returns
    -------
    float
        The MCE, in [0, 1].

    Raises
    ------
    InvalidInputError
        As :func:`reliability_table`.

    Notes
    -----
    .. math:: \mathrm{MCE} = \max_b \, \lvert \bar o_b - \bar p_b \rvert
    """
    gaps, _ = _calibration_gaps(y_true, y_prob, n_bins, strategy)
    return float(np.max(gaps))


# ---------------------------------------------------------------------------
# Correlation
# ---------------------------------------------------------------------------


def _centred_unit(values: FloatArray) -> FloatArray | None:
    """Centre ``values`` and scale them to max |x| = 1; None when they are constant."""
    if float(np.max(values)) == float(np.min(values)):
        return None
    centred = values - np.mean(values)
    # Scaling first keeps the sums of squares from overflowing on huge inputs.
    return centred / float(np.max(np.abs(centred)))


def _correlation(first: FloatArray, second: FloatArray) -> float:
    """Pearson correlation of two checked vectors; 0.0 when either is constant."""
    left = _centred_unit(first)
    right = _centred_unit(second)
    if left is None or right is None:
        return 0.0
    denominator = math.sqrt(float(np.dot(left, left)) * float(np.dot(right, right)))
    return min(1.0, max(-1.0, float(np.dot(left, right)) / denominator))


def pearson_correlation(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    r"""Return Pearson's linear correlation coefficient of two samples.

    Parameters
    ----------
    a, b : array_like of shape (n,)
        Finite samples of equal length, ``n >= 1``.

    Returns
    -------
    float
        :math:`r \in [-1, 1]`; 0.0 when either sample is constant (including
        ``n == 1``), where the coefficient is undefined.

    Raises
    ------
    InvalidInputError
        If a sample is empty, not 1-D or not finite, or the lengths differ.

    Notes
    -----
    .. math::

        r = \frac{\sum_i (a_i - \bar a)(b_i - \bar b)}
                 {\sqrt{\sum_i (a_i - \bar a)^2 \sum_i (b_i - \bar b)^2}}
    """
    first, second = _as_pair(a, b, ("a", "b"), unit=False)
    return _correlation(first, second)


def _average_ranks(values: FloatArray) -> FloatArray:
    """Ranks 1..n, ties sharing the mean of the ranks they span."""
    n = values.shape[0]
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    head = np.empty(n, dtype=bool)
    head[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=head[1:])
    starts = np.flatnonzero(head)
    sizes = np.diff(starts, append=n)
    # A tie group over 0-based positions [s, s + k) gets rank s + (k + 1) / 2.
    group_rank = starts + (sizes + 1) / 2.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(group_rank, sizes)
    return ranks


def spearman_correlation(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    r"""Return Spearman's rank correlation coefficient of two samples.

    Parameters
    ----------
    a, b : array_like of shape (n,)
        As for :func:`pearson_correlation`.

    Returns
    -------
    float
        :math:`\rho \in [-1, 1]`; 0.0 where :func:`pearson_correlation` gives 0.0.

    Raises
    ------
    InvalidInputError
        As :func:`pearson_correlation`.

    Notes
    -----
    :math:`\rho` is Pearson's :math:`r` of the ranks, ties receiving the average of the
    ranks they span, which equals ``scipy.stats.spearmanr``.
    """
    first, second = _as_pair(a, b, ("a", "b"), unit=False)
    return _correlation(_average_ranks(first), _average_ranks(second))
