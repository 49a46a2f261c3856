"""Out-of-sample evaluation, the complete calibration proposal and the confidence analysis."""

# Pure: imports only math, numpy, attrs and calibration_core's pure modules (constants,
# exceptions, isotonic, metrics, weights, validation) plus config.py to build the proposed config.

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from calibration_core.config import CalibrationConfig, ConfidenceMap, EnsembleWeights
from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MIN_CONFIDENCE_IMPROVEMENT,
    NEUTRAL_PNL_BAND_PCT,
)
from calibration_core.exceptions import InfeasibleWeightsError, InvalidInputError
from calibration_core.isotonic import IsotonicCalibration, bound_confidence_change, fit_isotonic
from calibration_core.metrics import (
    ReliabilityTable,
    brier_score,
    expected_calibration_error,
    log_loss,
    pearson_correlation,
    reliability_table,
    spearman_correlation,
)
from calibration_core.validation import (
    ValidationReport,
    check_confidence_change_bound,
    check_confidence_improvement,
    check_max_weight_change,
    check_min_trades,
    check_no_degradation,
    check_outcome_diversity,
    check_weight_bounds,
    check_weight_sum,
    summarize,
)
from calibration_core.weights import (
    ACTION_BUY,
    ACTION_SELL,
    WeightProposal,
    equal_weights,
    measure_model_performance,
    propose_weights,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from calibration_core.validation import CheckResult

__all__ = [
    "CONFIDENCE_BIN_EDGES",
    "DEFAULT_OOS_FOLDS",
    "MAPPING_GRID",
    "MIN_FOLD_TRADES",
    "RELIABILITY_BINS",
    "STALE_DATA_HOURS",
    "BinSummary",
    "ConfidenceAnalysis",
    "ConfidenceSummary",
    "Correlations",
    "DistributionStats",
    "MappingRow",
    "MetricsComparison",
    "OutOfSampleFold",
    "OutOfSampleResult",
    "Proposal",
    "ScoreSet",
    "VotePrecision",
    "WeightAnalysis",
    "analyze_confidence",
    "build_proposal",
    "choose_current_weights",
    "compare_metrics",
    "confidence_mapping_table",
    "evaluate_out_of_sample",
    "format_age",
    "summarize_confidence",
    "trade_age_hours",
    "weighted_vote_precision",
]

DEFAULT_OOS_FOLDS = 5
"""Forward-chaining folds of the out-of-sample estimate (k; the data is cut into k + 1 chunks)."""

MIN_FOLD_TRADES = 10
"""Fewest trades in one chunk; with fewer trades the estimate uses fewer folds."""

RELIABILITY_BINS = 10
"""Uniform bins of the reliability table and of the expected calibration error."""

MAPPING_GRID = (0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
"""Raw confidences shown in the report's mapping table."""

CONFIDENCE_BIN_EDGES = (0.0, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 1.0)
"""Fixed confidence bins of ``analyze``: everything below 0.50, then steps of 0.05."""

STALE_DATA_HOURS = 24.0
"""A newest trade older than this when the job runs is flagged in the report."""

_TIE = 1e-12  # a weighted vote this close to 0 is a tie: the ensemble took no side
_SECONDS_PER_HOUR = 3600.0
_MIN_CORRELATION_POINTS = 2


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _as_unit_column(value: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-dimensional (got shape {array.shape})")
    bad = ~((array >= 0.0) & (array <= 1.0))
    if bad.any():
        index = int(np.argmax(bad))
        raise InvalidInputError(f"{name} must lie in [0, 1] (got {array[index]!r} at {index})")
    return array


def _as_finite_column(value: npt.ArrayLike, name: str, n: int) -> npt.NDArray[np.float64]:
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
            "mse": _nan_to_none(self.mse),
            "ece": _nan_to_none(self.ece),
            "log_loss": _nan_to_none(self.log_loss),
        }


def _scores(p: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> ScoreSet:
    if p.size == 0:
        return ScoreSet(math.nan, math.nan, math.nan)
    return ScoreSet(
        mse=float(brier_score(p, y)),
        ece=float(expected_calibration_error(p, y, n_bins=RELIABILITY_BINS)),
        log_loss=float(log_loss(p, y)),
    )


def _relative_improvement(before: float, after: float) -> float:
    # Relative MSE reduction; undefined (NaN) when there was no error to reduce.
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
        return _relative_improvement(self.raw.mse, self.calibrated.mse)


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
    p_raw = _as_unit_column(raw, "raw")
    p_cal = _as_unit_column(calibrated, "calibrated")
    y = _as_unit_column(outcomes, "outcomes")
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
        return _relative_improvement(self.brier_raw, self.brier_calibrated)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready fold (without the map)."""
        return {
            "fold": self.index,
            "train_rows": [0, self.train_stop],
            "test_rows": [self.test_start, self.test_stop],
            "n_train": self.n_train,
            "n_test": self.n_test,
            "mse_raw": _nan_to_none(self.brier_raw),
            "mse_calibrated": _nan_to_none(self.brier_calibrated),
            "mse_improvement": _nan_to_none(self.improvement),
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
        return float(brier_score(self.raw, self.outcomes)) if self.available else math.nan

    @property
    def brier_calibrated(self) -> float:
        """Pooled held-out MSE of the calibrated confidence (NaN when unavailable)."""
        return float(brier_score(self.calibrated, self.outcomes)) if self.available else math.nan

    @property
    def improvement(self) -> float:
        """Pooled relative MSE reduction ``(raw - calibrated) / raw`` (NaN when unavailable)."""
        return _relative_improvement(self.brier_raw, self.brier_calibrated)

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


def evaluate_out_of_sample(
    confidence: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    *,
    n_folds: int = DEFAULT_OOS_FOLDS,
    min_fold_trades: int = MIN_FOLD_TRADES,
    max_change: float = MAX_CONFIDENCE_CHANGE,
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
    x = _as_unit_column(confidence, "confidence")
    y = _as_unit_column(outcomes, "outcomes")
    if x.shape != y.shape:
        raise InvalidInputError(
            f"confidence and outcomes must have one length (got {x.size} and {y.size})"
        )
    if n_folds < 1:
        raise InvalidInputError(f"n_folds must be >= 1 (got {n_folds})")
    if min_fold_trades < 1:
        raise InvalidInputError(f"min_fold_trades must be >= 1 (got {min_fold_trades})")
    n = int(x.size)
    folds_possible = n // min_fold_trades - 1
    k = min(n_folds, folds_possible)
    empty = np.empty(0, dtype=np.float64)
    if k < 1:
        note = (
            f"too few trades for an out-of-sample estimate: {n} trades, but at least "
            f"{2 * min_fold_trades} are needed for one fold of {min_fold_trades} trades"
        )
        return OutOfSampleResult((), n_folds, empty, empty, empty, note)
    note = ""
    if k < n_folds:
        note = (
            f"{n} trades allow only {k} of the {n_folds} requested folds "
            f"(each chunk needs at least {min_fold_trades} trades)"
        )
    bounds = _chunk_bounds(n, k + 1)
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
                brier_raw=float(brier_score(test_x, test_y)),
                brier_calibrated=float(brier_score(predicted, test_y)),
                max_abs_change=float(fitted.max_abs_change()),
                calibration=fitted,
            )
        )
        raw_parts.append(test_x)
        cal_parts.append(predicted)
        out_parts.append(test_y)
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
    x = _as_unit_column(list(grid), "grid")
    y = np.asarray(calibration.predict(x), dtype=np.float64)
    return tuple(MappingRow(float(a), float(b)) for a, b in zip(x, y, strict=True))


# --------------------------------------------------------------------------- ensemble weights


@attrs.frozen
class VotePrecision:
    """How often the weighted vote of the ensemble picked the right direction.

    Attributes
    ----------
    correct : int
        Trades on which the weighted vote was right.
    n_sided : int
        Trades on which the weighted vote took a side (not a tie).
    """

    correct: int
    n_sided: int

    @property
    def precision(self) -> float:
        """``correct / n_sided``, NaN when the vote never took a side."""
        return self.correct / self.n_sided if self.n_sided else math.nan


def weighted_vote_precision(
    actions: npt.ArrayLike,
    sides: npt.ArrayLike,
    wins: npt.ArrayLike,
    weights: npt.ArrayLike,
) -> VotePrecision:
    """Replay the historical member votes with ``weights`` and count right directions.

    Parameters
    ----------
    actions : array_like of int, shape (n, m)
        Member votes (``ACTION_BUY`` +1, ``ACTION_SELL`` -1; HOLD and missing
        count as 0).
    sides : array_like of int, shape (n,)
        The side traded, +1 or -1.
    wins : array_like of bool, shape (n,)
        Whether the trade won.
    weights : array_like of float, shape (m,)
        One weight per column of ``actions``.

    Returns
    -------
    VotePrecision

    Notes
    -----
    The vote is ``s = Σ_m w_m v_m`` with ``v_m ∈ {+1, -1, 0}``; the ensemble
    says ``sign(s)`` (a tie, ``|s| < 1e-12``, says nothing). The right
    direction of a trade is its side when it won and the opposite side when
    it lost, the same rule :func:`~calibration_core.weights.measure_model_performance`
    uses for a single model.
    """
    votes = np.asarray(actions)
    w = np.asarray(weights, dtype=np.float64)
    if votes.ndim != 2 or votes.shape[1] != w.size:  # noqa: PLR2004 - a 2-D table
        raise InvalidInputError(
            f"actions must have shape (n, {w.size}) to match the weights (got {votes.shape})"
        )
    side = np.asarray(sides)
    won = np.asarray(wins, dtype=np.bool_)
    if side.shape != (votes.shape[0],) or won.shape != side.shape:
        raise InvalidInputError(
            f"sides and wins must have shape ({votes.shape[0]},) (got {side.shape} and {won.shape})"
        )
    direction = np.where(votes == ACTION_BUY, 1.0, np.where(votes == ACTION_SELL, -1.0, 0.0))
    score = direction @ w
    sided = np.abs(score) >= _TIE
    right_direction = np.where(won, side, -side)
    correct = sided & (np.sign(score) == right_direction)
    return VotePrecision(correct=int(correct.sum()), n_sided=int(sided.sum()))


def choose_current_weights(
    model_names: Sequence[str], live_config: CalibrationConfig | None
) -> tuple[dict[str, float], str]:
    """Pick the weights a proposal starts from.

    Parameters
    ----------
    model_names : sequence of str
        The member models found in the trades.
    live_config : CalibrationConfig or None
        The live config, if one could be read.

    Returns
    -------
    weights : dict of str to float
        The live weights (in the order of ``model_names``) when the live config
        has enabled weights for exactly this model set, else equal weights.
    source : str
        One line saying which, for the report.

    Raises
    ------
    InfeasibleWeightsError
        When equal weights are needed but the model count is infeasible.
    """
    if live_config is not None and live_config.weights.enabled:
        live = live_config.weights_dict()
        if set(live) == set(model_names):
            return {name: live[name] for name in model_names}, (
                f"live config {live_config.version}"
            )
        source = (
            f"equal weights (the live config {live_config.version} weighs "
            f"{', '.join(sorted(live))}, not the models in the trades)"
        )
        return equal_weights(model_names), source
    return equal_weights(model_names), "equal weights (no live ensemble weights)"


WEIGHTS_PROPOSED = "proposed"
WEIGHTS_NO_CHANGE = "no_change"
WEIGHTS_SKIPPED = "skipped"


@attrs.frozen
class WeightAnalysis:
    """What happened to the ensemble weights in this job.

    Attributes
    ----------
    status : str
        ``"proposed"`` (a change), ``"no_change"`` or ``"skipped"``.
    reason : str
        One line: the proposal's reason, or why the step was skipped.
    current_source : str
        Where the starting weights came from ("" when skipped before that).
    proposal : WeightProposal or None
        The proposal, when one was computed.
    vote_before, vote_after : VotePrecision or None
        Weighted-vote precision of the historical votes with the current and
        with the proposed weights.
    """

    status: str
    reason: str
    current_source: str = ""
    proposal: WeightProposal | None = None
    vote_before: VotePrecision | None = None
    vote_after: VotePrecision | None = None


def _analyze_weights(
    model_names: Sequence[str],
    model_actions: npt.ArrayLike | None,
    sides: npt.ArrayLike | None,
    wins: npt.NDArray[np.bool_],
    live_config: CalibrationConfig | None,
) -> WeightAnalysis:
    if not model_names or model_actions is None or sides is None:
        return WeightAnalysis(
            WEIGHTS_SKIPPED,
            "skipped: the trades carry no model_breakdown, so there are no member votes "
            "to measure; ensemble weights stay as they are",
        )
    actions = np.asarray(model_actions)
    try:
        current, source = choose_current_weights(model_names, live_config)
        performance = measure_model_performance(model_names, actions, sides, wins)
        proposal = propose_weights(current, performance)
    except InfeasibleWeightsError as exc:
        return WeightAnalysis(WEIGHTS_SKIPPED, f"skipped: {exc}")
    names = [name for name, _ in proposal.before]
    order = [list(model_names).index(name) for name in names]
    columns = actions[:, order]
    before = weighted_vote_precision(columns, sides, wins, [w for _, w in proposal.before])
    after = weighted_vote_precision(columns, sides, wins, [w for _, w in proposal.after])
    status = WEIGHTS_NO_CHANGE if proposal.no_change else WEIGHTS_PROPOSED
    return WeightAnalysis(status, proposal.reason, source, proposal, before, after)


# --------------------------------------------------------------------------- the proposal


@attrs.frozen
class Proposal:
    """Everything one calibration run computed, frozen; nothing here has been applied.

    Attributes
    ----------
    n_trades, n_wins, n_losses, n_neutral : int
        Outcome counts (NEUTRAL trades are also WIN or LOSS).
    calibration : IsotonicCalibration
        The bounded map fitted on all trades (the one that would be deployed).
    out_of_sample : OutOfSampleResult
        The honest estimate that gates the map.
    in_sample : MetricsComparison
        Raw versus calibrated on the trades the map was fitted on (optimistic).
    mapping : tuple of MappingRow
        The map on 0.50..0.95.
    reliability_raw, reliability_calibrated : ReliabilityTable
        Raw confidence on all trades; calibrated confidence on the held-out
        trades (or in-sample when no fold was possible, see ``reliability_label``).
    reliability_label : str
        Which calibrated predictions the second table shows.
    confidence_enabled : bool
        Whether the proposed config enables the map.
    confidence_reason : str
        Why (not).
    weights : WeightAnalysis
    weights_enabled : bool
        Whether the proposed config enables the weights.
    validation : ValidationReport
        Every check and the risk score.
    config : CalibrationConfig
        The proposed config (version and source job are the job id).
    forced : bool
        The authorization gate was overridden; such a job is never deployable.
    rejection_reasons : tuple of str
        Why the job is rejected; empty when it may go to a person for approval.
    newest_trade_age_hours : float or None
        Age of the newest trade when the job ran, if known.
    turns_off : tuple of str
        Sections the live config enables and the proposed config does not:
        deploying the proposal would switch them off.
    """

    n_trades: int
    n_wins: int
    n_losses: int
    n_neutral: int
    calibration: IsotonicCalibration = attrs.field(repr=False)
    out_of_sample: OutOfSampleResult
    in_sample: MetricsComparison
    mapping: tuple[MappingRow, ...]
    reliability_raw: ReliabilityTable = attrs.field(repr=False)
    reliability_calibrated: ReliabilityTable = attrs.field(repr=False)
    reliability_label: str
    confidence_enabled: bool
    confidence_reason: str
    weights: WeightAnalysis
    weights_enabled: bool
    validation: ValidationReport
    config: CalibrationConfig = attrs.field(repr=False)
    forced: bool
    rejection_reasons: tuple[str, ...]
    newest_trade_age_hours: float | None = None
    turns_off: tuple[str, ...] = ()

    @property
    def acceptable(self) -> bool:
        """Whether the job may wait for approval (``pending_approval``) rather than be rejected."""
        return not self.rejection_reasons

    @property
    def changes_something(self) -> bool:
        """Whether the proposed config enables the map or new weights."""
        return self.confidence_enabled or self.weights_enabled

    @property
    def stale_data(self) -> bool:
        """Whether the newest trade was older than ``STALE_DATA_HOURS`` when the job ran."""
        age = self.newest_trade_age_hours
        return age is not None and age > STALE_DATA_HOURS

    def do_not_apply_reasons(self) -> tuple[str, ...]:
        """Return every reason the tool itself found not to apply this proposal."""
        reasons = list(self.rejection_reasons)
        if self.forced:
            reasons.insert(0, "the job was FORCED past the Learning Cadence gate: not deployable")
        if self.turns_off:
            reasons.append(
                f"deploying it would switch off what the live config enables: "
                f"{', '.join(self.turns_off)}"
            )
        if self.stale_data and self.newest_trade_age_hours is not None:
            reasons.append(
                f"the newest trade was {format_age(self.newest_trade_age_hours)} old when the job "
                f"ran (more than {STALE_DATA_HOURS:.0f} h): the data may no longer describe the "
                "market"
            )
        return tuple(reasons)

    @property
    def recommendation(self) -> str:
        """``"APPROVE CANDIDATE"`` or ``"DO NOT APPLY"``."""
        return "DO NOT APPLY" if self.do_not_apply_reasons() else "APPROVE CANDIDATE"


def _confidence_checks(
    oos: OutOfSampleResult, in_sample: MetricsComparison, bounded: IsotonicCalibration
) -> tuple[list[CheckResult], bool, str]:
    if oos.available:
        mse_before, mse_after = oos.brier_raw, oos.brier_calibrated
    else:
        # No honest estimate: state "no improvement" so that the gate fails.
        mse_before = mse_after = in_sample.raw.mse
    improvement = check_confidence_improvement(mse_before, mse_after)
    checks = [
        improvement,
        check_confidence_change_bound(float(bounded.max_abs_change())),
    ]
    enabled = bool(improvement.passed)
    gain = _relative_improvement(mse_before, mse_after)
    gain_text = "n/a" if math.isnan(gain) else f"{gain:+.1%}"
    if not oos.available:
        reason = oos.note
    elif enabled:
        reason = (
            f"out-of-sample MSE improvement {gain_text} over {oos.n_evaluated} held-out "
            f"trades meets the {MIN_CONFIDENCE_IMPROVEMENT:.0%} minimum"
        )
    else:
        reason = (
            f"out-of-sample MSE improvement {gain_text} over {oos.n_evaluated} "
            f"held-out trades is below the {MIN_CONFIDENCE_IMPROVEMENT:.0%} minimum"
        )
    # "No model gets worse" (checklist 2.2) for what would be deployed: with the
    # map disabled the deployed confidence is the raw one, which cannot degrade.
    if enabled:
        degradation = check_no_degradation(
            "oos_brier", mse_before, mse_after, higher_is_better=False
        )
    else:
        degradation = check_no_degradation(
            "oos_brier", mse_before, mse_before, higher_is_better=False
        )
    checks.append(degradation)
    return checks, enabled, reason


def _weight_checks(weights: WeightAnalysis) -> list[CheckResult]:
    proposal = weights.proposal
    if proposal is None or weights.vote_before is None or weights.vote_after is None:
        return []
    before, after = proposal.before_dict(), proposal.after_dict()
    precision_before = weights.vote_before.precision
    precision_after = weights.vote_after.precision
    if math.isnan(precision_before) or math.isnan(precision_after):
        precision_before = precision_after = 0.0
    return [
        check_weight_sum(after),
        check_weight_bounds(after),
        check_max_weight_change(before, after),
        check_no_degradation(
            "ensemble_vote_precision", precision_before, precision_after, higher_is_better=True
        ),
    ]


def build_proposal(
    confidence: npt.ArrayLike,
    pnl_pct: npt.ArrayLike,
    *,
    job_id: str,
    created_at: str,
    data_hash: str,
    sides: npt.ArrayLike | None = None,
    model_names: Sequence[str] = (),
    model_actions: npt.ArrayLike | None = None,
    live_config: CalibrationConfig | None = None,
    forced: bool = False,
    newest_trade_age_hours: float | None = None,
    n_folds: int = DEFAULT_OOS_FOLDS,
    min_fold_trades: int = MIN_FOLD_TRADES,
) -> Proposal:
    """Compute the whole calibration proposal of one job; apply nothing.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Raw ensemble confidence, **sorted by close time**.
    pnl_pct : array_like of float, shape (n,)
        Realized return in percent; > 0 is a WIN, < 0 a LOSS.
    job_id, created_at, data_hash : str
        Identify the job; they become the proposed config's ``version`` /
        ``source_job``, ``created_at`` and ``data_hash``.
    sides : array_like of int, shape (n,), optional
        +1 BUY / -1 SELL; needed for the weights.
    model_names : sequence of str, optional
        Member models, in the column order of ``model_actions``; empty when
        the trades carry no ``model_breakdown``.
    model_actions : array_like of int, shape (n, m), optional
        Member votes.
    live_config : CalibrationConfig or None, optional
        The live config: its weights are the starting point when they cover
        exactly the models in the trades.
    forced : bool, optional
        The authorization gate was overridden.
    newest_trade_age_hours : float, optional
        How old the newest trade was when the job ran.
    n_folds, min_fold_trades : int, optional
        See :func:`evaluate_out_of_sample`.

    Returns
    -------
    Proposal

    Raises
    ------
    InvalidInputError
        If a column is malformed.
    ConfigRejectedError
        If the proposed config would not validate (a bug: every part is bounded).

    Notes
    -----
    The map is enabled only when the out-of-sample MSE improvement is at
    least ``MIN_CONFIDENCE_IMPROVEMENT``; the weights only when a change is
    proposed and every weight check passed. The job is rejected when
    validation fails, the risk blocks deployment, or nothing would change.
    """
    x = _as_unit_column(confidence, "confidence")
    pnl = _as_finite_column(pnl_pct, "pnl_pct", x.size)
    wins = pnl > 0.0
    y = wins.astype(np.float64)
    n = int(x.size)
    n_wins, n_losses = int(wins.sum()), int((pnl < 0.0).sum())
    n_neutral = int((np.abs(pnl) < NEUTRAL_PNL_BAND_PCT).sum())

    checks: list[CheckResult] = [
        check_min_trades(n),
        check_outcome_diversity(n_wins, n_losses, n),
    ]
    if n == 0:
        raise InvalidInputError("confidence must hold at least one trade (got 0)")
    bounded = bound_confidence_change(fit_isotonic(x, y), MAX_CONFIDENCE_CHANGE)
    fitted = np.asarray(bounded.predict(x), dtype=np.float64)
    in_sample = compare_metrics(x, fitted, y, label="in-sample (optimistic)")
    oos = evaluate_out_of_sample(x, y, n_folds=n_folds, min_fold_trades=min_fold_trades)
    confidence_checks, confidence_enabled, confidence_reason = _confidence_checks(
        oos, in_sample, bounded
    )
    checks.extend(confidence_checks)

    weights = _analyze_weights(model_names, model_actions, sides, wins, live_config)
    weight_checks = _weight_checks(weights)
    checks.extend(weight_checks)
    validation = summarize(checks)
    weights_enabled = (
        weights.status == WEIGHTS_PROPOSED
        and weights.proposal is not None
        and all(c.passed for c in weight_checks)
    )

    if oos.available:
        reliability_label = "calibrated, out-of-sample (held-out trades)"
        reliability_calibrated = reliability_table(oos.calibrated, oos.outcomes, n_bins=10)
    else:
        reliability_label = "calibrated, in-sample (optimistic)"
        reliability_calibrated = reliability_table(fitted, y, n_bins=RELIABILITY_BINS)

    config = CalibrationConfig(
        version=job_id,
        created_at=created_at,
        source_job=job_id,
        data_hash=data_hash,
        confidence=ConfidenceMap(
            enabled=confidence_enabled,
            thresholds=tuple(float(t) for t in bounded.thresholds),
            values=tuple(float(v) for v in bounded.values),
            max_change=MAX_CONFIDENCE_CHANGE,
            method="isotonic",
        ),
        weights=(
            EnsembleWeights(enabled=True, weights=weights.proposal.after)
            if weights_enabled and weights.proposal is not None
            else EnsembleWeights()
        ),
    )
    # Validate it the way approve will read it; a failure here is a bug, not data.
    CalibrationConfig.from_dict(config.to_dict())

    turns_off = []
    if live_config is not None:
        if live_config.confidence.enabled and not confidence_enabled:
            turns_off.append("the confidence map")
        if live_config.weights.enabled and not weights_enabled:
            turns_off.append("the ensemble weights")
    rejection: list[str] = []
    if not validation.passed:
        failed = ", ".join(c.name for c in validation.checks if not c.passed)
        rejection.append(f"validation failed ({failed})")
    if validation.risk.blocks_deployment:
        rejection.append(
            f"risk {validation.risk.score:.1%} is {validation.risk.category}: deployment blocked"
        )
    if not (confidence_enabled or weights_enabled):
        rejection.append(
            "nothing to apply: the confidence map is disabled and no weight change is proposed"
        )
    return Proposal(
        n_trades=n,
        n_wins=n_wins,
        n_losses=n_losses,
        n_neutral=n_neutral,
        calibration=bounded,
        out_of_sample=oos,
        in_sample=in_sample,
        mapping=confidence_mapping_table(bounded),
        reliability_raw=reliability_table(x, y, n_bins=RELIABILITY_BINS),
        reliability_calibrated=reliability_calibrated,
        reliability_label=reliability_label,
        confidence_enabled=confidence_enabled,
        confidence_reason=confidence_reason,
        weights=weights,
        weights_enabled=weights_enabled,
        validation=validation,
        config=config,
        forced=forced,
        rejection_reasons=tuple(rejection),
        newest_trade_age_hours=newest_trade_age_hours,
        turns_off=tuple(turns_off),
    )


def format_age(hours: float) -> str:
    """Return an age as ``"5.0 h"``, or in days from two days on (``"285.3 days"``)."""
    days = hours / 24.0
    return f"{hours:.1f} h" if days < 2.0 else f"{days:.1f} days"  # noqa: PLR2004


def trade_age_hours(timestamps: npt.ArrayLike, now_epoch: float) -> float | None:
    """Return how many hours before ``now_epoch`` the newest trade closed (None without trades)."""
    stamps = np.asarray(timestamps, dtype=np.float64)
    if stamps.size == 0:
        return None
    return (now_epoch - float(stamps.max())) / _SECONDS_PER_HOUR


# --------------------------------------------------------------------------- analyze


@attrs.frozen
class DistributionStats:
    """Distribution of the raw confidence: count, mean, sample std, min, quartiles, max."""

    count: int
    mean: float
    std: float
    min: float
    q25: float
    median: float
    q75: float
    max: float

    def to_dict(self) -> dict[str, float | int | None]:
        """Return the JSON-ready statistics (NaN becomes None)."""
        out: dict[str, float | int | None] = {"count": self.count}
        for name in ("mean", "std", "min", "q25", "median", "q75", "max"):
            out[name] = _nan_to_none(getattr(self, name))
        return out


@attrs.frozen
class Correlations:
    """Pearson and Spearman correlation of confidence with returns and wins (None if undefined)."""

    pearson_returns: float | None
    spearman_returns: float | None
    pearson_wins: float | None
    spearman_wins: float | None

    def to_dict(self) -> dict[str, float | None]:
        """Return the JSON-ready correlations."""
        return attrs.asdict(self)


@attrs.frozen
class BinSummary:
    """Trades whose confidence falls in one bin: count, win rate and mean return (None if empty)."""

    label: str
    lower: float
    upper: float
    count: int
    win_rate: float | None
    mean_return: float | None

    def to_dict(self) -> dict[str, float | int | str | None]:
        """Return the JSON-ready bin."""
        return attrs.asdict(self)


@attrs.frozen
class ConfidenceSummary:
    """Confidence analysis of one set of trades (all, or one symbol)."""

    scope: str
    distribution: DistributionStats
    correlations: Correlations
    deciles: tuple[BinSummary, ...]
    bins: tuple[BinSummary, ...]

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready summary."""
        return {
            "scope": self.scope,
            "distribution": self.distribution.to_dict(),
            "correlations": self.correlations.to_dict(),
            "deciles": [b.to_dict() for b in self.deciles],
            "bins": [b.to_dict() for b in self.bins],
        }


@attrs.frozen
class ConfidenceAnalysis:
    """The ``analyze`` job's result: all trades, then one summary per symbol (sorted)."""

    overall: ConfidenceSummary
    per_symbol: tuple[ConfidenceSummary, ...]

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready analysis."""
        return {
            "overall": self.overall.to_dict(),
            "per_symbol": [s.to_dict() for s in self.per_symbol],
        }


def _distribution(x: npt.NDArray[np.float64]) -> DistributionStats:
    if x.size == 0:
        nan = math.nan
        return DistributionStats(0, nan, nan, nan, nan, nan, nan, nan)
    q25, median, q75 = (float(q) for q in np.quantile(x, [0.25, 0.5, 0.75]))
    return DistributionStats(
        count=int(x.size),
        mean=float(x.mean()),
        std=float(x.std(ddof=1)) if x.size > 1 else math.nan,
        min=float(x.min()),
        q25=q25,
        median=median,
        q75=q75,
        max=float(x.max()),
    )


def _correlation(kind: str, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float | None:
    # A correlation needs two points and spread in both variables; otherwise it is undefined.
    if a.size < _MIN_CORRELATION_POINTS or float(np.ptp(a)) == 0.0 or float(np.ptp(b)) == 0.0:
        return None
    value = float(pearson_correlation(a, b) if kind == "pearson" else spearman_correlation(a, b))
    return None if math.isnan(value) else value


def _bin_summary(
    label: str,
    lower: float,
    upper: float,
    returns: npt.NDArray[np.float64],
) -> BinSummary:
    count = int(returns.size)
    if count == 0:
        return BinSummary(label, lower, upper, 0, None, None)
    return BinSummary(
        label,
        lower,
        upper,
        count,
        float((returns > 0.0).mean()),
        float(returns.mean()),
    )


def _deciles(x: npt.NDArray[np.float64], r: npt.NDArray[np.float64]) -> tuple[BinSummary, ...]:
    # Equal-count groups of the confidence-sorted trades: ties cannot produce empty deciles.
    if x.size == 0:
        return ()
    order = np.argsort(x, kind="stable")
    groups = np.array_split(order, min(10, x.size))
    return tuple(
        _bin_summary(f"D{i + 1}", float(x[g].min()), float(x[g].max()), r[g])
        for i, g in enumerate(groups)
    )


def _fixed_bins(x: npt.NDArray[np.float64], r: npt.NDArray[np.float64]) -> tuple[BinSummary, ...]:
    edges = np.asarray(CONFIDENCE_BIN_EDGES)
    # Bins are [lower, upper) except the last, which includes 1.0.
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    summaries = []
    for i in range(edges.size - 1):
        lower, upper = float(edges[i]), float(edges[i + 1])
        closing = "]" if i == edges.size - 2 else ")"
        summaries.append(
            _bin_summary(f"[{lower:.2f}, {upper:.2f}{closing}", lower, upper, r[index == i])
        )
    return tuple(summaries)


def summarize_confidence(
    confidence: npt.ArrayLike, returns: npt.ArrayLike, *, scope: str = "all"
) -> ConfidenceSummary:
    """Describe how raw confidence relates to outcomes on one set of trades.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Raw confidence in [0, 1].
    returns : array_like of float, shape (n,)
        Realized return in percent; a WIN is ``> 0``.
    scope : str, optional
        Name of the set (``"all"`` or a symbol).

    Returns
    -------
    ConfidenceSummary
        Distribution statistics, Pearson/Spearman correlation with returns and
        with wins (None where undefined), equal-count deciles, and the fixed
        bins ``CONFIDENCE_BIN_EDGES``.
    """
    x = _as_unit_column(confidence, "confidence")
    r = _as_finite_column(returns, "returns", x.size)
    wins = (r > 0.0).astype(np.float64)
    return ConfidenceSummary(
        scope=scope,
        distribution=_distribution(x),
        correlations=Correlations(
            pearson_returns=_correlation("pearson", x, r),
            spearman_returns=_correlation("spearman", x, r),
            pearson_wins=_correlation("pearson", x, wins),
            spearman_wins=_correlation("spearman", x, wins),
        ),
        deciles=_deciles(x, r),
        bins=_fixed_bins(x, r),
    )


def analyze_confidence(
    confidence: npt.ArrayLike,
    returns: npt.ArrayLike,
    symbol_codes: npt.ArrayLike,
    symbol_names: Sequence[str],
) -> ConfidenceAnalysis:
    """Run :func:`summarize_confidence` on all trades and on each symbol.

    Parameters
    ----------
    confidence, returns : array_like of float, shape (n,)
        See :func:`summarize_confidence`.
    symbol_codes : array_like of int, shape (n,)
        Index into ``symbol_names`` per trade.
    symbol_names : sequence of str
        The symbols.

    Returns
    -------
    ConfidenceAnalysis
        Per-symbol summaries sorted by symbol; symbols without trades are left out.
    """
    x = _as_unit_column(confidence, "confidence")
    r = _as_finite_column(returns, "returns", x.size)
    codes = np.asarray(symbol_codes)
    if codes.shape != x.shape:
        raise InvalidInputError(f"symbol_codes must have shape {x.shape} (got {codes.shape})")
    per_symbol = []
    for code in sorted(np.unique(codes).tolist(), key=lambda c: symbol_names[c]):
        mask = codes == code
        per_symbol.append(summarize_confidence(x[mask], r[mask], scope=symbol_names[code]))
    return ConfidenceAnalysis(
        overall=summarize_confidence(x, r, scope="all"), per_symbol=tuple(per_symbol)
    )
