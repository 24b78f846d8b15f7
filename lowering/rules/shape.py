"""Lowering rules of the shape primitives (hlodiff/prims/shape.py): one StableHLO op each."""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes
from hlodiff.prims import shape as sp

from .. import hlo
from ..emitter import aval, i64_array
from ..registry import register


@register(sp.broadcast_in_dim_p)
def _broadcast_in_dim_lower(ctx, x, *, shape, broadcast_dimensions, **_):
    return hlo.broadcast_in_dim(ctx.b, x, shape, broadcast_dimensions)


@register(sp.reshape_p)
def _reshape_lower(ctx, x, *, new_sizes, dimensions=None, **_):
    if dimensions is not None:
        x = hlo.transpose(ctx.b, x, dimensions)
    return ctx.b.op("stablehlo.reshape", [x], aval(new_sizes, x.dtype))


@register(sp.squeeze_p)
def _squeeze_lower(ctx, x, *, dimensions):
    return ctx.b.op("stablehlo.reshape", [x], ctx.avals_out[0])


@register(sp.transpose_p)
def _transpose_lower(ctx, x, *, permutation):
    return ctx.b.op("stablehlo.transpose", [x], ctx.avals_out[0],
                    {"permutation": i64_array(permutation)})


@register(sp.concatenate_p)
def _concatenate_lower(ctx, *xs, dimension):
    return hlo.concatenate(ctx.b, xs, dimension)


@register(sp.pad_p)
def _pad_lower(ctx, x, pv, *, padding_config):
    lo, hi, interior = zip(*padding_config) if padding_config else ((), (), ())
    return hlo.pad(ctx.b, x, pv, lo, hi, interior)


@register(sp.rev_p)
def _rev_lower(ctx, x, *, dimensions):
    b = ctx.b
    # IREE 3.13 cannot lower `reverse` on unsigned types: reverse the same bits as signed ints.
    signless = hlo.bitcast(b, x, hlo.int_of_width(x.dtype)) if hlo.is_unsigned(x.dtype) else x
    out = b.op("stablehlo.reverse", [signless], signless.aval,
               {"dimensions": i64_array(dimensions)})
    return hlo.bitcast(b, out, x.dtype) if out.dtype != x.dtype else out


@register(sp.slice_p)
def _slice_lower(ctx, x, *, start_indices, limit_indices, strides):
    strides = strides or (1,) * len(start_indices)
    attrs = {"start_indices": i64_array(start_indices), "limit_indices": i64_array(limit_indices),
             "strides": i64_array(strides)}
    return ctx.b.op("stablehlo.slice", [x], ctx.avals_out[0], attrs)


@register(sp.iota_p)
def _iota_lower(ctx, *, dtype, shape, dimension, **_):
    dtype = np.dtype(dtype)
    if hlo.is_bool(dtype) or hlo.is_complex(dtype):
        # iota has no i1/complex form: count in int32 (or the real part) and convert.
        from .elementwise import convert_element_type

        base = np.dtype(np.int32) if hlo.is_bool(dtype) else dtypes.real_dtype(dtype)
        return convert_element_type(ctx.b, hlo.iota(ctx.b, shape, base, dimension), dtype)
    return hlo.iota(ctx.b, shape, dtype, dimension)
