"""The loader's side of the disk: a config file's identity, one read, its digest, and watchdog."""

# Shell module: os, stat, hashlib, time and (lazily) watchdog. The loader (loader.py)
# decides when to look; these functions say what is there, without deciding anything.

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from calibration_core.runtime.snapshot import LOGGER_NAME

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "JOIN_TIMEOUT",
    "RELEVANT_EVENTS",
    "FileState",
    "Rejected",
    "absolute_or_given",
    "digest",
    "directory_identity",
    "event_filter",
    "make_handler",
    "open_config",
    "read_open",
    "start_observer",
    "stat_or_none",
    "stop_observer",
]

# A file whose mtime is this close to "now" may still change within the same mtime
# tick without changing its identity (the "racily clean" problem git documents), so
# the next poll hashes its content instead of trusting stat().
_RACY_WINDOW_NS: Final = 2_000_000_000
_READ_CHUNK: Final = 65_536
# Below CPython's HASHLIB_GIL_MINSIZE (2048): an update this small keeps the GIL.
_HASH_PIECE: Final = 2_047
JOIN_TIMEOUT: Final = 10.0
"""Seconds to wait for a thread (the worker, the observer) to stop."""
# Event types that can mean "the config (or what it points to) changed". Opened and
# closed-without-write are left out on purpose: our own reads produce them.
RELEVANT_EVENTS: Final = frozenset({"moved", "created", "modified", "closed", "deleted", "attrib"})
# Observer thread wake-up period: it bounds how long stop() waits for watchdog.
_OBSERVER_TIMEOUT: Final = 0.2

logger = logging.getLogger(LOGGER_NAME)


def absolute_or_given(path: Path) -> Path:
    """Return ``path`` made absolute, or as given when the working directory is gone."""
    try:
        return path.absolute()
    except OSError:
        return path


@attrs.frozen
class FileState:
    """Identity of a config file (device, inode, size, mtime, ctime) as stat() sees it.

    ctime is part of it because ``cp -p`` / ``rsync --inplace -t`` rewrite a file in
    place and then restore its mtime; ctime cannot be set back from user space.
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileState:
        """Return the identity that ``st`` (a stat() result) describes."""
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def racy(self) -> bool:
        """Whether it changed so recently that a rewrite could keep this identity."""
        return time.time_ns() - max(self.mtime_ns, self.ctime_ns) < _RACY_WINDOW_NS


class Rejected(Exception):  # noqa: N818 - internal signal, never escapes the loader
    """A file that exists but cannot become live; the message says why."""

    def __init__(self, reason: str, state: FileState | None = None) -> None:
        super().__init__(reason)
        self.state = state


def open_config(path: str) -> int:
    """Open the config for reading: one ``open`` syscall, following symlinks.

    O_NONBLOCK: a FIFO planted at the config path must not hang the thread in open().
    Symlinks are followed on purpose (a Kubernetes ConfigMap's config is one).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    return os.open(path, flags)


def read_open(fd: int, max_bytes: int) -> tuple[bytes, FileState]:
    """Read an open config: one ``fstat`` and, for a regular file, usually one ``read``.

    Every syscall releases the GIL, and a host whose Python threads keep the CPU busy
    makes each one wait up to ``sys.getswitchinterval()`` to get it back, so the read
    asks for the size fstat() reported plus one byte: a result of exactly that size is
    the whole file. A short read (NFS, FUSE) or a file that grew meanwhile reads on
    until end of file or the limit.
    """
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise Rejected("not a regular file", FileState.of(st))
    if st.st_size > max_bytes:
        # Refuse by size before reading a single byte of it.
        raise Rejected(
            f"file is {st.st_size} bytes, over the {max_bytes}-byte limit", FileState.of(st)
        )
    data = os.read(fd, st.st_size + 1)
    if len(data) != st.st_size:
        chunks = [data]
        total = len(data)
        while total <= max_bytes:
            chunk = os.read(fd, min(_READ_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise Rejected(f"file grew past the {max_bytes}-byte limit while being read")
        data = b"".join(chunks)
    return data, FileState.of(st)


def directory_identity(path: str) -> tuple[int, int] | None:
    """Return a directory's (device, inode), or None when it is not there."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def digest(data: bytes) -> str:
    """Return the BLAKE2b-128 hex digest of a config's content."""
    # Fed in pieces below hashlib's 2048-byte threshold, hashing never releases the GIL:
    # under a busy host, getting it back would cost a switch interval in the reload.
    hasher = hashlib.blake2b(digest_size=16)
    view = memoryview(data)
    for start in range(0, len(view), _HASH_PIECE):
        hasher.update(view[start : start + _HASH_PIECE])
    return hasher.hexdigest()


def stat_or_none(path: str) -> FileState | None:
    """Return the identity of the file at ``path``, or None when stat() fails."""
    try:
        return FileState.of(Path(path).stat())
    except OSError:
        return None


def start_observer(
    directory: str, name: str, on_event: Callable[[object], None], *, inotify: bool
) -> Any:  # noqa: ANN401 - watchdog is imported lazily
    """Start a watchdog observer of ``directory`` (not recursive) that calls ``on_event``.

    Parameters
    ----------
    directory : str
        The config's directory (a file watch goes deaf after the first rename-over).
    name : str
        The config's file name, for the observer thread's name.
    on_event : callable
        Called with every event that passes :func:`event_filter`.
    inotify : bool
        Require the inotify observer (else watchdog's native one for the platform).

    Returns
    -------
    watchdog.observers.api.BaseObserver
        The started observer.

    Raises
    ------
    Exception
        Whatever watchdog raises (inotify limits, a missing directory); an observer
        that was created is stopped first.
    """
    observer: Any = None
    try:
        # Imported here so that importing the loader does not pay for watchdog.
        from watchdog.observers import Observer  # noqa: PLC0415

        if inotify:
            from watchdog.observers.inotify import InotifyObserver  # noqa: PLC0415

            observer = InotifyObserver(timeout=_OBSERVER_TIMEOUT)
        else:
            observer = Observer(timeout=_OBSERVER_TIMEOUT)
        observer.name = f"CalibrationObserver[{name}]"
        handler = make_handler(on_event)
        try:
            observer.schedule(handler, directory, recursive=False, event_filter=event_filter())
        except TypeError:  # a watchdog without event_filter: every event type arrives
            observer.schedule(handler, directory, recursive=False)
        observer.start()
    except Exception:
        if observer is not None:
            stop_observer(observer)
        raise
    return observer


def make_handler(on_event: Callable[[object], None]) -> Any:  # noqa: ANN401 - watchdog is lazy
    """Return a watchdog handler that passes every event to ``on_event``; it never raises."""
    from watchdog.events import FileSystemEventHandler  # noqa: PLC0415

    class _ConfigDirectoryHandler(FileSystemEventHandler):
        """Forward relevant events to the loader; nothing may escape (watchdog #427)."""

        def dispatch(self, event: object) -> None:
            try:
                on_event(event)
            except BaseException:
                with contextlib.suppress(BaseException):  # even logging may not escape
                    logger.exception("[CalibrationLoader] error while handling %r", event)

    return _ConfigDirectoryHandler()


def event_filter() -> list[Any]:
    """Return the watchdog event classes the loader reacts to (see ``RELEVANT_EVENTS``).

    With this filter the inotify watch leaves out IN_OPEN and IN_CLOSE_NOWRITE, so the
    loader's own reads put no events in watchdog's queue, and the directory's
    "modified" events are dropped before they are queued: under a busy host every
    queued event costs watchdog's threads a GIL hand-off, and they delayed the next
    deploy's event. The deletion of the watched directory itself still arrives.
    """
    from watchdog import events  # noqa: PLC0415 - watchdog is imported lazily

    names = (
        "FileMovedEvent",
        "DirMovedEvent",
        "FileCreatedEvent",
        "DirCreatedEvent",
        "FileModifiedEvent",
        "FileClosedEvent",
        "FileDeletedEvent",
        "DirDeletedEvent",
        # Attribute events have classes of their own since watchdog 5; before, they
        # arrived as FileModifiedEvent.
        "FileAttribEvent",
        "DirAttribEvent",
    )
    return [getattr(events, name) for name in names if hasattr(events, name)]


def stop_observer(observer: Any) -> None:  # noqa: ANN401 - a watchdog observer
    """Stop a watchdog observer and join its thread; best effort, never raises."""
    try:
        observer.stop()
    except Exception:  # best effort: keep stopping the rest
        logger.exception("[CalibrationLoader] error while stopping the file watcher")
    try:
        if observer.is_alive() and observer is not threading.current_thread():
            observer.join(JOIN_TIMEOUT)
    except Exception:  # a never-started observer cannot be joined
        logger.debug("[CalibrationLoader] observer join failed", exc_info=True)


# -- the process-wide default loader ----------------------------------------------------------
