# Pure: imports only numpy, attrs, math and calibration_core's _arrays, exceptions and constants.
"""Weighted isotonic least squares (our own linear-time PAV) and the confidence map built on it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import attrs
import numpy as np

from calibration_core._arrays import as_vector, require_finite
from calibration_core.constants import MAX_CONFIDENCE_CHANGE
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    IndexArray = npt.NDArray[np.intp]

__all__ = [
    "IsotonicCalibration",
    "IsotonicResult",
    "SufficientStatistics",
    "bound_confidence_change",
    "fit_isotonic",
    "fit_sufficient_statistics",
    "isotonic_regression",
    "merge_sufficient_statistics",
    "sufficient_statistics",
]

_STOP_FRACTION: Final = 0.125
"""A vectorised pass that removes fewer than this share of the blocks ends that phase."""

_SCALAR_STEPS: Final = 8
"""Blocks a cleanup merge absorbs one by one before it switches to numpy windows."""

_FIRST_WINDOW: Final = 256
"""Size of the first numpy window of a long cleanup merge."""

_WINDOW_GROWTH: Final = 4
"""Each further window is this many times larger, so windows cost a geometric sum."""

_MAX_WINDOW: Final = 1 << 16
"""Windows stop growing here: a 512 KiB slice stays in cache and costs ~0.1 ms."""

_TIE_TOLERANCE: Final = 2.0**-44
"""Pooled means closer than this times the largest absolute mean count as equal (≈ 5.7e-14)."""

_ONE_BLOCK_MAX_SIZE: Final = 1 << 20
"""Largest input the one-block certificate checks: it then cuts the input into at most
about 1,024 chunks of at most about 1,024 items, which bounds the rounding of its sums."""


# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------


def _as_weights(weights: npt.ArrayLike | None, n: int, *, of: str) -> FloatArray | None:
    """Check case weights: 1-D, length ``n``, finite and strictly positive (None stays None)."""
    if weights is None:
        return None
    array = as_vector("weights", weights, allow_empty=True)
    if array.shape[0] != n:
        raise InvalidInputError(
            f"weights must have the same length as {of} (got {array.shape[0]}, expected {n})"
        )
    if n and not float(np.min(array)) > 0.0:
        index = int(np.flatnonzero(array <= 0.0)[0])
        raise InvalidInputError(
            f"weights must be strictly positive (got {float(array[index])} at index {index})"
        )
    return array


def _as_bound(name: str, value: float | None) -> float | None:
    """Check an optional clip bound: None or a finite real number."""
    if value is None:
        return None
    try:
        bound = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be a real number or None (got {value!r})") from exc
    if not math.isfinite(bound):
        raise InvalidInputError(f"{name} must be finite or None (got {bound})")
    return bound


# ---------------------------------------------------------------------------
# Frozen values
# ---------------------------------------------------------------------------


def _frozen_floats(value: npt.ArrayLike) -> FloatArray:
    """Return a private, read-only float64 copy of ``value``."""
    array = np.array(value, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


def _frozen_indices(value: npt.ArrayLike) -> IndexArray:
    """Return a private, read-only intp copy of ``value``."""
    array = np.array(value, dtype=np.intp, copy=True)
    array.setflags(write=False)
    return array


_ARRAY_EQ: Final = attrs.cmp_using(eq=np.array_equal)
"""Equality for numpy fields of frozen values: same shape and same elements."""


@attrs.frozen
class IsotonicResult:
    """The isotonic fit of an ordered sequence, in the layout of scipy's ``isotonic_regression``.

    Attributes
    ----------
    x : ndarray of shape (n,)
        The fitted values, monotone in the requested direction.
    weights : ndarray of shape (B,)
        The sum of the case weights of each block.
    blocks : ndarray of shape (B + 1,)
        Block start indices followed by ``n``; block ``j`` is ``x[blocks[j]:blocks[j + 1]]``
        and all its fitted values are equal.

    Notes
    -----
    The arrays are private read-only copies; equality compares them with
    :func:`numpy.array_equal` and the hash ignores them.
    """

    x: FloatArray = attrs.field(converter=_frozen_floats, eq=_ARRAY_EQ, hash=False)
    weights: FloatArray = attrs.field(converter=_frozen_floats, eq=_ARRAY_EQ, hash=False)
    blocks: IndexArray = attrs.field(converter=_frozen_indices, eq=_ARRAY_EQ, hash=False)


def _adopt_result(x: FloatArray, weights: FloatArray, blocks: IndexArray) -> IsotonicResult:
    """Build an :class:`IsotonicResult` around fresh private arrays, without copying them.

    The converters copy every array handed in from outside; the fit's own arrays are
    new and unshared, so they are only made read-only (a copy of ``x`` costs as much as
    a pass of PAV at 1e6 points).
    """
    result = object.__new__(IsotonicResult)
    for name, array in (("x", x), ("weights", weights), ("blocks", blocks)):
        array.setflags(write=False)
        object.__setattr__(result, name, array)
    return result


def _check_knots(instance: IsotonicCalibration, _attribute: object, values: FloatArray) -> None:
    """Validate the knots of an :class:`IsotonicCalibration` (several fields at once)."""
    thresholds = instance.thresholds
    if thresholds.ndim != 1 or values.ndim != 1:
        raise InvalidInputError(
            f"thresholds and values must be 1-D (got shapes {thresholds.shape} and {values.shape})"
        )
    if thresholds.shape[0] == 0:
        raise InvalidInputError("thresholds must hold at least one knot (got 0)")
    if values.shape != thresholds.shape:
        raise InvalidInputError(
            "values must have the same length as thresholds "
            f"(got {values.shape[0]}, expected {thresholds.shape[0]})"
        )
    require_finite("thresholds", thresholds)
    require_finite("values", values)
    steps = np.diff(thresholds)
    if steps.size and not float(np.min(steps)) > 0.0:
        index = int(np.flatnonzero(steps <= 0.0)[0]) + 1
        raise InvalidInputError(
            "thresholds must be strictly increasing (got "
            f"{float(thresholds[index])} after {float(thresholds[index - 1])} at index {index})"
        )
    rises = np.diff(values) if instance.increasing else -np.diff(values)
    if rises.size and not float(np.min(rises)) >= 0.0:
        index = int(np.flatnonzero(rises < 0.0)[0]) + 1
        direction = "nondecreasing" if instance.increasing else "nonincreasing"
        raise InvalidInputError(
            f"values must be {direction} "
            f"(got {float(values[index])} after {float(values[index - 1])} at index {index})"
        )


@attrs.frozen
class IsotonicCalibration:
    """A monotone, piecewise-linear map from raw confidence to calibrated confidence.

    Attributes
    ----------
    thresholds : ndarray of shape (K,)
        Strictly increasing knot positions (raw confidence).
    values : ndarray of shape (K,)
        Map values at the knots, monotone in the direction of ``increasing``.
    increasing : bool
        True for a nondecreasing map, False for a nonincreasing one.
    n_samples : int
        Number of observations the map was fitted on (0 for a hand-made map).

    Notes
    -----
    Between knots the map interpolates linearly; outside ``[thresholds[0], thresholds[-1]]``
    it holds the end values (:func:`numpy.interp` semantics, scikit-learn's
    ``out_of_bounds="clip"``). The arrays are private read-only copies; equality compares
    them with :func:`numpy.array_equal` and the hash ignores them.
    """

    thresholds: FloatArray = attrs.field(converter=_frozen_floats, eq=_ARRAY_EQ, hash=False)
    values: FloatArray = attrs.field(
        converter=_frozen_floats, eq=_ARRAY_EQ, hash=False, validator=_check_knots
    )
    increasing: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    n_samples: int = attrs.field(
        default=0,
        validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)],
    )

    @classmethod
    def identity(cls) -> IsotonicCalibration:
        """Return the map that leaves every confidence in [0, 1] unchanged.

        Returns
        -------
        IsotonicCalibration
            Knots ``thresholds = [0, 1]`` and ``values = [0, 1]``, fitted on no samples.
        """
        return cls(thresholds=[0.0, 1.0], values=[0.0, 1.0], increasing=True, n_samples=0)

    def predict(self, confidence: npt.ArrayLike) -> FloatArray:
        """Map raw confidences through the calibration.

        Parameters
        ----------
        confidence : array_like of any shape
            Raw confidences; must be finite.

        Returns
        -------
        ndarray of float64, same shape as ``confidence``
            Linear interpolation between the knots, holding the end values outside them.

        Raises
        ------
        InvalidInputError
            If ``confidence`` is not numeric or holds NaN or infinity.
        """
        try:
            points = np.asarray(confidence, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"confidence must be an array of real numbers ({exc})") from exc
        if points.size:
            require_finite("confidence", points)
        return np.asarray(np.interp(points, self.thresholds, self.values), dtype=np.float64)

    def max_abs_change(self) -> float:
        """Return the largest ``|value - threshold|`` over the knots.

        Returns
        -------
        float
            ``max_k |values[k] - thresholds[k]|``; for a map whose knots span [0, 1] this is
            the largest change the map makes to any confidence in [0, 1].
        """
        return float(np.max(np.abs(self.values - self.thresholds)))


# ---------------------------------------------------------------------------
# Pool adjacent violators
# ---------------------------------------------------------------------------


@attrs.frozen
class _PavStats:
    """Work counters of one PAV run; tests use them to check linear time without a clock."""

    passes: int
    """Vectorised passes over the blocks."""
    vector_work: int
    """Blocks visited by the vectorised passes, summed over passes."""
    cleanup_violations: int
    """Adjacent violations left for the cleanup phase."""
    cleanup_work: int
    """Blocks visited by the cleanup phase (scalar steps plus numpy window elements)."""
    certificate_work: int = 0
    """Items visited by the flat-middle certificate (phase 3)."""
    middle_block: bool = False
    """Whether the certificate proved a stretch one block, collapsed before the cleanup."""


@attrs.frozen
class _Blocks:
    """Blocks after the vectorised phase, with zero-copy scalar views for the cleanup loop."""

    sums: FloatArray
    weights: FloatArray
    means: FloatArray
    sums_view: memoryview[float]
    weights_view: memoryview[float]
    means_view: memoryview[float]
    tol: float


def _absorb_forward(
    blocks: _Blocks, end: int, total: float, weight: float
) -> tuple[int, float, float, int]:
    """Absorb the blocks after ``end`` into the pool while its mean is not below theirs.

    This is PAV's "repair up" loop: sequential, stopping at the first block whose mean
    exceeds the pool's. Long runs are evaluated in growing numpy windows, so the work is
    linear in the number of absorbed blocks.
    """
    means, sums, weights, tol = blocks.means_view, blocks.sums_view, blocks.weights_view, blocks.tol
    count = len(means)
    work = 0
    for _ in range(_SCALAR_STEPS):
        if end >= count or total / weight < means[end] - tol:
            return end, total, weight, work
        total += sums[end]
        weight += weights[end]
        end += 1
        work += 1
    size = _FIRST_WINDOW
    while end < count:
        stop = min(count, end + size)
        run_sums = total + np.cumsum(blocks.sums[end:stop])
        run_weights = weight + np.cumsum(blocks.weights[end:stop])
        work += stop - end
        # Pool mean just before each candidate block, assuming all earlier ones joined.
        before = np.empty(stop - end)
        before[0] = total / weight
        np.divide(run_sums[:-1], run_weights[:-1], out=before[1:])
        misses = np.flatnonzero(before < blocks.means[end:stop] - tol)
        if misses.size:
            taken = int(misses[0])
            if taken:
                total, weight = float(run_sums[taken - 1]), float(run_weights[taken - 1])
            return end + taken, total, weight, work
        total, weight = float(run_sums[-1]), float(run_weights[-1])
        end = stop
        size = min(size * _WINDOW_GROWTH, _MAX_WINDOW)
    return end, total, weight, work


def _absorb_backward(
    blocks: _Blocks, start: int, floor: int, total: float, weight: float
) -> tuple[int, float, float, int]:
    """Merge the untouched blocks in ``[floor, start)`` into the pool, nearest first.

    This is PAV's "repair down" loop: it stops at the first block whose mean is below the
    pool's. Like the forward repair it switches to growing numpy windows for long runs.
    """
    means, sums, weights, tol = blocks.means_view, blocks.sums_view, blocks.weights_view, blocks.tol
    work = 0
    for _ in range(_SCALAR_STEPS):
        if start <= floor or means[start - 1] < total / weight - tol:
            return start, total, weight, work
        start -= 1
        total += sums[start]
        weight += weights[start]
        work += 1
    size = _FIRST_WINDOW
    while start > floor:
        lo = max(floor, start - size)
        run_sums = total + np.cumsum(blocks.sums[lo:start][::-1])
        run_weights = weight + np.cumsum(blocks.weights[lo:start][::-1])
        work += start - lo
        after = np.empty(start - lo)
        after[0] = total / weight
        np.divide(run_sums[:-1], run_weights[:-1], out=after[1:])
        misses = np.flatnonzero(blocks.means[lo:start][::-1] < after - tol)
        if misses.size:
            taken = int(misses[0])
            if taken:
                total, weight = float(run_sums[taken - 1]), float(run_weights[taken - 1])
            return start - taken, total, weight, work
        total, weight = float(run_sums[-1]), float(run_weights[-1])
        start = lo
        size = min(size * _WINDOW_GROWTH, _MAX_WINDOW)
    return start, total, weight, work


def _cleanup(
    sums: FloatArray, weights: FloatArray, means: FloatArray
) -> tuple[FloatArray, FloatArray, IndexArray, int, int]:
    """Finish PAV over the blocks left by the vectorised phase.

    Only the remaining violations are visited: each one seeds a pool that repairs
    forwards and backwards (through untouched blocks and earlier pools) until it is
    neither above its right neighbour nor below its left one, which is the stack PAV
    restricted to the places where something happens.

    Returns
    -------
    tuple
        Final block means, block weights, the kept indices into the input blocks, the
        number of violations seen and the work done.
    """
    count = means.shape[0]
    tol = _TIE_TOLERANCE * float(np.max(np.abs(means)))
    # Pool means within ``tol`` of each other: equal means that summation rounding
    # made unequal must not stay split.
    violations = np.flatnonzero(means[:-1] >= means[1:] - tol)
    if violations.size == 0:
        return means, weights, np.arange(count), 0, 0
    sums = np.ascontiguousarray(sums)
    weights = np.ascontiguousarray(weights)
    means = np.ascontiguousarray(means)
    blocks = _Blocks(
        sums=sums,
        weights=weights,
        means=means,
        sums_view=sums.data.cast("B").cast("d"),
        weights_view=weights.data.cast("B").cast("d"),
        means_view=means.data.cast("B").cast("d"),
        tol=tol,
    )
    pools: list[tuple[int, int, float, float]] = []  # (start, end, sum, weight), in order
    work = 0
    for first in violations.tolist():
        frontier = pools[-1][1] if pools else 0  # blocks from here on are untouched
        if first < frontier:
            continue
        start, end = first, first + 2
        total = blocks.sums_view[first] + blocks.sums_view[first + 1]
        weight = blocks.weights_view[first] + blocks.weights_view[first + 1]
        while True:
            end, total, weight, steps = _absorb_forward(blocks, end, total, weight)
            work += steps
            before = start
            while True:
                start, total, weight, steps = _absorb_backward(
                    blocks, start, frontier, total, weight
                )
                work += steps + 1
                # Once every untouched block to the left has joined, the previous pool
                # is the left neighbour.
                if start > frontier or not pools:
                    break
                left_start, _, left_sum, left_weight = pools[-1]
                if left_sum / left_weight < total / weight - tol:
                    break
                pools.pop()
                start, total, weight = left_start, total + left_sum, weight + left_weight
                frontier = pools[-1][1] if pools else 0
            if start == before:
                break
        pools.append((start, end, total, weight))
    kept, final_means, final_weights = _assemble(means, weights, pools)
    return final_means, final_weights, kept, int(violations.size), work


def _assemble(
    means: FloatArray, weights: FloatArray, pools: list[tuple[int, int, float, float]]
) -> tuple[IndexArray, FloatArray, FloatArray]:
    """Replace each pool's blocks by one block; return kept indices, means and weights."""
    head = np.ones(means.shape[0], dtype=bool)
    for start, end, _, _ in pools:
        head[start + 1 : end] = False
    kept = np.flatnonzero(head)
    final_means = means[kept]
    final_weights = weights[kept]
    where = np.searchsorted(kept, [pool[0] for pool in pools])
    pooled_sum = np.array([pool[2] for pool in pools])
    pooled_weight = np.array([pool[3] for pool in pools])
    final_means[where] = pooled_sum / pooled_weight
    final_weights[where] = pooled_weight
    return kept, final_means, final_weights


def _group_sums(starts: IndexArray, count: int, *columns: FloatArray) -> list[FloatArray]:
    """Sum each column over the consecutive groups that begin at ``starts`` (first is 0).

    Both kernels add each group's items in order. ``reduceat`` pays per group and
    ``bincount`` per item, so many short groups go to ``bincount`` (measured ~3x faster
    on random data) and few long ones to ``reduceat``.
    """
    groups = starts.shape[0]
    if groups * 4 < count:
        return [np.add.reduceat(column, starts) for column in columns]
    group = np.zeros(count, dtype=np.intp)
    group[starts[1:]] = 1
    np.cumsum(group, out=group)
    return [
        np.asarray(np.bincount(group, weights=column, minlength=groups), dtype=np.float64)
        for column in columns
    ]


def _group_sizes(starts: IndexArray, count: int) -> FloatArray:
    """Size of each group of ``count`` items, as float64, given the sorted group starts."""
    sizes = np.empty(starts.shape[0], dtype=np.float64)
    np.subtract(starts[1:], starts[:-1], out=sizes[:-1])
    sizes[-1] = count - starts[-1]
    return sizes


@attrs.frozen
class _Stage:
    """Blocks between PAV phases; None weights mean all ones, None starts mean 0..B-1."""

    sums: FloatArray
    means: FloatArray
    weights: FloatArray | None
    starts: IndexArray | None
    rises: npt.NDArray[np.bool_] | None = None
    """``means[:-1] < means[1:]`` when the last pass computed it for these blocks."""


def _compress(y: FloatArray, weights: FloatArray | None) -> _Stage:
    """Phase 1: run-length compress equal neighbours, which always share a block.

    Unweighted input skips it: a run of equal values is non-increasing, so the first
    merge pass pools it anyway, together with the run it belongs to, and that costs
    less fresh memory (on 1e6 sorted 0/1 outcomes, 5.5 ms and no page faults against
    16 ms and ≈ 5,600 faults for compressing first).
    """
    n = y.shape[0]
    if weights is None:
        return _Stage(sums=y, means=y, weights=None, starts=None)
    head = np.empty(n, dtype=bool)
    head[0] = True
    np.not_equal(y[1:], y[:-1], out=head[1:])
    if np.count_nonzero(head) == n:
        return _Stage(sums=weights * y, means=y, weights=weights, starts=None)
    starts = np.flatnonzero(head)
    sums, block_weights = _group_sums(starts, n, weights * y, weights)
    return _Stage(sums=sums, means=sums / block_weights, weights=block_weights, starts=starts)


def _merge_runs(stage: _Stage) -> tuple[_Stage, int, int]:
    """Phase 2: merge every maximal non-increasing run of blocks at once, pass after pass.

    Each such run is a chain of valid PAV merges (the pool of b1 >= b2 is still >= b3),
    and PAV's result does not depend on the merge order. The passes stop once one
    removes fewer than 1/8 of the blocks, so together they cost a geometric sum: O(n)
    even on adversarial input.

    Returns
    -------
    tuple
        The merged stage, the number of passes and the blocks visited.
    """
    sums, means, weights, starts = stage.sums, stage.means, stage.weights, stage.starts
    count = means.shape[0]
    passes = work = 0
    rises = None
    while count > 1:
        passes += 1
        work += count
        head = np.empty(count, dtype=bool)
        head[0] = True
        np.less(means[:-1], means[1:], out=head[1:])
        removed = count - int(np.count_nonzero(head))
        # A pass that would remove too few blocks is not worth its grouped sums: the
        # cleanup visits only the violations, so leave them to it.
        if removed < _STOP_FRACTION * count:
            rises = head[1:]
            break
        kept = np.flatnonzero(head)
        if weights is None:
            (sums,) = _group_sums(kept, count, sums)
            weights = _group_sizes(kept, count)
        else:
            sums, weights = _group_sums(kept, count, sums, weights)
        starts = kept if starts is None else starts[kept]
        means = sums / weights
        count = kept.shape[0]
    merged = _Stage(sums=sums, means=means, weights=weights, starts=starts, rises=rises)
    return merged, passes, work


_ROWS_PER_BATCH_ITEMS: Final = 1 << 16
"""The one-block certificate works through its chunks in batches of about this many items
(512 KiB of float64), so its temporaries stay in cache and it allocates no O(n) array."""


def _centred_rows(
    values: FloatArray, weights: FloatArray | None, mean: float, rows: IndexArray, size: int
) -> FloatArray:
    """Return ``w * (y - mean)`` of the chunks ``rows`` as a ``(len(rows), size)`` array.

    Items past the end of ``values`` (the last chunk may be short) are 0.
    """
    n = values.shape[0]
    index = rows[:, None] * size + np.arange(size)
    outside = index >= n
    np.minimum(index, n - 1, out=index)
    rows_z: FloatArray = values[index] - mean
    if weights is not None:
        rows_z *= weights[index]
    rows_z[outside] = 0.0
    return rows_z


def _piece_bounds(
    values: FloatArray, weights: FloatArray | None, mean: float, layout: tuple[int, int, int]
) -> tuple[FloatArray, FloatArray]:
    """Sum and negative part of ``z = w * (y - mean)`` over every piece of every chunk.

    ``layout`` is ``(chunks, pieces, piece)``: chunk ``j`` holds items
    ``j * pieces * piece`` onwards, cut into ``pieces`` pieces of ``piece`` items; the
    last chunk is zero-padded. The work goes in cache-sized batches of whole chunks.

    Returns
    -------
    tuple of ndarray of shape (chunks, pieces)
        The sum of each piece and the sum of its negative terms.
    """
    chunks, pieces, piece = layout
    size = pieces * piece
    n = values.shape[0]
    full = n // size
    sums = np.empty((chunks, pieces))
    negative = np.empty((chunks, pieces))
    batch = max(1, _ROWS_PER_BATCH_ITEMS // size)
    buffer = np.empty((min(batch, max(full, 1)), pieces, piece))
    cells = values[: full * size].reshape(full, pieces, piece)
    cell_weights = None if weights is None else weights[: full * size].reshape(full, pieces, piece)
    for first in range(0, full, batch):
        last = min(full, first + batch)
        block = buffer[: last - first]
        np.subtract(cells[first:last], mean, out=block)
        if cell_weights is not None:
            np.multiply(block, cell_weights[first:last], out=block)
        # einsum sums short rows several times faster than sum(axis=2).
        np.einsum("ijk->ij", block, out=sums[first:last])
        np.abs(block, out=block)
        np.einsum("ijk->ij", block, out=negative[first:last])
    if full < chunks:
        tail = _centred_rows(values, weights, mean, np.array([full]), size)
        tail_cells = tail.reshape(1, pieces, piece)
        sums[full:] = np.einsum("ijk->ij", tail_cells)
        negative[full:] = np.einsum("ijk->ij", np.abs(tail_cells))
    # The negative terms sum to (sum - sum of absolute values) / 2.
    np.subtract(sums, negative, out=negative)
    negative *= 0.5
    return sums, negative


def _exact_prefix_minima(
    values: FloatArray, weights: FloatArray | None, mean: float, rows: IndexArray, size: int
) -> tuple[FloatArray, FloatArray]:
    """Smallest in-chunk prefix sums of ``z = w * (y - mean)`` over the chunks ``rows``.

    Returns
    -------
    tuple of ndarray
        Per chunk, the smallest sum of a nonempty prefix of the chunk (the prefix sums
        that end in it), and the smallest sum of a proper prefix, the empty one included
        (what precedes each suffix that starts in it).
    """
    n = values.shape[0]
    inside = _centred_rows(values, weights, mean, rows, size)
    np.cumsum(inside, axis=1, out=inside)
    ending = np.min(inside, axis=1)
    proper = np.minimum(np.min(inside[:, :-1], axis=1, initial=0.0), 0.0)
    if (rows[-1] + 1) * size > n:
        # The last chunk is short: only its real items start suffixes.
        proper[-1] = min(0.0, float(np.min(inside[-1, : n - rows[-1] * size - 1], initial=0.0)))
    return ending, proper


def _one_block(
    values: FloatArray, weights: FloatArray | None, totals: tuple[float, float] | None = None
) -> tuple[tuple[float, float, float] | None, int]:
    r"""Return ``((mean, weight, scale), work)`` if the fit is one block, else ``(None, work)``.

    ``scale`` is :math:`\max |y|`, the scale of the tie tolerance. ``totals`` are
    :math:`(\sum w y, \sum w)` when the caller already has them.

    With :math:`m` the weighted mean, :math:`z_i = w_i (y_i - m)` and :math:`W_k` the
    weight of the first ``k`` items, the fit is the single block :math:`m` exactly when
    every prefix sum :math:`\sum_{i<k} z_i \ge 0` (every prefix mean is at least the mean,
    so every suffix mean at most). Within the tie tolerance :math:`t = 2^{-44} \max|y|`
    the check accepts :math:`\sum_{i<k} z_i \ge -t W_k` and
    :math:`\sum_{i \ge k} z_i \le t (W - W_k)`; then every exact fitted value lies in
    :math:`[m - t, m + t]`.

    The items are cut into about :math:`\sqrt n` chunks of about :math:`\sqrt n` items,
    each cut into about :math:`n^{1/4}` pieces. A chunk passes on bounds first: a
    prefix sum that ends in a piece is at least the sum before the piece plus the
    piece's negative terms; from the other end, it is minus the sum after it minus the
    positive terms (the two forms differ by :math:`\sum z \approx 0`; the one far from
    cancellation decides). Only the chunks these bounds cannot clear get their exact
    in-chunk prefix sums. Every sum runs over at most about 1,024 terms per level, so
    the rounding stays below about :math:`2^{-41} \sum_{i<k} |z_i| \le 2^{-40} W_k
    \max|y|`, and an accepted fit is within :math:`10^{-12} \max|y|` of the exact one.
    Cost: a few passes over the data, plus a cumsum over the chunks that need it.
    """
    n = values.shape[0]
    # Necessary: the first value is a prefix mean (>= m) and the last a suffix mean (<= m).
    if n < 2 or n > _ONE_BLOCK_MAX_SIZE or values[0] < values[-1]:  # noqa: PLR2004
        return None, 0
    scale = max(float(np.max(values)), -float(np.min(values)))
    piece = math.isqrt(math.isqrt(n - 1)) + 1
    pieces = -(-(math.isqrt(n - 1) + 1) // piece)
    size = piece * pieces
    chunks = -(-n // size)
    if totals is None:
        totals = (
            (float(np.sum(values)), float(n))
            if weights is None
            else (float(np.dot(weights, values)), float(np.sum(weights)))
        )
    total_weight = totals[1]
    mean = totals[0] / total_weight
    if weights is None:
        weight_before = np.arange(chunks, dtype=np.float64) * size
        weight_through = np.minimum(weight_before + size, total_weight)
    else:
        weight_through = np.cumsum(np.add.reduceat(weights, np.arange(0, n, size)))
        weight_before = np.concatenate(([0.0], weight_through[:-1]))
    piece_sums, low = _piece_bounds(values, weights, mean, (chunks, pieces, piece))
    # Per piece, a lower bound of every in-chunk prefix sum that ends in it.
    low[:, 1:] += np.cumsum(piece_sums[:, :-1], axis=1)
    ending = np.min(low, axis=1)
    proper = np.minimum(ending, 0.0)
    chunk_sums = np.sum(piece_sums, axis=1)
    before = np.zeros(chunks)  # sum of the chunks before each chunk
    np.cumsum(chunk_sums[:-1], out=before[1:])
    after = np.zeros(chunks)  # sum of the chunks after each chunk
    np.cumsum(chunk_sums[:0:-1], out=after[-2::-1])
    tol = _TIE_TOLERANCE * scale
    prefix_floor = -tol * weight_before
    suffix_ceiling = tol * (total_weight - weight_through)
    # Prefix sums ending in a chunk are >= max(before, -after - sum) + lowest in-chunk
    # prefix; suffix sums starting in it are <= min(after + sum, -before) - lowest
    # proper in-chunk prefix (the empty one, 0, included).
    prefix_base = np.maximum(before, -after - chunk_sums)
    suffix_base = np.minimum(after + chunk_sums, -before)
    unclear = np.flatnonzero(
        (prefix_base + ending < prefix_floor) | (suffix_base - proper > suffix_ceiling)
    )
    work = 2 * n
    if unclear.size:
        ending, proper = _exact_prefix_minima(values, weights, mean, unclear, size)
        work += unclear.size * size
        if not (
            bool(np.all(prefix_base[unclear] + ending >= prefix_floor[unclear]))
            and bool(np.all(suffix_base[unclear] - proper <= suffix_ceiling[unclear]))
        ):
            return None, work
    return (mean, total_weight, scale), work


_MIDDLE_ROUNDS: Final = 4
"""Rounds the flat-middle search may take to settle where the middle block starts and ends."""


@attrs.frozen
class _Middle:
    """Blocks ``[start, end)`` proven to end in one block of the fit, with their totals."""

    start: int
    end: int
    mean: float
    weight: float


def _weighted_sum(values: FloatArray, weights: FloatArray | None, lo: int, hi: int) -> float:
    """Return the weighted sum of ``values[lo:hi]``."""
    if weights is None:
        return float(np.sum(values[lo:hi]))
    return float(np.dot(values[lo:hi], weights[lo:hi]))


def _weight_of(weights: FloatArray | None, lo: int, hi: int) -> float:
    """Return the total weight of items ``lo:hi`` (all ones when ``weights`` is None)."""
    return float(hi - lo) if weights is None else float(np.sum(weights[lo:hi]))


def _settle_middle(
    values: FloatArray, weights: FloatArray | None, first: int, last: int
) -> tuple[int, int, float, float, int]:
    """Widen ``[first, last + 2)`` by the head items ``>= m`` and tail items ``<= m``.

    ``m`` is the stretch's mean, which moves as items join or leave; a few rounds
    settle it. Returns the stretch, its weighted sum and weight, and the items visited.
    """
    start, end = first, last + 2
    total = _weighted_sum(values, weights, start, end)
    weight = _weight_of(weights, start, end)
    work = end - start
    for _ in range(_MIDDLE_ROUNDS):
        mean = total / weight
        new_start = int(np.searchsorted(values[:first], mean, side="left"))
        new_end = last + 2 + int(np.searchsorted(values[last + 2 :], mean, side="right"))
        if (new_start, new_end) == (start, end):
            break
        # Add what joined and subtract what left, on each side.
        for old, new, outward in (
            (start, new_start, new_start < start),
            (end, new_end, new_end > end),
        ):
            lo, hi = min(old, new), max(old, new)
            sign = 1.0 if outward else -1.0
            total += sign * _weighted_sum(values, weights, lo, hi)
            weight += sign * _weight_of(weights, lo, hi)
            work += hi - lo
        start, end = new_start, new_end
    return start, end, total, weight, work


def _flat_middle(
    values: FloatArray, weights: FloatArray | None, rises: npt.NDArray[np.bool_] | None = None
) -> tuple[_Middle | None, int]:
    """Find a long stretch of the blocks that is one block of the fit, proven in O(n).

    ``values`` are block means (weights ``weights``, all ones when None). The head is
    the longest strictly rising prefix, the tail the longest strictly rising suffix;
    all the violations lie between them. A candidate stretch covers them, plus the
    head items ``>= m`` and the tail items ``<= m`` for its mean ``m`` (a few rounds
    settle ``m``); if :func:`_one_block` proves it one block *on its own*, it is one
    block of the whole fit too: PAV on the stretch alone makes only merges of adjacent
    violating blocks, which are valid merges of the whole sequence, and PAV's result
    does not depend on the order of its merges. When the stretch is not one block, the
    same is tried without the last rising run's part above ``m`` and without the
    first rising run's part below ``m`` (a fit that ends or starts in a second block).
    The caller collapses the stretch into one block and lets the cleanup finish.

    Returns
    -------
    tuple
        The stretch (or None) and the items visited.
    """
    n = values.shape[0]
    if rises is None:
        rises = values[:-1] < values[1:]
    first = int(np.argmin(rises))
    if rises[first]:
        return None, n  # already rising: the cleanup has nothing to do either
    last = n - 2 - int(np.argmin(rises[::-1]))
    # Necessary: the block's first value (<= values[first]) is >= its mean, which is
    # >= its last value (>= values[last + 1]).
    if values[first] < values[last + 1]:
        return None, n
    start, end, total, weight, work = _settle_middle(values, weights, first, last)
    work += n
    mean = total / weight
    starts = [start]
    ends = [end]
    if last > first:
        # The rising run that ends at the last fall, and the one after the first fall.
        previous = last - 1 - int(np.argmin(rises[first:last][::-1]))
        ends.append(
            previous + 1 + int(np.searchsorted(values[previous + 1 : last + 1], mean, "right"))
        )
        following = first + 1 + int(np.argmin(rises[first + 1 :]))
        starts.append(
            first + 1 + int(np.searchsorted(values[first + 1 : following + 1], mean, "left"))
        )
    for lo in starts:
        for hi in ends:
            if hi - lo < 2 or values[lo] < values[hi - 1]:  # noqa: PLR2004
                continue
            # Totals of [lo, hi) from those of [start, end) minus the trimmed ends.
            totals = (
                total
                - _weighted_sum(values, weights, start, lo)
                - _weighted_sum(values, weights, hi, end),
                weight - _weight_of(weights, start, lo) - _weight_of(weights, hi, end),
            )
            block, block_work = _one_block(
                values[lo:hi], None if weights is None else weights[lo:hi], totals
            )
            work += block_work
            if block is not None:
                return _Middle(start=lo, end=hi, mean=block[0], weight=block[1]), work
    return None, work


def _collapse(stage: _Stage, middle: _Middle) -> _Stage:
    """Replace the blocks ``[middle.start, middle.end)`` of ``stage`` by one block."""
    start, end = middle.start, middle.end
    count = stage.means.shape[0]
    total = middle.mean * middle.weight
    sums = np.concatenate((stage.sums[:start], [total], stage.sums[end:]))
    means = np.concatenate((stage.means[:start], [middle.mean], stage.means[end:]))
    if stage.weights is None:
        weights = np.ones(means.shape[0])
        weights[start] = middle.weight
    else:
        weights = np.concatenate((stage.weights[:start], [middle.weight], stage.weights[end:]))
    if stage.starts is None:
        starts = np.concatenate((np.arange(start + 1), np.arange(end, count)))
    else:
        starts = np.concatenate((stage.starts[: start + 1], stage.starts[end:]))
    return _Stage(sums=sums, means=means, weights=weights, starts=starts)


def _pool_adjacent_violators(
    y: FloatArray, weights: FloatArray | None
) -> tuple[FloatArray, FloatArray, IndexArray, _PavStats]:
    """Nondecreasing weighted least-squares fit of ordered, non-empty ``y``.

    Returns
    -------
    tuple
        Block means (B,), block weights (B,), block boundaries (B + 1,) ending with
        ``n``, and the work counters.
    """
    stage, passes, vector_work = _merge_runs(_compress(y, weights))
    count = stage.means.shape[0]
    # Phase 3: a long stretch proven to be one block of the fit (often the whole
    # fit but for a rising head and tail) is collapsed in O(n); the cleanup finishes.
    middle, certificate_work = (
        _flat_middle(stage.means, stage.weights, stage.rises) if count > 1 else (None, 0)
    )
    if middle is not None:
        stage = _collapse(stage, middle)
        count = stage.means.shape[0]
    means = stage.means
    block_weights = np.ones(count) if stage.weights is None else stage.weights
    starts = np.arange(count) if stage.starts is None else stage.starts
    # Phase 4: a stack PAV that only visits the few violations left.
    violations = work = 0
    if count > 1:
        means, block_weights, kept, violations, work = _cleanup(stage.sums, block_weights, means)
        if kept.shape[0] != count:
            starts = starts[kept]
    boundaries = np.empty(starts.shape[0] + 1, dtype=np.intp)
    boundaries[:-1] = starts
    boundaries[-1] = y.shape[0]
    stats = _PavStats(
        passes=passes,
        vector_work=vector_work,
        cleanup_violations=violations,
        cleanup_work=work,
        certificate_work=certificate_work,
        middle_block=middle is not None,
    )
    return means, block_weights, boundaries, stats


def isotonic_regression(
    y: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    increasing: bool = True,
) -> IsotonicResult:
    r"""Fit a monotone sequence to ordered data by weighted least squares (PAV).

    Parameters
    ----------
    y : array_like of shape (n,)
        Finite responses, already in the order the fit must respect. ``n = 0`` is allowed
        and gives an empty result with ``blocks == [0]``, as in scipy.
    weights : array_like of shape (n,), optional
        Finite, strictly positive case weights; all ones when omitted.
    increasing : bool, default True
        Fit a nondecreasing sequence; False fits a nonincreasing one.

    Returns
    -------
    IsotonicResult
        ``x`` (n,) fitted values, ``weights`` (B,) block weights and ``blocks`` (B + 1,)
        block boundaries, the layout of :func:`scipy.optimize.isotonic_regression`.

    Raises
    ------
    InvalidInputError
        If ``y`` is not 1-D or not finite, or ``weights`` has another length, is not
        finite or is not strictly positive.

    Notes
    -----
    The fit solves

    .. math::

        \hat x = \operatorname{argmin}_{x} \sum_{i=1}^{n} w_i (y_i - x_i)^2
        \quad \text{subject to } x_1 \le x_2 \le \dots \le x_n .

    The solution is constant on blocks, each block's value is the weighted mean
    :math:`\sum_{i \in b} w_i y_i / \sum_{i \in b} w_i` of its data, and consecutive
    blocks have strictly increasing values. Block means closer than
    :math:`2^{-44} \max_b |\bar y_b|` are treated as equal and pooled, so a level
    that rounding split in two is reported as one block (scipy may report two).
    ``increasing=False`` fits :math:`-y` and negates the result.

    The algorithm is O(n) in the worst case: vectorised passes that pool every maximal
    non-increasing run of blocks while they keep removing at least 1/8 of the blocks,
    then a certificate that proves in O(n) numpy work a fit of one block between a
    rising head and a rising tail (the shapes a sequential PAV cascades through), and
    otherwise a stack PAV that visits only the violations left. See
    ``docs/algorithms.md``.

    Examples
    --------
    >>> fit = isotonic_regression([1.0, 3.0, 2.0, 4.0])
    >>> fit.x.tolist(), fit.blocks.tolist()
    ([1.0, 2.5, 2.5, 4.0], [0, 1, 3, 4])
    """
    values = as_vector("y", y, allow_empty=True)
    case_weights = _as_weights(weights, values.shape[0], of="y")
    if values.shape[0] == 0:
        return IsotonicResult(x=np.empty(0), weights=np.empty(0), blocks=np.zeros(1, dtype=np.intp))
    means, block_weights, boundaries, _ = _pool_adjacent_violators(
        values if increasing else -values, case_weights
    )
    if not increasing:
        means = -means
    if case_weights is not None and np.may_share_memory(block_weights, case_weights):
        block_weights = block_weights.copy()  # untouched blocks may be the caller's weights
    if means.shape[0] == 1:
        fitted = np.full(values.shape[0], means[0])
    else:
        fitted = np.repeat(means, np.diff(boundaries))
    return _adopt_result(fitted, block_weights, boundaries)


# ---------------------------------------------------------------------------
# Calibration map
# ---------------------------------------------------------------------------


def _runs(ordered: FloatArray) -> tuple[FloatArray, IndexArray]:
    """Distinct values of a sorted array and the length of each run of equal values."""
    n = ordered.shape[0]
    head = np.empty(n, dtype=bool)
    head[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=head[1:])
    starts = np.flatnonzero(head)
    return ordered[starts], np.diff(starts, append=n)


def _pool_binary_ties(
    points: FloatArray, outcomes: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray | None] | None:
    """Pool unweighted 0/1 outcomes by distinct ``x`` with two sorts and no permutation.

    The count of each distinct ``x`` comes from ``sort(x)`` and its count of 1s from
    ``sort(x where y == 1)``; the mean is their exact quotient. ``np.sort`` is several
    times faster than ``np.argsort`` followed by the gathers. Returns None unless every
    outcome is exactly 0 or 1.
    """
    n = points.shape[0]
    ones = outcomes == 1.0
    positives = int(np.count_nonzero(ones))
    if positives + int(np.count_nonzero(outcomes == 0.0)) != n:
        return None
    distinct, counts = _runs(np.sort(points))
    # x is finite (checked), so +inf sorts the 0 outcomes after every 1.
    hits = np.where(ones, points, math.inf)
    hits.sort()
    hit_values, hit_counts = _runs(hits[:positives]) if positives else (np.empty(0), counts[:0])
    successes = np.zeros(distinct.shape[0])
    successes[np.searchsorted(distinct, hit_values)] = hit_counts
    if distinct.shape[0] == n:
        return distinct, successes, None
    weights = counts.astype(np.float64)
    return distinct, successes / weights, weights


def _pool_ties(
    points: FloatArray, outcomes: FloatArray, weights: FloatArray | None
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Sort by ``x`` and pool equal ``x`` into (x, weighted mean of y, summed weight)."""
    n = points.shape[0]
    # The default introsort measured fastest on 1e6 confidences with many ties; stability
    # is not needed because tied points are pooled into one.
    order = np.argsort(points)
    sorted_x = points[order]
    sorted_y = outcomes[order]
    sorted_w = None if weights is None else weights[order]
    head = np.empty(n, dtype=bool)
    head[0] = True
    np.not_equal(sorted_x[1:], sorted_x[:-1], out=head[1:])
    starts = np.flatnonzero(head)
    if starts.shape[0] == n:
        return sorted_x, sorted_y, sorted_w
    if sorted_w is None:
        knots_w = np.diff(starts, append=n).astype(np.float64)
        return sorted_x[starts], np.add.reduceat(sorted_y, starts) / knots_w, knots_w
    knots_w = np.add.reduceat(sorted_w, starts)
    return sorted_x[starts], np.add.reduceat(sorted_w * sorted_y, starts) / knots_w, knots_w


def fit_isotonic(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    increasing: bool = True,
    y_min: float | None = 0.0,
    y_max: float | None = 1.0,
) -> IsotonicCalibration:
    r"""Fit a monotone calibration map from confidences ``x`` to outcomes ``y``.

    Parameters
    ----------
    x : array_like of shape (n,)
        Finite raw confidences, in any order; ``n >= 1``.
    y : array_like of shape (n,)
        Finite outcomes: 0/1 results or observed rates.
    weights : array_like of shape (n,), optional
        Finite, strictly positive case weights; all ones when omitted.
    increasing : bool, default True
        Fit a nondecreasing map; False fits a nonincreasing one.
    y_min, y_max : float or None, default 0.0 and 1.0
        Clip the fitted values to ``[y_min, y_max]``; None leaves that side open.

    Returns
    -------
    IsotonicCalibration
        Knots at the distinct ``x`` where the fitted value changes (the first and last
        point of every run of equal values are kept), with ``n_samples = n``.

    Raises
    ------
    InvalidInputError
        If an array is empty, not 1-D or not finite, the lengths differ, a weight is not
        strictly positive, or ``y_min > y_max``.

    Notes
    -----
    Ties in ``x`` are pooled first (scikit-learn's "secondary" rule): the points with
    the same :math:`x = u` become one point with

    .. math::

        \bar y_u = \frac{\sum_{i: x_i = u} w_i y_i}{\sum_{i: x_i = u} w_i}, \qquad
        W_u = \sum_{i: x_i = u} w_i .

    The pooled points, in increasing ``u``, are fitted by :func:`isotonic_regression`
    with weights :math:`W_u`, and the values are clipped to ``[y_min, y_max]``.
    Only exactly equal ``x`` are ties (scikit-learn also pools ``x`` closer than
    1e-15). Predictions equal ``IsotonicRegression(out_of_bounds="clip")`` fitted with
    the same ``y_min``/``y_max``.

    Examples
    --------
    >>> cal = fit_isotonic([0.2, 0.4, 0.6, 0.8], [0.0, 1.0, 0.0, 1.0])
    >>> cal.predict([0.1, 0.5, 0.9]).tolist()
    [0.0, 0.5, 1.0]
    """
    points = as_vector("x", x, allow_empty=False)
    n = points.shape[0]
    outcomes = as_vector("y", y, allow_empty=True)
    if outcomes.shape[0] != n:
        raise InvalidInputError(
            f"y must have the same length as x (got {outcomes.shape[0]}, expected {n})"
        )
    case_weights = _as_weights(weights, n, of="x")
    low = _as_bound("y_min", y_min)
    high = _as_bound("y_max", y_max)
    if low is not None and high is not None and low > high:
        raise InvalidInputError(f"y_min must not exceed y_max (got {low} > {high})")

    pooled = _pool_binary_ties(points, outcomes) if case_weights is None else None
    if pooled is None:
        pooled = _pool_ties(points, outcomes, case_weights)
    return _fit_pooled(pooled, n, increasing=increasing, bounds=(low, high))


def _fit_pooled(
    knots: tuple[FloatArray, FloatArray, FloatArray | None],
    n_samples: int,
    *,
    increasing: bool,
    bounds: tuple[float | None, float | None],
) -> IsotonicCalibration:
    """Fit the map from pooled points: distinct ``x``, their mean ``y`` and their weight."""
    knots_x, knots_y, knots_w = knots
    low, high = bounds
    means, _, boundaries, _ = _pool_adjacent_violators(knots_y if increasing else -knots_y, knots_w)
    if not increasing:
        means = -means
    if low is not None or high is not None:
        means = np.clip(
            means, -math.inf if low is None else low, math.inf if high is None else high
        )
    fitted = np.repeat(means, np.diff(boundaries))

    # Keep the first and last knot of every run of equal values: the points between
    # them lie on a flat segment and change no prediction.
    keep = np.ones(fitted.shape[0], dtype=bool)
    keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return IsotonicCalibration(
        thresholds=knots_x[keep], values=fitted[keep], increasing=increasing, n_samples=n_samples
    )


# ---------------------------------------------------------------------------
# Sufficient statistics: fitting a history split across partitions
# ---------------------------------------------------------------------------


def _check_statistics(
    instance: SufficientStatistics, _attribute: object, weight_sums: FloatArray
) -> None:
    """Validate a :class:`SufficientStatistics` table (several fields at once)."""
    x, sums = instance.x, instance.weighted_sums
    if not (x.ndim == sums.ndim == weight_sums.ndim == 1):
        raise InvalidInputError("x, weighted_sums and weight_sums must be 1-D")
    if not (x.shape == sums.shape == weight_sums.shape):
        raise InvalidInputError(
            "x, weighted_sums and weight_sums must have the same length "
            f"(got {x.shape[0]}, {sums.shape[0]} and {weight_sums.shape[0]})"
        )
    require_finite("x", x)
    require_finite("weighted_sums", sums)
    require_finite("weight_sums", weight_sums)
    if x.shape[0] > 1 and not float(np.min(np.diff(x))) > 0.0:
        index = int(np.flatnonzero(np.diff(x) <= 0.0)[0]) + 1
        raise InvalidInputError(
            f"x must be strictly increasing (got {float(x[index])} after "
            f"{float(x[index - 1])} at index {index})"
        )
    if x.shape[0] and not float(np.min(weight_sums)) > 0.0:
        index = int(np.flatnonzero(weight_sums <= 0.0)[0])
        raise InvalidInputError(
            f"weight_sums must be strictly positive (got {float(weight_sums[index])} "
            f"at index {index})"
        )
    if instance.n_samples < x.shape[0]:
        raise InvalidInputError(
            f"n_samples must be at least the number of distinct x "
            f"(got {instance.n_samples} < {x.shape[0]})"
        )


@attrs.frozen
class SufficientStatistics:
    r"""What the isotonic fit needs from a set of samples: per distinct ``x``, ``Σw`` and ``Σwy``.

    Attributes
    ----------
    x : ndarray of shape (K,)
        The distinct confidences, strictly increasing.
    weighted_sums : ndarray of shape (K,)
        :math:`\sum_{i: x_i = u} w_i y_i` for each distinct :math:`u`.
    weight_sums : ndarray of shape (K,)
        :math:`\sum_{i: x_i = u} w_i` (the count when unweighted), strictly positive.
    n_samples : int
        Number of samples summarised.

    Notes
    -----
    Tables of disjoint partitions merge by adding the sums of equal ``x``
    (:func:`merge_sufficient_statistics`), and :func:`fit_sufficient_statistics` of the
    merged table equals :func:`fit_isotonic` of all the samples (to rounding): the fit
    pools ties first and sees nothing else. ``K`` is bounded by the distinct
    confidences (about 1,000 at 3 decimals), whatever the number of samples.
    """

    x: FloatArray = attrs.field(converter=_frozen_floats, eq=_ARRAY_EQ, hash=False)
    weighted_sums: FloatArray = attrs.field(converter=_frozen_floats, eq=_ARRAY_EQ, hash=False)
    weight_sums: FloatArray = attrs.field(
        converter=_frozen_floats, eq=_ARRAY_EQ, hash=False, validator=_check_statistics
    )
    n_samples: int = attrs.field(
        validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)]
    )


def _grouped(
    x: FloatArray, sums: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sort by ``x`` and add ``sums`` and ``weights`` over equal ``x``."""
    order = np.argsort(x)
    sorted_x = x[order]
    head = np.empty(sorted_x.shape[0], dtype=bool)
    head[:1] = True
    np.not_equal(sorted_x[1:], sorted_x[:-1], out=head[1:])
    starts = np.flatnonzero(head)
    if starts.shape[0] == 0:
        return sorted_x, sums[:0], weights[:0]
    return (
        sorted_x[starts],
        np.add.reduceat(sums[order], starts),
        np.add.reduceat(weights[order], starts),
    )


def sufficient_statistics(
    x: npt.ArrayLike, y: npt.ArrayLike, *, weights: npt.ArrayLike | None = None
) -> SufficientStatistics:
    """Summarise samples for the isotonic fit: per distinct ``x``, ``Σw`` and ``Σwy``.

    Parameters
    ----------
    x : array_like of shape (n,)
        Finite raw confidences, in any order; ``n = 0`` gives an empty table.
    y : array_like of shape (n,)
        Finite outcomes.
    weights : array_like of shape (n,), optional
        Finite, strictly positive case weights; all ones when omitted.

    Returns
    -------
    SufficientStatistics
        The table of this partition.

    Raises
    ------
    InvalidInputError
        If an array is not 1-D or not finite, the lengths differ or a weight is not
        strictly positive.

    Examples
    --------
    >>> table = sufficient_statistics([0.6, 0.5, 0.6], [1.0, 0.0, 0.0])
    >>> table.x.tolist(), table.weighted_sums.tolist(), table.weight_sums.tolist()
    ([0.5, 0.6], [0.0, 1.0], [1.0, 2.0])
    """
    points = as_vector("x", x, allow_empty=True)
    n = points.shape[0]
    outcomes = as_vector("y", y, allow_empty=True)
    if outcomes.shape[0] != n:
        raise InvalidInputError(
            f"y must have the same length as x (got {outcomes.shape[0]}, expected {n})"
        )
    case_weights = _as_weights(weights, n, of="x")
    unit = np.ones(n) if case_weights is None else case_weights
    distinct, sums, weight_sums = _grouped(points, unit * outcomes, unit)
    return SufficientStatistics(
        x=distinct, weighted_sums=sums, weight_sums=weight_sums, n_samples=n
    )


def merge_sufficient_statistics(
    first: SufficientStatistics, second: SufficientStatistics
) -> SufficientStatistics:
    """Merge the tables of two disjoint partitions: add the sums of equal ``x``.

    Parameters
    ----------
    first, second : SufficientStatistics
        Tables of disjoint sets of samples.

    Returns
    -------
    SufficientStatistics
        The table of their union. Merging is associative and commutative up to the
        rounding of the sums, so partitions may be merged in any order or tree.

    Examples
    --------
    >>> a = sufficient_statistics([0.5, 0.6], [1.0, 0.0])
    >>> b = sufficient_statistics([0.6, 0.7], [1.0, 1.0])
    >>> merge_sufficient_statistics(a, b).weight_sums.tolist()
    [1.0, 2.0, 1.0]
    """
    distinct, sums, weight_sums = _grouped(
        np.concatenate((first.x, second.x)),
        np.concatenate((first.weighted_sums, second.weighted_sums)),
        np.concatenate((first.weight_sums, second.weight_sums)),
    )
    return SufficientStatistics(
        x=distinct,
        weighted_sums=sums,
        weight_sums=weight_sums,
        n_samples=first.n_samples + second.n_samples,
    )


def fit_sufficient_statistics(
    statistics: SufficientStatistics,
    *,
    increasing: bool = True,
    y_min: float | None = 0.0,
    y_max: float | None = 1.0,
) -> IsotonicCalibration:
    """Fit the calibration map from a (merged) table, as :func:`fit_isotonic` would.

    Parameters
    ----------
    statistics : SufficientStatistics
        A non-empty table, usually merged from every partition's.
    increasing : bool, default True
        Fit a nondecreasing map; False fits a nonincreasing one.
    y_min, y_max : float or None, default 0.0 and 1.0
        Clip the fitted values to ``[y_min, y_max]``; None leaves that side open.

    Returns
    -------
    IsotonicCalibration
        Equal (to rounding) to ``fit_isotonic`` of all the samples the table summarises.

    Raises
    ------
    InvalidInputError
        If the table is empty or ``y_min > y_max``.
    """
    if statistics.x.shape[0] == 0:
        raise InvalidInputError("statistics must summarise at least one sample (got 0)")
    low = _as_bound("y_min", y_min)
    high = _as_bound("y_max", y_max)
    if low is not None and high is not None and low > high:
        raise InvalidInputError(f"y_min must not exceed y_max (got {low} > {high})")
    weight_sums = np.array(statistics.weight_sums)
    knots = (statistics.x, statistics.weighted_sums / weight_sums, weight_sums)
    return _fit_pooled(knots, statistics.n_samples, increasing=increasing, bounds=(low, high))


# ---------------------------------------------------------------------------
# Bounding the change of a confidence map
# ---------------------------------------------------------------------------


def _band_edges(knots: FloatArray, max_change: float) -> tuple[FloatArray, FloatArray]:
    """Return per-knot band edges whose distance to the knot is at most ``max_change`` in floats.

    ``knots ± max_change`` can round one ulp outside the band; the edges are pulled in
    until ``edge - knot`` (and ``knot - edge``) computed in float64 is within the bound, and
    made monotone so that the clipped values stay monotone.
    """
    upper = knots + max_change
    while True:
        over = (upper - knots) > max_change
        if not over.any():
            break
        upper[over] = np.nextafter(upper[over], -math.inf)
    lower = knots - max_change
    while True:
        over = (knots - lower) > max_change
        if not over.any():
            break
        lower[over] = np.nextafter(lower[over], math.inf)
    upper = np.minimum.accumulate(upper[::-1])[::-1]
    lower = np.maximum.accumulate(lower)
    return lower, upper


def _crossings(knots: FloatArray, gaps: FloatArray) -> FloatArray:
    """Points strictly inside a segment where the linear ``gaps`` change sign."""
    left, right = gaps[:-1], gaps[1:]
    where = np.flatnonzero(((left < 0.0) & (right > 0.0)) | ((left > 0.0) & (right < 0.0)))
    if where.size == 0:
        return np.empty(0)
    share = left[where] / (left[where] - right[where])
    start, stop = knots[where], knots[where + 1]
    return np.clip(start + (stop - start) * share, start, stop)


def bound_confidence_change(
    calibration: IsotonicCalibration,
    max_change: float = MAX_CONFIDENCE_CHANGE,
) -> IsotonicCalibration:
    r"""Clamp a confidence map so that no confidence in [0, 1] moves by more than ``max_change``.

    Parameters
    ----------
    calibration : IsotonicCalibration
        An increasing map (its ``predict``, with its end-value extrapolation, is ``f``).
    max_change : float, default MAX_CONFIDENCE_CHANGE
        The largest allowed ``|g(c) - c|``, in (0, 1]. The system always passes
        ``MAX_CONFIDENCE_CHANGE`` (0.15); other values exist for tests and analysis.

    Returns
    -------
    IsotonicCalibration
        The map ``g`` with knots spanning exactly [0, 1] (no extrapolation region), the
        same ``n_samples`` and ``increasing=True``.

    Raises
    ------
    InvalidInputError
        If ``calibration`` is decreasing or ``max_change`` is not in (0, 1].

    Notes
    -----
    With :math:`\delta` = ``max_change``, the result is, pointwise on [0, 1],

    .. math::

        g(c) = \min\bigl(1, \max\bigl(0, \min(c + \delta, \max(c - \delta, f(c)))\bigr)\bigr).

    ``g`` is piecewise linear with kinks only at ``f``'s knots, at the points where
    ``f`` crosses :math:`c \pm \delta`, 0 or 1, and at :math:`c = \delta` /
    :math:`c = 1 - \delta` where a band edge meets 0 or 1; all of these in [0, 1] become
    knots, so interpolating the knots reproduces ``g`` up to rounding. Knot values are
    nudged by at most an ulp so that ``|g - c| <= max_change`` holds exactly in float64
    at every knot. Interior knots inside a flat run or a run along one band edge are
    trimmed. Applying the function twice gives the same map (up to rounding).
    """
    if not calibration.increasing:
        raise InvalidInputError(
            "calibration must be increasing to bound a confidence map (got a decreasing map)"
        )
    try:
        delta = float(max_change)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"max_change must be a real number (got {max_change!r})") from exc
    if not (math.isfinite(delta) and 0.0 < delta <= 1.0):
        raise InvalidInputError(f"max_change must be in (0, 1] (got {delta})")

    thresholds = calibration.thresholds
    inside = thresholds[(thresholds > 0.0) & (thresholds < 1.0)]
    base = np.concatenate(([0.0], inside, [1.0]))
    base_values = calibration.predict(base)
    candidates = [
        base,
        _crossings(base, base_values - (base + delta)),
        _crossings(base, base_values - (base - delta)),
        _crossings(base, base_values),
        _crossings(base, base_values - 1.0),
    ]
    # A band edge meets 0 (at c = δ) or 1 (at c = 1 - δ): a kink only where f lies beyond it.
    edge_points = np.array([delta, 1.0 - delta])
    edge_values = calibration.predict(edge_points)
    if 0.0 < delta < 1.0 and edge_values[0] <= 0.0:
        candidates.append(edge_points[:1])
    if 0.0 < 1.0 - delta < 1.0 and edge_values[1] >= 1.0:
        candidates.append(edge_points[1:])
    knots = np.unique(np.concatenate(candidates))

    raw = np.maximum.accumulate(calibration.predict(knots))
    lower, upper = _band_edges(knots, delta)
    values = np.clip(np.minimum(upper, np.maximum(lower, raw)), 0.0, 1.0)

    # Give each segment one line type (flat first, then either band edge, else 0) and
    # drop an interior knot when both its segments have the same type: they lie on one
    # line. Typing segments, not knots, keeps a knot that ends one run and starts another.
    on_upper = values == upper
    on_lower = values == lower
    segment = np.select(
        [values[1:] == values[:-1], on_upper[1:] & on_upper[:-1], on_lower[1:] & on_lower[:-1]],
        [1, 2, 3],
        default=0,
    )
    keep = np.ones(knots.shape[0], dtype=bool)
    keep[1:-1] = (segment[1:] != segment[:-1]) | (segment[1:] == 0)
    return IsotonicCalibration(
        thresholds=knots[keep],
        values=values[keep],
        increasing=True,
        n_samples=calibration.n_samples,
    )
