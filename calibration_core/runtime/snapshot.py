"""The runtime's values: the immutable Snapshot a host reads, and the loader's status.

A Snapshot is one validated config version precomputed for the hot path
(:meth:`Snapshot.apply`, :meth:`Snapshot.apply_batch`, the weights and the consensus
multipliers); :func:`snapshot_from_bytes` turns a file's content into one.
"""

# Shell module, called on every prediction inside the host's process: nothing here may
# raise into the host, and the hot path is a method on an immutable value. It imports
# the contract (config, exceptions, times, _arrays), numpy and attrs; no file, no thread.

from __future__ import annotations

import contextlib
import logging
import math
import numbers
from bisect import bisect_right
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypedDict, Unpack, cast

import attrs
import numpy as np

from calibration_core._arrays import frozen_array
from calibration_core.config import CONSENSUS_BUCKETS, consensus_bucket, parse_config
from calibration_core.exceptions import ConfigRejectedError, InvalidInputError
from calibration_core.legacy_config import LegacyConfig
from calibration_core.times import iso_utc

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from numpy.typing import ArrayLike, NDArray

    from calibration_core.config import CalibrationConfig, ConfidenceMap

__all__ = [
    "LOGGER_NAME",
    "LoaderStatus",
    "Provenance",
    "Snapshot",
    "apply_hold_bias",
    "snapshot_from_bytes",
]

LOGGER_NAME: Final = "calibration_core.loader"
"""The one logger of the runtime (loader, snapshots and the host API)."""

logger = logging.getLogger(LOGGER_NAME)

_Curve = tuple[list[float], list[float], list[float]]
"""Knots (xs, ys) and segment slopes of one map, as Python floats for the scalar path."""
_Arrays = tuple["NDArray[np.float64]", "NDArray[np.float64]"]


_IDENTITY_CURVE: Final[_Curve] = ([0.0, 1.0], [0.0, 1.0], [1.0])
_IDENTITY_ARRAYS: Final[_Arrays] = (frozen_array([0.0, 1.0]), frozen_array([0.0, 1.0]))
_EMPTY_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType({})
_NO_SYMBOL_MAPS: Final[Mapping[str, Any]] = MappingProxyType({})
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
    return frozen_array(section.thresholds), frozen_array(section.values)


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
    if isinstance(value, datetime) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    ):
        return iso_utc(value, timespec="microseconds")
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


def _freeze_weights(weights: Mapping[str, float] | None) -> Mapping[str, float]:
    if weights is None:
        return _EMPTY_WEIGHTS
    return MappingProxyType({str(k): float(v) for k, v in weights.items()})


def _own_counters(counters: _Counters | None) -> _Counters:
    return _Counters() if counters is None else counters


def _global_map(section: ConfidenceMap) -> dict[str, Any]:
    """Return the snapshot fields of the global map; a disabled one stays the identity."""
    if not section.enabled:
        return {"calibration_enabled": False}
    return {"curve": _curve_of(section), "arrays": _arrays_of(section), "calibration_enabled": True}


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
    _curve: _Curve = _IDENTITY_CURVE
    _curves: Mapping[str, _Curve] = _NO_SYMBOL_MAPS
    _arrays: _Arrays = _IDENTITY_ARRAYS
    _symbol_arrays: Mapping[str, _Arrays] = _NO_SYMBOL_MAPS
    _calibration_enabled: bool = False
    _weights: Mapping[str, float] | None = None
    _fallback_weights: Mapping[str, float] = attrs.field(default=None, converter=_freeze_weights)
    _consensus: tuple[float, ...] | None = None
    _counters: _Counters = attrs.field(default=None, converter=_own_counters)
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
        ``default_weights`` (or empty) and consensus multipliers are 1.
        """
        return cls(
            version=None,
            source=source,
            loaded_at=None,
            digest=None,
            config=None,
            fallback_weights=default_weights,
            counters=counters,
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
            **_global_map(config.confidence),
            curves=curves,
            symbol_arrays=symbol_arrays,
            weights=weights,
            fallback_weights=default_weights,
            consensus=consensus,
            counters=counters,
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
        weights are served as written; consensus multipliers stay off.
        """
        refusal = config.refusal
        if refusal is not None:
            raise ConfigRejectedError(refusal)
        return cls(
            version=config.version,
            source=source,
            loaded_at=loaded_at,
            digest=digest,
            config=None,
            **_global_map(config.confidence_map()),
            weights=MappingProxyType(config.weights_dict()) if config.weights_enabled else None,
            fallback_weights=default_weights,
            counters=counters,
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
        """Return ``confidence`` unchanged, as a float: see :func:`apply_hold_bias`."""
        return apply_hold_bias(confidence)

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


def apply_hold_bias(confidence: float) -> float:
    """Return a HOLD signal's confidence unchanged: the HOLD bias was removed; never raises.

    Kept for hosts that still call it. No producer records a HOLD's outcome, so no
    HOLD bias can be estimated, and a ``hold_bias`` section of a config is ignored.

    Parameters
    ----------
    confidence : float
        A HOLD signal's confidence.

    Returns
    -------
    float
        ``confidence`` as a Python ``float`` (not clipped): numpy scalars, ``Decimal``,
        ``Fraction`` and ``bool`` are converted. Anything that is not a real number
        comes back unchanged.
    """
    number = _as_float(confidence)
    return confidence if number is None else number


class Provenance(TypedDict, total=False):
    """Where a snapshot comes from: the keywords of :meth:`Snapshot.from_config`."""

    source: str
    digest: str | None
    loaded_at: float | None
    default_weights: Mapping[str, float] | None
    counters: _Counters | None


def snapshot_from_bytes(data: bytes, **provenance: Unpack[Provenance]) -> Snapshot:
    """Parse a config file's content (ours or legacy) and precompute its snapshot.

    Parameters
    ----------
    data : bytes
        The whole file content.
    **provenance
        ``source``, ``digest``, ``loaded_at``, ``default_weights`` and ``counters``,
        as for :meth:`Snapshot.from_config`.

    Returns
    -------
    Snapshot

    Raises
    ------
    ConfigRejectedError
        An invalid document, or a legacy one that breaks a hard rule.
    """
    config = parse_config(data)
    if isinstance(config, LegacyConfig):
        return Snapshot.from_legacy(config, **provenance)
    return Snapshot.from_config(config, **provenance)


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
