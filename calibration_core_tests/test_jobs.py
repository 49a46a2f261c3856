"""Tests of jobs.py: a bad job record on disk is refused in one line and never trusted."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from calibration_core import deploy
from calibration_core.config import CalibrationConfig, PerSymbolMaps
from calibration_core.core.proposal import Proposal, build_proposal
from calibration_core.core.weights import ACTION_BUY, ACTION_SELL
from calibration_core.deploy.jobstore import (
    RECOMMEND_APPROVE,
    RECOMMEND_DO_NOT_APPLY,
    STATUS_DEPLOYED,
    STATUS_PENDING,
    STATUS_REJECTED,
    UNKNOWN_RECOMMENDATION,
    JobRecord,
    JobStore,
)
from calibration_core.exceptions import (
    CalibrationError,
    ConfigRejectedError,
    DeploymentError,
    InvalidInputError,
    JobRefusedError,
)
from calibration_core.runtime.loader import CalibrationLoader
from calibration_core.sources.example_data import write_example_trades
from calibration_core_tests.deploy_helpers import (
    DeployTree,
    finish,
    make_config,
    make_job,
    make_tree,
    snapshot_tree,
    ticking_clock,
    version_id,
)

A, B, C, D = (version_id(n) for n in range(4))


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


# ------------------------------------------------------------------ approve obeys the report

REPO = Path(__file__).resolve().parents[1]
WHY = "reviewed by risk desk: the stale window is the last clean regime"


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def _honest_with_votes(n: int = 1500) -> dict[str, Any]:
    # Confidence equal to the win probability (the map is not enabled) and member votes
    # whose precision differs (a weight change is proposed): a pending job.
    rng = np.random.default_rng(2)
    x = rng.uniform(0.05, 0.95, n)
    wins = rng.random(n) < x
    pnl = np.where(wins, 1.0, -1.0) * rng.uniform(0.06, 2.0, n)
    sides = np.where(rng.random(n) < 0.55, ACTION_BUY, ACTION_SELL).astype(np.int8)
    skill = ((0.62, 0.68), (0.82, 0.50), (0.70, 0.62), (0.72, 0.62))
    columns = [
        np.where(rng.random(n) < np.where(wins, on_win, on_loss), sides, -sides)
        for on_win, on_loss in skill
    ]
    actions = np.stack(columns, axis=1).astype(np.int8)
    return {
        "confidence": x,
        "pnl_pct": pnl,
        "sides": sides,
        "model_names": ("xgb", "lgbm", "nhits", "patchtst"),
        "model_actions": actions,
    }


def _proposal(job_id: str, **options: Any) -> Proposal:
    data = _honest_with_votes()
    return build_proposal(
        data.pop("confidence"),
        data.pop("pnl_pct"),
        job_id=job_id,
        created_at="2026-01-01T00:00:00+00:00",
        data_hash="sha256:feed",
        **data,
        **options,
    )


def _job_from_proposal(tree: DeployTree, proposal: Proposal) -> JobRecord:
    # As offline.run stores it: the report's recommendation and reasons, word for word.
    job = tree.add_job(
        proposal.config.version,
        config=proposal.config,
        recommendation=proposal.recommendation,
        reasons=proposal.do_not_apply_reasons(),
    )
    tree.store.save(job)
    return job


# Every section name analysis._turns_off can report, and the stale-data reason.
_SWITCH_OFF = (
    "the confidence map",
    "the ensemble weights",
    "the per-symbol maps",
    "the consensus multipliers",
    "the per-symbol maps of BTCUSDT",
)


def _do_not_apply_cases() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = [
        (f"switches off {name}", {"turns_off": (name,)}) for name in _SWITCH_OFF
    ]
    cases.append(("stale data", {"newest_trade_age_hours": 30.0}))
    cases.append(
        (
            "stale data and switches off the weights",
            {"newest_trade_age_hours": 300.0, "turns_off": ("the ensemble weights",)},
        )
    )
    return cases


class TestRecommendationIsStored:
    def test_record_round_trips_recommendation_reasons_and_override(self) -> None:
        """The new fields survive to_dict/from_dict."""
        job = make_job(
            B,
            base_version=A,
            base_config_sha256="x" * 64,
            recommendation=RECOMMEND_DO_NOT_APPLY,
            reasons=("the newest trade was 3.0 days old",),
        )
        job = attrs.evolve(job, override={"reason": WHY, "by": "alice", "at": "t"})
        again = JobRecord.from_dict(json.loads(json.dumps(job.to_dict())))
        assert again == job
        assert again.do_not_apply_reasons == ("the newest trade was 3.0 days old",)

    def test_old_record_without_recommendation_is_unknown_and_refused(
        self, tree: DeployTree
    ) -> None:
        """A record with neither the field nor a summary verdict: unknown, refused, listed."""
        raw = json.loads(_record_path(tree, B).read_text())
        for key in ("recommendation", "reasons", "override"):
            raw.pop(key)
        _record_path(tree, B).write_text(json.dumps(raw))
        job = tree.store.load(B)
        assert job.recommendation is None
        assert job.do_not_apply_reasons == (UNKNOWN_RECOMMENDATION,)
        before = snapshot_tree(tree.root)
        with pytest.raises(JobRefusedError, match="stores no recommendation"):
            deploy.approve(tree.paths, B, approved_by="bob", now=ticking_clock())
        proc = tree.run_cli("approve", B, "--yes")
        assert proc.returncode == 7
        line = _error_line(proc)
        assert "its recommendation is unknown, treated as DO NOT APPLY: the job record" in line
        assert snapshot_tree(tree.root) == before
        result = deploy.approve(tree.paths, B, approved_by="bob", now=ticking_clock(), override=WHY)
        assert result.override == WHY

    @pytest.mark.parametrize("verdict", [RECOMMEND_APPROVE, RECOMMEND_DO_NOT_APPLY])
    def test_old_record_with_the_verdict_in_its_summary_uses_it(
        self, tree: DeployTree, verdict: str
    ) -> None:
        """Records written before the field existed kept the verdict in their summary."""
        raw = json.loads(_record_path(tree, B).read_text())
        for key in ("recommendation", "reasons"):
            raw.pop(key)
        raw["summary"] = {
            "recommendation": verdict,
            "reasons": ["r1"] if verdict != RECOMMEND_APPROVE else [],
        }
        _record_path(tree, B).write_text(json.dumps(raw))
        job = tree.store.load(B)
        assert job.recommendation == verdict
        assert job.do_not_apply_reasons == (() if verdict == RECOMMEND_APPROVE else ("r1",))

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"recommendation": "MAYBE"}, "recommendation must be one of"),
            ({"recommendation": RECOMMEND_DO_NOT_APPLY, "reasons": "stale"}, "reasons must be"),
            ({"recommendation": RECOMMEND_DO_NOT_APPLY, "reasons": [1]}, "reasons must be"),
            ({"override": "because"}, "override must be an object"),
            ({"override": {"by": "x"}}, "override must be an object"),
        ],
    )
    def test_malformed_verdict_fields_are_refused_in_one_line(
        self, tree: DeployTree, changes: dict[str, Any], message: str
    ) -> None:
        """A record whose verdict fields have the wrong type is refused, never guessed."""
        _rewrite(tree, B, **changes)
        with pytest.raises(CalibrationError, match=message):
            tree.store.load(B)
        proc = tree.run_cli("approve", B, "--yes")
        assert proc.returncode == 1, proc.stderr  # a malformed record: CalibrationError
        assert message in _error_line(proc)

    def test_run_stores_the_reports_words(self, tmp_path: Path) -> None:
        """`run` that would switch off live per-symbol maps: the record holds the report's words."""
        # Months-old trades no longer reach a pending job: `run` refuses them as starved.
        site = make_tree(tmp_path / "site")
        site.paths.data.parent.mkdir(parents=True)
        write_example_trades(
            site.paths.data, n_trades=600, days=20.0, end=datetime.now(UTC) - timedelta(minutes=5)
        )
        live = _live_with_a_symbol_map_run_cannot_make()
        site.write_live(live)
        proc = site.run_cli("run", "--json", timeout=300)
        assert proc.returncode == 0, proc.stderr
        (job,) = site.store.list_jobs()
        report = json.loads(Path(job.report_json or "").read_text())
        assert job.recommendation == report["summary"]["recommendation"] == RECOMMEND_DO_NOT_APPLY
        assert list(job.reasons) == report["summary"]["reasons"]
        assert any("switch off" in r for r in job.reasons)


def _live_with_a_symbol_map_run_cannot_make() -> CalibrationConfig:
    # No trade is on ZZZUSDT, so `run` proposes no per-symbol maps: it would switch them off.
    base = make_config(A)
    return attrs.evolve(
        base, per_symbol=PerSymbolMaps(enabled=True, maps=(("ZZZUSDT", base.confidence),))
    )


def _live_config(tree: DeployTree) -> CalibrationConfig:
    data = tree.live_bytes()
    assert data is not None
    return CalibrationConfig.from_json(data)


class TestApproveObeysTheReport:
    @pytest.mark.parametrize(("label", "options"), _do_not_apply_cases())
    def test_do_not_apply_job_is_refused_with_its_reasons(
        self, tree: DeployTree, label: str, options: dict[str, Any]
    ) -> None:
        """`approve --yes` refuses every DO NOT APPLY reason in one line, exit 7, no change."""
        turns_off = options.pop("turns_off", None)
        proposal = _proposal(D, live_config=_live_config(tree), **options)
        if turns_off is not None:
            proposal = attrs.evolve(proposal, turns_off=turns_off)
        assert proposal.acceptable, proposal.rejection_reasons
        assert proposal.recommendation == RECOMMEND_DO_NOT_APPLY, label
        job = _job_from_proposal(tree, proposal)
        before = snapshot_tree(tree.root)
        proc = tree.run_cli("approve", D, "--yes")
        assert proc.returncode == 7, proc.stderr
        line = _error_line(proc)
        assert f"job {D}: its report says DO NOT APPLY: " in line
        for reason in job.reasons:
            assert reason in line
        assert "--override" in line
        assert snapshot_tree(tree.root) == before

    def test_a_live_map_the_proposal_switches_off_is_a_real_reason(self, tree: DeployTree) -> None:
        """Calibrated trades against a live config with the map on: DO NOT APPLY, refused."""
        proposal = _proposal(D, live_config=_live_config(tree))
        assert proposal.turns_off == ("the confidence map",)
        _job_from_proposal(tree, proposal)
        proc = tree.run_cli("approve", D, "--yes")
        assert proc.returncode == 7
        assert "switch off what the live config enables: the confidence map" in _error_line(proc)

    def test_run_then_approve_switching_off_live_per_symbol_maps_is_refused(
        self, tmp_path: Path
    ) -> None:
        """Fresh trades, a live symbol map `run` cannot re-estimate: DO NOT APPLY, approve obeys."""
        site = make_tree(tmp_path / "site")
        site.paths.data.parent.mkdir(parents=True)
        write_example_trades(
            site.paths.data, n_trades=600, days=20.0, end=datetime.now(UTC) - timedelta(minutes=5)
        )
        live = _live_with_a_symbol_map_run_cannot_make()
        site.write_live(live)
        proc = site.run_cli("run", "--json", timeout=300)
        assert proc.returncode == 0, proc.stderr
        (job,) = site.store.list_jobs()
        assert job.recommendation == RECOMMEND_DO_NOT_APPLY
        assert job.reasons == (
            "deploying it would switch off what the live config enables: the per-symbol maps",
        )
        refused = site.run_cli("approve", job.job_id, "--yes")
        assert refused.returncode == 7, refused.stderr
        assert job.reasons[0] in _error_line(refused)
        assert site.live_bytes() == live.to_json().encode()

    def test_override_deploys_and_is_recorded_everywhere(self, tree: DeployTree) -> None:
        """--override: job, audit, history, status and the config's provenance keep the reason."""
        proposal = _proposal(D, live_config=_live_config(tree), newest_trade_age_hours=50.0)
        job = _job_from_proposal(tree, proposal)
        proc = tree.run_cli(
            "approve", D, "--yes", "--json", "--approved-by", "carol", "--override", WHY
        )
        assert proc.returncode == 0, proc.stderr
        payload = json.loads(proc.stdout)
        assert payload["override"] == WHY
        summary = proc.stderr
        assert summary.index("recommendation: ❌ DO NOT APPLY") < summary.index("created:")
        for reason in job.reasons:
            assert reason in summary
        assert f"your reason: {WHY}" in summary
        assert _live_config(tree).version == D
        assert _live_config(tree).override_reason == WHY
        archived = CalibrationConfig.from_json((tree.paths.archive_dir / f"{D}.json").read_bytes())
        assert archived.override_reason == WHY
        (record,) = [r for r in tree.audit() if r.get("version") == D]
        assert (record["event"], record["override"]) == ("deploy", WHY)
        deployed = tree.store.load(D)
        assert deployed.status == STATUS_DEPLOYED
        assert deployed.override is not None
        assert (deployed.override["reason"], deployed.override["by"]) == (WHY, "carol")
        assert WHY in (deployed.events[-1]["note"] or "")
        status = json.loads(tree.run_cli("status", "--json").stdout)
        assert status["override_reason"] == WHY
        assert f"override:      {WHY}" in tree.run_cli("status").stdout
        history = json.loads(tree.run_cli("history", "--json").stdout)
        assert [e.get("override") for e in history["events"] if e.get("version") == D] == [WHY]
        assert [v["override"] for v in history["versions"] if v["version"] == D] == [WHY]
        assert f"override: {WHY}" in tree.run_cli("history").stdout
        tree.assert_consistent()

    @pytest.mark.parametrize(
        ("kind", "changes", "message"),
        [
            ("forced", {"forced": True}, "run --force"),
            ("rejected", {"status": STATUS_REJECTED}, "was rejected"),
            ("high risk", {"risk_score": 0.6, "risk_category": "high"}, "high risk"),
            ("failed", {"validation_passed": False}, "failed validation"),
        ],
    )
    def test_override_never_lifts_forced_rejected_or_high_risk(
        self, tree: DeployTree, kind: str, changes: dict[str, Any], message: str
    ) -> None:
        """Those refusals come first and stay, override or not."""
        tree.add_job(D, recommendation=RECOMMEND_DO_NOT_APPLY, reasons=(f"{kind} job",), **changes)
        before = snapshot_tree(tree.root)
        proc = tree.run_cli("approve", D, "--yes", "--override", WHY)
        assert proc.returncode == 7, proc.stderr
        assert message in _error_line(proc)
        assert snapshot_tree(tree.root) == before

    def test_override_of_an_approve_candidate_is_refused(self, tree: DeployTree) -> None:
        """An override on a job the report approves would record a false story: refused."""
        proc = tree.run_cli("approve", B, "--yes", "--override", WHY)
        assert proc.returncode == 7
        assert "is an APPROVE CANDIDATE: --override is only for" in _error_line(proc)
        ok = tree.run_cli("approve", B, "--yes")
        assert ok.returncode == 0, ok.stderr
        assert "recommendation: ✅ APPROVE CANDIDATE" in ok.stdout.splitlines()[1]

    @pytest.mark.parametrize(
        ("why", "message"),
        [
            ("too short", "at least 10 characters (got 9)"),
            ("          padded    ", "at least 10 characters (got 6)"),
            ("risk desk said\x1b[2J ok", "control or bidi/format characters (found U+001B)"),
            ("risk desk said \u202eko ti yolped", "(found U+202E)"),
            ("risk desk\u200b said fine", "(found U+200B)"),
            ("x" * 501, "at most 500 characters"),
        ],
    )
    def test_bad_override_reason_is_a_usage_error(
        self, tree: DeployTree, why: str, message: str
    ) -> None:
        """Too short, too long, control or bidi characters: exit 2, one line, nothing changed."""
        tree.add_job(D, recommendation=RECOMMEND_DO_NOT_APPLY, reasons=("stale",))
        before = snapshot_tree(tree.root)
        proc = tree.run_cli("approve", D, "--yes", "--override", why)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert message in proc.stderr
        assert snapshot_tree(tree.root) == before
        with pytest.raises(InvalidInputError, match="--override"):
            deploy.approve(tree.paths, D, approved_by="bob", now=ticking_clock(), override=why)

    @pytest.mark.parametrize(("answer", "deployed"), [("y", True), ("n", False)])
    def test_prompt_repeats_the_override_and_needs_a_yes(
        self, tree: DeployTree, answer: str, deployed: bool
    ) -> None:
        """On a terminal the override reason is shown again at the [y/N] question."""
        tree.add_job(D, recommendation=RECOMMEND_DO_NOT_APPLY, reasons=("stale",))
        proc, master, shown = _start_at_prompt(tree, "approve", D, "--override", WHY)
        try:
            os.write(master, f"{answer}\n".encode())
            out, err = finish(proc)
        finally:
            os.close(master)
        text = shown + out
        assert f"your reason: {WHY}" in text
        assert "against the report, for the reason above? [y/N]" in text
        assert (proc.returncode == 0) is deployed, err
        assert (tree.live_version() == D) is deployed
        if not deployed:
            assert "not confirmed" in err


PROMPT_TIMEOUT = 60.0


def _start_at_prompt(tree: DeployTree, *args: str) -> tuple[subprocess.Popen[str], int, str]:
    """Start the CLI on a pseudo-terminal; return once its `[y/N]` prompt is shown."""
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
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(remaining, 0.0))
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            proc.kill()
            proc.communicate(timeout=60)
            os.close(master)
            pytest.fail(f"the CLI did not prompt: {shown!r}")
        shown += chunk
    return proc, master, shown.decode()


class TestStatusShowsTheVerdict:
    def test_pending_jobs_carry_their_recommendation(self, tree: DeployTree) -> None:
        """`status` flags a pending DO NOT APPLY job and an unknown verdict; JSON and text."""
        tree.add_job(D, recommendation=RECOMMEND_DO_NOT_APPLY, reasons=("stale data",))
        tree.add_job(version_id(4), recommendation=None)
        report = deploy.status(tree.paths)
        verdicts = {j["job_id"]: j["recommendation"] for j in report.pending_jobs}
        assert verdicts == {
            B: RECOMMEND_APPROVE,
            C: RECOMMEND_APPROVE,
            D: RECOMMEND_DO_NOT_APPLY,
            version_id(4): "UNKNOWN",
        }
        assert next(j for j in report.pending_jobs if j["job_id"] == D)["do_not_apply_reasons"] == [
            "stale data"
        ]
        text = tree.run_cli("status").stdout
        assert f"{D}  risk 10.0% (low) DO NOT APPLY" in text
        assert f"{version_id(4)}  risk 10.0% (low) UNKNOWN" in text
        assert f"{B}  risk 10.0% (low)\n" in text


class TestOverrideInTheConfig:
    def test_override_reason_round_trips_and_is_omitted_when_unset(self) -> None:
        """Only a config deployed with --override carries the field; both parse back."""
        plain = make_config(A)
        assert "override_reason" not in plain.to_dict()
        marked = attrs.evolve(plain, override_reason=WHY)
        assert CalibrationConfig.from_json(marked.to_json()) == marked
        assert json.loads(marked.to_json())["override_reason"] == WHY

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("short", "at least 10 characters"),
            (7, "must be a string"),
            ("a\nnew line in it", "found U+000A"),
            ("bidi \u2066isolate\u2069 inside", "found U+2066"),
        ],
    )
    def test_a_bad_override_reason_in_a_config_is_rejected(
        self, value: object, message: str
    ) -> None:
        """A hand-made config cannot smuggle control or bidi characters into status/history."""
        raw = make_config(A).to_dict()
        raw["override_reason"] = value
        with pytest.raises(ConfigRejectedError, match=f"override_reason .*{re.escape(message)}"):
            CalibrationConfig.from_dict(raw)

    def test_the_runtime_loader_serves_a_config_deployed_with_an_override(
        self, tree: DeployTree
    ) -> None:
        """The EnsembleManager's loader reads the new provenance field like any other."""
        tree.add_job(D, recommendation=RECOMMEND_DO_NOT_APPLY, reasons=("stale data",))
        deploy.approve(tree.paths, D, approved_by="bob", now=ticking_clock(), override=WHY)
        loader = CalibrationLoader(tree.paths.config, watch="none")
        assert loader.snapshot.version == D


class TestInterruptedOverride:
    def test_an_approve_with_override_killed_after_the_replace_finishes_with_its_reason(
        self, tree: DeployTree
    ) -> None:
        """SIGKILL after the new config is live: the re-run finishes and keeps the reason."""
        tree.add_job(D, recommendation=RECOMMEND_DO_NOT_APPLY, reasons=("stale data",))
        proc = tree.run_cli(
            "approve",
            D,
            "--yes",
            "--override",
            WHY,
            env=tree.env(**{deploy.KILL_AT_ENV: "after_replace"}),
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert _live_config(tree).override_reason == WHY
        assert tree.store.load(D).status == STATUS_PENDING
        # The config is already live: finishing it needs no second override.
        rerun = tree.run_cli("approve", D, "--yes", "--json")
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads(rerun.stdout)["override"] == WHY
        finished = tree.store.load(D)
        assert finished.status == STATUS_DEPLOYED
        assert finished.override is not None
        assert finished.override["reason"] == WHY
        (recovered,) = [r for r in tree.audit() if r["event"] == "recovered"]
        assert (recovered["as"], recovered["override"]) == ("deploy", WHY)
        history = json.loads(tree.run_cli("history", "--json").stdout)
        assert [v["override"] for v in history["versions"] if v["version"] == D] == [WHY]
        tree.assert_consistent()
