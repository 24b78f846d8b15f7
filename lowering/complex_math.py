"""Complex elementary functions in StableHLO, from the real ones in libm.py.

IREE expands complex ops into real ones itself, but on its float32 sin/cos (wrong near 0 for
negative arguments) and, for complex128, on float64 functions it cannot link. These use the
textbook identities, arranged to keep digits (log1p near 0, asinh through log1p) and to put
points on branch cuts on numpy's side (signed zeros are carried in real arithmetic, never
through a complex add of a zero imaginary part).
"""

from __future__ import annotations

import math

from hlodiff import dtypes

from . import hlo
from .emitter import aval
from .libm import atan2, const, copysign, cosh, expm1, log1p, sign_bit, sin, sin_cos, sinh

def _parts(b, z):
    part = dtypes.real_dtype(z.dtype)
    return hlo.unary(b, "real", z, part), hlo.unary(b, "imag", z, part)


def _complex(b, re, im):
    return b.op("stablehlo.complex", [re, im], aval(re.shape, dtypes.to_complex_dtype(re.dtype)))


def cexp(b, z):
    a, t = _parts(b, z)
    s, c = sin_cos(b, t)
    m = hlo.unary(b, "exponential", a)
    return _complex(b, hlo.mul(b, m, c), hlo.mul(b, m, s))


def clog(b, z):
    a, t = _parts(b, z)
    return _complex(b, hlo.unary(b, "log", hlo.unary(b, "abs", z, a.dtype)), atan2(b, t, a))


def clog1p(b, z):
    """log(1 + z); near 0 the real part is log1p(a (2 + a) + t^2) / 2, which keeps its digits."""
    a, t = _parts(b, z)
    u = hlo.add(b, hlo.mul(b, a, hlo.add(b, a, const(b, a, 2.0))), hlo.mul(b, t, t))
    re = hlo.mul(b, log1p(b, u), const(b, a, 0.5))
    near = _complex(b, re, atan2(b, t, hlo.add(b, a, const(b, a, 1.0))))
    far = clog(b, _complex(b, hlo.add(b, a, const(b, a, 1.0)), t))  # keeps t's signed zero
    small = hlo.compare(b, hlo.unary(b, "abs", z, a.dtype), const(b, a, 0.5), "LT")
    return hlo.select(b, small, near, far)


def cexpm1(b, z):
    a, t = _parts(b, z)
    s, c = sin_cos(b, t)
    half_s = sin(b, hlo.mul(b, t, const(b, t, 0.5)))
    cos_m1 = hlo.mul(b, const(b, t, -2.0), hlo.mul(b, half_s, half_s))
    em1 = expm1(b, a)
    re = hlo.add(b, hlo.mul(b, em1, c), cos_m1)
    return _complex(b, re, hlo.mul(b, hlo.unary(b, "exponential", a), s))


def csqrt(b, z):
    a, t = _parts(b, z)
    zero = const(b, a, 0.0)
    m = hlo.unary(b, "abs", z, a.dtype)
    r = hlo.unary(b, "sqrt", hlo.mul(b, hlo.add(b, hlo.unary(b, "abs", a), m), const(b, a, 0.5)))
    other = hlo.div(b, hlo.unary(b, "abs", t), hlo.mul(b, r, const(b, a, 2.0)))
    other = hlo.select(b, hlo.compare(b, r, zero, "EQ"), zero, other)
    a_neg = hlo.compare(b, a, zero, "LT")
    re = hlo.select(b, a_neg, other, r)
    im = copysign(b, hlo.select(b, a_neg, r, other), t)
    return _complex(b, re, im)


def csin(b, z):
    a, t = _parts(b, z)
    s, c = sin_cos(b, a)
    return _complex(b, hlo.mul(b, s, cosh(b, t)), hlo.mul(b, c, sinh(b, t)))


def ccos(b, z):
    a, t = _parts(b, z)
    s, c = sin_cos(b, a)
    return _complex(b, hlo.mul(b, c, cosh(b, t)), hlo.neg(b, hlo.mul(b, s, sinh(b, t))))


def csinh(b, z):
    a, t = _parts(b, z)
    s, c = sin_cos(b, t)
    return _complex(b, hlo.mul(b, sinh(b, a), c), hlo.mul(b, cosh(b, a), s))


def ccosh(b, z):
    a, t = _parts(b, z)
    s, c = sin_cos(b, t)
    return _complex(b, hlo.mul(b, cosh(b, a), c), hlo.mul(b, sinh(b, a), s))


def ctanh(b, z):
    """(sinh 2a + i sin 2t) / (cosh 2a + cos 2t), saturating to +-1 for large |a|."""
    a, t = _parts(b, z)
    two = const(b, a, 2.0)
    a2, t2 = hlo.mul(b, a, two), hlo.mul(b, t, two)
    s2, c2 = sin_cos(b, t2)
    den = hlo.add(b, cosh(b, a2), c2)
    re, im = hlo.div(b, sinh(b, a2), den), hlo.div(b, s2, den)
    big = hlo.compare(b, hlo.unary(b, "abs", a), const(b, a, 20.0), "GT")
    re = hlo.select(b, big, copysign(b, const(b, a, 1.0), a), re)
    im = hlo.select(b, big, hlo.mul(b, const(b, a, 0.0), t), im)
    return _complex(b, re, im)


def ctan(b, z):  # tan z = -i tanh(i z)
    return _mul_i(b, ctanh(b, _mul_i(b, z)), -1)


def _mul_i(b, z, sign=1):
    a, t = _parts(b, z)
    if sign > 0:
        return _complex(b, hlo.neg(b, t), a)
    return _complex(b, t, hlo.neg(b, a))


def casinh(b, z):
    """asinh w = log1p(w + w^2 / (1 + sqrt(w^2 + 1))) on the half plane whose real part has a
    clear sign bit (asinh is odd). w^2 is formed in real arithmetic so that signed zeros put
    points on the cuts on numpy's side; log1p keeps small arguments' digits."""
    re = _parts(b, z)[0]
    flip = sign_bit(b, re)
    w = hlo.select(b, flip, hlo.neg(b, z), z)
    a, t = _parts(b, w)
    w2_re = hlo.mul(b, hlo.sub(b, a, t), hlo.add(b, a, t))
    w2_im = hlo.mul(b, hlo.mul(b, a, t), const(b, a, 2.0))
    root = csqrt(b, _complex(b, hlo.add(b, w2_re, const(b, a, 1.0)), w2_im))
    denom = _complex(b, hlo.add(b, _parts(b, root)[0], const(b, a, 1.0)), _parts(b, root)[1])
    out = clog1p(b, hlo.add(b, w, hlo.div(b, _complex(b, w2_re, w2_im), denom)))
    return hlo.select(b, flip, hlo.neg(b, out), out)


def casin(b, z):  # asin z = -i asinh(i z)
    return _mul_i(b, casinh(b, _mul_i(b, z)), -1)


def cacos(b, z):  # acos z = pi/2 - asin z
    a, t = _parts(b, casin(b, z))
    return _complex(b, hlo.sub(b, const(b, a, math.pi / 2), a), hlo.neg(b, t))


def catanh(b, z):  # atanh z = (log1p(z) - log1p(-z)) / 2
    return hlo.mul(b, hlo.sub(b, clog1p(b, z), clog1p(b, hlo.neg(b, z))), hlo.full_like(b, z, 0.5))


def catan(b, z):  # atan z = -i atanh(i z)
    return _mul_i(b, catanh(b, _mul_i(b, z)), -1)


def cacosh(b, z):  # acosh z = log(z + sqrt(z + 1) sqrt(z - 1))
    one = hlo.full_like(b, z, 1)
    root = hlo.mul(b, csqrt(b, hlo.add(b, z, one)), csqrt(b, hlo.sub(b, z, one)))
    return clog(b, hlo.add(b, z, root))


def cpow(b, x, y):
    return cexp(b, hlo.mul(b, y, clog(b, x)))


def clogistic(b, z):
    one = hlo.full_like(b, z, 1)
    return hlo.div(b, one, hlo.add(b, one, cexp(b, hlo.neg(b, z))))


def crsqrt(b, z):
    return hlo.div(b, hlo.full_like(b, z, 1), csqrt(b, z))


def cexp2(b, z):
    return cexp(b, hlo.mul(b, z, hlo.full_like(b, z, math.log(2.0))))
