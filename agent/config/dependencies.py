"""``depends_on`` checked across the whole file: every reference exists, no cycles.

It reads the plain data, not the models, so a dangling reference is reported together with
every other problem of the file instead of after they are fixed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

KeyPath = tuple[str | int, ...]
Graph = Mapping[str, tuple[KeyPath, Sequence[Any]]]  # pattern/name -> (path, depends_on)


def dependency_graph(data: Any) -> dict[str, tuple[KeyPath, Sequence[Any]]]:
    """``pattern/name`` -> (its path, its depends_on list), from whatever part is well formed."""
    graph: dict[str, tuple[KeyPath, Sequence[Any]]] = {}
    patterns = data.get("patterns") if isinstance(data, Mapping) else None
    for pattern, body in (patterns or {}).items() if isinstance(patterns, Mapping) else ():
        integrations = body.get("integrations") if isinstance(body, Mapping) else None
        if not isinstance(integrations, Mapping):
            continue
        for name, integration in integrations.items():
            deps = integration.get("depends_on") if isinstance(integration, Mapping) else None
            path: KeyPath = ("patterns", pattern, "integrations", name)
            graph[f"{pattern}/{name}"] = (path, deps if isinstance(deps, list | tuple) else ())
    return graph


def dependency_problems(graph: Graph) -> list[tuple[KeyPath, str]]:
    """(path, message) for each reference to nothing, to itself, and each cycle once."""
    problems: list[tuple[KeyPath, str]] = []
    for key, (path, deps) in graph.items():
        for index, dep in enumerate(deps):
            where = (*path, "depends_on", index)
            if not isinstance(dep, str):
                continue  # the model reports the wrong type
            if dep == key:
                problems.append((where, f"{key} depends on itself"))
            elif dep not in graph:
                close = difflib.get_close_matches(dep, list(graph), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(
                    (where, f"{dep!r} is not a configured integration (pattern/name){hint}")
                )
    for cycle in _cycles(graph):
        problems.append(
            ((*graph[cycle[0]][0], "depends_on"), "dependency cycle: " + " -> ".join(cycle))
        )
    return problems


def _cycles(graph: Graph) -> list[list[str]]:
    """Each dependency cycle once, from its first member in file order."""
    cycles: list[list[str]] = []
    in_a_cycle: set[str] = set()
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(key: str, stack: list[str]) -> None:
        state[key] = 1
        stack.append(key)
        for dep in graph[key][1]:
            if not isinstance(dep, str) or dep not in graph or dep == key:
                continue
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                if not in_a_cycle.intersection(cycle):
                    cycles.append(cycle)
                    in_a_cycle.update(cycle)
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[key] = 2

    for key in graph:
        if key not in state:
            visit(key, [])
    return cycles
