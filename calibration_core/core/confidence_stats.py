"""What ``analyze`` shows: how raw confidence relates to outcomes, overall and per symbol."""

# Pure: imports only math, numpy, attrs and calibration_core's pure modules (exceptions,
# holdout's column checks, metrics' correlations).

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
import numpy as np

from calibration_core.core.holdout import as_finite_column, as_unit_column, nan_to_none
from calibration_core.core.metrics import pearson_correlation, spearman_correlation
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

__all__ = [
    "CONFIDENCE_BIN_EDGES",
    "BinSummary",
    "ConfidenceAnalysis",
    "ConfidenceSummary",
    "Correlations",
    "DistributionStats",
    "analyze_confidence",
    "summarize_confidence",
]

CONFIDENCE_BIN_EDGES = (0.0, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 1.0)
"""Fixed confidence bins of ``analyze``: everything below 0.50, then steps of 0.05."""

_MIN_CORRELATION_POINTS = 2


@attrs.frozen
class DistributionStats:
    """Distribution of the raw confidence: count, mean, sample std, min, quartiles, max."""

    count: int
    mean: float
    std: float
    min: float
    q25: float
    median: float
    q75: float
    max: float

    def to_dict(self) -> dict[str, float | int | None]:
        """Return the JSON-ready statistics (NaN becomes None)."""
        out: dict[str, float | int | None] = {"count": self.count}
        for name in ("mean", "std", "min", "q25", "median", "q75", "max"):
            out[name] = nan_to_none(getattr(self, name))
        return out


@attrs.frozen
class Correlations:
    """Pearson and Spearman correlation of confidence with returns and wins (None if undefined)."""

    pearson_returns: float | None
    spearman_returns: float | None
    pearson_wins: float | None
    spearman_wins: float | None

    def to_dict(self) -> dict[str, float | None]:
        """Return the JSON-ready correlations."""
        return attrs.asdict(self)


@attrs.frozen
class BinSummary:
    """Trades whose confidence falls in one bin: count, win rate and mean return (None if empty)."""

    label: str
    lower: float
    upper: float
    count: int
    win_rate: float | None
    mean_return: float | None

    def to_dict(self) -> dict[str, float | int | str | None]:
        """Return the JSON-ready bin."""
        return attrs.asdict(self)


@attrs.frozen
class ConfidenceSummary:
    """Confidence analysis of one set of trades (all, or one symbol)."""

    scope: str
    distribution: DistributionStats
    correlations: Correlations
    deciles: tuple[BinSummary, ...]
    bins: tuple[BinSummary, ...]

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready summary."""
        return {
            "scope": self.scope,
            "distribution": self.distribution.to_dict(),
            "correlations": self.correlations.to_dict(),
            "deciles": [b.to_dict() for b in self.deciles],
            "bins": [b.to_dict() for b in self.bins],
        }


@attrs.frozen
class ConfidenceAnalysis:
    """The ``analyze`` job's result: all trades, then one summary per symbol (sorted)."""

    overall: ConfidenceSummary
    per_symbol: tuple[ConfidenceSummary, ...]

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready analysis."""
        return {
            "overall": self.overall.to_dict(),
            "per_symbol": [s.to_dict() for s in self.per_symbol],
        }


def _distribution(x: npt.NDArray[np.float64]) -> DistributionStats:
    if x.size == 0:
        nan = math.nan
        return DistributionStats(0, nan, nan, nan, nan, nan, nan, nan)
    q25, median, q75 = (float(q) for q in np.quantile(x, [0.25, 0.5, 0.75]))
    return DistributionStats(
        count=int(x.size),
        mean=float(x.mean()),
        std=float(x.std(ddof=1)) if x.size > 1 else math.nan,
        min=float(x.min()),
        q25=q25,
        median=median,
        q75=q75,
        max=float(x.max()),
    )


def _correlation(kind: str, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float | None:
    # A correlation needs two points and spread in both variables; otherwise it is undefined.
    if a.size < _MIN_CORRELATION_POINTS or float(np.ptp(a)) == 0.0 or float(np.ptp(b)) == 0.0:
        return None
    value = float(pearson_correlation(a, b) if kind == "pearson" else spearman_correlation(a, b))
    return None if math.isnan(value) else value


def _bin_summary(
    label: str,
    lower: float,
    upper: float,
    returns: npt.NDArray[np.float64],
) -> BinSummary:
    count = int(returns.size)
    if count == 0:
        return BinSummary(label, lower, upper, 0, None, None)
    return BinSummary(
        label,
        lower,
        upper,
        count,
        float((returns > 0.0).mean()),
        float(returns.mean()),
    )


def _deciles(x: npt.NDArray[np.float64], r: npt.NDArray[np.float64]) -> tuple[BinSummary, ...]:
    # Equal-count groups of the confidence-sorted trades: ties cannot produce empty deciles.
    if x.size == 0:
        return ()
    order = np.argsort(x, kind="stable")
    groups = np.array_split(order, min(10, x.size))
    return tuple(
        _bin_summary(f"D{i + 1}", float(x[g].min()), float(x[g].max()), r[g])
        for i, g in enumerate(groups)
    )


def _fixed_bins(x: npt.NDArray[np.float64], r: npt.NDArray[np.float64]) -> tuple[BinSummary, ...]:
    edges = np.asarray(CONFIDENCE_BIN_EDGES)
    # Bins are [lower, upper) except the last, which includes 1.0.
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    summaries = []
    for i in range(edges.size - 1):
        lower, upper = float(edges[i]), float(edges[i + 1])
        closing = "]" if i == edges.size - 2 else ")"
        summaries.append(
            _bin_summary(f"[{lower:.2f}, {upper:.2f}{closing}", lower, upper, r[index == i])
        )
    return tuple(summaries)


def summarize_confidence(
    confidence: npt.ArrayLike, returns: npt.ArrayLike, *, scope: str = "all"
) -> ConfidenceSummary:
    """Describe how raw confidence relates to outcomes on one set of trades.

    Parameters
    ----------
    confidence : array_like of float, shape (n,)
        Raw confidence in [0, 1].
    returns : array_like of float, shape (n,)
        Realized return in percent; a WIN is ``> 0``.
    scope : str, optional
        Name of the set (``"all"`` or a symbol).

    Returns
    -------
    ConfidenceSummary
        Distribution statistics, Pearson/Spearman correlation with returns and
        with wins (None where undefined), equal-count deciles, and the fixed
        bins ``CONFIDENCE_BIN_EDGES``.
    """
    x = as_unit_column(confidence, "confidence")
    r = as_finite_column(returns, "returns", x.size)
    wins = (r > 0.0).astype(np.float64)
    return ConfidenceSummary(
        scope=scope,
        distribution=_distribution(x),
        correlations=Correlations(
            pearson_returns=_correlation("pearson", x, r),
            spearman_returns=_correlation("spearman", x, r),
            pearson_wins=_correlation("pearson", x, wins),
            spearman_wins=_correlation("spearman", x, wins),
        ),
        deciles=_deciles(x, r),
        bins=_fixed_bins(x, r),
    )


def analyze_confidence(
    confidence: npt.ArrayLike,
    returns: npt.ArrayLike,
    symbol_codes: npt.ArrayLike,
    symbol_names: Sequence[str],
) -> ConfidenceAnalysis:
    """Run :func:`summarize_confidence` on all trades and on each symbol.

    Parameters
    ----------
    confidence, returns : array_like of float, shape (n,)
        See :func:`summarize_confidence`.
    symbol_codes : array_like of int, shape (n,)
        Index into ``symbol_names`` per trade.
    symbol_names : sequence of str
        The symbols.

    Returns
    -------
    ConfidenceAnalysis
        Per-symbol summaries sorted by symbol; symbols without trades are left out.
    """
    x = as_unit_column(confidence, "confidence")
    r = as_finite_column(returns, "returns", x.size)
    codes = np.asarray(symbol_codes)
    if codes.shape != x.shape:
        raise InvalidInputError(f"symbol_codes must have shape {x.shape} (got {codes.shape})")
    per_symbol = []
    for code in sorted(np.unique(codes).tolist(), key=lambda c: symbol_names[c]):
        mask = codes == code
        per_symbol.append(summarize_confidence(x[mask], r[mask], scope=symbol_names[code]))
    return ConfidenceAnalysis(
        overall=summarize_confidence(x, r, scope="all"), per_symbol=tuple(per_symbol)
    )
