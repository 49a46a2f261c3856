"""Approve, abort and roll back calibration configs under a lock, with archive and audit trail."""

# Shell module: it owns the on-disk state of the config directory. The decisions
# that need no I/O (which version is "previous", what a recovery record says, how
# two configs differ) are small pure functions below, tested without a disk.

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import math
import os
import signal
import stat
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from calibration_core.config import (
    MAX_CONFIG_BYTES,
    CalibrationConfig,
    ConfidenceMap,
    LegacyConfig,
    is_valid_version,
    override_reason_problem,
    parse_config,
)
from calibration_core.deploy.jobstore import (
    STATUS_ABORTED,
    STATUS_DEPLOYED,
    STATUS_PENDING,
    STATUS_REJECTED,
    JobRecord,
    JobStore,
)
from calibration_core.exceptions import (
    CalibrationError,
    ConfigRejectedError,
    DeploymentError,
    InvalidInputError,
    JobRefusedError,
)
from calibration_core.fsio import (
    DISK_FULL_ERRNOS,
    atomic_write_bytes,
    fsync_directory,
    remove_stale_temp_files,
)
from calibration_core.text import escape

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from pathlib import Path

    from calibration_core.settings import Paths

__all__ = [
    "CHECKPOINTS",
    "DEFAULT_LOCK_TIMEOUT",
    "DIFF_GRID",
    "HIGH_RISK_SCORE",
    "KILL_AT_ENV",
    "NO_LIVE_CONFIG",
    "OWNER_FILE_NAME",
    "AbortResult",
    "ApprovalPlan",
    "AuditTrail",
    "ConfigDiff",
    "DeployResult",
    "HistoryReport",
    "LiveConfig",
    "RollbackPlan",
    "StatusReport",
    "VersionSummary",
    "abort",
    "approve",
    "calibrated_value",
    "compare_configs",
    "diff",
    "history",
    "plan_approval",
    "plan_rollback",
    "previous_version_of",
    "read_archived",
    "read_archived_document",
    "read_audit",
    "read_live",
    "require_override_reason",
    "resolve_document",
    "resolve_reference",
    "rollback",
    "status",
]

logger = logging.getLogger("calibration_core.deploy")

KILL_AT_ENV = "CALIBRATION_CORE_TEST_KILL_AT"
"""TEST-ONLY fault injection: naming a checkpoint here makes the process SIGKILL itself there."""

CHECKPOINTS = (
    "after_lock",
    "after_backup",
    "after_archive_new",
    "after_tempfile_written",
    "after_replace",
    "after_sentinel",
    "after_audit",
    "after_job_mark",
)
"""Every step boundary of approve (rollback passes all but after_archive_new and after_job_mark)."""

OWNER_FILE_NAME = "live_config_name"
"""File in the archive naming the one live config (file name) the archive belongs to."""

NO_LIVE_CONFIG = "absent"
"""``expected_sha256`` value meaning "the caller saw no live config file"."""

DEFAULT_LOCK_TIMEOUT = 30.0
"""Seconds approve/rollback/abort wait for another holder of the deploy lock."""

HIGH_RISK_SCORE = 0.40
"""Risk scores above this are "high" in the design (0.41+) and never deployable."""

DIFF_GRID = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))
"""Raw confidences at which ``diff`` compares two maps: 0.50, 0.55, ..., 0.95."""

_LIVE_EVENTS = frozenset({"deploy", "rollback", "recovered"})
_NOTICE_LOCK_TIMEOUT = 5.0  # seconds to wait for the lock to record the cadence notice
_MAX_NAME_CHARS = 128
_MAX_REASON_CHARS = 500
_MAX_LIVE_BYTES = 64 * MAX_CONFIG_BYTES  # an absurd live file is moved aside by a person
_DIFF_TOLERANCE = 5e-7  # below the 3-decimal display precision: not a difference


# --------------------------------------------------------------------------- values


@attrs.frozen
class LiveConfig:
    """What is on disk at the live config path right now.

    ``data`` is None when there is no file; ``config`` is None when there is
    none, it does not parse (``error`` then says why) or it is the old
    deployer's legacy config (``legacy`` then holds it).
    """

    path: Path
    data: bytes | None
    config: CalibrationConfig | None
    error: str | None
    legacy: LegacyConfig | None = None

    @property
    def exists(self) -> bool:
        """True when a file is present, parseable or not."""
        return self.data is not None

    @property
    def document(self) -> CalibrationConfig | LegacyConfig | None:
        """The parsed live document, ours or legacy, or None."""
        return self.config if self.config is not None else self.legacy

    @property
    def version(self) -> str | None:
        """The live version (ours or legacy), or None when missing or unparseable."""
        document = self.document
        return None if document is None else document.version

    @property
    def sha256(self) -> str | None:
        """sha256 of the live file's bytes, or None when there is no file."""
        return None if self.data is None else hashlib.sha256(self.data).hexdigest()


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
        """Return the JSON-ready result."""
        data = attrs.asdict(self)
        data["warnings"] = list(self.warnings)
        data["cadence"] = (
            None if self.cadence is None else {"ok": self.cadence[0], "message": self.cadence[1]}
        )
        return data


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

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready result."""
        data = attrs.asdict(self)
        data["warnings"] = list(self.warnings)
        return data


@attrs.frozen
class ApprovalPlan:
    """A job that passed every refusal check, with the live config it would replace.

    ``resumes`` is True when the job's version is already live because an
    earlier approve was interrupted; approving it again only finishes the job.
    """

    job: JobRecord
    live: LiveConfig
    resumes: bool


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


@attrs.frozen
class StatusReport:
    """The state of the deployment: live config, archive match, pending jobs, audit, lock."""

    config_path: str
    live_version: str | None
    approved_at: str | None
    approved_by: str | None
    data_hash: str | None
    config_sha256: str | None
    live_error: str | None
    matches_archive: bool | None
    pending_jobs: tuple[dict[str, Any], ...]
    last_audit_event: dict[str, Any] | None
    audit_bad_lines: tuple[int, ...]
    lock_held: bool
    override_reason: str | None = None
    created_at: str | None = None
    based_on_trades: int | None = None
    legacy: bool = False
    legacy_refusal: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready report."""
        data = attrs.asdict(self)
        data["pending_jobs"] = list(self.pending_jobs)
        data["audit_bad_lines"] = list(self.audit_bad_lines)
        return data


@attrs.frozen
class VersionSummary:
    """One version that was ever live: when, how often, by whom, and whether it is archived."""

    version: str
    first_live_at: str | None
    last_live_at: str | None
    times_made_live: int
    deployed_by: str | None
    job_id: str | None
    archived: bool
    live_now: bool
    override: str | None = None
    created_at: str | None = None
    based_on_trades: int | None = None
    legacy: bool = False


@attrs.frozen
class HistoryReport:
    """Every audit event in order, and a summary per version that was ever live."""

    events: tuple[dict[str, Any], ...]
    versions: tuple[VersionSummary, ...]
    live_version: str | None
    bad_lines: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready report."""
        return {
            "events": list(self.events),
            "versions": [attrs.asdict(v) for v in self.versions],
            "live_version": self.live_version,
            "bad_lines": list(self.bad_lines),
        }


@attrs.frozen
class ConfigDiff:
    """How config B differs from config A.

    ``grid`` holds ``(raw, calibrated under A, calibrated under B)`` on
    :data:`DIFF_GRID` (identity where a map is disabled); ``weights`` holds
    ``(model, A, B)`` with None for a model missing on one side; ``enabled``
    holds ``(section, A, B)``; ``other`` every other differing field as
    ``(dotted.path, A, B)``.
    """

    a_label: str
    b_label: str
    a_version: str
    b_version: str
    grid: tuple[tuple[float, float, float], ...]
    weights: tuple[tuple[str, float | None, float | None], ...]
    enabled: tuple[tuple[str, bool, bool], ...]
    other: tuple[tuple[str, Any, Any], ...]

    @property
    def identical(self) -> bool:
        """True when no map point, weight, flag or other field differs."""
        return (
            all(abs(a - b) <= _DIFF_TOLERANCE for _, a, b in self.grid)
            and all(_weight_delta(a, b) == 0.0 for _, a, b in self.weights)
            and all(a == b for _, a, b in self.enabled)
            and not self.other
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready diff."""
        return {
            "a": self.a_label,
            "b": self.b_label,
            "a_version": self.a_version,
            "b_version": self.b_version,
            "identical": self.identical,
            "grid": [{"raw": x, "a": a, "b": b, "delta": b - a} for x, a, b in self.grid],
            "weights": [
                {"model": m, "a": a, "b": b, "delta": _weight_delta(a, b)}
                for m, a, b in self.weights
            ],
            "enabled": [{"section": s, "a": a, "b": b} for s, a, b in self.enabled],
            "other": [{"field": f, "a": a, "b": b} for f, a, b in self.other],
        }


# --------------------------------------------------------------------------- pure decisions


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
        "at": _iso(at),
        "config_sha256": live.sha256,
        "note": "live config had no audit record (interrupted approve/rollback or hand edit)",
        **({} if seen or override is None else {"override": override}),
    }
    if legacy:
        record["legacy"] = True
        record["note"] = "live config is the old deployer's legacy config (it kept no audit trail)"
    return record


def _interpolate(x: float, xs: tuple[float, ...], ys: tuple[float, ...]) -> float:
    # The knots span [0, 1] (validated), so x in [0, 1] always falls in one segment.
    for i in range(1, len(xs)):
        if x <= xs[i]:
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


def calibrated_value(conf_map: ConfidenceMap, x: float) -> float:
    """Return the confidence the runtime would use for raw confidence ``x`` in [0, 1].

    A disabled map leaves confidence unchanged, so it maps ``x`` to ``x``;
    an enabled one interpolates linearly between its knots.
    """
    return _interpolate(x, conf_map.thresholds, conf_map.values) if conf_map.enabled else x


def _weight_delta(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    delta = b - a
    return 0.0 if abs(delta) <= _DIFF_TOLERANCE else delta


def _flatten(value: object, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


_DIFF_SHOWN_ELSEWHERE = (
    "version",
    "confidence_calibration.enabled",
    "confidence_calibration.thresholds",
    "confidence_calibration.values",
    "confidence_calibration.mapping",
    "ensemble_weights.",
)
_SECTIONS = (
    "confidence_calibration",
    "ensemble_weights",
    "per_symbol",
    "consensus_multipliers",
    "hold_bias",
)


def _served_map(config: CalibrationConfig | LegacyConfig) -> ConfidenceMap:
    # A legacy config's map as the loader serves it (old loader's map, ±0.15 beyond its keys).
    return config.confidence_map() if isinstance(config, LegacyConfig) else config.confidence


def _enabled_flags(config: CalibrationConfig | LegacyConfig) -> tuple[bool, ...]:
    if isinstance(config, LegacyConfig):
        # Only the map and the weights of a legacy config are ever served.
        return (config.calibration_enabled, config.weights_enabled, False, False, False)
    return (
        config.confidence.enabled,
        config.weights.enabled,
        config.per_symbol.enabled,
        config.consensus.enabled,
        config.hold_bias.enabled,
    )


def compare_configs(
    a: CalibrationConfig | LegacyConfig,
    b: CalibrationConfig | LegacyConfig,
    *,
    a_label: str = "A",
    b_label: str = "B",
) -> ConfigDiff:
    """Compare two configs point by point.

    Parameters
    ----------
    a, b : CalibrationConfig or LegacyConfig
        The two versions; B is read as the change applied to A. A legacy
        config is compared as the loader serves it.
    a_label, b_label : str
        How to name them in the output.

    Returns
    -------
    ConfigDiff
        Calibrated values on :data:`DIFF_GRID`, weights per model, enabled
        flags of every section, and every other differing field.
    """
    map_a, map_b = _served_map(a), _served_map(b)
    grid = tuple((x, calibrated_value(map_a, x), calibrated_value(map_b, x)) for x in DIFF_GRID)
    wa, wb = a.weights_dict(), b.weights_dict()
    models = list(wa) + [m for m in wb if m not in wa]
    weights = tuple((m, wa.get(m), wb.get(m)) for m in models)
    enabled = tuple(zip(_SECTIONS, _enabled_flags(a), _enabled_flags(b), strict=True))
    fa, fb = _flatten(a.to_dict()), _flatten(b.to_dict())
    sections = {name for name, _, _ in enabled}
    other = tuple(
        (key, fa.get(key), fb.get(key))
        for key in sorted(set(fa) | set(fb))
        if fa.get(key) != fb.get(key)
        and not key.startswith(_DIFF_SHOWN_ELSEWHERE)
        and not (key.endswith(".enabled") and key.rsplit(".", 1)[0] in sections)
    )
    return ConfigDiff(
        a_label=a_label,
        b_label=b_label,
        a_version=a.version,
        b_version=b.version,
        grid=grid,
        weights=weights,
        enabled=enabled,
        other=other,
    )


# --------------------------------------------------------------------------- small helpers


def _checkpoint(name: str) -> None:
    # TEST-ONLY fault injection for the crash-consistency tests: with
    # CALIBRATION_CORE_TEST_KILL_AT=<name> the process dies here as if power-cut.
    # It costs one environment lookup per step and is never set in production.
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _as_clock(now: Callable[[], datetime] | datetime) -> Callable[[], datetime]:
    if isinstance(now, datetime):
        return lambda: now
    return now


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _require_version_name(name: object, what: str) -> str:
    # Checked before the name is ever joined to a path: no "../", "/", NUL or odd names.
    if not isinstance(name, str) or not is_valid_version(name):
        raise JobRefusedError(
            f"invalid {what} {name!r}: expected cal_YYYYMMDD_HHMMSS with an optional _NN suffix"
        )
    return name


def _require_text(value: object, what: str, limit: int) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= limit
        # C0, DEL, C1 (U+009B is a CSI), bidi overrides, line separators: what text.escape escapes.
        or escape(value) != value
    ):
        raise InvalidInputError(
            f"{what} must be 1-{limit} printable characters on one line, without control or "
            f"bidirectional characters (got {escape(repr(value))})"
        )
    return value


def _require_config_dir(paths: Paths) -> None:
    if not paths.config_dir.is_dir():
        raise DeploymentError(
            f"config directory {paths.config_dir} does not exist; create it or point "
            "CALIBRATION_CONFIG_PATH/--config at the right file (nothing was changed)"
        )


def _os_error(exc: OSError, action: str, path: Path) -> DeploymentError:
    if exc.errno in DISK_FULL_ERRNOS:
        return DeploymentError(
            f"disk full or file size limit while writing {path} ({exc.strerror})"
        )
    if exc.errno == errno.ELOOP:
        return DeploymentError(f"refusing to {action} {path}: it is a symlink")
    return DeploymentError(f"cannot {action} {path}: {exc.strerror or exc}")


def _write(path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data, mode=0o644)
    except OSError as exc:
        raise _os_error(exc, "write", path) from None


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


def _append_after_live(session: _Session, version: str, record: dict[str, Any]) -> None:
    # The new version is already live: a failed append must not read as "nothing changed".
    try:
        session.append(record)
    except CalibrationError as exc:
        session.warn(
            f"{version} IS LIVE, but its audit record could not be written ({exc}); "
            "the next approve/rollback will record it (as recovered)"
        )


def _read_regular(path: Path, *, what: str) -> bytes | None:
    # O_NOFOLLOW: a symlink planted in the archive is refused, never followed;
    # O_NONBLOCK: a planted FIFO cannot make us hang (refused as not a regular file).
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise JobRefusedError(f"refusing {what} {path}: it is a symlink") from None
        raise _os_error(exc, f"read {what}", path) from None
    # fstat the raw descriptor first: a directory must be refused, not read (EISDIR).
    if not _is_regular(fd):
        raise JobRefusedError(f"refusing {what} {path}: not a regular file")
    try:
        with os.fdopen(fd, "rb") as handle:
            return handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise _os_error(exc, f"read {what}", path) from None


def _is_regular(fd: int) -> bool:
    # True for a regular file; otherwise the descriptor is closed here.
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
    return regular


def _unique_path(directory: Path, stem: str, suffix: str) -> Path:
    candidate = directory / f"{stem}{suffix}"
    number = 2
    while os.path.lexists(candidate):
        candidate = directory / f"{stem}_{number}{suffix}"
        number += 1
    return candidate


# --------------------------------------------------------------------------- reading state


def read_live(paths: Paths) -> LiveConfig:
    """Read and parse the live config file.

    Parameters
    ----------
    paths : Paths
        Where the live config is.

    Returns
    -------
    LiveConfig
        Missing file: ``data`` None. Unparseable file: ``config`` None and
        ``error`` the one-line reason.

    Raises
    ------
    DeploymentError
        When the file exists but cannot be read (permissions), is not a
        regular file (a directory, a FIFO) or is over 64 MiB.
    """
    path = paths.config
    try:
        # The live path may be a symlink (a ConfigMap): follow it, but never block on a FIFO.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return LiveConfig(path=path, data=None, config=None, error="no live config")
    except OSError as exc:
        raise _os_error(exc, "read the live config", path) from None
    if not _is_regular(fd):
        raise DeploymentError(f"live config {path} is not a regular file")
    try:
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            # Read it whole, however invalid: these bytes are what a backup must preserve.
            if size > _MAX_LIVE_BYTES:
                raise DeploymentError(f"live config {path} is {size} bytes; move it aside by hand")
            data = handle.read()
    except OSError as exc:
        raise _os_error(exc, "read the live config", path) from None
    try:
        config = parse_config(data)
    except ConfigRejectedError as exc:
        return LiveConfig(path=path, data=data, config=None, error=str(exc))
    if isinstance(config, LegacyConfig):
        return LiveConfig(path=path, data=data, config=None, error=None, legacy=config)
    return LiveConfig(path=path, data=data, config=config, error=None)


def read_audit(paths: Paths) -> AuditTrail:
    """Read the audit trail (``calibration_archive/audit.jsonl``).

    Parameters
    ----------
    paths : Paths
        Where the archive is.

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
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return AuditTrail()
    except OSError as exc:
        raise _os_error(exc, "read the audit trail", path) from None
    if not _is_regular(fd):
        raise DeploymentError(f"refusing the audit trail {path}: not a regular file")
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise _os_error(exc, "read the audit trail", path) from None
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
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


def _archive_path(paths: Paths, version: str) -> Path:
    return paths.archive_dir / f"{_require_version_name(version, 'version')}.json"


def _owner_path(paths: Paths) -> Path:
    return paths.archive_dir / OWNER_FILE_NAME


def _read_owner(paths: Paths) -> str | None:
    try:
        data = _read_regular(_owner_path(paths), what="archive owner file")
    except JobRefusedError as exc:
        raise DeploymentError(str(exc)) from None
    if data is None:
        return None
    return data.decode("utf-8", "replace").strip() or None


def _check_layout(paths: Paths) -> None:
    """Refuse a config whose directory's archive, lock and audit trail belong to another file."""
    owner = _read_owner(paths)
    name = paths.config.name
    if owner is not None and owner != name:
        raise DeploymentError(
            f"refusing {name}: its directory {paths.config_dir} already holds the live config "
            f"{owner!r}, and the archive, lock and audit trail there belong to it; "
            f"give {name} a directory of its own (nothing was changed)"
        )


def _claim_layout(paths: Paths) -> None:
    # Under the lock, so two configs cannot both claim a fresh archive.
    _check_layout(paths)
    if _read_owner(paths) is None:
        _write(_owner_path(paths), f"{paths.config.name}\n".encode())


def _lock_is_held(paths: Paths) -> bool:
    try:
        fd = os.open(paths.lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        # A shared probe conflicts only with an exclusive holder and is dropped at once.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# --------------------------------------------------------------------------- the locked session


@contextlib.contextmanager
def _deploy_lock(paths: Paths, timeout: float) -> Iterator[None]:
    # A NaN deadline never passes (every comparison is False): the wait would never end.
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout < 0
    ):
        raise InvalidInputError(
            f"lock_timeout must be a finite number of seconds >= 0 (got {timeout!r})"
        )
    try:
        fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise _os_error(exc, "open the lock file", paths.lock) from None
    try:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DeploymentError(
                        f"another approve/rollback holds the lock {paths.lock} "
                        f"(waited {timeout:g} s); nothing was changed"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        yield
    finally:
        # Closing the descriptor releases the flock; a killed holder releases it too.
        os.close(fd)


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
        path = _unique_path(paths.archive_dir, f"corrupt_{_stamp(at)}", ".json.bak")
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
        backup = _unique_path(paths.archive_dir, f"{version}_backup_{_stamp(at)}", ".json")
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


def _touch_sentinel(session: _Session, event: str, version: str, at: datetime) -> None:
    # The loaders also poll, so a failed touch only delays the reload: warn, carry on.
    payload = json.dumps({"event": event, "version": version, "at": _iso(at)}) + "\n"
    try:
        atomic_write_bytes(session.paths.sentinel, payload.encode("utf-8"), mode=0o644)
    except OSError as exc:
        session.warn(f"{version} is live but the reload sentinel could not be touched ({exc})")


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
        job = attrs.evolve(job, override={"reason": override, "by": by, "at": _iso(at)})
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


# --------------------------------------------------------------------------- approve


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
            f"{job.base_version or 'no config'} but the live config is now "
            f"{live.version or ('unparseable' if live.exists else 'absent')}"
            f"{'' if job.base_version != live.version else ' (its content changed)'}; "
            "run a new calibration"
        )
    _check_recommendation(job, override)
    return False


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
        approved_at=_iso(at),
        approved_by=approved_by,
        data_hash=job.proposed_config.data_hash or job.data_hash,
        override_reason=override,
    )
    data = new.to_json().encode("utf-8")  # validates by round trip before anything is written
    previous = session.live.version
    _backup_live(session, at)
    _checkpoint("after_backup")
    # Archived BEFORE it goes live (the design archives after): a kill between the two
    # steps must still leave every version that was ever live in the archive.
    _archive_new(session, job.job_id, data)
    _checkpoint("after_archive_new")
    _write_live(session, data, job.job_id)
    _checkpoint("after_replace")
    _touch_sentinel(session, "deploy", job.job_id, at)
    _checkpoint("after_sentinel")
    sha = hashlib.sha256(data).hexdigest()
    _append_after_live(
        session,
        job.job_id,
        {
            "event": "deploy",
            "version": job.job_id,
            "previous_version": previous,
            "job_id": job.job_id,
            "approved_by": approved_by,
            "at": _iso(at),
            "config_sha256": sha,
            **({} if override is None else {"override": override}),
        },
    )
    _checkpoint("after_audit")
    _mark_deployed(
        store, job, at=at, by=approved_by, note=None, warn=session.warnings, override=override
    )
    _checkpoint("after_job_mark")
    logger.info("deployed %s (previous: %s)", job.job_id, previous)
    return DeployResult(
        event="deploy",
        version=job.job_id,
        previous_version=previous,
        at=_iso(at),
        by=approved_by,
        config_sha256=sha,
        changed=True,
        job_id=job.job_id,
        override=override,
    )


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
        at=live.config.approved_at or _iso(at),
        by=by,
        config_sha256=live.sha256 or "",
        changed=False,
        job_id=job.job_id,
        resumed=True,
        override=live.config.override_reason,
    )


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
            job_id, _iso(at), by, reason, str(path), audited=False, warnings=tuple(warnings)
        )
    with _locked_session(paths, timeout=lock_timeout, clock=clock, warnings=warnings) as session:
        job = store.load(job_id)
        _check_abortable(job)
        at = clock()
        session.append(
            {"event": "abort", "job_id": job_id, "by": by, "reason": reason, "at": _iso(at)}
        )
        path = _archive_job(store, job.with_status(STATUS_ABORTED, at=at, by=by, note=reason))
    return AbortResult(
        job_id, _iso(at), by, reason, str(path), audited=True, warnings=tuple(warnings)
    )


# --------------------------------------------------------------------------- rollback


def _rollback_target(
    paths: Paths, trail: AuditTrail, live: LiveConfig, version: str | None
) -> tuple[str, bytes, CalibrationConfig | LegacyConfig]:
    if version is None:
        if live.version is None:
            raise JobRefusedError(
                "no earlier version to roll back to: the live config is "
                f"{'unparseable' if live.exists else 'absent'}; name one (see `history`)"
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
    try:
        config = parse_config(data)
    except ConfigRejectedError as exc:
        raise ConfigRejectedError(
            f"archived version {target} is corrupt, live config untouched: {exc}"
        ) from None
    if config.version != target:
        raise ConfigRejectedError(
            f"archive entry {path.name} holds version {config.version}, not {target}; "
            "live config untouched"
        )
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
                f"{session.live.version or ('unparseable' if session.live.exists else 'absent')}"
                "); nothing was rolled back, look again and retry"
            )
        target, data, _config = _rollback_target(paths, session.trail, session.live, version)
        previous = session.live.version
        at = clock()
        sha = hashlib.sha256(data).hexdigest()
        result = DeployResult(
            event="rollback",
            version=target,
            previous_version=previous,
            at=_iso(at),
            by=by,
            config_sha256=sha,
            changed=False,
            reason=reason,
        )
        if data == session.live.data:
            return attrs.evolve(result, warnings=tuple(warnings))
        _backup_live(session, at)
        _checkpoint("after_backup")
        _write_live(session, data, target)
        _checkpoint("after_replace")
        _touch_sentinel(session, "rollback", target, at)
        _checkpoint("after_sentinel")
        _append_after_live(
            session,
            target,
            {
                "event": "rollback",
                "version": target,
                "previous_version": previous,
                "by": by,
                "reason": reason,
                "at": _iso(at),
                "config_sha256": sha,
            },
        )
        _checkpoint("after_audit")
    logger.info("rolled back to %s (from %s)", target, previous)
    return attrs.evolve(result, changed=True, warnings=tuple(warnings))


# --------------------------------------------------------------------------- read-only reports


def status(paths: Paths) -> StatusReport:
    """Describe the deployment without changing or creating anything.

    Parameters
    ----------
    paths : Paths
        Config, archive and jobs locations.

    Returns
    -------
    StatusReport
        Live version and its approval, sha256, whether the live bytes equal
        ``calibration_archive/<version>.json``, pending jobs (with a stale
        flag), the last audit record, and whether the deploy lock is held.

    Raises
    ------
    DeploymentError
        The config shares its directory with another live config.
    """
    _check_layout(paths)
    try:
        live: LiveConfig | None = read_live(paths)
        live_error = None if live is None else live.error
    except DeploymentError as exc:
        live, live_error = None, str(exc)
    config = None if live is None else live.document
    matches: bool | None = None
    if config is not None and live is not None:
        try:
            archived = _read_regular(_archive_path(paths, config.version), what="archive entry")
        except CalibrationError:
            archived = None
        matches = None if archived is None else archived == live.data
    try:
        trail = read_audit(paths)
    except DeploymentError:
        trail = AuditTrail()
    pending = tuple(
        {
            "job_id": job.job_id,
            "created_at": job.created_at,
            "risk_score": job.risk_score,
            "risk_category": job.risk_category,
            "forced": job.forced,
            "stale": _is_stale(job, live),
            "recommendation": job.recommendation or "UNKNOWN",
            "do_not_apply_reasons": list(job.do_not_apply_reasons),
        }
        for job in JobStore(paths.jobs_dir).list_jobs()
        if job.status == STATUS_PENDING
    )
    legacy = config if isinstance(config, LegacyConfig) else None
    return StatusReport(
        config_path=str(paths.config),
        live_version=None if config is None else config.version,
        approved_at=None if config is None else config.approved_at,
        approved_by=None if config is None else config.approved_by,
        data_hash=config.data_hash if isinstance(config, CalibrationConfig) else None,
        config_sha256=None if live is None else live.sha256,
        live_error=live_error,
        matches_archive=matches,
        pending_jobs=pending,
        last_audit_event=trail.records[-1] if trail.records else None,
        audit_bad_lines=trail.bad_lines,
        lock_held=_lock_is_held(paths),
        override_reason=config.override_reason if isinstance(config, CalibrationConfig) else None,
        created_at=None if config is None else config.created_at,
        based_on_trades=None if config is None else config.based_on_trades,
        legacy=legacy is not None,
        legacy_refusal=None if legacy is None else legacy.refusal,
    )


def history(paths: Paths) -> HistoryReport:
    """List every audit event and summarise every version that was ever live.

    Parameters
    ----------
    paths : Paths
        Config and archive locations.

    Returns
    -------
    HistoryReport

    Raises
    ------
    DeploymentError
        The config shares its directory with another live config.
    """
    _check_layout(paths)
    trail = read_audit(paths)
    try:
        live: LiveConfig | None = read_live(paths)
    except DeploymentError:
        live = None
    live_version = None if live is None else live.version
    summaries: dict[str, dict[str, Any]] = {}
    for record in trail.live_events():
        version = record["version"]
        entry = summaries.setdefault(
            version,
            {"first": record.get("at"), "count": 0, "by": None, "job": None, "override": None},
        )
        entry["count"] += 1
        entry["last"] = record.get("at")
        if record["event"] == "deploy" or record.get("as") == "deploy":
            entry["by"] = record.get("approved_by")
            entry["job"] = record.get("job_id")
            entry["override"] = record.get("override")
    if live_version is not None and live_version not in summaries:
        # Live without any audit record yet, e.g. the old deployer's legacy config
        # before the first approve: listed, never made live by us.
        document = None if live is None else live.document
        summaries[live_version] = {
            "first": None,
            "last": None,
            "count": 0,
            "by": None if document is None else document.approved_by,
            "job": None,
            "override": None,
        }
    versions = tuple(
        _version_summary(paths, version, entry, live if version == live_version else None)
        for version, entry in summaries.items()
    )
    return HistoryReport(
        events=trail.records,
        versions=versions,
        live_version=live_version,
        bad_lines=trail.bad_lines,
    )


def _version_summary(
    paths: Paths, version: str, entry: dict[str, Any], live: LiveConfig | None
) -> VersionSummary:
    # created_at and based_on_trades come from the document: the live one for the
    # live version (what is served), else the archived copy; unreadable ones stay None.
    document: CalibrationConfig | LegacyConfig | None = None if live is None else live.document
    archived = (
        (paths.archive_dir / f"{version}.json").is_file() if is_valid_version(version) else False
    )
    if document is None and archived:
        with contextlib.suppress(CalibrationError):
            document = read_archived_document(paths, version)
    return VersionSummary(
        version=version,
        first_live_at=entry["first"],
        last_live_at=entry["last"],
        times_made_live=entry["count"],
        deployed_by=entry["by"],
        job_id=entry["job"],
        archived=archived,
        live_now=live is not None,
        created_at=None if document is None else document.created_at,
        based_on_trades=None if document is None else document.based_on_trades,
        legacy=isinstance(document, LegacyConfig),
        override=entry["override"] if isinstance(entry["override"], str) else None,
    )


def read_archived_document(paths: Paths, version: str) -> CalibrationConfig | LegacyConfig | None:
    """Return the archived config of ``version``, ours or legacy, or None when not archived.

    Parameters
    ----------
    paths : Paths
        Locations; the entry is ``<archive>/<version>.json``.
    version : str
        A version name; validated before it touches a path.

    Returns
    -------
    CalibrationConfig or LegacyConfig or None

    Raises
    ------
    JobRefusedError
        An invalid name, or an entry that is a symlink or not a regular file.
    ConfigRejectedError
        A corrupt entry, or one that holds another version.
    """
    version = _require_version_name(version, "version")
    data = _read_regular(_archive_path(paths, version), what="archive entry")
    if data is None:
        return None
    try:
        config = parse_config(data)
    except ConfigRejectedError as exc:
        raise ConfigRejectedError(f"archived version {version} is corrupt: {exc}") from None
    if config.version != version:
        raise ConfigRejectedError(
            f"archive entry {version}.json holds version {config.version}, not {version}"
        )
    return config


def read_archived(paths: Paths, version: str) -> CalibrationConfig | None:
    """Return the archived config of ``version``, or None when it was never archived.

    Parameters
    ----------
    paths : Paths
        Locations; the entry is ``<archive>/<version>.json``.
    version : str
        A version name; validated before it touches a path.

    Returns
    -------
    CalibrationConfig or None

    Raises
    ------
    JobRefusedError
        An invalid name, or an entry that is a symlink or not a regular file.
    ConfigRejectedError
        A corrupt entry, one that holds another version, or a legacy config
        (see :func:`read_archived_document`).
    """
    config = read_archived_document(paths, version)
    if isinstance(config, LegacyConfig):
        raise ConfigRejectedError(
            f"archived version {version} is the old deployer's legacy config; "
            "only status, history, diff and rollback read it"
        )
    return config


def resolve_reference(
    paths: Paths, ref: str, *, live: LiveConfig | None = None
) -> tuple[str, CalibrationConfig]:
    """Return a label and the config that ``ref`` names: ``live``, an archived version or a job.

    Parameters
    ----------
    paths : Paths
        Locations.
    ref : str
        ``live``, a version in the archive, or a job id in the job store.
    live : LiveConfig, optional
        The live config when the caller has read it already.

    Raises
    ------
    JobRefusedError
        No live config, an invalid name, or a name that is neither archived nor a job.
    ConfigRejectedError
        The live config or the archived entry does not parse, or is the old
        deployer's legacy config (only :func:`diff` compares those).
    """
    label, config = resolve_document(paths, ref, live=live)
    if isinstance(config, LegacyConfig):
        raise ConfigRejectedError(
            f"{label} is the old deployer's legacy config; only status, history, diff and "
            "rollback read it"
        )
    return label, config


def resolve_document(
    paths: Paths, ref: str, *, live: LiveConfig | None = None
) -> tuple[str, CalibrationConfig | LegacyConfig]:
    """Like :func:`resolve_reference`, but a legacy config is returned, labelled as such.

    A legacy config that breaks a hard rule is labelled ``REFUSED`` with the reason:
    the loader does not serve it.
    """
    if ref == "live":
        live = live if live is not None else read_live(paths)
        document = live.document
        if document is None:
            if live.exists:
                raise ConfigRejectedError(f"the live config does not parse: {live.error}")
            raise JobRefusedError(f"no live config at {paths.config}")
        return f"live ({document.version}{_legacy_label(document)})", document
    if not is_valid_version(ref):
        raise JobRefusedError(
            f"invalid version {ref!r}: expected `live`, an archived version or a job id "
            "(cal_YYYYMMDD_HHMMSS with an optional _NN suffix)"
        )
    version = ref
    config = read_archived_document(paths, version)
    if config is not None:
        return f"archive {version}{_legacy_label(config)}", config
    try:
        job = JobStore(paths.jobs_dir).load(version)
    except JobRefusedError:
        raise JobRefusedError(
            f"unknown version {version}: neither archived nor a job; see `history` and `status`"
        ) from None
    return f"job {version}", job.proposed_config


def diff(paths: Paths, a: str, b: str) -> ConfigDiff:
    """Compare two versions: archived versions, job proposals or ``"live"``.

    Parameters
    ----------
    paths : Paths
        Config, archive and jobs locations.
    a, b : str
        ``"live"``, or a version name looked up in the archive first and then
        among the jobs (a job's proposed config).

    Returns
    -------
    ConfigDiff

    Raises
    ------
    JobRefusedError
        Invalid name or unknown version.
    ConfigRejectedError
        A side does not parse.
    """
    _check_layout(paths)
    a_label, a_config = resolve_document(paths, a)
    b_label, b_config = resolve_document(paths, b)
    return compare_configs(a_config, b_config, a_label=a_label, b_label=b_label)


def _legacy_label(config: CalibrationConfig | LegacyConfig) -> str:
    if not isinstance(config, LegacyConfig):
        return ""
    refusal = config.refusal
    return ", legacy" if refusal is None else f", legacy, REFUSED: {refusal}"
