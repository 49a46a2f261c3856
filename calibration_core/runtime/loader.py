"""Hot-reloading runtime loader: watches calibration.json and swaps in immutable snapshots."""

# Shell module. It runs inside the EnsembleManager's process: nothing here may raise into
# the host. Readers never lock: a reload builds a new Snapshot (snapshot.py) and swaps one
# reference. watchdog is imported only when a loader starts watching (files.py), so
# `import calibration_core.runtime.loader` stays light. The module-level host API (the
# default loader) is host.py.

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from calibration_core.config_json import MAX_CONFIG_BYTES
from calibration_core.exceptions import ConfigRejectedError, InvalidInputError
from calibration_core.runtime import files
from calibration_core.runtime.snapshot import (
    LOGGER_NAME,
    LoaderStatus,
    Snapshot,
    _Counters,
    _freeze_weights,
    apply_hold_bias,
    snapshot_from_bytes,
)
from calibration_core.settings import SENTINEL_NAME, resolve_paths

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType
    from typing import Self

    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    from calibration_core.runtime.host import ConsensusCalibrator

__all__ = [
    "DEFAULT_DEBOUNCE",
    "DEFAULT_POLL_INTERVAL",
    "K8S_DATA_LINK",
    "LOGGER_NAME",
    "WATCHING_DIRECTORY_GONE",
    "CalibrationLoader",
    "LoaderStatus",
    "WatchMode",
    "listen_for_publish",
]

DEFAULT_DEBOUNCE: Final = 0.01
"""Seconds between two reloads inside a burst of events (the first reloads at once)."""
DEFAULT_POLL_INTERVAL: Final = 2.0
"""Seconds between two stat() checks of the config, the backstop for missed events."""
K8S_DATA_LINK: Final = "..data"
"""The symlink a Kubernetes ConfigMap volume swaps atomically on every update."""
WATCHING_DIRECTORY_GONE: Final = "poll (directory gone)"
"""``status().watching`` while the config directory is missing: polled, re-armed on return."""

WatchMode = Literal["auto", "inotify", "poll", "none"]
_WATCH_MODES: Final = ("auto", "inotify", "poll", "none")

logger = logging.getLogger(LOGGER_NAME)


class CalibrationLoader:
    """Serve the live calibration.json to a host process, reloading it when it changes.

    Parameters
    ----------
    config_path : path-like, optional
        The live config. Its parent directory is watched (not the file: a file
        watch goes deaf after the first rename-over). None (the old loader's
        default) means ``CALIBRATION_CONFIG_PATH``, else ``config/calibration.json``.
    default_weights : mapping, optional
        Ensemble weights to serve while no config (or one with weights disabled)
        is live.
    debounce : float, optional
        Minimum seconds between two reloads inside a burst of events. The first
        event of a burst reloads at once (leading edge) and events arriving during
        a reload are coalesced into one more check, so no change is ever lost.
    poll_interval : float, optional
        Seconds between stat() checks that catch changes the watcher missed
        (NFS, container volumes); in ``watch="poll"`` mode it is the only trigger.
    watch : {"auto", "inotify", "poll", "none"}, optional
        ``"auto"``: watchdog's native observer plus polling; ``"inotify"``: require
        the inotify observer (falls back to polling with a warning if it cannot
        start); ``"poll"``: polling only; ``"none"``: no thread, reload only via
        :meth:`reload`.
    max_bytes : int, optional
        Larger files are refused without being read.

    Raises
    ------
    InvalidInputError
        Only for invalid arguments (a programming error in the host). File
        problems never raise: the loader serves the identity map (or the last good
        version), logs the reason and counts it.

    Notes
    -----
    The config is loaded in the constructor, so a loader serves from the moment
    it exists; :meth:`start` (or ``with``) adds the watching threads. A stopped
    loader keeps serving its last snapshot and can be started again.

    Threads do not survive ``fork()``: in a forked child every loader is reset to
    "not running" with fresh locks (it keeps serving its last snapshot); call
    :meth:`start` in the child to watch again. The module's own default loader is
    instead recreated lazily by the child's next module-level call.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        *,
        default_weights: Mapping[str, float] | None = None,
        debounce: float = DEFAULT_DEBOUNCE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        watch: WatchMode = "auto",
        max_bytes: int = MAX_CONFIG_BYTES,
    ) -> None:
        if watch not in _WATCH_MODES:
            raise InvalidInputError(f"watch must be one of {_WATCH_MODES} (got {watch!r})")
        for name, value in (("debounce", debounce), ("poll_interval", poll_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInputError(f"{name} must be a number of seconds (got {value!r})")
            if not math.isfinite(value) or value < 0 or (name == "poll_interval" and value == 0):
                raise InvalidInputError(f"{name} must be a finite positive number (got {value})")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise InvalidInputError(f"max_bytes must be a positive integer (got {max_bytes!r})")
        if config_path is None:
            config_path = resolve_paths().config
        absolute = files.absolute_or_given(Path(config_path))
        self._path = str(absolute)
        self._dir = str(absolute.parent)
        self._name = absolute.name
        self._debounce = float(debounce)
        self._poll_interval = float(poll_interval)
        self._watch: WatchMode = watch
        self._max_bytes = max_bytes
        try:
            self._default_weights = _freeze_weights(default_weights)
        except Exception as exc:
            raise InvalidInputError(
                f"default_weights must map model names to numbers (got {default_weights!r})"
            ) from exc
        self._counters = _Counters()
        self._snapshot = Snapshot.identity(
            source=self._path, default_weights=self._default_weights, counters=self._counters
        )
        # Writers (the worker, watchdog's dispatch thread, reload()) serialise on this lock;
        # readers never take it.
        self._reload_lock = threading.Lock()
        self._lifecycle_lock = threading.RLock()
        self._wake = threading.Condition(threading.Lock())
        self._pending = False
        self._stopping = False
        # When the last event-driven check ended (worker or dispatch thread): the debounce.
        self._last_event_check = -math.inf
        self._worker: threading.Thread | None = None
        self._observer: Any = None
        self._watching = "none"
        self._observer_name: str | None = None
        self._fallback_reason: str | None = None
        # The watched directory's (device, inode) when the observer was armed, and
        # whether polling should re-arm the observer once the directory is back.
        self._dir_identity: tuple[int, int] | None = None
        self._rearm = False
        self._trigger_names = frozenset({self._name, SENTINEL_NAME, K8S_DATA_LINK})
        # Bookkeeping of the last file the loader looked at (good or bad).
        self._seen_state: files.FileState | None = None
        self._seen_digest: str | None = None
        self._racy = False
        self._missing = False
        self._last_error: str | None = None
        self._attempts = 0
        self._succeeded = 0
        self._rejected = 0
        self._skipped = 0
        self._events = 0
        _loaders.add(self)
        self._check(force=True)

    # -- hot path (delegates to the current snapshot) ---------------------------------------

    def apply_confidence_calibration(
        self, confidence: float, *, symbol: str | None = None
    ) -> float:
        """Calibrate one confidence with the live version (see :meth:`Snapshot.apply`)."""
        return self._snapshot.apply(confidence, symbol)

    def apply_confidence_calibration_batch(
        self, values: ArrayLike, *, symbol: str | None = None
    ) -> NDArray[np.float64]:
        """Calibrate an array with the live version (see :meth:`Snapshot.apply_batch`)."""
        return self._snapshot.apply_batch(values, symbol)

    def get_ensemble_weights(
        self,
        baseline: Mapping[str, float] | None = None,
        *,
        default: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        """Return the live weights, or ``baseline``, or an empty mapping.

        See :meth:`Snapshot.get_ensemble_weights`; ``default=`` is the earlier
        name of ``baseline`` and still works.
        """
        return self._snapshot.get_ensemble_weights(baseline, default=default)

    def get_consensus_multiplier(self, consensus_count: int, total_models: int) -> float:
        """Return the live consensus multiplier (see :meth:`Snapshot.consensus_multiplier`)."""
        return self._snapshot.consensus_multiplier(consensus_count, total_models)

    def apply_hold_bias(self, confidence: float) -> float:
        """Return ``confidence`` unchanged, as a float (see :func:`apply_hold_bias`)."""
        return apply_hold_bias(confidence)

    def get_calibration_snapshot(self) -> Snapshot:
        """Return the live snapshot; keep it for a whole decision to use one version."""
        return self._snapshot

    @property
    def snapshot(self) -> Snapshot:
        """The live snapshot (same as :meth:`get_calibration_snapshot`)."""
        return self._snapshot

    @property
    def config_path(self) -> Path:
        """The absolute config path this loader serves."""
        return Path(self._path)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Start watching; idempotent, and allowed again after :meth:`stop`.

        Never raises for watcher problems: if the observer cannot start (inotify
        limits, missing directory) the loader logs a warning and polls instead.
        """
        with self._lifecycle_lock:
            if self._worker is not None:
                return self
            if self._watch == "none":
                self._watching = "none"
                return self
            with self._wake:
                self._stopping = False
                # Check once at start: the file may have changed since the constructor.
                self._pending = True
            if self._watch == "poll":
                self._watching = "poll"
            else:
                self._start_observer()
            worker = threading.Thread(
                target=self._run, name=f"CalibrationLoader[{self._name}]", daemon=True
            )
            try:
                worker.start()
            except RuntimeError as exc:  # "can't start new thread": serve, do not watch
                logger.warning("[CalibrationLoader] ⚠️ cannot start the reload worker (%s)", exc)
                self.stop()
                return self
            self._worker = worker
            logger.info(
                "[CalibrationLoader] Watching %s for %s (%s, polling every %.3g s)",
                self._dir,
                self._name,
                self._observer_name if self._watching == "watchdog" else "polling only",
                self._poll_interval,
            )
            return self

    def stop(self) -> None:
        """Stop watching and join every thread this loader started; idempotent.

        The loader keeps serving its last snapshot after it stops.
        """
        with self._lifecycle_lock:
            worker, self._worker = self._worker, None
            observer, self._observer = self._observer, None
            with self._wake:
                self._stopping = True
                self._wake.notify_all()
            if observer is not None:
                files.stop_observer(observer)
            if worker is not None and worker is not threading.current_thread():
                worker.join(files.JOIN_TIMEOUT)
                if worker.is_alive():
                    logger.warning("[CalibrationLoader] worker thread did not stop in time")
            self._watching = "none"

    def close(self) -> None:
        """Alias of :meth:`stop`."""
        self.stop()

    def __enter__(self) -> Self:
        """Start watching; the loader already serves the config it loaded."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop watching and join the threads."""
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        worker = self._worker
        return worker is not None and worker.is_alive()

    def reload(self) -> bool:
        """Check the file now (synchronously); True when the file on disk is what is served.

        This is the old loader's ``reload() -> bool``. It is False when there is
        no file, or the file was rejected (the loader then keeps serving the last
        good version, or the identity). Never raises. Use :meth:`reload_snapshot`
        to get the snapshot that is live after the check.
        """
        self._check(force=True)
        return self._last_error is None and self._snapshot.version is not None

    def reload_snapshot(self) -> Snapshot:
        """Check the file now (synchronously) and return the snapshot then live.

        Never raises; an invalid file is rejected and counted as usual. (Before
        the host API, ``reload()`` returned this; it now returns a bool.)
        """
        self._check(force=True)
        return self._snapshot

    # -- the old loader's API (the EnsembleManager calls these) ------------------------------

    @property
    def calibration_loaded(self) -> bool:
        """Whether a config version is live (False: identity map, no config)."""
        return self._snapshot.version is not None

    @property
    def version(self) -> str | None:
        """The live config version, or None."""
        return self._snapshot.version

    @property
    def based_on_trades(self) -> int | None:
        """How many trades the live version was fitted on, when its provenance says."""
        return self._snapshot.based_on_trades

    def get_calibrator(self) -> ConsensusCalibrator:
        """Return a consensus multiplier adapter bound to this loader (see `get_calibrator`)."""
        from calibration_core.runtime.host import ConsensusCalibrator  # noqa: PLC0415 - a cycle

        return ConsensusCalibrator(self)

    def get_status(self) -> dict[str, Any]:
        """Return the old loader's status dict, extended with :meth:`status`'s fields.

        Keys ``loaded``, ``version``, ``created_at``, ``based_on_trades``,
        ``confidence_enabled``, ``weights_override``, ``config_path`` and
        ``config_exists`` mean what they meant in the old loader; every field of
        :class:`LoaderStatus` follows. Never raises.
        """
        snap = self._snapshot
        status = self.status().as_dict()
        try:
            exists = Path(self._path).is_file()
        except OSError:
            exists = False
        return {
            "loaded": snap.version is not None,
            "version": snap.version,
            "created_at": snap.created_at,
            "based_on_trades": snap.based_on_trades,
            "confidence_enabled": snap.calibration_enabled,
            "weights_override": snap.weights_enabled,
            "config_path": self._path,
            "config_exists": exists,
            **{k: v for k, v in status.items() if k != "version"},
        }

    def status(self) -> LoaderStatus:
        """Return a frozen summary of what the loader serves and has done."""
        snap = self._snapshot
        counters = self._counters
        return LoaderStatus(
            version=snap.version,
            loaded_at=snap.loaded_at,
            source=self._path,
            digest=snap.digest,
            last_error=self._last_error,
            attempts=self._attempts,
            succeeded=self._succeeded,
            rejected=self._rejected,
            skipped=self._skipped,
            events=self._events,
            nan_inputs=counters.nan_inputs,
            invalid_inputs=counters.invalid_inputs,
            watching=self._watching,
            observer=self._observer_name if self._watching == "watchdog" else None,
            fallback_reason=self._fallback_reason,
            running=self.running,
        )

    def __repr__(self) -> str:
        """Name the path, version and watch mode."""
        return (
            f"CalibrationLoader({self._path!r}, version={self._snapshot.version!r}, "
            f"watching={self._watching!r})"
        )

    def _after_fork_in_child(self) -> None:
        """Forget the parent's threads and locks in a forked child (see :func:`_after_fork`).

        Threads do not survive fork(), and a lock another parent thread held at the
        fork stays held forever in the child. The observer is dropped, not stopped:
        stopping it would remove the inotify watches the child shares with the parent.
        """
        self._reload_lock = threading.Lock()
        self._lifecycle_lock = threading.RLock()
        self._wake = threading.Condition(threading.Lock())
        self._pending = False
        self._stopping = False
        self._worker = None
        self._observer = None
        self._watching = "none"

    # -- watching ---------------------------------------------------------------------------

    def _start_observer(self) -> None:
        # Taken before the watch is placed: a directory replaced in between differs
        # from it, and the next poll re-arms.
        identity = files.directory_identity(self._dir)
        try:
            observer = files.start_observer(
                self._dir,
                self._name,
                lambda event: self._on_event(event),  # noqa: PLW0108 - looked up per event
                inotify=self._watch == "inotify",
            )
        except Exception as exc:  # noqa: BLE001 - any failure means "poll instead"
            self._fallback_reason = f"{type(exc).__name__}: {exc}"
            # A missing directory is waited for and the watch re-armed when it appears;
            # other failures (inotify limits) keep polling.
            self._rearm = files.directory_identity(self._dir) is None
            self._watching = WATCHING_DIRECTORY_GONE if self._rearm else "poll"
            self._observer_name = None
            logger.warning(
                "[CalibrationLoader] ⚠️ file watcher could not start (%s); "
                "falling back to polling %s every %.3g s",
                self._fallback_reason,
                self._path,
                self._poll_interval,
            )
            return
        self._observer = observer
        self._observer_name = type(observer).__name__
        self._fallback_reason = None
        self._dir_identity = identity
        self._rearm = False
        self._watching = "watchdog"

    def _watch_lost(self, why: str) -> None:
        """Record that the directory watch is dead (its directory went away); poll meanwhile."""
        if self._watching != "watchdog":
            return
        self._watching = WATCHING_DIRECTORY_GONE
        self._fallback_reason = f"config directory {self._dir} {why}"
        self._rearm = True
        logger.warning(
            "[CalibrationLoader] ⚠️ config directory %s %s: the file watch is lost; "
            "polling %s every %.3g s and re-arming the watch when the directory is back",
            self._dir,
            why,
            self._path,
            self._poll_interval,
        )
        self._notify()

    def _check_watch(self) -> None:
        """At each poll: notice a lost or stale directory watch, and re-arm it when possible.

        A watch on a directory that was removed (or renamed away and replaced) is
        dead: inotify follows the old inode. The directory's (device, inode) is
        compared with the one the watch was placed on.
        """
        if self._watch not in ("auto", "inotify") or self._stopping:
            return
        identity = files.directory_identity(self._dir)
        if self._watching == "watchdog":
            if identity == self._dir_identity:
                return
            if identity is None:
                self._watch_lost("is gone")
                return
            self._watch_lost("was replaced")
        if not self._rearm or identity is None:
            return
        # Never wait for the lifecycle lock here: stop() holds it while it joins this
        # worker. A busy lock means start/stop is under way; the next poll retries.
        if not self._lifecycle_lock.acquire(blocking=False):
            return
        try:
            if self._stopping or self._worker is None:
                return
            old, self._observer = self._observer, None
            if old is not None:
                files.stop_observer(old)
            self._start_observer()
        finally:
            self._lifecycle_lock.release()
        if self._watching == "watchdog":
            logger.info(
                "[CalibrationLoader] ✅ config directory %s is back: file watch re-armed (%s)",
                self._dir,
                self._observer_name,
            )
            self._notify()  # the file may have arrived with the directory

    def _on_event(self, event: object) -> None:
        """Handle one watchdog event that may concern the config: reload now, or flag the worker."""
        event_type = getattr(event, "event_type", None)
        if event_type not in files.RELEVANT_EVENTS:
            return
        names = self._trigger_names
        src = getattr(event, "src_path", "") or ""
        dest = getattr(event, "dest_path", "") or ""
        sep = os.sep
        if event_type in {"deleted", "moved"} and os.fsdecode(src).rstrip(sep) == self._dir:
            # The watched directory itself went away: watchdog's emitter stops after this.
            self._watch_lost("is gone" if event_type == "deleted" else "was moved away")
            return
        if os.fsdecode(src).rpartition(sep)[2] not in names and (
            not dest or os.fsdecode(dest).rpartition(sep)[2] not in names
        ):
            return
        self._events += 1
        if not self._reload_on_dispatch():
            self._notify()

    def _reload_on_dispatch(self) -> bool:
        """Reload on watchdog's dispatch thread, at once; False leaves it to the worker.

        A hand-off to the worker would wait for the GIL once more on a busy host, so
        the leading edge of a burst is read, validated and published right here. The
        worker keeps the rest: an event inside the debounce window, or one that finds
        a reload under way (the lock is only tried, so watchdog's thread never waits),
        becomes its coalesced re-check. Not running (``watch="none"``, stopping):
        the worker's flag is set as before.
        """
        if self._worker is None or self._stopping:
            return False
        if time.monotonic() - self._last_event_check < self._debounce:
            return False
        if not self._reload_lock.acquire(blocking=False):
            return False
        try:
            self._check_locked(force=True)
            self._last_event_check = time.monotonic()
        finally:
            self._reload_lock.release()
        return True

    def _notify(self) -> None:
        with self._wake:
            self._pending = True
            self._wake.notify()

    def _run(self) -> None:
        poll = self._poll_interval
        next_poll = time.monotonic() + poll
        while True:
            try:
                pending = self._wait_for_work(next_poll)
                if pending is None:
                    return
                if pending:
                    # Leading edge: a quiet loader checks at once; inside a burst the
                    # next check waits until `debounce` after the previous one.
                    delay = self._last_event_check + self._debounce - time.monotonic()
                    if delay > 0 and self._sleep_unless_stopped(delay):
                        return
                    with self._wake:
                        # Cleared before reading, so an event during the read is not lost.
                        self._pending = False
                    self._check(force=True)
                    self._last_event_check = time.monotonic()
                if time.monotonic() >= next_poll:
                    self._check_watch()
                    self._check(force=False)
                    next_poll = time.monotonic() + poll
            except Exception:
                # The worker must outlive any bug; back off so a persistent one cannot spin.
                logger.exception("[CalibrationLoader] unexpected error in the reload worker")
                if self._sleep_unless_stopped(min(poll, 1.0)):
                    return

    def _wait_for_work(self, next_poll: float) -> bool | None:
        """Block until an event, the next poll or stop; None means stop."""
        with self._wake:
            while not self._pending and not self._stopping:
                remaining = next_poll - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
            return None if self._stopping else self._pending

    def _sleep_unless_stopped(self, seconds: float) -> bool:
        """Wait ``seconds``; True if the loader was stopped meanwhile."""
        with self._wake:
            return self._wake.wait_for(lambda: self._stopping, seconds)

    # -- reloading ----------------------------------------------------------------------------

    def _check(self, *, force: bool) -> None:
        """Look at the file and swap in a new snapshot if it holds a new valid version.

        ``force`` (events, start, reload()) always hashes the content; a poll
        trusts an unchanged stat() identity unless it was racy.
        """
        with self._reload_lock:
            self._check_locked(force=force)

    def _check_locked(self, *, force: bool) -> None:
        """:meth:`_check` for a caller that holds the reload lock; never raises."""
        try:
            if force or self._changed_on_disk():
                self._read_and_consider()
        except Exception as exc:  # never raise into the host, the worker or watchdog
            self._last_error = f"internal error: {type(exc).__name__}: {exc}"
            logger.exception("[CalibrationLoader] unexpected error while checking %s", self._path)

    def _changed_on_disk(self) -> bool:
        """Cheap poll test: stat() the path and compare its identity with the last read."""
        try:
            state = files.FileState.of(Path(self._path).stat())
        except FileNotFoundError:
            self._on_missing()
            return False
        except OSError:
            return True  # let the read report it
        return state != self._seen_state or self._racy

    def _read_and_consider(self) -> None:
        """Open and read the file, or record why that failed; consider what was read."""
        fd: int | None = None
        try:
            fd = files.open_config(self._path)
            data, state = files.read_open(fd, self._max_bytes)
        except files.Rejected as exc:
            self._reject(str(exc), exc.state, None)
        except OSError as exc:
            if fd is None and isinstance(exc, FileNotFoundError):
                self._on_missing()
            else:
                reason = f"cannot read the file ({exc.strerror or exc})"
                self._reject(reason, files.stat_or_none(self._path), None)
        else:
            self._missing = False
            self._racy = state.racy()
            self._consider(data, state)
        finally:
            # Closed after the publish: the close is not on the reload's path.
            if fd is not None:
                os.close(fd)

    def _consider(self, data: bytes, state: files.FileState) -> None:
        """Skip unchanged content, reject an invalid document, or publish a new snapshot."""
        digest = files.digest(data)
        if digest == self._seen_digest:
            self._seen_state = state
            self._skipped += 1
            return
        self._attempts += 1
        try:
            snapshot = snapshot_from_bytes(
                data,
                digest=digest,
                source=self._path,
                loaded_at=time.time(),
                default_weights=self._default_weights,
                counters=self._counters,
            )
        except ConfigRejectedError as exc:
            self._reject(str(exc), state, digest)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on absurd nesting
            self._reject(f"config rejected: {type(exc).__name__}: {exc}", state, digest)
            return
        self._publish(snapshot)
        self._seen_state = state
        self._seen_digest = digest
        self._succeeded += 1
        self._last_error = None
        self._log_loaded(snapshot)
        if snapshot.legacy:
            self._log_legacy(snapshot)

    def _log_legacy(self, snapshot: Snapshot) -> None:
        logger.info(
            "[CalibrationLoader]    Legacy config %s (written by the old deployer, created %s, "
            "based on %s trades): served as the old loader did, clipped to ±0.15 beyond its "
            "keys; approve a calibration to replace it",
            snapshot.version,
            snapshot.created_at,
            "?" if snapshot.based_on_trades is None else snapshot.based_on_trades,
        )

    def _publish(self, snapshot: Snapshot) -> None:
        # The one write readers can observe: a single reference swap.
        self._snapshot = snapshot
        listener = _publish_listener
        if listener is not None:
            listener(self, snapshot)

    def _log_loaded(self, snapshot: Snapshot) -> None:
        # The checklist's three lines (phase 4.1) ...
        logger.info("[CalibrationLoader] ✅ Loaded config version: %s", snapshot.version)
        logger.info(
            "[CalibrationLoader] Confidence calibration: %s",
            "enabled" if snapshot.calibration_enabled else "disabled",
        )
        count = len(snapshot.weights) if snapshot.weights_enabled else 0
        logger.info("[CalibrationLoader] Ensemble weights: %d models", count)
        # ... and the old loader's four, which operators' grep already looks for.
        logger.info("[CalibrationLoader] ✅ Loaded calibration: %s", snapshot.version)
        trades = snapshot.based_on_trades
        logger.info(
            "[CalibrationLoader]    Based on %s trades",
            "an unrecorded number of" if trades is None else trades,
        )
        logger.info(
            "[CalibrationLoader]    Confidence calibration: %s",
            "✅ ENABLED" if snapshot.calibration_enabled else "⏸ DISABLED",
        )
        logger.info(
            "[CalibrationLoader]    Ensemble weights: %s",
            "✅ OVERRIDE" if snapshot.weights_enabled else "⏸ BASELINE",
        )

    def _reject(self, reason: str, state: files.FileState | None, digest: str | None) -> None:
        if digest is None:
            # A file that could not be read (too big, not a regular file, unreadable) is
            # remembered by its stat() identity: polls skip it until it changes, and a
            # forced check of the same file counts it as skipped, not as a new rejection.
            # Without an identity (stat() fails too) every poll retries it, quietly.
            self._missing = False
            self._racy = False
            if (
                state == self._seen_state
                and self._seen_digest is None
                and reason == self._last_error
            ):
                self._skipped += 1
                return
            self._attempts += 1
            self._seen_state = state
            self._seen_digest = None
        else:
            self._seen_state = state
            self._seen_digest = digest
        self._rejected += 1
        self._last_error = reason
        self._missing = False
        logger.warning(
            "[CalibrationLoader] ❌ Rejected %s: %s; still serving version %s",
            self._path,
            reason,
            self._snapshot.version or "none (identity calibration, default weights)",
        )

    def _on_missing(self) -> None:
        self._seen_state = None
        self._seen_digest = None
        self._racy = False
        if self._missing:
            return
        self._missing = True
        self._last_error = f"config file not found: {self._path}"
        if self._snapshot.version is None:
            logger.warning(
                "[CalibrationLoader] No config at %s: serving identity calibration and "
                "the default ensemble weights until one is deployed",
                self._path,
            )
        else:
            logger.warning(
                "[CalibrationLoader] Config %s disappeared: still serving version %s",
                self._path,
                self._snapshot.version,
            )


# Every loader of this process, so that a forked child can reset their threads and locks.
_loaders: weakref.WeakSet[CalibrationLoader] = weakref.WeakSet()
_publish_listener: Callable[[CalibrationLoader, Snapshot], None] | None = None


def listen_for_publish(listener: Callable[[CalibrationLoader, Snapshot], None] | None) -> None:
    """Have ``listener(loader, snapshot)`` called after any loader publishes a new snapshot.

    The host API (``host.py``) uses it to follow its default loader; it is called on the
    reloading thread, under that loader's reload lock, and must not raise.

    Parameters
    ----------
    listener : callable or None
        The one listener (None: none).
    """
    global _publish_listener  # noqa: PLW0603 - one listener for the process
    _publish_listener = listener


def _after_fork() -> None:
    """In a forked child, give every loader fresh locks and mark it not running.

    Only the forking thread survives fork(), so every loader's worker and observer are
    gone and any lock they held at the fork would stay held. A loader keeps serving its
    last snapshot until its owner calls ``start()`` again (the host API restarts its own
    default loader: its fork hook is registered after this one, so it runs after it).
    """
    try:
        loaders = list(_loaders)
    except Exception:  # noqa: BLE001 - the set was being changed at the fork: start afresh
        loaders = []
    for loader in loaders:
        with contextlib.suppress(Exception):
            loader._after_fork_in_child()  # noqa: SLF001 - the module's own bookkeeping


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork()
    os.register_at_fork(after_in_child=_after_fork)
