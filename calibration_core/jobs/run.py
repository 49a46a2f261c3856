"""The ``run`` job: analyse the trades, propose, validate, save a job and write the report."""

# Shell module: it reads the trades and the live config, calls the pure core
# (analysis.build_proposal), writes the report and the job record, and returns a
# frozen result; jobs.run_view words it. `run` proposes; it never writes inside
# the config directory.

from __future__ import annotations

import logging
from datetime import UTC
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np

from calibration_core.core.holdout import nan_to_none
from calibration_core.core.proposal import Proposal, build_proposal, trade_age_hours
from calibration_core.deploy import read_live
from calibration_core.deploy.jobstore import STATUS_PENDING, STATUS_REJECTED, JobRecord, JobStore
from calibration_core.exceptions import CalibrationError, DataIntegrityError, NotAuthorizedError
from calibration_core.jobs.intake import (
    assess,
    calibration_authorized,
    findings_dict,
    load_checked,
    preflight_words,
    problem_lines,
    problems_path,
    readiness_dict,
    write_problems,
)
from calibration_core.jobs.plot import MATPLOTLIB_MISSING_NOTE, render_reliability_png
from calibration_core.jobs.report import (
    ReportContext,
    build_report_document,
    integrity_to_dict,
    output_error,
    remove_outputs,
    render_json,
    render_markdown,
    report_paths,
    write_report,
)
from calibration_core.sources.integrity import FIRST_LINES_SHOWN, robust_time_range
from calibration_core.sources.trade_batch import OUTCOME_LOSS, OUTCOME_NONE, OUTCOME_WIN
from calibration_core.text import plural

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from numpy.typing import NDArray

    from calibration_core.config import CalibrationConfig
    from calibration_core.settings import Paths
    from calibration_core.sources.cadence import Readiness
    from calibration_core.sources.integrity import IntegritySummary
    from calibration_core.sources.trade_batch import TradeBatch

__all__ = [
    "OUTCOME_LABEL",
    "OUTCOME_PNL",
    "RunOptions",
    "RunOutcome",
    "RunResult",
    "calibrate",
]

logger = logging.getLogger("calibration_core.offline")

OUTCOME_PNL = "pnl"
OUTCOME_LABEL = "label"
_OUTCOME_DEFINITIONS = {
    OUTCOME_PNL: "WIN is PnL > 0, LOSS is PnL < 0 (whatever the dialect)",
    OUTCOME_LABEL: "the producer's outcome_label: WIN is 1, LOSS is 0, NEUTRAL is left out",
}
# Below a PnL this small the sign of a label-defined outcome is carried by this magnitude.
_LABEL_PNL_FLOOR = 1e-9


RunOutcome = Literal["PENDING", "REJECTED"]
"""The answer of ``run``: a job waiting for approval, or a rejected one."""


@attrs.frozen
class RunOptions:
    """The flags of one ``run``: force, per-symbol, outcome, drop-duplicates, preflight."""

    force: bool = False
    per_symbol: bool = False
    outcome: str = OUTCOME_PNL
    drop_duplicates: bool = False
    preflight: str | None = None


@attrs.frozen
class RunResult:
    """The saved job and what its printout shows.

    Attributes
    ----------
    outcome : RunOutcome
        PENDING (approve may deploy it) or REJECTED.
    record : JobRecord
        The job record as saved.
    proposal : Proposal
        The proposal the job holds.
    files : dict
        ``markdown``, ``json`` and ``picture`` (``""`` when none was drawn).
    approve_command, rollback_command, check_command : str
        The commands the next steps name, with the job's path flags.
    """

    outcome: RunOutcome
    record: JobRecord
    proposal: Proposal
    files: dict[str, str]
    approve_command: str
    rollback_command: str
    check_command: str


@attrs.frozen
class _Base:
    """The live config a proposal is computed against, as recorded in the job."""

    config: CalibrationConfig | None
    version: str | None
    sha256: str | None
    note: str


def calibrate(
    paths: Paths,
    options: RunOptions,
    *,
    now: datetime,
    command: Callable[..., str],
    progress: Callable[[str, int, int], None] | None = None,
) -> RunResult:
    """Analyse, propose, validate, save a job and write the report; apply nothing.

    Parameters
    ----------
    paths : Paths
        The trades, the live config (read only), the report directory, the cadence API.
    options : RunOptions
        The run's flags.
    now, command, progress
        The clock (it names the job), ``command(job, *words)`` and the progress
        callback, as for :func:`calibration_core.jobs.check.check_readiness`.

    Returns
    -------
    RunResult
        The saved job: PENDING approval, or REJECTED.

    Raises
    ------
    DataIntegrityError
        Bad lines, or a dataset that fails phase 0.2 (too few trades, one
        symbol, no win or no loss); ``--force`` does not override this.
    NotAuthorizedError
        When the Learning Cadence gate does not authorize calibration and
        ``--force`` was not given.
    OutputWriteError
        When the job or its report cannot be written; nothing partial is left.
    """
    now = now.astimezone(UTC)
    batch, summary = load_checked(paths, now, progress, drop_duplicates=options.drop_duplicates)
    readiness = assess(paths, summary, options.preflight, forced=options.force)
    check_command = command("check", *preflight_words(options.preflight))
    if not calibration_authorized(readiness) and not options.force:
        raise NotAuthorizedError(
            f"calibration is not authorized: {readiness.reason} "
            f"(see `{check_command}`; `run --force` makes a non-deployable test job)"
        )
    batch = batch.sorted_by_time()
    base = _read_base(paths)
    store = JobStore(paths.jobs_dir)
    try:
        job_id = store.reserve_job_id(now)
    except OSError as exc:
        raise output_error(exc, paths.jobs_dir) from None
    job = _Job(paths, options, batch, summary, readiness, base, job_id, now, command, progress)
    try:
        record, proposal, files = job.make()
        try:
            store.save(record)
        except OSError as exc:
            raise output_error(exc, paths.jobs_dir / f"{job_id}.json") from None
    except BaseException:
        # Nothing of a failed run stays behind: its report files and its reservation.
        written = report_paths(paths.report_dir, job_id)
        remove_outputs((written.picture, written.json, written.markdown))
        store.release(job_id)
        raise
    logger.info(
        "job %s saved as %s (recommendation: %s)",
        job_id,
        record.status,
        proposal.recommendation,
        extra={"event": "job_saved", "job_id": job_id, "digest": batch.data_hash},
    )
    return RunResult(
        "PENDING" if record.status == STATUS_PENDING else "REJECTED",
        record,
        proposal,
        files,
        approve_command=command("approve", job_id),
        rollback_command=command("rollback"),
        check_command=check_command,
    )


def _read_base(paths: Paths) -> _Base:
    # Read only: run must leave the config directory byte- and mtime-identical.
    try:
        live = read_live(paths)
    except CalibrationError as exc:
        return _Base(None, None, None, f"live config {paths.config} is unreadable ({exc})")
    if not live.exists:
        return _Base(None, None, None, f"no live config at {paths.config}")
    if live.legacy is not None:
        # The old deployer's config: recorded as the base (approve replaces it and
        # archives its bytes), but its weights are not ours to start from.
        return _Base(
            None,
            live.version,
            live.sha256,
            f"{live.version} (legacy config of the old deployer, sha256 {live.sha256}; "
            "its weights are not used as the starting point)",
        )
    if live.config is None:
        return _Base(
            None,
            None,
            None,
            f"live config {paths.config} is invalid ({live.error}); recorded as none — "
            "approve will refuse this job while that file is live",
        )
    return _Base(live.config, live.version, live.sha256, f"{live.version} (sha256 {live.sha256})")


def _label_outcomes(batch: TradeBatch, paths: Paths) -> tuple[TradeBatch, NDArray[np.float64]]:
    """Keep the WIN/LOSS-labelled trades and return a PnL column whose sign is the label.

    ``build_proposal`` reads a WIN as PnL > 0; the magnitude is kept for the
    NEUTRAL band, and the sign follows the producer's label.
    """
    labels = batch.outcome_labels
    missing = np.flatnonzero(labels == OUTCOME_NONE)
    if missing.size:
        shown = FIRST_LINES_SHOWN
        first = ", ".join(str(n) for n in batch.line_numbers[missing[:shown]].tolist())
        raise DataIntegrityError(
            f"{paths.data}: --outcome label needs outcome_label on every trade; "
            f"{plural(missing.size, 'trade')} have none "
            f"(line{'s' if missing.size != 1 else ''} {first}"
            f"{', …' if missing.size > shown else ''})"
        )
    wins = int(np.count_nonzero(labels == OUTCOME_WIN))
    losses = int(np.count_nonzero(labels == OUTCOME_LOSS))
    if wins == 0 or losses == 0:
        # The data checks ran on PnL signs; the fit under this definition needs both labels.
        raise DataIntegrityError(
            f"{paths.data}: --outcome label needs at least one WIN and one LOSS label "
            f"(got {wins} WIN, {losses} LOSS, {labels.size - wins - losses} NEUTRAL)"
        )
    kept = batch.select((labels == OUTCOME_WIN) | (labels == OUTCOME_LOSS))
    sign = np.where(kept.outcome_labels == OUTCOME_WIN, 1.0, -1.0)
    return kept, sign * np.maximum(np.abs(kept.pnl_pct), _LABEL_PNL_FLOOR)


def _job_summary(proposal: Proposal) -> dict[str, Any]:
    oos = proposal.out_of_sample
    weights = proposal.weights
    return {
        "n_trades": proposal.n_trades,
        "wins": proposal.n_wins,
        "losses": proposal.n_losses,
        "neutral": proposal.n_neutral,
        "oos_folds": len(oos.folds),
        "oos_mse_raw": nan_to_none(oos.brier_raw),
        "oos_mse_calibrated": nan_to_none(oos.brier_calibrated),
        "oos_mse_improvement": nan_to_none(oos.improvement),
        "in_sample_mse_improvement": nan_to_none(proposal.in_sample.mse_improvement),
        "confidence_map_enabled": proposal.confidence_enabled,
        "max_confidence_change": float(proposal.calibration.max_abs_change()),
        "weights_status": weights.status,
        "weights_enabled": proposal.weights_enabled,
        "weights_carried_over": proposal.weights_carried_over,
        "weights_reason": weights.reason,
        "per_symbol_requested": proposal.per_symbol.requested,
        "per_symbol_enabled": proposal.config.per_symbol.enabled,
        "per_symbol_kept": [s.symbol for s in proposal.per_symbol.kept],
        "consensus_enabled": proposal.config.consensus.enabled,
        "consensus_oos_mse_improvement": nan_to_none(proposal.consensus.improvement),
        "consensus_reason": proposal.consensus.reason,
        "recommendation": proposal.recommendation,
        "reasons": list(proposal.do_not_apply_reasons()),
        "newest_trade_age_hours": proposal.newest_trade_age_hours,
        "forced": proposal.forced,
    }


@attrs.frozen
class _Job:
    """One run's inputs, from the checked trades to the saved record."""

    paths: Paths
    options: RunOptions
    batch: TradeBatch
    summary: IntegritySummary
    readiness: Readiness
    base: _Base
    job_id: str
    now: datetime
    command: Callable[..., str]
    progress: Callable[[str, int, int], None] | None

    def data_summary(self, n_fitted: int) -> dict[str, Any]:
        """Return the outcome definition and the data counts the job and report record."""
        outcome = self.options.outcome
        return {
            "outcome_definition": outcome,
            "outcome_definition_text": _OUTCOME_DEFINITIONS[outcome],
            "trades_in_fit": n_fitted,
            "duplicates_dropped": self.summary.duplicates_dropped,
            "zoneless_timestamp_count": self.summary.zoneless_count,
        }

    def proposal(self) -> tuple[TradeBatch, Proposal]:
        """Fit and validate the proposal; return it with the trades it was fitted on."""
        batch, summary = self.batch, self.summary
        if self.options.outcome == OUTCOME_LABEL:
            batch, pnl = _label_outcomes(batch, self.paths)
        else:
            pnl = batch.pnl_pct
        breakdown = batch.has_model_breakdown
        # The deployed config's provenance names the data and what was dropped from it.
        provenance = batch.data_hash
        if summary.duplicates_dropped:
            provenance += f" (dropped {summary.duplicates_dropped} duplicates)"
        robust = robust_time_range(batch.timestamps)
        proposal = build_proposal(
            batch.confidence,
            pnl,
            job_id=self.job_id,
            created_at=self.now.isoformat(),
            data_hash=provenance,
            sides=batch.sides if breakdown else None,
            model_names=batch.model_names if breakdown else (),
            model_actions=batch.model_actions if breakdown else None,
            live_config=self.base.config,
            forced=self.options.force,
            # One outlier timestamp cannot move the age (robust_time_range).
            newest_trade_age_hours=None
            if robust is None
            else trade_age_hours([robust[1]], self.now.timestamp()),
            symbol_codes=batch.symbol_codes,
            symbol_names=batch.symbol_names,
            per_symbol=self.options.per_symbol,
            consensus_count=batch.consensus_count,
            progress=self.progress,
        )
        logger.info(
            "proposal built on %d trades: %s",
            proposal.n_trades,
            proposal.recommendation,
            extra={"event": "proposal_built", "job_id": self.job_id, "n": proposal.n_trades},
        )
        return batch, proposal

    def make(self) -> tuple[JobRecord, Proposal, dict[str, str]]:
        """Build the proposal, write the report (and problems file) and return the record."""
        paths, job_id, base, forced = self.paths, self.job_id, self.base, self.options.force
        created_at = self.now.isoformat()
        batch, proposal = self.proposal()
        data_summary = self.data_summary(batch.n_trades)
        status = STATUS_PENDING if proposal.acceptable else STATUS_REJECTED
        files = report_paths(paths.report_dir, job_id)
        # The full list of findings lives next to the report; the report shows them grouped.
        problems = problem_lines(self.summary)
        problems_file = problems_path(paths, self.now, f"calibration_{job_id}_problems")
        # Raw and calibrated on the same trades (the held-out ones when folds were possible).
        same = proposal.reliability_raw_same_trades
        picture = render_reliability_png(
            proposal.reliability_raw if same is None else same,
            proposal.reliability_calibrated,
            raw_label="raw confidence, all trades" if same is None else "raw, same trades",
            calibrated_label=proposal.reliability_label,
            title=f"Reliability diagram — {job_id}",
        )
        context = ReportContext(
            job_id=job_id,
            created_at=created_at,
            status=status,
            data_path=str(paths.data),
            data={
                **integrity_to_dict(self.summary),
                **findings_dict(self.summary),
                **data_summary,
                "partial_last_line_ignored": batch.partial_last_line_ignored,
                "problems_file": str(problems_file) if problems else None,
            },
            authorization=readiness_dict(self.readiness, forced=forced),
            base_version=base.version,
            base_config_sha256=base.sha256,
            live_config_note=base.note,
            picture=files.picture.name if picture is not None else None,
            picture_note="" if picture is not None else MATPLOTLIB_MISSING_NOTE,
            approve_command=self.command("approve", job_id),
            rollback_command=self.command("rollback"),
            rollback_to_command=self.command("rollback", base.version) if base.version else None,
        )
        document = build_report_document(proposal, context)
        write_report(files, render_markdown(document), render_json(document), picture)
        logger.info(
            "report written to %s",
            files.markdown,
            extra={"event": "report_written", "job_id": job_id, "path": files.markdown},
        )
        if problems:
            write_problems(problems_file, problems)
        record = JobRecord(
            job_id=job_id,
            created_at=created_at,
            status=status,
            forced=forced,
            proposed_config=proposal.config,
            validation_passed=proposal.validation.passed,
            risk_score=proposal.validation.risk.score,
            risk_category=proposal.validation.risk.category,
            checks=tuple(c.to_dict() for c in proposal.validation.checks),
            data_path=str(paths.data.resolve()),
            data_hash=batch.data_hash,
            n_trades=batch.n_trades,
            base_version=base.version,
            base_config_sha256=base.sha256,
            report_markdown=str(files.markdown.resolve()),
            report_json=str(files.json.resolve()),
            summary={**_job_summary(proposal), **data_summary},
            recommendation=proposal.recommendation,
            reasons=proposal.do_not_apply_reasons(),
        ).with_status(
            status,
            at=self.now,
            by="run",
            note="created FORCED (not deployable)" if forced else "created",
        )
        shown = {
            "markdown": str(files.markdown),
            "json": str(files.json),
            "picture": str(files.picture) if picture is not None else "",
        }
        return record, proposal, shown
