"""The Learning Cadence gate: authorization levels, the readiness API client, the verdict."""

# Shell module: it speaks HTTP to the learning API. `authorization_levels` is
# pure arithmetic on two numbers; the API calls never raise and never wait
# much longer than their timeout, because a gate that hangs or crashes is
# worse than one that says "NOT READY" with a reason.

from __future__ import annotations

import ipaddress
import json
import math
import re
import socket
import ssl
import threading
import time
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import attrs

from calibration_core.constants import MIN_TRADES_FOR_CALIBRATION
from calibration_core.exceptions import InvalidInputError
from calibration_core.text import escape

if TYPE_CHECKING:
    from calibration_core.sources.integrity import IntegritySummary
    from calibration_core.sources.preflight import Preflight

__all__ = [
    "FALLBACK_READINESS_PATH",
    "FORBIDDEN_ACTIONS",
    "PRODUCTION_MIN_DAYS",
    "PRODUCTION_MIN_TRADES",
    "READINESS_PATH",
    "SHADOW_MIN_DAYS",
    "SHADOW_MIN_TRADES",
    "STATS_PATH",
    "TRAINING_COMPLETED_PATH",
    "ApiReadiness",
    "AuthorizationLevel",
    "Readiness",
    "assess_readiness",
    "authorization_levels",
    "get_json",
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

READINESS_PATH: Final = "/readiness/simple"
"""Path of the cadence API's readiness answer, appended to the base URL."""
FALLBACK_READINESS_PATH: Final = "/cadence/ready"
"""Path asked when `READINESS_PATH` answers 404 (the same answer, another route)."""
STATS_PATH: Final = "/readiness"
"""Path of the cadence API's whole picture; its ``stats`` are shown when it has them."""
TRAINING_COMPLETED_PATH: Final = "/training/completed"
"""Path that `notify_deployment` posts to after an approve, appended to the base URL."""
FORBIDDEN_ACTIONS: Final = frozenset({"retrain", "weights_update"})
"""Actions that must NOT be allowed for a calibration-only run (checklist 0.3)."""

_MAX_ANSWER_BYTES: Final = 64 * 1024
_MAX_HEAD_BYTES: Final = 64 * 1024  # status lines and headers, interim 1xx answers included
_MAX_LINE_BYTES: Final = 8 * 1024
_READ_CHUNK: Final = 4096
_MAX_SHOWN_CHARS: Final = 300  # of one untrusted text (the API's reason) on a terminal
_MAX_STATS: Final = 20
# Control, format (bidi overrides), surrogate, private use, unassigned, line/paragraph separators.


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
    none of `FORBIDDEN_ACTIONS` among the actions. ``api_reason`` is the
    API's own ``reason``, verbatim but escaped for a terminal; ``stats`` the
    ``stats`` of ``GET /readiness`` when the API has them; ``fell_back`` says
    that ``/readiness/simple`` was not found and ``url`` is ``/cadence/ready``.
    """

    url: str
    reachable: bool
    ready: bool
    actions: tuple[str, ...]
    reason: str
    api_reason: str | None = None
    stats: dict[str, object] | None = attrs.field(default=None, eq=False)
    fell_back: bool = False


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
    preflight: Preflight | None = None


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

# The client speaks just enough HTTP/1.1 for three GETs and one POST, on a raw
# socket, so that ONE wall-clock deadline bounds the whole exchange: name
# lookup, connect, TLS, sending, the status line, every header (interim 1xx
# answers included) and the body. http.client restarts its socket timeout on
# every byte of the status line and headers: a server that drips one byte a
# second, or sends `100 Continue` forever, held it for good.


class _NoAnswerError(Exception):
    """The exchange failed before a complete HTTP answer arrived; the message says why."""


class _DuplicateKeyError(ValueError):
    """A JSON object in the answer names the same key twice."""


def _check_timeout(timeout: float) -> None:
    if not (math.isfinite(timeout) and timeout > 0.0):
        raise InvalidInputError(f"timeout must be a finite number > 0 (got {timeout!r})")


def _remaining(deadline: float) -> float:
    """Seconds left before ``deadline``; TimeoutError when none are."""
    left = deadline - time.monotonic()
    if left <= 0.0:
        raise TimeoutError
    return left


@attrs.frozen
class _Target:
    """Where a URL points: scheme, host, port, request target and Host header."""

    scheme: str
    host: str
    port: int
    path: str
    host_header: str


def _split_url(url: str) -> _Target:
    """Split ``url`` or say, in one line, why it cannot be used."""
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):  # noqa: PLR2004 - space, DEL
        msg = f"cannot use URL {url!r}: it contains spaces or control characters"
        raise _NoAnswerError(msg)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", a port that is not a number
        msg = f"cannot use URL {url!r} ({exc})"
        raise _NoAnswerError(msg) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"cannot use URL {url!r}: expected http://host:port"
        raise _NoAnswerError(msg)
    host = parts.hostname
    port = port if port is not None else (443 if parts.scheme == "https" else 80)
    shown = f"[{host}]" if ":" in host else host
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(parts.scheme, host, port, path, f"{shown}:{port}")


def _resolve(host: str, port: int, deadline: float) -> list[tuple[int, Any]]:
    """Return ``(family, address)`` pairs for ``host``, bounded by ``deadline``.

    getaddrinfo has no timeout of its own, so a name (not a literal address)
    is looked up in a daemon thread that is abandoned at the deadline.
    """
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if literal.version == 6:  # noqa: PLR2004 - IPv6
            return [(socket.AF_INET6, (host, port, 0, 0))]
        return [(socket.AF_INET, (host, port))]
    found: list[tuple[int, Any]] = []
    failed: list[BaseException] = []

    def look_up() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.extend((info[0], info[4]) for info in infos)
        except (OSError, UnicodeError) as exc:
            failed.append(exc)

    worker = threading.Thread(target=look_up, name="cadence-resolve", daemon=True)
    worker.start()
    worker.join(_remaining(deadline))
    if worker.is_alive():
        raise TimeoutError
    if failed:
        raise failed[0]
    if not found:
        raise OSError(f"no address for {host}")
    return found


def _connect(target: _Target, deadline: float) -> socket.socket:
    last: OSError | None = None
    for family, address in _resolve(target.host, target.port, deadline):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect(address)
        except TimeoutError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            last = exc
            continue
        if target.scheme == "https":
            return _wrap_tls(sock, target.host, deadline)
        return sock
    raise last if last is not None else OSError(f"no address for {target.host}")


def _wrap_tls(sock: socket.socket, host: str, deadline: float) -> socket.socket:
    try:
        tls = ssl.create_default_context().wrap_socket(
            sock, server_hostname=host, do_handshake_on_connect=False
        )
        tls.settimeout(_remaining(deadline))
        tls.do_handshake()  # one timeout for the whole handshake (CPython keeps a deadline)
    except BaseException:
        sock.close()
        raise
    return tls


class _Reader:
    """Buffered reads from ``sock``; every wait gets only what is left of the deadline."""

    def __init__(self, sock: socket.socket, deadline: float, url: str) -> None:
        self._sock = sock
        self._deadline = deadline
        self._url = url
        self._buffer = bytearray()
        self._eof = False

    def _fill(self) -> None:
        if self._eof:
            msg = f"malformed HTTP answer from {self._url} (the connection closed mid-answer)"
            raise _NoAnswerError(msg)
        self._sock.settimeout(_remaining(self._deadline))
        chunk = self._sock.recv(_READ_CHUNK)
        if chunk:
            self._buffer += chunk
        else:
            self._eof = True

    def readline(self) -> bytes:
        """Return one line, its end included; a line over ``_MAX_LINE_BYTES`` is refused."""
        while True:
            end = self._buffer.find(b"\n", 0, _MAX_LINE_BYTES)
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) >= _MAX_LINE_BYTES:
                msg = (
                    f"malformed HTTP answer from {self._url} (a line over {_MAX_LINE_BYTES} bytes)"
                )
                raise _NoAnswerError(msg)
            self._fill()

    def read_exact(self, size: int) -> bytes:
        """Return exactly ``size`` bytes."""
        while len(self._buffer) < size:
            self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read_to_end(self, limit: int) -> bytes:
        """Return everything until the server closes; more than ``limit`` bytes is refused."""
        while not self._eof:
            if len(self._buffer) > limit:
                break
            self._sock.settimeout(_remaining(self._deadline))
            chunk = self._sock.recv(_READ_CHUNK)
            if chunk:
                self._buffer += chunk
            else:
                self._eof = True
        if len(self._buffer) > limit:
            raise _NoAnswerError(_too_large(self._url))
        return bytes(self._buffer)


def _too_large(url: str) -> str:
    return f"answer from {url} is larger than {_MAX_ANSWER_BYTES} bytes"


_STATUS_LINE: Final = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?\r?\n")


def _read_head(reader: _Reader, url: str) -> tuple[int, dict[bytes, bytes]]:
    """Read status lines and headers up to the final answer; skip interim 1xx answers."""
    head_bytes = 0

    def line() -> bytes:
        nonlocal head_bytes
        text = reader.readline()
        head_bytes += len(text)
        if head_bytes > _MAX_HEAD_BYTES:
            msg = (
                f"malformed HTTP answer from {url} (over {_MAX_HEAD_BYTES} bytes of "
                "status lines and headers)"
            )
            raise _NoAnswerError(msg)
        return text

    while True:
        status_line = line()
        match = _STATUS_LINE.fullmatch(status_line)
        if match is None:
            msg = f"malformed HTTP answer from {url} (status line {status_line[:60]!r})"
            raise _NoAnswerError(msg)
        status = int(match.group(1))
        headers: dict[bytes, bytes] = {}
        while (header := line()) not in (b"\r\n", b"\n"):
            name, colon, value = header.partition(b":")
            if not colon or not name.strip():
                msg = f"malformed HTTP answer from {url} (header line {header[:60]!r})"
                raise _NoAnswerError(msg)
            headers[name.strip().lower()] = value.strip()
        if status >= 200 or status == 101:  # noqa: PLR2004 - final answer; 101 is never asked for
            return status, headers


def _read_chunked(reader: _Reader, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        size_line = reader.readline().split(b";", 1)[0].strip()
        try:
            length = int(size_line, 16)
        except ValueError:
            msg = f"malformed HTTP answer from {url} (chunk size {size_line[:20]!r})"
            raise _NoAnswerError(msg) from None
        if length < 0:
            msg = f"malformed HTTP answer from {url} (chunk size {size_line[:20]!r})"
            raise _NoAnswerError(msg)
        if length == 0:
            trailer_bytes = 0
            while (trailer := reader.readline()) not in (b"\r\n", b"\n"):
                trailer_bytes += len(trailer)
                if trailer_bytes > _MAX_HEAD_BYTES:
                    raise _NoAnswerError(_too_large(url))
            return b"".join(chunks)
        size += length
        if size > _MAX_ANSWER_BYTES:
            raise _NoAnswerError(_too_large(url))
        chunks.append(reader.read_exact(length))
        reader.readline()  # the CRLF after the chunk


def _read_answer(reader: _Reader, url: str) -> tuple[int, bytes]:
    status, headers = _read_head(reader, url)
    if status in (101, 204, 304):
        return status, b""
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        return status, _read_chunked(reader, url)
    length_text = headers.get(b"content-length")
    if length_text is None:
        return status, reader.read_to_end(_MAX_ANSWER_BYTES)
    if not length_text.isdigit():
        msg = f"malformed HTTP answer from {url} (Content-Length {length_text[:20]!r})"
        raise _NoAnswerError(msg)
    length = int(length_text[:12])  # more than 12 digits is too large anyway
    if len(length_text) > 12 or length > _MAX_ANSWER_BYTES:  # noqa: PLR2004 - see above
        raise _NoAnswerError(_too_large(url))
    return status, reader.read_exact(length)


def _request_bytes(method: str, target: _Target, body: bytes | None) -> bytes:
    lines = [
        f"{method} {target.path} HTTP/1.1",
        f"Host: {target.host_header}",
        "User-Agent: calibration_core",
        "Accept: application/json",
        "Connection: close",
    ]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + (body or b"")


def _exchange(
    method: str, url: str, body: bytes | None, *, deadline: float, timeout: float
) -> tuple[int, bytes]:
    """Send one request and read the whole answer by ``deadline``; return ``(status, body)``.

    ``timeout`` is only named in the failure message. Every step, from the name
    lookup to the last body byte, waits at most what is left until ``deadline``.

    Raises
    ------
    _NoAnswerError
        With a one-line reason, for any failure before the answer is complete.
    """
    target = _split_url(url)
    try:
        sock = _connect(target, deadline)
        try:
            sock.settimeout(_remaining(deadline))
            sock.sendall(_request_bytes(method, target, body))
            return _read_answer(_Reader(sock, deadline, url), url)
        finally:
            sock.close()
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError; UnicodeError a ValueError
        raise _NoAnswerError(_failure_reason(exc, url, timeout)) from None


def _failure_reason(exc: Exception, url: str, timeout: float) -> str:
    """Say in words why an exchange with ``url`` failed."""
    if isinstance(exc, TimeoutError):
        return f"no answer from {url} within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot reach {url} (connection refused)"
    if isinstance(exc, OSError):
        return f"cannot reach {url} ({_one_line(exc.strerror or str(exc))})"
    return f"cannot use URL {url!r} ({_one_line(str(exc))})"  # e.g. a host name IDNA refuses


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


# --------------------------------------------------------------------------- answers


def _one_line(text: str) -> str:
    return escape(text, limit=_MAX_SHOWN_CHARS)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _decode(body: bytes, who: str = "cadence API") -> tuple[object, str | None]:
    """Decode a JSON answer; return ``(value, None)`` or ``(None, why it is unusable)``."""
    try:
        return json.loads(body, object_pairs_hook=_unique_keys), None
    except _DuplicateKeyError as exc:
        return None, f"{who} answer names the key {_one_line(str(exc.args[0]))!r} twice"
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, not UTF-8, huge ints, nesting
        return None, f"{who} answered invalid JSON ({_one_line(str(exc))})"


def get_json(url: str, *, timeout: float) -> tuple[object, str | None]:
    """GET ``url`` and decode its JSON answer, within one wall-clock ``timeout``.

    Parameters
    ----------
    url : str
        Full ``http(s)://host:port/path`` URL.
    timeout : float
        Seconds for the whole exchange, connect to last byte.

    Returns
    -------
    value : object
        The decoded answer, or None when there is none.
    problem : str or None
        None on HTTP 200 with valid JSON (no key named twice in any object);
        otherwise one line saying what went wrong, naming the URL.

    Raises
    ------
    InvalidInputError
        Only if ``timeout`` is not a finite positive number.
    """
    _check_timeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        status, body = _exchange("GET", url, None, deadline=deadline, timeout=timeout)
    except _NoAnswerError as exc:
        return None, str(exc)
    if status != 200:  # noqa: PLR2004 - HTTP OK
        return None, f"{url} answered {_http_failure(status, body)}"
    return _decode(body, who=url)


def _judge_answer(answer: object) -> tuple[bool, tuple[str, ...], str, str | None]:
    """Turn a decoded readiness answer into ``(ready, actions, reason, the API's reason)``."""
    if type(answer) is not dict:
        return False, (), "cadence API answer is not a JSON object", None
    said = answer.get("reason")
    api_reason = _one_line(said) if isinstance(said, str) else None
    ready = answer.get("ready")
    actions = answer.get("actions")
    if type(ready) is not bool:
        return False, (), "cadence API answer has no boolean 'ready'", api_reason
    if type(actions) is not list or not all(type(a) is str for a in actions):
        return False, (), "cadence API answer has no list of strings 'actions'", api_reason
    allowed = tuple(_one_line(a) for a in actions)
    forbidden = sorted(FORBIDDEN_ACTIONS.intersection(allowed))
    says = f": {api_reason}" if api_reason else ""
    if not ready:
        reason = f"cadence API says not ready{says} (actions: {list(allowed)})"
    elif "calibration" not in allowed:
        reason = f"cadence API does not allow calibration{says} (actions: {list(allowed)})"
    elif forbidden:
        pronoun = "it" if len(forbidden) == 1 else "them"
        reason = (
            f"cadence allows {' and '.join(forbidden)}; "
            f"calibration-only policy requires {pronoun} absent"
            + (f" (API: {api_reason})" if api_reason else "")
        )
    else:
        return True, allowed, f"cadence API ready{says} (actions: {list(allowed)})", api_reason
    return False, allowed, reason, api_reason


def _http_failure(status: int, body: bytes) -> str:
    """Say what a non-2xx answer was, with FastAPI's ``detail`` when it gives one."""
    answer, _ = _decode(body)
    detail = answer.get("detail") if isinstance(answer, dict) else None
    if isinstance(detail, str) and detail:
        return f"HTTP {status}: {_one_line(detail)}"
    return f"HTTP {status}"


def _fetch_stats(base_url: str, deadline: float, timeout: float) -> dict[str, object] | None:
    """Return the ``stats`` of ``GET /readiness`` when the API has them, else None."""
    url = _url(base_url, STATS_PATH)
    try:
        status, body = _exchange("GET", url, None, deadline=deadline, timeout=timeout)
    except _NoAnswerError:
        return None
    answer, _ = _decode(body) if status == 200 else (None, None)  # noqa: PLR2004 - HTTP OK
    stats = answer.get("stats") if isinstance(answer, dict) else None
    if not isinstance(stats, dict):
        return None
    shown: dict[str, object] = {}
    for key, value in list(stats.items())[:_MAX_STATS]:
        if value is None or isinstance(value, bool | int | float):
            shown[escape(key, limit=40)] = value
        elif isinstance(value, str):
            shown[escape(key, limit=40)] = escape(value, limit=80)
    return shown


def query_readiness_api(base_url: str, *, timeout: float = 2.0) -> ApiReadiness:
    """Ask the Learning Cadence API whether calibration may run (checklist 0.3).

    Parameters
    ----------
    base_url : str
        ``http://host:port`` of the learning API, e.g. ``http://127.0.0.1:8003``.
    timeout : float, optional
        Seconds for the whole conversation: one wall-clock deadline covers
        every request below, from connecting to the last byte.

    Returns
    -------
    ApiReadiness
        Asks ``GET /readiness/simple``, and ``GET /cadence/ready`` when that
        answers 404. Ready only for HTTP 200 with ``{"ready": true, "actions":
        [...]}`` where the actions include ``"calibration"`` and none of
        `FORBIDDEN_ACTIONS`. Every other outcome (unreachable, timeout,
        non-200, bad JSON, a key named twice, wrong types) is "not ready" with
        the reason. The API's own ``reason`` is kept verbatim (escaped for a
        terminal), and the ``stats`` of ``GET /readiness`` when time is left
        and the API has them.

    Raises
    ------
    InvalidInputError
        Only if ``timeout`` is not a finite positive number; nothing the API
        does or fails to do raises.
    """
    _check_timeout(timeout)
    deadline = time.monotonic() + timeout
    url = _url(base_url, READINESS_PATH)
    fell_back = False
    try:
        status, body = _exchange("GET", url, None, deadline=deadline, timeout=timeout)
        if status == 404:  # noqa: PLR2004 - not found: the API's other readiness path
            url, fell_back = _url(base_url, FALLBACK_READINESS_PATH), True
            status, body = _exchange("GET", url, None, deadline=deadline, timeout=timeout)
    except _NoAnswerError as exc:
        return ApiReadiness(
            url, reachable=False, ready=False, actions=(), reason=str(exc), fell_back=fell_back
        )
    if status != 200:  # noqa: PLR2004 - HTTP OK
        reason = f"cadence API answered {_http_failure(status, body)} at {url}"
        return ApiReadiness(
            url, reachable=True, ready=False, actions=(), reason=reason, fell_back=fell_back
        )
    answer, problem = _decode(body)
    if problem is not None:
        return ApiReadiness(
            url, reachable=True, ready=False, actions=(), reason=problem, fell_back=fell_back
        )
    ready, actions, reason, api_reason = _judge_answer(answer)
    return ApiReadiness(
        url,
        reachable=True,
        ready=ready,
        actions=actions,
        reason=reason,
        api_reason=api_reason,
        stats=_fetch_stats(base_url, deadline, timeout),
        fell_back=fell_back,
    )


def notify_deployment(base_url: str, version: str, *, timeout: float = 2.0) -> tuple[bool, str]:
    """Tell the learning API that a calibration was applied; best effort.

    Posts ``{"action": "calibration", "notes": version}`` to
    ``<base_url>/training/completed``.

    Parameters
    ----------
    base_url : str
        ``http://host:port`` of the learning API.
    version : str
        The version that went live.
    timeout : float, optional
        Seconds for the whole exchange, connect to last byte.

    Returns
    -------
    ok : bool
        Whether the API answered with a 2xx status.
    reason : str
        What happened, one line naming the URL, for the log and the audit trail.

    Raises
    ------
    InvalidInputError
        Only if ``timeout`` is not a finite positive number.
    """
    _check_timeout(timeout)
    deadline = time.monotonic() + timeout
    url = _url(base_url, TRAINING_COMPLETED_PATH)
    body = json.dumps({"action": "calibration", "notes": version}).encode("utf-8")
    try:
        status, answer = _exchange("POST", url, body, deadline=deadline, timeout=timeout)
    except _NoAnswerError as exc:
        return False, f"calibration notice not delivered to {url}: {exc}"
    if 200 <= status < 300:  # noqa: PLR2004 - the 2xx range
        return True, f"calibration notice recorded by {url} (HTTP {status})"
    return False, f"calibration notice refused by {url} ({_http_failure(status, answer)})"


# --------------------------------------------------------------------------- verdict


def assess_readiness(
    summary: IntegritySummary,
    *,
    api_url: str | None,
    timeout: float = 2.0,
    preflight: Preflight | None = None,
) -> Readiness:
    """Combine the authorization levels, data integrity, the cadence API and pre-flight.

    Parameters
    ----------
    summary : IntegritySummary
        The data-integrity summary of the trades (checklist 0.2).
    api_url : str or None
        Base URL of the learning API; None skips the API (no API configured).
    timeout : float, optional
        Seconds allowed for the whole conversation with the API.
    preflight : Preflight, optional
        The pre-flight probes' verdict (checklist 0.1); None when no probe
        file is configured. Probes that were skipped (``--force``) never
        count as passed.

    Returns
    -------
    Readiness
        ``READY`` when calibration is authorized by the trade count, the data
        integrity is ok, the API (if configured) is ready and the pre-flight
        probes (if configured) passed. ``allowed_actions`` is then
        ``("calibration",)``: calibration_core only ever calibrates, whatever
        else ``levels`` authorizes.

    Raises
    ------
    InvalidInputError
        Only if ``timeout`` is not a finite positive number.
    """
    _check_timeout(timeout)
    levels = authorization_levels(summary.n_trades, summary.span_days)
    calibration = levels[0]
    api = query_readiness_api(api_url, timeout=timeout) if api_url else None
    ready = (
        calibration.authorized
        and summary.ok
        and (api is None or api.ready)
        and (preflight is None or preflight.passed)
    )
    blocking: list[str] = [] if calibration.authorized else [calibration.reason]
    met: list[str] = [calibration.reason] if calibration.authorized else []
    if not summary.ok:
        blocking.append("data integrity: " + "; ".join(summary.problems))
    if api is not None:
        (met if api.ready else blocking).append(api.reason)
    if preflight is not None and not preflight.passed:
        blocking.append(preflight.reason)
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
        preflight=preflight,
    )
