"""Transposition: run a linear jaxpr backwards, turning output cotangents into input cotangents.

A transpose rule has the signature `rule(ct, *invals, **params) -> list` with one entry per
input: the cotangent for inputs that are `UndefPrimal` (the linear ones), None for the others.
`vjp` = `linearize` + this, so every primitive's reverse mode comes from its JVP rule.
"""

from __future__ import annotations

from hlodiff.core import ShapedArray
from hlodiff.ir import Jaxpr, Literal
from hlodiff.transforms.jvp import Zero, add_tangents


class UndefPrimal:
    """A linear input of a transpose rule: only its aval is known."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self):
        return f"UndefPrimal({self.aval.str_short()})"


def is_undefined_primal(x) -> bool:
    return type(x) is UndefPrimal


def backward_pass(jaxpr: Jaxpr, consts, args, cts_out) -> list:
    """Cotangents for the `UndefPrimal` entries of `args` (Zero where nothing flowed back)."""
    primal_env: dict = {}
    linear: set = set()
    for v, c in zip(jaxpr.constvars, consts):
        primal_env[v] = c
    for v, a in zip(jaxpr.invars, args):
        if type(a) is UndefPrimal:
            linear.add(v)
        else:
            primal_env[v] = a
    linear_eqns = _forward_nonlinear(jaxpr, primal_env, linear)

    ct_env: dict = {}
    for v, ct in zip(jaxpr.outvars, cts_out):
        if type(v) is not Literal and v in linear and type(ct) is not Zero:
            ct_env[v] = add_tangents(ct_env[v], ct) if v in ct_env else ct

    def read(v):
        if type(v) is Literal:
            return v.val
        return UndefPrimal(v.aval) if v in linear else primal_env[v]

    for eqn in reversed(linear_eqns):
        cts = [ct_env.pop(v, None) for v in eqn.outvars]
        if all(ct is None for ct in cts):
            continue
        cts = [Zero(v.aval) if ct is None else ct for v, ct in zip(eqn.outvars, cts)]
        _transpose_eqn(eqn, cts, read, ct_env, linear)
    return [ct_env.get(v, Zero(v.aval)) for v, a in zip(jaxpr.invars, args)
            if type(a) is UndefPrimal]


def _forward_nonlinear(jaxpr: Jaxpr, env: dict, linear: set) -> list:
    """Evaluates equations that read no linear variable; returns the linear ones in order."""
    linear_eqns = []
    for eqn in jaxpr.eqns:
        if any(type(v) is not Literal and v in linear for v in eqn.invars):
            linear.update(eqn.outvars)
            linear_eqns.append(eqn)
            continue
        ins = [v.val if type(v) is Literal else env[v] for v in eqn.invars]
        outs = eqn.primitive.bind(*ins, **eqn.params)
        outs = outs if eqn.primitive.multiple_results else [outs]
        env.update(zip(eqn.outvars, outs))
    return linear_eqns


def _transpose_eqn(eqn, cts, read, ct_env, linear) -> None:
    rule = eqn.primitive.transpose
    if rule is None:
        raise NotImplementedError(
            f"Transpose rule (for reverse-mode differentiation) for '{eqn.primitive}' not "
            "implemented. If this comes from a custom_jvp rule, its tangent output must be "
            "linear in the input tangents."
        )
    ct = cts if eqn.primitive.multiple_results else cts[0]
    cts_in = rule(ct, *map(read, eqn.invars), **eqn.params)
    for v, ct_in in zip(eqn.invars, cts_in):
        if ct_in is None or type(ct_in) is Zero or type(v) is Literal or v not in linear:
            continue
        ct_env[v] = add_tangents(ct_env[v], ct_in) if v in ct_env else ct_in


def transpose_jaxpr(closed, linear_mask, ct_avals):
    """A closed jaxpr mapping (non-linear inputs, output cotangents) to the cotangents of the
    linear inputs (zeros instantiated)."""
    from hlodiff.transforms.jvp import zeros_like_aval
    from hlodiff.transforms.staging import trace_to_jaxpr

    in_avals = closed.in_avals
    nonlin_avals = [a for a, lin in zip(in_avals, linear_mask) if not lin]
    n_nonlin = len(nonlin_avals)

    def fun(*args):
        it = iter(args[:n_nonlin])
        ins = [UndefPrimal(a) if lin else next(it) for a, lin in zip(in_avals, linear_mask)]
        cts = backward_pass(closed.jaxpr, closed.consts, ins, list(args[n_nonlin:]))
        lin_avals = [a for a, lin in zip(in_avals, linear_mask) if lin]
        return [zeros_like_aval(a) if type(c) is Zero else c for c, a in zip(cts, lin_avals)]

    return trace_to_jaxpr(fun, nonlin_avals + list(ct_avals))
