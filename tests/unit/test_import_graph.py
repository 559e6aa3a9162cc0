"""The package's import graph, read statically (AST, imports inside functions included), has no cycle.

A cycle hidden by an import inside a function still ties two modules together: neither can be
understood, tested or moved without the other. Imports under `if TYPE_CHECKING:` never run and are
left out."""

from __future__ import annotations

from support.import_graph import cycles, import_graph


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    found = cycles(graph)
    described = [
        " <-> ".join(c) + ": " + "; ".join(f"{m} imports {sorted(graph[m] & set(c))}" for m in c) for c in found
    ]
    assert not found, "import cycles:\n" + "\n".join(described)


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    # cli/__init__ loads its commands by name (importlib), but validate imports config inside its function
    assert "ecs_autoscale.model.config" in graph["ecs_autoscale.cli.errors"]


def test_cycles_are_found_through_other_modules() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
