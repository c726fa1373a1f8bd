"""The layout of the test suite itself."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TEST_PACKAGES = ("tests.unit", "tests.integration")


def _is_test_module(name: str) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in TEST_PACKAGES)


def imports_of_test_modules(source: str, package: str) -> list[str]:
    """Each import in `source`, a module of `package`, of tests.unit, tests.integration or a
    module in them, as "line: module"; relative imports are resolved against `package`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names if _is_test_module(a.name))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [base])])
            if _is_test_module(base):
                found.append((node.lineno, base))
            else:  # `from tests import unit`
                names = (f"{base}.{a.name}" for a in node.names)
                found.extend((node.lineno, name) for name in names if _is_test_module(name))
    return [f"{line}: {name}" for line, name in sorted(found)]


def test_no_test_module_imports_another_test_module() -> None:
    """Helpers that several test modules use live in tests/support: a test module imported by
    another runs twice (once as a test, once as a library) and ties the two together."""
    files = sorted(
        path for folder in ("unit", "integration") for path in (TESTS / folder).rglob("*.py")
    )
    assert len(files) > 10
    offenders = {}
    for path in files:
        package = ".".join(path.relative_to(TESTS.parent).parent.parts)
        found = imports_of_test_modules(path.read_text(encoding="utf-8"), package)
        if found:
            offenders[str(path.relative_to(TESTS.parent))] = found
    assert offenders == {}, "move the imported helpers to tests/support"


def test_the_layout_check_sees_every_form_of_import() -> None:
    source = (
        "import tests.unit.test_golden\n"
        "from tests.integration.test_cli import invoke, run_main\n"
        "from tests.unit import test_golden\n"
        "from tests import integration, support\n"
        "from . import test_send\n"
        "from .test_send import ready\n"
        "from ..unit.test_lint import BASE\n"
        "from tests.support.cli import invoke\n"
        "import tests.support.clock, os\n"
        "from ..support import seed\n"
        "from .. import conftest\n"
        "def later() -> None:\n"
        "    import tests.integration.test_send\n"
    )
    assert imports_of_test_modules(source, "tests.integration") == [
        "1: tests.unit.test_golden",
        "2: tests.integration.test_cli",
        "3: tests.unit",
        "4: tests.integration",
        "5: tests.integration",
        "6: tests.integration.test_send",
        "7: tests.unit.test_lint",
        "13: tests.integration.test_send",
    ]
    assert imports_of_test_modules("from tests.support.plans import DATE\n", "tests.unit") == []
