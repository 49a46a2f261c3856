"""The post-deployment jobs ``monitor`` and ``compare``: gather the data, apply the rules."""

# Shell module: it reads the live config, the archive, the audit trail, the trades and
# the optional signals log, turns them into the values of the pure rules
# (core/monitor_rules.py, core/version_scoring.py) and returns frozen results that
# jobs/monitor_view.py renders. It changes nothing, except on a ROLLBACK verdict with
# auto_rollback: then it rolls back through deploy.rollback (the locked, audited path).

from __future__ import annotations

import math
from datetime import UTC
from typing import TYPE_CHECKING, Any, Literal, cast

import attrs
import numpy as np

from calibration_core.config import is_valid_version
from calibration_core.core.monitor_rules import (
    ARRAY_EQ,
    VERDICT_ROLLBACK,
    MonitorVerdict,
    WindowData,
    WindowSelection,
    evaluate_monitor,
    select_windows,
)
from calibration_core.core.version_scoring import (
    MemberVotes,
    VersionComparison,
    VersionForecast,
    compare_versions,
)
from calibration_core.core.weights import ACTION_MISSING
from calibration_core.deploy import (
    plan_rollback,
    read_archived,
    read_audit,
    read_live,
    resolve_reference,
    rollback,
)
from calibration_core.exceptions import (
    CalibrationError,
    ConfigRejectedError,
    DataIntegrityError,
    JobRefusedError,
)
from calibration_core.fsio import atomic_write_text
from calibration_core.runtime.snapshot import Snapshot
from calibration_core.sources.integrity import refuse_future_closes
from calibration_core.sources.signals import read_signals
from calibration_core.sources.trades import read_trades
from calibration_core.times import compact_stamp, epoch_seconds, iso_utc

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from pathlib import Path

    import numpy.typing as npt

    from calibration_core.config import CalibrationConfig
    from calibration_core.deploy import AuditTrail, DeployResult, LiveConfig
    from calibration_core.settings import Paths
    from calibration_core.sources.signals import SignalBatch
    from calibration_core.sources.trade_batch import TradeBatch

__all__ = [
    "MONITOR_ACTOR",
    "CompareResult",
    "LivePeriod",
    "MonitorOutcome",
    "MonitorResult",
    "MonitorWindows",
    "RollbackOutcome",
    "compare_references",
    "monitor_version",
    "write_report",
]

MONITOR_ACTOR = "monitor"
"""The ``by`` of an automatic rollback in the audit trail."""

MonitorOutcome = Literal["OK", "WATCH", "ROLLBACK", "ROLLBACK_FAILED"]
"""The verdict, or ROLLBACK_FAILED when ``auto_rollback`` acted on ROLLBACK and failed."""

_MAX_REASON_CHARS = 500  # deploy.rollback's limit for the audit reason
_REASON_PREFIX = "rolled back by monitor: "
_LIVE_EVENTS = frozenset({"deploy", "rollback", "recovered"})


@attrs.define
class _Configs:
    """Configs by version: the live file for the live version, the archive for the others."""

    paths: Paths
    live: LiveConfig
    _cache: dict[str, CalibrationConfig | None] = attrs.field(factory=dict)

    def get(self, version: str) -> CalibrationConfig | None:
        if version not in self._cache:
            # The engine applies the live bytes, even if someone edited them by hand.
            if self.live.config is not None and self.live.config.version == version:
                self._cache[version] = self.live.config
            else:
                # Trades may carry any string as a version: only valid names touch a path.
                self._cache[version] = (
                    read_archived(self.paths, version) if is_valid_version(version) else None
                )
        return self._cache[version]


def _calibrate(
    config: CalibrationConfig | None, batch: TradeBatch, rows: npt.NDArray[np.intp]
) -> npt.NDArray[np.float64]:
    """Return the confidence the runtime would have produced for ``rows`` under ``config``.

    The map is applied per symbol exactly as the loader does, then the consensus
    multiplier (when the config enables it and the trade recorded its votes), clipped
    to 1 as the integration guide prescribes. No config means raw confidence.
    """
    raw = batch.confidence[rows]
    if config is None:
        return np.clip(raw, 0.0, 1.0)
    snapshot = Snapshot.from_config(config)
    out = np.empty(rows.shape[0], dtype=np.float64)
    codes = batch.symbol_codes[rows]
    for code in np.unique(codes):
        mask = codes == code
        out[mask] = snapshot.apply_batch(raw[mask], symbol=batch.symbol_names[int(code)])
    if config.consensus.enabled:
        counts = batch.consensus_count[rows].astype(np.int64)
        totals = np.count_nonzero(batch.model_actions[rows] != ACTION_MISSING, axis=1)
        multiplier = np.ones(rows.shape[0], dtype=np.float64)
        usable = (counts >= 0) & (totals > 0)
        pairs = {(int(c), int(t)) for c, t in zip(counts[usable], totals[usable], strict=True)}
        for count, total in pairs:
            multiplier[usable & (counts == count) & (totals == total)] = (
                snapshot.consensus_multiplier(count, total)
            )
        out = np.minimum(1.0, out * multiplier)
    return out


# --------------------------------------------------------------------------- the audit timeline


@attrs.frozen
class LivePeriod:
    """When a version was live: from the event that last made it live until the next one.

    ``end`` is ``inf`` while the version is live; ``event`` is that audit record.
    """

    start: float
    end: float
    event: dict[str, Any]


@attrs.frozen
class _Timeline:
    """The live-making audit events with parseable times, oldest first."""

    times: tuple[float, ...]
    versions: tuple[str, ...]
    events: tuple[dict[str, Any], ...]

    @classmethod
    def of(cls, trail: AuditTrail) -> _Timeline:
        entries: list[tuple[float, str, dict[str, Any]]] = []
        for record in trail.records:
            at = epoch_seconds(record.get("at"))
            version = record.get("version")
            if record.get("event") in _LIVE_EVENTS and isinstance(version, str) and at is not None:
                entries.append((at, version, record))
        entries.sort(key=lambda e: e[0])  # stable: same-second events keep file order
        return cls(
            tuple(e[0] for e in entries), tuple(e[1] for e in entries), tuple(e[2] for e in entries)
        )

    def period_of(self, version: str) -> LivePeriod | None:
        last = max((i for i, v in enumerate(self.versions) if v == version), default=None)
        if last is None:
            return None
        end = self.times[last + 1] if last + 1 < len(self.times) else math.inf
        return LivePeriod(self.times[last], end, self.events[last])

    def live_earlier(
        self, times: npt.NDArray[np.float64], version: str, start: float
    ) -> npt.NDArray[np.bool_]:
        """Rows before ``start`` that closed while ``version`` was live in an earlier period."""
        earlier = np.asarray(times) < start
        live = np.array([v == version for v in self.version_at(times)], dtype=np.bool_)
        return earlier & live

    def version_at(self, times: npt.NDArray[np.float64]) -> list[str | None]:
        index = np.searchsorted(np.asarray(self.times, dtype=np.float64), times, side="right") - 1
        return [self.versions[i] if i >= 0 else None for i in index.tolist()]


# --------------------------------------------------------------------------- monitor


@attrs.frozen
class MonitorWindows:
    """What the monitor judged: the two windows, their rows and how they were chosen.

    ``trade_times`` are the close times of every trade on file (the selections
    index into them); ``baseline_size`` is the limit on baseline trades.
    """

    trades: WindowSelection
    signals: WindowSelection | None
    baseline: WindowData
    current: WindowData
    notes: tuple[str, ...]
    trade_times: npt.NDArray[np.float64] = attrs.field(eq=ARRAY_EQ)
    signals_path: Path | None
    baseline_size: int


@attrs.frozen
class RollbackOutcome:
    """What ``auto_rollback`` did: the rollback's result, or the error that stopped it."""

    result: DeployResult | None
    failure: CalibrationError | None
    reason: str

    @property
    def error(self) -> str | None:
        """The first line of the failure, or None when the rollback did not fail."""
        return None if self.failure is None else str(self.failure).splitlines()[0]


@attrs.frozen
class MonitorResult:
    """What ``monitor`` found: the judged version, its windows, the verdict and any rollback.

    Attributes
    ----------
    paths : Paths
        The files the job read (and, on a rollback, wrote).
    version : str
        The judged version.
    live_version : str or None
        The version live now (None when no config parses).
    period : LivePeriod
        When the judged version last went live, and until when.
    windows : MonitorWindows
        The judged rows, the baseline rows and how they were chosen.
    verdict : MonitorVerdict
        OK, WATCH or ROLLBACK with every reason.
    rollback : RollbackOutcome or None
        What ``auto_rollback`` did; None when it did not run.
    at : datetime
        When the monitor ran (UTC).
    """

    paths: Paths
    version: str
    live_version: str | None
    period: LivePeriod
    windows: MonitorWindows
    verdict: MonitorVerdict
    rollback: RollbackOutcome | None
    at: datetime

    @property
    def is_live(self) -> bool:
        """Whether the judged version is the live one."""
        return self.live_version == self.version

    @property
    def outcome(self) -> MonitorOutcome:
        """The verdict, or ROLLBACK_FAILED when the automatic rollback failed."""
        if self.rollback is not None and self.rollback.failure is not None:
            return "ROLLBACK_FAILED"
        return cast("MonitorOutcome", self.verdict.verdict)


def _judged_version(paths: Paths, since: str | None, live: LiveConfig) -> str:
    if since is not None:
        if not is_valid_version(since):
            raise JobRefusedError(
                f"invalid version {since!r}: expected cal_YYYYMMDD_HHMMSS with an optional "
                "_NN suffix"
            )
        return since
    if live.legacy is not None:
        raise JobRefusedError(
            f"the live config {paths.config} is the old deployer's legacy config "
            f"{live.legacy.version}: monitor watches our approved versions; approve one first"
        )
    if live.config is None:
        if live.exists:
            raise ConfigRejectedError(
                f"the live config {paths.config} does not parse, nothing to monitor "
                f"(see `status`): {live.error}"
            )
        raise JobRefusedError(
            f"no config at {paths.config} {paths.origin_note('config')}: nothing to monitor"
        )
    return live.config.version


def _calibrated_baseline(
    batch: TradeBatch,
    rows: npt.NDArray[np.intp],
    timeline: _Timeline,
    configs: _Configs,
    notes: list[str],
) -> npt.NDArray[np.float64]:
    """Return the recorded calibrated confidence, else the map of the version then live."""
    recorded = batch.calibrated_confidence[rows]
    out = recorded.copy()
    missing = np.isnan(recorded)
    if not missing.any():
        return out
    codes = batch.calibration_version_codes[rows]
    by_time = timeline.version_at(batch.timestamps[rows])
    under: list[str | None] = [
        batch.calibration_version_names[int(code)] if code >= 0 else by_time[i]
        for i, code in enumerate(codes.tolist())
    ]
    for version in dict.fromkeys(under[i] for i in np.flatnonzero(missing).tolist()):
        mask = missing & np.array([v == version for v in under], dtype=np.bool_)
        config = None if version is None else configs.get(version)
        if version is not None and config is None:
            notes.append(
                f"no archived copy of {version}: its {int(mask.sum())} baseline trades "
                "use the raw confidence"
            )
        out[mask] = _calibrate(config, batch, rows[mask])
    return out


def _gather_windows(
    batch: TradeBatch,
    signals: SignalBatch | None,
    *,
    signals_path: Path | None,
    version: str,
    config: CalibrationConfig,
    period: LivePeriod,
    timeline: _Timeline,
    configs: _Configs,
    baseline_size: int,
) -> MonitorWindows:
    notes: list[str] = []

    def select(
        times: npt.NDArray[np.float64],
        codes: npt.NDArray[np.int32],
        names: Sequence[str],
        *,
        limit: int | None = None,
        not_before: float = -math.inf,
    ) -> WindowSelection:
        # The rows tagged with the judged version, when the producer tags them.
        judged = (
            codes == names.index(version) if version in names else np.zeros(codes.shape, np.bool_)
        )
        return select_windows(
            times,
            judged,
            codes >= 0,
            start=period.start,
            end=period.end,
            baseline_size=limit,
            not_before=not_before,
            own_earlier=timeline.live_earlier(times, version, period.start),
        )

    trades = select(
        batch.timestamps,
        batch.calibration_version_codes,
        batch.calibration_version_names,
        limit=baseline_size,
    )
    new, base = trades.new, trades.baseline
    recorded = batch.calibrated_confidence[new]
    computed = np.isnan(recorded)
    current_cal = np.where(computed, _calibrate(config, batch, new), recorded)
    if computed.any():
        notes.append(
            f"{int(computed.sum())} of {new.shape[0]} new trades carry no calibrated_confidence: "
            f"computed with {version}'s map"
        )
    baseline_cal = _calibrated_baseline(batch, base, timeline, configs, notes)
    signal_rows: WindowSelection | None = None
    new_flags = base_flags = None
    if signals is not None:
        oldest = float(batch.timestamps[base[0]]) if base.size else -math.inf
        signal_rows = select(
            signals.timestamps, signals.version_codes, signals.version_names, not_before=oldest
        )
        flags = signals.hold_flags()
        new_flags, base_flags = flags[signal_rows.new], flags[signal_rows.baseline]
    return MonitorWindows(
        trades,
        signal_rows,
        WindowData(batch.pnl_pct[base], batch.confidence[base], baseline_cal, base_flags),
        WindowData(batch.pnl_pct[new], batch.confidence[new], current_cal, new_flags),
        tuple(notes),
        batch.timestamps,
        signals_path,
        baseline_size,
    )


def _rollback_reason(verdict: MonitorVerdict) -> str:
    reasons = "; ".join(" ".join(r.split()) for r in verdict.reasons)
    text = _REASON_PREFIX + reasons
    if len(text) > _MAX_REASON_CHARS:
        text = text[: _MAX_REASON_CHARS - 1] + "…"
    return text


def _auto_rollback(
    paths: Paths,
    version: str,
    verdict: MonitorVerdict,
    now: Callable[[], datetime],
    lock_timeout: float,
) -> RollbackOutcome:
    reason = _rollback_reason(verdict)
    try:
        plan = plan_rollback(paths)
        # The verdict is about `version`: never roll back a version nobody judged.
        if plan.current != version:
            raise JobRefusedError(
                f"the live version changed to {plan.current or 'none'} while {version} was "
                "judged; nothing was rolled back, run monitor again"
            )
        result = rollback(
            paths,
            version=plan.target,
            by=MONITOR_ACTOR,
            reason=reason,
            now=now,
            lock_timeout=lock_timeout,
            # Checked again under the deploy lock: a deploy that lands after the
            # check above is never undone by this verdict.
            expected_current=version,
        )
    except CalibrationError as exc:
        return RollbackOutcome(None, exc, reason)
    return RollbackOutcome(result, None, reason)


def monitor_version(
    paths: Paths,
    *,
    since: str | None,
    baseline_trades: int,
    min_new_trades: int,
    signals_path: Path | None,
    auto_rollback: bool,
    lock_timeout: float,
    now: Callable[[], datetime],
) -> MonitorResult:
    """Judge a deployed version (OK / WATCH / ROLLBACK) and, if asked, roll it back.

    Parameters
    ----------
    paths : Paths
        Where the trades, the live config, its archive and audit trail are.
    since : str, optional
        Judge this version (from when it last went live) instead of the live one.
    baseline_trades : int
        Keep at most this many of the most recent baseline trades.
    min_new_trades : int
        Fewest new trades before judging; fewer gives WATCH.
    signals_path : Path, optional
        The signals log, for the HOLD rate; None leaves it unjudged.
    auto_rollback : bool
        On a ROLLBACK verdict only, roll back to the previous version through the
        locked, audited path (recorded as by ``monitor``, with the reasons).
    lock_timeout : float
        Seconds the rollback waits for another approve or rollback.
    now : callable
        The clock (aware datetimes).

    Returns
    -------
    MonitorResult
        Its ``outcome`` is the verdict, or ROLLBACK_FAILED when the rollback failed.

    Raises
    ------
    JobRefusedError
        No live config, an invalid or unknown version, no audit record for it,
        no config to apply, or ``auto_rollback`` for a version that is not live.
    ConfigRejectedError
        The live config or an archived version does not parse.
    DataIntegrityError
        A bad trades file or signals log (every bad line is listed).
    """
    live = read_live(paths)
    version = _judged_version(paths, since, live)
    if auto_rollback and live.version != version:
        raise JobRefusedError(
            f"refusing --auto-rollback: {version} is not the live version "
            f"(live: {live.version or 'none'}); judge it without --auto-rollback"
        )
    timeline = _Timeline.of(read_audit(paths))
    period = timeline.period_of(version)
    if period is None:
        raise JobRefusedError(
            f"no audit record makes {version} live in {paths.audit_log}: cannot tell when it "
            "went live (see `history`)"
        )
    configs = _Configs(paths, live)
    config = configs.get(version)
    if config is None:
        raise JobRefusedError(
            f"no archived copy of {version} in {paths.archive_dir} and it is not live: "
            "cannot apply its map"
        )
    batch = read_trades(paths.data)
    refuse_future_closes(batch, now().timestamp())  # one far-future stamp moves no window
    signals = None if signals_path is None else read_signals(signals_path)
    windows = _gather_windows(
        batch,
        signals,
        signals_path=signals_path,
        version=version,
        config=config,
        period=period,
        timeline=timeline,
        configs=configs,
        baseline_size=baseline_trades,
    )
    verdict = evaluate_monitor(windows.baseline, windows.current, min_new_trades=min_new_trades)
    outcome = None
    if auto_rollback and verdict.verdict == VERDICT_ROLLBACK:
        outcome = _auto_rollback(paths, version, verdict, now, lock_timeout)
    at = now().astimezone(UTC)
    return MonitorResult(paths, version, live.version, period, windows, verdict, outcome, at)


def write_report(directory: Path, result: MonitorResult, markdown: str) -> Path:
    """Write a monitor report as ``monitor_<version>_<UTC stamp>.md`` and return its path.

    Two runs in one second keep both reports: the second gets a ``_2`` suffix.
    """
    stamp = compact_stamp(result.at)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"monitor_{result.version}_{stamp}.md"
    number = 2
    while path.exists():
        path = directory / f"monitor_{result.version}_{stamp}_{number}.md"
        number += 1
    atomic_write_text(path, markdown)
    return path


# --------------------------------------------------------------------------- compare


@attrs.frozen
class CompareResult:
    """What ``compare`` scored: which trades, and the comparison of A and B on them.

    Attributes
    ----------
    data : Path
        The trades file.
    since : float or None
        The ``since`` bound (epoch seconds), when the trades were selected by time.
    last : int
        How many of the most recent trades were asked for otherwise.
    times : array of float
        Close times of the scored trades.
    comparison : VersionComparison
        The scores, conclusion and caveats.
    """

    data: Path
    since: float | None
    last: int
    times: npt.NDArray[np.float64] = attrs.field(eq=ARRAY_EQ)
    comparison: VersionComparison


def _forecast(
    label: str, config: CalibrationConfig, batch: TradeBatch, rows: npt.NDArray[np.intp]
) -> VersionForecast:
    fitted_until = epoch_seconds(config.created_at)
    return VersionForecast(
        label=label,
        version=config.version,
        created_at=config.created_at,
        # An unparseable created_at cannot prove any trade is out of sample.
        fitted_until=math.inf if fitted_until is None else fitted_until,
        calibrated=_calibrate(config, batch, rows),
        weights=tuple(config.weights.weights) if config.weights.enabled else None,
    )


def compare_references(
    paths: Paths,
    a: str,
    b: str,
    *,
    since: float | None,
    last: int,
    now: Callable[[], datetime],
) -> CompareResult:
    """Score two versions on the same recent trades.

    Parameters
    ----------
    paths, now
        As for `monitor_version`.
    a, b : str
        ``live``, an archived version or a job id (its proposed config).
    since : float, optional
        Score every trade closed at or after this time (epoch seconds) ...
    last : int
        ... else the ``last`` most recent trades.

    Returns
    -------
    CompareResult

    Raises
    ------
    JobRefusedError
        An invalid or unknown version, or no live config for ``live``.
    ConfigRejectedError
        A config that does not parse.
    DataIntegrityError
        A bad trades file, or no trades in the selection.
    """
    live = read_live(paths) if "live" in (a, b) else None
    label_a, config_a = resolve_reference(paths, a, live=live)
    label_b, config_b = resolve_reference(paths, b, live=live)
    batch = read_trades(paths.data)
    refuse_future_closes(batch, now().timestamp())  # nor the "most recent" selection
    order = np.argsort(batch.timestamps, kind="stable")
    rows = order[batch.timestamps[order] >= since] if since is not None else order[-last:]
    if rows.size == 0:
        empty = (
            "the file has no trades" if batch.n_trades == 0 else f"none since {iso_utc(since or 0)}"
        )
        raise DataIntegrityError(f"no trades to compare on in {paths.data}: {empty}")
    votes = (
        MemberVotes(batch.model_names, batch.model_actions[rows], batch.sides[rows])
        if batch.has_model_breakdown
        else None
    )
    comparison = compare_versions(
        batch.wins[rows],
        batch.confidence[rows],
        batch.timestamps[rows],
        _forecast(label_a, config_a, batch, rows),
        _forecast(label_b, config_b, batch, rows),
        votes=votes,
    )
    return CompareResult(paths.data, since, last, batch.timestamps[rows], comparison)
