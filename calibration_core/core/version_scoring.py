"""Version scoring for ``compare``: two versions on the same trades; is B better than A."""

# Pure: imports only math, numpy, attrs and the package's pure modules (exceptions,
# _arrays, metrics, analysis, monitor_rules). The shell (jobs/monitor.py) reads the
# configs and trades, computes each version's calibrated confidence and calls this.

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from calibration_core._arrays import as_vector, frozen_array
from calibration_core.core.ensemble import weighted_vote_precision
from calibration_core.core.metrics import (
    ReliabilityBin,
    brier_score,
    expected_calibration_error,
    log_loss,
    reliability_table,
)
from calibration_core.core.monitor_rules import ARRAY_EQ, Z_95, json_ready, two_proportion_se
from calibration_core.exceptions import InvalidInputError

__all__ = [
    "DEFAULT_COMPARE_TRADES",
    "MIN_OUT_OF_SAMPLE_TRADES",
    "ComparedVersion",
    "ForecastScores",
    "MemberVotes",
    "VersionComparison",
    "VersionForecast",
    "compare_versions",
]

DEFAULT_COMPARE_TRADES = 500
"""``compare`` scores this many of the most recent trades unless told otherwise."""

MIN_OUT_OF_SAMPLE_TRADES = 30
"""``compare`` also scores the trades after both versions' data when at least this many exist."""

_RELIABILITY_BINS = 10


def _frozen_codes(values: npt.ArrayLike) -> npt.NDArray[np.int8]:
    return frozen_array(values, np.int8)


@attrs.frozen
class VersionForecast:
    """One version's calibrated confidence on the compared trades, and what it was fitted on.

    Attributes
    ----------
    label : str
        How to name it, e.g. ``"live (cal_20260210_143022)"``.
    version : str
        The config version.
    created_at : str
        The config's ``created_at`` as written (shown in the caveat).
    fitted_until : float
        ``created_at`` in epoch seconds: trades closed at or before it may
        have been used to fit this version.
    calibrated : array, shape (n,)
        The version's calibrated confidence for each trade, in [0, 1].
    weights : tuple of (str, float), or None
        The version's ensemble weights; None when its weights are disabled.
    """

    label: str
    version: str
    created_at: str
    fitted_until: float
    calibrated: npt.NDArray[np.float64] = attrs.field(converter=frozen_array, eq=ARRAY_EQ)
    weights: tuple[tuple[str, float], ...] | None = None


@attrs.frozen
class MemberVotes:
    """The member models' votes on the compared trades (from ``model_breakdown``).

    Attributes
    ----------
    model_names : tuple of str, length m
    actions : array of int8, shape (n, m)
        +1 BUY, -1 SELL, 0 HOLD, -128 missing.
    sides : array of int8, shape (n,)
        The side each trade took, +1 or -1.
    """

    model_names: tuple[str, ...]
    actions: npt.NDArray[np.int8] = attrs.field(converter=_frozen_codes, eq=ARRAY_EQ)
    sides: npt.NDArray[np.int8] = attrs.field(converter=_frozen_codes, eq=ARRAY_EQ)


@attrs.frozen
class ForecastScores:
    """How honest one set of probabilities is on the compared trades.

    Attributes
    ----------
    mse : float
        Brier score ``mean((p - y)²)``; lower is better.
    ece : float
        Expected calibration error over 10 uniform bins.
    log_loss : float
        Mean negative log-likelihood.
    reliability : tuple of ReliabilityBin
        The non-empty bins of the reliability table.
    """

    mse: float
    ece: float
    log_loss: float
    reliability: tuple[ReliabilityBin, ...]

    @classmethod
    def of(cls, p: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> ForecastScores:
        """Score the probabilities ``p`` against the outcomes ``y`` (1 won, 0 lost)."""
        return cls(
            mse=brier_score(y, p),
            ece=expected_calibration_error(y, p, n_bins=_RELIABILITY_BINS),
            log_loss=log_loss(y, p),
            reliability=reliability_table(y, p, n_bins=_RELIABILITY_BINS).bins,
        )


@attrs.frozen
class ComparedVersion:
    """One side of a comparison: its scores, in-sample count and weighted-vote precision.

    ``vote_precision`` is NaN when it was not scored; ``vote_note`` then says why.
    """

    label: str
    version: str
    created_at: str
    scores: ForecastScores
    n_in_sample: int
    weights: tuple[tuple[str, float], ...] | None
    vote_precision: float
    vote_sided: int
    vote_note: str


@attrs.frozen
class VersionComparison:
    """Two versions scored on the same trades, with a conclusion and its caveats.

    Attributes
    ----------
    n_trades : int
        Trades scored.
    raw : ForecastScores
        The raw confidence's scores, for reference.
    a, b : ComparedVersion
    weights : tuple of (model, weight under A, weight under B)
        None where a side has no weight for the model (or its weights are disabled).
    mse_difference : float
        ``MSE(B) - MSE(A)``; negative means B is better.
    noise_band : float
        Half-width of the 95 % band of the paired difference.
    better : {"A", "B"} or None
        The side with the lower MSE beyond noise; None when within noise.
    n_out_of_sample : int
        Trades closed after both versions' data.
    out_of_sample_mse : tuple of (float, float) or None
        MSE of A and B on those trades, when at least ``MIN_OUT_OF_SAMPLE_TRADES``.
    conclusion : str
        One sentence answering "is B better than A?".
    weights_conclusion : str
        One sentence on the weighted-vote precision.
    caveats : tuple of str
        Why the conclusion may be optimistic (in-sample trades).
    """

    n_trades: int
    raw: ForecastScores
    a: ComparedVersion
    b: ComparedVersion
    weights: tuple[tuple[str, float | None, float | None], ...]
    mse_difference: float
    noise_band: float
    better: str | None
    n_out_of_sample: int
    out_of_sample_mse: tuple[float, float] | None
    conclusion: str
    weights_conclusion: str
    caveats: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN becomes None)."""
        result: dict[str, Any] = json_ready(attrs.asdict(self))
        return result


def _vote_precision(
    forecast: VersionForecast, votes: MemberVotes | None, wins: npt.NDArray[np.bool_]
) -> tuple[float, int, str]:
    if votes is None:
        return math.nan, 0, "not scored: the trades carry no model_breakdown"
    if forecast.weights is None:
        return math.nan, 0, "not scored: weights disabled (the engine's own weights apply)"
    weights = dict(forecast.weights)
    vector = [weights.get(name, 0.0) for name in votes.model_names]
    if not any(vector):
        return math.nan, 0, "not scored: none of its models voted on these trades"
    result = weighted_vote_precision(votes.actions, votes.sides, wins, vector)
    if result.n_sided == 0:
        return math.nan, 0, "not scored: its weighted vote never took a side"
    return result.precision, result.n_sided, f"{result.correct}/{result.n_sided} right"


def _compared(
    forecast: VersionForecast,
    y: npt.NDArray[np.float64],
    times: npt.NDArray[np.float64],
    votes: MemberVotes | None,
) -> ComparedVersion:
    precision, sided, note = _vote_precision(forecast, votes, y > 0)
    return ComparedVersion(
        label=forecast.label,
        version=forecast.version,
        created_at=forecast.created_at,
        scores=ForecastScores.of(forecast.calibrated, y),
        n_in_sample=int(np.count_nonzero(times <= forecast.fitted_until)),
        weights=forecast.weights,
        vote_precision=precision,
        vote_sided=sided,
        vote_note=note,
    )


def _weight_rows(
    a: VersionForecast, b: VersionForecast
) -> tuple[tuple[str, float | None, float | None], ...]:
    wa = dict(a.weights or ())
    wb = dict(b.weights or ())
    models = list(wa) + [m for m in wb if m not in wa]
    return tuple((m, wa.get(m), wb.get(m)) for m in models)


def _check_forecast(forecast: VersionForecast, n: int, side: str) -> None:
    p = forecast.calibrated
    if p.shape != (n,):
        raise InvalidInputError(f"{side}.calibrated must have shape ({n},) (got {p.shape})")
    bad = ~((p >= 0.0) & (p <= 1.0))
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{side}.calibrated must be in [0, 1] (got {p[index]} at index {index})"
        )
    if math.isnan(forecast.fitted_until):
        raise InvalidInputError(f"{side}.fitted_until must not be NaN")


def _paired(d: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Mean of the paired differences and its 95 % noise band."""
    n = int(d.shape[0])
    band = Z_95 * float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return float(d.mean()), band


def _conclusion(
    names: tuple[str, str], mse: tuple[float, float], diff: float, band: float, scope: str
) -> tuple[str | None, str]:
    (name_a, name_b), (mse_a, mse_b) = names, mse
    relative = f" ({(mse_a - mse_b) / mse_a:+.1%} for B)" if mse_a > 0 else ""
    numbers = f"MSE A {mse_a:.4f} vs B {mse_b:.4f}{relative} on {scope}"
    if diff == 0 or abs(diff) <= band:
        return None, (
            f"No significant difference: {numbers}; the gap is within the 95 % noise band "
            f"(±{band:.4f}). B is not shown to be better than A."
        )
    if diff < 0:
        return "B", f"B ({name_b}) is better than A ({name_a}): {numbers}, beyond noise."
    return "A", f"B ({name_b}) is worse than A ({name_a}): {numbers}, beyond noise."


def _precision_text(side: ComparedVersion) -> str:
    if math.isnan(side.vote_precision):
        return side.vote_note
    return f"{side.vote_precision:.3f} ({side.vote_note})"


def _weights_conclusion(a: ComparedVersion, b: ComparedVersion) -> str:
    text = f"Weighted-vote precision: A {_precision_text(a)}; B {_precision_text(b)}"
    if math.isnan(a.vote_precision) or math.isnan(b.vote_precision):
        return text + "."
    se = two_proportion_se(a.vote_precision, a.vote_sided, b.vote_precision, b.vote_sided)
    gap = b.vote_precision - a.vote_precision
    if abs(gap) <= Z_95 * se:
        return text + f"; the difference ({gap:+.3f}) is within noise (±{Z_95 * se:.3f})."
    which = "B" if gap > 0 else "A"
    return text + f"; {which}'s weights pick the right direction more often, beyond noise."


def compare_versions(
    wins: npt.ArrayLike,
    raw_confidence: npt.ArrayLike,
    timestamps: npt.ArrayLike,
    a: VersionForecast,
    b: VersionForecast,
    *,
    votes: MemberVotes | None = None,
) -> VersionComparison:
    """Score two versions on the same trades and say whether B is better than A.

    Parameters
    ----------
    wins : array_like of bool, shape (n,)
        Whether each trade won; ``n >= 1``.
    raw_confidence : array_like of float, shape (n,)
        The raw confidence, scored for reference.
    timestamps : array_like of float, shape (n,)
        Close times (epoch seconds), to find the trades a version may have been fitted on.
    a, b : VersionForecast
        The two versions' calibrated confidence on these trades.
    votes : MemberVotes, optional
        Member votes; when given, each version's weights are replayed on them.

    Returns
    -------
    VersionComparison

    Raises
    ------
    InvalidInputError
        On empty or misshapen columns, or probabilities outside [0, 1].

    Notes
    -----
    The conclusion rests on the paired difference of squared errors
    ``d_i = (b_i - y_i)² - (a_i - y_i)²``: B is better when ``mean(d) < 0``
    and ``|mean(d)| > 1.96 · sd(d) / sqrt(n)``; inside that band neither is
    shown to be better.

    A trade that closed at or before a version's ``created_at`` may have been
    in the data that version was fitted on, so its score there is in-sample
    and optimistic. Every such case is listed in ``caveats``; the fair test
    uses only trades after both versions' data.
    """
    y = np.asarray(wins)
    if y.dtype != np.bool_ or y.ndim != 1 or y.shape[0] == 0:
        raise InvalidInputError(
            f"wins must be a non-empty 1-D bool array (got dtype {y.dtype}, shape {y.shape})"
        )
    n = int(y.shape[0])
    outcome = y.astype(np.float64)
    raw = np.asarray(raw_confidence, dtype=np.float64)
    if raw.shape != (n,):
        raise InvalidInputError(f"raw_confidence must have shape ({n},) (got {raw.shape})")
    times = as_vector("timestamps", timestamps, allow_empty=True)
    if times.shape != (n,):
        raise InvalidInputError(f"timestamps must have shape ({n},) (got {times.shape})")
    _check_forecast(a, n, "a")
    _check_forecast(b, n, "b")
    side_a = _compared(a, outcome, times, votes)
    side_b = _compared(b, outcome, times, votes)
    d = (b.calibrated - outcome) ** 2 - (a.calibrated - outcome) ** 2
    out_of_sample = times > max(a.fitted_until, b.fitted_until)
    n_oos = int(np.count_nonzero(out_of_sample))
    oos_mse = None
    if n_oos >= MIN_OUT_OF_SAMPLE_TRADES:
        oos_y = outcome[out_of_sample]
        oos_mse = (
            brier_score(oos_y, a.calibrated[out_of_sample]),
            brier_score(oos_y, b.calibrated[out_of_sample]),
        )
    caveats = _caveats((side_a, side_b), (a, b), n, n_oos, oos_mse)
    names = (a.version, b.version)
    fitted_on = " and ".join(name for name, s in (("A", side_a), ("B", side_b)) if s.n_in_sample)
    if not fitted_on:
        diff, band = _paired(d)
        mse = (side_a.scores.mse, side_b.scores.mse)
        better, conclusion = _conclusion(names, mse, diff, band, f"{n} trades")
    elif oos_mse is not None:
        # Only the trades after both versions' data are a fair test: the verdict uses them.
        diff, band = _paired(d[out_of_sample])
        scope = f"the {n_oos} trades after both versions' data"
        better, conclusion = _conclusion(names, oos_mse, diff, band, scope)
        conclusion += f" (On all {n} trades the scores are in-sample for {fitted_on}.)"
    else:
        # When in doubt, no verdict: an in-sample win proves nothing.
        diff, band = _paired(d)
        better = None
        conclusion = (
            f"No fair comparison yet: the trades may have been used to fit {fitted_on}, and "
            f"only {n_oos} of {n} trades closed after both versions' data (at least "
            f"{MIN_OUT_OF_SAMPLE_TRADES} are needed). The scores shown are for information only."
        )
    return VersionComparison(
        n_trades=n,
        raw=ForecastScores.of(raw, outcome),
        a=side_a,
        b=side_b,
        weights=_weight_rows(a, b),
        mse_difference=diff,
        noise_band=band,
        better=better,
        n_out_of_sample=n_oos,
        out_of_sample_mse=oos_mse,
        conclusion=conclusion,
        weights_conclusion=_weights_conclusion(side_a, side_b),
        caveats=caveats,
    )


def _caveats(
    sides: tuple[ComparedVersion, ComparedVersion],
    forecasts: tuple[VersionForecast, VersionForecast],
    n: int,
    n_oos: int,
    oos_mse: tuple[float, float] | None,
) -> tuple[str, ...]:
    found = [
        f"{side.n_in_sample} of the {n} trades closed before {name} ({side.version}) "
        f"was created ({side.created_at}), so they may be in the data it was fitted "
        f"on: its scores are in-sample and optimistic."
        for name, side in zip(("A", "B"), sides, strict=True)
        if side.n_in_sample
    ]
    if not found:
        return ()
    later = max(forecasts, key=lambda f: f.fitted_until)
    if oos_mse is None:
        found.append(
            f"Only {n_oos} trades closed after both versions' data (at least "
            f"{MIN_OUT_OF_SAMPLE_TRADES} needed for a fair test); compare again later with "
            f"--since {later.created_at}."
        )
    else:
        found.append(
            f"On the {n_oos} trades after both versions' data (--since {later.created_at}): "
            f"MSE A {oos_mse[0]:.4f} vs B {oos_mse[1]:.4f} — this is the fair comparison."
        )
    return tuple(found)
