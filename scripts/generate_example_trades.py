"""Write a deterministic, realistic example ``clm_trades.jsonl`` for demos, tests and benchmarks."""

# The example is built so that calibration has something real to find:
#
# - The ensemble is over-confident. A trade opened with raw confidence ``c``
#   wins with probability ``0.36 + 0.62 * (c - 0.5)``, so 0.90 means about 0.61
#   and 0.55 about 0.39 (the audit found "0.50-0.70 wins only 38 %"). An
#   isotonic map fitted on the first trades lowers the Brier score of the
#   later ones by well over the 5 % that the checklist asks for.
# - Member models differ in skill. Each one votes with the ensemble's side
#   with one probability on winning trades and another on losing ones, so
#   lgbm's precision is about 0.62 and xgb's about 0.47; weights have a
#   reason to move.
# - About 12 % of trades are NEUTRAL (|actual_pnl_pct| < 0.05), none is
#   exactly 0.0, and every exit price agrees with the side and the PnL.
#
# Lines are formatted with f-strings from numpy chunks, so a million trades
# take seconds rather than minutes.

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TextIO

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

__all__ = ["DEFAULT_SYMBOLS", "main", "write_trades"]

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")
DEFAULT_START = "2026-01-21T00:00:00Z"

# Start price and price decimals of the known symbols; an unknown symbol gets
# a generic price. The decimals keep one price tick below 0.001 % so a NEUTRAL
# trade's rounded PnL never collapses to 0.0.
_SYMBOL_PRICES = {
    "BTCUSDT": (97_000.0, 2),
    "ETHUSDT": (2_700.0, 2),
    "SOLUSDT": (200.0, 3),
    "BNBUSDT": (650.0, 2),
    "XRPUSDT": (2.5, 5),
}
_GENERIC_PRICE = (10.0, 5)
_SYMBOL_SHARES = (0.30, 0.25, 0.20, 0.15, 0.10)


class _ModelSkill(NamedTuple):
    """How a member model votes: P(HOLD), P(with side | WIN), P(with side | LOSS)."""

    name: str
    hold: float
    with_side_on_win: float
    with_side_on_loss: float


_MODELS = (
    _ModelSkill("xgb", 0.10, 0.62, 0.68),
    _ModelSkill("lgbm", 0.10, 0.82, 0.50),
    _ModelSkill("nhits", 0.20, 0.70, 0.62),
    _ModelSkill("patchtst", 0.15, 0.72, 0.62),
)

_NEUTRAL_SHARE = 0.12
_CHUNK = 50_000


def _parse_start(text: str) -> datetime:
    start = datetime.fromisoformat(text)
    if start.tzinfo is None:
        msg = f"--start must carry a zone, e.g. 2026-01-21T00:00:00Z (got {text!r})"
        raise ValueError(msg)
    return start.astimezone(UTC)


def _symbol_shares(n_symbols: int) -> NDArray[np.float64]:
    shares = np.array(
        [_SYMBOL_SHARES[i] if i < len(_SYMBOL_SHARES) else 0.10 for i in range(n_symbols)]
    )
    normalised: NDArray[np.float64] = shares / shares.sum()
    return normalised


def _zone_text(rng: np.random.Generator, n: int) -> list[str]:
    # Both spellings the contract allows, as real producers mix them.
    return ["Z" if u < 0.7 else "+00:00" for u in rng.random(n).tolist()]


def _iso(seconds: NDArray[np.int64]) -> list[str]:
    stamps = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [str(s) for s in stamps]


def _write_chunk(
    out: TextIO,
    rng: np.random.Generator,
    *,
    first: int,
    size: int,
    n_total: int,
    start_s: int,
    span_s: float,
    symbols: Sequence[str],
    prices: NDArray[np.float64],
    calibration_version: str | None,
) -> None:
    """Generate trades ``first .. first + size - 1`` and append them to ``out``."""
    index = np.arange(first, first + size)
    # A jittered grid keeps close times increasing across chunks without a global sort.
    close_s = start_s + np.floor(span_s * (index + rng.random(size)) / n_total).astype(np.int64)
    open_s = close_s - rng.integers(5 * 60, 4 * 3600, size)

    sym = rng.choice(len(symbols), size=size, p=_symbol_shares(len(symbols)))
    side = np.where(rng.random(size) < 0.55, 1, -1)
    confidence = np.round(0.5 + 0.47 * rng.beta(2.0, 2.5, size), 4)
    win = rng.random(size) < 0.36 + 0.62 * (confidence - 0.5)

    magnitude = np.where(
        rng.random(size) < _NEUTRAL_SHARE,
        rng.uniform(0.01, 0.049, size),
        np.clip(np.exp(rng.normal(np.log(0.8), 0.6, size)), 0.06, 8.0),
    )
    pnl_target = np.where(win, magnitude, -magnitude)

    entry = np.empty(size)
    decimals = np.empty(size, dtype=np.int64)
    for s, name in enumerate(symbols):
        rows = np.flatnonzero(sym == s)
        walk = prices[s] * np.exp(np.cumsum(rng.normal(0.0, 0.004, rows.size)))
        if rows.size:
            prices[s] = walk[-1]
        entry[rows] = walk
        decimals[rows] = _SYMBOL_PRICES.get(name, _GENERIC_PRICE)[1]
    scale = 10.0**decimals
    entry = np.round(entry * scale) / scale
    exit_ = np.round(entry * (1.0 + side * pnl_target / 100.0) * scale) / scale
    pnl = np.round(side * (exit_ - entry) / entry * 100.0, 4)
    if np.any(np.sign(pnl) != np.sign(pnl_target)):  # pragma: no cover - a bug, not data
        msg = "price rounding flipped or zeroed a PnL; raise the symbol's decimals"
        raise AssertionError(msg)

    votes: list[tuple[list[str], list[float]]] = []
    consensus = np.zeros(size, dtype=np.int64)
    for model in _MODELS:
        hold = rng.random(size) < model.hold
        with_side = rng.random(size) < np.where(
            win, model.with_side_on_win, model.with_side_on_loss
        )
        direction = np.where(with_side, side, -side)
        action = np.where(hold, "HOLD", np.where(direction == 1, "BUY", "SELL"))
        conf = np.where(hold, 0.35 + 0.3 * rng.random(size), 0.5 + 0.45 * rng.beta(2.0, 3.0, size))
        consensus += ~hold & with_side
        votes.append((action.tolist(), np.round(conf, 4).tolist()))

    # What a live map of that version would have said: shrink toward 0.5.
    calibrated = np.round(0.5 + 0.6 * (confidence - 0.5), 4).tolist()

    close_z, open_z = _zone_text(rng, size), _zone_text(rng, size)
    close_iso, open_iso = _iso(close_s), _iso(open_s)
    sym_l, side_l, conf_l = sym.tolist(), side.tolist(), confidence.tolist()
    entry_l, exit_l, pnl_l, dec_l = entry.tolist(), exit_.tolist(), pnl.tolist(), decimals.tolist()
    cons_l = consensus.tolist()
    lines = []
    for i in range(size):
        d = dec_l[i]
        breakdown = ", ".join(
            f'"{m.name}": {{"action": "{votes[k][0][i]}", "confidence": {votes[k][1][i]}}}'
            for k, m in enumerate(_MODELS)
        )
        calibration = (
            f', "calibration_version": "{calibration_version}", '
            f'"calibrated_confidence": {calibrated[i]}'
            if calibration_version is not None
            else ""
        )
        lines.append(
            f'{{"timestamp": "{close_iso[i]}{close_z[i]}", "symbol": "{symbols[sym_l[i]]}", '
            f'"side": "{"BUY" if side_l[i] == 1 else "SELL"}", "confidence": {conf_l[i]}, '
            f'"entry_price": {entry_l[i]:.{d}f}, "exit_price": {exit_l[i]:.{d}f}, '
            f'"actual_pnl_pct": {pnl_l[i]}, "trade_id": "clm_{first + i + 1:07d}", '
            f'"entry_timestamp": "{open_iso[i]}{open_z[i]}", "model_id": "ensemble_None", '
            f'"consensus_count": {cons_l[i]}{calibration}, "model_breakdown": {{{breakdown}}}}}\n'
        )
    out.write("".join(lines))


def write_trades(
    path: Path,
    *,
    n: int = 600,
    seed: int = 20260209,
    days: float = 20.0,
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    start: str = DEFAULT_START,
    calibration_version: str | None = None,
) -> None:
    """Write ``n`` generated trades to ``path``, replacing it.

    Parameters
    ----------
    path : Path
        Output file; its parent directory must exist.
    n : int
        Number of trades (lines).
    seed : int
        Seed of the numpy Generator; the same arguments give the same bytes.
    days : float
        Time span covered by the close timestamps.
    symbols : sequence of str
        Instruments to trade.
    start : str
        ISO-8601 close time of the first trade, with a zone.
    calibration_version : str or None
        When given, every trade also carries ``calibration_version`` and a
        ``calibrated_confidence``.

    Raises
    ------
    ValueError
        If ``n`` is negative, ``days`` is not positive, no symbol is given or
        ``start`` has no zone.
    """
    if n < 0:
        msg = f"n must be >= 0 (got {n})"
        raise ValueError(msg)
    if not days > 0:
        msg = f"days must be > 0 (got {days})"
        raise ValueError(msg)
    if not symbols:
        msg = "symbols must name at least one instrument"
        raise ValueError(msg)
    start_s = int(_parse_start(start).timestamp())
    rng = np.random.default_rng(seed)
    prices = np.array([_SYMBOL_PRICES.get(s, _GENERIC_PRICE)[0] for s in symbols])
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for first in range(0, n, _CHUNK):
            _write_chunk(
                out,
                rng,
                first=first,
                size=min(_CHUNK, n - first),
                n_total=n,
                start_s=start_s,
                span_s=days * 86_400.0,
                symbols=symbols,
                prices=prices,
                calibration_version=calibration_version,
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and write the file; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=600, help="number of trades (default 600)")
    parser.add_argument("--seed", type=int, default=20260209, help="generator seed")
    parser.add_argument(
        "--out", type=Path, default=Path("data/clm_trades.jsonl"), help="output file"
    )
    parser.add_argument("--days", type=float, default=20.0, help="time span in days")
    parser.add_argument(
        "--symbols", default=",".join(DEFAULT_SYMBOLS), help="comma-separated instruments"
    )
    parser.add_argument("--start", default=DEFAULT_START, help="close time of the first trade")
    parser.add_argument(
        "--calibration-version",
        default=None,
        help="also write calibration_version and calibrated_confidence",
    )
    args = parser.parse_args(argv)
    symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
    try:
        write_trades(
            args.out,
            n=args.n,
            seed=args.seed,
            days=args.days,
            symbols=symbols,
            start=args.start,
            calibration_version=args.calibration_version,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.n} trades to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
