"""The deploy lock, and the test-only checkpoints where the crash tests kill a deploy."""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import signal
import time
from typing import TYPE_CHECKING

from calibration_core.deploy.files import _os_error
from calibration_core.exceptions import DeploymentError, InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from calibration_core.settings import Paths

__all__ = ["CHECKPOINTS", "DEFAULT_LOCK_TIMEOUT", "KILL_AT_ENV"]

KILL_AT_ENV = "CALIBRATION_CORE_TEST_KILL_AT"
"""TEST-ONLY fault injection: naming a checkpoint here makes the process SIGKILL itself there."""

CHECKPOINTS = (
    "after_lock",
    "after_backup",
    "after_archive_new",
    "after_tempfile_written",
    "after_replace",
    "after_sentinel",
    "after_audit",
    "after_job_mark",
)
"""Every step boundary of approve (rollback passes all but after_archive_new and after_job_mark)."""

DEFAULT_LOCK_TIMEOUT = 30.0
"""Seconds approve/rollback/abort wait for another holder of the deploy lock."""


def _checkpoint(name: str) -> None:
    # TEST-ONLY fault injection for the crash-consistency tests: with
    # CALIBRATION_CORE_TEST_KILL_AT=<name> the process dies here as if power-cut.
    # It costs one environment lookup per step and is never set in production.
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _lock_is_held(paths: Paths) -> bool:
    try:
        fd = os.open(paths.lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        # A shared probe conflicts only with an exclusive holder and is dropped at once.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextlib.contextmanager
def _deploy_lock(paths: Paths, timeout: float) -> Iterator[None]:
    # A NaN deadline never passes (every comparison is False): the wait would never end.
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout < 0
    ):
        raise InvalidInputError(
            f"lock_timeout must be a finite number of seconds >= 0 (got {timeout!r})"
        )
    try:
        fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise _os_error(exc, "open the lock file", paths.lock) from None
    try:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DeploymentError(
                        f"another approve/rollback holds the lock {paths.lock} "
                        f"(waited {timeout:g} s); nothing was changed"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        yield
    finally:
        # Closing the descriptor releases the flock; a killed holder releases it too.
        os.close(fd)
