"""The post-deployment jobs ``monitor`` and ``compare``: gather the data, apply rules, report."""

# Shell module: it reads the live config, the archive, the audit trail, the trades
# and the optional signals log, turns them into the values of the pure rules in
# monitor.py, prints, writes the Markdown report and, only on a ROLLBACK verdict
# with --auto-rollback, rolls back through deploy.rollback (the locked, audited path).

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from calibration_core.cli.main import (
    EXIT_NEGATIVE,
    EXIT_OK,
    EXIT_ROLLBACK_ADVISED,
)
from calibration_core.cli.monitor import ENV_SIGNALS_PATH
from calibration_core.config import CalibrationConfig, is_valid_version
from calibration_core.core.monitor_rules import (
    VERDICT_OK,
    VERDICT_ROLLBACK,
    MemberVotes,
    MonitorVerdict,
    SignalCheck,
    VersionComparison,
    VersionForecast,
    WindowData,
    WindowSelection,
    compare_versions,
    evaluate_monitor,
    select_windows,
)
from calibration_core.core.weights import ACTION_MISSING
from calibration_core.deploy.deployer import (
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
    InvalidInputError,
    JobRefusedError,
)
from calibration_core.fsio import atomic_write_text
from calibration_core.runtime.loader import Snapshot
from calibration_core.sources.integrity import refuse_future_closes
from calibration_core.sources.signals import read_signals
from calibration_core.sources.trades import read_trades
from calibration_core.text import escape_controls, markdown_cell

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping, Sequence

    import numpy.typing as npt

    from calibration_core.cli.main import JobContext
    from calibration_core.core.monitor_rules import ForecastScores
    from calibration_core.deploy.deployer import AuditTrail, DeployResult, LiveConfig
    from calibration_core.settings import Paths
    from calibration_core.sources.signals import SignalBatch
    from calibration_core.sources.trade_batch import TradeBatch

__all__ = ["MONITOR_ACTOR", "run_compare", "run_monitor"]

MONITOR_ACTOR = "monitor"
"""The ``by`` of an automatic rollback in the audit trail."""

_MAX_REASON_CHARS = 500  # deploy.rollback's limit for the audit reason
_REASON_PREFIX = "rolled back by monitor: "
_LIVE_EVENTS = frozenset({"deploy", "rollback", "recovered"})
_ICONS = {"ok": "✅", "watch": "🟡", "rollback": "🔴"}
_VERDICT_ICONS = {"OK": "🟢", "WATCH": "🟡", "ROLLBACK": "🔴"}


# --------------------------------------------------------------------------- small helpers


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _parse_time(value: object) -> float | None:
    """Return epoch seconds of an ISO-8601 time with a zone, or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if moment.tzinfo is None else moment.timestamp()


def _at_least_one(value: int, flag: str) -> int:
    if value < 1:
        raise InvalidInputError(f"{flag} must be at least 1 (got {value})")
    return value


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


def _tag_masks(
    codes: npt.NDArray[np.int32], names: Sequence[str], version: str
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    judged = codes == names.index(version) if version in names else np.zeros(codes.shape, np.bool_)
    return judged, codes >= 0


# --------------------------------------------------------------------------- the audit timeline


@attrs.frozen
class _Period:
    """When a version was live: from the event that last made it live until the next one."""

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
            at = _parse_time(record.get("at"))
            version = record.get("version")
            if record.get("event") in _LIVE_EVENTS and isinstance(version, str) and at is not None:
                entries.append((at, version, record))
        entries.sort(key=lambda e: e[0])  # stable: same-second events keep file order
        return cls(
            tuple(e[0] for e in entries), tuple(e[1] for e in entries), tuple(e[2] for e in entries)
        )

    def period_of(self, version: str) -> _Period | None:
        last = max((i for i, v in enumerate(self.versions) if v == version), default=None)
        if last is None:
            return None
        end = self.times[last + 1] if last + 1 < len(self.times) else math.inf
        return _Period(self.times[last], end, self.events[last])

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
class _Windows:
    """What the monitor judged: the two windows, their rows and how they were chosen."""

    trades: WindowSelection
    signals: WindowSelection | None
    baseline: WindowData
    current: WindowData
    notes: tuple[str, ...]


@attrs.frozen
class _RollbackOutcome:
    """What --auto-rollback did: a result, or the error that stopped it."""

    result: DeployResult | None
    error: str | None
    exit_code: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": self.result is not None and self.result.changed,
            "result": None if self.result is None else self.result.to_dict(),
            "error": self.error,
            "reason": self.reason,
        }


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


def _signals_path(args: argparse.Namespace) -> Path | None:
    if args.signals is not None:
        if not args.signals.strip():
            raise InvalidInputError("--signals must name a file (got an empty path)")
        return Path(args.signals).absolute()
    value = os.environ.get(ENV_SIGNALS_PATH, "").strip()
    return Path(value).absolute() if value else None


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
    version: str,
    config: CalibrationConfig,
    period: _Period,
    timeline: _Timeline,
    configs: _Configs,
    baseline_size: int,
) -> _Windows:
    notes: list[str] = []
    judged, tagged = _tag_masks(
        batch.calibration_version_codes, batch.calibration_version_names, version
    )
    trades = select_windows(
        batch.timestamps,
        judged,
        tagged,
        start=period.start,
        end=period.end,
        baseline_size=baseline_size,
        own_earlier=timeline.live_earlier(batch.timestamps, version, period.start),
    )
    new = trades.new
    recorded = batch.calibrated_confidence[new]
    computed = np.isnan(recorded)
    current_cal = np.where(computed, _calibrate(config, batch, new), recorded)
    if computed.any():
        notes.append(
            f"{int(computed.sum())} of {new.shape[0]} new trades carry no calibrated_confidence: "
            f"computed with {version}'s map"
        )
    baseline_cal = _calibrated_baseline(batch, trades.baseline, timeline, configs, notes)
    signal_rows: WindowSelection | None = None
    new_flags = base_flags = None
    if signals is not None:
        s_judged, s_tagged = _tag_masks(signals.version_codes, signals.version_names, version)
        oldest = float(batch.timestamps[trades.baseline[0]]) if trades.baseline.size else -math.inf
        signal_rows = select_windows(
            signals.timestamps,
            s_judged,
            s_tagged,
            start=period.start,
            end=period.end,
            not_before=oldest,
            own_earlier=timeline.live_earlier(signals.timestamps, version, period.start),
        )
        flags = signals.hold_flags()
        new_flags, base_flags = flags[signal_rows.new], flags[signal_rows.baseline]
    return _Windows(
        trades=trades,
        signals=signal_rows,
        baseline=WindowData(
            batch.pnl_pct[trades.baseline],
            batch.confidence[trades.baseline],
            baseline_cal,
            base_flags,
        ),
        current=WindowData(batch.pnl_pct[new], batch.confidence[new], current_cal, new_flags),
        notes=tuple(notes),
    )


def _rollback_reason(verdict: MonitorVerdict) -> str:
    reasons = "; ".join(" ".join(r.split()) for r in verdict.reasons)
    text = _REASON_PREFIX + reasons
    if len(text) > _MAX_REASON_CHARS:
        text = text[: _MAX_REASON_CHARS - 1] + "…"
    return text


def _auto_rollback(
    paths: Paths, version: str, verdict: MonitorVerdict, ctx: JobContext, lock_timeout: float
) -> _RollbackOutcome:
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
            now=ctx.now,
            lock_timeout=lock_timeout,
            # Checked again under the deploy lock: a deploy that lands after the
            # check above is never undone by this verdict.
            expected_current=version,
        )
    except CalibrationError as exc:
        return _RollbackOutcome(None, str(exc).splitlines()[0], exc.exit_code, reason)
    return _RollbackOutcome(result, None, None, reason)


def run_monitor(args: argparse.Namespace, ctx: JobContext) -> int:
    """Judge a deployed version (OK / WATCH / ROLLBACK), report it and optionally roll back.

    Exit 0 on OK, 1 on WATCH, 8 on ROLLBACK (also after a successful
    ``--auto-rollback``); a failed auto-rollback returns its own exit code.

    Raises
    ------
    JobRefusedError
        No live config, an invalid or unknown version, no audit record for it,
        no config to apply, or ``--auto-rollback`` for a version that is not live.
    ConfigRejectedError
        The live config or an archived version does not parse.
    DataIntegrityError
        A bad trades file or signals log (every bad line is listed).
    InvalidInputError
        A numeric option below 1.
    """
    paths = ctx.paths
    baseline_size = _at_least_one(args.baseline_trades, "--baseline-trades")
    min_new = _at_least_one(args.min_new_trades, "--min-new-trades")
    signals_path = _signals_path(args)
    live = read_live(paths)
    version = _judged_version(paths, args.since, live)
    is_live = live.version == version
    if args.auto_rollback and not is_live:
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
    refuse_future_closes(batch, ctx.now().timestamp())  # one far-future stamp moves no window
    signals = None if signals_path is None else read_signals(signals_path)
    windows = _gather_windows(
        batch,
        signals,
        version=version,
        config=config,
        period=period,
        timeline=timeline,
        configs=configs,
        baseline_size=baseline_size,
    )
    verdict = evaluate_monitor(windows.baseline, windows.current, min_new_trades=min_new)
    outcome = None
    if args.auto_rollback and verdict.verdict == VERDICT_ROLLBACK:
        outcome = _auto_rollback(paths, version, verdict, ctx, args.lock_timeout)
    exit_code = _exit_code(verdict, outcome)
    view = _MonitorView(
        paths=paths,
        version=version,
        is_live=is_live,
        live_version=live.version,
        period=period,
        batch=batch,
        signals=signals,
        signals_path=signals_path,
        windows=windows,
        verdict=verdict,
        outcome=outcome,
        exit_code=exit_code,
        baseline_size=baseline_size,
        at=ctx.now().astimezone(UTC),
        command=ctx.command,
    )
    report = _write_report(paths.report_dir, view)
    ctx.emit(view.to_dict(report), view.render(report))
    if outcome is not None and outcome.error is not None:
        ctx.stderr.write(f"error: auto-rollback failed: {outcome.error}\n")
    return exit_code


def _exit_code(verdict: MonitorVerdict, outcome: _RollbackOutcome | None) -> int:
    if outcome is not None and outcome.exit_code is not None:
        return outcome.exit_code
    if verdict.verdict == VERDICT_OK:
        return EXIT_OK
    if verdict.verdict == VERDICT_ROLLBACK:
        return EXIT_ROLLBACK_ADVISED
    return EXIT_NEGATIVE


# --------------------------------------------------------------------------- monitor output


def _span(times: npt.NDArray[np.float64]) -> str:
    if times.size == 0:
        return "none"
    return f"{_iso(float(times.min()))} → {_iso(float(times.max()))}"


def _event_text(event: Mapping[str, Any]) -> str:
    kind = event.get("event", "?")
    if kind == "recovered":
        kind = f"recovered ({event.get('as', '?')})"
    by = event.get("approved_by") or event.get("by") or "-"
    return f"{event.get('at', '?')} ({kind} by {by})"


@attrs.frozen
class _MonitorView:
    """Everything the monitor prints and reports, in one place."""

    paths: Paths
    version: str
    is_live: bool
    live_version: str | None
    period: _Period
    batch: TradeBatch
    signals: SignalBatch | None
    signals_path: Path | None
    windows: _Windows
    verdict: MonitorVerdict
    outcome: _RollbackOutcome | None
    exit_code: int
    baseline_size: int
    at: datetime
    command: Callable[..., str]

    def window_lines(self) -> list[tuple[str, str]]:
        trades = self.windows.trades
        times = self.batch.timestamps
        available = (
            f"{trades.n_baseline_candidates} available, limit {self.baseline_size}; "
            f"{_span(times[trades.baseline])}"
        )
        if trades.tagged:
            new = f"{trades.new.size} trades with calibration_version = {self.version}"
            base = f"{trades.baseline.size} most recent trades under other versions ({available})"
        else:
            new = f"{trades.new.size} trades closed since it went live"
            base = f"{trades.baseline.size} most recent trades before it went live ({available})"
        lines = [
            ("went live", _event_text(self.period.event)),
            ("new window", f"{new} ({_span(times[trades.new])})"),
            ("baseline", base),
        ]
        if not math.isinf(self.period.end):
            lines.append(("live until", f"{_iso(self.period.end)} (not live now)"))
        if self.signals is None or self.windows.signals is None:
            lines.append(
                (
                    "signals",
                    f"none (pass --signals or set {ENV_SIGNALS_PATH} to judge the HOLD rate)",
                )
            )
        else:
            rows = self.windows.signals
            how = "by calibration_version" if rows.tagged else "by time"
            counts = f"{rows.new.size} new, {rows.baseline.size} baseline ({how})"
            lines.append(("signals", f"{self.signals_path}: {counts}"))
        lines.extend(("note", note) for note in self.windows.notes)
        return lines

    def next_step(self) -> list[str]:
        verdict = self.verdict.verdict
        if verdict == VERDICT_OK:
            return ["Keep monitoring until 24-48 h have passed since the deploy."]
        if verdict != VERDICT_ROLLBACK:
            return ["Run monitor again later (e.g. hourly from cron)."]
        if self.outcome is None:
            if not self.is_live:
                return [f"{self.version} is no longer live; nothing to roll back."]
            reason = f"monitor ROLLBACK verdict: {self.verdict.reasons[0]}"
            return [
                "Roll back: " + self.command("rollback", "--reason", reason),
                "(or run monitor with --auto-rollback)",
            ]
        return self.rollback_lines(self.outcome)

    def rollback_lines(self, outcome: _RollbackOutcome) -> list[str]:
        if outcome.error is not None:
            return [
                f"❌ Auto-rollback failed: {outcome.error}",
                f"Roll back by hand: {self.command('rollback')} (see `history`)",
            ]
        result = outcome.result
        if result is None or not result.changed:
            target = "-" if result is None else result.version
            return [f"Auto-rollback: {target} was already live; nothing was written."]
        return [
            (
                f"↩️  Auto-rolled back to {result.version} (previous: {result.previous_version}); "
                f"audit: rollback by {result.by} at {result.at}"
            ),
            f"   reload signalled via {self.paths.sentinel}",
        ]

    def render(self, report: Path) -> str:
        where = "live" if self.is_live else f"not live; live is {self.live_version or 'none'}"
        lines = [f"📈 POST-DEPLOY MONITOR — {self.version} ({where})"]
        lines += [f"   {label + ':':<12}{text}" for label, text in self.window_lines()]
        if self.verdict.checks:
            lines.append("")
            lines += [_check_line(c) for c in self.verdict.checks]
        lines += ["", f"{_VERDICT_ICONS[self.verdict.verdict]} Verdict: {self.verdict.verdict}"]
        if self.verdict.verdict == VERDICT_OK:
            unjudged = [c.name for c in self.verdict.checks if "not judged" in c.message]
            judged = "every judged signal is within its threshold"
            lines.append(
                f"   {judged} (not judged: {', '.join(unjudged)})" if unjudged else f"   {judged}"
            )
        else:
            lines += [f"   - {reason}" for reason in self.verdict.reasons]
        lines += [f"   {line}" for line in self.next_step()]
        lines.append(f"   Report: {report}")
        return "\n".join(lines)

    def to_dict(self, report: Path) -> dict[str, Any]:
        times = self.batch.timestamps
        trades = self.windows.trades

        def window(rows: npt.NDArray[np.intp]) -> dict[str, Any]:
            span = times[rows]
            return {
                "n": int(rows.size),
                "first": _iso(float(span.min())) if span.size else None,
                "last": _iso(float(span.max())) if span.size else None,
            }

        signals = self.windows.signals
        verdict = self.verdict.to_dict()
        return {
            "ok": self.outcome is None or self.outcome.error is None,
            "job": "monitor",
            "version": self.version,
            "live": self.is_live,
            "live_version": self.live_version,
            "verdict": self.verdict.verdict,
            "exit_code": self.exit_code,
            "reasons": list(self.verdict.reasons),
            "trades_needed": self.verdict.trades_needed,
            "went_live": {
                "at": _iso(self.period.start),
                "event": self.period.event,
                "until": None if math.isinf(self.period.end) else _iso(self.period.end),
            },
            "windows": {
                "by": "calibration_version" if trades.tagged else "deploy_time",
                "new": window(trades.new),
                "baseline": {
                    **window(trades.baseline),
                    "candidates": trades.n_baseline_candidates,
                    "limit": self.baseline_size,
                },
                "signals": None
                if signals is None
                else {
                    "path": str(self.signals_path),
                    "by": "calibration_version" if signals.tagged else "deploy_time",
                    "new": int(signals.new.size),
                    "baseline": int(signals.baseline.size),
                },
            },
            "checks": verdict["checks"],
            "baseline": verdict["baseline"],
            "current": verdict["current"],
            "notes": list(self.windows.notes),
            "auto_rollback": None if self.outcome is None else self.outcome.to_dict(),
            "report": str(report),
        }

    def markdown(self) -> str:
        v = self.verdict
        lines = [
            f"# Calibration monitor — {self.version}",
            "",
            f"- Generated: {self.at.isoformat(timespec='seconds')}",
            f"- Version: `{self.version}` ({'live' if self.is_live else 'not live'})",
            f"- **Verdict: {v.verdict}** (exit code {self.exit_code})",
            "",
            "## Reasons",
            "",
            *[f"- {reason}" for reason in v.reasons],
            "",
            "## Windows",
            "",
            *[f"- **{label}**: {text}" for label, text in self.window_lines()],
            "",
        ]
        if v.checks:
            lines += ["## Checks", "", "| check | status | message |", "|---|---|---|"]
            lines += [
                f"| {markdown_cell(c.name)} | {c.status} | {markdown_cell(c.message)} |"
                for c in v.checks
            ]
            lines.append("")
        b, c = v.baseline, v.current
        lines += [
            "## Baseline vs new",
            "",
            "| | baseline | new |",
            "|---|---|---|",
            f"| trades | {b.n_trades} | {c.n_trades} |",
            f"| win rate | {_number(b.win_rate, '.1%')} | {_number(c.win_rate, '.1%')} |",
            f"| mean PnL % | {_number(b.mean_pnl, '+.3f')} | {_number(c.mean_pnl, '+.3f')} |",
            f"| PnL std % | {_number(b.std_pnl, '.3f')} | {_number(c.std_pnl, '.3f')} |",
            f"| Brier raw | {_number(b.brier_raw, '.4f')} | {_number(c.brier_raw, '.4f')} |",
            (
                f"| Brier calibrated | {_number(b.brier_calibrated, '.4f')} | "
                f"{_number(c.brier_calibrated, '.4f')} |"
            ),
            (
                f"| calibrated mean | {_number(b.calibrated_mean, '.3f')} | "
                f"{_number(c.calibrated_mean, '.3f')} |"
            ),
            (
                f"| outside 0.50–0.95 | {_number(b.share_outside_range, '.0%')} | "
                f"{_number(c.share_outside_range, '.0%')} |"
            ),
            f"| signals | {b.n_signals} | {c.n_signals} |",
            f"| HOLD rate | {_rate(b.hold_rate)} | {_rate(c.hold_rate)} |",
            "",
            "## Next step",
            "",
            *[f"- {line.strip()}" for line in self.next_step()],
            "",
        ]
        return escape_controls("\n".join(lines))


def _check_line(check: SignalCheck) -> str:
    # A check with no value was not judged (no signals log): neither ✅ nor "ok".
    if math.isnan(check.value):
        return f"   ➖ {check.name:<24} {'skipped':<9} {check.message}"
    return f"   {_ICONS[check.status]} {check.name:<24} {check.status:<9} {check.message}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _number(value: float, spec: str) -> str:
    """Format a window statistic; an empty window has none ("no data")."""
    return "no data" if math.isnan(value) else format(value, spec)


def _write_report(directory: Path, view: _MonitorView) -> Path:
    stamp = view.at.strftime("%Y%m%dT%H%M%SZ")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"monitor_{view.version}_{stamp}.md"
    number = 2
    while path.exists():  # two runs in one second keep both reports
        path = directory / f"monitor_{view.version}_{stamp}_{number}.md"
        number += 1
    atomic_write_text(path, view.markdown())
    return path


# --------------------------------------------------------------------------- compare


def _since_epoch(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"--since must be an ISO-8601 date or time, e.g. 2026-02-10 or "
            f"2026-02-10T12:00:00Z (got {text!r})"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _forecast(
    label: str, config: CalibrationConfig, batch: TradeBatch, rows: npt.NDArray[np.intp]
) -> VersionForecast:
    fitted_until = _parse_time(config.created_at)
    return VersionForecast(
        label=label,
        version=config.version,
        created_at=config.created_at,
        # An unparseable created_at cannot prove any trade is out of sample.
        fitted_until=math.inf if fitted_until is None else fitted_until,
        calibrated=_calibrate(config, batch, rows),
        weights=tuple(config.weights.weights) if config.weights.enabled else None,
    )


def run_compare(args: argparse.Namespace, ctx: JobContext) -> int:
    """Score two versions on the same recent trades and print the comparison.

    Exit 0 when the comparison was made.

    Raises
    ------
    JobRefusedError
        An invalid or unknown version, or no live config for ``live``.
    ConfigRejectedError
        A config that does not parse.
    DataIntegrityError
        A bad trades file, or no trades in the selection.
    InvalidInputError
        ``--last`` below 1 or a ``--since`` that is not ISO-8601.
    """
    paths = ctx.paths
    since = None if args.since is None else _since_epoch(args.since)
    last = _at_least_one(args.last, "--last")
    live = read_live(paths) if "live" in (args.a, args.b) else None
    label_a, config_a = resolve_reference(paths, args.a, live=live)
    label_b, config_b = resolve_reference(paths, args.b, live=live)
    batch = read_trades(paths.data)
    refuse_future_closes(batch, ctx.now().timestamp())  # nor the "most recent" selection
    order = np.argsort(batch.timestamps, kind="stable")
    if since is not None:
        rows = order[batch.timestamps[order] >= since]
        selection = f"every trade closed since {_iso(since)}"
    else:
        rows = order[-last:]
        selection = (
            f"the {last} most recent trades"
            if rows.size == last
            else f"all {rows.size} trades (fewer than --last {last})"
        )
    if rows.size == 0:
        raise DataIntegrityError(
            f"no trades to compare on in {paths.data}: "
            + (
                "the file has no trades"
                if batch.n_trades == 0
                else f"none since {_iso(since or 0)}"
            )
        )
    votes = (
        MemberVotes(batch.model_names, batch.model_actions[rows], batch.sides[rows])
        if batch.has_model_breakdown
        else None
    )
    result = compare_versions(
        batch.wins[rows],
        batch.confidence[rows],
        batch.timestamps[rows],
        _forecast(label_a, config_a, batch, rows),
        _forecast(label_b, config_b, batch, rows),
        votes=votes,
    )
    span = _span(batch.timestamps[rows])
    payload = {
        "ok": True,
        "job": "compare",
        "trades": {"selection": selection, "n": int(rows.size), "span": span},
        **result.to_dict(),
    }
    ctx.emit(payload, _render_compare(result, selection, span, paths))
    return EXIT_OK


def _score_line(name: str, scores: ForecastScores) -> str:
    return f"   {name:<30} {scores.mse:>11.4f} {scores.ece:>8.4f} {scores.log_loss:>9.4f}"


def _reliability_lines(result: VersionComparison) -> list[str]:
    tables = {
        "raw": result.raw.reliability,
        "A": result.a.scores.reliability,
        "B": result.b.scores.reliability,
    }
    edges = sorted({(row.lower, row.upper) for rows in tables.values() for row in rows})
    lines = [
        "   reliability (n, mean predicted → observed win rate)",
        f"   {'bin':<11} {'raw':<20} {'A':<20} {'B':<20}",
    ]
    for lower, upper in edges:
        cells = []
        for rows in tables.values():
            row = next((r for r in rows if (r.lower, r.upper) == (lower, upper)), None)
            cells.append(
                "-"
                if row is None
                else f"{row.count:>4} {row.mean_predicted:.2f}→{row.observed_rate:.2f}"
            )
        lines.append(f"   {lower:.2f}–{upper:.2f}   {cells[0]:<20} {cells[1]:<20} {cells[2]:<20}")
    return lines


def _fmt_weight(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def _render_compare(result: VersionComparison, selection: str, span: str, paths: Paths) -> str:
    a, b = result.a, result.b
    lines = [
        f"⚖️  COMPARE  A = {a.label}   B = {b.label}",
        f"   trades: {selection} in {paths.data} ({span})",
        "",
        f"   {'scores':<30} {'MSE (Brier)':>11} {'ECE':>8} {'log loss':>9}",
        _score_line("raw confidence", result.raw),
        _score_line(f"A {a.version}", a.scores),
        _score_line(f"B {b.version}", b.scores),
        "",
        *_reliability_lines(result),
        "",
        f"   {'weights':<12} {'A':<8} {'B':<8} Δ",
    ]
    for model, wa, wb in result.weights:
        delta = "" if wa is None or wb is None else f"{wb - wa:+.3f}"
        lines.append(f"   {model:<12} {_fmt_weight(wa):<8} {_fmt_weight(wb):<8} {delta}")
    if not result.weights:
        lines.append("   (neither version enables ensemble weights)")
    lines += [
        "",
        f"📌 Conclusion: {result.conclusion}",
        f"   {result.weights_conclusion}",
    ]
    lines += [f"   ⚠️  {caveat}" for caveat in result.caveats]
    return "\n".join(lines)
