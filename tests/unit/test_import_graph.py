"""The package's import graph, read statically (AST, imports inside functions included): no cycle, and
the layers are folders that import only the layers below them (ALLOWED, below).

A cycle hidden by an import inside a function still ties two modules together: neither can be
understood, tested or moved without the other. Imports under `if TYPE_CHECKING:` never run and are
left out."""

from __future__ import annotations

from support.import_graph import PACKAGE, cycles, external_imports, import_graph, modules


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


# --- the layers are folders ------------------------------------------------------------------------------
KERNEL = "kernel"
"""The modules at the package's root (errors, echo, fileio, aws_target, group, stack_dir): the shared kernel."""
ALLOWED = {  # layer -> the layers it may import (besides itself); a folder of ecs_autoscale/, or KERNEL
    KERNEL: set(),
    "model": {KERNEL},
    "synthesis": {KERNEL, "model", "agent"},  # user_data embeds the agent and builds its Settings
    "deployment": {KERNEL, "model", "synthesis"},
    "client": {KERNEL, "model"},
    "doctor": {KERNEL, "model"},
    "estimate": {KERNEL, "model", "synthesis"},  # the alarms' expressions, as plain strings (alarm_expressions)
    "emulator": {KERNEL},
    "agent": set(),  # the instances' user data: stdlib only
    "report": {KERNEL, "model", "client", "estimate"},  # a job as measured (client) against its estimate
    "cli": {KERNEL, "model", "synthesis", "deployment", "client", "doctor", "estimate", "emulator", "report"},
}
EXCEPTIONS: set[tuple[str, str]] = set()
"""(module, imported module) pairs allowed against the table, each with its reason; none today (aws_target
read emulator_env from the emulator package until it moved into aws_target)."""
CDKTF_BOUNDARY = "ecs_autoscale.synthesis.constructs"
SYNTHESIZES = {"ecs_autoscale.synthesis.synth"}
"""The one module outside synthesis/constructs/ that imports it: the plain builders beside it, and every layer
allowed synthesis/, get plain data only."""
MAX_ROOT_MODULES = 8


def layer_of(module: str) -> str:
    parts = module.split(".")
    is_root_module = len(parts) == 1 or (len(parts) == 2 and not (PACKAGE / parts[1]).is_dir())
    return KERNEL if is_root_module else parts[1]


def back_edges(graph: dict[str, set[str]]) -> list[str]:
    """Every import against the table, or into the CDKTF boundary from outside it (but synth.py), as
    `module -> module (layer -> layer)`."""
    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            source_layer, target_layer = layer_of(module), layer_of(target)
            crossing = source_layer != target_layer and target_layer not in ALLOWED.get(source_layer, set())
            into_boundary = (
                target.startswith(CDKTF_BOUNDARY)
                and not module.startswith(CDKTF_BOUNDARY)
                and module not in SYNTHESIZES
            )
            if (crossing or into_boundary) and (module, target) not in EXCEPTIONS:
                found.append(f"{module} -> {target} ({source_layer} -> {target_layer})")
    return found


def test_every_layer_imports_only_the_layers_below_it() -> None:
    found = back_edges(import_graph())
    assert not found, "imports against the layers (tests/unit/test_import_graph.py ALLOWED):\n" + "\n".join(found)


def test_only_the_cdktf_boundary_imports_cdktf() -> None:
    """synth.py included: it reaches cdktf through `constructs.stack.synthesize`."""
    jsii = {"cdktf", "cdktf_cdktf_provider_aws", "constructs"}
    found = sorted(name for name, path in modules().items() if external_imports(path) & jsii)
    outside = [name for name in found if not name.startswith(CDKTF_BOUNDARY + ".")]
    assert found and outside == [], f"cdktf imported outside synthesis/constructs/: {outside}"


def test_every_folder_of_the_package_is_a_layer_of_the_table() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(ALLOWED) - {KERNEL}, "place the new folder in ALLOWED (which layers it may import)"


def test_the_package_root_holds_only_the_small_kernel() -> None:
    root = sorted(p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(root) <= MAX_ROOT_MODULES, f"{len(root)} modules at the package root ({root}): give new ones a layer"


def test_a_back_edge_and_a_plain_builder_importing_cdktf_are_found() -> None:
    graph = {
        "ecs_autoscale.model.config": {"ecs_autoscale.synthesis.synth"},
        "ecs_autoscale.synthesis.policy": {"ecs_autoscale.synthesis.constructs.stack"},
        "ecs_autoscale.synthesis.synth": {"ecs_autoscale.synthesis.constructs.stack"},
        "ecs_autoscale.client.status": {"ecs_autoscale.errors", "ecs_autoscale.model.naming"},
        "ecs_autoscale.estimate.rules": {"ecs_autoscale.synthesis.constructs.backstop_alarms"},
    }
    assert back_edges(graph) == [
        "ecs_autoscale.estimate.rules -> ecs_autoscale.synthesis.constructs.backstop_alarms (estimate -> synthesis)",
        "ecs_autoscale.model.config -> ecs_autoscale.synthesis.synth (model -> synthesis)",
        "ecs_autoscale.synthesis.policy -> ecs_autoscale.synthesis.constructs.stack (synthesis -> synthesis)",
    ]
