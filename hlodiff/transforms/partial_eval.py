"""Partial evaluation: run what is known now, stage what is not. Linearize is JVP + this.

`PartialEvalTrace` treats its own tracers as *unknown* and every other value as *known*. A
primitive with only known inputs runs on the parent trace right away; one with an unknown input
is recorded as an equation of a jaxpr, and the known values it reads become that jaxpr's
constants (the *residuals*). Under `linearize` the unknowns are the tangents, so the recorded
jaxpr is the linear map `t -> J t`, and the residuals are what reverse mode must keep.
"""

from __future__ import annotations

from typing import Callable

from hlodiff import core
from hlodiff.core import get_aval, set_current_trace
from hlodiff.ir import ClosedJaxpr
from hlodiff.transforms.jvp import JVPTrace, JVPTracer, Zero, tangent_aval, zeros_like_aval
from hlodiff.transforms.staging import DynamicJaxprTrace, DynamicJaxprTracer


class PartialEvalTrace(DynamicJaxprTrace):
    """Known values are the parent's values; unknown values are staged into a jaxpr."""

    def is_unknown(self, x) -> bool:
        return isinstance(x, DynamicJaxprTracer) and x._trace is self

    def process_primitive(self, primitive, args, params):
        for x in args:
            if isinstance(x, DynamicJaxprTracer) and x._trace is self:
                break
        else:
            return primitive.bind_with_trace(self.parent, args, params)
        if primitive.partial_eval is not None:
            return primitive.partial_eval(self, args, params)
        return DynamicJaxprTrace.process_primitive(self, primitive, args, params)

    def process_custom_jvp_call(self, primitive, fun, jvp, args, params):
        if any(self.is_unknown(x) for x in args):
            with set_current_trace(self):
                return fun(*args)
        with set_current_trace(self.parent):
            return self.parent.process_custom_jvp_call(primitive, fun, jvp, args, params)

    def process_custom_vjp_call(self, primitive, fun, fwd, bwd, args, params):
        if any(self.is_unknown(x) for x in args):
            with set_current_trace(self):
                return fun(*args)
        with set_current_trace(self.parent):
            return self.parent.process_custom_vjp_call(primitive, fun, fwd, bwd, args, params)


def linearize_flat(fun: Callable, primals) -> tuple[list, ClosedJaxpr]:
    """Returns `fun(*primals)` and the linear jaxpr of its JVP at `primals` (flat lists).

    The linear jaxpr's constants are the residuals; its invars are the input tangents.
    """
    pe = PartialEvalTrace(core.current_trace())
    jvp_trace = JVPTrace(pe)
    tangents_in = [pe.new_arg(tangent_aval(get_aval(p))) for p in primals]
    tracers = [JVPTracer(jvp_trace, p, t) for p, t in zip(primals, tangents_in)]
    with set_current_trace(jvp_trace):
        outs = fun(*tracers)
    primals_out, tangents_out = [], []
    for out in outs:
        p, t = jvp_trace.to_primal_tangent(out)
        if pe.is_unknown(p):
            raise TypeError("linearize: a primal output depends on a tangent input")
        primals_out.append(p)
        tangents_out.append(zeros_like_aval(t.aval) if type(t) is Zero else t)
    return primals_out, pe.finish(tangents_in, tangents_out)


def partial_eval_flat(fun: Callable, known_mask, args) -> tuple[list, list, ClosedJaxpr]:
    """Runs `fun` with `args[i]` unknown where `known_mask[i]` is False.

    Returns (known outputs or None, unknown mask of outputs, jaxpr of the unknown outputs taking
    the unknown inputs). Used by `linear_transpose` and by higher-order rules.
    """
    pe = PartialEvalTrace(core.current_trace())
    ins = [a if k else pe.new_arg(get_aval(a)) for a, k in zip(args, known_mask)]
    with set_current_trace(pe):
        outs = fun(*ins)
    unknown_ins = [t for t, k in zip(ins, known_mask) if not k]
    out_unknown = [pe.is_unknown(o) for o in outs]
    known_outs = [None if u else o for o, u in zip(outs, out_unknown)]
    jaxpr = pe.finish(unknown_ins, [o for o, u in zip(outs, out_unknown) if u])
    return known_outs, out_unknown, jaxpr


class _AvalOnly:
    """Stands for an unknown input of `partial_eval_jaxpr` (only its aval is used)."""

    def __init__(self, aval):
        self.aval = aval


def partial_eval_jaxpr(closed: ClosedJaxpr, known_mask):
    """Splits `closed` into a known jaxpr and an unknown one.

    Returns `(known, unknown, out_unknown, num_res)`: `known` takes the known inputs and gives
    the known outputs followed by `num_res` residuals; `unknown` takes the residuals followed by
    the unknown inputs and gives the unknown outputs.
    """
    from hlodiff.ir import eval_jaxpr, Jaxpr
    from hlodiff.transforms.staging import DynamicJaxprTrace

    known_trace = DynamicJaxprTrace()
    known_in = [known_trace.new_arg(a) for a, k in zip(closed.in_avals, known_mask) if k]
    it = iter(known_in)
    args = [next(it) if k else _AvalOnly(a) for a, k in zip(closed.in_avals, known_mask)]
    fun = lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs)  # noqa: E731
    with set_current_trace(known_trace):
        known_outs, out_unknown, unknown = partial_eval_flat(fun, known_mask, args)
    res_vals = [c for c in unknown.consts]
    is_res = [isinstance(c, DynamicJaxprTracer) and c._trace is known_trace for c in res_vals]
    residuals = [c for c, r in zip(res_vals, is_res) if r]
    kept_consts = [(v, c) for v, c, r in zip(unknown.jaxpr.constvars, res_vals, is_res) if not r]
    res_vars = [v for v, r in zip(unknown.jaxpr.constvars, is_res) if r]
    known = known_trace.finish(known_in, [o for o in known_outs if o is not None] + residuals)
    unknown_jaxpr = Jaxpr([v for v, _ in kept_consts], res_vars + unknown.jaxpr.invars,
                          unknown.jaxpr.outvars, unknown.jaxpr.eqns)
    return known, ClosedJaxpr(unknown_jaxpr, [c for _, c in kept_consts]), out_unknown, len(
        residuals)
