"""The format contract of one trade line: every rule, and the message for each breach."""

# Shell module: the authoritative per-record check (``check_record``) that the
# readers' fast paths may only ever take a subset of. It enforces
# shared/clm_trades_format.md and words every problem; it reads no file.

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from calibration_core.config import MODEL_NAME_PATTERN
from calibration_core.core.weights import ACTION_BUY, ACTION_SELL
from calibration_core.sources.trade_batch import (
    OUTCOME_LOSS,
    OUTCOME_NEUTRAL,
    OUTCOME_NONE,
    OUTCOME_WIN,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "ABSENT",
    "ALIASES",
    "EPOCH_MAX",
    "EPOCH_MIN",
    "FLOAT_COLUMNS",
    "FLOAT_MAX",
    "INT16_MAX",
    "INT_COLUMNS",
    "MAX_ABS_PNL_PCT",
    "MIN_TIMESTAMP_CHARS",
    "NAIVE_EPOCH",
    "OPTIONAL_READ",
    "OUTCOME_CODES",
    "REQUIRED",
    "SIDE_CODES",
    "VOTE_OFFSETS",
    "NonFinite",
    "Row",
    "check_record",
    "model_name_warning",
    "object_hook",
    "timestamp_problem",
    "zero_pnl_warning",
]


REQUIRED = (
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
ALIASES: Final = {"side": "action", "actual_pnl_pct": "pnl_percent"}
# The optional fields that are read, and so checked. trade_id, model_id,
# entry_timestamp and the dialects' duration_*, strategy_id, position_size and
# exit_reason are optional and may be null; nothing here reads them: like
# unknown fields they are passed over (a NaN token in them is still reported).
OPTIONAL_READ = (
    "model_breakdown",
    "model_predictions",
    "consensus_count",
    "calibration_version",
    "calibrated_confidence",
    "outcome_label",
    *ALIASES.values(),
)
_CHECKED_FIELDS: Final = frozenset(REQUIRED + OPTIONAL_READ)
ABSENT: Final = object()
# LONG and SHORT are the production recorder's words for BUY and SELL.
SIDE_CODES: Final = {
    "BUY": ACTION_BUY,
    "SELL": ACTION_SELL,
    "LONG": ACTION_BUY,
    "SHORT": ACTION_SELL,
}
_SIDE_WORDS: Final = '"BUY", "SELL", "LONG" or "SHORT"'
OUTCOME_CODES: Final = {
    None: OUTCOME_NONE,
    "WIN": OUTCOME_WIN,
    "LOSS": OUTCOME_LOSS,
    "NEUTRAL": OUTCOME_NEUTRAL,
}
NAIVE_EPOCH: Final = datetime(1970, 1, 1)  # noqa: DTZ001 - zone-less stamps are UTC
# Member votes are packed into one int as ``4 * model code + action offset``.
VOTE_OFFSETS: Final = {"HOLD": 0, "BUY": 1, "SELL": 2}
FLOAT_MAX: Final = sys.float_info.max
INT16_MAX: Final = 32767
MIN_TIMESTAMP_CHARS: Final = 11  # a date alone ("2026-02-09") has no time of day
# A close time must stay a datetime in UTC and back: a zone like -23:59 on
# 9999-12-31 would push it past year 9999. A day of margin at each end keeps
# every conversion of an accepted time (to UTC, to local time) in range.
EPOCH_MIN: Final = datetime(1, 1, 2, tzinfo=UTC).timestamp()
EPOCH_MAX: Final = datetime(9999, 12, 30, tzinfo=UTC).timestamp()
# A realized return beyond a million percent is not a trade; left in, a few
# values near the float limit overflow every sum and mean to inf/NaN.
MAX_ABS_PNL_PCT: Final = 1e6


class NonFinite:
    """Stands in for a NaN/Infinity token, which Python's json accepts but JSON does not."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token


# A reader appends each row as these ints and floats (the layout of its buffers):
# line number, symbol, side, calibration version, consensus, number of votes, outcome label
INT_COLUMNS: Final = 7
FLOAT_COLUMNS: Final = 6  # timestamp, confidence, entry, exit, pnl, calibrated confidence


class Row(NamedTuple):
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


def json_kind(value: object) -> str:
    """Name a decoded value's JSON type, with a short excerpt of it."""
    if value is None:
        return "null"
    if isinstance(value, NonFinite):
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
    elif isinstance(value, NonFinite):
        problem = f"{name} is {value.token} (not valid JSON)"
    elif type(value) is bool or type(value) not in (int, float):
        problem = f"{name} must be a number (got {json_kind(value)})"
    elif not -FLOAT_MAX <= value <= FLOAT_MAX:  # type: ignore[operator]
        # 1e400 parses as inf and a huge integer has no float: both overflow.
        problem = f"{name} overflows a float"
    return problem


def _unit_problem(value: object, name: str) -> str | None:
    """Say why ``value`` is not a number in [0, 1], or return None."""
    problem = _number_problem(value, name)
    if problem is None and not 0.0 <= value <= 1.0:  # type: ignore[operator]
        problem = f"{name} must be in [0, 1] (got {value!r})"
    return problem


def timestamp_problem(value: object, name: str) -> tuple[str | None, float, bool]:
    """Parse an ISO-8601 time into epoch seconds, or say why not; also say if it had no zone.

    A time without a zone (dialect B) is read as UTC.
    """
    if type(value) is not str:
        return f"{name} must be an ISO-8601 string (got {json_kind(value)})", math.nan, False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"{name} is not ISO-8601 (got {json_kind(value)})", math.nan, False
    zoneless = parsed.tzinfo is None
    if not zoneless:
        try:
            epoch = parsed.timestamp()
        except (ValueError, OverflowError):
            epoch = math.nan
    elif len(value) < MIN_TIMESTAMP_CHARS:
        return f"{name} has no time of day (got {json_kind(value)})", math.nan, False
    else:
        # Zone-less is UTC: the same arithmetic as an aware stamp's timestamp(), and faster.
        epoch = (parsed - NAIVE_EPOCH).total_seconds()
    if not EPOCH_MIN <= epoch <= EPOCH_MAX:
        return (
            (
                f"{name} is out of range: in UTC it must fall between 0001-01-02 and 9999-12-30 "
                f"(got {json_kind(value)})"
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
    if isinstance(value, NonFinite):
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
        problems.append(f"{where} must be an object (got {json_kind(vote)})")
        return None
    found = len(problems)
    action = vote.get("action")
    if "action" not in vote:
        problems.append(f"{where}.action is missing")
    elif type(action) is not str or action not in VOTE_OFFSETS:
        problems.append(f'{where}.action must be "BUY", "SELL" or "HOLD" (got {json_kind(action)})')
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
    alias = ALIASES.get(name)
    return alias if name not in record and alias is not None and alias in record else name


def _pnl_problem(value: object, name: str) -> str | None:
    """Say why a PnL breaks its rule (a finite number within ±MAX_ABS_PNL_PCT), or None."""
    problem = _number_problem(value, name)
    if problem is None and not -MAX_ABS_PNL_PCT <= value <= MAX_ABS_PNL_PCT:  # type: ignore[operator]
        bound = f"{MAX_ABS_PNL_PCT:,.0f}"
        problem = f"{name} must be within ±{bound} percent (got {json_kind(value)})"
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
    for name in REQUIRED:
        alias = ALIASES.get(name)
        if name not in record and (alias is None or alias not in record):
            also = f" (and so is its other name {alias})" if alias else ""
            problems.append(f"{name} is missing{also}")
    epoch, side_code, zoneless = math.nan, 0, False
    if "timestamp" in record:
        problem, epoch, zoneless = timestamp_problem(record["timestamp"], "timestamp")
        if problem:
            problems.append(problem)
    symbol = record.get("symbol", "-")
    if type(symbol) is not str:
        problems.append(f"symbol must be a string (got {json_kind(symbol)})")
    elif not symbol:
        problems.append("symbol is empty")
    elif problem := _unicode_problem(symbol, "symbol"):
        problems.append(problem)
    side_name = _field_name(record, "side")
    side = record.get(side_name, "BUY")
    if type(side) is str and side in SIDE_CODES:
        side_code = SIDE_CODES[side]
    else:
        problems.append(f"{side_name} must be {_SIDE_WORDS} (got {json_kind(side)})")
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
        type(consensus) is not int or not 0 <= consensus <= INT16_MAX
    ):
        problems.append(
            f"consensus_count must be an integer in [0, {INT16_MAX}] (got {json_kind(consensus)})"
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
        problems.append(f"calibration_version must be a string or null (got {json_kind(version)})")
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
        problems.append(f"{field} must be an object (got {json_kind(breakdown)})")
    return consensus, calibrated, version, tuple(votes)


def _check_outcome_label(record: dict[str, Any], problems: list[str]) -> int:
    """Check the producer's optional outcome_label; return its code."""
    label = record.get("outcome_label")
    if type(label) is str and label in OUTCOME_CODES:
        return OUTCOME_CODES[label]
    if label is not None:
        problems.append(
            f'outcome_label must be "WIN", "LOSS", "NEUTRAL" or null (got {json_kind(label)})'
        )
    return OUTCOME_NONE


def check_record(record: object) -> tuple[list[str], Row | None]:
    """Check one decoded line against the format contract.

    This is the contract in code; the reader's fast path only ever takes a
    subset of what it accepts.

    Returns
    -------
    problems : list of str
        Every breach found, as a phrase naming the field, the rule and the value.
    row : Row or None
        The converted record when there is no problem.
    """
    if type(record) is not dict:
        return [f"not a JSON object (got {json_kind(record)})"], None
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
    return [], Row(
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


def object_hook(duplicates_seen: list[str]) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
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


def zero_pnl_warning(name: str, lineno: int, field: str) -> str:
    """Return the warning for a PnL of exactly 0.0 (the same words on every path)."""
    return f"{name}:{lineno}: {field} is exactly 0.0 (suspect data)"


def model_name_warning(name: str, lineno: int, model: str) -> str:
    """Return the warning for a member model whose name cannot be a config key."""
    return (
        f"{name}:{lineno}: model {model!r} cannot be a config key (names "
        f"must match {MODEL_NAME_PATTERN.pattern}), so the ensemble weights step is "
        "skipped"
    )
