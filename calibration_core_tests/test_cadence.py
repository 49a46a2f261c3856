"""Tests of the Learning Cadence gate against real HTTP servers on 127.0.0.1.

The fake API answers as the real one does (``real_system.md`` §5): readiness on
``/readiness/simple`` and ``/cadence/ready``, the whole picture on ``/readiness``,
``POST /training/completed`` with 400 for an unknown action. Raw-socket servers
misbehave in the ways a hostile or broken server can: drip a byte at a time,
send ``100 Continue`` forever, accept and stay silent.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from calibration_core import deploy
from calibration_core.exceptions import InvalidInputError
from calibration_core.sources.cadence import (
    FALLBACK_READINESS_PATH,
    READINESS_PATH,
    TRAINING_COMPLETED_PATH,
    assess_readiness,
    authorization_levels,
    get_json,
    notify_deployment,
    query_readiness_api,
)
from calibration_core.sources.integrity import IntegritySummary
from calibration_core_tests.deploy_helpers import make_tree, ticking_clock, version_id
from calibration_core_tests.site_helpers import fresh_trades, site_cli

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


# How long a test lets the client wait, and how much later than that it must be back.
TIMEOUT = 0.5
SLACK = 10.0  # a client that ignored the deadline would hang for good; 10 s is loaded-box room


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


NOT_READY = {"ready": False, "reason": "❌ Gate failed: Time span: 0.4/3 days", "actions": []}
READY = {
    "ready": True,
    "reason": "Batch trigger: 120/100 new trades",
    "actions": ["calibration", "shadow"],
}
PICTURE = {
    "ready": True,
    "gate_passed": True,
    "gate_reason": "✅ Gate passed",
    "trigger_fired": True,
    "trigger_type": "batch",
    "trigger_reason": "Batch trigger: 120/100 new trades",
    "allowed_actions": ["calibration", "shadow"],
    "stats": {
        "total_trades": 120,
        "new_trades": 120,
        "time_span_days": 3.4,
        "win_rate": 0.41,
        "loss_rate": 0.38,
        "last_training": None,
        "total_trainings": 0,
    },
    "checked_at": "2026-02-16T16:13:28.600591",
    "mode": "production",
}
NOT_FOUND = (404, _json({"detail": "Not Found"}))

# mode -> (status, body) of the readiness endpoints.
ANSWERS: dict[str, tuple[int, bytes]] = {
    "ready": (200, _json({"ready": True, "reason": "ok", "actions": ["calibration"]})),
    "real-ready": (200, _json(READY)),
    "real-not-ready": (200, _json(NOT_READY)),
    "no-reason": (200, _json({"ready": False, "actions": []})),
    "no-calibration": (200, _json({"ready": True, "reason": "r", "actions": ["shadow"]})),
    "retrain": (200, _json({"ready": True, "reason": "r", "actions": ["calibration", "retrain"]})),
    "both": (200, _json({"ready": True, "actions": ["weights_update", "calibration", "retrain"]})),
    "duplicate": (
        200,
        b'{"ready": false, "reason": "gate failed", "actions": ["calibration"], "ready": true}',
    ),
    "nested-duplicate": (
        200,
        b'{"ready": true, "actions": ["calibration"], "x": {"a": 1, "a": 2}}',
    ),
    "hostile-reason": (
        200,
        _json({"ready": False, "reason": "ok\n✅ READY\x1b[2J\u202egnp.exe\x9b", "actions": []}),
    ),
    "long-reason": (200, _json({"ready": False, "reason": "x" * 5000, "actions": []})),
    "bad-json": (200, b"{ready: yes"),
    "not-utf8": (200, b"\xff\xfe\x00"),
    "deep": (200, b"[" * 60000),
    "huge-int": (200, b'{"ready": true, "actions": ["calibration"], "n": ' + b"9" * 5000 + b"}"),
    "array": (200, _json(["calibration"])),
    "ready-string": (200, _json({"ready": "true", "actions": ["calibration"]})),
    "no-actions": (200, _json({"ready": True})),
    "actions-string": (200, _json({"ready": True, "actions": "calibration"})),
    "actions-numbers": (200, _json({"ready": True, "actions": [1]})),
    "error": (500, b"Internal Server Error"),
    "huge": (200, b" " * (70 * 1024)),
    "missing": NOT_FOUND,
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.release = threading.Event()  # set when the test ends: stalled handlers return
        self.posts: list[tuple[str, str, bytes]] = []
        self.gets: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    """The learning API as real_system.md §5 shows it; the first path segment picks a mode."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Keep the test output quiet."""

    def _answer(self, status: int, body: bytes, *, chunked: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 7):
                piece = body[start : start + 7]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.close_connection = True

    def _stall_or_trickle(self, mode: str) -> bool:
        """Misbehave as ``mode`` says; return whether the request was handled."""
        if mode == "silent":
            self.server.release.wait(30)  # accept the request, never answer, until the test ends
            return True
        if mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                while not self.server.release.wait(0.02):
                    self.wfile.write(b" ")
                    self.wfile.flush()
            except OSError:
                pass  # the client gave up, as it should
            return True
        return False

    def do_GET(self) -> None:
        """Answer readiness as the mode says; ``/readiness`` only in the ``real-*`` modes."""
        mode, _, rest = self.path.lstrip("/").partition("/")
        path = "/" + rest
        self.server.gets.append(path)
        if self._stall_or_trickle(mode):
            return
        if mode.startswith("old-"):  # an API without /readiness/simple: only /cadence/ready
            if path == FALLBACK_READINESS_PATH:
                self._answer(*ANSWERS[mode.removeprefix("old-")])
            else:
                self._answer(*NOT_FOUND)
            return
        if path == "/readiness" and mode.startswith("real-"):
            self._answer(200, _json(PICTURE))
        elif path == READINESS_PATH and mode.startswith("chunked-"):
            self._answer(*ANSWERS[mode.removeprefix("chunked-")], chunked=True)
        elif path == READINESS_PATH and mode in ANSWERS:
            self._answer(*ANSWERS[mode])
        else:
            self._answer(*NOT_FOUND)

    def do_POST(self) -> None:
        """``/training/completed``: 200 recorded, 400 for an unknown action, 500 in mode error."""
        mode, _, rest = self.path.lstrip("/").partition("/")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append(("/" + rest, self.headers.get("Content-Type", ""), body))
        if self._stall_or_trickle(mode):
            return
        if mode == "error":
            self._answer(500, b"Internal Server Error")
            return
        if "/" + rest != TRAINING_COMPLETED_PATH:
            self._answer(*NOT_FOUND)
            return
        action = json.loads(body).get("action")
        if mode == "strict" or action not in {"calibration", "shadow", "promotion"}:
            self._answer(400, _json({"detail": f"Unknown action: {action}"}))
            return
        answer = {"status": "recorded", "action": action, "timestamp": "2026-02-16T16:13:28"}
        self._answer(200, _json(answer))


class Api:
    """A running fake learning API; ``url(mode)`` is a base URL that behaves as ``mode``."""

    def __init__(self, server: _Server) -> None:
        self.server = server

    def url(self, mode: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/{mode}"

    @property
    def posts(self) -> list[tuple[str, str, bytes]]:
        return self.server.posts


@pytest.fixture
def api() -> Iterator[Api]:
    """Run a fake learning API in a thread for one test."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield Api(server)
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """Yield a base URL whose socket queues connections and never accepts or answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"


# --------------------------------------------------------------------------- raw servers


def _drip(data: bytes, interval: float) -> Callable[[socket.socket, threading.Event], None]:
    """Send ``data`` one byte per ``interval`` seconds, then keep dripping spaces."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        position = 0
        while not stop.wait(interval):
            conn.sendall(data[position : position + 1] if position < len(data) else b"X")
            position += 1

    return behave


def _repeat(chunk: bytes, interval: float) -> Callable[[socket.socket, threading.Event], None]:
    """Send ``chunk`` again and again, every ``interval`` seconds (0: as fast as possible)."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            conn.sendall(chunk)
            if interval:
                stop.wait(interval)

    return behave


@attrs.define
class RawServer:
    """A TCP server on 127.0.0.1 that reads the request and then runs ``behave``."""

    behave: Callable[[socket.socket, threading.Event], None]
    stop: threading.Event = attrs.field(factory=threading.Event)
    sock: socket.socket = attrs.field(factory=socket.socket)
    threads: list[threading.Thread] = attrs.field(factory=list)

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self.threads.append(accept)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            handler = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            handler.start()
            self.threads.append(handler)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request (small: one read holds it)
                self.behave(conn, self.stop)
            except OSError:
                pass  # the client hung up, as it should at its deadline

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        for thread in self.threads:
            thread.join(timeout=10)


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket, threading.Event], None]], str]]:
    """Start raw misbehaving servers for one test; call with a behaviour to get a base URL."""
    servers: list[RawServer] = []

    def start(behave: Callable[[socket.socket, threading.Event], None]) -> str:
        server = RawServer(behave)
        server.start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.close()


def summary(
    n_trades: int = 60, span_days: float = 4.0, problems: tuple[str, ...] = ()
) -> IntegritySummary:
    """Return an integrity summary with the given counts and problems."""
    return IntegritySummary(
        source="clm_trades.jsonl",
        data_hash="sha256:0",
        n_trades=n_trades,
        n_symbols=2,
        symbols=("A", "B"),
        wins=n_trades // 2,
        losses=n_trades - n_trades // 2,
        neutral=0,
        zero_pnl=0,
        win_rate=0.5,
        loss_rate=0.5,
        neutral_rate=0.0,
        first_timestamp=None,
        last_timestamp=None,
        span_days=span_days,
        problems=problems,
        warnings=(),
    )


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


class TestAuthorizationLevels:
    @pytest.mark.parametrize(
        ("n_trades", "span_days", "calibration", "shadow"),
        [
            (0, 0.0, False, False),
            (49, 30.0, False, False),
            (50, 0.0, True, False),
            (99, 3.0, True, False),
            (100, 2.99, True, False),
            (100, 3.0, True, True),
            (748, 3.2, True, True),
            (5000, 100.0, True, True),
        ],
    )
    def test_levels_follow_the_thresholds(
        self, n_trades: int, span_days: float, calibration: bool, shadow: bool
    ) -> None:
        """Calibration needs 50 trades; shadow 100 trades over 3 days; production never here."""
        levels = authorization_levels(n_trades, span_days)
        assert [level.name for level in levels] == ["calibration", "shadow", "production"]
        assert [level.authorized for level in levels] == [calibration, shadow, False]
        assert [level.requires_manual_approval for level in levels] == [False, False, True]

    def test_reasons_give_counts_against_thresholds(self) -> None:
        """Each reason states what was found and what is needed."""
        enough, few = authorization_levels(52, 1.0), authorization_levels(42, 1.0)
        assert enough[0].reason == "Trade count sufficient (52/50)"
        assert few[0].reason == "Trade count insufficient (42/50)"
        assert enough[1].reason == (
            "Trade count insufficient (52/100), time span insufficient (1.0/3 days)"
        )

    def test_production_needs_manual_approval_even_when_counts_are_met(self) -> None:
        """Production stays unauthorized with 500+ trades over 14+ days, saying why."""
        production = authorization_levels(600, 20.0)[2]
        assert not production.authorized
        assert production.requires_manual_approval
        assert production.reason == (
            "Trade count sufficient (600/500), time span sufficient (20.0/14 days); "
            "counts met, manual approval required"
        )

    def test_short_span_is_never_shown_as_enough(self) -> None:
        """2.96 days prints as 2.9, not as a misleading 3.0/3."""
        assert "time span insufficient (2.9/3 days)" in authorization_levels(120, 2.96)[1].reason

    @pytest.mark.parametrize(
        ("n_trades", "span_days", "pattern"),
        [
            (-1, 1.0, r"n_trades must be an integer >= 0 \(got -1\)"),
            (1.5, 1.0, r"n_trades must be an integer >= 0 \(got 1\.5\)"),
            (True, 1.0, r"n_trades must be an integer >= 0 \(got True\)"),
            (10, -0.5, r"span_days must be a finite number >= 0 \(got -0\.5\)"),
            (10, math.nan, r"span_days must be a finite number >= 0 \(got nan\)"),
            (10, math.inf, r"span_days must be a finite number >= 0 \(got inf\)"),
            (10, "3", r"span_days must be a finite number >= 0 \(got '3'\)"),
        ],
    )
    def test_bad_arguments_are_rejected(self, n_trades: Any, span_days: Any, pattern: str) -> None:
        """Counts and spans that cannot be right are refused with the value."""
        with pytest.raises(InvalidInputError, match=pattern):
            authorization_levels(n_trades, span_days)

    @given(
        st.integers(0, 2000),
        st.floats(0.0, 60.0),
        st.integers(0, 2000),
        st.floats(0.0, 60.0),
    )
    def test_more_data_never_revokes_a_level(
        self, n: int, span: float, extra_n: int, extra_span: float
    ) -> None:
        """More trades over a longer span authorize at least what fewer did."""
        before = authorization_levels(n, span)
        after = authorization_levels(n + extra_n, span + extra_span)
        for old, new in zip(before, after, strict=True):
            assert new.authorized or not old.authorized


class TestQueryReadinessApi:
    @pytest.mark.parametrize(
        ("mode", "ready", "actions", "reason"),
        [
            (
                "ready",
                True,
                ("calibration",),
                r"cadence API ready: ok \(actions: \['calibration'\]\)",
            ),
            (
                "real-ready",
                True,
                ("calibration", "shadow"),
                r"cadence API ready: Batch trigger: 120/100 new trades \(actions: \[.*\]\)",
            ),
            (
                "real-not-ready",
                False,
                (),
                r"cadence API says not ready: ❌ Gate failed: Time span: 0\.4/3 days \(.*\)",
            ),
            ("no-reason", False, (), r"cadence API says not ready \(actions: \[\]\)"),
            (
                "no-calibration",
                False,
                ("shadow",),
                r"cadence API does not allow calibration: r \(actions: \['shadow'\]\)",
            ),
            (
                "retrain",
                False,
                ("calibration", "retrain"),
                r"cadence allows retrain; calibration-only policy requires it absent \(API: r\)",
            ),
            (
                "both",
                False,
                ("weights_update", "calibration", "retrain"),
                r"cadence allows retrain and weights_update; .* requires them absent",
            ),
            ("duplicate", False, (), r"cadence API answer names the key 'ready' twice"),
            ("nested-duplicate", False, (), r"cadence API answer names the key 'a' twice"),
            ("bad-json", False, (), r"cadence API answered invalid JSON \(.*\)"),
            ("not-utf8", False, (), r"cadence API answered invalid JSON \(.*\)"),
            ("deep", False, (), r"cadence API answered invalid JSON \(.*\)"),
            ("huge-int", False, (), r"cadence API answered invalid JSON \(.*\)"),
            ("array", False, (), r"cadence API answer is not a JSON object"),
            ("ready-string", False, (), r"cadence API answer has no boolean 'ready'"),
            ("no-actions", False, (), r"cadence API answer has no list of strings 'actions'"),
            ("actions-string", False, (), r"cadence API answer has no list of strings 'actions'"),
            ("actions-numbers", False, (), r"cadence API answer has no list of strings 'actions'"),
        ],
    )
    def test_answers_are_judged(
        self, api: Api, mode: str, ready: bool, actions: tuple[str, ...], reason: str
    ) -> None:
        """Only 200 + ready + "calibration" without retrain/weights_update is ready."""
        result = query_readiness_api(api.url(mode), timeout=5.0)
        assert result.url == api.url(mode) + READINESS_PATH
        assert result.reachable
        assert not result.fell_back
        assert (result.ready, result.actions) == (ready, actions)
        assert re.fullmatch(reason, result.reason), result.reason

    def test_real_api_gives_its_reason_verbatim_and_its_stats(self, api: Api) -> None:
        """The API's reason is kept as it said it; /readiness adds the stats."""
        result = query_readiness_api(api.url("real-ready"), timeout=5.0)
        assert result.api_reason == "Batch trigger: 120/100 new trades"
        assert result.stats == PICTURE["stats"]
        refused = query_readiness_api(api.url("real-not-ready"), timeout=5.0)
        assert refused.api_reason == "❌ Gate failed: Time span: 0.4/3 days"
        assert refused.stats == PICTURE["stats"]

    def test_stats_are_optional(self, api: Api) -> None:
        """An API without /readiness (404) is judged on its readiness answer alone."""
        result = query_readiness_api(api.url("ready"), timeout=5.0)
        assert result.ready
        assert result.stats is None
        assert api.server.gets == [READINESS_PATH, "/readiness"]

    def test_chunked_answer_is_read(self, api: Api) -> None:
        """An answer sent with Transfer-Encoding: chunked is decoded."""
        result = query_readiness_api(api.url("chunked-real-ready"), timeout=5.0)
        assert result.ready, result.reason
        assert result.api_reason == "Batch trigger: 120/100 new trades"

    @pytest.mark.parametrize(
        ("mode", "ready", "reason"),
        [
            ("old-real-ready", True, r"cadence API ready: Batch trigger: .*"),
            ("old-real-not-ready", False, r"cadence API says not ready: ❌ Gate failed: .*"),
            ("old-duplicate", False, r"cadence API answer names the key 'ready' twice"),
            ("old-missing", False, r"cadence API answered HTTP 404: Not Found at .*/cadence/ready"),
        ],
    )
    def test_falls_back_to_cadence_ready_when_simple_is_not_found(
        self, api: Api, mode: str, ready: bool, reason: str
    ) -> None:
        """A 404 on /readiness/simple asks /cadence/ready and judges that answer."""
        result = query_readiness_api(api.url(mode), timeout=5.0)
        assert result.fell_back
        assert result.url == api.url(mode) + FALLBACK_READINESS_PATH
        assert result.ready is ready
        assert re.fullmatch(reason, result.reason), result.reason
        assert api.server.gets[:2] == [READINESS_PATH, FALLBACK_READINESS_PATH]

    def test_server_error_is_not_ready_and_not_a_fallback(self, api: Api) -> None:
        """HTTP 500 is "not ready" with the status; only a 404 falls back."""
        result = query_readiness_api(api.url("error"), timeout=5.0)
        assert (result.reachable, result.ready, result.fell_back) == (True, False, False)
        assert result.reason == f"cadence API answered HTTP 500 at {result.url}"
        assert api.server.gets == [READINESS_PATH]

    def test_reason_is_escaped_for_the_terminal(self, api: Api) -> None:
        """Newlines, ESC, C1 controls and bidi overrides in the API's reason are escaped."""
        result = query_readiness_api(api.url("hostile-reason"), timeout=5.0)
        assert result.api_reason == "ok\\n✅ READY\\x1b[2J\\u202egnp.exe\\x9b"
        for text in (result.reason, result.api_reason):
            assert not any(ch in text for ch in "\n\x1b\u202e\x9b")

    def test_long_reason_is_cut(self, api: Api) -> None:
        """A 5000-character reason is shown cut, saying how much was left out."""
        result = query_readiness_api(api.url("long-reason"), timeout=5.0)
        assert result.api_reason is not None
        assert result.api_reason.endswith("… (4700 more characters)")

    def test_trailing_slash_in_base_url_is_fine(self, api: Api) -> None:
        """A base URL ending in "/" does not double the slash."""
        assert query_readiness_api(api.url("ready") + "/", timeout=5.0).ready

    def test_oversized_answer_is_refused(self, api: Api) -> None:
        """An answer over 64 KiB is not read to the end."""
        result = query_readiness_api(api.url("huge"), timeout=5.0)
        assert not result.ready
        assert "larger than 65536 bytes" in result.reason

    def test_unreachable_port_is_not_ready(self, free_port: int) -> None:
        """Nothing listening is "not ready", with the reason."""
        result = query_readiness_api(f"http://127.0.0.1:{free_port}", timeout=5.0)
        assert (result.reachable, result.ready) == (False, False)
        assert result.reason.endswith("(connection refused)")

    def test_host_name_is_resolved(self, api: Api) -> None:
        """A host name (not a literal address) is looked up within the deadline."""
        url = api.url("ready").replace("127.0.0.1", "localhost")
        result = query_readiness_api(url, timeout=5.0)
        assert result.reachable, result.reason

    @pytest.mark.parametrize(
        ("base_url", "pattern"),
        [
            ("ftp://127.0.0.1:21", r"cannot use URL 'ftp://.*': expected http://host:port"),
            ("127.0.0.1:8003", r"cannot use URL .*: expected http://host:port"),
            ("http://127.0.0.1:port", r"cannot use URL .*\(Port could not be cast.*\)"),
            ("http://[::1", r"cannot use URL 'http://\[::1/readiness/simple' \(Invalid IPv6 URL\)"),
            ("http://[::1]:99999", r"cannot use URL .*\(Port out of range 0-65535\)"),
            ("http://127.0.0.1:8003/a b", r"cannot use URL .*: it contains spaces or control.*"),
            ("http://127.0.0.1:8003/\r\nX: y", r"cannot use URL .*: it contains spaces or .*"),
        ],
    )
    def test_unusable_url_is_not_ready(self, base_url: str, pattern: str) -> None:
        """A URL that cannot be used is "not ready" with a one-line reason, not an exception."""
        result = query_readiness_api(base_url, timeout=TIMEOUT)
        assert not result.ready
        assert re.fullmatch(pattern, result.reason), result.reason
        assert "\n" not in result.reason

    @pytest.mark.parametrize("timeout", [0.0, -1.0, math.nan, math.inf])
    def test_bad_timeout_is_rejected(self, timeout: float) -> None:
        """The timeout must be a finite positive number."""
        with pytest.raises(InvalidInputError, match="timeout must be a finite number > 0"):
            query_readiness_api("http://127.0.0.1:1", timeout=timeout)


class TestOneDeadline:
    """Issue 11 item 1: one wall-clock deadline for connect, status line, headers and body."""

    def _assert_cut_off(self, result: Any, elapsed: float, timeout: float) -> None:
        assert elapsed < timeout + SLACK
        assert not result.ready
        assert result.reason == f"no answer from {result.url} within {timeout:g} s", result.reason

    def test_server_that_drips_one_header_byte_per_second(
        self, raw_server: Callable[..., str]
    ) -> None:
        """The documented 2 s holds against a status line and headers sent a byte a second."""
        url = raw_server(_drip(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", 1.0))
        result, elapsed = _timed(lambda: query_readiness_api(url))
        self._assert_cut_off(result, elapsed, 2.0)

    def test_server_that_drips_faster_than_the_timeout(
        self, raw_server: Callable[..., str]
    ) -> None:
        """Each byte arriving well within the timeout does not restart it."""
        url = raw_server(_drip(b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 1000, 0.05))
        result, elapsed = _timed(lambda: query_readiness_api(url, timeout=TIMEOUT))
        self._assert_cut_off(result, elapsed, TIMEOUT)

    def test_endless_100_continue_lines(self, raw_server: Callable[..., str]) -> None:
        """Interim answers sent forever, slowly, end at the deadline."""
        url = raw_server(_repeat(b"HTTP/1.1 100 Continue\r\n\r\n", 0.05))
        result, elapsed = _timed(lambda: query_readiness_api(url, timeout=TIMEOUT))
        self._assert_cut_off(result, elapsed, TIMEOUT)

    def test_flood_of_100_continue_lines(self, raw_server: Callable[..., str]) -> None:
        """Interim answers sent as fast as possible are cut at 64 KiB of headers."""
        url = raw_server(_repeat(b"HTTP/1.1 100 Continue\r\n\r\n" * 100, 0.0))
        result, elapsed = _timed(lambda: query_readiness_api(url, timeout=5.0))
        assert elapsed < 5.0 + SLACK
        assert not result.ready
        assert "over 65536 bytes of status lines and headers" in result.reason

    def test_endless_header_line(self, raw_server: Callable[..., str]) -> None:
        """One header line that never ends is refused at 8 KiB."""
        head = b"HTTP/1.1 200 OK\r\nX: "
        url = raw_server(
            lambda conn, stop: (conn.sendall(head), _repeat(b"a" * 4096, 0.0)(conn, stop))
        )
        result, _ = _timed(lambda: query_readiness_api(url, timeout=5.0))
        assert re.fullmatch(
            r"malformed HTTP answer from .* \(a line over 8192 bytes\)", result.reason
        )

    def test_slow_body(self, raw_server: Callable[..., str]) -> None:
        """Headers on time, then a body a byte at a time: cut at the deadline."""
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
        url = raw_server(lambda conn, stop: (conn.sendall(head), _drip(b"{", 0.05)(conn, stop)))
        result, elapsed = _timed(lambda: query_readiness_api(url, timeout=TIMEOUT))
        self._assert_cut_off(result, elapsed, TIMEOUT)

    def test_slow_chunked_body(self, raw_server: Callable[..., str]) -> None:
        """A chunked body whose chunks never end is cut at the deadline."""
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        url = raw_server(
            lambda conn, stop: (conn.sendall(head), _repeat(b"1\r\n \r\n", 0.05)(conn, stop))
        )
        result, elapsed = _timed(lambda: query_readiness_api(url, timeout=TIMEOUT))
        self._assert_cut_off(result, elapsed, TIMEOUT)

    def test_server_that_accepts_and_never_answers(self, api: Api) -> None:
        """A server that accepts and stays silent costs about the timeout, then "not ready"."""
        result, elapsed = _timed(lambda: query_readiness_api(api.url("silent"), timeout=TIMEOUT))
        self._assert_cut_off(result, elapsed, TIMEOUT)
        assert not result.reachable

    def test_socket_that_never_accepts(self, silent_listener: str) -> None:
        """A bare listening socket that never accepts is also cut off at the timeout."""
        result, elapsed = _timed(lambda: query_readiness_api(silent_listener, timeout=TIMEOUT))
        self._assert_cut_off(result, elapsed, TIMEOUT)

    def test_trickling_answer(self, api: Api) -> None:
        """A body sent a byte at a time does not hold the caller past the deadline."""
        result, elapsed = _timed(lambda: query_readiness_api(api.url("trickle"), timeout=TIMEOUT))
        self._assert_cut_off(result, elapsed, TIMEOUT)

    def test_garbage_instead_of_http(self, raw_server: Callable[..., str]) -> None:
        """Bytes that are not HTTP are a malformed answer, named, not an exception."""
        url = raw_server(lambda conn, _stop: conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n"))
        result = query_readiness_api(url, timeout=5.0)
        assert not result.ready
        assert result.reason.startswith(f"malformed HTTP answer from {url}")

    def test_connection_closed_mid_answer(self, raw_server: Callable[..., str]) -> None:
        """A body shorter than its Content-Length is malformed, not a partial JSON guess."""
        answer = b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ready": true}'
        url = raw_server(lambda conn, _stop: conn.sendall(answer))
        result = query_readiness_api(url, timeout=5.0)
        assert not result.ready
        assert "the connection closed mid-answer" in result.reason

    def test_deadline_covers_the_fallback_and_the_stats(
        self, raw_server: Callable[..., str]
    ) -> None:
        """Three requests share one deadline: a slow server cannot triple it."""

        def slow_not_found(conn: socket.socket, stop: threading.Event) -> None:
            stop.wait(0.3)
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

        url = raw_server(slow_not_found)
        result, elapsed = _timed(lambda: query_readiness_api(url, timeout=TIMEOUT))
        assert elapsed < TIMEOUT + SLACK
        assert result.fell_back
        assert result.reason == f"no answer from {result.url} within {TIMEOUT:g} s"

    def test_notice_to_a_dripping_server_returns(self, raw_server: Callable[..., str]) -> None:
        """Approve's notice cannot hang on a server that drips its headers."""
        url = raw_server(_drip(b"HTTP/1.1 200 OK\r\n", 0.05))
        (ok, message), elapsed = _timed(lambda: notify_deployment(url, "cal_1", timeout=TIMEOUT))
        assert elapsed < TIMEOUT + SLACK
        assert not ok
        assert message == (
            f"calibration notice not delivered to {url}{TRAINING_COMPLETED_PATH}: "
            f"no answer from {url}{TRAINING_COMPLETED_PATH} within {TIMEOUT:g} s"
        )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_ANSWER = st.fixed_dictionaries(
    {},
    optional={
        "ready": st.booleans() | _JSON,
        "reason": st.text(max_size=40) | _JSON,
        "actions": st.lists(st.sampled_from(["calibration", "shadow", "retrain", "x"]), max_size=4)
        | _JSON,
    },
)
_HEADS = (
    b"",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n",
)


class TestHostileServers:
    """Whatever a server sends, the client ends in a verdict: no exception, no hang."""

    @settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(_HEADS), st.binary(max_size=600))
    def test_any_bytes_end_in_a_verdict(self, head: bytes, tail: bytes) -> None:
        """A head and random bytes, then the server closes: a one-line verdict within time."""
        server = RawServer(lambda conn, _stop: conn.sendall(head + tail))
        server.start()
        try:
            result, elapsed = _timed(lambda: query_readiness_api(server.url, timeout=2.0))
        finally:
            server.close()
        assert elapsed < 2.0 + SLACK
        assert isinstance(result.reason, str)
        assert "\n" not in result.reason
        assert not result.ready or result.actions

    @settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
    @given(_ANSWER)
    def test_any_json_answer_is_judged_by_the_rule(self, answer: dict[str, Any]) -> None:
        """READY exactly when ready is true and the actions allow calibration and nothing worse."""
        body = json.dumps(answer).encode()
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        server = RawServer(lambda conn, _stop: conn.sendall(reply))
        server.start()
        try:
            result = query_readiness_api(server.url, timeout=5.0)
        finally:
            server.close()
        actions = answer.get("actions")
        expected = (
            answer.get("ready") is True
            and isinstance(actions, list)
            and all(isinstance(a, str) for a in actions)
            and "calibration" in actions
            and not {"retrain", "weights_update"} & set(actions)
        )
        assert result.ready is expected, (answer, result.reason)


class TestGetJson:
    def test_answer_is_decoded(self, api: Api) -> None:
        """HTTP 200 with JSON gives the value and no problem."""
        value, problem = get_json(api.url("real-ready") + "/readiness", timeout=5.0)
        assert problem is None
        assert value == PICTURE

    def test_duplicate_key_is_a_problem(self, api: Api) -> None:
        """A key named twice is a problem naming the key, for any URL."""
        url = api.url("duplicate") + READINESS_PATH
        value, problem = get_json(url, timeout=5.0)
        assert value is None
        assert problem == f"{url} answer names the key 'ready' twice"

    def test_non_200_is_a_problem(self, api: Api) -> None:
        """A 404 is a problem naming the URL, with FastAPI's detail."""
        url = api.url("nothing") + "/x"
        assert get_json(url, timeout=5.0) == (None, f"{url} answered HTTP 404: Not Found")


class TestNotifyDeployment:
    def test_calibration_is_recorded(self, api: Api) -> None:
        """POST /training/completed with action calibration and the version as notes."""
        ok, reason = notify_deployment(api.url("ok"), "cal_20260216_161328", timeout=5.0)
        assert ok
        url = api.url("ok") + TRAINING_COMPLETED_PATH
        assert reason == f"calibration notice recorded by {url} (HTTP 200)"
        ((path, content_type, body),) = api.posts
        assert (path, content_type) == (TRAINING_COMPLETED_PATH, "application/json")
        assert json.loads(body) == {"action": "calibration", "notes": "cal_20260216_161328"}

    def test_400_is_reported_with_the_detail(self, api: Api) -> None:
        """The API's 400 (unknown action) is (False, reason naming the URL and the detail)."""
        ok, reason = notify_deployment(api.url("strict"), "cal_1", timeout=5.0)
        assert not ok
        url = api.url("strict") + TRAINING_COMPLETED_PATH
        assert (
            reason == f"calibration notice refused by {url} (HTTP 400: Unknown action: calibration)"
        )

    def test_500_is_reported(self, api: Api) -> None:
        """A server error is (False, reason naming the URL)."""
        ok, reason = notify_deployment(api.url("error"), "cal_1", timeout=5.0)
        assert not ok
        assert reason == (
            f"calibration notice refused by {api.url('error')}{TRAINING_COMPLETED_PATH} (HTTP 500)"
        )

    def test_unreachable_api_is_reported(self, free_port: int) -> None:
        """Nothing listening is (False, reason), not an exception."""
        ok, reason = notify_deployment(f"http://127.0.0.1:{free_port}", "cal_1", timeout=5.0)
        assert not ok
        assert reason.endswith("(connection refused)")
        assert f"127.0.0.1:{free_port}{TRAINING_COMPLETED_PATH}" in reason

    def test_silent_api_is_cut_off(self, api: Api) -> None:
        """A server that never answers costs about the timeout."""
        (ok, reason), elapsed = _timed(
            lambda: notify_deployment(api.url("silent"), "cal_1", timeout=TIMEOUT)
        )
        assert elapsed < TIMEOUT + SLACK
        assert not ok
        assert "no answer from" in reason

    def test_malformed_url_is_reported(self) -> None:
        """A malformed URL is (False, one line), not a traceback."""
        ok, reason = notify_deployment("http://[::1", "cal_1", timeout=TIMEOUT)
        assert not ok
        assert reason.endswith("(Invalid IPv6 URL)")


class TestAssessReadiness:
    def test_ready_without_api(self) -> None:
        """Enough sound data and no API configured is READY for calibration only."""
        result = assess_readiness(summary(60, 4.0), api_url=None)
        assert result.ready
        assert result.status == "READY"
        assert result.reason == "Trade count sufficient (60/50)"
        assert result.allowed_actions == ("calibration",)
        assert result.api is None
        assert [level.authorized for level in result.levels] == [True, False, False]

    def test_too_few_trades_is_not_ready(self) -> None:
        """Below 50 trades the verdict is NOT READY, with the count first."""
        result = assess_readiness(summary(42), api_url=None)
        assert (result.ready, result.status, result.allowed_actions) == (False, "NOT READY", ())
        assert result.reason.startswith("Trade count insufficient (42/50)")

    def test_integrity_problems_block(self) -> None:
        """A data-integrity problem blocks even with enough trades."""
        problem = "only 1 symbol (BTCUSDT); at least 2 are required"
        result = assess_readiness(summary(60, problems=(problem,)), api_url=None)
        assert not result.ready
        # What blocks comes first: a NOT READY reason never starts with what is sufficient.
        assert result.reason == f"data integrity: {problem}; Trade count sufficient (60/50)"

    def test_ready_api_is_required_when_configured(self, api: Api) -> None:
        """With an API configured, its readiness is part of the verdict."""
        ready = assess_readiness(summary(), api_url=api.url("ready"), timeout=5.0)
        assert ready.ready
        assert ready.api is not None
        assert ready.api.ready
        assert ready.reason.endswith("; cadence API ready: ok (actions: ['calibration'])")
        refused = assess_readiness(summary(), api_url=api.url("retrain"), timeout=5.0)
        assert not refused.ready
        assert refused.reason.startswith("cadence allows retrain")
        assert "calibration-only policy requires it absent (API: r)" in refused.reason
        assert refused.reason.endswith("; Trade count sufficient (60/50)")

    def test_unreachable_api_is_not_ready(self, free_port: int) -> None:
        """An API that cannot be reached blocks the gate."""
        result = assess_readiness(summary(), api_url=f"http://127.0.0.1:{free_port}")
        assert not result.ready
        assert result.api is not None
        assert not result.api.reachable

    def test_integrity_summary_is_kept(self) -> None:
        """The verdict carries the summary it was made from."""
        given_summary = summary()
        assert assess_readiness(given_summary, api_url=None).integrity is given_summary


@pytest.fixture(scope="module")
def trades_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a directory with fresh generated trades and an empty config directory."""
    root = tmp_path_factory.mktemp("cadence_cli")
    fresh_trades(root / "data" / "clm_trades.jsonl")
    (root / "config").mkdir()
    return root


class TestCheckCommand:
    def test_real_answer_is_shown_verbatim_with_the_stats(
        self, api: Api, trades_root: Path
    ) -> None:
        """Check prints the API's reason as it said it, and the /readiness stats."""
        proc = site_cli(trades_root, "check", "--cadence-api", api.url("real-not-ready"))
        assert proc.returncode == 1, proc.stderr
        assert "cadence API says not ready: ❌ Gate failed: Time span: 0.4/3 days" in proc.stdout
        assert (
            "stats: total_trades=120, new_trades=120, time_span_days=3.4, win_rate=0.41, "
            "loss_rate=0.38, last_training=None, total_trainings=0"
        ) in proc.stdout
        assert "❌ CALIBRATION NOT AUTHORIZED" in proc.stdout

    def test_json_carries_the_reason_stats_and_fallback(self, api: Api, trades_root: Path) -> None:
        """Check --json has the API's own reason, its stats and whether it fell back."""
        proc = site_cli(trades_root, "check", "--json", "--cadence-api", api.url("old-real-ready"))
        payload = json.loads(proc.stdout)
        answer = payload["readiness"]["api"]
        assert answer["api_reason"] == "Batch trigger: 120/100 new trades"
        assert answer["fell_back"] is True
        assert answer["url"].endswith(FALLBACK_READINESS_PATH)
        assert answer["stats"] is None  # the old API has no /readiness
        assert answer["ready"] is True

    def test_ready_api_with_sound_data_authorizes(self, api: Api, trades_root: Path) -> None:
        """A ready API allowing calibration keeps check READY (exit 0)."""
        proc = site_cli(trades_root, "check", "--cadence-api", api.url("real-ready"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "cadence API ready: Batch trigger: 120/100 new trades" in proc.stdout

    @pytest.mark.parametrize("mode", ["error", "duplicate", "silent"])
    def test_unusable_answers_are_not_ready(self, api: Api, trades_root: Path, mode: str) -> None:
        """500, a duplicated key or no answer: NOT READY, exit 1, no traceback."""
        proc = site_cli(trades_root, "check", "--cadence-api", api.url(mode))
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "❌ CALIBRATION NOT AUTHORIZED" in proc.stdout

    def test_hostile_reason_cannot_forge_lines(self, api: Api, trades_root: Path) -> None:
        """A reason with a newline and ESC stays on its line, escaped."""
        proc = site_cli(trades_root, "check", "--cadence-api", api.url("hostile-reason"))
        assert "\x1b" not in proc.stdout
        assert "\u202e" not in proc.stdout
        assert not any(line.startswith("✅ READY") for line in proc.stdout.splitlines())
        assert "ok\\n✅ READY\\x1b[2J" in proc.stdout

    def test_malformed_url_is_one_line_not_a_traceback(self, trades_root: Path) -> None:
        """--cadence-api http://[::1 is NOT READY with one line naming the URL."""
        proc = site_cli(trades_root, "check", "--cadence-api", "http://[::1")
        assert proc.returncode == 1
        # stderr holds only the paths the job uses (cli prints them): no traceback, no error.
        assert "Traceback" not in proc.stderr
        assert not [line for line in proc.stderr.splitlines() if line.startswith("error")]
        assert "cannot use URL 'http://[::1/readiness/simple' (Invalid IPv6 URL)" in proc.stdout

    def test_run_reports_the_answer_and_the_stats(
        self, api: Api, trades_root: Path, tmp_path: Path
    ) -> None:
        """A run past a ready API keeps its reason and stats in the report and its export."""
        reports = tmp_path / "reports"
        proc = site_cli(
            trades_root,
            "run",
            "--cadence-api",
            api.url("real-ready"),
            CALIBRATION_REPORT_DIR=str(reports),
        )
        assert proc.returncode in {0, 1}, proc.stdout + proc.stderr
        (record,) = [json.loads(p.read_text()) for p in (reports / "jobs").glob("cal_*")]
        markdown = Path(record["report_markdown"]).read_text()
        assert "cadence API ready: Batch trigger: 120/100 new trades" in markdown
        assert "- Cadence stats (GET /readiness): total_trades=120, new_trades=120" in markdown
        export = json.loads(Path(record["report_json"]).read_text())
        assert export["authorization"]["api"]["stats"] == PICTURE["stats"]
        assert export["authorization"]["api"]["api_reason"] == READY["reason"]

    def test_run_is_refused_by_a_not_ready_api(self, api: Api, trades_root: Path) -> None:
        """Run applies the same gate: exit 4 with the API's reason, no job."""
        proc = site_cli(trades_root, "run", "--cadence-api", api.url("real-not-ready"))
        assert proc.returncode == 4, proc.stdout + proc.stderr
        assert "❌ Gate failed: Time span: 0.4/3 days" in proc.stderr
        assert not (trades_root / "reports" / "jobs").exists() or not list(
            (trades_root / "reports" / "jobs").glob("cal_*.json")
        )


A = version_id(0)


class TestApproveNotice:
    def _approve(self, root: Path, base_url: str) -> deploy.DeployResult:
        tree = make_tree(root)
        tree.add_job(A)
        paths = attrs.evolve(tree.paths, cadence_api=base_url)
        result = deploy.approve(paths, A, approved_by="bob", now=ticking_clock())
        assert tree.live_version() == A
        return result

    def test_delivered_notice_is_audited(self, api: Api, tmp_path: Path) -> None:
        """After the deploy, POST /training/completed; the audit trail says it was delivered."""
        result = self._approve(tmp_path, api.url("ok"))
        assert result.cadence is not None
        assert result.cadence[0] is True
        ((path, _, body),) = api.posts
        assert path == TRAINING_COMPLETED_PATH
        assert json.loads(body) == {"action": "calibration", "notes": A}
        tree = make_tree(tmp_path)
        deployed, notice = tree.audit()[-2:]
        assert deployed["event"] == "deploy"
        assert notice == {
            "event": "cadence_notice",
            "version": A,
            "delivered": True,
            "message": result.cadence[1],
            "at": deployed["at"],
        }
        tree.assert_consistent()

    @pytest.mark.parametrize(
        ("mode", "expected"),
        [
            ("strict", "(HTTP 400: Unknown action: calibration)"),
            ("error", "(HTTP 500)"),
            ("silent", "within 2 s"),
        ],
    )
    def test_failed_notice_never_undoes_the_deploy(
        self, api: Api, tmp_path: Path, mode: str, expected: str
    ) -> None:
        """A refused or unanswered notice is a warning naming the URL; the config stays live."""
        result = self._approve(tmp_path, api.url(mode))
        assert result.cadence is not None
        ok, message = result.cadence
        assert not ok
        assert f"{api.url(mode)}{TRAINING_COMPLETED_PATH}" in message
        assert expected in message
        notice = make_tree(tmp_path).audit()[-1]
        assert (notice["event"], notice["delivered"], notice["message"]) == (
            "cadence_notice",
            False,
            message,
        )

    def test_cli_approve_warns_and_succeeds(self, api: Api, tmp_path: Path) -> None:
        """Approve exits 0, prints a ⚠️ line naming the URL; status and history still work."""
        tree = make_tree(tmp_path)
        tree.add_job(A)
        env = tree.env(LEARNING_CADENCE_API=api.url("strict"))
        proc = tree.run_cli("approve", A, "--yes", env=env)
        assert proc.returncode == 0, proc.stderr
        url = f"{api.url('strict')}{TRAINING_COMPLETED_PATH}"
        assert f"⚠️  cadence: NOT notified (calibration notice refused by {url}" in proc.stdout
        assert tree.live_version() == A
        history = tree.run_cli("history", "--json", env=env)
        assert history.returncode == 0, history.stderr
        events = json.loads(history.stdout)["events"]
        assert [e["event"] for e in events] == ["deploy", "cadence_notice"]
        assert events[-1]["delivered"] is False
        status = tree.run_cli("status", env=env)
        assert status.returncode == 0, status.stderr
        assert f"live version:  {A}" in status.stdout

    def test_cli_approve_with_a_malformed_url(self, tmp_path: Path) -> None:
        """A malformed API URL is a one-line warning after a successful deploy."""
        tree = make_tree(tmp_path)
        tree.add_job(A)
        proc = tree.run_cli("approve", A, "--yes", env=tree.env(LEARNING_CADENCE_API="http://[::1"))
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "(Invalid IPv6 URL)" in proc.stdout
        assert tree.live_version() == A
