"""The audit trail: every deploy, rollback, abort and recovery, one JSON line each."""

# The decisions that need no I/O (which version is "previous", what a recovery
# record says) are small pure functions here, tested without a disk.

from __future__ import annotations

import json
import os
import stat
from typing import TYPE_CHECKING, Any

import attrs

from calibration_core.config import CalibrationConfig, LegacyConfig
from calibration_core.deploy.files import _os_error, _read_file
from calibration_core.exceptions import DeploymentError
from calibration_core.fsio import fsync_directory
from calibration_core.times import iso_utc

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime
    from pathlib import Path

    from calibration_core.deploy.archive import LiveConfig
    from calibration_core.settings import Paths

__all__ = ["AuditTrail", "previous_version_of", "read_audit"]

_LIVE_EVENTS = frozenset({"deploy", "rollback", "recovered"})


@attrs.frozen
class AuditTrail:
    """The parsed audit trail: records in file order, and lines that did not parse."""

    records: tuple[dict[str, Any], ...] = ()
    bad_lines: tuple[int, ...] = ()

    def live_events(self) -> tuple[dict[str, Any], ...]:
        """Return the records that made a version live (deploy, rollback, recovered)."""
        return tuple(r for r in self.records if _is_live_event(r))

    @property
    def last_live_version(self) -> str | None:
        """Version named by the most recent live-making record, or None."""
        events = self.live_events()
        return events[-1]["version"] if events else None

    def ever_live(self) -> frozenset[str]:
        """Every version the trail says was live at some point."""
        return frozenset(r["version"] for r in self.live_events())

    def with_record(self, record: dict[str, Any]) -> AuditTrail:
        """Return the trail with ``record`` appended."""
        return attrs.evolve(self, records=(*self.records, record))


def _is_live_event(record: Mapping[str, Any]) -> bool:
    return record.get("event") in _LIVE_EVENTS and isinstance(record.get("version"), str)


def previous_version_of(records: Iterable[Mapping[str, Any]], current: str | None) -> str | None:
    """Return the version that ``current`` replaced when it was deployed.

    Parameters
    ----------
    records : iterable of mapping
        Audit records in file order.
    current : str or None
        The live version.

    Returns
    -------
    str or None
        The ``previous_version`` of the most recent deploy (or recovered
        deploy) that made ``current`` live; None when there is none.

    Notes
    -----
    Rollback records are not deploys, so rolling back walks down the deploy
    chain: after A → B → C, ``rollback`` gives B, again gives A, then None.

    Examples
    --------
    >>> trail = [
    ...     {"event": "deploy", "version": "cal_20260101_000000", "previous_version": None},
    ...     {"event": "deploy", "version": "cal_20260102_000000",
    ...      "previous_version": "cal_20260101_000000"},
    ... ]
    >>> previous_version_of(trail, "cal_20260102_000000")
    'cal_20260101_000000'
    """
    if current is None:
        return None
    found: str | None = None
    for record in records:
        deployish = record.get("event") == "deploy" or (
            record.get("event") == "recovered" and record.get("as") == "deploy"
        )
        if deployish and record.get("version") == current:
            previous = record.get("previous_version")
            found = previous if isinstance(previous, str) else None
    return found


def _recovery_record(trail: AuditTrail, live: LiveConfig, at: datetime) -> dict[str, Any] | None:
    # A live version the trail does not end with was made live without its audit
    # line: an approve/rollback killed between os.replace and the append, or a hand
    # edit. Record it so the history stays complete. A version never live before is
    # recorded as a deploy (rollback walks back past it); one seen before as a rollback.
    # The old deployer's legacy config is recorded the same way (it has no audit trail
    # of its own), so that approving on top of it can be rolled back to it.
    document = live.document
    if document is None or live.version == trail.last_live_version:
        return None
    seen = document.version in trail.ever_live()
    legacy = isinstance(document, LegacyConfig)
    override = document.override_reason if isinstance(document, CalibrationConfig) else None
    record: dict[str, Any] = {
        "event": "recovered",
        "as": "rollback" if seen else "deploy",
        "version": document.version,
        "previous_version": trail.last_live_version,
        "job_id": None if isinstance(document, LegacyConfig) else document.source_job,
        "approved_by": document.approved_by,
        "approved_at": document.approved_at,
        "at": iso_utc(at),
        "config_sha256": live.sha256,
        "note": "live config had no audit record (interrupted approve/rollback or hand edit)",
        **({} if seen or override is None else {"override": override}),
    }
    if legacy:
        record["legacy"] = True
        record["note"] = "live config is the old deployer's legacy config (it kept no audit trail)"
    return record


def read_audit(paths: Paths) -> AuditTrail:
    """Read the audit trail (``calibration_archive/audit.jsonl``).

    Parameters
    ----------
    paths : Paths
        The archive directory holds the trail.

    Returns
    -------
    AuditTrail
        Records in file order; line numbers that are not a JSON object with an
        ``event`` are listed in ``bad_lines`` (a writer killed mid-line).

    Raises
    ------
    DeploymentError
        The trail is a symlink, not a regular file (a directory, a FIFO) or unreadable.
    """
    path = paths.audit_log
    data = _read_file(
        path,
        action="read the audit trail",
        not_regular=DeploymentError(f"refusing the audit trail {path}: not a regular file"),
    )
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    for number, line in enumerate((data or b"").split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad.append(number)
            continue
        if isinstance(record, dict) and isinstance(record.get("event"), str):
            records.append(record)
        else:
            bad.append(number)
    return AuditTrail(records=tuple(records), bad_lines=tuple(bad))


def _open_audit(paths: Paths) -> int:
    path = paths.audit_log
    flags = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW
    try:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            fd = os.open(path, flags)
        else:
            os.fchmod(fd, 0o644)
            fsync_directory(paths.archive_dir)
    except OSError as exc:
        raise _os_error(exc, "open the audit trail", path) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DeploymentError(f"refusing the audit trail {path}: not a regular file")
    return fd


def _append_audit(fd: int, record: dict[str, Any], path: Path) -> None:
    line = (json.dumps(record, allow_nan=False) + "\n").encode("utf-8")
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # A writer died mid-line: start a fresh line so this record stays parseable.
            line = b"\n" + line
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as exc:
        raise _os_error(exc, "append to the audit trail", path) from None
