"""The lowering API: registry completeness, layering, constants, literals, sub-jaxprs, regions,
errors, and the emitter's types and constants (round-tripped through IREE)."""

from __future__ import annotations

import importlib
import pathlib
import pkgutil
import re

import ml_dtypes
import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff import core
from hlodiff.core import Primitive, ShapedArray
from hlodiff.ir import ClosedJaxpr, Jaxpr, JaxprEqn, Var
from hlodiff.lowering import (
    lower_jaxpr,
    lower_jaxprs,
    lower_sub_jaxpr,
    call_sub_jaxpr,
    register,
    registry,
)
from hlodiff.lowering.emitter import dense_attr, tensor_type

from tests.lowering.harness import call, compile_text, load, parse_and_verify

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
LOWERING_DIR = pathlib.Path(__file__).resolve().parents[2] / "lowering"


def run(lowered, *args):
    """Parses, compiles and runs a Lowered's main function (const_args first)."""
    parse_and_verify(lowered.text)
    module = load(compile_text(lowered.text))
    return call(module, lowered.name, list(lowered.const_args) + [np.asarray(a) for a in args])


# ---------------------------------------------------------------------------------------------
# Registry and layering


def test_every_primitive_has_a_lowering_rule():
    import hlodiff.prims

    for info in pkgutil.iter_modules(hlodiff.prims.__path__):  # every family, imported or not
        importlib.import_module(f"hlodiff.prims.{info.name}")
    missing = [f"{p.name} -> {registry.rule_file(p)}" for p in core.all_primitives()
               if not registry.has_rule(p)]
    assert not missing, "primitives without a StableHLO rule: " + ", ".join(missing)


def test_missing_rule_names_the_primitive_and_the_file():
    from hlodiff.prims import elementwise as ew

    saved = registry._rules.pop(ew.sin_p)
    try:
        closed = hd.make_jaxpr(lambda x: ew.sin(x))(np.ones(3, np.float32))
        with pytest.raises(NotImplementedError, match=r"'sin'.*lowering/rules/elementwise\.py"):
            lower_jaxpr(closed)
    finally:
        registry._rules[ew.sin_p] = saved


def test_lowering_imports_neither_runtime_nor_jax_nor_iree():
    bad = re.compile(r"^\s*(from|import)\s+(jax|jaxlib|iree|runtime|hlodiff\.runtime)\b|"
                     r"^\s*from\s+\.\.+runtime\b", re.M)
    offenders = [str(p) for p in LOWERING_DIR.rglob("*.py") if bad.search(p.read_text())]
    assert not offenders


def test_only_the_emitter_spells_tensor_types():
    offenders = [str(p) for p in LOWERING_DIR.rglob("*.py")
                 if p.name != "emitter.py" and "tensor<" in p.read_text()]
    assert not offenders


# ---------------------------------------------------------------------------------------------
# Emitter: types and constant formatting


@pytest.mark.parametrize("dtype, text", [
    (np.float32, "tensor<3x4xf32>"), (np.bool_, "tensor<3x4xi1>"), (np.uint32, "tensor<3x4xui32>"),
    (np.int8, "tensor<3x4xi8>"), (ml_dtypes.bfloat16, "tensor<3x4xbf16>"),
    (np.float16, "tensor<3x4xf16>"), (np.complex64, "tensor<3x4xcomplex<f32>>"),
    (np.complex128, "tensor<3x4xcomplex<f64>>"), (np.float64, "tensor<3x4xf64>"),
])
def test_tensor_type(dtype, text):
    assert tensor_type(ShapedArray((3, 4), dtype)) == text
    assert tensor_type((), dtype) == "tensor<" + text.split("x", 2)[-1]


def test_dense_attr_formats():
    assert dense_attr(np.zeros((3, 4), np.float32), np.float32) == "dense<0.0> : tensor<3x4xf32>"
    view = np.broadcast_to(np.float32(2.5), (1000, 1000))  # a view: checked without a copy
    assert dense_attr(view, np.float32) == "dense<2.5> : tensor<1000x1000xf32>"
    assert dense_attr(np.float32(np.nan), np.float32) == "dense<0x7FC00000> : tensor<f32>"
    assert dense_attr(np.float32(-np.inf), np.float32) == "dense<0xFF800000> : tensor<f32>"
    assert dense_attr(np.float32(-0.0), np.float32) == "dense<-0.0> : tensor<f32>"
    assert dense_attr(np.float32(1e20), np.float32) == "dense<1.0000000200408773e+20> : tensor<f32>"
    assert dense_attr(np.array([True, False]), np.bool_) == "dense<[true, false]> : tensor<2xi1>"
    assert dense_attr(np.array(1 + 2j, np.complex64), np.complex64) == \
        "dense<(1.0, 2.0)> : tensor<complex<f32>>"
    assert dense_attr(np.zeros((0, 3), np.int32), np.int32) == "dense<> : tensor<0x3xi32>"
    big = np.arange(40, dtype=np.int32)
    assert dense_attr(big, np.int32).startswith('dense<"0x000000000100000002000000')
    # the zero-sized float0 tangent dtype travels as i1 zeros
    assert dense_attr(np.zeros(3, hd.dtypes.float0), hd.dtypes.float0) == \
        "dense<false> : tensor<3xi1>"


_CONST_VALUES = [
    np.array([0.0, -0.0, 1.5, np.nan, np.inf, -np.inf, 1e-45, 3.4028235e38, 0.1], np.float32),
    np.linspace(-3, 3, 40).astype(np.float32),  # hex
    np.array([1.5, -0.0, np.nan, np.inf, 1e-40], ml_dtypes.bfloat16),
    np.array([65504, -0.0, np.nan, 6e-8], np.float16),
    np.array([1 + 2j, np.nan - 0j, -np.inf + 1e-30j], np.complex64),
    (np.arange(20) * (1 - 2j)).astype(np.complex64),  # hex
    np.array([True, False, True]),
    np.arange(30) % 3 == 0,  # hex bools: one byte each
    np.array([-2**31, 2**31 - 1, 0], np.int32),
    np.array([0, 255, 7], np.uint8),
    np.array([2**32 - 1, 2**31], np.uint32),
    np.array([-128, 127], np.int8),
    np.full((2, 3), 7, np.int16),  # splat
]


def test_constants_round_trip_bit_exactly():
    closed = hd.make_jaxpr(lambda: list(_CONST_VALUES))()
    lowered = lower_jaxpr(closed, const_args=None)
    assert not lowered.const_args
    outs = run(lowered)
    for got, want in zip(outs, _CONST_VALUES):
        assert got.dtype == want.dtype
        assert got.tobytes() == np.ascontiguousarray(want).tobytes()


# ---------------------------------------------------------------------------------------------
# Constants, literals, outputs


def test_large_closed_over_arrays_become_leading_parameters():
    big = np.arange(300_000, dtype=np.float32)  # 1.2 MB > 1 MiB
    small = np.arange(5, dtype=np.float32)
    zeros = np.zeros(400_000, np.float32)  # large but a splat: inlined as dense<0.0>

    def f(x):
        return hnp.sum(big) + hnp.sum(small * x) + hnp.sum(zeros), big[:3] * 2.0

    closed = hd.make_jaxpr(f)(np.ones(5, np.float32))
    lowered = lower_jaxpr(closed)
    assert len(lowered.const_args) == 1 and lowered.const_args[0] is not None
    assert np.array_equal(lowered.const_args[0], big)
    assert len(lowered.text) < 20_000
    assert [a.shape for a in lowered.in_avals] == [(5,)]
    assert "%c" in lowered.text.split("\n")[1]  # the first parameter is the constant
    got = run(lowered, np.ones(5, np.float32))
    want = [np.asarray(o) for o in f(np.ones(5, np.float32))]
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)  # a 300k-term sum, reordered
    np.testing.assert_array_equal(got[1], want[1])
    inlined = lower_jaxpr(closed, const_args=None)
    assert not inlined.const_args and len(inlined.text) > 1_000_000
    every = lower_jaxpr(closed, const_args=0)
    # big, small and big[:3] * 2.0 (numpy computes it while tracing); the splat stays inline
    assert len(every.const_args) == 3


def test_literals_passthrough_and_repeated_outputs():
    def f(x, y):
        return x, 3.0, x * 2, x * 2 + y, y

    x, y = np.float32(1.5), np.arange(3, dtype=np.int32)
    closed = hd.make_jaxpr(f)(x, y)
    got = run(lower_jaxpr(closed), x, y)
    want = [np.asarray(o) for o in f(x, y)]
    assert [g.dtype for g in got] == [a.dtype for a in closed.out_avals]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_several_functions_in_one_module():
    f = hd.make_jaxpr(lambda x: hnp.sin(x))(np.ones(2, np.float32))
    g = hd.make_jaxpr(lambda x, y: x @ y)(np.ones((2, 3), np.float32), np.ones((3,), np.float32))
    text, fns = lower_jaxprs({"f": f, "g": g})
    assert set(fns) == {"f", "g"} and fns["f"].text == text
    parse_and_verify(text)
    module = load(compile_text(text))
    np.testing.assert_allclose(call(module, "f", [np.zeros(2, np.float32)])[0], 0.0)
    got = call(module, "g", [np.ones((2, 3), np.float32), np.arange(3, dtype=np.float32)])
    np.testing.assert_array_equal(got[0], [3.0, 3.0])


def test_jit_and_custom_rules_are_inlined():
    @hd.custom_jvp
    def softplus(x):
        return hnp.log1p(hnp.exp(x))

    @softplus.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), t / (1 + hnp.exp(-x))

    @hd.custom_vjp
    def clip_grad(x):
        return x * 2.0

    clip_grad.defvjp(lambda x: (x * 2.0, None), lambda _, g: (hnp.clip(g, -1, 1),))
    inner = hd.jit(lambda x: hnp.tanh(x) + 1.0)

    def f(x):
        return inner(softplus(x)), clip_grad(x), hd.grad(lambda x: softplus(x).sum())(x)

    x = np.linspace(-2, 2, 5).astype(np.float32)
    closed = hd.make_jaxpr(f)(x)
    names = {e.primitive.name for e in closed.eqns}
    assert {"pjit", "custom_jvp_call", "custom_vjp_call"} <= names, names
    got = run(lower_jaxpr(closed), x)
    for g, w in zip(got, f(x)):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-6)


def test_rule_returning_a_wrong_aval_is_reported():
    from hlodiff.prims import elementwise as ew

    saved = registry._rules[ew.exp_p]
    registry._rules[ew.exp_p] = lambda ctx, x: ctx.b.constant(np.zeros(2, np.float32),
                                                              np.float32, (2,))
    try:
        closed = hd.make_jaxpr(lambda x: ew.exp(x))(np.ones(3, np.float32))
        with pytest.raises(TypeError, match="exp.*f32\\[2\\].*f32\\[3\\]"):
            lower_jaxpr(closed)
    finally:
        registry._rules[ew.exp_p] = saved


# ---------------------------------------------------------------------------------------------
# Sub-jaxprs: a stand-in `while` built the way control-flow rules will be


@pytest.fixture
def toy_while():
    """A while-loop primitive declared only for this test (removed again afterwards)."""
    p = Primitive("toy_while")
    p.multiple_results = True
    p.abstract_eval = lambda *avals, cond, body: list(avals)

    @register(p)
    def _toy_while_lower(ctx, *args, cond, body):
        b = ctx.b
        avals = [a.aval for a in args]
        with b.region(avals) as cond_block:
            (pred,) = lower_sub_jaxpr(ctx, cond, cond_block.args)
            b.ret([pred], op="stablehlo.return")
        with b.region(avals) as body_block:
            b.ret(call_sub_jaxpr(ctx, body, body_block.args, "toy_body"), op="stablehlo.return")
        return b.op("stablehlo.while", list(args), avals, regions=[cond_block, body_block])

    yield p
    registry._rules.pop(p)
    core._registry.remove(p)


def test_regions_with_sub_jaxprs_and_private_functions(toy_while):
    big = np.arange(300_000, dtype=np.float32)  # hoisted: used from inside the cond region
    cond = hd.make_jaxpr(lambda i, x: i < 5 + (hnp.sum(big) < 0))(np.int32(0), np.float32(0))
    body = hd.make_jaxpr(lambda i, x: (i + 1, x * 2.0 + 1.0))(np.int32(0), np.float32(0))
    i, x = Var(ShapedArray((), np.int32)), Var(ShapedArray((), np.float32))
    outs = [Var(ShapedArray((), np.int32)), Var(ShapedArray((), np.float32))]
    eqn = JaxprEqn(toy_while, [i, x], outs, dict(cond=cond, body=body))
    closed = ClosedJaxpr(Jaxpr([], [i, x], outs, [eqn]), [])
    lowered = lower_jaxpr(closed)
    assert "func.func private @toy_body" in lowered.text
    assert len(lowered.const_args) == 1
    got = run(lowered, np.int32(0), np.float32(1.0))
    assert got[0] == 5 and got[1] == 63.0  # x -> 2x + 1, five times from 1


def test_lowering_is_deterministic():
    f = lambda x: hnp.cumsum(hnp.sort(x) * 2.0) @ x  # noqa: E731
    closed = hd.make_jaxpr(f)(np.ones(4, np.float32))
    assert lower_jaxpr(closed).text == lower_jaxpr(closed).text

