"""Builders of valid configs, job records and deploy trees shared by the deploy tests."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from hypothesis import strategies as st

from calibration_core.config import (
    CONSENSUS_BUCKETS,
    CalibrationConfig,
    ConfidenceMap,
    ConsensusMultipliers,
    EnsembleWeights,
    PerSymbolMaps,
    parse_config,
)
from calibration_core.constants import MAX_CONFIDENCE_CHANGE, MAX_WEIGHT, MIN_WEIGHT
from calibration_core.deploy.jobstore import RECOMMEND_APPROVE, STATUS_PENDING, JobRecord, JobStore
from calibration_core.exceptions import ConfigRejectedError
from calibration_core.settings import Paths

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "BASE_MOMENT",
    "DEFAULT_WEIGHTS",
    "KNOTS",
    "REPO_ROOT",
    "DeployTree",
    "calibration_configs",
    "finish",
    "make_config",
    "make_job",
    "make_tree",
    "snapshot_tree",
    "ticking_clock",
    "version_id",
    "wait_until",
]

BASE_MOMENT = datetime(2026, 1, 1, tzinfo=UTC)
"""The moment of ``version_id(0)``."""

KNOTS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Knot thresholds of the maps :func:`make_config` builds."""

DEFAULT_WEIGHTS = {"xgb": 0.30, "lgbm": 0.30, "nhits": 0.20, "patchtst": 0.20}
"""The ensemble of the design document."""

REPO_ROOT = Path(__file__).resolve().parents[1]


def version_id(n: int) -> str:
    """Return the n-th valid version name, one second apart: ``cal_20260101_000000`` + n s."""
    return (BASE_MOMENT + timedelta(seconds=n)).strftime("cal_%Y%m%d_%H%M%S")


def ticking_clock(start: datetime = BASE_MOMENT) -> Callable[[], datetime]:
    """Return a clock that advances one second per call, for deterministic timestamps."""
    state = {"now": start}

    def now() -> datetime:
        state["now"] += timedelta(seconds=1)
        return state["now"]

    return now


def make_config(
    version: str,
    *,
    shift: float = -0.02,
    weights: Mapping[str, float] | None = None,
    confidence_enabled: bool = True,
    weights_enabled: bool = True,
    approved_by: str | None = None,
    data_hash: str | None = "sha256:feed",
) -> CalibrationConfig:
    """Build a valid config whose map moves every interior knot by ``shift`` (|shift| ≤ 0.15)."""
    values = tuple(min(1.0, max(0.0, t + shift)) if 0.0 < t < 1.0 else t for t in KNOTS)
    return CalibrationConfig(
        version=version,
        created_at="2026-01-01T00:00:00+00:00",
        confidence=ConfidenceMap(enabled=confidence_enabled, thresholds=KNOTS, values=values),
        weights=EnsembleWeights(
            enabled=weights_enabled, weights=tuple((weights or DEFAULT_WEIGHTS).items())
        ),
        approved_by=approved_by,
        approved_at=None if approved_by is None else "2026-01-01T00:00:01+00:00",
        source_job=version,
        data_hash=data_hash,
    )


def make_job(
    job_id: str,
    *,
    base_version: str | None,
    base_config_sha256: str | None,
    config: CalibrationConfig | None = None,
    status: str = STATUS_PENDING,
    forced: bool = False,
    validation_passed: bool = True,
    risk_score: float = 0.10,
    risk_category: str = "low",
    recommendation: str | None = RECOMMEND_APPROVE,
    reasons: tuple[str, ...] = (),
) -> JobRecord:
    """Build a job record proposing ``config`` (by default ``make_config(job_id)``).

    Its report's verdict is ``recommendation`` (APPROVE CANDIDATE unless told;
    None stands for an old record that stored none) with ``reasons``.
    """
    return JobRecord(
        job_id=job_id,
        created_at="2026-01-01T00:00:00+00:00",
        status=status,
        forced=forced,
        proposed_config=config or make_config(job_id),
        validation_passed=validation_passed,
        risk_score=risk_score,
        risk_category=risk_category,
        checks=({"name": "weight_sum", "passed": True},),
        data_path="data/clm_trades.jsonl",
        data_hash="sha256:feed",
        n_trades=120,
        base_version=base_version,
        base_config_sha256=base_config_sha256,
        summary={"win_rate": 0.52},
        recommendation=recommendation,
        reasons=reasons,
    )


@attrs.define
class DeployTree:
    """A temporary config directory, report directory and the paths pointing at them."""

    root: Path
    paths: Paths

    @property
    def store(self) -> JobStore:
        """The job store of this tree."""
        return JobStore(self.paths.jobs_dir)

    def write_live(self, config: CalibrationConfig) -> bytes:
        """Put ``config`` live by hand (no archive, no audit) and return its bytes."""
        data = config.to_json().encode("utf-8")
        self.paths.config.write_bytes(data)
        return data

    def live_bytes(self) -> bytes | None:
        """Return the live config's bytes, or None."""
        try:
            return self.paths.config.read_bytes()
        except FileNotFoundError:
            return None

    def live_version(self) -> str | None:
        """Return the live config's version, ours or legacy (it must parse)."""
        data = self.live_bytes()
        return None if data is None else parse_config(data).version

    def add_job(self, job_id: str, **kwargs: Any) -> JobRecord:
        """Save a pending job computed against whatever is live now."""
        data = self.live_bytes()
        try:
            base_version = self.live_version()
        except ConfigRejectedError:  # a job may be computed against a corrupt live file
            base_version = None
        job = make_job(
            job_id,
            base_version=base_version,
            base_config_sha256=None if data is None else hashlib.sha256(data).hexdigest(),
            **kwargs,
        )
        self.store.save(job)
        return job

    def audit(self) -> list[dict[str, Any]]:
        """Return every audit record (each line must parse)."""
        path = self.paths.audit_log
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def live_events(self) -> list[dict[str, Any]]:
        """Return the audit records that made a version live."""
        return [r for r in self.audit() if r["event"] in {"deploy", "rollback", "recovered"}]

    def archived_versions(self) -> set[str]:
        """Return the versions with a ``<version>.json`` in the archive."""
        return {
            p.stem for p in self.paths.archive_dir.glob("cal_*.json") if "_backup_" not in p.stem
        }

    def temp_files(self) -> list[Path]:
        """Return leftover temp files in the config and archive directories."""
        found: list[Path] = []
        for directory in (self.paths.config_dir, self.paths.archive_dir):
            if directory.is_dir():
                found.extend(directory.glob(".tmp-calibration-*"))
        return found

    def assert_consistent(self) -> None:
        """Assert the invariants: live parses, audit chain complete, every live version archived."""
        records = self.audit()
        events = self.live_events()
        for before, after in itertools.pairwise(events):
            assert after["previous_version"] == before["version"], (before, after)
        live = self.live_version()
        if live is not None:
            assert events, "a live config without any audit record"
            assert events[-1]["version"] == live, (events[-1], live)
        ever_live = {e["version"] for e in events} | ({live} if live else set())
        assert ever_live <= self.archived_versions(), ever_live - self.archived_versions()
        assert all(isinstance(r, dict) and "event" in r for r in records)
        if self.paths.config.exists():
            assert self.paths.config.stat().st_mode & 0o777 == 0o644

    def env(self, **extra: str) -> dict[str, str]:
        """Return a subprocess environment pointing the CLI at this tree."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CALIBRATION_", "CLM_"))}
        env.pop("LEARNING_CADENCE_API", None)
        env.update(
            CALIBRATION_CONFIG_PATH=str(self.paths.config),
            CALIBRATION_REPORT_DIR=str(self.paths.report_dir),
            CLM_DATA_PATH=str(self.paths.data),
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(extra)
        return env

    def run_cli(
        self,
        *args: str,
        stdin: Any = subprocess.DEVNULL,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m calibration_core *args`` against this tree and capture its output."""
        return subprocess.run(
            [sys.executable, "-m", "calibration_core", *args],
            stdin=None if input_text is not None else stdin,
            input=input_text,
            capture_output=True,
            text=True,
            env=dict(env) if env is not None else self.env(),
            cwd=self.root,
            preexec_fn=preexec_fn,
            timeout=timeout,
            check=False,
        )


def make_tree(root: Path) -> DeployTree:
    """Create ``root/config`` and ``root/reports`` and return the tree (no live config yet)."""
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "reports").mkdir(exist_ok=True)
    paths = Paths(
        data=root / "data" / "clm_trades.jsonl",
        config=root / "config" / "calibration.json",
        report_dir=root / "reports",
        cadence_api=None,
    )
    return DeployTree(root=root, paths=paths)


def snapshot_tree(root: Path, *, ignore: Sequence[str] = ()) -> dict[str, str]:
    """Map every path under ``root`` to its content hash, symlink target or ``dir``."""
    result: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if rel in ignore:
                continue
            if path.is_symlink():
                result[rel] = f"-> {path.readlink()}"
            elif path.is_dir():
                result[rel] = "dir"
            else:
                result[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> tuple[str, str]:
    """Wait for ``proc`` and return (stdout, stderr); kill it first if it overruns ``timeout``.

    A child that hangs must fail its test, never outlive it.
    """
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=30)
        raise


def wait_until(predicate: Callable[[], bool], *, timeout: float = 10.0, what: str = "") -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while not predicate():
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout} s waiting for {what or predicate}"
            raise AssertionError(msg)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


# --------------------------------------------------------------------------- hypothesis


@st.composite
def _confidence_maps(draw: st.DrawFn) -> ConfidenceMap:
    max_change = draw(st.floats(0.01, MAX_CONFIDENCE_CHANGE))
    inner = draw(st.lists(st.floats(0.001, 0.999), max_size=8, unique=True))
    thresholds = (0.0, *sorted(inner), 1.0)
    values: list[float] = []
    for t in thresholds:
        low = max(0.0, t - max_change, values[-1] if values else 0.0)
        high = min(1.0, t + max_change)
        values.append(low if low >= high else draw(st.floats(low, high)))
    return ConfidenceMap(
        enabled=draw(st.booleans()),
        thresholds=thresholds,
        values=tuple(values),
        max_change=max_change,
        method=draw(st.sampled_from(["isotonic", "identity"])),
    )


@st.composite
def _ensemble_weights(draw: st.DrawFn) -> EnsembleWeights:
    names = draw(
        st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True), min_size=3, max_size=6)
        .map(lambda xs: list(dict.fromkeys(xs)))
        .filter(lambda xs: len(xs) >= 3)  # 3..6 models keep 1/n in bounds
    )
    weights = [1.0 / len(names)] * len(names)
    for _ in range(draw(st.integers(0, 4))):
        i, j = draw(st.integers(0, len(names) - 1)), draw(st.integers(0, len(names) - 1))
        room = min(MAX_WEIGHT - weights[i], weights[j] - MIN_WEIGHT)
        if i != j and room > 0:
            delta = draw(st.floats(0.0, room))
            # The bounds are exact: clamp away the rounding of the sum (the sum check has slack).
            weights[i] = min(weights[i] + delta, MAX_WEIGHT)
            weights[j] = max(weights[j] - delta, MIN_WEIGHT)
    return EnsembleWeights(
        enabled=draw(st.booleans()), weights=tuple(zip(names, weights, strict=True))
    )


@st.composite
def calibration_configs(draw: st.DrawFn) -> CalibrationConfig:
    """Draw any valid :class:`CalibrationConfig` (every section, every optional field)."""
    stamp = version_id(draw(st.integers(0, 2_000_000_000))) + draw(
        st.sampled_from(["", "_01", "_123"])
    )
    iso = st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
    symbols = st.dictionaries(
        st.from_regex(r"[A-Z]{2,6}(USDT)?", fullmatch=True), _confidence_maps(), max_size=3
    )
    multipliers = st.tuples(*(st.floats(0.5, 1.5) for _ in CONSENSUS_BUCKETS))
    return CalibrationConfig(
        version=stamp,
        created_at=draw(iso),
        confidence=draw(_confidence_maps()),
        weights=draw(_ensemble_weights()),
        per_symbol=PerSymbolMaps(enabled=draw(st.booleans()), maps=tuple(draw(symbols).items())),
        consensus=ConsensusMultipliers(
            enabled=draw(st.booleans()),
            multipliers=tuple(zip(CONSENSUS_BUCKETS, draw(multipliers), strict=True)),
        ),
        approved_at=draw(st.none() | iso),
        approved_by=draw(
            st.none()
            | st.text(
                st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_characters="\x7f"),
                min_size=1,
                max_size=20,
            )
        ),
        source_job=draw(st.none() | st.just(stamp)),
        data_hash=draw(
            st.none()
            | st.text(
                st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20
            )
        ),
    )
