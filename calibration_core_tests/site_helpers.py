"""A scratch site (trades, config, reports under one root) and the CLI run against it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from calibration_core.sources.example_data import write_example_trades

if TYPE_CHECKING:
    from pathlib import Path


def fresh_trades(path: Path, n: int = 300) -> None:
    """Write generated trades over 4 days whose newest close is about half an hour old."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_example_trades(path, n_trades=n, days=4.0, end=datetime.now(UTC) - timedelta(minutes=30))


def site_environment(root: Path, **env: str) -> dict[str, str]:
    """Return this process's environment pointed at ``root``'s trades, config and reports."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CALIBRATION_", "CLM_", "LEARNING_", "SIMPLE_CLM"))
    }
    environment.update(
        CLM_DATA_PATH=str(root / "data" / "clm_trades.jsonl"),
        CALIBRATION_CONFIG_PATH=str(root / "config" / "calibration.json"),
        CALIBRATION_REPORT_DIR=str(root / "reports"),
    )
    environment.update(env)
    return environment


def site_cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m calibration_core`` in ``root`` with its trades, config and reports."""
    return subprocess.run(
        [sys.executable, "-m", "calibration_core", *args],
        cwd=root,
        env=site_environment(root, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
