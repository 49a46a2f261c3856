"""Durable file writes: temp file in the same directory, fsync, os.replace, fsync dir."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DISK_FULL_ERRNOS",
    "MAX_LINE_BYTES",
    "TEMP_PREFIX",
    "NotRegularFileError",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_directory",
    "open_regular_file",
    "read_regular_file",
    "remove_stale_temp_files",
]

TEMP_PREFIX = ".tmp-calibration-"
"""Prefix of every temp file we create, so stale ones can be recognised and removed."""

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""errnos that mean "no room to write": disk full, quota, or file-size limit."""


MAX_LINE_BYTES = 1 << 20
"""The longest line (without its newline) the trades and signals readers accept: 1 MiB."""

_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


class NotRegularFileError(OSError):
    """Raised by `open_regular_file` for a FIFO, device, socket or directory.

    ``kind`` names what the path is instead ("a FIFO", "a directory", ...).
    """

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(errno.EINVAL, f"not a regular file (it is {kind})", str(path))
        self.kind = kind


def open_regular_file(path: Path) -> tuple[int, int]:
    """Open a regular file for reading without ever blocking, and snapshot its size.

    The file is opened with ``O_NONBLOCK`` (a FIFO planted at the path must not
    hang ``open()`` until a writer appears), then ``fstat`` refuses anything
    that is not a regular file (a FIFO, ``/dev/zero``, a socket, a directory).

    Parameters
    ----------
    path : Path
        The file to read.

    Returns
    -------
    fd : int
        An open descriptor; the caller closes it.
    size : int
        The file's size when it was opened. Readers read up to this size only,
        so a file that grows while it is read is read as it was, and the rest
        is left for the next run.

    Raises
    ------
    NotRegularFileError
        If ``path`` is not a regular file (symlinks are followed).
    OSError
        From ``open`` (missing file, permission denied, ...).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a file")
        raise NotRegularFileError(path, kind)
    return fd, info.st_size


def read_regular_file(path: Path) -> bytes:
    """Read a whole regular file as it was when opened (see `open_regular_file`).

    Parameters
    ----------
    path : Path
        The file to read.

    Returns
    -------
    bytes
        At most the size the file had when it was opened.

    Raises
    ------
    NotRegularFileError, OSError
        As `open_regular_file`, or from reading.
    """
    fd, size = open_regular_file(path)
    chunks: list[bytes] = []
    try:
        remaining = size
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:  # the file shrank while it was read
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def fsync_directory(directory: Path) -> None:
    """Flush a directory entry to disk.

    Parameters
    ----------
    directory : Path
        The directory whose entries (a rename, a new file) must survive a power cut.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o644,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a mix.

    Parameters
    ----------
    path : Path
        Destination file; its directory must exist.
    data : bytes
        The complete new content.
    mode : int, optional
        Permission bits of the new file. ``mkstemp`` creates 0600, which the
        EnsembleManager's user could not read, so the mode is set explicitly.
    before_replace : callable, optional
        Called after the temp file is durable and before the rename; the
        deployer's crash tests kill the process here.

    Raises
    ------
    OSError
        From the underlying calls; the destination is then untouched and the
        temp file is removed.
    """
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".json", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            # fsync the file before the rename, or a crash can leave an empty file behind the name.
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace()
        tmp.replace(path)  # os.replace: atomic within one filesystem
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    # fsync the directory, or the rename may not survive a power cut.
    fsync_directory(directory)


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Delete temp files that a killed writer left in ``directory``.

    Only call this while holding the deploy lock: then no live writer owns
    them. Returns the paths removed.
    """
    removed: list[Path] = []
    with contextlib.suppress(FileNotFoundError):
        for entry in directory.iterdir():
            if entry.name.startswith(TEMP_PREFIX) and entry.is_file() and not entry.is_symlink():
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                    removed.append(entry)
    return removed
