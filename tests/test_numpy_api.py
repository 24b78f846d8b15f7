"""Tests for `hlodiff.numpy`: eager results against numpy, dtypes against JAX's promotion rules.

One table of op specs drives the elementwise checks: each case runs the hlodiff function
eagerly and compares values and shape with numpy (computed in double precision on the same
inputs) and the dtype with the promotion rule written below (`_promote`, JAX's lattice restricted
to bool < int32 < float16 < float32 < complex64). Tests named `*_jax` repeat a case's checks and
also compare dtype, weak_type and shape with `jax.numpy` traced abstractly (`jax.eval_shape`, no
compilation); they skip where JAX is not installed. Reductions, shape functions, creation, products
and predicates have their own tables in the same style, followed by hand-written cases for weak
types, error types and messages.
"""

from __future__ import annotations

import dataclasses
import warnings
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff.core import Array

# --------------------------------------------------------------------------------------------------
# Dtypes, inputs, tolerances

F16, F32, I32, BOOL, C64 = (
    np.dtype(t) for t in ("float16", "float32", "int32", "bool", "complex64")
)
ALL = (F32, I32, BOOL, C64)
REAL = (F32, I32, BOOL)
SHORT = {F16: "f16", F32: "f32", I32: "i32", BOOL: "bool", C64: "c64"}
SHAPES = ((), (3,), (2, 3), (2, 1, 4), (0, 3))
# Binary shape pairs: equal, rank-0 with ranked, trailing broadcast, both sides broadcast, empty.
SHAPE_PAIRS = (
    ((2, 3), (2, 3)),
    ((), (3,)),
    ((2, 3), (3,)),
    ((2, 1, 4), (3, 1)),
    ((0, 3), (1, 3)),
    ((3,), ()),
)
# The categories of the lattice among the dtypes used here: bool < int < float < complex.
_CATEGORY = {BOOL: 0, I32: 1, F16: 2, F32: 2, C64: 3}
_RANK = {BOOL: 0, I32: 1, F16: 2, F32: 3, C64: 4}
_WEAK_CATEGORY = {int: 1, float: 2, complex: 3}
_DEFAULT = {0: BOOL, 1: I32, 2: F32, 3: C64}
_WIDE = {
    BOOL: np.dtype(bool),
    I32: np.dtype(np.int64),
    F16: np.dtype(np.float64),
    F32: np.dtype(np.float64),
    C64: np.dtype(np.complex128),
}
_TOL = {F16: (1e-2, 1e-2), F32: (2e-5, 2e-6), C64: (2e-5, 2e-6)}


def _promote(*args) -> tuple[np.dtype, bool]:
    """JAX's result type of arrays (by dtype) and Python scalars (by type), restricted to the
    dtypes above: strong dtypes join along bool < i32 < f16 < f32 < c64; a weak Python scalar
    widens only the category (bool -> int -> float -> complex) and then stays weak, except that a
    weak complex joined with a strong float gives strong complex64. Python bools are strong."""
    strong = [
        np.dtype(bool) if a is bool else a for a in args if isinstance(a, np.dtype) or a is bool
    ]
    weak = [_WEAK_CATEGORY[a] for a in args if a in _WEAK_CATEGORY]
    top = max(strong, key=_RANK.get) if strong else None
    if not weak:
        return top, False
    w = max(weak)
    if top is None:
        return _DEFAULT[w], True
    if _CATEGORY[top] >= w:
        return top, False
    if w == 3 and _CATEGORY[top] == 2:
        return C64, False
    return _DEFAULT[w], True


def _dtype_of(x) -> Any:
    """A value's key for `_promote`: a dtype for arrays, the type for Python scalars."""
    return type(x) if type(x) in (bool, int, float, complex) else np.asarray(x).dtype


_DOMAINS = {
    # name: (int range, float range); complex draws both parts from the float range.
    "real": ((-4, 5), (-1.5, 1.5)),
    "positive": ((1, 6), (0.1, 2.0)),
    "unit": ((-1, 2), (-0.9, 0.9)),
    "ge1": ((1, 6), (1.1, 3.0)),
    "nonzero": ((1, 5), (0.5, 2.0)),  # random sign below
    "exponent": ((0, 4), (-2.0, 2.0)),
    "shift": ((0, 5), (0.0, 4.0)),
}
_SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.0, 3.0])


def make_input(shape, dtype, domain="real", seed=0) -> np.ndarray:
    """Deterministic test values of `shape` and `dtype` drawn from a named domain."""
    rng = np.random.default_rng(zlib.crc32(repr((shape, str(dtype), domain, seed)).encode()))
    if domain == "special":
        vals = rng.choice(_SPECIAL if dtype != I32 else _SPECIAL[3:], size=shape)
        if dtype == C64:
            vals = vals + 1j * rng.choice(_SPECIAL, size=shape)
        return np.asarray(vals if dtype != BOOL else vals > 0).astype(dtype)
    (ilo, ihi), (flo, fhi) = _DOMAINS[domain]
    if dtype == BOOL:
        return (
            np.ones(shape, bool)
            if domain in ("nonzero", "positive", "ge1")
            else (rng.random(shape) > 0.5)
        )
    if dtype == I32:
        out = rng.integers(ilo, ihi, shape)
    elif dtype == C64:
        out = rng.uniform(flo, fhi, shape) + 1j * rng.uniform(flo, fhi, shape)
    else:
        out = rng.uniform(flo, fhi, shape)
    if domain == "nonzero":
        out = out * rng.choice([-1, 1], shape)
    return np.asarray(out).astype(dtype)


def assert_values(actual, expected, dtype, tol=None):
    """Values and shape equal to `expected`, within a tolerance chosen by the result dtype."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if np.dtype(dtype) in _TOL:
        rtol, atol = tol or _TOL[np.dtype(dtype)]
        np.testing.assert_allclose(
            actual.astype(_WIDE[np.dtype(dtype)]), expected, rtol=rtol, atol=atol, equal_nan=True
        )
    else:
        np.testing.assert_array_equal(actual, expected.astype(actual.dtype))


def assert_array(x, dtype, shape=None, weak=None):
    assert isinstance(x, Array), type(x)
    assert x.dtype == np.dtype(dtype), (x.dtype, dtype)
    if shape is not None:
        assert x.shape == tuple(shape), (x.shape, shape)
    if weak is not None:
        assert x.weak_type == weak, (x.weak_type, weak)


def jax_numpy():
    """jax.numpy, configured like hlodiff's defaults (32-bit, CPU); skips without JAX."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_enable_x64", False)
    return jax.numpy


def jax_result(fn: Callable):
    """Shape, dtype and weak_type of `fn()` under JAX, traced abstractly (nothing compiles)."""
    import jax

    return jax.eval_shape(fn)


def assert_like_jax(ours, jax_fn: Callable):
    """`ours` (an Array or tuple of Arrays) has JAX's shapes, dtypes and weak types."""
    theirs = jax_result(jax_fn)
    ours_l = ours if isinstance(ours, (tuple, list)) else [ours]
    theirs_l = theirs if isinstance(theirs, (tuple, list)) else [theirs]
    assert len(ours_l) == len(theirs_l)
    for o, t in zip(ours_l, theirs_l):
        got = (o.shape, np.dtype(o.dtype), bool(o.weak_type))
        want = (tuple(t.shape), np.dtype(t.dtype), bool(t.weak_type))
        assert got == want, f"hlodiff {got} != jax {want}"


def jax_error_type(fn: Callable):
    try:
        jax_result(fn)
    except Exception as e:  # noqa: BLE001 -- we want JAX's error class, whatever it is
        return type(e)
    return None


def _canonical(dtype) -> np.dtype:
    """The dtype hlodiff gives where numpy gives a 64-bit one (x64 is off)."""
    return {np.dtype(np.float64): F32, np.dtype(np.int64): I32, np.dtype(np.complex128): C64}.get(
        np.dtype(dtype), np.dtype(dtype)
    )


def _numpy_or_error(fn, *args, **kwargs):
    """numpy's result, or the TypeError class where numpy rejects the dtype (bool arithmetic)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs)
        except TypeError:
            return TypeError


def _shape_id(shape) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


# --------------------------------------------------------------------------------------------------
# The elementwise table


@dataclasses.dataclass(frozen=True)
class Op:
    """An elementwise numpy function.

    promote: how inputs promote before computing: "same" (the lattice join), "inexact" (then
      bool/int -> float32), "numeric" (then bool -> int32).
    out: the result dtype from the computation dtype: None (same), "bool", "real" (complex ->
      float32).
    dtypes: the input dtypes (after the join) the function accepts; others raise `error`.
    domain: input values, per operand ("real", "positive", "unit", "nonzero", ...).
    jax: the jax.numpy name, or "" where jax.numpy has none.
    """

    name: str
    ref: Callable
    arity: int
    promote: str = "same"
    out: str | None = None
    dtypes: tuple = ALL
    domain: tuple = ("real", "real")
    error: type = TypeError
    tol: tuple | None = None
    jax: str | None = None
    wide_ref: bool = True

    @property
    def jax_name(self) -> str:
        return self.name if self.jax is None else self.jax

    def compute_dtype(self, dtype):
        if self.promote == "inexact" and _CATEGORY[dtype] < 2:
            return F32
        if self.promote == "numeric" and dtype == BOOL:
            return I32
        return dtype

    def out_dtype(self, dtype):
        dtype = self.compute_dtype(dtype)
        if self.out == "bool":
            return BOOL
        if self.out == "real" and dtype == C64:
            return F32
        return dtype


def U(name, ref, promote="same", out=None, dtypes=ALL, domain="real", **kw):
    return Op(name, ref, 1, promote, out, dtypes, (domain,), **kw)


def B(name, ref, promote="same", out=None, dtypes=ALL, domain=("real", "real"), **kw):
    return Op(name, ref, 2, promote, out, dtypes, domain, **kw)


def _np_round(x):
    return np.round(x) if x.dtype.kind in "fc" else x


def _np_rint(x):
    return np.round(x).astype(x.dtype) if x.dtype.kind in "iub" else np.rint(x)


def _logaddexp(x1, x2):
    """numpy's logaddexp, and for complex inputs the principal log of the sum of exps."""
    if np.iscomplexobj(x1):
        return np.log(np.exp(x1) + np.exp(x2))
    return np.logaddexp(x1, x2)


def _logaddexp2(x1, x2):
    if np.iscomplexobj(x1):
        return np.log2(2**x1 + 2**x2)
    return np.logaddexp2(x1, x2)


def _arctan2(x1, x2):
    """numpy's arctan2, and for complex inputs -i log((x2 + i x1) / sqrt(x1^2 + x2^2))."""
    if np.iscomplexobj(x1):
        return -1j * np.log((x2 + 1j * x1) / np.sqrt(x1 * x1 + x2 * x2))
    return np.arctan2(x1, x2)


def _scaled(factor):
    return lambda x: x * factor


UNARY = [
    U("abs", np.abs, out="real"),
    U("absolute", np.absolute, out="real"),
    U("fabs", np.fabs, "inexact", dtypes=REAL),
    U("negative", np.negative, dtypes=(F32, I32, C64)),
    U("positive", lambda x: x),
    U("sign", np.sign, dtypes=(F32, I32, C64)),
    U("square", np.square, "numeric"),
    U("sqrt", np.sqrt, "inexact", domain="positive"),
    U("cbrt", np.cbrt, "inexact", dtypes=REAL),
    U("exp", np.exp, "inexact"),
    U("exp2", np.exp2, "inexact"),
    U("expm1", np.expm1, "inexact"),
    U("log", np.log, "inexact", domain="positive"),
    U("log2", np.log2, "inexact", domain="positive"),
    U("log10", np.log10, "inexact", domain="positive"),
    U("log1p", np.log1p, "inexact", domain="positive"),
    U("sin", np.sin, "inexact"),
    U("cos", np.cos, "inexact"),
    U("tan", np.tan, "inexact"),
    U("arcsin", np.arcsin, "inexact", domain="unit"),
    U("arccos", np.arccos, "inexact", domain="unit"),
    U("arctan", np.arctan, "inexact"),
    U("sinh", np.sinh, "inexact"),
    U("cosh", np.cosh, "inexact"),
    U("tanh", np.tanh, "inexact"),
    U("arcsinh", np.arcsinh, "inexact"),
    U("arccosh", np.arccosh, "inexact", domain="ge1"),
    U("arctanh", np.arctanh, "inexact", domain="unit"),
    U("floor", np.floor, dtypes=REAL),
    U("ceil", np.ceil, dtypes=REAL),
    U("trunc", np.trunc, dtypes=REAL),
    U("fix", np.trunc, dtypes=REAL, jax=""),  # removed from jax.numpy in 0.10
    U("rint", _np_rint, "inexact"),
    U("round", _np_round, dtypes=(F32, I32, C64), error=ValueError),
    U("around", _np_round, dtypes=(F32, I32, C64), error=ValueError, jax="round"),
    U("real", np.real, out="real"),
    U("imag", np.imag, out="real"),
    U("conj", np.conj),
    U("conjugate", np.conjugate),
    U("angle", np.angle, "inexact", out="real"),
    U("reciprocal", np.reciprocal, "inexact", domain="nonzero"),
    U("deg2rad", _scaled(np.pi / 180), "inexact"),
    U("rad2deg", _scaled(180 / np.pi), "inexact"),
    U("degrees", _scaled(180 / np.pi), "inexact"),
    U("radians", _scaled(np.pi / 180), "inexact"),
    U("sinc", np.sinc, "inexact"),
    U("isnan", np.isnan, out="bool", domain="special"),
    U("isfinite", np.isfinite, out="bool", domain="special"),
    U("isinf", np.isinf, out="bool", domain="special"),
    U("isposinf", np.isposinf, out="bool", dtypes=REAL, domain="special", error=ValueError),
    U("isneginf", np.isneginf, out="bool", dtypes=REAL, domain="special", error=ValueError),
    U("signbit", np.signbit, out="bool", dtypes=REAL, domain="special", error=ValueError),
    U("logical_not", np.logical_not, out="bool"),
    U("invert", np.invert, dtypes=(I32, BOOL)),
    U("bitwise_not", np.bitwise_not, dtypes=(I32, BOOL)),
    U("nan_to_num", np.nan_to_num, domain="special", wide_ref=False),
]

BINARY = [
    B("add", np.add),
    B("multiply", np.multiply),
    B("subtract", np.subtract, dtypes=(F32, I32, C64)),
    B("divide", np.divide, "inexact", domain=("real", "nonzero")),
    B("true_divide", np.true_divide, "inexact", domain=("real", "nonzero")),
    B("floor_divide", np.floor_divide, "numeric", dtypes=REAL, domain=("real", "nonzero")),
    B("remainder", np.remainder, "numeric", dtypes=REAL, domain=("real", "nonzero")),
    B("mod", np.mod, "numeric", dtypes=REAL, domain=("real", "nonzero")),
    B("fmod", np.fmod, "numeric", dtypes=REAL, domain=("real", "nonzero")),
    B("power", np.power, "numeric", domain=("positive", "exponent")),
    B("float_power", np.float_power, "inexact", domain=("positive", "exponent")),
    B("maximum", np.maximum),
    B("minimum", np.minimum),
    B("fmax", np.fmax, domain=("special", "special")),
    B("fmin", np.fmin, domain=("special", "special")),
    B("arctan2", _arctan2, "inexact", domain=("positive", "positive")),
    B("hypot", np.hypot, "inexact", dtypes=REAL, error=ValueError),
    B("logaddexp", _logaddexp, "inexact"),
    B("logaddexp2", _logaddexp2, "inexact"),
    B("copysign", np.copysign, "inexact", dtypes=REAL, domain=("real", "special")),
    B("nextafter", np.nextafter, "inexact", dtypes=REAL, wide_ref=False),
    B("heaviside", np.heaviside, "inexact", dtypes=REAL, domain=("special", "real")),
    B("equal", np.equal, out="bool"),
    B("not_equal", np.not_equal, out="bool"),
    B("less", np.less, out="bool"),
    B("less_equal", np.less_equal, out="bool"),
    B("greater", np.greater, out="bool"),
    B("greater_equal", np.greater_equal, out="bool"),
    B("logical_and", np.logical_and, out="bool"),
    B("logical_or", np.logical_or, out="bool"),
    B("logical_xor", np.logical_xor, out="bool"),
    B("bitwise_and", np.bitwise_and, dtypes=(I32, BOOL)),
    B("bitwise_or", np.bitwise_or, dtypes=(I32, BOOL)),
    B("bitwise_xor", np.bitwise_xor, dtypes=(I32, BOOL)),
    B("left_shift", np.left_shift, "numeric", dtypes=(I32, BOOL), domain=("real", "shift")),
    B("right_shift", np.right_shift, "numeric", dtypes=(I32, BOOL), domain=("real", "shift")),
]


def _reference(op: Op, xs, compute_dtype):
    """numpy's result on the inputs converted to the computation dtype (widened to 64 bits)."""
    target = _WIDE[compute_dtype] if op.wide_ref else compute_dtype
    with np.errstate(all="ignore"):
        return op.ref(*[np.asarray(x).astype(target) for x in xs])


def _run_case(op: Op, xs, *, check_values=True):
    """Runs `op` on `xs`; checks the result, or the error for dtypes the op rejects."""
    joined, _ = _promote(*map(_dtype_of, xs))
    fn = getattr(hnp, op.name)
    if joined not in op.dtypes:
        with pytest.raises(op.error):
            fn(*xs)
        return None
    out = fn(*xs)
    shape = np.broadcast_shapes(*(np.shape(x) for x in xs))
    assert_array(out, op.out_dtype(joined), shape)
    if check_values:
        expected = _reference(op, xs, op.compute_dtype(joined))
        assert_values(out, expected, op.out_dtype(joined), op.tol)
    return out


def _check_jax(op: Op, xs, ours):
    jnp = jax_numpy()
    if not op.jax_name:  # jax.numpy dropped it (e.g. `fix`): the numpy checks stand alone
        return
    jfn = getattr(jnp, op.jax_name)
    if ours is None:
        assert jax_error_type(lambda: jfn(*xs)) is not None, "JAX accepts these inputs"
        return
    assert_like_jax(ours, lambda: jfn(*xs))


def _unary_cases():
    for op in UNARY:
        for dt in ALL:
            for shape in SHAPES:
                yield pytest.param(op, dt, shape, id=f"{op.name}-{SHORT[dt]}{_shape_id(shape)}")


def _binary_cases():
    for op in BINARY:
        for dt in ALL:
            for s1, s2 in SHAPE_PAIRS:
                yield pytest.param(
                    op,
                    (dt, dt),
                    (s1, s2),
                    id=f"{op.name}-{SHORT[dt]}{_shape_id(s1)}-{SHORT[dt]}{_shape_id(s2)}",
                )
        for d1, d2 in ((I32, F32), (BOOL, I32), (F32, C64), (BOOL, F32), (F32, I32)):
            yield pytest.param(
                op, (d1, d2), ((2, 3), (3,)), id=f"{op.name}-{SHORT[d1]}[2,3]-{SHORT[d2]}[3]"
            )


def _binary_inputs(op, dts, shapes):
    return [
        make_input(s, d, dom, seed=i) for i, (s, d, dom) in enumerate(zip(shapes, dts, op.domain))
    ]


@pytest.mark.parametrize("op,dtype,shape", list(_unary_cases()))
def test_unary(op, dtype, shape):
    _run_case(op, [make_input(shape, dtype, op.domain[0])])


@pytest.mark.parametrize("op,dtypes,shapes", list(_binary_cases()))
def test_binary(op, dtypes, shapes):
    _run_case(op, _binary_inputs(op, dtypes, shapes))


@pytest.mark.parametrize(
    "op,dtype,shape", [p for p in _unary_cases() if p.values[2] in ((), (2, 3))]
)
def test_unary_jax(op, dtype, shape):
    xs = [make_input(shape, dtype, op.domain[0])]
    _check_jax(op, xs, _run_case(op, xs))


@pytest.mark.parametrize(
    "op,dtypes,shapes", [p for p in _binary_cases() if p.values[2] in (((2, 3), (3,)), ((), (3,)))]
)
def test_binary_jax(op, dtypes, shapes):
    xs = _binary_inputs(op, dtypes, shapes)
    _check_jax(op, xs, _run_case(op, xs))


WEAK_PRESERVING = {
    "negative",
    "positive",
    "sign",
    "floor",
    "ceil",
    "trunc",
    "round",
    "conj",
    "real",
    "square",
    "sqrt",
    "exp",
    "sin",
    "tanh",
    "log1p",
    "deg2rad",
    "sinc",
}

# Python scalars: weakly typed, they join by category only (see `_promote`).
_SCALARS = (2.0, 3, True, 1.5 + 0.5j)


def _scalar_for(op, value, i):
    """A scalar from `value`'s type inside the op's domain for operand i."""
    domain = op.domain[i]
    if domain in ("nonzero", "positive", "ge1") and value is True:
        return True
    if domain == "ge1":
        return type(value)(2)
    if domain == "unit":
        return (
            type(value)(0.5)
            if isinstance(value, (float, complex))
            else (type(value)(1) if type(value) is bool else 0)
        )
    if domain == "shift":
        return type(value)(1) if not isinstance(value, complex) else value
    return value


def _unary_scalar_cases():
    for op in UNARY:
        for v in _SCALARS:
            yield pytest.param(op, v, id=f"{op.name}-{type(v).__name__}")


def _binary_scalar_cases():
    for op in BINARY:
        for dt in (F32, I32, BOOL):
            for v in (2, 2.5, True):
                yield pytest.param(
                    op, ("array", dt), v, id=f"{op.name}-{SHORT[dt]}[3]-{type(v).__name__}"
                )
                yield pytest.param(
                    op, v, ("array", dt), id=f"{op.name}-{type(v).__name__}-{SHORT[dt]}[3]"
                )
        yield pytest.param(op, 3, 2.5, id=f"{op.name}-int-float")


def _scalar_inputs(op, *args):
    out = []
    for i, a in enumerate(args):
        if isinstance(a, tuple):
            out.append(make_input((3,), a[1], op.domain[i], seed=i))
        else:
            out.append(_scalar_for(op, a, i))
    return out


@pytest.mark.parametrize("op,value", list(_unary_scalar_cases()))
def test_unary_python_scalar(op, value):
    xs = _scalar_inputs(op, value)
    out = _run_case(op, xs)
    if out is not None and type(value) is not bool and op.name in WEAK_PRESERVING:
        assert out.weak_type  # a Python number stays weak through value-preserving ops


@pytest.mark.parametrize("op,value", list(_unary_scalar_cases()))
def test_unary_python_scalar_jax(op, value):
    xs = _scalar_inputs(op, value)
    _check_jax(op, xs, _run_case(op, xs))


@pytest.mark.parametrize("op,x1,x2", list(_binary_scalar_cases()))
def test_binary_python_scalar(op, x1, x2):
    xs = _scalar_inputs(op, x1, x2)
    out = _run_case(op, xs)
    if out is not None and op.out is None and op.promote == "same":
        assert out.weak_type == _promote(*map(_dtype_of, xs))[1]


@pytest.mark.parametrize("op,x1,x2", list(_binary_scalar_cases()))
def test_binary_python_scalar_jax(op, x1, x2):
    xs = _scalar_inputs(op, x1, x2)
    _check_jax(op, xs, _run_case(op, xs))


# --------------------------------------------------------------------------------------------------
# Weak types and promotion, written out


PROMOTION = [
    # (id, expression over a numpy-like module `m`, dtype, weak)
    ("i32*float", lambda m: m.ones(3, m.int32) * 2.5, F32, True),
    ("f16+float", lambda m: m.ones(3, m.float16) + 1.0, F16, False),
    ("f16+int", lambda m: m.ones(3, m.float16) + 1, F16, False),
    ("f16+complex", lambda m: m.ones(3, m.float16) + 1j, C64, False),
    ("bool+int", lambda m: m.ones(3, m.bool_) + 1, I32, True),
    ("bool*bool", lambda m: m.ones(3, m.bool_) * True, BOOL, False),
    ("bool+float", lambda m: m.ones(3, m.bool_) + 1.5, F32, True),
    ("i32+int", lambda m: m.ones(3, m.int32) + 2, I32, False),
    ("i32+complex", lambda m: m.ones(3, m.int32) + 1j, C64, True),
    ("f32*int", lambda m: m.ones(3) * 2, F32, False),
    ("i32+f16", lambda m: m.ones(3, m.int32) + m.ones(3, m.float16), F16, False),
    ("f16+f32", lambda m: m.ones(3, m.float16) + m.ones(3, m.float32), F32, False),
    ("int+float", lambda m: m.add(1, 2.0), F32, True),
    ("asarray-float", lambda m: m.asarray(2.0), F32, True),
    ("asarray-int", lambda m: m.asarray(2), I32, True),
    ("asarray-bool", lambda m: m.asarray(True), BOOL, False),
    ("array-list", lambda m: m.array([1, 2.5]), F32, False),
    ("array-weak+f16", lambda m: m.asarray(2.0) + m.ones(2, m.float16), F16, False),
    ("weak*weak", lambda m: m.asarray(2.0) * m.asarray(3), F32, True),
    ("weak-sin", lambda m: m.sin(m.asarray(2.0)), F32, True),
    ("weak-astype", lambda m: m.asarray(2.0).astype(m.float32), F32, False),
    ("where-weak", lambda m: m.where(True, 1.0, 2.0), F32, True),
    ("where-mixed", lambda m: m.where(m.ones(2, m.bool_), m.ones(2, m.int32), 2.5), F32, True),
    ("clip-int-float", lambda m: m.clip(m.ones(3, m.int32), 1.5, 3), F32, True),
    ("clip-int-int", lambda m: m.clip(m.ones(3, m.int32), 1, 3), I32, False),
    ("lt-weak", lambda m: m.less(1, 2.0), BOOL, True),
    ("lt-strong", lambda m: m.ones(3) < 2.0, BOOL, False),
    ("isnan-weak", lambda m: m.isnan(2.0), BOOL, True),
    ("sum-weak", lambda m: m.sum(3.0), F32, False),
    ("mean-weak-int", lambda m: m.mean(3), F32, False),
    ("dot-weak", lambda m: m.dot(2.0, 3.0), F32, True),
    ("full-weak", lambda m: m.full(3, 2.0), F32, True),
    ("full-int", lambda m: m.full(3, 2), I32, True),
    ("full-dtype", lambda m: m.full(3, 2.0, m.int32), I32, False),
    ("zeros_like-weak", lambda m: m.zeros_like(2.0), F32, True),
    ("ones_like-int", lambda m: m.ones_like(3), I32, True),
    ("zeros_like-bool", lambda m: m.zeros_like(True), BOOL, False),
    ("reshape-weak", lambda m: m.reshape(m.asarray(2.0), (1,)), F32, True),
    ("expand-weak", lambda m: m.expand_dims(m.asarray(2.0), 0), F32, True),
    ("arange-int", lambda m: m.arange(3), I32, False),
    ("arange-float", lambda m: m.arange(0.0, 1.0, 0.25), F32, False),
    ("linspace", lambda m: m.linspace(0, 1, 3), F32, False),
    ("eye", lambda m: m.eye(2), F32, False),
    ("pow-bool-int", lambda m: m.power(m.ones(3, m.bool_), 2), I32, False),
    ("square-bool", lambda m: m.square(m.ones(3, m.bool_)), I32, False),
    ("c64-abs", lambda m: m.abs(m.ones(3, m.complex64)), F32, False),
    ("f16-mean", lambda m: m.mean(m.ones(3, m.float16)), F16, False),
    ("f16-sum", lambda m: m.sum(m.ones(3, m.float16)), F16, False),
]


@pytest.mark.parametrize(
    "expr,dtype,weak", [p[1:] for p in PROMOTION], ids=[p[0] for p in PROMOTION]
)
def test_promotion(expr, dtype, weak):
    out = expr(hnp)
    assert_array(out, dtype, weak=weak)


@pytest.mark.parametrize(
    "expr,dtype,weak", [p[1:] for p in PROMOTION], ids=[p[0] for p in PROMOTION]
)
def test_promotion_jax(expr, dtype, weak):
    out = expr(hnp)
    assert_array(out, dtype, weak=weak)
    jnp = jax_numpy()
    assert_like_jax(out, lambda: expr(jnp))


def test_weak_results_print_like_jax():
    assert repr(hnp.ones(3, hnp.int32) * 2.5) == (
        "Array([2.5, 2.5, 2.5], dtype=float32, weak_type=True)"
    )
    assert repr(hnp.less(1, 2.0)) == "Array(True, dtype=bool, weak_type=True)"


# --------------------------------------------------------------------------------------------------
# Errors: broadcasting, non-array arguments, axes


@pytest.mark.parametrize("s1,s2", [((3,), (4,)), ((2, 3), (4,)), ((2, 1, 4), (3, 5))])
@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "where", "logaddexp", "equal"])
def test_incompatible_broadcast_raises_value_error(name, s1, s2):
    x, y = np.ones(s1, np.float32), np.ones(s2, np.float32)
    args = (np.ones(s1, bool), x, y) if name == "where" else (x, y)
    with pytest.raises(ValueError, match="Incompatible shapes for broadcasting"):
        getattr(hnp, name)(*args)


def test_broadcast_to_errors():
    with pytest.raises(ValueError, match="Incompatible shapes for broadcasting"):
        hnp.broadcast_to(np.ones(3), (4,))
    with pytest.raises(ValueError):
        hnp.broadcast_to(np.ones((2, 3)), (3,))
    with pytest.raises(ValueError, match="Incompatible shapes for broadcasting"):
        hnp.broadcast_arrays(np.ones(3), np.ones(4))


NON_ARRAYS = [
    pytest.param("abc", "str", id="str"),
    pytest.param(object(), "object", id="object"),
    pytest.param({1: 2}, "dict", id="dict"),
]
NON_ARRAY_CALLS = [
    ("sin", lambda f, x: f(x)),
    ("exp", lambda f, x: f(x)),
    ("abs", lambda f, x: f(x)),
    ("isnan", lambda f, x: f(x)),
    ("add", lambda f, x: f(x, 1.0)),
    ("multiply", lambda f, x: f(1.0, x)),
    ("power", lambda f, x: f(x, 2)),
    ("maximum", lambda f, x: f(x, 1)),
    ("equal", lambda f, x: f(x, 1)),
    ("sum", lambda f, x: f(x)),
    ("mean", lambda f, x: f(x)),
    ("max", lambda f, x: f(x)),
    ("argmax", lambda f, x: f(x)),
    ("cumsum", lambda f, x: f(x)),
    ("all", lambda f, x: f(x)),
    ("reshape", lambda f, x: f(x, (1,))),
    ("transpose", lambda f, x: f(x)),
    ("expand_dims", lambda f, x: f(x, 0)),
    ("ravel", lambda f, x: f(x)),
    ("concatenate", lambda f, x: f([x, x])),
    ("stack", lambda f, x: f([x, x])),
    ("where", lambda f, x: f(True, x, 1.0)),
    ("dot", lambda f, x: f(x, 1.0)),
    ("matmul", lambda f, x: f(x, np.ones(2))),
    ("einsum", lambda f, x: f("i->", x)),
    ("outer", lambda f, x: f(x, np.ones(2))),
    ("zeros_like", lambda f, x: f(x)),
    ("full", lambda f, x: f(3, x)),
    ("clip", lambda f, x: f(x, 0, 1)),
    ("allclose", lambda f, x: f(x, 1.0)),
    ("isclose", lambda f, x: f(x, 1.0)),
    ("tile", lambda f, x: f(x, 2)),
    ("flip", lambda f, x: f(x)),
    ("squeeze", lambda f, x: f(x)),
    ("tril", lambda f, x: f(x)),
    ("trace", lambda f, x: f(x)),
    ("diff", lambda f, x: f(x)),
    ("logaddexp", lambda f, x: f(x, 1.0)),
    ("var", lambda f, x: f(x)),
]


@pytest.mark.parametrize("value,type_name", NON_ARRAYS)
@pytest.mark.parametrize("name,call", NON_ARRAY_CALLS, ids=[c[0] for c in NON_ARRAY_CALLS])
def test_non_array_argument_raises_type_error(name, call, value, type_name):
    """The message names the function and the offending type, like JAX's."""
    with pytest.raises(TypeError, match=name) as info:
        call(getattr(hnp, name), value)
    assert type_name in str(info.value)


@pytest.mark.parametrize("name", ["sin", "add", "sum", "reshape", "matmul"])
def test_lists_are_not_arrays(name):
    """jax.numpy functions reject lists (only array constructors take them)."""
    fn = getattr(hnp, name)
    args = {
        "sin": ([1.0, 2.0],),
        "add": ([1.0], 1.0),
        "sum": ([1, 2],),
        "reshape": ([1, 2], (2,)),
        "matmul": ([1.0], np.ones(1)),
    }[name]
    with pytest.raises(TypeError, match=name):
        fn(*args)


AXIS_ERRORS = [
    ("sum", lambda x: hnp.sum(x, axis=2)),
    ("sum-neg", lambda x: hnp.sum(x, axis=-3)),
    ("sum-dup", lambda x: hnp.sum(x, axis=(0, -2))),
    ("max", lambda x: hnp.max(x, axis=5)),
    ("mean", lambda x: hnp.mean(x, axis=(0, 2))),
    ("var", lambda x: hnp.var(x, axis=2)),
    ("all", lambda x: hnp.all(x, axis=2)),
    ("cumsum", lambda x: hnp.cumsum(x, axis=2)),
    ("argmax", lambda x: hnp.argmax(x, axis=2)),
    ("expand_dims", lambda x: hnp.expand_dims(x, 4)),
    ("squeeze-size", lambda x: hnp.squeeze(x, 1)),
    ("moveaxis", lambda x: hnp.moveaxis(x, 2, 0)),
    ("swapaxes", lambda x: hnp.swapaxes(x, 0, 2)),
    ("flip", lambda x: hnp.flip(x, 2)),
    ("concatenate", lambda x: hnp.concatenate([x, x], axis=2)),
    ("stack", lambda x: hnp.stack([x, x], axis=3)),
    ("split", lambda x: hnp.split(x, 2, axis=2)),
    ("transpose-perm", lambda x: hnp.transpose(x, (0, 0))),
    ("transpose-len", lambda x: hnp.transpose(x, (0,))),
    ("roll", lambda x: hnp.roll(x, 1, 2)),
]


@pytest.mark.parametrize("call", [c[1] for c in AXIS_ERRORS], ids=[c[0] for c in AXIS_ERRORS])
def test_axis_errors(call):
    with pytest.raises(ValueError):
        call(np.ones((2, 3), np.float32))


def test_misc_errors():
    with pytest.raises(ValueError, match="zero-size array"):
        hnp.max(np.ones((0, 3)))
    with pytest.raises(ValueError, match="empty"):
        hnp.argmax(np.ones((0, 3)))
    with pytest.raises(ValueError, match="reshape"):
        hnp.reshape(np.ones(6), (4,))
    with pytest.raises(ValueError, match="Zero-dimensional"):
        hnp.concatenate([np.float32(1), np.float32(2)])
    with pytest.raises(ValueError, match="same shape"):
        hnp.stack([np.ones(3), np.ones(4)])
    with pytest.raises(ValueError, match="equal division"):
        hnp.split(np.ones(5), 2)
    with pytest.raises(ValueError, match="ndim"):
        hnp.matmul(np.ones(3), 2.0)
    with pytest.raises(TypeError):
        hnp.matmul(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(TypeError):
        hnp.dot(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError):
        hnp.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError):
        hnp.where(True, 1.0)
    with pytest.raises(TypeError, match="negative"):
        hnp.power(np.ones(2, np.int32), -1)


# --------------------------------------------------------------------------------------------------
# Reductions


@dataclasses.dataclass(frozen=True)
class Red:
    """A reduction. out: "numeric" (bool -> int32), "inexact" (ints -> float32), "real_inexact"
    (and complex -> float32), "same", "bool", "index" (int32)."""

    name: str
    ref: Callable
    out: str
    dtypes: tuple = ALL
    keepdims: bool = True
    empty_ok: bool = True
    domain: str = "real"
    cumulative: bool = False

    def out_dtype(self, dtype):
        if self.out == "bool":
            return BOOL
        if self.out == "index":
            return I32
        if self.out == "numeric" and dtype == BOOL:
            return I32
        if self.out in ("inexact", "real_inexact") and _CATEGORY[dtype] < 2:
            return F32
        if self.out == "real_inexact" and dtype == C64:
            return F32
        return dtype


REDUCTIONS = [
    Red("sum", np.sum, "numeric"),
    Red("prod", np.prod, "numeric", domain="unit"),
    Red("mean", np.mean, "inexact"),
    Red("var", np.var, "real_inexact"),
    Red("std", np.std, "real_inexact"),
    Red("max", np.max, "same", REAL, empty_ok=False),
    Red("min", np.min, "same", REAL, empty_ok=False),
    Red("ptp", np.ptp, "same", (F32, I32), empty_ok=False),
    Red("argmax", np.argmax, "index", REAL, empty_ok=False),
    Red("argmin", np.argmin, "index", REAL, empty_ok=False),
    Red("all", np.all, "bool"),
    Red("any", np.any, "bool"),
    Red("count_nonzero", np.count_nonzero, "index", keepdims=True),
    Red("nansum", np.nansum, "numeric", (F32, I32, C64), domain="special"),
    Red("nanprod", np.nanprod, "numeric", (F32, I32), domain="special"),
    Red("nanmean", np.nanmean, "inexact", (F32, I32), domain="special"),
    Red("nanmax", np.nanmax, "same", (F32, I32), empty_ok=False, domain="special"),
    Red("nanmin", np.nanmin, "same", (F32, I32), empty_ok=False, domain="special"),
    Red("nanvar", np.nanvar, "real_inexact", (F32,), domain="special"),
    Red("nanstd", np.nanstd, "real_inexact", (F32,), domain="special"),
    Red("cumsum", np.cumsum, "numeric", cumulative=True),
    Red("cumprod", np.cumprod, "numeric", cumulative=True, domain="unit"),
    Red("nancumsum", np.nancumsum, "numeric", (F32, I32), cumulative=True, domain="special"),
]


def _axes_for(shape, cumulative):
    """Axis arguments valid for `shape`: None, first, last (negative), and a pair."""
    if not shape:
        return [None]
    out = [None, 0, -1]
    if len(shape) >= 2 and not cumulative:
        out.append((0, -1))
    if len(shape) == 3 and not cumulative:
        out.append((2, 0, 1))
    return out


def _reduction_cases():
    for red in REDUCTIONS:
        for dt in red.dtypes:
            for shape in SHAPES:
                for axis in _axes_for(shape, red.cumulative):
                    for keepdims in (
                        (False, True) if red.keepdims and not red.cumulative else (False,)
                    ):
                        if red.name.startswith("arg") and isinstance(axis, tuple):
                            continue
                        yield pytest.param(
                            red,
                            dt,
                            shape,
                            axis,
                            keepdims,
                            id=f"{red.name}-{SHORT[dt]}{_shape_id(shape)}-"
                            f"axis={axis}{'-keepdims' if keepdims else ''}",
                        )


def _reduce_kwargs(red, axis, keepdims):
    kw = {"axis": axis}
    if keepdims:
        kw["keepdims"] = True
    return kw


def _empty_reduction(red, shape, axis):
    axes = range(len(shape)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    return any(shape[a] == 0 for a in axes) or (axis is None and 0 in shape)


@pytest.mark.parametrize("red,dtype,shape,axis,keepdims", list(_reduction_cases()))
def test_reduction(red, dtype, shape, axis, keepdims):
    x = make_input(shape, dtype, red.domain)
    kw = _reduce_kwargs(red, axis, keepdims)
    fn = getattr(hnp, red.name)
    if not red.empty_ok and _empty_reduction(red, shape, axis):
        with pytest.raises(ValueError):
            fn(x, **kw)
        return
    out = fn(x, **kw)
    wide = x.astype(_WIDE[dtype]) if dtype != BOOL or red.out == "bool" else x.astype(np.int64)
    expected = np.asarray(_numpy_or_error(red.ref, wide, **kw))
    assert_array(out, red.out_dtype(dtype), expected.shape, weak=False)
    assert_values(out, expected, red.out_dtype(dtype), (1e-4, 1e-5))


@pytest.mark.parametrize(
    "red,dtype,shape,axis,keepdims", [p for p in _reduction_cases() if p.values[2] in ((2, 3), ())]
)
def test_reduction_jax(red, dtype, shape, axis, keepdims):
    x = make_input(shape, dtype, red.domain)
    kw = _reduce_kwargs(red, axis, keepdims)
    out = getattr(hnp, red.name)(x, **kw)
    assert out.dtype == red.out_dtype(dtype)
    jnp = jax_numpy()
    assert_like_jax(out, lambda: getattr(jnp, red.name)(x, **kw))


@pytest.mark.parametrize("name", ["sum", "prod", "mean", "max", "min", "cumsum", "var", "all"])
def test_reduction_of_python_scalar(name):
    out = getattr(hnp, name)(3.0)
    assert not out.weak_type
    assert out.shape == (() if name != "cumsum" else (1,))


def test_reduction_dtype_argument_and_rules():
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert_array(hnp.sum(x, dtype=hnp.float32), F32, ())
    assert_array(hnp.cumsum(x, axis=1, dtype=hnp.float32), F32, (2, 3))
    assert_array(hnp.mean(x, dtype=hnp.float16), F16, ())
    assert_array(hnp.sum(np.ones(3, np.uint8)), np.dtype(np.uint32), ())
    assert_array(hnp.sum(np.ones(3, np.int8)), I32, ())
    assert_array(hnp.cumsum(np.ones(3, np.uint8)), np.dtype(np.uint8), (3,))
    assert_array(hnp.cumsum(np.ones(3, bool)), I32, (3,))
    assert_array(hnp.sum(np.ones(3, np.float16)), F16, ())
    np.testing.assert_array_equal(hnp.cumsum(x), np.cumsum(x))
    np.testing.assert_allclose(hnp.var(np.arange(4.0), ddof=1), np.var(np.arange(4.0), ddof=1))
    np.testing.assert_allclose(
        hnp.std(np.arange(4.0), ddof=1), np.std(np.arange(4.0), ddof=1), rtol=1e-6
    )
    np.testing.assert_allclose(hnp.sum(x, axis=1, initial=10), np.sum(x, axis=1, initial=10))
    np.testing.assert_allclose(hnp.max(x, axis=0, initial=4), np.max(x, axis=0, initial=4))
    where = np.array([[True, False, True], [False, True, True]])
    np.testing.assert_allclose(hnp.sum(x, where=where), np.sum(x, where=where))
    np.testing.assert_allclose(hnp.mean(x, axis=1, where=where), np.mean(x, axis=1, where=where))
    np.testing.assert_allclose(hnp.prod(np.ones((0, 3)), axis=0), np.ones(3))
    assert bool(hnp.all(np.ones((0, 3)))) and not bool(hnp.any(np.ones((0, 3))))
    assert np.isnan(np.asarray(hnp.mean(np.ones((0, 3)), axis=0))).all()
    np.testing.assert_allclose(
        hnp.average(x, axis=1, weights=np.array([1.0, 2.0, 3.0])),
        np.average(x, axis=1, weights=[1.0, 2.0, 3.0]),
        rtol=1e-6,
    )


def test_reductions_of_nan_and_complex():
    x = np.array([1.0, np.nan, 3.0], np.float32)
    assert np.isnan(float(hnp.max(x))) and np.isnan(float(hnp.sum(x)))
    assert int(hnp.argmax(x)) == 1 and int(hnp.argmin(x)) == 1  # NaN wins, like JAX and numpy
    assert float(hnp.nanmax(x)) == 3.0 and int(hnp.nanargmax(x)) == 2
    z = np.array([1 + 2j, 3 - 1j], np.complex64)
    assert_values(hnp.var(z), np.var(z.astype(np.complex128)), F32)
    assert_values(hnp.mean(z), np.mean(z.astype(np.complex128)), C64)
    assert_values(hnp.cumprod(z), np.cumprod(z.astype(np.complex128)), C64)


# --------------------------------------------------------------------------------------------------
# Shape functions


def _x(shape, dtype=F32):
    return make_input(shape, dtype, "real")


# (id, function of a numpy-like module `m` and the input x, input shape)
SHAPE_OPS = [
    ("reshape", lambda m, x: m.reshape(x, (3, 2)), (2, 3)),
    ("reshape-neg1", lambda m, x: m.reshape(x, (-1,)), (2, 3)),
    ("reshape-neg1-2d", lambda m, x: m.reshape(x, (2, -1, 2)), (2, 1, 4)),
    ("reshape-int", lambda m, x: m.reshape(x, 6), (2, 3)),
    ("reshape-scalar", lambda m, x: m.reshape(x, (1, 1)), ()),
    ("reshape-empty", lambda m, x: m.reshape(x, (3, 0)), (0, 3)),
    ("reshape-method", lambda m, x: m.asarray(x).reshape(3, 2), (2, 3)),
    ("ravel", lambda m, x: m.ravel(x), (2, 1, 4)),
    ("ravel-scalar", lambda m, x: m.ravel(x), ()),
    ("transpose", lambda m, x: m.transpose(x), (2, 1, 4)),
    ("transpose-axes", lambda m, x: m.transpose(x, (1, 2, 0)), (2, 1, 4)),
    ("transpose-neg", lambda m, x: m.transpose(x, (-1, 0, 1)), (2, 1, 4)),
    ("T", lambda m, x: m.asarray(x).T, (2, 3)),
    ("swapaxes", lambda m, x: m.swapaxes(x, 0, -1), (2, 1, 4)),
    ("moveaxis", lambda m, x: m.moveaxis(x, 0, -1), (2, 1, 4)),
    ("moveaxis-multi", lambda m, x: m.moveaxis(x, (0, 1), (2, 0)), (2, 1, 4)),
    ("expand_dims", lambda m, x: m.expand_dims(x, 0), (2, 3)),
    ("expand_dims-neg", lambda m, x: m.expand_dims(x, -1), (2, 3)),
    ("expand_dims-tuple", lambda m, x: m.expand_dims(x, (0, 3)), (2, 3)),
    ("expand_dims-scalar", lambda m, x: m.expand_dims(x, 0), ()),
    ("squeeze", lambda m, x: m.squeeze(x), (2, 1, 4)),
    ("squeeze-axis", lambda m, x: m.squeeze(x, 1), (2, 1, 4)),
    ("squeeze-neg", lambda m, x: m.squeeze(x, -2), (2, 1, 4)),
    ("broadcast_to", lambda m, x: m.broadcast_to(x, (4, 2, 3)), (2, 3)),
    ("broadcast_to-ones", lambda m, x: m.broadcast_to(x, (2, 5, 4)), (2, 1, 4)),
    ("broadcast_to-scalar", lambda m, x: m.broadcast_to(x, (3,)), ()),
    (
        "broadcast_arrays",
        lambda m, x: m.broadcast_arrays(x, m.ones((3, 1, 1, 1), x.dtype)),
        (2, 1, 4),
    ),
    ("stack", lambda m, x: m.stack([x, x, x]), (2, 3)),
    ("stack-axis", lambda m, x: m.stack([x, x], axis=1), (2, 3)),
    ("stack-neg", lambda m, x: m.stack([x, x], axis=-1), (2, 3)),
    ("stack-scalars", lambda m, x: m.stack([x, x]), ()),
    ("vstack", lambda m, x: m.vstack([x, x]), (2, 3)),
    ("vstack-1d", lambda m, x: m.vstack([x, x]), (3,)),
    ("hstack", lambda m, x: m.hstack([x, x]), (2, 3)),
    ("hstack-1d", lambda m, x: m.hstack([x, x]), (3,)),
    ("hstack-scalar", lambda m, x: m.hstack([x, x]), ()),
    ("dstack", lambda m, x: m.dstack([x, x]), (2, 3)),
    ("column_stack", lambda m, x: m.column_stack([x, x]), (3,)),
    ("concatenate", lambda m, x: m.concatenate([x, x]), (2, 3)),
    ("concatenate-axis1", lambda m, x: m.concatenate([x, x, x], axis=1), (2, 3)),
    ("concatenate-neg", lambda m, x: m.concatenate([x, x], axis=-1), (2, 1, 4)),
    ("concatenate-none", lambda m, x: m.concatenate([x, x], axis=None), (2, 3)),
    ("concatenate-empty", lambda m, x: m.concatenate([x, x]), (0, 3)),
    ("append", lambda m, x: m.append(x, x), (2, 3)),
    ("append-axis", lambda m, x: m.append(x, x, axis=1), (2, 3)),
    ("split", lambda m, x: m.split(x, 3, axis=1), (2, 3)),
    ("split-indices", lambda m, x: m.split(x, [1, 3], axis=-1), (2, 1, 4)),
    ("split-first", lambda m, x: m.split(x, 2), (2, 3)),
    ("array_split", lambda m, x: m.array_split(x, 2, axis=1), (2, 3)),
    ("hsplit", lambda m, x: m.hsplit(x, 3), (2, 3)),
    ("vsplit", lambda m, x: m.vsplit(x, 2), (2, 3)),
    ("tile", lambda m, x: m.tile(x, 2), (2, 3)),
    ("tile-tuple", lambda m, x: m.tile(x, (2, 1, 2)), (2, 3)),
    ("tile-scalar", lambda m, x: m.tile(x, 3), ()),
    ("repeat", lambda m, x: m.repeat(x, 2), (2, 3)),
    ("repeat-axis", lambda m, x: m.repeat(x, 2, axis=1), (2, 3)),
    ("repeat-counts", lambda m, x: m.repeat(x, np.array([1, 0, 2]), axis=1), (2, 3)),
    ("repeat-scalar", lambda m, x: m.repeat(x, 3), ()),
    ("flip", lambda m, x: m.flip(x), (2, 3)),
    ("flip-axis", lambda m, x: m.flip(x, 1), (2, 3)),
    ("flip-tuple", lambda m, x: m.flip(x, (0, -1)), (2, 1, 4)),
    ("fliplr", lambda m, x: m.fliplr(x), (2, 3)),
    ("flipud", lambda m, x: m.flipud(x), (2, 3)),
    ("rot90", lambda m, x: m.rot90(x), (2, 3)),
    ("rot90-k3", lambda m, x: m.rot90(x, 3), (2, 3)),
    ("roll", lambda m, x: m.roll(x, 2), (2, 3)),
    ("roll-axis", lambda m, x: m.roll(x, -1, axis=1), (2, 3)),
    ("roll-tuple", lambda m, x: m.roll(x, (1, 2), axis=(0, 2)), (2, 1, 4)),
    ("roll-big", lambda m, x: m.roll(x, 7, axis=0), (3,)),
    ("roll-empty", lambda m, x: m.roll(x, 1), (0, 3)),
    ("atleast_1d", lambda m, x: m.atleast_1d(x), ()),
    ("atleast_2d", lambda m, x: m.atleast_2d(x), (3,)),
    ("atleast_3d", lambda m, x: m.atleast_3d(x), (2, 3)),
    ("pad", lambda m, x: m.pad(x, 1), (2, 3)),
    ("pad-pairs", lambda m, x: m.pad(x, ((1, 0), (0, 2))), (2, 3)),
    ("pad-edge", lambda m, x: m.pad(x, 2, mode="edge"), (3,)),
    ("pad-reflect", lambda m, x: m.pad(x, 2, mode="reflect"), (3,)),
    ("where", lambda m, x: m.where(x > 0, x, x * 2), (2, 3)),
    ("where-broadcast", lambda m, x: m.where(m.asarray(x) > 0, x, m.zeros(3, x.dtype)), (2, 3)),
    ("where-scalar-cond", lambda m, x: m.where(True, x, 0), (2, 3)),
    ("diff", lambda m, x: m.diff(x), (2, 3)),
    ("diff-axis0", lambda m, x: m.diff(x, axis=0), (2, 3)),
    ("diff-n2", lambda m, x: m.diff(x, n=2), (2, 1, 4)),
    ("diff-prepend", lambda m, x: m.diff(x, prepend=x[:1], axis=0), (2, 3)),
    ("ediff1d", lambda m, x: m.ediff1d(x), (2, 3)),
    ("permute_dims", lambda m, x: m.permute_dims(x, (2, 0, 1)), (2, 1, 4)),
    ("matrix_transpose", lambda m, x: m.matrix_transpose(x), (2, 1, 4)),
]


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("dtype", [F32, I32, BOOL, C64], ids=lambda d: SHORT[d])
@pytest.mark.parametrize("fn,shape", [p[1:] for p in SHAPE_OPS], ids=[p[0] for p in SHAPE_OPS])
def test_shape_op(fn, shape, dtype):
    x = _x(shape, dtype)
    expected = _numpy_or_error(fn, np, x)
    if expected is TypeError:  # e.g. ediff1d of bools: subtraction of booleans
        with pytest.raises(TypeError):
            fn(hnp, x)
        return
    ours, expected = _as_list(fn(hnp, x)), _as_list(expected)
    assert len(ours) == len(expected)
    for o, e in zip(ours, expected):
        assert_array(o, _canonical(e.dtype), e.shape)
        np.testing.assert_array_equal(np.asarray(o), e.astype(o.dtype))


@pytest.mark.parametrize("fn,shape", [p[1:] for p in SHAPE_OPS], ids=[p[0] for p in SHAPE_OPS])
def test_shape_op_jax(fn, shape):
    x = _x(shape, I32)
    ours = fn(hnp, x)
    assert all(o.dtype == I32 for o in _as_list(ours))
    jnp = jax_numpy()
    assert_like_jax(ours, lambda: fn(jnp, x))


@pytest.mark.parametrize(
    "name,call",
    [
        ("reshape", lambda m, w: m.reshape(w, (1, 1))),
        ("ravel", lambda m, w: m.ravel(w)),
        ("expand_dims", lambda m, w: m.expand_dims(w, 0)),
        ("broadcast_to", lambda m, w: m.broadcast_to(w, (3,))),
        ("stack", lambda m, w: m.stack([w, w])),
        ("tile", lambda m, w: m.tile(w, 2)),
        ("transpose", lambda m, w: m.transpose(w)),
        ("flip", lambda m, w: m.flip(w)),
        ("squeeze", lambda m, w: m.squeeze(w)),
        ("where", lambda m, w: m.where(True, w, w)),
        ("concatenate", lambda m, w: m.concatenate([m.atleast_1d(w), m.atleast_1d(w)])),
    ],
)
def test_shape_ops_keep_weak_type(name, call):
    out = _as_list(call(hnp, hnp.asarray(2.0)))
    assert all(o.weak_type for o in out)
    jnp = jax_numpy()
    assert_like_jax(call(hnp, hnp.asarray(2.0)), lambda: call(jnp, jnp.asarray(2.0)))


def test_stack_and_concatenate_promote():
    out = hnp.concatenate([np.ones(2, np.int32), np.ones(2, np.float32)])
    assert_array(out, F32, (4,))
    assert_array(hnp.stack([np.ones(2, bool), np.ones(2, np.int32)]), I32, (2, 2))
    assert_array(hnp.stack([1, 2.5]), F32, (2,), weak=True)
    assert_array(hnp.concatenate([np.ones(2, np.int32)], dtype=hnp.float32), F32, (2,))
    assert_array(hnp.vstack([[1, 2], [3, 4]]), I32, (2, 2))


def test_split_and_meshgrid_and_indices():
    parts = hnp.split(np.arange(6), [2, 10])
    assert [p.shape for p in parts] == [(2,), (4,), (0,)]
    xs, ys = hnp.meshgrid(np.arange(2), np.arange(3.0))
    ex, ey = np.meshgrid(np.arange(2), np.arange(3.0))
    assert xs.dtype == I32 and ys.dtype == F32
    np.testing.assert_array_equal(xs, ex)
    np.testing.assert_array_equal(ys, ey)
    xs, ys = hnp.meshgrid(np.arange(2), np.arange(3), indexing="ij")
    assert xs.shape == (2, 3)
    np.testing.assert_array_equal(hnp.indices((2, 3)), np.indices((2, 3)))
    for got, want in zip(hnp.tril_indices(3, 1), np.tril_indices(3, 1)):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(hnp.triu_indices(3), np.triu_indices(3)):
        np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------------------
# Creation


CREATION = [
    # (id, function of a numpy-like module `m`)
    ("zeros", lambda m: m.zeros(3)),
    ("zeros-shape", lambda m: m.zeros((2, 3), m.int32)),
    ("zeros-empty", lambda m: m.zeros((0, 3))),
    ("ones", lambda m: m.ones((2, 1, 4), dtype=m.bool_)),
    ("ones-scalar", lambda m: m.ones(())),
    ("ones-c64", lambda m: m.ones(2, m.complex64)),
    ("empty", lambda m: m.empty(3) * 0),
    ("full", lambda m: m.full((2, 3), 7)),
    ("full-float", lambda m: m.full(2, 2.5)),
    ("full-dtype", lambda m: m.full(2, 2.5, m.int32)),
    ("full-array", lambda m: m.full((2, 3), np.arange(3, dtype=np.float32))),
    ("full-bool", lambda m: m.full(2, True)),
    ("full-np-scalar", lambda m: m.full(2, np.float32(1.5))),
    ("zeros_like", lambda m: m.zeros_like(np.ones((2, 3), np.int32))),
    ("ones_like-dtype", lambda m: m.ones_like(np.ones((2, 3)), dtype=m.int32)),
    ("ones_like-shape", lambda m: m.ones_like(np.ones((2, 3)), shape=(4,))),
    ("full_like", lambda m: m.full_like(np.ones(3, np.int32), 2.7)),
    ("full_like-weak", lambda m: m.full_like(2.0, 3)),
    ("eye", lambda m: m.eye(3)),
    ("eye-rect", lambda m: m.eye(2, 4, k=1, dtype=m.int32)),
    ("eye-negk", lambda m: m.eye(3, k=-1)),
    ("identity", lambda m: m.identity(2, m.bool_)),
    ("arange", lambda m: m.arange(5)),
    ("arange-start", lambda m: m.arange(2, 7)),
    ("arange-step", lambda m: m.arange(10, 1, -3)),
    ("arange-float", lambda m: m.arange(0.0, 1.0, 0.25)),
    ("arange-float-stop", lambda m: m.arange(2.5)),
    ("arange-dtype", lambda m: m.arange(5, dtype=m.float32)),
    ("arange-empty", lambda m: m.arange(3, 1)),
    ("linspace", lambda m: m.linspace(0, 1, 5)),
    ("linspace-noend", lambda m: m.linspace(0, 1, 4, endpoint=False)),
    ("linspace-int", lambda m: m.linspace(0, 10, 4, dtype=m.int32)),
    ("linspace-0", lambda m: m.linspace(0, 1, 0)),
    ("linspace-1", lambda m: m.linspace(2, 3, 1)),
    ("linspace-retstep", lambda m: m.linspace(0, 1, 5, retstep=True)),
    ("linspace-arrays", lambda m: m.linspace(np.zeros(2, np.float32), np.ones(2, np.float32), 3)),
    (
        "linspace-axis",
        lambda m: m.linspace(np.zeros(2, np.float32), np.ones(2, np.float32), 3, axis=-1),
    ),
    ("logspace", lambda m: m.logspace(0, 2, 3)),
    ("geomspace", lambda m: m.geomspace(1, 100, 3)),
    ("array-list", lambda m: m.array([1, 2, 3])),
    ("array-nested", lambda m: m.array([[1.0, 2.0], [3.0, 4.0]])),
    ("array-mixed", lambda m: m.array([1, 2.5, True])),
    ("array-bools", lambda m: m.array([True, False])),
    ("array-complex", lambda m: m.array([1, 2j])),
    ("array-dtype", lambda m: m.array([1, 2], dtype=m.float32)),
    ("array-f64", lambda m: m.array(np.ones(2, np.float64))),
    ("array-i64", lambda m: m.array(np.ones(2, np.int64))),
    ("array-ndmin", lambda m: m.array(3.0, ndmin=2)),
    ("array-scalar", lambda m: m.array(3)),
    ("array-empty", lambda m: m.array([])),
    ("asarray-tuple", lambda m: m.asarray((1, 2))),
    ("asarray-dtype", lambda m: m.asarray(np.ones(2), dtype=m.int32)),
    ("tri", lambda m: m.tri(3, 4, 1)),
]


@pytest.mark.parametrize("fn", [p[1] for p in CREATION], ids=[p[0] for p in CREATION])
def test_creation(fn):
    ours = fn(hnp)
    expected = fn(np)
    for o, e in zip(_as_list(ours), _as_list(expected)):
        e = np.asarray(e)
        assert_array(o, _canonical(e.dtype), e.shape)
        assert_values(o, e, _canonical(e.dtype))


@pytest.mark.parametrize("fn", [p[1] for p in CREATION], ids=[p[0] for p in CREATION])
def test_creation_jax(fn):
    ours = fn(hnp)
    assert ours is not None
    jnp = jax_numpy()
    assert_like_jax(ours, lambda: fn(jnp))


def test_creation_from_arrays_and_traced_values():
    x = hnp.array([1.0, 2.0])
    assert hnp.array(x) is not None and hnp.asarray(x) is x
    assert_array(hnp.array([x, x]), F32, (2, 2))
    assert_array(hnp.asarray([hnp.asarray(1), 2.5]), F32, (2,))
    with pytest.raises(TypeError, match="asarray"):
        hnp.asarray(object())
    with pytest.raises(TypeError):
        hnp.zeros(3, dtype="not-a-dtype")
    with pytest.raises(ValueError):
        hnp.linspace(0, 1, -1)


# --------------------------------------------------------------------------------------------------
# Products: dot, vdot, matmul, tensordot, einsum, outer, inner, kron, trace, diag, tril, triu


def _ab(sa, sb, da=F32, db=F32):
    return make_input(sa, da, "real", seed=1), make_input(sb, db, "real", seed=2)


PRODUCTS = [
    # (id, function of (module, a, b), shape a, shape b)
    ("dot-1d", lambda m, a, b: m.dot(a, b), (3,), (3,)),
    ("dot-2d-1d", lambda m, a, b: m.dot(a, b), (2, 3), (3,)),
    ("dot-1d-2d", lambda m, a, b: m.dot(a, b), (2,), (2, 3)),
    ("dot-2d", lambda m, a, b: m.dot(a, b), (2, 3), (3, 4)),
    ("dot-3d-2d", lambda m, a, b: m.dot(a, b), (2, 1, 4), (4, 3)),
    ("dot-3d-3d", lambda m, a, b: m.dot(a, b), (2, 1, 4), (2, 4, 3)),
    ("dot-scalar", lambda m, a, b: m.dot(a, b), (), (2, 3)),
    ("dot-empty", lambda m, a, b: m.dot(a, b), (0, 3), (3, 2)),
    ("vdot", lambda m, a, b: m.vdot(a, b), (2, 3), (3, 2)),
    ("matmul", lambda m, a, b: m.matmul(a, b), (2, 3), (3, 4)),
    ("matmul-1d-1d", lambda m, a, b: m.matmul(a, b), (3,), (3,)),
    ("matmul-1d-2d", lambda m, a, b: m.matmul(a, b), (2,), (2, 3)),
    ("matmul-2d-1d", lambda m, a, b: m.matmul(a, b), (2, 3), (3,)),
    ("matmul-batch", lambda m, a, b: m.matmul(a, b), (5, 2, 3), (5, 3, 4)),
    ("matmul-bcast", lambda m, a, b: m.matmul(a, b), (2, 1, 2, 3), (5, 3, 4)),
    ("matmul-batch-1d", lambda m, a, b: m.matmul(a, b), (5, 2, 3), (3,)),
    ("matmul-op", lambda m, a, b: m.asarray(a) @ b, (2, 3), (3, 4)),
    ("tensordot", lambda m, a, b: m.tensordot(a, b), (2, 3, 4), (3, 4, 5)),
    ("tensordot-1", lambda m, a, b: m.tensordot(a, b, 1), (2, 3), (3, 4)),
    ("tensordot-0", lambda m, a, b: m.tensordot(a, b, 0), (2,), (3,)),
    ("tensordot-pairs", lambda m, a, b: m.tensordot(a, b, ((0, 2), (1, 0))), (4, 3, 2), (2, 4, 5)),
    ("tensordot-ints", lambda m, a, b: m.tensordot(a, b, (1, 0)), (2, 3), (3, 4)),
    ("outer", lambda m, a, b: m.outer(a, b), (3,), (4,)),
    ("outer-2d", lambda m, a, b: m.outer(a, b), (2, 2), (3,)),
    ("inner", lambda m, a, b: m.inner(a, b), (2, 3), (4, 3)),
    ("inner-scalar", lambda m, a, b: m.inner(a, b), (), (3,)),
    ("kron", lambda m, a, b: m.kron(a, b), (2, 2), (2, 3)),
    ("kron-1d-2d", lambda m, a, b: m.kron(a, b), (2,), (2, 3)),
    ("cross", lambda m, a, b: m.cross(a, b), (3,), (3,)),
    ("cross-batch", lambda m, a, b: m.cross(a, b), (4, 3), (3,)),
    ("cross-rows", lambda m, a, b: m.cross(a, b), (4, 3), (4, 3)),
    ("vecdot", lambda m, a, b: m.vecdot(a, b), (2, 3), (3,)),
    ("matvec", lambda m, a, b: m.matvec(a, b), (2, 3), (3,)),
    ("vecmat", lambda m, a, b: m.vecmat(a, b), (2,), (2, 3)),
    ("convolve", lambda m, a, b: m.convolve(a, b), (5,), (3,)),
    ("convolve-same", lambda m, a, b: m.convolve(a, b, mode="same"), (5,), (3,)),
    ("convolve-valid", lambda m, a, b: m.convolve(a, b, mode="valid"), (5,), (3,)),
    ("correlate", lambda m, a, b: m.correlate(a, b, mode="full"), (5,), (3,)),
    ("correlate-valid", lambda m, a, b: m.correlate(a, b), (5,), (3,)),
]


EINSUM = [
    ("ij,jk->ik", (2, 3), (3, 4)),
    ("ij,jk", (2, 3), (3, 4)),
    ("i,i->", (3,), (3,)),
    ("i,j->ij", (3,), (4,)),
    ("bij,bjk->bik", (5, 2, 3), (5, 3, 4)),
    ("...ij,...jk->...ik", (5, 2, 3), (5, 3, 4)),
    ("...ij,jk->...ik", (6, 5, 2, 3), (3, 4)),
    ("ij->ji", (2, 3), None),
    ("ii->", (3, 3), None),
    ("ii->i", (3, 3), None),
    ("ij->", (2, 3), None),
    ("ij->j", (2, 3), None),
    ("...->...", (2, 3), None),
    ("i...->...", (2, 3, 4), None),
    ("bii->b", (2, 3, 3), None),
    ("ij,ij->ij", (2, 3), (2, 3)),
    ("ij,ij->", (2, 3), (2, 3)),
    ("ij,kj->ik", (2, 3), (4, 3)),
    ("i,jk->ijk", (2,), (3, 4)),
    ("ijk,kj->i", (2, 3, 4), (4, 3)),
    ("iij,jk->ik", (3, 3, 2), (2, 4)),
    (",i->i", (), (3,)),
    ("ij,jk,kl->il", (2, 3), (3, 4), (4, 5)),
    ("a,b,c->abc", (2,), (3,), (4,)),
    ("ij,jk,k->i", (2, 3), (3, 4), (4,)),
]


@pytest.mark.parametrize(
    "dtypes",
    [(F32, F32), (I32, I32), (C64, C64), (I32, F32), (BOOL, BOOL)],
    ids=lambda d: "-".join(SHORT[t] for t in d),
)
@pytest.mark.parametrize("name,fn,sa,sb", PRODUCTS, ids=[p[0] for p in PRODUCTS])
def test_product(name, fn, sa, sb, dtypes):
    a, b = _ab(sa, sb, *dtypes)
    joined, _ = _promote(*dtypes)
    if name.startswith(("convolve", "correlate")) and _CATEGORY[joined] < 2:
        joined = F32  # JAX convolves in an inexact dtype (numpy would keep integers)
    expected = _numpy_or_error(fn, np, a.astype(_WIDE[joined]), b.astype(_WIDE[joined]))
    if expected is TypeError:  # numpy has no bool subtraction (cross, ...)
        with pytest.raises(TypeError):
            fn(hnp, a, b)
        return
    ours = fn(hnp, a, b)
    expected = np.asarray(expected)
    assert_array(ours, joined, expected.shape)
    assert_values(ours, expected, joined, (1e-5, 1e-5))


@pytest.mark.parametrize("fn,sa,sb", [p[1:] for p in PRODUCTS], ids=[p[0] for p in PRODUCTS])
def test_product_jax(fn, sa, sb):
    a, b = _ab(sa, sb, I32, F32)
    ours = fn(hnp, a, b)
    assert ours.dtype == F32
    jnp = jax_numpy()
    assert_like_jax(ours, lambda: fn(jnp, a, b))


def _einsum_operands(spec):
    shapes = [s for s in spec[1:] if s is not None]
    return [make_input(s, F32, "real", seed=i) for i, s in enumerate(shapes)]


@pytest.mark.parametrize("spec", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum(spec):
    ops = _einsum_operands(spec)
    ours = hnp.einsum(spec[0], *ops)
    expected = np.einsum(spec[0], *[o.astype(np.float64) for o in ops])
    assert_array(ours, F32, expected.shape)
    assert_values(ours, expected, F32, (1e-5, 1e-5))


@pytest.mark.parametrize("spec", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum_jax(spec):
    ops = _einsum_operands(spec)
    ours = hnp.einsum(spec[0], *ops)
    assert ours.dtype == F32
    jnp = jax_numpy()
    assert_like_jax(ours, lambda: jnp.einsum(spec[0], *ops))


def test_einsum_promotes_and_checks():
    out = hnp.einsum("i,i", np.ones(2, np.int32), np.ones(2, np.float32))
    assert_array(out, F32, (), weak=False)
    assert_array(hnp.einsum("i,i", np.ones(2, bool), np.ones(2, bool)), BOOL, ())
    with pytest.raises(ValueError):
        hnp.einsum("ij,jk->ik", np.ones((2, 3)))
    with pytest.raises(ValueError):
        hnp.einsum("ij->ik", np.ones((2, 3)))
    with pytest.raises(ValueError):
        hnp.einsum("ijk->", np.ones((2, 3)))


MATRIX_OPS = [
    ("trace", lambda m, x: m.trace(x), (3, 3)),
    ("trace-offset", lambda m, x: m.trace(x, 1), (3, 4)),
    ("trace-negoffset", lambda m, x: m.trace(x, -1), (3, 4)),
    ("trace-axes", lambda m, x: m.trace(x, 0, 1, 2), (2, 3, 3)),
    ("trace-method", lambda m, x: m.asarray(x).trace(), (3, 3)),
    ("diagonal", lambda m, x: m.diagonal(x), (3, 4)),
    ("diagonal-offset", lambda m, x: m.diagonal(x, 2), (3, 4)),
    ("diagonal-neg", lambda m, x: m.diagonal(x, -1, 1, 2), (2, 3, 4)),
    ("diagonal-big", lambda m, x: m.diagonal(x, 5), (3, 4)),
    ("diag-1d", lambda m, x: m.diag(x), (3,)),
    ("diag-1d-k", lambda m, x: m.diag(x, 1), (3,)),
    ("diag-1d-negk", lambda m, x: m.diag(x, -2), (3,)),
    ("diag-2d", lambda m, x: m.diag(x), (3, 4)),
    ("diag-2d-k", lambda m, x: m.diag(x, -1), (3, 4)),
    ("tril", lambda m, x: m.tril(x), (3, 4)),
    ("tril-k", lambda m, x: m.tril(x, -1), (3, 4)),
    ("tril-batch", lambda m, x: m.tril(x, 1), (2, 3, 3)),
    ("triu", lambda m, x: m.triu(x), (3, 4)),
    ("triu-k", lambda m, x: m.triu(x, 2), (3, 4)),
    ("triu-batch", lambda m, x: m.triu(x, -1), (2, 3, 3)),
]


@pytest.mark.parametrize("dtype", ALL, ids=lambda d: SHORT[d])
@pytest.mark.parametrize("fn,shape", [p[1:] for p in MATRIX_OPS], ids=[p[0] for p in MATRIX_OPS])
def test_matrix_op(fn, shape, dtype):
    x = make_input(shape, dtype, "real")
    ours = fn(hnp, x)
    expected = np.asarray(fn(np, x))
    want = _canonical(expected.dtype)
    assert_array(ours, want, expected.shape)
    assert_values(ours, expected, want)


@pytest.mark.parametrize("dtype", ALL, ids=lambda d: SHORT[d])
@pytest.mark.parametrize("fn,shape", [p[1:] for p in MATRIX_OPS], ids=[p[0] for p in MATRIX_OPS])
def test_matrix_op_jax(fn, shape, dtype):
    x = make_input(shape, dtype, "real")
    ours = fn(hnp, x)
    assert ours.shape == np.asarray(fn(np, x)).shape
    jnp = jax_numpy()
    assert_like_jax(ours, lambda: fn(jnp, x))


def test_matrix_op_errors():
    with pytest.raises(ValueError):
        hnp.diag(np.ones((2, 2, 2)))
    with pytest.raises(ValueError):
        hnp.tril(np.ones(3))
    with pytest.raises(ValueError):
        hnp.trace(np.ones(3))
    with pytest.raises(ValueError):
        hnp.cross(np.ones(4), np.ones(4))


# --------------------------------------------------------------------------------------------------
# Predicates, clip, interp, select and constants


def test_isclose_allclose_array_equal():
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1.0], np.float32)
    b = np.array([1.0 + 1e-7, np.nan, np.inf, np.inf, 1.1], np.float32)
    np.testing.assert_array_equal(hnp.isclose(a, b), np.isclose(a, b))
    np.testing.assert_array_equal(
        hnp.isclose(a, b, equal_nan=True), np.isclose(a, b, equal_nan=True)
    )
    np.testing.assert_array_equal(hnp.isclose(a, b, rtol=0.2), np.isclose(a, b, rtol=0.2))
    assert_array(hnp.isclose(np.ones(2, np.int32), np.ones(2, np.int32)), BOOL, (2,))
    assert_array(hnp.isclose(np.ones((2, 3)), np.ones(3)), BOOL, (2, 3))
    z = np.array([1 + 1j, 2 - 1j], np.complex64)
    np.testing.assert_array_equal(hnp.isclose(z, z + 1e-7), [True, True])
    assert bool(hnp.allclose(1.0, 1.0)) and not bool(hnp.allclose(a, b))
    assert bool(hnp.allclose(a[:1], b[:1]))
    assert_array(hnp.allclose(1.0, 1.0), BOOL, ())
    assert not bool(hnp.array_equal(np.ones(2), np.ones(3)))
    assert bool(hnp.array_equal(1, 1.0))
    assert bool(hnp.array_equal(np.ones((2, 2)), np.ones((2, 2), np.int32)))
    assert not bool(hnp.array_equal(a, a)) and bool(hnp.array_equal(a, a, equal_nan=True))
    assert bool(hnp.array_equiv(np.ones((2, 3)), np.ones(3)))
    assert not bool(hnp.array_equiv(np.ones((2, 3)), np.ones(2)))
    assert_array(hnp.array_equal(np.ones(2), np.ones(3)), BOOL, ())


def test_predicates_jax():
    jnp = jax_numpy()
    assert_like_jax(hnp.isclose(1.0, 2), lambda: jnp.isclose(1.0, 2))
    assert_like_jax(hnp.allclose(np.ones(2), 1), lambda: jnp.allclose(np.ones(2), 1))
    assert_like_jax(
        hnp.array_equal(np.ones(2), np.ones(3)), lambda: jnp.array_equal(np.ones(2), np.ones(3))
    )
    assert bool(hnp.array_equal(1, 1.0))


CLIP = [
    ("both", lambda m, x: m.clip(x, -1, 1)),
    ("lower", lambda m, x: m.clip(x, min=0)),
    ("upper", lambda m, x: m.clip(x, max=0.5)),
    (
        "arrays",
        lambda m, x: m.clip(x, np.full(3, -0.5, np.float32), np.full((2, 1), 0.5, np.float32)),
    ),
    ("method", lambda m, x: m.asarray(x).clip(-1, 1)),
]


@pytest.mark.parametrize("dtype", REAL, ids=lambda d: SHORT[d])
@pytest.mark.parametrize("fn", [c[1] for c in CLIP], ids=[c[0] for c in CLIP])
def test_clip(fn, dtype):
    x = make_input((2, 3), dtype, "real")
    ours = fn(hnp, x)
    expected = np.asarray(fn(np, x))
    np.testing.assert_allclose(np.asarray(ours, np.float64), expected.astype(np.float64))
    jnp = jax_numpy()
    assert_like_jax(ours, lambda: fn(jnp, x))


def test_interp_select_and_misc():
    xp = np.array([0.0, 1.0, 3.0], np.float32)
    fp = np.array([0.0, 10.0, 30.0], np.float32)
    x = np.array([-1.0, 0.5, 1.0, 2.0, 5.0], np.float32)
    np.testing.assert_allclose(hnp.interp(x, xp, fp), np.interp(x, xp, fp), rtol=1e-6)
    np.testing.assert_allclose(
        hnp.interp(x, xp, fp, left=-1, right=99), np.interp(x, xp, fp, left=-1, right=99), rtol=1e-6
    )
    conds = [x < 0, x > 2]
    np.testing.assert_allclose(
        hnp.select(conds, [x, x * 2], default=7.0), np.select(conds, [x, x * 2], default=7.0)
    )
    q, r = hnp.divmod(np.array([7, -7], np.int32), 3)
    np.testing.assert_array_equal(q, [2, -3])
    np.testing.assert_array_equal(r, [1, 2])
    frac, whole = hnp.modf(np.array([1.5, -2.25], np.float32))
    np.testing.assert_allclose(frac, [0.5, -0.25])
    np.testing.assert_allclose(whole, [1.0, -2.0])
    assert_array(hnp.astype(np.ones(2), hnp.int32), I32, (2,))
    assert bool(hnp.isreal(1.0)) and not bool(hnp.iscomplex(np.ones(2)).any())
    np.testing.assert_allclose(hnp.polyval(np.array([1.0, 2, 3]), 2.0), 11.0)
    np.testing.assert_allclose(hnp.trapezoid(np.array([1.0, 2, 3])), 4.0)
    np.testing.assert_allclose(hnp.logsumexp(np.array([1000.0, 1000.0])), 1000.0 + np.log(2.0))
    assert hnp.broadcast_shapes((2, 1), (3,)) == (2, 3)


def test_round_decimals_and_rounding_mode():
    x = np.array([0.5, 1.5, 2.5, -0.5, 1.25, 2.675], np.float32)
    np.testing.assert_array_equal(hnp.round(x), np.round(x))
    np.testing.assert_allclose(hnp.round(x, 1), np.round(x, 1))
    np.testing.assert_array_equal(
        hnp.round(np.array([15, 25, -35], np.int32), -1), np.round(np.array([15, 25, -35]), -1)
    )
    np.testing.assert_array_equal(hnp.round(np.array([15, 25], np.int32)), [15, 25])
    z = np.array([0.5 + 1.5j], np.complex64)
    np.testing.assert_array_equal(hnp.round(z), np.round(z))


def test_power_special_cases():
    i = np.array([-2, 3, 0], np.int32)
    np.testing.assert_array_equal(hnp.power(i, 3), i**3)
    np.testing.assert_array_equal(
        hnp.power(i, np.array([2, 0, 3], np.int32)), i ** np.array([2, 0, 3])
    )
    np.testing.assert_array_equal(hnp.power(2, np.array([0, 1, 5], np.int32)), [1, 2, 32])
    np.testing.assert_allclose(hnp.power(np.float32(2.0), 0.5), np.sqrt(2.0), rtol=1e-6)
    np.testing.assert_allclose(hnp.power(np.array([4.0], np.float32), -2), [1 / 16])
    assert_array(hnp.power(np.ones(2, np.int32), 2.5), F32, (2,), weak=True)
    z = np.array([1 + 1j], np.complex64)
    np.testing.assert_allclose(hnp.power(z, 2), z**2, rtol=1e-6)
    x = hnp.asarray(np.array([1.0, 2.0], np.float32))
    np.testing.assert_allclose(x**2, [1.0, 4.0])
    np.testing.assert_allclose(2**x, [2.0, 4.0])


def test_logaddexp_edge_values():
    inf = np.float32(np.inf)
    x = np.array([-inf, inf, -inf, 0.0, 1000.0], np.float32)
    y = np.array([-inf, inf, 1.0, 0.0, 1000.0], np.float32)
    np.testing.assert_allclose(hnp.logaddexp(x, y), np.logaddexp(x, y), rtol=1e-6)
    np.testing.assert_allclose(hnp.logaddexp2(x, y), np.logaddexp2(x, y), rtol=1e-6)


def test_constants():
    assert hnp.pi == np.pi and hnp.e == np.e and hnp.euler_gamma == np.euler_gamma
    assert hnp.inf == np.inf and np.isnan(hnp.nan)
    assert hnp.newaxis is None
    x = hnp.ones((2, 3))
    assert x[:, hnp.newaxis].shape == (2, 1, 3)
    assert_array(hnp.sin(hnp.pi / 2) + 0, F32, (), weak=True)


# --------------------------------------------------------------------------------------------------
# Under transformations: derivatives (finite differences), vmap (a loop), staging

TRANSFORMS = [
    ("logaddexp", lambda x: hnp.logaddexp(x, 0.5 * x)),
    ("logaddexp2", lambda x: hnp.logaddexp2(x, 1.0)),
    ("hypot", lambda x: hnp.hypot(x, 2.0 * x + 1.0)),
    ("sinc", lambda x: hnp.sinc(x)),
    ("deg2rad", lambda x: hnp.deg2rad(x)),
    ("power", lambda x: hnp.power(x, x)),
    ("power-int", lambda x: hnp.power(x, 3)),
    ("arctan2", lambda x: hnp.arctan2(x, 1.5 - x)),
    ("copysign", lambda x: hnp.copysign(x, -1.0)),
    ("clip", lambda x: hnp.clip(x, 0.5, 1.5)),
    ("where", lambda x: hnp.where(x > 1.0, x * x, -x)),
    ("fmax", lambda x: hnp.fmax(x, 1.0)),
    ("sum-axis", lambda x: hnp.sum(x**2, axis=0)),
    ("prod", lambda x: hnp.prod(x, axis=1)),
    ("mean-keepdims", lambda x: hnp.mean(x, axis=1, keepdims=True)),
    ("var", lambda x: hnp.var(x, axis=0)),
    ("std", lambda x: hnp.std(x)),
    ("max", lambda x: hnp.max(x, axis=1)),
    ("nanmean", lambda x: hnp.nanmean(x, axis=0)),
    ("cumsum", lambda x: hnp.cumsum(x, axis=1)),
    ("cumprod", lambda x: hnp.cumprod(x)),
    ("logsumexp", lambda x: hnp.logsumexp(x, axis=1)),
    ("average", lambda x: hnp.average(x, axis=1, weights=np.array([1.0, 2.0, 3.0], np.float32))),
    ("matmul", lambda x: x @ x.T),
    ("einsum", lambda x: hnp.einsum("ij,kj->ik", x, x)),
    ("einsum-trace", lambda x: hnp.einsum("ii", x[:, :2])),
    ("tensordot", lambda x: hnp.tensordot(x, x, ((1,), (1,)))),
    ("kron", lambda x: hnp.kron(x, x)),
    ("outer", lambda x: hnp.outer(x, x)),
    ("trace", lambda x: hnp.trace(x, 1)),
    ("diag", lambda x: hnp.diag(hnp.ravel(x), -1)),
    ("diagonal", lambda x: hnp.diagonal(x, 1)),
    ("tril", lambda x: hnp.tril(x)),
    ("cross", lambda x: hnp.cross(x[0], x[1])),
    ("convolve", lambda x: hnp.convolve(x[0], x[1], mode="same")),
    (
        "interp",
        lambda x: hnp.interp(
            x, np.array([0.0, 1.0, 3.0], np.float32), np.array([0.0, 2.0, 1.0], np.float32)
        ),
    ),
    ("linspace", lambda x: hnp.linspace(x[0, 0], x[1, 2], 5)),
    ("roll-pad", lambda x: hnp.pad(hnp.roll(x, 1, axis=1), 1, mode="edge")),
    ("repeat-tile", lambda x: hnp.tile(hnp.repeat(x, np.array([2, 0, 1]), axis=1), (2, 1))),
    ("split-stack", lambda x: hnp.stack(hnp.split(x, 3, axis=1), axis=-1)),
    ("diff", lambda x: hnp.diff(x, n=2)),
    ("flip-moveaxis", lambda x: hnp.moveaxis(hnp.flip(x, 0), 0, -1)),
]


@pytest.mark.parametrize("fn", [t[1] for t in TRANSFORMS], ids=[t[0] for t in TRANSFORMS])
def test_under_transformations(fn):
    """grad (fwd and rev, against finite differences), vmap (against a loop) and make_jaxpr."""
    import hlodiff as hd
    from hlodiff.test_util import check_grads

    x = make_input((2, 3), F32, "positive")
    check_grads(fn, (x,), order=1, atol=5e-2, rtol=5e-2)
    xs = np.stack([x, x[::-1]])
    batched = hd.vmap(fn)(xs)
    for i in range(2):
        assert_values(batched[i], np.asarray(fn(xs[i]), np.float64), F32, (1e-5, 1e-5))
    assert "let" in str(hd.make_jaxpr(fn)(x))


def test_function_names_and_docs():
    """Public functions carry their numpy name and a docstring."""
    missing = [
        n
        for n in (
            "sin",
            "add",
            "sum",
            "mean",
            "reshape",
            "einsum",
            "matmul",
            "where",
            "linspace",
            "fmax",
            "diff",
            "cross",
            "meshgrid",
            "nanmean",
        )
        if not (getattr(hnp, n).__doc__ or "").strip()
    ]
    assert not missing
    assert hnp.sin.__name__ == "sin" and hnp.add.__name__ == "add"


@pytest.mark.cpu
@pytest.mark.parametrize("dtype", ALL, ids=[SHORT[d] for d in ALL])
def test_every_ufunc_under_jit_matches_eager(dtype):
    """Every unary and binary function of the tables, jitted (one module per dtype) against
    eager: tracing checks dtypes that eager evaluation lets through, and IREE must compile all."""
    cases = []
    for op in UNARY + BINARY:
        if dtype not in op.dtypes:
            continue
        cases.append((op, [hnp.asarray(make_input((2, 3), dtype, dom, seed=i))
                           for i, dom in enumerate(op.domain)]))

    def apply_all(all_xs):
        return [getattr(hnp, op.name)(*xs) for (op, _), xs in zip(cases, all_xs)]

    with np.errstate(all="ignore"):
        eager = apply_all([xs for _, xs in cases])
        jitted = hd.jit(apply_all)([xs for _, xs in cases])
    for (op, _), want, got in zip(cases, eager, jitted):
        assert got.dtype == want.dtype and got.weak_type == want.weak_type, op.name
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-5, atol=2e-5,
                                   equal_nan=True, err_msg=op.name)
