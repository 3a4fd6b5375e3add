"""The layout of tests/: one folder per component, helpers at the root, no test module importing another.

A test file must run alone (``pytest -q tests/gateway/test_gateway_leads.py``): with pytest's
default import mode only its own folder and tests/ are on ``sys.path``, so a test that imported
another test module would work only when collection happened to import that module first.
"""

from __future__ import annotations

import ast
from collections import Counter

from harness.paths import TESTS

TEST_MODULES = sorted(TESTS.rglob("test_*.py"))
HELPER_PACKAGES = {"harness", "querygrammar"}  # imported by tests, hold no tests


def imported_modules(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_test_module_imports_another() -> None:
    offenders = []
    for path in [*TEST_MODULES, *TESTS.rglob("conftest.py"), *TESTS.glob("*.py"), *(TESTS / "harness").rglob("*.py")]:
        for name in imported_modules(ast.parse(path.read_text(), str(path))):
            if name.startswith("test_"):
                offenders.append(f"{path.relative_to(TESTS)} imports {name}")
    assert not offenders, "move what is shared into a helper module (not test_*.py): " + "; ".join(
        sorted(set(offenders))
    )


def test_the_scan_finds_an_import_of_a_test_module() -> None:
    tree = ast.parse("import os\nfrom test_gateway import config\nimport test_bitrix24 as b\nfrom . import x\n")
    assert sorted(n for n in imported_modules(tree) if n.startswith("test_")) == ["test_bitrix24", "test_gateway"]


def test_test_modules_live_in_component_folders_with_unique_names() -> None:
    assert len(TEST_MODULES) > 50
    at_root = [p.name for p in TEST_MODULES if p.parent == TESTS]
    assert not at_root, f"tests/ keeps helpers only; put these in a component folder: {at_root}"
    twice = [name for name, n in Counter(p.name for p in TEST_MODULES).items() if n > 1]
    assert not twice, f"pytest needs unique basenames (the folders have no __init__.py): {twice}"
    packages = [str(p.relative_to(TESTS)) for p in TESTS.glob("*/__init__.py") if p.parent.name not in HELPER_PACKAGES]
    assert not packages, f"component folders are not packages: {packages}"
