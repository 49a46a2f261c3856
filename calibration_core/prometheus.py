"""Deprecated import path of the Prometheus collector: ``calibration_core.prometheus``.

The collector now lives in ``calibration_core.runtime.prometheus``; this module keeps
``from calibration_core.prometheus import register_loader_metrics`` working and says
so once with a DeprecationWarning.
"""

# Compatibility only: it re-exports the collector's names and holds no code of its own.

import warnings

from calibration_core.runtime.prometheus import (
    DEFAULT_PREFIX,
    LoaderCollector,
    register_loader_metrics,
)

__all__ = ["DEFAULT_PREFIX", "LoaderCollector", "register_loader_metrics"]

warnings.warn(
    "calibration_core.prometheus is deprecated: import from calibration_core.runtime.prometheus",
    DeprecationWarning,
    stacklevel=2,
)
