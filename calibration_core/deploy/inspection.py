"""What the deployment looks like, read-only: status, history and the diff of two versions."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import attrs

from calibration_core.config import (
    CalibrationConfig,
    ConfidenceMap,
    LegacyConfig,
    is_valid_version,
)
from calibration_core.deploy.approval import _is_stale
from calibration_core.deploy.archive import (
    _archive_path,
    _check_layout,
    read_archived_document,
    read_live,
    resolve_document,
)
from calibration_core.deploy.audit import AuditTrail, read_audit
from calibration_core.deploy.files import _read_regular
from calibration_core.deploy.jobstore import STATUS_PENDING, JobStore
from calibration_core.deploy.lock import _lock_is_held
from calibration_core.exceptions import CalibrationError, DeploymentError

if TYPE_CHECKING:
    from calibration_core.deploy.archive import LiveConfig
    from calibration_core.settings import Paths

__all__ = [
    "DIFF_GRID",
    "ConfigDiff",
    "HistoryReport",
    "StatusReport",
    "VersionSummary",
    "calibrated_value",
    "compare_configs",
    "diff",
    "history",
    "status",
]

DIFF_GRID = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))
"""Raw confidences at which ``diff`` compares two maps: 0.50, 0.55, ..., 0.95."""

_DIFF_TOLERANCE = 5e-7  # below the 3-decimal display precision: not a difference


@attrs.frozen
class StatusReport:
    """The state of the deployment: live config, archive match, pending jobs, audit, lock.

    ``config_missing`` says where a default path looked when there is no config
    file there at all (a job run from the wrong directory), else None.
    """

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
    config_missing: str | None = None


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


# --------------------------------------------------------------------------- comparing two configs


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
_SECTIONS = ("confidence_calibration", "ensemble_weights", "per_symbol", "consensus_multipliers")


def _served_map(config: CalibrationConfig | LegacyConfig) -> ConfidenceMap:
    # A legacy config's map as the loader serves it (old loader's map, ±0.15 beyond its keys).
    return config.confidence_map() if isinstance(config, LegacyConfig) else config.confidence


def _enabled_flags(config: CalibrationConfig | LegacyConfig) -> tuple[bool, ...]:
    if isinstance(config, LegacyConfig):
        # Only the map and the weights of a legacy config are ever served.
        return (config.calibration_enabled, config.weights_enabled, False, False)
    return (
        config.confidence.enabled,
        config.weights.enabled,
        config.per_symbol.enabled,
        config.consensus.enabled,
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
    other = tuple(
        (key, fa.get(key), fb.get(key))
        for key in sorted(set(fa) | set(fb))
        if fa.get(key) != fb.get(key)
        and not key.startswith(_DIFF_SHOWN_ELSEWHERE)
        and not (key.endswith(".enabled") and key.rsplit(".", 1)[0] in _SECTIONS)
    )
    return ConfigDiff(a_label, b_label, a.version, b.version, grid, weights, enabled, other)


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


# --------------------------------------------------------------------------- status


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
    ours = config if isinstance(config, CalibrationConfig) else None
    # From the wrong directory a default path finds nothing: say where we looked.
    missing = config is None and not paths.config.exists()
    return StatusReport(
        config_path=str(paths.config),
        live_version=None if config is None else config.version,
        approved_at=None if config is None else config.approved_at,
        approved_by=None if config is None else config.approved_by,
        data_hash=None if ours is None else ours.data_hash,
        config_sha256=None if live is None else live.sha256,
        live_error=live_error,
        matches_archive=matches,
        pending_jobs=pending,
        last_audit_event=trail.records[-1] if trail.records else None,
        audit_bad_lines=trail.bad_lines,
        lock_held=_lock_is_held(paths),
        override_reason=None if ours is None else ours.override_reason,
        created_at=None if config is None else config.created_at,
        based_on_trades=None if config is None else config.based_on_trades,
        legacy=legacy is not None,
        legacy_refusal=None if legacy is None else legacy.refusal,
        config_missing=(
            f"no config at {paths.config} {paths.origin_note('config')}" if missing else None
        ),
    )


# --------------------------------------------------------------------------- history


def history(paths: Paths) -> HistoryReport:
    """List every audit event and summarise every version that was ever live.

    Parameters
    ----------
    paths : Paths
        The live config and its archive (with the audit trail).

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
