"""Resolve the file locations from the environment, with defaults that work in a checkout."""

from __future__ import annotations

import os
from pathlib import Path

import attrs

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_DATA_PATH",
    "DEFAULT_REPORT_DIR",
    "ENV_CADENCE_API",
    "ENV_CONFIG_PATH",
    "ENV_DATA_PATH",
    "ENV_RECORDER_STORAGE",
    "ENV_REPORT_DIR",
    "Paths",
    "resolve_paths",
]

ENV_CONFIG_PATH = "CALIBRATION_CONFIG_PATH"
ENV_DATA_PATH = "CLM_DATA_PATH"
# The production recorder's own variable; used when CLM_DATA_PATH is not set.
ENV_RECORDER_STORAGE = "SIMPLE_CLM_STORAGE"
ENV_REPORT_DIR = "CALIBRATION_REPORT_DIR"
ENV_CADENCE_API = "LEARNING_CADENCE_API"

DEFAULT_DATA_PATH = Path("data/clm_trades.jsonl")
DEFAULT_CONFIG_PATH = Path("config/calibration.json")
DEFAULT_REPORT_DIR = Path("reports")

ARCHIVE_DIR_NAME = "calibration_archive"
SENTINEL_NAME = ".calibration_reload"
LOCK_NAME = ".calibration.lock"


@attrs.frozen
class Paths:
    """Every location a job touches, derived from four settings."""

    data: Path
    config: Path
    report_dir: Path
    cadence_api: str | None

    @property
    def config_dir(self) -> Path:
        """Directory holding the live config, its archive, lock and sentinel."""
        return self.config.parent

    @property
    def archive_dir(self) -> Path:
        """Version archive: every config that was ever live, plus the audit trail."""
        return self.config_dir / ARCHIVE_DIR_NAME

    @property
    def audit_log(self) -> Path:
        """Append-only audit trail of deploys, rollbacks and aborts."""
        return self.archive_dir / "audit.jsonl"

    @property
    def sentinel(self) -> Path:
        """File touched after every deploy so that loaders reload."""
        return self.config_dir / SENTINEL_NAME

    @property
    def lock(self) -> Path:
        """Dedicated lock file serialising approve/rollback."""
        return self.config_dir / LOCK_NAME

    @property
    def jobs_dir(self) -> Path:
        """Job records (proposals); outside the config directory on purpose."""
        return self.report_dir / "jobs"


def resolve_paths(
    *,
    data: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    report_dir: str | os.PathLike[str] | None = None,
    cadence_api: str | None = None,
    environ: dict[str, str] | None = None,
) -> Paths:
    """Resolve paths: explicit flags win, then the environment, then the defaults.

    The trades file falls back to ``SIMPLE_CLM_STORAGE`` (the recorder's own
    variable) when ``CLM_DATA_PATH`` is not set.

    Parameters
    ----------
    data, config, report_dir : path-like, optional
        Command-line overrides.
    cadence_api : str, optional
        Learning Cadence API base URL override.
    environ : dict, optional
        Environment to read (``os.environ`` by default).

    Returns
    -------
    Paths
    """
    env = os.environ if environ is None else environ

    def pick(flag: str | os.PathLike[str] | None, name: str, default: Path) -> Path:
        if flag is not None:
            return Path(flag)
        value = env.get(name, "").strip()
        return Path(value) if value else default

    api = cadence_api if cadence_api is not None else env.get(ENV_CADENCE_API, "").strip()
    return Paths(
        data=pick(data, ENV_DATA_PATH, pick(None, ENV_RECORDER_STORAGE, DEFAULT_DATA_PATH)),
        config=pick(config, ENV_CONFIG_PATH, DEFAULT_CONFIG_PATH),
        report_dir=pick(report_dir, ENV_REPORT_DIR, DEFAULT_REPORT_DIR),
        cadence_api=api.rstrip("/") or None,
    )
