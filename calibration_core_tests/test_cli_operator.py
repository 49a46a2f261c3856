"""The operator's experience of the CLI, through real subprocesses: commands, paths, output."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

import calibration_core
from calibration_core.cli.main import EXIT_CODES, PROG
from calibration_core.settings import resolve_paths
from calibration_core.sources.example_data import write_example_trades
from calibration_core_tests.deploy_helpers import DeployTree
from calibration_core_tests.monitor_helpers import (
    DEPLOY_A,
    DEPLOY_B,
    A,
    B,
    deploy_at,
    monitor_tree,
    trade_records,
    write_jsonl,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PATH_VARIABLES = (
    "CLM_DATA_PATH",
    "CALIBRATION_CONFIG_PATH",
    "CALIBRATION_REPORT_DIR",
    "LEARNING_CADENCE_API",
    "CALIBRATION_SIGNALS_PATH",
    "NO_COLOR",
    "PYTHONIOENCODING",
)
BASELINE_START = DEPLOY_A + timedelta(hours=1)
AFTER_B = DEPLOY_B + timedelta(minutes=5)
SAMPLE_ROOT = "/srv/calibration"
"""Where the samples in docs/operations.md were captured; a fresh run's root is shown as this."""


def clean_env(**extra: str) -> dict[str, str]:
    """Return the environment without any calibration variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in PATH_VARIABLES}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m calibration_core *args`` in ``cwd`` with a clean environment."""
    return subprocess.run(
        [sys.executable, "-m", "calibration_core", *args],
        cwd=cwd,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        input=input_text,
        stdin=None if input_text is not None else subprocess.DEVNULL,
        timeout=180,
        check=False,
    )


def run_printed(
    command: str, *extra: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command exactly as the tool printed it (plus ``extra``), from ``cwd``."""
    assert command.startswith(PROG + " "), command
    argv = shlex.split(command[len(PROG) :])
    return cli(*argv, *extra, cwd=cwd, env=env)


def line_after(text: str, label: str) -> str:
    """Return what follows ``label`` on the first line containing it."""
    line = next(line for line in text.splitlines() if label in line)
    return line.split(label, 1)[1].strip()


@attrs.frozen
class Site:
    """A directory like a deployment host: fresh trades, an empty config dir, reports."""

    root: Path
    elsewhere: Path

    @property
    def data(self) -> Path:
        """The trades file."""
        return self.root / "data" / "clm_trades.jsonl"

    @property
    def config(self) -> Path:
        """The live config."""
        return self.root / "config" / "calibration.json"

    @property
    def reports(self) -> Path:
        """The report directory."""
        return self.root / "reports"

    def live_version(self) -> str | None:
        """Return the live config's version, or None."""
        if not self.config.exists():
            return None
        version: str = json.loads(self.config.read_text(encoding="utf-8"))["version"]
        return version


def fresh_trades(path: Path, *, n: int = 600) -> None:
    """Write the example trades ending now (a fresh proposal an operator could approve)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_example_trades(path, n_trades=n)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """Return a site with 600 fresh trades and a separate directory to run commands from."""
    result = Site(tmp_path / "site", tmp_path / "elsewhere")
    fresh_trades(result.data)
    result.config.parent.mkdir(parents=True)
    result.elsewhere.mkdir()
    return result


# --------------------------------------------------------------------------- item 1


class TestPrintedCommands:
    def test_every_printed_command_runs_as_printed_from_another_directory(self, site: Site) -> None:
        """Check, run, approve, rollback: each run exactly as the previous job printed it."""
        # An earlier version is live, so that the printed rollback has somewhere to go.
        tree = DeployTree(
            site.root,
            resolve_paths(data=site.data, config=site.config, report_dir=site.reports),
        )
        deploy_at(tree, A, datetime.now(UTC) - timedelta(days=30), shift=-0.03)
        relative = ("--data", "data/clm_trades.jsonl", "--config", "config/calibration.json")
        check = cli(*relative, "--report-dir", "reports", "check", cwd=site.root)
        assert check.returncode == 0, check.stdout + check.stderr
        run_command = line_after(check.stdout, "You can run:")

        first = run_printed(run_command, cwd=site.elsewhere)
        assert first.returncode == 0, first.stdout + first.stderr
        approve = line_after(first.stdout, "2. Approve:")
        job_id = line_after(first.stdout, "Job ID:")
        report = json.loads((site.reports / f"calibration_{job_id}.json").read_text())
        assert report["deployment"]["approve"] == approve
        markdown = (site.reports / f"calibration_{job_id}.md").read_text(encoding="utf-8")
        assert approve in markdown

        deployed = run_printed(approve, "--yes", cwd=site.elsewhere)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert site.live_version() == job_id

        rollback = line_after(first.stdout, "Rollback if needed:")
        back = run_printed(rollback, "--yes", cwd=site.elsewhere)
        assert back.returncode == 0, back.stdout + back.stderr
        assert site.live_version() == A
        # The report's rollback commands are the printed one and one naming the base.
        assert report["deployment"]["rollback"] == rollback
        to_base = run_printed(
            report["deployment"]["rollback_to_version"], "--yes", cwd=site.elsewhere
        )
        assert to_base.returncode == 0, to_base.stdout + to_base.stderr
        assert f"{A} is already live" in to_base.stdout

    def test_path_flags_are_accepted_before_and_after_the_job(self, site: Site) -> None:
        """`--data X check` and `check --data X` read the same file; after the job name wins."""
        before = cli("--json", "--data", str(site.data), "check", cwd=site.elsewhere)
        after = cli("check", "--json", "--data", str(site.data), cwd=site.elsewhere)
        both = cli("--data", "nowhere.jsonl", "check", "--data", str(site.data), cwd=site.root)
        assert before.returncode == after.returncode == both.returncode == 0
        assert json.loads(before.stdout)["data_path"] == str(site.data)
        assert json.loads(after.stdout)["data_path"] == str(site.data)

    def test_monitor_rollback_hint_repeats_the_config(self, tmp_path: Path) -> None:
        """Monitor's "Roll back: …" hint, run as printed elsewhere, rolls back this config."""
        tree = monitor_tree(tmp_path / "site")
        write_jsonl(
            tree.paths.data,
            [
                *trade_records(200, start=BASELINE_START, step=timedelta(minutes=40)),
                *trade_records(100, start=AFTER_B, step=timedelta(minutes=10), win_rate=0.30),
            ],
        )
        flags = ("--config", str(tree.paths.config), "--data", str(tree.paths.data))
        proc = cli("monitor", *flags, "--report-dir", str(tree.paths.report_dir), cwd=tmp_path)
        assert proc.returncode == 8, proc.stdout + proc.stderr
        hint = line_after(proc.stdout, "Roll back:")
        assert f"--config {tree.paths.config}" in hint
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        back = run_printed(hint, "--yes", cwd=elsewhere)
        assert back.returncode == 0, back.stdout + back.stderr
        assert "Rolled back to" in back.stdout
        assert tree.live_version() != B


# --------------------------------------------------------------------------- item 2


class TestPaths:
    def test_every_job_prints_the_absolute_paths_and_which_are_defaults(self, site: Site) -> None:
        """From a relative default, the absolute path is printed once, marked as the default."""
        proc = cli("check", cwd=site.root)
        assert proc.returncode == 0, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("trades:")]
        assert lines == [f"trades:      {site.data} (default; set CLM_DATA_PATH or pass --data)"]
        env = clean_env(CLM_DATA_PATH=str(site.data))
        proc = cli("check", cwd=site.elsewhere, env=env)
        assert f"trades:      {site.data} (from CLM_DATA_PATH)" in proc.stderr
        assert "default" not in proc.stderr

    def test_a_cadence_password_is_never_printed(self, site: Site) -> None:
        """A cadence URL with a password is masked in the paths and left out of commands."""
        url = "http://ops:s3cret@127.0.0.1:9/"
        proc = cli("run", "--data", str(site.data), "--cadence-api", url, "--force", cwd=site.root)
        assert "s3cret" not in proc.stderr
        assert "cadence API: http://ops:***@127.0.0.1:9 (from --cadence-api)" in proc.stderr
        commands = [line for line in proc.stdout.splitlines() if PROG in line]
        assert commands
        assert not [line for line in commands if "s3cret" in line or "--cadence-api" in line]

    @pytest.mark.parametrize("job", ["status", "monitor"])
    def test_status_and_monitor_name_the_missing_default_config(self, site: Site, job: str) -> None:
        """From elsewhere: "no config at /abs (default; set …)", not "nothing deployed"."""
        proc = cli(job, cwd=site.elsewhere)
        expected = (
            f"no config at {site.elsewhere}/config/calibration.json "
            "(default; set CALIBRATION_CONFIG_PATH)"
        )
        assert expected in proc.stdout + proc.stderr
        assert "nothing deployed" not in proc.stdout + proc.stderr
        assert "nothing is deployed" not in proc.stdout + proc.stderr

    def test_monitor_without_new_trades_says_no_data_and_null(self, tmp_path: Path) -> None:
        """No trade since the deploy: "no data" in the report and null in JSON, never 0.0 %."""
        tree = monitor_tree(tmp_path / "site")
        write_jsonl(
            tree.paths.data,
            trade_records(200, start=BASELINE_START, step=timedelta(minutes=40)),
        )
        flags = (
            *("--config", str(tree.paths.config), "--data", str(tree.paths.data)),
            *("--report-dir", str(tree.paths.report_dir)),
        )
        proc = cli("monitor", "--json", *flags, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        payload = json.loads(proc.stdout)
        current = payload["current"]
        assert current["n_trades"] == 0
        for name in ("win_rate", "brier_raw", "brier_calibrated", "calibrated_mean", "mean_pnl"):
            assert current[name] is None, name
        assert "no trades since the deploy yet" in payload["reasons"][0]
        report = Path(payload["report"]).read_text(encoding="utf-8")
        assert "| win rate | 55.0% | no data |" in report or "| no data |" in report
        assert "0.0%" not in report.split("| win rate |")[1].splitlines()[0]


# --------------------------------------------------------------------------- item 3

_DOUBLED = re.compile(r"\b([A-Za-z]+)\s+\1\b", re.IGNORECASE)


def _assert_tidy(proc: subprocess.CompletedProcess[str], what: str) -> None:
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, what + "\n" + text
    # "Reason: X" and a later "X" are the same line printed twice.
    lines = [line.strip().removeprefix("Reason: ") for line in text.splitlines()]
    lines = [line for line in lines if line and set(line) - set("═=-")]
    repeated = {line for line in lines if lines.count(line) > 1}
    assert not repeated, f"{what}: repeated lines {repeated}\n{text}"
    doubled = [m.group(0) for m in _DOUBLED.finditer(text)]
    assert not doubled, f"{what}: doubled words {doubled}\n{text}"


def _failure_cases(site: Site) -> list[tuple[str, list[str], int]]:
    bad = site.root / "bad.jsonl"
    lines = site.data.read_text(encoding="utf-8").splitlines(keepends=True)
    bad.write_text(
        "".join(lines[:5]) + '{"a": 1}\n' + '{"symbol": "unterminated\n' + "".join(lines[5:20]),
        encoding="utf-8",
    )
    few = site.root / "few.jsonl"
    few.write_text("".join(lines[:20]), encoding="utf-8")
    empty = site.root / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    missing = str(site.root / "no_such_file.jsonl")
    unknown = "cal_20200101_000000"
    return [
        ("check missing file", ["check", "--data", missing], 3),
        ("check bad lines", ["check", "--data", str(bad)], 3),
        ("check too few trades", ["check", "--data", str(few)], 1),
        ("run missing file", ["run", "--data", missing], 3),
        ("run bad lines", ["run", "--data", str(bad)], 3),
        ("run too few trades", ["run", "--data", str(few)], 3),
        ("analyze empty file", ["analyze", "--data", str(empty)], 3),
        ("approve unknown job", ["approve", unknown, "--yes"], 7),
        ("approve malformed id", ["approve", "../x", "--yes"], 2),
        ("approve not confirmed", ["approve", unknown], 7),
        ("abort unknown job", ["abort", unknown], 7),
        ("rollback nothing live", ["rollback", "--yes"], 7),
        ("rollback malformed", ["rollback", "latest", "--yes"], 2),
        ("status no config", ["status"], 0),
        ("history empty", ["history"], 0),
        ("diff unknown", ["diff", unknown, "live"], 7),
        ("monitor no config", ["monitor"], 7),
        ("monitor malformed since", ["monitor", "--since", "x"], 2),
        ("compare unknown", ["compare", unknown, "live"], 7),
        ("unknown job", ["deploy"], 2),
        ("unknown flag", ["status", "--frobnicate"], 2),
        ("missing job id", ["approve"], 2),
        ("empty path", ["check", "--data", ""], 2),
        ("lock timeout nan", ["approve", unknown, "--lock-timeout", "nan"], 2),
    ]


class TestMessages:
    def test_every_failure_path_is_tidy(self, site: Site) -> None:
        """Each job's failure: its exit code, no traceback, no repeated line, no doubled word."""
        env = clean_env(
            CLM_DATA_PATH=str(site.data),
            CALIBRATION_CONFIG_PATH=str(site.config),
            CALIBRATION_REPORT_DIR=str(site.reports),
        )
        for what, argv, code in _failure_cases(site):
            proc = cli(*argv, cwd=site.elsewhere, env=env)
            assert proc.returncode == code, f"{what}: {proc.returncode}\n{proc.stderr}"
            _assert_tidy(proc, what)

    def test_a_missing_trades_file_is_a_path_problem_not_a_producer_problem(
        self, site: Site
    ) -> None:
        """A typo in the path says to check the path, not to fix the producer."""
        proc = cli("check", cwd=site.elsewhere)
        assert proc.returncode == 3
        assert "Fix the producer" not in proc.stdout
        assert "nobody cleans it by hand" not in proc.stdout
        assert "Check the path (default; set CLM_DATA_PATH)" in proc.stdout

    def test_json_decoder_messages_do_not_stutter(self, site: Site) -> None:
        """The decoder's "Unterminated string starting at" is not followed by a second "at"."""
        site.data.write_text('{"symbol": "BTC\n{"a": 1}\n', encoding="utf-8")
        proc = cli("check", "--data", str(site.data), cwd=site.root)
        assert "Unterminated string starting at column" in proc.stdout
        assert "at at" not in proc.stdout

    def test_each_data_error_is_printed_once(self, site: Site) -> None:
        """`run` on bad lines: the first in the error line, each other once below it."""
        lines = site.data.read_text(encoding="utf-8").splitlines(keepends=True)
        lines[3] = "not json\n"
        lines[8] = "{}\n"
        site.data.write_text("".join(lines), encoding="utf-8")
        proc = cli("run", "--data", str(site.data), cwd=site.root)
        assert proc.returncode == 3
        # The error line names the first; the grouped list below names each once.
        listed = [line for line in proc.stderr.splitlines() if not line.startswith("error: ")]
        assert len(re.findall(r"\bline 4\b", "\n".join(listed))) == 1, proc.stderr
        assert re.search(r"\bline 9\b", "\n".join(listed)), proc.stderr
        assert len(set(listed)) == len(listed), proc.stderr


# --------------------------------------------------------------------------- item 4


def _help_table(text: str) -> dict[int, str]:
    rows = re.findall(r"^  (\d+) +(.+)$", text.split("exit codes:", 1)[1], re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def _docs_table() -> dict[int, str]:
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section, re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


class TestConventions:
    def test_exit_code_table_is_the_same_in_help_and_docs(self, tmp_path: Path) -> None:
        """`--help` and docs/operations.md show the same codes with the same words."""
        proc = cli("--help", cwd=tmp_path)
        assert proc.returncode == 0
        assert _help_table(proc.stdout) == _docs_table() == EXIT_CODES

    def test_version_has_one_source(self, tmp_path: Path) -> None:
        """`--version`, `__version__` and pyproject's dynamic version are the same constant."""
        proc = cli("--version", cwd=tmp_path)
        assert proc.returncode == 0
        assert proc.stdout.strip() == f"{PROG} {calibration_core.__version__}"
        assert re.fullmatch(r"\d+\.\d+\.\d+", calibration_core.__version__)
        project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
        assert "version" not in project["project"]
        assert "version" in project["project"]["dynamic"]
        assert project["tool"]["setuptools"]["dynamic"]["version"] == {
            "attr": "calibration_core.__version__"
        }

    def test_usage_names_the_program_as_invoked(self, tmp_path: Path) -> None:
        """Through the `calibration-core` console script the usage line says so."""
        script = tmp_path / "bin" / "calibration-core"
        script.parent.mkdir()
        script.write_text(
            "import sys\nfrom calibration_core.cli.main import main\nsys.exit(main())\n",
            encoding="utf-8",
        )
        console = subprocess.run(
            [sys.executable, str(script), "--help"],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert console.stdout.startswith("usage: calibration-core ")
        module = cli("--help", cwd=tmp_path)
        assert module.stdout.startswith(f"usage: {PROG} ")
        bad = cli("approve", "x", cwd=tmp_path)
        assert bad.returncode == 2
        assert f"(see `{PROG} approve --help`)" in bad.stderr

    @pytest.mark.parametrize(
        "argv",
        [
            ["--json", "approve"],
            ["approve", "--json"],
            ["--json", "status", "--frobnicate"],
            ["--json", "approve", "cal_20200101_000000", "--lock-timeout", "nan"],
            ["--json", "monitor", "--lock-timeout", "inf"],
            ["--json", "rollback", "../etc"],
            ["--json"],
        ],
    )
    def test_usage_errors_under_json_are_json(self, tmp_path: Path, argv: list[str]) -> None:
        """A usage error with --json prints the same JSON error object as other failures."""
        proc = cli(*argv, cwd=tmp_path)
        assert proc.returncode == 2
        payload = json.loads(proc.stdout)
        assert payload["ok"] is False
        assert payload["exit_code"] == 2
        assert payload["problems"] == []
        assert proc.stderr.strip() == f"error: {payload['error']}"


class TestPersonText:
    @pytest.mark.parametrize(
        ("flag", "value"),
        [
            ("--approved-by", "alice\u009b31m"),  # C1 CSI
            ("--approved-by", "\u202eecila"),  # right-to-left override
            ("--approved-by", "bob\u2066x\u2069"),  # bidi isolates
            ("--approved-by", "eve\x1b[2J"),  # C0 escape
            ("--approved-by", "mallory\u2028"),  # line separator
        ],
    )
    def test_approver_refuses_controls_and_bidi(self, site: Site, flag: str, value: str) -> None:
        """Controls and bidi overrides in a name are a usage error naming the code point."""
        proc = cli("approve", "cal_20200101_000000", flag, value, "--yes", cwd=site.root)
        assert proc.returncode == 2
        assert "without control or bidirectional characters (got " in proc.stderr
        assert not site.config.exists()

    @pytest.mark.parametrize(
        "argv",
        [
            ["abort", "cal_20200101_000000", "--by", "x\u009by"],
            ["abort", "cal_20200101_000000", "--reason", "ok\u202edaB"],
            ["rollback", "--yes", "--by", "x\u0085y"],
            ["rollback", "--yes", "--reason", "\u200fhidden"],
        ],
    )
    def test_by_and_reason_refuse_controls_and_bidi(self, site: Site, argv: list[str]) -> None:
        """`--by` and `--reason` follow the same rule as `--approved-by`."""
        proc = cli(*argv, cwd=site.root)
        assert proc.returncode == 2, proc.stderr
        assert "without control or bidirectional characters (got " in proc.stderr

    def test_ordinary_names_are_accepted(self, site: Site) -> None:
        """Accents, spaces and punctuation are fine."""
        proc = cli("abort", "cal_20200101_000000", "--by", "Zoë O'Neil", cwd=site.root)
        assert proc.returncode == 7  # the job is unknown; the name passed
        assert "unknown job" in proc.stderr


# --------------------------------------------------------------------------- item 6


class TestLogging:
    @pytest.mark.parametrize(
        "argv",
        [
            ["check"],
            ["run"],
            ["analyze"],
            ["status"],
            ["history"],
            ["monitor"],
            ["approve", "cal_20200101_000000", "--yes"],
        ],
    )
    def test_verbose_works_for_every_job(self, site: Site, argv: list[str]) -> None:
        """-v logs with UTC timestamps; -vv adds debug; quiet by default."""
        env = clean_env(
            CLM_DATA_PATH=str(site.data),
            CALIBRATION_CONFIG_PATH=str(site.config),
            CALIBRATION_REPORT_DIR=str(site.reports),
        )
        quiet = cli(*argv, cwd=site.root, env=env)
        loud = cli("-v", *argv, cwd=site.root, env=env)
        stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 INFO calibration_core\.")
        assert not any(stamp.match(line) for line in quiet.stderr.splitlines())
        logged = [line for line in loud.stderr.splitlines() if stamp.match(line)]
        assert any(f"job {argv[0]} started" in line for line in logged), loud.stderr
        assert loud.returncode == quiet.returncode
        after = cli(*argv, "-vv", cwd=site.root, env=env)
        assert any(stamp.match(line) for line in after.stderr.splitlines())

    def test_verbosity_adds_up_on_both_sides_of_the_job(self, site: Site) -> None:
        """`-v check -v` is -vv (debug lines); `-v check` is info only."""
        debug = re.compile(r"^\S+ DEBUG calibration_core\.cli: arguments: ")
        info = cli("-v", "check", cwd=site.root)
        both = cli("-v", "check", "-v", cwd=site.root)
        assert not any(debug.match(line) for line in info.stderr.splitlines())
        assert any(debug.match(line) for line in both.stderr.splitlines()), both.stderr

    def test_offline_steps_are_logged_as_json_lines(self, site: Site) -> None:
        """--log-format json: one object per line with event, version and digest fields."""
        proc = cli("run", "-v", "--log-format", "json", "--data", str(site.data), cwd=site.root)
        assert proc.returncode == 0, proc.stderr
        records = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
        events = [r["event"] for r in records]
        for event in ("job_started", "trades_read", "readiness", "proposal_built", "job_saved"):
            assert event in events, events
        for record in records:
            assert {"ts", "level", "logger", "event", "version", "digest"} <= record.keys()
            assert record["logger"].startswith("calibration_core.")
            assert record["calibration_core"] == calibration_core.__version__
        read = next(r for r in records if r["event"] == "trades_read")
        assert read["digest"].startswith("sha256:")
        assert read["n"] == 600

    def test_deploy_events_carry_the_version_and_digest(self, site: Site) -> None:
        """Approve logs its event with the config version and its sha256."""
        run = cli("run", "--data", str(site.data), cwd=site.root)
        job_id = line_after(run.stdout, "Job ID:")
        proc = cli("approve", job_id, "--yes", "-v", "--log-format", "json", cwd=site.root)
        assert proc.returncode == 0, proc.stderr
        records = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
        deploy = next(r for r in records if r["event"] == "deploy")
        assert deploy["version"] == job_id
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", deploy["digest"])


# --------------------------------------------------------------------------- item 7


def _in_pty(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; return (code, output)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "calibration_core", *argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = datetime.now(UTC) + timedelta(seconds=120)
    while datetime.now(UTC) < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif proc.poll() is not None:
            break
    os.close(leader)
    code = proc.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


class TestTerminalOutput:
    @pytest.mark.parametrize(
        "argv",
        [
            ["check"],
            ["run"],
            ["analyze"],
            ["status"],
            ["history"],
            ["monitor"],
            ["approve", "cal_20200101_000000", "--yes"],
            ["diff", "cal_20200101_000000", "live"],
            ["check", "--data", "nowhere.jsonl"],
        ],
    )
    def test_an_ascii_output_never_crashes(self, site: Site, argv: list[str]) -> None:
        """PYTHONIOENCODING=ascii: same exit code as UTF-8, ASCII markers, no traceback."""
        env = clean_env(
            CLM_DATA_PATH=str(site.data),
            CALIBRATION_CONFIG_PATH=str(site.config),
            CALIBRATION_REPORT_DIR=str(site.reports),
        )
        utf8 = cli(*argv, cwd=site.root, env=env)
        ascii_env = {**env, "PYTHONIOENCODING": "ascii"}
        plain = cli(*argv, cwd=site.root, env=ascii_env)
        assert plain.returncode == utf8.returncode, plain.stderr
        assert plain.returncode != 70
        assert "Traceback" not in plain.stderr
        assert plain.stdout.isascii()
        assert plain.stderr.isascii()
        if "✅" in utf8.stdout:
            assert "[OK]" in plain.stdout

    def test_a_closed_pipe_is_not_a_crash(self, site: Site) -> None:
        """`… | head` closing the pipe early: no traceback and the job's own exit code."""
        read_end, write_end = os.pipe()
        os.close(read_end)  # every write gets EPIPE, deterministically
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "calibration_core", "check"],
                cwd=site.root,
                env=clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            os.close(write_end)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "BrokenPipeError" not in proc.stderr

    def test_colour_only_on_a_terminal_and_never_with_no_color(self, site: Site) -> None:
        """On a terminal the verdict lines are coloured; NO_COLOR or a pipe gives plain text."""
        env = clean_env(CLM_DATA_PATH=str(site.data), TERM="xterm")
        code, shown = _in_pty(["check"], site.root, env)
        assert code == 0
        assert "\x1b[32m" in shown
        code, shown = _in_pty(["check"], site.root, {**env, "NO_COLOR": "1"})
        assert code == 0
        assert "\x1b[" not in shown
        piped = cli("check", cwd=site.root, env=env)
        assert "\x1b[" not in piped.stdout + piped.stderr


# --------------------------------------------------------------------------- item 8


class TestProgress:
    def test_progress_is_drawn_on_a_terminal_only(self, site: Site) -> None:
        """`run --per-symbol` on a terminal shows the ingest, fold and symbol bars; piped, none."""
        env = clean_env(TERM="xterm", NO_COLOR="1")
        code, shown = _in_pty(["run", "--per-symbol"], site.root, env)
        assert code in {0, 1}, shown
        for step in ("reading trades", "out-of-sample folds", "per-symbol maps"):
            assert step in shown, shown
        piped = cli("run", "--per-symbol", cwd=site.root, env=env)
        for step in ("reading trades", "out-of-sample folds", "per-symbol maps"):
            assert step not in piped.stderr

    def test_the_runtime_never_imports_tqdm(self, tmp_path: Path) -> None:
        """Importing and using the loader path leaves tqdm unimported."""
        code = (
            "import sys, calibration_core\n"
            "from calibration_core import config\nfrom calibration_core.runtime import loader\n"
            "calibration_core.apply_confidence_calibration(0.7)\n"
            "assert 'tqdm' not in sys.modules, 'tqdm imported'\n"
            "from calibration_core.cli import main as cli\n"
            "cli.build_parser()\n"
            "assert 'tqdm' not in sys.modules, 'tqdm imported by the parser'\n"
        )
        env = clean_env(CALIBRATION_CONFIG_PATH=str(tmp_path / "none.json"))
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- item 9


class TestPackaging:
    def test_metadata_uses_an_spdx_license_string_and_classifiers(self) -> None:
        """pyproject: SPDX license string, classifiers, no license classifier, no dead URLs."""
        project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
        meta = project["project"]
        assert meta["license"] == "LicenseRef-Proprietary"
        # The internal Git host is not recorded here: no placeholder link is shipped.
        assert not [u for u in meta.get("urls", {}).values() if ".invalid" in u]
        assert "Private :: Do Not Upload" in meta["classifiers"]
        assert not [c for c in meta["classifiers"] if c.startswith("License ::")]
        assert meta["scripts"]["calibration-core"] == "calibration_core.cli.main:main"
        requires = project["build-system"]["requires"]
        assert any(r.replace(" ", "").startswith("setuptools>=77") for r in requires)

    def test_no_build_artefacts_are_committed_and_they_are_ignored(self) -> None:
        """calibration_core.egg-info/ and build/ are not tracked, and git ignores them."""
        if shutil.which("git") is None or not (REPO / ".git").exists():
            pytest.skip("not a git checkout")
        tracked = subprocess.run(
            ["git", "ls-files", "calibration_core.egg-info", "build"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert tracked.stdout == ""
        ignored = subprocess.run(
            ["git", "check-ignore", "calibration_core.egg-info/PKG-INFO", "build/lib/x.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert ignored.stdout.split() == ["calibration_core.egg-info/PKG-INFO", "build/lib/x.py"]


# --------------------------------------------------------------------------- item 10

_MASKS = (
    (re.compile(r"cal_\d{8}_\d{6}(?:_\d{2,3})?"), "<job>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"), "<time>"),
)


def _mask(text: str) -> list[str]:
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return text.rstrip("\n").splitlines()


def _doc_sample(name: str) -> str:
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    marker = f"<!-- sample: {name} -->\n```\n"
    assert marker in text, f"no sample {name!r} in docs/operations.md"
    return text.split(marker, 1)[1].split("\n```", 1)[0]


def capture_samples(root: Path) -> dict[str, str]:
    """Run the documented commands in ``root`` (fresh trades) and return their output.

    Each output shows ``root`` as ``/srv/calibration``, where the docs' samples were taken.
    """
    fresh_trades(root / "data" / "clm_trades.jsonl")
    (root / "config").mkdir(parents=True, exist_ok=True)
    check = cli("check", cwd=root)
    run = cli("run", cwd=root)
    assert check.returncode == 0, check.stderr
    assert run.returncode == 0, run.stderr
    return {
        name: text.replace(str(root), SAMPLE_ROOT)
        for name, text in {
            "check": check.stdout,
            "run": run.stdout,
            "run-stderr": run.stderr,
        }.items()
    }


class TestDocumentedOutput:
    def test_the_runbook_shows_what_the_code_prints(self, tmp_path: Path) -> None:
        """docs/operations.md's samples equal a fresh run line by line, up to ids and times."""
        fresh = capture_samples(tmp_path / "calibration")
        for name, text in fresh.items():
            assert _mask(_doc_sample(name)) == _mask(text), name


def _print_samples() -> None:  # pragma: no cover - `python -m calibration_core_tests.test_cli_…`
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as directory:
        for name, text in capture_samples(Path(directory) / "calibration").items():
            print(f"<!-- sample: {name} -->\n```\n{text.rstrip()}\n```\n")  # noqa: T201


if __name__ == "__main__":  # pragma: no cover
    _print_samples()


__all__: list[Any] = []
