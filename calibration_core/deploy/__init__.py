"""The deployer: job records, approve, abort, rollback, archive, audit trail, lock.

It owns the on-disk state of the config directory and may import the core, the sources
(the cadence notice) and the contract. Its public names are re-exported here, so that
callers write ``from calibration_core.deploy import read_live`` whichever module holds
the name: ``archive`` (live config, archived versions), ``audit`` (the trail), ``lock``,
``session`` (the locked steps), ``approval`` (approve, abort), ``restore`` (rollback),
``inspection`` (status, history, diff), ``jobstore`` (job records) and ``views`` (text
and JSON).
"""

from calibration_core.deploy.approval import (
    HIGH_RISK_SCORE,
    AbortResult,
    ApprovalPlan,
    abort,
    approve,
    plan_approval,
    require_override_reason,
)
from calibration_core.deploy.archive import (
    NO_LIVE_CONFIG,
    OWNER_FILE_NAME,
    LiveConfig,
    read_archived,
    read_archived_document,
    read_live,
    resolve_document,
    resolve_reference,
)
from calibration_core.deploy.audit import AuditTrail, previous_version_of, read_audit
from calibration_core.deploy.inspection import (
    DIFF_GRID,
    ConfigDiff,
    HistoryReport,
    StatusReport,
    VersionSummary,
    calibrated_value,
    compare_configs,
    diff,
    history,
    status,
)
from calibration_core.deploy.lock import CHECKPOINTS, DEFAULT_LOCK_TIMEOUT, KILL_AT_ENV
from calibration_core.deploy.restore import RollbackPlan, plan_rollback, rollback
from calibration_core.deploy.session import DeployResult

__all__ = [
    "CHECKPOINTS",
    "DEFAULT_LOCK_TIMEOUT",
    "DIFF_GRID",
    "HIGH_RISK_SCORE",
    "KILL_AT_ENV",
    "NO_LIVE_CONFIG",
    "OWNER_FILE_NAME",
    "AbortResult",
    "ApprovalPlan",
    "AuditTrail",
    "ConfigDiff",
    "DeployResult",
    "HistoryReport",
    "LiveConfig",
    "RollbackPlan",
    "StatusReport",
    "VersionSummary",
    "abort",
    "approve",
    "calibrated_value",
    "compare_configs",
    "diff",
    "history",
    "plan_approval",
    "plan_rollback",
    "previous_version_of",
    "read_archived",
    "read_archived_document",
    "read_audit",
    "read_live",
    "require_override_reason",
    "resolve_document",
    "resolve_reference",
    "rollback",
    "status",
]
