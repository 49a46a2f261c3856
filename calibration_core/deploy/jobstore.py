"""Job records: a proposal waiting for a person, stored where another process can find it."""

from __future__ import annotations

import contextlib
import json
import math
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from calibration_core.config import CalibrationConfig, is_valid_version
from calibration_core.deploy.files import _is_regular
from calibration_core.exceptions import CalibrationError, JobRefusedError
from calibration_core.fsio import atomic_write_text
from calibration_core.times import iso_utc

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "JOB_RECORD_SCHEMA_VERSION",
    "JOB_STATUSES",
    "RECOMMENDATIONS",
    "RECOMMEND_APPROVE",
    "RECOMMEND_DO_NOT_APPLY",
    "STATUS_ABORTED",
    "STATUS_DEPLOYED",
    "STATUS_PENDING",
    "STATUS_REJECTED",
    "UNKNOWN_RECOMMENDATION",
    "JobRecord",
    "JobStore",
    "format_job_id",
]

JOB_RECORD_SCHEMA_VERSION = 1
STATUS_PENDING = "pending_approval"
STATUS_REJECTED = "rejected"
STATUS_DEPLOYED = "deployed"
STATUS_ABORTED = "aborted"
JOB_STATUSES = (STATUS_PENDING, STATUS_REJECTED, STATUS_DEPLOYED, STATUS_ABORTED)

RECOMMEND_APPROVE = "APPROVE CANDIDATE"
RECOMMEND_DO_NOT_APPLY = "DO NOT APPLY"
RECOMMENDATIONS = (RECOMMEND_APPROVE, RECOMMEND_DO_NOT_APPLY)
UNKNOWN_RECOMMENDATION = (
    "the job record stores no recommendation (it was written by an older release), "
    "so approve cannot tell whether its report says DO NOT APPLY; read the report"
)
"""The refusal reason of a record without a recommendation: unknown is treated as DO NOT APPLY."""

_MAX_SAME_SECOND = 999


def format_job_id(moment: datetime, sequence: int = 0) -> str:
    """Return ``cal_YYYYMMDD_HHMMSS``, with ``_NN`` for the second and later job of one second.

    Parameters
    ----------
    moment : datetime
        When the job was created (converted to UTC).
    sequence : int
        0 for the first job of that second, then 1, 2, ...
    """
    base = moment.astimezone(UTC).strftime("cal_%Y%m%d_%H%M%S")
    return base if sequence == 0 else f"{base}_{sequence:02d}"


@attrs.frozen(kw_only=True)
class JobRecord:
    """Everything ``approve`` needs, frozen at the moment ``run`` computed it.

    ``base_version`` / ``base_config_sha256`` identify the live config the
    proposal was computed against; ``approve`` refuses the job as stale when
    the live config no longer matches.

    ``recommendation`` and ``reasons`` are the report's verdict in the report's
    words (``APPROVE CANDIDATE``, or ``DO NOT APPLY`` and why); None for a
    record written before they were stored (and whose summary does not hold
    them either), which approve treats as DO NOT APPLY. ``override`` is set
    when a person deployed a DO NOT APPLY job with ``approve --override``:
    ``{"reason", "by", "at"}``.
    """

    # In the order of the keys in a record file (keyword-only, so defaults may come first).
    schema_version: int = JOB_RECORD_SCHEMA_VERSION
    job_id: str
    created_at: str
    status: str
    forced: bool
    validation_passed: bool
    risk_score: float
    risk_category: str
    checks: tuple[dict[str, Any], ...]
    data_path: str
    data_hash: str
    n_trades: int
    base_version: str | None
    base_config_sha256: str | None
    report_markdown: str | None = None
    report_json: str | None = None
    summary: dict[str, Any] = attrs.field(factory=dict)
    recommendation: str | None = None
    reasons: tuple[str, ...] = ()
    override: dict[str, Any] | None = None
    events: tuple[dict[str, Any], ...] = ()
    proposed_config: CalibrationConfig

    @property
    def do_not_apply_reasons(self) -> tuple[str, ...]:
        """Why approve must refuse this job without an override; empty for an APPROVE CANDIDATE.

        An unknown recommendation (an old record) is one reason,
        :data:`UNKNOWN_RECOMMENDATION`; a DO NOT APPLY without stored reasons
        still gives one.
        """
        if self.recommendation == RECOMMEND_APPROVE:
            return ()
        if self.recommendation is None:
            return (UNKNOWN_RECOMMENDATION,)
        return self.reasons or ("its report says DO NOT APPLY",)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready record."""
        return attrs.asdict(self, recurse=False) | {
            "checks": list(self.checks),
            "reasons": list(self.reasons),
            "events": list(self.events),
            "proposed_config": self.proposed_config.to_dict(),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> JobRecord:
        """Rebuild a record; every field's type and the embedded config are validated again.

        Raises
        ------
        CalibrationError
            For an unknown schema or status, a missing field, or a field of the
            wrong type (e.g. the string ``"false"`` where a boolean belongs).
        """
        try:
            if raw.get("schema_version") != JOB_RECORD_SCHEMA_VERSION:
                msg = f"unknown job record schema_version {raw.get('schema_version')!r}"
                raise CalibrationError(msg)
            status = raw["status"]
            if status not in JOB_STATUSES:
                raise CalibrationError(f"unknown job status {status!r}")
            job_id = _field(raw, "job_id", str)
            if not is_valid_version(job_id):
                raise CalibrationError(f"job record has an invalid job_id {job_id!r}")
            risk_score = _number(raw, "risk_score")
            n_trades = _field(raw, "n_trades", int)
            if n_trades < 0:
                raise CalibrationError(f"job record field n_trades is negative ({n_trades})")
            summary = _field({"summary": raw.get("summary", {})}, "summary", dict)
            recommendation, reasons = _recommendation(raw, summary)
            return cls(
                job_id=job_id,
                created_at=_field(raw, "created_at", str),
                status=status,
                forced=_field(raw, "forced", bool),
                proposed_config=CalibrationConfig.from_dict(raw["proposed_config"]),
                validation_passed=_field(raw, "validation_passed", bool),
                risk_score=risk_score,
                risk_category=_field(raw, "risk_category", str),
                checks=tuple(_dicts(raw, "checks")),
                data_path=_field(raw, "data_path", str),
                data_hash=_field(raw, "data_hash", str),
                n_trades=n_trades,
                base_version=_optional(raw, "base_version"),
                base_config_sha256=_optional(raw, "base_config_sha256"),
                report_markdown=_optional(raw, "report_markdown"),
                report_json=_optional(raw, "report_json"),
                summary=summary,
                events=tuple(_dicts(raw, "events", required=False)),
                recommendation=recommendation,
                reasons=reasons,
                override=_override(raw),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"job record is malformed ({exc!r})") from None

    def with_status(
        self, status: str, *, at: datetime, by: str | None = None, note: str | None = None
    ) -> JobRecord:
        """Return a copy in ``status`` with the transition appended to ``events``."""
        event = {"status": status, "at": iso_utc(at, timespec="auto"), "by": by, "note": note}
        return attrs.evolve(self, status=status, events=(*self.events, event))


_T = TypeVar("_T")


def _field(raw: dict[str, Any], name: str, kind: type[_T]) -> _T:
    # Exact JSON types: bool is not an int here, and the string "false" is not a boolean.
    value = raw[name]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        msg = (
            f"job record field {name} must be a JSON {_JSON_NAMES.get(kind, kind.__name__)} "
            f"(got {value!r:.40})"
        )
        raise CalibrationError(msg)
    return value


def _number(raw: dict[str, Any], name: str) -> float:
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CalibrationError(
            f"job record field {name} must be a finite number (got {value!r:.40})"
        )
    return float(value)


def _optional(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        raise CalibrationError(
            f"job record field {name} must be a string or null (got {value!r:.40})"
        )
    return value


def _dicts(raw: dict[str, Any], name: str, *, required: bool = True) -> list[dict[str, Any]]:
    value = raw[name] if required else raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise CalibrationError(f"job record field {name} must be a list of objects")
    return value


def _recommendation(
    raw: dict[str, Any], summary: dict[str, Any]
) -> tuple[str | None, tuple[str, ...]]:
    # The top-level fields are authoritative. A record written before they existed may
    # still hold the report's verdict in its summary (same words, same run); with
    # neither, the recommendation is unknown (None) and approve treats it as DO NOT APPLY.
    if raw.get("recommendation") is not None:
        source, where = raw, "job record field"
    elif summary.get("recommendation") is not None:
        source, where = summary, "job record field summary."
    else:
        return None, ()
    recommendation = source["recommendation"]
    if recommendation not in RECOMMENDATIONS:
        msg = (
            f"{where}recommendation must be one of {', '.join(RECOMMENDATIONS)} "
            f"(got {recommendation!r:.40})"
        )
        raise CalibrationError(msg)
    reasons = source.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise CalibrationError(f"{where}reasons must be a list of strings")
    return recommendation, tuple(reasons)


def _override(raw: dict[str, Any]) -> dict[str, Any] | None:
    value = raw.get("override")
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("reason"), str):
        raise CalibrationError("job record field override must be an object with a reason")
    return value


_JSON_NAMES: dict[type, str] = {bool: "boolean", str: "string", int: "integer", dict: "object"}


class JobStore:
    """Job records under one directory: ``<root>/<job_id>.json``, aborted ones in ``archived/``.

    Parameters
    ----------
    root : Path
        The jobs directory (created on first write).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.archived = root / "archived"

    def _path(self, job_id: str, *, archived: bool = False) -> Path:
        # Validate before the name touches a path: no "../", NUL or absolute names.
        if not is_valid_version(job_id):
            raise JobRefusedError(f"invalid job id {job_id!r}: expected cal_YYYYMMDD_HHMMSS")
        return (self.archived if archived else self.root) / f"{job_id}.json"

    def reserve_job_id(self, moment: datetime) -> str:
        """Claim a job id unique even for several runs in the same second.

        The claim is an empty file created with ``O_EXCL``, so two processes
        can never get the same id; :meth:`save` then fills it atomically.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        for sequence in range(_MAX_SAME_SECOND + 1):
            job_id = format_job_id(moment, sequence)
            if self._path(job_id, archived=True).exists():
                continue
            try:
                fd = os.open(self._path(job_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.close(fd)
            return job_id
        raise CalibrationError(f"more than {_MAX_SAME_SECOND} jobs in one second")

    def release(self, job_id: str) -> None:
        """Remove an unfilled reservation (a run that failed before saving)."""
        path = self._path(job_id)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size == 0:
                path.unlink()

    def save(self, record: JobRecord) -> Path:
        """Write ``record`` atomically and return its path."""
        path = self._path(record.job_id, archived=record.status == STATUS_ABORTED)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record.to_dict(), indent=2, allow_nan=False) + "\n")
        return path

    def load(self, job_id: str) -> JobRecord:
        """Read one job record.

        Raises
        ------
        JobRefusedError
            For an invalid id or an unknown job.
        CalibrationError
            For a record that cannot be parsed.
        """
        for archived in (False, True):
            path = self._path(job_id, archived=archived)
            try:
                text = _read_no_follow(path)
            except FileNotFoundError:
                continue
            if not text.strip():
                raise JobRefusedError(f"job {job_id} is still being written")
            try:
                raw = json.loads(text)
            except (ValueError, RecursionError):
                raise CalibrationError(f"job record {path} is not valid JSON") from None
            if not isinstance(raw, dict):
                raise CalibrationError(f"job record {path} is not a JSON object")
            if raw.get("job_id") != job_id:
                # A record copied or renamed onto another id would deploy under the wrong name.
                raise CalibrationError(
                    f"job record {path} holds job_id {raw.get('job_id')!r:.40}, not {job_id}"
                )
            return JobRecord.from_dict(raw)
        raise JobRefusedError(f"unknown job {job_id}: no record in {self.root}")

    def list_jobs(self, *, include_archived: bool = False) -> list[JobRecord]:
        """Return every readable job record, oldest first; unreadable ones are skipped."""
        records: list[JobRecord] = []
        roots = [self.root, self.archived] if include_archived else [self.root]
        for directory in roots:
            if not directory.is_dir():
                continue
            for path in sorted(directory.glob("cal_*.json")):
                with contextlib.suppress(CalibrationError):
                    records.append(self.load(path.stem))
        return sorted(records, key=lambda r: r.job_id)

    def archive(self, record: JobRecord) -> Path:
        """Move an aborted job out of the pending area (atomic write, then remove the old file)."""
        path = self.save(record)
        with contextlib.suppress(FileNotFoundError):
            self._path(record.job_id).unlink()
        return path


def _read_no_follow(path: Path) -> str:
    # A symlink planted where a record should be is refused, never followed;
    # O_NONBLOCK: a planted FIFO cannot make us hang.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise JobRefusedError(f"refusing to read {path}: {exc.strerror}") from None
    # fstat the raw descriptor first: a directory is refused (and its fd closed), not read.
    if not _is_regular(fd):
        raise JobRefusedError(f"refusing to read {path}: not a regular file")
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise JobRefusedError(f"refusing to read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CalibrationError(f"job record {path} is not valid UTF-8") from None
