"""The optional Prometheus collector, against a real registry and a real HTTP scrape."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import urllib.request
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry, generate_latest, start_http_server

from calibration_core.exceptions import InvalidInputError
from calibration_core.runtime import host as runtime
from calibration_core.runtime.loader import CalibrationLoader
from calibration_core.runtime.prometheus import LoaderCollector, register_loader_metrics
from calibration_core.settings import ENV_CONFIG_PATH
from calibration_core_tests.runtime_helpers import config_text

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

V1 = "cal_20260220_000001"
V2 = "cal_20260220_000002"


@pytest.fixture(autouse=True)
def _no_default_loader_left_behind() -> Iterator[None]:
    yield
    runtime.reset_default_loader()


def sample(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    """Return one sample's value; fail if it is not exposed."""
    value = registry.get_sample_value(name, labels or {})
    assert value is not None, f"{name} {labels} is not exposed"
    return value


class TestCollector:
    def test_counters_follow_the_loader(self, tmp_path: Path) -> None:
        """*_total counters count loads, rejections, skips, NaN and invalid inputs."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text(V1))
        loader = CalibrationLoader(path, watch="none")
        registry = CollectorRegistry()
        register_loader_metrics(loader, registry=registry)
        assert sample(registry, "calibration_loader_reloads_attempted_total") == 1
        assert sample(registry, "calibration_loader_reloads_succeeded_total") == 1
        assert sample(registry, "calibration_loader_reloads_rejected_total") == 0
        path.write_text("{broken")
        loader.reload()
        loader.reload()  # the same bad bytes: skipped, not rejected twice
        loader.apply_confidence_calibration(math.nan)
        loader.apply_confidence_calibration("0.7")  # type: ignore[arg-type]
        loader.apply_confidence_calibration_batch(["x", None, 0.5])  # type: ignore[arg-type]
        assert sample(registry, "calibration_loader_reloads_attempted_total") == 2
        assert sample(registry, "calibration_loader_reloads_rejected_total") == 1
        assert sample(registry, "calibration_loader_reloads_skipped_total") == 1
        assert sample(registry, "calibration_loader_nan_inputs_total") == 1
        assert sample(registry, "calibration_loader_invalid_inputs_total") == 3

    def test_the_live_version_is_an_info_metric(self, tmp_path: Path) -> None:
        """<prefix>_config_info carries the version and digest; <prefix>_loaded is 1."""
        path = tmp_path / "calibration.json"
        loader = CalibrationLoader(path, watch="none")
        registry = CollectorRegistry()
        register_loader_metrics(loader, registry=registry)
        assert sample(registry, "calibration_loader_loaded") == 0
        path.write_text(config_text(V2))
        loader.reload()
        status = loader.status()
        labels = {
            "version": V2,
            "digest": status.digest or "",
            "loaded_at": status.loaded_at or "",
            "watching": "none",
        }
        assert sample(registry, "calibration_loader_config_info", labels) == 1
        assert sample(registry, "calibration_loader_loaded") == 1

    def test_the_exposition_uses_total_names_and_types(self, tmp_path: Path) -> None:
        """The text format declares counters and the info metric as such."""
        loader = CalibrationLoader(tmp_path / "calibration.json", watch="none")
        registry = CollectorRegistry()
        register_loader_metrics(loader, registry=registry, prefix="cc")
        text = generate_latest(registry).decode()
        for name in (
            "reloads_attempted",
            "reloads_succeeded",
            "reloads_rejected",
            "reloads_skipped",
            "nan_inputs",
            "invalid_inputs",
        ):
            assert f"# TYPE cc_{name}_total counter" in text or f"# TYPE cc_{name} counter" in text
            assert f"\ncc_{name}_total 0.0\n" in text
        assert "# TYPE cc_config_info gauge" in text or "# TYPE cc_config info" in text

    def test_a_real_scrape_over_http(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The default loader's metrics, scraped from a real server on 127.0.0.1."""
        path = tmp_path / "calibration.json"
        path.write_text(config_text(V1))
        monkeypatch.setenv(ENV_CONFIG_PATH, str(path))
        runtime.reset_default_loader()
        registry = CollectorRegistry()
        collector = register_loader_metrics(registry=registry)  # follows the default loader
        server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
        try:
            port = server.server_address[1]
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read().decode()
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
        assert 'calibration_loader_config_info{digest="' in body
        assert f'version="{V1}"' in body
        assert "calibration_loader_reloads_succeeded_total 1.0" in body
        registry.unregister(collector)

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [({"loader": "x"}, "loader must be"), ({"prefix": "9bad prefix"}, "prefix must be")],
    )
    def test_bad_arguments_are_one_line_errors(
        self, arguments: dict[str, object], message: str
    ) -> None:
        """A wrong loader or prefix is an InvalidInputError naming it."""
        with pytest.raises(InvalidInputError, match=message):
            LoaderCollector(**arguments)  # type: ignore[arg-type]


OFFLINE_ONLY = ("prometheus_client", "tqdm", "msgspec", "scipy", "matplotlib", "sklearn")

HOST_USE = """
import json, sys
from calibration_core import get_calibration_loader, get_calibrator, reload_calibration
loader = get_calibration_loader()
loader.apply_confidence_calibration(0.7)
loader.apply_confidence_calibration_batch([0.1, 0.9])
loader.get_ensemble_weights()
loader.get_status()
get_calibrator().get_multiplier(5, 6)
reload_calibration()
print(json.dumps(sorted(sys.modules)))
"""


class TestRuntimePathStaysLight:
    def test_the_host_api_imports_no_offline_library(self, tmp_path: Path) -> None:
        """The loader never imports prometheus_client (nor tqdm, msgspec, scipy, ...)."""
        (tmp_path / "calibration.json").write_text(config_text(V1))
        done = subprocess.run(
            [sys.executable, "-c", HOST_USE],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env={**__import__("os").environ, ENV_CONFIG_PATH: str(tmp_path / "calibration.json")},
            check=True,
        )
        modules = json.loads(done.stdout.strip().splitlines()[-1])
        assert "watchdog.observers" in modules  # the loader really ran and watched
        assert [m for m in modules if m.split(".")[0] in OFFLINE_ONLY] == []
        assert "calibration_core.runtime.prometheus" not in modules
