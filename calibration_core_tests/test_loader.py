"""CalibrationLoader with a real watchdog observer in real temporary directories."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from calibration_core.config_json import MAX_CONFIG_BYTES
from calibration_core.exceptions import InvalidInputError
from calibration_core.fsio import atomic_write_text
from calibration_core.runtime import files, host as runtime, loader as runtime_loader
from calibration_core.runtime.loader import CalibrationLoader
from calibration_core.settings import SENTINEL_NAME
from calibration_core_tests.runtime_helpers import (
    config_text,
    invalid_config_texts,
    version_name,
    wait_until,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

V1 = "cal_20260220_000001"
V2 = "cal_20260220_000002"
V3 = "cal_20260220_000003"
REPO = Path(__file__).parent.parent
LOADED_LINES = [
    # The production checklist's phase 4.1 lines ...
    "[CalibrationLoader] ✅ Loaded config version: {v}",
    "[CalibrationLoader] Confidence calibration: {state}",
    "[CalibrationLoader] Ensemble weights: {n} models",
    # ... and the old loader's, which operators' grep looks for (real_system.md §4).
    "[CalibrationLoader] ✅ Loaded calibration: {v}",
    "[CalibrationLoader]    Based on {trades} trades",
    "[CalibrationLoader]    Confidence calibration: {old_state}",
    "[CalibrationLoader]    Ensemble weights: {old_weights}",
]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """Return a config path inside a fresh, watched directory."""
    directory = tmp_path / "config"
    directory.mkdir()
    return directory / "calibration.json"


@pytest.fixture
def no_thread_leak() -> Iterator[None]:
    """Fail the test if it leaves a thread behind."""
    before = set(threading.enumerate())
    yield
    assert wait_until(lambda: set(threading.enumerate()) <= before, timeout=5.0), (
        f"leaked threads: {set(threading.enumerate()) - before}"
    )


def served(loader: CalibrationLoader, version: str | None, timeout: float = 5.0) -> bool:
    """Wait (bounded) until ``loader`` serves ``version``."""
    return wait_until(lambda: loader.snapshot.version == version, timeout)


def replace_in_place(path: Path, text: str) -> None:
    """Truncate and rewrite ``path`` on the same inode, as an editor without atomic save does."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)


class TestStartup:
    def test_serves_the_file_from_construction(self, config_path: Path) -> None:
        """The constructor loads the config; no thread is needed to serve it."""
        atomic_write_text(config_path, config_text(V1))
        loader = CalibrationLoader(config_path, watch="none")
        assert loader.snapshot.version == V1
        assert loader.apply_confidence_calibration(0.5) == pytest.approx(0.55)
        assert not loader.running

    def test_context_manager_serves_immediately(self, config_path: Path) -> None:
        """Right after __enter__ the live version is served."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path) as loader:
            assert loader.get_calibration_snapshot().version == V1
            assert loader.running

    def test_missing_file_serves_identity_and_default_weights(
        self, config_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """No file: identity map, the caller's default weights, one clear log line, no error."""
        with caplog.at_level(logging.INFO, logger=runtime.LOGGER_NAME):
            loader = CalibrationLoader(config_path, default_weights={"a": 0.5, "b": 0.5})
            loader.reload()
            loader.reload()
        assert loader.snapshot.version is None
        assert loader.apply_confidence_calibration(0.42) == 0.42
        assert dict(loader.get_ensemble_weights()) == {"a": 0.5, "b": 0.5}
        missing = [r for r in caplog.records if "No config at" in r.getMessage()]
        assert len(missing) == 1
        status = loader.status()
        assert status.rejected == 0
        assert status.last_error is not None
        assert "not found" in status.last_error

    def test_invalid_file_at_start_serves_identity_and_counts_a_rejection(
        self, config_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An invalid file at start is logged and counted; the host gets identity."""
        config_path.write_text("{not json")
        with caplog.at_level(logging.WARNING, logger=runtime.LOGGER_NAME):
            loader = CalibrationLoader(config_path)
        assert loader.snapshot.version is None
        assert loader.apply_confidence_calibration(0.3) == 0.3
        status = loader.status()
        assert (status.attempts, status.succeeded, status.rejected) == (1, 0, 1)
        assert "not valid JSON" in (status.last_error or "")
        assert any("Rejected" in r.getMessage() for r in caplog.records)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"watch": "sometimes"}, "watch must be one of"),
            ({"poll_interval": 0}, "poll_interval"),
            ({"poll_interval": -1.0}, "poll_interval"),
            ({"debounce": float("nan")}, "debounce"),
            ({"debounce": "fast"}, "debounce"),
            ({"max_bytes": 0}, "max_bytes"),
            ({"default_weights": 5}, "default_weights"),
        ],
    )
    def test_bad_arguments_are_rejected(
        self, config_path: Path, kwargs: dict[str, Any], match: str
    ) -> None:
        """Invalid constructor arguments are a programming error, reported at once."""
        with pytest.raises(InvalidInputError, match=match):
            CalibrationLoader(config_path, **kwargs)


class TestLogLines:
    def test_a_successful_load_logs_exactly_the_checklist_and_old_lines(
        self, config_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Phase 4.1's three lines, then the old loader's four, nothing else."""
        atomic_write_text(config_path, config_text(V1))
        with caplog.at_level(logging.DEBUG, logger=runtime.LOGGER_NAME):
            CalibrationLoader(config_path, watch="none")
        expected = [
            line.format(
                v=V1,
                state="enabled",
                n=4,
                trades="an unrecorded number of",
                old_state="✅ ENABLED",
                old_weights="✅ OVERRIDE",
            )
            for line in LOADED_LINES
        ]
        assert [r.getMessage() for r in caplog.records] == expected
        assert all(r.levelno == logging.INFO for r in caplog.records)

    def test_disabled_sections_are_logged_as_such(
        self, config_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A config with calibration and weights disabled says so."""
        atomic_write_text(config_path, config_text(V1, calibration=False, weights_enabled=False))
        with caplog.at_level(logging.INFO, logger=runtime.LOGGER_NAME):
            CalibrationLoader(config_path, watch="none")
        expected = [
            line.format(
                v=V1,
                state="disabled",
                n=0,
                trades="an unrecorded number of",
                old_state="⏸ DISABLED",
                old_weights="⏸ BASELINE",
            )
            for line in LOADED_LINES
        ]
        assert [r.getMessage() for r in caplog.records] == expected


@pytest.mark.usefixtures("no_thread_leak")
class TestReloadTriggers:
    def test_atomic_replace_is_served(self, config_path: Path) -> None:
        """os.replace over the config (the deploy path) goes live."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path, poll_interval=60) as loader:
            atomic_write_text(config_path, config_text(V2, shift=0.1))
            assert served(loader, V2)
            assert loader.apply_confidence_calibration(0.5) == pytest.approx(0.6)
            atomic_write_text(config_path, config_text(V3))
            assert served(loader, V3)
            assert loader.status().events >= 2

    def test_in_place_rewrite_is_served(self, config_path: Path) -> None:
        """Truncate-and-write of the same inode goes live once the write is complete."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path, poll_interval=60) as loader:
            replace_in_place(config_path, config_text(V2))
            assert served(loader, V2)

    def test_file_created_after_start_is_served(self, config_path: Path) -> None:
        """A loader started without a file picks it up when it appears."""
        with CalibrationLoader(config_path, poll_interval=60) as loader:
            assert loader.snapshot.version is None
            atomic_write_text(config_path, config_text(V1))
            assert served(loader, V1)
            assert loader.status().last_error is None

    def test_deleted_file_keeps_the_last_good_version(
        self, config_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Deleting the config keeps serving the last good version and logs it once."""
        atomic_write_text(config_path, config_text(V1))
        with (
            caplog.at_level(logging.WARNING, logger=runtime.LOGGER_NAME),
            CalibrationLoader(config_path, poll_interval=60) as loader,
        ):
            config_path.unlink()
            assert wait_until(lambda: "not found" in (loader.status().last_error or ""))
            loader.reload()
            assert loader.snapshot.version == V1
            disappeared = [r for r in caplog.records if "disappeared" in r.getMessage()]
            assert len(disappeared) == 1
            atomic_write_text(config_path, config_text(V2))
            assert served(loader, V2)

    def test_sentinel_touch_reloads(self, tmp_path: Path) -> None:
        """Touching .calibration_reload makes the loader re-read a change it did not see."""
        # The config is a symlink into another (unwatched) directory, so replacing the
        # target there produces no event in the config directory: only the sentinel does.
        store = tmp_path / "store"
        store.mkdir()
        directory = tmp_path / "config"
        directory.mkdir()
        target = store / "calibration.json"
        atomic_write_text(target, config_text(V1))
        config_path = directory / "calibration.json"
        config_path.symlink_to(target)
        with CalibrationLoader(config_path, poll_interval=60) as loader:
            atomic_write_text(target, config_text(V2))
            assert not served(loader, V2, timeout=0.3)
            (directory / SENTINEL_NAME).touch()
            assert served(loader, V2)
            atomic_write_text(target, config_text(V3))
            (directory / SENTINEL_NAME).touch()  # an existing sentinel: only IN_ATTRIB
            assert served(loader, V3)

    def test_kubernetes_data_symlink_swap_reloads(self, tmp_path: Path) -> None:
        """A ConfigMap-style ..data swap (a moved event to ..data) goes live."""
        directory = tmp_path / "configmap"
        directory.mkdir()

        def publish(version: str, stamp: str) -> None:
            payload = directory / f"..{stamp}"
            payload.mkdir()
            (payload / "calibration.json").write_text(config_text(version))
            tmp_link = directory / "..data_tmp"
            tmp_link.symlink_to(payload.name)
            tmp_link.replace(directory / "..data")

        publish(V1, "2026_02_20_00_00_01.000000001")
        config_path = directory / "calibration.json"
        config_path.symlink_to("..data/calibration.json")
        with CalibrationLoader(config_path, poll_interval=60) as loader:
            assert loader.snapshot.version == V1
            publish(V2, "2026_02_20_00_00_02.000000002")
            assert served(loader, V2)

    def test_burst_is_debounced_and_ends_on_the_final_version(self, config_path: Path) -> None:
        """Many writes in a burst cause few reloads, and the last version is served."""
        atomic_write_text(config_path, config_text(V1))
        debounce = 0.1
        with CalibrationLoader(config_path, debounce=debounce, poll_interval=60) as loader:
            started = time.monotonic()
            writes = 60
            for k in range(writes):
                atomic_write_text(config_path, config_text(version_name(100 + k)))
            final = version_name(100 + writes - 1)
            assert served(loader, final)
            # Events keep arriving until the final version is served, so the windows
            # are counted up to that moment (a loaded machine delivers them late).
            elapsed = time.monotonic() - started
            status = loader.status()
        # Leading edge + one check per debounce window + the trailing check.
        assert status.attempts <= 2 + elapsed / debounce + 1
        assert status.attempts < writes

    def test_events_during_a_reload_are_not_lost(self, config_path: Path) -> None:
        """A change that lands while a reload runs is picked up by the coalesced re-check."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path, debounce=0.0, poll_interval=60) as loader:
            for k in range(30):
                atomic_write_text(config_path, config_text(version_name(200 + k)))
                replace_in_place(config_path, config_text(version_name(300 + k)))
            assert served(loader, version_name(329))


@pytest.mark.usefixtures("no_thread_leak")
class TestRejection:
    @pytest.mark.parametrize("kind", ["truncated", "non_monotone", "weights_not_summing_to_one"])
    def test_invalid_file_keeps_the_last_good_version(self, config_path: Path, kind: str) -> None:
        """An invalid file is rejected and counted; the last good version stays live."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path, poll_interval=60) as loader:
            atomic_write_text(config_path, invalid_config_texts(7)[kind])
            assert wait_until(lambda: loader.status().rejected == 1)
            assert loader.snapshot.version == V1
            status = loader.status()
            assert status.last_error is not None
            assert status.last_error.startswith("config rejected")
            atomic_write_text(config_path, config_text(V2))
            assert served(loader, V2)
            assert loader.status().last_error is None

    def test_unchanged_content_is_skipped(self, config_path: Path) -> None:
        """Re-reading identical content (same digest) does not reload or log."""
        atomic_write_text(config_path, config_text(V1))
        loader = CalibrationLoader(config_path, watch="none")
        atomic_write_text(config_path, config_text(V1))  # new inode, same bytes
        before = loader.snapshot
        loader.reload()
        assert loader.snapshot is before
        status = loader.status()
        assert (status.attempts, status.succeeded, status.skipped) == (1, 1, 1)

    def test_an_invalid_file_is_counted_once_until_it_changes(self, config_path: Path) -> None:
        """The same bad bytes are not re-parsed or re-counted on every check."""
        atomic_write_text(config_path, config_text(V1))
        loader = CalibrationLoader(config_path, watch="none")
        config_path.write_text("[]")
        loader.reload()
        loader.reload()
        assert loader.status().rejected == 1

    def test_oversized_file_is_refused_without_reading_it(self, config_path: Path) -> None:
        """A file over the size limit is refused from its size alone."""
        atomic_write_text(config_path, config_text(V1))
        loader = CalibrationLoader(config_path, watch="none")
        with config_path.open("wb") as handle:
            handle.truncate(8 * 1024**3)  # sparse: reading it would take a long time
        started = time.monotonic()
        loader.reload()
        # Reading the 8 GiB file would take far longer; 10 s leaves room for a loaded box.
        assert time.monotonic() - started < 10.0
        status = loader.status()
        assert status.rejected == 1
        assert "over the" in (status.last_error or "")
        assert loader.snapshot.version == V1

    def test_small_size_limit_is_honoured(self, config_path: Path) -> None:
        """max_bytes applies to ordinary files too."""
        atomic_write_text(config_path, config_text(V1))
        loader = CalibrationLoader(config_path, watch="none", max_bytes=64)
        assert loader.snapshot.version is None
        assert loader.status().rejected == 1

    def test_a_fifo_at_the_config_path_does_not_hang(self, config_path: Path) -> None:
        """A non-regular file is rejected without blocking the worker."""
        os.mkfifo(config_path)
        loader = CalibrationLoader(config_path, watch="none")
        assert loader.status().last_error == "not a regular file"

    def test_a_directory_at_the_config_path_is_rejected(self, config_path: Path) -> None:
        """A directory where the file should be is a rejection, not a crash."""
        config_path.mkdir()
        loader = CalibrationLoader(config_path, watch="none")
        assert loader.status().rejected == 1


@pytest.mark.usefixtures("no_thread_leak")
class TestPolling:
    def test_poll_mode_converges_without_watchdog(self, config_path: Path) -> None:
        """watch="poll" starts no observer and still picks up every change."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path, watch="poll", poll_interval=0.05) as loader:
            assert loader.status().watching == "poll"
            assert loader.status().observer is None
            assert not any("Observer" in type(t).__name__ for t in threading.enumerate())
            atomic_write_text(config_path, config_text(V2))
            assert served(loader, V2)
            replace_in_place(config_path, config_text(V3))
            assert served(loader, V3)
            config_path.unlink()
            assert wait_until(lambda: loader.status().last_error is not None)
            assert loader.snapshot.version == V3

    def test_same_size_rewrite_keeping_the_mtime_is_still_seen(self, config_path: Path) -> None:
        """A recent file is re-hashed on the next poll, so an equal-identity rewrite is caught."""
        atomic_write_text(config_path, config_text(V1))
        st = config_path.stat()
        with CalibrationLoader(config_path, watch="poll", poll_interval=0.05) as loader:
            replace_in_place(config_path, config_text(V2))  # same length as V1
            os.utime(config_path, ns=(st.st_atime_ns, st.st_mtime_ns))
            assert config_path.stat().st_size == st.st_size
            assert served(loader, V2)

    def test_observer_failure_falls_back_to_polling(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """If the observer cannot start (inotify limit), the loader warns and polls."""
        import watchdog.observers  # noqa: PLC0415

        class Exhausted:
            def __init__(self, **_: object) -> None:
                raise OSError(24, "inotify instance limit reached")

        monkeypatch.setattr(watchdog.observers, "Observer", Exhausted)
        atomic_write_text(config_path, config_text(V1))
        with (
            caplog.at_level(logging.WARNING, logger=runtime.LOGGER_NAME),
            CalibrationLoader(config_path, poll_interval=0.05) as loader,
        ):
            status = loader.status()
            assert status.watching == "poll"
            assert "inotify instance limit" in (status.fallback_reason or "")
            atomic_write_text(config_path, config_text(V2))
            assert served(loader, V2)
        assert any("falling back to polling" in r.getMessage() for r in caplog.records)

    def test_missing_directory_falls_back_to_polling_and_converges(self, tmp_path: Path) -> None:
        """A config directory that does not exist yet is polled, then watched once it exists."""
        config_path = tmp_path / "later" / "calibration.json"
        with CalibrationLoader(config_path, watch="inotify", poll_interval=0.05) as loader:
            assert loader.status().watching == runtime_loader.WATCHING_DIRECTORY_GONE
            config_path.parent.mkdir()
            atomic_write_text(config_path, config_text(V1))
            assert served(loader, V1)
            assert wait_until(lambda: loader.status().watching == "watchdog")
            assert loader.status().fallback_reason is None


@pytest.mark.usefixtures("no_thread_leak")
class TestDirectoryLifecycle:
    """Issue 11 item 10: the watch survives its directory being removed and recreated."""

    def deploy_is_seen_by_the_watch(self, loader: CalibrationLoader, path: Path, v: str) -> bool:
        """Deploy ``v``; True when it is served AND a watchdog event announced it."""
        events = loader.status().events
        atomic_write_text(path, config_text(v))
        return served(loader, v) and wait_until(lambda: loader.status().events > events)

    def test_removed_and_recreated_directory_rearms_the_watch(
        self, config_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Rm -r, then mkdir: status says so meanwhile, and events flow again afterwards."""
        atomic_write_text(config_path, config_text(V1))
        with (
            caplog.at_level(logging.INFO, logger=runtime.LOGGER_NAME),
            CalibrationLoader(config_path, poll_interval=0.05) as loader,
        ):
            assert loader.status().watching == "watchdog"
            shutil.rmtree(config_path.parent)
            assert wait_until(
                lambda: loader.status().watching == runtime_loader.WATCHING_DIRECTORY_GONE
            )
            status = loader.status()
            assert "is gone" in (status.fallback_reason or "")
            assert status.observer is None
            assert loader.snapshot.version == V1  # the last good version is kept
            config_path.parent.mkdir()
            assert wait_until(lambda: loader.status().watching == "watchdog")
            assert loader.status().observer is not None
            assert self.deploy_is_seen_by_the_watch(loader, config_path, V2)
        messages = caplog.messages
        assert any("the file watch is lost" in m for m in messages)
        assert any("file watch re-armed" in m for m in messages)

    def test_a_directory_renamed_away_and_replaced_rearms_the_watch(
        self, config_path: Path
    ) -> None:
        """Mv config config.old; mkdir config: the stale watch is noticed and replaced."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path, poll_interval=0.05) as loader:
            directory = config_path.parent
            directory.rename(directory.with_name("config.old"))
            directory.mkdir()
            atomic_write_text(config_path, config_text(V2))
            assert served(loader, V2)
            assert wait_until(
                lambda: loader._dir_identity == files.directory_identity(str(directory))
            )
            assert loader.status().watching == "watchdog"
            assert self.deploy_is_seen_by_the_watch(loader, config_path, V3)

    def test_the_watch_is_rearmed_after_repeated_removals(self, config_path: Path) -> None:
        """Three rm/mkdir cycles: each ends watched, serving the newest deploy."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path, poll_interval=0.05) as loader:
            for k in range(2, 5):
                shutil.rmtree(config_path.parent)
                assert wait_until(
                    lambda: loader.status().watching == runtime_loader.WATCHING_DIRECTORY_GONE
                )
                config_path.parent.mkdir()
                assert wait_until(lambda: loader.status().watching == "watchdog")
                assert self.deploy_is_seen_by_the_watch(loader, config_path, version_name(k))


class FakeEvent:
    def __init__(self, event_type: object, src_path: object, dest_path: object = "") -> None:
        self.event_type = event_type
        self.src_path = src_path
        self.dest_path = dest_path


@pytest.mark.usefixtures("no_thread_leak")
class TestEventHandler:
    @pytest.mark.parametrize(
        "event",
        [
            object(),
            None,
            FakeEvent("moved", None, None),
            FakeEvent("modified", b"\xff\xfe/calibration.json"),
            FakeEvent("created", 42),
            FakeEvent(["weird"], "calibration.json"),
            FakeEvent("moved", "/x/.tmp-1", object()),
        ],
    )
    def test_handler_never_raises(self, config_path: Path, event: object) -> None:
        """Whatever watchdog (or anyone) hands the handler, nothing escapes it."""
        atomic_write_text(config_path, config_text(V1))
        loader = CalibrationLoader(config_path, watch="none")
        handler = files.make_handler(loader._on_event)
        handler.dispatch(event)

    def test_handler_survives_an_internal_error_and_the_observer_keeps_running(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bug in event handling is logged; later events still reload (watchdog #427)."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path, poll_interval=60) as loader:
            original = loader._on_event
            failures: list[object] = []

            def flaky(event: object) -> None:
                if not failures:
                    failures.append(event)
                    raise RuntimeError("boom")
                original(event)

            monkeypatch.setattr(loader, "_on_event", flaky)
            (config_path.parent / "unrelated.txt").write_text("x")
            assert wait_until(lambda: bool(failures))
            atomic_write_text(config_path, config_text(V2))
            assert served(loader, V2)

    @pytest.mark.parametrize(
        ("event_type", "name", "dest", "relevant"),
        [
            ("moved", ".tmp-calibration-x.json", "calibration.json", True),
            ("created", "calibration.json", "", True),
            ("modified", "calibration.json", "", True),
            ("closed", "calibration.json", "", True),
            ("deleted", "calibration.json", "", True),
            ("attrib", SENTINEL_NAME, "", True),
            ("moved", "..data_tmp", "..data", True),
            ("opened", "calibration.json", "", False),
            ("closed_no_write", "calibration.json", "", False),
            ("modified", "other.json", "", False),
            ("created", ".tmp-calibration-x.json", "", False),
        ],
    )
    def test_which_events_wake_the_worker(
        self, config_path: Path, event_type: str, name: str, dest: str, relevant: bool
    ) -> None:
        """Only events on the config, the sentinel or ..data count; our own reads do not."""
        loader = CalibrationLoader(config_path, watch="none")
        directory = config_path.parent
        event = FakeEvent(event_type, str(directory / name), str(directory / dest) if dest else "")
        loader._on_event(event)
        assert loader.status().events == int(relevant)
        assert loader._pending is relevant


class TestLifecycle:
    def test_threads_are_joined_on_stop(self, config_path: Path) -> None:
        """start() adds the worker and watchdog threads; stop() joins all of them."""
        atomic_write_text(config_path, config_text(V1))
        before = set(threading.enumerate())
        loader = CalibrationLoader(config_path).start()
        observer = loader._observer
        assert observer is not None
        assert len(set(threading.enumerate()) - before) >= 2
        loader.stop()
        assert not observer.is_alive()
        assert set(threading.enumerate()) <= before

    def test_stop_is_idempotent_and_safe_before_start(self, config_path: Path) -> None:
        """stop() may be called any number of times, even on a loader never started."""
        loader = CalibrationLoader(config_path)
        loader.stop()
        loader.start()
        loader.stop()
        loader.stop()
        assert not loader.running
        assert loader.status().watching == "none"

    @pytest.mark.usefixtures("no_thread_leak")
    def test_start_is_idempotent_and_restart_after_stop_works(self, config_path: Path) -> None:
        """start() twice starts one worker; a stopped loader can be started again."""
        atomic_write_text(config_path, config_text(V1))
        loader = CalibrationLoader(config_path, poll_interval=60)
        loader.start()
        worker = loader._worker
        loader.start()
        assert loader._worker is worker
        loader.stop()
        atomic_write_text(config_path, config_text(V2))
        assert loader.snapshot.version == V1
        with loader:
            assert served(loader, V2)  # the start-up check sees what changed while stopped
            atomic_write_text(config_path, config_text(V3))
            assert served(loader, V3)
        assert not loader.running

    @pytest.mark.usefixtures("no_thread_leak")
    def test_a_worker_that_cannot_start_leaves_a_serving_loader(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If no thread can be started, start() logs, cleans up and the loader still serves."""
        atomic_write_text(config_path, config_text(V1))
        loader = CalibrationLoader(config_path)

        def refuse(_thread: threading.Thread) -> None:
            raise RuntimeError("can't start new thread")

        monkeypatch.setattr(threading.Thread, "start", refuse)
        loader.start()
        monkeypatch.undo()
        assert not loader.running
        assert loader.status().watching == "none"
        assert loader.snapshot.version == V1

    def test_stopped_loader_keeps_serving(self, config_path: Path) -> None:
        """After stop() the last snapshot is still served."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path) as loader:
            pass
        assert loader.apply_confidence_calibration(0.5) == pytest.approx(0.55)

    def test_watch_none_starts_no_thread(self, config_path: Path) -> None:
        """watch="none" serves and reloads on demand only."""
        before = set(threading.enumerate())
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path, watch="none") as loader:
            # <=: an unrelated thread of an earlier test may finish meanwhile.
            assert set(threading.enumerate()) <= before
            atomic_write_text(config_path, config_text(V2))
            assert loader.reload_snapshot().version == V2

    @pytest.mark.usefixtures("no_thread_leak")
    def test_status_reports_the_served_version(self, config_path: Path) -> None:
        """status() is a frozen value with version, source, counters and watch mode."""
        atomic_write_text(config_path, config_text(V1))
        with CalibrationLoader(config_path) as loader:
            loader.apply_confidence_calibration(float("nan"))
            status = loader.status()
            data = status.as_dict()
        assert status.version == V1
        assert status.source == str(config_path)
        assert status.watching == "watchdog"
        assert status.observer is not None
        assert status.nan_inputs == 1
        assert status.loaded_at is not None
        # ISO-8601 with its zone, readable by datetime and JSON alike (issue 12).
        loaded_at = datetime.fromisoformat(status.loaded_at)
        assert loaded_at.utcoffset() == timedelta(0)
        assert abs((datetime.now(UTC) - loaded_at).total_seconds()) < 600
        assert json.loads(json.dumps(data))["loaded_at"] == status.loaded_at
        assert status.running
        assert data["succeeded"] == 1
        with pytest.raises(AttributeError):
            status.version = "x"  # type: ignore[misc]

    def test_relative_paths_are_made_absolute(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A relative config path is resolved against the working directory once."""
        atomic_write_text(config_path, config_text(V1))
        monkeypatch.chdir(config_path.parent)
        loader = CalibrationLoader("calibration.json", watch="none")
        assert loader.config_path == config_path
        assert loader.snapshot.version == V1


def _unusable(path: Path, kind: str) -> None:
    """Put a file the loader must refuse without reading at ``path``."""
    path.unlink()
    if kind == "oversize":
        with path.open("wb") as handle:
            handle.truncate(MAX_CONFIG_BYTES + 1)  # sparse
    elif kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)


def _remove(path: Path) -> None:
    if path.is_dir():
        path.rmdir()
    else:
        path.unlink()


@pytest.mark.usefixtures("no_thread_leak")
class TestUnusableFilePolling:
    @pytest.mark.parametrize("kind", ["oversize", "directory", "fifo"])
    def test_an_unusable_file_is_rejected_and_logged_once_across_polls(
        self,
        config_path: Path,
        kind: str,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Polls skip an unchanged unusable file; replacing it with a valid one is picked up."""
        atomic_write_text(config_path, config_text(V1))
        loader = CalibrationLoader(config_path, watch="poll", poll_interval=0.01)
        polls = 0
        changed_on_disk = loader._changed_on_disk

        def counting() -> bool:
            nonlocal polls
            polls += 1
            return changed_on_disk()

        monkeypatch.setattr(loader, "_changed_on_disk", counting)
        with caplog.at_level(logging.WARNING, logger=runtime.LOGGER_NAME), loader:
            _unusable(config_path, kind)
            assert wait_until(lambda: loader.status().rejected == 1)
            seen = polls
            assert wait_until(lambda: polls >= seen + 20)
            status = loader.status()
            assert (status.rejected, status.attempts) == (1, 2)
            assert loader.snapshot.version == V1
            rejections = [r for r in caplog.records if "Rejected" in r.getMessage()]
            assert len(rejections) == 1
            _remove(config_path)
            atomic_write_text(config_path, config_text(V2))
            assert served(loader, V2)
            assert loader.status().rejected == 1


class TestFileIdentity:
    @pytest.mark.usefixtures("no_thread_leak")
    def test_in_place_rewrite_restoring_an_old_mtime_is_seen_by_its_ctime(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A `cp -p` style in-place rewrite keeps inode, size and mtime; only ctime moves."""
        monkeypatch.setattr(files, "_RACY_WINDOW_NS", 0)  # isolate the identity check
        config_path.write_text(config_text(V1), encoding="utf-8")
        old = 10**18
        os.utime(config_path, ns=(old, old))
        before = config_path.stat()
        with CalibrationLoader(config_path, watch="poll", poll_interval=0.01) as loader:
            assert loader.snapshot.version == V1
            # ctime has a coarse clock: let it tick so the rewrite gets a new one.
            assert wait_until(lambda: time.time_ns() > before.st_ctime_ns + 50_000_000)
            replace_in_place(config_path, config_text(V2))
            os.utime(config_path, ns=(old, old))
            after = config_path.stat()
            assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
                before.st_ino,
                before.st_size,
                before.st_mtime_ns,
            )
            assert after.st_ctime_ns != before.st_ctime_ns
            assert served(loader, V2)


FORK_SCRIPT = r"""
import os, sys, threading, time
from pathlib import Path

from calibration_core.runtime import host as runtime
from calibration_core.runtime.loader import CalibrationLoader
from calibration_core.config_json import MAX_CONFIG_BYTES
from calibration_core.fsio import atomic_write_text
from calibration_core_tests.runtime_helpers import config_text, wait_until

cfg, v1, v2 = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
assert runtime.get_calibration_snapshot().version == v1
assert runtime.get_default_loader().running
own = CalibrationLoader(cfg, poll_interval=0.05).start()

# Another thread holds every lock the child will need while the main thread forks.
held, release = threading.Event(), threading.Event()
default = runtime.get_default_loader()

def hold():
    with runtime._default_lock, default._reload_lock, own._reload_lock, own._lifecycle_lock:
        held.set()
        release.wait(30)

threading.Thread(target=hold, daemon=True).start()
assert held.wait(10)
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    code = 1
    try:
        os.close(ready_r)
        assert not own.running
        assert runtime.get_calibration_snapshot().version == v1
        # The host's saved default object is the child's default too, restarted.
        assert runtime.get_default_loader() is default
        assert default.running
        own.start()
        assert own.running
        os.write(ready_w, b"r")
        if not wait_until(lambda: runtime.get_calibration_snapshot().version == v2, 20):
            print("child default stuck at", runtime.get_calibration_snapshot().version)
        elif not wait_until(lambda: default.snapshot.version == v2, 20):
            print("child's saved default loader stuck at", default.snapshot.version)
        elif not wait_until(lambda: own.snapshot.version == v2, 20):
            print("child own loader stuck at", own.snapshot.version)
        else:
            code = 0
            own.stop()
    finally:
        sys.stdout.flush()
        os._exit(code)
release.set()
os.close(ready_w)
got = os.read(ready_r, 1)
atomic_write_text(cfg, config_text(v2))  # deployed after the fork
deadline = time.monotonic() + 60
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.exit("child hung")
    time.sleep(0.01)
assert got == b"r", "child failed before the deploy"
assert wait_until(lambda: runtime.get_calibration_snapshot().version == v2, 20)
own.stop()
runtime.reset_default_loader()
sys.exit(os.waitstatus_to_exitcode(status))
"""


class TestFork:
    def test_a_forked_child_reloads_after_the_parent_deploys(
        self, config_path: Path, tmp_path: Path
    ) -> None:
        """Real os.fork() while other threads hold the locks: the child restarts and reloads."""
        atomic_write_text(config_path, config_text(V1))
        script = tmp_path / "fork_child.py"
        script.write_text(FORK_SCRIPT, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALIBRATION_")}
        env.update(
            CALIBRATION_CONFIG_PATH=str(config_path),
            PYTHONPATH=str(REPO),
            PYTHONDONTWRITEBYTECODE="1",
        )
        done = subprocess.run(
            [sys.executable, str(script), str(config_path), V1, V2],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
