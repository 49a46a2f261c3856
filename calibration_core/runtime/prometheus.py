"""Optional Prometheus collector for a CalibrationLoader (the ``metrics`` extra)."""

# Shell module, and an optional one: it imports prometheus_client, which the runtime
# path never does. The loader does not import this module; the host imports it when it
# wants the metrics, and the collector reads `loader.status()` at scrape time (no
# callback, no lock and no cost on the hot path).

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

from calibration_core.exceptions import InvalidInputError
from calibration_core.runtime.host import get_calibration_loader
from calibration_core.runtime.loader import CalibrationLoader

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

    from calibration_core.runtime.snapshot import LoaderStatus

__all__ = ["DEFAULT_PREFIX", "LoaderCollector", "register_loader_metrics"]

DEFAULT_PREFIX: Final = "calibration_loader"
"""Metric name prefix: ``calibration_loader_reloads_attempted_total`` and so on."""

_PREFIX: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,99}")
# (name without the _total suffix, help text, LoaderStatus field)
_COUNTERS: Final = (
    ("reloads_attempted", "Reads of new config content (or read failures).", "attempts"),
    ("reloads_succeeded", "Config versions that went live.", "succeeded"),
    ("reloads_rejected", "Config files refused (invalid, too big, unreadable).", "rejected"),
    ("reloads_skipped", "Checks that found the config content unchanged.", "skipped"),
    ("file_events", "Relevant file-system events received.", "events"),
    ("nan_inputs", "NaN confidences passed to the hot path (approximate).", "nan_inputs"),
    (
        "invalid_inputs",
        "Non-numeric inputs passed to the hot path (approximate).",
        "invalid_inputs",
    ),
)


class LoaderCollector(Collector):
    """Expose a loader's counters and live version to Prometheus.

    Parameters
    ----------
    loader : CalibrationLoader, optional
        The loader to expose. None means the process-wide loader of
        :func:`calibration_core.get_calibration_loader`, looked up at every
        scrape (so a forked worker exposes its own).
    prefix : str, optional
        Metric name prefix (default ``calibration_loader``).

    Notes
    -----
    Exposed at each scrape, from one ``loader.status()``:

    - counters ``<prefix>_reloads_attempted_total``, ``_reloads_succeeded_total``,
      ``_reloads_rejected_total``, ``_reloads_skipped_total``,
      ``_file_events_total``, ``_nan_inputs_total``, ``_invalid_inputs_total``;
    - the info metric ``<prefix>_config_info`` with labels ``version``, ``digest``,
      ``loaded_at`` and ``watching`` (``version=""`` while nothing is loaded);
    - the gauge ``<prefix>_loaded`` (1 while a config version is served, else 0).
    """

    def __init__(
        self, loader: CalibrationLoader | None = None, *, prefix: str = DEFAULT_PREFIX
    ) -> None:
        if loader is not None and not isinstance(loader, CalibrationLoader):
            msg = f"loader must be a CalibrationLoader or None (got {type(loader).__name__})"
            raise InvalidInputError(msg)
        if not isinstance(prefix, str) or _PREFIX.fullmatch(prefix) is None:
            msg = f"prefix must be a metric name prefix like 'calibration_loader' (got {prefix!r})"
            raise InvalidInputError(msg)
        self._loader = loader
        self._prefix = prefix

    def collect(self) -> Iterator[Metric]:
        """Yield the metrics from the loader's status at this moment."""
        loader = self._loader if self._loader is not None else get_calibration_loader()
        yield from self._families(loader.status())

    def describe(self) -> Iterator[Metric]:
        """Yield the metric families without samples (used by the registry's name check)."""
        yield from self._families(None)

    def _families(self, status: LoaderStatus | None) -> Iterator[Metric]:
        prefix = self._prefix
        for name, documentation, field in _COUNTERS:
            family = CounterMetricFamily(f"{prefix}_{name}", documentation)
            if status is not None:
                family.add_metric([], float(getattr(status, field)))
            yield family
        info = InfoMetricFamily(f"{prefix}_config", "The calibration config version served.")
        loaded = GaugeMetricFamily(f"{prefix}_loaded", "1 while a config version is served.")
        if status is not None:
            info.add_metric(
                [],
                {
                    "version": status.version or "",
                    "digest": status.digest or "",
                    "loaded_at": status.loaded_at or "",
                    "watching": status.watching,
                },
            )
            loaded.add_metric([], 1.0 if status.version is not None else 0.0)
        yield info
        yield loaded


def register_loader_metrics(
    loader: CalibrationLoader | None = None,
    *,
    registry: CollectorRegistry = REGISTRY,
    prefix: str = DEFAULT_PREFIX,
) -> LoaderCollector:
    """Register a :class:`LoaderCollector` and return it.

    Parameters
    ----------
    loader : CalibrationLoader, optional
        The loader to expose (default: the process-wide loader).
    registry : CollectorRegistry, optional
        Where to register (default: prometheus_client's global registry).
    prefix : str, optional
        Metric name prefix.

    Returns
    -------
    LoaderCollector
        Unregister it with ``registry.unregister(collector)``.

    Examples
    --------
    >>> from prometheus_client import start_http_server  # doctest: +SKIP
    >>> register_loader_metrics()  # doctest: +SKIP
    >>> start_http_server(9108, addr="127.0.0.1")  # doctest: +SKIP
    """
    collector = LoaderCollector(loader, prefix=prefix)
    registry.register(collector)
    return collector
