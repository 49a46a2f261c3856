"""The ``demo`` job: the whole flow on fresh example trades, in a scratch directory."""

# Shell module. Each step runs the real job through a runner the CLI passes in (its own
# entry point, in-process), with every path flag pointing into the scratch directory,
# so the demo shows exactly what an operator would see and never touches the
# operator's trades, live config or reports.

from __future__ import annotations

import shlex
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from calibration_core.config import CalibrationConfig
from calibration_core.exceptions import InvalidInputError
from calibration_core.fsio import atomic_write_text
from calibration_core.sources.example_data import write_example_trades

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DemoOutcome",
    "DemoResult",
    "DemoStep",
    "StepOutput",
    "render_demo_json",
    "render_demo_text",
    "walk_demo",
]

_PROG = "python -m calibration_core"
_RULE = "─" * 59


DemoOutcome = Literal["COMPLETE", "STOPPED", "NO_JOB"]
"""How the demo ended: every step as expected, a step that failed, or no job saved."""


@attrs.frozen
class StepOutput:
    """What the runner returns for one step.

    Its exit code, whether the flow accepts it, its printed text (stdout and
    stderr, or stderr alone with ``--json``) and its JSON document.
    """

    exit_code: int
    accepted: bool
    text: str
    document: dict[str, Any] | None


@attrs.frozen
class DemoStep:
    """One step of the demo: the job, the command an operator would type, its output."""

    job: str
    command: str
    output: StepOutput


@attrs.frozen
class DemoResult:
    """The walk: the scratch site, each step run, and the job the ``run`` step saved."""

    outcome: DemoOutcome
    scratch: Path
    data: Path
    config: Path
    baseline: str | None
    steps: tuple[DemoStep, ...]
    job_id: str | None


def _scratch(directory: str | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="calibration_demo_"))
    scratch = Path(directory)
    try:
        scratch.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"--dir {scratch}: cannot create the demo directory ({exc.strerror or exc})"
        ) from None
    return scratch


def walk_demo(
    directory: str | None, run_step: Callable[[str, list[str]], StepOutput]
) -> DemoResult:
    """Write fresh example trades and walk check → run → approve → status → monitor → rollback.

    Parameters
    ----------
    directory : str or None
        ``--dir``: the scratch directory (default: a new temporary directory).
    run_step : callable
        ``run_step(job, argv)`` runs one job with the arguments after the
        program name and says whether the flow accepts its exit code.

    Returns
    -------
    DemoResult
        COMPLETE when every step was accepted; else STOPPED at the first
        failing step (or NO_JOB when ``run`` saved no job).

    Raises
    ------
    InvalidInputError
        When ``directory`` cannot be created.
    """
    scratch = _scratch(directory).resolve()
    data = scratch / "data" / "clm_trades.jsonl"
    config = scratch / "config" / "calibration.json"
    reports = scratch / "reports"
    data.parent.mkdir(parents=True, exist_ok=True)
    config.parent.mkdir(parents=True, exist_ok=True)
    write_example_trades(data)
    baseline = None
    if not config.exists():
        # A live config with nothing enabled, as on a fresh install, so that the
        # demo's rollback has a version to return to.
        born = datetime.now(UTC) - timedelta(days=1)
        baseline = f"cal_{born.strftime('%Y%m%d_%H%M%S')}"
        atomic_write_text(
            config, CalibrationConfig(version=baseline, created_at=born.isoformat()).to_json()
        )
    # The cadence API is left out on purpose: the demo must not ask the operator's service.
    flags = ["--data", str(data), "--config", str(config), "--report-dir", str(reports)]
    flags += ["--cadence-api", ""]
    shown_flags = " ".join(shlex.quote(f) for f in flags)
    steps: list[DemoStep] = []
    outcome: DemoOutcome = "COMPLETE"
    plan: list[tuple[str, list[str]]] = [("check", []), ("run", [])]
    job_id: str | None = None
    while plan:
        job, words = plan.pop(0)
        before = set((reports / "jobs").glob("cal_*.json")) if job == "run" else set()
        output = run_step(job, [job, *words, *flags])
        command = f"{_PROG} {' '.join([job, *map(shlex.quote, words)])} {shown_flags}"
        steps.append(DemoStep(job, command, output))
        if not output.accepted:
            outcome = "STOPPED"
            break
        if job == "run":
            created = sorted(set((reports / "jobs").glob("cal_*.json")) - before)
            job_id = created[-1].stem if created else None
            if job_id is None:  # pragma: no cover - run exited 0, so it saved a job
                outcome = "NO_JOB"
                break
            plan = [
                ("approve", [job_id, "--yes", "--approved-by", "demo"]),
                ("status", []),
                ("monitor", []),
                ("rollback", ["--yes", "--by", "demo", "--reason", "demo rollback"]),
            ]
    return DemoResult(outcome, scratch, data, config, baseline, tuple(steps), job_id)


def render_demo_json(result: DemoResult) -> dict[str, Any]:
    """Return the JSON document of ``demo --json``: every step's own JSON and exit code."""
    return {
        "ok": result.outcome == "COMPLETE",
        "dir": str(result.scratch),
        "data_path": str(result.data),
        "job_id": result.job_id,
        "steps": [
            {
                "job": s.job,
                "command": s.command,
                "exit_code": s.output.exit_code,
                "output": s.output.document,
            }
            for s in result.steps
        ],
    }


def render_demo_text(result: DemoResult) -> str:
    """Return the printout of ``demo``: each step's command and output, then the verdict."""
    lines = [
        "🎬 CALIBRATION DEMO",
        _RULE,
        f"Scratch directory: {result.scratch}",
        f"Fresh example trades: {result.data} (600 trades, the newest a few minutes old)",
        "Your own trades, live config and reports are not touched.",
    ]
    if result.baseline is not None:
        lines.append(
            f"Live before the demo: {result.baseline} (nothing enabled, as on a fresh install): "
            f"{result.config}"
        )
    for step in result.steps:
        code = step.output.exit_code
        lines += ["", _RULE, f"$ {step.command}", step.output.text.rstrip("\n"), f"(exit {code})"]
        if not step.output.accepted:
            lines += ["", f"❌ the demo stopped: `{step.job}` exited {code}"]
    if result.outcome == "COMPLETE":
        lines += [
            "",
            _RULE,
            "✅ DEMO COMPLETE: check → run → approve → status → monitor → rollback",
            f"   Everything above lives in {result.scratch}; delete it when you are done.",
            (
                "   On your own data, drop the --data/--config/--report-dir flags (or set "
                "CLM_DATA_PATH, CALIBRATION_CONFIG_PATH, CALIBRATION_REPORT_DIR)."
            ),
        ]
    return "\n".join(lines)
