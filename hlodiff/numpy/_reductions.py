"""Reductions of the numpy API: sum, prod, mean, var, std, max, min, argmax, all, any, cumsum..."""

from __future__ import annotations

import builtins

import numpy as np

from hlodiff import dtypes
from hlodiff.core import get_aval
from hlodiff.numpy._core import asarray, canonicalize_axes, canonicalize_axis, check_arraylike
from hlodiff.prims import elementwise as ew
from hlodiff.prims import reduce as rp
from hlodiff.prims import shape as sp


def _prep(name, a, dtype=None, upcast_bool=True):
    check_arraylike(name, a)
    a = asarray(a)
    aval = get_aval(a)
    if dtype is not None:
        return ew.convert_element_type(a, dtypes.canonicalize_dtype(dtype), False)
    if upcast_bool and aval.dtype == np.bool_:
        return ew.convert_element_type(a, dtypes.default_int_dtype(), False)
    if upcast_bool and dtypes.is_integer(aval.dtype) and aval.dtype.itemsize < 4:
        kind = "u" if aval.dtype.kind == "u" else "i"
        target = dtypes.canonicalize_dtype(np.dtype(f"{kind}8"))
        return ew.convert_element_type(a, target, False)
    if aval.weak_type:
        return ew.convert_element_type(a, aval.dtype, False)
    return a


def _keepdims(out, in_shape, axes, keepdims):
    if not keepdims:
        return out
    shape = tuple(1 if i in axes else s for i, s in enumerate(in_shape))
    return sp.reshape(out, shape)


def _where_fill(a, where, fill):
    if where is None:
        return a
    from hlodiff.numpy._ufuncs import where as np_where

    return np_where(where, a, fill)


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    """Sum over `axis` (all axes when None)."""
    a = _prep("sum", a, dtype)
    shape = get_aval(a).shape
    axes = canonicalize_axes(axis, len(shape))
    a = _where_fill(a, where, 0)
    out_ = rp.reduce_sum(a, axes)
    if initial is not None:
        out_ = ew.add(out_, ew._const(out_, initial))
    return _keepdims(out_, shape, axes, keepdims)


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    a = _prep("prod", a, dtype)
    shape = get_aval(a).shape
    axes = canonicalize_axes(axis, len(shape))
    a = _where_fill(a, where, 1)
    out_ = rp.reduce_prod(a, axes)
    if initial is not None:
        out_ = ew.mul(out_, ew._const(out_, initial))
    return _keepdims(out_, shape, axes, keepdims)


def _extreme(name, reducer, binop):
    def fn(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        a = _prep(name, a, upcast_bool=False)
        shape = get_aval(a).shape
        axes = canonicalize_axes(axis, len(shape))
        if builtins.any(shape[i] == 0 for i in axes) and initial is None:
            raise ValueError(f"zero-size array to reduction operation {name} which has no "
                             "identity")
        if where is not None:
            if initial is None:
                raise ValueError(f"reduction operation {name} with where requires initial")
            from hlodiff.numpy._ufuncs import where as np_where

            a = np_where(where, a, initial)
        out_ = reducer(a, axes)
        if initial is not None:
            out_ = binop(out_, ew._const(out_, initial))
        return _keepdims(out_, shape, axes, keepdims)

    fn.__name__ = name
    return fn


max = _extreme("max", rp.reduce_max, ew.max)  # noqa: A001
min = _extreme("min", rp.reduce_min, ew.min)  # noqa: A001
amax, amin = max, min


def _logical_reduce(name, reducer):
    def fn(a, axis=None, out=None, keepdims=False, *, where=None):
        check_arraylike(name, a)
        a = asarray(a)
        if get_aval(a).dtype != np.bool_:
            a = ew.ne(a, ew._const(a, 0))
        if where is not None:
            from hlodiff.numpy._ufuncs import where as np_where

            a = np_where(where, a, name == "all")
        shape = get_aval(a).shape
        axes = canonicalize_axes(axis, len(shape))
        return _keepdims(reducer(a, axes), shape, axes, keepdims)

    fn.__name__ = name
    return fn


all = _logical_reduce("all", rp.reduce_and)  # noqa: A001
any = _logical_reduce("any", rp.reduce_or)  # noqa: A001


def _count(shape, axes):
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """Arithmetic mean; integers average in the default float dtype."""
    check_arraylike("mean", a)
    a = asarray(a)
    aval = get_aval(a)
    if dtype is None:
        dtype = dtypes.to_inexact_dtype(aval.dtype) if not dtypes.is_bool(
            aval.dtype) else dtypes.default_float_dtype()
        if not dtypes.is_inexact(dtype):
            dtype = dtypes.default_float_dtype()
    axes = canonicalize_axes(axis, aval.ndim)
    total = sum(a, axis=axes, dtype=dtype, keepdims=keepdims, where=where)
    if where is None:
        return ew.div(total, ew._const(total, _count(aval.shape, axes)))
    from hlodiff.numpy._creation import broadcast_to

    n = sum(broadcast_to(where, aval.shape), axis=axes, dtype=dtype, keepdims=keepdims)
    return ew.div(total, n)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        correction=None):
    check_arraylike("var", a)
    a = asarray(a)
    if correction is not None:
        ddof = correction
    aval = get_aval(a)
    axes = canonicalize_axes(axis, aval.ndim)
    centered = ew.sub(_inexact(a, dtype), mean(a, axes, dtype, keepdims=True))
    if dtypes.is_complex(get_aval(centered).dtype):
        sq = ew.real(ew.mul(centered, ew.conj(centered)))
    else:
        sq = ew.mul(centered, centered)
    total = sum(sq, axis=axes, keepdims=keepdims)
    n = _count(aval.shape, axes) - ddof
    return ew.div(total, ew._const(total, n))


def _inexact(a, dtype):
    aval = get_aval(a)
    target = dtype or dtypes.to_inexact_dtype(aval.dtype)
    if not dtypes.is_inexact(target):
        target = dtypes.default_float_dtype()
    return ew.convert_element_type(a, dtypes.canonicalize_dtype(target), False)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        correction=None):
    return ew.sqrt(var(a, axis, dtype, out, ddof, keepdims, where=where, correction=correction))


def _arg_extreme(name, prim_fn):
    def fn(a, axis=None, out=None, keepdims=False):
        check_arraylike(name, a)
        a = asarray(a)
        if axis is None:
            shape = get_aval(a).shape
            a = sp.reshape(a, (int(np.prod(shape, dtype=np.int64)),))
            axis_ = 0
        else:
            axis_ = canonicalize_axis(axis, get_aval(a).ndim)
        if get_aval(a).shape[axis_] == 0:
            raise ValueError(f"attempt to get {name} of an empty sequence")
        out_ = prim_fn(a, axis_, dtypes.default_int_dtype())
        if keepdims and axis is not None:
            out_ = sp.expand_dims(out_, (axis_,))
        return out_

    fn.__name__ = name
    return fn


argmax = _arg_extreme("argmax", rp.argmax)
argmin = _arg_extreme("argmin", rp.argmin)


def _cumulative(name, prim_fn, upcast=True):
    def fn(a, axis=None, dtype=None, out=None):
        a = _prep(name, a, dtype, upcast_bool=upcast)
        if axis is None:
            a = sp.reshape(a, (get_aval(a).size,))
            axis = 0
        return prim_fn(a, canonicalize_axis(axis, get_aval(a).ndim))

    fn.__name__ = name
    return fn


cumsum = _cumulative("cumsum", rp.cumsum)
cumprod = _cumulative("cumprod", rp.cumprod)
cumulative_sum = cumsum
cumulative_prod = cumprod


def ptp(a, axis=None, out=None, keepdims=False):
    return ew.sub(max(a, axis, keepdims=keepdims), min(a, axis, keepdims=keepdims))


def count_nonzero(a, axis=None, keepdims=False):
    a = asarray(a)
    return sum(ew.ne(a, ew._const(a, 0)), axis=axis, keepdims=keepdims,
               dtype=dtypes.default_int_dtype())


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        if returned:
            n = _count(get_aval(a).shape, canonicalize_axes(axis, get_aval(a).ndim))
            return avg, ew.mul(ew._const(avg, 0), avg) + n
        return avg
    from hlodiff.numpy._ufuncs import multiply

    wsum = sum(weights, axis=axis, keepdims=keepdims) if get_aval(
        weights).shape == get_aval(a).shape else sum(weights)
    avg = ew.div(*_same_dtype(sum(multiply(a, weights), axis=axis, keepdims=keepdims), wsum))
    return (avg, wsum) if returned else avg


def _same_dtype(x, y):
    from hlodiff.numpy._core import promote_args

    return promote_args("average", x, y)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(exp(a))) computed stably (also `hlodiff.scipy.special.logsumexp`)."""
    from hlodiff.numpy._core import promote_dtypes_inexact

    (a,) = promote_dtypes_inexact("logsumexp", a)
    shape = get_aval(a).shape
    axes = canonicalize_axes(axis, len(shape))
    amax = rp.reduce_max(a, axes)
    amax = ew.select_n(ew.is_finite(amax), ew._const(amax, 0), amax)
    amax = ew.stop_gradient(amax)
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    shifted = ew.exp(ew.sub(a, sp.broadcast_in_dim(amax, shape, kept)))
    if b is not None:
        shifted = ew.mul(shifted, asarray(b, get_aval(a).dtype))
    out_ = ew.add(ew.log(rp.reduce_sum(shifted, axes)), amax)
    return _keepdims(out_, shape, axes, keepdims)
