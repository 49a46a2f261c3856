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
import numpy as np

from calibration_core.cli.main import EXIT_DATA, EXIT_NEGATIVE, EXIT_OK
from calibration_core.core.analysis import (
    NO_HOLD_OUTCOMES,
    ConfidenceAnalysis,
    HoldEvidence,
    Proposal,
    analyze_confidence,
    build_proposal,
    trade_age_hours,
)
from calibration_core.core.validation import CheckResult, Severity
from calibration_core.deploy.deployer import read_live
from calibration_core.deploy.jobstore import STATUS_PENDING, STATUS_REJECTED, JobRecord, JobStore
from calibration_core.exceptions import (
    CalibrationError,
    DataIntegrityError,
    NotAuthorizedError,
)
from calibration_core.fsio import atomic_write_text
from calibration_core.jobs.plot import MATPLOTLIB_MISSING_NOTE, render_reliability_png
from calibration_core.jobs.report import (
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
from calibration_core.sources.cadence import assess_readiness
from calibration_core.sources.integrity import (
    FIRST_LINES_SHOWN,
    find_duplicates,
    findings_hide_lines,
    format_findings,
    group_line_messages,
    robust_time_range,
    summarize_integrity,
)
from calibration_core.sources.preflight import preflight_path, run_preflight, skipped_preflight
from calibration_core.sources.trade_batch import OUTCOME_LOSS, OUTCOME_NONE, OUTCOME_WIN
from calibration_core.sources.trades import read_trades
from calibration_core.text import escape

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from datetime import datetime

    from numpy.typing import NDArray

    from calibration_core.cli.main import JobContext
    from calibration_core.config import CalibrationConfig
    from calibration_core.settings import Paths
    from calibration_core.sources.cadence import Readiness
    from calibration_core.sources.integrity import IntegritySummary
    from calibration_core.sources.preflight import Preflight
    from calibration_core.sources.trade_batch import TradeBatch

__all__ = ["run_analyze", "run_calibration", "run_check"]

_RULE = "═" * 59

logger = logging.getLogger("calibration_core.offline")

OUTCOME_PNL = "pnl"
OUTCOME_LABEL = "label"
_OUTCOME_DEFINITIONS = {
    OUTCOME_PNL: "WIN is PnL > 0, LOSS is PnL < 0 (whatever the dialect)",
    OUTCOME_LABEL: "the producer's outcome_label: WIN is 1, LOSS is 0, NEUTRAL is left out",
}
# Below a PnL this small the sign of a label-defined outcome is carried by this magnitude.
_LABEL_PNL_FLOOR = 1e-9


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


def _preflight_words(args: argparse.Namespace) -> list[str]:
    # A printed check or run must probe the same file that this job was given.
    probes = getattr(args, "preflight", None)
    return ["--preflight", str(Path(probes).absolute())] if probes else []


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


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _outcome_lines(summary: IntegritySummary) -> list[str]:
    # The three win definitions of the trading system, side by side (real_system.md §1).
    if not summary.labelled:
        return ["   Win rate by outcome_label: n/a (no trade carries an outcome_label)"]
    return [
        (
            f"   Win rate by outcome_label: {_rate(summary.label_win_rate)} WIN of "
            f"{summary.labelled} labelled; cadence service's WIN/(WIN+LOSS): "
            f"{_rate(summary.cadence_win_rate)} ({summary.label_wins}/"
            f"{summary.label_wins + summary.label_losses}; {summary.label_neutral} NEUTRAL)"
        )
    ]


def _integrity_lines(
    summary: IntegritySummary, data_path: Path, problems_file: Path | None = None
) -> list[str]:
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
            f"Neutral: {summary.neutral} ({summary.neutral_rate:.1%})   (PnL sign)"
        ),
        *_outcome_lines(summary),
        f"   Date range: {first} → {last} ({summary.span_days:.1f} days)",
    ]
    if summary.duplicates_dropped:
        lines.append(
            f"   Duplicates dropped (--drop-duplicates): {summary.duplicates_dropped} records"
        )
    if summary.starvation:
        lines.append(f"   ❌ {summary.starvation}")
    line_warnings = [w for w in summary.warnings if w not in {f.message for f in summary.findings}]
    findings = [
        *(f for f in summary.findings if f.stop),
        *group_line_messages(line_warnings, stop=False),
        *(f for f in summary.findings if not f.stop),
    ]
    dataset = [p for p in summary.problems if p not in {f.message for f in summary.findings}]
    if dataset or findings:
        lines.append(f"   Findings ({len(dataset) + len(findings)} kinds):")
        lines.extend(f"      ❌ {escape(p)}" for p in dataset)
        lines.extend(f"      {escape(text)}" for text in format_findings(findings))
        if problems_file is not None:
            lines.append(f"      Full list: {problems_file}")
    else:
        lines.append("   Problems: none   Warnings: none")
    return lines


def _problem_lines(summary: IntegritySummary) -> list[str]:
    """Every problem and warning, one per line, for the problems file."""
    out = [f"STOP {p}" for p in summary.problems]
    out.extend(f"WARN {w}" for w in summary.warnings)
    for finding in summary.findings:
        if finding.pairs:
            out.extend(f"{finding.kind}: line {a} repeats line {b}" for a, b in finding.pairs)
        elif finding.lines:
            out.extend(f"{finding.kind}: line {n}" for n in finding.lines)
    return out


def _summary_hides_lines(summary: IntegritySummary) -> bool:
    # A problems file only when the few lines shown leave something out: a check run
    # from cron every few minutes must not fill the report directory with copies.
    groups = [*summary.findings, *group_line_messages(list(summary.warnings), stop=False)]
    return findings_hide_lines(groups)


def _write_problems(path: Path, lines: list[str]) -> Path | None:
    """Write the full list next to the reports; a write failure never hides the findings."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "\n".join(lines) + "\n")
    except OSError:
        return None
    return path


def _problems_path(paths: Paths, now: datetime, stem: str | None = None) -> Path:
    name = stem or f"problems_{now.astimezone(UTC).strftime('%Y%m%d_%H%M%S')}"
    return paths.report_dir / f"{name}.txt"


def _findings_dict(summary: IntegritySummary) -> dict[str, Any]:
    return {
        "findings": [f.to_dict() for f in summary.findings],
        "zoneless_timestamps": {
            "count": summary.zoneless_count,
            "first_lines": list(summary.zoneless_first_lines),
        },
        "duplicates_dropped": summary.duplicates_dropped,
        "newest_age_hours": summary.newest_age_hours,
        "starvation": summary.starvation,
        "outcome_label": {
            "labelled": summary.labelled,
            "wins": summary.label_wins,
            "losses": summary.label_losses,
            "neutral": summary.label_neutral,
            "win_rate": summary.label_win_rate,
            "cadence_win_rate": summary.cadence_win_rate,
        },
    }


def _read_batch(ctx: JobContext, now: datetime) -> TradeBatch:
    """Read the trades; bad lines become one short grouped refusal and a problems file."""
    paths = ctx.paths
    try:
        return _read_trades(ctx)
    except DataIntegrityError as exc:
        if not exc.problems:  # the file itself (missing, a directory, unreadable): as it is
            raise
        problems = tuple(exc.problems)
        groups = group_line_messages(problems, stop=True)
        shown = format_findings(groups)
        written = (
            _write_problems(_problems_path(paths, now), list(problems))
            if findings_hide_lines(groups)
            else None
        )
        if written is not None:
            shown.append(f"full list ({len(problems)}): {written}")
        raise DataIntegrityError(str(exc), problems=problems, shown=tuple(shown)) from None


# --------------------------------------------------------------------------- check


def run_check(args: argparse.Namespace, ctx: JobContext) -> int:
    """Print the readiness; exit 0 only when calibration is authorized.

    A trades file with bad lines makes the answer NOT READY, and every bad
    line is printed with its line number.
    """
    paths = ctx.paths
    now = ctx.now()
    try:
        batch = _read_batch(ctx, now)
    except DataIntegrityError as exc:
        return _check_bad_data(ctx, paths, exc)
    summary = summarize_integrity(batch, now=now.timestamp())
    readiness = _starved(
        assess_readiness(
            summary, api_url=paths.cadence_api, preflight=_preflight(args, forced=False)
        ),
        summary,
    )
    _log_readiness(readiness)
    authorized = _calibration_authorized(readiness)
    problems_file = None
    if _summary_hides_lines(summary):
        problems_file = _write_problems(_problems_path(paths, now), _problem_lines(summary))
    payload = {
        "ok": authorized,
        "calibration_authorized": authorized,
        "data_path": str(paths.data),
        "readiness": _readiness_dict(readiness),
        "integrity": {
            **integrity_to_dict(summary),
            **_findings_dict(summary),
            "data_hash": summary.data_hash,
            "partial_last_line_ignored": batch.partial_last_line_ignored,
            "problems_file": None if problems_file is None else str(problems_file),
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
    lines.extend(_integrity_lines(summary, paths.data, problems_file))
    lines.append("")
    if authorized:
        # Repeat --preflight too: `run` must probe the same file that `check` did.
        words = _preflight_words(args)
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


def _starved(readiness: Readiness, summary: IntegritySummary) -> Readiness:
    # Checklist "absolute stop signals": no trade for more than 2 h is NOT READY.
    if summary.starvation is None:
        return readiness
    return attrs.evolve(
        readiness,
        ready=False,
        status="NOT READY",
        reason=f"{summary.starvation}; {readiness.reason}",
        allowed_actions=(),
    )


def _check_bad_data(ctx: JobContext, paths: Paths, exc: DataIntegrityError) -> int:
    shown_problems = list(exc.problems)
    problems = shown_problems or [str(exc)]
    if shown_problems:
        count = f"{len(problems)} bad line{'s' if len(problems) != 1 else ''}"
        reason = f"the trades file failed its integrity checks ({count})"
        advice = "Fix the producer of the trades file; never clean it by hand."
    else:
        # Not a bad line: the file is missing, a directory or unreadable, usually a path typo.
        reason = "the trades file cannot be read"
        advice = (
            f"Check the path {paths.origin_note('data')}: pass --data or set "
            f"{PATH_SETTINGS['data'][1]}."
        )
    shown = list(exc.shown) if exc.shown is not None else problems
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
        *(f"      {escape(p)}" for p in shown),
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


def _load_checked(
    ctx: JobContext, now: datetime, *, drop_duplicates: bool = False
) -> tuple[TradeBatch, IntegritySummary]:
    paths = ctx.paths
    batch = _read_batch(ctx, now)
    dropped = 0
    if drop_duplicates:
        repeats, _ = find_duplicates(batch)
        dropped = int(repeats.sum())
        if dropped:
            batch = batch.select(~repeats)
    summary = summarize_integrity(batch, now=now.timestamp(), duplicates_dropped=dropped)
    if summary.problems:
        first = summary.problems[0]
        more = len(summary.problems) - 1
        message = f"{paths.data}: {first}" + (f" (and {more} more)" if more else "")
        written = (
            _write_problems(_problems_path(paths, now), _problem_lines(summary))
            if _summary_hides_lines(summary)
            else None
        )
        dataset = [p for p in summary.problems if p not in {f.message for f in summary.findings}]
        shown = [f"❌ {p}" for p in dataset]
        shown += format_findings([f for f in summary.findings if f.stop])
        if written is not None:
            shown.append(f"full list: {written}")
        raise DataIntegrityError(
            message,
            problems=tuple(f"{paths.data}: {p}" for p in _problem_lines(summary)),
            shown=tuple(shown),
        )
    return batch, summary


def _label_outcomes(batch: TradeBatch, paths: Paths) -> tuple[TradeBatch, NDArray[np.float64]]:
    """Keep the WIN/LOSS-labelled trades and return a PnL column whose sign is the label.

    ``build_proposal`` reads a WIN as PnL > 0; the magnitude is kept for the
    NEUTRAL band, and the sign follows the producer's label.
    """
    labels = batch.outcome_labels
    missing = np.flatnonzero(labels == OUTCOME_NONE)
    if missing.size:
        shown = FIRST_LINES_SHOWN
        first = ", ".join(str(n) for n in batch.line_numbers[missing[:shown]].tolist())
        raise DataIntegrityError(
            f"{paths.data}: --outcome label needs outcome_label on every trade; "
            f"{missing.size} trade{'s' if missing.size != 1 else ''} have none "
            f"(line{'s' if missing.size != 1 else ''} {first}"
            f"{', …' if missing.size > shown else ''})"
        )
    wins = int(np.count_nonzero(labels == OUTCOME_WIN))
    losses = int(np.count_nonzero(labels == OUTCOME_LOSS))
    if wins == 0 or losses == 0:
        # The data checks ran on PnL signs; the fit under this definition needs both labels.
        raise DataIntegrityError(
            f"{paths.data}: --outcome label needs at least one WIN and one LOSS label "
            f"(got {wins} WIN, {losses} LOSS, {labels.size - wins - losses} NEUTRAL)"
        )
    kept = batch.select((labels == OUTCOME_WIN) | (labels == OUTCOME_LOSS))
    sign = np.where(kept.outcome_labels == OUTCOME_WIN, 1.0, -1.0)
    return kept, sign * np.maximum(np.abs(kept.pnl_pct), _LABEL_PNL_FLOOR)


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


def _data_summary(summary: IntegritySummary, outcome: str, n_fitted: int) -> dict[str, Any]:
    return {
        "outcome_definition": outcome,
        "outcome_definition_text": _OUTCOME_DEFINITIONS[outcome],
        "trades_in_fit": n_fitted,
        "duplicates_dropped": summary.duplicates_dropped,
        "zoneless_timestamp_count": summary.zoneless_count,
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
    now = ctx.now().astimezone(UTC)
    batch, summary = _load_checked(
        ctx, now, drop_duplicates=bool(getattr(args, "drop_duplicates", False))
    )
    readiness = _starved(
        assess_readiness(
            summary, api_url=paths.cadence_api, preflight=_preflight(args, forced=forced)
        ),
        summary,
    )
    _log_readiness(readiness)
    if not _calibration_authorized(readiness) and not forced:
        raise NotAuthorizedError(
            f"calibration is not authorized: {readiness.reason} "
            f"(see `{ctx.command('check', *_preflight_words(args))}`; "
            "`run --force` makes a non-deployable test job)"
        )
    batch = batch.sorted_by_time()
    base = _read_base(paths)
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
    check_command = ctx.command("check", *_preflight_words(args))
    _print_run(ctx, record, proposal, files, check_command=check_command)
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
    outcome = getattr(args, "outcome", OUTCOME_PNL) or OUTCOME_PNL
    if outcome == OUTCOME_LABEL:
        batch, pnl = _label_outcomes(batch, paths)
    else:
        pnl = batch.pnl_pct
    breakdown = batch.has_model_breakdown
    # The deployed config's provenance names the data and what was dropped from it.
    provenance = batch.data_hash
    if summary.duplicates_dropped:
        provenance += f" (dropped {summary.duplicates_dropped} duplicates)"
    robust = robust_time_range(batch.timestamps)
    proposal = build_proposal(
        batch.confidence,
        pnl,
        job_id=job_id,
        created_at=created_at,
        data_hash=provenance,
        sides=batch.sides if breakdown else None,
        model_names=batch.model_names if breakdown else (),
        model_actions=batch.model_actions if breakdown else None,
        live_config=base.config,
        forced=forced,
        # One outlier timestamp cannot move the age (robust_time_range).
        newest_trade_age_hours=None
        if robust is None
        else trade_age_hours([robust[1]], now.timestamp()),
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
    # The full list of findings lives next to the report; the report shows them grouped.
    problem_lines = _problem_lines(summary)
    problems_file = _problems_path(paths, now, f"calibration_{job_id}_problems")
    # Raw and calibrated on the same trades (the held-out ones when folds were possible).
    same = proposal.reliability_raw_same_trades
    picture = render_reliability_png(
        proposal.reliability_raw if same is None else same,
        proposal.reliability_calibrated,
        raw_label="raw confidence, all trades" if same is None else "raw, same trades",
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
            **_findings_dict(summary),
            **_data_summary(summary, outcome, batch.n_trades),
            "partial_last_line_ignored": batch.partial_last_line_ignored,
            "problems_file": str(problems_file) if problem_lines else None,
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
    if problem_lines:
        _write_problems(problems_file, problem_lines)
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
        summary={**_job_summary(proposal), **_data_summary(summary, outcome, batch.n_trades)},
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
    *,
    check_command: str,
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
            f"When `{check_command}` says READY, "
            "run again without --force."
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
        "outcome_definition": record.summary.get("outcome_definition"),
        "duplicates_dropped": record.summary.get("duplicates_dropped", 0),
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
            f"   Outcome: {record.summary.get('outcome_definition_text', '')} "
            f"({record.summary.get('trades_in_fit', proposal.n_trades)} trades in the fit"
            + (
                f"; {record.summary['duplicates_dropped']} duplicates dropped)"
                if record.summary.get("duplicates_dropped")
                else ")"
            )
        ),
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
    batch = _read_batch(ctx, ctx.now())
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
