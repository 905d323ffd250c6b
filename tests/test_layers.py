"""The package's imports run one way: shared helpers at the bottom, the jobs at the top.

Read from the modules' own import statements (lazy ones inside functions included), the calls to
``import_module`` and the ``"module:function"`` strings the attribution registry imports on first
use. A module may import from its own layer or a lower one, never a higher one, and no two modules
import each other, however indirectly.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "scrobin"

# The layers, bottom to top. A stage package scrobin/<stage>/ is its own layer; its ``jobs`` module
# (the rules Snakemake calls) belongs to the top. Top-level modules are shared helpers, except the
# entry points below, which compose the stages.
LAYERS = ("shared", "data", "attacks", "model", "robustness", "attribution", "evaluation", "enrichment", "compare",
          "jobs")
ENTRY_POINTS = ("scrobin.config", "scrobin.config_docs", "scrobin.entrypoint", "scrobin.preflight", "scrobin.cli")


def module_names() -> dict[str, Path]:
    """Dotted name -> file of every module of the package."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def layer_of(module: str) -> str:
    parts = module.split(".")
    if module in ENTRY_POINTS or (len(parts) > 2 and parts[2] == "jobs"):
        return "jobs"
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "shared"


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name ``module`` imports, at the top or inside a function."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + is_package]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names |= {source} | {f"{source}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "import_module":
            argument = node.args[0] if node.args else None
            if isinstance(argument, ast.Constant):
                names.add(argument.value)
            elif isinstance(argument, ast.JoinedStr) and isinstance(argument.values[0], ast.Constant):
                # import_module(f"scrobin.stage.{name}"): the stage is fixed, the module is not
                names.add(argument.values[0].value.rstrip("."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and ":" in node.value:
            # "scrobin.attribution.gradients:saliency": imported on first use by the registry
            target = node.value.split(":")[0]
            if target.startswith("scrobin.") and " " not in target:
                names.add(target)
    return {name for name in names if name == "scrobin" or name.startswith("scrobin.")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a name resolves to its longest module prefix)."""
    modules = module_names()

    def resolve(name: str) -> str | None:
        parts = name.split(".")
        return next((".".join(parts[:end]) for end in range(len(parts), 0, -1) if ".".join(parts[:end]) in modules), None)

    return {
        module: {target for target in map(resolve, imported_names(module, path)) if target not in (None, module)}
        for module, path in modules.items()
    }


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
        for module, targets in graph.items()
        for target in targets
        if LAYERS.index(layer_of(target)) > LAYERS.index(layer_of(module))
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_every_stage_package_is_a_layer():
    stages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()} - {"resources"}
    assert stages <= set(LAYERS), f"packages without a layer: {sorted(stages - set(LAYERS))}"


@pytest.mark.parametrize(
    ("source", "upward"),
    [
        ("def f():\n    from scrobin.robustness.attacks import pgd\n", True),  # lazy, still counted
        ("from scrobin.attacks.gradient import pgd\n", False),
        ("IMPLEMENTATION = 'scrobin.evaluation.sanity:check'\n", True),
        ("from importlib import import_module\nimport_module(f'scrobin.compare.{name}')\n", True),
    ],
)
def test_the_check_sees_lazy_and_string_imports(tmp_path, source, upward):
    """The check itself can fail: a model-layer module importing these would be refused."""
    path = tmp_path / "probe.py"
    path.write_text(source)
    graph = {"scrobin.model.probe": {name for name in imported_names("scrobin.model.probe", path)}}
    assert bool(upward_imports(graph)) == upward
