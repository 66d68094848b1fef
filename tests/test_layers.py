"""The shape of the code: no import cycle, and the version-neutral parts name no version.

Read statically from the checkout (what a newcomer's editor or a type
checker sees), not from what happens to be imported at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("actors", "protocol", "hw", "config", "tools")

# The version-neutral core: both versions use it unchanged.
CORE = (
    "actors.runtime",
    "actors.link",
    "actors.storage",
    "actors.hooks",
    "actors.clock",
    "actors.events",
    "actors.security_events",
    "hw",
    "protocol.framing",
    "protocol.session",
    "protocol.validation",
    "protocol.errors",
    "protocol.timestamps",
    "protocol.backoff",
    "protocol.txqueue",
)
VERSIONED = ("actors.v16", "protocol.v16", "config.keys_v16")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found["ocppstation." + ".".join(parts)] = path
    return found


def _imports(tree: ast.Module) -> Iterator[str]:
    """The modules imported anywhere in it, `if TYPE_CHECKING:` included: a
    cycle a type checker has to break is a cycle a reader has to untangle."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m in _imports(ast.parse(path.read_text())) if m in modules and m != name}
        for name, path in modules.items()
    }


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    short = module.removeprefix("ocppstation.")
    return any(short == p or short.startswith(p + ".") for p in prefixes)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_is_readable_from_the_checkout_and_has_no_cycle() -> None:
    graph = _graph()
    # The reader resolves the package's own imports (a broken mapping finds none).
    assert sum(len(targets) for targets in graph.values()) > 300
    assert _cycles(graph) == []


def test_the_version_neutral_core_names_no_version() -> None:
    offenders = {
        (module, target)
        for module, targets in _graph().items()
        if _within(module, CORE)
        for target in targets
        if _within(target, VERSIONED)
    }
    assert offenders == set()


def test_the_station_domain_imports_no_feature_block() -> None:
    # The EVSE and what it says to the blocks may still use 1.6's pure rules
    # (its status machine, reservations), but never a 1.6 actor.
    offenders = {
        (module, target)
        for module, targets in _graph().items()
        if _within(module, ("actors.evse", "actors.messages"))
        for target in targets
        if _within(target, ("actors.v16",))
    }
    assert offenders == set()


def test_a_cycle_is_found_where_there_is_one() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
