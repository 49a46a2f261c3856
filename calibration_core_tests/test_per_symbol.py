"""Tests of per-symbol calibration: selection out of sample, the config section, the runtime."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from calibration_core.config import CalibrationConfig, ConfidenceMap, PerSymbolMaps
from calibration_core.constants import MAX_CONFIDENCE_CHANGE, MIN_CONFIDENCE_IMPROVEMENT
from calibration_core.core.holdout import MIN_FOLD_TRADES
from calibration_core.core.isotonic import bound_confidence_change, fit_isotonic
from calibration_core.core.metrics import brier_score
from calibration_core.core.per_symbol import PER_SYMBOL_NOT_REQUESTED, evaluate_per_symbol
from calibration_core.core.proposal import Proposal, build_proposal
from calibration_core.deploy import approve
from calibration_core.exceptions import InvalidInputError
from calibration_core.runtime.loader import CalibrationLoader
from calibration_core.runtime.snapshot import Snapshot
from calibration_core.settings import resolve_paths

if TYPE_CHECKING:
    from pathlib import Path

JOB = "cal_20260210_143022"
CREATED = "2026-02-10T14:30:22+00:00"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "DOGEUSDT")
ODD = 2  # DOGEUSDT: honest where the others are far over-confident


def mixed_market(
    n_common: int = 800, n_odd: int = 300, seed: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two over-confident symbols and one (code 2) whose confidence is already honest."""
    rng = np.random.default_rng(seed)
    codes = np.array([0] * (n_common // 2) + [1] * (n_common - n_common // 2) + [ODD] * n_odd)
    rng.shuffle(codes)
    confidence = np.round(rng.uniform(0.5, 0.95, codes.size), 4)
    p_win = np.where(codes == ODD, confidence, 0.2 + 0.3 * (confidence - 0.5))
    wins = rng.random(codes.size) < p_win
    pnl = np.where(wins, 1.0, -1.0) * rng.uniform(0.1, 2.0, codes.size)
    return confidence, pnl, codes


def alike_market(n: int = 900, seed: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three symbols drawn from one and the same over-confident process."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 3, n)
    confidence = np.round(rng.uniform(0.5, 0.95, n), 4)
    wins = rng.random(n) < 0.3 + 0.5 * (confidence - 0.5)
    pnl = np.where(wins, 1.0, -1.0) * rng.uniform(0.1, 2.0, n)
    return confidence, pnl, codes


def propose(confidence: np.ndarray, pnl: np.ndarray, codes: np.ndarray, **options: Any) -> Proposal:
    """build_proposal with symbols and the job identity filled in."""
    return build_proposal(
        confidence,
        pnl,
        job_id=JOB,
        created_at=CREATED,
        data_hash="sha256:" + "0" * 64,
        symbol_codes=codes,
        symbol_names=SYMBOLS,
        **options,
    )


def write_trades(path: Path, confidence: np.ndarray, pnl: np.ndarray, codes: np.ndarray) -> None:
    """Write the columns as a valid clm_trades.jsonl, 30 minutes apart, the last one now."""
    # Relative to now: a months-old file is starved, and run refuses it without --force.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30 * len(confidence))
    lines = []
    for i, (c, r, code) in enumerate(zip(confidence, pnl, codes, strict=True)):
        side = "BUY" if i % 2 else "SELL"
        sign = 1.0 if side == "BUY" else -1.0
        pnl_pct = round(float(r), 4)
        record = {
            "timestamp": (start + timedelta(minutes=30 * i)).isoformat(),
            "symbol": SYMBOLS[int(code)],
            "side": side,
            "confidence": float(c),
            "entry_price": 100.0,
            "exit_price": round(100.0 * (1.0 + sign * pnl_pct / 100.0), 6),
            "actual_pnl_pct": pnl_pct,
        }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class TestEvaluatePerSymbol:
    def test_a_symbol_that_behaves_differently_keeps_its_own_map(self) -> None:
        """The honest symbol beats the global map by more than 5 %; the others fall back."""
        x, pnl, codes = mixed_market()
        result = evaluate_per_symbol(x, pnl, codes, SYMBOLS)
        assert result.requested
        assert result.enabled
        assert [s.symbol for s in result.kept] == ["DOGEUSDT"]
        doge = result.kept[0]
        assert doge.brier_symbol < doge.brier_global
        assert doge.improvement >= MIN_CONFIDENCE_IMPROVEMENT
        assert doge.reason.startswith("kept:")
        assert doge.calibration is not None
        assert doge.calibration.max_abs_change() <= MAX_CONFIDENCE_CHANGE + 1e-12
        others = [s for s in result.symbols if not s.kept]
        assert all(s.reason.startswith("fallback:") for s in others)
        assert all(s.calibration is None for s in others)

    def test_rows_are_sorted_by_symbol_and_count_every_trade(self) -> None:
        """One row per symbol, sorted by name, with its trades and win rate."""
        x, pnl, codes = mixed_market()
        rows = evaluate_per_symbol(x, pnl, codes, SYMBOLS).symbols
        assert [r.symbol for r in rows] == sorted(SYMBOLS)
        assert sum(r.n_trades for r in rows) == x.size
        doge = next(r for r in rows if r.symbol == "DOGEUSDT")
        assert doge.win_rate == pytest.approx(float((pnl[codes == ODD] > 0).mean()))

    def test_symbols_from_one_process_all_fall_back(self) -> None:
        """When every symbol behaves alike no symbol map clears the selection."""
        x, pnl, codes = alike_market()
        result = evaluate_per_symbol(x, pnl, codes, SYMBOLS)
        assert result.kept == ()
        assert not result.enabled
        assert "no symbol's own map passed" in result.reason
        assert not result.section().enabled

    def test_too_few_trades_fall_back_with_the_reason(self) -> None:
        """A symbol with fewer than 50 trades is not evaluated and says why."""
        x, pnl, codes = mixed_market(n_common=600, n_odd=40)
        doge = next(
            s for s in evaluate_per_symbol(x, pnl, codes, SYMBOLS).symbols if s.n_trades == 40
        )
        assert not doge.kept
        assert "40 trades, fewer than the 50" in doge.reason
        assert math.isnan(doge.brier_symbol)

    def test_one_sided_symbol_falls_back_with_the_reason(self) -> None:
        """A symbol that (almost) always wins fails the outcome diversity and falls back."""
        x, pnl, codes = mixed_market()
        pnl = np.where(codes == ODD, np.abs(pnl), pnl)
        doge = next(
            s for s in evaluate_per_symbol(x, pnl, codes, SYMBOLS).symbols if s.symbol == "DOGEUSDT"
        )
        assert not doge.kept
        assert "each must be at least 15%" in doge.reason

    def test_a_name_that_cannot_be_a_config_key_falls_back(self) -> None:
        """A symbol whose name the config would reject never gets a map."""
        x, pnl, codes = mixed_market()
        names = ("BTCUSDT", "ETHUSDT", "DOGE USDT")
        odd = next(
            s for s in evaluate_per_symbol(x, pnl, codes, names).symbols if s.symbol == "DOGE USDT"
        )
        assert not odd.kept
        assert "cannot be a config key" in odd.reason

    def test_global_map_is_refitted_on_the_trades_before_each_held_out_chunk(self) -> None:
        """The global map of every fold sees only trades that closed before its test chunk."""
        x, pnl, codes = mixed_market(n_common=300, n_odd=120, seed=3)
        y = (pnl > 0).astype(np.float64)
        doge = next(
            s for s in evaluate_per_symbol(x, pnl, codes, SYMBOLS).symbols if s.symbol == "DOGEUSDT"
        )
        rows = np.flatnonzero(codes == ODD)
        k = min(5, rows.size // MIN_FOLD_TRADES - 1)
        bounds = [(i * rows.size) // (k + 1) for i in range(k + 2)]
        raw, global_, own, held = [], [], [], []
        for i in range(1, k + 1):
            test = rows[bounds[i] : bounds[i + 1]]
            first = rows[bounds[i]]
            g = bound_confidence_change(fit_isotonic(x[:first], y[:first]), MAX_CONFIDENCE_CHANGE)
            s = bound_confidence_change(
                fit_isotonic(x[rows[: bounds[i]]], y[rows[: bounds[i]]]), MAX_CONFIDENCE_CHANGE
            )
            raw.append(x[test])
            global_.append(g.predict(x[test]))
            own.append(s.predict(x[test]))
            held.append(y[test])
        outcomes = np.concatenate(held)
        assert doge.n_folds == k
        assert doge.n_evaluated == outcomes.size
        assert doge.brier_raw == pytest.approx(brier_score(outcomes, np.concatenate(raw)))
        assert doge.brier_global == pytest.approx(brier_score(outcomes, np.concatenate(global_)))
        assert doge.brier_symbol == pytest.approx(brier_score(outcomes, np.concatenate(own)))

    def test_with_the_global_map_disabled_the_fallback_is_raw(self) -> None:
        """Without an enabled global map a symbol map must improve on the raw confidence."""
        x, pnl, codes = mixed_market()
        result = evaluate_per_symbol(x, pnl, codes, SYMBOLS, global_enabled=False)
        for row in result.symbols:
            assert not row.fallback_is_global
            assert row.brier_fallback == row.brier_raw
            if row.kept:
                assert row.improvement >= MIN_CONFIDENCE_IMPROVEMENT
                assert row.brier_symbol < row.brier_global

    @settings(max_examples=25)
    @given(
        seed=st.integers(0, 2**32 - 1),
        slopes=st.lists(st.floats(-0.2, 1.2), min_size=2, max_size=3),
        global_enabled=st.booleans(),
    )
    def test_a_map_is_kept_only_if_it_beats_the_global_map_out_of_sample(
        self, seed: int, slopes: list[float], global_enabled: bool
    ) -> None:
        """Kept ⇒ held-out MSE below the global map's and 5 % below the fallback's."""
        rng = np.random.default_rng(seed)
        n_symbols = len(slopes)
        codes = rng.integers(0, n_symbols, 180 * n_symbols)
        x = np.round(rng.uniform(0.3, 0.95, codes.size), 3)
        p = np.clip(0.5 + np.asarray(slopes)[codes] * (x - 0.5), 0.02, 0.98)
        pnl = np.where(rng.random(codes.size) < p, 1.0, -1.0)
        result = evaluate_per_symbol(
            x, pnl, codes, [f"S{i}" for i in range(n_symbols)], global_enabled=global_enabled
        )
        for row in result.symbols:
            if row.kept:
                assert row.brier_symbol < row.brier_global
                fallback = row.brier_global if global_enabled else row.brier_raw
                assert (fallback - row.brier_symbol) / fallback >= MIN_CONFIDENCE_IMPROVEMENT
            else:
                assert row.calibration is None
        assert result.enabled == bool(result.kept)

    @pytest.mark.parametrize(
        ("codes", "names", "pattern"),
        [
            ([0, 1], ("A", "B"), r"symbol_codes must be integers of shape \(3,\)"),
            ([0.0, 1.0, 0.0], ("A", "B"), "symbol_codes must be integers"),
            ([0, 1, 2], ("A", "B"), r"symbol_codes must index symbol_names \(got codes 0..2"),
            ([0, -1, 1], ("A", "B"), "symbol_codes must index symbol_names"),
        ],
    )
    def test_rejects_bad_symbol_columns(
        self, codes: list[float], names: tuple[str, ...], pattern: str
    ) -> None:
        """Malformed symbol columns are refused with a message naming the argument."""
        with pytest.raises(InvalidInputError, match=pattern):
            evaluate_per_symbol([0.5, 0.6, 0.7], [1.0, -1.0, 1.0], codes, names)


class TestPerSymbolInTheProposal:
    def test_not_requested_keeps_the_section_disabled_and_says_so(self) -> None:
        """Without per_symbol the section is disabled and the reason says it was not requested."""
        x, pnl, codes = mixed_market()
        proposal = propose(x, pnl, codes)
        assert not proposal.per_symbol.requested
        assert proposal.per_symbol.reason == PER_SYMBOL_NOT_REQUESTED
        assert proposal.config.per_symbol == PerSymbolMaps()
        assert not any(c.name.startswith("per_symbol") for c in proposal.validation.checks)

    def test_requested_deploys_only_the_kept_symbols_enabled(self) -> None:
        """The config holds the kept symbol's enabled map, validated like the global one."""
        x, pnl, codes = mixed_market()
        proposal = propose(x, pnl, codes, per_symbol=True)
        section = proposal.config.per_symbol
        assert section.enabled
        assert [symbol for symbol, _ in section.maps] == ["DOGEUSDT"]
        assert section.maps[0][1].enabled
        assert CalibrationConfig.from_json(proposal.config.to_json()) == proposal.config
        names = [c.name for c in proposal.validation.checks]
        assert "per_symbol_change_bound" in names
        assert "no_degradation:oos_brier:DOGEUSDT" in names
        assert proposal.validation.passed
        assert proposal.changes_something

    def test_per_symbol_needs_the_symbol_columns(self) -> None:
        """Asking for per-symbol maps without symbols is a programming error."""
        x, pnl, _ = mixed_market()
        with pytest.raises(InvalidInputError, match="per_symbol needs symbol_codes"):
            build_proposal(x, pnl, job_id=JOB, created_at=CREATED, data_hash="h", per_symbol=True)

    def test_a_live_per_symbol_section_is_never_switched_off_silently(self) -> None:
        """A proposal without per-symbol maps while the live config has them says so."""
        live = CalibrationConfig(
            version="cal_20260201_000000",
            created_at=CREATED,
            per_symbol=PerSymbolMaps(
                enabled=True, maps=(("BTCUSDT", ConfidenceMap(enabled=True)),)
            ),
        )
        x, pnl, codes = mixed_market()
        not_requested = propose(x, pnl, codes, live_config=live)
        assert "the per-symbol maps" in not_requested.turns_off
        assert not_requested.recommendation == "DO NOT APPLY"
        requested = propose(x, pnl, codes, live_config=live, per_symbol=True)
        assert requested.turns_off == ("the per-symbol maps of BTCUSDT",)
        assert any("BTCUSDT" in r for r in requested.do_not_apply_reasons())

    @settings(max_examples=60)
    @given(confidence=st.floats(0.0, 1.0))
    def test_runtime_uses_the_symbol_map_and_the_global_map_for_everyone_else(
        self, confidence: float
    ) -> None:
        """Fallback and unknown symbols get exactly the global map; the kept one its own."""
        snapshot = _SNAPSHOT
        doge = _PROPOSAL.per_symbol.kept[0].calibration
        assert doge is not None
        global_value = snapshot.apply(confidence)
        assert global_value == pytest.approx(float(_PROPOSAL.calibration.predict([confidence])[0]))
        assert snapshot.apply(confidence, "BTCUSDT") == global_value
        assert snapshot.apply(confidence, "ETHUSDT") == global_value
        assert snapshot.apply(confidence, "NEVERSEEN") == global_value
        assert snapshot.apply(confidence, "DOGEUSDT") == pytest.approx(
            float(doge.predict([confidence])[0]), abs=1e-12
        )


_PROPOSAL = propose(*mixed_market(), per_symbol=True)
_SNAPSHOT = Snapshot.from_config(CalibrationConfig.from_json(_PROPOSAL.config.to_json()))


@pytest.mark.slow
class TestEndToEnd:
    def test_run_approve_load_serves_the_symbol_map_and_the_global_map(
        self, tmp_path: Path
    ) -> None:
        """After run --per-symbol and approve, the odd symbol gets its map, the rest the global."""
        x, pnl, codes = mixed_market()
        data = tmp_path / "data" / "clm_trades.jsonl"
        data.parent.mkdir()
        write_trades(data, x, pnl, codes)
        (tmp_path / "config").mkdir()
        config_path = tmp_path / "config" / "calibration.json"
        reports = tmp_path / "reports"
        flags = ["--data", str(data), "--config", str(config_path), "--report-dir", str(reports)]
        env = {k: v for k, v in os.environ.items() if k != "LEARNING_CADENCE_API"}
        result = subprocess.run(
            [sys.executable, "-m", "calibration_core", "run", "--per-symbol", "--json", *flags],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        payload = json.loads(result.stdout)
        assert payload["per_symbol"]["kept"] == ["DOGEUSDT"]
        job_id = payload["job_id"]
        report = json.loads((reports / f"calibration_{job_id}.json").read_text(encoding="utf-8"))
        doge_row = next(r for r in report["per_symbol"]["symbols"] if r["symbol"] == "DOGEUSDT")
        assert doge_row["kept"]
        assert doge_row["oos_mse_symbol"] < doge_row["oos_mse_global"]

        paths = resolve_paths(data=data, config=config_path, report_dir=reports, environ={})
        assert report["summary"]["recommendation"] == "APPROVE CANDIDATE"
        approve(paths, job_id, approved_by="tester", now=datetime.now(UTC))
        loader = CalibrationLoader(config_path, watch="none")
        snapshot = loader.snapshot
        assert snapshot.version == job_id
        assert snapshot.symbols == frozenset({"DOGEUSDT"})

        deployed = CalibrationConfig.from_json(config_path.read_text(encoding="utf-8"))
        doge_map = dict(deployed.per_symbol.maps)["DOGEUSDT"]
        grid = np.linspace(0.0, 1.0, 101)
        expected_doge = np.interp(grid, doge_map.thresholds, doge_map.values)
        expected_global = np.interp(
            grid, deployed.confidence.thresholds, deployed.confidence.values
        )
        doge = [loader.apply_confidence_calibration(c, symbol="DOGEUSDT") for c in grid]
        unknown = [loader.apply_confidence_calibration(c, symbol="SHIBUSDT") for c in grid]
        btc = [loader.apply_confidence_calibration(c, symbol="BTCUSDT") for c in grid]
        np.testing.assert_allclose(doge, expected_doge, atol=1e-12)
        np.testing.assert_allclose(unknown, expected_global, atol=1e-12)
        assert btc == unknown
        # The two maps really differ where it matters: the honest symbol keeps high confidence.
        at_080 = int(np.argmin(np.abs(grid - 0.8)))
        assert doge[at_080] > unknown[at_080] + 0.05
