"""Hostile input: what the readers, the offline jobs and the views do with it (issue 11).

Every test uses real files, FIFOs, devices, subprocesses and kernel limits.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import math
import os
import re
import resource
import select
import shutil
import subprocess
import sys
import threading
import unicodedata
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import example, given, strategies as st

from calibration_core.exceptions import DataIntegrityError
from calibration_core.fsio import MAX_LINE_BYTES
from calibration_core.sources import trade_contract
from calibration_core.sources.signals import read_signals
from calibration_core.sources.trades import read_trades
from calibration_core.text import escape, escape_controls, markdown_cell
from calibration_core_tests.monitor_helpers import (
    DEPLOY_A,
    DEPLOY_B,
    monitor_tree,
    trade_records,
    write_jsonl,
)

if TYPE_CHECKING:
    from collections.abc import Callable

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "clm_trades.jsonl"
NAME = "clm_trades.jsonl"
PATH_VARIABLES = (
    "CLM_DATA_PATH",
    "CALIBRATION_CONFIG_PATH",
    "CALIBRATION_REPORT_DIR",
    "LEARNING_CADENCE_API",
    "CALIBRATION_SIGNALS_PATH",
)
TIMEOUT = 60  # a reader that blocks fails the test instead of hanging it


def _record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "timestamp": "2026-02-09T21:40:12Z",
        "symbol": "ETHUSDT",
        "side": "BUY",
        "confidence": 0.72,
        "entry_price": 2710.5,
        "exit_price": 2738.1,
        "actual_pnl_pct": 1.018,
        "model_id": "ensemble_None",
        "consensus_count": 3,
        "model_breakdown": {
            "xgb": {"action": "BUY", "confidence": 0.74},
            "lgbm": {"action": "SELL", "confidence": 0.61},
        },
    }
    base.update(changes)
    return base


def _line(**changes: Any) -> str:
    return json.dumps(_record(**changes))


def _problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(DataIntegrityError) as info:
        read_trades(path)
    return info.value.problems


def _files(directory: Path) -> list[str]:
    """Every file under ``directory`` (directories themselves are not listed)."""
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def _outputs(directory: Path) -> list[str]:
    """Return the job's outputs in ``directory``: all files but a refusal's problems list."""
    return [name for name in _files(directory) if not name.startswith("problems_")]


class _Site:
    """A trades file (the shipped 600 trades, optionally with changes) and a report dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data" / NAME
        self.data.parent.mkdir(parents=True)
        shutil.copyfile(SHIPPED, self.data)
        self.config = root / "config" / "calibration.json"
        self.config.parent.mkdir()
        self.reports = root / "reports"

    def lines(self) -> list[str]:
        return self.data.read_text(encoding="utf-8").splitlines()

    def write_lines(self, lines: list[str]) -> None:
        self.data.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")

    def append(self, line: str) -> None:
        with self.data.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in PATH_VARIABLES}
        env.update(
            CLM_DATA_PATH=str(self.data),
            CALIBRATION_CONFIG_PATH=str(self.config),
            CALIBRATION_REPORT_DIR=str(self.reports),
        )
        return env

    def cli(
        self, *args: str, preexec_fn: Callable[[], None] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "calibration_core", *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=preexec_fn,
        )


@pytest.fixture
def site(tmp_path: Path) -> _Site:
    """Return a site holding the shipped 600 trades."""
    return _Site(tmp_path / "site")


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    # The CLI lists the paths a job uses on stderr first ("trades:   /abs/... (from ...)").
    lines = [line for line in proc.stderr.splitlines() if not _is_path_line(line)]
    assert lines, proc
    assert lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def _is_path_line(line: str) -> bool:
    return line.split(":", 1)[0] in {"trades", "config", "reports", "cadence API"}


# --------------------------------------------------------------------------- item 11: escaping


class TestEscape:
    @pytest.mark.parametrize(
        ("raw", "shown"),
        [
            ("BTC\nProblems: none", "BTC\\nProblems: none"),
            ("a\rb\tc", "a\\rb\\tc"),
            ("\x1b[2K", "\\x1b[2K"),
            ("\x00\x07\x7f", "\\x00\\x07\\x7f"),
            ("\x9b31m", "\\x9b31m"),  # C1 CSI
            ("\x85", "\\x85"),  # C1 next line
            ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
            ("\u2066x\u2069", "\\u2066x\\u2069"),  # isolates
            ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line and paragraph separators
            ("\ud800", "\\ud800"),  # lone surrogate
        ],
    )
    def test_unsafe_characters_become_visible_escapes(self, raw: str, shown: str) -> None:
        """Every control, C1, bidi control, line separator and surrogate is written out."""
        assert escape(raw) == shown

    def test_printable_text_is_unchanged(self) -> None:
        """Non-Latin scripts, emoji, pipes and backslashes pass through."""
        text = "ETH/USDT · Ωμέγα · 比特币 · 📈 | a\\b"
        assert escape(text) == text

    def test_markdown_cell_also_escapes_pipes(self) -> None:
        """A pipe cannot split a table cell and a newline cannot end the row."""
        assert markdown_cell("a|b\n| forged | row |") == "a\\|b\\n\\| forged \\| row \\|"

    def test_escape_controls_keeps_only_newlines(self) -> None:
        """The whole-document pass keeps our line structure and escapes the rest."""
        assert escape_controls("one\ntwo\x1b[0m\u202e") == "one\ntwo\\x1b[0m\\u202e"

    @given(st.text())
    def test_escaped_text_is_one_inert_line(self, text: str) -> None:
        """No escaped string holds a character a terminal would act on, and it encodes."""
        shown = escape(text)
        assert not re.search(
            "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]", shown
        )
        shown.encode("utf-8")
        assert escape(shown) == shown  # idempotent: escaping twice changes nothing

    @given(st.text())
    def test_output_is_one_printable_line(self, text: str) -> None:
        """Whatever comes in, what goes out holds no control, format or separator character."""
        shown = escape(text, limit=10_000)
        assert all(ch.isprintable() or unicodedata.category(ch) == "Zs" for ch in shown), shown

    def test_a_long_text_is_cut_and_says_so(self) -> None:
        """``limit`` keeps that many characters and counts the rest."""
        assert escape("❌ Gate failed", limit=6) == "❌ Gate… (7 more characters)"


_FORGED_SYMBOL = "ETH\n   Problems: none\n\x1b[2KFORGED \x9b31m \u202eDSGROF"


class TestInjection:
    def test_symbol_cannot_forge_lines_in_check(self, site: _Site) -> None:
        """A symbol with newlines, ESC, C1 and a bidi override stays inside its own line."""
        lines = site.lines()
        lines[0] = json.dumps({**json.loads(lines[0]), "symbol": _FORGED_SYMBOL})
        site.write_lines(lines)
        proc = site.cli("check")
        assert "Traceback" not in proc.stderr
        out = proc.stdout.splitlines()
        # Our view prints "Problems: none   Warnings: none" or its findings, never the bare
        # phrase the symbol tries to put on a line of its own.
        assert not any(line.strip() == "Problems: none" for line in out)
        assert not any(line.startswith("FORGED") for line in out)
        for char in ("\x1b", "\x9b", "\u202e"):
            assert char not in proc.stdout
        symbols = next(line for line in out if line.startswith("   Symbols:"))
        assert escape(_FORGED_SYMBOL) in symbols

    def test_symbol_cannot_forge_lines_in_the_markdown_report(self, site: _Site) -> None:
        """The same symbol reaches the report escaped: no new line, table row or control."""
        lines = site.lines()
        forged = "ETH|x|\n| Problems | none |\n\x1b[2KFORGED"
        lines[0] = json.dumps({**json.loads(lines[0]), "symbol": forged})
        site.write_lines(lines)
        proc = site.cli("run", "--force")
        assert proc.returncode in (0, 1), proc.stderr
        (report,) = site.reports.glob("calibration_*.md")
        text = report.read_text(encoding="utf-8")
        assert "\x1b" not in text
        assert not any(line.startswith(("FORGED", "| Problems")) for line in text.splitlines())
        assert markdown_cell(forged) in text

    def test_field_name_cannot_forge_an_error_line(self, site: _Site) -> None:
        """A key with a newline, named in a problem, cannot print a line of its own."""
        site.append(_line()[:-1] + ', "x\\nerror: forged\\u001b[0m": NaN}')
        proc = site.cli("run", "--force")
        assert proc.returncode == 3, proc.stderr
        assert not any(line.startswith("error: forged") for line in proc.stderr.splitlines())
        assert "\x1b" not in proc.stderr
        assert "x\\nerror: forged\\x1b[0m is NaN (not valid JSON)" in proc.stderr


class TestOperatorNames:
    @pytest.mark.parametrize(
        ("flag", "value"),
        [
            ("--by", "alice\x9b2J"),  # C1 CSI: clears the screen on some terminals
            ("--by", "alice\u202eecila"),  # right-to-left override
            ("--reason", "ok\u2066hidden\u2069"),  # isolates
            ("--reason", "line\u2028break"),
        ],
    )
    def test_abort_refuses_c1_and_bidi_in_names_and_reasons(
        self, site: _Site, flag: str, value: str
    ) -> None:
        """--by and --reason refuse C1 controls and bidi characters, as they refuse C0."""
        proc = site.cli("abort", "cal_20260101_000000", flag, value)
        assert proc.returncode == 2, proc.stderr
        line = _error_line(proc)
        assert "without control or bidirectional characters" in line
        assert escape(value) in line
        for char in ("\x9b", "\u202e", "\u2066", "\u2028"):
            assert char not in proc.stderr


# --------------------------------------------------------------------------- item 2: what is read


_READ_IN_CHILD = (
    "import sys\n"
    "from pathlib import Path\n"
    "from calibration_core.exceptions import DataIntegrityError\n"
    "from calibration_core.sources.signals import read_signals\n"
    "from calibration_core.sources.trades import read_trades\n"
    "reader = read_trades if sys.argv[1] == 'trades' else read_signals\n"
    "try:\n"
    "    reader(Path(sys.argv[2]))\n"
    "except DataIntegrityError as exc:\n"
    "    print(exc)\n"
)


def _read_in_child(kind: str, path: Path) -> str:
    """Read ``path`` in a child process: a reader that blocks fails on the timeout."""
    proc = subprocess.run(
        [sys.executable, "-c", _READ_IN_CHILD, kind, str(path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


class TestOnlyRegularFiles:
    @pytest.mark.parametrize("kind", ["trades", "signals"])
    def test_a_fifo_is_refused_without_blocking(self, tmp_path: Path, kind: str) -> None:
        """open() of a FIFO with no writer would block forever; it is refused at once."""
        fifo = tmp_path / "pipe.jsonl"
        os.mkfifo(fifo)
        message = _read_in_child(kind, fifo)
        assert "not a regular file" in message
        assert "a FIFO" in message
        assert str(fifo) in message

    @pytest.mark.parametrize("kind", ["trades", "signals"])
    def test_dev_zero_is_refused(self, kind: str) -> None:
        """/dev/zero would buffer an endless partial line; it is refused before a read."""
        message = _read_in_child(kind, Path("/dev/zero"))
        assert "not a regular file" in message
        assert "a character device" in message

    def test_cli_names_the_fifo_in_one_line(self, site: _Site) -> None:
        """`run --data <fifo>` exits 3 with one line, no traceback, and writes nothing."""
        fifo = site.root / "fifo.jsonl"
        os.mkfifo(fifo)
        proc = site.cli("run", "--data", str(fifo))
        assert proc.returncode == 3, proc.stderr
        assert _error_line(proc) == (
            f"error: trades file is not a regular file: {fifo} (it is a FIFO); "
            "point --data at the trades file itself"
        )
        assert _files(site.reports) == []

    def test_a_directory_keeps_its_message(self, tmp_path: Path) -> None:
        """A directory is still named as one."""
        with pytest.raises(DataIntegrityError, match="trades file is a directory"):
            read_trades(tmp_path)


def _inotify_on_first_read(path: Path, then: Callable[[], None]) -> threading.Thread:
    """Start a thread that runs ``then`` as soon as something reads ``path`` (inotify)."""
    libc = ctypes.CDLL(None, use_errno=True)
    in_access = 0x1
    fd = libc.inotify_init1(os.O_CLOEXEC)
    assert fd >= 0, ctypes.get_errno()
    assert libc.inotify_add_watch(fd, os.fsencode(path), in_access) >= 0, ctypes.get_errno()

    def watch() -> None:
        try:
            ready, _, _ = select.select([fd], [], [], TIMEOUT)
            if ready:
                then()
        finally:
            os.close(fd)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


class TestSizeSnapshot:
    def test_a_file_that_grows_while_read_is_read_as_it_was_opened(self, tmp_path: Path) -> None:
        """Lines appended after the reader opened the file are left for the next run."""
        path = tmp_path / NAME
        generator_lines = [
            _line(symbol=f"S{i % 7}", confidence=(i % 90) / 100) for i in range(4000)
        ]
        block = "".join(f"{line}\n" for line in generator_lines).encode()
        initial = block * 8  # ~8 MB: many blocks, so the reader is still busy when lines arrive
        path.write_bytes(initial)
        appended = threading.Event()

        def grow() -> None:
            with path.open("ab") as handle:
                handle.write(block * 2)
            appended.set()

        watcher = _inotify_on_first_read(path, grow)
        batch = read_trades(path)
        watcher.join(TIMEOUT)
        assert appended.is_set()  # the file did grow while it was being read
        assert path.stat().st_size == len(initial) * 10 // 8
        assert batch.n_trades == 8 * len(generator_lines)
        assert batch.data_hash == "sha256:" + hashlib.sha256(initial).hexdigest()
        assert not batch.partial_last_line_ignored
        # The next run reads everything.
        assert read_trades(path).n_trades == 10 * len(generator_lines)


class TestLineLength:
    def test_line_over_1_mib_is_a_numbered_problem_and_numbering_goes_on(
        self, tmp_path: Path
    ) -> None:
        """An overlong line is skipped with its number; the lines after it keep theirs."""
        path = tmp_path / NAME
        long_line = "x" * (3 * MAX_LINE_BYTES)
        path.write_text(f"{_line()}\n{long_line}\n{_line()}\nnot json\n", encoding="utf-8")
        problems = _problems(path)
        assert problems[0] == f"{NAME}:2: line is longer than 1 MiB (skipped)"
        assert problems[1].startswith(f"{NAME}:4: not valid JSON")
        assert len(problems) == 2

    def test_the_limit_is_exact(self, tmp_path: Path) -> None:
        """A line of exactly 1 MiB is read; one byte more is a problem."""
        base = _line()
        exact = base + " " * (MAX_LINE_BYTES - len(base))  # trailing spaces are valid JSON
        path = tmp_path / NAME
        path.write_text(f"{exact}\n", encoding="utf-8")
        assert read_trades(path).n_trades == 1
        path.write_text(f"{exact} \n{base}\n", encoding="utf-8")
        assert _problems(path) == (f"{NAME}:1: line is longer than 1 MiB (skipped)",)

    def test_an_endless_last_line_is_not_buffered(self, tmp_path: Path) -> None:
        """A last line over the limit, without a newline, is a problem too."""
        path = tmp_path / NAME
        path.write_bytes(_line().encode() + b"\n" + b"{" * (2 * MAX_LINE_BYTES + 5))
        assert _problems(path) == (f"{NAME}:2: line is longer than 1 MiB (skipped)",)

    def test_signals_line_over_1_mib(self, tmp_path: Path) -> None:
        """The signals log has the same cap."""
        path = tmp_path / "signals.jsonl"
        path.write_text("y" * (MAX_LINE_BYTES + 1) + "\n", encoding="utf-8")
        with pytest.raises(DataIntegrityError) as info:
            read_signals(path)
        assert info.value.problems == ("signals.jsonl:1: line is longer than 1 MiB (skipped)",)


# --------------------------------------------------------------------------- items 4 and 5: values


class TestHostileValues:
    def test_duplicate_key_is_a_numbered_problem(self, tmp_path: Path) -> None:
        """A second "side" cannot flip a trade silently."""
        path = tmp_path / NAME
        flipped = _line()[:-1] + ', "side": "SELL", "actual_pnl_pct": -99.0}'
        path.write_text(f"{_line()}\n{flipped}\n", encoding="utf-8")
        assert _problems(path) == (
            f"{NAME}:2: duplicate key 'side'; duplicate key 'actual_pnl_pct'",
        )

    def test_duplicate_key_inside_a_nested_object(self, tmp_path: Path) -> None:
        """A model voting twice in one model_breakdown is a duplicate key too."""
        path = tmp_path / NAME
        line = _line().replace('"lgbm"', '"xgb"')
        path.write_text(f"{line}\n", encoding="utf-8")
        assert _problems(path) == (f"{NAME}:1: duplicate key 'xgb'",)

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            pytest.param(
                _line()[:-1] + ', "trade_id": ' + "9" * 5000 + "}",
                "not valid JSON (a number has more than 4300 digits)",
                id="5000-digit-integer",
            ),
            pytest.param(
                _line(timestamp="9999-12-31T23:59:59-23:59"),
                "timestamp is out of range: in UTC it must fall between 0001-01-02 and 9999-12-30",
                id="past-year-9999",
            ),
            pytest.param(
                _line(timestamp="0001-01-01T00:00:00+23:59"),
                "timestamp is out of range",
                id="before-year-1",
            ),
            pytest.param(
                _line(symbol="ETH\ud800"),
                "symbol is not valid Unicode (lone surrogate \\ud800 at character 4)",
                id="lone-surrogate-symbol",
            ),
            pytest.param(
                _line(model_breakdown={"x\udfff": {"action": "BUY", "confidence": 0.5}}),
                "a model_breakdown name is not valid Unicode",
                id="lone-surrogate-model",
            ),
            pytest.param(
                _line(actual_pnl_pct=1e308),
                "actual_pnl_pct must be within ±1,000,000 percent (got number 1e+308)",
                id="pnl-1e308",
            ),
        ],
    )
    def test_value_that_crashed_is_a_numbered_problem(
        self, tmp_path: Path, line: str, reason: str
    ) -> None:
        """Each value that once raised (exit 70) is now ``file:line: reason``."""
        path = tmp_path / NAME
        path.write_text(f"{_line()}\n{line}\n", encoding="utf-8")
        (problem,) = _problems(path)
        prefix = f"{NAME}:2: "
        assert problem.startswith(prefix)
        assert problem[len(prefix) :].startswith(reason), problem

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("actual_pnl_pct", "1" + "0" * 5000),
            ("timestamp", '"9999-12-31T23:59:59-23:59"'),
            ("timestamp", '"0001-01-01T00:00:00+23:59"'),
            ("symbol", '"\\ud800"'),
            ("side", '"SELL", "side": "BUY"'),
        ],
    )
    def test_cli_jobs_exit_3_and_write_nothing(self, site: _Site, field: str, value: str) -> None:
        """Check --json says NOT READY; run and analyze exit 3 naming the line; no files."""
        original = json.loads(site.lines()[-1])
        text = json.dumps(original)
        key = f'"{field}": '
        start = text.index(key) + len(key)
        end = start + len(json.dumps(original[field]))
        site.append(text[:start] + value + text[end:])
        check = site.cli("check", "--json")
        assert check.returncode == 3, check.stderr  # bad data: the same code as run
        assert json.loads(check.stdout)["readiness"]["status"] == "NOT READY"
        for job in (("run", "--force"), ("analyze",)):
            proc = site.cli(*job)
            assert proc.returncode == 3, proc.stderr
            assert _error_line(proc).startswith(f"error: {NAME}:601: ")
        assert _outputs(site.reports) == []

    def test_all_pnl_at_1e308_is_refused_before_any_output(self, site: _Site) -> None:
        """Analyze once wrote NaN and an orphan CSV; now every line is a problem."""
        lines = site.lines()
        site.write_lines(
            [
                json.dumps(
                    {**rec, "actual_pnl_pct": 1e308 if rec["actual_pnl_pct"] > 0 else -1e308}
                )
                for rec in map(json.loads, lines)
            ]
        )
        proc = site.cli("analyze")
        assert proc.returncode == 3, proc.stderr
        assert "(and 599 more problems)" in _error_line(proc)
        assert _outputs(site.reports) == []
        (full,) = site.reports.glob("problems_*.txt")  # the grouped lines hide some: full list
        assert len(full.read_text(encoding="utf-8").splitlines()) == 600

    def test_monitor_with_pnl_at_1e308_is_exit_3_not_nan(self, tmp_path: Path) -> None:
        """Monitor once printed "+nan%"; now the bad lines are listed and nothing is written."""
        tree = monitor_tree(tmp_path / "site")
        after = DEPLOY_B + timedelta(minutes=5)
        records = [
            *trade_records(200, start=DEPLOY_A + timedelta(hours=1), step=timedelta(minutes=40)),
            *trade_records(100, start=after, step=timedelta(minutes=10)),
        ]
        for rec in records[-100:]:
            rec["actual_pnl_pct"] = math.copysign(1e308, rec["actual_pnl_pct"])
        write_jsonl(tree.paths.data, records)
        proc = tree.run_cli("monitor")
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert _error_line(proc).startswith(f"error: {tree.paths.data.name}:201: actual_pnl_pct")
        assert "nan" not in proc.stdout.lower()
        assert list(tree.paths.report_dir.glob("monitor_*.md")) == []

    def test_signals_with_out_of_range_time_or_surrogate(self, tmp_path: Path) -> None:
        """The signals reader reports the same values by line instead of raising."""
        path = tmp_path / "signals.jsonl"
        good: dict[str, Any] = {"timestamp": "2026-02-09T21:40:12Z", "symbol": "ETH"}
        good.update(action="BUY", confidence=0.6)
        rows = [
            good,
            {**good, "timestamp": "9999-12-31T23:59:59-23:59"},
            {**good, "symbol": "\ud800"},
        ]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        with pytest.raises(DataIntegrityError) as info:
            read_signals(path)
        assert [p.split(": ")[0] for p in info.value.problems] == [
            "signals.jsonl:2",
            "signals.jsonl:3",
        ]

    def test_signals_duplicate_key(self, tmp_path: Path) -> None:
        """A signal whose action is given twice is a numbered problem, as in the trades."""
        path = tmp_path / "signals.jsonl"
        line = (
            '{"timestamp": "2026-02-09T21:40:12Z", "symbol": "ETH", "action": "HOLD", '
            '"confidence": 0.6, "action": "BUY"}'
        )
        path.write_text(line + "\n", encoding="utf-8")
        with pytest.raises(DataIntegrityError) as info:
            read_signals(path)
        assert info.value.problems == ("signals.jsonl:1: duplicate key 'action'",)


# --------------------------------------------------------------------------- item 6: model names


class TestUnusableModelName:
    def test_run_skips_the_weights_and_keeps_the_map(self, site: _Site) -> None:
        """The name xgboost:v2 no longer rejects the config: weights skipped, report written."""
        site.write_lines([line.replace('"xgb"', '"xgboost:v2"') for line in site.lines()])
        check = site.cli("check")
        (shown,) = [line for line in check.stdout.splitlines() if "'xgboost:v2'" in line]
        assert "model 'xgboost:v2' cannot be a config key" in shown, check.stdout
        assert "so the ensemble weights step is skipped" in shown
        assert shown.endswith("line 1")
        proc = site.cli("run", "--force", "--json")
        assert proc.returncode in (0, 1), proc.stderr
        result = json.loads(proc.stdout)
        assert result["weights_status"] == "skipped"
        assert result["weights_enabled"] is False
        assert Path(result["report"]["markdown"]).is_file()
        (job,) = (site.reports / "jobs").glob("cal_*.json")
        record = json.loads(job.read_text())
        assert "'xgboost:v2' cannot be a config key" in record["summary"]["weights_reason"]
        # The confidence map was still fitted and recorded.
        assert len(record["proposed_config"]["confidence_calibration"]["thresholds"]) >= 2


# --------------------------------------------------------------------------- item 7: write failures


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        # Past the limit write() fails with EFBIG (Python ignores SIGXFSZ).
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _limit_between(sizes: list[int]) -> int:
    """Return a size limit that lets the first file through and stops a later one, if any."""
    for i in range(1, len(sizes)):
        if sizes[i] > max(sizes[:i]):
            return max(sizes[:i])
    return 64


class TestWriteFailures:
    @pytest.mark.parametrize("job", ["run", "analyze"])
    def test_full_disk_is_one_line_exit_6_and_no_partial_files(self, site: _Site, job: str) -> None:
        """A real EFBIG (RLIMIT_FSIZE) part-way through the files: exit 6, nothing left."""
        args = ("run", "--force") if job == "run" else ("analyze",)
        free = site.cli(*args)  # the same job without a limit: the sizes, in write order
        assert free.returncode in (0, 1), free.stderr
        written = sorted(
            (p for p in site.reports.rglob("*") if p.is_file() and p.stat().st_size),
            key=lambda p: p.stat().st_mtime_ns,
        )
        sizes = [p.stat().st_size for p in written]
        shutil.rmtree(site.reports)
        for limit in sorted({64, _limit_between(sizes)}):
            proc = site.cli(*args, preexec_fn=_file_size_limit(limit))
            assert proc.returncode == 6, (limit, proc.stderr)
            assert _error_line(proc).startswith("error: disk full or file size limit while writing")
            assert len([x for x in proc.stderr.splitlines() if not _is_path_line(x)]) == 1
            assert _files(site.reports) == [], limit

    @pytest.mark.parametrize("job", ["run", "analyze"])
    def test_report_dir_under_a_regular_file(self, site: _Site, job: str) -> None:
        """A report directory that cannot exist gives one line and exit 6."""
        blocker = site.root / "not_a_dir"
        blocker.write_text("x")
        args = ("run", "--force") if job == "run" else ("analyze",)
        proc = site.cli(*args, "--report-dir", str(blocker / "reports"))
        assert proc.returncode == 6, proc.stderr
        line = _error_line(proc)
        assert line.startswith(f"error: cannot write {blocker}/reports")
        assert "Not a directory" in line
        assert blocker.read_text() == "x"


# --------------------------------------------------------------------------- acceptance


_odd_text = st.text(
    st.characters(codec=None, exclude_categories=()),
    max_size=8,
)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | _odd_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_odd_text, inner, max_size=3),
    max_leaves=6,
)
_FIELDS = [
    "timestamp",
    "symbol",
    "side",
    "confidence",
    "entry_price",
    "exit_price",
    "actual_pnl_pct",
    "model_breakdown",
    "consensus_count",
    "calibration_version",
    "calibrated_confidence",
]


@st.composite
def _hostile_line(draw: st.DrawFn) -> bytes:  # noqa: C901, PLR0911 - one branch per kind of hostility
    kind = draw(
        st.sampled_from(
            [
                "valid",
                "wrong_value",
                "random_json",
                "huge_number",
                "odd_timestamp",
                "duplicate_key",
                "truncated",
                "nul",
                "bad_utf8",
                "surrogate",
                "nonfinite",
                "deep",
                "blank",
            ]
        )
    )
    base = _line(symbol=draw(st.sampled_from(["BTCUSDT", "ETHUSDT"])))
    if kind == "valid":
        return base.encode()
    if kind == "wrong_value":
        field = draw(st.sampled_from(_FIELDS))
        value = draw(_json_values)
        return json.dumps({**_record(), field: value}).encode()
    if kind == "random_json":
        return json.dumps(draw(_json_values)).encode()
    if kind == "huge_number":
        digits = draw(st.sampled_from([20, 400, 4301, 6000]))
        field = draw(st.sampled_from(["actual_pnl_pct", "entry_price", "trade_id", "confidence"]))
        number = draw(st.sampled_from(["9" * digits, "1e" + "9" * 5, "-" + "9" * digits]))
        return (base[:-1] + f', "{field}": {number}' + "}").encode()
    if kind == "odd_timestamp":
        stamp = draw(
            st.sampled_from(
                [
                    "9999-12-31T23:59:59-23:59",
                    "0001-01-01T00:00:00+23:59",
                    "2026-02-30T00:00:00Z",
                    "2026-02-09T21:40:12",
                    "",
                    "2026-02-09T21:40:12+99:00",
                ]
            )
        )
        return _line(timestamp=stamp).encode()
    if kind == "duplicate_key":
        field = draw(st.sampled_from(_FIELDS))
        return (
            base[:-1] + f", {json.dumps(field)}: {json.dumps(draw(_json_values))}" + "}"
        ).encode()
    if kind == "truncated":
        raw = base.encode()
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "nul":
        raw = base.encode()
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + b"\x00" + raw[at:]
    if kind == "bad_utf8":
        raw = base.encode()
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + raw[at:]
    if kind == "surrogate":
        field = draw(st.sampled_from(["symbol", "calibration_version", "trade_id"]))
        return (base[:-1] + f', "{field}": "A\\ud800B"' + "}").encode()
    if kind == "nonfinite":
        field = draw(st.sampled_from(["confidence", "actual_pnl_pct", "extra"]))
        token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        return (base[:-1] + f', "{field}": {token}' + "}").encode()
    if kind == "deep":
        depth = draw(st.sampled_from([10, 5000, 100_000]))
        return b"[" * depth + b"]" * depth
    return draw(st.sampled_from([b"", b"   ", b"\t"]))


_PROBLEM = re.compile(rf"{re.escape(NAME)}:[0-9]+: \S")


class TestAcceptance:
    @given(
        lines=st.lists(_hostile_line(), min_size=1, max_size=6),
        final_newline=st.booleans(),
    )
    @example(
        lines=[_line().encode(), _line()[:-1].encode() + b', "side": "SELL"}'], final_newline=True
    )
    @example(lines=[b"\xed\xa0\x80"], final_newline=False)
    def test_every_hostile_input_ends_in_rows_or_numbered_problems(
        self, tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], final_newline: bool
    ) -> None:
        """Rows or ``file:line: reason`` problems; never another exception, a hang or a file."""
        directory = tmp_path_factory.mktemp("hostile")
        path = directory / NAME
        path.write_bytes(b"\n".join(lines) + (b"\n" if final_newline else b""))
        problems: tuple[str, ...] = ()
        try:
            batch = read_trades(path)
        except DataIntegrityError as exc:
            problems = exc.problems or ("no problems listed",)
        if problems:
            numbers = []
            for problem in problems:
                assert _PROBLEM.match(problem), problem
                numbers.append(int(problem.split(":")[1]))
                escape(problem).encode("utf-8")  # every problem can be shown
            assert numbers == sorted(set(numbers))
            assert numbers[-1] <= len(lines)
        else:
            assert batch.n_trades <= len(lines)
            assert all(1 <= n <= len(lines) for n in batch.line_numbers.tolist())
            for name in (*batch.symbol_names, *batch.model_names):
                name.encode("utf-8")  # nothing undisplayable gets into a report
            assert all(abs(p) <= trade_contract.MAX_ABS_PNL_PCT for p in batch.pnl_pct.tolist())
        assert sorted(p.name for p in directory.iterdir()) == [NAME]  # nothing written
