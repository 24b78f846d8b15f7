"""Lowering rules of the elementwise primitives (hlodiff/prims/elementwise.py) and `add_any`.

N-ary ops first broadcast rank-0 and size-1 operands to the output shape (JAX's implicit
broadcasting), then apply one StableHLO op. Where IREE's op differs from JAX/XLA semantics
(`power` at negative bases, float->int conversion out of range, shifts out of range) the rule
spells the semantics out; functions IREE computes inaccurately or cannot link (float32 sin/cos,
float64 sin/atan2/fmod/expm1, complex functions) come from libm.py and complex_math.py.
"""

from __future__ import annotations

import math

import numpy as np

from hlodiff import dtypes
from hlodiff.prims import elementwise as ew
from hlodiff.transforms.jvp import add_any_p

from .. import complex_math as cm
from .. import hlo, libm
from ..emitter import aval
from ..registry import register


def _bcast(ctx, *args):
    shape = ctx.avals_out[0].shape
    return [hlo.broadcast_to(ctx.b, a, shape) for a in args]


def _unop(prim, name):
    def rule(ctx, x):
        return _libm(ctx, x) or hlo.unary(ctx.b, name, x, ctx.avals_out[0].dtype)

    register(prim)(rule)


_COMPLEX = {
    ew.exp_p: cm.cexp, ew.exp2_p: cm.cexp2, ew.log_p: cm.clog,
    ew.log1p_p: cm.clog1p, ew.expm1_p: cm.cexpm1, ew.sqrt_p: cm.csqrt,
    ew.rsqrt_p: cm.crsqrt, ew.sin_p: cm.csin, ew.cos_p: cm.ccos, ew.tan_p: cm.ctan,
    ew.tanh_p: cm.ctanh, ew.sinh_p: cm.csinh, ew.cosh_p: cm.ccosh,
    ew.asin_p: cm.casin, ew.acos_p: cm.cacos, ew.atan_p: cm.catan,
    ew.asinh_p: cm.casinh, ew.acosh_p: cm.cacosh, ew.atanh_p: cm.catanh,
    ew.logistic_p: cm.clogistic,
}

# Functions IREE compiles wrongly or not at all, by dtype (see lowering/libm.py); float16 and
# bfloat16 compute their float32 entries in float32.
_LIBM = {
    np.dtype(np.float32): {
        ew.sin_p: libm.sin, ew.cos_p: libm.cos, ew.tan_p: libm.tan, ew.asin_p: libm.asin,
        ew.acos_p: libm.acos, ew.atan_p: libm.atan, ew.atan2_p: libm.atan2,
        ew.sinh_p: libm.sinh, ew.cosh_p: libm.cosh, ew.cbrt_p: libm.cbrt,
    },
    np.dtype(np.float64): {
        ew.sin_p: libm.sin, ew.cos_p: libm.cos, ew.tan_p: libm.tan, ew.tanh_p: libm.tanh,
        ew.cbrt_p: libm.cbrt, ew.asin_p: libm.asin, ew.acos_p: libm.acos, ew.atan_p: libm.atan,
        ew.atan2_p: libm.atan2, ew.rem_p: libm.fmod, ew.expm1_p: libm.expm1,
        ew.log1p_p: libm.log1p, ew.sinh_p: libm.sinh, ew.cosh_p: libm.cosh,
        ew.asinh_p: libm.asinh, ew.acosh_p: libm.acosh, ew.atanh_p: libm.atanh,
    },
    np.dtype(np.complex64): _COMPLEX,
    np.dtype(np.complex128): _COMPLEX,
}


def _libm(ctx, *args):
    """The libm.py expansion of this equation, if IREE cannot compile the plain op (or None)."""
    b, dtype = ctx.b, args[0].dtype
    if dtype in (dtypes.float16, dtypes.bfloat16):
        fn = _LIBM[np.dtype(np.float32)].get(ctx.primitive)
        if fn is None:
            return None
        out = fn(b, *[hlo.convert(b, a, np.float32) for a in args])
        return hlo.convert(b, out, dtype)
    fn = _LIBM.get(dtype, {}).get(ctx.primitive)
    return fn(b, *args) if fn is not None else None


def _binop(prim, name):
    def rule(ctx, x, y):
        x, y = _bcast(ctx, x, y)
        return _libm(ctx, x, y) or hlo.binary(ctx.b, name, x, y, ctx.avals_out[0].dtype)

    register(prim)(rule)


# ---------------------------------------------------------------------------------------------
# Unary ops that are one StableHLO (or CHLO) op

for _prim, _name in [
    (ew.neg_p, "negate"),
    (ew.floor_p, "floor"),
    (ew.ceil_p, "ceil"),
    (ew.is_finite_p, "is_finite"),
    (ew.exp_p, "exponential"),
    (ew.log_p, "log"),
    (ew.log1p_p, "log_plus_one"),
    (ew.expm1_p, "exponential_minus_one"),
    (ew.tanh_p, "tanh"),
    (ew.logistic_p, "logistic"),
    (ew.sin_p, "sine"),
    (ew.cos_p, "cosine"),
    (ew.tan_p, "tan"),
    (ew.sqrt_p, "sqrt"),
    (ew.rsqrt_p, "rsqrt"),
    (ew.cbrt_p, "cbrt"),
    (ew.real_p, "real"),
    (ew.imag_p, "imag"),
    (ew.population_count_p, "popcnt"),
]:
    _unop(_prim, _name)

# CHLO ops: IREE's input pipeline decomposes them (as XLA does for JAX).
for _prim, _name in [
    (ew.asin_p, "asin"),
    (ew.acos_p, "acos"),
    (ew.atan_p, "atan"),
    (ew.sinh_p, "sinh"),
    (ew.cosh_p, "cosh"),
    (ew.asinh_p, "asinh"),
    (ew.acosh_p, "acosh"),
    (ew.atanh_p, "atanh"),
]:
    register(_prim)(lambda ctx, x, _name=_name: _libm(ctx, x) or ctx.b.op(f"chlo.{_name}", [x],
                                                                              x.aval))


@register(ew.not_p)
def _not_lower(ctx, x):
    return hlo.not_(ctx.b, x)


@register(ew.stop_gradient_p)
def _stop_gradient_lower(ctx, x):
    return x


@register(ew.sign_p)
def _sign_lower(ctx, x):
    b = ctx.b
    if hlo.is_unsigned(x.dtype):  # stablehlo.sign takes no unsigned types: x != 0
        return hlo.convert(b, hlo.compare(b, x, hlo.full_like(b, x, 0), "NE"), x.dtype)
    return hlo.unary(b, "sign", x)


@register(ew.abs_p)
def _abs_lower(ctx, x):
    if hlo.is_unsigned(x.dtype):
        return x
    return hlo.unary(ctx.b, "abs", x, ctx.avals_out[0].dtype)


@register(ew.round_p)
def _round_lower(ctx, x, rounding_method=0):
    # JAX's RoundingMethod: 0 = AWAY_FROM_ZERO, 1 = TO_NEAREST_EVEN.
    name = "round_nearest_even" if int(rounding_method) == 1 else "round_nearest_afz"
    return hlo.unary(ctx.b, name, x)


@register(ew.exp2_p)
def _exp2_lower(ctx, x):
    # 2^x = exp(x log 2), JAX's lowering.
    b = ctx.b
    ln2 = hlo.full_like(b, x, math.log(2.0))
    return _libm(ctx, x) or hlo.unary(b, "exponential", hlo.mul(b, x, ln2))


@register(ew.square_p)
def _square_lower(ctx, x):
    return hlo.mul(ctx.b, x, x)


@register(ew.conj_p)
def _conj_lower(ctx, x):
    b = ctx.b
    part = dtypes.real_dtype(x.dtype)
    re = hlo.unary(b, "real", x, part)
    im = hlo.neg(b, hlo.unary(b, "imag", x, part))
    return b.op("stablehlo.complex", [re, im], x.aval)


@register(ew.integer_pow_p)
def _integer_pow_lower(ctx, x, *, y):
    """x^y by repeated squaring (as JAX lowers it); a negative y takes the reciprocal."""
    b = ctx.b
    if y == 0:
        return hlo.full_like(b, x, 1)
    if y < 0 and not dtypes.is_inexact(x.dtype):
        raise ValueError("integer_pow with a negative exponent needs a floating-point base")
    acc, base, n = None, x, abs(y)
    while n:
        if n & 1:
            acc = base if acc is None else hlo.mul(b, acc, base)
        n >>= 1
        if n:
            base = hlo.mul(b, base, base)
    return hlo.div(b, hlo.full_like(b, x, 1), acc) if y < 0 else acc


# ---------------------------------------------------------------------------------------------
# Binary arithmetic

for _prim, _name in [
    (ew.add_p, "add"),
    (ew.sub_p, "subtract"),
    (ew.mul_p, "multiply"),
    # Integer division by zero gives -1 and remainder x, INT_MIN / -1 gives INT_MIN: XLA's (and
    # IREE's) semantics, which JAX inherits.
    (ew.div_p, "divide"),
    (ew.rem_p, "remainder"),
    (ew.atan2_p, "atan2"),
    (ew.complex_p, "complex"),
]:
    _binop(_prim, _name)


@register(add_any_p)
def _add_any_lower(ctx, x, y):
    x, y = _bcast(ctx, x, y)
    name = "or" if hlo.is_bool(x.dtype) else "add"
    return hlo.binary(ctx.b, name, x, y)


def _minmax(name, bool_name, direction):
    def rule(ctx, x, y):
        x, y = _bcast(ctx, x, y)
        if hlo.is_complex(x.dtype):  # numpy's order: by real part, then imaginary part
            return hlo.select(ctx.b, _lexicographic(ctx.b, x, y, direction), x, y)
        return hlo.binary(ctx.b, bool_name if hlo.is_bool(x.dtype) else name, x, y)

    return rule


def _lexicographic(b, x, y, direction):
    """x `direction` y (GT or LT) for complex x, y, comparing real parts, then imaginary."""
    part = dtypes.real_dtype(x.dtype)
    (rx, ix), (ry, iy) = [(hlo.unary(b, "real", v, part), hlo.unary(b, "imag", v, part))
                          for v in (x, y)]
    real_wins = hlo.compare(b, rx, ry, direction)
    tie = hlo.and_(b, hlo.compare(b, rx, ry, "EQ"), hlo.compare(b, ix, iy, direction))
    return hlo.or_(b, real_wins, tie)


register(ew.max_p)(_minmax("maximum", "or", "GT"))
register(ew.min_p)(_minmax("minimum", "and", "LT"))


@register(ew.nextafter_p)
def _nextafter_lower(ctx, x, y):
    x, y = _bcast(ctx, x, y)
    return ctx.b.op("chlo.next_after", [x, y], x.aval)


@register(ew.pow_p)
def _pow_lower(ctx, x, y):
    x, y = _bcast(ctx, x, y)
    if hlo.is_complex(x.dtype):
        return _complex_pow(ctx.b, x, y)
    return _real_pow(ctx.b, x, y)


def _real_pow(b, x, y):
    """C99 pow. IREE's `power` is exp(y log x): nan for x < 0, and at 0^0, 1^nan, (-1)^inf.

    pow(x, y) = sign * |x|^y with sign = -1 iff x's sign bit is set and y is an odd integer;
    nan when x < 0 (finite) and y is not an integer; 1 when y == 0 or x == 1 or |x| == 1 with
    y = +-inf.
    """
    one, zero = hlo.full_like(b, x, 1), hlo.full_like(b, x, 0)
    mag = hlo.binary(b, "power", hlo.unary(b, "abs", x), y)
    y_int = hlo.compare(b, hlo.unary(b, "floor", y), y, "EQ")
    y_finite = hlo.unary(b, "is_finite", y, dtypes.bool_)
    half_y = hlo.mul(b, y, hlo.full_like(b, y, 0.5))
    y_odd = hlo.and_(b, hlo.and_(b, y_int, y_finite),
                     hlo.compare(b, hlo.unary(b, "floor", half_y), half_y, "NE"))
    itype = hlo.int_of_width(x.dtype)
    x_neg = hlo.compare(b, hlo.bitcast(b, x, itype), hlo.full(b, 0, itype, x.shape), "LT")
    out = hlo.select(b, hlo.and_(b, x_neg, y_odd), hlo.neg(b, mag), mag)
    x_finite = hlo.unary(b, "is_finite", x, dtypes.bool_)
    neg_x = hlo.compare(b, x, zero, "LT")
    bad = hlo.and_(b, hlo.and_(b, neg_x, x_finite), hlo.not_(b, y_int))
    out = hlo.select(b, bad, hlo.full_like(b, x, np.nan), out)
    abs_one = hlo.compare(b, hlo.unary(b, "abs", x), one, "EQ")
    unit = hlo.or_(b, hlo.compare(b, x, one, "EQ"), hlo.and_(b, abs_one, hlo.not_(b, y_finite)))
    unit = hlo.or_(b, unit, hlo.compare(b, y, zero, "EQ"))
    return hlo.select(b, unit, one, out)


def _complex_pow(b, x, y):
    # exp(y log x) (libm.py: IREE's own complex ops sit on its float32 sin/cos), and at x == 0:
    # 0^0 = 1, 0^y = 0 for Re(y) > 0.
    out = cm.cpow(b, x, y)
    part = dtypes.real_dtype(x.dtype)
    zero = hlo.full_like(b, x, 0)
    x_zero = hlo.compare(b, x, zero, "EQ")
    y_zero = hlo.compare(b, y, zero, "EQ")
    y_re_pos = hlo.compare(b, hlo.unary(b, "real", y, part), hlo.full(b, 0, part, y.shape), "GT")
    out = hlo.select(b, hlo.and_(b, x_zero, y_re_pos), zero, out)
    return hlo.select(b, y_zero, hlo.full_like(b, x, 1), out)


# ---------------------------------------------------------------------------------------------
# Comparisons and logic

_DIRECTIONS = {ew.eq_p: "EQ", ew.ne_p: "NE", ew.lt_p: "LT", ew.le_p: "LE", ew.gt_p: "GT",
               ew.ge_p: "GE"}


def _compare_rule(direction):
    def rule(ctx, x, y):
        x, y = _bcast(ctx, x, y)
        if hlo.is_complex(x.dtype) and direction not in ("EQ", "NE"):
            return _complex_order(ctx.b, x, y, direction)
        return hlo.compare(ctx.b, x, y, direction)

    return rule


def _complex_order(b, x, y, direction):
    """numpy's lexicographic order on complex numbers: by real part, then imaginary part."""
    part = dtypes.real_dtype(x.dtype)
    xr, yr = hlo.unary(b, "real", x, part), hlo.unary(b, "real", y, part)
    xi, yi = hlo.unary(b, "imag", x, part), hlo.unary(b, "imag", y, part)
    strict = direction[0] + "T"
    first = hlo.compare(b, xr, yr, strict)
    tie = hlo.and_(b, hlo.compare(b, xr, yr, "EQ"), hlo.compare(b, xi, yi, direction))
    return hlo.or_(b, first, tie)


for _prim, _dir in _DIRECTIONS.items():
    register(_prim)(_compare_rule(_dir))

_binop(ew.and_p, "and")
_binop(ew.or_p, "or")
_binop(ew.xor_p, "xor")


def _shift_rule(kind):
    """Shifts with XLA's out-of-range semantics: an amount outside [0, bits) (read unsigned)
    gives 0 for left and logical right shifts and the sign fill for arithmetic right shifts."""

    def rule(ctx, x, y):
        b = ctx.b
        x, y = _bcast(ctx, x, y)
        if hlo.is_bool(x.dtype):  # shift the bools as uint8 values, like numpy
            u8 = np.dtype(np.uint8)
            out = _shift(b, kind, hlo.convert(b, x, u8), hlo.convert(b, y, u8))
            return hlo.compare(b, out, hlo.full_like(b, out, 0), "NE")
        return _shift(b, kind, x, y)

    return rule


def _shift(b, kind, x, y):
    bits = x.dtype.itemsize * 8
    utype = hlo.int_of_width(x.dtype, signed=False)
    y_u = hlo.bitcast(b, y, utype) if y.dtype != utype else y
    oob = hlo.compare(b, y_u, hlo.full(b, bits, utype, y.shape), "GE")
    if kind == "shift_right_arithmetic":
        # XLA shifts the bits arithmetically for unsigned types too.
        stype = hlo.int_of_width(x.dtype, signed=True)
        xs = hlo.bitcast(b, x, stype) if x.dtype != stype else x
        ys = hlo.bitcast(b, y, stype) if y.dtype != stype else y
        amount = hlo.select(b, oob, hlo.full(b, bits - 1, stype, y.shape), ys)
        out = hlo.binary(b, kind, xs, amount)
        return hlo.bitcast(b, out, x.dtype) if out.dtype != x.dtype else out
    safe = hlo.select(b, oob, hlo.full_like(b, y, 0), y)
    return hlo.select(b, oob, hlo.full_like(b, x, 0), hlo.binary(b, kind, x, safe))


register(ew.shift_left_p)(_shift_rule("shift_left"))
register(ew.shift_right_logical_p)(_shift_rule("shift_right_logical"))
register(ew.shift_right_arithmetic_p)(_shift_rule("shift_right_arithmetic"))


# ---------------------------------------------------------------------------------------------
# Conversion, select, clamp


@register(ew.convert_element_type_p)
def _convert_lower(ctx, x, *, new_dtype, weak_type=False, **_):
    return convert_element_type(ctx.b, x, new_dtype)


def convert_element_type(b, x, new_dtype):
    """JAX's conversion semantics: complex -> real takes the real part; -> bool is `x != 0`;
    float -> int truncates, maps nan to 0 and saturates at the integer range (as XLA does)."""
    new_dtype = np.dtype(new_dtype)
    if new_dtype == x.dtype:
        return x
    if hlo.is_complex(x.dtype) and not hlo.is_complex(new_dtype):
        x = hlo.unary(b, "real", x, dtypes.real_dtype(x.dtype))
    if hlo.is_bool(new_dtype):
        out = hlo.compare(b, x, hlo.full_like(b, x, 0), "NE")
        return out if new_dtype == out.dtype else hlo.convert(b, out, new_dtype)
    if hlo.is_float(x.dtype) and new_dtype.kind in "iu":
        return _float_to_int(b, x, new_dtype)
    if hlo.is_complex(new_dtype) and not hlo.is_complex(x.dtype) and not hlo.is_float(x.dtype):
        x = hlo.convert(b, x, dtypes.real_dtype(new_dtype))
    return hlo.convert(b, x, new_dtype)


def _float_to_int(b, x, new_dtype):
    # Bounds as floats: the int range is [lo, hi) with lo = -2^(n-1) (or 0) and hi = 2^(n-1) (or
    # 2^n); both are powers of two, exact in every float type (inf in float16 for wide ints).
    info = np.iinfo(new_dtype)
    with np.errstate(over="ignore"):
        hi = np.asarray(float(info.max) + 1, x.dtype)
    lo = float(info.min) if info.min else -1.0
    too_big = hlo.compare(b, x, hlo.full_like(b, x, hi), "GE")
    too_small = hlo.compare(b, x, hlo.full_like(b, x, lo), "LE")
    invalid = hlo.or_(b, hlo.or_(b, too_big, too_small), hlo.is_nan(b, x))
    safe = hlo.select(b, invalid, hlo.full_like(b, x, 0), x)
    out = hlo.convert(b, safe, new_dtype)
    out = hlo.select(b, too_big, hlo.full(b, info.max, new_dtype, x.shape), out)
    return hlo.select(b, too_small, hlo.full(b, info.min, new_dtype, x.shape), out)


@register(ew.select_n_p)
def _select_n_lower(ctx, which, *cases):
    b = ctx.b
    which, *cases = _bcast(ctx, which, *cases)
    if len(cases) == 1:
        return cases[0]
    if hlo.is_bool(which.dtype):
        return hlo.select(b, which, cases[1], cases[0])
    return _select_tree(b, which, cases, 0)


def _select_tree(b, which, cases, offset):
    """A balanced tree of selects on an integer selector (JAX's lowering)."""
    if len(cases) == 1:
        return cases[0]
    mid = len(cases) // 2
    pred = hlo.compare(b, which, hlo.full_like(b, which, offset + mid), "LT")
    return hlo.select(b, pred, _select_tree(b, which, cases[:mid], offset),
                      _select_tree(b, which, cases[mid:], offset + mid))


@register(ew.clamp_p)
def _clamp_lower(ctx, lo, x, hi):
    return ctx.b.op("stablehlo.clamp", [lo, x, hi], aval(x.shape, x.dtype))
