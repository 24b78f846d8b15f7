"""Indexing primitives: dynamic_slice, dynamic_update_slice, gather and the scatter family.

Semantics are XLA's, as JAX exposes them: start indices are clamped so that the slice fits
(`dynamic_slice`, `dynamic_update_slice`, gather in CLIP / PROMISE_IN_BOUNDS mode); gather in
FILL_OR_DROP mode returns `fill_value` for windows that do not fit; scatters drop windows that do
not fit (CLIP clamps them instead). The index vector dimension is always the last one.

Gather and scatter carry `operand_batching_dims` / `*_indices_batching_dims`, so every batching
rule here produces one primitive whatever is batched: operand, indices, updates, or all of them.
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Primitive, ShapedArray, Tracer, get_aval
from hlodiff.prims import elementwise as ew
from hlodiff.prims import shape as sp
from hlodiff.transforms.batching import bdim_at_front, not_mapped
from hlodiff.transforms.jvp import Zero, add_tangents, instantiate_zeros, tangent_aval
from hlodiff.transforms.transpose import is_undefined_primal


class GatherScatterMode(enum.Enum):
    """What gather/scatter do with windows that do not fit in the operand.

    CLIP: clamp the start indices so the window fits. FILL_OR_DROP: gather returns `fill_value`
    for such windows, scatter skips their updates. PROMISE_IN_BOUNDS: the caller promises all
    windows fit; out-of-bounds gathers clamp and scatters drop (XLA's native behaviour).
    """

    CLIP = enum.auto()
    FILL_OR_DROP = enum.auto()
    PROMISE_IN_BOUNDS = enum.auto()

    @staticmethod
    def from_any(s) -> GatherScatterMode:
        if isinstance(s, GatherScatterMode):
            return s
        if s == "clip":
            return GatherScatterMode.CLIP
        if s is None or s == "fill" or s == "drop":
            return GatherScatterMode.FILL_OR_DROP
        if s == "promise_in_bounds":
            return GatherScatterMode.PROMISE_IN_BOUNDS
        raise ValueError(f'Unknown gather mode "{s}"; use "clip", "fill", "drop" or '
                         '"promise_in_bounds".')


class GatherDimensionNumbers(NamedTuple):
    """XLA gather dimension numbers (the index vector dimension is the last of the indices)."""

    offset_dims: tuple[int, ...]
    collapsed_slice_dims: tuple[int, ...]
    start_index_map: tuple[int, ...]
    operand_batching_dims: tuple[int, ...] = ()
    start_indices_batching_dims: tuple[int, ...] = ()


class ScatterDimensionNumbers(NamedTuple):
    """XLA scatter dimension numbers (the index vector dimension is the last of the indices)."""

    update_window_dims: tuple[int, ...]
    inserted_window_dims: tuple[int, ...]
    scatter_dims_to_operand_dims: tuple[int, ...]
    operand_batching_dims: tuple[int, ...] = ()
    scatter_indices_batching_dims: tuple[int, ...] = ()


def _ints(xs) -> tuple:
    return tuple(int(x) for x in xs)


def _canonical_dnums(dn, cls):
    return cls(*(_ints(f) for f in dn))


def _aval_of(x):
    return x.aval if is_undefined_primal(x) else get_aval(x)


def _operand_weak(x, *args, **params) -> bool:
    return getattr(x, "weak_type", type(x) in (int, float, complex))


def _zeros(shape, dtype):
    """Zeros of `shape`: a broadcast scalar (no memory eagerly, one op when staged)."""
    return sp.broadcast_in_dim(np.zeros((), dtype), tuple(shape), ())


def _check_index_dtype(name, *avals):
    for a in avals:
        if not dtypes.is_integer(a.dtype):
            raise TypeError(f"{name} indices must have an integer dtype, got {a.str_short()}.")


def _place(arr, positions, rank):
    """`arr` reshaped to `rank` dims, its dims at `positions` (ascending), size 1 elsewhere."""
    shape = [1] * rank
    for p, s in zip(positions, np.shape(arr)):
        shape[p] = s
    return np.reshape(arr, shape)


def _window_starts(operand_shape, indices, index_map, batching_dims, indices_batching_dims,
                   window):
    """Full start vectors (batch_shape + (rank,)), clamped so each window fits, and a mask of
    the windows that fitted before clamping."""
    batch_shape = indices.shape[:-1]
    rank = len(operand_shape)
    starts = np.zeros(batch_shape + (rank,), np.int64)
    for k, d in enumerate(index_map):
        starts[..., d] = indices[..., k]
    upper = np.asarray(operand_shape, np.int64) - np.asarray(window, np.int64)
    valid = np.all((starts >= 0) & (starts <= upper), axis=-1)
    starts = np.clip(starts, 0, np.maximum(upper, 0))
    for od, bd in zip(batching_dims, indices_batching_dims):
        starts[..., od] = _place(np.arange(batch_shape[bd]), (bd,), len(batch_shape))
    return starts, valid


def _default_fill(dtype):
    if dtypes.is_inexact(dtype):
        return float("nan") if not dtypes.is_complex(dtype) else complex("nan")
    if dtypes.is_bool(dtype):
        return True
    info = dtypes.iinfo(dtype)
    return int(info.min) if np.dtype(dtype).kind == "i" else int(info.max)


def _as_index_array(x):
    """Index operands: lists become arrays, numpy arrays get a canonical integer dtype."""
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(x, (np.ndarray, np.generic)):
        x = np.asarray(x, dtypes.canonicalize_dtype(x.dtype))
    return x


# ---------------------------------------------------------------------------------------------
# dynamic_slice (operand, *start_indices; static slice_sizes)


def _clamped_starts(shape, starts, sizes):
    return [min(max(int(s), 0), d - n) for s, d, n in zip(starts, shape, sizes)]


def _avals(*xs):
    return [ShapedArray(np.shape(x), np.asarray(x).dtype) for x in xs]


def _dynamic_slice_impl(operand, *starts, slice_sizes):
    _dynamic_slice_abstract(*_avals(operand, *starts), slice_sizes=slice_sizes)
    starts = _clamped_starts(operand.shape, starts, slice_sizes)
    return operand[tuple(slice(s, s + n) for s, n in zip(starts, slice_sizes))]


def _check_starts(name, operand, starts):
    if len(starts) != operand.ndim:
        raise TypeError(f"{name} needs one start index per dimension of the operand "
                        f"{operand.str_short()}, got {len(starts)}.")
    if any(s.ndim for s in starts):
        raise TypeError(f"{name} start indices must be scalars, got "
                        + ", ".join(s.str_short() for s in starts) + ".")
    _check_index_dtype(name, *starts)
    if len({s.dtype for s in starts}) > 1:
        raise TypeError(f"{name} start indices must share one integer dtype, got "
                        + ", ".join(s.str_short() for s in starts) + ".")


def _dynamic_slice_abstract(operand, *starts, slice_sizes):
    _check_starts("dynamic_slice", operand, starts)
    if len(slice_sizes) != operand.ndim or any(
            not 0 <= n <= d for n, d in zip(slice_sizes, operand.shape)):
        raise TypeError(f"dynamic_slice slice_sizes={slice_sizes} must be non-negative and fit "
                        f"in the operand {operand.str_short()}.")
    return ShapedArray(slice_sizes, operand.dtype, operand.weak_type)


def _dynamic_slice_jvp(primals, tangents, *, slice_sizes):
    operand, *starts = primals
    out = dynamic_slice_p.bind(operand, *starts, slice_sizes=slice_sizes)
    t = tangents[0]
    if type(t) is Zero:
        return out, Zero(tangent_aval(get_aval(out)))
    return out, dynamic_slice_p.bind(t, *starts, slice_sizes=slice_sizes)


def _dynamic_slice_transpose(ct, operand, *starts, slice_sizes):
    if type(ct) is Zero:
        return [None] * (1 + len(starts))
    zeros = _zeros(operand.aval.shape, get_aval(ct).dtype)
    return [dynamic_update_slice_p.bind(zeros, ct, *starts)] + [None] * len(starts)


def _batch_starts(starts, dims, axis_size):
    """Scalar start indices, some batched, as one (axis_size, n) index array (batch dim 0)."""
    dtype = get_aval(starts[0]).dtype
    cols = []
    for s, d in zip(starts, dims):
        s = ew.convert_element_type(s, dtype)
        s = sp.broadcast_in_dim(s, (axis_size, 1), () if d is not_mapped else (0,))
        cols.append(s)
    return sp.concatenate(cols, 1)


def _dynamic_slice_batch(axis_size, vals, dims, *, slice_sizes):
    operand, *starts = vals
    operand_dim, *start_dims = dims
    if all(d is not_mapped for d in start_dims):
        d = operand_dim  # a full window along the batch dim: still one dynamic_slice
        zero = np.zeros((), get_aval(starts[0]).dtype if starts else np.int32)
        starts = starts[:d] + [zero] + starts[d:]
        sizes = slice_sizes[:d] + (axis_size,) + slice_sizes[d:]
        return dynamic_slice_p.bind(operand, *starts, slice_sizes=sizes), d
    rank = len(starts)
    dnums = GatherDimensionNumbers(tuple(range(rank)), (), tuple(range(rank)))
    index = _batch_starts(starts, start_dims, axis_size)
    return _gather_batch(axis_size, [operand, index], [operand_dim, 0], dimension_numbers=dnums,
                         slice_sizes=slice_sizes, indices_are_sorted=True, unique_indices=True,
                         mode=GatherScatterMode.CLIP, fill_value=None)


dynamic_slice_p = Primitive("dynamic_slice")
dynamic_slice_p.impl = _dynamic_slice_impl
dynamic_slice_p.abstract_eval = _dynamic_slice_abstract
dynamic_slice_p.weak_type_rule = _operand_weak
dynamic_slice_p.jvp = _dynamic_slice_jvp
dynamic_slice_p.transpose = _dynamic_slice_transpose
dynamic_slice_p.batch = _dynamic_slice_batch


def _normalize_starts(shape, start_indices):
    """Negative starts count from the end (as in JAX); all starts get one integer dtype."""
    starts = list(start_indices) if isinstance(start_indices, (list, tuple)) else _unstack(
        start_indices)
    if len(starts) != len(shape):
        raise TypeError(f"dynamic slicing needs one start index per dimension of shape {shape}, "
                        f"got {len(starts)}.")
    typed = [get_aval(s).dtype for s in starts if type(s) not in (int, bool)]
    dtype = np.dtype(np.int32)
    for t in typed:
        if not dtypes.is_integer(t):
            raise TypeError(f"dynamic slicing start indices must be integers, got {t.name}.")
        dtype = np.promote_types(dtype, t)
    dtype = dtypes.canonicalize_dtype(dtype)
    return [_normalize_start(s, d, dtype) for s, d in zip(starts, shape)]


def _normalize_start(s, size, dtype):
    if not isinstance(s, Tracer):
        v = np.asarray(s.value if hasattr(s, "value") else s).astype(np.int64)
        return np.asarray(v + size if v < 0 else v, dtype)
    s = ew.convert_element_type(s, dtype)
    if np.dtype(dtype).kind == "u":
        return s
    return ew.select_n(ew.lt(s, np.zeros((), dtype)), s, ew.add(s, np.array(size, dtype)))


def _unstack(x):
    aval = get_aval(x)
    if aval.ndim != 1:
        raise TypeError(f"start_indices must be a sequence of scalars or a 1-D array, got "
                        f"{aval.str_short()}.")
    return [sp.index_in_dim(x, i, 0, keepdims=False) for i in range(aval.shape[0])]


def dynamic_slice(operand, start_indices, slice_sizes):
    """`operand[start:start+size]` per dimension, starts clamped so the slice fits (lax)."""
    shape = get_aval(operand).shape
    starts = _normalize_starts(shape, start_indices)
    return dynamic_slice_p.bind(operand, *starts, slice_sizes=_ints(slice_sizes))


def dynamic_slice_in_dim(operand, start_index, slice_size: int, axis: int = 0):
    shape = get_aval(operand).shape
    axis = int(axis) % len(shape)
    starts = [0] * len(shape)
    starts[axis] = start_index
    sizes = list(shape)
    sizes[axis] = int(slice_size)
    return dynamic_slice(operand, starts, sizes)


def dynamic_index_in_dim(operand, index, axis: int = 0, keepdims: bool = True):
    out = dynamic_slice_in_dim(operand, index, 1, axis)
    return out if keepdims else sp.squeeze(out, (int(axis) % get_aval(operand).ndim,))


# ---------------------------------------------------------------------------------------------
# dynamic_update_slice (operand, update, *start_indices)


def _dus_impl(operand, update, *starts):
    _dus_abstract(*_avals(operand, update, *starts))
    starts = _clamped_starts(operand.shape, starts, update.shape)
    out = np.array(operand, copy=True)
    out[tuple(slice(s, s + n) for s, n in zip(starts, update.shape))] = update
    return out


def _dus_abstract(operand, update, *starts):
    _check_starts("dynamic_update_slice", operand, starts)
    if update.dtype != operand.dtype:
        raise TypeError(f"dynamic_update_slice update {update.str_short()} must have the "
                        f"operand's dtype ({operand.str_short()}).")
    if update.ndim != operand.ndim or any(u > o for u, o in zip(update.shape, operand.shape)):
        raise TypeError(f"dynamic_update_slice update {update.str_short()} must have the rank "
                        f"of the operand {operand.str_short()} and fit inside it.")
    return ShapedArray(operand.shape, operand.dtype, operand.weak_type)


def _dus_jvp(primals, tangents):
    operand, update, *starts = primals
    t_operand, t_update = tangents[:2]
    out = dynamic_update_slice_p.bind(operand, update, *starts)
    if type(t_operand) is Zero and type(t_update) is Zero:
        return out, Zero(tangent_aval(get_aval(out)))
    t_operand, t_update = instantiate_zeros(t_operand), instantiate_zeros(t_update)
    return out, dynamic_update_slice_p.bind(t_operand, t_update, *starts)


def _dus_transpose(ct, operand, update, *starts):
    none = [None] * len(starts)
    if type(ct) is Zero:
        return [None, None] + none
    update_shape = _aval_of(update).shape
    operand_ct = update_ct = None
    if is_undefined_primal(operand):  # the window was overwritten: no cotangent flows there
        zeros = _zeros(update_shape, get_aval(ct).dtype)
        operand_ct = dynamic_update_slice_p.bind(ct, zeros, *starts)
    if is_undefined_primal(update):
        update_ct = dynamic_slice_p.bind(ct, *starts, slice_sizes=update_shape)
    return [operand_ct, update_ct] + none


def _dus_batch(axis_size, vals, dims):
    operand, update, *starts = vals
    operand_dim, update_dim, *start_dims = dims
    operand = bdim_at_front(operand, operand_dim, axis_size)
    update = bdim_at_front(update, update_dim, axis_size)
    if all(d is not_mapped for d in start_dims):
        zero = np.zeros((), get_aval(starts[0]).dtype if starts else np.int32)
        return dynamic_update_slice_p.bind(operand, update, zero, *starts), 0
    rank = len(starts)
    dnums = ScatterDimensionNumbers(tuple(range(rank)), (), tuple(range(rank)))
    index = _batch_starts(starts, start_dims, axis_size)
    return _scatter_batch(scatter_p)(axis_size, [operand, index, update], [0, 0, 0],
                                     dimension_numbers=dnums, indices_are_sorted=True,
                                     unique_indices=True, mode=GatherScatterMode.CLIP)


dynamic_update_slice_p = Primitive("dynamic_update_slice")
dynamic_update_slice_p.impl = _dus_impl
dynamic_update_slice_p.abstract_eval = _dus_abstract
dynamic_update_slice_p.weak_type_rule = _operand_weak
dynamic_update_slice_p.jvp = _dus_jvp
dynamic_update_slice_p.transpose = _dus_transpose
dynamic_update_slice_p.batch = _dus_batch


def dynamic_update_slice(operand, update, start_indices):
    """`operand` with `update` written at `start_indices` (clamped so it fits) (lax)."""
    shape = get_aval(operand).shape
    starts = _normalize_starts(shape, start_indices)
    return dynamic_update_slice_p.bind(operand, update, *starts)


def dynamic_update_slice_in_dim(operand, update, start_index, axis: int):
    ndim = get_aval(operand).ndim
    starts = [0] * ndim
    starts[int(axis) % ndim] = start_index
    return dynamic_update_slice(operand, update, starts)


def dynamic_update_index_in_dim(operand, update, index, axis: int):
    ndim = get_aval(operand).ndim
    axis = int(axis) % ndim
    if get_aval(update).ndim == ndim - 1:
        update = sp.expand_dims(update, (axis,))
    return dynamic_update_slice_in_dim(operand, update, index, axis)


# ---------------------------------------------------------------------------------------------
# gather


def _gather_shape(operand, indices, dn, slice_sizes):
    rank = len(dn.offset_dims) + indices.ndim - 1
    batch = iter(indices.shape[:-1])
    window = iter(s for d, s in enumerate(slice_sizes)
                  if d not in dn.collapsed_slice_dims and d not in dn.operand_batching_dims)
    return tuple(next(window) if i in dn.offset_dims else next(batch) for i in range(rank))


def _check_dims(name, what, dims, rank, sorted_=False):
    if any(not 0 <= d < rank for d in dims) or len(set(dims)) != len(dims):
        raise TypeError(f"{name} {what}={dims} must be distinct dimensions in [0, {rank}).")
    if sorted_ and list(dims) != sorted(dims):
        raise TypeError(f"{name} {what}={dims} must be sorted.")


def _check_batching(name, operand, indices, obd, ibd, what):
    _check_dims(name, "operand_batching_dims", obd, operand.ndim, sorted_=True)
    _check_dims(name, what, ibd, indices.ndim - 1)
    if len(obd) != len(ibd) or any(operand.shape[a] != indices.shape[b]
                                   for a, b in zip(obd, ibd)):
        raise TypeError(f"{name} operand_batching_dims={obd} and {what}={ibd} must pair "
                        f"dimensions of equal size: operand {operand.str_short()}, indices "
                        f"{indices.str_short()}.")


def _gather_abstract(operand, indices, *, dimension_numbers, slice_sizes, indices_are_sorted,
                     unique_indices, mode, fill_value):
    dn = dimension_numbers
    shapes = f"operand {operand.str_short()}, indices {indices.str_short()}"
    _check_index_dtype("gather", indices)
    if indices.ndim < 1 or len(dn.start_index_map) != indices.shape[-1]:
        raise TypeError(f"gather indices need a last (index vector) dimension with one entry "
                        f"per start_index_map={dn.start_index_map}; got {shapes}.")
    if len(slice_sizes) != operand.ndim:
        raise TypeError(f"gather needs one slice size per operand dimension; got "
                        f"slice_sizes={slice_sizes} for {shapes}.")
    out_rank = len(dn.offset_dims) + indices.ndim - 1
    _check_dims("gather", "offset_dims", dn.offset_dims, out_rank, sorted_=True)
    _check_dims("gather", "collapsed_slice_dims", dn.collapsed_slice_dims, operand.ndim, True)
    _check_dims("gather", "start_index_map", dn.start_index_map, operand.ndim)
    _check_batching("gather", operand, indices, dn.operand_batching_dims,
                    dn.start_indices_batching_dims, "start_indices_batching_dims")
    if set(dn.operand_batching_dims) & (set(dn.collapsed_slice_dims) | set(dn.start_index_map)):
        raise TypeError("gather operand_batching_dims must be disjoint from "
                        "collapsed_slice_dims and start_index_map.")
    n_window = operand.ndim - len(dn.collapsed_slice_dims) - len(dn.operand_batching_dims)
    if len(dn.offset_dims) != n_window:
        raise TypeError(f"gather offset_dims={dn.offset_dims} must have one entry per window "
                        f"dimension ({n_window}) for {shapes}.")
    for d, (s, n) in enumerate(zip(slice_sizes, operand.shape)):
        if not 0 <= s <= n or ((d in dn.collapsed_slice_dims or d in dn.operand_batching_dims)
                               and s > 1):
            raise TypeError(f"gather slice_sizes={slice_sizes} out of range for {shapes} "
                            "(collapsed and batching dimensions need size 1).")
    shape = _gather_shape(operand, indices, dn, slice_sizes)
    return ShapedArray(shape, operand.dtype, operand.weak_type)


def _gather_impl(operand, indices, *, dimension_numbers, slice_sizes, indices_are_sorted,
                 unique_indices, mode, fill_value):
    dn = dimension_numbers
    out_shape = _gather_abstract(*_avals(operand, indices), dimension_numbers=dn,
                                 slice_sizes=slice_sizes, indices_are_sorted=indices_are_sorted,
                                 unique_indices=unique_indices, mode=mode,
                                 fill_value=fill_value).shape
    if 0 in out_shape:
        return np.zeros(out_shape, operand.dtype)
    starts, valid = _window_starts(operand.shape, indices, dn.start_index_map,
                                   dn.operand_batching_dims, dn.start_indices_batching_dims,
                                   slice_sizes)
    rank = len(out_shape)
    batch_pos = [i for i in range(rank) if i not in dn.offset_dims]
    window = [d for d in range(operand.ndim)
              if d not in dn.collapsed_slice_dims and d not in dn.operand_batching_dims]
    index = []
    for d in range(operand.ndim):
        i = _place(starts[..., d], batch_pos, rank)
        if d in window:
            offset = dn.offset_dims[window.index(d)]
            i = i + _place(np.arange(slice_sizes[d]), (offset,), rank)
        index.append(i)
    out = np.broadcast_to(operand[tuple(index)], out_shape)
    if mode is GatherScatterMode.FILL_OR_DROP:
        mask = _place(valid, batch_pos, rank)
        out = np.where(mask, out, np.asarray(fill_value).astype(operand.dtype))
    return out


def _gather_jvp(primals, tangents, **params):
    operand, indices = primals
    out = gather_p.bind(operand, indices, **params)
    t = tangents[0]
    if type(t) is Zero:
        return out, Zero(tangent_aval(get_aval(out)))
    fill = 0 if params["mode"] is GatherScatterMode.FILL_OR_DROP else None
    return out, gather_p.bind(t, indices, **dict(params, fill_value=fill))


def _gather_transpose(ct, operand, indices, *, dimension_numbers, slice_sizes,
                      indices_are_sorted, unique_indices, mode, fill_value):
    if type(ct) is Zero:
        return [None, None]
    dn = dimension_numbers
    scatter_dnums = ScatterDimensionNumbers(dn.offset_dims, dn.collapsed_slice_dims,
                                            dn.start_index_map, dn.operand_batching_dims,
                                            dn.start_indices_batching_dims)
    zeros = _zeros(operand.aval.shape, get_aval(ct).dtype)
    out = scatter_add_p.bind(zeros, indices, ct, dimension_numbers=scatter_dnums,
                             indices_are_sorted=indices_are_sorted,
                             unique_indices=unique_indices, mode=mode)
    return [out, None]


def _shift(dims, k=1):
    return tuple(d + k for d in dims)


def _gather_batch(axis_size, vals, dims, *, dimension_numbers, slice_sizes, **params):
    """JAX's rule: a batched operand adds a full window dim (or a batching dim when the indices
    are batched too); batched indices add a batch dim. Always one gather, batch dim first."""
    (operand, indices), (operand_dim, indices_dim) = vals, dims
    dn = dimension_numbers
    if indices_dim is not_mapped:
        operand = sp.moveaxis(operand, operand_dim, 0)
        dnums = GatherDimensionNumbers(
            (0,) + _shift(dn.offset_dims), _shift(dn.collapsed_slice_dims),
            _shift(dn.start_index_map), _shift(dn.operand_batching_dims),
            dn.start_indices_batching_dims)
        sizes = (axis_size,) + tuple(slice_sizes)
        return gather_p.bind(operand, indices, dimension_numbers=dnums, slice_sizes=sizes,
                             **params), 0
    indices = sp.moveaxis(indices, indices_dim, 0)
    if operand_dim is not_mapped:
        dnums = dn._replace(offset_dims=_shift(dn.offset_dims),
                            start_indices_batching_dims=_shift(dn.start_indices_batching_dims))
        params = dict(params, indices_are_sorted=False, unique_indices=False)
        return gather_p.bind(operand, indices, dimension_numbers=dnums,
                             slice_sizes=tuple(slice_sizes), **params), 0
    operand = sp.moveaxis(operand, operand_dim, 0)
    dnums = GatherDimensionNumbers(
        _shift(dn.offset_dims), _shift(dn.collapsed_slice_dims), _shift(dn.start_index_map),
        (0,) + _shift(dn.operand_batching_dims), (0,) + _shift(dn.start_indices_batching_dims))
    sizes = (1 if axis_size else 0,) + tuple(slice_sizes)
    return gather_p.bind(operand, indices, dimension_numbers=dnums, slice_sizes=sizes,
                         **params), 0


gather_p = Primitive("gather")
gather_p.impl = _gather_impl
gather_p.abstract_eval = _gather_abstract
gather_p.weak_type_rule = _operand_weak
gather_p.jvp = _gather_jvp
gather_p.transpose = _gather_transpose
gather_p.batch = _gather_batch


def gather(operand, start_indices, dimension_numbers, slice_sizes, *, unique_indices=False,
           indices_are_sorted=False, mode=None, fill_value=None):
    """XLA's gather (lax.gather). `mode=None` is PROMISE_IN_BOUNDS, as in JAX.

    Example: rows 2 and 0 of a matrix `x`::

        gather(x, np.array([[2], [0]]), GatherDimensionNumbers(offset_dims=(1,),
               collapsed_slice_dims=(0,), start_index_map=(0,)), slice_sizes=(1, x.shape[1]))
    """
    mode = GatherScatterMode.PROMISE_IN_BOUNDS if mode is None else GatherScatterMode.from_any(
        mode)
    if mode is GatherScatterMode.FILL_OR_DROP:
        dtype = get_aval(operand).dtype
        fill_value = _default_fill(dtype) if fill_value is None else np.asarray(
            fill_value).astype(dtype).item()
    else:
        fill_value = None
    return gather_p.bind(operand, _as_index_array(start_indices),
                         dimension_numbers=_canonical_dnums(dimension_numbers,
                                                            GatherDimensionNumbers),
                         slice_sizes=_ints(slice_sizes), indices_are_sorted=bool(
                             indices_are_sorted), unique_indices=bool(unique_indices),
                         mode=mode, fill_value=fill_value)


# ---------------------------------------------------------------------------------------------
# scatter, scatter-add, scatter-mul, scatter-min, scatter-max


def _scatter_window(operand_ndim, updates_shape, dn):
    """Window size per operand dimension (1 for inserted and batching dimensions)."""
    sizes, pos = [], 0
    for d in range(operand_ndim):
        if d in dn.inserted_window_dims or d in dn.operand_batching_dims:
            sizes.append(1)
        else:
            sizes.append(updates_shape[dn.update_window_dims[pos]])
            pos += 1
    return tuple(sizes)


def _inverse_gather(dn, operand_ndim, updates_shape):
    """The gather that reads back, for each update element, the operand element it hits."""
    gather_dnums = GatherDimensionNumbers(dn.update_window_dims, dn.inserted_window_dims,
                                          dn.scatter_dims_to_operand_dims,
                                          dn.operand_batching_dims,
                                          dn.scatter_indices_batching_dims)
    return gather_dnums, _scatter_window(operand_ndim, updates_shape, dn)


def _scatter_abstract(name):
    def rule(operand, indices, updates, *, dimension_numbers, indices_are_sorted,
             unique_indices, mode):
        dn = dimension_numbers
        shapes = (f"operand {operand.str_short()}, indices {indices.str_short()}, updates "
                  f"{updates.str_short()}")
        _check_index_dtype(name, indices)
        if updates.dtype != operand.dtype:
            raise TypeError(f"{name} updates must have the operand's dtype; got {shapes}.")
        if indices.ndim < 1 or len(dn.scatter_dims_to_operand_dims) != indices.shape[-1]:
            raise TypeError(f"{name} indices need a last (index vector) dimension with one "
                            "entry per scatter_dims_to_operand_dims="
                            f"{dn.scatter_dims_to_operand_dims}; got {shapes}.")
        if updates.ndim != indices.ndim - 1 + len(dn.update_window_dims):
            raise TypeError(f"{name} updates must have rank {indices.ndim - 1} (index batch) + "
                            f"{len(dn.update_window_dims)} (window); got {shapes}.")
        _check_dims(name, "update_window_dims", dn.update_window_dims, updates.ndim, True)
        _check_dims(name, "inserted_window_dims", dn.inserted_window_dims, operand.ndim, True)
        _check_dims(name, "scatter_dims_to_operand_dims", dn.scatter_dims_to_operand_dims,
                    operand.ndim)
        _check_batching(name, operand, indices, dn.operand_batching_dims,
                        dn.scatter_indices_batching_dims, "scatter_indices_batching_dims")
        n_window = operand.ndim - len(dn.inserted_window_dims) - len(dn.operand_batching_dims)
        if len(dn.update_window_dims) != n_window or set(dn.inserted_window_dims) & set(
                dn.operand_batching_dims):
            raise TypeError(f"{name} update_window_dims={dn.update_window_dims} must cover the "
                            f"operand dimensions not inserted or batched; got {shapes}.")
        window = _scatter_window(operand.ndim, updates.shape, dn)
        scatter_shape = [s for i, s in enumerate(updates.shape) if i not in dn.update_window_dims]
        if any(w > n for w, n in zip(window, operand.shape)) or tuple(scatter_shape) != \
                indices.shape[:-1]:
            raise TypeError(f"{name} update windows must fit in the operand and the update "
                            f"scatter dims must match the index batch dims; got {shapes}.")
        return ShapedArray(operand.shape, operand.dtype, operand.weak_type)

    return rule


def _scatter_impl(name, combine):
    check = _scatter_abstract(name)

    def impl(operand, indices, updates, *, dimension_numbers, indices_are_sorted,
             unique_indices, mode):
        dn = dimension_numbers
        check(*_avals(operand, indices, updates), dimension_numbers=dn,
              indices_are_sorted=indices_are_sorted, unique_indices=unique_indices, mode=mode)
        out = np.array(operand, copy=True)
        if updates.size == 0:
            return out
        window = _scatter_window(operand.ndim, updates.shape, dn)
        starts, valid = _window_starts(operand.shape, indices, dn.scatter_dims_to_operand_dims,
                                       dn.operand_batching_dims,
                                       dn.scatter_indices_batching_dims, window)
        if mode is GatherScatterMode.CLIP:
            valid = np.ones_like(valid)
        rank = updates.ndim
        scatter_pos = [i for i in range(rank) if i not in dn.update_window_dims]
        window_dims = [d for d in range(operand.ndim)
                       if d not in dn.inserted_window_dims and d not in dn.operand_batching_dims]
        mask = np.broadcast_to(_place(valid, scatter_pos, rank), updates.shape)
        index = []
        for d in range(operand.ndim):
            i = _place(starts[..., d], scatter_pos, rank)
            if d in window_dims:
                i = i + _place(np.arange(window[d]), (dn.update_window_dims[window_dims.index(d)],),
                               rank)
            index.append(np.broadcast_to(i, updates.shape)[mask])
        target = out if operand.ndim else out.reshape(1)
        if not operand.ndim:
            index = [np.zeros(int(mask.sum()), np.int64)]
        combine(target, tuple(index), updates[mask])
        return out

    return impl


def _set(out, index, values):
    out[index] = values


def _scatter_batch(p):
    """JAX's rule: operand and updates get the batch dim first; batched indices pair it with
    the operand's through the batching dims. One scatter, batch dim 0."""
    def rule(axis_size, vals, dims, *, dimension_numbers, **params):
        (operand, indices, updates), (operand_dim, indices_dim, updates_dim) = vals, dims
        dn = dimension_numbers
        operand = bdim_at_front(operand, operand_dim, axis_size)
        updates = bdim_at_front(updates, updates_dim, axis_size)
        if indices_dim is not_mapped:
            dnums = ScatterDimensionNumbers(
                (0,) + _shift(dn.update_window_dims), _shift(dn.inserted_window_dims),
                _shift(dn.scatter_dims_to_operand_dims), _shift(dn.operand_batching_dims),
                dn.scatter_indices_batching_dims)
            return p.bind(operand, indices, updates, dimension_numbers=dnums, **params), 0
        indices = bdim_at_front(indices, indices_dim, axis_size)
        dnums = ScatterDimensionNumbers(
            _shift(dn.update_window_dims), _shift(dn.inserted_window_dims),
            _shift(dn.scatter_dims_to_operand_dims), (0,) + _shift(dn.operand_batching_dims),
            (0,) + _shift(dn.scatter_indices_batching_dims))
        return p.bind(operand, indices, updates, dimension_numbers=dnums, **params), 0

    return rule


def _scatter_primitive(name, combine) -> Primitive:
    p = Primitive(name)
    p.impl = _scatter_impl(name, combine)
    p.abstract_eval = _scatter_abstract(name)
    p.weak_type_rule = _operand_weak
    p.batch = _scatter_batch(p)
    return p


def _zero_out(out):
    return out, Zero(tangent_aval(get_aval(out)))


# scatter-add: linear in (operand, updates).

def _scatter_add_jvp(primals, tangents, **params):
    operand, indices, updates = primals
    t_operand, _, t_updates = tangents
    out = scatter_add_p.bind(operand, indices, updates, **params)
    if type(t_operand) is Zero and type(t_updates) is Zero:
        return _zero_out(out)
    t = scatter_add_p.bind(instantiate_zeros(t_operand), indices, instantiate_zeros(t_updates),
                           **params)
    return out, t


def _scatter_add_transpose(ct, operand, indices, updates, *, dimension_numbers,
                           indices_are_sorted, unique_indices, mode):
    if type(ct) is Zero:
        return [None, None, None]
    operand_ct = ct if is_undefined_primal(operand) else None
    updates_ct = None
    if is_undefined_primal(updates):
        gather_dnums, sizes = _inverse_gather(dimension_numbers, get_aval(ct).ndim,
                                              updates.aval.shape)
        updates_ct = gather(ct, indices, gather_dnums, sizes, mode=mode, fill_value=0,
                            indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)
    return [operand_ct, None, updates_ct]


scatter_add_p = _scatter_primitive("scatter-add", lambda out, i, v: np.add.at(out, i, v))
scatter_add_p.jvp = _scatter_add_jvp
scatter_add_p.transpose = _scatter_add_transpose


# scatter-mul: linear in the operand; in the updates only with unique indices (as in JAX).

def _scatter_mul_jvp(primals, tangents, **params):
    operand, indices, updates = primals
    t_operand, _, t_updates = tangents
    out = scatter_mul_p.bind(operand, indices, updates, **params)
    t = Zero(tangent_aval(get_aval(out)))
    if type(t_operand) is not Zero:
        t = scatter_mul_p.bind(t_operand, indices, updates, **params)
    if type(t_updates) is not Zero:
        if not params["unique_indices"]:
            raise NotImplementedError(
                "scatter_mul gradients with respect to the updates are only implemented if "
                "`unique_indices=True` (as in JAX): pass unique_indices=True when the indices "
                "do not repeat.")
        # d(x * y) = x * dy at the scattered positions: scatter-add dy into zeros, times x.
        zeros = _zeros(get_aval(operand).shape, get_aval(t_updates).dtype)
        dy = scatter_add_p.bind(zeros, indices, t_updates, **params)
        t = add_tangents(t, ew.mul(operand, dy))
    return out, t


def _scatter_mul_transpose(ct, operand, indices, updates, *, dimension_numbers,
                           indices_are_sorted, unique_indices, mode):
    if type(ct) is Zero:
        return [None, None, None]
    if is_undefined_primal(updates):
        raise NotImplementedError("scatter_mul is linear only in its operand")
    out = scatter_mul_p.bind(ct, indices, updates, dimension_numbers=dimension_numbers,
                             indices_are_sorted=indices_are_sorted,
                             unique_indices=unique_indices, mode=mode)
    return [out, None, None]


scatter_mul_p = _scatter_primitive("scatter-mul", lambda out, i, v: np.multiply.at(out, i, v))
scatter_mul_p.jvp = _scatter_mul_jvp
scatter_mul_p.transpose = _scatter_mul_transpose


# scatter-min / scatter-max: the tangent follows the winning values; ties share it equally.

def _scatter_extremal_jvp(p):
    def rule(primals, tangents, *, dimension_numbers, indices_are_sorted, unique_indices, mode):
        operand, indices, updates = primals
        t_operand, _, t_updates = tangents
        dn = dimension_numbers
        params = {"dimension_numbers": dn, "indices_are_sorted": indices_are_sorted,
                      "unique_indices": unique_indices, "mode": mode}
        out = p.bind(operand, indices, updates, **params)
        if type(t_operand) is Zero and type(t_updates) is Zero:
            return _zero_out(out)
        t_operand, t_updates = instantiate_zeros(t_operand), instantiate_zeros(t_updates)
        gdn, sizes = _inverse_gather(dn, get_aval(operand).ndim, get_aval(updates).shape)
        back = lambda x: gather(x, indices, gdn, sizes)
        add = lambda o, u: scatter_add(o, indices, u, dn)
        dtype = get_aval(updates).dtype
        ones_u, zeros_u = _ones_like(updates), _zeros(get_aval(updates).shape, dtype)
        zeros_o = _zeros(get_aval(operand).shape, dtype)
        initial, target = back(operand), back(out)
        won = ew.eq(updates, target)  # this update is (one of) the extremum
        kept = ew.eq(initial, target)  # the operand value survived too
        num_updates = back(add(zeros_o, ew.select_n(won, zeros_u, ones_u)))
        num_refs = back(add(zeros_o, ones_u))
        one = np.ones((), dtype)
        # (losers have num_updates == 0; their coefficient is zeroed below, so avoid 1/0)
        share = ew.select_n(kept, ew.div(one, ew.max(num_updates, one)),
                            ew.div(one, ew.add(num_updates, one)))
        updates_coef = ew.select_n(won, zeros_u, share)
        operand_share = ew.select_n(kept, zeros_u, ew.div(one, ew.add(num_updates, one)))
        operand_coef = ew.div(ew.sub(operand_share, one), num_refs)
        t_new = ew.add(ew.mul(back(t_operand), operand_coef), ew.mul(t_updates, updates_coef))
        return out, scatter_add(t_operand, indices, t_new, dn, indices_are_sorted=
                                indices_are_sorted, unique_indices=unique_indices, mode=mode)

    return rule


def _ones_like(x):
    aval = get_aval(x)
    return sp.broadcast_in_dim(np.ones((), aval.dtype), aval.shape, ())


scatter_min_p = _scatter_primitive("scatter-min", lambda out, i, v: np.minimum.at(out, i, v))
scatter_min_p.jvp = _scatter_extremal_jvp(scatter_min_p)
scatter_max_p = _scatter_primitive("scatter-max", lambda out, i, v: np.maximum.at(out, i, v))
scatter_max_p.jvp = _scatter_extremal_jvp(scatter_max_p)


# scatter (replace).

def _scatter_jvp(primals, tangents, *, dimension_numbers, indices_are_sorted, unique_indices,
                 mode):
    operand, indices, updates = primals
    t_operand, _, t_updates = tangents
    dn = dimension_numbers
    params = {"dimension_numbers": dn, "indices_are_sorted": indices_are_sorted,
                  "unique_indices": unique_indices, "mode": mode}
    if type(t_operand) is Zero and type(t_updates) is Zero:
        return _zero_out(scatter_p.bind(operand, indices, updates, **params))
    t_operand, t_updates = instantiate_zeros(t_operand), instantiate_zeros(t_updates)
    if unique_indices:
        return (scatter_p.bind(operand, indices, updates, **params),
                scatter_p.bind(t_operand, indices, t_updates, **params))
    # Overlapping indices: which update wins is unspecified. As in JAX, scatter a distinct id
    # per update, read the ids back, keep only the winners, and scatter-add the survivors.
    updates_shape = get_aval(updates).shape
    ids_shape = [1 if i in dn.update_window_dims else s for i, s in enumerate(updates_shape)]
    id_dtype = np.dtype(np.uint32) if math.prod(ids_shape) < 2**32 - 1 else np.dtype(np.uint64)
    ids = ew.add(sp.reshape(sp.iota(id_dtype, math.prod(ids_shape)), ids_shape),
                 np.ones((), id_dtype))
    ids = sp.broadcast_in_dim(ids, updates_shape, tuple(range(len(updates_shape))))
    operand_shape = get_aval(operand).shape
    scattered = scatter(_zeros(operand_shape, id_dtype), indices, ids, dn,
                        indices_are_sorted=indices_are_sorted, mode=mode)
    gdn, sizes = _inverse_gather(dn, len(operand_shape), updates_shape)
    gathered = gather(scattered, indices, gdn, sizes,
                      mode=mode if mode is GatherScatterMode.CLIP else None)
    untouched = ew.eq(scattered, np.zeros((), id_dtype))
    won = ew.eq(ids, gathered)

    def keep(mask, x):
        return ew.select_n(mask, _zeros(get_aval(x).shape, get_aval(x).dtype), x)

    add = dict(params, unique_indices=False)
    out = scatter_add_p.bind(keep(untouched, operand), indices, keep(won, updates), **add)
    t = scatter_add_p.bind(keep(untouched, t_operand), indices, keep(won, t_updates), **add)
    return out, t


def _scatter_transpose(ct, operand, indices, updates, *, dimension_numbers, indices_are_sorted,
                       unique_indices, mode):
    if not unique_indices:
        raise NotImplementedError("scatter transpose is only implemented where "
                                  "unique_indices=True")
    if type(ct) is Zero:
        return [None, None, None]
    params = {"dimension_numbers": dimension_numbers, "indices_are_sorted": indices_are_sorted,
                  "unique_indices": True, "mode": mode}
    updates_shape = _aval_of(updates).shape
    operand_ct = updates_ct = None
    if is_undefined_primal(operand):  # overwritten positions get no cotangent
        zeros = _zeros(updates_shape, get_aval(ct).dtype)
        operand_ct = scatter_p.bind(ct, indices, zeros, **params)
    if is_undefined_primal(updates):
        gdn, sizes = _inverse_gather(dimension_numbers, get_aval(ct).ndim, updates_shape)
        updates_ct = gather(ct, indices, gdn, sizes, mode=mode, fill_value=0,
                            indices_are_sorted=indices_are_sorted, unique_indices=True)
    return [operand_ct, None, updates_ct]


scatter_p = _scatter_primitive("scatter", _set)
scatter_p.jvp = _scatter_jvp
scatter_p.transpose = _scatter_transpose


def _scatter_wrapper(p, doc):
    def fn(operand, scatter_indices, updates, dimension_numbers, *, indices_are_sorted=False,
           unique_indices=False, mode=None):
        return p.bind(operand, _as_index_array(scatter_indices), updates,
                      dimension_numbers=_canonical_dnums(dimension_numbers,
                                                         ScatterDimensionNumbers),
                      indices_are_sorted=bool(indices_are_sorted),
                      unique_indices=bool(unique_indices), mode=GatherScatterMode.from_any(mode))

    fn.__name__ = p.name.replace("-", "_")
    fn.__doc__ = (f"XLA's scatter {doc} (lax.{fn.__name__}). `mode=None` drops updates whose "
                  "window does not fit in the operand (FILL_OR_DROP), as in JAX.")
    return fn


scatter = _scatter_wrapper(scatter_p, "that replaces values")
scatter_add = _scatter_wrapper(scatter_add_p, "that adds updates")
scatter_mul = _scatter_wrapper(scatter_mul_p, "that multiplies by updates")
scatter_min = _scatter_wrapper(scatter_min_p, "that keeps the minimum")
scatter_max = _scatter_wrapper(scatter_max_p, "that keeps the maximum")


# ---------------------------------------------------------------------------------------------
# take_along_axis: a gather pairing every non-`axis` dimension of x and idx (batching dims)


def take_along_axis(x, idx, axis: int, mode=None, fill_value=None):
    """`out[..., i, ...] = x[..., idx[..., i, ...], ...]` along `axis`; idx has x's rank and
    dimensions equal to x's or 1 elsewhere. Indices are used as given (no negative wrapping);
    `mode=None` promises them in bounds (sort and cumulative JVPs rely on that)."""
    x_shape, idx_shape = get_aval(x).shape, get_aval(idx).shape
    rank = len(x_shape)
    if len(idx_shape) != rank:
        raise TypeError(f"take_along_axis indices {get_aval(idx).str_short()} must have the "
                        f"rank of the operand {get_aval(x).str_short()}.")
    axis = int(axis) % rank
    arr_shape = tuple(1 if i == axis else s for i, s in enumerate(x_shape))
    out_shape = tuple(np.broadcast_shapes(idx_shape, arr_shape))
    offset, batching_x, batching_i, squeeze_dims, index_dims = [], [], [], [], []
    sizes, new_i, j = [], 0, 0
    for i in range(rank):
        if i == axis:
            sizes.append(1)
            axis_new, new_i, j = new_i, new_i + 1, j + 1
            index_dims.append(i)
        elif idx_shape[i] == 1:
            offset.append(i)
            sizes.append(arr_shape[i])
            new_i += 1
        elif arr_shape[i] == 1:
            squeeze_dims.append(i)
            index_dims.append(i)
            j += 1
        else:
            sizes.append(1 if arr_shape[i] else 0)
            batching_x.append(new_i)
            batching_i.append(j)
            index_dims.append(i)
            new_i, j = new_i + 1, j + 1
    x = sp.squeeze(x, squeeze_dims)
    indices = sp.reshape(idx, tuple(out_shape[i] for i in index_dims) + (1,))
    dnums = GatherDimensionNumbers(tuple(offset), (axis_new,), (axis_new,), tuple(batching_x),
                                   tuple(batching_i))
    return gather(x, indices, dnums, tuple(sizes), mode=mode, fill_value=fill_value)


take_along_axis_prim = take_along_axis

__all__ = [
    "GatherDimensionNumbers", "GatherScatterMode", "ScatterDimensionNumbers",
    "dynamic_index_in_dim", "dynamic_slice", "dynamic_slice_in_dim", "dynamic_update_index_in_dim",
    "dynamic_update_slice", "dynamic_update_slice_in_dim", "gather", "scatter", "scatter_add",
    "scatter_max", "scatter_min", "scatter_mul", "take_along_axis",
]
