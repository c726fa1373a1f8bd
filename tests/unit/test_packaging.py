"""pyproject.toml against the code: every package is installed, every library the code
imports is declared (not merely pulled in by another one)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Import names of optional extras that may not be installed here, by distribution.
NOT_INSTALLED = {"nacl": ["PyNaCl"]}
SHIPPED = [ROOT / "digest", ROOT / "subscribers", ROOT / "scheduler.py"]


def _python_files() -> list[Path]:
    files: list[Path] = []
    for place in SHIPPED:
        files.extend([place] if place.is_file() else sorted(place.rglob("*.py")))
    return [f for f in files if "migrations" not in f.parts or f.name == "env.py"]


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"digest", "subscribers", "scheduler"}


def _declared() -> set[str]:
    """Dependencies and optional extras (an extra's import is guarded where it is used)."""
    extras = [
        requirement
        for name, group in PROJECT["project"]["optional-dependencies"].items()
        if name != "test"
        for requirement in group
    ]
    return {
        re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in [*PROJECT["project"]["dependencies"], *extras]
    }


def test_every_imported_library_is_a_declared_dependency() -> None:
    distributions = {**NOT_INSTALLED, **packages_distributions()}
    declared = _declared()
    missing = {
        module: distributions.get(module, [module])
        for module in _imported_top_levels()
        if not {d.lower().replace("_", "-") for d in distributions.get(module, [module])} & declared
    }
    assert missing == {}


def test_every_package_folder_is_installed() -> None:
    listed = set(PROJECT["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("digest", "subscribers")
        for init in (ROOT / top).rglob("__init__.py")
        if "migrations" not in init.parts
    }
    assert folders - listed == set()
