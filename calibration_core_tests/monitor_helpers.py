"""Builders of synthetic trades, signals and deployed versions shared by the monitor tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from calibration_core import deploy
from calibration_core_tests.deploy_helpers import DeployTree, make_config, make_tree, version_id

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

__all__ = [
    "DEPLOY_A",
    "DEPLOY_B",
    "MODELS",
    "A",
    "B",
    "C",
    "deploy_at",
    "monitor_tree",
    "signal_records",
    "trade_records",
    "write_jsonl",
]

A, B, C = (version_id(n) for n in range(3))
DEPLOY_A = datetime(2026, 2, 1, tzinfo=UTC)
"""When A goes live in :func:`monitor_tree`."""
DEPLOY_B = datetime(2026, 2, 10, tzinfo=UTC)
"""When B goes live in :func:`monitor_tree`."""
MODELS = ("xgb", "lgbm", "nhits", "patchtst")

_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
_CONFIDENCES = (0.62, 0.66, 0.70, 0.74, 0.78, 0.82, 0.86)
_MAGNITUDES = (0.4, 0.7, 1.0, 1.3, 1.6)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def trade_records(
    n: int,
    *,
    start: datetime,
    step: timedelta = timedelta(minutes=30),
    win_rate: float = 0.55,
    version: str | None = None,
    calibrated: float | None = None,
    breakdown: bool = False,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Build ``n`` deterministic closed trades, the first at ``start``.

    Exactly ``round(win_rate * n)`` of them win, spread evenly; the raw
    confidence cycles over 0.62..0.86 (over-confident for a 55 % win rate) and
    the PnL magnitudes cycle too, so two calls with the same ``n`` and
    ``win_rate`` have the same statistics. ``offset`` shifts the cycles.
    """
    wins = round(win_rate * n)
    records: list[dict[str, Any]] = []
    for i in range(n):
        won = (i * wins) // n != ((i + 1) * wins) // n
        k = i + offset
        magnitude = _MAGNITUDES[k % len(_MAGNITUDES)]
        side = "BUY" if k % 2 == 0 else "SELL"
        pnl = magnitude if won else -magnitude
        entry = 100.0 + k % 7
        move = pnl / 100.0 if side == "BUY" else -pnl / 100.0
        record: dict[str, Any] = {
            "timestamp": _iso(start + i * step),
            "symbol": _SYMBOLS[k % len(_SYMBOLS)],
            "side": side,
            "confidence": _CONFIDENCES[k % len(_CONFIDENCES)],
            "entry_price": entry,
            "exit_price": round(entry * (1 + move), 6),
            "actual_pnl_pct": pnl,
        }
        if version is not None:
            record["calibration_version"] = version
        if calibrated is not None:
            record["calibrated_confidence"] = calibrated
        if breakdown:
            right = side if won else ("SELL" if side == "BUY" else "BUY")
            record["model_breakdown"] = {
                # lgbm is always right, xgb always wrong, the others follow the side.
                "xgb": {"action": "SELL" if right == "BUY" else "BUY", "confidence": 0.6},
                "lgbm": {"action": right, "confidence": 0.7},
                "nhits": {"action": side, "confidence": 0.65},
                "patchtst": {"action": "HOLD", "confidence": 0.5},
            }
            record["consensus_count"] = 2  # nhits plus whichever of xgb/lgbm sided with it
        records.append(record)
    return records


def signal_records(
    n: int,
    *,
    start: datetime,
    hold_rate: float,
    step: timedelta = timedelta(minutes=10),
    version: str | None = None,
) -> list[dict[str, Any]]:
    """Build ``n`` signals, exactly ``round(hold_rate * n)`` of them HOLD, spread evenly."""
    holds = round(hold_rate * n)
    out = []
    for i in range(n):
        hold = (i * holds) // n != ((i + 1) * holds) // n
        out.append(
            {
                "timestamp": _iso(start + i * step),
                "symbol": _SYMBOLS[i % len(_SYMBOLS)],
                "action": "HOLD" if hold else ("BUY" if i % 2 else "SELL"),
                "confidence": 0.7,
                "calibrated_confidence": 0.66,
                "calibration_version": version,
            }
        )
    return out


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write one JSON object per line (creating the directory) and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def deploy_at(
    tree: DeployTree,
    version: str,
    moment: datetime,
    *,
    shift: float,
    created_at: datetime | None = None,
    weights: Mapping[str, float] | None = None,
) -> None:
    """Approve ``version`` in-process at ``moment`` (a real deploy: lock, archive, audit)."""
    config = make_config(version, shift=shift, weights=weights)
    if created_at is not None:
        config = attrs.evolve(config, created_at=created_at.isoformat())
    tree.add_job(version, config=config)
    deploy.approve(tree.paths, version, approved_by="alice", now=moment)


def monitor_tree(root: Path) -> DeployTree:
    """Return a tree where A went live at ``DEPLOY_A`` and B replaced it at ``DEPLOY_B``."""
    tree = make_tree(root)
    deploy_at(tree, A, DEPLOY_A, shift=-0.03)
    deploy_at(tree, B, DEPLOY_B, shift=-0.05)
    return tree
