"""End-to-end tests of ``check``, ``run`` and ``analyze`` through real subprocesses and files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from calibration_core.cli.main import JobContext, build_parser
from calibration_core.cli.offline import run_calibration
from calibration_core.config import CalibrationConfig, EnsembleWeights
from calibration_core.deploy.jobstore import JobStore
from calibration_core.jobs.report import MARKDOWN_SECTIONS, validate_report_document
from calibration_core.settings import resolve_paths
from calibration_core.sources.example_data import write_example_trades

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "clm_trades.jsonl"
PATH_VARIABLES = (
    "CLM_DATA_PATH",
    "SIMPLE_CLM_STORAGE",
    "CALIBRATION_CONFIG_PATH",
    "CALIBRATION_REPORT_DIR",
    "LEARNING_CADENCE_API",
)
LIVE_VERSION = "cal_20260201_000000"


@attrs.frozen
class Workspace:
    """A temporary checkout-like directory: trades, config dir, report dir, environment."""

    root: Path
    data: Path
    config: Path
    reports: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Return the environment pointing the CLI into this workspace."""
        env = {k: v for k, v in os.environ.items() if k not in PATH_VARIABLES}
        env.update(
            CLM_DATA_PATH=str(self.data),
            CALIBRATION_CONFIG_PATH=str(self.config),
            CALIBRATION_REPORT_DIR=str(self.reports),
            **extra,
        )
        return env

    def cli(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run ``python -m calibration_core`` with ``args`` in the workspace."""
        return subprocess.run(
            [sys.executable, "-m", "calibration_core", *args],
            cwd=self.root,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def jobs(self) -> list[dict[str, Any]]:
        """Return every job record written so far."""
        directory = self.reports / "jobs"
        if not directory.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(directory.glob("cal_*.json"))]


def _write_trades(path: Path, n: int, *, seed: int = 20260209) -> None:
    # Fresh trades (the newest minutes old): the shipped example is months old and starved.
    write_example_trades(path, n_trades=n, seed=seed)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """Return a workspace holding the example trades, ending now (the generator's default)."""
    data = tmp_path / "data" / "clm_trades.jsonl"
    data.parent.mkdir()
    _write_trades(data, 600)
    config = tmp_path / "config" / "calibration.json"
    config.parent.mkdir()
    return Workspace(tmp_path, data, config, tmp_path / "reports")


class _Cadence(BaseHTTPRequestHandler):
    answer: bytes = b"{}"

    def do_GET(self) -> None:
        """Answer the readiness path with the configured JSON."""
        if self.path != "/readiness/simple":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *_args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def cadence_api() -> Iterator[Any]:
    """Start a real HTTP server on 127.0.0.1; call it with an answer to get its URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: dict[str, Any]) -> str:
        handler = type("Handler", (_Cadence,), {"answer": json.dumps(answer).encode()})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _snapshot(directory: Path) -> dict[str, tuple[bytes | None, int]]:
    """Bytes and mtime of everything under ``directory``, the directory itself included."""
    result: dict[str, tuple[bytes | None, int]] = {".": (None, directory.stat().st_mtime_ns)}
    for path in sorted(directory.rglob("*")):
        content = path.read_bytes() if path.is_file() else None
        result[str(path.relative_to(directory))] = (content, path.stat().st_mtime_ns)
    return result


def _live_config(path: Path, weights: dict[str, float] | None = None) -> bytes:
    config = CalibrationConfig(
        version=LIVE_VERSION,
        created_at="2026-02-01T00:00:00+00:00",
        weights=EnsembleWeights(enabled=True, weights=tuple(weights.items()))
        if weights
        else EnsembleWeights(),
    )
    data = config.to_json().encode()
    path.write_bytes(data)
    return data


def _headings(markdown: str) -> list[str]:
    return [line[3:] for line in markdown.splitlines() if line.startswith("## ")]


def _break_lines(path: Path, bad: dict[int, str]) -> None:
    lines = path.read_text().splitlines(keepends=True)
    for number, text in bad.items():
        lines[number - 1] = text + "\n"
    path.write_text("".join(lines))


class TestCheck:
    def test_ready_data_prints_the_readiness_and_exits_zero(self, workspace: Workspace) -> None:
        """Enough clean trades: READY, the three levels, the integrity summary, exit 0."""
        result = workspace.cli("check")
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert out.startswith("📊 LEARNING CADENCE READINESS CHECK")
        assert "🟢 Status: READY" in out
        assert "Reason: Trade count sufficient (600/50)" in out
        assert "Allowed actions: ['calibration']" in out
        for level in ("calibration", "shadow", "production"):
            assert f" {level}: " in out
        assert "Trades: 600" in out
        assert "Date range: 2026-" in out
        assert "✅ CALIBRATION AUTHORIZED" in out

    def test_too_few_trades_is_not_ready(self, workspace: Workspace) -> None:
        """20 trades: NOT READY with the count in the reason, exit 1."""
        _write_trades(workspace.data, 20)
        result = workspace.cli("check")
        assert result.returncode == 1
        assert "🔴 Status: NOT READY" in result.stdout
        assert "(20/50)" in result.stdout

    def test_bad_lines_are_all_listed_and_not_ready(self, workspace: Workspace) -> None:
        """Every bad line is named by number; NOT READY, exit 3 as for `run`; no problems file."""
        _break_lines(workspace.data, {3: "not json", 7: '{"symbol": "BTCUSDT"}', 11: ""})
        result = workspace.cli("check")
        assert result.returncode == 3
        assert "🔴 Status: NOT READY" in result.stdout
        for number in (3, 7, 11):
            assert re.search(rf"— 1 record; line {number}$", result.stdout, re.MULTILINE)
        assert "(3 bad lines)" in result.stdout
        # Three lines are all on screen: a check run from cron leaves no file behind.
        assert list(workspace.reports.glob("problems_*.txt")) == []
        assert "full list" not in result.stdout
        assert workspace.cli("run").returncode == result.returncode

    def test_json_output_is_one_document(self, workspace: Workspace) -> None:
        """With --json the readiness, levels and integrity come as one JSON document."""
        result = workspace.cli("check", "--json")
        payload = json.loads(result.stdout)
        assert payload["calibration_authorized"] is True
        assert [lvl["name"] for lvl in payload["readiness"]["levels"]] == [
            "calibration",
            "shadow",
            "production",
        ]
        assert payload["integrity"]["n_trades"] == 600

    def test_cadence_api_that_is_ready_authorizes(
        self, workspace: Workspace, cadence_api: Any
    ) -> None:
        """A ready cadence API with "calibration" allowed keeps the answer READY."""
        url = cadence_api({"ready": True, "actions": ["calibration"]})
        result = workspace.cli("check", LEARNING_CADENCE_API=url)
        assert result.returncode == 0, result.stdout
        assert "cadence API ready" in result.stdout

    def test_cadence_api_that_is_not_ready_blocks(
        self, workspace: Workspace, cadence_api: Any
    ) -> None:
        """A cadence API saying not ready makes the answer NOT READY, exit 1."""
        url = cadence_api({"ready": False, "actions": []})
        result = workspace.cli("check", LEARNING_CADENCE_API=url)
        assert result.returncode == 1
        assert "cadence API says not ready" in result.stdout

    def test_unreachable_cadence_api_is_not_ready(self, workspace: Workspace) -> None:
        """A configured but unreachable cadence API is NOT READY, never a crash."""
        result = workspace.cli("check", LEARNING_CADENCE_API=_closed_port_url())
        assert result.returncode == 1
        assert "cannot reach" in result.stdout


class TestRun:
    def test_fresh_data_is_an_approve_candidate(self, workspace: Workspace) -> None:
        """Trades ending minutes ago: APPROVE CANDIDATE with no DO-NOT-APPLY reason."""
        end = datetime.now(UTC) - timedelta(minutes=5)
        write_example_trades(workspace.data, n_trades=600, days=20.0, end=end)
        result = workspace.cli("run", "--json")
        assert result.returncode == 0, result.stderr
        (record,) = workspace.jobs()
        export = json.loads(Path(record["report_json"]).read_text())
        assert export["summary"]["recommendation"] == "APPROVE CANDIDATE"
        assert export["do_not_apply_if"]["triggered"] == []
        assert record["status"] == "pending_approval"

    def test_example_data_gives_a_pending_job_with_real_improvement(
        self, workspace: Workspace
    ) -> None:
        """Shipped data: pending_approval, OOS improvement ≥ 5 %, weights moved, files written."""
        result = workspace.cli("run", "--json")
        assert result.returncode == 0, result.stderr
        payload = json.loads(result.stdout)
        assert payload["status"] == "pending_approval"
        assert payload["forced"] is False
        assert payload["oos_mse_improvement"] >= 0.05
        assert payload["confidence_map_enabled"] is True
        assert payload["weights_status"] == "proposed"
        (record,) = workspace.jobs()
        assert record["job_id"] == payload["job_id"]
        assert record["status"] == "pending_approval"
        assert record["forced"] is False
        assert record["proposed_config"]["version"] == payload["job_id"]
        assert record["proposed_config"]["confidence_calibration"]["enabled"] is True
        assert record["base_version"] is None
        assert record["summary"]["oos_mse_improvement"] == payload["oos_mse_improvement"]
        for key in ("markdown", "json", "picture"):
            assert Path(workspace.root, payload["report"][key]).is_file()
        assert payload["per_symbol"]["requested"] is False
        consensus = payload["consensus"]
        assert consensus["enabled"] is (consensus["oos_mse_improvement"] >= 0.05)
        assert "hold_bias" not in payload  # the HOLD bias was removed (issue 14 item 5)

    def test_per_symbol_flag_evaluates_every_symbol_out_of_sample(
        self, workspace: Workspace
    ) -> None:
        """`run --per-symbol` on the shipped data: pending, one row per symbol, reasons given."""
        result = workspace.cli("run", "--per-symbol", "--json")
        assert result.returncode == 0, result.stderr
        payload = json.loads(result.stdout)
        assert payload["status"] == "pending_approval"
        assert payload["per_symbol"]["requested"] is True
        (record,) = workspace.jobs()
        assert record["summary"]["per_symbol_requested"] is True
        export = json.loads(Path(record["report_json"]).read_text())
        rows = export["per_symbol"]["symbols"]
        assert [r["symbol"] for r in rows] == sorted(export["data"]["symbols"])
        for row in rows:
            assert row["reason"].startswith("kept:" if row["kept"] else "fallback:")
            if row["kept"]:
                assert row["oos_mse_symbol"] < row["oos_mse_global"]
        kept = sorted(r["symbol"] for r in rows if r["kept"])
        assert sorted(symbol for symbol in record["proposed_config"]["per_symbol"]["maps"]) == kept
        markdown = Path(record["report_markdown"]).read_text()
        section = markdown.split("## 7a.")[1].split("## 7b.")[0]
        for row in rows:
            assert f"| {row['symbol']} | {row['n_trades']} |" in section

    def test_human_output_names_the_job_and_the_next_steps(self, workspace: Workspace) -> None:
        """The printout has the job id, status, report, validation, risk and exact commands."""
        result = workspace.cli("run")
        assert result.returncode == 0, result.stderr
        out = result.stdout
        job_id = workspace.jobs()[0]["job_id"]
        assert "✅ CALIBRATION ANALYSIS COMPLETE" in out
        assert f"Job ID: {job_id}" in out
        assert "Status: pending_approval" in out
        assert f"Report: {workspace.reports}/calibration_{job_id}.md" in out
        assert "Validation: ✅ PASSED" in out
        assert "Risk: " in out
        assert "📋 NEXT STEPS:" in out
        approve = next(line for line in out.splitlines() if line.startswith("2. Approve"))
        assert approve.endswith(
            f": python -m calibration_core approve {job_id} "
            f"--config {workspace.config} --report-dir {workspace.reports}"
        )
        assert (
            f"Rollback if needed: python -m calibration_core rollback --config {workspace.config}"
            in out
        )

    def test_run_leaves_the_config_directory_byte_and_mtime_identical(
        self, workspace: Workspace
    ) -> None:
        """Live config, archive and sentinel are neither written nor touched by run."""
        live = _live_config(workspace.config)
        archive = workspace.config.parent / "calibration_archive"
        archive.mkdir()
        (archive / f"{LIVE_VERSION}.json").write_bytes(live)
        (workspace.config.parent / ".calibration_reload").write_text("x")
        before = _snapshot(workspace.config.parent)
        result = workspace.cli("run")
        assert result.returncode == 0, result.stderr
        assert _snapshot(workspace.config.parent) == before
        (record,) = workspace.jobs()
        assert record["base_version"] == LIVE_VERSION
        assert record["base_config_sha256"] == hashlib.sha256(live).hexdigest()

    def test_live_weights_for_the_same_models_are_the_starting_point(
        self, workspace: Workspace
    ) -> None:
        """Enabled live weights for the traded models are what the proposal moves from."""
        live = {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2}
        _live_config(workspace.config, live)
        assert workspace.cli("run").returncode == 0
        report = json.loads(next(workspace.reports.glob("calibration_*.json")).read_text())
        assert report["weights"]["current_source"] == f"live config {LIVE_VERSION}"
        assert {c["model"]: c["before"] for c in report["weights"]["changes"]} == live
        assert "rollback cal_20260201_000000" in report["deployment"]["rollback_to_version"]

    def test_invalid_live_config_is_recorded_as_none_and_said(self, workspace: Workspace) -> None:
        """An invalid live config gives base None in the record and a note in the report."""
        workspace.config.write_text('{"schema_version": 99}')
        assert workspace.cli("run").returncode == 0
        (record,) = workspace.jobs()
        assert record["base_version"] is None
        assert record["base_config_sha256"] is None
        markdown = Path(record["report_markdown"]).read_text()
        assert "is invalid" in markdown

    def test_trades_without_model_breakdown_skip_the_weights_with_the_reason(
        self, workspace: Workspace
    ) -> None:
        """No member votes: weights skipped, the reason printed, the map still proposed."""
        lines = [json.loads(line) for line in workspace.data.read_text().splitlines()]
        for line in lines:
            del line["model_breakdown"]
        workspace.data.write_text("".join(json.dumps(line) + "\n" for line in lines))
        result = workspace.cli("run", "--json")
        assert result.returncode == 0, result.stderr
        payload = json.loads(result.stdout)
        assert payload["weights_status"] == "skipped"
        (record,) = workspace.jobs()
        assert record["proposed_config"]["ensemble_weights"]["enabled"] is False
        markdown = Path(record["report_markdown"]).read_text()
        section = markdown.split("## 7.")[1].split("## 8.")[0]
        assert "model_breakdown" in section

    def test_too_few_trades_exit_3_and_create_no_job(self, workspace: Workspace) -> None:
        """20 trades fail the data check with exit 3, even with --force, and leave no job."""
        _write_trades(workspace.data, 20)
        for args in (("run",), ("run", "--force")):
            result = workspace.cli(*args)
            assert result.returncode == 3
            assert "only 20 trades" in result.stderr
        assert workspace.jobs() == []

    def test_bad_lines_exit_3_listing_every_one(self, workspace: Workspace) -> None:
        """Bad lines stop the run with exit 3, every line number on stderr and in --json."""
        _break_lines(workspace.data, {2: "{", 5: '{"side": "HOLD"}'})
        result = workspace.cli("run")
        assert result.returncode == 3
        assert "clm_trades.jsonl:2:" in result.stderr
        assert re.search(r"line 5$", result.stderr, re.MULTILINE)
        assert workspace.jobs() == []
        result = workspace.cli("run", "--json")
        assert result.returncode == 3
        problems = json.loads(result.stdout)["problems"]
        assert [p.split(":")[1] for p in problems] == ["2", "5"]

    def test_not_authorized_exits_4_with_the_reason(
        self, workspace: Workspace, cadence_api: Any
    ) -> None:
        """A cadence API that is not ready refuses the run with exit 4 and no job."""
        url = cadence_api({"ready": False, "actions": []})
        result = workspace.cli("run", LEARNING_CADENCE_API=url)
        assert result.returncode == 4
        assert "not authorized" in result.stderr
        assert "cadence API says not ready" in result.stderr
        assert workspace.jobs() == []

    def test_force_marks_the_job_forced_everywhere(
        self, workspace: Workspace, cadence_api: Any
    ) -> None:
        """--force runs anyway and marks record, report, JSON export and output FORCED."""
        url = cadence_api({"ready": False, "actions": []})
        result = workspace.cli("run", "--force", LEARNING_CADENCE_API=url)
        assert result.returncode == 0, result.stderr
        assert "FORCED — NOT DEPLOYABLE" in result.stdout
        assert "approve refuses it" in result.stdout
        assert "Approve: python" not in result.stdout
        (record,) = workspace.jobs()
        assert record["forced"] is True
        markdown = Path(record["report_markdown"]).read_text()
        assert "FORCED — NOT DEPLOYABLE" in markdown.split("## 1.")[0]
        export = json.loads(Path(record["report_json"]).read_text())
        assert export["job"]["forced"] is True
        assert export["deployment"]["deployable"] is False
        assert export["authorization"]["forced"] is True
        assert export["summary"]["recommendation"] == "DO NOT APPLY"
        # The forcing itself is a reason, not only the example data's age.
        assert any("forced" in reason for reason in export["do_not_apply_if"]["triggered"])

    def test_report_sections_are_in_order_and_the_export_validates(
        self, workspace: Workspace
    ) -> None:
        """The Markdown has its sections (the eleven, with 7a-7c) in order; the JSON fits."""
        assert workspace.cli("run").returncode == 0
        (record,) = workspace.jobs()
        assert _headings(Path(record["report_markdown"]).read_text()) == list(MARKDOWN_SECTIONS)
        export = json.loads(Path(record["report_json"]).read_text())
        assert validate_report_document(export) == []
        assert export["proposed_config"] == record["proposed_config"]

    def test_report_without_matplotlib_says_so_and_keeps_the_table(
        self, workspace: Workspace
    ) -> None:
        """With matplotlib unimportable the report says how to install it and draws no PNG."""
        code = (
            "import sys; sys.modules['matplotlib'] = None; "
            "from calibration_core.cli.main import main; raise SystemExit(main(['run']))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=workspace.root,
            env=workspace.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        (record,) = workspace.jobs()
        markdown = Path(record["report_markdown"]).read_text()
        assert "matplotlib is not installed" in markdown
        assert "pip install 'calibration_core[plot]'" in markdown
        assert "Wilson 95% CI" in markdown
        assert list(workspace.reports.glob("*.png")) == []

    def test_two_runs_in_the_same_second_get_distinct_ids(self, workspace: Workspace) -> None:
        """Two jobs created at the same instant are cal_…, then cal_…_01, both saved."""
        moment = datetime(2026, 2, 10, 14, 30, 22, tzinfo=UTC)
        write_example_trades(workspace.data, end=moment - timedelta(minutes=5))
        paths = resolve_paths(
            data=workspace.data,
            config=workspace.config,
            report_dir=workspace.reports,
            environ={},
        )
        args = build_parser().parse_args(["run"])
        ids = []
        for _ in range(2):
            out = io.StringIO()
            ctx = JobContext(
                paths=paths,
                as_json=True,
                stdout=out,
                stderr=io.StringIO(),
                stdin=io.StringIO(),
                now=lambda: moment,
            )
            assert run_calibration(args, ctx) == 0
            ids.append(json.loads(out.getvalue())["job_id"])
        assert ids == ["cal_20260210_143022", "cal_20260210_143022_01"]
        store = JobStore(workspace.reports / "jobs")
        assert [store.load(i).status for i in ids] == ["pending_approval"] * 2

    def test_defaults_work_in_a_fresh_checkout(self, workspace: Workspace) -> None:
        """With no variables set, check and run use data/, config/ and create reports/."""
        env = {k: v for k, v in os.environ.items() if k not in PATH_VARIABLES}
        for job in ("check", "run"):
            result = subprocess.run(
                [sys.executable, "-m", "calibration_core", job],
                cwd=workspace.root,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr
        assert len(list((workspace.root / "reports").glob("calibration_*.md"))) == 1


class TestAnalyze:
    def test_writes_json_and_csv_to_the_out_dir(self, workspace: Workspace) -> None:
        """The analyze job writes analysis_<timestamp>.json and .csv with a summary per symbol."""
        out_dir = workspace.root / "analysis"
        result = workspace.cli("analyze", "--out-dir", str(out_dir))
        assert result.returncode == 0, result.stderr
        (json_file,) = out_dir.glob("analysis_*.json")
        (csv_file,) = out_dir.glob("analysis_*.csv")
        assert json_file.stem == csv_file.stem
        document = json.loads(json_file.read_text())
        assert document["overall"]["distribution"]["count"] == 600
        assert len(document["per_symbol"]) == 5
        assert csv_file.read_text().startswith("scope,kind,label,lower,upper,count,win_rate")
        assert "Correlation with wins" in result.stdout

    def test_default_out_dir_is_the_report_dir_and_names_do_not_collide(
        self, workspace: Workspace
    ) -> None:
        """Without --out-dir the files go to the report directory; a second run adds a file."""
        assert workspace.cli("analyze").returncode == 0
        assert workspace.cli("analyze").returncode == 0
        assert len(list(workspace.reports.glob("analysis_*.json"))) == 2

    def test_bad_lines_exit_3(self, workspace: Workspace) -> None:
        """The analyze job refuses bad data like run does."""
        _break_lines(workspace.data, {4: "nope"})
        result = workspace.cli("analyze")
        assert result.returncode == 3
        assert "clm_trades.jsonl:4:" in result.stderr


def _findings_block(stdout: str) -> list[str]:
    """Return the lines of check's data-integrity section."""
    block = stdout.split("📁 DATA INTEGRITY")[1]
    return block.split("\n\n")[0].splitlines()


class TestDialectsAndPathologies:
    """Issue 9 §1-2 through the real CLI: every dialect, every pathology, short output."""

    @pytest.mark.parametrize("dialect", ["A", "B", "mixed"])
    def test_every_dialect_checks_ready_and_runs(self, workspace: Workspace, dialect: str) -> None:
        """Dialects A, B and a mixed file: check READY, run saves a job, no per-line noise."""
        write_example_trades(workspace.data, dialect=dialect)
        check = workspace.cli("check")
        assert check.returncode == 0, check.stdout
        assert len(check.stdout.splitlines()) < 40
        run = workspace.cli("run", "--json")
        assert run.returncode in (0, 1), run.stderr
        (record,) = workspace.jobs()
        assert record["n_trades"] == 600
        assert record["summary"]["outcome_definition"] == "pnl"

    def test_zoneless_timestamps_are_reported_once(self, workspace: Workspace) -> None:
        """Dialect B: one line with the count and first lines, in check and in the report."""
        write_example_trades(workspace.data, dialect="B")
        check = workspace.cli("check")
        assert check.stdout.count("without a zone") == 1
        assert "600 timestamps without a zone, read as UTC" in check.stdout
        assert "lines 1, 2, 3, 4, 5, …" in check.stdout
        assert workspace.cli("run").returncode in (0, 1)
        (record,) = workspace.jobs()
        markdown = Path(record["report_markdown"]).read_text()
        assert markdown.count("without a zone") == 1
        export = json.loads(Path(record["report_json"]).read_text())
        assert export["data"]["zoneless_timestamps"] == {
            "count": 600,
            "first_lines": [1, 2, 3, 4, 5],
        }

    def test_win_definitions_side_by_side(self, workspace: Workspace) -> None:
        """Dialect A: the report states the definition and shows the label and cadence rates."""
        write_example_trades(workspace.data, dialect="A")
        check = workspace.cli("check")
        assert "Win rate by outcome_label:" in check.stdout
        assert "cadence service's WIN/(WIN+LOSS):" in check.stdout
        workspace.cli("run")
        (record,) = workspace.jobs()
        markdown = Path(record["report_markdown"]).read_text()
        assert "Outcome definition" in markdown
        assert "WIN is PnL > 0, LOSS is PnL < 0" in markdown
        assert "cadence service" in markdown

    def test_outcome_label_leaves_neutral_out_of_the_fit(self, workspace: Workspace) -> None:
        """Run --outcome label fits the WIN/LOSS-labelled trades only and says so."""
        write_example_trades(workspace.data, dialect="A")
        check = json.loads(workspace.cli("check", "--json").stdout)
        labels = check["integrity"]["outcome_label"]
        result = workspace.cli("run", "--outcome", "label", "--json")
        assert result.returncode in (0, 1), result.stderr
        (record,) = workspace.jobs()
        assert record["summary"]["outcome_definition"] == "label"
        assert record["summary"]["trades_in_fit"] == labels["wins"] + labels["losses"]
        assert labels["neutral"] > 0
        assert record["summary"]["wins"] == labels["wins"]
        markdown = Path(record["report_markdown"]).read_text()
        assert "NEUTRAL is left out" in markdown

    @pytest.mark.parametrize("label", ["NEUTRAL", "WIN"])
    def test_outcome_label_needs_both_labels(self, workspace: Workspace, label: str) -> None:
        """Every label NEUTRAL (or WIN): a clear exit 3, not exit 2 or a crash."""
        write_example_trades(workspace.data, dialect="A")
        lines = [json.loads(x) for x in workspace.data.read_text().splitlines()]
        workspace.data.write_text(
            "".join(json.dumps({**r, "outcome_label": label}) + "\n" for r in lines)
        )
        result = workspace.cli("run", "--outcome", "label")
        assert result.returncode == 3, result.stderr
        assert "--outcome label needs at least one WIN and one LOSS label" in result.stderr
        assert "Traceback" not in result.stderr

    def test_outcome_label_without_labels_is_refused(self, workspace: Workspace) -> None:
        """Our dialect carries no outcome_label: --outcome label is a clear exit 3."""
        result = workspace.cli("run", "--outcome", "label")
        assert result.returncode == 3
        assert "--outcome label needs outcome_label on every trade; 600 trades have none" in (
            result.stderr
        )
        assert workspace.jobs() == []

    def test_duplicates_stop_and_drop_duplicates_goes_on(self, workspace: Workspace) -> None:
        """Repeats stop check and run; --drop-duplicates counts them into job, report, config."""
        write_example_trades(workspace.data, duplicates=40)
        check = workspace.cli("check")
        assert check.returncode == 1
        assert "40 records repeat an earlier one" in check.stdout
        assert "↔" in check.stdout
        run = workspace.cli("run")
        assert run.returncode == 3
        assert "40 records repeat an earlier one" in run.stderr
        assert workspace.jobs() == []
        run = workspace.cli("run", "--drop-duplicates", "--json")
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["duplicates_dropped"] == 40
        (record,) = workspace.jobs()
        assert record["n_trades"] == 600
        assert record["summary"]["duplicates_dropped"] == 40
        assert record["proposed_config"]["data_hash"].endswith("(dropped 40 duplicates)")
        export = json.loads(Path(record["report_json"]).read_text())
        assert export["data"]["duplicates_dropped"] == 40
        approve = workspace.cli("approve", record["job_id"], "--yes")
        assert approve.returncode == 0, approve.stderr
        live = json.loads(workspace.config.read_text())
        assert live["data_hash"].endswith("(dropped 40 duplicates)")

    def test_constant_confidence_refuses_the_map_only(self, workspace: Workspace) -> None:
        """Confidence 0.7 everywhere: the map is refused naming 0.7; weights are analysed."""
        write_example_trades(workspace.data, constant_confidence=0.7)
        check = workspace.cli("check")
        assert "confidence takes only 1 distinct value (0.7)" in check.stdout
        result = workspace.cli("run", "--json")
        payload = json.loads(result.stdout)
        assert payload["confidence_map_enabled"] is False
        (record,) = workspace.jobs()
        assert record["proposed_config"]["confidence_calibration"]["enabled"] is False
        assert record["summary"]["weights_status"] != "skipped"
        markdown = Path(record["report_markdown"]).read_text()
        assert "confidence map refused: confidence takes only 1 distinct value (0.7)" in markdown

    def test_few_contradicting_sides_warn(self, workspace: Workspace) -> None:
        """Sides contradicting prices and PnL on 3 % of trades: a warning with the count."""
        write_example_trades(workspace.data, contradicting_sides=18)
        check = workspace.cli("check")
        assert check.returncode == 0
        assert "⚠️  18 trades (3.0% of the 600 with a nonzero PnL) carry a side" in check.stdout
        assert workspace.cli("run").returncode == 0
        (record,) = workspace.jobs()
        problems_file = workspace.reports / f"calibration_{record['job_id']}_problems.txt"
        listed = problems_file.read_text().splitlines()
        assert len([p for p in listed if p.startswith("side_contradicts_pnl: line ")]) == 18
        markdown = Path(record["report_markdown"]).read_text()
        assert str(problems_file) in markdown

    def test_many_contradicting_sides_stop(self, workspace: Workspace) -> None:
        """At 10 % or more the side cannot be trusted: check, run and run --json refuse."""
        write_example_trades(workspace.data, contradicting_sides=60)
        check = workspace.cli("check")
        assert check.returncode == 1
        assert "❌ 60 trades (10.0% of the 600 with a nonzero PnL)" in check.stdout
        run = workspace.cli("run", "--json")
        assert run.returncode == 3
        payload = json.loads(run.stdout)
        assert payload["ok"] is False
        assert "carry a side that contradicts their prices and PnL" in payload["error"]
        assert len(payload["problems"]) >= 60
        assert workspace.jobs() == []

    def test_future_close_stops_check_and_run(self, workspace: Workspace) -> None:
        """One close a day ahead stops check and run, and --force does not override it."""
        write_example_trades(workspace.data, future_closes=1)
        check = workspace.cli("check")
        assert check.returncode == 1
        assert "1 trade closed more than 5 min in the future" in check.stdout
        for args in (("run",), ("run", "--force")):
            run = workspace.cli(*args)
            assert run.returncode == 3
            assert "in the future" in run.stderr
        assert workspace.jobs() == []

    def test_one_fresh_outlier_does_not_hide_starvation(self, workspace: Workspace) -> None:
        """Stale trades plus one stamped now: still starved, and the span is not stretched."""
        end = datetime.now(UTC) - timedelta(days=3)
        write_example_trades(workspace.data, end=end, days=2.0)
        fresh = json.loads(workspace.data.read_text().splitlines()[-1])
        fresh["timestamp"] = datetime.now(UTC).isoformat()
        fresh["entry_price"] = fresh["entry_price"] + 1.0
        fresh["exit_price"] = fresh["entry_price"] * (1 + fresh["actual_pnl_pct"] / 100)
        fresh["side"] = "BUY"
        with workspace.data.open("a") as out:
            out.write(json.dumps(fresh) + "\n")
        check = json.loads(workspace.cli("check", "--json").stdout)
        assert check["integrity"]["starvation"] is not None
        # The message is true: the newest close is fresh, the one before it is not.
        assert (
            "only one close in the last 2 h; the one before it is 3"
            in (check["integrity"]["starvation"])
        )
        assert check["integrity"]["span_days"] < 2.0
        assert check["readiness"]["ready"] is False

    def test_starvation_refuses_check_and_run_unless_forced(self, workspace: Workspace) -> None:
        """Newest close 3 h old: check NOT READY, run exit 4, run --force a FORCED job."""
        write_example_trades(workspace.data, end=datetime.now(UTC) - timedelta(hours=3))
        check = workspace.cli("check")
        assert check.returncode == 1
        assert "SimpleCLM STARVATION: the newest close is" in check.stdout
        run = workspace.cli("run")
        assert run.returncode == 4
        assert "SimpleCLM STARVATION" in run.stderr
        assert workspace.jobs() == []
        forced = workspace.cli("run", "--force", "--json")
        assert forced.returncode == 0, forced.stderr
        assert json.loads(forced.stdout)["forced"] is True
        (record,) = workspace.jobs()
        assert record["forced"] is True

    def test_thousands_of_bad_records_print_in_few_lines(self, workspace: Workspace) -> None:
        """5,000 bad lines of five kinds: at most 20 lines; --json and the file carry all."""
        good = workspace.data.read_text().splitlines()
        bad = [
            "not json",
            '{"side": "HOLD"}',
            "",
            json.dumps({**json.loads(good[0]), "confidence": 2.0}),
            json.dumps({**json.loads(good[0]), "exit_price": None}),
        ]
        workspace.data.write_text("\n".join(good + bad * 1000) + "\n")
        run = workspace.cli("run")
        assert run.returncode == 3
        assert len(run.stderr.splitlines()) <= 20, run.stderr
        check = workspace.cli("check")
        assert check.returncode == 3  # bad data: the same code as run
        problems_section = check.stdout.split("📁 DATA INTEGRITY")[1].split("\n\n")[0]
        assert len(problems_section.splitlines()) <= 20, problems_section
        assert "— 1000 records; lines 601, 606, 611, 616, 621, …" in check.stdout
        as_json = json.loads(workspace.cli("run", "--json").stdout)
        assert len(as_json["problems"]) == 5000
        files = sorted(workspace.reports.glob("problems_*.txt"))
        assert files
        assert len(files[-1].read_text().splitlines()) == 5000

    def test_many_findings_print_in_few_lines(self, workspace: Workspace) -> None:
        """Duplicates, contradictions, a future close and constant confidence: few lines."""
        write_example_trades(
            workspace.data,
            n_trades=3000,
            duplicates=1500,
            contradicting_sides=900,
            future_closes=200,
            constant_confidence=0.7,
        )
        check = workspace.cli("check")
        assert check.returncode == 1
        assert len(_findings_block(check.stdout)) <= 20, check.stdout
        assert all(len(line) < 300 for line in _findings_block(check.stdout))
        run = workspace.cli("run")
        assert run.returncode == 3
        assert len(run.stderr.splitlines()) <= 20, run.stderr

    def test_simple_clm_storage_names_the_trades_file(self, workspace: Workspace) -> None:
        """Without CLM_DATA_PATH, the recorder's SIMPLE_CLM_STORAGE is the trades file."""
        recorder = workspace.root / "recorder" / "clm_trades.jsonl"
        recorder.parent.mkdir()
        write_example_trades(recorder, n_trades=77)
        env = workspace.env(SIMPLE_CLM_STORAGE=str(recorder))
        del env["CLM_DATA_PATH"]
        result = subprocess.run(
            [sys.executable, "-m", "calibration_core", "check", "--json"],
            cwd=workspace.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        payload = json.loads(result.stdout)
        assert payload["data_path"] == str(recorder)
        assert payload["integrity"]["n_trades"] == 77
        both = workspace.cli("check", "--json", SIMPLE_CLM_STORAGE=str(recorder))
        assert json.loads(both.stdout)["data_path"] == str(workspace.data)
