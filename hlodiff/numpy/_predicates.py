"""Whole-array predicates: allclose, isclose, array_equal, array_equiv."""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes
from hlodiff.core import get_aval
from hlodiff.numpy._core import promote_args_inexact, promote_args
from hlodiff.numpy._reductions import all as np_all
from hlodiff.numpy import _ufuncs as uf
from hlodiff.prims import elementwise as ew


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|a - b| <= atol + rtol * |b|, elementwise, with infinities equal to themselves."""
    a, b = promote_args_inexact("isclose", a, b)
    dtype = get_aval(a).dtype
    real_dt = dtypes.real_dtype(dtype) if dtypes.is_complex(dtype) else dtype
    rtol_c = np.array(rtol, real_dt)
    atol_c = np.array(atol, real_dt)
    diff = ew.abs(ew.sub(a, b))
    close = ew.le(diff, ew.add(atol_c, ew.mul(rtol_c, ew.abs(b))))
    both_inf = ew.and_(uf.isinf(a), ew.eq(a, b))
    out = ew.or_(ew.and_(close, uf.isfinite(diff)), both_inf)
    if equal_nan:
        out = ew.or_(out, ew.and_(uf.isnan(a), uf.isnan(b)))
    return out


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return np_all(isclose(a, b, rtol, atol, equal_nan))


def array_equal(a1, a2, equal_nan=False):
    if get_aval(a1).shape != get_aval(a2).shape:
        from hlodiff.numpy._creation import asarray

        return asarray(False)
    a1, a2 = promote_args("array_equal", a1, a2)
    eq = ew.eq(a1, a2)
    if equal_nan:
        eq = ew.or_(eq, ew.and_(uf.isnan(a1), uf.isnan(a2)))
    return np_all(eq)


def array_equiv(a1, a2):
    a1, a2 = promote_args("array_equiv", a1, a2)
    return np_all(ew.eq(a1, a2))


__all__ = ["isclose", "allclose", "array_equal", "array_equiv"]
