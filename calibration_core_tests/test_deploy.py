"""In-process tests of deploy.py: approve, abort, rollback, status, history, diff on real dirs."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import http.server
import json
import os
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from hypothesis import given, strategies as st

from calibration_core import deploy, fsio
from calibration_core.config import CalibrationConfig
from calibration_core.deploy.jobstore import STATUS_ABORTED, STATUS_DEPLOYED, STATUS_REJECTED
from calibration_core.exceptions import (
    ConfigRejectedError,
    DeploymentError,
    InvalidInputError,
    JobRefusedError,
)
from calibration_core_tests.deploy_helpers import (
    DeployTree,
    make_config,
    make_tree,
    snapshot_tree,
    ticking_clock,
    version_id,
)

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from calibration_core.settings import Paths

A, B, C, D = (version_id(n) for n in range(4))

BAD_NAMES = [
    "",
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    f"{A}\x00",
    f"{A}/../../x",
    f"calibration_archive/{A}",
    f"{A}.json",
    "live/..",
]


@pytest.fixture
def tree(tmp_path: Path) -> DeployTree:
    """Return a config dir and report dir with nothing live."""
    return make_tree(tmp_path / "site")


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """Return a clock ticking one second per call."""
    return ticking_clock()


def deploy_version(
    tree: DeployTree, version: str, clock: Callable[[], datetime], **job: Any
) -> deploy.DeployResult:
    """Create a job for ``version`` against the live config and approve it."""
    shift = -0.05 + 0.01 * (int(version[-2:]) % 10)
    tree.add_job(version, config=make_config(version, shift=shift), **job)
    return deploy.approve(tree.paths, version, approved_by="alice", now=clock)


@pytest.fixture
def chain(tree: DeployTree, clock: Callable[[], datetime]) -> DeployTree:
    """Return a tree where A → B → C were deployed through approve; C is live."""
    for version in (A, B, C):
        deploy_version(tree, version, clock)
    return tree


@contextlib.contextmanager
def lock_held(tree: DeployTree) -> Iterator[None]:
    """Hold the deploy lock from a separate open file description, as another process would."""
    fd = os.open(tree.paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _open_fds() -> int:
    with os.scandir("/proc/self/fd") as entries:
        return sum(1 for _ in entries)


def _sha(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


class TestApprove:
    def test_approved_job_is_live_archived_audited_signalled_and_marked(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """Approve writes the live file, its archive copy, sentinel, audit line and job mark."""
        deploy_version(tree, A, clock)
        result = deploy_version(tree, B, clock)
        live = tree.live_bytes()
        assert live is not None
        config = CalibrationConfig.from_json(live)
        assert (config.version, config.approved_by, config.source_job) == (B, "alice", B)
        assert config.approved_at == result.at
        assert (tree.paths.archive_dir / f"{B}.json").read_bytes() == live
        record = tree.audit()[-1]
        assert record == {
            "event": "deploy",
            "version": B,
            "previous_version": A,
            "job_id": B,
            "approved_by": "alice",
            "at": result.at,
            "config_sha256": _sha(live),
        }
        assert json.loads(tree.paths.sentinel.read_text())["version"] == B
        job = tree.store.load(B)
        assert job.status == STATUS_DEPLOYED
        assert job.events[-1]["by"] == "alice"
        assert (result.version, result.previous_version, result.changed) == (B, A, True)
        tree.assert_consistent()

    def test_first_deploy_has_no_previous_version(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """With no live config the first approve records previous_version null."""
        result = deploy_version(tree, A, clock)
        assert result.previous_version is None
        assert tree.audit() == [tree.audit()[0]]
        assert tree.audit()[0]["previous_version"] is None

    def test_deployed_files_are_readable_by_the_engine_user(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """The live file, archive entries, sentinel and audit trail are mode 0644."""
        old_umask = os.umask(0o077)
        try:
            deploy_version(tree, A, clock)
        finally:
            os.umask(old_umask)
        for path in (
            tree.paths.config,
            tree.paths.archive_dir / f"{A}.json",
            tree.paths.sentinel,
            tree.paths.audit_log,
        ):
            assert path.stat().st_mode & 0o777 == 0o644, path

    @pytest.mark.parametrize(
        ("job", "pattern"),
        [
            pytest.param({"status": STATUS_REJECTED}, "was rejected", id="rejected"),
            pytest.param({"status": STATUS_ABORTED}, "was aborted", id="aborted"),
            pytest.param({"status": STATUS_DEPLOYED}, "already deployed", id="deployed"),
            pytest.param({"forced": True}, r"run --force.*never deployable", id="forced"),
            pytest.param({"validation_passed": False}, "failed validation", id="failed"),
            pytest.param({"risk_category": "high", "risk_score": 0.3}, "high risk", id="category"),
            pytest.param({"risk_score": 0.41, "risk_category": "medium"}, "high risk", id="score"),
        ],
    )
    def test_undeployable_job_is_refused_and_nothing_changes(
        self,
        tree: DeployTree,
        clock: Callable[[], datetime],
        job: dict[str, Any],
        pattern: str,
    ) -> None:
        """Rejected, aborted, deployed, forced, failed and high-risk jobs are refused."""
        deploy_version(tree, A, clock)
        tree.add_job(B, **job)
        before = snapshot_tree(tree.root)
        with pytest.raises(JobRefusedError, match=pattern):
            deploy.approve(tree.paths, B, approved_by="bob", now=clock)
        assert snapshot_tree(tree.root) == before

    def test_unknown_job_is_refused(self, tree: DeployTree, clock: Callable[[], datetime]) -> None:
        """A job id with no record is refused with the jobs directory named."""
        with pytest.raises(JobRefusedError, match=f"unknown job {A}"):
            deploy.approve(tree.paths, A, approved_by="bob", now=clock)

    def test_job_computed_against_another_version_is_stale(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A job whose base version is no longer live is refused as stale."""
        deploy_version(tree, A, clock)
        tree.add_job(C)  # computed against A
        deploy_version(tree, B, clock)
        before = tree.live_bytes()
        with pytest.raises(JobRefusedError, match=rf"{C} is stale: .* against {A} .* now {B}"):
            deploy.approve(tree.paths, C, approved_by="bob", now=clock)
        assert tree.live_bytes() == before

    def test_job_computed_against_other_bytes_of_the_same_version_is_stale(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """The base sha256 is compared too: a hand edit of the live file makes jobs stale."""
        deploy_version(tree, A, clock)
        tree.add_job(B)
        tree.write_live(make_config(A, shift=0.07))
        with pytest.raises(JobRefusedError, match="its content changed"):
            deploy.approve(tree.paths, B, approved_by="bob", now=clock)

    @pytest.mark.parametrize("name", BAD_NAMES)
    def test_bad_job_id_is_refused_before_it_touches_a_path(
        self, tree: DeployTree, clock: Callable[[], datetime], name: str
    ) -> None:
        """Path-like, NUL-carrying and malformed ids are refused and nothing is written."""
        before = snapshot_tree(tree.root.parent)
        with pytest.raises(JobRefusedError, match="invalid job id"):
            deploy.approve(tree.paths, name, approved_by="bob", now=clock)
        assert snapshot_tree(tree.root.parent) == before

    def test_missing_config_directory_is_named_and_not_created(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """Approve into a missing config dir fails naming it, and creates no directory."""
        tree.add_job(A)
        tree.paths.config_dir.rmdir()
        before = snapshot_tree(tree.root)
        with pytest.raises(DeploymentError, match=str(tree.paths.config_dir)):
            deploy.approve(tree.paths, A, approved_by="bob", now=clock)
        assert snapshot_tree(tree.root) == before

    @pytest.mark.parametrize("name", ["", "a\nb", "x" * 129, "nul\x00"])
    def test_unprintable_approver_is_refused(
        self, tree: DeployTree, clock: Callable[[], datetime], name: str
    ) -> None:
        """approved_by must be 1-128 printable characters."""
        tree.add_job(A)
        with pytest.raises(InvalidInputError, match="approved_by must be"):
            deploy.approve(tree.paths, A, approved_by=name, now=clock)

    def test_hand_edited_live_config_is_kept_beside_its_archived_copy(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """When the live bytes differ from the archived copy, both survive the next deploy."""
        deploy_version(tree, A, clock)
        original = tree.live_bytes()
        edited = tree.write_live(make_config(A, shift=0.09, approved_by="vim"))
        result = deploy_version(tree, B, clock)
        assert (tree.paths.archive_dir / f"{A}.json").read_bytes() == original
        backups = list(tree.paths.archive_dir.glob(f"{A}_backup_*.json"))
        assert [p.read_bytes() for p in backups] == [edited]
        assert any("edited by hand" in w for w in result.warnings)

    def test_unparseable_live_config_is_saved_before_it_is_replaced(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A corrupt live file's raw bytes are kept as corrupt_<stamp>.json.bak."""
        tree.paths.config.write_bytes(b"{garbage")
        tree.add_job(A)  # base: no version, sha256 of the garbage
        result = deploy.approve(tree.paths, A, approved_by="bob", now=clock)
        saved = list(tree.paths.archive_dir.glob("corrupt_*.json.bak"))
        assert [p.read_bytes() for p in saved] == [b"{garbage"]
        assert any("unparseable" in w for w in result.warnings)
        assert tree.live_version() == A

    def test_oversized_live_file_is_backed_up_whole(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A live file over the 1 MiB parse limit is kept byte for byte, not truncated."""
        junk = b"x" * (3 * 1024 * 1024)
        tree.paths.config.write_bytes(junk)
        tree.add_job(A)
        deploy.approve(tree.paths, A, approved_by="bob", now=clock)
        saved = list(tree.paths.archive_dir.glob("corrupt_*.json.bak"))
        assert [p.read_bytes() == junk for p in saved] == [True]

    def test_fifo_at_the_live_path_is_refused_without_hanging(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A FIFO where calibration.json should be fails cleanly; status reports it."""
        tree.add_job(A)
        os.mkfifo(tree.paths.config)
        with pytest.raises(DeploymentError, match="not a regular file"):
            deploy.approve(tree.paths, A, approved_by="bob", now=clock)
        assert "not a regular file" in (deploy.status(tree.paths).live_error or "")

    def test_directory_at_the_live_path_is_refused_without_leaking_a_descriptor(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A directory where calibration.json should be: one DeploymentError, no fd left open."""
        tree.add_job(A)
        tree.paths.config.mkdir()
        fds = _open_fds()
        with pytest.raises(DeploymentError, match="not a regular file"):
            deploy.read_live(tree.paths)
        with pytest.raises(DeploymentError, match="not a regular file"):
            deploy.approve(tree.paths, A, approved_by="bob", now=clock)
        assert _open_fds() == fds
        assert "not a regular file" in (deploy.status(tree.paths).live_error or "")

    def test_directory_at_the_audit_path_is_refused_cleanly(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A directory at audit.jsonl: history and approve fail in one line; status still works."""
        chain.paths.audit_log.rename(chain.paths.audit_log.with_suffix(".moved"))
        chain.paths.audit_log.mkdir()
        chain.add_job(D)
        live = chain.live_bytes()
        fds = _open_fds()
        with pytest.raises(DeploymentError, match=r"audit trail .*not a regular file"):
            deploy.history(chain.paths)
        with pytest.raises(DeploymentError, match="audit"):
            deploy.approve(chain.paths, D, approved_by="bob", now=clock)
        assert _open_fds() == fds
        assert chain.live_bytes() == live
        assert deploy.status(chain.paths).live_version == C

    def test_directory_flush_failing_after_the_rename_says_the_version_is_live(
        self, tree: DeployTree, clock: Callable[[], datetime], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """EIO from fsync of the config dir after os.replace: B is live and the result says so."""
        deploy_version(tree, A, clock)
        tree.add_job(B)
        real = fsio.fsync_directory

        def failing(directory: Path) -> None:
            if directory == tree.paths.config_dir:
                raise OSError(errno.EIO, "Input/output error")
            real(directory)

        monkeypatch.setattr(fsio, "fsync_directory", failing)
        result = deploy.approve(tree.paths, B, approved_by="bob", now=clock)
        assert result.changed
        assert any(w.startswith(f"{B} IS LIVE, but the directory entry") for w in result.warnings)
        assert tree.live_version() == B
        assert tree.audit()[-1]["version"] == B
        monkeypatch.undo()
        tree.assert_consistent()

    def test_leftover_archive_of_a_version_never_live_is_replaced(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """An archive entry left by an approve killed before going live is overwritten."""
        deploy_version(tree, A, clock)
        tree.paths.archive_dir.joinpath(f"{B}.json").write_text(make_config(B).to_json())
        deploy_version(tree, B, clock)
        assert tree.paths.archive_dir.joinpath(f"{B}.json").read_bytes() == tree.live_bytes()
        tree.assert_consistent()

    def test_job_already_live_after_an_interrupted_approve_is_finished(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """Killed after the audit line but before the mark: approving again only marks it."""
        deploy_version(tree, A, clock)
        pending = tree.add_job(B)
        deploy.approve(tree.paths, B, approved_by="alice", now=clock)
        tree.store.save(pending)  # the job record as it was before the kill
        audit = tree.audit()
        result = deploy.approve(tree.paths, B, approved_by="bob", now=clock)
        assert (result.resumed, result.changed, result.previous_version) == (True, False, A)
        assert result.by == "alice"  # the approver recorded in the live config
        assert tree.store.load(B).status == STATUS_DEPLOYED
        assert tree.audit() == audit
        tree.assert_consistent()

    def test_live_config_without_audit_line_is_recorded_as_a_recovered_deploy(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """Killed between os.replace and the audit append: the re-run records and finishes it."""
        deploy_version(tree, A, clock)
        tree.add_job(B)
        live_b = make_config(B, approved_by="alice")
        data = tree.write_live(live_b)
        tree.paths.archive_dir.joinpath(f"{B}.json").write_bytes(data)
        result = deploy.approve(tree.paths, B, approved_by="bob", now=clock)
        assert result.resumed
        recovered = tree.audit()[-1]
        assert (recovered["event"], recovered["as"]) == ("recovered", "deploy")
        assert (recovered["version"], recovered["previous_version"]) == (B, A)
        assert recovered["approved_by"] == "alice"
        tree.assert_consistent()
        assert deploy.rollback(tree.paths, by="bob", reason=None, now=clock).version == A

    def test_version_that_was_live_before_cannot_be_approved_again(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A job whose version was deployed then rolled back is refused and its record repaired."""
        deploy_version(tree, A, clock)
        pending = tree.add_job(B)
        deploy.approve(tree.paths, B, approved_by="alice", now=clock)
        deploy.rollback(tree.paths, by="alice", reason=None, now=clock)
        tree.store.save(pending)  # killed before the mark, then someone rolled back
        with pytest.raises(JobRefusedError, match=f"already deployed.*rollback {B}"):
            deploy.approve(tree.paths, B, approved_by="bob", now=clock)
        assert tree.store.load(B).status == STATUS_DEPLOYED
        assert tree.live_version() == A

    def test_lock_held_by_another_process_times_out_cleanly(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A held lock makes approve fail after its timeout, with nothing changed."""
        deploy_version(tree, A, clock)
        tree.add_job(B)
        before = snapshot_tree(tree.root)
        with lock_held(tree), pytest.raises(DeploymentError, match="another approve/rollback"):
            deploy.approve(tree.paths, B, approved_by="bob", now=clock, lock_timeout=0.05)
        assert snapshot_tree(tree.root) == before

    @pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0])
    def test_lock_timeout_that_could_wait_forever_is_refused(
        self, tree: DeployTree, clock: Callable[[], datetime], timeout: float
    ) -> None:
        """A NaN/infinite/negative lock timeout is an InvalidInputError, even with the lock held."""
        tree.add_job(A)
        with (
            lock_held(tree),
            pytest.raises(InvalidInputError, match="lock_timeout must be a finite number"),
        ):
            deploy.approve(tree.paths, A, approved_by="bob", now=clock, lock_timeout=timeout)
        assert tree.live_bytes() is None

    def test_stale_temp_files_of_a_killed_writer_are_removed(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """Temp files in the config and archive dirs are cleaned under the lock."""
        deploy_version(tree, A, clock)
        for directory in (tree.paths.config_dir, tree.paths.archive_dir):
            directory.joinpath(".tmp-calibration-dead.json").write_text("{")
        deploy_version(tree, B, clock)
        assert tree.temp_files() == []

    def test_symlinked_archive_directory_is_refused(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """An archive dir that is a symlink elsewhere is refused; nothing is written there."""
        elsewhere = tree.root / "elsewhere"
        elsewhere.mkdir()
        tree.paths.archive_dir.symlink_to(elsewhere)
        tree.add_job(A)
        with pytest.raises(DeploymentError, match="refusing archive directory"):
            deploy.approve(tree.paths, A, approved_by="bob", now=clock)
        assert list(elsewhere.iterdir()) == []
        assert tree.live_bytes() is None

    @pytest.mark.parametrize("target", ["/etc/passwd", "outside.json"])
    def test_symlink_planted_at_the_new_archive_entry_is_refused(
        self, tree: DeployTree, clock: Callable[[], datetime], target: str
    ) -> None:
        """A symlink where the new version will be archived is neither followed nor replaced."""
        deploy_version(tree, A, clock)
        tree.add_job(B)
        outside = tree.root / "outside.json"
        outside.write_text(make_config(B).to_json())
        link = tree.paths.archive_dir / f"{B}.json"
        link.symlink_to(target if target.startswith("/") else outside)
        before = snapshot_tree(tree.root)
        with pytest.raises(JobRefusedError, match="it is a symlink"):
            deploy.approve(tree.paths, B, approved_by="bob", now=clock)
        assert snapshot_tree(tree.root, ignore=[]) == before

    def test_symlinked_audit_trail_is_refused_before_anything_changes(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """audit.jsonl is opened with O_NOFOLLOW: a planted link stops the deploy early."""
        tree.add_job(A)
        tree.paths.archive_dir.mkdir()
        target = tree.root / "elsewhere.jsonl"
        target.write_text("")
        tree.paths.audit_log.symlink_to(target)
        with pytest.raises(DeploymentError, match="it is a symlink"):
            deploy.approve(tree.paths, A, approved_by="bob", now=clock)
        assert target.read_text() == ""
        assert tree.live_bytes() is None

    def test_unreachable_cadence_api_does_not_fail_the_deploy(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """The Learning Cadence notification is best effort: a failure is reported, not raised."""
        paths = attrs.evolve(tree.paths, cadence_api="http://127.0.0.1:9")
        tree.add_job(A)
        result = deploy.approve(paths, A, approved_by="bob", now=clock)
        assert result.cadence is not None
        assert result.cadence[0] is False
        assert tree.live_version() == A

    def test_cadence_api_is_told_about_the_deploy(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A real HTTP server on 127.0.0.1 receives the deployment notice."""
        received: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(self.rfile.read(length).decode())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            paths = attrs.evolve(tree.paths, cadence_api=f"http://127.0.0.1:{server.server_port}")
            tree.add_job(A)
            deploy.approve(paths, A, approved_by="bob", now=clock)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
        assert any(A in body for body in received)


class TestRollback:
    def test_rollback_walks_back_down_the_deploy_chain(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A → B → C: rollback gives B, again A, then refuses with no earlier version."""
        first = deploy.rollback(chain.paths, by="carol", reason="drawdown", now=clock)
        assert (first.version, first.previous_version) == (B, C)
        second = deploy.rollback(chain.paths, by="carol", reason=None, now=clock)
        assert (second.version, second.previous_version) == (A, B)
        with pytest.raises(JobRefusedError, match=f"no earlier version to roll back to from {A}"):
            deploy.rollback(chain.paths, by="carol", reason=None, now=clock)
        record = chain.audit()[-2]
        assert record == {
            "event": "rollback",
            "version": B,
            "previous_version": C,
            "by": "carol",
            "reason": "drawdown",
            "at": first.at,
            "config_sha256": first.config_sha256,
        }
        chain.assert_consistent()

    def test_expected_current_refuses_when_the_live_version_moved_on(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A caller that judged B is refused once C is live: nothing changes, nothing audited."""
        before, audit = chain.live_bytes(), chain.audit()
        with pytest.raises(JobRefusedError, match=f"the live version is {C}, not {B}"):
            deploy.rollback(chain.paths, by="monitor", reason="x", now=clock, expected_current=B)
        assert chain.live_bytes() == before
        assert chain.audit() == audit

    def test_expected_current_allows_the_rollback_when_it_still_holds(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """With the judged version still live, the rollback goes through as usual."""
        result = deploy.rollback(
            chain.paths, by="monitor", reason="x", now=clock, expected_current=C
        )
        assert (result.version, result.previous_version) == (B, C)

    @pytest.mark.parametrize("seen", ["absent", "other-bytes"])
    def test_expected_sha256_refuses_when_the_live_file_changed(
        self, chain: DeployTree, clock: Callable[[], datetime], seen: str
    ) -> None:
        """A plan made with no live file (or other bytes) is refused once the file changed."""
        expected = deploy.NO_LIVE_CONFIG if seen == "absent" else _sha(b"other")
        before, audit = chain.live_bytes(), chain.audit()
        with pytest.raises(JobRefusedError, match="changed since the rollback was planned"):
            deploy.rollback(
                chain.paths, version=A, by="bob", reason=None, now=clock, expected_sha256=expected
            )
        assert chain.live_bytes() == before
        assert chain.audit() == audit

    def test_expected_sha256_of_no_live_file_allows_the_rollback(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """With still no live file, NO_LIVE_CONFIG lets the rollback restore the named version."""
        chain.paths.config.unlink()
        plan = deploy.plan_rollback(chain.paths, A)
        assert (plan.current, plan.current_sha256) == (None, deploy.NO_LIVE_CONFIG)
        result = deploy.rollback(
            chain.paths,
            version=A,
            by="bob",
            reason=None,
            now=clock,
            expected_sha256=plan.current_sha256,
        )
        assert result.changed
        assert chain.live_version() == A

    def test_rollback_restores_the_archived_bytes_exactly(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """The restored live file is byte-equal to calibration_archive/<version>.json."""
        deploy.rollback(chain.paths, version=A, by="carol", reason=None, now=clock)
        assert chain.live_bytes() == (chain.paths.archive_dir / f"{A}.json").read_bytes()
        assert deploy.status(chain.paths).matches_archive is True
        assert json.loads(chain.paths.sentinel.read_text())["event"] == "rollback"

    def test_deploy_after_a_rollback_rolls_back_to_the_restored_version(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A → B → C, rollback to B, deploy D: rollback gives B, then A."""
        deploy.rollback(chain.paths, by="carol", reason=None, now=clock)
        deploy_version(chain, D, clock)
        assert deploy.rollback(chain.paths, by="c", reason=None, now=clock).version == B
        assert deploy.rollback(chain.paths, by="c", reason=None, now=clock).version == A

    def test_rolling_back_to_the_live_version_changes_nothing(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """When the target's archived bytes are live already, nothing is written or audited."""
        audit = chain.audit()
        result = deploy.rollback(chain.paths, version=C, by="carol", reason=None, now=clock)
        assert not result.changed
        assert chain.audit() == audit

    def test_hand_edited_live_version_can_be_restored_from_its_archive(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """Rolling back to the live version undoes a hand edit and keeps the edit as a backup."""
        edited = chain.write_live(make_config(C, shift=0.1))
        result = deploy.rollback(chain.paths, version=C, by="carol", reason=None, now=clock)
        assert result.changed
        assert chain.live_bytes() == (chain.paths.archive_dir / f"{C}.json").read_bytes()
        backups = list(chain.paths.archive_dir.glob(f"{C}_backup_*.json"))
        assert [p.read_bytes() for p in backups] == [edited]

    @pytest.mark.parametrize("name", BAD_NAMES)
    def test_bad_version_name_is_refused_before_it_touches_a_path(
        self, chain: DeployTree, clock: Callable[[], datetime], name: str
    ) -> None:
        """Names are checked against the strict pattern before any path is built."""
        before = snapshot_tree(chain.root.parent)
        with pytest.raises(JobRefusedError, match="invalid version"):
            deploy.rollback(chain.paths, version=name, by="carol", reason=None, now=clock)
        assert snapshot_tree(chain.root.parent) == before

    def test_unknown_version_points_at_history(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A well-formed version with no archive entry is refused, naming `history`."""
        with pytest.raises(JobRefusedError, match=r"unknown version .*history"):
            deploy.rollback(chain.paths, version=D, by="carol", reason=None, now=clock)

    @pytest.mark.parametrize("target", ["/etc/passwd", "valid-elsewhere"])
    def test_symlink_planted_in_the_archive_is_not_followed(
        self, chain: DeployTree, clock: Callable[[], datetime], target: str
    ) -> None:
        """An archive entry that is a symlink (to /etc/passwd or a valid config) is refused."""
        outside = chain.root / "outside.json"
        outside.write_text(make_config(D).to_json())
        link = chain.paths.archive_dir / f"{D}.json"
        link.symlink_to(target if target.startswith("/") else outside)
        live = chain.live_bytes()
        with pytest.raises(JobRefusedError, match="it is a symlink"):
            deploy.rollback(chain.paths, version=D, by="carol", reason=None, now=clock)
        assert chain.live_bytes() == live

    def test_fifo_planted_in_the_archive_is_refused_without_hanging(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A FIFO in place of an archive entry is refused as not a regular file."""
        os.mkfifo(chain.paths.archive_dir / f"{D}.json")
        with pytest.raises(JobRefusedError, match="not a regular file"):
            deploy.rollback(chain.paths, version=D, by="carol", reason=None, now=clock)

    def test_directory_planted_in_the_archive_is_refused_cleanly(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A directory in place of an archive entry is refused, its descriptor closed."""
        (chain.paths.archive_dir / f"{D}.json").mkdir()
        live = chain.live_bytes()
        fds = _open_fds()
        with pytest.raises(JobRefusedError, match="not a regular file"):
            deploy.rollback(chain.paths, version=D, by="carol", reason=None, now=clock)
        with pytest.raises(JobRefusedError, match="not a regular file"):
            deploy.read_archived(chain.paths, D)
        assert _open_fds() == fds
        assert chain.live_bytes() == live

    @pytest.mark.parametrize(
        ("content", "pattern"),
        [
            pytest.param(b"", "file is empty", id="empty"),
            pytest.param(b'{"version": ', "not valid JSON", id="truncated"),
            pytest.param(b"\x00" * 64, "not valid JSON", id="zeros"),
        ],
    )
    def test_corrupt_archive_entry_is_refused_and_live_untouched(
        self, chain: DeployTree, clock: Callable[[], datetime], content: bytes, pattern: str
    ) -> None:
        """A corrupted archive entry raises a one-line ConfigRejectedError; live is byte-equal."""
        (chain.paths.archive_dir / f"{A}.json").write_bytes(content)
        live = chain.live_bytes()
        with pytest.raises(
            ConfigRejectedError, match=rf"archived version {A} is corrupt.*{pattern}"
        ):
            deploy.rollback(chain.paths, version=A, by="carol", reason=None, now=clock)
        assert chain.live_bytes() == live

    def test_archive_entry_holding_another_version_is_refused(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """cal_X.json must contain version cal_X."""
        (chain.paths.archive_dir / f"{A}.json").write_text(make_config(B).to_json())
        with pytest.raises(ConfigRejectedError, match=f"holds version {B}, not {A}"):
            deploy.rollback(chain.paths, version=A, by="carol", reason=None, now=clock)

    def test_monitor_can_roll_back_with_a_fixed_moment(self, chain: DeployTree) -> None:
        """rollback(paths, by=, reason=, now=datetime) works for the monitor job."""
        moment = datetime(2026, 3, 1, tzinfo=UTC)
        result = deploy.rollback(
            chain.paths, by="monitor", reason="rolled back by monitor", now=moment
        )
        assert (result.version, result.at) == (B, "2026-03-01T00:00:00+00:00")
        assert chain.audit()[-1]["reason"] == "rolled back by monitor"

    def test_rollback_without_a_live_config_needs_a_version(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """With the live file gone, plain rollback refuses; rollback VERSION restores it."""
        chain.paths.config.unlink()
        with pytest.raises(JobRefusedError, match="live config is absent"):
            deploy.rollback(chain.paths, by="carol", reason=None, now=clock)
        result = deploy.rollback(chain.paths, version=B, by="carol", reason=None, now=clock)
        assert (result.version, result.previous_version) == (B, None)

    def test_plan_names_the_same_target_as_the_rollback(self, chain: DeployTree) -> None:
        """plan_rollback (no lock, no writes) agrees with what rollback restores."""
        plan = deploy.plan_rollback(chain.paths)
        assert (plan.current, plan.target, plan.already_live) == (C, B, False)
        assert plan.target_config.version == B


class TestAbort:
    def test_aborted_job_is_archived_and_audited(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """Abort moves the record to jobs/archived/ and appends an abort line; nothing deploys."""
        chain.add_job(D)
        live = chain.live_bytes()
        result = deploy.abort(chain.paths, D, by="dave", reason="bad data", now=clock)
        assert result.audited
        assert not (chain.paths.jobs_dir / f"{D}.json").exists()
        assert chain.store.load(D).status == STATUS_ABORTED
        assert chain.audit()[-1] == {
            "event": "abort",
            "job_id": D,
            "by": "dave",
            "reason": "bad data",
            "at": result.at,
        }
        assert chain.live_bytes() == live
        with pytest.raises(JobRefusedError, match="was aborted"):
            deploy.approve(chain.paths, D, approved_by="dave", now=clock)

    @pytest.mark.parametrize(
        ("version", "pattern"), [(C, "is deployed"), (D, "unknown job"), ("../x", "invalid")]
    )
    def test_deployed_unknown_and_invalid_jobs_are_refused(
        self, chain: DeployTree, clock: Callable[[], datetime], version: str, pattern: str
    ) -> None:
        """Abort refuses a deployed job, an unknown job and an invalid id."""
        with pytest.raises(JobRefusedError, match=pattern):
            deploy.abort(chain.paths, version, by="dave", now=clock)

    def test_abort_twice_is_refused(self, tree: DeployTree, clock: Callable[[], datetime]) -> None:
        """An aborted job cannot be aborted again."""
        tree.add_job(A)
        deploy.abort(tree.paths, A, by="dave", now=clock)
        with pytest.raises(JobRefusedError, match="already aborted"):
            deploy.abort(tree.paths, A, by="dave", now=clock)

    def test_rejected_job_can_be_archived(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A rejected proposal can be cleared out of the pending area."""
        tree.add_job(A, status=STATUS_REJECTED)
        assert deploy.abort(tree.paths, A, by="dave", now=clock).audited

    def test_missing_config_directory_still_aborts_without_audit(
        self, tree: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """With no config dir the job is aborted, no audit line is written, a warning says so."""
        tree.add_job(A)
        tree.paths.config_dir.rmdir()
        result = deploy.abort(tree.paths, A, by="dave", now=clock)
        assert not result.audited
        assert any("without audit" in w for w in result.warnings)
        assert not tree.paths.config_dir.exists()
        assert tree.store.load(A).status == STATUS_ABORTED


class TestStatus:
    def test_status_reports_live_version_archive_match_pending_and_last_event(
        self, chain: DeployTree
    ) -> None:
        """Status shows the live config, that it matches its archive copy, pending jobs, audit."""
        chain.add_job(D)
        chain.store.save(attrs.evolve(chain.store.load(D), job_id=version_id(5), base_version=A))
        report = deploy.status(chain.paths)
        assert (report.live_version, report.approved_by, report.matches_archive) == (
            C,
            "alice",
            True,
        )
        assert report.config_sha256 == _sha(chain.live_bytes())
        assert [(j["job_id"], j["stale"]) for j in report.pending_jobs] == [
            (D, False),
            (version_id(5), True),
        ]
        assert report.last_audit_event is not None
        assert report.last_audit_event["version"] == C
        assert not report.lock_held

    def test_status_sees_a_held_lock(self, chain: DeployTree) -> None:
        """While another process holds the deploy lock, status says so."""
        with lock_held(chain):
            assert deploy.status(chain.paths).lock_held
        assert not deploy.status(chain.paths).lock_held

    def test_status_flags_a_live_file_that_differs_from_its_archive(
        self, chain: DeployTree
    ) -> None:
        """A hand-edited live file is reported as not matching its archived copy."""
        chain.write_live(make_config(C, shift=0.1))
        assert deploy.status(chain.paths).matches_archive is False

    def test_status_of_an_unparseable_live_file_names_the_problem(self, chain: DeployTree) -> None:
        """A corrupt live file shows its parse error instead of a version."""
        chain.paths.config.write_text("{")
        report = deploy.status(chain.paths)
        assert report.live_version is None
        assert report.live_error is not None
        assert "not valid JSON" in report.live_error

    def test_status_writes_nothing(self, tree: DeployTree) -> None:
        """Status on an empty tree creates no file or directory."""
        before = snapshot_tree(tree.root)
        report = deploy.status(tree.paths)
        assert (report.live_version, report.pending_jobs, report.lock_held) == (None, (), False)
        assert snapshot_tree(tree.root) == before


class TestHistory:
    def test_history_lists_every_event_and_summarises_each_version(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """History has one row per event and per-version counts, approvers and archive flags."""
        deploy.rollback(chain.paths, by="carol", reason="x", now=clock)
        chain.add_job(D)
        deploy.abort(chain.paths, D, by="dave", now=clock)
        report = deploy.history(chain.paths)
        assert [e["event"] for e in report.events] == [
            "deploy",
            "deploy",
            "deploy",
            "rollback",
            "abort",
        ]
        summary = {v.version: v for v in report.versions}
        assert set(summary) == {A, B, C}
        assert (summary[B].times_made_live, summary[B].live_now) == (2, True)
        assert summary[C].deployed_by == "alice"
        assert all(v.archived for v in report.versions)
        assert report.live_version == B

    def test_torn_audit_line_is_reported_and_the_next_record_starts_a_new_line(
        self, chain: DeployTree, clock: Callable[[], datetime]
    ) -> None:
        """A half-written last line (writer killed) is listed as bad; later records still parse."""
        with chain.paths.audit_log.open("a") as handle:
            handle.write('{"event": "depl')
        deploy.rollback(chain.paths, by="carol", reason=None, now=clock)
        trail = deploy.read_audit(chain.paths)
        assert trail.bad_lines == (4,)
        assert trail.records[-1]["event"] == "rollback"
        assert deploy.status(chain.paths).audit_bad_lines == (4,)


class TestDiff:
    def test_diff_of_two_archived_versions_compares_the_grid_and_weights(
        self, chain: DeployTree
    ) -> None:
        """Diffing A and B gives the calibrated values on 0.50..0.95 and the weight deltas."""
        result = deploy.diff(chain.paths, A, B)
        assert [x for x, _, _ in result.grid] == [
            0.5,
            0.55,
            0.6,
            0.65,
            0.7,
            0.75,
            0.8,
            0.85,
            0.9,
            0.95,
        ]
        a, b = (
            CalibrationConfig.from_json(chain.paths.archive_dir.joinpath(f"{v}.json").read_bytes())
            for v in (A, B)
        )
        assert result.grid[0][1:] == (
            deploy.calibrated_value(a.confidence, 0.5),
            deploy.calibrated_value(b.confidence, 0.5),
        )
        assert result.grid[0][2] - result.grid[0][1] == pytest.approx(0.01)
        assert not result.identical

    def test_diff_of_a_job_against_live_shows_weight_changes_and_flags(
        self, chain: DeployTree
    ) -> None:
        """A job's proposal is compared with the live config: weights, enabled flags, others."""
        weights = {"xgb": 0.274, "lgbm": 0.326, "nhits": 0.2, "patchtst": 0.2}
        chain.add_job(
            D, config=make_config(D, weights=weights, confidence_enabled=False, data_hash="h2")
        )
        result = deploy.diff(chain.paths, "live", D)
        deltas = {
            m: round(b - a, 3) for m, a, b in result.weights if a is not None and b is not None
        }
        assert deltas == {"xgb": -0.026, "lgbm": 0.026, "nhits": 0.0, "patchtst": 0.0}
        assert ("confidence_calibration", True, False) in result.enabled
        assert all(b == x for x, _, b in result.grid)  # disabled map: raw confidence
        assert ("data_hash", "sha256:feed", "h2") in result.other
        assert result.a_label == f"live ({C})"
        assert result.b_label == f"job {D}"

    def test_diff_of_a_version_with_itself_is_identical(self, chain: DeployTree) -> None:
        """Comparing live with its own archived version finds no difference."""
        assert deploy.diff(chain.paths, "live", C).identical

    def test_models_on_one_side_only_are_listed(self) -> None:
        """A model missing on one side shows None there."""
        a = make_config(A, weights={"x": 0.4, "y": 0.3, "z": 0.3})
        b = make_config(B, weights={"x": 0.4, "y": 0.3, "w": 0.3})
        result = deploy.compare_configs(a, b)
        assert ("z", 0.3, None) in result.weights
        assert ("w", None, 0.3) in result.weights

    @pytest.mark.parametrize(
        ("ref", "pattern"), [("../x", "invalid version"), (version_id(9), "unknown version")]
    )
    def test_bad_or_unknown_reference_is_refused(
        self, chain: DeployTree, ref: str, pattern: str
    ) -> None:
        """Diff validates names and says how to find the known versions."""
        with pytest.raises(JobRefusedError, match=pattern):
            deploy.diff(chain.paths, ref, "live")


class TestPreviousVersionOf:
    @given(st.integers(1, 12))
    def test_rollback_walks_the_deploy_chain_in_reverse(self, n: int) -> None:
        """After n deploys, repeated "previous" steps visit them newest to oldest, then None."""
        versions = [version_id(i) for i in range(n)]
        records: list[dict[str, Any]] = [
            {"event": "deploy", "version": v, "previous_version": versions[i - 1] if i else None}
            for i, v in enumerate(versions)
        ]
        seen = [versions[-1]]
        while (previous := deploy.previous_version_of(records, seen[-1])) is not None:
            records.append({"event": "rollback", "version": previous, "previous_version": seen[-1]})
            seen.append(previous)
        assert seen == versions[::-1]

    def test_recovered_deploys_count_and_recovered_rollbacks_do_not(self) -> None:
        """A recovered record counts as a deploy only when it says so."""
        records: list[dict[str, Any]] = [
            {"event": "deploy", "version": A, "previous_version": None},
            {"event": "recovered", "as": "deploy", "version": B, "previous_version": A},
            {"event": "recovered", "as": "rollback", "version": A, "previous_version": B},
        ]
        assert deploy.previous_version_of(records, B) == A
        assert deploy.previous_version_of(records, A) is None
        assert deploy.previous_version_of(records, None) is None


class TestTwoConfigsInOneDirectory:
    """Issue 11 item 12: a second live config may not share a directory's archive, lock and audit.

    The archive records the file name it belongs to (``live_config_name``, written under the
    lock by the first approve, rollback or abort); any other config file in that directory is
    refused by every job with one line, and nothing is written.
    """

    @pytest.fixture
    def shared(self, tree: DeployTree, clock: Callable[[], datetime]) -> tuple[DeployTree, Paths]:
        """Deploy A → B for calibration.json and put a hand-made second config beside it."""
        deploy_version(tree, A, clock)
        deploy_version(tree, B, clock)
        other = attrs.evolve(tree.paths, config=tree.paths.config_dir / "calibration_b.json")
        other.config.write_text(make_config(D, shift=0.05).to_json())
        return tree, other

    def test_the_archive_names_its_config(self, shared: tuple[DeployTree, Paths]) -> None:
        """The first locked job claims the archive for its file name."""
        tree, _ = shared
        owner = tree.paths.archive_dir / deploy.OWNER_FILE_NAME
        assert owner.read_text() == "calibration.json\n"

    def test_rollback_of_the_other_config_to_a_version_of_the_first_is_refused(
        self, shared: tuple[DeployTree, Paths]
    ) -> None:
        """`rollback --config B <A's version>` is refused; no false recovered record appears."""
        tree, other = shared
        before = snapshot_tree(tree.root)
        proc = tree.run_cli("rollback", A, "--yes", "--config", str(other.config))
        assert proc.returncode == 6, proc.stderr
        line = _error_line(proc)
        assert "refusing calibration_b.json: its directory" in line
        assert "already holds the live config 'calibration.json'" in line
        assert "give calibration_b.json a directory of its own (nothing was changed)" in line
        assert snapshot_tree(tree.root) == before
        assert not [r for r in tree.audit() if r["event"] == "recovered"]

    @pytest.mark.parametrize(
        "args",
        [
            ("status",),
            ("history",),
            ("diff", "live", "live"),
            ("rollback", "--yes"),
            ("approve", version_id(50), "--yes"),
            ("abort", version_id(50)),
        ],
    )
    def test_every_job_refuses_the_second_config(
        self, shared: tuple[DeployTree, Paths], args: tuple[str, ...]
    ) -> None:
        """Read-only and writing jobs alike refuse it with the same one line."""
        tree, other = shared
        other_tree = DeployTree(root=tree.root, paths=other)
        other_tree.add_job(version_id(50))
        before = snapshot_tree(tree.root)
        proc = tree.run_cli(*args, "--config", str(other.config))
        assert proc.returncode == 6, proc.stderr
        assert "refusing calibration_b.json" in _error_line(proc)
        assert snapshot_tree(tree.root) == before

    def test_the_first_config_keeps_working(self, shared: tuple[DeployTree, Paths]) -> None:
        """Its own rollback goes through, and the chain stays complete."""
        tree, _ = shared
        proc = tree.run_cli("rollback", "--yes")
        assert proc.returncode == 0, proc.stderr
        assert tree.live_version() == A
        tree.assert_consistent()

    def test_whichever_config_acts_first_owns_a_fresh_directory(self, tree: DeployTree) -> None:
        """With no archive yet, the second file's approve claims it; the first is then refused."""
        other = attrs.evolve(tree.paths, config=tree.paths.config_dir / "calibration_b.json")
        other_tree = DeployTree(root=tree.root, paths=other)
        other_tree.add_job(A)
        deploy.approve(other, A, approved_by="alice", now=ticking_clock())
        tree.add_job(B)
        with pytest.raises(
            DeploymentError, match=r"refusing calibration\.json: .*'calibration_b\.json'"
        ):
            deploy.approve(tree.paths, B, approved_by="alice", now=ticking_clock())
        assert not tree.paths.config.exists()
        with pytest.raises(DeploymentError, match=r"refusing calibration\.json"):
            deploy.status(tree.paths)
