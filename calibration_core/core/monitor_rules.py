"""Post-deployment watch rules: judge the trades since an apply (OK, WATCH or ROLLBACK)."""

# Pure: imports only math, numpy, attrs and the package's pure modules (exceptions,
# _arrays). The shell (jobs/monitor.py) reads files and clocks and calls these.

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from calibration_core._arrays import as_vector, frozen_array, require_finite
from calibration_core.exceptions import InvalidInputError

__all__ = [
    "ARRAY_EQ",
    "CONFIDENCE_RANGE",
    "DEFAULT_BASELINE_TRADES",
    "MAX_HOLD_RATE_RISE",
    "MAX_PNL_DRIFT_SIGMA",
    "MAX_SHARE_OUTSIDE_RANGE",
    "MAX_WIN_RATE_CHANGE",
    "MIN_NEW_TRADES",
    "VERDICT_OK",
    "VERDICT_ROLLBACK",
    "VERDICT_WATCH",
    "Z_95",
    "MonitorVerdict",
    "SignalCheck",
    "WindowData",
    "WindowSelection",
    "WindowStats",
    "evaluate_monitor",
    "json_ready",
    "select_windows",
    "two_proportion_se",
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

Z_95 = 1.959963984540054
"""The two-sided 95 % quantile of the normal distribution: the noise band of every rule."""

VERDICT_OK = "OK"
VERDICT_WATCH = "WATCH"
VERDICT_ROLLBACK = "ROLLBACK"

_STATUS_RANK = {"ok": 0, "watch": 1, "rollback": 2}

ARRAY_EQ = attrs.cmp_using(eq=np.array_equal)
"""attrs equality for array fields of frozen values."""


def _optional_array_equal(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(a, b))  # type: ignore[arg-type]


def _frozen_rows(values: npt.ArrayLike) -> npt.NDArray[np.intp]:
    return frozen_array(values, np.intp)


def _frozen_flags(values: npt.ArrayLike | None) -> npt.NDArray[np.bool_] | None:
    return None if values is None else frozen_array(values, np.bool_)


def json_ready(value: object) -> Any:  # noqa: ANN401 - mirrors whatever JSON value it gets
    """Return ``value`` with NaN and ±inf replaced by None, so strict JSON can hold it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def two_proportion_se(p_a: float, n_a: int, p_b: float, n_b: int) -> float:
    """Return the standard error of ``p_b - p_a`` under "no difference" (pooled)."""
    pooled = (p_a * n_a + p_b * n_b) / (n_a + n_b)
    return math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_a + 1 / n_b))


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

    pnl_pct: npt.NDArray[np.float64] = attrs.field(converter=frozen_array, eq=ARRAY_EQ)
    raw_confidence: npt.NDArray[np.float64] = attrs.field(converter=frozen_array, eq=ARRAY_EQ)
    calibrated_confidence: npt.NDArray[np.float64] = attrs.field(
        converter=frozen_array, eq=ARRAY_EQ
    )
    hold_flags: npt.NDArray[np.bool_] | None = attrs.field(
        default=None,
        converter=_frozen_flags,
        eq=attrs.cmp_using(eq=_optional_array_equal),
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
            require_finite(name, column)
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
        flags = window.hold_flags
        signals = 0 if flags is None else int(flags.shape[0])
        hold_rate = float(np.mean(flags)) if flags is not None and signals else None
        if n == 0:
            # No trades, no rates: NaN ("no data"; null in JSON), never a misleading 0.0 %.
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan, nan, signals, hold_rate, flags is not None)
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
            signals_logged=flags is not None,
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
        result: dict[str, Any] = json_ready(attrs.asdict(self))
        return result


# Each rule words its finding as "<numbers>; <why>", with the status the finding earns.


def _win_rate_check(base: WindowStats, cur: WindowStats) -> SignalCheck:
    delta = cur.win_rate - base.win_rate
    # The standard error of the difference of two proportions; a 5 pp move inside it is noise.
    se = two_proportion_se(base.win_rate, base.n_trades, cur.win_rate, cur.n_trades)
    text = f"win rate {cur.win_rate:.1%} vs baseline {base.win_rate:.1%} ({delta * 100:+.1f} pp)"
    if abs(delta) < MAX_WIN_RATE_CHANGE:
        status, why = "ok", "within ±5 pp"
    elif delta < 0 and abs(delta) >= Z_95 * se:
        status, why = "rollback", "dropped ≥ 5 pp"
    else:
        reason = "rose" if delta > 0 else "dropped, but within noise for this many trades,"
        status, why = "watch", f"{reason} beyond ±5 pp — verify"
    return SignalCheck("win_rate_change", status, delta, MAX_WIN_RATE_CHANGE, f"{text}; {why}")


def _pnl_drift_check(base: WindowStats, cur: WindowStats) -> SignalCheck:
    if base.std_pnl <= 0:
        why = "baseline PnL has no spread; drift not judged"
        return SignalCheck("pnl_drift", "watch", 0.0, MAX_PNL_DRIFT_SIGMA, why)
    drift = (cur.mean_pnl - base.mean_pnl) / base.std_pnl
    # Welch: both means are estimates, and the deploy may have changed the spread too.
    se = math.sqrt(base.std_pnl**2 / base.n_trades + cur.std_pnl**2 / cur.n_trades) / base.std_pnl
    text = (
        f"mean PnL {cur.mean_pnl:+.3f}% vs baseline {base.mean_pnl:+.3f}% "
        f"(drift {drift:+.2f}σ of baseline)"
    )
    if abs(drift) <= MAX_PNL_DRIFT_SIGMA:
        status, why = "ok", "within ±0.10σ"
    elif drift < 0 and -drift >= Z_95 * se:
        status, why = "rollback", "significant downward drift"
    else:
        noise = f"within noise (±{Z_95 * se:.2f}σ for {cur.n_trades} vs {base.n_trades} trades)"
        status, why = "watch", f"beyond ±0.10σ, {'upward' if drift > 0 else noise}"
    return SignalCheck("pnl_drift", status, drift, MAX_PNL_DRIFT_SIGMA, f"{text}; {why}")


def _hold_rate_check(base: WindowStats, cur: WindowStats) -> SignalCheck:
    if base.hold_rate is None or cur.hold_rate is None:
        if not (base.signals_logged or cur.signals_logged):
            why = "no signals log given"
        else:
            empty = [name for name, s in (("baseline", base), ("new", cur)) if s.hold_rate is None]
            why = f"no signals in the {' and '.join(empty)} window"
        message = f"HOLD rate not judged: {why}"
        return SignalCheck("hold_rate", "ok", math.nan, MAX_HOLD_RATE_RISE, message)
    if base.hold_rate == 0:
        rise = math.inf if cur.hold_rate > 0 else 0.0
    else:
        rise = cur.hold_rate / base.hold_rate - 1.0
    text = (
        f"HOLD rate {cur.hold_rate:.1%} vs baseline {base.hold_rate:.1%} "
        f"({cur.n_signals} vs {base.n_signals} signals)"
    )
    se = two_proportion_se(base.hold_rate, base.n_signals, cur.hold_rate, cur.n_signals)
    if rise <= MAX_HOLD_RATE_RISE:
        status, why = "ok", "rise ≤ 50 %"
    elif cur.hold_rate - base.hold_rate >= Z_95 * se:
        status, why = "rollback", "rose > 50 %"
    else:
        status, why = "watch", "rose > 50 %, but within noise for this many signals — verify"
    return SignalCheck("hold_rate", status, rise, MAX_HOLD_RATE_RISE, f"{text}; {why}")


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
    value, threshold = cur.share_outside_range, MAX_SHARE_OUTSIDE_RANGE
    if outside > 0:
        value, threshold = cur.calibrated_mean, hi
        # Rolling back only helps if the version before kept the confidence in range.
        if _distance_outside(base.calibrated_mean) >= outside:
            status = "watch"
            text += (
                f"; mean outside the range, but the baseline's mean {base.calibrated_mean:.3f} "
                "was as far outside — rolling back would not fix it"
            )
        else:
            status = "rollback"
            text += f"; mean outside the range (baseline {base.calibrated_mean:.3f})"
    elif cur.share_outside_range > MAX_SHARE_OUTSIDE_RANGE:
        status = "watch"
        text += f"; more than {MAX_SHARE_OUTSIDE_RANGE:.0%} outside"
    else:
        status = "ok"
    return SignalCheck("confidence_distribution", status, value, threshold, text)


def _live_calibration_check(window: WindowData, cur: WindowStats) -> SignalCheck:
    wins = (window.pnl_pct > 0).astype(np.float64)
    diff = (window.calibrated_confidence - wins) ** 2 - (window.raw_confidence - wins) ** 2
    mean = float(diff.mean())
    se = float(diff.std(ddof=1) / math.sqrt(diff.shape[0])) if diff.shape[0] > 1 else 0.0
    text = f"Brier on new trades: calibrated {cur.brier_calibrated:.4f} vs raw {cur.brier_raw:.4f}"
    if mean > 0 and mean >= Z_95 * se:
        status, why = "rollback", "calibration makes it worse"
    elif mean > 0:
        status, why = "watch", "slightly worse, within noise"
    else:
        status, why = "ok", "calibration helps or is neutral"
    return SignalCheck("live_calibration", status, mean, 0.0, f"{text}; {why}")


def _waiting(cur: int, base: int, needed: int) -> list[str]:
    """Say which window has too few trades to judge (the new one first)."""
    waiting: list[str] = []
    if cur < needed:
        waiting.append(
            f"only {cur} trades since the deploy; {needed - cur} more needed "
            f"(at least {needed}) before judging"
            if cur
            else f"no trades since the deploy yet; {needed} needed before judging"
        )
    if base < needed:
        count = f"only {base}" if base else "no"
        waiting.append(f"{count} baseline trades before the deploy (at least {needed} needed)")
    return waiting


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
        waiting = _waiting(cur.n_trades, base.n_trades, min_new_trades)
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

    new: npt.NDArray[np.intp] = attrs.field(converter=_frozen_rows, eq=ARRAY_EQ)
    baseline: npt.NDArray[np.intp] = attrs.field(converter=_frozen_rows, eq=ARRAY_EQ)
    tagged: bool
    n_baseline_candidates: int


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
    times = as_vector("timestamps", timestamps, allow_empty=True)
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
