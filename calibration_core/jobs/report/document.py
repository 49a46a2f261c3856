"""The review report of a calibration job as a JSON-ready document, and the analyze export."""

# No I/O: the document is a pure function of the proposal and the job's context
# (which carries the integrity summary); markdown.py renders it, files.py writes it.

from __future__ import annotations

import csv
import io
import json
import math
from typing import TYPE_CHECKING, Any

import attrs

from calibration_core.config import MAX_CONSENSUS_MULTIPLIER, MIN_CONSENSUS_MULTIPLIER
from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MIN_CONFIDENCE_IMPROVEMENT,
    MIN_OUTCOME_DIVERSITY,
    MIN_TRADES_FOR_CALIBRATION,
)
from calibration_core.core.consensus import CONSENSUS_SHRINKAGE_TRADES
from calibration_core.core.holdout import MIN_FOLD_TRADES, RELIABILITY_BINS
from calibration_core.core.proposal import STALE_DATA_HOURS, format_age

if TYPE_CHECKING:
    from collections.abc import Mapping

    from calibration_core.core.confidence_stats import ConfidenceAnalysis
    from calibration_core.core.holdout import MetricsComparison
    from calibration_core.core.metrics import ReliabilityTable
    from calibration_core.core.proposal import Proposal
    from calibration_core.sources.integrity import IntegritySummary

__all__ = [
    "ANALYSIS_SCHEMA_VERSION",
    "REPORT_SCHEMA",
    "REPORT_SCHEMA_VERSION",
    "ReportContext",
    "analysis_csv",
    "analysis_document",
    "build_report_document",
    "integrity_to_dict",
    "render_json",
    "validate_report_document",
]

REPORT_SCHEMA_VERSION = 2
"""Version of the JSON export's layout (docs/report_schema.md); bumped on incompatible changes."""

_SCHEMA_KEYS = {
    "job": "job_id created_at status forced deployable data_path data_hash base_version "
    "base_config_sha256 live_config_note",
    "summary": "recommendation reasons n_trades oos_mse_improvement in_sample_mse_improvement "
    "confidence_map_enabled weights_enabled weights_carried_over per_symbol_enabled "
    "consensus_enabled validation_passed risk_score risk_category max_confidence_change "
    "newest_trade_age_hours stale_data",
    "data": "n_trades n_symbols symbols wins losses neutral zero_pnl win_rate loss_rate "
    "neutral_rate first_timestamp last_timestamp span_days warnings problems",
    "authorization": "status ready reason allowed_actions levels api forced",
    "metrics": "out_of_sample in_sample",
    "confidence_map": "enabled reason method max_change max_abs_change n_knots table gate",
    "reliability": "picture picture_note n_bins raw calibrated",
    "weights": "status enabled reason current_source vote_precision_before vote_precision_after "
    "total_abs_change ensemble_precision changes carried_over",
    "per_symbol": "requested enabled reason rule fallback symbols",
    "consensus": "available enabled reason baseline rule shrinkage_trades n_trades_bucketed "
    "n_trades_unbucketed oos_mse_before oos_mse_after oos_mse_improvement max_abs_change "
    "buckets folds gate",
    "validation": "passed checks",
    "risk": "score category blocks_deployment formula critical_failures error_failures "
    "warning_failures total_checks",
    "do_not_apply_if": "triggered conditions",
    "deployment": "deployable approve rollback rollback_to_version notes",
    "proposed_config": "schema_version version created_at source_job data_hash "
    "confidence_calibration ensemble_weights per_symbol consensus_multipliers",
}
REPORT_SCHEMA: dict[str, tuple[str, ...]] = {
    section: tuple(keys.split()) for section, keys in _SCHEMA_KEYS.items()
}
"""Top-level object → keys it must hold; besides these the document has
``report_schema_version`` (int) and ``kind`` (``"calibration_report"``)."""


@attrs.frozen
class ReportContext:
    """What the report needs besides the proposal: the job's identity and surroundings.

    Attributes
    ----------
    job_id, created_at, status : str
        The job record's fields.
    data_path : str
        The trades file the job read.
    data : dict
        The integrity summary (:func:`integrity_to_dict`).
    authorization : dict
        Readiness: ``status``, ``ready``, ``reason``, ``allowed_actions``,
        ``levels`` (list of dicts), ``api`` (dict or None), ``forced``.
    base_version, base_config_sha256 : str or None
        The live config the proposal was computed against.
    live_config_note : str
        One line about the live config (none, read, unreadable and why).
    picture : str or None
        File name of the reliability diagram next to the report, or None.
    picture_note : str
        Why there is no picture, or "".
    approve_command, rollback_command : str
        The exact commands, with the path flags the job was run with.
    rollback_to_command : str or None
        ``rollback <base_version>`` when a base version is known.
    """

    job_id: str
    created_at: str
    status: str
    data_path: str
    data: dict[str, Any]
    authorization: dict[str, Any]
    base_version: str | None
    base_config_sha256: str | None
    live_config_note: str
    picture: str | None
    picture_note: str
    approve_command: str
    rollback_command: str
    rollback_to_command: str | None = None


def integrity_to_dict(summary: IntegritySummary) -> dict[str, Any]:
    """Return the JSON-ready data summary (from ``trades.summarize_integrity``)."""
    # The schema's key order is the summary's field order; tuples become lists.
    values = (getattr(summary, key) for key in REPORT_SCHEMA["data"])
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in zip(REPORT_SCHEMA["data"], values, strict=True)
    }


# --------------------------------------------------------------------------- the document


def _num(value: float | None) -> float | None:
    # Strict JSON has no NaN: an undefined number is null.
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return float(value)


def _comparison(comparison: MetricsComparison) -> dict[str, Any]:
    return {
        "label": comparison.label,
        "n_trades": comparison.n_trades,
        "raw": comparison.raw.to_dict(),
        "calibrated": comparison.calibrated.to_dict(),
        "mse_improvement": _num(comparison.mse_improvement),
    }


_BIN_VALUES = ("mean_predicted", "observed_rate", "ci_low", "ci_high")


def _reliability(table: ReliabilityTable, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "n_trades": int(sum(b.count for b in table.bins)),
        "bins": [
            {"lower": float(b.lower), "upper": float(b.upper), "count": int(b.count)}
            | {key: _num(getattr(b, key)) if b.count else None for key in _BIN_VALUES}
            for b in table.bins
        ],
    }


def _weights_section(proposal: Proposal) -> dict[str, Any]:
    analysis = proposal.weights
    weights = analysis.proposal
    before = analysis.vote_before
    after = analysis.vote_after
    return {
        "status": analysis.status,
        "enabled": proposal.weights_enabled,
        "reason": analysis.reason,
        "current_source": analysis.current_source,
        "vote_precision_before": None if before is None else _num(before.precision),
        "vote_precision_after": None if after is None else _num(after.precision),
        "total_abs_change": None if weights is None else weights.total_abs_change,
        "ensemble_precision": None if weights is None else _num(weights.ensemble_precision),
        "carried_over": proposal.weights_carried_over,
        # A change's fields in their order; undefined precisions and z-scores are null.
        "changes": [
            attrs.asdict(c) | {"precision": _num(c.precision), "zscore": _num(c.zscore)}
            for c in (() if weights is None else weights.changes)
        ],
    }


_PER_SYMBOL_RULE = (
    f"a symbol with at least {MIN_TRADES_FOR_CALIBRATION} trades, wins and losses each at "
    f"least {MIN_OUTCOME_DIVERSITY:.0%}, gets its own bounded map only when, on its own "
    "held-out trades (forward-chaining over its trades; the global map refitted each fold on "
    "every trade that closed before the fold's first held-out trade), the map's MSE beats "
    f"the global map's and improves on the fallback's by at least "
    f"{MIN_CONFIDENCE_IMPROVEMENT:.0%}, distinguishable from noise (one-sided paired t-test "
    "at 95 % on the per-trade squared errors); every other symbol uses the global map"
)
_CONSENSUS_RULE = (
    "m = clip(1 + n/(n + k)·(win rate / mean calibrated confidence − 1), "
    f"{MIN_CONSENSUS_MULTIPLIER}, {MAX_CONSENSUS_MULTIPLIER}) per bucket, k = "
    f"{CONSENSUS_SHRINKAGE_TRADES}; enabled only when min(1, c·m) lowers the pooled "
    f"held-out MSE by at least {MIN_CONFIDENCE_IMPROVEMENT:.0%}, distinguishable from noise "
    "(one-sided paired t-test at 95 % on the per-trade squared errors)"
)


def _consensus_section(proposal: Proposal) -> dict[str, Any]:
    analysis = proposal.consensus
    return {
        "available": analysis.available,
        "enabled": proposal.config.consensus.enabled,
        "reason": analysis.reason,
        "baseline": analysis.baseline,
        "rule": _CONSENSUS_RULE,
        "shrinkage_trades": CONSENSUS_SHRINKAGE_TRADES,
        "n_trades_bucketed": analysis.n_bucketed,
        "n_trades_unbucketed": analysis.n_unbucketed,
        "oos_mse_before": _num(analysis.brier_before),
        "oos_mse_after": _num(analysis.brier_after),
        "oos_mse_improvement": _num(analysis.improvement),
        "max_abs_change": analysis.max_abs_change,
        "buckets": [b.to_dict() for b in analysis.buckets],
        "folds": [f.to_dict() for f in analysis.folds],
        "gate": None if analysis.gate is None else analysis.gate.to_dict(),
    }


def _conditions(proposal: Proposal, context: ReportContext) -> list[dict[str, Any]]:
    oos = proposal.out_of_sample
    failed_hard = [
        c.name for c in proposal.validation.checks if not c.passed and c.severity.value != "warning"
    ]
    degraded = [
        c.name
        for c in proposal.validation.checks
        if c.name.startswith("no_degradation") and not c.passed
    ]
    age = proposal.newest_trade_age_hours
    age_text = "unknown" if age is None else format_age(age)
    improvement = oos.improvement
    improvement_text = "not available" if math.isnan(improvement) else f"{improvement:+.1%}"
    base = (
        f"{context.base_version} (sha256 {context.base_config_sha256})"
        if context.base_config_sha256
        else "no readable live config"
    )

    def row(condition: str, this_job: str, *, triggered: bool | None) -> dict[str, Any]:
        # triggered: True/False when the tool can tell, None when only you can.
        return {"condition": condition, "this_job": this_job, "triggered": triggered}

    return [
        row(
            f"the out-of-sample MSE improvement is below {MIN_CONFIDENCE_IMPROVEMENT:.0%} "
            "and the proposal enables the confidence map",
            f"{improvement_text}; map {'enabled' if proposal.confidence_enabled else 'disabled'}",
            triggered=proposal.confidence_enabled
            and not (improvement >= MIN_CONFIDENCE_IMPROVEMENT),
        ),
        row(
            "any CRITICAL or ERROR validation check failed",
            ", ".join(failed_hard) or "none failed",
            triggered=bool(failed_hard),
        ),
        row(
            "any model or metric gets worse (0 % degradation allowed, checklist 2.2)",
            ", ".join(degraded) or "no degradation found",
            triggered=bool(degraded),
        ),
        row(
            "the risk category is high",
            f"{proposal.validation.risk.score:.1%} ({proposal.validation.risk.category})",
            triggered=proposal.validation.risk.blocks_deployment,
        ),
        row(
            "the job was forced past the Learning Cadence gate (--force)",
            "FORCED" if proposal.forced else "not forced",
            triggered=proposal.forced,
        ),
        row(
            "the proposal changes nothing (map disabled, no weight change, no per-symbol map "
            "or consensus multiplier enabled)",
            "changes something" if proposal.changes_something else "changes nothing",
            triggered=not proposal.changes_something,
        ),
        row(
            "deploying it would switch off a section the live config enables",
            ", ".join(proposal.turns_off) or "switches nothing off",
            triggered=bool(proposal.turns_off),
        ),
        row(
            f"the newest trade is more than {STALE_DATA_HOURS:.0f} h old when you approve, "
            "or SimpleCLM shows STARVATION (> 2 h without trades)",
            f"newest trade {context.data.get('last_timestamp')}, {age_text} old when the job ran",
            triggered=True if proposal.stale_data else None,
        ),
        row(
            "the market is extreme (flash crash, trading halt, volume > 300 % of normal) or "
            "the Risk-Safety Service reports HALT",
            "check before approving",
            triggered=None,
        ),
        row(
            "Execution has logged errors in the last hour, or a service of checklist 0.1 "
            "is not ACTIVE",
            "check before approving",
            triggered=None,
        ),
        row(
            "you cannot review the report now and monitor for the next 24 h",
            "your call",
            triggered=None,
        ),
        row(
            "the trades file no longer hashes to this job's data_hash",
            f"job data {proposal.config.data_hash}",
            triggered=None,
        ),
        row(
            "the live config changed since this job ran (approve refuses a stale job)",
            f"computed against {base}",
            triggered=None,
        ),
    ]


def build_report_document(proposal: Proposal, context: ReportContext) -> dict[str, Any]:
    """Assemble the JSON export of one job (schema ``REPORT_SCHEMA_VERSION``).

    Parameters
    ----------
    proposal : Proposal
        What the analysis computed.
    context : ReportContext
        The job's identity, data summary, authorization and commands.

    Returns
    -------
    dict
        JSON-ready (no NaN; undefined numbers are ``None``), with the keys of
        :data:`REPORT_SCHEMA`. :func:`render_markdown` renders it.
    """
    oos = proposal.out_of_sample
    risk = proposal.validation.risk
    conditions = _conditions(proposal, context)
    deployable = proposal.acceptable and not proposal.forced
    notes = []
    if proposal.forced:
        notes.append("FORCED — NOT DEPLOYABLE: approve refuses forced jobs.")
    if not proposal.acceptable:
        notes.append("The job is rejected: approve refuses it.")
    elif deployable and proposal.recommendation != "APPROVE CANDIDATE":
        notes.append(
            "The report says DO NOT APPLY: approve refuses this job unless a person who has "
            'read the report adds --override "<why>" (recorded in the job, the audit trail '
            "and the deployed config)."
        )
    return {
        "report_schema_version": REPORT_SCHEMA_VERSION,
        "kind": "calibration_report",
        "job": {
            "job_id": context.job_id,
            "created_at": context.created_at,
            "status": context.status,
            "forced": proposal.forced,
            "deployable": deployable,
            "data_path": context.data_path,
            "data_hash": proposal.config.data_hash,
            "base_version": context.base_version,
            "base_config_sha256": context.base_config_sha256,
            "live_config_note": context.live_config_note,
        },
        "summary": {
            "recommendation": proposal.recommendation,
            "reasons": list(proposal.do_not_apply_reasons()),
            "n_trades": proposal.n_trades,
            "oos_mse_improvement": _num(oos.improvement),
            "in_sample_mse_improvement": _num(proposal.in_sample.mse_improvement),
            "confidence_map_enabled": proposal.confidence_enabled,
            "weights_enabled": proposal.weights_enabled,
            "weights_carried_over": proposal.weights_carried_over,
            "per_symbol_enabled": proposal.config.per_symbol.enabled,
            "consensus_enabled": proposal.config.consensus.enabled,
            "validation_passed": proposal.validation.passed,
            "risk_score": risk.score,
            "risk_category": risk.category,
            "max_confidence_change": float(proposal.calibration.max_abs_change()),
            "newest_trade_age_hours": _num(proposal.newest_trade_age_hours),
            "stale_data": proposal.stale_data,
        },
        "data": dict(context.data),
        "authorization": dict(context.authorization),
        "metrics": {
            "out_of_sample": {
                "available": oos.available,
                "n_folds": len(oos.folds),
                "n_folds_requested": oos.n_folds_requested,
                "min_fold_trades": MIN_FOLD_TRADES,
                "note": oos.note,
                **_comparison(oos.comparison()),
                "folds": [f.to_dict() for f in oos.folds],
            },
            "in_sample": _comparison(proposal.in_sample),
        },
        "confidence_map": {
            "enabled": proposal.confidence_enabled,
            "reason": proposal.confidence_reason,
            "method": "isotonic",
            "max_change": MAX_CONFIDENCE_CHANGE,
            "max_abs_change": float(proposal.calibration.max_abs_change()),
            "n_knots": len(proposal.config.confidence.thresholds),
            "table": [
                {
                    "predicted": r.predicted,
                    "calibrated": r.calibrated,
                    "adjustment": r.adjustment,
                }
                for r in proposal.mapping
            ],
            "gate": None
            if proposal.confidence_gate is None
            else proposal.confidence_gate.to_dict(),
        },
        "reliability": {
            "picture": context.picture,
            "picture_note": context.picture_note,
            "n_bins": RELIABILITY_BINS,
            "raw": _reliability(proposal.reliability_raw, "raw confidence, all trades"),
            "calibrated": _reliability(proposal.reliability_calibrated, proposal.reliability_label),
        },
        "weights": _weights_section(proposal),
        "per_symbol": {
            "requested": proposal.per_symbol.requested,
            "enabled": proposal.config.per_symbol.enabled,
            "reason": proposal.per_symbol.reason,
            "rule": _PER_SYMBOL_RULE,
            "fallback": "global map" if proposal.confidence_enabled else "raw confidence",
            "symbols": [s.to_dict() for s in proposal.per_symbol.symbols],
        },
        "consensus": _consensus_section(proposal),
        "validation": {
            "passed": proposal.validation.passed,
            "checks": [c.to_dict() for c in proposal.validation.checks],
        },
        "risk": {
            "score": risk.score,
            "category": risk.category,
            "blocks_deployment": risk.blocks_deployment,
            "formula": (
                "(0.5 × critical failures + 0.3 × error failures + 0.1 × warning failures) "
                "/ total checks; low ≤ 0.20 < medium ≤ 0.40 < high (blocks deployment)"
            ),
            "critical_failures": risk.critical_failures,
            "error_failures": risk.error_failures,
            "warning_failures": risk.warning_failures,
            "total_checks": risk.total_checks,
        },
        "do_not_apply_if": {
            "triggered": [c["condition"] for c in conditions if c["triggered"] is True],
            "conditions": conditions,
        },
        "deployment": {
            "deployable": deployable,
            "approve": context.approve_command,
            "rollback": context.rollback_command,
            "rollback_to_version": context.rollback_to_command,
            "notes": notes,
        },
        "proposed_config": proposal.config.to_dict(),
    }


def validate_report_document(document: Mapping[str, Any]) -> list[str]:
    """Return every way ``document`` departs from :data:`REPORT_SCHEMA` (empty when it conforms)."""
    problems: list[str] = []
    if document.get("report_schema_version") != REPORT_SCHEMA_VERSION:
        problems.append(
            f"report_schema_version must be {REPORT_SCHEMA_VERSION} "
            f"(got {document.get('report_schema_version')!r})"
        )
    if document.get("kind") != "calibration_report":
        problems.append(f"kind must be 'calibration_report' (got {document.get('kind')!r})")
    for section, keys in REPORT_SCHEMA.items():
        value = document.get(section)
        if not isinstance(value, dict):
            problems.append(f"{section} must be an object (got {type(value).__name__})")
            continue
        problems.extend(f"{section}.{key} is missing" for key in keys if key not in value)
    unknown = set(document) - set(REPORT_SCHEMA) - {"report_schema_version", "kind"}
    problems.extend(f"unknown top-level key {key!r}" for key in sorted(unknown))
    return problems


def render_json(document: Mapping[str, Any]) -> str:
    """Serialise the document (strict JSON, indented, trailing newline)."""
    return json.dumps(document, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- analyze


ANALYSIS_SCHEMA_VERSION = 1

_CSV_HEADER = ("scope", "kind", "label", "lower", "upper", "count", "win_rate", "mean_return")


def analysis_document(
    analysis: ConfidenceAnalysis, *, data_path: str, data_hash: str, created_at: str
) -> dict[str, Any]:
    """Return the JSON export of the ``analyze`` job."""
    return {
        "analysis_schema_version": ANALYSIS_SCHEMA_VERSION,
        "kind": "confidence_analysis",
        "created_at": created_at,
        "data_path": data_path,
        "data_hash": data_hash,
        **analysis.to_dict(),
    }


def analysis_csv(analysis: ConfidenceAnalysis) -> str:
    """Return the decile and fixed-bin summaries (all trades, then per symbol) as CSV text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
    for summary in (analysis.overall, *analysis.per_symbol):
        for kind, bins in (("decile", summary.deciles), ("bin", summary.bins)):
            for b in bins:
                bounds = f"{b.lower:.4f}", f"{b.upper:.4f}"
                rates = ("" if v is None else f"{v:.6f}" for v in (b.win_rate, b.mean_return))
                writer.writerow([summary.scope, kind, b.label, *bounds, b.count, *rates])
    return buffer.getvalue()
