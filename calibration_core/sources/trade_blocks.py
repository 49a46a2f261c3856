"""The typed fast path: a whole block of trade lines decoded by msgspec into columns."""

# Shell module, offline only (the runtime loader never imports it: msgspec stays
# off its path). It takes a block whole or not at all; any line it cannot prove
# sound sends the block to the per-line reader in trades.py, which words the
# problems, so the two paths differ only in speed.

from __future__ import annotations

import itertools
import math
import operator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import msgspec
import numpy as np

from calibration_core.config import MODEL_NAME_PATTERN
from calibration_core.sources.trade_batch import OUTCOME_NONE
from calibration_core.sources.trade_contract import (
    EPOCH_MAX,
    EPOCH_MIN,
    FLOAT_COLUMNS,
    INT16_MAX,
    INT_COLUMNS,
    MAX_ABS_PNL_PCT,
    MIN_TIMESTAMP_CHARS,
    NAIVE_EPOCH,
    OUTCOME_CODES,
    SIDE_CODES,
    VOTE_OFFSETS,
    model_name_warning,
    zero_pnl_warning,
)

if TYPE_CHECKING:
    from calibration_core.sources.trades import Reader

__all__ = ["FAST_DECODER", "feed_block_typed"]

# The typed fast path decodes a whole block of lines with msgspec into these
# records. Their types state the part of the contract msgspec can check in C;
# the rest (timestamps, aliases, known names, duplicate keys, large numbers) is
# checked on the columns. Anything it cannot prove sends the whole block to the
# per-line path above, which writes today's messages. Unknown fields are
# forbidden here (the contract ignores them, the per-line path takes them), so
# every member of a decoded line is re-encoded, which the duplicate-key check
# relies on.
_Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
_Positive = Annotated[float, msgspec.Meta(gt=0.0)]
_Pnl = Annotated[float, msgspec.Meta(ge=-MAX_ABS_PNL_PCT, le=MAX_ABS_PNL_PCT)]
_Unread = str | int | float | bool | None | msgspec.UnsetType
_UNSET: Final = msgspec.UNSET
# Above 2**53 a float no longer holds every integer, so an integer literal's
# conversion could round past a bound the contract compares exactly.
_EXACT_INT_FLOAT: Final = float(2**53)


class _FastVote(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One member model's vote, as the fast path accepts it."""

    action: Literal["BUY", "SELL", "HOLD"]
    confidence: _Unit


class _FastRecord(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """One trade line of any dialect, as the fast path accepts it (``UNSET``: absent)."""

    timestamp: str
    symbol: Annotated[str, msgspec.Meta(min_length=1)]
    confidence: _Unit
    entry_price: _Positive
    exit_price: _Positive
    side: Literal["BUY", "SELL", "LONG", "SHORT"] | msgspec.UnsetType = _UNSET
    action: Literal["BUY", "SELL", "LONG", "SHORT"] | msgspec.UnsetType = _UNSET
    actual_pnl_pct: _Pnl | msgspec.UnsetType = _UNSET
    pnl_percent: _Pnl | msgspec.UnsetType = _UNSET
    consensus_count: Annotated[int, msgspec.Meta(ge=0, le=INT16_MAX)] | msgspec.UnsetType = _UNSET
    calibrated_confidence: _Unit | msgspec.UnsetType = _UNSET
    calibration_version: str | msgspec.UnsetType | None = _UNSET
    outcome_label: Literal["WIN", "LOSS", "NEUTRAL"] | msgspec.UnsetType | None = _UNSET
    # An empty object is the default, so omit_defaults leaves a present "{}"
    # out of the re-encoding and the colon count sends its block to the slow path.
    model_breakdown: dict[str, _FastVote] = {}
    model_predictions: dict[str, _FastVote] = {}
    # The dialects' fields that nothing reads (real_system.md §1).
    trade_id: _Unread = _UNSET
    model_id: _Unread = _UNSET
    entry_timestamp: _Unread = _UNSET
    duration_seconds: _Unread = _UNSET
    duration_minutes: _Unread = _UNSET
    strategy_id: _Unread = _UNSET
    position_size: _Unread = _UNSET
    exit_reason: _Unread = _UNSET
    meta_agent_used: _Unread = _UNSET
    arbiter_used: _Unread = _UNSET
    market_regime: _Unread = _UNSET


FAST_DECODER: Final = msgspec.json.Decoder(_FastRecord)
_FAST_ENCODER: Final = msgspec.json.Encoder()
_FAST_FIELDS: Final = tuple(
    # (the quoted name, or None for a required field; the getter)
    (None if i < 5 else f'"{name}"'.encode(), operator.attrgetter(name))  # noqa: PLR2004 - five required
    for i, name in enumerate(
        (
            "timestamp",
            "symbol",
            "confidence",
            "entry_price",
            "exit_price",
            "side",
            "action",
            "actual_pnl_pct",
            "pnl_percent",
            "consensus_count",
            "calibrated_confidence",
            "calibration_version",
            "outcome_label",
            "model_breakdown",
            "model_predictions",
        )
    )
)
_VOTE_ACTION: Final = operator.attrgetter("action")
_VOTE_CONFIDENCE: Final = operator.attrgetter("confidence")
_TZINFO: Final = operator.attrgetter("tzinfo")


def feed_block_typed(reader: Reader, block: bytes, lineno: int) -> bool:  # noqa: C901, PLR0911, PLR0912, PLR0915
    """Take every line of ``block`` through the typed fast path, or none of them.

    ``block`` ends with a newline; its first line is line ``lineno + 1``.
    Returns False, with nothing recorded, when any line needs the per-line
    path: the caller then feeds the block that way.
    """
    # Without a backslash there is no escape: no lone surrogate, no key
    # spelled differently, and every string's bytes are its characters.
    if b"\\" in block:
        return False
    raw_lines = block.split(b"\n")
    raw_lines.pop()  # the empty piece after the final newline
    try:
        block.decode("utf-8")  # msgspec must see valid UTF-8 only
        records = list(map(FAST_DECODER.decode, raw_lines))
    except (UnicodeDecodeError, msgspec.MsgspecError):
        return False
    # Duplicate keys: msgspec keeps the last value silently. Every member of
    # a decoded line is re-encoded (unknown fields are refused, an absent
    # one stays absent) and strings come back byte for byte, so the input
    # has more colons than the re-encoding exactly when a key repeated.
    if _FAST_ENCODER.encode(records).count(b":") != block.count(b":"):
        return False
    n = len(records)
    if not n:
        return True
    unset = _UNSET
    # Without escapes a key present in a record is in the block's bytes as
    # '"key"', so an optional field whose quoted name is not there is absent
    # from every record: its column is not read.
    absent: list[Any] = [unset] * n
    (
        stamps,
        symbol_col,
        conf_col,
        entry_col,
        exit_col,
        side_col,
        action_col,
        actual_col,
        percent_col,
        consensus_col,
        calibrated_col,
        version_col,
        outcome_col,
        breakdown_col,
        predictions_col,
    ) = [
        list(map(getter, records)) if key is None or key in block else absent
        for key, getter in _FAST_FIELDS
    ]
    if breakdown_col is absent:
        breakdown_col = [{}] * n  # read-only: the same empty dict n times
    if predictions_col is absent:
        predictions_col = [{}] * n
    # The side: "side", else dialect B's "action".
    if unset in side_col:
        side_col = [a if s is unset else s for s, a in zip(side_col, action_col, strict=True)]
        if unset in side_col:
            return False
    # The PnL under exactly one of its two names (both: the slow path compares them).
    if percent_col.count(unset) == n:
        if unset in actual_col:
            return False
        pnl_col, pnl_fields = actual_col, None
    elif actual_col.count(unset) == n:
        if unset in percent_col:
            return False
        pnl_col, pnl_fields = percent_col, None
    else:
        if any(
            a is not unset and p is not unset for a, p in zip(actual_col, percent_col, strict=True)
        ):
            return False
        pnl_col = [p if a is unset else a for a, p in zip(actual_col, percent_col, strict=True)]
        pnl_fields = ["pnl_percent" if a is unset else "actual_pnl_pct" for a in actual_col]
        if unset in pnl_col:
            return False
    floats = np.empty((n, FLOAT_COLUMNS), dtype=np.float64)
    floats[:, 1] = conf_col
    floats[:, 2] = entry_col
    floats[:, 3] = exit_col
    floats[:, 4] = pnl_col
    if np.any(np.abs(floats[:, 2:4]) >= _EXACT_INT_FLOAT):
        return False  # a price an integer literal may have rounded into range
    floats[:, 5] = (
        tuple(math.nan if c is unset else c for c in calibrated_col)
        if calibrated_col.count(unset) != n
        else math.nan
    )
    # Close times, by the same conversions as the contract's.
    try:
        parsed = list(map(datetime.fromisoformat, stamps))
        zones = list(map(_TZINFO, parsed))
        if None in zones:
            if any(
                zone is None and len(text) < MIN_TIMESTAMP_CHARS
                for zone, text in zip(zones, stamps, strict=True)
            ):
                return False
            naive = NAIVE_EPOCH
            epochs = [
                (stamp - naive).total_seconds() if zone is None else stamp.timestamp()
                for stamp, zone in zip(parsed, zones, strict=True)
            ]
        else:
            epochs = list(map(datetime.timestamp, parsed))
    except (ValueError, OverflowError):
        return False
    floats[:, 0] = epochs
    if not np.all((floats[:, 0] >= EPOCH_MIN) & (floats[:, 0] <= EPOCH_MAX)):
        return False
    # Member votes, in row order; a model seen for the first time is named
    # (and warned about) at its first line, as the per-line path does.
    if not any(predictions_col):
        votes_col = breakdown_col
    elif not any(breakdown_col):
        votes_col = predictions_col
    else:
        votes_col = [b or p for b, p in zip(breakdown_col, predictions_col, strict=True)]
    vote_counts = list(map(len, votes_col))
    chain = itertools.chain.from_iterable
    model_names = list(chain(votes_col)) if any(vote_counts) else []
    new_models = [m for m in dict.fromkeys(model_names) if m not in reader.model_bases]
    if "" in new_models:
        return False  # an empty model name is a problem
    # Nothing can fail from here on: record the block.
    symbols = reader.symbols
    for symbol in dict.fromkeys(symbol_col):
        symbols.setdefault(symbol, len(symbols))
    versions = reader.versions
    for version in dict.fromkeys(version_col):
        if version is not None and version is not unset:
            versions.setdefault(version, len(versions) - 1)
    line_numbers = np.arange(lineno + 1, lineno + n + 1, dtype=np.int64)
    ints = np.empty((n, INT_COLUMNS), dtype=np.int64)
    ints[:, 0] = line_numbers
    ints[:, 1] = list(map(symbols.__getitem__, symbol_col))
    ints[:, 2] = list(map(SIDE_CODES.__getitem__, side_col))
    version_codes: dict[object, int] = {key: code for key, code in versions.items()}  # noqa: C416 - widens the key type
    version_codes[unset] = -1
    ints[:, 3] = list(map(version_codes.__getitem__, version_col))
    ints[:, 4] = (
        tuple(-1 if c is unset else c for c in consensus_col)
        if consensus_col.count(unset) != n
        else -1
    )
    ints[:, 5] = vote_counts
    outcome_codes: dict[object, int] = {key: code for key, code in OUTCOME_CODES.items()}  # noqa: C416 - widens the key type
    outcome_codes[unset] = OUTCOME_NONE
    ints[:, 6] = list(map(outcome_codes.__getitem__, outcome_col))
    reader.ints.frombytes(ints.tobytes())
    reader.floats.frombytes(floats.tobytes())
    block_warnings: list[tuple[int, str]] = []
    if model_names:
        model_bases = reader.model_bases
        if new_models:
            vote_rows = np.repeat(np.arange(n), vote_counts)
            for model in new_models:
                model_bases[model] = 4 * len(model_bases)
                if not MODEL_NAME_PATTERN.fullmatch(model):
                    first = lineno + 1 + int(vote_rows[model_names.index(model)])
                    block_warnings.append((first, model_name_warning(reader.name, first, model)))
        cast = list(chain(map(dict.values, votes_col)))
        packed = np.add(
            list(map(model_bases.__getitem__, model_names)),
            list(map(VOTE_OFFSETS.__getitem__, map(_VOTE_ACTION, cast))),
            dtype=np.int32,
        )
        reader.votes.frombytes(packed.tobytes())
        vote_confidence = np.array(list(map(_VOTE_CONFIDENCE, cast)), dtype=np.float64)
        reader.vote_confidence.frombytes(vote_confidence.tobytes())
    if None in zones:
        reader.zoneless.extend(lineno + 1 + i for i, zone in enumerate(zones) if zone is None)
    for i in np.flatnonzero(floats[:, 4] == 0.0).tolist():
        field = (
            pnl_fields[i]
            if pnl_fields is not None
            else ("actual_pnl_pct" if pnl_col is actual_col else "pnl_percent")
        )
        block_warnings.append(
            (lineno + 1 + i, zero_pnl_warning(reader.name, lineno + 1 + i, field))
        )
    # In line order; on one line a model's name comes before its PnL (a stable sort).
    block_warnings.sort(key=operator.itemgetter(0))
    reader.warnings.extend(text for _, text in block_warnings)
    return True
