"""Per-symbol maps: which symbols earn a bounded map of their own on their held-out trades."""

# Pure: imports only math, numpy, attrs and calibration_core's pure modules (constants,
# exceptions, gate, holdout, isotonic, validation) plus config.py for the section it proposes.

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from calibration_core.config import SYMBOL_PATTERN, ConfidenceMap, PerSymbolMaps
from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MIN_CONFIDENCE_IMPROVEMENT,
    MIN_OUTCOME_DIVERSITY,
    MIN_TRADES_FOR_CALIBRATION,
)
from calibration_core.core.gate import GateEvidence, paired_gate
from calibration_core.core.holdout import (
    DEFAULT_OOS_FOLDS,
    MIN_FOLD_TRADES,
    as_finite_column,
    as_unit_column,
    fold_plan,
    nan_to_none,
    pooled_brier,
    relative_improvement,
)
from calibration_core.core.isotonic import (
    IsotonicCalibration,
    bound_confidence_change,
    fit_isotonic,
)
from calibration_core.core.validation import (
    CheckResult,
    check_confidence_change_bound,
    check_min_trades,
    check_no_degradation,
    check_outcome_diversity,
)
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

__all__ = [
    "PER_SYMBOL_NOT_REQUESTED",
    "PerSymbolAnalysis",
    "SymbolCalibration",
    "confidence_section",
    "evaluate_per_symbol",
    "per_symbol_checks",
]

PER_SYMBOL_NOT_REQUESTED = (
    "per-symbol calibration was not requested (run with --per-symbol to evaluate one map "
    "per symbol)"
)
"""The per-symbol section's reason when ``run`` was not given ``--per-symbol``."""


@attrs.frozen
class SymbolCalibration:
    """One symbol's own map against the global map on that symbol's held-out trades.

    Attributes
    ----------
    symbol : str
        The symbol.
    n_trades, n_wins, n_losses : int
        Its trades and their outcomes.
    kept : bool
        Whether the proposed config gives the symbol its own map; otherwise it
        falls back to the global map.
    reason : str
        One line: why it was kept or why it falls back.
    n_folds, n_evaluated : int
        Forward-chaining folds on the symbol's trades and the held-out trades
        pooled over them (0 when not evaluated).
    brier_raw, brier_global, brier_symbol : float
        Pooled held-out MSE of the raw confidence, of the global map fitted
        without the held-out trades, and of the symbol's own map (NaN when not
        evaluated).
    fallback_is_global : bool
        Whether the symbol would otherwise get the global map (enabled in the
        proposal) rather than the raw confidence.
    calibration : IsotonicCalibration or None
        The bounded map fitted on all the symbol's trades, when kept.
    gate : GateEvidence or None
        Its own map against the fallback on its held-out trades (the paired
        test of gate.py); None when not evaluated.
    """

    symbol: str
    n_trades: int
    n_wins: int
    n_losses: int
    kept: bool
    reason: str
    n_folds: int = 0
    n_evaluated: int = 0
    brier_raw: float = math.nan
    brier_global: float = math.nan
    brier_symbol: float = math.nan
    fallback_is_global: bool = True
    calibration: IsotonicCalibration | None = attrs.field(default=None, repr=False)
    gate: GateEvidence | None = None

    @property
    def win_rate(self) -> float:
        """Share of the symbol's trades that won (NaN without trades)."""
        return self.n_wins / self.n_trades if self.n_trades else math.nan

    @property
    def brier_fallback(self) -> float:
        """Held-out MSE of what the symbol gets without its own map (global map, or raw)."""
        return self.brier_global if self.fallback_is_global else self.brier_raw

    @property
    def improvement(self) -> float:
        """Relative held-out MSE reduction of its own map over the fallback (the gated value)."""
        return relative_improvement(self.brier_fallback, self.brier_symbol)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready row (without the map's knots)."""
        return {
            "symbol": self.symbol,
            "n_trades": self.n_trades,
            "win_rate": nan_to_none(self.win_rate),
            "kept": self.kept,
            "reason": self.reason,
            "n_folds": self.n_folds,
            "n_evaluated": self.n_evaluated,
            "oos_mse_raw": nan_to_none(self.brier_raw),
            "oos_mse_global": nan_to_none(self.brier_global),
            "oos_mse_symbol": nan_to_none(self.brier_symbol),
            "fallback": "global map" if self.fallback_is_global else "raw confidence",
            "oos_mse_improvement": nan_to_none(self.improvement),
            "max_abs_change": (
                None if self.calibration is None else float(self.calibration.max_abs_change())
            ),
            "gate": None if self.gate is None else self.gate.to_dict(),
        }


@attrs.frozen
class PerSymbolAnalysis:
    """What per-symbol calibration found; the proposed ``per_symbol`` section follows from it.

    Attributes
    ----------
    requested : bool
        Whether the run asked for per-symbol maps (``--per-symbol``).
    reason : str
        One line for the report.
    symbols : tuple of SymbolCalibration
        One row per symbol, sorted by symbol (empty when not requested).
    """

    requested: bool
    reason: str
    symbols: tuple[SymbolCalibration, ...] = ()

    @property
    def kept(self) -> tuple[SymbolCalibration, ...]:
        """The symbols that get their own map."""
        return tuple(s for s in self.symbols if s.kept)

    @property
    def enabled(self) -> bool:
        """Whether the proposed config enables per-symbol maps: requested and one kept."""
        return self.requested and bool(self.kept)

    def section(self) -> PerSymbolMaps:
        """Return the proposed ``per_symbol`` config section (only kept symbols, enabled maps)."""
        maps = tuple(
            (s.symbol, confidence_section(s.calibration, enabled=True))
            for s in self.kept
            if s.calibration is not None
        )
        return PerSymbolMaps(enabled=self.enabled, maps=maps)


def confidence_section(calibration: IsotonicCalibration, *, enabled: bool) -> ConfidenceMap:
    """Return a map as the ``confidence`` config section (bound ±0.15, method isotonic)."""
    return ConfidenceMap(
        enabled=enabled,
        thresholds=tuple(float(t) for t in calibration.thresholds),
        values=tuple(float(v) for v in calibration.values),
        max_change=MAX_CONFIDENCE_CHANGE,
        method="isotonic",
    )


def _symbol_oos(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    rows: npt.NDArray[np.intp],
    bounds: Sequence[int],
    max_change: float,
    *,
    global_enabled: bool,
) -> tuple[float, float, float, int, GateEvidence]:
    # Fold i holds out the symbol's chunk i. Its own map sees only the symbol's earlier
    # chunks; the global map sees every trade (any symbol) that closed before the first
    # held-out trade, rows [0, rows[start]) of the time-sorted data. Neither sees a
    # held-out trade or anything later.
    raw: list[npt.NDArray[np.float64]] = []
    global_: list[npt.NDArray[np.float64]] = []
    own: list[npt.NDArray[np.float64]] = []
    outcomes: list[npt.NDArray[np.float64]] = []
    for i in range(1, len(bounds) - 1):
        start, stop = bounds[i], bounds[i + 1]
        first = int(rows[start])
        train, test = rows[:start], rows[start:stop]
        symbol_map = bound_confidence_change(fit_isotonic(x[train], y[train]), max_change)
        global_map = bound_confidence_change(fit_isotonic(x[:first], y[:first]), max_change)
        raw.append(x[test])
        global_.append(np.asarray(global_map.predict(x[test]), dtype=np.float64))
        own.append(np.asarray(symbol_map.predict(x[test]), dtype=np.float64))
        outcomes.append(y[test])
    held_out = np.concatenate(outcomes)
    fallback = np.concatenate(global_ if global_enabled else raw)
    return (
        pooled_brier(raw, held_out),
        pooled_brier(global_, held_out),
        pooled_brier(own, held_out),
        int(held_out.size),
        paired_gate(fallback, np.concatenate(own), held_out),
    )


def _ineligible_symbol(symbol: str, n: int, n_wins: int, n_losses: int) -> str:
    # Why a symbol cannot have a map of its own, or "" when it may try.
    if SYMBOL_PATTERN.fullmatch(symbol) is None:
        return "the symbol's name cannot be a config key"
    if not check_min_trades(n).passed:
        return f"{n} trades, fewer than the {MIN_TRADES_FOR_CALIBRATION} a map of its own needs"
    if not check_outcome_diversity(n_wins, n_losses, n).passed:
        return (
            f"wins {n_wins / n:.0%} and losses {n_losses / n:.0%} of its trades; "
            f"each must be at least {MIN_OUTCOME_DIVERSITY:.0%}"
        )
    return ""


def _evaluate_symbol(
    symbol: str,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    pnl: npt.NDArray[np.float64],
    rows: npt.NDArray[np.intp],
    *,
    global_enabled: bool,
    n_folds: int,
    min_fold_trades: int,
    max_change: float,
) -> SymbolCalibration:
    n = int(rows.size)
    n_wins, n_losses = int((pnl[rows] > 0.0).sum()), int((pnl[rows] < 0.0).sum())
    row = SymbolCalibration(
        symbol, n, n_wins, n_losses, kept=False, reason="", fallback_is_global=global_enabled
    )
    ineligible = _ineligible_symbol(symbol, n, n_wins, n_losses)
    if ineligible:
        return attrs.evolve(row, reason=f"fallback: {ineligible}")
    bounds, note = fold_plan(n, n_folds, min_fold_trades)
    if not bounds:
        return attrs.evolve(row, reason=f"fallback: {note}")
    raw, global_, own, n_evaluated, gate = _symbol_oos(
        x, y, rows, bounds, max_change, global_enabled=global_enabled
    )
    row = attrs.evolve(
        row,
        n_folds=len(bounds) - 2,
        n_evaluated=n_evaluated,
        brier_raw=raw,
        brier_global=global_,
        brier_symbol=own,
        gate=gate,
    )
    fallback_name = "the global map" if global_enabled else "the raw confidence"
    fallback = global_ if global_enabled else raw
    gain = relative_improvement(fallback, own)
    scores = f"{fallback:.4f} → {own:.4f}, {n_evaluated} held-out trades"
    if not own < global_:
        return attrs.evolve(
            row,
            reason=(
                f"fallback: its own map's held-out MSE {own:.4f} does not beat the global "
                f"map's {global_:.4f} ({n_evaluated} held-out trades)"
            ),
        )
    if not gain >= MIN_CONFIDENCE_IMPROVEMENT:
        return attrs.evolve(
            row,
            reason=(
                f"fallback: its own map improves the held-out MSE over {fallback_name} by "
                f"only {gain:+.1%} ({scores}), below the {MIN_CONFIDENCE_IMPROVEMENT:.0%} minimum"
            ),
        )
    if not gate.distinguishable:
        return attrs.evolve(
            row,
            reason=(
                f"fallback: its own map improves the held-out MSE over {fallback_name} by "
                f"{gain:+.1%} ({scores}), but that is {gate.noise_text()} "
                f"(95% lower bound {gate.gain_lower:+.1%})"
            ),
        )
    return attrs.evolve(
        row,
        kept=True,
        reason=(
            f"kept: its own map improves the held-out MSE over {fallback_name} by "
            f"{gain:.1%} ({scores}; 95% lower bound {gate.gain_lower:+.1%})"
        ),
        calibration=bound_confidence_change(fit_isotonic(x[rows], y[rows]), max_change),
    )


def evaluate_per_symbol(
    confidence: npt.ArrayLike,
    pnl_pct: npt.ArrayLike,
    symbol_codes: npt.ArrayLike,
    symbol_names: Sequence[str],
    *,
    global_enabled: bool = True,
    n_folds: int = DEFAULT_OOS_FOLDS,
    min_fold_trades: int = MIN_FOLD_TRADES,
    max_change: float = MAX_CONFIDENCE_CHANGE,
    progress: Callable[[str, int, int], None] | None = None,
) -> PerSymbolAnalysis:
    """Decide which symbols get a bounded isotonic map of their own.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Raw confidence in [0, 1], **sorted by close time** (oldest first).
    pnl_pct : array_like of float, shape (n,)
        Realized return in percent; > 0 is a WIN, < 0 a LOSS.
    symbol_codes : array_like of int, shape (n,)
        Index into ``symbol_names`` per trade.
    symbol_names : sequence of str
        The symbols.
    global_enabled : bool, optional
        Whether the proposal enables the global map. A symbol without a map of
        its own gets the global map when it is enabled and the raw confidence
        when it is not; that is what its own map has to improve on.
    n_folds, min_fold_trades : int, optional
        As for :func:`evaluate_out_of_sample`, applied to each symbol's own trades.
    max_change : float, optional
        The bound of every map (default 0.15).
    progress : callable, optional
        Called as ``progress("per-symbol maps", done, total)`` after each symbol.

    Returns
    -------
    PerSymbolAnalysis
        One row per symbol with trades, sorted by symbol; ``requested`` is True.

    Raises
    ------
    InvalidInputError
        If a column is malformed or a code has no name.

    Notes
    -----
    A symbol is *eligible* with at least ``MIN_TRADES_FOR_CALIBRATION`` trades
    and wins and losses each at least ``MIN_OUTCOME_DIVERSITY`` of them. Its
    trades are cut into k + 1 contiguous chunks (the rule of
    :func:`evaluate_out_of_sample`). Fold ``i`` scores chunk ``i`` with

    - the symbol's map, fitted on the symbol's chunks ``0..i-1``;
    - the global map, fitted on every trade of any symbol that closed before
      the first trade of chunk ``i``;

    both bounded to ±``max_change``. The Brier scores ``B_raw``, ``B_global``
    and ``B_symbol`` are pooled over all folds. With ``B_fallback`` = ``B_global``
    when the global map is enabled and ``B_raw`` when not, the symbol keeps its
    own map (fitted on all its trades) only when

    ``B_symbol < B_global`` and
    ``(B_fallback - B_symbol) / B_fallback >= MIN_CONFIDENCE_IMPROVEMENT`` and
    the gain is distinguishable from noise (the one-sided paired t-test of
    :func:`calibration_core.core.gate.paired_gate` on the per-trade squared errors of
    the fallback and of its own map);

    every other symbol falls back to the global map.
    """
    x = as_unit_column(confidence, "confidence")
    pnl = as_finite_column(pnl_pct, "pnl_pct", x.size)
    codes = np.asarray(symbol_codes)
    if codes.shape != x.shape or (codes.size and not np.issubdtype(codes.dtype, np.integer)):
        raise InvalidInputError(
            f"symbol_codes must be integers of shape {x.shape} (got {codes.dtype} {codes.shape})"
        )
    names = tuple(symbol_names)
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= len(names)):
        raise InvalidInputError(
            f"symbol_codes must index symbol_names (got codes {int(codes.min())}.."
            f"{int(codes.max())} for {len(names)} names)"
        )
    y = (pnl > 0.0).astype(np.float64)
    order = sorted(np.unique(codes).tolist(), key=lambda c: names[c])
    rows = []
    for done, code in enumerate(order, start=1):
        rows.append(
            _evaluate_symbol(
                names[code],
                x,
                y,
                pnl,
                np.flatnonzero(codes == code),
                global_enabled=global_enabled,
                n_folds=n_folds,
                min_fold_trades=min_fold_trades,
                max_change=max_change,
            )
        )
        if progress is not None:
            progress("per-symbol maps", done, len(order))
    kept = [r.symbol for r in rows if r.kept]
    if kept:
        reason = (
            f"{len(kept)} of {len(rows)} symbols keep a map of their own ({', '.join(kept)}); "
            "the others fall back to the global map"
        )
    else:
        reason = (
            f"no symbol's own map passed the out-of-sample selection ({len(rows)} symbols "
            "evaluated); every symbol uses the global map and per-symbol maps stay disabled"
        )
    return PerSymbolAnalysis(requested=True, reason=reason, symbols=tuple(rows))


def per_symbol_checks(analysis: PerSymbolAnalysis) -> list[CheckResult]:
    """Return the checks of the kept per-symbol maps (none when none is enabled)."""
    kept = [s for s in analysis.kept if s.calibration is not None]
    if not analysis.enabled or not kept:
        return []
    largest = max(float(s.calibration.max_abs_change()) for s in kept if s.calibration)
    bound = check_confidence_change_bound(largest)
    checks = [
        attrs.evolve(
            bound,
            name="per_symbol_change_bound",
            message=f"per-symbol maps: {bound.message}",
        )
    ]
    # Against what each kept symbol would get otherwise: the global map when the
    # proposal enables it, the raw confidence when it does not.
    checks.extend(
        check_no_degradation(
            f"oos_brier:{s.symbol}", s.brier_fallback, s.brier_symbol, higher_is_better=False
        )
        for s in kept
    )
    return checks
