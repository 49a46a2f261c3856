"""Approve (deploy a reviewed job, or finish an interrupted approve) and abort a job."""

from __future__ import annotations

import hashlib
import logging
import os
from typing import TYPE_CHECKING, Any

import attrs

from calibration_core.config import override_reason_problem
from calibration_core.deploy.archive import (
    _MAX_NAME_CHARS,
    _MAX_REASON_CHARS,
    _check_layout,
    _require_config_dir,
    _require_text,
    _require_version_name,
    read_live,
)
from calibration_core.deploy.audit import _append_audit, _open_audit, read_audit
from calibration_core.deploy.files import _os_error
from calibration_core.deploy.jobstore import (
    STATUS_ABORTED,
    STATUS_DEPLOYED,
    STATUS_PENDING,
    STATUS_REJECTED,
    JobRecord,
    JobStore,
)
from calibration_core.deploy.lock import DEFAULT_LOCK_TIMEOUT, _checkpoint, _deploy_lock
from calibration_core.deploy.session import (
    DeployResult,
    _as_clock,
    _backup_live,
    _locked_session,
    _make_live,
    _Session,
    _touch_sentinel,
)
from calibration_core.exceptions import (
    CalibrationError,
    DeploymentError,
    InvalidInputError,
    JobRefusedError,
)
from calibration_core.times import iso_utc

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from pathlib import Path

    from calibration_core.deploy.archive import LiveConfig
    from calibration_core.deploy.audit import AuditTrail
    from calibration_core.settings import Paths

__all__ = [
    "HIGH_RISK_SCORE",
    "AbortResult",
    "ApprovalPlan",
    "abort",
    "approve",
    "plan_approval",
    "require_override_reason",
]

logger = logging.getLogger("calibration_core.deploy")

HIGH_RISK_SCORE = 0.40
"""Risk scores above this are "high" in the design (0.41+) and never deployable."""

_NOTICE_LOCK_TIMEOUT = 5.0  # seconds to wait for the lock to record the cadence notice


@attrs.frozen
class AbortResult:
    """An aborted job: where its record went and whether the audit trail got a line."""

    job_id: str
    at: str
    by: str
    reason: str | None
    record_path: str
    audited: bool
    warnings: tuple[str, ...] = ()


@attrs.frozen
class ApprovalPlan:
    """A job that passed every refusal check, with the live config it would replace.

    ``resumes`` is True when the job's version is already live because an
    earlier approve was interrupted; approving it again only finishes the job.
    """

    job: JobRecord
    live: LiveConfig
    resumes: bool


# --------------------------------------------------------------------------- refusals


class _AlreadyDeployedError(JobRefusedError):
    """A job whose version was live once although its record does not say deployed."""


def _check_deployable(job: JobRecord) -> None:
    refusals = {
        STATUS_REJECTED: "was rejected by its validation; a rejected proposal is never deployed",
        STATUS_ABORTED: "was aborted",
        STATUS_DEPLOYED: "is already deployed (use `rollback VERSION` to make it live again)",
    }
    if job.status in refusals:
        raise JobRefusedError(f"job {job.job_id} {refusals[job.status]}")
    if job.status != STATUS_PENDING:
        raise JobRefusedError(f"job {job.job_id} has status {job.status!r}, not pending approval")
    if job.forced:
        raise JobRefusedError(
            f"job {job.job_id} was made with `run --force` (testing only) and is never deployable"
        )
    if not job.validation_passed:
        raise JobRefusedError(f"job {job.job_id} failed validation")
    # The category is authoritative; the score check guards records missing it (float slack).
    if job.risk_category.lower() == "high" or job.risk_score > HIGH_RISK_SCORE + 1e-9:
        raise JobRefusedError(
            f"job {job.job_id} has high risk ({job.risk_score:.1%}, {job.risk_category}); "
            "deployment is blocked"
        )


def require_override_reason(override: object) -> str:
    """Return a valid ``approve --override`` reason, or raise.

    Raises
    ------
    InvalidInputError
        When it is shorter than ``MIN_OVERRIDE_CHARS`` (10) characters, longer
        than 500, or holds control or bidi/format characters.
    """
    problem = override_reason_problem(override)
    if problem:
        raise InvalidInputError(f"--override {problem}")
    return str(override)


def _check_recommendation(job: JobRecord, override: str | None) -> None:
    # The report's verdict binds: DO NOT APPLY (or an unknown verdict) needs a person's
    # written override; an override of an APPROVE CANDIDATE would record a false story.
    reasons = job.do_not_apply_reasons
    if reasons and override is None:
        verdict = (
            "its report says DO NOT APPLY"
            if job.recommendation is not None
            else "its recommendation is unknown, treated as DO NOT APPLY"
        )
        raise JobRefusedError(
            f"job {job.job_id}: {verdict}: {'; '.join(reasons)} "
            '(to deploy it anyway, approve with --override "<why>")'
        )
    if not reasons and override is not None:
        raise JobRefusedError(
            f"job {job.job_id} is an APPROVE CANDIDATE: --override is only for a job whose "
            "report says DO NOT APPLY; approve it without --override"
        )


def _is_stale(job: JobRecord, live: LiveConfig | None) -> bool:
    # Both the version and the bytes: a hand edit that kept the version still invalidates.
    return live is None or job.base_version != live.version or job.base_config_sha256 != live.sha256


def _approval_decision(
    job: JobRecord, live: LiveConfig, trail: AuditTrail, override: str | None = None
) -> bool:
    """Refuse what may not be approved; return True when the job only needs finishing.

    Forced, rejected, failed, high-risk, already deployed and stale jobs are
    refused whatever the override; a DO NOT APPLY job only without one.
    """
    _check_deployable(job)
    if live.version == job.job_id:
        return True
    if job.job_id in trail.ever_live():
        raise _AlreadyDeployedError(
            f"job {job.job_id} was already deployed (see `history`); "
            f"use `rollback {job.job_id}` to make it live again"
        )
    if _is_stale(job, live):
        raise JobRefusedError(
            f"job {job.job_id} is stale: it was computed against "
            f"{job.base_version or 'no config'} but the live config is now {live.describe()}"
            f"{'' if job.base_version != live.version else ' (its content changed)'}; "
            "run a new calibration"
        )
    _check_recommendation(job, override)
    return False


# --------------------------------------------------------------------------- approve


def plan_approval(paths: Paths, job_id: str, *, override: str | None = None) -> ApprovalPlan:
    """Check that ``job_id`` may be approved, without changing anything.

    Parameters
    ----------
    paths : Paths
        Config and jobs locations.
    job_id : str
        The job to approve.
    override : str, optional
        Why a person deploys a job whose report says DO NOT APPLY.

    Returns
    -------
    ApprovalPlan
        The job and the live config it would replace (for the summary).

    Raises
    ------
    JobRefusedError
        Invalid or unknown id; rejected, aborted, forced, failed, high-risk,
        already deployed or stale job; a DO NOT APPLY job without ``override``
        (or an APPROVE CANDIDATE with one).
    InvalidInputError
        An override reason that is too short or holds control characters.
    DeploymentError
        The config directory does not exist.
    """
    _require_version_name(job_id, "job id")
    if override is not None:
        require_override_reason(override)
    _require_config_dir(paths)
    _check_layout(paths)
    job = JobStore(paths.jobs_dir).load(job_id)
    live = read_live(paths)
    resumes = _approval_decision(job, live, read_audit(paths), override)
    return ApprovalPlan(job=job, live=live, resumes=resumes)


def approve(
    paths: Paths,
    job_id: str,
    *,
    approved_by: str,
    now: Callable[[], datetime] | datetime,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    override: str | None = None,
) -> DeployResult:
    """Deploy a reviewed job's proposed config as the new live config.

    Parameters
    ----------
    paths : Paths
        Config, archive and jobs locations.
    job_id : str
        The pending job; it becomes the new config's version.
    approved_by : str
        The person approving (1-128 printable characters).
    now : callable or datetime
        Clock (``ctx.now``) or a fixed moment.
    lock_timeout : float
        Seconds to wait for another approve/rollback.
    override : str, optional
        Why a person deploys a job whose report says DO NOT APPLY (at least
        10 characters, no control or bidi characters). Recorded in the job
        record, the audit record and the config's ``override_reason``. It
        never lifts the refusal of a forced, rejected, failed or high-risk job.

    Returns
    -------
    DeployResult
        ``resumed`` is True when the job was already live because an earlier
        approve was killed after ``os.replace``; this call then only finished it.

    Raises
    ------
    JobRefusedError
        See :func:`plan_approval`; everything is checked again under the lock.
    DeploymentError
        Missing config directory, lock timeout, unwritable or full disk; the
        live config is then untouched.
    ConfigRejectedError
        The proposal does not validate.

    Notes
    -----
    Under the lock: back up the live config, archive the new version, replace
    the live file atomically, touch the reload sentinel, append the audit
    record, mark the job deployed. The new version is archived *before* it goes
    live (the design archives after) so that "the archive holds every version
    that was ever live" holds even when the process is killed between steps.
    """
    _require_version_name(job_id, "job id")
    _require_text(approved_by, "approved_by", _MAX_NAME_CHARS)
    if override is not None:
        require_override_reason(override)
    clock = _as_clock(now)
    store = JobStore(paths.jobs_dir)
    _require_config_dir(paths)
    _check_deployable(store.load(job_id))  # fail fast before waiting for the lock
    warnings: list[str] = []
    with _locked_session(paths, timeout=lock_timeout, clock=clock, warnings=warnings) as session:
        job = store.load(job_id)  # again: another process may have changed it meanwhile
        try:
            resumes = _approval_decision(job, session.live, session.trail, override)
        except _AlreadyDeployedError:
            _mark_deployed(
                store, job, at=clock(), by=approved_by, note="repaired record", warn=warnings
            )
            raise
        result = (
            _resume_approval(session, store, job, clock(), approved_by)
            if resumes
            else _deploy(session, store, job, clock(), approved_by, override=override)
        )
    cadence = _notify_cadence(
        paths,
        {
            "event": "calibration_deployed",
            "version": result.version,
            "previous_version": result.previous_version,
            "job_id": job_id,
            "approved_by": result.by,
            "at": result.at,
            **({} if result.override is None else {"override": result.override}),
        },
    )
    return attrs.evolve(result, warnings=tuple(warnings), cadence=cadence)


def _deploy(
    session: _Session,
    store: JobStore,
    job: JobRecord,
    at: datetime,
    approved_by: str,
    *,
    override: str | None = None,
) -> DeployResult:
    new = attrs.evolve(
        job.proposed_config,
        version=job.job_id,
        source_job=job.job_id,
        approved_at=iso_utc(at),
        approved_by=approved_by,
        data_hash=job.proposed_config.data_hash or job.data_hash,
        override_reason=override,
    )
    data = new.to_json().encode("utf-8")  # validates by round trip before anything is written
    previous = session.live.version
    result = DeployResult(
        event="deploy",
        version=job.job_id,
        previous_version=previous,
        at=iso_utc(at),
        by=approved_by,
        config_sha256=hashlib.sha256(data).hexdigest(),
        changed=True,
        job_id=job.job_id,
        override=override,
    )
    record = {
        "event": "deploy",
        "version": job.job_id,
        "previous_version": previous,
        "job_id": job.job_id,
        "approved_by": approved_by,
        "at": result.at,
        "config_sha256": result.config_sha256,
        **({} if override is None else {"override": override}),
    }
    _make_live(session, data, record, at=at, archive_first=True)
    _mark_deployed(
        store, job, at=at, by=approved_by, note=None, warn=session.warnings, override=override
    )
    _checkpoint("after_job_mark")
    logger.info("deployed %s (previous: %s)", job.job_id, previous)
    return result


def _resume_approval(
    session: _Session, store: JobStore, job: JobRecord, at: datetime, approved_by: str
) -> DeployResult:
    # The job's config went live but the process died before the job was marked
    # (the recovery record, or the deploy record, is already in the trail).
    live = session.live
    assert live.config is not None  # noqa: S101 - live.version == job id implies parsed
    _backup_live(session, at)  # archives it if the archive copy is missing
    _touch_sentinel(session, "deploy", job.job_id, at)
    by = live.config.approved_by or approved_by
    _mark_deployed(
        store,
        job,
        at=at,
        by=by,
        note="finished an interrupted approve",
        warn=session.warnings,
        override=live.config.override_reason,
    )
    made_live = [r for r in session.trail.live_events() if r["version"] == job.job_id]
    previous = made_live[-1].get("previous_version") if made_live else None
    return DeployResult(
        event="deploy",
        version=job.job_id,
        previous_version=previous if isinstance(previous, str) else None,
        at=live.config.approved_at or iso_utc(at),
        by=by,
        config_sha256=live.sha256 or "",
        changed=False,
        job_id=job.job_id,
        resumed=True,
        override=live.config.override_reason,
    )


def _mark_deployed(
    store: JobStore,
    job: JobRecord,
    *,
    at: datetime,
    by: str,
    note: str | None,
    warn: list[str],
    override: str | None = None,
) -> None:
    if override is not None:
        job = attrs.evolve(job, override={"reason": override, "by": by, "at": iso_utc(at)})
        note = f"deployed against its report's DO NOT APPLY; override: {override}"
    try:
        store.save(job.with_status(STATUS_DEPLOYED, at=at, by=by, note=note))
    except (OSError, CalibrationError) as exc:
        message = (
            f"{job.job_id} is live but its job record could not be marked deployed ({exc}); "
            "run approve again to finish"
        )
        logger.warning("%s", message)
        warn.append(message)


def _notify_cadence(paths: Paths, payload: dict[str, Any]) -> tuple[bool, str] | None:
    if not paths.cadence_api:
        return None
    # Imported here: only a deploy with a configured API pays for the HTTP client.
    from calibration_core.sources.cadence import notify_deployment  # noqa: PLC0415

    version = str(payload["version"])
    try:
        ok, message = notify_deployment(paths.cadence_api, version, timeout=2.0)
    except Exception as exc:  # noqa: BLE001 - best effort: a notification never undoes a deploy
        ok, message = False, f"notification failed: {exc!r}"
    if not ok:
        logger.warning("Learning Cadence not notified: %s", message)
    record = {
        "event": "cadence_notice",
        "version": version,
        "delivered": ok,
        "message": message,
        "at": payload.get("at"),
    }
    try:  # under the lock again: another approve/rollback may be appending meanwhile
        with _deploy_lock(paths, _NOTICE_LOCK_TIMEOUT):
            fd = _open_audit(paths)
            try:
                _append_audit(fd, record, paths.audit_log)
            finally:
                os.close(fd)
    except CalibrationError as exc:
        logger.warning("the cadence notice for %s is not in the audit trail: %s", version, exc)
        message += f"; the audit trail does not record this notice ({exc})"
    return (ok, message)


# --------------------------------------------------------------------------- abort


def _archive_job(store: JobStore, record: JobRecord) -> Path:
    # Nothing is deployed by an abort; a failure here leaves the job pending: run abort again.
    try:
        return store.archive(record)
    except OSError as exc:
        error = _os_error(exc, f"archive job {record.job_id} in", store.archived)
        raise DeploymentError(f"{error}; the job is still pending, run abort again") from None


def _check_abortable(job: JobRecord) -> None:
    if job.status == STATUS_DEPLOYED:
        raise JobRefusedError(
            f"job {job.job_id} is deployed; use `rollback` to leave it, abort cannot"
        )
    if job.status == STATUS_ABORTED:
        raise JobRefusedError(f"job {job.job_id} was already aborted")


def abort(
    paths: Paths,
    job_id: str,
    *,
    by: str,
    now: Callable[[], datetime] | datetime,
    reason: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> AbortResult:
    """Archive a pending (or rejected) job without deploying anything.

    Parameters
    ----------
    paths : Paths
        Config and jobs locations.
    job_id : str
        The job to abort.
    by : str
        Who aborts it.
    now : callable or datetime
        Clock or fixed moment.
    reason : str, optional
        Free text for the audit trail.
    lock_timeout : float
        Seconds to wait for the deploy lock.

    Returns
    -------
    AbortResult

    Raises
    ------
    JobRefusedError
        Invalid or unknown id, deployed or already aborted job.

    Notes
    -----
    The audit record is appended first and the job archived second, so a kill
    in between leaves a record (the re-run aborts the job). When the config
    directory is missing the job is still aborted, without lock or audit
    record, and a warning says so: aborting deploys nothing.
    """
    _require_version_name(job_id, "job id")
    _require_text(by, "by", _MAX_NAME_CHARS)
    if reason is not None:
        _require_text(reason, "reason", _MAX_REASON_CHARS)
    clock = _as_clock(now)
    store = JobStore(paths.jobs_dir)
    _check_abortable(store.load(job_id))
    warnings: list[str] = []
    if not paths.config_dir.is_dir():
        at = clock()
        message = f"config directory {paths.config_dir} is missing: job aborted without audit"
        logger.warning("%s", message)
        warnings.append(message)
        path = _archive_job(store, store.load(job_id).with_status(STATUS_ABORTED, at=at, by=by))
        return AbortResult(
            job_id, iso_utc(at), by, reason, str(path), audited=False, warnings=tuple(warnings)
        )
    with _locked_session(paths, timeout=lock_timeout, clock=clock, warnings=warnings) as session:
        job = store.load(job_id)
        _check_abortable(job)
        at = clock()
        session.append(
            {"event": "abort", "job_id": job_id, "by": by, "reason": reason, "at": iso_utc(at)}
        )
        path = _archive_job(store, job.with_status(STATUS_ABORTED, at=at, by=by, note=reason))
    return AbortResult(
        job_id, iso_utc(at), by, reason, str(path), audited=True, warnings=tuple(warnings)
    )
