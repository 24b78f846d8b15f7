"""Control flow primitives: `cond`, `while` and `scan`, each carrying closed jaxprs.

    cond   index, *ops                          branches=(jaxpr_0, ..., jaxpr_n)
    while  *cond_consts, *body_consts, *carry   cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts
    scan   *consts, *carry, *xs                 jaxpr, length, reverse, num_consts, num_carry, unroll

Like `pjit` (prims/call.py), every transformation rewrites the inner jaxprs and binds the
primitive again: JVP with `jvp_jaxpr` (loops find, by a fixed point, which carries have nonzero
tangents), partial evaluation with `partial_eval_jaxpr` (cond: residuals merged across branches;
scan: a known scan that stacks residuals and an unknown scan that reads them; while: no reverse
mode, as in JAX), transposition with `transpose_jaxpr` (scan: a reverse scan of the transposed
body), batching with a jaxpr batcher that reports which outputs are batched. A batched `cond`
predicate becomes a select over all branches; a batched `while` predicate runs until no element
wants another step and keeps finished elements fixed with a select.

The public wrappers (`lax.cond`, `lax.scan`, ...) are in `hlodiff/lax/control_flow.py`.
"""

from __future__ import annotations

import numpy as np

from hlodiff import core
from hlodiff.core import Array, Primitive, get_aval, set_current_trace
from hlodiff.ir import ClosedJaxpr, Jaxpr, Literal, Var, eval_jaxpr
from hlodiff.transforms import jvp as jvp_mod
from hlodiff.transforms import partial_eval
from hlodiff.transforms import transpose as tr
from hlodiff.transforms.batching import BatchTrace, bdim_at_front, not_mapped
from hlodiff.transforms.jvp import Zero, add_tangents, instantiate_zeros, tangent_aval
from hlodiff.transforms.staging import DynamicJaxprTrace, trace_to_jaxpr


class ControlFlowPrimitive(Primitive):
    multiple_results = True
    higher_order = True


# ---------------------------------------------------------------------------------------------
# Jaxpr surgery shared by the rules (binders are reused: a Var is only an identity)


def _split(xs, sizes) -> list[list]:
    out, i = [], 0
    for n in sizes:
        out.append(list(xs[i:i + n]))
        i += n
    out.append(list(xs[i:]))
    return out


def _rebind(closed: ClosedJaxpr, invars=None, outvars=None) -> ClosedJaxpr:
    j = closed.jaxpr
    new = Jaxpr(j.constvars, j.invars if invars is None else invars,
                j.outvars if outvars is None else outvars, j.eqns)
    return ClosedJaxpr(new, closed.consts)


def _permute_invars(closed: ClosedJaxpr, order) -> ClosedJaxpr:
    return _rebind(closed, invars=[closed.jaxpr.invars[i] for i in order])


def _with_unused_invars(closed: ClosedJaxpr, avals, at_end: bool = True) -> ClosedJaxpr:
    extra = [Var(a) for a in avals]
    invars = closed.jaxpr.invars + extra if at_end else extra + closed.jaxpr.invars
    return _rebind(closed, invars=invars)


def _fun(closed: ClosedJaxpr):
    return lambda *args: eval_jaxpr(closed.jaxpr, closed.consts, *args)


def _match_avals(outs, avals) -> list:
    """Eager outputs as Arrays of exactly the avals the abstract rule promised (weak type too)."""
    result = []
    for x, aval in zip(outs, avals):
        if type(x) is Array and x.weak_type == aval.weak_type and x.dtype == aval.dtype:
            result.append(x)
            continue
        value = np.asarray(core.to_numpy(x))
        if value.dtype != aval.dtype:
            value = value.astype(aval.dtype)
        result.append(Array(value, aval.weak_type))
    return result


def _batch_jaxpr(closed: ClosedJaxpr, axis_size: int, in_batched, instantiate):
    """`closed` over a batch: inputs batched along 0 where `in_batched`. Outputs come back
    batched along 0 where they depend on a batched input or `instantiate` asks for it.

    Returns `(jaxpr, out_batched)`.
    """
    instantiate = _bools(instantiate, len(closed.out_avals))
    in_avals = [a.update(shape=(axis_size,) + a.shape) if b else a
                for a, b in zip(closed.in_avals, in_batched)]
    out_batched: list = []

    def fun(*args):
        trace = BatchTrace(core.current_trace(), axis_size)
        tracers = [trace.maybe_tracer(x, 0 if b else not_mapped)
                   for x, b in zip(args, in_batched)]
        with set_current_trace(trace):
            outs = _fun(closed)(*tracers)
        results = []
        out_batched.clear()
        for out, inst in zip(outs, instantiate):
            val, dim = trace.to_val_dim(out)
            batched = dim is not not_mapped or inst
            out_batched.append(batched)
            results.append(bdim_at_front(val, dim, axis_size) if batched else val)
        return results

    return trace_to_jaxpr(fun, in_avals), list(out_batched)


def _front(x, d, axis_size: int):
    """`x` with its batch dim (if any) moved to the front; unbatched values stay as they are."""
    return x if d is not_mapped else bdim_at_front(x, d, axis_size)


def _bools(b, n) -> list:
    return [b] * n if isinstance(b, bool) else list(b)


def _or(xs, ys) -> list:
    return [x or y for x, y in zip(xs, ys)]


def _pe_jaxpr(closed: ClosedJaxpr, unknowns, instantiate=False):
    """`partial_eval_jaxpr` where outputs marked in `instantiate` are made unknown even when
    they are known: the known jaxpr passes their values on as extra residuals.

    Returns `(known, unknown, out_unknown, num_res)`, as `partial_eval_jaxpr` does.
    """
    known, unknown, out_uk, num_res = partial_eval.partial_eval_jaxpr(
        closed, [not u for u in unknowns])
    inst = _bools(instantiate, len(out_uk))
    if not any(i and not u for i, u in zip(inst, out_uk)):
        return known, unknown, out_uk, num_res
    n_known = len(known.jaxpr.outvars) - num_res
    known_outs, res = _split(known.jaxpr.outvars, [n_known])
    unknown_outs = iter(unknown.jaxpr.outvars)
    keep, extra_res, extra_vars, new_unknown_outs = [], [], [], []
    known_it = iter(known_outs)
    for u, i in zip(out_uk, inst):
        if u:
            new_unknown_outs.append(next(unknown_outs))
            continue
        v = next(known_it)
        if not i:
            keep.append(v)
            continue
        extra_res.append(v)
        extra_vars.append(Var(v.aval))
        new_unknown_outs.append(extra_vars[-1])
    known = _rebind(known, outvars=keep + res + extra_res)
    res_vars, unknown_ins = _split(unknown.jaxpr.invars, [num_res])
    unknown = _rebind(unknown, invars=res_vars + extra_vars + unknown_ins,
                      outvars=new_unknown_outs)
    return known, unknown, _or(out_uk, inst), num_res + len(extra_res)


def _stage(trace, primitive, args, params) -> list:
    """Records `primitive` on a partial-evaluation trace as an unknown equation."""
    return DynamicJaxprTrace.process_primitive(trace, primitive, list(args), params)


def _merge(mask, when_false, when_true) -> list:
    f, t = iter(when_false), iter(when_true)
    return [next(t) if m else next(f) for m in mask]


def _zeros(aval):
    from hlodiff.prims.shape import broadcast_in_dim

    zero = np.zeros((), aval.dtype)
    return broadcast_in_dim(zero, aval.shape, ()) if aval.shape else zero


# ---------------------------------------------------------------------------------------------
# cond


cond_p = ControlFlowPrimitive("cond")


def _cond_abstract(index, *ops, branches):
    if index.shape or not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"cond index must be an integer scalar, got {index.str_short()}")
    for i, branch in enumerate(branches):
        if len(branch.in_avals) != len(ops):
            raise TypeError(f"cond branch {i} takes {len(branch.in_avals)} operands, got "
                            f"{len(ops)}")
    return list(branches[0].out_avals)


def _cond_eval(index, *ops, branches):
    i = int(np.clip(core.to_numpy(index), 0, len(branches) - 1))
    outs = _fun(branches[i])(*ops)
    return _match_avals(outs, branches[0].out_avals)


def _cond_jvp(primals, tangents, *, branches):
    index, *ops = primals
    ops_dot = tangents[1:]
    ops_nz = [type(t) is not Zero for t in ops_dot]
    out_nz = [any(nz) for nz in zip(*(jvp_mod.jvp_jaxpr(b, ops_nz)[1] for b in branches))]
    branches_jvp = tuple(jvp_mod.jvp_jaxpr(b, ops_nz, instantiate=out_nz)[0] for b in branches)
    outs = cond_p.bind(index, *ops, *[t for t in ops_dot if type(t) is not Zero],
                       branches=branches_jvp)
    n = len(out_nz)
    primals_out = outs[:n]
    t_out = _merge(out_nz, [Zero(tangent_aval(get_aval(p))) for p in primals_out], outs[n:])
    return primals_out, t_out


def _cond_partial_eval(trace, args, params):
    branches = params["branches"]
    index, *ops = args
    if trace.is_unknown(index):
        return _stage(trace, cond_p, args, params)
    ops_uk = [trace.is_unknown(x) for x in ops]
    out_uk = [any(u) for u in zip(*(_pe_jaxpr(b, ops_uk)[2] for b in branches))]
    splits = [_pe_jaxpr(b, ops_uk, instantiate=out_uk) for b in branches]
    num_known = out_uk.count(False)
    res_avals = [s[0].out_avals[num_known:] for s in splits]
    all_res, slots = _merge_branch_residuals(res_avals)
    known = tuple(_join_cond_outputs(s[0], num_known, all_res, sl) for s, sl in zip(splits, slots))
    unknown = tuple(_join_cond_res_inputs(s[1], all_res, sl) for s, sl in zip(splits, slots))
    known_ops = [x for x, u in zip(ops, ops_uk) if not u]
    outs = cond_p.bind_with_trace(trace.parent, [index, *known_ops], {"branches": known}) \
        if num_known or all_res else []
    known_outs, res = outs[:num_known], outs[num_known:]
    unknown_ops = [x for x, u in zip(ops, ops_uk) if u]
    staged = _stage(trace, cond_p, [index, *res, *unknown_ops], {"branches": unknown}) \
        if any(out_uk) else []
    return _merge(out_uk, known_outs, staged)


def _merge_branch_residuals(branch_res_avals):
    """Residual slots shared across branches by type: [x], [y], [x, x] -> [x, y, x] with
    [[0], [1], [0, 2]] (JAX's scheme: a branch fills its own slots, zeros elsewhere)."""
    tagged = []
    for avals in branch_res_avals:
        seen: dict = {}
        tags = []
        for a in avals:
            key = (a.shape, a.dtype)
            tags.append((key, seen.get(key, 0)))
            seen[key] = seen.get(key, 0) + 1
        tagged.append(tags)
    order: dict = {}
    all_avals = []
    for tags, avals in zip(tagged, branch_res_avals):
        for tag, a in zip(tags, avals):
            if tag not in order:
                order[tag] = len(all_avals)
                all_avals.append(a.strip_weak_type())
    return all_avals, [[order[t] for t in tags] for tags in tagged]


def _join_cond_outputs(known: ClosedJaxpr, num_known, all_res, slots) -> ClosedJaxpr:
    def fun(*args):
        outs = _fun(known)(*args)
        res = [_zeros(a) for a in all_res]
        for slot, r in zip(slots, outs[num_known:]):
            res[slot] = r
        return outs[:num_known] + res

    return trace_to_jaxpr(fun, known.in_avals)


def _join_cond_res_inputs(unknown: ClosedJaxpr, all_res, slots) -> ClosedJaxpr:
    res_vars = [Var(a) for a in all_res]
    own, rest = _split(unknown.jaxpr.invars, [len(slots)])
    for slot, v in zip(slots, own):
        res_vars[slot] = v
    return _rebind(unknown, invars=res_vars + rest)


def _cond_transpose(cts, index, *ops, branches):
    if tr.is_undefined_primal(index):
        raise ValueError("cond is not linear in its branch index")
    linear = [tr.is_undefined_primal(x) for x in ops]
    cts = [instantiate_zeros(c) for c in cts]
    ct_avals = [get_aval(c) for c in cts]
    new = tuple(tr.transpose_jaxpr(b, linear, ct_avals) for b in branches)
    nonlin = [x for x, lin in zip(ops, linear) if not lin]
    outs = cond_p.bind(index, *nonlin, *cts, branches=new)
    it = iter(outs)
    return [None] + [next(it) if lin else None for lin in linear]


def _cond_batch(axis_size, vals, dims, *, branches):
    index, *ops = vals
    if dims[0] is not not_mapped:
        return _cond_batch_select(axis_size, vals, dims, branches)
    ops_bat = [d is not not_mapped for d in dims[1:]]
    ops = [bdim_at_front(x, d, axis_size) if b else x for x, d, b in zip(ops, dims[1:], ops_bat)]
    out_bat = [any(b) for b in zip(*(_batch_jaxpr(j, axis_size, ops_bat, False)[1]
                                     for j in branches))]
    new = tuple(_batch_jaxpr(j, axis_size, ops_bat, out_bat)[0] for j in branches)
    outs = cond_p.bind(index, *ops, branches=new)
    return outs, [0 if b else not_mapped for b in out_bat]


def _cond_batch_select(axis_size, vals, dims, branches):
    """A batched index runs every branch and selects per element (JAX converts to select)."""
    from hlodiff.prims.elementwise import clamp, eq, select_n, stop_gradient

    index, *ops = [bdim_at_front(x, d, axis_size) for x, d in zip(vals, dims)]
    index = clamp(np.array(0, index.dtype), index, np.array(len(branches) - 1, index.dtype))
    outs_per_branch = []
    for i, branch in enumerate(branches):
        batched, _ = _batch_jaxpr(branch, axis_size, [True] * len(ops), True)
        # Feed each branch only its own elements' operands under differentiation, so a branch
        # not taken (say log of a negative) puts no NaN into the gradient (JAX issue 1052).
        pred = eq(index, np.array(i, index.dtype))
        ops_i = [select_n(_bcast(pred, x), stop_gradient(x), x) for x in ops]
        outs_per_branch.append(_fun(batched)(*ops_i))
    outs = [select_n(_bcast(index, cases[0]), *cases) for cases in zip(*outs_per_branch)]
    return outs, [0] * len(outs)


def _bcast(pred, like):
    from hlodiff.prims.shape import broadcast_in_dim

    shape = get_aval(like).shape
    return pred if get_aval(pred).shape == shape else broadcast_in_dim(pred, shape, (0,))


cond_p.abstract_eval = _cond_abstract
cond_p.impl = _cond_eval
cond_p.eval_rule = _cond_eval
cond_p.jvp = _cond_jvp
cond_p.partial_eval = _cond_partial_eval
cond_p.transpose = _cond_transpose
cond_p.batch = _cond_batch


# ---------------------------------------------------------------------------------------------
# while


while_p = ControlFlowPrimitive("while")

_WHILE_REVERSE_ERROR = (
    "Reverse-mode differentiation does not work for lax.while_loop or lax.fori_loop with "
    "dynamic start/stop values. Try using lax.scan, or using fori_loop with static start/stop.")


def _while_abstract(*avals, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    n_carry = len(avals) - cond_nconsts - body_nconsts
    if len(cond_jaxpr.in_avals) != cond_nconsts + n_carry or len(
            body_jaxpr.in_avals) != body_nconsts + n_carry:
        raise TypeError("while: the operand count does not match cond_jaxpr/body_jaxpr")
    return list(body_jaxpr.out_avals)


def _while_eval(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cconsts, bconsts, carry = _split(args, [cond_nconsts, body_nconsts])
    while True:
        pred, = _fun(cond_jaxpr)(*cconsts, *carry)
        if not bool(core.to_numpy(pred)):
            break
        carry = _fun(body_jaxpr)(*bconsts, *carry)
    return _match_avals(carry, body_jaxpr.out_avals)


def _while_jvp(primals, tangents, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    nz = [type(t) is not Zero for t in tangents]
    _, bconst_nz, init_nz = _split(nz, [cond_nconsts, body_nconsts])
    carry_nz = init_nz
    for _ in range(len(carry_nz) + 1):  # each round turns at least one carry nonzero
        body_jvp, out_nz = jvp_mod.jvp_jaxpr(body_jaxpr, bconst_nz + carry_nz,
                                             instantiate=carry_nz)
        if out_nz == carry_nz:
            break
        carry_nz = _or(carry_nz, out_nz)
    cconsts, bconsts, init = _split(primals, [cond_nconsts, body_nconsts])
    _, bconst_dot, init_dot = _split(tangents, [cond_nconsts, body_nconsts])
    bconst_dot = [t for t in bconst_dot if type(t) is not Zero]
    init_dot = [instantiate_zeros(t) for t, n in zip(init_dot, carry_nz) if n]
    nb, nc, nbd = len(bconsts), len(init), len(bconst_dot)
    # jvp order [bconsts, carry, bconst_dot, carry_dot] -> [bconsts, bconst_dot, carry, carry_dot]
    order = [*range(nb), *range(nb + nc, nb + nc + nbd), *range(nb, nb + nc),
             *range(nb + nc + nbd, nb + nc + nbd + len(init_dot))]
    body_jvp = _permute_invars(body_jvp, order)
    cond_aug = _with_unused_invars(cond_jaxpr, [get_aval(t) for t in init_dot])
    outs = while_p.bind(*cconsts, *bconsts, *bconst_dot, *init, *init_dot,
                        cond_jaxpr=cond_aug, body_jaxpr=body_jvp, cond_nconsts=cond_nconsts,
                        body_nconsts=nb + nbd)
    carry_out = outs[:nc]
    zeros = [Zero(tangent_aval(get_aval(p))) for p in carry_out]
    return carry_out, _merge(carry_nz, zeros, outs[nc:])


def _while_partial_eval(trace, args, params):
    """Known carries run in a while of their own; the unknown ones come from staging the whole
    loop (recomputing the known part). Forward mode (`linearize`) works; transposing the staged
    loop raises JAX's reverse-mode error."""
    cond_jaxpr, body_jaxpr = params["cond_jaxpr"], params["body_jaxpr"]
    nc, nb = params["cond_nconsts"], params["body_nconsts"]
    uk = [trace.is_unknown(x) for x in args]
    cconst_uk, bconst_uk, carry_uk = _split(uk, [nc, nb])
    for _ in range(len(carry_uk) + 1):
        body_known, _, out_uk, _ = _pe_jaxpr(body_jaxpr, bconst_uk + carry_uk)
        if _or(carry_uk, out_uk) == carry_uk:
            break
        carry_uk = _or(carry_uk, out_uk)
    cond_known, _, cond_uk, _ = _pe_jaxpr(cond_jaxpr, cconst_uk + carry_uk)
    if cond_uk[0] or all(carry_uk):
        return _stage(trace, while_p, args, params)
    known_outs = [v for v, u in zip(_known_outvars(body_known, out_uk), carry_uk) if not u]
    body_known = _rebind(body_known, outvars=known_outs)
    cond_known = _rebind(cond_known, outvars=cond_known.jaxpr.outvars[:1])
    known_args = [x for x, u in zip(args, cconst_uk + bconst_uk + carry_uk) if not u]
    known_params = {"cond_jaxpr": cond_known, "body_jaxpr": body_known,
                    "cond_nconsts": cconst_uk.count(False),
                    "body_nconsts": bconst_uk.count(False)}
    out_known = while_p.bind_with_trace(trace.parent, known_args, known_params)
    if not any(carry_uk):
        return out_known
    staged = _stage(trace, while_p, args, params)
    return _merge(carry_uk, out_known, [s for s, u in zip(staged, carry_uk) if u])


def _known_outvars(known: ClosedJaxpr, out_uk) -> list:
    """The known jaxpr's outvars laid out per output, None where the output is unknown."""
    it = iter(known.jaxpr.outvars)
    return [None if u else next(it) for u in out_uk]


def _while_transpose(cts, *args, **params):
    raise ValueError(_WHILE_REVERSE_ERROR)


def _while_batch(axis_size, vals, dims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    bat = [d is not not_mapped for d in dims]
    cconst_bat, bconst_bat, init_bat = _split(bat, [cond_nconsts, body_nconsts])
    carry_bat = init_bat
    for _ in range(len(carry_bat) + 1):
        _, out_bat = _batch_jaxpr(body_jaxpr, axis_size, bconst_bat + carry_bat, carry_bat)
        if out_bat == carry_bat:
            break
        carry_bat = _or(carry_bat, out_bat)
    _, (pred_bat,) = _batch_jaxpr(cond_jaxpr, axis_size, cconst_bat + carry_bat, False)
    if pred_bat:
        carry_bat = [True] * len(carry_bat)
    cconsts, bconsts, init = _split(vals, [cond_nconsts, body_nconsts])
    cconst_dims, bconst_dims, init_dims = _split(dims, [cond_nconsts, body_nconsts])
    cconsts = [_front(x, d, axis_size) for x, d in zip(cconsts, cconst_dims)]
    bconsts = [_front(x, d, axis_size) for x, d in zip(bconsts, bconst_dims)]
    init = [bdim_at_front(x, d, axis_size) if b else x
            for x, d, b in zip(init, init_dims, carry_bat)]
    body_b, _ = _batch_jaxpr(body_jaxpr, axis_size, bconst_bat + carry_bat, carry_bat)
    cond_b, _ = _batch_jaxpr(cond_jaxpr, axis_size, cconst_bat + carry_bat, pred_bat)
    if pred_bat:
        cond_b, body_b = _any_pred_loop(cond_b, body_b, cconsts, bconsts, init)
        bconsts = cconsts + bconsts
    outs = while_p.bind(*cconsts, *bconsts, *init, cond_jaxpr=cond_b, body_jaxpr=body_b,
                        cond_nconsts=len(cconsts), body_nconsts=len(bconsts))
    return outs, [0 if b else not_mapped for b in carry_bat]


def _any_pred_loop(cond_b, body_b, cconsts, bconsts, init):
    """A loop that steps while any element's predicate holds; finished elements keep their
    carry (select), so each element ends where its own loop would have."""
    from hlodiff.prims.elementwise import select_n
    from hlodiff.prims.reduce import reduce_or

    nc, nb = len(cconsts), len(bconsts)
    cconst_avals = [get_aval(x) for x in cconsts]
    carry_avals = [get_aval(x) for x in init]

    def cond(*args):
        pred, = _fun(cond_b)(*args)
        return [reduce_or(pred, (0,))]

    def body(*args):
        cc, bc, carry = _split(args, [nc, nb])
        pred, = _fun(cond_b)(*cc, *carry)
        new = _fun(body_b)(*bc, *carry)
        return [select_n(_bcast(pred, n), c, n) for c, n in zip(carry, new)]

    new_cond = trace_to_jaxpr(cond, cconst_avals + carry_avals)
    new_body = trace_to_jaxpr(body, cconst_avals + [get_aval(x) for x in bconsts] + carry_avals)
    return new_cond, new_body


while_p.abstract_eval = _while_abstract
while_p.impl = _while_eval
while_p.eval_rule = _while_eval
while_p.jvp = _while_jvp
while_p.partial_eval = _while_partial_eval
while_p.transpose = _while_transpose
while_p.batch = _while_batch


# ---------------------------------------------------------------------------------------------
# scan


scan_p = ControlFlowPrimitive("scan")


def _stacked(aval, length: int):
    return aval.update(shape=(length,) + aval.shape)


def _scan_abstract(*avals, jaxpr, length, reverse, num_consts, num_carry, unroll):
    if len(avals) != len(jaxpr.in_avals):
        raise TypeError(f"scan got {len(avals)} operands for a body taking "
                        f"{len(jaxpr.in_avals)}")
    carry, ys = _split(jaxpr.out_avals, [num_carry])
    return carry + [_stacked(a, length) for a in ys]


def _scan_eval(*args, jaxpr, length, reverse, num_consts, num_carry, unroll):
    consts, carry, xs = _split(args, [num_consts, num_carry])
    x_avals = jaxpr.in_avals[num_consts + num_carry:]
    xs = [np.asarray(core.to_numpy(x)) for x in xs]
    body = _fun(jaxpr)
    ys = []
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        x_i = [Array(np.asarray(x[i]), a.weak_type) for x, a in zip(xs, x_avals)]
        outs = body(*consts, *carry, *x_i)
        carry = outs[:num_carry]
        ys.append([core.to_numpy(y) for y in outs[num_carry:]])
    if reverse:
        ys.reverse()
    y_avals = jaxpr.out_avals[num_carry:]
    stacked = [Array(np.stack([np.asarray(y[k], a.dtype) for y in ys]) if ys
                     else np.zeros((0,) + a.shape, a.dtype), a.weak_type)
               for k, a in enumerate(y_avals)]
    return _match_avals(carry, jaxpr.out_avals[:num_carry]) + stacked


def _scan_jvp(primals, tangents, *, jaxpr, length, reverse, num_consts, num_carry, unroll):
    num_ys = len(jaxpr.out_avals) - num_carry
    nz = [type(t) is not Zero for t in tangents]
    const_nz, init_nz, xs_nz = _split(nz, [num_consts, num_carry])
    carry_nz = init_nz
    for _ in range(len(carry_nz) + 1):
        jaxpr_jvp, out_nz = jvp_mod.jvp_jaxpr(jaxpr, const_nz + carry_nz + xs_nz,
                                              instantiate=carry_nz + [False] * num_ys)
        if out_nz[:num_carry] == carry_nz:
            break
        carry_nz = _or(carry_nz, out_nz[:num_carry])
    consts, init, xs = _split(primals, [num_consts, num_carry])
    consts_dot, init_dot, xs_dot = _split(tangents, [num_consts, num_carry])
    consts_dot = [t for t in consts_dot if type(t) is not Zero]
    init_dot = [instantiate_zeros(t) for t, n in zip(init_dot, carry_nz) if n]
    xs_dot = [t for t in xs_dot if type(t) is not Zero]
    sizes = [len(consts), len(init), len(xs), len(consts_dot), len(init_dot), len(xs_dot)]
    jaxpr_jvp = _regroup(jaxpr_jvp, sizes, [0, 3, 1, 4, 2, 5],
                         [num_carry, num_ys, len(init_dot)], [0, 2, 1, 3])
    outs = scan_p.bind(*consts, *consts_dot, *init, *init_dot, *xs, *xs_dot, jaxpr=jaxpr_jvp,
                       length=length, reverse=reverse, num_consts=len(consts) + len(consts_dot),
                       num_carry=num_carry + len(init_dot), unroll=unroll)
    carry, carry_dot, ys, ys_dot = _split(outs, [num_carry, len(init_dot), num_ys])
    primals_out = carry + ys
    zeros = [Zero(tangent_aval(get_aval(p))) for p in primals_out]
    return primals_out, _merge(out_nz, zeros, carry_dot + ys_dot)


def _regroup(closed: ClosedJaxpr, in_sizes, in_order, out_sizes, out_order) -> ClosedJaxpr:
    """Reorders groups of binders: group k of the result is group `order[k]` of `closed`."""
    ins = _split(closed.jaxpr.invars, in_sizes[:-1])
    outs = _split(closed.jaxpr.outvars, out_sizes)
    invars = [v for k in in_order for v in ins[k]]
    outvars = [v for k in out_order for v in outs[k]]
    return _rebind(closed, invars=invars, outvars=outvars)


def _scan_partial_eval(trace, args, params):
    """A known scan (known carries and ys, plus residuals stacked as extra ys) and an unknown
    scan reading them. Residuals that are known consts are passed as consts, not stacked."""
    jaxpr = params["jaxpr"]
    num_consts, num_carry = params["num_consts"], params["num_carry"]
    num_ys = len(jaxpr.out_avals) - num_carry
    uk = [trace.is_unknown(x) for x in args]
    const_uk, carry_uk, xs_uk = _split(uk, [num_consts, num_carry])
    for _ in range(len(carry_uk) + 1):
        known, unknown, out_uk, num_res = _pe_jaxpr(
            jaxpr, const_uk + carry_uk + xs_uk, instantiate=carry_uk + [False] * num_ys)
        if out_uk[:num_carry] == carry_uk:
            break
        carry_uk = _or(carry_uk, out_uk[:num_carry])
    uk = const_uk + carry_uk + xs_uk
    known_args = [x for x, u in zip(args, uk) if not u]
    n_kconsts = const_uk.count(False)
    n_known_out = out_uk.count(False)
    outs_k, res_vars = _split(known.jaxpr.outvars, [n_known_out])
    # A residual that is a known const (or a literal) is loop-invariant: no need to stack it.
    const_invars = {v: i for i, v in enumerate(known.jaxpr.invars[:n_kconsts])}
    invariant = [type(v) is Literal or v in const_invars for v in res_vars]
    inv_vals = [v.val if type(v) is Literal else known_args[const_invars[v]]
                for v, inv in zip(res_vars, invariant) if inv]
    known = _rebind(known, outvars=outs_k + [v for v, inv in zip(res_vars, invariant) if not inv])
    known_params = dict(params, jaxpr=known, num_consts=n_kconsts, num_carry=carry_uk.count(False))
    known_outs = scan_p.bind_with_trace(trace.parent, known_args, known_params) \
        if known.jaxpr.outvars else []
    known_outs, stacked_res = known_outs[:n_known_out], known_outs[n_known_out:]
    if not any(out_uk):
        return known_outs
    res_in, rest = _split(unknown.jaxpr.invars, [num_res])
    uk_consts, uk_carry, uk_xs = _split(rest, [const_uk.count(True), carry_uk.count(True)])
    inv_vars = [v for v, inv in zip(res_in, invariant) if inv]
    ext_vars = [v for v, inv in zip(res_in, invariant) if not inv]
    unknown = _rebind(unknown, invars=inv_vars + uk_consts + uk_carry + ext_vars + uk_xs)
    unknown_args = [x for x, u in zip(args, uk) if u]
    u_consts, u_carry, u_xs = _split(unknown_args, [len(uk_consts), len(uk_carry)])
    unknown_params = dict(params, jaxpr=unknown, num_consts=len(inv_vars) + len(uk_consts),
                          num_carry=len(uk_carry))
    staged = _stage(trace, scan_p, [*inv_vals, *u_consts, *u_carry, *stacked_res, *u_xs],
                    unknown_params)
    return _merge(out_uk, known_outs, staged)


def _scan_transpose(cts, *args, jaxpr, length, reverse, num_consts, num_carry, unroll):
    """A scan in the other direction of the transposed body. Every carry is linear; linear
    consts get their cotangents summed in extra carries; linear xs get theirs as ys."""
    consts, init, xs = _split(args, [num_consts, num_carry])
    const_lin = [tr.is_undefined_primal(x) for x in consts]
    xs_lin = [tr.is_undefined_primal(x) for x in xs]
    ct_carry, ct_ys = _split([instantiate_zeros(c) for c in cts], [num_carry])
    res_consts = [x for x, lin in zip(consts, const_lin) if not lin]
    res_xs = [x for x, lin in zip(xs, xs_lin) if not lin]
    lin_const_avals = [tangent_aval(x.aval) for x, lin in zip(consts, const_lin) if lin]
    ct_consts = [jvp_mod.zeros_like_aval(a) for a in lin_const_avals]
    body_t = _transposed_scan_body(jaxpr, const_lin, num_carry, xs_lin, ct_carry, ct_ys,
                                   res_consts, res_xs, lin_const_avals)
    outs = scan_p.bind(*res_consts, *ct_consts, *ct_carry, *res_xs, *ct_ys, jaxpr=body_t,
                       length=length, reverse=not reverse, num_consts=len(res_consts),
                       num_carry=len(ct_consts) + num_carry, unroll=unroll)
    ct_consts, ct_init, ct_xs = _split(outs, [len(ct_consts), num_carry])
    c_it, x_it = iter(ct_consts), iter(ct_xs)
    return ([next(c_it) if lin else None for lin in const_lin]
            + [c if tr.is_undefined_primal(x) else None for x, c in zip(init, ct_init)]
            + [next(x_it) if lin else None for lin in xs_lin])


def _transposed_scan_body(jaxpr, const_lin, num_carry, xs_lin, ct_carry, ct_ys, res_consts,
                          res_xs, lin_const_avals) -> ClosedJaxpr:
    """(res_consts; ct_consts_acc, ct_carry; res_x, ct_y) -> (ct_consts_acc + ct_consts, ct_carry
    of the inputs; ct_x)."""
    num_ys = len(jaxpr.out_avals) - num_carry
    linear = const_lin + [True] * num_carry + xs_lin
    y_ct_avals = [tangent_aval(a) for a in jaxpr.out_avals[num_carry:]]
    ct_carry_avals = [get_aval(c) for c in ct_carry]
    body_t = tr.transpose_jaxpr(jaxpr, linear, ct_carry_avals + y_ct_avals)
    n_rc, n_lc, n_rx = len(res_consts), len(lin_const_avals), len(res_xs)
    x_avals = jaxpr.in_avals[len(const_lin) + num_carry:]
    res_x_avals = [a for a, lin in zip(x_avals, xs_lin) if not lin]

    def fun(*args):
        rc, acc, ct_c, rx, ct_y = _split(args, [n_rc, n_lc, num_carry, n_rx])
        outs = _fun(body_t)(*rc, *rx, *ct_c, *ct_y)
        ct_lc, ct_c_in, ct_x = _split(outs, [n_lc, num_carry])
        return [add_tangents(a, c) for a, c in zip(acc, ct_lc)] + ct_c_in + ct_x

    in_avals = ([get_aval(x) for x in res_consts] + lin_const_avals + ct_carry_avals
                + res_x_avals + y_ct_avals[:num_ys])
    return trace_to_jaxpr(fun, in_avals)


def _scan_batch(axis_size, vals, dims, *, jaxpr, length, reverse, num_consts, num_carry,
                unroll):
    num_ys = len(jaxpr.out_avals) - num_carry
    bat = [d is not not_mapped for d in dims]
    const_bat, init_bat, xs_bat = _split(bat, [num_consts, num_carry])
    carry_bat = init_bat
    for _ in range(len(carry_bat) + 1):
        jaxpr_b, out_bat = _batch_jaxpr(jaxpr, axis_size, const_bat + carry_bat + xs_bat,
                                        carry_bat + [False] * num_ys)
        if out_bat[:num_carry] == carry_bat:
            break
        carry_bat = _or(carry_bat, out_bat[:num_carry])
    consts, init, xs = _split(vals, [num_consts, num_carry])
    const_dims, init_dims, xs_dims = _split(dims, [num_consts, num_carry])
    consts = [_front(x, d, axis_size) for x, d in zip(consts, const_dims)]
    init = [bdim_at_front(x, d, axis_size) if b else x
            for x, d, b in zip(init, init_dims, carry_bat)]
    xs = [x if d is not_mapped else _moveaxis(x, d, 1) for x, d in zip(xs, xs_dims)]
    outs = scan_p.bind(*consts, *init, *xs, jaxpr=jaxpr_b, length=length, reverse=reverse,
                       num_consts=num_consts, num_carry=num_carry, unroll=unroll)
    ys_bat = out_bat[num_carry:]
    return outs, ([0 if b else not_mapped for b in carry_bat]
                  + [1 if b else not_mapped for b in ys_bat])


def _moveaxis(x, src, dst):
    from hlodiff.prims.shape import moveaxis

    return moveaxis(x, src, dst)


scan_p.abstract_eval = _scan_abstract
scan_p.impl = _scan_eval
scan_p.eval_rule = _scan_eval
scan_p.jvp = _scan_jvp
scan_p.partial_eval = _scan_partial_eval
scan_p.transpose = _scan_transpose
scan_p.batch = _scan_batch


__all__ = ["cond_p", "scan_p", "while_p"]
