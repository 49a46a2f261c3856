"""Config-only calibration of a trading ensemble's confidence and weights."""

from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MAX_WEIGHT,
    MAX_WEIGHT_CHANGE,
    MIN_CONFIDENCE_IMPROVEMENT,
    MIN_OUTCOME_DIVERSITY,
    MIN_TRADES_FOR_CALIBRATION,
    MIN_WEIGHT,
)
from calibration_core.exceptions import (
    CalibrationError,
    ConfigRejectedError,
    DataIntegrityError,
    DeploymentError,
    InfeasibleWeightsError,
    InvalidInputError,
    JobRefusedError,
    NotAuthorizedError,
)

__all__ = [
    "CalibrationError",
    "ConfigRejectedError",
    "DataIntegrityError",
    "DeploymentError",
    "InfeasibleWeightsError",
    "InvalidInputError",
    "JobRefusedError",
    "MAX_CONFIDENCE_CHANGE",
    "MAX_WEIGHT",
    "MAX_WEIGHT_CHANGE",
    "MIN_CONFIDENCE_IMPROVEMENT",
    "MIN_OUTCOME_DIVERSITY",
    "MIN_TRADES_FOR_CALIBRATION",
    "MIN_WEIGHT",
    "NotAuthorizedError",
]
