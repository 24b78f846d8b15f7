"""PRNG primitives: `threefry2x32`, and the special functions the samplers need, with eager
implementations that reproduce XLA's CPU numerics bit for bit.

- `threefry2x32(k1, k2, x1, x2) -> (y1, y2)`: the Threefry-2x32 block cipher, 20 rounds (Salmon et
  al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), on uint32 arrays. Key words and
  counters broadcast like elementwise operands (equal ranks or rank 0, dims equal or 1).
- `erf_inv`, `erf`: lax's special functions. `normal` and `truncated_normal` are built on them.
- `mul_add(x, y, z)`: `x * y + z` rounded once. XLA's CPU backend contracts a multiply feeding an
  add into one FMA instruction, so JAX's `uniform(minval, maxval)` rounds once there; the eager
  numpy implementation must too to give JAX's bits. Lowered as multiply + add.

Why emulate XLA here: a correctly rounded float32 `log1p` differs from XLA's in the last bit
for about a quarter of the inputs in [0, 1), which moves `random.normal` off JAX's values. The
eager implementations below follow the kernels XLA emits (Eigen's `plog`, Cephes' `log1p`,
Giles' `erfinv`, XLA's `erf`, Eigen's fast `tanh`), including which multiply-adds the x86
backend fuses, flush-to-zero of subnormals, and glibc's float64 `log`/`erf`.
`tests/test_random.py` checks them against bits recorded from JAX.
"""

from __future__ import annotations

import math

import numpy as np

from hlodiff.core import Primitive, ShapedArray, get_aval
from hlodiff.prims import elementwise as ew
from hlodiff.prims.elementwise import _float, _nary_batch, broadcast_shapes_strict, unop
from hlodiff.transforms.jvp import Zero, add_tangents, defjvp, defjvp2, defjvp_zero, tangent_aval

_u32 = np.uint32
_f32, _f64 = np.float32, np.float64


# ---------------------------------------------------------------------------------------------
# threefry2x32

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = _u32(0x1BD11BDA)


def _rotl(v, d: int):
    return (v << _u32(d)) | (v >> _u32(32 - d))


def _threefry2x32_impl(k1, k2, x1, x2):
    _threefry2x32_abstract(
        *(ShapedArray(np.shape(a), np.asarray(a).dtype) for a in (k1, k2, x1, x2))
    )
    shape = np.broadcast_shapes(*(np.shape(a) for a in (k1, k2, x1, x2)))
    k1, k2, x1, x2 = (np.asarray(a, _u32) for a in (k1, k2, x1, x2))
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    with np.errstate(over="ignore"):
        v0, v1 = x1 + ks[0], x2 + ks[1]
        for i in range(5):  # 5 blocks of 4 rounds; key injection after each block
            for r in _ROTATIONS[i % 2]:
                v0 = v0 + v1
                v1 = _rotl(v1, r) ^ v0
            v0 = v0 + ks[(i + 1) % 3]
            v1 = v1 + ks[(i + 2) % 3] + _u32(i + 1)
    return [np.array(np.broadcast_to(v, shape), _u32) for v in (v0, v1)]


def _threefry2x32_abstract(k1, k2, x1, x2):
    avals = (k1, k2, x1, x2)
    if any(a.dtype != np.dtype(_u32) for a in avals):
        got = ", ".join(a.str_short() for a in avals)
        raise TypeError(f"threefry2x32 requires uint32 arguments, got {got}.")
    shape = broadcast_shapes_strict("threefry2x32", *(a.shape for a in avals))
    return [ShapedArray(shape, _u32)] * 2


threefry2x32_p = Primitive("threefry2x32")
threefry2x32_p.multiple_results = True
threefry2x32_p.impl = _threefry2x32_impl
threefry2x32_p.abstract_eval = _threefry2x32_abstract
threefry2x32_p.weak_type_rule = lambda *args: False
defjvp_zero(threefry2x32_p)


def _threefry2x32_batch(axis_size, vals, dims):
    out, out_dim = _nary_batch(threefry2x32_p, vals, dims, {})
    return out, [out_dim, out_dim]


threefry2x32_p.batch = _threefry2x32_batch


def threefry2x32(k1, k2, x1, x2):
    """The Threefry-2x32 hash of counters `(x1, x2)` under key `(k1, k2)`; all uint32."""
    return threefry2x32_p.bind(k1, k2, x1, x2)


from hlodiff.prims.xla_numerics import (  # noqa: E402,F401  (re-exported for tests)
    _ERF_DEN,
    _ERF_INV32,
    _ERF_INV64,
    _ERF_NUM,
    _LOG1P,
    _LOG_P,
    _TANH_DEN,
    _TANH_NUM,
    _by_dtype,
    _erf_f32,
    _erf_f64,
    _erf_f64_impl,
    _erf_inv_f32,
    _erf_inv_f64,
    _erf_inv_impl,
    _flush_subnormals,
    _fma32,
    _fma64,
    _ftz,
    _h32,
    _h64,
    _libm,
    _log1p,
    _log_f32,
    _log_f64,
    _log_f64_libm,
    _tanh_f32,
    _two_prod,
    _two_sum,
    fma,
    xla_log1p_impl,
    xla_log_impl,
    xla_tanh_f32_impl,
)


# ---------------------------------------------------------------------------------------------
# erf_inv, erf


erf_inv_p = unop("erf_inv", _ftz(_by_dtype(_erf_inv_impl, _erf_inv_impl, _erf_inv_impl)), (_float,))
# d erfinv(x) = sqrt(pi)/2 exp(erfinv(x)^2) dx; reuse the primal output.
defjvp2(
    erf_inv_p,
    lambda g, ans, x: ew.mul(
        g, ew.mul(ew._const(x, math.sqrt(math.pi) / 2), ew.exp(ew.mul(ans, ans)))
    ),
)


def erf_inv(x):
    return erf_inv_p.bind(x)


erf_p = unop("erf", _ftz(_by_dtype(_erf_f32, _erf_f64_impl, _erf_f64_impl)), (_float,))
# d erf(x) = 2/sqrt(pi) exp(-x^2) dx
defjvp(
    erf_p,
    lambda g, x: ew.mul(
        g, ew.mul(ew._const(x, 2 / math.sqrt(math.pi)), ew.exp(ew.neg(ew.mul(x, x))))
    ),
)


def erf(x):
    return erf_p.bind(x)


# ---------------------------------------------------------------------------------------------
# mul_add


def _mul_add_impl(x, y, z):
    shape = np.broadcast_shapes(np.shape(x), np.shape(y), np.shape(z))
    return np.array(np.broadcast_to(fma(x, y, z), shape), np.asarray(x).dtype)


def _mul_add_abstract(x, y, z):
    ew._check_kinds("mul_add", (x, y, z), (_float,))
    dtype = ew._same_dtype("mul_add", (x, y, z))
    shape = broadcast_shapes_strict("mul_add", x.shape, y.shape, z.shape)
    return ShapedArray(shape, dtype, x.weak_type and y.weak_type and z.weak_type)


def _mul_add_jvp(primals, tangents):
    x, y, z = primals
    out = mul_add(x, y, z)
    shape = get_aval(out).shape
    t = Zero(tangent_aval(get_aval(out)))
    for dot, term in zip(tangents, (lambda g: ew.mul(g, y), lambda g: ew.mul(x, g), lambda g: g)):
        if type(dot) is not Zero:
            t = add_tangents(t, ew.broadcast_to_shape(term(dot), shape))
    return out, t


mul_add_p = Primitive("mul_add")
mul_add_p.impl = _mul_add_impl
mul_add_p.abstract_eval = _mul_add_abstract
mul_add_p.jvp = _mul_add_jvp
mul_add_p.batch = lambda axis_size, vals, dims: _nary_batch(mul_add_p, vals, dims, {})


def mul_add(x, y, z):
    """`x * y + z` rounded once (operands share a dtype; shapes as for elementwise ops)."""
    return mul_add_p.bind(x, y, z)


__all__ = [
    "erf",
    "erf_inv",
    "erf_inv_p",
    "erf_p",
    "fma",
    "mul_add",
    "mul_add_p",
    "threefry2x32",
    "threefry2x32_p",
]
