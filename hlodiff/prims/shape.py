"""Shape primitives: broadcast_in_dim, reshape, transpose, squeeze, concatenate, pad, rev, slice,
iota. All are linear; each transpose undoes the data movement.
"""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Primitive, ShapedArray, get_aval
from hlodiff.transforms.batching import bdim_at_front, not_mapped
from hlodiff.transforms.jvp import Zero, deflinear, defjvp_zero
from hlodiff.transforms.transpose import is_undefined_primal


def _aval_of(x):
    return x.aval if is_undefined_primal(x) else get_aval(x)


def _shape_tuple(shape) -> tuple:
    try:
        return tuple(int(d) for d in shape)
    except TypeError as e:
        raise TypeError(
            f"Shapes must be tuples of concrete integers, got {shape!r}. A shape cannot depend "
            "on a traced value; pass it as a static argument."
        ) from e


def _std(name, impl, abstract_eval, transpose, batch) -> Primitive:
    p = Primitive(name)
    p.impl = impl
    p.abstract_eval = abstract_eval
    p.weak_type_rule = lambda x, *a, **k: getattr(x, "weak_type", type(x) in (int, float,
                                                                              complex))
    deflinear(p, transpose)
    p.batch = batch
    return p


# ---------------------------------------------------------------------------------------------
# broadcast_in_dim


def _bid_abstract(x, *, shape, broadcast_dimensions):
    if len(broadcast_dimensions) != x.ndim:
        raise TypeError(
            f"broadcast_in_dim broadcast_dimensions must have one entry per operand dimension: "
            f"operand {x.str_short()}, broadcast_dimensions={broadcast_dimensions}."
        )
    for i, d in enumerate(broadcast_dimensions):
        if not (0 <= d < len(shape)) or x.shape[i] not in (1, shape[d]):
            raise TypeError(
                f"broadcast_in_dim got operand shape {x.shape} incompatible with target shape "
                f"{shape} under broadcast_dimensions={broadcast_dimensions}."
            )
    if list(broadcast_dimensions) != sorted(broadcast_dimensions):
        raise TypeError("broadcast_in_dim broadcast_dimensions must be strictly increasing")
    return ShapedArray(shape, x.dtype, x.weak_type)


def _bid_impl(x, *, shape, broadcast_dimensions):
    expanded = [1] * len(shape)
    for i, d in enumerate(broadcast_dimensions):
        expanded[d] = x.shape[i]
    return np.broadcast_to(np.reshape(x, expanded), shape)


def _bid_transpose(ct, x, *, shape, broadcast_dimensions):
    from hlodiff.prims.reduce import reduce_sum

    in_shape = x.aval.shape
    unit = tuple(d for i, d in enumerate(broadcast_dimensions) if in_shape[i] == 1 and shape[d] != 1)
    new = tuple(d for d in range(len(shape)) if d not in broadcast_dimensions)
    summed = reduce_sum(ct, tuple(sorted(new + unit)))
    return [reshape(summed, in_shape)]


def _bid_batch(axis_size, vals, dims, *, shape, broadcast_dimensions):
    (x,), (d,) = vals, dims
    x = bdim_at_front(x, d, axis_size)
    new_dims = (0,) + tuple(b + 1 for b in broadcast_dimensions)
    return broadcast_in_dim(x, (axis_size,) + tuple(shape), new_dims), 0


broadcast_in_dim_p = _std("broadcast_in_dim", _bid_impl, _bid_abstract, _bid_transpose,
                          _bid_batch)


def broadcast_in_dim(x, shape, broadcast_dimensions):
    shape = _shape_tuple(shape)
    broadcast_dimensions = tuple(int(d) for d in broadcast_dimensions)
    if get_aval(x).shape == shape and broadcast_dimensions == tuple(range(len(shape))):
        return x
    return broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=broadcast_dimensions)


def broadcast(x, sizes):
    """Adds leading dimensions of the given sizes."""
    shape = tuple(sizes) + get_aval(x).shape
    n = len(sizes)
    return broadcast_in_dim(x, shape, tuple(range(n, len(shape))))


def broadcast_along(x, size: int, axis: int):
    """Inserts a new dimension of `size` at `axis` (a broadcast, no copy when eager)."""
    in_shape = get_aval(x).shape
    shape = in_shape[:axis] + (size,) + in_shape[axis:]
    dims = tuple(i if i < axis else i + 1 for i in range(len(in_shape)))
    return broadcast_in_dim(x, shape, dims)


def expand_dims(x, dimensions):
    in_shape = get_aval(x).shape
    ndim = len(in_shape) + len(dimensions)
    dims = sorted(d % ndim for d in dimensions)
    shape = list(in_shape)
    for d in dims:
        shape.insert(d, 1)
    kept = tuple(i for i in range(ndim) if i not in dims)
    return broadcast_in_dim(x, tuple(shape), kept)


# ---------------------------------------------------------------------------------------------
# reshape


def _reshape_abstract(x, *, new_sizes, dimensions):
    if int(np.prod(new_sizes, dtype=np.int64)) != x.size:
        raise TypeError(
            f"reshape total size must be unchanged, got new_sizes {new_sizes} for shape "
            f"{x.shape}."
        )
    return ShapedArray(new_sizes, x.dtype, x.weak_type)


def _reshape_impl(x, *, new_sizes, dimensions):
    return np.reshape(x, new_sizes)


def _reshape_transpose(ct, x, *, new_sizes, dimensions):
    return [reshape(ct, x.aval.shape)]


def _reshape_batch(axis_size, vals, dims, *, new_sizes, dimensions):
    (x,), (d,) = vals, dims
    x = bdim_at_front(x, d, axis_size)
    return reshape(x, (axis_size,) + tuple(new_sizes)), 0


reshape_p = _std("reshape", _reshape_impl, _reshape_abstract, _reshape_transpose, _reshape_batch)


def reshape(x, new_sizes, dimensions=None):
    new_sizes = _shape_tuple(new_sizes)
    if dimensions is not None:
        x = transpose(x, dimensions)
    if get_aval(x).shape == new_sizes:
        return x
    return reshape_p.bind(x, new_sizes=new_sizes, dimensions=None)


# ---------------------------------------------------------------------------------------------
# transpose


def _transpose_abstract(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise TypeError(
            f"transpose permutation {permutation} is not a permutation of the operand's "
            f"{x.ndim} dimensions (shape {x.shape})."
        )
    return ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype, x.weak_type)


def _transpose_transpose(ct, x, *, permutation):
    return [transpose(ct, tuple(np.argsort(permutation)))]


def _transpose_batch(axis_size, vals, dims, *, permutation):
    (x,), (d,) = vals, dims
    perm = (d,) + tuple(p if p < d else p + 1 for p in permutation)
    return transpose(x, perm), 0


transpose_p = _std(
    "transpose",
    lambda x, *, permutation: np.transpose(x, permutation),
    _transpose_abstract,
    _transpose_transpose,
    _transpose_batch,
)


def transpose(x, permutation):
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return transpose_p.bind(x, permutation=permutation)


def moveaxis(x, src: int, dst: int):
    ndim = get_aval(x).ndim
    src, dst = src % ndim, dst % ndim
    if src == dst:
        return x
    perm = [i for i in range(ndim) if i != src]
    perm.insert(dst, src)
    return transpose(x, perm)


# ---------------------------------------------------------------------------------------------
# squeeze


def _squeeze_abstract(x, *, dimensions):
    for d in dimensions:
        if not 0 <= d < x.ndim or x.shape[d] != 1:
            raise TypeError(
                f"squeeze can only remove dimensions of size 1; got dimensions={dimensions} "
                f"for shape {x.shape}."
            )
    shape = tuple(s for i, s in enumerate(x.shape) if i not in dimensions)
    return ShapedArray(shape, x.dtype, x.weak_type)


def _squeeze_batch(axis_size, vals, dims, *, dimensions):
    (x,), (d,) = vals, dims
    x = bdim_at_front(x, d, axis_size)
    return squeeze(x, tuple(k + 1 for k in dimensions)), 0


squeeze_p = _std(
    "squeeze",
    lambda x, *, dimensions: np.reshape(x, tuple(s for i, s in enumerate(np.shape(x))
                                                  if i not in dimensions)),
    _squeeze_abstract,
    lambda ct, x, *, dimensions: [reshape(ct, x.aval.shape)],
    _squeeze_batch,
)


def squeeze(x, dimensions):
    ndim = get_aval(x).ndim
    dimensions = tuple(sorted(int(d) % ndim for d in dimensions)) if ndim else ()
    if not dimensions:
        return x
    return squeeze_p.bind(x, dimensions=dimensions)


# ---------------------------------------------------------------------------------------------
# concatenate


def _concat_abstract(*xs, dimension):
    if not xs:
        raise TypeError("concatenate needs at least one operand")
    first = xs[0]
    if not 0 <= dimension < first.ndim:
        raise TypeError(f"concatenate dimension {dimension} out of range for rank {first.ndim}")
    for x in xs:
        if x.dtype != first.dtype:
            raise TypeError(
                "concatenate requires operands of one dtype, got "
                + ", ".join(a.dtype.name for a in xs)
            )
        if x.ndim != first.ndim or any(
                a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != dimension):
            raise TypeError(
                "concatenate operands must have equal shapes except along dimension "
                f"{dimension}, got " + ", ".join(str(a.shape) for a in xs)
            )
    size = sum(x.shape[dimension] for x in xs)
    shape = first.shape[:dimension] + (size,) + first.shape[dimension + 1 :]
    return ShapedArray(shape, first.dtype, all(x.weak_type for x in xs))


def _concat_transpose(ct, *xs, dimension):
    outs, start = [], 0
    for x in xs:
        size = _aval_of(x).shape[dimension]
        if is_undefined_primal(x):
            outs.append(slice_in_dim(ct, start, start + size, axis=dimension))
        else:
            outs.append(None)
        start += size
    return outs


def _concat_batch(axis_size, vals, dims, *, dimension):
    xs = [bdim_at_front(v, d, axis_size) for v, d in zip(vals, dims)]
    return concatenate(xs, dimension + 1), 0


concatenate_p = _std(
    "concatenate",
    lambda *xs, dimension: np.concatenate(xs, axis=dimension),
    _concat_abstract,
    _concat_transpose,
    _concat_batch,
)
concatenate_p.weak_type_rule = lambda *xs, **k: all(getattr(x, "weak_type", False) for x in xs)


def concatenate(operands, dimension: int):
    operands = list(operands)
    if len(operands) == 1:
        return operands[0]
    return concatenate_p.bind(*operands, dimension=int(dimension))


# ---------------------------------------------------------------------------------------------
# pad (lo, hi, interior), linear in the operand and the padding value


def _pad_abstract(x, pv, *, padding_config):
    if pv.shape:
        raise TypeError(f"pad padding_value must be a scalar, got shape {pv.shape}")
    if len(padding_config) != x.ndim:
        raise TypeError(f"pad needs one (lo, hi, interior) triple per dimension of {x.shape}")
    shape = []
    for s, (lo, hi, interior) in zip(x.shape, padding_config):
        if interior < 0:
            raise TypeError("pad interior padding must be non-negative")
        shape.append(lo + hi + s + max(s - 1, 0) * interior)
        if shape[-1] < 0:
            raise TypeError(f"pad gives a negative dimension for shape {x.shape}")
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


def _pad_impl(x, pv, *, padding_config):
    out_shape = _pad_abstract(ShapedArray(x.shape, x.dtype), ShapedArray((), x.dtype),
                              padding_config=padding_config).shape
    out = np.full(out_shape, pv, dtype=x.dtype)
    src, dst = [], []
    for s, (lo, hi, interior) in zip(x.shape, padding_config):
        idx = lo + np.arange(s) * (interior + 1)
        keep = (idx >= 0) & (idx < lo + hi + s + max(s - 1, 0) * interior)
        src.append(np.nonzero(keep)[0])
        dst.append(idx[keep])
    out[np.ix_(*dst)] = x[np.ix_(*src)]
    return out


def _pad_transpose(ct, x, pv, *, padding_config):
    from hlodiff.prims.reduce import reduce_sum
    from hlodiff.prims.elementwise import sub

    if type(ct) is Zero:
        return [None, None]
    x_ct = None
    if is_undefined_primal(x):
        x_ct = _unpad(ct, padding_config)
    pv_ct = None
    if is_undefined_primal(pv):
        total = reduce_sum(ct, tuple(range(get_aval(ct).ndim)))
        inner = reduce_sum(x_ct if x_ct is not None else _unpad(ct, padding_config),
                           tuple(range(get_aval(ct).ndim)))
        pv_ct = sub(total, inner)
    return [x_ct, pv_ct]


def _unpad(ct, padding_config):
    """Inverse of pad on the operand's positions: negative pads then strided slicing."""
    lo_neg = [(-lo, -hi, 0) for lo, hi, _ in padding_config]
    zero = np.zeros((), get_aval(ct).dtype)
    trimmed = pad(ct, zero, lo_neg)
    strides = tuple(interior + 1 for _, _, interior in padding_config)
    shape = get_aval(trimmed).shape
    return slice(trimmed, (0,) * len(shape), shape, strides)


def _pad_batch(axis_size, vals, dims, *, padding_config):
    (x, pv), (xd, pvd) = vals, dims
    if pvd is not not_mapped:
        from hlodiff.prims.elementwise import select_n

        bid = broadcast_in_dim

        x = bdim_at_front(x, xd, axis_size)
        mask = pad(np.ones(get_aval(x).shape[1:], bool), np.array(False), padding_config)
        padded = pad(x, np.zeros((), get_aval(x).dtype), ((0, 0, 0),) + tuple(padding_config))
        full = get_aval(padded).shape
        pvb = bid(moveaxis(pv, pvd, 0), full, (0,))
        return select_n(bid(mask, full, tuple(range(1, len(full)))), pvb, padded), 0
    x = bdim_at_front(x, xd, axis_size)
    return pad(x, pv, ((0, 0, 0),) + tuple(padding_config)), 0


pad_p = _std("pad", _pad_impl, _pad_abstract, _pad_transpose, _pad_batch)


def pad(x, padding_value, padding_config):
    padding_config = tuple(tuple(int(v) for v in c) for c in padding_config)
    return pad_p.bind(x, padding_value, padding_config=padding_config)


# ---------------------------------------------------------------------------------------------
# rev


def _rev_abstract(x, *, dimensions):
    if any(not 0 <= d < x.ndim for d in dimensions):
        raise TypeError(f"rev dimensions {dimensions} out of range for shape {x.shape}")
    return x


def _rev_batch(axis_size, vals, dims, *, dimensions):
    (x,), (d,) = vals, dims
    new = tuple(k + (k >= d) for k in dimensions)
    return rev(x, new), d


rev_p = _std(
    "rev",
    lambda x, *, dimensions: np.flip(x, dimensions) if dimensions else x,
    _rev_abstract,
    lambda ct, x, *, dimensions: [rev(ct, dimensions)],
    _rev_batch,
)


def rev(x, dimensions):
    dimensions = tuple(int(d) for d in dimensions)
    return rev_p.bind(x, dimensions=dimensions) if dimensions else x


# ---------------------------------------------------------------------------------------------
# slice (static start, limit, strides)


def _slice_abstract(x, *, start_indices, limit_indices, strides):
    if not (len(start_indices) == len(limit_indices) == x.ndim):
        raise TypeError(f"slice indices must have one entry per dimension of {x.shape}")
    strides = strides or (1,) * x.ndim
    shape = []
    for s, lo, hi, st in zip(x.shape, start_indices, limit_indices, strides):
        if not (0 <= lo <= hi <= s) or st < 1:
            raise TypeError(
                f"slice start_indices={start_indices}, limit_indices={limit_indices} are out of "
                f"bounds for operand shape {x.shape}."
            )
        shape.append(-(-(hi - lo) // st))
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


def _slice_impl(x, *, start_indices, limit_indices, strides):
    strides = strides or (1,) * x.ndim
    return x[tuple(np.s_[a:b:c] for a, b, c in zip(start_indices, limit_indices, strides))]


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides):
    shape = x.aval.shape
    strides = strides or (1,) * len(shape)
    out_shape = get_aval(ct).shape
    config = []
    for s, lo, st, n in zip(shape, start_indices, strides, out_shape):
        real_hi = lo + (n - 1) * st + 1 if n else lo
        config.append((lo, s - real_hi, st - 1))
    return [pad(ct, np.zeros((), get_aval(ct).dtype), config)]


def _slice_batch(axis_size, vals, dims, *, start_indices, limit_indices, strides):
    (x,), (d,) = vals, dims
    size = get_aval(x).shape[d]
    starts = start_indices[:d] + (0,) + start_indices[d:]
    limits = limit_indices[:d] + (size,) + limit_indices[d:]
    st = None if strides is None else strides[:d] + (1,) + strides[d:]
    return slice(x, starts, limits, st), d


slice_p = _std("slice", _slice_impl, _slice_abstract, _slice_transpose, _slice_batch)


def slice(x, start_indices, limit_indices, strides=None):  # noqa: A001  (lax.slice)
    start_indices = tuple(int(i) for i in start_indices)
    limit_indices = tuple(int(i) for i in limit_indices)
    if strides is not None:
        strides = tuple(int(s) for s in strides)
        if all(s == 1 for s in strides):
            strides = None
    if start_indices == (0,) * len(start_indices) and limit_indices == get_aval(x).shape and (
            strides is None):
        return x
    return slice_p.bind(x, start_indices=start_indices, limit_indices=limit_indices,
                        strides=strides)


def slice_in_dim(x, start: int, limit: int, stride: int = 1, axis: int = 0):
    shape = get_aval(x).shape
    starts = [0] * len(shape)
    limits = list(shape)
    strides = [1] * len(shape)
    starts[axis], limits[axis], strides[axis] = start, limit, stride
    return slice(x, starts, limits, strides)


def index_in_dim(x, index: int, axis: int = 0, keepdims: bool = True):
    out = slice_in_dim(x, index, index + 1, 1, axis)
    return out if keepdims else squeeze(out, (axis,))


# ---------------------------------------------------------------------------------------------
# iota (no operands)


def _iota_abstract(*, dtype, shape, dimension):
    if not 0 <= dimension < len(shape):
        raise TypeError(f"iota dimension {dimension} out of range for shape {shape}")
    return ShapedArray(shape, dtype, False)


def _iota_impl(*, dtype, shape, dimension):
    ar = np.arange(shape[dimension], dtype=dtype)
    view = [1] * len(shape)
    view[dimension] = shape[dimension]
    return np.broadcast_to(ar.reshape(view), shape)


iota_p = Primitive("iota")
iota_p.impl = _iota_impl
iota_p.abstract_eval = _iota_abstract
iota_p.weak_type_rule = lambda **k: False
defjvp_zero(iota_p)
iota_p.batch = None  # never batched: it has no operands


def iota(dtype, size: int):
    dtype = dtypes.canonicalize_dtype(dtype)
    return iota_p.bind(dtype=dtype, shape=(int(size),), dimension=0)


def broadcasted_iota(dtype, shape, dimension: int):
    dtype = dtypes.canonicalize_dtype(dtype)
    return iota_p.bind(dtype=dtype, shape=_shape_tuple(shape), dimension=int(dimension))


def full(shape, fill_value, dtype=None):
    """A constant array; eager values are broadcast views, so this allocates nothing per element."""
    from hlodiff.core import Array
    from hlodiff.prims.elementwise import convert_element_type

    shape = _shape_tuple(shape)
    aval = get_aval(fill_value)
    if aval.shape:
        raise TypeError(f"full() fill_value must be a scalar, got shape {aval.shape}")
    weak = dtype is None and aval.weak_type  # (JAX's lax.full: weak only without a dtype)
    dtype = dtypes.canonicalize_dtype(dtype) if dtype is not None else aval.dtype
    if isinstance(fill_value, (int, float, complex, bool, np.generic, np.ndarray, Array)):
        value = np.asarray(np.asarray(fill_value).astype(dtype))
        return Array(np.broadcast_to(value, shape), weak)
    fill_value = convert_element_type(fill_value, dtype, weak)
    return broadcast_in_dim(fill_value, shape, ())
