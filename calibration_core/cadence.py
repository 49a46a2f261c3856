"""The Learning Cadence gate: authorization levels, the readiness API client, the verdict."""

# Shell module: it speaks HTTP to the learning API. `authorization_levels` is
# pure arithmetic on two numbers; the API calls never raise and never wait
# much longer than their timeout, because a gate that hangs or crashes is
# worse than one that says "NOT READY" with a reason.

from __future__ import annotations

import http.client
import json
import math
import time
from numbers import Integral, Real
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import attrs

from calibration_core.constants import MIN_TRADES_FOR_CALIBRATION
from calibration_core.exceptions import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from calibration_core.trades import IntegritySummary

__all__ = [
    "DEPLOYED_PATH",
    "FORBIDDEN_ACTIONS",
    "PRODUCTION_MIN_DAYS",
    "PRODUCTION_MIN_TRADES",
    "READINESS_PATH",
    "SHADOW_MIN_DAYS",
    "SHADOW_MIN_TRADES",
    "ApiReadiness",
    "AuthorizationLevel",
    "Readiness",
    "assess_readiness",
    "authorization_levels",
    "notify_deployment",
    "query_readiness_api",
]

SHADOW_MIN_TRADES: Final = 100
"""Fewest trades for the shadow level (offline training without production impact)."""
SHADOW_MIN_DAYS: Final = 3.0
"""Shortest time span, in days, of the trades for the shadow level."""
PRODUCTION_MIN_TRADES: Final = 500
"""Fewest trades for the production level, which always needs manual approval too."""
PRODUCTION_MIN_DAYS: Final = 14.0
"""Shortest time span, in days, of the trades for the production level."""

READINESS_PATH: Final = "/api/learning/readiness/simple"
"""Path of the cadence API's readiness answer, appended to the base URL."""
DEPLOYED_PATH: Final = "/api/learning/calibration/deployed"
"""Path that `notify_deployment` posts to, appended to the base URL."""
FORBIDDEN_ACTIONS: Final = frozenset({"retrain", "weights_update"})
"""Actions that must NOT be allowed for a calibration-only run (checklist 0.3)."""

_MAX_ANSWER_BYTES: Final = 64 * 1024
_READ_CHUNK: Final = 4096


@attrs.frozen
class AuthorizationLevel:
    """One Learning Cadence level and whether the trades authorize it."""

    name: str
    authorized: bool
    reason: str
    requires_manual_approval: bool = False


@attrs.frozen
class ApiReadiness:
    """What the cadence API said, or why it said nothing usable.

    ``reachable`` is true when an HTTP answer arrived (whatever its status);
    ``ready`` only when it was ``{"ready": true}`` with ``"calibration"`` and
    none of `FORBIDDEN_ACTIONS` among the actions.
    """

    url: str
    reachable: bool
    ready: bool
    actions: tuple[str, ...]
    reason: str


@attrs.frozen
class Readiness:
    """The combined verdict of the cadence gate, as the ``check`` job prints it."""

    ready: bool
    status: str
    reason: str
    allowed_actions: tuple[str, ...]
    levels: tuple[AuthorizationLevel, ...]
    api: ApiReadiness | None
    integrity: IntegritySummary


# --------------------------------------------------------------------------- levels


def _count_reason(n_trades: int, needed: int) -> str:
    verdict = "sufficient" if n_trades >= needed else "insufficient"
    return f"Trade count {verdict} ({n_trades}/{needed})"


def _span_reason(span_days: float, needed: float) -> str:
    verdict = "sufficient" if span_days >= needed else "insufficient"
    # Round down, so an insufficient 2.96 days never prints as "3.0/3 days".
    shown = math.floor(span_days * 10.0) / 10.0
    return f"time span {verdict} ({shown:.1f}/{needed:g} days)"


def authorization_levels(n_trades: int, span_days: float) -> tuple[AuthorizationLevel, ...]:
    """Decide the calibration, shadow and production levels from the trade count and span.

    Parameters
    ----------
    n_trades : int
        Number of closed trades, >= 0.
    span_days : float
        Days from the first to the last trade, finite and >= 0.

    Returns
    -------
    tuple of AuthorizationLevel
        ``calibration``, ``shadow`` and ``production``, in that order.

    Raises
    ------
    InvalidInputError
        If ``n_trades`` is not a non-negative integer or ``span_days`` is not a
        finite non-negative number.

    Notes
    -----
    - calibration: ``n_trades >= MIN_TRADES_FOR_CALIBRATION`` (50);
    - shadow: ``n_trades >= 100`` and ``span_days >= 3``;
    - production: ``n_trades >= 500`` and ``span_days >= 14``, and then still
      not authorized here: it needs a person's approval.

    Examples
    --------
    >>> [level.reason for level in authorization_levels(52, 1.0)][0]
    'Trade count sufficient (52/50)'
    """
    if isinstance(n_trades, bool) or not isinstance(n_trades, Integral) or n_trades < 0:
        raise InvalidInputError(f"n_trades must be an integer >= 0 (got {n_trades!r})")
    if not (isinstance(span_days, Real) and math.isfinite(span_days) and span_days >= 0.0):
        raise InvalidInputError(f"span_days must be a finite number >= 0 (got {span_days!r})")

    calibration_ok = n_trades >= MIN_TRADES_FOR_CALIBRATION
    shadow_ok = n_trades >= SHADOW_MIN_TRADES and span_days >= SHADOW_MIN_DAYS
    production_met = n_trades >= PRODUCTION_MIN_TRADES and span_days >= PRODUCTION_MIN_DAYS
    production_reason = (
        f"{_count_reason(n_trades, PRODUCTION_MIN_TRADES)}, "
        f"{_span_reason(span_days, PRODUCTION_MIN_DAYS)}; "
        + ("counts met, manual approval required" if production_met else "manual approval required")
    )
    return (
        AuthorizationLevel(
            name="calibration",
            authorized=calibration_ok,
            reason=_count_reason(n_trades, MIN_TRADES_FOR_CALIBRATION),
        ),
        AuthorizationLevel(
            name="shadow",
            authorized=shadow_ok,
            reason=f"{_count_reason(n_trades, SHADOW_MIN_TRADES)}, "
            f"{_span_reason(span_days, SHADOW_MIN_DAYS)}",
        ),
        AuthorizationLevel(
            name="production",
            authorized=False,
            reason=production_reason,
            requires_manual_approval=True,
        ),
    )


# --------------------------------------------------------------------------- HTTP


class _NoAnswerError(Exception):
    """The exchange failed before a complete HTTP answer arrived; the message says why."""


def _check_timeout(timeout: float) -> None:
    if not (math.isfinite(timeout) and timeout > 0.0):
        raise InvalidInputError(f"timeout must be a finite number > 0 (got {timeout!r})")


def _exchange(method: str, url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    """Send one request and read the whole answer; return ``(status, body)``.

    Connecting waits at most ``timeout`` seconds; after the request is sent,
    waiting for and reading the answer gets what is left of ``timeout``. A
    server that accepts and then stays silent, or trickles its body, is cut
    off at the deadline.

    Raises
    ------
    _NoAnswerError
        With the reason, for any failure before the answer is complete.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"cannot use URL {url!r}: expected http://host:port"
        raise _NoAnswerError(msg)
    deadline = time.monotonic() + timeout
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection = connection_class(parts.hostname, parts.port, timeout=timeout)
        try:
            connection.request(method, parts.path or "/", body=body, headers=headers)
            if connection.sock is not None:
                # The answer gets what is left of the budget, not a fresh timeout.
                connection.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            response = connection.getresponse()
            return response.status, _read_body(response, deadline, url)
        finally:
            connection.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _NoAnswerError(_failure_reason(exc, url, timeout)) from exc


def _read_body(response: http.client.HTTPResponse, deadline: float, url: str) -> bytes:
    """Read an answer body of at most ``_MAX_ANSWER_BYTES``, stopping at ``deadline``."""
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(_READ_CHUNK):
        size += len(chunk)
        if size > _MAX_ANSWER_BYTES:
            msg = f"answer from {url} is larger than {_MAX_ANSWER_BYTES} bytes"
            raise _NoAnswerError(msg)
        if time.monotonic() > deadline:
            raise TimeoutError
        chunks.append(chunk)
    return b"".join(chunks)


def _failure_reason(exc: Exception, url: str, timeout: float) -> str:
    """Say in words why an exchange with ``url`` failed."""
    if isinstance(exc, TimeoutError):
        return f"no answer from {url} within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot reach {url} (connection refused)"
    if isinstance(exc, OSError):
        return f"cannot reach {url} ({exc.strerror or exc})"
    if isinstance(exc, http.client.HTTPException):
        return f"malformed HTTP answer from {url} ({type(exc).__name__})"
    return f"cannot use URL {url!r} ({exc})"  # a ValueError, e.g. a port that is not a number


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _judge_answer(answer: object) -> tuple[bool, tuple[str, ...], str]:
    """Turn a decoded readiness answer into ``(ready, actions, reason)``."""
    if type(answer) is not dict:
        return False, (), "cadence API answer is not a JSON object"
    ready = answer.get("ready")
    actions = answer.get("actions")
    if type(ready) is not bool:
        return False, (), "cadence API answer has no boolean 'ready'"
    if type(actions) is not list or not all(type(a) is str for a in actions):
        return False, (), "cadence API answer has no list of strings 'actions'"
    allowed = tuple(actions)
    forbidden = sorted(FORBIDDEN_ACTIONS.intersection(allowed))
    if not ready:
        reason = f"cadence API says not ready (actions: {list(allowed)})"
    elif "calibration" not in allowed:
        reason = f"cadence API does not allow calibration (actions: {list(allowed)})"
    elif forbidden:
        pronoun = "it" if len(forbidden) == 1 else "them"
        reason = (
            f"cadence allows {' and '.join(forbidden)}; "
            f"calibration-only policy requires {pronoun} absent"
        )
    else:
        return True, allowed, f"cadence API ready (actions: {list(allowed)})"
    return False, allowed, reason


def query_readiness_api(base_url: str, *, timeout: float = 2.0) -> ApiReadiness:
    """Ask the Learning Cadence API whether calibration may run (checklist 0.3).

    Parameters
    ----------
    base_url : str
        ``http://host:port`` of the learning API, e.g. ``http://127.0.0.1:8003``.
    timeout : float, optional
        Seconds to wait for each network step and for the whole answer body.

    Returns
    -------
    ApiReadiness
        Ready only for HTTP 200 with ``{"ready": true, "actions": [...]}``
        where the actions include ``"calibration"`` and none of
        `FORBIDDEN_ACTIONS`. Every other outcome (unreachable, timeout,
        non-200, bad JSON, wrong types) is "not ready" with the reason.

    Raises
    ------
    InvalidInputError
        Only if ``timeout`` is not a finite positive number; nothing the API
        does or fails to do raises.
    """
    _check_timeout(timeout)
    url = _url(base_url, READINESS_PATH)
    try:
        status, body = _exchange("GET", url, None, timeout)
    except _NoAnswerError as exc:
        return ApiReadiness(url, reachable=False, ready=False, actions=(), reason=str(exc))
    if status != 200:  # noqa: PLR2004 - HTTP OK
        reason = f"cadence API answered HTTP {status}"
        return ApiReadiness(url, reachable=True, ready=False, actions=(), reason=reason)
    try:
        answer = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        reason = f"cadence API answered invalid JSON ({exc})"
        return ApiReadiness(url, reachable=True, ready=False, actions=(), reason=reason)
    ready, actions, reason = _judge_answer(answer)
    return ApiReadiness(url, reachable=True, ready=ready, actions=actions, reason=reason)


def notify_deployment(
    base_url: str, payload: Mapping[str, object], *, timeout: float = 2.0
) -> tuple[bool, str]:
    """Tell the learning API that a calibration config was deployed; best effort.

    Parameters
    ----------
    base_url : str
        ``http://host:port`` of the learning API.
    payload : mapping
        JSON-serialisable description of the deployment (version, job id, ...).
    timeout : float, optional
        Seconds to wait for each network step and for the whole answer body.

    Returns
    -------
    ok : bool
        Whether the API answered with a 2xx status.
    reason : str
        What happened, for the log.

    Raises
    ------
    InvalidInputError
        Only if ``timeout`` is not a finite positive number.
    """
    _check_timeout(timeout)
    url = _url(base_url, DEPLOYED_PATH)
    try:
        body = json.dumps(payload, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        return False, f"deployment notice not sent: payload is not JSON ({exc})"
    try:
        status, _ = _exchange("POST", url, body, timeout)
    except _NoAnswerError as exc:
        return False, f"deployment notice not delivered: {exc}"
    if 200 <= status < 300:  # noqa: PLR2004 - the 2xx range
        return True, f"deployment notice accepted by {url} (HTTP {status})"
    return False, f"deployment notice refused by {url} (HTTP {status})"


# --------------------------------------------------------------------------- verdict


def assess_readiness(
    summary: IntegritySummary, *, api_url: str | None, timeout: float = 2.0
) -> Readiness:
    """Combine the authorization levels, data integrity and the cadence API into one verdict.

    Parameters
    ----------
    summary : IntegritySummary
        The data-integrity summary of the trades (checklist 0.2).
    api_url : str or None
        Base URL of the learning API; None skips the API (no API configured).
    timeout : float, optional
        Seconds allowed for the API call.

    Returns
    -------
    Readiness
        ``READY`` when calibration is authorized by the trade count, the data
        integrity is ok and, if an API is configured, the API is ready.
        ``allowed_actions`` is then ``("calibration",)``: calibration_core
        only ever calibrates, whatever else ``levels`` authorizes.

    Raises
    ------
    InvalidInputError
        Only if ``timeout`` is not a finite positive number.
    """
    _check_timeout(timeout)
    levels = authorization_levels(summary.n_trades, summary.span_days)
    calibration = levels[0]
    api = query_readiness_api(api_url, timeout=timeout) if api_url else None
    ready = calibration.authorized and summary.ok and (api is None or api.ready)
    blocking: list[str] = [] if calibration.authorized else [calibration.reason]
    met: list[str] = [calibration.reason] if calibration.authorized else []
    if not summary.ok:
        blocking.append("data integrity: " + "; ".join(summary.problems))
    if api is not None:
        (met if api.ready else blocking).append(api.reason)
    # A NOT READY reason leads with what blocks, never with a count that is sufficient.
    parts = blocking + met
    return Readiness(
        ready=ready,
        status="READY" if ready else "NOT READY",
        reason="; ".join(parts),
        allowed_actions=("calibration",) if ready else (),
        levels=levels,
        api=api,
        integrity=summary,
    )
