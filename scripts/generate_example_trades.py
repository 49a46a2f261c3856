"""Write example ``clm_trades.jsonl`` trades (any dialect, optional pathologies) from the CLI."""

# A thin command-line wrapper: the generator is calibration_core.sources.example_data.

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from calibration_core.sources.example_data import (
    DEFAULT_SEED,
    DEFAULT_SYMBOLS,
    DIALECTS,
    start_to_end,
    write_example_trades,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and write the file; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=600, help="number of trades (default 600)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument(
        "--out", type=Path, default=Path("data/clm_trades.jsonl"), help="output file"
    )
    parser.add_argument("--days", type=float, default=20.0, help="time span in days")
    parser.add_argument(
        "--symbols", default=",".join(DEFAULT_SYMBOLS), help="comma-separated instruments"
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--start", help="start of the close window, with a zone (default: --end)")
    when.add_argument(
        "--end", help="end of the close window, with a zone (default: now, so the data is fresh)"
    )
    parser.add_argument("--dialect", choices=DIALECTS, default="C", help="record dialect")
    parser.add_argument(
        "--calibration-version",
        default=None,
        help="also write calibration_version and calibrated_confidence (dialect C)",
    )
    parser.add_argument("--duplicates", type=int, default=0, help="trades written twice")
    parser.add_argument(
        "--constant-confidence", type=float, default=None, help="one confidence on every record"
    )
    parser.add_argument(
        "--contradicting-sides", type=int, default=0, help="trades whose side contradicts PnL"
    )
    parser.add_argument(
        "--future-closes", type=int, default=0, help="trades closed a day after --end"
    )
    args = parser.parse_args(argv)
    symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
    try:
        end: datetime | str | None = (
            start_to_end(args.start, args.days) if args.start is not None else args.end
        )
        write_example_trades(
            args.out,
            n_trades=args.n,
            seed=args.seed,
            end=end,
            dialect=args.dialect,
            days=args.days,
            symbols=symbols,
            calibration_version=args.calibration_version,
            duplicates=args.duplicates,
            constant_confidence=args.constant_confidence,
            contradicting_sides=args.contradicting_sides,
            future_closes=args.future_closes,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.n} trades to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
