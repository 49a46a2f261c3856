"""Convert array arguments once at a pure function's entry, naming the argument on error."""

# Pure: imports only math, numpy and the package's exceptions.

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from calibration_core.exceptions import InvalidInputError

__all__ = ["FloatArray", "as_vector", "freeze", "frozen_array", "require_finite"]

FloatArray = npt.NDArray[np.float64]


def as_vector(name: str, value: npt.ArrayLike, *, allow_empty: bool = False) -> FloatArray:
    """Convert ``value`` once to a finite 1-D float64 array or raise InvalidInputError.

    Parameters
    ----------
    name : str
        The argument's name, used in the message.
    value : array_like
        What the caller passed; it is never modified.
    allow_empty : bool, optional
        Accept zero values (default: refuse them).

    Returns
    -------
    numpy.ndarray
        float64, 1-D; a view of ``value`` when no conversion was needed.

    Raises
    ------
    InvalidInputError
        ``<name> must be an array of real numbers``, ``must be 1-D``,
        ``must not be empty`` or ``must be finite (got nan at index 7)``.
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be an array of real numbers ({exc})") from exc
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D (got shape {array.shape})")
    if array.shape[0] == 0:
        if allow_empty:
            return array
        raise InvalidInputError(f"{name} must not be empty (got 0 values)")
    require_finite(name, array)
    return array


def frozen_array(values: npt.ArrayLike, dtype: npt.DTypeLike = np.float64) -> npt.NDArray[Any]:
    """Return ``values`` as a read-only array of ``dtype``: the one way to freeze an array.

    Frozen values (attrs classes) hold these, so that nothing shared between threads
    or kept in a result can be changed in place. A writeable array is copied, so a
    caller's array is never frozen or shared; an array that is already read-only,
    owns its memory and has the dtype (one made by `freeze`) is taken as it is,
    which saves a second copy of large columns.

    Parameters
    ----------
    values : array_like
        The data; never modified.
    dtype : data-type, optional
        The array's dtype (default float64).

    Returns
    -------
    numpy.ndarray
        An array with ``writeable`` False.
    """
    if (
        isinstance(values, np.ndarray)
        and values.dtype == np.dtype(dtype)
        and values.base is None
        and not values.flags.writeable
    ):
        return values
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)
    return array


def freeze(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Mark a fresh array the caller owns as read-only and return it (no copy).

    `frozen_array` then takes it without copying it again.
    """
    array.setflags(write=False)
    return array


def require_finite(name: str, array: FloatArray) -> None:
    """Raise InvalidInputError naming the first non-finite entry of ``array``."""
    # One summation is cheaper than isfinite().all(); a finite total proves every
    # entry finite, and only an overflowing or non-finite total needs the full scan.
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.sum(array))
    if math.isfinite(total):
        return
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        index = int(bad[0])
        raise InvalidInputError(
            f"{name} must be finite (got {float(array.flat[index])} at index {index})"
        )
