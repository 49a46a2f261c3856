"""Resolve the file locations (flag, then environment, then default) to absolute paths."""

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
    "ENV_SIGNALS_PATH",
    "ORIGIN_DEFAULT",
    "ORIGIN_ENV",
    "ORIGIN_FLAG",
    "PATH_SETTINGS",
    "Paths",
    "resolve_paths",
]

ENV_CONFIG_PATH = "CALIBRATION_CONFIG_PATH"
ENV_DATA_PATH = "CLM_DATA_PATH"
# The production recorder's own variable; used when CLM_DATA_PATH is not set.
ENV_RECORDER_STORAGE = "SIMPLE_CLM_STORAGE"
ENV_REPORT_DIR = "CALIBRATION_REPORT_DIR"
ENV_CADENCE_API = "LEARNING_CADENCE_API"
# The optional signals log that `monitor` reads (no default: without it the HOLD rate is skipped).
ENV_SIGNALS_PATH = "CALIBRATION_SIGNALS_PATH"

DEFAULT_DATA_PATH = Path("data/clm_trades.jsonl")
DEFAULT_CONFIG_PATH = Path("config/calibration.json")
DEFAULT_REPORT_DIR = Path("reports")

ORIGIN_FLAG = "flag"
ORIGIN_ENV = "env"
ORIGIN_DEFAULT = "default"

PATH_SETTINGS: dict[str, tuple[str, str, str]] = {
    # setting: (label printed to the operator, environment variable, command-line flag)
    "data": ("trades", ENV_DATA_PATH, "--data"),
    "config": ("config", ENV_CONFIG_PATH, "--config"),
    "report_dir": ("reports", ENV_REPORT_DIR, "--report-dir"),
    "cadence_api": ("cadence API", ENV_CADENCE_API, "--cadence-api"),
}

ARCHIVE_DIR_NAME = "calibration_archive"
SENTINEL_NAME = ".calibration_reload"
LOCK_NAME = ".calibration.lock"


@attrs.frozen
class Paths:
    """Every location a job touches, derived from four settings.

    ``origins`` says where each setting came from (``flag``, ``env`` or
    ``default``), so that a job can tell the operator when a path is a default.
    """

    data: Path
    config: Path
    report_dir: Path
    cadence_api: str | None
    origins: tuple[tuple[str, str], ...] = ()

    def origin(self, setting: str) -> str:
        """Return where ``setting`` came from: ``flag``, ``env`` or ``default``."""
        return dict(self.origins).get(setting, ORIGIN_FLAG).split(":", 1)[0]

    def origin_note(self, setting: str) -> str:
        """Return ``(default; set VAR)``, ``(from VAR)`` or ``(from --flag)`` for ``setting``."""
        _, variable, flag = PATH_SETTINGS[setting]
        origin = dict(self.origins).get(setting, ORIGIN_FLAG)
        if origin == ORIGIN_DEFAULT:
            return f"(default; set {variable})"
        if origin.startswith(ORIGIN_ENV):
            return f"(from {origin.partition(':')[2] or variable})"
        return f"(from {flag})"

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

    Every path is made absolute against the working directory at this moment, so
    that what a job prints (and the commands it suggests) work from any directory.

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
        Absolute paths, with where each setting came from.
    """
    env = os.environ if environ is None else environ
    origins: dict[str, str] = {}

    def pick(setting: str, flag: str | os.PathLike[str] | None, name: str, default: Path) -> Path:
        # The trades file falls back to the recorder's own variable before the default.
        names = [name, ENV_RECORDER_STORAGE] if setting == "data" else [name]
        found = next(((n, v) for n in names if (v := env.get(n, "").strip())), None)
        if flag is not None:
            origins[setting], chosen = ORIGIN_FLAG, Path(flag)
        elif found is not None:
            # "env" or "env:<NAME>" when a fallback variable supplied it.
            origins[setting] = ORIGIN_ENV if found[0] == name else f"{ORIGIN_ENV}:{found[0]}"
            chosen = Path(found[1])
        else:
            origins[setting], chosen = ORIGIN_DEFAULT, default
        return chosen.absolute()

    if cadence_api is not None:
        api, origins["cadence_api"] = cadence_api, ORIGIN_FLAG
    else:
        api = env.get(ENV_CADENCE_API, "").strip()
        origins["cadence_api"] = ORIGIN_ENV if api else ORIGIN_DEFAULT
    return Paths(
        data=pick("data", data, ENV_DATA_PATH, DEFAULT_DATA_PATH),
        config=pick("config", config, ENV_CONFIG_PATH, DEFAULT_CONFIG_PATH),
        report_dir=pick("report_dir", report_dir, ENV_REPORT_DIR, DEFAULT_REPORT_DIR),
        cadence_api=api.rstrip("/") or None,
        origins=tuple(sorted(origins.items())),
    )
