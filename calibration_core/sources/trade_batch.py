"""The closed trades of one trades file as read-only numpy columns: `TradeBatch`."""

# Shell-side value: numpy columns and the codes the readers write into them.

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np

from calibration_core._arrays import freeze, frozen_array
from calibration_core.constants import NEUTRAL_PNL_BAND_PCT
from calibration_core.core.weights import ACTION_MISSING
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "OUTCOME_LOSS",
    "OUTCOME_NEUTRAL",
    "OUTCOME_NONE",
    "OUTCOME_WIN",
    "TradeBatch",
]

# The producer's own outcome_label (dialects A and B), kept for `run --outcome label`.
OUTCOME_NONE: Final = -1
OUTCOME_LOSS: Final = 0
OUTCOME_WIN: Final = 1
OUTCOME_NEUTRAL: Final = 2
SECONDS_PER_DAY: Final = 86_400.0


# The converters copy a caller's writeable array, so a batch never freezes or shares it;
# the reader's and `select`'s columns are frozen as they are made and taken without a copy.
def _float64_array(value: ArrayLike) -> NDArray[np.float64]:
    return frozen_array(value, np.float64)


def _int64_array(value: ArrayLike) -> NDArray[np.int64]:
    return frozen_array(value, np.int64)


def _int32_array(value: ArrayLike) -> NDArray[np.int32]:
    return frozen_array(value, np.int32)


def _int16_array(value: ArrayLike) -> NDArray[np.int16]:
    return frozen_array(value, np.int16)


def _int8_array(value: ArrayLike) -> NDArray[np.int8]:
    return frozen_array(value, np.int8)


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
        return float(np.ptp(self.timestamps)) / SECONDS_PER_DAY

    def symbols(self) -> tuple[str, ...]:
        """Return the symbols that occur in the rows, sorted."""
        codes = self.symbol_codes
        # Counting the codes is one pass where np.unique sorts them.
        present = (
            np.flatnonzero(np.bincount(codes, minlength=len(self.symbol_names)))
            if codes.size and codes.min() >= 0
            else np.unique(codes)
        )
        return tuple(sorted(self.symbol_names[c] for c in present))

    def sorted_by_time(self) -> TradeBatch:
        """Return the batch with the rows in close-time order; ties keep file order.

        A batch already in that order (a log appended as trades close) is
        returned as it is: the batch is immutable, and a copy of every column
        would only add to the peak memory of a large job.
        """
        times = self.timestamps
        if bool(np.all(times[1:] >= times[:-1])):
            return self
        return self.select(np.argsort(times, kind="stable"))

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
            line_numbers=freeze(self.line_numbers[index]),
            timestamps=freeze(self.timestamps[index]),
            symbol_codes=freeze(self.symbol_codes[index]),
            sides=freeze(self.sides[index]),
            confidence=freeze(self.confidence[index]),
            entry_price=freeze(self.entry_price[index]),
            exit_price=freeze(self.exit_price[index]),
            pnl_pct=freeze(self.pnl_pct[index]),
            calibrated_confidence=freeze(self.calibrated_confidence[index]),
            calibration_version_codes=freeze(self.calibration_version_codes[index]),
            consensus_count=freeze(self.consensus_count[index]),
            model_actions=freeze(self.model_actions[index]),
            model_confidence=freeze(self.model_confidence[index]),
            outcome_labels=freeze(self.outcome_labels[index]),
        )
