"""Reading the optional signals log used by the monitor's HOLD-rate check."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest

from calibration_core.exceptions import DataIntegrityError
from calibration_core.sources.signals import read_signals

if TYPE_CHECKING:
    from pathlib import Path

GOOD = {
    "timestamp": "2026-02-10T10:00:00Z",
    "symbol": "BTCUSDT",
    "action": "HOLD",
    "confidence": 0.61,
    "calibrated_confidence": 0.58,
    "calibration_version": "cal_20260210_090000",
}


def _line(**changes: object) -> str:
    record = {**GOOD, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...})


class TestReadSignals:
    def test_reads_columns(self, tmp_path: Path) -> None:
        """Valid lines become columns with action codes and version codes."""
        path = tmp_path / "signals.jsonl"
        path.write_text(
            _line() + "\n" + _line(action="BUY", calibration_version=None) + "\n", encoding="utf-8"
        )
        batch = read_signals(path)
        assert batch.n_signals == 2
        assert batch.actions.tolist() == [0, 1]
        assert batch.version_names == ("cal_20260210_090000",)
        assert batch.version_codes.tolist() == [0, -1]
        assert batch.hold_flags().tolist() == [True, False]

    def test_missing_calibrated_confidence_is_nan(self, tmp_path: Path) -> None:
        """A signal without calibrated_confidence gets NaN in that column."""
        path = tmp_path / "signals.jsonl"
        path.write_text(_line(calibrated_confidence=...) + "\n", encoding="utf-8")
        assert np.isnan(read_signals(path).calibrated_confidence[0])

    def test_partial_last_line_is_ignored(self, tmp_path: Path) -> None:
        """An unterminated, unparseable last line is still being written: ignored."""
        path = tmp_path / "signals.jsonl"
        path.write_text(_line() + "\n" + _line()[:20], encoding="utf-8")
        assert read_signals(path).n_signals == 1

    def test_missing_file_is_one_line_error(self, tmp_path: Path) -> None:
        """A missing log is a DataIntegrityError naming the path."""
        with pytest.raises(DataIntegrityError, match="signals log not found"):
            read_signals(tmp_path / "nope.jsonl")

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            ("{not json", "not valid JSON"),
            ("[1, 2]", "not a JSON object"),
            ("", "blank line"),
            (_line(timestamp="2026-02-10T10:00:00"), "without a zone"),
            (_line(action="WAIT"), "action must be BUY, SELL or HOLD"),
            (_line(confidence=1.5), "confidence missing"),
            (_line(confidence=True), "confidence missing"),
            (
                (
                    '{"timestamp": "2026-02-10T10:00:00Z", "symbol": "X", "action": "BUY", '
                    '"confidence": NaN}'
                ),
                "confidence missing",
            ),
            (_line(calibrated_confidence=-0.1), "calibrated_confidence"),
            (_line(calibration_version=3), "calibration_version"),
            (_line(symbol=""), "symbol"),
        ],
    )
    def test_bad_line_is_reported_with_its_number(
        self, tmp_path: Path, line: str, reason: str
    ) -> None:
        """Each kind of bad line stops the read and is reported as file:line: reason."""
        path = tmp_path / "signals.jsonl"
        path.write_text(_line() + "\n" + line + "\n" + _line() + "\n", encoding="utf-8")
        with pytest.raises(DataIntegrityError) as info:
            read_signals(path)
        assert info.value.problems[0].startswith("signals.jsonl:2: ")
        assert reason in info.value.problems[0]
