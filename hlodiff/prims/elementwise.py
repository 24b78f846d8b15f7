"""Elementwise primitives: arithmetic, transcendental, comparison, logic, conversion, select.

N-ary elementwise primitives follow modern JAX: operands share one dtype, and their shapes are
equal up to rank-0 operands and size-1 dimensions (`mul f32[3] 2.0`, `mul f32[1,3] f32[2,3]`).
The numpy layer has already promoted dtypes and ranks; these rules check and never promote.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Array, Primitive, ShapedArray, get_aval
from hlodiff.prims.xla_numerics import xla_log1p_impl, xla_log_impl, xla_tanh_f32_impl
from hlodiff.transforms.batching import defvectorized, not_mapped
from hlodiff.transforms.jvp import (
    Zero,
    defjvp,
    defjvp2,
    defjvp_zero,
    deflinear,
    instantiate_zeros,
    tangent_aval,
)
from hlodiff.transforms.transpose import is_undefined_primal

_float = "float"  # inexact real
_complex = "complex"
_int = "int"
_bool = "bool"
_num = (_float, _complex, _int)
_inexact = (_float, _complex)


_KINDS: dict = {}


def _kind(dtype) -> str:
    kind = _KINDS.get(dtype)
    if kind is None:
        kind = _KINDS[dtype] = _kind_uncached(dtype)
    return kind


def _kind_uncached(dtype) -> str:
    if dtypes.is_bool(dtype):
        return _bool
    if dtypes.is_complex(dtype):
        return _complex
    if dtypes.is_inexact(dtype):
        return _float
    return _int


def _check_kinds(name, avals, allowed):
    for a in avals:
        if _kind(a.dtype) not in allowed:
            want = ", ".join(allowed)
            raise TypeError(f"{name} does not accept dtype {a.dtype.name}. Accepted kinds: {want}.")


def broadcast_shapes_strict(name: str, *shapes) -> tuple:
    """The output shape of an elementwise op: equal ranks (or rank 0), dims equal or 1."""
    first = shapes[0]
    if all(s == first for s in shapes):
        return first
    ranked = [s for s in shapes if s]
    if not ranked:
        return ()
    rank = len(ranked[0])
    if any(len(s) != rank for s in ranked):
        raise TypeError(
            f"{name} got incompatible shapes for broadcasting: "
            f"{', '.join(map(str, shapes))}."
        )
    out = []
    for dims in zip(*ranked):
        big = {d for d in dims if d != 1}
        if len(big) > 1:
            raise TypeError(
                f"{name} got incompatible shapes for broadcasting: "
                f"{', '.join(map(str, shapes))}."
            )
        out.append(big.pop() if big else 1)
    return tuple(out)


def _same_dtype(name, avals):
    first = avals[0].dtype
    for a in avals[1:]:
        if a.dtype != first:
            got = ", ".join(a.dtype.name for a in avals)
            raise TypeError(
                f"{name} requires arguments to have the same dtypes, got {got}. Convert one "
                "with `.astype(...)` or use the hlodiff.numpy function, which promotes."
            )
    return first


def _weak(avals):
    return all(a.weak_type for a in avals)


_WIDEN = {np.dtype(np.float32): np.float64, np.dtype(np.float16): np.float64,
          np.dtype(dtypes.bfloat16): np.float64, np.dtype(np.complex64): np.complex128}


def accurate(fn):
    """Evaluates `fn` in double precision and rounds once, for narrow floats.

    numpy's float32 transcendental kernels are off by an ulp where XLA's are correctly rounded
    (e.g. exp(2)); computing in float64 reproduces the correctly rounded result.
    """

    def impl(x, *rest):
        wide = _WIDEN.get(x.dtype)
        if wide is None:
            return fn(x, *rest)
        return fn(x.astype(wide), *(r.astype(wide) for r in rest)).astype(x.dtype)

    return impl


def unop(name: str, impl, allowed=_inexact, result_dtype=None) -> Primitive:
    """A unary elementwise primitive with shape rule and batching supplied."""
    p = Primitive(name)
    p.impl = impl

    def abstract_eval(x, **params):
        _check_kinds(name, [x], allowed)
        dtype = x.dtype if result_dtype is None else result_dtype(x.dtype)
        return ShapedArray(x.shape, dtype, x.weak_type)

    p.abstract_eval = abstract_eval
    defvectorized(p)
    return p


def _same_dtype_impl(impl):
    """numpy would promote mixed dtypes silently; refuse (the eager path then reports the
    abstract rule's TypeError)."""

    def checked(x, *rest, **params):
        for y in rest:
            if y.dtype != x.dtype:
                raise TypeError("mixed dtypes")
        return impl(x, *rest, **params)

    return checked


def naryop(name: str, impl, allowed=_num, out_dtype=None) -> Primitive:
    """An n-ary elementwise primitive (shape rule, dtype check, batching supplied)."""
    p = Primitive(name)
    p.impl = _same_dtype_impl(impl)

    def abstract_eval(*avals):
        _check_kinds(name, avals, allowed)
        dtype = _same_dtype(name, avals)
        shape = broadcast_shapes_strict(name, *(a.shape for a in avals))
        # Like JAX, comparisons of weak operands give a weak bool (`jnp.less(1, 2.0)`).
        return ShapedArray(shape, dtype if out_dtype is None else out_dtype, _weak(avals))

    p.abstract_eval = abstract_eval
    p.batch = lambda axis_size, vals, dims, **params: _nary_batch(p, vals, dims, params)
    return p


def _nary_batch(p, vals, dims, params):
    """Moves every batch dim to 0; unbatched operands get a size-1 dim (rank-0 ones stay)."""
    ranks = [get_aval(v).ndim - (d is not not_mapped) for v, d in zip(vals, dims)]
    rank = builtins.max(ranks)
    out = []
    for v, d, r in zip(vals, dims, ranks):
        if d is not_mapped:
            out.append(v if r == 0 else sp.expand_dims(v, (0,)))
            continue
        v = sp.moveaxis(v, d, 0)
        if r < rank:  # a mapped rank-0 operand among ranked ones: (B,) -> (B, 1, ..., 1)
            v = sp.reshape(v, (get_aval(v).shape[0],) + (1,) * rank)
        out.append(v)
    return p.bind(*out, **params), 0


# ---------------------------------------------------------------------------------------------
# Helpers used by rules


def _const(x, value):
    """A 0-d constant with `x`'s dtype, weak when `x` is (so rules keep JAX's weak types)."""
    aval = get_aval(x)
    return Array(np.array(value, dtype=aval.dtype), aval.weak_type)


def unbroadcast(aval: ShapedArray, x):
    """Sums `x` down to `aval.shape`, undoing elementwise broadcasting (for transposes)."""
    x_shape = get_aval(x).shape
    if x_shape == aval.shape:
        return x
    if not aval.shape:
        return rp.reduce_sum(x, tuple(range(len(x_shape))))
    dims = tuple(i for i, (a, b) in enumerate(zip(aval.shape, x_shape)) if a == 1 and b != 1)
    return sp.reshape(rp.reduce_sum(x, dims), aval.shape)


def broadcast_to_shape(x, shape):
    x_shape = get_aval(x).shape
    if x_shape == tuple(shape):
        return x
    dims = tuple(range(len(shape) - len(x_shape), len(shape))) if x_shape else ()
    return sp.broadcast_in_dim(x, tuple(shape), dims)


# ---------------------------------------------------------------------------------------------
# Unary arithmetic and transcendental functions

neg_p = unop("neg", np.negative, _num)
deflinear(neg_p, lambda ct, x: [neg(ct)])


def neg(x):
    return neg_p.bind(x)


sign_p = unop("sign", np.sign, _num)
defjvp_zero(sign_p)

floor_p = unop("floor", np.floor, (_float,))
defjvp_zero(floor_p)
ceil_p = unop("ceil", np.ceil, (_float,))
defjvp_zero(ceil_p)


def _round_impl(x, rounding_method=0):
    if rounding_method == 1:  # TO_NEAREST_EVEN
        return np.round(x)
    # Away from zero, exactly: floor(|x| + 0.5) rounds 0.49999997 up in float32.
    t = np.trunc(x)
    return (t + np.where(np.abs(x - t) >= np.array(0.5, x.dtype), np.sign(x), 0)).astype(x.dtype)


round_p = unop("round", _round_impl, (_float,))
defjvp_zero(round_p)

is_finite_p = unop("is_finite", np.isfinite, (_float,), result_dtype=lambda d: np.dtype(bool))
defjvp_zero(is_finite_p)


exp_p = unop("exp", accurate(np.exp))
defjvp2(exp_p, lambda g, ans, x: mul(g, ans))

exp2_p = unop("exp2", accurate(np.exp2))
defjvp2(exp2_p, lambda g, ans, x: mul(g, mul(ans, _const(x, math.log(2.0)))))

_F32_F64 = (np.dtype(np.float32), np.dtype(np.float64))


def _real_or_complex(real_impl, other_impl):
    """XLA's kernels (bit-exact with JAX) for float32/64; other dtypes go through numpy."""
    return lambda x: real_impl(x) if x.dtype in _F32_F64 else other_impl(x)


log_p = unop("log", _real_or_complex(xla_log_impl, accurate(np.log)))
defjvp(log_p, lambda g, x: div(g, x))

log1p_p = unop("log1p", _real_or_complex(xla_log1p_impl, accurate(np.log1p)))
defjvp(log1p_p, lambda g, x: div(g, add(x, _const(x, 1))))

expm1_p = unop("expm1", accurate(np.expm1))
defjvp2(expm1_p, lambda g, ans, x: mul(g, add(ans, _const(ans, 1))))

def _tanh_impl(x):
    return xla_tanh_f32_impl(x) if x.dtype == np.float32 else _tanh_wide(x)


_tanh_wide = accurate(np.tanh)
tanh_p = unop("tanh", _tanh_impl)
# d tanh = (1 - tanh^2) dx, written as (g + g*ans)(1 - ans) like JAX, reusing the output.
defjvp2(tanh_p, lambda g, ans, x: mul(add(g, mul(g, ans)), sub(_const(x, 1), ans)))


def _logistic_impl(x):
    return (np.array(1, x.dtype) / (np.array(1, x.dtype) + np.exp(-x))).astype(x.dtype)


logistic_p = unop("logistic", accurate(_logistic_impl))
defjvp2(logistic_p, lambda g, ans, x: mul(g, mul(ans, sub(_const(ans, 1), ans))))

sin_p = unop("sin", accurate(np.sin))
defjvp(sin_p, lambda g, x: mul(g, cos(x)))
cos_p = unop("cos", accurate(np.cos))
defjvp(cos_p, lambda g, x: neg(mul(g, sin(x))))
tan_p = unop("tan", accurate(np.tan))
defjvp2(tan_p, lambda g, ans, x: mul(g, add(_const(x, 1), mul(ans, ans))))
asin_p = unop("asin", accurate(np.arcsin))
defjvp(asin_p, lambda g, x: mul(g, rsqrt(sub(_const(x, 1), mul(x, x)))))
acos_p = unop("acos", accurate(np.arccos))
defjvp(acos_p, lambda g, x: mul(g, neg(rsqrt(sub(_const(x, 1), mul(x, x))))))
atan_p = unop("atan", accurate(np.arctan))
defjvp(atan_p, lambda g, x: div(g, add(_const(x, 1), mul(x, x))))
sinh_p = unop("sinh", accurate(np.sinh))
defjvp(sinh_p, lambda g, x: mul(g, cosh(x)))
cosh_p = unop("cosh", accurate(np.cosh))
defjvp(cosh_p, lambda g, x: mul(g, sinh(x)))
asinh_p = unop("asinh", accurate(np.arcsinh))
defjvp(asinh_p, lambda g, x: mul(g, rsqrt(add(mul(x, x), _const(x, 1)))))
acosh_p = unop("acosh", accurate(np.arccosh))
defjvp(acosh_p, lambda g, x: mul(g, rsqrt(mul(sub(x, _const(x, 1)), add(x, _const(x, 1))))))
atanh_p = unop("atanh", accurate(np.arctanh))
defjvp(atanh_p, lambda g, x: div(g, sub(_const(x, 1), mul(x, x))))

sqrt_p = unop("sqrt", np.sqrt)
defjvp2(sqrt_p, lambda g, ans, x: mul(g, div(_const(x, 0.5), ans)))


def _rsqrt_impl(x):
    return (np.array(1, x.dtype) / np.sqrt(x)).astype(x.dtype)


rsqrt_p = unop("rsqrt", accurate(_rsqrt_impl))
defjvp2(rsqrt_p, lambda g, ans, x: mul(g, mul(_const(x, -0.5), div(ans, x))))

cbrt_p = unop("cbrt", accurate(np.cbrt), (_float,))
defjvp2(cbrt_p, lambda g, ans, x: mul(g, mul(_const(x, 1 / 3), integer_pow(ans, -2))))


def _abs_jvp(g, ans, x):
    if dtypes.is_complex(get_aval(x).dtype):
        safe = select_n(eq(ans, _const(ans, 0)), ans, _const(ans, 1))
        return real(mul(g, div(conj(x), convert_element_type(safe, get_aval(x).dtype))))
    return select_n(ge(x, _const(x, 0)), neg(g), g)


abs_p = unop("abs", np.abs, _num, result_dtype=lambda d: dtypes.real_dtype(d))
defjvp2(abs_p, _abs_jvp)


def _integer_pow_impl(x, *, y):
    """x ** y by repeated squaring, as XLA computes it (np.power rounds x**3 differently)."""
    if y < 0 and dtypes.is_integer(x.dtype):
        raise ValueError("integer_pow with a negative exponent needs a floating-point base")
    acc = None
    base = x
    n = builtins.abs(y)
    while n:
        if n & 1:
            acc = base if acc is None else acc * base
        n >>= 1
        if n:
            base = base * base
    if acc is None:
        return np.ones_like(x)
    acc = np.asarray(acc, x.dtype)
    return (np.array(1, x.dtype) / acc).astype(x.dtype) if y < 0 else acc


def _integer_pow_jvp(g, x, *, y):
    if y == 0:
        return Zero(tangent_aval(get_aval(g)))
    coeff = _const(x, y)
    return mul(g, coeff if y == 1 else mul(coeff, x if y == 2 else integer_pow(x, y - 1)))


integer_pow_p = unop("integer_pow", _integer_pow_impl, _num)
defjvp(integer_pow_p, _integer_pow_jvp)


def integer_pow(x, y: int):
    return integer_pow_p.bind(x, y=int(y))


square_p = unop("square", np.square, _num)
defjvp(square_p, lambda g, x: mul(g, mul(_const(x, 2), x)))

real_p = unop("real", np.real, (_complex,), result_dtype=dtypes.real_dtype)
deflinear(real_p, lambda ct, x: [complex_(ct, np.zeros((), get_aval(ct).dtype))])
imag_p = unop("imag", np.imag, (_complex,), result_dtype=dtypes.real_dtype)
deflinear(imag_p, lambda ct, x: [complex_(np.zeros((), get_aval(ct).dtype), neg(ct))])
conj_p = unop("conj", np.conjugate, (_complex,))
deflinear(conj_p, lambda ct, x: [conj(ct)])

not_p = unop("not", lambda x: np.invert(x), (_bool, _int))
defjvp_zero(not_p)

population_count_p = unop("population_count", lambda x: np.bitwise_count(_unsigned_view(x)).astype(x.dtype),
                          (_int,))
defjvp_zero(population_count_p)

stop_gradient_p = unop("stop_gradient", lambda x: x, _num + (_bool,))
defjvp_zero(stop_gradient_p)


def stop_gradient(x):
    return stop_gradient_p.bind(x)


# ---------------------------------------------------------------------------------------------
# Binary arithmetic


def _add_jvp(primals, tangents):
    x, y = primals
    xd, yd = tangents
    out = add(x, y)
    shape = get_aval(out).shape
    if type(xd) is Zero and type(yd) is Zero:
        return out, Zero(tangent_aval(get_aval(out)))
    if type(xd) is Zero:
        return out, broadcast_to_shape(yd, shape)
    if type(yd) is Zero:
        return out, broadcast_to_shape(xd, shape)
    return out, add(xd, yd)


def _add_transpose(ct, x, y):
    x_aval = x.aval if is_undefined_primal(x) else get_aval(x)
    y_aval = y.aval if is_undefined_primal(y) else get_aval(y)
    if type(ct) is Zero:
        return [None, None]
    return [unbroadcast(x_aval, ct), unbroadcast(y_aval, ct)]


add_p = naryop("add", np.add)
add_p.jvp = _add_jvp
add_p.transpose = _add_transpose
add_p.linear = True


def _sub_jvp(primals, tangents):
    x, y = primals
    xd, yd = tangents
    out = sub(x, y)
    shape = get_aval(out).shape
    if type(xd) is Zero and type(yd) is Zero:
        return out, Zero(tangent_aval(get_aval(out)))
    if type(xd) is Zero:
        return out, broadcast_to_shape(neg(yd), shape)
    if type(yd) is Zero:
        return out, broadcast_to_shape(xd, shape)
    return out, sub(xd, yd)


def _sub_transpose(ct, x, y):
    x_aval = x.aval if is_undefined_primal(x) else get_aval(x)
    y_aval = y.aval if is_undefined_primal(y) else get_aval(y)
    return [unbroadcast(x_aval, ct), unbroadcast(y_aval, neg(ct))]


sub_p = naryop("sub", np.subtract)
sub_p.jvp = _sub_jvp
sub_p.transpose = _sub_transpose
sub_p.linear = True


def _mul_transpose(ct, x, y):
    if is_undefined_primal(x):
        return [unbroadcast(x.aval, mul(ct, y)), None]
    return [None, unbroadcast(y.aval, mul(x, ct))]


mul_p = naryop("mul", np.multiply)
defjvp(mul_p, lambda xd, x, y: mul(xd, y), lambda yd, x, y: mul(x, yd))
mul_p.transpose = _mul_transpose


def _div_impl(x, y):
    if dtypes.is_integer(x.dtype):
        # C-style truncation toward zero; x / 0 is -1 (all bits set), as XLA defines it.
        safe = np.where(y == 0, 1, y)
        q = np.floor_divide(x, safe)
        fix = (np.remainder(x, safe) != 0) & ((x < 0) != (safe < 0))
        out = (q + fix).astype(x.dtype)
        return np.where(y == 0, np.array(-1).astype(x.dtype), out)
    return np.true_divide(x, y)


def _div_transpose(ct, x, y):
    if not is_undefined_primal(x) or is_undefined_primal(y):
        raise NotImplementedError("div is linear only in its numerator")
    return [unbroadcast(x.aval, div(ct, y)), None]


div_p = naryop("div", _div_impl)
defjvp(
    div_p,
    lambda g, x, y: div(g, y),
    lambda g, x, y: mul(mul(neg(g), x), integer_pow(y, -2)),
)
div_p.transpose = _div_transpose


def _rem_impl(x, y):
    if dtypes.is_integer(x.dtype):
        # x % 0 is x, as XLA defines it.
        return np.where(y == 0, x, np.fmod(x, np.where(y == 0, 1, y))).astype(x.dtype)
    return np.fmod(x, y)


rem_p = naryop("rem", _rem_impl, (_float, _int))
defjvp(
    rem_p,
    lambda g, x, y: broadcast_to_shape(g, broadcast_shapes_strict("rem", get_aval(x).shape,
                                                                   get_aval(y).shape)),
    lambda g, x, y: mul(neg(g), mul(sign(div(x, y)), floor(abs(div(x, y))))),
)


def _pow_impl(x, y):
    return np.power(x, y)


def _pow_jvp_lhs(g, ans, x, y):
    y_is_zero = eq(y, _const(y, 0))
    jac = select_n(y_is_zero, mul(y, pow(x, sub(y, _const(y, 1)))), _const(y, 0))
    return mul(g, jac)


def _pow_jvp_rhs(g, ans, x, y):
    safe_x = select_n(eq(x, _const(x, 0)), x, _const(x, 1))
    return mul(g, mul(log(safe_x), ans))


pow_p = naryop("pow", accurate(_pow_impl), _inexact)
defjvp2(pow_p, _pow_jvp_lhs, _pow_jvp_rhs)


def _balanced_eq(x, z, y):
    """1 where x == z (0.5 where also y == z), else 0: splits the gradient of max/min ties."""
    one, half, zero = _const(x, 1), _const(x, 0.5), _const(x, 0)
    x_eq = select_n(eq(x, z), zero, one)
    both = select_n(eq(y, z), one, half)
    return mul(x_eq, both)


max_p = naryop("max", np.maximum, (_float, _complex, _int, _bool))
defjvp2(
    max_p,
    lambda g, ans, x, y: mul(g, _balanced_eq(x, ans, y)),
    lambda g, ans, x, y: mul(g, _balanced_eq(y, ans, x)),
)
min_p = naryop("min", np.minimum, (_float, _complex, _int, _bool))
defjvp2(
    min_p,
    lambda g, ans, x, y: mul(g, _balanced_eq(x, ans, y)),
    lambda g, ans, x, y: mul(g, _balanced_eq(y, ans, x)),
)

atan2_p = naryop("atan2", accurate(np.arctan2), (_float,))
defjvp(
    atan2_p,
    lambda g, x, y: mul(g, div(y, add(mul(x, x), mul(y, y)))),
    lambda g, x, y: mul(g, div(neg(x), add(mul(x, x), mul(y, y)))),
)

nextafter_p = naryop("nextafter", np.nextafter, (_float,))
defjvp_zero(nextafter_p)


def _complex_impl(x, y):
    out_dtype = dtypes.to_complex_dtype(x.dtype)
    return (x + np.asarray(y, out_dtype) * np.array(1j, out_dtype)).astype(out_dtype)


complex_p = naryop("complex", _complex_impl, (_float,))
complex_p.abstract_eval = (lambda base: lambda x, y: base(x, y).update(
    dtype=dtypes.to_complex_dtype(x.dtype)))(complex_p.abstract_eval)
deflinear(complex_p, lambda ct, x, y: [real(ct), imag(neg(ct))])


# ---------------------------------------------------------------------------------------------
# Comparisons and logic (no derivatives)


def _compare(name, fn):
    p = naryop(name, fn, _num + (_bool,), out_dtype=np.dtype(bool))
    defjvp_zero(p)
    return p


eq_p = _compare("eq", np.equal)
ne_p = _compare("ne", np.not_equal)
lt_p = _compare("lt", np.less)
le_p = _compare("le", np.less_equal)
gt_p = _compare("gt", np.greater)
ge_p = _compare("ge", np.greater_equal)


def _logic(name, fn):
    p = naryop(name, fn, (_bool, _int))
    defjvp_zero(p)
    return p


and_p = _logic("and", np.bitwise_and)
or_p = _logic("or", np.bitwise_or)
xor_p = _logic("xor", np.bitwise_xor)


def _unsigned_view(x):
    return x.view(np.dtype(f"u{x.dtype.itemsize}")) if x.dtype.kind == "i" else x


def _shift_amount(y, bits):
    """Shift amounts as unsigned: negative or >= bitwidth counts as out of range, like XLA."""
    return _unsigned_view(np.asarray(y)).astype(np.uint64), bits


def _shift_right_logical(x, y):
    ux = _unsigned_view(x)
    amount, bits = _shift_amount(y, x.dtype.itemsize * 8)
    out = np.right_shift(ux, np.minimum(amount, bits - 1).astype(ux.dtype))
    return np.where(amount >= bits, 0, out).astype(ux.dtype).view(x.dtype)


def _shift_left(x, y):
    amount, bits = _shift_amount(y, x.dtype.itemsize * 8)
    out = np.left_shift(x, np.minimum(amount, bits - 1).astype(x.dtype))
    return np.where(amount >= bits, 0, out).astype(x.dtype)


def _shift_right_arithmetic(x, y):
    """Sign-filling shift; unsigned operands are shifted as their signed bit patterns."""
    sx = x.view(np.dtype(f"i{x.dtype.itemsize}")) if x.dtype.kind == "u" else x
    amount, bits = _shift_amount(y, x.dtype.itemsize * 8)
    out = np.right_shift(sx, np.minimum(amount, bits - 1).astype(sx.dtype))
    return out.astype(sx.dtype).view(x.dtype)


shift_left_p = _logic("shift_left", _shift_left)
shift_right_logical_p = _logic("shift_right_logical", _shift_right_logical)
shift_right_arithmetic_p = _logic("shift_right_arithmetic", _shift_right_arithmetic)


# ---------------------------------------------------------------------------------------------
# Conversion, select, clamp


def _convert_impl(x, *, new_dtype, weak_type):
    if dtypes.is_complex(x.dtype) and not dtypes.is_complex(new_dtype):
        x = np.real(x)
    if dtypes.is_inexact(x.dtype) and (dtypes.is_integer(new_dtype) or new_dtype == np.bool_):
        if new_dtype == np.bool_:
            return np.asarray(x != 0)
        # Saturate (NaN -> 0) like XLA, deciding in float64 so the bounds are exact.
        info = np.iinfo(new_dtype)
        with np.errstate(invalid="ignore"):
            t = np.trunc(np.asarray(x, np.float64))
            out = np.where(np.isnan(t), 0, np.clip(t, info.min, info.max))
            big = t >= float(info.max)
            return np.where(big, info.max, out.astype(new_dtype)).astype(new_dtype)
    return np.asarray(x).astype(new_dtype)


def _convert_abstract(x, *, new_dtype, weak_type):
    return ShapedArray(x.shape, new_dtype, weak_type)


def _convert_jvp(primals, tangents, *, new_dtype, weak_type):
    (x,), (t,) = primals, tangents
    out = convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=weak_type)
    if type(t) is Zero or not dtypes.is_inexact(new_dtype) or not dtypes.is_inexact(
            get_aval(x).dtype):
        return out, Zero(tangent_aval(get_aval(out)))
    return out, convert_element_type_p.bind(t, new_dtype=new_dtype, weak_type=weak_type)


def _convert_transpose(ct, x, *, new_dtype, weak_type):
    old = x.aval
    return [convert_element_type_p.bind(ct, new_dtype=old.dtype, weak_type=old.weak_type)]


convert_element_type_p = Primitive("convert_element_type")
convert_element_type_p.impl = _convert_impl
convert_element_type_p.abstract_eval = _convert_abstract
convert_element_type_p.weak_type_rule = lambda x, *, new_dtype, weak_type: weak_type
convert_element_type_p.jvp = _convert_jvp
convert_element_type_p.transpose = _convert_transpose
convert_element_type_p.linear = True
defvectorized(convert_element_type_p)


def convert_element_type(x, new_dtype, weak_type: bool = False):
    new_dtype = dtypes.canonicalize_dtype(new_dtype)
    aval = get_aval(x)
    if aval.dtype == new_dtype and aval.weak_type == weak_type and not isinstance(
            x, (int, float, complex, bool)):
        return x
    return convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=bool(weak_type))


def _select_n_impl(which, *cases):
    if len(cases) == 1:
        return np.array(cases[0], copy=True) if np.ndim(cases[0]) else cases[0]
    if which.dtype == np.bool_:
        return np.where(which, cases[1], cases[0])
    return np.choose(which.astype(np.int64), np.broadcast_arrays(*cases)).astype(cases[0].dtype)


def _select_n_abstract(which, *cases):
    if not cases:
        raise TypeError("select_n needs at least one case")
    if not (dtypes.is_bool(which.dtype) or dtypes.is_integer(which.dtype)):
        raise TypeError(f"select_n selector must be bool or integer, got {which.dtype.name}")
    if which.dtype == np.bool_ and len(cases) > 2:
        raise TypeError("select_n with a boolean selector takes at most two cases")
    dtype = _same_dtype("select_n", cases)
    shape = broadcast_shapes_strict("select_n", which.shape, *(c.shape for c in cases))
    return ShapedArray(shape, dtype, _weak(cases))


def _select_n_jvp(primals, tangents):
    which, *cases = primals
    out = select_n(which, *cases)
    case_tangents = tangents[1:]
    if all(type(t) is Zero for t in case_tangents):
        return out, Zero(tangent_aval(get_aval(out)))
    shape = get_aval(out).shape
    ts = [broadcast_to_shape(instantiate_zeros(t), shape) for t in case_tangents]
    return out, select_n(which, *ts)


def _select_n_transpose(ct, which, *cases):
    if is_undefined_primal(which):
        raise ValueError("select_n is not linear in its selector")
    zeros = np.zeros((), get_aval(ct).dtype)
    outs = [None]
    for i, c in enumerate(cases):
        if not is_undefined_primal(c):
            outs.append(None)
            continue
        picked = [ct if j == i else zeros for j in range(len(cases))]
        outs.append(unbroadcast(c.aval, select_n(which, *picked)))
    return outs


select_n_p = Primitive("select_n")
select_n_p.impl = _select_n_impl
select_n_p.abstract_eval = _select_n_abstract
select_n_p.weak_type_rule = lambda which, *cases: all(
    getattr(c, "weak_type", type(c) in (int, float, complex)) for c in cases)
select_n_p.jvp = _select_n_jvp
select_n_p.transpose = _select_n_transpose
select_n_p.batch = lambda axis_size, vals, dims: _nary_batch(select_n_p, vals, dims, {})


def select_n(which, *cases):
    return select_n_p.bind(which, *cases)


def _clamp_impl(lo, x, hi):
    return np.clip(x, lo, hi).astype(x.dtype)


def _clamp_abstract(lo, x, hi):
    _same_dtype("clamp", [lo, x, hi])
    for b in (lo, hi):
        if b.shape and b.shape != x.shape:
            raise TypeError(f"clamp bounds must be scalars or have x's shape {x.shape}, "
                            f"got {b.shape}")
    return ShapedArray(x.shape, x.dtype, x.weak_type)


def _clamp_jvp(primals, tangents):
    lo, x, hi = primals
    out = clamp(lo, x, hi)
    t = tangents[1]
    if type(t) is Zero:
        return out, Zero(tangent_aval(get_aval(out)))
    inside = and_(gt(x, lo), lt(x, hi))
    return out, select_n(inside, _const(t, 0), t)


clamp_p = Primitive("clamp")
clamp_p.impl = _clamp_impl
clamp_p.abstract_eval = _clamp_abstract
clamp_p.weak_type_rule = lambda lo, x, hi: getattr(x, "weak_type", False)
clamp_p.jvp = _clamp_jvp
clamp_p.batch = lambda axis_size, vals, dims: _clamp_batch(axis_size, vals, dims)


def _clamp_batch(axis_size, vals, dims):
    from hlodiff.transforms.batching import bdim_at_front

    lo, x, hi = vals
    x = bdim_at_front(x, dims[1], axis_size)
    shape = get_aval(x).shape
    bounds = [
        v if (d is not_mapped and not get_aval(v).shape)
        else broadcast_to_shape(bdim_at_front(v, d, axis_size)
                                if d is not not_mapped else v, shape)
        for v, d in ((lo, dims[0]), (hi, dims[2]))
    ]
    return clamp(bounds[0], x, bounds[1]), 0


def clamp(lo, x, hi):
    return clamp_p.bind(lo, x, hi)


# ---------------------------------------------------------------------------------------------
# Thin wrappers (the lax-level API; no dtype promotion here)


def _binary(p):
    return lambda x, y: p.bind(x, y)


def _unary(p):
    return lambda x: p.bind(x)


add = _binary(add_p)
sub = _binary(sub_p)
mul = _binary(mul_p)
div = _binary(div_p)
rem = _binary(rem_p)
pow = _binary(pow_p)  # noqa: A001  (lax.pow, as in JAX)
max = _binary(max_p)  # noqa: A001
min = _binary(min_p)  # noqa: A001
atan2 = _binary(atan2_p)
nextafter = _binary(nextafter_p)
complex_ = _binary(complex_p)
eq = _binary(eq_p)
ne = _binary(ne_p)
lt = _binary(lt_p)
le = _binary(le_p)
gt = _binary(gt_p)
ge = _binary(ge_p)
and_ = _binary(and_p)
or_ = _binary(or_p)
xor = _binary(xor_p)
shift_left = _binary(shift_left_p)
shift_right_logical = _binary(shift_right_logical_p)
shift_right_arithmetic = _binary(shift_right_arithmetic_p)
sign = _unary(sign_p)
floor = _unary(floor_p)
ceil = _unary(ceil_p)
is_finite = _unary(is_finite_p)
exp = _unary(exp_p)
exp2 = _unary(exp2_p)
log = _unary(log_p)
log1p = _unary(log1p_p)
expm1 = _unary(expm1_p)
tanh = _unary(tanh_p)
logistic = _unary(logistic_p)
sin = _unary(sin_p)
cos = _unary(cos_p)
tan = _unary(tan_p)
asin = _unary(asin_p)
acos = _unary(acos_p)
atan = _unary(atan_p)
sinh = _unary(sinh_p)
cosh = _unary(cosh_p)
asinh = _unary(asinh_p)
acosh = _unary(acosh_p)
atanh = _unary(atanh_p)
sqrt = _unary(sqrt_p)
rsqrt = _unary(rsqrt_p)
cbrt = _unary(cbrt_p)
abs = _unary(abs_p)  # noqa: A001
square = _unary(square_p)
real = _unary(real_p)
imag = _unary(imag_p)
conj = _unary(conj_p)
not_ = _unary(not_p)
population_count = _unary(population_count_p)


def round(x, rounding_method=0):  # noqa: A001
    return round_p.bind(x, rounding_method=int(rounding_method))


# The shape and reduce families are written on this one; imported last to close the cycle without
# a function-level import on the batching/transposition hot paths.
from hlodiff.prims import reduce as rp  # noqa: E402
from hlodiff.prims import shape as sp  # noqa: E402
