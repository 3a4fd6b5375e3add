"""The package's layers (docs/layers.md) hold, and no modules import each other in a cycle.

Imports are read with ``ast`` from every module, those inside functions too (a
lazy import hides a cycle, it does not remove it); imports under
``if TYPE_CHECKING:`` are for the type checker and are skipped.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.paths import REPO as ROOT

PACKAGE = ROOT / "src" / "botwatch"
LAYERS_DOC = ROOT / "docs" / "layers.md"


# -- docs/layers.md ----------------------------------------------------------------
def _table(section: str) -> list[list[str]]:
    """The rows of the first table under ``## section`` (header and rule left out), cells stripped of backticks."""
    text = LAYERS_DOC.read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("|")]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows[2:]]


@dataclass(frozen=True)
class Layers:
    prefixes: dict[str, str]  # module prefix -> layer
    allowed: dict[str, frozenset[str]]  # layer -> layers it may import (itself included)
    exceptions: frozenset[tuple[str, str]]  # (module, imported module prefix)

    def layer_of(self, module: str) -> str:
        best = max((p for p in self.prefixes if module == p or module.startswith(p + ".")), key=len)
        return self.prefixes[best]

    def permits(self, module: str, target: str) -> bool:
        if any(module == m and (target == t or target.startswith(t + ".")) for m, t in self.exceptions):
            return True
        return self.layer_of(target) in self.allowed[self.layer_of(module)]


def read_layers() -> Layers:
    prefixes = {row[0]: row[1] for row in _table("Layers")}
    allowed = {
        row[0]: frozenset({row[0], *(name.strip() for name in row[1].split(",") if name.strip())})
        for row in _table("Rules")
    }
    exceptions = frozenset((row[0], row[1]) for row in _table("Exceptions"))
    return Layers(prefixes, allowed, exceptions)


# -- the import graph ----------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except in the body of ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The botwatch modules ``module`` imports (``from a import b``: ``a.b`` if it is a module, else ``a``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "botwatch")
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        if source.split(".")[0] != "botwatch":
            continue
        for alias in node.names:
            child = f"{source}.{alias.name}"
            found.add(child if child in known else source)
    found.discard(module)
    return found


@functools.cache
def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports_of(module, path, known) for module, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def violations(graph: dict[str, set[str]], layers: Layers) -> list[str]:
    return sorted(
        f"{module} → {target} ({layers.layer_of(module)} may not import {layers.layer_of(target)})"
        for module, targets in graph.items()
        for target in targets
        if not layers.permits(module, target)
    )


# -- tests ----------------------------------------------------------------------------
def test_every_module_has_a_layer_and_every_layer_has_rules():
    layers = read_layers()
    assert set(layers.prefixes.values()) == set(layers.allowed), "a layer in docs/layers.md without rules, or back"
    for allowed in layers.allowed.values():
        assert allowed <= set(layers.allowed), f"rules name an unknown layer: {sorted(allowed - set(layers.allowed))}"
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    named = {prefix.split(".")[1] for prefix in layers.prefixes if prefix.count(".") == 1}
    assert packages == named, f"packages not in docs/layers.md: {sorted(packages - named)}; gone: {named - packages}"


def test_no_module_imports_a_higher_layer():
    found = violations(import_graph(), read_layers())
    assert not found, "imports against docs/layers.md:\n" + "\n".join(found)


def test_exceptions_are_still_needed():
    """An exception nobody uses any more is deleted from docs/layers.md, not kept as a licence."""
    graph = import_graph()
    for module, target in read_layers().exceptions:
        assert any(t == target or t.startswith(target + ".") for t in graph.get(module, ())), (module, target)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "modules importing each other (function-level imports count):\n" + "\n".join(
        " ↔ ".join(component) for component in found
    )


# -- the checks themselves catch what they should ------------------------------------------
def test_the_checks_see_function_level_imports_and_skip_type_checking(tmp_path):
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from botwatch.cli import common\n"
        "def later():\n    from botwatch.audit import source\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = imports_of("botwatch.probe", path, {"botwatch.audit.source": path})
    assert found == {"botwatch.audit.source"}
    layers = read_layers()
    assert violations({"botwatch.probe": found}, layers) == [
        "botwatch.probe → botwatch.audit.source (core may not import audit)"
    ]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_layers_doc_names_the_fixes_a_reader_looks_for():
    text = LAYERS_DOC.read_text()
    assert re.search(r"botwatch\.cli\.source_options", text) and (PACKAGE / "cli" / "source_options.py").is_file()
