"""The import graph of `separation/`: no circle, and every arrow points down the layers of docs/layout.md.

Every import statement of every module counts, the lazy ones inside functions
included (`ast`, nothing is imported). The layer table is read from
docs/layout.md, so the documented order and the checked one are the same.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "separation"
LAYOUT = ROOT / "docs" / "layout.md"

# The analysis layer reads tables: it imports none of these itself (torch would load for a report).
TORCH_REGISTRIES = ("separation.models", "separation.losses", "separation.optim", "separation.objectives")

# Arrows that break the rules today, each being removed by #30's other parts. An entry whose import is
# gone (or no longer breaks a rule) fails `test_every_allowance_is_still_needed`: delete it then.
KNOWN_UPWARD = {
    # removed by #30's other parts: optimizer names for figures without importing torch
    ("separation.analysis.figures", "separation.optim"),
}


def module_names() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (a package is named by its `__init__.py`)."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _owner(name: str, modules) -> str | None:
    """The module of the package that a dotted name lives in (itself, else its nearest enclosing module)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules) -> set[str]:
    """The package's modules that `module` imports anywhere in its file (`from X import name` counts as
    an import of the module X.name where that is one, else of X)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [_owner(alias.name, modules) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else _owner(base, modules)
                       for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t is not None and t != module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {module: imports_of(module, path, modules) for module, path in modules.items()}


def layer_table() -> list[tuple[str, list[str]]]:
    """(layer name, module patterns), bottom first, from docs/layout.md's marked table."""
    text = LAYOUT.read_text()
    block = text.split("<!-- import layers:", 1)[1].split("<!-- end of import layers -->", 1)[0]
    rows = []
    for line in block.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and "`" in cells[1]:
            rows.append((cells[0], re.findall(r"`([^`]+)`", cells[1])))
    return rows


def _specificity(pattern: str) -> tuple[bool, int]:
    return (not any(c in pattern for c in "*?["), len(pattern))


def layer_of(module: str, table) -> int | None:
    """Index of the layer whose pattern names `module`: the exact name, else the longest pattern."""
    best = None
    for index, (_, patterns) in enumerate(table):
        for pattern in patterns:
            package = pattern[:-2] if pattern.endswith(".*") else None
            if fnmatch.fnmatchcase(module, pattern) or module == package:
                if best is None or _specificity(pattern) > _specificity(best[1]):
                    best = (index, pattern)
    return None if best is None else best[0]


def rule_breaks(graph, table) -> dict[tuple[str, str], str]:
    """Every arrow that breaks a rule of docs/layout.md -> why."""
    names = [name for name, _ in table]
    broken = {}
    for source, targets in graph.items():
        for target in targets:
            low, high = layer_of(target, table), layer_of(source, table)
            if low is not None and high is not None and low > high:
                broken[(source, target)] = f"layer '{names[high]}' imports from '{names[low]}' above it"
            elif source.startswith("separation.analysis") and _owner(target, TORCH_REGISTRIES):
                broken[(source, target)] = "the analysis layer imports a torch registry"
    return broken


def circles(graph) -> list[list[str]]:
    """Groups of modules that import each other round a circle (Tarjan's strongly connected components)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walker_sees_lazy_and_relative_imports():
    graph = import_graph()
    # `from separation import models, optim` inside `validate`: a lazy import of two modules, not of the package.
    assert {"separation.models", "separation.optim"} <= graph["separation.configuration.validation"]
    assert "separation" not in graph["separation.configuration.validation"]
    assert "separation.tasks" in graph["separation.config"]


def test_no_import_circle():
    found = circles(import_graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(group) for group in found)


def test_every_module_has_a_layer():
    table = layer_table()
    assert [name for name, _ in table][:1] == ["plain utilities"] and len(table) > 5, "docs/layout.md's layer table not found"
    unplaced = sorted(module for module in module_names() if layer_of(module, table) is None)
    assert not unplaced, f"modules in no layer of docs/layout.md's table: {', '.join(unplaced)}"


def test_imports_point_down_the_layers():
    broken = rule_breaks(import_graph(), layer_table())
    new = {edge: why for edge, why in broken.items() if edge not in KNOWN_UPWARD}
    assert not new, "imports against docs/layout.md's layers:\n" + "\n".join(
        f"{source} -> {target}: {why}" for (source, target), why in sorted(new.items()))


def test_every_allowance_is_still_needed():
    graph, table = import_graph(), layer_table()
    broken = rule_breaks(graph, table)
    stale = sorted(edge for edge in KNOWN_UPWARD if edge not in broken)
    assert not stale, "KNOWN_UPWARD entries no longer needed (the import is gone or allowed): remove " + ", ".join(
        f"{source} -> {target}" for source, target in stale)


def test_the_rules_catch_an_upward_arrow_and_a_circle():
    table = layer_table()
    graph = {"separation.errors": {"separation.config"}, "separation.config": {"separation.errors"},
             "separation.analysis.report": {"separation.models"}}
    broken = rule_breaks(graph, table)
    assert ("separation.errors", "separation.config") in broken
    assert ("separation.config", "separation.errors") not in broken
    assert ("separation.analysis.report", "separation.models") in broken
    assert circles(graph) == [["separation.config", "separation.errors"]]
    assert layer_of("separation.data.noisy_corpus", table) > layer_of("separation.data.noisy_format", table)
    assert layer_of("separation.evaluation.study", table) > layer_of("separation.evaluation.speech", table)
    assert layer_of("separation.data", table) == layer_of("separation.data.audio", table)
