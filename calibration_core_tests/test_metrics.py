"""Tests of core.metrics: proper scores, reliability, calibration error, correlation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import example, given, strategies as st
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss as sklearn_log_loss

from calibration_core.core.metrics import (
    brier_score,
    expected_calibration_error,
    log_loss,
    maximum_calibration_error,
    mse,
    pearson_correlation,
    reliability_table,
    spearman_correlation,
    wilson_interval,
)
from calibration_core.exceptions import InvalidInputError
from calibration_core_tests.strategies import forecasts_and_outcomes, real_samples

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

STRATEGIES = st.sampled_from(["uniform", "quantile"])


def _binary(values: FloatArray) -> bool:
    return bool(np.all((values == 0.0) | (values == 1.0)))


def _looks_swapped(sample: tuple[FloatArray, FloatArray]) -> bool:
    """Return whether the scores refuse the sample: forecasts all 0/1, outcomes not."""
    p, y = sample
    return _binary(p) and not _binary(y)


# Samples the scores accept; the refused ones are tested in TestArgumentOrder.
FORECASTS = forecasts_and_outcomes().filter(lambda sample: not _looks_swapped(sample))


class TestBrierScore:
    @given(FORECASTS)
    def test_equals_the_mean_squared_error(self, sample: tuple[FloatArray, FloatArray]) -> None:
        """The Brier score is mean((p - y)^2), and mse is the same function."""
        p, y = sample
        assert brier_score(y, p) == pytest.approx(float(np.mean((p - y) ** 2)), abs=1e-15)
        assert mse(y, p) == brier_score(y, p)

    def test_matches_sklearn_on_binary_outcomes(self) -> None:
        """On 0/1 outcomes it equals sklearn.metrics.brier_score_loss, weighted or not."""
        rng = np.random.default_rng(1)
        p = rng.random(500)
        y = (rng.random(500) < p).astype(np.float64)
        w = rng.random(500) + 0.1
        assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-12)
        assert brier_score(y, p, weights=w) == pytest.approx(
            brier_score_loss(y, p, sample_weight=w), rel=1e-12
        )

    def test_perfect_and_worst_forecasts_score_zero_and_one(self) -> None:
        """Certain correct forecasts score 0; certain wrong ones score 1."""
        assert brier_score([1.0, 0.0], [1.0, 0.0]) == 0.0
        assert brier_score([1.0, 0.0], [0.0, 1.0]) == 1.0

    def test_weights_scale_invariantly(self) -> None:
        """Multiplying every weight by a constant leaves the score unchanged."""
        p, y, w = [0.2, 0.7, 0.9], [0.0, 1.0, 0.0], [1.0, 2.0, 3.0]
        assert brier_score(y, p, weights=w) == pytest.approx(
            brier_score(y, p, weights=[10.0, 20.0, 30.0]), rel=1e-15
        )


class TestLogLoss:
    @given(FORECASTS)
    def test_equals_the_clipped_mean_negative_log_likelihood(
        self, sample: tuple[FloatArray, FloatArray]
    ) -> None:
        """log_loss = -mean(y ln q + (1 - y) ln(1 - q)) with q = clip(p, eps, 1 - eps)."""
        p, y = sample
        q = np.clip(p, 1e-15, 1 - 1e-15)
        expected = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))
        assert log_loss(y, p) == pytest.approx(float(expected), rel=1e-9, abs=1e-12)

    def test_confident_misses_are_finite(self) -> None:
        """Forecasting 0 for an outcome of 1 costs -ln(eps), not infinity."""
        assert log_loss([1.0], [0.0]) == pytest.approx(-math.log(1e-15), rel=1e-6)
        assert log_loss([1.0], [0.0], eps=1e-3) == pytest.approx(-math.log(1e-3), rel=1e-9)

    def test_a_coin_flip_costs_ln_two(self) -> None:
        """Forecasting 1/2 costs ln 2 per outcome."""
        assert log_loss([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2.0), rel=1e-15)


class TestArgumentOrder:
    @given(st.integers(min_value=1, max_value=200), st.data())
    def test_scores_equal_sklearn_metrics_called_the_same_way(
        self, n: int, data: st.DataObject
    ) -> None:
        """brier_score and log_loss take (y_true, y_prob) and equal sklearn.metrics' values."""
        seed = data.draw(st.integers(min_value=0, max_value=2**32 - 1))
        rng = np.random.default_rng(seed)
        p = rng.uniform(1e-6, 1.0 - 1e-6, n)
        y = (rng.random(n) < p).astype(np.float64)
        w = rng.random(n) + 0.1
        labels = [0.0, 1.0]
        assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-12, abs=1e-15)
        assert brier_score(y, p, weights=w) == pytest.approx(
            brier_score_loss(y, p, sample_weight=w), rel=1e-12, abs=1e-15
        )
        assert log_loss(y, p) == pytest.approx(sklearn_log_loss(y, p, labels=labels), rel=1e-12)
        assert brier_score(y_true=y, y_prob=p) == brier_score(y, p)
        assert log_loss(y_true=y, y_prob=p) == log_loss(y, p)

    def test_the_swapped_call_of_the_issue_is_refused(self) -> None:
        """The old (p, y) order scored outcomes as forecasts (14.43 for 0.605); it now raises."""
        y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
        p = np.array([0.7, 0.4, 0.6, 0.55, 0.3, 0.45, 0.5, 0.35])
        assert log_loss(y, p) == pytest.approx(sklearn_log_loss(y, p), rel=1e-12)
        with pytest.raises(InvalidInputError, match=r"the arguments look swapped"):
            log_loss(p, y)

    @pytest.mark.parametrize(
        "score",
        [
            brier_score,
            log_loss,
            reliability_table,
            expected_calibration_error,
            maximum_calibration_error,
        ],
    )
    def test_every_score_refuses_a_swapped_call(self, score: Callable[..., object]) -> None:
        """Outcomes that are not 0/1 next to forecasts that all are: refused, naming the rule."""
        with pytest.raises(
            InvalidInputError,
            match=(
                r"the arguments look swapped: metrics take \(y_true, y_prob\) as scikit-learn "
                r"does, but y_true holds 0.7 at index 1 while y_prob holds only 0s and 1s"
            ),
        ):
            score([1.0, 0.7, 0.2], [1.0, 1.0, 0.0])

    def test_rate_outcomes_with_probabilities_are_scored(self) -> None:
        """Observed rates as y_true are fine while y_prob is not all 0/1."""
        assert brier_score([0.25, 0.75], [0.5, 0.5]) == pytest.approx(0.0625)
        assert brier_score([0.0, 1.0], [0.0, 1.0]) == 0.0  # both 0/1: cannot be told apart


class TestWilsonInterval:
    @given(st.integers(min_value=1, max_value=10_000), st.data())
    def test_equals_scipy_binomtest_wilson(self, n: int, data: st.DataObject) -> None:
        """For integer counts it equals scipy.stats.binomtest(k, n).proportion_ci("wilson")."""
        k = data.draw(st.integers(min_value=0, max_value=n))
        low, high = wilson_interval(k, n)
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert low == pytest.approx(ref.low, abs=1e-12)
        assert high == pytest.approx(ref.high, abs=1e-12)

    @given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.5, max_value=1e6))
    def test_contains_the_observed_rate_and_stays_in_the_unit_interval(
        self, rate: float, n: float
    ) -> None:
        """0 <= low <= successes / n <= high <= 1, also for fractional successes."""
        low, high = wilson_interval(rate * n, n)
        assert 0.0 <= low <= rate + 1e-12
        assert rate - 1e-12 <= high <= 1.0

    def test_no_trials_gives_the_whole_interval(self) -> None:
        """With n = 0 nothing is known: (0.0, 1.0)."""
        assert wilson_interval(0, 0) == (0.0, 1.0)

    @pytest.mark.parametrize("n", [3, 6, 7, 10, 12, 13, 14, 24, 25, 1000])
    def test_no_wins_and_all_wins_reach_the_ends_exactly(self, n: int) -> None:
        """0 wins has low 0.0 and n wins high 1.0 exactly (rounding once gave 5.6e-17)."""
        assert wilson_interval(0, n)[0] == 0.0
        assert wilson_interval(n, n)[1] == 1.0

    def test_larger_z_gives_a_wider_interval(self) -> None:
        """A 99 % interval contains the 95 % one."""
        low95, high95 = wilson_interval(30, 100)
        low99, high99 = wilson_interval(30, 100, z=2.5758293035489004)
        assert low99 < low95 < high95 < high99


class TestReliabilityTable:
    @given(FORECASTS, st.integers(min_value=1, max_value=15), STRATEGIES)
    def test_bins_partition_the_forecasts(
        self, sample: tuple[FloatArray, FloatArray], n_bins: int, strategy: str
    ) -> None:
        """Bin counts add up to n, bins are ordered and disjoint, and none is empty."""
        p, y = sample
        table = reliability_table(y, p, n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
        assert sum(b.count for b in table.bins) == p.shape[0]
        assert all(b.count >= 1 for b in table.bins)
        assert 1 <= len(table.bins) <= n_bins
        for left, right in zip(table.bins[:-1], table.bins[1:], strict=True):
            assert left.upper <= right.lower
        assert table.n_bins == n_bins
        assert table.strategy == strategy

    @given(FORECASTS, st.integers(min_value=1, max_value=15), STRATEGIES)
    def test_each_bin_reports_its_means_and_a_wilson_interval(
        self, sample: tuple[FloatArray, FloatArray], n_bins: int, strategy: str
    ) -> None:
        """mean_predicted lies in the bin, observed_rate in [0, 1], inside its Wilson interval."""
        p, y = sample
        for b in reliability_table(y, p, n_bins=n_bins, strategy=strategy).bins:  # type: ignore[arg-type]
            assert b.lower - 1e-12 <= b.mean_predicted <= b.upper + 1e-12
            assert 0.0 <= b.ci_low <= b.observed_rate + 1e-12
            assert b.observed_rate - 1e-12 <= b.ci_high <= 1.0
            low, high = wilson_interval(b.observed_rate * b.count, b.count)
            assert (b.ci_low, b.ci_high) == pytest.approx((low, high), abs=1e-12)

    def test_uniform_bins_match_sklearn_calibration_curve(self) -> None:
        """Away from bin edges the per-bin rates and mean forecasts equal sklearn's."""
        rng = np.random.default_rng(5)
        p = rng.random(2_000) * 0.8
        y = (rng.random(2_000) < p).astype(np.float64)
        table = reliability_table(y, p, n_bins=10)
        prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
        np.testing.assert_allclose([b.observed_rate for b in table.bins], prob_true, rtol=1e-12)
        np.testing.assert_allclose([b.mean_predicted for b in table.bins], prob_pred, rtol=1e-12)
        assert len(table.bins) == 8  # the two bins above 0.8 are empty and omitted

    def test_uniform_bins_are_half_open_with_the_last_one_closed(self) -> None:
        """A forecast of 0.1 opens the second of ten bins, and 1.0 falls in the last bin."""
        table = reliability_table([0.0, 1.0, 1.0], [0.0, 0.1, 1.0], n_bins=10)
        assert [(b.lower, b.count) for b in table.bins] == [(0.0, 1), (0.1, 1), (0.9, 1)]
        assert table.bins[-1].upper == 1.0

    def test_quantile_bins_hold_similar_counts(self) -> None:
        """Quantile edges split 1,000 distinct forecasts into bins of ~100."""
        p = np.linspace(0.0, 1.0, 1_000)
        table = reliability_table(np.zeros_like(p), p, n_bins=10, strategy="quantile")
        assert len(table.bins) == 10
        assert all(99 <= b.count <= 101 for b in table.bins)

    def test_duplicate_quantile_edges_are_merged(self) -> None:
        """Identical forecasts give one bin instead of empty ones."""
        table = reliability_table([1.0] * 25 + [0.0] * 25, [0.3] * 50, strategy="quantile")
        (only,) = table.bins
        assert (only.lower, only.upper, only.count) == (0.3, 0.3, 50)
        assert only.mean_predicted == pytest.approx(0.3, rel=1e-14)
        assert only.observed_rate == 0.5
        assert (only.ci_low, only.ci_high) == wilson_interval(25, 50)


class TestCalibrationErrors:
    @given(FORECASTS, st.integers(min_value=1, max_value=15), STRATEGIES)
    def test_ece_is_the_count_weighted_mean_gap_and_mce_the_largest(
        self, sample: tuple[FloatArray, FloatArray], n_bins: int, strategy: str
    ) -> None:
        """ECE = sum n_b/n |o_b - p_b| and MCE = max |o_b - p_b| over the table's bins."""
        p, y = sample
        table = reliability_table(y, p, n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
        gaps = [abs(b.observed_rate - b.mean_predicted) for b in table.bins]
        counts = [b.count for b in table.bins]
        ece = expected_calibration_error(y, p, n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
        mce = maximum_calibration_error(y, p, n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
        assert ece == pytest.approx(np.dot(counts, gaps) / p.shape[0], abs=1e-12)
        assert mce == pytest.approx(max(gaps), abs=1e-15)
        assert 0.0 <= ece <= mce + 1e-12 <= 1.0 + 1e-12

    def test_calibrated_forecasts_have_no_error(self) -> None:
        """Forecasts that equal their bin's outcome rate give ECE = MCE = 0."""
        p = [0.25] * 4 + [0.75] * 4
        y = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]
        assert expected_calibration_error(y, p) == 0.0
        assert maximum_calibration_error(y, p) == 0.0

    def test_known_example(self) -> None:
        """Two bins with gaps 0.2 (4 samples) and 0.4 (1 sample): ECE 0.24, MCE 0.4."""
        p = [0.05, 0.05, 0.05, 0.05, 0.6]
        y = [0.25, 0.25, 0.25, 0.25, 1.0]
        assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.24)
        assert maximum_calibration_error(y, p, n_bins=2) == pytest.approx(0.4)


class TestCorrelation:
    @given(real_samples(min_size=3))
    @example((np.array([0.0, 0.0, 1e300]), np.array([1.0, 2.0, 3.0])))
    def test_pearson_equals_scipy(self, sample: tuple[FloatArray, FloatArray]) -> None:
        """Pearson's r equals scipy.stats.pearsonr on non-constant samples."""
        a, b = sample
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            assert pearson_correlation(a, b) == 0.0
            return
        ref = stats.pearsonr(a / np.max(np.abs(a)), b / np.max(np.abs(b))).statistic
        assert pearson_correlation(a, b) == pytest.approx(ref, abs=1e-9)

    @given(real_samples(min_size=3))
    def test_spearman_equals_scipy_with_ties(self, sample: tuple[FloatArray, FloatArray]) -> None:
        """Spearman's rho (average ranks for ties) equals scipy.stats.spearmanr."""
        a, b = sample
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            assert spearman_correlation(a, b) == 0.0
            return
        assert spearman_correlation(a, b) == pytest.approx(
            stats.spearmanr(a, b).statistic, abs=1e-12
        )

    @given(real_samples())
    def test_correlations_are_symmetric_and_bounded(
        self, sample: tuple[FloatArray, FloatArray]
    ) -> None:
        """corr(a, b) = corr(b, a) and lies in [-1, 1]."""
        a, b = sample
        for corr in (pearson_correlation, spearman_correlation):
            assert corr(a, b) == pytest.approx(corr(b, a), abs=1e-15)
            assert -1.0 <= corr(a, b) <= 1.0

    def test_spearman_ignores_monotone_transforms(self) -> None:
        """Ranks do not change under an increasing transform, so rho is 1 for exp(a) vs a."""
        a = np.array([0.3, -1.0, 2.5, 0.0, 7.0])
        assert spearman_correlation(a, np.exp(a)) == pytest.approx(1.0, abs=1e-15)
        assert pearson_correlation(a, np.exp(a)) < 1.0

    def test_constant_input_gives_zero(self) -> None:
        """A constant side (or a single pair) has no defined correlation: 0.0, no warning."""
        assert pearson_correlation([0.1, 0.1, 0.1], [1.0, 2.0, 3.0]) == 0.0
        assert spearman_correlation([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) == 0.0
        assert pearson_correlation([1.0], [2.0]) == 0.0


BAD_INPUTS: list[tuple[Callable[[], object], type[Exception], str]] = [
    (
        lambda: brier_score([0.0, 1.0], [0.5, 1.5]),
        InvalidInputError,
        r"y_prob must be in \[0, 1\] \(got 1.5 at index 1\)",
    ),
    (
        lambda: brier_score([-1.0], [0.5]),
        InvalidInputError,
        r"y_true must be in \[0, 1\] \(got -1.0 at index 0\)",
    ),
    (
        lambda: brier_score([1.0, 0.0], [0.5]),
        InvalidInputError,
        r"y_prob must have the same length as y_true \(got 1, expected 2\)",
    ),
    (lambda: brier_score([], []), InvalidInputError, r"y_true must not be empty"),
    (
        lambda: brier_score([1.0], [math.nan]),
        InvalidInputError,
        r"y_prob must be finite \(got nan at index 0\)",
    ),
    (lambda: brier_score([[1.0]], [[0.5]]), InvalidInputError, r"y_true must be 1-D"),
    (
        lambda: brier_score([1.0], [0.5], weights=[0.0]),
        InvalidInputError,
        r"weights must be strictly positive \(got 0.0 at index 0\)",
    ),
    (
        lambda: brier_score([1.0], [0.5], weights=[1.0, 2.0]),
        InvalidInputError,
        r"weights must have the same length as y_true \(got 2, expected 1\)",
    ),
    (
        lambda: log_loss([1.0], [0.5], eps=0.0),
        InvalidInputError,
        r"eps must be in \(0, 0.5\) \(got 0.0\)",
    ),
    (lambda: log_loss([1.0], [0.5], eps=0.7), InvalidInputError, r"eps must be in \(0, 0.5\)"),
    (
        lambda: log_loss([math.inf], [0.5]),
        InvalidInputError,
        r"y_true must be finite \(got inf at index 0\)",
    ),
    (
        lambda: reliability_table([1.0], [0.5], n_bins=0),
        InvalidInputError,
        r"n_bins must be an integer >= 1 \(got 0\)",
    ),
    (
        lambda: reliability_table([1.0], [0.5], n_bins=2.5),  # type: ignore[arg-type]
        InvalidInputError,
        r"n_bins must be an integer >= 1 \(got 2.5\)",
    ),
    (
        lambda: reliability_table([1.0], [0.5], n_bins=True),
        InvalidInputError,
        r"n_bins must be an integer >= 1 \(got True\)",
    ),
    (
        lambda: reliability_table([1.0], [0.5], strategy="kmeans"),  # type: ignore[arg-type]
        InvalidInputError,
        r"strategy must be 'uniform' or 'quantile' \(got 'kmeans'\)",
    ),
    (
        lambda: expected_calibration_error([1.0], [1.2]),
        InvalidInputError,
        r"y_prob must be in \[0, 1\]",
    ),
    (
        lambda: maximum_calibration_error([1.0], [0.2], n_bins=-1),
        InvalidInputError,
        r"n_bins must be an integer >= 1",
    ),
    (
        lambda: wilson_interval(5, 3),
        InvalidInputError,
        r"successes must be in \[0, n\] \(got 5 with n=3\)",
    ),
    (lambda: wilson_interval(-1, 3), InvalidInputError, r"successes must be in \[0, n\]"),
    (
        lambda: wilson_interval(0, -1),
        InvalidInputError,
        r"n must be a finite number >= 0 \(got -1\)",
    ),
    (
        lambda: wilson_interval(1, 2, z=0.0),
        InvalidInputError,
        r"z must be a positive finite number \(got 0\)",
    ),
    (
        lambda: wilson_interval("many", 3),  # type: ignore[arg-type]
        InvalidInputError,
        r"successes, n and z must be real numbers",
    ),
    (
        lambda: pearson_correlation([1.0, 2.0], [1.0]),
        InvalidInputError,
        r"b must have the same length as a \(got 1, expected 2\)",
    ),
    (
        lambda: spearman_correlation([1.0, math.nan], [1.0, 2.0]),
        InvalidInputError,
        r"a must be finite \(got nan at index 1\)",
    ),
    (lambda: spearman_correlation([], []), InvalidInputError, r"a must not be empty"),
]


class TestBadInputs:
    @pytest.mark.parametrize(("call", "error", "pattern"), BAD_INPUTS)
    def test_bad_input_is_rejected_with_a_message_naming_it(
        self, call: Callable[[], object], error: type[Exception], pattern: str
    ) -> None:
        """Each bad input raises the stated error with a message naming argument, rule, value."""
        with pytest.raises(error, match=pattern):
            call()


class TestUniformBinEdges:
    def test_decimal_confidences_fall_in_the_bin_they_start(self) -> None:
        """0.3, 0.6 and 0.7 open the bins [0.3, 0.4), [0.6, 0.7) and [0.7, 0.8), as documented."""
        table = reliability_table([1.0, 0.0, 1.0, 0.0], [0.3, 0.6, 0.7, 0.8], n_bins=10)
        lowers = sorted(round(b.lower, 10) for b in table.bins)
        assert lowers == [0.3, 0.6, 0.7, 0.8]
        assert all(b.count == 1 for b in table.bins)
