"""The monitor's shell: calibrated confidence per version, the audit timeline, archive reads."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import attrs
import numpy as np
import pytest

from calibration_core import deploy
from calibration_core.cli import monitor as cli_monitor
from calibration_core.cli.main import JobContext
from calibration_core.cli.monitor import ENV_SIGNALS_PATH
from calibration_core.config import (
    ConfidenceMap,
    ConsensusMultipliers,
    PerSymbolMaps,
)
from calibration_core.core.monitor_rules import (
    VERDICT_ROLLBACK,
    MonitorVerdict,
    WindowData,
    WindowStats,
)
from calibration_core.deploy import AuditTrail
from calibration_core.exceptions import ConfigRejectedError, JobRefusedError
from calibration_core.jobs import monitor as monitoring
from calibration_core.runtime.snapshot import Snapshot
from calibration_core.sources.trades import read_trades
from calibration_core_tests.deploy_helpers import KNOTS, make_config, make_tree
from calibration_core_tests.monitor_helpers import (
    DEPLOY_A,
    DEPLOY_B,
    A,
    B,
    C,
    deploy_at,
    monitor_tree,
    trade_records,
    write_jsonl,
)

if TYPE_CHECKING:
    from pathlib import Path

    from calibration_core.sources.trade_batch import TradeBatch
    from calibration_core_tests.deploy_helpers import DeployTree

MOMENT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _batch(tmp_path: Path, records: list[dict[str, object]]) -> TradeBatch:
    return read_trades(write_jsonl(tmp_path / "trades.jsonl", records))


def _all_rows(batch: TradeBatch) -> np.ndarray:
    return np.arange(batch.n_trades, dtype=np.intp)


def _args(**changes: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "since": None,
        "auto_rollback": False,
        "baseline_trades": 200,
        "min_new_trades": 30,
        "signals": None,
        "lock_timeout": 5.0,
        **changes,
    }
    return argparse.Namespace(**values)


def _context(tree: DeployTree, *, now: datetime = MOMENT) -> JobContext:
    return JobContext(
        paths=tree.paths,
        as_json=False,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin=io.StringIO(),
        now=lambda: now,
    )


class TestCalibrate:
    def test_applies_per_symbol_maps_and_consensus_like_the_runtime(self, tmp_path: Path) -> None:
        """The reconstructed confidence is the loader's, symbol by symbol, times the multiplier."""
        btc = ConfidenceMap(
            enabled=True, thresholds=KNOTS, values=(0.0, 0.45, 0.5, 0.6, 0.7, 0.8, 1.0)
        )
        config = attrs.evolve(
            make_config(A, shift=-0.05),
            per_symbol=PerSymbolMaps(enabled=True, maps=(("BTCUSDT", btc),)),
            consensus=ConsensusMultipliers(
                enabled=True,
                multipliers=(("unanimous", 1.2), ("strong", 1.1), ("split", 0.9), ("weak", 0.8)),
            ),
        )
        batch = _batch(tmp_path, trade_records(30, start=DEPLOY_A, breakdown=True))
        got = monitoring._calibrate(config, batch, _all_rows(batch))
        snap = Snapshot.from_config(config)
        symbols = [batch.symbol_names[c] for c in batch.symbol_codes]
        # Every trade recorded 2 of 4 models with its side: the "split" bucket.
        expected = [
            min(1.0, snap.apply(float(c), s) * snap.consensus_multiplier(2, 4))
            for c, s in zip(batch.confidence, symbols, strict=True)
        ]
        np.testing.assert_allclose(got, expected)
        assert {"BTCUSDT", "ETHUSDT"} <= set(symbols)

    def test_no_config_means_raw_confidence(self, tmp_path: Path) -> None:
        """Before any version was live the engine used the raw confidence."""
        batch = _batch(tmp_path, trade_records(7, start=DEPLOY_A))
        np.testing.assert_array_equal(
            monitoring._calibrate(None, batch, _all_rows(batch)), batch.confidence
        )


class TestTimeline:
    RECORDS = (
        {"event": "deploy", "version": A, "at": "2026-02-01T00:00:00+00:00"},
        {"event": "abort", "job_id": C, "at": "2026-02-02T00:00:00+00:00"},
        {"event": "deploy", "version": B, "at": "2026-02-10T00:00:00+00:00"},
        {"event": "rollback", "version": A, "at": "2026-02-12T00:00:00+00:00"},
        {"event": "deploy", "version": C, "at": "not a time"},
    )

    def test_period_is_the_last_time_a_version_went_live(self) -> None:
        """A went live twice: its period starts at the rollback and is still open."""
        timeline = monitoring._Timeline.of(AuditTrail(records=self.RECORDS))
        period = timeline.period_of(A)
        assert period is not None
        assert period.start == datetime(2026, 2, 12, tzinfo=UTC).timestamp()
        assert period.end == float("inf")
        assert period.event["event"] == "rollback"

    def test_a_replaced_version_ends_at_the_next_event(self) -> None:
        """B was live from its deploy until the rollback."""
        period = monitoring._Timeline.of(AuditTrail(records=self.RECORDS)).period_of(B)
        assert period is not None
        assert period.end == datetime(2026, 2, 12, tzinfo=UTC).timestamp()

    def test_unknown_or_unparseable_versions_have_no_period(self) -> None:
        """A record without a readable time is not evidence of when a version went live."""
        timeline = monitoring._Timeline.of(AuditTrail(records=self.RECORDS))
        assert timeline.period_of(C) is None

    def test_version_at_looks_up_what_was_live(self) -> None:
        """Each time maps to the version live then, None before the first deploy."""
        timeline = monitoring._Timeline.of(AuditTrail(records=self.RECORDS))
        times = np.array(
            [datetime(2026, 1, 1, tzinfo=UTC).timestamp()]
            + [datetime(2026, 2, d, tzinfo=UTC).timestamp() for d in (1, 11, 13)]
        )
        assert timeline.version_at(times) == [None, A, B, A]


class TestBaselineConfidence:
    def test_each_baseline_trade_uses_what_was_live_when_it_closed(self, tmp_path: Path) -> None:
        """Before A: raw; under A: A's map; a recorded value and a tag win over the timeline."""
        tree = monitor_tree(tmp_path / "site")
        before = trade_records(3, start=DEPLOY_A - timedelta(days=1))
        under_a = trade_records(3, start=DEPLOY_A + timedelta(hours=1))
        recorded = trade_records(1, start=DEPLOY_A + timedelta(hours=5), calibrated=0.123)
        tagged_b = trade_records(1, start=DEPLOY_A + timedelta(hours=6), version=B)
        batch = _batch(tmp_path, before + under_a + recorded + tagged_b)
        configs = monitoring._Configs(tree.paths, deploy.read_live(tree.paths))
        timeline = monitoring._Timeline.of(deploy.read_audit(tree.paths))
        notes: list[str] = []
        got = monitoring._calibrated_baseline(batch, _all_rows(batch), timeline, configs, notes)
        snap_a = Snapshot.from_config(make_config(A, shift=-0.03))
        snap_b = Snapshot.from_config(make_config(B, shift=-0.05))
        conf = batch.confidence
        np.testing.assert_allclose(got[:3], conf[:3])
        np.testing.assert_allclose(got[3:6], snap_a.apply_batch(conf[3:6]))
        assert got[6] == 0.123
        assert got[7] == pytest.approx(snap_b.apply(float(conf[7])))
        assert notes == []

    def test_a_version_missing_from_the_archive_falls_back_to_raw_with_a_note(
        self, tmp_path: Path
    ) -> None:
        """A baseline version with no archive entry is said, and raw confidence is used."""
        tree = monitor_tree(tmp_path / "site")
        (tree.paths.archive_dir / f"{A}.json").unlink()
        batch = _batch(tmp_path, trade_records(4, start=DEPLOY_A + timedelta(hours=1)))
        configs = monitoring._Configs(tree.paths, deploy.read_live(tree.paths))
        timeline = monitoring._Timeline.of(deploy.read_audit(tree.paths))
        notes: list[str] = []
        got = monitoring._calibrated_baseline(batch, _all_rows(batch), timeline, configs, notes)
        np.testing.assert_allclose(got, batch.confidence)
        assert notes == [f"no archived copy of {A}: its 4 baseline trades use the raw confidence"]


class TestReadArchivedFromTheMonitor:
    def test_missing_entry_is_none(self, tmp_path: Path) -> None:
        """No archive entry: None, for the caller to explain."""
        tree = monitor_tree(tmp_path / "site")
        assert deploy.read_archived(tree.paths, C) is None

    def test_symlink_is_refused_not_followed(self, tmp_path: Path) -> None:
        """A symlink planted in the archive is refused."""
        tree = monitor_tree(tmp_path / "site")
        (tree.paths.archive_dir / f"{C}.json").symlink_to(tree.paths.archive_dir / f"{A}.json")
        with pytest.raises(JobRefusedError, match="it is a symlink"):
            deploy.read_archived(tree.paths, C)

    def test_corrupt_or_mislabelled_entries_are_rejected(self, tmp_path: Path) -> None:
        """A corrupt entry, or one holding another version, is a ConfigRejectedError."""
        tree = monitor_tree(tmp_path / "site")
        (tree.paths.archive_dir / f"{C}.json").write_text("{", encoding="utf-8")
        with pytest.raises(ConfigRejectedError, match=f"archived version {C} is corrupt"):
            deploy.read_archived(tree.paths, C)
        (tree.paths.archive_dir / f"{C}.json").write_text(
            make_config(A).to_json(), encoding="utf-8"
        )
        with pytest.raises(ConfigRejectedError, match=f"holds version {A}, not {C}"):
            deploy.read_archived(tree.paths, C)


def _verdict(*reasons: str) -> MonitorVerdict:
    empty = WindowStats.of(WindowData([], [], []))
    return MonitorVerdict(VERDICT_ROLLBACK, reasons, (), empty, empty, 0)


class TestAutoRollback:
    def test_reason_is_one_line_within_the_audit_limit(self) -> None:
        """The audit reason starts with "rolled back by monitor:", fits 500 chars, no newline."""
        reason = monitoring._rollback_reason(_verdict("win rate\ndropped", "x" * 900))
        assert reason.startswith("rolled back by monitor: win rate dropped; xxx")
        assert len(reason) == 500
        assert reason.endswith("…")
        assert "\n" not in reason

    def test_never_rolls_back_a_version_that_is_no_longer_live(self, tmp_path: Path) -> None:
        """If C went live after B was judged, the monitor's rollback refuses and changes nothing."""
        tree = monitor_tree(tmp_path / "site")
        deploy_at(tree, C, DEPLOY_B + timedelta(days=1), shift=-0.01)
        before = tree.live_bytes()
        outcome = monitoring._auto_rollback(
            tree.paths, B, _verdict("win rate dropped"), _context(tree).now, 1.0
        )
        assert outcome.result is None
        assert isinstance(outcome.failure, JobRefusedError)
        assert outcome.failure.exit_code == 7
        assert outcome.error is not None
        assert outcome.error.startswith(f"the live version changed to {C} while {B} was judged")
        assert tree.live_bytes() == before


class TestRunMonitor:
    def test_two_runs_in_one_second_keep_both_reports(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Reports are never overwritten: the second gets a ``_2`` suffix."""
        monkeypatch.delenv(ENV_SIGNALS_PATH, raising=False)
        tree = monitor_tree(tmp_path / "site")
        write_jsonl(tree.paths.data, trade_records(40, start=DEPLOY_A + timedelta(hours=1)))
        for _ in range(2):
            ctx = _context(tree)
            assert cli_monitor.run_monitor(_args(), ctx) == 1  # WATCH: no trade since B
        names = sorted(p.name for p in tree.paths.report_dir.glob("monitor_*.md"))
        assert names == [f"monitor_{B}_20260301T120000Z.md", f"monitor_{B}_20260301T120000Z_2.md"]

    def test_baseline_limit_keeps_the_most_recent_trades(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--baseline-trades N keeps the N trades closest to the deploy."""
        monkeypatch.delenv(ENV_SIGNALS_PATH, raising=False)
        tree = monitor_tree(tmp_path / "site")
        write_jsonl(tree.paths.data, trade_records(90, start=DEPLOY_A + timedelta(hours=1)))
        ctx = _context(tree)
        cli_monitor.run_monitor(_args(baseline_trades=50), ctx)
        out = ctx.stdout.getvalue()  # type: ignore[attr-defined]
        assert "50 most recent trades before it went live (90 available, limit 50;" in out
        # 90 trades every 30 min from 01:00: the last 50 start with the 41st, at 21:00.
        assert "2026-02-01T21:00:00+00:00 → 2026-02-02T21:30:00+00:00" in out

    def test_a_failed_auto_rollback_is_its_own_outcome_and_exit_code(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Only A was deployed: ROLLBACK_FAILED, exit 7, "ok": false, the error on stderr."""
        monkeypatch.delenv(ENV_SIGNALS_PATH, raising=False)
        tree = make_tree(tmp_path / "single")
        deploy_at(tree, A, DEPLOY_B, shift=-0.03)
        before = trade_records(200, start=DEPLOY_A, step=timedelta(minutes=40))
        after = trade_records(100, start=DEPLOY_B + timedelta(minutes=5), win_rate=0.30)
        write_jsonl(tree.paths.data, before + after)
        result = monitoring.monitor_version(
            tree.paths,
            since=None,
            baseline_trades=200,
            min_new_trades=30,
            signals_path=None,
            auto_rollback=True,
            lock_timeout=1.0,
            now=lambda: MOMENT,
        )
        assert (result.verdict.verdict, result.outcome) == (VERDICT_ROLLBACK, "ROLLBACK_FAILED")
        ctx = attrs.evolve(_context(tree), as_json=True)
        assert cli_monitor.run_monitor(_args(auto_rollback=True), ctx) == 7
        payload = json.loads(ctx.stdout.getvalue())  # type: ignore[attr-defined]
        assert (payload["ok"], payload["verdict"], payload["exit_code"]) == (False, "ROLLBACK", 7)
        assert payload["auto_rollback"]["done"] is False
        assert payload["auto_rollback"]["error"].startswith("no earlier version to roll back to")
        assert ctx.stderr.getvalue().startswith(  # type: ignore[attr-defined]
            "error: auto-rollback failed: no earlier version"
        )
        assert tree.live_version() == A


class TestTimelineLiveEarlier:
    def test_rows_of_an_earlier_period_of_the_judged_version_are_marked(self) -> None:
        """A → B → A: rows that closed under A's first period are A's own, not baseline."""
        timeline = monitoring._Timeline(
            times=(0.0, 100.0, 140.0), versions=(A, B, A), events=({}, {}, {})
        )
        marked = timeline.live_earlier(np.arange(300.0), A, 140.0)
        assert np.flatnonzero(marked).tolist() == list(range(100))
