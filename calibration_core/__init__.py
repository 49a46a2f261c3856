"""Config-only calibration of a trading ensemble's confidence and member weights."""

# Lazy re-exports (the scientific-Python SPEC 1 pattern): `import calibration_core` stays
# cheap inside the EnsembleManager and for the CLI, whose approve/rollback path needs
# neither numpy nor the analysis modules. Each name is imported on first access.

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calibration_core.config import (
        CalibrationConfig as CalibrationConfig,
        ConfidenceMap as ConfidenceMap,
        ConsensusMultipliers as ConsensusMultipliers,
        EnsembleWeights as EnsembleWeights,
        PerSymbolMaps as PerSymbolMaps,
        consensus_bucket as consensus_bucket,
        is_valid_version as is_valid_version,
    )
    from calibration_core.config_json import MAX_CONFIG_BYTES as MAX_CONFIG_BYTES
    from calibration_core.constants import (
        CONFIG_SCHEMA_VERSION as CONFIG_SCHEMA_VERSION,
        MAX_CONFIDENCE_CHANGE as MAX_CONFIDENCE_CHANGE,
        MAX_WEIGHT as MAX_WEIGHT,
        MAX_WEIGHT_CHANGE as MAX_WEIGHT_CHANGE,
        MIN_CONFIDENCE_IMPROVEMENT as MIN_CONFIDENCE_IMPROVEMENT,
        MIN_OUTCOME_DIVERSITY as MIN_OUTCOME_DIVERSITY,
        MIN_TOTAL_WEIGHT_CHANGE as MIN_TOTAL_WEIGHT_CHANGE,
        MIN_TRADES_FOR_CALIBRATION as MIN_TRADES_FOR_CALIBRATION,
        MIN_WEIGHT as MIN_WEIGHT,
        NEUTRAL_PNL_BAND_PCT as NEUTRAL_PNL_BAND_PCT,
        WEIGHT_SUM_TOLERANCE as WEIGHT_SUM_TOLERANCE,
    )
    from calibration_core.core.isotonic import (
        IsotonicCalibration as IsotonicCalibration,
        bound_confidence_change as bound_confidence_change,
        fit_isotonic as fit_isotonic,
    )
    from calibration_core.core.metrics import (
        ReliabilityBin as ReliabilityBin,
        ReliabilityTable as ReliabilityTable,
        brier_score as brier_score,
        expected_calibration_error as expected_calibration_error,
        log_loss as log_loss,
        maximum_calibration_error as maximum_calibration_error,
        mse as mse,
        pearson_correlation as pearson_correlation,
        reliability_table as reliability_table,
        spearman_correlation as spearman_correlation,
        wilson_interval as wilson_interval,
    )
    from calibration_core.core.monitor_rules import (
        MonitorVerdict as MonitorVerdict,
        WindowData as WindowData,
        evaluate_monitor as evaluate_monitor,
    )
    from calibration_core.core.pav import (
        IsotonicResult as IsotonicResult,
        isotonic_regression as isotonic_regression,
    )
    from calibration_core.core.validation import (
        RISK_CATEGORIES as RISK_CATEGORIES,
        CheckResult as CheckResult,
        RiskScore as RiskScore,
        Severity as Severity,
        ValidationReport as ValidationReport,
        check_confidence_change_bound as check_confidence_change_bound,
        check_confidence_improvement as check_confidence_improvement,
        check_max_weight_change as check_max_weight_change,
        check_min_trades as check_min_trades,
        check_no_degradation as check_no_degradation,
        check_outcome_diversity as check_outcome_diversity,
        check_weight_bounds as check_weight_bounds,
        check_weight_sum as check_weight_sum,
        score_risk as score_risk,
        summarize as summarize,
    )
    from calibration_core.core.weights import (
        ModelPerformance as ModelPerformance,
        WeightChange as WeightChange,
        WeightProposal as WeightProposal,
        equal_weights as equal_weights,
        measure_model_performance as measure_model_performance,
        propose_weights as propose_weights,
    )
    from calibration_core.exceptions import (
        CalibrationError as CalibrationError,
        ConfigRejectedError as ConfigRejectedError,
        DataIntegrityError as DataIntegrityError,
        DeploymentError as DeploymentError,
        InfeasibleWeightsError as InfeasibleWeightsError,
        InvalidInputError as InvalidInputError,
        JobRefusedError as JobRefusedError,
        NotAuthorizedError as NotAuthorizedError,
    )
    from calibration_core.runtime.host import (
        ConsensusCalibrator as ConsensusCalibrator,
        apply_confidence_calibration as apply_confidence_calibration,
        apply_confidence_calibration_batch as apply_confidence_calibration_batch,
        get_calibration_loader as get_calibration_loader,
        get_calibration_snapshot as get_calibration_snapshot,
        get_calibrator as get_calibrator,
        get_consensus_multiplier as get_consensus_multiplier,
        get_default_loader as get_default_loader,
        get_ensemble_weights as get_ensemble_weights,
        reload_calibration as reload_calibration,
        reset_default_loader as reset_default_loader,
        set_default_loader as set_default_loader,
    )
    from calibration_core.runtime.loader import CalibrationLoader as CalibrationLoader
    from calibration_core.runtime.snapshot import (
        LoaderStatus as LoaderStatus,
        Snapshot as Snapshot,
        apply_hold_bias as apply_hold_bias,
    )
    from calibration_core.sources.integrity import (
        IntegritySummary as IntegritySummary,
        summarize_integrity as summarize_integrity,
    )
    from calibration_core.sources.trade_batch import TradeBatch as TradeBatch
    from calibration_core.sources.trades import read_trades as read_trades

# The one place the version is written: pyproject.toml reads it (setuptools dynamic
# version, statically) and `python -m calibration_core --version` prints it.
__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "CONFIG_SCHEMA_VERSION": "constants",
    "MAX_CONFIDENCE_CHANGE": "constants",
    "MAX_CONFIG_BYTES": "config_json",
    "MAX_WEIGHT": "constants",
    "MAX_WEIGHT_CHANGE": "constants",
    "MIN_CONFIDENCE_IMPROVEMENT": "constants",
    "MIN_OUTCOME_DIVERSITY": "constants",
    "MIN_TOTAL_WEIGHT_CHANGE": "constants",
    "MIN_TRADES_FOR_CALIBRATION": "constants",
    "MIN_WEIGHT": "constants",
    "NEUTRAL_PNL_BAND_PCT": "constants",
    "RISK_CATEGORIES": "core.validation",
    "WEIGHT_SUM_TOLERANCE": "constants",
    "CalibrationConfig": "config",
    "CalibrationError": "exceptions",
    "CalibrationLoader": "runtime.loader",
    "CheckResult": "core.validation",
    "ConfidenceMap": "config",
    "ConfigRejectedError": "exceptions",
    "ConsensusCalibrator": "runtime.host",
    "ConsensusMultipliers": "config",
    "DataIntegrityError": "exceptions",
    "DeploymentError": "exceptions",
    "EnsembleWeights": "config",
    "InfeasibleWeightsError": "exceptions",
    "IntegritySummary": "sources.integrity",
    "InvalidInputError": "exceptions",
    "IsotonicCalibration": "core.isotonic",
    "IsotonicResult": "core.pav",
    "JobRefusedError": "exceptions",
    "LoaderStatus": "runtime.snapshot",
    "ModelPerformance": "core.weights",
    "MonitorVerdict": "core.monitor_rules",
    "NotAuthorizedError": "exceptions",
    "PerSymbolMaps": "config",
    "ReliabilityBin": "core.metrics",
    "ReliabilityTable": "core.metrics",
    "RiskScore": "core.validation",
    "Severity": "core.validation",
    "Snapshot": "runtime.snapshot",
    "TradeBatch": "sources.trade_batch",
    "ValidationReport": "core.validation",
    "WeightChange": "core.weights",
    "WeightProposal": "core.weights",
    "WindowData": "core.monitor_rules",
    "apply_confidence_calibration": "runtime.host",
    "apply_confidence_calibration_batch": "runtime.host",
    "apply_hold_bias": "runtime.snapshot",
    "bound_confidence_change": "core.isotonic",
    "brier_score": "core.metrics",
    "check_confidence_change_bound": "core.validation",
    "check_confidence_improvement": "core.validation",
    "check_max_weight_change": "core.validation",
    "check_min_trades": "core.validation",
    "check_no_degradation": "core.validation",
    "check_outcome_diversity": "core.validation",
    "check_weight_bounds": "core.validation",
    "check_weight_sum": "core.validation",
    "consensus_bucket": "config",
    "equal_weights": "core.weights",
    "evaluate_monitor": "core.monitor_rules",
    "expected_calibration_error": "core.metrics",
    "fit_isotonic": "core.isotonic",
    "get_calibration_loader": "runtime.host",
    "get_calibration_snapshot": "runtime.host",
    "get_calibrator": "runtime.host",
    "get_consensus_multiplier": "runtime.host",
    "get_default_loader": "runtime.host",
    "get_ensemble_weights": "runtime.host",
    "is_valid_version": "config",
    "isotonic_regression": "core.pav",
    "log_loss": "core.metrics",
    "maximum_calibration_error": "core.metrics",
    "measure_model_performance": "core.weights",
    "mse": "core.metrics",
    "pearson_correlation": "core.metrics",
    "propose_weights": "core.weights",
    "read_trades": "sources.trades",
    "reliability_table": "core.metrics",
    "reload_calibration": "runtime.host",
    "reset_default_loader": "runtime.host",
    "score_risk": "core.validation",
    "set_default_loader": "runtime.host",
    "spearman_correlation": "core.metrics",
    "summarize": "core.validation",
    "summarize_integrity": "sources.integrity",
    "wilson_interval": "core.metrics",
}
"""Public name -> the submodule that defines it."""

__all__ = sorted(_EXPORTS, key=lambda name: (not name.isupper(), name[0].islower(), name))
"""Sorted as ruff's RUF022 sorts: CONSTANTS, then Classes, then functions."""


def __getattr__(name: str) -> Any:  # noqa: ANN401 - re-exports are of every kind
    """Import a public name from its submodule on first access and cache it."""
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'calibration_core' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"calibration_core.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the public names next to the module's own attributes."""
    return sorted({*globals(), *__all__})
