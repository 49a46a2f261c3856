"""The dataset-level integrity checks of phase 0.2 over a TradeBatch, and their short output."""

# Shell module: every check is a vectorised pass over the batch's columns; the
# findings group the pathologies of real_system.md §2 (issue 9 §2) by kind.

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np

from calibration_core.constants import MIN_TRADES_FOR_CALIBRATION
from calibration_core.exceptions import DataIntegrityError
from calibration_core.sources.trade_batch import (
    OUTCOME_LOSS,
    OUTCOME_NEUTRAL,
    OUTCOME_NONE,
    OUTCOME_WIN,
    SECONDS_PER_DAY,
)
from calibration_core.text import plural
from calibration_core.times import iso_utc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

    from calibration_core.sources.trade_batch import TradeBatch

__all__ = [
    "CONTRADICTION_STOP_SHARE",
    "DUPLICATE_WINDOW_S",
    "FIRST_LINES_SHOWN",
    "FUTURE_TOLERANCE_S",
    "STARVATION_HOURS",
    "Finding",
    "IntegritySummary",
    "find_duplicates",
    "findings_hide_lines",
    "format_findings",
    "group_line_messages",
    "refuse_future_closes",
    "robust_time_range",
    "summarize_integrity",
]

# The pathologies of real_system.md §2 (issue 9 §2).
DUPLICATE_WINDOW_S: Final = 60.0
FUTURE_TOLERANCE_S: Final = 300.0
STARVATION_HOURS: Final = 2.0
CONTRADICTION_STOP_SHARE: Final = 0.10
FIRST_LINES_SHOWN: Final = 5
_MAX_GROUPS_SHOWN: Final = 12
_ROBUST_MIN_TRADES: Final = 3


@attrs.frozen
class Finding:
    """One kind of integrity problem: its one-line message, how many records, which lines.

    ``lines`` holds every line number concerned (for ``--json`` and the
    problems file); ``pairs`` holds ``(repeat, original)`` line pairs for
    duplicated records. ``stop`` findings refuse the run; the others warn.
    """

    kind: str
    stop: bool
    message: str
    count: int
    lines: tuple[int, ...] = ()
    pairs: tuple[tuple[int, int], ...] = ()

    def first_lines_text(self) -> str:
        """Return ``"lines 2↔1, 4↔3, …"`` or ``"lines 3, 8, …"`` for the first few records."""
        if self.pairs:
            shown = [f"{a}↔{b}" for a, b in self.pairs[:FIRST_LINES_SHOWN]]
            more = len(self.pairs) > FIRST_LINES_SHOWN
        else:
            shown = [str(n) for n in self.lines[:FIRST_LINES_SHOWN]]
            more = max(len(self.lines), self.count) > len(shown)
        if not shown:
            return ""
        return (
            f"line{'s' if len(shown) > 1 or more else ''} {', '.join(shown)}{', …' if more else ''}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready finding with the full list of lines."""
        # Every field, in field order; the tuples as JSON lists.
        return {
            **attrs.asdict(self),
            "lines": list(self.lines),
            "pairs": list(map(list, self.pairs)),
        }


@attrs.frozen
class IntegritySummary:
    """What the checklist's data-integrity step (phase 0.2) found in a TradeBatch.

    ``problems`` are dataset-level failures that stop a calibration run;
    ``warnings`` are the batch's suspect lines and the warning findings. Rates
    are shares of all trades (0.0 for an empty batch); NEUTRAL trades also
    count as WIN or LOSS. ``findings`` group the pathologies by kind;
    ``starvation`` says why the data is starved (newest close older than
    ``STARVATION_HOURS``), which refuses ``run`` unless forced. The
    ``label_*`` counts follow the producer's ``outcome_label`` where present.
    """

    source: str
    data_hash: str
    n_trades: int
    n_symbols: int
    symbols: tuple[str, ...]
    wins: int
    losses: int
    neutral: int
    zero_pnl: int
    win_rate: float
    loss_rate: float
    neutral_rate: float
    first_timestamp: str | None
    last_timestamp: str | None
    span_days: float
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    zoneless_count: int = 0
    zoneless_first_lines: tuple[int, ...] = ()
    duplicates_dropped: int = 0
    newest_age_hours: float | None = None
    starvation: str | None = None
    labelled: int = 0
    label_wins: int = 0
    label_losses: int = 0
    label_neutral: int = 0

    @property
    def ok(self) -> bool:
        """Whether the dataset passes phase 0.2 (no problems; warnings allowed)."""
        return not self.problems

    @property
    def cadence_win_rate(self) -> float | None:
        """The cadence service's win rate, WIN / (WIN + LOSS) by ``outcome_label``."""
        decided = self.label_wins + self.label_losses
        return self.label_wins / decided if decided else None

    @property
    def label_win_rate(self) -> float | None:
        """Share of labelled trades whose ``outcome_label`` is WIN (NEUTRAL counts as not won)."""
        return self.label_wins / self.labelled if self.labelled else None


def robust_time_range(timestamps: ArrayLike) -> tuple[float, float] | None:
    """Return the oldest and newest close times that one outlier cannot move.

    With three or more trades these are the second-oldest and second-newest
    close, so a single stray timestamp (a 1970 or a far-future stamp) cannot
    stretch a span or hide the age of the data; below three, the plain range.
    None without trades.
    """
    stamps = np.asarray(timestamps, dtype=np.float64)
    n = stamps.size
    if n == 0:
        return None
    if n < _ROBUST_MIN_TRADES:
        return float(stamps.min()), float(stamps.max())
    part = np.partition(stamps, (1, n - 2))
    return float(part[1]), float(part[n - 2])


def find_duplicates(batch: TradeBatch) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Find records that repeat an earlier one: same symbol, side, prices and PnL within 60 s.

    Parameters
    ----------
    batch : TradeBatch
        The trades as read (any order).

    Returns
    -------
    repeats : ndarray of bool, shape (n_trades,)
        True on every repeat; the first record of each run of repeats is False,
        so ``batch.select(~repeats)`` keeps it.
    pairs : ndarray of int64, shape (k, 2)
        ``(repeat line, line it repeats)``, in the repeats' line order.

    Notes
    -----
    Records with equal keys are ordered by close time (then line); each one
    closed within ``DUPLICATE_WINDOW_S`` of the previous copy repeats it.
    """
    n = batch.n_trades
    repeats = np.zeros(n, dtype=np.bool_)
    if n < 2:  # noqa: PLR2004 - a repeat needs two records
        return repeats, np.empty((0, 2), dtype=np.int64)
    # Only rows whose keys hash alike can repeat one another: the exact sort
    # below runs on those few, not on every row (rows with a unique key have no
    # neighbour with equal keys, so leaving them out changes no pair).
    rows = _rows_with_shared_keys(batch)
    if rows.size == 0:
        return repeats, np.empty((0, 2), dtype=np.int64)
    keys = (
        batch.symbol_codes[rows],
        batch.sides[rows],
        batch.entry_price[rows],
        batch.exit_price[rows],
        batch.pnl_pct[rows],
    )
    times = batch.timestamps[rows]
    order = np.lexsort((batch.line_numbers[rows], times, *reversed(keys)))
    same = np.diff(times[order]) <= DUPLICATE_WINDOW_S
    for column in keys:
        ordered = column[order]
        same &= ordered[1:] == ordered[:-1]
    later, earlier = rows[order[1:][same]], rows[order[:-1][same]]
    repeats[later] = True
    pairs = np.column_stack((batch.line_numbers[later], batch.line_numbers[earlier]))
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    return repeats, pairs


# Odd 64-bit multipliers that spread each key column over the whole hash.
_KEY_MIX: Final = tuple(
    np.uint64(k)
    for k in (
        0x9E3779B97F4A7C15,
        0xBF58476D1CE4E5B9,
        0x94D049BB133111EB,
        0xD6E8FEB86659FD93,
        0xA0761D6478BD642F,
    )
)


def _rows_with_shared_keys(batch: TradeBatch) -> NDArray[np.intp]:
    """Return, in ascending order, the rows whose (symbol, side, prices, PnL) hash is not unique."""
    columns = (
        batch.symbol_codes.astype(np.uint64),
        batch.sides.astype(np.uint64),
        # + 0.0 makes -0.0 into 0.0: equal values, so the same bits.
        (batch.entry_price + 0.0).view(np.uint64),
        (batch.exit_price + 0.0).view(np.uint64),
        (batch.pnl_pct + 0.0).view(np.uint64),
    )
    mixed = np.zeros(batch.n_trades, dtype=np.uint64)
    for column, factor in zip(columns, _KEY_MIX, strict=True):
        mixed ^= column * factor
        mixed ^= mixed >> np.uint64(29)
    order = np.argsort(mixed)
    ordered = mixed[order]
    shared = np.zeros(batch.n_trades, dtype=np.bool_)
    equal = ordered[1:] == ordered[:-1]
    shared[1:] |= equal
    shared[:-1] |= equal
    return np.sort(order[shared])


def _duplicate_finding(batch: TradeBatch) -> Finding | None:
    repeats, pairs = find_duplicates(batch)
    count = int(repeats.sum())
    if not count:
        return None
    pair_tuples = tuple((int(a), int(b)) for a, b in pairs.tolist())
    return Finding(
        kind="duplicates",
        stop=True,
        message=(
            f"{plural(count, 'record')} {'repeats' if count == 1 else 'repeat'} an earlier one "
            "(same symbol, side, prices and "
            f"PnL, closed within {DUPLICATE_WINDOW_S:.0f} s); "
            "`run --drop-duplicates` keeps the first of each"
        ),
        count=count,
        lines=tuple(a for a, _ in pair_tuples),
        pairs=pair_tuples,
    )


def _contradiction_finding(batch: TradeBatch) -> Finding | None:
    move = np.sign(batch.exit_price - batch.entry_price)
    outcome = np.sign(batch.pnl_pct)
    contradicts = batch.sides.astype(np.float64) * move * outcome < 0.0
    count = int(contradicts.sum())
    if not count:
        return None
    nonzero = int(np.count_nonzero(batch.pnl_pct))
    share = count / nonzero if nonzero else 1.0
    stop = share >= CONTRADICTION_STOP_SHARE
    verdict = (
        f"at least {CONTRADICTION_STOP_SHARE:.0%}: the side cannot be trusted"
        if stop
        else f"below the {CONTRADICTION_STOP_SHARE:.0%} stop"
    )
    message = (
        f"{plural(count, 'trade')} ({share:.1%} of the {nonzero} with a nonzero PnL) "
        f"carry a side that contradicts their prices and PnL ({verdict})"
    )
    return _rows_finding("side_contradicts_pnl", batch, contradicts, stop=stop, message=message)


def _future_finding(batch: TradeBatch, now: float) -> Finding | None:
    future = batch.timestamps > now + FUTURE_TOLERANCE_S
    count = int(future.sum())
    if not count:
        return None
    latest = iso_utc(float(batch.timestamps[future].max()), timespec="auto")
    message = (
        f"{plural(count, 'trade')} closed more than {FUTURE_TOLERANCE_S / 60:.0f} min "
        f"in the future (latest {latest}): a clock or producer error"
    )
    return _rows_finding("future_close", batch, future, stop=True, message=message)


def _rows_finding(
    kind: str, batch: TradeBatch, rows: NDArray[np.bool_], *, stop: bool, message: str
) -> Finding:
    """Return the finding about the rows of a mask, naming every line."""
    return Finding(
        kind=kind,
        stop=stop,
        message=message,
        count=int(rows.sum()),
        lines=tuple(batch.line_numbers[rows].tolist()),
    )


def _zoneless_finding(batch: TradeBatch) -> Finding | None:
    if not batch.zoneless_count:
        return None
    return Finding(
        kind="zoneless_timestamp",
        stop=False,
        message=(
            f"{plural(batch.zoneless_count, 'timestamp')} without a zone, read as UTC "
            "(dialect B writes them)"
        ),
        count=batch.zoneless_count,
        lines=batch.zoneless_first_lines,
    )


def _spread_finding(batch: TradeBatch) -> Finding | None:
    # Imported here: analysis is the pure core's big module, and trades is imported
    # by jobs that never need it.
    from calibration_core.core.proposal import confidence_spread_problem  # noqa: PLC0415

    problem = confidence_spread_problem(batch.confidence)
    if problem is None:
        return None
    return Finding(
        kind="no_confidence_spread",
        stop=False,
        message=f"{problem}: no confidence map will be proposed (weights may still be)",
        count=batch.n_trades,
    )


def refuse_future_closes(batch: TradeBatch, now: float) -> None:
    """Raise DataIntegrityError when a close lies more than 5 min after ``now``.

    ``monitor`` and ``compare`` call it so that one far-future stamp cannot
    fall into a window or a "most recent" selection.

    Raises
    ------
    DataIntegrityError
        With the finding's one-line message, its first lines, and every line.
    """
    finding = _future_finding(batch, now)
    if finding is not None:
        name = Path(batch.source).name or batch.source
        raise DataIntegrityError(
            f"{batch.source}: {finding.message} ({finding.first_lines_text()})",
            problems=tuple(f"{name}:{n}: closed in the future" for n in finding.lines),
            shown=(),
        )


def _hours_text(hours: float) -> str:
    # Hours up to two days, then days, as format_age does.
    return f"{hours:.1f} h" if hours < 48.0 else f"{hours / 24.0:.1f} days"  # noqa: PLR2004


def summarize_integrity(
    batch: TradeBatch, *, now: float | None = None, duplicates_dropped: int = 0
) -> IntegritySummary:
    """Summarise a TradeBatch and check the dataset-level rules of phase 0.2.

    Parameters
    ----------
    batch : TradeBatch
        The trades as read.
    now : float, optional
        The current time (epoch seconds). With it, closes in the future stop
        the run and a newest close older than ``STARVATION_HOURS`` is
        starvation; without it neither is judged.
    duplicates_dropped : int, optional
        How many repeated records ``run --drop-duplicates`` removed before
        this summary; recorded as it is.

    Returns
    -------
    IntegritySummary
        Counts, rates, time range, the dataset-level problems and the findings.

    Notes
    -----
    The rules: at least ``MIN_TRADES_FOR_CALIBRATION`` trades, at least 2
    symbols, at least 1 WIN (PnL > 0) and at least 1 LOSS (PnL < 0). Stops:
    repeated records, a close more than 5 min in the future, and sides that
    contradict prices and PnL on at least 10 % of the trades with a nonzero
    PnL (fewer is a warning). The span and the newest close's age use
    :func:`robust_time_range`, so one outlier timestamp cannot move them.
    Line-level rules were enforced by `read_trades`. Every check is a
    vectorised pass over the columns.
    """
    n = batch.n_trades
    symbols = batch.symbols()
    wins = int(np.count_nonzero(batch.wins))
    losses = int(np.count_nonzero(batch.losses))
    neutral = int(np.count_nonzero(batch.neutral))
    problems = []
    if n < MIN_TRADES_FOR_CALIBRATION:
        problems.append(
            f"only {plural(n, 'trade')}; at least {MIN_TRADES_FOR_CALIBRATION} are required"
        )
    if len(symbols) < 2:  # noqa: PLR2004 - the checklist's "minst 2 symbols"
        named = f" ({', '.join(symbols)})" if symbols else ""
        problems.append(f"only {plural(len(symbols), 'symbol')}{named}; at least 2 are required")
    if wins == 0:
        problems.append("no WIN trade (PnL > 0); at least 1 is required")
    if losses == 0:
        problems.append("no LOSS trade (PnL < 0); at least 1 is required")
    found = [
        _duplicate_finding(batch),
        _future_finding(batch, now) if now is not None else None,
        _contradiction_finding(batch),
        _spread_finding(batch),
        _zoneless_finding(batch),
    ]
    findings = tuple(f for f in found if f is not None)
    problems.extend(f.message for f in findings if f.stop)
    robust = robust_time_range(batch.timestamps)
    newest_age = (now - robust[1]) / 3600.0 if robust is not None and now is not None else None
    starvation = None
    if newest_age is not None and newest_age > STARVATION_HOURS and now is not None:
        latest_age = (now - float(np.max(batch.timestamps))) / 3600.0
        if latest_age > STARVATION_HOURS:
            starvation = (
                f"SimpleCLM STARVATION: the newest close is {_hours_text(latest_age)} old "
                f"(no trade for more than {STARVATION_HOURS:.0f} h)"
            )
        else:
            # One close cannot move an age (issue 11): a lone fresh stamp is not yet
            # a recorder that works again, and the message says exactly that.
            starvation = (
                f"SimpleCLM STARVATION: only one close in the last {STARVATION_HOURS:.0f} h; "
                f"the one before it is {_hours_text(newest_age)} old (waiting for a second close)"
            )
    labels = batch.outcome_labels
    return IntegritySummary(
        source=batch.source,
        data_hash=batch.data_hash,
        n_trades=n,
        n_symbols=len(symbols),
        symbols=symbols,
        wins=wins,
        losses=losses,
        neutral=neutral,
        zero_pnl=int(np.count_nonzero(batch.pnl_pct == 0.0)),
        win_rate=wins / n if n else 0.0,
        loss_rate=losses / n if n else 0.0,
        neutral_rate=neutral / n if n else 0.0,
        first_timestamp=iso_utc(float(batch.timestamps.min()), timespec="auto") if n else None,
        last_timestamp=iso_utc(float(batch.timestamps.max()), timespec="auto") if n else None,
        span_days=(robust[1] - robust[0]) / SECONDS_PER_DAY if robust is not None else 0.0,
        problems=tuple(problems),
        warnings=batch.warnings + tuple(f.message for f in findings if not f.stop),
        findings=findings,
        zoneless_count=batch.zoneless_count,
        zoneless_first_lines=batch.zoneless_first_lines,
        duplicates_dropped=duplicates_dropped,
        newest_age_hours=newest_age,
        starvation=starvation,
        labelled=int(np.count_nonzero(labels != OUTCOME_NONE)),
        label_wins=int(np.count_nonzero(labels == OUTCOME_WIN)),
        label_losses=int(np.count_nonzero(labels == OUTCOME_LOSS)),
        label_neutral=int(np.count_nonzero(labels == OUTCOME_NEUTRAL)),
    )


# --------------------------------------------------------------------------- short output

_LINE_PREFIX = re.compile(r"^(?P<name>.*?):(?P<line>\d+): (?P<reason>.*)$")
_GOT = re.compile(r" \(got .*\)$| at column \d+")


def group_line_messages(messages: Sequence[str], *, stop: bool) -> tuple[Finding, ...]:
    """Group ``file:line: reason`` messages by reason (values left out), in first-seen order.

    A line with several reasons (``a; b``) counts under each. Messages
    without a line number are a group of their own.
    """
    groups: dict[str, list[int]] = {}
    examples: dict[str, str] = {}
    for text in messages:
        match = _LINE_PREFIX.match(text)
        if match is None:
            groups.setdefault(text, [])
            examples.setdefault(text, text)
            continue
        lineno = int(match["line"])
        for reason in match["reason"].split("; "):
            key = _GOT.sub("", reason)
            groups.setdefault(key, []).append(lineno)
            examples.setdefault(key, reason)
    return tuple(
        Finding(
            kind="line",
            stop=stop,
            message=_group_message(key, examples[key], len(lines)),
            count=max(len(lines), 1),
            lines=tuple(lines),
        )
        for key, lines in groups.items()
    )


def _group_message(key: str, example: str, count: int) -> str:
    """Return the group's reason, with the first line's left-out value as an example."""
    if count <= 1 or example == key:
        return example
    left_out = " ".join(m.group(0).strip() for m in _GOT.finditer(example))
    return f"{key}, e.g. {left_out}"


def findings_hide_lines(findings: Sequence[Finding], *, limit: int = _MAX_GROUPS_SHOWN) -> bool:
    """Return True when `format_findings` would leave out a kind or a line number.

    Only then does an operator need the problems file: a short list is shown whole.
    """
    return len(findings) > limit or any(
        max(len(f.pairs), len(f.lines), f.count) > FIRST_LINES_SHOWN for f in findings
    )


def format_findings(findings: Sequence[Finding], *, limit: int = _MAX_GROUPS_SHOWN) -> list[str]:
    """Return one line per finding (at most ``limit``, then one line saying how many more).

    Each line is ``❌``/``⚠️`` + message + count + the first few line numbers,
    so any number of bad records prints in a few lines.
    """
    out = []
    for finding in findings[:limit]:
        mark = "❌" if finding.stop else "⚠️ "
        where = finding.first_lines_text()
        count = f"{plural(finding.count, 'record')}" if finding.kind == "line" else ""
        tail = "; ".join(part for part in (count, where) if part)
        out.append(f"{mark} {finding.message}" + (f" — {tail}" if tail else ""))
    if len(findings) > limit:
        out.append(
            f"… and {len(findings) - limit} more kinds (all are in --json and the problems file)"
        )
    return out
