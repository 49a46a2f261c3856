"""The post-deployment jobs ``monitor`` and ``compare`` in the CLI: options and handlers."""

# The handlers import the work (calibration_core.jobs.monitor and its view) only when one
# of these jobs runs, so that `approve` or `rollback` never pays for numpy and the analysis.
# They are the one place that turns a monitor outcome into an exit code.

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calibration_core.cli.deploy import job_id_argument, reference_argument
from calibration_core.cli.main import (
    EXIT_NEGATIVE,
    EXIT_OK,
    EXIT_ROLLBACK_ADVISED,
    add_job,
    lock_timeout_seconds,
)
from calibration_core.deploy import DEFAULT_LOCK_TIMEOUT
from calibration_core.exceptions import InvalidInputError
from calibration_core.settings import ENV_SIGNALS_PATH
from calibration_core.times import epoch_seconds

if TYPE_CHECKING:
    import argparse

    from calibration_core.cli.main import JobContext

__all__ = ["ENV_SIGNALS_PATH", "register", "run_compare", "run_monitor"]

# Kept in step with monitor_rules.DEFAULT_BASELINE_TRADES and MIN_NEW_TRADES and
# version_scoring.DEFAULT_COMPARE_TRADES (a test holds them together); repeated here so
# that `--help` imports no numpy.
_DEFAULT_BASELINE_TRADES = 200
_DEFAULT_MIN_NEW_TRADES = 30
_DEFAULT_COMPARE_TRADES = 500

# monitor's outcomes; ROLLBACK_FAILED exits with the code of the error that stopped the rollback.
_OUTCOME_EXIT = {"OK": EXIT_OK, "WATCH": EXIT_NEGATIVE, "ROLLBACK": EXIT_ROLLBACK_ADVISED}


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's private _SubParsersAction
    """Add ``monitor`` and ``compare`` to the CLI's subparsers.

    Parameters
    ----------
    subparsers : argparse subparsers action
        From ``ArgumentParser.add_subparsers``.
    common : argparse.ArgumentParser
        Parent parser with the options every job takes (``--json``, paths, ``-v``).
    """
    monitor = add_job(
        subparsers,
        common,
        "monitor",
        run_monitor,
        summary="post-apply watch: OK, WATCH or ROLLBACK for the live version (exit 0/1/8)",
        description=(
            "Compare the trades since the live version went live with a baseline of the trades "
            "before it: win rate, PnL drift, HOLD rate (with a signals log), the calibrated "
            "confidence range and the live Brier score. Prints the verdict with its reasons and "
            "writes reports/monitor_<version>_<UTC stamp>.md. Changes nothing unless "
            "--auto-rollback is given and the verdict is ROLLBACK. Run it hourly for 24-48 h "
            "after every approve."
        ),
    )
    monitor.add_argument(
        "--since",
        metavar="VERSION",
        type=job_id_argument,
        help="judge this version (from the time it last went live) instead of the live one",
    )
    monitor.add_argument(
        "--auto-rollback",
        action="store_true",
        help="on a ROLLBACK verdict only, roll back to the previous version through the same "
        "locked, audited path as `rollback` (recorded as by monitor, with the reasons)",
    )
    monitor.add_argument(
        "--baseline-trades",
        type=int,
        default=_DEFAULT_BASELINE_TRADES,
        metavar="N",
        help="baseline = the N most recent trades before the version went live "
        "(default: %(default)s)",
    )
    monitor.add_argument(
        "--min-new-trades",
        type=int,
        default=_DEFAULT_MIN_NEW_TRADES,
        metavar="N",
        help="fewest new trades before judging; fewer gives WATCH (default: %(default)s)",
    )
    monitor.add_argument(
        "--signals",
        metavar="PATH",
        help=f"signals log for the HOLD rate (default: ${ENV_SIGNALS_PATH}; "
        "without one the HOLD rate is not judged)",
    )
    monitor.add_argument(
        "--lock-timeout",
        type=lock_timeout_seconds,
        default=DEFAULT_LOCK_TIMEOUT,
        metavar="SECONDS",
        help="with --auto-rollback: wait this long for another approve/rollback "
        "(default: %(default)s)",
    )

    compare = add_job(
        subparsers,
        common,
        "compare",
        run_compare,
        summary="score two versions on the same recent trades: is B really better than A?",
        description=(
            "Apply each version's maps to the same recent trades and print MSE (Brier), ECE, "
            "log loss and the reliability bins for both, the weights and the weighted-vote "
            "precision each version's weights give, and a conclusion. A and B are `live`, an "
            "archived version, or a job id (its proposed config). Trades that closed before a "
            "version was created may have been used to fit it: the output says so."
        ),
    )
    compare.add_argument(
        "a", type=reference_argument, help="`live`, an archived version or a job id"
    )
    compare.add_argument(
        "b", type=reference_argument, help="`live`, an archived version or a job id"
    )
    window = compare.add_mutually_exclusive_group()
    window.add_argument(
        "--last",
        type=int,
        default=_DEFAULT_COMPARE_TRADES,
        metavar="N",
        help="score the N most recent trades (default: %(default)s)",
    )
    window.add_argument(
        "--since",
        metavar="ISO",
        help="score every trade closed at or after this date/time (e.g. 2026-02-10 or "
        "2026-02-10T12:00:00Z; a time without a zone is UTC)",
    )


def _at_least_one(value: int, flag: str) -> int:
    if value < 1:
        raise InvalidInputError(f"{flag} must be at least 1 (got {value})")
    return value


def _signals_path(flag: str | None) -> Path | None:
    if flag is not None:
        if not flag.strip():
            raise InvalidInputError("--signals must name a file (got an empty path)")
        return Path(flag).absolute()
    value = os.environ.get(ENV_SIGNALS_PATH, "").strip()
    return Path(value).absolute() if value else None


def run_monitor(args: argparse.Namespace, ctx: JobContext) -> int:
    """Run ``monitor``: judge the version, write its report, print it; return the exit code.

    Exit 0 on OK, 1 on WATCH, 8 on ROLLBACK (also after a successful
    ``--auto-rollback``); a failed auto-rollback returns its error's exit code.
    Raises what `calibration_core.jobs.monitor.monitor_version` raises, and
    InvalidInputError for a numeric option below 1 or an empty ``--signals``.
    """
    from calibration_core.jobs import monitor, monitor_view  # noqa: PLC0415 - numpy only when run

    result = monitor.monitor_version(
        ctx.paths,
        baseline_trades=_at_least_one(args.baseline_trades, "--baseline-trades"),
        min_new_trades=_at_least_one(args.min_new_trades, "--min-new-trades"),
        signals_path=_signals_path(args.signals),
        since=args.since,
        auto_rollback=args.auto_rollback,
        lock_timeout=args.lock_timeout,
        now=ctx.now,
    )
    rollback = result.rollback
    failure = None if rollback is None else rollback.failure
    code = _OUTCOME_EXIT[result.outcome] if failure is None else failure.exit_code
    markdown = monitor_view.render_monitor_markdown(result, exit_code=code, command=ctx.command)
    report = monitor.write_report(ctx.paths.report_dir, result, markdown)
    ctx.emit(
        monitor_view.render_monitor_json(result, exit_code=code, report=report),
        monitor_view.render_monitor_text(result, report=report, command=ctx.command),
    )
    if rollback is not None and rollback.error is not None:
        ctx.stderr.write(f"error: auto-rollback failed: {rollback.error}\n")
    return code


def run_compare(args: argparse.Namespace, ctx: JobContext) -> int:
    """Run ``compare``: score two versions on the same recent trades and print it; exit 0.

    Raises what `calibration_core.jobs.monitor.compare_references` raises, and
    InvalidInputError for ``--last`` below 1 or a ``--since`` that is not ISO-8601.
    """
    from calibration_core.jobs import monitor, monitor_view  # noqa: PLC0415 - numpy only when run

    since = None
    if args.since is not None:
        since = epoch_seconds(args.since.strip(), zoneless_as_utc=True)
        if since is None:
            raise InvalidInputError(
                f"--since must be an ISO-8601 date or time, e.g. 2026-02-10 or "
                f"2026-02-10T12:00:00Z (got {args.since!r})"
            )
    last = _at_least_one(args.last, "--last")
    result = monitor.compare_references(
        ctx.paths, args.a, args.b, since=since, last=last, now=ctx.now
    )
    ctx.emit(monitor_view.render_compare_json(result), monitor_view.render_compare_text(result))
    return EXIT_OK
