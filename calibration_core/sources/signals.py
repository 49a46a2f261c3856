"""Read the optional signals log (one JSON object per emitted signal) into numpy columns."""

from __future__ import annotations

import json
import math
from array import array
from typing import TYPE_CHECKING

import attrs
import numpy as np
import numpy.typing as npt

from calibration_core.exceptions import DataIntegrityError
from calibration_core.fsio import MAX_LINE_BYTES, NotRegularFileError, read_regular_file

# The trades reader's range: a time that stays a datetime in UTC.
from calibration_core.sources.trade_contract import EPOCH_MAX, EPOCH_MIN
from calibration_core.times import epoch_seconds

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["SIGNAL_ACTIONS", "SignalBatch", "read_signals"]

SIGNAL_ACTIONS = {"BUY": 1, "SELL": -1, "HOLD": 0}
"""Action codes of the signals log."""

_ARRAY_EQ = attrs.cmp_using(eq=np.array_equal)


def _frozen(values: npt.ArrayLike, dtype: type) -> npt.NDArray[np.generic]:
    result: npt.NDArray[np.generic] = np.array(values, dtype=dtype)
    result.setflags(write=False)
    return result


@attrs.frozen
class SignalBatch:
    """Signals as columns.

    ``actions`` uses +1 BUY, -1 SELL, 0 HOLD; ``calibrated_confidence`` is NaN
    where the signal carried none; ``version_codes`` index ``version_names``
    (-1 for none).
    """

    source: str
    timestamps: npt.NDArray[np.float64] = attrs.field(eq=_ARRAY_EQ)
    actions: npt.NDArray[np.int8] = attrs.field(eq=_ARRAY_EQ)
    confidence: npt.NDArray[np.float64] = attrs.field(eq=_ARRAY_EQ)
    calibrated_confidence: npt.NDArray[np.float64] = attrs.field(eq=_ARRAY_EQ)
    version_codes: npt.NDArray[np.int32] = attrs.field(eq=_ARRAY_EQ)
    version_names: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()

    @property
    def n_signals(self) -> int:
        """Number of signals."""
        return int(self.timestamps.shape[0])

    def hold_flags(self, mask: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.bool_]:
        """Return True for HOLD signals (optionally restricted to ``mask``)."""
        flags: npt.NDArray[np.bool_] = self.actions == 0
        return flags if mask is None else flags[mask]


def _timestamp(value: object) -> float | None:
    epoch = epoch_seconds(value)
    return epoch if epoch is not None and EPOCH_MIN <= epoch <= EPOCH_MAX else None


def _decode(line: bytes) -> tuple[object, str | None]:
    """Decode one line, or say why not: too long, blank, not JSON, or a key given twice."""
    if len(line) > MAX_LINE_BYTES:
        return None, "line is longer than 1 MiB (skipped)"
    if not line.strip():
        return None, "blank line"
    repeated: list[str] = []

    def one_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
        record = dict(pairs)
        if len(record) != len(pairs):  # json would keep the last value silently
            keys = [key for key, _ in pairs]
            repeated.extend(key for i, key in enumerate(keys) if key in keys[:i])
        return record

    try:
        record = json.loads(line, object_pairs_hook=one_object)
    except (ValueError, RecursionError):
        return None, "not valid JSON"
    if repeated:
        return None, f"duplicate key {repeated[0]!r}"
    return record, None


def _valid_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800"
        return False
    return True


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


_Parsed = tuple[float, int, float, float, str | None, str]


def _parse_signal(record: dict[str, object]) -> _Parsed | str:  # noqa: PLR0911 - one return per rule
    """Return the signal's fields, or the reason it is bad."""
    stamp = _timestamp(record.get("timestamp"))
    if stamp is None:
        return "timestamp missing, not ISO-8601, without a zone or out of range"
    action = record.get("action")
    if not isinstance(action, str) or action not in SIGNAL_ACTIONS:
        return f"action must be BUY, SELL or HOLD (got {action!r})"
    confidence = _number(record.get("confidence"))
    if confidence is None or not 0.0 <= confidence <= 1.0:
        return "confidence missing, not a finite number or outside [0, 1]"
    cal_raw = record.get("calibrated_confidence")
    cal = math.nan if cal_raw is None else _number(cal_raw)
    if cal is None or (not math.isnan(cal) and not 0.0 <= cal <= 1.0):
        return "calibrated_confidence is not a number in [0, 1]"
    version = record.get("calibration_version")
    if version is not None and (not isinstance(version, str) or not _valid_unicode(version)):
        return "calibration_version must be a string (valid Unicode) or null"
    symbol = record.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        return "symbol missing or not a string"
    if not _valid_unicode(symbol):
        return "symbol is not valid Unicode (a lone surrogate)"
    return stamp, SIGNAL_ACTIONS[action], confidence, cal, version, symbol


def _candidate_lines(raw: bytes) -> list[tuple[int, bytes]]:
    """Return the numbered complete lines, plus a final unterminated line only if it parses."""
    lines = raw.split(b"\n")
    candidates = [(i + 1, line) for i, line in enumerate(lines[:-1])]
    partial = lines[-1]
    if partial:
        try:
            json.loads(partial)
        except ValueError:
            return candidates  # the producer may still be writing it
        candidates.append((len(lines), partial))
    return candidates


def read_signals(path: Path) -> SignalBatch:
    """Read a signals log; every bad line is reported with its number and the read stops.

    Parameters
    ----------
    path : Path
        JSON Lines file with ``timestamp``, ``symbol``, ``action``,
        ``confidence`` and optional ``calibrated_confidence`` and
        ``calibration_version`` per line (see ``docs/monitoring.md``).

    Returns
    -------
    SignalBatch

    Raises
    ------
    DataIntegrityError
        When the file is missing or any line is bad; ``problems`` lists them all.
        A partial last line (no trailing newline, not JSON) is ignored. Only a
        regular file is read (a FIFO or a device is refused), as it was when
        opened, and a line may be at most 1 MiB long.
    """
    name = path.name
    try:
        raw = read_regular_file(path)
    except FileNotFoundError:
        raise DataIntegrityError(f"signals log not found: {path}") from None
    except NotRegularFileError as exc:
        raise DataIntegrityError(
            f"signals log is not a regular file: {path} (it is {exc.kind})"
        ) from None
    except OSError as exc:
        raise DataIntegrityError(f"signals log unreadable: {path}: {exc.strerror}") from None
    times = array("d")
    actions = array("b")
    confidences = array("d")
    calibrated = array("d")
    codes = array("i")
    versions: dict[str, int] = {}
    symbols: dict[str, None] = {}
    problems: list[str] = []
    for number, line in _candidate_lines(raw):
        record, problem = _decode(line)
        if problem is not None:
            problems.append(f"{name}:{number}: {problem}")
            continue
        parsed = _parse_signal(record) if isinstance(record, dict) else "not a JSON object"
        if isinstance(parsed, str):
            problems.append(f"{name}:{number}: {parsed}")
            continue
        stamp, action, confidence, cal, version, symbol = parsed
        symbols.setdefault(symbol)
        times.append(stamp)
        actions.append(action)
        confidences.append(confidence)
        calibrated.append(cal)
        codes.append(-1 if version is None else versions.setdefault(version, len(versions)))
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DataIntegrityError(problems[0] + more, problems=tuple(problems))
    return SignalBatch(
        source=str(path),
        timestamps=_frozen(times, np.float64),  # type: ignore[arg-type]
        actions=_frozen(actions, np.int8),  # type: ignore[arg-type]
        confidence=_frozen(confidences, np.float64),  # type: ignore[arg-type]
        calibrated_confidence=_frozen(calibrated, np.float64),  # type: ignore[arg-type]
        version_codes=_frozen(codes, np.int32),  # type: ignore[arg-type]
        version_names=tuple(versions),
        symbols=tuple(symbols),
    )
