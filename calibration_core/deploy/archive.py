"""The config directory on disk: the live config, the version archive and its one owner."""

# Shell module: every read refuses what it must not follow or block on (a symlink
# planted in the archive, a FIFO, a directory), and every name is validated before
# it is joined to a path.

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import attrs

from calibration_core.config import (
    MAX_CONFIG_BYTES,
    CalibrationConfig,
    LegacyConfig,
    is_valid_version,
    parse_config,
)
from calibration_core.deploy.files import _read_file, _read_regular, _write
from calibration_core.deploy.jobstore import JobStore
from calibration_core.exceptions import (
    ConfigRejectedError,
    DeploymentError,
    InvalidInputError,
    JobRefusedError,
)
from calibration_core.text import escape

if TYPE_CHECKING:
    from pathlib import Path

    from calibration_core.settings import Paths

__all__ = [
    "NO_LIVE_CONFIG",
    "OWNER_FILE_NAME",
    "LiveConfig",
    "read_archived",
    "read_archived_document",
    "read_live",
    "resolve_document",
    "resolve_reference",
]

OWNER_FILE_NAME = "live_config_name"
"""File in the archive naming the one live config (file name) the archive belongs to."""

NO_LIVE_CONFIG = "absent"
"""``expected_sha256`` value meaning "the caller saw no live config file"."""

_MAX_LIVE_BYTES = 64 * MAX_CONFIG_BYTES  # an absurd live file is moved aside by a person
_MAX_NAME_CHARS = 128  # who approves, aborts or rolls back
_MAX_REASON_CHARS = 500  # why, in the audit trail
_LEGACY_ONLY_READERS = "only status, history, diff and rollback read it"


@attrs.frozen
class LiveConfig:
    """What is on disk at the live config path right now.

    ``data`` is None when there is no file; ``config`` is None when there is
    none, it does not parse (``error`` then says why) or it is the old
    deployer's legacy config (``legacy`` then holds it).
    """

    path: Path
    data: bytes | None
    config: CalibrationConfig | None
    error: str | None
    legacy: LegacyConfig | None = None

    @property
    def exists(self) -> bool:
        """True when a file is present, parseable or not."""
        return self.data is not None

    @property
    def document(self) -> CalibrationConfig | LegacyConfig | None:
        """The parsed live document, ours or legacy, or None."""
        return self.config if self.config is not None else self.legacy

    @property
    def version(self) -> str | None:
        """The live version (ours or legacy), or None when missing or unparseable."""
        document = self.document
        return None if document is None else document.version

    @property
    def sha256(self) -> str | None:
        """sha256 of the live file's bytes, or None when there is no file."""
        return None if self.data is None else hashlib.sha256(self.data).hexdigest()

    def describe(self) -> str:
        """Name the live version, or what stands there instead: ``unparseable`` or ``absent``."""
        return self.version or ("unparseable" if self.exists else "absent")


# --------------------------------------------------------------------------- checks


def _require_version_name(name: object, what: str) -> str:
    # Checked before the name is ever joined to a path: no "../", "/", NUL or odd names.
    if not isinstance(name, str) or not is_valid_version(name):
        raise JobRefusedError(
            f"invalid {what} {name!r}: expected cal_YYYYMMDD_HHMMSS with an optional _NN suffix"
        )
    return name


def _require_text(value: object, what: str, limit: int) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= limit
        # C0, DEL, C1 (U+009B is a CSI), bidi overrides, line separators: what text.escape escapes.
        or escape(value) != value
    ):
        raise InvalidInputError(
            f"{what} must be 1-{limit} printable characters on one line, without control or "
            f"bidirectional characters (got {escape(repr(value))})"
        )
    return value


def _require_config_dir(paths: Paths) -> None:
    if not paths.config_dir.is_dir():
        raise DeploymentError(
            f"config directory {paths.config_dir} does not exist; create it or point "
            "CALIBRATION_CONFIG_PATH/--config at the right file (nothing was changed)"
        )


# --------------------------------------------------------------------------- the live config


def read_live(paths: Paths) -> LiveConfig:
    """Read and parse the live config file.

    Parameters
    ----------
    paths : Paths
        Where the live config is.

    Returns
    -------
    LiveConfig
        Missing file: ``data`` None. Unparseable file: ``config`` None and
        ``error`` the one-line reason.

    Raises
    ------
    DeploymentError
        When the file exists but cannot be read (permissions), is not a
        regular file (a directory, a FIFO) or is over 64 MiB.
    """
    path = paths.config
    # The live path may be a symlink (a ConfigMap): follow it, but never block on a FIFO.
    # Read it whole, however invalid: these bytes are what a backup must preserve.
    data = _read_file(
        path,
        action="read the live config",
        not_regular=DeploymentError(f"live config {path} is not a regular file"),
        follow=True,
        limit=_MAX_LIVE_BYTES,
    )
    if data is None:
        return LiveConfig(path=path, data=None, config=None, error="no live config")
    try:
        config = parse_config(data)
    except ConfigRejectedError as exc:
        return LiveConfig(path=path, data=data, config=None, error=str(exc))
    if isinstance(config, LegacyConfig):
        return LiveConfig(path=path, data=data, config=None, error=None, legacy=config)
    return LiveConfig(path=path, data=data, config=config, error=None)


# --------------------------------------------------------------------------- one live config a dir


def _archive_path(paths: Paths, version: str) -> Path:
    return paths.archive_dir / f"{_require_version_name(version, 'version')}.json"


def _owner_path(paths: Paths) -> Path:
    return paths.archive_dir / OWNER_FILE_NAME


def _read_owner(paths: Paths) -> str | None:
    try:
        data = _read_regular(_owner_path(paths), what="archive owner file")
    except JobRefusedError as exc:
        raise DeploymentError(str(exc)) from None
    if data is None:
        return None
    return data.decode("utf-8", "replace").strip() or None


def _check_layout(paths: Paths) -> None:
    """Refuse a config whose directory's archive, lock and audit trail belong to another file."""
    owner = _read_owner(paths)
    name = paths.config.name
    if owner is not None and owner != name:
        raise DeploymentError(
            f"refusing {name}: its directory {paths.config_dir} already holds the live config "
            f"{owner!r}, and the archive, lock and audit trail there belong to it; "
            f"give {name} a directory of its own (nothing was changed)"
        )


def _claim_layout(paths: Paths) -> None:
    # Under the lock, so two configs cannot both claim a fresh archive.
    _check_layout(paths)
    if _read_owner(paths) is None:
        _write(_owner_path(paths), f"{paths.config.name}\n".encode())


# --------------------------------------------------------------------------- archived versions


def _parse_archived(
    data: bytes, version: str, entry: str, *, untouched: str = ""
) -> CalibrationConfig | LegacyConfig:
    # A corrupt entry, or one renamed onto another version, is never served as that version.
    try:
        config = parse_config(data)
    except ConfigRejectedError as exc:
        raise ConfigRejectedError(
            f"archived version {version} is corrupt{untouched and ', ' + untouched}: {exc}"
        ) from None
    if config.version != version:
        raise ConfigRejectedError(
            f"archive entry {entry} holds version {config.version}, not {version}"
            f"{untouched and '; ' + untouched}"
        )
    return config


def read_archived_document(paths: Paths, version: str) -> CalibrationConfig | LegacyConfig | None:
    """Return the archived config of ``version``, ours or legacy, or None when not archived.

    Parameters
    ----------
    paths : Paths
        Locations; the entry is ``<archive>/<version>.json``.
    version : str
        A version name; validated before it touches a path.

    Returns
    -------
    CalibrationConfig or LegacyConfig or None

    Raises
    ------
    JobRefusedError
        An invalid name, or an entry that is a symlink or not a regular file.
    ConfigRejectedError
        A corrupt entry, or one that holds another version.
    """
    version = _require_version_name(version, "version")
    data = _read_regular(_archive_path(paths, version), what="archive entry")
    return None if data is None else _parse_archived(data, version, f"{version}.json")


def read_archived(paths: Paths, version: str) -> CalibrationConfig | None:
    """Return the archived config of ``version``, or None when it was never archived.

    Parameters
    ----------
    paths : Paths
        Where the archive is.
    version : str
        The version whose ``<archive>/<version>.json`` is read (checked first).

    Returns
    -------
    CalibrationConfig or None

    Raises
    ------
    JobRefusedError
        An invalid name, or an entry that is a symlink or not a regular file.
    ConfigRejectedError
        A corrupt entry, one that holds another version, or a legacy config
        (see :func:`read_archived_document`).
    """
    config = read_archived_document(paths, version)
    if isinstance(config, LegacyConfig):
        raise ConfigRejectedError(
            f"archived version {version} is the old deployer's legacy config; "
            + _LEGACY_ONLY_READERS
        )
    return config


def resolve_reference(
    paths: Paths, ref: str, *, live: LiveConfig | None = None
) -> tuple[str, CalibrationConfig]:
    """Return a label and the config that ``ref`` names: ``live``, an archived version or a job.

    Parameters
    ----------
    paths : Paths
        Locations.
    ref : str
        ``live``, a version in the archive, or a job id in the job store.
    live : LiveConfig, optional
        The live config when the caller has read it already.

    Raises
    ------
    JobRefusedError
        No live config, an invalid name, or a name that is neither archived nor a job.
    ConfigRejectedError
        The live config or the archived entry does not parse, or is the old
        deployer's legacy config (only ``diff`` compares those).
    """
    label, config = resolve_document(paths, ref, live=live)
    if isinstance(config, LegacyConfig):
        raise ConfigRejectedError(
            f"{label} is the old deployer's legacy config; {_LEGACY_ONLY_READERS}"
        )
    return label, config


def resolve_document(
    paths: Paths, ref: str, *, live: LiveConfig | None = None
) -> tuple[str, CalibrationConfig | LegacyConfig]:
    """Like :func:`resolve_reference`, but a legacy config is returned, labelled as such.

    A legacy config that breaks a hard rule is labelled ``REFUSED`` with the reason:
    the loader does not serve it.
    """
    if ref == "live":
        live = live if live is not None else read_live(paths)
        document = live.document
        if document is None:
            if live.exists:
                raise ConfigRejectedError(f"the live config does not parse: {live.error}")
            raise JobRefusedError(f"no live config at {paths.config}")
        return f"live ({document.version}{_legacy_label(document)})", document
    if not is_valid_version(ref):
        raise JobRefusedError(
            f"invalid version {ref!r}: expected `live`, an archived version or a job id "
            "(cal_YYYYMMDD_HHMMSS with an optional _NN suffix)"
        )
    config = read_archived_document(paths, ref)
    if config is not None:
        return f"archive {ref}{_legacy_label(config)}", config
    try:
        job = JobStore(paths.jobs_dir).load(ref)
    except JobRefusedError:
        raise JobRefusedError(
            f"unknown version {ref}: neither archived nor a job; see `history` and `status`"
        ) from None
    return f"job {ref}", job.proposed_config


def _legacy_label(config: CalibrationConfig | LegacyConfig) -> str:
    if not isinstance(config, LegacyConfig):
        return ""
    refusal = config.refusal
    return ", legacy" if refusal is None else f", legacy, REFUSED: {refusal}"
