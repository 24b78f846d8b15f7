"""Every primitive has all of its rules, and the packages keep their one-way dependencies."""

from __future__ import annotations

import ast
import pathlib

import pytest

import hlodiff  # noqa: F401  (registers every primitive family)
from hlodiff.core import all_primitives
from hlodiff.lowering import has_rule, rule_file

ROOT = pathlib.Path(__file__).resolve().parents[1]
PRIMS = sorted(all_primitives(), key=lambda p: p.name)
# Primitives whose bind hands the whole call to the trace (custom rules), or that have no
# operands to batch (iota): their batching lives in the trace hooks / is not needed.
NO_BATCH_RULE = {"custom_jvp_call", "custom_vjp_call", "iota"}
NO_JVP_RULE = {"custom_jvp_call", "custom_vjp_call", "custom_lin"}


def _where(p) -> str:
    import inspect

    mod = inspect.getmodule(type(p)) if type(p).__module__ != "hlodiff.core" else None
    return getattr(mod, "__file__", "its family file in hlodiff/prims/")


@pytest.mark.parametrize("prim", PRIMS, ids=[p.name for p in PRIMS])
def test_primitive_has_all_rules(prim):
    missing = [r for r in ("impl", "abstract_eval") if getattr(prim, r) is None]
    if prim.name not in NO_JVP_RULE and prim.jvp is None:
        missing.append("jvp")
    if prim.name not in NO_BATCH_RULE and prim.batch is None:
        missing.append("batch")
    if prim.linear and prim.transpose is None:
        missing.append("transpose")
    assert not missing, f"primitive '{prim}' lacks rules {missing}: add them to its block"
    assert has_rule(prim), f"primitive '{prim}' has no lowering rule: add it to {rule_file(prim)}"


def _imports(folder: str, skip: str | None = None) -> set[str]:
    names = set()
    for path in (ROOT / folder).rglob("*.py"):
        if skip and skip in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names


def test_runtime_knows_nothing_of_hlodiff():
    bad = {n for n in _imports("runtime") if n.split(".")[0] in ("hlodiff", "jax", "jaxlib")}
    assert not bad, f"runtime/ must stand alone, but imports {sorted(bad)}"


def test_lowering_does_not_import_runtime_or_jax():
    bad = {n for n in _imports("lowering")
           if n.startswith("hlodiff.runtime") or n.split(".")[0] in ("jax", "jaxlib")}
    assert not bad, f"lowering/ must not import {sorted(bad)}"


def test_library_does_not_import_jax():
    # hlodiff/bench times JAX side by side when it is installed: the only place allowed to.
    bad = {n for n in _imports("hlodiff", skip="bench") if n.split(".")[0] in ("jax", "jaxlib")}
    assert not bad, f"hlodiff/ must not import {sorted(bad)}"


def test_packaging_lists_every_package():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"])
    found = set()
    for folder, name in (("hlodiff", "hlodiff"), ("lowering", "hlodiff.lowering"),
                         ("runtime", "hlodiff.runtime")):
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name,) + rel))
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"
