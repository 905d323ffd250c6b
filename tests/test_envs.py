"""Every rule's conda env provides what its script imports, pinned to the versions the tests ran with.

conda channels cannot be reached from CI, so the envs are checked statically: Snakemake parses the
workflow (every rule, with its ``conda:`` and ``script:``), each script's imports are followed through
the ``scrobin`` modules it uses (function-level imports too, since they run when the function does),
and the third-party packages found must be listed in the rule's env file. Pins must agree with the
venv the test suite runs in (same major.minor) and satisfy ``pyproject.toml``, so a conda run and a
pip install run the code that was tested.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import packages_distributions, version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "scrobin"
ENV_FILES = sorted((REPO / "workflow" / "envs").glob("*.yaml"))
# conda-forge names a package by its normalized PyPI name, except for these.
CONDA_NAME_OF_DISTRIBUTION = {"torch": "pytorch"}


@dataclass(frozen=True)
class Pin:
    """One env entry: the conda package name and the version it is pinned to (None when unpinned)."""

    entry: str
    name: str
    version: Version | None


@dataclass(frozen=True)
class ScriptRule:
    """A rule that runs a script, with the files it deploys (paths resolved as Snakemake does)."""

    name: str
    script: Path
    env_file: Path | None


def conda_name(distribution: str) -> str:
    name = canonicalize_name(distribution)
    return CONDA_NAME_OF_DISTRIBUTION.get(name, name)


def parse_pin(entry: str) -> Pin:
    """Read ``name=X.Y``, ``name=X.Y.*``, ``name==X.Y.Z`` or ``channel::name=X.Y=build``; a range is no pin."""
    spec = entry.split("::")[-1].replace(" ", "")
    match = re.fullmatch(r"(?P<name>[\w.\-]+)==?(?P<version>\d[\w.+]*?)(\.\*)?(=[\w.*]+)?", spec)
    if match is None:
        return Pin(entry, canonicalize_name(re.split(r"[<>=!~]", spec, maxsplit=1)[0]), None)
    return Pin(entry, canonicalize_name(match["name"]), Version(match["version"]))


def env_pins(env_file: Path) -> list[Pin]:
    """Conda dependencies and ``pip:`` entries of an env file, by conda package name."""
    pins = []
    for dependency in yaml.safe_load(env_file.read_text())["dependencies"]:
        if isinstance(dependency, dict):
            for pip_pin in map(parse_pin, dependency.get("pip", [])):
                pins.append(Pin(pip_pin.entry, conda_name(pip_pin.name), pip_pin.version))
        else:
            pins.append(parse_pin(dependency))
    return pins


def pyproject_project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def pyproject_requirements(project: dict) -> dict[str, Requirement]:
    """Every requirement of the package (core and optional), by conda package name."""
    entries = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        entries += group
    return {conda_name(requirement.name): requirement for requirement in map(Requirement, entries)}


@pytest.fixture(scope="module")
def script_rules(tmp_path_factory) -> list[ScriptRule]:
    """Every rule of the workflow as Snakemake itself parses it (from all included rule files)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    workdir = tmp_path_factory.mktemp("envs")
    cwd = Path.cwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
            workflow_api = api.workflow(
                ResourceSettings(cores=1),
                ConfigSettings(configfiles=[REPO / "config" / "test.yaml"]),
                snakefile=REPO / "workflow" / "Snakefile",
                workdir=workdir,
            )
            # The parsed rules are only reachable through the API's workflow object (snakemake 9).
            rules = list(workflow_api._workflow.rules)
    finally:
        os.chdir(cwd)
    found = []
    for rule in rules:
        if rule.script is None:
            continue
        rule_dir = Path(rule.snakefile).parent
        env_file = (rule_dir / rule.conda_env).resolve() if isinstance(rule.conda_env, str) else None
        found.append(ScriptRule(rule.name, (rule_dir / rule.script).resolve(), env_file))
    assert found, "the workflow has no rule with a script: the rule discovery is broken"
    return found


def called_job(script: Path) -> str | None:
    """The job a rule script runs (``run_rule(snakemake, jobs.<name>)``), or None."""
    for node in ast.walk(ast.parse(script.read_text(), filename=str(script))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "jobs":
            return node.attr
    return None


def reachable_nodes(tree: ast.Module, job: str | None) -> Iterator[ast.AST]:
    """Every node of a module, or, for a stage's ``jobs`` module, its top level plus the one job the
    rule runs and the module's functions that job calls: a jobs module imports what each job needs
    inside the job, so a torch-free rule beside torch ones stays torch-free."""
    if job is None:
        yield from ast.walk(tree)
        return
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert job in functions, f"the jobs module has no job {job!r}"
    for node in tree.body:
        type_checking = isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        if not isinstance(node, ast.FunctionDef) and not type_checking:
            yield from ast.walk(node)
    pending, seen = [job], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(functions[name]):
            yield node
            if isinstance(node, ast.Name) and node.id in functions:
                pending.append(node.id)


def imported_modules(source_file: Path, module_name: str | None, job: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """``(module, imported names)`` for every import statement reachable in the file, made absolute."""
    tree = ast.parse(source_file.read_text(), filename=str(source_file))
    for node in reachable_nodes(tree, job):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module_name if source_file.name == "__init__.py" else module_name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                yield ".".join(filter(None, [package, node.module])), [alias.name for alias in node.names]
            else:
                yield node.module, [alias.name for alias in node.names]


def package_module_file(module: str) -> Path | None:
    path = REPO.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def third_party_imports(script: Path) -> dict[str, str]:
    """Top-level third-party imports reachable from a script, each with the import chain that reaches it.

    Importing ``scrobin.a.b`` runs ``scrobin/__init__.py`` and ``scrobin/a/__init__.py`` too, and
    ``from scrobin.a import b`` may load the submodule ``b``; all of them are followed.
    """
    found: dict[str, str] = {}
    chain_to: dict[str, str] = {}
    queue: list[tuple[Path, str | None]] = [(script, None)]
    while queue:
        source_file, module_name = queue.pop(0)
        chain = chain_to[module_name] if module_name else str(source_file.relative_to(REPO))
        job = called_job(script) if module_name and module_name.endswith(".jobs") else None
        for module, names in imported_modules(source_file, module_name, job):
            top = module.partition(".")[0]
            if top != PACKAGE:
                if top not in sys.stdlib_module_names:
                    found.setdefault(top, chain)
                continue
            parts = module.split(".")
            candidates = [".".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
            candidates += [f"{module}.{name}" for name in names if package_module_file(f"{module}.{name}")]
            for candidate in candidates:
                if candidate in chain_to:
                    continue
                chain_to[candidate] = f"{chain} -> {candidate}"
                candidate_file = package_module_file(candidate)
                assert candidate_file is not None, f"{chain} imports {candidate}, which is not a module of {REPO / PACKAGE}"
                queue.append((candidate_file, candidate))
    return found


@functools.cache
def distributions_of_imports() -> dict[str, list[str]]:
    """``{top-level import: [distributions]}`` of the venv; scanning every installed package is slow, so once."""
    return packages_distributions()


def conda_names_of_import(top_level: str) -> set[str]:
    return {conda_name(distribution) for distribution in distributions_of_imports().get(top_level, [])}


def test_every_rule_env_provides_the_imports_of_its_script(script_rules):
    gaps = []
    for rule in script_rules:
        if rule.env_file is None or not rule.env_file.is_file():
            continue  # reported by test_every_script_rule_has_an_env_file
        listed = {pin.name for pin in env_pins(rule.env_file)}
        for top_level, chain in sorted(third_party_imports(rule.script).items()):
            packages = conda_names_of_import(top_level)
            if not packages:
                gaps.append(f"rule {rule.name}: import {top_level!r} (via {chain}) comes from no package installed in the venv, so its conda package is unknown")
            elif not packages & listed:
                gaps.append(f"rule {rule.name}: import {top_level!r} (via {chain}) needs {' or '.join(sorted(packages))} in {rule.env_file.relative_to(REPO)}")
    assert not gaps, "\n".join(gaps)


def test_every_script_rule_has_an_env_file(script_rules):
    missing = [
        f"rule {rule.name}: conda: must name an env file under workflow/envs/ (found {rule.env_file})"
        for rule in script_rules
        if rule.env_file is None or not rule.env_file.is_file() or rule.env_file.parent != REPO / "workflow" / "envs"
    ]
    assert not missing, "\n".join(missing)


def test_every_env_file_is_used_by_a_rule(script_rules):
    used = {rule.env_file for rule in script_rules}
    unused = [str(env_file.relative_to(REPO)) for env_file in ENV_FILES if env_file not in used]
    assert not unused, f"env files no rule uses (delete them or point a rule at them): {unused}"


def test_every_script_is_run_by_a_rule(script_rules):
    """Also guards the discovery: a rule it missed would leave its script looking orphaned."""
    run = {rule.script for rule in script_rules}
    orphans = [script.name for script in sorted((REPO / "workflow" / "scripts").glob("*.py")) if script not in run]
    assert not orphans, f"scripts no discovered rule runs: {orphans}"


@pytest.mark.parametrize("env_file", ENV_FILES, ids=[env_file.stem for env_file in ENV_FILES])
def test_env_pins_every_package(env_file):
    unpinned = [pin.entry for pin in env_pins(env_file) if pin.version is None]
    assert not unpinned, f"{env_file.relative_to(REPO)}: pin these to a version (name=X.Y or name==X.Y.Z): {unpinned}"


@pytest.mark.parametrize("env_file", ENV_FILES, ids=[env_file.stem for env_file in ENV_FILES])
def test_env_pins_agree_with_the_venv_and_pyproject(env_file):
    project = pyproject_project()
    requirements = pyproject_requirements(project)
    where = env_file.relative_to(REPO)
    problems = []
    for pin in env_pins(env_file):
        if pin.version is None:
            continue  # reported by test_env_pins_every_package
        if pin.name == "python":
            installed, allowed = Version(".".join(map(str, sys.version_info[:3]))), SpecifierSet(project["requires-python"])
        elif pin.name == "pip":  # installs scrobin itself (the post-deploy script); no dependency of it
            installed, allowed = Version(version("pip")), SpecifierSet()
        elif pin.name in requirements:
            requirement = requirements[pin.name]
            installed, allowed = Version(version(requirement.name)), requirement.specifier
        else:
            problems.append(f"{where}: {pin.name} is not a dependency in pyproject.toml; declare it there so pip installs get it too")
            continue
        if installed.release[:2] != pin.version.release[:2]:
            problems.append(f"{where}: {pin.entry} but the tested venv has {pin.name} {installed}; pin {installed.major}.{installed.minor}")
        if not allowed.contains(pin.version, prereleases=True):
            problems.append(f"{where}: {pin.entry} is outside pyproject.toml's {pin.name}{allowed}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("env_file", ENV_FILES, ids=[env_file.stem for env_file in ENV_FILES])
def test_every_env_installs_scrobin_at_the_workflows_version(env_file):
    """Every rule imports the scrobin package; conda cannot install it, so the env's post-deploy
    script (run by Snakemake inside the new env) installs it with pip, pinned to this version."""
    from scrobin import __version__

    script = env_file.with_name(f"{env_file.stem}.post-deploy.sh")
    assert script.is_file(), f"{env_file.relative_to(REPO)} has no post-deploy script {script.name}"
    text = script.read_text()
    assert f'"${{SCROBIN_PIP_SPEC:-scrobin=={__version__}}}"' in text and "--no-deps" in text
    assert text == (ENV_FILES[0].with_name(f"{ENV_FILES[0].stem}.post-deploy.sh")).read_text(), "post-deploy scripts differ"
    assert "pip" in {pin.name for pin in env_pins(env_file)}, f"{env_file.relative_to(REPO)} must list pip"
