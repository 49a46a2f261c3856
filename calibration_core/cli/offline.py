"""The offline jobs of the CLI: ``check``, ``run``, ``analyze`` and ``demo``."""

# Registration and handlers. The work lives in calibration_core.jobs (check, run,
# analyze, demo), imported when one of these jobs runs, so that building the parser,
# `approve` or `rollback` never pays for numpy and the analysis. The handlers are the
# only place that maps the jobs' outcomes to exit codes.

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from calibration_core.cli.main import (
    EXIT_DATA,
    EXIT_NEGATIVE,
    EXIT_OK,
    add_job,
    main,
    path_argument,
)

if TYPE_CHECKING:
    import argparse

    from calibration_core.cli.main import JobContext
    from calibration_core.jobs.demo import StepOutput

__all__ = ["register", "run_analyze", "run_calibration", "run_check", "run_demo"]

_PREFLIGHT_HELP = (
    "TOML file of pre-flight probes (checklist phase 0.1) that must all pass "
    "(default: $CALIBRATION_PREFLIGHT; see docs/preflight.md)"
)
# monitor right after approve has no trades since the deploy yet: WATCH (1) is expected.
_DEMO_ACCEPTED = {"monitor": (EXIT_OK, EXIT_NEGATIVE)}


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's private _SubParsersAction
    """Add ``check``, ``run``, ``analyze`` and ``demo`` to the CLI's subparsers."""
    check = add_job(
        subparsers,
        common,
        "check",
        run_check,
        summary="is calibration authorized? (Learning Cadence readiness + data integrity)",
        description=(
            "Print the Learning Cadence readiness, the authorization levels and the data "
            "integrity summary. Exit 0 only when calibration is authorized."
        ),
    )
    check.add_argument("--preflight", metavar="FILE", type=path_argument, help=_PREFLIGHT_HELP)

    run = add_job(
        subparsers,
        common,
        "run",
        run_calibration,
        summary="analyse the trades and write a proposal + review report (nothing is applied)",
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

    analyze = add_job(
        subparsers,
        common,
        "analyze",
        run_analyze,
        summary="confidence analysis: statistics, correlations, deciles, bins (JSON + CSV)",
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

    demo = add_job(
        subparsers,
        common,
        "demo",
        run_demo,
        summary="walk the whole flow on fresh example trades in a scratch directory",
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


# --------------------------------------------------------------------------- handlers
# The jobs are imported inside each handler: registration must stay free of numpy.


def run_check(args: argparse.Namespace, ctx: JobContext) -> int:
    """Print the readiness; exit 0 only when calibration is authorized.

    A trades file with bad lines makes the answer NOT READY (exit 3, the same
    code as ``run`` on the same file), and every bad line is printed with its
    line number.
    """
    from calibration_core.jobs import check  # noqa: PLC0415 - see above

    result = check.check_readiness(
        ctx.paths,
        now=ctx.now(),
        preflight=getattr(args, "preflight", None),
        command=ctx.command,
        progress=ctx.progress_callback(),
    )
    ctx.emit(check.render_check_json(result), check.render_check_text(result))
    return {"READY": EXIT_OK, "NOT_READY": EXIT_NEGATIVE, "BAD_DATA": EXIT_DATA}[result.outcome]


def run_calibration(args: argparse.Namespace, ctx: JobContext) -> int:
    """Analyse, propose, validate, save a job and write the report; apply nothing.

    Exit 0 when the job is pending approval, 1 when it was rejected; a
    refusal (bad data, not authorized, an unwritable output) raises its
    `CalibrationError`, which carries its own exit code.
    """
    from calibration_core.jobs.run import RunOptions, calibrate  # noqa: PLC0415
    from calibration_core.jobs.run_view import render_run_json, render_run_text  # noqa: PLC0415

    options = RunOptions(
        force=bool(args.force),
        per_symbol=bool(getattr(args, "per_symbol", False)),
        outcome=getattr(args, "outcome", None) or "pnl",
        drop_duplicates=bool(getattr(args, "drop_duplicates", False)),
        preflight=getattr(args, "preflight", None),
    )
    result = calibrate(
        ctx.paths,
        options,
        now=ctx.now(),
        command=ctx.command,
        progress=ctx.progress_callback(),
    )
    ctx.emit(render_run_json(result), render_run_text(result))
    return EXIT_OK if result.outcome == "PENDING" else EXIT_NEGATIVE


def run_analyze(args: argparse.Namespace, ctx: JobContext) -> int:
    """Write the confidence analysis as JSON and CSV and print its headline numbers."""
    from calibration_core.jobs import analyze  # noqa: PLC0415 - see above

    result = analyze.analyze(
        ctx.paths, now=ctx.now(), out_dir=args.out_dir, progress=ctx.progress_callback()
    )
    ctx.emit(analyze.render_analyze_json(result), analyze.render_analyze_text(result))
    return EXIT_OK


def run_demo(args: argparse.Namespace, ctx: JobContext) -> int:
    """Write fresh example trades and walk check → run → approve → status → monitor → rollback.

    Exit 0 when every step answered as the flow expects (monitor may say
    WATCH: nothing has traded since the deploy), otherwise the first failing
    step's exit code.
    """
    from calibration_core.jobs import demo  # noqa: PLC0415 - see above

    def run_step(job: str, argv: list[str]) -> StepOutput:
        # One job in-process, through the CLI's own entry point.
        out, err = io.StringIO(), io.StringIO()
        flags = ["--json"] if ctx.as_json else []
        code = main([*argv, *flags], stdout=out, stderr=err, stdin=io.StringIO(""))
        accepted = code in _DEMO_ACCEPTED.get(job, (EXIT_OK,))
        text = out.getvalue()
        if not ctx.as_json:
            return demo.StepOutput(code, accepted, text + err.getvalue(), None)
        try:
            document = json.loads(text) if text.strip() else None
        except ValueError:
            document = {"text": text}
        return demo.StepOutput(code, accepted, err.getvalue(), document)

    result = demo.walk_demo(args.dir, run_step)
    ctx.emit(demo.render_demo_json(result), demo.render_demo_text(result))
    if result.outcome == "STOPPED":
        return result.steps[-1].output.exit_code
    return EXIT_OK if result.outcome == "COMPLETE" else EXIT_NEGATIVE
