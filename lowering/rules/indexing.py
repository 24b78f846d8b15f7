"""Lowering rules of the indexing primitives (hlodiff/prims/indexing.py).

IREE neither clamps gather start indices nor skips scatter windows that do not fit (it reads and
writes out of bounds), so the XLA semantics that JAX documents are spelled out here:

- gather (CLIP, PROMISE_IN_BOUNDS): start indices are clamped so each window fits.
- gather (FILL_OR_DROP): clamped, then windows that did not fit are replaced by `fill_value`.
- scatter (CLIP): indices clamped. Other modes drop windows that do not fit: for add/mul/min/max
  their updates become the combiner's identity (at clamped, safe indices); for replacing scatter
  they are redirected to scratch rows padded onto the operand and sliced off afterwards.
- dynamic_slice / dynamic_update_slice: StableHLO clamps the starts, and IREE does too.
"""

from __future__ import annotations

import numpy as np

from hlodiff.prims import indexing as ip

from .. import hlo
from ..emitter import aval, bool_attr, i64_array, int_list
from ..registry import register

_Mode = ip.GatherScatterMode


@register(ip.dynamic_slice_p)
def _dynamic_slice_lower(ctx, operand, *starts, slice_sizes):
    return ctx.b.op("stablehlo.dynamic_slice", [operand, *starts], ctx.avals_out[0],
                    {"slice_sizes": i64_array(slice_sizes)})


@register(ip.dynamic_update_slice_p)
def _dynamic_update_slice_lower(ctx, operand, update, *starts):
    return ctx.b.op("stablehlo.dynamic_update_slice", [operand, update, *starts], operand.aval)


# ---------------------------------------------------------------------------------------------
# Start indices: a signed type wide enough, clamped so windows fit, and the mask of those that did


def _signed_indices(b, indices):
    """Indices as i32 (narrow or small unsigned types) or i64 (32/64-bit unsigned, i64)."""
    dt = indices.dtype
    if dt == np.int32 or dt == np.int64:
        return indices
    wide = dt.itemsize >= 4
    return hlo.convert(b, indices, np.dtype(np.int64 if wide else np.int32))


def _clamp_starts(b, indices, operand_shape, index_map, window):
    """(clamped indices, bool mask over the index batch of windows that fitted unclamped)."""
    if not index_map or not indices.shape[-1]:
        return indices, None
    upper = np.array([operand_shape[d] - window[d] for d in index_map], indices.dtype)
    rank = len(indices.shape)
    hi = hlo.broadcast_in_dim(b, b.constant(upper, indices.dtype, upper.shape), indices.shape,
                              [rank - 1])
    clamped = b.op("stablehlo.clamp", [hlo.full_like(b, indices, 0), indices, hi], indices.aval)
    same = hlo.compare(b, clamped, indices, "EQ")
    (fits,) = hlo.reduce(b, [same], [hlo.full(b, True, np.bool_)], [rank - 1],
                         hlo.monoid_body("and"))
    return clamped, fits


# ---------------------------------------------------------------------------------------------
# gather


def gather_dimension_numbers(dn, index_vector_dim: int) -> str:
    return (
        f"#stablehlo.gather<offset_dims = {int_list(dn.offset_dims)}, "
        f"collapsed_slice_dims = {int_list(dn.collapsed_slice_dims)}, "
        f"operand_batching_dims = {int_list(dn.operand_batching_dims)}, "
        f"start_indices_batching_dims = {int_list(dn.start_indices_batching_dims)}, "
        f"start_index_map = {int_list(dn.start_index_map)}, "
        f"index_vector_dim = {index_vector_dim}>"
    )


@register(ip.gather_p)
def _gather_lower(ctx, operand, indices, *, dimension_numbers, slice_sizes, mode,
                  fill_value=None, indices_are_sorted=False, unique_indices=False):
    b = ctx.b
    dn = dimension_numbers
    out_aval = ctx.avals_out[0]
    if 0 in out_aval.shape:
        return hlo.full(b, 0, out_aval.dtype, out_aval.shape)
    indices = _signed_indices(b, indices)
    clamped, fits = _clamp_starts(b, indices, operand.shape, dn.start_index_map, slice_sizes)
    attrs = {
        "dimension_numbers": gather_dimension_numbers(dn, len(indices.shape) - 1),
        "slice_sizes": i64_array(slice_sizes),
        "indices_are_sorted": bool_attr(indices_are_sorted),
    }
    out = b.op("stablehlo.gather", [operand, clamped], aval(out_aval.shape, out_aval.dtype),
               attrs)
    if mode is not _Mode.FILL_OR_DROP or fits is None:
        return out
    batch_dims = [i for i in range(len(out.shape)) if i not in dn.offset_dims]
    mask = hlo.broadcast_in_dim(b, fits, out.shape, batch_dims)
    fill = hlo.full_like(b, out, _fill_or_default(fill_value, out.dtype))
    return hlo.select(b, mask, out, fill)


def _fill_or_default(fill_value, dtype):
    if fill_value is not None:
        return fill_value
    if hlo.is_bool(dtype):
        return True
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return info.min if np.dtype(dtype).kind == "i" else info.max
    return np.nan


# ---------------------------------------------------------------------------------------------
# scatter family

# kind -> (combiner on numbers, combiner on bools, identity(dtype)); identity None: replace.
_SCATTERS = {
    ip.scatter_p: (None, None, None),
    ip.scatter_add_p: ("add", "or", lambda dt: -0.0 if hlo.is_float(dt) or hlo.is_complex(dt)
                       else 0),
    ip.scatter_mul_p: ("multiply", "and", lambda dt: 1),
    ip.scatter_min_p: ("minimum", "and", hlo.max_value),
    ip.scatter_max_p: ("maximum", "or", hlo.min_value),
}


def scatter_dimension_numbers(dn, index_vector_dim: int) -> str:
    return (
        f"#stablehlo.scatter<update_window_dims = {int_list(dn.update_window_dims)}, "
        f"inserted_window_dims = {int_list(dn.inserted_window_dims)}, "
        f"input_batching_dims = {int_list(dn.operand_batching_dims)}, "
        f"scatter_indices_batching_dims = {int_list(dn.scatter_indices_batching_dims)}, "
        f"scatter_dims_to_operand_dims = {int_list(dn.scatter_dims_to_operand_dims)}, "
        f"index_vector_dim = {index_vector_dim}>"
    )


def _scatter_window(operand_shape, updates_shape, dn) -> list[int]:
    sizes, window_dims = [], iter(dn.update_window_dims)
    for d in range(len(operand_shape)):
        if d in dn.inserted_window_dims or d in dn.operand_batching_dims:
            sizes.append(1)
        else:
            sizes.append(updates_shape[next(window_dims)])
    return sizes


def _scatter_rule(prim):
    name, bool_name, identity = _SCATTERS[prim]

    def rule(ctx, operand, indices, updates, *, dimension_numbers, mode,
             indices_are_sorted=False, unique_indices=False):
        b = ctx.b
        dn = dimension_numbers
        if 0 in updates.shape or 0 in operand.shape:
            return operand
        if hlo.is_complex(operand.dtype) and name in ("minimum", "maximum"):
            raise NotImplementedError(f"{prim} of complex values has no lowering")
        combiner = bool_name if hlo.is_bool(operand.dtype) else name
        window = _scatter_window(operand.shape, updates.shape, dn)
        indices = _signed_indices(b, indices)
        clamped, fits = _clamp_starts(b, indices, operand.shape, dn.scatter_dims_to_operand_dims,
                                      window)
        if mode is _Mode.CLIP or fits is None:
            return _scatter_op(b, operand, clamped, updates, dn, combiner)
        if combiner is None:
            return _scatter_redirected(b, operand, clamped, fits, updates, dn, window)
        scatter_dims = [i for i in range(len(updates.shape)) if i not in dn.update_window_dims]
        keep = hlo.broadcast_in_dim(b, fits, updates.shape, scatter_dims)
        neutral = hlo.full_like(b, updates, identity(updates.dtype))
        updates = hlo.select(b, keep, updates, neutral)
        return _scatter_op(b, operand, clamped, updates, dn, combiner)

    return rule


def _scatter_op(b, operand, indices, updates, dn, combiner):
    """One `stablehlo.scatter`; `combiner` None replaces. Indices are never promised unique or
    sorted: clamping may make them collide."""
    indices, dn = _index_windows(b, indices, updates, dn)
    scalar = aval((), operand.dtype)
    with b.region([scalar, scalar]) as body:
        old, new = body.args
        out = new if combiner is None else hlo.binary(b, combiner, old, new)
        b.ret([out], op="stablehlo.return")
    attrs = {
        "scatter_dimension_numbers": scatter_dimension_numbers(dn, len(indices.shape) - 1),
        "indices_are_sorted": bool_attr(False),
        "unique_indices": bool_attr(False),
    }
    return b.op("stablehlo.scatter", [operand, indices, updates], operand.aval, attrs,
                regions=[body])


def _index_windows(b, indices, updates, dn):
    """Rewrites windows along indexed operand dims into per-element indices.

    IREE 3.13 only lowers scatters whose indexed dims are inserted (size-1, not windows). A
    window dim d that is also indexed becomes a scatter dim of the updates (no data moves):
    its index component becomes start + iota along that update dim, and d an inserted dim.
    """
    window_dims = [d for d in range(_operand_rank(updates, dn))
                   if d not in dn.inserted_window_dims and d not in dn.operand_batching_dims]
    update_dim_of = dict(zip(window_dims, dn.update_window_dims))
    moved = [d for d in dn.scatter_dims_to_operand_dims if d in update_dim_of]
    if not moved:
        return indices, dn
    moved_update_dims = {update_dim_of[d] for d in moved}
    old_batch = [u for u in range(len(updates.shape)) if u not in dn.update_window_dims]
    new_batch = [u for u in range(len(updates.shape))
                 if u not in dn.update_window_dims or u in moved_update_dims]
    shape = [updates.shape[u] for u in new_batch]
    dims = [new_batch.index(u) for u in old_batch]
    columns = []
    for k, d in enumerate(dn.scatter_dims_to_operand_dims):
        col = hlo.reshape(b, hlo.slice_in_dim(b, indices, k, k + 1, axis=len(indices.shape) - 1),
                          indices.shape[:-1])
        col = hlo.broadcast_in_dim(b, col, shape, dims)
        if d in moved:
            col = hlo.add(b, col, hlo.iota(b, shape, col.dtype, new_batch.index(update_dim_of[d])))
        columns.append(hlo.reshape(b, col, shape + [1]))
    indices = hlo.concatenate(b, columns, len(shape))
    dn = dn._replace(
        update_window_dims=tuple(u for u in dn.update_window_dims if u not in moved_update_dims),
        inserted_window_dims=tuple(sorted(set(dn.inserted_window_dims) | set(moved))))
    return indices, dn


def _operand_rank(updates, dn) -> int:
    return len(dn.update_window_dims) + len(dn.inserted_window_dims) + len(
        dn.operand_batching_dims)


def _scatter_redirected(b, operand, clamped, fits, updates, dn, window):
    """Replacing scatter that drops misfit windows: they are sent to scratch rows appended
    along the first scattered operand dimension, which are sliced off afterwards."""
    d0 = dn.scatter_dims_to_operand_dims[0]
    rank = len(operand.shape)
    hi = [0] * rank
    hi[d0] = window[d0]
    padded = hlo.pad(b, operand, hlo.full(b, 0, operand.dtype), [0] * rank, hi, [0] * rank)
    n = clamped.shape[-1]
    scratch = np.zeros(n, clamped.dtype)
    scratch[0] = operand.shape[d0]
    last = len(clamped.shape) - 1
    scratch_idx = hlo.broadcast_in_dim(b, b.constant(scratch, clamped.dtype, (n,)), clamped.shape,
                                       [last])
    fits_b = hlo.broadcast_in_dim(b, fits, clamped.shape, list(range(last)))
    indices = hlo.select(b, fits_b, clamped, scratch_idx)
    out = _scatter_op(b, padded, indices, updates, dn, None)
    return hlo.slice_(b, out, [0] * rank, list(operand.shape))


for _prim in _SCATTERS:
    register(_prim)(_scatter_rule(_prim))
