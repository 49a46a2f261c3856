"""Tests of the pure analysis: out-of-sample evaluation, the proposal, the confidence analysis."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import stats

from calibration_core.config import CalibrationConfig, ConfidenceMap, EnsembleWeights
from calibration_core.constants import MAX_CONFIDENCE_CHANGE, MIN_CONFIDENCE_IMPROVEMENT
from calibration_core.core.confidence_stats import (
    CONFIDENCE_BIN_EDGES,
    analyze_confidence,
    summarize_confidence,
)
from calibration_core.core.consensus import evaluate_consensus
from calibration_core.core.ensemble import choose_current_weights, weighted_vote_precision
from calibration_core.core.gate import paired_gate, t_quantile_95
from calibration_core.core.holdout import (
    MAPPING_GRID,
    compare_metrics,
    confidence_mapping_table,
    evaluate_out_of_sample,
)
from calibration_core.core.isotonic import IsotonicCalibration
from calibration_core.core.per_symbol import evaluate_per_symbol
from calibration_core.core.proposal import (
    Proposal,
    build_proposal,
    confidence_spread_problem,
    trade_age_hours,
)
from calibration_core.core.weights import ACTION_BUY, ACTION_HOLD, ACTION_MISSING, ACTION_SELL
from calibration_core.exceptions import InfeasibleWeightsError, InvalidInputError

MODELS = ("xgb", "lgbm", "nhits", "patchtst")
JOB = "cal_20260210_143022"
CREATED = "2026-02-10T14:30:22+00:00"
DATA_HASH = "sha256:" + "0" * 64


def overconfident(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Confidence whose win rate is far below it, as in the shipped example data."""
    rng = np.random.default_rng(seed)
    confidence = np.round(0.5 + 0.47 * rng.beta(2.0, 2.5, n), 4)
    wins = rng.random(n) < 0.36 + 0.62 * (confidence - 0.5)
    pnl = np.where(wins, 1.0, -1.0) * rng.uniform(0.06, 2.0, n)
    return confidence, pnl


def honest(n: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Confidence that already equals the win probability."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.05, 0.95, n)
    wins = rng.random(n) < confidence
    pnl = np.where(wins, 1.0, -1.0) * rng.uniform(0.06, 2.0, n)
    return confidence, pnl


def votes(pnl: np.ndarray, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Member votes in which lgbm is clearly more precise than xgb."""
    rng = np.random.default_rng(seed)
    n = pnl.size
    sides = np.where(rng.random(n) < 0.55, ACTION_BUY, ACTION_SELL).astype(np.int8)
    win = pnl > 0
    skill = {
        "xgb": (0.62, 0.68),
        "lgbm": (0.82, 0.50),
        "nhits": (0.70, 0.62),
        "patchtst": (0.72, 0.62),
    }
    columns = []
    for name in MODELS:
        on_win, on_loss = skill[name]
        with_side = rng.random(n) < np.where(win, on_win, on_loss)
        hold = rng.random(n) < 0.1
        columns.append(np.where(hold, ACTION_HOLD, np.where(with_side, sides, -sides)))
    return sides, np.stack(columns, axis=1).astype(np.int8)


def even_votes(pnl: np.ndarray, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Member votes in which every model has the same skill: no weight should move."""
    rng = np.random.default_rng(seed)
    n = pnl.size
    sides = np.where(rng.random(n) < 0.55, ACTION_BUY, ACTION_SELL).astype(np.int8)
    with_side = rng.random((n, len(MODELS))) < np.where(pnl > 0, 0.7, 0.6)[:, None]
    actions = np.where(with_side, sides[:, None], -sides[:, None])
    return sides, actions.astype(np.int8)


def live_weights(weights: dict[str, float]) -> CalibrationConfig:
    """Return a live config whose only enabled section is these ensemble weights."""
    return CalibrationConfig(
        version="cal_20260201_000000",
        created_at=CREATED,
        weights=EnsembleWeights(enabled=True, weights=tuple(weights.items())),
    )


def propose(confidence: np.ndarray, pnl: np.ndarray, **options: Any) -> Proposal:
    """build_proposal with the job identity filled in."""
    return build_proposal(
        confidence, pnl, job_id=JOB, created_at=CREATED, data_hash=DATA_HASH, **options
    )


class TestEvaluateOutOfSample:
    @given(
        n=st.integers(40, 160),
        seed=st.integers(0, 2**32 - 1),
        fold=st.integers(1, 5),
    )
    def test_a_fold_never_sees_later_trades(self, n: int, seed: int, fold: int) -> None:
        """Shuffling the trades after a fold's training rows never changes the fold's map."""
        rng = np.random.default_rng(seed)
        x = rng.uniform(0.0, 1.0, n).round(2)
        y = (rng.random(n) < x).astype(np.float64)
        first = evaluate_out_of_sample(x, y)
        fold = min(fold, len(first.folds))
        stop = first.folds[fold - 1].train_stop
        order = np.concatenate([np.arange(stop), stop + rng.permutation(n - stop)])
        second = evaluate_out_of_sample(x[order], y[order])
        assert first.folds[fold - 1].calibration == second.folds[fold - 1].calibration

    @given(n=st.integers(20, 400))
    def test_folds_chain_forward_over_contiguous_chunks(self, n: int) -> None:
        """Each fold trains on everything before its test chunk; the test chunks tile the rest."""
        rng = np.random.default_rng(n)
        result = evaluate_out_of_sample(rng.uniform(0, 1, n), rng.integers(0, 2, n))
        assert result.available
        previous_stop = result.folds[0].train_stop
        assert previous_stop >= 10
        for fold in result.folds:
            assert fold.train_stop == fold.test_start == previous_stop
            assert fold.n_test >= 10
            previous_stop = fold.test_stop
        assert previous_stop == n
        assert result.n_evaluated == n - result.folds[0].train_stop

    def test_pooled_improvement_is_computed_on_held_out_predictions_only(self) -> None:
        """The pooled improvement is 1 - Σ(calibrated - y)² / Σ(raw - y)² over the held-out rows."""
        x, pnl = overconfident(600)
        y = (pnl > 0).astype(np.float64)
        result = evaluate_out_of_sample(x, y)
        expected = 1.0 - np.sum((result.calibrated - result.outcomes) ** 2) / np.sum(
            (result.raw - result.outcomes) ** 2
        )
        assert result.improvement == pytest.approx(expected)
        np.testing.assert_array_equal(result.raw, x[result.folds[0].train_stop :])

    def test_overconfident_confidence_improves_out_of_sample(self) -> None:
        """Systematically overconfident data improves by more than the 5 % gate out of sample."""
        x, pnl = overconfident(3000)
        result = evaluate_out_of_sample(x, (pnl > 0).astype(np.float64))
        assert len(result.folds) == 5
        assert result.improvement > MIN_CONFIDENCE_IMPROVEMENT

    def test_honest_confidence_does_not_pass_the_gate(self) -> None:
        """Already honest confidence gains less than 5 % out of sample."""
        x, pnl = honest(3000)
        result = evaluate_out_of_sample(x, (pnl > 0).astype(np.float64))
        assert result.improvement < MIN_CONFIDENCE_IMPROVEMENT

    def test_every_fold_map_respects_the_bound(self) -> None:
        """Every fold's map moves no confidence by more than ±0.15, like the deployed map."""
        x, pnl = overconfident(500)
        result = evaluate_out_of_sample(x, (pnl > 0).astype(np.float64))
        assert all(f.max_abs_change <= MAX_CONFIDENCE_CHANGE + 1e-12 for f in result.folds)

    def test_few_trades_use_fewer_folds_and_say_why(self) -> None:
        """35 trades allow 2 folds of 10-trade chunks, and the note explains it."""
        x, pnl = overconfident(35)
        result = evaluate_out_of_sample(x, (pnl > 0).astype(np.float64))
        assert len(result.folds) == 2
        assert "only 2 of the 5" in result.note

    def test_too_few_trades_for_any_fold_is_unavailable(self) -> None:
        """With fewer than two chunks' worth of trades there is no estimate and NaN numbers."""
        result = evaluate_out_of_sample([0.6] * 15, [1.0] * 15)
        assert not result.available
        assert math.isnan(result.improvement)
        assert "too few trades" in result.note

    @pytest.mark.parametrize(
        ("x", "y", "options", "error", "pattern"),
        [
            ([0.5, 0.6], [1.0], {}, InvalidInputError, "one length"),
            ([0.5, 1.2], [1.0, 0.0], {}, InvalidInputError, r"confidence must lie in \[0, 1\]"),
            ([0.5, math.nan], [1.0, 0.0], {}, InvalidInputError, "confidence must lie"),
            ([0.5], [1.0], {"n_folds": 0}, InvalidInputError, "n_folds must be >= 1"),
            ([0.5], [1.0], {"min_fold_trades": 0}, InvalidInputError, "min_fold_trades"),
        ],
    )
    def test_rejects_bad_input(
        self,
        x: list[float],
        y: list[float],
        options: dict[str, Any],
        error: type[Exception],
        pattern: str,
    ) -> None:
        """Bad arrays and options are refused with a message naming the argument."""
        with pytest.raises(error, match=pattern):
            evaluate_out_of_sample(x, y, **options)


class TestCompareMetrics:
    def test_scores_match_their_definitions(self) -> None:
        """MSE is the Brier score and log loss the mean negative log-likelihood."""
        result = compare_metrics([0.8, 0.3], [0.7, 0.4], [1.0, 0.0], label="x")
        assert result.raw.mse == pytest.approx((0.2**2 + 0.3**2) / 2)
        assert result.calibrated.log_loss == pytest.approx(-(math.log(0.7) + math.log(0.6)) / 2)
        assert result.mse_improvement == pytest.approx(
            (result.raw.mse - result.calibrated.mse) / result.raw.mse
        )


class TestConfidenceMappingTable:
    def test_identity_map_has_no_adjustments_on_the_grid(self) -> None:
        """The identity map leaves 0.50 … 0.95 unchanged."""
        rows = confidence_mapping_table(IsotonicCalibration.identity())
        assert [r.predicted for r in rows] == pytest.approx(list(MAPPING_GRID))
        assert all(r.adjustment == pytest.approx(0.0) for r in rows)

    def test_rows_follow_the_map(self) -> None:
        """Each row's calibrated value is the map's prediction."""
        calibration = IsotonicCalibration(thresholds=[0.0, 1.0], values=[0.0, 0.9])
        rows = confidence_mapping_table(calibration, grid=(0.5, 0.9))
        assert [r.calibrated for r in rows] == pytest.approx([0.45, 0.81])
        assert rows[1].adjustment == pytest.approx(-0.09)


class TestWeightedVotePrecision:
    def test_counts_right_directions_of_the_weighted_vote(self) -> None:
        """A vote is right when it sides with a win or against a loss; ties take no side."""
        actions = np.array(
            [
                [ACTION_BUY, ACTION_BUY, ACTION_SELL],  # BUY, trade BUY won: right
                [ACTION_BUY, ACTION_SELL, ACTION_HOLD],  # 0.4 - 0.3 > 0: BUY, BUY lost: wrong
                [ACTION_SELL, ACTION_MISSING, ACTION_HOLD],  # SELL, SELL won: right
                [ACTION_HOLD, ACTION_HOLD, ACTION_MISSING],  # tie: no side
            ]
        )
        result = weighted_vote_precision(
            actions, [1, 1, -1, 1], [True, False, True, True], [0.4, 0.3, 0.3]
        )
        assert (result.correct, result.n_sided) == (2, 3)
        assert result.precision == pytest.approx(2 / 3)

    def test_no_side_at_all_gives_nan_precision(self) -> None:
        """When every vote is a tie the precision is undefined."""
        result = weighted_vote_precision([[ACTION_HOLD]], [1], [True], [1.0])
        assert result.n_sided == 0
        assert math.isnan(result.precision)

    def test_rejects_weights_that_do_not_match_the_columns(self) -> None:
        """Three vote columns need three weights."""
        with pytest.raises(InvalidInputError, match="match the weights"):
            weighted_vote_precision([[1, 1, 1]], [1], [True], [0.5, 0.5])


class TestChooseCurrentWeights:
    def live(self, weights: dict[str, float], *, enabled: bool = True) -> CalibrationConfig:
        """Return a live config with these weights."""
        return CalibrationConfig(
            version="cal_20260201_000000",
            created_at=CREATED,
            weights=EnsembleWeights(enabled=enabled, weights=tuple(weights.items())),
        )

    def test_live_weights_for_the_same_models_are_the_start(self) -> None:
        """Enabled live weights naming exactly the traded models are used, in column order."""
        live = self.live({"lgbm": 0.3, "xgb": 0.3, "nhits": 0.2, "patchtst": 0.2})
        weights, source = choose_current_weights(MODELS, live)
        assert list(weights) == list(MODELS)
        assert weights["lgbm"] == 0.3
        assert source == "live config cal_20260201_000000"

    def test_live_weights_for_other_models_fall_back_to_equal(self) -> None:
        """Live weights for a different model set are not used."""
        live = self.live({"a": 0.3, "b": 0.3, "c": 0.4})
        weights, source = choose_current_weights(MODELS, live)
        assert weights == dict.fromkeys(MODELS, 0.25)
        assert "not the models in the trades" in source

    def test_disabled_live_weights_fall_back_to_equal(self) -> None:
        """Disabled live weights are not in force, so equal weights are the start."""
        live = self.live(dict.fromkeys(MODELS, 0.25), enabled=False)
        assert choose_current_weights(MODELS, live)[1].startswith("equal weights")

    def test_infeasible_model_count_raises(self) -> None:
        """Eight models cannot each hold 0.15."""
        with pytest.raises(InfeasibleWeightsError):
            choose_current_weights([f"m{i}" for i in range(8)], None)


class TestBuildProposal:
    def test_overconfident_data_enables_the_map_and_is_pending(self) -> None:
        """A real out-of-sample improvement enables the map and the job may go to a person."""
        x, pnl = overconfident(2000)
        proposal = propose(x, pnl)
        assert proposal.confidence_enabled
        assert proposal.config.confidence.enabled
        assert proposal.acceptable
        assert proposal.recommendation == "APPROVE CANDIDATE"
        assert proposal.out_of_sample.improvement >= MIN_CONFIDENCE_IMPROVEMENT
        assert proposal.in_sample.label == "in-sample (optimistic)"

    def test_proposed_config_is_a_valid_document_named_after_the_job(self) -> None:
        """The proposed config round-trips through JSON and carries the job id and data hash."""
        x, pnl = overconfident(800)
        sides, actions = votes(pnl)
        config = propose(x, pnl, sides=sides, model_names=MODELS, model_actions=actions).config
        assert CalibrationConfig.from_json(config.to_json()) == config
        assert (config.version, config.source_job, config.data_hash) == (JOB, JOB, DATA_HASH)
        assert config.confidence.thresholds[0] == 0.0
        assert config.confidence.thresholds[-1] == 1.0
        assert not config.per_symbol.enabled
        assert not config.consensus.enabled

    def test_skill_differences_move_the_weights_within_bounds(self) -> None:
        """Votes where lgbm beats xgb propose enabled weights favouring lgbm; all checks pass."""
        x, pnl = overconfident(3000)
        sides, actions = votes(pnl)
        proposal = propose(x, pnl, sides=sides, model_names=MODELS, model_actions=actions)
        assert proposal.weights.status == "proposed"
        assert proposal.weights_enabled
        after = proposal.config.weights_dict()
        assert after["lgbm"] > 0.25 > after["xgb"]
        assert sum(after.values()) == pytest.approx(1.0)
        names = [c.name for c in proposal.validation.checks]
        assert "no_degradation:ensemble_vote_precision" in names
        assert proposal.validation.passed

    def test_vote_precision_does_not_degrade_with_the_proposed_weights(self) -> None:
        """Weights that move toward precise models keep the weighted-vote precision."""
        x, pnl = overconfident(3000)
        sides, actions = votes(pnl)
        weights = propose(x, pnl, sides=sides, model_names=MODELS, model_actions=actions).weights
        assert weights.vote_before is not None
        assert weights.vote_after is not None
        assert weights.vote_after.precision >= weights.vote_before.precision

    def test_without_model_breakdown_the_weights_are_skipped_with_the_reason(self) -> None:
        """No member votes: the weight step is skipped and says why."""
        x, pnl = overconfident(600)
        proposal = propose(x, pnl)
        assert proposal.weights.status == "skipped"
        assert "model_breakdown" in proposal.weights.reason
        assert not proposal.config.weights.enabled
        assert not any(c.name.startswith("weight") for c in proposal.validation.checks)

    def test_infeasible_model_count_skips_the_weights_instead_of_failing(self) -> None:
        """Two models cannot satisfy the weight bounds: skipped, with the error as reason."""
        x, pnl = overconfident(600)
        sides, actions = votes(pnl)
        proposal = propose(
            x, pnl, sides=sides, model_names=MODELS[:2], model_actions=actions[:, :2]
        )
        assert proposal.weights.status == "skipped"
        assert "2 models" in proposal.weights.reason

    def test_honest_confidence_disables_the_map_and_rejects_an_empty_proposal(self) -> None:
        """Without an out-of-sample gain and without weight change there is nothing to apply."""
        x, pnl = honest(1500)
        proposal = propose(x, pnl)
        assert not proposal.confidence_enabled
        assert "below the 5% minimum" in proposal.confidence_reason
        assert not proposal.acceptable
        assert any("nothing to apply" in r for r in proposal.rejection_reasons)
        assert proposal.recommendation == "DO NOT APPLY"

    def test_disabled_map_cannot_degrade_the_deployed_confidence(self) -> None:
        """With the map disabled the Brier no-degradation check compares raw with raw."""
        x, pnl = honest(1500)
        check = next(
            c for c in propose(x, pnl).validation.checks if c.name == "no_degradation:oos_brier"
        )
        assert check.passed
        assert check.value == check.threshold

    def test_one_sided_outcomes_fail_validation_and_are_rejected(self) -> None:
        """Wins only: outcome diversity fails (critical), so the job is rejected."""
        x, _ = overconfident(200)
        proposal = propose(x, np.full(200, 1.0))
        assert not proposal.validation.passed
        assert any("outcome_diversity" in r for r in proposal.rejection_reasons)

    def test_forced_job_is_never_an_approve_candidate(self) -> None:
        """A forced job says DO NOT APPLY and names the force as the first reason."""
        x, pnl = overconfident(2000)
        proposal = propose(x, pnl, forced=True)
        assert proposal.acceptable
        assert proposal.recommendation == "DO NOT APPLY"
        assert "FORCED" in proposal.do_not_apply_reasons()[0]

    def test_switching_off_a_live_section_is_a_reason_not_to_apply(self) -> None:
        """A proposal that would disable the live map says so among its reasons."""
        live = CalibrationConfig(
            version="cal_20260201_000000",
            created_at=CREATED,
            confidence=ConfidenceMap(enabled=True),
        )
        x, pnl = honest(1500)
        proposal = propose(x, pnl, live_config=live)
        assert proposal.turns_off == ("the confidence map",)
        assert any("switch off" in r for r in proposal.do_not_apply_reasons())
        assert propose(*overconfident(1500), live_config=live).turns_off == ()

    def test_unchanged_live_weights_are_carried_over_enabled(self) -> None:
        """No weight change for the live models keeps the live weights enabled, as they are."""
        live = live_weights({"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2})
        x, pnl = overconfident(1500)
        sides, actions = even_votes(pnl)
        proposal = propose(
            x, pnl, sides=sides, model_names=MODELS, model_actions=actions, live_config=live
        )
        assert proposal.weights.status == "no_change"
        assert proposal.weights_enabled
        assert proposal.weights_carried_over
        assert proposal.config.weights == live.weights
        assert "the live weights stay enabled, unchanged" in proposal.weights.reason
        assert proposal.turns_off == ()
        assert proposal.recommendation == "APPROVE CANDIDATE"

    def test_carried_weights_alone_are_nothing_to_apply(self) -> None:
        """Live weights carried over are not a change: with nothing else the job is rejected."""
        live = live_weights(dict.fromkeys(MODELS, 0.25))
        x, pnl = honest(1500)
        sides, actions = even_votes(pnl)
        proposal = propose(
            x, pnl, sides=sides, model_names=MODELS, model_actions=actions, live_config=live
        )
        assert proposal.weights_carried_over
        assert proposal.config.weights.enabled
        assert not proposal.changes_something
        assert proposal.turns_off == ()
        assert any("nothing to apply" in r for r in proposal.rejection_reasons)

    def test_live_weights_for_other_models_are_not_carried_and_say_so(self) -> None:
        """Live weights that do not cover the traded models are switched off, never silently."""
        live = live_weights({"a": 0.3, "b": 0.3, "c": 0.4})
        x, pnl = overconfident(1500)
        sides, actions = even_votes(pnl)
        proposal = propose(
            x, pnl, sides=sides, model_names=MODELS, model_actions=actions, live_config=live
        )
        assert not proposal.weights_carried_over
        assert not proposal.config.weights.enabled
        assert proposal.turns_off == ("the ensemble weights",)
        assert proposal.recommendation == "DO NOT APPLY"

    def test_stale_data_is_flagged(self) -> None:
        """A newest trade older than a day is flagged for the reader."""
        x, pnl = overconfident(200)
        assert propose(x, pnl, newest_trade_age_hours=30.0).stale_data
        assert not propose(x, pnl, newest_trade_age_hours=1.0).stale_data

    def test_inputs_are_not_mutated(self) -> None:
        """The caller's arrays are left as they were."""
        x, pnl = overconfident(300)
        x_copy, pnl_copy = x.copy(), pnl.copy()
        propose(x, pnl)
        np.testing.assert_array_equal(x, x_copy)
        np.testing.assert_array_equal(pnl, pnl_copy)


class TestTradeAgeHours:
    def test_age_of_the_newest_trade(self) -> None:
        """The age is measured from the newest close time."""
        assert trade_age_hours([0.0, 7200.0, 3600.0], 10800.0) == pytest.approx(1.0)
        assert trade_age_hours([], 0.0) is None


class TestSummarizeConfidence:
    def test_distribution_matches_numpy(self) -> None:
        """Count, mean, sample std, min, quartiles and max are numpy's."""
        x, pnl = overconfident(500)
        d = summarize_confidence(x, pnl).distribution
        assert d.count == 500
        assert d.mean == pytest.approx(x.mean())
        assert d.std == pytest.approx(x.std(ddof=1))
        assert (d.min, d.max) == (x.min(), x.max())
        assert [d.q25, d.median, d.q75] == pytest.approx(list(np.quantile(x, [0.25, 0.5, 0.75])))

    def test_correlations_match_scipy(self) -> None:
        """Pearson and Spearman with returns and wins agree with scipy.stats."""
        x, pnl = overconfident(500)
        c = summarize_confidence(x, pnl).correlations
        wins = (pnl > 0).astype(float)
        assert c.pearson_returns == pytest.approx(stats.pearsonr(x, pnl)[0])
        assert c.spearman_returns == pytest.approx(stats.spearmanr(x, pnl)[0])
        assert c.pearson_wins == pytest.approx(stats.pearsonr(x, wins)[0])
        assert c.spearman_wins == pytest.approx(stats.spearmanr(x, wins)[0])

    def test_constant_confidence_has_no_correlation(self) -> None:
        """A correlation with a constant is undefined and reported as None."""
        c = summarize_confidence([0.7] * 20, np.linspace(-1, 1, 20)).correlations
        assert c.pearson_returns is None
        assert c.spearman_wins is None

    @given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
    def test_deciles_and_bins_cover_every_trade(self, n: int, seed: int) -> None:
        """Deciles and fixed bins each count every trade exactly once."""
        rng = np.random.default_rng(seed)
        x = rng.choice([0.0, 0.5, 0.55, 0.72, 0.95, 1.0], n)
        summary = summarize_confidence(x, rng.normal(0, 1, n))
        assert sum(b.count for b in summary.deciles) == n
        assert sum(b.count for b in summary.bins) == n
        assert len(summary.bins) == len(CONFIDENCE_BIN_EDGES) - 1
        assert len(summary.deciles) == min(10, n)

    def test_bin_win_rate_and_mean_return(self) -> None:
        """A bin reports its trades' win share and mean return; an empty bin reports None."""
        summary = summarize_confidence([0.52, 0.53, 0.99], [1.0, -3.0, 2.0])
        first = next(b for b in summary.bins if b.lower == 0.50)
        assert (first.count, first.win_rate, first.mean_return) == (2, 0.5, -1.0)
        last = summary.bins[-1]
        assert (last.label, last.count) == ("[0.95, 1.00]", 1)
        assert summary.bins[0].win_rate is None


class TestAnalyzeConfidence:
    def test_per_symbol_summaries_are_sorted_and_complete(self) -> None:
        """Each symbol gets a summary, sorted by name, and their counts add up."""
        x, pnl = overconfident(300)
        codes = np.arange(300) % 3
        analysis = analyze_confidence(x, pnl, codes, ("SOLUSDT", "BTCUSDT", "ETHUSDT"))
        assert [s.scope for s in analysis.per_symbol] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        assert sum(s.distribution.count for s in analysis.per_symbol) == 300
        btc = analysis.per_symbol[0]
        assert btc.distribution.mean == pytest.approx(x[codes == 1].mean())
        assert analysis.overall.scope == "all"

    def test_to_dict_is_strict_json(self) -> None:
        """The export has no NaN (undefined numbers are None)."""
        import json  # noqa: PLC0415 - only this test serialises

        analysis = analyze_confidence([0.6], [1.0], [0], ("BTCUSDT",))
        json.dumps(analysis.to_dict(), allow_nan=False)


class TestVotePrecisionCheckOnTies:
    def test_ties_under_the_current_weights_record_the_real_precision(self) -> None:
        """All votes tie 2-2 under equal weights: the check passes with the new precision."""
        rng = np.random.default_rng(2)
        n = 200
        side = rng.choice([1, -1], n).astype(np.int8)
        won = rng.uniform(size=n) < 0.7
        actions = np.stack([side, side, -side, -side], axis=1).astype(np.int8)
        proposal = build_proposal(
            rng.uniform(0.5, 0.9, n),
            np.where(won, 1.0, -1.0),
            job_id="cal_20260101_000000",
            created_at="2026-01-01T00:00:00+00:00",
            data_hash="sha256:" + "0" * 64,
            sides=side,
            model_names=("a", "b", "c", "d"),
            model_actions=actions,
        )
        (check,) = [c for c in proposal.validation.checks if c.name.endswith("vote_precision")]
        assert proposal.weights.vote_after is not None
        assert check.passed
        assert check.value == pytest.approx(proposal.weights.vote_after.precision)
        assert check.value > 0.0


# --------------------------------------------------------------------------- the gate


class TestGateStatistics:
    @pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 20, 39, 100, 599, 5000])
    def test_t_quantile_matches_scipy(self, df: int) -> None:
        """The Cornish-Fisher t quantile agrees with scipy to 3e-4 (1e-5 from 20 df)."""
        tolerance = 3e-4 if df < 20 else 1e-5
        assert t_quantile_95(df) == pytest.approx(stats.t.ppf(0.95, df), abs=tolerance)

    @given(n=st.integers(5, 300), seed=st.integers(0, 2**32 - 1), shift=st.floats(-0.1, 0.1))
    def test_lower_bound_is_the_one_sided_paired_t_test(
        self, n: int, seed: int, shift: float
    ) -> None:
        """gain_lower > 0 exactly when scipy's one-sided paired t-test rejects at 5 %."""
        rng = np.random.default_rng(seed)
        y = (rng.random(n) < 0.6).astype(np.float64)
        before = rng.uniform(0.3, 0.95, n)
        after = np.clip(before + shift + rng.normal(0, 0.05, n), 0.0, 1.0)
        evidence = paired_gate(before, after, y)
        d = (before - y) ** 2 - (after - y) ** 2
        assert evidence.n == n
        assert evidence.gain == pytest.approx(d.mean() / ((before - y) ** 2).mean())
        if d.std() == 0:
            return
        p_value = stats.ttest_1samp(d, 0.0, alternative="greater").pvalue
        if abs(p_value - 0.05) > 1e-3:
            assert evidence.distinguishable == (p_value < 0.05)

    def test_needed_trades_is_about_where_the_same_effect_becomes_significant(self) -> None:
        """Repeating a sample's differences until ``needed`` makes the effect distinguishable."""
        rng = np.random.default_rng(5)
        n = 40
        y = (rng.random(n) < 0.5).astype(np.float64)
        before = rng.uniform(0.55, 0.9, n)
        after = np.clip(before - 0.03 + rng.normal(0, 0.08, n), 0.0, 1.0)
        small = paired_gate(before, after, y)
        assert small.gain > 0
        assert not small.distinguishable
        assert small.needed is not None
        assert small.needed > n
        assert f"not distinguishable from noise at {n} held-out trades: needs about" in (
            small.summary()
        )
        reps = math.ceil(1.2 * small.needed / n)
        big = paired_gate(np.tile(before, reps), np.tile(after, reps), np.tile(y, reps))
        assert big.distinguishable
        fewer = max(2, math.floor(0.6 * small.needed / n))
        assert not paired_gate(
            np.tile(before, fewer), np.tile(after, fewer), np.tile(y, fewer)
        ).distinguishable

    def test_a_gain_that_is_not_positive_needs_no_number_of_trades(self) -> None:
        """A correction that makes things worse is refused and no M is promised."""
        y = np.array([1.0, 0.0] * 30)
        before = np.where(y == 1.0, 0.7, 0.4)
        evidence = paired_gate(before, before + 0.05, y)
        assert evidence.gain < 0
        assert evidence.needed is None
        assert not evidence.passed
        assert "more trades would not help" in evidence.summary()

    def test_too_few_pairs_or_zero_error_is_refused(self) -> None:
        """One pair or a perfect baseline gives no test: refused, NaN evidence."""
        assert not paired_gate([0.6], [0.5], [0.0]).passed
        assert not paired_gate([1.0, 0.0], [0.9, 0.1], [1.0, 0.0]).passed

    def test_bad_inputs_are_one_line_errors(self) -> None:
        """Shapes and non-finite values are refused by name."""
        with pytest.raises(InvalidInputError, match="one length"):
            paired_gate([0.5, 0.6], [0.5], [1.0, 0.0])
        with pytest.raises(InvalidInputError, match="finite"):
            paired_gate([0.5, math.nan], [0.5, 0.5], [1.0, 0.0])
        with pytest.raises(InvalidInputError, match="degrees of freedom"):
            t_quantile_95(0)


def _market(n: int, seed: int, *, calibrated: bool) -> tuple[np.ndarray, np.ndarray]:
    """``n`` trades then 400 later ones; calibrated or over-confident (0.7-0.95 winning 50 %)."""
    rng = np.random.default_rng(seed)
    total = n + 400
    if calibrated:
        confidence = rng.uniform(0.5, 0.95, total)
        p_win = confidence
    else:
        confidence = rng.uniform(0.7, 0.95, total)
        p_win = np.full(total, 0.5)
    wins = rng.random(total) < p_win
    return confidence, np.where(wins, 1.0, -1.0) * rng.uniform(0.06, 2.0, total)


SIMULATION_SEEDS = range(20)


def _later_briers(proposal: Proposal, x: np.ndarray, pnl: np.ndarray) -> tuple[float, float]:
    """Brier score of raw and of the proposal's map on the later trades."""
    y = (pnl > 0).astype(np.float64)
    mapped = np.asarray(proposal.calibration.predict(x))
    return float(np.mean((x - y) ** 2)), float(np.mean((mapped - y) ** 2))


class TestGateSimulation:
    @pytest.mark.parametrize("n", [50, 60, 80, 120, 200])
    def test_calibrated_data_never_gets_a_harmful_map(self, n: int) -> None:
        """Already-calibrated trades: no enabled map worsens the Brier score of the next 400."""
        harmful = []
        for seed in SIMULATION_SEEDS:
            x, pnl = _market(n, seed, calibrated=True)
            proposal = propose(x[:n], pnl[:n])
            brier_raw, brier_map = _later_briers(proposal, x[n:], pnl[n:])
            if proposal.confidence_enabled and brier_map > brier_raw:
                harmful.append((seed, brier_raw, brier_map))
            gate = proposal.confidence_gate
            if gate is not None and gate.large_enough and not gate.distinguishable:
                assert "not distinguishable from noise" in proposal.confidence_reason
        assert harmful == []

    def test_the_five_percent_rule_alone_fails_the_same_simulation(self) -> None:
        """Without the test, a noise map of >= 5 % held-out gain would be enabled and hurt."""
        harmful_without_test = 0
        for n in (50, 60, 80):
            for seed in SIMULATION_SEEDS:
                x, pnl = _market(n, seed, calibrated=True)
                proposal = propose(x[:n], pnl[:n])
                gate = proposal.confidence_gate
                brier_raw, brier_map = _later_briers(proposal, x[n:], pnl[n:])
                if gate is not None and gate.large_enough and brier_map > brier_raw:
                    assert not proposal.confidence_enabled
                    harmful_without_test += 1
        assert harmful_without_test >= 1

    @pytest.mark.parametrize("n", [200, 300, 500])
    def test_overconfident_data_still_gets_its_map(self, n: int) -> None:
        """Raw 0.7-0.95 winning half the time: the map is enabled from 200 trades on."""
        for seed in SIMULATION_SEEDS:
            x, pnl = _market(n, seed, calibrated=False)
            proposal = propose(x[:n], pnl[:n])
            assert proposal.confidence_enabled, (seed, proposal.confidence_reason)
            assert proposal.confidence_gate is not None
            assert proposal.confidence_gate.gain_lower > 0


class TestSameRuleEverywhere:
    def test_a_symbol_map_whose_gain_is_noise_falls_back(self) -> None:
        """+10.9 % on 50 held-out trades, lower bound below zero: the symbol falls back."""
        rng = np.random.default_rng(16)
        codes = np.array([0] * 100 + [1] * 60)
        rng.shuffle(codes)
        x = rng.uniform(0.5, 0.95, codes.size)
        p_win = np.where(codes == 1, 0.5 + 0.6 * (x - 0.5), x)  # BUSDT over-confident
        pnl = np.where(rng.random(codes.size) < p_win, 1.0, -1.0)
        analysis = evaluate_per_symbol(x, pnl, codes, ["AUSDT", "BUSDT"], global_enabled=False)
        row = analysis.symbols[1]
        assert row.symbol == "BUSDT"
        assert row.improvement >= MIN_CONFIDENCE_IMPROVEMENT
        assert row.brier_symbol < row.brier_global
        assert not row.kept
        assert row.gate is not None
        assert not row.gate.distinguishable
        assert "not distinguishable from noise at 50 held-out trades: needs about" in row.reason
        assert row.to_dict()["gate"]["n_trades"] == 50

    def test_consensus_multipliers_whose_gain_is_noise_stay_disabled(self) -> None:
        """+6.2 % on 91 held-out trades with a lower bound below zero: DISABLED, says why."""
        rng = np.random.default_rng(174)
        n = int(rng.integers(60, 200))
        x = rng.uniform(0.02, 0.98, n)
        codes = rng.choice([0, 3], n).astype(np.int8)
        s = rng.uniform(0.05, 0.3)
        p_win = np.clip(x * np.where(codes == 0, 1 + s, 1 - s), 0, 1)
        y = (rng.random(n) < p_win).astype(np.float64)
        analysis = evaluate_consensus(x, y, codes)
        assert analysis.improvement >= MIN_CONFIDENCE_IMPROVEMENT
        assert not analysis.enabled
        assert analysis.gate is not None
        assert analysis.gate.n == analysis.n_evaluated
        assert "but is not distinguishable from noise at" in analysis.reason


class TestConfidenceSpread:
    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            ([0.7] * 50, "confidence takes only 1 distinct value (0.7)"),
            (
                [0.6, 0.7, 0.8, 0.9] * 20,
                "confidence takes only 4 distinct values (0.6, 0.7, 0.8, 0.9)",
            ),
            (
                [0.70, 0.701, 0.702, 0.703, 0.704, 0.705] * 10,
                "confidence spans only 0.0050 (0.7 to 0.705)",
            ),
        ],
    )
    def test_no_spread_names_the_values(self, values: list[float], expected: str) -> None:
        """Fewer than 5 distinct values, or a span under 0.02, is refused naming the values."""
        problem = confidence_spread_problem(values)
        assert problem is not None
        assert problem.startswith(expected)

    def test_enough_spread_is_fine(self) -> None:
        """Five values over 0.04 carry a ranking."""
        assert confidence_spread_problem([0.60, 0.61, 0.62, 0.63, 0.64]) is None
        assert confidence_spread_problem([]) is None

    def test_proposal_refuses_the_map_but_analyses_the_weights(self) -> None:
        """Constant confidence: map disabled with the reason; the weights are still analysed."""
        rng = np.random.default_rng(3)
        n = 300
        pnl = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        sides = np.where(rng.random(n) < 0.5, ACTION_BUY, ACTION_SELL)
        good = np.where(pnl > 0, sides, -sides)
        actions = np.column_stack(
            [np.where(rng.random(n) < p, good, -good) for p in (0.8, 0.55, 0.5)]
        ).astype(np.int8)
        proposal = build_proposal(
            np.full(n, 0.7),
            pnl,
            job_id="cal_20260210_000000",
            created_at="2026-02-10T00:00:00+00:00",
            data_hash="sha256:x",
            sides=sides,
            model_names=("a", "b", "c"),
            model_actions=actions,
        )
        assert proposal.confidence_enabled is False
        assert proposal.config.confidence.enabled is False
        assert proposal.confidence_reason.startswith(
            "confidence map refused: confidence takes only 1 distinct value (0.7)"
        )
        assert proposal.weights.status != "skipped"
