"""``python -m calibration_core <job>``: the operator's entry point and its exit codes."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import logging
import math
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast
from urllib.parse import urlsplit, urlunsplit

import attrs

from calibration_core import __version__
from calibration_core.exceptions import CalibrationError
from calibration_core.settings import (
    ENV_CADENCE_API,
    ENV_CONFIG_PATH,
    ENV_DATA_PATH,
    ENV_REPORT_DIR,
    ORIGIN_DEFAULT,
    PATH_SETTINGS,
    Paths,
    resolve_paths,
)
from calibration_core.text import escape, escape_controls
from calibration_core.times import iso_utc

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
    "PROG",
    "JobContext",
    "Progress",
    "add_job",
    "build_parser",
    "lazy_handler",
    "lock_timeout_seconds",
    "main",
    "path_argument",
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

# The one table: `--help` prints it and docs/operations.md shows it word for word (a test
# compares them).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success: check authorized; run pending approval; approve/rollback done (or "
    "already live); monitor OK; analyze, status, history, diff, compare, abort done",
    EXIT_NEGATIVE: "the job ran and the answer is no: check NOT READY; run rejected (the "
    "report says why); monitor WATCH",
    EXIT_USAGE: "bad command line or argument (unknown job or flag, a malformed job id or "
    "version, an empty path)",
    EXIT_DATA: "check/run/analyze/monitor/compare: the trades file or signals log is missing "
    "or failed its integrity checks (every bad line is listed)",
    EXIT_NOT_AUTHORIZED: "run: the Learning Cadence gate or a pre-flight probe did not "
    "authorize calibration (no --force)",
    EXIT_CONFIG_REJECTED: "a config failed validation (a corrupt archive entry or an invalid "
    "proposal); nothing was deployed",
    EXIT_DEPLOYMENT: "approve/rollback could not complete (no config directory, lock held "
    "past --lock-timeout, permission denied, disk full); the live config is untouched "
    "(also: run/analyze could not write their files; nothing partial is left)",
    EXIT_REFUSED: "refused: unknown, rejected, high-risk, forced, stale or already deployed "
    "job; a job whose report says DO NOT APPLY without --override (or an APPROVE CANDIDATE "
    "with one); not confirmed; unknown version; a symlink planted in the archive; monitor "
    "without a live config or audit record",
    EXIT_ROLLBACK_ADVISED: "monitor: ROLLBACK advised (also after a successful "
    "--auto-rollback; a failed one returns its own code 5/6/7)",
    EXIT_INTERNAL: "internal error (a bug; please report it with the -vv log)",
    EXIT_INTERRUPTED: "interrupted",
}

PROG = "python -m calibration_core"
"""The program's name when it runs as a module (the console script is ``calibration-core``)."""

# Which path settings each job reads or writes: what it prints at start and what a
# command suggested for it repeats. A job not listed here (a new one) gets all of them.
_JOB_SETTINGS: dict[str, tuple[str, ...]] = {
    "check": ("data", "cadence_api"),
    "run": ("data", "config", "report_dir", "cadence_api"),
    "analyze": ("data", "report_dir"),
    "approve": ("config", "report_dir", "cadence_api"),
    "abort": ("config", "report_dir"),
    "rollback": ("config", "cadence_api"),
    "status": ("config", "report_dir"),
    "history": ("config",),
    "diff": ("config", "report_dir"),
    "monitor": ("data", "config", "report_dir"),
    "compare": ("data", "config", "report_dir"),
}

logger = logging.getLogger("calibration_core.cli")


class Progress:
    """Progress of long steps on stderr, shown only when stderr is a terminal.

    The offline code gets :meth:`callback` (``None`` when nothing is shown) and
    calls it as ``callback(step, done, total)``; it never imports tqdm.
    """

    def __init__(self, stream: IO[str], *, enabled: bool) -> None:
        self._stream = stream
        self._enabled = enabled
        self._bars: dict[str, Any] = {}
        self._finished: set[str] = set()

    def callback(self) -> Callable[[str, int, int], None] | None:
        """Return the function to call with ``(step, done, total)``, or None when silent."""
        return self.update if self._enabled else None

    def update(self, step: str, done: int, total: int) -> None:
        """Move the bar of ``step`` to ``done`` of ``total``; the bar closes at the end."""
        if not self._enabled:
            return
        bar = self._bars.get(step)
        if bar is None:
            if done >= total and step in self._finished:  # a late update of a closed bar
                return
            self._finished.discard(step)
            try:
                from tqdm import tqdm  # noqa: PLC0415 - offline only, and only on a terminal
            except ImportError:  # progress is a courtesy, never a failure
                self._enabled = False
                return

            bar = tqdm(total=total, desc=step, file=self._stream, leave=False, unit="")
            self._bars[step] = bar
        bar.total = total
        bar.n = min(done, total)
        bar.refresh()
        if done >= total:
            bar.close()
            del self._bars[step]
            self._finished.add(step)

    def close(self) -> None:
        """Close any bar still open (after an error)."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


@attrs.frozen
class JobContext:
    """What a job handler gets besides its parsed arguments."""

    paths: Paths
    as_json: bool
    stdout: IO[str]
    stderr: IO[str]
    stdin: IO[str]
    now: Callable[[], datetime]
    prog: str = PROG
    progress: Progress | None = None

    def emit(self, payload: dict[str, Any], human: str) -> None:
        """Print ``human`` text, or one JSON document with ``--json``."""
        if self.as_json:
            self.stdout.write(json.dumps(payload, indent=2, allow_nan=False, default=str) + "\n")
        else:
            # The views escape each untrusted piece (text.escape); this pass catches
            # any control character, C1 or bidi override that one of them missed.
            self.stdout.write(escape_controls(human.rstrip("\n")) + "\n")

    def command(self, job: str, *words: str) -> str:
        """Return a command line for ``job`` that finds the same files, from any directory.

        The path settings ``job`` uses are repeated as flags with their absolute
        values, after the job name, whether they came from a flag, a variable or
        a default: the command is then runnable as printed.
        """
        parts = [self.prog, job]
        parts.extend(shlex.quote(w) for w in words)
        for setting in _JOB_SETTINGS.get(job, tuple(PATH_SETTINGS)):
            value = getattr(self.paths, setting)
            # A URL with a password stays in the environment, never in a printed command.
            if value is not None and _without_password(str(value)) == str(value):
                parts.extend([PATH_SETTINGS[setting][2], shlex.quote(str(value))])
        return " ".join(parts)

    def progress_callback(self) -> Callable[[str, int, int], None] | None:
        """Return the progress callback for long steps, or None when progress is not shown."""
        return None if self.progress is None else self.progress.callback()


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


def _without_password(url: str) -> str:
    """Return ``url`` with the password of ``user:password@host`` replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL we can read: shown as given, it holds no userinfo we parsed
        return url
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# --------------------------------------------------------------------------- argument types


def path_argument(text: str) -> str:
    """Argument type of a path flag: refuse an empty path, which would mean the directory."""
    if not text.strip():
        msg = "must name a file or directory (got an empty path)"
        raise argparse.ArgumentTypeError(msg)
    return text


def lock_timeout_seconds(text: str) -> float:
    """Argument type of ``--lock-timeout``: a finite number of seconds >= 0."""
    # float() accepts "nan" and "inf": a NaN deadline never passes, so the wait never ends.
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        msg = f"must be a finite number of seconds >= 0 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return value


# --------------------------------------------------------------------------- the parser


class _UsageError(Exception):
    """An argparse error, raised instead of printing and exiting so that --json can answer."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    # Subparsers are built with the parent's class, so every level raises _UsageError.
    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


_PATH_FLAGS = (
    ("--data", "PATH", f"trades file (default: ${ENV_DATA_PATH} or data/clm_trades.jsonl)"),
    (
        "--config",
        "PATH",
        f"live config file (default: ${ENV_CONFIG_PATH} or config/calibration.json)",
    ),
    ("--report-dir", "DIR", f"reports and job records (default: ${ENV_REPORT_DIR} or reports/)"),
)


def _common_options(*, top_level: bool) -> argparse.ArgumentParser:
    # The same options are accepted before and after the job name. On the job's copy the
    # defaults are SUPPRESS: a flag given after the job name overrides the one before it,
    # and a flag not given there leaves the top-level value (or default) alone.
    def default(value: object) -> object:
        return value if top_level else argparse.SUPPRESS

    no = False

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        default=default(no),
        help="print one machine-readable JSON document on stdout (errors too)",
    )
    for flag, metavar, text in _PATH_FLAGS:
        common.add_argument(
            flag, metavar=metavar, type=path_argument, default=default(None), help=text
        )
    common.add_argument(
        "--cadence-api",
        metavar="URL",
        default=default(None),
        help=f"Learning Cadence API base URL (default: ${ENV_CADENCE_API})",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        # Counted separately after the job name, then added: `-v run -v` is -vv.
        dest="verbose" if top_level else "verbose_after_job",
        default=default(0),
        help="log the steps to stderr (-v info, -vv debug)",
    )
    common.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=default("text"),
        help="log lines as text with timestamps, or one JSON object per line (default: text)",
    )
    return common


def _exit_code_epilog() -> str:
    lines = ["exit codes:"]
    lines.extend(f"  {code:<4}{meaning}" for code, meaning in EXIT_CODES.items())
    lines.append("")
    lines.append(
        "environment: CLM_DATA_PATH (else the recorder's SIMPLE_CLM_STORAGE), "
        "CALIBRATION_CONFIG_PATH, CALIBRATION_REPORT_DIR, LEARNING_CADENCE_API, "
        "CALIBRATION_SIGNALS_PATH, CALIBRATION_PREFLIGHT (flags override them; relative "
        "defaults are resolved against the working directory)"
    )
    lines.append("NO_COLOR=1 turns colour off; output that is not a terminal is never coloured.")
    return "\n".join(lines)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Build the argument parser with every job registered as a subcommand.

    Parameters
    ----------
    prog : str, optional
        The program's name as invoked (``python -m calibration_core`` or
        ``calibration-core``), shown in the usage line.
    """
    parser = _Parser(
        prog=prog,
        description=(
            "Config-only calibration of the trading ensemble. The flow is: check -> run "
            "(analysis + report, nothing applied) -> a person reads the report -> "
            "approve <job> -> monitor -> rollback if needed. The path flags, --json and -v "
            "are accepted before or after the job name."
        ),
        epilog=_exit_code_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options(top_level=True)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="job", metavar="<job>", required=True)
    common = _common_options(top_level=False)
    for register in _registrars():
        register(sub, common)
    return parser


def add_job(
    subparsers: Any,  # noqa: ANN401 - argparse's private _SubParsersAction
    common: argparse.ArgumentParser,
    name: str,
    handler: Callable[[argparse.Namespace, JobContext], int],
    *,
    summary: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add the job ``name`` with the common options and its handler; return its parser.

    ``summary`` is the line ``--help`` shows, ``description`` the paragraph of
    ``<job> --help``; ``handler(args, ctx)`` returns the exit code (see
    :func:`lazy_handler`). The job's own arguments go on the returned parser.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, parents=[common], help=summary, description=description
    )
    parser.set_defaults(handler=handler)
    return parser


def _registrars() -> list[Callable[[Any, argparse.ArgumentParser], None]]:
    # Job modules are imported here, when the parser is built, not when cli.py is
    # imported; they import add_job, lazy_handler, the argument types, main and the
    # exit codes from this module, and their jobs only when one runs.
    registrars: list[Callable[[Any, argparse.ArgumentParser], None]] = []
    for module_name in ("cli.offline", "cli.deploy", "cli.monitor"):
        try:
            module = __import__(f"calibration_core.{module_name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"calibration_core.{module_name}":
                raise
            continue
        registrars.append(module.register)
    return registrars


def _prog_name(argv0: str) -> str:
    name = Path(argv0).name
    if name in {"__main__.py", "-c", "-m", ""} or name.startswith("python"):
        return PROG
    return name


def _wants_json(argv: Sequence[str]) -> bool:
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


# --------------------------------------------------------------------------- logging


class _JsonLogFormatter(logging.Formatter):
    """One JSON object per line, for journald and Loki."""

    # Extra fields a log call may carry (logger.info(..., extra={"event": ...})); event,
    # version (of the config) and digest (of the data or config bytes) are always present.
    FIELDS = ("job_id", "path", "n", "step")

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one JSON object on one line."""
        entry: dict[str, Any] = {
            "ts": iso_utc(record.created, timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or record.getMessage(),
            "version": getattr(record, "version", None),
            "digest": getattr(record, "digest", None),
            "message": record.getMessage(),
            "calibration_core": __version__,
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _TextLogFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        del datefmt
        return iso_utc(record.created, timespec="milliseconds")


def _configure_logging(verbosity: int, stderr: IO[str], log_format: str) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root = logging.getLogger("calibration_core")
    root.setLevel(level)
    for old in [h for h in root.handlers if getattr(h, "_calibration_cli", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(
        _JsonLogFormatter()
        if log_format == "json"
        else _TextLogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler._calibration_cli = True  # type: ignore[attr-defined]  # noqa: SLF001
    root.addHandler(handler)


# --------------------------------------------------------------------------- terminal output

# What an emoji or symbol becomes on an output that cannot encode it (ASCII cron mail).
_ASCII: dict[str, str] = {
    "✅": "[OK]",
    "❌": "[X]",
    "⚠️": "[!]",
    "⚠": "[!]",
    "⛔": "[STOP]",
    "🟢": "[GREEN]",
    "🟡": "[YELLOW]",
    "🔴": "[RED]",
    "↩️": "<-",
    "➖": "-",
    "\ufe0f": "",
    "═": "=",
    "→": "->",
    "←": "<-",
    "—": "-",
    "–": "-",
    "…": "...",
    "≥": ">=",
    "≤": "<=",
    "±": "+/-",
    "σ": "sigma",
    "Δ": "delta",
    "•": "*",
    **dict.fromkeys(("📊", "🔐", "📁", "📋", "📈", "📜", "🔍", "⚖️", "📌", "🗄️"), "#"),
}
_ASCII_ORDER = sorted(_ASCII, key=len, reverse=True)

_COLOURS = {"✅": "32", "🟢": "32", "❌": "31", "🔴": "31", "⛔": "31", "⚠️": "33", "🟡": "33"}


def _encodes_everything(stream: IO[str]) -> bool:
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True
    try:
        "✅⚠️═→".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _is_terminal(stream: IO[str]) -> bool:
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return bool(stream.isatty())
    return False


def _colour_wanted(stream: IO[str]) -> bool:
    # https://no-color.org: a non-empty NO_COLOR turns colour off; pipes and files get none.
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("TERM", "") == "dumb":
        return False
    return _is_terminal(stream)


class _TerminalText(io.TextIOBase):
    """A text stream that never fails on a character its encoding lacks, and colours markers."""

    def __init__(self, stream: IO[str], *, ascii_only: bool, colour: bool) -> None:
        super().__init__()
        self._stream = stream
        self._ascii = ascii_only
        self._colour = colour
        self._encoding = getattr(stream, "encoding", None) or "utf-8"
        self._broken = False

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it read-only
        """The encoding of the wrapped stream."""
        return self._encoding

    def write(self, text: str) -> int:
        """Write ``text``, degrading what the encoding cannot carry to ASCII markers."""
        if self._colour:
            text = self._coloured(text)
        if self._ascii:
            for symbol in _ASCII_ORDER:
                text = text.replace(symbol, _ASCII[symbol])
            text = text.encode(self._encoding, errors="replace").decode(self._encoding)
        if not self._broken:
            try:
                self._stream.write(text)
            except BrokenPipeError:  # `| head` closed the pipe: the rest is not wanted
                self._pipe_closed()
        return len(text)

    def _pipe_closed(self) -> None:
        self._broken = True
        # Point the descriptor at /dev/null, so the interpreter's own flush at exit does
        # not raise BrokenPipeError again.
        with contextlib.suppress(AttributeError, ValueError, OSError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)

    def _coloured(self, text: str) -> str:
        lines = text.split("\n")
        for i, line in enumerate(lines):
            start = line.lstrip()
            for marker, code in _COLOURS.items():
                if start.startswith(marker):
                    lines[i] = f"\x1b[{code}m{line}\x1b[0m"
                    break
        return "\n".join(lines)

    def flush(self) -> None:
        """Flush the wrapped stream."""
        if self._broken:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._pipe_closed()

    def isatty(self) -> bool:
        """Whether the wrapped stream is a terminal."""
        return _is_terminal(self._stream)

    def fileno(self) -> int:
        """Return the wrapped stream's file descriptor."""
        return self._stream.fileno()


def _terminal(stream: IO[str]) -> IO[str]:
    return cast(
        "IO[str]",
        _TerminalText(
            stream, ascii_only=not _encodes_everything(stream), colour=_colour_wanted(stream)
        ),
    )


# --------------------------------------------------------------------------- main


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
) -> int:
    """Run one job and return its exit code.

    Every :class:`CalibrationError` becomes a one-line ``error: ...`` message
    and the exit code of its class; with ``--json`` every error, a usage error
    included, is also printed as one JSON document on stdout.
    """
    out = _terminal(stdout or sys.stdout)
    err = _terminal(stderr or sys.stderr)
    if argv is None:
        prog = _prog_name(sys.argv[0])
        arguments = list(sys.argv[1:])
    else:
        prog, arguments = PROG, list(argv)
    parser = build_parser(prog)
    try:
        with contextlib.redirect_stdout(out):  # --help and --version print through us
            args = parser.parse_args(arguments)
    except _UsageError as exc:
        return _usage_error(exc, out, err, as_json=_wants_json(arguments))
    except SystemExit as exc:  # --help and --version exit 0
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    _configure_logging(args.verbose + getattr(args, "verbose_after_job", 0), err, args.log_format)
    paths = resolve_paths(
        data=args.data,
        config=args.config,
        report_dir=args.report_dir,
        cadence_api=args.cadence_api,
    )
    progress = Progress(err, enabled=_is_terminal(err))
    ctx = JobContext(
        paths=paths,
        as_json=args.json,
        stdout=out,
        stderr=err,
        stdin=stdin or sys.stdin,
        now=_utc_now,
        prog=prog,
        progress=progress,
    )
    _print_paths(ctx, args.job)
    logger.info(
        "job %s started (calibration_core %s)",
        args.job,
        __version__,
        extra={"event": "job_started", "step": args.job},
    )
    logger.debug(
        "arguments: %s",
        {k: v for k, v in vars(args).items() if k != "handler"},
        extra={"event": "arguments", "step": args.job},
    )
    handler: Callable[[argparse.Namespace, JobContext], int] = args.handler
    try:
        code = handler(args, ctx)
    except CalibrationError as exc:
        code = _report_error(
            ctx,
            str(exc),
            exc.exit_code,
            problems=getattr(exc, "problems", ()),
            shown=getattr(exc, "shown", None),
        )
    except KeyboardInterrupt:
        code = _report_error(ctx, "interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        logger.exception("internal error in job %s", args.job)
        code = _report_error(ctx, f"internal error: {exc!r} (this is a bug)", EXIT_INTERNAL)
    finally:
        progress.close()
    logger.info(
        "job %s finished with exit code %d",
        args.job,
        code,
        extra={"event": "job_finished", "step": args.job, "n": code},
    )
    return code


def _print_paths(ctx: JobContext, job: str) -> None:
    # The absolute paths a job uses go to stderr (stdout stays the job's answer); a
    # default is named as one, because it depends on the working directory.
    for setting in _JOB_SETTINGS.get(job, tuple(PATH_SETTINGS)):
        value = getattr(ctx.paths, setting)
        label, variable, flag = PATH_SETTINGS[setting]
        if value is None:
            continue
        note = ctx.paths.origin_note(setting)
        if ctx.paths.origin(setting) == ORIGIN_DEFAULT:
            note = f"(default; set {variable} or pass {flag})"
        ctx.stderr.write(f"{label + ':':<13}{_without_password(str(value))} {note}\n")


def _usage_error(exc: _UsageError, out: IO[str], err: IO[str], *, as_json: bool) -> int:
    # One line, like every other failure, naming the job and where the usage is.
    message = f"{' '.join(exc.message.split())} (see `{exc.parser.prog} --help`)"
    err.write(f"error: {message}\n")
    if as_json:
        payload = {"ok": False, "error": message, "exit_code": EXIT_USAGE, "problems": []}
        out.write(json.dumps(payload, indent=2) + "\n")
    return EXIT_USAGE


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
    # A long list is shown grouped; --json carries every problem. The message already
    # names the first problem ("<it> (and N more)"): none is listed twice.
    listed = problems if shown is None else shown
    for problem in [p for p in listed if p not in first_line]:
        ctx.stderr.write(f"  {escape(problem)}\n")
    if ctx.as_json:
        payload = {"ok": False, "error": first_line, "exit_code": code, "problems": list(problems)}
        ctx.stdout.write(json.dumps(payload, indent=2) + "\n")
    return code


if __name__ == "__main__":  # pragma: no cover - exercised through python -m
    sys.exit(main())
