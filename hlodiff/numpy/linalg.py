"""`hlodiff.numpy.linalg`: norms now; decompositions come with the linear-algebra primitives."""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes
from hlodiff.core import get_aval
from hlodiff.numpy._core import asarray, canonicalize_axes
from hlodiff.numpy import _reductions as red
from hlodiff.numpy import _ufuncs as uf
from hlodiff.prims import elementwise as ew


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """Vector or matrix norm (Frobenius / 2-norm by default)."""
    x = asarray(x)
    if not dtypes.is_inexact(get_aval(x).dtype):
        x = ew.convert_element_type(x, dtypes.default_float_dtype())
    ndim = get_aval(x).ndim
    axes = canonicalize_axes(axis, ndim) if axis is not None else tuple(range(ndim))
    absx = uf.absolute(x)
    if ord is None or ord == "fro" or (ord == 2 and len(axes) == 1):
        return uf.sqrt(red.sum(ew.mul(absx, absx), axis=axes, keepdims=keepdims))
    if len(axes) == 1:
        if ord == np.inf:
            return red.max(absx, axis=axes, keepdims=keepdims)
        if ord == -np.inf:
            return red.min(absx, axis=axes, keepdims=keepdims)
        if ord == 0:
            return red.sum(ew.convert_element_type(ew.ne(x, ew._const(x, 0)),
                                                   get_aval(absx).dtype), axis=axes,
                           keepdims=keepdims)
        if ord == 1:
            return red.sum(absx, axis=axes, keepdims=keepdims)
        p = float(ord)
        return uf.power(red.sum(uf.power(absx, p), axis=axes, keepdims=keepdims), 1.0 / p)
    if len(axes) == 2:
        r, c = axes
        if ord == 1:
            return red.max(red.sum(absx, axis=r, keepdims=True), axis=(r, c), keepdims=keepdims)
        if ord == np.inf:
            return red.max(red.sum(absx, axis=c, keepdims=True), axis=(r, c), keepdims=keepdims)
        if ord == "nuc" or ord in (2, -2):
            raise NotImplementedError(f"norm(ord={ord!r}) needs svd, which is not implemented "
                                      "yet")
    raise ValueError(f"Invalid norm order {ord!r} for an array of rank {ndim}")
