"""The calibration proposal: every section of one job, its checks and its recommendation."""

# Pure: imports only math, numpy, attrs and calibration_core's pure modules (constants,
# exceptions, gate, isotonic, metrics, validation and the proposal's sections: holdout,
# ensemble, per_symbol, consensus) plus config.py to build the proposed config.

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
import numpy as np

from calibration_core.config import CalibrationConfig, EnsembleWeights
from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MIN_CONFIDENCE_IMPROVEMENT,
    NEUTRAL_PNL_BAND_PCT,
)
from calibration_core.core.consensus import (
    ConsensusAnalysis,
    consensus_checks,
    consensus_from_trades,
    consensus_unavailable,
)
from calibration_core.core.ensemble import (
    WEIGHTS_NO_CHANGE,
    WEIGHTS_PROPOSED,
    WeightAnalysis,
    analyze_weights,
    weight_checks,
)
from calibration_core.core.gate import GateEvidence, paired_gate
from calibration_core.core.holdout import (
    DEFAULT_OOS_FOLDS,
    MIN_FOLD_TRADES,
    RELIABILITY_BINS,
    MappingRow,
    MetricsComparison,
    OutOfSampleResult,
    as_finite_column,
    as_unit_column,
    compare_metrics,
    confidence_mapping_table,
    evaluate_out_of_sample,
    relative_improvement,
)
from calibration_core.core.isotonic import (
    IsotonicCalibration,
    bound_confidence_change,
    fit_isotonic,
)
from calibration_core.core.metrics import ReliabilityTable, reliability_table
from calibration_core.core.per_symbol import (
    PER_SYMBOL_NOT_REQUESTED,
    PerSymbolAnalysis,
    confidence_section,
    evaluate_per_symbol,
    per_symbol_checks,
)
from calibration_core.core.validation import (
    CheckResult,
    ValidationReport,
    check_confidence_change_bound,
    check_confidence_improvement,
    check_min_trades,
    check_no_degradation,
    check_outcome_diversity,
    summarize,
)
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

__all__ = [
    "MIN_CONFIDENCE_SPAN",
    "MIN_CONFIDENCE_VALUES",
    "STALE_DATA_HOURS",
    "Proposal",
    "build_proposal",
    "confidence_spread_problem",
    "format_age",
    "trade_age_hours",
]

STALE_DATA_HOURS = 24.0
"""A newest trade older than this when the job runs is flagged in the report."""

# A confidence column with fewer distinct values, or a narrower range, carries
# no ranking to learn a map from (the real recorder writes 0.7 on every close).
MIN_CONFIDENCE_VALUES = 5
MIN_CONFIDENCE_SPAN = 0.02
_SPREAD_VALUES_SHOWN = 5
_SECONDS_PER_HOUR = 3600.0


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

        The map, new weights, per-symbol maps or consensus multipliers; live
        weights carried over unchanged are not a change.
        """
        config = self.config
        return (
            self.confidence_enabled
            or (self.weights_enabled and not self.weights_carried_over)
            or config.per_symbol.enabled
            or config.consensus.enabled
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
    gain = relative_improvement(mse_before, mse_after)
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
    deployed = mse_after if enabled else mse_before
    checks.append(check_no_degradation("oos_brier", mse_before, deployed, higher_is_better=False))
    return checks, enabled, reason, gate


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
    models and no change is proposed. Per-symbol maps and consensus multipliers each
    pass their own out-of-sample gate (see their functions). The job is
    rejected when validation fails, the risk blocks deployment, or nothing
    would change.
    """
    x = as_unit_column(confidence, "confidence")
    pnl = as_finite_column(pnl_pct, "pnl_pct", x.size)
    wins = pnl > 0.0
    n = int(x.size)
    n_wins, n_losses = int(wins.sum()), int((pnl < 0.0).sum())
    if per_symbol and symbol_codes is None:
        raise InvalidInputError("per_symbol needs symbol_codes and symbol_names")
    if n == 0:
        raise InvalidInputError("confidence must hold at least one trade (got 0)")

    step = _confidence_step(x, wins.astype(np.float64), n_folds, min_fold_trades, progress)
    weights, checks_of_weights, carried = _weights_step(
        model_names, model_actions, sides, wins, live_config
    )
    weights_enabled = (
        weights.status == WEIGHTS_PROPOSED
        and weights.proposal is not None
        and all(c.passed for c in checks_of_weights)
    )
    symbols, consensus, later_checks = _later_sections(
        x,
        pnl,
        step.out_of_sample,
        calibration=step.calibration if step.enabled else None,
        symbol_codes=symbol_codes if per_symbol else None,
        symbol_names=symbol_names,
        consensus_count=consensus_count,
        model_actions=model_actions,
        n_folds=n_folds,
        min_fold_trades=min_fold_trades,
        progress=progress,
    )
    validation = summarize(
        [
            check_min_trades(n),
            check_outcome_diversity(n_wins, n_losses, n),
            *step.checks,
            *checks_of_weights,
            *later_checks,
        ]
    )
    if weights_enabled and weights.proposal is not None:
        weights_section = EnsembleWeights(enabled=True, weights=weights.proposal.after)
    else:
        weights_section = carried if carried is not None else EnsembleWeights()
    config = CalibrationConfig(
        version=job_id,
        created_at=created_at,
        source_job=job_id,
        data_hash=data_hash,
        based_on_trades=n,
        confidence=confidence_section(step.calibration, enabled=step.enabled),
        weights=weights_section,
        per_symbol=symbols.section(),
        consensus=consensus.section(),
    )
    # Validate it the way approve will read it; a failure here is a bug, not data.
    CalibrationConfig.from_dict(config.to_dict())
    proposal = Proposal(
        n_trades=n,
        n_wins=n_wins,
        n_losses=n_losses,
        n_neutral=int((np.abs(pnl) < NEUTRAL_PNL_BAND_PCT).sum()),
        calibration=step.calibration,
        out_of_sample=step.out_of_sample,
        in_sample=step.in_sample,
        mapping=confidence_mapping_table(step.calibration),
        reliability_raw=step.reliability_raw,
        reliability_calibrated=step.reliability_calibrated,
        reliability_label=step.reliability_label,
        reliability_raw_same_trades=step.reliability_raw_same_trades,
        confidence_enabled=step.enabled,
        confidence_reason=step.reason,
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
        weights_carried_over=carried is not None,
        confidence_gate=step.gate,
    )
    return attrs.evolve(proposal, rejection_reasons=_rejection_reasons(proposal))


@attrs.frozen
class _ConfidenceStep:
    # The global map of one job: fitted on all trades, scored in and out of sample,
    # checked, and enabled or not (with the reason), plus its reliability tables.
    calibration: IsotonicCalibration
    out_of_sample: OutOfSampleResult
    in_sample: MetricsComparison
    checks: tuple[CheckResult, ...]
    enabled: bool
    reason: str
    gate: GateEvidence | None
    reliability_raw: ReliabilityTable
    reliability_calibrated: ReliabilityTable
    reliability_label: str
    reliability_raw_same_trades: ReliabilityTable


def _confidence_step(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    n_folds: int,
    min_fold_trades: int,
    progress: Callable[[str, int, int], None] | None,
) -> _ConfidenceStep:
    bounded = bound_confidence_change(fit_isotonic(x, y), MAX_CONFIDENCE_CHANGE)
    fitted = np.asarray(bounded.predict(x), dtype=np.float64)
    in_sample = compare_metrics(x, fitted, y, label="in-sample (optimistic)")
    oos = evaluate_out_of_sample(
        x, y, n_folds=n_folds, min_fold_trades=min_fold_trades, progress=progress
    )
    checks, enabled, reason, gate = _confidence_checks(oos, in_sample, bounded)
    if (no_spread := confidence_spread_problem(x)) is not None:
        # Whatever a fit scores on such a column, it learned no ranking: refuse the map,
        # and let the weights be analysed on their own.
        enabled = False
        reason = f"confidence map refused: {no_spread}"
    if oos.available:
        label = "calibrated, out-of-sample (held-out trades)"
        calibrated = reliability_table(oos.outcomes, oos.calibrated, n_bins=RELIABILITY_BINS)
        raw_same = reliability_table(oos.outcomes, oos.raw, n_bins=RELIABILITY_BINS)
    else:
        label = "calibrated, in-sample (optimistic)"
        calibrated = reliability_table(y, fitted, n_bins=RELIABILITY_BINS)
        raw_same = reliability_table(y, x, n_bins=RELIABILITY_BINS)
    return _ConfidenceStep(
        calibration=bounded,
        out_of_sample=oos,
        in_sample=in_sample,
        checks=tuple(checks),
        enabled=enabled,
        reason=reason,
        gate=gate,
        reliability_raw=reliability_table(y, x, n_bins=RELIABILITY_BINS),
        reliability_calibrated=calibrated,
        reliability_label=label,
        reliability_raw_same_trades=raw_same,
    )


def _weights_step(
    model_names: Sequence[str],
    model_actions: npt.ArrayLike | None,
    sides: npt.ArrayLike | None,
    wins: npt.NDArray[np.bool_],
    live_config: CalibrationConfig | None,
) -> tuple[WeightAnalysis, list[CheckResult], EnsembleWeights | None]:
    # The weight analysis, its checks, and the live section when it is carried over.
    weights = analyze_weights(model_names, model_actions, sides, wins, live_config)
    checks = weight_checks(weights)
    carried = _carried_weights(weights, live_config, checks)
    if carried is not None:
        weights = attrs.evolve(
            weights,
            reason=f"{weights.reason}; the live weights stay enabled, unchanged",
        )
    return weights, checks, carried


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
    n_folds: int,
    min_fold_trades: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[PerSymbolAnalysis, ConsensusAnalysis, list[CheckResult]]:
    # Per-symbol maps and consensus multipliers with their checks.
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
    checks = per_symbol_checks(symbols)
    consensus = consensus_from_trades(
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
    of_consensus = consensus_checks(consensus)
    checks.extend(of_consensus)
    if consensus.enabled and not all(c.passed for c in of_consensus):
        consensus = attrs.evolve(
            consensus,
            enabled=False,
            reason=f"{consensus.reason}, but a consensus check failed; proposed DISABLED",
        )
    return symbols, consensus, checks


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


def _turns_off(live: CalibrationConfig | None, proposed: CalibrationConfig) -> tuple[str, ...]:
    # Every section the live config enables and the proposal does not: never silently.
    if live is None:
        return ()
    sections = (
        ("the confidence map", live.confidence.enabled, proposed.confidence.enabled),
        ("the ensemble weights", live.weights.enabled, proposed.weights.enabled),
        ("the per-symbol maps", live.per_symbol.enabled, proposed.per_symbol.enabled),
        ("the consensus multipliers", live.consensus.enabled, proposed.consensus.enabled),
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
            "and no per-symbol map or consensus multiplier is enabled"
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
