"""Tests of jobs.py: a bad job record on disk is refused in one line and never trusted."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from calibration_core import deploy
from calibration_core.exceptions import CalibrationError, DeploymentError, JobRefusedError
from calibration_core.jobs import STATUS_PENDING, JobRecord, JobStore
from calibration_core_tests.deploy_helpers import (
    DeployTree,
    make_config,
    make_job,
    make_tree,
    snapshot_tree,
    ticking_clock,
    version_id,
)

if TYPE_CHECKING:
    from pathlib import Path

A, B, C = (version_id(n) for n in range(3))


@pytest.fixture
def tree(tmp_path: Path) -> DeployTree:
    """Return a tree with A live and jobs B and C pending against it."""
    site = make_tree(tmp_path / "site")
    site.add_job(A)
    deploy.approve(site.paths, A, approved_by="alice", now=ticking_clock())
    site.add_job(B, config=make_config(B, shift=0.01))
    site.add_job(C, config=make_config(C, shift=0.02))
    return site


def _record_path(tree: DeployTree, job_id: str) -> Path:
    return tree.paths.jobs_dir / f"{job_id}.json"


def _rewrite(tree: DeployTree, name: str, **changes: Any) -> None:
    path = _record_path(tree, name)
    raw = json.loads(path.read_text())
    raw.update(changes)
    path.write_text(json.dumps(raw))


def _open_fds() -> int:
    with os.scandir("/proc/self/fd") as entries:
        return sum(1 for _ in entries)


class TestUnreadableRecords:
    def test_directory_at_the_record_path_is_refused_without_leaking_a_descriptor(
        self, tree: DeployTree
    ) -> None:
        """A directory named like a record is refused in one line (no IsADirectoryError)."""
        path = _record_path(tree, B)
        path.unlink()
        path.mkdir()
        fds = _open_fds()
        with pytest.raises(JobRefusedError, match="not a regular file"):
            tree.store.load(B)
        assert _open_fds() == fds
        assert [job.job_id for job in tree.store.list_jobs()] == [A, C]

    def test_non_utf8_record_is_a_calibration_error_and_status_still_works(
        self, tree: DeployTree
    ) -> None:
        """A record with invalid UTF-8 is refused; list_jobs and status skip it, not crash."""
        _record_path(tree, B).write_bytes(b'{"job_id": "\xff\xfe"}')
        with pytest.raises(CalibrationError, match="not valid UTF-8"):
            tree.store.load(B)
        assert [job.job_id for job in tree.store.list_jobs()] == [A, C]
        report = deploy.status(tree.paths)
        assert [job["job_id"] for job in report.pending_jobs] == [C]

    def test_approving_a_corrupt_record_is_refused_and_nothing_changes(
        self, tree: DeployTree
    ) -> None:
        """Approving a non-UTF-8 record fails cleanly with live and archive untouched."""
        _record_path(tree, B).write_bytes(b"\x80" * 10)
        before = snapshot_tree(tree.root)
        with pytest.raises(CalibrationError, match="not valid UTF-8"):
            deploy.approve(tree.paths, B, approved_by="bob", now=ticking_clock())
        assert snapshot_tree(tree.root) == before


class TestRecordIsNotTrusted:
    def test_record_whose_job_id_differs_from_its_file_name_is_refused(
        self, tree: DeployTree
    ) -> None:
        """cal_B.json holding job_id C is refused: approve B can never deploy another id."""
        _rewrite(tree, B, job_id=C)
        before = snapshot_tree(tree.root)
        with pytest.raises(CalibrationError, match=f"holds job_id '{C}', not {B}"):
            tree.store.load(B)
        with pytest.raises(CalibrationError, match="holds job_id"):
            deploy.approve(tree.paths, B, approved_by="bob", now=ticking_clock())
        assert snapshot_tree(tree.root) == before
        assert [job.job_id for job in tree.store.list_jobs()] == [A, C]

    @pytest.mark.parametrize(
        ("field", "value", "pattern"),
        [
            ("validation_passed", "false", "validation_passed must be a JSON boolean"),
            ("validation_passed", 1, "validation_passed must be a JSON boolean"),
            ("forced", "false", "forced must be a JSON boolean"),
            ("forced", 0, "forced must be a JSON boolean"),
            ("risk_score", "0.1", "risk_score must be a finite number"),
            ("risk_score", True, "risk_score must be a finite number"),
            ("risk_score", None, "risk_score must be a finite number"),
            ("n_trades", 120.0, "n_trades must be a JSON integer"),
            ("n_trades", True, "n_trades must be a JSON integer"),
            ("n_trades", -1, "n_trades is negative"),
            ("risk_category", 3, "risk_category must be a JSON string"),
            ("data_hash", None, "data_hash must be a JSON string"),
            ("base_version", 5, "base_version must be a string or null"),
            ("checks", "none", "checks must be a list of objects"),
            ("events", [1], "events must be a list of objects"),
            ("summary", [], "summary must be a JSON object"),
        ],
    )
    def test_field_of_the_wrong_json_type_is_refused(
        self, tree: DeployTree, field: str, value: object, pattern: str
    ) -> None:
        """The string "false" is not true, a bool is not a number: each is refused by name."""
        _rewrite(tree, B, **{field: value})
        with pytest.raises(CalibrationError, match=pattern):
            tree.store.load(B)
        assert tree.live_version() == A

    def test_nan_risk_score_is_refused(self, tree: DeployTree) -> None:
        """A NaN risk score would compare False against the high-risk limit: refused."""
        path = _record_path(tree, B)
        path.write_text(path.read_text().replace('"risk_score": 0.1', '"risk_score": NaN'))
        with pytest.raises(CalibrationError, match="risk_score must be a finite number"):
            tree.store.load(B)

    def test_valid_record_round_trips(self, tree: DeployTree) -> None:
        """The strict reader still accepts what save wrote."""
        job = make_job(B, base_version=A, base_config_sha256="0" * 64)
        assert JobRecord.from_dict(job.to_dict()) == job
        assert tree.store.load(B).status == STATUS_PENDING


class TestAbortArchiveFailure:
    def test_unwritable_archive_area_is_a_deployment_error(self, tree: DeployTree) -> None:
        """A file planted at jobs/archived makes the archive fail: one DeploymentError line."""
        JobStore(tree.paths.jobs_dir).archived.write_text("not a directory")
        with pytest.raises(DeploymentError, match=f"cannot archive job {B} in .*run abort again"):
            deploy.abort(tree.paths, B, by="bob", now=ticking_clock())
        assert tree.store.load(B).status == STATUS_PENDING
