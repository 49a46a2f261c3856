"""Write deterministic, realistic example trades in any dialect, optionally with a pathology."""

# Shell module: it writes a file. The example is built so that calibration has
# something real to find:
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
# - About 12 % of trades are NEUTRAL (|PnL| < 0.05), none is exactly 0.0, and
#   every exit price agrees with the side and the PnL.
#
# The trades themselves are drawn from one numpy Generator in a fixed order,
# whatever the dialect; everything a dialect or a pathology adds comes from a
# second Generator, so dialect C with the same seed and range is byte for byte
# what the generator always wrote. Lines are formatted with f-strings from
# numpy chunks, so a million trades take seconds rather than minutes.

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Sequence
    from typing import TextIO

    from numpy.typing import NDArray

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_SYMBOLS",
    "DIALECTS",
    "start_to_end",
    "write_example_trades",
]

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")
DEFAULT_SEED = 20260209
DIALECTS: Final = ("A", "B", "C", "mixed")

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
# The production recorder's outcome thresholds (real_system.md §1, dialect A).
_RECORDER_BAND_PCT = 0.5
_EXIT_REASONS = ("take_profit", "stop_loss", "signal_exit", "unknown")
_REGIMES = ("bullish", "bearish", "neutral", "volatile")
_FUTURE_OFFSET_S = 86_400


class _Pathologies(NamedTuple):
    """Rows (global indices) that get a pathology, and the constant confidence if any."""

    duplicated: frozenset[int]
    contradicted: frozenset[int]
    constant_confidence: float | None


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


def _iso_us(microseconds: NDArray[np.int64]) -> list[str]:
    stamps = np.datetime_as_string(microseconds.astype("datetime64[us]"), unit="us")
    return [str(s) for s in stamps]


class _Chunk(NamedTuple):
    """The drawn trades of one chunk, as Python lists ready for formatting."""

    first: int
    close_s: NDArray[np.int64]
    close_iso: list[str]
    close_z: list[str]
    open_iso: list[str]
    open_z: list[str]
    duration_s: list[int]
    symbol: list[str]
    side: list[int]
    confidence: list[float]
    entry: list[float]
    exit_: list[float]
    pnl: list[float]
    decimals: list[int]
    consensus: list[int]
    votes: list[tuple[list[str], list[float]]]
    calibrated: list[float]


def _draw_chunk(
    rng: np.random.Generator,
    *,
    first: int,
    size: int,
    n_total: int,
    start_s: int,
    span_s: float,
    symbols: Sequence[str],
    prices: NDArray[np.float64],
) -> _Chunk:
    """Draw trades ``first .. first + size - 1``; the draw order never changes."""
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
    return _Chunk(
        first=first,
        close_s=close_s,
        close_iso=_iso(close_s),
        close_z=close_z,
        open_iso=_iso(open_s),
        open_z=open_z,
        duration_s=(close_s - open_s).tolist(),
        symbol=[symbols[s] for s in sym.tolist()],
        side=side.tolist(),
        confidence=confidence.tolist(),
        entry=entry.tolist(),
        exit_=exit_.tolist(),
        pnl=pnl.tolist(),
        decimals=decimals.tolist(),
        consensus=consensus.tolist(),
        votes=votes,
        calibrated=calibrated,
    )


def _votes_json(chunk: _Chunk, i: int) -> str:
    return ", ".join(
        f'"{m.name}": {{"action": "{chunk.votes[k][0][i]}", "confidence": {chunk.votes[k][1][i]}}}'
        for k, m in enumerate(_MODELS)
    )


def _recorder_label(pnl: float) -> str:
    if pnl > _RECORDER_BAND_PCT:
        return "WIN"
    return "LOSS" if pnl < -_RECORDER_BAND_PCT else "NEUTRAL"


class _Formatter:
    """Format one row of a chunk in one dialect; ``extra_us`` shifts the close time."""

    def __init__(
        self, chunk: _Chunk, aux: np.random.Generator, calibration_version: str | None
    ) -> None:
        self.chunk = chunk
        self.calibration_version = calibration_version
        size = len(chunk.side)
        # Dialect A and B stamps carry microseconds; C keeps whole seconds.
        self.micro = aux.integers(0, 1_000_000, size).tolist()
        self.long_short = (aux.random(size) < 0.5).tolist()
        self.position = np.round(aux.uniform(10.0, 500.0, size), 2).tolist()
        self.exit_reason = aux.integers(0, len(_EXIT_REASONS), size).tolist()
        self.regime = aux.integers(0, len(_REGIMES), size).tolist()
        self.flags = (aux.random((size, 2)) < 0.5).tolist()

    def _stamp_us(self, i: int, extra_us: int) -> str:
        micro = int(self.chunk.close_s[i]) * 1_000_000 + self.micro[i] + extra_us
        return _iso_us(np.array([micro], dtype=np.int64))[0]

    def c(self, i: int, side: int, confidence: float, close: str | None) -> str:
        ch = self.chunk
        d = ch.decimals[i]
        calibration = (
            f', "calibration_version": "{self.calibration_version}", '
            f'"calibrated_confidence": {ch.calibrated[i]}'
            if self.calibration_version is not None
            else ""
        )
        stamp = close or f"{ch.close_iso[i]}{ch.close_z[i]}"
        return (
            f'{{"timestamp": "{stamp}", "symbol": "{ch.symbol[i]}", '
            f'"side": "{"BUY" if side == 1 else "SELL"}", "confidence": {confidence}, '
            f'"entry_price": {ch.entry[i]:.{d}f}, "exit_price": {ch.exit_[i]:.{d}f}, '
            f'"actual_pnl_pct": {ch.pnl[i]}, "trade_id": "clm_{ch.first + i + 1:07d}", '
            f'"entry_timestamp": "{ch.open_iso[i]}{ch.open_z[i]}", "model_id": "ensemble_None", '
            f'"consensus_count": {ch.consensus[i]}{calibration}, '
            f'"model_breakdown": {{{_votes_json(ch, i)}}}}}\n'
        )

    def a(self, i: int, side: int, confidence: float, close: str | None) -> str:
        ch = self.chunk
        d = ch.decimals[i]
        words = ("LONG", "SHORT") if self.long_short[i] else ("BUY", "SELL")
        stamp = close or f"{self._stamp_us(i, 0)}+00:00"
        return (
            f'{{"timestamp": "{stamp}", "symbol": "{ch.symbol[i]}", '
            f'"side": "{words[0] if side == 1 else words[1]}", '
            f'"entry_price": {ch.entry[i]:.{d}f}, "exit_price": {ch.exit_[i]:.{d}f}, '
            f'"pnl_percent": {ch.pnl[i]}, "confidence": {confidence}, '
            f'"model_id": "ensemble_None", "outcome_label": "{_recorder_label(ch.pnl[i])}", '
            f'"duration_seconds": {float(ch.duration_s[i])}, "strategy_id": null, '
            f'"position_size": {self.position[i]}, '
            f'"exit_reason": "{_EXIT_REASONS[self.exit_reason[i]]}"}}\n'
        )

    def b(self, i: int, side: int, confidence: float, close: str | None) -> str:
        ch = self.chunk
        d = ch.decimals[i]
        meta, arbiter = self.flags[i]
        stamp = close or self._stamp_us(i, 0)
        return (
            f'{{"trade_id": "mock_{ch.first + i + 1:07d}", "timestamp": "{stamp}", '
            f'"symbol": "{ch.symbol[i]}", "action": "{"BUY" if side == 1 else "SELL"}", '
            f'"entry_price": {ch.entry[i]:.{d}f}, "exit_price": {ch.exit_[i]:.{d}f}, '
            f'"pnl_percent": {ch.pnl[i]}, "confidence": {confidence}, '
            f'"outcome_label": "{"WIN" if ch.pnl[i] > 0 else "LOSS"}", '
            f'"duration_minutes": {ch.duration_s[i] // 60}, '
            f'"model_predictions": {{{_votes_json(ch, i)}}}, '
            f'"meta_agent_used": {"true" if meta else "false"}, '
            f'"arbiter_used": {"true" if arbiter else "false"}, '
            f'"market_regime": "{_REGIMES[self.regime[i]]}"}}\n'
        )

    def duplicate_stamp(self, dialect: str, i: int, extra_ms: int) -> str | None:
        """Return the close time of a repeat, ``extra_ms`` later (C: the same second)."""
        if dialect == "A":
            return f"{self._stamp_us(i, extra_ms * 1000)}+00:00"
        if dialect == "B":
            return self._stamp_us(i, extra_ms * 1000)
        return None


def _write_chunk(
    out: TextIO,
    chunk: _Chunk,
    aux: np.random.Generator,
    *,
    dialect: str,
    calibration_version: str | None,
    pathologies: _Pathologies,
) -> None:
    """Format the rows of ``chunk`` in ``dialect`` and append them to ``out``."""
    size = len(chunk.side)
    fmt = _Formatter(chunk, aux, calibration_version)
    writers: dict[str, Callable[[int, int, float, str | None], str]] = {
        "A": fmt.a,
        "B": fmt.b,
        "C": fmt.c,
    }
    if dialect == "mixed":
        picks = aux.integers(0, 3, size).tolist()
        row_dialects = [("A", "B", "C")[p] for p in picks]
    else:
        row_dialects = [dialect] * size
    repeat_ms = aux.integers(1, 11, size).tolist()
    lines = []
    for i in range(size):
        row = chunk.first + i
        side = -chunk.side[i] if row in pathologies.contradicted else chunk.side[i]
        constant = pathologies.constant_confidence
        confidence = chunk.confidence[i] if constant is None else constant
        write = writers[row_dialects[i]]
        lines.append(write(i, side, confidence, None))
        if row in pathologies.duplicated:
            # The real recorder writes a close twice, 1-10 ms apart.
            stamp = fmt.duplicate_stamp(row_dialects[i], i, repeat_ms[i])
            lines.append(write(i, side, confidence, stamp))
    out.write("".join(lines))


def _future_lines(
    path_dialect: str, end_s: int, count: int, symbols: Sequence[str], aux: np.random.Generator
) -> list[str]:
    """Trades closed a day after ``end_s``: a clock or producer error that must stop a run."""
    lines = []
    for k in range(count):
        stamp = datetime.fromtimestamp(end_s + _FUTURE_OFFSET_S + k, UTC)
        symbol = symbols[int(aux.integers(0, len(symbols)))]
        pnl = 0.8 if k % 2 == 0 else -0.8
        exit_price = 100.0 * (1.0 + pnl / 100.0)
        if path_dialect == "A":
            lines.append(
                f'{{"timestamp": "{stamp.isoformat()}", "symbol": "{symbol}", "side": "BUY", '
                f'"entry_price": 100.0, "exit_price": {exit_price}, "pnl_percent": {pnl}, '
                f'"confidence": 0.7, "model_id": "ensemble_None", "outcome_label": '
                f'"{_recorder_label(pnl)}", "duration_seconds": null, "strategy_id": null, '
                '"position_size": null, "exit_reason": null}\n'
            )
        else:
            lines.append(
                f'{{"timestamp": "{stamp.isoformat().replace("+00:00", "Z")}", '
                f'"symbol": "{symbol}", "side": "BUY", "confidence": 0.7, '
                f'"entry_price": 100.0, "exit_price": {exit_price}, "actual_pnl_pct": {pnl}}}\n'
            )
    return lines


def _pick_rows(aux: np.random.Generator, n: int, count: int, what: str) -> frozenset[int]:
    if not 0 <= count <= n:
        msg = f"{what} must be between 0 and n_trades={n} (got {count})"
        raise ValueError(msg)
    return frozenset(aux.choice(n, size=count, replace=False).tolist()) if count else frozenset()


def _end_epoch(end: datetime | str | None) -> int:
    if end is None:
        return int(datetime.now(UTC).timestamp())
    moment = datetime.fromisoformat(end) if isinstance(end, str) else end
    if moment.tzinfo is None:
        msg = f"end must carry a zone, e.g. 2026-02-10T00:00:00Z (got {end!r})"
        raise ValueError(msg)
    return int(moment.timestamp())


def write_example_trades(
    path: str | os.PathLike[str],
    *,
    n_trades: int = 600,
    seed: int = DEFAULT_SEED,
    end: datetime | str | None = None,
    dialect: str = "C",
    days: float = 20.0,
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    calibration_version: str | None = None,
    duplicates: int = 0,
    constant_confidence: float | None = None,
    contradicting_sides: int = 0,
    future_closes: int = 0,
) -> Path:
    """Write ``n_trades`` generated closed trades to ``path``, replacing it.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; its parent directory must exist.
    n_trades : int, optional
        Number of trades (a repeat or a future close adds a line on top).
    seed : int, optional
        Seed of the numpy Generators; the same arguments give the same bytes
        (with ``end=None``, the same bytes within one second).
    end : datetime or str or None, optional
        Every close lies in ``[end - days, end)``; None means now, so the
        newest close is minutes old. A string is ISO-8601 with a zone.
    dialect : {"A", "B", "C", "mixed"}, optional
        ``"A"``: the production recorder (``pnl_percent``, ``outcome_label``,
        ``LONG``/``SHORT``, microsecond stamps, no votes). ``"B"``: the trading
        system's test data (``action``, ``model_predictions``, zone-less
        stamps). ``"C"``: ours. ``"mixed"``: each line picks one of the three.
    days : float, optional
        Time span covered by the close timestamps.
    symbols : sequence of str, optional
        Instruments to trade.
    calibration_version : str or None, optional
        Dialect C lines then also carry ``calibration_version`` and a
        ``calibrated_confidence``.
    duplicates : int, optional
        How many trades the recorder writes twice (the copy follows 1-10 ms
        later; same second in dialect C).
    constant_confidence : float or None, optional
        Write this confidence on every record (the real exit path's 0.7).
    contradicting_sides : int, optional
        How many trades carry the opposite side of what their prices and PnL say.
    future_closes : int, optional
        How many trades to append with a close one day after ``end``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If a count is out of range, ``days`` is not positive, no symbol is
        given, ``dialect`` is unknown or ``end`` has no zone.
    """
    if n_trades < 0:
        msg = f"n_trades must be >= 0 (got {n_trades})"
        raise ValueError(msg)
    if not days > 0:
        msg = f"days must be > 0 (got {days})"
        raise ValueError(msg)
    if not symbols:
        msg = "symbols must name at least one instrument"
        raise ValueError(msg)
    if dialect not in DIALECTS:
        msg = f"dialect must be one of {', '.join(DIALECTS)} (got {dialect!r})"
        raise ValueError(msg)
    if constant_confidence is not None and not 0.0 <= constant_confidence <= 1.0:
        msg = f"constant_confidence must be in [0, 1] (got {constant_confidence!r})"
        raise ValueError(msg)
    if future_closes < 0:
        msg = f"future_closes must be >= 0 (got {future_closes})"
        raise ValueError(msg)
    end_s = _end_epoch(end)
    span_s = days * 86_400.0
    start_s = end_s - round(span_s)
    rng = np.random.default_rng(seed)
    aux = np.random.default_rng([seed, 1])
    pathologies = _Pathologies(
        duplicated=_pick_rows(aux, n_trades, duplicates, "duplicates"),
        contradicted=_pick_rows(aux, n_trades, contradicting_sides, "contradicting_sides"),
        constant_confidence=constant_confidence,
    )
    prices = np.array([_SYMBOL_PRICES.get(s, _GENERIC_PRICE)[0] for s in symbols])
    out_path = Path(path)
    with out_path.open("w", encoding="utf-8", newline="\n") as out:
        for first in range(0, n_trades, _CHUNK):
            chunk = _draw_chunk(
                rng,
                first=first,
                size=min(_CHUNK, n_trades - first),
                n_total=n_trades,
                start_s=start_s,
                span_s=span_s,
                symbols=symbols,
                prices=prices,
            )
            _write_chunk(
                out,
                chunk,
                aux,
                dialect=dialect,
                calibration_version=calibration_version,
                pathologies=pathologies,
            )
        out.write("".join(_future_lines(dialect, end_s, future_closes, symbols, aux)))
    return out_path


def start_to_end(start: str, days: float) -> datetime:
    """Return the ``end`` that makes the first close window begin at ``start`` (with a zone)."""
    moment = datetime.fromisoformat(start)
    if moment.tzinfo is None:
        msg = f"--start must carry a zone, e.g. 2026-01-21T00:00:00Z (got {start!r})"
        raise ValueError(msg)
    return moment.astimezone(UTC) + timedelta(seconds=round(days * 86_400.0))
