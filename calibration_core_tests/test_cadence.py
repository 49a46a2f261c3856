"""Tests of the Learning Cadence gate against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibration_core.cadence import (
    DEPLOYED_PATH,
    READINESS_PATH,
    assess_readiness,
    authorization_levels,
    notify_deployment,
    query_readiness_api,
)
from calibration_core.exceptions import InvalidInputError
from calibration_core.trades import IntegritySummary

if TYPE_CHECKING:
    from collections.abc import Iterator

# How long a test lets the client wait, and how much later than that it must be back.
TIMEOUT = 0.3
SLACK = 10.0  # a client that ignored the timeout would hang for 30 s; 10 s is loaded-box room


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


# mode -> (status, body) of the readiness endpoint.
ANSWERS: dict[str, tuple[int, bytes]] = {
    "ready": (200, _json({"ready": True, "actions": ["calibration"]})),
    "ready-shadow": (200, _json({"ready": True, "actions": ["calibration", "shadow"]})),
    "not-ready": (200, _json({"ready": False, "actions": []})),
    "no-calibration": (200, _json({"ready": True, "actions": ["shadow"]})),
    "retrain": (200, _json({"ready": True, "actions": ["calibration", "retrain"]})),
    "both": (200, _json({"ready": True, "actions": ["weights_update", "calibration", "retrain"]})),
    "bad-json": (200, b"{ready: yes"),
    "not-utf8": (200, b"\xff\xfe\x00"),
    "array": (200, _json(["calibration"])),
    "ready-string": (200, _json({"ready": "true", "actions": ["calibration"]})),
    "no-actions": (200, _json({"ready": True})),
    "actions-string": (200, _json({"ready": True, "actions": "calibration"})),
    "actions-numbers": (200, _json({"ready": True, "actions": [1]})),
    "error": (500, b"boom"),
    "huge": (200, b" " * (70 * 1024)),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.release = threading.Event()  # set when the test ends: stalled handlers return
        self.posts: list[tuple[str, str, bytes]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Keep the test output quiet."""

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stall_or_trickle(self, mode: str) -> bool:
        """Misbehave as ``mode`` says; return whether the request was handled."""
        if mode == "silent":
            # Accept the request and never answer, until the test ends.
            self.server.release.wait(30)
            return True
        if mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
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
        """Answer the readiness endpoint as the first path segment says."""
        mode, _, rest = self.path.lstrip("/").partition("/")
        if self._stall_or_trickle(mode):
            return
        if "/" + rest != READINESS_PATH or mode not in ANSWERS:
            self._answer(404, b"{}")
            return
        self._answer(*ANSWERS[mode])

    def do_POST(self) -> None:
        """Record a deployment notice and answer as the first path segment says."""
        mode, _, rest = self.path.lstrip("/").partition("/")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append(("/" + rest, self.headers.get("Content-Type", ""), body))
        if self._stall_or_trickle(mode):
            return
        self._answer(500 if mode == "error" else 200, b"{}")


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
            ("ready", True, ("calibration",), r"cadence API ready \(actions: \['calibration'\]\)"),
            ("ready-shadow", True, ("calibration", "shadow"), r"cadence API ready .*"),
            ("not-ready", False, (), r"cadence API says not ready \(actions: \[\]\)"),
            (
                "no-calibration",
                False,
                ("shadow",),
                r"cadence API does not allow calibration \(actions: \['shadow'\]\)",
            ),
            (
                "retrain",
                False,
                ("calibration", "retrain"),
                r"cadence allows retrain; calibration-only policy requires it absent",
            ),
            (
                "both",
                False,
                ("weights_update", "calibration", "retrain"),
                r"cadence allows retrain and weights_update; .* requires them absent",
            ),
            ("bad-json", False, (), r"cadence API answered invalid JSON \(.*\)"),
            ("not-utf8", False, (), r"cadence API answered invalid JSON \(.*\)"),
            ("array", False, (), r"cadence API answer is not a JSON object"),
            ("ready-string", False, (), r"cadence API answer has no boolean 'ready'"),
            ("no-actions", False, (), r"cadence API answer has no list of strings 'actions'"),
            ("actions-string", False, (), r"cadence API answer has no list of strings 'actions'"),
            ("actions-numbers", False, (), r"cadence API answer has no list of strings 'actions'"),
            ("error", False, (), r"cadence API answered HTTP 500"),
            ("missing", False, (), r"cadence API answered HTTP 404"),
        ],
    )
    def test_answers_are_judged(
        self, api: Api, mode: str, ready: bool, actions: tuple[str, ...], reason: str
    ) -> None:
        """Only 200 + ready + "calibration" without retrain/weights_update is ready."""
        result = query_readiness_api(api.url(mode), timeout=5.0)
        assert result.url == api.url(mode) + READINESS_PATH
        assert result.reachable
        assert (result.ready, result.actions) == (ready, actions)
        assert re.fullmatch(reason, result.reason), result.reason

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

    def test_server_that_never_answers_is_cut_off(self, api: Api) -> None:
        """A server that accepts and stays silent costs about the timeout, then "not ready"."""
        start = time.monotonic()
        result = query_readiness_api(api.url("silent"), timeout=TIMEOUT)
        assert time.monotonic() - start < TIMEOUT + SLACK
        assert (result.reachable, result.ready) == (False, False)
        assert result.reason == f"no answer from {result.url} within {TIMEOUT:g} s"

    def test_socket_that_never_reads_is_cut_off(self, silent_listener: str) -> None:
        """A bare listening socket that never accepts is also cut off at the timeout."""
        start = time.monotonic()
        result = query_readiness_api(silent_listener, timeout=TIMEOUT)
        assert time.monotonic() - start < TIMEOUT + SLACK
        assert not result.ready
        assert result.reason.startswith("no answer from")

    def test_trickling_answer_is_cut_off_at_the_deadline(self, api: Api) -> None:
        """A body sent a byte at a time does not hold the caller past the deadline."""
        start = time.monotonic()
        result = query_readiness_api(api.url("trickle"), timeout=TIMEOUT)
        assert time.monotonic() - start < TIMEOUT + SLACK
        assert not result.ready
        assert result.reason.startswith("no answer from")

    @pytest.mark.parametrize(
        ("base_url", "pattern"),
        [
            ("ftp://127.0.0.1:21", r"cannot use URL 'ftp://.*': expected http://host:port"),
            ("127.0.0.1:8003", r"cannot use URL .*: expected http://host:port"),
            ("http://127.0.0.1:port", r"cannot use URL .*\(Port could not be cast.*\)"),
        ],
    )
    def test_unusable_url_is_not_ready(self, base_url: str, pattern: str) -> None:
        """A URL that cannot be used is "not ready", not an exception."""
        result = query_readiness_api(base_url, timeout=TIMEOUT)
        assert not result.ready
        assert re.fullmatch(pattern, result.reason), result.reason

    @pytest.mark.parametrize("timeout", [0.0, -1.0, math.nan, math.inf])
    def test_bad_timeout_is_rejected(self, timeout: float) -> None:
        """The timeout must be a finite positive number."""
        with pytest.raises(InvalidInputError, match="timeout must be a finite number > 0"):
            query_readiness_api("http://127.0.0.1:1", timeout=timeout)


class TestNotifyDeployment:
    def test_notice_is_posted_as_json(self, api: Api) -> None:
        """The payload arrives as JSON at the deployed endpoint."""
        ok, reason = notify_deployment(api.url("ok"), {"version": "cal_1"}, timeout=5.0)
        assert ok
        assert reason == f"deployment notice accepted by {api.url('ok')}{DEPLOYED_PATH} (HTTP 200)"
        assert api.posts == [(DEPLOYED_PATH, "application/json", b'{"version": "cal_1"}')]

    def test_refused_notice_is_reported(self, api: Api) -> None:
        """A non-2xx answer is (False, reason)."""
        ok, reason = notify_deployment(api.url("error"), {"version": "cal_1"}, timeout=5.0)
        assert not ok
        assert reason.endswith("(HTTP 500)")

    def test_unreachable_api_is_reported(self, free_port: int) -> None:
        """Nothing listening is (False, reason), not an exception."""
        ok, reason = notify_deployment(f"http://127.0.0.1:{free_port}", {}, timeout=5.0)
        assert not ok
        assert reason.startswith("deployment notice not delivered: cannot reach")

    def test_silent_api_is_cut_off(self, api: Api) -> None:
        """A server that never answers costs about the timeout."""
        start = time.monotonic()
        ok, reason = notify_deployment(api.url("silent"), {}, timeout=TIMEOUT)
        assert time.monotonic() - start < TIMEOUT + SLACK
        assert not ok
        assert "no answer from" in reason

    @pytest.mark.parametrize("payload", [{"x": math.nan}, {"x": object()}])
    def test_payload_that_is_not_json_is_reported(self, payload: dict[str, object]) -> None:
        """A payload that cannot be JSON is (False, reason) and nothing is sent."""
        ok, reason = notify_deployment("http://127.0.0.1:1", payload, timeout=TIMEOUT)
        assert not ok
        assert reason.startswith("deployment notice not sent: payload is not JSON")


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
        assert ready.reason.endswith("; cadence API ready (actions: ['calibration'])")
        refused = assess_readiness(summary(), api_url=api.url("retrain"), timeout=5.0)
        assert not refused.ready
        assert refused.reason.startswith("cadence allows retrain")
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
