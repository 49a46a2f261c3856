"""A host process for the runtime integration test: threads hammer the API and record every read.

Run as ``python runtime_consumer.py --results OUT --progress PROGRESS``; the config
comes from ``CALIBRATION_CONFIG_PATH`` through the module-level default loader,
exactly as an EnsembleManager would use it. SIGTERM ends it and writes ``OUT``.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from calibration_core.runtime.host import (
    apply_confidence_calibration,
    apply_confidence_calibration_batch,
    apply_hold_bias,
    get_calibration_snapshot,
    get_consensus_multiplier,
    get_default_loader,
    get_ensemble_weights,
    reset_default_loader,
)

if TYPE_CHECKING:
    from types import FrameType

Read = tuple[str | None, float, float | None, float | None]


def reader(stop: threading.Event, seen: Counter[Read], errors: list[str], index: int) -> None:
    """Read snapshots and call every API function until ``stop``; never let an error pass."""
    rng = np.random.default_rng(index)
    odd_inputs: list[object] = [math.nan, "0.5", None, -3.0, 7.0]
    batch = rng.random(64)
    n = 0
    while not stop.is_set():
        try:
            snap = get_calibration_snapshot()
            weights = snap.weights
            seen[(snap.version, snap.apply(0.5), weights.get("xgb"), weights.get("lgbm"))] += 1
            apply_confidence_calibration(float(rng.random()))
            apply_confidence_calibration(odd_inputs[n % len(odd_inputs)], symbol="BTCUSDT")  # type: ignore[arg-type]
            get_ensemble_weights({"xgb": 1.0})
            get_consensus_multiplier(n % 5, 4)
            apply_hold_bias(0.5)
            if n % 16 == 0:
                apply_confidence_calibration_batch(batch)
        except BaseException as exc:  # noqa: BLE001 - the test counts anything that escapes
            errors.append(f"{type(exc).__name__}: {exc}")
        n += 1
        if n % 64 == 0:
            time.sleep(0.0005)  # a real host does other work between predictions


def reporter(stop: threading.Event, progress: Path) -> None:
    """Append a line whenever the served version or the rejection count changes."""
    last: tuple[str | None, int] | None = None
    loader = get_default_loader()
    with progress.open("a", encoding="utf-8") as out:
        while not stop.is_set():
            status = loader.status()
            now = (status.version, status.rejected)
            if now != last:
                line = {"t": time.time(), "version": now[0], "rejected": now[1]}
                out.write(json.dumps(line) + "\n")
                out.flush()
                last = now
            time.sleep(0.002)


def main() -> int:
    """Run until SIGTERM, then write the results file."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--progress", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=3)
    args = parser.parse_args()
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    get_calibration_snapshot()  # create the default loader before the threads race for it
    seen: list[Counter[Read]] = [Counter() for _ in range(args.threads)]
    errors: list[str] = []
    threads = [
        threading.Thread(target=reader, args=(stop, seen[i], errors, i))
        for i in range(args.threads)
    ]
    threads.append(threading.Thread(target=reporter, args=(stop, args.progress)))
    for thread in threads:
        thread.start()
    while not stop.is_set():
        stop.wait(0.1)
    for thread in threads:
        thread.join()
    total: Counter[Read] = Counter()
    for counter in seen:
        total.update(counter)
    status = get_default_loader().status().as_dict()
    reset_default_loader()
    results = {
        "reads": [[*key, count] for key, count in total.items()],
        "total_reads": sum(total.values()),
        "errors": errors,
        "status": status,
        "threads_left": [t.name for t in threading.enumerate() if t is not threading.main_thread()],
    }
    args.results.write_text(json.dumps(results), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
