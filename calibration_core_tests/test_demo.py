"""End-to-end test of the ``demo`` job through a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
STEPS = ("check", "run", "approve", "status", "monitor", "rollback")


def _demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "CLM_DATA_PATH",
            "SIMPLE_CLM_STORAGE",
            "CALIBRATION_CONFIG_PATH",
            "CALIBRATION_REPORT_DIR",
            "LEARNING_CADENCE_API",
        )
    }
    return subprocess.run(
        [sys.executable, "-m", "calibration_core", "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class TestDemo:
    def test_demo_walks_the_whole_flow_in_its_own_directory(self, tmp_path: Path) -> None:
        """Demo exits 0, prints every step's command and output, and touches only --dir."""
        cwd = tmp_path / "operator"
        cwd.mkdir()
        scratch = tmp_path / "scratch"
        result = _demo(cwd, "--dir", str(scratch))
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        for job in STEPS:
            assert f"$ python -m calibration_core {job}" in out
        assert "✅ CALIBRATION AUTHORIZED" in out
        assert "Recommendation: APPROVE CANDIDATE" in out
        assert "✅ Deployed cal_" in out
        assert "✅ Rolled back to cal_" in out
        assert "✅ DEMO COMPLETE" in out
        assert list(cwd.iterdir()) == []
        assert (scratch / "data" / "clm_trades.jsonl").is_file()
        audit = (scratch / "config" / "calibration_archive" / "audit.jsonl").read_text()
        assert [json.loads(line)["event"] for line in audit.splitlines()][-2:] == [
            "deploy",
            "rollback",
        ]

    def test_demo_json_is_one_document_of_steps(self, tmp_path: Path) -> None:
        """Demo --json: one document whose steps carry each job's own JSON and exit code."""
        result = _demo(tmp_path, "--json", "--dir", str(tmp_path / "d"))
        assert result.returncode == 0, result.stderr
        payload = json.loads(result.stdout)
        assert payload["ok"] is True
        assert [s["job"] for s in payload["steps"]] == list(STEPS)
        assert [s["exit_code"] for s in payload["steps"]] == [0, 0, 0, 0, 1, 0]
        assert payload["steps"][1]["output"]["job_id"] == payload["job_id"]

    def test_demo_default_dir_is_a_new_temporary_directory(self, tmp_path: Path) -> None:
        """Without --dir the demo prints the new scratch directory it used."""
        result = _demo(tmp_path, "--json")
        assert result.returncode == 0, result.stderr
        scratch = Path(json.loads(result.stdout)["dir"])
        try:
            assert scratch.is_dir()
            assert scratch.name.startswith("calibration_demo_")
            assert not (tmp_path / "data").exists()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
