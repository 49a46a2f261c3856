"""The old deployer's ``calibration.json``: read as the old loader read it, served when safe."""

# Parsing only, like config.py, whose field rules it shares: imports math, re, datetime
# and the contract. It reads no file; the loader and the deployer hand it text.

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, cast

import attrs

from calibration_core.config import (
    _BOUND_SLACK,
    MODEL_NAME_PATTERN,
    ConfidenceMap,
    _decode_kind,
    _expect_type,
    _fail,
    _number,
    _object,
    _trade_count,
    is_valid_version,
)
from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MAX_WEIGHT,
    MIN_WEIGHT,
    WEIGHT_SUM_TOLERANCE,
)

__all__ = ["LegacyConfig"]

_LEGACY_TOP_FIELDS = (
    "version",
    "created_at",
    "based_on_trades",
    "approved_by",
    "approved_at",
    "confidence_calibration",
    "ensemble_weights",
    "hold_bias",
    "metadata",
    "validation_checks",
)
_NOT_LEGACY = (
    "config rejected: not a legacy config (it has a schema_version, or neither "
    "based_on_trades nor confidence_calibration.mapping)"
)
_LEGACY_REQUIRED = ("version", "created_at", "confidence_calibration", "ensemble_weights")
_LEGACY_MIN_MEMBERS = 3
_LEGACY_MAX_MEMBERS = 6
_LEGACY_TEXT_PATTERN = re.compile(r"[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]{1,128}")


def _num(x: float) -> str:
    """Format a confidence for a message: two decimals unless that would hide a difference."""
    return f"{x:.2f}" if abs(x - round(x, 2)) < 5e-7 else f"{x:.4f}"  # noqa: PLR2004


def _legacy_text(value: object, where: str) -> str | None:
    if value is None:
        return None
    _expect_type(value, str, where)
    text = str(value)
    if _LEGACY_TEXT_PATTERN.fullmatch(text) is None:
        raise _fail(where, "must be 1-128 printable characters")
    return text


def _legacy_section(data: dict[str, Any], name: str, field: str) -> dict[str, Any]:
    """Check a legacy section: an object with a boolean ``enabled`` and ``field``."""
    where = f"legacy {name}"
    section = data[name]
    _expect_type(section, dict, where)
    for required in ("enabled", field):
        if required not in section:
            raise _fail(where, f"is missing required field {required!r}")
    _expect_type(section["enabled"], bool, f"{where}.enabled")
    return cast("dict[str, Any]", section)


def _legacy_mapping(raw: object, where: str) -> tuple[tuple[float, float], ...]:
    _expect_type(raw, dict, where)
    points: dict[float, float] = {}
    for key, value in cast("dict[str, object]", raw).items():
        # The old loader read every key with float(key): "0.6000000000000001" is 0.6.
        try:
            x = float(key)
        except ValueError:
            raise _fail(where, f"has a key that is not a number: {key!r:.40}") from None
        if not math.isfinite(x):
            raise _fail(where, f"has a key that is not finite: {key!r:.40}")
        if x in points:
            raise _fail(where, f"has two keys for the same confidence {x!r}")
        points[x] = _number(value, f"{where}[{key!r:.40}]")
    return tuple(sorted(points.items()))


def _legacy_weights(raw: object, where: str) -> tuple[tuple[str, float], ...]:
    _expect_type(raw, dict, where)
    return tuple(
        (str(name), _number(value, f"{where}[{name!r:.64}]"))
        for name, value in cast("dict[str, object]", raw).items()
    )


def _shown_name(name: str) -> str:
    # A name that is not a valid model name may hold control characters: show its repr.
    return name if MODEL_NAME_PATTERN.fullmatch(name) else f"{name!r:.40}"


def _clip(x: float, low: float, high: float) -> float:
    return low if x < low else min(x, high)


@attrs.frozen
class LegacyConfig:
    """The live ``calibration.json`` written by the old deployer, as the old loader read it.

    It is served (see :meth:`served_knots`) only while :attr:`refusal` is None, and it
    is never rewritten: ``approve`` archives its bytes unchanged and ``rollback`` can
    return to them. Its informational sections (``hold_bias``, ``metadata``,
    ``validation_checks``, the MSE figures) are read but not served.

    Attributes
    ----------
    version, created_at : str
        As written; ``created_at`` is naive local time.
    based_on_trades : int or None
        How many trades the old tool fitted.
    approved_by, approved_at : str or None
        As written by the old deployer.
    calibration_enabled : bool
        ``confidence_calibration.enabled``.
    mapping : tuple of (float, float)
        ``(float(key), value)`` pairs sorted by key.
    weights_enabled : bool
        ``ensemble_weights.enabled``.
    weights : tuple of (str, float)
        The weights as written.
    """

    version: str
    created_at: str
    based_on_trades: int | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    calibration_enabled: bool = False
    mapping: tuple[tuple[float, float], ...] = ()
    weights_enabled: bool = False
    weights: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_json(cls, text: str | bytes) -> LegacyConfig:
        """Parse the old deployer's ``calibration.json``.

        Parameters
        ----------
        text : str or bytes
            The whole file content, as the old deployer wrote it.

        Returns
        -------
        LegacyConfig
            A well-formed legacy document; whether it may be served is
            :attr:`refusal`.

        Raises
        ------
        ConfigRejectedError
            The same document-wide rules as :meth:`CalibrationConfig.from_json`,
            a document that is not a legacy config, or a malformed field.
        """
        return cls.from_dict(_decode_kind(text, legacy=True, refusal=_NOT_LEGACY))

    @classmethod
    def from_dict(cls, raw: object) -> LegacyConfig:
        """Validate an already-decoded legacy document (see :meth:`from_json`)."""
        data = _object(raw, "legacy document", _LEGACY_TOP_FIELDS, _LEGACY_REQUIRED)
        version = data["version"]
        _expect_type(version, str, "legacy version")
        if not is_valid_version(version):
            raise _fail(
                "legacy version", f"must look like cal_YYYYMMDD_HHMMSS (got {version!r:.40})"
            )
        created_at = data["created_at"]
        _expect_type(created_at, str, "legacy created_at")
        try:
            datetime.fromisoformat(created_at)
        except ValueError:
            raise _fail(
                "legacy created_at", f"is not an ISO-8601 timestamp (got {created_at!r:.40})"
            ) from None
        confidence = _legacy_section(data, "confidence_calibration", "mapping")
        weights = _legacy_section(data, "ensemble_weights", "weights")
        return cls(
            version=version,
            created_at=created_at,
            based_on_trades=_trade_count(data.get("based_on_trades"), "legacy based_on_trades"),
            approved_by=_legacy_text(data.get("approved_by"), "legacy approved_by"),
            approved_at=_legacy_text(data.get("approved_at"), "legacy approved_at"),
            calibration_enabled=confidence["enabled"],
            mapping=_legacy_mapping(confidence["mapping"], "legacy confidence_calibration.mapping"),
            weights_enabled=weights["enabled"],
            weights=_legacy_weights(weights["weights"], "legacy ensemble_weights.weights"),
        )

    @property
    def refusal(self) -> str | None:
        """Why this legacy config may not be served (every broken rule), or None.

        The rules are the hard rules of our own configs: an enabled map lies in
        [0, 1], is monotone and moves no key by more than ±0.15; enabled weights are
        3 to 6 valid names, each in [0.15, 0.40], summing to 1. Each broken rule is
        named with its worst point, e.g. ``legacy config cal_20260206_060303 maps
        0.50 to 0.00, beyond the ±0.15 bound``.
        """
        problems = [*self._map_problems(), *self._weight_problems()]
        if not problems:
            return None
        return f"legacy config {self.version} " + "; ".join(problems)

    def _map_problems(self) -> list[str]:
        if not self.calibration_enabled:
            return []
        if not self.mapping:
            return ["has confidence calibration enabled but an empty mapping"]
        problems = []
        keys_out = [x for x, _ in self.mapping if not 0.0 <= x <= 1.0]
        if keys_out:
            worst = max(keys_out, key=lambda x: max(-x, x - 1.0))
            problems.append(f"has a mapping key {_num(worst)} outside [0, 1]")
        values_out = [(x, y) for x, y in self.mapping if not 0.0 <= y <= 1.0]
        if values_out:
            x, y = max(values_out, key=lambda p: max(-p[1], p[1] - 1.0))
            problems.append(f"maps {_num(x)} to {_num(y)}, outside [0, 1]")
        drops = [
            (self.mapping[i - 1], self.mapping[i])
            for i in range(1, len(self.mapping))
            if self.mapping[i][1] < self.mapping[i - 1][1]
        ]
        if drops:
            (x0, y0), (x1, y1) = max(drops, key=lambda d: d[0][1] - d[1][1])
            problems.append(
                f"is not monotone: maps {_num(x1)} to {_num(y1)} after {_num(x0)} to {_num(y0)}"
            )
        x, y = max(self.mapping, key=lambda p: abs(p[1] - p[0]))
        if abs(y - x) > MAX_CONFIDENCE_CHANGE + _BOUND_SLACK:
            problems.append(
                f"maps {_num(x)} to {_num(y)}, beyond the ±{MAX_CONFIDENCE_CHANGE} bound"
            )
        return problems

    def _weight_problems(self) -> list[str]:
        if not self.weights_enabled:
            return []
        names = [name for name, _ in self.weights]
        bad_names = [n for n in names if MODEL_NAME_PATTERN.fullmatch(n) is None]
        problems = []
        if bad_names:
            problems.append(f"has an invalid model name {bad_names[0]!r:.40}")
        if not _LEGACY_MIN_MEMBERS <= len(names) <= _LEGACY_MAX_MEMBERS:
            problems.append(
                f"has {len(names)} enabled weights; {_LEGACY_MIN_MEMBERS} to "
                f"{_LEGACY_MAX_MEMBERS} members are allowed"
            )
        outside = [(n, w) for n, w in self.weights if not MIN_WEIGHT <= w <= MAX_WEIGHT]
        if outside:
            name, weight = max(outside, key=lambda p: max(MIN_WEIGHT - p[1], p[1] - MAX_WEIGHT))
            problems.append(
                f"has an enabled weight outside [{MIN_WEIGHT}, {MAX_WEIGHT}]: "
                f"{_shown_name(name)} {weight:g}"
            )
        total = math.fsum(w for _, w in self.weights)
        if self.weights and abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
            problems.append(
                f"has enabled weights summing to {total:.4f}, not 1 ± {WEIGHT_SUM_TOLERANCE}"
            )
        return problems

    def served_knots(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Return the knots of the map served for this config, spanning [0, 1].

        Returns
        -------
        thresholds, values : tuple of float
            With the map disabled, the identity ``(0, 1) -> (0, 1)``. Otherwise
            linear interpolation through these knots equals, for every ``c`` in
            [0, 1], the old loader's ``clip(np.interp(c, keys, values), 0, 1)``
            between the keys, and its flat extension clipped to ``c ± 0.15``
            beyond them. Only meaningful while :attr:`refusal` is None.

        Notes
        -----
        Below the first key ``(k0, v0)`` the served value is
        ``clip(v0, c - 0.15, c + 0.15)``: flat at ``v0`` down to ``c = v0 - 0.15``,
        then ``c + 0.15``. Above the last key ``(kn, vn)`` it is flat at ``vn`` up to
        ``c = vn + 0.15``, then ``c - 0.15``. Those breakpoints become extra knots,
        so the hot path runs the same interpolation as for our own maps.
        """
        if not self.calibration_enabled or not self.mapping:
            return (0.0, 1.0), (0.0, 1.0)
        bound = MAX_CONFIDENCE_CHANGE
        xs: list[float] = []
        ys: list[float] = []
        (k0, v0), (kn, vn) = self.mapping[0], self.mapping[-1]
        if k0 > 0.0:
            xs.append(0.0)
            ys.append(_clip(v0, 0.0, bound))
            bend = v0 - bound
            if 0.0 < bend < k0:
                xs.append(bend)
                ys.append(v0)
        for x, y in self.mapping:
            xs.append(x)
            ys.append(_clip(y, 0.0, 1.0))
        if kn < 1.0:
            bend = vn + bound
            if kn < bend < 1.0:
                xs.append(bend)
                ys.append(vn)
            xs.append(1.0)
            ys.append(_clip(vn, 1.0 - bound, 1.0))
        return tuple(xs), tuple(ys)

    def confidence_map(self) -> ConfidenceMap:
        """Return the served map as a :class:`ConfidenceMap` (for display and diff only)."""
        thresholds, values = self.served_knots()
        return ConfidenceMap(
            enabled=self.calibration_enabled,
            thresholds=thresholds,
            values=values,
            method="legacy",
        )

    def weights_dict(self) -> dict[str, float]:
        """Return the weights as written, as a new dict."""
        return dict(self.weights)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields this release reads, JSON-ready (not the file's own layout)."""
        return {
            "legacy": True,
            "version": self.version,
            "created_at": self.created_at,
            "based_on_trades": self.based_on_trades,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at,
            "confidence_calibration": {
                "enabled": self.calibration_enabled,
                "mapping": {repr(x): y for x, y in self.mapping},
            },
            "ensemble_weights": {"enabled": self.weights_enabled, "weights": dict(self.weights)},
        }
