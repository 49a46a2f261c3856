"""The pure core imports nothing that touches the outside world."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import calibration_core

PACKAGE = Path(calibration_core.__file__).parent
PURE_MODULES = (
    "_arrays",
    "constants",
    "exceptions",
    "text",
    "core.isotonic",
    "core.pav",
    "core.pav_certificate",
    "core.metrics",
    "core.weights",
    "core.validation",
    "core.holdout",
    "core.ensemble",
    "core.per_symbol",
    "core.consensus",
    "core.proposal",
    "core.confidence_stats",
    "core.monitor_rules",
    "core.version_scoring",
    "core.gate",
    "core.numbers",
)
FORBIDDEN = frozenset(
    {
        "os",
        "pathlib",
        "json",
        "time",
        "threading",
        "watchdog",
        "subprocess",
        "socket",
        "urllib",
        "http",
        "shutil",
        "tempfile",
        "io",
        "logging",
        "random",
        "datetime",
        "tqdm",  # progress is a callback the shell passes in; the core never draws it
    }
)
PURE_PACKAGE_IMPORTS = frozenset(f"calibration_core.{name}" for name in PURE_MODULES) | {
    "calibration_core.config",
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


class TestPureCore:
    @pytest.mark.parametrize("module", PURE_MODULES)
    def test_pure_module_imports_no_io(self, module: str) -> None:
        """A pure-core module imports no I/O, clock, thread or watcher module."""
        path = PACKAGE / f"{module.replace('.', '/')}.py"
        assert path.is_file(), f"pure module {module}.py is missing"
        bad = [name for name in _imports(path) if name.split(".")[0] in FORBIDDEN]
        assert bad == [], f"{module}.py imports {bad}"

    @pytest.mark.parametrize("module", PURE_MODULES)
    def test_pure_module_imports_only_pure_package_modules(self, module: str) -> None:
        """A pure-core module only imports other pure modules of the package."""
        path = PACKAGE / f"{module.replace('.', '/')}.py"
        assert path.is_file(), f"pure module {module}.py is missing"
        own = [n for n in _imports(path) if n.startswith("calibration_core")]
        assert set(own) <= PURE_PACKAGE_IMPORTS, f"{module}.py imports {own}"

    @pytest.mark.parametrize("module", PURE_MODULES)
    def test_pure_module_says_so_in_its_header(self, module: str) -> None:
        """Each pure module states in a header comment that it is pure."""
        path = PACKAGE / f"{module.replace('.', '/')}.py"
        assert path.is_file(), f"pure module {module}.py is missing"
        head = "\n".join(path.read_text(encoding="utf-8").splitlines()[:8]).lower()
        assert "pure" in head


PUBLIC_API = frozenset(
    {
        "CONFIG_SCHEMA_VERSION",
        "MAX_CONFIDENCE_CHANGE",
        "MAX_CONFIG_BYTES",
        "MAX_WEIGHT",
        "MAX_WEIGHT_CHANGE",
        "MIN_CONFIDENCE_IMPROVEMENT",
        "MIN_OUTCOME_DIVERSITY",
        "MIN_TOTAL_WEIGHT_CHANGE",
        "MIN_TRADES_FOR_CALIBRATION",
        "MIN_WEIGHT",
        "NEUTRAL_PNL_BAND_PCT",
        "RISK_CATEGORIES",
        "WEIGHT_SUM_TOLERANCE",
        "CalibrationConfig",
        "CalibrationError",
        "CalibrationLoader",
        "CheckResult",
        "ConfidenceMap",
        "ConfigRejectedError",
        "ConsensusCalibrator",
        "ConsensusMultipliers",
        "DataIntegrityError",
        "DeploymentError",
        "EnsembleWeights",
        "InfeasibleWeightsError",
        "IntegritySummary",
        "InvalidInputError",
        "IsotonicCalibration",
        "IsotonicResult",
        "JobRefusedError",
        "LoaderStatus",
        "ModelPerformance",
        "MonitorVerdict",
        "NotAuthorizedError",
        "PerSymbolMaps",
        "ReliabilityBin",
        "ReliabilityTable",
        "RiskScore",
        "Severity",
        "Snapshot",
        "TradeBatch",
        "ValidationReport",
        "WeightChange",
        "WeightProposal",
        "WindowData",
        "apply_confidence_calibration",
        "apply_confidence_calibration_batch",
        "apply_hold_bias",
        "bound_confidence_change",
        "brier_score",
        "check_confidence_change_bound",
        "check_confidence_improvement",
        "check_max_weight_change",
        "check_min_trades",
        "check_no_degradation",
        "check_outcome_diversity",
        "check_weight_bounds",
        "check_weight_sum",
        "consensus_bucket",
        "equal_weights",
        "evaluate_monitor",
        "expected_calibration_error",
        "fit_isotonic",
        "get_calibration_loader",
        "get_calibration_snapshot",
        "get_calibrator",
        "get_consensus_multiplier",
        "get_default_loader",
        "get_ensemble_weights",
        "is_valid_version",
        "isotonic_regression",
        "log_loss",
        "maximum_calibration_error",
        "measure_model_performance",
        "mse",
        "pearson_correlation",
        "propose_weights",
        "read_trades",
        "reliability_table",
        "reload_calibration",
        "reset_default_loader",
        "score_risk",
        "set_default_loader",
        "spearman_correlation",
        "summarize",
        "summarize_integrity",
        "wilson_interval",
    }
)
"""The public names: a change here is a change to the API and belongs in the changelog."""


class TestPackageSurface:
    def test_public_api_is_pinned(self) -> None:
        """The public names are exactly the pinned set (HoldBias left with its estimator)."""
        assert set(calibration_core.__all__) == PUBLIC_API

    def test_every_public_name_imports_from_the_package(self) -> None:
        """``from calibration_core import X`` works for every pinned name."""
        for name in sorted(PUBLIC_API):
            assert getattr(calibration_core, name) is not None, name

    def test_init_all_is_sorted_and_exported(self) -> None:
        """The package re-exports its public names with a sorted ``__all__``.

        The order is ruff's RUF022 (isort-style): CONSTANTS, then Classes, then
        functions, each alphabetical.
        """
        names = list(calibration_core.__all__)

        def isort_key(name: str) -> tuple[int, str]:
            kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
            return kind, name

        assert names == sorted(names, key=isort_key)
        for name in names:
            assert hasattr(calibration_core, name), name

    def test_init_only_maps_names_to_submodules(self) -> None:
        """``__init__`` holds no logic beyond the lazy name -> submodule lookup."""
        tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert functions == {"__getattr__", "__dir__"}
        allowed = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.Expr, ast.If)
        others = [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
        assert all(isinstance(node, allowed) for node in others)

    def test_lazy_exports_match_the_type_checking_imports(self) -> None:
        """Every lazily exported name comes from the module its typed import names."""
        tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
        typed: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "calibration_core."
            ):
                for alias in node.names:
                    typed[alias.name] = (node.module or "").removeprefix("calibration_core.")
        assert typed == calibration_core._EXPORTS
        assert set(calibration_core.__all__) == set(typed)

    def test_import_is_lazy(self) -> None:
        """A bare ``import calibration_core`` imports no submodule and no numpy."""
        code = (
            "import sys, calibration_core; "
            "print(sorted(m for m in sys.modules if m.startswith(('calibration_core.', 'numpy'))))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        assert result.stdout.strip() == "[]"

    def test_unknown_attribute_raises_attribute_error(self) -> None:
        """Asking the package for a name it does not export is an AttributeError."""
        with pytest.raises(AttributeError, match="no_such_name"):
            _ = calibration_core.no_such_name


# --------------------------------------------------------------------------- layers
# Which subpackage may import which. The top-level modules are the contract and the
# shared helpers: constants, exceptions, config (calibration.json, shared by the deployer
# and the runtime), settings (where the files are), text, times, _arrays and fsio.
LAYERS = ("core", "sources", "jobs", "deploy", "runtime", "cli")
SHARED = frozenset(
    {
        "constants",
        "exceptions",
        "config",
        "config_json",
        "legacy_config",
        "settings",
        "text",
        "times",
        "_arrays",
        "fsio",
    }
)
PURE_SHARED = frozenset(
    {"constants", "exceptions", "config", "config_json", "legacy_config", "text", "_arrays"}
)
ALLOWED: dict[str, frozenset[str]] = {
    "shared": SHARED,
    "core": PURE_SHARED | {"core"},
    "sources": SHARED | {"core", "sources"},
    "deploy": SHARED | {"core", "sources", "deploy"},
    # monitor and compare score maps exactly as the runtime serves them.
    "jobs": SHARED | {"core", "sources", "deploy", "runtime", "jobs"},
    "runtime": (SHARED - {"fsio", "text"}) | {"runtime"},
    "cli": SHARED | {"sources", "jobs", "deploy", "cli", "calibration_core"},
    # The 0.1 guide's import paths, kept as deprecated re-exports of the runtime.
    "compat": frozenset({"config", "runtime"}),
}
COMPAT = frozenset({"loader", "prometheus"})
RUNTIME_THIRD_PARTY = frozenset({"numpy", "attrs", "watchdog"})
MAX_MODULE_LINES = 850


def _layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    if len(parts) == 1 and path.stem in COMPAT:
        return "compat"
    return parts[0] if len(parts) > 1 else "shared"


def _target_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "calibration_core"


def _package_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name not in {"__init__.py", "__main__.py"})


class TestLayers:
    def test_every_module_lives_in_a_known_layer(self) -> None:
        """The folders are the layers: no module outside them but the shared ones."""
        for path in _package_modules():
            layer = _layer_of(path)
            if layer == "shared":
                assert path.stem in SHARED, f"{path.name} belongs in a layer subpackage"
            elif layer != "compat":
                assert layer in LAYERS, f"{path} is in an unknown folder"

    @pytest.mark.parametrize("layer", ["shared", "compat", *LAYERS])
    def test_layer_imports_only_what_it_may(self, layer: str) -> None:
        """Arrows run one way: cli -> jobs/deploy -> sources/core -> the contract."""
        bad: list[str] = []
        for path in _package_modules():
            if _layer_of(path) != layer:
                continue
            for name in _imports(path):
                if not name.startswith("calibration_core"):
                    continue
                target = _target_of(name)
                if target not in ALLOWED[layer]:
                    bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
        assert bad == []

    def test_runtime_imports_only_numpy_attrs_watchdog_and_the_contract(self) -> None:
        """What the host's process loads: the stdlib, numpy, attrs, watchdog and our contract."""
        stdlib = sys.stdlib_module_names
        bad: list[str] = []
        for path in (PACKAGE / "runtime").glob("*.py"):
            if path.stem == "prometheus":  # the optional `metrics` extra
                continue
            for name in _imports(path):
                top = name.split(".")[0]
                if top in stdlib or top == "__future__" or top in RUNTIME_THIRD_PARTY:
                    continue
                if top == "calibration_core" and _target_of(name) in ALLOWED["runtime"]:
                    continue
                bad.append(f"runtime/{path.name} imports {name}")
        for stem in ALLOWED["runtime"] - {"runtime"}:
            for name in _imports(PACKAGE / f"{stem}.py"):
                top = name.split(".")[0]
                if top not in stdlib and top not in {"__future__", "calibration_core"}:
                    assert top in RUNTIME_THIRD_PARTY, f"{stem}.py imports {name}"
        assert bad == []

    def test_no_module_is_longer_than_800_lines(self) -> None:
        """A module past about 800 lines holds two ideas: split it where the names change."""
        long = {
            str(p.relative_to(PACKAGE)): n
            for p in _package_modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
        }
        assert long == {}

    @pytest.mark.parametrize(
        ("module", "names"),
        [
            ("loader", "CalibrationLoader, apply_confidence_calibration, get_ensemble_weights"),
            ("prometheus", "register_loader_metrics"),
        ],
    )
    def test_old_import_paths_still_work_and_say_they_are_deprecated(
        self, module: str, names: str
    ) -> None:
        """0.1's guide told hosts `from calibration_core.loader import ...`: it still works."""
        code = (
            f"import warnings; warnings.simplefilter('always')\n"
            f"from calibration_core.{module} import {names}\n"
            "import calibration_core.runtime.host as host\n"
            "from calibration_core.loader import apply_confidence_calibration as a\n"
            "assert a is host.apply_confidence_calibration\n"
            "print(a(0.7))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == "0.7"
        assert f"DeprecationWarning: calibration_core.{module} is deprecated" in done.stderr
