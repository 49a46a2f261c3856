"""ISO-8601 times in one place: parse what files and flags say, write what we say."""

# Shell-side helper: imports only the standard library's datetime. The pure core never
# parses or prints a time; it works in epoch seconds the readers hand it.

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["compact_stamp", "epoch_seconds", "iso_utc", "parse_iso"]


def parse_iso(value: object, *, zoneless_as_utc: bool = False) -> datetime | None:
    """Return the aware datetime an ISO-8601 string names, or None when it names none.

    Parameters
    ----------
    value : object
        Untrusted input: anything that is not a string is None.
    zoneless_as_utc : bool, optional
        Read a time without a zone as UTC (default: such a time is None).

    Returns
    -------
    datetime or None
        An aware datetime; None for a non-string, a malformed text or (unless
        ``zoneless_as_utc``) a time without a zone.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC) if zoneless_as_utc else None
    return moment


def epoch_seconds(value: object, *, zoneless_as_utc: bool = False) -> float | None:
    """Return the epoch seconds of an ISO-8601 string, or None (see `parse_iso`).

    A zone that pushes the time past year 1 or 9999 is None too, never an exception.
    """
    moment = parse_iso(value, zoneless_as_utc=zoneless_as_utc)
    if moment is None:
        return None
    try:
        return moment.timestamp()
    except (ValueError, OverflowError):
        return None


def iso_utc(moment: datetime | float, *, timespec: str = "seconds") -> str:
    """Write a datetime (naive is read as UTC) or epoch seconds as ISO-8601 UTC.

    Parameters
    ----------
    moment : datetime or float
        The time; a float is epoch seconds.
    timespec : str, optional
        As for `datetime.isoformat` (default ``"seconds"``).

    Returns
    -------
    str
        For example ``2026-12-01T23:45:00+00:00``.
    """
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec=timespec)
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec=timespec)


def compact_stamp(moment: datetime) -> str:
    """Write a time as ``20261201T234500Z``: UTC, sortable, safe in a file name."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
