"""End-to-end tests of approve/abort/rollback/status/history/diff through real CLI subprocesses."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from calibration_core import deploy
from calibration_core.deploy.jobstore import STATUS_ABORTED, STATUS_DEPLOYED
from calibration_core_tests.deploy_helpers import (
    DeployTree,
    finish,
    make_config,
    make_tree,
    snapshot_tree,
    ticking_clock,
    version_id,
    wait_until,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.slow

A, B, C, D = (version_id(n) for n in range(4))
NOBODY = 65534


def _deploy(tree: DeployTree, version: str, *, shift: float = -0.02) -> None:
    tree.add_job(version, config=make_config(version, shift=shift))
    deploy.approve(tree.paths, version, approved_by="alice", now=ticking_clock())


@pytest.fixture
def tree(tmp_path: Path) -> DeployTree:
    """Return a tree with A live and job B pending against it."""
    site = make_tree(tmp_path / "site")
    _deploy(site, A)
    site.add_job(B, config=make_config(B, shift=0.03))
    return site


@pytest.fixture
def chain(tmp_path: Path) -> DeployTree:
    """Return a tree where A → B → C were deployed; C is live."""
    site = make_tree(tmp_path / "site")
    for n, version in enumerate((A, B, C)):
        _deploy(site, version, shift=-0.03 + 0.02 * n)
    return site


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


PROMPT_TIMEOUT = 60.0
"""Seconds the CLI may take to show its [y/N] prompt on a loaded 2-core machine."""


def _start_at_prompt(tree: DeployTree, *args: str) -> tuple[subprocess.Popen[str], int]:
    """Start the CLI on a pseudo-terminal and return once its `[y/N]` prompt is shown."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "calibration_core", *args],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=tree.env(),
            cwd=tree.root,
        )
    finally:
        os.close(slave)
    assert proc.stdout is not None
    shown = b""
    deadline = time.monotonic() + PROMPT_TIMEOUT
    while b"[y/N]" not in shown:
        # Bounded: a CLI that hangs before prompting fails the test instead of hanging CI.
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(remaining, 0.0))
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            proc.kill()
            proc.communicate(timeout=60)
            os.close(master)
            why = "exited" if ready else f"did not prompt within {PROMPT_TIMEOUT} s"
            pytest.fail(f"the CLI {why} before prompting: {shown!r}")
        shown += chunk
    return proc, master


class TestApproveCli:
    def test_approve_with_yes_deploys_and_prints_one_json_document(self, tree: DeployTree) -> None:
        """`approve B --yes --json` exits 0 with the result as JSON and the summary on stderr."""
        proc = tree.run_cli("approve", B, "--yes", "--json", "--approved-by", "alice")
        assert proc.returncode == 0, proc.stderr
        payload = json.loads(proc.stdout)
        assert payload["ok"] is True
        assert (payload["version"], payload["previous_version"]) == (B, A)
        assert payload["by"] == "alice"
        assert f"Calibration job {B}" in proc.stderr
        assert tree.live_version() == B
        assert tree.store.load(B).status == STATUS_DEPLOYED
        tree.assert_consistent()

    def test_human_output_shows_summary_weights_and_result(self, tree: DeployTree) -> None:
        """The summary lists trades, data hash, validation, risk, map points and weights."""
        proc = tree.run_cli("approve", B, "--yes")
        assert proc.returncode == 0, proc.stderr
        for text in (
            f"Calibration job {B}",
            "trades:      120",
            "data hash:   sha256:feed",
            "validation:  ✅ passed",
            "risk:        10.0% (low)",
            "0.70→0.730",
            "xgb          0.300 → 0.300",
            f"✅ Deployed {B} (previous: {A})",
        ):
            assert text in proc.stdout, text

    def test_default_approver_is_the_login_user(self, tree: DeployTree) -> None:
        """Without --approved-by the login name is recorded."""
        assert tree.run_cli("approve", B, "--yes").returncode == 0
        assert tree.audit()[-1]["approved_by"] == getpass.getuser()

    def test_non_terminal_stdin_without_yes_is_refused(self, tree: DeployTree) -> None:
        """With stdin not a terminal and no --yes, approve refuses instead of hanging."""
        before = snapshot_tree(tree.root)
        proc = tree.run_cli("approve", B)
        assert proc.returncode == 7
        assert _error_line(proc) == "error: not confirmed: stdin is not a terminal; pass --yes"
        assert snapshot_tree(tree.root) == before

    @pytest.mark.parametrize(("answer", "code"), [("n\n", 7), ("\n", 7), ("yes\n", 0)])
    def test_terminal_answer_decides(self, tree: DeployTree, answer: str, code: int) -> None:
        """On a real terminal only y/yes deploys; anything else refuses and changes nothing."""
        master, slave = os.openpty()
        try:
            os.write(master, answer.encode())
            proc = tree.run_cli("approve", B, stdin=slave)
        finally:
            os.close(master)
            os.close(slave)
        assert proc.returncode == code, proc.stderr
        assert f"Deploy {B}? [y/N]" in proc.stdout
        assert tree.live_version() == (B if code == 0 else A)

    def test_deploy_landing_while_the_prompt_is_open_makes_the_job_stale(
        self, tree: DeployTree
    ) -> None:
        """Summary shown for B over A, a colleague deploys C before "y": B is refused as stale."""
        tree.add_job(C, config=make_config(C, shift=-0.04))
        proc, master = _start_at_prompt(tree, "approve", B)
        try:
            deploy.approve(tree.paths, C, approved_by="bob", now=ticking_clock())
            live = tree.live_bytes()
            os.write(master, b"y\n")
            out, err = finish(proc)
        finally:
            os.close(master)
        assert proc.returncode == 7, (out, err)
        assert f"job {B} is stale" in _error_line(
            subprocess.CompletedProcess(proc.args, 7, out, err)
        )
        assert tree.live_bytes() == live
        tree.assert_consistent()

    @pytest.mark.parametrize(
        ("args", "code", "pattern"),
        [
            pytest.param([C, "--yes"], 7, f"unknown job {C}", id="unknown"),
            pytest.param(
                ["../x", "--yes"],
                2,
                "argument job_id: expected cal_YYYYMMDD_HHMMSS with an optional _NN suffix "
                "(got '../x')",
                id="path",
            ),
            pytest.param(
                [B, "--yes", "--approved-by", ""],
                2,
                "argument --approved-by: must not be empty",
                id="who",
            ),
        ],
    )
    def test_refusals_exit_with_their_code_and_one_line(
        self, tree: DeployTree, args: list[str], code: int, pattern: str
    ) -> None:
        """Each refusal is one `error:` line with the documented exit code."""
        before = snapshot_tree(tree.root.parent)
        proc = tree.run_cli("approve", *args)
        assert proc.returncode == code
        assert pattern in _error_line(proc)
        assert snapshot_tree(tree.root.parent) == before

    def test_missing_config_directory_is_exit_6_and_creates_nothing(self, tmp_path: Path) -> None:
        """Approve into a missing config dir names it and creates no directory."""
        site = make_tree(tmp_path / "site")
        site.add_job(A)
        shutil.rmtree(site.paths.config_dir)
        before = snapshot_tree(tmp_path)
        proc = site.run_cli("approve", A, "--yes")
        assert proc.returncode == 6
        assert str(site.paths.config_dir) in _error_line(proc)
        assert snapshot_tree(tmp_path) == before

    @pytest.mark.parametrize("value", ["nan", "inf", "-1", "soon"])
    def test_lock_timeout_must_be_finite_and_non_negative(
        self, tree: DeployTree, value: str
    ) -> None:
        """`--lock-timeout nan` would wait forever: exit 2 naming the option, nothing changed."""
        before = snapshot_tree(tree.root)
        proc = tree.run_cli("approve", B, "--yes", "--lock-timeout", value)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "--lock-timeout: must be a finite number of seconds >= 0" in proc.stderr
        assert snapshot_tree(tree.root) == before


class TestRollbackCli:
    def test_rollback_with_reason_restores_the_previous_version(self, chain: DeployTree) -> None:
        """`rollback --yes --reason` restores B and records who and why."""
        proc = chain.run_cli("rollback", "--yes", "--reason", "win rate down", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["version"] == B
        record = chain.audit()[-1]
        assert (record["event"], record["version"], record["reason"]) == (
            "rollback",
            B,
            "win rate down",
        )
        chain.assert_consistent()

    def test_rollback_needs_confirmation_too(self, chain: DeployTree) -> None:
        """Without --yes and without a terminal, rollback refuses."""
        proc = chain.run_cli("rollback", A)
        assert proc.returncode == 7
        assert "pass --yes" in _error_line(proc)
        assert chain.live_version() == C

    def test_corrupt_archive_entry_is_exit_5_with_live_untouched(self, chain: DeployTree) -> None:
        """Rolling back to a corrupted archive entry fails in one line; live is byte-equal."""
        (chain.paths.archive_dir / f"{A}.json").write_text('{"schema_version": 1, "vers')
        live = chain.live_bytes()
        proc = chain.run_cli("rollback", A, "--yes")
        assert proc.returncode == 5
        assert f"archived version {A} is corrupt" in _error_line(proc)
        assert chain.live_bytes() == live

    @pytest.mark.parametrize(
        ("version", "code", "pattern"),
        [
            (D, 7, "history"),
            ("/etc/passwd", 2, "argument version: expected cal_YYYYMMDD_HHMMSS"),
            ("../../x", 2, "(got '../../x')"),
        ],
    )
    def test_unknown_or_bad_version_is_refused(
        self, chain: DeployTree, version: str, code: int, pattern: str
    ) -> None:
        """Unknown versions point at history (7); malformed ones are bad arguments (2)."""
        before = snapshot_tree(chain.root.parent)
        proc = chain.run_cli("rollback", version, "--yes")
        assert proc.returncode == code
        assert pattern in _error_line(proc)
        assert snapshot_tree(chain.root.parent) == before

    @pytest.mark.parametrize("live_state", ["version", "unparseable"])
    def test_deploy_landing_while_the_prompt_is_open_is_not_rolled_back(
        self, chain: DeployTree, live_state: str
    ) -> None:
        """Plan C → A, a colleague deploys D before "y": the rollback is refused, D stays live."""
        if live_state == "unparseable":  # plan.current is None: the sha256 guard must hold
            chain.paths.config.write_bytes(b"{not json")
        proc, master = _start_at_prompt(chain, "rollback", A)
        try:
            chain.add_job(D, config=make_config(D, shift=0.01))
            deploy.approve(chain.paths, D, approved_by="bob", now=ticking_clock())
            live = chain.live_bytes()
            os.write(master, b"y\n")
            out, err = finish(proc)
        finally:
            os.close(master)
        assert proc.returncode == 7, (out, err)
        line = _error_line(subprocess.CompletedProcess(proc.args, 7, out, err))
        assert "changed since" in line
        assert "nothing was rolled back" in line
        assert chain.live_bytes() == live
        assert chain.live_version() == D
        assert chain.audit()[-1]["version"] == D
        assert chain.audit()[-1]["event"] == "deploy"

    def test_confirmed_rollback_still_runs_when_nothing_changed(self, chain: DeployTree) -> None:
        """The guard does not get in the way: confirm with nothing landing → A is live."""
        proc, master = _start_at_prompt(chain, "rollback", A)
        try:
            os.write(master, b"y\n")
            out, err = finish(proc)
        finally:
            os.close(master)
        assert proc.returncode == 0, (out, err)
        assert chain.live_version() == A
        chain.assert_consistent()

    def test_symlink_planted_in_the_archive_is_refused(self, chain: DeployTree) -> None:
        """calibration_archive/<v>.json → /etc/passwd is refused, not followed."""
        (chain.paths.archive_dir / f"{D}.json").symlink_to("/etc/passwd")
        live = chain.live_bytes()
        proc = chain.run_cli("rollback", D, "--yes")
        assert proc.returncode == 7
        assert "it is a symlink" in _error_line(proc)
        assert chain.live_bytes() == live


class TestOtherJobsCli:
    def test_abort_archives_the_job_and_approve_then_refuses_it(self, tree: DeployTree) -> None:
        """`abort B` exits 0; a later `approve B` is refused as aborted."""
        proc = tree.run_cli("abort", B, "--reason", "bad data", "--by", "dave")
        assert proc.returncode == 0, proc.stderr
        assert f"Aborted {B}" in proc.stdout
        assert tree.store.load(B).status == STATUS_ABORTED
        assert tree.audit()[-1]["event"] == "abort"
        proc = tree.run_cli("approve", B, "--yes")
        assert proc.returncode == 7
        assert "was aborted" in _error_line(proc)

    def test_status_json_reports_the_deployment(self, tree: DeployTree) -> None:
        """`status --json` carries live version, sha256, archive match, pending jobs and lock."""
        proc = tree.run_cli("status", "--json")
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["live_version"] == A
        assert report["matches_archive"] is True
        assert report["lock_held"] is False
        assert [j["job_id"] for j in report["pending_jobs"]] == [B]
        assert report["last_audit_event"]["event"] == "deploy"

    def test_status_human_output_names_the_essentials(self, tree: DeployTree) -> None:
        """The human status shows version, approver, archive match and pending jobs."""
        proc = tree.run_cli("status")
        assert proc.returncode == 0, proc.stderr
        for text in (f"live version:  {A}", "by alice", "matches archive: yes", B):
            assert text in proc.stdout, text

    def test_history_lists_events_and_versions(self, chain: DeployTree) -> None:
        """`history` prints one row per event and the per-version summary."""
        assert chain.run_cli("rollback", "--yes").returncode == 0
        proc = chain.run_cli("history", "--json")
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert [e["event"] for e in report["events"]] == ["deploy"] * 3 + ["rollback"]
        assert {v["version"]: v["times_made_live"] for v in report["versions"]} == {
            A: 1,
            B: 2,
            C: 1,
        }
        human = chain.run_cli("history").stdout
        assert "rollback" in human
        assert "← live" in human

    def test_diff_prints_the_grid_and_weights(self, chain: DeployTree) -> None:
        """`diff A live` shows the 0.50..0.95 grid and the weights with deltas."""
        proc = chain.run_cli("diff", A, "live")
        assert proc.returncode == 0, proc.stderr
        assert "0.50" in proc.stdout
        assert "0.95" in proc.stdout
        assert "xgb" in proc.stdout
        payload = json.loads(chain.run_cli("diff", A, "live", "--json").stdout)
        assert len(payload["grid"]) == 10
        assert payload["grid"][0]["delta"] == pytest.approx(0.04)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """Yield a temp dir under /tmp whose path chain an unprivileged user can traverse."""
    root = Path(tempfile.mkdtemp(dir="/tmp", prefix="calcore-ro-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        for dirpath, dirnames, _ in os.walk(root):
            for name in dirnames:
                Path(dirpath, name).chmod(0o755)
        shutil.rmtree(root)


# The venv's interpreter lives under /root (mode 0700), which uid 65534 cannot even
# exec, so preexec_fn=setuid cannot work here. Instead the interpreter starts as root,
# imports the CLI (every job module), then drops to nobody before main() runs: every
# file operation of the job is then made by an unprivileged user.
_AS_NOBODY = textwrap.dedent(
    f"""
    import os, sys
    from calibration_core.cli.main import build_parser, main
    build_parser()
    os.setgroups([])
    os.setgid({NOBODY})
    os.setuid({NOBODY})
    sys.exit(main(sys.argv[1:]))
    """
)


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        # A real kernel write failure: past the limit write() fails with EFBIG
        # (Python ignores SIGXFSZ, so the process is not killed).
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


class TestBadEnvironment:
    @pytest.mark.parametrize(
        ("writable", "where"),
        [
            pytest.param((), "audit.jsonl", id="audit-trail"),
            pytest.param(("audit",), f"{B}.json", id="archive-write"),
        ],
    )
    def test_read_only_config_directory_fails_cleanly(
        self, shared_tmp: Path, writable: tuple[str, ...], where: str
    ) -> None:
        """A config dir the user cannot write gives one error line and leaves live byte-equal."""
        site = make_tree(shared_tmp / "site")
        _deploy(site, A)
        site.add_job(B)
        site.paths.lock.chmod(0o666)  # the lock can be taken; the writes themselves must fail
        if "audit" in writable:  # get past the audit trail to the first archive write
            site.paths.audit_log.chmod(0o666)
        before = snapshot_tree(site.root)
        if os.geteuid() == 0:  # root ignores file modes: run the job as nobody
            proc = subprocess.run(
                [sys.executable, "-c", _AS_NOBODY, "approve", B, "--yes", "--approved-by", "x"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=site.env(),
                cwd=site.root,
                timeout=60,
                check=False,
            )
        else:
            for directory in (site.paths.archive_dir, site.paths.config_dir):
                directory.chmod(0o555)
            if "audit" not in writable:  # the owner may write 0644 files: take that away too
                site.paths.audit_log.chmod(0o444)
            proc = site.run_cli("approve", B, "--yes")
        assert proc.returncode == 6, proc.stderr
        line = _error_line(proc)
        assert "Permission denied" in line
        assert where in line
        assert snapshot_tree(site.root) == before

    @pytest.mark.parametrize("job", ["approve", "rollback"])
    def test_full_disk_is_a_clean_deployment_error(self, tree: DeployTree, job: str) -> None:
        """A real EFBIG (RLIMIT_FSIZE) while writing fails in one line; live and dirs intact."""
        if job == "rollback":  # B live, so the rollback has to write A back
            deploy.approve(tree.paths, B, approved_by="alice", now=ticking_clock())
        args = ["approve", B, "--yes"] if job == "approve" else ["rollback", A, "--yes"]
        live = tree.live_bytes()
        proc = tree.run_cli(*args, preexec_fn=_file_size_limit(64))
        assert proc.returncode == 6, proc.stderr
        assert "disk full or file size limit while writing" in _error_line(proc)
        assert tree.live_bytes() == live
        assert tree.temp_files() == []
        tree.assert_consistent()

    @pytest.mark.parametrize("job", ["approve", "rollback"])
    def test_audit_failure_after_the_replace_says_the_version_is_live(
        self, tree: DeployTree, job: str
    ) -> None:
        """A real EFBIG on the audit append after os.replace: exit 0, warns "B IS LIVE", recovers.

        The file-size limit lets the config, archive and sentinel writes through but
        not the append to an audit trail already longer than the limit.
        """
        clock = ticking_clock()
        if job == "rollback":  # B live, so the rollback has to write A back
            deploy.approve(tree.paths, B, approved_by="alice", now=clock)
        for n, pad in enumerate((C, D)):  # grow the trail past the limit with real records
            tree.add_job(pad, config=make_config(pad, shift=-0.01 * n))
            deploy.abort(tree.paths, pad, by="x", now=clock, reason="x" * 500)
        limit = 1400
        assert len(tree.live_bytes() or b"") < limit < tree.paths.audit_log.stat().st_size
        target = B if job == "approve" else A
        args = ["approve", B, "--yes"] if job == "approve" else ["rollback", A, "--yes"]
        audit = tree.audit()
        proc = tree.run_cli(*args, preexec_fn=_file_size_limit(limit))
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        assert f"{target} IS LIVE, but its audit record could not be written" in proc.stdout
        assert "will record it (as recovered)" in proc.stdout
        assert "untouched" not in proc.stdout + proc.stderr
        assert tree.live_version() == target
        assert tree.audit() == audit
        # The next locked run completes the record.
        if job == "approve":
            result = deploy.approve(tree.paths, B, approved_by="alice", now=clock)
            assert result.resumed
            assert tree.store.load(B).status == STATUS_DEPLOYED
        else:
            assert not deploy.rollback(
                tree.paths, version=A, by="b", reason=None, now=clock
            ).changed
        recovered = tree.audit()[-1]
        assert (recovered["event"], recovered["version"]) == ("recovered", target)
        tree.assert_consistent()


_WORKER = textwrap.dedent(
    """
    import json, random, sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from calibration_core import deploy
    from calibration_core.settings import Paths

    config, reports, go, seed, versions, rounds = sys.argv[1:7]
    paths = Paths(data=Path("x"), config=Path(config), report_dir=Path(reports), cadence_api=None)
    # A real start barrier: say we are ready (imports done), then wait for "go".
    Path(go + "-ready-" + seed).touch()
    deadline = time.monotonic() + 60
    while not Path(go).exists():
        if time.monotonic() > deadline:
            sys.exit("no go signal within 60 s")
        time.sleep(0.001)
    rng = random.Random(int(seed))
    changed = 0
    for i in range(int(rounds)):
        result = deploy.rollback(
            paths, version=rng.choice(versions.split(",")), by="w" + seed, reason=str(i),
            now=lambda: datetime.now(UTC),
        )
        changed += result.changed
    print(json.dumps({"changed": changed}))
    """
)


class TestConcurrency:
    def test_racing_rollback_processes_lose_no_update(self, chain: DeployTree) -> None:
        """3 processes × 15 rollbacks: every transition is audited, chained and archived."""
        go = chain.root / "go"
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _WORKER,
                    str(chain.paths.config),
                    str(chain.paths.report_dir),
                    str(go),
                    str(seed),
                    f"{A},{B},{C}",
                    "15",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for seed in range(3)
        ]
        ready = [Path(f"{go}-ready-{seed}") for seed in range(3)]
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in ready):  # bounded polling, no fixed sleep
            assert time.monotonic() < deadline, "the workers did not start within 60 s"
            assert all(p.poll() is None for p in procs), "a worker exited before the start"
            time.sleep(0.005)
        go.touch()
        results: list[dict[str, Any]] = []
        for proc in procs:
            out, err = finish(proc)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
        rollbacks = [r for r in chain.audit() if r["event"] == "rollback"]
        assert len(rollbacks) == sum(r["changed"] for r in results)
        assert len(rollbacks) > 0
        assert len({r["by"] for r in rollbacks}) >= 2  # the workers really raced
        chain.assert_consistent()
        for record in rollbacks:
            archived = (chain.paths.archive_dir / f"{record['version']}.json").read_bytes()
            assert record["config_sha256"] == hashlib.sha256(archived).hexdigest()

    def test_two_approves_of_sibling_jobs_one_wins_the_other_is_stale(
        self, tree: DeployTree
    ) -> None:
        """Two jobs computed against A approved at once: one deploys, the other is refused."""
        tree.add_job(C, config=make_config(C, shift=-0.04))
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "calibration_core", "approve", job, "--yes"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=tree.env(),
                cwd=tree.root,
            )
            for job in (B, C)
        ]
        outcomes = []
        for proc in procs:
            _, err = finish(proc)
            outcomes.append((proc.returncode, err))
        assert sorted(code for code, _ in outcomes) == [0, 7]
        loser = next(err for code, err in outcomes if code == 7)
        assert "is stale" in loser
        winner = B if outcomes[0][0] == 0 else C
        assert tree.live_version() == winner
        assert [r["version"] for r in tree.live_events()] == [A, winner]
        tree.assert_consistent()

    def test_status_sees_the_lock_of_a_running_approve(self, tree: DeployTree) -> None:
        """While an approve holds the lock (stopped at a checkpoint), status reports it held."""
        script = textwrap.dedent(
            f"""
            import fcntl, os, sys, time
            from pathlib import Path
            fd = os.open({str(tree.paths.lock)!r}, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            Path({str(tree.root / "held")!r}).touch()
            sys.stdin.read()
            """
        )
        holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, text=True)
        try:
            wait_until((tree.root / "held").exists, what="the lock holder")
            proc = tree.run_cli("status", "--json")
            assert json.loads(proc.stdout)["lock_held"] is True
            refused = tree.run_cli("approve", B, "--yes", "--lock-timeout", "0.2")
            assert refused.returncode == 6
            assert "another approve/rollback holds the lock" in _error_line(refused)
        finally:
            holder.communicate("", timeout=30)
        assert tree.live_version() == A
