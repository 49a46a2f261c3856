"""Register the post-deployment jobs ``monitor`` and ``compare`` with the CLI."""

# Registration only: the work lives in calibration_core.jobs.monitor, imported when one of
# these jobs runs, so that `approve` or `rollback` never pays for numpy and the analysis.

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from calibration_core.deploy import DEFAULT_LOCK_TIMEOUT

if TYPE_CHECKING:
    import argparse


from calibration_core.cli.deploy import job_id_argument, reference_argument
from calibration_core.cli.main import lazy_handler, lock_timeout_seconds

__all__ = ["ENV_SIGNALS_PATH", "register"]

ENV_SIGNALS_PATH = "CALIBRATION_SIGNALS_PATH"
"""Environment variable naming the optional signals log that ``monitor`` reads."""

# Kept in step with monitor.DEFAULT_BASELINE_TRADES, MIN_NEW_TRADES and DEFAULT_COMPARE_TRADES
# (a test holds them together); repeated here so that `--help` imports no numpy.
_DEFAULT_BASELINE_TRADES = 200
_DEFAULT_MIN_NEW_TRADES = 30
_DEFAULT_COMPARE_TRADES = 500


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's private _SubParsersAction
    """Add ``monitor`` and ``compare`` to the CLI's subparsers.

    Parameters
    ----------
    subparsers : argparse subparsers action
        From ``ArgumentParser.add_subparsers``.
    common : argparse.ArgumentParser
        Parent parser with the options every job takes (``--json``, paths, ``-v``).
    """
    monitor = subparsers.add_parser(
        "monitor",
        parents=[common],
        help="post-apply watch: OK, WATCH or ROLLBACK for the live version (exit 0/1/8)",
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
    monitor.set_defaults(handler=lazy_handler("jobs.monitor", "run_monitor"))

    compare = subparsers.add_parser(
        "compare",
        parents=[common],
        help="score two versions on the same recent trades: is B really better than A?",
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
    compare.set_defaults(handler=lazy_handler("jobs.monitor", "run_compare"))
