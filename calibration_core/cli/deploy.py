"""The deployment jobs of the CLI: approve, abort, rollback, status, history and diff."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
from typing import IO, TYPE_CHECKING, Any

from calibration_core.cli.main import lock_timeout_seconds
from calibration_core.config import is_valid_version
from calibration_core.deploy import deployer as deploy
from calibration_core.deploy.jobstore import RECOMMEND_APPROVE
from calibration_core.exceptions import CalibrationError, JobRefusedError
from calibration_core.text import escape

if TYPE_CHECKING:
    from calibration_core.cli.main import JobContext
    from calibration_core.settings import Paths

__all__ = ["job_id_argument", "person_text_argument", "reference_argument", "register"]

_SUMMARY_POINTS = (0.5, 0.6, 0.7, 0.8, 0.9)

logger = logging.getLogger("calibration_core.cli_deploy")


def _log_result(result: deploy.DeployResult) -> None:
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


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's subparsers action type is private
    """Add the deployment subcommands to the CLI.

    Parameters
    ----------
    subparsers : argparse subparsers action
        From ``ArgumentParser.add_subparsers``.
    common : argparse.ArgumentParser
        Parent parser with the options every job takes (``--json``, paths, ``-v``).
    """
    approve = subparsers.add_parser(
        "approve",
        parents=[common],
        help="deploy a reviewed job's config (asks for confirmation)",
        description=(
            "Show the job's summary, ask `Deploy <job>? [y/N]`, then under the deploy lock: "
            "back up the live config, archive the new version, replace calibration.json "
            "atomically, touch .calibration_reload, append the audit record and mark the job "
            "deployed. Refuses unknown, rejected, forced, failed, high-risk, aborted, already "
            "deployed and stale jobs, and a job whose report says DO NOT APPLY unless "
            "--override says why."
        ),
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
    approve.set_defaults(handler=_approve)

    abort = subparsers.add_parser(
        "abort",
        parents=[common],
        help="archive a job without deploying anything",
        description="Archive a pending or rejected job (status aborted) and record it.",
    )
    abort.add_argument("job_id", type=job_id_argument, help="the job to abort")
    abort.add_argument(
        "--reason", metavar="TEXT", type=person_text_argument, help="why, for the audit trail"
    )
    abort.add_argument(
        "--by",
        metavar="NAME",
        type=person_text_argument,
        help="who aborts (default: the login user)",
    )
    _add_lock_timeout(abort)
    abort.set_defaults(handler=_abort)

    rollback = subparsers.add_parser(
        "rollback",
        parents=[common],
        help="make an earlier version live again (asks for confirmation)",
        description=(
            "Without VERSION restore the version the live one replaced (A -> B -> C: rollback "
            "gives B, again gives A). With VERSION restore that version from "
            "calibration_archive/. See `history` for every version that was live."
        ),
    )
    rollback.add_argument("version", nargs="?", type=job_id_argument, help="the version to restore")
    rollback.add_argument(
        "--reason", metavar="TEXT", type=person_text_argument, help="why, for the audit trail"
    )
    rollback.add_argument(
        "--by",
        metavar="NAME",
        type=person_text_argument,
        help="who rolls back (default: the login user)",
    )
    _add_confirmation(rollback)
    rollback.set_defaults(handler=_rollback)

    status = subparsers.add_parser(
        "status",
        parents=[common],
        help="show the live version, archive match, pending jobs, last audit event, lock",
    )
    status.set_defaults(handler=_status)

    history = subparsers.add_parser(
        "history", parents=[common], help="list every version that was ever live"
    )
    history.set_defaults(handler=_history)

    diff = subparsers.add_parser(
        "diff",
        parents=[common],
        help="compare two versions (archive, job or `live`)",
        description=(
            "Compare the calibrated confidence on the 0.50..0.95 grid, the weights per model, "
            "the enabled flags and every other field. A and B are `live`, an archived version, "
            "or a job id (its proposed config)."
        ),
    )
    diff.add_argument("a", type=reference_argument, help="`live`, a version or a job id")
    diff.add_argument("b", type=reference_argument, help="`live`, a version or a job id")
    diff.set_defaults(handler=_diff)


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


def _approve(args: argparse.Namespace, ctx: JobContext) -> int:
    approver = _login_name() if args.approved_by is None else args.approved_by
    override = getattr(args, "override", None)
    plan = deploy.plan_approval(ctx.paths, args.job_id, override=override)
    out = _prompt_stream(ctx)
    out.write(_approval_summary(plan) + "\n")
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
    _log_result(result)
    ctx.emit({"ok": True, **result.to_dict()}, _render_result(result, ctx.paths))
    return 0


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
    _log_result(result)
    ctx.emit({"ok": True, **result.to_dict()}, _render_result(result, ctx.paths))
    return 0


def _abort(args: argparse.Namespace, ctx: JobContext) -> int:
    result = deploy.abort(
        ctx.paths,
        args.job_id,
        by=_login_name() if args.by is None else args.by,
        now=ctx.now,
        reason=args.reason,
        lock_timeout=args.lock_timeout,
    )
    lines = [f"🗄️  Aborted {result.job_id}: nothing was deployed; record in {result.record_path}"]
    if not result.audited:
        lines.append("   (no audit record: the config directory is missing)")
    lines.extend(f"⚠️  {w}" for w in result.warnings)
    ctx.emit({"ok": True, **result.to_dict()}, "\n".join(lines))
    return 0


def _status(args: argparse.Namespace, ctx: JobContext) -> int:  # noqa: ARG001 - handler signature
    report = deploy.status(ctx.paths)
    missing = None
    if report.live_version is None and not ctx.paths.config.exists():
        # From the wrong directory a default path finds nothing: say where we looked.
        missing = f"no config at {ctx.paths.config} {ctx.paths.origin_note('config')}"
    ctx.emit(
        {"ok": True, **report.to_dict(), "config_missing": missing},
        _render_status(report, missing),
    )
    return 0


def _history(args: argparse.Namespace, ctx: JobContext) -> int:  # noqa: ARG001 - handler signature
    report = deploy.history(ctx.paths)
    ctx.emit({"ok": True, **report.to_dict()}, _render_history(report, ctx.paths))
    return 0


def _diff(args: argparse.Namespace, ctx: JobContext) -> int:
    result = deploy.diff(ctx.paths, args.a, args.b)
    ctx.emit({"ok": True, **result.to_dict()}, _render_diff(result))
    return 0


# --------------------------------------------------------------------------- rendering


def _approval_summary(plan: deploy.ApprovalPlan) -> str:
    job, proposed = plan.job, plan.job.proposed_config
    live = plan.live.document
    points = "  ".join(
        f"{x:.2f}→{deploy.calibrated_value(proposed.confidence, x):.3f}" for x in _SUMMARY_POINTS
    )
    lines = [f"📋 Calibration job {job.job_id}"]
    if job.recommendation == RECOMMEND_APPROVE:
        lines.append(f"   recommendation: ✅ {RECOMMEND_APPROVE} (the report's words)")
    else:
        shown = job.recommendation or "UNKNOWN"
        lines.append(f"   recommendation: ❌ {shown} (the report's words)")
        lines.extend(f"     - {reason}" for reason in job.do_not_apply_reasons)
    lines += [
        f"   created:     {job.created_at}",
        f"   trades:      {job.n_trades}",
        f"   data hash:   {job.data_hash}",
        f"   validation:  {'✅ passed' if job.validation_passed else '❌ failed'}",
        f"   risk:        {job.risk_score:.1%} ({job.risk_category})",
        "   confidence:  "
        + ("enabled   " + points if proposed.confidence.enabled else "disabled (raw confidence)"),
        f"   weights:     {'enabled' if proposed.weights.enabled else 'disabled'} (before → after)",
    ]
    before = {} if live is None else live.weights_dict()
    after = proposed.weights_dict()
    for model in list(before) + [m for m in after if m not in before]:
        b, a = before.get(model), after.get(model)
        delta = "" if a is None or b is None else f"  ({a - b:+.3f})"
        lines.append(f"     {model:<12} {_fmt(b)} → {_fmt(a)}{delta}")
    lines.append(
        f"   live now:    {plan.live.version or ('unparseable' if plan.live.exists else 'none')}"
    )
    if plan.resumes:
        lines.append(
            f"   note: {job.job_id} is already live (an earlier approve was interrupted); "
            "approving finishes it"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def _render_result(result: deploy.DeployResult, paths: Paths) -> str:
    if not result.changed and not result.resumed:
        lines = [f"✅ {result.version} is already live; nothing to do"]
    elif result.resumed:
        lines = [f"✅ {result.version} was already live; finished the interrupted approve"]
    else:
        verb = "Deployed" if result.event == "deploy" else "Rolled back to"
        lines = [f"✅ {verb} {result.version} (previous: {result.previous_version or 'none'})"]
    lines += [
        f"   config:  {paths.config} (sha256 {result.config_sha256[:16]}…)",
        f"   archive: {paths.archive_dir}",
        f"   audit:   {result.event} by {result.by} at {result.at}",
        f"   reload:  signalled via {paths.sentinel}",
    ]
    if result.override is not None:
        lines.append(f"   override: {result.override}")
    if result.cadence is not None:
        ok, message = result.cadence
        lines.append(
            f"   cadence: notified ({message})" if ok else f"⚠️  cadence: NOT notified ({message})"
        )
    lines.extend(f"⚠️  {w}" for w in result.warnings)
    if result.event == "deploy" and result.changed:
        lines += ["", "Next: monitor for 24-48 hours; `rollback` if needed."]
    return "\n".join(lines)


def _render_status(report: deploy.StatusReport, missing: str | None) -> str:
    match = {True: "yes", False: "NO (differs from archive)", None: "no archived copy"}
    lines = [
        f"📊 Calibration status ({report.config_path})",
        f"   live version:  {report.live_version or '-'}"
        + ("  (LEGACY config of the old deployer)" if report.legacy else ""),
    ]
    if report.legacy_refusal:
        lines.append(
            f"   ❌ REFUSED by the loader: {report.legacy_refusal}; nothing is served from it "
            "(the loader keeps what it had, or the identity)"
        )
    if report.legacy or report.based_on_trades is not None:
        trades = "-" if report.based_on_trades is None else report.based_on_trades
        lines.append(f"   created:       {report.created_at or '-'}, based on {trades} trades")
    if missing is not None:
        lines.append(f"   ⚠️ {missing}")
    elif report.live_error:
        lines.append(f"   ⚠️ live config: {report.live_error}")
    lines += [
        f"   approved:      {report.approved_at or '-'} by {report.approved_by or '-'}",
        *(
            [f"   override:      {report.override_reason} (deployed against DO NOT APPLY)"]
            if report.override_reason
            else []
        ),
        f"   data hash:     {report.data_hash or '-'}",
        f"   sha256:        {report.config_sha256 or '-'}",
        f"   matches archive: {match[report.matches_archive]}",
        f"   lock:          {'HELD (approve/rollback running)' if report.lock_held else 'free'}",
    ]
    last = report.last_audit_event
    if last is None:
        lines.append("   last event:    -")
    else:
        subject = last.get("version") or last.get("job_id") or ""
        lines.append(f"   last event:    {last.get('event')} {subject} at {last.get('at')}")
    if report.audit_bad_lines:
        lines.append(f"   ⚠️ unparseable audit lines: {list(report.audit_bad_lines)}")
    lines.append(f"   pending jobs:  {len(report.pending_jobs)}")
    for job in report.pending_jobs:
        flags = " STALE" if job["stale"] else ""
        flags += " FORCED" if job["forced"] else ""
        if job.get("recommendation") != RECOMMEND_APPROVE:
            flags += f" {job.get('recommendation')}"
        lines.append(
            f"     {job['job_id']}  risk {job['risk_score']:.1%} ({job['risk_category']}){flags}"
        )
    return "\n".join(lines)


def _render_history(report: deploy.HistoryReport, paths: Paths) -> str:
    if not report.events and not report.versions:
        return f"No audit events yet ({paths.audit_log})."
    lines = [f"📜 Calibration history ({paths.audit_log})", ""]
    lines.append(f"   {'at':<26} {'event':<17} {'version':<22} {'previous':<22} by")
    if not report.events:
        lines.append(f"   (no audit events yet in {paths.audit_log})")
    for event in report.events:
        kind = event.get("event", "?")
        if kind == "recovered":
            kind = f"recovered({event.get('as', '?')})"
        version = event.get("version") or event.get("job_id") or "-"
        by = event.get("approved_by") or event.get("by") or "-"
        extra = f"  reason: {event['reason']}" if event.get("reason") else ""
        extra += f"  override: {event['override']}" if event.get("override") else ""
        lines.append(
            f"   {event.get('at', '-')!s:<26} {kind:<17} {version!s:<22} "
            f"{event.get('previous_version') or '-'!s:<22} {by}{extra}"
        )
    lines += [
        "",
        f"   {'version':<22} {'times live':>10}  {'first live':<26} {'last live':<26} deployed by",
    ]
    for v in report.versions:
        mark = "  ← live" if v.live_now else ""
        mark += "" if v.archived else "  (NOT ARCHIVED)"
        lines.append(
            f"   {v.version:<22} {v.times_made_live:>10}  {v.first_live_at or '-'!s:<26} "
            f"{v.last_live_at or '-'!s:<26} {v.deployed_by or '-'}{mark}"
        )
        if v.legacy or v.based_on_trades is not None:
            trades = "-" if v.based_on_trades is None else v.based_on_trades
            kind = "legacy config of the old deployer, " if v.legacy else ""
            lines.append(
                f"   {'':<22} {kind}created {v.created_at or '-'}, based on {trades} trades"
            )
    if report.bad_lines:
        lines.append(f"   ⚠️ unparseable audit lines: {list(report.bad_lines)}")
    return "\n".join(lines)


def _render_diff(result: deploy.ConfigDiff) -> str:
    lines = [f"🔍 A = {result.a_label}   B = {result.b_label}"]
    if result.identical:
        lines.append("   no differences in maps, weights, flags or other fields")
    lines += ["", "   enabled                  A      B"]
    for section, on_a, on_b in result.enabled:
        mark = "     ← differs" if on_a != on_b else ""
        lines.append(f"   {section:<24} {_onoff(on_a):<6} {_onoff(on_b)}{mark}")
    lines += ["", "   confidence   A        B        Δ"]
    for x, a, b in result.grid:
        lines.append(f"   {x:.2f}         {a:.3f}    {b:.3f}    {b - a:+.3f}")
    lines += ["", "   weights      A        B        Δ"]
    for model, wa, wb in result.weights:
        delta = "" if wa is None or wb is None else f"{wb - wa:+.3f}"
        lines.append(f"   {model:<12} {_fmt(wa):<8} {_fmt(wb):<8} {delta}")
    if result.other:
        lines += ["", "   other differences"]
        lines.extend(f"   {field}: {a!r} → {b!r}" for field, a, b in result.other)
    return "\n".join(lines)


def _onoff(flag: bool) -> str:
    return "on" if flag else "off"
