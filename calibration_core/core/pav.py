# Pure: imports only numpy, attrs, math and calibration_core's _arrays, exceptions and
# pav_certificate.
"""Weighted isotonic least squares: our own linear-time pool-adjacent-violators (PAV)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import attrs
import numpy as np

from calibration_core._arrays import as_vector, frozen_array
from calibration_core.core.pav_certificate import _TIE_TOLERANCE, _flat_middle
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    IndexArray = npt.NDArray[np.intp]

    from calibration_core.core.pav_certificate import _Middle

__all__ = ["IsotonicResult", "isotonic_regression"]

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


def _frozen_indices(value: npt.ArrayLike) -> IndexArray:
    """Return a private, read-only intp copy of ``value``."""
    return frozen_array(value, np.intp)


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

    x: FloatArray = attrs.field(converter=frozen_array, eq=_ARRAY_EQ, hash=False)
    weights: FloatArray = attrs.field(converter=frozen_array, eq=_ARRAY_EQ, hash=False)
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
