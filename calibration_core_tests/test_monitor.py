"""The post-apply watch rules: synthetic regressions, non-regressions and too little data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibration_core.exceptions import InvalidInputError
from calibration_core.monitor import (
    MIN_NEW_TRADES,
    VERDICT_OK,
    VERDICT_ROLLBACK,
    VERDICT_WATCH,
    WindowData,
    evaluate_monitor,
)


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
