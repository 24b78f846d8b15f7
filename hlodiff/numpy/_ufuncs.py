"""Elementwise functions of the numpy API, written on lax primitives with numpy-style promotion."""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes
from hlodiff.core import get_aval
from hlodiff.numpy._core import (
    promote_args,
    promote_args_inexact,
    promote_args_numeric,
    promote_dtypes_inexact,
    promote_dtypes,
    check_arraylike,
)
from hlodiff.prims import elementwise as ew


def _unary_inexact(name, prim):
    def fn(x, /):
        (x,) = promote_dtypes_inexact(name, x)
        return prim.bind(x)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name}, like `numpy.{name}` (integers promote to float)."
    return fn


def _binary(name, prim, promote=promote_args):
    def fn(x1, x2, /):
        x1, x2 = promote(name, x1, x2)
        return prim.bind(x1, x2)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name}, like `numpy.{name}`, with JAX's type promotion."
    return fn


exp = _unary_inexact("exp", ew.exp_p)
exp2 = _unary_inexact("exp2", ew.exp2_p)
log = _unary_inexact("log", ew.log_p)
log1p = _unary_inexact("log1p", ew.log1p_p)
expm1 = _unary_inexact("expm1", ew.expm1_p)
tanh = _unary_inexact("tanh", ew.tanh_p)
sin = _unary_inexact("sin", ew.sin_p)
cos = _unary_inexact("cos", ew.cos_p)
tan = _unary_inexact("tan", ew.tan_p)
arcsin = _unary_inexact("arcsin", ew.asin_p)
arccos = _unary_inexact("arccos", ew.acos_p)
arctan = _unary_inexact("arctan", ew.atan_p)
sinh = _unary_inexact("sinh", ew.sinh_p)
cosh = _unary_inexact("cosh", ew.cosh_p)
arcsinh = _unary_inexact("arcsinh", ew.asinh_p)
arccosh = _unary_inexact("arccosh", ew.acosh_p)
arctanh = _unary_inexact("arctanh", ew.atanh_p)
sqrt = _unary_inexact("sqrt", ew.sqrt_p)
cbrt = _unary_inexact("cbrt", ew.cbrt_p)
asin, acos, atan = arcsin, arccos, arctan
asinh, acosh, atanh = arcsinh, arccosh, arctanh


def log2(x, /):
    (x,) = promote_dtypes_inexact("log2", x)
    return ew.div(ew.log(x), ew._const(x, np.log(2)))


def log10(x, /):
    (x,) = promote_dtypes_inexact("log10", x)
    return ew.div(ew.log(x), ew._const(x, np.log(10)))


def rsqrt(x, /):
    (x,) = promote_dtypes_inexact("rsqrt", x)
    return ew.rsqrt(x)


add = _binary("add", ew.add_p)
subtract = _binary("subtract", ew.sub_p)
multiply = _binary("multiply", ew.mul_p)
maximum = _binary("maximum", ew.max_p)
minimum = _binary("minimum", ew.min_p)
arctan2 = _binary("arctan2", ew.atan2_p, promote_args_inexact)
atan2 = arctan2
nextafter = _binary("nextafter", ew.nextafter_p, promote_args_inexact)
equal = _binary("equal", ew.eq_p)
not_equal = _binary("not_equal", ew.ne_p)
less = _binary("less", ew.lt_p)
less_equal = _binary("less_equal", ew.le_p)
greater = _binary("greater", ew.gt_p)
greater_equal = _binary("greater_equal", ew.ge_p)
bitwise_and = _binary("bitwise_and", ew.and_p)
bitwise_or = _binary("bitwise_or", ew.or_p)
bitwise_xor = _binary("bitwise_xor", ew.xor_p)
left_shift = _binary("left_shift", ew.shift_left_p)


def right_shift(x1, x2, /):
    x1, x2 = promote_args("right_shift", x1, x2)
    if dtypes.is_integer(get_aval(x1).dtype) and np.dtype(get_aval(x1).dtype).kind == "u":
        return ew.shift_right_logical(x1, x2)
    return ew.shift_right_arithmetic(x1, x2)


def _logical(name, prim):
    def fn(x1, x2, /):
        x1, x2 = promote_args(name, x1, x2)
        return prim.bind(_to_bool(x1), _to_bool(x2))

    fn.__name__ = name
    return fn


def _to_bool(x):
    return x if get_aval(x).dtype == np.bool_ else ew.ne(x, ew._const(x, 0))


logical_and = _logical("logical_and", ew.and_p)
logical_or = _logical("logical_or", ew.or_p)
logical_xor = _logical("logical_xor", ew.xor_p)


def logical_not(x, /):
    (x,) = promote_dtypes("logical_not", x)
    return ew.not_(_to_bool(x))


def invert(x, /):
    (x,) = promote_dtypes("invert", x)
    return ew.not_(x)


bitwise_not = invert


def true_divide(x1, x2, /):
    x1, x2 = promote_args_inexact("true_divide", x1, x2)
    return ew.div(x1, x2)


divide = true_divide


def floor_divide(x1, x2, /):
    x1, x2 = promote_args_numeric("floor_divide", x1, x2)
    dtype = get_aval(x1).dtype
    if dtypes.is_integer(dtype):
        q = ew.div(x1, x2)
        r = ew.rem(x1, x2)
        fix = ew.and_(ew.ne(r, ew._const(r, 0)), ew.ne(ew.lt(r, ew._const(r, 0)),
                                                     ew.lt(x2, ew._const(x2, 0))))
        return ew.select_n(fix, q, ew.sub(q, ew._const(q, 1)))
    return ew.floor(ew.div(x1, x2))


def remainder(x1, x2, /):
    x1, x2 = promote_args_numeric("remainder", x1, x2)
    r = ew.rem(x1, x2)
    fix = ew.and_(ew.ne(r, ew._const(r, 0)), ew.ne(ew.lt(r, ew._const(r, 0)),
                                                 ew.lt(x2, ew._const(x2, 0))))
    return ew.select_n(fix, r, ew.add(r, x2))


mod = remainder


def fmod(x1, x2, /):
    x1, x2 = promote_args_numeric("fmod", x1, x2)
    return ew.rem(x1, x2)


def power(x1, x2, /):
    """x1 ** x2. An integer Python exponent uses `integer_pow` (exact, cheap to differentiate)."""
    check_arraylike("power", x1, x2)
    if isinstance(x2, (int, np.integer)) and not isinstance(x2, bool) and not isinstance(
            x1, (int, float, complex)):
        (x1,) = promote_dtypes("power", x1)
        return ew.integer_pow(x1, int(x2))
    x1, x2 = promote_args_numeric("power", x1, x2)
    dtype = get_aval(x1).dtype
    if dtypes.is_integer(dtype):
        return _integer_power_array(x1, x2)
    return ew.pow(x1, x2)


pow = power  # noqa: A001


def _integer_power_array(x, y):
    """Integer ** integer array by repeated squaring over the bits of y (like JAX)."""
    acc = ew.select_n(ew.ge(y, ew._const(y, 0)), ew._const(x, 0), ew._const(x, 1))
    acc = ew.add(acc, ew.mul(x, ew._const(x, 0)))
    base = x
    bits = np.iinfo(get_aval(y).dtype).bits
    for _ in range(bits):
        odd = ew.ne(ew.and_(y, ew._const(y, 1)), ew._const(y, 0))
        acc = ew.select_n(odd, acc, ew.mul(acc, base))
        base = ew.mul(base, base)
        y = ew.shift_right_logical(y, ew._const(y, 1))
    return acc


def float_power(x1, x2, /):
    x1, x2 = promote_args_inexact("float_power", x1, x2)
    return ew.pow(x1, x2)


def negative(x, /):
    (x,) = promote_dtypes("negative", x)
    return ew.neg(x)


def positive(x, /):
    (x,) = promote_dtypes("positive", x)
    return x


def absolute(x, /):
    (x,) = promote_dtypes("absolute", x)
    dtype = get_aval(x).dtype
    if dtypes.is_bool(dtype) or np.dtype(dtype).kind == "u":
        return x
    return ew.abs(x)


abs = absolute  # noqa: A001


def sign(x, /):
    (x,) = promote_dtypes("sign", x)
    if get_aval(x).dtype == np.bool_:
        return x
    return ew.sign(x)


def square(x, /):
    (x,) = promote_dtypes("square", x)
    return ew.integer_pow(x, 2)


def reciprocal(x, /):
    (x,) = promote_dtypes_inexact("reciprocal", x)
    return ew.integer_pow(x, -1)


def floor(x, /):
    (x,) = promote_dtypes("floor", x)
    return x if not dtypes.is_inexact(get_aval(x).dtype) else ew.floor(x)


def ceil(x, /):
    (x,) = promote_dtypes("ceil", x)
    return x if not dtypes.is_inexact(get_aval(x).dtype) else ew.ceil(x)


def trunc(x, /):
    (x,) = promote_dtypes("trunc", x)
    if not dtypes.is_inexact(get_aval(x).dtype):
        return x
    return ew.select_n(ew.lt(x, ew._const(x, 0)), ew.floor(x), ew.ceil(x))


fix = trunc


def round(a, decimals: int = 0, out=None):  # noqa: A001
    """Rounds half to even, like numpy (and JAX)."""
    (a,) = promote_dtypes("round", a)
    dtype = get_aval(a).dtype
    if not dtypes.is_inexact(dtype):
        return a
    if dtypes.is_complex(dtype):
        return ew.complex_(round(ew.real(a), decimals), round(ew.imag(a), decimals))
    if decimals == 0:
        return ew.round(a, 1)
    factor = ew._const(a, 10.0 ** decimals)
    return ew.div(ew.round(ew.mul(a, factor), 1), factor)


around = round
rint = lambda x, /: round(x)  # noqa: E731


def real(val, /):
    (val,) = promote_dtypes("real", val)
    return ew.real(val) if dtypes.is_complex(get_aval(val).dtype) else val


def imag(val, /):
    (val,) = promote_dtypes("imag", val)
    if dtypes.is_complex(get_aval(val).dtype):
        return ew.imag(val)
    from hlodiff.numpy._creation import zeros_like

    return zeros_like(val)


def conjugate(x, /):
    (x,) = promote_dtypes("conjugate", x)
    return ew.conj(x) if dtypes.is_complex(get_aval(x).dtype) else x


conj = conjugate


def angle(z, deg: bool = False):
    (z,) = promote_dtypes_inexact("angle", z)
    if dtypes.is_complex(get_aval(z).dtype):
        out = ew.atan2(ew.imag(z), ew.real(z))
    else:
        out = ew.atan2(ew.mul(z, ew._const(z, 0)), z)
    return ew.mul(out, ew._const(out, 180 / np.pi)) if deg else out


def clip(arr=None, /, min=None, max=None, *, a=None, a_min=None, a_max=None):  # noqa: A002
    """Clips `arr` to [min, max] (either may be None)."""
    x = arr if arr is not None else a
    lo = min if min is not None else a_min
    hi = max if max is not None else a_max
    if lo is not None:
        x = maximum(lo, x)
    if hi is not None:
        x = minimum(hi, x)
    return x


def logaddexp(x1, x2, /):
    """log(exp(x1) + exp(x2)) without overflow; the gradient at x1 == x2 == -inf is finite."""
    x1, x2 = promote_args_inexact("logaddexp", x1, x2)
    amax = ew.max(x1, x2)
    delta = ew.sub(x1, x2)
    finite = ew.is_finite(delta)
    softplus = ew.log1p(ew.exp(ew.neg(ew.abs(delta))))
    return ew.select_n(finite, ew.add(x1, x2), ew.add(amax, softplus))


def logaddexp2(x1, x2, /):
    x1, x2 = promote_args_inexact("logaddexp2", x1, x2)
    ln2 = ew._const(x1, np.log(2))
    return ew.div(logaddexp(ew.mul(x1, ln2), ew.mul(x2, ln2)), ln2)


def hypot(x1, x2, /):
    x1, x2 = promote_args_inexact("hypot", x1, x2)
    return ew.sqrt(ew.add(ew.mul(x1, x1), ew.mul(x2, x2)))


def deg2rad(x, /):
    (x,) = promote_dtypes_inexact("deg2rad", x)
    return ew.mul(x, ew._const(x, np.pi / 180))


def rad2deg(x, /):
    (x,) = promote_dtypes_inexact("rad2deg", x)
    return ew.mul(x, ew._const(x, 180 / np.pi))


radians, degrees = deg2rad, rad2deg


def sinc(x, /):
    (x,) = promote_dtypes_inexact("sinc", x)
    is_zero = ew.eq(x, ew._const(x, 0))
    safe = ew.select_n(is_zero, x, ew._const(x, 1))
    pix = ew.mul(safe, ew._const(x, np.pi))
    return ew.select_n(is_zero, ew.div(ew.sin(pix), pix), ew._const(x, 1))


def heaviside(x1, x2, /):
    x1, x2 = promote_args_inexact("heaviside", x1, x2)
    zero = ew._const(x1, 0)
    pos = ew.select_n(ew.gt(x1, zero), ew.mul(x1, zero), ew.add(ew.mul(x1, zero),
                                                                  ew._const(x1, 1)))
    return ew.select_n(ew.eq(x1, zero), pos, ew.add(x2, ew.mul(x1, zero)))


def copysign(x1, x2, /):
    x1, x2 = promote_args_inexact("copysign", x1, x2)
    neg_sign = ew.lt(x2, ew._const(x2, 0))
    neg_sign = ew.or_(neg_sign, ew.and_(ew.eq(x2, ew._const(x2, 0)),
                                        ew.lt(ew.div(ew._const(x2, 1), x2), ew._const(x2, 0))))
    mag = ew.abs(x1)
    return ew.select_n(neg_sign, mag, ew.neg(mag))


def signbit(x, /):
    (x,) = promote_dtypes("signbit", x)
    if not dtypes.is_inexact(get_aval(x).dtype):
        return ew.lt(x, ew._const(x, 0))
    zero = ew._const(x, 0)
    return ew.or_(ew.lt(x, zero), ew.and_(ew.eq(x, zero), ew.lt(ew.div(ew._const(x, 1), x), zero)))


def isfinite(x, /):
    (x,) = promote_dtypes("isfinite", x)
    dtype = get_aval(x).dtype
    if dtypes.is_complex(dtype):
        return ew.and_(ew.is_finite(ew.real(x)), ew.is_finite(ew.imag(x)))
    if not dtypes.is_inexact(dtype):
        return ew.eq(x, x)
    return ew.is_finite(x)


def isnan(x, /):
    (x,) = promote_dtypes("isnan", x)
    dtype = get_aval(x).dtype
    if dtypes.is_complex(dtype):
        return ew.or_(isnan(ew.real(x)), isnan(ew.imag(x)))
    return ew.ne(x, x)


def isinf(x, /):
    (x,) = promote_dtypes("isinf", x)
    dtype = get_aval(x).dtype
    if dtypes.is_complex(dtype):
        return ew.or_(isinf(ew.real(x)), isinf(ew.imag(x)))
    if not dtypes.is_inexact(dtype):
        return ew.ne(x, x)
    return ew.eq(ew.abs(x), ew._const(x, np.inf))


def isposinf(x, /):
    (x,) = promote_dtypes("isposinf", x)
    return ew.eq(x, ew._const(x, np.inf)) if dtypes.is_inexact(get_aval(x).dtype) else ew.ne(x, x)


def isneginf(x, /):
    (x,) = promote_dtypes("isneginf", x)
    return ew.eq(x, ew._const(x, -np.inf)) if dtypes.is_inexact(get_aval(x).dtype) else ew.ne(
        x, x)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    (x,) = promote_dtypes("nan_to_num", x)
    dtype = get_aval(x).dtype
    if not dtypes.is_inexact(dtype):
        return x
    info = dtypes.finfo(dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = ew.select_n(isnan(x), x, ew._const(x, nan))
    x = ew.select_n(isposinf(x), x, ew._const(x, posinf))
    return ew.select_n(isneginf(x), x, ew._const(x, neginf))


def where(condition, x=None, y=None, /):
    """`x` where `condition` else `y` (with broadcasting). The one-argument form needs a
    concrete condition, since its output size depends on the values."""
    if x is None and y is None:
        from hlodiff.numpy._indexing import nonzero

        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("Either both or neither of the x and y arguments should be provided "
                         "to hlodiff.numpy.where.")
    check_arraylike("where", condition, x, y)
    x, y = promote_dtypes("where", x, y)
    cond = condition if get_aval(condition).dtype == np.bool_ else _to_bool(
        promote_dtypes("where", condition)[0])
    cond, x, y = _broadcast_all("where", cond, x, y)
    return ew.select_n(cond, y, x)


def _broadcast_all(name, *args):
    from hlodiff.numpy._core import promote_shapes

    return promote_shapes(name, *args)


def sigmoid(x):
    (x,) = promote_dtypes_inexact("sigmoid", x)
    return ew.logistic(x)
