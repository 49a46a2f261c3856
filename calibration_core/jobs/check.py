"""The ``check`` job: is calibration authorized? Its logic and its text and JSON views."""

# Shell module: it reads the trades and asks the gate (jobs.intake), and returns a
# frozen answer; the render_* functions word it. The CLI prints and picks the exit code.

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import attrs

from calibration_core.exceptions import DataIntegrityError
from calibration_core.jobs.intake import (
    assess,
    calibration_authorized,
    dataset_problems,
    findings_dict,
    preflight_words,
    problem_lines,
    problems_path,
    read_batch,
    readiness_dict,
    summary_hides_lines,
    write_problems,
)
from calibration_core.jobs.report import integrity_to_dict
from calibration_core.settings import PATH_SETTINGS
from calibration_core.sources.integrity import (
    format_findings,
    group_line_messages,
    summarize_integrity,
)
from calibration_core.text import escape, fmt_pct, plural

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from pathlib import Path

    from calibration_core.settings import Paths
    from calibration_core.sources.cadence import Readiness
    from calibration_core.sources.integrity import IntegritySummary

__all__ = [
    "RULE",
    "BadData",
    "CheckOutcome",
    "ReadinessCheck",
    "check_readiness",
    "render_check_json",
    "render_check_text",
]

RULE = "═" * 59
"""The rule under the headline of the offline jobs' printouts."""


CheckOutcome = Literal["READY", "NOT_READY", "BAD_DATA"]
"""The answer of ``check``: authorized, not authorized, or trades that cannot be judged."""


@attrs.frozen
class BadData:
    """Why the trades could not be judged: the file is unreadable or has bad lines."""

    reason: str
    advice: str
    problems: tuple[str, ...]
    shown: tuple[str, ...]


@attrs.frozen
class ReadinessCheck:
    """What ``check`` found: the gate's answer and the data integrity summary.

    ``readiness`` and ``summary`` are None when the outcome is BAD_DATA; then
    ``bad_data`` says why. ``run_command`` is the command to run next when
    calibration is authorized, else "".
    """

    outcome: CheckOutcome
    data_path: Path
    readiness: Readiness | None = None
    summary: IntegritySummary | None = None
    partial_last_line_ignored: bool = False
    problems_file: Path | None = None
    run_command: str = ""
    bad_data: BadData | None = None


def check_readiness(
    paths: Paths,
    *,
    now: datetime,
    preflight: str | None,
    command: Callable[..., str],
    progress: Callable[[str, int, int], None] | None = None,
) -> ReadinessCheck:
    """Read and check the trades and ask the gate whether calibration is authorized.

    A trades file with bad lines makes the answer BAD_DATA (NOT READY), and
    every bad line is listed.

    Parameters
    ----------
    paths : Paths
        The trades file, the report directory (problems file) and the cadence API.
    now : datetime
        The job's clock.
    preflight : str or None
        ``--preflight FILE`` (else ``$CALIBRATION_PREFLIGHT``).
    command : callable
        ``command(job, *words)`` returns a runnable command line.
    progress : callable, optional
        ``progress(step, done, total)`` for the long steps.

    Returns
    -------
    ReadinessCheck
        The answer, with everything the views print.
    """
    try:
        batch = read_batch(paths, now, progress)
    except DataIntegrityError as exc:
        return ReadinessCheck("BAD_DATA", paths.data, bad_data=_bad_data(paths, exc))
    summary = summarize_integrity(batch, now=now.timestamp())
    readiness = assess(paths, summary, preflight)
    authorized = calibration_authorized(readiness)
    problems_file = None
    if summary_hides_lines(summary):
        problems_file = write_problems(problems_path(paths, now), problem_lines(summary))
    return ReadinessCheck(
        "READY" if authorized else "NOT_READY",
        paths.data,
        readiness=readiness,
        summary=summary,
        partial_last_line_ignored=batch.partial_last_line_ignored,
        problems_file=problems_file,
        # Repeat --preflight too: `run` must probe the same file that `check` did.
        run_command=command("run", *preflight_words(preflight)) if authorized else "",
    )


def _bad_data(paths: Paths, exc: DataIntegrityError) -> BadData:
    problems = list(exc.problems) or [str(exc)]
    if exc.problems:
        reason = (
            f"the trades file failed its integrity checks ({plural(len(problems), 'bad line')})"
        )
        advice = "Fix the producer of the trades file; never clean it by hand."
    else:
        # Not a bad line: the file is missing, a directory or unreadable, usually a path typo.
        reason = "the trades file cannot be read"
        advice = (
            f"Check the path {paths.origin_note('data')}: pass --data or set "
            f"{PATH_SETTINGS['data'][1]}."
        )
    shown = problems if exc.shown is None else list(exc.shown)
    return BadData(reason, advice, tuple(problems), tuple(shown))


# --------------------------------------------------------------------------- views


def render_check_json(result: ReadinessCheck) -> dict[str, Any]:
    """Return the JSON document of ``check --json``."""
    authorized = result.outcome == "READY"
    head = {
        "ok": authorized,
        "calibration_authorized": authorized,
        "data_path": str(result.data_path),
    }
    if result.bad_data is not None or result.readiness is None or result.summary is None:
        bad = result.bad_data
        problems = [] if bad is None else list(bad.problems)
        readiness = {
            "status": "NOT READY",
            "ready": False,
            "reason": "" if bad is None else bad.reason,
            "allowed_actions": [],
            "levels": [],
            "api": None,
            "forced": False,
        }
        return {**head, "readiness": readiness, "integrity": {"problems": problems, "warnings": []}}
    summary = result.summary
    return {
        **head,
        "readiness": readiness_dict(result.readiness),
        "integrity": {
            **integrity_to_dict(summary),
            **findings_dict(summary),
            "data_hash": summary.data_hash,
            "partial_last_line_ignored": result.partial_last_line_ignored,
            "problems_file": None if result.problems_file is None else str(result.problems_file),
        },
    }


def render_check_text(result: ReadinessCheck) -> str:
    """Return the printout of ``check``: readiness, authorization levels, data integrity."""
    readiness, summary = result.readiness, result.summary
    if result.bad_data is not None or readiness is None or summary is None:
        return _bad_data_text(result)
    lines = [
        "📊 LEARNING CADENCE READINESS CHECK",
        RULE,
        "",
        f"{'🟢' if readiness.ready else '🔴'} Status: {escape(readiness.status)}",
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
    lines += [
        *_cadence_lines(readiness),
        "",
        *_integrity_lines(summary, result.data_path, result.problems_file),
        "",
    ]
    if result.outcome == "READY":
        lines += ["✅ CALIBRATION AUTHORIZED", f"   You can run: {result.run_command}"]
    else:
        # The reason is printed once, under Status; here only what to do about it.
        lines += [
            "❌ CALIBRATION NOT AUTHORIZED",
            "   Run check again when the reason above no longer holds.",
        ]
    return "\n".join(lines)


def _bad_data_text(result: ReadinessCheck) -> str:
    bad = result.bad_data or BadData("", "", (), ())
    return "\n".join(
        [
            "📊 LEARNING CADENCE READINESS CHECK",
            RULE,
            "",
            "🔴 Status: NOT READY",
            f"   Reason: {bad.reason}",
            "   Allowed actions: []",
            "",
            f"📁 DATA INTEGRITY ({escape(result.data_path)})",
            f"   ❌ Problems ({len(bad.problems)}):",
            *(f"      {escape(p)}" for p in bad.shown),
            "",
            "❌ CALIBRATION NOT AUTHORIZED",
            f"   {bad.advice}",
        ]
    )


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


def _outcome_line(summary: IntegritySummary) -> str:
    # The three win definitions of the trading system, side by side (real_system.md §1).
    if not summary.labelled:
        return "   Win rate by outcome_label: n/a (no trade carries an outcome_label)"
    decided = summary.label_wins + summary.label_losses
    return (
        f"   Win rate by outcome_label: {fmt_pct(summary.label_win_rate, missing='n/a')} WIN of "
        f"{summary.labelled} labelled; cadence service's WIN/(WIN+LOSS): "
        f"{fmt_pct(summary.cadence_win_rate, missing='n/a')} ({summary.label_wins}/"
        f"{decided}; {summary.label_neutral} NEUTRAL)"
    )


def _integrity_lines(
    summary: IntegritySummary, data_path: Path, problems_file: Path | None
) -> list[str]:
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
        _outcome_line(summary),
        (
            f"   Date range: {summary.first_timestamp or '—'} → "
            f"{summary.last_timestamp or '—'} ({summary.span_days:.1f} days)"
        ),
    ]
    if summary.duplicates_dropped:
        lines.append(
            f"   Duplicates dropped (--drop-duplicates): {summary.duplicates_dropped} records"
        )
    if summary.starvation:
        lines.append(f"   ❌ {summary.starvation}")
    found = {f.message for f in summary.findings}
    findings = [
        *(f for f in summary.findings if f.stop),
        *group_line_messages([w for w in summary.warnings if w not in found], stop=False),
        *(f for f in summary.findings if not f.stop),
    ]
    dataset = dataset_problems(summary)
    if dataset or findings:
        lines.append(f"   Findings ({len(dataset) + len(findings)} kinds):")
        lines.extend(f"      ❌ {escape(p)}" for p in dataset)
        lines.extend(f"      {escape(text)}" for text in format_findings(findings))
        if problems_file is not None:
            lines.append(f"      Full list: {problems_file}")
    else:
        lines.append("   Problems: none   Warnings: none")
    return lines
