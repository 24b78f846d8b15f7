"""Reductions of the numpy API: sum, prod, mean, var, std, max, min, argmax, all, any, cumsum,
their nan-ignoring variants, ptp, count_nonzero, average and logsumexp.

Dtype rules are JAX's: sums and products of bool and narrow integers accumulate in int32 (uint32
for unsigned), means and variances of integers are float32, the variance of complex values is
real, and results are never weakly typed. `axis` may be None, an int, negative, or a tuple.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Array
from hlodiff.numpy._core import asarray, canonicalize_axes, canonicalize_axis, check_arraylike
from hlodiff.prims import elementwise as ew
from hlodiff.prims import reduce as rp
from hlodiff.prims import shape as sp

_NARROW_INTS = {
    np.dtype(t): np.dtype(u)
    for t, u in (("int8", "int32"), ("int16", "int32"), ("uint8", "uint32"), ("uint16", "uint32"))
}


def _strong_array(name, a):
    check_arraylike(name, a)
    a = asarray(a)
    return ew.convert_element_type(a, a.dtype, False) if a.weak_type else a


def _prep(name, a, dtype=None, upcast=True, upcast_narrow=True):
    """`a` as a strong array in the dtype the reduction accumulates in."""
    a = _strong_array(name, a)
    if dtype is not None:
        return ew.convert_element_type(a, dtypes.canonicalize_dtype(dtype), False)
    if upcast and a.dtype == np.bool_:
        return ew.convert_element_type(a, dtypes.default_int_dtype(), False)
    if upcast_narrow and a.dtype in _NARROW_INTS:
        return ew.convert_element_type(a, _NARROW_INTS[a.dtype], False)
    return a


def _keepdims(out, in_shape, axes, keepdims):
    if not keepdims:
        return out
    return sp.reshape(out, tuple(1 if i in axes else s for i, s in enumerate(in_shape)))


def _where_fill(a, where, fill):
    """`a` with `fill` where `where` is False (the `where=` argument of reductions)."""
    if where is None:
        return a
    from hlodiff.numpy._ufuncs import where as np_where

    return np_where(where, a, ew.convert_element_type(np.array(fill), a.dtype, False))


def _count(shape, axes):
    return math.prod(shape[i] for i in axes)


# --- sum, prod, max, min ------------------------------------------------------------------------


def _additive(name, reducer, combine, identity, doc):
    def fn(
        a,
        axis=None,
        dtype=None,
        out=None,
        keepdims=False,
        initial=None,
        where=None,
        promote_integers=True,
    ):
        a = _prep(name, a, dtype, upcast_narrow=promote_integers)
        axes = canonicalize_axes(axis, a.ndim)
        result = reducer(_where_fill(a, where, identity), axes)
        if initial is not None:
            result = combine(result, np.array(initial, result.dtype))
        return _keepdims(result, a.shape, axes, keepdims)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


sum = _additive(
    "sum",
    rp.reduce_sum,
    ew.add,
    0,
    "Sum over `axis` (all axes when None); bool and narrow ints sum in int32.",
)
prod = _additive(
    "prod",
    rp.reduce_prod,
    ew.mul,
    1,
    "Product over `axis` (all axes when None); bool and narrow ints in int32.",
)


def _extreme(name, reducer, combine):
    def fn(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        a = _strong_array(name, a)
        axes = canonicalize_axes(axis, a.ndim)
        if initial is None and builtins.any(a.shape[i] == 0 for i in axes):
            raise ValueError(
                f"zero-size array to reduction operation {name} which has no "
                "identity; pass `initial=`."
            )
        if where is not None:
            if initial is None:
                raise ValueError(f"reduction operation {name} with where requires initial")
            a = _where_fill(a, where, initial)
        result = reducer(a, axes)
        if initial is not None:
            result = combine(result, np.array(initial, result.dtype))
        return _keepdims(result, a.shape, axes, keepdims)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"The {name}imum over `axis` (NaN propagates); needs `initial` when empty."
    return fn


max = _extreme("max", rp.reduce_max, ew.max)
min = _extreme("min", rp.reduce_min, ew.min)
amax, amin = max, min


def ptp(a, axis=None, out=None, keepdims=False):
    """max - min over `axis` (peak to peak)."""
    from hlodiff.numpy._ufuncs import subtract

    return subtract(max(a, axis, keepdims=keepdims), min(a, axis, keepdims=keepdims))


def _logical_reduce(name, reducer, identity):
    def fn(a, axis=None, out=None, keepdims=False, *, where=None):
        a = _strong_array(name, a)
        if a.dtype != np.bool_:
            a = ew.ne(a, np.zeros((), a.dtype))
        a = _where_fill(a, where, identity)
        axes = canonicalize_axes(axis, a.ndim)
        return _keepdims(reducer(a, axes), a.shape, axes, keepdims)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Whether {name} elements along `axis` are true (nonzero)."
    return fn


all = _logical_reduce("all", rp.reduce_and, True)
any = _logical_reduce("any", rp.reduce_or, False)


def count_nonzero(a, axis=None, keepdims=False):
    """The number of nonzero elements along `axis`, as int32."""
    a = _strong_array("count_nonzero", a)
    return sum(
        ew.ne(a, np.zeros((), a.dtype)),
        axis=axis,
        keepdims=keepdims,
        dtype=dtypes.default_int_dtype(),
    )


# --- mean, var, std ------------------------------------------------------------------------------


def _inexact_dtype(dtype, a):
    """The dtype mean/var compute in: `dtype` if given, else a's, made inexact."""
    if dtype is not None:
        return dtypes.canonicalize_dtype(dtype)
    if dtypes.is_inexact(a.dtype):
        return a.dtype
    return dtypes.canonicalize_dtype(dtypes.to_inexact_dtype(a.dtype))


def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """Arithmetic mean over `axis`; bool and integers average in float32."""
    a = _strong_array("mean", a)
    dtype = _inexact_dtype(dtype, a)
    axes = canonicalize_axes(axis, a.ndim)
    total = sum(a, axis=axes, dtype=dtype, keepdims=keepdims, where=where)
    return ew.div(total, _divisor(a.shape, axes, where, keepdims, dtype))


def _divisor(shape, axes, where, keepdims, dtype, ddof=0):
    """The element count along `axes` (less ddof): a constant, or a count of `where`."""
    if where is None:
        return np.array(_count(shape, axes) - ddof, dtype)
    from hlodiff.numpy._creation import broadcast_to

    n = sum(broadcast_to(where, shape), axis=axes, dtype=dtype, keepdims=keepdims)
    return ew.sub(n, np.array(ddof, dtype)) if ddof else n


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, correction=None):
    """Variance over `axis`, dividing by N - ddof (`correction` is the Array API name).
    Complex inputs give a real variance."""
    a = _strong_array("var", a)
    if correction is not None:
        ddof = correction
    compute = _inexact_dtype(dtype, a)
    axes = canonicalize_axes(axis, a.ndim)
    x = ew.convert_element_type(a, compute, False)
    centered = ew.sub(x, mean(x, axes, keepdims=True, where=where))
    if dtypes.is_complex(compute):
        sq = ew.real(ew.mul(centered, ew.conj(centered)))
    else:
        sq = ew.mul(centered, centered)
    total = sum(sq, axis=axes, keepdims=keepdims, where=where)
    return ew.div(total, _divisor(a.shape, axes, where, keepdims, total.dtype, ddof))


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, correction=None):
    """Standard deviation over `axis` (the square root of `var`)."""
    return ew.sqrt(var(a, axis, dtype, out, ddof, keepdims, where=where, correction=correction))


# --- argmax, argmin -----------------------------------------------------------------------------


def _arg_extreme(name, prim_fn):
    def fn(a, axis=None, out=None, keepdims=False):
        a = _strong_array(name, a)
        if dtypes.is_complex(a.dtype):
            raise TypeError(
                f"{name} does not accept dtype {a.dtype.name}: complex values have no ordering."
            )
        in_shape = a.shape
        if axis is None:
            a = sp.reshape(a, (math.prod(a.shape),))
        axis_ = 0 if axis is None else canonicalize_axis(axis, a.ndim)
        if a.shape[axis_] == 0:
            raise ValueError(f"attempt to get {name} of an empty sequence")
        result = prim_fn(a, axis_, dtypes.default_int_dtype())
        if keepdims:
            result = sp.reshape(
                result,
                (1,) * len(in_shape)
                if axis is None
                else tuple(1 if i == axis_ else s for i, s in enumerate(in_shape)),
            )
        return result

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"The index of the first {name[3:]}imum along `axis` (of the flattened array "
        "when None); NaN counts as the extremum."
    )
    return fn


argmax = _arg_extreme("argmax", rp.argmax)
argmin = _arg_extreme("argmin", rp.argmin)


# --- cumulative reductions ---------------------------------------------------------------------


def _cumulative(name, prim_fn):
    def fn(a, axis=None, dtype=None, out=None):
        a = _prep(name, a, dtype, upcast_narrow=False)
        if axis is None:
            a = sp.reshape(a, (math.prod(a.shape),))
            axis = 0
        return prim_fn(a, canonicalize_axis(axis, a.ndim))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"The running {name[3:]} along `axis` (of the flattened array when None); "
        "bool accumulates in int32."
    )
    return fn


cumsum = _cumulative("cumsum", rp.cumsum)
cumprod = _cumulative("cumprod", rp.cumprod)
cumulative_prod = cumprod


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    """The Array API's cumsum: `axis` is required for arrays of more than one dimension."""
    x = asarray(x)
    if axis is None:
        if x.ndim > 1:
            raise ValueError("cumulative_sum needs `axis` for arrays of more than one dimension")
        axis = 0
    out = cumsum(x, axis=axis, dtype=dtype)
    if include_initial:
        axis = canonicalize_axis(axis, out.ndim)
        zero_shape = tuple(1 if i == axis else s for i, s in enumerate(out.shape))
        out = sp.concatenate([Array(np.zeros(zero_shape, out.dtype), False), out], axis)
    return out


# --- nan-ignoring variants ------------------------------------------------------------------------


def _nan_replaced(name, a, fill):
    """(strong a with NaNs replaced by `fill`, NaN mask or None for non-float dtypes)."""
    a = _strong_array(name, a)
    if not dtypes.is_inexact(a.dtype):
        return a, None
    is_nan = ew.ne(a, a)
    return ew.select_n(is_nan, a, np.array(fill, a.dtype)), is_nan


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """`sum` treating NaN as zero."""
    a, _ = _nan_replaced("nansum", a, 0)
    return sum(a, axis, dtype, keepdims=keepdims, initial=initial, where=where)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """`prod` treating NaN as one."""
    a, _ = _nan_replaced("nanprod", a, 1)
    return prod(a, axis, dtype, keepdims=keepdims, initial=initial, where=where)


def _nan_extreme(name, reducer, fill):
    def fn(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        x, is_nan = _nan_replaced(name, a, fill)
        result = reducer(x, axis, keepdims=keepdims, initial=initial, where=where)
        if is_nan is None:
            return result
        all_nan = all(is_nan, axis, keepdims=keepdims)
        return ew.select_n(all_nan, result, np.array(np.nan, result.dtype))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"`{name[3:]}` ignoring NaNs (NaN where a slice is all NaN)."
    return fn


nanmax = _nan_extreme("nanmax", max, -np.inf)
nanmin = _nan_extreme("nanmin", min, np.inf)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """`mean` over the non-NaN elements."""
    x, is_nan = _nan_replaced("nanmean", a, 0)
    if is_nan is None:
        return mean(x, axis, dtype, keepdims=keepdims, where=where)
    from hlodiff.numpy._ufuncs import logical_and, logical_not

    valid = logical_not(is_nan) if where is None else logical_and(logical_not(is_nan), where)
    return mean(x, axis, dtype, keepdims=keepdims, where=valid)


def nanvar(
    a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, correction=None
):
    """`var` over the non-NaN elements."""
    x, is_nan = _nan_replaced("nanvar", a, 0)
    if is_nan is None:
        return var(x, axis, dtype, ddof=ddof, keepdims=keepdims, where=where, correction=correction)
    from hlodiff.numpy._ufuncs import logical_and, logical_not

    valid = logical_not(is_nan) if where is None else logical_and(logical_not(is_nan), where)
    return var(x, axis, dtype, ddof=ddof, keepdims=keepdims, where=valid, correction=correction)


def nanstd(
    a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, correction=None
):
    """`std` over the non-NaN elements."""
    return ew.sqrt(
        nanvar(a, axis, dtype, ddof=ddof, keepdims=keepdims, where=where, correction=correction)
    )


def _nan_arg(name, arg_fn, fill):
    def fn(a, axis=None, out=None, keepdims=False):
        x, is_nan = _nan_replaced(name, a, fill)
        result = arg_fn(x, axis, keepdims=keepdims)
        if is_nan is None:
            return result
        all_nan = all(is_nan, axis, keepdims=keepdims)
        return ew.select_n(all_nan, result, np.array(-1, result.dtype))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"`{name[3:]}` ignoring NaNs (-1 where a slice is all NaN)."
    return fn


nanargmax = _nan_arg("nanargmax", argmax, -np.inf)
nanargmin = _nan_arg("nanargmin", argmin, np.inf)


def nancumsum(a, axis=None, dtype=None, out=None):
    """`cumsum` treating NaN as zero."""
    return cumsum(_nan_replaced("nancumsum", a, 0)[0], axis, dtype)


def nancumprod(a, axis=None, dtype=None, out=None):
    """`cumprod` treating NaN as one."""
    return cumprod(_nan_replaced("nancumprod", a, 1)[0], axis, dtype)


# --- weighted and log-domain ---------------------------------------------------------------------


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """Weighted mean over `axis`; `weights` has a's shape or the shape of that one axis."""
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        if returned:
            a = asarray(a)
            n = _count(a.shape, canonicalize_axes(axis, a.ndim))
            return avg, Array(np.full(avg.shape, n, avg.dtype), False)
        return avg
    check_arraylike("average", a, weights)
    from hlodiff.numpy._core import promote_dtypes_inexact
    from hlodiff.numpy._ufuncs import multiply

    a, weights = promote_dtypes_inexact("average", a, weights)
    if weights.shape != a.shape:
        if axis is None or weights.ndim != 1:
            raise ValueError("average: weights must have a's shape, or be 1-D along `axis`")
        ax = canonicalize_axis(axis, a.ndim)
        weights = sp.broadcast_in_dim(weights, a.shape, (ax,))
    wsum = sum(weights, axis=axis, keepdims=keepdims)
    avg = ew.div(sum(multiply(a, weights), axis=axis, keepdims=keepdims), wsum)
    return (avg, wsum) if returned else avg


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(exp(a))) computed stably (also `hlodiff.scipy.special.logsumexp`)."""
    from hlodiff.numpy._core import promote_dtypes_inexact

    if return_sign:
        raise NotImplementedError("logsumexp(return_sign=True) is not implemented")
    (a,) = promote_dtypes_inexact("logsumexp", a)
    a = ew.convert_element_type(a, a.dtype, False)
    axes = canonicalize_axes(axis, a.ndim)
    amax = rp.reduce_max(a, axes)
    amax = ew.stop_gradient(ew.select_n(ew.is_finite(amax), np.zeros((), amax.dtype), amax))
    kept = tuple(i for i in range(a.ndim) if i not in axes)
    shifted = ew.exp(ew.sub(a, sp.broadcast_in_dim(amax, a.shape, kept)))
    if b is not None:
        shifted = ew.mul(shifted, asarray(b, a.dtype))
    return _keepdims(ew.add(ew.log(rp.reduce_sum(shifted, axes)), amax), a.shape, axes, keepdims)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The integral of y(x) along `axis` by the trapezoidal rule (spacing `dx`, or the points
    `x`: 1-D along `axis`, or y's shape)."""
    from hlodiff.numpy._core import promote_dtypes_inexact
    from hlodiff.numpy._shape_ops import diff, moveaxis
    from hlodiff.numpy._ufuncs import add, multiply

    check_arraylike("trapezoid", y, dx if x is None else x)
    y, d = promote_dtypes_inexact("trapezoid", y, dx if x is None else x)
    y = moveaxis(y, axis, -1)
    if x is not None:
        d = diff(d) if d.ndim == 1 else moveaxis(diff(d, axis=axis), axis, -1)
    n = y.shape[-1]
    pairs = add(
        sp.slice_in_dim(y, 1, builtins.max(n, 1), 1, y.ndim - 1),
        sp.slice_in_dim(y, 0, builtins.max(n - 1, 0), 1, y.ndim - 1),
    )
    return multiply(sum(multiply(pairs, d), axis=-1), 0.5)


__all__ = [
    "all",
    "amax",
    "amin",
    "any",
    "argmax",
    "argmin",
    "average",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "cumulative_prod",
    "cumulative_sum",
    "logsumexp",
    "max",
    "mean",
    "min",
    "nanargmax",
    "nanargmin",
    "nancumprod",
    "nancumsum",
    "nanmax",
    "nanmean",
    "nanmin",
    "nanprod",
    "nanstd",
    "nansum",
    "nanvar",
    "prod",
    "ptp",
    "std",
    "sum",
    "trapezoid",
    "var",
]
