"""What ``check``, ``run`` and ``analyze`` share: reading the trades, their checks, the gate."""

# Shell module: it reads the trades file, writes the problems file next to the reports
# and asks the Learning Cadence gate. It never prints; the views word what it finds.

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from calibration_core.exceptions import DataIntegrityError
from calibration_core.fsio import atomic_write_text
from calibration_core.sources.cadence import assess_readiness
from calibration_core.sources.integrity import (
    find_duplicates,
    findings_hide_lines,
    format_findings,
    group_line_messages,
    summarize_integrity,
)
from calibration_core.sources.preflight import preflight_path, run_preflight, skipped_preflight
from calibration_core.sources.trades import read_trades

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from calibration_core.settings import Paths
    from calibration_core.sources.cadence import Readiness
    from calibration_core.sources.integrity import IntegritySummary
    from calibration_core.sources.trade_batch import TradeBatch

__all__ = [
    "assess",
    "calibration_authorized",
    "dataset_problems",
    "findings_dict",
    "load_checked",
    "preflight_words",
    "problem_lines",
    "problems_path",
    "read_batch",
    "readiness_dict",
    "summary_hides_lines",
    "write_problems",
]

logger = logging.getLogger("calibration_core.offline")


def _read_trades(path: Path, progress: Callable[[str, int, int], None] | None) -> TradeBatch:
    """Read the trades, logging the step and reporting the bytes read to ``progress``."""
    logger.info("reading trades from %s", path, extra={"event": "trades_read_start", "path": path})
    on_bytes = None
    if progress is not None:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if size > 0:

            def on_bytes(done: int) -> None:
                progress("reading trades (bytes)", min(done, size), size)

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


def read_batch(
    paths: Paths, now: datetime, progress: Callable[[str, int, int], None] | None
) -> TradeBatch:
    """Read the trades file of ``paths``; bad lines become one short grouped refusal.

    Raises `DataIntegrityError`: as raised for a missing or unreadable file; for
    bad lines with ``shown`` grouped, and the full list in a problems file when
    the grouping leaves lines out.
    """
    try:
        return _read_trades(paths.data, progress)
    except DataIntegrityError as exc:
        if not exc.problems:  # the file itself (missing, a directory, unreadable): as it is
            raise
        problems = tuple(exc.problems)
        groups = group_line_messages(problems, stop=True)
        shown = format_findings(groups)
        written = (
            write_problems(problems_path(paths, now), list(problems))
            if findings_hide_lines(groups)
            else None
        )
        if written is not None:
            shown.append(f"full list ({len(problems)}): {written}")
        raise DataIntegrityError(str(exc), problems=problems, shown=tuple(shown)) from None


def load_checked(
    paths: Paths,
    now: datetime,
    progress: Callable[[str, int, int], None] | None,
    *,
    drop_duplicates: bool = False,
) -> tuple[TradeBatch, IntegritySummary]:
    """Read the trades (each repeat dropped with ``drop_duplicates``) and summarise them.

    Raises `DataIntegrityError` for bad lines or a dataset that fails phase 0.2
    (too few trades, one symbol, no win or no loss), listing every problem.
    """
    batch = read_batch(paths, now, progress)
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
        lines = problem_lines(summary)
        written = (
            write_problems(problems_path(paths, now), lines)
            if summary_hides_lines(summary)
            else None
        )
        shown = [f"❌ {p}" for p in dataset_problems(summary)]
        shown += format_findings([f for f in summary.findings if f.stop])
        if written is not None:
            shown.append(f"full list: {written}")
        raise DataIntegrityError(
            message,
            problems=tuple(f"{paths.data}: {p}" for p in lines),
            shown=tuple(shown),
        )
    return batch, summary


def dataset_problems(summary: IntegritySummary) -> list[str]:
    """Return the problems of the dataset as a whole (those no line finding words)."""
    found = {f.message for f in summary.findings}
    return [p for p in summary.problems if p not in found]


def problem_lines(summary: IntegritySummary) -> list[str]:
    """Return every problem and warning, one per line, for the problems file."""
    out = [f"STOP {p}" for p in summary.problems]
    out.extend(f"WARN {w}" for w in summary.warnings)
    for finding in summary.findings:
        if finding.pairs:
            out.extend(f"{finding.kind}: line {a} repeats line {b}" for a, b in finding.pairs)
        elif finding.lines:
            out.extend(f"{finding.kind}: line {n}" for n in finding.lines)
    return out


def summary_hides_lines(summary: IntegritySummary) -> bool:
    """Whether the few lines shown of each finding leave some out (a problems file is due).

    A check run from cron every few minutes must not fill the report directory
    with copies, so the file is written only then.
    """
    groups = [*summary.findings, *group_line_messages(list(summary.warnings), stop=False)]
    return findings_hide_lines(groups)


def write_problems(path: Path, lines: list[str]) -> Path | None:
    """Write the full list next to the reports; a write failure never hides the findings."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "\n".join(lines) + "\n")
    except OSError:
        return None
    return path


def problems_path(paths: Paths, now: datetime, stem: str | None = None) -> Path:
    """Return ``<report dir>/<stem>.txt``, by default ``problems_<UTC stamp>.txt``."""
    name = stem or f"problems_{now.astimezone(UTC).strftime('%Y%m%d_%H%M%S')}"
    return paths.report_dir / f"{name}.txt"


def preflight_words(flag: str | None) -> tuple[str, ...]:
    """Return ``--preflight <absolute path>``: a printed check or run probes the same file."""
    return ("--preflight", str(Path(flag).absolute())) if flag else ()


def assess(
    paths: Paths, summary: IntegritySummary, preflight: str | None, *, forced: bool = False
) -> Readiness:
    """Ask the Learning Cadence gate and the pre-flight probes whether calibration may run.

    ``preflight`` is ``--preflight FILE`` (else ``$CALIBRATION_PREFLIGHT``);
    ``forced`` skips the probes. No trade for too long is NOT READY
    (checklist "absolute stop signals").
    """
    path = preflight_path(preflight)
    probes = None if path is None else skipped_preflight(path) if forced else run_preflight(path)
    readiness = assess_readiness(summary, api_url=paths.cadence_api, preflight=probes)
    if summary.starvation is not None:
        readiness = attrs.evolve(
            readiness,
            ready=False,
            status="NOT READY",
            reason=f"{summary.starvation}; {readiness.reason}",
            allowed_actions=(),
        )
    logger.info(
        "readiness %s: %s",
        readiness.status,
        readiness.reason,
        extra={"event": "readiness", "step": readiness.status},
    )
    return readiness


def calibration_authorized(readiness: Readiness) -> bool:
    """Whether the gate is READY and allows the ``calibration`` action."""
    return bool(readiness.ready) and "calibration" in readiness.allowed_actions


def readiness_dict(readiness: Readiness, *, forced: bool = False) -> dict[str, Any]:
    """Return the readiness as JSON (the ``readiness`` of check, the report's authorization)."""
    return {
        "status": readiness.status,
        "ready": readiness.ready,
        "reason": readiness.reason,
        "allowed_actions": list(readiness.allowed_actions),
        "levels": [attrs.asdict(level) for level in readiness.levels],
        "api": None if readiness.api is None else attrs.asdict(readiness.api),
        "preflight": None if readiness.preflight is None else readiness.preflight.to_dict(),
        "forced": forced,
    }


def findings_dict(summary: IntegritySummary) -> dict[str, Any]:
    """Return the findings, time-zone, duplicate, freshness and label parts of the summary."""
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
