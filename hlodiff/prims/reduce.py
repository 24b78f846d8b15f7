"""Reductions (sum, max, min, prod, and, or, argmax, argmin), cumulative reductions and sort."""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Primitive, ShapedArray, get_aval
from hlodiff.prims import elementwise as ew
from hlodiff.prims import shape as sp
from hlodiff.transforms.batching import bdim_at_front, not_mapped
from hlodiff.transforms.jvp import Zero, defjvp_zero, tangent_aval


def _check_axes(name, x, axes):
    if any(not 0 <= a < x.ndim for a in axes) or len(set(axes)) != len(axes):
        raise TypeError(f"{name} axes {axes} are invalid for an operand of shape {x.shape}")


def _reduced_shape(shape, axes):
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _reduce_abstract(name, out_dtype=None, keep_weak=True):
    def rule(x, *, axes, **params):
        _check_axes(name, x, axes)
        dtype = x.dtype if out_dtype is None else out_dtype(x, params)
        return ShapedArray(_reduced_shape(x.shape, axes), dtype, x.weak_type and keep_weak)

    return rule


def _reduce_batch(p):
    def rule(axis_size, vals, dims, *, axes, **params):
        (x,), (d,) = vals, dims
        new_axes = tuple(a + (a >= d) for a in axes)
        out_d = d - sum(a < d for a in axes)
        return p.bind(x, axes=new_axes, **params), out_d

    return rule


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _reducer(name, impl, allowed_bool=False) -> Primitive:
    p = Primitive(name)
    p.impl = impl
    p.abstract_eval = _reduce_abstract(name)
    p.weak_type_rule = lambda x, **k: getattr(x, "weak_type", False)
    p.batch = _reduce_batch(p)
    return p


# ---------------------------------------------------------------------------------------------
# reduce_sum (linear)


def _sum_impl(x, *, axes, out_sharding=None):
    return np.sum(x, axis=axes, dtype=x.dtype)


def _sum_transpose(ct, x, *, axes, out_sharding=None):
    shape = x.aval.shape
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    return [sp.broadcast_in_dim(ct, shape, kept)]


def _sum_jvp(primals, tangents, *, axes, out_sharding=None):
    (x,), (t,) = primals, tangents
    out = reduce_sum(x, axes)
    return out, (Zero(tangent_aval(get_aval(out))) if type(t) is Zero else reduce_sum(t, axes))


reduce_sum_p = _reducer("reduce_sum", _sum_impl)
reduce_sum_p.jvp = _sum_jvp
reduce_sum_p.transpose = _sum_transpose
reduce_sum_p.linear = True


def reduce_sum(x, axes):
    axes = tuple(sorted(int(a) for a in axes))
    if not axes:
        return x
    return reduce_sum_p.bind(x, axes=axes, out_sharding=None)


# ---------------------------------------------------------------------------------------------
# reduce_max / reduce_min: the tangent is averaged over the positions that attain the extremum


def _chooser_jvp(p):
    def rule(primals, tangents, *, axes, out_sharding=None):
        (x,), (t,) = primals, tangents
        ans = p.bind(x, axes=axes, out_sharding=out_sharding)
        if type(t) is Zero:
            return ans, Zero(tangent_aval(get_aval(ans)))
        shape = get_aval(x).shape
        kept = tuple(i for i in range(len(shape)) if i not in axes)
        location = ew.eq(x, sp.broadcast_in_dim(ans, shape, kept))
        location = ew.convert_element_type(location, get_aval(t).dtype)
        counts = reduce_sum(location, axes)
        return ans, ew.div(reduce_sum(ew.mul(t, location), axes), counts)

    return rule


def _max_impl(x, *, axes, out_sharding=None):
    return np.max(x, axis=axes) if x.size else np.full(_reduced_shape(x.shape, axes),
                                                       _identity(x.dtype, "max"), x.dtype)


def _min_impl(x, *, axes, out_sharding=None):
    return np.min(x, axis=axes) if x.size else np.full(_reduced_shape(x.shape, axes),
                                                       _identity(x.dtype, "min"), x.dtype)


def _identity(dtype, kind):
    if dtypes.is_bool(dtype):
        return kind == "min"
    if dtypes.is_inexact(dtype):
        return -np.inf if kind == "max" else np.inf
    info = np.iinfo(dtype)
    return info.min if kind == "max" else info.max


reduce_max_p = _reducer("reduce_max", _max_impl)
reduce_max_p.jvp = _chooser_jvp(reduce_max_p)
reduce_min_p = _reducer("reduce_min", _min_impl)
reduce_min_p.jvp = _chooser_jvp(reduce_min_p)


def reduce_max(x, axes):
    axes = tuple(sorted(int(a) for a in axes))
    return reduce_max_p.bind(x, axes=axes, out_sharding=None) if axes else x


def reduce_min(x, axes):
    axes = tuple(sorted(int(a) for a in axes))
    return reduce_min_p.bind(x, axes=axes, out_sharding=None) if axes else x


# ---------------------------------------------------------------------------------------------
# reduce_prod


def _prod_jvp(primals, tangents, *, axes, out_sharding=None):
    """d prod(x) = sum_i t_i * prod_{j != i} x_j, computed with exclusive cumulative products so
    that zeros in x are handled exactly (no division by x)."""
    (x,), (t,) = primals, tangents
    ans = reduce_prod(x, axes)
    if type(t) is Zero:
        return ans, Zero(tangent_aval(get_aval(ans)))
    shape = get_aval(x).shape
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    perm = kept + tuple(axes)
    n = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    flat_shape = tuple(shape[k] for k in kept) + (n,)
    xf = sp.reshape(sp.transpose(x, perm), flat_shape)
    tf = sp.reshape(sp.transpose(t, perm), flat_shape)
    last = len(flat_shape) - 1
    left = _exclusive_cumprod(xf, last, reverse=False)
    right = _exclusive_cumprod(xf, last, reverse=True)
    return ans, reduce_sum(ew.mul(tf, ew.mul(left, right)), (last,))


def _exclusive_cumprod(x, axis, reverse):
    shape = get_aval(x).shape
    one = np.ones((), get_aval(x).dtype)
    if reverse:
        x = sp.rev(x, (axis,))
    cfg = [(0, 0, 0)] * len(shape)
    cfg[axis] = (1, -1, 0)
    out = cumprod(sp.pad(x, one, cfg), axis)
    return sp.rev(out, (axis,)) if reverse else out


reduce_prod_p = _reducer("reduce_prod", lambda x, *, axes, out_sharding=None: np.prod(
    x, axis=axes, dtype=x.dtype))
reduce_prod_p.jvp = _prod_jvp


def reduce_prod(x, axes):
    axes = tuple(sorted(int(a) for a in axes))
    return reduce_prod_p.bind(x, axes=axes, out_sharding=None) if axes else x


reduce_and_p = _reducer("reduce_and", lambda x, *, axes, out_sharding=None: np.bitwise_and.reduce(
    x, axis=axes) if x.dtype != np.bool_ else np.all(x, axis=axes))
defjvp_zero(reduce_and_p)
reduce_or_p = _reducer("reduce_or", lambda x, *, axes, out_sharding=None: np.bitwise_or.reduce(
    x, axis=axes) if x.dtype != np.bool_ else np.any(x, axis=axes))
defjvp_zero(reduce_or_p)


def reduce_and(x, axes):
    axes = tuple(sorted(int(a) for a in axes))
    return reduce_and_p.bind(x, axes=axes, out_sharding=None) if axes else x


def reduce_or(x, axes):
    axes = tuple(sorted(int(a) for a in axes))
    return reduce_or_p.bind(x, axes=axes, out_sharding=None) if axes else x


# ---------------------------------------------------------------------------------------------
# argmax / argmin (NaN counts as the extremum, first occurrence wins, like JAX)


def _arg_impl(kind):
    def impl(x, *, axes, index_dtype):
        (axis,) = axes
        if x.shape[axis] == 0:
            raise ValueError(f"arg{kind} of an empty axis")
        fn = np.nanargmax if False else (np.argmax if kind == "max" else np.argmin)
        if dtypes.is_inexact(x.dtype):
            nan = np.isnan(x)
            if nan.any():
                first_nan = np.argmax(nan, axis=axis)
                return np.where(nan.any(axis=axis), first_nan, fn(x, axis=axis)).astype(
                    index_dtype)
        return fn(x, axis=axis).astype(index_dtype)

    return impl


def _arg_abstract(name):
    def rule(x, *, axes, index_dtype):
        _check_axes(name, x, axes)
        if len(axes) != 1:
            raise TypeError(f"{name} reduces exactly one axis, got {axes}")
        return ShapedArray(_reduced_shape(x.shape, axes), index_dtype, False)

    return rule


def _arg_primitive(kind):
    p = Primitive(f"arg{kind}")
    p.impl = _arg_impl(kind)
    p.abstract_eval = _arg_abstract(f"arg{kind}")
    p.weak_type_rule = lambda x, **k: False
    defjvp_zero(p)
    p.batch = _reduce_batch(p)
    return p


argmax_p = _arg_primitive("max")
argmin_p = _arg_primitive("min")


def argmax(x, axis: int, index_dtype):
    return argmax_p.bind(x, axes=(int(axis),), index_dtype=dtypes.canonicalize_dtype(index_dtype))


def argmin(x, axis: int, index_dtype):
    return argmin_p.bind(x, axes=(int(axis),), index_dtype=dtypes.canonicalize_dtype(index_dtype))


# ---------------------------------------------------------------------------------------------
# Cumulative reductions along one axis


def _cum_abstract(name):
    def rule(x, *, axis, reverse):
        if not 0 <= axis < max(x.ndim, 1):
            raise TypeError(f"{name} axis {axis} out of range for shape {x.shape}")
        return x

    return rule


def _cum_impl(ufunc):
    def impl(x, *, axis, reverse):
        if reverse:
            x = np.flip(x, axis)
        out = ufunc.accumulate(x, axis=axis, dtype=x.dtype) if x.ndim else x
        return np.flip(out, axis) if reverse else out

    return impl


def _cum_batch(p):
    def rule(axis_size, vals, dims, *, axis, reverse):
        (x,), (d,) = vals, dims
        return p.bind(x, axis=axis + (axis >= d), reverse=reverse), d

    return rule


def _cumulative(name, ufunc) -> Primitive:
    p = Primitive(name)
    p.impl = _cum_impl(ufunc)
    p.abstract_eval = _cum_abstract(name)
    p.weak_type_rule = lambda x, **k: getattr(x, "weak_type", False)
    p.batch = _cum_batch(p)
    return p


cumsum_p = _cumulative("cumsum", np.add)


def _cumsum_jvp(primals, tangents, *, axis, reverse):
    (x,), (t,) = primals, tangents
    out = cumsum(x, axis, reverse)
    return out, (Zero(tangent_aval(get_aval(out))) if type(t) is Zero else cumsum(t, axis,
                                                                                  reverse))


cumsum_p.jvp = _cumsum_jvp
cumsum_p.transpose = lambda ct, x, *, axis, reverse: [cumsum(ct, axis, not reverse)]
cumsum_p.linear = True


def _cumprod_jvp(primals, tangents, *, axis, reverse):
    """Tangent of a running product: cumsum of t_i * prod_{j<=k, j!=i} x_j via logs-free form
    d(cumprod)_k = sum_{i<=k} t_i * cumprod_k / x_i, made exact at zeros by recomputing the
    product with x_i replaced by 1 is O(n^2); instead differentiate the scan x_k * y_{k-1}."""
    (x,), (t,) = primals, tangents
    ans = cumprod(x, axis, reverse)
    if type(t) is Zero:
        return ans, Zero(tangent_aval(get_aval(ans)))
    return ans, _cumprod_tangent(x, t, axis, reverse)


def _cumprod_tangent(x, t, axis, reverse):
    # y_k = y_{k-1} x_k  =>  dy_k = dy_{k-1} x_k + y_{k-1} t_k : a linear recurrence.
    # Its solution is dy_k = sum_{i<=k} (prod_{i<j<=k} x_j) y_{i-1} t_i; computed with the
    # exclusive products, in O(n^2) work via a masked matrix, which is fine for the sizes where
    # cumulative products are used; exact at zeros.
    n = get_aval(x).shape[axis]
    xm = sp.moveaxis(x, axis, -1)
    tm = sp.moveaxis(t, axis, -1)
    if reverse:
        xm, tm = sp.rev(xm, (xm.ndim - 1,)), sp.rev(tm, (tm.ndim - 1,))
    rank = get_aval(xm).ndim
    one = np.ones((), get_aval(x).dtype)
    cfg = [(0, 0, 0)] * rank
    cfg[-1] = (1, -1, 0)
    y_prev = cumprod(sp.pad(xm, one, cfg), rank - 1)
    # P[..., i, k] = prod_{i<j<=k} x_j for i <= k, else 0.
    shape = get_aval(xm).shape
    xb = sp.broadcast_in_dim(xm, shape[:-1] + (n, n), tuple(range(rank - 1)) + (rank,))
    ii = sp.broadcasted_iota(np.int32, (n, n), 0)
    kk = sp.broadcasted_iota(np.int32, (n, n), 1)
    take = ew.gt(kk, ii)  # j ranges over (i, k]: mask rows j <= i to one
    mask_j = sp.broadcast_in_dim(take, shape[:-1] + (n, n), (rank - 1, rank))
    factors = ew.select_n(mask_j, sp.full(shape[:-1] + (n, n), 1, get_aval(x).dtype), xb)
    runs = cumprod(factors, rank)  # runs[..., i, k] = prod_{i<j<=k} x_j (1 for k <= i)
    lower = sp.broadcast_in_dim(ew.ge(kk, ii), shape[:-1] + (n, n), (rank - 1, rank))
    runs = ew.select_n(lower, sp.full(shape[:-1] + (n, n), 0, get_aval(x).dtype), runs)
    coeff = ew.mul(y_prev, tm)
    coeff_b = sp.broadcast_in_dim(coeff, shape[:-1] + (n, n), tuple(range(rank - 1)) + (rank - 1,))
    out = reduce_sum(ew.mul(runs, coeff_b), (rank - 1,))
    if reverse:
        out = sp.rev(out, (rank - 1,))
    return sp.moveaxis(out, -1, axis)


cumprod_p = _cumulative("cumprod", np.multiply)
cumprod_p.jvp = _cumprod_jvp


def _cumextreme_jvp(p):
    def rule(primals, tangents, *, axis, reverse):
        (x,), (t,) = primals, tangents
        ans = p.bind(x, axis=axis, reverse=reverse)
        if type(t) is Zero:
            return ans, Zero(tangent_aval(get_aval(ans)))
        # The tangent follows the element that currently holds the running extremum: its index
        # is the running max of (index where x == ans).
        from hlodiff.prims.indexing import take_along_axis_prim

        n = get_aval(x).shape[axis]
        idx = sp.broadcasted_iota(np.int32, get_aval(x).shape, axis)
        if reverse:
            idx = ew.sub(np.array(n - 1, np.int32), idx)
        hit = ew.select_n(ew.eq(x, ans), np.array(-1, np.int32), idx)
        src = cummax(hit, axis, reverse)
        if reverse:
            src = ew.sub(np.array(n - 1, np.int32), src)
        return ans, take_along_axis_prim(t, src, axis)

    return rule


cummax_p = _cumulative("cummax", np.maximum)
cummax_p.jvp = _cumextreme_jvp(cummax_p)
cummin_p = _cumulative("cummin", np.minimum)
cummin_p.jvp = _cumextreme_jvp(cummin_p)


def cumsum(x, axis=0, reverse=False):
    return cumsum_p.bind(x, axis=int(axis), reverse=bool(reverse))


def cumprod(x, axis=0, reverse=False):
    return cumprod_p.bind(x, axis=int(axis), reverse=bool(reverse))


def cummax(x, axis=0, reverse=False):
    return cummax_p.bind(x, axis=int(axis), reverse=bool(reverse))


def cummin(x, axis=0, reverse=False):
    return cummin_p.bind(x, axis=int(axis), reverse=bool(reverse))


# ---------------------------------------------------------------------------------------------
# sort: sorts all operands by the first `num_keys` (stable), along `dimension`


def _sort_impl(*operands, dimension, is_stable, num_keys):
    keys = [np.moveaxis(k, dimension, -1) for k in operands[:num_keys]]
    # np.lexsort sorts by the last key first: NaN flags go after each key's values, so NaNs
    # sort last (after inf) and the sort is stable, like XLA's total-order comparator.
    sort_keys = []
    for k in reversed(keys):
        sort_keys.extend(_total_order_keys(k))
    order = np.lexsort(sort_keys, axis=-1)
    outs = []
    for o in operands:
        om = np.moveaxis(o, dimension, -1)
        outs.append(np.moveaxis(np.take_along_axis(om, order, axis=-1), -1, dimension))
    return outs


def _total_order_keys(k):
    """Keys for np.lexsort (least significant first) ordering `k` with NaNs last."""
    if dtypes.is_complex(k.dtype):
        return [np.imag(k), np.real(k)]
    if dtypes.is_inexact(k.dtype):
        nan = np.isnan(k)
        return [np.where(nan, 0, k), nan]
    return [k]


def _sort_abstract(*operands, dimension, is_stable, num_keys):
    shape = operands[0].shape
    if any(o.shape != shape for o in operands):
        raise TypeError("sort operands must all have the same shape, got "
                        + ", ".join(str(o.shape) for o in operands))
    if not 0 <= dimension < max(len(shape), 1):
        raise TypeError(f"sort dimension {dimension} out of range for shape {shape}")
    return [o for o in operands]


def _sort_jvp(primals, tangents, *, dimension, is_stable, num_keys):
    shape = get_aval(primals[0]).shape
    iota = sp.broadcasted_iota(np.int32, shape, dimension)
    outs = sort_p.bind(*primals, iota, dimension=dimension, is_stable=is_stable,
                       num_keys=num_keys)
    perm = outs[-1]
    from hlodiff.prims.indexing import take_along_axis_prim

    tangents_out = [
        Zero(tangent_aval(get_aval(p))) if type(t) is Zero
        else take_along_axis_prim(t, perm, dimension)
        for p, t in zip(primals, tangents)
    ]
    return outs[:-1], tangents_out


def _sort_batch(axis_size, vals, dims, *, dimension, is_stable, num_keys):
    vals = [bdim_at_front(v, d, axis_size) for v, d in zip(vals, dims)]
    outs = sort_p.bind(*vals, dimension=dimension + 1, is_stable=is_stable, num_keys=num_keys)
    return outs, [0] * len(outs)


sort_p = Primitive("sort")
sort_p.multiple_results = True
sort_p.impl = _sort_impl
sort_p.abstract_eval = _sort_abstract
sort_p.jvp = _sort_jvp
sort_p.batch = _sort_batch


def sort(operand, dimension=-1, is_stable=True, num_keys=1):
    single = not isinstance(operand, (tuple, list))
    operands = [operand] if single else list(operand)
    ndim = get_aval(operands[0]).ndim
    outs = sort_p.bind(*operands, dimension=int(dimension) % max(ndim, 1),
                       is_stable=bool(is_stable), num_keys=int(num_keys))
    return outs[0] if single else tuple(outs)


__all__ = [n for n in dir() if not n.startswith("_") and n != "not_mapped"]
_ = not_mapped
