"""Reloads on watchdog's dispatch thread: where they run, how they serialise, what they read."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from typing import TYPE_CHECKING

import pytest

from calibration_core.fsio import atomic_write_text
from calibration_core.runtime import files
from calibration_core.runtime.loader import LOGGER_NAME, CalibrationLoader
from calibration_core_tests.runtime_helpers import (
    config_text,
    version_name,
    version_number,
    wait_until,
)

if TYPE_CHECKING:
    from pathlib import Path

LOADED = "[CalibrationLoader] ✅ Loaded config version: {v}"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """Return a config path inside a fresh, watched directory."""
    directory = tmp_path / "config"
    directory.mkdir()
    return directory / "calibration.json"


class TestWhereTheReloadRuns:
    def test_a_deploy_is_published_on_watchdogs_dispatch_thread(
        self, config_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The leading edge is read, validated and published by the observer thread itself."""
        atomic_write_text(config_path, config_text(version_name(1)))
        with (
            caplog.at_level(logging.INFO, logger=LOGGER_NAME),
            CalibrationLoader(config_path, debounce=0.0, poll_interval=60) as loader,
        ):
            # The worker's start-up check (unchanged content) is done: it is idle now.
            assert wait_until(lambda: loader.status().skipped >= 1)
            atomic_write_text(config_path, config_text(version_name(2)))
            assert wait_until(lambda: loader.version == version_name(2))
        loaded = [r for r in caplog.records if r.getMessage() == LOADED.format(v=version_name(2))]
        assert len(loaded) == 1
        assert loaded[0].threadName == f"CalibrationObserver[{config_path.name}]"

    def test_an_event_inside_the_debounce_window_is_left_to_the_worker(
        self, config_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A second event right after a check is coalesced by the worker, not read twice."""
        atomic_write_text(config_path, config_text(version_name(1)))
        # A debounce far longer than the deploy takes: the deploy's events are inside the
        # window of the start-up check, so the dispatch thread hands them to the worker.
        with (
            caplog.at_level(logging.INFO, logger=LOGGER_NAME),
            CalibrationLoader(config_path, debounce=3.0, poll_interval=60) as loader,
        ):
            assert wait_until(lambda: loader._last_event_check > -math.inf)
            atomic_write_text(config_path, config_text(version_name(2)))
            assert wait_until(lambda: loader.version == version_name(2), timeout=15.0)
        loaded = [r for r in caplog.records if r.getMessage() == LOADED.format(v=version_name(2))]
        assert len(loaded) == 1
        assert loaded[0].threadName == f"CalibrationLoader[{config_path.name}]"

    def test_a_loader_that_is_not_running_only_flags_the_event(self, config_path: Path) -> None:
        """watch="none": an event never reads the file on the caller's thread."""
        atomic_write_text(config_path, config_text(version_name(1)))
        loader = CalibrationLoader(config_path, watch="none")
        atomic_write_text(config_path, config_text(version_name(2)))

        class Moved:
            event_type = "moved"
            src_path = str(config_path.parent / ".tmp-x.json")
            dest_path = str(config_path)

        loader._on_event(Moved())
        assert loader.version == version_name(1)
        assert loader._pending is True


class TestSerialisedReloads:
    def test_concurrent_reloads_never_serve_an_older_version(self, config_path: Path) -> None:
        """Dispatch thread, worker and host reload() race; the host sees versions only grow.

        Every check reads the file while holding the reload lock, so a slow reader can
        never publish older content after a faster one published newer content.
        """
        atomic_write_text(config_path, config_text(version_name(0)))
        deploys = 60
        final = version_name(deploys)
        seen: list[str] = []
        stop = threading.Event()
        with CalibrationLoader(config_path, debounce=0.0, poll_interval=0.01) as loader:

            def host() -> None:
                last = None
                while not stop.is_set():
                    version = loader.snapshot.version
                    if version != last and version is not None:
                        seen.append(version)
                        last = version

            def forcer() -> None:
                while not stop.is_set():
                    loader.reload()

            threads = [threading.Thread(target=host), threading.Thread(target=forcer)]
            for thread in threads:
                thread.start()
            try:
                for k in range(1, deploys + 1):
                    atomic_write_text(config_path, config_text(version_name(k)))
                assert wait_until(lambda: final in seen, timeout=10.0)
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
            status = loader.status()
        numbers = [version_number(v) for v in seen]
        assert numbers == sorted(numbers)
        assert len(set(numbers)) == len(numbers)
        assert numbers[-1] == deploys
        assert status.rejected == 0
        assert status.last_error is None


class TestReadAndHash:
    @pytest.mark.parametrize("size", [0, 1, 2046, 2047, 2048, 4095, 65_536, 200_001])
    def test_the_digest_in_pieces_equals_the_whole_blake2b(self, size: int) -> None:
        """Hashing in pieces (to keep the GIL) gives the same digest as one call."""
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert len(data) == size
        assert files.digest(data) == hashlib.blake2b(data, digest_size=16).hexdigest()

    @pytest.mark.parametrize("size", [0, 1, 1000, 65_535, 65_536, 300_000])
    def test_one_read_returns_the_whole_file(self, tmp_path: Path, size: int) -> None:
        """_read_open returns exactly the file's bytes and its stat() identity."""
        path = tmp_path / "calibration.json"
        data = os.urandom(size)
        path.write_bytes(data)
        fd = files.open_config(str(path))
        try:
            read, state = files.read_open(fd, size + 10)
        finally:
            os.close(fd)
        assert read == data
        assert state == files.FileState.of(path.stat())

    def test_a_file_at_exactly_the_limit_is_read_and_one_byte_more_is_refused(
        self, tmp_path: Path
    ) -> None:
        """The size bound is inclusive, as before."""
        path = tmp_path / "calibration.json"
        path.write_bytes(b"x" * 100)
        fd = files.open_config(str(path))
        try:
            assert files.read_open(fd, 100)[0] == b"x" * 100
            with pytest.raises(files.Rejected, match="over the 99-byte limit"):
                files.read_open(fd, 99)
        finally:
            os.close(fd)


class TestEventFilter:
    def test_the_filter_admits_every_relevant_event_type_and_nothing_else(self) -> None:
        """The watchdog filter and the handler's list of relevant events agree."""
        from watchdog import events  # noqa: PLC0415 - as the loader imports it

        admitted = {cls.event_type for cls in files.event_filter()}
        assert admitted == set(files.RELEVANT_EVENTS)
        excluded = (events.FileOpenedEvent, events.FileClosedNoWriteEvent, events.DirModifiedEvent)
        assert not set(excluded) & set(files.event_filter())

    def test_the_loaders_own_reads_do_not_reach_the_handler(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Reading the config (opened / closed-without-write) puts no event in the queue."""
        atomic_write_text(config_path, config_text(version_name(1)))
        received: list[str] = []
        with CalibrationLoader(config_path, poll_interval=60) as loader:
            original = loader._on_event

            def recording(event: object) -> None:
                received.append(str(getattr(event, "event_type", "")))
                original(event)

            monkeypatch.setattr(loader, "_on_event", recording)
            for _ in range(5):
                assert loader.reload()
            # A later deploy's events arrive after any event the reads could have caused.
            atomic_write_text(config_path, config_text(version_name(2)))
            assert wait_until(lambda: loader.version == version_name(2))
            assert wait_until(lambda: "moved" in received)
        assert "opened" not in received
        assert "closed_no_write" not in received
