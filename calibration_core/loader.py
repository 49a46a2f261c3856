"""Deprecated import path of the runtime: ``calibration_core.loader`` (0.1's guide).

Hosts written from the first integration guide imported
``from calibration_core.loader import ...``. The runtime now lives in
``calibration_core.runtime``; this module keeps those lines working, unchanged, and
says so once with a DeprecationWarning. New code imports from ``calibration_core``.
"""

# Compatibility only: it re-exports the runtime's names and holds no code of its own.

import warnings

from calibration_core.config import consensus_bucket
from calibration_core.runtime.host import (
    ConsensusCalibrator,
    apply_confidence_calibration,
    apply_confidence_calibration_batch,
    get_calibration_loader,
    get_calibration_snapshot,
    get_calibrator,
    get_consensus_multiplier,
    get_default_loader,
    get_ensemble_weights,
    reload_calibration,
    reset_default_loader,
    set_default_loader,
)
from calibration_core.runtime.loader import (
    DEFAULT_DEBOUNCE,
    DEFAULT_POLL_INTERVAL,
    K8S_DATA_LINK,
    WATCHING_DIRECTORY_GONE,
    CalibrationLoader,
    WatchMode,
)
from calibration_core.runtime.snapshot import LOGGER_NAME, LoaderStatus, Snapshot, apply_hold_bias

__all__ = [
    "DEFAULT_DEBOUNCE",
    "DEFAULT_POLL_INTERVAL",
    "K8S_DATA_LINK",
    "LOGGER_NAME",
    "WATCHING_DIRECTORY_GONE",
    "CalibrationLoader",
    "ConsensusCalibrator",
    "LoaderStatus",
    "Snapshot",
    "WatchMode",
    "apply_confidence_calibration",
    "apply_confidence_calibration_batch",
    "apply_hold_bias",
    "consensus_bucket",
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

warnings.warn(
    "calibration_core.loader is deprecated: import the same names from calibration_core",
    DeprecationWarning,
    stacklevel=2,
)
