"""The `monitor` job end to end: synthetic regressions and non-regressions in real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from calibration_core.cli import monitor as cli_monitor
from calibration_core.cli.main import EXIT_CODES, EXIT_ROLLBACK_ADVISED
from calibration_core.core import monitor_rules as monitor, version_scoring
from calibration_core_tests.deploy_helpers import make_config, make_tree, snapshot_tree
from calibration_core_tests.monitor_helpers import (
    DEPLOY_A,
    DEPLOY_B,
    A,
    B,
    C,
    deploy_at,
    monitor_tree,
    signal_records,
    trade_records,
    write_jsonl,
)

if TYPE_CHECKING:
    from pathlib import Path

    from calibration_core_tests.deploy_helpers import DeployTree

pytestmark = pytest.mark.slow

BEFORE_B = DEPLOY_A + timedelta(hours=1)
AFTER_B = DEPLOY_B + timedelta(minutes=5)
STEP = timedelta(minutes=10)


def _baseline(**kwargs: Any) -> list[dict[str, Any]]:
    return trade_records(200, start=BEFORE_B, step=timedelta(minutes=40), **kwargs)


@pytest.fixture
def site(tmp_path: Path) -> DeployTree:
    """Return a tree where A went live, then B, with 200 trades under A on file."""
    tree = monitor_tree(tmp_path / "site")
    write_jsonl(tree.paths.data, _baseline())
    return tree


def _add_trades(tree: DeployTree, records: list[dict[str, Any]]) -> None:
    with tree.paths.data.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)


def _stable(tree: DeployTree, n: int = 200) -> None:
    _add_trades(tree, trade_records(n, start=AFTER_B, step=STEP))


def _collapse(tree: DeployTree) -> None:
    _add_trades(tree, trade_records(100, start=AFTER_B, step=STEP, win_rate=0.30))


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def _config_dir(tree: DeployTree) -> dict[str, str]:
    return snapshot_tree(tree.paths.config_dir)


def _reports(tree: DeployTree) -> list[Path]:
    return sorted(tree.paths.report_dir.glob("monitor_*.md"))


class TestVerdicts:
    def test_a_stable_period_is_ok_and_changes_nothing(self, site: DeployTree) -> None:
        """Same win rate and PnL after the deploy: OK, exit 0, a report, config untouched."""
        _stable(site)
        before = _config_dir(site)
        proc = site.run_cli("monitor")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"POST-DEPLOY MONITOR — {B} (live)" in proc.stdout
        assert "🟢 Verdict: OK" in proc.stdout
        assert "200 trades closed since it went live" in proc.stdout
        assert _config_dir(site) == before
        (report,) = _reports(site)
        assert report.name.startswith(f"monitor_{B}_")
        assert "**Verdict: OK** (exit code 0)" in report.read_text(encoding="utf-8")

    def test_a_collapse_after_the_deploy_is_rollback_with_reasons(self, site: DeployTree) -> None:
        """A 25 pp win-rate drop: ROLLBACK (exit 8) with the reasons; nothing rolled back."""
        _collapse(site)
        before = _config_dir(site)
        proc = site.run_cli("monitor")
        assert proc.returncode == EXIT_ROLLBACK_ADVISED, proc.stderr
        assert "🔴 Verdict: ROLLBACK" in proc.stdout
        assert "win rate 30.0% vs baseline 55.0% (-25.0 pp); dropped ≥ 5 pp" in proc.stdout
        assert "Roll back: python -m calibration_core rollback --reason" in proc.stdout
        assert site.live_version() == B
        assert _config_dir(site) == before

    def test_auto_rollback_restores_the_previous_version_and_audits_it(
        self, site: DeployTree
    ) -> None:
        """With --auto-rollback a ROLLBACK verdict makes A live again, by monitor, with reasons."""
        _collapse(site)
        sentinel_before = site.paths.sentinel.read_text(encoding="utf-8")
        proc = site.run_cli("monitor", "--auto-rollback")
        assert proc.returncode == EXIT_ROLLBACK_ADVISED, proc.stderr
        assert f"Auto-rolled back to {A} (previous: {B})" in proc.stdout
        assert site.live_version() == A
        last = site.audit()[-1]
        assert (last["event"], last["version"], last["previous_version"]) == ("rollback", A, B)
        assert last["by"] == "monitor"
        assert last["reason"].startswith("rolled back by monitor: win rate 30.0% vs baseline")
        sentinel = json.loads(site.paths.sentinel.read_text(encoding="utf-8"))
        assert site.paths.sentinel.read_text(encoding="utf-8") != sentinel_before
        assert (sentinel["event"], sentinel["version"]) == ("rollback", A)
        site.assert_consistent()
        history = site.run_cli("history")
        assert "monitor  reason: rolled back by monitor: win rate 30.0%" in history.stdout
        assert "auto-rolled back" in _reports(site)[0].read_text(encoding="utf-8").lower()

    @pytest.mark.parametrize(("trades", "code"), [(200, 0), (10, 1)])
    def test_auto_rollback_never_acts_on_ok_or_watch(
        self, site: DeployTree, trades: int, code: int
    ) -> None:
        """OK and WATCH verdicts leave the live config alone even with --auto-rollback."""
        _stable(site, trades)
        before = _config_dir(site)
        proc = site.run_cli("monitor", "--auto-rollback")
        assert proc.returncode == code, proc.stderr
        assert _config_dir(site) == before

    def test_a_hold_rate_surge_in_the_signals_log_is_rollback(self, site: DeployTree) -> None:
        """HOLD rising from 20 % to 60 % of the signals: ROLLBACK, read via the env variable."""
        _stable(site)
        signals = signal_records(
            300, start=BEFORE_B, step=timedelta(minutes=25), hold_rate=0.2
        ) + signal_records(200, start=AFTER_B, hold_rate=0.6)
        path = write_jsonl(site.root / "signals.jsonl", signals)
        proc = site.run_cli("monitor", env=site.env(**{cli_monitor.ENV_SIGNALS_PATH: str(path)}))
        assert proc.returncode == EXIT_ROLLBACK_ADVISED, proc.stderr
        assert "HOLD rate 60.0% vs baseline 20.0% (200 vs 300 signals); rose > 50 %" in (
            proc.stdout
        )
        assert "signals.jsonl: 200 new, 300 baseline (by time)" in proc.stdout

    def test_ten_new_trades_is_watch_with_the_count_needed(self, site: DeployTree) -> None:
        """Ten trades since the deploy: WATCH, exit 1, 20 more needed."""
        _stable(site, 10)
        proc = site.run_cli("monitor")
        assert proc.returncode == 1, proc.stderr
        assert "🟡 Verdict: WATCH" in proc.stdout
        assert "only 10 trades since the deploy; 20 more needed (at least 30)" in proc.stdout

    def test_no_trade_since_the_deploy_is_watch(self, site: DeployTree) -> None:
        """Right after a deploy the verdict is WATCH with all 30 trades still needed."""
        proc = site.run_cli("monitor", "--json")
        assert proc.returncode == 1
        payload = json.loads(proc.stdout)
        assert (payload["verdict"], payload["trades_needed"]) == ("WATCH", 30)

    def test_json_is_one_strict_document(self, site: DeployTree) -> None:
        """--json prints the verdict, checks, windows and report path as one document."""
        _collapse(site)
        signals = signal_records(50, start=BEFORE_B, hold_rate=0.2)
        path = write_jsonl(site.root / "sig.jsonl", signals)
        proc = site.run_cli("monitor", "--json", "--signals", str(path))
        assert proc.returncode == EXIT_ROLLBACK_ADVISED
        payload = json.loads(proc.stdout)
        assert payload["ok"] is True
        assert (payload["verdict"], payload["exit_code"], payload["version"]) == (
            "ROLLBACK",
            8,
            B,
        )
        assert payload["windows"]["new"]["n"] == 100
        assert payload["windows"]["baseline"]["n"] == 200
        assert payload["windows"]["signals"] == {
            "path": str(path),
            "by": "deploy_time",
            "new": 0,
            "baseline": 50,
        }
        checks = {c["name"]: c for c in payload["checks"]}
        assert checks["hold_rate"]["value"] is None  # NaN is not JSON
        assert payload["auto_rollback"] is None
        assert payload["report"].endswith(".md")

    def test_tagged_trades_use_their_calibration_version(self, site: DeployTree) -> None:
        """Trades carrying calibration_version are split by it, not by the deploy time."""
        write_jsonl(site.paths.data, _baseline(version=A))
        late = trade_records(5, start=DEPLOY_B, step=timedelta(minutes=1), version=A)
        new = trade_records(60, start=AFTER_B, step=STEP, version=B, calibrated=0.55)
        _add_trades(site, late + new)
        proc = site.run_cli("monitor")
        assert proc.returncode == 0, proc.stdout
        assert f"60 trades with calibration_version = {B}" in proc.stdout
        assert "205 available" in proc.stdout


class TestSince:
    @pytest.fixture
    def chain(self, site: DeployTree) -> DeployTree:
        """B collapsed, then C replaced it and has been stable."""
        _collapse(site)
        deploy_at(site, C, DEPLOY_B + timedelta(days=2), shift=-0.04)
        _add_trades(site, trade_records(60, start=DEPLOY_B + timedelta(days=2, hours=1)))
        return site

    def test_since_judges_a_version_that_is_no_longer_live(self, chain: DeployTree) -> None:
        """`--since B` judges B's own live period and says there is nothing to roll back."""
        proc = chain.run_cli("monitor", "--since", B)
        assert proc.returncode == EXIT_ROLLBACK_ADVISED, proc.stderr
        assert f"{B} (not live; live is {C})" in proc.stdout
        assert "100 trades closed since it went live" in proc.stdout
        assert f"{B} is no longer live; nothing to roll back." in proc.stdout

    def test_auto_rollback_of_a_version_that_is_not_live_is_refused(
        self, chain: DeployTree
    ) -> None:
        """--auto-rollback with --since naming a non-live version refuses up front."""
        before = _config_dir(chain)
        proc = chain.run_cli("monitor", "--since", B, "--auto-rollback")
        assert proc.returncode == 7
        assert _error_line(proc) == (
            f"error: refusing --auto-rollback: {B} is not the live version (live: {C}); "
            "judge it without --auto-rollback"
        )
        assert _config_dir(chain) == before
        assert _reports(chain) == []


class TestRefusals:
    def test_auto_rollback_without_an_earlier_version_fails_with_the_verdict(
        self, tmp_path: Path
    ) -> None:
        """Only A was ever deployed: the verdict is printed, the rollback refused (exit 7)."""
        tree = make_tree(tmp_path / "single")
        deploy_at(tree, A, DEPLOY_B, shift=-0.03)
        write_jsonl(tree.paths.data, _baseline())
        _collapse(tree)
        proc = tree.run_cli("monitor", "--auto-rollback")
        assert proc.returncode == 7
        assert "🔴 Verdict: ROLLBACK" in proc.stdout
        assert "❌ Auto-rollback failed: no earlier version to roll back to" in proc.stdout
        assert _error_line(proc).startswith("error: auto-rollback failed: no earlier version")
        assert tree.live_version() == A

    def test_no_live_config(self, tmp_path: Path) -> None:
        """Nothing deployed: one line, exit 7."""
        tree = make_tree(tmp_path / "none")
        proc = tree.run_cli("monitor")
        assert proc.returncode == 7
        assert _error_line(proc) == (
            f"error: no config at {tree.paths.config} (from CALIBRATION_CONFIG_PATH): "
            "nothing to monitor"
        )

    def test_a_live_config_without_an_audit_record(self, tmp_path: Path) -> None:
        """A config put live by hand has no deploy time: one line, exit 7."""
        tree = make_tree(tmp_path / "hand")
        tree.write_live(make_config(A))
        proc = tree.run_cli("monitor")
        assert proc.returncode == 7
        assert _error_line(proc).startswith(
            f"error: no audit record makes {A} live in {tree.paths.audit_log}"
        )

    def test_a_corrupt_live_config(self, site: DeployTree) -> None:
        """An unparseable live config: one line, exit 5."""
        site.paths.config.write_text("{", encoding="utf-8")
        proc = site.run_cli("monitor")
        assert proc.returncode == 5
        assert _error_line(proc).startswith(f"error: the live config {site.paths.config} does")

    @pytest.mark.parametrize(
        ("argv", "code", "message"),
        [
            (["--since", "nope"], 2, "error: argument --since: expected cal_YYYYMMDD_HHMMSS"),
            (["--since", C], 7, f"error: no audit record makes {C} live"),
            (["--baseline-trades", "0"], 2, "error: --baseline-trades must be at least 1 (got 0)"),
            (["--min-new-trades", "-3"], 2, "error: --min-new-trades must be at least 1 (got -3)"),
            (["--signals", "missing.jsonl"], 3, "error: signals log not found: /"),
            (["--signals", ""], 2, "error: --signals must name a file"),
        ],
    )
    def test_bad_arguments_are_one_line(
        self, site: DeployTree, argv: list[str], code: int, message: str
    ) -> None:
        """Each bad argument exits with its code and one `error:` line."""
        proc = site.run_cli("monitor", *argv)
        assert proc.returncode == code, proc.stderr
        assert _error_line(proc).startswith(message)

    def test_a_bad_trades_file_lists_every_bad_line(self, site: DeployTree) -> None:
        """Bad trade lines: exit 3 with every line listed."""
        _add_trades(site, [{"timestamp": "2026-02-10T01:00:00Z"}])
        with site.paths.data.open("a", encoding="utf-8") as handle:
            handle.write("{broken\n")
        proc = site.run_cli("monitor")
        assert proc.returncode == 3
        assert "clm_trades.jsonl:201: " in _error_line(proc)
        assert "  clm_trades.jsonl:202: not valid JSON" in proc.stderr

    def test_a_bad_signals_line_lists_every_bad_line(self, site: DeployTree) -> None:
        """Bad signal lines: exit 3 with every line listed."""
        path = site.root / "signals.jsonl"
        path.write_text('{"action": "HOLD"}\nnot json\n', encoding="utf-8")
        proc = site.run_cli("monitor", "--signals", str(path))
        assert proc.returncode == 3
        assert _error_line(proc).startswith("error: signals.jsonl:1: timestamp missing")
        assert "  signals.jsonl:2: not valid JSON" in proc.stderr


class TestRegistration:
    def test_help_lists_the_rollback_exit_code(self) -> None:
        """`--help` documents exit code 8, and monitor's help names the signals variable."""
        assert "ROLLBACK" in EXIT_CODES[EXIT_ROLLBACK_ADVISED]
        top = subprocess.run(
            [sys.executable, "-m", "calibration_core", "--help"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert "  8   monitor: ROLLBACK advised" in top.stdout
        sub = subprocess.run(
            [sys.executable, "-m", "calibration_core", "monitor", "--help"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert cli_monitor.ENV_SIGNALS_PATH in sub.stdout

    def test_registering_the_jobs_imports_no_numpy(self) -> None:
        """Building the parser (what approve/rollback pay) imports neither numpy nor monitoring."""
        code = (
            "import sys; from calibration_core.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy' "
            "or m == 'calibration_core.jobs.monitor'))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        assert done.stdout.strip() == "[]"

    def test_cli_defaults_match_the_rules(self) -> None:
        """The defaults repeated in cli_monitor (kept numpy-free) equal monitor.py's."""
        assert cli_monitor._DEFAULT_BASELINE_TRADES == monitor.DEFAULT_BASELINE_TRADES
        assert cli_monitor._DEFAULT_MIN_NEW_TRADES == monitor.MIN_NEW_TRADES
        assert cli_monitor._DEFAULT_COMPARE_TRADES == version_scoring.DEFAULT_COMPARE_TRADES


class TestFutureOutlier:
    def test_one_far_future_trade_stops_monitor_and_compare(self, site: DeployTree) -> None:
        """A single close stamped 2099 would fall into every window: exit 3, one clear line."""
        _stable(site)
        (outlier,) = trade_records(1, start=AFTER_B, step=STEP)
        outlier["timestamp"] = "2099-01-01T00:00:00Z"
        _add_trades(site, [outlier])
        for job in (("monitor",), ("compare", A, B)):
            proc = site.run_cli(*job)
            assert proc.returncode == 3, proc.stdout + proc.stderr
            assert "1 trade closed more than 5 min in the future (latest 2099-01-01" in (
                _error_line(proc)
            )
