"""The calibration.json document: a versioned, fully validated config value."""

# Parsing only: imports json, math, re, datetime and the package's pure modules.
# It reads no file; callers hand it text, so the loader and the deployer share it.
# config_json decodes the text; legacy_config reads the old deployer's document.

from __future__ import annotations

import json
import math
import re
import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import attrs

from calibration_core.config_json import MAX_CONFIG_BYTES, decode_config_json
from calibration_core.constants import (
    CONFIG_SCHEMA_VERSION,
    MAX_CONFIDENCE_CHANGE,
    MAX_WEIGHT,
    MIN_WEIGHT,
    WEIGHT_SUM_TOLERANCE,
)
from calibration_core.exceptions import ConfigRejectedError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from calibration_core.legacy_config import LegacyConfig

__all__ = [
    "CONSENSUS_BUCKETS",
    "MAX_CONFIG_BYTES",  # from config_json, where the decoding lives
    "MAX_CONSENSUS_MULTIPLIER",
    "MAX_OVERRIDE_CHARS",
    "METHOD_PATTERN",
    "MIN_CONSENSUS_MULTIPLIER",
    "MIN_OVERRIDE_CHARS",
    "MODEL_NAME_PATTERN",
    "SYMBOL_PATTERN",
    "VERSION_PATTERN",
    "CalibrationConfig",
    "ConfidenceMap",
    "ConsensusMultipliers",
    "EnsembleWeights",
    "LegacyConfig",  # defined in legacy_config; named here lazily (see __getattr__)
    "PerSymbolMaps",
    "consensus_bucket",
    "decode_config_json",
    "is_legacy_document",
    "is_valid_version",
    "override_reason_problem",
    "parse_config",
]

VERSION_PATTERN = re.compile(r"cal_[0-9]{8}_[0-9]{6}(?:_[0-9]{2,3})?")
"""Job ids and config versions: ``cal_YYYYMMDD_HHMMSS`` with an optional ``_NN`` suffix."""

MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SYMBOL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,31}")
METHOD_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")
"""What a map's ``method`` may be: a short lower-case identifier such as ``isotonic``."""
_APPROVER_PATTERN = re.compile(r"[^\x00-\x1f\x7f]{1,128}")

MIN_OVERRIDE_CHARS = 10
"""Fewest characters of an ``approve --override`` reason (after trimming blanks)."""
MAX_OVERRIDE_CHARS = 500
"""Most characters of an ``approve --override`` reason."""


def override_reason_problem(text: object) -> str:
    """Return why ``text`` is not an acceptable override reason, or ``""`` when it is.

    Parameters
    ----------
    text : object
        The ``approve --override`` reason: a string of ``MIN_OVERRIDE_CHARS`` to
        ``MAX_OVERRIDE_CHARS`` characters (blanks at either end do not count)
        without control or format characters (bidi overrides, zero-width marks),
        so that what ``status`` and ``history`` print is what was typed.
    """
    if not isinstance(text, str):
        return f"must be a string (got {type(text).__name__})"
    stripped = text.strip()
    if len(stripped) < MIN_OVERRIDE_CHARS:
        return f"must say why in at least {MIN_OVERRIDE_CHARS} characters (got {len(stripped)})"
    if len(text) > MAX_OVERRIDE_CHARS:
        return f"must be at most {MAX_OVERRIDE_CHARS} characters (got {len(text)})"
    bad = next((c for c in text if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}), None)
    if bad is not None:
        return f"must not hold control or bidi/format characters (found U+{ord(bad):04X})"
    return ""


CONSENSUS_BUCKETS = ("unanimous", "strong", "split", "weak")
"""Consensus buckets, from all models agreeing to few agreeing."""

MIN_CONSENSUS_MULTIPLIER = 0.5
"""Smallest consensus multiplier a config may hold."""
MAX_CONSENSUS_MULTIPLIER = 1.5
"""Largest consensus multiplier a config may hold."""

# Knot values may sit on the ±0.15 band up to float rounding of their construction.
_BOUND_SLACK = 1e-9


def is_valid_version(name: str) -> bool:
    """Return True when ``name`` is a well-formed job id / config version.

    Parameters
    ----------
    name : str
        Candidate name, e.g. ``cal_20260210_143022``.

    Returns
    -------
    bool
        True only for ``cal_YYYYMMDD_HHMMSS`` with an optional ``_NN`` suffix;
        this is checked before a name ever touches a path.
    """
    return isinstance(name, str) and VERSION_PATTERN.fullmatch(name) is not None


def consensus_bucket(consensus_count: int, total_models: int) -> str | None:
    """Name the consensus bucket of a vote; the one place the bucket rule is defined.

    The runtime (``loader``) and the offline estimate of the multipliers
    (``analysis``) both call this function, so they cannot disagree.

    Parameters
    ----------
    consensus_count : int
        Number of models that voted for the winning action.
    total_models : int
        Number of models that voted.

    Returns
    -------
    str or None
        ``"unanimous"`` when every model agrees, ``"strong"`` when at least 75 %
        agree, ``"split"`` when at least 50 % agree, ``"weak"`` otherwise; None
        when the inputs are not counts with ``0 <= consensus_count <= total_models``
        and ``total_models >= 1``. Never raises.

    Notes
    -----
    The shares are compared in integers (``4 * count >= 3 * total``), so 3 of 4 is
    exactly "strong" with no float rounding. With 4 models: 4 → unanimous,
    3 → strong, 2 → split, 1 or 0 → weak.

    Examples
    --------
    >>> [consensus_bucket(k, 4) for k in (4, 3, 2, 1)]
    ['unanimous', 'strong', 'split', 'weak']
    """
    count = _as_count(consensus_count)
    total = _as_count(total_models)
    if count is None or total is None or total < 1 or not 0 <= count <= total:
        return None
    return CONSENSUS_BUCKETS[_bucket_index(count, total)]


def _bucket_index(count: int, total: int) -> int:
    if count == total:
        return 0
    if 4 * count >= 3 * total:
        return 1
    if 2 * count >= total:
        return 2
    return 3


def _as_count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    index = getattr(type(value), "__index__", None)
    if index is None:
        return None
    try:
        return int(index(value))
    except Exception:  # noqa: BLE001 - a broken __index__ is "not a count"
        return None


def _fail(where: str, rule: str) -> ConfigRejectedError:
    return ConfigRejectedError(f"config rejected: {where} {rule}")


def _expect_type(value: object, kind: type | tuple[type, ...], where: str) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a JSON true is never a number here.
    if isinstance(value, bool) and bool not in kinds:
        raise _fail(where, f"must be {_kind_name(kind)} (got a boolean)")
    if not isinstance(value, kinds):
        raise _fail(where, f"must be {_kind_name(kind)} (got {type(value).__name__})")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "an object",
        list: "an array",
        type(None): "null",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _number(value: object, where: str) -> float:
    _expect_type(value, (int, float), where)
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:  # a JSON integer with hundreds of digits
        raise _fail(where, "must be finite (got an integer too large for a float)") from None
    if not math.isfinite(number):
        raise _fail(where, f"must be finite (got {value!r})")
    return number


def _object(
    value: object, where: str, allowed: Sequence[str], required: Sequence[str]
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, f"must be an object (got {type(value).__name__})")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise _fail(where, f"has unknown field {unknown[0]!r}")
    missing = [k for k in required if k not in value]
    if missing:
        raise _fail(where, f"is missing required field {missing[0]!r}")
    return value


def _section(
    raw: object, where: str, fields: Sequence[str], required: Sequence[str]
) -> tuple[dict[str, Any], bool]:
    """Check one config section: an object with ``enabled`` (a boolean) and its own fields.

    ``fields`` are the section's other allowed fields, ``required`` those of them that
    must be present; ``enabled`` is always required.
    """
    data = _object(raw, where, ("enabled", *fields), ("enabled", *required))
    enabled = data["enabled"]
    _expect_type(enabled, bool, f"{where}.enabled")
    return data, enabled


def _version(value: object, where: str) -> str:
    _expect_type(value, str, where)
    if not is_valid_version(cast("str", value)):
        raise _fail(where, f"must look like cal_YYYYMMDD_HHMMSS (got {value!r})")
    return cast("str", value)


def _printable(value: object, where: str) -> str | None:
    if value is None:
        return None
    _expect_type(value, str, where)
    if _APPROVER_PATTERN.fullmatch(cast("str", value)) is None:
        raise _fail(where, "must be 1-128 printable characters")
    return cast("str", value)


def _entries(
    data: Mapping[str, Any], field: str, where: str, pattern: re.Pattern[str], noun: str
) -> Iterator[tuple[str, Any]]:
    """Yield the ``(name, value)`` pairs of a section's table, checking each name in turn."""
    table = data[field]
    _expect_type(table, dict, f"{where}.{field}")
    for name, value in table.items():
        if pattern.fullmatch(name) is None:
            raise _fail(f"{where}.{field}", f"has an invalid {noun} {name!r}")
        yield name, value


def _timestamp(value: object, where: str, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _fail(where, f"must be a string (got {type(value).__name__})")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(where, f"is not an ISO-8601 timestamp (got {value!r})") from None
    if parsed.tzinfo is None:
        raise _fail(where, f"must carry a time zone (got {value!r})")
    return value


def _check_knots(
    thresholds: tuple[float, ...], values: tuple[float, ...], where: str, max_change: float
) -> None:
    if len(thresholds) != len(values):
        raise _fail(where, f"has {len(thresholds)} thresholds but {len(values)} values")
    if len(thresholds) < 2:  # noqa: PLR2004 - a map needs its two end knots
        raise _fail(where, "needs at least 2 knots")
    if thresholds[0] != 0.0 or thresholds[-1] != 1.0:
        raise _fail(where, f"knots must span [0, 1] (got [{thresholds[0]}, {thresholds[-1]}])")
    for i in range(1, len(thresholds)):
        if not thresholds[i] > thresholds[i - 1]:
            raise _fail(
                f"{where}.thresholds[{i}]",
                f"must be strictly increasing (got {thresholds[i]} after {thresholds[i - 1]})",
            )
    for i, v in enumerate(values):
        if not 0.0 <= v <= 1.0:
            raise _fail(f"{where}.values[{i}]", f"must lie in [0, 1] (got {v})")
        if i and v < values[i - 1]:
            raise _fail(f"{where}.values[{i}]", f"is not monotone (got {v} after {values[i - 1]})")
        if abs(v - thresholds[i]) > max_change + _BOUND_SLACK:
            raise _fail(
                f"{where}.values[{i}]",
                f"moves confidence {thresholds[i]} by {v - thresholds[i]:+.4f}, "
                f"beyond ±{max_change}",
            )


def _trade_count(value: object, where: str) -> int | None:
    if value is None:
        return None
    _expect_type(value, int, where)
    count = cast("int", value)
    if count < 0:
        raise _fail(where, f"must be a count >= 0 (got {count})")
    return count


def _float_list(value: object, where: str) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise _fail(where, f"must be an array (got {type(value).__name__})")
    return tuple(_number(v, f"{where}[{i}]") for i, v in enumerate(value))


@attrs.frozen
class ConfidenceMap:
    """A bounded, monotone piecewise-linear map from raw to calibrated confidence.

    The knots span exactly [0, 1], so there is no extrapolation at runtime, and
    every knot (hence every interpolated point) lies within ``max_change`` of
    the identity.
    """

    enabled: bool = False
    thresholds: tuple[float, ...] = (0.0, 1.0)
    values: tuple[float, ...] = (0.0, 1.0)
    max_change: float = MAX_CONFIDENCE_CHANGE
    method: str = "isotonic"

    @classmethod
    def from_dict(cls, raw: object, where: str = "confidence_calibration") -> ConfidenceMap:
        """Parse and validate the ``confidence_calibration`` section."""
        data, enabled = _section(
            raw,
            where,
            ("thresholds", "values", "max_change", "method"),
            ("thresholds", "values", "max_change"),
        )
        max_change = _number(data["max_change"], f"{where}.max_change")
        if not 0.0 < max_change <= MAX_CONFIDENCE_CHANGE:
            raise _fail(
                f"{where}.max_change", f"must be in (0, {MAX_CONFIDENCE_CHANGE}] (got {max_change})"
            )
        method = data.get("method", "isotonic")
        _expect_type(method, str, f"{where}.method")
        if not METHOD_PATTERN.fullmatch(method):
            raise _fail(
                f"{where}.method",
                f"must be a lower-case identifier like 'isotonic' (got {method!r:.40})",
            )
        thresholds = _float_list(data["thresholds"], f"{where}.thresholds")
        values = _float_list(data["values"], f"{where}.values")
        _check_knots(thresholds, values, where, max_change)
        return cls(
            enabled=enabled,
            thresholds=thresholds,
            values=values,
            max_change=max_change,
            method=method,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready section."""
        return {
            "enabled": self.enabled,
            "method": self.method,
            "max_change": self.max_change,
            "thresholds": list(self.thresholds),
            "values": list(self.values),
        }

    def max_abs_change(self) -> float:
        """Largest ``|value - threshold|`` over the knots."""
        return max(abs(v - t) for t, v in zip(self.thresholds, self.values, strict=True))


@attrs.frozen
class EnsembleWeights:
    """Member-model weights in [0.15, 0.40] summing to 1 (when enabled)."""

    enabled: bool = False
    weights: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_dict(cls, raw: object, where: str = "ensemble_weights") -> EnsembleWeights:
        """Parse and validate the ``ensemble_weights`` section."""
        data, enabled = _section(raw, where, ("weights",), ("weights",))
        pairs: list[tuple[str, float]] = []
        for name, value in _entries(data, "weights", where, MODEL_NAME_PATTERN, "model name"):
            weight = _number(value, f"{where}.weights.{name}")
            if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
                raise _fail(
                    f"{where}.weights.{name}",
                    f"must be in [{MIN_WEIGHT}, {MAX_WEIGHT}] (got {weight})",
                )
            pairs.append((name, weight))
        if enabled or pairs:
            if not pairs:
                raise _fail(f"{where}.weights", "is empty but weights are enabled")
            total = math.fsum(w for _, w in pairs)
            if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
                raise _fail(
                    f"{where}.weights", f"must sum to 1 ± {WEIGHT_SUM_TOLERANCE} (got {total:.6f})"
                )
        return cls(enabled=enabled, weights=tuple(pairs))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready section."""
        return {"enabled": self.enabled, "weights": dict(self.weights)}

    def as_dict(self) -> dict[str, float]:
        """Return the weights as a new dict."""
        return dict(self.weights)


@attrs.frozen
class PerSymbolMaps:
    """Symbol-specific confidence maps; symbols without one use the global map."""

    enabled: bool = False
    maps: tuple[tuple[str, ConfidenceMap], ...] = ()

    @classmethod
    def from_dict(cls, raw: object, where: str = "per_symbol") -> PerSymbolMaps:
        """Parse and validate the ``per_symbol`` section."""
        data, enabled = _section(raw, where, ("maps",), ("maps",))
        maps = [
            (symbol, ConfidenceMap.from_dict(section, f"{where}.maps.{symbol}"))
            for symbol, section in _entries(data, "maps", where, SYMBOL_PATTERN, "symbol")
        ]
        return cls(enabled=enabled, maps=tuple(maps))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready section."""
        return {"enabled": self.enabled, "maps": {s: m.to_dict() for s, m in self.maps}}


@attrs.frozen
class ConsensusMultipliers:
    """Offline-estimated confidence multipliers per consensus bucket, in [0.5, 1.5]."""

    enabled: bool = False
    multipliers: tuple[tuple[str, float], ...] = tuple((b, 1.0) for b in CONSENSUS_BUCKETS)

    @classmethod
    def from_dict(cls, raw: object, where: str = "consensus_multipliers") -> ConsensusMultipliers:
        """Parse and validate the ``consensus_multipliers`` section."""
        data, enabled = _section(raw, where, ("multipliers",), ("multipliers",))
        table = _object(
            data["multipliers"], f"{where}.multipliers", CONSENSUS_BUCKETS, CONSENSUS_BUCKETS
        )
        pairs = []
        for bucket in CONSENSUS_BUCKETS:
            value = _number(table[bucket], f"{where}.multipliers.{bucket}")
            if not MIN_CONSENSUS_MULTIPLIER <= value <= MAX_CONSENSUS_MULTIPLIER:
                raise _fail(
                    f"{where}.multipliers.{bucket}",
                    f"must be in [{MIN_CONSENSUS_MULTIPLIER}, {MAX_CONSENSUS_MULTIPLIER}] "
                    f"(got {value})",
                )
            pairs.append((bucket, value))
        return cls(enabled=enabled, multipliers=tuple(pairs))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready section."""
        return {"enabled": self.enabled, "multipliers": dict(self.multipliers)}


_TOP_FIELDS = (
    "schema_version",
    "version",
    "created_at",
    "approved_at",
    "approved_by",
    "source_job",
    "data_hash",
    "based_on_trades",
    "override_reason",
    "confidence_calibration",
    "ensemble_weights",
    "per_symbol",
    "consensus_multipliers",
    # The removed HOLD bias: an old document's section is accepted and ignored.
    "hold_bias",
)
_LEGACY_NOT_OURS = (
    "config rejected: this is a legacy config written by the old deployer "
    "(no schema_version; it has based_on_trades/mapping), not one of ours"
)
_REQUIRED_TOP = (
    "schema_version",
    "version",
    "created_at",
    "confidence_calibration",
    "ensemble_weights",
)


@attrs.frozen
class CalibrationConfig:
    """One complete, validated version of ``calibration.json``.

    Build it with :meth:`from_json` (files) or directly (proposals); write it
    with :meth:`to_json`. Later sections (per-symbol maps, consensus
    multipliers) default to disabled. An old document's ``hold_bias`` section
    is accepted and ignored: the HOLD bias was removed (no producer records a
    HOLD's outcome, so it could never be estimated).
    """

    version: str
    created_at: str
    confidence: ConfidenceMap = attrs.field(factory=ConfidenceMap)
    weights: EnsembleWeights = attrs.field(factory=EnsembleWeights)
    per_symbol: PerSymbolMaps = attrs.field(factory=PerSymbolMaps)
    consensus: ConsensusMultipliers = attrs.field(factory=ConsensusMultipliers)
    approved_at: str | None = None
    approved_by: str | None = None
    source_job: str | None = None
    data_hash: str | None = None
    based_on_trades: int | None = None
    schema_version: int = CONFIG_SCHEMA_VERSION
    override_reason: str | None = None
    """Why a person deployed it against its report's DO NOT APPLY (``approve --override``)."""

    @classmethod
    def from_json(cls, text: str | bytes) -> CalibrationConfig:
        """Parse ``calibration.json`` text and validate it completely.

        Parameters
        ----------
        text : str or bytes
            The whole file content: one of our documents.

        Returns
        -------
        CalibrationConfig

        Raises
        ------
        ConfigRejectedError
            With a one-line reason for: a file over ``MAX_CONFIG_BYTES``,
            text that is not UTF-8 (UTF-16, UTF-32, a UTF-8 byte-order mark),
            invalid JSON, NaN/Infinity, a duplicate key, an unknown ``schema_version``, wrong
            types, unknown fields, a non-monotone map or one outside [0, 1] or
            beyond ±0.15, weights out of bounds or not summing to 1. A legacy
            document (the old deployer's) is refused here with a reason saying so;
            :func:`parse_config` reads both.
        """
        return cls.from_dict(_decode_kind(text, legacy=False, refusal=_LEGACY_NOT_OURS))

    @classmethod
    def from_dict(cls, raw: object) -> CalibrationConfig:
        """Validate an already-decoded JSON document (see :meth:`from_json`)."""
        data = _object(raw, "document", _TOP_FIELDS, _REQUIRED_TOP)
        schema = data["schema_version"]
        _expect_type(schema, int, "schema_version")
        if schema != CONFIG_SCHEMA_VERSION:
            raise _fail(
                "schema_version",
                f"{schema} is unknown; this release reads version {CONFIG_SCHEMA_VERSION}",
            )
        version = _version(data["version"], "version")
        source_job = data.get("source_job")
        if source_job is not None:
            source_job = _version(source_job, "source_job")
        approved_by = _printable(data.get("approved_by"), "approved_by")
        # status and history print it: no control characters may reach a terminal.
        data_hash = _printable(data.get("data_hash"), "data_hash")
        override_reason = data.get("override_reason")
        if override_reason is not None and (problem := override_reason_problem(override_reason)):
            raise _fail("override_reason", problem)
        return cls(
            schema_version=schema,
            version=version,
            created_at=_timestamp(data["created_at"], "created_at", optional=False) or "",
            approved_at=_timestamp(data.get("approved_at"), "approved_at", optional=True),
            approved_by=approved_by,
            source_job=source_job,
            data_hash=data_hash,
            based_on_trades=_trade_count(data.get("based_on_trades"), "based_on_trades"),
            confidence=ConfidenceMap.from_dict(data["confidence_calibration"]),
            weights=EnsembleWeights.from_dict(data["ensemble_weights"]),
            per_symbol=PerSymbolMaps.from_dict(
                data.get("per_symbol", {"enabled": False, "maps": {}})
            ),
            consensus=ConsensusMultipliers.from_dict(
                data.get("consensus_multipliers", ConsensusMultipliers().to_dict())
            ),
            override_reason=override_reason,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready document, in schema order.

        ``based_on_trades`` and ``override_reason`` are written only when they are set,
        so documents without them keep their exact bytes.
        """
        provenance = (
            {} if self.based_on_trades is None else {"based_on_trades": self.based_on_trades}
        )
        document = {
            "schema_version": self.schema_version,
            "version": self.version,
            "created_at": self.created_at,
            "approved_at": self.approved_at,
            "approved_by": self.approved_by,
            "source_job": self.source_job,
            "data_hash": self.data_hash,
            **provenance,
            "confidence_calibration": self.confidence.to_dict(),
            "ensemble_weights": self.weights.to_dict(),
            "per_symbol": self.per_symbol.to_dict(),
            "consensus_multipliers": self.consensus.to_dict(),
        }
        if self.override_reason is not None:
            document["override_reason"] = self.override_reason
        return document

    def to_json(self) -> str:
        """Serialise to the canonical text form (validated by a round trip).

        Raises
        ------
        ConfigRejectedError
            If this value would not be accepted by :meth:`from_json`, so an
            invalid document is never written.
        """
        # dict() in to_dict would silently merge repeated names, so check them first.
        for where, names in (
            ("ensemble_weights.weights", [name for name, _ in self.weights.weights]),
            ("per_symbol.maps", [symbol for symbol, _ in self.per_symbol.maps]),
        ):
            if len(set(names)) != len(names):
                raise _fail(where, "has a repeated name")
        try:
            text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:  # NaN/Infinity or a non-JSON type (numpy scalar)
            raise ConfigRejectedError(f"config rejected: not writable as JSON ({exc})") from None
        CalibrationConfig.from_json(text)
        return text

    def weights_dict(self) -> dict[str, float]:
        """Return the ensemble weights as a new dict (empty when none)."""
        return self.weights.as_dict()

    @staticmethod
    def parse_weights(weights: Mapping[str, float]) -> EnsembleWeights:
        """Build a validated, enabled :class:`EnsembleWeights` from a mapping."""
        return EnsembleWeights.from_dict({"enabled": True, "weights": dict(weights)})


def is_legacy_document(raw: object) -> bool:
    """Whether a decoded document is the old deployer's ``calibration.json``.

    Parameters
    ----------
    raw : object
        The decoded JSON value.

    Returns
    -------
    bool
        True for an object without ``schema_version`` that carries the old
        deployer's marks: ``based_on_trades`` or a ``confidence_calibration.mapping``.
    """
    if not isinstance(raw, dict) or "schema_version" in raw:
        return False
    section = raw.get("confidence_calibration")
    return "based_on_trades" in raw or (isinstance(section, dict) and "mapping" in section)


def _decode_kind(text: str | bytes, *, legacy: bool, refusal: str) -> object:
    """Decode a config file that must be legacy (or must not be); else raise ``refusal``."""
    raw = decode_config_json(text)
    if is_legacy_document(raw) is not legacy:
        raise ConfigRejectedError(refusal)
    return raw


def __getattr__(name: str) -> Any:  # noqa: ANN401 - PEP 562, as the package's __init__
    """Name ``LegacyConfig`` here too (lazily: legacy_config builds on this module)."""
    if name == "LegacyConfig":
        from calibration_core.legacy_config import LegacyConfig  # noqa: PLC0415

        return LegacyConfig
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def parse_config(text: str | bytes) -> CalibrationConfig | LegacyConfig:
    """Parse a live config file: one of ours, or the old deployer's legacy config.

    Parameters
    ----------
    text : str or bytes
        The whole file content.

    Returns
    -------
    CalibrationConfig or LegacyConfig
        A legacy document (no ``schema_version``; ``based_on_trades`` or a
        ``mapping``) becomes a :class:`LegacyConfig`, whose :attr:`~LegacyConfig.refusal`
        says whether it may be served; anything else is validated as ours.

    Raises
    ------
    ConfigRejectedError
        With the one-line reason of :meth:`CalibrationConfig.from_json` or
        :meth:`LegacyConfig.from_json`.
    """
    raw = decode_config_json(text)
    if is_legacy_document(raw):
        # Imported here: legacy_config builds on this module's field rules.
        from calibration_core.legacy_config import LegacyConfig  # noqa: PLC0415

        return LegacyConfig.from_dict(raw)
    return CalibrationConfig.from_dict(raw)
