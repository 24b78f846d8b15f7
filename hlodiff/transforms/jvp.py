"""Forward mode: the JVP interpreter, symbolic zero tangents, and helpers to declare JVP rules.

A JVP rule has the signature `rule(primals, tangents, **params) -> (primal_out, tangent_out)`.
Tangents may be `Zero` (symbolic): rules skip them, so unused inputs cost nothing and
`stop_gradient` or integer inputs give exact zeros. Rules run on the parent trace, so the
tangent arithmetic they do is itself traceable (that is what makes `jvp` of `jvp` work, and what
partial evaluation splits into a linear jaxpr for reverse mode).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hlodiff import core, dtypes
from hlodiff.core import Primitive, ShapedArray, Trace, Tracer, get_aval, set_current_trace


# ---------------------------------------------------------------------------------------------
# Symbolic zeros and tangent types


class Zero:
    """A tangent (or cotangent) known to be zero, with the aval it would have."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    @staticmethod
    def from_primal_value(x) -> "Zero":
        return Zero(tangent_aval(get_aval(x)))

    def __repr__(self):
        return f"Zero({self.aval.str_short()})"


def tangent_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    return dtype if dtypes.is_inexact(dtype) else dtypes.float0


def tangent_aval(aval: ShapedArray) -> ShapedArray:
    if aval.dtype.kind in "fc":
        return aval
    dt = tangent_dtype(aval.dtype)
    if dt is aval.dtype or dt == aval.dtype:
        return aval
    return ShapedArray(aval.shape, dt, False)


def zeros_like_aval(aval: ShapedArray):
    """A concrete zero array for `aval` (a broadcast view: no memory per element)."""
    if aval.dtype == dtypes.float0:
        return core.Array(np.zeros(aval.shape, dtypes.float0), False)
    value = np.broadcast_to(np.zeros((), aval.dtype), aval.shape)
    return core.Array(value, aval.weak_type)


def instantiate_zeros(t):
    return zeros_like_aval(t.aval) if type(t) is Zero else t


def add_tangents(x, y):
    if type(x) is Zero:
        return y
    if type(y) is Zero:
        return x
    return add_any_p.bind(x, y)


# `add_any` adds tangents/cotangents; unlike `add` it is never differentiated through anew.
add_any_p = Primitive("add_any")
add_any_p.impl = lambda x, y: np.add(x, y)
add_any_p.abstract_eval = lambda x, y: x
add_any_p.linear = True
add_any_p.jvp = lambda primals, tangents: (
    add_any_p.bind(*primals),
    add_tangents(*tangents),
)
add_any_p.transpose = lambda ct, x, y: [ct, ct]


def _add_any_batch(axis_size, vals, dims):
    from hlodiff.transforms.batching import broadcast_batcher

    return broadcast_batcher(add_any_p, axis_size, vals, dims)


add_any_p.batch = _add_any_batch


# ---------------------------------------------------------------------------------------------
# The interpreter


class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent")

    def __init__(self, trace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent

    @property
    def aval(self):
        return get_aval(self.primal)

    def to_concrete_value(self):
        return core.concrete_value(self.primal)


class JVPTrace(Trace):
    def __init__(self, parent: Trace):
        self.parent = parent

    def to_primal_tangent(self, x):
        if type(x) is JVPTracer and x._trace is self:
            return x.primal, x.tangent
        return x, Zero(tangent_aval(get_aval(x)))

    def maybe_tracer(self, primal, tangent):
        if type(tangent) is Zero:
            return primal
        return JVPTracer(self, primal, tangent)

    def process_primitive(self, primitive, args, params):
        primals, tangents = [], []
        for x in args:
            p, t = self.to_primal_tangent(x)
            primals.append(p)
            tangents.append(t)
        if all(type(t) is Zero for t in tangents):
            return primitive.bind_with_trace(self.parent, primals, params)
        rule = primitive.jvp
        if rule is None:
            raise NotImplementedError(
                f"Differentiation rule for '{primitive}' not implemented. Add a `jvp` rule to "
                f"its block in hlodiff/prims/."
            )
        with set_current_trace(self.parent):
            primal_out, tangent_out = rule(primals, tangents, **params)
        if primitive.multiple_results:
            return [self.maybe_tracer(p, t) for p, t in zip(primal_out, tangent_out)]
        return self.maybe_tracer(primal_out, tangent_out)

    def process_custom_jvp_call(self, primitive, fun, jvp, args, params):
        from hlodiff.prims.custom import jvp_of_custom_jvp

        return jvp_of_custom_jvp(self, fun, jvp, args, params)

    def process_custom_vjp_call(self, primitive, fun, fwd, bwd, args, params):
        from hlodiff.prims.custom import jvp_of_custom_vjp

        return jvp_of_custom_vjp(self, fun, fwd, bwd, args, params)


def jvp_flat(fun: Callable, primals, tangents, instantiate=True):
    """Pushes `tangents` forward through `fun` (flat lists in and out)."""
    trace = JVPTrace(core.current_trace())
    tracers = [trace.maybe_tracer(p, t) for p, t in zip(primals, tangents)]
    with set_current_trace(trace):
        outs = fun(*tracers)
    primals_out, tangents_out = [], []
    for out, inst in zip(outs, _broadcast_bool(instantiate, len(outs))):
        p, t = trace.to_primal_tangent(out)
        primals_out.append(p)
        tangents_out.append(instantiate_zeros(t) if inst else t)
    return primals_out, tangents_out


def _broadcast_bool(b, n):
    return [b] * n if isinstance(b, bool) else list(b)


# ---------------------------------------------------------------------------------------------
# Rule constructors (JAX's defjvp / defjvp2 / deflinear)


def defjvp(primitive: Primitive, *jvp_fns: Callable | None) -> None:
    """Per-input JVPs: `fn(g, *primals, **params)` gives that input's contribution (None: zero)."""

    def rule(primals, tangents, **params):
        primal_out = primitive.bind(*primals, **params)
        out = None
        for fn, t in zip(jvp_fns, tangents):
            if fn is not None and type(t) is not Zero:
                t_out = fn(t, *primals, **params)
                out = t_out if out is None else add_tangents(out, t_out)
        return primal_out, Zero(tangent_aval(get_aval(primal_out))) if out is None else out

    primitive.jvp = rule


def defjvp2(primitive: Primitive, *jvp_fns: Callable | None) -> None:
    """Like `defjvp` but each `fn(g, ans, *primals, **params)` also gets the primal output."""

    def rule(primals, tangents, **params):
        ans = primitive.bind(*primals, **params)
        out = None
        for fn, t in zip(jvp_fns, tangents):
            if fn is not None and type(t) is not Zero:
                t_out = fn(t, ans, *primals, **params)
                out = t_out if out is None else add_tangents(out, t_out)
        return ans, Zero(tangent_aval(get_aval(ans))) if out is None else out

    primitive.jvp = rule


def defjvp_zero(primitive: Primitive) -> None:
    """The output does not depend differentiably on the inputs (comparisons, integer ops)."""

    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if primitive.multiple_results:
            return out, [Zero.from_primal_value(o) for o in out]
        return out, Zero.from_primal_value(out)

    primitive.jvp = rule


def deflinear(primitive: Primitive, transpose_rule: Callable) -> None:
    """A primitive linear in all its inputs: its JVP applies it to the tangents."""

    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if all(type(t) is Zero for t in tangents):
            return out, Zero.from_primal_value(out)
        tangents = [instantiate_zeros(t) for t in tangents]
        return out, primitive.bind(*tangents, **params)

    primitive.jvp = rule
    primitive.transpose = transpose_rule
    primitive.linear = True



# ---------------------------------------------------------------------------------------------
# Rewriting a jaxpr (for higher-order primitives)


def jvp_jaxpr(closed, nonzeros, instantiate=False):
    """The JVP of a closed jaxpr as a new closed jaxpr.

    Its inputs are the primals followed by the tangents of the inputs marked in `nonzeros`; its
    outputs are the primal outputs followed by the tangents that are not symbolically zero
    (all of them where `instantiate`). Returns `(jaxpr, out_nonzeros)`.
    """
    from hlodiff.ir import eval_jaxpr
    from hlodiff.transforms.staging import trace_to_jaxpr

    in_avals = closed.in_avals
    n = len(in_avals)
    t_avals = [tangent_aval(a) for a, nz in zip(in_avals, nonzeros) if nz]
    out_nz: list = []

    def fun(*args):
        primals, tangents = list(args[:n]), iter(args[n:])
        ts = [next(tangents) if nz else Zero(tangent_aval(a))
              for a, nz in zip(in_avals, nonzeros)]
        p_out, t_out = jvp_flat(lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs),
                                primals, ts, instantiate=instantiate)
        out_nz[:] = [type(t) is not Zero for t in t_out]
        return list(p_out) + [t for t in t_out if type(t) is not Zero]

    new = trace_to_jaxpr(fun, list(in_avals) + t_avals)
    return new, out_nz
