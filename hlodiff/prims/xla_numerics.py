"""numpy copies of the kernels XLA's CPU backend emits, for eager results bit-exact with JAX.

Fused multiply-add where XLA fuses, flush-to-zero of subnormals, Eigen's `plog` (float32 log),
Cephes' `log1p`, Giles' `erfinv`, XLA's `erf`, Eigen's fast float32 `tanh`, and glibc's float64
`log`/`erf`. A correctly rounded float32 `log1p` differs from XLA's in the last bit for about a
quarter of inputs in [0, 1); these reproduce XLA's bits (`tests/test_random.py` checks them
against bits recorded from JAX). Depends only on numpy.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

_u32 = np.uint32
_f32, _f64 = np.float32, np.float64



def _h32(bits: int):
    return np.array(bits, _u32).view(_f32)[()]


def _h64(bits: int):
    return np.array(bits, np.uint64).view(_f64)[()]


def _fma32(a, b, c):
    """float32 `a * b + c` rounded once, as XLA's fused multiply-add.

    The float32 product is exact in float64, so the only rounding before the final one is the
    float64 sum; a double rounding can differ from a true FMA only when that sum lands exactly
    halfway between two float32s, which is rare enough (no mismatch in 2M tanh inputs) to trade
    for a 4x cheaper kernel (`_fma32_exact` rounds to odd and is always right).
    """
    return (np.asarray(a, _f64) * np.asarray(b, _f64) + np.asarray(c, _f64)).astype(_f32)


def _fma32_exact(a, b, c):
    """Correctly rounded float32 `a * b + c`: exact product in float64, the sum rounded to odd
    (exact via TwoSum), then rounded to float32, which makes the double rounding harmless."""
    a, b, c = (np.asarray(v, _f32) for v in (a, b, c))
    with np.errstate(all="ignore"):
        p = a.astype(_f64) * b.astype(_f64)
        c64 = c.astype(_f64)
        s = p + c64
        bp = s - p
        err = (p - (s - bp)) + (c64 - bp)
        inexact = (err != 0) & np.isfinite(s)
        bits = s.view(np.int64)
        bits = np.where(inexact & ((err > 0) != (s > 0)), bits - 1, bits)  # truncate to zero
        bits = np.where(inexact, bits | 1, bits)
    return bits.view(_f64).astype(_f32)


def _two_sum(a, b):
    s = a + b
    bp = s - a
    return s, (a - (s - bp)) + (b - bp)


def _two_prod(a, b):
    """a * b = p + e exactly (Dekker's product with Veltkamp's split)."""

    def split(v):
        t = 134217729.0 * v
        hi = t - (t - v)
        return hi, v - hi

    p = a * b
    (ah, al), (bh, bl) = split(a), split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _fma64(a, b, c):
    """Correctly rounded float64 `a * b + c`: error-free transforms, and exact rational
    arithmetic for the rare results that land within rounding noise of a tie."""
    a, b, c = np.broadcast_arrays(*(np.asarray(v, _f64) for v in (a, b, c)))
    with np.errstate(all="ignore"):
        p, pe = _two_prod(a, b)
        s, se = _two_sum(p, c)
        t = se + pe
        r, e = _two_sum(s, t)
        ulp = np.abs(np.spacing(np.abs(r)))
        tie = np.minimum(np.abs(np.abs(e) - ulp / 2), np.abs(np.abs(e) - ulp / 4))
        finite = np.isfinite(a) & np.isfinite(b) & np.isfinite(c)
        hard = finite & ((tie <= 4 * np.abs(np.spacing(t))) | ~np.isfinite(r) | ~np.isfinite(pe))
        r = np.where(finite, r, a * b + c)
    r = np.array(r, _f64)
    for i in zip(*np.nonzero(hard)) if r.ndim else ([()] if hard else []):
        exact = Fraction(float(a[i])) * Fraction(float(b[i])) + Fraction(float(c[i]))
        try:
            r[i] = float(exact)
        except OverflowError:
            r[i] = np.inf if exact > 0 else -np.inf
    return r


def fma(a, b, c):
    """`a * b + c` with one rounding, in the dtype of `a` (float32 or float64)."""
    dtype = np.asarray(a).dtype
    if dtype == _f32:
        return _fma32(a, b, c)
    if dtype == _f64:
        return _fma64(a, b, c)
    wide = np.asarray(a, _f64) * np.asarray(b, _f64) + np.asarray(c, _f64)
    return wide.astype(dtype)


def _flush_subnormals(x):
    """XLA's CPU runtime runs with FTZ/DAZ: subnormal inputs and results read as signed zero."""
    x = np.asarray(x)
    tiny = np.finfo(x.dtype).tiny
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(x) < tiny, x * x.dtype.type(0), x).astype(x.dtype)


def _ftz(fn):
    def impl(x):
        return _flush_subnormals(fn(_flush_subnormals(x)))

    return impl


def _libm(fn, nonpositive):
    """A float64 glibc function, elementwise (numpy's own SIMD float64 log differs from it)."""

    def impl(y):
        y = np.asarray(y, _f64)
        out = np.full(y.shape, np.nan)
        ok = np.isfinite(y) & (y > 0 if nonpositive else True)
        out[ok] = [fn(v) for v in y[ok].tolist()]
        return out

    return impl


_log_f64_libm = _libm(math.log, nonpositive=True)


def _log_f64(y):
    out = _log_f64_libm(y)
    return np.where(y == 0, -np.inf, np.where(y == np.inf, np.inf, out))


_LOG_P = [_h32(b) for b in (0x3D9021BB, 0xBDEBD1B8, 0x3DEF251A, 0xBDFE5D4F, 0x3E11E9BF,
                            0xBE2AAE50, 0x3E4CCEAC, 0xBE7FFFFC, 0x3EAAAAAA)]


def _log_f32(x):
    """Eigen's `plog_float` as XLA compiles it: log(m) + e*ln2 with m in [sqrt(.5), sqrt(2))."""
    f, p = _f32, _LOG_P
    with np.errstate(all="ignore"):
        clamped = np.where(x > _h32(0x00800000), x, _h32(0x00800000))
        bits = clamped.view(_u32)
        e = (bits >> _u32(23)).astype(np.int32) - 127
        m = ((bits & _u32(0x807FFFFF)) | _u32(0x3F000000)).view(f)
        small = m < _h32(0x3F3504F3)
        ef = (e.astype(f) + f(1)) - np.where(small, f(1), f(0))
        t = (m + f(-1)) + np.where(small, m, f(0))
        t2 = t * t
        t3 = t2 * t
        y0, y1, y2 = _fma32(t, p[0], p[1]), _fma32(t, p[3], p[4]), _fma32(t, p[6], p[7])
        y0, y1, y2 = _fma32(y0, t, p[2]), _fma32(y1, t, p[5]), _fma32(y2, t, p[8])
        y = _fma32(_fma32(y0, t3, y1), t3, y2)
        y = _fma32(y, t3, ef * _h32(0xB95E8083))
        out = _fma32(ef, _h32(0x3F318000), (t - t2 * f(0.5)) + y)
        out = np.where((x <= 0) | np.isnan(x), f(np.nan), out)
        return np.where(x == 0, f(-np.inf), np.where(x == np.inf, f(np.inf), out)).astype(f)


# Cephes log1p on |x| < sqrt(2) - 1: x - x^2/2 + x^3 P(x)/Q(x); log(1 + x) elsewhere.
_LOG1P = {
    _f32: ([4.527e-05] + [_h32(b) for b in (0x3EFF40C5, 0x40D284FA, 0x41EF4B9C, 0x4273CC76,
                                            0x426473AD, 0x41A05101)],
           [_h32(b) for b in (0x417101AD, 0x42A6185B, 0x435DC32D, 0x439A8CA3, 0x43586D8A,
                              0x42707982)], _h32(0x3ED413CD), _log_f32),
    _f64: ([_h64(b) for b in (0x3F07BC0962B395CA, 0x3FDFE818A0FE1A83, 0x401A509F46F4FA53,
                              0x403DE9738B8CB9C9, 0x404E798EB86C3351, 0x404C8E7597479A10,
                              0x40340A202D99830A)],
           [_h64(b) for b in (0x402E20359E903E37, 0x4054C30B52213498, 0x406BB86590FCFB56,
                              0x407351945DC908A5, 0x406B0DB13E48E066, 0x404E0F304466448E)],
           _h64(0x3FDA827999FCEF32), _log_f64),
}


def _log1p(x):
    dt = x.dtype.type
    num, den, threshold, log = _LOG1P[dt]
    with np.errstate(all="ignore"):
        zero = x * dt(0)  # XLA starts both polynomials from 0*x: nan for inf/nan inputs
        q = zero + dt(1)
        for c in den:
            q = fma(q, x, np.asarray(c, dt))
        p = zero + dt(num[0])
        for c in num[1:]:
            p = fma(p, x, np.asarray(c, dt))
        x2 = x * x
        near = x + (x2 * dt(-0.5) + (x * x2) * (p / q))
        return np.where(np.abs(x) < threshold, near, log(x + dt(1))).astype(dt)


# Giles, "Approximating the erfinv function" (GPU Computing Gems), as in XLA's ErfInv32/64.
_ERF_INV32 = (
    [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
     -0.00125372503, -0.00417768164, 0.246640727, 1.50140941],
    [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
     -0.0076224613, 0.00943887047, 1.00167406, 2.83297682],
)
_ERF_INV64 = (
    [-3.6444120640178196996e-21, -1.685059138182016589e-19, 1.2858480715256400167e-18,
     1.115787767802518096e-17, -1.333171662854620906e-16, 2.0972767875968561637e-17,
     6.6376381343583238325e-15, -4.0545662729752068639e-14, -8.1519341976054721522e-14,
     2.6335093153082322977e-12, -1.2975133253453532498e-11, -5.4154120542946279317e-11,
     1.051212273321532285e-09, -4.1126339803469836976e-09, -2.9070369957882005086e-08,
     4.2347877827932403518e-07, -1.3654692000834678645e-06, -1.3882523362786468719e-05,
     0.0001867342080340571352, -0.00074070253416626697512, -0.0060336708714301490533,
     0.24015818242558961693, 1.6536545626831027356],
    [2.2137376921775787049e-09, 9.0756561938885390979e-08, -2.7517406297064545428e-07,
     1.8239629214389227755e-08, 1.5027403968909827627e-06, -4.013867526981545969e-06,
     2.9234449089955446044e-06, 1.2475304481671778723e-05, -4.7318229009055733981e-05,
     6.8284851459573175448e-05, 2.4031110387097893999e-05, -0.0003550375203628474796,
     0.00095328937973738049703, -0.0016882755560235047313, 0.0024914420961078508066,
     -0.0037512085075692412107, 0.005370914553590063617, 1.0052589676941592334,
     3.0838856104922207635],
    [-2.7109920616438573243e-11, -2.5556418169965252055e-10, 1.5076572693500548083e-09,
     -3.7894654401267369937e-09, 7.6157012080783393804e-09, -1.4960026627149240478e-08,
     2.9147953450901080826e-08, -6.7711997758452339498e-08, 2.2900482228026654717e-07,
     -9.9298272942317002539e-07, 4.5260625972231537039e-06, -1.9681778105531670567e-05,
     7.5995277030017761139e-05, -0.00021503011930044477347, -0.00013871931833623122026,
     1.0103004648645343977, 4.8499064014085844221],
)


def _erf_inv_f32(x, log1p_w):
    f = _f32
    lt5 = log1p_w > f(-5)  # w = -log1p(-x^2) < 5
    w = np.where(lt5, f(-2.5) - log1p_w, np.sqrt(-log1p_w) - f(3))
    lo, hi = _ERF_INV32
    p = np.where(lt5, f(lo[0]), f(hi[0]))
    for a, b in zip(lo[1:], hi[1:]):
        p = _fma32(p, w, np.where(lt5, f(a), f(b)))
    return p


def _erf_inv_f64(x, log1p_w):
    lt6, lt16 = log1p_w > -6.25, log1p_w > -16.0
    w = np.where(lt6, -3.125 - log1p_w, np.sqrt(-log1p_w) - np.where(lt16, 3.25, 5.0))
    c6, c16, cbig = _ERF_INV64

    def coeff(i):
        c = np.full(np.shape(x), c6[i])
        c = np.where(lt6, c, c16[i]) if i < 19 else c
        return np.where(lt16, c, cbig[i]) if i < 17 else c

    p = coeff(0)
    for i in range(1, 23):
        step = _fma64(p, w, coeff(i))
        p = step if i < 17 else np.where(lt16 if i < 19 else lt6, step, p)
    return p


def _erf_inv_impl(x):
    with np.errstate(all="ignore"):
        log1p_w = _log1p(x * -x)
        poly = (_erf_inv_f32 if x.dtype == _f32 else _erf_inv_f64)(x, log1p_w)
        return (x * np.where(np.abs(x) == 1, x.dtype.type(np.inf), poly)).astype(x.dtype)


_ERF_NUM = [_h32(b) for b in (0x39702D51, 0x3B5F5DA2, 0x3D50B6EB, 0x3E3DA740, 0x3F906EBA)]
_ERF_DEN = [_h32(b) for b in (0xB3FD3906, 0x37C588DF, 0x3A856D28, 0x3C6687D4, 0x3DE34C21,
                              0x3EFEB44A, 0x3F800000)]


def _erf_f32(x):
    """XLA's float32 erf: x P(x^2) / Q(x^2), saturating to +-1 beyond |x| = 3.8325."""
    with np.errstate(all="ignore"):
        x2 = x * x
        num = _fma32(x2, _ERF_NUM[0], _ERF_NUM[1])
        for c in _ERF_NUM[2:]:
            num = _fma32(x2, num, c)
        den = _fma32(x2, _ERF_DEN[0], _ERF_DEN[1])
        for c in _ERF_DEN[2:]:
            den = _fma32(x2, den, c)
        ratio = (x * num) / den
        return np.where(np.abs(x) >= _h32(0x407547CB), np.copysign(_f32(1), x), ratio)


_erf_f64 = _libm(math.erf, nonpositive=False)


def _by_dtype(f32_impl, f64_impl, wide):
    """Dispatches on dtype; other float dtypes (f16, bf16) go through float64 and round once."""

    def impl(x):
        x = np.asarray(x)
        if x.dtype == _f32:
            return f32_impl(x)
        if x.dtype == _f64:
            return f64_impl(x)
        return wide(x.astype(_f64)).astype(x.dtype)

    return impl


def _erf_f64_impl(x):
    return np.where(np.isnan(x), x, np.where(np.isinf(x), np.sign(x), _erf_f64(x)))


_TANH_NUM = [_h32(b) for b in (0xA59F25C0, 0x2A61337E, 0xAEBD37FF, 0x335C0041, 0x3779434A,
                                0x3A270DED, 0x3BA059DC)]
_TANH_DEN = [_h32(b) for b in (0x35A0D3D8, 0x38F895D6, 0x3B14AA05, 0x3BA059DD)]


def _tanh_f32(x):
    """Eigen's `generic_fast_tanh_float` as XLA compiles it: x P(x^2) / Q(x^2) on x clamped to
    +-7.9988, x itself below 4e-4, +-1 from 20 on."""
    f, clip = _f32, _h32(0x40FFF644)
    with np.errstate(all="ignore"):
        c = np.where(x < -clip, -clip, np.where(x > clip, clip, x))
        x2 = c * c
        num = _fma32(x2, _TANH_NUM[0], _TANH_NUM[1])
        for k in _TANH_NUM[2:]:
            num = _fma32(x2, num, k)
        den = _fma32(x2, _TANH_DEN[0], _TANH_DEN[1])
        for k in _TANH_DEN[2:]:
            den = _fma32(x2, den, k)
        out = np.where(np.abs(x) < f(4e-4), x, (c * num) / den)
        return np.where(np.abs(x) >= f(20), np.copysign(f(1), x), out).astype(f)


# XLA's kernels for lax.log / log1p / tanh, for the elementwise `log_p`/`log1p_p`/`tanh_p` to
# take as their `impl` (float64 tanh is left to them): then `gumbel`, `exponential` and
# `categorical` are bit-exact with JAX too, and so is the spec's Jacobian of `predict`.
xla_log_impl = _ftz(_by_dtype(_log_f32, _log_f64, _log_f64))
xla_log1p_impl = _ftz(_by_dtype(_log1p, _log1p, _log1p))
xla_tanh_f32_impl = _ftz(_tanh_f32)


