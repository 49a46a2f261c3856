"""Time approve and rollback in-process and through the CLI, against our targets.

Targets (design: deploy < 5 s, rollback < 2 min; ours are far tighter):
approve <= 0.2 s and rollback <= 0.5 s of wall time, excluding Python start-up.

Run: ``python benchmarks/bench_deploy.py [--cycles 50] [--cli-runs 10]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from calibration_core import deploy
from calibration_core.config import CalibrationConfig, ConfidenceMap, EnsembleWeights
from calibration_core.deploy.jobstore import STATUS_PENDING, JobRecord, JobStore
from calibration_core.settings import Paths

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

APPROVE_TARGET_S = 0.2
ROLLBACK_TARGET_S = 0.5
_START = datetime(2026, 1, 1, tzinfo=UTC)
_KNOTS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _version(n: int) -> str:
    return (_START + timedelta(seconds=n)).strftime("cal_%Y%m%d_%H%M%S")


def _add_job(paths: Paths, n: int) -> str:
    """Store a pending job for version n, computed against whatever is live."""
    job_id = _version(n)
    shift = -0.05 + 0.01 * (n % 10)
    config = CalibrationConfig(
        version=job_id,
        created_at=_START.isoformat(),
        confidence=ConfidenceMap(
            enabled=True,
            thresholds=_KNOTS,
            values=tuple(t if t in {0.0, 1.0} else t + shift for t in _KNOTS),
        ),
        weights=EnsembleWeights(
            enabled=True,
            weights=(("xgb", 0.3), ("lgbm", 0.3), ("nhits", 0.2), ("patchtst", 0.2)),
        ),
        source_job=job_id,
    )
    live = deploy.read_live(paths)
    JobStore(paths.jobs_dir).save(
        JobRecord(
            job_id=job_id,
            created_at=_START.isoformat(),
            status=STATUS_PENDING,
            forced=False,
            proposed_config=config,
            validation_passed=True,
            risk_score=0.1,
            risk_category="low",
            checks=(),
            data_path="data/clm_trades.jsonl",
            data_hash="sha256:bench",
            n_trades=500,
            base_version=live.version,
            base_config_sha256=live.sha256,
            recommendation="APPROVE CANDIDATE",
        )
    )
    return job_id


def _make_paths(root: Path) -> Paths:
    (root / "config").mkdir()
    return Paths(
        data=root / "clm_trades.jsonl",
        config=root / "config" / "calibration.json",
        report_dir=root / "reports",
        cadence_api=None,
    )


def _clock() -> datetime:
    return datetime.now(UTC)


def _stats(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def _report(name: str, samples: Sequence[float], target: float) -> bool:
    median, p95 = _stats(samples)
    ok = p95 <= target
    print(
        f"  {name:<34} median {median * 1e3:8.1f} ms   p95 {p95 * 1e3:8.1f} ms   "
        f"target {target * 1e3:6.0f} ms   p95/target {p95 / target:5.2f}   "
        f"{'PASS' if ok else 'MISS'}"
    )
    return ok


def _time(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def bench_in_process(cycles: int) -> tuple[list[float], list[float]]:
    """Time ``cycles`` approves then ``cycles`` rollbacks in a temp dir."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = _make_paths(Path(tmp))
        approve_s: list[float] = []
        for n in range(cycles + 1):
            job_id = _add_job(paths, n)  # outside the timing: `run` makes jobs
            elapsed = _time(
                functools.partial(deploy.approve, paths, job_id, approved_by="bench", now=_clock)
            )
            if n:  # the first deploy also creates the archive and audit files
                approve_s.append(elapsed)
        rollback_s: list[float] = []
        for n in range(cycles):
            target = _version(cycles - 1 - n % 2)  # flip between the last two versions
            restore = functools.partial(
                deploy.rollback, paths, version=target, by="bench", reason="bench", now=_clock
            )
            rollback_s.append(_time(restore))
    return approve_s, rollback_s


def _run(argv: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        msg = f"{' '.join(argv[:4])} failed ({proc.returncode}): {proc.stderr.strip()}"
        raise SystemExit(msg)
    return elapsed


def bench_cli(runs: int) -> dict[str, list[float]]:
    """Time the CLI subprocesses and the bare start-ups they are compared with."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = _make_paths(root)
        env = dict(os.environ)
        env.update(
            CALIBRATION_CONFIG_PATH=str(paths.config),
            CALIBRATION_REPORT_DIR=str(paths.report_dir),
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.pop("LEARNING_CADENCE_API", None)
        env.pop(deploy.KILL_AT_ENV, None)
        py = sys.executable
        out: dict[str, list[float]] = {
            k: [] for k in ("bare", "parser", "approve_cli", "rollback_cli")
        }
        deploy.approve(paths, _add_job(paths, 0), approved_by="bench", now=_clock)
        for n in range(1, runs + 1):
            out["bare"].append(_run([py, "-c", "import calibration_core"], env, root))
            out["parser"].append(
                _run(
                    [
                        py,
                        "-c",
                        "from calibration_core.cli.main import build_parser; build_parser()",
                    ],
                    env,
                    root,
                )
            )
            job_id = _add_job(paths, n)
            out["approve_cli"].append(
                _run([py, "-m", "calibration_core", "approve", job_id, "--yes"], env, root)
            )
        for n in range(runs):
            target = _version(runs - 1 - n % 2)
            out["rollback_cli"].append(
                _run([py, "-m", "calibration_core", "rollback", target, "--yes"], env, root)
            )
    return out


def main() -> int:
    """Run the benchmark and print median/p95 with PASS/MISS per target."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=50, help="in-process cycles (default 50)")
    parser.add_argument("--cli-runs", type=int, default=10, help="CLI runs (default 10)")
    args = parser.parse_args()

    print(f"calibration_core deploy benchmark ({os.cpu_count()} CPUs, {sys.version.split()[0]})")
    approve_s, rollback_s = bench_in_process(args.cycles)
    print(f"\nIn-process, {args.cycles} cycles (the deploy work itself, no start-up):")
    ok = _report("approve(...)", approve_s, APPROVE_TARGET_S)
    ok &= _report("rollback(...)", rollback_s, ROLLBACK_TARGET_S)

    cli = bench_cli(args.cli_runs)
    bare = statistics.median(cli["bare"])
    parser_s = statistics.median(cli["parser"])
    print(f"\nCLI subprocesses, {args.cli_runs} runs each:")
    print(f"  reference: bare `import calibration_core` start-up  median {bare * 1e3:7.1f} ms")
    print(
        f"  reference: start-up + building the CLI parser        median {parser_s * 1e3:7.1f} ms"
        f"  ({parser_s / bare:.1f}x bare; job modules imported at registration)"
    )
    for name, target in (("approve_cli", APPROVE_TARGET_S), ("rollback_cli", ROLLBACK_TARGET_S)):
        minus_bare = [t - bare for t in cli[name]]
        minus_parser = [t - parser_s for t in cli[name]]
        ok &= _report(f"{name} - bare start-up", minus_bare, target)
        _report(f"{name} - parser start-up", minus_parser, target)
    print(f"\nOverall: {'PASS' if ok else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
