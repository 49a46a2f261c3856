"""The deployer's file primitives: reads that refuse symlinks and FIFOs, writes that map errors."""

# A read never follows a symlink planted in the archive and never blocks on a FIFO;
# every OSError becomes a one-line DeploymentError that names the file and the action.

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from calibration_core.config import MAX_CONFIG_BYTES
from calibration_core.exceptions import DeploymentError, JobRefusedError
from calibration_core.fsio import DISK_FULL_ERRNOS, atomic_write_bytes

if TYPE_CHECKING:
    from pathlib import Path

    from calibration_core.exceptions import CalibrationError

__all__: list[str] = []


def _os_error(exc: OSError, action: str, path: Path) -> DeploymentError:
    if exc.errno in DISK_FULL_ERRNOS:
        return DeploymentError(
            f"disk full or file size limit while writing {path} ({exc.strerror})"
        )
    if exc.errno == errno.ELOOP:
        return DeploymentError(f"refusing to {action} {path}: it is a symlink")
    return DeploymentError(f"cannot {action} {path}: {exc.strerror or exc}")


def _write(path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data, mode=0o644)
    except OSError as exc:
        raise _os_error(exc, "write", path) from None


def _is_regular(fd: int) -> bool:
    # True for a regular file; otherwise the descriptor is closed here.
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
    return regular


def _read_file(
    path: Path,
    *,
    action: str,
    not_regular: CalibrationError,
    follow: bool = False,
    symlink: CalibrationError | None = None,
    limit: int | None = None,
    max_bytes: int = -1,
) -> bytes | None:
    # O_NOFOLLOW (unless ``follow``): a symlink planted in the archive is refused, never
    # followed; O_NONBLOCK: a planted FIFO cannot make us hang. None when there is no file.
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if symlink is not None and exc.errno == errno.ELOOP:
            raise symlink from None
        raise _os_error(exc, action, path) from None
    # fstat the raw descriptor first: a directory must be refused, not read (EISDIR).
    if not _is_regular(fd):
        raise not_regular
    try:
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if limit is not None and size > limit:
                raise DeploymentError(f"live config {path} is {size} bytes; move it aside by hand")
            return handle.read(max_bytes)
    except OSError as exc:
        raise _os_error(exc, action, path) from None


def _read_regular(path: Path, *, what: str) -> bytes | None:
    return _read_file(
        path,
        action=f"read {what}",
        not_regular=JobRefusedError(f"refusing {what} {path}: not a regular file"),
        symlink=JobRefusedError(f"refusing {what} {path}: it is a symlink"),
        max_bytes=MAX_CONFIG_BYTES + 1,
    )


def _unique_path(directory: Path, stem: str, suffix: str) -> Path:
    candidate = directory / f"{stem}{suffix}"
    number = 2
    while os.path.lexists(candidate):
        candidate = directory / f"{stem}_{number}{suffix}"
        number += 1
    return candidate
