"""The host API: the process-wide default loader and the module-level functions.

The EnsembleManager imports these from ``calibration_core``:
:func:`get_calibration_loader`, :func:`apply_confidence_calibration`,
:func:`get_ensemble_weights`, :func:`get_calibrator` (:class:`ConsensusCalibrator`),
:func:`reload_calibration` and their companions.
"""

# Shell module inside the host's process: nothing here may raise into the host. The hot
# path is one read of the module global `_current` (the default loader's snapshot)
# plus a method on that immutable Snapshot.

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

from calibration_core.config import (
    CONSENSUS_BUCKETS,
    MAX_CONSENSUS_MULTIPLIER,
    MIN_CONSENSUS_MULTIPLIER,
    consensus_bucket,
)
from calibration_core.runtime.loader import CalibrationLoader, listen_for_publish
from calibration_core.runtime.snapshot import LOGGER_NAME, Snapshot, apply_hold_bias
from calibration_core.settings import DEFAULT_CONFIG_PATH, ENV_CONFIG_PATH, resolve_paths

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "LOGGER_NAME",
    "ConsensusCalibrator",
    "apply_confidence_calibration",
    "apply_confidence_calibration_batch",
    "apply_hold_bias",
    "get_calibration_loader",
    "get_calibration_snapshot",
    "get_calibrator",
    "get_consensus_multiplier",
    "get_default_loader",
    "get_ensemble_weights",
    "reload_calibration",
    "reset_default_loader",
    "set_default_loader",
]

logger = logging.getLogger(LOGGER_NAME)


class _Unbound:
    """Stand-in for the default snapshot until the default loader exists.

    Its methods create the default loader (from ``CALIBRATION_CONFIG_PATH``) on the
    first call, then delegate; afterwards the module global points at real snapshots.
    """

    __slots__ = ()

    def apply(self, confidence: float, symbol: str | None = None) -> float:
        return _bind_default().apply(confidence, symbol)

    def apply_batch(self, values: ArrayLike, symbol: str | None = None) -> NDArray[np.float64]:
        return _bind_default().apply_batch(values, symbol)

    def get_ensemble_weights(
        self,
        baseline: Mapping[str, float] | None = None,
        *,
        default: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        return _bind_default().get_ensemble_weights(baseline, default=default)

    def consensus_multiplier(self, consensus_count: int, total_models: int) -> float:
        return _bind_default().consensus_multiplier(consensus_count, total_models)


_UNBOUND: Final = _Unbound()
_default_lock = threading.Lock()
_default_loader: CalibrationLoader | None = None
_default_owned = False
# The hot path reads only this global: the default loader's current snapshot.
_current: Snapshot | _Unbound = _UNBOUND


def _after_fork() -> None:
    """In a forked child, restart the module's own default loader with a fresh lock.

    It runs after ``loader.py``'s fork hook, which gave every loader fresh locks and
    marked it not running. The module's own default loader (the one
    :func:`get_calibration_loader` returns) is restarted in the child, so a host that
    kept that object across the fork keeps following new versions; a default
    installed with :func:`set_default_loader` stays the default and is restarted by
    its owner.
    """
    global _current, _default_lock, _default_loader, _default_owned  # noqa: PLW0603
    _default_lock = threading.Lock()
    if _default_owned and _default_loader is not None:
        # The host keeps the object get_calibration_loader() gave it (often from before
        # a pre-fork): restart that same object here, so it follows new versions.
        try:
            _default_loader.start()
        except Exception:  # noqa: BLE001 - never raise in a fork hook: start afresh lazily
            _default_loader, _default_owned = None, False
            _current = _UNBOUND


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork()
    os.register_at_fork(after_in_child=_after_fork)


def _publish_default(loader: CalibrationLoader, snapshot: Snapshot) -> None:
    """Follow the default loader: every loader calls this after it publishes a snapshot."""
    global _current  # noqa: PLW0603 - the one module global the hot path reads
    if _default_loader is not loader:
        return
    with _default_lock:
        if _default_loader is loader:
            _current = snapshot


listen_for_publish(_publish_default)


def _bind_default() -> Snapshot:
    """Create and start the default loader if needed; never raises."""
    global _current, _default_loader, _default_owned  # noqa: PLW0603
    with _default_lock:
        loader = _default_loader
        if loader is None:
            try:
                loader = CalibrationLoader(resolve_paths().config)
                loader.start()
            except Exception:
                logger.exception(
                    "[CalibrationLoader] could not create the default loader; "
                    "serving identity calibration"
                )
                _current = Snapshot.identity()
                return _current
            _default_loader = loader
            _default_owned = True
        _current = loader.snapshot
        return _current


def get_default_loader() -> CalibrationLoader:
    """Return the process-wide default loader, creating and starting it if needed.

    It serves ``CALIBRATION_CONFIG_PATH`` (default ``config/calibration.json``).
    """
    global _current, _default_loader, _default_owned  # noqa: PLW0603
    _bind_default()
    loader = _default_loader
    if loader is None:
        # Creation failed and was logged: install an unwatched loader, so that every
        # later call returns this same object.
        with _default_lock:
            if _default_loader is None:
                try:
                    where = resolve_paths().config
                except Exception:  # noqa: BLE001 - e.g. no working directory: never raise here
                    where = Path(os.environ.get(ENV_CONFIG_PATH) or DEFAULT_CONFIG_PATH)
                fallback = CalibrationLoader(where, watch="none")
                _default_loader, _default_owned = fallback, True
                _current = fallback.snapshot
            loader = _default_loader
    return loader


def get_calibration_loader() -> CalibrationLoader:
    """Return the process-wide, started loader: the old ``ai_engine`` entry point.

    The EnsembleManager's one changed import line is
    ``from calibration_core import get_calibration_loader``. The loader serves
    ``CALIBRATION_CONFIG_PATH`` (default ``config/calibration.json``), watches
    it, and is the same object on every call in a process; a forked child
    restarts that same object (see :func:`_after_fork`).

    Returns
    -------
    CalibrationLoader
        It has the old API: ``calibration_loaded``, ``apply_confidence_calibration``,
        ``get_ensemble_weights(baseline=None)``, ``get_status()``, ``version``,
        ``based_on_trades`` and ``reload() -> bool``.
    """
    return get_default_loader()


def reload_calibration() -> bool:
    """Check the process-wide loader's file now; True when the file on disk is served.

    The old module-level ``reload_calibration() -> bool``; never raises.
    """
    try:
        return get_calibration_loader().reload()
    except Exception:
        logger.exception("[CalibrationLoader] reload_calibration failed")
        return False


class ConsensusCalibrator:
    """The old adaptive calibrator's read side, served from the approved config.

    ``get_multiplier(consensus_count, total_models)`` keeps the old signature,
    labels and thresholds, but the multiplier is the approved config's consensus
    multiplier for that bucket (1.0 when none is enabled). It never learns
    online: :meth:`update_from_outcome` is accepted and ignored, because a
    multiplier changes only through ``run`` and a human ``approve``.

    Parameters
    ----------
    loader : CalibrationLoader, optional
        Serve this loader's live version; None follows the process-wide default
        loader (also across a fork).
    """

    __slots__ = ("_loader",)

    def __init__(self, loader: CalibrationLoader | None = None) -> None:
        self._loader = loader

    def _live(self) -> Snapshot:
        loader = self._loader
        return get_calibration_snapshot() if loader is None else loader.snapshot

    def get_multiplier(self, consensus_count: int, total_models: int) -> tuple[float, str]:
        """Return ``(multiplier, label)`` for a vote; never raises.

        Parameters
        ----------
        consensus_count : int
            Models that voted for the winning action.
        total_models : int
            Models that voted.

        Returns
        -------
        tuple of (float, str)
            ``label`` is ``"unanimous"`` (count ≥ total), ``"strong"``
            (≥ 0.75·total), ``"split"`` (≥ 0.5·total) or ``"weak"``; the
            multiplier is the live config's multiplier for it, clamped to
            [0.5, 1.5], and 1.0 when consensus multipliers are disabled. Counts
            that are not counts (total < 1, negative, fractional, bools) give
            ``(1.0, "weak")``.
        """
        try:
            label = _old_consensus_label(consensus_count, total_models)
            if label is None:
                return 1.0, "weak"
            multiplier = self._live().bucket_multiplier(label)
        except Exception:  # noqa: BLE001 - the hot path never raises into the host
            return 1.0, "weak"
        return min(MAX_CONSENSUS_MULTIPLIER, max(MIN_CONSENSUS_MULTIPLIER, multiplier)), label

    @property
    def weights(self) -> dict[str, float]:
        """The live multiplier of every bucket (the old calibrator's ``weights``)."""
        try:
            snapshot = self._live()
            return {bucket: snapshot.bucket_multiplier(bucket) for bucket in CONSENSUS_BUCKETS}
        except Exception:  # noqa: BLE001 - never raises into the host
            return dict.fromkeys(CONSENSUS_BUCKETS, 1.0)

    def update_from_outcome(self, *_args: object, **_kwargs: object) -> None:
        """Ignore an outcome: multipliers are learned offline and approved, never online."""
        global _ignored_outcome_logged  # noqa: PLW0603 - a once-per-process log line
        if not _ignored_outcome_logged:
            _ignored_outcome_logged = True
            logger.info(
                "[CalibrationLoader] update_from_outcome ignored: consensus multipliers "
                "change only through `run` and `approve` (logged once)"
            )

    def __repr__(self) -> str:
        """Name the loader it follows."""
        follows = "the default loader" if self._loader is None else repr(self._loader)
        return f"ConsensusCalibrator({follows})"


_ignored_outcome_logged = False
_DEFAULT_CALIBRATOR: Final = ConsensusCalibrator()


def _old_consensus_label(consensus_count: int, total_models: int) -> str | None:
    """Return the old loader's bucket: :func:`consensus_bucket`, but count > total is unanimous."""
    bucket = consensus_bucket(consensus_count, total_models)
    if bucket is not None:
        return bucket
    # Both valid counts (total >= 1, count >= 1) yet no bucket: count > total.
    if consensus_bucket(0, total_models) is not None and consensus_bucket(
        consensus_count, consensus_count
    ):
        return CONSENSUS_BUCKETS[0]
    return None


def get_calibrator() -> ConsensusCalibrator:
    """Return the process-wide consensus calibrator (the old ``get_calibrator()``).

    ``get_calibrator().get_multiplier(consensus_count, total_models)`` returns
    ``(multiplier, label)`` from the default loader's live config; see
    :class:`ConsensusCalibrator`. The same object on every call.
    """
    return _DEFAULT_CALIBRATOR


def set_default_loader(loader: CalibrationLoader) -> CalibrationLoader | None:
    """Make ``loader`` the one the module-level functions use.

    Returns the previous default. A previous default that the module created
    lazily is stopped; one installed by the caller is returned running (the
    caller owns it).
    """
    global _current, _default_loader, _default_owned  # noqa: PLW0603
    if not isinstance(loader, CalibrationLoader):
        msg = f"loader must be a CalibrationLoader (got {type(loader).__name__})"
        raise TypeError(msg)
    with _default_lock:
        previous, owned = _default_loader, _default_owned
        _default_loader, _default_owned = loader, False
        _current = loader.snapshot
    if owned and previous is not None and previous is not loader:
        previous.stop()
    return previous


def reset_default_loader() -> None:
    """Stop and forget the default loader; the next module-level call creates a new one."""
    global _current, _default_loader, _default_owned  # noqa: PLW0603
    with _default_lock:
        previous = _default_loader
        _default_loader, _default_owned = None, False
        _current = _UNBOUND
    if previous is not None:
        previous.stop()


def apply_confidence_calibration(confidence: float, *, symbol: str | None = None) -> float:
    """Calibrate one confidence with the default loader's live version; never raises.

    See :meth:`Snapshot.apply` for NaN, clipping, non-numeric input and symbols.

    Examples
    --------
    >>> 0.0 <= apply_confidence_calibration(0.7) <= 1.0  # doctest: +SKIP
    True
    """
    return _current.apply(confidence, symbol)


def apply_confidence_calibration_batch(
    values: ArrayLike, *, symbol: str | None = None
) -> NDArray[np.float64]:
    """Calibrate an array of confidences with the default loader; never raises.

    See :meth:`Snapshot.apply_batch`.
    """
    return _current.apply_batch(values, symbol)


def get_ensemble_weights(
    baseline: Mapping[str, float] | None = None,
    *,
    default: Mapping[str, float] | None = None,
) -> Mapping[str, float]:
    """Return the default loader's live ensemble weights as a read-only mapping.

    See :meth:`Snapshot.get_ensemble_weights`: the configured weights when
    enabled, else ``baseline`` (or ``default``), else an empty mapping.
    """
    return _current.get_ensemble_weights(baseline, default=default)


def get_consensus_multiplier(consensus_count: int, total_models: int) -> float:
    """Return the default loader's multiplier for a vote's consensus; never raises.

    See :func:`consensus_bucket` for the buckets; 1.0 when disabled or invalid.
    """
    return _current.consensus_multiplier(consensus_count, total_models)


def get_calibration_snapshot() -> Snapshot:
    """Return the default loader's live snapshot: one consistent version for a decision."""
    current = _current
    if isinstance(current, Snapshot):
        return current
    return _bind_default()
