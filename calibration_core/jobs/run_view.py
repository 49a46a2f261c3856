"""The views of ``run``: the printout and the ``--json`` document of a saved job."""

from __future__ import annotations

import math
import shlex
from typing import TYPE_CHECKING, Any

from calibration_core.core.validation import Severity
from calibration_core.text import escape, fmt_pct, plural

if TYPE_CHECKING:
    from calibration_core.core.proposal import Proposal
    from calibration_core.jobs.run import RunResult

__all__ = ["render_run_json", "render_run_text"]


def _deployable(result: RunResult) -> bool:
    return result.outcome == "PENDING" and not result.record.forced


def _improvement(value: float) -> float | None:
    return None if math.isnan(value) else value


def render_run_json(result: RunResult) -> dict[str, Any]:
    """Return the JSON document of ``run --json``."""
    record, proposal, files = result.record, result.proposal, result.files
    validation = proposal.validation
    deployable = _deployable(result)
    return {
        "ok": result.outcome == "PENDING",
        "job_id": record.job_id,
        "status": record.status,
        "forced": record.forced,
        "deployable": deployable,
        "report": files,
        "validation": {
            "passed": validation.passed,
            "failed": [c.to_dict() for c in validation.failures()],
        },
        "risk": {"score": validation.risk.score, "category": validation.risk.category},
        "oos_mse_improvement": _improvement(proposal.out_of_sample.improvement),
        "confidence_map_enabled": proposal.confidence_enabled,
        "weights_status": proposal.weights.status,
        "weights_enabled": proposal.weights_enabled,
        "weights_carried_over": proposal.weights_carried_over,
        "per_symbol": {
            "requested": proposal.per_symbol.requested,
            "enabled": proposal.config.per_symbol.enabled,
            "kept": [s.symbol for s in proposal.per_symbol.kept],
            "reason": proposal.per_symbol.reason,
        },
        "consensus": {
            "enabled": proposal.config.consensus.enabled,
            "oos_mse_improvement": _improvement(proposal.consensus.improvement),
            "reason": proposal.consensus.reason,
        },
        "recommendation": proposal.recommendation,
        "reasons": list(proposal.do_not_apply_reasons()),
        "outcome_definition": record.summary.get("outcome_definition"),
        "duplicates_dropped": record.summary.get("duplicates_dropped", 0),
        "next_steps": {
            "review": f"cat {shlex.quote(files['markdown'])}",
            "approve": result.approve_command if deployable else None,
            "rollback": result.rollback_command,
        },
    }


def render_run_text(result: RunResult) -> str:
    """Return the printout of ``run``: the job, its verdicts and the next steps."""
    record, proposal = result.record, result.proposal
    pending = result.outcome == "PENDING"
    validation = proposal.validation
    failures = validation.failures()
    summary = record.summary
    lines: list[str] = []
    if record.forced:
        lines += [
            "⛔ FORCED — NOT DEPLOYABLE (run with --force past the Learning Cadence gate)",
            "",
        ]
    if not validation.passed:
        head = "❌ FAILED"
    else:
        head = f"✅ PASSED with {plural(len(failures), 'warning')}" if failures else "✅ PASSED"
    lines += [
        "✅ CALIBRATION ANALYSIS COMPLETE" if pending else "❌ CALIBRATION PROPOSAL REJECTED",
        f"   Job ID: {record.job_id}",
        f"   Status: {record.status}{' (FORCED)' if record.forced else ''}",
        f"   Report: {result.files['markdown']}",
        f"   Validation: {head}",
    ]
    for check in failures:
        # A failed warning does not fail the validation: mark it as a warning, not a ❌.
        mark = "⚠️ " if check.severity is Severity.WARNING else "❌"
        lines.append(
            f"      {mark} {escape(check.name)} ({check.severity.value}): {escape(check.message)}"
        )
    dropped = summary.get("duplicates_dropped")
    improvement = _improvement(proposal.out_of_sample.improvement)
    lines += [
        f"   Risk: {validation.risk.score:.1%} ({validation.risk.category})",
        (
            f"   Outcome: {summary.get('outcome_definition_text', '')} "
            f"({summary.get('trades_in_fit', proposal.n_trades)} trades in the fit"
            + (f"; {dropped} duplicates dropped)" if dropped else ")")
        ),
        (
            f"   Out-of-sample MSE improvement: {fmt_pct(improvement, signed=True, missing='n/a')} "
            f"(confidence map {'ENABLED' if proposal.confidence_enabled else 'DISABLED'})"
        ),
        (
            f"   Ensemble weights: {proposal.weights.status.replace('_', ' ')} — "
            f"{escape(proposal.weights.reason)}"
        ),
        *_section_lines(proposal),
        f"   Recommendation: {proposal.recommendation}",
    ]
    lines.extend(f"      - {escape(reason)}" for reason in proposal.do_not_apply_reasons())
    lines += ["", "📋 NEXT STEPS:", *_next_steps(result)]
    return "\n".join(lines)


def _next_steps(result: RunResult) -> list[str]:
    steps = [f"1. Review report: cat {shlex.quote(result.files['markdown'])}"]
    if _deployable(result):
        caution = (
            ""
            if result.proposal.recommendation == "APPROVE CANDIDATE"
            else (
                " (the report says DO NOT APPLY: approve refuses it unless a person who has "
                'read the report adds --override "<why>")'
            )
        )
        return [
            *steps,
            f"2. Approve{caution}: {result.approve_command}",
            "3. Monitor for 24-48 hours",
            f"4. Rollback if needed: {result.rollback_command}",
        ]
    if result.record.forced:
        return [
            *steps,
            (
                "2. Do not approve: this job was FORCED and approve refuses it. "
                f"When `{result.check_command}` says READY, run again without --force."
            ),
        ]
    return [
        *steps,
        (
            "2. Do not approve: the proposal was rejected and approve refuses it. "
            "The report says why; wait for more data or fix the cause, then run again."
        ),
    ]


def _section_lines(proposal: Proposal) -> list[str]:
    symbols = proposal.per_symbol
    if not symbols.requested:
        per_symbol = "not requested (--per-symbol)"
    elif symbols.enabled:
        kept = ", ".join(escape(s.symbol) for s in symbols.kept)
        per_symbol = f"ENABLED for {kept}; the other symbols use the global map"
    else:
        per_symbol = "DISABLED — no symbol's own map passed the out-of-sample selection"
    consensus = proposal.consensus
    state = "ENABLED" if proposal.config.consensus.enabled else "DISABLED"
    if consensus.available:
        listed = ", ".join(f"{b.bucket} {b.multiplier:.3f}" for b in consensus.buckets)
        state += f" ({listed})"
    return [
        f"   Per-symbol maps: {per_symbol}",
        f"   Consensus multipliers: {state} — {escape(consensus.reason)}",
    ]
