"""The runtime the host imports: the loader, its snapshots and the host-compatible API.

- ``snapshot``: the immutable Snapshot (the hot path), how a config file becomes one,
  and the loader's status value;
- ``loader``: CalibrationLoader, which watches calibration.json (watchdog plus polling)
  and swaps in a new snapshot when a valid version arrives;
- ``files``: what the loader sees on disk (file identity, one read, the digest) and
  the watchdog wiring;
- ``host``: the process-wide default loader and the module-level functions the
  EnsembleManager imports (``apply_confidence_calibration``, ``get_ensemble_weights``,
  ``get_calibration_loader``, ``get_calibrator``, ...);
- ``prometheus``: the optional Prometheus collector.

It imports only the contract (constants, exceptions, config, settings, times, _arrays),
numpy, attrs and watchdog.
"""
