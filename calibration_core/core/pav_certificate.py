# Pure: imports only numpy, attrs and math.
"""PAV's phase 3: an O(n) certificate that a long stretch of blocks is one block of the fit."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import attrs
import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    IndexArray = npt.NDArray[np.intp]

__all__: list[str] = []

_TIE_TOLERANCE: Final = 2.0**-44
"""Pooled means closer than this times the largest absolute mean count as equal (≈ 5.7e-14)."""

_ONE_BLOCK_MAX_SIZE: Final = 1 << 20
"""Largest input the one-block certificate checks: it then cuts the input into at most
about 1,024 chunks of at most about 1,024 items, which bounds the rounding of its sums."""


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
