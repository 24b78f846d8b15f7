"""Compile-once harness for lowering tests.

A test file declares a table of `Case`s (a function and example arguments). `Batch` traces each
with `hd.make_jaxpr`, merges them into a few big jaxprs, lowers each to a module, parses and
verifies it with the MLIR bindings, compiles it for IREE's llvm-cpu, runs it, and hands each case
its outputs to compare with hlodiff's eager result (the numpy implementations).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from typing import Any, Callable

import numpy as np
import pytest

import hlodiff as hd
from hlodiff.ir import ClosedJaxpr, Jaxpr
from hlodiff.lowering import lower_jaxpr

ir = pytest.importorskip("iree.compiler.ir")
iree_compiler = pytest.importorskip("iree.compiler")
iree_runtime = pytest.importorskip("iree.runtime")

# f64 must not be demoted to f32 (IREE's default) for x64 programs.
COMPILE_FLAGS = ["--iree-llvmcpu-target-cpu=host", "--iree-input-demote-f64-to-f32=false"]


@dataclasses.dataclass
class Case:
    """One function to lower, run, and compare with eager evaluation.

    Attributes:
      name: the pytest id, e.g. `exp-f32[2,3]`.
      fn: the function (traced with `hd.make_jaxpr`, evaluated eagerly for the reference).
      args: example arguments (numpy arrays).
      rtol, atol: tolerances; 0 means exact (nan == nan).
      expected: a reference to use instead of the eager result (a list of arrays).
    """

    name: str
    fn: Callable
    args: tuple
    rtol: float = 0.0
    atol: float = 0.0
    expected: Any = None


def avals_str(*args) -> str:
    return ",".join(hd.core.get_aval(a).str_short() for a in args)


def parse_and_verify(text: str):
    """Parses `text` with the MLIR bindings and runs the verifier; returns the module."""
    with ir.Context():
        module = ir.Module.parse(text)
        assert module.operation.verify()
    return module


def compile_text(text: str) -> bytes:
    return iree_compiler.compile_str(text, target_backends=["llvm-cpu"],
                                     extra_args=COMPILE_FLAGS)


def load(vmfb: bytes):
    ctx = iree_runtime.SystemContext(config=iree_runtime.Config("local-sync"))
    ctx.add_vm_module(iree_runtime.VmModule.copy_buffer(ctx.instance, vmfb))
    return ctx.modules.module


def call(module, name: str, args) -> list[np.ndarray]:
    out = getattr(module, name)(*args)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o.to_host() if hasattr(o, "to_host") else o) for o in outs]


class Batch:
    """A table of cases compiled with as few IREE invocations as possible.

    IREE's compile time grows with the number of functions and dispatches, so the cases are
    merged into one function per chunk (all inputs in, all outputs out: one jaxpr whose
    equations are the cases' equations side by side), and the chunks' modules compile in
    parallel (`compile_str` runs `iree-compile` as a subprocess). A chunk that fails to lower,
    verify, compile or run is bisected, so the failure is reported by the case that causes it.
    """

    def __init__(self, cases: list[Case], chunks: int | None = None):
        self.cases = {c.name: c for c in cases}
        assert len(self.cases) == len(cases), "case names must be unique"
        self.errors: dict[str, str] = {}
        self.results: dict[str, list[np.ndarray]] = {}
        jaxprs = {}
        for c in cases:
            try:
                jaxprs[c.name] = hd.make_jaxpr(c.fn)(*c.args)
            except Exception as e:  # reported by the case's own test
                self.errors[c.name] = f"tracing failed: {type(e).__name__}: {e}"
        names = list(jaxprs)
        n = chunks or max(1, min(4, os.cpu_count() or 1))
        groups = [names[i::n] for i in range(n) if names[i::n]]
        with concurrent.futures.ThreadPoolExecutor(len(groups) or 1) as pool:
            list(pool.map(lambda g: self._run_group(g, jaxprs), groups))

    def _run_group(self, names, jaxprs):
        try:
            self._run_merged(names, jaxprs)
            return
        except Exception as e:
            if len(names) == 1:
                self.errors[names[0]] = f"{type(e).__name__}: {str(e)[:6000]}"
                return
        half = len(names) // 2  # bisect outside the except block: no chained tracebacks
        self._run_group(names[:half], jaxprs)
        self._run_group(names[half:], jaxprs)

    def _run_merged(self, names, jaxprs):
        merged = merge_jaxprs([jaxprs[n] for n in names])
        lowered = lower_jaxpr(merged)
        parse_and_verify(lowered.text)
        module = load(compile_text(lowered.text))
        args = list(lowered.const_args)
        for n in names:
            args += [np.asarray(a) for a in self.cases[n].args]
        outs = call(module, "main", args)
        for n in names:
            k = len(jaxprs[n].out_avals)
            self.results[n], outs = outs[:k], outs[k:]

    def run(self, name: str) -> list[np.ndarray]:
        if name in self.errors:
            pytest.fail(self.errors[name])
        return self.results[name]

    def check(self, name: str):
        case = self.cases[name]
        got = self.run(name)
        expected = case.expected
        if expected is None:
            expected = hd.tree_leaves(case.fn(*case.args))
        expected = [np.asarray(e) for e in expected]
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape, (g.shape, e.shape)
            assert g.dtype == e.dtype, (g.dtype, e.dtype)
            g, e = g.astype(_cmp_dtype(g.dtype)), e.astype(_cmp_dtype(e.dtype))
            if case.rtol or case.atol:
                np.testing.assert_allclose(g, e, rtol=case.rtol, atol=case.atol, equal_nan=True)
            else:
                np.testing.assert_array_equal(g, e)


def merge_jaxprs(closed: list[ClosedJaxpr]) -> ClosedJaxpr:
    """One jaxpr running `closed` side by side: inputs, outputs and consts concatenated."""
    jaxprs = [c.jaxpr for c in closed]
    merged = Jaxpr([v for j in jaxprs for v in j.constvars], [v for j in jaxprs for v in j.invars],
                   [v for j in jaxprs for v in j.outvars], [e for j in jaxprs for e in j.eqns])
    return ClosedJaxpr(merged, [c for cj in closed for c in cj.consts])


def _cmp_dtype(dtype):
    """bfloat16/float16 compare as float32 (assert_allclose needs numpy float types)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "V" or dtype.name == "bfloat16" or dtype == np.float16:
        return np.float32
    return dtype


def batch_fixture(cases: list[Case]):
    """A module-scoped fixture compiling `cases` once, and the parametrize ids."""

    @pytest.fixture(scope="module")
    def batch():
        return Batch(cases)

    return batch
