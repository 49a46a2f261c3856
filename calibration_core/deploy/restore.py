"""Rollback: make a version that was live before live again, from its archived bytes."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import attrs

from calibration_core.config import CalibrationConfig, LegacyConfig
from calibration_core.deploy.archive import (
    _MAX_NAME_CHARS,
    _MAX_REASON_CHARS,
    NO_LIVE_CONFIG,
    _archive_path,
    _check_layout,
    _parse_archived,
    _require_config_dir,
    _require_text,
    _require_version_name,
    read_live,
)
from calibration_core.deploy.audit import _recovery_record, previous_version_of, read_audit
from calibration_core.deploy.files import _read_regular
from calibration_core.deploy.lock import DEFAULT_LOCK_TIMEOUT
from calibration_core.deploy.session import DeployResult, _as_clock, _locked_session, _make_live
from calibration_core.exceptions import JobRefusedError
from calibration_core.times import iso_utc

if TYPE_CHECKING:
    from collections.abc import Callable

    from calibration_core.deploy.archive import LiveConfig
    from calibration_core.deploy.audit import AuditTrail
    from calibration_core.settings import Paths

__all__ = ["RollbackPlan", "plan_rollback", "rollback"]

logger = logging.getLogger("calibration_core.deploy")


@attrs.frozen
class RollbackPlan:
    """The version a rollback would restore; ``already_live`` when it would change nothing.

    ``current_sha256`` is the sha256 of the live bytes the plan saw, or
    :data:`NO_LIVE_CONFIG` when there was no live file; pass it to
    :func:`rollback` as ``expected_sha256`` so that what runs is what was planned.
    """

    current: str | None
    target: str
    target_config: CalibrationConfig | LegacyConfig
    already_live: bool
    current_sha256: str = NO_LIVE_CONFIG


def _rollback_target(
    paths: Paths, trail: AuditTrail, live: LiveConfig, version: str | None
) -> tuple[str, bytes, CalibrationConfig | LegacyConfig]:
    if version is None:
        if live.version is None:
            raise JobRefusedError(
                f"no earlier version to roll back to: the live config is {live.describe()}; "
                "name one (see `history`)"
            )
        target = previous_version_of(trail.records, live.version)
        if target is None:
            raise JobRefusedError(
                f"no earlier version to roll back to from {live.version}; "
                "name one explicitly (see `history`)"
            )
    else:
        target = _require_version_name(version, "version")
    path = _archive_path(paths, target)
    data = _read_regular(path, what="archive entry")
    if data is None:
        raise JobRefusedError(
            f"unknown version {target}: no {path}; "
            "`python -m calibration_core history` lists every version that was live"
        )
    if target not in trail.ever_live():
        # An approve killed after archiving its new version but before os.replace leaves
        # an entry for a version nobody ever ran: restoring it would deploy an unapproved
        # proposal under the "rollback" name. Approving the job again finishes it.
        raise JobRefusedError(
            f"version {target} was never live (the audit trail has no deploy or rollback "
            f"of it; its archive entry is left by an interrupted approve): approve job "
            f"{target} instead; `history` lists every version that was live"
        )
    config = _parse_archived(data, target, path.name, untouched="live config untouched")
    if isinstance(config, LegacyConfig) and config.refusal is not None:
        # The loader would refuse it and keep serving what it has: status would then
        # name a version that nobody serves. Restoring it is refused instead.
        raise JobRefusedError(
            f"version {target} is a legacy config that the loader refuses "
            f"({config.refusal}); rolling back to it would serve nothing, live config untouched"
        )
    return target, data, config


def plan_rollback(paths: Paths, version: str | None = None) -> RollbackPlan:
    """Work out what ``rollback`` would restore, without changing anything.

    Parameters
    ----------
    paths : Paths
        Config and archive locations.
    version : str, optional
        The version to restore; None means the one the live version replaced.

    Returns
    -------
    RollbackPlan

    Raises
    ------
    JobRefusedError
        Invalid name, unknown version, symlinked entry, no earlier version.
    ConfigRejectedError
        The archived copy does not parse and validate.
    DeploymentError
        The config directory does not exist.
    """
    if version is not None:
        _require_version_name(version, "version")
    _require_config_dir(paths)
    _check_layout(paths)
    live = read_live(paths)
    trail = read_audit(paths)
    # Plan as the locked run will see it: with the recovery record it would add.
    record = _recovery_record(trail, live, datetime.now(UTC))
    if record is not None:
        trail = trail.with_record(record)
    target, data, config = _rollback_target(paths, trail, live, version)
    return RollbackPlan(
        current=live.version,
        target=target,
        target_config=config,
        already_live=data == live.data,
        current_sha256=live.sha256 or NO_LIVE_CONFIG,
    )


def rollback(
    paths: Paths,
    *,
    version: str | None = None,
    by: str,
    reason: str | None,
    now: Callable[[], datetime] | datetime,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    expected_current: str | None = None,
    expected_sha256: str | None = None,
) -> DeployResult:
    """Make an archived version live again.

    Parameters
    ----------
    paths : Paths
        Config and archive locations.
    version : str, optional
        The version to restore. None restores the version the live one
        replaced (:func:`previous_version_of`): A → B → C, rollback gives B,
        again gives A, then refuses.
    by : str
        Who rolls back, e.g. a login name or "monitor".
    reason : str or None
        Free text for the audit trail, e.g. "rolled back by monitor".
    now : callable or datetime
        Clock or fixed moment.
    lock_timeout : float
        Seconds to wait for another approve/rollback.
    expected_current : str, optional
        Roll back only if this version is still live when the lock is held; an
        automated caller (the monitor) passes the version it judged, so a deploy
        that lands between its verdict and the lock is never undone by mistake.
    expected_sha256 : str, optional
        Roll back only if the live file's sha256 still equals this when the lock
        is held (:data:`NO_LIVE_CONFIG`: only if there is still no live file).
        Unlike ``expected_current`` it also guards a live file that is missing
        or unparseable; the CLI passes ``RollbackPlan.current_sha256``.

    Returns
    -------
    DeployResult
        ``changed`` is False when the target's archived bytes were already
        live (nothing written, no audit record).

    Raises
    ------
    JobRefusedError
        Invalid name, unknown version, planted symlink, no earlier version.
    ConfigRejectedError
        The archived copy is corrupt; the live config is untouched.
    DeploymentError
        Missing config directory, lock timeout, unwritable or full disk.
    """
    if version is not None:
        _require_version_name(version, "version")
    _require_text(by, "by", _MAX_NAME_CHARS)
    if reason is not None:
        _require_text(reason, "reason", _MAX_REASON_CHARS)
    clock = _as_clock(now)
    warnings: list[str] = []
    with _locked_session(paths, timeout=lock_timeout, clock=clock, warnings=warnings) as session:
        if expected_current is not None and session.live.version != expected_current:
            raise JobRefusedError(
                f"the live version is {session.live.version or 'none'}, not {expected_current}: "
                "it changed since the caller looked; nothing was rolled back"
            )
        seen = session.live.sha256 or NO_LIVE_CONFIG
        if expected_sha256 is not None and seen != expected_sha256:
            raise JobRefusedError(
                f"the live config changed since the rollback was planned (now "
                f"{session.live.describe()}); nothing was rolled back, look again and retry"
            )
        target, data, _config = _rollback_target(paths, session.trail, session.live, version)
        previous = session.live.version
        at = clock()
        result = DeployResult(
            event="rollback",
            version=target,
            previous_version=previous,
            at=iso_utc(at),
            by=by,
            config_sha256=hashlib.sha256(data).hexdigest(),
            changed=False,
            reason=reason,
        )
        if data == session.live.data:
            return attrs.evolve(result, warnings=tuple(warnings))
        record = {
            "event": "rollback",
            "version": target,
            "previous_version": previous,
            "by": by,
            "reason": reason,
            "at": result.at,
            "config_sha256": result.config_sha256,
        }
        _make_live(session, data, record, at=at, archive_first=False)
    logger.info("rolled back to %s (from %s)", target, previous)
    return attrs.evolve(result, changed=True, warnings=tuple(warnings))
