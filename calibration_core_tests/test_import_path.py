"""The runtime import path stays light: no scipy, matplotlib, sklearn or msgspec in the host."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# msgspec is the offline reader's typed decoder (trades.py) and tqdm draws the offline
# jobs' progress bars: dependencies of the jobs only.
HEAVY = ("scipy", "matplotlib", "sklearn", "pandas", "tqdm", "msgspec")

RUNTIME_USE = """
import json, sys
import calibration_core
from calibration_core.runtime.loader import CalibrationLoader
from calibration_core.runtime.host import (
    apply_confidence_calibration, apply_confidence_calibration_batch,
    get_ensemble_weights, get_consensus_multiplier, get_calibration_snapshot, reset_default_loader,
)
after_import = sorted(sys.modules)
with CalibrationLoader(sys.argv[1]) as loader:
    loader.apply_confidence_calibration(0.7)
apply_confidence_calibration(0.7)
apply_confidence_calibration_batch([0.1, 0.9])
get_ensemble_weights()
get_consensus_multiplier(3, 4)
get_calibration_snapshot()
reset_default_loader()
print(json.dumps({"after_import": after_import, "after_use": sorted(sys.modules)}))
"""


def run_python(code: str, *args: str, cwd: Path) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter and decode the JSON it prints."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=True,
    )
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def heavy_modules(names: list[str]) -> list[str]:
    """Return the loaded modules that belong to a heavy package."""
    return [name for name in names if name.split(".")[0] in HEAVY]


class TestRuntimeImportPath:
    def test_using_the_loader_imports_no_heavy_package(self, tmp_path: Path) -> None:
        """Importing calibration_core and every runtime call load no HEAVY package (msgspec too)."""
        modules = run_python(RUNTIME_USE, str(tmp_path / "calibration.json"), cwd=tmp_path)
        assert heavy_modules(modules["after_use"]) == []

    def test_importing_the_loader_does_not_import_watchdog(self, tmp_path: Path) -> None:
        """The watchdog package is imported only when a loader starts watching."""
        modules = run_python(RUNTIME_USE, str(tmp_path / "calibration.json"), cwd=tmp_path)
        assert not [m for m in modules["after_import"] if m.startswith("watchdog")]
        assert "watchdog.observers" in modules["after_use"]
