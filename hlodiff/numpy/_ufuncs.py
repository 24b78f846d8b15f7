"""Elementwise functions of the numpy API, written on lax primitives with JAX's type promotion.

Each function promotes its operands the way `jax.numpy` does (`promote_args*` in `_core`), checks
the dtypes JAX rejects (eager evaluation skips the primitives' shape rules, so the check lives
here), and binds primitives.

Weak types follow JAX's implementations, which differ only in their constants: `_const` is
`lax._const` (weak for a weak scalar operand, else strong: `hnp.deg2rad(90.0)` is weak, the same
on a weak `[3]` array is strong), `_strong_const` is a numpy constant (always strong) and
`_literal` a Python number in JAX's code (always weak).
"""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Array
from hlodiff.numpy._core import (
    check_arraylike,
    promote_args,
    promote_args_inexact,
    promote_args_numeric,
    promote_dtypes,
    promote_dtypes_inexact,
    promote_dtypes_numeric,
    promote_shapes,
)
from hlodiff.prims import elementwise as ew

# --- dtype checks and constants ---------------------------------------------------------------

_BOOL = frozenset([dtypes.bool_])
_INTS = frozenset(
    [
        dtypes.int8,
        dtypes.int16,
        dtypes.int32,
        dtypes.int64,
        dtypes.uint8,
        dtypes.uint16,
        dtypes.uint32,
        dtypes.uint64,
    ]
)
_FLOATS = frozenset([dtypes.bfloat16, dtypes.float16, dtypes.float32, dtypes.float64])
_COMPLEX = frozenset([dtypes.complex64, dtypes.complex128])
_KIND_NAMES = (
    (_BOOL, "bool"),
    (_INTS, "integer"),
    (_FLOATS, "floating"),
    (_COMPLEX, "complexfloating"),
)
_NUMBERS = _INTS | _FLOATS | _COMPLEX
_REALS = _BOOL | _INTS | _FLOATS
_INTEGRAL = _BOOL | _INTS


def _check(name: str, x, allowed: frozenset, error=TypeError):
    """Raises like JAX when `x`'s dtype is not among `allowed` (a set lookup on the hot path)."""
    if x.dtype not in allowed:
        kinds = ", ".join(k for s, k in _KIND_NAMES if s <= allowed)
        raise error(
            f"{name} does not accept dtype {x.dtype.name}. Accepted dtypes are subtypes of {kinds}."
        )
    return x


def _const(x, value):
    """JAX's `lax._const(x, value)`: weak if `x` is a weak scalar, else a strong 0-d array."""
    c = np.array(value, x.dtype)
    return Array(c, True) if x.weak_type and not x.shape else c


def _strong_const(x, value):
    return np.array(value, x.dtype)


def _literal(x, value):
    """A Python number in JAX's code, e.g. `quotient - 1`: weak, in `x`'s dtype."""
    return Array(np.array(value, x.dtype), True)


def _where_same(cond, x, y):
    """`jnp.where` on operands of one dtype: weak only if both are (shapes broadcast)."""
    if getattr(x, "weak_type", False) != getattr(y, "weak_type", False):
        x, y = _strong(x), _strong(y)
    return ew.select_n(cond, y, x)


def _strong(x):
    """`x` with a strong dtype, where JAX's implementation gives a strong result."""
    return ew.convert_element_type(x, x.dtype, False) if getattr(x, "weak_type", False) else x


def _full_like_bool(x, value: bool):
    """A strong bool array of `x`'s shape (JAX: `lax.full_like(x, value, dtype=bool)`)."""
    return Array(np.broadcast_to(np.array(value), x.shape), False)


def _is_complex(x) -> bool:
    return x.dtype in _COMPLEX


def _is_inexact(x) -> bool:
    return x.dtype in _FLOATS or x.dtype in _COMPLEX


def _to_bool(x):
    return x if x.dtype == dtypes.bool_ else ew.ne(x, _const(x, 0))


# --- families ---------------------------------------------------------------------------------


def _unary_inexact(name, prim, allowed=None):
    if allowed is None:  # every inexact dtype: nothing to check after promotion

        def fn(x, /):
            (x,) = promote_dtypes_inexact(name, x)
            return prim.bind(x)
    else:

        def fn(x, /):
            (x,) = promote_dtypes_inexact(name, x)
            return prim.bind(_check(name, x, allowed))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name}, like `numpy.{name}` (bool and integers promote to float)."
    return fn


def _binary(name, prim, promote=promote_args, allowed=None):
    if allowed is None:

        def fn(x1, x2, /):
            return prim.bind(*promote(name, x1, x2))
    else:

        def fn(x1, x2, /):
            x1, x2 = promote(name, x1, x2)
            return prim.bind(_check(name, x1, allowed), x2)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name}, like `numpy.{name}`, with JAX's type promotion."
    return fn


# --- exponentials, logarithms, trigonometry -----------------------------------------------------

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
cbrt = _unary_inexact("cbrt", ew.cbrt_p, _REALS)
asin, acos, atan = arcsin, arccos, arctan
asinh, acosh, atanh = arcsinh, arccosh, arctanh


def _log_base(name, base):
    def fn(x, /):
        (x,) = promote_dtypes_inexact(name, x)
        # JAX divides by a strong log(base): the result is strong.
        if _is_complex(x):
            r = ew.log(x)
            scale = np.array(1 / np.log(base), dtypes.real_dtype(x.dtype))
            return ew.complex_(ew.mul(ew.real(r), scale), ew.mul(ew.imag(r), scale))
        return ew.div(ew.log(x), np.array(np.log(base), x.dtype))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Base-{base} logarithm, elementwise, like `numpy.{name}`."
    return fn


log2 = _log_base("log2", 2)
log10 = _log_base("log10", 10)


def rsqrt(x, /):
    """1 / sqrt(x), elementwise."""
    (x,) = promote_dtypes_inexact("rsqrt", x)
    return ew.rsqrt(x)


def _scale(name, factor, doc):
    def fn(x, /):
        (x,) = promote_dtypes_inexact(name, x)
        return ew.mul(x, _const(x, factor))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


deg2rad = _scale("deg2rad", np.pi / 180, "Degrees to radians, elementwise.")
rad2deg = _scale("rad2deg", 180 / np.pi, "Radians to degrees, elementwise.")
radians = _scale("radians", np.pi / 180, "Degrees to radians, elementwise (alias of deg2rad).")
degrees = _scale("degrees", 180 / np.pi, "Radians to degrees, elementwise (alias of rad2deg).")


def sinc(x, /):
    """sin(pi x) / (pi x), with the limit 1 at x == 0."""
    (x,) = promote_dtypes_inexact("sinc", x)
    is_zero = ew.eq(x, _const(x, 0))
    pi_x = ew.mul(x, _const(x, np.pi))
    safe = ew.select_n(is_zero, pi_x, _const(x, 1))
    return ew.select_n(
        is_zero, ew.div(ew.sin(safe), safe), ew.add(ew.mul(pi_x, _const(x, 0)), _const(x, 1))
    )


def sigmoid(x, /):
    """The logistic function 1 / (1 + exp(-x))."""
    (x,) = promote_dtypes_inexact("sigmoid", x)
    return ew.logistic(x)


# --- arithmetic -------------------------------------------------------------------------------

def _bool_as(name, prim, bool_prim):
    """numpy's `name`, which on booleans is `bool_prim` (add: or, multiply: and), as in JAX."""

    def fn(x1, x2, /):
        x1, x2 = promote_args(name, x1, x2)
        return (bool_prim if x1.dtype == dtypes.bool_ else prim).bind(x1, x2)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name}, like `numpy.{name}`, with JAX's type promotion."
    return fn


add = _bool_as("add", ew.add_p, ew.or_p)
multiply = _bool_as("multiply", ew.mul_p, ew.and_p)
subtract = _binary("subtract", ew.sub_p, allowed=_NUMBERS)
maximum = _binary("maximum", ew.max_p)
minimum = _binary("minimum", ew.min_p)
nextafter = _binary("nextafter", ew.nextafter_p, promote_args_inexact, _FLOATS)
bitwise_and = _binary("bitwise_and", ew.and_p, allowed=_INTEGRAL)
bitwise_or = _binary("bitwise_or", ew.or_p, allowed=_INTEGRAL)
bitwise_xor = _binary("bitwise_xor", ew.xor_p, allowed=_INTEGRAL)


def arctan2(x1, x2, /):
    """The angle of the point (x2, x1), in (-pi, pi]."""
    x1, x2 = promote_args_inexact("arctan2", x1, x2)
    if _is_complex(x1):
        # XLA's complex atan2: -i log((x2 + i x1) / sqrt(x1^2 + x2^2)).
        i = _const(x1, 1j)
        ratio = ew.div(ew.add(x2, ew.mul(i, x1)), ew.sqrt(ew.add(ew.mul(x1, x1), ew.mul(x2, x2))))
        return ew.mul(ew.neg(i), ew.log(ratio))
    return ew.atan2(x1, x2)


atan2 = arctan2


def true_divide(x1, x2, /):
    """x1 / x2 in an inexact dtype (integers divide to float, like numpy)."""
    x1, x2 = promote_args_inexact("true_divide", x1, x2)
    return ew.div(x1, x2)


divide = true_divide


def _fix_rem(x2, r):
    """Where the truncated remainder's sign differs from x2's, move it into x2's range."""
    zero = _const(r, 0)
    wrong = ew.and_(ew.ne(r, zero), ew.ne(ew.lt(r, zero), ew.lt(x2, zero)))
    return wrong, ew.select_n(wrong, r, ew.add(r, x2))


def floor_divide(x1, x2, /):
    """Division rounded toward -inf, like numpy's `//`."""
    x1, x2 = promote_args_numeric("floor_divide", x1, x2)
    _check("floor_divide", x1, _REALS)
    if x1.dtype in _INTS:
        q = ew.div(x1, x2)
        wrong, _ = _fix_rem(x2, ew.rem(x1, x2))
        return ew.select_n(wrong, q, ew.sub(q, _literal(q, 1)))
    return _float_divmod(x1, x2)[0]


def _float_divmod(x1, x2):
    """Python's float divmod (CPython's float_divmod), elementwise."""
    mod = ew.rem(x1, x2)
    div = ew.div(ew.sub(x1, mod), x2)
    wrong, mod = _fix_rem(x2, mod)
    div = ew.select_n(wrong, div, ew.sub(div, _literal(div, 1)))
    return ew.round(div, 1), mod


def remainder(x1, x2, /):
    """The remainder with the sign of x2, like numpy's `%`."""
    x1, x2 = promote_args_numeric("remainder", x1, x2)
    _check("remainder", x1, _REALS)
    return _fix_rem(x2, ew.rem(x1, x2))[1]


mod = remainder


def divmod(x1, x2, /):
    """(floor_divide(x1, x2), remainder(x1, x2))."""
    x1, x2 = promote_args_numeric("divmod", x1, x2)
    _check("divmod", x1, _REALS)
    if x1.dtype in _INTS:
        return floor_divide(x1, x2), remainder(x1, x2)
    return _float_divmod(x1, x2)


def fmod(x1, x2, /):
    """The remainder with the sign of x1 (C's fmod)."""
    x1, x2 = promote_args_numeric("fmod", x1, x2)
    _check("fmod", x1, _REALS)
    return ew.rem(x1, x2)


def power(x1, x2, /):
    """x1 ** x2. A concrete integer exponent uses `integer_pow` (exact; no log in the
    derivative); integer bases with integer array exponents use repeated squaring."""
    check_arraylike("power", x1, x2)
    if type(x2) is int or isinstance(x2, np.integer):
        (x1,) = promote_dtypes_numeric("power", x1)
        if x2 < 0 and x1.dtype in _INTS:
            raise TypeError(
                f"Integers cannot be raised to negative powers, got "
                f"integer_pow({x1.aval.str_short()}, {int(x2)})."
            )
        return ew.integer_pow(x1, int(x2))
    y1, y2 = promote_args_numeric("power", x1, x2)
    if y1.dtype in _INTS:
        return _integer_power_array(y1, y2)
    (x1,), (x2,) = promote_dtypes("power", x1), promote_dtypes("power", x2)
    if x2.dtype in _INTS and _is_inexact(x1):
        # An inexact base with an integer exponent array keeps the base's dtype, and the result
        # is weak only if both are (JAX's lax.pow(x1, x2) without promotion).
        x1, x2 = promote_shapes("power", x1, ew.convert_element_type(x2, x1.dtype, x2.weak_type))
        return ew.pow(x1, x2)
    return ew.pow(y1, y2)


pow = power


def _integer_power_array(x, y):
    """Integer ** integer array by binary exponentiation over y's bits (0 ** 0 == 1).
    Six squarings suffice: any |x| > 1 overflows 64 bits before y reaches 64. The result is
    strong, as in JAX (its constants are numpy values)."""
    one, zero = _strong_const(y, 1), _strong_const(y, 0)
    acc = ew.select_n(
        ew.and_(ew.eq(x, _strong_const(x, 0)), ew.ne(y, zero)),
        _strong_const(x, 1),
        _strong_const(x, 0),
    )
    acc = ew.add(acc, ew.mul(_strong(x), _strong_const(x, 0)))  # the output shape
    for _ in range(6):
        acc = ew.select_n(ew.ne(ew.and_(y, one), zero), acc, ew.mul(acc, x))
        x = ew.mul(x, x)
        y = ew.shift_right_logical(y, one)
    return acc


def float_power(x1, x2, /):
    """x1 ** x2 computed in an inexact dtype."""
    return ew.pow(*promote_args_inexact("float_power", x1, x2))


def negative(x, /):
    """-x, elementwise (not for booleans: use `logical_not`)."""
    (x,) = promote_dtypes("negative", x)
    return ew.neg(_check("negative", x, _NUMBERS))


def positive(x, /):
    """+x, elementwise."""
    (x,) = promote_dtypes("positive", x)
    return x


def absolute(x, /):
    """|x|, elementwise; complex inputs give their real magnitude."""
    (x,) = promote_dtypes("absolute", x)
    if x.dtype == dtypes.bool_ or x.dtype.kind == "u":
        return x
    return ew.abs(x)


abs = absolute


def fabs(x, /):
    """|x| in an inexact dtype (no complex inputs, like numpy)."""
    (x,) = promote_dtypes_inexact("fabs", x)
    return ew.abs(_check("fabs", x, _FLOATS))


def sign(x, /):
    """-1, 0 or 1 by the sign of x; x / |x| for complex x."""
    (x,) = promote_dtypes("sign", x)
    return ew.sign(_check("sign", x, _NUMBERS))


def square(x, /):
    """x * x, elementwise (booleans square as integers)."""
    (x,) = promote_dtypes_numeric("square", x)
    return ew.integer_pow(x, 2)


def reciprocal(x, /):
    """1 / x in an inexact dtype."""
    (x,) = promote_dtypes_inexact("reciprocal", x)
    return ew.integer_pow(x, -1)


# --- rounding -----------------------------------------------------------------------------------


def _rounding(name, prim):
    def fn(x, /):
        (x,) = promote_dtypes(name, x)
        if x.dtype in _FLOATS:
            return prim.bind(x)
        return _check(name, x, _INTEGRAL)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name}; integers and booleans are returned unchanged."
    return fn


floor = _rounding("floor", ew.floor_p)
ceil = _rounding("ceil", ew.ceil_p)


def trunc(x, /):
    """Rounds toward zero; integers and booleans are returned unchanged."""
    (x,) = promote_dtypes("trunc", x)
    if x.dtype not in _FLOATS:
        return _check("trunc", x, _INTEGRAL)
    return ew.select_n(ew.lt(x, _const(x, 0)), ew.floor(x), ew.ceil(x))


fix = trunc


def round(a, decimals: int = 0, out=None):
    """Rounds half to even to `decimals` digits, like numpy (and JAX)."""
    (a,) = promote_dtypes("round", a)
    if out is not None:
        raise NotImplementedError("The 'out' argument to hlodiff.numpy.round is not supported.")
    decimals = int(decimals)
    if a.dtype in _INTS:
        return a if decimals >= 0 else _round_int(a, decimals)
    _check("round", a, _FLOATS | _COMPLEX, ValueError)
    if _is_complex(a):
        return ew.complex_(_round_float(ew.real(a), decimals), _round_float(ew.imag(a), decimals))
    return _round_float(a, decimals)


def _round_float(x, decimals):
    if decimals == 0:
        return ew.round(x, 1)
    if decimals > np.log10(float(dtypes.finfo(x.dtype).max)):
        return x
    factor = _const(x, 10.0**decimals)
    return ew.div(ew.round(ew.mul(x, factor), 1), factor)


def _round_int(x, decimals):
    """Integer rounding to a negative number of decimals, half to even (numpy's rule)."""
    factor = _const(x, 10**-decimals)
    q = floor_divide(x, factor)
    r = ew.sub(x, ew.mul(q, factor))
    twice = ew.mul(r, _const(x, 2))
    up = ew.or_(
        ew.gt(twice, factor),
        ew.and_(ew.eq(twice, factor), ew.ne(ew.and_(q, _const(q, 1)), _const(q, 0))),
    )
    return ew.mul(ew.select_n(up, q, ew.add(q, _const(q, 1))), factor)


around = round


def rint(x, /):
    """Rounds half to even; the result is always inexact (integers become float)."""
    (x,) = promote_dtypes("rint", x)
    if x.dtype in _INTEGRAL:
        return ew.convert_element_type(x, dtypes.default_float_dtype(), False)
    if _is_complex(x):
        return ew.complex_(ew.round(ew.real(x), 1), ew.round(ew.imag(x), 1))
    return ew.round(x, 1)


def modf(x, /, out=None):
    """(fractional part, integral part), both with x's sign."""
    (x,) = promote_dtypes_inexact("modf", x)
    _check("modf", x, _FLOATS)
    whole = trunc(x)
    return ew.sub(x, whole), whole


# --- complex parts --------------------------------------------------------------------------------


def real(val, /):
    """The real part (the value itself for real dtypes)."""
    (val,) = promote_dtypes("real", val)
    return ew.real(val) if _is_complex(val) else val


def imag(val, /):
    """The imaginary part (zeros for real dtypes)."""
    (val,) = promote_dtypes("imag", val)
    if _is_complex(val):
        return ew.imag(val)
    return Array(np.zeros(val.shape, val.dtype), val.weak_type)


def conjugate(x, /):
    """The complex conjugate (the value itself for real dtypes)."""
    (x,) = promote_dtypes("conjugate", x)
    return ew.conj(x) if _is_complex(x) else x


conj = conjugate


def angle(z, deg: bool = False):
    """The argument of complex z (0 or pi for reals), in radians or degrees."""
    check_arraylike("angle", z)
    (z,) = promote_dtypes("angle", z)
    if _is_complex(z):
        re, im = ew.real(z), ew.imag(z)
    elif z.dtype in _FLOATS and z.ndim:
        re, im = z, imag(z)
    else:  # JAX converts these to the default float: a strong result
        re = ew.convert_element_type(z, dtypes.default_float_dtype(), False)
        im = _strong_const(re, 0)
    out = ew.atan2(im, re)
    return rad2deg(out) if deg else out


# --- special values -------------------------------------------------------------------------------


def isfinite(x, /):
    """True where x is neither infinite nor NaN."""
    (x,) = promote_dtypes("isfinite", x)
    if _is_complex(x):
        return ew.and_(ew.is_finite(ew.real(x)), ew.is_finite(ew.imag(x)))
    if x.dtype not in _FLOATS:
        return _full_like_bool(x, True)
    return ew.is_finite(x)


def isnan(x, /):
    """True where x is NaN (for complex: where either part is)."""
    (x,) = promote_dtypes("isnan", x)
    return ew.ne(x, x)


def isinf(x, /):
    """True where x is +inf or -inf (for complex: where either part is)."""
    (x,) = promote_dtypes("isinf", x)
    if _is_complex(x):
        re, im = ew.abs(ew.real(x)), ew.abs(ew.imag(x))
        inf = _strong_const(re, np.inf)
        return ew.or_(ew.eq(re, inf), ew.eq(im, inf))
    if x.dtype not in _FLOATS:
        return _full_like_bool(x, False)
    return ew.eq(ew.abs(x), _strong_const(x, np.inf))


def _isposneginf(name, infinity):
    def fn(x, /, out=None):
        (x,) = promote_dtypes(name, x)
        if _is_complex(x):
            raise ValueError("isposinf/isneginf are not well defined for complex types")
        if x.dtype not in _FLOATS:
            return _full_like_bool(x, False)
        return ew.eq(x, _strong_const(x, infinity))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"True where x is {'+' if infinity > 0 else '-'}inf."
    return fn


isposinf = _isposneginf("isposinf", np.inf)
isneginf = _isposneginf("isneginf", -np.inf)


def signbit(x, /):
    """True where the sign bit is set (-0.0 included)."""
    (x,) = promote_dtypes("signbit", x)
    if x.dtype in _INTS:
        return ew.lt(x, _strong_const(x, 0))
    if x.dtype == dtypes.bool_:
        return _full_like_bool(x, False)
    if x.dtype not in _FLOATS:
        raise ValueError(f"hlodiff.numpy.signbit is not well defined for {x.dtype.name}")
    zero = _strong_const(x, 0)
    negative_zero = ew.and_(ew.eq(x, zero), ew.lt(ew.div(_strong_const(x, 1), x), zero))
    # NaNs count as positive here (numpy and JAX read the sign bit of -nan).
    return ew.or_(ew.lt(x, zero), negative_zero)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """Replaces NaN with `nan` and +-inf with `posinf`/`neginf` (default: the dtype's
    largest finite values)."""
    (x,) = promote_dtypes("nan_to_num", x)
    if not _is_inexact(x):
        return x
    if _is_complex(x):
        return ew.complex_(
            nan_to_num(ew.real(x), nan=nan, posinf=posinf, neginf=neginf),
            nan_to_num(ew.imag(x), nan=nan, posinf=posinf, neginf=neginf),
        )
    info = dtypes.finfo(x.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = _strong(x)  # JAX's `where` with strong constants
    x = ew.select_n(ew.ne(x, x), x, np.array(nan, x.dtype))
    x = ew.select_n(ew.eq(x, np.array(np.inf, x.dtype)), x, np.array(posinf, x.dtype))
    return ew.select_n(ew.eq(x, np.array(-np.inf, x.dtype)), x, np.array(neginf, x.dtype))


# --- comparisons and logic ------------------------------------------------------------------------

equal = _binary("equal", ew.eq_p)
not_equal = _binary("not_equal", ew.ne_p)
less = _binary("less", ew.lt_p)
less_equal = _binary("less_equal", ew.le_p)
greater = _binary("greater", ew.gt_p)
greater_equal = _binary("greater_equal", ew.ge_p)


def _logical(name, prim):
    def fn(x1, x2, /):
        x1, x2 = promote_args(name, x1, x2)
        return prim.bind(_to_bool(x1), _to_bool(x2))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name} of the truth values of x1 and x2."
    return fn


logical_and = _logical("logical_and", ew.and_p)
logical_or = _logical("logical_or", ew.or_p)
logical_xor = _logical("logical_xor", ew.xor_p)


def logical_not(x, /):
    """Elementwise not of the truth value of x."""
    (x,) = promote_dtypes("logical_not", x)
    return ew.not_(_to_bool(x))


def invert(x, /):
    """Bitwise not (logical not for booleans)."""
    (x,) = promote_dtypes("invert", x)
    return ew.not_(_check("invert", x, _INTEGRAL))


bitwise_not = bitwise_invert = invert


def left_shift(x1, x2, /):
    """x1 << x2 (booleans shift as integers)."""
    x1, x2 = promote_args_numeric("left_shift", x1, x2)
    return ew.shift_left(_check("left_shift", x1, _INTS), x2)


def right_shift(x1, x2, /):
    """x1 >> x2: arithmetic for signed, logical for unsigned integers."""
    x1, x2 = promote_args_numeric("right_shift", x1, x2)
    _check("right_shift", x1, _INTS)
    if x1.dtype.kind == "u":
        return ew.shift_right_logical(x1, x2)
    return ew.shift_right_arithmetic(x1, x2)


bitwise_left_shift, bitwise_right_shift = left_shift, right_shift


# --- two-argument functions built from primitives --------------------------------------------------


def _nan_select(name, compare):
    def fn(x1, x2, /):
        x1, x2 = promote_args(name, x1, x2)
        # JAX: where(compare(x1, x2) | isnan(x2), x1, x2) -- NaNs are ignored when possible.
        pick_x1 = ew.or_(compare(x1, x2), ew.ne(x2, x2))
        return ew.select_n(pick_x1, x2, x1)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name[1:]}imum that ignores NaNs (NaN only if both are NaN)."
    return fn


fmax = _nan_select("fmax", ew.gt)
fmin = _nan_select("fmin", ew.lt)


def logaddexp(x1, x2, /):
    """log(exp(x1) + exp(x2)) without overflow; equal infinities give themselves."""
    x1, x2 = promote_args_inexact("logaddexp", x1, x2)
    amax = ew.max(x1, x2)  # lexicographic for complex
    if _is_complex(x1):
        delta = ew.sub(ew.add(x1, x2), ew.mul(amax, _const(amax, 2)))
        out = ew.add(amax, ew.log1p(ew.exp(delta)))
        return ew.complex_(ew.real(out), _wrap_between(ew.imag(out), np.pi))
    delta = ew.sub(x1, x2)
    softplus = ew.log1p(ew.exp(ew.neg(ew.abs(delta))))
    return ew.select_n(ew.ne(delta, delta), ew.add(amax, softplus), ew.add(x1, x2))


def logaddexp2(x1, x2, /):
    """log2(2**x1 + 2**x2) without overflow."""
    x1, x2 = promote_args_inexact("logaddexp2", x1, x2)
    amax = ew.max(x1, x2)
    inv_ln2 = _const(amax, 1 / np.log(2))
    if _is_complex(x1):
        delta = ew.sub(ew.add(x1, x2), ew.mul(amax, _const(amax, 2)))
        out = ew.add(amax, ew.mul(inv_ln2, ew.log1p(ew.exp2(delta))))
        return ew.complex_(ew.real(out), _wrap_between(ew.imag(out), np.pi / np.log(2)))
    delta = ew.sub(x1, x2)
    soft = ew.mul(inv_ln2, ew.log1p(ew.exp2(ew.neg(ew.abs(delta)))))
    return ew.select_n(ew.ne(delta, delta), ew.add(amax, soft), ew.add(x1, x2))


def _wrap_between(x, bound):
    """x wrapped into [-bound, bound) (the imaginary part of a complex log)."""
    a, two_a, zero = _const(x, bound), _const(x, 2 * bound), _const(x, 0)
    r = ew.rem(ew.add(x, a), two_a)
    r = ew.select_n(ew.lt(r, zero), r, ew.add(r, two_a))
    return ew.sub(r, a)


def hypot(x1, x2, /):
    """sqrt(x1**2 + x2**2) without intermediate overflow."""
    x1, x2 = promote_args_inexact("hypot", x1, x2)
    if _is_complex(x1):
        raise ValueError(
            "hypot is not well defined for complex-valued inputs. Convert to real "
            "values first, e.g. with abs(x)."
        )
    x1, x2 = ew.abs(x1), ew.abs(x2)
    big, small = ew.max(x1, x2), ew.min(x1, x2)
    is_zero = ew.eq(big, _literal(big, 0))
    ratio = ew.div(small, ew.select_n(is_zero, big, _literal(big, 1)))
    scaled = ew.mul(big, ew.sqrt(ew.add(_literal(big, 1), ew.mul(ratio, ratio))))
    out = ew.select_n(is_zero, scaled, big)
    inf = _const(out, np.inf)
    any_inf = ew.or_(ew.eq(x1, _strong_const(x1, np.inf)), ew.eq(x2, _strong_const(x2, np.inf)))
    return _where_same(any_inf, inf, out)


def copysign(x1, x2, /):
    """|x1| with the sign of x2 (-0.0 counts as negative)."""
    x1, x2 = promote_args_inexact("copysign", x1, x2)
    if _is_complex(x1):
        raise TypeError("copysign does not support complex-valued inputs")
    mag = ew.abs(x1)
    return ew.select_n(signbit(x2), mag, ew.neg(mag))


def heaviside(x1, x2, /):
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0 (NaN stays NaN)."""
    x1, x2 = promote_args_inexact("heaviside", x1, x2)
    if _is_complex(x1):
        raise TypeError("heaviside does not accept complex inputs")
    zero = _const(x1, 0)
    at_zero = ew.select_n(ew.ne(x1, x1), x2, x1)
    pos = _where_same(ew.gt(x1, zero), _const(x1, 1), at_zero)
    return _where_same(ew.lt(x1, zero), zero, pos)


# --- selection --------------------------------------------------------------------------------------


def where(condition, x=None, y=None, /, *, size=None, fill_value=None):
    """`x` where `condition` else `y`, broadcast together. The one-argument form is
    `nonzero(condition)`, which needs a concrete condition (its size depends on the values)."""
    if x is None and y is None:
        from hlodiff.numpy._indexing import nonzero

        if size is None:
            return nonzero(condition)
        return nonzero(condition, size=size, fill_value=fill_value)
    if x is None or y is None:
        raise ValueError(
            "Either both or neither of the x and y arguments should be provided "
            "to hlodiff.numpy.where."
        )
    check_arraylike("where", condition, x, y)
    x, y = promote_dtypes("where", x, y)
    (cond,) = promote_dtypes("where", condition)
    cond, x, y = promote_shapes("where", _to_bool(cond), x, y)
    return ew.select_n(cond, y, x)


def clip(arr=None, /, min=None, max=None, *, a=None, a_min=None, a_max=None):
    """`arr` limited to [min, max] elementwise (either bound may be None)."""
    x = arr if arr is not None else a
    if x is None:
        raise ValueError("No input was provided to the clip function.")
    lo = min if min is not None else a_min
    hi = max if max is not None else a_max
    check_arraylike("clip", *(v for v in (x, lo, hi) if v is not None))
    for v in (x, lo, hi):
        if v is not None and dtypes.is_complex(dtypes.dtype(v)):
            raise ValueError(
                "clip received a complex value; complex values have no ordering. "
                "Clip the real or imaginary part instead."
            )
    if lo is not None:
        x = maximum(lo, x)
    if hi is not None:
        x = minimum(hi, x)
    return promote_dtypes("clip", x)[0]


def select(condlist, choicelist, default=0):
    """The value of the first true condition's choice, elementwise (else `default`)."""
    if len(condlist) != len(choicelist):
        raise ValueError(
            f"condlist must have length equal to choicelist ({len(condlist)} vs {len(choicelist)})"
        )
    if not condlist:
        raise ValueError("condlist must be non-empty")
    check_arraylike("select", *condlist, *choicelist, default)
    out = default
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        out = where(cond, choice, out)
    return out


def polyval(p, x, *, unroll=16):
    """The polynomial with coefficients `p` (highest degree first) at `x` (Horner's rule)."""
    check_arraylike("polyval", p, x)
    p, x = promote_dtypes("polyval", p, x)
    if p.ndim != 1:
        raise ValueError(f"polyval: coefficients must be 1-D, got shape {p.shape}")
    from hlodiff.prims import shape as sp

    y = Array(np.zeros(x.shape, x.dtype), x.weak_type and p.weak_type)
    for i in range(p.shape[0]):
        y = add(multiply(y, x), sp.squeeze(sp.slice_in_dim(p, i, i + 1), (0,)))
    return y


def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation of the points (xp, fp) (xp increasing) at `x`; `left` and
    `right` (default fp[0] and fp[-1]) beyond the ends."""
    check_arraylike("interp", x, xp, fp)
    if period is not None:
        raise NotImplementedError("interp(period=...) is not implemented; wrap x yourself")
    x, xp, fp = promote_dtypes_inexact("interp", x, xp, fp)
    if xp.ndim != 1 or fp.ndim != 1 or xp.shape != fp.shape or not xp.shape[0]:
        raise ValueError(
            "interp: xp and fp must be non-empty 1-D arrays of the same length, got "
            f"shapes {xp.shape} and {fp.shape}"
        )
    from hlodiff.numpy._indexing import take
    from hlodiff.numpy._reductions import sum as np_sum
    from hlodiff.prims import shape as sp

    n = xp.shape[0]
    # i = searchsorted(xp, x, side="right"), clipped to [1, n - 1]: x lies in [xp[i-1], xp[i]].
    count = np_sum(
        less_equal(sp.expand_dims(xp, tuple(range(x.ndim))), sp.expand_dims(x, (x.ndim,))), axis=-1
    )
    i = clip(count, 1, max(n - 1, 1))
    lo = subtract(i, 1)
    x0, x1 = take(xp, lo, mode="clip"), take(xp, i, mode="clip")
    f0, f1 = take(fp, lo, mode="clip"), take(fp, i, mode="clip")
    dx = subtract(x1, x0)
    flat = equal(dx, 0)
    slope = true_divide(subtract(f1, f0), where(flat, 1, dx))
    f = where(flat, f0, add(f0, multiply(subtract(x, x0), slope)))
    first, last = take(fp, 0), take(fp, n - 1)
    f = where(less(x, take(xp, 0)), first if left is None else left, f)
    return where(greater(x, take(xp, n - 1)), last if right is None else right, f)


__all__ = [
    n
    for n, v in list(globals().items())
    if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == __name__
]
