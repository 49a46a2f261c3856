"""The post-apply watch rules: synthetic regressions, non-regressions and too little data."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, strategies as st

from calibration_core.core import monitor_rules as monitor_module, version_scoring
from calibration_core.core.monitor_rules import (
    MIN_NEW_TRADES,
    VERDICT_OK,
    VERDICT_ROLLBACK,
    VERDICT_WATCH,
    WindowData,
    evaluate_monitor,
    select_windows,
)
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    from types import ModuleType


def _window(
    n: int,
    *,
    win_rate: float,
    seed: int,
    pnl_shift: float = 0.0,
    calibrated_offset: float = 0.0,
    hold_rate: float | None = None,
) -> WindowData:
    """Build ``n`` over-confident trades whose wins are exactly ``win_rate`` of them."""
    rng = np.random.default_rng(seed)
    n_wins = round(win_rate * n)
    wins = np.zeros(n, dtype=bool)
    wins[:n_wins] = True
    rng.shuffle(wins)
    magnitude = rng.uniform(0.2, 2.0, n)
    pnl = np.where(wins, magnitude, -magnitude) + pnl_shift
    raw = np.clip(0.8 + rng.normal(0, 0.05, n), 0.5, 0.97)  # uninformative, over-confident
    calibrated = np.clip(np.full(n, win_rate) + calibrated_offset + rng.normal(0, 0.02, n), 0, 1)
    holds = None
    if hold_rate is not None:
        holds = rng.random(4 * n) < hold_rate
    return WindowData(pnl, raw, calibrated, holds)


class TestEvaluateMonitor:
    def test_stable_performance_is_ok(self) -> None:
        """Same win rate, same PnL distribution and honest calibration give OK."""
        base = _window(400, win_rate=0.55, seed=1, hold_rate=0.3)
        cur = _window(400, win_rate=0.55, seed=2, hold_rate=0.3)
        verdict = evaluate_monitor(base, cur)
        assert verdict.verdict == VERDICT_OK, verdict.reasons
        assert {c.status for c in verdict.checks} == {"ok"}

    def test_win_rate_collapse_triggers_rollback(self) -> None:
        """A 15 pp win-rate drop over many trades is a regression: ROLLBACK."""
        base = _window(400, win_rate=0.58, seed=3)
        cur = _window(400, win_rate=0.43, seed=4)
        verdict = evaluate_monitor(base, cur)
        assert verdict.verdict == VERDICT_ROLLBACK
        assert any("win rate" in r for r in verdict.reasons)

    def test_hold_rate_surge_triggers_rollback(self) -> None:
        """HOLD rate rising from 20 % to 45 % (more than +50 %) is a regression."""
        base = _window(300, win_rate=0.55, seed=5, hold_rate=0.20)
        cur = _window(300, win_rate=0.55, seed=6, hold_rate=0.45)
        verdict = evaluate_monitor(base, cur)
        assert verdict.verdict == VERDICT_ROLLBACK
        assert any("HOLD rate" in r for r in verdict.reasons)

    def test_calibrated_confidence_out_of_range_triggers_rollback(self) -> None:
        """Calibrated confidence averaging 0.3 is outside 0.50-0.95: ROLLBACK."""
        base = _window(300, win_rate=0.55, seed=7)
        cur = _window(300, win_rate=0.30, seed=8)
        verdict = evaluate_monitor(base, cur)
        assert verdict.verdict == VERDICT_ROLLBACK
        assert any("calibrated confidence" in r for r in verdict.reasons)

    def test_miscalibrated_live_map_triggers_rollback(self) -> None:
        """A live map that is far off the observed win rate scores worse than raw: ROLLBACK."""
        base = _window(300, win_rate=0.55, seed=9)
        cur = _window(300, win_rate=0.55, seed=10, calibrated_offset=0.38)
        verdict = evaluate_monitor(base, cur)
        checks = {c.name: c.status for c in verdict.checks}
        assert checks["live_calibration"] == "rollback"
        assert verdict.verdict == VERDICT_ROLLBACK

    def test_significant_pnl_drift_triggers_rollback(self) -> None:
        """Mean PnL falling by half a baseline sigma over 400 trades is a regression."""
        base = _window(400, win_rate=0.55, seed=11)
        cur = _window(400, win_rate=0.55, seed=12, pnl_shift=-0.6)
        verdict = evaluate_monitor(base, cur)
        checks = {c.name: c.status for c in verdict.checks}
        assert checks["pnl_drift"] == "rollback"

    def test_too_few_new_trades_is_watch_with_count_needed(self) -> None:
        """With 12 trades since the deploy the verdict is WATCH and says 18 more are needed."""
        base = _window(300, win_rate=0.55, seed=13)
        cur = _window(12, win_rate=0.2, seed=14)
        verdict = evaluate_monitor(base, cur)
        assert verdict.verdict == VERDICT_WATCH
        assert verdict.trades_needed == MIN_NEW_TRADES - 12
        assert "18 more needed" in verdict.reasons[0]

    def test_small_noisy_drop_is_watch_not_rollback(self) -> None:
        """A 7 pp drop over only 40 trades is within noise: keep watching."""
        base = _window(400, win_rate=0.55, seed=15)
        cur = _window(40, win_rate=0.475, seed=16)
        verdict = evaluate_monitor(base, cur)
        checks = {c.name: c.status for c in verdict.checks}
        assert checks["win_rate_change"] == "watch"

    def test_rejects_bad_threshold(self) -> None:
        """A non-positive minimum trade count is refused with the argument named."""
        window = _window(50, win_rate=0.5, seed=17)
        with pytest.raises(InvalidInputError, match="min_new_trades"):
            evaluate_monitor(window, window, min_new_trades=0)

    def test_rejects_misaligned_columns(self) -> None:
        """Columns of different lengths are refused, naming the column."""
        with pytest.raises(InvalidInputError, match="raw_confidence"):
            WindowData(np.zeros(3), np.zeros(2), np.zeros(3))

    def test_rejects_non_finite_values(self) -> None:
        """A NaN PnL is refused with its index."""
        with pytest.raises(InvalidInputError, match="index 1"):
            WindowData(np.array([1.0, np.nan]), np.zeros(2), np.zeros(2))

    @given(
        st.integers(min_value=0, max_value=200),
        st.floats(min_value=0.1, max_value=0.9),
        st.integers(min_value=0, max_value=10_000),
    )
    def test_verdict_is_always_one_of_three_with_reasons(
        self, n: int, win_rate: float, seed: int
    ) -> None:
        """Whatever the data, the verdict is OK, WATCH or ROLLBACK and carries reasons."""
        base = _window(200, win_rate=0.55, seed=seed)
        cur = _window(n, win_rate=win_rate, seed=seed + 1)
        verdict = evaluate_monitor(base, cur)
        assert verdict.verdict in {VERDICT_OK, VERDICT_WATCH, VERDICT_ROLLBACK}
        assert verdict.reasons


class TestNoiseRules:
    def test_hold_surge_over_few_signals_is_watch_not_rollback(self) -> None:
        """A HOLD rate doubling over only 12 signals is within noise: keep watching."""
        base = _window(300, win_rate=0.55, seed=21, hold_rate=0.25)
        cur = WindowData(*_columns(300, seed=22), np.array([True] * 6 + [False] * 6))
        checks = {c.name: c for c in evaluate_monitor(base, cur).checks}
        assert checks["hold_rate"].status == "watch"
        assert "within noise" in checks["hold_rate"].message

    def test_hold_surge_is_judged_even_with_too_few_trades(self) -> None:
        """A version that HOLDs everything trades little; the HOLD surge alone gives ROLLBACK."""
        base = _window(300, win_rate=0.55, seed=23, hold_rate=0.2)
        pnl, raw, cal = _columns(5, seed=24)
        cur = WindowData(pnl, raw, cal, np.arange(400) % 10 < 7)  # 70 % HOLD
        verdict = evaluate_monitor(base, cur)
        assert verdict.verdict == VERDICT_ROLLBACK
        assert "HOLD rate" in verdict.reasons[0]
        assert any("25 more needed" in r for r in verdict.reasons)

    def test_too_few_trades_without_hold_surge_stays_watch(self) -> None:
        """With too few trades and a steady HOLD rate the verdict is WATCH with the count."""
        base = _window(300, win_rate=0.55, seed=25, hold_rate=0.2)
        pnl, raw, cal = _columns(5, seed=26)
        verdict = evaluate_monitor(base, WindowData(pnl, raw, cal, np.arange(400) % 5 == 0))
        assert verdict.verdict == VERDICT_WATCH
        assert verdict.trades_needed == 25
        assert [c.status for c in verdict.checks] == ["ok"]

    def test_hold_rate_without_signals_says_which_window_is_empty(self) -> None:
        """A signals log with no signals after the deploy is not judged, and says why."""
        base = _window(100, win_rate=0.55, seed=27, hold_rate=0.2)
        pnl, raw, cal = _columns(100, seed=28)
        cur = WindowData(pnl, raw, cal, np.zeros(0, dtype=bool))
        checks = {c.name: c for c in evaluate_monitor(base, cur).checks}
        assert checks["hold_rate"].message == "HOLD rate not judged: no signals in the new window"

    def test_confidence_outside_range_already_before_is_watch(self) -> None:
        """If the baseline's mean was as far outside 0.50-0.95, rolling back would not help."""
        base = _window(300, win_rate=0.40, seed=29, calibrated_offset=-0.05)
        cur = _window(300, win_rate=0.40, seed=30, calibrated_offset=-0.02)
        checks = {c.name: c for c in evaluate_monitor(base, cur).checks}
        assert checks["confidence_distribution"].status == "watch"
        assert "would not fix it" in checks["confidence_distribution"].message

    def test_pnl_drift_noise_band_counts_the_baseline_too(self) -> None:
        """A drift that beats the new window's noise alone but not both windows' is WATCH."""
        rng = np.random.default_rng(31)
        base_pnl = rng.normal(0.0, 1.0, 40)
        base_pnl = (base_pnl - base_pnl.mean()) / base_pnl.std(ddof=1)
        cur_pnl = np.concatenate([base_pnl] * 10) - 0.35  # 400 trades, drift -0.35 σ
        conf = np.full(40, 0.7)
        base = WindowData(base_pnl, conf, conf)
        cur = WindowData(cur_pnl, np.full(400, 0.7), np.full(400, 0.7))
        check = {c.name: c for c in evaluate_monitor(base, cur).checks}["pnl_drift"]
        # With the 40-trade baseline's own error the band is ±1.96·sqrt(1/40 + 1/400) ≈ ±0.33σ.
        assert check.status == "rollback"
        small = WindowData(cur_pnl[:400] + 0.15, np.full(400, 0.7), np.full(400, 0.7))
        check = {c.name: c for c in evaluate_monitor(base, small).checks}["pnl_drift"]
        # -0.20σ is beyond the new window's own band (±0.098σ) but not the band of both.
        assert check.status == "watch"

    def test_to_dict_is_strict_json(self) -> None:
        """The verdict's dict has no NaN or infinity, so strict JSON can hold it."""
        base = _window(100, win_rate=0.55, seed=32, hold_rate=0.0)
        cur = _window(100, win_rate=0.55, seed=33)  # no signals: HOLD check value NaN
        payload = json.dumps(evaluate_monitor(base, cur).to_dict(), allow_nan=False)
        assert '"hold_rate"' in payload
        surge = WindowData(*_columns(100, seed=34), np.ones(50, dtype=bool))
        json.dumps(evaluate_monitor(base, surge).to_dict(), allow_nan=False)  # rise = inf

    @given(
        st.integers(min_value=30, max_value=300),
        st.floats(min_value=0.2, max_value=0.8),
        st.integers(min_value=0, max_value=10_000),
    )
    def test_identical_windows_never_roll_back(self, n: int, win_rate: float, seed: int) -> None:
        """Judging a window against itself never asks for a rollback."""
        window = _window(n, win_rate=win_rate, seed=seed, hold_rate=0.3)
        assert evaluate_monitor(window, window).verdict != VERDICT_ROLLBACK


def _columns(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    window = _window(n, win_rate=0.55, seed=seed)
    return window.pnl_pct, window.raw_confidence, window.calibrated_confidence


class TestSelectWindows:
    def test_a_version_rolled_back_to_is_not_its_own_baseline(self) -> None:
        """v1 [0,100), v2 [100,140), v1 again from 140: v1's first period is never baseline."""
        t = np.arange(300.0)
        none = np.zeros(t.size, dtype=bool)
        selection = select_windows(
            t, none, none, start=140.0, baseline_size=200, own_earlier=t < 100
        )
        assert t[selection.baseline].tolist() == list(np.arange(100.0, 140.0))
        assert t[selection.new][0] == 140.0

    T = np.arange(10, dtype=np.float64) * 100.0  # 0, 100, ..., 900
    NONE = np.zeros(10, dtype=bool)

    def test_by_time_splits_at_the_deploy(self) -> None:
        """Without tags the window is [start, end) and the baseline is before start."""
        sel = select_windows(self.T, self.NONE, self.NONE, start=500.0)
        assert not sel.tagged
        assert sel.new.tolist() == [5, 6, 7, 8, 9]
        assert sel.baseline.tolist() == [0, 1, 2, 3, 4]

    def test_by_time_stops_at_the_end_of_the_live_period(self) -> None:
        """A version that is no longer live is judged on its own period only."""
        sel = select_windows(self.T, self.NONE, self.NONE, start=300.0, end=600.0)
        assert sel.new.tolist() == [3, 4, 5]
        assert sel.baseline.tolist() == [0, 1, 2]

    def test_baseline_keeps_the_most_recent_rows(self) -> None:
        """The baseline is the most recent ``baseline_size`` rows before the deploy."""
        sel = select_windows(self.T, self.NONE, self.NONE, start=500.0, baseline_size=2)
        assert sel.baseline.tolist() == [3, 4]
        assert sel.n_baseline_candidates == 5

    def test_not_before_trims_the_baseline(self) -> None:
        """Rows older than ``not_before`` leave the baseline."""
        sel = select_windows(self.T, self.NONE, self.NONE, start=500.0, not_before=250.0)
        assert sel.baseline.tolist() == [3, 4]

    def test_tags_decide_when_present(self) -> None:
        """Rows tagged with the version are the window, whenever they closed."""
        judged = np.array([False] * 4 + [True] * 6)
        tagged = np.ones(10, dtype=bool)
        # Row 5 closed after the deploy but opened under the previous version.
        judged[5] = False
        sel = select_windows(self.T, judged, tagged, start=500.0)
        assert sel.tagged
        assert sel.new.tolist() == [4, 6, 7, 8, 9]
        assert sel.baseline.tolist() == [0, 1, 2, 3, 5]

    def test_untagged_rows_after_the_deploy_are_left_out(self) -> None:
        """In tagged mode an untagged row after the deploy cannot be attributed."""
        judged = np.array([False] * 6 + [True] * 4)
        tagged = judged | (np.arange(10) < 3)
        sel = select_windows(self.T, judged, tagged, start=500.0)
        assert sel.new.tolist() == [6, 7, 8, 9]
        assert sel.baseline.tolist() == [0, 1, 2, 3, 4]  # 5 (untagged, after) left out

    def test_tagged_producer_without_rows_of_the_version_gives_an_empty_window(self) -> None:
        """When rows after the deploy carry other tags, the version has no trades yet."""
        tagged = np.ones(10, dtype=bool)
        sel = select_windows(self.T, self.NONE, tagged, start=500.0)
        assert sel.tagged
        assert sel.new.size == 0

    def test_rows_out_of_order_come_back_oldest_first(self) -> None:
        """Indices are returned in time order whatever the file order."""
        times = self.T[::-1].copy()
        sel = select_windows(times, self.NONE, self.NONE, start=500.0)
        assert sel.new.tolist() == [4, 3, 2, 1, 0]
        assert sel.baseline.tolist() == [9, 8, 7, 6, 5]

    @pytest.mark.parametrize(
        ("kwargs", "pattern"),
        [
            (
                {"timestamps": np.array([np.nan])},
                r"timestamps must be finite \(got nan at index 0\)",
            ),
            ({"timestamps": np.zeros((2, 2))}, r"timestamps must be 1-D"),
            ({"judged": np.zeros(3, dtype=bool)}, r"judged must be a bool mask of shape \(1,\)"),
            ({"tagged": np.zeros(1)}, r"tagged must be a bool mask .*float64"),
            ({"start": 5.0, "end": 4.0}, r"start must be finite and <= end"),
            ({"start": float("nan")}, r"start must be finite"),
            ({"baseline_size": 0}, r"baseline_size must be at least 1 \(got 0\)"),
        ],
    )
    def test_rejects_bad_input(self, kwargs: dict[str, object], pattern: str) -> None:
        """Every bad argument is refused with a message naming it."""
        call: dict[str, object] = {
            "timestamps": np.zeros(1),
            "judged": np.zeros(1, dtype=bool),
            "tagged": np.zeros(1, dtype=bool),
            "start": 0.0,
            **kwargs,
        }
        with pytest.raises(InvalidInputError, match=pattern):
            select_windows(
                call.pop("timestamps"),  # type: ignore[arg-type]
                call.pop("judged"),  # type: ignore[arg-type]
                call.pop("tagged"),  # type: ignore[arg-type]
                **call,  # type: ignore[arg-type]
            )

    @given(
        st.lists(st.floats(0, 1000, allow_nan=False), min_size=0, max_size=60),
        st.data(),
    )
    def test_windows_are_disjoint_ordered_and_bounded(
        self, times_list: list[float], data: st.DataObject
    ) -> None:
        """New and baseline never share a row, come oldest first and respect their bounds."""
        times = np.array(times_list, dtype=np.float64)
        n = times.shape[0]
        flags = st.lists(st.booleans(), min_size=n, max_size=n).map(
            lambda xs: np.array(xs, dtype=bool)
        )
        judged = data.draw(flags)
        tagged = judged | data.draw(flags)
        start = data.draw(st.floats(0, 1000))
        end = data.draw(st.floats(start, 2000) | st.just(float("inf")))
        size = data.draw(st.none() | st.integers(1, 20))
        sel = select_windows(times, judged, tagged, start=start, end=end, baseline_size=size)
        assert not set(sel.new.tolist()) & set(sel.baseline.tolist())
        for rows in (sel.new, sel.baseline):
            assert np.all(np.diff(times[rows]) >= 0)
        assert np.all(times[sel.baseline] < end)
        if size is not None:
            assert sel.baseline.size <= size
        if not sel.tagged:
            assert np.all(times[sel.baseline] < start)
            assert np.all((times[sel.new] >= start) & (times[sel.new] < end))
        else:
            assert set(sel.new.tolist()) == set(np.flatnonzero(judged).tolist())


class TestPurity:
    @pytest.mark.parametrize("module", [monitor_module, version_scoring])
    def test_rules_import_no_io(self, module: ModuleType) -> None:
        """The rules are pure: no I/O, clock or thread module, and only pure package modules."""
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        names = [
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        ] + [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
        forbidden = {"os", "pathlib", "json", "time", "datetime", "threading", "logging", "io"}
        assert not [n for n in names if n.split(".")[0] in forbidden]
        own = {n for n in names if n.startswith("calibration_core")}
        assert own <= {
            "calibration_core._arrays",
            "calibration_core.core.ensemble",
            "calibration_core.core.monitor_rules",
            "calibration_core.exceptions",
            "calibration_core.core.metrics",
        }
