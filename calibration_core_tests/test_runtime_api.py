"""The hot-path API: Snapshot methods and the module-level functions the EnsembleManager imports."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import threading
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from calibration_core.config import ConfidenceMap, consensus_bucket
from calibration_core.exceptions import InvalidInputError
from calibration_core.runtime import host as runtime
from calibration_core.runtime.loader import CalibrationLoader
from calibration_core.runtime.snapshot import LoaderStatus, Snapshot
from calibration_core.settings import ENV_CONFIG_PATH
from calibration_core_tests.legacy_helpers import LEGACY_VERSION, bad_legacy_bytes, legacy_bytes
from calibration_core_tests.runtime_helpers import (
    CREATED_AT,
    MODELS,
    build_config,
    config_text,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from numpy.typing import NDArray

REPO = Path(__file__).parent.parent
MULTIPLIERS = {"unanimous": 1.3, "strong": 1.2, "split": 1.05, "weak": 0.7}


def snapshot_of(**options: Any) -> Snapshot:
    """Build a snapshot of :func:`build_config` with ``options``."""
    return Snapshot.from_config(build_config(**options), source="test")


def with_hold_bias(text: str, bias: float, *, enabled: bool = True) -> str:
    """Return a config text with the removed ``hold_bias`` section, as old documents have it."""
    document = json.loads(text)
    document["hold_bias"] = {"enabled": enabled, "bias": bias}
    return json.dumps(document, indent=2)


@pytest.fixture
def calibrated() -> Snapshot:
    """Return a snapshot with every section enabled."""
    return snapshot_of(shift=0.05, per_symbol={"BTCUSDT": -0.1}, consensus=MULTIPLIERS)


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
        assert weights is calibrated.get_ensemble_weights(dict.fromkeys(MODELS, 0.1))
        assert weights is calibrated.get_ensemble_weights({"xgb": 1.0})  # a subset is covered
        assert dict(weights) == dict.fromkeys(MODELS, 0.25)
        with pytest.raises(TypeError):
            weights["xgb"] = 1.0  # type: ignore[index]

    def test_weights_that_miss_a_host_member_give_the_baseline(
        self, calibrated: Snapshot, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Configured weights for four models never reach a six-member host's indexing."""
        six = dict(dict.fromkeys(MODELS, 0.17), tft=0.16, dlinear=0.16)
        with caplog.at_level(logging.WARNING, logger=runtime.LOGGER_NAME):
            for keyword in ({"baseline": six}, {"default": six}):
                weights = calibrated.get_ensemble_weights(**keyword)
                assert dict(weights) == six
                assert all(weights[name] > 0 for name in six)
        # Without a baseline the loader cannot know the host's members: the config's weights.
        assert dict(calibrated.get_ensemble_weights()) == dict.fromkeys(MODELS, 0.25)
        warnings = [m for m in caplog.messages if "also has dlinear, tft" in m]
        assert len(warnings) == 1  # logged once

    def test_a_baseline_that_cannot_be_checked_never_gets_the_config(
        self, calibrated: Snapshot
    ) -> None:
        """A baseline whose iteration fails does not get weights that may miss its members."""

        class Broken(dict[str, float]):
            def __iter__(self) -> Iterator[str]:
                raise RuntimeError("dictionary changed size during iteration")

        weights = calibrated.get_ensemble_weights(Broken(xgb=0.5, tft=0.5))
        assert dict(weights) != dict.fromkeys(MODELS, 0.25)

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


class TestHoldBiasIsANoOp:
    """The HOLD bias is removed; apply_hold_bias stays for hosts that call it, as a no-op."""

    @pytest.mark.parametrize("raw", [0.5, 0.95, -0.5, 1.5, 0.0, 1.0, math.inf, -math.inf])
    def test_a_float_comes_back_unchanged_everywhere(
        self, calibrated: Snapshot, tmp_path: Path, raw: float
    ) -> None:
        """Snapshot, loader and module function all return the input, not clipped."""
        loader = CalibrationLoader(tmp_path / "absent.json", watch="none")
        for apply in (calibrated.apply_hold_bias, loader.apply_hold_bias, runtime.apply_hold_bias):
            result = apply(raw)
            assert type(result) is float
            assert result == raw

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (Decimal("0.5"), 0.5),
            (Fraction(1, 4), 0.25),
            (True, 1.0),
            (np.float32(0.5), 0.5),
            (np.int64(1), 1.0),
            (10**400, math.inf),
        ],
    )
    def test_other_real_numbers_come_back_as_python_floats(
        self, value: object, expected: float
    ) -> None:
        """Whatever real number a host passes, it gets a float that json.dumps accepts."""
        result = runtime.apply_hold_bias(value)  # type: ignore[arg-type]
        assert type(result) is float
        assert result == expected

    @pytest.mark.parametrize("value", ["x", None, b"0.5", 1j, [0.5], Decimal("sNaN")])
    def test_odd_inputs_come_back_as_they_came(self, value: object) -> None:
        """No conversion is attempted beyond real numbers, and nothing raises."""
        assert runtime.apply_hold_bias(value) is value  # type: ignore[arg-type]

    def test_nan_comes_back_as_nan(self, calibrated: Snapshot) -> None:
        """A NaN is a float: it comes back as one."""
        assert math.isnan(calibrated.apply_hold_bias(math.nan))
        assert math.isnan(runtime.apply_hold_bias(math.nan))

    @pytest.mark.parametrize("enabled", [True, False])
    def test_an_old_config_with_a_hold_bias_serves_what_it_would_without(
        self, tmp_path: Path, enabled: bool
    ) -> None:
        """The section is ignored: same map, weights and multipliers; no HOLD shift."""
        text = config_text(shift=0.05, per_symbol={"BTCUSDT": -0.1}, consensus=MULTIPLIERS)
        old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
        old_path.write_text(with_hold_bias(text, 0.08, enabled=enabled))
        new_path.write_text(text)
        old = CalibrationLoader(old_path, watch="none")
        new = CalibrationLoader(new_path, watch="none")
        assert old.status().last_error is None
        assert old.version == new.version == "cal_20260220_143022"
        grid = np.linspace(0.0, 1.0, 101)
        for symbol in (None, "BTCUSDT"):
            np.testing.assert_array_equal(
                old.apply_confidence_calibration_batch(grid, symbol=symbol),
                new.apply_confidence_calibration_batch(grid, symbol=symbol),
            )
        assert dict(old.get_ensemble_weights()) == dict(new.get_ensemble_weights())
        assert old.get_consensus_multiplier(3, 4) == new.get_consensus_multiplier(3, 4) == 1.2
        assert old.apply_hold_bias(0.5) == 0.5

    def test_it_needs_no_default_loader(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The no-op does not create the process-wide loader."""
        monkeypatch.setenv(ENV_CONFIG_PATH, str(tmp_path / "absent.json"))
        runtime.reset_default_loader()
        assert runtime.apply_hold_bias(0.5) == 0.5
        assert runtime._default_loader is None


class TestModuleLevelApi:
    def test_functions_use_the_installed_default_loader(self, tmp_path: Path) -> None:
        """After set_default_loader the module functions serve that loader's version."""
        path = tmp_path / "calibration.json"
        path.write_text(with_hold_bias(config_text(shift=0.05, consensus=MULTIPLIERS), 0.1))
        loader = CalibrationLoader(path, watch="none")
        runtime.set_default_loader(loader)
        assert runtime.apply_confidence_calibration(0.5) == pytest.approx(0.55)
        assert runtime.apply_confidence_calibration(0.5, symbol="NOPE") == pytest.approx(0.55)
        np.testing.assert_allclose(runtime.apply_confidence_calibration_batch([0.5]), [0.55])
        assert runtime.get_ensemble_weights() is loader.snapshot.weights
        assert runtime.get_consensus_multiplier(3, 4) == 1.2
        assert runtime.apply_hold_bias(0.5) == 0.5
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
        path.write_text(with_hold_bias(config_text(consensus=MULTIPLIERS), 0.1))
        monkeypatch.setenv(ENV_CONFIG_PATH, str(path))
        calls: list[Callable[[], object]] = [
            lambda: runtime.get_ensemble_weights()["xgb"] == 0.25,
            lambda: runtime.get_consensus_multiplier(4, 4) == 1.3,
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
        """The no-op never does arithmetic on it: the object comes back unchanged."""
        hostile = _HostileNumber()
        assert calibrated.apply_hold_bias(hostile) is hostile  # type: ignore[arg-type, comparison-overlap]
        assert runtime.apply_hold_bias(hostile) is hostile  # type: ignore[arg-type, comparison-overlap]

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


NUMPY_REAL_TYPES = (
    np.float16,
    np.float32,
    np.float64,
    np.longdouble,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint64,
    np.bool_,
)


class TestPlainFloats:
    """Issue 11 item 8: every real number becomes a Python float before any maths."""

    @pytest.mark.parametrize("kind", NUMPY_REAL_TYPES)
    @pytest.mark.parametrize("raw", [0.0, 0.37, 0.7, 1.0])
    def test_numpy_scalars_come_back_as_python_floats(
        self, calibrated: Snapshot, kind: type, raw: float
    ) -> None:
        """np.float32(0.7) and friends give a float that json.dumps accepts."""
        value = kind(raw)
        for result in (
            calibrated.apply(value),
            calibrated.apply(value, "BTCUSDT"),
            calibrated.apply_hold_bias(value),
        ):
            assert type(result) is float
            json.dumps(result)
        assert calibrated.apply(value) == calibrated.apply(float(value))

    @given(raw=st.floats(min_value=-0.5, max_value=1.5, allow_nan=False))
    def test_float16_input_keeps_the_bound_in_float64(self, raw: float) -> None:
        """The maths runs on float(np.float16(x)): exact, and within ±0.15 of the input."""
        snap = snapshot_of(shift=0.15)
        half = np.float16(raw)
        exact = float(half)
        result = snap.apply(half)  # type: ignore[arg-type]
        assert type(result) is float
        assert result == snap.apply(exact)
        assert abs(result - min(1.0, max(0.0, exact))) <= 0.15 + 1e-12

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (Decimal("0.5"), 0.5),
            (Fraction(1, 2), 0.5),
            (True, 1.0),
            (False, 0.0),
            (10**400, 1.0),
            (-(10**400), 0.0),
            (Fraction(10**400, 3), 1.0),
            (Decimal("1e999"), 1.0),
        ],
    )
    def test_other_real_types_are_converted_first(
        self, identity: Snapshot, value: object, expected: float
    ) -> None:
        """Decimal, Fraction, bool and ints too large for a float give a float in [0, 1]."""
        result = identity.apply(value)  # type: ignore[arg-type]
        assert type(result) is float
        assert result == expected

    def test_a_float_subclass_gives_a_plain_float(self, calibrated: Snapshot) -> None:
        """A subclass of float is converted too, so the result type is always float."""

        class Confidence(float):
            pass

        result = calibrated.apply(Confidence(0.5))
        assert type(result) is float
        assert result == pytest.approx(0.55)

    @pytest.mark.parametrize("kind", [np.float16, np.float32, np.float64])
    def test_numpy_nan_is_counted_and_returned_as_a_float_nan(
        self, calibrated: Snapshot, kind: type
    ) -> None:
        """A numpy NaN is still NaN, as a Python float, and counted as a NaN input."""
        before = calibrated._counters.nan_inputs
        result = calibrated.apply(kind("nan"))
        assert type(result) is float
        assert math.isnan(result)
        assert calibrated._counters.nan_inputs == before + 1

    @pytest.mark.parametrize("value", [np.complex64(0.5), 0.5 + 0j, np.datetime64("2026-01-01")])
    def test_complex_and_datetime_scalars_are_invalid(
        self, calibrated: Snapshot, value: object
    ) -> None:
        """Numbers without an order are not calibrated: returned unchanged and counted."""
        before = calibrated._counters.invalid_inputs
        assert calibrated.apply(value) is value  # type: ignore[arg-type]
        assert calibrated._counters.invalid_inputs == before + 1


class TestStrictBatch:
    """Issue 11 item 9: the batch treats elements exactly as the scalar path does."""

    @pytest.mark.parametrize(
        "bad",
        ["0.7", b"0.9", None, 1 + 2j, np.complex128(0.5), "nan", [0.5], object()],
    )
    def test_non_numeric_elements_are_nan_and_invalid_not_parsed(
        self, calibrated: Snapshot, bad: object
    ) -> None:
        """Strings and bytes are not parsed; None, complex and objects are invalid."""
        before_invalid = calibrated._counters.invalid_inputs
        before_nan = calibrated._counters.nan_inputs
        out = calibrated.apply_batch([0.5, bad])  # type: ignore[arg-type]
        assert out.dtype == np.float64
        assert out[0] == pytest.approx(0.55)
        assert math.isnan(out[1])
        assert calibrated._counters.invalid_inputs == before_invalid + 1
        assert calibrated._counters.nan_inputs == before_nan  # invalid, not NaN

    @pytest.mark.parametrize(
        "values",
        [
            np.array(["0.7", "0.9"]),
            np.array([b"0.7", b"0.9"]),
            np.array([0.5 + 0j, 0.7 + 0j]),
            np.array([None, None]),
        ],
    )
    def test_non_numeric_arrays_are_all_invalid(
        self, calibrated: Snapshot, values: NDArray[Any]
    ) -> None:
        """A string, bytes, complex or object array gives NaN everywhere, each one invalid."""
        before = calibrated._counters.invalid_inputs
        out = calibrated.apply_batch(values)
        assert out.shape == values.shape
        assert np.isnan(out).all()
        assert calibrated._counters.invalid_inputs == before + values.size

    @pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int64, np.uint8, np.bool_])
    def test_real_dtypes_match_the_scalar_path(self, calibrated: Snapshot, dtype: type) -> None:
        """Every real dtype is converted to float64 in one call and matches apply()."""
        values: NDArray[Any] = np.array([0, 0.25, 0.7, 1], dtype=dtype)
        out = calibrated.apply_batch(values)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, [calibrated.apply(v) for v in values])
        assert calibrated._counters.invalid_inputs == 0

    def test_real_python_numbers_in_a_list_are_converted(self, identity: Snapshot) -> None:
        """Decimal, Fraction and numpy scalars mixed in a list are numbers, not invalid."""
        mixed = [Decimal("0.25"), Fraction(1, 2), np.float32(0.75), True]
        out = identity.apply_batch(mixed)  # type: ignore[arg-type]
        np.testing.assert_array_equal(out, [0.25, 0.5, 0.75, 1.0])
        assert identity._counters.invalid_inputs == 0


SIX = {"xgb": 0.17, "lgbm": 0.17, "nhits": 0.17, "patchtst": 0.17, "tft": 0.16, "dlinear": 0.16}


def old_label(count: int, total: int) -> str:
    """Return the old loader's label, computed in floats as its calibrator did."""
    if count >= total:
        return "unanimous"
    if count >= 0.75 * total:
        return "strong"
    if count >= 0.5 * total:
        return "split"
    return "weak"


class TestHostApi:
    """Issue 9 §4: the old loader's API, as the EnsembleManager calls it."""

    def install(self, path: Path, text: str | None) -> CalibrationLoader:
        if text is not None:
            path.write_text(text)
        loader = CalibrationLoader(path, watch="none")
        runtime.set_default_loader(loader)
        return loader

    def test_get_calibration_loader_is_one_started_loader_from_the_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Process-wide, started, CALIBRATION_CONFIG_PATH, the same object every call."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text("cal_20260220_000007"))
        monkeypatch.setenv(ENV_CONFIG_PATH, str(path))
        runtime.reset_default_loader()
        loader = runtime.get_calibration_loader()
        assert loader is runtime.get_calibration_loader()
        assert loader is runtime.get_default_loader()
        assert loader.running
        assert loader.config_path == path
        assert loader.calibration_loaded is True
        assert loader.version == "cal_20260220_000007"

    def test_the_package_exports_the_host_api(self) -> None:
        """`from calibration_core import get_calibration_loader` is the host's one line."""
        import calibration_core  # noqa: PLC0415 - the import under test

        assert calibration_core.get_calibration_loader is runtime.get_calibration_loader
        assert calibration_core.reload_calibration is runtime.reload_calibration
        assert calibration_core.get_calibrator is runtime.get_calibrator

    def test_no_config(self, tmp_path: Path) -> None:
        """No file: not loaded, identity, an EMPTY weight mapping, reload() is False."""
        loader = self.install(tmp_path / "calibration.json", None)
        assert loader.calibration_loaded is False
        assert loader.version is None
        assert loader.based_on_trades is None
        assert loader.apply_confidence_calibration(0.7) == 0.7
        assert dict(loader.get_ensemble_weights()) == {}
        assert dict(loader.get_ensemble_weights(SIX)) == SIX
        assert dict(loader.get_ensemble_weights(default=SIX)) == SIX
        assert loader.reload() is False
        assert runtime.reload_calibration() is False

    def test_weights_disabled_give_the_baseline_or_nothing(self, tmp_path: Path) -> None:
        """A live config with weights disabled never invents a model set."""
        loader = self.install(
            tmp_path / "calibration.json", config_text(weights=SIX, weights_enabled=False)
        )
        assert loader.calibration_loaded is True
        assert dict(loader.get_ensemble_weights()) == {}
        assert not loader.get_ensemble_weights()
        assert dict(loader.get_ensemble_weights(baseline=SIX)) == SIX
        assert dict(loader.get_ensemble_weights(SIX)) == SIX
        assert dict(loader.get_ensemble_weights(default=SIX)) == SIX
        assert dict(runtime.get_ensemble_weights(baseline=SIX)) == SIX

    def test_enabled_weights_win_over_the_baseline(self, tmp_path: Path) -> None:
        """Calibrated weights are returned only when enabled, whatever baseline is given."""
        ours = dict(SIX, tft=0.17, dlinear=0.15)
        loader = self.install(tmp_path / "calibration.json", config_text(weights=ours))
        assert dict(loader.get_ensemble_weights()) == ours
        assert dict(loader.get_ensemble_weights(baseline=SIX)) == ours
        assert dict(loader.get_ensemble_weights(default=SIX)) == ours

    def test_get_status_has_the_old_keys(self, tmp_path: Path) -> None:
        """The old keys with their old meaning, then every LoaderStatus field."""
        path = tmp_path / "calibration.json"
        loader = self.install(path, config_text("cal_20260220_000009", weights_enabled=False))
        status = loader.get_status()
        assert {
            key: status[key]
            for key in (
                "loaded",
                "version",
                "created_at",
                "based_on_trades",
                "confidence_enabled",
                "weights_override",
                "config_path",
                "config_exists",
            )
        } == {
            "loaded": True,
            "version": "cal_20260220_000009",
            "created_at": CREATED_AT,
            "based_on_trades": None,
            "confidence_enabled": True,
            "weights_override": False,
            "config_path": str(path),
            "config_exists": True,
        }
        assert set(attrs.fields_dict(LoaderStatus)) <= set(status)
        json.dumps(status)
        path.unlink()
        assert loader.get_status()["config_exists"] is False

    def test_reload_returns_whether_the_file_on_disk_is_served(self, tmp_path: Path) -> None:
        """True for a valid file; False for a rejected one, which keeps the last good."""
        path = tmp_path / "calibration.json"
        loader = self.install(path, config_text("cal_20260220_000001"))
        path.write_text(config_text("cal_20260220_000002"))
        assert loader.reload() is True
        assert runtime.reload_calibration() is True
        path.write_text("{not json")
        assert loader.reload() is False
        assert loader.version == "cal_20260220_000002"
        assert loader.reload_snapshot().version == "cal_20260220_000002"

    def test_constructor_without_a_path_uses_the_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`CalibrationLoader()` as the old loader allowed: CALIBRATION_CONFIG_PATH."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text("cal_20260220_000003"))
        monkeypatch.setenv(ENV_CONFIG_PATH, str(path))
        loader = CalibrationLoader(watch="none")
        assert loader.config_path == path
        assert loader.version == "cal_20260220_000003"

    def test_based_on_trades_comes_from_the_snapshot_and_is_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A snapshot that knows its trade count reports it, and the old log line says it."""
        snap = Snapshot.from_config(build_config(), based_on_trades=542, loaded_at=0.0)
        assert snap.based_on_trades == 542
        assert snap.loaded_at == "1970-01-01T00:00:00.000000+00:00"
        loader = CalibrationLoader("/nonexistent/calibration.json", watch="none")
        with caplog.at_level(logging.INFO, logger=runtime.LOGGER_NAME):
            loader._log_loaded(snap)
        assert "[CalibrationLoader]    Based on 542 trades" in caplog.messages
        with pytest.raises(InvalidInputError, match="based_on_trades"):
            Snapshot.from_config(build_config(), based_on_trades=-1)
        with pytest.raises(InvalidInputError, match="loaded_at"):
            Snapshot.from_config(build_config(), loaded_at=[1])  # type: ignore[arg-type]


class TestCalibrator:
    """`get_calibrator().get_multiplier(count, total) -> (multiplier, label)`."""

    @given(total=st.integers(1, 12), count=st.integers(0, 14))
    def test_labels_follow_the_old_thresholds(self, total: int, count: int) -> None:
        """unanimous: count >= total; strong: >= 0.75 total; split: >= 0.5 total; else weak."""
        multiplier, label = runtime.ConsensusCalibrator(
            CalibrationLoader("/nonexistent/c.json", watch="none")
        ).get_multiplier(count, total)
        assert label == old_label(count, total)
        assert multiplier == 1.0

    @pytest.mark.parametrize(
        ("count", "label"),
        [(6, "unanimous"), (5, "strong"), (4, "split"), (3, "split"), (2, "weak"), (1, "weak")],
    )
    def test_six_members_use_the_approved_multipliers(
        self, tmp_path: Path, count: int, label: str
    ) -> None:
        """The multiplier is the live config's for the bucket; same object every call."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text(weights=SIX, consensus=MULTIPLIERS))
        runtime.set_default_loader(CalibrationLoader(path, watch="none"))
        calibrator = runtime.get_calibrator()
        assert calibrator is runtime.get_calibrator()
        assert calibrator.get_multiplier(count, 6) == (MULTIPLIERS[label], label)
        assert calibrator.weights == MULTIPLIERS

    def test_disabled_multipliers_are_one_and_outcomes_teach_nothing(self, tmp_path: Path) -> None:
        """No approved multipliers: 1.0; update_from_outcome is accepted and ignored."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text())
        loader = CalibrationLoader(path, watch="none")
        calibrator = loader.get_calibrator()
        for _ in range(50):
            calibrator.update_from_outcome("split", 3.0)
        assert calibrator.get_multiplier(2, 4) == (1.0, "split")
        assert calibrator.weights == dict.fromkeys(MULTIPLIERS, 1.0)
        path.write_text(config_text("cal_20260220_000002", consensus=MULTIPLIERS))
        assert loader.reload()
        assert calibrator.get_multiplier(2, 4) == (MULTIPLIERS["split"], "split")

    @pytest.mark.parametrize(
        ("count", "total"), [(1, 0), (-1, 4), (2.5, 4), (True, 4), ("3", 4), (None, None)]
    )
    def test_invalid_counts_give_one_and_weak(self, count: object, total: object) -> None:
        """Counts that are not counts never raise: (1.0, "weak")."""
        calibrator = runtime.get_calibrator()
        assert calibrator.get_multiplier(count, total) == (1.0, "weak")  # type: ignore[arg-type]


HOST_LOOP = """
import json, logging, os, sys
{imports}

logging.basicConfig(level=logging.INFO)  # the host logs INFO to its journal

MEMBERS = {members}


class EnsembleManager:
    # As the real host does it (real_system.md §4): its own weights, overridden only
    # by a non-empty mapping from a loaded calibration, then self.weights[name] for
    # every member.
    def __init__(self):
        self.weights = dict(MEMBERS)
        self.loader = get_calibration_loader()
        if self.loader.calibration_loaded:
            w = self.loader.get_ensemble_weights()
            if w:
                self.weights = w

    def predict(self, votes):
        scores = {{}}
        for name in MEMBERS:
            action, confidence = votes[name]
            scores[action] = scores.get(action, 0.0) + self.weights[name] * confidence
        action = max(scores, key=scores.get)
        agreeing = [c for a, c in votes.values() if a == action]
        multiplier, label = get_calibrator().get_multiplier(len(agreeing), len(votes))
        raw = min(0.95, sum(agreeing) / len(agreeing) * multiplier)
        return action, self.loader.apply_confidence_calibration(raw), label, multiplier


manager = EnsembleManager()
decisions = []
# Every consensus among six voters: 6, 5, 4, 3 and 2 agreeing.
PATTERNS = ("BBBBBB", "BBBBBS", "SSSSBB", "HHHBBS", "BBSSHH", "SHSSSS")
ACTION = {{"B": "BUY", "S": "SELL", "H": "HOLD"}}
for k in range(400):
    pattern = PATTERNS[k % len(PATTERNS)]
    votes = {{
        name: (ACTION[pattern[i]], 0.4 + (k * 7 + i) % 50 / 100)
        for i, name in enumerate(MEMBERS)
    }}
    decisions.append(manager.predict(votes))
loader = get_calibration_loader()
result = {{
    "same": loader is manager.loader and loader is get_calibration_loader(),
    "running": loader.running,
    "loaded": loader.calibration_loaded,
    "version": loader.version,
    "weights": dict(manager.weights),
    "status": loader.get_status(),
    "labels": sorted({{d[2] for d in decisions}}),
    "multipliers": sorted({{d[3] for d in decisions}}),
    "confidences": [d[1] for d in decisions],
    "reload": reload_calibration(),
}}
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    child = get_calibration_loader()
    answer = {{"same": child is loader, "running": child.running, "version": child.version}}
    os.write(write_end, json.dumps(answer).encode())
    os._exit(0)
os.close(write_end)
os.waitpid(pid, 0)
result["child"] = json.loads(os.read(read_end, 65536))
print(json.dumps(result))
"""

IMPORTS = {
    "one import line": (
        "from calibration_core import get_calibration_loader, get_calibrator, reload_calibration"
    ),
    "shim": (
        "from ai_engine.calibration_loader import get_calibration_loader, reload_calibration\n"
        "from ai_engine.adaptive_confidence import get_calibrator"
    ),
}

# docs/integration.md shows these two shims; the test writes them exactly so.
SHIMS = {
    "calibration_loader.py": (
        "# Compatibility shim: the calibration loader now lives in calibration_core.\n"
        "from calibration_core import CalibrationLoader, get_calibration_loader, "
        "reload_calibration\n"
    ),
    "adaptive_confidence.py": (
        "# Compatibility shim: consensus multipliers now come from calibration_core.\n"
        "from calibration_core import get_calibrator  # noqa: F401\n"
    ),
}

OURS = {"xgb": 0.18, "lgbm": 0.17, "nhits": 0.17, "patchtst": 0.16, "tft": 0.16, "dlinear": 0.16}


@pytest.mark.slow
def _expect_host_case(case: str, result: Any, status: Any, stderr: str) -> None:
    """Check what the six-member host saw for one config case."""
    if case == "no config":
        assert result["loaded"] is False
        assert result["weights"] == SIX
        assert result["multipliers"] == [1.0]
        assert result["reload"] is False
        assert status["config_exists"] is False
        assert "No config at" in stderr
    elif case == "weights disabled":
        assert result["loaded"] is True
        assert result["weights"] == SIX  # the host's own: the loader returned {}
        assert result["multipliers"] == [1.0]
        assert result["reload"] is True
        assert status["weights_override"] is False
        assert "Ensemble weights: ⏸ BASELINE" in stderr
    elif case == "legacy":
        assert result["loaded"] is True
        assert result["version"] == LEGACY_VERSION
        assert result["weights"] == SIX  # legacy weights disabled: the host's own
        assert result["multipliers"] == [1.0]
        assert status["based_on_trades"] == 52
        assert "legacy" in stderr.lower()
    elif case == "legacy refused":
        assert result["loaded"] is False
        assert result["weights"] == SIX
        assert result["multipliers"] == [1.0]
        assert "beyond the ±0.15 bound" in stderr
    else:
        assert result["loaded"] is True
        assert result["weights"] == OURS
        assert set(result["multipliers"]) == set(MULTIPLIERS.values())
        assert result["reload"] is True
        assert status["weights_override"] is True
        assert "Ensemble weights: ✅ OVERRIDE" in stderr


class TestSixMemberHost:
    """A real host process, real loader, real files: six members never raise."""

    def test_the_documented_shims_are_the_tested_ones(self) -> None:
        """docs/integration.md shows exactly the shim modules these tests import."""
        docs = (REPO / "docs" / "integration.md").read_text(encoding="utf-8")
        assert IMPORTS["one import line"].split(", get_calibrator")[0] in docs
        for name, text in SHIMS.items():
            assert f"# ai_engine/{name}\n{text}" in docs

    @pytest.mark.parametrize("imports", sorted(IMPORTS))
    @pytest.mark.parametrize(
        "case", ["no config", "weights disabled", "ours", "legacy", "legacy refused"]
    )
    def test_the_host_loop_indexes_every_member(
        self, tmp_path: Path, case: str, imports: str
    ) -> None:
        """No config, weights off, ours, legacy (served or refused): every member; floats."""
        package = tmp_path / "host" / "ai_engine"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        for name, text in SHIMS.items():
            (package / name).write_text(text)
        config = tmp_path / "config" / "calibration.json"
        config.parent.mkdir()
        if case == "weights disabled":
            config.write_text(config_text(weights=OURS, weights_enabled=False))
        elif case == "ours":
            config.write_text(config_text(weights=OURS, consensus=MULTIPLIERS))
        elif case == "legacy":
            # The old deployer's four-model weights are disabled, as real_system.md shows.
            config.write_bytes(legacy_bytes())
        elif case == "legacy refused":
            config.write_bytes(bad_legacy_bytes())
        script = tmp_path / "host.py"
        script.write_text(HOST_LOOP.format(imports=IMPORTS[imports], members=repr(SIX)))
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(package.parent), str(REPO)]),
            CALIBRATION_CONFIG_PATH=str(config),
        )
        done = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["same"] is True
        assert result["running"] is True
        assert set(result["labels"]) == {"unanimous", "strong", "split", "weak"}
        assert all(0.0 <= c <= 1.0 for c in result["confidences"])
        assert result["child"]["same"] is True  # the host's saved object, restarted
        assert result["child"]["running"] is True
        assert result["child"]["version"] == result["version"]
        status = result["status"]
        assert status["config_path"] == str(config)
        _expect_host_case(case, result, status, done.stderr)


class TestNoWorkingDirectory:
    def test_the_host_entry_point_never_raises_without_a_working_directory(
        self, tmp_path: Path
    ) -> None:
        """A host whose working directory was removed still gets a loader and floats."""
        gone = tmp_path / "gone"
        gone.mkdir()
        code = (
            "import os, sys\n"
            f"os.rmdir({str(gone)!r})\n"
            "from calibration_core import apply_confidence_calibration, get_calibration_loader\n"
            "loader = get_calibration_loader()\n"
            "assert loader is get_calibration_loader()\n"
            "assert isinstance(loader.apply_confidence_calibration(0.7), float)\n"
            "assert apply_confidence_calibration(0.7) == 0.7\n"
            "print('ok')\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALIBRATION_")}
        env["PYTHONPATH"] = str(REPO)
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=gone,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "ok"


class TestEnsembleSizes:
    @pytest.mark.parametrize("n", [3, 4, 5, 6])
    def test_a_proposal_for_n_members_is_served_with_every_member(self, n: int) -> None:
        """propose_weights → validation → config → snapshot, for 3 to 6 members."""
        from calibration_core.config import CalibrationConfig, EnsembleWeights  # noqa: PLC0415
        from calibration_core.core.validation import (  # noqa: PLC0415
            check_max_weight_change,
            check_weight_bounds,
            check_weight_sum,
        )
        from calibration_core.core.weights import (  # noqa: PLC0415
            ModelPerformance,
            equal_weights,
            propose_weights,
        )

        names = list(SIX)[:n]
        current = equal_weights(names) if n < 6 else SIX
        correct = [260, 200, 150, 200, 210, 190][:n]
        proposal = propose_weights(
            current, [ModelPerformance(m, c, 400) for m, c in zip(names, correct, strict=True)]
        )
        assert not proposal.no_change
        after = dict(proposal.after)
        for check in (
            check_weight_sum(after),
            check_weight_bounds(after),
            check_max_weight_change(current, after),
        ):
            assert check.passed, check
        config = CalibrationConfig.from_json(
            attrs.evolve(
                build_config(), weights=EnsembleWeights(enabled=True, weights=proposal.after)
            ).to_json()
        )
        served = Snapshot.from_config(config).get_ensemble_weights(current)
        assert [served[m] for m in names] == [after[m] for m in names]
