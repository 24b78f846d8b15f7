"""Lowering rule of the call primitive `pjit` (hlodiff/prims/call.py): its jaxpr, inline."""

from __future__ import annotations

from hlodiff.prims.call import pjit_p

from ..lower import lower_sub_jaxpr
from ..registry import register


@register(pjit_p)
def _pjit_lower(ctx, *args, jaxpr, **_):
    # Inlined: IREE sees one function, so fusion crosses the jit boundary (as XLA inlines).
    return lower_sub_jaxpr(ctx, jaxpr, args)
