"""The stage boundaries hold: only the repositories in digest/db see ORM rows, every module
says what it is for, and statuses are the model's enums, not string literals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [*ROOT.joinpath("digest").rglob("*.py"), *ROOT.joinpath("subscribers").rglob("*.py")]
MODULES = [*sorted(p for p in SHIPPED if "versions" not in p.parts), ROOT / "scheduler.py"]


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_only_the_repositories_import_the_schema() -> None:
    outside = [
        _name(path)
        for path in MODULES
        if "db" not in path.relative_to(ROOT).parts[:2]
        and any(name.startswith("digest.db.schema") for name in _imports(_tree(path)))
    ]
    assert outside == []


def test_only_the_repositories_import_sqlalchemy() -> None:
    """SQL lives in digest/db; the stages above it see values."""
    outside = [
        _name(path)
        for path in MODULES
        if path.relative_to(ROOT).parts[:2] != ("digest", "db")
        and any(name.split(".")[0] == "sqlalchemy" for name in _imports(_tree(path)))
    ]
    assert outside == []


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_every_module_says_what_it_is_for(path: Path) -> None:
    docstring = ast.get_docstring(_tree(path))
    assert docstring, f"{_name(path)} has no module docstring"


STATUS_WORDS = {"draft", "sending", "sent", "pending", "active", "unsubscribed", "bounced"}
STATUS_WORDS |= {"complained", "suppressed"}


def test_statuses_are_compared_as_enums_not_literals() -> None:
    """`x.status == "sent"`, `status="bounced"` and the like: the enum says it once."""
    found: list[str] = []
    for path in MODULES:
        for node in ast.walk(_tree(path)):
            literals: list[ast.expr] = []
            if isinstance(node, ast.Compare) and _mentions_status(node.left):
                literals = list(node.comparators)
            elif isinstance(node, ast.keyword) and node.arg == "status":
                literals = [node.value]
            found.extend(
                f"{_name(path)}:{lit.lineno}"
                for lit in literals
                if isinstance(lit, ast.Constant) and lit.value in STATUS_WORDS
            )
    assert found == []


def _mentions_status(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "status") or (
        isinstance(node, ast.Name) and node.id == "status"
    )
