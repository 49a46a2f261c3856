"""Benchmark our PAV against scipy and our calibration fit against scikit-learn, in one run.

Run ``python benchmarks/bench_isotonic.py`` (``--quick`` for a smoke run at smaller sizes,
``--json PATH`` to also write the results). Each row times ours and the reference on the
same input, interleaved, and reports the best of several repeats (the median is in the
JSON), the ratio ours / reference and PASS/MISS against the targets:

- ``isotonic_regression`` <= 2x ``scipy.optimize.isotonic_regression`` at 1e6 on every
  shape: sorted points with random 0/1 outcomes (<= 1.5x there) and with continuous
  outcomes, and the adversarial shapes final drop, nested drops, alternating, sawtooth,
  staircase and decreasing;
- ``fit_isotonic`` <= 0.5x ``sklearn.isotonic.IsotonicRegression().fit`` on 1e6
  unsorted points with ties (confidences rounded to 3 decimals);
- adversarial shapes: time at 1e6 <= 15x time at 1e5, and <= 2 s at 1e6.

The summary at the end lists ours / scipy per shape at 1e5 and 1e6: the best-of-N
ratio (min ours / min scipy) and the median ratio, so the spread on a busy machine shows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy
import sklearn
from scipy.optimize import isotonic_regression as scipy_isotonic_regression
from sklearn.isotonic import IsotonicRegression

from calibration_core.core.isotonic import fit_isotonic
from calibration_core.core.pav import isotonic_regression

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    # The adversarial shapes are shared with the tests, which are not installed.
    sys.path.insert(0, str(REPO))

from calibration_core_tests.strategies import adversarial_shapes  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

PAV_RATIO_TARGET = 2.0
PAV_BINARY_RATIO_TARGET = 1.5
FIT_RATIO_TARGET = 0.5
SCALING_TARGET = 15.0
ADVERSARIAL_SECONDS_TARGET = 2.0


def _repeats(n: int) -> int:
    """More repeats for small inputs, whose timings are noisier; 15 at most on a shared box."""
    return 40 if n <= 10_000 else 15


SHAPE_NAMES = {
    "increasing_then_drop": "final drop",
    "repeated_drops": "nested drops",
    "alternating": "alternating",
    "sawtooth": "sawtooth",
    "staircase": "staircase",
}
"""Display names of ``adversarial_shapes`` (the issue's names), in table order."""


def _shapes(n: int) -> dict[str, FloatArray]:
    """Return the adversarial shapes under their display names, plus a decreasing one."""
    shapes = adversarial_shapes(n)
    named = {SHAPE_NAMES[key]: shapes[key] for key in SHAPE_NAMES}
    named["decreasing"] = -np.arange(n, dtype=np.float64)
    return named


CLOCKS: dict[str, Callable[[], float]] = {
    "thread": time.thread_time,
    "wall": time.perf_counter,
}
"""``thread``: CPU time of this thread, which time stolen by other processes on a busy
machine does not inflate (numpy and scipy run these calls on the calling thread);
``wall``: elapsed time."""

CLOCK: list[Callable[[], float]] = [time.thread_time]
"""The clock in use (set once by ``main``)."""


def _time_pair(
    ours: Callable[[], object], reference: Callable[[], object], repeats: int
) -> tuple[list[float], list[float]]:
    """Time both callables ``repeats`` times, interleaved so that load drifts hit both.

    Three warm-up calls each first: the allocator's state (fresh pages or reused heap)
    settles only after a few large allocations, and it affects both sides.
    """
    for _ in range(3):
        ours()
        reference()
    ours_times: list[float] = []
    reference_times: list[float] = []
    for _ in range(repeats):
        start = CLOCK[0]()
        ours()
        ours_times.append(CLOCK[0]() - start)
        start = CLOCK[0]()
        reference()
        reference_times.append(CLOCK[0]() - start)
    return ours_times, reference_times


class Report:
    """Collects result rows, prints them as they come and as a table at the end."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        *,
        group: str,
        case: str,
        n: int,
        times: tuple[list[float], list[float]],
        target: float | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """Add one ours-vs-reference row; ``target`` is the largest passing ratio."""
        ours_times, reference_times = times
        ours_best, reference_best = min(ours_times), min(reference_times)
        ratio = ours_best / reference_best
        row: dict[str, Any] = {
            "group": group,
            "case": case,
            "n": n,
            "ours_best_s": ours_best,
            "ours_median_s": statistics.median(ours_times),
            "reference_best_s": reference_best,
            "reference_median_s": statistics.median(reference_times),
            "ratio": ratio,
            "median_ratio": statistics.median(ours_times) / statistics.median(reference_times),
            "target": None if target is None else f"ratio <= {target:g}",
            "result": "info" if target is None else ("PASS" if ratio <= target else "MISS"),
            "note": note,
        }
        self.rows.append(row)
        print(
            f"  {group:<13} {case:<22} n={n:>9,}  ours {ours_best * 1e3:9.2f} ms  "
            f"ref {reference_best * 1e3:9.2f} ms  ratio {ratio:6.2f}  [{row['result']}] {note}",
            flush=True,
        )
        return row

    def add_check(self, *, group: str, case: str, measured: str, target: str, ok: bool) -> None:
        """Add a row that checks a derived figure (a scaling ratio or an absolute time)."""
        row = {
            "group": group,
            "case": case,
            "measured": measured,
            "target": target,
            "result": "PASS" if ok else "MISS",
        }
        self.rows.append(row)
        print(f"  {group:<13} {case:<22} {measured}  (target {target})  [{row['result']}]")

    def show_pav_summary(self, sizes: tuple[int, int]) -> None:
        """Print ours / scipy per PAV shape at two sizes: best-of-N and median ratios."""
        small, large = sizes
        rows = {
            (row["case"], row["n"]): row
            for row in self.rows
            if "ratio" in row
            and row["group"] in {"pav", "adversarial"}
            and not row["case"].endswith("(fit)")
        }
        cases = list(dict.fromkeys(case for case, _ in rows))
        lines = []
        for case in cases:
            cells = [case]
            for n in (small, large):
                row = rows.get((case, n))
                cells.append("-" if row is None else f"{row['ratio']:.2f}")
                cells.append("-" if row is None else f"{row['median_ratio']:.2f}")
            big = rows.get((case, large))
            cells.append("-" if big is None else (big["target"] or "-"))
            cells.append("-" if big is None else big["result"])
            lines.append(tuple(cells))
        print(
            "\nPAV, ours / scipy per shape (best of N, then median of N), "
            f"n = {small:,} and {large:,}"
        )
        _print_table(
            (
                "shape",
                f"best {small:.0e}",
                f"median {small:.0e}",
                f"best {large:.0e}",
                f"median {large:.0e}",
                "target",
                "result",
            ),
            lines,
        )

    def show(self) -> None:
        """Print the timing rows, then the derived checks, as aligned tables."""
        timings = [row for row in self.rows if "ratio" in row]
        checks = [row for row in self.rows if "ratio" not in row]
        _print_table(
            ("group", "case", "n", "ours ms", "ref ms", "ratio", "target", "result"),
            [
                (
                    row["group"],
                    row["case"],
                    f"{row['n']:,}",
                    f"{row['ours_best_s'] * 1e3:.2f}",
                    f"{row['reference_best_s'] * 1e3:.2f}",
                    f"{row['ratio']:.2f}",
                    row["target"] or "-",
                    row["result"],
                )
                for row in timings
            ],
        )
        _print_table(
            ("group", "case", "measured", "target", "result"),
            [
                (row["group"], row["case"], row["measured"], row["target"], row["result"])
                for row in checks
            ],
        )


def _print_table(header: tuple[str, ...], lines: list[tuple[str, ...]]) -> None:
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    print()
    for k, line in enumerate([header, *lines]):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if k == 0:
            print("  ".join("-" * width for width in widths))


def _sorted_inputs(n: int, rng: np.random.Generator) -> dict[str, FloatArray]:
    """Ordered responses: 0/1 outcomes of a calibrated forecaster, and noisy rates."""
    confidence = np.sort(rng.random(n))
    return {
        "random 0/1": (rng.random(n) < confidence).astype(np.float64),
        "continuous": confidence + rng.normal(0.0, 0.25, n),
    }


def _unsorted_inputs(n: int, rng: np.random.Generator) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Unsorted confidences rounded to 3 decimals (so ~1,000 ties groups) with outcomes."""
    confidence = np.round(rng.random(n), 3)
    return {
        "random 0/1, ties": (confidence, (rng.random(n) < confidence).astype(np.float64)),
        "continuous, ties": (confidence, np.clip(confidence + rng.normal(0.0, 0.2, n), 0.0, 1.0)),
    }


def _sklearn_fit(
    x: FloatArray, y: FloatArray, *, y_min: float | None, y_max: float | None
) -> IsotonicRegression:
    """Fit a fresh ``IsotonicRegression``, the reference, on the same data."""
    return IsotonicRegression(y_min=y_min, y_max=y_max).fit(x, y)


def _agreement(ours: FloatArray, reference: FloatArray) -> float:
    return float(np.max(np.abs(ours - reference))) if ours.size else 0.0


def bench_pav(report: Report, sizes: list[int], rng: np.random.Generator) -> None:
    """Our isotonic_regression vs scipy's on sorted random data."""
    print("PAV on sorted data (ours: isotonic_regression, reference: scipy)")
    largest = sizes[-1]
    for n in sizes:
        for case, y in _sorted_inputs(n, rng).items():
            error = _agreement(isotonic_regression(y).x, scipy_isotonic_regression(y).x)
            times = _time_pair(
                partial(isotonic_regression, y),
                partial(scipy_isotonic_regression, y),
                _repeats(n),
            )
            target = PAV_BINARY_RATIO_TARGET if case == "random 0/1" else PAV_RATIO_TARGET
            report.add(
                group="pav",
                case=case,
                n=n,
                times=times,
                target=target if n == largest else None,
                note=f"max |dx| {error:.1e}",
            )


def bench_fit(report: Report, sizes: list[int], rng: np.random.Generator) -> None:
    """Our fit_isotonic vs IsotonicRegression.fit on unsorted data with ties."""
    print("Calibration fit, unsorted with ties (ours: fit_isotonic, reference: sklearn fit)")
    largest = sizes[-1]
    grid = np.linspace(-0.1, 1.1, 2_001)
    for n in sizes:
        for case, (x, y) in _unsorted_inputs(n, rng).items():
            ours = fit_isotonic(x, y)
            reference = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
            error = _agreement(ours.predict(grid), reference.predict(grid))
            times = _time_pair(
                partial(fit_isotonic, x, y),
                partial(_sklearn_fit, x, y, y_min=0.0, y_max=1.0),
                _repeats(n),
            )
            report.add(
                group="fit",
                case=case,
                n=n,
                times=times,
                target=FIT_RATIO_TARGET if n == largest else None,
                note=f"max |dpred| {error:.1e}",
            )


def bench_adversarial(report: Report, sizes: list[int], rng: np.random.Generator) -> None:
    """Adversarial shapes through both comparisons, then the linear-scaling checks."""
    del rng  # the shapes are deterministic
    print("Adversarial shapes (PAV vs scipy; fit on sorted unique x vs sklearn fit)")
    pav_seconds: dict[tuple[str, int], float] = {}
    largest = sizes[-1]
    for n in sizes:
        x = np.linspace(0.0, 1.0, n)
        for case, y in _shapes(n).items():
            scale = max(1.0, float(np.max(np.abs(y))))
            error = _agreement(isotonic_regression(y).x, scipy_isotonic_regression(y).x) / scale
            row = report.add(
                group="adversarial",
                case=case,
                n=n,
                times=_time_pair(
                    partial(isotonic_regression, y),
                    partial(scipy_isotonic_regression, y),
                    _repeats(n),
                ),
                target=PAV_RATIO_TARGET if n == largest else None,
                note=f"rel |dx| {error:.1e}",
            )
            pav_seconds[case, n] = row["ours_best_s"]
            report.add(
                group="adversarial",
                case=f"{case} (fit)",
                n=n,
                times=_time_pair(
                    partial(fit_isotonic, x, y, y_min=None, y_max=None),
                    partial(_sklearn_fit, x, y, y_min=None, y_max=None),
                    _repeats(n),
                ),
            )
    large, small = sizes[-1], sizes[-2]
    for case in _shapes(16):
        growth = pav_seconds[case, large] / pav_seconds[case, small]
        report.add_check(
            group="adversarial",
            case=case,
            measured=f"t({large:.0e})/t({small:.0e}) = {growth:.1f}",
            target=f"<= {SCALING_TARGET:g}",
            ok=growth <= SCALING_TARGET,
        )
        seconds = pav_seconds[case, large]
        report.add_check(
            group="adversarial",
            case=case,
            measured=f"t({large:.0e}) = {seconds:.3f} s",
            target=f"<= {ADVERSARIAL_SECONDS_TARGET:g} s",
            ok=seconds <= ADVERSARIAL_SECONDS_TARGET,
        )


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark, print the table and optionally write JSON; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="thread",
        help="thread CPU time (default; robust to a busy machine) or wall time",
    )
    args = parser.parse_args(argv)
    CLOCK[0] = CLOCKS[args.clock]
    print(f"clock: {args.clock}")
    sizes = [1_000, 10_000, 100_000] if args.quick else [1_000, 100_000, 1_000_000]
    rng = np.random.default_rng(20261122)
    report = Report()
    bench_pav(report, sizes, rng)
    bench_fit(report, sizes, rng)
    bench_adversarial(report, sizes, rng)
    report.show()
    report.show_pav_summary((sizes[-2], sizes[-1]))
    if args.json is not None:
        document = {
            "date": dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "clock": args.clock,
            "sizes": sizes,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": sys.version.split()[0],
                "numpy": np.__version__,
                "scipy": scipy.__version__,
                "scikit-learn": sklearn.__version__,
            },
            "rows": report.rows,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
