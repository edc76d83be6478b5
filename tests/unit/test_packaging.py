"""``install_requires`` is what the store needs at run time, and no more.

Run time here is everything a glance-api process loads through the store:
its modules, the in-tree driver's options it imports, os-brick's
connectors.  Those are loaded in a fresh interpreter and mapped to their
distributions; each must be one the package declares or one that a
declared requirement declares in turn.  What the package's own source
imports is declared by name.  And each declared requirement must be
imported by the package itself, or be listed below with the reason.
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import json
import pathlib
import re
import subprocess
import sys

from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "glance_store_cinder"

# Declared without being imported by the package, and why.
INDIRECT = {
    # oslo.utils' format inspector imports it (oslo_utils.imageutils._luks)
    # without declaring it.
    "cryptography",
}

# What a glance-api process loads through the store, beyond the imports.
_LOAD = """
import json, sys, warnings
warnings.simplefilter("ignore")
import glance_store_cinder.cli
import glance_store_cinder.store
from glance_store_cinder import options, runtime
options.list_opts()
assert runtime.os_brick_available()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> list[Requirement]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    lines = parser["options"]["install_requires"].splitlines()
    return [Requirement(line) for line in map(str.strip, lines)
            if line and not line.startswith("#")]


def closure(requirements: list[Requirement]) -> set[str]:
    """The declared distributions and everything they require."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        name = canonical(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in dist.requires or ():
            nested = Requirement(text)
            if nested.marker is None or nested.marker.evaluate(
                    {"extra": ""}):
                todo.append(nested)
    return seen


def distributions_of(modules: set[str]) -> dict[str, set[str]]:
    """Top-level module -> the distributions that provide it."""
    provided = importlib.metadata.packages_distributions()
    return {module: {canonical(d) for d in provided[module]}
            for module in modules
            if module in provided and module not in sys.stdlib_module_names}


def loaded_modules() -> set[str]:
    out = subprocess.run([sys.executable, "-c", _LOAD], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def imported_modules() -> set[str]:
    """Top-level modules the package's own source imports."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(str(node.module).split(".")[0])
    return found


def test_everything_loaded_at_run_time_is_declared() -> None:
    allowed = closure(declared()) | {"glance-store-cinder"}
    undeclared = {
        module: dists
        for module, dists in distributions_of(loaded_modules()).items()
        if not dists & allowed}
    assert undeclared == {}


def test_every_import_of_the_package_is_declared_itself() -> None:
    names = {canonical(r.name) for r in declared()} | {"glance-store-cinder"}
    undeclared = {
        module: dists
        for module, dists in distributions_of(imported_modules()).items()
        if not dists & names}
    assert undeclared == {}


def test_every_declared_requirement_is_imported_or_explained() -> None:
    used: set[str] = set()
    for dists in distributions_of(imported_modules()).values():
        used |= dists
    unused = {canonical(r.name) for r in declared()} - used - INDIRECT
    assert unused == set()


def test_bench_and_test_tools_are_not_run_time_requirements() -> None:
    names = {canonical(r.name) for r in declared()}
    assert not names & {"matplotlib", "pyinstrument", "pytest", "sphinx",
                        "reno", "requests-mock", "oslo-log"}
