"""A runnable EnsembleManager-style consumer of the calibration runtime API.

Six toy models (the host's members: xgb, lgbm, nhits, patchtst, tft, dlinear, with
its own weights 0.17/0.17/0.17/0.17/0.16/0.16) vote BUY/SELL/HOLD with a confidence;
each decision takes ONE snapshot, weights the votes with its ensemble weights
(indexing every member, as the real host does), calibrates the winning confidence,
applies the consensus multiplier and logs the decision
with the snapshot's version. The old loader's API (``get_calibration_loader``,
``get_calibrator``) is exercised alongside.

Run it against a config, then deploy or edit the config in another terminal::

    python examples/ensemble_manager.py --config config/calibration.json --threads 4

SIGTERM or Ctrl-C stops it cleanly and prints the counters.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import signal
import sys
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

from calibration_core import (
    CalibrationLoader,
    Snapshot,
    apply_confidence_calibration,
    get_calibration_loader,
    get_calibration_snapshot,
    get_calibrator,
    get_consensus_multiplier,
    get_default_loader,
    get_ensemble_weights,
    reset_default_loader,
    set_default_loader,
)

if TYPE_CHECKING:
    from types import FrameType

HOST_WEIGHTS = {
    "xgb": 0.17,
    "lgbm": 0.17,
    "nhits": 0.17,
    "patchtst": 0.17,
    "tft": 0.16,
    "dlinear": 0.16,
}
MODELS = tuple(HOST_WEIGHTS)
ACTIONS = ("BUY", "SELL", "HOLD")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")

logger = logging.getLogger("ensemble_manager")


def model_votes(rng: random.Random) -> dict[str, tuple[str, float]]:
    """Each toy model's (action, raw confidence)."""
    return {name: (rng.choice(ACTIONS), rng.uniform(0.35, 0.95)) for name in MODELS}


def decide(
    votes: dict[str, tuple[str, float]], symbol: str, snapshot: Snapshot
) -> tuple[str, float, int]:
    """Weighted vote with one snapshot: (action, final confidence, consensus count)."""
    # The configured weights when enabled, else the host's own (never a made-up set).
    weights = snapshot.get_ensemble_weights(HOST_WEIGHTS)
    score = dict.fromkeys(ACTIONS, 0.0)
    for name, (action, confidence) in votes.items():
        score[action] += weights[name] * confidence
    action = max(ACTIONS, key=score.__getitem__)
    agreeing = [conf for act, conf in votes.values() if act == action]
    raw = sum(agreeing) / len(agreeing)
    calibrated = snapshot.apply(raw, symbol)
    multiplier = snapshot.consensus_multiplier(len(agreeing), len(votes))
    return action, min(1.0, calibrated * multiplier), len(agreeing)


class Stats:
    """Counters shared by the worker threads (guarded by a lock; this is the example's own)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.decisions = 0
        self.errors = 0
        self.versions: Counter[str] = Counter()


def worker(index: int, stop: threading.Event, stats: Stats, log_every: int) -> None:
    """Make decisions until ``stop`` is set."""
    rng = random.Random(index)
    made = 0
    while not stop.is_set():
        try:
            snapshot = get_calibration_snapshot()  # one version for the whole decision
            symbol = rng.choice(SYMBOLS)
            action, confidence, agreeing = decide(model_votes(rng), symbol, snapshot)
            # The module-level functions serve the same live version without a snapshot.
            apply_confidence_calibration(confidence, symbol=symbol)
            get_ensemble_weights(HOST_WEIGHTS)
            get_consensus_multiplier(agreeing, len(MODELS))
            # ... and so does the old loader's API, which the EnsembleManager calls.
            host_loader = get_calibration_loader()
            host_loader.apply_confidence_calibration(confidence)
            if host_loader.calibration_loaded:
                host_loader.get_ensemble_weights()
            get_calibrator().get_multiplier(agreeing, len(MODELS))
            made += 1
            with stats.lock:
                stats.decisions += 1
                stats.versions[snapshot.version or "identity"] += 1
            if log_every and made % log_every == 0:
                logger.info(
                    "thread=%d symbol=%s action=%s confidence=%.3f consensus=%d/%d version=%s",
                    index,
                    symbol,
                    action,
                    confidence,
                    agreeing,
                    len(MODELS),
                    snapshot.version,
                )
        except Exception:
            logger.exception("decision failed")
            with stats.lock:
                stats.errors += 1
        time.sleep(0.001)  # a real manager waits for market data between decisions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", default=None, help="calibration.json (default: CALIBRATION_CONFIG_PATH)"
    )
    parser.add_argument("--threads", type=int, default=2, help="decision threads (default 2)")
    parser.add_argument(
        "--duration", type=float, default=0.0, help="seconds to run (default: until signalled)"
    )
    parser.add_argument(
        "--log-every", type=int, default=500, help="log every Nth decision per thread (0: never)"
    )
    parser.add_argument(
        "--poll-interval", type=float, default=2.0, help="polling backstop in seconds"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the manager until the duration ends or SIGTERM/SIGINT arrives."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.config is not None:
        loader = CalibrationLoader(
            args.config, default_weights=HOST_WEIGHTS, poll_interval=args.poll_interval
        ).start()
        set_default_loader(loader)
    # Without --config the first API call creates the default loader from the environment.
    stats = Stats()
    threads = [
        threading.Thread(target=worker, args=(i, stop, stats, args.log_every), name=f"decide-{i}")
        for i in range(max(1, args.threads))
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + args.duration if args.duration > 0 else math.inf
    # Short waits keep the main thread responsive to signals.
    while not stop.is_set() and time.monotonic() < deadline:
        stop.wait(0.1)
    stop.set()
    for thread in threads:
        thread.join()
    status = get_default_loader().status()
    reset_default_loader()  # stops the loader and joins its threads
    print(f"decisions={stats.decisions} errors={stats.errors}")
    for version, count in sorted(stats.versions.items()):
        print(f"version {version}: {count} decisions")
    print(
        f"loader: version={status.version} loaded_at={status.loaded_at} "
        f"attempts={status.attempts} "
        f"succeeded={status.succeeded} rejected={status.rejected} skipped={status.skipped} "
        f"nan_inputs={status.nan_inputs} invalid_inputs={status.invalid_inputs} "
        f"watching={status.watching}"
    )
    return 1 if stats.errors else 0


if __name__ == "__main__":
    sys.exit(main())
