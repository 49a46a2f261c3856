"""Hot-reloading runtime loader: lock-free immutable snapshots of calibration.json."""

# Shell module. It runs inside the EnsembleManager's process and is called on every
# prediction, so two rules shape it: nothing here may raise into the host, and the hot
# path is one global read plus a method on an immutable Snapshot. watchdog is imported
# only when a loader starts watching, so `import calibration_core.runtime.loader` stays light.

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import numbers
import os
import stat
import threading
import time
import weakref
from bisect import bisect_right
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import attrs
import numpy as np

from calibration_core.config import (
    CONSENSUS_BUCKETS,
    MAX_CONFIG_BYTES,
    MAX_CONSENSUS_MULTIPLIER,
    MIN_CONSENSUS_MULTIPLIER,
    CalibrationConfig,
    LegacyConfig,
    consensus_bucket,
    parse_config,
)
from calibration_core.exceptions import ConfigRejectedError, InvalidInputError
from calibration_core.settings import (
    DEFAULT_CONFIG_PATH,
    ENV_CONFIG_PATH,
    SENTINEL_NAME,
    resolve_paths,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType
    from typing import Self

    from numpy.typing import ArrayLike, NDArray

    from calibration_core.config import ConfidenceMap

__all__ = [
    "DEFAULT_DEBOUNCE",
    "DEFAULT_POLL_INTERVAL",
    "K8S_DATA_LINK",
    "LOGGER_NAME",
    "WATCHING_DIRECTORY_GONE",
    "CalibrationLoader",
    "ConsensusCalibrator",
    "LoaderStatus",
    "Snapshot",
    "WatchMode",
    "apply_confidence_calibration",
    "apply_confidence_calibration_batch",
    "apply_hold_bias",
    "consensus_bucket",
    "get_calibration_loader",
    "get_calibration_snapshot",
    "get_calibrator",
    "get_consensus_multiplier",
    "get_default_loader",
    "get_ensemble_weights",
    "reload_calibration",
    "reset_default_loader",
    "set_default_loader",
]

LOGGER_NAME: Final = "calibration_core.loader"
DEFAULT_DEBOUNCE: Final = 0.01
"""Seconds between two reloads inside a burst of events (the first reloads at once)."""
DEFAULT_POLL_INTERVAL: Final = 2.0
"""Seconds between two stat() checks of the config, the backstop for missed events."""
K8S_DATA_LINK: Final = "..data"
"""The symlink a Kubernetes ConfigMap volume swaps atomically on every update."""
WATCHING_DIRECTORY_GONE: Final = "poll (directory gone)"
"""``status().watching`` while the config directory is missing: polled, re-armed on return."""

WatchMode = Literal["auto", "inotify", "poll", "none"]
_WATCH_MODES: Final = ("auto", "inotify", "poll", "none")

# A file whose mtime is this close to "now" may still change within the same mtime
# tick without changing its identity (the "racily clean" problem git documents), so
# the next poll hashes its content instead of trusting stat().
_RACY_WINDOW_NS: Final = 2_000_000_000
_READ_CHUNK: Final = 65_536
# Below CPython's HASHLIB_GIL_MINSIZE (2048): an update this small keeps the GIL.
_HASH_PIECE: Final = 2_047
_JOIN_TIMEOUT: Final = 10.0
# Observer thread wake-up period: it bounds how long stop() waits for watchdog.
_OBSERVER_TIMEOUT: Final = 0.2
# Event types that can mean "the config (or what it points to) changed". Opened and
# closed-without-write are left out on purpose: our own reads produce them.
_RELEVANT_EVENTS: Final = frozenset({"moved", "created", "modified", "closed", "deleted", "attrib"})

logger = logging.getLogger(LOGGER_NAME)

_Curve = tuple[list[float], list[float], list[float]]
"""Knots (xs, ys) and segment slopes of one map, as Python floats for the scalar path."""
_Arrays = tuple["NDArray[np.float64]", "NDArray[np.float64]"]


def _readonly(array: NDArray[np.float64]) -> NDArray[np.float64]:
    array.flags.writeable = False
    return array


_IDENTITY_CURVE: Final[_Curve] = ([0.0, 1.0], [0.0, 1.0], [1.0])
_IDENTITY_ARRAYS: Final[_Arrays] = (
    _readonly(np.array([0.0, 1.0])),
    _readonly(np.array([0.0, 1.0])),
)
_EMPTY_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType({})
# numpy dtype kinds the batch path converts in one call: float, signed, unsigned, bool.
_REAL_KINDS: Final = frozenset("fiub")
# Concrete real types checked before the (slower) numbers.Real ABC check.
_CONCRETE_REALS: Final = (float, int, np.floating, np.integer, np.bool_)


class _Counters:
    """Hot-path diagnostics shared by a loader's snapshots.

    Plain ``+= 1`` without a lock: under threads a count may be lost, so these
    counts are approximate by design (a lock would cost more than the call itself).
    """

    __slots__ = ("batch_errors", "invalid_inputs", "nan_inputs", "uncovered_logged")

    def __init__(self) -> None:
        self.nan_inputs = 0
        self.invalid_inputs = 0
        self.batch_errors = 0
        self.uncovered_logged = False


def _curve_of(section: ConfidenceMap) -> _Curve:
    xs = [float(x) for x in section.thresholds]
    ys = [float(y) for y in section.values]
    return xs, ys, [_slope(xs[i], ys[i], xs[i + 1], ys[i + 1]) for i in range(len(xs) - 1)]


def _slope(x0: float, y0: float, x1: float, y1: float) -> float:
    # A gap of a few subnormals overflows the division (inf, and inf * 0 is NaN in the hot
    # path): such a segment is narrower than any input's rounding, so it takes the left value.
    slope = (y1 - y0) / (x1 - x0) if x1 > x0 else 0.0
    return slope if math.isfinite(slope) else 0.0


def _arrays_of(section: ConfidenceMap) -> _Arrays:
    return (
        _readonly(np.array(section.thresholds, dtype=np.float64)),
        _readonly(np.array(section.values, dtype=np.float64)),
    )


def _is_real_number(value: object) -> bool:
    # Decimal is a Number but not Complex; complex numbers have no order. numpy's bool
    # is not registered as a Number, but Python's bool is an int: treat both alike.
    return isinstance(value, numbers.Real | np.bool_) or (
        isinstance(value, numbers.Number) and not isinstance(value, numbers.Complex)
    )


def _as_float(value: object) -> float | None:
    """Convert any real number to a Python float; None for anything else. Never raises.

    numpy scalars of every float, int and bool dtype, ``Decimal``, ``Fraction``,
    ``bool`` and float subclasses all become a plain ``float`` before any
    comparison, so the maths runs in float64 whatever the input precision. An int
    or Fraction too large for a float becomes ±inf (it is clipped anyway); a
    signalling-NaN Decimal, which refuses conversion, is not a usable number.
    """
    if not isinstance(value, _CONCRETE_REALS) and not _is_real_number(value):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        try:
            return math.inf if value > 0 else -math.inf  # type: ignore[operator]
        except Exception:  # noqa: BLE001 - cannot even be compared: not usable
            return None
    except Exception:  # noqa: BLE001 - e.g. Decimal("sNaN"): not usable
        return None


def _iso_timestamp(value: object) -> str | None:
    """Normalise a load time to an ISO-8601 UTC string (epoch floats and datetimes too)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="microseconds")
    msg = f"loaded_at must be an ISO-8601 string, a datetime or epoch seconds (got {value!r})"
    raise InvalidInputError(msg)


def _trade_count(value: object) -> int | None:
    """Validate a trade count (a non-negative int) or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"based_on_trades must be a count >= 0 or None (got {value!r})"
        raise InvalidInputError(msg)
    return value


def _absolute_or_given(path: Path) -> Path:
    """Return ``path`` made absolute, or as given when the working directory is gone."""
    try:
        return path.absolute()
    except OSError:
        return path


@attrs.frozen(eq=False, repr=False)
class Snapshot:
    """One complete, validated config version prepared for the hot path.

    A snapshot never changes: the loader builds a new one for every accepted file
    and swaps a single reference, so a reader that keeps one snapshot for a whole
    decision sees one version's map, weights and multipliers together. Two
    snapshots compare equal only when they are the same object; compare
    ``version`` and ``digest`` to compare contents.

    Attributes
    ----------
    version : str or None
        The config version, or None when no config is loaded (identity map).
    source : str
        Path of the config file.
    loaded_at : str or None
        When this version went live, as an ISO-8601 UTC timestamp
        (``2026-02-20T14:30:22.123456+00:00``; None for the identity snapshot).
        An epoch float or a datetime given to the constructor is converted.
    digest : str or None
        BLAKE2b-128 hex digest of the file content.
    config : CalibrationConfig or None
        The parsed document (None for the identity and for a legacy config).
    based_on_trades : int or None
        How many trades the served version was fitted on, when its document
        records it (None: not recorded, or no config).
    legacy : bool
        True when the served version is the old deployer's legacy config.
    created_at : str or None
        The document's ``created_at`` (naive local time for a legacy config).
    """

    version: str | None
    source: str
    loaded_at: str | None = attrs.field(converter=_iso_timestamp)
    digest: str | None
    config: CalibrationConfig | None
    _curve: _Curve
    _curves: Mapping[str, _Curve]
    _arrays: _Arrays
    _symbol_arrays: Mapping[str, _Arrays]
    _calibration_enabled: bool
    _weights: Mapping[str, float] | None
    _fallback_weights: Mapping[str, float]
    _consensus: tuple[float, ...] | None
    _hold_bias: float
    _counters: _Counters
    based_on_trades: int | None = attrs.field(default=None, converter=_trade_count)
    legacy: bool = False
    created_at: str | None = None
    # Derived: the configured members, to check a host's baseline against in one C call.
    _weight_names: frozenset[str] = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: frozenset(self._weights or ()), takes_self=True),
    )

    @classmethod
    def identity(
        cls,
        *,
        source: str = "",
        default_weights: Mapping[str, float] | None = None,
        counters: _Counters | None = None,
    ) -> Snapshot:
        """Build the snapshot served when no valid config was ever loaded.

        Confidence passes through (clipped to [0, 1]), the weights are
        ``default_weights`` (or empty), consensus multipliers are 1 and there is
        no HOLD bias.
        """
        return cls(
            version=None,
            source=source,
            loaded_at=None,
            digest=None,
            config=None,
            curve=_IDENTITY_CURVE,
            curves={},
            arrays=_IDENTITY_ARRAYS,
            symbol_arrays={},
            calibration_enabled=False,
            weights=None,
            fallback_weights=_freeze_weights(default_weights),
            consensus=None,
            hold_bias=0.0,
            counters=counters if counters is not None else _Counters(),
        )

    @classmethod
    def from_config(
        cls,
        config: CalibrationConfig,
        *,
        source: str = "",
        digest: str | None = None,
        loaded_at: float | str | datetime | None = None,
        default_weights: Mapping[str, float] | None = None,
        counters: _Counters | None = None,
        based_on_trades: int | None = None,
    ) -> Snapshot:
        """Precompute everything the hot path needs from a validated config.

        Parameters
        ----------
        config : CalibrationConfig
            A document that passed :meth:`CalibrationConfig.from_json`.
        source, digest, loaded_at
            Provenance recorded on the snapshot (``loaded_at`` as an epoch float,
            a datetime or an ISO-8601 string; it is stored as ISO-8601).
        default_weights : mapping, optional
            Weights served when the config's weights are disabled.
        counters : optional
            The owning loader's hot-path counters.
        based_on_trades : int, optional
            The number of trades behind this version. When omitted it is taken
            from the config's provenance (a ``based_on_trades`` field) if the
            config records one.
        """
        enabled = config.confidence.enabled
        curve = _curve_of(config.confidence) if enabled else _IDENTITY_CURVE
        arrays = _arrays_of(config.confidence) if enabled else _IDENTITY_ARRAYS
        curves: dict[str, _Curve] = {}
        symbol_arrays: dict[str, _Arrays] = {}
        if config.per_symbol.enabled:
            # A symbol map that is itself disabled counts as "no map": the global one applies.
            for symbol, section in config.per_symbol.maps:
                if section.enabled:
                    curves[symbol] = _curve_of(section)
                    symbol_arrays[symbol] = _arrays_of(section)
        weights = MappingProxyType(dict(config.weights.weights)) if config.weights.enabled else None
        consensus = (
            tuple(value for _, value in config.consensus.multipliers)
            if config.consensus.enabled
            else None
        )
        return cls(
            version=config.version,
            source=source,
            loaded_at=loaded_at,
            digest=digest,
            config=config,
            curve=curve,
            curves=curves,
            arrays=arrays,
            symbol_arrays=symbol_arrays,
            calibration_enabled=enabled,
            weights=weights,
            fallback_weights=_freeze_weights(default_weights),
            consensus=consensus,
            hold_bias=config.hold_bias.bias if config.hold_bias.enabled else 0.0,
            counters=counters if counters is not None else _Counters(),
            based_on_trades=(
                based_on_trades if based_on_trades is not None else config.based_on_trades
            ),
            created_at=config.created_at,
        )

    @classmethod
    def from_legacy(
        cls,
        config: LegacyConfig,
        *,
        source: str = "",
        digest: str | None = None,
        loaded_at: float | None = None,
        default_weights: Mapping[str, float] | None = None,
        counters: _Counters | None = None,
    ) -> Snapshot:
        """Precompute the hot path of a legacy config that passed its hard rules.

        Parameters
        ----------
        config : LegacyConfig
            A legacy document whose :attr:`~LegacyConfig.refusal` is None.
        source, digest, loaded_at, default_weights, counters
            As for :meth:`from_config`.

        Raises
        ------
        ConfigRejectedError
            When ``config`` breaks a hard rule: it is never served.

        Notes
        -----
        The map is the old loader's, precomputed into the same knot arrays as ours
        (:meth:`LegacyConfig.served_knots`), so the hot path is unchanged. Enabled
        weights are served as written; consensus multipliers and HOLD bias stay off.
        """
        refusal = config.refusal
        if refusal is not None:
            raise ConfigRejectedError(refusal)
        section = config.confidence_map()
        enabled = config.calibration_enabled
        return cls(
            version=config.version,
            source=source,
            loaded_at=loaded_at,
            digest=digest,
            config=None,
            curve=_curve_of(section) if enabled else _IDENTITY_CURVE,
            curves={},
            arrays=_arrays_of(section) if enabled else _IDENTITY_ARRAYS,
            symbol_arrays={},
            calibration_enabled=enabled,
            weights=MappingProxyType(config.weights_dict()) if config.weights_enabled else None,
            fallback_weights=_freeze_weights(default_weights),
            consensus=None,
            hold_bias=0.0,
            counters=counters if counters is not None else _Counters(),
            based_on_trades=config.based_on_trades,
            legacy=True,
            created_at=config.created_at,
        )

    def __repr__(self) -> str:
        """Name the version and digest, not the knots."""
        return f"Snapshot(version={self.version!r}, digest={self.digest!r}, source={self.source!r})"

    # -- the hot path -------------------------------------------------------------------

    def apply(self, confidence: float, symbol: str | None = None) -> float:
        """Calibrate one confidence; never raises.

        Parameters
        ----------
        confidence : float
            Raw confidence. Values outside [0, 1] are clipped first.
        symbol : str, optional
            Use this symbol's map when per-symbol maps are enabled and it has one;
            otherwise (and for unknown or unhashable symbols) the global map.

        Returns
        -------
        float
            The calibrated confidence in [0, 1], always a Python ``float``. NaN
            comes back as a float NaN (and is counted). Every other real number
            (numpy scalars of any float, int or bool dtype, ``Decimal``,
            ``Fraction``, ``bool``) is converted to a Python float first, so the
            maths runs in float64. Anything else (a string, None, a complex)
            comes back unchanged and is counted as an invalid input. With
            calibration disabled this is the identity on [0, 1].

        Notes
        -----
        Piecewise-linear interpolation between the knots: for
        ``x[i] <= c < x[i+1]``, ``f(c) = y[i] + s[i] (c - x[i])``. The knots span
        [0, 1], so after the clip there is no extrapolation. A disabled map is the
        two-knot identity, so both cases run the same code.
        """
        if type(confidence) is not float:
            # Everything but an exact float: convert first (numpy scalars, Decimal, ...),
            # so that no comparison or subtraction below runs in another precision.
            return self._odd_input(confidence, symbol, self.apply)
        if symbol is None:
            xs, ys, slopes = self._curve
        else:
            try:
                xs, ys, slopes = self._curves.get(symbol, self._curve)
            except Exception:  # noqa: BLE001 - an unhashable (or hostile) "symbol" is unknown
                xs, ys, slopes = self._curve
        # A float cannot make these raise: no try block on the hot path.
        if confidence >= 1.0:
            return ys[-1]
        if confidence > 0.0:
            i = bisect_right(xs, confidence) - 1
            return ys[i] + slopes[i] * (confidence - xs[i])
        if confidence <= 0.0:
            return ys[0]
        # Only NaN fails all three comparisons.
        self._counters.nan_inputs += 1
        return confidence

    def apply_batch(self, values: ArrayLike, symbol: str | None = None) -> NDArray[np.float64]:
        """Calibrate an array of confidences; never raises.

        Parameters
        ----------
        values : array_like
            Raw confidences of any shape. An array or sequence of real numbers
            (float, int or bool dtypes) is converted once to float64 (the caller's
            array is never modified); other elements are converted one by one as
            in :meth:`apply`.
        symbol : str, optional
            As for :meth:`apply`.

        Returns
        -------
        numpy.ndarray
            float64 array of the same shape. NaN stays NaN (and is counted);
            elements that are not real numbers (strings, bytes, None, complex)
            become NaN and are counted as invalid; they are never parsed.

        Notes
        -----
        ``np.interp`` clamps to the end knots and the knots span [0, 1], so it
        needs no separate clip; the disabled (identity) path is ``np.clip``.
        """
        try:
            # Fast path: an array (or list) of real numbers converts in one call. Any
            # other dtype (strings, bytes, objects such as None or Decimal, complex,
            # datetimes) goes element by element, like the scalar path: a number is
            # converted, anything else becomes NaN and is counted as invalid. Nothing
            # is parsed from text and no imaginary part is dropped.
            bad = 0
            array = np.asarray(values)
            if array.dtype.kind in _REAL_KINDS:
                array = array.astype(np.float64, copy=False)
            else:
                array, bad = self._coerce_batch(values)
        except Exception:  # noqa: BLE001 - e.g. a ragged list: element-wise conversion
            array, bad = self._coerce_batch(values)
        try:
            if symbol is None:
                xp, fp = self._arrays
            else:
                try:
                    xp, fp = self._symbol_arrays.get(symbol, self._arrays)
                except Exception:  # noqa: BLE001 - an unhashable (or hostile) "symbol" is unknown
                    xp, fp = self._arrays
            if xp is _IDENTITY_ARRAYS[0]:
                out = np.clip(array, 0.0, 1.0)
            else:
                out = np.asarray(np.interp(array, xp, fp), dtype=np.float64)
            # An invalid element is NaN now, but it is counted as invalid, not as a NaN input.
            nans = int(np.count_nonzero(np.isnan(array))) - bad
            if nans > 0:
                self._counters.nan_inputs += nans
        except Exception:  # the hot path never raises into the host
            counters = self._counters
            counters.batch_errors += 1
            if counters.batch_errors == 1:  # logged once, like the scalar path's odd inputs
                logger.exception(
                    "[CalibrationLoader] batch calibration failed; returning NaN "
                    "(logged once; later failures are silent)"
                )
            return _all_nan(array)
        return out

    def _coerce_batch(self, values: object) -> tuple[NDArray[np.float64], int]:
        """Convert element by element; return the array and how many elements were invalid."""
        try:
            items = np.asarray(values, dtype=object)
            flat = [_float_or_nan(v) for v in items.ravel()]
            bad = sum(1 for v, f in zip(items.ravel(), flat, strict=True) if _bad_item(v, f))
            self._count_invalid(bad, type(values))
            return np.array(flat, dtype=np.float64).reshape(items.shape), bad
        except Exception:  # noqa: BLE001 - truly unusable input: all NaN, in its shape
            self._count_invalid(1, type(values))
            nan = _all_nan(values)
            return nan, nan.size

    def get_ensemble_weights(
        self,
        baseline: Mapping[str, float] | None = None,
        *,
        default: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        """Return the ensemble weights as a read-only mapping; never raises.

        Parameters
        ----------
        baseline : mapping, optional
            The host's own weights, used when the config has none enabled (no copy
            is made if it is already a ``MappingProxyType``).
        default : mapping, optional
            The earlier name of ``baseline`` (keyword only); ``baseline`` wins
            when both are given.

        Returns
        -------
        Mapping[str, float]
            The configured weights only when they are enabled; else ``baseline``
            (or ``default``); else the loader's ``default_weights``; else an
            **empty** mapping, so that ``if w:`` falls back to the host's own
            weights. Never a made-up model set. When a ``baseline`` is given,
            the configured weights are returned only if they name every one of
            its members (a host that indexes each member never meets a
            ``KeyError``); otherwise the baseline is, with one warning.
        """
        weights = self._weights
        if baseline is not None:
            default = baseline
        if weights is not None:
            if default is None:
                return weights
            try:
                covered = self._weight_names.issuperset(default)  # one C-level call
            except Exception:  # noqa: BLE001 - a baseline we cannot check: the host's own
                covered = False
            if covered:
                return weights
            self._warn_uncovered(weights, default)
        if default is None:
            return self._fallback_weights
        if type(default) is MappingProxyType:
            return default
        try:
            return MappingProxyType(dict(default))
        except Exception:  # noqa: BLE001 - a bad default is an invalid input, not a crash
            self._count_invalid(1, type(default))
            return self._fallback_weights

    def _warn_uncovered(self, weights: Mapping[str, float], members: Mapping[str, float]) -> None:
        """Warn once per loader that the configured weights miss some host members."""
        counters = self._counters
        if counters.uncovered_logged:
            return
        counters.uncovered_logged = True
        with contextlib.suppress(Exception):  # a warning must not raise into the host
            missing = [name for name in members if name not in weights]
            logger.warning(
                "[CalibrationLoader] ⚠️ version %s has weights for %s but the host's ensemble "
                "also has %s: serving the host's own weights (logged once)",
                self.version,
                ", ".join(sorted(weights)),
                ", ".join(sorted(map(str, missing))),
            )

    def bucket_multiplier(self, bucket: str) -> float:
        """Return the configured multiplier of a consensus bucket (1.0 when disabled).

        Raises
        ------
        ValueError
            If ``bucket`` is not one of ``CONSENSUS_BUCKETS``.
        """
        multipliers = self._consensus
        index = CONSENSUS_BUCKETS.index(bucket)
        return 1.0 if multipliers is None else multipliers[index]

    def consensus_multiplier(self, consensus_count: int, total_models: int) -> float:
        """Return the confidence multiplier for a vote's consensus; never raises.

        1.0 when consensus multipliers are disabled or the counts are invalid;
        otherwise the configured multiplier of :func:`consensus_bucket`.
        """
        multipliers = self._consensus
        if multipliers is None:
            return 1.0
        try:
            bucket = consensus_bucket(consensus_count, total_models)
            return 1.0 if bucket is None else multipliers[CONSENSUS_BUCKETS.index(bucket)]
        except Exception:  # noqa: BLE001 - the hot path never raises into the host
            return 1.0

    def apply_hold_bias(self, confidence: float) -> float:
        """Shift a HOLD signal's confidence by the configured bias; never raises.

        The input is clipped to [0, 1], the bias added and the sum clipped to
        [0, 1] again. Without an enabled HOLD bias this is the clipped identity.
        NaN and non-numeric inputs are handled as in :meth:`apply`.
        """
        if type(confidence) is not float:
            return self._odd_input(confidence, None, _hold_bias_adapter(self))
        bias = self._hold_bias
        try:
            if confidence >= 1.0:
                value = 1.0 + bias
            elif confidence > 0.0:
                value = confidence + bias
            elif confidence <= 0.0:
                value = bias
            else:
                self._counters.nan_inputs += 1
                return confidence
            if value >= 1.0:
                return 1.0
            return value if value > 0.0 else 0.0  # noqa: FURB136, TRY300 - cheaper than max()
        except Exception:  # noqa: BLE001 - the hot path never raises into the host
            return self._odd_input(confidence, None, _hold_bias_adapter(self))

    def _odd_input(
        self, value: object, symbol: str | None, again: Callable[[float, str | None], float]
    ) -> float:
        """Convert another real-number type and retry, or count and return ``value`` as is."""
        number = _as_float(value)
        if number is not None:
            return again(number, symbol)
        self._count_invalid(1, type(value))
        # Typed float for the caller's sake: a non-number comes back exactly as it came.
        return cast("float", value)

    def _count_invalid(self, count: int, kind: type) -> None:
        counters = self._counters
        first = counters.invalid_inputs == 0
        counters.invalid_inputs += count
        if first and count:
            logger.warning(
                "[CalibrationLoader] non-numeric input of type %s returned unchanged "
                "(logged once; see status().invalid_inputs)",
                kind.__name__,
            )

    # -- read-only views ------------------------------------------------------------------

    @property
    def weights(self) -> Mapping[str, float]:
        """The weights in effect: configured, else the loader's defaults, else empty."""
        return self._weights if self._weights is not None else self._fallback_weights

    @property
    def calibration_enabled(self) -> bool:
        """Whether the global confidence map is enabled."""
        return self._calibration_enabled

    @property
    def weights_enabled(self) -> bool:
        """Whether the config's ensemble weights are in effect."""
        return self._weights is not None

    @property
    def symbols(self) -> frozenset[str]:
        """Symbols that have their own enabled map."""
        return frozenset(self._curves)

    @property
    def consensus_enabled(self) -> bool:
        """Whether consensus multipliers are enabled."""
        return self._consensus is not None

    @property
    def hold_bias(self) -> float:
        """The HOLD bias in effect (0.0 when disabled)."""
        return self._hold_bias


def _hold_bias_adapter(snapshot: Snapshot) -> Callable[[float, str | None], float]:
    def again(value: float, _symbol: str | None) -> float:
        return snapshot.apply_hold_bias(value)

    return again


def _float_or_nan(value: object) -> float:
    number = _as_float(value)
    return math.nan if number is None else number


def _bad_item(value: object, converted: float) -> bool:
    """Whether an element became NaN without being a NaN number (a NaN is not invalid)."""
    if not math.isnan(converted):
        return False
    try:
        return not (_is_real_number(value) and value != value)  # noqa: PLR0124
    except Exception:  # noqa: BLE001 - e.g. Decimal("sNaN") refuses to compare: invalid
        return True


def _all_nan(values: object) -> NDArray[np.float64]:
    """Return an all-NaN float64 array of ``values``' shape (0-d when it has none)."""
    try:
        return np.full(np.shape(cast("Any", values)), np.nan)
    except Exception:  # noqa: BLE001 - not even a shape: a single NaN
        return np.full((), np.nan)


def _freeze_weights(weights: Mapping[str, float] | None) -> Mapping[str, float]:
    if weights is None:
        return _EMPTY_WEIGHTS
    return MappingProxyType({str(k): float(v) for k, v in weights.items()})


@attrs.frozen
class LoaderStatus:
    """What a loader has done so far, for health endpoints and logs.

    Attributes
    ----------
    version : str or None
        Version being served (None: identity, no valid config loaded yet).
    loaded_at : str or None
        When that version went live, as an ISO-8601 UTC timestamp
        (``2026-02-20T14:30:22.123456+00:00``).
    source : str
        Config path.
    digest : str or None
        Content digest of the served version.
    last_error : str or None
        Why the latest check did not load a file (cleared by a successful load).
    attempts, succeeded, rejected : int
        Reads of new content (or read failures), those that went live, and those
        that were refused (invalid, too big, unreadable): attempts = succeeded + rejected.
    skipped : int
        Checks that found the content unchanged (identity or digest).
    events : int
        Relevant file-system events received.
    nan_inputs, invalid_inputs : int
        Hot-path inputs that were NaN or not numbers (approximate under threads).
    watching : str
        ``"watchdog"`` (events plus polling backstop), ``"poll"``,
        ``"poll (directory gone)"`` (the config directory is missing: polled, and
        the watch is re-armed when it is back) or ``"none"``.
    observer : str or None
        The watchdog observer class in use.
    fallback_reason : str or None
        Why the loader polls although watchdog was requested.
    running : bool
        Whether the worker thread is running.
    """

    version: str | None
    loaded_at: str | None
    source: str
    digest: str | None
    last_error: str | None
    attempts: int
    succeeded: int
    rejected: int
    skipped: int
    events: int
    nan_inputs: int
    invalid_inputs: int
    watching: str
    observer: str | None
    fallback_reason: str | None
    running: bool

    def as_dict(self) -> dict[str, Any]:
        """Return the status as a plain JSON-ready dict."""
        return attrs.asdict(self)


@attrs.frozen
class _FileState:
    """Identity of a config file (device, inode, size, mtime, ctime) as stat() sees it.

    ctime is part of it because ``cp -p`` / ``rsync --inplace -t`` rewrite a file in
    place and then restore its mtime; ctime cannot be set back from user space.
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> _FileState:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def racy(self) -> bool:
        """Whether it changed so recently that a rewrite could keep this identity."""
        return time.time_ns() - max(self.mtime_ns, self.ctime_ns) < _RACY_WINDOW_NS


class _Rejected(Exception):  # noqa: N818 - internal signal, never escapes the loader
    """A file that exists but cannot become live; the message says why."""

    def __init__(self, reason: str, state: _FileState | None = None) -> None:
        super().__init__(reason)
        self.state = state


def _open_config(path: str) -> int:
    """Open the config for reading: one ``open`` syscall, following symlinks.

    O_NONBLOCK: a FIFO planted at the config path must not hang the thread in open().
    Symlinks are followed on purpose (a Kubernetes ConfigMap's config is one).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    return os.open(path, flags)


def _read_open(fd: int, max_bytes: int) -> tuple[bytes, _FileState]:
    """Read an open config: one ``fstat`` and, for a regular file, usually one ``read``.

    Every syscall releases the GIL, and a host whose Python threads keep the CPU busy
    makes each one wait up to ``sys.getswitchinterval()`` to get it back, so the read
    asks for the size fstat() reported plus one byte: a result of exactly that size is
    the whole file. A short read (NFS, FUSE) or a file that grew meanwhile reads on
    until end of file or the limit.
    """
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise _Rejected("not a regular file", _FileState.of(st))
    if st.st_size > max_bytes:
        # Refuse by size before reading a single byte of it.
        raise _Rejected(
            f"file is {st.st_size} bytes, over the {max_bytes}-byte limit", _FileState.of(st)
        )
    data = os.read(fd, st.st_size + 1)
    if len(data) != st.st_size:
        chunks = [data]
        total = len(data)
        while total <= max_bytes:
            chunk = os.read(fd, min(_READ_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise _Rejected(f"file grew past the {max_bytes}-byte limit while being read")
        data = b"".join(chunks)
    return data, _FileState.of(st)


def _directory_identity(path: str) -> tuple[int, int] | None:
    """Return a directory's (device, inode), or None when it is not there."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _digest(data: bytes) -> str:
    # Fed in pieces below hashlib's 2048-byte threshold, hashing never releases the GIL:
    # under a busy host, getting it back would cost a switch interval in the reload.
    hasher = hashlib.blake2b(digest_size=16)
    view = memoryview(data)
    for start in range(0, len(view), _HASH_PIECE):
        hasher.update(view[start : start + _HASH_PIECE])
    return hasher.hexdigest()


def _stat_or_none(path: str) -> _FileState | None:
    try:
        return _FileState.of(Path(path).stat())
    except OSError:
        return None


class CalibrationLoader:
    """Serve the live calibration.json to a host process, reloading it when it changes.

    Parameters
    ----------
    config_path : path-like, optional
        The live config. Its parent directory is watched (not the file: a file
        watch goes deaf after the first rename-over). None (the old loader's
        default) means ``CALIBRATION_CONFIG_PATH``, else ``config/calibration.json``.
    default_weights : mapping, optional
        Ensemble weights to serve while no config (or one with weights disabled)
        is live.
    debounce : float, optional
        Minimum seconds between two reloads inside a burst of events. The first
        event of a burst reloads at once (leading edge) and events arriving during
        a reload are coalesced into one more check, so no change is ever lost.
    poll_interval : float, optional
        Seconds between stat() checks that catch changes the watcher missed
        (NFS, container volumes); in ``watch="poll"`` mode it is the only trigger.
    watch : {"auto", "inotify", "poll", "none"}, optional
        ``"auto"``: watchdog's native observer plus polling; ``"inotify"``: require
        the inotify observer (falls back to polling with a warning if it cannot
        start); ``"poll"``: polling only; ``"none"``: no thread, reload only via
        :meth:`reload`.
    max_bytes : int, optional
        Larger files are refused without being read.

    Raises
    ------
    InvalidInputError
        Only for invalid arguments (a programming error in the host). File
        problems never raise: the loader serves the identity map (or the last good
        version), logs the reason and counts it.

    Notes
    -----
    The config is loaded in the constructor, so a loader serves from the moment
    it exists; :meth:`start` (or ``with``) adds the watching threads. A stopped
    loader keeps serving its last snapshot and can be started again.

    Threads do not survive ``fork()``: in a forked child every loader is reset to
    "not running" with fresh locks (it keeps serving its last snapshot); call
    :meth:`start` in the child to watch again. The module's own default loader is
    instead recreated lazily by the child's next module-level call.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        *,
        default_weights: Mapping[str, float] | None = None,
        debounce: float = DEFAULT_DEBOUNCE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        watch: WatchMode = "auto",
        max_bytes: int = MAX_CONFIG_BYTES,
    ) -> None:
        if watch not in _WATCH_MODES:
            raise InvalidInputError(f"watch must be one of {_WATCH_MODES} (got {watch!r})")
        for name, value in (("debounce", debounce), ("poll_interval", poll_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInputError(f"{name} must be a number of seconds (got {value!r})")
            if not math.isfinite(value) or value < 0 or (name == "poll_interval" and value == 0):
                raise InvalidInputError(f"{name} must be a finite positive number (got {value})")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise InvalidInputError(f"max_bytes must be a positive integer (got {max_bytes!r})")
        if config_path is None:
            config_path = resolve_paths().config
        absolute = _absolute_or_given(Path(config_path))
        self._path = str(absolute)
        self._dir = str(absolute.parent)
        self._name = absolute.name
        self._debounce = float(debounce)
        self._poll_interval = float(poll_interval)
        self._watch: WatchMode = watch
        self._max_bytes = max_bytes
        try:
            self._default_weights = _freeze_weights(default_weights)
        except Exception as exc:
            raise InvalidInputError(
                f"default_weights must map model names to numbers (got {default_weights!r})"
            ) from exc
        self._counters = _Counters()
        self._snapshot = Snapshot.identity(
            source=self._path, default_weights=self._default_weights, counters=self._counters
        )
        # Writers (the worker, watchdog's dispatch thread, reload()) serialise on this lock;
        # readers never take it.
        self._reload_lock = threading.Lock()
        self._lifecycle_lock = threading.RLock()
        self._wake = threading.Condition(threading.Lock())
        self._pending = False
        self._stopping = False
        # When the last event-driven check ended (worker or dispatch thread): the debounce.
        self._last_event_check = -math.inf
        self._worker: threading.Thread | None = None
        self._observer: Any = None
        self._watching = "none"
        self._observer_name: str | None = None
        self._fallback_reason: str | None = None
        # The watched directory's (device, inode) when the observer was armed, and
        # whether polling should re-arm the observer once the directory is back.
        self._dir_identity: tuple[int, int] | None = None
        self._rearm = False
        self._trigger_names = frozenset({self._name, SENTINEL_NAME, K8S_DATA_LINK})
        # Bookkeeping of the last file the loader looked at (good or bad).
        self._seen_state: _FileState | None = None
        self._seen_digest: str | None = None
        self._racy = False
        self._missing = False
        self._last_error: str | None = None
        self._attempts = 0
        self._succeeded = 0
        self._rejected = 0
        self._skipped = 0
        self._events = 0
        _loaders.add(self)
        self._check(force=True)

    # -- hot path (delegates to the current snapshot) ---------------------------------------

    def apply_confidence_calibration(
        self, confidence: float, *, symbol: str | None = None
    ) -> float:
        """Calibrate one confidence with the live version (see :meth:`Snapshot.apply`)."""
        return self._snapshot.apply(confidence, symbol)

    def apply_confidence_calibration_batch(
        self, values: ArrayLike, *, symbol: str | None = None
    ) -> NDArray[np.float64]:
        """Calibrate an array with the live version (see :meth:`Snapshot.apply_batch`)."""
        return self._snapshot.apply_batch(values, symbol)

    def get_ensemble_weights(
        self,
        baseline: Mapping[str, float] | None = None,
        *,
        default: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        """Return the live weights, or ``baseline``, or an empty mapping.

        See :meth:`Snapshot.get_ensemble_weights`; ``default=`` is the earlier
        name of ``baseline`` and still works.
        """
        return self._snapshot.get_ensemble_weights(baseline, default=default)

    def get_consensus_multiplier(self, consensus_count: int, total_models: int) -> float:
        """Return the live consensus multiplier (see :meth:`Snapshot.consensus_multiplier`)."""
        return self._snapshot.consensus_multiplier(consensus_count, total_models)

    def apply_hold_bias(self, confidence: float) -> float:
        """Apply the live HOLD bias (see :meth:`Snapshot.apply_hold_bias`)."""
        return self._snapshot.apply_hold_bias(confidence)

    def get_calibration_snapshot(self) -> Snapshot:
        """Return the live snapshot; keep it for a whole decision to use one version."""
        return self._snapshot

    @property
    def snapshot(self) -> Snapshot:
        """The live snapshot (same as :meth:`get_calibration_snapshot`)."""
        return self._snapshot

    @property
    def config_path(self) -> Path:
        """The absolute config path this loader serves."""
        return Path(self._path)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Start watching; idempotent, and allowed again after :meth:`stop`.

        Never raises for watcher problems: if the observer cannot start (inotify
        limits, missing directory) the loader logs a warning and polls instead.
        """
        with self._lifecycle_lock:
            if self._worker is not None:
                return self
            if self._watch == "none":
                self._watching = "none"
                return self
            with self._wake:
                self._stopping = False
                # Check once at start: the file may have changed since the constructor.
                self._pending = True
            if self._watch == "poll":
                self._watching = "poll"
            else:
                self._start_observer()
            worker = threading.Thread(
                target=self._run, name=f"CalibrationLoader[{self._name}]", daemon=True
            )
            try:
                worker.start()
            except RuntimeError as exc:  # "can't start new thread": serve, do not watch
                logger.warning("[CalibrationLoader] ⚠️ cannot start the reload worker (%s)", exc)
                self.stop()
                return self
            self._worker = worker
            logger.info(
                "[CalibrationLoader] Watching %s for %s (%s, polling every %.3g s)",
                self._dir,
                self._name,
                self._observer_name if self._watching == "watchdog" else "polling only",
                self._poll_interval,
            )
            return self

    def stop(self) -> None:
        """Stop watching and join every thread this loader started; idempotent.

        The loader keeps serving its last snapshot after it stops.
        """
        with self._lifecycle_lock:
            worker, self._worker = self._worker, None
            observer, self._observer = self._observer, None
            with self._wake:
                self._stopping = True
                self._wake.notify_all()
            if observer is not None:
                _stop_observer(observer)
            if worker is not None and worker is not threading.current_thread():
                worker.join(_JOIN_TIMEOUT)
                if worker.is_alive():
                    logger.warning("[CalibrationLoader] worker thread did not stop in time")
            self._watching = "none"

    def close(self) -> None:
        """Alias of :meth:`stop`."""
        self.stop()

    def __enter__(self) -> Self:
        """Start watching; the loader already serves the config it loaded."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop watching and join the threads."""
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        worker = self._worker
        return worker is not None and worker.is_alive()

    def reload(self) -> bool:
        """Check the file now (synchronously); True when the file on disk is what is served.

        This is the old loader's ``reload() -> bool``. It is False when there is
        no file, or the file was rejected (the loader then keeps serving the last
        good version, or the identity). Never raises. Use :meth:`reload_snapshot`
        to get the snapshot that is live after the check.
        """
        self._check(force=True)
        return self._last_error is None and self._snapshot.version is not None

    def reload_snapshot(self) -> Snapshot:
        """Check the file now (synchronously) and return the snapshot then live.

        Never raises; an invalid file is rejected and counted as usual. (Before
        the host API, ``reload()`` returned this; it now returns a bool.)
        """
        self._check(force=True)
        return self._snapshot

    # -- the old loader's API (the EnsembleManager calls these) ------------------------------

    @property
    def calibration_loaded(self) -> bool:
        """Whether a config version is live (False: identity map, no config)."""
        return self._snapshot.version is not None

    @property
    def version(self) -> str | None:
        """The live config version, or None."""
        return self._snapshot.version

    @property
    def based_on_trades(self) -> int | None:
        """How many trades the live version was fitted on, when its provenance says."""
        return self._snapshot.based_on_trades

    def get_calibrator(self) -> ConsensusCalibrator:
        """Return a consensus multiplier adapter bound to this loader (see `get_calibrator`)."""
        return ConsensusCalibrator(self)

    def get_status(self) -> dict[str, Any]:
        """Return the old loader's status dict, extended with :meth:`status`'s fields.

        Keys ``loaded``, ``version``, ``created_at``, ``based_on_trades``,
        ``confidence_enabled``, ``weights_override``, ``config_path`` and
        ``config_exists`` mean what they meant in the old loader; every field of
        :class:`LoaderStatus` follows. Never raises.
        """
        snap = self._snapshot
        status = self.status().as_dict()
        try:
            exists = Path(self._path).is_file()
        except OSError:
            exists = False
        return {
            "loaded": snap.version is not None,
            "version": snap.version,
            "created_at": snap.created_at,
            "based_on_trades": snap.based_on_trades,
            "confidence_enabled": snap.calibration_enabled,
            "weights_override": snap.weights_enabled,
            "config_path": self._path,
            "config_exists": exists,
            **{k: v for k, v in status.items() if k != "version"},
        }

    def status(self) -> LoaderStatus:
        """Return a frozen summary of what the loader serves and has done."""
        snap = self._snapshot
        counters = self._counters
        return LoaderStatus(
            version=snap.version,
            loaded_at=snap.loaded_at,
            source=self._path,
            digest=snap.digest,
            last_error=self._last_error,
            attempts=self._attempts,
            succeeded=self._succeeded,
            rejected=self._rejected,
            skipped=self._skipped,
            events=self._events,
            nan_inputs=counters.nan_inputs,
            invalid_inputs=counters.invalid_inputs,
            watching=self._watching,
            observer=self._observer_name if self._watching == "watchdog" else None,
            fallback_reason=self._fallback_reason,
            running=self.running,
        )

    def __repr__(self) -> str:
        """Name the path, version and watch mode."""
        return (
            f"CalibrationLoader({self._path!r}, version={self._snapshot.version!r}, "
            f"watching={self._watching!r})"
        )

    def _after_fork_in_child(self) -> None:
        """Forget the parent's threads and locks in a forked child (see :func:`_after_fork`).

        Threads do not survive fork(), and a lock another parent thread held at the
        fork stays held forever in the child. The observer is dropped, not stopped:
        stopping it would remove the inotify watches the child shares with the parent.
        """
        self._reload_lock = threading.Lock()
        self._lifecycle_lock = threading.RLock()
        self._wake = threading.Condition(threading.Lock())
        self._pending = False
        self._stopping = False
        self._worker = None
        self._observer = None
        self._watching = "none"

    # -- watching ---------------------------------------------------------------------------

    def _start_observer(self) -> None:
        observer: Any = None
        # Taken before the watch is placed: a directory replaced in between differs
        # from it, and the next poll re-arms.
        identity = _directory_identity(self._dir)
        try:
            # Imported here so that importing the loader does not pay for watchdog.
            from watchdog.observers import Observer  # noqa: PLC0415

            if self._watch == "inotify":
                from watchdog.observers.inotify import InotifyObserver  # noqa: PLC0415

                observer = InotifyObserver(timeout=_OBSERVER_TIMEOUT)
            else:
                observer = Observer(timeout=_OBSERVER_TIMEOUT)
            observer.name = f"CalibrationObserver[{self._name}]"
            handler = _make_handler(self)
            try:
                observer.schedule(handler, self._dir, recursive=False, event_filter=_event_filter())
            except TypeError:  # a watchdog without event_filter: every event type arrives
                observer.schedule(handler, self._dir, recursive=False)
            observer.start()
        except Exception as exc:  # noqa: BLE001 - any failure means "poll instead"
            if observer is not None:
                _stop_observer(observer)
            self._fallback_reason = f"{type(exc).__name__}: {exc}"
            # A missing directory is waited for and the watch re-armed when it appears;
            # other failures (inotify limits) keep polling.
            self._rearm = _directory_identity(self._dir) is None
            self._watching = WATCHING_DIRECTORY_GONE if self._rearm else "poll"
            self._observer_name = None
            logger.warning(
                "[CalibrationLoader] ⚠️ file watcher could not start (%s); "
                "falling back to polling %s every %.3g s",
                self._fallback_reason,
                self._path,
                self._poll_interval,
            )
            return
        self._observer = observer
        self._observer_name = type(observer).__name__
        self._fallback_reason = None
        self._dir_identity = identity
        self._rearm = False
        self._watching = "watchdog"

    def _watch_lost(self, why: str) -> None:
        """Record that the directory watch is dead (its directory went away); poll meanwhile."""
        if self._watching != "watchdog":
            return
        self._watching = WATCHING_DIRECTORY_GONE
        self._fallback_reason = f"config directory {self._dir} {why}"
        self._rearm = True
        logger.warning(
            "[CalibrationLoader] ⚠️ config directory %s %s: the file watch is lost; "
            "polling %s every %.3g s and re-arming the watch when the directory is back",
            self._dir,
            why,
            self._path,
            self._poll_interval,
        )
        self._notify()

    def _check_watch(self) -> None:
        """At each poll: notice a lost or stale directory watch, and re-arm it when possible.

        A watch on a directory that was removed (or renamed away and replaced) is
        dead: inotify follows the old inode. The directory's (device, inode) is
        compared with the one the watch was placed on.
        """
        if self._watch not in ("auto", "inotify") or self._stopping:
            return
        identity = _directory_identity(self._dir)
        if self._watching == "watchdog":
            if identity == self._dir_identity:
                return
            if identity is None:
                self._watch_lost("is gone")
                return
            self._watch_lost("was replaced")
        if not self._rearm or identity is None:
            return
        # Never wait for the lifecycle lock here: stop() holds it while it joins this
        # worker. A busy lock means start/stop is under way; the next poll retries.
        if not self._lifecycle_lock.acquire(blocking=False):
            return
        try:
            if self._stopping or self._worker is None:
                return
            old, self._observer = self._observer, None
            if old is not None:
                _stop_observer(old)
            self._start_observer()
        finally:
            self._lifecycle_lock.release()
        if self._watching == "watchdog":
            logger.info(
                "[CalibrationLoader] ✅ config directory %s is back: file watch re-armed (%s)",
                self._dir,
                self._observer_name,
            )
            self._notify()  # the file may have arrived with the directory

    def _on_event(self, event: object) -> None:
        """Handle one watchdog event that may concern the config: reload now, or flag the worker."""
        event_type = getattr(event, "event_type", None)
        if event_type not in _RELEVANT_EVENTS:
            return
        names = self._trigger_names
        src = getattr(event, "src_path", "") or ""
        dest = getattr(event, "dest_path", "") or ""
        sep = os.sep
        if event_type in {"deleted", "moved"} and os.fsdecode(src).rstrip(sep) == self._dir:
            # The watched directory itself went away: watchdog's emitter stops after this.
            self._watch_lost("is gone" if event_type == "deleted" else "was moved away")
            return
        if os.fsdecode(src).rpartition(sep)[2] not in names and (
            not dest or os.fsdecode(dest).rpartition(sep)[2] not in names
        ):
            return
        self._events += 1
        if not self._reload_on_dispatch():
            self._notify()

    def _reload_on_dispatch(self) -> bool:
        """Reload on watchdog's dispatch thread, at once; False leaves it to the worker.

        A hand-off to the worker would wait for the GIL once more on a busy host, so
        the leading edge of a burst is read, validated and published right here. The
        worker keeps the rest: an event inside the debounce window, or one that finds
        a reload under way (the lock is only tried, so watchdog's thread never waits),
        becomes its coalesced re-check. Not running (``watch="none"``, stopping):
        the worker's flag is set as before.
        """
        if self._worker is None or self._stopping:
            return False
        if time.monotonic() - self._last_event_check < self._debounce:
            return False
        if not self._reload_lock.acquire(blocking=False):
            return False
        try:
            self._check_locked(force=True)
            self._last_event_check = time.monotonic()
        finally:
            self._reload_lock.release()
        return True

    def _notify(self) -> None:
        with self._wake:
            self._pending = True
            self._wake.notify()

    def _run(self) -> None:
        poll = self._poll_interval
        next_poll = time.monotonic() + poll
        while True:
            try:
                pending = self._wait_for_work(next_poll)
                if pending is None:
                    return
                if pending:
                    # Leading edge: a quiet loader checks at once; inside a burst the
                    # next check waits until `debounce` after the previous one.
                    delay = self._last_event_check + self._debounce - time.monotonic()
                    if delay > 0 and self._sleep_unless_stopped(delay):
                        return
                    with self._wake:
                        # Cleared before reading, so an event during the read is not lost.
                        self._pending = False
                    self._check(force=True)
                    self._last_event_check = time.monotonic()
                if time.monotonic() >= next_poll:
                    self._check_watch()
                    self._check(force=False)
                    next_poll = time.monotonic() + poll
            except Exception:
                # The worker must outlive any bug; back off so a persistent one cannot spin.
                logger.exception("[CalibrationLoader] unexpected error in the reload worker")
                if self._sleep_unless_stopped(min(poll, 1.0)):
                    return

    def _wait_for_work(self, next_poll: float) -> bool | None:
        """Block until an event, the next poll or stop; None means stop."""
        with self._wake:
            while not self._pending and not self._stopping:
                remaining = next_poll - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
            return None if self._stopping else self._pending

    def _sleep_unless_stopped(self, seconds: float) -> bool:
        """Wait ``seconds``; True if the loader was stopped meanwhile."""
        with self._wake:
            return self._wake.wait_for(lambda: self._stopping, seconds)

    # -- reloading ----------------------------------------------------------------------------

    def _check(self, *, force: bool) -> None:
        """Look at the file and swap in a new snapshot if it holds a new valid version.

        ``force`` (events, start, reload()) always hashes the content; a poll
        trusts an unchanged stat() identity unless it was racy.
        """
        with self._reload_lock:
            self._check_locked(force=force)

    def _check_locked(self, *, force: bool) -> None:
        """:meth:`_check` for a caller that holds the reload lock; never raises."""
        try:
            if force or self._changed_on_disk():
                fd = self._open()
                if fd is None:
                    return
                try:
                    read = self._read(fd)
                    if read is not None:
                        self._consider(*read)
                finally:
                    # Closed after the publish: the close is not on the reload's path.
                    os.close(fd)
        except Exception as exc:  # never raise into the host, the worker or watchdog
            self._last_error = f"internal error: {type(exc).__name__}: {exc}"
            logger.exception("[CalibrationLoader] unexpected error while checking %s", self._path)

    def _changed_on_disk(self) -> bool:
        """Cheap poll test: stat() the path and compare its identity with the last read."""
        try:
            state = _FileState.of(Path(self._path).stat())
        except FileNotFoundError:
            self._on_missing()
            return False
        except OSError:
            return True  # let the read report it
        return state != self._seen_state or self._racy

    def _open(self) -> int | None:
        """Open the file, or record why it could not be opened and return None."""
        try:
            return _open_config(self._path)
        except FileNotFoundError:
            self._on_missing()
        except OSError as exc:
            reason = f"cannot read the file ({exc.strerror or exc})"
            self._reject(reason, _stat_or_none(self._path), None)
        return None

    def _read(self, fd: int) -> tuple[bytes, _FileState] | None:
        """Read the open file, or record why it could not be read and return None."""
        try:
            data, state = _read_open(fd, self._max_bytes)
        except _Rejected as exc:
            self._reject(str(exc), exc.state, None)
            return None
        except OSError as exc:
            reason = f"cannot read the file ({exc.strerror or exc})"
            self._reject(reason, _stat_or_none(self._path), None)
            return None
        self._missing = False
        self._racy = state.racy()
        return data, state

    def _consider(self, data: bytes, state: _FileState) -> None:
        """Skip unchanged content, reject an invalid document, or publish a new snapshot."""
        digest = _digest(data)
        if digest == self._seen_digest:
            self._seen_state = state
            self._skipped += 1
            return
        self._attempts += 1
        try:
            config = parse_config(data)
            snapshot = self._snapshot_of(config, digest)
        except ConfigRejectedError as exc:
            self._reject(str(exc), state, digest)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on absurd nesting
            self._reject(f"config rejected: {type(exc).__name__}: {exc}", state, digest)
            return
        self._publish(snapshot)
        self._seen_state = state
        self._seen_digest = digest
        self._succeeded += 1
        self._last_error = None
        self._log_loaded(snapshot)
        if snapshot.legacy:
            self._log_legacy(snapshot)

    def _snapshot_of(self, config: CalibrationConfig | LegacyConfig, digest: str) -> Snapshot:
        """Build the snapshot of a parsed document; a legacy one that breaks a rule raises."""
        loaded_at = time.time()
        if isinstance(config, LegacyConfig):
            return Snapshot.from_legacy(
                config,
                source=self._path,
                digest=digest,
                loaded_at=loaded_at,
                default_weights=self._default_weights,
                counters=self._counters,
            )
        return Snapshot.from_config(
            config,
            source=self._path,
            digest=digest,
            loaded_at=loaded_at,
            default_weights=self._default_weights,
            counters=self._counters,
        )

    def _log_legacy(self, snapshot: Snapshot) -> None:
        logger.info(
            "[CalibrationLoader]    Legacy config %s (written by the old deployer, created %s, "
            "based on %s trades): served as the old loader did, clipped to ±0.15 beyond its "
            "keys; approve a calibration to replace it",
            snapshot.version,
            snapshot.created_at,
            "?" if snapshot.based_on_trades is None else snapshot.based_on_trades,
        )

    def _publish(self, snapshot: Snapshot) -> None:
        # The one write readers can observe: a single reference swap.
        self._snapshot = snapshot
        if _default_loader is self:
            _publish_default(self, snapshot)

    def _log_loaded(self, snapshot: Snapshot) -> None:
        # The checklist's three lines (phase 4.1) ...
        logger.info("[CalibrationLoader] ✅ Loaded config version: %s", snapshot.version)
        logger.info(
            "[CalibrationLoader] Confidence calibration: %s",
            "enabled" if snapshot.calibration_enabled else "disabled",
        )
        count = len(snapshot.weights) if snapshot.weights_enabled else 0
        logger.info("[CalibrationLoader] Ensemble weights: %d models", count)
        # ... and the old loader's four, which operators' grep already looks for.
        logger.info("[CalibrationLoader] ✅ Loaded calibration: %s", snapshot.version)
        trades = snapshot.based_on_trades
        logger.info(
            "[CalibrationLoader]    Based on %s trades",
            "an unrecorded number of" if trades is None else trades,
        )
        logger.info(
            "[CalibrationLoader]    Confidence calibration: %s",
            "✅ ENABLED" if snapshot.calibration_enabled else "⏸ DISABLED",
        )
        logger.info(
            "[CalibrationLoader]    Ensemble weights: %s",
            "✅ OVERRIDE" if snapshot.weights_enabled else "⏸ BASELINE",
        )

    def _reject(self, reason: str, state: _FileState | None, digest: str | None) -> None:
        if digest is None:
            # A file that could not be read (too big, not a regular file, unreadable) is
            # remembered by its stat() identity: polls skip it until it changes, and a
            # forced check of the same file counts it as skipped, not as a new rejection.
            # Without an identity (stat() fails too) every poll retries it, quietly.
            self._missing = False
            self._racy = False
            if (
                state == self._seen_state
                and self._seen_digest is None
                and reason == self._last_error
            ):
                self._skipped += 1
                return
            self._attempts += 1
            self._seen_state = state
            self._seen_digest = None
        else:
            self._seen_state = state
            self._seen_digest = digest
        self._rejected += 1
        self._last_error = reason
        self._missing = False
        logger.warning(
            "[CalibrationLoader] ❌ Rejected %s: %s; still serving version %s",
            self._path,
            reason,
            self._snapshot.version or "none (identity calibration, default weights)",
        )

    def _on_missing(self) -> None:
        self._seen_state = None
        self._seen_digest = None
        self._racy = False
        if self._missing:
            return
        self._missing = True
        self._last_error = f"config file not found: {self._path}"
        if self._snapshot.version is None:
            logger.warning(
                "[CalibrationLoader] No config at %s: serving identity calibration and "
                "the default ensemble weights until one is deployed",
                self._path,
            )
        else:
            logger.warning(
                "[CalibrationLoader] Config %s disappeared: still serving version %s",
                self._path,
                self._snapshot.version,
            )


def _make_handler(loader: CalibrationLoader) -> Any:  # noqa: ANN401 - watchdog is imported lazily
    from watchdog.events import FileSystemEventHandler  # noqa: PLC0415

    class _ConfigDirectoryHandler(FileSystemEventHandler):
        """Forward relevant events to the loader; nothing may escape (watchdog #427)."""

        def dispatch(self, event: object) -> None:
            try:
                loader._on_event(event)  # noqa: SLF001 - the handler is the loader's own part
            except BaseException:
                with contextlib.suppress(BaseException):  # even logging may not escape
                    logger.exception("[CalibrationLoader] error while handling %r", event)

    return _ConfigDirectoryHandler()


def _event_filter() -> list[Any]:
    """Return the watchdog event classes the loader reacts to (see ``_RELEVANT_EVENTS``).

    With this filter the inotify watch leaves out IN_OPEN and IN_CLOSE_NOWRITE, so the
    loader's own reads put no events in watchdog's queue, and the directory's
    "modified" events are dropped before they are queued: under a busy host every
    queued event costs watchdog's threads a GIL hand-off, and they delayed the next
    deploy's event. The deletion of the watched directory itself still arrives.
    """
    from watchdog import events  # noqa: PLC0415 - watchdog is imported lazily

    names = (
        "FileMovedEvent",
        "DirMovedEvent",
        "FileCreatedEvent",
        "DirCreatedEvent",
        "FileModifiedEvent",
        "FileClosedEvent",
        "FileDeletedEvent",
        "DirDeletedEvent",
        # Attribute events have classes of their own since watchdog 5; before, they
        # arrived as FileModifiedEvent.
        "FileAttribEvent",
        "DirAttribEvent",
    )
    return [getattr(events, name) for name in names if hasattr(events, name)]


def _stop_observer(observer: Any) -> None:  # noqa: ANN401 - a watchdog observer
    try:
        observer.stop()
    except Exception:  # best effort: keep stopping the rest
        logger.exception("[CalibrationLoader] error while stopping the file watcher")
    try:
        if observer.is_alive() and observer is not threading.current_thread():
            observer.join(_JOIN_TIMEOUT)
    except Exception:  # a never-started observer cannot be joined
        logger.debug("[CalibrationLoader] observer join failed", exc_info=True)


# -- the process-wide default loader ----------------------------------------------------------


class _Unbound:
    """Stand-in for the default snapshot until the default loader exists.

    Its methods create the default loader (from ``CALIBRATION_CONFIG_PATH``) on the
    first call, then delegate; afterwards the module global points at real snapshots.
    """

    __slots__ = ()

    def apply(self, confidence: float, symbol: str | None = None) -> float:
        return _bind_default().apply(confidence, symbol)

    def apply_batch(self, values: ArrayLike, symbol: str | None = None) -> NDArray[np.float64]:
        return _bind_default().apply_batch(values, symbol)

    def get_ensemble_weights(
        self,
        baseline: Mapping[str, float] | None = None,
        *,
        default: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        return _bind_default().get_ensemble_weights(baseline, default=default)

    def consensus_multiplier(self, consensus_count: int, total_models: int) -> float:
        return _bind_default().consensus_multiplier(consensus_count, total_models)

    def apply_hold_bias(self, confidence: float) -> float:
        return _bind_default().apply_hold_bias(confidence)


_UNBOUND: Final = _Unbound()
_default_lock = threading.Lock()
# Every loader of this process, so that a forked child can reset their threads and locks.
_loaders: weakref.WeakSet[CalibrationLoader] = weakref.WeakSet()
_default_loader: CalibrationLoader | None = None
_default_owned = False
# The hot path reads only this global: the default loader's current snapshot.
_current: Snapshot | _Unbound = _UNBOUND


def _after_fork() -> None:
    """In a forked child, make the loaders restartable and the default lazy again.

    Only the forking thread survives fork(), so every loader's worker and observer
    are gone and any lock they held at the fork would stay held. Each loader gets
    fresh locks and is marked not running (a caller-owned loader keeps serving its
    last snapshot until the caller calls ``start()`` again). The module's own default
    loader (the one :func:`get_calibration_loader` returns) is restarted in the child,
    so a host that kept that object across the fork keeps following new versions; a
    default installed with :func:`set_default_loader` stays the default and is
    restarted by its owner.
    """
    global _current, _default_lock, _default_loader, _default_owned  # noqa: PLW0603
    _default_lock = threading.Lock()
    try:
        loaders = list(_loaders)
    except Exception:  # noqa: BLE001 - the set was being changed at the fork: start afresh
        loaders = []
    for loader in loaders:
        with contextlib.suppress(Exception):
            loader._after_fork_in_child()  # noqa: SLF001 - the module's own bookkeeping
    if _default_owned and _default_loader is not None:
        # The host keeps the object get_calibration_loader() gave it (often from before
        # a pre-fork): restart that same object here, so it follows new versions.
        try:
            _default_loader.start()
        except Exception:  # noqa: BLE001 - never raise in a fork hook: start afresh lazily
            _default_loader, _default_owned = None, False
            _current = _UNBOUND


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork()
    os.register_at_fork(after_in_child=_after_fork)


def _publish_default(loader: CalibrationLoader, snapshot: Snapshot) -> None:
    global _current  # noqa: PLW0603 - the one module global the hot path reads
    with _default_lock:
        if _default_loader is loader:
            _current = snapshot


def _bind_default() -> Snapshot:
    """Create and start the default loader if needed; never raises."""
    global _current, _default_loader, _default_owned  # noqa: PLW0603
    with _default_lock:
        loader = _default_loader
        if loader is None:
            try:
                loader = CalibrationLoader(resolve_paths().config)
                loader.start()
            except Exception:
                logger.exception(
                    "[CalibrationLoader] could not create the default loader; "
                    "serving identity calibration"
                )
                _current = Snapshot.identity()
                return _current
            _default_loader = loader
            _default_owned = True
        _current = loader.snapshot
        return _current


def get_default_loader() -> CalibrationLoader:
    """Return the process-wide default loader, creating and starting it if needed.

    It serves ``CALIBRATION_CONFIG_PATH`` (default ``config/calibration.json``).
    """
    global _current, _default_loader, _default_owned  # noqa: PLW0603
    _bind_default()
    loader = _default_loader
    if loader is None:
        # Creation failed and was logged: install an unwatched loader, so that every
        # later call returns this same object.
        with _default_lock:
            if _default_loader is None:
                try:
                    where = resolve_paths().config
                except Exception:  # noqa: BLE001 - e.g. no working directory: never raise here
                    where = Path(os.environ.get(ENV_CONFIG_PATH) or DEFAULT_CONFIG_PATH)
                fallback = CalibrationLoader(where, watch="none")
                _default_loader, _default_owned = fallback, True
                _current = fallback.snapshot
            loader = _default_loader
    return loader


def get_calibration_loader() -> CalibrationLoader:
    """Return the process-wide, started loader: the old ``ai_engine`` entry point.

    The EnsembleManager's one changed import line is
    ``from calibration_core import get_calibration_loader``. The loader serves
    ``CALIBRATION_CONFIG_PATH`` (default ``config/calibration.json``), watches
    it, and is the same object on every call in a process; a forked child
    restarts that same object (see :func:`_after_fork`).

    Returns
    -------
    CalibrationLoader
        It has the old API: ``calibration_loaded``, ``apply_confidence_calibration``,
        ``get_ensemble_weights(baseline=None)``, ``get_status()``, ``version``,
        ``based_on_trades`` and ``reload() -> bool``.
    """
    return get_default_loader()


def reload_calibration() -> bool:
    """Check the process-wide loader's file now; True when the file on disk is served.

    The old module-level ``reload_calibration() -> bool``; never raises.
    """
    try:
        return get_calibration_loader().reload()
    except Exception:
        logger.exception("[CalibrationLoader] reload_calibration failed")
        return False


class ConsensusCalibrator:
    """The old adaptive calibrator's read side, served from the approved config.

    ``get_multiplier(consensus_count, total_models)`` keeps the old signature,
    labels and thresholds, but the multiplier is the approved config's consensus
    multiplier for that bucket (1.0 when none is enabled). It never learns
    online: :meth:`update_from_outcome` is accepted and ignored, because a
    multiplier changes only through ``run`` and a human ``approve``.

    Parameters
    ----------
    loader : CalibrationLoader, optional
        Serve this loader's live version; None follows the process-wide default
        loader (also across a fork).
    """

    __slots__ = ("_loader",)

    def __init__(self, loader: CalibrationLoader | None = None) -> None:
        self._loader = loader

    def _live(self) -> Snapshot:
        loader = self._loader
        return get_calibration_snapshot() if loader is None else loader.snapshot

    def get_multiplier(self, consensus_count: int, total_models: int) -> tuple[float, str]:
        """Return ``(multiplier, label)`` for a vote; never raises.

        Parameters
        ----------
        consensus_count : int
            Models that voted for the winning action.
        total_models : int
            Models that voted.

        Returns
        -------
        tuple of (float, str)
            ``label`` is ``"unanimous"`` (count ≥ total), ``"strong"``
            (≥ 0.75·total), ``"split"`` (≥ 0.5·total) or ``"weak"``; the
            multiplier is the live config's multiplier for it, clamped to
            [0.5, 1.5], and 1.0 when consensus multipliers are disabled. Counts
            that are not counts (total < 1, negative, fractional, bools) give
            ``(1.0, "weak")``.
        """
        try:
            label = _old_consensus_label(consensus_count, total_models)
            if label is None:
                return 1.0, "weak"
            multiplier = self._live().bucket_multiplier(label)
        except Exception:  # noqa: BLE001 - the hot path never raises into the host
            return 1.0, "weak"
        return min(MAX_CONSENSUS_MULTIPLIER, max(MIN_CONSENSUS_MULTIPLIER, multiplier)), label

    @property
    def weights(self) -> dict[str, float]:
        """The live multiplier of every bucket (the old calibrator's ``weights``)."""
        try:
            snapshot = self._live()
            return {bucket: snapshot.bucket_multiplier(bucket) for bucket in CONSENSUS_BUCKETS}
        except Exception:  # noqa: BLE001 - never raises into the host
            return dict.fromkeys(CONSENSUS_BUCKETS, 1.0)

    def update_from_outcome(self, *_args: object, **_kwargs: object) -> None:
        """Ignore an outcome: multipliers are learned offline and approved, never online."""
        global _ignored_outcome_logged  # noqa: PLW0603 - a once-per-process log line
        if not _ignored_outcome_logged:
            _ignored_outcome_logged = True
            logger.info(
                "[CalibrationLoader] update_from_outcome ignored: consensus multipliers "
                "change only through `run` and `approve` (logged once)"
            )

    def __repr__(self) -> str:
        """Name the loader it follows."""
        follows = "the default loader" if self._loader is None else repr(self._loader)
        return f"ConsensusCalibrator({follows})"


_ignored_outcome_logged = False
_DEFAULT_CALIBRATOR: Final = ConsensusCalibrator()


def _old_consensus_label(consensus_count: int, total_models: int) -> str | None:
    """Return the old loader's bucket: :func:`consensus_bucket`, but count > total is unanimous."""
    bucket = consensus_bucket(consensus_count, total_models)
    if bucket is not None:
        return bucket
    # Both valid counts (total >= 1, count >= 1) yet no bucket: count > total.
    if consensus_bucket(0, total_models) is not None and consensus_bucket(
        consensus_count, consensus_count
    ):
        return CONSENSUS_BUCKETS[0]
    return None


def get_calibrator() -> ConsensusCalibrator:
    """Return the process-wide consensus calibrator (the old ``get_calibrator()``).

    ``get_calibrator().get_multiplier(consensus_count, total_models)`` returns
    ``(multiplier, label)`` from the default loader's live config; see
    :class:`ConsensusCalibrator`. The same object on every call.
    """
    return _DEFAULT_CALIBRATOR


def set_default_loader(loader: CalibrationLoader) -> CalibrationLoader | None:
    """Make ``loader`` the one the module-level functions use.

    Returns the previous default. A previous default that the module created
    lazily is stopped; one installed by the caller is returned running (the
    caller owns it).
    """
    global _current, _default_loader, _default_owned  # noqa: PLW0603
    if not isinstance(loader, CalibrationLoader):
        msg = f"loader must be a CalibrationLoader (got {type(loader).__name__})"
        raise TypeError(msg)
    with _default_lock:
        previous, owned = _default_loader, _default_owned
        _default_loader, _default_owned = loader, False
        _current = loader.snapshot
    if owned and previous is not None and previous is not loader:
        previous.stop()
    return previous


def reset_default_loader() -> None:
    """Stop and forget the default loader; the next module-level call creates a new one."""
    global _current, _default_loader, _default_owned  # noqa: PLW0603
    with _default_lock:
        previous = _default_loader
        _default_loader, _default_owned = None, False
        _current = _UNBOUND
    if previous is not None:
        previous.stop()


def apply_confidence_calibration(confidence: float, *, symbol: str | None = None) -> float:
    """Calibrate one confidence with the default loader's live version; never raises.

    See :meth:`Snapshot.apply` for NaN, clipping, non-numeric input and symbols.

    Examples
    --------
    >>> 0.0 <= apply_confidence_calibration(0.7) <= 1.0  # doctest: +SKIP
    True
    """
    return _current.apply(confidence, symbol)


def apply_confidence_calibration_batch(
    values: ArrayLike, *, symbol: str | None = None
) -> NDArray[np.float64]:
    """Calibrate an array of confidences with the default loader; never raises.

    See :meth:`Snapshot.apply_batch`.
    """
    return _current.apply_batch(values, symbol)


def get_ensemble_weights(
    baseline: Mapping[str, float] | None = None,
    *,
    default: Mapping[str, float] | None = None,
) -> Mapping[str, float]:
    """Return the default loader's live ensemble weights as a read-only mapping.

    See :meth:`Snapshot.get_ensemble_weights`: the configured weights when
    enabled, else ``baseline`` (or ``default``), else an empty mapping.
    """
    return _current.get_ensemble_weights(baseline, default=default)


def get_consensus_multiplier(consensus_count: int, total_models: int) -> float:
    """Return the default loader's multiplier for a vote's consensus; never raises.

    See :func:`consensus_bucket` for the buckets; 1.0 when disabled or invalid.
    """
    return _current.consensus_multiplier(consensus_count, total_models)


def apply_hold_bias(confidence: float) -> float:
    """Apply the default loader's HOLD bias; never raises (see :meth:`Snapshot.apply_hold_bias`)."""
    return _current.apply_hold_bias(confidence)


def get_calibration_snapshot() -> Snapshot:
    """Return the default loader's live snapshot: one consistent version for a decision."""
    current = _current
    if isinstance(current, Snapshot):
        return current
    return _bind_default()
