"""Lowering rules of the PRNG primitives (hlodiff/prims/random.py).

threefry2x32 is 20 rounds of uint32 add / rotate / xor, unrolled (a rotate is shift_left |
shift_right_logical), with a key injection after every 4 rounds. erf_inv and erf are CHLO ops
that IREE's input pipeline decomposes (as XLA does for JAX). mul_add is multiply + add.
"""

from __future__ import annotations

import numpy as np

from hlodiff.prims import random as rp

from .. import hlo
from ..registry import register

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


@register(rp.threefry2x32_p)
def _threefry2x32_lower(ctx, k1, k2, x1, x2):
    b = ctx.b
    shape = ctx.avals_out[0].shape
    k1, k2, x1, x2 = (hlo.broadcast_to(b, v, shape) for v in (k1, k2, x1, x2))

    def const(v):
        return hlo.full(b, np.uint32(v), np.uint32, shape)

    def add(x, y):
        return hlo.add(b, x, y)

    def xor(x, y):
        return hlo.binary(b, "xor", x, y)

    def rotl(v, d):
        left = hlo.binary(b, "shift_left", v, const(d))
        return hlo.or_(b, left, hlo.binary(b, "shift_right_logical", v, const(32 - d)))

    ks = (k1, k2, xor(xor(k1, k2), const(0x1BD11BDA)))
    v0, v1 = add(x1, ks[0]), add(x2, ks[1])
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            v0 = add(v0, v1)
            v1 = xor(rotl(v1, r), v0)
        v0 = add(v0, ks[(i + 1) % 3])
        v1 = add(add(v1, ks[(i + 2) % 3]), const(i + 1))
    return [v0, v1]


@register(rp.erf_inv_p)
def _erf_inv_lower(ctx, x):
    return ctx.b.op("chlo.erf_inv", [x], x.aval)


@register(rp.erf_p)
def _erf_lower(ctx, x):
    return ctx.b.op("chlo.erf", [x], x.aval)


@register(rp.mul_add_p)
def _mul_add_lower(ctx, x, y, z):
    b = ctx.b
    x, y, z = (hlo.broadcast_to(b, v, ctx.avals_out[0].shape) for v in (x, y, z))
    return hlo.add(b, hlo.mul(b, x, y), z)
