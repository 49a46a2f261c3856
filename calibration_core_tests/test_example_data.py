"""Tests of the example-trades generator (sources.example_data) and its CLI wrapper."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from calibration_core.sources.example_data import write_example_trades
from calibration_core.sources.integrity import find_duplicates, summarize_integrity
from calibration_core.sources.trades import read_trades

REPO = Path(__file__).resolve().parents[1]
END = datetime(2026, 3, 1, tzinfo=UTC)


class TestWriteExampleTrades:
    def test_default_end_is_now_so_the_data_is_fresh(self, tmp_path: Path) -> None:
        """end=None: every close is in the past and the newest is under an hour old."""
        path = write_example_trades(tmp_path / "t.jsonl")
        batch = read_trades(path)
        now = datetime.now(UTC).timestamp()
        assert batch.n_trades == 600
        assert batch.timestamps.max() <= now
        assert now - batch.timestamps.max() < 3600
        summary = summarize_integrity(batch, now=now)
        assert summary.ok
        assert summary.starvation is None
        assert summary.findings == ()

    def test_same_arguments_same_bytes(self, tmp_path: Path) -> None:
        """A fixed end and seed give the same bytes, in every dialect."""
        for dialect in ("A", "B", "C", "mixed"):
            a = write_example_trades(tmp_path / "a", end=END, dialect=dialect, duplicates=3)
            b = write_example_trades(tmp_path / "b", end=END, dialect=dialect, duplicates=3)
            assert a.read_bytes() == b.read_bytes()

    def test_dialect_a_has_the_recorders_fields_in_order(self, tmp_path: Path) -> None:
        """Dialect A lines carry exactly the production recorder's keys, in its order."""
        path = write_example_trades(tmp_path / "a.jsonl", n_trades=5, end=END, dialect="A")
        keys = list(json.loads(path.read_text().splitlines()[0]))
        assert keys == [
            "timestamp",
            "symbol",
            "side",
            "entry_price",
            "exit_price",
            "pnl_percent",
            "confidence",
            "model_id",
            "outcome_label",
            "duration_seconds",
            "strategy_id",
            "position_size",
            "exit_reason",
        ]

    def test_dialect_b_has_zoneless_stamps_and_action(self, tmp_path: Path) -> None:
        """Dialect B writes action, model_predictions and a timestamp without a zone."""
        path = write_example_trades(tmp_path / "b.jsonl", n_trades=5, end=END, dialect="B")
        first = json.loads(path.read_text().splitlines()[0])
        assert "side" not in first
        assert first["action"] in ("BUY", "SELL")
        assert datetime.fromisoformat(first["timestamp"]).tzinfo is None
        assert set(first["model_predictions"]) == {"xgb", "lgbm", "nhits", "patchtst"}

    @pytest.mark.parametrize("dialect", ["A", "B", "C"])
    def test_duplicates_are_found_as_written(self, tmp_path: Path, dialect: str) -> None:
        """N duplicates written are n repeats found, each right after its original."""
        path = write_example_trades(tmp_path / "d.jsonl", end=END, dialect=dialect, duplicates=25)
        repeats, pairs = find_duplicates(read_trades(path))
        assert int(repeats.sum()) == 25
        assert np.all(pairs[:, 0] == pairs[:, 1] + 1)

    def test_pathologies(self, tmp_path: Path) -> None:
        """Constant confidence, contradicting sides and future closes are written as asked."""
        path = write_example_trades(
            tmp_path / "p.jsonl",
            end=END,
            constant_confidence=0.7,
            contradicting_sides=30,
            future_closes=2,
        )
        batch = read_trades(path)
        assert batch.n_trades == 602
        assert set(batch.confidence.tolist()) == {0.7}
        summary = summarize_integrity(batch, now=END.timestamp())
        kinds = {f.kind: f.count for f in summary.findings}
        assert kinds["side_contradicts_pnl"] == 30
        assert kinds["future_close"] == 2
        assert kinds["no_confidence_spread"] == 602

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"dialect": "D"}, "dialect must be one of A, B, C, mixed"),
            ({"n_trades": -1}, "n_trades must be >= 0"),
            ({"duplicates": 601}, "duplicates must be between 0 and n_trades=600"),
            ({"constant_confidence": 1.5}, r"constant_confidence must be in \[0, 1\]"),
            ({"end": "2026-03-01T00:00:00"}, "end must carry a zone"),
            ({"days": 0.0}, "days must be > 0"),
        ],
    )
    def test_bad_options_are_refused(
        self, tmp_path: Path, options: dict[str, object], message: str
    ) -> None:
        """Each bad option is a ValueError naming it."""
        with pytest.raises(ValueError, match=message):
            write_example_trades(tmp_path / "x.jsonl", **options)  # type: ignore[arg-type]


class TestScript:
    def test_script_is_a_thin_wrapper(self, tmp_path: Path) -> None:
        """scripts/generate_example_trades.py writes what write_example_trades writes."""
        out = tmp_path / "s.jsonl"
        end = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
        done = subprocess.run(
            [
                sys.executable,
                str(REPO / "scripts" / "generate_example_trades.py"),
                "--out",
                str(out),
                "--n",
                "50",
                "--dialect",
                "mixed",
                "--duplicates",
                "2",
                "--end",
                end.isoformat(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        expected = write_example_trades(
            tmp_path / "e.jsonl", n_trades=50, dialect="mixed", duplicates=2, end=end
        )
        assert out.read_bytes() == expected.read_bytes()

    def test_script_bad_option_is_one_line(self, tmp_path: Path) -> None:
        """A bad value is one error line and exit 2, no traceback."""
        done = subprocess.run(
            [
                sys.executable,
                str(REPO / "scripts" / "generate_example_trades.py"),
                "--out",
                str(tmp_path / "x"),
                "--duplicates",
                "9999",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            "error: duplicates must be between 0 and n_trades=600 (got 9999)"
        ]
