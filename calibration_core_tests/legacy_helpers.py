"""Builders of the old deployer's ``calibration.json`` (a legacy config) for the tests.

The shape follows ``../shared/real_system.md`` section 3; nothing is copied from the
other project. The mapping keys are built by repeated addition, as the old tool did,
so they carry the same float noise (``"0.6000000000000001"``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

LEGACY_VERSION = "cal_20260206_060303"
LEGACY_CREATED_AT = "2026-02-06T06:03:03.350649"
SIX_MEMBERS = {
    "xgb": 0.17,
    "lgbm": 0.17,
    "nhits": 0.17,
    "patchtst": 0.17,
    "tft": 0.16,
    "dlinear": 0.16,
}
BOUND = 0.15


def legacy_keys() -> list[float]:
    """Return 0.50, 0.55, ..., 1.00 built by repeated addition (with float noise)."""
    keys, key = [], 0.5
    for _ in range(11):
        keys.append(key)
        key += 0.05
    keys[-1] = min(keys[-1], 1.0)
    return keys


def good_values() -> list[float]:
    """Return a monotone map within ±0.15 of every key and inside [0, 1]."""
    return [round(max(0.0, k - 0.07), 4) for k in legacy_keys()]


def legacy_document(
    *,
    version: str = LEGACY_VERSION,
    created_at: str = LEGACY_CREATED_AT,
    based_on_trades: int | None = 52,
    values: list[float] | None = None,
    keys: list[float] | None = None,
    calibration_enabled: bool = True,
    weights: dict[str, float] | None = None,
    weights_enabled: bool = False,
) -> dict[str, Any]:
    """Return a legacy document in the old deployer's layout."""
    keys = legacy_keys() if keys is None else keys
    values = good_values() if values is None else values
    mapping = {str(k): v for k, v in zip(keys, values, strict=True)}
    table = {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2} if weights is None else weights
    return {
        "version": version,
        "created_at": created_at,
        "based_on_trades": based_on_trades,
        "approved_by": "manual_cli",
        "approved_at": "2026-02-06T06:05:10.112233",
        "confidence_calibration": {
            "enabled": calibration_enabled,
            "method": "isotonic",
            "mapping": mapping,
            "mse_before": 0.32,
            "mse_after": 0.17,
            "improvement_pct": 46.0,
            "sample_size": based_on_trades,
        },
        "ensemble_weights": {
            "enabled": weights_enabled,
            "weights": table,
            "changes": [
                {
                    "model": name,
                    "before": w,
                    "after": w,
                    "delta": 0.0,
                    "delta_pct": 0.0,
                    "reason": "no change",
                }
                for name, w in table.items()
            ],
            "total_delta": 0.0,
            "sample_size": 0,
        },
        "hold_bias": {
            "enabled": False,
            "adjustment_factor": 1.0,
            "hold_accuracy": 0.0,
            "missed_opportunities": 0,
            "sample_size": based_on_trades,
        },
        "metadata": {
            "win_rate_improvement": None,
            "confidence_mse_before": 0.32,
            "confidence_mse_after": 0.17,
            "weight_stability": 0.0,
            "validation_status": "passed",
            "risk_score": 0.0,
        },
        "validation_checks": [
            {
                "name": "mse_improvement",
                "passed": True,
                "severity": "info",
                "description": "MSE improves",
                "result": "+46.0%",
                "details": "in-sample",
            }
        ],
    }


def legacy_bytes(**changes: Any) -> bytes:
    """Return a legacy document as the old deployer wrote it (indented JSON)."""
    return json.dumps(legacy_document(**changes), indent=2).encode("utf-8")


def bad_legacy_bytes(version: str = LEGACY_VERSION) -> bytes:
    """Return a legacy config mapping 0.50 to 0.00, beyond the ±0.15 bound (as real ones do)."""
    values = good_values()
    values[0] = 0.0
    return legacy_bytes(version=version, values=values)


def old_loader(c: float, keys: list[float], values: list[float]) -> float:
    """Return the old loader's value, ``clip(np.interp(c, keys, values), 0, 1)``."""
    return float(np.clip(np.interp(c, keys, values), 0.0, 1.0))


def served_reference(c: float, keys: list[float], values: list[float]) -> float:
    """Return what calibration_core serves for a legacy map at raw confidence ``c`` in [0, 1].

    The old loader's value; beyond the keys (where it is flat) clipped to ``c ± 0.15``.
    """
    value = old_loader(c, keys, values)
    if c < keys[0] or c > keys[-1]:
        value = min(max(value, c - BOUND), c + BOUND)
    return value
