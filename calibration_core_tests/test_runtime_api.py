"""The hot-path API: Snapshot methods and the module-level functions the EnsembleManager imports."""

from __future__ import annotations

import logging
import math
import threading
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from calibration_core import loader as runtime
from calibration_core.config import ConfidenceMap
from calibration_core.loader import CalibrationLoader, Snapshot, consensus_bucket
from calibration_core.settings import ENV_CONFIG_PATH
from calibration_core_tests.runtime_helpers import MODELS, build_config, config_text

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

MULTIPLIERS = {"unanimous": 1.3, "strong": 1.2, "split": 1.05, "weak": 0.7}


def snapshot_of(**options: Any) -> Snapshot:
    """Build a snapshot of :func:`build_config` with ``options``."""
    return Snapshot.from_config(build_config(**options), source="test")


@pytest.fixture
def calibrated() -> Snapshot:
    """Return a snapshot with every section enabled."""
    return snapshot_of(
        shift=0.05, per_symbol={"BTCUSDT": -0.1}, consensus=MULTIPLIERS, hold_bias=0.08
    )


@pytest.fixture
def identity() -> Snapshot:
    """Return the no-config snapshot."""
    return Snapshot.identity(source="test")


@pytest.fixture(autouse=True)
def _no_default_loader_left_behind() -> Iterator[None]:
    yield
    runtime.reset_default_loader()


confidences = st.floats(min_value=-0.5, max_value=1.5, allow_nan=False)


class TestApply:
    @given(c=confidences)
    @example(c=0.0)
    @example(c=1.0)
    @example(c=0.5)
    @example(c=0.2)
    @example(c=5e-324)
    def test_matches_np_interp_after_clip(self, c: float) -> None:
        """The scalar path equals np.interp of the clipped input on the configured knots."""
        snap = snapshot_of(shift=0.07)
        config = snap.config
        assert config is not None
        xp, fp = config.confidence.thresholds, config.confidence.values
        expected = float(np.interp(min(1.0, max(0.0, c)), xp, fp))
        assert snap.apply(c) == pytest.approx(expected, abs=1e-12)

    @given(a=confidences, b=confidences)
    def test_is_monotone(self, a: float, b: float) -> None:
        """A larger raw confidence never gets a smaller calibrated one."""
        snap = snapshot_of(shift=0.1)
        lo, hi = sorted((a, b))
        assert snap.apply(lo) <= snap.apply(hi)

    @given(c=st.floats(min_value=0.0, max_value=1.0))
    def test_moves_confidence_at_most_the_bound(self, c: float) -> None:
        """Inside [0, 1] the calibrated value is within ±0.15 of the raw one."""
        snap = snapshot_of(shift=0.15)
        assert abs(snap.apply(c) - c) <= 0.15 + 1e-9

    @given(c=confidences)
    def test_disabled_map_is_clipped_identity(self, c: float) -> None:
        """With calibration disabled the result is the input clipped to [0, 1], exactly."""
        snap = snapshot_of(calibration=False)
        assert snap.apply(c) == min(1.0, max(0.0, c))
        assert not snap.calibration_enabled

    def test_identity_snapshot_is_clipped_identity(self, identity: Snapshot) -> None:
        """With no config the map is the identity on [0, 1]."""
        assert identity.apply(0.37) == 0.37
        assert identity.apply(-2.0) == 0.0
        assert identity.apply(7.0) == 1.0
        assert identity.version is None

    @pytest.mark.parametrize(("raw", "expected"), [(-1.0, 0.0), (2.0, 1.0), (math.inf, 1.0)])
    def test_out_of_range_is_clipped_then_mapped(self, raw: float, expected: float) -> None:
        """Values outside [0, 1] map to the end knots."""
        assert snapshot_of(shift=0.05).apply(raw) == expected

    def test_nan_is_returned_unchanged_and_counted(self, calibrated: Snapshot) -> None:
        """NaN passes through and increments the NaN counter."""
        before = calibrated._counters.nan_inputs
        result = calibrated.apply(math.nan)
        assert math.isnan(result)
        assert calibrated._counters.nan_inputs == before + 1

    @pytest.mark.parametrize("value", ["0.7", None, b"x", [0.5], {"c": 1}, 1 + 2j, object()])
    def test_non_numeric_is_returned_unchanged_and_counted(
        self, calibrated: Snapshot, value: object
    ) -> None:
        """Anything that is not a real number comes back as the same object, counted."""
        before = calibrated._counters.invalid_inputs
        assert calibrated.apply(value) is value  # type: ignore[arg-type]
        assert calibrated._counters.invalid_inputs == before + 1

    def test_non_numeric_input_is_logged_once(
        self, calibrated: Snapshot, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The first invalid input logs a warning; repeats only count."""
        with caplog.at_level("WARNING", logger=runtime.LOGGER_NAME):
            for _ in range(3):
                calibrated.apply("bad")  # type: ignore[arg-type]
        assert len([r for r in caplog.records if "non-numeric" in r.getMessage()]) == 1

    @pytest.mark.parametrize(
        "value", [Decimal("0.3"), Fraction(3, 10), np.float32(0.3), np.float64(0.3), 0]
    )
    def test_other_real_types_are_calibrated(self, calibrated: Snapshot, value: object) -> None:
        """Decimal, Fraction, numpy scalars and ints are treated as the number they are."""
        result = calibrated.apply(value)  # type: ignore[arg-type]
        assert result == pytest.approx(calibrated.apply(float(value)))  # type: ignore[arg-type]

    def test_symbol_with_a_map_uses_it(self, calibrated: Snapshot) -> None:
        """A symbol with its own enabled map is calibrated with that map."""
        assert calibrated.apply(0.5, "BTCUSDT") == pytest.approx(0.4)
        assert calibrated.apply(0.5) == pytest.approx(0.55)
        assert calibrated.symbols == frozenset({"BTCUSDT"})

    @pytest.mark.parametrize("symbol", ["ETHUSDT", "", ["unhashable"], 42])
    def test_unknown_symbol_uses_the_global_map(self, calibrated: Snapshot, symbol: Any) -> None:
        """Unknown, odd or unhashable symbols fall back to the global map without raising."""
        assert calibrated.apply(0.5, symbol) == pytest.approx(0.55)

    def test_per_symbol_disabled_uses_the_global_map(self) -> None:
        """Symbol maps are ignored when per-symbol calibration is disabled."""
        config = build_config(per_symbol={"BTCUSDT": -0.1})
        import attrs  # noqa: PLC0415 - only this test needs evolve

        config = attrs.evolve(config, per_symbol=attrs.evolve(config.per_symbol, enabled=False))
        snap = Snapshot.from_config(config)
        assert snap.apply(0.5, "BTCUSDT") == pytest.approx(0.55)


class TestApplyBatch:
    @given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50))
    def test_matches_the_scalar_path(self, values: list[float]) -> None:
        """Element by element the batch equals the scalar path (NaN stays NaN)."""
        snap = snapshot_of(shift=0.08)
        out = snap.apply_batch(values)
        expected = [snap.apply(v) for v in values]
        np.testing.assert_allclose(out, np.array(expected, dtype=np.float64), atol=1e-12)

    def test_preserves_shape_and_does_not_touch_the_input(self, calibrated: Snapshot) -> None:
        """The result has the input's shape; the caller's array is unchanged."""
        raw = np.array([[0.1, 0.5], [0.9, 1.2]])
        copy = raw.copy()
        out = calibrated.apply_batch(raw)
        assert out.shape == (2, 2)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(raw, copy)

    def test_nan_is_preserved_and_counted(self, calibrated: Snapshot) -> None:
        """NaN elements stay NaN and each one is counted."""
        before = calibrated._counters.nan_inputs
        out = calibrated.apply_batch([0.5, math.nan, math.nan])
        assert np.isnan(out[1:]).all()
        assert calibrated._counters.nan_inputs == before + 2

    def test_disabled_map_clips(self) -> None:
        """The identity path clips to [0, 1]."""
        out = snapshot_of(calibration=False).apply_batch([-1.0, 0.25, 3.0])
        np.testing.assert_array_equal(out, [0.0, 0.25, 1.0])

    def test_symbol_map_applies(self, calibrated: Snapshot) -> None:
        """The batch path honours per-symbol maps."""
        out = calibrated.apply_batch([0.5], symbol="BTCUSDT")
        assert out[0] == pytest.approx(0.4)

    def test_non_numeric_elements_become_nan_and_are_counted(self, calibrated: Snapshot) -> None:
        """Elements that are not numbers become NaN instead of raising."""
        before = calibrated._counters.invalid_inputs
        out = calibrated.apply_batch([0.5, "x", None])  # type: ignore[arg-type]
        assert out[0] == pytest.approx(0.55)
        assert np.isnan(out[1:]).all()
        assert calibrated._counters.invalid_inputs == before + 2

    def test_scalar_input_gives_a_zero_dimensional_array(self, calibrated: Snapshot) -> None:
        """A scalar goes in, a 0-d float64 array comes out."""
        out = calibrated.apply_batch(0.5)
        assert isinstance(out, np.ndarray)
        assert out.shape == ()


class TestWeights:
    def test_configured_weights_are_one_read_only_mapping(self, calibrated: Snapshot) -> None:
        """The same precomputed read-only mapping is returned on every call."""
        weights = calibrated.get_ensemble_weights()
        assert isinstance(weights, MappingProxyType)
        assert weights is calibrated.get_ensemble_weights({"other": 1.0})
        assert dict(weights) == dict.fromkeys(MODELS, 0.25)
        with pytest.raises(TypeError):
            weights["xgb"] = 1.0  # type: ignore[index]

    def test_disabled_weights_return_the_callers_default_read_only(self) -> None:
        """With weights disabled the caller's default comes back as a read-only copy."""
        snap = snapshot_of(weights_enabled=False)
        default = {"a": 0.5, "b": 0.5}
        weights = snap.get_ensemble_weights(default)
        assert dict(weights) == default
        default["a"] = 0.9
        assert weights["a"] == 0.5
        assert not snap.weights_enabled

    def test_a_mapping_proxy_default_is_returned_as_is(self, identity: Snapshot) -> None:
        """A default that is already read-only is not copied."""
        default = MappingProxyType({"a": 1.0})
        assert identity.get_ensemble_weights(default) is default

    def test_no_default_gives_the_loaders_defaults_or_empty(self) -> None:
        """Without a default: the loader's default weights, else an empty mapping."""
        assert dict(Snapshot.identity().get_ensemble_weights()) == {}
        with_defaults = Snapshot.identity(default_weights={"a": 1.0})
        assert dict(with_defaults.get_ensemble_weights()) == {"a": 1.0}
        assert dict(with_defaults.weights) == {"a": 1.0}

    def test_a_bad_default_does_not_raise(self, identity: Snapshot) -> None:
        """An unusable default is counted and the empty fallback is returned."""
        assert dict(identity.get_ensemble_weights(42)) == {}  # type: ignore[arg-type]
        assert identity._counters.invalid_inputs == 1


class TestConsensus:
    @pytest.mark.parametrize(
        ("count", "total", "bucket"),
        [
            (4, 4, "unanimous"),
            (3, 4, "strong"),
            (2, 4, "split"),
            (1, 4, "weak"),
            (0, 4, "weak"),
            (1, 1, "unanimous"),
            (6, 8, "strong"),
            (5, 8, "split"),
            (3, 8, "weak"),
            (np.int64(3), np.int64(4), "strong"),
            (3.0, 4.0, "strong"),
        ],
    )
    def test_bucket_rule(self, count: int, total: int, bucket: str) -> None:
        """All agree → unanimous, ≥75 % strong, ≥50 % split, else weak."""
        assert consensus_bucket(count, total) == bucket

    @pytest.mark.parametrize(
        ("count", "total"),
        [(5, 4), (-1, 4), (0, 0), (2, -4), (2.5, 4), (True, 4), ("3", 4), (None, 4), (3, math.nan)],
    )
    def test_invalid_counts_have_no_bucket_and_multiplier_one(
        self, calibrated: Snapshot, count: Any, total: Any
    ) -> None:
        """Counts that are not 0 <= count <= total, total >= 1 give no bucket and 1.0."""
        assert consensus_bucket(count, total) is None
        assert calibrated.consensus_multiplier(count, total) == 1.0

    @pytest.mark.parametrize(
        ("count", "bucket"), [(4, "unanimous"), (3, "strong"), (2, "split"), (1, "weak")]
    )
    def test_multiplier_of_each_bucket(self, calibrated: Snapshot, count: int, bucket: str) -> None:
        """The configured multiplier of the vote's bucket is returned."""
        assert calibrated.consensus_multiplier(count, 4) == MULTIPLIERS[bucket]

    def test_disabled_multipliers_are_one(self) -> None:
        """With consensus multipliers disabled every vote gets 1.0."""
        snap = snapshot_of()
        assert not snap.consensus_enabled
        assert snap.consensus_multiplier(4, 4) == 1.0


class TestHoldBias:
    @pytest.mark.parametrize(("raw", "expected"), [(0.5, 0.58), (0.95, 1.0), (-0.5, 0.08)])
    def test_enabled_bias_is_added_and_clipped(
        self, calibrated: Snapshot, raw: float, expected: float
    ) -> None:
        """The result is confidence + bias, clipped to [0, 1]."""
        assert calibrated.apply_hold_bias(raw) == pytest.approx(expected)

    @pytest.mark.parametrize(("raw", "expected"), [(0.5, 0.5), (1.5, 1.0), (-0.1, 0.0)])
    def test_disabled_bias_is_clipped_identity(self, raw: float, expected: float) -> None:
        """Without a HOLD bias the confidence passes through, clipped."""
        assert snapshot_of().apply_hold_bias(raw) == expected

    def test_nan_and_non_numeric_do_not_raise(self, calibrated: Snapshot) -> None:
        """NaN comes back as NaN; a string comes back as itself."""
        assert math.isnan(calibrated.apply_hold_bias(math.nan))
        assert calibrated.apply_hold_bias("x") == "x"  # type: ignore[arg-type, comparison-overlap]
        assert calibrated.apply_hold_bias(Decimal("0.5")) == pytest.approx(0.58)  # type: ignore[arg-type]


class TestModuleLevelApi:
    def test_functions_use_the_installed_default_loader(self, tmp_path: Path) -> None:
        """After set_default_loader the module functions serve that loader's version."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text(shift=0.05, consensus=MULTIPLIERS, hold_bias=0.1))
        loader = CalibrationLoader(path, watch="none")
        runtime.set_default_loader(loader)
        assert runtime.apply_confidence_calibration(0.5) == pytest.approx(0.55)
        assert runtime.apply_confidence_calibration(0.5, symbol="NOPE") == pytest.approx(0.55)
        np.testing.assert_allclose(runtime.apply_confidence_calibration_batch([0.5]), [0.55])
        assert runtime.get_ensemble_weights() is loader.snapshot.weights
        assert runtime.get_consensus_multiplier(3, 4) == 1.2
        assert runtime.apply_hold_bias(0.5) == pytest.approx(0.6)
        assert runtime.get_calibration_snapshot() is loader.snapshot
        assert runtime.get_default_loader() is loader

    def test_default_loader_is_created_lazily_from_the_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first call creates and starts a loader for CALIBRATION_CONFIG_PATH."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text("cal_20260220_000001"))
        monkeypatch.setenv(ENV_CONFIG_PATH, str(path))
        runtime.reset_default_loader()
        assert runtime.apply_confidence_calibration(0.5) == pytest.approx(0.55)
        loader = runtime.get_default_loader()
        assert loader.config_path == path
        assert loader.running
        assert runtime.get_calibration_snapshot().version == "cal_20260220_000001"

    def test_each_function_binds_the_default_on_first_use(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Whichever function is called first, it creates the default loader."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text(consensus=MULTIPLIERS, hold_bias=0.1))
        monkeypatch.setenv(ENV_CONFIG_PATH, str(path))
        calls: list[Callable[[], object]] = [
            lambda: runtime.get_ensemble_weights()["xgb"] == 0.25,
            lambda: runtime.get_consensus_multiplier(4, 4) == 1.3,
            lambda: runtime.apply_hold_bias(0.5) == pytest.approx(0.6),
            lambda: runtime.apply_confidence_calibration_batch([0.5])[0] == pytest.approx(0.55),
            lambda: runtime.get_calibration_snapshot().version is not None,
        ]
        for call in calls:
            runtime.reset_default_loader()
            assert call()

    def test_missing_default_config_serves_identity(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No file at CALIBRATION_CONFIG_PATH: identity calibration and the caller's default."""
        monkeypatch.setenv(ENV_CONFIG_PATH, str(tmp_path / "absent.json"))
        runtime.reset_default_loader()
        assert runtime.apply_confidence_calibration(0.42) == 0.42
        assert dict(runtime.get_ensemble_weights({"a": 1.0})) == {"a": 1.0}

    def test_reset_stops_the_old_default(self, tmp_path: Path) -> None:
        """reset_default_loader stops the loader it forgets."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text())
        loader = CalibrationLoader(path, watch="poll", poll_interval=0.05).start()
        runtime.set_default_loader(loader)
        runtime.reset_default_loader()
        assert not loader.running

    def test_set_default_stops_a_lazily_created_previous_default(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Replacing the lazily created default stops it; a caller's loader is left running."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text())
        monkeypatch.setenv(ENV_CONFIG_PATH, str(path))
        lazy = runtime.get_default_loader()
        mine = CalibrationLoader(path, watch="poll", poll_interval=0.05).start()
        assert runtime.set_default_loader(mine) is lazy
        assert not lazy.running
        other = CalibrationLoader(path, watch="none")
        assert runtime.set_default_loader(other) is mine
        assert mine.running
        mine.stop()

    def test_set_default_rejects_a_non_loader(self) -> None:
        """Installing something that is not a loader is a programming error."""
        with pytest.raises(TypeError, match="CalibrationLoader"):
            runtime.set_default_loader("loader")  # type: ignore[arg-type]

    def test_concurrent_first_calls_create_one_loader(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Threads racing on the first call share one default loader."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text())
        monkeypatch.setenv(ENV_CONFIG_PATH, str(path))
        runtime.reset_default_loader()
        barrier = threading.Barrier(4)
        seen: list[Snapshot] = []

        def first_call() -> None:
            barrier.wait()
            seen.append(runtime.get_calibration_snapshot())

        threads = [threading.Thread(target=first_call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({id(s) for s in seen}) == 1


class _HostileHash(str):
    """A str subclass whose hash raises something other than TypeError."""

    __slots__ = ()

    def __hash__(self) -> int:
        """Raise, as a broken host object might."""
        raise RuntimeError(self)


class _HostileObject:
    """A symbol-like object whose hash raises ValueError."""

    def __hash__(self) -> int:
        """Raise, as a broken host object might."""
        raise ValueError


class _HostileNumber:
    """Compares like a number in (0, 1) but adds to a string."""

    def __ge__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True

    def __le__(self, other: object) -> bool:
        return False

    def __lt__(self, other: object) -> bool:
        return False

    def __add__(self, other: object) -> str:
        return "s"

    def __sub__(self, other: object) -> float:
        return 0.0


class TestHostileInputs:
    @pytest.mark.parametrize("symbol", [_HostileHash("BTCUSDT"), _HostileObject()])
    def test_a_symbol_whose_hash_raises_uses_the_global_map(
        self, calibrated: Snapshot, symbol: object, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Apply and apply_batch treat it as an unknown symbol, without raising or logging."""
        expected = calibrated.apply(0.5)
        with caplog.at_level(logging.DEBUG, logger=runtime.LOGGER_NAME):
            assert calibrated.apply(0.5, symbol) == expected  # type: ignore[arg-type]
            for _ in range(3):
                out = calibrated.apply_batch([[0.5, 0.5]], symbol)  # type: ignore[arg-type]
                assert out.shape == (1, 2)
                assert out.tolist() == [[expected, expected]]
        assert caplog.records == []

    def test_hold_bias_survives_an_object_whose_sum_is_not_a_number(
        self, calibrated: Snapshot
    ) -> None:
        """The final clip is guarded too: the object comes back unchanged and is counted."""
        hostile = _HostileNumber()
        before = calibrated._counters.invalid_inputs
        assert calibrated.apply_hold_bias(hostile) is hostile  # type: ignore[arg-type, comparison-overlap]
        assert calibrated._counters.invalid_inputs == before + 1

    @pytest.mark.parametrize(
        ("values", "shape"),
        [
            (Decimal("sNaN"), ()),
            ([Decimal("sNaN")], (1,)),
            ([[Decimal("sNaN"), Decimal("sNaN")]], (1, 2)),
        ],
    )
    def test_signaling_nan_decimals_give_nan_of_the_input_shape(
        self, identity: Snapshot, values: object, shape: tuple[int, ...]
    ) -> None:
        """Decimal("sNaN") refuses even to compare; the batch is still NaN in its shape."""
        out = identity.apply_batch(values)  # type: ignore[arg-type]
        assert out.dtype == np.float64
        assert out.shape == shape
        assert np.isnan(out).all()

    def test_a_signaling_nan_among_numbers_keeps_the_numbers(self, identity: Snapshot) -> None:
        """Only the unconvertible element becomes NaN."""
        out = identity.apply_batch([Decimal("sNaN"), 0.25])  # type: ignore[arg-type]
        assert math.isnan(out[0])
        assert out[1] == 0.25

    def test_a_failing_batch_returns_nan_and_logs_once(
        self,
        calibrated: Snapshot,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """An unexpected failure inside the batch path is logged on its first occurrence only."""

        def broken(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError

        monkeypatch.setattr(np, "interp", broken)
        with caplog.at_level(logging.DEBUG, logger=runtime.LOGGER_NAME):
            for _ in range(5):
                out = calibrated.apply_batch([[0.1, 0.2, 0.3]])
                assert out.shape == (1, 3)
                assert np.isnan(out).all()
        assert len(caplog.records) == 1
        assert caplog.records[0].exc_info is not None


class TestSubnormalKnots:
    @pytest.mark.parametrize("c", [0.0, 5e-324, 1e-323, 1.5e-323, 1e-300, 0.5, 1.0])
    def test_subnormal_gaps_do_not_produce_nan(self, c: float) -> None:
        """Knots a few subnormals apart overflow the slope; the scalar path stays finite."""
        knots = ConfidenceMap(
            enabled=True, thresholds=(0.0, 5e-324, 1e-323, 1.0), values=(0.0, 0.05, 0.1, 1.0)
        )
        snap = Snapshot.from_config(attrs.evolve(build_config(), confidence=knots))
        result = snap.apply(c)
        assert not math.isnan(result)
        assert result == pytest.approx(float(np.interp(c, knots.thresholds, knots.values)))
