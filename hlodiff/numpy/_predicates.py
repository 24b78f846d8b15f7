"""Whole-array and elementwise predicates: isclose, allclose, array_equal, array_equiv, isreal,
iscomplex."""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Array
from hlodiff.numpy import _ufuncs as uf
from hlodiff.numpy._core import asarray, check_arraylike, promote_args, promote_args_inexact
from hlodiff.numpy._reductions import all as np_all
from hlodiff.prims import elementwise as ew


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise |a - b| <= atol + rtol * |b| (equal infinities are close, NaN never is unless
    `equal_nan`). Not symmetric in a and b, like numpy."""
    a, b = promote_args_inexact("isclose", a, b)
    real = dtypes.real_dtype(a.dtype)
    rtol = ew.convert_element_type(asarray(rtol), real, False)
    atol = ew.convert_element_type(asarray(atol), real, False)
    in_range = ew.le(ew.abs(ew.sub(a, b)), ew.add(atol, ew.mul(rtol, ew.abs(b))))
    out = ew.or_(ew.eq(a, b), ew.and_(uf.isfinite(b), in_range))
    if equal_nan:
        out = ew.or_(out, ew.and_(uf.isnan(a), uf.isnan(b)))
    return out


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether `isclose(a, b)` holds everywhere (a 0-d bool array)."""
    check_arraylike("allclose", a, b)
    return np_all(isclose(a, b, rtol, atol, equal_nan))


def array_equal(a1, a2, equal_nan=False):
    """Whether a1 and a2 have the same shape and elements (False for different shapes)."""
    check_arraylike("array_equal", a1, a2)
    a1, a2 = asarray(a1), asarray(a2)
    if a1.shape != a2.shape:
        return Array(np.array(False), False)
    a1, a2 = promote_args("array_equal", a1, a2)
    eq = ew.eq(a1, a2)
    if equal_nan:
        eq = ew.or_(eq, ew.and_(uf.isnan(a1), uf.isnan(a2)))
    return np_all(eq)


def array_equiv(a1, a2):
    """Whether a1 and a2 are equal after broadcasting (False if they do not broadcast)."""
    check_arraylike("array_equiv", a1, a2)
    try:
        a1, a2 = promote_args("array_equiv", a1, a2)
    except ValueError:
        return Array(np.array(False), False)
    return np_all(ew.eq(a1, a2))


def isreal(x):
    """Elementwise: whether the imaginary part is zero."""
    i = uf.imag(x)
    return ew.eq(i, uf._const(i, 0))


def iscomplex(x):
    """Elementwise: whether the imaginary part is nonzero."""
    i = uf.imag(x)
    return ew.ne(i, uf._const(i, 0))


__all__ = ["allclose", "array_equal", "array_equiv", "isclose", "iscomplex", "isreal"]
