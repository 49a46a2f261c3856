"""Hard-coded safety constants of the calibration system (pure; imports nothing)."""

# These are hard-coded on purpose, as in the design: they are not settings and
# no flag, environment variable or config file can change them.

__all__ = [
    "CONFIG_SCHEMA_VERSION",
    "MAX_CONFIDENCE_CHANGE",
    "MAX_WEIGHT",
    "MAX_WEIGHT_CHANGE",
    "MIN_CONFIDENCE_IMPROVEMENT",
    "MIN_OUTCOME_DIVERSITY",
    "MIN_TOTAL_WEIGHT_CHANGE",
    "MIN_TRADES_FOR_CALIBRATION",
    "MIN_WEIGHT",
    "NEUTRAL_PNL_BAND_PCT",
    "WEIGHT_SUM_TOLERANCE",
]

MIN_TRADES_FOR_CALIBRATION = 50
"""Fewest closed trades a calibration run may use."""

MIN_CONFIDENCE_IMPROVEMENT = 0.05
"""Relative out-of-sample MSE (Brier) improvement needed to enable the confidence map."""

MAX_WEIGHT_CHANGE = 0.10
"""Largest change of one ensemble weight, relative to its current value (±10 %)."""

MIN_WEIGHT = 0.15
"""Smallest ensemble weight any member model may hold."""

MAX_WEIGHT = 0.40
"""Largest ensemble weight any member model may hold."""

MIN_OUTCOME_DIVERSITY = 0.15
"""Smallest share of wins, and of losses, among the trades."""

MAX_CONFIDENCE_CHANGE = 0.15
"""Largest absolute change of a calibrated confidence from its raw value."""

WEIGHT_SUM_TOLERANCE = 0.001
"""Ensemble weights must sum to 1 within this tolerance (critical check)."""

MIN_TOTAL_WEIGHT_CHANGE = 0.02
"""A weight proposal whose total absolute change is below this is "no change"."""

NEUTRAL_PNL_BAND_PCT = 0.05
"""Trades with ``|actual_pnl_pct|`` below this many percent also count as NEUTRAL."""

CONFIG_SCHEMA_VERSION = 1
"""The ``schema_version`` of calibration.json that this release writes and reads."""
