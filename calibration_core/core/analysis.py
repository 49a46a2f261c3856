"""Out-of-sample evaluation, every part of the calibration proposal and the confidence analysis."""

# Pure: imports only math, numpy, attrs and calibration_core's pure modules (constants,
# exceptions, isotonic, metrics, weights, validation) plus config.py to build the proposed
# config and to share its consensus-bucket rule with the runtime.

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from calibration_core.config import (
    CONSENSUS_BUCKETS,
    MAX_CONSENSUS_MULTIPLIER,
    MAX_HOLD_BIAS,
    MIN_CONSENSUS_MULTIPLIER,
    MODEL_NAME_PATTERN,
    SYMBOL_PATTERN,
    CalibrationConfig,
    ConfidenceMap,
    ConsensusMultipliers,
    EnsembleWeights,
    HoldBias,
    PerSymbolMaps,
    consensus_bucket,
)
from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MIN_CONFIDENCE_IMPROVEMENT,
    MIN_OUTCOME_DIVERSITY,
    MIN_TRADES_FOR_CALIBRATION,
    NEUTRAL_PNL_BAND_PCT,
)
from calibration_core.core.gate import GateEvidence, paired_gate
from calibration_core.core.isotonic import (
    IsotonicCalibration,
    bound_confidence_change,
    fit_isotonic,
)
from calibration_core.core.metrics import (
    ReliabilityTable,
    brier_score,
    expected_calibration_error,
    log_loss,
    pearson_correlation,
    reliability_table,
    spearman_correlation,
)
from calibration_core.core.validation import (
    CheckResult,
    Severity,
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
from calibration_core.core.weights import (
    ACTION_BUY,
    ACTION_MISSING,
    ACTION_SELL,
    WeightProposal,
    equal_weights,
    measure_model_performance,
    propose_weights,
)
from calibration_core.exceptions import InfeasibleWeightsError, InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

__all__ = [
    "CONFIDENCE_BIN_EDGES",
    "CONSENSUS_SHRINKAGE_TRADES",
    "DEFAULT_OOS_FOLDS",
    "MAPPING_GRID",
    "MIN_CONFIDENCE_SPAN",
    "MIN_CONFIDENCE_VALUES",
    "MIN_FOLD_TRADES",
    "NO_HOLD_OUTCOMES",
    "PER_SYMBOL_NOT_REQUESTED",
    "RELIABILITY_BINS",
    "STALE_DATA_HOURS",
    "BinSummary",
    "BucketEstimate",
    "ConfidenceAnalysis",
    "ConfidenceSummary",
    "ConsensusAnalysis",
    "ConsensusFold",
    "Correlations",
    "DistributionStats",
    "HoldBiasAnalysis",
    "HoldEvidence",
    "MappingRow",
    "MetricsComparison",
    "OutOfSampleFold",
    "OutOfSampleResult",
    "PerSymbolAnalysis",
    "Proposal",
    "ScoreSet",
    "SymbolCalibration",
    "VotePrecision",
    "WeightAnalysis",
    "analyze_confidence",
    "apply_consensus_multipliers",
    "build_proposal",
    "choose_current_weights",
    "compare_metrics",
    "confidence_mapping_table",
    "confidence_spread_problem",
    "consensus_bucket_codes",
    "consensus_unavailable",
    "estimate_consensus_multipliers",
    "evaluate_consensus",
    "evaluate_out_of_sample",
    "evaluate_per_symbol",
    "format_age",
    "max_combined_change",
    "multiplier_limits",
    "propose_hold_bias",
    "shrink_multiplier",
    "summarize_confidence",
    "trade_age_hours",
    "weighted_vote_precision",
]

# Float rounding of "raw ± 0.15" computed as a product; 0.15 + 1e-9 still fails.
_BOUND_SLACK = 1e-12

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

# A confidence column with fewer distinct values, or a narrower range, carries
# no ranking to learn a map from (the real recorder writes 0.7 on every close).
MIN_CONFIDENCE_VALUES = 5
MIN_CONFIDENCE_SPAN = 0.02
_SPREAD_VALUES_SHOWN = 5
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
        mse=float(brier_score(y, p)),
        ece=float(expected_calibration_error(y, p, n_bins=RELIABILITY_BINS)),
        log_loss=float(log_loss(y, p)),
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
        return float(brier_score(self.outcomes, self.raw)) if self.available else math.nan

    @property
    def brier_calibrated(self) -> float:
        """Pooled held-out MSE of the calibrated confidence (NaN when unavailable)."""
        return float(brier_score(self.outcomes, self.calibrated)) if self.available else math.nan

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


def _fold_plan(n: int, n_folds: int, min_fold_trades: int) -> tuple[list[int], str]:
    # The forward-chaining plan shared by every out-of-sample estimate: k + 1 chunk
    # bounds (fold i trains on [0, b[i]) and tests on [b[i], b[i+1])), or no bounds
    # when not even one fold fits; the note says why fewer folds than asked were used.
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
    bounds, note = _fold_plan(int(x.size), n_folds, min_fold_trades)
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
    it lost, the same rule :func:`~calibration_core.core.weights.measure_model_performance`
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
            "the trades carry no model_breakdown, so there are no member votes "
            "to measure; ensemble weights stay as they are",
        )
    unusable = [name for name in model_names if not MODEL_NAME_PATTERN.fullmatch(name)]
    if unusable:
        # Such a name could never be a key of the proposed config: skip the weights
        # (and say which model) rather than let the whole proposal be rejected.
        return WeightAnalysis(
            WEIGHTS_SKIPPED,
            f"skipped: member model {unusable[0]!r} cannot be a config key (names must match "
            f"{MODEL_NAME_PATTERN.pattern}); ensemble weights stay as they are",
        )
    actions = np.asarray(model_actions)
    try:
        current, source = choose_current_weights(model_names, live_config)
        performance = measure_model_performance(model_names, actions, sides, wins)
        proposal = propose_weights(current, performance)
    except InfeasibleWeightsError as exc:
        return WeightAnalysis(WEIGHTS_SKIPPED, str(exc))
    names = [name for name, _ in proposal.before]
    order = [list(model_names).index(name) for name in names]
    columns = actions[:, order]
    before = weighted_vote_precision(columns, sides, wins, [w for _, w in proposal.before])
    after = weighted_vote_precision(columns, sides, wins, [w for _, w in proposal.after])
    status = WEIGHTS_NO_CHANGE if proposal.no_change else WEIGHTS_PROPOSED
    return WeightAnalysis(status, proposal.reason, source, proposal, before, after)


# --------------------------------------------------------------------------- shared gates


def _improvement_check(name: str, subject: str, before: float, after: float) -> CheckResult:
    # The 5 % out-of-sample gate of the confidence map, applied to another correction:
    # same rule, same handling of non-finite inputs, the check and its message renamed.
    result = check_confidence_improvement(before, after)
    return attrs.evolve(
        result,
        name=name,
        message=result.message.replace("the confidence map is proposed", f"{subject} proposed"),
    )


def _pooled_brier(parts: Sequence[npt.NDArray[np.float64]], y: npt.NDArray[np.float64]) -> float:
    return float(brier_score(y, np.concatenate(parts))) if y.size else math.nan


# --------------------------------------------------------------------------- per-symbol maps

PER_SYMBOL_NOT_REQUESTED = (
    "per-symbol calibration was not requested (run with --per-symbol to evaluate one map "
    "per symbol)"
)
"""The per-symbol section's reason when ``run`` was not given ``--per-symbol``."""


@attrs.frozen
class SymbolCalibration:
    """One symbol's own map against the global map on that symbol's held-out trades.

    Attributes
    ----------
    symbol : str
        The symbol.
    n_trades, n_wins, n_losses : int
        Its trades and their outcomes.
    kept : bool
        Whether the proposed config gives the symbol its own map; otherwise it
        falls back to the global map.
    reason : str
        One line: why it was kept or why it falls back.
    n_folds, n_evaluated : int
        Forward-chaining folds on the symbol's trades and the held-out trades
        pooled over them (0 when not evaluated).
    brier_raw, brier_global, brier_symbol : float
        Pooled held-out MSE of the raw confidence, of the global map fitted
        without the held-out trades, and of the symbol's own map (NaN when not
        evaluated).
    fallback_is_global : bool
        Whether the symbol would otherwise get the global map (enabled in the
        proposal) rather than the raw confidence.
    calibration : IsotonicCalibration or None
        The bounded map fitted on all the symbol's trades, when kept.
    gate : GateEvidence or None
        Its own map against the fallback on its held-out trades (the paired
        test of gate.py); None when not evaluated.
    """

    symbol: str
    n_trades: int
    n_wins: int
    n_losses: int
    kept: bool
    reason: str
    n_folds: int = 0
    n_evaluated: int = 0
    brier_raw: float = math.nan
    brier_global: float = math.nan
    brier_symbol: float = math.nan
    fallback_is_global: bool = True
    calibration: IsotonicCalibration | None = attrs.field(default=None, repr=False)
    gate: GateEvidence | None = None

    @property
    def win_rate(self) -> float:
        """Share of the symbol's trades that won (NaN without trades)."""
        return self.n_wins / self.n_trades if self.n_trades else math.nan

    @property
    def brier_fallback(self) -> float:
        """Held-out MSE of what the symbol gets without its own map (global map, or raw)."""
        return self.brier_global if self.fallback_is_global else self.brier_raw

    @property
    def improvement(self) -> float:
        """Relative held-out MSE reduction of its own map over the fallback (the gated value)."""
        return _relative_improvement(self.brier_fallback, self.brier_symbol)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready row (without the map's knots)."""
        return {
            "symbol": self.symbol,
            "n_trades": self.n_trades,
            "win_rate": _nan_to_none(self.win_rate),
            "kept": self.kept,
            "reason": self.reason,
            "n_folds": self.n_folds,
            "n_evaluated": self.n_evaluated,
            "oos_mse_raw": _nan_to_none(self.brier_raw),
            "oos_mse_global": _nan_to_none(self.brier_global),
            "oos_mse_symbol": _nan_to_none(self.brier_symbol),
            "fallback": "global map" if self.fallback_is_global else "raw confidence",
            "oos_mse_improvement": _nan_to_none(self.improvement),
            "max_abs_change": (
                None if self.calibration is None else float(self.calibration.max_abs_change())
            ),
            "gate": None if self.gate is None else self.gate.to_dict(),
        }


@attrs.frozen
class PerSymbolAnalysis:
    """What per-symbol calibration found; the proposed ``per_symbol`` section follows from it.

    Attributes
    ----------
    requested : bool
        Whether the run asked for per-symbol maps (``--per-symbol``).
    reason : str
        One line for the report.
    symbols : tuple of SymbolCalibration
        One row per symbol, sorted by symbol (empty when not requested).
    """

    requested: bool
    reason: str
    symbols: tuple[SymbolCalibration, ...] = ()

    @property
    def kept(self) -> tuple[SymbolCalibration, ...]:
        """The symbols that get their own map."""
        return tuple(s for s in self.symbols if s.kept)

    @property
    def enabled(self) -> bool:
        """Whether the proposed config enables per-symbol maps: requested and one kept."""
        return self.requested and bool(self.kept)

    def section(self) -> PerSymbolMaps:
        """Return the proposed ``per_symbol`` config section (only kept symbols, enabled maps)."""
        maps = tuple(
            (s.symbol, _confidence_section(s.calibration, enabled=True))
            for s in self.kept
            if s.calibration is not None
        )
        return PerSymbolMaps(enabled=self.enabled, maps=maps)


def _confidence_section(calibration: IsotonicCalibration, *, enabled: bool) -> ConfidenceMap:
    return ConfidenceMap(
        enabled=enabled,
        thresholds=tuple(float(t) for t in calibration.thresholds),
        values=tuple(float(v) for v in calibration.values),
        max_change=MAX_CONFIDENCE_CHANGE,
        method="isotonic",
    )


def _symbol_oos(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    rows: npt.NDArray[np.intp],
    bounds: Sequence[int],
    max_change: float,
    *,
    global_enabled: bool,
) -> tuple[float, float, float, int, GateEvidence]:
    # Fold i holds out the symbol's chunk i. Its own map sees only the symbol's earlier
    # chunks; the global map sees every trade (any symbol) that closed before the first
    # held-out trade, rows [0, rows[start]) of the time-sorted data. Neither sees a
    # held-out trade or anything later.
    raw: list[npt.NDArray[np.float64]] = []
    global_: list[npt.NDArray[np.float64]] = []
    own: list[npt.NDArray[np.float64]] = []
    outcomes: list[npt.NDArray[np.float64]] = []
    for i in range(1, len(bounds) - 1):
        start, stop = bounds[i], bounds[i + 1]
        first = int(rows[start])
        train, test = rows[:start], rows[start:stop]
        symbol_map = bound_confidence_change(fit_isotonic(x[train], y[train]), max_change)
        global_map = bound_confidence_change(fit_isotonic(x[:first], y[:first]), max_change)
        raw.append(x[test])
        global_.append(np.asarray(global_map.predict(x[test]), dtype=np.float64))
        own.append(np.asarray(symbol_map.predict(x[test]), dtype=np.float64))
        outcomes.append(y[test])
    held_out = np.concatenate(outcomes)
    fallback = np.concatenate(global_ if global_enabled else raw)
    return (
        _pooled_brier(raw, held_out),
        _pooled_brier(global_, held_out),
        _pooled_brier(own, held_out),
        int(held_out.size),
        paired_gate(fallback, np.concatenate(own), held_out),
    )


def _ineligible_symbol(symbol: str, n: int, n_wins: int, n_losses: int) -> str:
    # Why a symbol cannot have a map of its own, or "" when it may try.
    if SYMBOL_PATTERN.fullmatch(symbol) is None:
        return "the symbol's name cannot be a config key"
    if not check_min_trades(n).passed:
        return f"{n} trades, fewer than the {MIN_TRADES_FOR_CALIBRATION} a map of its own needs"
    if not check_outcome_diversity(n_wins, n_losses, n).passed:
        return (
            f"wins {n_wins / n:.0%} and losses {n_losses / n:.0%} of its trades; "
            f"each must be at least {MIN_OUTCOME_DIVERSITY:.0%}"
        )
    return ""


def _evaluate_symbol(
    symbol: str,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    pnl: npt.NDArray[np.float64],
    rows: npt.NDArray[np.intp],
    *,
    global_enabled: bool,
    n_folds: int,
    min_fold_trades: int,
    max_change: float,
) -> SymbolCalibration:
    n = int(rows.size)
    n_wins, n_losses = int((pnl[rows] > 0.0).sum()), int((pnl[rows] < 0.0).sum())
    row = SymbolCalibration(
        symbol, n, n_wins, n_losses, kept=False, reason="", fallback_is_global=global_enabled
    )
    ineligible = _ineligible_symbol(symbol, n, n_wins, n_losses)
    if ineligible:
        return attrs.evolve(row, reason=f"fallback: {ineligible}")
    bounds, note = _fold_plan(n, n_folds, min_fold_trades)
    if not bounds:
        return attrs.evolve(row, reason=f"fallback: {note}")
    raw, global_, own, n_evaluated, gate = _symbol_oos(
        x, y, rows, bounds, max_change, global_enabled=global_enabled
    )
    row = attrs.evolve(
        row,
        n_folds=len(bounds) - 2,
        n_evaluated=n_evaluated,
        brier_raw=raw,
        brier_global=global_,
        brier_symbol=own,
        gate=gate,
    )
    fallback_name = "the global map" if global_enabled else "the raw confidence"
    fallback = global_ if global_enabled else raw
    gain = _relative_improvement(fallback, own)
    scores = f"{fallback:.4f} → {own:.4f}, {n_evaluated} held-out trades"
    if not own < global_:
        return attrs.evolve(
            row,
            reason=(
                f"fallback: its own map's held-out MSE {own:.4f} does not beat the global "
                f"map's {global_:.4f} ({n_evaluated} held-out trades)"
            ),
        )
    if not gain >= MIN_CONFIDENCE_IMPROVEMENT:
        return attrs.evolve(
            row,
            reason=(
                f"fallback: its own map improves the held-out MSE over {fallback_name} by "
                f"only {gain:+.1%} ({scores}), below the {MIN_CONFIDENCE_IMPROVEMENT:.0%} minimum"
            ),
        )
    if not gate.distinguishable:
        return attrs.evolve(
            row,
            reason=(
                f"fallback: its own map improves the held-out MSE over {fallback_name} by "
                f"{gain:+.1%} ({scores}), but that is {gate.noise_text()} "
                f"(95% lower bound {gate.gain_lower:+.1%})"
            ),
        )
    return attrs.evolve(
        row,
        kept=True,
        reason=(
            f"kept: its own map improves the held-out MSE over {fallback_name} by "
            f"{gain:.1%} ({scores}; 95% lower bound {gate.gain_lower:+.1%})"
        ),
        calibration=bound_confidence_change(fit_isotonic(x[rows], y[rows]), max_change),
    )


def evaluate_per_symbol(
    confidence: npt.ArrayLike,
    pnl_pct: npt.ArrayLike,
    symbol_codes: npt.ArrayLike,
    symbol_names: Sequence[str],
    *,
    global_enabled: bool = True,
    n_folds: int = DEFAULT_OOS_FOLDS,
    min_fold_trades: int = MIN_FOLD_TRADES,
    max_change: float = MAX_CONFIDENCE_CHANGE,
    progress: Callable[[str, int, int], None] | None = None,
) -> PerSymbolAnalysis:
    """Decide which symbols get a bounded isotonic map of their own.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Raw confidence in [0, 1], **sorted by close time** (oldest first).
    pnl_pct : array_like of float, shape (n,)
        Realized return in percent; > 0 is a WIN, < 0 a LOSS.
    symbol_codes : array_like of int, shape (n,)
        Index into ``symbol_names`` per trade.
    symbol_names : sequence of str
        The symbols.
    global_enabled : bool, optional
        Whether the proposal enables the global map. A symbol without a map of
        its own gets the global map when it is enabled and the raw confidence
        when it is not; that is what its own map has to improve on.
    n_folds, min_fold_trades : int, optional
        As for :func:`evaluate_out_of_sample`, applied to each symbol's own trades.
    max_change : float, optional
        The bound of every map (default 0.15).
    progress : callable, optional
        Called as ``progress("per-symbol maps", done, total)`` after each symbol.

    Returns
    -------
    PerSymbolAnalysis
        One row per symbol with trades, sorted by symbol; ``requested`` is True.

    Raises
    ------
    InvalidInputError
        If a column is malformed or a code has no name.

    Notes
    -----
    A symbol is *eligible* with at least ``MIN_TRADES_FOR_CALIBRATION`` trades
    and wins and losses each at least ``MIN_OUTCOME_DIVERSITY`` of them. Its
    trades are cut into k + 1 contiguous chunks (the rule of
    :func:`evaluate_out_of_sample`). Fold ``i`` scores chunk ``i`` with

    - the symbol's map, fitted on the symbol's chunks ``0..i-1``;
    - the global map, fitted on every trade of any symbol that closed before
      the first trade of chunk ``i``;

    both bounded to ±``max_change``. The Brier scores ``B_raw``, ``B_global``
    and ``B_symbol`` are pooled over all folds. With ``B_fallback`` = ``B_global``
    when the global map is enabled and ``B_raw`` when not, the symbol keeps its
    own map (fitted on all its trades) only when

    ``B_symbol < B_global`` and
    ``(B_fallback - B_symbol) / B_fallback >= MIN_CONFIDENCE_IMPROVEMENT`` and
    the gain is distinguishable from noise (the one-sided paired t-test of
    :func:`calibration_core.core.gate.paired_gate` on the per-trade squared errors of
    the fallback and of its own map);

    every other symbol falls back to the global map.
    """
    x = _as_unit_column(confidence, "confidence")
    pnl = _as_finite_column(pnl_pct, "pnl_pct", x.size)
    codes = np.asarray(symbol_codes)
    if codes.shape != x.shape or (codes.size and not np.issubdtype(codes.dtype, np.integer)):
        raise InvalidInputError(
            f"symbol_codes must be integers of shape {x.shape} (got {codes.dtype} {codes.shape})"
        )
    names = tuple(symbol_names)
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= len(names)):
        raise InvalidInputError(
            f"symbol_codes must index symbol_names (got codes {int(codes.min())}.."
            f"{int(codes.max())} for {len(names)} names)"
        )
    y = (pnl > 0.0).astype(np.float64)
    order = sorted(np.unique(codes).tolist(), key=lambda c: names[c])
    rows = []
    for done, code in enumerate(order, start=1):
        rows.append(
            _evaluate_symbol(
                names[code],
                x,
                y,
                pnl,
                np.flatnonzero(codes == code),
                global_enabled=global_enabled,
                n_folds=n_folds,
                min_fold_trades=min_fold_trades,
                max_change=max_change,
            )
        )
        if progress is not None:
            progress("per-symbol maps", done, len(order))
    kept = [r.symbol for r in rows if r.kept]
    if kept:
        reason = (
            f"{len(kept)} of {len(rows)} symbols keep a map of their own ({', '.join(kept)}); "
            "the others fall back to the global map"
        )
    else:
        reason = (
            f"no symbol's own map passed the out-of-sample selection ({len(rows)} symbols "
            "evaluated); every symbol uses the global map and per-symbol maps stay disabled"
        )
    return PerSymbolAnalysis(requested=True, reason=reason, symbols=tuple(rows))


def _per_symbol_checks(analysis: PerSymbolAnalysis) -> list[CheckResult]:
    kept = [s for s in analysis.kept if s.calibration is not None]
    if not analysis.enabled or not kept:
        return []
    largest = max(float(s.calibration.max_abs_change()) for s in kept if s.calibration)
    bound = check_confidence_change_bound(largest)
    checks = [
        attrs.evolve(
            bound,
            name="per_symbol_change_bound",
            message=f"per-symbol maps: {bound.message}",
        )
    ]
    # Against what each kept symbol would get otherwise: the global map when the
    # proposal enables it, the raw confidence when it does not.
    checks.extend(
        check_no_degradation(
            f"oos_brier:{s.symbol}", s.brier_fallback, s.brier_symbol, higher_is_better=False
        )
        for s in kept
    )
    return checks


# --------------------------------------------------------------------------- consensus

CONSENSUS_SHRINKAGE_TRADES = MIN_TRADES_FOR_CALIBRATION
"""k of the shrinkage ``1 + n/(n + k) (r - 1)``: a bucket of k trades moves halfway to r."""


def shrink_multiplier(
    raw_multiplier: float, n_trades: int, *, k: float = CONSENSUS_SHRINKAGE_TRADES
) -> float:
    """Shrink a bucket's raw multiplier toward 1 by its trade count, then clamp it.

    Parameters
    ----------
    raw_multiplier : float
        The bucket's win rate over its mean confidence, ``>= 0``; NaN (no
        evidence) gives 1.0.
    n_trades : int
        Trades in the bucket, ``>= 0``.
    k : float, optional
        Trades at which the multiplier moves halfway (default 50).

    Returns
    -------
    float
        ``clip(1 + n/(n + k) (r - 1), 0.5, 1.5)``.

    Raises
    ------
    InvalidInputError
        If ``n_trades`` is negative, ``k`` is not positive or ``raw_multiplier``
        is negative or infinite.

    Notes
    -----
    For a fixed ``r`` the result lies between 1 and ``clip(r, 0.5, 1.5)``, is 1
    at ``n = 0`` and moves monotonically toward ``clip(r)`` as ``n`` grows.

    Examples
    --------
    >>> shrink_multiplier(1.4, 50)
    1.2
    >>> shrink_multiplier(3.0, 10_000)
    1.5
    """
    if isinstance(n_trades, bool) or int(n_trades) != n_trades or n_trades < 0:
        raise InvalidInputError(f"n_trades must be a count >= 0 (got {n_trades!r})")
    if not (math.isfinite(k) and k > 0):
        raise InvalidInputError(f"k must be a finite number > 0 (got {k!r})")
    if math.isnan(raw_multiplier):
        return 1.0
    if not (math.isfinite(raw_multiplier) and raw_multiplier >= 0.0):
        raise InvalidInputError(
            f"raw_multiplier must be a finite number >= 0 (got {raw_multiplier!r})"
        )
    weight = n_trades / (n_trades + k)
    shrunk = 1.0 + weight * (raw_multiplier - 1.0)
    return min(MAX_CONSENSUS_MULTIPLIER, max(MIN_CONSENSUS_MULTIPLIER, shrunk))


def consensus_bucket_codes(
    consensus_count: npt.ArrayLike, model_actions: npt.ArrayLike
) -> npt.NDArray[np.int8]:
    """Bucket every trade with the shared rule :func:`~calibration_core.config.consensus_bucket`.

    Parameters
    ----------
    consensus_count : array_like of int, shape (n,)
        Models that voted with the trade's side; negative when the trade did
        not record it.
    model_actions : array_like of int, shape (n, m)
        Member votes; ``ACTION_MISSING`` where a model did not vote.

    Returns
    -------
    ndarray of int8, shape (n,)
        Index into ``CONSENSUS_BUCKETS`` per trade, or -1 when the trade has
        no bucket (no ``consensus_count``, no vote, or a count above the
        number of models that voted).

    Notes
    -----
    The number of models is counted **per trade**: the models present in that
    trade's ``model_breakdown``. This is what the runtime passes as
    ``total_models`` (the models that voted on that decision); a model that did
    not vote on a trade is not part of its consensus.
    """
    counts = np.asarray(consensus_count)
    actions = np.asarray(model_actions)
    if counts.ndim != 1 or actions.ndim != 2 or actions.shape[0] != counts.size:  # noqa: PLR2004
        raise InvalidInputError(
            f"consensus_count must have shape (n,) and model_actions (n, m) "
            f"(got {counts.shape} and {actions.shape})"
        )
    if counts.size and not np.issubdtype(counts.dtype, np.integer):
        raise InvalidInputError(f"consensus_count must be integers (got {counts.dtype})")
    totals = (actions != ACTION_MISSING).sum(axis=1).astype(np.int64)
    # Few distinct (count, total) pairs: ask the shared rule once per pair.
    keys = (np.maximum(counts.astype(np.int64), -1) + 1) * (actions.shape[1] + 1) + totals
    unique, inverse = np.unique(keys, return_inverse=True)
    per_key = []
    for key in unique.tolist():
        count, total = divmod(key, actions.shape[1] + 1)
        bucket = consensus_bucket(count - 1, total) if count >= 1 else None
        per_key.append(-1 if bucket is None else CONSENSUS_BUCKETS.index(bucket))
    return np.asarray(per_key, dtype=np.int8)[inverse.reshape(-1)]


@attrs.frozen
class BucketEstimate:
    """One consensus bucket's multiplier, estimated from outcomes.

    Attributes
    ----------
    bucket : str
        ``unanimous``, ``strong``, ``split`` or ``weak``.
    n_trades, n_wins : int
        The bucket's trades and wins.
    mean_confidence : float
        Mean of the confidence the multiplier scales (NaN when empty).
    raw_multiplier : float
        ``win rate / mean_confidence`` (NaN when undefined).
    multiplier : float
        :func:`shrink_multiplier` of ``raw_multiplier``, in [0.5, 1.5].
    """

    bucket: str
    n_trades: int
    n_wins: int
    mean_confidence: float
    raw_multiplier: float
    multiplier: float

    @property
    def win_rate(self) -> float:
        """Share of the bucket's trades that won (NaN when empty)."""
        return self.n_wins / self.n_trades if self.n_trades else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready estimate."""
        return {
            "bucket": self.bucket,
            "n_trades": self.n_trades,
            "win_rate": _nan_to_none(self.win_rate),
            "mean_confidence": _nan_to_none(self.mean_confidence),
            "raw_multiplier": _nan_to_none(self.raw_multiplier),
            "multiplier": self.multiplier,
        }


def _bucket_column(value: npt.ArrayLike, n: int) -> npt.NDArray[np.int8]:
    codes = np.asarray(value)
    if codes.shape != (n,) or (codes.size and not np.issubdtype(codes.dtype, np.integer)):
        raise InvalidInputError(
            f"bucket_codes must be integers of shape ({n},) (got {codes.dtype} {codes.shape})"
        )
    if codes.size and (int(codes.min()) < -1 or int(codes.max()) >= len(CONSENSUS_BUCKETS)):
        raise InvalidInputError(
            f"bucket_codes must lie in [-1, {len(CONSENSUS_BUCKETS) - 1}] "
            f"(got {int(codes.min())}..{int(codes.max())})"
        )
    return codes.astype(np.int8)


def _limit_grid(
    maps: Sequence[IsotonicCalibration | None], max_change: float
) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    # Raw confidences where the constraint on ``min(1, f(c)·m)`` can bind: f is
    # piecewise linear, so |f(c)·m - c| is extreme at its knots, and the cap at 1
    # switches the upper bound off from c = 1 - max_change on.
    grids = []
    for conf_map in maps:
        knots = np.array([0.0, 1.0]) if conf_map is None else np.asarray(conf_map.thresholds, float)
        c = np.unique(np.clip(np.concatenate([knots, [0.0, 1.0 - max_change, 1.0]]), 0.0, 1.0))
        f = c if conf_map is None else np.asarray(conf_map.predict(c), dtype=np.float64)
        grids.append((c, f))
    return grids


def multiplier_limits(
    maps: Sequence[IsotonicCalibration | None], *, max_change: float = MAX_CONFIDENCE_CHANGE
) -> tuple[float, float]:
    """Return the multipliers that keep every map's total change within ``max_change``.

    Parameters
    ----------
    maps : sequence of IsotonicCalibration or None
        The maps the runtime may apply before the multiplier (the global map and
        every per-symbol map); None stands for no map (the clipped identity).
    max_change : float, optional
        The confidence-change bound, ``MAX_CONFIDENCE_CHANGE``.

    Returns
    -------
    (float, float)
        ``[lo, hi]`` within [0.5, 1.5] such that for every map ``f``, every raw
        confidence ``c`` in [0, 1] and every ``m`` in it,
        ``|min(1, f(c)·m) - c| <= max_change``. It always contains 1.0 because
        each map is itself bounded.

    Notes
    -----
    For ``f(c) > 0`` the bound asks ``(c - δ)/f(c) <= m``, and, where
    ``c + δ < 1``, ``m <= (c + δ)/f(c)`` (in the limit ``c -> 1 - δ`` too).
    ``f(c)·m - c`` is linear in ``c`` on each segment of the piecewise-linear map,
    so checking the knots and ``c = 1 - δ`` is exact.
    """
    lo, hi = MIN_CONSENSUS_MULTIPLIER, MAX_CONSENSUS_MULTIPLIER
    for c, f in _limit_grid(maps, max_change):
        positive = f > 0.0
        if positive.any():
            lo = max(lo, float(np.max((c[positive] - max_change) / f[positive])))
            # The upper bound holds for c < 1 - δ and binds in the limit c -> 1 - δ,
            # so the limit point itself is included.
            capped = positive & (c <= 1.0 - max_change + _BOUND_SLACK)
            if capped.any():
                hi = min(hi, float(np.min((c[capped] + max_change) / f[capped])))
    # Each map is within the band on its own, so 1.0 is feasible up to rounding.
    return min(lo, 1.0), max(hi, 1.0)


def max_combined_change(
    maps: Sequence[IsotonicCalibration | None],
    multipliers: Sequence[float],
    *,
    max_change: float = MAX_CONFIDENCE_CHANGE,
) -> float:
    """Return the largest ``|min(1, f(c)·m) - c|`` over maps, multipliers and raw ``c`` in [0, 1].

    Parameters
    ----------
    maps : sequence of IsotonicCalibration or None
        As for :func:`multiplier_limits`.
    multipliers : sequence of float
        The deployed multipliers (one per bucket).
    max_change : float, optional
        Only used to place the cap point ``1 - max_change`` on the grid.

    Returns
    -------
    float
        The total change from raw confidence that the runtime can produce.
    """
    worst = 0.0
    for c, f in _limit_grid(maps, max_change):
        for m in multipliers:
            points, values = c, f
            if m > 0.0:
                # min(1, f·m) - c has a kink where f(c)·m reaches 1: add those points,
                # where the change can peak, to the knots (one per crossing segment).
                target = 1.0 / m
                crossing = (f[:-1] < target) & (f[1:] >= target)
                i = np.flatnonzero(crossing)
                if i.size:
                    share = (target - f[i]) / (f[i + 1] - f[i])
                    kinks = c[i] + share * (c[i + 1] - c[i])
                    points = np.concatenate([c, kinks])
                    values = np.concatenate([f, np.full(kinks.shape, target)])
            change = np.abs(np.minimum(1.0, values * m) - points)
            worst = max(worst, float(np.max(change)))
    return worst


def estimate_consensus_multipliers(
    confidence: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    bucket_codes: npt.ArrayLike,
    *,
    shrinkage_trades: float = CONSENSUS_SHRINKAGE_TRADES,
    limits: tuple[float, float] = (MIN_CONSENSUS_MULTIPLIER, MAX_CONSENSUS_MULTIPLIER),
) -> tuple[BucketEstimate, ...]:
    """Estimate one multiplier per consensus bucket from outcomes.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        The confidence the multiplier will scale (the calibrated one), in [0, 1].
    outcomes : array_like, shape (n,)
        1 for a win, 0 otherwise.
    bucket_codes : array_like of int, shape (n,)
        Index into ``CONSENSUS_BUCKETS``, -1 for no bucket (ignored).
    shrinkage_trades : float, optional
        k of :func:`shrink_multiplier` (default 50).

    Returns
    -------
    tuple of BucketEstimate
        In ``CONSENSUS_BUCKETS`` order; an empty bucket gets 1.0.

    Notes
    -----
    ``r_b = (Σ_b y / n_b) / (Σ_b c / n_b)``, the factor that makes the bucket's
    mean confidence equal its win rate, then
    ``m_b = clip(1 + n_b / (n_b + k) (r_b - 1), 0.5, 1.5)``, clamped into ``limits``.
    """
    lo, hi = limits
    if not MIN_CONSENSUS_MULTIPLIER <= lo <= 1.0 <= hi <= MAX_CONSENSUS_MULTIPLIER:
        raise InvalidInputError(
            f"limits must satisfy {MIN_CONSENSUS_MULTIPLIER} <= lo <= 1 <= hi <= "
            f"{MAX_CONSENSUS_MULTIPLIER} (got {limits})"
        )
    c = _as_unit_column(confidence, "confidence")
    y = _as_unit_column(outcomes, "outcomes")
    if y.shape != c.shape:
        raise InvalidInputError(
            f"confidence and outcomes must have one length (got {c.size} and {y.size})"
        )
    codes = _bucket_column(bucket_codes, c.size)
    estimates = []
    for index, bucket in enumerate(CONSENSUS_BUCKETS):
        mask = codes == index
        n = int(mask.sum())
        wins = round(float(y[mask].sum()))
        mean_c = float(c[mask].mean()) if n else math.nan
        raw = (float(y[mask].mean()) / mean_c) if n and mean_c > 0.0 else math.nan
        estimates.append(
            BucketEstimate(
                bucket=bucket,
                n_trades=n,
                n_wins=wins,
                mean_confidence=mean_c,
                raw_multiplier=raw,
                multiplier=min(hi, max(lo, shrink_multiplier(raw, n, k=shrinkage_trades))),
            )
        )
    return tuple(estimates)


def apply_consensus_multipliers(
    confidence: npt.ArrayLike, bucket_codes: npt.ArrayLike, multipliers: Sequence[float]
) -> npt.NDArray[np.float64]:
    """Scale each confidence by its bucket's multiplier as the runtime does: ``min(1, c·m)``.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Calibrated confidence in [0, 1].
    bucket_codes : array_like of int, shape (n,)
        Index into ``CONSENSUS_BUCKETS``; -1 (no bucket) gets 1.0, like an
        invalid count at runtime.
    multipliers : sequence of float
        One per bucket, in ``CONSENSUS_BUCKETS`` order.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``clip(c · m, 0, 1)``.
    """
    c = _as_unit_column(confidence, "confidence")
    codes = _bucket_column(bucket_codes, c.size)
    table = np.asarray([*multipliers, 1.0], dtype=np.float64)
    if table.size != len(CONSENSUS_BUCKETS) + 1:
        raise InvalidInputError(
            f"multipliers must hold {len(CONSENSUS_BUCKETS)} values (got {table.size - 1})"
        )
    # Index -1 picks the appended 1.0: a trade without a bucket is left unchanged.
    return np.clip(c * table[codes], 0.0, 1.0)


@attrs.frozen
class ConsensusFold:
    """One forward-chaining fold of the multipliers: estimated on earlier trades, scored later."""

    index: int
    train_stop: int
    test_start: int
    test_stop: int
    brier_before: float
    brier_after: float
    multipliers: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready fold."""
        return {
            "fold": self.index,
            "train_rows": [0, self.train_stop],
            "test_rows": [self.test_start, self.test_stop],
            "mse_before": _nan_to_none(self.brier_before),
            "mse_after": _nan_to_none(self.brier_after),
            "mse_improvement": _nan_to_none(
                _relative_improvement(self.brier_before, self.brier_after)
            ),
            "multipliers": dict(zip(CONSENSUS_BUCKETS, self.multipliers, strict=True)),
        }


@attrs.frozen
class ConsensusAnalysis:
    """What the consensus-multiplier estimate found; the config section follows from it.

    Attributes
    ----------
    available : bool
        Whether the trades allowed an estimate at all.
    enabled : bool
        Whether the proposed config enables the multipliers.
    reason : str
        One line: why (not).
    baseline : str
        Which confidence the multipliers scale (the proposed global map, or raw).
    n_bucketed, n_unbucketed : int
        Trades with and without a consensus bucket.
    buckets : tuple of BucketEstimate
        The multipliers estimated on all trades (empty when not available).
    folds : tuple of ConsensusFold
        The out-of-sample folds.
    brier_before, brier_after : float
        Pooled held-out MSE without and with the fold's multipliers.
    max_abs_change : float
        Largest total change ``|min(1, f(c)·m) - c|`` from a raw confidence ``c``
        in [0, 1] that map ``f`` and multiplier together make, over the global
        map (or none) and every kept per-symbol map.
    gate : GateEvidence or None
        The paired test of the held-out gain (gate.py); None when unavailable.
    """

    available: bool
    enabled: bool
    reason: str
    baseline: str = ""
    n_bucketed: int = 0
    n_unbucketed: int = 0
    buckets: tuple[BucketEstimate, ...] = ()
    folds: tuple[ConsensusFold, ...] = ()
    brier_before: float = math.nan
    brier_after: float = math.nan
    max_abs_change: float = 0.0
    gate: GateEvidence | None = None

    @property
    def improvement(self) -> float:
        """Pooled relative held-out MSE reduction (NaN when unavailable)."""
        return _relative_improvement(self.brier_before, self.brier_after)

    @property
    def n_evaluated(self) -> int:
        """Held-out trades pooled over the folds."""
        return sum(f.test_stop - f.test_start for f in self.folds)

    def section(self) -> ConsensusMultipliers:
        """Return the proposed ``consensus_multipliers`` config section."""
        if not self.buckets:
            return ConsensusMultipliers()
        return ConsensusMultipliers(
            enabled=self.enabled,
            multipliers=tuple((b.bucket, b.multiplier) for b in self.buckets),
        )


def _baseline(
    values: npt.NDArray[np.float64], calibration: IsotonicCalibration | None
) -> npt.NDArray[np.float64]:
    # The confidence the runtime multiplies: the map's output, or raw without a map.
    if calibration is None:
        return values
    return np.asarray(calibration.predict(values), dtype=np.float64)


def consensus_unavailable(reason: str) -> ConsensusAnalysis:
    """Return the analysis of trades that allow no consensus estimate, with the reason."""
    return ConsensusAnalysis(
        available=False, enabled=False, reason=f"no consensus multipliers proposed: {reason}"
    )


def evaluate_consensus(
    confidence: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    bucket_codes: npt.ArrayLike,
    *,
    calibration: IsotonicCalibration | None = None,
    symbol_maps: Sequence[IsotonicCalibration] = (),
    out_of_sample: OutOfSampleResult | None = None,
    n_folds: int = DEFAULT_OOS_FOLDS,
    min_fold_trades: int = MIN_FOLD_TRADES,
    shrinkage_trades: float = CONSENSUS_SHRINKAGE_TRADES,
) -> ConsensusAnalysis:
    """Estimate the consensus multipliers and gate them on an out-of-sample improvement.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Raw confidence, **sorted by close time**.
    outcomes : array_like, shape (n,)
        1 for a win, 0 otherwise.
    bucket_codes : array_like of int, shape (n,)
        From :func:`consensus_bucket_codes`.
    calibration : IsotonicCalibration or None, optional
        The global map the runtime applies before the multiplier, when the
        proposal enables one; None means the raw confidence is multiplied.
    symbol_maps : sequence of IsotonicCalibration, optional
        The per-symbol maps the proposal keeps; the runtime multiplies their
        output too, so the deployed multipliers are limited for them as well.
    out_of_sample : OutOfSampleResult, optional
        The map's forward-chaining estimate on the same trades, to reuse its
        fold maps (computed when needed and not given).
    n_folds, min_fold_trades : int, optional
        As for :func:`evaluate_out_of_sample`.
    shrinkage_trades : float, optional
        k of :func:`shrink_multiplier`.

    Returns
    -------
    ConsensusAnalysis

    Notes
    -----
    Fold ``i`` (the chunks of :func:`evaluate_out_of_sample`) computes the
    baseline confidence ``b`` of rows ``[0, stop)`` and of its test chunk with
    the fold's map (fitted on ``[0, stop)`` only; the raw confidence when
    ``calibration`` is None), estimates the multipliers on ``[0, stop)`` and
    scores ``min(1, b·m)`` against ``b`` on the test chunk. The multipliers are
    enabled only when the pooled relative Brier reduction is at least
    ``MIN_CONFIDENCE_IMPROVEMENT`` and distinguishable from noise (the one-sided
    paired t-test of :func:`calibration_core.core.gate.paired_gate`); the deployed
    ones are estimated on all trades.
    Every multiplier is clamped into :func:`multiplier_limits` of the maps it
    follows (the fold's map in a fold), so map and multiplier together never move
    a confidence by more than ``MAX_CONFIDENCE_CHANGE``.
    """
    x = _as_unit_column(confidence, "confidence")
    y = _as_unit_column(outcomes, "outcomes")
    if y.shape != x.shape:
        raise InvalidInputError(
            f"confidence and outcomes must have one length (got {x.size} and {y.size})"
        )
    codes = _bucket_column(bucket_codes, x.size)
    n_bucketed = int((codes >= 0).sum())
    n_unbucketed = int(x.size) - n_bucketed
    if n_bucketed < MIN_TRADES_FOR_CALIBRATION:
        return attrs.evolve(
            consensus_unavailable(
                f"only {n_bucketed} trades have a consensus bucket; at least "
                f"{MIN_TRADES_FOR_CALIBRATION} are needed"
            ),
            n_bucketed=n_bucketed,
            n_unbucketed=n_unbucketed,
        )
    plan: list[tuple[int, int, IsotonicCalibration | None]]
    if calibration is None:
        baseline = "the raw confidence (the proposal does not enable the global map)"
        bounds, note = _fold_plan(int(x.size), n_folds, min_fold_trades)
        plan = [(bounds[i], bounds[i + 1], None) for i in range(1, len(bounds) - 1)]
    else:
        baseline = "the calibrated confidence (the proposed global map)"
        oos = (
            out_of_sample
            if out_of_sample is not None
            else evaluate_out_of_sample(x, y, n_folds=n_folds, min_fold_trades=min_fold_trades)
        )
        note = oos.note
        plan = [(f.train_stop, f.test_stop, f.calibration) for f in oos.folds]
    if not plan:
        return attrs.evolve(
            consensus_unavailable(note),
            baseline=baseline,
            n_bucketed=n_bucketed,
            n_unbucketed=n_unbucketed,
        )

    folds, before_parts, after_parts, held_out = [], [], [], []
    for index, (stop, test_stop, fold_map) in enumerate(plan, start=1):
        estimate = estimate_consensus_multipliers(
            _baseline(x[:stop], fold_map),
            y[:stop],
            codes[:stop],
            shrinkage_trades=shrinkage_trades,
            # The deployed multipliers are also limited by the kept symbol maps; the fold
            # must be limited the same way, or the gate scores multipliers never deployed.
            # (The symbol maps only set the clamp range here.)
            limits=multiplier_limits([fold_map, *symbol_maps]),
        )
        multipliers = tuple(b.multiplier for b in estimate)
        before = _baseline(x[stop:test_stop], fold_map)
        after = apply_consensus_multipliers(before, codes[stop:test_stop], multipliers)
        test_y = y[stop:test_stop]
        folds.append(
            ConsensusFold(
                index=index,
                train_stop=stop,
                test_start=stop,
                test_stop=test_stop,
                brier_before=float(brier_score(test_y, before)),
                brier_after=float(brier_score(test_y, after)),
                multipliers=multipliers,
            )
        )
        before_parts.append(before)
        after_parts.append(after)
        held_out.append(test_y)
    pooled_y = np.concatenate(held_out)
    brier_before = _pooled_brier(before_parts, pooled_y)
    brier_after = _pooled_brier(after_parts, pooled_y)
    stage = _baseline(x, calibration)
    followed = [calibration, *symbol_maps]
    buckets = estimate_consensus_multipliers(
        stage, y, codes, shrinkage_trades=shrinkage_trades, limits=multiplier_limits(followed)
    )
    gain = _relative_improvement(brier_before, brier_after)
    gate = paired_gate(np.concatenate(before_parts), np.concatenate(after_parts), pooled_y)
    large_enough = gain >= MIN_CONFIDENCE_IMPROVEMENT
    enabled = bool(large_enough and gate.distinguishable)
    gain_text = "n/a" if math.isnan(gain) else f"{gain:+.1%}"
    relation = "meets" if large_enough else "is below"
    reason = (
        f"out-of-sample MSE improvement {gain_text} over {pooled_y.size} held-out trades "
        f"{relation} the {MIN_CONFIDENCE_IMPROVEMENT:.0%} minimum"
    )
    if large_enough:
        reason += (
            f" and is distinguishable from noise (95% lower bound {gate.gain_lower:+.1%})"
            if gate.distinguishable
            else f" but is {gate.noise_text()} (95% lower bound {gate.gain_lower:+.1%})"
        )
    return ConsensusAnalysis(
        available=True,
        enabled=enabled,
        reason=reason,
        baseline=baseline,
        buckets=buckets,
        folds=tuple(folds),
        brier_before=brier_before,
        brier_after=brier_after,
        max_abs_change=max_combined_change(followed, [b.multiplier for b in buckets]),
        n_bucketed=n_bucketed,
        n_unbucketed=n_unbucketed,
        gate=gate,
    )


def _consensus_checks(analysis: ConsensusAnalysis) -> list[CheckResult]:
    if not analysis.available:
        return []
    values = [b.multiplier for b in analysis.buckets]
    outside = [
        max(MIN_CONSENSUS_MULTIPLIER - m, m - MAX_CONSENSUS_MULTIPLIER)
        for m in values
        if not MIN_CONSENSUS_MULTIPLIER <= m <= MAX_CONSENSUS_MULTIPLIER
    ]
    listed = ", ".join(f"{b.bucket} {b.multiplier:.3f}" for b in analysis.buckets)
    bounds = CheckResult(
        name="consensus_multiplier_bounds",
        severity=Severity.CRITICAL,
        passed=not outside and all(math.isfinite(m) for m in values),
        value=max(outside, default=0.0),
        threshold=0.0,
        message=(
            f"multipliers {listed} "
            f"{'lie within' if not outside else 'leave'} "
            f"[{MIN_CONSENSUS_MULTIPLIER}, {MAX_CONSENSUS_MULTIPLIER}]"
        ),
    )
    combined = CheckResult(
        name="consensus_confidence_change_bound",
        severity=Severity.CRITICAL,
        passed=math.isfinite(analysis.max_abs_change)
        and analysis.max_abs_change <= MAX_CONFIDENCE_CHANGE + _BOUND_SLACK,
        value=analysis.max_abs_change,
        threshold=MAX_CONFIDENCE_CHANGE,
        message=(
            f"map and multiplier together move a confidence by at most "
            f"{analysis.max_abs_change:.4f} (bound ±{MAX_CONFIDENCE_CHANGE})"
        ),
    )
    improvement = _improvement_check(
        "consensus_improvement",
        "the consensus multipliers are",
        analysis.brier_before,
        analysis.brier_after,
    )
    # What would be deployed: with the multipliers disabled the confidence is unchanged.
    after = analysis.brier_after if analysis.enabled else analysis.brier_before
    degradation = check_no_degradation(
        "consensus_oos_brier", analysis.brier_before, after, higher_is_better=False
    )
    return [bounds, combined, improvement, degradation]


# --------------------------------------------------------------------------- HOLD bias

NO_HOLD_OUTCOMES = (
    "the trades file records only executed BUY/SELL trades, so no HOLD signal has an "
    "outcome to judge"
)
"""Why ``run`` proposes no HOLD bias under the current trades contract."""


@attrs.frozen
class HoldEvidence:
    """Judged HOLD signals: the confidence each had and whether holding was right.

    Build it with :meth:`from_signals` (evidence) or :meth:`none` (no evidence,
    with the reason). ``confidence`` is what the runtime passes to
    ``apply_hold_bias``: the HOLD signal's calibrated confidence. ``held_right``
    is 1.0 where not trading was the right decision (for example, the trade the
    ensemble declined would have lost) and 0.0 otherwise. Rows are sorted by
    time, oldest first.
    """

    confidence: npt.NDArray[np.float64] = attrs.field(eq=_ARRAY_FIELD, repr=False)
    held_right: npt.NDArray[np.float64] = attrs.field(eq=_ARRAY_FIELD, repr=False)
    missing_reason: str = ""

    @classmethod
    def none(cls, reason: str = NO_HOLD_OUTCOMES) -> HoldEvidence:
        """Return "no evidence", with the reason the report gives."""
        if not reason:
            raise InvalidInputError("reason must say why there is no HOLD evidence")
        empty = np.empty(0, dtype=np.float64)
        return cls(empty, empty, reason)

    @classmethod
    def from_signals(cls, confidence: npt.ArrayLike, held_right: npt.ArrayLike) -> HoldEvidence:
        """Validate judged HOLD signals.

        Parameters
        ----------
        confidence : array_like of float, shape (n,)
            HOLD-signal confidence in [0, 1], time-sorted.
        held_right : array_like of bool, shape (n,)
            Whether holding was right.

        Returns
        -------
        HoldEvidence

        Raises
        ------
        InvalidInputError
            If a confidence is outside [0, 1] or the shapes differ.
        """
        c = _as_unit_column(confidence, "confidence").copy()
        right = np.asarray(held_right)
        if right.shape != c.shape or (right.size and right.dtype != np.bool_):
            raise InvalidInputError(
                f"held_right must be booleans of shape {c.shape} (got {right.dtype} {right.shape})"
            )
        return cls(c, right.astype(np.float64))

    @property
    def n_signals(self) -> int:
        """Judged HOLD signals."""
        return int(self.confidence.size)


@attrs.frozen
class HoldBiasAnalysis:
    """What the HOLD-bias estimate found; the ``hold_bias`` config section follows from it.

    Attributes
    ----------
    enabled : bool
        Whether the proposed config enables the bias.
    bias : float
        The bounded bias (0.0 when none was estimated), ``|bias| <= 0.15``.
    reason : str
        One line: why (not).
    n_signals : int
        Judged HOLD signals in the evidence.
    estimated_bias : float
        ``mean(held_right - confidence)`` before the bound (NaN when none).
    n_folds, n_evaluated : int
        Out-of-sample folds and held-out signals.
    brier_before, brier_after : float
        Pooled held-out MSE without and with the fold's bias.
    """

    enabled: bool
    bias: float
    reason: str
    n_signals: int = 0
    estimated_bias: float = math.nan
    n_folds: int = 0
    n_evaluated: int = 0
    brier_before: float = math.nan
    brier_after: float = math.nan

    @property
    def evaluated(self) -> bool:
        """Whether there was enough evidence to estimate and validate a bias."""
        return not math.isnan(self.estimated_bias)

    @property
    def improvement(self) -> float:
        """Pooled relative held-out MSE reduction (NaN when not evaluated)."""
        return _relative_improvement(self.brier_before, self.brier_after)

    def section(self) -> HoldBias:
        """Return the proposed ``hold_bias`` config section."""
        return HoldBias(enabled=self.enabled, bias=self.bias)


def _hold_bias_of(c: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[float, float]:
    estimated = float(np.mean(y - c))
    return estimated, min(MAX_HOLD_BIAS, max(-MAX_HOLD_BIAS, estimated))


def propose_hold_bias(
    evidence: HoldEvidence,
    *,
    n_folds: int = DEFAULT_OOS_FOLDS,
    min_fold_trades: int = MIN_FOLD_TRADES,
) -> HoldBiasAnalysis:
    """Estimate a bounded additive HOLD bias, gated on an out-of-sample improvement.

    Parameters
    ----------
    evidence : HoldEvidence
        Judged HOLD signals, or :meth:`HoldEvidence.none` with the reason.
    n_folds, min_fold_trades : int, optional
        As for :func:`evaluate_out_of_sample`.

    Returns
    -------
    HoldBiasAnalysis
        Disabled, with the reason, without evidence or with fewer than
        ``MIN_TRADES_FOR_CALIBRATION`` signals, or when the held-out gain is
        below ``MIN_CONFIDENCE_IMPROVEMENT``.

    Notes
    -----
    The bias is ``clip(mean(y - c), -0.15, 0.15)``, the shift that makes the
    mean HOLD confidence equal the rate at which holding was right. Fold ``i``
    estimates it on the signals before its test chunk and scores
    ``clip(c + b, 0, 1)`` against ``c`` there, as the runtime applies it.
    """
    n = evidence.n_signals
    if n == 0:
        reason = evidence.missing_reason or "the evidence holds no judged HOLD signal"
        return HoldBiasAnalysis(enabled=False, bias=0.0, reason=f"no HOLD bias proposed: {reason}")
    if n < MIN_TRADES_FOR_CALIBRATION:
        return HoldBiasAnalysis(
            enabled=False,
            bias=0.0,
            reason=(
                f"no HOLD bias proposed: only {n} judged HOLD signals, at least "
                f"{MIN_TRADES_FOR_CALIBRATION} are needed"
            ),
            n_signals=n,
        )
    c, y = evidence.confidence, evidence.held_right
    estimated, bias = _hold_bias_of(c, y)
    bounds, note = _fold_plan(n, n_folds, min_fold_trades)
    before_parts, after_parts, held_out = [], [], []
    for i in range(1, len(bounds) - 1):
        stop, test_stop = bounds[i], bounds[i + 1]
        _, fold_bias = _hold_bias_of(c[:stop], y[:stop])
        before_parts.append(c[stop:test_stop])
        after_parts.append(np.clip(c[stop:test_stop] + fold_bias, 0.0, 1.0))
        held_out.append(y[stop:test_stop])
    evaluated = HoldBiasAnalysis(
        enabled=False,
        bias=bias,
        reason="",
        n_signals=n,
        estimated_bias=estimated,
        n_folds=len(held_out),
    )
    if not held_out:
        return attrs.evolve(evaluated, reason=f"HOLD bias proposed DISABLED: {note}")
    pooled_y = np.concatenate(held_out)
    before, after = _pooled_brier(before_parts, pooled_y), _pooled_brier(after_parts, pooled_y)
    gain = _relative_improvement(before, after)
    enabled = gain >= MIN_CONFIDENCE_IMPROVEMENT
    gain_text = "n/a" if math.isnan(gain) else f"{gain:+.1%}"
    limited = ""
    if bias != estimated:
        limited = f" (estimate {estimated:+.3f} limited to ±{MAX_HOLD_BIAS})"
    reason = (
        f"HOLD bias {bias:+.3f}{limited}{'' if enabled else ' proposed DISABLED'}: "
        f"out-of-sample MSE improvement {gain_text} over {pooled_y.size} held-out HOLD "
        f"signals {'meets' if enabled else 'is below'} the {MIN_CONFIDENCE_IMPROVEMENT:.0%} "
        "minimum"
    )
    return attrs.evolve(
        evaluated,
        enabled=enabled,
        reason=reason,
        n_evaluated=int(pooled_y.size),
        brier_before=before,
        brier_after=after,
    )


def _hold_bias_checks(analysis: HoldBiasAnalysis) -> list[CheckResult]:
    if not analysis.evaluated:
        return []
    bound = check_confidence_change_bound(abs(analysis.bias))
    checks = [
        attrs.evolve(
            bound,
            name="hold_bias_bound",
            message=f"HOLD bias {analysis.bias:+.4f}: {bound.message}",
        ),
        _improvement_check(
            "hold_bias_improvement", "the HOLD bias is", analysis.brier_before, analysis.brier_after
        ),
    ]
    if analysis.n_evaluated:
        # What would be deployed: a disabled bias leaves the HOLD confidence unchanged.
        after = analysis.brier_after if analysis.enabled else analysis.brier_before
        checks.append(
            check_no_degradation(
                "hold_oos_brier", analysis.brier_before, after, higher_is_better=False
            )
        )
    return checks


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
    reliability_raw_same_trades : ReliabilityTable or None
        Raw confidence on exactly the trades of ``reliability_calibrated`` (the
        held-out trades when folds were possible), so that the picture compares
        raw and calibrated on the same trades.
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
    per_symbol : PerSymbolAnalysis
        Which symbols keep a map of their own (or that none was requested).
    consensus : ConsensusAnalysis
        The consensus multipliers and their out-of-sample gate.
    hold_bias : HoldBiasAnalysis
        The HOLD bias, or why none is proposed.
    weights_carried_over : bool
        The live config's enabled weights are kept, unchanged, because no weight
        change is proposed for the same models.
    confidence_gate : GateEvidence or None
        The map's out-of-sample gate (gain, lower bound, trades used); None
        when no fold was possible.
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
    per_symbol: PerSymbolAnalysis = attrs.field(
        factory=lambda: PerSymbolAnalysis(requested=False, reason=PER_SYMBOL_NOT_REQUESTED)
    )
    consensus: ConsensusAnalysis = attrs.field(
        factory=lambda: consensus_unavailable("consensus multipliers were not evaluated")
    )
    hold_bias: HoldBiasAnalysis = attrs.field(
        factory=lambda: propose_hold_bias(HoldEvidence.none())
    )
    weights_carried_over: bool = False
    confidence_gate: GateEvidence | None = None
    reliability_raw_same_trades: ReliabilityTable | None = attrs.field(default=None, repr=False)

    @property
    def acceptable(self) -> bool:
        """Whether the job may wait for approval (``pending_approval``) rather than be rejected."""
        return not self.rejection_reasons

    @property
    def changes_something(self) -> bool:
        """Whether the proposed config enables something new.

        The map, new weights, per-symbol maps, consensus multipliers or a HOLD
        bias; live weights carried over unchanged are not a change.
        """
        config = self.config
        return (
            self.confidence_enabled
            or (self.weights_enabled and not self.weights_carried_over)
            or config.per_symbol.enabled
            or config.consensus.enabled
            or config.hold_bias.enabled
        )

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
) -> tuple[list[CheckResult], bool, str, GateEvidence | None]:
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
    # The gate: >= 5 % AND distinguishable from noise (gate.py, one-sided paired t-test).
    gate = paired_gate(oos.raw, oos.calibrated, oos.outcomes) if oos.available else None
    enabled = bool(improvement.passed) and gate is not None and gate.passed
    gain = _relative_improvement(mse_before, mse_after)
    gain_text = "n/a" if math.isnan(gain) else f"{gain:+.1%}"
    if not oos.available or gate is None:
        reason = oos.note
    elif enabled:
        reason = (
            f"out-of-sample MSE improvement {gain_text} over {oos.n_evaluated} held-out "
            f"trades meets the {MIN_CONFIDENCE_IMPROVEMENT:.0%} minimum and is "
            f"distinguishable from noise ({gate.summary()})"
        )
    elif not improvement.passed:
        reason = (
            f"out-of-sample MSE improvement {gain_text} over {oos.n_evaluated} "
            f"held-out trades is below the {MIN_CONFIDENCE_IMPROVEMENT:.0%} minimum"
        )
    else:
        reason = (
            f"out-of-sample MSE improvement {gain_text} over {oos.n_evaluated} held-out "
            f"trades meets the {MIN_CONFIDENCE_IMPROVEMENT:.0%} minimum but is "
            f"{gate.noise_text()} (95% lower bound {gate.gain_lower:+.1%})"
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
    return checks, enabled, reason, gate


def _weight_checks(weights: WeightAnalysis) -> list[CheckResult]:
    proposal = weights.proposal
    if proposal is None or weights.vote_before is None or weights.vote_after is None:
        return []
    before, after = proposal.before_dict(), proposal.after_dict()
    precision_before = weights.vote_before.precision
    precision_after = weights.vote_after.precision
    if math.isnan(precision_before) and not math.isnan(precision_after):
        # The current weights decided no vote (every vote a tie): there is nothing to
        # degrade from, so the check compares the proposal with itself and records
        # its real precision. A NaN *after* stays NaN, and the check then fails.
        precision_before = precision_after
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
    symbol_codes: npt.ArrayLike | None = None,
    symbol_names: Sequence[str] = (),
    per_symbol: bool = False,
    consensus_count: npt.ArrayLike | None = None,
    hold_evidence: HoldEvidence | None = None,
    progress: Callable[[str, int, int], None] | None = None,
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
        Member votes; also give the number of models per trade for the
        consensus buckets.
    live_config : CalibrationConfig or None, optional
        The live config: its weights are the starting point when they cover
        exactly the models in the trades.
    forced : bool, optional
        The authorization gate was overridden.
    newest_trade_age_hours : float, optional
        How old the newest trade was when the job ran.
    n_folds, min_fold_trades : int, optional
        See :func:`evaluate_out_of_sample`.
    symbol_codes : array_like of int, shape (n,), optional
        Index into ``symbol_names`` per trade; needed with ``per_symbol``.
    symbol_names : sequence of str, optional
        The symbols.
    per_symbol : bool, optional
        Evaluate one map per symbol (``run --per-symbol``).
    consensus_count : array_like of int, shape (n,), optional
        Models that voted with the trade's side, negative where not recorded.
    hold_evidence : HoldEvidence, optional
        Judged HOLD signals; default :meth:`HoldEvidence.none` (the trades
        file records no HOLD outcome).
    progress : callable, optional
        Called as ``progress(step, done, total)`` during the long steps (the
        out-of-sample folds, the per-symbol maps); the CLI draws it on a terminal.

    Returns
    -------
    Proposal

    Raises
    ------
    InvalidInputError
        If a column is malformed, or ``per_symbol`` is asked without symbols.
    ConfigRejectedError
        If the proposed config would not validate (a bug: every part is bounded).

    Notes
    -----
    The map is enabled only when the out-of-sample MSE improvement is at
    least ``MIN_CONFIDENCE_IMPROVEMENT`` and distinguishable from noise (the
    one-sided paired t-test of :func:`calibration_core.core.gate.paired_gate`); the
    weights only when a change is proposed and every weight check passed, or
    carried over unchanged when the live config enables weights for the same
    models and no change is proposed. Per-symbol maps, consensus multipliers and the HOLD bias each
    pass their own out-of-sample gate (see their functions). The job is
    rejected when validation fails, the risk blocks deployment, or nothing
    would change.
    """
    x = _as_unit_column(confidence, "confidence")
    pnl = _as_finite_column(pnl_pct, "pnl_pct", x.size)
    wins = pnl > 0.0
    y = wins.astype(np.float64)
    n = int(x.size)
    n_wins, n_losses = int(wins.sum()), int((pnl < 0.0).sum())
    n_neutral = int((np.abs(pnl) < NEUTRAL_PNL_BAND_PCT).sum())
    if per_symbol and symbol_codes is None:
        raise InvalidInputError("per_symbol needs symbol_codes and symbol_names")

    checks: list[CheckResult] = [
        check_min_trades(n),
        check_outcome_diversity(n_wins, n_losses, n),
    ]
    if n == 0:
        raise InvalidInputError("confidence must hold at least one trade (got 0)")
    bounded = bound_confidence_change(fit_isotonic(x, y), MAX_CONFIDENCE_CHANGE)
    fitted = np.asarray(bounded.predict(x), dtype=np.float64)
    in_sample = compare_metrics(x, fitted, y, label="in-sample (optimistic)")
    oos = evaluate_out_of_sample(
        x, y, n_folds=n_folds, min_fold_trades=min_fold_trades, progress=progress
    )
    confidence_checks, confidence_enabled, confidence_reason, confidence_gate = _confidence_checks(
        oos, in_sample, bounded
    )
    if (no_spread := confidence_spread_problem(x)) is not None:
        # Whatever a fit scores on such a column, it learned no ranking: refuse the map,
        # and let the weights be analysed on their own.
        confidence_enabled = False
        confidence_reason = f"confidence map refused: {no_spread}"
    checks.extend(confidence_checks)

    weights = _analyze_weights(model_names, model_actions, sides, wins, live_config)
    weight_checks = _weight_checks(weights)
    checks.extend(weight_checks)
    weights_enabled = (
        weights.status == WEIGHTS_PROPOSED
        and weights.proposal is not None
        and all(c.passed for c in weight_checks)
    )
    carried = _carried_weights(weights, live_config, weight_checks)
    if carried is not None:
        weights = attrs.evolve(
            weights,
            reason=f"{weights.reason}; the live weights stay enabled, unchanged",
        )

    symbols, consensus, hold, extra_checks = _later_sections(
        x,
        pnl,
        oos,
        calibration=bounded if confidence_enabled else None,
        symbol_codes=symbol_codes if per_symbol else None,
        symbol_names=symbol_names,
        consensus_count=consensus_count,
        model_actions=model_actions,
        hold_evidence=hold_evidence,
        n_folds=n_folds,
        min_fold_trades=min_fold_trades,
        progress=progress,
    )
    checks.extend(extra_checks)
    validation = summarize(checks)

    if oos.available:
        reliability_label = "calibrated, out-of-sample (held-out trades)"
        reliability_calibrated = reliability_table(oos.outcomes, oos.calibrated, n_bins=10)
        reliability_raw_same = reliability_table(oos.outcomes, oos.raw, n_bins=10)
    else:
        reliability_label = "calibrated, in-sample (optimistic)"
        reliability_calibrated = reliability_table(y, fitted, n_bins=RELIABILITY_BINS)
        reliability_raw_same = reliability_table(y, x, n_bins=RELIABILITY_BINS)

    if weights_enabled and weights.proposal is not None:
        weights_section = EnsembleWeights(enabled=True, weights=weights.proposal.after)
    elif carried is not None:
        weights_section = carried
    else:
        weights_section = EnsembleWeights()
    config = CalibrationConfig(
        version=job_id,
        created_at=created_at,
        source_job=job_id,
        data_hash=data_hash,
        based_on_trades=n,
        confidence=_confidence_section(bounded, enabled=confidence_enabled),
        weights=weights_section,
        per_symbol=symbols.section(),
        consensus=consensus.section(),
        hold_bias=hold.section(),
    )
    # Validate it the way approve will read it; a failure here is a bug, not data.
    CalibrationConfig.from_dict(config.to_dict())
    proposal = Proposal(
        n_trades=n,
        n_wins=n_wins,
        n_losses=n_losses,
        n_neutral=n_neutral,
        calibration=bounded,
        out_of_sample=oos,
        in_sample=in_sample,
        mapping=confidence_mapping_table(bounded),
        reliability_raw=reliability_table(y, x, n_bins=RELIABILITY_BINS),
        reliability_calibrated=reliability_calibrated,
        reliability_label=reliability_label,
        reliability_raw_same_trades=reliability_raw_same,
        confidence_enabled=confidence_enabled,
        confidence_reason=confidence_reason,
        weights=weights,
        weights_enabled=weights_enabled or carried is not None,
        validation=validation,
        config=config,
        forced=forced,
        rejection_reasons=(),
        newest_trade_age_hours=newest_trade_age_hours,
        turns_off=_turns_off(live_config, config),
        per_symbol=symbols,
        consensus=consensus,
        hold_bias=hold,
        weights_carried_over=carried is not None,
        confidence_gate=confidence_gate,
    )
    return attrs.evolve(proposal, rejection_reasons=_rejection_reasons(proposal))


def _later_sections(
    x: npt.NDArray[np.float64],
    pnl: npt.NDArray[np.float64],
    oos: OutOfSampleResult,
    *,
    calibration: IsotonicCalibration | None,
    symbol_codes: npt.ArrayLike | None,
    symbol_names: Sequence[str],
    consensus_count: npt.ArrayLike | None,
    model_actions: npt.ArrayLike | None,
    hold_evidence: HoldEvidence | None,
    n_folds: int,
    min_fold_trades: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[PerSymbolAnalysis, ConsensusAnalysis, HoldBiasAnalysis, list[CheckResult]]:
    # Per-symbol maps, consensus multipliers and the HOLD bias with their checks.
    # ``calibration`` is the global map when the proposal enables it, else None.
    if symbol_codes is not None:
        symbols = evaluate_per_symbol(
            x,
            pnl,
            symbol_codes,
            symbol_names,
            global_enabled=calibration is not None,
            n_folds=n_folds,
            min_fold_trades=min_fold_trades,
            progress=progress,
        )
    else:
        symbols = PerSymbolAnalysis(requested=False, reason=PER_SYMBOL_NOT_REQUESTED)
    checks = _per_symbol_checks(symbols)
    consensus = _analyze_consensus(
        x,
        (pnl > 0.0).astype(np.float64),
        consensus_count,
        model_actions,
        calibration=calibration,
        symbol_maps=[k.calibration for k in symbols.kept if k.calibration is not None]
        if symbols.enabled
        else [],
        out_of_sample=oos,
        n_folds=n_folds,
        min_fold_trades=min_fold_trades,
    )
    consensus_checks = _consensus_checks(consensus)
    checks.extend(consensus_checks)
    if consensus.enabled and not all(c.passed for c in consensus_checks):
        consensus = attrs.evolve(
            consensus,
            enabled=False,
            reason=f"{consensus.reason}, but a consensus check failed; proposed DISABLED",
        )
    hold = propose_hold_bias(
        HoldEvidence.none() if hold_evidence is None else hold_evidence,
        n_folds=n_folds,
        min_fold_trades=min_fold_trades,
    )
    checks.extend(_hold_bias_checks(hold))
    return symbols, consensus, hold, checks


def _carried_weights(
    weights: WeightAnalysis,
    live_config: CalibrationConfig | None,
    weight_checks: Sequence[CheckResult],
) -> EnsembleWeights | None:
    # No change proposed for exactly the live models: keep the live section as it is,
    # instead of proposing "weights disabled" and so switching off what is live.
    if (
        live_config is None
        or not live_config.weights.enabled
        or weights.status != WEIGHTS_NO_CHANGE
        or weights.proposal is None
        or not all(c.passed for c in weight_checks)
    ):
        return None
    live = live_config.weights_dict()
    if set(live) != {name for name, _ in weights.proposal.before} or any(
        live[name] != w for name, w in weights.proposal.before
    ):
        return None
    return live_config.weights


def _analyze_consensus(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    consensus_count: npt.ArrayLike | None,
    model_actions: npt.ArrayLike | None,
    *,
    calibration: IsotonicCalibration | None,
    symbol_maps: Sequence[IsotonicCalibration],
    out_of_sample: OutOfSampleResult,
    n_folds: int,
    min_fold_trades: int,
) -> ConsensusAnalysis:
    counts = None if consensus_count is None else np.asarray(consensus_count)
    if counts is None or counts.size == 0 or not bool((counts >= 0).any()):
        return consensus_unavailable(
            "the trades carry no consensus_count, so there is no outcome per consensus "
            "bucket to estimate a multiplier from"
        )
    if counts.shape != x.shape:
        raise InvalidInputError(f"consensus_count must have shape {x.shape} (got {counts.shape})")
    if model_actions is None:
        return consensus_unavailable(
            "the trades carry consensus_count but no model_breakdown, so the number of "
            "models that voted (the bucket's denominator) is unknown"
        )
    codes = consensus_bucket_codes(counts, model_actions)
    return evaluate_consensus(
        x,
        y,
        codes,
        calibration=calibration,
        symbol_maps=symbol_maps,
        out_of_sample=out_of_sample,
        n_folds=n_folds,
        min_fold_trades=min_fold_trades,
    )


def _turns_off(live: CalibrationConfig | None, proposed: CalibrationConfig) -> tuple[str, ...]:
    # Every section the live config enables and the proposal does not: never silently.
    if live is None:
        return ()
    sections = (
        ("the confidence map", live.confidence.enabled, proposed.confidence.enabled),
        ("the ensemble weights", live.weights.enabled, proposed.weights.enabled),
        ("the per-symbol maps", live.per_symbol.enabled, proposed.per_symbol.enabled),
        ("the consensus multipliers", live.consensus.enabled, proposed.consensus.enabled),
        ("the HOLD bias", live.hold_bias.enabled, proposed.hold_bias.enabled),
    )
    off = [name for name, was_on, is_on in sections if was_on and not is_on]
    if live.per_symbol.enabled and proposed.per_symbol.enabled:
        dropped = sorted(
            {s for s, m in live.per_symbol.maps if m.enabled}
            - {s for s, m in proposed.per_symbol.maps if m.enabled}
        )
        if dropped:
            off.append(f"the per-symbol maps of {', '.join(dropped)}")
    return tuple(off)


def _rejection_reasons(proposal: Proposal) -> tuple[str, ...]:
    validation = proposal.validation
    rejection: list[str] = []
    if not validation.passed:
        failed = ", ".join(c.name for c in validation.checks if not c.passed)
        rejection.append(f"validation failed ({failed})")
    if validation.risk.blocks_deployment:
        rejection.append(
            f"risk {validation.risk.score:.1%} is {validation.risk.category}: deployment blocked"
        )
    if not proposal.changes_something:
        rejection.append(
            "nothing to apply: the confidence map is disabled, no weight change is proposed, "
            "and no per-symbol map, consensus multiplier or HOLD bias is enabled"
        )
    return tuple(rejection)


def confidence_spread_problem(confidence: npt.ArrayLike) -> str | None:
    """Say why a confidence column cannot carry a map, naming the values seen; None if it can.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Raw confidence.

    Returns
    -------
    str or None
        One line when there are fewer than ``MIN_CONFIDENCE_VALUES`` distinct
        values or they span less than ``MIN_CONFIDENCE_SPAN``; None otherwise
        (and for no trades, which other rules refuse).
    """
    values = np.unique(np.asarray(confidence, dtype=np.float64))
    if values.size == 0:
        return None
    span = float(values[-1] - values[0])
    if values.size >= MIN_CONFIDENCE_VALUES and span >= MIN_CONFIDENCE_SPAN:
        return None
    shown = ", ".join(f"{v:g}" for v in values[:_SPREAD_VALUES_SHOWN].tolist())
    if values.size > _SPREAD_VALUES_SHOWN:
        shown += ", ..."
    if values.size < MIN_CONFIDENCE_VALUES:
        plural = "value" if values.size == 1 else "values"
        return (
            f"confidence takes only {values.size} distinct {plural} ({shown}); at least "
            f"{MIN_CONFIDENCE_VALUES} spanning {MIN_CONFIDENCE_SPAN} are needed to learn a map"
        )
    return (
        f"confidence spans only {span:.4f} ({values[0]:g} to {values[-1]:g}); at least "
        f"{MIN_CONFIDENCE_SPAN} is needed to learn a map"
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
