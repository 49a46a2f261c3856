"""Scoring two versions on the same trades: the pure comparison and the `compare` job."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import given, strategies as st

from calibration_core.core.metrics import brier_score, expected_calibration_error, log_loss
from calibration_core.core.version_scoring import (
    MIN_OUT_OF_SAMPLE_TRADES,
    MemberVotes,
    VersionForecast,
    compare_versions,
)
from calibration_core.exceptions import InvalidInputError
from calibration_core_tests.deploy_helpers import DEFAULT_WEIGHTS, make_tree
from calibration_core_tests.monitor_helpers import (
    DEPLOY_A,
    DEPLOY_B,
    A,
    B,
    deploy_at,
    trade_records,
    write_jsonl,
)

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

    from calibration_core_tests.deploy_helpers import DeployTree

LGBM_HEAVY = {"xgb": 0.20, "lgbm": 0.40, "nhits": 0.20, "patchtst": 0.20}


def _forecast(
    p: np.ndarray,
    *,
    version: str = A,
    fitted_until: float = -math.inf,
    weights: dict[str, float] | None = None,
) -> VersionForecast:
    return VersionForecast(
        label=f"archive {version}",
        version=version,
        created_at="2026-01-01T00:00:00+00:00",
        fitted_until=fitted_until,
        calibrated=p,
        weights=None if weights is None else tuple(weights.items()),
    )


def _trades(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return wins at a 45 % rate, an over-confident raw confidence, and times 0..n-1."""
    rng = np.random.default_rng(seed)
    wins = rng.random(n) < 0.45
    raw = np.clip(0.75 + rng.normal(0, 0.05, n), 0.5, 0.95)
    return wins, raw, np.arange(n, dtype=np.float64)


class TestCompareVersions:
    def test_a_version_against_itself_shows_no_difference(self) -> None:
        """Comparing a forecast with itself gives a zero gap and no winner."""
        wins, raw, times = _trades(200, seed=1)
        same = _forecast(raw - 0.1)
        result = compare_versions(wins, raw, times, same, same)
        assert result.mse_difference == 0.0
        assert result.better is None
        assert result.conclusion.startswith("No significant difference")

    def test_an_honest_forecast_beats_an_over_confident_one(self) -> None:
        """Over 400 trades, 0.45 for a 45 % win rate beats 0.75: B is better, beyond noise."""
        wins, raw, times = _trades(400, seed=2)
        result = compare_versions(
            wins, raw, times, _forecast(raw), _forecast(np.full(400, 0.45), version=B)
        )
        assert result.better == "B"
        assert result.mse_difference < -result.noise_band < 0
        assert f"B ({B}) is better than A ({A})" in result.conclusion
        assert not result.caveats

    def test_scores_are_the_metrics_of_the_forecast(self) -> None:
        """MSE, ECE and log loss are exactly the metrics module's, for both sides and raw."""
        wins, raw, times = _trades(120, seed=3)
        p_b = np.clip(raw - 0.2, 0, 1)
        result = compare_versions(wins, raw, times, _forecast(raw - 0.1), _forecast(p_b))
        y = wins.astype(float)
        for scores, p in ((result.raw, raw), (result.a.scores, raw - 0.1), (result.b.scores, p_b)):
            assert scores.mse == pytest.approx(brier_score(y, p))
            assert scores.ece == pytest.approx(expected_calibration_error(y, p, n_bins=10))
            assert scores.log_loss == pytest.approx(log_loss(y, p))
            assert sum(b.count for b in scores.reliability) == 120

    @given(st.integers(min_value=2, max_value=80), st.integers(0, 10_000))
    def test_swapping_the_sides_mirrors_the_result(self, n: int, seed: int) -> None:
        """compare(B, A) has the opposite gap, the same band and the mirrored winner."""
        rng = np.random.default_rng(seed)
        wins = rng.random(n) < 0.5
        times = np.arange(n, dtype=np.float64)
        fa, fb = _forecast(rng.random(n)), _forecast(rng.random(n), version=B)
        ab = compare_versions(wins, fa.calibrated, times, fa, fb)
        ba = compare_versions(wins, fa.calibrated, times, fb, fa)
        assert ab.mse_difference == pytest.approx(-ba.mse_difference, abs=1e-12)
        assert ab.noise_band == pytest.approx(ba.noise_band)
        assert {ab.better, ba.better} in ({None}, {"A", "B"})

    def test_trades_before_a_version_was_created_are_flagged_in_sample(self) -> None:
        """Trades closed before B's created_at may be in its fit: counted and caveated."""
        wins, raw, times = _trades(300, seed=4)
        b = _forecast(np.full(300, 0.45), version=B, fitted_until=199.0)
        result = compare_versions(wins, raw, times, _forecast(raw), b)
        assert (result.a.n_in_sample, result.b.n_in_sample) == (0, 200)
        # The verdict rests on the 100 trades after both versions' data only.
        assert "on the 100 trades after both versions' data" in result.conclusion
        assert "in-sample for B" in result.conclusion
        assert "200 of the 300 trades closed before B" in result.caveats[0]
        assert result.n_out_of_sample == 100
        assert result.out_of_sample_mse is not None
        assert "this is the fair comparison" in result.caveats[-1]

    def test_no_verdict_when_too_few_trades_came_after_both_versions(self) -> None:
        """With only 20 fair trades, an in-sample win is not a verdict: better is None."""
        wins, raw, times = _trades(300, seed=4)
        b = _forecast(np.full(300, 0.45), version=B, fitted_until=279.0)
        result = compare_versions(wins, raw, times, _forecast(raw), b)
        assert result.better is None
        assert result.conclusion.startswith("No fair comparison yet")
        assert "only 20 of 300 trades" in result.conclusion

    def test_too_few_out_of_sample_trades_says_to_compare_later(self) -> None:
        """Below the minimum of trades after both fits, the caveat asks to wait."""
        wins, raw, times = _trades(100, seed=5)
        cut = 100.0 - MIN_OUT_OF_SAMPLE_TRADES  # one trade short of the minimum
        b = _forecast(raw, version=B, fitted_until=cut)
        result = compare_versions(wins, raw, times, _forecast(raw), b)
        assert result.out_of_sample_mse is None
        assert "compare again later with --since 2026-01-01T00:00:00+00:00" in result.caveats[-1]

    def test_weights_that_follow_the_right_model_vote_better(self) -> None:
        """Weights leaning to the always-right model give the higher weighted-vote precision."""
        n = 300
        rng = np.random.default_rng(6)
        wins = rng.random(n) < 0.5
        sides = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
        right = np.where(wins, sides, -sides)
        actions = np.stack([-right, right, sides, np.zeros(n, dtype=np.int8)], axis=1)
        votes = MemberVotes(("xgb", "lgbm", "nhits", "patchtst"), actions, sides)
        raw = np.full(n, 0.6)
        result = compare_versions(
            wins,
            raw,
            np.arange(n, dtype=np.float64),
            _forecast(raw, weights=DEFAULT_WEIGHTS),
            _forecast(raw, version=B, weights=LGBM_HEAVY),
            votes=votes,
        )
        assert result.b.vote_precision == 1.0
        assert result.a.vote_precision == pytest.approx(float(np.mean(wins)))
        assert "B's weights pick the right direction more often" in result.weights_conclusion
        assert ("lgbm", 0.30, 0.40) in result.weights

    def test_weights_are_not_scored_without_votes_or_when_disabled(self) -> None:
        """No model_breakdown, or disabled weights, give a reason instead of a number."""
        wins, raw, times = _trades(50, seed=7)
        result = compare_versions(
            wins, raw, times, _forecast(raw, weights=DEFAULT_WEIGHTS), _forecast(raw, version=B)
        )
        assert math.isnan(result.a.vote_precision)
        assert result.a.vote_note == "not scored: the trades carry no model_breakdown"
        votes = MemberVotes(("xgb",), np.ones((50, 1)), np.ones(50))
        result = compare_versions(
            wins, raw, times, _forecast(raw), _forecast(raw, version=B), votes=votes
        )
        assert "weights disabled" in result.b.vote_note

    def test_one_trade_is_never_significant_and_still_strict_json(self) -> None:
        """A single trade has an infinite noise band; the dict still dumps as strict JSON."""
        result = compare_versions(
            np.array([True]),
            np.array([0.7]),
            np.array([0.0]),
            _forecast(np.array([0.6])),
            _forecast(np.array([0.9]), version=B),
        )
        assert result.better is None
        payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert payload["noise_band"] is None

    @pytest.mark.parametrize(
        ("change", "pattern"),
        [
            ({"wins": np.array([], dtype=bool)}, r"wins must be a non-empty 1-D bool array"),
            ({"wins": np.array([1, 0])}, r"wins must be .*dtype int64"),
            ({"raw": np.array([0.5])}, r"raw_confidence must have shape \(2,\)"),
            ({"times": np.array([0.0, np.inf])}, r"timestamps must be finite"),
            (
                {"a": np.array([0.5, 1.5])},
                r"a.calibrated must be in \[0, 1\] \(got 1.5 at index 1\)",
            ),
            ({"b": np.array([0.5])}, r"b.calibrated must have shape \(2,\)"),
            ({"fitted": math.nan}, r"a.fitted_until must not be NaN"),
        ],
    )
    def test_rejects_bad_input(self, change: dict[str, Any], pattern: str) -> None:
        """Every bad argument is refused with a message naming it."""
        args = {
            "wins": np.array([True, False]),
            "raw": np.array([0.6, 0.7]),
            "times": np.array([0.0, 1.0]),
            "a": np.array([0.5, 0.5]),
            "b": np.array([0.4, 0.4]),
            "fitted": 0.0,
            **change,
        }
        with pytest.raises(InvalidInputError, match=pattern):
            compare_versions(
                args["wins"],
                args["raw"],
                args["times"],
                _forecast(args["a"], fitted_until=args["fitted"]),
                _forecast(args["b"], version=B),
            )


# --------------------------------------------------------------------------- the CLI job


@pytest.fixture
def site(tmp_path: Path) -> DeployTree:
    """Return a tree: A, then B (lgbm-heavy, created mid-data); 300 hourly trades."""
    tree = make_tree(tmp_path / "site")
    deploy_at(tree, A, DEPLOY_A, shift=-0.03)
    deploy_at(
        tree,
        B,
        DEPLOY_B,
        shift=-0.12,
        weights=LGBM_HEAVY,
        created_at=DEPLOY_A + timedelta(hours=100),
    )
    trades = trade_records(
        300, start=DEPLOY_A + timedelta(hours=1), step=timedelta(hours=1), breakdown=True
    )
    write_jsonl(tree.paths.data, trades)
    return tree


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.slow
class TestCompareCli:
    def test_prints_scores_reliability_weights_and_a_caveated_conclusion(
        self, site: DeployTree
    ) -> None:
        """`compare A live` shows every score, the bins, the weights and the in-sample caveat."""
        proc = site.run_cli("compare", A, "live")
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
        for text in (
            f"A = archive {A}   B = live ({B})",
            "all 300 trades (fewer than --last 500)",
            "MSE (Brier)",
            "ECE",
            "log loss",
            "reliability (n, mean predicted → observed win rate)",
            "lgbm         0.300    0.400    +0.100",
            "📌 Conclusion: B",
            "B's weights pick the right direction more often",
            f"100 of the 300 trades closed before B ({B}) was created",
            "--since 2026-02-05T04:00:00+00:00",
        ):
            assert text in out, text

    def test_json_is_one_document_with_both_sides(self, site: DeployTree) -> None:
        """--json prints one strict JSON document with both versions' scores."""
        proc = site.run_cli("compare", A, B, "--json", "--last", "50")
        assert proc.returncode == 0, proc.stderr
        payload = json.loads(proc.stdout)
        assert payload["ok"] is True
        assert payload["trades"]["n"] == 50
        assert (payload["a"]["version"], payload["b"]["version"]) == (A, B)
        assert payload["a"]["n_in_sample"] == 0
        assert payload["b"]["n_in_sample"] == 0  # the last 50 trades all closed after B's fit
        assert {"mse", "ece", "log_loss", "reliability"} <= set(payload["b"]["scores"])

    def test_since_selects_the_trades_after_both_fits(self, site: DeployTree) -> None:
        """`--since` at B's created_at leaves no in-sample trade and no caveat."""
        proc = site.run_cli("compare", A, "live", "--since", "2026-02-05T04:00:01Z", "--json")
        payload = json.loads(proc.stdout)
        assert payload["trades"]["n"] == 200
        assert payload["caveats"] == []

    def test_a_pending_job_is_compared_with_live(self, site: DeployTree) -> None:
        """A job id names the job's proposed config."""
        job = "cal_20260301_000000"
        site.add_job(job)
        proc = site.run_cli("compare", "live", job)
        assert proc.returncode == 0, proc.stderr
        assert f"B = job {job}" in proc.stdout

    @pytest.mark.parametrize(
        ("argv", "code", "message"),
        [
            (["cal_20990101_000000", "live"], 7, "error: unknown version cal_20990101_000000"),
            (["../etc", "live"], 2, "error: argument a: expected `live` or cal_YYYYMMDD_HHMMSS"),
            ([A, B, "--since", "yesterday"], 2, "error: --since must be an ISO-8601 date"),
            ([A, B, "--last", "0"], 2, "error: --last must be at least 1 (got 0)"),
            ([A, B, "--since", "2030-01-01"], 3, "error: no trades to compare on"),
        ],
    )
    def test_bad_input_is_one_line(
        self, site: DeployTree, argv: list[str], code: int, message: str
    ) -> None:
        """Each bad argument exits with its code and one `error:` line."""
        proc = site.run_cli("compare", *argv)
        assert proc.returncode == code, proc.stderr
        assert _error_line(proc).startswith(message)

    def test_bad_trades_file_lists_every_bad_line(self, site: DeployTree) -> None:
        """A trades file with bad lines exits 3 and lists each of them."""
        with site.paths.data.open("a", encoding="utf-8") as handle:
            handle.write("not json\n{}\n")
        proc = site.run_cli("compare", A, B)
        assert proc.returncode == 3
        assert "clm_trades.jsonl:301: not valid JSON" in proc.stderr
        assert "clm_trades.jsonl:302: " in proc.stderr

    def test_no_live_config_is_refused(self, tmp_path: Path) -> None:
        """`live` without a live config is one line, exit 7."""
        tree = make_tree(tmp_path / "empty")
        write_jsonl(tree.paths.data, trade_records(10, start=datetime(2026, 2, 1, tzinfo=UTC)))
        proc = tree.run_cli("compare", "live", A)
        assert proc.returncode == 7
        assert _error_line(proc) == f"error: no live config at {tree.paths.config}"
