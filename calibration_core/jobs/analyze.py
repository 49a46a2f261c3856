"""The ``analyze`` job: describe the raw confidence, write it as JSON and CSV, and its views."""

# Shell module: it reads the trades, calls the pure core (analysis.analyze_confidence),
# writes both files or neither, and returns a frozen result for the views.

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from calibration_core.core.confidence_stats import ConfidenceAnalysis, analyze_confidence
from calibration_core.exceptions import DataIntegrityError
from calibration_core.jobs.check import RULE
from calibration_core.jobs.intake import read_batch
from calibration_core.jobs.report import (
    analysis_csv,
    analysis_document,
    output_error,
    render_json,
    write_outputs,
)
from calibration_core.text import escape, fmt_number, fmt_pct

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from calibration_core.settings import Paths

__all__ = [
    "AnalyzeOutcome",
    "AnalyzeResult",
    "analyze",
    "render_analyze_json",
    "render_analyze_text",
]

logger = logging.getLogger("calibration_core.offline")


AnalyzeOutcome = Literal["WRITTEN"]
"""The answer of ``analyze``: both files are written (a failure raises)."""


@attrs.frozen
class AnalyzeResult:
    """The analysis, its JSON document and the two files written."""

    outcome: AnalyzeOutcome
    analysis: ConfidenceAnalysis
    document: dict[str, Any]
    json_path: Path
    csv_path: Path


def analyze(
    paths: Paths,
    *,
    now: datetime,
    out_dir: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> AnalyzeResult:
    """Analyse the raw confidence of the trades and write ``analysis_<stamp>.json`` and ``.csv``.

    Parameters
    ----------
    paths : Paths
        The trades file and the report directory (the default ``out_dir``).
    now : datetime
        The job's clock (names the files).
    out_dir : str, optional
        ``--out-dir``: where to write the files.
    progress : callable, optional
        ``progress(step, done, total)`` for the long steps.

    Returns
    -------
    AnalyzeResult
        The analysis and the files written (both, or neither and an error).

    Raises
    ------
    DataIntegrityError
        The trades file is missing, has bad lines or holds no trade.
    OutputWriteError
        A file cannot be written; nothing partial is left.
    """
    batch = read_batch(paths, now, progress)
    if batch.n_trades == 0:
        raise DataIntegrityError(f"{paths.data}: no trades to analyze")
    analysis = analyze_confidence(
        batch.confidence, batch.pnl_pct, batch.symbol_codes, batch.symbol_names
    )
    now = now.astimezone(UTC)
    directory = paths.report_dir if out_dir is None else Path(out_dir).absolute()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, directory) from None
    stem = _unique_stem(directory, f"analysis_{now.strftime('%Y%m%d_%H%M%S')}")
    json_path, csv_path = directory / f"{stem}.json", directory / f"{stem}.csv"
    document = analysis_document(
        analysis, data_path=str(paths.data), data_hash=batch.data_hash, created_at=now.isoformat()
    )
    # Both texts are rendered before anything is written, and written both or neither.
    write_outputs(
        [
            (csv_path, analysis_csv(analysis).encode("utf-8")),
            (json_path, render_json(document).encode("utf-8")),
        ]
    )
    logger.info(
        "analysis written to %s and %s",
        json_path,
        csv_path,
        extra={"event": "analysis_written", "path": json_path, "digest": batch.data_hash},
    )
    return AnalyzeResult("WRITTEN", analysis, document, json_path, csv_path)


def _unique_stem(directory: Path, stem: str) -> str:
    # Two analyses in the same second must not overwrite each other.
    candidate, number = stem, 1
    while (directory / f"{candidate}.json").exists() or (directory / f"{candidate}.csv").exists():
        candidate = f"{stem}_{number:02d}"
        number += 1
    return candidate


def render_analyze_json(result: AnalyzeResult) -> dict[str, Any]:
    """Return the JSON document of ``analyze --json``: the files and the analysis."""
    return {
        "ok": True,
        "json": str(result.json_path),
        "csv": str(result.csv_path),
        **result.document,
    }


def _corr(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def render_analyze_text(result: AnalyzeResult) -> str:
    """Return the printout of ``analyze``: the headline numbers and the files written."""
    overall = result.analysis.overall
    d, c = overall.distribution, overall.correlations
    lines = [
        "📈 CONFIDENCE ANALYSIS",
        RULE,
        f"   Trades: {d.count}   mean {d.mean:.4f}   std {d.std:.4f}",
        (
            f"   min {d.min:.4f}   q25 {d.q25:.4f}   median {d.median:.4f}   "
            f"q75 {d.q75:.4f}   max {d.max:.4f}"
        ),
        (
            f"   Correlation with returns: Pearson {_corr(c.pearson_returns)}, "
            f"Spearman {_corr(c.spearman_returns)}"
        ),
        (
            f"   Correlation with wins:    Pearson {_corr(c.pearson_wins)}, "
            f"Spearman {_corr(c.spearman_wins)}"
        ),
        "",
        "   Decile  Confidence       Trades  Win rate  Mean return %",
    ]
    for b in overall.deciles:
        ret = "—" if b.mean_return is None else f"{b.mean_return:+.4f}"
        lines.append(
            f"   {b.label:<7} {b.lower:.3f}–{b.upper:.3f}  {b.count:>7}  "
            f"{fmt_pct(b.win_rate):>8}  {ret:>13}"
        )
    lines += ["", "   Per symbol: trades, mean confidence, Pearson with wins"]
    lines.extend(
        f"   {escape(s.scope):<12} {s.distribution.count:>7}  "
        f"{fmt_number(s.distribution.mean)}  {_corr(s.correlations.pearson_wins)}"
        for s in result.analysis.per_symbol
    )
    lines += ["", f"   JSON: {result.json_path}", f"   CSV:  {result.csv_path}"]
    return "\n".join(lines)
