"""The typed fast path: a whole block of trade lines decoded by msgspec into columns."""

# Shell module, offline only (the runtime loader never imports it: msgspec stays
# off its path). It takes a block whole or not at all; any line it cannot prove
# sound sends the block to the per-line reader in trades.py, which words the
# problems, so the two paths differ only in speed.
#
# A block is decoded as one JSON array of its lines, into records whose types
# state the part of the contract msgspec can check in C; the rest (timestamps,
# aliases, known names, duplicate keys, large numbers) is checked on the
# columns. Most blocks hold one record shape (one dialect), so the records are
# first decoded with a Struct made for the first line's fields, all required,
# and only then with one in which every field is optional. Unknown fields are
# forbidden in both (the contract ignores them, the per-line path takes them),
# so every key of a decoded line is a field or a vote, which the duplicate-key
# check relies on.

from __future__ import annotations

import itertools
import math
import operator
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import msgspec
import numpy as np
import numpy.typing as npt

from calibration_core.config import MODEL_NAME_PATTERN
from calibration_core.sources import trade_contract as contract
from calibration_core.sources.close_times import parse_canonical
from calibration_core.sources.trade_batch import OUTCOME_NONE

if TYPE_CHECKING:
    from collections.abc import Callable

    from calibration_core.sources.trades import Reader

__all__ = ["FAST_DECODER", "feed_block_typed"]

_Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
_Positive = Annotated[float, msgspec.Meta(gt=0.0)]
_Pnl = Annotated[float, msgspec.Meta(ge=-contract.MAX_ABS_PNL_PCT, le=contract.MAX_ABS_PNL_PCT)]
_SideWord = Literal["BUY", "SELL", "LONG", "SHORT"]
_Scalar = int | float | bool | None
_UNSET: Final = msgspec.UNSET
# Above 2**53 a float no longer holds every integer, so an integer literal's
# conversion could round past a bound the contract compares exactly.
_EXACT_INT_FLOAT: Final = float(2**53)
_NEWLINE: Final = np.uint8(ord("\n"))
_QUOTE: Final = np.uint8(ord('"'))
_BRACE: Final = np.uint8(ord("{"))


class _FastVote(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One member model's vote, as the fast path accepts it."""

    action: Literal["BUY", "SELL", "HOLD"]
    confidence: _Unit


_Votes = dict[str, _FastVote]
# The fields that are read, with the types the fast path accepts.
_READ_TYPES: Final[dict[str, Any]] = {
    "timestamp": str,
    "symbol": Annotated[str, msgspec.Meta(min_length=1)],
    "confidence": _Unit,
    "entry_price": _Positive,
    "exit_price": _Positive,
    "side": _SideWord,
    "action": _SideWord,
    "actual_pnl_pct": _Pnl,
    "pnl_percent": _Pnl,
    "consensus_count": Annotated[int, msgspec.Meta(ge=0, le=contract.INT16_MAX)],
    "calibrated_confidence": _Unit,
    "calibration_version": str | None,
    "outcome_label": Literal["WIN", "LOSS", "NEUTRAL"] | None,
    "model_breakdown": _Votes,
    "model_predictions": _Votes,
}
_REQUIRED_FIELDS: Final = ("timestamp", "symbol", "confidence", "entry_price", "exit_price")
# Required numbers, read straight into the float columns 1, 2 and 3.
_NUMPY_FIELDS: Final = ("confidence", "entry_price", "exit_price")
# The dialects' fields that nothing reads (real_system.md §1): scalars only.
_UNREAD_FIELDS: Final = (
    "trade_id",
    "model_id",
    "entry_timestamp",
    "duration_seconds",
    "duration_minutes",
    "strategy_id",
    "position_size",
    "exit_reason",
    "meta_agent_used",
    "arbiter_used",
    "market_regime",
)
# Fields whose value is always a string, or a string or null (for the quote count).
_STRING_FIELDS: Final = frozenset({"timestamp", "symbol", "side", "action"})
_NULLABLE_STRING_FIELDS: Final = (
    "calibration_version",
    "outcome_label",
    # In the any-shape record, the unread fields the dialects write as strings.
    "trade_id",
    "model_id",
    "entry_timestamp",
    "strategy_id",
    "exit_reason",
    "market_regime",
)


def _record_struct(name: str, unread: dict[str, Any]) -> type[msgspec.Struct]:
    """Return a record Struct in which every field but the five required ones may be absent."""
    return msgspec.defstruct(
        name,
        [
            *((field, kind) for field, kind in _READ_TYPES.items() if field in _REQUIRED_FIELDS),
            *(
                (field, kind | msgspec.UnsetType, _UNSET)
                for field, kind in (*_READ_TYPES.items(), *unread.items())
                if field not in _REQUIRED_FIELDS
            ),
        ],
        forbid_unknown_fields=True,
        gc=False,
    )


# Any scalar in an unread field: what the first line of a block may hold.
_FastRecord = _record_struct("_FastRecord", dict.fromkeys(_UNREAD_FIELDS, str | _Scalar))
FAST_DECODER: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder(_FastRecord)
# A block of mixed shapes: each unread field typed as the dialects write it, so
# that counting its nulls counts its strings.
_AnyShapeRecord = _record_struct(
    "_AnyShapeRecord",
    {
        field: str | None if field in _NULLABLE_STRING_FIELDS else _Scalar
        for field in _UNREAD_FIELDS
    },
)
_ANY_SHAPE: Final = msgspec.json.Decoder(list[_AnyShapeRecord])  # type: ignore[valid-type]
_GETTERS: Final = {name: operator.attrgetter(name) for name in _FastRecord.__struct_fields__}
_VOTE_ACTION: Final = operator.attrgetter("action")
_VOTE_CONFIDENCE: Final = operator.attrgetter("confidence")


class _Shape:
    """The records of one key set: every field required, an unread one typed by its value.

    When the first line holds its member votes under one of the two vote
    fields, the votes are a Struct of exactly its models too (``models``, in
    the line's order), so a block in which every line has the same models is
    decoded without a dict per line and read without a name per vote.
    """

    __slots__ = ("decoder", "fields", "models", "strings", "vote_column", "vote_field", "votes_of")

    def __init__(
        self, fields: dict[str, bool], vote_field: str | None, models: tuple[str, ...]
    ) -> None:
        # fields: name -> whether an unread field holds a string
        self.fields = tuple(fields)
        self.strings = sum(1 for name, text in fields.items() if name in _STRING_FIELDS or text)
        self.vote_field = vote_field
        self.models = models
        # For a shape with votes: the vote field of a record, and the votes in it.
        self.vote_column = operator.attrgetter(vote_field or "symbol")
        self.votes_of: Callable[[Any], tuple[Any, ...]] = _one_vote
        kinds = {
            name: _READ_TYPES.get(name) or (str if text else _Scalar)
            for name, text in fields.items()
        }
        if vote_field is not None:
            slots = [f"m{i}" for i in range(len(models))]
            kinds[vote_field] = msgspec.defstruct(
                "_ShapeVotes",
                [(slot, _FastVote) for slot in slots],
                rename=dict(zip(slots, models, strict=True)),
                forbid_unknown_fields=True,
                gc=False,
            )
            if len(slots) > 1:
                self.votes_of = operator.attrgetter(*slots)
        struct = msgspec.defstruct(
            "_ShapeRecord", list(kinds.items()), forbid_unknown_fields=True, gc=False
        )
        self.decoder = msgspec.json.Decoder(list[struct])  # type: ignore[valid-type]


def _one_vote(votes: msgspec.Struct) -> tuple[object]:
    return (votes.m0,)  # type: ignore[attr-defined]  # the Struct's one model


_SHAPES: dict[tuple[tuple[tuple[str, bool], ...], str | None, tuple[str, ...]], _Shape] = {}
_MAX_SHAPES: Final = 64
_VOTE_FIELDS: Final = ("model_breakdown", "model_predictions")


def _shape_of(line: bytes) -> _Shape | None:
    """Return the shape of the record on ``line``, or None if the fast path cannot take it."""
    try:
        record = FAST_DECODER.decode(line)
    except msgspec.MsgspecError:
        return None
    fields = {
        name: name in _UNREAD_FIELDS and type(value) is str
        for name in _FastRecord.__struct_fields__
        if (value := getattr(record, name)) is not _UNSET
    }
    # The votes as a Struct of the line's models: under one vote field only,
    # at least one model, and no empty name (a problem the dict path finds).
    vote_fields = [name for name in _VOTE_FIELDS if name in fields]
    vote_field: str | None = None
    models: tuple[str, ...] = ()
    if len(vote_fields) == 1:
        models = tuple(getattr(record, vote_fields[0]))
        if models and "" not in models:
            vote_field = vote_fields[0]
        else:
            models = ()
    key = (tuple(fields.items()), vote_field, models)
    shape = _SHAPES.get(key)
    if shape is None:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()  # a file of ever new key sets: keep the cache small
        shape = _SHAPES[key] = _Shape(fields, vote_field, models)
    return shape


def _count_keys_and_strings(
    records: list[Any], columns: dict[str, list[Any]], shape: _Shape | None, n_votes: int
) -> int:
    """Return the number of double quotes the records take when no key repeats.

    Without escapes every string, key or value, is two quotes. msgspec keeps
    the last of a repeated key, so a block with a repeated key has more quotes
    than its decoded records account for; strings not counted here can only
    make the count lower, never hide a repeat.
    """
    n = len(records)
    # Each vote is three keys (its model, action, confidence) and one string.
    quotes = 4 * n_votes
    if shape is not None:
        quotes += n * (len(shape.fields) + shape.strings)
        for name in _NULLABLE_STRING_FIELDS:
            if name in columns:
                quotes += n - columns[name].count(None)
        return 2 * quotes
    unset = _UNSET
    for name, getter in _GETTERS.items():
        if name in _REQUIRED_FIELDS:  # in every record, by the Struct
            quotes += 2 * n if name in _STRING_FIELDS else n
            continue
        column = columns.get(name)
        if column is None:
            column = list(map(getter, records))
        present = n - column.count(unset)
        quotes += present
        if name in _STRING_FIELDS:
            quotes += present
        elif name in _NULLABLE_STRING_FIELDS and present:
            quotes += present - column.count(None)
    return 2 * quotes


def feed_block_typed(reader: Reader, block: bytes, lineno: int) -> bool:  # noqa: C901, PLR0911, PLR0912, PLR0915
    """Take every line of ``block`` through the typed fast path, or none of them.

    ``block`` ends with a newline; its first line is line ``lineno + 1``.
    Returns False, with nothing recorded, when any line needs the per-line
    path: the caller then feeds the block that way.
    """
    # Without a backslash there is no escape: no lone surrogate, no key
    # spelled differently, and every string's bytes are its characters.
    if b"\\" in block or (not block.isascii() and not _valid_utf8(block)):
        return False
    shape = _shape_of(block[: block.index(b"\n")])
    if shape is None:
        return False
    # One JSON array of the lines: it decodes to one value a line exactly when
    # every line holds one JSON value and every line but the first starts with
    # "{". A blank line makes it invalid; two values on one line, "{...},{...}",
    # give one value too many, but a record cut over two lines gives one too
    # few, and the two together balance the count. So each newline stays, after
    # its comma: a string cannot hold it, so the comma is not inside a string;
    # and inside a record a comma is followed by a key, never by "{" (a decoded
    # record holds no array), so when every line starts with "{" each newline's
    # comma parts two records. (Two copies of the block: the slice is a view.)
    array = b"".join((b"[", memoryview(block)[:-1], b"]")).replace(b"\n", b",\n")
    try:
        records = shape.decoder.decode(array)
    except msgspec.MsgspecError:
        shape = None
        try:
            records = _ANY_SHAPE.decode(array)
        except msgspec.MsgspecError:
            return False
    del array
    n = len(records)
    # numpy counts a byte several times faster than bytes.count.
    octets = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(octets == _NEWLINE)
    if n != len(newlines) or not np.all(octets[newlines[:-1] + 1] == _BRACE):
        return False
    del newlines
    unset = _UNSET
    absent: list[Any] = [unset] * n
    # A shape whose votes are a Struct of its models, or None.
    voted = shape if shape is not None and shape.vote_field is not None else None
    # The columns read as Python lists: not the three numbers every record
    # holds (they go straight into numpy), nor a vote Struct.
    names = [
        name
        for name in (_READ_TYPES if shape is None else shape.fields)
        if name in _READ_TYPES
        and name not in _NUMPY_FIELDS
        and (shape is None or name != shape.vote_field)
    ]
    columns = {name: list(map(_GETTERS[name], records)) for name in names}
    votes_col: list[Any] = absent
    vote_counts: list[int] | int
    if voted is not None:
        # Every line holds exactly the shape's models, in its Struct's order.
        cast = list(
            itertools.chain.from_iterable(map(voted.votes_of, map(voted.vote_column, records)))
        )
        vote_counts = len(voted.models)
        total_votes = len(cast)
    else:
        # The member votes: model_breakdown, else dialect B's model_predictions.
        breakdown_col = columns.get("model_breakdown", absent)
        predictions_col = columns.get("model_predictions", absent)
        if breakdown_col.count(unset) == n:
            votes_col = predictions_col
        elif predictions_col.count(unset) == n:
            votes_col = breakdown_col
        else:
            votes_col = [
                p if b is unset else b for b, p in zip(breakdown_col, predictions_col, strict=True)
            ]
        if votes_col is absent:
            votes_col = [{}] * n  # read-only: the same empty dict n times
        elif unset in votes_col:
            votes_col = [{} if v is unset else v for v in votes_col]
        vote_counts = list(map(len, votes_col))
        total_votes = sum(vote_counts)
    quotes = np.count_nonzero(octets == _QUOTE)
    del octets
    if quotes != _count_keys_and_strings(records, columns, shape, total_votes):
        return False  # a key repeats: the per-line path names it
    stamps, symbol_col = columns["timestamp"], columns["symbol"]
    side_col, action_col = columns.get("side", absent), columns.get("action", absent)
    actual_col, percent_col = (
        columns.get("actual_pnl_pct", absent),
        columns.get("pnl_percent", absent),
    )
    consensus_col = columns.get("consensus_count", absent)
    calibrated_col = columns.get("calibrated_confidence", absent)
    version_col, outcome_col = (
        columns.get("calibration_version", absent),
        columns.get("outcome_label", absent),
    )
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
    floats = np.empty((n, contract.FLOAT_COLUMNS), dtype=np.float64)
    for column, name in enumerate(_NUMPY_FIELDS, start=1):
        floats[:, column] = np.fromiter(map(_GETTERS[name], records), np.float64, count=n)
    floats[:, 4] = pnl_col
    if np.any(np.abs(floats[:, 2:4]) >= _EXACT_INT_FLOAT):
        return False  # a price an integer literal may have rounded into range
    # An optional column absent from the block is one constant, not n look-ups.
    floats[:, 5] = (
        math.nan
        if calibrated_col is absent
        else calibrated_col
        if unset not in calibrated_col
        else tuple(math.nan if c is unset else c for c in calibrated_col)
    )
    # Close times, by the same conversions as the contract's.
    times = _close_times(stamps)
    if times is None:
        return False
    epochs, zoneless = times
    floats[:, 0] = epochs
    if not np.all((floats[:, 0] >= contract.EPOCH_MIN) & (floats[:, 0] <= contract.EPOCH_MAX)):
        return False
    # Member votes, in row order; a model seen for the first time is named
    # (and warned about) at its first line, as the per-line path does.
    if voted is not None:
        # Each line names every model, so each is first seen on the first line.
        model_names = list(voted.models)
        new_models = [m for m in model_names if m not in reader.model_bases]
    else:
        model_names = list(itertools.chain.from_iterable(votes_col)) if total_votes else []
        new_models = [m for m in dict.fromkeys(model_names) if m not in reader.model_bases]
        if "" in new_models:
            return False  # an empty model name is a problem
        cast = list(itertools.chain.from_iterable(map(dict.values, votes_col)))
    # Nothing can fail from here on: record the block.
    symbols = reader.symbols
    try:
        symbol_codes = np.fromiter(map(symbols.__getitem__, symbol_col), np.int64, count=n)
    except KeyError:  # new symbols, numbered in the order they first appear
        for symbol in dict.fromkeys(symbol_col):
            symbols.setdefault(symbol, len(symbols))
        symbol_codes = np.fromiter(map(symbols.__getitem__, symbol_col), np.int64, count=n)
    versions = reader.versions
    if version_col is not absent:
        for version in dict.fromkeys(version_col):
            if version is not None and version is not unset:
                versions.setdefault(version, len(versions) - 1)
    ints = np.empty((n, contract.INT_COLUMNS), dtype=np.int64)
    ints[:, 0] = np.arange(lineno + 1, lineno + n + 1, dtype=np.int64)
    ints[:, 1] = symbol_codes
    ints[:, 2] = np.fromiter(map(contract.SIDE_CODES.__getitem__, side_col), np.int64, count=n)
    version_codes: dict[object, int] = {key: code for key, code in versions.items()}  # noqa: C416 - widens the key type
    version_codes[unset] = -1
    ints[:, 3] = -1 if version_col is absent else list(map(version_codes.__getitem__, version_col))
    ints[:, 4] = (
        -1
        if consensus_col is absent
        else consensus_col
        if unset not in consensus_col
        else tuple(-1 if c is unset else c for c in consensus_col)
    )
    ints[:, 5] = vote_counts
    outcome_codes: dict[object, int] = {key: code for key, code in contract.OUTCOME_CODES.items()}  # noqa: C416 - widens the key type
    outcome_codes[unset] = OUTCOME_NONE
    ints[:, 6] = (
        OUTCOME_NONE if outcome_col is absent else list(map(outcome_codes.__getitem__, outcome_col))
    )
    block_warnings: list[tuple[int, str]] = []
    if model_names:
        model_bases = reader.model_bases
        if new_models:
            first_rows = None if voted is not None else np.repeat(np.arange(n), vote_counts)
            for model in new_models:
                model_bases[model] = 4 * len(model_bases)
                if not MODEL_NAME_PATTERN.fullmatch(model):
                    first = lineno + 1
                    if first_rows is not None:
                        first += int(first_rows[model_names.index(model)])
                    block_warnings.append(
                        (first, contract.model_name_warning(reader.name, first, model))
                    )
        offsets = map(contract.VOTE_OFFSETS.__getitem__, map(_VOTE_ACTION, cast))
        if voted is not None:
            # One row of codes per line, in the Struct's model order: the batch
            # places each vote by its model, so the order within a line is free.
            packed = np.fromiter(offsets, np.int32, count=total_votes).reshape(n, -1)
            packed += np.array([model_bases[m] for m in model_names], dtype=np.int32)
        else:
            packed = np.fromiter(
                map(operator.add, map(model_bases.__getitem__, model_names), offsets),
                np.int32,
                count=total_votes,
            )
        vote_confidence = np.fromiter(map(_VOTE_CONFIDENCE, cast), np.float64, count=total_votes)
        reader.add_block(ints, floats, packed.ravel(), vote_confidence, block_bytes=len(block))
    else:
        reader.add_block(ints, floats, block_bytes=len(block))
    if zoneless.any():
        reader.zoneless.extend((np.flatnonzero(zoneless) + (lineno + 1)).tolist())
    for i in np.flatnonzero(floats[:, 4] == 0.0).tolist():
        field = (
            pnl_fields[i]
            if pnl_fields is not None
            else ("actual_pnl_pct" if pnl_col is actual_col else "pnl_percent")
        )
        block_warnings.append(
            (lineno + 1 + i, contract.zero_pnl_warning(reader.name, lineno + 1 + i, field))
        )
    # In line order; on one line a model's name comes before its PnL (a stable sort).
    block_warnings.sort(key=operator.itemgetter(0))
    reader.warnings.extend(text for _, text in block_warnings)
    return True


def _close_times(
    stamps: list[str],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]] | None:
    """Return the close times in epoch seconds and which had no zone, or None if one is bad.

    The canonical spellings are converted with numpy; any other string goes
    through the contract's own conversion, which also refuses what is no time.
    """
    epochs, zoneless, converted = parse_canonical(stamps)
    for i in np.flatnonzero(~converted).tolist():
        problem, epochs[i], zoneless[i] = contract.timestamp_problem(stamps[i], "timestamp")
        if problem is not None:
            return None
    return epochs, zoneless


def _valid_utf8(block: bytes) -> bool:
    try:
        block.decode("utf-8")  # the per-line path names the bad byte
    except UnicodeDecodeError:
        return False
    return True
