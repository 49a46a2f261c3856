"""Honest scores of a confidence map: raw against calibrated, and the forward-chaining holdout."""

# Pure: imports only math, numpy, attrs and calibration_core's pure modules (constants,
# exceptions, isotonic, metrics). Also the column checks and the fold plan that the
# per-symbol maps, the consensus multipliers and the proposal share.

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from calibration_core.constants import MAX_CONFIDENCE_CHANGE
from calibration_core.core.isotonic import (
    IsotonicCalibration,
    bound_confidence_change,
    fit_isotonic,
)
from calibration_core.core.metrics import brier_score, expected_calibration_error, log_loss
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

__all__ = [
    "DEFAULT_OOS_FOLDS",
    "MAPPING_GRID",
    "MIN_FOLD_TRADES",
    "RELIABILITY_BINS",
    "MappingRow",
    "MetricsComparison",
    "OutOfSampleFold",
    "OutOfSampleResult",
    "ScoreSet",
    "compare_metrics",
    "confidence_mapping_table",
    "evaluate_out_of_sample",
]

DEFAULT_OOS_FOLDS = 5
"""Forward-chaining folds of the out-of-sample estimate (k; the data is cut into k + 1 chunks)."""

MIN_FOLD_TRADES = 10
"""Fewest trades in one chunk; with fewer trades the estimate uses fewer folds."""

RELIABILITY_BINS = 10
"""Uniform bins of the reliability table and of the expected calibration error."""

MAPPING_GRID = (0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
"""Raw confidences shown in the report's mapping table."""


def nan_to_none(value: float) -> float | None:
    """Return ``value`` as a float, or None for NaN (JSON has no NaN)."""
    return None if math.isnan(value) else float(value)


def as_unit_column(value: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """Convert a 1-D column whose every value lies in [0, 1], or raise InvalidInputError."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-dimensional (got shape {array.shape})")
    bad = ~((array >= 0.0) & (array <= 1.0))
    if bad.any():
        index = int(np.argmax(bad))
        raise InvalidInputError(f"{name} must lie in [0, 1] (got {array[index]!r} at {index})")
    return array


def unit_pair(
    confidence: npt.ArrayLike, outcomes: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Convert a confidence and an outcome column in [0, 1] of one length, or raise."""
    x = as_unit_column(confidence, "confidence")
    y = as_unit_column(outcomes, "outcomes")
    if x.shape != y.shape:
        raise InvalidInputError(
            f"confidence and outcomes must have one length (got {x.size} and {y.size})"
        )
    return x, y


def as_finite_column(value: npt.ArrayLike, name: str, n: int) -> npt.NDArray[np.float64]:
    """Convert a finite column of shape ``(n,)``, or raise InvalidInputError."""
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (n,):
        raise InvalidInputError(f"{name} must have shape ({n},) (got {array.shape})")
    bad = ~np.isfinite(array)
    if bad.any():
        index = int(np.argmax(bad))
        raise InvalidInputError(f"{name} must be finite (got {array[index]!r} at {index})")
    return array


# --------------------------------------------------------------------------- scores


@attrs.frozen
class ScoreSet:
    """How honest one set of probabilities is against the outcomes.

    Attributes
    ----------
    mse : float
        Brier score, ``mean((p - y)²)``; lower is better.
    ece : float
        Expected calibration error over ``RELIABILITY_BINS`` uniform bins.
    log_loss : float
        Mean negative log-likelihood.
    """

    mse: float
    ece: float
    log_loss: float

    def to_dict(self) -> dict[str, float | None]:
        """Return the JSON-ready scores (NaN becomes None)."""
        return {
            "mse": nan_to_none(self.mse),
            "ece": nan_to_none(self.ece),
            "log_loss": nan_to_none(self.log_loss),
        }


def _scores(p: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> ScoreSet:
    if p.size == 0:
        return ScoreSet(math.nan, math.nan, math.nan)
    return ScoreSet(
        mse=float(brier_score(y, p)),
        ece=float(expected_calibration_error(y, p, n_bins=RELIABILITY_BINS)),
        log_loss=float(log_loss(y, p)),
    )


def relative_improvement(before: float, after: float) -> float:
    """Return the relative MSE reduction; NaN when there was no error to reduce."""
    if not before > 0.0 or math.isnan(after):
        return math.nan
    return (before - after) / before


@attrs.frozen
class MetricsComparison:
    """Raw versus calibrated scores on one set of trades.

    Attributes
    ----------
    label : str
        Which trades and which fit, e.g. ``"out-of-sample (forward-chaining, 5 folds)"``.
    n_trades : int
        Trades scored.
    raw, calibrated : ScoreSet
        Scores of the raw and the calibrated confidence.
    """

    label: str
    n_trades: int
    raw: ScoreSet
    calibrated: ScoreSet

    @property
    def mse_improvement(self) -> float:
        """Relative MSE (Brier) reduction ``(raw - calibrated) / raw``; NaN when undefined."""
        return relative_improvement(self.raw.mse, self.calibrated.mse)


def compare_metrics(
    raw: npt.ArrayLike, calibrated: npt.ArrayLike, outcomes: npt.ArrayLike, *, label: str
) -> MetricsComparison:
    """Score raw and calibrated probabilities of the same trades.

    Parameters
    ----------
    raw, calibrated : array_like of float, shape (n,)
        Probabilities in [0, 1].
    outcomes : array_like, shape (n,)
        1 for a win, 0 otherwise.
    label : str
        Describes the trades and the fit (shown in the report).

    Returns
    -------
    MetricsComparison
    """
    p_raw = as_unit_column(raw, "raw")
    p_cal = as_unit_column(calibrated, "calibrated")
    y = as_unit_column(outcomes, "outcomes")
    if not p_raw.shape == p_cal.shape == y.shape:
        raise InvalidInputError(
            f"raw, calibrated and outcomes must have one shape "
            f"(got {p_raw.shape}, {p_cal.shape}, {y.shape})"
        )
    return MetricsComparison(
        label=label, n_trades=int(y.size), raw=_scores(p_raw, y), calibrated=_scores(p_cal, y)
    )


# --------------------------------------------------------------------------- out of sample


@attrs.frozen
class OutOfSampleFold:
    """One forward-chaining fold: fit on the earlier chunks, score on the next one.

    Attributes
    ----------
    index : int
        1 for the first fold.
    train_stop : int
        The map was fitted on rows ``[0, train_stop)`` of the time-sorted trades.
    test_start, test_stop : int
        It was scored on rows ``[test_start, test_stop)``; ``test_start == train_stop``.
    brier_raw, brier_calibrated : float
        MSE of the raw and of the calibrated confidence on the test rows.
    max_abs_change : float
        Largest change the fold's bounded map makes to a confidence.
    calibration : IsotonicCalibration
        The fold's bounded map, fitted on the training rows only.
    """

    index: int
    train_stop: int
    test_start: int
    test_stop: int
    brier_raw: float
    brier_calibrated: float
    max_abs_change: float
    calibration: IsotonicCalibration = attrs.field(repr=False)

    @property
    def n_train(self) -> int:
        """Trades the fold's map was fitted on."""
        return self.train_stop

    @property
    def n_test(self) -> int:
        """Trades the fold was scored on."""
        return self.test_stop - self.test_start

    @property
    def improvement(self) -> float:
        """Relative MSE reduction on this fold's test rows."""
        return relative_improvement(self.brier_raw, self.brier_calibrated)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready fold (without the map)."""
        return {
            "fold": self.index,
            "train_rows": [0, self.train_stop],
            "test_rows": [self.test_start, self.test_stop],
            "n_train": self.n_train,
            "n_test": self.n_test,
            "mse_raw": nan_to_none(self.brier_raw),
            "mse_calibrated": nan_to_none(self.brier_calibrated),
            "mse_improvement": nan_to_none(self.improvement),
            "max_abs_change": self.max_abs_change,
        }


def _array_eq(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> bool:
    return bool(np.array_equal(a, b))


_ARRAY_FIELD = attrs.cmp_using(eq=_array_eq)


@attrs.frozen
class OutOfSampleResult:
    """Forward-chaining out-of-sample estimate of what the confidence map does to new trades.

    Attributes
    ----------
    folds : tuple of OutOfSampleFold
        Empty when there were too few trades for even one fold.
    n_folds_requested : int
        The k asked for.
    raw, calibrated, outcomes : ndarray of float64, shape (n_evaluated,)
        The pooled held-out predictions and outcomes of all folds, in time order.
    note : str
        Why fewer folds than requested were used, or "" when all were.
    """

    folds: tuple[OutOfSampleFold, ...]
    n_folds_requested: int
    raw: npt.NDArray[np.float64] = attrs.field(eq=_ARRAY_FIELD, repr=False)
    calibrated: npt.NDArray[np.float64] = attrs.field(eq=_ARRAY_FIELD, repr=False)
    outcomes: npt.NDArray[np.float64] = attrs.field(eq=_ARRAY_FIELD, repr=False)
    note: str = ""

    @property
    def available(self) -> bool:
        """Whether at least one fold could be evaluated."""
        return bool(self.folds)

    @property
    def n_evaluated(self) -> int:
        """Held-out trades pooled over all folds."""
        return int(self.outcomes.size)

    @property
    def brier_raw(self) -> float:
        """Pooled held-out MSE of the raw confidence (NaN when unavailable)."""
        return float(brier_score(self.outcomes, self.raw)) if self.available else math.nan

    @property
    def brier_calibrated(self) -> float:
        """Pooled held-out MSE of the calibrated confidence (NaN when unavailable)."""
        return float(brier_score(self.outcomes, self.calibrated)) if self.available else math.nan

    @property
    def improvement(self) -> float:
        """Pooled relative MSE reduction ``(raw - calibrated) / raw`` (NaN when unavailable)."""
        return relative_improvement(self.brier_raw, self.brier_calibrated)

    def comparison(self) -> MetricsComparison:
        """Return the pooled held-out scores as a :class:`MetricsComparison`."""
        label = f"out-of-sample (forward-chaining, {len(self.folds)} folds, held-out trades only)"
        return MetricsComparison(
            label=label,
            n_trades=self.n_evaluated,
            raw=_scores(self.raw, self.outcomes),
            calibrated=_scores(self.calibrated, self.outcomes),
        )


def _chunk_bounds(n: int, n_chunks: int) -> list[int]:
    # Contiguous chunks whose sizes differ by at most one, like np.array_split.
    return [(i * n) // n_chunks for i in range(n_chunks + 1)]


def fold_plan(n: int, n_folds: int, min_fold_trades: int) -> tuple[list[int], str]:
    """Return the forward-chaining plan shared by every out-of-sample estimate.

    That is k + 1 chunk bounds (fold i trains on ``[0, b[i])`` and tests on
    ``[b[i], b[i+1])``), or no bounds when not even one fold fits, and a note saying
    why fewer folds than asked were used ("" when all were).
    """
    k = min(n_folds, n // min_fold_trades - 1)
    if k < 1:
        return [], (
            f"too few trades for an out-of-sample estimate: {n} trades, but at least "
            f"{2 * min_fold_trades} are needed for one fold of {min_fold_trades} trades"
        )
    note = ""
    if k < n_folds:
        note = (
            f"{n} trades allow only {k} of the {n_folds} requested folds "
            f"(each chunk needs at least {min_fold_trades} trades)"
        )
    return _chunk_bounds(n, k + 1), note


def evaluate_out_of_sample(
    confidence: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    *,
    n_folds: int = DEFAULT_OOS_FOLDS,
    min_fold_trades: int = MIN_FOLD_TRADES,
    max_change: float = MAX_CONFIDENCE_CHANGE,
    progress: Callable[[str, int, int], None] | None = None,
) -> OutOfSampleResult:
    """Estimate out of sample what the bounded isotonic map does to later trades.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Raw confidence in [0, 1], **sorted by close time** (oldest first).
    outcomes : array_like, shape (n,)
        1 for a win, 0 otherwise, in the same order.
    n_folds : int, optional
        k, the number of folds (default 5); the trades are cut into k + 1
        contiguous chunks.
    min_fold_trades : int, optional
        Fewest trades per chunk (default 10). When ``n / (k + 1)`` is smaller,
        fewer folds are used and ``note`` says so; with fewer than
        ``2 * min_fold_trades`` trades no fold is possible.
    max_change : float, optional
        The ±bound applied to every fold's map, as to the deployed one.
    progress : callable, optional
        Called as ``progress("out-of-sample folds", done, total)`` after each fold.

    Returns
    -------
    OutOfSampleResult

    Raises
    ------
    InvalidInputError
        If the arrays differ in length, a value is outside [0, 1], or an
        option is out of range.

    Notes
    -----
    Fold ``i`` (1..k) fits ``bound_confidence_change(fit_isotonic(x, y))`` on
    chunks ``0..i-1`` and predicts chunk ``i``. A fold's map therefore never
    sees a trade that closed after its training rows, which is what makes the
    pooled improvement ``1 - Σ(ĉ - y)² / Σ(c - y)²`` over all held-out rows
    an honest estimate; the in-sample figure is optimistic because isotonic
    regression always fits its own data at least as well as the identity.
    """
    x, y = unit_pair(confidence, outcomes)
    if n_folds < 1:
        raise InvalidInputError(f"n_folds must be >= 1 (got {n_folds})")
    if min_fold_trades < 1:
        raise InvalidInputError(f"min_fold_trades must be >= 1 (got {min_fold_trades})")
    bounds, note = fold_plan(int(x.size), n_folds, min_fold_trades)
    if not bounds:
        empty = np.empty(0, dtype=np.float64)
        return OutOfSampleResult((), n_folds, empty, empty, empty, note)
    k = len(bounds) - 2
    folds: list[OutOfSampleFold] = []
    raw_parts: list[npt.NDArray[np.float64]] = []
    cal_parts: list[npt.NDArray[np.float64]] = []
    out_parts: list[npt.NDArray[np.float64]] = []
    for i in range(1, k + 1):
        stop, test_stop = bounds[i], bounds[i + 1]
        fitted = bound_confidence_change(fit_isotonic(x[:stop], y[:stop]), max_change)
        test_x, test_y = x[stop:test_stop], y[stop:test_stop]
        predicted = np.asarray(fitted.predict(test_x), dtype=np.float64)
        folds.append(
            OutOfSampleFold(
                index=i,
                train_stop=stop,
                test_start=stop,
                test_stop=test_stop,
                brier_raw=float(brier_score(test_y, test_x)),
                brier_calibrated=float(brier_score(test_y, predicted)),
                max_abs_change=float(fitted.max_abs_change()),
                calibration=fitted,
            )
        )
        raw_parts.append(test_x)
        cal_parts.append(predicted)
        out_parts.append(test_y)
        if progress is not None:
            progress("out-of-sample folds", i, k)
    return OutOfSampleResult(
        folds=tuple(folds),
        n_folds_requested=n_folds,
        raw=np.concatenate(raw_parts),
        calibrated=np.concatenate(cal_parts),
        outcomes=np.concatenate(out_parts),
        note=note,
    )


# --------------------------------------------------------------------------- mapping table


@attrs.frozen
class MappingRow:
    """One row of the report's mapping table: raw → calibrated confidence."""

    predicted: float
    calibrated: float

    @property
    def adjustment(self) -> float:
        """``calibrated - predicted``."""
        return self.calibrated - self.predicted


def confidence_mapping_table(
    calibration: IsotonicCalibration, *, grid: Sequence[float] = MAPPING_GRID
) -> tuple[MappingRow, ...]:
    """Tabulate a map on the raw confidences an operator reasons about.

    Parameters
    ----------
    calibration : IsotonicCalibration
        The (bounded) map.
    grid : sequence of float, optional
        Raw confidences to show (default 0.50 to 0.95 in steps of 0.05).

    Returns
    -------
    tuple of MappingRow
    """
    x = as_unit_column(list(grid), "grid")
    y = np.asarray(calibration.predict(x), dtype=np.float64)
    return tuple(MappingRow(float(a), float(b)) for a, b in zip(x, y, strict=True))


def pooled_brier(parts: Sequence[npt.NDArray[np.float64]], y: npt.NDArray[np.float64]) -> float:
    """Return the MSE of the concatenated predictions ``parts`` against ``y`` (NaN if empty)."""
    return float(brier_score(y, np.concatenate(parts))) if y.size else math.nan
