"""Real math functions IREE's llvm-cpu backend gets wrong or cannot compile, in StableHLO.

What IREE 3.13 does with the plain ops (measured in ulps against numpy over 1e-30..1e5):

- float32 sin/tan: off by 6e-8 *absolute* for small negative x (sin(-1e-30) = +6.2e-8), and
  cos/sin lose digits beyond |x| ~ 1e3; asin/acos ~40 ulp, atan ~10, sinh/cosh ~23, cbrt ~10.
- float64 sin, cos, tan, tanh, atan2 (so asin/acos/atan) and fmod (`remainder`) become libm
  calls its embedded linker cannot resolve ("undefined symbol: sin"); cbrt has no expansion;
  expm1/log1p are computed as exp(x) - 1 and log(1 + x), losing every digit near 0 (and CHLO's
  sinh/cosh/asinh/acosh/atanh inherit that).

So these are written here with ops that compile and are accurate (+, *, /, sqrt, exp, log,
floor, compare, select), each within ~2 ulp:

- sin, cos: Cody-Waite reduction by pi/2 split into short parts (float64: three of 33 bits,
  exact for |x| < 2^20 pi/2; float32: seven of 8 bits, exact for |x| < 2^16 pi/2; graceful
  above) and fdlibm's kernel polynomials; tan = sin / cos.
- atan: fdlibm's five-interval reduction and polynomial; atan2 with C99's special cases;
  asin and acos from atan2.
- expm1, log1p (float64): Kahan's corrections; sinh, cosh, asinh, acosh, atanh from them.
- tanh from expm1; cbrt from exp/log refined by two Newton steps; fmod exactly via Dekker's
  error-free product (exact while |x / y| < 2^53).

Complex functions are in complex_math.py.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from . import hlo

f64 = np.dtype(np.float64)


def const(b, x, v):
    """A splat constant shaped and typed like x."""
    return hlo.full_like(b, x, v)


def _poly(b, z, coeffs):
    """Horner: coeffs[0] + z * (coeffs[1] + z * (...))."""
    acc = const(b, z, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = hlo.add(b, const(b, z, c), hlo.mul(b, z, acc))
    return acc


def sign_bit(b, x):
    """True where x's sign bit is set (-0.0 and -nan included)."""
    i = hlo.bitcast(b, x, hlo.int_of_width(x.dtype))
    return hlo.compare(b, i, hlo.full_like(b, i, 0), "LT")


def copysign(b, mag, sign_of):
    return hlo.select(b, sign_bit(b, sign_of), hlo.neg(b, hlo.unary(b, "abs", mag)),
                      hlo.unary(b, "abs", mag))


# ---------------------------------------------------------------------------------------------
# sin, cos, tan

def _pio2_parts(bits: int, count: int) -> tuple:
    """pi/2 as a sum of `count` floats of `bits` significant bits each (k * part is exact
    while k has at most mantissa - bits bits)."""
    rest = Fraction(_PI_DIGITS) / 2
    parts = []
    for _ in range(count):
        exp = math.floor(math.log2(abs(rest))) - bits + 1
        part = Fraction(round(rest / Fraction(2) ** exp)) * Fraction(2) ** exp
        parts.append(float(part))
        rest -= part
    return tuple(parts)


_PI_DIGITS = "3.14159265358979323846264338327950288419716939937510582097494459230781640628"
# float64: three 33-bit parts, exact for |k| < 2^20; float32: seven 8-bit parts, |k| < 2^16.
_PIO2 = {np.dtype(np.float64): _pio2_parts(33, 3), np.dtype(np.float32): _pio2_parts(8, 7)}
_S = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
      2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
_C = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
      -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)


def _reduce_pio2(b, x):
    """(r, n): x = k pi/2 + r with |r| <= pi/4, n = k mod 4 as a float in {0, 1, 2, 3}."""
    k = hlo.unary(b, "round_nearest_even", hlo.mul(b, x, const(b, x, 2 / math.pi)))
    r = x
    for part in _PIO2[x.dtype]:  # each k * part is exact; the first subtraction is too
        r = hlo.sub(b, r, hlo.mul(b, k, const(b, x, part)))
    quarter = hlo.unary(b, "floor", hlo.mul(b, k, const(b, x, 0.25)))
    n = hlo.sub(b, k, hlo.mul(b, quarter, const(b, x, 4.0)))
    return r, n


def _kernel_sin(b, r):
    z = hlo.mul(b, r, r)
    tail = _poly(b, z, _S[1:])
    return hlo.add(b, r, hlo.mul(b, hlo.mul(b, r, z), hlo.add(b, const(b, r, _S[0]),
                                                             hlo.mul(b, z, tail))))


def _kernel_cos(b, r):
    z = hlo.mul(b, r, r)
    poly = hlo.mul(b, z, _poly(b, z, _C))
    hz = hlo.mul(b, z, const(b, r, 0.5))
    w = hlo.sub(b, const(b, r, 1.0), hz)
    rest = hlo.add(b, hlo.sub(b, hlo.sub(b, const(b, r, 1.0), w), hz), hlo.mul(b, z, poly))
    return hlo.add(b, w, rest)


def _by_quadrant(b, n, values):
    """values[n] for n in {0, 1, 2, 3} (a float)."""
    out = values[3]
    for q in (2, 1, 0):
        out = hlo.select(b, hlo.compare(b, n, const(b, n, float(q)), "EQ"), values[q], out)
    return out


def sin_cos(b, x):
    r, n = _reduce_pio2(b, x)
    s, c = _kernel_sin(b, r), _kernel_cos(b, r)
    ns, nc = hlo.neg(b, s), hlo.neg(b, c)
    return _by_quadrant(b, n, [s, c, ns, nc]), _by_quadrant(b, n, [c, ns, nc, s])


def sin(b, x):
    return sin_cos(b, x)[0]


def cos(b, x):
    return sin_cos(b, x)[1]


def tan(b, x):
    s, c = sin_cos(b, x)
    return hlo.div(b, s, c)


# ---------------------------------------------------------------------------------------------
# atan, atan2, asin, acos

_ATANHI = (4.63647609000806093515e-01, 7.85398163397448278999e-01, 9.82793723247329054082e-01,
           1.57079632679489655800e00)
_ATANLO = (2.26987774529616870924e-17, 3.06161699786838301793e-17, 1.39033110312309984516e-17,
           6.12323399573676603587e-17)
_AT = (3.33333333333329318027e-01, -1.99999999998764832476e-01, 1.42857142725034663711e-01,
       -1.11111104054623557880e-01, 9.09088713343650656196e-02, -7.69187620504482999495e-02,
       6.66107313738753120669e-02, -5.83357013379057348645e-02, 4.97687799461593236017e-02,
       -3.65315727442169155270e-02, 1.62858201153657823623e-02)
_PI, _PI_LO = 3.1415926535897931160e00, 1.2246467991473531772e-16


def atan(b, x):
    """fdlibm's atan: |x| reduced to one of five intervals, an odd polynomial, the sign back."""
    a = hlo.unary(b, "abs", x)
    one, two = const(b, a, 1.0), const(b, a, 2.0)
    cases = [  # (upper bound of |x|, reduced argument)
        (7 / 16, a),
        (11 / 16, hlo.div(b, hlo.sub(b, hlo.mul(b, two, a), one), hlo.add(b, two, a))),
        (19 / 16, hlo.div(b, hlo.sub(b, a, one), hlo.add(b, a, one))),
        (39 / 16, hlo.div(b, hlo.sub(b, a, const(b, a, 1.5)),
                          hlo.add(b, one, hlo.mul(b, const(b, a, 1.5), a)))),
    ]
    t = hlo.neg(b, hlo.div(b, one, a))  # |x| >= 39/16 (and nan)
    hi, lo = const(b, a, _ATANHI[3]), const(b, a, _ATANLO[3])
    for i in (3, 2, 1, 0):
        inside = hlo.compare(b, a, const(b, a, cases[i][0]), "LT")
        t = hlo.select(b, inside, cases[i][1], t)
        if i:
            hi = hlo.select(b, inside, const(b, a, _ATANHI[i - 1]), hi)
            lo = hlo.select(b, inside, const(b, a, _ATANLO[i - 1]), lo)
    z = hlo.mul(b, t, t)
    w = hlo.mul(b, z, z)
    s1 = hlo.mul(b, z, _poly(b, w, _AT[0::2]))
    s2 = hlo.mul(b, w, _poly(b, w, _AT[1::2]))
    ts = hlo.mul(b, t, hlo.add(b, s1, s2))
    small = hlo.sub(b, t, ts)
    large = hlo.sub(b, hi, hlo.sub(b, hlo.sub(b, ts, lo), t))
    out = hlo.select(b, hlo.compare(b, a, const(b, a, 7 / 16), "LT"), small, large)
    return copysign(b, out, x)


def atan2(b, y, x):
    """C99 atan2, following fdlibm's e_atan2 (signed zeros and infinities included)."""
    zero, pi = const(b, x, 0.0), const(b, x, _PI)
    ay, ax = hlo.unary(b, "abs", y), hlo.unary(b, "abs", x)
    x_neg = sign_bit(b, x)
    z = atan(b, hlo.div(b, ay, ax))
    # atan(|y/x|) is 0 when |y/x| underflows and x < 0 (fdlibm), then fold into the half plane
    z = hlo.select(b, hlo.and_(b, x_neg, hlo.compare(b, hlo.div(b, ay, ax), const(b, x, 2.0**-60),
                                                     "LT")), zero, z)
    z = hlo.select(b, x_neg, hlo.sub(b, pi, hlo.sub(b, z, const(b, x, _PI_LO))), z)
    x_inf = hlo.compare(b, ax, const(b, x, np.inf), "EQ")
    y_inf = hlo.compare(b, ay, const(b, x, np.inf), "EQ")
    both_inf = hlo.select(b, x_neg, const(b, x, 3 * _PI / 4), const(b, x, _PI / 4))
    z = hlo.select(b, hlo.and_(b, x_inf, y_inf), both_inf, z)
    y_zero = hlo.compare(b, ay, zero, "EQ")
    z = hlo.select(b, y_zero, hlo.select(b, x_neg, pi, zero), z)
    x_zero_or_y_inf = hlo.and_(b, hlo.or_(b, hlo.compare(b, ax, zero, "EQ"), y_inf),
                               hlo.not_(b, hlo.or_(b, y_zero, x_inf)))
    z = hlo.select(b, x_zero_or_y_inf, const(b, x, _PI / 2), z)
    nan = hlo.or_(b, hlo.is_nan(b, x), hlo.is_nan(b, y))
    return hlo.select(b, nan, const(b, x, np.nan), copysign(b, z, y))


def _sqrt_one_minus_sq(b, x):
    one = const(b, x, 1.0)
    return hlo.unary(b, "sqrt", hlo.mul(b, hlo.sub(b, one, x), hlo.add(b, one, x)))


def asin(b, x):
    return atan2(b, x, _sqrt_one_minus_sq(b, x))


def acos(b, x):
    return atan2(b, _sqrt_one_minus_sq(b, x), x)


# ---------------------------------------------------------------------------------------------
# tanh, cbrt, fmod


def expm1(b, x):
    """Kahan: expm1 x = (u - 1) x / log u with u = exp x (IREE computes exp(x) - 1 in float64;
    its float32 expm1 is accurate and used as is)."""
    if x.dtype != f64:
        return hlo.unary(b, "exponential_minus_one", x)
    u = hlo.unary(b, "exponential", x)
    one = const(b, x, 1.0)
    um1 = hlo.sub(b, u, one)
    out = hlo.div(b, hlo.mul(b, um1, x), hlo.unary(b, "log", u))
    out = hlo.select(b, hlo.compare(b, u, one, "EQ"), x, out)
    out = hlo.select(b, hlo.compare(b, um1, const(b, x, -1.0), "EQ"), const(b, x, -1.0), out)
    return hlo.select(b, hlo.compare(b, u, const(b, x, np.inf), "EQ"), u, out)


def log1p(b, x):
    """Kahan: log1p x = log(u) x / (u - 1) with u = 1 + x (IREE computes log(1 + x) in float64;
    its float32 log1p is accurate and used as is)."""
    if x.dtype != f64:
        return hlo.unary(b, "log_plus_one", x)
    one = const(b, x, 1.0)
    u = hlo.add(b, one, x)
    log_u = hlo.unary(b, "log", u)
    out = hlo.div(b, hlo.mul(b, log_u, x), hlo.sub(b, u, one))
    out = hlo.select(b, hlo.compare(b, u, one, "EQ"), x, out)
    special = hlo.or_(b, hlo.compare(b, u, const(b, x, np.inf), "EQ"),
                      hlo.compare(b, u, const(b, x, 0.0), "LE"))
    return hlo.select(b, special, log_u, out)


def tanh(b, x):
    """tanh|x| = -t / (2 + t) with t = expm1(-2|x|): accurate near 0, saturates to 1."""
    t = expm1(b, hlo.mul(b, hlo.unary(b, "abs", x), const(b, x, -2.0)))
    return copysign(b, hlo.div(b, hlo.neg(b, t), hlo.add(b, const(b, x, 2.0), t)), x)


def cbrt(b, x):
    a = hlo.unary(b, "abs", x)
    y0 = hlo.unary(b, "exponential", hlo.mul(b, hlo.unary(b, "log", a), const(b, x, 1 / 3)))
    y = y0
    for _ in range(2):  # Newton on y^3 = a, scaled (y^3 - a could be denormal, hence flushed)
        r = hlo.div(b, hlo.div(b, hlo.div(b, a, y), y), y)
        y = hlo.add(b, y, hlo.mul(b, y, hlo.mul(b, hlo.sub(b, r, const(b, x, 1.0)),
                                                const(b, x, 1 / 3))))
    # 0, inf, nan, and denormals (read as 0: IREE flushes them) are their own cube roots
    special = hlo.or_(b, hlo.compare(b, y0, const(b, x, 0.0), "EQ"),
                      hlo.not_(b, hlo.unary(b, "is_finite", y0, np.bool_)))
    return copysign(b, hlo.select(b, special, a, y), x)


def _exp_big(b, a):
    """exp(a) for a up to ~1419 without overflowing early: (exp(a / 2) / 2) exp(a / 2) = e^a / 2."""
    w = hlo.unary(b, "exponential", hlo.mul(b, a, const(b, a, 0.5)))
    return hlo.mul(b, hlo.mul(b, w, const(b, a, 0.5)), w)


def sinh(b, x):
    """sinh|x| = (u + u / (u + 1)) / 2 with u = expm1|x|; e^|x| / 2 for large |x|."""
    a = hlo.unary(b, "abs", x)
    u = expm1(b, a)
    small = hlo.mul(b, hlo.add(b, u, hlo.div(b, u, hlo.add(b, u, const(b, x, 1.0)))),
                    const(b, x, 0.5))
    out = hlo.select(b, hlo.compare(b, a, const(b, x, 22.0), "LT"), small, _exp_big(b, a))
    return copysign(b, out, x)


def cosh(b, x):
    """cosh x = 1 + u^2 / (2 (1 + u)) with u = expm1|x| near 0, (e + 1/e) / 2 beyond."""
    a = hlo.unary(b, "abs", x)
    one, half = const(b, x, 1.0), const(b, x, 0.5)
    u = expm1(b, a)
    small = hlo.add(b, one, hlo.div(b, hlo.mul(b, u, u), hlo.mul(b, const(b, x, 2.0),
                                                                hlo.add(b, one, u))))
    e = hlo.unary(b, "exponential", a)
    mid = hlo.add(b, hlo.mul(b, half, e), hlo.div(b, half, e))
    out = hlo.select(b, hlo.compare(b, a, const(b, x, 22.0), "LT"), mid, _exp_big(b, a))
    return hlo.select(b, hlo.compare(b, a, const(b, x, 0.5), "LT"), small, out)


_LN2 = 6.93147180559945286227e-01


def asinh(b, x):
    """asinh|x| = log1p(a + a^2 / (1 + sqrt(1 + a^2))); log(a) + log 2 beyond 2^28."""
    a = hlo.unary(b, "abs", x)
    one = const(b, x, 1.0)
    a2 = hlo.mul(b, a, a)
    near = log1p(b, hlo.add(b, a, hlo.div(b, a2, hlo.add(b, one, hlo.unary(
        b, "sqrt", hlo.add(b, one, a2))))))
    far = hlo.add(b, hlo.unary(b, "log", a), const(b, x, _LN2))
    out = hlo.select(b, hlo.compare(b, a, const(b, x, 2.0**28), "LT"), near, far)
    return copysign(b, out, x)


def acosh(b, x):
    """acosh x = log1p(t + sqrt(t (t + 2))) with t = x - 1; log(x) + log 2 beyond 2^28."""
    t = hlo.sub(b, x, const(b, x, 1.0))
    near = log1p(b, hlo.add(b, t, hlo.unary(b, "sqrt", hlo.mul(b, t, hlo.add(
        b, t, const(b, x, 2.0))))))
    far = hlo.add(b, hlo.unary(b, "log", x), const(b, x, _LN2))
    return hlo.select(b, hlo.compare(b, x, const(b, x, 2.0**28), "LT"), near, far)


def atanh(b, x):
    """atanh|x| = log1p(2a / (1 - a)) / 2."""
    a = hlo.unary(b, "abs", x)
    arg = hlo.div(b, hlo.mul(b, a, const(b, x, 2.0)), hlo.sub(b, const(b, x, 1.0), a))
    return copysign(b, hlo.mul(b, log1p(b, arg), const(b, x, 0.5)), x)


def _split(b, v):
    t = hlo.mul(b, v, const(b, v, 134217729.0))  # 2^27 + 1 (Veltkamp)
    hi = hlo.sub(b, t, hlo.sub(b, t, v))
    return hi, hlo.sub(b, v, hi)


def _two_prod(b, u, v):
    """u * v = p + e exactly (Dekker)."""
    p = hlo.mul(b, u, v)
    (uh, ul), (vh, vl) = _split(b, u), _split(b, v)
    e = hlo.add(b, hlo.add(b, hlo.add(b, hlo.sub(b, hlo.mul(b, uh, vh), p), hlo.mul(b, uh, vl)),
                           hlo.mul(b, ul, vh)), hlo.mul(b, ul, vl))
    return p, e


def fmod(b, x, y):
    """x - trunc(x / y) y, computed exactly (while the quotient fits in 53 bits)."""
    q = hlo.div(b, x, y)
    q = hlo.select(b, sign_bit(b, q), hlo.unary(b, "ceil", q), hlo.unary(b, "floor", q))
    p, e = _two_prod(b, q, y)
    r = hlo.sub(b, hlo.sub(b, x, p), e)
    ay = hlo.unary(b, "abs", y)
    step = copysign(b, ay, x)
    zero = const(b, x, 0.0)
    wrong_sign = hlo.and_(b, hlo.compare(b, r, zero, "NE"),
                          hlo.compare(b, sign_bit(b, r), sign_bit(b, x), "NE"))
    r = hlo.select(b, wrong_sign, hlo.add(b, r, step), r)
    r = hlo.select(b, hlo.compare(b, hlo.unary(b, "abs", r), ay, "GE"), hlo.sub(b, r, step), r)
    r = copysign(b, r, x)  # a zero remainder keeps x's sign
    y_inf = hlo.and_(b, hlo.compare(b, ay, const(b, x, np.inf), "EQ"),
                     hlo.unary(b, "is_finite", x, np.bool_))
    return hlo.select(b, y_inf, x, r)
