"""Tests of the trades-file reader and the data-integrity summary."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

import attrs
import msgspec
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from calibration_core._arrays import freeze
from calibration_core.constants import MIN_TRADES_FOR_CALIBRATION
from calibration_core.core.weights import ACTION_BUY, ACTION_HOLD, ACTION_MISSING, ACTION_SELL
from calibration_core.exceptions import CalibrationError, DataIntegrityError, InvalidInputError
from calibration_core.settings import resolve_paths
from calibration_core.sources import integrity, trade_batch, trade_blocks, trade_contract, trades
from calibration_core.sources.example_data import write_example_trades
from calibration_core.sources.integrity import summarize_integrity
from calibration_core.sources.trade_batch import TradeBatch
from calibration_core.sources.trades import read_trades

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

REPO = Path(__file__).resolve().parents[1]
NAME = "clm_trades.jsonl"
DROP = object()


def record(**changes: Any) -> dict[str, Any]:
    """Return a valid trade record, with fields replaced (or dropped with ``DROP``)."""
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
            "lgbm": {"action": "BUY", "confidence": 0.69},
            "nhits": {"action": "HOLD", "confidence": 0.51},
            "patchtst": {"action": "SELL", "confidence": 0.66},
        },
    }
    for key, value in changes.items():
        if value is DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def line(**changes: Any) -> str:
    """One JSON line of ``record(**changes)``."""
    return json.dumps(record(**changes))


def trade_line(i: int, *, pnl: float, **changes: Any) -> str:
    """Return a distinct, self-consistent BUY line: prices agree with ``pnl``."""
    entry = 100.0 + i
    return line(
        entry_price=entry,
        exit_price=entry * (1.0 + pnl / 100.0),
        actual_pnl_pct=pnl,
        confidence=0.5 + (i % 40) / 100.0,
        **changes,
    )


def write(tmp_path: Path, lines: Iterable[str], *, end: str = "\n") -> Path:
    """Write lines joined by newlines, with ``end`` after the last one."""
    path = tmp_path / NAME
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


def problems_of(path: Path) -> tuple[str, ...]:
    """Read ``path`` expecting a DataIntegrityError; return its problems."""
    with pytest.raises(DataIntegrityError) as info:
        read_trades(path)
    return info.value.problems


def load_generator() -> Any:
    """Import scripts/generate_example_trades.py, which is not a package module."""
    spec = importlib.util.spec_from_file_location(
        "generate_example_trades", REPO / "scripts" / "generate_example_trades.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vote_line(**vote: Any) -> str:
    breakdown = {"xgb": {"action": "BUY", "confidence": 0.7, **vote}}
    return line(model_breakdown=breakdown)


def _raw(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


# One table of every kind of bad line: (line text, pattern of the reason).
BAD_LINES = [
    pytest.param("not json", r"not valid JSON \(Expecting value at column 1\)", id="not-json"),
    pytest.param('{"timestamp": "2026-02', r"not valid JSON \(.* at column \d+\)", id="cut-off"),
    pytest.param(line() + " x", r"not valid JSON \(Extra data at column \d+\)", id="extra"),
    pytest.param(line() + line(), r"not valid JSON \(Extra data .*\)", id="two-objects"),
    pytest.param(
        "\ufeff" + line(), r"not valid JSON \(starts with a byte-order mark, U\+FEFF\)", id="bom"
    ),
    pytest.param("", r"blank line", id="blank"),
    pytest.param("   \t", r"blank line", id="whitespace"),
    pytest.param("[1, 2]", r"not a JSON object \(got array\)", id="array"),
    pytest.param('"trade"', r'not a JSON object \(got string "trade"\)', id="string"),
    pytest.param("42", r"not a JSON object \(got number 42\)", id="number"),
    pytest.param("null", r"not a JSON object \(got null\)", id="null"),
    *(
        pytest.param(
            line(**{field: DROP}),
            rf"{field} is missing"
            + (
                rf" \(and so is its other name {trade_contract.ALIASES[field]}\)"
                if field in trade_contract.ALIASES
                else ""
            ),
            id=f"missing-{field}",
        )
        for field in trade_contract.REQUIRED
    ),
    pytest.param(line(exit_price=None), r"exit_price is null", id="null-price"),
    pytest.param(line(actual_pnl_pct=None), r"actual_pnl_pct is null", id="null-pnl"),
    pytest.param(line(confidence=None), r"confidence is null", id="null-confidence"),
    pytest.param(
        line(confidence=math.nan), r"confidence is NaN \(not valid JSON\)", id="nan-confidence"
    ),
    pytest.param(
        line(entry_price=math.inf), r"entry_price is Infinity \(not valid JSON\)", id="inf-price"
    ),
    pytest.param(
        line(actual_pnl_pct=-math.inf),
        r"actual_pnl_pct is -Infinity \(not valid JSON\)",
        id="minus-inf-pnl",
    ),
    pytest.param(line(note=math.nan), r"note is NaN \(not valid JSON\)", id="nan-unread-field"),
    pytest.param(
        line(extra={"a": [1, math.inf]}),
        r"extra\.a\[1\] is Infinity \(not valid JSON\)",
        id="inf-nested-unread",
    ),
    pytest.param(
        _vote_line(confidence=math.nan),
        r"model_breakdown\.xgb\.confidence is NaN \(not valid JSON\)",
        id="nan-vote",
    ),
    pytest.param(
        _vote_line(proba=math.nan),
        r"model_breakdown\.xgb\.proba is NaN \(not valid JSON\)",
        id="nan-vote-extra",
    ),
    pytest.param(
        line(calibrated_confidence=math.nan),
        r"calibrated_confidence is NaN \(not valid JSON\)",
        id="nan-calibrated",
    ),
    pytest.param(
        line(confidence=True), r"confidence must be a number \(got boolean true\)", id="bool-conf"
    ),
    pytest.param(
        line(entry_price=False),
        r"entry_price must be a number \(got boolean false\)",
        id="bool-price",
    ),
    pytest.param(
        line(actual_pnl_pct=True),
        r"actual_pnl_pct must be a number \(got boolean true\)",
        id="bool-pnl",
    ),
    pytest.param(
        line(entry_price="2710.5"),
        r'entry_price must be a number \(got string "2710\.5"\)',
        id="string-price",
    ),
    pytest.param(
        line(exit_price=[1.0]), r"exit_price must be a number \(got array\)", id="array-price"
    ),
    pytest.param(line(entry_price=0.0), r"entry_price must be > 0 \(got 0\.0\)", id="zero-price"),
    pytest.param(line(exit_price=-3), r"exit_price must be > 0 \(got -3\)", id="negative-price"),
    pytest.param(
        _raw(line(), '"entry_price": 2710.5', '"entry_price": 1e400'),
        r"entry_price overflows a float",
        id="overflow-price",
    ),
    pytest.param(
        _raw(line(), '"actual_pnl_pct": 1.018', '"actual_pnl_pct": 1' + "0" * 400),
        r"actual_pnl_pct overflows a float",
        id="huge-int-pnl",
    ),
    pytest.param(
        line(confidence=1.2), r"confidence must be in \[0, 1\] \(got 1\.2\)", id="conf-high"
    ),
    pytest.param(
        line(confidence=-0.01), r"confidence must be in \[0, 1\] \(got -0\.01\)", id="conf-low"
    ),
    pytest.param(
        line(side="buy"),
        r'side must be "BUY", "SELL", "LONG" or "SHORT" \(got string "buy"\)',
        id="buy",
    ),
    pytest.param(
        line(side="HOLD"),
        r'side must be "BUY", "SELL", "LONG" or "SHORT" \(got string "HOLD"\)',
        id="hold",
    ),
    pytest.param(
        line(side=1),
        r'side must be "BUY", "SELL", "LONG" or "SHORT" \(got number 1\)',
        id="side-num",
    ),
    pytest.param(
        line(side=None),
        r'side must be "BUY", "SELL", "LONG" or "SHORT" \(got null\)',
        id="side-null",
    ),
    pytest.param(line(symbol=5), r"symbol must be a string \(got number 5\)", id="symbol-number"),
    pytest.param(
        line(side="KJØP"),
        r'side must be "BUY", "SELL", "LONG" or "SHORT" \(got string "KJØP"\)',
        id="side-utf8",
    ),
    pytest.param(line(symbol=""), r"symbol is empty", id="symbol-empty"),
    pytest.param(
        line(timestamp="2026-02-09"),
        r'timestamp has no time of day \(got string "2026-02-09"\)',
        id="date",
    ),
    pytest.param(
        line(timestamp="yesterday"),
        r'timestamp is not ISO-8601 \(got string "yesterday"\)',
        id="not-iso",
    ),
    pytest.param(
        line(timestamp="2026-02-30T10:00:00Z"),
        r'timestamp is not ISO-8601 \(got string "2026-02-30T10:00:00Z"\)',
        id="no-such-day",
    ),
    pytest.param(
        line(timestamp=1770673212),
        r"timestamp must be an ISO-8601 string \(got number 1770673212\)",
        id="epoch-number",
    ),
    pytest.param(
        line(model_breakdown=[]),
        r"model_breakdown must be an object \(got array\)",
        id="breakdown-array",
    ),
    pytest.param(
        line(model_breakdown=None),
        r"model_breakdown must be an object \(got null\)",
        id="breakdown-null",
    ),
    pytest.param(
        line(model_breakdown={"xgb": "BUY"}),
        r'model_breakdown\.xgb must be an object \(got string "BUY"\)',
        id="vote-string",
    ),
    pytest.param(
        _vote_line(action="buy"),
        r'model_breakdown\.xgb\.action must be "BUY", "SELL" or "HOLD" \(got string "buy"\)',
        id="vote-action",
    ),
    pytest.param(
        line(model_breakdown={"xgb": {"confidence": 0.7}}),
        r"model_breakdown\.xgb\.action is missing",
        id="vote-no-action",
    ),
    pytest.param(
        _vote_line(confidence=1.5),
        r"model_breakdown\.xgb\.confidence must be in \[0, 1\] \(got 1\.5\)",
        id="vote-confidence",
    ),
    pytest.param(
        line(model_breakdown={"xgb": {"action": "BUY"}}),
        r"model_breakdown\.xgb\.confidence is missing",
        id="vote-no-confidence",
    ),
    pytest.param(
        _vote_line(confidence=True),
        r"model_breakdown\.xgb\.confidence must be a number \(got boolean true\)",
        id="vote-bool",
    ),
    pytest.param(
        line(model_breakdown={"": {"action": "BUY", "confidence": 0.5}}),
        r"model_breakdown has an empty model name",
        id="vote-empty-name",
    ),
    pytest.param(
        line(consensus_count=2.5),
        r"consensus_count must be an integer in \[0, 32767\] \(got number 2\.5\)",
        id="consensus-float",
    ),
    pytest.param(
        line(consensus_count="3"),
        r'consensus_count must be an integer in \[0, 32767\] \(got string "3"\)',
        id="consensus-string",
    ),
    pytest.param(
        line(consensus_count=True),
        r"consensus_count must be an integer .* \(got boolean true\)",
        id="consensus-bool",
    ),
    pytest.param(
        line(consensus_count=-1),
        r"consensus_count must be an integer .* \(got number -1\)",
        id="consensus-negative",
    ),
    pytest.param(
        line(consensus_count=40000),
        r"consensus_count must be an integer .* \(got number 40000\)",
        id="consensus-too-big",
    ),
    pytest.param(
        line(calibrated_confidence=1.2),
        r"calibrated_confidence must be in \[0, 1\] \(got 1\.2\)",
        id="calibrated-high",
    ),
    pytest.param(
        line(calibrated_confidence=None), r"calibrated_confidence is null", id="calibrated-null"
    ),
    pytest.param(
        line(calibration_version=3),
        r"calibration_version must be a string or null \(got number 3\)",
        id="version-number",
    ),
]


class TestBadLines:
    @pytest.mark.parametrize(("text", "reason"), BAD_LINES)
    def test_bad_line_is_reported_with_its_number_and_reason(
        self, tmp_path: Path, text: str, reason: str
    ) -> None:
        """A bad line between two good ones stops the run, named by file, line and reason."""
        path = write(tmp_path, [line(), text, line()])
        with pytest.raises(DataIntegrityError) as info:
            read_trades(path)
        assert len(info.value.problems) == 1
        assert re.fullmatch(rf"clm_trades\.jsonl:2: {reason}", info.value.problems[0])
        assert str(info.value) == info.value.problems[0]

    def test_every_bad_line_is_reported_in_order(self, tmp_path: Path) -> None:
        """All bad lines of a file are reported, each with its own line number."""
        lines = [line()] * 9
        lines[1] = line(exit_price=None)
        lines[4] = "{"
        lines[7] = line(side="buy", confidence=2.0)
        problems = problems_of(write(tmp_path, lines))
        assert [p.split(": ", 1)[0] for p in problems] == [
            "clm_trades.jsonl:2",
            "clm_trades.jsonl:5",
            "clm_trades.jsonl:8",
        ]
        assert problems[0] == "clm_trades.jsonl:2: exit_price is null"
        assert problems[2] == (
            'clm_trades.jsonl:8: side must be "BUY", "SELL", "LONG" or "SHORT" (got string "buy"); '
            "confidence must be in [0, 1] (got 2.0)"
        )

    def test_message_is_the_first_problem_and_a_count(self, tmp_path: Path) -> None:
        """The message is the first problem plus how many more there are."""
        lines = [line(exit_price=None), line(), line(entry_price=0.0), line(symbol="")]
        with pytest.raises(DataIntegrityError) as info:
            read_trades(write(tmp_path, lines))
        assert str(info.value) == "clm_trades.jsonl:1: exit_price is null (and 2 more problems)"

    def test_message_counts_one_more_problem_in_the_singular(self, tmp_path: Path) -> None:
        """Two bad lines say "(and 1 more problem)"."""
        lines = [line(exit_price=None), line(entry_price=0.0)]
        with pytest.raises(DataIntegrityError) as info:
            read_trades(write(tmp_path, lines))
        assert str(info.value).endswith("(and 1 more problem)")

    def test_all_problems_of_one_line_are_listed(self, tmp_path: Path) -> None:
        """A line with several breaches lists all of them."""
        text = line(timestamp=DROP, symbol=DROP, entry_price=-1.0, consensus_count="x")
        (problem,) = problems_of(write(tmp_path, [text]))
        assert problem == (
            "clm_trades.jsonl:1: timestamp is missing; symbol is missing; "
            "entry_price must be > 0 (got -1.0); "
            'consensus_count must be an integer in [0, 32767] (got string "x")'
        )

    def test_bad_data_is_a_calibration_error(self, tmp_path: Path) -> None:
        """DataIntegrityError is caught by ``except CalibrationError``."""
        with pytest.raises(CalibrationError):
            read_trades(write(tmp_path, ["{"]))

    def test_invalid_utf8_line_is_reported_and_others_still_checked(self, tmp_path: Path) -> None:
        """A line that is not UTF-8 is a problem; later bad lines are still found."""
        path = tmp_path / NAME
        good = line().encode()
        path.write_bytes(
            b"\n".join([good, b'{"symbol": "\xff"}', good, line(side="x").encode()]) + b"\n"
        )
        problems = problems_of(path)
        assert problems[0] == "clm_trades.jsonl:2: not valid UTF-8 (byte 13)"
        assert problems[1].startswith("clm_trades.jsonl:4: side must be")

    def test_problems_name_the_file_by_its_base_name(self, tmp_path: Path) -> None:
        """Messages use the file's base name, whatever directory it is in."""
        path = tmp_path / "other.jsonl"
        path.write_text("{\n", encoding="utf-8")
        assert problems_of(path)[0].startswith("other.jsonl:1: ")


class TestLineEndings:
    def test_trailing_newline_is_not_a_blank_line(self, tmp_path: Path) -> None:
        """The newline that ends the last line does not start another one."""
        assert read_trades(write(tmp_path, [line(), line()])).n_trades == 2

    def test_extra_blank_line_at_the_end_is_a_problem(self, tmp_path: Path) -> None:
        """An empty line after the last trade is reported like any blank line."""
        path = write(tmp_path, [line(), line()], end="\n\n")
        assert problems_of(path) == ("clm_trades.jsonl:3: blank line",)

    def test_crlf_line_endings_are_read(self, tmp_path: Path) -> None:
        """Windows line endings give the same trades."""
        path = tmp_path / NAME
        path.write_bytes((line() + "\r\n" + line(side="SELL") + "\r\n").encode())
        batch = read_trades(path)
        assert batch.sides.tolist() == [ACTION_BUY, ACTION_SELL]

    def test_line_separator_characters_inside_strings_do_not_split_lines(
        self, tmp_path: Path
    ) -> None:
        """Only a newline ends a line; U+2028, U+2029 and U+0085 inside a string do not."""
        symbol = "A\u2028B\u2029C\x85D"
        path = write(tmp_path, [json.dumps(record(symbol=symbol), ensure_ascii=False), line()])
        assert read_trades(path).symbol_names == (symbol, "ETHUSDT")

    def test_lines_across_block_boundaries_are_read_whole(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Reading in tiny blocks gives the same batch as reading in large ones."""
        lines = [line(symbol=f"S{i}", actual_pnl_pct=i - 5.5) for i in range(12)]
        path = write(tmp_path, lines, end="")
        expected = read_trades(path)
        monkeypatch.setattr(trades, "_BLOCK_BYTES", 7)
        assert read_trades(path) == expected


class TestPartialLastLine:
    def test_partial_last_line_is_ignored_with_a_warning(self, tmp_path: Path) -> None:
        """A last line without newline that is not complete JSON is skipped and reported."""
        path = write(tmp_path, [line(), line(), line()[:40]], end="")
        batch = read_trades(path)
        assert batch.n_trades == 2
        assert batch.partial_last_line_ignored
        assert batch.warnings == (
            "clm_trades.jsonl:3: partial last line ignored (producer may still be writing)",
        )

    def test_partial_last_line_cut_inside_a_utf8_character_is_ignored(self, tmp_path: Path) -> None:
        """A producer caught mid-character leaves bytes that are not UTF-8: still partial."""
        path = tmp_path / NAME
        last = json.dumps(record(symbol="ÅUSDT"), ensure_ascii=False).encode()
        path.write_bytes(line().encode() + b"\n" + last[: last.index(b"\xc3") + 1])
        batch = read_trades(path)
        assert batch.n_trades == 1
        assert batch.partial_last_line_ignored

    def test_complete_last_line_without_newline_is_a_trade(self, tmp_path: Path) -> None:
        """A last line that parses fully is a normal trade even without its newline."""
        batch = read_trades(write(tmp_path, [line(), line(side="SELL")], end=""))
        assert batch.n_trades == 2
        assert not batch.partial_last_line_ignored
        assert batch.warnings == ()

    def test_complete_but_bad_last_line_without_newline_is_a_problem(self, tmp_path: Path) -> None:
        """A last line that is complete JSON is checked like any other line."""
        path = write(tmp_path, [line(), line(exit_price=None)], end="")
        assert problems_of(path) == ("clm_trades.jsonl:2: exit_price is null",)

    def test_only_the_last_line_may_be_partial(self, tmp_path: Path) -> None:
        """A cut-off line followed by a newline is a bad line, not a partial one."""
        path = write(tmp_path, [line()[:40], line()])
        assert problems_of(path)[0].startswith("clm_trades.jsonl:1: not valid JSON")


class TestDataHash:
    def test_hash_is_sha256_of_the_file(self, tmp_path: Path) -> None:
        """The data hash is the SHA-256 of the bytes read."""
        path = write(tmp_path, [line(), line(side="SELL")])
        expected = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        assert read_trades(path).data_hash == expected

    def test_hash_ignores_the_partial_last_line(self, tmp_path: Path) -> None:
        """A partial last line does not change the hash: it was not read as data."""
        complete = write(tmp_path, [line(), line()])
        expected = read_trades(complete).data_hash
        with complete.open("a", encoding="utf-8") as f:
            f.write(line()[:30])
        assert read_trades(complete).data_hash == expected

    def test_hash_covers_a_complete_last_line_without_newline(self, tmp_path: Path) -> None:
        """A complete last line without newline is part of the hashed data."""
        path = write(tmp_path, [line(), line()], end="")
        expected = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        assert read_trades(path).data_hash == expected


class TestWarnings:
    @pytest.mark.parametrize("pnl", ["0.0", "-0.0", "0"])
    def test_zero_pnl_is_a_warning_not_an_error(self, tmp_path: Path, pnl: str) -> None:
        """actual_pnl_pct exactly 0 is read but flagged as suspect data."""
        zero = _raw(line(), '"actual_pnl_pct": 1.018', f'"actual_pnl_pct": {pnl}')
        batch = read_trades(write(tmp_path, [line(), zero]))
        assert batch.n_trades == 2
        assert batch.warnings == (
            "clm_trades.jsonl:2: actual_pnl_pct is exactly 0.0 (suspect data)",
        )

    def test_warnings_are_listed_in_line_order(self, tmp_path: Path) -> None:
        """Zero-PnL warnings come before the partial-last-line warning, by line."""
        lines = [line(actual_pnl_pct=0.0), line(), line(actual_pnl_pct=0.0), "{"]
        batch = read_trades(write(tmp_path, lines, end=""))
        assert [w.split(": ")[0] for w in batch.warnings] == [
            "clm_trades.jsonl:1",
            "clm_trades.jsonl:3",
            "clm_trades.jsonl:4",
        ]


class TestFiles:
    def test_missing_file_is_a_data_integrity_error(self, tmp_path: Path) -> None:
        """A file that does not exist is reported with its path."""
        path = tmp_path / "nope.jsonl"
        with pytest.raises(DataIntegrityError, match=r"^trades file not found: .*nope\.jsonl$"):
            read_trades(path)

    def test_directory_is_a_data_integrity_error(self, tmp_path: Path) -> None:
        """A directory in place of the file is reported clearly."""
        with pytest.raises(DataIntegrityError, match=r"^trades file is a directory: "):
            read_trades(tmp_path)

    def test_unreadable_file_is_a_data_integrity_error(self, tmp_path: Path) -> None:
        """A file without read permission is reported clearly."""
        path = write(tmp_path, [line()])
        path.chmod(0)
        if os.geteuid() != 0:
            with pytest.raises(DataIntegrityError, match=r"^trades file is not readable: "):
                read_trades(path)
            return
        # Root reads any file, so the read runs in a child that drops to "nobody" first
        # (after importing: the venv may live where nobody cannot exec from).
        code = (
            "import os, sys\n"
            "from calibration_core.sources.trades import read_trades\n"
            "from calibration_core.exceptions import DataIntegrityError\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "try:\n"
            "    read_trades(sys.argv[1])\n"
            "except DataIntegrityError as exc:\n"
            "    print(exc)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert result.stdout.startswith("trades file is not readable: "), result.stdout

    def test_empty_file_gives_an_empty_batch(self, tmp_path: Path) -> None:
        """An empty file is read as zero trades; the summary says what is missing."""
        path = tmp_path / NAME
        path.write_bytes(b"")
        batch = read_trades(path)
        assert batch.n_trades == 0
        assert batch.model_actions.shape == (0, 0)
        assert batch.data_hash == "sha256:" + hashlib.sha256(b"").hexdigest()

    def test_path_may_be_a_string(self, tmp_path: Path) -> None:
        """The path may be given as str; ``source`` keeps it as given."""
        path = write(tmp_path, [line()])
        assert read_trades(str(path)).source == str(path)

    @pytest.mark.parametrize("band", [-0.1, math.nan, math.inf])
    def test_bad_neutral_band_is_rejected(self, tmp_path: Path, band: float) -> None:
        """The neutral band must be a finite number >= 0."""
        with pytest.raises(InvalidInputError, match="neutral_band_pct must be a finite number"):
            read_trades(write(tmp_path, [line()]), neutral_band_pct=band)


class TestColumns:
    def test_fields_land_in_their_columns(self, tmp_path: Path) -> None:
        """Every read field is stored in its typed column, in file order."""
        lines = [
            line(),
            line(
                timestamp="2026-02-09T23:40:12+02:00",
                symbol="BTCUSDT",
                side="SELL",
                confidence=1,
                entry_price=97000,
                exit_price=96000.5,
                actual_pnl_pct=-1.03,
                consensus_count=DROP,
                model_breakdown=DROP,
                calibration_version="cal_20260210_001",
                calibrated_confidence=0.61,
            ),
        ]
        batch = read_trades(write(tmp_path, lines))
        epoch = datetime(2026, 2, 9, 21, 40, 12, tzinfo=UTC).timestamp()
        assert batch.line_numbers.tolist() == [1, 2]
        assert batch.timestamps.tolist() == [epoch, epoch]
        assert batch.symbol_names == ("ETHUSDT", "BTCUSDT")
        assert batch.symbol_codes.tolist() == [0, 1]
        assert batch.sides.tolist() == [ACTION_BUY, ACTION_SELL]
        assert batch.confidence.tolist() == [0.72, 1.0]
        assert batch.entry_price.tolist() == [2710.5, 97000.0]
        assert batch.exit_price.tolist() == [2738.1, 96000.5]
        assert batch.pnl_pct.tolist() == [1.018, -1.03]
        assert batch.consensus_count.tolist() == [3, -1]
        assert batch.calibration_version_names == ("cal_20260210_001",)
        assert batch.calibration_version_codes.tolist() == [-1, 0]
        np.testing.assert_array_equal(batch.calibrated_confidence, [np.nan, 0.61])

    def test_column_dtypes_are_as_documented(self, tmp_path: Path) -> None:
        """Columns have the documented dtypes."""
        batch = read_trades(write(tmp_path, [line()]))
        dtypes = {
            "line_numbers": np.int64,
            "timestamps": np.float64,
            "symbol_codes": np.int32,
            "sides": np.int8,
            "confidence": np.float64,
            "entry_price": np.float64,
            "exit_price": np.float64,
            "pnl_pct": np.float64,
            "calibrated_confidence": np.float64,
            "calibration_version_codes": np.int32,
            "consensus_count": np.int16,
            "model_actions": np.int8,
            "model_confidence": np.float64,
        }
        for name, dtype in dtypes.items():
            assert getattr(batch, name).dtype == dtype, name

    def test_columns_are_read_only(self, tmp_path: Path) -> None:
        """A batch's arrays cannot be written to."""
        batch = read_trades(write(tmp_path, [line()]))
        with pytest.raises(ValueError, match="read-only"):
            batch.confidence[0] = 0.5
        with pytest.raises(ValueError, match="read-only"):
            batch.model_actions[0, 0] = ACTION_HOLD

    def test_model_votes_fill_a_matrix_with_missing_marked(self, tmp_path: Path) -> None:
        """Votes go to (trade, model) cells; models seen late or skipped are marked missing."""
        lines = [
            line(model_breakdown=DROP),
            line(model_breakdown={"lgbm": {"action": "SELL", "confidence": 0.6}}),
            line(
                model_breakdown={
                    "xgb": {"action": "HOLD", "confidence": 0.4},
                    "lgbm": {"action": "BUY", "confidence": 0},
                }
            ),
            line(model_breakdown={}),
        ]
        batch = read_trades(write(tmp_path, lines))
        assert batch.model_names == ("lgbm", "xgb")
        assert batch.model_actions.tolist() == [
            [ACTION_MISSING, ACTION_MISSING],
            [ACTION_SELL, ACTION_MISSING],
            [ACTION_BUY, ACTION_HOLD],
            [ACTION_MISSING, ACTION_MISSING],
        ]
        np.testing.assert_array_equal(
            batch.model_confidence,
            [[np.nan, np.nan], [0.6, np.nan], [0.0, 0.4], [np.nan, np.nan]],
        )
        assert batch.has_model_breakdown

    def test_without_votes_there_is_no_breakdown(self, tmp_path: Path) -> None:
        """A file without model_breakdown has zero model columns."""
        batch = read_trades(write(tmp_path, [line(model_breakdown=DROP)]))
        assert batch.model_names == ()
        assert batch.model_actions.shape == (1, 0)
        assert not batch.has_model_breakdown

    def test_fields_that_are_not_read_are_not_checked(self, tmp_path: Path) -> None:
        """Unknown fields and the unread trade_id/model_id/entry_timestamp are passed over."""
        text = line(trade_id=7, model_id=None, entry_timestamp="soon", future={"x": [1, None]})
        assert read_trades(write(tmp_path, [text])).n_trades == 1

    def test_calibration_version_null_is_absent(self, tmp_path: Path) -> None:
        """calibration_version null reads like an absent version."""
        batch = read_trades(write(tmp_path, [line(calibration_version=None)]))
        assert batch.calibration_version_codes.tolist() == [-1]
        assert batch.calibration_version_names == ()


class TestTradeBatch:
    @pytest.fixture
    def batch(self, tmp_path: Path) -> TradeBatch:
        lines = [
            line(timestamp="2026-02-03T00:00:00Z", symbol="B", actual_pnl_pct=0.5),
            line(timestamp="2026-02-01T00:00:00Z", symbol="A", actual_pnl_pct=-0.01),
            line(timestamp="2026-02-03T00:00:00Z", symbol="A", actual_pnl_pct=0.03),
            line(timestamp="2026-02-02T00:00:00Z", symbol="C", actual_pnl_pct=-2.0),
        ]
        return read_trades(write(tmp_path, lines))

    def test_outcome_masks(self, batch: TradeBatch) -> None:
        """wins, losses and neutral follow the sign and the neutral band of the PnL."""
        assert batch.wins.tolist() == [True, False, True, False]
        assert batch.losses.tolist() == [False, True, False, True]
        assert batch.neutral.tolist() == [False, True, True, False]

    def test_neutral_band_is_configurable(self, tmp_path: Path) -> None:
        """A wider band counts more trades as NEUTRAL."""
        path = write(tmp_path, [line(actual_pnl_pct=0.5), line(actual_pnl_pct=-2.0)])
        assert read_trades(path, neutral_band_pct=1.0).neutral.tolist() == [True, False]

    def test_symbols_are_sorted_and_only_those_present(self, batch: TradeBatch) -> None:
        """symbols() lists the symbols of the rows, sorted."""
        assert batch.symbols() == ("A", "B", "C")
        assert batch.select(batch.symbol_codes == 0).symbols() == ("B",)

    def test_time_span(self, batch: TradeBatch) -> None:
        """The span runs from the earliest to the latest close time."""
        assert batch.time_span_days == 2.0
        assert batch.select([0]).time_span_days == 0.0

    def test_sorted_by_time_is_stable(self, batch: TradeBatch) -> None:
        """Sorting by time keeps file order among equal timestamps."""
        assert batch.sorted_by_time().line_numbers.tolist() == [2, 4, 1, 3]

    def test_sorted_by_time_returns_a_sorted_batch_itself(self, batch: TradeBatch) -> None:
        """A batch already in close-time order is not copied; sorting again changes nothing."""
        ordered = batch.sorted_by_time()
        assert ordered is not batch
        assert ordered.sorted_by_time() is ordered
        one = batch.select([0])
        assert one.sorted_by_time() is one
        assert batch.select([]).sorted_by_time().n_trades == 0

    def test_select_by_mask_and_by_indices(self, batch: TradeBatch) -> None:
        """Select takes a bool mask or integer indices and keeps every column aligned."""
        by_mask = batch.select(batch.wins)
        assert by_mask.line_numbers.tolist() == [1, 3]
        assert by_mask.pnl_pct.tolist() == [0.5, 0.03]
        by_index = batch.select([3, 0])
        assert by_index.line_numbers.tolist() == [4, 1]
        assert by_index.model_actions.shape == (2, 4)
        assert batch.select([]).n_trades == 0

    @pytest.mark.parametrize(
        ("rows", "pattern"),
        [
            ([True, False], r"rows mask must have shape \(4,\) \(got \(2,\)\)"),
            ([0.5, 1.0], r"rows must be a bool mask or 1-d integer indices"),
            ([[0, 1]], r"rows must be a bool mask or 1-d integer indices"),
        ],
    )
    def test_select_rejects_bad_rows(self, batch: TradeBatch, rows: Any, pattern: str) -> None:
        """A wrong-length mask or non-integer indices are refused."""
        with pytest.raises(InvalidInputError, match=pattern):
            batch.select(rows)

    def test_equal_batches_compare_equal_with_nan(self, batch: TradeBatch) -> None:
        """Batches with the same data are equal, NaN cells included, and hash alike."""
        again = read_trades(batch.source)
        assert again == batch
        assert hash(again) == hash(batch)
        assert batch.select([0, 1]) != batch

    def test_every_column_is_read_only(self, batch: TradeBatch) -> None:
        """The reader's and select's columns cannot be written, however they were made."""
        for made in (batch, batch.select(batch.wins), batch.select([3, 0])):
            for name in ("timestamps", "confidence", "sides", "model_actions", "model_confidence"):
                column = getattr(made, name)
                assert not column.flags.writeable, name
                with pytest.raises(ValueError, match="read-only"):
                    column[...] = 0

    def test_a_callers_writeable_array_is_copied_never_frozen(self, batch: TradeBatch) -> None:
        """A writeable array passed in is copied: the caller's array stays theirs."""
        mine = np.array([0.1, 0.2, 0.3, 0.4])
        changed = attrs.evolve(batch, confidence=mine)
        assert mine.flags.writeable
        mine[0] = 0.9
        assert changed.confidence.tolist() == [0.1, 0.2, 0.3, 0.4]

    def test_a_read_only_owned_array_is_adopted_without_a_copy(self, batch: TradeBatch) -> None:
        """A frozen array that owns its memory is kept as it is (no second copy at 1M rows)."""
        frozen = freeze(np.array([0.1, 0.2, 0.3, 0.4]))
        assert attrs.evolve(batch, confidence=frozen).confidence is frozen
        view = np.array([0.1, 0.2, 0.3, 0.4, 0.5])[:4]
        view.flags.writeable = False
        assert attrs.evolve(batch, confidence=view).confidence is not view

    def test_columns_must_agree_in_length(self, batch: TradeBatch) -> None:
        """Building a batch whose columns differ in length is refused."""
        with pytest.raises(InvalidInputError, match=r"confidence must have shape \(4,\)"):
            attrs.evolve(batch, confidence=[0.5])


class TestSummarizeIntegrity:
    def test_example_data_is_ok(self) -> None:
        """The shipped example file passes phase 0.2."""
        summary = summarize_integrity(read_trades(REPO / "data" / "clm_trades.jsonl"))
        assert summary.ok
        assert summary.problems == ()
        assert summary.n_symbols >= 2
        assert summary.neutral > 0

    def test_counts_rates_and_range(self, tmp_path: Path) -> None:
        """The summary counts outcomes and gives the time range."""
        lines = [
            trade_line(i, timestamp=f"2026-02-0{1 + i % 3}T12:00:00Z", symbol=s, pnl=p)
            for i, (s, p) in enumerate([("A", 1.0), ("B", -1.0), ("A", 0.01), ("B", 0.0)] * 15)
        ]
        summary = summarize_integrity(read_trades(write(tmp_path, lines)))
        assert summary.ok
        assert (summary.n_trades, summary.wins, summary.losses) == (60, 30, 15)
        assert (summary.neutral, summary.zero_pnl) == (30, 15)
        assert summary.win_rate == 0.5
        assert summary.loss_rate == 0.25
        assert summary.neutral_rate == 0.5
        assert summary.first_timestamp == "2026-02-01T12:00:00+00:00"
        assert summary.last_timestamp == "2026-02-03T12:00:00+00:00"
        assert summary.span_days == 2.0
        assert summary.symbols == ("A", "B")
        assert len(summary.warnings) == 15

    def test_too_few_trades(self, tmp_path: Path) -> None:
        """Fewer trades than the minimum is a dataset problem."""
        lines = [trade_line(i, symbol="AB"[i % 2], pnl=(-1) ** i) for i in range(42)]
        summary = summarize_integrity(read_trades(write(tmp_path, lines)))
        assert not summary.ok
        assert summary.problems == (
            f"only 42 trades; at least {MIN_TRADES_FOR_CALIBRATION} are required",
        )

    def test_one_symbol_no_win(self, tmp_path: Path) -> None:
        """One symbol and no WIN are both reported."""
        lines = [trade_line(i, symbol="BTCUSDT", pnl=-1.0) for i in range(50)]
        summary = summarize_integrity(read_trades(write(tmp_path, lines)))
        assert summary.problems == (
            "only 1 symbol (BTCUSDT); at least 2 are required",
            "no WIN trade (PnL > 0); at least 1 is required",
        )

    def test_no_loss(self, tmp_path: Path) -> None:
        """Only wins is a dataset problem."""
        lines = [trade_line(i, symbol="AB"[i % 2], pnl=1.0) for i in range(50)]
        summary = summarize_integrity(read_trades(write(tmp_path, lines)))
        assert summary.problems == ("no LOSS trade (PnL < 0); at least 1 is required",)

    def test_empty_batch(self, tmp_path: Path) -> None:
        """An empty file fails every dataset rule, with zero rates and no range."""
        path = tmp_path / NAME
        path.write_bytes(b"")
        summary = summarize_integrity(read_trades(path))
        assert summary.problems == (
            f"only 0 trades; at least {MIN_TRADES_FOR_CALIBRATION} are required",
            "only 0 symbols; at least 2 are required",
            "no WIN trade (PnL > 0); at least 1 is required",
            "no LOSS trade (PnL < 0); at least 1 is required",
        )
        assert (summary.win_rate, summary.first_timestamp, summary.span_days) == (0.0, None, 0.0)


class TestExampleData:
    def test_shipped_file_is_what_the_generator_writes(self, tmp_path: Path) -> None:
        """data/clm_trades.jsonl is exactly the generator's output from 2026-01-21 on."""
        generator = load_generator()
        out = tmp_path / "regenerated.jsonl"
        assert generator.main(["--out", str(out), "--start", "2026-01-21T00:00:00Z"]) == 0
        assert out.read_bytes() == (REPO / "data" / "clm_trades.jsonl").read_bytes()

    def test_generated_prices_agree_with_side_and_pnl(self) -> None:
        """Exit price, side and PnL agree in every generated trade; no PnL is exactly 0."""
        batch = read_trades(REPO / "data" / "clm_trades.jsonl")
        implied = batch.sides * (batch.exit_price - batch.entry_price) / batch.entry_price * 100
        np.testing.assert_allclose(implied, batch.pnl_pct, atol=6e-5)
        assert not np.any(batch.pnl_pct == 0.0)
        consensus = np.sum(batch.model_actions == batch.sides[:, None], axis=1)
        assert consensus.tolist() == batch.consensus_count.tolist()

    def test_generator_options(self, tmp_path: Path) -> None:
        """--n, --symbols, --days and --calibration-version shape the output."""
        generator = load_generator()
        out = tmp_path / "t.jsonl"
        argv = ["--out", str(out), "--n", "120", "--symbols", "AAA,BBB", "--days", "2"]
        assert generator.main([*argv, "--calibration-version", "cal_x"]) == 0
        batch = read_trades(out)
        assert batch.n_trades == 120
        assert batch.symbols() == ("AAA", "BBB")
        assert batch.time_span_days <= 2.0
        assert batch.calibration_version_names == ("cal_x",)
        assert not np.any(np.isnan(batch.calibrated_confidence))


# --------------------------------------------------------------------------- properties

_finite = st.floats(allow_nan=False, allow_infinity=False)
_zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
# Naive bounds are what st.datetimes takes; the drawn values get a zone.
_times = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=_zones,
)
_symbols = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=6)
_votes = st.dictionaries(
    st.sampled_from(["xgb", "lgbm", "nhits", "patchtst", "tft"]),
    st.fixed_dictionaries(
        {
            "action": st.sampled_from(["BUY", "SELL", "HOLD"]),
            "confidence": st.floats(0.0, 1.0),
        }
    ),
)
_valid_records = st.fixed_dictionaries(
    {
        "timestamp": _times,
        "symbol": _symbols,
        "side": st.sampled_from(["BUY", "SELL"]),
        "confidence": st.floats(0.0, 1.0),
        "entry_price": st.floats(min_value=0.0, exclude_min=True, allow_infinity=False),
        "exit_price": st.floats(min_value=0.0, exclude_min=True, allow_infinity=False),
        "actual_pnl_pct": st.floats(
            -trade_contract.MAX_ABS_PNL_PCT, trade_contract.MAX_ABS_PNL_PCT
        ),
    },
    optional={
        "consensus_count": st.integers(0, 32767),
        "calibrated_confidence": st.floats(0.0, 1.0),
        "calibration_version": st.one_of(st.none(), st.sampled_from(["v1", "v2"])),
        "model_breakdown": _votes,
    },
)


def _as_json(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in rec.items()}


class TestRoundTrip:
    @given(st.lists(_valid_records, min_size=1, max_size=12), st.booleans())
    def test_valid_records_are_read_back_exactly(
        self, tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]], ascii_: bool
    ) -> None:
        """Valid records written to a file come back unchanged in the columns."""
        path = tmp_path_factory.mktemp("rt") / NAME
        text = "".join(json.dumps(_as_json(r), ensure_ascii=ascii_) + "\n" for r in records)
        path.write_text(text, encoding="utf-8")
        batch = read_trades(path)

        assert batch.n_trades == len(records)
        assert batch.line_numbers.tolist() == list(range(1, len(records) + 1))
        assert batch.timestamps.tolist() == [r["timestamp"].timestamp() for r in records]
        assert [batch.symbol_names[c] for c in batch.symbol_codes] == [r["symbol"] for r in records]
        assert batch.sides.tolist() == [1 if r["side"] == "BUY" else -1 for r in records]
        for column, field in [
            ("confidence", "confidence"),
            ("entry_price", "entry_price"),
            ("exit_price", "exit_price"),
            ("pnl_pct", "actual_pnl_pct"),
        ]:
            assert getattr(batch, column).tolist() == [r[field] for r in records]
        np.testing.assert_array_equal(
            batch.calibrated_confidence,
            [r.get("calibrated_confidence", np.nan) for r in records],
        )
        versions = [
            batch.calibration_version_names[c] if c >= 0 else None
            for c in batch.calibration_version_codes
        ]
        assert versions == [r.get("calibration_version") for r in records]
        assert batch.consensus_count.tolist() == [r.get("consensus_count", -1) for r in records]
        for i, r in enumerate(records):
            votes = r.get("model_breakdown", {})
            for m, model in enumerate(batch.model_names):
                vote = votes.get(model)
                action = {"BUY": 1, "SELL": -1, "HOLD": 0}[vote["action"]] if vote else -128
                assert batch.model_actions[i, m] == action
                assert (
                    batch.model_confidence[i, m] == vote["confidence"]
                    if vote
                    else np.isnan(batch.model_confidence[i, m])
                )
        assert len(batch.warnings) == sum(r["actual_pnl_pct"] == 0.0 for r in records)


# Any JSON value, weighted toward values that are almost right.
_anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(),
    st.floats(),
    st.sampled_from(
        [
            *("BUY", "SELL", "HOLD", "buy", "", "2026-02-09T21:40:12Z", "2026-02-09"),
            # The other dialects' words: LONG/SHORT sides, outcome labels, a zone-less stamp.
            *("LONG", "SHORT", "WIN", "LOSS", "NEUTRAL", "2026-02-09T21:40:12.334338"),
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_mixed_votes = st.dictionaries(
    st.sampled_from(["xgb", "lgbm", ""]),
    st.one_of(
        st.fixed_dictionaries(
            {"action": st.one_of(st.sampled_from(["BUY", "HOLD"]), _anything)},
            optional={"confidence": st.one_of(st.floats(0.0, 1.0), _anything)},
        ),
        _anything,
    ),
)


@st.composite
def _mixed_records(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a valid record with up to three fields replaced by almost anything, or dropped."""
    rec = _as_json(draw(_valid_records))
    fields = [*trade_contract.REQUIRED, *trade_contract.OPTIONAL_READ, "note"]
    for field in draw(st.lists(st.sampled_from(fields), max_size=3, unique=True)):
        if field == "model_breakdown":
            rec[field] = draw(st.one_of(_mixed_votes, _anything))
        elif draw(st.booleans()):
            rec[field] = draw(_anything)
        else:
            rec.pop(field, None)
    return rec


class TestFastPathAgreesWithContract:
    @given(st.lists(_mixed_records(), min_size=1, max_size=4))
    @example([record(confidence=1, entry_price=97000, model_breakdown={"x": {"action": "BUY"}})])
    @example([{**record(), "actual_pnl_pct": 10**400}])
    @example([{"calibrated_confidence": None}])  # once crashed the slow path
    def test_reader_accepts_exactly_what_the_contract_accepts(
        self, tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]]
    ) -> None:
        """Whatever the hot loop does, read_trades agrees line by line with _check_record."""
        lines = [json.dumps(r) for r in records]
        path = tmp_path_factory.mktemp("mix") / NAME
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        decoder = trades.Reader("x").decoder
        verdicts = [trade_contract.check_record(decoder.decode(text)) for text in lines]
        expected = tuple(
            f"{NAME}:{i}: {'; '.join(problems)}"
            for i, (problems, _) in enumerate(verdicts, start=1)
            if problems
        )
        if expected:
            assert problems_of(path) == expected
            return
        batch = read_trades(path)
        rows = [row for _, row in verdicts if row is not None]
        assert batch.timestamps.tolist() == [row.timestamp for row in rows]
        assert batch.confidence.tolist() == [row.confidence for row in rows]
        assert batch.pnl_pct.tolist() == [row.pnl_pct for row in rows]
        assert batch.consensus_count.tolist() == [row.consensus_count for row in rows]
        assert int(np.sum(batch.model_actions != ACTION_MISSING)) == sum(
            len(row.votes) for row in rows
        )
        assert batch.sides.tolist() == [row.side for row in rows]
        assert batch.outcome_labels.tolist() == [row.outcome for row in rows]
        assert batch.zoneless_count == sum(row.zoneless for row in rows)


def _columns(batch: TradeBatch) -> dict[str, list[Any]]:
    return {
        name: getattr(batch, name).tolist()
        for name in ("sides", "confidence", "entry_price", "exit_price", "pnl_pct")
    }


class TestDialects:
    """Dialects A (production recorder), B (the system's test data) and C (ours), one reader."""

    END = "2026-03-01T00:00:00Z"

    def _write(self, tmp_path: Path, dialect: str, **options: Any) -> Path:
        return write_example_trades(
            tmp_path / f"{dialect}.jsonl", n_trades=300, end=self.END, dialect=dialect, **options
        )

    @pytest.mark.parametrize("dialect", ["A", "B", "mixed"])
    def test_every_dialect_reads_the_same_trades_as_ours(
        self, tmp_path: Path, dialect: str
    ) -> None:
        """The same generated trades read alike in every dialect: sides, prices, PnL, confidence."""
        ours = read_trades(self._write(tmp_path, "C"))
        theirs = read_trades(self._write(tmp_path, dialect))
        assert theirs.n_trades == ours.n_trades == 300
        assert _columns(theirs) == _columns(ours)
        np.testing.assert_allclose(theirs.timestamps, ours.timestamps, atol=1.0)
        assert theirs.warnings == ()

    def test_dialect_a_keeps_the_recorders_outcome_label_and_has_no_votes(
        self, tmp_path: Path
    ) -> None:
        """LONG/SHORT become BUY/SELL; outcome_label follows the recorder's ±0.5 thresholds."""
        path = self._write(tmp_path, "A")
        text = path.read_text()
        assert '"side": "LONG"' in text
        assert '"side": "SHORT"' in text
        batch = read_trades(path)
        assert not batch.has_model_breakdown
        expected = np.where(
            batch.pnl_pct > 0.5,
            trade_batch.OUTCOME_WIN,
            np.where(batch.pnl_pct < -0.5, trade_batch.OUTCOME_LOSS, trade_batch.OUTCOME_NEUTRAL),
        )
        assert batch.outcome_labels.tolist() == expected.tolist()
        assert batch.zoneless_count == 0

    def test_dialect_b_reads_votes_and_counts_zoneless_stamps_once(self, tmp_path: Path) -> None:
        """model_predictions are the votes; zone-less stamps are UTC, counted once, not per line."""
        ours = read_trades(self._write(tmp_path, "C"))
        batch = read_trades(self._write(tmp_path, "B"))
        assert batch.model_names == ours.model_names
        assert batch.model_actions.tolist() == ours.model_actions.tolist()
        assert batch.zoneless_count == 300
        assert batch.zoneless_first_lines == (1, 2, 3, 4, 5)
        assert batch.warnings == ()
        assert set(batch.outcome_labels.tolist()) == {
            trade_batch.OUTCOME_WIN,
            trade_batch.OUTCOME_LOSS,
        }

    def test_mixed_file_counts_only_the_zoneless_lines(self, tmp_path: Path) -> None:
        """In a mixed file the zone-less count is exactly the dialect-B lines."""
        path = self._write(tmp_path, "mixed")
        b_lines = [
            n
            for n, text in enumerate(path.read_text().splitlines(), 1)
            if '"trade_id": "mock_' in text
        ]
        batch = read_trades(path)
        assert 0 < batch.zoneless_count == len(b_lines) < 300
        assert batch.zoneless_first_lines == tuple(b_lines[:5])

    def test_zoneless_stamp_is_read_as_utc(self, tmp_path: Path) -> None:
        """2026-02-09T21:40:12 without a zone is the same instant as 2026-02-09T21:40:12Z."""
        path = write(tmp_path, [line(timestamp="2026-02-09T21:40:12"), line()])
        batch = read_trades(path)
        assert batch.timestamps[0] == batch.timestamps[1]
        assert (batch.zoneless_count, batch.zoneless_first_lines) == (1, (1,))

    @pytest.mark.parametrize(
        ("changes", "side"),
        [
            ({"side": "LONG"}, ACTION_BUY),
            ({"side": "SHORT"}, ACTION_SELL),
            ({"side": DROP, "action": "SELL"}, ACTION_SELL),
            ({"side": "BUY", "action": "SELL"}, ACTION_BUY),
        ],
    )
    def test_side_words(self, tmp_path: Path, changes: dict[str, Any], side: int) -> None:
        """LONG is BUY, SHORT is SELL, and action is the side only when side is absent."""
        batch = read_trades(write(tmp_path, [line(**changes)]))
        assert batch.sides.tolist() == [side]

    def test_pnl_percent_is_actual_pnl_pct(self, tmp_path: Path) -> None:
        """pnl_percent alone, or equal to actual_pnl_pct, is the PnL."""
        lines = [line(actual_pnl_pct=DROP, pnl_percent=-0.25), line(pnl_percent=1.018)]
        assert read_trades(write(tmp_path, lines)).pnl_pct.tolist() == [-0.25, 1.018]

    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            (
                {"pnl_percent": 2.0},
                (
                    r"actual_pnl_pct \(1\.018\) and pnl_percent \(2\.0\) differ; "
                    r"they are one field under two names"
                ),
            ),
            ({"actual_pnl_pct": DROP, "pnl_percent": None}, r"pnl_percent is null"),
            (
                {"side": DROP, "action": "HOLD"},
                r'action must be "BUY", "SELL", "LONG" or "SHORT" \(got string "HOLD"\)',
            ),
            (
                {"outcome_label": "win"},
                r'outcome_label must be "WIN", "LOSS", "NEUTRAL" or null \(got string "win"\)',
            ),
            (
                {"model_breakdown": DROP, "model_predictions": {"xgb": {"action": "UP"}}},
                r'model_predictions\.xgb\.action must be "BUY", "SELL" or "HOLD" .*',
            ),
        ],
    )
    def test_dialect_field_errors(
        self, tmp_path: Path, changes: dict[str, Any], reason: str
    ) -> None:
        """Both PnL names differing, a bad action, a bad outcome_label: numbered errors."""
        (problem,) = problems_of(write(tmp_path, [line(), line(**changes)]))
        assert re.fullmatch(rf"clm_trades\.jsonl:2: {reason}", problem), problem

    def test_optional_dialect_fields_may_be_null(self, tmp_path: Path) -> None:
        """The dialects' optional fields (outcome_label, duration_*, ...) may be null."""
        nulls = dict.fromkeys(
            (
                "outcome_label",
                "duration_seconds",
                "duration_minutes",
                "strategy_id",
                "position_size",
                "exit_reason",
                "trade_id",
            )
        )
        batch = read_trades(write(tmp_path, [line(**nulls)]))
        assert batch.outcome_labels.tolist() == [trade_batch.OUTCOME_NONE]

    def test_zero_pnl_warning_names_the_field_the_line_used(self, tmp_path: Path) -> None:
        """A dialect-A line with PnL 0.0 is flagged under its own field name."""
        batch = read_trades(write(tmp_path, [line(actual_pnl_pct=DROP, pnl_percent=0.0)]))
        assert batch.warnings == ("clm_trades.jsonl:1: pnl_percent is exactly 0.0 (suspect data)",)


class TestIntegrityFindings:
    """The pathologies of issue 9 §2, vectorised over the columns."""

    def test_duplicates_pair_each_repeat_with_the_previous_copy(self, tmp_path: Path) -> None:
        """Same symbol, side, prices and PnL within 60 s repeat; 61 s or another price do not."""
        base = trade_line(1, pnl=1.0, timestamp="2026-02-09T10:00:00Z")
        lines = [
            base,
            trade_line(1, pnl=1.0, timestamp="2026-02-09T10:00:30Z"),  # repeats line 1
            trade_line(1, pnl=1.0, timestamp="2026-02-09T10:01:20Z"),  # 50 s after line 2
            trade_line(1, pnl=1.0, timestamp="2026-02-09T10:03:00Z"),  # 100 s later: new
            trade_line(2, pnl=1.0, timestamp="2026-02-09T10:00:00Z"),  # other prices
            trade_line(1, pnl=1.0, timestamp="2026-02-09T10:00:00Z", symbol="BTCUSDT"),
        ]
        batch = read_trades(write(tmp_path, lines))
        repeats, pairs = integrity.find_duplicates(batch)
        assert repeats.tolist() == [False, True, True, False, False, False]
        assert pairs.tolist() == [[2, 1], [3, 2]]
        kept = batch.select(~repeats)
        assert not integrity.find_duplicates(kept)[0].any()

    @pytest.mark.parametrize(
        ("copies", "words"), [(1, "1 record repeats"), (2, "2 records repeat")]
    )
    def test_duplicates_finding_agrees_in_number(
        self, tmp_path: Path, copies: int, words: str
    ) -> None:
        """One repeat "repeats", two "repeat": the finding reads as an operator would write it."""
        stamps = ["2026-02-09T10:00:00Z", "2026-02-09T10:00:10Z", "2026-02-09T10:00:20Z"]
        lines = [trade_line(1, pnl=1.0, timestamp=t) for t in stamps[: copies + 1]]
        summary = summarize_integrity(read_trades(write(tmp_path, lines)))
        (finding,) = [f for f in summary.findings if f.kind == "duplicates"]
        assert finding.message.startswith(f"{words} an earlier one")

    @given(
        st.lists(
            st.tuples(
                st.integers(0, 1),
                st.sampled_from([1, -1]),
                st.sampled_from([1.0, 2.0]),
                st.sampled_from([0.0, -0.0, 1.5]),
                st.integers(0, 6),
            ),
            max_size=40,
        ),
        st.randoms(use_true_random=False),
    )
    def test_duplicates_match_the_full_sort(self, rows: list[Any], rng: Any) -> None:
        """The hash pre-filter finds exactly the repeats that sorting every row finds."""
        rng.shuffle(rows)
        n = len(rows)
        symbol, side, price, pnl, minute = (
            (list(c) for c in zip(*rows, strict=True)) if n else ([[]] * 5)
        )
        batch = TradeBatch(
            source=NAME,
            line_numbers=np.arange(1, n + 1),
            timestamps=np.array(minute, dtype=np.float64) * 40.0,
            symbol_codes=symbol,
            symbol_names=("A", "B"),
            sides=side,
            confidence=np.full(n, 0.5),
            entry_price=np.full(n, 1.0),
            exit_price=price,
            pnl_pct=pnl,
            calibrated_confidence=np.full(n, np.nan),
            calibration_version_codes=np.full(n, -1),
            calibration_version_names=(),
            consensus_count=np.full(n, -1),
            model_names=(),
            model_actions=np.zeros((n, 0)),
            model_confidence=np.zeros((n, 0)),
        )
        keys = (batch.symbol_codes, batch.sides, batch.entry_price, batch.exit_price, batch.pnl_pct)
        order = np.lexsort((batch.line_numbers, batch.timestamps, *reversed(keys)))
        same = np.diff(batch.timestamps[order]) <= integrity.DUPLICATE_WINDOW_S
        for column in keys:
            same &= column[order][1:] == column[order][:-1]
        expected = np.zeros(n, dtype=np.bool_)
        expected[order[1:][same]] = True
        pairs = np.column_stack(
            (batch.line_numbers[order[1:][same]], batch.line_numbers[order[:-1][same]])
        )
        repeats, found = integrity.find_duplicates(batch)
        assert repeats.tolist() == expected.tolist()
        assert found.tolist() == pairs[np.argsort(pairs[:, 0], kind="stable")].tolist()

    def test_duplicate_finding_is_a_stop_with_line_pairs(self, tmp_path: Path) -> None:
        """The summary stops on repeats and shows the first pairs."""
        lines = [
            trade_line(i // 2, symbol="AB"[i // 2 % 2], pnl=(-1) ** (i // 2)) for i in range(120)
        ]
        summary = summarize_integrity(read_trades(write(tmp_path, lines)))
        (finding,) = [f for f in summary.findings if f.kind == "duplicates"]
        assert (finding.stop, finding.count) == (True, 60)
        assert finding.first_lines_text() == "lines 2↔1, 4↔3, 6↔5, 8↔7, 10↔9, …"
        assert finding.message in summary.problems

    @pytest.mark.parametrize(("flipped", "stop"), [(4, False), (5, True)])
    def test_contradicting_sides_warn_then_stop_at_ten_percent(
        self, tmp_path: Path, flipped: int, stop: bool
    ) -> None:
        """4 of 50 nonzero-PnL trades warn; 5 (10 %) stop."""
        lines = [
            trade_line(i, symbol="AB"[i % 2], pnl=(-1) ** i, side="SELL" if i < flipped else "BUY")
            for i in range(50)
        ]
        summary = summarize_integrity(read_trades(write(tmp_path, lines)))
        (finding,) = [f for f in summary.findings if f.kind == "side_contradicts_pnl"]
        assert (finding.count, finding.stop) == (flipped, stop)
        assert finding.lines == tuple(range(1, flipped + 1))
        assert summary.ok is not stop

    def test_future_close_needs_now_and_stops(self, tmp_path: Path) -> None:
        """A close 6 min ahead of now stops; 4 min ahead is tolerated."""
        now = datetime(2026, 2, 9, 12, 0, tzinfo=UTC)
        lines = [
            trade_line(i, symbol="AB"[i % 2], pnl=(-1) ** i, timestamp="2026-02-09T11:00:00Z")
            for i in range(50)
        ]
        lines.append(trade_line(60, pnl=1.0, timestamp="2026-02-09T12:04:00Z"))
        lines.append(trade_line(61, pnl=1.0, timestamp="2026-02-09T12:06:00Z"))
        batch = read_trades(write(tmp_path, lines))
        assert summarize_integrity(batch).ok
        summary = summarize_integrity(batch, now=now.timestamp())
        (finding,) = [f for f in summary.findings if f.kind == "future_close"]
        assert (finding.count, finding.lines) == (1, (52,))
        assert not summary.ok

    def test_starvation_after_two_hours(self, tmp_path: Path) -> None:
        """The newest close 2 h 1 min old is starvation; 1 h 59 min is not."""
        lines = [
            trade_line(i, symbol="AB"[i % 2], pnl=(-1) ** i, timestamp="2026-02-09T10:00:00Z")
            for i in range(50)
        ]
        batch = read_trades(write(tmp_path, lines))
        ten = datetime(2026, 2, 9, 10, 0, tzinfo=UTC).timestamp()
        assert summarize_integrity(batch, now=ten + 119 * 60).starvation is None
        starved = summarize_integrity(batch, now=ten + 121 * 60)
        assert starved.starvation is not None
        assert starved.starvation.startswith("SimpleCLM STARVATION: the newest close is 2.0 h old")
        assert starved.ok  # starvation refuses run unless --force; it is not a data STOP

    @pytest.mark.parametrize(
        ("stamps", "expected"),
        [
            ([], None),
            ([5.0], (5.0, 5.0)),
            ([9.0, 1.0], (1.0, 9.0)),
            ([0.0, 10.0, 11.0, 12.0, 1e12], (10.0, 12.0)),
            ([-1e12, 10.0, 11.0, 12.0, 13.0], (10.0, 12.0)),
        ],
    )
    def test_robust_time_range_ignores_one_outlier(
        self, stamps: list[float], expected: tuple[float, float] | None
    ) -> None:
        """One stray stamp at either end cannot stretch the range."""
        assert integrity.robust_time_range(stamps) == expected

    @given(st.lists(st.floats(0, 1e9), min_size=3, max_size=30), st.floats(-1e12, 1e12))
    def test_one_outlier_moves_the_range_at_most_to_a_neighbour(
        self, stamps: list[float], outlier: float
    ) -> None:
        """Adding any one timestamp keeps the robust range within the data's own range."""
        low, high = min(stamps), max(stamps)
        result = integrity.robust_time_range([*stamps, outlier])
        assert result is not None
        assert low <= result[0] <= result[1] <= high

    def test_grouped_output_is_short_for_any_number_of_lines(self) -> None:
        """10,000 bad lines of 3 kinds are 3 lines; 40 kinds are 12 lines plus one."""
        messages = [
            f"t.jsonl:{n}: " + ("blank line", "exit_price is null", "side must be X (got 1)")[n % 3]
            for n in range(1, 10_001)
        ]
        groups = integrity.group_line_messages(messages, stop=True)
        assert [g.count for g in groups] == [3334, 3333, 3333]
        shown = integrity.format_findings(groups)
        assert len(shown) == 3
        assert shown[0] == "❌ exit_price is null — 3334 records; lines 1, 4, 7, 10, 13, …"
        assert (
            shown[1] == "❌ side must be X, e.g. (got 1) — 3333 records; lines 2, 5, 8, 11, 14, …"
        )
        many = [f"t.jsonl:{n}: field_{n} is missing" for n in range(40)]
        shown = integrity.format_findings(integrity.group_line_messages(many, stop=True))
        assert len(shown) == 13
        assert shown[-1].startswith("… and 28 more kinds")


class TestRecorderStorage:
    def test_simple_clm_storage_is_the_fallback(self) -> None:
        """SIMPLE_CLM_STORAGE names the trades file only when CLM_DATA_PATH is not set."""
        recorder = {"SIMPLE_CLM_STORAGE": "/srv/clm.jsonl"}
        assert resolve_paths(environ=recorder).data == Path("/srv/clm.jsonl")
        both = {**recorder, "CLM_DATA_PATH": "/srv/ours.jsonl"}
        assert resolve_paths(environ=both).data == Path("/srv/ours.jsonl")
        # Paths are absolute (resolved against the working directory when read).
        assert resolve_paths(data="x.jsonl", environ=both).data == Path("x.jsonl").absolute()
        assert resolve_paths(environ={}).data == Path("data/clm_trades.jsonl").absolute()
        assert resolve_paths(environ=recorder).origin_note("data") == "(from SIMPLE_CLM_STORAGE)"


# --------------------------------------------------------------------------- the typed fast path


def _outcome(path: Path) -> tuple[str, object]:
    """Read ``path``: the batch, or the exact problems it was refused with."""
    try:
        return "batch", read_trades(path)
    except DataIntegrityError as exc:
        return "problems", (str(exc), exc.problems)


def _read_both_ways(path: Path) -> tuple[tuple[str, object], tuple[str, object], list[bool]]:
    """Read ``path`` with the typed fast path (as shipped) and with the per-line path only.

    Returns both outcomes and, for the fast run, whether each block took the fast path.
    """
    original = trade_blocks.feed_block_typed
    taken: list[bool] = []

    def spy(reader: trades.Reader, block: bytes, lineno: int) -> bool:
        took = original(reader, block, lineno)
        taken.append(took)
        return took

    with patch.object(trades, "feed_block_typed", spy):
        fast = _outcome(path)
    with patch.object(trades, "feed_block_typed", lambda *_: False):
        slow = _outcome(path)
    return fast, slow, taken


# Lines are ~480 bytes: 4000 of them span two 1 MiB blocks, and line 3000 is in
# the second, where the models are known and the fast path takes clean blocks.
_BIG_LINES = 4000
_BAD_LINE = 3000


def _read_corrupted_both_ways(
    tmp_path: Path, case: str, index: int
) -> tuple[tuple[str, object], tuple[str, object], list[bool]]:
    """Write a clean two-block file, corrupt line ``index + 1`` by ``case``, read it both ways."""
    path = write_example_trades(tmp_path / NAME, n_trades=_BIG_LINES, end="2026-03-01T00:00:00Z")
    lines = path.read_text(encoding="utf-8").split("\n")
    changed = _CORRUPTIONS[case](lines[index])
    assert changed != lines[index]
    lines[index] = changed
    path.write_text("\n".join(lines), encoding="utf-8")
    return _read_both_ways(path)


def _with_vote(line: str, vote: str) -> str:
    return line.replace('"model_breakdown": {', '"model_breakdown": {' + vote + ", ", 1)


# Each case rewrites line _BAD_LINE (a dialect C record, as json.dumps writes it).
_CORRUPTIONS: dict[str, Callable[[str], str]] = {
    "duplicate key": lambda line: line[:-1] + ', "side": "SELL"}',
    "duplicate key, space before colon": lambda line: line[:-1] + ', "side" : "SELL"}',
    "duplicate key, escaped": lambda line: line[:-1] + ', "\\u0073ide": "SELL"}',
    "duplicate key, tab before colon": lambda line: line[:-1] + ', "side"\t: "SELL"}',
    "duplicate unread key": lambda line: line[:-1] + ', "trade_id": "a", "trade_id": "b"}',
    "duplicate absent key": lambda line: (
        line[:-1] + ', "calibrated_confidence": 0.5, "calibrated_confidence": 0.6}'
    ),
    "duplicate model": lambda line: _with_vote(
        line, '"xgb": {"action": "SELL", "confidence": 0.5}'
    ),
    "duplicate key in a vote": lambda line: _with_vote(
        line, '"tft": {"action": "SELL", "action": "BUY", "confidence": 0.5}'
    ),
    "NaN price": lambda line: re.sub(r'"entry_price": [^,]+', '"entry_price": NaN', line),
    "Infinity in an unread field": lambda line: line[:-1] + ', "position_size": Infinity}',
    "huge integer PnL": lambda line: re.sub(
        r'"actual_pnl_pct": [^,]+', '"actual_pnl_pct": 1' + "0" * 400, line
    ),
    "5000-digit integer": lambda line: line[:-1] + ', "trade_id": ' + "7" * 5000 + "}",
    "bool price": lambda line: re.sub(r'"exit_price": [^,]+', '"exit_price": true', line),
    "lone surrogate": lambda line: line.replace('"symbol": "', '"symbol": "\\ud800', 1),
    "time out of range": lambda line: re.sub(
        r'"timestamp": "[^"]+"', '"timestamp": "9999-12-31T23:59:59-23:59"', line
    ),
    "date without time": lambda line: re.sub(
        r'"timestamp": "[^"]+"', '"timestamp": "2026-02-09"', line
    ),
    "bad vote action": lambda line: _with_vote(
        line, '"tft": {"action": "MAYBE", "confidence": 0.5}'
    ),
    "empty model name": lambda line: _with_vote(line, '"": {"action": "BUY", "confidence": 0.5}'),
    "confidence above 1": lambda line: re.sub(
        r'"confidence": 0\.\d+, "entry', '"confidence": 1.5, "entry', line
    ),
    "PnL beyond a million percent": lambda line: re.sub(
        r'"actual_pnl_pct": [^,]+', '"actual_pnl_pct": 2e6', line
    ),
    "two PnL names that differ": lambda line: line[:-1] + ', "pnl_percent": 12.5}',
    "consensus as a float": lambda line: re.sub(
        r'"consensus_count": \d+', '"consensus_count": 3.0', line
    ),
    "blank line": lambda _: "",
    "byte-order mark": lambda line: "\ufeff" + line,
    "not an object": lambda _: "[]",
    "two objects on one line": lambda line: line + "," + line,
    "line over 1 MiB": lambda line: line[:-1] + ', "note": "' + "x" * (1 << 20) + '"}',
    # Valid lines, some of which the fast path does not take (an unknown nested
    # field); the integer price it does take, as msgspec reads an integer into a
    # float field. Either way the batches must be equal.
    "integer price": lambda line: re.sub(r'"entry_price": [^,]+', '"entry_price": 97000', line),
    "unknown nested field": lambda line: line[:-1] + ', "note": {"a": [1, {"b": null}]}}',
    "zero PnL": lambda line: re.sub(r'"actual_pnl_pct": [^,]+', '"actual_pnl_pct": 0.0', line),
    "new model with an unusable name": lambda line: _with_vote(
        line, '"bad name!": {"action": "BUY", "confidence": 0.5}'
    ),
    "present but empty breakdown": lambda line: re.sub(
        r'"model_breakdown": \{.*\}\}$', '"model_breakdown": {}}', line
    ),
    "both PnL names, equal": lambda line: (
        line[:-1]
        + ', "pnl_percent": '
        + re.search(r'"actual_pnl_pct": ([^,]+)', line)[1]  # type: ignore[index]
        + "}"
    ),
    "string value that starts with a colon": lambda line: line[:-1] + ', "exit_reason": ":x"}',
    "colons in a model name": lambda line: _with_vote(
        line, '"a:b:": {"action": "BUY", "confidence": 0.5}'
    ),
    "non-ASCII symbol, escaped": lambda line: line.replace('"symbol": "', '"symbol": "\\u00e9', 1),
    # The block's other lines have another shape: the any-shape decoder, and
    # the quote count that finds a repeated key, must hold there too.
    "unread field of another type": lambda line: re.sub(
        r'"trade_id": "[^"]+"', '"trade_id": 7', line
    ),
    "a field left out": lambda line: re.sub(r', "consensus_count": \d+', "", line),
    "both vote fields": lambda line: (
        line[:-1] + ', "model_predictions": {"xgb": {"action": "BUY", "confidence": 0.5}}}'
    ),
    "duplicate nullable string": lambda line: (
        line[:-1] + ', "calibration_version": null, "calibration_version": "v2"}'
    ),
    "duplicate key, another shape": lambda line: re.sub(
        r'"trade_id": "[^"]+"', '"trade_id": 7', line[:-1] + ', "symbol": "ETHUSDT"}'
    ),
    "duplicate key that drops a string": lambda line: re.sub(
        r'"model_id": "[^"]+"', '"model_id": "a", "model_id": 1', line
    ),
    # The block's JSON array joins lines with commas: a record cut over two
    # lines is one record there, and two records on one line make up the count.
    "a record over two lines, two records on the next": lambda line: (
        line.replace(', "', '\n"', 1) + "\n" + line + ", " + line
    ),
    "two records on a line, then a record over two lines": lambda line: (
        line + "," + line + "\n" + line.replace('}, "', '}\n"', 1)
    ),
    # A newline inside a string: the line after it starts with "{", and the
    # comma that stood for the newline would be a character of the string.
    "a string over two lines, two records on the next": lambda line: (
        line.replace('"symbol": "', '"symbol": "A}\n{', 1) + "\n" + line + ", " + line
    ),
}


class TestTypedFastPath:
    """The msgspec fast path gives exactly the per-line path's batch or messages."""

    def test_msgspec_silently_keeps_the_last_repeated_key(self) -> None:
        """A repeated key decodes in msgspec (the last wins), so the reader must catch it itself."""
        assert msgspec.json.decode(b'{"a": 1, "a": 2}') == {"a": 2}
        line = json.dumps(record())[:-1] + ', "side": "SELL"}'
        decoded = trade_blocks.FAST_DECODER.decode(line.encode())
        assert decoded.side == "SELL"
        assert trade_blocks.feed_block_typed(trades.Reader(NAME), line.encode() + b"\n", 0) is False

    def test_a_clean_block_is_taken_whole(self) -> None:
        """A block of clean records is taken by the fast path, with the same columns."""
        text = "".join(json.dumps(record(symbol=s)) + "\n" for s in ("A", "B", "A"))
        fast, slow = trades.Reader(NAME), trades.Reader(NAME)
        assert trade_blocks.feed_block_typed(fast, text.encode(), 0) is True
        slow.feed(text.splitlines(), 0)
        assert fast.batch(
            source=NAME, data_hash="", partial=False, neutral_band_pct=0.5
        ) == slow.batch(source=NAME, data_hash="", partial=False, neutral_band_pct=0.5)

    @pytest.mark.parametrize("dialect", ["A", "B", "C", "mixed"])
    def test_clean_files_read_the_same_both_ways(self, tmp_path: Path, dialect: str) -> None:
        """Every dialect's clean file gives equal batches, and the fast path took every block."""
        path = write_example_trades(
            tmp_path / NAME, n_trades=_BIG_LINES, dialect=dialect, end="2026-03-01T00:00:00Z"
        )
        fast, slow, taken = _read_both_ways(path)
        assert fast == slow
        assert fast[0] == "batch"
        assert taken
        assert all(taken)

    @pytest.mark.parametrize("case", list(_CORRUPTIONS))
    def test_corrupted_files_give_the_same_messages_both_ways(
        self, tmp_path: Path, case: str
    ) -> None:
        """A corrupted line gives the per-line path's exact messages (or batch) either way."""
        fast, slow, taken = _read_corrupted_both_ways(tmp_path, case, _BAD_LINE - 1)
        assert fast == slow
        # The clean first block went the fast way.
        assert taken[0] is True

    def test_partial_last_line_and_crlf_read_the_same_both_ways(self, tmp_path: Path) -> None:
        """CRLF endings and a half-written last line: same batch, hash and warning."""
        path = write_example_trades(
            tmp_path / NAME, n_trades=_BIG_LINES, end="2026-03-01T00:00:00Z"
        )
        text = path.read_text(encoding="utf-8").replace("\n", "\r\n")
        path.write_bytes(text.encode() + b'{"timestamp": "2026-')
        fast, slow, taken = _read_both_ways(path)
        assert fast == slow
        assert all(taken)
        assert fast[0] == "batch"
        batch = fast[1]
        assert isinstance(batch, TradeBatch)
        assert batch.partial_last_line_ignored
        expected = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        assert batch.data_hash == expected

    @given(
        st.lists(_mixed_records(), min_size=1, max_size=6),
        st.booleans(),
        st.sampled_from([(", ", ": "), (",", ":"), (" , ", " : ")]),
    )
    @example([record()], False, (",", ":"))  # noqa: FBT003 - hypothesis example arguments
    @example([record(), {**record(), "note": 1}], False, (", ", ": "))  # noqa: FBT003
    def test_fast_and_slow_paths_agree(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        records: list[dict[str, Any]],
        ascii_: bool,
        separators: tuple[str, str],
    ) -> None:
        """On any mix of good and bad records, in any JSON spelling, both paths agree exactly."""
        text = "".join(
            json.dumps(r, ensure_ascii=ascii_, separators=separators) + "\n" for r in records
        )
        path = tmp_path_factory.mktemp("agree") / NAME
        path.write_text(text, encoding="utf-8")
        fast, slow, _ = _read_both_ways(path)
        assert fast == slow


def _vote(action: str, confidence: float) -> dict[str, Any]:
    return {"action": action, "confidence": confidence}


# Member votes of every line of a file, cycled: the typed path decodes them as a
# Struct of the first line's models when every line names the same models.
_VOTE_SETS: dict[str, list[dict[str, Any]]] = {
    "one model": [{"xgb": _vote("BUY", 0.6)}, {"xgb": _vote("HOLD", 0.3)}],
    "models in another order on other lines": [
        {"xgb": _vote("BUY", 0.6), "lgbm": _vote("SELL", 0.7), "tft": _vote("HOLD", 0.1)},
        {"tft": _vote("SELL", 0.2), "xgb": _vote("HOLD", 0.4), "lgbm": _vote("BUY", 0.9)},
    ],
    "unusable model names on every line": [
        {"bad name!": _vote("BUY", 0.6), "xgb": _vote("SELL", 0.5), "a:b:": _vote("HOLD", 0.5)}
    ],
    "models named like the Struct's slots": [
        {"m1": _vote("BUY", 0.6), "m0": _vote("SELL", 0.5)},
        {"m0": _vote("HOLD", 0.25), "m1": _vote("SELL", 0.75)},
    ],
    "one line with a model fewer": [
        *[{"xgb": _vote("BUY", 0.6), "lgbm": _vote("SELL", 0.5)}] * 2999,
        {"xgb": _vote("BUY", 0.6)},
    ],
    "one line with a model more": [
        *[{"xgb": _vote("BUY", 0.6), "lgbm": _vote("SELL", 0.5)}] * 2999,
        {"xgb": _vote("BUY", 0.6), "lgbm": _vote("SELL", 0.5), "new": _vote("HOLD", 0.5)},
    ],
    "one line with another model": [
        *[{"xgb": _vote("BUY", 0.6), "lgbm": _vote("SELL", 0.5)}] * 2999,
        {"xgb": _vote("BUY", 0.6), "new": _vote("HOLD", 0.5)},
    ],
    "an empty breakdown first": [{}, {"xgb": _vote("BUY", 0.6)}],
    "an empty model name on every line": [{"": _vote("BUY", 0.6), "xgb": _vote("SELL", 0.5)}],
}


class TestStructVotes:
    """The votes read as a Struct of known models give exactly the per-line path's batch."""

    @pytest.mark.parametrize("case", list(_VOTE_SETS))
    @pytest.mark.parametrize("field", ["model_breakdown", "model_predictions"])
    def test_vote_sets_read_the_same_both_ways(self, tmp_path: Path, case: str, field: str) -> None:
        """Every line's votes land in the same matrix, with the same warnings, either way."""
        votes = _VOTE_SETS[case]
        lines = []
        for i in range(_BIG_LINES):
            rec = json.loads(trade_line(i, pnl=0.0 if i % 997 == 0 else 1.0 + i % 7))
            del rec["model_breakdown"]
            rec[field] = votes[i % len(votes)]
            lines.append(json.dumps(rec))
        fast, slow, taken = _read_both_ways(write(tmp_path, lines))
        assert fast == slow
        if "empty model name" in case:
            assert fast[0] == "problems"
        else:
            assert fast[0] == "batch"
            assert all(taken)

    def test_a_struct_shape_knows_its_models(self) -> None:
        """The first line's models, in its order, make the shape's vote Struct."""
        votes = {"b": _vote("BUY", 0.5), "a": _vote("SELL", 0.5)}
        shape = trade_blocks._shape_of(line(model_breakdown=votes).encode())
        assert shape is not None
        assert shape.vote_field == "model_breakdown"
        assert shape.models == ("b", "a")
        both = json.dumps({**record(), "model_predictions": votes}).encode()
        shape = trade_blocks._shape_of(both)
        assert shape is not None
        assert shape.vote_field is None


# Close times at every edge the block path's numpy conversion decides on: each
# replaces line _BAD_LINE's, and the file reads the same both ways.
_EDGE_STAMPS = [
    "2024-02-29T12:00:00Z",
    "2023-02-29T12:00:00Z",
    "1900-02-29T12:00:00+00:00",
    "2000-02-29T12:00:00.500000",
    "2026-04-31T00:00:00Z",
    "2026-12-31T24:00:00Z",
    "2026-12-31T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T23:59:59.999999Z",
    "0001-01-02T00:00:00Z",
    "9999-12-30T00:00:00+00:00",
    "9999-12-30T00:00:00.000001Z",
    "9999-12-31T23:59:59",
    "2255-06-05T23:47:34.740992Z",
    "2255-06-05T23:47:34.740993Z",
    "2026-02-09T21:40:12.123",
    "2026-02-09 21:40:12Z",
    "2026-02-09T21:40:12-00:00",
    "2026-02-09T21:40:12+05:30",
    "2026-02-09",
    "2026-02-09T21:40:12+00:00 ",
    "2026-02-09T21:40:12é",
]


class TestCloseTimesAtTheEdges:
    """Close times converted with numpy or by fromisoformat read exactly as the per-line path."""

    @pytest.mark.parametrize("stamp", _EDGE_STAMPS)
    def test_edge_stamps_read_the_same_both_ways(self, tmp_path: Path, stamp: str) -> None:
        """The batch, or the exact messages, are the per-line path's."""
        path = write_example_trades(
            tmp_path / NAME, n_trades=_BIG_LINES, end="2026-03-01T00:00:00Z"
        )
        lines = path.read_text(encoding="utf-8").split("\n")
        changed = re.sub(r'"timestamp": "[^"]+"', f'"timestamp": "{stamp}"', lines[_BAD_LINE - 1])
        assert changed != lines[_BAD_LINE - 1]
        lines[_BAD_LINE - 1] = changed
        path.write_text("\n".join(lines), encoding="utf-8")
        fast, slow, taken = _read_both_ways(path)
        assert fast == slow
        assert taken[0] is True

    def test_every_spelling_in_one_block(self, tmp_path: Path) -> None:
        """A block mixing all six spellings (and one other) is taken whole, with equal columns."""
        spellings = [
            "2026-02-09T21:40:12",
            "2026-02-09T21:40:12Z",
            "2026-02-09T21:40:12+00:00",
            "2026-02-09T21:40:12.334338",
            "2026-02-09T21:40:12.334338Z",
            "2026-02-09T21:40:12.334338+00:00",
            "2026-02-09T21:40:12.5+01:00",
        ]
        lines = [
            trade_line(i, pnl=1.0, timestamp=spellings[i % len(spellings)]) for i in range(700)
        ]
        fast, slow, taken = _read_both_ways(write(tmp_path, lines))
        assert fast == slow
        assert taken == [True]
        batch = fast[1]
        assert isinstance(batch, TradeBatch)
        assert batch.zoneless_count == 200


class TestBlocksOfBothPaths:
    """Blocks read by the typed path and by the per-line path keep the file's order."""

    @pytest.mark.parametrize("valid_but_slow", [(1,), (3000,), (1, 3000), (6500,), (1, 6500)])
    def test_rows_stay_in_file_order(self, tmp_path: Path, valid_but_slow: tuple[int, ...]) -> None:
        """A block the typed path refuses (a valid unknown field) sits between typed blocks."""
        path = write_example_trades(tmp_path / NAME, n_trades=7000, end="2026-03-01T00:00:00Z")
        lines = path.read_text(encoding="utf-8").split("\n")
        for number in valid_but_slow:
            lines[number - 1] = lines[number - 1][:-1] + ', "note": 1}'
        path.write_text("\n".join(lines), encoding="utf-8")
        fast, slow, taken = _read_both_ways(path)
        assert fast == slow
        assert fast[0] == "batch"
        assert len(taken) >= 3  # at least three blocks
        assert taken.count(False) == len(valid_but_slow)
        batch = fast[1]
        assert isinstance(batch, TradeBatch)
        assert batch.line_numbers.tolist() == list(range(1, 7001))


class TestMixedShapesInOneBlock:
    """A block of several record shapes (the any-shape Struct) reads as the per-line path does."""

    @pytest.mark.parametrize(
        "odd_one",
        [
            None,
            {"actual_pnl_pct": 0.5, "pnl_percent": 0.5},  # both names, equal: the per-line path
            {"actual_pnl_pct": 0.5, "pnl_percent": 0.25},  # both names, different: a problem
            {"actual_pnl_pct": DROP},  # neither name: a problem
        ],
    )
    def test_pnl_under_either_name(self, tmp_path: Path, odd_one: dict[str, Any] | None) -> None:
        """Each line's PnL name, zero-PnL warnings, absent optional numbers: equal both ways."""
        lines = []
        for i in range(600):
            changes: dict[str, Any] = {}
            if i % 3 == 1:
                changes = {"actual_pnl_pct": DROP, "pnl_percent": 0.0 if i % 9 == 1 else 1.5}
            elif i % 3 == 2:
                changes = {"consensus_count": DROP, "calibrated_confidence": 0.25}
            elif i % 7 == 0:
                changes = {"actual_pnl_pct": 0.0}
            if odd_one is not None and i == 400:
                changes = odd_one
            lines.append(json.dumps(record(**changes)))
        fast, slow, taken = _read_both_ways(write(tmp_path, lines))
        assert fast == slow
        assert taken == [odd_one is None]
        if odd_one is None:
            batch = fast[1]
            assert isinstance(batch, TradeBatch)
            assert any("pnl_percent is exactly 0.0" in w for w in batch.warnings)
            assert any("actual_pnl_pct is exactly 0.0" in w for w in batch.warnings)


class TestTheFirstLineMakesTheShape:
    """A block's first line makes its Struct; a fault on that very line reads as per line."""

    @pytest.mark.parametrize("case", list(_CORRUPTIONS))
    def test_corrupted_first_line_gives_the_same_messages_both_ways(
        self, tmp_path: Path, case: str
    ) -> None:
        """Every corruption, on line 1 (the second block keeps the fast path busy)."""
        fast, slow, _ = _read_corrupted_both_ways(tmp_path, case, 0)
        assert fast == slow


# Records whose strings hold the JSON punctuation a cut or a join can meet.
_PUNCTUATED = [
    record(),
    record(symbol="A}{B"),
    record(symbol="A,B", model_breakdown={"x{y": _vote("BUY", 0.5)}),
    record(model_breakdown={"a": _vote("SELL", 0.25)}, exit_reason="}, {"),
]


@st.composite
def _cut_and_joined(draw: st.DrawFn) -> str:
    """Draw a block of valid lines, some cut in two (at a comma, or before a brace), some joined.

    The first line is left whole: the typed path takes the block's shape from it.
    """
    lines = [
        json.dumps(r) for r in draw(st.lists(st.sampled_from(_PUNCTUATED), min_size=3, max_size=6))
    ]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(1, len(lines) - 1))
        text = lines[i]
        op = draw(st.sampled_from(["comma", "brace", "join"]))
        if op == "join" and i + 1 < len(lines):
            joint = draw(st.sampled_from([",", ", ", "", " "]))
            lines[i : i + 2] = [text + joint + lines[i + 1]]
        elif op != "join":
            # A newline in place of a comma, or just before an opening brace.
            marks = [m.start() for m in re.finditer("," if op == "comma" else r"\{", text)]
            at = draw(st.sampled_from([m for m in marks if m > 0] or [1]))
            lines[i : i + 1] = [text[:at], text[at + (op == "comma") :]]
    return "\n".join(lines) + "\n"


class TestLinesCutAndJoined:
    """The typed path decodes a block as one JSON array: line breaks must stay line breaks."""

    @given(_cut_and_joined())
    @example(  # a record over two lines and two records on the next balance the count
        "\n".join([line(), line().replace(', "', '\n"', 1), line() + ", " + line(), ""])
    )
    @example(  # a string over two lines: the comma that stood for the newline was in it
        "\n".join([line(), line(symbol="A}{B").replace("}{", "}\n{"), line() + "," + line(), ""])
    )
    def test_cut_and_joined_lines_read_the_same_both_ways(
        self, tmp_path_factory: pytest.TempPathFactory, text: str
    ) -> None:
        """Whatever the cuts and joins, both paths give the same batch or the same messages."""
        path = tmp_path_factory.mktemp("cut") / NAME
        path.write_text(text, encoding="utf-8")
        fast, slow, _ = _read_both_ways(path)
        assert fast == slow


def _same_bits(fast: tuple[str, object], slow: tuple[str, object]) -> None:
    """Assert the outcomes are equal, and a batch's float columns to the bit (0.0 is not -0.0)."""
    assert fast == slow
    if fast[0] == "batch":
        for field in attrs.fields(TradeBatch):
            column = getattr(fast[1], field.name)
            if isinstance(column, np.ndarray):
                assert column.tobytes() == getattr(slow[1], field.name).tobytes(), field.name


# Number literals at the edges of each numeric field's rule and of a float.
_LITERALS = [
    "-0",
    "-0.0",
    "0e0",
    "1",
    "1E0",
    "1e-320",
    "1.00000000000000000001",
    "9007199254740991",
    "9007199254740993",
    "1e6",
    "1000000.0000000001",
    "true",
    "null",
    '"0.5"',
]


class TestSmallBlocksBitForBit:
    """One small block read both ways: the same batch to the bit, or the same messages."""

    @pytest.mark.parametrize("literal", _LITERALS)
    @pytest.mark.parametrize(
        "field",
        [
            "confidence",
            "entry_price",
            "actual_pnl_pct",
            "calibrated_confidence",
            "consensus_count",
            "model_breakdown.xgb.confidence",
        ],
    )
    @pytest.mark.parametrize("first", [True, False], ids=["first line", "second line"])
    def test_number_literals(self, tmp_path: Path, field: str, literal: str, first: bool) -> None:
        """An integer, a signed zero, a subnormal, 2**53 + 1 or a non-number, in every field."""
        key = field.rsplit(".", 1)[-1]
        rec = record(model_breakdown={"xgb": _vote("BUY", 0.6)})
        target = rec["model_breakdown"]["xgb"] if "." in field else rec
        target[key] = "@"
        odd = json.dumps(rec).replace('"@"', literal)
        lines = [odd, line(), line()] if first else [line(), odd, line()]
        _same_bits(*_read_both_ways(write(tmp_path, lines))[:2])

    @pytest.mark.parametrize(
        "name",
        ["m0", "class", "action", "confidence", "timestamp", "model_breakdown", "é", "x" * 300],
    )
    def test_model_names(self, tmp_path: Path, name: str) -> None:
        """A keyword, another field's name or a long name: in every line, then new on one."""
        votes = {"xgb": _vote("SELL", 0.5), name: _vote("HOLD", 0.25)}
        lines = [
            json.dumps(record(model_breakdown=breakdown, actual_pnl_pct=pnl), ensure_ascii=False)
            for breakdown, pnl in [
                *((votes, float(i % 2)) for i in range(3)),
                ({name: _vote("BUY", 1.0)}, 1.0),
                ({**votes, name + "2": _vote("BUY", 0.0)}, 1.0),
            ]
        ]
        fast, slow, taken = _read_both_ways(write(tmp_path, lines))
        _same_bits(fast, slow)
        assert taken == [True]
        fast, slow, taken = _read_both_ways(write(tmp_path, lines[:3]))
        _same_bits(fast, slow)
        assert taken == [True]


# Lines of every kind the two paths must agree on: clean ones of several shapes
# (the typed path), valid ones only the per-line path takes, and bad ones.
_INGREDIENTS = [
    line(),
    line(
        actual_pnl_pct=0.0, model_breakdown={"m0": _vote("SELL", 1), "bad name!": _vote("HOLD", 0)}
    ),
    line(symbol="BTCUSDT", side="SHORT", timestamp="2026-02-09T21:40:12.5", consensus_count=0),
    json.dumps(
        {
            **record(side=DROP, actual_pnl_pct=DROP, model_breakdown=DROP),
            "action": "LONG",
            "pnl_percent": -0.0,
            "model_predictions": {"lgbm": _vote("BUY", 0.5)},
            "calibration_version": "v2",
            "outcome_label": "WIN",
        }
    ),
    line(model_breakdown={}, calibrated_confidence=1, trade_id=None),
    line(note=[1]),  # valid, but only the per-line path takes an unknown nested field
    line()[:-1] + ', "side": "SELL"}',
    line(timestamp="2026-02-30T00:00:00Z"),
    "",
]


class TestBlocksOfEveryKind:
    """Files of mixed lines, cut into small blocks: both paths, and their buffers, agree."""

    @given(
        st.lists(st.sampled_from(_INGREDIENTS), min_size=1, max_size=40),
        st.sampled_from([300, 1000, 4000]),
        st.sampled_from(["\n", "\r\n"]),
    )
    def test_mixed_blocks_read_the_same_both_ways(
        self, tmp_path_factory: pytest.TempPathFactory, lines: list[str], block: int, end: str
    ) -> None:
        """Rows, votes and warnings keep the file order across typed and per-line blocks."""
        path = tmp_path_factory.mktemp("blocks") / NAME
        path.write_text("".join(text + end for text in lines), encoding="utf-8")
        with patch.object(trades, "_BLOCK_BYTES", block):
            fast, slow, _ = _read_both_ways(path)
        _same_bits(fast, slow)
