"""Stream the CLM trade log ``clm_trades.jsonl`` into numpy columns and summarise its integrity."""

# Shell module: it reads a file. It decides nothing about calibration; it
# enforces the format contract of shared/clm_trades_format.md and reports
# every breach with its line number.
#
# Shape of the reader: a hot loop with an inlined, deliberately conservative
# check of the common record shape, and one authoritative slow path
# (``_check_record``) that states the whole contract and writes the messages.
# Anything the hot loop is unsure about goes to the slow path, so the two can
# only differ in speed, never in what they accept (a property test holds
# them to that).

from __future__ import annotations

import array
import hashlib
import itertools
import json
import math
import operator
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, NamedTuple, TypeVar

import attrs
import msgspec
import numpy as np

from calibration_core.config import MODEL_NAME_PATTERN
from calibration_core.constants import MIN_TRADES_FOR_CALIBRATION, NEUTRAL_PNL_BAND_PCT

# One set of vote codes for the reader and the weight math: +1 BUY, -1 SELL,
# 0 HOLD, -128 where a model did not vote (weights.py defines them; re-exported).
from calibration_core.core.weights import ACTION_BUY, ACTION_HOLD, ACTION_MISSING, ACTION_SELL
from calibration_core.exceptions import DataIntegrityError, InvalidInputError
from calibration_core.fsio import MAX_LINE_BYTES, NotRegularFileError, open_regular_file

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ACTION_BUY",
    "ACTION_HOLD",
    "ACTION_MISSING",
    "ACTION_SELL",
    "CONTRADICTION_STOP_SHARE",
    "DUPLICATE_WINDOW_S",
    "FIRST_LINES_SHOWN",
    "FUTURE_TOLERANCE_S",
    "OUTCOME_LOSS",
    "OUTCOME_NEUTRAL",
    "OUTCOME_NONE",
    "OUTCOME_WIN",
    "STARVATION_HOURS",
    "Finding",
    "IntegritySummary",
    "TradeBatch",
    "find_duplicates",
    "findings_hide_lines",
    "format_findings",
    "group_line_messages",
    "read_trades",
    "refuse_future_closes",
    "robust_time_range",
    "summarize_integrity",
]


_REQUIRED = (
    "timestamp",
    "symbol",
    "side",
    "confidence",
    "entry_price",
    "exit_price",
    "actual_pnl_pct",
)
# The other dialects' names of a required field (real_system.md §1): dialect A
# and B write pnl_percent, dialect B writes action for the side.
_ALIASES: Final = {"side": "action", "actual_pnl_pct": "pnl_percent"}
# The optional fields that are read, and so checked. trade_id, model_id,
# entry_timestamp and the dialects' duration_*, strategy_id, position_size and
# exit_reason are optional and may be null; nothing here reads them: like
# unknown fields they are passed over (a NaN token in them is still reported).
_OPTIONAL_READ = (
    "model_breakdown",
    "model_predictions",
    "consensus_count",
    "calibration_version",
    "calibrated_confidence",
    "outcome_label",
    *_ALIASES.values(),
)
_CHECKED_FIELDS: Final = frozenset(_REQUIRED + _OPTIONAL_READ)
_ABSENT: Final = object()
# LONG and SHORT are the production recorder's words for BUY and SELL.
_SIDE_CODES: Final = {
    "BUY": ACTION_BUY,
    "SELL": ACTION_SELL,
    "LONG": ACTION_BUY,
    "SHORT": ACTION_SELL,
}
_SIDE_WORDS: Final = '"BUY", "SELL", "LONG" or "SHORT"'
# The producer's own outcome_label (dialects A and B), kept for `run --outcome label`.
OUTCOME_NONE: Final = -1
OUTCOME_LOSS: Final = 0
OUTCOME_WIN: Final = 1
OUTCOME_NEUTRAL: Final = 2
_OUTCOME_CODES: Final = {
    None: OUTCOME_NONE,
    "WIN": OUTCOME_WIN,
    "LOSS": OUTCOME_LOSS,
    "NEUTRAL": OUTCOME_NEUTRAL,
}
_ZONELESS_SHOWN: Final = 5
_NAIVE_EPOCH: Final = datetime(1970, 1, 1)  # noqa: DTZ001 - zone-less stamps are UTC
_MIN_TIMESTAMP_CHARS: Final = 11  # a date alone ("2026-02-09") has no time of day
# Member votes are packed into one int as ``4 * model code + action offset``.
_VOTE_OFFSETS: Final = {"HOLD": 0, "BUY": 1, "SELL": 2}
_VOTE_ACTIONS = np.array([ACTION_HOLD, ACTION_BUY, ACTION_SELL, ACTION_MISSING], dtype=np.int8)
_FLOAT_MAX: Final = sys.float_info.max
_INT16_MAX: Final = 32767
_BLOCK_BYTES: Final = 1 << 20
_MAX_LINE: Final = MAX_LINE_BYTES
_LINE_TOO_LONG: Final = f"line is longer than {MAX_LINE_BYTES // (1 << 20)} MiB (skipped)"
_SECONDS_PER_DAY: Final = 86_400.0
# A close time must stay a datetime in UTC and back: a zone like -23:59 on
# 9999-12-31 would push it past year 9999. A day of margin at each end keeps
# every conversion of an accepted time (to UTC, to local time) in range.
_EPOCH_MIN: Final = datetime(1, 1, 2, tzinfo=UTC).timestamp()
_EPOCH_MAX: Final = datetime(9999, 12, 30, tzinfo=UTC).timestamp()
# A realized return beyond a million percent is not a trade; left in, a few
# values near the float limit overflow every sum and mean to inf/NaN.
MAX_ABS_PNL_PCT: Final = 1e6


# --------------------------------------------------------------------------- values


_Scalar = TypeVar("_Scalar", bound=np.generic)


def _frozen(column: NDArray[_Scalar]) -> NDArray[_Scalar]:
    column.flags.writeable = False
    return column


# The converters copy, so a batch owns its data and never freezes a caller's array.
def _float64_array(value: ArrayLike) -> NDArray[np.float64]:
    return _frozen(np.array(value, dtype=np.float64))


def _int64_array(value: ArrayLike) -> NDArray[np.int64]:
    return _frozen(np.array(value, dtype=np.int64))


def _int32_array(value: ArrayLike) -> NDArray[np.int32]:
    return _frozen(np.array(value, dtype=np.int32))


def _int16_array(value: ArrayLike) -> NDArray[np.int16]:
    return _frozen(np.array(value, dtype=np.int16))


def _int8_array(value: ArrayLike) -> NDArray[np.int8]:
    return _frozen(np.array(value, dtype=np.int8))


def _arrays_equal(a: NDArray[Any], b: NDArray[Any]) -> bool:
    # NaN marks "absent" in the float columns, so two absent values are equal.
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


_ARRAY_EQ = attrs.cmp_using(eq=_arrays_equal)


@attrs.frozen
class TradeBatch:
    """The closed trades of one trades file as read-only numpy columns, one row per trade.

    Rows are in file order. Codes index the matching ``*_names`` tuple.
    ``model_actions`` and ``model_confidence`` have shape ``(n_trades,
    len(model_names))``; a model that did not vote on a trade has
    ``ACTION_MISSING`` and NaN there.
    """

    source: str
    line_numbers: NDArray[np.int64] = attrs.field(converter=_int64_array, eq=_ARRAY_EQ, hash=False)
    timestamps: NDArray[np.float64] = attrs.field(
        converter=_float64_array, eq=_ARRAY_EQ, hash=False
    )
    symbol_codes: NDArray[np.int32] = attrs.field(converter=_int32_array, eq=_ARRAY_EQ, hash=False)
    symbol_names: tuple[str, ...]
    sides: NDArray[np.int8] = attrs.field(converter=_int8_array, eq=_ARRAY_EQ, hash=False)
    confidence: NDArray[np.float64] = attrs.field(
        converter=_float64_array, eq=_ARRAY_EQ, hash=False
    )
    entry_price: NDArray[np.float64] = attrs.field(
        converter=_float64_array, eq=_ARRAY_EQ, hash=False
    )
    exit_price: NDArray[np.float64] = attrs.field(
        converter=_float64_array, eq=_ARRAY_EQ, hash=False
    )
    pnl_pct: NDArray[np.float64] = attrs.field(converter=_float64_array, eq=_ARRAY_EQ, hash=False)
    calibrated_confidence: NDArray[np.float64] = attrs.field(
        converter=_float64_array, eq=_ARRAY_EQ, hash=False
    )
    calibration_version_codes: NDArray[np.int32] = attrs.field(
        converter=_int32_array, eq=_ARRAY_EQ, hash=False
    )
    calibration_version_names: tuple[str, ...]
    consensus_count: NDArray[np.int16] = attrs.field(
        converter=_int16_array, eq=_ARRAY_EQ, hash=False
    )
    model_names: tuple[str, ...]
    model_actions: NDArray[np.int8] = attrs.field(converter=_int8_array, eq=_ARRAY_EQ, hash=False)
    model_confidence: NDArray[np.float64] = attrs.field(
        converter=_float64_array, eq=_ARRAY_EQ, hash=False
    )
    warnings: tuple[str, ...] = ()
    data_hash: str = ""
    partial_last_line_ignored: bool = False
    neutral_band_pct: float = attrs.field(default=NEUTRAL_PNL_BAND_PCT, converter=float)
    outcome_labels: NDArray[np.int8] = attrs.field(
        default=attrs.Factory(
            lambda self: np.full(self.line_numbers.shape[0], OUTCOME_NONE, dtype=np.int8),
            takes_self=True,
        ),
        converter=_int8_array,
        eq=_ARRAY_EQ,
        hash=False,
    )
    zoneless_count: int = 0
    zoneless_first_lines: tuple[int, ...] = ()

    def __attrs_post_init__(self) -> None:
        """Check that every column has one row per trade."""
        n = self.line_numbers.shape[0]
        shape_1d = (n,)
        shape_2d = (n, len(self.model_names))
        for name in (
            "line_numbers",
            "timestamps",
            "symbol_codes",
            "sides",
            "confidence",
            "entry_price",
            "exit_price",
            "pnl_pct",
            "calibrated_confidence",
            "calibration_version_codes",
            "consensus_count",
            "outcome_labels",
        ):
            shape = getattr(self, name).shape
            if shape != shape_1d:
                raise InvalidInputError(f"{name} must have shape {shape_1d} (got {shape})")
        for name in ("model_actions", "model_confidence"):
            shape = getattr(self, name).shape
            if shape != shape_2d:
                raise InvalidInputError(f"{name} must have shape {shape_2d} (got {shape})")

    @property
    def n_trades(self) -> int:
        """Number of trades (rows)."""
        return int(self.line_numbers.shape[0])

    @property
    def wins(self) -> NDArray[np.bool_]:
        """Mask of WIN trades: ``pnl_pct > 0``."""
        return self.pnl_pct > 0.0

    @property
    def losses(self) -> NDArray[np.bool_]:
        """Mask of LOSS trades: ``pnl_pct < 0``."""
        return self.pnl_pct < 0.0

    @property
    def neutral(self) -> NDArray[np.bool_]:
        """Mask of NEUTRAL trades: ``|pnl_pct| < neutral_band_pct`` (they are also WIN or LOSS)."""
        return np.abs(self.pnl_pct) < self.neutral_band_pct

    @property
    def has_model_breakdown(self) -> bool:
        """Whether any trade carries at least one member-model vote."""
        return bool(np.any(self.model_actions != ACTION_MISSING))

    @property
    def time_span_days(self) -> float:
        """Days from the earliest to the latest close timestamp (0.0 below 2 trades)."""
        if self.n_trades < 2:  # noqa: PLR2004 - a span needs two ends
            return 0.0
        return float(np.ptp(self.timestamps)) / _SECONDS_PER_DAY

    def symbols(self) -> tuple[str, ...]:
        """Return the symbols that occur in the rows, sorted."""
        return tuple(sorted(self.symbol_names[c] for c in np.unique(self.symbol_codes)))

    def sorted_by_time(self) -> TradeBatch:
        """Return a new batch with the rows in close-time order; ties keep file order."""
        return self.select(np.argsort(self.timestamps, kind="stable"))

    def select(self, rows: ArrayLike) -> TradeBatch:
        """Return a new batch holding only some rows.

        Parameters
        ----------
        rows : array_like of bool, shape (n_trades,), or of int, shape (k,)
            A mask, or row indices (which may reorder or repeat rows).

        Returns
        -------
        TradeBatch
            The selected rows; names, warnings and the source's hash are kept.

        Raises
        ------
        InvalidInputError
            If a mask has the wrong length, or ``rows`` is neither bool nor int.
        """
        index = np.asarray(rows)
        if index.size == 0 and index.dtype != np.bool_:
            index = index.astype(np.intp)  # [] arrives as float64
        if index.dtype == np.bool_:
            if index.shape != (self.n_trades,):
                raise InvalidInputError(
                    f"rows mask must have shape ({self.n_trades},) (got {index.shape})"
                )
        elif not np.issubdtype(index.dtype, np.integer) or index.ndim != 1:
            raise InvalidInputError(
                f"rows must be a bool mask or 1-d integer indices (got dtype {index.dtype}, "
                f"shape {index.shape})"
            )
        return attrs.evolve(
            self,
            line_numbers=self.line_numbers[index],
            timestamps=self.timestamps[index],
            symbol_codes=self.symbol_codes[index],
            sides=self.sides[index],
            confidence=self.confidence[index],
            entry_price=self.entry_price[index],
            exit_price=self.exit_price[index],
            pnl_pct=self.pnl_pct[index],
            calibrated_confidence=self.calibrated_confidence[index],
            calibration_version_codes=self.calibration_version_codes[index],
            consensus_count=self.consensus_count[index],
            model_actions=self.model_actions[index],
            model_confidence=self.model_confidence[index],
            outcome_labels=self.outcome_labels[index],
        )


# --------------------------------------------------------------------------- the contract


class _NonFinite:
    """Stands in for a NaN/Infinity token, which Python's json accepts but JSON does not."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token


class _Row(NamedTuple):
    """One accepted record, converted."""

    timestamp: float
    symbol: str
    side: int
    confidence: float
    entry_price: float
    exit_price: float
    pnl_pct: float
    calibrated_confidence: float
    calibration_version: str | None
    consensus_count: int
    votes: tuple[tuple[str, str, float], ...]
    outcome: int
    zoneless: bool
    pnl_field: str


def _json_kind(value: object) -> str:
    """Name a decoded value's JSON type, with a short excerpt of it."""
    if value is None:
        return "null"
    if isinstance(value, _NonFinite):
        return value.token
    kind = {bool: "boolean", str: "string", dict: "object", list: "array"}.get(type(value))
    kind = kind or "number"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, (dict, list)) else ""
    if len(text) > 40:  # noqa: PLR2004 - keep a message on one readable line
        text = text[:37] + "..."
    return f"{kind} {text}".rstrip()


def _number_problem(value: object, name: str) -> str | None:
    """Say why ``value`` is not a finite JSON number, or return None."""
    problem: str | None = None
    if value is None:
        problem = f"{name} is null"
    elif isinstance(value, _NonFinite):
        problem = f"{name} is {value.token} (not valid JSON)"
    elif type(value) is bool or type(value) not in (int, float):
        problem = f"{name} must be a number (got {_json_kind(value)})"
    elif not -_FLOAT_MAX <= value <= _FLOAT_MAX:  # type: ignore[operator]
        # 1e400 parses as inf and a huge integer has no float: both overflow.
        problem = f"{name} overflows a float"
    return problem


def _unit_problem(value: object, name: str) -> str | None:
    """Say why ``value`` is not a number in [0, 1], or return None."""
    problem = _number_problem(value, name)
    if problem is None and not 0.0 <= value <= 1.0:  # type: ignore[operator]
        problem = f"{name} must be in [0, 1] (got {value!r})"
    return problem


def _timestamp_problem(value: object, name: str) -> tuple[str | None, float, bool]:
    """Parse an ISO-8601 time into epoch seconds, or say why not; also say if it had no zone.

    A time without a zone (dialect B) is read as UTC.
    """
    if type(value) is not str:
        return f"{name} must be an ISO-8601 string (got {_json_kind(value)})", math.nan, False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"{name} is not ISO-8601 (got {_json_kind(value)})", math.nan, False
    zoneless = parsed.tzinfo is None
    if not zoneless:
        try:
            epoch = parsed.timestamp()
        except (ValueError, OverflowError):
            epoch = math.nan
    elif len(value) < _MIN_TIMESTAMP_CHARS:
        return f"{name} has no time of day (got {_json_kind(value)})", math.nan, False
    else:
        # Zone-less is UTC: the same arithmetic as an aware stamp's timestamp(), and faster.
        epoch = (parsed - _NAIVE_EPOCH).total_seconds()
    if not _EPOCH_MIN <= epoch <= _EPOCH_MAX:
        return (
            (
                f"{name} is out of range: in UTC it must fall between 0001-01-02 and 9999-12-30 "
                f"(got {_json_kind(value)})"
            ),
            math.nan,
            False,
        )
    return None, epoch, zoneless


def _unicode_problem(value: str, name: str) -> str | None:
    """Say why a decoded string is not valid Unicode (a lone surrogate), or return None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"{name} is not valid Unicode (lone surrogate \\u{ord(value[exc.start]):04x} "
            f"at character {exc.start + 1})"
        )
    return None


def _report_nonfinite(value: object, path: str, problems: list[str]) -> None:
    """Report every NaN/Infinity token inside ``value``, naming its dotted path."""
    if isinstance(value, _NonFinite):
        problems.append(f"{path} is {value.token} (not valid JSON)")
    elif type(value) is dict:
        for key, item in value.items():
            _report_nonfinite(item, f"{path}.{key}", problems)
    elif type(value) is list:
        for i, item in enumerate(value):
            _report_nonfinite(item, f"{path}[{i}]", problems)


def _check_vote(
    model: str, vote: object, problems: list[str], field: str = "model_breakdown"
) -> tuple[str, str, float] | None:
    """Check one member model's vote; return it as ``(model, action, confidence)`` if sound."""
    where = f"{field}.{model}"
    name_problem = (
        f"{field} has an empty model name"
        if not model
        else _unicode_problem(model, f"a {field} name")
    )
    if name_problem:
        problems.append(name_problem)
        return None
    if type(vote) is not dict:
        problems.append(f"{where} must be an object (got {_json_kind(vote)})")
        return None
    found = len(problems)
    action = vote.get("action")
    if "action" not in vote:
        problems.append(f"{where}.action is missing")
    elif type(action) is not str or action not in _VOTE_OFFSETS:
        problems.append(
            f'{where}.action must be "BUY", "SELL" or "HOLD" (got {_json_kind(action)})'
        )
    confidence = vote.get("confidence", math.nan)
    if "confidence" not in vote:
        problems.append(f"{where}.confidence is missing")
    elif problem := _unit_problem(confidence, f"{where}.confidence"):
        problems.append(problem)
    for key, value in vote.items():
        if key not in ("action", "confidence"):
            _report_nonfinite(value, f"{where}.{key}", problems)
    if len(problems) > found or type(action) is not str:
        return None
    return model, action, float(confidence)


def _field_name(record: dict[str, Any], name: str) -> str:
    """Return the key a record uses for a required field (its name, else its alias)."""
    alias = _ALIASES.get(name)
    return alias if name not in record and alias is not None and alias in record else name


def _pnl_problem(value: object, name: str) -> str | None:
    """Say why a PnL breaks its rule (a finite number within ±MAX_ABS_PNL_PCT), or None."""
    problem = _number_problem(value, name)
    if problem is None and not -MAX_ABS_PNL_PCT <= value <= MAX_ABS_PNL_PCT:  # type: ignore[operator]
        bound = f"{MAX_ABS_PNL_PCT:,.0f}"
        problem = f"{name} must be within ±{bound} percent (got {_json_kind(value)})"
    return problem


def _check_pnl(record: dict[str, Any], problems: list[str]) -> tuple[float, str]:
    """Check the PnL under either name; both present and different is an error."""
    present = [name for name in ("actual_pnl_pct", "pnl_percent") if name in record]
    found = len(problems)
    problems.extend(problem for name in present if (problem := _pnl_problem(record[name], name)))
    if len(problems) > found or not present:
        return math.nan, present[0] if present else "actual_pnl_pct"
    values = [float(record[name]) for name in present]
    if len(values) == 2 and values[0] != values[1]:  # noqa: PLR2004 - the two names
        problems.append(
            f"actual_pnl_pct ({values[0]!r}) and pnl_percent ({values[1]!r}) differ; "
            "they are one field under two names"
        )
    return values[0], present[0]


def _check_required(record: dict[str, Any], problems: list[str]) -> tuple[float, int, bool]:
    """Check the required fields; return the close time (epoch s), side code and zone-less flag."""
    for name in _REQUIRED:
        alias = _ALIASES.get(name)
        if name not in record and (alias is None or alias not in record):
            also = f" (and so is its other name {alias})" if alias else ""
            problems.append(f"{name} is missing{also}")
    epoch, side_code, zoneless = math.nan, 0, False
    if "timestamp" in record:
        problem, epoch, zoneless = _timestamp_problem(record["timestamp"], "timestamp")
        if problem:
            problems.append(problem)
    symbol = record.get("symbol", "-")
    if type(symbol) is not str:
        problems.append(f"symbol must be a string (got {_json_kind(symbol)})")
    elif not symbol:
        problems.append("symbol is empty")
    elif problem := _unicode_problem(symbol, "symbol"):
        problems.append(problem)
    side_name = _field_name(record, "side")
    side = record.get(side_name, "BUY")
    if type(side) is str and side in _SIDE_CODES:
        side_code = _SIDE_CODES[side]
    else:
        problems.append(f"{side_name} must be {_SIDE_WORDS} (got {_json_kind(side)})")
    problems.extend(
        problem
        for name in ("confidence", "entry_price", "exit_price")
        if name in record and (problem := _required_number_problem(record[name], name))
    )
    return epoch, side_code, zoneless


def _required_number_problem(value: object, name: str) -> str | None:
    """Say why a required number breaks its rule, or return None."""
    if name == "confidence":
        return _unit_problem(value, name)
    problem = _number_problem(value, name)
    if problem is None and not value > 0:  # type: ignore[operator]
        problem = f"{name} must be > 0 (got {value!r})"
    return problem


def _check_optional(
    record: dict[str, Any], problems: list[str]
) -> tuple[int, float, str | None, tuple[tuple[str, str, float], ...]]:
    """Check the optional fields that are read; return them with their absent values filled in."""
    consensus = record.get("consensus_count", -1)
    if "consensus_count" in record and (
        type(consensus) is not int or not 0 <= consensus <= _INT16_MAX
    ):
        problems.append(
            f"consensus_count must be an integer in [0, {_INT16_MAX}] (got {_json_kind(consensus)})"
        )
    calibrated = math.nan
    if "calibrated_confidence" in record:
        value = record["calibrated_confidence"]
        if problem := _unit_problem(value, "calibrated_confidence"):
            problems.append(problem)
        else:
            calibrated = float(value)
    version = record.get("calibration_version")
    if version is not None and type(version) is not str:
        problems.append(f"calibration_version must be a string or null (got {_json_kind(version)})")
    elif version is not None and (problem := _unicode_problem(version, "calibration_version")):
        problems.append(problem)
    votes: list[tuple[str, str, float]] = []
    # Dialect B calls the member votes model_predictions.
    field = "model_predictions" if "model_breakdown" not in record else "model_breakdown"
    breakdown = record.get(field, {})
    if type(breakdown) is dict:
        for model, vote in breakdown.items():
            checked = _check_vote(model, vote, problems, field)
            if checked is not None:
                votes.append(checked)
    else:
        problems.append(f"{field} must be an object (got {_json_kind(breakdown)})")
    return consensus, calibrated, version, tuple(votes)


def _check_outcome_label(record: dict[str, Any], problems: list[str]) -> int:
    """Check the producer's optional outcome_label; return its code."""
    label = record.get("outcome_label")
    if type(label) is str and label in _OUTCOME_CODES:
        return _OUTCOME_CODES[label]
    if label is not None:
        problems.append(
            f'outcome_label must be "WIN", "LOSS", "NEUTRAL" or null (got {_json_kind(label)})'
        )
    return OUTCOME_NONE


def _check_record(record: object) -> tuple[list[str], _Row | None]:
    """Check one decoded line against the format contract.

    This is the contract in code; the reader's fast path only ever takes a
    subset of what it accepts.

    Returns
    -------
    problems : list of str
        Every breach found, as a phrase naming the field, the rule and the value.
    row : _Row or None
        The converted record when there is no problem.
    """
    if type(record) is not dict:
        return [f"not a JSON object (got {_json_kind(record)})"], None
    problems: list[str] = []
    epoch, side, zoneless = _check_required(record, problems)
    pnl, pnl_field = _check_pnl(record, problems)
    consensus, calibrated, version, votes = _check_optional(record, problems)
    outcome = _check_outcome_label(record, problems)
    # A NaN/Infinity token in a field that is not read is still not JSON; the
    # fields that are read have said so already.
    for key, value in record.items():
        if key not in _CHECKED_FIELDS:
            _report_nonfinite(value, key, problems)
    if problems:
        return problems, None
    return [], _Row(
        epoch,
        record["symbol"],
        side,
        float(record["confidence"]),
        float(record["entry_price"]),
        float(record["exit_price"]),
        pnl,
        calibrated,
        version,
        consensus,
        votes,
        outcome,
        zoneless,
        pnl_field,
    )


# --------------------------------------------------------------------------- the reader


class _SlowPath(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside the hot loop when a line needs the authoritative slow path."""


# Everything the hot loop's fast path may raise on a line it does not take.
_FAST_PATH_MISSES = (
    _SlowPath,
    StopIteration,
    ValueError,
    KeyError,
    TypeError,
    RecursionError,
    OverflowError,
)
# line number, symbol, side, calibration version, consensus, number of votes, outcome label
_INT_COLUMNS = 7
_FLOAT_COLUMNS = 6  # timestamp, confidence, entry, exit, pnl, calibrated confidence
# The TradeBatch dtypes of the int columns (the vote count is only used here).
_INT_DTYPES = (np.int64, np.int32, np.int8, np.int32, np.int16, np.int64, np.int8)


def _object_hook(duplicates_seen: list[str]) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """Return the decoder's object hook: a dict, noting in ``duplicates_seen`` any repeated key."""

    def hook(pairs: list[tuple[str, Any]], dict_: type[dict[str, Any]] = dict) -> dict[str, Any]:
        # Called for every object of every line: a plain function with its
        # names bound locally, and the slow bookkeeping only on a repeat.
        record = dict_(pairs)
        if len(record) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen and key not in duplicates_seen:
                    duplicates_seen.append(key)
                seen.add(key)
        return record

    return hook


# --------------------------------------------------------------------------- the typed fast path

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
    consensus_count: Annotated[int, msgspec.Meta(ge=0, le=_INT16_MAX)] | msgspec.UnsetType = _UNSET
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


_FAST_DECODER: Final = msgspec.json.Decoder(_FastRecord)
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


def _zero_pnl_warning(name: str, lineno: int, field: str) -> str:
    """Return the warning for a PnL of exactly 0.0 (the same words on every path)."""
    return f"{name}:{lineno}: {field} is exactly 0.0 (suspect data)"


def _model_name_warning(name: str, lineno: int, model: str) -> str:
    """Return the warning for a member model whose name cannot be a config key."""
    return (
        f"{name}:{lineno}: model {model!r} cannot be a config key (names "
        f"must match {MODEL_NAME_PATTERN.pattern}), so the ensemble weights step is "
        "skipped"
    )


class _Reader:
    """Accumulates columns while lines are fed to it; ``batch()`` turns them into a TradeBatch."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[str] = []
        self.warnings: list[str] = []
        # One row is appended as 6 ints and 6 floats: two calls instead of
        # twelve, and memory that grows with the data, not with objects.
        self.ints = array.array("q")
        self.floats = array.array("d")
        # Votes are stored sparsely (a count per row, then packed codes and
        # confidences), so a model that first appears late, or skips trades,
        # costs nothing until the dense (n, M) arrays are built at the end.
        self.votes = array.array("i")
        self.vote_confidence = array.array("d")
        self.symbols: dict[str, int] = {}
        self.versions: dict[str | None, int] = {None: -1}
        self.model_bases: dict[str, int] = {}
        # Zone-less close times (dialect B) are read as UTC and reported once.
        self.zoneless = array.array("q")
        self.nonfinite_seen: list[str] = []
        # Keys repeated inside one object of the line being decoded: json keeps
        # the last silently, which would let a second "side" flip a trade.
        self.duplicates_seen: list[str] = []
        self.decoder = json.JSONDecoder(
            parse_constant=self._nonfinite,
            object_pairs_hook=_object_hook(self.duplicates_seen),
        )

    def _nonfinite(self, token: str) -> _NonFinite:
        self.nonfinite_seen.append(token)
        return _NonFinite(token)

    def report(self, lineno: int, reasons: list[str]) -> None:
        """Record the problems of one line."""
        self.problems.append(f"{self.name}:{lineno}: {'; '.join(reasons)}")

    def parses(self, line: str) -> bool:
        """Whether ``line`` is one complete JSON value."""
        try:
            self.decoder.decode(line)
        except (ValueError, RecursionError):
            parsed = False
        else:
            parsed = True
        self.nonfinite_seen.clear()
        self.duplicates_seen.clear()
        return parsed

    def feed(self, lines: list[str], lineno: int) -> None:  # noqa: C901, PLR0912, PLR0915
        """Check and append ``lines``, the first of which is line ``lineno + 1``."""
        # Everything the loop touches is bound to a local: attribute and
        # global look-ups are a measurable share of the per-line cost.
        scan = self.decoder.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__
        nonfinite_seen = self.nonfinite_seen
        duplicates_seen = self.duplicates_seen
        epoch_min, epoch_max = _EPOCH_MIN, _EPOCH_MAX
        pnl_max = MAX_ABS_PNL_PCT
        fromiso = datetime.fromisoformat
        fmax = _FLOAT_MAX
        int16_max = _INT16_MAX
        nan = math.nan
        absent = _ABSENT
        side_codes = _SIDE_CODES
        outcome_codes = _OUTCOME_CODES
        vote_offsets = _VOTE_OFFSETS
        naive_epoch = _NAIVE_EPOCH
        symbols, versions, model_bases = self.symbols, self.versions, self.model_bases
        warnings = self.warnings
        zoneless_append = self.zoneless.append
        ints_extend = self.ints.extend
        floats_extend = self.floats.extend
        votes, vote_confidence = self.votes, self.vote_confidence
        vote_append, vconf_append = votes.append, vote_confidence.append
        n_votes = len(votes)

        for line in lines:
            lineno += 1
            # The fast path: the common, clean record. Any doubt raises one of
            # _FAST_PATH_MISSES (a dict subscript that misses, a comparison
            # with a non-number, fromisoformat on a non-string, a new symbol or
            # model) and the line goes to the slow path, which decides.
            try:
                record, end = scan(line, 0)
                if end != len(line) or nonfinite_seen or duplicates_seen:
                    raise _SlowPath
                text = record["timestamp"]
                stamp = fromiso(text)
                zoneless = stamp.tzinfo is None
                if zoneless:
                    if len(text) < _MIN_TIMESTAMP_CHARS:
                        raise _SlowPath
                    epoch = (stamp - naive_epoch).total_seconds()
                else:
                    epoch = stamp.timestamp()
                if not epoch_min <= epoch <= epoch_max:
                    raise _SlowPath
                get = record.get
                symbol = symbols[record["symbol"]]
                side = get("side", absent)
                side = side_codes[record["action"] if side is absent else side]
                conf = record["confidence"]
                entry = record["entry_price"]
                exit_ = record["exit_price"]
                pnl = get("actual_pnl_pct", absent)
                if pnl is absent:
                    pnl = record["pnl_percent"]
                    pnl_field = "pnl_percent"
                elif "pnl_percent" in record:
                    raise _SlowPath  # both names: the slow path compares them
                else:
                    pnl_field = "actual_pnl_pct"
                outcome = outcome_codes[get("outcome_label")]
                if not (
                    type(conf) is float
                    and 0.0 <= conf <= 1.0
                    and type(entry) is float
                    and 0.0 < entry <= fmax
                    and type(exit_) is float
                    and 0.0 < exit_ <= fmax
                    and type(pnl) is float
                    and -pnl_max <= pnl <= pnl_max
                ):
                    raise _SlowPath
                consensus = get("consensus_count", absent)
                if consensus is absent:
                    consensus = -1
                elif type(consensus) is not int or not 0 <= consensus <= int16_max:
                    raise _SlowPath
                calibrated = get("calibrated_confidence", absent)
                if calibrated is absent:
                    calibrated = nan
                elif type(calibrated) is not float or not 0.0 <= calibrated <= 1.0:
                    raise _SlowPath
                version = versions[get("calibration_version")]
                breakdown = get("model_breakdown", absent)
                if breakdown is absent:
                    breakdown = get("model_predictions", absent)
                row_votes = 0
                if breakdown is not absent:
                    if type(breakdown) is not dict:
                        raise _SlowPath
                    for model, vote in breakdown.items():
                        vconf = vote["confidence"]
                        if type(vconf) is not float or not 0.0 <= vconf <= 1.0:
                            raise _SlowPath
                        vote_append(model_bases[model] + vote_offsets[vote["action"]])
                        vconf_append(vconf)
                    row_votes = len(breakdown)
            except _FAST_PATH_MISSES:
                # Undo the votes this line appended before its miss.
                if len(votes) != n_votes:
                    del votes[n_votes:]
                    del vote_confidence[n_votes:]
                nonfinite_seen.clear()
                duplicates_seen.clear()
                n_votes += self._feed_slow(line, lineno)
                continue
            n_votes += row_votes
            ints_extend((lineno, symbol, side, version, consensus, row_votes, outcome))
            floats_extend((epoch, conf, entry, exit_, pnl, calibrated))
            if zoneless:
                zoneless_append(lineno)
            if pnl == 0.0:
                warnings.append(_zero_pnl_warning(self.name, lineno, pnl_field))

    def _decode_slow(self, line: str) -> tuple[str | None, object]:
        """Decode one line, or say why it is not one JSON value without repeated keys."""
        problem: str | None = None
        record: object = None
        if not line.strip():
            problem = "blank line"
        elif line.startswith("\ufeff"):
            problem = "not valid JSON (starts with a byte-order mark, U+FEFF)"
        else:
            try:
                record = self.decoder.decode(line)
            except json.JSONDecodeError as exc:
                # json's own messages may end in "at" ("Unterminated string starting at").
                problem = f"not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"
            except RecursionError:
                problem = "not valid JSON (nested too deeply)"
            except ValueError:
                # int() refuses a literal of more than sys.get_int_max_str_digits() digits.
                limit = sys.get_int_max_str_digits()
                problem = f"not valid JSON (a number has more than {limit} digits)"
            finally:
                self.nonfinite_seen.clear()
                duplicates = list(self.duplicates_seen)
                self.duplicates_seen.clear()
            if problem is None and duplicates:
                problem = "; ".join(f"duplicate key {key!r}" for key in duplicates)
        return problem, record

    def _feed_slow(self, line: str, lineno: int) -> int:
        """Check and append one line the fast path did not take; return how many votes it added."""
        problem, record = self._decode_slow(line)
        if problem is not None:
            self.report(lineno, [problem])
            return 0
        reasons, row = _check_record(record)
        if row is None:
            self.report(lineno, reasons)
            return 0
        symbol = self.symbols.setdefault(row.symbol, len(self.symbols))
        version = self.versions.setdefault(row.calibration_version, len(self.versions) - 1)
        for model, action, confidence in row.votes:
            if model not in self.model_bases and not MODEL_NAME_PATTERN.fullmatch(model):
                self.warnings.append(_model_name_warning(self.name, lineno, model))
            base = self.model_bases.setdefault(model, 4 * len(self.model_bases))
            self.votes.append(base + _VOTE_OFFSETS[action])
            self.vote_confidence.append(confidence)
        self.ints.extend(
            (lineno, symbol, row.side, version, row.consensus_count, len(row.votes), row.outcome)
        )
        if row.zoneless:
            self.zoneless.append(lineno)
        self.floats.extend(
            (
                row.timestamp,
                row.confidence,
                row.entry_price,
                row.exit_price,
                row.pnl_pct,
                row.calibrated_confidence,
            )
        )
        if row.pnl_pct == 0.0:
            self.warnings.append(_zero_pnl_warning(self.name, lineno, row.pnl_field))
        return len(row.votes)

    def feed_fast(self, block: bytes, lineno: int) -> bool:  # noqa: C901, PLR0911, PLR0912, PLR0915
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
            records = list(map(_FAST_DECODER.decode, raw_lines))
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
                a is not unset and p is not unset
                for a, p in zip(actual_col, percent_col, strict=True)
            ):
                return False
            pnl_col = [p if a is unset else a for a, p in zip(actual_col, percent_col, strict=True)]
            pnl_fields = ["pnl_percent" if a is unset else "actual_pnl_pct" for a in actual_col]
            if unset in pnl_col:
                return False
        floats = np.empty((n, _FLOAT_COLUMNS), dtype=np.float64)
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
                    zone is None and len(text) < _MIN_TIMESTAMP_CHARS
                    for zone, text in zip(zones, stamps, strict=True)
                ):
                    return False
                naive = _NAIVE_EPOCH
                epochs = [
                    (stamp - naive).total_seconds() if zone is None else stamp.timestamp()
                    for stamp, zone in zip(parsed, zones, strict=True)
                ]
            else:
                epochs = list(map(datetime.timestamp, parsed))
        except (ValueError, OverflowError):
            return False
        floats[:, 0] = epochs
        if not np.all((floats[:, 0] >= _EPOCH_MIN) & (floats[:, 0] <= _EPOCH_MAX)):
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
        new_models = [m for m in dict.fromkeys(model_names) if m not in self.model_bases]
        if "" in new_models:
            return False  # an empty model name is a problem
        # Nothing can fail from here on: record the block.
        symbols = self.symbols
        for symbol in dict.fromkeys(symbol_col):
            symbols.setdefault(symbol, len(symbols))
        versions = self.versions
        for version in dict.fromkeys(version_col):
            if version is not None and version is not unset:
                versions.setdefault(version, len(versions) - 1)
        line_numbers = np.arange(lineno + 1, lineno + n + 1, dtype=np.int64)
        ints = np.empty((n, _INT_COLUMNS), dtype=np.int64)
        ints[:, 0] = line_numbers
        ints[:, 1] = list(map(symbols.__getitem__, symbol_col))
        ints[:, 2] = list(map(_SIDE_CODES.__getitem__, side_col))
        version_codes: dict[object, int] = {key: code for key, code in versions.items()}  # noqa: C416 - widens the key type
        version_codes[unset] = -1
        ints[:, 3] = list(map(version_codes.__getitem__, version_col))
        ints[:, 4] = (
            tuple(-1 if c is unset else c for c in consensus_col)
            if consensus_col.count(unset) != n
            else -1
        )
        ints[:, 5] = vote_counts
        outcome_codes: dict[object, int] = {key: code for key, code in _OUTCOME_CODES.items()}  # noqa: C416 - widens the key type
        outcome_codes[unset] = OUTCOME_NONE
        ints[:, 6] = list(map(outcome_codes.__getitem__, outcome_col))
        self.ints.frombytes(ints.tobytes())
        self.floats.frombytes(floats.tobytes())
        block_warnings: list[tuple[int, str]] = []
        if model_names:
            model_bases = self.model_bases
            if new_models:
                vote_rows = np.repeat(np.arange(n), vote_counts)
                for model in new_models:
                    model_bases[model] = 4 * len(model_bases)
                    if not MODEL_NAME_PATTERN.fullmatch(model):
                        first = lineno + 1 + int(vote_rows[model_names.index(model)])
                        block_warnings.append((first, _model_name_warning(self.name, first, model)))
            cast = list(chain(map(dict.values, votes_col)))
            packed = np.add(
                list(map(model_bases.__getitem__, model_names)),
                list(map(_VOTE_OFFSETS.__getitem__, map(_VOTE_ACTION, cast))),
                dtype=np.int32,
            )
            self.votes.frombytes(packed.tobytes())
            vote_confidence = np.array(list(map(_VOTE_CONFIDENCE, cast)), dtype=np.float64)
            self.vote_confidence.frombytes(vote_confidence.tobytes())
        if None in zones:
            self.zoneless.extend(lineno + 1 + i for i, zone in enumerate(zones) if zone is None)
        for i in np.flatnonzero(floats[:, 4] == 0.0).tolist():
            field = (
                pnl_fields[i]
                if pnl_fields is not None
                else ("actual_pnl_pct" if pnl_col is actual_col else "pnl_percent")
            )
            block_warnings.append(
                (lineno + 1 + i, _zero_pnl_warning(self.name, lineno + 1 + i, field))
            )
        # In line order; on one line a model's name comes before its PnL (a stable sort).
        block_warnings.sort(key=operator.itemgetter(0))
        self.warnings.extend(text for _, text in block_warnings)
        return True

    def feed_block(self, block: bytes, lineno: int) -> int:
        """Feed the lines of ``block``, which ends with a newline; return the last line number."""
        if self.feed_fast(block, lineno):
            return lineno + block.count(b"\n")
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            # Rare: find the bad lines one by one so the others are still checked.
            for raw in block.split(b"\n")[:-1]:
                lineno += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.report(lineno, [f"not valid UTF-8 (byte {exc.start + 1})"])
                else:
                    self.feed([line], lineno - 1)
            return lineno
        lines = text.split("\n")
        lines.pop()  # the empty string after the block's final newline
        self.feed(lines, lineno)
        return lineno + len(lines)

    def batch(
        self, *, source: str, data_hash: str, partial: bool, neutral_band_pct: float
    ) -> TradeBatch:
        """Build the TradeBatch from the accumulated columns; the reader is emptied.

        Each row-packed buffer is released as soon as its columns are copied
        out, so the peak holds the columns about twice, not three times.
        """
        ints = np.frombuffer(self.ints, dtype=np.int64).reshape(-1, _INT_COLUMNS)
        n, m = ints.shape[0], len(self.model_bases)
        int_columns = [ints[:, j].astype(dtype) for j, dtype in enumerate(_INT_DTYPES)]
        del ints
        self.ints = array.array("q")
        floats = np.frombuffer(self.floats, dtype=np.float64).reshape(-1, _FLOAT_COLUMNS)
        float_columns = [floats[:, j].copy() for j in range(_FLOAT_COLUMNS)]
        del floats
        self.floats = array.array("d")
        packed = np.frombuffer(self.votes, dtype=np.int32)
        rows = np.repeat(np.arange(n, dtype=np.intp), int_columns[5])
        models = packed // 4
        model_actions = np.full((n, m), ACTION_MISSING, dtype=np.int8)
        model_actions[rows, models] = _VOTE_ACTIONS[packed % 4]
        del packed
        self.votes = array.array("i")
        model_confidence = np.full((n, m), np.nan)
        model_confidence[rows, models] = np.frombuffer(self.vote_confidence, dtype=np.float64)
        del rows, models
        self.vote_confidence = array.array("d")
        versions = [v for v in self.versions if v is not None]
        return TradeBatch(
            source=source,
            line_numbers=int_columns[0],
            timestamps=float_columns[0],
            symbol_codes=int_columns[1],
            symbol_names=tuple(self.symbols),
            sides=int_columns[2],
            confidence=float_columns[1],
            entry_price=float_columns[2],
            exit_price=float_columns[3],
            pnl_pct=float_columns[4],
            calibrated_confidence=float_columns[5],
            calibration_version_codes=int_columns[3],
            calibration_version_names=tuple(versions),
            consensus_count=int_columns[4],
            model_names=tuple(self.model_bases),
            model_actions=model_actions,
            model_confidence=model_confidence,
            warnings=tuple(self.warnings),
            data_hash=data_hash,
            partial_last_line_ignored=partial,
            neutral_band_pct=neutral_band_pct,
            outcome_labels=int_columns[6],
            zoneless_count=len(self.zoneless),
            zoneless_first_lines=tuple(self.zoneless[:_ZONELESS_SHOWN]),
        )


def _no_progress(done: int) -> None:
    del done  # nobody is watching


def _ingest(
    fd: int, size: int, reader: _Reader, progress: Callable[[int], None] = _no_progress
) -> tuple[str, bool]:
    """Feed the first ``size`` bytes of ``fd`` to ``reader``; return the data hash and partial flag.

    ``size`` is the file's size when it was opened: bytes appended while the
    file is read are left for the next run. A line longer than
    ``MAX_LINE_BYTES`` is a numbered problem and is skipped without being held
    in memory.
    """
    hasher = hashlib.sha256()
    # The start of a line that continues in the next block. Pieces are joined
    # once the line's newline arrives, so a very long line costs linear time.
    pending: list[bytes] = []
    pending_bytes = 0
    too_long = False  # inside a line already known to be over the limit
    lineno = 0
    remaining = size
    while remaining > 0 and (block := os.read(fd, min(_BLOCK_BYTES, remaining))):
        remaining -= len(block)
        progress(size - remaining)
        start = 0
        first = block.find(b"\n")
        if (too_long or pending) and first >= 0 and (too_long or pending_bytes + first > _MAX_LINE):
            # The line carried over from earlier blocks ends here, over the limit.
            lineno += 1
            reader.report(lineno, [_LINE_TOO_LONG])
            pending, pending_bytes, too_long, start = [], 0, False, first + 1
        cut = block.rfind(b"\n") + 1
        if cut <= start:  # no newline in the rest of the block
            if not too_long:
                pending.append(block[start:] if start else block)
                pending_bytes += len(block) - start
                if pending_bytes > _MAX_LINE:
                    pending, pending_bytes, too_long = [], 0, True
            continue
        piece = block[start:cut] if start or cut < len(block) else block
        complete = b"".join([*pending, piece]) if pending else piece
        pending = [block[cut:]] if cut < len(block) else []
        pending_bytes = len(block) - cut
        hasher.update(complete)
        lineno = reader.feed_block(complete, lineno)
    partial = False
    if too_long:
        reader.report(lineno + 1, [_LINE_TOO_LONG])
        return f"sha256:{hasher.hexdigest()}", partial
    tail = b"".join(pending)
    if tail:
        # No newline at the end: a complete record is a trade like any other,
        # anything else is the producer's half-written line.
        try:
            text: str | None = tail.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and reader.parses(text):
            hasher.update(tail)
            reader.feed([text], lineno)
        else:
            partial = True
            reader.warnings.append(
                f"{reader.name}:{lineno + 1}: partial last line ignored "
                "(producer may still be writing)"
            )
    return f"sha256:{hasher.hexdigest()}", partial


def read_trades(
    path: str | os.PathLike[str],
    *,
    neutral_band_pct: float = NEUTRAL_PNL_BAND_PCT,
    progress: Callable[[int], None] | None = None,
) -> TradeBatch:
    """Read a ``clm_trades.jsonl`` file into a TradeBatch, checking every line.

    The file is streamed in blocks into typed columns, so memory grows with
    the column data, not with Python objects.

    Parameters
    ----------
    path : str or os.PathLike
        The trades file. Messages name it by its base name.
    neutral_band_pct : float, optional
        Half-width of the NEUTRAL band on ``actual_pnl_pct``, in percent.
    progress : callable, optional
        Called with the number of bytes read so far after each block (the CLI's
        progress bar on a terminal).

    Returns
    -------
    TradeBatch
        One row per trade, in file order. Its ``warnings`` hold lines that are
        suspect but not wrong (``actual_pnl_pct`` exactly 0.0) and a partial last
        line, which is ignored. An empty file gives an empty batch;
        `summarize_integrity` says what that is missing.

    Raises
    ------
    DataIntegrityError
        If the file cannot be read, or after the whole file has been read, if
        any line breaks the format contract. ``problems`` then holds one entry
        per bad line, ``"clm_trades.jsonl:812: exit_price is null"``, and the
        message is the first one plus how many more there are.
    InvalidInputError
        If ``neutral_band_pct`` is negative or not finite.

    Notes
    -----
    ``data_hash`` is ``"sha256:<hex>"`` of exactly the bytes read as trades,
    which excludes an ignored partial last line, so the hash names the data a
    proposal was computed from.

    A blank line is a problem, except that the file may (and normally does) end
    with a newline. A last line without a newline is a trade if it is complete
    JSON, and ignored with a warning if it is not.
    """
    if not (math.isfinite(neutral_band_pct) and neutral_band_pct >= 0.0):
        raise InvalidInputError(
            f"neutral_band_pct must be a finite number >= 0 (got {neutral_band_pct!r})"
        )
    source = os.fspath(path)
    file = Path(source)
    reader = _Reader(file.name or source)
    try:
        fd, size = open_regular_file(file)
        try:
            data_hash, partial = _ingest(fd, size, reader, progress or _no_progress)
        finally:
            os.close(fd)
    except FileNotFoundError as exc:
        raise DataIntegrityError(f"trades file not found: {source}") from exc
    except (IsADirectoryError, NotRegularFileError) as exc:
        if isinstance(exc, IsADirectoryError) or exc.kind == "a directory":
            raise DataIntegrityError(f"trades file is a directory: {source}") from exc
        raise DataIntegrityError(
            f"trades file is not a regular file: {source} (it is {exc.kind}); "
            "point --data at the trades file itself"
        ) from exc
    except PermissionError as exc:
        raise DataIntegrityError(
            f"trades file is not readable: {source} (permission denied)"
        ) from exc
    except OSError as exc:
        raise DataIntegrityError(
            f"cannot read trades file {source}: {exc.strerror or exc}"
        ) from exc
    if reader.problems:
        problems = tuple(reader.problems)
        more = len(problems) - 1
        message = problems[0]
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise DataIntegrityError(message, problems=problems)
    return reader.batch(
        source=source, data_hash=data_hash, partial=partial, neutral_band_pct=neutral_band_pct
    )


# --------------------------------------------------------------------------- dataset level


# The pathologies of real_system.md §2 (issue 9 §2).
DUPLICATE_WINDOW_S: Final = 60.0
FUTURE_TOLERANCE_S: Final = 300.0
STARVATION_HOURS: Final = 2.0
CONTRADICTION_STOP_SHARE: Final = 0.10
FIRST_LINES_SHOWN: Final = 5
_MAX_GROUPS_SHOWN: Final = 12
_ROBUST_MIN_TRADES: Final = 3


@attrs.frozen
class Finding:
    """One kind of integrity problem: its one-line message, how many records, which lines.

    ``lines`` holds every line number concerned (for ``--json`` and the
    problems file); ``pairs`` holds ``(repeat, original)`` line pairs for
    duplicated records. ``stop`` findings refuse the run; the others warn.
    """

    kind: str
    stop: bool
    message: str
    count: int
    lines: tuple[int, ...] = ()
    pairs: tuple[tuple[int, int], ...] = ()

    def first_lines_text(self) -> str:
        """Return ``"lines 2↔1, 4↔3, …"`` or ``"lines 3, 8, …"`` for the first few records."""
        if self.pairs:
            shown = [f"{a}↔{b}" for a, b in self.pairs[:FIRST_LINES_SHOWN]]
            more = len(self.pairs) > FIRST_LINES_SHOWN
        else:
            shown = [str(n) for n in self.lines[:FIRST_LINES_SHOWN]]
            more = max(len(self.lines), self.count) > len(shown)
        if not shown:
            return ""
        return (
            f"line{'s' if len(shown) > 1 or more else ''} {', '.join(shown)}{', …' if more else ''}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready finding with the full list of lines."""
        return {
            "kind": self.kind,
            "stop": self.stop,
            "message": self.message,
            "count": self.count,
            "lines": list(self.lines),
            "pairs": [list(p) for p in self.pairs],
        }


@attrs.frozen
class IntegritySummary:
    """What the checklist's data-integrity step (phase 0.2) found in a TradeBatch.

    ``problems`` are dataset-level failures that stop a calibration run;
    ``warnings`` are the batch's suspect lines and the warning findings. Rates
    are shares of all trades (0.0 for an empty batch); NEUTRAL trades also
    count as WIN or LOSS. ``findings`` group the pathologies by kind;
    ``starvation`` says why the data is starved (newest close older than
    ``STARVATION_HOURS``), which refuses ``run`` unless forced. The
    ``label_*`` counts follow the producer's ``outcome_label`` where present.
    """

    source: str
    data_hash: str
    n_trades: int
    n_symbols: int
    symbols: tuple[str, ...]
    wins: int
    losses: int
    neutral: int
    zero_pnl: int
    win_rate: float
    loss_rate: float
    neutral_rate: float
    first_timestamp: str | None
    last_timestamp: str | None
    span_days: float
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    zoneless_count: int = 0
    zoneless_first_lines: tuple[int, ...] = ()
    duplicates_dropped: int = 0
    newest_age_hours: float | None = None
    starvation: str | None = None
    labelled: int = 0
    label_wins: int = 0
    label_losses: int = 0
    label_neutral: int = 0

    @property
    def ok(self) -> bool:
        """Whether the dataset passes phase 0.2 (no problems; warnings allowed)."""
        return not self.problems

    @property
    def cadence_win_rate(self) -> float | None:
        """The cadence service's win rate, WIN / (WIN + LOSS) by ``outcome_label``."""
        decided = self.label_wins + self.label_losses
        return self.label_wins / decided if decided else None

    @property
    def label_win_rate(self) -> float | None:
        """Share of labelled trades whose ``outcome_label`` is WIN (NEUTRAL counts as not won)."""
        return self.label_wins / self.labelled if self.labelled else None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def robust_time_range(timestamps: ArrayLike) -> tuple[float, float] | None:
    """Return the oldest and newest close times that one outlier cannot move.

    With three or more trades these are the second-oldest and second-newest
    close, so a single stray timestamp (a 1970 or a far-future stamp) cannot
    stretch a span or hide the age of the data; below three, the plain range.
    None without trades.
    """
    stamps = np.asarray(timestamps, dtype=np.float64)
    n = stamps.size
    if n == 0:
        return None
    if n < _ROBUST_MIN_TRADES:
        return float(stamps.min()), float(stamps.max())
    part = np.partition(stamps, (1, n - 2))
    return float(part[1]), float(part[n - 2])


def find_duplicates(batch: TradeBatch) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Find records that repeat an earlier one: same symbol, side, prices and PnL within 60 s.

    Parameters
    ----------
    batch : TradeBatch
        The trades as read (any order).

    Returns
    -------
    repeats : ndarray of bool, shape (n_trades,)
        True on every repeat; the first record of each run of repeats is False,
        so ``batch.select(~repeats)`` keeps it.
    pairs : ndarray of int64, shape (k, 2)
        ``(repeat line, line it repeats)``, in the repeats' line order.

    Notes
    -----
    Records with equal keys are ordered by close time (then line); each one
    closed within ``DUPLICATE_WINDOW_S`` of the previous copy repeats it.
    """
    n = batch.n_trades
    repeats = np.zeros(n, dtype=np.bool_)
    if n < 2:  # noqa: PLR2004 - a repeat needs two records
        return repeats, np.empty((0, 2), dtype=np.int64)
    keys = (
        batch.symbol_codes,
        batch.sides,
        batch.entry_price,
        batch.exit_price,
        batch.pnl_pct,
    )
    order = np.lexsort((batch.line_numbers, batch.timestamps, *reversed(keys)))
    same = np.diff(batch.timestamps[order]) <= DUPLICATE_WINDOW_S
    for column in keys:
        ordered = column[order]
        same &= ordered[1:] == ordered[:-1]
    later, earlier = order[1:][same], order[:-1][same]
    repeats[later] = True
    pairs = np.column_stack((batch.line_numbers[later], batch.line_numbers[earlier]))
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    return repeats, pairs


def _duplicate_finding(batch: TradeBatch) -> Finding | None:
    repeats, pairs = find_duplicates(batch)
    count = int(repeats.sum())
    if not count:
        return None
    pair_tuples = tuple((int(a), int(b)) for a, b in pairs.tolist())
    return Finding(
        kind="duplicates",
        stop=True,
        message=(
            f"{_plural(count, 'record')} repeat an earlier one (same symbol, side, prices and "
            f"PnL, closed within {DUPLICATE_WINDOW_S:.0f} s); "
            "`run --drop-duplicates` keeps the first of each"
        ),
        count=count,
        lines=tuple(a for a, _ in pair_tuples),
        pairs=pair_tuples,
    )


def _contradiction_finding(batch: TradeBatch) -> Finding | None:
    move = np.sign(batch.exit_price - batch.entry_price)
    outcome = np.sign(batch.pnl_pct)
    contradicts = batch.sides.astype(np.float64) * move * outcome < 0.0
    count = int(contradicts.sum())
    if not count:
        return None
    nonzero = int(np.count_nonzero(batch.pnl_pct))
    share = count / nonzero if nonzero else 1.0
    stop = share >= CONTRADICTION_STOP_SHARE
    verdict = (
        f"at least {CONTRADICTION_STOP_SHARE:.0%}: the side cannot be trusted"
        if stop
        else f"below the {CONTRADICTION_STOP_SHARE:.0%} stop"
    )
    return Finding(
        kind="side_contradicts_pnl",
        stop=stop,
        message=(
            f"{_plural(count, 'trade')} ({share:.1%} of the {nonzero} with a nonzero PnL) "
            f"carry a side that contradicts their prices and PnL ({verdict})"
        ),
        count=count,
        lines=tuple(batch.line_numbers[contradicts].tolist()),
    )


def _future_finding(batch: TradeBatch, now: float) -> Finding | None:
    future = batch.timestamps > now + FUTURE_TOLERANCE_S
    count = int(future.sum())
    if not count:
        return None
    latest = _iso_utc(float(batch.timestamps[future].max()))
    return Finding(
        kind="future_close",
        stop=True,
        message=(
            f"{_plural(count, 'trade')} closed more than {FUTURE_TOLERANCE_S / 60:.0f} min "
            f"in the future (latest {latest}): a clock or producer error"
        ),
        count=count,
        lines=tuple(batch.line_numbers[future].tolist()),
    )


def _zoneless_finding(batch: TradeBatch) -> Finding | None:
    if not batch.zoneless_count:
        return None
    return Finding(
        kind="zoneless_timestamp",
        stop=False,
        message=(
            f"{_plural(batch.zoneless_count, 'timestamp')} without a zone, read as UTC "
            "(dialect B writes them)"
        ),
        count=batch.zoneless_count,
        lines=batch.zoneless_first_lines,
    )


def _spread_finding(batch: TradeBatch) -> Finding | None:
    # Imported here: analysis is the pure core's big module, and trades is imported
    # by jobs that never need it.
    from calibration_core.core.proposal import confidence_spread_problem  # noqa: PLC0415

    problem = confidence_spread_problem(batch.confidence)
    if problem is None:
        return None
    return Finding(
        kind="no_confidence_spread",
        stop=False,
        message=f"{problem}: no confidence map will be proposed (weights may still be)",
        count=batch.n_trades,
    )


def refuse_future_closes(batch: TradeBatch, now: float) -> None:
    """Raise DataIntegrityError when a close lies more than 5 min after ``now``.

    ``monitor`` and ``compare`` call it so that one far-future stamp cannot
    fall into a window or a "most recent" selection.

    Raises
    ------
    DataIntegrityError
        With the finding's one-line message, its first lines, and every line.
    """
    finding = _future_finding(batch, now)
    if finding is not None:
        name = Path(batch.source).name or batch.source
        raise DataIntegrityError(
            f"{batch.source}: {finding.message} ({finding.first_lines_text()})",
            problems=tuple(f"{name}:{n}: closed in the future" for n in finding.lines),
            shown=(),
        )


def _hours_text(hours: float) -> str:
    # Hours up to two days, then days, as format_age does.
    return f"{hours:.1f} h" if hours < 48.0 else f"{hours / 24.0:.1f} days"  # noqa: PLR2004


def summarize_integrity(
    batch: TradeBatch, *, now: float | None = None, duplicates_dropped: int = 0
) -> IntegritySummary:
    """Summarise a TradeBatch and check the dataset-level rules of phase 0.2.

    Parameters
    ----------
    batch : TradeBatch
        The trades as read.
    now : float, optional
        The current time (epoch seconds). With it, closes in the future stop
        the run and a newest close older than ``STARVATION_HOURS`` is
        starvation; without it neither is judged.
    duplicates_dropped : int, optional
        How many repeated records ``run --drop-duplicates`` removed before
        this summary; recorded as it is.

    Returns
    -------
    IntegritySummary
        Counts, rates, time range, the dataset-level problems and the findings.

    Notes
    -----
    The rules: at least ``MIN_TRADES_FOR_CALIBRATION`` trades, at least 2
    symbols, at least 1 WIN (PnL > 0) and at least 1 LOSS (PnL < 0). Stops:
    repeated records, a close more than 5 min in the future, and sides that
    contradict prices and PnL on at least 10 % of the trades with a nonzero
    PnL (fewer is a warning). The span and the newest close's age use
    :func:`robust_time_range`, so one outlier timestamp cannot move them.
    Line-level rules were enforced by `read_trades`. Every check is a
    vectorised pass over the columns.
    """
    n = batch.n_trades
    symbols = batch.symbols()
    wins = int(np.count_nonzero(batch.wins))
    losses = int(np.count_nonzero(batch.losses))
    neutral = int(np.count_nonzero(batch.neutral))
    problems = []
    if n < MIN_TRADES_FOR_CALIBRATION:
        problems.append(
            f"only {_plural(n, 'trade')}; at least {MIN_TRADES_FOR_CALIBRATION} are required"
        )
    if len(symbols) < 2:  # noqa: PLR2004 - the checklist's "minst 2 symbols"
        named = f" ({', '.join(symbols)})" if symbols else ""
        problems.append(f"only {_plural(len(symbols), 'symbol')}{named}; at least 2 are required")
    if wins == 0:
        problems.append("no WIN trade (PnL > 0); at least 1 is required")
    if losses == 0:
        problems.append("no LOSS trade (PnL < 0); at least 1 is required")
    found = [
        _duplicate_finding(batch),
        _future_finding(batch, now) if now is not None else None,
        _contradiction_finding(batch),
        _spread_finding(batch),
        _zoneless_finding(batch),
    ]
    findings = tuple(f for f in found if f is not None)
    problems.extend(f.message for f in findings if f.stop)
    robust = robust_time_range(batch.timestamps)
    newest_age = (now - robust[1]) / 3600.0 if robust is not None and now is not None else None
    starvation = None
    if newest_age is not None and newest_age > STARVATION_HOURS and now is not None:
        latest_age = (now - float(np.max(batch.timestamps))) / 3600.0
        if latest_age > STARVATION_HOURS:
            starvation = (
                f"SimpleCLM STARVATION: the newest close is {_hours_text(latest_age)} old "
                f"(no trade for more than {STARVATION_HOURS:.0f} h)"
            )
        else:
            # One close cannot move an age (issue 11): a lone fresh stamp is not yet
            # a recorder that works again, and the message says exactly that.
            starvation = (
                f"SimpleCLM STARVATION: only one close in the last {STARVATION_HOURS:.0f} h; "
                f"the one before it is {_hours_text(newest_age)} old (waiting for a second close)"
            )
    labels = batch.outcome_labels
    return IntegritySummary(
        source=batch.source,
        data_hash=batch.data_hash,
        n_trades=n,
        n_symbols=len(symbols),
        symbols=symbols,
        wins=wins,
        losses=losses,
        neutral=neutral,
        zero_pnl=int(np.count_nonzero(batch.pnl_pct == 0.0)),
        win_rate=wins / n if n else 0.0,
        loss_rate=losses / n if n else 0.0,
        neutral_rate=neutral / n if n else 0.0,
        first_timestamp=_iso_utc(float(batch.timestamps.min())) if n else None,
        last_timestamp=_iso_utc(float(batch.timestamps.max())) if n else None,
        span_days=(robust[1] - robust[0]) / _SECONDS_PER_DAY if robust is not None else 0.0,
        problems=tuple(problems),
        warnings=batch.warnings + tuple(f.message for f in findings if not f.stop),
        findings=findings,
        zoneless_count=batch.zoneless_count,
        zoneless_first_lines=batch.zoneless_first_lines,
        duplicates_dropped=duplicates_dropped,
        newest_age_hours=newest_age,
        starvation=starvation,
        labelled=int(np.count_nonzero(labels != OUTCOME_NONE)),
        label_wins=int(np.count_nonzero(labels == OUTCOME_WIN)),
        label_losses=int(np.count_nonzero(labels == OUTCOME_LOSS)),
        label_neutral=int(np.count_nonzero(labels == OUTCOME_NEUTRAL)),
    )


# --------------------------------------------------------------------------- short output

_LINE_PREFIX = re.compile(r"^(?P<name>.*?):(?P<line>\d+): (?P<reason>.*)$")
_GOT = re.compile(r" \(got .*\)$| at column \d+")


def group_line_messages(messages: Sequence[str], *, stop: bool) -> tuple[Finding, ...]:
    """Group ``file:line: reason`` messages by reason (values left out), in first-seen order.

    A line with several reasons (``a; b``) counts under each. Messages
    without a line number are a group of their own.
    """
    groups: dict[str, list[int]] = {}
    examples: dict[str, str] = {}
    for text in messages:
        match = _LINE_PREFIX.match(text)
        if match is None:
            groups.setdefault(text, [])
            examples.setdefault(text, text)
            continue
        lineno = int(match["line"])
        for reason in match["reason"].split("; "):
            key = _GOT.sub("", reason)
            groups.setdefault(key, []).append(lineno)
            examples.setdefault(key, reason)
    return tuple(
        Finding(
            kind="line",
            stop=stop,
            message=_group_message(key, examples[key], len(lines)),
            count=max(len(lines), 1),
            lines=tuple(lines),
        )
        for key, lines in groups.items()
    )


def _group_message(key: str, example: str, count: int) -> str:
    """Return the group's reason, with the first line's left-out value as an example."""
    if count <= 1 or example == key:
        return example
    left_out = " ".join(m.group(0).strip() for m in _GOT.finditer(example))
    return f"{key}, e.g. {left_out}"


def findings_hide_lines(findings: Sequence[Finding], *, limit: int = _MAX_GROUPS_SHOWN) -> bool:
    """Return True when `format_findings` would leave out a kind or a line number.

    Only then does an operator need the problems file: a short list is shown whole.
    """
    return len(findings) > limit or any(
        max(len(f.pairs), len(f.lines), f.count) > FIRST_LINES_SHOWN for f in findings
    )


def format_findings(findings: Sequence[Finding], *, limit: int = _MAX_GROUPS_SHOWN) -> list[str]:
    """Return one line per finding (at most ``limit``, then one line saying how many more).

    Each line is ``❌``/``⚠️`` + message + count + the first few line numbers,
    so any number of bad records prints in a few lines.
    """
    out = []
    for finding in findings[:limit]:
        mark = "❌" if finding.stop else "⚠️ "
        where = finding.first_lines_text()
        count = f"{_plural(finding.count, 'record')}" if finding.kind == "line" else ""
        tail = "; ".join(part for part in (count, where) if part)
        out.append(f"{mark} {finding.message}" + (f" — {tail}" if tail else ""))
    if len(findings) > limit:
        out.append(
            f"… and {len(findings) - limit} more kinds (all are in --json and the problems file)"
        )
    return out
