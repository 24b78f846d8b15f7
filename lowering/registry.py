"""The table of lowering rules, keyed by Primitive object.

A rule has the signature `rule(ctx: RuleContext, *args: Value, **params) -> Value | list[Value]`:
`args` are the operands' SSA values, `params` the equation's params, and `ctx.avals_out` the
avals it must produce. Rules live in `lowering/rules/<family>.py`, mirroring `hlodiff/prims/`:

    from ..registry import register
    from hlodiff.prims.elementwise import exp_p

    @register(exp_p)
    def _exp_lower(ctx, x):
        return hlo.unary(ctx.b, "exponential", x)
"""

from __future__ import annotations

import sys
from typing import Callable

_rules: dict = {}

# Primitives declared outside hlodiff/prims/ and the rule file that lowers them.
_FAMILY_OF_MODULE = {"hlodiff.transforms.jvp": "elementwise"}


def register(*primitives) -> Callable:
    """Decorator: `@register(p1, p2)` makes the function the lowering rule of each primitive."""

    def deco(rule):
        for p in primitives:
            _rules[p] = rule
        return rule

    return deco


def has_rule(primitive) -> bool:
    return primitive in _rules


def get_rule(primitive, avals_in=()) -> Callable:
    """The rule of `primitive`; raises NotImplementedError naming the file to add it to."""
    try:
        return _rules[primitive]
    except KeyError:
        pass
    shown = ", ".join(a.str_short() for a in avals_in if hasattr(a, "str_short"))
    raise NotImplementedError(
        f"No StableHLO lowering rule for primitive '{primitive.name}'"
        + (f" (operands {shown})" if shown else "")
        + f". Add one to {rule_file(primitive)} with `@register({primitive.name}_p)`; see "
        "lowering/registry.py for the rule signature."
    )


def rule_file(primitive) -> str:
    """`lowering/rules/<family>.py`, the family being the hlodiff/prims module declaring it."""
    return f"lowering/rules/{_family(primitive)}.py"


def _family(primitive) -> str:
    for name, module in list(sys.modules.items()):
        if not name.startswith("hlodiff.") or module is None:
            continue
        if any(v is primitive for v in vars(module).values()):
            if name.startswith("hlodiff.prims."):
                return name.rsplit(".", 1)[-1]
            if name in _FAMILY_OF_MODULE:
                return _FAMILY_OF_MODULE[name]
    return "<family>"
