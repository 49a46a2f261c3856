"""Time read_trades against a bare json.loads loop over the same file, and measure peak RSS.

Usage::

    python benchmarks/bench_ingest.py [--sizes 1e3,1e5,1e6] [--quick] [--repeats N]
                                      [--dialects C,A,B,mixed]

Files come from scripts/generate_example_trades.py, written to a temporary
directory. Each size is timed as the best of ``--repeats`` alternating runs of
the reference loop and of ``read_trades``; the ratio must be at most 0.35 (issue 13). Peak
RSS is measured in a separate process that only ingests the largest file, and
must stay within 300 MB at a million trades.

Then the same trades are written in the real system's dialects (A: the
production recorder, B: its test data with zone-less stamps, and a mixed file)
and each is timed against the bare json.loads loop over *its own* file, in the
same run, so the ratios compare: reading A or B must cost no more, relative to
parsing, than reading ours (C).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from calibration_core.sources.trades import read_trades

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "scripts" / "generate_example_trades.py"
MAX_RATIO = 0.35
MAX_RSS_MB = 300.0
RSS_BUDGET_TRADES = 1_000_000

# The child reports its own high-water mark, so the generator's memory (another
# child of this process) cannot leak into the number.
_RSS_CHILD = """
import sys
from calibration_core.sources.trades import read_trades

def vm_hwm_kib():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")

if sys.argv[1] == "ingest":
    batch = read_trades(sys.argv[2])
    assert batch.n_trades > 0
print(vm_hwm_kib())
"""


class IngestTiming(NamedTuple):
    """Best times of one file size."""

    n_trades: int
    file_mb: float
    reference_s: float
    read_trades_s: float

    @property
    def ratio(self) -> float:
        """read_trades time over the reference loop's time."""
        return self.read_trades_s / self.reference_s


def generate(path: Path, n_trades: int, dialect: str = "C") -> None:
    """Write ``n_trades`` example trades to ``path`` with the project's generator."""
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--n",
            str(n_trades),
            "--out",
            str(path),
            "--dialect",
            dialect,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def reference_loop(path: Path) -> int:
    """Parse every line with json.loads and nothing else: the speed reference."""
    count = 0
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            json.loads(line)
            count += 1
    return count


def time_ingest(path: Path, n_trades: int, repeats: int) -> IngestTiming:
    """Time the reference loop and read_trades on ``path``, alternating, best of ``repeats``."""
    reference = ours = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        reference_loop(path)
        reference = min(reference, time.perf_counter() - start)
        start = time.perf_counter()
        batch = read_trades(path)
        ours = min(ours, time.perf_counter() - start)
        if batch.n_trades != n_trades:
            msg = f"read {batch.n_trades} trades from a file of {n_trades}"
            raise RuntimeError(msg)
    return IngestTiming(n_trades, path.stat().st_size / 1e6, reference, ours)


def peak_rss_mb(path: Path | None) -> float:
    """Peak RSS in MB of a fresh process that ingests ``path`` (None: only imports)."""
    argv = [sys.executable, "-c", _RSS_CHILD, "ingest" if path else "import", str(path)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return int(done.stdout.strip()) / 1024.0


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; return 0 (misses are reported, not fatal)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1e3,1e5,1e6", help="comma-separated trade counts")
    parser.add_argument("--quick", action="store_true", help="small sizes only (1e3,1e4)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per size; the best counts")
    parser.add_argument(
        "--dialects", default="C,A,B,mixed", help="dialects to compare at the dialect size"
    )
    parser.add_argument(
        "--dialect-size", default="1e5", help="trades per file in the dialect comparison"
    )
    args = parser.parse_args(argv)
    sizes = [int(float(s)) for s in ("1e3,1e4" if args.quick else args.sizes).split(",")]

    print(f"ingestion: read_trades vs bare json.loads loop (target ratio <= {MAX_RATIO})")
    print(f"{'trades':>10} {'file MB':>9} {'json.loads s':>13} {'read_trades s':>14} ratio")
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        largest = None
        for n_trades in sizes:
            path = Path(tmp) / f"clm_trades_{n_trades}.jsonl"
            generate(path, n_trades)
            t = time_ingest(path, n_trades, args.repeats)
            print(
                f"{t.n_trades:>10} {t.file_mb:>9.1f} {t.reference_s:>13.3f} "
                f"{t.read_trades_s:>14.3f} {t.ratio:.2f}x {_verdict(t.ratio <= MAX_RATIO)}"
            )
            if largest is None or n_trades > largest[0]:
                largest = (n_trades, path)
            if n_trades != max(sizes):
                path.unlink()

        if largest is not None:
            n_trades, path = largest
            base = peak_rss_mb(None)
            peak = peak_rss_mb(path)
            budget = (
                _verdict(peak <= MAX_RSS_MB)
                if n_trades >= RSS_BUDGET_TRADES
                else f"(budget {MAX_RSS_MB:.0f} MB applies at {RSS_BUDGET_TRADES} trades)"
            )
            print(
                f"peak RSS ingesting {n_trades} trades in a fresh process: {peak:.0f} MB "
                f"(interpreter + imports alone: {base:.0f} MB) {budget}"
            )
        compare_dialects(
            Path(tmp),
            int(float("1e4" if args.quick else args.dialect_size)),
            [d.strip() for d in args.dialects.split(",") if d.strip()],
            args.repeats,
        )
    return 0


def compare_dialects(tmp: Path, n_trades: int, dialects: list[str], repeats: int) -> None:
    """Time read_trades on the same trades in each dialect, each against its own json.loads."""
    print()
    print(f"dialects: {n_trades} trades each, ratio against json.loads on the same file")
    print(f"{'dialect':>8} {'file MB':>9} {'json.loads s':>13} {'read_trades s':>14} ratio  vs C")
    reference_ratio = None
    for dialect in dialects:
        path = tmp / f"clm_trades_{dialect}.jsonl"
        generate(path, n_trades, dialect)
        t = time_ingest(path, n_trades, repeats)
        if dialect == "C":
            reference_ratio = t.ratio
        versus = f"{t.ratio / reference_ratio:.2f}" if reference_ratio else "-"
        print(
            f"{dialect:>8} {t.file_mb:>9.1f} {t.reference_s:>13.3f} {t.read_trades_s:>14.3f} "
            f"{t.ratio:.2f}x {versus:>5} {_verdict(t.ratio <= MAX_RATIO)}"
        )
        path.unlink()


if __name__ == "__main__":
    sys.exit(main())
