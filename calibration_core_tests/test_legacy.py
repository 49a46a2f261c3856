"""Issue 9 §3: the old deployer's live calibration.json, served and refused, end to end.

Real files, a real watchdog loader and real CLI subprocesses. The legacy documents are
built by :mod:`calibration_core_tests.legacy_helpers`, never copied from the other project.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from calibration_core import deploy
from calibration_core.config import LegacyConfig
from calibration_core.exceptions import ConfigRejectedError
from calibration_core.runtime import host as runtime
from calibration_core.runtime.loader import CalibrationLoader
from calibration_core.runtime.snapshot import Snapshot
from calibration_core.sources.example_data import write_example_trades
from calibration_core_tests.deploy_helpers import (
    DeployTree,
    make_config,
    make_tree,
    ticking_clock,
    version_id,
    wait_until,
)
from calibration_core_tests.legacy_helpers import (
    LEGACY_CREATED_AT,
    LEGACY_VERSION,
    SIX_MEMBERS,
    bad_legacy_bytes,
    good_values,
    legacy_bytes,
    legacy_keys,
    served_reference,
)

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

pytestmark = pytest.mark.slow

JOB = version_id(100)
BAD_REASON = "legacy config cal_20260206_060303 maps 0.50 to 0.00, beyond the ±0.15 bound"
GRID = [i / 200 for i in range(201)]


def _replace(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically, as a deployer does (temp file + rename)."""
    temp = path.with_name(f".incoming-{path.name}")
    temp.write_bytes(data)
    temp.replace(path)


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def _legacy_tree(tmp_path: Path, data: bytes) -> DeployTree:
    tree = make_tree(tmp_path / "site")
    tree.paths.config.write_bytes(data)
    return tree


# --------------------------------------------------------------------------- the loader


class TestLoaderServesLegacy:
    """The runtime loader serves a legacy config that passes the hard rules, as the old one did."""

    def test_good_legacy_is_served_like_the_old_loader(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Map: old loader between keys, ±0.15 beyond; version/based_on_trades/legacy exposed."""
        path = tmp_path / "calibration.json"
        path.write_bytes(legacy_bytes())
        with caplog.at_level(logging.INFO, logger=runtime.LOGGER_NAME):
            loader = CalibrationLoader(path, watch="none")
        snap = loader.snapshot
        assert snap.version == LEGACY_VERSION
        assert snap.legacy is True
        assert snap.based_on_trades == 52
        assert snap.created_at == LEGACY_CREATED_AT
        assert snap.config is None
        assert snap.calibration_enabled
        keys, values = legacy_keys(), good_values()
        expected = [served_reference(c, keys, values) for c in GRID]
        assert [loader.apply_confidence_calibration(c) for c in GRID] == pytest.approx(
            expected, abs=1e-12
        )
        batch = loader.apply_confidence_calibration_batch(np.array(GRID))
        assert batch.tolist() == pytest.approx(expected, abs=1e-12)
        # The weights are disabled in this legacy config: the host keeps its own.
        assert dict(loader.get_ensemble_weights()) == {}
        assert dict(loader.get_ensemble_weights(SIX_MEMBERS)) == SIX_MEMBERS
        messages = [r.getMessage() for r in caplog.records]
        assert any(f"Loaded config version: {LEGACY_VERSION}" in m for m in messages)
        assert any(
            m.startswith(f"[CalibrationLoader]    Legacy config {LEGACY_VERSION}")
            and "based on 52 trades" in m
            for m in messages
        )
        assert loader.status().last_error is None

    def test_enabled_legacy_weights_are_served_as_written(self, tmp_path: Path) -> None:
        """Six members at today's weights, enabled: served as they are."""
        path = tmp_path / "calibration.json"
        path.write_bytes(legacy_bytes(weights=SIX_MEMBERS, weights_enabled=True))
        loader = CalibrationLoader(path, watch="none")
        assert dict(loader.get_ensemble_weights()) == SIX_MEMBERS
        assert loader.snapshot.weights_enabled

    def test_bad_legacy_is_refused_and_identity_served(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Nothing is served from a legacy config that breaks a rule; the reason names it."""
        path = tmp_path / "calibration.json"
        path.write_bytes(bad_legacy_bytes())
        with caplog.at_level(logging.WARNING, logger=runtime.LOGGER_NAME):
            loader = CalibrationLoader(path, watch="none", default_weights=SIX_MEMBERS)
        assert loader.snapshot.version is None
        assert loader.apply_confidence_calibration(0.5) == 0.5
        assert dict(loader.get_ensemble_weights()) == SIX_MEMBERS
        status = loader.status()
        assert status.last_error == BAD_REASON
        assert status.rejected == 1
        assert any(BAD_REASON in r.getMessage() for r in caplog.records)

    def test_watchdog_swaps_between_ours_and_legacy_and_keeps_the_last_good(
        self, tmp_path: Path
    ) -> None:
        """Ours → bad legacy (kept ours) → good legacy (served) → ours again, by file events."""
        path = tmp_path / "calibration.json"
        ours = make_config(version_id(1), shift=0.05)
        path.write_text(ours.to_json())
        with CalibrationLoader(path, poll_interval=60.0) as loader:
            assert loader.status().watching == "watchdog"
            assert loader.snapshot.version == version_id(1)
            assert loader.snapshot.legacy is False
            before = loader.apply_confidence_calibration(0.7)

            _replace(path, bad_legacy_bytes())
            wait_until(lambda: loader.status().rejected >= 1, what="refusal of the bad legacy")
            assert loader.snapshot.version == version_id(1)
            assert loader.apply_confidence_calibration(0.7) == before
            assert loader.status().last_error == BAD_REASON

            _replace(path, legacy_bytes())
            wait_until(lambda: loader.snapshot.version == LEGACY_VERSION, what="legacy served")
            assert loader.snapshot.legacy is True
            keys, values = legacy_keys(), good_values()
            assert loader.apply_confidence_calibration(0.3) == pytest.approx(
                served_reference(0.3, keys, values), abs=1e-12
            )
            assert loader.status().last_error is None

            _replace(path, make_config(version_id(2)).to_json().encode())
            wait_until(lambda: loader.snapshot.version == version_id(2), what="ours again")
            assert loader.snapshot.legacy is False


# --------------------------------------------------------------------------- the CLI


class TestCliOnLegacyLiveConfig:
    """status, history, diff, approve and rollback recognise a legacy live config."""

    def test_status_names_a_served_legacy_config(self, tmp_path: Path) -> None:
        """Text and JSON say legacy, with created_at and based_on_trades, and no refusal."""
        tree = _legacy_tree(tmp_path, legacy_bytes())
        proc = tree.run_cli("status")
        assert proc.returncode == 0, proc.stderr
        assert f"live version:  {LEGACY_VERSION}  (LEGACY config of the old deployer)" in (
            proc.stdout
        )
        assert f"created:       {LEGACY_CREATED_AT}, based on 52 trades" in proc.stdout
        assert "REFUSED" not in proc.stdout
        report = json.loads(tree.run_cli("status", "--json").stdout)
        assert report["live_version"] == LEGACY_VERSION
        assert report["legacy"] is True
        assert report["legacy_refusal"] is None
        assert report["based_on_trades"] == 52
        assert report["live_error"] is None

    def test_status_shows_a_refusal_prominently(self, tmp_path: Path) -> None:
        """The refused legacy config's rule and worst point, right under the version."""
        tree = _legacy_tree(tmp_path, bad_legacy_bytes())
        proc = tree.run_cli("status")
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[1].endswith("(LEGACY config of the old deployer)")
        assert lines[2].startswith(f"   ❌ REFUSED by the loader: {BAD_REASON}; nothing is served")
        report = json.loads(tree.run_cli("status", "--json").stdout)
        assert report["legacy_refusal"] == BAD_REASON

    def test_history_lists_the_legacy_version_before_any_audit(self, tmp_path: Path) -> None:
        """No audit trail yet: the live legacy version is listed with created_at and trades."""
        tree = _legacy_tree(tmp_path, legacy_bytes())
        proc = tree.run_cli("history")
        assert proc.returncode == 0, proc.stderr
        assert LEGACY_VERSION in proc.stdout
        assert "← live" in proc.stdout
        assert (
            f"legacy config of the old deployer, created {LEGACY_CREATED_AT}, "
            "based on 52 trades" in proc.stdout
        )
        report = json.loads(tree.run_cli("history", "--json").stdout)
        (summary,) = report["versions"]
        assert summary["version"] == LEGACY_VERSION
        assert summary["created_at"] == LEGACY_CREATED_AT
        assert summary["based_on_trades"] == 52
        assert summary["legacy"] is True
        assert summary["times_made_live"] == 0

    def test_diff_compares_a_legacy_live_config_with_a_job(self, tmp_path: Path) -> None:
        """`diff live JOB` shows the legacy map as served and labels it."""
        tree = _legacy_tree(tmp_path, legacy_bytes())
        tree.add_job(JOB)
        proc = tree.run_cli("diff", "live", JOB, "--json")
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["a"] == f"live ({LEGACY_VERSION}, legacy)"
        keys, values = legacy_keys(), good_values()
        for point in result["grid"]:
            assert point["a"] == pytest.approx(served_reference(point["raw"], keys, values))
        text = tree.run_cli("diff", "live", JOB)
        assert text.returncode == 0, text.stderr
        assert "legacy" in text.stdout.splitlines()[0]

    def test_diff_labels_a_refused_legacy_config(self, tmp_path: Path) -> None:
        """A refused legacy config is labelled REFUSED with its reason."""
        tree = _legacy_tree(tmp_path, bad_legacy_bytes())
        tree.add_job(JOB)
        result = json.loads(tree.run_cli("diff", "live", JOB, "--json").stdout)
        assert result["a"] == f"live ({LEGACY_VERSION}, legacy, REFUSED: {BAD_REASON})"

    def test_approve_archives_the_legacy_bytes_and_rollback_restores_them(
        self, tmp_path: Path
    ) -> None:
        """Approve on top of legacy; the archive holds its exact bytes; rollback returns to them."""
        original = legacy_bytes()
        tree = _legacy_tree(tmp_path, original)
        tree.add_job(JOB)
        proc = tree.run_cli("approve", JOB, "--yes", "--approved-by", "alice")
        assert proc.returncode == 0, proc.stderr
        assert f"previous: {LEGACY_VERSION}" in proc.stdout
        archived = tree.paths.archive_dir / f"{LEGACY_VERSION}.json"
        assert archived.read_bytes() == original
        assert tree.live_version() == JOB
        events = tree.live_events()
        assert events[0]["event"] == "recovered"
        assert events[0]["version"] == LEGACY_VERSION
        assert events[0]["legacy"] is True
        assert events[0]["as"] == "deploy"
        assert events[1]["event"] == "deploy"
        assert events[1]["previous_version"] == LEGACY_VERSION
        tree.assert_consistent()

        history = json.loads(tree.run_cli("history", "--json").stdout)
        legacy = next(v for v in history["versions"] if v["version"] == LEGACY_VERSION)
        assert legacy["created_at"] == LEGACY_CREATED_AT
        assert legacy["based_on_trades"] == 52
        assert legacy["legacy"] is True
        assert legacy["archived"] is True

        back = tree.run_cli("rollback", "--yes", "--reason", "back to the old one")
        assert back.returncode == 0, back.stderr
        assert f"Rolled back to {LEGACY_VERSION}" in back.stdout
        assert tree.paths.config.read_bytes() == original
        status = json.loads(tree.run_cli("status", "--json").stdout)
        assert status["live_version"] == LEGACY_VERSION
        assert status["legacy"] is True
        assert status["matches_archive"] is True
        tree.assert_consistent()

        # And a loader serves the restored legacy config.
        loader = CalibrationLoader(tree.paths.config, watch="none")
        assert loader.snapshot.version == LEGACY_VERSION
        assert loader.snapshot.legacy is True

    def test_rollback_by_name_to_the_legacy_version_is_byte_for_byte(self, tmp_path: Path) -> None:
        """After two of our deploys, `rollback <legacy version>` restores its exact bytes."""
        original = legacy_bytes(weights=SIX_MEMBERS, weights_enabled=True)
        tree = _legacy_tree(tmp_path, original)
        tree.add_job(JOB)
        deploy.approve(tree.paths, JOB, approved_by="alice", now=ticking_clock())
        second = version_id(200)
        tree.add_job(second, config=make_config(second, shift=0.04))
        deploy.approve(tree.paths, second, approved_by="bob", now=ticking_clock())
        proc = tree.run_cli("rollback", LEGACY_VERSION, "--yes")
        assert proc.returncode == 0, proc.stderr
        assert tree.paths.config.read_bytes() == original
        assert hashlib.sha256(original).hexdigest() == tree.live_events()[-1]["config_sha256"]
        tree.assert_consistent()

    def test_approve_over_a_refused_legacy_keeps_its_bytes_but_never_returns_to_it(
        self, tmp_path: Path
    ) -> None:
        """The refused legacy bytes are archived unchanged; rollback to them is refused."""
        original = bad_legacy_bytes()
        tree = _legacy_tree(tmp_path, original)
        tree.add_job(JOB)
        proc = tree.run_cli("approve", JOB, "--yes", "--approved-by", "alice")
        assert proc.returncode == 0, proc.stderr
        assert (tree.paths.archive_dir / f"{LEGACY_VERSION}.json").read_bytes() == original
        live = tree.paths.config.read_bytes()
        back = tree.run_cli("rollback", LEGACY_VERSION, "--yes")
        assert back.returncode == 7
        line = _error_line(back)
        assert f"version {LEGACY_VERSION} is a legacy config that the loader refuses" in line
        assert BAD_REASON in line
        assert tree.paths.config.read_bytes() == live

    def test_status_and_history_do_not_write(self, tmp_path: Path) -> None:
        """Reading a legacy config never turns it into ours: the directory is untouched."""
        original = legacy_bytes()
        tree = _legacy_tree(tmp_path, original)
        before = sorted(p.name for p in tree.paths.config_dir.iterdir())
        for job in ("status", "history"):
            assert tree.run_cli(job).returncode == 0
        assert sorted(p.name for p in tree.paths.config_dir.iterdir()) == before
        assert tree.paths.config.read_bytes() == original


class TestRunAndApproveOverLegacy:
    """`run` against a legacy live config, then `approve` and `rollback`, all as subprocesses."""

    def test_run_records_the_legacy_base_and_approve_replaces_it(self, tmp_path: Path) -> None:
        """The job's base is the legacy version and sha; approve accepts it; rollback restores."""
        original = legacy_bytes(weights=SIX_MEMBERS, weights_enabled=True)
        tree = _legacy_tree(tmp_path, original)
        tree.paths.data.parent.mkdir(parents=True)
        write_example_trades(
            tree.paths.data, n_trades=600, days=20.0, end=datetime.now(UTC) - timedelta(minutes=5)
        )
        proc = tree.run_cli("run", "--json")
        assert proc.returncode == 0, proc.stderr
        payload = json.loads(proc.stdout)
        job_id = payload["job_id"]
        record = json.loads((tree.paths.jobs_dir / f"{job_id}.json").read_text())
        assert record["base_version"] == LEGACY_VERSION
        assert record["base_config_sha256"] == hashlib.sha256(original).hexdigest()
        assert tree.paths.config.read_bytes() == original  # run never touches it

        approved = tree.run_cli("approve", job_id, "--yes", "--approved-by", "alice")
        assert approved.returncode == 0, approved.stderr
        assert tree.live_version() == job_id
        assert (tree.paths.archive_dir / f"{LEGACY_VERSION}.json").read_bytes() == original

        back = tree.run_cli("rollback", "--yes")
        assert back.returncode == 0, back.stderr
        assert tree.paths.config.read_bytes() == original
        tree.assert_consistent()


class TestMonitorAndCompareOnLegacy:
    """monitor and compare work on our configs; on a legacy one they say so in one line."""

    def test_monitor_refuses_a_legacy_live_config_clearly(self, tmp_path: Path) -> None:
        """Not 'does not parse: None': it names the legacy config."""
        tree = _legacy_tree(tmp_path, legacy_bytes())
        proc = tree.run_cli("monitor")
        assert proc.returncode == 7, proc.stderr
        line = _error_line(proc)
        assert f"is the old deployer's legacy config {LEGACY_VERSION}" in line

    def test_read_archived_names_a_legacy_entry(self, tmp_path: Path) -> None:
        """read_archived (used by monitor/compare) refuses a legacy entry by name, not 'corrupt'."""
        tree = _legacy_tree(tmp_path, legacy_bytes())
        tree.add_job(JOB)
        deploy.approve(tree.paths, JOB, approved_by="alice", now=ticking_clock())
        with pytest.raises(ConfigRejectedError, match=r"is the old deployer's legacy"):
            deploy.read_archived(tree.paths, LEGACY_VERSION)
        document = deploy.read_archived_document(tree.paths, LEGACY_VERSION)
        assert document is not None
        assert document.version == LEGACY_VERSION


@st.composite
def _servable_maps(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    """Monotone legacy maps inside [0, 1] and within ±0.15 of their keys."""
    keys = sorted(set(draw(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12, unique=True))))
    values: list[float] = []
    for k in keys:
        high = min(1.0, k + 0.15)
        low = min(max(0.0, k - 0.15, values[-1] if values else 0.0), high)
        values.append(draw(st.floats(low, high)))
    return keys, values


class TestLegacyHotPath:
    """The loader's scalar and batch paths reproduce the old loader on any servable map."""

    @given(_servable_maps())
    @example(([0.5], [0.43]))
    @example(([0.5, 0.6000000000000001, 1.0], [0.43, 0.52, 0.93]))
    @settings(max_examples=60)
    def test_scalar_and_batch_match_the_reference(
        self, case: tuple[list[float], list[float]]
    ) -> None:
        """Between the keys the old loader's value; beyond them its flat value clipped to ±0.15."""
        keys, values = case
        config = LegacyConfig(
            version=LEGACY_VERSION,
            created_at=LEGACY_CREATED_AT,
            calibration_enabled=True,
            mapping=tuple(zip(keys, values, strict=True)),
        )
        snap = Snapshot.from_legacy(config)
        points = [*GRID, *keys, -0.5, 1.5]
        expected = [served_reference(min(max(c, 0.0), 1.0), keys, values) for c in points]
        assert [snap.apply(c) for c in points] == pytest.approx(expected, abs=1e-12)
        assert snap.apply_batch(np.array(points)).tolist() == pytest.approx(expected, abs=1e-12)

    def test_a_refused_legacy_config_cannot_become_a_snapshot(self) -> None:
        """from_legacy refuses what breaks a rule, with the rule."""
        config = LegacyConfig.from_json(bad_legacy_bytes())
        with pytest.raises(ConfigRejectedError, match=BAD_REASON):
            Snapshot.from_legacy(config)


class TestEncodingsAtTheLivePath:
    """Issue 11 item 14 at the live path: the loader and status name the encoding."""

    @pytest.mark.parametrize(
        ("encoding", "name"),
        [("utf-16", "UTF-16"), ("utf-32-be", "UTF-32 (big-endian)"), ("utf-8-sig", "BOM")],
    )
    def test_loader_and_status_refuse_a_non_utf8_config(
        self, tmp_path: Path, encoding: str, name: str
    ) -> None:
        """Ours re-encoded: nothing served, one line naming the encoding."""
        tree = make_tree(tmp_path / "site")
        text = make_config(version_id(1)).to_json()
        tree.paths.config.write_bytes(text.encode(encoding))
        loader = CalibrationLoader(tree.paths.config, watch="none")
        assert loader.snapshot.version is None
        error = loader.status().last_error or ""
        assert "a config must be UTF-8 without a byte-order mark" in error
        label = "UTF-8 with a byte-order mark" if name == "BOM" else name
        assert label in error
        report = json.loads(tree.run_cli("status", "--json").stdout)
        assert report["live_version"] is None
        assert label in report["live_error"]


class TestAbortOverLegacy:
    """Any locked job that first meets a legacy live config archives its bytes at once."""

    def test_abort_records_and_archives_the_legacy_config(self, tmp_path: Path) -> None:
        """Nothing is lost even if no approve ever follows."""
        original = bad_legacy_bytes()
        tree = _legacy_tree(tmp_path, original)
        tree.add_job(JOB)
        proc = tree.run_cli("abort", JOB, "--reason", "not now")
        assert proc.returncode == 0, proc.stderr
        assert "recorded it as recovered (deploy) and archived its bytes unchanged" in proc.stdout
        assert (tree.paths.archive_dir / f"{LEGACY_VERSION}.json").read_bytes() == original
        assert tree.paths.config.read_bytes() == original
        (recovered,) = tree.live_events()
        assert recovered["legacy"] is True
        tree.assert_consistent()
