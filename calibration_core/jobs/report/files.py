"""The files of a job's report: where they go, and writing them all or none."""

# Shell module: the only part of the report that touches the disk.

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import attrs

from calibration_core.exceptions import OutputWriteError
from calibration_core.fsio import DISK_FULL_ERRNOS, atomic_write_bytes

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "ReportPaths",
    "output_error",
    "remove_outputs",
    "report_paths",
    "write_outputs",
    "write_report",
]


@attrs.frozen
class ReportPaths:
    """Where the three files of one job's report go."""

    markdown: Path
    json: Path
    picture: Path


def report_paths(report_dir: Path, job_id: str) -> ReportPaths:
    """Return ``calibration_<job_id>.md``, ``.json`` and ``_reliability.png`` in ``report_dir``."""
    return ReportPaths(
        markdown=report_dir / f"calibration_{job_id}.md",
        json=report_dir / f"calibration_{job_id}.json",
        picture=report_dir / f"calibration_{job_id}_reliability.png",
    )


def write_report(
    paths: ReportPaths, markdown: str, json_text: str, picture: bytes | None = None
) -> None:
    """Write the report files atomically (directory created when missing).

    Parameters
    ----------
    paths : ReportPaths
        Destinations.
    markdown, json_text : str
        Rendered report and JSON export.
    picture : bytes or None
        PNG of the reliability diagram, if one was drawn.
    """
    files = [(paths.json, json_text.encode("utf-8")), (paths.markdown, markdown.encode("utf-8"))]
    if picture is not None:
        files.insert(0, (paths.picture, picture))
    write_outputs(files)


def output_error(exc: OSError, path: Path) -> OutputWriteError:
    """Turn an OSError met while writing ``path`` into a one-line `OutputWriteError`.

    Parameters
    ----------
    exc : OSError
        What the write raised.
    path : Path
        The file (or directory) being written.

    Returns
    -------
    OutputWriteError
        ``disk full or file size limit while writing <path> (<reason>)`` or
        ``cannot write <path>: <reason>``.
    """
    reason = exc.strerror or str(exc)
    if exc.errno in DISK_FULL_ERRNOS:
        return OutputWriteError(f"disk full or file size limit while writing {path} ({reason})")
    return OutputWriteError(f"cannot write {path}: {reason} (nothing was written)")


def remove_outputs(paths: Sequence[Path]) -> None:
    """Remove files a failed job wrote, ignoring those that are not there.

    Parameters
    ----------
    paths : sequence of Path
        Files named after the failed job, so no other job owns them.
    """
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def write_outputs(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write each file atomically, all of them or none.

    Parameters
    ----------
    files : sequence of (Path, bytes)
        Destinations (their directories are created when missing) and contents.

    Raises
    ------
    OutputWriteError
        When a directory or a file cannot be written (a full disk, a file-size
        limit, a directory the user may not write, a path under a regular
        file). The files already written by this call are removed first.
    """
    written: list[Path] = []
    try:
        for target, data in files:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, data)
            except OSError as exc:
                raise output_error(exc, target) from None
            written.append(target)
    except BaseException:
        remove_outputs(written)
        raise
