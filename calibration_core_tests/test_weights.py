"""Tests of calibration_core.core.weights: precision per model and the bounded weight proposal."""

from __future__ import annotations

import itertools
import math
import re
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import given, strategies as st

from calibration_core.constants import (
    MAX_WEIGHT,
    MAX_WEIGHT_CHANGE,
    MIN_TOTAL_WEIGHT_CHANGE,
    MIN_WEIGHT,
)
from calibration_core.core.weights import (
    ACTION_BUY,
    ACTION_HOLD,
    ACTION_MISSING,
    ACTION_SELL,
    MAX_MODELS,
    MIN_MODELS,
    ModelPerformance,
    WeightProposal,
    equal_weights,
    measure_model_performance,
    propose_weights,
)
from calibration_core.exceptions import InfeasibleWeightsError, InvalidInputError
from calibration_core_tests.strategies_weights import (
    equal_precision_performance,
    feasible_weights,
    performance_for,
)

if TYPE_CHECKING:
    from collections.abc import Callable

BOUND_SLACK = 1e-12
SUM_SLACK = 1e-9

DESIGN_CURRENT = {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2}


def perf(name: str, correct: int, n_trades: int) -> ModelPerformance:
    """Build a ModelPerformance positionally."""
    return ModelPerformance(name, correct, n_trades)


def design_performance() -> list[ModelPerformance]:
    """Precisions 0.48 / 0.62 / 0.55 / 0.55 over 200 trades each (ensemble 0.55)."""
    return [
        perf("xgb", 96, 200),
        perf("lgbm", 124, 200),
        perf("nhits", 110, 200),
        perf("patchtst", 110, 200),
    ]


def scores(
    proposal: WeightProposal, *, z_threshold: float = 1.96, excess: float = 0.10
) -> list[float]:
    """Recompute each model's score s_i from the proposal's published fields."""
    pooled = proposal.ensemble_precision
    return [
        max(-1.0, min(1.0, (c.precision - pooled) / excess))
        if c.n_trades > 0 and abs(c.zscore) >= z_threshold
        else 0.0
        for c in proposal.changes
    ]


def box(before: list[float], traded: list[bool]) -> tuple[list[float], list[float]]:
    """Return the projection's box: ±10 % within [MIN, MAX], untraded pinned when feasible."""
    low = [max(MIN_WEIGHT, w * (1 - MAX_WEIGHT_CHANGE)) for w in before]
    high = [min(MAX_WEIGHT, w * (1 + MAX_WEIGHT_CHANGE)) for w in before]
    kept_low = [lo if t else w for lo, w, t in zip(low, before, traded, strict=True)]
    kept_high = [hi if t else w for hi, w, t in zip(high, before, traded, strict=True)]
    if math.fsum(kept_low) <= 1.0 <= math.fsum(kept_high):
        return kept_low, kept_high
    return low, high


def brute_force_projection(
    target: list[float], weight: list[float], low: list[float], high: list[float]
) -> list[float]:
    """Exact argmin of Σ(x-t)²/w on the box with Σx = 1, by enumerating active sets."""
    best: list[float] | None = None
    best_cost = math.inf
    for states in itertools.product(("low", "free", "high"), repeat=len(target)):
        fixed = [low[i] if s == "low" else high[i] for i, s in enumerate(states) if s != "free"]
        free = [i for i, s in enumerate(states) if s == "free"]
        if free:
            shift = (math.fsum(target[i] for i in free) + math.fsum(fixed) - 1.0) / math.fsum(
                weight[i] for i in free
            )
        elif abs(math.fsum(fixed) - 1.0) > 1e-12:
            continue
        else:
            shift = 0.0
        x = [
            target[i] - shift * weight[i] if s == "free" else (low[i] if s == "low" else high[i])
            for i, s in enumerate(states)
        ]
        if any(not low[i] - 1e-12 <= x[i] <= high[i] + 1e-12 for i in range(len(x))):
            continue
        cost = math.fsum((x[i] - target[i]) ** 2 / weight[i] for i in range(len(x)))
        if cost < best_cost:
            best, best_cost = x, cost
    assert best is not None
    return best


def assert_hard_constraints(proposal: WeightProposal) -> None:
    """Assert sum, bounds and ±10 % change with the test tolerances (1e-9, 1e-12)."""
    after = [w for _, w in proposal.after]
    before = [w for _, w in proposal.before]
    assert abs(math.fsum(after) - 1.0) <= SUM_SLACK
    for old, new in zip(before, after, strict=True):
        assert MIN_WEIGHT - BOUND_SLACK <= new <= MAX_WEIGHT + BOUND_SLACK
        assert abs(new - old) <= MAX_WEIGHT_CHANGE * old + BOUND_SLACK
        assert abs(new / old - 1.0) <= MAX_WEIGHT_CHANGE + BOUND_SLACK


class TestActionCodes:
    def test_codes_are_the_trade_file_contract(self) -> None:
        """The vote codes are +1 BUY, -1 SELL, 0 HOLD and -128 missing."""
        assert (ACTION_BUY, ACTION_SELL, ACTION_HOLD, ACTION_MISSING) == (1, -1, 0, -128)

    def test_model_count_limits_follow_the_constants(self) -> None:
        """MIN_MODELS/MAX_MODELS are the counts for which N·MIN <= 1 <= N·MAX."""
        feasible = [n for n in range(1, 20) if n * MIN_WEIGHT <= 1.0 <= n * MAX_WEIGHT]
        assert (MIN_MODELS, MAX_MODELS) == (feasible[0], feasible[-1]) == (3, 6)


class TestModelPerformance:
    def test_precision_is_correct_over_sided_trades(self) -> None:
        """Precision is correct / n_trades."""
        assert perf("xgb", 31, 50).precision == 0.62

    def test_precision_is_nan_without_trades(self) -> None:
        """A model that never took a side has an undefined (NaN) precision."""
        assert math.isnan(perf("xgb", 0, 0).precision)

    def test_numpy_integer_counts_become_python_ints(self) -> None:
        """Counts from numpy sums are stored as plain ints."""
        p = ModelPerformance("xgb", np.int64(3), np.int32(4))
        assert (type(p.correct), type(p.n_trades)) == (int, int)
        assert p == perf("xgb", 3, 4)

    def test_is_frozen(self) -> None:
        """A performance value cannot be changed after construction."""
        p = perf("xgb", 1, 2)
        with pytest.raises(AttributeError):
            p.correct = 2  # type: ignore[misc]


class TestMeasureModelPerformance:
    def test_siding_with_a_winning_trade_is_correct(self) -> None:
        """A model voting the trade's side on a win was right."""
        (p,) = measure_model_performance(["a"], np.array([[1]], np.int8), [1], [True])
        assert (p.correct, p.n_trades) == (1, 1)

    def test_voting_against_a_losing_trade_is_correct(self) -> None:
        """A model that voted SELL on a losing BUY trade was right."""
        (p,) = measure_model_performance(["a"], np.array([[-1]], np.int8), [1], [False])
        assert (p.correct, p.n_trades) == (1, 1)

    def test_siding_with_a_losing_trade_is_wrong(self) -> None:
        """A model voting the trade's side on a loss was wrong."""
        (p,) = measure_model_performance(["a"], np.array([[-1]], np.int8), [-1], [False])
        assert (p.correct, p.n_trades) == (0, 1)

    def test_hold_and_missing_votes_are_not_counted(self) -> None:
        """HOLD and missing votes count as neither a side nor a hit."""
        votes = np.array([[ACTION_HOLD, ACTION_MISSING], [ACTION_HOLD, ACTION_BUY]], np.int8)
        held, missing = measure_model_performance(["h", "m"], votes, [1, 1], [True, True])
        assert (held.correct, held.n_trades) == (0, 0)
        assert (missing.correct, missing.n_trades) == (1, 1)

    def test_no_trades_gives_zero_counts(self) -> None:
        """An empty vote table gives every model zero trades."""
        result = measure_model_performance(
            ["a", "b", "c"], np.zeros((0, 3), np.int8), np.zeros(0, np.int8), np.zeros(0, bool)
        )
        assert [(p.name, p.correct, p.n_trades) for p in result] == [
            ("a", 0, 0),
            ("b", 0, 0),
            ("c", 0, 0),
        ]

    def test_integer_wins_are_accepted(self) -> None:
        """A 0/1 integer wins column counts like the boolean one."""
        votes = np.array([[1, -1], [1, 1]], np.int8)
        as_bool = measure_model_performance(["a", "b"], votes, [1, 1], [True, False])
        as_int = measure_model_performance(["a", "b"], votes, [1, 1], [1, 0])
        assert as_bool == as_int

    def test_inputs_are_not_mutated(self) -> None:
        """The caller's arrays are left as they were."""
        votes = np.array([[1, -128], [0, -1]], np.int8)
        sides = np.array([1, -1], np.int8)
        wins = np.array([True, False])
        copies = (votes.copy(), sides.copy(), wins.copy())
        measure_model_performance(["a", "b"], votes, sides, wins)
        for original, copy in zip((votes, sides, wins), copies, strict=True):
            np.testing.assert_array_equal(original, copy)

    @given(
        st.integers(0, 40).flatmap(
            lambda n: st.tuples(
                st.lists(
                    st.lists(st.sampled_from([1, -1, 0, -128]), min_size=3, max_size=3),
                    min_size=n,
                    max_size=n,
                ),
                st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n),
                st.lists(st.booleans(), min_size=n, max_size=n),
            )
        )
    )
    def test_matches_a_per_trade_loop(
        self, table: tuple[list[list[int]], list[int], list[bool]]
    ) -> None:
        """The vectorised counts equal a plain loop over trades and models."""
        votes, sides, wins = table
        result = measure_model_performance(
            ["a", "b", "c"], np.array(votes, np.int8).reshape(len(votes), 3), sides, wins
        )
        for j, p in enumerate(result):
            sided = [
                (row[j], s, w)
                for row, s, w in zip(votes, sides, wins, strict=True)
                if row[j] in (1, -1)
            ]
            assert p.n_trades == len(sided)
            assert p.correct == sum(1 for v, s, w in sided if (v == s) == w)


class TestEqualWeights:
    @pytest.mark.parametrize("n_models", range(MIN_MODELS, MAX_MODELS + 1))
    def test_equal_weights_are_feasible_for_every_feasible_count(self, n_models: int) -> None:
        """1/N for N in 3..6 lies in the bounds and sums to 1."""
        names = [f"m{i}" for i in range(n_models)]
        weights = equal_weights(names)
        assert list(weights) == names
        assert abs(math.fsum(weights.values()) - 1.0) <= SUM_SLACK
        assert all(MIN_WEIGHT <= w <= MAX_WEIGHT for w in weights.values())
        assert len(set(weights.values())) == 1

    def test_equal_weights_are_a_valid_current_for_a_proposal(self) -> None:
        """The default weights feed propose_weights without error."""
        weights = equal_weights(["a", "b", "c", "d"])
        proposal = propose_weights(weights, [perf(n, 10, 20) for n in weights])
        assert proposal.no_change
        assert proposal.after_dict() == weights


class TestProposeWeightsExamples:
    def test_design_example_moves_weight_from_xgb_to_lgbm(self) -> None:
        """0.48 vs 0.62 over 200 trades each moves 7 % of weight, the 0.55 models stay."""
        proposal = propose_weights(DESIGN_CURRENT, design_performance())
        after = proposal.after_dict()
        assert after["xgb"] == pytest.approx(0.279, abs=1e-12)
        assert after["lgbm"] == pytest.approx(0.321, abs=1e-12)
        assert (after["nhits"], after["patchtst"]) == (0.2, 0.2)
        assert not proposal.no_change
        assert proposal.total_abs_change == pytest.approx(0.042, abs=1e-12)
        assert proposal.ensemble_precision == 0.55
        xgb, lgbm = proposal.changes[0], proposal.changes[1]
        assert xgb.change_pct == pytest.approx(-7.0)
        assert lgbm.delta == pytest.approx(0.021)
        assert xgb.zscore == pytest.approx(-0.07 / math.sqrt(0.55 * 0.45 / 200))

    def test_reasons_state_precision_interval_and_ensemble(self) -> None:
        """Each reason gives precision ± 95 % half-width, the trade count and the ensemble."""
        proposal = propose_weights(DESIGN_CURRENT, design_performance())
        assert [c.reason for c in proposal.changes] == [
            "precision 0.48 ± 0.07 over 200 trades, below ensemble 0.55",
            "precision 0.62 ± 0.07 over 200 trades, above ensemble 0.55",
            "precision 0.55 ± 0.07 over 200 trades, not distinguishable from ensemble 0.55",
            "precision 0.55 ± 0.07 over 200 trades, not distinguishable from ensemble 0.55",
        ]
        assert "toward models with significantly higher precision" in proposal.reason

    def test_noise_over_fifty_trades_does_not_move_weights(self) -> None:
        """0.52 vs 0.48 over 50 trades is noise: the proposal is no change."""
        performance = [
            perf("xgb", 26, 50),
            perf("lgbm", 24, 50),
            perf("nhits", 25, 50),
            perf("patchtst", 25, 50),
        ]
        proposal = propose_weights(DESIGN_CURRENT, performance)
        assert proposal.no_change
        assert proposal.after_dict() == DESIGN_CURRENT
        assert proposal.total_abs_change == 0.0
        assert proposal.changes[0].reason == (
            "precision 0.52 ± 0.14 over 50 trades, not distinguishable from ensemble 0.50"
        )
        assert "differs significantly" in proposal.reason

    def test_model_without_trades_keeps_its_weight(self) -> None:
        """A model that never took a side keeps its weight and says so."""
        performance = [*design_performance()[:3], perf("patchtst", 0, 0)]
        proposal = propose_weights(DESIGN_CURRENT, performance)
        last = proposal.changes[3]
        assert (last.after, last.delta, last.reason) == (
            0.2,
            0.0,
            "no trades with a side; weight kept",
        )
        assert math.isnan(last.precision)
        assert last.zscore == 0.0
        assert_hard_constraints(proposal)

    def test_model_without_trades_moves_only_when_the_sum_needs_it(self) -> None:
        """When only an untraded model can restore the sum to 1, it moves and says why."""
        current = {"a": 0.4, "b": 0.4, "c": 0.1995}
        performance = [perf("a", 700, 1000), perf("b", 400, 1000), perf("c", 0, 0)]
        proposal = propose_weights(current, performance)
        assert not proposal.no_change
        assert_hard_constraints(proposal)
        moved = proposal.changes[2]
        assert moved.delta > 0
        assert moved.reason == "no trades with a side; moved only to keep the weights summing to 1"

    def test_current_sum_within_tolerance_is_brought_to_one(self) -> None:
        """A live sum of 1.0008 becomes exactly 1 in a proposal that moves weights."""
        current = {"xgb": 0.3004, "lgbm": 0.3004, "nhits": 0.2, "patchtst": 0.2}
        proposal = propose_weights(current, design_performance())
        assert not proposal.no_change
        assert_hard_constraints(proposal)
        assert proposal.changes[2].reason.endswith("; moved only to keep the weights summing to 1")

    def test_full_move_is_limited_by_the_change_bound(self) -> None:
        """Excess beyond full_move_excess asks for the full ±10 % and the reason names the bound."""
        performance = [
            perf("xgb", 80, 200),
            perf("lgbm", 140, 200),
            perf("nhits", 110, 200),
            perf("patchtst", 110, 200),
        ]
        proposal = propose_weights(DESIGN_CURRENT, performance)
        after = proposal.after_dict()
        assert after["xgb"] == pytest.approx(0.27, abs=1e-12)
        assert after["lgbm"] == pytest.approx(0.33, abs=1e-12)
        assert proposal.changes[0].reason.endswith("; limited by the ±10% change bound")
        assert proposal.changes[1].reason.endswith("; limited by the ±10% change bound")

    def test_weight_at_the_cap_is_held_there(self) -> None:
        """A better model already at MAX_WEIGHT stays there and the reason says so."""
        current = {"a": 0.4, "b": 0.3, "c": 0.3}
        performance = [perf("a", 700, 1000), perf("b", 500, 1000), perf("c", 560, 1000)]
        proposal = propose_weights(current, performance)
        assert not proposal.no_change
        assert proposal.after_dict()["a"] == MAX_WEIGHT
        assert proposal.changes[0].reason.endswith(f"; held at the maximum weight {MAX_WEIGHT}")
        assert proposal.after_dict()["b"] < 0.3 < proposal.after_dict()["c"]
        assert_hard_constraints(proposal)

    def test_weight_at_the_floor_is_held_there(self) -> None:
        """A worse model already at MIN_WEIGHT stays there and the reason says so."""
        current = {"a": 0.15, "b": 0.25, "c": 0.25, "d": 0.35}
        performance = [
            perf("a", 300, 1000),
            perf("b", 500, 1000),
            perf("c", 500, 1000),
            perf("d", 620, 1000),
        ]
        proposal = propose_weights(current, performance)
        assert proposal.after_dict()["a"] == MIN_WEIGHT
        assert proposal.changes[0].reason.endswith(f"; held at the minimum weight {MIN_WEIGHT}")

    def test_small_total_change_is_no_change(self) -> None:
        """A significant but tiny excess whose total move is below 0.02 keeps the weights."""
        performance = [
            perf("xgb", 5300, 10000),
            perf("lgbm", 5500, 10000),
            perf("nhits", 5400, 10000),
            perf("patchtst", 5400, 10000),
        ]
        proposal = propose_weights(DESIGN_CURRENT, performance)
        assert any(abs(c.zscore) >= 1.96 for c in proposal.changes)
        assert proposal.no_change
        assert proposal.after_dict() == DESIGN_CURRENT
        assert re.search(r"total change 0\.\d{4} is below the minimum 0\.02", proposal.reason)

    def test_blocked_move_is_no_change(self) -> None:
        """When the bounds leave no room for the wanted move, the weights are kept."""
        current = {"a": 0.4, "b": 0.4, "c": 0.2}
        performance = [perf("a", 300, 400), perf("b", 200, 400), perf("c", 200, 400)]
        proposal = propose_weights(current, performance)
        assert proposal.no_change
        assert proposal.after_dict() == current

    def test_no_model_with_trades_is_no_change(self) -> None:
        """Without any sided trade there is no evidence and no move."""
        proposal = propose_weights(DESIGN_CURRENT, [perf(n, 0, 0) for n in DESIGN_CURRENT])
        assert proposal.no_change
        assert math.isnan(proposal.ensemble_precision)
        assert proposal.reason == "no model took a side on any trade; weights kept"

    def test_all_trades_won_is_no_change(self) -> None:
        """An ensemble precision of 1 leaves nothing to tell apart."""
        proposal = propose_weights(DESIGN_CURRENT, [perf(n, 80, 80) for n in DESIGN_CURRENT])
        assert proposal.no_change
        assert all(c.zscore == 0.0 for c in proposal.changes)

    def test_stricter_z_threshold_keeps_borderline_moves_out(self) -> None:
        """|z| = 1.99 moves weights at 1.96 but not at 2.58."""
        assert not propose_weights(DESIGN_CURRENT, design_performance()).no_change
        strict = propose_weights(DESIGN_CURRENT, design_performance(), z_threshold=2.58)
        assert strict.no_change

    def test_smaller_full_move_excess_moves_further(self) -> None:
        """Halving full_move_excess doubles the wanted move up to the ±10 % bound."""
        proposal = propose_weights(DESIGN_CURRENT, design_performance(), full_move_excess=0.05)
        assert proposal.after_dict()["lgbm"] == pytest.approx(0.33, abs=1e-12)

    def test_mapping_and_iterable_performance_agree(self) -> None:
        """Performance by name or as a list gives the same proposal."""
        as_list = propose_weights(DESIGN_CURRENT, design_performance())
        as_map = propose_weights(
            DESIGN_CURRENT, {p.name: p for p in reversed(design_performance())}
        )
        assert as_list == as_map

    def test_order_follows_current(self) -> None:
        """before, after and changes list the models in the order of ``current``."""
        proposal = propose_weights(DESIGN_CURRENT, list(reversed(design_performance())))
        assert [n for n, _ in proposal.before] == list(DESIGN_CURRENT)
        assert [n for n, _ in proposal.after] == list(DESIGN_CURRENT)
        assert [c.model for c in proposal.changes] == list(DESIGN_CURRENT)
        assert proposal.before_dict() == DESIGN_CURRENT

    def test_inputs_are_not_mutated(self) -> None:
        """The caller's weight mapping is left as it was."""
        current = dict(DESIGN_CURRENT)
        propose_weights(current, design_performance())
        assert current == DESIGN_CURRENT

    def test_proposal_is_frozen(self) -> None:
        """A proposal cannot be changed after it was made."""
        proposal = propose_weights(DESIGN_CURRENT, design_performance())
        with pytest.raises(AttributeError):
            proposal.no_change = True  # type: ignore[misc]


class TestProposeWeightsProperties:
    @given(st.data())
    def test_hard_constraints_hold_for_any_feasible_input(self, data: st.DataObject) -> None:
        """Sum 1, bounds [0.15, 0.40] and the ±10 % change hold for every proposal."""
        current = data.draw(feasible_weights(sum_offset=True))
        performance = data.draw(performance_for(tuple(current)))
        proposal = propose_weights(current, performance)
        if proposal.no_change:
            assert proposal.after_dict() == current
            assert all(c.delta == 0.0 for c in proposal.changes)
        else:
            assert_hard_constraints(proposal)
            assert proposal.total_abs_change >= MIN_TOTAL_WEIGHT_CHANGE

    @given(st.data())
    def test_higher_score_never_loses_while_lower_score_gains(self, data: st.DataObject) -> None:
        """For s_i > s_j the proposal never has Δ_i < 0 < Δ_j."""
        current = data.draw(feasible_weights(sum_offset=True))
        performance = data.draw(performance_for(tuple(current)))
        proposal = propose_weights(current, performance)
        s = scores(proposal)
        deltas = [c.delta for c in proposal.changes]
        for i, j in itertools.permutations(range(len(s)), 2):
            if s[i] > s[j]:
                assert not deltas[i] < 0 < deltas[j]

    @given(st.data())
    def test_projection_is_the_exact_weighted_optimum(self, data: st.DataObject) -> None:
        """The weights minimise Σ(x - t)²/w on the feasible set (checked by enumeration)."""
        current = data.draw(feasible_weights(sum_offset=True))
        performance = data.draw(performance_for(tuple(current)))
        proposal = propose_weights(current, performance)
        if proposal.no_change:
            return
        before = [w for _, w in proposal.before]
        target = [
            w * (1 + MAX_WEIGHT_CHANGE * s) for w, s in zip(before, scores(proposal), strict=True)
        ]
        low, high = box(before, [c.n_trades > 0 for c in proposal.changes])
        expected = brute_force_projection(target, before, low, high)
        assert [w for _, w in proposal.after] == pytest.approx(expected, abs=1e-9)

    @given(st.data())
    def test_noise_does_not_move_weights(self, data: st.DataObject) -> None:
        """When no model is significant the proposal is no change."""
        current = data.draw(feasible_weights())
        performance = data.draw(performance_for(tuple(current)))
        z_threshold = data.draw(st.floats(1.0, 4.0))
        proposal = propose_weights(current, performance, z_threshold=z_threshold)
        if all(abs(c.zscore) < z_threshold for c in proposal.changes):
            assert proposal.no_change
            assert proposal.after == proposal.before

    @given(st.data())
    def test_equal_precisions_give_no_change(self, data: st.DataObject) -> None:
        """Models with identical precision (any counts) leave the weights as they are."""
        current = data.draw(feasible_weights(sum_offset=True))
        performance = data.draw(equal_precision_performance(tuple(current)))
        proposal = propose_weights(current, performance)
        assert proposal.no_change
        assert proposal.after_dict() == current
        assert all(c.zscore == 0.0 for c in proposal.changes)

    @given(st.data())
    def test_proposing_again_from_the_proposal_keeps_constraints(self, data: st.DataObject) -> None:
        """A proposed weight vector is itself a valid current vector."""
        current = data.draw(feasible_weights())
        performance = data.draw(performance_for(tuple(current)))
        first = propose_weights(current, performance)
        second = propose_weights(first.after_dict(), performance)
        assert second.before == first.after


_THREE = {"a": 0.4, "b": 0.3, "c": 0.3}
_THREE_PERF = [perf("a", 1, 2), perf("b", 1, 2), perf("c", 1, 2)]

BAD_INPUTS: list[tuple[Callable[..., Any], tuple[Any, ...], type[Exception], str]] = [
    # propose_weights: infeasible current weights
    (
        propose_weights,
        ({"a": 0.5, "b": 0.5}, []),
        InfeasibleWeightsError,
        r"^2 models cannot .*\(feasible: 3 to 6 models\)$",
    ),
    (
        propose_weights,
        (dict.fromkeys("abcdefg", 1 / 7), []),
        InfeasibleWeightsError,
        r"^7 models cannot",
    ),
    (
        propose_weights,
        ({"a": 0.3, "b": 0.3, "c": 0.3}, _THREE_PERF),
        InfeasibleWeightsError,
        r"must sum to 1 ± 0\.001 \(got 0\.900000\)",
    ),
    (
        propose_weights,
        ({"a": 0.45, "b": 0.3, "c": 0.25}, _THREE_PERF),
        InfeasibleWeightsError,
        r"weight of 'a' must be in \[0\.15, 0\.4\] \(got 0\.45\)",
    ),
    (
        propose_weights,
        ({"a": 0.1, "b": 0.5, "c": 0.4}, _THREE_PERF),
        InfeasibleWeightsError,
        r"weight of 'a' must be in \[0\.15, 0\.4\] \(got 0\.1\)",
    ),
    (
        propose_weights,
        ({"a": math.nan, "b": 0.5, "c": 0.5}, _THREE_PERF),
        InfeasibleWeightsError,
        r"weight of 'a' must be finite \(got nan\)",
    ),
    (
        propose_weights,
        ({"a": math.inf, "b": 0.5, "c": 0.5}, _THREE_PERF),
        InfeasibleWeightsError,
        r"weight of 'a' must be finite \(got inf\)",
    ),
    (
        propose_weights,
        ({"a": -0.2, "b": 0.6, "c": 0.6}, _THREE_PERF),
        InfeasibleWeightsError,
        r"weight of 'a' must be non-negative \(got -0\.2\)",
    ),
    (
        propose_weights,
        ({"a": "0.4", "b": 0.3, "c": 0.3}, _THREE_PERF),
        InfeasibleWeightsError,
        r"weight of 'a' must be a number",
    ),
    (
        propose_weights,
        ({"a": True, "b": 0.3, "c": 0.3}, _THREE_PERF),
        InfeasibleWeightsError,
        r"weight of 'a' must be a number",
    ),
    (
        propose_weights,
        ([0.4, 0.3, 0.3], _THREE_PERF),
        InfeasibleWeightsError,
        r"current must be a mapping",
    ),
    (
        propose_weights,
        ({"": 0.4, "b": 0.3, "c": 0.3}, _THREE_PERF),
        InfeasibleWeightsError,
        r"model names must be non-empty strings",
    ),
    # propose_weights: performance that does not match the models
    (
        propose_weights,
        (_THREE, [*_THREE_PERF, perf("zzz", 1, 2)]),
        InfeasibleWeightsError,
        r"performance given for unknown model 'zzz' \(current weights name a, b, c\)",
    ),
    (
        propose_weights,
        (_THREE, _THREE_PERF[:2]),
        InfeasibleWeightsError,
        r"^no performance given for model 'c'$",
    ),
    (
        propose_weights,
        (_THREE, [*_THREE_PERF, perf("a", 1, 3)]),
        InfeasibleWeightsError,
        r"performance names model 'a' twice",
    ),
    (
        propose_weights,
        (_THREE, {"a": perf("b", 1, 2)}),
        InfeasibleWeightsError,
        r"performance key 'a' does not match its model name 'b'",
    ),
    (
        propose_weights,
        (_THREE, [*_THREE_PERF[:2], ("c", 1, 2)]),
        InfeasibleWeightsError,
        r"must be ModelPerformance values \(got tuple\)",
    ),
    # propose_weights: the options
    (
        partial(propose_weights, z_threshold=0.0),
        (_THREE, _THREE_PERF),
        InvalidInputError,
        r"z_threshold must be finite and > 0 \(got 0\.0\)",
    ),
    (
        partial(propose_weights, z_threshold=math.nan),
        (_THREE, _THREE_PERF),
        InvalidInputError,
        r"z_threshold must be finite and > 0 \(got nan\)",
    ),
    (
        partial(propose_weights, full_move_excess=0.0),
        (_THREE, _THREE_PERF),
        InvalidInputError,
        r"full_move_excess must be in \(0, 1\] \(got 0\.0\)",
    ),
    (
        partial(propose_weights, full_move_excess=1.5),
        (_THREE, _THREE_PERF),
        InvalidInputError,
        r"full_move_excess must be in \(0, 1\] \(got 1\.5\)",
    ),
    # ModelPerformance: the counts
    (
        ModelPerformance,
        ("a", -1, 3),
        InfeasibleWeightsError,
        r"counts of model 'a' must be non-negative \(got correct=-1, n_trades=3\)",
    ),
    (
        ModelPerformance,
        ("a", 0, -3),
        InfeasibleWeightsError,
        r"must be non-negative \(got correct=0, n_trades=-3\)",
    ),
    (
        ModelPerformance,
        ("a", 4, 3),
        InfeasibleWeightsError,
        r"cannot be correct more often than it traded \(got correct=4 > n_trades=3\)",
    ),
    (
        ModelPerformance,
        ("a", 1.0, 3),
        InfeasibleWeightsError,
        r"trade counts must be integers \(got 1\.0 of type float\)",
    ),
    (
        ModelPerformance,
        ("a", True, 3),
        InfeasibleWeightsError,
        r"trade counts must be integers \(got True of type bool\)",
    ),
    (
        ModelPerformance,
        ("", 1, 3),
        InfeasibleWeightsError,
        r"model name must be a non-empty string",
    ),
    (ModelPerformance, (None, 1, 3), TypeError, r"'name' must be <class 'str'>"),
    # equal_weights: the model count and names
    (equal_weights, (["a", "b"],), InfeasibleWeightsError, r"^2 models cannot"),
    (equal_weights, ([f"m{i}" for i in range(7)],), InfeasibleWeightsError, r"^7 models cannot"),
    (
        equal_weights,
        (["a", "b", "a"],),
        InvalidInputError,
        r"model names must be unique \(got 'a' twice\)",
    ),
    (
        equal_weights,
        (["a", "", "c"],),
        InvalidInputError,
        r"model names must be non-empty strings \(got ''\)",
    ),
    # measure_model_performance: the vote table
    (
        measure_model_performance,
        (["a", "b"], np.array([1, 1], np.int8), [1], [True]),
        InvalidInputError,
        r"actions must have shape \(n_trades, 2\) \(got \(2,\)\)",
    ),
    (
        measure_model_performance,
        (["a"], np.array([[1, 1]], np.int8), [1], [True]),
        InvalidInputError,
        r"actions must have shape \(n_trades, 1\) \(got \(1, 2\)\)",
    ),
    (
        measure_model_performance,
        (["a", "b"], np.array([[1, 5]], np.int8), [1], [True]),
        InvalidInputError,
        r"actions must hold codes \(1, -1, 0, -128\) \(got 5 at \[0, 1\]\)",
    ),
    (
        measure_model_performance,
        (["a"], np.array([[1.0]]), [1], [True]),
        InvalidInputError,
        r"actions must hold integer vote codes \(got dtype float64\)",
    ),
    (
        measure_model_performance,
        (["a"], np.array([[1], [1]], np.int8), [1, 0], [True, True]),
        InvalidInputError,
        r"trade_sides must be \+1 or -1 \(got 0 at 1\)",
    ),
    (
        measure_model_performance,
        (["a"], np.array([[1]], np.int8), [1, 1], [True]),
        InvalidInputError,
        r"trade_sides must have shape \(1,\) \(got \(2,\)\)",
    ),
    (
        measure_model_performance,
        (["a"], np.array([[1]], np.int8), [1], [2]),
        InvalidInputError,
        r"wins must be booleans \(got 2 at 0\)",
    ),
    (
        measure_model_performance,
        (["a"], np.array([[1]], np.int8), [1], [True, False]),
        InvalidInputError,
        r"wins must have shape \(1,\)",
    ),
    (
        measure_model_performance,
        (["a", "a"], np.array([[1, 1]], np.int8), [1], [True]),
        InvalidInputError,
        r"names must be unique \(got 'a' twice\)",
    ),
]


def _case_id(case: tuple[Callable[..., Any], tuple[Any, ...], type[Exception], str]) -> str:
    func = case[0].func if isinstance(case[0], partial) else case[0]
    return f"{getattr(func, '__name__', 'call')}:{case[3][:40]}"


class TestBadInputs:
    @pytest.mark.parametrize(
        ("func", "args", "error", "pattern"), BAD_INPUTS, ids=[_case_id(c) for c in BAD_INPUTS]
    )
    def test_bad_input_raises_a_one_line_error(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        error: type[Exception],
        pattern: str,
    ) -> None:
        """Each bad input raises the documented error with a one-line message naming the value."""
        with pytest.raises(error, match=pattern) as caught:
            func(*args)
        assert "\n" not in str(caught.value)

    def test_infeasible_weights_error_is_a_value_error(self) -> None:
        """Callers may catch InfeasibleWeightsError as InvalidInputError or ValueError."""
        assert issubclass(InfeasibleWeightsError, InvalidInputError)
        assert issubclass(InfeasibleWeightsError, ValueError)
