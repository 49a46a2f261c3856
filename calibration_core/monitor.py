"""The post-apply watch (checklist phase 4.2) as pure rules: OK, WATCH or ROLLBACK with reasons."""

# Pure: imports only math, numpy, attrs and the package's pure modules.

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt

from calibration_core.exceptions import InvalidInputError

__all__ = [
    "CONFIDENCE_RANGE",
    "MAX_HOLD_RATE_RISE",
    "MAX_PNL_DRIFT_SIGMA",
    "MAX_WIN_RATE_CHANGE",
    "MIN_NEW_TRADES",
    "VERDICT_OK",
    "VERDICT_ROLLBACK",
    "VERDICT_WATCH",
    "MonitorVerdict",
    "SignalCheck",
    "WindowData",
    "WindowStats",
    "evaluate_monitor",
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

_Z_95 = 1.959963984540054

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


def _optional_array_equal(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(a, b))  # type: ignore[arg-type]


_ARRAY_EQ = attrs.cmp_using(eq=np.array_equal)


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


@attrs.frozen
class WindowStats:
    """Summary numbers of one window."""

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

    @classmethod
    def of(cls, window: WindowData) -> WindowStats:
        """Compute the summary of ``window`` (NaN-free; empty windows give zeros)."""
        n = int(window.pnl_pct.shape[0])
        wins = (window.pnl_pct > 0).astype(np.float64)
        lo, hi = CONFIDENCE_RANGE
        cal = window.calibrated_confidence
        signals = 0 if window.hold_flags is None else int(window.hold_flags.shape[0])
        hold_rate = (
            float(np.mean(window.hold_flags)) if window.hold_flags is not None and signals else None
        )
        if n == 0:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, signals, hold_rate)
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

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return attrs.asdict(self)


def _win_rate_check(base: WindowStats, cur: WindowStats) -> SignalCheck:
    delta = cur.win_rate - base.win_rate
    # The standard error of the difference of two proportions; a 5 pp move inside it is noise.
    pooled = (base.win_rate * base.n_trades + cur.win_rate * cur.n_trades) / (
        base.n_trades + cur.n_trades
    )
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / base.n_trades + 1 / cur.n_trades))
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
    se = 1.0 / math.sqrt(cur.n_trades)  # standard error of the mean, in baseline sigmas
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
    why = "upward" if drift > 0 else f"within noise (±{_Z_95 * se:.2f}σ for {cur.n_trades} trades)"
    return SignalCheck(
        "pnl_drift", "watch", drift, MAX_PNL_DRIFT_SIGMA, f"{text}; beyond ±0.10σ, {why}"
    )


def _hold_rate_check(base: WindowStats, cur: WindowStats) -> SignalCheck:
    if base.hold_rate is None or cur.hold_rate is None:
        return SignalCheck(
            "hold_rate",
            "ok",
            math.nan,
            MAX_HOLD_RATE_RISE,
            "no signals log for both windows; not judged",
        )
    if base.hold_rate == 0:
        rise = math.inf if cur.hold_rate > 0 else 0.0
    else:
        rise = cur.hold_rate / base.hold_rate - 1.0
    text = f"HOLD rate {cur.hold_rate:.1%} vs baseline {base.hold_rate:.1%}"
    if rise > MAX_HOLD_RATE_RISE:
        return SignalCheck(
            "hold_rate", "rollback", rise, MAX_HOLD_RATE_RISE, f"{text}; rose > 50 %"
        )
    return SignalCheck("hold_rate", "ok", rise, MAX_HOLD_RATE_RISE, f"{text}; rise ≤ 50 %")


def _confidence_range_check(cur: WindowStats) -> SignalCheck:
    lo, hi = CONFIDENCE_RANGE
    text = (
        f"calibrated confidence mean {cur.calibrated_mean:.3f}, "
        f"{cur.share_outside_range:.0%} outside {lo:.2f}–{hi:.2f}"
    )
    if not lo <= cur.calibrated_mean <= hi:
        return SignalCheck(
            "confidence_distribution", "rollback", cur.calibrated_mean, hi, f"{text}"
        )
    if cur.share_outside_range > MAX_SHARE_OUTSIDE_RANGE:
        return SignalCheck(
            "confidence_distribution",
            "watch",
            cur.share_outside_range,
            MAX_SHARE_OUTSIDE_RANGE,
            text,
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

    Notes
    -----
    The thresholds are the checklist's (phase 4.2): win-rate change < 5 pp,
    PnL drift within 0.10 σ of the baseline, HOLD rate at most 50 % above the
    baseline, calibrated confidence within 0.50–0.95, and the Brier score of
    calibrated confidence no worse than raw on the new trades. A breach only
    triggers ROLLBACK when it is also larger than the 95 % noise band of the
    window's size; otherwise it keeps the watch going (WATCH).
    """
    if min_new_trades < 1:
        raise InvalidInputError(f"min_new_trades must be at least 1 (got {min_new_trades})")
    base = WindowStats.of(baseline)
    cur = WindowStats.of(current)
    if base.n_trades < min_new_trades or cur.n_trades < min_new_trades:
        needed = max(0, min_new_trades - cur.n_trades)
        waiting: list[str] = []
        if cur.n_trades < min_new_trades:
            waiting.append(
                f"only {cur.n_trades} trades since the deploy; {needed} more needed "
                f"(at least {min_new_trades}) before judging"
            )
        if base.n_trades < min_new_trades:
            waiting.append(
                f"only {base.n_trades} baseline trades before the deploy "
                f"(at least {min_new_trades} needed)"
            )
        return MonitorVerdict(VERDICT_WATCH, tuple(waiting), (), base, cur, needed)
    checks = (
        _win_rate_check(base, cur),
        _pnl_drift_check(base, cur),
        _hold_rate_check(base, cur),
        _confidence_range_check(cur),
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
