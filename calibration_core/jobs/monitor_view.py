"""Views of ``monitor`` and ``compare``: terminal text, JSON and the monitor's Markdown report."""

# Pure functions of the frozen results in jobs/monitor.py: no file, clock or exit code.
# The CLI handler (cli/monitor.py) picks the view, passes the exit code it chose and
# prints; the report file is written by jobs/monitor.write_report.

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from calibration_core.core.monitor_rules import VERDICT_OK, VERDICT_ROLLBACK
from calibration_core.settings import ENV_SIGNALS_PATH
from calibration_core.text import escape_controls, fmt_number, markdown_table
from calibration_core.times import iso_utc

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt

    from calibration_core.core.monitor_rules import SignalCheck, WindowStats
    from calibration_core.core.version_scoring import ForecastScores
    from calibration_core.jobs.monitor import CompareResult, MonitorResult, RollbackOutcome

__all__ = [
    "render_compare_json",
    "render_compare_text",
    "render_monitor_json",
    "render_monitor_markdown",
    "render_monitor_text",
]

_ICONS = {"ok": "✅", "watch": "🟡", "rollback": "🔴"}
_VERDICT_ICONS = {"OK": "🟢", "WATCH": "🟡", "ROLLBACK": "🔴"}
# The report's "Baseline vs new" rows: label, WindowStats field, format.
_STAT_ROWS = (
    ("trades", "n_trades", "d"),
    ("win rate", "win_rate", ".1%"),
    ("mean PnL %", "mean_pnl", "+.3f"),
    ("PnL std %", "std_pnl", ".3f"),
    ("Brier raw", "brier_raw", ".4f"),
    ("Brier calibrated", "brier_calibrated", ".4f"),
    ("calibrated mean", "calibrated_mean", ".3f"),
    ("outside 0.50–0.95", "share_outside_range", ".0%"),
    ("signals", "n_signals", "d"),
    ("HOLD rate", "hold_rate", ".1%"),
)


def _span(times: npt.NDArray[np.float64]) -> str:
    if times.size == 0:
        return "none"
    return f"{iso_utc(float(times.min()))} → {iso_utc(float(times.max()))}"


def _stat(stats: WindowStats, name: str, spec: str) -> str:
    """Format a window statistic: "-" when not measured, "no data" for an empty window."""
    value = getattr(stats, name)
    if value is None:
        return "-"
    return "no data" if math.isnan(value) else format(value, spec)


# --------------------------------------------------------------------------- monitor


def _event_text(event: Mapping[str, Any]) -> str:
    kind = event.get("event", "?")
    if kind == "recovered":
        kind = f"recovered ({event.get('as', '?')})"
    by = event.get("approved_by") or event.get("by") or "-"
    return f"{event.get('at', '?')} ({kind} by {by})"


def _window_lines(result: MonitorResult) -> list[tuple[str, str]]:
    windows = result.windows
    trades, times = windows.trades, windows.trade_times
    available = (
        f"{trades.n_baseline_candidates} available, limit {windows.baseline_size}; "
        f"{_span(times[trades.baseline])}"
    )
    if trades.tagged:
        new = f"{trades.new.size} trades with calibration_version = {result.version}"
        base = f"{trades.baseline.size} most recent trades under other versions ({available})"
    else:
        new = f"{trades.new.size} trades closed since it went live"
        base = f"{trades.baseline.size} most recent trades before it went live ({available})"
    lines = [
        ("went live", _event_text(result.period.event)),
        ("new window", f"{new} ({_span(times[trades.new])})"),
        ("baseline", base),
    ]
    if not math.isinf(result.period.end):
        lines.append(("live until", f"{iso_utc(result.period.end)} (not live now)"))
    rows = windows.signals
    if rows is None:
        hint = f"none (pass --signals or set {ENV_SIGNALS_PATH} to judge the HOLD rate)"
        lines.append(("signals", hint))
    else:
        how = "by calibration_version" if rows.tagged else "by time"
        counts = f"{rows.new.size} new, {rows.baseline.size} baseline ({how})"
        lines.append(("signals", f"{windows.signals_path}: {counts}"))
    lines.extend(("note", note) for note in windows.notes)
    return lines


def _next_step(result: MonitorResult, command: Callable[..., str]) -> list[str]:
    verdict = result.verdict.verdict
    if verdict == VERDICT_OK:
        return ["Keep monitoring until 24-48 h have passed since the deploy."]
    if verdict != VERDICT_ROLLBACK:
        return ["Run monitor again later (e.g. hourly from cron)."]
    if result.rollback is None:
        if not result.is_live:
            return [f"{result.version} is no longer live; nothing to roll back."]
        reason = f"monitor ROLLBACK verdict: {result.verdict.reasons[0]}"
        return [
            "Roll back: " + command("rollback", "--reason", reason),
            "(or run monitor with --auto-rollback)",
        ]
    return _rollback_lines(result, result.rollback, command)


def _rollback_lines(
    result: MonitorResult, outcome: RollbackOutcome, command: Callable[..., str]
) -> list[str]:
    if outcome.error is not None:
        return [
            f"❌ Auto-rollback failed: {outcome.error}",
            f"Roll back by hand: {command('rollback')} (see `history`)",
        ]
    done = outcome.result
    if done is None or not done.changed:
        target = "-" if done is None else done.version
        return [f"Auto-rollback: {target} was already live; nothing was written."]
    return [
        (
            f"↩️  Auto-rolled back to {done.version} (previous: {done.previous_version}); "
            f"audit: rollback by {done.by} at {done.at}"
        ),
        f"   reload signalled via {result.paths.sentinel}",
    ]


def _check_line(check: SignalCheck) -> str:
    # A check with no value was not judged (no signals log): neither ✅ nor "ok".
    if math.isnan(check.value):
        return f"   ➖ {check.name:<24} {'skipped':<9} {check.message}"
    return f"   {_ICONS[check.status]} {check.name:<24} {check.status:<9} {check.message}"


def render_monitor_text(result: MonitorResult, *, report: Path, command: Callable[..., str]) -> str:
    """Return the terminal text of a monitor run.

    Parameters
    ----------
    result : MonitorResult
        What the monitor found.
    report : Path
        Where its Markdown report was written.
    command : callable
        ``command(job, *words)`` returns a runnable command line (the CLI's
        ``JobContext.command``), for the suggested rollback.

    Returns
    -------
    str
        The windows, one line per check, the verdict with its reasons and the next step.
    """
    verdict = result.verdict
    where = "live" if result.is_live else f"not live; live is {result.live_version or 'none'}"
    lines = [f"📈 POST-DEPLOY MONITOR — {result.version} ({where})"]
    lines += [f"   {label + ':':<12}{text}" for label, text in _window_lines(result)]
    if verdict.checks:
        lines.append("")
        lines += [_check_line(c) for c in verdict.checks]
    lines += ["", f"{_VERDICT_ICONS[verdict.verdict]} Verdict: {verdict.verdict}"]
    if verdict.verdict == VERDICT_OK:
        unjudged = [c.name for c in verdict.checks if "not judged" in c.message]
        judged = "every judged signal is within its threshold"
        lines.append(
            f"   {judged} (not judged: {', '.join(unjudged)})" if unjudged else f"   {judged}"
        )
    else:
        lines += [f"   - {reason}" for reason in verdict.reasons]
    lines += [f"   {line}" for line in _next_step(result, command)]
    lines.append(f"   Report: {report}")
    return "\n".join(lines)


def render_monitor_json(result: MonitorResult, *, exit_code: int, report: Path) -> dict[str, Any]:
    """Return the ``--json`` document of a monitor run.

    Parameters
    ----------
    result : MonitorResult
        What the monitor found.
    exit_code : int
        The exit code the CLI chose for it.
    report : Path
        Where its Markdown report was written.

    Returns
    -------
    dict
        Strict-JSON-ready: the verdict, reasons, checks, both windows' statistics,
        the rows chosen, the automatic rollback (or None) and the report path.
    """
    windows = result.windows
    times, trades, signals = windows.trade_times, windows.trades, windows.signals
    verdict = result.verdict.to_dict()
    period = result.period
    outcome = result.rollback

    def window(rows: npt.NDArray[np.intp]) -> dict[str, Any]:
        span = times[rows]
        return {
            "n": int(rows.size),
            "first": iso_utc(float(span.min())) if span.size else None,
            "last": iso_utc(float(span.max())) if span.size else None,
        }

    return {
        "ok": result.outcome != "ROLLBACK_FAILED",
        "job": "monitor",
        "version": result.version,
        "live": result.is_live,
        "live_version": result.live_version,
        "verdict": result.verdict.verdict,
        "exit_code": exit_code,
        "reasons": list(result.verdict.reasons),
        "trades_needed": result.verdict.trades_needed,
        "went_live": {
            "at": iso_utc(period.start),
            "event": period.event,
            "until": None if math.isinf(period.end) else iso_utc(period.end),
        },
        "windows": {
            "by": "calibration_version" if trades.tagged else "deploy_time",
            "new": window(trades.new),
            "baseline": {
                **window(trades.baseline),
                "candidates": trades.n_baseline_candidates,
                "limit": windows.baseline_size,
            },
            "signals": None
            if signals is None
            else {
                "path": str(windows.signals_path),
                "by": "calibration_version" if signals.tagged else "deploy_time",
                "new": int(signals.new.size),
                "baseline": int(signals.baseline.size),
            },
        },
        "checks": verdict["checks"],
        "baseline": verdict["baseline"],
        "current": verdict["current"],
        "notes": list(windows.notes),
        "auto_rollback": None
        if outcome is None
        else {
            "done": outcome.result is not None and outcome.result.changed,
            "result": None if outcome.result is None else outcome.result.to_dict(),
            "error": outcome.error,
            "reason": outcome.reason,
        },
        "report": str(report),
    }


def render_monitor_markdown(
    result: MonitorResult, *, exit_code: int, command: Callable[..., str]
) -> str:
    """Return the Markdown report of a monitor run.

    Parameters
    ----------
    result : MonitorResult
        What the monitor found.
    exit_code : int
        The exit code the CLI chose for it (the report states it).
    command : callable
        ``command(job, *words)`` returns a runnable command line, as for the text.

    Returns
    -------
    str
        The verdict, reasons, windows, checks, the baseline-vs-new table and the
        next step, with every control character escaped.
    """
    v = result.verdict
    b, c = v.baseline, v.current
    lines = [
        f"# Calibration monitor — {result.version}",
        "",
        f"- Generated: {iso_utc(result.at)}",
        f"- Version: `{result.version}` ({'live' if result.is_live else 'not live'})",
        f"- **Verdict: {v.verdict}** (exit code {exit_code})",
        "",
        "## Reasons",
        "",
        *[f"- {reason}" for reason in v.reasons],
        "",
        "## Windows",
        "",
        *[f"- **{label}**: {text}" for label, text in _window_lines(result)],
        "",
    ]
    if v.checks:
        rows = [(check.name, check.status, check.message) for check in v.checks]
        lines += ["## Checks", "", *markdown_table(("check", "status", "message"), rows), ""]
    lines += [
        "## Baseline vs new",
        "",
        "| | baseline | new |",
        "|---|---|---|",
        *[f"| {label} | {_stat(b, *stat)} | {_stat(c, *stat)} |" for label, *stat in _STAT_ROWS],
        "",
        "## Next step",
        "",
        *[f"- {line.strip()}" for line in _next_step(result, command)],
        "",
    ]
    return escape_controls("\n".join(lines))


# --------------------------------------------------------------------------- compare


def _selection(result: CompareResult) -> str:
    n = int(result.times.size)
    if result.since is not None:
        return f"every trade closed since {iso_utc(result.since)}"
    if n == result.last:
        return f"the {result.last} most recent trades"
    return f"all {n} trades (fewer than --last {result.last})"


def _score_line(name: str, scores: ForecastScores) -> str:
    return f"   {name:<30} {scores.mse:>11.4f} {scores.ece:>8.4f} {scores.log_loss:>9.4f}"


def _reliability_lines(result: CompareResult) -> list[str]:
    comparison = result.comparison
    tables = (
        comparison.raw.reliability,
        comparison.a.scores.reliability,
        comparison.b.scores.reliability,
    )
    edges = sorted({(row.lower, row.upper) for rows in tables for row in rows})
    lines = [
        "   reliability (n, mean predicted → observed win rate)",
        f"   {'bin':<11} {'raw':<20} {'A':<20} {'B':<20}",
    ]
    for lower, upper in edges:
        cells = []
        for rows in tables:
            row = next((r for r in rows if (r.lower, r.upper) == (lower, upper)), None)
            cells.append(
                "-"
                if row is None
                else f"{row.count:>4} {row.mean_predicted:.2f}→{row.observed_rate:.2f}"
            )
        lines.append(f"   {lower:.2f}–{upper:.2f}   {cells[0]:<20} {cells[1]:<20} {cells[2]:<20}")
    return lines


def render_compare_text(result: CompareResult) -> str:
    """Return the terminal text of a comparison: scores, bins, weights, conclusion, caveats."""
    comparison = result.comparison
    a, b = comparison.a, comparison.b
    lines = [
        f"⚖️  COMPARE  A = {a.label}   B = {b.label}",
        f"   trades: {_selection(result)} in {result.data} ({_span(result.times)})",
        "",
        f"   {'scores':<30} {'MSE (Brier)':>11} {'ECE':>8} {'log loss':>9}",
        _score_line("raw confidence", comparison.raw),
        _score_line(f"A {a.version}", a.scores),
        _score_line(f"B {b.version}", b.scores),
        "",
        *_reliability_lines(result),
        "",
        f"   {'weights':<12} {'A':<8} {'B':<8} Δ",
    ]
    for model, wa, wb in comparison.weights:
        delta = "" if wa is None or wb is None else f"{wb - wa:+.3f}"
        shown_a, shown_b = fmt_number(wa, 3, missing="  -  "), fmt_number(wb, 3, missing="  -  ")
        lines.append(f"   {model:<12} {shown_a:<8} {shown_b:<8} {delta}")
    if not comparison.weights:
        lines.append("   (neither version enables ensemble weights)")
    lines += [
        "",
        f"📌 Conclusion: {comparison.conclusion}",
        f"   {comparison.weights_conclusion}",
    ]
    lines += [f"   ⚠️  {caveat}" for caveat in comparison.caveats]
    return "\n".join(lines)


def render_compare_json(result: CompareResult) -> dict[str, Any]:
    """Return the ``--json`` document of a comparison: the trades and every score (NaN as None)."""
    trades = {
        "selection": _selection(result),
        "n": int(result.times.size),
        "span": _span(result.times),
    }
    return {"ok": True, "job": "compare", "trades": trades, **result.comparison.to_dict()}
