"""The offline jobs' work: ``check`` (readiness), ``run`` (proposal + report) and ``analyze``."""

# Shell module: it reads the trades and the live config, calls the pure core
# (analysis.build_proposal / analyze_confidence), writes the report and the job
# record, and prints. `run` proposes; it never writes inside the config directory.

from __future__ import annotations

import logging
import math
import shlex
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from calibration_core.analysis import (
    NO_HOLD_OUTCOMES,
    ConfidenceAnalysis,
    HoldEvidence,
    Proposal,
    analyze_confidence,
    build_proposal,
    trade_age_hours,
)
from calibration_core.cadence import assess_readiness
from calibration_core.cli import EXIT_DATA, EXIT_NEGATIVE, EXIT_OK
from calibration_core.deploy import read_live
from calibration_core.exceptions import (
    CalibrationError,
    DataIntegrityError,
    NotAuthorizedError,
)
from calibration_core.jobs import STATUS_PENDING, STATUS_REJECTED, JobRecord, JobStore
from calibration_core.plot import MATPLOTLIB_MISSING_NOTE, render_reliability_png
from calibration_core.preflight import preflight_path, run_preflight, skipped_preflight
from calibration_core.report import (
    ReportContext,
    analysis_csv,
    analysis_document,
    build_report_document,
    integrity_to_dict,
    output_error,
    remove_outputs,
    render_json,
    render_markdown,
    report_paths,
    write_outputs,
    write_report,
)
from calibration_core.settings import PATH_SETTINGS
from calibration_core.text import escape
from calibration_core.trades import read_trades, summarize_integrity
from calibration_core.validation import CheckResult, Severity

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from datetime import datetime

    from calibration_core.cadence import Readiness
    from calibration_core.cli import JobContext
    from calibration_core.config import CalibrationConfig
    from calibration_core.preflight import Preflight
    from calibration_core.settings import Paths
    from calibration_core.trades import IntegritySummary, TradeBatch

__all__ = ["run_analyze", "run_calibration", "run_check"]

_RULE = "═" * 59

logger = logging.getLogger("calibration_core.offline")


# --------------------------------------------------------------------------- shared helpers


def _readiness_dict(readiness: Readiness, *, forced: bool = False) -> dict[str, Any]:
    api = readiness.api
    return {
        "status": readiness.status,
        "ready": readiness.ready,
        "reason": readiness.reason,
        "allowed_actions": list(readiness.allowed_actions),
        "levels": [
            {
                "name": level.name,
                "authorized": level.authorized,
                "reason": level.reason,
                "requires_manual_approval": level.requires_manual_approval,
            }
            for level in readiness.levels
        ],
        "api": None
        if api is None
        else {
            "url": api.url,
            "reachable": api.reachable,
            "ready": api.ready,
            "actions": list(api.actions),
            "reason": api.reason,
            "api_reason": api.api_reason,
            "stats": api.stats,
            "fell_back": api.fell_back,
        },
        "preflight": None if readiness.preflight is None else readiness.preflight.to_dict(),
        "forced": forced,
    }


def _read_trades(ctx: JobContext) -> TradeBatch:
    """Read the trades, logging the step and drawing progress on a terminal."""
    path = ctx.paths.data
    logger.info("reading trades from %s", path, extra={"event": "trades_read_start", "path": path})
    callback = ctx.progress_callback()
    on_bytes = None
    if callback is not None:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if size > 0:

            def on_bytes(done: int) -> None:
                callback("reading trades (bytes)", min(done, size), size)

    batch = read_trades(path, progress=on_bytes)
    logger.info(
        "read %d trades from %s (%s)",
        batch.n_trades,
        path,
        batch.data_hash,
        extra={
            "event": "trades_read",
            "path": path,
            "n": batch.n_trades,
            "digest": batch.data_hash,
        },
    )
    return batch


def _log_readiness(readiness: Readiness) -> None:
    logger.info(
        "readiness %s: %s",
        readiness.status,
        readiness.reason,
        extra={"event": "readiness", "step": readiness.status},
    )


def _preflight(args: argparse.Namespace, *, forced: bool) -> Preflight | None:
    # --preflight FILE or $CALIBRATION_PREFLIGHT; --force skips the probes (the job is FORCED).
    path = preflight_path(getattr(args, "preflight", None))
    if path is None:
        return None
    return skipped_preflight(path) if forced else run_preflight(path)


def _cadence_lines(readiness: Readiness) -> list[str]:
    api = readiness.api
    if api is None:
        lines = ["   Learning Cadence API: not configured (LEARNING_CADENCE_API unset)"]
    else:
        lines = [f"   Learning Cadence API {escape(api.url)}: {escape(api.reason)}"]
        if api.fell_back:
            lines.append("      (/readiness/simple was not found; asked /cadence/ready)")
        if api.stats:
            shown = ", ".join(f"{escape(key)}={escape(value)}" for key, value in api.stats.items())
            lines.append(f"      stats: {shown}")
    preflight = readiness.preflight
    if preflight is None:
        lines.append("   Pre-flight probes: not configured (--preflight / CALIBRATION_PREFLIGHT)")
    elif preflight.skipped:
        lines.append(f"   Pre-flight probes: SKIPPED (--force) — {preflight.source}")
    else:
        passed = len(preflight.results) - len(preflight.failures)
        lines.append(
            f"   Pre-flight probes ({preflight.source}): {passed}/{len(preflight.results)} passed"
        )
        lines.extend(
            f"      {'✅' if r.passed else '❌'} {escape(r.name)}: {escape(r.detail)}"
            for r in preflight.results
        )
    return lines


def _calibration_authorized(readiness: Readiness) -> bool:
    return bool(readiness.ready) and "calibration" in readiness.allowed_actions


def _integrity_lines(summary: IntegritySummary, data_path: Path) -> list[str]:
    first = summary.first_timestamp or "—"
    last = summary.last_timestamp or "—"
    symbols = ", ".join(escape(s) for s in summary.symbols) or "none"
    lines = [
        f"📁 DATA INTEGRITY ({escape(data_path)})",
        f"   Trades: {summary.n_trades}",
        f"   Symbols: {summary.n_symbols} ({symbols})",
        (
            f"   Wins: {summary.wins} ({summary.win_rate:.1%})   "
            f"Losses: {summary.losses} ({summary.loss_rate:.1%})   "
            f"Neutral: {summary.neutral} ({summary.neutral_rate:.1%})"
        ),
        f"   Date range: {first} → {last} ({summary.span_days:.1f} days)",
    ]
    if summary.warnings:
        lines.append(f"   ⚠️  Warnings ({len(summary.warnings)}):")
        lines.extend(f"      {escape(w)}" for w in summary.warnings)
    else:
        lines.append("   Warnings: none")
    if summary.problems:
        lines.append(f"   ❌ Problems ({len(summary.problems)}):")
        lines.extend(f"      {escape(p)}" for p in summary.problems)
    else:
        lines.append("   Problems: none")
    return lines


# --------------------------------------------------------------------------- check


def run_check(args: argparse.Namespace, ctx: JobContext) -> int:
    """Print the readiness; exit 0 only when calibration is authorized.

    A trades file with bad lines makes the answer NOT READY, and every bad
    line is printed with its line number.
    """
    paths = ctx.paths
    try:
        batch = _read_trades(ctx)
    except DataIntegrityError as exc:
        return _check_bad_data(ctx, paths, exc)
    summary = summarize_integrity(batch)
    readiness = assess_readiness(
        summary, api_url=paths.cadence_api, preflight=_preflight(args, forced=False)
    )
    _log_readiness(readiness)
    authorized = _calibration_authorized(readiness)
    payload = {
        "ok": authorized,
        "calibration_authorized": authorized,
        "data_path": str(paths.data),
        "readiness": _readiness_dict(readiness),
        "integrity": {
            **integrity_to_dict(summary),
            "data_hash": summary.data_hash,
            "partial_last_line_ignored": batch.partial_last_line_ignored,
        },
    }
    dot = "🟢" if readiness.ready else "🔴"
    lines = [
        "📊 LEARNING CADENCE READINESS CHECK",
        _RULE,
        "",
        f"{dot} Status: {escape(readiness.status)}",
        f"   Reason: {escape(readiness.reason)}",
        f"   Allowed actions: {escape(list(readiness.allowed_actions))}",
        "",
        "🔐 AUTHORIZATION LEVELS",
    ]
    for level in readiness.levels:
        mark = "✅" if level.authorized else "❌"
        manual = (
            " (manual approval required)"
            if level.requires_manual_approval and "manual approval" not in level.reason
            else ""
        )
        lines.append(f"   {mark} {escape(level.name)}: {escape(level.reason)}{manual}")
    lines.extend(_cadence_lines(readiness))
    lines.append("")
    lines.extend(_integrity_lines(summary, paths.data))
    lines.append("")
    if authorized:
        # Repeat --preflight too: `run` must probe the same file that `check` did.
        probes = getattr(args, "preflight", None)
        words = ["--preflight", str(Path(probes).absolute())] if probes else []
        lines.extend(["✅ CALIBRATION AUTHORIZED", f"   You can run: {ctx.command('run', *words)}"])
    else:
        # The reason is printed once, under Status; here only what to do about it.
        lines.extend(
            [
                "❌ CALIBRATION NOT AUTHORIZED",
                "   Run check again when the reason above no longer holds.",
            ]
        )
    ctx.emit(payload, "\n".join(lines))
    return EXIT_OK if authorized else EXIT_NEGATIVE


def _check_bad_data(ctx: JobContext, paths: Paths, exc: DataIntegrityError) -> int:
    problems = list(exc.problems)
    if problems:
        count = f"{len(problems)} bad line{'s' if len(problems) != 1 else ''}"
        reason = f"the trades file failed its integrity checks ({count})"
        advice = "Fix the producer of the trades file; never clean it by hand."
    else:
        # Not a bad line: the file is missing, a directory or unreadable, usually a path typo.
        problems = [str(exc)]
        reason = "the trades file cannot be read"
        advice = (
            f"Check the path {paths.origin_note('data')}: pass --data or set "
            f"{PATH_SETTINGS['data'][1]}."
        )
    payload = {
        "ok": False,
        "calibration_authorized": False,
        "data_path": str(paths.data),
        "readiness": {
            "status": "NOT READY",
            "ready": False,
            "reason": reason,
            "allowed_actions": [],
            "levels": [],
            "api": None,
            "forced": False,
        },
        "integrity": {"problems": problems, "warnings": []},
    }
    lines = [
        "📊 LEARNING CADENCE READINESS CHECK",
        _RULE,
        "",
        "🔴 Status: NOT READY",
        f"   Reason: {reason}",
        "   Allowed actions: []",
        "",
        f"📁 DATA INTEGRITY ({escape(paths.data)})",
        f"   ❌ Problems ({len(problems)}):",
        *(f"      {escape(p)}" for p in problems),
        "",
        "❌ CALIBRATION NOT AUTHORIZED",
        f"   {advice}",
    ]
    ctx.emit(payload, "\n".join(lines))
    # The same code as `run` on the same file: bad data is exit 3 for every job.
    return EXIT_DATA


# --------------------------------------------------------------------------- run


@attrs.frozen
class _Base:
    """The live config a proposal is computed against, as recorded in the job."""

    config: CalibrationConfig | None
    version: str | None
    sha256: str | None
    note: str


def _read_base(paths: Paths) -> _Base:
    # Read only: run must leave the config directory byte- and mtime-identical.
    try:
        live = read_live(paths)
    except CalibrationError as exc:
        return _Base(None, None, None, f"live config {paths.config} is unreadable ({exc})")
    if not live.exists:
        return _Base(None, None, None, f"no live config at {paths.config}")
    if live.legacy is not None:
        # The old deployer's config: recorded as the base (approve replaces it and
        # archives its bytes), but its weights are not ours to start from.
        return _Base(
            None,
            live.version,
            live.sha256,
            f"{live.version} (legacy config of the old deployer, sha256 {live.sha256}; "
            "its weights are not used as the starting point)",
        )
    if live.config is None:
        return _Base(
            None,
            None,
            None,
            f"live config {paths.config} is invalid ({live.error}); recorded as none — "
            "approve will refuse this job while that file is live",
        )
    return _Base(
        live.config,
        live.version,
        live.sha256,
        f"{live.version} (sha256 {live.sha256})",
    )


def _load_checked(ctx: JobContext) -> tuple[TradeBatch, IntegritySummary]:
    paths = ctx.paths
    batch = _read_trades(ctx)
    summary = summarize_integrity(batch)
    if summary.problems:
        first = summary.problems[0]
        more = len(summary.problems) - 1
        message = f"{paths.data}: {first}" + (f" (and {more} more)" if more else "")
        raise DataIntegrityError(
            message, problems=tuple(f"{paths.data}: {p}" for p in summary.problems)
        )
    return batch, summary


def _job_summary(proposal: Proposal) -> dict[str, Any]:
    oos = proposal.out_of_sample
    weights = proposal.weights

    def num(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    return {
        "n_trades": proposal.n_trades,
        "wins": proposal.n_wins,
        "losses": proposal.n_losses,
        "neutral": proposal.n_neutral,
        "oos_folds": len(oos.folds),
        "oos_mse_raw": num(oos.brier_raw),
        "oos_mse_calibrated": num(oos.brier_calibrated),
        "oos_mse_improvement": num(oos.improvement),
        "in_sample_mse_improvement": num(proposal.in_sample.mse_improvement),
        "confidence_map_enabled": proposal.confidence_enabled,
        "max_confidence_change": float(proposal.calibration.max_abs_change()),
        "weights_status": weights.status,
        "weights_enabled": proposal.weights_enabled,
        "weights_carried_over": proposal.weights_carried_over,
        "weights_reason": weights.reason,
        "per_symbol_requested": proposal.per_symbol.requested,
        "per_symbol_enabled": proposal.config.per_symbol.enabled,
        "per_symbol_kept": [s.symbol for s in proposal.per_symbol.kept],
        "consensus_enabled": proposal.config.consensus.enabled,
        "consensus_oos_mse_improvement": num(proposal.consensus.improvement),
        "consensus_reason": proposal.consensus.reason,
        "hold_bias_enabled": proposal.config.hold_bias.enabled,
        "hold_bias_reason": proposal.hold_bias.reason,
        "recommendation": proposal.recommendation,
        "reasons": list(proposal.do_not_apply_reasons()),
        "newest_trade_age_hours": proposal.newest_trade_age_hours,
        "forced": proposal.forced,
    }


def run_calibration(args: argparse.Namespace, ctx: JobContext) -> int:
    """Analyse, propose, validate, save a job and write the report; apply nothing.

    Exit 0 when the job is pending approval, 1 when it was rejected.

    Raises
    ------
    DataIntegrityError
        Bad lines, or a dataset that fails phase 0.2 (too few trades, one
        symbol, no win or no loss); ``--force`` does not override this.
    NotAuthorizedError
        When the Learning Cadence gate does not authorize calibration and
        ``--force`` was not given.
    """
    paths = ctx.paths
    forced = bool(args.force)
    batch, summary = _load_checked(ctx)
    readiness = assess_readiness(
        summary, api_url=paths.cadence_api, preflight=_preflight(args, forced=forced)
    )
    _log_readiness(readiness)
    if not _calibration_authorized(readiness) and not forced:
        raise NotAuthorizedError(
            f"calibration is not authorized: {readiness.reason} "
            f"(see `{ctx.command('check')}`; `run --force` makes a non-deployable test job)"
        )
    batch = batch.sorted_by_time()
    base = _read_base(paths)
    now = ctx.now().astimezone(UTC)
    store = JobStore(paths.jobs_dir)
    try:
        job_id = store.reserve_job_id(now)
    except OSError as exc:
        raise output_error(exc, paths.jobs_dir) from None
    try:
        record, proposal, files = _make_job(
            args,
            ctx,
            batch=batch,
            summary=summary,
            readiness=readiness,
            base=base,
            job_id=job_id,
            now=now,
        )
        try:
            store.save(record)
        except OSError as exc:
            raise output_error(exc, paths.jobs_dir / f"{job_id}.json") from None
    except BaseException:
        # Nothing of a failed run stays behind: its report files and its reservation.
        written = report_paths(paths.report_dir, job_id)
        remove_outputs((written.picture, written.json, written.markdown))
        store.release(job_id)
        raise
    logger.info(
        "job %s saved as %s (recommendation: %s)",
        job_id,
        record.status,
        proposal.recommendation,
        extra={"event": "job_saved", "job_id": job_id, "digest": batch.data_hash},
    )
    _print_run(ctx, record, proposal, files)
    return EXIT_OK if record.status == STATUS_PENDING else EXIT_NEGATIVE


def _make_job(
    args: argparse.Namespace,
    ctx: JobContext,
    *,
    batch: TradeBatch,
    summary: IntegritySummary,
    readiness: Readiness,
    base: _Base,
    job_id: str,
    now: datetime,
) -> tuple[JobRecord, Proposal, dict[str, str]]:
    paths = ctx.paths
    forced = bool(args.force)
    created_at = now.isoformat()
    breakdown = batch.has_model_breakdown
    proposal = build_proposal(
        batch.confidence,
        batch.pnl_pct,
        job_id=job_id,
        created_at=created_at,
        data_hash=batch.data_hash,
        sides=batch.sides if breakdown else None,
        model_names=batch.model_names if breakdown else (),
        model_actions=batch.model_actions if breakdown else None,
        live_config=base.config,
        forced=forced,
        newest_trade_age_hours=trade_age_hours(batch.timestamps, now.timestamp()),
        symbol_codes=batch.symbol_codes,
        symbol_names=batch.symbol_names,
        per_symbol=bool(getattr(args, "per_symbol", False)),
        consensus_count=batch.consensus_count,
        # The trades contract records executed BUY/SELL trades only: no HOLD outcome.
        hold_evidence=HoldEvidence.none(NO_HOLD_OUTCOMES),
        progress=ctx.progress_callback(),
    )
    logger.info(
        "proposal built on %d trades: %s",
        proposal.n_trades,
        proposal.recommendation,
        extra={"event": "proposal_built", "job_id": job_id, "n": proposal.n_trades},
    )
    status = STATUS_PENDING if proposal.acceptable else STATUS_REJECTED
    files = report_paths(paths.report_dir, job_id)
    picture = render_reliability_png(
        proposal.reliability_raw,
        proposal.reliability_calibrated,
        raw_label="raw confidence, all trades",
        calibrated_label=proposal.reliability_label,
        title=f"Reliability diagram — {job_id}",
    )
    context = ReportContext(
        job_id=job_id,
        created_at=created_at,
        status=status,
        data_path=str(paths.data),
        data={
            **integrity_to_dict(summary),
            "partial_last_line_ignored": batch.partial_last_line_ignored,
        },
        authorization=_readiness_dict(readiness, forced=forced),
        base_version=base.version,
        base_config_sha256=base.sha256,
        live_config_note=base.note,
        picture=files.picture.name if picture is not None else None,
        picture_note="" if picture is not None else MATPLOTLIB_MISSING_NOTE,
        approve_command=ctx.command("approve", job_id),
        rollback_command=ctx.command("rollback"),
        rollback_to_command=ctx.command("rollback", base.version) if base.version else None,
    )
    document = build_report_document(proposal, context)
    write_report(files, render_markdown(document), render_json(document), picture)
    logger.info(
        "report written to %s",
        files.markdown,
        extra={"event": "report_written", "job_id": job_id, "path": files.markdown},
    )
    record = JobRecord(
        job_id=job_id,
        created_at=created_at,
        status=status,
        forced=forced,
        proposed_config=proposal.config,
        validation_passed=proposal.validation.passed,
        risk_score=proposal.validation.risk.score,
        risk_category=proposal.validation.risk.category,
        checks=tuple(c.to_dict() for c in proposal.validation.checks),
        data_path=str(paths.data.resolve()),
        data_hash=batch.data_hash,
        n_trades=batch.n_trades,
        base_version=base.version,
        base_config_sha256=base.sha256,
        report_markdown=str(files.markdown.resolve()),
        report_json=str(files.json.resolve()),
        summary=_job_summary(proposal),
        recommendation=proposal.recommendation,
        reasons=proposal.do_not_apply_reasons(),
    ).with_status(
        status,
        at=now,
        by="run",
        note="created FORCED (not deployable)" if forced else "created",
    )
    shown = {
        "markdown": str(files.markdown),
        "json": str(files.json),
        "picture": str(files.picture) if picture is not None else "",
    }
    return record, proposal, shown


def _section_lines(proposal: Proposal) -> list[str]:
    config = proposal.config
    symbols = proposal.per_symbol
    if not symbols.requested:
        per_symbol = "not requested (--per-symbol)"
    elif symbols.enabled:
        kept = ", ".join(escape(s.symbol) for s in symbols.kept)
        per_symbol = f"ENABLED for {kept}; the other symbols use the global map"
    else:
        per_symbol = "DISABLED — no symbol's own map passed the out-of-sample selection"
    consensus = proposal.consensus
    state = "ENABLED" if config.consensus.enabled else "DISABLED"
    if consensus.available:
        listed = ", ".join(f"{b.bucket} {b.multiplier:.3f}" for b in consensus.buckets)
        consensus_text = f"{state} ({listed}) — {escape(consensus.reason)}"
    else:
        consensus_text = f"{state} — {escape(consensus.reason)}"
    hold = proposal.hold_bias
    hold_text = f"{'ENABLED' if config.hold_bias.enabled else 'DISABLED'} — {escape(hold.reason)}"
    return [
        f"   Per-symbol maps: {per_symbol}",
        f"   Consensus multipliers: {consensus_text}",
        f"   HOLD bias: {hold_text}",
    ]


def _validation_head(passed: bool, failures: Sequence[CheckResult]) -> str:
    if not passed:
        return "❌ FAILED"
    if failures:
        return f"✅ PASSED with {len(failures)} warning{'s' if len(failures) != 1 else ''}"
    return "✅ PASSED"


def _print_run(
    ctx: JobContext,
    record: JobRecord,
    proposal: Proposal,
    files: dict[str, str],
) -> None:
    pending = record.status == STATUS_PENDING
    validation = proposal.validation
    risk = validation.risk
    failures = validation.failures()
    oos = proposal.out_of_sample
    improvement = oos.improvement
    improvement_text = "n/a" if math.isnan(improvement) else f"{improvement:+.1%}"
    approve = ctx.command("approve", record.job_id)
    rollback = ctx.command("rollback")
    deployable = pending and not record.forced
    next_steps = [f"1. Review report: cat {shlex.quote(files['markdown'])}"]
    if deployable:
        caution = (
            ""
            if proposal.recommendation == "APPROVE CANDIDATE"
            else (
                " (the report says DO NOT APPLY: approve refuses it unless a person who has "
                'read the report adds --override "<why>")'
            )
        )
        next_steps += [
            f"2. Approve{caution}: {approve}",
            "3. Monitor for 24-48 hours",
            f"4. Rollback if needed: {rollback}",
        ]
    elif record.forced:
        next_steps.append(
            "2. Do not approve: this job was FORCED and approve refuses it. "
            f"When `{ctx.command('check')}` says READY, run again without --force."
        )
    else:
        next_steps.append(
            "2. Do not approve: the proposal was rejected and approve refuses it. "
            "The report says why; wait for more data or fix the cause, then run again."
        )
    payload = {
        "ok": pending,
        "job_id": record.job_id,
        "status": record.status,
        "forced": record.forced,
        "deployable": deployable,
        "report": files,
        "validation": {
            "passed": validation.passed,
            "failed": [c.to_dict() for c in failures],
        },
        "risk": {"score": risk.score, "category": risk.category},
        "oos_mse_improvement": None if math.isnan(improvement) else improvement,
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
            "oos_mse_improvement": None
            if math.isnan(proposal.consensus.improvement)
            else proposal.consensus.improvement,
            "reason": proposal.consensus.reason,
        },
        "hold_bias": {
            "enabled": proposal.config.hold_bias.enabled,
            "reason": proposal.hold_bias.reason,
        },
        "recommendation": proposal.recommendation,
        "reasons": list(proposal.do_not_apply_reasons()),
        "next_steps": {
            "review": f"cat {shlex.quote(files['markdown'])}",
            "approve": approve if deployable else None,
            "rollback": rollback,
        },
    }
    lines: list[str] = []
    if record.forced:
        lines += [
            "⛔ FORCED — NOT DEPLOYABLE (run with --force past the Learning Cadence gate)",
            "",
        ]
    head = "✅ CALIBRATION ANALYSIS COMPLETE" if pending else "❌ CALIBRATION PROPOSAL REJECTED"
    lines += [
        head,
        f"   Job ID: {record.job_id}",
        f"   Status: {record.status}{' (FORCED)' if record.forced else ''}",
        f"   Report: {files['markdown']}",
        f"   Validation: {_validation_head(validation.passed, failures)}",
    ]
    for check in failures:
        # A failed warning does not fail the validation: mark it as a warning, not a ❌.
        mark = "⚠️ " if check.severity is Severity.WARNING else "❌"
        lines.append(
            f"      {mark} {escape(check.name)} ({check.severity.value}): {escape(check.message)}"
        )
    lines += [
        f"   Risk: {risk.score:.1%} ({risk.category})",
        (
            f"   Out-of-sample MSE improvement: {improvement_text} "
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
    lines += ["", "📋 NEXT STEPS:", *next_steps]
    ctx.emit(payload, "\n".join(lines))


# --------------------------------------------------------------------------- analyze


def _unique_stem(directory: Path, stem: str) -> str:
    # Two analyses in the same second must not overwrite each other.
    candidate, number = stem, 1
    while (directory / f"{candidate}.json").exists() or (directory / f"{candidate}.csv").exists():
        candidate = f"{stem}_{number:02d}"
        number += 1
    return candidate


def _analysis_lines(analysis: ConfidenceAnalysis) -> list[str]:
    overall = analysis.overall
    d = overall.distribution
    c = overall.correlations

    def corr(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.4f}"

    lines = [
        "📈 CONFIDENCE ANALYSIS",
        _RULE,
        f"   Trades: {d.count}   mean {d.mean:.4f}   std {d.std:.4f}",
        (
            f"   min {d.min:.4f}   q25 {d.q25:.4f}   median {d.median:.4f}   "
            f"q75 {d.q75:.4f}   max {d.max:.4f}"
        ),
        (
            f"   Correlation with returns: Pearson {corr(c.pearson_returns)}, "
            f"Spearman {corr(c.spearman_returns)}"
        ),
        (
            f"   Correlation with wins:    Pearson {corr(c.pearson_wins)}, "
            f"Spearman {corr(c.spearman_wins)}"
        ),
        "",
        "   Decile  Confidence       Trades  Win rate  Mean return %",
    ]
    for b in overall.deciles:
        win = "—" if b.win_rate is None else f"{b.win_rate:.1%}"
        ret = "—" if b.mean_return is None else f"{b.mean_return:+.4f}"
        lines.append(
            f"   {b.label:<7} {b.lower:.3f}–{b.upper:.3f}  {b.count:>7}  {win:>8}  {ret:>13}"
        )
    lines.append("")
    lines.append("   Per symbol: trades, mean confidence, Pearson with wins")
    lines.extend(
        f"   {escape(s.scope):<12} {s.distribution.count:>7}  {s.distribution.mean:.4f}  "
        f"{corr(s.correlations.pearson_wins)}"
        for s in analysis.per_symbol
    )
    return lines


def run_analyze(args: argparse.Namespace, ctx: JobContext) -> int:
    """Write the confidence analysis as JSON and CSV and print its headline numbers."""
    paths = ctx.paths
    batch = _read_trades(ctx)
    if batch.n_trades == 0:
        raise DataIntegrityError(f"{paths.data}: no trades to analyze")
    analysis = analyze_confidence(
        batch.confidence, batch.pnl_pct, batch.symbol_codes, batch.symbol_names
    )
    now = ctx.now().astimezone(UTC)
    out_dir: Path = paths.report_dir if args.out_dir is None else Path(args.out_dir).absolute()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, out_dir) from None
    stem = _unique_stem(out_dir, f"analysis_{now.strftime('%Y%m%d_%H%M%S')}")
    json_path, csv_path = out_dir / f"{stem}.json", out_dir / f"{stem}.csv"
    document = analysis_document(
        analysis, data_path=str(paths.data), data_hash=batch.data_hash, created_at=now.isoformat()
    )
    # Both texts are rendered before anything is written, and written both or neither.
    outputs = [
        (csv_path, analysis_csv(analysis).encode("utf-8")),
        (json_path, render_json(document).encode("utf-8")),
    ]
    write_outputs(outputs)
    logger.info(
        "analysis written to %s and %s",
        json_path,
        csv_path,
        extra={"event": "analysis_written", "path": json_path, "digest": batch.data_hash},
    )
    payload = {"ok": True, "json": str(json_path), "csv": str(csv_path), **document}
    lines = [*_analysis_lines(analysis), "", f"   JSON: {json_path}", f"   CSV:  {csv_path}"]
    ctx.emit(payload, "\n".join(lines))
    return EXIT_OK
