"""Register the offline jobs ``check``, ``run``, ``analyze`` and ``demo`` with the CLI."""

# Registration only: the work lives in calibration_core.jobs.offline, imported when one of
# these jobs runs, so that `approve` or `rollback` never pays for numpy and the analysis.

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse


from calibration_core.cli.main import lazy_handler, path_argument

__all__ = ["register"]

_PREFLIGHT_HELP = (
    "TOML file of pre-flight probes (checklist phase 0.1) that must all pass "
    "(default: $CALIBRATION_PREFLIGHT; see docs/preflight.md)"
)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's private _SubParsersAction
    """Add ``check``, ``run``, ``analyze`` and ``demo`` to the CLI's subparsers."""
    check = subparsers.add_parser(
        "check",
        parents=[common],
        help="is calibration authorized? (Learning Cadence readiness + data integrity)",
        description=(
            "Print the Learning Cadence readiness, the authorization levels and the data "
            "integrity summary. Exit 0 only when calibration is authorized."
        ),
    )
    check.add_argument("--preflight", metavar="FILE", type=path_argument, help=_PREFLIGHT_HELP)
    check.set_defaults(handler=lazy_handler("jobs.offline", "run_check"))

    run = subparsers.add_parser(
        "run",
        parents=[common],
        help="analyse the trades and write a proposal + review report (nothing is applied)",
        description=(
            "Check the authorization, load and check the trades, fit the confidence map, "
            "calibrate the ensemble weights, estimate the consensus multipliers (and, with "
            "--per-symbol, one map per symbol), validate, score the risk, save a job waiting "
            "for approval and write the report. Nothing is applied: the live config, its "
            "archive and the reload sentinel are never touched."
        ),
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="run even when calibration is not authorized (pre-flight probes are skipped); "
        "the job is marked FORCED and can never be approved (testing only)",
    )
    run.add_argument(
        "--per-symbol",
        action="store_true",
        help="also fit one bounded map per symbol; a symbol keeps its own map only when, on "
        "its own held-out trades, the map beats the global map and improves by at least 5%% "
        "on what the symbol would otherwise get (report section 7a)",
    )
    run.add_argument("--preflight", metavar="FILE", type=path_argument, help=_PREFLIGHT_HELP)
    run.add_argument(
        "--outcome",
        choices=("pnl", "label"),
        default="pnl",
        help="what a WIN is: pnl (default; PnL > 0 wins, PnL < 0 loses) or label (the "
        "producer's outcome_label: WIN 1, LOSS 0, NEUTRAL left out of the fit)",
    )
    run.add_argument(
        "--drop-duplicates",
        action="store_true",
        help="keep the first record of each repeat (same symbol, side, prices and PnL within "
        "60 s) and go on; the count goes into the report, the job and the config",
    )
    run.set_defaults(handler=lazy_handler("jobs.offline", "run_calibration"))

    analyze = subparsers.add_parser(
        "analyze",
        parents=[common],
        help="confidence analysis: statistics, correlations, deciles, bins (JSON + CSV)",
        description=(
            "Describe the raw confidence: distribution, Pearson/Spearman correlation with "
            "returns and wins, decile and fixed-bin summaries, overall and per symbol. Writes "
            "analysis_<timestamp>.json and .csv."
        ),
    )
    analyze.add_argument(
        "--out-dir",
        metavar="DIR",
        help="where to write the files (default: the report directory)",
    )
    analyze.set_defaults(handler=lazy_handler("jobs.offline", "run_analyze"))

    demo = subparsers.add_parser(
        "demo",
        parents=[common],
        help="walk the whole flow on fresh example trades in a scratch directory",
        description=(
            "Write fresh example trades into a scratch directory and walk check -> run -> "
            "approve --yes -> status -> monitor -> rollback --yes there, printing each step's "
            "output and the command an operator would type. The operator's own trades, config "
            "and reports are never touched."
        ),
    )
    demo.add_argument(
        "--dir",
        metavar="DIR",
        help="scratch directory for the demo's trades, config and reports (default: a new "
        "temporary directory, printed)",
    )
    demo.set_defaults(handler=lazy_handler("jobs.demo", "run_demo"))
