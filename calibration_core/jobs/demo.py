"""The ``demo`` job: the whole flow on fresh example trades, in a scratch directory."""

# Shell module. Each step runs the real job through the CLI's own entry point,
# in-process, with every path flag pointing into the scratch directory, so the
# demo shows exactly what an operator would see and never touches the
# operator's trades, live config or reports.

from __future__ import annotations

import io
import json
import shlex
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calibration_core.cli.main import EXIT_NEGATIVE, EXIT_OK, main
from calibration_core.config import CalibrationConfig
from calibration_core.exceptions import InvalidInputError
from calibration_core.fsio import atomic_write_text
from calibration_core.sources.example_data import write_example_trades

if TYPE_CHECKING:
    import argparse

    from calibration_core.cli.main import JobContext

__all__ = ["run_demo"]

_PROG = "python -m calibration_core"
_RULE = "─" * 59
# monitor right after approve has no trades since the deploy yet: WATCH (1) is expected.
_ACCEPTED = {"monitor": (EXIT_OK, EXIT_NEGATIVE)}


def _scratch(args: argparse.Namespace) -> Path:
    if args.dir is None:
        return Path(tempfile.mkdtemp(prefix="calibration_demo_"))
    scratch = Path(args.dir)
    try:
        scratch.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"--dir {scratch}: cannot create the demo directory ({exc.strerror or exc})"
        ) from None
    return scratch


def _step(
    ctx: JobContext, job: str, words: list[str], flags: list[str]
) -> tuple[int, str, dict[str, Any] | None]:
    """Run one job in-process; return its exit code, its printed text and its JSON (--json)."""
    out, err = io.StringIO(), io.StringIO()
    argv = [job, *words, *flags, *(["--json"] if ctx.as_json else [])]
    code = main(argv, stdout=out, stderr=err, stdin=io.StringIO(""))
    text = out.getvalue()
    if not ctx.as_json:
        return code, text + err.getvalue(), None
    try:
        document = json.loads(text) if text.strip() else None
    except ValueError:
        document = {"text": text}
    return code, err.getvalue(), document


def run_demo(args: argparse.Namespace, ctx: JobContext) -> int:
    """Write fresh example trades and walk check → run → approve → status → monitor → rollback.

    Exit 0 when every step answered as the flow expects (monitor may say
    WATCH: nothing has traded since the deploy), otherwise the first failing
    step's exit code.
    """
    scratch = _scratch(args).resolve()
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
    flags = [
        "--data",
        str(data),
        "--config",
        str(config),
        "--report-dir",
        str(reports),
        "--cadence-api",
        "",
    ]
    shown_flags = " ".join(shlex.quote(f) for f in flags)
    lines = [
        "🎬 CALIBRATION DEMO",
        _RULE,
        f"Scratch directory: {scratch}",
        f"Fresh example trades: {data} (600 trades, the newest a few minutes old)",
        "Your own trades, live config and reports are not touched.",
    ]
    if baseline is not None:
        lines.append(
            f"Live before the demo: {baseline} (nothing enabled, as on a fresh install): {config}"
        )
    steps: list[dict[str, Any]] = []
    result = EXIT_OK
    plan: list[tuple[str, list[str]]] = [("check", []), ("run", [])]
    job_id: str | None = None
    while plan:
        job, words = plan.pop(0)
        before = set((reports / "jobs").glob("cal_*.json")) if job == "run" else set()
        code, text, document = _step(ctx, job, words, flags)
        command = f"{_PROG} {' '.join([job, *map(shlex.quote, words)])} {shown_flags}"
        lines += ["", _RULE, f"$ {command}", text.rstrip("\n"), f"(exit {code})"]
        steps.append({"job": job, "command": command, "exit_code": code, "output": document})
        if code not in _ACCEPTED.get(job, (EXIT_OK,)):
            result = code
            lines += ["", f"❌ the demo stopped: `{job}` exited {code}"]
            break
        if job == "run":
            created = sorted(set((reports / "jobs").glob("cal_*.json")) - before)
            job_id = created[-1].stem if created else None
            if job_id is None:  # pragma: no cover - run exited 0, so it saved a job
                result = EXIT_NEGATIVE
                break
            plan = [
                ("approve", [job_id, "--yes", "--approved-by", "demo"]),
                ("status", []),
                ("monitor", []),
                ("rollback", ["--yes", "--by", "demo", "--reason", "demo rollback"]),
            ]
    if result == EXIT_OK:
        lines += [
            "",
            _RULE,
            "✅ DEMO COMPLETE: check → run → approve → status → monitor → rollback",
            f"   Everything above lives in {scratch}; delete it when you are done.",
            (
                "   On your own data, drop the --data/--config/--report-dir flags (or set "
                "CLM_DATA_PATH, CALIBRATION_CONFIG_PATH, CALIBRATION_REPORT_DIR)."
            ),
        ]
    payload = {
        "ok": result == EXIT_OK,
        "dir": str(scratch),
        "data_path": str(data),
        "job_id": job_id,
        "steps": steps,
    }
    ctx.emit(payload, "\n".join(lines))
    return result
