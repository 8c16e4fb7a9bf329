"""The import graph of a package, read from its source with ``ast`` (nothing is imported), and the layer contract
that ``tests/architecture/test_layers.py`` holds ``src/deltamem`` to.

Every ``import`` / ``from ... import`` counts, also inside functions and ``if TYPE_CHECKING:`` blocks: a lazy
import is still a dependency a reader has to follow, and a type-only one still ties the modules' vocabulary.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

Graph = dict[str, set[str]]


def modules(src: Path, package: str) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file of ``src/<package>`` (a package is named by its
    ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _targets(node: ast.AST, module: str, is_package: bool) -> Iterable[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: resolved against the importing module's package
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[:len(anchor) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        yield base
        yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(src: Path, package: str) -> Graph:
    """Module → the modules of the same package it imports (a name imported from a module counts as that
    module, ``from pkg import sub`` as ``pkg.sub`` when ``sub`` is a module)."""
    mods = modules(src, package)
    graph: Graph = {m: set() for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for target in _targets(node, name, path.name == "__init__.py"):
                if target in mods and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (each is an import cycle), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        # Iterative Tarjan: (node, iterator over its successors) frames, so deep graphs cannot hit the recursion limit.
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return sorted(found)


@dataclass(frozen=True, slots=True)
class Violation:
    """An import that points up the layers, or sideways between two parts of one layer."""

    importer: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported}: {self.why}"


def part_of(module: str, package: str) -> str:
    """The part of the package a module belongs to: its first sub-package or root module (``deltamem.agent.loop``
    → ``agent``; ``deltamem.config`` → ``config``); the package's own ``__init__`` is ``""``."""
    rest = module[len(package):].lstrip(".")
    return rest.split(".", 1)[0]


def layer_violations(graph: Mapping[str, set[str]], package: str, layers: Sequence[Sequence[str]]) -> list[Violation]:
    """Every import between two parts that the layers forbid.

    ``layers`` lists the parts from the bottom up; a part may import its own modules and any part of a lower layer,
    not one of a higher layer nor another part of its own layer. A part in no layer is itself a violation, so a new
    package has to be placed before it can be imported.
    """
    level = {part: i for i, layer in enumerate(layers) for part in layer}
    found: list[Violation] = []
    for importer in sorted(graph):
        src = part_of(importer, package)
        for imported in sorted(graph[importer]):
            dst = part_of(imported, package)
            if src == dst:
                continue
            for part in (src, dst):
                if part not in level:
                    found.append(Violation(importer, imported, f"{part or package!r} is in no layer"))
            if src not in level or dst not in level:
                continue
            if level[dst] > level[src]:
                found.append(Violation(importer, imported, f"{src!r} is below {dst!r}"))
            elif level[dst] == level[src]:
                found.append(Violation(importer, imported, f"{src!r} and {dst!r} are independent parts of one layer"))
    return found
