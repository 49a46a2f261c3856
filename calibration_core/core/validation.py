"""Safety checks on a calibration proposal and the risk score that gates its deployment."""

# Pure: imports only math, enum, typing, collections.abc, attrs and calibration_core's
# constants and exceptions.

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MAX_WEIGHT,
    MAX_WEIGHT_CHANGE,
    MIN_CONFIDENCE_IMPROVEMENT,
    MIN_OUTCOME_DIVERSITY,
    MIN_TRADES_FOR_CALIBRATION,
    MIN_WEIGHT,
    WEIGHT_SUM_TOLERANCE,
)
from calibration_core.core.numbers import as_real, require, same_float
from calibration_core.exceptions import InvalidInputError

__all__ = [
    "RISK_CATEGORIES",
    "CheckResult",
    "RiskScore",
    "Severity",
    "ValidationReport",
    "check_confidence_change_bound",
    "check_confidence_improvement",
    "check_max_weight_change",
    "check_min_trades",
    "check_no_degradation",
    "check_outcome_diversity",
    "check_weight_bounds",
    "check_weight_sum",
    "score_risk",
    "summarize",
]

RISK_CATEGORIES = ("low", "medium", "high")
"""Risk categories, from deployable to blocked."""

# Bounds that are computed as ``raw ± bound`` and then compared again may sit one
# rounding error outside; 1e-12 absorbs that and nothing a person could notice.
_ROUNDING_SLACK = 1e-12


class Severity(enum.Enum):
    """How much a failed check counts toward the risk score."""

    CRITICAL = "critical"
    """Weighs 0.5; the proposal must not be deployed as it stands."""

    ERROR = "error"
    """Weighs 0.3; the proposal breaks a safety rule."""

    WARNING = "warning"
    """Weighs 0.1; the proposal is degraded but may be deployed."""


# Risk points per failed check, in tenths, so that categories compare exactly.
_RISK_TENTHS = {Severity.CRITICAL: 5, Severity.ERROR: 3, Severity.WARNING: 1}


def _non_empty(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        raise InvalidInputError(f"{attribute.name} must be a non-empty string")


@attrs.frozen
class CheckResult:
    """The outcome of one safety check.

    Attributes
    ----------
    name : str
        Which check, e.g. ``"weight_sum"``.
    severity : Severity
        How much a failure counts toward the risk.
    passed : bool
        Whether the rule held. A check never passes on a non-finite input.
    value : float
        What was measured (NaN when an input was not finite).
    threshold : float
        The limit ``value`` was compared with.
    message : str
        One line stating value against threshold.
    """

    name: str = attrs.field(validator=[attrs.validators.instance_of(str), _non_empty])
    severity: Severity = attrs.field(validator=attrs.validators.instance_of(Severity))
    passed: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    value: float = attrs.field(converter=float, eq=attrs.cmp_using(eq=same_float), hash=False)
    threshold: float = attrs.field(converter=float, eq=attrs.cmp_using(eq=same_float), hash=False)
    message: str = attrs.field(validator=attrs.validators.instance_of(str))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; non-finite numbers become ``"nan"``, ``"inf"``, ``"-inf"``."""
        return {
            "name": self.name,
            "severity": self.severity.value,
            "passed": self.passed,
            "value": _encode_float(self.value),
            "threshold": _encode_float(self.threshold),
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CheckResult:
        """Rebuild a result written by :meth:`to_dict`.

        Parameters
        ----------
        raw : mapping
            A dict with exactly the keys of :meth:`to_dict`.

        Returns
        -------
        CheckResult
            Equal to the result that wrote ``raw``.

        Raises
        ------
        InvalidInputError
            If a key is missing or unknown, or a field has the wrong type.
        """
        if not isinstance(raw, Mapping):
            raise InvalidInputError(f"check result must be a mapping (got {type(raw).__name__})")
        fields = {"name", "severity", "passed", "value", "threshold", "message"}
        if set(raw) != fields:
            raise InvalidInputError(
                f"check result must have exactly the fields {sorted(fields)} (got {sorted(raw)})"
            )
        severities = [s.value for s in Severity]
        if raw["severity"] not in severities:
            raise InvalidInputError(
                f"check result severity must be one of {severities} (got {raw['severity']!r})"
            )
        if not isinstance(raw["passed"], bool):
            raise InvalidInputError(
                f"check result passed must be a boolean (got {raw['passed']!r})"
            )
        if not isinstance(raw["name"], str) or not isinstance(raw["message"], str):
            raise InvalidInputError("check result name and message must be strings")
        return cls(
            name=raw["name"],
            severity=Severity(raw["severity"]),
            passed=raw["passed"],
            value=_decode_float(raw["value"], "value"),
            threshold=_decode_float(raw["threshold"], "threshold"),
            message=raw["message"],
        )


def _encode_float(value: float) -> float | str:
    # Strict JSON has no NaN or Infinity; repr gives "nan", "inf", "-inf", which float() reads back.
    return value if math.isfinite(value) else repr(value)


def _decode_float(raw: object, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidInputError(f"check result {what} must be a number (got {raw!r})")
    if isinstance(raw, str) and raw not in {"nan", "inf", "-inf"}:
        raise InvalidInputError(
            f"check result {what} must be a number, 'nan', 'inf' or '-inf' (got {raw!r})"
        )
    return float(raw)


def _number(value: object, what: str) -> float:
    # NaN and ±inf pass through for the check to fail on (a failed check records NaN,
    # which CheckResult's equality treats as equal to itself).
    return as_real(value, what)


def _non_negative(value: float, what: str) -> None:
    require(not value < 0, what, ">= 0", value)


@attrs.frozen
class _Rule:
    # One check's fixed parts; every result of the check is built from them.
    name: str
    severity: Severity
    threshold: float

    def result(self, passed: bool, value: float, message: str) -> CheckResult:
        return CheckResult(self.name, self.severity, passed, value, self.threshold, message)

    def fail(self, value: float, message: str) -> CheckResult:
        return self.result(passed=False, value=value, message=message)

    def not_finite(self, what: str, value: float, consequence: str = "") -> CheckResult:
        return self.fail(
            math.nan, f"{what} is not finite ({value!r}); the check fails{consequence}"
        )


def check_confidence_improvement(mse_before: float, mse_after: float) -> CheckResult:
    """Check that the confidence map lowers the MSE (Brier) by at least 5 % relative.

    Parameters
    ----------
    mse_before, mse_after : float
        Out-of-sample MSE of the raw and of the calibrated confidence, >= 0.

    Returns
    -------
    CheckResult
        ``confidence_improvement``, WARNING; ``value`` is
        ``(mse_before - mse_after) / mse_before``, ``threshold`` is
        ``MIN_CONFIDENCE_IMPROVEMENT``. A failure does not block: the caller
        proposes the confidence map DISABLED, as the message says.

    Raises
    ------
    InvalidInputError
        If an MSE is negative or not a number.
    """
    rule = _Rule("confidence_improvement", Severity.WARNING, MIN_CONFIDENCE_IMPROVEMENT)
    threshold = rule.threshold
    disabled = "; the confidence map is proposed DISABLED"
    before = _number(mse_before, "mse_before")
    after = _number(mse_after, "mse_after")
    for what, value in (("mse_before", before), ("mse_after", after)):
        if not math.isfinite(value):
            return rule.not_finite(what, value, disabled)
        _non_negative(value, what)
    if before == 0:
        improvement = 0.0 if after == 0 else -math.inf
        message = f"MSE before calibration is already 0, so it cannot improve by {threshold:.0%}"
        return rule.fail(improvement, message + disabled)
    improvement = (before - after) / before
    passed = improvement >= threshold
    relation = "at least" if passed else "below"
    message = (
        f"MSE improved by {improvement:.1%} ({before:.4f} → {after:.4f}), "
        f"{relation} the {threshold:.0%} required"
    )
    return rule.result(passed, improvement, message if passed else message + disabled)


def _weights(weights: Mapping[str, float], what: str) -> dict[str, float]:
    if not isinstance(weights, Mapping):
        raise InvalidInputError(
            f"{what} must be a mapping of model name to weight (got {type(weights).__name__})"
        )
    return {str(name): _number(value, f"{what}[{name!r}]") for name, value in weights.items()}


def _first_not_finite(weights: Mapping[str, float]) -> str | None:
    return next((name for name, value in weights.items() if not math.isfinite(value)), None)


def check_weight_sum(weights: Mapping[str, float]) -> CheckResult:
    """Check that the ensemble weights sum to 1 within ``WEIGHT_SUM_TOLERANCE``.

    Parameters
    ----------
    weights : mapping of str to float
        Model name to weight.

    Returns
    -------
    CheckResult
        ``weight_sum``, CRITICAL; ``value`` is ``|sum - 1|``, ``threshold`` is
        ``WEIGHT_SUM_TOLERANCE``.

    Raises
    ------
    InvalidInputError
        If ``weights`` is not a mapping or a weight is not a number.
    """
    rule = _Rule("weight_sum", Severity.CRITICAL, WEIGHT_SUM_TOLERANCE)
    table = _weights(weights, "weights")
    bad = _first_not_finite(table)
    if bad is not None:
        return rule.not_finite(f"the weight of {bad!r}", table[bad])
    total = math.fsum(table.values())
    deviation = abs(total - 1.0)
    passed = deviation <= rule.threshold
    relation = "within" if passed else "exceeds"
    return rule.result(
        passed,
        deviation,
        f"{len(table)} weights sum to {total:.6f}; |sum - 1| = {deviation:.6f} "
        f"{relation} the tolerance {WEIGHT_SUM_TOLERANCE}",
    )


def check_weight_bounds(weights: Mapping[str, float]) -> CheckResult:
    """Check that every weight lies in ``[MIN_WEIGHT, MAX_WEIGHT]``.

    Parameters
    ----------
    weights : mapping of str to float
        Model name to weight.

    Returns
    -------
    CheckResult
        ``weight_bounds``, ERROR; ``value`` is the largest distance of a weight
        outside the bounds (0.0 when all are inside), ``threshold`` is 0.0. The
        message names every offending model.

    Raises
    ------
    InvalidInputError
        If ``weights`` is not a mapping or a weight is not a number.
    """
    rule = _Rule("weight_bounds", Severity.ERROR, 0.0)
    table = _weights(weights, "weights")
    bad = _first_not_finite(table)
    if bad is not None:
        return rule.not_finite(f"the weight of {bad!r}", table[bad])
    outside = {m: w for m, w in table.items() if not MIN_WEIGHT <= w <= MAX_WEIGHT}
    distance = max((max(MIN_WEIGHT - w, w - MAX_WEIGHT) for w in outside.values()), default=0.0)
    if outside:
        listed = ", ".join(f"{m}={w:.4f}" for m, w in outside.items())
        message = f"weights outside [{MIN_WEIGHT}, {MAX_WEIGHT}]: {listed}"
    else:
        message = f"all {len(table)} weights lie within [{MIN_WEIGHT}, {MAX_WEIGHT}]"
    return rule.result(not outside, distance, message)


def check_max_weight_change(before: Mapping[str, float], after: Mapping[str, float]) -> CheckResult:
    """Check that no weight moves by more than ``MAX_WEIGHT_CHANGE`` of its current value.

    Parameters
    ----------
    before, after : mapping of str to float
        Current and proposed weights of the same models.

    Returns
    -------
    CheckResult
        ``max_weight_change``, ERROR; ``value`` is ``max |after/before - 1|``,
        ``threshold`` is ``MAX_WEIGHT_CHANGE`` (compared with 1e-12 of slack
        for float rounding). A current weight <= 0 fails: its relative change
        is undefined.

    Raises
    ------
    InvalidInputError
        If the two mappings name different models, or a weight is not a number.
    """
    rule = _Rule("max_weight_change", Severity.ERROR, MAX_WEIGHT_CHANGE)
    threshold = MAX_WEIGHT_CHANGE
    old = _weights(before, "before")
    new = _weights(after, "after")
    if set(old) != set(new):
        raise InvalidInputError(
            f"before and after must name the same models (got {sorted(old)} and {sorted(new)})"
        )
    for what, table in (("before", old), ("after", new)):
        bad = _first_not_finite(table)
        if bad is not None:
            return rule.not_finite(f"the {what} weight of {bad!r}", table[bad])
    not_positive = [m for m, w in old.items() if w <= 0]
    if not_positive:
        return rule.fail(
            math.inf,
            f"current weight of {not_positive[0]!r} is {old[not_positive[0]]!r}, "
            f"so its relative change is undefined",
        )
    change = {m: new[m] / old[m] - 1.0 for m in old}
    too_far = {m: c for m, c in change.items() if abs(c) > threshold + _ROUNDING_SLACK}
    largest = max((abs(c) for c in change.values()), default=0.0)
    if too_far:
        listed = ", ".join(
            f"{m} {c:+.1%} ({old[m]:.4f} → {new[m]:.4f})" for m, c in too_far.items()
        )
        message = f"weight changes beyond ±{threshold:.0%}: {listed}"
    else:
        message = f"largest weight change {largest:.1%} is within ±{threshold:.0%}"
    return rule.result(not too_far, largest, message)


def check_outcome_diversity(n_wins: float, n_losses: float, n_trades: float) -> CheckResult:
    """Check that wins and losses each make up at least ``MIN_OUTCOME_DIVERSITY`` of the trades.

    Parameters
    ----------
    n_wins, n_losses : float
        Winning and losing trades (neutral trades are neither).
    n_trades : float
        All trades, ``>= n_wins + n_losses``.

    Returns
    -------
    CheckResult
        ``outcome_diversity``, CRITICAL; ``value`` is
        ``min(n_wins, n_losses) / n_trades`` (0.0 without trades),
        ``threshold`` is ``MIN_OUTCOME_DIVERSITY``.

    Raises
    ------
    InvalidInputError
        If a count is negative or not a number, or ``n_wins + n_losses > n_trades``.
    """
    rule = _Rule("outcome_diversity", Severity.CRITICAL, MIN_OUTCOME_DIVERSITY)
    counts = {
        "n_wins": _number(n_wins, "n_wins"),
        "n_losses": _number(n_losses, "n_losses"),
        "n_trades": _number(n_trades, "n_trades"),
    }
    for what, value in counts.items():
        if not math.isfinite(value):
            return rule.not_finite(what, value)
        _non_negative(value, what)
    wins, losses, total = counts["n_wins"], counts["n_losses"], counts["n_trades"]
    if wins + losses > total:
        raise InvalidInputError(
            f"n_wins + n_losses must be <= n_trades (got {wins:g} + {losses:g} > {total:g})"
        )
    if total == 0:
        return rule.fail(0.0, "no trades, so no outcome diversity")
    # Divide rather than multiply the threshold: 15/100 rounds to exactly 0.15.
    win_share, loss_share = wins / total, losses / total
    share = min(win_share, loss_share)
    passed = share >= MIN_OUTCOME_DIVERSITY
    detail = (
        f"wins {win_share:.1%} ({wins:g}/{total:g}), losses {loss_share:.1%} ({losses:g}/{total:g})"
    )
    relation = "both at least" if passed else "the smaller is below"
    return rule.result(
        passed, share, f"{detail}; {relation} the {MIN_OUTCOME_DIVERSITY:.0%} minimum"
    )


def check_confidence_change_bound(max_abs_change: float) -> CheckResult:
    """Check that no calibrated confidence moved more than ``MAX_CONFIDENCE_CHANGE``.

    Parameters
    ----------
    max_abs_change : float
        ``max |calibrated - raw|`` over the map's points, >= 0.

    Returns
    -------
    CheckResult
        ``confidence_change_bound``, CRITICAL; ``value`` is ``max_abs_change``,
        ``threshold`` is ``MAX_CONFIDENCE_CHANGE`` (compared with 1e-12 of
        slack: ``raw + 0.15 - raw`` may round just above 0.15).

    Raises
    ------
    InvalidInputError
        If ``max_abs_change`` is negative or not a number.
    """
    rule = _Rule("confidence_change_bound", Severity.CRITICAL, MAX_CONFIDENCE_CHANGE)
    change = _number(max_abs_change, "max_abs_change")
    if not math.isfinite(change):
        return rule.not_finite("max_abs_change", change)
    _non_negative(change, "max_abs_change")
    passed = change <= MAX_CONFIDENCE_CHANGE + _ROUNDING_SLACK
    relation = "within" if passed else "beyond"
    message = f"largest confidence change {change:.4f} is {relation} ±{MAX_CONFIDENCE_CHANGE}"
    return rule.result(passed, change, message)


def check_no_degradation(
    name: str, before: float, after: float, *, higher_is_better: bool
) -> CheckResult:
    """Check that a metric is not worse with the proposal (0 % degradation allowed).

    Parameters
    ----------
    name : str
        The metric, e.g. ``"weighted-vote precision"`` or ``"BTCUSDT win rate"``.
    before, after : float
        The metric with the current and with the proposed config.
    higher_is_better : bool
        True for precision-like metrics, False for losses such as MSE.

    Returns
    -------
    CheckResult
        ``no_degradation:<name>``, ERROR; ``value`` is ``after``,
        ``threshold`` is ``before``. Equal values pass.

    Raises
    ------
    InvalidInputError
        If ``name`` is empty or a value is not a number.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"name must be a non-empty string (got {name!r})")
    old = _number(before, "before")
    new = _number(after, "after")
    rule = _Rule(f"no_degradation:{name}", Severity.ERROR, old)
    for what, value in (("before", old), ("after", new)):
        if not math.isfinite(value):
            return rule.not_finite(f"{name} {what}", value)
    passed = new >= old if higher_is_better else new <= old
    direction = "higher" if higher_is_better else "lower"
    verdict = "not worse" if passed else f"worse by {abs(new - old):.3g}; no degradation is allowed"
    message = f"{name}: {old:.4g} → {new:.4g} ({direction} is better), {verdict}"
    return rule.result(passed, new, message)


def check_min_trades(n_trades: float) -> CheckResult:
    """Check that the run uses at least ``MIN_TRADES_FOR_CALIBRATION`` trades.

    Parameters
    ----------
    n_trades : float
        Closed trades available, >= 0.

    Returns
    -------
    CheckResult
        ``min_trades``, CRITICAL; ``value`` is ``n_trades``, ``threshold`` is
        ``MIN_TRADES_FOR_CALIBRATION``.

    Raises
    ------
    InvalidInputError
        If ``n_trades`` is negative or not a number.
    """
    rule = _Rule("min_trades", Severity.CRITICAL, MIN_TRADES_FOR_CALIBRATION)
    count = _number(n_trades, "n_trades")
    if not math.isfinite(count):
        return rule.not_finite("n_trades", count)
    _non_negative(count, "n_trades")
    passed = count >= MIN_TRADES_FOR_CALIBRATION
    relation = "at least" if passed else "fewer than"
    message = f"{count:g} trades, {relation} the {MIN_TRADES_FOR_CALIBRATION} required"
    return rule.result(passed, count, message)


@attrs.frozen
class RiskScore:
    """The weighted share of failed checks, and the category it falls in.

    Attributes
    ----------
    score : float
        In ``[0, 1]``; see :func:`score_risk`.
    category : str
        ``"low"``, ``"medium"`` or ``"high"``.
    critical_failures, error_failures, warning_failures : int
        Failed checks per severity.
    total_checks : int
        All checks, passed or failed (>= 1).
    """

    score: float = attrs.field(validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)])
    category: str = attrs.field(validator=attrs.validators.in_(RISK_CATEGORIES))
    critical_failures: int = attrs.field(validator=attrs.validators.ge(0))
    error_failures: int = attrs.field(validator=attrs.validators.ge(0))
    warning_failures: int = attrs.field(validator=attrs.validators.ge(0))
    total_checks: int = attrs.field(validator=attrs.validators.ge(1))

    @property
    def blocks_deployment(self) -> bool:
        """Return True when the risk is high: deployment is blocked."""
        return self.category == "high"


def score_risk(results: Iterable[CheckResult]) -> RiskScore:
    """Score the risk of a proposal from its check results.

    Parameters
    ----------
    results : iterable of CheckResult
        Every check run on the proposal, passed or failed.

    Returns
    -------
    RiskScore
        ``score = (0.5 critical + 0.3 error + 0.1 warning failures) / total``;
        low when ``score <= 0.20``, medium when ``<= 0.40``, high above.

    Raises
    ------
    InvalidInputError
        If there are no results (the risk of nothing is meaningless) or one is
        not a CheckResult.

    Notes
    -----
    The categories are decided on integer tenths, ``5c + 3e + w`` against
    ``2 N`` and ``4 N``, so that a score of exactly 0.20 or 0.40 falls in the
    lower category without float rounding deciding it.

    Examples
    --------
    >>> ok = check_min_trades(60)
    >>> bad = check_min_trades(10)
    >>> score_risk([ok, ok, ok, bad]).score, score_risk([ok, ok, ok, bad]).category
    (0.125, 'low')
    """
    checks = tuple(results)
    if not checks:
        raise InvalidInputError("results must hold at least one check (got none)")
    for check in checks:
        if not isinstance(check, CheckResult):
            raise InvalidInputError(
                f"results must hold CheckResult values (got {type(check).__name__})"
            )
    failed = {
        severity: sum(1 for c in checks if not c.passed and c.severity is severity)
        for severity in Severity
    }
    tenths = sum(_RISK_TENTHS[severity] * count for severity, count in failed.items())
    total = len(checks)
    if tenths <= 2 * total:
        category = "low"
    elif tenths <= 4 * total:
        category = "medium"
    else:
        category = "high"
    return RiskScore(
        score=tenths / (10 * total),
        category=category,
        critical_failures=failed[Severity.CRITICAL],
        error_failures=failed[Severity.ERROR],
        warning_failures=failed[Severity.WARNING],
        total_checks=total,
    )


@attrs.frozen
class ValidationReport:
    """All check results of a proposal and their risk score; build it with :func:`summarize`.

    Attributes
    ----------
    checks : tuple of CheckResult
        In the order they were run.
    risk : RiskScore
        ``score_risk(checks)``.
    """

    checks: tuple[CheckResult, ...]
    risk: RiskScore

    @property
    def passed(self) -> bool:
        """Return True when no CRITICAL or ERROR check failed (warnings do not count)."""
        return not any(c.severity is not Severity.WARNING for c in self.failures())

    def failures(self) -> tuple[CheckResult, ...]:
        """Return the failed checks, in order."""
        return tuple(c for c in self.checks if not c.passed)


def summarize(checks: Iterable[CheckResult]) -> ValidationReport:
    """Collect check results into a report with their risk score.

    Parameters
    ----------
    checks : iterable of CheckResult
        Every check run on the proposal.

    Returns
    -------
    ValidationReport
        The checks as a tuple and ``score_risk(checks)``.

    Raises
    ------
    InvalidInputError
        If there are no checks or one is not a CheckResult.
    """
    results = tuple(checks)
    return ValidationReport(checks=results, risk=score_risk(results))
