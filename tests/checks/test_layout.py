"""The package's layout: public paths, one folder per job, and an import graph with no cycle."""

from __future__ import annotations

import ast
import importlib
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
                    graph[name].update(_parents(target, name))
    return graph


def _parents(target: str, importer: str) -> set[str]:
    """Importing ``a.b.c`` runs ``a.b``'s ``__init__`` first: an edge the statement hides."""
    parts = target.split(".")
    found = {".".join(parts[:i]) for i in range(2, len(parts))}
    return found - {importer, "regstack_django"}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt == "regstack_django":
                continue  # the package itself: re-exports, imported last
            if nxt in PUBLIC_INITS.get(node, ()):
                continue  # imported inside __getattr__, once the package is initialised
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


#: Every path README.md and docs/ give users (LAYOUT.md, "What must not move").
PUBLIC = {
    "regstack_django": [
        "attach",
        "get_regstack",
        "get_registry",
        "HookRegistry",
        "KNOWN_EVENTS",
        "EventContext",
    ],
    "regstack_django.context": ["EventContext", "current_context"],
    "regstack_django.signals": [
        "signal_for",
        "event_name",
        "receiver_failed",
        "user_registered",
        "login_failed",
    ],
    "regstack_django.asgi": ["get_asgi_application", "build_site"],
    "regstack_django.testing": ["capture_events", "muted"],
    "regstack_django.testing.plugin": [],
    "regstack_django.logging": ["SecretsFilter"],
    "regstack_django.payloads": ["UserRegisteredKwargs", "VerificationRequestedKwargs"],
    "regstack_django.secrets": ["SecretURL", "SECRET_QUERY_KEYS", "MIN_SECRET_LENGTH"],
    "regstack_django.redaction": ["RedactedError"],
    "regstack_django.failures": ["RedactedReceiverError", "ReceiverTimeout"],
    "regstack_django.pool": ["WorkerUnavailable"],
    "regstack_django.background": ["EnqueueTimeout"],
    "regstack_django.serialize": ["PayloadError", "PublicUser"],
    "regstack_django.worker": ["deliver", "UntrustedTask"],
    "regstack_django.envelope": ["open_envelope", "UntrustedMessage", "ExpiredMessage"],
    "regstack_django.once": ["run_once"],
    "regstack_django.registry": ["HookRegistry"],
    "regstack_django.models": ["OutboxEvent", "HandlerRun", "RegStackIdentity"],
    "regstack_django.auth": ["RegStackTokenMiddleware", "RegStackBackend"],
    "regstack_django.apps": [],
    "regstack_django.management.commands.regstack_hooks": ["Command"],
    "regstack_django.management.commands.regstack_relay": ["Command"],
    "regstack_django.management.commands.runserver": ["Command"],
}

#: Paths stored or compared as strings: the name must be defined where it is found.
DEFINED_IN = {
    ("regstack_django.registry", "HookRegistry"),
    ("regstack_django.logging", "SecretsFilter"),
    ("regstack_django.secrets", "SecretURL"),
    ("regstack_django.worker", "deliver"),
    ("regstack_django.worker", "UntrustedTask"),
    ("regstack_django.envelope", "UntrustedMessage"),
    ("regstack_django.envelope", "ExpiredMessage"),
    ("regstack_django.serialize", "PayloadError"),
    ("regstack_django.serialize", "PublicUser"),
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_path_imports(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(imported, name)]
    assert not missing, f"{module} lost {missing}"


@pytest.mark.parametrize(("module", "name"), sorted(DEFINED_IN))
def test_stored_paths_keep_their_defining_module(module: str, name: str) -> None:
    found = getattr(importlib.import_module(module), name)
    # worker.deliver is a Task where a Tasks framework is installed: its function is defined there.
    assert getattr(found, "func", found).__module__ == module


def test_the_signing_salt_is_not_a_module_path_to_rewrite() -> None:
    from regstack_django import envelope

    # Changing it invalidates every queued message and every outbox row.
    assert envelope.SALT == "regstack_django.background.v2"


def _subpackage_inits() -> list[Path]:
    """The machinery's folders (``testing`` is a public module that happens to be a package)."""
    return sorted(
        p
        for p in PACKAGE.rglob("__init__.py")
        if p.parent != PACKAGE and not {"management", "migrations", "testing"} & set(p.parts)
    )


#: Public subpackages whose __init__ exposes the names settings give as paths, lazily
#: (``regstack_django.auth.RegStackTokenMiddleware`` in MIDDLEWARE): what it may import.
PUBLIC_INITS = {
    "regstack_django.auth": {
        "regstack_django.auth.middleware",
        "regstack_django.auth.backend",
    },
}


@pytest.mark.parametrize("init", _subpackage_inits(), ids=lambda p: p.parent.name)
def test_subpackage_inits_import_nothing_but_failures(init: Path) -> None:
    name = _module_name(init)
    allowed = {"regstack_django.failures"} | PUBLIC_INITS.get(name, set())
    assert import_graph()[name] <= allowed, import_graph()[name]


def test_no_library_module_imports_a_management_command() -> None:
    offenders = {
        name: sorted(t for t in targets if ".management" in t)
        for name, targets in import_graph().items()
        if ".management." not in name
    }
    assert not {name: t for name, t in offenders.items() if t}


def test_the_top_level_stays_small_and_every_module_short() -> None:
    top = [p for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert len(top) <= 20, sorted(p.name for p in top)
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.parts
        and (n := len(p.read_text(encoding="utf-8").splitlines())) > 300
    }
    assert not long, long


def test_the_audit_models_stay_out_of_a_project_without_the_audit_app() -> None:
    from django.apps import apps

    import regstack_django.audit.models  # noqa: F401 - what a docs or checks import does

    assert not apps.is_installed("regstack_django.audit")
    assert "AuthEvent" not in {m.__name__ for m in apps.get_models()}
