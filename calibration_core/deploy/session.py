"""The locked session approve, abort and rollback run in, and the steps that make a version live."""

# Every step that writes is here, in the order the crash tests kill it in: back up
# the live bytes, archive the new version, replace the live file, touch the reload
# sentinel, append the audit record. Once the live file is replaced a failure is a
# warning, never an error: the new version IS live.

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from calibration_core.deploy.archive import (
    _archive_path,
    _claim_layout,
    _require_config_dir,
    read_live,
)
from calibration_core.deploy.audit import (
    _append_audit,
    _open_audit,
    _recovery_record,
    read_audit,
)
from calibration_core.deploy.files import _os_error, _read_regular, _unique_path, _write
from calibration_core.deploy.lock import _checkpoint, _deploy_lock
from calibration_core.exceptions import CalibrationError, DeploymentError
from calibration_core.fsio import atomic_write_bytes, fsync_directory, remove_stale_temp_files
from calibration_core.times import compact_stamp, iso_utc

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from calibration_core.deploy.archive import LiveConfig
    from calibration_core.deploy.audit import AuditTrail
    from calibration_core.settings import Paths

__all__ = ["DeployResult"]

logger = logging.getLogger("calibration_core.deploy")


@attrs.frozen
class DeployResult:
    """What approve or rollback did; ``changed`` is False when the version was already live.

    A failure after the new config replaced the live one (directory flush, reload
    sentinel, audit append, job record) is not an error: the version IS live, so it
    is reported in ``warnings`` (saying so) and the next approve/rollback completes
    the audit trail with a ``recovered`` record.
    """

    event: str
    version: str
    previous_version: str | None
    at: str
    by: str
    config_sha256: str
    changed: bool
    job_id: str | None = None
    reason: str | None = None
    resumed: bool = False
    warnings: tuple[str, ...] = ()
    cadence: tuple[bool, str] | None = None
    override: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready result (``monitor --auto-rollback`` embeds it too)."""
        data = attrs.asdict(self)
        data["warnings"] = list(self.warnings)
        data["cadence"] = (
            None if self.cadence is None else {"ok": self.cadence[0], "message": self.cadence[1]}
        )
        return data


def _as_clock(now: Callable[[], datetime] | datetime) -> Callable[[], datetime]:
    if isinstance(now, datetime):
        return lambda: now
    return now


@attrs.define
class _Session:
    paths: Paths
    audit_fd: int
    trail: AuditTrail
    live: LiveConfig
    warnings: list[str]

    def warn(self, message: str) -> None:
        logger.warning("%s", message)
        self.warnings.append(message)

    def append(self, record: dict[str, Any]) -> None:
        _append_audit(self.audit_fd, record, self.paths.audit_log)
        self.trail = self.trail.with_record(record)


def _ensure_archive_dir(paths: Paths) -> None:
    archive = paths.archive_dir
    try:
        info = os.lstat(archive)
    except FileNotFoundError:
        try:
            archive.mkdir(mode=0o755)
            fsync_directory(paths.config_dir)
        except OSError as exc:
            raise _os_error(exc, "create the archive directory", archive) from None
        return
    if not stat.S_ISDIR(info.st_mode):
        raise DeploymentError(f"refusing archive directory {archive}: a symlink or not a directory")


@contextlib.contextmanager
def _locked_session(
    paths: Paths, *, timeout: float, clock: Callable[[], datetime], warnings: list[str]
) -> Iterator[_Session]:
    _require_config_dir(paths)
    with _deploy_lock(paths, timeout):
        _checkpoint("after_lock")
        _ensure_archive_dir(paths)
        _claim_layout(paths)
        # Holding the lock, no live writer owns a temp file: they are a killed writer's leftovers.
        for directory in (paths.config_dir, paths.archive_dir):
            try:
                removed = remove_stale_temp_files(directory)
            except OSError as exc:
                raise _os_error(exc, "clean stale temp files in", directory) from None
            for path in removed:
                logger.info("removed stale temp file %s", path)
        fd = _open_audit(paths)
        try:
            session = _Session(paths, fd, read_audit(paths), read_live(paths), warnings)
            record = _recovery_record(session.trail, session.live, clock())
            if record is not None:
                session.warn(
                    f"the old deployer's legacy config {record['version']} is live without an "
                    f"audit record; recorded it as recovered ({record['as']}) and archived its "
                    "bytes unchanged"
                    if record.get("legacy")
                    else f"live version {record['version']} had no audit record; "
                    f"recorded it as recovered ({record['as']})"
                )
                session.append(record)
                if record.get("legacy"):
                    # Its bytes exist nowhere else: archive them now, whatever the job.
                    _backup_live(session, clock())
            yield session
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- the steps


def _backup_live(session: _Session, at: datetime) -> None:
    # Whatever is live is about to be replaced: make sure its exact bytes survive.
    live, paths = session.live, session.paths
    if live.data is None:
        return
    if live.version is None:
        path = _unique_path(paths.archive_dir, f"corrupt_{compact_stamp(at)}", ".json.bak")
        _write(path, live.data)
        session.warn(f"live config is unparseable ({live.error}); its bytes were saved to {path}")
        return
    # A legacy config is archived as it is, byte for byte, under its own version.
    version = live.version
    path = _archive_path(paths, version)
    archived = _read_regular(path, what="archive entry")
    if archived is None:
        _write(path, live.data)
    elif archived != live.data:
        backup = _unique_path(paths.archive_dir, f"{version}_backup_{compact_stamp(at)}", ".json")
        _write(backup, live.data)
        session.warn(
            f"live config {version} differs from its archived copy (edited by hand?); "
            f"kept both, the live bytes as {backup.name}"
        )


def _archive_new(session: _Session, version: str, data: bytes) -> None:
    path = _archive_path(session.paths, version)
    existing = _read_regular(path, what="archive entry")
    if existing == data:
        return
    if existing is not None:
        # Only reached for a version that was never live (checked by the caller): the
        # leftover of an approve killed before os.replace, differing in approved_at/by.
        logger.info("replacing %s, left by an approve interrupted before it went live", path)
    _write(path, data)


def _write_live(session: _Session, data: bytes, version: str) -> None:
    # Replace the live config. fsio fsyncs the directory AFTER the rename: when that
    # (or anything after the rename) fails, the new version is live and saying
    # "nothing changed" would be a lie, so it becomes a warning instead.
    path = session.paths.config
    try:
        atomic_write_bytes(
            path, data, mode=0o644, before_replace=lambda: _checkpoint("after_tempfile_written")
        )
    except OSError as exc:
        try:
            landed = path.read_bytes() == data
        except OSError:
            landed = False
        if not landed:
            raise _os_error(exc, "write", path) from None
        session.warn(
            f"{version} IS LIVE, but the directory entry could not be flushed to disk "
            f"({exc.strerror or exc}); a power cut before the next sync could revert it"
        )


def _touch_sentinel(session: _Session, event: str, version: str, at: datetime) -> None:
    # The loaders also poll, so a failed touch only delays the reload: warn, carry on.
    payload = json.dumps({"event": event, "version": version, "at": iso_utc(at)}) + "\n"
    try:
        atomic_write_bytes(session.paths.sentinel, payload.encode("utf-8"), mode=0o644)
    except OSError as exc:
        session.warn(f"{version} is live but the reload sentinel could not be touched ({exc})")


def _make_live(
    session: _Session,
    data: bytes,
    record: dict[str, Any],
    *,
    at: datetime,
    archive_first: bool,
) -> None:
    """Replace the live config with ``data`` and append ``record`` (its event and version)."""
    event, version = record["event"], record["version"]
    _backup_live(session, at)
    _checkpoint("after_backup")
    if archive_first:
        # Archived BEFORE it goes live (the design archives after): a kill between the two
        # steps must still leave every version that was ever live in the archive.
        _archive_new(session, version, data)
        _checkpoint("after_archive_new")
    _write_live(session, data, version)
    _checkpoint("after_replace")
    _touch_sentinel(session, event, version, at)
    _checkpoint("after_sentinel")
    # The new version is already live: a failed append must not read as "nothing changed".
    try:
        session.append(record)
    except CalibrationError as exc:
        session.warn(
            f"{version} IS LIVE, but its audit record could not be written ({exc}); "
            "the next approve/rollback will record it (as recovered)"
        )
    _checkpoint("after_audit")
