"""hlodiff.lowering: jaxprs to StableHLO text, one rule per primitive.

    from hlodiff.lowering import lower_jaxpr
    lowered = lower_jaxpr(hd.make_jaxpr(f)(x))     # .text, .const_args, .in_avals, .out_avals

Layout: `emitter.py` (types, constants, SSA values, generic op syntax — the only place spelling
tensor types), `hlo.py` (typed op helpers), `registry.py` (rule table), `lower.py` (the
equation loop, constants, sub-jaxprs), `rules/<family>.py` (one rule per primitive, mirroring
`hlodiff/prims/`). Knows the IR, not IREE: nothing here imports the runtime.
"""

from .emitter import element_type, tensor_type  # noqa: F401
from .lower import (  # noqa: F401
    DEFAULT_CONST_ARG_BYTES,
    LoweringContext,
    Lowered,
    RuleContext,
    call_sub_jaxpr,
    lower_jaxpr,
    lower_jaxprs,
    lower_sub_jaxpr,
)
from .registry import get_rule, has_rule, register, rule_file  # noqa: F401
