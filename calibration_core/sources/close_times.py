"""Close times in their canonical fixed-width spellings, converted for a whole column at once."""

# Shell helper of the typed block path (trade_blocks.py), offline only. It
# converts exactly the spellings the producers write,
#
#     YYYY-MM-DDTHH:MM:SS[.ffffff][Z | +00:00]
#
# to epoch seconds with numpy, and leaves every other string unconverted for
# the caller's `datetime.fromisoformat` path. A string it converts gets the
# value the contract's own conversion gives (``fromisoformat(s).timestamp()``,
# or the zone-less arithmetic), to the last bit: a property test holds it to
# that. A string that looks canonical but names no real time (February 30,
# hour 24) is left unconverted too, so fromisoformat refuses it in the caller.

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["parse_canonical"]

_WIDTH: Final = 32  # the longest spelling: 26 characters of time, then "+00:00"
# The spellings, "d" for a digit; each has its own length, which names it.
_SPELLINGS: Final = (
    "dddd-dd-ddTdd:dd:dd",
    "dddd-dd-ddTdd:dd:ddZ",
    "dddd-dd-ddTdd:dd:dd+00:00",
    "dddd-dd-ddTdd:dd:dd.dddddd",
    "dddd-dd-ddTdd:dd:dd.ddddddZ",
    "dddd-dd-ddTdd:dd:dd.dddddd+00:00",
)
# Per spelling index (0: none): whether it has no zone, and whether it has a fraction.
_ZONELESS: Final = np.array([False, *(not s.endswith(("Z", "+00:00")) for s in _SPELLINGS)])
_FRACTION: Final = np.array([False, *("." in s for s in _SPELLINGS)])
# Spelling 0 matches nothing: the index of each length's spelling, else 0.
_SPELLING_OF_LENGTH: Final = np.zeros(_WIDTH + 2, dtype=np.intp)
for _index, _spelling in enumerate(_SPELLINGS, start=1):
    _SPELLING_OF_LENGTH[len(_spelling)] = _index


def _templates() -> tuple[npt.NDArray[np.uint64], ...]:
    """Return the per-spelling 64-bit masks, in the byte order of the rows' words.

    A row matches when ``word & mask == expected`` (a digit's high nibble is
    3, any other byte is itself, the padding is zero) and, at the digits,
    ``(word + six) & high == threes`` (adding 6 to a digit keeps its high
    nibble: its low nibble is at most 9). A byte above 0xF9 that carries into
    its neighbour has failed the first test already.
    """
    shape = (len(_SPELLINGS) + 1, _WIDTH)
    mask = np.zeros(shape, dtype=np.uint8)
    expected = np.full(shape, 0xFF, dtype=np.uint8)  # spelling 0: 0 & 0 never equals 0xFF
    six = np.zeros(shape, dtype=np.uint8)
    high = np.zeros(shape, dtype=np.uint8)
    for index, spelling in enumerate(_SPELLINGS, start=1):
        text = spelling.encode().ljust(_WIDTH, b"\0")
        for column, char in enumerate(text):
            digit = char == ord("d")
            mask[index, column] = 0xF0 if digit else 0xFF
            expected[index, column] = 0x30 if digit else char
            six[index, column] = 0x06 if digit else 0
            high[index, column] = 0xF0 if digit else 0
    threes = high & 0x30
    # One column of four words per spelling, to broadcast along a block's rows.
    return tuple(t.view("<u8")[:, :, None] for t in (mask, expected, six, high, threes))


_MASK, _EXPECTED, _SIX, _HIGH, _THREES = _templates()
_ALL_FOUR: Final = np.frombuffer(b"\1\1\1\1", dtype=np.uint32)[0]
# Where year, month, day, hour, minute and second are written, and the fraction.
_FIELDS: Final = ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))
_MICROSECONDS: Final = (20, 26)
_DAYS_IN_MONTH: Final = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
# Above 2**53 microseconds a float64 no longer holds every count, and Python's
# exact integer division could round differently from numpy's.
_EXACT_MICROSECONDS: Final = 2**53


def _number(digits: npt.NDArray[np.uint8], start: int, stop: int) -> npt.NDArray[np.int64]:
    """Return the decimal numbers written in character rows ``start:stop`` (integer arithmetic).

    Integers, not a matrix product: numpy hands a product to its BLAS, whose
    threads then spin on the core the hashing thread runs on.
    """
    value: npt.NDArray[np.int64] = digits[start].astype(np.int64)
    for row in range(start + 1, stop):
        value *= 10
        value += digits[row]
    return value


def parse_canonical(
    stamps: list[str],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Convert the close times written in a canonical spelling; leave the rest to the caller.

    Parameters
    ----------
    stamps : list of str
        The close times of a block, as decoded.

    Returns
    -------
    epochs : numpy.ndarray of float64
        Epoch seconds of each converted stamp (zone-less stamps read as UTC);
        0.0 where ``converted`` is False.
    zoneless : numpy.ndarray of bool
        Whether a converted stamp had no zone.
    converted : numpy.ndarray of bool
        Which stamps were converted. The others (another spelling, a
        non-ASCII character, no real date or time) are for
        `datetime.fromisoformat`.
    """
    n = len(stamps)
    try:
        # Zero-padded to the widest spelling; a longer string is cut, and
        # then its length (from Python) names no spelling.
        encoded = np.array(stamps, dtype=f"S{_WIDTH}")
    except UnicodeEncodeError:
        # A non-ASCII string is no spelling: blank it (its length still
        # names one, whose digits and punctuation the blank cannot match).
        encoded = np.array([s if s.isascii() else "" for s in stamps], dtype=f"S{_WIDTH}")
    lengths = np.fromiter(map(len, stamps), dtype=np.intp, count=n)
    spelling = _SPELLING_OF_LENGTH[np.minimum(lengths, _WIDTH + 1)]
    # Column-major from here on: numpy is fastest along long rows.
    words = np.ascontiguousarray(encoded.view("<u8").reshape(n, _WIDTH // 8).T)
    ok = np.zeros(n, dtype=np.bool_)
    # A block holds one or two spellings: each is tested on every row, and
    # counts on the rows of its length.
    for index in np.flatnonzero(np.bincount(spelling, minlength=len(_SPELLINGS) + 1)[1:]) + 1:
        matches = ((words & _MASK[index]) == _EXPECTED[index]) & (
            ((words + _SIX[index]) & _HIGH[index]) == _THREES[index]
        )
        ok |= (spelling == index) & matches[0] & matches[1] & matches[2] & matches[3]
    fraction = _FRACTION[spelling]
    # One row per character; a digit's value (garbage where ok is False).
    digits = np.ascontiguousarray(encoded.view(np.uint8).reshape(n, _WIDTH)[:, :26].T)
    digits -= np.uint8(ord("0"))
    year, month, day, hour, minute, second = (_number(digits, *field) for field in _FIELDS)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _DAYS_IN_MONTH[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)  # noqa: PLR2004 - February
    ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)  # noqa: PLR2004
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)  # noqa: PLR2004 - a clock's limits
    # Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's
    # days_from_civil), in whole numbers.
    shifted = year - (month <= 2)  # noqa: PLR2004 - the year starts in March
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    seconds = (era * 146_097 + day_of_era - 719_468) * 86_400 + hour * 3_600 + minute * 60 + second
    # Whole seconds are exact in a float64. With a fraction, the contract's
    # timedelta.total_seconds() divides the whole count of microseconds by
    # 10**6, correctly rounded; so does numpy while that count is exact.
    epochs = seconds.astype(np.float64)
    if fraction.any():
        micros = seconds * 1_000_000 + _number(digits, *_MICROSECONDS)
        ok &= ~fraction | (np.abs(micros) <= _EXACT_MICROSECONDS)
        epochs = np.where(fraction, micros.astype(np.float64) / 1e6, epochs)
    epochs[~ok] = 0.0
    return epochs, _ZONELESS[spelling] & ok, ok
