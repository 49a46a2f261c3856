"""Ensemble weight micro-adjustment: per-model precision and a bounded, noise-aware proposal."""

# Pure: imports only math, typing, collections.abc, numpy, attrs and calibration_core's
# constants and exceptions.

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs
import numpy as np

from calibration_core.constants import (
    MAX_WEIGHT,
    MAX_WEIGHT_CHANGE,
    MIN_TOTAL_WEIGHT_CHANGE,
    MIN_WEIGHT,
    WEIGHT_SUM_TOLERANCE,
)
from calibration_core.core.numbers import as_real, require, same_float
from calibration_core.exceptions import InfeasibleWeightsError, InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

__all__ = [
    "ACTION_BUY",
    "ACTION_HOLD",
    "ACTION_MISSING",
    "ACTION_SELL",
    "MAX_MODELS",
    "MIN_MODELS",
    "ModelPerformance",
    "WeightChange",
    "WeightProposal",
    "equal_weights",
    "measure_model_performance",
    "propose_weights",
]

ACTION_BUY = 1
"""Vote code of a model that said BUY."""

ACTION_SELL = -1
"""Vote code of a model that said SELL."""

ACTION_HOLD = 0
"""Vote code of a model that said HOLD (took no side)."""

ACTION_MISSING = -128
"""Vote code of a model that did not vote on the trade."""

_ACTION_CODES = (ACTION_BUY, ACTION_SELL, ACTION_HOLD, ACTION_MISSING)

# The 1e-9 only absorbs the rounding of 1/0.4 and 1/0.15; the counts are whole numbers.
MIN_MODELS = math.ceil(1.0 / MAX_WEIGHT - 1e-9)
"""Fewest models whose weights can sum to 1 when none exceeds MAX_WEIGHT (3)."""

MAX_MODELS = math.floor(1.0 / MIN_WEIGHT + 1e-9)
"""Most models whose weights can sum to 1 when none is below MIN_WEIGHT (6)."""

_Z_95 = 1.96
"""Normal quantile of the 95 % two-sided interval used for the ± in the reasons."""

_NOTE_SLACK = 1e-12


def _as_count(value: object) -> int:
    # bool is an int in Python, but a count of True trades is a bug at the caller.
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InfeasibleWeightsError(
            f"trade counts must be integers (got {value!r} of type {type(value).__name__})"
        )
    return int(value)


@attrs.frozen
class ModelPerformance:
    """How often one member model was right on the trades where it took a side.

    Parameters
    ----------
    name : str
        The model's name, as in the ensemble weight table.
    correct : int
        Trades on which the model was right (see :func:`measure_model_performance`).
    n_trades : int
        Trades on which the model took a side (BUY or SELL); HOLD and missing
        votes are not counted.

    Raises
    ------
    InfeasibleWeightsError
        If a count is not an integer, is negative, or ``correct > n_trades``.
    """

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    correct: int = attrs.field(converter=_as_count)
    n_trades: int = attrs.field(converter=_as_count)

    def __attrs_post_init__(self) -> None:
        """Check the count rules that involve both counts."""
        if not self.name:
            raise InfeasibleWeightsError("model name must be a non-empty string")
        if self.correct < 0 or self.n_trades < 0:
            raise InfeasibleWeightsError(
                f"trade counts of model {self.name!r} must be non-negative "
                f"(got correct={self.correct}, n_trades={self.n_trades})"
            )
        if self.correct > self.n_trades:
            raise InfeasibleWeightsError(
                f"model {self.name!r} cannot be correct more often than it traded "
                f"(got correct={self.correct} > n_trades={self.n_trades})"
            )

    @property
    def precision(self) -> float:
        """Return ``correct / n_trades``, or NaN when the model took no side."""
        if self.n_trades == 0:
            return math.nan
        return self.correct / self.n_trades


@attrs.frozen
class WeightChange:
    """One row of the weight table: a model's move and why.

    Attributes
    ----------
    model : str
        The model's name.
    before, after : float
        Current and proposed weight.
    delta : float
        ``after - before``.
    change_pct : float
        ``100 * delta / before`` (percent of the current weight).
    precision : float
        The model's precision; NaN when it took no side.
    n_trades : int
        Trades on which the model took a side.
    zscore : float
        Standardised distance of the precision from the ensemble's; 0.0 when
        there is no evidence (no trades, or every trade won or every one lost).
    reason : str
        One line for the report.
    """

    model: str
    before: float
    after: float
    delta: float
    change_pct: float
    precision: float = attrs.field(eq=attrs.cmp_using(eq=same_float), hash=False)
    n_trades: int
    zscore: float
    reason: str


@attrs.frozen
class WeightProposal:
    """The proposed ensemble weights, the current ones, and a row per model.

    Attributes
    ----------
    before, after : tuple of (str, float)
        Current and proposed weights, in the order of ``current``.
    changes : tuple of WeightChange
        One row per model, same order.
    no_change : bool
        True when the proposal keeps the current weights.
    total_abs_change : float
        ``sum(|after_i - before_i|)``; 0.0 when ``no_change``.
    ensemble_precision : float
        Pooled precision of all models; NaN when no model took a side.
    reason : str
        One line summarising the proposal.
    """

    before: tuple[tuple[str, float], ...]
    after: tuple[tuple[str, float], ...]
    changes: tuple[WeightChange, ...]
    no_change: bool
    total_abs_change: float
    ensemble_precision: float = attrs.field(eq=attrs.cmp_using(eq=same_float), hash=False)
    reason: str

    def before_dict(self) -> dict[str, float]:
        """Return the current weights as a new dict."""
        return dict(self.before)

    def after_dict(self) -> dict[str, float]:
        """Return the proposed weights as a new dict."""
        return dict(self.after)


def _check_model_count(n_models: int) -> None:
    if not MIN_MODELS <= n_models <= MAX_MODELS:
        raise InfeasibleWeightsError(
            f"{n_models} models cannot each hold a weight in [{MIN_WEIGHT}, {MAX_WEIGHT}] "
            f"summing to 1 (feasible: {MIN_MODELS} to {MAX_MODELS} models)"
        )


def _model_names(names: Iterable[str], what: str) -> tuple[str, ...]:
    result = tuple(names)
    for name in result:
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"{what} must be non-empty strings (got {name!r})")
    if len(set(result)) != len(result):
        dup = next(n for n in result if result.count(n) > 1)
        raise InvalidInputError(f"{what} must be unique (got {dup!r} twice)")
    return result


def equal_weights(names: Iterable[str]) -> dict[str, float]:
    """Return equal weights ``1/N``: the default when no live weights exist.

    Parameters
    ----------
    names : iterable of str
        The member models, unique and non-empty.

    Returns
    -------
    dict of str to float
        Each model mapped to ``1/N``, in the order given.

    Raises
    ------
    InfeasibleWeightsError
        If ``N`` is outside ``[MIN_MODELS, MAX_MODELS]``, i.e. ``1/N`` is not
        in ``[MIN_WEIGHT, MAX_WEIGHT]``.
    InvalidInputError
        If a name is empty, not a string, or repeated.

    Examples
    --------
    >>> equal_weights(["xgb", "lgbm", "nhits", "patchtst"])
    {'xgb': 0.25, 'lgbm': 0.25, 'nhits': 0.25, 'patchtst': 0.25}
    """
    models = _model_names(names, "model names")
    _check_model_count(len(models))
    return dict.fromkeys(models, 1.0 / len(models))


def _column(value: npt.ArrayLike, what: str, n_rows: int) -> np.ndarray:
    array = np.asarray(value)
    if array.shape != (n_rows,):
        raise InvalidInputError(f"{what} must have shape ({n_rows},) (got {array.shape})")
    return array


def measure_model_performance(
    names: Sequence[str],
    actions: npt.ArrayLike,
    trade_sides: npt.ArrayLike,
    wins: npt.ArrayLike,
) -> tuple[ModelPerformance, ...]:
    """Count, per model, the trades it took a side on and was right about.

    Parameters
    ----------
    names : sequence of str, length n_models
        The models, in the column order of ``actions``.
    actions : array_like of int, shape (n_trades, n_models)
        Each model's vote per trade: ``ACTION_BUY`` (+1), ``ACTION_SELL`` (-1),
        ``ACTION_HOLD`` (0) or ``ACTION_MISSING`` (-128).
    trade_sides : array_like of int, shape (n_trades,)
        The side the ensemble traded: +1 (BUY) or -1 (SELL).
    wins : array_like of bool, shape (n_trades,)
        Whether each trade won (a 0/1 integer array is accepted too).

    Returns
    -------
    tuple of ModelPerformance
        One per model, in the order of ``names``.

    Raises
    ------
    InvalidInputError
        If a shape does not match, a vote or side code is unknown, or a name is
        empty or repeated.

    Notes
    -----
    A model that voted BUY or SELL on a trade was right when
    ``(vote == trade_side) == won``: siding with a winning trade, or against a
    losing one. HOLD and missing votes count neither way.

    Examples
    --------
    >>> perf = measure_model_performance(
    ...     ["a", "b"], [[1, -1], [1, 0]], [1, 1], [True, False]
    ... )
    >>> [(p.name, p.correct, p.n_trades) for p in perf]
    [('a', 1, 2), ('b', 0, 1)]
    """
    models = _model_names(names, "names")
    votes = np.asarray(actions)
    if votes.ndim != 2 or votes.shape[1] != len(models):  # noqa: PLR2004 - a 2-D table
        raise InvalidInputError(
            f"actions must have shape (n_trades, {len(models)}) (got {votes.shape})"
        )
    if votes.size and not np.issubdtype(votes.dtype, np.integer):
        raise InvalidInputError(f"actions must hold integer vote codes (got dtype {votes.dtype})")
    bad = ~np.isin(votes, _ACTION_CODES)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"actions must hold codes {_ACTION_CODES} (got {votes[row, col]} at [{row}, {col}])"
        )
    n_rows = votes.shape[0]
    sides = _column(trade_sides, "trade_sides", n_rows)
    bad_side = ~np.isin(sides, (ACTION_BUY, ACTION_SELL))
    if bad_side.any():
        index = int(np.argmax(bad_side))
        raise InvalidInputError(f"trade_sides must be +1 or -1 (got {sides[index]} at {index})")
    outcome = _column(wins, "wins", n_rows)
    if outcome.dtype != np.bool_:
        bad_win = ~np.isin(outcome, (0, 1))
        if bad_win.any():
            index = int(np.argmax(bad_win))
            raise InvalidInputError(f"wins must be booleans (got {outcome[index]} at {index})")
        outcome = outcome.astype(np.bool_)

    took_side = (votes == ACTION_BUY) | (votes == ACTION_SELL)
    # A vote against a losing trade was as right as a vote with a winning one.
    right = took_side & ((votes == sides[:, np.newaxis]) == outcome[:, np.newaxis])
    n_sided = took_side.sum(axis=0)
    n_right = right.sum(axis=0)
    return tuple(
        ModelPerformance(name=name, correct=int(n_right[i]), n_trades=int(n_sided[i]))
        for i, name in enumerate(models)
    )


def _current_weights(current: Mapping[str, float]) -> tuple[tuple[str, ...], np.ndarray]:
    if not isinstance(current, Mapping):
        raise InfeasibleWeightsError(
            f"current must be a mapping of model name to weight (got {type(current).__name__})"
        )
    names = tuple(current)
    for name in names:
        if not isinstance(name, str) or not name:
            raise InfeasibleWeightsError(f"model names must be non-empty strings (got {name!r})")
    _check_model_count(len(names))
    values = []
    for name in names:
        raw, what = current[name], f"current weight of {name!r}"
        weight = as_real(raw, what, error=InfeasibleWeightsError)
        require(math.isfinite(weight), what, "finite", raw, error=InfeasibleWeightsError)
        require(weight >= 0, what, "non-negative", weight, error=InfeasibleWeightsError)
        require(
            MIN_WEIGHT <= weight <= MAX_WEIGHT,
            what,
            f"in [{MIN_WEIGHT}, {MAX_WEIGHT}]",
            weight,
            error=InfeasibleWeightsError,
        )
        values.append(weight)
    total = math.fsum(values)
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise InfeasibleWeightsError(
            f"current weights must sum to 1 ± {WEIGHT_SUM_TOLERANCE} (got {total:.6f})"
        )
    return names, np.array(values, dtype=np.float64)


def _performance_by_name(
    performance: Mapping[str, ModelPerformance] | Iterable[ModelPerformance],
) -> dict[str, ModelPerformance]:
    if isinstance(performance, Mapping):
        pairs = list(performance.items())
    else:
        pairs = [(getattr(item, "name", None), item) for item in performance]
    by_name: dict[str, ModelPerformance] = {}
    for key, item in pairs:
        if not isinstance(item, ModelPerformance):
            raise InfeasibleWeightsError(
                f"performance entries must be ModelPerformance values (got {type(item).__name__})"
            )
        if key != item.name:
            raise InfeasibleWeightsError(
                f"performance key {key!r} does not match its model name {item.name!r}"
            )
        if item.name in by_name:
            raise InfeasibleWeightsError(f"performance names model {item.name!r} twice")
        by_name[item.name] = item
    return by_name


def _performance_table(
    performance: Mapping[str, ModelPerformance] | Iterable[ModelPerformance],
    names: tuple[str, ...],
) -> tuple[ModelPerformance, ...]:
    by_name = _performance_by_name(performance)
    for name in by_name:
        if name not in names:
            raise InfeasibleWeightsError(
                f"performance given for unknown model {name!r} "
                f"(current weights name {', '.join(names)})"
            )
    for name in names:
        if name not in by_name:
            raise InfeasibleWeightsError(f"no performance given for model {name!r}")
    return tuple(by_name[name] for name in names)


def _check_options(z_threshold: float, full_move_excess: float) -> None:
    require(
        math.isfinite(z_threshold) and z_threshold > 0, "z_threshold", "finite and > 0", z_threshold
    )
    excess_ok = math.isfinite(full_move_excess) and 0 < full_move_excess <= 1
    require(excess_ok, "full_move_excess", "in (0, 1]", full_move_excess)


@attrs.frozen(eq=False)
class _Evidence:
    """Per-model statistics behind the proposal (arrays aligned with the names)."""

    ensemble_precision: float
    precision: np.ndarray
    zscore: np.ndarray
    significant: np.ndarray
    score: np.ndarray


def _evidence(
    correct: np.ndarray, n_trades: np.ndarray, z_threshold: float, full_move_excess: float
) -> _Evidence:
    traded = n_trades > 0
    pooled_n = float(n_trades.sum())
    pooled = float(correct.sum()) / pooled_n if pooled_n > 0 else math.nan
    safe_n = np.where(traded, n_trades, 1.0)
    precision = np.where(traded, correct / safe_n, np.nan)
    excess = np.where(traded, precision - pooled, 0.0)
    unit_variance = pooled * (1.0 - pooled) if pooled_n > 0 else 0.0
    if unit_variance > 0:
        # Under "no difference", a precision over n_i trades has variance p̄(1 - p̄)/n_i.
        zscore = excess / np.sqrt(unit_variance / safe_n)
    else:
        # p̄ is 0 or 1 (or undefined): every model equals it, there is nothing to detect.
        zscore = np.zeros(excess.shape)
    significant = np.abs(zscore) >= z_threshold
    score = np.clip(np.where(significant, excess, 0.0) / full_move_excess, -1.0, 1.0)
    return _Evidence(pooled, precision, zscore, significant, score)


def _bounds(before: np.ndarray, traded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the per-model box ``[lo, hi]`` of the projection."""
    low = np.maximum(MIN_WEIGHT, before * (1.0 - MAX_WEIGHT_CHANGE))
    high = np.minimum(MAX_WEIGHT, before * (1.0 + MAX_WEIGHT_CHANGE))
    # A model without trades keeps its weight, unless the others alone cannot
    # absorb the tolerated deviation of the current sum from 1.
    kept_low = np.where(traded, low, before)
    kept_high = np.where(traded, high, before)
    if math.fsum(kept_low) <= 1.0 <= math.fsum(kept_high):
        return kept_low, kept_high
    # Cannot fail for weights that passed the entry checks (see docs/algorithms.md);
    # kept so that a future change of the constants fails loudly, not silently.
    if not math.fsum(low) <= 1.0 <= math.fsum(high):
        raise InfeasibleWeightsError(
            f"no weights within the bounds sum to 1 (current sum {math.fsum(before)!r})"
        )
    return low, high


def _solve_shift(weights: np.ndarray, move: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Return λ with ``sum(w * (1 + clip(move - λ, low, high))) == 1``.

    The sum is continuous, non-increasing and piecewise linear in λ with kinks
    at ``move - high`` and ``move - low``. Between two adjacent kinks the set
    of unclipped ("free") models is fixed, so λ solves one linear equation.
    """

    def total(shift: float) -> float:
        return math.fsum(weights * (1.0 + np.clip(move - shift, low, high)))

    kinks = np.unique(np.concatenate([move - high, move - low]))
    # At the first kink every model sits at its upper bound, at the last one at
    # its lower bound; the caller checked sum(hi) >= 1 >= sum(lo).
    right = next((k for k, kink in enumerate(kinks) if total(float(kink)) <= 1.0), len(kinks) - 1)
    if right == 0:
        return float(kinks[0])
    left_kink, right_kink = float(kinks[right - 1]), float(kinks[right])
    middle = 0.5 * (left_kink + right_kink)
    free = (move - middle > low) & (move - middle < high)
    free_weight = math.fsum(weights[free])
    if free_weight == 0.0:
        return right_kink
    clipped = weights * (1.0 + np.clip(move - middle, low, high))
    # Σ_fixed w(1 + bound) + Σ_free w(1 + r - λ) = 1, solved for λ.
    shift = math.fsum(clipped[~free]) + math.fsum(weights[free] * (1.0 + move[free])) - 1.0
    shift /= free_weight
    return min(max(shift, left_kink), right_kink)


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _performance_reason(
    precision: float, n_trades: int, ensemble: float, *, significant: bool
) -> str:
    if n_trades == 0:
        return "no trades with a side; weight kept"
    half_width = _Z_95 * math.sqrt(precision * (1.0 - precision) / n_trades)
    base = f"precision {_fmt(precision)} ± {_fmt(half_width)} over {n_trades} trades"
    if not significant:
        return f"{base}, not distinguishable from ensemble {_fmt(ensemble)}"
    side = "above" if precision > ensemble else "below"
    return f"{base}, {side} ensemble {_fmt(ensemble)}"


def _limit_note(wanted: float, rel_low: float, rel_high: float, low: float, high: float) -> str:
    """Say which bound stopped a significant model's relative move ``wanted``."""
    change_bound = f"; limited by the ±{MAX_WEIGHT_CHANGE:.0%} change bound"
    # Display only: a move that lands on a bound up to rounding is "held" there.
    if wanted > 0 and wanted >= rel_high - _NOTE_SLACK:
        return f"; held at the maximum weight {MAX_WEIGHT}" if high == MAX_WEIGHT else change_bound
    if wanted < 0 and wanted <= rel_low + _NOTE_SLACK:
        return f"; held at the minimum weight {MIN_WEIGHT}" if low == MIN_WEIGHT else change_bound
    return ""


def _proposal(
    names: tuple[str, ...],
    before: np.ndarray,
    *,
    after: np.ndarray,
    reasons: list[str],
    performance: tuple[ModelPerformance, ...],
    evidence: _Evidence,
    no_change: bool,
    reason: str,
) -> WeightProposal:
    changes = tuple(
        WeightChange(
            model=name,
            before=float(before[i]),
            after=float(after[i]),
            delta=float(after[i] - before[i]),
            change_pct=float(100.0 * (after[i] - before[i]) / before[i]),
            precision=float(evidence.precision[i]),
            n_trades=performance[i].n_trades,
            zscore=float(evidence.zscore[i]),
            reason=reasons[i],
        )
        for i, name in enumerate(names)
    )
    return WeightProposal(
        before=tuple((name, float(before[i])) for i, name in enumerate(names)),
        after=tuple((name, float(after[i])) for i, name in enumerate(names)),
        changes=changes,
        no_change=no_change,
        total_abs_change=math.fsum(abs(c.delta) for c in changes),
        ensemble_precision=evidence.ensemble_precision,
        reason=reason,
    )


def propose_weights(
    current: Mapping[str, float],
    performance: Mapping[str, ModelPerformance] | Iterable[ModelPerformance],
    *,
    z_threshold: float = 1.96,
    full_move_excess: float = 0.10,
) -> WeightProposal:
    """Propose bounded ensemble weights that move toward the more precise models.

    Parameters
    ----------
    current : mapping of str to float
        The live weights, ``MIN_MODELS``..``MAX_MODELS`` models, each in
        ``[MIN_WEIGHT, MAX_WEIGHT]``, summing to 1 within ``WEIGHT_SUM_TOLERANCE``.
    performance : mapping of str to ModelPerformance, or iterable of ModelPerformance
        Exactly one entry per model of ``current``.
    z_threshold : float, optional
        A model's precision moves its weight only when ``|z| >= z_threshold``
        (default 1.96, two-sided 5 %).
    full_move_excess : float, optional
        Precision excess over the ensemble that asks for the full ±10 % move
        (default 0.10); smaller excesses ask proportionally less.

    Returns
    -------
    WeightProposal
        Weights in the order of ``current``. Unless ``no_change``, they sum to
        1 within 1e-9, each lies in ``[MIN_WEIGHT, MAX_WEIGHT]`` and within
        ``MAX_WEIGHT_CHANGE`` of its current value (relative). With
        ``no_change`` the current weights are returned unchanged.

    Raises
    ------
    InfeasibleWeightsError
        If the number of models is infeasible, a current weight is not a
        finite number in the bounds, the weights do not sum to 1, or the
        performance names an unknown model or misses one.
    InvalidInputError
        If ``z_threshold`` or ``full_move_excess`` is out of range.

    Notes
    -----
    With pooled precision ``p̄ = Σc_i / Σn_i`` and ``p_i = c_i / n_i``:

    - ``z_i = (p_i - p̄) / sqrt(p̄(1 - p̄) / n_i)`` (0 when ``n_i = 0`` or
      ``p̄`` is 0 or 1);
    - ``s_i = clip((p_i - p̄) / full_move_excess, -1, 1)`` if
      ``|z_i| >= z_threshold``, else 0; desired relative move
      ``r_i = MAX_WEIGHT_CHANGE * s_i``; target ``t_i = w_i (1 + r_i)``;
    - bounds ``lo_i = max(MIN_WEIGHT, 0.9 w_i)``, ``hi_i = min(MAX_WEIGHT, 1.1 w_i)``,
      and ``lo_i = hi_i = w_i`` for a model with no trades (its weight is
      kept), unless the traded models alone cannot bring a current sum that
      is off by up to ``WEIGHT_SUM_TOLERANCE`` back to 1;
    - ``x = argmin Σ (x_i - t_i)² / w_i`` subject to ``Σx_i = 1``,
      ``lo_i <= x_i <= hi_i``, whose solution is
      ``x_i = w_i (1 + clip(r_i - λ, lo_i/w_i - 1, hi_i/w_i - 1))`` with the
      scalar λ found exactly from the sorted kinks of the sum.

    Because every relative move is ``clip(r_i - λ, a_i, b_i)`` with
    ``a_i <= 0 <= b_i``, a model with a higher score never loses weight while
    one with a lower score gains. If no model is significant, or
    ``Σ|x_i - w_i| < MIN_TOTAL_WEIGHT_CHANGE``, the proposal is "no change".
    The ± in each reason is the 95 % half-width ``1.96 sqrt(p(1 - p)/n)``.

    Examples
    --------
    >>> current = {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2}
    >>> perf = [ModelPerformance("xgb", 96, 200), ModelPerformance("lgbm", 124, 200),
    ...         ModelPerformance("nhits", 110, 200), ModelPerformance("patchtst", 110, 200)]
    >>> proposal = propose_weights(current, perf)
    >>> {name: round(w, 3) for name, w in proposal.after}
    {'xgb': 0.279, 'lgbm': 0.321, 'nhits': 0.2, 'patchtst': 0.2}
    """
    names, before = _current_weights(current)
    table = _performance_table(performance, names)
    _check_options(z_threshold, full_move_excess)
    correct = np.array([p.correct for p in table], dtype=np.float64)
    n_trades = np.array([p.n_trades for p in table], dtype=np.float64)
    evidence = _evidence(correct, n_trades, z_threshold, full_move_excess)
    reasons = [
        _performance_reason(
            float(evidence.precision[i]),
            table[i].n_trades,
            evidence.ensemble_precision,
            significant=bool(evidence.significant[i]),
        )
        for i in range(len(names))
    ]

    def keep(reason: str) -> WeightProposal:
        return _proposal(
            names,
            before,
            after=before,
            reasons=reasons,
            performance=table,
            evidence=evidence,
            no_change=True,
            reason=reason,
        )

    if not np.isfinite(evidence.ensemble_precision):
        return keep("no model took a side on any trade; weights kept")
    if not evidence.significant.any():
        return keep(
            f"no model's precision differs significantly from the ensemble's "
            f"{_fmt(evidence.ensemble_precision)} (|z| < {z_threshold}); weights kept"
        )

    traded = n_trades > 0
    low, high = _bounds(before, traded)
    # Relative coordinates: bounds of the relative move, with rel_low <= 0 <= rel_high.
    rel_low = np.minimum(low / before - 1.0, 0.0)
    rel_high = np.maximum(high / before - 1.0, 0.0)
    move = MAX_WEIGHT_CHANGE * evidence.score
    shift = _solve_shift(before, move, rel_low, rel_high)
    wanted = move - shift
    relative = np.clip(wanted, rel_low, rel_high)
    # The final clip only removes rounding of w(1 + b); it cannot flip a move's sign.
    after = np.clip(before + before * relative, low, high)
    total_change = math.fsum(np.abs(after - before))
    if total_change < MIN_TOTAL_WEIGHT_CHANGE:
        return keep(
            f"total change {total_change:.4f} is below the minimum {MIN_TOTAL_WEIGHT_CHANGE}; "
            f"weights kept"
        )
    for i in range(len(names)):
        if evidence.significant[i]:
            reasons[i] += _limit_note(
                float(wanted[i]),
                float(rel_low[i]),
                float(rel_high[i]),
                float(low[i]),
                float(high[i]),
            )
        elif after[i] != before[i]:
            moved = "moved only to keep the weights summing to 1"
            reasons[i] = (
                f"no trades with a side; {moved}" if not traded[i] else f"{reasons[i]}; {moved}"
            )
    return _proposal(
        names,
        before,
        after=after,
        reasons=reasons,
        performance=table,
        evidence=evidence,
        no_change=False,
        reason=(
            f"weight moved toward models with significantly higher precision than the "
            f"ensemble's {_fmt(evidence.ensemble_precision)}; total change {total_change:.4f}"
        ),
    )
