"""The pure core imports nothing that touches the outside world."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import calibration_core

PACKAGE = Path(calibration_core.__file__).parent
PURE_MODULES = (
    "constants",
    "exceptions",
    "isotonic",
    "metrics",
    "weights",
    "validation",
    "analysis",
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
        path = PACKAGE / f"{module}.py"
        if not path.exists():
            pytest.skip(f"{module}.py not written yet")
        bad = [name for name in _imports(path) if name.split(".")[0] in FORBIDDEN]
        assert bad == [], f"{module}.py imports {bad}"

    @pytest.mark.parametrize("module", PURE_MODULES)
    def test_pure_module_imports_only_pure_package_modules(self, module: str) -> None:
        """A pure-core module only imports other pure modules of the package."""
        path = PACKAGE / f"{module}.py"
        if not path.exists():
            pytest.skip(f"{module}.py not written yet")
        own = [n for n in _imports(path) if n.startswith("calibration_core")]
        assert set(own) <= PURE_PACKAGE_IMPORTS, f"{module}.py imports {own}"

    @pytest.mark.parametrize("module", PURE_MODULES)
    def test_pure_module_says_so_in_its_header(self, module: str) -> None:
        """Each pure module states in a header comment that it is pure."""
        path = PACKAGE / f"{module}.py"
        if not path.exists():
            pytest.skip(f"{module}.py not written yet")
        head = "\n".join(path.read_text(encoding="utf-8").splitlines()[:8]).lower()
        assert "pure" in head


class TestPackageSurface:
    def test_init_all_is_sorted_and_exported(self) -> None:
        """The package re-exports its public names with a sorted ``__all__``."""
        names = list(calibration_core.__all__)
        assert names == sorted(names)
        for name in names:
            assert hasattr(calibration_core, name), name

    def test_init_contains_no_logic(self) -> None:
        """``calibration_core/__init__.py`` only imports and lists names."""
        tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
        allowed = (ast.Import, ast.ImportFrom, ast.Assign, ast.Expr)
        assert all(isinstance(node, allowed) for node in tree.body)
