"""Tests of the vectorised close-time conversion against the contract's own conversion."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from calibration_core.sources import trade_contract
from calibration_core.sources.close_times import parse_canonical

# The spellings parse_canonical converts (ASCII digits only).
_CANONICAL = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?(Z|\+00:00)?"
)


def _contract(stamp: str) -> tuple[float, bool] | None:
    """Return the contract's conversion: epoch seconds and whether zone-less, or None."""
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return (parsed - trade_contract.NAIVE_EPOCH).total_seconds(), True
    try:
        return parsed.timestamp(), False
    except (ValueError, OverflowError):
        return None


def _exact(stamp: str) -> bool:
    """Whether a valid stamp has no fraction, or its microseconds since 1970 are within 2**53."""
    if "." not in stamp:
        return True
    parsed = datetime.fromisoformat(stamp)
    start = (
        trade_contract.NAIVE_EPOCH if parsed.tzinfo is None else datetime(1970, 1, 1, tzinfo=UTC)
    )
    return abs((parsed - start) // timedelta(microseconds=1)) <= 2**53


def _check(stamps: list[str]) -> None:
    """Every converted stamp has the contract's value to the bit; every other is the caller's."""
    epochs, zoneless, converted = parse_canonical(stamps)
    assert epochs.shape == zoneless.shape == converted.shape == (len(stamps),)
    for stamp, epoch, bare, done in zip(stamps, epochs, zoneless, converted, strict=True):
        expected = _contract(stamp)
        if done:
            assert expected is not None, stamp
            assert math.copysign(1.0, epoch) == math.copysign(1.0, expected[0])
            assert float(epoch) == expected[0], stamp
            assert bool(bare) == expected[1], stamp
        else:
            assert not bare
            # Only what is not canonical, or names no time, is left to fromisoformat.
            canonical = _CANONICAL.fullmatch(stamp) is not None
            assert not (canonical and expected is not None and _exact(stamp)), stamp


_digits = st.text(st.sampled_from("0123456789"), min_size=1, max_size=1)


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda v: f"{v:02d}")


# Almost-canonical stamps: every field drawn across and past its limits, any
# of the suffixes and separators fromisoformat knows, and a few it does not.
_almost = st.builds(
    lambda year, month, day, sep, hour, minute, second, fraction, zone: (
        f"{year}-{month}-{day}{sep}{hour}:{minute}:{second}{fraction}{zone}"
    ),
    st.one_of(
        st.integers(0, 9999).map(lambda v: f"{v:04d}"), st.sampled_from(["1970", "2000", "2100"])
    ),
    _two(0, 13),
    _two(0, 32),
    st.sampled_from(["T", "T", "T", " ", "t", "x"]),
    _two(0, 25),
    _two(0, 61),
    _two(0, 61),
    st.one_of(
        st.just(""),
        st.integers(0, 999_999).map(lambda v: f".{v:06d}"),
        st.sampled_from([".5", ".123", ".1234567", ".", ",123456"]),
    ),
    st.sampled_from(
        ["", "Z", "+00:00", "Z", "+00:00", "-00:00", "+01:00", "z", "+0000", "+00:00:00", " ", "ZZ"]
    ),
)
# Real times in every canonical spelling.
_valid = st.builds(
    lambda moment, fraction, zone: (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        + (f".{moment.microsecond:06d}" if fraction else "")
        + zone
    ),
    st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999_999)),  # noqa: DTZ001
    st.booleans(),
    st.sampled_from(["", "Z", "+00:00"]),
)
_stamps = st.one_of(
    _valid, _almost, st.text(max_size=34), st.from_regex(_CANONICAL, fullmatch=True)
)


class TestParseCanonical:
    @given(st.lists(_stamps, max_size=30))
    @example(["2026-02-09T21:40:12Z", "2026-02-09T21:40:12.334338", "2026-02-09T21:40:12+00:00"])
    @example(["2026-02-30T00:00:00Z", "2024-02-29T00:00:00Z", "1900-02-29T00:00:00Z"])
    @example(["0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"])
    @example(["2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T23:59:60Z"])
    @example(["1685-01-01T00:00:00.000001Z", "2255-06-05T23:47:34.740991Z", "2255-06-05T23:47:34Z"])
    def test_agrees_with_fromisoformat(self, stamps: list[str]) -> None:
        """A converted stamp has the contract's exact value; a valid canonical one is converted."""
        _check(stamps)

    @pytest.mark.parametrize(
        ("stamp", "epoch", "zoneless"),
        [
            ("1970-01-01T00:00:00Z", 0.0, False),
            ("1970-01-01T00:00:00", 0.0, True),
            ("1969-12-31T23:59:59.999999+00:00", -1e-6, False),
            ("2000-02-29T12:00:00Z", datetime(2000, 2, 29, 12, tzinfo=UTC).timestamp(), False),
            (
                "2024-12-31T23:59:59Z",
                datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp(),
                False,
            ),
            ("0001-01-02T00:00:00Z", trade_contract.EPOCH_MIN, False),
            ("9999-12-30T00:00:00+00:00", trade_contract.EPOCH_MAX, False),
            (
                "9999-12-31T23:59:59",
                datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp(),
                True,
            ),
        ],
    )
    def test_boundaries(self, stamp: str, epoch: float, zoneless: bool) -> None:
        """Epoch, leap days, the last second of a year and the contract's range ends."""
        epochs, bare, converted = parse_canonical([stamp])
        assert converted.tolist() == [True]
        assert epochs.tolist() == [epoch]
        assert bare.tolist() == [zoneless]
        _check([stamp])

    @pytest.mark.parametrize(
        "stamp",
        [
            "2023-02-29T00:00:00Z",  # not a leap year
            "1900-02-29T00:00:00Z",  # a century that is not a leap year
            "2026-04-31T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-13-10T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2026-01-01T23:59:60Z",
            "2026-01-01T00:00:00+00:00x",  # longer than any spelling
            "2026-01-01T00:00:00.123456+00:00:00",
            "2026-01-01T00:00:00-00:00",  # valid, but not a spelling converted here
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00.123Z",
            "２０２６-01-01T00:00:00Z",
            "2026-01-01T00:00:0Z",
            "",
        ],
    )
    def test_what_is_left_to_fromisoformat(self, stamp: str) -> None:
        """No real time, or another spelling: not converted, whatever fromisoformat says."""
        _, _, converted = parse_canonical(["2026-01-01T00:00:00Z", stamp])
        assert converted.tolist() == [True, False]
        _check([stamp])

    def test_an_empty_block(self) -> None:
        """No stamps, no rows."""
        epochs, zoneless, converted = parse_canonical([])
        assert epochs.shape == zoneless.shape == converted.shape == (0,)

    def test_beyond_exact_microseconds_is_left_to_fromisoformat(self) -> None:
        """Past 2**53 microseconds from 1970 a fraction goes the exact way; whole seconds do not."""
        far = ["2300-01-01T00:00:00.000001Z", "1600-01-01T00:00:00.000001Z", "2300-01-01T00:00:00Z"]
        _, _, converted = parse_canonical(far)
        assert converted.tolist() == [False, False, True]
        _check(far)
        assert np.all(parse_canonical(["2255-06-05T23:47:34.740991Z"])[2])
