"""Custom derivative rules: `custom_jvp` and `custom_vjp`, and how each interpreter treats them.

A call of a custom function goes to the current trace's `process_custom_jvp_call` /
`process_custom_vjp_call`. Evaluation just runs the function (with the user's original argument
values). The JVP interpreter runs the rule instead. Batching batches the function *and* the
rule, so the rule survives `vmap`. Staging records a `custom_jvp_call` / `custom_vjp_call`
equation holding the traced function and the rule, so it survives `jit` too.

`custom_vjp` under JVP runs `fwd` and binds `custom_lin` on the tangents: transposing
`custom_lin` calls `bwd` (reverse mode), evaluating it is the forward-mode error JAX raises.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

from hlodiff import core
from hlodiff.core import Primitive, Tracer, get_aval, set_current_trace
from hlodiff.ir import ClosedJaxpr, eval_jaxpr
from hlodiff.tree_util import tree_flatten, tree_map, tree_structure, tree_unflatten
from hlodiff.transforms.batching import BatchTrace, BatchTracer, bdim_at_front, not_mapped
from hlodiff.transforms.jvp import Zero, instantiate_zeros, tangent_aval


# ---------------------------------------------------------------------------------------------
# Argument resolution shared by both decorators


def _resolve_args(fun, args, kwargs):
    """Maps keyword arguments and defaults to positions via `inspect.signature`."""
    if not kwargs:
        sig = _signature(fun)
        if sig is None:
            return tuple(args)
        try:
            bound = sig.bind(*args)
        except TypeError as e:
            raise TypeError(f"{_name(fun)}: {e}") from None
        bound.apply_defaults()
        return bound.args
    sig = _signature(fun)
    if sig is None:
        raise TypeError(f"{_name(fun)}: keyword arguments need an inspectable signature")
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{_name(fun)}: {e}") from None
    bound.apply_defaults()
    if bound.kwargs:
        raise TypeError(f"{_name(fun)}: keyword-only arguments cannot be mapped to positions: "
                        f"{sorted(bound.kwargs)}")
    return bound.args


@functools.lru_cache(maxsize=256)
def _signature_cached(fun):
    try:
        return inspect.signature(fun)
    except (TypeError, ValueError):
        return None


def _signature(fun):
    try:
        return _signature_cached(fun)
    except TypeError:  # unhashable callable
        try:
            return inspect.signature(fun)
        except (TypeError, ValueError):
            return None


def _name(fun) -> str:
    return getattr(fun, "__name__", repr(fun))


def _split_nondiff(args, nondiff_argnums):
    nondiff = tuple(args[i] for i in nondiff_argnums)
    diff = tuple(a for i, a in enumerate(args) if i not in nondiff_argnums)
    for i in nondiff_argnums:
        for leaf in tree_flatten(args[i])[0]:
            if isinstance(leaf, Tracer):
                raise TypeError(
                    f"Found a traced value in the non-differentiable argument {i} "
                    "(nondiff_argnums) of a custom-derivative function. nondiff_argnums is for "
                    "non-array values such as functions or strings; pass arrays (even integer "
                    "ones) as regular arguments instead."
                )
    return nondiff, diff


def _merge(nondiff_argnums, nondiff, diff):
    args, nd, d = [], iter(nondiff), iter(diff)
    for i in range(len(nondiff) + len(diff)):
        args.append(next(nd) if i in nondiff_argnums else next(d))
    return tuple(args)


class _OutTree:
    """Records the output pytree of a traced function (once per trace)."""

    def __init__(self):
        self.tree = None


# ---------------------------------------------------------------------------------------------
# custom_jvp


class CustomCallPrimitive(Primitive):
    """A primitive whose bind hands the whole call to the trace's custom-call hook."""

    multiple_results = True
    higher_order = True


custom_jvp_call_p = CustomCallPrimitive("custom_jvp_call")
custom_vjp_call_p = CustomCallPrimitive("custom_vjp_call")


def _bind_custom_jvp(*args, call_jaxpr, jvp, num_consts, symbolic_zeros=False):
    fun = _jaxpr_fun(call_jaxpr)
    params = dict(call_jaxpr=call_jaxpr, jvp=jvp, num_consts=num_consts)
    return core.current_trace().process_custom_jvp_call(custom_jvp_call_p, fun, jvp, args, params)


def _bind_custom_vjp(*args, call_jaxpr, fwd, bwd, num_consts, out_avals):
    fun = _jaxpr_fun(call_jaxpr)
    params = dict(call_jaxpr=call_jaxpr, fwd=fwd, bwd=bwd, num_consts=num_consts,
                  out_avals=out_avals)
    return core.current_trace().process_custom_vjp_call(custom_vjp_call_p, fun, fwd, bwd, args,
                                                        params)


custom_jvp_call_p.bind = _bind_custom_jvp
custom_vjp_call_p.bind = _bind_custom_vjp


def _jaxpr_fun(closed: ClosedJaxpr) -> Callable:
    return lambda *args: eval_jaxpr(closed.jaxpr, closed.consts, *args)


def _custom_call_abstract(*avals, call_jaxpr, **params):
    return call_jaxpr.out_avals


def _custom_call_impl(*args, call_jaxpr, **params):
    return eval_jaxpr(call_jaxpr.jaxpr, call_jaxpr.consts, *args)


for _p in (custom_jvp_call_p, custom_vjp_call_p):
    _p.abstract_eval = _custom_call_abstract
    _p.impl = _custom_call_impl


class _CustomFunction:
    """What custom_jvp and custom_vjp share: the wrapped function, its non-differentiable
    arguments, method binding, and flattening a call into leaves for the trace hooks."""

    def __init__(self, fun: Callable, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(sorted(nondiff_argnums))

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def _flatten_call(self, args, kwargs):
        """(nondiff args, leaves, in_tree, out_store, flat function) for one call."""
        args = _resolve_args(self.fun, args, kwargs)
        nondiff, diff = _split_nondiff(args, self.nondiff_argnums)
        leaves, in_tree = tree_flatten(diff)
        out_store = _OutTree()
        fun_flat = _flatten_custom_fun(self.fun, self.nondiff_argnums, nondiff, in_tree,
                                       out_store)
        return nondiff, leaves, in_tree, out_store, fun_flat


class custom_jvp(_CustomFunction):
    """Makes `fun` use a user-written JVP rule for differentiation (both modes).

    >>> @custom_jvp
    ... def f(x):
    ...     return hnp.sin(x)
    >>> @f.defjvp
    ... def f_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return f(x), hnp.cos(x) * t

    Reverse mode comes from transposing the rule, which must be linear in the tangents.
    """

    def __init__(self, fun: Callable, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.jvp: Callable | None = None

    def defjvp(self, jvp: Callable, symbolic_zeros: bool = False) -> Callable:
        self.jvp = jvp
        return jvp

    def defjvps(self, *jvps: Callable | None) -> None:
        """One function per argument, `jvp_i(t_i, primal_out, *primals)`; None means zero."""

        def jvp(primals, tangents):
            primal_out = self(*primals)
            zeros = tree_map(lambda x: Zero(tangent_aval(get_aval(x))), primal_out)
            out = zeros
            for fn, t in zip(jvps, tangents):
                if fn is None:
                    continue
                contrib = fn(t, primal_out, *primals)
                out = tree_map(_add_or_take, out, contrib)
            return primal_out, tree_map(instantiate_zeros, out, is_leaf=_is_zero)

        self.jvp = jvp

    def __call__(self, *args, **kwargs):
        if self.jvp is None:
            raise AttributeError(
                f"No JVP defined for custom_jvp function {_name(self.fun)} using defjvp.")
        nondiff, leaves, in_tree, out_store, fun_flat = self._flatten_call(args, kwargs)
        jvp_flat = _flatten_custom_jvp(self.jvp, nondiff, in_tree, out_store, _name(self.fun))
        params = dict(num_consts=0)
        outs = core.current_trace().process_custom_jvp_call(custom_jvp_call_p, fun_flat,
                                                            jvp_flat, leaves, params)
        return tree_unflatten(out_store.tree, outs)


def _is_zero(x):
    return type(x) is Zero


def _add_or_take(acc, x):
    from hlodiff.transforms.jvp import add_tangents

    return add_tangents(acc, x)


def _flatten_custom_fun(fun, nondiff_argnums, nondiff, in_tree, out_store):
    def fun_flat(*leaves):
        diff = tree_unflatten(in_tree, leaves)
        out = fun(*_merge(nondiff_argnums, nondiff, diff))
        out_leaves, tree = tree_flatten(out)
        out_store.tree = tree
        return out_leaves

    return fun_flat


def _flatten_custom_jvp(jvp, nondiff, in_tree, out_store, name):
    def jvp_flat(primals, tangents):
        p = tree_unflatten(in_tree, primals)
        t = tree_unflatten(in_tree, tangents)
        out = jvp(*nondiff, p, t)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(
                f"Custom JVP rule {name} must produce a pair (list or tuple of length two) "
                f"representing primal and tangent outputs, but got {out!r:.100}.")
        p_out, t_out = out
        p_leaves, p_tree = tree_flatten(p_out)
        t_leaves, t_tree = tree_flatten(t_out)
        if p_tree != t_tree:
            raise TypeError(
                "Custom JVP rule must produce primal and tangent outputs with equal container "
                f"(pytree) structures, but got {p_tree} and {t_tree} respectively.")
        if out_store.tree is not None and p_tree != out_store.tree:
            raise TypeError(
                f"Custom JVP rule {name} must produce primal outputs with the same container "
                f"(pytree) structure as the custom_jvp-decorated function, but got "
                f"{p_tree} from the rule and {out_store.tree} from the function.")
        out_store.tree = p_tree
        for pl, tl in zip(p_leaves, t_leaves):
            _check_tangent_aval(name, pl, tl)
        return p_leaves, t_leaves

    return jvp_flat


def _check_tangent_aval(name, p, t):
    if type(t) is Zero:
        return
    pa, ta = get_aval(p), get_aval(t)
    if pa.shape != ta.shape:
        raise ValueError(
            f"Custom JVP rule {name} must produce primal and tangent outputs with equal shapes; "
            f"got primal {pa.str_short()} and tangent {ta.str_short()}.")


def jvp_of_custom_jvp(trace, fun, jvp, args, params):
    """The JVP interpreter runs the rule (on the parent trace) instead of the function."""
    primals, tangents = zip(*(trace.to_primal_tangent(x) for x in args)) if args else ((), ())
    if all(type(t) is Zero for t in tangents):
        with set_current_trace(trace.parent):
            return trace.parent.process_custom_jvp_call(custom_jvp_call_p, fun, jvp, primals,
                                                        params)
    tangents = [instantiate_zeros(t) for t in tangents]
    with set_current_trace(trace.parent):
        p_out, t_out = jvp(list(primals), tangents)
    return [trace.maybe_tracer(p, t) for p, t in zip(p_out, t_out)]


def stage_custom_jvp(trace, primitive, fun, jvp, args, params):
    """Records a custom_jvp_call equation holding the traced function and the rule."""
    from hlodiff.transforms.staging import trace_to_jaxpr

    closed = trace_to_jaxpr(fun, [get_aval(x) for x in args])
    eqn_params = dict(call_jaxpr=closed, jvp=jvp, num_consts=0)
    return _stage_call(trace, primitive, args, closed.out_avals, eqn_params)


def _stage_call(trace, primitive, args, out_avals, params):
    invars = [trace.to_atom(x) for x in args]
    outvars = trace.builder.add_eqn(primitive, invars, out_avals, params)
    from hlodiff.transforms.staging import DynamicJaxprTracer

    return [DynamicJaxprTracer(trace, v.aval, v) for v in outvars]


def batch_custom_jvp(trace, primitive, fun, jvp, args, params):
    """vmap keeps the rule: the parent sees a custom call of the batched function and rule."""
    vals, dims = _vals_dims_front(trace, args)
    if all(d is not_mapped for d in dims):
        with set_current_trace(trace.parent):
            return trace.parent.process_custom_jvp_call(primitive, fun, jvp, vals, params)
    size = trace.axis_size
    fun_b = _batched_fun(fun, size, dims)

    def jvp_b(primals, tangents):
        t_dims = [_tangent_dim(t, p_dim, x) for t, p_dim, x in zip(tangents, dims, args)]

        def rule(*xs):
            n = len(primals)
            p_out, t_out = jvp(list(xs[:n]), list(xs[n:]))
            return list(p_out) + list(t_out)

        outs = _run_batched(rule, size, list(primals) + list(tangents), list(dims) + t_dims)
        half = len(outs) // 2
        return outs[:half], outs[half:]

    with set_current_trace(trace.parent):
        outs = trace.parent.process_custom_jvp_call(primitive, fun_b, jvp_b, vals, params)
    return [BatchTracer(trace, o, 0) for o in outs]


def _vals_dims_front(trace, args):
    vals, dims = [], []
    for x in args:
        v, d = trace.to_val_dim(x)
        if d is not not_mapped:
            v = bdim_at_front(v, d, trace.axis_size)
            d = 0
        vals.append(v)
        dims.append(d)
    return vals, dims


def _tangent_dim(t, p_dim, x):
    """A tangent of an unbatched primal may itself be batched (rank one higher)."""
    if p_dim is not not_mapped:
        return 0
    return 0 if get_aval(t).ndim == get_aval(x).ndim + 1 else not_mapped


def _run_batched(fun, size, vals, dims):
    """Runs `fun` under a fresh batch trace; every output comes back batched along 0."""
    sub = BatchTrace(core.current_trace(), size)
    tracers = [sub.maybe_tracer(v, d) for v, d in zip(vals, dims)]
    with set_current_trace(sub):
        outs = fun(*tracers)
    results = []
    for o in outs:
        v, d = sub.to_val_dim(o)
        results.append(bdim_at_front(v, d, size) if type(v) is not Zero else v)
    return results


def _batched_fun(fun, size, dims):
    return lambda *vals: _run_batched(fun, size, list(vals), list(dims))


# ---------------------------------------------------------------------------------------------
# custom_vjp


class custom_vjp(_CustomFunction):
    """Makes `fun` use user-written forward and backward passes for reverse mode.

    `fwd(*args) -> (out, residuals)`; `bwd(*nondiff_args, residuals, out_ct) -> tuple` with one
    cotangent per (differentiable) argument, None meaning zero. Forward mode (`jvp`) of a
    custom_vjp function raises a TypeError, as in JAX.
    """

    def __init__(self, fun: Callable, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable, symbolic_zeros: bool = False) -> None:
        self.fwd = fwd
        self.bwd = bwd

    def __call__(self, *args, **kwargs):
        if self.fwd is None:
            raise AttributeError(
                f"No VJP defined for custom_vjp function {_name(self.fun)} using defvjp.")
        nondiff, leaves, in_tree, out_store, fun_flat = self._flatten_call(args, kwargs)
        fwd_flat = _flatten_fwd(self.fwd, self.nondiff_argnums, nondiff, in_tree, out_store,
                                _name(self.fun))
        bwd_flat = _flatten_bwd(self.bwd, nondiff, in_tree, out_store, _name(self.fun))
        params = dict(num_consts=0)
        outs = core.current_trace().process_custom_vjp_call(
            custom_vjp_call_p, fun_flat, fwd_flat, bwd_flat, leaves, params)
        return tree_unflatten(out_store.tree, outs)


class _Residuals:
    def __init__(self):
        self.tree = None


def _flatten_fwd(fwd, nondiff_argnums, nondiff, in_tree, out_store, name):
    res_store = _Residuals()

    def fwd_flat(*leaves):
        diff = tree_unflatten(in_tree, leaves)
        out = fwd(*_merge(nondiff_argnums, nondiff, diff))
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(
                f"Custom VJP fwd rule {name} must produce a pair (list or tuple of length two) "
                "where the first element represents the primal output (equal to those of the "
                "custom_vjp-decorated function) and the second represents residuals (to be "
                f"passed to the bwd rule), but got {out!r:.100}.")
        primal_out, res = out
        p_leaves, p_tree = tree_flatten(primal_out)
        if out_store.tree is not None and p_tree != out_store.tree:
            raise TypeError(
                f"Custom VJP fwd rule {name} must produce primal outputs with the same container "
                "(pytree) structure as the custom_vjp-decorated function, but got "
                f"{p_tree} from fwd and {out_store.tree} from the function.")
        out_store.tree = p_tree
        res_leaves, res_store.tree = tree_flatten(res)
        return p_leaves, res_leaves

    fwd_flat.res_store = res_store
    return fwd_flat


def _flatten_bwd(bwd, nondiff, in_tree, out_store, name):
    def bwd_flat(res_leaves, ct_leaves, res_tree):
        res = tree_unflatten(res_tree, res_leaves)
        ct = tree_unflatten(out_store.tree, ct_leaves)
        cts_in = bwd(*nondiff, res, ct)
        if isinstance(cts_in, list):
            cts_in = tuple(cts_in)
        n_args = len(in_tree.children())
        if not isinstance(cts_in, tuple) or len(cts_in) != n_args:
            raise TypeError(_bwd_structure_message(name, cts_in, in_tree))
        return _ct_leaves(name, tuple(cts_in), in_tree)

    return bwd_flat


def _bwd_structure_message(name, cts, in_tree) -> str:
    return (
        f"Custom VJP bwd rule {name} must produce an output with the same container (pytree) "
        "structure as the args tuple of the primal function, and in particular must produce a "
        "tuple of length equal to the number of arguments to the primal function, but got bwd "
        f"output structure {tree_structure(cts)} for primal input structure {in_tree}.")


def _ct_leaves(name, cts, in_tree):
    """Flattens bwd's output up to the primal input structure; None means zero cotangents."""
    primal_args = tree_unflatten(in_tree, list(range(in_tree.num_leaves)))
    leaves = []
    for arg, ct in zip(primal_args, cts):
        sub_tree = tree_structure(arg)
        if ct is None:
            leaves.extend([None] * sub_tree.num_leaves)
            continue
        ct_leaves, ct_tree = tree_flatten(ct, is_leaf=lambda x: x is None)
        if ct_tree.num_leaves != sub_tree.num_leaves or (
                tree_structure(ct) != sub_tree and all(c is not None for c in ct_leaves)):
            raise TypeError(_bwd_structure_message(name, cts, in_tree))
        leaves.extend(ct_leaves)
    return leaves


def _custom_lin_impl(*args, num_res, bwd, out_avals, res_tree):
    raise TypeError("can't apply forward-mode autodiff (jvp) to a custom_vjp function.")


def _custom_lin_transpose(cts, *args, num_res, bwd, out_avals, res_tree):
    res = list(args[:num_res])
    cts = [instantiate_zeros(c) if type(c) is Zero else c for c in cts]
    cts_in = bwd(res, cts, res_tree)
    tangent_avals = [a.aval if hasattr(a, "aval") else get_aval(a) for a in args[num_res:]]
    out = []
    for ct, aval in zip(cts_in, tangent_avals):
        out.append(Zero(aval) if ct is None else ct)
    return [None] * num_res + out


custom_lin_p = Primitive("custom_lin")
custom_lin_p.multiple_results = True
custom_lin_p.impl = _custom_lin_impl
custom_lin_p.abstract_eval = lambda *avals, num_res, bwd, out_avals, res_tree: list(out_avals)
custom_lin_p.transpose = _custom_lin_transpose
custom_lin_p.linear = True


def _custom_lin_batch(axis_size, vals, dims, *, num_res, bwd, out_avals, res_tree):
    raise TypeError("can't apply forward-mode autodiff (jvp) to a custom_vjp function.")


custom_lin_p.batch = _custom_lin_batch


def jvp_of_custom_vjp(trace, fun, fwd, bwd, args, params):
    primals, tangents = zip(*(trace.to_primal_tangent(x) for x in args)) if args else ((), ())
    if all(type(t) is Zero for t in tangents):
        with set_current_trace(trace.parent):
            return trace.parent.process_custom_vjp_call(custom_vjp_call_p, fun, fwd, bwd,
                                                        primals, params)
    with set_current_trace(trace.parent):
        out, res = fwd(*primals)
        out_avals = tuple(tangent_aval(get_aval(o)) for o in out)
        tangents = [instantiate_zeros(t) for t in tangents]
        t_out = custom_lin_p.bind(*res, *tangents, num_res=len(res), bwd=bwd,
                                  out_avals=out_avals, res_tree=fwd.res_store.tree)
    return [trace.maybe_tracer(p, t) for p, t in zip(out, t_out)]


def stage_custom_vjp(trace, primitive, fun, fwd, bwd, args, params):
    from hlodiff.transforms.staging import trace_to_jaxpr

    closed = trace_to_jaxpr(fun, [get_aval(x) for x in args])
    eqn_params = dict(call_jaxpr=closed, fwd=fwd, bwd=bwd, num_consts=0,
                      out_avals=tuple(closed.out_avals))
    return _stage_call(trace, primitive, args, closed.out_avals, eqn_params)


def batch_custom_vjp(trace, primitive, fun, fwd, bwd, args, params):
    vals, dims = _vals_dims_front(trace, args)
    if all(d is not_mapped for d in dims):
        with set_current_trace(trace.parent):
            return trace.parent.process_custom_vjp_call(primitive, fun, fwd, bwd, vals, params)
    size = trace.axis_size
    fun_b = _batched_fun(fun, size, dims)

    def fwd_b(*xs):
        holder = {}

        def flat(*ys):
            out, res = fwd(*ys)
            holder["n"] = len(out)
            return list(out) + list(res)

        outs = _run_batched(flat, size, list(xs), list(dims))
        return outs[: holder["n"]], outs[holder["n"]:]

    fwd_b.res_store = fwd.res_store

    def bwd_b(res, cts, res_tree):
        n_res = len(res)
        outs_holder = {}

        def flat_nonnull(*ys):
            outs = bwd(list(ys[:n_res]), list(ys[n_res:]), res_tree)
            outs_holder["none"] = [o is None for o in outs]
            return [o for o in outs if o is not None]

        outs = _run_batched(flat_nonnull, size, list(res) + list(cts), [0] * (n_res + len(cts)))
        it = iter(outs)
        return [None if is_none else next(it) for is_none in outs_holder["none"]]

    with set_current_trace(trace.parent):
        outs = trace.parent.process_custom_vjp_call(primitive, fun_b, fwd_b, bwd_b, vals, params)
    return [BatchTracer(trace, o, 0) for o in outs]
