"""Tests of the consensus multipliers: the shared bucket rule, the estimate, the gate."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from calibration_core.config import (
    CONSENSUS_BUCKETS,
    MAX_CONSENSUS_MULTIPLIER,
    MIN_CONSENSUS_MULTIPLIER,
    CalibrationConfig,
    ConsensusMultipliers,
    consensus_bucket,
)
from calibration_core.constants import MAX_CONFIDENCE_CHANGE, MIN_CONFIDENCE_IMPROVEMENT
from calibration_core.core.consensus import (
    CONSENSUS_SHRINKAGE_TRADES,
    apply_consensus_multipliers,
    consensus_bucket_codes,
    estimate_consensus_multipliers,
    evaluate_consensus,
    max_combined_change,
    multiplier_limits,
    shrink_multiplier,
)
from calibration_core.core.isotonic import (
    IsotonicCalibration,
    bound_confidence_change,
    fit_isotonic,
)
from calibration_core.core.proposal import Proposal, build_proposal
from calibration_core.core.weights import ACTION_BUY, ACTION_HOLD, ACTION_MISSING, ACTION_SELL
from calibration_core.exceptions import InvalidInputError
from calibration_core.runtime import snapshot as runtime_snapshot
from calibration_core.runtime.snapshot import Snapshot

JOB = "cal_20260210_143022"
CREATED = "2026-02-10T14:30:22+00:00"
MODELS = ("xgb", "lgbm", "nhits", "patchtst")


def consensus_market(
    n: int = 1500, *, signal: bool = True, overconfident: bool = False, seed: int = 11
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Trades whose win rate rises with the share of agreeing models.

    With ``signal``, raw confidence spans [0.02, 0.98] and is honest on average,
    so the global map stays near the identity over the whole range; weak-consensus
    trades win 0.7·c and unanimous ones min(1, 1.3·c). Multipliers of about 0.85
    and 1.17, the most the ±0.15 total bound allows, capture much of that.
    With ``overconfident``, confidence in [0.5, 0.9] wins 25-75 % by agreement:
    the global map is enabled and already spends the ±0.15 budget. Without
    ``signal`` the confidence is already honest and agreement says nothing.
    """
    rng = np.random.default_rng(seed)
    if overconfident:
        count = rng.choice([1, 2, 3, 4], n, p=[0.2, 0.35, 0.3, 0.15])
        confidence = np.round(rng.uniform(0.5, 0.9, n), 4)
        p_win = np.array([0.0, 0.25, 0.40, 0.55, 0.75])[count]
    elif signal:
        count = rng.choice([1, 4], n)
        confidence = np.round(rng.uniform(0.02, 0.98, n), 4)
        p_win = np.clip(confidence * np.where(count == 4, 1.3, 0.7), 0.0, 1.0)
    else:
        count = rng.choice([1, 2, 3, 4], n, p=[0.2, 0.35, 0.3, 0.15])
        confidence = np.round(rng.uniform(0.5, 0.9, n), 4)
        p_win = confidence
    wins = rng.random(n) < p_win
    pnl = np.where(wins, 1.0, -1.0) * rng.uniform(0.1, 2.0, n)
    sides = np.where(rng.random(n) < 0.5, ACTION_BUY, ACTION_SELL).astype(np.int8)
    columns = []
    for m in range(len(MODELS)):
        against = np.where(rng.random(n) < 0.5, -sides, ACTION_HOLD)
        columns.append(np.where(m < count, sides, against))
    actions = np.stack(columns, axis=1).astype(np.int8)
    return confidence, pnl, sides, actions, count


def propose(**options: Any) -> Proposal:
    """build_proposal on ``consensus_market`` with the job identity filled in."""
    signal = options.pop("signal", True)
    overconfident = options.pop("overconfident", False)
    x, pnl, sides, actions, count = consensus_market(signal=signal, overconfident=overconfident)
    arguments: dict[str, Any] = {
        "sides": sides,
        "model_names": MODELS,
        "model_actions": actions,
        "consensus_count": count,
    }
    arguments.update(options)
    return build_proposal(
        x, pnl, job_id=JOB, created_at=CREATED, data_hash="sha256:" + "0" * 64, **arguments
    )


class TestSharedBucketRule:
    def test_the_runtime_and_the_analysis_share_one_rule(self) -> None:
        """The runtime's consensus_bucket is the config's: one definition, two users."""
        assert vars(runtime_snapshot)["consensus_bucket"] is consensus_bucket

    @given(count=st.integers(-2, 10), total=st.integers(-1, 10))
    def test_bucket_codes_follow_the_shared_rule(self, count: int, total: int) -> None:
        """Every vectorised bucket equals consensus_bucket(count, models present)."""
        n_models = 10
        row = np.full((1, n_models), ACTION_MISSING, dtype=np.int8)
        row[0, : max(total, 0)] = ACTION_BUY
        code = int(consensus_bucket_codes([count], row)[0])
        expected = consensus_bucket(count, max(total, 0))
        assert code == (-1 if expected is None else CONSENSUS_BUCKETS.index(expected))

    def test_total_is_the_number_of_models_that_voted_on_the_trade(self) -> None:
        """A model missing from a trade's breakdown does not count in its total."""
        actions = np.array(
            [
                [ACTION_BUY, ACTION_BUY, ACTION_BUY, ACTION_MISSING],  # 3 of 3: unanimous
                [ACTION_BUY, ACTION_BUY, ACTION_BUY, ACTION_SELL],  # 3 of 4: strong
                [ACTION_BUY, ACTION_HOLD, ACTION_MISSING, ACTION_MISSING],  # 1 of 2: split
                [ACTION_MISSING] * 4,  # nobody voted: no bucket
                [ACTION_BUY] * 4,  # consensus_count not recorded: no bucket
            ],
            dtype=np.int8,
        )
        codes = consensus_bucket_codes([3, 3, 1, 0, -1], actions)
        assert codes.tolist() == [0, 1, 2, -1, -1]

    def test_rejects_mismatched_columns(self) -> None:
        """Counts and votes must describe the same trades."""
        with pytest.raises(InvalidInputError, match="consensus_count must have shape"):
            consensus_bucket_codes([1, 2], np.zeros((3, 4), dtype=np.int8))


class TestShrinkMultiplier:
    @example(raw=1.4, n=50).via("the documented example")
    @given(raw=st.floats(0.0, 10.0), n=st.integers(0, 100_000))
    def test_lies_in_the_clamp_and_between_one_and_the_raw_value(self, raw: float, n: int) -> None:
        """0.5 ≤ m ≤ 1.5, and m lies between 1 and clip(raw)."""
        m = shrink_multiplier(raw, n)
        assert MIN_CONSENSUS_MULTIPLIER <= m <= MAX_CONSENSUS_MULTIPLIER
        target = min(MAX_CONSENSUS_MULTIPLIER, max(MIN_CONSENSUS_MULTIPLIER, raw))
        assert min(1.0, target) - 1e-12 <= m <= max(1.0, target) + 1e-12

    @given(raw=st.floats(0.0, 10.0), n=st.integers(0, 10_000), more=st.integers(1, 10_000))
    def test_more_trades_move_it_monotonically_away_from_one(
        self, raw: float, n: int, more: int
    ) -> None:
        """|m - 1| never shrinks as the bucket gains trades, and the side never flips."""
        fewer, larger = shrink_multiplier(raw, n), shrink_multiplier(raw, n + more)
        assert abs(larger - 1.0) >= abs(fewer - 1.0) - 1e-12
        assert (larger - 1.0) * (fewer - 1.0) >= 0.0

    def test_follows_the_formula(self) -> None:
        """The formula is m = 1 + n/(n + 50)·(r - 1): k trades move the multiplier halfway."""
        assert shrink_multiplier(1.4, CONSENSUS_SHRINKAGE_TRADES) == pytest.approx(1.2)
        assert shrink_multiplier(0.8, 150) == pytest.approx(1 + 0.75 * -0.2)
        assert shrink_multiplier(1.3, 0) == 1.0
        assert shrink_multiplier(math.nan, 500) == 1.0
        assert shrink_multiplier(5.0, 10**6) == MAX_CONSENSUS_MULTIPLIER
        assert shrink_multiplier(0.0, 10**6) == MIN_CONSENSUS_MULTIPLIER

    @pytest.mark.parametrize(
        ("raw", "n", "options", "pattern"),
        [
            (1.0, -1, {}, "n_trades must be a count >= 0"),
            (1.0, 2.5, {}, "n_trades must be a count"),
            (1.0, True, {}, "n_trades must be a count"),
            (-0.1, 10, {}, "raw_multiplier must be a finite number >= 0"),
            (math.inf, 10, {}, "raw_multiplier must be a finite number"),
            (1.0, 10, {"k": 0.0}, "k must be a finite number > 0"),
        ],
    )
    def test_rejects_bad_input(
        self, raw: float, n: Any, options: dict[str, float], pattern: str
    ) -> None:
        """Bad arguments are refused with a message naming the argument."""
        with pytest.raises(InvalidInputError, match=pattern):
            shrink_multiplier(raw, n, **options)


class TestEstimateConsensusMultipliers:
    def test_raw_multiplier_is_win_rate_over_mean_confidence(self) -> None:
        """Each bucket's raw multiplier makes its mean confidence equal its win rate."""
        c = np.array([0.6, 0.6, 0.5, 0.5, 0.8])
        y = np.array([1.0, 1.0, 0.0, 1.0, 0.0])
        estimates = estimate_consensus_multipliers(c, y, [0, 0, 2, 2, -1])
        assert [e.bucket for e in estimates] == list(CONSENSUS_BUCKETS)
        unanimous, strong, split, _ = estimates
        assert unanimous.raw_multiplier == pytest.approx(1.0 / 0.6)
        assert unanimous.multiplier == pytest.approx(1 + 2 / 52 * (1 / 0.6 - 1))
        assert split.raw_multiplier == pytest.approx(1.0)
        assert (strong.n_trades, strong.multiplier) == (0, 1.0)
        assert math.isnan(strong.raw_multiplier)

    @settings(max_examples=50)
    @given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400))
    def test_multipliers_always_lie_in_the_config_bounds(self, seed: int, n: int) -> None:
        """Whatever the data, every estimated multiplier is within [0.5, 1.5]."""
        rng = np.random.default_rng(seed)
        c = rng.uniform(0.0, 1.0, n) * (rng.random(n) < 0.9)
        y = (rng.random(n) < rng.uniform(0, 1)).astype(float)
        for estimate in estimate_consensus_multipliers(c, y, rng.integers(-1, 4, n)):
            assert MIN_CONSENSUS_MULTIPLIER <= estimate.multiplier <= MAX_CONSENSUS_MULTIPLIER

    def test_apply_clips_and_leaves_unbucketed_trades_alone(self) -> None:
        """min(1, c·m) per bucket; a trade without a bucket keeps its confidence."""
        out = apply_consensus_multipliers([0.8, 0.5, 0.6], [0, 3, -1], [1.5, 1.0, 1.0, 0.5])
        assert out.tolist() == pytest.approx([1.0, 0.25, 0.6])

    @pytest.mark.parametrize(
        ("codes", "pattern"),
        [
            ([0, 4], r"bucket_codes must lie in \[-1, 3\]"),
            ([0, -2], r"bucket_codes must lie in \[-1, 3\]"),
            ([0.0, 1.0], "bucket_codes must be integers"),
            ([0], r"bucket_codes must be integers of shape \(2,\)"),
        ],
    )
    def test_rejects_bad_bucket_codes(self, codes: list[float], pattern: str) -> None:
        """Bucket codes outside the four buckets (or -1) are refused."""
        with pytest.raises(InvalidInputError, match=pattern):
            estimate_consensus_multipliers([0.5, 0.6], [1.0, 0.0], codes)


class TestEvaluateConsensus:
    def test_a_real_consensus_effect_is_enabled_out_of_sample(self) -> None:
        """Win rates that rise with agreement pass the 5 % held-out gate, ordered by bucket."""
        x, pnl, _, actions, count = consensus_market()
        codes = consensus_bucket_codes(count, actions)
        result = evaluate_consensus(x, (pnl > 0).astype(float), codes)
        assert result.available
        assert result.enabled
        assert result.improvement >= MIN_CONFIDENCE_IMPROVEMENT
        multipliers = [b.multiplier for b in result.buckets]
        assert multipliers == sorted(multipliers, reverse=True)
        assert "meets the 5% minimum" in result.reason
        assert result.section().enabled

    def test_no_consensus_effect_stays_disabled(self) -> None:
        """When agreement says nothing about the outcome the multipliers are not enabled."""
        x, pnl, _, actions, count = consensus_market(signal=False)
        result = evaluate_consensus(
            x, (pnl > 0).astype(float), consensus_bucket_codes(count, actions)
        )
        assert result.available
        assert not result.enabled
        assert result.improvement < MIN_CONFIDENCE_IMPROVEMENT
        assert "is below the 5% minimum" in result.reason

    @settings(max_examples=15)
    @given(seed=st.integers(0, 2**32 - 1))
    def test_a_fold_never_sees_later_trades(self, seed: int) -> None:
        """Shuffling everything after a fold's training rows leaves its multipliers unchanged."""
        x, pnl, _, actions, count = consensus_market(n=300, seed=seed % 1000)
        y = (pnl > 0).astype(float)
        codes = consensus_bucket_codes(count, actions)
        first = evaluate_consensus(x, y, codes)
        fold = first.folds[2]
        rng = np.random.default_rng(seed)
        order = np.concatenate(
            [
                np.arange(fold.train_stop),
                fold.train_stop + rng.permutation(x.size - fold.train_stop),
            ]
        )
        second = evaluate_consensus(x[order], y[order], codes[order])
        assert second.folds[2].multipliers == fold.multipliers

    def test_too_few_bucketed_trades_are_not_estimated(self) -> None:
        """Fewer than 50 trades with a bucket: no multipliers, and the reason says so."""
        x, pnl, _, actions, count = consensus_market(n=200)
        codes = consensus_bucket_codes(np.where(np.arange(200) < 30, count, -1), actions)
        result = evaluate_consensus(x, (pnl > 0).astype(float), codes)
        assert not result.available
        assert "only 30 trades have a consensus bucket" in result.reason
        assert result.section() == ConsensusMultipliers()


class TestConsensusInTheProposal:
    def test_enabled_multipliers_are_deployed_and_served_at_runtime(self) -> None:
        """The config carries the multipliers and the runtime returns them per bucket."""
        proposal = propose()
        assert proposal.consensus.enabled
        config = CalibrationConfig.from_json(proposal.config.to_json())
        assert config.consensus.enabled
        snapshot = Snapshot.from_config(config)
        for bucket, count in zip(CONSENSUS_BUCKETS, (4, 3, 2, 1), strict=True):
            assert (
                snapshot.consensus_multiplier(count, 4)
                == dict(config.consensus.multipliers)[bucket]
            )
        names = [c.name for c in proposal.validation.checks]
        for name in (
            "consensus_multiplier_bounds",
            "consensus_improvement",
            "no_degradation:consensus_oos_brier",
        ):
            assert name in names
        assert proposal.validation.passed
        assert proposal.changes_something

    def test_the_multipliers_scale_the_proposed_global_map(self) -> None:
        """With the global map enabled the bucket means are of the calibrated confidence."""
        proposal = propose(overconfident=True)
        assert proposal.confidence_enabled
        assert "proposed global map" in proposal.consensus.baseline
        x, _, _, actions, count = consensus_market(overconfident=True)
        calibrated = np.asarray(proposal.calibration.predict(x))
        strong = consensus_bucket_codes(count, actions) == 1
        assert proposal.consensus.buckets[1].mean_confidence == pytest.approx(
            calibrated[strong].mean()
        )

    def test_a_map_at_its_lower_bound_leaves_no_room_to_lower_further(self) -> None:
        """When the map already lowers confidence by 0.15, no multiplier may go below 1."""
        proposal = propose(overconfident=True)
        assert proposal.calibration.max_abs_change() == pytest.approx(MAX_CONFIDENCE_CHANGE)
        lo, hi = multiplier_limits([proposal.calibration])
        assert lo == pytest.approx(1.0)
        assert all(lo <= b.multiplier <= hi for b in proposal.consensus.buckets)
        # Without the limit the weak buckets of this data would ask for far less than 1.
        assert min(b.raw_multiplier for b in proposal.consensus.buckets) < 0.8
        assert proposal.consensus.max_abs_change <= MAX_CONFIDENCE_CHANGE + 1e-12

    def test_disabled_multipliers_fail_only_a_warning(self) -> None:
        """Without an effect the section is disabled; the improvement check is a warning."""
        proposal = propose(signal=False)
        assert not proposal.config.consensus.enabled
        assert not proposal.confidence_enabled
        assert "raw confidence" in proposal.consensus.baseline
        failed = [c for c in proposal.validation.checks if not c.passed]
        assert [c.name for c in failed if c.name.startswith("consensus")] == [
            "consensus_improvement"
        ]
        assert "the consensus multipliers are proposed DISABLED" in failed[-1].message

    def test_trades_without_consensus_count_say_why_none_is_proposed(self) -> None:
        """No consensus_count: not estimated, no checks, the reason names the field."""
        proposal = propose(consensus_count=None)
        assert not proposal.consensus.available
        assert "carry no consensus_count" in proposal.consensus.reason
        assert not any(c.name.startswith("consensus") for c in proposal.validation.checks)
        assert proposal.config.consensus == ConsensusMultipliers()
        all_missing = propose(consensus_count=np.full(1500, -1))
        assert "carry no consensus_count" in all_missing.consensus.reason

    def test_consensus_without_votes_cannot_be_bucketed(self) -> None:
        """consensus_count without model_breakdown has no denominator, and says so."""
        proposal = propose(model_names=(), model_actions=None, sides=None)
        assert not proposal.consensus.available
        assert "no model_breakdown" in proposal.consensus.reason

    def test_a_live_consensus_section_is_never_switched_off_silently(self) -> None:
        """Live multipliers that the proposal disables are named as switched off."""
        live = CalibrationConfig(
            version="cal_20260201_000000",
            created_at=CREATED,
            consensus=ConsensusMultipliers(enabled=True),
        )
        proposal = propose(signal=False, live_config=live)
        assert "the consensus multipliers" in proposal.turns_off
        assert proposal.recommendation == "DO NOT APPLY"
        assert propose(live_config=live).turns_off == ()


@st.composite
def bounded_maps(draw: st.DrawFn) -> IsotonicCalibration:
    """Draw a bounded isotonic map fitted on random confidences and outcomes."""
    n = draw(st.integers(5, 60))
    x = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    y = draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
    return bound_confidence_change(fit_isotonic(x, y), MAX_CONFIDENCE_CHANGE)


class TestMultiplierLimits:
    @given(maps=st.lists(st.one_of(st.none(), bounded_maps()), min_size=1, max_size=3))
    def test_limits_contain_one_and_lie_in_the_multiplier_range(
        self, maps: list[IsotonicCalibration | None]
    ) -> None:
        """1.0 is always allowed and the limits never leave [0.5, 1.5]."""
        lo, hi = multiplier_limits(maps)
        assert MIN_CONSENSUS_MULTIPLIER <= lo <= 1.0 <= hi <= MAX_CONSENSUS_MULTIPLIER

    @given(
        maps=st.lists(st.one_of(st.none(), bounded_maps()), min_size=1, max_size=3),
        where=st.floats(0.0, 1.0),
        grid_point=st.floats(0.0, 1.0),
    )
    def test_every_multiplier_inside_the_limits_keeps_the_total_change_bounded(
        self, maps: list[IsotonicCalibration | None], where: float, grid_point: float
    ) -> None:
        """For any m in the limits, min(1, f(c)·m) stays within ±0.15 of every raw c."""
        lo, hi = multiplier_limits(maps)
        m = lo + where * (hi - lo)
        dense = np.unique(np.concatenate([np.linspace(0.0, 1.0, 2001), [grid_point]]))
        for conf_map in maps:
            f = dense if conf_map is None else np.asarray(conf_map.predict(dense))
            assert np.max(np.abs(np.minimum(1.0, f * m) - dense)) <= MAX_CONFIDENCE_CHANGE + 1e-9
        assert max_combined_change(maps, [m]) <= MAX_CONFIDENCE_CHANGE + 1e-9

    def test_the_identity_allows_about_0_85_to_1_18(self) -> None:
        """With no map the multiplier may scale 1.0 down to 0.85 and 0.85 up to 1.0."""
        lo, hi = multiplier_limits([None])
        assert lo == pytest.approx(1.0 - MAX_CONFIDENCE_CHANGE)
        assert hi == pytest.approx(1.0 / (1.0 - MAX_CONFIDENCE_CHANGE))

    def test_limits_clamp_the_estimates(self) -> None:
        """A bucket whose outcomes ask for 1.5 gets the upper limit instead."""
        c = np.full(400, 0.5)
        y = np.ones(400)
        (weak, *_rest) = estimate_consensus_multipliers(
            c, y, np.zeros(400, dtype=np.int8), limits=(0.9, 1.1)
        )
        assert weak.multiplier == pytest.approx(1.1)

    def test_combined_change_check_fails_for_an_unclamped_multiplier(self) -> None:
        """1.5 on top of the identity moves 0.6 to 0.9: the combined bound is broken."""
        assert max_combined_change([None], [1.5]) > MAX_CONFIDENCE_CHANGE

    @pytest.mark.parametrize("limits", [(0.4, 1.2), (1.1, 1.2), (0.9, 0.95), (0.9, 1.6)])
    def test_limits_outside_the_rules_are_refused(self, limits: tuple[float, float]) -> None:
        """Limits must satisfy 0.5 <= lo <= 1 <= hi <= 1.5."""
        with pytest.raises(InvalidInputError, match="limits must satisfy"):
            estimate_consensus_multipliers([0.5], [1.0], [0], limits=limits)


class TestCombinedChangeCheck:
    @pytest.mark.parametrize("m", [0.6, 1.3, 1.5])
    def test_max_combined_change_finds_the_kink_where_the_cap_starts(self, m: float) -> None:
        """The recomputed change equals a dense scan, including where f(c)·m reaches 1."""
        identity = IsotonicCalibration.identity()
        grid = np.linspace(0.0, 1.0, 100_001)
        dense = float(np.max(np.abs(np.minimum(1.0, grid * m) - grid)))
        assert max_combined_change([identity], [m]) == pytest.approx(dense, abs=1e-4)

    def test_the_critical_check_catches_an_unclamped_multiplier(self) -> None:
        """M = 1.5 on the identity moves 0.667 to 1.0: far beyond ±0.15, so it is reported."""
        assert max_combined_change([None], [1.5]) == pytest.approx(1.0 - 1.0 / 1.5)
