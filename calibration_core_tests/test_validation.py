"""Tests of calibration_core.core.validation: the safety checks, risk scoring and the report."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import given, strategies as st

from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MAX_WEIGHT,
    MAX_WEIGHT_CHANGE,
    MIN_CONFIDENCE_IMPROVEMENT,
    MIN_OUTCOME_DIVERSITY,
    MIN_TRADES_FOR_CALIBRATION,
    MIN_WEIGHT,
    WEIGHT_SUM_TOLERANCE,
)
from calibration_core.core.numbers import as_real, require, same_float
from calibration_core.core.validation import (
    RISK_CATEGORIES,
    CheckResult,
    RiskScore,
    Severity,
    ValidationReport,
    check_confidence_change_bound,
    check_confidence_improvement,
    check_max_weight_change,
    check_min_trades,
    check_no_degradation,
    check_outcome_diversity,
    check_weight_bounds,
    check_weight_sum,
    score_risk,
    summarize,
)
from calibration_core.core.weights import ModelPerformance, propose_weights
from calibration_core.exceptions import InfeasibleWeightsError, InvalidInputError
from calibration_core_tests.strategies_weights import check_results

if TYPE_CHECKING:
    from collections.abc import Callable

WEIGHTS = {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2}
NON_FINITE = [math.nan, math.inf, -math.inf]


def result(severity: Severity, *, passed: bool, name: str = "some_check") -> CheckResult:
    """Build a CheckResult with only severity and outcome mattering."""
    return CheckResult(
        name=name, severity=severity, passed=passed, value=1.0, threshold=0.5, message="m"
    )


def results(total: int, critical: int, error: int, warning: int) -> list[CheckResult]:
    """Return ``total`` results of which the given numbers failed per severity."""
    failed = (
        [result(Severity.CRITICAL, passed=False)] * critical
        + [result(Severity.ERROR, passed=False)] * error
        + [result(Severity.WARNING, passed=False)] * warning
    )
    return failed + [result(Severity.CRITICAL, passed=True)] * (total - len(failed))


class TestSeverity:
    def test_values_are_the_json_names(self) -> None:
        """Severities serialise as 'critical', 'error' and 'warning'."""
        assert [s.value for s in Severity] == ["critical", "error", "warning"]


class TestCheckResult:
    def test_round_trips_through_json(self) -> None:
        """to_dict → json → from_dict gives an equal result."""
        original = check_min_trades(52)
        text = json.dumps(original.to_dict(), allow_nan=False)
        assert CheckResult.from_dict(json.loads(text)) == original

    @pytest.mark.parametrize("value", [*NON_FINITE, 0.0, -2.5])
    def test_non_finite_values_round_trip_through_strict_json(self, value: float) -> None:
        """NaN and ±inf are written as strings so strict JSON can carry them."""
        original = CheckResult(
            name="x", severity=Severity.ERROR, passed=False, value=value, threshold=0.1, message=""
        )
        restored = CheckResult.from_dict(
            json.loads(json.dumps(original.to_dict(), allow_nan=False))
        )
        assert restored == original

    @given(check_results)
    def test_any_result_round_trips(self, check: CheckResult) -> None:
        """Every CheckResult survives a strict-JSON round trip unchanged."""
        text = json.dumps(check.to_dict(), allow_nan=False)
        assert CheckResult.from_dict(json.loads(text)) == check

    def test_equal_results_hash_equally(self) -> None:
        """A NaN-valued result is equal to, and hashes like, its round-tripped copy."""
        original = check_weight_sum({"a": math.nan})
        copy = CheckResult.from_dict(original.to_dict())
        assert copy == original
        assert hash(copy) == hash(original)


class TestCheckConfidenceImprovement:
    def test_improvement_of_at_least_five_percent_passes(self) -> None:
        """0.25 → 0.23 is an 8 % relative improvement and passes."""
        check = check_confidence_improvement(0.25, 0.23)
        assert check.passed
        assert check.value == pytest.approx(0.08)
        assert check.threshold == MIN_CONFIDENCE_IMPROVEMENT
        assert check.severity is Severity.WARNING
        assert check.message == "MSE improved by 8.0% (0.2500 → 0.2300), at least the 5% required"

    def test_exactly_five_percent_passes(self) -> None:
        """1.0 → 0.95 is exactly the required improvement."""
        assert check_confidence_improvement(1.0, 0.95).passed

    def test_small_improvement_fails_and_disables_the_map(self) -> None:
        """3 % fails, and the message says the map is proposed DISABLED."""
        check = check_confidence_improvement(0.25, 0.2425)
        assert not check.passed
        assert check.message == (
            "MSE improved by 3.0% (0.2500 → 0.2425), below the 5% required; "
            "the confidence map is proposed DISABLED"
        )

    def test_worse_mse_fails_with_negative_improvement(self) -> None:
        """A calibrated MSE above the raw one is a negative improvement."""
        check = check_confidence_improvement(0.20, 0.22)
        assert not check.passed
        assert check.value == pytest.approx(-0.1)

    @pytest.mark.parametrize(("after", "value"), [(0.0, 0.0), (0.1, -math.inf)])
    def test_zero_mse_before_cannot_improve(self, after: float, value: float) -> None:
        """A raw MSE of 0 leaves nothing to improve: the check fails."""
        check = check_confidence_improvement(0.0, after)
        assert not check.passed
        assert check.value == value
        assert "already 0" in check.message
        assert check.message.endswith("DISABLED")

    @pytest.mark.parametrize("bad", NON_FINITE)
    @pytest.mark.parametrize("position", [0, 1])
    def test_non_finite_input_fails(self, bad: float, position: int) -> None:
        """A non-finite MSE never passes; the message says so."""
        args = [0.25, 0.2]
        args[position] = bad
        check = check_confidence_improvement(*args)
        assert not check.passed
        assert "is not finite" in check.message
        assert check.message.endswith("DISABLED")


class TestCheckWeightSum:
    def test_weights_summing_to_one_pass(self) -> None:
        """The design's weights sum to 1."""
        check = check_weight_sum(WEIGHTS)
        assert check.passed
        assert check.severity is Severity.CRITICAL
        assert check.threshold == WEIGHT_SUM_TOLERANCE
        assert check.value == pytest.approx(0.0, abs=1e-15)

    @pytest.mark.parametrize(
        ("delta", "passed"), [(0.0009, True), (-0.0009, True), (0.0011, False), (-0.0011, False)]
    )
    def test_tolerance_is_one_thousandth(self, delta: float, passed: bool) -> None:
        """|sum - 1| up to 0.001 passes, beyond fails."""
        weights = {**WEIGHTS, "xgb": 0.3 + delta}
        check = check_weight_sum(weights)
        assert check.passed is passed
        assert check.value == pytest.approx(abs(delta))

    def test_failure_message_states_sum_and_tolerance(self) -> None:
        """The message gives the sum, the deviation and the tolerance."""
        check = check_weight_sum({**WEIGHTS, "xgb": 0.25})
        assert (
            check.message
            == "4 weights sum to 0.950000; |sum - 1| = 0.050000 exceeds the tolerance 0.001"
        )

    def test_no_weights_fail(self) -> None:
        """An empty weight table sums to 0 and fails."""
        assert not check_weight_sum({}).passed

    @pytest.mark.parametrize("bad", NON_FINITE)
    def test_non_finite_weight_fails(self, bad: float) -> None:
        """A NaN or infinite weight fails, naming the model."""
        check = check_weight_sum({**WEIGHTS, "lgbm": bad})
        assert not check.passed
        assert math.isnan(check.value)
        assert check.message.startswith("the weight of 'lgbm' is not finite")


class TestCheckWeightBounds:
    def test_weights_inside_pass(self) -> None:
        """Weights within [0.15, 0.40], including both ends, pass."""
        check = check_weight_bounds({"a": MIN_WEIGHT, "b": MAX_WEIGHT, "c": 0.25, "d": 0.2})
        assert check.passed
        assert check.severity is Severity.ERROR
        assert (check.value, check.threshold) == (0.0, 0.0)
        assert check.message == "all 4 weights lie within [0.15, 0.4]"

    def test_offending_models_are_named(self) -> None:
        """Every weight outside the bounds is listed, and value is the largest excursion."""
        check = check_weight_bounds({"xgb": 0.12, "lgbm": 0.45, "nhits": 0.2, "patchtst": 0.23})
        assert not check.passed
        assert check.message == "weights outside [0.15, 0.4]: xgb=0.1200, lgbm=0.4500"
        assert check.value == pytest.approx(0.05)

    def test_just_outside_fails(self) -> None:
        """No tolerance: one ulp below MIN_WEIGHT fails."""
        assert not check_weight_bounds({"a": math.nextafter(MIN_WEIGHT, 0.0)}).passed

    @pytest.mark.parametrize("bad", NON_FINITE)
    def test_non_finite_weight_fails(self, bad: float) -> None:
        """A NaN weight is never within bounds."""
        check = check_weight_bounds({**WEIGHTS, "nhits": bad})
        assert not check.passed
        assert "'nhits' is not finite" in check.message


class TestCheckMaxWeightChange:
    def test_design_example_passes(self) -> None:
        """The design's ±8.7 % moves are within ±10 %."""
        after = {"xgb": 0.274, "lgbm": 0.326, "nhits": 0.2, "patchtst": 0.2}
        check = check_max_weight_change(WEIGHTS, after)
        assert check.passed
        assert check.severity is Severity.ERROR
        assert check.value == pytest.approx(0.026 / 0.3)
        assert check.threshold == MAX_WEIGHT_CHANGE
        assert check.message == "largest weight change 8.7% is within ±10%"

    def test_exactly_ten_percent_passes(self) -> None:
        """A move of exactly 10 % (up to float rounding) passes."""
        after = {"xgb": 0.3 * 0.9, "lgbm": 0.3 * 1.1, "nhits": 0.2, "patchtst": 0.2}
        assert check_max_weight_change(WEIGHTS, after).passed

    def test_larger_move_fails_and_names_the_model(self) -> None:
        """A 12 % move fails with the model, the percentage and the two weights."""
        after = {"xgb": 0.264, "lgbm": 0.336, "nhits": 0.2, "patchtst": 0.2}
        check = check_max_weight_change(WEIGHTS, after)
        assert not check.passed
        assert check.message == (
            "weight changes beyond ±10%: xgb -12.0% (0.3000 → 0.2640), "
            "lgbm +12.0% (0.3000 → 0.3360)"
        )

    def test_move_just_beyond_the_rounding_slack_fails(self) -> None:
        """10 % plus 1e-9 relative is a real excess and fails."""
        after = {**WEIGHTS, "xgb": 0.3 * (1 + MAX_WEIGHT_CHANGE + 1e-9)}
        assert not check_max_weight_change(WEIGHTS, after).passed

    def test_zero_current_weight_fails(self) -> None:
        """A current weight of 0 has no relative change; the check fails."""
        check = check_max_weight_change({"a": 0.0}, {"a": 0.1})
        assert not check.passed
        assert check.value == math.inf

    @pytest.mark.parametrize("bad", NON_FINITE)
    def test_non_finite_weight_fails(self, bad: float) -> None:
        """A NaN proposed weight fails, naming it."""
        check = check_max_weight_change(WEIGHTS, {**WEIGHTS, "xgb": bad})
        assert not check.passed
        assert "the after weight of 'xgb' is not finite" in check.message

    def test_accepts_a_weight_proposal(self) -> None:
        """The dicts of a proposal pass all three weight checks."""
        perf = [
            ModelPerformance("xgb", 96, 200),
            ModelPerformance("lgbm", 124, 200),
            ModelPerformance("nhits", 110, 200),
            ModelPerformance("patchtst", 110, 200),
        ]
        proposal = propose_weights(WEIGHTS, perf)
        after = proposal.after_dict()
        assert check_max_weight_change(proposal.before_dict(), after).passed
        assert check_weight_sum(after).passed
        assert check_weight_bounds(after).passed


class TestCheckOutcomeDiversity:
    def test_balanced_outcomes_pass(self) -> None:
        """30 % wins and 25 % losses both clear 15 %."""
        check = check_outcome_diversity(30, 25, 100)
        assert check.passed
        assert check.severity is Severity.CRITICAL
        assert check.value == 0.25
        assert check.threshold == MIN_OUTCOME_DIVERSITY
        assert (
            check.message
            == "wins 30.0% (30/100), losses 25.0% (25/100); both at least the 15% minimum"
        )

    def test_exactly_fifteen_percent_passes(self) -> None:
        """15 losses out of 100 is exactly the minimum."""
        assert check_outcome_diversity(80, 15, 100).passed
        assert check_outcome_diversity(3, 17, 20).passed

    def test_too_few_losses_fail(self) -> None:
        """14 % losses fail, and the message says the smaller share is below."""
        check = check_outcome_diversity(86, 14, 100)
        assert not check.passed
        assert check.value == 0.14
        assert "the smaller is below the 15% minimum" in check.message

    def test_neutral_trades_count_in_the_total(self) -> None:
        """Neutral trades dilute both shares."""
        assert not check_outcome_diversity(20, 14, 100).passed

    def test_no_trades_fail(self) -> None:
        """Without trades there is no diversity."""
        check = check_outcome_diversity(0, 0, 0)
        assert not check.passed
        assert check.value == 0.0

    @pytest.mark.parametrize("bad", NON_FINITE)
    def test_non_finite_count_fails(self, bad: float) -> None:
        """A NaN count fails the check."""
        check = check_outcome_diversity(30, bad, 100)
        assert not check.passed
        assert "n_losses is not finite" in check.message


class TestCheckConfidenceChangeBound:
    @pytest.mark.parametrize("change", [0.0, 0.1, MAX_CONFIDENCE_CHANGE, (0.7 + 0.15) - 0.7])
    def test_changes_within_the_bound_pass(self, change: float) -> None:
        """Up to ±0.15, and raw + 0.15 - raw as rounded, passes."""
        check = check_confidence_change_bound(change)
        assert check.passed
        assert check.severity is Severity.CRITICAL
        assert check.threshold == MAX_CONFIDENCE_CHANGE

    def test_larger_change_fails(self) -> None:
        """0.16 exceeds the bound."""
        check = check_confidence_change_bound(0.16)
        assert not check.passed
        assert check.message == "largest confidence change 0.1600 is beyond ±0.15"

    def test_change_just_beyond_the_rounding_slack_fails(self) -> None:
        """0.15 + 1e-9 is a real excess."""
        assert not check_confidence_change_bound(MAX_CONFIDENCE_CHANGE + 1e-9).passed

    @pytest.mark.parametrize("bad", NON_FINITE)
    def test_non_finite_change_fails(self, bad: float) -> None:
        """NaN never passes the bound."""
        check = check_confidence_change_bound(bad)
        assert not check.passed
        assert check.message.startswith("max_abs_change is not finite")


class TestCheckNoDegradation:
    @pytest.mark.parametrize(
        ("before", "after", "higher_is_better", "passed"),
        [
            (0.55, 0.56, True, True),
            (0.55, 0.55, True, True),
            (0.55, 0.54, True, False),
            (0.25, 0.24, False, True),
            (0.25, 0.25, False, True),
            (0.25, 0.26, False, False),
        ],
    )
    def test_only_a_worse_value_fails(
        self, before: float, after: float, higher_is_better: bool, passed: bool
    ) -> None:
        """Better or equal passes in the metric's direction; worse by anything fails."""
        check = check_no_degradation("m", before, after, higher_is_better=higher_is_better)
        assert check.passed is passed
        assert check.severity is Severity.ERROR
        assert (check.value, check.threshold) == (after, before)

    def test_name_and_message_carry_the_metric(self) -> None:
        """The check is named after the metric and the message states both values."""
        check = check_no_degradation("weighted-vote precision", 0.55, 0.54, higher_is_better=True)
        assert check.name == "no_degradation:weighted-vote precision"
        assert check.message == (
            "weighted-vote precision: 0.55 → 0.54 (higher is better), "
            "worse by 0.01; no degradation is allowed"
        )

    def test_the_smallest_degradation_fails(self) -> None:
        """0 % degradation is allowed: one ulp worse fails."""
        worse = math.nextafter(0.55, 0.0)
        check = check_no_degradation("m", 0.55, worse, higher_is_better=True)
        assert not check.passed
        assert "worse by 1.11e-16" in check.message

    @pytest.mark.parametrize("bad", NON_FINITE)
    @pytest.mark.parametrize("higher_is_better", [True, False])
    def test_non_finite_value_fails(self, bad: float, higher_is_better: bool) -> None:
        """A NaN or infinite metric never passes, in either direction."""
        for before, after in ((bad, 0.5), (0.5, bad)):
            check = check_no_degradation("m", before, after, higher_is_better=higher_is_better)
            assert not check.passed
            assert "is not finite" in check.message


class TestCheckMinTrades:
    @pytest.mark.parametrize(
        ("n_trades", "passed"), [(49, False), (50, True), (212, True), (0, False)]
    )
    def test_fifty_trades_are_required(self, n_trades: int, passed: bool) -> None:
        """At least 50 trades pass."""
        check = check_min_trades(n_trades)
        assert check.passed is passed
        assert check.severity is Severity.CRITICAL
        assert check.threshold == MIN_TRADES_FOR_CALIBRATION

    def test_message_states_count_and_requirement(self) -> None:
        """The message gives the count and the 50 required."""
        assert check_min_trades(49).message == "49 trades, fewer than the 50 required"

    def test_non_finite_count_fails(self) -> None:
        """An infinite count is not a count and fails."""
        assert not check_min_trades(math.inf).passed


RISK_TABLE = [
    # (checks, critical, error, warning failures) -> score, category
    ((8, 1, 0, 0), 0.0625, "low"),
    ((4, 1, 1, 0), 0.2, "low"),
    ((5, 2, 0, 0), 0.2, "low"),
    ((3, 0, 2, 0), 0.2, "low"),
    ((4, 2, 0, 0), 0.25, "medium"),
    ((3, 0, 3, 0), 0.3, "medium"),
    ((5, 4, 0, 0), 0.4, "medium"),
    ((2, 1, 1, 0), 0.4, "medium"),
    ((2, 2, 0, 0), 0.5, "high"),
    ((10, 9, 1, 0), 0.48, "high"),
    ((8, 0, 0, 0), 0.0, "low"),
    ((10, 0, 0, 10), 0.1, "low"),
    ((8, 0, 0, 1), 0.0125, "low"),
    ((6, 2, 1, 1), 1.4 / 6, "medium"),
    ((1, 0, 0, 1), 0.1, "low"),
    ((1, 0, 1, 0), 0.3, "medium"),
    ((1, 1, 0, 0), 0.5, "high"),
]


class TestScoreRisk:
    @pytest.mark.parametrize(("counts", "score", "category"), RISK_TABLE)
    def test_worked_examples(
        self, counts: tuple[int, int, int, int], score: float, category: str
    ) -> None:
        """(0.5·critical + 0.3·error + 0.1·warning) / checks, low ≤ 0.20 < medium ≤ 0.40 < high."""
        risk = score_risk(results(*counts))
        assert risk.score == pytest.approx(score, abs=1e-15)
        assert risk.category == category
        assert (
            risk.total_checks,
            risk.critical_failures,
            risk.error_failures,
            risk.warning_failures,
        ) == counts
        assert risk.blocks_deployment is (category == "high")

    def test_passed_checks_of_any_severity_add_nothing(self) -> None:
        """Only failures count; passed CRITICAL checks score 0."""
        passed = [result(s, passed=True) for s in Severity]
        assert score_risk(passed).score == 0.0

    @given(st.lists(check_results, min_size=1, max_size=30))
    def test_score_is_in_unit_interval_and_matches_category(
        self, checks: list[CheckResult]
    ) -> None:
        """For any results the score lies in [0, 1] and the category follows it."""
        risk = score_risk(checks)
        assert 0.0 <= risk.score <= 1.0
        assert risk.category in RISK_CATEGORIES
        expected = (
            "low"
            if risk.score <= 0.2 + 1e-12
            else "medium"
            if risk.score <= 0.4 + 1e-12
            else "high"
        )
        assert risk.category == expected
        assert risk.total_checks == len(checks)
        assert risk.critical_failures + risk.error_failures + risk.warning_failures == sum(
            1 for c in checks if not c.passed
        )

    def test_accepts_any_iterable(self) -> None:
        """A generator of results scores like the list."""
        checks = results(4, 1, 1, 0)
        assert score_risk(c for c in checks) == score_risk(checks)


class TestValidationReport:
    def test_warning_failure_alone_still_passes(self) -> None:
        """A failed WARNING does not fail the report."""
        report = summarize([check_min_trades(60), check_confidence_improvement(0.25, 0.25)])
        assert report.passed
        assert [c.name for c in report.failures()] == ["confidence_improvement"]
        assert report.risk.score == pytest.approx(0.05)

    @pytest.mark.parametrize("severity", [Severity.CRITICAL, Severity.ERROR])
    def test_critical_or_error_failure_fails(self, severity: Severity) -> None:
        """A failed CRITICAL or ERROR check fails the report."""
        report = summarize([result(Severity.WARNING, passed=True), result(severity, passed=False)])
        assert not report.passed

    def test_summarize_keeps_order_and_scores(self) -> None:
        """The report holds the checks in order and their risk score."""
        checks = [
            check_min_trades(52),
            check_outcome_diversity(30, 22, 52),
            check_weight_sum(WEIGHTS),
            check_weight_bounds(WEIGHTS),
            check_max_weight_change(WEIGHTS, WEIGHTS),
            check_confidence_change_bound(0.05),
            check_confidence_improvement(0.25, 0.2),
            check_no_degradation("precision", 0.55, 0.56, higher_is_better=True),
        ]
        report = summarize(checks)
        assert report.checks == tuple(checks)
        assert report.risk == score_risk(checks)
        assert report.passed
        assert report.failures() == ()
        assert report == ValidationReport(checks=tuple(checks), risk=score_risk(checks))


BAD_INPUTS: list[tuple[Callable[..., Any], tuple[Any, ...], type[Exception], str]] = [
    (score_risk, ([],), InvalidInputError, r"results must hold at least one check \(got none\)"),
    (summarize, ([],), InvalidInputError, r"at least one check"),
    (
        score_risk,
        ([{"name": "x"}],),
        InvalidInputError,
        r"must hold CheckResult values \(got dict\)",
    ),
    (
        check_confidence_improvement,
        (-0.1, 0.2),
        InvalidInputError,
        r"mse_before must be >= 0 \(got -0\.1\)",
    ),
    (
        check_confidence_improvement,
        (0.2, -0.1),
        InvalidInputError,
        r"mse_after must be >= 0 \(got -0\.1\)",
    ),
    (
        check_confidence_improvement,
        ("0.2", 0.1),
        InvalidInputError,
        r"mse_before must be a number \(got '0\.2'\)",
    ),
    (
        check_confidence_improvement,
        (True, 0.1),
        InvalidInputError,
        r"mse_before must be a number \(got True\)",
    ),
    (
        check_weight_sum,
        ([0.5, 0.5],),
        InvalidInputError,
        r"weights must be a mapping of model name to weight \(got list\)",
    ),
    (
        check_weight_bounds,
        ({"a": None},),
        InvalidInputError,
        r"weights\['a'\] must be a number \(got None\)",
    ),
    (
        check_max_weight_change,
        ({"a": 0.5}, {"b": 0.5}),
        InvalidInputError,
        r"before and after must name the same models \(got \['a'\] and \['b'\]\)",
    ),
    (
        check_outcome_diversity,
        (-1, 10, 100),
        InvalidInputError,
        r"n_wins must be >= 0 \(got -1\.0\)",
    ),
    (
        check_outcome_diversity,
        (60, 50, 100),
        InvalidInputError,
        r"n_wins \+ n_losses must be <= n_trades \(got 60 \+ 50 > 100\)",
    ),
    (
        check_confidence_change_bound,
        (-0.01,),
        InvalidInputError,
        r"max_abs_change must be >= 0 \(got -0\.01\)",
    ),
    (
        partial(check_no_degradation, higher_is_better=True),
        ("", 0.5, 0.5),
        InvalidInputError,
        r"name must be a non-empty string \(got ''\)",
    ),
    (
        partial(check_no_degradation, higher_is_better=True),
        ("m", "x", 0.5),
        InvalidInputError,
        r"before must be a number \(got 'x'\)",
    ),
    (check_min_trades, (-5,), InvalidInputError, r"n_trades must be >= 0 \(got -5\.0\)"),
    (CheckResult.from_dict, ({"name": "x"},), InvalidInputError, r"must have exactly the fields"),
    (
        CheckResult.from_dict,
        (
            {
                "name": "x",
                "severity": "fatal",
                "passed": True,
                "value": 1,
                "threshold": 1,
                "message": "",
            },
        ),
        InvalidInputError,
        r"severity must be one of \['critical', 'error', 'warning'\] \(got 'fatal'\)",
    ),
    (
        CheckResult.from_dict,
        (
            {
                "name": "x",
                "severity": "error",
                "passed": "yes",
                "value": 1,
                "threshold": 1,
                "message": "",
            },
        ),
        InvalidInputError,
        r"passed must be a boolean \(got 'yes'\)",
    ),
    (
        CheckResult.from_dict,
        (
            {
                "name": "x",
                "severity": "error",
                "passed": True,
                "value": "big",
                "threshold": 1,
                "message": "",
            },
        ),
        InvalidInputError,
        r"value must be a number, 'nan', 'inf' or '-inf' \(got 'big'\)",
    ),
    (
        CheckResult.from_dict,
        (
            {
                "name": "x",
                "severity": "error",
                "passed": True,
                "value": 1,
                "threshold": None,
                "message": "",
            },
        ),
        InvalidInputError,
        r"threshold must be a number \(got None\)",
    ),
    (
        CheckResult.from_dict,
        (
            {
                "name": 3,
                "severity": "error",
                "passed": True,
                "value": 1,
                "threshold": 1,
                "message": "",
            },
        ),
        InvalidInputError,
        r"name and message must be strings",
    ),
    (
        CheckResult.from_dict,
        (["name"],),
        InvalidInputError,
        r"check result must be a mapping \(got list\)",
    ),
    (
        CheckResult,
        ("", Severity.ERROR, True, 1.0, 1.0, ""),
        InvalidInputError,
        r"name must be a non-empty string",
    ),
    (
        CheckResult,
        ("x", "error", True, 1.0, 1.0, ""),
        TypeError,
        r"'severity' must be <enum 'Severity'>",
    ),
    (RiskScore, (1.5, "high", 0, 0, 0, 1), ValueError, r"'score' must be <= 1\.0"),
    (
        RiskScore,
        (0.1, "severe", 0, 0, 0, 1),
        ValueError,
        r"'category' must be in \('low', 'medium', 'high'\)",
    ),
    (RiskScore, (0.0, "low", 0, 0, 0, 0), ValueError, r"'total_checks' must be >= 1"),
]


def _case_id(case: tuple[Callable[..., Any], tuple[Any, ...], type[Exception], str]) -> str:
    func = case[0].func if isinstance(case[0], partial) else case[0]
    return f"{getattr(func, '__qualname__', 'call')}:{case[3][:40]}"


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


class TestNumberChecks:
    """core/numbers.py: the one rule for a real number that the checks share."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(0.25, 0.25), (3, 3.0), (np.float32(0.5), 0.5), (np.int64(7), 7.0), (Decimal("0.1"), 0.1)],
    )
    def test_a_real_number_becomes_a_python_float(self, value: object, expected: float) -> None:
        """Python, numpy and Decimal numbers become a float64 Python float."""
        result = as_real(value, "x")
        assert type(result) is float
        assert result == expected

    def test_nan_and_infinity_pass_for_the_caller_to_judge(self) -> None:
        """as_real converts; whether NaN or ±inf is acceptable is each check's own rule."""
        assert math.isnan(as_real(math.nan, "x"))
        assert as_real(-math.inf, "x") == -math.inf

    @pytest.mark.parametrize("value", [True, "0.5", b"1", None, [0.5], object()])
    def test_what_is_not_a_number_is_refused_by_name(self, value: object) -> None:
        """A bool, a string, bytes or a non-number is a bug at the caller: named, one line."""
        with pytest.raises(InvalidInputError, match=r"^weight of 'a' must be a number \(got "):
            as_real(value, "weight of 'a'")

    def test_require_raises_the_given_error_only_when_the_rule_fails(self) -> None:
        """Require is silent on a kept rule and raises the chosen type, value shown by repr."""
        require(True, "k", "> 0", 1.0)  # noqa: FBT003 - the rule's outcome is the argument
        with pytest.raises(InfeasibleWeightsError, match=r"^k must be > 0 \(got -1\.0\)$"):
            require(False, "k", "> 0", -1.0, error=InfeasibleWeightsError)  # noqa: FBT003

    def test_same_float_treats_nan_as_equal_to_itself(self) -> None:
        """Two undefined values are equal; a number never equals NaN."""
        assert same_float(math.nan, math.nan)
        assert same_float(0.5, 0.5)
        assert not same_float(0.5, math.nan)
        assert not same_float(0.5, 0.25)
