"""End to end with real processes: a consumer hammers the API while deploys and bad files land."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from calibration_core.config import CalibrationConfig
from calibration_core.deploy.jobstore import JobStore
from calibration_core.fsio import atomic_write_text
from calibration_core.settings import SENTINEL_NAME, Paths
from calibration_core_tests.deploy_helpers import finish, make_job
from calibration_core_tests.runtime_helpers import (
    invalid_config_texts,
    tag_offset,
    tagged_config_text,
    version_name,
    version_number,
    wait_until,
)

HERE = Path(__file__).parent
REPO = HERE.parent
CONSUMER = HERE / "runtime_consumer.py"
EXAMPLE = REPO / "examples" / "ensemble_manager.py"
CYCLES = 24
ACK_TIMEOUT = 10.0

pytestmark = pytest.mark.slow


class Deployer:
    """Drives `python -m calibration_core approve/rollback` against a temporary tree."""

    def __init__(self, root: Path) -> None:
        (root / "config").mkdir()
        (root / "reports").mkdir()
        self.root = root
        self.paths = Paths(
            data=root / "data" / "clm_trades.jsonl",
            config=root / "config" / "calibration.json",
            report_dir=root / "reports",
            cadence_api=None,
        )
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("CALIBRATION_", "CLM_"))
        }
        self.env.update(
            CALIBRATION_CONFIG_PATH=str(self.paths.config),
            CALIBRATION_REPORT_DIR=str(self.paths.report_dir),
            CLM_DATA_PATH=str(self.paths.data),
            PYTHONDONTWRITEBYTECODE="1",
        )

    def cli(self, *args: str) -> None:
        """Run one CLI job and require success."""
        done = subprocess.run(
            [sys.executable, "-m", "calibration_core", *args, "--yes"],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"

    def approve(self, k: int) -> str:
        """Register job ``k`` (a tagged config) against the live file and approve it."""
        live = self.paths.config
        base_version = base_sha = None
        if live.exists():
            data = live.read_bytes()
            base_sha = hashlib.sha256(data).hexdigest()
            base_version = CalibrationConfig.from_json(data).version
        job = make_job(
            version_name(k),
            base_version=base_version,
            base_config_sha256=base_sha,
            config=CalibrationConfig.from_json(tagged_config_text(k)),
        )
        JobStore(self.paths.jobs_dir).save(job)
        self.cli("approve", job.job_id)
        return job.job_id

    def rollback(self) -> str:
        """Roll back to the previous version and return the version now live."""
        self.cli("rollback")
        return CalibrationConfig.from_json(self.paths.config.read_bytes()).version

    def write_invalid(self, text: str, *, in_place: bool) -> bytes:
        """Put an invalid document at the live path directly; return the good bytes it hid."""
        good = self.paths.config.read_bytes()
        if in_place:
            with self.paths.config.open("w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            atomic_write_text(self.paths.config, text)
        self.paths.sentinel.touch()
        return good

    def restore(self, good: bytes) -> None:
        """Put the last good bytes back (as an operator fixing the file would)."""
        atomic_write_text(self.paths.config, good.decode("utf-8"))
        (self.paths.config.parent / SENTINEL_NAME).touch()


class Progress:
    """The consumer's progress lines: (time, version, rejected) each time one changes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[dict[str, Any]]:
        """All complete lines so far."""
        if not self.path.exists():
            return []
        text = self.path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def wait_for(self, condition: Any, after: int) -> dict[str, Any] | None:
        """Wait (bounded) for a line past index ``after`` that meets ``condition``."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [line for line in self.lines()[after:] if condition(line)]
            return bool(found)

        return found[0] if wait_until(seen, ACK_TIMEOUT) else None


def start_consumer(deployer: Deployer, results: Path, progress: Path) -> subprocess.Popen[str]:
    """Start the consumer process against the deployer's live config."""
    return subprocess.Popen(
        [sys.executable, str(CONSUMER), "--results", str(results), "--progress", str(progress)],
        env=deployer.env,
        cwd=deployer.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def drive_deploys(deployer: Deployer, progress: Progress) -> tuple[set[str], set[str], list[float]]:
    """Approve, roll back and plant invalid files; return (deployed, invalid, latencies)."""
    deployed: set[str] = {version_name(1)}
    invalid: set[str] = set()
    latencies: list[float] = []
    rejected = 0
    for cycle in range(2, CYCLES + 2):
        mark = len(progress.lines())
        started = time.time()
        expected = deployer.rollback() if cycle % 6 == 0 else deployer.approve(cycle)
        deployed.add(expected)
        ack = progress.wait_for(lambda line, v=expected: line["version"] == v, mark)
        assert ack is not None, f"{expected} was not served within {ACK_TIMEOUT} s"
        latencies.append(ack["t"] - started)
        if cycle % 4:
            continue
        for i, text in enumerate(invalid_config_texts(900 + cycle).values()):
            invalid.add(version_name(900 + cycle))
            mark = len(progress.lines())
            good = deployer.write_invalid(text, in_place=i == 0)
            rejected += 1
            seen = progress.wait_for(lambda line, n=rejected: line["rejected"] >= n, mark)
            assert seen is not None, f"invalid config {i} was not rejected"
            assert seen["version"] == expected
            deployer.restore(good)
    return deployed, invalid, latencies


def check_reads(data: dict[str, Any], deployed: set[str], invalid: set[str]) -> None:
    """Every distinct read decodes to one deployed version: version, map and weights agree."""
    for version, map_at_half, w_xgb, w_lgbm, _count in data["reads"]:
        assert version in deployed, f"served {version}, which was never deployed"
        assert version not in invalid
        d = tag_offset(version_number(version))
        assert map_at_half == pytest.approx(0.5 + d, abs=1e-12), (version, map_at_half)
        assert w_xgb == pytest.approx(0.25 + d, abs=1e-12), (version, w_xgb)
        assert w_lgbm == pytest.approx(0.25 - d, abs=1e-12), (version, w_lgbm)
    assert {read[0] for read in data["reads"]} == deployed


class TestConsumerUnderDeploys:
    def test_every_read_is_one_complete_valid_version(self, tmp_path: Path) -> None:
        """Zero exceptions; reads are never mixed; good versions go live fast; bad ones never."""
        deployer = Deployer(tmp_path)
        deployer.approve(1)
        results, progress = tmp_path / "results.json", Progress(tmp_path / "progress.jsonl")
        consumer = start_consumer(deployer, results, progress.path)
        try:
            assert progress.wait_for(lambda line: line["version"] == version_name(1), 0)
            deployed, invalid, latencies = drive_deploys(deployer, progress)
        finally:
            consumer.send_signal(signal.SIGTERM)
            _, err = finish(consumer, 30)
        assert consumer.returncode == 0, err
        data = json.loads(results.read_text(encoding="utf-8"))
        assert data["errors"] == []
        assert data["threads_left"] == []
        assert data["total_reads"] > 1000
        check_reads(data, deployed, invalid)
        assert data["status"]["rejected"] >= len(invalid) * 3
        assert data["status"]["watching"] == "watchdog"
        # Speed is measured in benchmarks/bench_runtime.py, not asserted here: each
        # acknowledgement above (bounded by ACK_TIMEOUT) is the correctness check.
        assert len(latencies) == CYCLES


class TestExample:
    def test_example_runs_and_stops_cleanly_on_sigterm(self, tmp_path: Path) -> None:
        """The EnsembleManager example serves each deploy and exits 0 on SIGTERM."""
        deployer = Deployer(tmp_path)
        deployer.approve(5)
        log_path = tmp_path / "example.log"
        with log_path.open("w", encoding="utf-8") as log:
            example = subprocess.Popen(
                [sys.executable, str(EXAMPLE), "--config", str(deployer.paths.config)],
                env=deployer.env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            try:

                def logged(text: str) -> bool:
                    return text in log_path.read_text(encoding="utf-8")

                assert wait_until(lambda: logged("[CalibrationLoader] Watching"), ACK_TIMEOUT)
                assert logged(f"Loaded config version: {version_name(5)}")
                deployer.approve(6)
                assert wait_until(
                    lambda: logged(f"Loaded config version: {version_name(6)}"), ACK_TIMEOUT
                )
            finally:
                example.send_signal(signal.SIGTERM)
                out, _ = finish(example, 30)
        assert example.returncode == 0, log_path.read_text(encoding="utf-8")
        assert "errors=0" in out
        assert f"version={version_name(6)}" in out

    def test_example_with_a_duration_exits_by_itself(self, tmp_path: Path) -> None:
        """--duration ends the run; without a config it serves identity and still succeeds."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALIBRATION_")}
        env["CALIBRATION_CONFIG_PATH"] = str(tmp_path / "absent" / "calibration.json")
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), "--duration", "0.5", "--log-every", "0"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "version identity:" in done.stdout
        assert "No config at" in done.stderr
