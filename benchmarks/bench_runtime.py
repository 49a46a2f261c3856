"""Benchmark the runtime loader's hot path, reload latency and import cost against references.

Run ``python benchmarks/bench_runtime.py`` (``--quick`` for a smoke run). Every row
prints the measurement, the reference measured in the same run where there is one,
the target and PASS/MISS. Timings vary with the machine and its load; the targets
come from the loader's specification.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from bisect import bisect_right
from pathlib import Path
from typing import TYPE_CHECKING, Self

import numpy as np

from calibration_core.config import CalibrationConfig, ConfidenceMap, EnsembleWeights
from calibration_core.runtime import host as runtime
from calibration_core.runtime.loader import CalibrationLoader
from calibration_core.settings import SENTINEL_NAME

if TYPE_CHECKING:
    from collections.abc import Callable

THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
VALUES = (0.0, 0.08, 0.17, 0.27, 0.38, 0.49, 0.58, 0.66, 0.76, 0.87, 1.0)
MODELS = ("xgb", "lgbm", "nhits", "patchtst")


def config_text(k: int) -> str:
    """Return a realistic config (11 knots, 4 weights) whose version encodes ``k``."""
    return CalibrationConfig(
        version=f"cal_20260220_{k:06d}",
        created_at="2026-02-20T14:30:22+00:00",
        confidence=ConfidenceMap(enabled=True, thresholds=THRESHOLDS, values=VALUES),
        weights=EnsembleWeights(enabled=True, weights=tuple((m, 0.25) for m in MODELS)),
    ).to_json()


class Table:
    """Collects rows and prints them aligned."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, name: str, value: str, reference: str, target: str, *, ok: bool | None) -> None:
        """Add one row; ``ok`` None means informational (no target)."""
        verdict = "info" if ok is None else ("PASS" if ok else "MISS")
        self.rows.append((name, value, reference, target, verdict))
        print(f"  {name}: {value}  [{verdict}]", flush=True)

    def show(self) -> None:
        """Print the table."""
        header = ("benchmark", "measured", "reference (same run)", "target", "result")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(5)]
        line = "  ".join("{:<%d}" % w for w in widths)  # noqa: UP031 - a width template
        print()
        print(line.format(*header))
        print(line.format(*("-" * w for w in widths)))
        for row in self.rows:
            print(line.format(*row))


def per_call_ns(stmt: Callable[[], object], *, number: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the mean time per call, in nanoseconds."""
    runs = timeit.repeat(stmt, number=number, repeat=repeat)
    return statistics.median(runs) / number * 1e9


def bisect_interp(c: float, xs: list[float], ys: list[float]) -> float:
    """Return the reference: a bare clip + bisect + linear interpolation, one function call."""
    if c <= 0.0:
        return ys[0]
    if c >= 1.0:
        return ys[-1]
    i = bisect_right(xs, c) - 1
    x0 = xs[i]
    return ys[i] + (ys[i + 1] - ys[i]) * (c - x0) / (xs[i + 1] - x0)


def bench_scalar(table: Table, loader: CalibrationLoader, *, quick: bool) -> None:
    """Module-level scalar apply vs a bare bisect, np.interp and sklearn's predict."""
    from sklearn.isotonic import IsotonicRegression  # noqa: PLC0415 - reference only

    runtime.set_default_loader(loader)
    apply = runtime.apply_confidence_calibration
    xp, fp = np.array(THRESHOLDS), np.array(VALUES)
    xs, ys = list(THRESHOLDS), list(VALUES)
    iso = IsotonicRegression(out_of_bounds="clip").fit(xp, fp)
    c = 0.6371
    assert abs(apply(c) - float(np.interp(c, xp, fp))) < 1e-12
    assert abs(apply(c) - bisect_interp(c, xs, ys)) < 1e-12
    number = 20_000 if quick else 200_000
    ours_runs, bisect_runs = [], []
    for _ in range(5):  # interleaved, so both see the same machine load
        ours_runs.append(per_call_ns(lambda: apply(c), number=number, repeat=3))
        bisect_runs.append(per_call_ns(lambda: bisect_interp(c, xs, ys), number=number, repeat=3))
    ours, bare = statistics.median(ours_runs), statistics.median(bisect_runs)
    interp = per_call_ns(lambda: np.interp(c, xp, fp), number=number // 4, repeat=7)
    sk = per_call_ns(lambda: iso.predict([c]), number=max(200, number // 200), repeat=5)
    table.add(
        "scalar apply_confidence_calibration",
        f"{ours:.0f} ns/call ({ours / bare:.2f}x the bare bisect)",
        f"bare bisect {bare:.0f} ns; np.interp {interp:.0f} ns ({interp / ours:.1f}x slower); "
        f"sklearn predict {sk / 1000:.1f} us ({sk / ours:.0f}x slower)",
        "<= 1.0x bare bisect",
        ok=ours <= bare,
    )
    f32 = np.float32(c)
    as_float32 = per_call_ns(lambda: apply(f32), number=number, repeat=7)  # type: ignore[arg-type]
    assert type(apply(f32)) is float  # type: ignore[arg-type]
    table.add(
        "scalar apply, np.float32 input (converted to float)",
        f"{as_float32:.0f} ns/call",
        f"float input {ours:.0f} ns",
        "-",
        ok=None,
    )
    with_symbol = per_call_ns(lambda: apply(c, symbol="BTCUSDT"), number=number, repeat=7)
    table.add(
        "scalar apply, symbol= (unknown symbol)",
        f"{with_symbol:.0f} ns/call",
        "-",
        "-",
        ok=None,
    )


def bench_batch(table: Table, *, quick: bool) -> None:
    """Batch apply of 1e6 values vs np.interp on the same arrays."""
    size = 100_000 if quick else 1_000_000
    values = np.random.default_rng(0).random(size)
    xp, fp = np.array(THRESHOLDS), np.array(VALUES)
    batch = runtime.apply_confidence_calibration_batch
    np.testing.assert_allclose(batch(values), np.interp(values, xp, fp), atol=1e-12)
    ours_runs, ref_runs = [], []
    for _ in range(3 if quick else 7):  # interleaved, so both see the same machine load
        ours_runs.append(min(timeit.repeat(lambda: batch(values), number=1, repeat=3)))
        ref_runs.append(min(timeit.repeat(lambda: np.interp(values, xp, fp), number=1, repeat=3)))
    ours, ref = statistics.median(ours_runs), statistics.median(ref_runs)
    table.add(
        f"batch apply of {size:.0e} values",
        f"{ours * 1e3:.1f} ms ({ours / ref:.2f}x np.interp)",
        f"np.interp {ref * 1e3:.1f} ms",
        "<= 1.2x np.interp",
        ok=ours <= 1.2 * ref,
    )
    # A list of Python floats takes the one-call path too (no element-wise fallback).
    as_list = values[: size // 10].tolist()
    list_runs, list_refs = [], []
    for _ in range(3 if quick else 7):
        list_runs.append(min(timeit.repeat(lambda: batch(as_list), number=1, repeat=3)))
        list_refs.append(min(timeit.repeat(lambda: np.interp(as_list, xp, fp), number=1, repeat=3)))
    list_ours, list_ref = statistics.median(list_runs), statistics.median(list_refs)
    table.add(
        f"batch apply of a list of {len(as_list):.0e} floats",
        f"{list_ours * 1e3:.1f} ms ({list_ours / list_ref:.2f}x np.interp)",
        f"np.interp on the list {list_ref * 1e3:.1f} ms",
        "<= 1.2x np.interp",
        ok=list_ours <= 1.2 * list_ref,
    )


def bench_weights(table: Table, *, quick: bool) -> None:
    """get_ensemble_weights() in the configured case."""
    get = runtime.get_ensemble_weights
    assert len(get()) == len(MODELS)
    number = 20_000 if quick else 200_000
    ours = per_call_ns(get, number=number, repeat=7)
    empty_call = per_call_ns(lambda: None, number=number, repeat=7)
    table.add(
        "get_ensemble_weights() (configured)",
        f"{ours:.0f} ns/call",
        f"empty lambda call {empty_call:.0f} ns",
        "<= 200 ns",
        ok=ours <= 200,
    )
    baseline = dict.fromkeys(MODELS, 1.0 / len(MODELS))
    assert get(baseline) is get()  # the configured weights cover the baseline's members
    with_baseline = per_call_ns(lambda: get(baseline), number=number, repeat=7)
    table.add(
        "get_ensemble_weights(baseline) (configured, members checked)",
        f"{with_baseline:.0f} ns/call",
        f"without a baseline {ours:.0f} ns",
        "-",
        ok=None,
    )


def deploy(config: Path, text: str, k: int) -> float:
    """Write a durable temp file, then os.replace it over ``config``; return when it replaced."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-calibration-", suffix=".json", dir=config.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    replaced = time.perf_counter()
    Path(tmp).replace(config)
    # The deployer touches the sentinel right after the replace, as in production.
    (config.parent / SENTINEL_NAME).write_text(str(k))
    return replaced


class BareHandler:
    """The floor: a watchdog Observer whose handler only records when the replace arrives.

    It watches a sibling directory and records ``time.perf_counter()`` on the moved or
    created event of ``calibration.json``; nothing else runs on its threads.
    """

    def __init__(self, directory: Path) -> None:
        from watchdog.events import FileSystemEventHandler  # noqa: PLC0415
        from watchdog.observers import Observer  # noqa: PLC0415

        self.arrived = threading.Event()
        self.at = 0.0
        bare = self

        class Handler(FileSystemEventHandler):
            def dispatch(self, event: object) -> None:
                if getattr(event, "event_type", None) not in {"moved", "created"}:
                    return
                name = os.fsdecode(getattr(event, "dest_path", "") or event.src_path)  # type: ignore[attr-defined]
                if name.endswith("calibration.json") and not bare.arrived.is_set():
                    bare.at = time.perf_counter()
                    bare.arrived.set()

        self.observer = Observer(timeout=0.2)
        self.observer.schedule(Handler(), str(directory), recursive=False)

    def __enter__(self) -> Self:
        """Start the observer."""
        self.observer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop and join the observer."""
        self.observer.stop()
        self.observer.join()


class Host:
    """``threads`` host threads spinning in pure Python on the module-level API.

    Each loop calls ``apply_confidence_calibration`` and ``get_ensemble_weights``, then
    looks at the served version; the first host thread to see a version records the
    moment. With no threads, :meth:`wait_served` polls from the calling thread.
    """

    def __init__(self, threads: int) -> None:
        self.first_seen: dict[str | None, float] = {}
        self.stop = threading.Event()
        self.workers = [threading.Thread(target=self.spin) for _ in range(threads)]

    def spin(self) -> None:
        """One host thread: the API in a loop."""
        apply, weights = runtime.apply_confidence_calibration, runtime.get_ensemble_weights
        snapshot, first_seen = runtime.get_calibration_snapshot, self.first_seen
        last = None
        while not self.stop.is_set():
            apply(0.5)
            weights()
            version = snapshot().version
            if version != last:
                first_seen.setdefault(version, time.perf_counter())
                last = version

    def wait_served(self, loader: CalibrationLoader, version: str, timeout: float = 5.0) -> float:
        """Return when ``version`` was first served (perf_counter seconds)."""
        deadline = time.perf_counter() + timeout
        while True:
            if self.workers:
                if version in self.first_seen:
                    return self.first_seen[version]
            elif loader.snapshot.version == version:
                return time.perf_counter()
            if time.perf_counter() > deadline:
                msg = f"version {version} was not served within {timeout} s"
                raise RuntimeError(msg)
            # Host threads record the moment themselves: this wait only needs to be short.
            time.sleep(0.00005 if not self.workers else 0.001)

    def __enter__(self) -> Self:
        """Start the host threads."""
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop and join the host threads."""
        self.stop.set()
        for worker in self.workers:
            worker.join()


def reload_latencies(
    directory: Path, deploys: int, *, busy_threads: int = 0
) -> tuple[list[float], list[float]]:
    """Milliseconds from os.replace to served (ours) and to the bare handler's event.

    Our loader watches ``directory/ours``, the bare handler ``directory/bare``; the two
    are deployed to alternately (the order flips every round), so both see the same
    machine load and the same host threads.
    """
    ours_dir, bare_dir = directory / "ours", directory / "bare"
    ours_dir.mkdir()
    bare_dir.mkdir()
    config, bare_config = ours_dir / "calibration.json", bare_dir / "calibration.json"
    config.write_text(config_text(0))
    bare_config.write_text(config_text(0))
    ours: list[float] = []
    bare: list[float] = []
    with (
        CalibrationLoader(config, poll_interval=60) as loader,
        BareHandler(bare_dir) as floor,
    ):
        runtime.set_default_loader(loader)
        with Host(busy_threads) as host:
            for k in range(1, deploys + 1):
                for which in ("ours", "bare") if k % 2 else ("bare", "ours"):
                    if which == "ours":
                        version = f"cal_20260220_{k:06d}"
                        replaced = deploy(config, config_text(k), k)
                        ours.append((host.wait_served(loader, version) - replaced) * 1e3)
                    else:
                        floor.arrived.clear()
                        replaced = deploy(bare_config, config_text(k), k)
                        if not floor.arrived.wait(5.0):
                            msg = "the bare handler saw no event within 5 s"
                            raise RuntimeError(msg)
                        bare.append((floor.at - replaced) * 1e3)
                    # Real deploys are minutes apart; keep them outside the debounce window.
                    time.sleep(0.02)
        if loader.snapshot.version != f"cal_20260220_{deploys:06d}":
            msg = "the loader did not converge on the last deploy"
            raise RuntimeError(msg)
    return ours, bare


def percentile(values: list[float], q: float) -> float:
    """Return the ``q``-quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_reload(table: Table, *, quick: bool, threads: int = 4) -> None:
    """Reload latency vs a bare watchdog handler, quiet and with busy host threads."""
    deploys = 50 if quick else 300
    with tempfile.TemporaryDirectory() as tmp:
        idle, idle_bare = reload_latencies(Path(tmp), deploys)
    p50, p99 = percentile(idle, 0.5), percentile(idle, 0.99)
    table.add(
        f"reload latency, quiet, {deploys} deploys (os.replace -> served)",
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(idle):.2f} ms",
        f"bare watchdog handler p50 {percentile(idle_bare, 0.5):.2f} ms, "
        f"p99 {percentile(idle_bare, 0.99):.2f} ms",
        "p50 <= 5 ms, p99 <= 20 ms",
        ok=p50 <= 5 and p99 <= 20,
    )
    busy_deploys = 30 if quick else 150
    with tempfile.TemporaryDirectory() as tmp:
        busy, busy_bare = reload_latencies(Path(tmp), busy_deploys, busy_threads=threads)
    ours50, bare50 = percentile(busy, 0.5), percentile(busy_bare, 0.5)
    table.add(
        f"reload latency, {busy_deploys} deploys, {threads} host threads spinning on the API",
        f"p50 {ours50:.1f} ms, p99 {percentile(busy, 0.99):.1f} ms "
        f"({ours50 / bare50:.2f}x the bare handler's p50)",
        f"bare watchdog handler p50 {bare50:.1f} ms, p99 {percentile(busy_bare, 0.99):.1f} ms; "
        f"switch interval {sys.getswitchinterval() * 1e3:.0f} ms",
        "p50 <= 1.25x bare handler",
        ok=ours50 <= 1.25 * bare50,
    )


def import_seconds(statement: str) -> float:
    """Wall time of a fresh interpreter running ``statement``."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - started


def bench_import(table: Table, *, quick: bool) -> None:
    """Cold import cost over bare numpy (medians of interleaved subprocess runs)."""
    rounds = 5 if quick else 15
    base, package, loader = [], [], []
    for _ in range(rounds):
        base.append(import_seconds("import numpy"))
        package.append(import_seconds("import numpy, calibration_core"))
        loader.append(import_seconds("import numpy, calibration_core.runtime.loader"))
    numpy_ms = statistics.median(base) * 1e3
    for name, runs in (
        ("import calibration_core", package),
        ("import calibration_core.runtime.loader", loader),
    ):
        extra = statistics.median(runs) * 1e3 - numpy_ms
        table.add(
            f"{name} (cold, over numpy)",
            f"+{extra:.0f} ms",
            f"bare `import numpy` process {numpy_ms:.0f} ms",
            "<= 150 ms",
            ok=extra <= 150,
        )


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark and print the table; exit 1 if a row misses its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only-reload", action="store_true", help="run only the reload latency rows"
    )
    args = parser.parse_args(argv)
    table = Table()
    if not args.only_reload:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "calibration.json"
            path.write_text(config_text(1))
            loader = CalibrationLoader(path, watch="none")
            print("scalar hot path ...", flush=True)
            bench_scalar(table, loader, quick=args.quick)
            print("batch ...", flush=True)
            bench_batch(table, quick=args.quick)
            print("weights ...", flush=True)
            bench_weights(table, quick=args.quick)
            runtime.reset_default_loader()
    print("reload latency ...", flush=True)
    bench_reload(table, quick=args.quick)
    runtime.reset_default_loader()
    if not args.only_reload:
        print("import time ...", flush=True)
        bench_import(table, quick=args.quick)
    table.show()
    return 0 if all(row[4] != "MISS" for row in table.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
