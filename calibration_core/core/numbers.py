"""The core's number checks: one rule for "a real number" and one shape for every refusal."""

# Pure: imports only math, typing and calibration_core's exceptions.

from __future__ import annotations

import math
from typing import SupportsFloat

from calibration_core.exceptions import InvalidInputError

__all__ = ["as_real", "require", "same_float"]


def require(
    ok: bool, name: str, rule: str, got: object, *, error: type[Exception] = InvalidInputError
) -> None:
    """Raise ``error("<name> must be <rule> (got <got!r>)")`` unless ``ok``.

    Parameters
    ----------
    ok : bool
        Whether the value obeys the rule.
    name : str
        The argument, as the message names it (``"n_bins"``, ``"current weight of 'a'"``).
    rule : str
        What it must be (``"an integer >= 1"``, ``"finite and > 0"``).
    got : object
        The value shown, with :func:`repr`.
    error : type of Exception, optional
        The exception raised (default InvalidInputError).

    Raises
    ------
    Exception
        ``error`` when ``ok`` is false.
    """
    if not ok:
        raise error(f"{name} must be {rule} (got {got!r})")


def as_real(value: object, name: str, *, error: type[Exception] = InvalidInputError) -> float:
    """Return ``value`` as a float: any real number, but not a bool, a string or bytes.

    NaN and infinity pass through, for the caller's own rule (a check fails on them).

    Parameters
    ----------
    value : object
        What the caller passed: a Python or numpy number, a Decimal, a Fraction, ...
    name : str
        The argument, as the message names it.
    error : type of Exception, optional
        The exception raised (default InvalidInputError).

    Returns
    -------
    float

    Raises
    ------
    Exception
        ``error("<name> must be a number (got ...)")`` for a bool, a string, bytes or
        anything :func:`float` cannot take.
    """
    # A bool or a string is a bug at the caller, not a measurement.
    real = not isinstance(value, bool | str | bytes) and isinstance(value, SupportsFloat)
    require(real, name, "a number", value, error=error)
    return float(value)  # type: ignore[arg-type]  # checked just above


def same_float(a: float, b: float) -> bool:
    """Return whether two floats are equal, NaN (undefined, not measured) equal to NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))
