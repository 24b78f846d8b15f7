"""Primitives that change how derivatives are computed, not what is computed.

    checkpoint           *args                 jaxpr, prevent_cse, differentiated, policy
    custom_linear_solve  *consts, *b           const_lengths, jaxprs

`checkpoint` (JAX's `remat`; public API in `hlodiff/checkpoint.py`) evaluates its jaxpr. Under
reverse mode its partial-evaluation rule runs the forward pass now but saves only the primal
inputs (and whatever `policy` calls saveable) as residuals; the linear remainder is a new
`checkpoint` whose jaxpr *recomputes* the primal values it needs from those inputs when it is
transposed, in the backward pass (JAX's `remat_partial_eval`).

`custom_linear_solve` (public API: `lax.custom_linear_solve` in `hlodiff/lax/custom_solvers.py`)
evaluates `solve(matvec, b)`. Its derivatives come from implicit differentiation of
`matvec(x) = b`: the tangent is another solve, and transposing a solve uses `transpose_solve`
on the transposed operator. It is linear in `b`, and nothing is differentiated through `solve`.

Both carry closed jaxprs; every transformation rewrites them and binds the primitive again, as
`pjit` does (prims/call.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from hlodiff import core
from hlodiff.core import Array, Primitive, get_aval, set_current_trace
from hlodiff.ir import ClosedJaxpr, Jaxpr, Literal, eval_jaxpr
from hlodiff.prims.control_flow import _batch_jaxpr
from hlodiff.transforms import partial_eval
from hlodiff.transforms import transpose as tr
from hlodiff.transforms.batching import bdim_at_front, not_mapped
from hlodiff.transforms.jvp import (
    Zero,
    add_tangents,
    instantiate_zeros,
    jvp_flat,
    jvp_jaxpr,
    tangent_aval,
)
from hlodiff.transforms.staging import DynamicJaxprTrace


class _JaxprPrimitive(Primitive):
    multiple_results = True
    higher_order = True


def _as_arrays(outs, avals) -> list:
    """Eager outputs as Arrays of the promised avals (a jaxpr may return a literal or input)."""
    result = []
    for x, aval in zip(outs, avals):
        if type(x) is Array and x.dtype == aval.dtype:
            result.append(x)
        else:
            result.append(Array(np.asarray(core.to_numpy(x), aval.dtype), aval.weak_type))
    return result


def _dce(eqns, outvars) -> tuple[list, set]:
    """The equations `outvars` depend on (in order), and every variable they read."""
    live = {v for v in outvars if type(v) is not Literal}
    kept = []
    for eqn in reversed(eqns):
        if any(v in live for v in eqn.outvars):
            kept.append(eqn)
            live.update(v for v in eqn.invars if type(v) is not Literal)
    return kept[::-1], live


# ---------------------------------------------------------------------------------------------
# checkpoint


checkpoint_p = _JaxprPrimitive("checkpoint")


def _checkpoint_abstract(*avals, jaxpr, prevent_cse, differentiated, policy):
    if len(avals) != len(jaxpr.in_avals):
        raise TypeError(f"checkpoint takes {len(jaxpr.in_avals)} operands, got {len(avals)}")
    return list(jaxpr.out_avals)


def _checkpoint_eval(*args, jaxpr, prevent_cse, differentiated, policy):
    return _as_arrays(eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *args), jaxpr.out_avals)


def _checkpoint_jvp(primals, tangents, *, jaxpr, prevent_cse, differentiated, policy):
    nonzeros = [type(t) is not Zero for t in tangents]
    new, out_nz = jvp_jaxpr(jaxpr, nonzeros)
    nz_tangents = [t for t in tangents if type(t) is not Zero]
    outs = checkpoint_p.bind(*primals, *nz_tangents, jaxpr=new, prevent_cse=prevent_cse,
                             differentiated=True, policy=policy)
    n = len(jaxpr.out_avals)
    it = iter(outs[n:])
    t_out = [next(it) if nz else Zero(tangent_aval(a)) for a, nz in zip(jaxpr.out_avals, out_nz)]
    return outs[:n], t_out


def _checkpoint_partial_eval(trace, args, params):
    """Known outputs now, from the forward ops inlined; unknown ones from a staged checkpoint
    that takes the known inputs (and saveable values) and recomputes the rest."""
    jaxpr, policy = params["jaxpr"], params["policy"]
    known_mask = [not trace.is_unknown(x) for x in args]
    known, unknown, out_uk, num_res = partial_eval.partial_eval_jaxpr(jaxpr, known_mask)
    staged, res_vars = _recompute_jaxpr(known, unknown, num_res, policy)
    n_known_out = len(known.jaxpr.outvars) - num_res
    known_outvars = known.jaxpr.outvars[:n_known_out]
    known_args = [x for x, k in zip(args, known_mask) if k]
    env = dict(zip(known.jaxpr.invars, known_args))
    if not any(out_uk):
        res_vars = []
    saved = [v for v in res_vars if v not in env]
    eqns, _ = _dce(known.jaxpr.eqns, known_outvars + saved)
    forward = Jaxpr(known.jaxpr.constvars, known.jaxpr.invars, known_outvars + saved, eqns)
    with set_current_trace(trace.parent):
        outs = eval_jaxpr(forward, known.consts, *known_args)
    env.update(zip(saved, outs[n_known_out:]))
    unknown_args = [x for x, k in zip(args, known_mask) if not k]
    new_params = dict(params, jaxpr=staged, differentiated=True)
    staged_outs = DynamicJaxprTrace.process_primitive(
        trace, checkpoint_p, [env[v] for v in res_vars] + unknown_args, new_params
    ) if any(out_uk) else []
    k_it, u_it = iter(outs[:n_known_out]), iter(staged_outs)
    return [next(u_it) if u else next(k_it) for u in out_uk]


def _recompute_jaxpr(known: ClosedJaxpr, unknown: ClosedJaxpr, num_res: int, policy):
    """The unknown jaxpr preceded by the known equations it needs, except those whose outputs
    `policy` lets us save: those outputs (and the known inputs) become its residual inputs.

    Returns `(jaxpr, res_vars)`: the jaxpr takes `res_vars` (variables of `known`) followed by
    the unknown inputs.
    """
    kj, uj = known.jaxpr, unknown.jaxpr
    n_known_out = len(kj.outvars) - num_res
    rename = dict(zip(uj.invars[:num_res], kj.outvars[n_known_out:]))
    saveable = policy if policy is not None else _nothing_saveable
    recompute, saved = [], []
    for eqn in kj.eqns:
        if saveable(eqn.primitive, *[v.aval for v in eqn.invars], **eqn.params):
            saved.extend(eqn.outvars)
        else:
            recompute.append(eqn)
    linear = [e.replace(invars=[rename.get(v, v) for v in e.invars]) for e in uj.eqns]
    outvars = [rename.get(v, v) for v in uj.outvars]
    eqns, live = _dce(recompute + linear, outvars)
    res_vars = [v for v in kj.invars + saved if v in live]
    new = Jaxpr(kj.constvars + uj.constvars, res_vars + uj.invars[num_res:], outvars, eqns)
    return ClosedJaxpr(new, known.consts + unknown.consts), res_vars


def _nothing_saveable(prim, *avals, **params) -> bool:
    return False


def _checkpoint_transpose(cts, *args, jaxpr, prevent_cse, differentiated, policy):
    linear = [tr.is_undefined_primal(x) for x in args]
    cts = [instantiate_zeros(c) for c in cts]
    new = tr.transpose_jaxpr(jaxpr, linear, [get_aval(c) for c in cts])
    nonlin = [x for x, lin in zip(args, linear) if not lin]
    outs = checkpoint_p.bind(*nonlin, *cts, jaxpr=new, prevent_cse=prevent_cse,
                             differentiated=True, policy=policy)
    it = iter(outs)
    return [next(it) if lin else None for lin in linear]


def _checkpoint_batch(axis_size, vals, dims, *, jaxpr, **params):
    in_batched = [d is not not_mapped for d in dims]
    vals = [bdim_at_front(x, d, axis_size) if b else x for x, d, b in zip(vals, dims, in_batched)]
    new, out_batched = _batch_jaxpr(jaxpr, axis_size, in_batched, False)
    outs = checkpoint_p.bind(*vals, jaxpr=new, **params)
    return outs, [0 if b else not_mapped for b in out_batched]


checkpoint_p.abstract_eval = _checkpoint_abstract
checkpoint_p.impl = _checkpoint_eval
checkpoint_p.eval_rule = _checkpoint_eval
checkpoint_p.jvp = _checkpoint_jvp
checkpoint_p.partial_eval = _checkpoint_partial_eval
checkpoint_p.transpose = _checkpoint_transpose
checkpoint_p.batch = _checkpoint_batch


# ---------------------------------------------------------------------------------------------
# custom_linear_solve


class LinearSolveTuple(NamedTuple):
    """One entry per function of a linear solve (a jaxpr, or how many consts it takes)."""

    matvec: Any
    vecmat: Any
    solve: Any
    transpose_solve: Any

    def transpose(self) -> LinearSolveTuple:
        """The same solve for the transposed operator: A^T x = b."""
        return LinearSolveTuple(self.vecmat, self.matvec, self.transpose_solve, self.solve)


linear_solve_p = _JaxprPrimitive("custom_linear_solve")


def _split_solve_args(args, const_lengths) -> tuple[LinearSolveTuple, list]:
    parts, i = [], 0
    for n in const_lengths:
        parts.append(list(args[i:i + n]))
        i += n
    return LinearSolveTuple(*parts), list(args[i:])


def _flat(params: LinearSolveTuple) -> list:
    return [x for xs in params for x in xs]


def _linear_solve_abstract(*avals, const_lengths, jaxprs):
    _, b = _split_solve_args(avals, const_lengths)
    n = len(jaxprs.matvec.out_avals)
    for a, e in zip(b, jaxprs.solve.out_avals[:n]):
        if (a.shape, a.dtype) != (e.shape, e.dtype):
            raise TypeError(f"custom_linear_solve: b is {a.str_short()} but the solution is "
                            f"{e.str_short()}")
    return list(jaxprs.solve.out_avals)


def _linear_solve_eval(*args, const_lengths, jaxprs):
    params, b = _split_solve_args(args, const_lengths)
    solve = jaxprs.solve
    return _as_arrays(eval_jaxpr(solve.jaxpr, solve.consts, *params.solve, *b), solve.out_avals)


def _linear_solve_jvp(primals, tangents, *, const_lengths, jaxprs):
    # A x = b  =>  dA x + A dx = db  =>  dx = A^{-1} (db - dA x): one more solve.
    from hlodiff.prims.elementwise import neg

    kw = {"const_lengths": const_lengths, "jaxprs": jaxprs}
    x = linear_solve_p.bind(*primals, **kw)
    params, _ = _split_solve_args(primals, const_lengths)
    params_dot, b_dot = _split_solve_args(tangents, const_lengths)
    n = len(b_dot)
    rhs = list(b_dot)
    if any(type(t) is not Zero for t in params_dot.matvec):
        dA_x = _tangent_linear_map(jaxprs.matvec, params.matvec, params_dot.matvec, x[:n])
        rhs = [r if type(t) is Zero else add_tangents(r, neg(t)) for r, t in zip(rhs, dA_x)]
    rhs = [instantiate_zeros(r) for r in rhs]
    x_dot = linear_solve_p.bind(*_flat(params), *rhs, **kw)
    aux_dot = [Zero(tangent_aval(get_aval(a))) for a in x[n:]]
    return x, x_dot[:n] + aux_dot


def _tangent_linear_map(matvec: ClosedJaxpr, params, params_dot, x) -> list:
    """dA x: the JVP of `matvec(params, x)` in its params only."""
    fun = lambda *args: eval_jaxpr(matvec.jaxpr, matvec.consts, *args)
    zeros = [Zero(tangent_aval(get_aval(v))) for v in x]
    _, out = jvp_flat(fun, list(params) + list(x), list(params_dot) + zeros, instantiate=False)
    return out


def _linear_solve_transpose(cts, *args, const_lengths, jaxprs):
    if jaxprs.transpose_solve is None:
        raise TypeError("transpose_solve required for backwards mode automatic differentiation "
                        "of custom_linear_solve: pass `transpose_solve=`, or `symmetric=True` "
                        "if the operator is symmetric.")
    params, b = _split_solve_args(args, const_lengths)
    if any(tr.is_undefined_primal(x) for x in _flat(params)):
        raise NotImplementedError("custom_linear_solve is linear in b only, not in the "
                                  "operands of matvec or solve.")
    n = len(b)
    if any(type(c) is not Zero for c in cts[n:]):
        raise NotImplementedError("custom_linear_solve: cotangents of the auxiliary outputs of "
                                  "solve are not supported.")
    x_ct = [instantiate_zeros(c) for c in cts[:n]]
    ct_b = linear_solve_p.bind(*_flat(params.transpose()), *x_ct,
                               const_lengths=const_lengths.transpose(),
                               jaxprs=jaxprs.transpose())
    return [None] * sum(const_lengths) + list(ct_b[:n])


def _linear_solve_batch(axis_size, vals, dims, *, const_lengths, jaxprs):
    """Finds, by a fixed point, which parts of x and b are batched so that all four jaxprs
    agree (x feeds matvec, b feeds solve), then batches each jaxpr accordingly."""
    params, b = _split_solve_args(vals, const_lengths)
    params_dims, b_dims = _split_solve_args(dims, const_lengths)
    p_bat = LinearSolveTuple(*[[d is not not_mapped for d in ds] for ds in params_dims])
    orig_b_bat = [d is not not_mapped for d in b_dims]
    b_bat, x_bat = orig_b_bat, [False] * len(jaxprs.solve.out_avals)
    for _ in range(2 + len(b_bat) + len(x_bat)):  # each round batches at least one more value
        batched, x_bat_out, b_bat_out = _linear_solve_batch_round(
            axis_size, jaxprs, p_bat, orig_b_bat, b_bat, x_bat)
        if x_bat_out == x_bat and b_bat_out == b_bat:
            break
        x_bat, b_bat = x_bat_out, b_bat_out
    new_params = [bdim_at_front(x, d, axis_size) if d is not not_mapped else x
                  for x, d in zip(_flat(params), _flat(params_dims))]
    new_b = [bdim_at_front(x, d, axis_size) if bat else x
             for x, d, bat in zip(b, b_dims, b_bat)]
    outs = linear_solve_p.bind(*new_params, *new_b, const_lengths=const_lengths, jaxprs=batched)
    return outs, [0 if bat else not_mapped for bat in x_bat]


def _linear_solve_batch_round(axis_size, jaxprs, p_bat, orig_b_bat, b_bat, x_bat):
    matvec, vecmat, solve, solve_t = jaxprs
    n_op = len(matvec.out_avals)
    num_aux = len(solve.out_avals) - n_op
    solve_b, x_bat_out = _batch_jaxpr(solve, axis_size, p_bat.solve + b_bat, x_bat)
    vecmat_b = None
    if vecmat is not None:
        vecmat_b, vecmat_bat = _batch_jaxpr(vecmat, axis_size, p_bat.vecmat + b_bat, b_bat)
        x_bat_out = [a or c for a, c in zip(vecmat_bat + [True] * num_aux, x_bat_out)]
    x_op = x_bat_out[:n_op]
    matvec_b, b_bat_out = _batch_jaxpr(matvec, axis_size, p_bat.matvec + x_op, b_bat)
    b_bat_out = [a or c for a, c in zip(b_bat_out, orig_b_bat)]
    solve_t_b = None
    if solve_t is not None:
        solve_t_b, solve_t_bat = _batch_jaxpr(solve_t, axis_size, p_bat.transpose_solve + x_op,
                                              x_bat_out)
        b_bat_out = [a or c for a, c in zip(b_bat_out, solve_t_bat)]
    return LinearSolveTuple(matvec_b, vecmat_b, solve_b, solve_t_b), x_bat_out, b_bat_out


linear_solve_p.abstract_eval = _linear_solve_abstract
linear_solve_p.impl = _linear_solve_eval
linear_solve_p.eval_rule = _linear_solve_eval
linear_solve_p.jvp = _linear_solve_jvp
linear_solve_p.transpose = _linear_solve_transpose
linear_solve_p.batch = _linear_solve_batch
