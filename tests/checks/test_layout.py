"""The package's import graph has no cycle, and the leaf modules import on their own.

The words of the checks (:mod:`regstack_django.checks`), the settings parser
(:mod:`regstack_django.handlers`) and the Tasks adapter
(:mod:`regstack_django.tasks_compat`) each stand on their own: no module
imports, at module level or inside a function, a module that leads back to
it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "regstack_django"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """``module -> {regstack_django modules it imports}``, every import statement counted."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt == "regstack_django":
                continue  # the package itself: re-exports, imported last
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    cycle = _cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_checks_words_import_nothing_of_the_package() -> None:
    assert import_graph()["regstack_django.checks.messages"] == set()
    assert import_graph()["regstack_django.background.tasks_compat"] == set()


@pytest.mark.parametrize(
    "module",
    [
        "regstack_django.checks.messages",
        "regstack_django.conf",
        "regstack_django.background.tasks_compat",
        "regstack_django.hooks.entries",
        "regstack_django.serialize",
        "regstack_django.envelope",
    ],
)
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    code = (
        "import django.conf, sys; django.conf.settings.configure(); "
        f"import {module}; "
        "cycle = [m for m in sys.modules if m.startswith('regstack_django.')]; print(cycle)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
