"""Lowering rules of the linear algebra primitives (hlodiff/prims/linalg.py): dot_general."""

from __future__ import annotations

import numpy as np

from hlodiff.prims import linalg as lp

from .. import hlo
from ..emitter import aval, int_list
from ..registry import register
from .elementwise import convert_element_type


def dot_dimension_numbers(dimension_numbers) -> str:
    """The `#stablehlo.dot<...>` attribute of JAX-style ((lc, rc), (lb, rb)) dimension numbers."""
    (lc, rc), (lb, rb) = dimension_numbers
    return (
        f"#stablehlo.dot<lhs_batching_dimensions = {int_list(lb)}, "
        f"rhs_batching_dimensions = {int_list(rb)}, "
        f"lhs_contracting_dimensions = {int_list(lc)}, "
        f"rhs_contracting_dimensions = {int_list(rc)}>"
    )


@register(lp.dot_general_p)
def _dot_general_lower(ctx, lhs, rhs, *, dimension_numbers, precision=None,
                       preferred_element_type=None):
    b = ctx.b
    out = ctx.avals_out[0]
    (lc, _), _ = dimension_numbers
    if any(lhs.shape[d] == 0 for d in lc):  # an empty sum; IREE 3.13 crashes compiling it
        return hlo.full(b, 0, out.dtype, out.shape)
    # Operands are converted to the result type first: the products then accumulate in it, the
    # meaning of preferred_element_type (int8 x int8 -> int32, bf16 x bf16 -> f32).
    compute = np.dtype(np.int32) if hlo.is_bool(out.dtype) else out.dtype
    lhs = convert_element_type(b, lhs, compute)
    rhs = convert_element_type(b, rhs, compute)
    attrs = {"dot_dimension_numbers": dot_dimension_numbers(dimension_numbers)}
    result = b.op("stablehlo.dot_general", [lhs, rhs], aval(out.shape, compute), attrs)
    if hlo.is_bool(out.dtype):  # a boolean product is "any(a and b)"
        return hlo.compare(b, result, hlo.full_like(b, result, 0), "NE")
    return result
