"""The review report of a calibration job: a JSON document, its Markdown rendering, the files."""

# Shell module. Building the document and rendering it are pure functions of
# their arguments; only write_report() and write_analysis() touch the disk.
# The Markdown is rendered from the JSON document, so the two cannot disagree.

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from typing import TYPE_CHECKING, Any

import attrs

from calibration_core.config import (
    MAX_CONSENSUS_MULTIPLIER,
    MAX_HOLD_BIAS,
    MIN_CONSENSUS_MULTIPLIER,
)
from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MAX_WEIGHT,
    MAX_WEIGHT_CHANGE,
    MIN_CONFIDENCE_IMPROVEMENT,
    MIN_OUTCOME_DIVERSITY,
    MIN_TRADES_FOR_CALIBRATION,
    MIN_WEIGHT,
)
from calibration_core.core.analysis import (
    CONSENSUS_SHRINKAGE_TRADES,
    MIN_FOLD_TRADES,
    RELIABILITY_BINS,
    STALE_DATA_HOURS,
    MetricsComparison,
    Proposal,
    format_age,
)
from calibration_core.exceptions import OutputWriteError
from calibration_core.fsio import DISK_FULL_ERRNOS, atomic_write_bytes
from calibration_core.text import escape, escape_controls, markdown_cell

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from calibration_core.core.analysis import ConfidenceAnalysis, ScoreSet
    from calibration_core.core.metrics import ReliabilityTable
    from calibration_core.sources.integrity import IntegritySummary

__all__ = [
    "MARKDOWN_SECTIONS",
    "REPORT_SCHEMA",
    "REPORT_SCHEMA_VERSION",
    "ReportContext",
    "ReportPaths",
    "analysis_csv",
    "analysis_document",
    "build_report_document",
    "integrity_to_dict",
    "output_error",
    "remove_outputs",
    "render_json",
    "render_markdown",
    "report_paths",
    "validate_report_document",
    "write_outputs",
    "write_report",
]

REPORT_SCHEMA_VERSION = 1
"""Version of the JSON export's layout (docs/report_schema.md); bumped on incompatible changes."""

MARKDOWN_SECTIONS = (
    "1. Summary",
    "2. Data",
    "3. Before / after metrics",
    "4. Confidence mapping",
    "5. Reliability diagram",
    "6. Reliability table",
    "7. Ensemble weights",
    "7a. Per-symbol calibration",
    "7b. Consensus multipliers",
    "7c. HOLD bias",
    "8. Validation",
    "9. Risk",
    "10. DO NOT APPLY IF …",
    "11. Deployment",
)
"""The ``##`` headings of the Markdown report, in order: the eleven required sections,
with 7a-7c (per-symbol maps, consensus multipliers, HOLD bias) after the weights."""

REPORT_SCHEMA: dict[str, tuple[str, ...]] = {
    "job": (
        "job_id",
        "created_at",
        "status",
        "forced",
        "deployable",
        "data_path",
        "data_hash",
        "base_version",
        "base_config_sha256",
        "live_config_note",
    ),
    "summary": (
        "recommendation",
        "reasons",
        "n_trades",
        "oos_mse_improvement",
        "in_sample_mse_improvement",
        "confidence_map_enabled",
        "weights_enabled",
        "weights_carried_over",
        "per_symbol_enabled",
        "consensus_enabled",
        "hold_bias_enabled",
        "validation_passed",
        "risk_score",
        "risk_category",
        "max_confidence_change",
        "newest_trade_age_hours",
        "stale_data",
    ),
    "data": (
        "n_trades",
        "n_symbols",
        "symbols",
        "wins",
        "losses",
        "neutral",
        "zero_pnl",
        "win_rate",
        "loss_rate",
        "neutral_rate",
        "first_timestamp",
        "last_timestamp",
        "span_days",
        "warnings",
        "problems",
    ),
    "authorization": ("status", "ready", "reason", "allowed_actions", "levels", "api", "forced"),
    "metrics": ("out_of_sample", "in_sample"),
    "confidence_map": (
        "enabled",
        "reason",
        "method",
        "max_change",
        "max_abs_change",
        "n_knots",
        "table",
        "gate",
    ),
    "reliability": ("picture", "picture_note", "n_bins", "raw", "calibrated"),
    "weights": (
        "status",
        "enabled",
        "reason",
        "current_source",
        "vote_precision_before",
        "vote_precision_after",
        "total_abs_change",
        "ensemble_precision",
        "changes",
        "carried_over",
    ),
    "per_symbol": ("requested", "enabled", "reason", "rule", "fallback", "symbols"),
    "consensus": (
        "available",
        "enabled",
        "reason",
        "baseline",
        "rule",
        "shrinkage_trades",
        "n_trades_bucketed",
        "n_trades_unbucketed",
        "oos_mse_before",
        "oos_mse_after",
        "oos_mse_improvement",
        "max_abs_change",
        "buckets",
        "folds",
        "gate",
    ),
    "hold_bias": (
        "enabled",
        "bias",
        "reason",
        "n_signals",
        "estimated_bias",
        "n_folds",
        "n_evaluated",
        "oos_mse_before",
        "oos_mse_after",
        "oos_mse_improvement",
    ),
    "validation": ("passed", "checks"),
    "risk": (
        "score",
        "category",
        "blocks_deployment",
        "formula",
        "critical_failures",
        "error_failures",
        "warning_failures",
        "total_checks",
    ),
    "do_not_apply_if": ("triggered", "conditions"),
    "deployment": ("deployable", "approve", "rollback", "rollback_to_version", "notes"),
    "proposed_config": (
        "schema_version",
        "version",
        "created_at",
        "source_job",
        "data_hash",
        "confidence_calibration",
        "ensemble_weights",
        "per_symbol",
        "consensus_multipliers",
        "hold_bias",
    ),
}
"""Top-level object → keys it must hold; besides these the document has
``report_schema_version`` (int) and ``kind`` (``"calibration_report"``)."""

_ARROW_MIN = 0.005  # adjustments smaller than half a cent of confidence get no arrow


# --------------------------------------------------------------------------- context


@attrs.frozen
class ReportPaths:
    """Where the three files of one job's report go."""

    markdown: Path
    json: Path
    picture: Path


def report_paths(report_dir: Path, job_id: str) -> ReportPaths:
    """Return ``calibration_<job_id>.md``, ``.json`` and ``_reliability.png`` in ``report_dir``."""
    return ReportPaths(
        markdown=report_dir / f"calibration_{job_id}.md",
        json=report_dir / f"calibration_{job_id}.json",
        picture=report_dir / f"calibration_{job_id}_reliability.png",
    )


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
    return {
        "n_trades": summary.n_trades,
        "n_symbols": summary.n_symbols,
        "symbols": list(summary.symbols),
        "wins": summary.wins,
        "losses": summary.losses,
        "neutral": summary.neutral,
        "zero_pnl": summary.zero_pnl,
        "win_rate": summary.win_rate,
        "loss_rate": summary.loss_rate,
        "neutral_rate": summary.neutral_rate,
        "first_timestamp": summary.first_timestamp,
        "last_timestamp": summary.last_timestamp,
        "span_days": summary.span_days,
        "warnings": list(summary.warnings),
        "problems": list(summary.problems),
    }


# --------------------------------------------------------------------------- the document


def _num(value: float | None) -> float | None:
    # Strict JSON has no NaN: an undefined number is null.
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return float(value)


def _scores(scores: ScoreSet) -> dict[str, float | None]:
    return scores.to_dict()


def _comparison(comparison: MetricsComparison) -> dict[str, Any]:
    return {
        "label": comparison.label,
        "n_trades": comparison.n_trades,
        "raw": _scores(comparison.raw),
        "calibrated": _scores(comparison.calibrated),
        "mse_improvement": _num(comparison.mse_improvement),
    }


def _reliability(table: ReliabilityTable, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "n_trades": int(sum(b.count for b in table.bins)),
        "bins": [
            {
                "lower": float(b.lower),
                "upper": float(b.upper),
                "count": int(b.count),
                "mean_predicted": _num(b.mean_predicted) if b.count else None,
                "observed_rate": _num(b.observed_rate) if b.count else None,
                "ci_low": _num(b.ci_low) if b.count else None,
                "ci_high": _num(b.ci_high) if b.count else None,
            }
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
        "changes": []
        if weights is None
        else [
            {
                "model": c.model,
                "before": c.before,
                "after": c.after,
                "delta": c.delta,
                "change_pct": c.change_pct,
                "precision": _num(c.precision),
                "n_trades": c.n_trades,
                "zscore": _num(c.zscore),
                "reason": c.reason,
            }
            for c in weights.changes
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


def _per_symbol_section(proposal: Proposal) -> dict[str, Any]:
    analysis = proposal.per_symbol
    return {
        "requested": analysis.requested,
        "enabled": proposal.config.per_symbol.enabled,
        "reason": analysis.reason,
        "rule": _PER_SYMBOL_RULE,
        "fallback": "global map" if proposal.confidence_enabled else "raw confidence",
        "symbols": [s.to_dict() for s in analysis.symbols],
    }


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


def _hold_bias_section(proposal: Proposal) -> dict[str, Any]:
    analysis = proposal.hold_bias
    return {
        "enabled": proposal.config.hold_bias.enabled,
        "bias": analysis.bias,
        "reason": analysis.reason,
        "n_signals": analysis.n_signals,
        "estimated_bias": _num(analysis.estimated_bias),
        "n_folds": analysis.n_folds,
        "n_evaluated": analysis.n_evaluated,
        "oos_mse_before": _num(analysis.brier_before),
        "oos_mse_after": _num(analysis.brier_after),
        "oos_mse_improvement": _num(analysis.improvement),
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
            "the proposal changes nothing (map disabled, no weight change, no per-symbol map, "
            "consensus multiplier or HOLD bias enabled)",
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
            "hold_bias_enabled": proposal.config.hold_bias.enabled,
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
        "per_symbol": _per_symbol_section(proposal),
        "consensus": _consensus_section(proposal),
        "hold_bias": _hold_bias_section(proposal),
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


# --------------------------------------------------------------------------- Markdown


def _cell(value: object) -> str:
    # Table cells: a literal "|" would split the cell, and newlines end the row.
    return markdown_cell(value)


def _escaped(value: Any) -> Any:  # noqa: ANN401 - mirrors the JSON document's shape
    """Return the document with every string (keys too) passed through `text.escape`."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {escape(k) if isinstance(k, str) else k: _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return value


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None, digits: int = 1, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def _arrow(adjustment: float) -> str:
    if adjustment >= _ARROW_MIN:
        return " ⬆️"
    if adjustment <= -_ARROW_MIN:
        return " ⬇️"
    return ""


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows)
    return lines


def _later_summary_rows(doc: Mapping[str, Any]) -> list[list[object]]:
    per_symbol, consensus, hold = doc["per_symbol"], doc["consensus"], doc["hold_bias"]
    if not per_symbol["requested"]:
        per_symbol_text = "NOT REQUESTED — every symbol uses the global map"
    else:
        kept = [r["symbol"] for r in per_symbol["symbols"] if r["kept"]]
        per_symbol_text = (
            f"ENABLED for {', '.join(kept)} — the other symbols use the global map"
            if per_symbol["enabled"]
            else f"DISABLED — {per_symbol['reason']}"
        )
    consensus_state = "ENABLED" if consensus["enabled"] else "DISABLED"
    hold_state = "ENABLED" if hold["enabled"] else "DISABLED"
    return [
        ["Per-symbol maps", per_symbol_text],
        ["Consensus multipliers", f"{consensus_state} — {consensus['reason']}"],
        ["HOLD bias", f"{hold_state} — {hold['reason']}"],
    ]


def _summary_md(doc: Mapping[str, Any]) -> list[str]:
    job, summary, data = doc["job"], doc["summary"], doc["data"]
    weights, risk = doc["weights"], doc["risk"]
    recommendation = summary["recommendation"]
    mark = "✅" if recommendation == "APPROVE CANDIDATE" else "❌"
    lines = [f"## {MARKDOWN_SECTIONS[0]}", "", f"**Recommendation: {mark} {recommendation}**", ""]
    if summary["reasons"]:
        lines.extend(f"- {reason}" for reason in summary["reasons"])
        lines.append("")
    elif recommendation == "APPROVE CANDIDATE":
        lines.append(
            "The tool found no reason not to apply. Before approving, go through "
            "section 10 yourself: some conditions only you can check."
        )
        lines.append("")
    oos = doc["metrics"]["out_of_sample"]
    in_sample = doc["metrics"]["in_sample"]
    oos_text = (
        f"{_pct(summary['oos_mse_improvement'], signed=True)} "
        f"(MSE {_fmt(oos['raw']['mse'])} → {_fmt(oos['calibrated']['mse'])}, "
        f"{oos['n_trades']} held-out trades, {oos['n_folds']} folds)"
        if oos["available"]
        else f"not available ({oos['note']})"
    )
    gate = doc["confidence_map"].get("gate")
    if gate is not None:
        oos_text += (
            f"; {gate['confidence']:.0%} lower bound "
            f"{_pct(gate['gain_lower_bound'], signed=True)} over {gate['n_trades']} trades"
        )
    if weights["status"] == "proposed":
        weights_text = "PROPOSED"
    elif weights["status"] == "no_change":
        weights_text = "NO CHANGE"
    else:
        weights_text = "SKIPPED"
    checks = doc["validation"]["checks"]
    n_passed = sum(1 for c in checks if c["passed"])
    validation_text = (
        f"{'✅ PASSED' if doc['validation']['passed'] else '❌ FAILED'} "
        f"({n_passed}/{len(checks)} checks passed)"
    )
    rows = [
        ["Job", f"`{job['job_id']}`"],
        ["Status", f"{job['status']}{' — FORCED, NOT DEPLOYABLE' if job['forced'] else ''}"],
        ["Created", job["created_at"]],
        [
            "Trades",
            (
                f"{data['n_trades']} over {data['span_days']:.1f} days "
                f"({data['first_timestamp']} → {data['last_timestamp']}), "
                f"{data['n_symbols']} symbols"
            ),
        ],
        ["Out-of-sample MSE improvement", oos_text],
        [
            "In-sample MSE improvement (optimistic)",
            _pct(summary["in_sample_mse_improvement"], signed=True)
            + f" ({in_sample['n_trades']} trades the map was fitted on)",
        ],
        [
            "Confidence map",
            (
                f"{'ENABLED' if summary['confidence_map_enabled'] else 'DISABLED'} — "
                f"{doc['confidence_map']['reason']}"
            ),
        ],
        [
            "Largest confidence change",
            f"{summary['max_confidence_change']:.3f} (bound ±{MAX_CONFIDENCE_CHANGE})",
        ],
        ["Ensemble weights", f"{weights_text} — {weights['reason']}"],
        *_later_summary_rows(doc),
        ["Validation", validation_text],
        ["Risk", f"{risk['score']:.1%} ({risk['category']})"],
        ["Live config (base)", job["live_config_note"]],
        ["Pre-flight (checklist 0.1)", _preflight_text(doc["authorization"].get("preflight"))],
        ["Data hash", f"`{job['data_hash']}`"],
    ]
    lines.extend(_table(["Item", "Value"], rows))
    return lines


def _preflight_text(preflight: Mapping[str, Any] | None) -> str:
    if not preflight:
        return "not configured (--preflight / CALIBRATION_PREFLIGHT)"
    if preflight.get("skipped"):
        return f"SKIPPED (--force) — `{preflight.get('source')}`"
    probes = preflight.get("probes") or []
    failed = [p for p in probes if not p.get("passed")]
    if not failed:
        return f"✅ {len(probes)}/{len(probes)} probes passed (`{preflight.get('source')}`)"
    first = failed[0]
    return (
        f"❌ {len(failed)} of {len(probes)} probes failed — "
        f"{first.get('name')}: {first.get('detail')}"
    )


def _rate_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _dialect_rows(data: Mapping[str, Any]) -> list[list[Any]]:
    # The win definition used and the system's other two, side by side (issue 9 §1).
    rows: list[list[Any]] = []
    if "outcome_definition_text" in data:
        rows.append(
            [
                "Outcome definition",
                (
                    f"{data['outcome_definition_text']} "
                    f"({data.get('trades_in_fit')} trades in the fit)"
                ),
            ]
        )
    labels = data.get("outcome_label")
    if labels and labels.get("labelled"):
        rows.append(
            [
                "Win rate by outcome_label (NEUTRAL counts as not won)",
                f"{_rate_text(labels['win_rate'])} of {labels['labelled']} labelled",
            ]
        )
        decided = labels["wins"] + labels["losses"]
        rows.append(
            [
                "Win rate as the cadence service counts it, WIN/(WIN+LOSS)",
                f"{_rate_text(labels['cadence_win_rate'])} ({labels['wins']}/{decided})",
            ]
        )
    elif labels is not None:
        rows.append(["Win rate by outcome_label", "n/a (no trade carries an outcome_label)"])
    zoneless = data.get("zoneless_timestamps")
    if zoneless and zoneless.get("count"):
        first = ", ".join(str(n) for n in zoneless["first_lines"])
        rows.append(
            [
                "Timestamps without a zone (read as UTC)",
                f"{zoneless['count']} (first lines {first})",
            ]
        )
    if data.get("duplicates_dropped"):
        rows.append(["Duplicates dropped (--drop-duplicates)", data["duplicates_dropped"]])
    if data.get("problems_file"):
        rows.append(["Problems file", f"`{data['problems_file']}`"])
    return rows


def _data_md(doc: Mapping[str, Any]) -> list[str]:
    data, auth = doc["data"], doc["authorization"]
    rows = [
        ["Trades", data["n_trades"]],
        ["Symbols", f"{data['n_symbols']}: {', '.join(data['symbols'])}"],
        ["Wins", f"{data['wins']} ({data['win_rate']:.1%})"],
        ["Losses", f"{data['losses']} ({data['loss_rate']:.1%})"],
        [
            "Neutral (also counted as win or loss)",
            f"{data['neutral']} ({data['neutral_rate']:.1%})",
        ],
        ["PnL exactly 0.0 (suspect)", data["zero_pnl"]],
        ["First trade", data["first_timestamp"]],
        ["Last trade", data["last_timestamp"]],
        ["Span", f"{data['span_days']:.2f} days"],
        ["File", f"`{doc['job']['data_path']}`"],
        *_dialect_rows(data),
    ]
    lines = [f"## {MARKDOWN_SECTIONS[1]}", "", *_table(["Item", "Value"], rows), ""]
    # The zone-less note is a table row (count and first lines), reported once.
    tabled = {f["message"] for f in data.get("findings", ()) if f["kind"] == "zoneless_timestamp"}
    warnings = [w for w in data["warnings"] if w not in tabled]
    if warnings:
        lines.append(f"**Warnings ({len(warnings)}):**")
        lines.append("")
        shown = 20
        lines.extend(f"- {_cell(w)}" for w in warnings[:shown])
        if len(warnings) > shown:
            lines.append(f"- … and {len(warnings) - shown} more (all are in the JSON export)")
        lines.append("")
    else:
        lines.extend(["No data warnings.", ""])
    lines.append("**Learning Cadence authorization**")
    lines.append("")
    forced = " — overridden with --force" if auth.get("forced") else ""
    lines.append(f"- Status: {auth.get('status')}{forced}")
    lines.append(f"- Reason: {auth.get('reason')}")
    lines.append(f"- Allowed actions: {auth.get('allowed_actions')}")
    api = auth.get("api")
    if api:
        lines.append(f"- API {api.get('url')}: {api.get('reason')}")
        if api.get("stats"):
            stats = ", ".join(f"{key}={value}" for key, value in api["stats"].items())
            lines.append(f"- Cadence stats (GET /readiness): {_cell(stats)}")
    preflight = auth.get("preflight")
    if preflight:
        lines.append(f"- Pre-flight: {_cell(_preflight_text(preflight))}")
        for probe in preflight.get("probes") or []:
            mark = "✅" if probe.get("passed") else "❌"
            lines.append(f"  - {mark} {_cell(probe.get('name'))}: {_cell(probe.get('detail'))}")
    levels = auth.get("levels") or []
    if levels:
        lines.append("")
        lines.extend(
            _table(
                ["Level", "Authorized", "Reason"],
                [
                    [
                        level.get("name"),
                        "✅" if level.get("authorized") else "❌",
                        level.get("reason"),
                    ]
                    for level in levels
                ],
            )
        )
    return lines


def _scores_rows(comparison: Mapping[str, Any]) -> list[list[object]]:
    rows: list[list[object]] = []
    for key, name in (("mse", "MSE (Brier)"), ("ece", "ECE"), ("log_loss", "Log loss")):
        raw, cal = comparison["raw"][key], comparison["calibrated"][key]
        change = None if raw is None or cal is None or raw == 0 else (cal - raw) / raw
        rows.append([name, _fmt(raw), _fmt(cal), _pct(change, signed=True)])
    return rows


def _metrics_md(doc: Mapping[str, Any]) -> list[str]:
    oos, in_sample = doc["metrics"]["out_of_sample"], doc["metrics"]["in_sample"]
    header = ["Metric", "Raw", "Calibrated", "Change"]
    lines = [f"## {MARKDOWN_SECTIONS[2]}", "", "### Out-of-sample (this gates the map)", ""]
    if oos["available"]:
        lines.append(
            f"Forward-chaining: the time-sorted trades are cut into {oos['n_folds'] + 1} "
            f"contiguous chunks; fold *i* fits the bounded map on chunks 0…*i*-1 and scores "
            f"chunk *i*. Pooled over {oos['n_trades']} held-out trades."
        )
        if oos["note"]:
            lines.append(f"Note: {oos['note']}.")
        lines.append("")
        lines.extend(_table(header, _scores_rows(oos)))
        lines.append("")
        lines.extend(
            _table(
                ["Fold", "Train trades", "Test trades", "MSE raw", "MSE calibrated", "Change"],
                [
                    [
                        f["fold"],
                        f["n_train"],
                        f["n_test"],
                        _fmt(f["mse_raw"]),
                        _fmt(f["mse_calibrated"]),
                        _pct(
                            None if f["mse_improvement"] is None else -f["mse_improvement"],
                            signed=True,
                        ),
                    ]
                    for f in oos["folds"]
                ],
            )
        )
    else:
        lines.append(f"Not available: {oos['note']}. The map stays disabled.")
    lines.extend(["", "### In-sample (optimistic)", ""])
    lines.append(
        "The map scored on the same trades it was fitted on. Isotonic regression always "
        "fits its own data at least as well as the raw confidence, so this figure "
        "overstates the benefit; it is shown for comparison only."
    )
    lines.append("")
    lines.extend(_table(header, _scores_rows(in_sample)))
    return lines


def _mapping_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["confidence_map"]
    state = "ENABLED" if section["enabled"] else "DISABLED"
    lines = [
        f"## {MARKDOWN_SECTIONS[3]}",
        "",
        (
            f"Map **{state}**: {section['reason']}. Isotonic fit on all trades, every value "
            f"bounded to ±{section['max_change']} of the raw confidence "
            f"(largest change {section['max_abs_change']:.3f}, {section['n_knots']} knots)."
        ),
    ]
    lines.extend(_gate_md(section.get("gate")))
    if not section["enabled"]:
        lines.append("The table shows what the map would do; the proposal does not enable it.")
    lines.append("")
    rows = [
        [
            f"{r['predicted']:.2f}",
            f"{r['calibrated']:.3f}",
            f"{r['adjustment']:+.3f}{_arrow(r['adjustment'])}",
        ]
        for r in section["table"]
    ]
    lines.extend(_table(["Predicted Confidence", "Calibrated", "Adjustment"], rows))
    return lines


def _diagram_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["reliability"]
    lines = [f"## {MARKDOWN_SECTIONS[4]}", ""]
    if section["picture"]:
        lines.append(
            f"![Reliability diagram: {section['raw']['label']} vs "
            f"{section['calibrated']['label']}]({section['picture']})"
        )
        lines.append("")
        lines.append(
            "Points on the diagonal are honest: the observed win rate equals the confidence. "
            "The bars below show how many trades each bin holds."
        )
    else:
        lines.append(f"No picture: {section['picture_note']} The reliability table follows.")
    return lines


def _reliability_rows(table: Mapping[str, Any]) -> list[list[object]]:
    return [
        [
            f"{b['lower']:.1f}–{b['upper']:.1f}",
            b["count"],
            _fmt(b["mean_predicted"], 3),
            _fmt(b["observed_rate"], 3),
            "—" if b["ci_low"] is None else f"{b['ci_low']:.3f}–{b['ci_high']:.3f}",
        ]
        for b in table["bins"]
    ]


def _reliability_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["reliability"]
    header = ["Bin", "Count", "Mean predicted", "Observed win rate", "Wilson 95% CI"]
    lines = [f"## {MARKDOWN_SECTIONS[5]}", ""]
    for key in ("raw", "calibrated"):
        table = section[key]
        lines.append(f"**{table['label'].capitalize()}** ({table['n_trades']} trades)")
        lines.append("")
        lines.extend(_table(header, _reliability_rows(table)))
        lines.append("")
    lines.append(
        "A bin is honest when its observed win rate lies inside the Wilson interval around "
        "its mean predicted confidence; small bins have wide intervals."
    )
    return lines


def _weights_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["weights"]
    lines = [f"## {MARKDOWN_SECTIONS[6]}", ""]
    if section["status"] == "skipped":
        lines.append(f"Ensemble weight calibration was skipped: {section['reason']}.")
        return lines
    if section["carried_over"]:
        state = "ENABLED — the live weights, carried over unchanged"
    else:
        state = "ENABLED" if section["enabled"] else "not enabled"
    lines.append(
        f"Starting weights: {section['current_source']}. Proposal: {section['reason']}. "
        f"In the proposed config the weights are **{state}**. Bounds: each weight in "
        f"[{MIN_WEIGHT}, {MAX_WEIGHT}], at most ±{MAX_WEIGHT_CHANGE:.0%} of its current value, "
        "sum 1."
    )
    lines.append("")
    rows = [
        [
            c["model"],
            f"{c['before']:.3f}",
            f"{c['after']:.3f}",
            f"{c['delta']:+.3f}{_arrow(c['delta'])}",
            f"{c['change_pct']:+.1f}%",
            c["reason"],
        ]
        for c in section["changes"]
    ]
    lines.extend(_table(["Model", "Before", "After", "Delta", "Change %", "Reason"], rows))
    lines.append("")
    lines.append(
        f"Weighted-vote precision of the historical member votes: "
        f"{_fmt(section['vote_precision_before'], 3)} with the current weights, "
        f"{_fmt(section['vote_precision_after'], 3)} with the proposed ones "
        "(checked by `no_degradation:ensemble_vote_precision`)."
    )
    return lines


def _mse_cell(value: float | None) -> str:
    return _fmt(value)


def _gate_md(gate: Mapping[str, Any] | None) -> list[str]:
    # The out-of-sample gate's evidence: gain, lower bound, trades used, verdict.
    if gate is None:
        return []
    return [
        "",
        (
            f"Out-of-sample gate (≥ {gate['min_gain']:.0%} and distinguishable from noise, "
            f"one-sided paired t-test at {gate['confidence']:.0%}): {gate['text']}."
        ),
        "",
    ]


def _gate_cell(gate: Mapping[str, Any] | None) -> str:
    if gate is None:
        return "—"
    return (
        f"{_pct(gate['gain'], signed=True)} (≥ {_pct(gate['gain_lower_bound'], signed=True)}, "
        f"{gate['n_trades']} trades)"
    )


def _per_symbol_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["per_symbol"]
    lines = [f"## {MARKDOWN_SECTIONS[7]}", ""]
    if not section["requested"]:
        lines.append(
            f"Per-symbol maps are off: {section['reason']}. Every symbol "
            "uses the global map, and the proposed config keeps per-symbol maps disabled."
        )
        return lines
    state = "ENABLED" if section["enabled"] else "DISABLED"
    lines.append(f"Per-symbol maps **{state}** — {section['reason']}.")
    lines.append("")
    lines.append(
        f"Rule: {section['rule']}. A symbol without a map of its own gets the "
        f"{section['fallback']} (the fallback). MSE is the Brier score on the symbol's "
        "held-out trades, pooled over its folds."
    )
    lines.append("")
    rows = [
        [
            r["symbol"],
            r["n_trades"],
            _pct(r["win_rate"]),
            _mse_cell(r["oos_mse_raw"]),
            _mse_cell(r["oos_mse_global"]),
            _mse_cell(r["oos_mse_symbol"]),
            _gate_cell(r.get("gate")),
            "✅ kept" if r["kept"] else "fallback",
            r["reason"],
        ]
        for r in section["symbols"]
    ]
    lines.extend(
        _table(
            [
                "Symbol",
                "Trades",
                "Win rate",
                "OOS MSE raw",
                "OOS MSE global map",
                "OOS MSE symbol map",
                "Gain (95 % lower bound, trades)",
                "Decision",
                "Reason",
            ],
            rows,
        )
    )
    return lines


def _consensus_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["consensus"]
    lines = [f"## {MARKDOWN_SECTIONS[8]}", ""]
    state = "ENABLED" if section["enabled"] else "DISABLED"
    lines.append(f"Consensus multipliers **{state}** — {section['reason']}.")
    if not section["available"]:
        return lines
    lines.append("")
    lines.append(
        f"Buckets by the share of the models that voted on a trade which agreed with its "
        f"side (all → unanimous, ≥ 75 % strong, ≥ 50 % split, else weak); "
        f"{section['n_trades_bucketed']} trades have a bucket, "
        f"{section['n_trades_unbucketed']} do not (they keep a multiplier of 1). "
        f"Each multiplier scales {section['baseline']}: {section['rule']}."
    )
    lines.append("")
    rows = [
        [
            b["bucket"],
            b["n_trades"],
            _pct(b["win_rate"]),
            _fmt(b["mean_confidence"], 3),
            _fmt(b["raw_multiplier"], 3),
            f"{b['multiplier']:.3f}",
        ]
        for b in section["buckets"]
    ]
    lines.extend(
        _table(
            [
                "Bucket",
                "Trades",
                "Win rate",
                "Mean confidence",
                "Raw multiplier",
                "Multiplier (shrunk, clamped)",
            ],
            rows,
        )
    )
    lines.append("")
    lines.append(
        f"Out of sample (multipliers estimated on the earlier folds only): MSE "
        f"{_fmt(section['oos_mse_before'])} without → {_fmt(section['oos_mse_after'])} with "
        f"the multipliers ({_pct(section['oos_mse_improvement'], signed=True)})."
    )
    lines.extend(_gate_md(section.get("gate")))
    lines.append("")
    lines.extend(
        _table(
            ["Fold", "Test trades", "MSE without", "MSE with", "Change"],
            [
                [
                    f["fold"],
                    f["test_rows"][1] - f["test_rows"][0],
                    _fmt(f["mse_before"]),
                    _fmt(f["mse_after"]),
                    _pct(
                        None if f["mse_improvement"] is None else -f["mse_improvement"],
                        signed=True,
                    ),
                ]
                for f in section["folds"]
            ],
        )
    )
    lines.append("")
    lines.append(
        f"Map and multiplier together move a raw confidence by at most "
        f"{section['max_abs_change']:.3f} (bound ±{MAX_CONFIDENCE_CHANGE}); the multipliers "
        f"are clamped into the interval that keeps it so."
    )
    return lines


def _hold_bias_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["hold_bias"]
    state = "ENABLED" if section["enabled"] else "DISABLED"
    lines = [f"## {MARKDOWN_SECTIONS[9]}", "", f"HOLD bias **{state}** — {section['reason']}."]
    if section["estimated_bias"] is not None:
        lines.append("")
        lines.append(
            f"{section['n_signals']} judged HOLD signals; bias {section['bias']:+.3f} "
            f"(estimate {section['estimated_bias']:+.3f}, bounded to ±{MAX_HOLD_BIAS}). "
            f"Out of sample over {section['n_evaluated']} held-out signals: MSE "
            f"{_fmt(section['oos_mse_before'])} without → {_fmt(section['oos_mse_after'])} "
            f"with the bias ({_pct(section['oos_mse_improvement'], signed=True)})."
        )
    lines.append("")
    lines.append(
        "The runtime applies a HOLD bias only when it is enabled (`apply_hold_bias`); the "
        "proposed config keeps it "
        f"{'enabled' if section['enabled'] else 'disabled'}."
    )
    return lines


def _validation_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["validation"]
    verdict = "✅ PASSED" if section["passed"] else "❌ FAILED"
    lines = [f"## {MARKDOWN_SECTIONS[10]}", "", f"Validation: **{verdict}**", ""]

    def value(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    rows = [
        [
            c["name"],
            c["severity"],
            "✅" if c["passed"] else "❌",
            value(c["value"]),
            value(c["threshold"]),
            c["message"],
        ]
        for c in section["checks"]
    ]
    lines.extend(_table(["Check", "Severity", "Passed", "Value", "Threshold", "Message"], rows))
    lines.append("")
    lines.append(
        "`no_degradation:oos_brier` compares the out-of-sample MSE of the confidence that "
        "would be deployed with the raw one (with the map disabled both are the raw "
        "confidence); `no_degradation:ensemble_vote_precision` replays the historical member "
        "votes with the current and the proposed weights."
    )
    return lines


def _risk_md(doc: Mapping[str, Any]) -> list[str]:
    risk = doc["risk"]
    blocks = "yes — deployment is blocked" if risk["blocks_deployment"] else "no"
    rows = [
        ["Score", f"{risk['score']:.1%}"],
        ["Category", risk["category"]],
        ["Blocks deployment", blocks],
        ["Critical failures", risk["critical_failures"]],
        ["Error failures", risk["error_failures"]],
        ["Warning failures", risk["warning_failures"]],
        ["Checks", risk["total_checks"]],
    ]
    return [
        f"## {MARKDOWN_SECTIONS[11]}",
        "",
        f"Risk score = {risk['formula']}.",
        "",
        *_table(["Item", "Value"], rows),
    ]


def _do_not_apply_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["do_not_apply_if"]
    lines = [f"## {MARKDOWN_SECTIONS[12]}", ""]
    if section["triggered"]:
        lines.append("**The tool found these in this job — do not apply:**")
        lines.append("")
        lines.extend(f"- ❌ {t}" for t in section["triggered"])
    else:
        lines.append("The tool found none of the conditions it can check in this job.")
    lines.append("")
    lines.append("Do not apply this proposal if any of these holds (❓ = only you can check):")
    lines.append("")
    marks = {True: "❌", False: "✅", None: "❓"}
    rows = [[marks[c["triggered"]], c["condition"], c["this_job"]] for c in section["conditions"]]
    lines.extend(_table(["", "Condition", "This job"], rows))
    return lines


def _deployment_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["deployment"]
    lines = [f"## {MARKDOWN_SECTIONS[13]}", ""]
    lines.extend(f"> ⛔ {note}" for note in section["notes"])
    if section["notes"]:
        lines.append("")
    lines.append("Nothing has been applied. To deploy this proposal after reviewing it:")
    lines.extend(["", "```bash", section["approve"], "```", ""])
    lines.append(
        "Then monitor for 24–48 hours (checklist 4.2: PnL drift, win-rate delta < 5 %, "
        "HOLD rate, confidence distribution within 0.50–0.95). To undo:"
    )
    lines.extend(["", "```bash", f"{section['rollback']}   # back to the previous config"])
    if section["rollback_to_version"]:
        lines.append(f"{section['rollback_to_version']}   # the config live when this job ran")
    lines.extend(["```", ""])
    config = doc["proposed_config"]
    weights = config["ensemble_weights"]
    weight_text = (
        ", ".join(f"{m} {w:.3f}" for m, w in weights["weights"].items())
        if weights["enabled"]
        else "disabled"
    )
    per_symbol = config["per_symbol"]
    symbols = [s for s, m in per_symbol["maps"].items() if m["enabled"]]
    per_symbol_text = (
        f"enabled for {', '.join(symbols)}" if per_symbol["enabled"] and symbols else "disabled"
    )
    consensus = config["consensus_multipliers"]
    consensus_text = (
        ", ".join(f"{b} {m:.3f}" for b, m in consensus["multipliers"].items())
        if consensus["enabled"]
        else "disabled"
    )
    hold = config["hold_bias"]
    hold_text = f"{hold['bias']:+.3f}" if hold["enabled"] else "disabled"
    lines.append(
        f"The proposed config `{config['version']}`: confidence map "
        f"{'enabled' if config['confidence_calibration']['enabled'] else 'disabled'}, "
        f"ensemble weights {weight_text}; per-symbol maps {per_symbol_text}; consensus "
        f"multipliers {consensus_text}; HOLD bias {hold_text}. The full document is in the "
        "JSON export under `proposed_config`."
    )
    return lines


def render_markdown(document: Mapping[str, Any]) -> str:
    """Render the report document as Markdown, sections in :data:`MARKDOWN_SECTIONS` order.

    Parameters
    ----------
    document : mapping
        The output of :func:`build_report_document` (or the parsed JSON export).

    Returns
    -------
    str
    """
    # Symbols, model names and reasons come from files and APIs: none of them may
    # start a line of its own or carry a control character into the report.
    document = _escaped(document)
    job = document["job"]
    lines = [f"# Calibration report `{job['job_id']}`", ""]
    if job["forced"]:
        lines.extend(
            [
                (
                    "> ⛔ **FORCED — NOT DEPLOYABLE.** This job was run with `--force` past the "
                    "Learning Cadence gate. It is for inspection only; approve refuses it."
                ),
                "",
            ]
        )
    lines.append(
        "Calibration corrects the honesty of the ensemble's confidence; it does not optimise "
        "profit. Nothing in this report has been applied."
    )
    for part in (
        _summary_md,
        _data_md,
        _metrics_md,
        _mapping_md,
        _diagram_md,
        _reliability_md,
        _weights_md,
        _per_symbol_md,
        _consensus_md,
        _hold_bias_md,
        _validation_md,
        _risk_md,
        _do_not_apply_md,
        _deployment_md,
    ):
        lines.append("")
        lines.extend(part(document))
    return escape_controls("\n".join(lines)) + "\n"


def write_report(
    paths: ReportPaths, markdown: str, json_text: str, picture: bytes | None = None
) -> None:
    """Write the report files atomically (directory created when missing).

    Parameters
    ----------
    paths : ReportPaths
        Destinations.
    markdown, json_text : str
        Rendered report and JSON export.
    picture : bytes or None
        PNG of the reliability diagram, if one was drawn.
    """
    files = [(paths.json, json_text.encode("utf-8")), (paths.markdown, markdown.encode("utf-8"))]
    if picture is not None:
        files.insert(0, (paths.picture, picture))
    write_outputs(files)


def output_error(exc: OSError, path: Path) -> OutputWriteError:
    """Turn an OSError met while writing ``path`` into a one-line `OutputWriteError`.

    Parameters
    ----------
    exc : OSError
        What the write raised.
    path : Path
        The file (or directory) being written.

    Returns
    -------
    OutputWriteError
        ``disk full or file size limit while writing <path> (<reason>)`` or
        ``cannot write <path>: <reason>``.
    """
    reason = exc.strerror or str(exc)
    if exc.errno in DISK_FULL_ERRNOS:
        return OutputWriteError(f"disk full or file size limit while writing {path} ({reason})")
    return OutputWriteError(f"cannot write {path}: {reason} (nothing was written)")


def remove_outputs(paths: Sequence[Path]) -> None:
    """Remove files a failed job wrote, ignoring those that are not there.

    Parameters
    ----------
    paths : sequence of Path
        Files named after the failed job, so no other job owns them.
    """
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def write_outputs(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write each file atomically, all of them or none.

    Parameters
    ----------
    files : sequence of (Path, bytes)
        Destinations (their directories are created when missing) and contents.

    Raises
    ------
    OutputWriteError
        When a directory or a file cannot be written (a full disk, a file-size
        limit, a directory the user may not write, a path under a regular
        file). The files already written by this call are removed first.
    """
    written: list[Path] = []
    try:
        for target, data in files:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, data)
            except OSError as exc:
                raise output_error(exc, target) from None
            written.append(target)
    except BaseException:
        remove_outputs(written)
        raise


# --------------------------------------------------------------------------- analyze


ANALYSIS_SCHEMA_VERSION = 1

_CSV_HEADER = (
    "scope",
    "kind",
    "label",
    "lower",
    "upper",
    "count",
    "win_rate",
    "mean_return",
)


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
                writer.writerow(
                    [
                        summary.scope,
                        kind,
                        b.label,
                        f"{b.lower:.4f}",
                        f"{b.upper:.4f}",
                        b.count,
                        "" if b.win_rate is None else f"{b.win_rate:.6f}",
                        "" if b.mean_return is None else f"{b.mean_return:.6f}",
                    ]
                )
    return buffer.getvalue()
