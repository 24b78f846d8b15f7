"""Lowering rules of the custom-derivative primitives (hlodiff/prims/custom.py).

A custom_jvp/custom_vjp call computes its primal function; the rules only matter to
differentiation, which has already happened by the time a jaxpr is lowered.
"""

from __future__ import annotations

from hlodiff.prims.custom import custom_jvp_call_p, custom_lin_p, custom_vjp_call_p

from ..lower import lower_sub_jaxpr
from ..registry import register


@register(custom_jvp_call_p, custom_vjp_call_p)
def _custom_call_lower(ctx, *args, call_jaxpr, **_):
    return lower_sub_jaxpr(ctx, call_jaxpr, args)


@register(custom_lin_p)
def _custom_lin_lower(ctx, *args, **_):
    # custom_lin only exists to be transposed; evaluating it is forward mode on a custom_vjp.
    raise TypeError("can't apply forward-mode autodiff (jvp) to a custom_vjp function.")
