"""Lowering rules of `checkpoint` and `custom_linear_solve` (hlodiff/prims/remat.py): inline.

Differentiation has already happened by the time a jaxpr is lowered, so a checkpoint is its
jaxpr and a linear solve is its `solve` jaxpr. A checkpoint from the backward pass
(`differentiated`, with `prevent_cse`) reads its inputs through `stablehlo.optimization_barrier`,
as JAX does: otherwise the compiler would merge the recomputation with the forward pass (CSE)
and keep the forward values alive, undoing the memory saving.
"""

from __future__ import annotations

from hlodiff.prims.remat import checkpoint_p, linear_solve_p

from ..lower import lower_sub_jaxpr
from ..registry import register


@register(checkpoint_p)
def _checkpoint_lower(ctx, *args, jaxpr, prevent_cse, differentiated, policy):
    args = list(args)
    if prevent_cse and differentiated and args:
        args = ctx.b.op("stablehlo.optimization_barrier", args, [a.aval for a in args])
    return lower_sub_jaxpr(ctx, jaxpr, args)


@register(linear_solve_p)
def _linear_solve_lower(ctx, *args, const_lengths, jaxprs):
    n = sum(const_lengths)
    solve_start = const_lengths.matvec + const_lengths.vecmat
    consts = list(args[solve_start:solve_start + const_lengths.solve])
    return lower_sub_jaxpr(ctx, jaxprs.solve, consts + list(args[n:]))
