"""Config builders and a bounded wait shared by the runtime (loader) tests."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from calibration_core.config import (
    CalibrationConfig,
    ConfidenceMap,
    ConsensusMultipliers,
    EnsembleWeights,
    PerSymbolMaps,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

MODELS = ("xgb", "lgbm", "nhits", "patchtst")
THRESHOLDS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)
CREATED_AT = "2026-02-20T14:30:22+00:00"


def version_name(k: int) -> str:
    """Return a well-formed, distinct config version for the integer ``k`` (< 10**6)."""
    return f"cal_20260220_{k:06d}"


def version_number(version: str) -> int:
    """Invert :func:`version_name`."""
    return int(version.rsplit("_", 1)[1])


def shifted_map(shift: float, *, enabled: bool = True) -> ConfidenceMap:
    """Build a monotone map that moves the inner knots by ``shift`` (|shift| <= 0.15)."""
    values = [0.0] + [min(1.0, max(0.0, t + shift)) for t in THRESHOLDS[1:-1]] + [1.0]
    return ConfidenceMap(enabled=enabled, thresholds=THRESHOLDS, values=tuple(values))


def build_config(
    version: str = "cal_20260220_143022",
    *,
    shift: float = 0.05,
    calibration: bool = True,
    weights: Mapping[str, float] | None = None,
    weights_enabled: bool = True,
    per_symbol: Mapping[str, float] | None = None,
    consensus: Mapping[str, float] | None = None,
) -> CalibrationConfig:
    """Build a valid config; optional sections are enabled by passing them."""
    table = dict(weights) if weights is not None else dict.fromkeys(MODELS, 0.25)
    return CalibrationConfig(
        version=version,
        created_at=CREATED_AT,
        confidence=shifted_map(shift, enabled=calibration),
        weights=EnsembleWeights(enabled=weights_enabled, weights=tuple(table.items())),
        per_symbol=PerSymbolMaps(
            enabled=per_symbol is not None,
            maps=tuple((s, shifted_map(v)) for s, v in (per_symbol or {}).items()),
        ),
        consensus=ConsensusMultipliers(
            enabled=consensus is not None,
            multipliers=tuple((consensus or {}).items()) or ConsensusMultipliers().multipliers,
        ),
    )


def config_text(version: str = "cal_20260220_143022", **options: Any) -> str:
    """Return the canonical JSON text of :func:`build_config`."""
    return build_config(version, **options).to_json()


def tagged_config_text(k: int) -> str:
    """Version ``k`` whose map and weights both encode ``k``, so a read is self-checking.

    ``f(0.5) = 0.5 + d`` and ``weights = {xgb: 0.25 + d, lgbm: 0.25 - d, ...}`` with
    ``d = (k % 100) / 1000``.
    """
    d = tag_offset(k)
    config = CalibrationConfig(
        version=version_name(k),
        created_at=CREATED_AT,
        confidence=ConfidenceMap(
            enabled=True, thresholds=(0.0, 0.5, 1.0), values=(0.0, 0.5 + d, 1.0)
        ),
        weights=EnsembleWeights(
            enabled=True,
            weights=(("xgb", 0.25 + d), ("lgbm", 0.25 - d), ("nhits", 0.25), ("patchtst", 0.25)),
        ),
    )
    return config.to_json()


def tag_offset(k: int) -> float:
    """Return the offset ``d`` that :func:`tagged_config_text` encodes for version ``k``."""
    return (k % 100) / 1000


def invalid_config_texts(k: int) -> dict[str, str]:
    """Documents that must be rejected, each carrying the otherwise unused version ``k``."""
    good = json.loads(tagged_config_text(k))
    non_monotone = json.loads(json.dumps(good))
    non_monotone["confidence_calibration"]["thresholds"] = [0.0, 0.4, 0.6, 1.0]
    non_monotone["confidence_calibration"]["values"] = [0.0, 0.5, 0.45, 1.0]
    bad_sum = json.loads(json.dumps(good))
    bad_sum["ensemble_weights"]["weights"]["xgb"] = 0.35
    text = json.dumps(good)
    return {
        "truncated": text[: len(text) // 2],
        "non_monotone": json.dumps(non_monotone),
        "weights_not_summing_to_one": json.dumps(bad_sum),
    }


def wait_until(
    condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.002
) -> bool:
    """Poll ``condition`` until it is truthy or ``timeout`` seconds pass; return the outcome."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(interval)
