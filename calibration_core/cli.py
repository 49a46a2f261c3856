"""``python -m calibration_core <job>``: the operator's entry point and its exit codes."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

import attrs

from calibration_core.exceptions import CalibrationError
from calibration_core.settings import (
    ENV_CADENCE_API,
    ENV_CONFIG_PATH,
    ENV_DATA_PATH,
    ENV_REPORT_DIR,
    Paths,
    resolve_paths,
)
from calibration_core.text import escape, escape_controls

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "EXIT_CODES",
    "EXIT_CONFIG_REJECTED",
    "EXIT_DATA",
    "EXIT_DEPLOYMENT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NEGATIVE",
    "EXIT_NOT_AUTHORIZED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_ROLLBACK_ADVISED",
    "EXIT_USAGE",
    "JobContext",
    "build_parser",
    "lazy_handler",
    "main",
]

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_USAGE = 2
EXIT_DATA = 3
EXIT_NOT_AUTHORIZED = 4
EXIT_CONFIG_REJECTED = 5
EXIT_DEPLOYMENT = 6
EXIT_REFUSED = 7
EXIT_ROLLBACK_ADVISED = 8
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (check: calibration authorized; run: proposal pending approval; monitor: OK)",
    EXIT_NEGATIVE: "the job ran and the answer is no (check: NOT READY; run: proposal "
    "rejected; monitor: WATCH, keep watching)",
    EXIT_USAGE: "bad command line or bad argument",
    EXIT_DATA: "the trades file or signals log failed its integrity checks (every bad line "
    "is listed)",
    EXIT_NOT_AUTHORIZED: "the Learning Cadence gate did not authorize calibration",
    EXIT_CONFIG_REJECTED: "a config document failed validation; nothing was deployed",
    EXIT_DEPLOYMENT: "approve/rollback could not complete; the live config is untouched "
    "(also: run/analyze could not write their files; nothing partial is left)",
    EXIT_REFUSED: "the job was refused (unknown, rejected, high risk, forced, stale, "
    "already deployed, its report says DO NOT APPLY and no --override was given, "
    "or not confirmed)",
    EXIT_ROLLBACK_ADVISED: "monitor: ROLLBACK verdict (with --auto-rollback: rolled back; "
    "if that failed, the failure's own code 5/6/7 is returned instead)",
    EXIT_INTERNAL: "internal error: a bug, please report it with the log",
    EXIT_INTERRUPTED: "interrupted",
}

logger = logging.getLogger("calibration_core.cli")


@attrs.frozen
class JobContext:
    """What a job handler gets besides its parsed arguments."""

    paths: Paths
    as_json: bool
    stdout: IO[str]
    stderr: IO[str]
    stdin: IO[str]
    now: Callable[[], datetime]

    def emit(self, payload: dict[str, Any], human: str) -> None:
        """Print ``human`` text, or one JSON document with ``--json``."""
        if self.as_json:
            self.stdout.write(json.dumps(payload, indent=2, allow_nan=False, default=str) + "\n")
        else:
            # The views escape each untrusted piece (text.escape); this pass catches
            # any control character, C1 or bidi override that one of them missed.
            self.stdout.write(escape_controls(human.rstrip("\n")) + "\n")


def lazy_handler(module: str, name: str) -> Callable[[argparse.Namespace, JobContext], int]:
    """Return a job handler that imports ``calibration_core.<module>`` only when it runs.

    The job modules register their subcommands with these, so building the parser
    (and `approve` or `rollback`) never pays for numpy or the analysis stack.
    """

    def handler(args: argparse.Namespace, ctx: JobContext) -> int:
        job: Callable[[argparse.Namespace, JobContext], int] = getattr(
            importlib.import_module(f"calibration_core.{module}"), name
        )
        return job(args, ctx)

    handler.__name__ = name
    return handler


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", help="print one machine-readable JSON document"
    )
    common.add_argument(
        "--data",
        metavar="PATH",
        help=f"trades file (default: ${ENV_DATA_PATH} or data/clm_trades.jsonl)",
    )
    common.add_argument(
        "--config",
        metavar="PATH",
        help=f"live config file (default: ${ENV_CONFIG_PATH} or config/calibration.json)",
    )
    common.add_argument(
        "--report-dir",
        metavar="DIR",
        help=f"reports and job records (default: ${ENV_REPORT_DIR} or reports/)",
    )
    common.add_argument(
        "--cadence-api",
        metavar="URL",
        help=f"Learning Cadence API base URL (default: ${ENV_CADENCE_API})",
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug) to stderr"
    )
    return common


def _exit_code_epilog() -> str:
    lines = ["exit codes:"]
    lines.extend(f"  {code:<4}{meaning}" for code, meaning in EXIT_CODES.items())
    lines.append("")
    lines.append(
        "environment: CLM_DATA_PATH, CALIBRATION_CONFIG_PATH, CALIBRATION_REPORT_DIR, "
        "LEARNING_CADENCE_API, CALIBRATION_SIGNALS_PATH (flags override them)"
    )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every job registered as a subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m calibration_core",
        description=(
            "Config-only calibration of the trading ensemble. The flow is: check -> run "
            "(analysis + report, nothing applied) -> a person reads the report -> "
            "approve <job> -> monitor -> rollback if needed."
        ),
        epilog=_exit_code_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="job", metavar="<job>", required=True)
    common = _common_options()
    for register in _registrars():
        register(sub, common)
    return parser


def _registrars() -> list[Callable[[Any, argparse.ArgumentParser], None]]:
    # Job modules are imported here, when the parser is built, not when cli.py is
    # imported; they import only lazy_handler and the exit codes from this module.
    registrars: list[Callable[[Any, argparse.ArgumentParser], None]] = []
    for module_name in ("cli_offline", "cli_deploy", "cli_monitor"):
        try:
            module = __import__(f"calibration_core.{module_name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"calibration_core.{module_name}":
                raise
            continue
        registrars.append(module.register)
    return registrars


def _configure_logging(verbosity: int, stderr: IO[str]) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root = logging.getLogger("calibration_core")
    root.setLevel(level)
    if not any(getattr(h, "_calibration_cli", False) for h in root.handlers):
        handler = logging.StreamHandler(stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._calibration_cli = True  # type: ignore[attr-defined]  # noqa: SLF001
        root.addHandler(handler)


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
) -> int:
    """Run one job and return its exit code.

    Every :class:`CalibrationError` becomes a one-line ``error: ...`` message
    and the exit code of its class; with ``--json`` the error is also printed
    as a JSON document on stdout.
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    _configure_logging(args.verbose, err)
    ctx = JobContext(
        paths=resolve_paths(
            data=args.data,
            config=args.config,
            report_dir=args.report_dir,
            cadence_api=args.cadence_api,
        ),
        as_json=args.json,
        stdout=out,
        stderr=err,
        stdin=stdin or sys.stdin,
        now=_utc_now,
    )
    handler: Callable[[argparse.Namespace, JobContext], int] = args.handler
    try:
        return handler(args, ctx)
    except CalibrationError as exc:
        return _report_error(
            ctx,
            str(exc),
            exc.exit_code,
            problems=getattr(exc, "problems", ()),
            shown=getattr(exc, "shown", None),
        )
    except KeyboardInterrupt:
        err.write("error: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:
        logger.exception("internal error in job %s", args.job)
        return _report_error(ctx, f"internal error: {exc!r} (this is a bug)", EXIT_INTERNAL)


def _report_error(
    ctx: JobContext,
    message: str,
    code: int,
    *,
    problems: Sequence[str] = (),
    shown: Sequence[str] | None = None,
) -> int:
    first_line = message.splitlines()[0] if message else "unknown error"
    ctx.stderr.write(f"error: {escape(first_line)}\n")
    # A long list is shown grouped; --json carries every problem.
    for problem in problems if shown is None else shown:
        ctx.stderr.write(f"  {escape(problem)}\n")
    if ctx.as_json:
        payload = {"ok": False, "error": first_line, "exit_code": code, "problems": list(problems)}
        ctx.stdout.write(json.dumps(payload, indent=2) + "\n")
    return code


if __name__ == "__main__":  # pragma: no cover - exercised through python -m
    sys.exit(main())
