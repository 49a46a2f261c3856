"""Post-deployment rules: the watch after an apply (OK, WATCH or ROLLBACK) and version scoring."""

# Pure: imports only math, numpy, attrs and the package's pure modules (exceptions,
# metrics, analysis). The shell (monitoring.py) reads files and clocks and calls these.

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from calibration_core.core.ensemble import weighted_vote_precision
from calibration_core.core.metrics import (
    ReliabilityBin,
    brier_score,
    expected_calibration_error,
    log_loss,
    reliability_table,
)
from calibration_core.exceptions import InvalidInputError

__all__ = [
    "CONFIDENCE_RANGE",
    "DEFAULT_BASELINE_TRADES",
    "DEFAULT_COMPARE_TRADES",
    "MAX_HOLD_RATE_RISE",
    "MAX_PNL_DRIFT_SIGMA",
    "MAX_SHARE_OUTSIDE_RANGE",
    "MAX_WIN_RATE_CHANGE",
    "MIN_NEW_TRADES",
    "MIN_OUT_OF_SAMPLE_TRADES",
    "VERDICT_OK",
    "VERDICT_ROLLBACK",
    "VERDICT_WATCH",
    "ComparedVersion",
    "ForecastScores",
    "MemberVotes",
    "MonitorVerdict",
    "SignalCheck",
    "VersionComparison",
    "VersionForecast",
    "WindowData",
    "WindowSelection",
    "WindowStats",
    "compare_versions",
    "evaluate_monitor",
    "select_windows",
]

MAX_WIN_RATE_CHANGE = 0.05
"""Win rate may not move by 5 percentage points or more (checklist 4.2)."""

MAX_PNL_DRIFT_SIGMA = 0.10
"""Mean PnL may not drift by more than 10 % of the baseline's standard deviation."""

MAX_HOLD_RATE_RISE = 0.50
"""The HOLD rate may not rise more than 50 % over the baseline."""

CONFIDENCE_RANGE = (0.50, 0.95)
"""Calibrated confidences should stay within this range."""

MAX_SHARE_OUTSIDE_RANGE = 0.20
"""Above this share of calibrated confidences outside the range, the watch continues."""

MIN_NEW_TRADES = 30
"""Fewest trades since the deploy before the watch judges anything."""

DEFAULT_BASELINE_TRADES = 200
"""The baseline is this many of the most recent trades before the judged version went live."""

DEFAULT_COMPARE_TRADES = 500
"""``compare`` scores this many of the most recent trades unless told otherwise."""

MIN_OUT_OF_SAMPLE_TRADES = 30
"""``compare`` also scores the trades after both versions' data when at least this many exist."""

_Z_95 = 1.959963984540054
_RELIABILITY_BINS = 10

VERDICT_OK = "OK"
VERDICT_WATCH = "WATCH"
VERDICT_ROLLBACK = "ROLLBACK"

_STATUS_RANK = {"ok": 0, "watch": 1, "rollback": 2}


def _frozen_floats(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    array: npt.NDArray[np.float64] = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


def _frozen_flags(values: npt.ArrayLike | None) -> npt.NDArray[np.bool_] | None:
    if values is None:
        return None
    array: npt.NDArray[np.bool_] = np.array(values, dtype=np.bool_)
    array.setflags(write=False)
    return array


def _frozen_indices(values: npt.ArrayLike) -> npt.NDArray[np.intp]:
    array: npt.NDArray[np.intp] = np.array(values, dtype=np.intp)
    array.setflags(write=False)
    return array


def _frozen_codes(values: npt.ArrayLike) -> npt.NDArray[np.int8]:
    array: npt.NDArray[np.int8] = np.array(values, dtype=np.int8)
    array.setflags(write=False)
    return array


def _optional_array_equal(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(a, b))  # type: ignore[arg-type]


def _json_ready(value: object) -> Any:  # noqa: ANN401 - mirrors whatever JSON value it gets
    """Return ``value`` with NaN and ±inf replaced by None, so strict JSON can hold it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


_ARRAY_EQ = attrs.cmp_using(eq=np.array_equal)


# --------------------------------------------------------------------------- the watch


@attrs.frozen
class WindowData:
    """The trades (and optional signals) of one window.

    Parameters
    ----------
    pnl_pct : array, shape (n,)
        Realised signed returns in percent.
    raw_confidence : array, shape (n,)
        The ensemble's raw confidence at entry.
    calibrated_confidence : array, shape (n,)
        The confidence after calibration (what the live map produced).
    hold_flags : array of bool, shape (m,), optional
        One flag per logged signal, True for HOLD; None when no signals log.
    """

    pnl_pct: npt.NDArray[np.float64] = attrs.field(converter=_frozen_floats, eq=_ARRAY_EQ)
    raw_confidence: npt.NDArray[np.float64] = attrs.field(converter=_frozen_floats, eq=_ARRAY_EQ)
    calibrated_confidence: npt.NDArray[np.float64] = attrs.field(
        converter=_frozen_floats, eq=_ARRAY_EQ
    )
    hold_flags: npt.NDArray[np.bool_] | None = attrs.field(
        default=None, converter=_frozen_flags, eq=attrs.cmp_using(eq=_optional_array_equal)
    )

    def __attrs_post_init__(self) -> None:
        """Check that the three trade columns line up and are finite."""
        n = self.pnl_pct.shape[0]
        for name in ("pnl_pct", "raw_confidence", "calibrated_confidence"):
            column = getattr(self, name)
            if column.ndim != 1 or column.shape[0] != n:
                raise InvalidInputError(
                    f"{name} must be 1-D of length {n} (got shape {column.shape})"
                )
            if not np.all(np.isfinite(column)):
                index = int(np.flatnonzero(~np.isfinite(column))[0])
                raise InvalidInputError(
                    f"{name} must be finite (got {column[index]} at index {index})"
                )
        if self.hold_flags is not None and self.hold_flags.ndim != 1:
            raise InvalidInputError(f"hold_flags must be 1-D (got shape {self.hold_flags.shape})")


@attrs.frozen
class WindowStats:
    """Summary numbers of one window.

    ``hold_rate`` is None when the window has no signals; ``signals_logged``
    says whether a signals log was given at all.
    """

    n_trades: int
    win_rate: float
    mean_pnl: float
    std_pnl: float
    brier_raw: float
    brier_calibrated: float
    calibrated_mean: float
    share_outside_range: float
    n_signals: int
    hold_rate: float | None
    signals_logged: bool = False

    @classmethod
    def of(cls, window: WindowData) -> WindowStats:
        """Compute the summary of ``window`` (an empty window has NaN statistics: no data)."""
        n = int(window.pnl_pct.shape[0])
        wins = (window.pnl_pct > 0).astype(np.float64)
        lo, hi = CONFIDENCE_RANGE
        cal = window.calibrated_confidence
        logged = window.hold_flags is not None
        signals = 0 if window.hold_flags is None else int(window.hold_flags.shape[0])
        hold_rate = (
            float(np.mean(window.hold_flags)) if window.hold_flags is not None and signals else None
        )
        if n == 0:
            # No trades, no rates: NaN ("no data"; null in JSON), never a misleading 0.0 %.
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan, nan, signals, hold_rate, logged)
        return cls(
            n_trades=n,
            win_rate=float(wins.mean()),
            mean_pnl=float(window.pnl_pct.mean()),
            std_pnl=float(window.pnl_pct.std(ddof=1)) if n > 1 else 0.0,
            brier_raw=float(np.mean((window.raw_confidence - wins) ** 2)),
            brier_calibrated=float(np.mean((cal - wins) ** 2)),
            calibrated_mean=float(cal.mean()),
            share_outside_range=float(np.mean((cal < lo) | (cal > hi))),
            n_signals=signals,
            hold_rate=hold_rate,
            signals_logged=logged,
        )


@attrs.frozen
class SignalCheck:
    """One watched signal: its status (ok / watch / rollback), value, threshold and message."""

    name: str
    status: str
    value: float
    threshold: float
    message: str


@attrs.frozen
class MonitorVerdict:
    """The watch's verdict with every reason, for the terminal, ``--json`` and the report."""

    verdict: str
    reasons: tuple[str, ...]
    checks: tuple[SignalCheck, ...]
    baseline: WindowStats
    current: WindowStats
    trades_needed: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN and infinities become None)."""
        result: dict[str, Any] = _json_ready(attrs.asdict(self))
        return result


def _two_proportion_se(p_a: float, n_a: int, p_b: float, n_b: int) -> float:
    """Return the standard error of ``p_b - p_a`` under "no difference" (pooled)."""
    pooled = (p_a * n_a + p_b * n_b) / (n_a + n_b)
    return math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_a + 1 / n_b))


def _win_rate_check(base: WindowStats, cur: WindowStats) -> SignalCheck:
    delta = cur.win_rate - base.win_rate
    # The standard error of the difference of two proportions; a 5 pp move inside it is noise.
    se = _two_proportion_se(base.win_rate, base.n_trades, cur.win_rate, cur.n_trades)
    text = f"win rate {cur.win_rate:.1%} vs baseline {base.win_rate:.1%} ({delta * 100:+.1f} pp)"
    if abs(delta) < MAX_WIN_RATE_CHANGE:
        return SignalCheck(
            "win_rate_change", "ok", delta, MAX_WIN_RATE_CHANGE, f"{text}; within ±5 pp"
        )
    if delta < 0 and abs(delta) >= _Z_95 * se:
        return SignalCheck(
            "win_rate_change", "rollback", delta, MAX_WIN_RATE_CHANGE, f"{text}; dropped ≥ 5 pp"
        )
    reason = "rose" if delta > 0 else "dropped, but within noise for this many trades,"
    return SignalCheck(
        "win_rate_change",
        "watch",
        delta,
        MAX_WIN_RATE_CHANGE,
        f"{text}; {reason} beyond ±5 pp — verify",
    )


def _pnl_drift_check(base: WindowStats, cur: WindowStats) -> SignalCheck:
    if base.std_pnl <= 0:
        return SignalCheck(
            "pnl_drift",
            "watch",
            0.0,
            MAX_PNL_DRIFT_SIGMA,
            "baseline PnL has no spread; drift not judged",
        )
    drift = (cur.mean_pnl - base.mean_pnl) / base.std_pnl
    # Welch: both means are estimates, and the deploy may have changed the spread too.
    se = math.sqrt(base.std_pnl**2 / base.n_trades + cur.std_pnl**2 / cur.n_trades) / base.std_pnl
    text = (
        f"mean PnL {cur.mean_pnl:+.3f}% vs baseline {base.mean_pnl:+.3f}% "
        f"(drift {drift:+.2f}σ of baseline)"
    )
    if abs(drift) <= MAX_PNL_DRIFT_SIGMA:
        return SignalCheck("pnl_drift", "ok", drift, MAX_PNL_DRIFT_SIGMA, f"{text}; within ±0.10σ")
    if drift < 0 and -drift >= _Z_95 * se:
        return SignalCheck(
            "pnl_drift",
            "rollback",
            drift,
            MAX_PNL_DRIFT_SIGMA,
            f"{text}; significant downward drift",
        )
    why = (
        "upward"
        if drift > 0
        else f"within noise (±{_Z_95 * se:.2f}σ for {cur.n_trades} vs {base.n_trades} trades)"
    )
    return SignalCheck(
        "pnl_drift", "watch", drift, MAX_PNL_DRIFT_SIGMA, f"{text}; beyond ±0.10σ, {why}"
    )


def _hold_rate_check(base: WindowStats, cur: WindowStats) -> SignalCheck:
    if base.hold_rate is None or cur.hold_rate is None:
        if not (base.signals_logged or cur.signals_logged):
            why = "no signals log given"
        else:
            empty = [
                name
                for name, stats in (("baseline", base), ("new", cur))
                if stats.hold_rate is None
            ]
            why = f"no signals in the {' and '.join(empty)} window"
        return SignalCheck(
            "hold_rate", "ok", math.nan, MAX_HOLD_RATE_RISE, f"HOLD rate not judged: {why}"
        )
    if base.hold_rate == 0:
        rise = math.inf if cur.hold_rate > 0 else 0.0
    else:
        rise = cur.hold_rate / base.hold_rate - 1.0
    text = (
        f"HOLD rate {cur.hold_rate:.1%} vs baseline {base.hold_rate:.1%} "
        f"({cur.n_signals} vs {base.n_signals} signals)"
    )
    if rise <= MAX_HOLD_RATE_RISE:
        return SignalCheck("hold_rate", "ok", rise, MAX_HOLD_RATE_RISE, f"{text}; rise ≤ 50 %")
    se = _two_proportion_se(base.hold_rate, base.n_signals, cur.hold_rate, cur.n_signals)
    if cur.hold_rate - base.hold_rate >= _Z_95 * se:
        return SignalCheck(
            "hold_rate", "rollback", rise, MAX_HOLD_RATE_RISE, f"{text}; rose > 50 %"
        )
    return SignalCheck(
        "hold_rate",
        "watch",
        rise,
        MAX_HOLD_RATE_RISE,
        f"{text}; rose > 50 %, but within noise for this many signals — verify",
    )


def _distance_outside(mean: float) -> float:
    lo, hi = CONFIDENCE_RANGE
    return max(lo - mean, mean - hi, 0.0)


def _confidence_range_check(base: WindowStats, cur: WindowStats) -> SignalCheck:
    lo, hi = CONFIDENCE_RANGE
    text = (
        f"calibrated confidence mean {cur.calibrated_mean:.3f}, "
        f"{cur.share_outside_range:.0%} outside {lo:.2f}–{hi:.2f}"
    )
    outside = _distance_outside(cur.calibrated_mean)
    if outside > 0:
        # Rolling back only helps if the version before kept the confidence in range.
        if _distance_outside(base.calibrated_mean) >= outside:
            return SignalCheck(
                "confidence_distribution",
                "watch",
                cur.calibrated_mean,
                hi,
                f"{text}; mean outside the range, but the baseline's mean "
                f"{base.calibrated_mean:.3f} was as far outside — rolling back would not fix it",
            )
        return SignalCheck(
            "confidence_distribution",
            "rollback",
            cur.calibrated_mean,
            hi,
            f"{text}; mean outside the range (baseline {base.calibrated_mean:.3f})",
        )
    if cur.share_outside_range > MAX_SHARE_OUTSIDE_RANGE:
        return SignalCheck(
            "confidence_distribution",
            "watch",
            cur.share_outside_range,
            MAX_SHARE_OUTSIDE_RANGE,
            f"{text}; more than {MAX_SHARE_OUTSIDE_RANGE:.0%} outside",
        )
    return SignalCheck(
        "confidence_distribution", "ok", cur.share_outside_range, MAX_SHARE_OUTSIDE_RANGE, text
    )


def _live_calibration_check(window: WindowData, cur: WindowStats) -> SignalCheck:
    wins = (window.pnl_pct > 0).astype(np.float64)
    diff = (window.calibrated_confidence - wins) ** 2 - (window.raw_confidence - wins) ** 2
    mean = float(diff.mean())
    se = float(diff.std(ddof=1) / math.sqrt(diff.shape[0])) if diff.shape[0] > 1 else 0.0
    text = f"Brier on new trades: calibrated {cur.brier_calibrated:.4f} vs raw {cur.brier_raw:.4f}"
    if mean > 0 and mean >= _Z_95 * se:
        return SignalCheck(
            "live_calibration", "rollback", mean, 0.0, f"{text}; calibration makes it worse"
        )
    if mean > 0:
        return SignalCheck(
            "live_calibration", "watch", mean, 0.0, f"{text}; slightly worse, within noise"
        )
    return SignalCheck(
        "live_calibration", "ok", mean, 0.0, f"{text}; calibration helps or is neutral"
    )


def evaluate_monitor(
    baseline: WindowData, current: WindowData, *, min_new_trades: int = MIN_NEW_TRADES
) -> MonitorVerdict:
    """Judge the trades since a deploy against the baseline window before it.

    Parameters
    ----------
    baseline : WindowData
        Trades (and signals) before the deploy.
    current : WindowData
        Trades (and signals) since the deploy.
    min_new_trades : int, optional
        Below this many new trades the verdict is WATCH with the count still needed.

    Returns
    -------
    MonitorVerdict
        ``ROLLBACK`` if any signal breaches its threshold in the harmful
        direction beyond noise; ``WATCH`` if there are too few trades or a
        signal moved but cannot yet be judged; ``OK`` otherwise.

    Raises
    ------
    InvalidInputError
        If ``min_new_trades`` is below 1.

    Notes
    -----
    The thresholds are the checklist's (phase 4.2): win-rate change < 5 pp,
    PnL drift within 0.10 σ of the baseline, HOLD rate at most 50 % above the
    baseline, calibrated confidence within 0.50–0.95, and the Brier score of
    calibrated confidence no worse than raw on the new trades. A breach only
    triggers ROLLBACK when it is also larger than the 95 % noise band of the
    window's size; otherwise it keeps the watch going (WATCH).

    The HOLD rate is judged from the signals even when there are too few
    trades: a version that makes the ensemble HOLD everything also stops it
    from trading, and waiting for trades would wait forever.
    """
    if isinstance(min_new_trades, bool) or min_new_trades < 1:
        raise InvalidInputError(f"min_new_trades must be at least 1 (got {min_new_trades})")
    base = WindowStats.of(baseline)
    cur = WindowStats.of(current)
    hold = _hold_rate_check(base, cur)
    if base.n_trades < min_new_trades or cur.n_trades < min_new_trades:
        needed = max(0, min_new_trades - cur.n_trades)
        waiting: list[str] = []
        if cur.n_trades < min_new_trades:
            waiting.append(
                f"no trades since the deploy yet; {min_new_trades} needed before judging"
                if cur.n_trades == 0
                else f"only {cur.n_trades} trades since the deploy; {needed} more needed "
                f"(at least {min_new_trades}) before judging"
            )
        if base.n_trades < min_new_trades:
            waiting.append(
                f"no baseline trades before the deploy (at least {min_new_trades} needed)"
                if base.n_trades == 0
                else f"only {base.n_trades} baseline trades before the deploy "
                f"(at least {min_new_trades} needed)"
            )
        if hold.status == "rollback":
            return MonitorVerdict(VERDICT_ROLLBACK, (hold.message, *waiting), (hold,), base, cur, 0)
        return MonitorVerdict(VERDICT_WATCH, tuple(waiting), (hold,), base, cur, needed)
    checks = (
        _win_rate_check(base, cur),
        _pnl_drift_check(base, cur),
        hold,
        _confidence_range_check(base, cur),
        _live_calibration_check(current, cur),
    )
    worst = max((c.status for c in checks), key=_STATUS_RANK.__getitem__)
    verdict = {"ok": VERDICT_OK, "watch": VERDICT_WATCH, "rollback": VERDICT_ROLLBACK}[worst]
    reasons = (
        tuple(c.message for c in checks if c.status == worst)
        if worst != "ok"
        else tuple(c.message for c in checks)
    )
    return MonitorVerdict(verdict, reasons, checks, base, cur, 0)


# --------------------------------------------------------------------------- the windows


@attrs.frozen
class WindowSelection:
    """Which rows the watch judges and which form the baseline.

    Attributes
    ----------
    new, baseline : array of int
        Row indices, oldest first.
    tagged : bool
        True when the rows were split by their ``calibration_version`` tag,
        False when by time (the deploy time).
    n_baseline_candidates : int
        Rows eligible for the baseline before keeping the most recent ones.
    """

    new: npt.NDArray[np.intp] = attrs.field(converter=_frozen_indices, eq=_ARRAY_EQ)
    baseline: npt.NDArray[np.intp] = attrs.field(converter=_frozen_indices, eq=_ARRAY_EQ)
    tagged: bool
    n_baseline_candidates: int


def _time_column(timestamps: npt.ArrayLike) -> npt.NDArray[np.float64]:
    times = np.asarray(timestamps, dtype=np.float64)
    if times.ndim != 1:
        raise InvalidInputError(f"timestamps must be 1-D (got shape {times.shape})")
    if not np.all(np.isfinite(times)):
        index = int(np.flatnonzero(~np.isfinite(times))[0])
        raise InvalidInputError(f"timestamps must be finite (got {times[index]} at index {index})")
    return times


def _mask_column(values: npt.ArrayLike, name: str, n: int) -> npt.NDArray[np.bool_]:
    mask = np.asarray(values)
    if mask.dtype != np.bool_ or mask.shape != (n,):
        raise InvalidInputError(
            f"{name} must be a bool mask of shape ({n},) (got dtype {mask.dtype}, "
            f"shape {mask.shape})"
        )
    return mask


def select_windows(
    timestamps: npt.ArrayLike,
    judged: npt.ArrayLike,
    tagged: npt.ArrayLike,
    *,
    start: float,
    end: float = math.inf,
    baseline_size: int | None = None,
    not_before: float = -math.inf,
    own_earlier: npt.ArrayLike | None = None,
) -> WindowSelection:
    """Split rows (trades or signals) into the judged version's window and its baseline.

    Parameters
    ----------
    timestamps : array_like of float, shape (n,)
        Close times (trades) or emission times (signals), epoch seconds.
    judged : array_like of bool, shape (n,)
        Rows whose ``calibration_version`` is the judged version.
    tagged : array_like of bool, shape (n,)
        Rows that carry any ``calibration_version`` at all.
    start : float
        When the judged version last went live (epoch seconds).
    end : float, optional
        When it stopped being live; ``inf`` while it is live.
    baseline_size : int, optional
        Keep only this many of the most recent baseline rows; None keeps all.
    not_before : float, optional
        Drop baseline rows older than this (used to give the signals the same
        period as the baseline trades).
    own_earlier : array_like of bool, shape (n,), optional
        Rows that closed while the judged version was live in an *earlier*
        period (it was rolled back to, say); they are never baseline rows, since
        a version cannot be its own baseline.

    Returns
    -------
    WindowSelection

    Raises
    ------
    InvalidInputError
        On misshapen columns, non-finite times, ``end < start`` or a
        ``baseline_size`` below 1.

    Notes
    -----
    **Tagged** (some row is tagged with the judged version, or some row in
    ``[start, end)`` carries any tag, so the producer records the column): the
    window is every row tagged with the judged version, and the baseline
    candidates are the other rows before ``end`` that are tagged, or that are
    untagged and before ``start``. An untagged row after the deploy cannot be
    attributed and is left out of both.

    **By time** (no tags): the window is ``start <= t < end`` and the baseline
    candidates are ``t < start``. A trade that opened before the deploy and
    closed after it then counts as new.

    The baseline keeps the ``baseline_size`` most recent candidates with
    ``t >= not_before``, never a row in ``own_earlier``.
    """
    times = _time_column(timestamps)
    n = times.shape[0]
    is_judged = _mask_column(judged, "judged", n)
    is_tagged = _mask_column(tagged, "tagged", n)
    if not (math.isfinite(start) and start <= end) or math.isnan(end):
        raise InvalidInputError(f"start must be finite and <= end (got {start} and {end})")
    if baseline_size is not None and (isinstance(baseline_size, bool) or baseline_size < 1):
        raise InvalidInputError(f"baseline_size must be at least 1 (got {baseline_size})")
    own = (
        np.zeros(n, dtype=np.bool_)
        if own_earlier is None
        else _mask_column(own_earlier, "own_earlier", n)
    )
    in_period = (times >= start) & (times < end)
    by_tag = bool(is_judged.any() or (is_tagged & in_period).any())
    if by_tag:
        new = is_judged
        candidates = ~is_judged & (times < end) & (is_tagged | (times < start))
    else:
        new = in_period
        candidates = times < start
    candidates &= ~own
    order = np.argsort(times, kind="stable")
    new_rows = order[new[order]]
    base_rows = order[candidates[order]]
    n_candidates = int(base_rows.shape[0])
    base_rows = base_rows[times[base_rows] >= not_before]
    if baseline_size is not None:
        base_rows = base_rows[-baseline_size:]
    return WindowSelection(new_rows, base_rows, tagged=by_tag, n_baseline_candidates=n_candidates)


# --------------------------------------------------------------------------- compare


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
    calibrated: npt.NDArray[np.float64] = attrs.field(converter=_frozen_floats, eq=_ARRAY_EQ)
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
    actions: npt.NDArray[np.int8] = attrs.field(converter=_frozen_codes, eq=_ARRAY_EQ)
    sides: npt.NDArray[np.int8] = attrs.field(converter=_frozen_codes, eq=_ARRAY_EQ)


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
        result: dict[str, Any] = _json_ready(attrs.asdict(self))
        return result


def _forecast_scores(p: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> ForecastScores:
    return ForecastScores(
        mse=brier_score(y, p),
        ece=expected_calibration_error(y, p, n_bins=_RELIABILITY_BINS),
        log_loss=log_loss(y, p),
        reliability=reliability_table(y, p, n_bins=_RELIABILITY_BINS).bins,
    )


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
        scores=_forecast_scores(forecast.calibrated, y),
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


def _paired(d: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Mean of the paired differences and its 95 % noise band."""
    n = int(d.shape[0])
    band = _Z_95 * float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return float(d.mean()), band


def _precision_text(side: ComparedVersion) -> str:
    if math.isnan(side.vote_precision):
        return side.vote_note
    return f"{side.vote_precision:.3f} ({side.vote_note})"


def _weights_conclusion(a: ComparedVersion, b: ComparedVersion) -> str:
    text = f"Weighted-vote precision: A {_precision_text(a)}; B {_precision_text(b)}"
    if math.isnan(a.vote_precision) or math.isnan(b.vote_precision):
        return text + "."
    se = _two_proportion_se(a.vote_precision, a.vote_sided, b.vote_precision, b.vote_sided)
    gap = b.vote_precision - a.vote_precision
    if abs(gap) <= _Z_95 * se:
        return text + f"; the difference ({gap:+.3f}) is within noise (±{_Z_95 * se:.3f})."
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
    times = _time_column(timestamps)
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
    fitted_on = [name for name, side in (("A", side_a), ("B", side_b)) if side.n_in_sample]
    if not fitted_on:
        diff, band = _paired(d)
        better, conclusion = _conclusion(
            names, (side_a.scores.mse, side_b.scores.mse), diff, band, f"{n} trades"
        )
    elif oos_mse is not None:
        # Only the trades after both versions' data are a fair test: the verdict uses them.
        diff, band = _paired(d[out_of_sample])
        better, conclusion = _conclusion(
            names, oos_mse, diff, band, f"the {n_oos} trades after both versions' data"
        )
        conclusion += (
            f" (On all {n} trades the scores are in-sample for {' and '.join(fitted_on)}.)"
        )
    else:
        # When in doubt, no verdict: an in-sample win proves nothing.
        diff, band = _paired(d)
        better = None
        conclusion = (
            f"No fair comparison yet: the trades may have been used to fit "
            f"{' and '.join(fitted_on)}, and only {n_oos} of {n} trades closed after both "
            f"versions' data (at least {MIN_OUT_OF_SAMPLE_TRADES} are needed). The scores "
            "shown are for information only."
        )
    return VersionComparison(
        n_trades=n,
        raw=_forecast_scores(raw, outcome),
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
    found: list[str] = []
    for name, side in zip(("A", "B"), sides, strict=True):
        if side.n_in_sample:
            found.append(
                f"{side.n_in_sample} of the {n} trades closed before {name} ({side.version}) "
                f"was created ({side.created_at}), so they may be in the data it was fitted "
                f"on: its scores are in-sample and optimistic."
            )
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
