"""Staging: tracing a Python function with abstract values records a jaxpr.

`DynamicJaxprTrace` turns each primitive application into an equation of a `JaxprBuilder`.
Values that are not its own tracers are constants: 0-d ones are inlined as literals, others
become constvars. `PartialEvalTrace` (in partial_eval.py) reuses the builder for the unknown half
of a computation.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence


from hlodiff import core
from hlodiff.core import ShapedArray, Trace, Tracer, get_aval, set_current_trace
from hlodiff.ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var


class JaxprBuilder:
    """Accumulates equations; maps constants (by identity) to constvars."""

    def __init__(self):
        self.eqns: list[JaxprEqn] = []
        self.const_vars: dict[int, Var] = {}
        self.const_vals: list[Any] = []
        self.const_var_list: list[Var] = []

    def const_atom(self, x) -> Var | Literal:
        if type(x) in core._python_scalar_types:
            return Literal(x, get_aval(x))
        aval = get_aval(x)
        if not aval.shape and not isinstance(x, Tracer):
            return Literal(x, aval)
        var = self.const_vars.get(id(x))
        if var is None:
            var = self.const_vars[id(x)] = Var(aval)
            self.const_vals.append(x)
            self.const_var_list.append(var)
        return var

    def add_eqn(self, primitive, invars, out_avals, params) -> list[Var]:
        outvars = [Var(a) for a in out_avals]
        self.eqns.append(JaxprEqn(primitive, invars, outvars, params))
        return outvars

    def dependencies(self, var: Var) -> set:
        """The variables `var` was computed from (transitively), itself included."""
        need = {var}
        for eqn in reversed(self.eqns):
            if any(v in need for v in eqn.outvars):
                need.update(v for v in eqn.invars if type(v) is not Literal)
        return need

    def build(self, invars: Sequence[Var], outvars: Sequence[Var | Literal]) -> ClosedJaxpr:
        jaxpr = Jaxpr(self.const_var_list, invars, outvars, self.eqns)
        return ClosedJaxpr(jaxpr, self.const_vals)


class DynamicJaxprTracer(Tracer):
    __slots__ = ("_aval", "var")

    def __init__(self, trace, aval: ShapedArray, var: Var):
        self._trace = trace
        self._aval = aval
        self.var = var

    @property
    def aval(self):
        return self._aval

    def provenance(self) -> list[str]:
        """Names of the traced arguments this value depends on (for concretization errors)."""
        names = self._trace.arg_names
        if not names:
            return []
        deps = self._trace.builder.dependencies(self.var)
        return [name for var, name in names.items() if var in deps]


class DynamicJaxprTrace(Trace):
    """Records every primitive application as an equation."""

    def __init__(self, parent: Trace | None = None):
        self.parent = parent if parent is not None else core.current_trace()
        self.builder = JaxprBuilder()
        self.arg_names: dict = {}  # Var -> the user's name for it, when the caller knows

    def new_arg(self, aval: ShapedArray) -> DynamicJaxprTracer:
        return DynamicJaxprTracer(self, aval, Var(aval))

    def to_atom(self, x) -> Var | Literal:
        if isinstance(x, DynamicJaxprTracer) and x._trace is self:
            return x.var
        return self.builder.const_atom(x)

    def process_primitive(self, primitive, args, params):
        avals = [get_aval(x) for x in args]
        out = primitive.abstract_eval(*avals, **params)
        out_avals = out if primitive.multiple_results else [out]
        invars = [self.to_atom(x) for x in args]
        outvars = self.builder.add_eqn(primitive, invars, out_avals, params)
        tracers = [DynamicJaxprTracer(self, v.aval, v) for v in outvars]
        return tracers if primitive.multiple_results else tracers[0]

    def process_custom_jvp_call(self, primitive, fun, jvp, args, params):
        from hlodiff.prims.custom import stage_custom_jvp

        return stage_custom_jvp(self, primitive, fun, jvp, args, params)

    def process_custom_vjp_call(self, primitive, fun, fwd, bwd, args, params):
        from hlodiff.prims.custom import stage_custom_vjp

        return stage_custom_vjp(self, primitive, fun, fwd, bwd, args, params)

    def finish(self, arg_tracers, out_vals) -> ClosedJaxpr:
        invars = [t.var for t in arg_tracers]
        outvars = [self.to_atom(x) for x in out_vals]
        return self.builder.build(invars, outvars)


def trace_to_jaxpr(fun: Callable, in_avals: Sequence[ShapedArray],
                   arg_names: Sequence[str] | None = None) -> ClosedJaxpr:
    """Traces `fun` (flat list of arrays -> flat list of arrays) to a closed jaxpr.

    `arg_names` (one per input) let concretization errors say which argument was involved.
    """
    trace = DynamicJaxprTrace()
    args = [trace.new_arg(a) for a in in_avals]
    if arg_names is not None:
        trace.arg_names = {t.var: n for t, n in zip(args, arg_names)}
    with set_current_trace(trace):
        outs = fun(*args)
    return trace.finish(args, list(outs))


def closed_over_tracers(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Moves constants that are tracers (of outer traces) into explicit leading invars.

    Returns a jaxpr whose constvars are only concrete values; the caller binds the tracer
    constants as the first arguments. Used by higher-order primitives (jit, cond, scan, ...).
    """
    jaxpr = closed.jaxpr
    keep, move = [], []
    for v, c in zip(jaxpr.constvars, closed.consts):
        (move if isinstance(c, Tracer) else keep).append((v, c))
    new = Jaxpr([v for v, _ in keep], [v for v, _ in move] + jaxpr.invars, jaxpr.outvars,
                jaxpr.eqns)
    return ClosedJaxpr(new, [c for _, c in keep]), [c for _, c in move]


def concrete_consts_to_invars(closed: ClosedJaxpr):
    """All constvars become leading invars; returns (jaxpr without consts, the const values)."""
    jaxpr = closed.jaxpr
    new = Jaxpr([], jaxpr.constvars + jaxpr.invars, jaxpr.outvars, jaxpr.eqns)
    return ClosedJaxpr(new, []), list(closed.consts)

