"""Crash consistency: SIGKILL a real approve/rollback process at every step, then recover."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import pytest

from calibration_core import deploy
from calibration_core.config import CalibrationConfig
from calibration_core.deploy.jobstore import STATUS_DEPLOYED
from calibration_core.exceptions import JobRefusedError
from calibration_core_tests.deploy_helpers import (
    DeployTree,
    make_config,
    make_tree,
    ticking_clock,
    version_id,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

A, B, C = (version_id(n) for n in range(3))
ROLLBACK_CHECKPOINTS = [
    c for c in deploy.CHECKPOINTS if c not in {"after_archive_new", "after_job_mark"}
]
# Up to here the old version is still live; from after_replace on the new one is.
BEFORE_REPLACE = {"after_lock", "after_backup", "after_archive_new", "after_tempfile_written"}


def _deploy(tree: DeployTree, version: str, shift: float) -> None:
    tree.add_job(version, config=make_config(version, shift=shift))
    deploy.approve(tree.paths, version, approved_by="alice", now=ticking_clock())


def _killed_at(tree: DeployTree, checkpoint: str, *args: str) -> None:
    proc = tree.run_cli(*args, env=tree.env(**{deploy.KILL_AT_ENV: checkpoint}))
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)


def _assert_survivable(tree: DeployTree, old: bytes, new_version: str) -> None:
    """After the kill: live parses and is the old or the new version; nothing live is unarchived."""
    live = tree.live_bytes()
    assert live is not None
    config = CalibrationConfig.from_json(live)  # parses and validates
    assert live == old or config.version == new_version
    ever_live = {r["version"] for r in tree.live_events()} | {config.version}
    assert ever_live <= tree.archived_versions()


class TestKilledApprove:
    @pytest.mark.parametrize("checkpoint", deploy.CHECKPOINTS)
    def test_kill_at_any_step_leaves_a_valid_config_and_a_clean_rerun(
        self, tmp_path: Path, checkpoint: str
    ) -> None:
        """SIGKILL at each step: old or new config live, archive complete, re-run finishes."""
        tree = make_tree(tmp_path / "site")
        _deploy(tree, A, shift=-0.02)
        tree.add_job(B, config=make_config(B, shift=0.04))
        old = tree.live_bytes()
        assert old is not None

        _killed_at(tree, checkpoint, "approve", B, "--yes")

        _assert_survivable(tree, old, B)
        assert tree.live_version() == (A if checkpoint in BEFORE_REPLACE else B)
        if checkpoint == "after_tempfile_written":
            assert tree.temp_files(), "the kill should leave the temp file behind"

        # The re-run: the killed holder's flock died with it, so no waiting on the lock.
        clock = ticking_clock()
        if checkpoint == "after_job_mark":
            with pytest.raises(JobRefusedError, match="already deployed"):
                deploy.approve(tree.paths, B, approved_by="bob", now=clock, lock_timeout=2)
        else:
            result = deploy.approve(tree.paths, B, approved_by="bob", now=clock, lock_timeout=2)
            assert result.resumed == (checkpoint not in BEFORE_REPLACE)
        assert tree.live_version() == B
        assert tree.store.load(B).status == STATUS_DEPLOYED
        assert tree.temp_files() == []
        tree.assert_consistent()
        assert [r["version"] for r in tree.live_events()] == [A, B]

        rolled = deploy.rollback(tree.paths, by="bob", reason="after crash", now=clock)
        assert (rolled.version, tree.live_bytes()) == (A, old)
        tree.assert_consistent()


class TestKilledRollback:
    @pytest.mark.parametrize("checkpoint", ROLLBACK_CHECKPOINTS)
    def test_kill_at_any_step_leaves_a_valid_config_and_a_clean_rerun(
        self, tmp_path: Path, checkpoint: str
    ) -> None:
        """SIGKILL at each rollback step: C or B live; re-running rollback B completes the chain."""
        tree = make_tree(tmp_path / "site")
        for n, version in enumerate((A, B, C)):
            _deploy(tree, version, shift=-0.03 + 0.02 * n)
        old = tree.live_bytes()
        assert old is not None

        _killed_at(tree, checkpoint, "rollback", "--yes")

        _assert_survivable(tree, old, B)
        assert tree.live_version() == (C if checkpoint in BEFORE_REPLACE else B)

        clock = ticking_clock()
        result = deploy.rollback(
            tree.paths, version=B, by="bob", reason="re-run", now=clock, lock_timeout=2
        )
        assert result.changed == (checkpoint in BEFORE_REPLACE)
        assert tree.live_version() == B
        assert tree.temp_files() == []
        tree.assert_consistent()
        # The walk down the deploy chain is intact: from B the previous version is A.
        assert deploy.rollback(tree.paths, by="bob", reason=None, now=clock).version == A
        tree.assert_consistent()


class TestArchivedButNeverLive:
    def test_rollback_to_the_leftover_of_a_killed_approve_is_refused(self, tmp_path: Path) -> None:
        """Killed at after_archive_new: B is archived but never ran; rollback B is refused.

        Re-running the approve still deploys B, and then B can be rolled back to normally.
        """
        tree = make_tree(tmp_path / "site")
        _deploy(tree, A, shift=-0.02)
        tree.add_job(B, config=make_config(B, shift=0.04))
        _killed_at(tree, "after_archive_new", "approve", B, "--yes")
        assert B in tree.archived_versions()
        live, audit = tree.live_bytes(), tree.audit()

        clock = ticking_clock()
        with pytest.raises(JobRefusedError, match=f"version {B} was never live.*approve job {B}"):
            deploy.rollback(tree.paths, version=B, by="bob", reason=None, now=clock)
        with pytest.raises(JobRefusedError, match="was never live"):
            deploy.plan_rollback(tree.paths, B)
        proc = tree.run_cli("rollback", B, "--yes")
        assert proc.returncode == 7
        assert "Traceback" not in proc.stderr
        assert f"error: version {B} was never live" in proc.stderr
        assert (tree.live_bytes(), tree.audit()) == (live, audit)

        assert deploy.approve(tree.paths, B, approved_by="bob", now=clock).changed
        deploy.rollback(tree.paths, version=A, by="bob", reason=None, now=clock)
        assert deploy.rollback(tree.paths, version=B, by="bob", reason=None, now=clock).changed
        assert tree.live_version() == B
        tree.assert_consistent()
