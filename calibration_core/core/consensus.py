"""Consensus multipliers: one bounded factor per agreement bucket, gated on held-out trades."""

# Pure: imports only math, numpy, attrs and calibration_core's pure modules (constants,
# exceptions, gate, holdout, isotonic, metrics, validation, weights) plus config.py to
# share its consensus-bucket rule with the runtime and to build the section it proposes.

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from calibration_core.config import (
    CONSENSUS_BUCKETS,
    MAX_CONSENSUS_MULTIPLIER,
    MIN_CONSENSUS_MULTIPLIER,
    ConsensusMultipliers,
    consensus_bucket,
)
from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MIN_CONFIDENCE_IMPROVEMENT,
    MIN_TRADES_FOR_CALIBRATION,
)
from calibration_core.core.gate import GateEvidence, paired_gate
from calibration_core.core.holdout import (
    DEFAULT_OOS_FOLDS,
    MIN_FOLD_TRADES,
    OutOfSampleResult,
    as_unit_column,
    evaluate_out_of_sample,
    fold_plan,
    nan_to_none,
    pooled_brier,
    relative_improvement,
    unit_pair,
)
from calibration_core.core.metrics import brier_score
from calibration_core.core.numbers import require
from calibration_core.core.validation import (
    CheckResult,
    Severity,
    check_confidence_improvement,
    check_no_degradation,
)
from calibration_core.core.weights import ACTION_MISSING
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from calibration_core.core.isotonic import IsotonicCalibration

__all__ = [
    "CONSENSUS_SHRINKAGE_TRADES",
    "BucketEstimate",
    "ConsensusAnalysis",
    "ConsensusFold",
    "apply_consensus_multipliers",
    "consensus_bucket_codes",
    "consensus_checks",
    "consensus_from_trades",
    "consensus_unavailable",
    "estimate_consensus_multipliers",
    "evaluate_consensus",
    "max_combined_change",
    "multiplier_limits",
    "shrink_multiplier",
]

# Float rounding of "raw ± 0.15" computed as a product; 0.15 + 1e-9 still fails.
_BOUND_SLACK = 1e-12

CONSENSUS_SHRINKAGE_TRADES = MIN_TRADES_FOR_CALIBRATION
"""k of the shrinkage ``1 + n/(n + k) (r - 1)``: a bucket of k trades moves halfway to r."""


def shrink_multiplier(
    raw_multiplier: float, n_trades: int, *, k: float = CONSENSUS_SHRINKAGE_TRADES
) -> float:
    """Shrink a bucket's raw multiplier toward 1 by its trade count, then clamp it.

    Parameters
    ----------
    raw_multiplier : float
        The bucket's win rate over its mean confidence, ``>= 0``; NaN (no
        evidence) gives 1.0.
    n_trades : int
        Trades in the bucket, ``>= 0``.
    k : float, optional
        Trades at which the multiplier moves halfway (default 50).

    Returns
    -------
    float
        ``clip(1 + n/(n + k) (r - 1), 0.5, 1.5)``.

    Raises
    ------
    InvalidInputError
        If ``n_trades`` is negative, ``k`` is not positive or ``raw_multiplier``
        is negative or infinite.

    Notes
    -----
    For a fixed ``r`` the result lies between 1 and ``clip(r, 0.5, 1.5)``, is 1
    at ``n = 0`` and moves monotonically toward ``clip(r)`` as ``n`` grows.

    Examples
    --------
    >>> shrink_multiplier(1.4, 50)
    1.2
    >>> shrink_multiplier(3.0, 10_000)
    1.5
    """
    count = not isinstance(n_trades, bool) and int(n_trades) == n_trades and n_trades >= 0
    require(count, "n_trades", "a count >= 0", n_trades)
    require(math.isfinite(k) and k > 0, "k", "a finite number > 0", k)
    if math.isnan(raw_multiplier):
        return 1.0
    real = math.isfinite(raw_multiplier) and raw_multiplier >= 0.0
    require(real, "raw_multiplier", "a finite number >= 0", raw_multiplier)
    weight = n_trades / (n_trades + k)
    shrunk = 1.0 + weight * (raw_multiplier - 1.0)
    return min(MAX_CONSENSUS_MULTIPLIER, max(MIN_CONSENSUS_MULTIPLIER, shrunk))


def consensus_bucket_codes(
    consensus_count: npt.ArrayLike, model_actions: npt.ArrayLike
) -> npt.NDArray[np.int8]:
    """Bucket every trade with the shared rule :func:`~calibration_core.config.consensus_bucket`.

    Parameters
    ----------
    consensus_count : array_like of int, shape (n,)
        Models that voted with the trade's side; negative when the trade did
        not record it.
    model_actions : array_like of int, shape (n, m)
        Member votes; ``ACTION_MISSING`` where a model did not vote.

    Returns
    -------
    ndarray of int8, shape (n,)
        Index into ``CONSENSUS_BUCKETS`` per trade, or -1 when the trade has
        no bucket (no ``consensus_count``, no vote, or a count above the
        number of models that voted).

    Notes
    -----
    The number of models is counted **per trade**: the models present in that
    trade's ``model_breakdown``. This is what the runtime passes as
    ``total_models`` (the models that voted on that decision); a model that did
    not vote on a trade is not part of its consensus.
    """
    counts = np.asarray(consensus_count)
    actions = np.asarray(model_actions)
    if counts.ndim != 1 or actions.ndim != 2 or actions.shape[0] != counts.size:  # noqa: PLR2004
        raise InvalidInputError(
            f"consensus_count must have shape (n,) and model_actions (n, m) "
            f"(got {counts.shape} and {actions.shape})"
        )
    if counts.size and not np.issubdtype(counts.dtype, np.integer):
        raise InvalidInputError(f"consensus_count must be integers (got {counts.dtype})")
    totals = (actions != ACTION_MISSING).sum(axis=1).astype(np.int64)
    # Few distinct (count, total) pairs: ask the shared rule once per pair.
    keys = (np.maximum(counts.astype(np.int64), -1) + 1) * (actions.shape[1] + 1) + totals
    unique, inverse = np.unique(keys, return_inverse=True)
    per_key = []
    for key in unique.tolist():
        count, total = divmod(key, actions.shape[1] + 1)
        bucket = consensus_bucket(count - 1, total) if count >= 1 else None
        per_key.append(-1 if bucket is None else CONSENSUS_BUCKETS.index(bucket))
    return np.asarray(per_key, dtype=np.int8)[inverse.reshape(-1)]


@attrs.frozen
class BucketEstimate:
    """One consensus bucket's multiplier, estimated from outcomes.

    Attributes
    ----------
    bucket : str
        ``unanimous``, ``strong``, ``split`` or ``weak``.
    n_trades, n_wins : int
        The bucket's trades and wins.
    mean_confidence : float
        Mean of the confidence the multiplier scales (NaN when empty).
    raw_multiplier : float
        ``win rate / mean_confidence`` (NaN when undefined).
    multiplier : float
        :func:`shrink_multiplier` of ``raw_multiplier``, in [0.5, 1.5].
    """

    bucket: str
    n_trades: int
    n_wins: int
    mean_confidence: float
    raw_multiplier: float
    multiplier: float

    @property
    def win_rate(self) -> float:
        """Share of the bucket's trades that won (NaN when empty)."""
        return self.n_wins / self.n_trades if self.n_trades else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready estimate."""
        return {
            "bucket": self.bucket,
            "n_trades": self.n_trades,
            "win_rate": nan_to_none(self.win_rate),
            "mean_confidence": nan_to_none(self.mean_confidence),
            "raw_multiplier": nan_to_none(self.raw_multiplier),
            "multiplier": self.multiplier,
        }


def _bucket_column(value: npt.ArrayLike, n: int) -> npt.NDArray[np.int8]:
    codes = np.asarray(value)
    if codes.shape != (n,) or (codes.size and not np.issubdtype(codes.dtype, np.integer)):
        raise InvalidInputError(
            f"bucket_codes must be integers of shape ({n},) (got {codes.dtype} {codes.shape})"
        )
    if codes.size and (int(codes.min()) < -1 or int(codes.max()) >= len(CONSENSUS_BUCKETS)):
        raise InvalidInputError(
            f"bucket_codes must lie in [-1, {len(CONSENSUS_BUCKETS) - 1}] "
            f"(got {int(codes.min())}..{int(codes.max())})"
        )
    return codes.astype(np.int8)


def _limit_grid(
    maps: Sequence[IsotonicCalibration | None], max_change: float
) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    # Raw confidences where the constraint on ``min(1, f(c)·m)`` can bind: f is
    # piecewise linear, so |f(c)·m - c| is extreme at its knots, and the cap at 1
    # switches the upper bound off from c = 1 - max_change on.
    grids = []
    for conf_map in maps:
        knots = np.array([0.0, 1.0]) if conf_map is None else np.asarray(conf_map.thresholds, float)
        c = np.unique(np.clip(np.concatenate([knots, [0.0, 1.0 - max_change, 1.0]]), 0.0, 1.0))
        f = c if conf_map is None else np.asarray(conf_map.predict(c), dtype=np.float64)
        grids.append((c, f))
    return grids


def multiplier_limits(
    maps: Sequence[IsotonicCalibration | None], *, max_change: float = MAX_CONFIDENCE_CHANGE
) -> tuple[float, float]:
    """Return the multipliers that keep every map's total change within ``max_change``.

    Parameters
    ----------
    maps : sequence of IsotonicCalibration or None
        The maps the runtime may apply before the multiplier (the global map and
        every per-symbol map); None stands for no map (the clipped identity).
    max_change : float, optional
        The confidence-change bound, ``MAX_CONFIDENCE_CHANGE``.

    Returns
    -------
    (float, float)
        ``[lo, hi]`` within [0.5, 1.5] such that for every map ``f``, every raw
        confidence ``c`` in [0, 1] and every ``m`` in it,
        ``|min(1, f(c)·m) - c| <= max_change``. It always contains 1.0 because
        each map is itself bounded.

    Notes
    -----
    For ``f(c) > 0`` the bound asks ``(c - δ)/f(c) <= m``, and, where
    ``c + δ < 1``, ``m <= (c + δ)/f(c)`` (in the limit ``c -> 1 - δ`` too).
    ``f(c)·m - c`` is linear in ``c`` on each segment of the piecewise-linear map,
    so checking the knots and ``c = 1 - δ`` is exact.
    """
    lo, hi = MIN_CONSENSUS_MULTIPLIER, MAX_CONSENSUS_MULTIPLIER
    for c, f in _limit_grid(maps, max_change):
        positive = f > 0.0
        if positive.any():
            lo = max(lo, float(np.max((c[positive] - max_change) / f[positive])))
            # The upper bound holds for c < 1 - δ and binds in the limit c -> 1 - δ,
            # so the limit point itself is included.
            capped = positive & (c <= 1.0 - max_change + _BOUND_SLACK)
            if capped.any():
                hi = min(hi, float(np.min((c[capped] + max_change) / f[capped])))
    # Each map is within the band on its own, so 1.0 is feasible up to rounding.
    return min(lo, 1.0), max(hi, 1.0)


def max_combined_change(
    maps: Sequence[IsotonicCalibration | None],
    multipliers: Sequence[float],
    *,
    max_change: float = MAX_CONFIDENCE_CHANGE,
) -> float:
    """Return the largest ``|min(1, f(c)·m) - c|`` over maps, multipliers and raw ``c`` in [0, 1].

    Parameters
    ----------
    maps : sequence of IsotonicCalibration or None
        As for :func:`multiplier_limits`.
    multipliers : sequence of float
        The deployed multipliers (one per bucket).
    max_change : float, optional
        Only used to place the cap point ``1 - max_change`` on the grid.

    Returns
    -------
    float
        The total change from raw confidence that the runtime can produce.
    """
    worst = 0.0
    for c, f in _limit_grid(maps, max_change):
        for m in multipliers:
            points, values = c, f
            if m > 0.0:
                # min(1, f·m) - c has a kink where f(c)·m reaches 1: add those points,
                # where the change can peak, to the knots (one per crossing segment).
                target = 1.0 / m
                crossing = (f[:-1] < target) & (f[1:] >= target)
                i = np.flatnonzero(crossing)
                if i.size:
                    share = (target - f[i]) / (f[i + 1] - f[i])
                    kinks = c[i] + share * (c[i + 1] - c[i])
                    points = np.concatenate([c, kinks])
                    values = np.concatenate([f, np.full(kinks.shape, target)])
            change = np.abs(np.minimum(1.0, values * m) - points)
            worst = max(worst, float(np.max(change)))
    return worst


def estimate_consensus_multipliers(
    confidence: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    bucket_codes: npt.ArrayLike,
    *,
    shrinkage_trades: float = CONSENSUS_SHRINKAGE_TRADES,
    limits: tuple[float, float] = (MIN_CONSENSUS_MULTIPLIER, MAX_CONSENSUS_MULTIPLIER),
) -> tuple[BucketEstimate, ...]:
    """Estimate one multiplier per consensus bucket from outcomes.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        The confidence the multiplier will scale (the calibrated one), in [0, 1].
    outcomes : array_like, shape (n,)
        1 for a win, 0 otherwise.
    bucket_codes : array_like of int, shape (n,)
        Index into ``CONSENSUS_BUCKETS``, -1 for no bucket (ignored).
    shrinkage_trades : float, optional
        k of :func:`shrink_multiplier` (default 50).

    Returns
    -------
    tuple of BucketEstimate
        In ``CONSENSUS_BUCKETS`` order; an empty bucket gets 1.0.

    Notes
    -----
    ``r_b = (Σ_b y / n_b) / (Σ_b c / n_b)``, the factor that makes the bucket's
    mean confidence equal its win rate, then
    ``m_b = clip(1 + n_b / (n_b + k) (r_b - 1), 0.5, 1.5)``, clamped into ``limits``.
    """
    lo, hi = limits
    if not MIN_CONSENSUS_MULTIPLIER <= lo <= 1.0 <= hi <= MAX_CONSENSUS_MULTIPLIER:
        raise InvalidInputError(
            f"limits must satisfy {MIN_CONSENSUS_MULTIPLIER} <= lo <= 1 <= hi <= "
            f"{MAX_CONSENSUS_MULTIPLIER} (got {limits})"
        )
    c, y = unit_pair(confidence, outcomes)
    codes = _bucket_column(bucket_codes, c.size)
    estimates = []
    for index, bucket in enumerate(CONSENSUS_BUCKETS):
        mask = codes == index
        n = int(mask.sum())
        wins = round(float(y[mask].sum()))
        mean_c = float(c[mask].mean()) if n else math.nan
        raw = (float(y[mask].mean()) / mean_c) if n and mean_c > 0.0 else math.nan
        estimates.append(
            BucketEstimate(
                bucket=bucket,
                n_trades=n,
                n_wins=wins,
                mean_confidence=mean_c,
                raw_multiplier=raw,
                multiplier=min(hi, max(lo, shrink_multiplier(raw, n, k=shrinkage_trades))),
            )
        )
    return tuple(estimates)


def apply_consensus_multipliers(
    confidence: npt.ArrayLike, bucket_codes: npt.ArrayLike, multipliers: Sequence[float]
) -> npt.NDArray[np.float64]:
    """Scale each confidence by its bucket's multiplier as the runtime does: ``min(1, c·m)``.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Calibrated confidence in [0, 1].
    bucket_codes : array_like of int, shape (n,)
        Index into ``CONSENSUS_BUCKETS``; -1 (no bucket) gets 1.0, like an
        invalid count at runtime.
    multipliers : sequence of float
        One per bucket, in ``CONSENSUS_BUCKETS`` order.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``clip(c · m, 0, 1)``.
    """
    c = as_unit_column(confidence, "confidence")
    codes = _bucket_column(bucket_codes, c.size)
    table = np.asarray([*multipliers, 1.0], dtype=np.float64)
    if table.size != len(CONSENSUS_BUCKETS) + 1:
        raise InvalidInputError(
            f"multipliers must hold {len(CONSENSUS_BUCKETS)} values (got {table.size - 1})"
        )
    # Index -1 picks the appended 1.0: a trade without a bucket is left unchanged.
    return np.clip(c * table[codes], 0.0, 1.0)


@attrs.frozen
class ConsensusFold:
    """One forward-chaining fold of the multipliers: estimated on earlier trades, scored later."""

    index: int
    train_stop: int
    test_start: int
    test_stop: int
    brier_before: float
    brier_after: float
    multipliers: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready fold."""
        return {
            "fold": self.index,
            "train_rows": [0, self.train_stop],
            "test_rows": [self.test_start, self.test_stop],
            "mse_before": nan_to_none(self.brier_before),
            "mse_after": nan_to_none(self.brier_after),
            "mse_improvement": nan_to_none(
                relative_improvement(self.brier_before, self.brier_after)
            ),
            "multipliers": dict(zip(CONSENSUS_BUCKETS, self.multipliers, strict=True)),
        }


@attrs.frozen
class ConsensusAnalysis:
    """What the consensus-multiplier estimate found; the config section follows from it.

    Attributes
    ----------
    available : bool
        Whether the trades allowed an estimate at all.
    enabled : bool
        Whether the proposed config enables the multipliers.
    reason : str
        One line: why (not).
    baseline : str
        Which confidence the multipliers scale (the proposed global map, or raw).
    n_bucketed, n_unbucketed : int
        Trades with and without a consensus bucket.
    buckets : tuple of BucketEstimate
        The multipliers estimated on all trades (empty when not available).
    folds : tuple of ConsensusFold
        The out-of-sample folds.
    brier_before, brier_after : float
        Pooled held-out MSE without and with the fold's multipliers.
    max_abs_change : float
        Largest total change ``|min(1, f(c)·m) - c|`` from a raw confidence ``c``
        in [0, 1] that map ``f`` and multiplier together make, over the global
        map (or none) and every kept per-symbol map.
    gate : GateEvidence or None
        The paired test of the held-out gain (gate.py); None when unavailable.
    """

    available: bool
    enabled: bool
    reason: str
    baseline: str = ""
    n_bucketed: int = 0
    n_unbucketed: int = 0
    buckets: tuple[BucketEstimate, ...] = ()
    folds: tuple[ConsensusFold, ...] = ()
    brier_before: float = math.nan
    brier_after: float = math.nan
    max_abs_change: float = 0.0
    gate: GateEvidence | None = None

    @property
    def improvement(self) -> float:
        """Pooled relative held-out MSE reduction (NaN when unavailable)."""
        return relative_improvement(self.brier_before, self.brier_after)

    @property
    def n_evaluated(self) -> int:
        """Held-out trades pooled over the folds."""
        return sum(f.test_stop - f.test_start for f in self.folds)

    def section(self) -> ConsensusMultipliers:
        """Return the proposed ``consensus_multipliers`` config section."""
        if not self.buckets:
            return ConsensusMultipliers()
        return ConsensusMultipliers(
            enabled=self.enabled,
            multipliers=tuple((b.bucket, b.multiplier) for b in self.buckets),
        )


def _baseline(
    values: npt.NDArray[np.float64], calibration: IsotonicCalibration | None
) -> npt.NDArray[np.float64]:
    # The confidence the runtime multiplies: the map's output, or raw without a map.
    if calibration is None:
        return values
    return np.asarray(calibration.predict(values), dtype=np.float64)


def consensus_unavailable(reason: str) -> ConsensusAnalysis:
    """Return the analysis of trades that allow no consensus estimate, with the reason."""
    return ConsensusAnalysis(
        available=False, enabled=False, reason=f"no consensus multipliers proposed: {reason}"
    )


def evaluate_consensus(
    confidence: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    bucket_codes: npt.ArrayLike,
    *,
    calibration: IsotonicCalibration | None = None,
    symbol_maps: Sequence[IsotonicCalibration] = (),
    out_of_sample: OutOfSampleResult | None = None,
    n_folds: int = DEFAULT_OOS_FOLDS,
    min_fold_trades: int = MIN_FOLD_TRADES,
    shrinkage_trades: float = CONSENSUS_SHRINKAGE_TRADES,
) -> ConsensusAnalysis:
    """Estimate the consensus multipliers and gate them on an out-of-sample improvement.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Raw confidence, **sorted by close time**.
    outcomes : array_like, shape (n,)
        1 for a win, 0 otherwise.
    bucket_codes : array_like of int, shape (n,)
        From :func:`consensus_bucket_codes`.
    calibration : IsotonicCalibration or None, optional
        The global map the runtime applies before the multiplier, when the
        proposal enables one; None means the raw confidence is multiplied.
    symbol_maps : sequence of IsotonicCalibration, optional
        The per-symbol maps the proposal keeps; the runtime multiplies their
        output too, so the deployed multipliers are limited for them as well.
    out_of_sample : OutOfSampleResult, optional
        The map's forward-chaining estimate on the same trades, to reuse its
        fold maps (computed when needed and not given).
    n_folds, min_fold_trades : int, optional
        As for :func:`evaluate_out_of_sample`.
    shrinkage_trades : float, optional
        k of :func:`shrink_multiplier`.

    Returns
    -------
    ConsensusAnalysis

    Notes
    -----
    Fold ``i`` (the chunks of :func:`evaluate_out_of_sample`) computes the
    baseline confidence ``b`` of rows ``[0, stop)`` and of its test chunk with
    the fold's map (fitted on ``[0, stop)`` only; the raw confidence when
    ``calibration`` is None), estimates the multipliers on ``[0, stop)`` and
    scores ``min(1, b·m)`` against ``b`` on the test chunk. The multipliers are
    enabled only when the pooled relative Brier reduction is at least
    ``MIN_CONFIDENCE_IMPROVEMENT`` and distinguishable from noise (the one-sided
    paired t-test of :func:`calibration_core.core.gate.paired_gate`); the deployed
    ones are estimated on all trades.
    Every multiplier is clamped into :func:`multiplier_limits` of the maps it
    follows (the fold's map in a fold), so map and multiplier together never move
    a confidence by more than ``MAX_CONFIDENCE_CHANGE``.
    """
    x, y = unit_pair(confidence, outcomes)
    codes = _bucket_column(bucket_codes, x.size)
    n_bucketed = int((codes >= 0).sum())
    n_unbucketed = int(x.size) - n_bucketed
    if n_bucketed < MIN_TRADES_FOR_CALIBRATION:
        return attrs.evolve(
            consensus_unavailable(
                f"only {n_bucketed} trades have a consensus bucket; at least "
                f"{MIN_TRADES_FOR_CALIBRATION} are needed"
            ),
            n_bucketed=n_bucketed,
            n_unbucketed=n_unbucketed,
        )
    plan: list[tuple[int, int, IsotonicCalibration | None]]
    if calibration is None:
        baseline = "the raw confidence (the proposal does not enable the global map)"
        bounds, note = fold_plan(int(x.size), n_folds, min_fold_trades)
        plan = [(bounds[i], bounds[i + 1], None) for i in range(1, len(bounds) - 1)]
    else:
        baseline = "the calibrated confidence (the proposed global map)"
        oos = (
            out_of_sample
            if out_of_sample is not None
            else evaluate_out_of_sample(x, y, n_folds=n_folds, min_fold_trades=min_fold_trades)
        )
        note = oos.note
        plan = [(f.train_stop, f.test_stop, f.calibration) for f in oos.folds]
    if not plan:
        return attrs.evolve(
            consensus_unavailable(note),
            baseline=baseline,
            n_bucketed=n_bucketed,
            n_unbucketed=n_unbucketed,
        )

    folds, before_parts, after_parts, held_out = [], [], [], []
    for index, (stop, test_stop, fold_map) in enumerate(plan, start=1):
        estimate = estimate_consensus_multipliers(
            _baseline(x[:stop], fold_map),
            y[:stop],
            codes[:stop],
            shrinkage_trades=shrinkage_trades,
            # The deployed multipliers are also limited by the kept symbol maps; the fold
            # must be limited the same way, or the gate scores multipliers never deployed.
            # (The symbol maps only set the clamp range here.)
            limits=multiplier_limits([fold_map, *symbol_maps]),
        )
        multipliers = tuple(b.multiplier for b in estimate)
        before = _baseline(x[stop:test_stop], fold_map)
        after = apply_consensus_multipliers(before, codes[stop:test_stop], multipliers)
        test_y = y[stop:test_stop]
        folds.append(
            ConsensusFold(
                index=index,
                train_stop=stop,
                test_start=stop,
                test_stop=test_stop,
                brier_before=float(brier_score(test_y, before)),
                brier_after=float(brier_score(test_y, after)),
                multipliers=multipliers,
            )
        )
        before_parts.append(before)
        after_parts.append(after)
        held_out.append(test_y)
    pooled_y = np.concatenate(held_out)
    brier_before = pooled_brier(before_parts, pooled_y)
    brier_after = pooled_brier(after_parts, pooled_y)
    stage = _baseline(x, calibration)
    followed = [calibration, *symbol_maps]
    buckets = estimate_consensus_multipliers(
        stage, y, codes, shrinkage_trades=shrinkage_trades, limits=multiplier_limits(followed)
    )
    gain = relative_improvement(brier_before, brier_after)
    gate = paired_gate(np.concatenate(before_parts), np.concatenate(after_parts), pooled_y)
    large_enough = gain >= MIN_CONFIDENCE_IMPROVEMENT
    enabled = bool(large_enough and gate.distinguishable)
    gain_text = "n/a" if math.isnan(gain) else f"{gain:+.1%}"
    relation = "meets" if large_enough else "is below"
    reason = (
        f"out-of-sample MSE improvement {gain_text} over {pooled_y.size} held-out trades "
        f"{relation} the {MIN_CONFIDENCE_IMPROVEMENT:.0%} minimum"
    )
    if large_enough:
        reason += (
            f" and is distinguishable from noise (95% lower bound {gate.gain_lower:+.1%})"
            if gate.distinguishable
            else f" but is {gate.noise_text()} (95% lower bound {gate.gain_lower:+.1%})"
        )
    return ConsensusAnalysis(
        available=True,
        enabled=enabled,
        reason=reason,
        baseline=baseline,
        buckets=buckets,
        folds=tuple(folds),
        brier_before=brier_before,
        brier_after=brier_after,
        max_abs_change=max_combined_change(followed, [b.multiplier for b in buckets]),
        n_bucketed=n_bucketed,
        n_unbucketed=n_unbucketed,
        gate=gate,
    )


def consensus_checks(analysis: ConsensusAnalysis) -> list[CheckResult]:
    """Return the multipliers' bound, combined-change, gain and degradation checks."""
    if not analysis.available:
        return []
    values = [b.multiplier for b in analysis.buckets]
    outside = [
        max(MIN_CONSENSUS_MULTIPLIER - m, m - MAX_CONSENSUS_MULTIPLIER)
        for m in values
        if not MIN_CONSENSUS_MULTIPLIER <= m <= MAX_CONSENSUS_MULTIPLIER
    ]
    listed = ", ".join(f"{b.bucket} {b.multiplier:.3f}" for b in analysis.buckets)
    bounds = CheckResult(
        name="consensus_multiplier_bounds",
        severity=Severity.CRITICAL,
        passed=not outside and all(math.isfinite(m) for m in values),
        value=max(outside, default=0.0),
        threshold=0.0,
        message=(
            f"multipliers {listed} "
            f"{'lie within' if not outside else 'leave'} "
            f"[{MIN_CONSENSUS_MULTIPLIER}, {MAX_CONSENSUS_MULTIPLIER}]"
        ),
    )
    combined = CheckResult(
        name="consensus_confidence_change_bound",
        severity=Severity.CRITICAL,
        passed=math.isfinite(analysis.max_abs_change)
        and analysis.max_abs_change <= MAX_CONFIDENCE_CHANGE + _BOUND_SLACK,
        value=analysis.max_abs_change,
        threshold=MAX_CONFIDENCE_CHANGE,
        message=(
            f"map and multiplier together move a confidence by at most "
            f"{analysis.max_abs_change:.4f} (bound ±{MAX_CONFIDENCE_CHANGE})"
        ),
    )
    improvement = _improvement_check(
        "consensus_improvement",
        "the consensus multipliers are",
        analysis.brier_before,
        analysis.brier_after,
    )
    # What would be deployed: with the multipliers disabled the confidence is unchanged.
    after = analysis.brier_after if analysis.enabled else analysis.brier_before
    degradation = check_no_degradation(
        "consensus_oos_brier", analysis.brier_before, after, higher_is_better=False
    )
    return [bounds, combined, improvement, degradation]


def _improvement_check(name: str, subject: str, before: float, after: float) -> CheckResult:
    # The 5 % out-of-sample gate of the confidence map, applied to another correction:
    # same rule, same handling of non-finite inputs, the check and its message renamed.
    result = check_confidence_improvement(before, after)
    return attrs.evolve(
        result,
        name=name,
        message=result.message.replace("the confidence map is proposed", f"{subject} proposed"),
    )


def consensus_from_trades(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    consensus_count: npt.ArrayLike | None,
    model_actions: npt.ArrayLike | None,
    *,
    calibration: IsotonicCalibration | None,
    symbol_maps: Sequence[IsotonicCalibration],
    out_of_sample: OutOfSampleResult,
    n_folds: int,
    min_fold_trades: int,
) -> ConsensusAnalysis:
    """Bucket the trades by their recorded consensus and run :func:`evaluate_consensus`.

    Without ``consensus_count`` or ``model_actions`` the analysis says why none is proposed.
    """
    counts = None if consensus_count is None else np.asarray(consensus_count)
    if counts is None or counts.size == 0 or not bool((counts >= 0).any()):
        return consensus_unavailable(
            "the trades carry no consensus_count, so there is no outcome per consensus "
            "bucket to estimate a multiplier from"
        )
    if counts.shape != x.shape:
        raise InvalidInputError(f"consensus_count must have shape {x.shape} (got {counts.shape})")
    if model_actions is None:
        return consensus_unavailable(
            "the trades carry consensus_count but no model_breakdown, so the number of "
            "models that voted (the bucket's denominator) is unknown"
        )
    codes = consensus_bucket_codes(counts, model_actions)
    return evaluate_consensus(
        x,
        y,
        codes,
        calibration=calibration,
        symbol_maps=symbol_maps,
        out_of_sample=out_of_sample,
        n_folds=n_folds,
        min_fold_trades=min_fold_trades,
    )
