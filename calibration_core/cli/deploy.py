"""The deployment jobs of the CLI: approve, abort, rollback, status, history and diff."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
from typing import IO, TYPE_CHECKING, Any

from calibration_core import deploy
from calibration_core.cli.main import EXIT_OK, add_job, lock_timeout_seconds
from calibration_core.config import is_valid_version
from calibration_core.deploy import views
from calibration_core.exceptions import CalibrationError, JobRefusedError
from calibration_core.text import escape

if TYPE_CHECKING:
    from collections.abc import Callable

    from calibration_core.cli.main import JobContext

    Handler = Callable[[argparse.Namespace, JobContext], int]

__all__ = ["job_id_argument", "person_text_argument", "reference_argument", "register"]

logger = logging.getLogger("calibration_core.cli_deploy")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's subparsers action type is private
    """Add approve, abort, rollback, status, history and diff to the CLI.

    Parameters
    ----------
    subparsers : argparse subparsers action
        What ``ArgumentParser.add_subparsers`` returned.
    common : argparse.ArgumentParser
        The parent parser of every job (``--json``, the path options, ``-v``).
    """

    def job(name: str, handler: Handler, help_text: str, description: str | None = None) -> Any:  # noqa: ANN401 - argparse's parser type
        return add_job(
            subparsers, common, name, handler, summary=help_text, description=description
        )

    approve = job(
        "approve",
        _approve,
        "deploy a reviewed job's config (asks for confirmation)",
        "Show the job's summary, ask `Deploy <job>? [y/N]`, then under the deploy lock: "
        "back up the live config, archive the new version, replace calibration.json "
        "atomically, touch .calibration_reload, append the audit record and mark the job "
        "deployed. Refuses unknown, rejected, forced, failed, high-risk, aborted, already "
        "deployed and stale jobs, and a job whose report says DO NOT APPLY unless "
        "--override says why.",
    )
    approve.add_argument(
        "job_id", type=job_id_argument, help="the job to deploy, e.g. cal_20260210_143022"
    )
    approve.add_argument(
        "--approved-by",
        metavar="NAME",
        type=person_text_argument,
        help="who approves (default: the login user)",
    )
    approve.add_argument(
        "--override",
        metavar="WHY",
        type=_override_reason,
        help=(
            "deploy a job whose report says DO NOT APPLY, for this reason (at least 10 "
            "characters; recorded in the job, the audit trail and the config). Never lifts "
            "the refusal of a forced, rejected or high-risk job"
        ),
    )
    _add_confirmation(approve)

    abort = job(
        "abort",
        _abort,
        "archive a job without deploying anything",
        "Archive a pending or rejected job (status aborted) and record it.",
    )
    abort.add_argument("job_id", type=job_id_argument, help="the job to abort")
    _add_reason_and_by(abort, "aborts")
    _add_lock_timeout(abort)

    rollback = job(
        "rollback",
        _rollback,
        "make an earlier version live again (asks for confirmation)",
        "Without VERSION restore the version the live one replaced (A -> B -> C: rollback "
        "gives B, again gives A). With VERSION restore that version from "
        "calibration_archive/. See `history` for every version that was live.",
    )
    rollback.add_argument("version", nargs="?", type=job_id_argument, help="the version to restore")
    _add_reason_and_by(rollback, "rolls back")
    _add_confirmation(rollback)

    job(
        "status",
        _status,
        "show the live version, archive match, pending jobs, last audit event, lock",
    )
    job("history", _history, "list every version that was ever live")
    diff = job(
        "diff",
        _diff,
        "compare two versions (archive, job or `live`)",
        "Compare the calibrated confidence on the 0.50..0.95 grid, the weights per model, "
        "the enabled flags and every other field. A and B are `live`, an archived version, "
        "or a job id (its proposed config).",
    )
    diff.add_argument("a", type=reference_argument, help="`live`, a version or a job id")
    diff.add_argument("b", type=reference_argument, help="`live`, a version or a job id")


def _add_reason_and_by(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--reason", metavar="TEXT", type=person_text_argument, help="why, for the audit trail"
    )
    parser.add_argument(
        "--by",
        metavar="NAME",
        type=person_text_argument,
        help=f"who {verb} (default: the login user)",
    )


def _add_confirmation(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-y", "--yes", action="store_true", help="do not ask; required when stdin is not a terminal"
    )
    _add_lock_timeout(parser)


def _add_lock_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=lock_timeout_seconds,
        default=deploy.DEFAULT_LOCK_TIMEOUT,
        metavar="SECONDS",
        help="wait this long for another approve/rollback (default: %(default)s)",
    )


def _override_reason(text: str) -> str:
    # deploy.require_override_reason refuses controls and bidi/format characters itself.
    try:
        return deploy.require_override_reason(text)
    except CalibrationError as exc:
        # argparse prefixes "argument --override: "; drop our own "--override ".
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--override ")) from None


def job_id_argument(text: str) -> str:
    """Argument type of a job id or version: ``cal_YYYYMMDD_HHMMSS`` with an optional suffix."""
    if not is_valid_version(text):
        msg = f"expected cal_YYYYMMDD_HHMMSS with an optional _NN suffix (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return text


def reference_argument(text: str) -> str:
    """Argument type of `diff`/`compare` operands: ``live``, a version or a job id."""
    if text != "live" and not is_valid_version(text):
        msg = f"expected `live` or cal_YYYYMMDD_HHMMSS with an optional _NN suffix (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return text


def person_text_argument(text: str) -> str:
    """Argument type of ``--approved-by``, ``--by`` and ``--reason``: printable text only.

    These strings reach the terminal, the audit trail and the reports. The rule is
    deploy's own (what ``text.escape`` would change is refused: C0, DEL, C1 such as
    U+009B, bidirectional overrides and isolates, line separators), checked here so
    that it is a usage error before anything runs.
    """
    if not text.strip():
        msg = "must not be empty"
        raise argparse.ArgumentTypeError(msg)
    if escape(text) != text:
        msg = (
            "must be printable characters on one line, without control or bidirectional "
            f"characters (got {escape(repr(text))})"
        )
        raise argparse.ArgumentTypeError(msg)
    return text


# --------------------------------------------------------------------------- handlers


def _login_name() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER in a container
        return "unknown"


def _is_terminal(stream: IO[str]) -> bool:
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return bool(stream.isatty())
    return False


def _confirm(args: argparse.Namespace, ctx: JobContext, question: str, out: IO[str]) -> None:
    if args.yes:
        return
    if not _is_terminal(ctx.stdin):
        raise JobRefusedError("not confirmed: stdin is not a terminal; pass --yes")
    out.write(question)
    out.flush()
    answer = ctx.stdin.readline().strip().lower()
    if answer not in {"y", "yes"}:
        raise JobRefusedError("not confirmed: nothing was changed")


def _prompt_stream(ctx: JobContext) -> IO[str]:
    # With --json stdout carries exactly one JSON document: talk to the person on stderr.
    return ctx.stderr if ctx.as_json else ctx.stdout


def _deployed(result: deploy.DeployResult, ctx: JobContext) -> int:
    logger.info(
        "%s: %s live (previous: %s), by %s",
        result.event,
        result.version,
        result.previous_version or "none",
        result.by,
        extra={
            "event": result.event if result.changed else f"{result.event}_unchanged",
            "version": result.version,
            "digest": f"sha256:{result.config_sha256}",
        },
    )
    ctx.emit(views.render_deploy_json(result), views.render_deploy_text(result, ctx.paths))
    return EXIT_OK


def _approve(args: argparse.Namespace, ctx: JobContext) -> int:
    approver = _login_name() if args.approved_by is None else args.approved_by
    override = getattr(args, "override", None)
    plan = deploy.plan_approval(ctx.paths, args.job_id, override=override)
    out = _prompt_stream(ctx)
    out.write(views.render_approval_summary(plan) + "\n")
    question = f"Deploy {args.job_id}? [y/N] "
    if override is not None:
        out.write(
            f"⚠️  OVERRIDE: you deploy {args.job_id} against its report's DO NOT APPLY.\n"
            f"   your reason: {override}\n"
        )
        question = f"Deploy {args.job_id} against the report, for the reason above? [y/N] "
    _confirm(args, ctx, question, out)
    result = deploy.approve(
        ctx.paths,
        args.job_id,
        approved_by=approver,
        now=ctx.now,
        lock_timeout=args.lock_timeout,
        override=override,
    )
    return _deployed(result, ctx)


def _rollback(args: argparse.Namespace, ctx: JobContext) -> int:
    by = _login_name() if args.by is None else args.by
    plan = deploy.plan_rollback(ctx.paths, args.version)
    if not plan.already_live:
        out = _prompt_stream(ctx)
        out.write(f"Rollback: live {plan.current or '(none)'} -> {plan.target}\n")
        _confirm(args, ctx, f"Roll back to {plan.target}? [y/N] ", out)
    # The confirmed target is passed explicitly, and the live config the person saw is
    # checked again under the lock: a deploy that lands while the prompt is open is
    # never rolled back by this "y".
    result = deploy.rollback(
        ctx.paths,
        version=plan.target,
        by=by,
        reason=args.reason,
        now=ctx.now,
        lock_timeout=args.lock_timeout,
        expected_current=plan.current,
        expected_sha256=plan.current_sha256,
    )
    return _deployed(result, ctx)


def _abort(args: argparse.Namespace, ctx: JobContext) -> int:
    result = deploy.abort(
        ctx.paths,
        args.job_id,
        by=_login_name() if args.by is None else args.by,
        now=ctx.now,
        reason=args.reason,
        lock_timeout=args.lock_timeout,
    )
    ctx.emit(views.render_abort_json(result), views.render_abort_text(result))
    return EXIT_OK


def _status(args: argparse.Namespace, ctx: JobContext) -> int:  # noqa: ARG001 - handler signature
    report = deploy.status(ctx.paths)
    ctx.emit(views.render_status_json(report), views.render_status_text(report))
    return EXIT_OK


def _history(args: argparse.Namespace, ctx: JobContext) -> int:  # noqa: ARG001 - handler signature
    report = deploy.history(ctx.paths)
    ctx.emit(views.render_history_json(report), views.render_history_text(report, ctx.paths))
    return EXIT_OK


def _diff(args: argparse.Namespace, ctx: JobContext) -> int:
    result = deploy.diff(ctx.paths, args.a, args.b)
    ctx.emit(views.render_diff_json(result), views.render_diff_text(result))
    return EXIT_OK
