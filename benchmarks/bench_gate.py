"""How often the out-of-sample gate enables a harmful map or misses a helpful one, by sample size.

Run ``python benchmarks/bench_gate.py`` (``--seeds N`` for more or fewer seeds, ``--quick``
for a smoke run, ``--json PATH`` to also write the results). For each scenario, sample
size n and seed it draws n trades and the 400 that follow, builds the real proposal
(``build_proposal``) on the n trades and scores the map fitted on them on the 400 later
trades. A map is *helpful* when it lowers the later Brier score below raw, *harmful*
when it raises it. Two rules are compared on the same draws:

- ``5 % only``: the held-out gain is at least 5 % (the rule before issue 10);
- ``5 % + test``: the same AND the one-sided paired t-test at 95 % says the gain is
  above zero (``calibration_core.core.gate``; what the proposal now does).

Printed per row: how often each rule enabled the map, the share of all draws where it
enabled a harmful map, and the share of the helpful maps it missed.

Scenarios:

- ``calibrated``: confidence uniform in [0.50, 0.95] and outcomes drawn from it (raw is
  already right; every map is noise, and any enabled map should be rare);
- ``overconfident``: confidence uniform in [0.70, 0.95], every trade winning 50 %;
- ``mild``: confidence uniform in [0.50, 0.95] winning ``0.5 + 0.6 (c - 0.5)``: a real
  but small miscalibration, where small samples cannot see it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from calibration_core.core.proposal import build_proposal

SIZES = (50, 60, 80, 120, 200, 300, 500, 750)
QUICK_SIZES = (50, 80, 200)
LATER_TRADES = 400
SCENARIOS = ("calibrated", "overconfident", "mild")


def _draw(scenario: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, n, SCENARIOS.index(scenario)])
    total = n + LATER_TRADES
    if scenario == "overconfident":
        confidence = rng.uniform(0.70, 0.95, total)
        p_win = np.full(total, 0.5)
    elif scenario == "mild":
        confidence = rng.uniform(0.50, 0.95, total)
        p_win = 0.5 + 0.6 * (confidence - 0.5)
    else:
        confidence = rng.uniform(0.50, 0.95, total)
        p_win = confidence
    wins = rng.random(total) < p_win
    return confidence, np.where(wins, 1.0, -1.0) * rng.uniform(0.06, 2.0, total)


def _one(scenario: str, n: int, seed: int) -> dict[str, bool]:
    x, pnl = _draw(scenario, n, seed)
    proposal = build_proposal(
        x[:n],
        pnl[:n],
        job_id="cal_20260101_000000",
        created_at="2026-01-01T00:00:00+00:00",
        data_hash="sha256:bench",
    )
    later_x, later_y = x[n:], (pnl[n:] > 0).astype(np.float64)
    raw = float(np.mean((later_x - later_y) ** 2))
    mapped = float(np.mean((np.asarray(proposal.calibration.predict(later_x)) - later_y) ** 2))
    gate = proposal.confidence_gate
    return {
        "old": gate is not None and gate.large_enough,
        "new": proposal.confidence_enabled,
        "helpful": mapped < raw,
        "harmful": mapped > raw,
    }


def _row(scenario: str, n: int, seeds: int) -> dict[str, Any]:
    runs = [_one(scenario, n, seed) for seed in range(seeds)]
    helpful = sum(r["helpful"] for r in runs)

    def rates(rule: str) -> dict[str, float | None]:
        enabled = sum(r[rule] for r in runs)
        harmful = sum(r[rule] and r["harmful"] for r in runs)
        missed = sum(r["helpful"] and not r[rule] for r in runs)
        return {
            "enabled": enabled / seeds,
            "harmful_enabled": harmful / seeds,
            "helpful_missed": missed / helpful if helpful else None,
        }

    return {
        "scenario": scenario,
        "n": n,
        "seeds": seeds,
        "helpful_share": helpful / seeds,
        "old": rates("old"),
        "new": rates("new"),
    }


def _pct(value: float | None) -> str:
    return "   —  " if value is None else f"{value:6.1%}"


def main(argv: list[str] | None = None) -> int:
    """Print the table; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="draws per row (default 200)")
    parser.add_argument("--quick", action="store_true", help="3 sizes, 30 seeds")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    seeds = 30 if args.quick else args.seeds
    sizes = QUICK_SIZES if args.quick else SIZES
    print(f"bench_gate: {seeds} seeds per row, {LATER_TRADES} later trades scored")
    print(f"{'scenario':<14}{'n':>5}  {'helpful':>7}  | {'5 % only':^29} | {'5 % + test':^29}")
    print(
        f"{'':<14}{'':>5}  {'maps':>7}  | {'enabled':>8} {'harmful':>9} {'missed':>9}  "
        f"| {'enabled':>8} {'harmful':>9} {'missed':>9}"
    )
    rows = []
    for scenario in SCENARIOS:
        for n in sizes:
            row = _row(scenario, n, seeds)
            rows.append(row)
            old, new = row["old"], row["new"]
            print(
                f"{scenario:<14}{n:>5}  {_pct(row['helpful_share']):>7}  | "
                f"{_pct(old['enabled']):>8} {_pct(old['harmful_enabled']):>9} "
                f"{_pct(old['helpful_missed']):>9}  | "
                f"{_pct(new['enabled']):>8} {_pct(new['harmful_enabled']):>9} "
                f"{_pct(new['helpful_missed']):>9}",
                flush=True,
            )
    print(
        "harmful = share of all draws where the rule enabled a map that made the later Brier "
        "score worse; missed = share of the helpful maps the rule did not enable"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "benchmark": "gate",
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                    "python": sys.version.split()[0],
                    "numpy": np.__version__,
                    "machine": platform.machine(),
                    "rows": rows,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
