"""The views of the deploy jobs: each result as terminal text and as a JSON-ready dict."""

# Pure functions of the frozen results (and of where the files are, for the text);
# the CLI prints what they return. Every JSON view carries ``"ok": True``: a refusal
# or failure never gets here, it is an exception the CLI turns into an exit code.

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from calibration_core.deploy.inspection import _weight_delta, calibrated_value
from calibration_core.deploy.jobstore import RECOMMEND_APPROVE
from calibration_core.text import fmt_number

if TYPE_CHECKING:
    from calibration_core.deploy.approval import AbortResult, ApprovalPlan
    from calibration_core.deploy.inspection import ConfigDiff, HistoryReport, StatusReport
    from calibration_core.deploy.session import DeployResult
    from calibration_core.settings import Paths

__all__ = [
    "render_abort_json",
    "render_abort_text",
    "render_approval_summary",
    "render_deploy_json",
    "render_deploy_text",
    "render_diff_json",
    "render_diff_text",
    "render_history_json",
    "render_history_text",
    "render_status_json",
    "render_status_text",
]

_SUMMARY_POINTS = (0.5, 0.6, 0.7, 0.8, 0.9)


def _weight(value: float | None) -> str:
    return fmt_number(value, 3, missing="  -  ")


def _warnings(warnings: tuple[str, ...]) -> list[str]:
    return [f"⚠️  {w}" for w in warnings]


# --------------------------------------------------------------------------- approve, rollback


def render_approval_summary(plan: ApprovalPlan) -> str:
    """Return what a person reads before ``Deploy <job>? [y/N]``: the job and what it changes."""
    job, proposed = plan.job, plan.job.proposed_config
    live = plan.live.document
    points = "  ".join(
        f"{x:.2f}→{calibrated_value(proposed.confidence, x):.3f}" for x in _SUMMARY_POINTS
    )
    lines = [f"📋 Calibration job {job.job_id}"]
    if job.recommendation == RECOMMEND_APPROVE:
        lines.append(f"   recommendation: ✅ {RECOMMEND_APPROVE} (the report's words)")
    else:
        shown = job.recommendation or "UNKNOWN"
        lines.append(f"   recommendation: ❌ {shown} (the report's words)")
        lines.extend(f"     - {reason}" for reason in job.do_not_apply_reasons)
    lines += [
        f"   created:     {job.created_at}",
        f"   trades:      {job.n_trades}",
        f"   data hash:   {job.data_hash}",
        f"   validation:  {'✅ passed' if job.validation_passed else '❌ failed'}",
        f"   risk:        {job.risk_score:.1%} ({job.risk_category})",
        "   confidence:  "
        + ("enabled   " + points if proposed.confidence.enabled else "disabled (raw confidence)"),
        f"   weights:     {'enabled' if proposed.weights.enabled else 'disabled'} (before → after)",
    ]
    before = {} if live is None else live.weights_dict()
    after = proposed.weights_dict()
    for model in list(before) + [m for m in after if m not in before]:
        b, a = before.get(model), after.get(model)
        delta = "" if a is None or b is None else f"  ({a - b:+.3f})"
        lines.append(f"     {model:<12} {_weight(b)} → {_weight(a)}{delta}")
    lines.append(
        f"   live now:    {plan.live.version or ('unparseable' if plan.live.exists else 'none')}"
    )
    if plan.resumes:
        lines.append(
            f"   note: {job.job_id} is already live (an earlier approve was interrupted); "
            "approving finishes it"
        )
    return "\n".join(lines)


def render_deploy_text(result: DeployResult, paths: Paths) -> str:
    """Return the text of what approve or rollback did, and where the files are."""
    if not result.changed and not result.resumed:
        lines = [f"✅ {result.version} is already live; nothing to do"]
    elif result.resumed:
        lines = [f"✅ {result.version} was already live; finished the interrupted approve"]
    else:
        verb = "Deployed" if result.event == "deploy" else "Rolled back to"
        lines = [f"✅ {verb} {result.version} (previous: {result.previous_version or 'none'})"]
    lines += [
        f"   config:  {paths.config} (sha256 {result.config_sha256[:16]}…)",
        f"   archive: {paths.archive_dir}",
        f"   audit:   {result.event} by {result.by} at {result.at}",
        f"   reload:  signalled via {paths.sentinel}",
    ]
    if result.override is not None:
        lines.append(f"   override: {result.override}")
    if result.cadence is not None:
        ok, message = result.cadence
        lines.append(
            f"   cadence: notified ({message})" if ok else f"⚠️  cadence: NOT notified ({message})"
        )
    lines.extend(_warnings(result.warnings))
    if result.event == "deploy" and result.changed:
        lines += ["", "Next: monitor for 24-48 hours; `rollback` if needed."]
    return "\n".join(lines)


def render_deploy_json(result: DeployResult) -> dict[str, Any]:
    """Return the JSON document of what approve or rollback did."""
    return {"ok": True, **result.to_dict()}


# --------------------------------------------------------------------------- abort


def render_abort_text(result: AbortResult) -> str:
    """Return the text of an aborted job."""
    lines = [f"🗄️  Aborted {result.job_id}: nothing was deployed; record in {result.record_path}"]
    if not result.audited:
        lines.append("   (no audit record: the config directory is missing)")
    return "\n".join(lines + _warnings(result.warnings))


def render_abort_json(result: AbortResult) -> dict[str, Any]:
    """Return the JSON document of an aborted job."""
    return {"ok": True, **attrs.asdict(result)} | {"warnings": list(result.warnings)}


# --------------------------------------------------------------------------- status


def render_status_text(report: StatusReport) -> str:
    """Return the status as the operator reads it."""
    match = {True: "yes", False: "NO (differs from archive)", None: "no archived copy"}
    lines = [
        f"📊 Calibration status ({report.config_path})",
        f"   live version:  {report.live_version or '-'}"
        + ("  (LEGACY config of the old deployer)" if report.legacy else ""),
    ]
    if report.legacy_refusal:
        lines.append(
            f"   ❌ REFUSED by the loader: {report.legacy_refusal}; nothing is served from it "
            "(the loader keeps what it had, or the identity)"
        )
    if report.legacy or report.based_on_trades is not None:
        trades = "-" if report.based_on_trades is None else report.based_on_trades
        lines.append(f"   created:       {report.created_at or '-'}, based on {trades} trades")
    if report.config_missing is not None:
        lines.append(f"   ⚠️ {report.config_missing}")
    elif report.live_error:
        lines.append(f"   ⚠️ live config: {report.live_error}")
    lines += [
        f"   approved:      {report.approved_at or '-'} by {report.approved_by or '-'}",
        *(
            [f"   override:      {report.override_reason} (deployed against DO NOT APPLY)"]
            if report.override_reason
            else []
        ),
        f"   data hash:     {report.data_hash or '-'}",
        f"   sha256:        {report.config_sha256 or '-'}",
        f"   matches archive: {match[report.matches_archive]}",
        f"   lock:          {'HELD (approve/rollback running)' if report.lock_held else 'free'}",
    ]
    last = report.last_audit_event
    if last is None:
        lines.append("   last event:    -")
    else:
        subject = last.get("version") or last.get("job_id") or ""
        lines.append(f"   last event:    {last.get('event')} {subject} at {last.get('at')}")
    if report.audit_bad_lines:
        lines.append(f"   ⚠️ unparseable audit lines: {list(report.audit_bad_lines)}")
    lines.append(f"   pending jobs:  {len(report.pending_jobs)}")
    for job in report.pending_jobs:
        flags = " STALE" if job["stale"] else ""
        flags += " FORCED" if job["forced"] else ""
        if job.get("recommendation") != RECOMMEND_APPROVE:
            flags += f" {job.get('recommendation')}"
        lines.append(
            f"     {job['job_id']}  risk {job['risk_score']:.1%} ({job['risk_category']}){flags}"
        )
    return "\n".join(lines)


def render_status_json(report: StatusReport) -> dict[str, Any]:
    """Return the status as one JSON document."""
    data = attrs.asdict(report)
    data["pending_jobs"] = list(report.pending_jobs)
    data["audit_bad_lines"] = list(report.audit_bad_lines)
    return {"ok": True, **data}


# --------------------------------------------------------------------------- history


def render_history_text(report: HistoryReport, paths: Paths) -> str:
    """Return the audit events and the per-version table."""
    if not report.events and not report.versions:
        return f"No audit events yet ({paths.audit_log})."
    lines = [f"📜 Calibration history ({paths.audit_log})", ""]
    lines.append(f"   {'at':<26} {'event':<17} {'version':<22} {'previous':<22} by")
    if not report.events:
        lines.append(f"   (no audit events yet in {paths.audit_log})")
    for event in report.events:
        kind = event.get("event", "?")
        if kind == "recovered":
            kind = f"recovered({event.get('as', '?')})"
        version = event.get("version") or event.get("job_id") or "-"
        by = event.get("approved_by") or event.get("by") or "-"
        extra = f"  reason: {event['reason']}" if event.get("reason") else ""
        extra += f"  override: {event['override']}" if event.get("override") else ""
        lines.append(
            f"   {event.get('at', '-')!s:<26} {kind:<17} {version!s:<22} "
            f"{event.get('previous_version') or '-'!s:<22} {by}{extra}"
        )
    lines += [
        "",
        f"   {'version':<22} {'times live':>10}  {'first live':<26} {'last live':<26} deployed by",
    ]
    for v in report.versions:
        mark = "  ← live" if v.live_now else ""
        mark += "" if v.archived else "  (NOT ARCHIVED)"
        lines.append(
            f"   {v.version:<22} {v.times_made_live:>10}  {v.first_live_at or '-'!s:<26} "
            f"{v.last_live_at or '-'!s:<26} {v.deployed_by or '-'}{mark}"
        )
        if v.legacy or v.based_on_trades is not None:
            trades = "-" if v.based_on_trades is None else v.based_on_trades
            kind = "legacy config of the old deployer, " if v.legacy else ""
            lines.append(
                f"   {'':<22} {kind}created {v.created_at or '-'}, based on {trades} trades"
            )
    if report.bad_lines:
        lines.append(f"   ⚠️ unparseable audit lines: {list(report.bad_lines)}")
    return "\n".join(lines)


def render_history_json(report: HistoryReport) -> dict[str, Any]:
    """Return the history as one JSON document."""
    return {
        "ok": True,
        "events": list(report.events),
        "versions": [attrs.asdict(v) for v in report.versions],
        "live_version": report.live_version,
        "bad_lines": list(report.bad_lines),
    }


# --------------------------------------------------------------------------- diff


def render_diff_text(result: ConfigDiff) -> str:
    """Return the diff: enabled flags, the calibrated grid, the weights, other fields."""
    lines = [f"🔍 A = {result.a_label}   B = {result.b_label}"]
    if result.identical:
        lines.append("   no differences in maps, weights, flags or other fields")
    lines += ["", "   enabled                  A      B"]
    for section, on_a, on_b in result.enabled:
        mark = "     ← differs" if on_a != on_b else ""
        lines.append(f"   {section:<24} {_on_off(on_a):<6} {_on_off(on_b)}{mark}")
    lines += ["", "   confidence   A        B        Δ"]
    for x, a, b in result.grid:
        lines.append(f"   {x:.2f}         {a:.3f}    {b:.3f}    {b - a:+.3f}")
    lines += ["", "   weights      A        B        Δ"]
    for model, wa, wb in result.weights:
        delta = "" if wa is None or wb is None else f"{wb - wa:+.3f}"
        lines.append(f"   {model:<12} {_weight(wa):<8} {_weight(wb):<8} {delta}")
    if result.other:
        lines += ["", "   other differences"]
        lines.extend(f"   {field}: {a!r} → {b!r}" for field, a, b in result.other)
    return "\n".join(lines)


def render_diff_json(result: ConfigDiff) -> dict[str, Any]:
    """Return the diff as one JSON document (``delta`` is B - A)."""
    return {
        "ok": True,
        "a": result.a_label,
        "b": result.b_label,
        "a_version": result.a_version,
        "b_version": result.b_version,
        "identical": result.identical,
        "grid": [{"raw": x, "a": a, "b": b, "delta": b - a} for x, a, b in result.grid],
        "weights": [
            {"model": m, "a": a, "b": b, "delta": _weight_delta(a, b)} for m, a, b in result.weights
        ],
        "enabled": [{"section": s, "a": a, "b": b} for s, a, b in result.enabled],
        "other": [{"field": f, "a": a, "b": b} for f, a, b in result.other],
    }


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"
