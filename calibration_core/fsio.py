"""Durable file writes: temp file in the same directory, fsync, os.replace, fsync dir."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DISK_FULL_ERRNOS",
    "TEMP_PREFIX",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_directory",
    "remove_stale_temp_files",
]

TEMP_PREFIX = ".tmp-calibration-"
"""Prefix of every temp file we create, so stale ones can be recognised and removed."""

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""errnos that mean "no room to write": disk full, quota, or file-size limit."""


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
