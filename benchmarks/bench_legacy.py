"""Benchmark serving a legacy config: the hot path must cost what it costs for ours.

Run ``python benchmarks/bench_legacy.py`` (``--quick`` for a smoke run). Every row is
timed in the same run as its reference: the scalar and batch paths of a loader serving
the old deployer's legacy config (11 keys, precomputed into knots with the clipped
flat extension) against a loader serving one of ours (11 knots), and against the old
loader's own ``clip(np.interp(c, keys, values), 0, 1)``. Timings vary with the machine
and its load; read the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import timeit
from pathlib import Path

import numpy as np

from calibration_core.config import CalibrationConfig, ConfidenceMap, EnsembleWeights
from calibration_core.runtime.loader import CalibrationLoader

KEYS = [0.5 + 0.05 * i for i in range(11)]
VALUES = [round(k - 0.07, 4) for k in KEYS]
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
OUR_VALUES = (0.0, 0.08, 0.17, 0.27, 0.38, 0.49, 0.58, 0.66, 0.76, 0.87, 1.0)
MODELS = ("xgb", "lgbm", "nhits", "patchtst")


def legacy_text() -> str:
    """Return a legacy config in the old deployer's layout (servable)."""
    return json.dumps(
        {
            "version": "cal_20260206_060303",
            "created_at": "2026-02-06T06:03:03.350649",
            "based_on_trades": 52,
            "confidence_calibration": {
                "enabled": True,
                "method": "isotonic",
                "mapping": {str(k): v for k, v in zip(KEYS, VALUES, strict=True)},
            },
            "ensemble_weights": {"enabled": True, "weights": dict.fromkeys(MODELS, 0.25)},
        }
    )


def our_text() -> str:
    """Return one of our configs with 11 knots and 4 weights."""
    return CalibrationConfig(
        version="cal_20260220_000001",
        created_at="2026-02-20T14:30:22+00:00",
        confidence=ConfidenceMap(enabled=True, thresholds=THRESHOLDS, values=OUR_VALUES),
        weights=EnsembleWeights(enabled=True, weights=tuple((m, 0.25) for m in MODELS)),
    ).to_json()


def per_call_ns(stmt: object, *, number: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the mean time per call, in nanoseconds."""
    runs = timeit.repeat(stmt, number=number, repeat=repeat)  # type: ignore[arg-type]
    return statistics.median(runs) / number * 1e9


def main(argv: list[str] | None = None) -> int:
    """Print the legacy/ours ratios of the scalar and batch hot paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args(argv)
    number = 20_000 if args.quick else 200_000
    size = 100_000 if args.quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        legacy_path, our_path = Path(tmp) / "legacy.json", Path(tmp) / "ours.json"
        legacy_path.write_text(legacy_text())
        our_path.write_text(our_text())
        legacy = CalibrationLoader(legacy_path, watch="none")
        ours = CalibrationLoader(our_path, watch="none")
    assert legacy.snapshot.legacy, legacy.status().last_error
    xp, fp = np.array(KEYS), np.array(VALUES)
    c = 0.6371
    assert abs(legacy.apply_confidence_calibration(c) - float(np.interp(c, xp, fp))) < 1e-12
    apply_legacy, apply_ours = (
        legacy.apply_confidence_calibration,
        ours.apply_confidence_calibration,
    )
    legacy_runs, our_runs = [], []
    for _ in range(5):  # interleaved, so both see the same machine load
        legacy_runs.append(per_call_ns(lambda: apply_legacy(c), number=number, repeat=3))
        our_runs.append(per_call_ns(lambda: apply_ours(c), number=number, repeat=3))
    old = per_call_ns(
        lambda: float(np.clip(np.interp(c, xp, fp), 0.0, 1.0)), number=number // 4, repeat=5
    )
    scalar_legacy, scalar_ours = statistics.median(legacy_runs), statistics.median(our_runs)
    print(
        f"scalar apply: legacy {scalar_legacy:.0f} ns/call, ours {scalar_ours:.0f} ns/call "
        f"(legacy/ours {scalar_legacy / scalar_ours:.2f}x); the old loader's "
        f"clip(np.interp) {old:.0f} ns ({old / scalar_legacy:.1f}x slower than legacy here)"
    )
    values = np.random.default_rng(0).random(size)
    batch_legacy, batch_ours = [], []
    for _ in range(3 if args.quick else 7):
        batch_legacy.append(
            min(
                timeit.repeat(
                    lambda: legacy.apply_confidence_calibration_batch(values), number=1, repeat=3
                )
            )
        )
        batch_ours.append(
            min(
                timeit.repeat(
                    lambda: ours.apply_confidence_calibration_batch(values), number=1, repeat=3
                )
            )
        )
    bl, bo = statistics.median(batch_legacy), statistics.median(batch_ours)
    print(
        f"batch apply of {size:.0e}: legacy {bl * 1e3:.1f} ms, ours {bo * 1e3:.1f} ms "
        f"(legacy/ours {bl / bo:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
