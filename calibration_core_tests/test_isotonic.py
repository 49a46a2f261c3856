"""Tests of calibration_core.core.isotonic: our PAV, the calibration map and the change bound."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pytest
from hypothesis import example, given, strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import isotonic_regression as scipy_isotonic_regression
from sklearn.isotonic import IsotonicRegression

from calibration_core.constants import MAX_CONFIDENCE_CHANGE
from calibration_core.core.isotonic import (
    IsotonicCalibration,
    SufficientStatistics,
    _pool_binary_ties,
    _pool_ties,
    bound_confidence_change,
    fit_isotonic,
    fit_sufficient_statistics,
    merge_sufficient_statistics,
    sufficient_statistics,
)
from calibration_core.core.pav import IsotonicResult, _pool_adjacent_violators, isotonic_regression
from calibration_core.core.pav_certificate import _flat_middle, _one_block
from calibration_core.exceptions import InvalidInputError
from calibration_core_tests.strategies import (
    adversarial_shapes,
    calibration_samples,
    increasing_maps,
    weighted_responses,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

SHAPES = sorted(adversarial_shapes(16))
DENSE = np.linspace(0.0, 1.0, 4001)


def _scale(y: FloatArray) -> float:
    return max(1.0, float(np.max(np.abs(y)))) if y.size else 1.0


def _assert_matches_scipy(y: FloatArray, weights: FloatArray | None, *, increasing: bool) -> None:
    """Compare x, weights and blocks with scipy, allowing only rounding-split levels to merge."""
    ours = isotonic_regression(y, weights=weights, increasing=increasing)
    ref = scipy_isotonic_regression(y, weights=weights, increasing=increasing)
    scale = _scale(y)
    np.testing.assert_allclose(ours.x, ref.x, rtol=1e-12, atol=1e-12 * scale)
    # scipy compares raw float means, so a level that rounding split in two comes back
    # as two blocks; ours pools them. Every boundary of ours must be one of scipy's, and
    # every scipy boundary we dropped must separate equal (to rounding) values.
    ours_bounds = set(ours.blocks.tolist())
    ref_bounds = set(ref.blocks.tolist())
    assert ours_bounds <= ref_bounds
    for dropped in sorted(ref_bounds - ours_bounds):
        assert abs(ref.x[dropped] - ref.x[dropped - 1]) <= 1e-12 * scale
    owner = np.searchsorted(ours.blocks, ref.blocks[:-1], side="right") - 1
    grouped = np.bincount(owner, weights=ref.weights, minlength=ours.weights.shape[0])
    np.testing.assert_allclose(ours.weights, grouped, rtol=1e-12)


@st.composite
def _flat_middles(draw: st.DrawFn) -> tuple[FloatArray, FloatArray | None]:
    """Draw a rising head, a middle that falls overall and a rising tail (often one block)."""
    values = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
    head = np.unique(draw(hnp.arrays(np.float64, st.integers(0, 8), elements=values)))
    middle = np.sort(draw(hnp.arrays(np.float64, st.integers(2, 40), elements=values)))[::-1]
    if draw(st.booleans()):  # jitter the middle so it is not monotone
        middle = middle + draw(
            hnp.arrays(np.float64, middle.shape[0], elements=st.floats(-50.0, 50.0))
        )
    tail = np.unique(draw(hnp.arrays(np.float64, st.integers(0, 8), elements=values)))
    y = np.concatenate([head - 2e3, middle, tail + 2e3])
    weights = draw(
        st.none()
        | hnp.arrays(np.float64, y.shape[0], elements=st.floats(0.1, 10.0, allow_subnormal=False))
    )
    return y, weights


def _weighted_sse(y: FloatArray, weights: FloatArray, fit: FloatArray) -> float:
    return float(np.sum(weights * (y - fit) ** 2))


class TestIsotonicRegression:
    @pytest.mark.parametrize(
        ("y", "weights", "increasing"),
        [
            ([1.0, 3.0, 2.0, 4.0, 3.5, 5.0], None, True),
            ([1.5, 1.0, 4.0, 6.0, 5.7, 5.0, 7.8, 9.0, 7.5, 9.5, 9.0], None, True),
            ([1.0, 3.0, 2.0, 4.0], [1.0, 2.0, 3.0, 4.0], False),
            ([1.0, 1.0, 1.0, 2.0, 2.0], None, True),
            ([5.0], None, True),
            ([3.0, 2.0, 1.0], [1.0, 1.0, 1.0], True),
        ],
    )
    def test_equals_scipy_field_by_field_on_known_inputs(
        self, y: list[float], weights: list[float] | None, increasing: bool
    ) -> None:
        """On documented examples x, weights and blocks are scipy's exactly (x to 1e-12)."""
        ours = isotonic_regression(y, weights=weights, increasing=increasing)
        ref = scipy_isotonic_regression(y, weights=weights, increasing=increasing)
        np.testing.assert_allclose(ours.x, ref.x, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(ours.blocks, ref.blocks)
        np.testing.assert_allclose(ours.weights, ref.weights, rtol=1e-12)
        assert ours.blocks.dtype == ref.blocks.dtype

    @given(weighted_responses(), st.booleans())
    @example((np.array([0.30000000000000004, 0.3]), None), True)  # noqa: FBT003
    @example((np.array([0.3, 0.1, 0.2]), np.array([1.0, 1.0, 1.0])), False)  # noqa: FBT003
    # The slow shapes, settled by the flat-middle certificate (one block, a block with a
    # rising tail or head, a short last chunk, exact in-chunk sums, weights):
    @example((adversarial_shapes(64)["increasing_then_drop"], None), True)  # noqa: FBT003
    @example((adversarial_shapes(64)["repeated_drops"], None), True)  # noqa: FBT003
    @example((adversarial_shapes(60)["repeated_drops"], np.linspace(1, 3, 60)), True)  # noqa: FBT003
    @example((adversarial_shapes(64)["sawtooth"], None), True)  # noqa: FBT003
    @example((adversarial_shapes(63)["sawtooth"], np.linspace(3, 1, 63)), True)  # noqa: FBT003
    @example((adversarial_shapes(17)["staircase"], None), True)  # noqa: FBT003
    @example((-adversarial_shapes(60)["alternating"], None), False)  # noqa: FBT003
    def test_equals_scipy_on_random_input(
        self, sample: tuple[FloatArray, FloatArray | None], increasing: bool
    ) -> None:
        """x, weights and blocks equal scipy.optimize.isotonic_regression to 1e-12."""
        y, weights = sample
        _assert_matches_scipy(y, weights, increasing=increasing)

    @given(weighted_responses(), st.booleans())
    def test_fit_is_monotone(
        self, sample: tuple[FloatArray, FloatArray | None], increasing: bool
    ) -> None:
        """The fitted values never step against the requested direction."""
        y, weights = sample
        steps = np.diff(isotonic_regression(y, weights=weights, increasing=increasing).x)
        assert np.all(steps >= 0.0) if increasing else np.all(steps <= 0.0)

    @given(weighted_responses())
    def test_each_block_keeps_its_weighted_mean(
        self, sample: tuple[FloatArray, FloatArray | None]
    ) -> None:
        """Every block is constant at its data's weighted mean, and block values rise."""
        y, weights = sample
        w = np.ones_like(y) if weights is None else weights
        fit = isotonic_regression(y, weights=weights)
        scale = _scale(y)
        levels: list[float] = []
        for start, end in zip(fit.blocks[:-1], fit.blocks[1:], strict=True):
            block = fit.x[start:end]
            assert np.all(block == block[0])
            mean = np.sum(w[start:end] * y[start:end]) / np.sum(w[start:end])
            assert abs(block[0] - mean) <= 1e-12 * scale
            assert fit.weights[len(levels)] == pytest.approx(np.sum(w[start:end]), rel=1e-12)
            levels.append(float(block[0]))
        assert np.all(np.diff(levels) > 0.0)

    @given(weighted_responses())
    def test_applying_the_fit_twice_equals_once(
        self, sample: tuple[FloatArray, FloatArray | None]
    ) -> None:
        """Fitting the fitted values changes nothing: same blocks, same values."""
        y, weights = sample
        once = isotonic_regression(y, weights=weights)
        twice = isotonic_regression(once.x, weights=weights)
        np.testing.assert_array_equal(twice.blocks, once.blocks)
        np.testing.assert_allclose(twice.x, once.x, rtol=1e-14, atol=1e-14 * _scale(y))

    @given(weighted_responses())
    def test_decreasing_fit_mirrors_increasing(
        self, sample: tuple[FloatArray, FloatArray | None]
    ) -> None:
        """A decreasing fit is the increasing fit of -y negated, and of reversed y reversed."""
        y, weights = sample
        down = isotonic_regression(y, weights=weights, increasing=False)
        negated = isotonic_regression(-y, weights=weights)
        np.testing.assert_array_equal(down.x, -negated.x)
        np.testing.assert_array_equal(down.blocks, negated.blocks)
        reversed_fit = isotonic_regression(
            y[::-1], weights=None if weights is None else weights[::-1]
        )
        np.testing.assert_allclose(down.x, reversed_fit.x[::-1], rtol=1e-12, atol=1e-12 * _scale(y))

    @given(weighted_responses(), st.data())
    def test_fit_is_the_weighted_l2_projection(
        self, sample: tuple[FloatArray, FloatArray | None], data: st.DataObject
    ) -> None:
        """No monotone candidate has a smaller weighted squared error than the fit."""
        y, weights = sample
        w = np.ones_like(y) if weights is None else weights
        fit = isotonic_regression(y, weights=weights).x
        best = _weighted_sse(y, w, fit)
        scale = _scale(y)
        noise = np.sort(
            data.draw(hnp.arrays(np.float64, y.shape[0], elements=st.floats(-1.0, 1.0)))
        )
        candidates = [
            fit + 1e-3 * scale * noise,
            fit + 0.3 * scale * noise,
            fit - 1e-2 * scale * noise[::-1],
            np.maximum.accumulate(y),
            np.sort(y),
            np.full_like(y, np.sum(w * y) / np.sum(w)),
        ]
        for candidate in candidates:
            assert np.all(np.diff(candidate) >= 0.0)
            assert _weighted_sse(y, w, candidate) >= best - 1e-9 * (best + scale * scale)

    @given(weighted_responses())
    def test_fit_satisfies_the_kkt_conditions(
        self, sample: tuple[FloatArray, FloatArray | None]
    ) -> None:
        """Cumulative weighted residuals are >= 0 everywhere and 0 at every block end."""
        y, weights = sample
        w = np.ones_like(y) if weights is None else weights
        fit = isotonic_regression(y, weights=weights)
        # The multiplier of the constraint x_k <= x_{k+1} is sum_{i<=k} w_i (y_i - x_i).
        multipliers = np.cumsum(w * (y - fit.x))
        tol = 1e-9 * _scale(y) * float(np.sum(w))
        assert np.all(multipliers >= -tol)
        np.testing.assert_allclose(multipliers[fit.blocks[1:] - 1], 0.0, atol=tol)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_adversarial_shapes_match_scipy(self, shape: str) -> None:
        """The shapes that once made scikit-learn quadratic are fitted correctly at n = 2e5."""
        y = adversarial_shapes(200_000)[shape]
        _assert_matches_scipy(y, None, increasing=True)
        _assert_matches_scipy(y, None, increasing=False)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_work_grows_linearly_on_adversarial_shapes(self, shape: str) -> None:
        """Counted visits stay within 6n (+14n certificate) and grow ~4x with n (no clock)."""
        work = {}
        for n in (50_000, 200_000):
            stats = _pool_adjacent_violators(adversarial_shapes(n)[shape], None)[3]
            assert stats.vector_work + stats.cleanup_work <= 6 * n
            assert stats.certificate_work <= 14 * n  # at most four certificates
            work[n] = stats.vector_work + stats.cleanup_work + stats.certificate_work
        assert work[200_000] <= 5 * work[50_000]

    @pytest.mark.parametrize(
        ("shape", "n"),
        [
            (shape, n)
            for shape in ("increasing_then_drop", "repeated_drops", "sawtooth", "staircase")
            for n in (250_000, 250_500, 249_999, 200_000)
        ],
    )
    def test_slow_shapes_are_settled_by_the_flat_middle_certificate(
        self, shape: str, n: int
    ) -> None:
        """The shapes a Python loop would cascade through leave the cleanup little to do.

        With n a square the shapes end on a full period; 250,500 adds a rising tail,
        249,999 cuts the last period short, and at 200,000 the sawtooth's fit ends in a
        second long block.
        """
        y = adversarial_shapes(n)[shape]
        stats = _pool_adjacent_violators(y, None)[3]
        assert stats.middle_block
        assert stats.cleanup_work <= n // 100
        assert stats.certificate_work <= 14 * n
        _assert_matches_scipy(y, None, increasing=True)
        _assert_matches_scipy(y, np.linspace(1.0, 2.0, n), increasing=True)

    @given(_flat_middles())
    def test_flat_middle_fits_equal_scipy(
        self, sample: tuple[FloatArray, FloatArray | None]
    ) -> None:
        """Rising head, noisy middle, rising tail: the fit is scipy's, the stretch one block."""
        y, weights = sample
        _assert_matches_scipy(y, weights, increasing=True)
        middle, _ = _flat_middle(y, weights)
        if middle is not None:
            # The proven stretch lies inside one block of the exact fit.
            level = scipy_isotonic_regression(y, weights=weights).x[middle.start : middle.end]
            assert float(np.ptp(level)) <= 2e-12 * _scale(y)

    def test_flat_middle_certificate_refuses_a_fit_with_two_inner_blocks(self) -> None:
        """Two middle levels apart by far more than the tolerance are not one block."""
        y = np.array([0.0, 5.0, 4.0, 1.0, 9.0, 8.0, 10.0])
        middle, _ = _flat_middle(y, None)
        assert middle is None
        _assert_matches_scipy(y, None, increasing=True)

    def test_one_block_certificate_refuses_a_near_miss(self) -> None:
        """A prefix mean 5e-10 below the mean is a second block, which scipy finds too."""
        y = np.array([2.0, 1.0 - 2e-9, 2.0, 1.0])
        block, _ = _one_block(y, None)
        assert block is None
        assert scipy_isotonic_regression(y).blocks.tolist() == [0, 2, 4]
        _assert_matches_scipy(y, None, increasing=True)
        # A tie to rounding may go either way; either way x is scipy's to 1e-12.
        _assert_matches_scipy(np.array([2.0, 1.0 - 2e-15, 2.0, 1.0]), None, increasing=True)

    def test_random_data_is_done_almost_entirely_by_the_vectorised_passes(self) -> None:
        """On 0/1 and continuous data only a handful of violations reach the Python loop."""
        rng = np.random.default_rng(7)
        confidence = np.sort(rng.random(100_000))
        for y in (
            (rng.random(confidence.shape[0]) < confidence).astype(np.float64),
            confidence + rng.normal(0.0, 0.3, confidence.shape[0]),
        ):
            stats = _pool_adjacent_violators(y, None)[3]
            assert stats.cleanup_violations <= 100
            assert stats.cleanup_work <= 1_000
            _assert_matches_scipy(y, None, increasing=True)

    def test_inputs_are_not_mutated(self) -> None:
        """The y and weights arrays are left untouched, even when they are read-only."""
        y = adversarial_shapes(1_000)["sawtooth"]
        weights = np.linspace(1.0, 2.0, y.shape[0])
        y_before, weights_before = y.copy(), weights.copy()
        y.setflags(write=False)
        weights.setflags(write=False)
        for increasing in (True, False):
            isotonic_regression(y, weights=weights, increasing=increasing)
            isotonic_regression(y, increasing=increasing)
        np.testing.assert_array_equal(y, y_before)
        np.testing.assert_array_equal(weights, weights_before)

    def test_result_holds_private_read_only_arrays(self) -> None:
        """The result's arrays are read-only copies, and the result is frozen."""
        y = np.array([3.0, 1.0, 2.0])
        fit = isotonic_regression(y)
        assert not fit.x.flags.writeable
        assert not fit.weights.flags.writeable
        assert not fit.blocks.flags.writeable
        assert not np.shares_memory(fit.x, y)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            fit.x = y  # type: ignore[misc]

    def test_results_compare_by_array_contents(self) -> None:
        """Two fits of the same data are equal and hash alike; a different fit is not equal."""
        first = isotonic_regression([1.0, 3.0, 2.0])
        second = isotonic_regression(np.array([1.0, 3.0, 2.0]))
        assert first == second
        assert hash(first) == hash(second)
        assert first != isotonic_regression([1.0, 2.0, 3.0])

    def test_empty_input_gives_an_empty_fit_like_scipy(self) -> None:
        """An empty y gives empty x and weights and blocks == [0], as scipy does."""
        fit = isotonic_regression(np.array([]))
        assert fit == IsotonicResult(x=[], weights=[], blocks=[0])
        assert fit.blocks.tolist() == scipy_isotonic_regression(np.array([])).blocks.tolist()

    def test_accepts_lists_and_integers(self) -> None:
        """Array-likes of ints are converted once to float64."""
        fit = isotonic_regression([2, 1, 3], weights=[1, 1, 2])
        assert fit.x.dtype == np.float64
        assert fit.x.tolist() == [1.5, 1.5, 3.0]


class TestFitIsotonic:
    @given(
        calibration_samples(),
        st.booleans(),
        st.sampled_from([(0.0, 1.0), (None, None), (0.2, 0.7), (None, 0.5)]),
    )
    @example(  # a tie's pooled mean is 1 ulp off its value: one level here, two in sklearn
        (np.array([0.0] * 15 + [0.02, -0.02]), np.full(17, 0.16412394), None),
        False,  # noqa: FBT003
        (0.0, 1.0),
    )
    def test_predictions_equal_sklearn_with_ties(
        self,
        sample: tuple[FloatArray, FloatArray, FloatArray | None],
        increasing: bool,
        bounds: tuple[float | None, float | None],
    ) -> None:
        """Predictions equal IsotonicRegression(out_of_bounds="clip") to 1e-9, ties included."""
        x, y, weights = sample
        low, high = bounds
        ours = fit_isotonic(x, y, weights=weights, increasing=increasing, y_min=low, y_max=high)
        ref = IsotonicRegression(
            y_min=low, y_max=high, increasing=increasing, out_of_bounds="clip"
        ).fit(x, y, sample_weight=weights)
        points = np.concatenate([x, np.linspace(-0.5, 1.5, 401)])
        np.testing.assert_allclose(ours.predict(points), ref.predict(points), rtol=0, atol=1e-9)
        # Same trimming rule; ours may trim more where sklearn kept levels 1 ulp apart.
        assert set(ours.thresholds.tolist()) <= set(ref.X_thresholds_.tolist())

    @given(calibration_samples())
    @example((np.array([0.2, 0.2, 0.4]), np.array([0.0, 0.0, 0.0]), None))
    @example((np.array([0.2, 0.2, 0.4]), np.array([1.0, 1.0, 1.0]), None))
    @example((np.array([0.6, 0.2, 0.4]), np.array([1.0, 0.0, 1.0]), None))
    @example((np.array([0.6, 0.2, 0.4]), np.array([1.0, 0.5, 1.0]), None))
    def test_both_tie_poolings_agree(
        self, sample: tuple[FloatArray, FloatArray, FloatArray | None]
    ) -> None:
        """The two-sort pooling of unweighted 0/1 outcomes equals the argsort pooling."""
        x, y, _ = sample
        fast = _pool_binary_ties(x, y)
        if not np.all((y == 0.0) | (y == 1.0)):
            assert fast is None
            return
        assert fast is not None
        slow = _pool_ties(x, y, None)
        for ours, reference in zip(fast, slow, strict=True):
            if reference is None:
                assert ours is None
            else:
                assert ours is not None
                np.testing.assert_array_equal(ours, reference)

    def test_ties_are_pooled_to_their_weighted_mean_and_summed_weight(self) -> None:
        """Equal x become one point: weighted mean of y, with the sum of the weights."""
        cal = fit_isotonic([0.5, 0.5, 0.5, 0.9], [0.0, 1.0, 1.0, 0.0], weights=[2.0, 1.0, 1.0, 1.0])
        # The tie is (0.5, mean 0.5, weight 4); PAV pools it with (0.9, 0, 1): 2 / 5.
        assert cal.thresholds.tolist() == [0.5, 0.9]
        np.testing.assert_allclose(cal.values, [0.4, 0.4])

    @given(calibration_samples(), st.randoms(use_true_random=False))
    def test_order_of_the_samples_does_not_matter(
        self, sample: tuple[FloatArray, FloatArray, FloatArray | None], random: Any
    ) -> None:
        """Shuffling the samples gives the same map (to rounding)."""
        x, y, weights = sample
        order = list(range(x.shape[0]))
        random.shuffle(order)
        shuffled = fit_isotonic(
            x[order], y[order], weights=None if weights is None else weights[order]
        )
        original = fit_isotonic(x, y, weights=weights)
        np.testing.assert_allclose(
            shuffled.predict(DENSE), original.predict(DENSE), rtol=0, atol=1e-12
        )

    @given(calibration_samples(), st.booleans())
    def test_map_is_monotone_and_within_the_clip_bounds(
        self, sample: tuple[FloatArray, FloatArray, FloatArray | None], increasing: bool
    ) -> None:
        """Knot values follow the direction and lie in [y_min, y_max]."""
        x, y, weights = sample
        cal = fit_isotonic(x, y, weights=weights, increasing=increasing, y_min=0.1, y_max=0.8)
        steps = np.diff(cal.values)
        assert np.all(steps >= 0.0) if increasing else np.all(steps <= 0.0)
        assert np.all((cal.values >= 0.1) & (cal.values <= 0.8))
        assert np.all(np.diff(cal.thresholds) > 0.0)
        assert cal.increasing is increasing
        assert cal.n_samples == x.shape[0]

    def test_redundant_knots_are_trimmed(self) -> None:
        """Only the first and last knot of each run of equal values is kept."""
        cal = fit_isotonic([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
        assert cal.thresholds.tolist() == [0.1, 0.3, 0.4, 0.6]
        assert cal.values.tolist() == [0.0, 0.0, 1.0, 1.0]

    def test_single_distinct_confidence_gives_a_constant_map(self) -> None:
        """All samples at one confidence give one knot and a constant prediction."""
        cal = fit_isotonic([0.4, 0.4, 0.4], [1.0, 0.0, 1.0])
        assert cal.thresholds.tolist() == [0.4]
        np.testing.assert_allclose(cal.predict([0.0, 0.4, 1.0]), [2 / 3] * 3)

    def test_inputs_are_not_mutated(self) -> None:
        """x, y and weights are left untouched, even when they are read-only."""
        rng = np.random.default_rng(3)
        x = np.round(rng.random(500), 2)
        y = (rng.random(500) < x).astype(np.float64)
        weights = rng.random(500) + 0.5
        copies = [x.copy(), y.copy(), weights.copy()]
        for array in (x, y, weights):
            array.setflags(write=False)
        fit_isotonic(x, y, weights=weights)
        fit_isotonic(x, y, increasing=False, y_min=None, y_max=None)
        for array, copy in zip((x, y, weights), copies, strict=True):
            np.testing.assert_array_equal(array, copy)


class TestSufficientStatistics:
    @given(
        calibration_samples(),
        st.lists(st.integers(min_value=0, max_value=80), max_size=6),
        st.randoms(use_true_random=False),
        st.booleans(),
    )
    def test_fitting_merged_partitions_equals_fitting_the_whole(
        self,
        sample: tuple[FloatArray, FloatArray, FloatArray | None],
        cuts: list[int],
        random: Any,
        increasing: bool,
    ) -> None:
        """Split anywhere (empty parts too), merge in any order: the map is the whole's."""
        x, y, weights = sample
        order = list(range(x.shape[0]))
        random.shuffle(order)
        x, y = x[order], y[order]
        weights = None if weights is None else weights[order]
        edges = [0, *sorted(min(cut, x.shape[0]) for cut in cuts), x.shape[0]]
        tables = [
            sufficient_statistics(
                x[lo:hi], y[lo:hi], weights=None if weights is None else weights[lo:hi]
            )
            for lo, hi in itertools.pairwise(edges)
        ]
        random.shuffle(tables)
        merged = tables[0]
        for table in tables[1:]:
            merged = merge_sufficient_statistics(merged, table)
        whole = fit_isotonic(x, y, weights=weights, increasing=increasing)
        ours = fit_sufficient_statistics(merged, increasing=increasing)
        assert merged.n_samples == x.shape[0]
        np.testing.assert_array_equal(merged.x, np.unique(x))
        np.testing.assert_allclose(ours.predict(DENSE), whole.predict(DENSE), rtol=0, atol=1e-12)
        assert ours.n_samples == whole.n_samples

    def test_a_table_holds_the_sums_of_each_distinct_confidence(self) -> None:
        """Per distinct x: the sum of w * y and the sum of w; the sample count overall."""
        table = sufficient_statistics(
            [0.6, 0.5, 0.6, 0.5], [1.0, 0.0, 0.0, 1.0], weights=[2.0, 1.0, 1.0, 3.0]
        )
        assert table == SufficientStatistics(
            x=[0.5, 0.6], weighted_sums=[3.0, 2.0], weight_sums=[4.0, 3.0], n_samples=4
        )

    @pytest.mark.parametrize(
        ("make", "pattern"),
        [
            (
                lambda: SufficientStatistics(
                    x=[0.6, 0.5], weighted_sums=[0.0, 1.0], weight_sums=[1.0, 1.0], n_samples=2
                ),
                r"x must be strictly increasing \(got 0.5 after 0.6 at index 1\)",
            ),
            (
                lambda: SufficientStatistics(
                    x=[0.5], weighted_sums=[0.0], weight_sums=[0.0], n_samples=1
                ),
                r"weight_sums must be strictly positive \(got 0.0 at index 0\)",
            ),
            (
                lambda: SufficientStatistics(
                    x=[0.5, 0.6], weighted_sums=[0.0], weight_sums=[1.0, 1.0], n_samples=2
                ),
                r"must have the same length \(got 2, 1 and 2\)",
            ),
            (
                lambda: SufficientStatistics(
                    x=[0.5, 0.6], weighted_sums=[0.0, 1.0], weight_sums=[1.0, 1.0], n_samples=1
                ),
                r"n_samples must be at least the number of distinct x \(got 1 < 2\)",
            ),
            (
                lambda: fit_sufficient_statistics(sufficient_statistics([], [])),
                r"statistics must summarise at least one sample \(got 0\)",
            ),
            (
                lambda: sufficient_statistics([0.5, 0.6], [1.0]),
                r"y must have the same length as x \(got 1, expected 2\)",
            ),
            (
                lambda: fit_sufficient_statistics(
                    sufficient_statistics([0.5], [1.0]), y_min=0.8, y_max=0.2
                ),
                r"y_min must not exceed y_max \(got 0.8 > 0.2\)",
            ),
        ],
    )
    def test_bad_tables_are_refused_with_a_message(
        self, make: Callable[[], object], pattern: str
    ) -> None:
        """Each bad table or call raises InvalidInputError naming what is wrong."""
        with pytest.raises(InvalidInputError, match=pattern):
            make()


class TestIsotonicCalibration:
    def test_identity_leaves_confidence_unchanged(self) -> None:
        """identity() maps every confidence in [0, 1] to itself, with no change."""
        cal = IsotonicCalibration.identity()
        np.testing.assert_array_equal(cal.predict(DENSE), DENSE)
        assert cal.max_abs_change() == 0.0
        assert cal.thresholds.tolist() == [0.0, 1.0]
        assert cal.n_samples == 0

    def test_predict_interpolates_and_holds_the_end_values(self) -> None:
        """Between knots the map is linear; outside them it keeps the end values."""
        cal = IsotonicCalibration(thresholds=[0.2, 0.6], values=[0.3, 0.5])
        np.testing.assert_allclose(
            cal.predict([0.0, 0.2, 0.4, 0.6, 1.0]), [0.3, 0.3, 0.4, 0.5, 0.5]
        )

    def test_predict_keeps_the_input_shape(self) -> None:
        """A 2-D input gives a 2-D float64 output; a scalar gives a 0-d array."""
        cal = IsotonicCalibration.identity()
        assert cal.predict(np.zeros((2, 3))).shape == (2, 3)
        assert cal.predict(0.25).shape == ()
        assert cal.predict([0.25]).dtype == np.float64

    def test_max_abs_change_is_the_largest_knot_move(self) -> None:
        """max_abs_change() is the largest |value - threshold| over the knots."""
        cal = IsotonicCalibration(thresholds=[0.0, 0.5, 1.0], values=[0.1, 0.3, 0.95])
        assert cal.max_abs_change() == pytest.approx(0.2)

    def test_knots_are_private_read_only_copies(self) -> None:
        """Changing the source arrays later does not change the map, nor can its arrays change."""
        thresholds = np.array([0.0, 1.0])
        values = np.array([0.2, 0.8])
        cal = IsotonicCalibration(thresholds=thresholds, values=values)
        thresholds[1] = 5.0
        values[0] = -1.0
        assert cal.thresholds.tolist() == [0.0, 1.0]
        assert cal.values.tolist() == [0.2, 0.8]
        with pytest.raises(ValueError, match="read-only"):
            cal.values[0] = 0.0

    def test_maps_compare_by_knots(self) -> None:
        """Maps with equal knots are equal and hash alike; other knots make them differ."""
        first = IsotonicCalibration(thresholds=[0.0, 1.0], values=[0.1, 0.9], n_samples=3)
        same = IsotonicCalibration(thresholds=(0.0, 1.0), values=(0.1, 0.9), n_samples=3)
        assert first == same
        assert hash(first) == hash(same)
        assert first != attrs.evolve(first, values=[0.1, 0.8])


class TestBoundConfidenceChange:
    @given(increasing_maps(), st.sampled_from([MAX_CONFIDENCE_CHANGE, 0.05, 0.3, 1.0, 1e-3]))
    def test_bound_holds_at_knots_and_on_a_fine_grid(
        self, calibration: IsotonicCalibration, max_change: float
    ) -> None:
        """|g(c) - c| <= max_change exactly at the knots and to rounding on a fine grid."""
        bounded = bound_confidence_change(calibration, max_change)
        assert np.all(np.abs(bounded.values - bounded.thresholds) <= max_change)
        assert bounded.max_abs_change() <= max_change
        assert np.all(np.abs(bounded.predict(DENSE) - DENSE) <= max_change + 1e-12)

    @given(increasing_maps(), st.sampled_from([MAX_CONFIDENCE_CHANGE, 0.05, 0.3, 1.0, 1e-3]))
    def test_equals_the_pointwise_clip_on_a_dense_grid(
        self, calibration: IsotonicCalibration, max_change: float
    ) -> None:
        """The result is clip(clip(f(c), c - d, c + d), 0, 1) on a dense grid and every knot."""
        bounded = bound_confidence_change(calibration, max_change)
        inside = calibration.thresholds[
            (calibration.thresholds >= 0) & (calibration.thresholds <= 1)
        ]
        grid = np.unique(np.concatenate([DENSE, bounded.thresholds, inside]))
        expected = np.clip(
            np.clip(calibration.predict(grid), grid - max_change, grid + max_change), 0.0, 1.0
        )
        np.testing.assert_allclose(bounded.predict(grid), expected, rtol=0, atol=1e-12)

    @given(increasing_maps(), st.sampled_from([MAX_CONFIDENCE_CHANGE, 0.05, 0.3, 1.0]))
    def test_result_is_monotone_with_knots_spanning_the_unit_interval(
        self, calibration: IsotonicCalibration, max_change: float
    ) -> None:
        """Values never decrease and the knots run from exactly 0 to exactly 1."""
        bounded = bound_confidence_change(calibration, max_change)
        assert bounded.thresholds[0] == 0.0
        assert bounded.thresholds[-1] == 1.0
        assert np.all(np.diff(bounded.values) >= 0.0)
        assert np.all((bounded.values >= 0.0) & (bounded.values <= 1.0))
        assert bounded.increasing
        assert bounded.n_samples == calibration.n_samples

    @given(increasing_maps(), st.sampled_from([MAX_CONFIDENCE_CHANGE, 0.05, 0.3, 1.0]))
    def test_bounding_twice_equals_bounding_once(
        self, calibration: IsotonicCalibration, max_change: float
    ) -> None:
        """A bounded map is a fixed point: the same predictions and no extra knots."""
        once = bound_confidence_change(calibration, max_change)
        twice = bound_confidence_change(once, max_change)
        np.testing.assert_allclose(twice.predict(DENSE), once.predict(DENSE), rtol=0, atol=1e-12)
        assert twice.thresholds.shape[0] <= once.thresholds.shape[0]

    def test_crossing_points_become_knots(self) -> None:
        """Where f leaves the band c ± d the result has a knot at the crossing."""
        steep = IsotonicCalibration(thresholds=[0.0, 1.0], values=[0.5, 0.5])
        bounded = bound_confidence_change(steep, 0.15)
        # 0.5 = c + 0.15 at c = 0.35 and 0.5 = c - 0.15 at c = 0.65.
        np.testing.assert_allclose(bounded.thresholds, [0.0, 0.35, 0.65, 1.0], atol=1e-15)
        np.testing.assert_allclose(bounded.values, [0.15, 0.5, 0.5, 0.85], atol=1e-15)

    def test_redundant_knots_along_the_band_are_trimmed(self) -> None:
        """Knots of f where the result follows one band edge on both sides are dropped."""
        far_above = IsotonicCalibration(
            thresholds=[0.0, 0.2, 0.4, 0.6], values=[0.9, 0.95, 0.97, 1.0]
        )
        bounded = bound_confidence_change(far_above, 0.1)
        # g = c + 0.1 until it meets 1 at c = 0.9, then 1.
        np.testing.assert_allclose(bounded.thresholds, [0.0, 0.9, 1.0], atol=1e-15)
        np.testing.assert_allclose(bounded.values, [0.1, 1.0, 1.0], atol=1e-15)

    def test_identity_is_left_alone(self) -> None:
        """The identity map is already within any bound."""
        identity = IsotonicCalibration.identity()
        assert bound_confidence_change(identity) == identity

    def test_default_bound_is_max_confidence_change(self) -> None:
        """Without max_change the system constant MAX_CONFIDENCE_CHANGE is used."""
        cal = fit_isotonic([0.1, 0.5, 0.9], [1.0, 0.0, 1.0])
        assert bound_confidence_change(cal) == bound_confidence_change(cal, MAX_CONFIDENCE_CHANGE)
        assert bound_confidence_change(cal).max_abs_change() <= MAX_CONFIDENCE_CHANGE


_DECREASING = IsotonicCalibration(thresholds=[0.0, 1.0], values=[1.0, 0.0], increasing=False)

BAD_INPUTS: list[tuple[Callable[[], object], type[Exception], str]] = [
    (
        lambda: isotonic_regression([[1.0, 2.0]]),
        InvalidInputError,
        r"y must be 1-D \(got shape \(1, 2\)\)",
    ),
    (lambda: isotonic_regression(3.0), InvalidInputError, r"y must be 1-D \(got shape \(\)\)"),
    (
        lambda: isotonic_regression([1.0, math.nan]),
        InvalidInputError,
        r"y must be finite \(got nan at index 1\)",
    ),
    (
        lambda: isotonic_regression([math.inf, 1.0]),
        InvalidInputError,
        r"y must be finite \(got inf at index 0\)",
    ),
    (lambda: isotonic_regression(["a"]), InvalidInputError, r"y must be an array of real numbers"),
    (
        lambda: isotonic_regression([1.0, 2.0], weights=[1.0]),
        InvalidInputError,
        r"weights must have the same length as y \(got 1, expected 2\)",
    ),
    (
        lambda: isotonic_regression([1.0] * 5, weights=[1.0, 1.0, 1.0, -1.0, 1.0]),
        InvalidInputError,
        r"weights must be strictly positive \(got -1.0 at index 3\)",
    ),
    (
        lambda: isotonic_regression([1.0, 2.0], weights=[0.0, 1.0]),
        InvalidInputError,
        r"weights must be strictly positive \(got 0.0 at index 0\)",
    ),
    (
        lambda: isotonic_regression([1.0, 2.0], weights=[1.0, math.nan]),
        InvalidInputError,
        r"weights must be finite \(got nan at index 1\)",
    ),
    (
        lambda: isotonic_regression([1.0, 2.0], weights=[[1.0, 1.0]]),
        InvalidInputError,
        r"weights must be 1-D",
    ),
    (lambda: fit_isotonic([], []), InvalidInputError, r"x must not be empty \(got 0 values\)"),
    (
        lambda: fit_isotonic([0.1, 0.2], [1.0]),
        InvalidInputError,
        r"y must have the same length as x \(got 1, expected 2\)",
    ),
    (
        lambda: fit_isotonic([0.1, math.nan], [1.0, 0.0]),
        InvalidInputError,
        r"x must be finite \(got nan at index 1\)",
    ),
    (
        lambda: fit_isotonic([0.1, 0.2], [1.0, -math.inf]),
        InvalidInputError,
        r"y must be finite \(got -inf at index 1\)",
    ),
    (
        lambda: fit_isotonic([0.1, 0.2], [1.0, 0.0], weights=[1.0, -2.0]),
        InvalidInputError,
        r"weights must be strictly positive \(got -2.0 at index 1\)",
    ),
    (
        lambda: fit_isotonic([0.1, 0.2], [1.0, 0.0], weights=[1.0]),
        InvalidInputError,
        r"weights must have the same length as x \(got 1, expected 2\)",
    ),
    (
        lambda: fit_isotonic([0.1], [1.0], y_min=0.8, y_max=0.2),
        InvalidInputError,
        r"y_min must not exceed y_max \(got 0.8 > 0.2\)",
    ),
    (
        lambda: fit_isotonic([0.1], [1.0], y_min=math.nan),
        InvalidInputError,
        r"y_min must be finite or None \(got nan\)",
    ),
    (
        lambda: IsotonicCalibration(thresholds=[], values=[]),
        InvalidInputError,
        r"thresholds must hold at least one knot",
    ),
    (
        lambda: IsotonicCalibration(thresholds=[0.0, 1.0], values=[0.5]),
        InvalidInputError,
        r"values must have the same length as thresholds \(got 1, expected 2\)",
    ),
    (
        lambda: IsotonicCalibration(thresholds=[0.0, 0.0], values=[0.1, 0.2]),
        InvalidInputError,
        r"thresholds must be strictly increasing \(got 0.0 after 0.0 at index 1\)",
    ),
    (
        lambda: IsotonicCalibration(thresholds=[0.0, 1.0], values=[0.9, 0.1]),
        InvalidInputError,
        r"values must be nondecreasing \(got 0.1 after 0.9 at index 1\)",
    ),
    (
        lambda: IsotonicCalibration(thresholds=[0.0, 1.0], values=[0.1, 0.9], increasing=False),
        InvalidInputError,
        r"values must be nonincreasing \(got 0.9 after 0.1 at index 1\)",
    ),
    (
        lambda: IsotonicCalibration(thresholds=[0.0, math.inf], values=[0.1, 0.9]),
        InvalidInputError,
        r"thresholds must be finite \(got inf at index 1\)",
    ),
    (
        lambda: IsotonicCalibration(thresholds=[0.0, 1.0], values=[0.1, 0.9], n_samples=-1),
        ValueError,
        r"n_samples",
    ),
    (
        lambda: IsotonicCalibration.identity().predict([0.5, math.nan]),
        InvalidInputError,
        r"confidence must be finite \(got nan at index 1\)",
    ),
    (
        lambda: bound_confidence_change(_DECREASING),
        InvalidInputError,
        r"calibration must be increasing",
    ),
    (
        lambda: bound_confidence_change(IsotonicCalibration.identity(), 0.0),
        InvalidInputError,
        r"max_change must be in \(0, 1\] \(got 0.0\)",
    ),
    (
        lambda: bound_confidence_change(IsotonicCalibration.identity(), 1.5),
        InvalidInputError,
        r"max_change must be in \(0, 1\] \(got 1.5\)",
    ),
    (
        lambda: bound_confidence_change(IsotonicCalibration.identity(), math.nan),
        InvalidInputError,
        r"max_change must be in \(0, 1\] \(got nan\)",
    ),
]


class TestBadInputs:
    @pytest.mark.parametrize(("call", "error", "pattern"), BAD_INPUTS)
    def test_bad_input_is_rejected_with_a_message_naming_it(
        self, call: Callable[[], object], error: type[Exception], pattern: str
    ) -> None:
        """Each bad input raises the stated error with a message naming argument, rule, value."""
        with pytest.raises(error, match=pattern):
            call()

    def test_invalid_input_error_is_a_value_error(self) -> None:
        """Callers may catch the built-in ValueError instead of InvalidInputError."""
        with pytest.raises(ValueError, match="y must be finite"):
            isotonic_regression([math.nan])
