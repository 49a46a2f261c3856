"""Tests of the pre-flight probes with real commands, real files and a real HTTP server."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from calibration_core.exceptions import InvalidInputError
from calibration_core.sources.cadence import assess_readiness
from calibration_core.sources.integrity import IntegritySummary
from calibration_core.sources.preflight import (
    DEFAULT_TIMEOUT,
    ENV_PREFLIGHT,
    Preflight,
    ProbeResult,
    load_probes,
    preflight_path,
    run_preflight,
    run_probe,
    skipped_preflight,
)
from calibration_core_tests.site_helpers import fresh_trades, site_cli, site_environment

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "preflight.example.toml"
SLACK = 10.0  # a probe that ignored its timeout would hang for 30 s or more

# --------------------------------------------------------------------------- helpers


def _write(tmp_path: Path, text: str, name: str = "preflight.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _script(tmp_path: Path, name: str, body: str) -> str:
    """Write an executable shell script and return its path."""
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body), encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def _toml_list(words: list[str]) -> str:
    return "[" + ", ".join(json.dumps(w) for w in words) + "]"


def _command_probe(name: str, argv: list[str], *, timeout: float | None = None) -> str:
    extra = f"timeout = {timeout}\n" if timeout is not None else ""
    return f'[[probe]]\nname = "{name}"\nkind = "command"\ncommand = {_toml_list(argv)}\n{extra}\n'


def _no_match_probe(name: str, argv: list[str], pattern: str, *, ignore_case: bool = False) -> str:
    return (
        f'[[probe]]\nname = "{name}"\nkind = "no_match"\ncommand = {_toml_list(argv)}\n'
        f"pattern = {json.dumps(pattern)}\nignore_case = {str(ignore_case).lower()}\n\n"
    )


def _http_probe(name: str, url: str, field: str, relation: str, value: str) -> str:
    return (
        f'[[probe]]\nname = "{name}"\nkind = "http_json"\nurl = "{url}"\n'
        f'field = "{field}"\n{relation} = {value}\n\n'
    )


def _run_one(tmp_path: Path, text: str) -> ProbeResult:
    (result,) = run_preflight(_write(tmp_path, text)).results
    return result


class _Status(BaseHTTPRequestHandler):
    """A Risk-Safety-like status service: the path picks the answer."""

    answers: dict[str, bytes] = {  # noqa: RUF012 - read-only table
        "/ok": b'{"status": "OK", "risk": {"mode": "NORMAL", "halted": false}, "n": 3}',
        "/halt": b'{"status": "HALT", "risk": {"mode": "HALT", "halted": true}}',
        "/duplicate": b'{"status": "HALT", "status": "OK"}',
        "/list": b'{"services": [{"name": "a", "state": "up"}]}',
        "/bad": b"{status: OK",
    }

    def do_GET(self) -> None:
        """Answer the path's JSON, or 404."""
        body = self.answers.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def status_url() -> Iterator[str]:
    """Run a status service on 127.0.0.1 for one test and yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _summary() -> IntegritySummary:
    return IntegritySummary(
        source="clm_trades.jsonl",
        data_hash="sha256:0",
        n_trades=60,
        n_symbols=2,
        symbols=("A", "B"),
        wins=30,
        losses=30,
        neutral=0,
        zero_pnl=0,
        win_rate=0.5,
        loss_rate=0.5,
        neutral_rate=0.0,
        first_timestamp=None,
        last_timestamp=None,
        span_days=4.0,
        problems=(),
        warnings=(),
    )


# --------------------------------------------------------------------------- the file


class TestLoadProbes:
    def test_every_kind_is_read(self, tmp_path: Path) -> None:
        """A file with one probe of each kind gives three probes in file order."""
        path = _write(
            tmp_path,
            _command_probe("engine", ["systemctl", "is-active", "x"], timeout=2)
            + _no_match_probe("log", ["journalctl", "-u", "x"], "ERROR|Traceback")
            + _http_probe("risk", "http://127.0.0.1:1/s", "risk.mode", "not_equals", '"HALT"'),
        )
        engine, log, risk = load_probes(path)
        assert (engine.name, engine.kind, engine.command, engine.timeout) == (
            "engine",
            "command",
            ("systemctl", "is-active", "x"),
            2.0,
        )
        assert (log.kind, log.pattern, log.timeout) == ("no_match", "ERROR|Traceback", 5.0)
        assert (risk.kind, risk.field, risk.expected, risk.must_equal) == (
            "http_json",
            "risk.mode",
            "HALT",
            False,
        )
        assert [p.line for p in (engine, log, risk)] == [1, 7, 14]

    def test_the_shipped_example_loads(self) -> None:
        """docs/preflight.example.toml encodes checklist phase 0.1 and the stop signals."""
        probes = load_probes(EXAMPLE)
        services = [p for p in probes if p.command[:2] == ("systemctl", "is-active")]
        assert {p.command[-1] for p in services} == {
            "quantum-ai-engine",
            "quantum-execution",
            "quantum-learning-monitor",
            "quantum-learning-api",
        }
        kinds = {p.kind for p in probes}
        assert kinds == {"command", "no_match", "http_json"}
        journals = [p for p in probes if p.command[:1] == ("journalctl",)]
        assert {p.command[2] for p in journals} == {"quantum-ai-engine", "quantum-execution"}
        assert any(p.command[:1] == ("redis-cli",) for p in probes)
        assert any(p.kind == "http_json" and p.expected == "HALT" for p in probes)

    @pytest.mark.parametrize(
        ("text", "pattern"),
        [
            (
                '[[probe]]\nname = "a"\nkind = "command"\ncommand = ["true"\n',
                r"preflight file .*preflight\.toml: Unclosed array \(at end of document, line 4\)",
            ),
            ('[[probe]]\nname = "a"\nname = "b"\n', r".*\(at line 3, column \d+\)"),
            ("", r"preflight file .*: no \[\[probe\]\] tables"),
            ("[probes]\n", r"preflight file .*: unknown top-level key 'probes' .*"),
            (
                '# a comment\n\n[[probe]]\nname = "a"\nkind = "ping"\n',
                (
                    r"preflight file .*preflight\.toml:3: probe 1: 'kind' must be one of command, "
                    r"no_match, http_json \(got 'ping'\)"
                ),
            ),
            (
                '[[probe]]\nname = "a"\nkind = "command"\ncommand = "true"\n',
                r".*:1: probe 1 \(a\): 'command' must be a non-empty list of strings .*",
            ),
            (
                '[[probe]]\nname = "a"\nkind = "command"\ncommand = []\n',
                r".*:1: probe 1 \(a\): 'command' must be a non-empty list of strings .*",
            ),
            (
                '[[probe]]\nname = "a"\nkind = "command"\ncommand = ["true"]\nshell = true\n',
                r".*:1: probe 1 \(a\): unknown key 'shell' for a command probe",
            ),
            (
                '[[probe]]\nname = "a"\nkind = "command"\ncommand = ["true"]\ntimeout = 0\n',
                r".*:1: probe 1 \(a\): 'timeout' must be a number of seconds in \(0, 300\]",
            ),
            (
                '[[probe]]\nname = "a"\nkind = "command"\ncommand = ["true"]\ntimeout = nan\n',
                r".*'timeout' must be a number of seconds.*",
            ),
            (
                '[[probe]]\nname = "a"\nkind = "no_match"\ncommand = ["true"]\npattern = "("\n',
                r".*:1: probe 1 \(a\): 'pattern' is not a regular expression .*",
            ),
            (
                '[[probe]]\nname = "a"\nkind = "no_match"\ncommand = ["true"]\n',
                r".*'pattern' must be a non-empty string",
            ),
            (
                (
                    '[[probe]]\nname = "a"\nkind = "http_json"\nurl = "ftp://x"\nfield = "s"\n'
                    'equals = "OK"\n'
                ),
                r".*'url' must start with http:// or https://",
            ),
            (
                (
                    '[[probe]]\nname = "a"\nkind = "http_json"\nurl = "http://x"\nfield = "s"\n'
                    'equals = "OK"\nnot_equals = "HALT"\n'
                ),
                r".*give exactly one of 'equals' and 'not_equals'",
            ),
            (
                (
                    '[[probe]]\nname = "a"\nkind = "http_json"\nurl = "http://x"\nfield = "a..b"\n'
                    'equals = "OK"\n'
                ),
                r".*'field' must be a dotted path.*",
            ),
            (
                (
                    '[[probe]]\nname = "a"\nkind = "http_json"\nurl = "http://x"\nfield = "s"\n'
                    "equals = [1]\n"
                ),
                r".*'equals' must be a string, number or boolean",
            ),
            (
                (
                    '[[probe]]\nname = "a"\nkind = "command"\ncommand = ["true"]\n\n'
                    '[[probe]]\nname = "a"\nkind = "command"\ncommand = ["false"]\n'
                ),
                r".*preflight\.toml:6: probe 2: the name 'a' is used twice \(first at line 1\)",
            ),
            (
                '[[probe]]\nname = "bad\\u001b[2J"\nkind = "command"\ncommand = ["true"]\n',
                r".*'name' holds control characters",
            ),
        ],
    )
    def test_malformed_file_is_one_line_naming_the_line(
        self, tmp_path: Path, text: str, pattern: str
    ) -> None:
        """Every mistake in the file is one InvalidInputError line that says where."""
        path = _write(tmp_path, text)
        with pytest.raises(InvalidInputError) as caught:
            load_probes(path)
        message = str(caught.value)
        assert "\n" not in message
        assert re.fullmatch(pattern, message), message

    def test_missing_file_is_one_line(self, tmp_path: Path) -> None:
        """A probe file that is not there is named."""
        with pytest.raises(InvalidInputError, match=r"preflight file .*nope\.toml: cannot read it"):
            load_probes(tmp_path / "nope.toml")

    def test_not_utf8_is_one_line(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are refused with their offset."""
        path = tmp_path / "p.toml"
        path.write_bytes(b'[[probe]]\nname = "\xff"\n')
        with pytest.raises(InvalidInputError, match=r"not UTF-8 \(byte 18\)"):
            load_probes(path)

    def test_path_comes_from_the_flag_then_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--preflight wins over $CALIBRATION_PREFLIGHT; an empty variable means none."""
        monkeypatch.setenv(ENV_PREFLIGHT, "/etc/env.toml")
        # Absolute, so that a printed check/run command finds the same file from anywhere.
        assert preflight_path("flag.toml") == Path("flag.toml").absolute()
        assert preflight_path(None) == Path("/etc/env.toml")
        monkeypatch.setenv(ENV_PREFLIGHT, "  ")
        assert preflight_path(None) is None
        monkeypatch.delenv(ENV_PREFLIGHT)
        assert preflight_path(None) is None


# --------------------------------------------------------------------------- commands


class TestCommandProbes:
    def test_true_passes(self, tmp_path: Path) -> None:
        """A command that exits 0 passes."""
        result = _run_one(tmp_path, _command_probe("ok", ["true"]))
        assert (result.passed, result.detail) == (True, "exit 0")

    def test_false_fails_with_its_exit_code(self, tmp_path: Path) -> None:
        """A command that exits non-zero fails, saying the code."""
        result = _run_one(tmp_path, _command_probe("down", ["false"]))
        assert (result.passed, result.detail) == (False, "exit 1")

    def test_failure_shows_the_first_output_line(self, tmp_path: Path) -> None:
        """systemctl-like output: the first non-empty line is the detail."""
        script = _script(tmp_path, "is-active", 'echo ""\necho inactive\necho more\nexit 3\n')
        result = _run_one(tmp_path, _command_probe("engine", [script]))
        assert (result.passed, result.detail) == (False, "exit 3: inactive")

    def test_stderr_is_captured_too(self, tmp_path: Path) -> None:
        """What the command writes to stderr counts as output."""
        script = _script(tmp_path, "err", "echo 'Failed to connect to bus' >&2\nexit 1\n")
        result = _run_one(tmp_path, _command_probe("bus", [script]))
        assert result.detail == "exit 1: Failed to connect to bus"

    def test_missing_command_is_a_failed_probe(self, tmp_path: Path) -> None:
        """A command that does not exist fails the probe; nothing raises."""
        result = _run_one(tmp_path, _command_probe("gone", ["no-such-command-xyz", "a"]))
        assert (result.passed, result.detail) == (False, "command not found: no-such-command-xyz")

    def test_not_executable_is_a_failed_probe(self, tmp_path: Path) -> None:
        """A file without the execute bit fails the probe."""
        path = tmp_path / "plain"
        path.write_text("echo hi\n")
        result = _run_one(tmp_path, _command_probe("plain", [str(path)]))
        assert (result.passed, result.detail) == (False, f"command not executable: {path}")

    def test_no_shell_is_involved(self, tmp_path: Path) -> None:
        """Shell syntax in an argument is passed as text, never interpreted."""
        marker = tmp_path / "pwned"
        argv = [sys.executable, "-c", "import sys; print(sys.argv[1])", f"; touch {marker}"]
        result = _run_one(tmp_path, _command_probe("echo", argv))
        assert result.passed
        assert not marker.exists()

    def test_hanging_command_is_killed_at_its_timeout(self, tmp_path: Path) -> None:
        """A probe that hangs past its timeout fails, and the call comes back."""
        start = time.monotonic()
        result = _run_one(tmp_path, _command_probe("hang", ["sleep", "60"], timeout=0.3))
        assert time.monotonic() - start < 0.3 + SLACK
        assert (result.passed, result.detail) == (False, "no result within 0.3 s (killed)")

    def test_child_that_keeps_the_pipe_open_is_killed(self, tmp_path: Path) -> None:
        """A command that exits but leaves a child holding its output is bounded too."""
        pid_file = tmp_path / "child.pid"
        script = _script(tmp_path, "fork", f"sleep 60 &\necho $! > {pid_file}\necho started\n")
        start = time.monotonic()
        result = _run_one(tmp_path, _command_probe("fork", [script], timeout=0.5))
        assert time.monotonic() - start < 0.5 + SLACK
        assert not result.passed
        child = int(pid_file.read_text())
        deadline = time.monotonic() + SLACK
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(child), "the probe's background child survived"

    def test_a_background_child_of_a_finished_probe_is_killed(self, tmp_path: Path) -> None:
        """The leader exits at once; the child it left (stdout closed) is killed too."""
        pid_file = tmp_path / "child.pid"
        script = _script(
            tmp_path, "bg", f"sleep 37 >/dev/null 2>&1 &\necho $! > {pid_file}\necho hi\n"
        )
        result = _run_one(tmp_path, _command_probe("bg", [script]))
        assert result.passed
        child = int(pid_file.read_text())
        deadline = time.monotonic() + SLACK
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(child), "the finished probe's background child survived"

    def test_endless_output_is_bounded(self, tmp_path: Path) -> None:
        """`yes` writes forever: the output is capped and the probe ends at its timeout."""
        result = _run_one(tmp_path, _no_match_probe("yes", ["yes"], "^n$"))
        assert not result.passed
        assert result.detail == f"no result within {DEFAULT_TIMEOUT:g} s (killed)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead: it only waits for its parent (init) to reap it.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except (OSError, IndexError):
        return False
    return state != "Z"


class TestNoMatchProbes:
    def test_a_match_after_the_first_mib_is_not_a_pass(self, tmp_path: Path) -> None:
        """Output cut at 1 MiB cannot prove that no line matches: the probe fails."""
        script = _script(
            tmp_path,
            "long",
            "i=0\nyes ok line | head -n 200000\necho 'FATAL: risk breaker tripped'\n",
        )
        result = _run_one(tmp_path, _no_match_probe("long", [script], "FATAL"))
        assert not result.passed
        assert result.detail.startswith("output over 1 MiB: cannot show that no line matches")

    def test_a_long_pattern_is_not_called_control_characters(self, tmp_path: Path) -> None:
        """A 400-character pattern is a valid probe file."""
        pattern = "ERROR|" + "|".join(f"word{i:03d}" for i in range(60))
        assert len(pattern) > 300
        result = _run_one(tmp_path, _no_match_probe("long pattern", ["true"], pattern))
        assert result.passed

    def test_script_that_prints_error_fails_with_the_line(self, tmp_path: Path) -> None:
        """The first matching line is the detail."""
        script = _script(
            tmp_path,
            "journal",
            "echo 'Feb 16 16:13 engine[1]: started'\n"
            "echo 'Feb 16 16:14 engine[1]: ERROR redis timeout'\n"
            "echo 'Feb 16 16:15 engine[1]: Traceback (most recent call last):'\n",
        )
        result = _run_one(tmp_path, _no_match_probe("log", [script], "ERROR|Traceback"))
        assert not result.passed
        assert result.detail == (
            "output matches 'ERROR|Traceback': Feb 16 16:14 engine[1]: ERROR redis timeout"
        )

    def test_clean_output_passes(self, tmp_path: Path) -> None:
        """No matching line and exit 0 passes."""
        script = _script(tmp_path, "journal", "echo '-- No entries --'\n")
        result = _run_one(tmp_path, _no_match_probe("log", [script], "ERROR|Traceback"))
        assert (result.passed, result.detail) == (True, "no line matches 'ERROR|Traceback'")

    def test_ignore_case(self, tmp_path: Path) -> None:
        """ignore_case = true matches "error" too, as `grep -i` in the checklist does."""
        script = _script(tmp_path, "journal", "echo 'an error happened'\n")
        strict = _run_one(tmp_path, _no_match_probe("log", [script], "ERROR"))
        loose = _run_one(tmp_path, _no_match_probe("log", [script], "ERROR", ignore_case=True))
        assert strict.passed
        assert not loose.passed

    def test_command_that_fails_fails_the_probe(self, tmp_path: Path) -> None:
        """No match but a non-zero exit (journalctl cannot read the journal) fails."""
        script = _script(tmp_path, "journal", "echo 'No journal files were found.'\nexit 1\n")
        result = _run_one(tmp_path, _no_match_probe("log", [script], "ERROR"))
        assert (result.passed, result.detail) == (False, "exit 1: No journal files were found.")

    def test_redis_latency_style_probe(self, tmp_path: Path) -> None:
        """`redis-cli --latency --raw` prints "min max avg samples": avg >= 50 ms fails."""
        pattern = r"^\d+ \d+ ([5-9]\d|\d{3,})(\.\d+)? \d+$"
        fast = _script(tmp_path, "fast", "echo '0 3 0.42 97'\n")
        slow = _script(tmp_path, "slow", "echo '12 180 63.10 15'\n")
        assert _run_one(tmp_path, _no_match_probe("redis", [fast], pattern)).passed
        slow_result = _run_one(tmp_path, _no_match_probe("redis", [slow], pattern))
        assert not slow_result.passed
        assert slow_result.detail.endswith(": 12 180 63.10 15")

    @pytest.mark.parametrize(
        ("output", "passed"),
        [
            ("-- No entries --", True),
            ("No journal files were found.", False),
            (
                "Hint: You are currently not seeing messages from other users and the system.",
                False,
            ),
            ("Feb 16 16:14 quantum-ai-engine[812]: Traceback (most recent call last):", False),
            ("Feb 16 16:14 quantum-ai-engine[812]: redis error: timeout", False),
        ],
    )
    def test_example_journal_probe_sees_a_blind_journalctl(
        self, tmp_path: Path, output: str, passed: bool
    ) -> None:
        """Journalctl exits 0 when it cannot see the journal; the example's pattern catches it."""
        (probe,) = [p for p in load_probes(EXAMPLE) if p.name == "AI Engine log clean (30 min)"]
        script = _script(tmp_path, "journalctl", f"echo {shlex.quote(output)}\n")
        result = run_probe(attrs.evolve(probe, command=(script, *probe.command[1:])))
        assert result.passed is passed, result.detail

    def test_hostile_output_is_escaped(self, tmp_path: Path) -> None:
        """ESC and bidi overrides in a probe's output do not reach the terminal raw."""
        script = _script(tmp_path, "evil", "printf 'ERROR \\033[2J\\342\\200\\256x\\n'\n")
        result = _run_one(tmp_path, _no_match_probe("log", [script], "ERROR"))
        assert "\x1b" not in result.detail
        assert "\u202e" not in result.detail
        assert result.detail.endswith("ERROR \\x1b[2J\\u202ex")


# --------------------------------------------------------------------------- HTTP


class TestHttpJsonProbes:
    @pytest.mark.parametrize(
        ("path", "field", "relation", "value", "passed", "detail"),
        [
            ("/ok", "status", "not_equals", '"HALT"', True, "status = 'OK' (≠ 'HALT')"),
            ("/halt", "status", "not_equals", '"HALT"', False, "status = 'HALT', must not equal"),
            ("/ok", "risk.mode", "equals", '"NORMAL"', True, "risk.mode = 'NORMAL' (= 'NORMAL')"),
            ("/halt", "risk.halted", "equals", "false", False, "risk.halted = true, must equal"),
            ("/ok", "risk.halted", "equals", "false", True, "risk.halted = false (= false)"),
            ("/ok", "n", "equals", "3.0", True, "n = 3 (= 3.0)"),
            ("/ok", "n", "equals", '"3"', False, "n = 3, must equal '3'"),
            ("/ok", "risk.halted", "equals", "0", False, "risk.halted = false, must equal 0"),
            ("/list", "services.0.state", "equals", '"up"', True, "services.0.state = 'up'"),
            ("/ok", "risk.level", "equals", '"x"', False, "answer has no field 'risk.level'"),
            ("/ok", "risk", "equals", '"x"', False, "risk = a JSON object, must equal 'x'"),
            ("/duplicate", "status", "not_equals", '"HALT"', False, "names the key 'status' twice"),
            ("/bad", "status", "equals", '"OK"', False, "answered invalid JSON"),
            ("/gone", "status", "equals", '"OK"', False, "answered HTTP 404"),
        ],
    )
    def test_field_is_compared(  # noqa: PLR0917 - one parameter per table column
        self,
        tmp_path: Path,
        status_url: str,
        path: str,
        field: str,
        relation: str,
        value: str,
        passed: bool,
        detail: str,
    ) -> None:
        """The dotted field is found and compared like with like (true is not 0)."""
        text = _http_probe("risk", status_url + path, field, relation, value)
        result = _run_one(tmp_path, text)
        assert result.passed is passed, result.detail
        assert detail in result.detail, result.detail

    def test_unreachable_service_fails(self, tmp_path: Path) -> None:
        """Nothing listening is a failed probe naming the URL."""
        text = _http_probe("risk", "http://127.0.0.1:9/status", "status", "not_equals", '"HALT"')
        result = _run_one(tmp_path, text)
        assert not result.passed
        assert result.detail.startswith("cannot reach http://127.0.0.1:9/status")

    def test_silent_service_is_cut_off(self, tmp_path: Path) -> None:
        """A service that accepts and never answers ends at the probe's timeout."""
        import socket  # noqa: PLC0415 - only this test needs a bare socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen(1)
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/status"
            text = _http_probe("risk", url, "status", "not_equals", '"HALT"')
            text = text.replace('kind = "http_json"', 'kind = "http_json"\ntimeout = 0.3')
            start = time.monotonic()
            result = _run_one(tmp_path, text)
        assert time.monotonic() - start < 0.3 + SLACK
        assert result.detail == f"no answer from {url} within 0.3 s"


# --------------------------------------------------------------------------- verdict


class TestVerdict:
    def test_failures_make_the_gate_not_ready(self, tmp_path: Path) -> None:
        """One failed probe is NOT READY with its name and first line."""
        script = _script(tmp_path, "down", "echo inactive\nexit 3\n")
        preflight = run_preflight(
            _write(tmp_path, _command_probe("ok", ["true"]) + _command_probe("engine", [script]))
        )
        assert not preflight.passed
        assert preflight.reason == "pre-flight probe 'engine' failed: exit 3: inactive"
        readiness = assess_readiness(_summary(), api_url=None, preflight=preflight)
        assert not readiness.ready
        # What blocks leads the NOT READY reason (cli's rule), before what is sufficient.
        assert readiness.reason.startswith("pre-flight probe 'engine' failed: exit 3: inactive; ")

    def test_all_passing_keeps_the_gate_ready(self, tmp_path: Path) -> None:
        """Every probe passing leaves the verdict to the other checks."""
        preflight = run_preflight(_write(tmp_path, _command_probe("ok", ["true"])))
        assert preflight.passed
        assert preflight.reason == "pre-flight: 1/1 probes passed"
        readiness = assess_readiness(_summary(), api_url=None, preflight=preflight)
        assert readiness.ready
        assert readiness.preflight is preflight

    def test_skipped_probes_never_count_as_passed(self, tmp_path: Path) -> None:
        """--force skips the probes; the verdict says so and is not READY."""
        preflight = skipped_preflight(_write(tmp_path, _command_probe("ok", ["true"])))
        assert not preflight.passed
        readiness = assess_readiness(_summary(), api_url=None, preflight=preflight)
        assert not readiness.ready
        assert "skipped (--force)" in readiness.reason

    def test_more_failures_are_counted(self) -> None:
        """The reason names the first failure and counts the others."""
        failed = ProbeResult("a", "command", passed=False, detail="exit 1")
        preflight = Preflight(
            "p.toml", (failed, ProbeResult("b", "command", passed=False, detail="exit 2"))
        )
        assert preflight.reason == "pre-flight probe 'a' failed: exit 1 (and 1 more)"
        assert preflight.to_dict()["probes"][1] == {
            "name": "b",
            "kind": "command",
            "passed": False,
            "detail": "exit 2",
        }


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a directory with fresh trades, a config dir and probe files."""
    root = tmp_path_factory.mktemp("preflight_cli")
    fresh_trades(root / "data" / "clm_trades.jsonl")
    (root / "config").mkdir()
    script = _script(root, "engine-log", "echo 'engine: ERROR lost redis'\n")
    (root / "good.toml").write_text(_command_probe("engine", ["true"]))
    (root / "bad.toml").write_text(
        _command_probe("engine", ["true"]) + _no_match_probe("engine log", [script], "ERROR")
    )
    (root / "broken.toml").write_text('[[probe]]\nname = "x"\nkind = \n')
    return root


def _jobs(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((root / "reports" / "jobs").glob("cal_*"))]


class TestCli:
    def test_check_with_passing_probes_is_ready(self, site: Path) -> None:
        """Check --preflight runs the probes and lists them; all pass: READY."""
        proc = site_cli(site, "check", "--preflight", str(site / "good.toml"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"Pre-flight probes ({site / 'good.toml'}): 1/1 passed" in proc.stdout
        assert "✅ engine: exit 0" in proc.stdout

    def test_check_with_a_failing_probe_is_not_ready(self, site: Path) -> None:
        """A failed probe: NOT READY, exit 1, with its name and first output line."""
        proc = site_cli(site, "check", "--preflight", str(site / "bad.toml"))
        assert proc.returncode == 1, proc.stderr
        assert "🔴 Status: NOT READY" in proc.stdout
        assert "❌ engine log: output matches 'ERROR': engine: ERROR lost redis" in proc.stdout
        assert (
            "pre-flight probe 'engine log' failed: output matches 'ERROR': engine: ERROR lost redis"
        ) in proc.stdout

    def test_check_json_and_the_environment_variable(self, site: Path) -> None:
        """$CALIBRATION_PREFLIGHT names the file; --json carries every probe's result."""
        proc = site_cli(site, "check", "--json", CALIBRATION_PREFLIGHT=str(site / "bad.toml"))
        assert proc.returncode == 1
        preflight = json.loads(proc.stdout)["readiness"]["preflight"]
        assert preflight["passed"] is False
        assert [(p["name"], p["passed"]) for p in preflight["probes"]] == [
            ("engine", True),
            ("engine log", False),
        ]

    def test_malformed_file_is_a_usage_error(self, site: Path) -> None:
        """A broken probe file: exit 2, one line naming file and line, no traceback."""
        proc = site_cli(site, "check", "--preflight", str(site / "broken.toml"))
        assert proc.returncode == 2
        assert proc.stdout == ""
        # Besides the error, stderr lists the paths the job uses (one per line, no "error").
        (line,) = [line for line in proc.stderr.splitlines() if line.startswith("error")]
        assert re.fullmatch(
            r"error: preflight file .*broken\.toml: .*\(at line 3, column \d+\)", line
        )

    def test_force_does_not_hide_a_malformed_file(self, site: Path) -> None:
        """A broken probe file stops `run --force` too: exit 2 and no job."""
        proc = site_cli(site, "run", "--force", "--preflight", str(site / "broken.toml"))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "\nerror: preflight file " in "\n" + proc.stderr
        assert not (site / "reports" / "jobs").exists() or not _jobs(site)

    def test_run_is_refused_by_a_failing_probe(self, site: Path) -> None:
        """Run applies the same gate: exit 4 naming the probe, and no job."""
        proc = site_cli(site, "run", "--preflight", str(site / "bad.toml"))
        assert proc.returncode == 4, proc.stdout + proc.stderr
        assert "pre-flight probe 'engine log' failed" in proc.stderr
        assert not (site / "reports" / "jobs").exists() or not _jobs(site)
        # The check command it points to probes the same file, from any directory.
        assert f"check --preflight {site / 'bad.toml'}" in proc.stderr

    def test_run_reports_the_probes_in_the_summary(self, site: Path, tmp_path: Path) -> None:
        """A run whose probes pass shows them in the report's summary and JSON export."""
        reports = tmp_path / "reports"
        proc = site_cli(
            site,
            "run",
            "--preflight",
            str(site / "good.toml"),
            CALIBRATION_REPORT_DIR=str(reports),
        )
        assert proc.returncode in {0, 1}, proc.stdout + proc.stderr
        (record,) = [json.loads(p.read_text()) for p in (reports / "jobs").glob("cal_*")]
        markdown = Path(record["report_markdown"]).read_text()
        summary = markdown.split("## 2.")[0]
        assert "| Pre-flight (checklist 0.1) | ✅ 1/1 probes passed" in summary
        export = json.loads(Path(record["report_json"]).read_text())
        assert export["authorization"]["preflight"]["probes"][0]["name"] == "engine"

    def test_force_skips_the_probes_and_says_so(self, site: Path, tmp_path: Path) -> None:
        """Run --force does not run the probes; the job is FORCED and the report says SKIPPED."""
        reports = tmp_path / "reports"
        marker = tmp_path / "ran"
        probe = _command_probe("touch", ["touch", str(marker)])
        probes = tmp_path / "p.toml"
        probes.write_text(probe)
        proc = site_cli(
            site, "run", "--force", "--preflight", str(probes), CALIBRATION_REPORT_DIR=str(reports)
        )
        assert proc.returncode in {0, 1}, proc.stdout + proc.stderr
        assert not marker.exists(), "--force ran a probe"
        (record,) = [json.loads(p.read_text()) for p in (reports / "jobs").glob("cal_*")]
        assert record["forced"] is True
        markdown = Path(record["report_markdown"]).read_text()
        assert "| Pre-flight (checklist 0.1) | SKIPPED (--force)" in markdown.split("## 2.")[0]


class TestInterrupt:
    def test_ctrl_c_under_json_prints_the_json_error(self, site: Path, tmp_path: Path) -> None:
        """SIGINT while a probe runs: exit 130 and the JSON error object on stdout."""
        marker = tmp_path / "started"
        script = _script(tmp_path, "slow", f"touch {marker}\nsleep 20\n")
        probes = _write(tmp_path, _command_probe("slow", [script], timeout=30))
        environment = site_environment(site, CALIBRATION_REPORT_DIR=str(tmp_path / "reports"))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "calibration_core",
                "check",
                "--json",
                "--preflight",
                str(probes),
            ],
            cwd=site,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert marker.exists(), "the probe never started"
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 130
        answer = json.loads(out)
        assert answer["ok"] is False
        assert "interrupted" in json.dumps(answer)
