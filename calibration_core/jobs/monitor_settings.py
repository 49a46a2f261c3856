"""The monitor's own setting: the variable that names the optional signals log."""

# Standard library only: the CLI imports it when it builds its parser (`--help` names the
# variable), and the monitor's view names it when no signals log was given.

from __future__ import annotations

__all__ = ["ENV_SIGNALS_PATH"]

ENV_SIGNALS_PATH = "CALIBRATION_SIGNALS_PATH"
"""Environment variable naming the optional signals log that ``monitor`` reads."""
