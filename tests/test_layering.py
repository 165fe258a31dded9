"""The package's layering, read from the source (every import, function-local ones included).

Layers, lowest first; a module may import its own layer and the ones below it, never one above::

    0  seqlab.nn, seqlab.metrics, seqlab.console, seqlab (the package's __init__)
    1  seqlab.data
    2  seqlab.engine
    3  seqlab.tasks
    4  seqlab.inference (the loader, the inference verbs and their options, export), .tune, .cluster,
       .diagnose, .reporting
    5  seqlab.cli, seqlab.__main__ (``python -m seqlab``, the one module that may import the cli)

``seqlab.console`` holds plain-text tables that any layer may print, so it sits at the bottom.
Besides the layers: no import cycle between seqlab's modules, ``seqlab.nn`` never imports Lightning,
and nothing but ``seqlab.__main__`` imports ``seqlab.cli``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from seqlab.cli import VERBS

PACKAGE = Path(__file__).resolve().parents[1] / "seqlab"

LAYERS = {
    "seqlab": 0,
    "seqlab.nn": 0,
    "seqlab.metrics": 0,
    "seqlab.console": 0,
    "seqlab.data": 1,
    "seqlab.engine": 2,
    "seqlab.tasks": 3,
    "seqlab.inference": 4,
    "seqlab.tune": 4,
    "seqlab.cluster": 4,
    "seqlab.diagnose": 4,
    "seqlab.reporting": 4,
    "seqlab.cli": 5,
    "seqlab.help_cache": 5,
    "seqlab.__main__": 5,
}

# (importer, imported) pairs that break a rule and are not fixed yet; each names why. Keep it empty.
ALLOWED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names), at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from seqlab.x import y`: y may be a module of its own (then that module is what is
            # imported; as everywhere here, the packages above an imported module are not counted)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


def _seqlab_module(imported: str) -> str | None:
    """The seqlab module an import names (``seqlab.x.Y`` -> ``seqlab.x``), or None outside seqlab."""
    while imported:
        if imported in MODULES:
            return imported
        imported = imported.rpartition(".")[0]
    return None


GRAPH = {
    name: {m for imp in _imports(name, path) if (m := _seqlab_module(imp)) and m != name}
    for name, path in MODULES.items()
}


def _layer(module: str) -> int:
    while module not in LAYERS:
        module = module.rpartition(".")[0]
    return LAYERS[module]


def test_every_module_has_a_layer() -> None:
    unplaced = [
        m for m in MODULES if not any(m == k or m.startswith(k + ".") for k in LAYERS if k != "seqlab")
    ]
    assert unplaced == ["seqlab"], f"give these modules a layer in tests/test_layering.py: {unplaced}"


def test_no_import_reaches_up() -> None:
    upward = [
        f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
        for a, targets in GRAPH.items()
        for b in sorted(targets)
        if _layer(b) > _layer(a) and (a, b) not in ALLOWED
    ]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def _cycles() -> list[list[str]]:
    """One cycle per back edge found by a depth-first search over the module graph."""
    cycles, state, stack = [], dict.fromkeys(GRAPH, 0), []  # 0 unseen, 1 on the stack, 2 done

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state[nxt] == 1 and (node, nxt) not in ALLOWED:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif state[nxt] == 0:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if state[node] == 0:
            visit(node)
    return cycles


def test_no_import_cycle() -> None:
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("package", ["seqlab.nn"])
def test_nn_does_not_import_lightning(package: str) -> None:
    offenders = [
        f"{name} imports {imp}"
        for name, path in MODULES.items()
        if name == package or name.startswith(package + ".")
        for imp in sorted(_imports(name, path))
        if imp.split(".")[0] in ("lightning", "pytorch_lightning")
    ]
    assert not offenders, "\n".join(offenders)


def test_data_does_not_import_tasks() -> None:
    """Named on its own (the layers imply it): the data modules know nothing of the tasks."""
    offenders = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name.startswith("seqlab.data")
        for target in sorted(targets)
        if target.startswith("seqlab.tasks")
    ]
    assert not offenders, "\n".join(offenders)


def test_nothing_imports_the_cli() -> None:
    importers = [
        name for name, targets in GRAPH.items() if "seqlab.cli" in targets and name != "seqlab.__main__"
    ]
    assert not importers, f"only seqlab.__main__ may import seqlab.cli: {importers}"


def test_the_graph_sees_function_local_imports() -> None:
    """A guard on the reader itself: a tune trial imports Ray Train's set-up inside a function."""
    assert "seqlab.cluster.ray_train" in GRAPH["seqlab.tune.trial"]


def test_every_verb_in_the_table_names_a_real_function() -> None:
    """The cli imports its verbs by name (``VERBS``), which the import graph cannot see: each entry
    must name an existing function, in a module below the cli."""
    for verb, (module, function) in VERBS.items():
        assert callable(getattr(importlib.import_module(module), function, None)), verb
        assert module != "seqlab.cli" and not module.startswith("seqlab.cli."), verb
