"""The user-facing transformations: jvp, linearize, vjp, grad, jacobians, vmap, make_jaxpr.

Each one flattens its pytree arguments once, runs a flat transformation from
`hlodiff/transforms/`, and unflattens the results.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from hlodiff import core, dtypes, tree_util
from hlodiff.core import Array, ShapedArray, get_aval
from hlodiff.ir import eval_closed_jaxpr
from hlodiff.tree_util import Partial, tree_flatten, tree_structure, tree_unflatten
from hlodiff.transforms import batching, jvp as jvp_mod, partial_eval, staging, transpose as tr


# ---------------------------------------------------------------------------------------------
# Argument handling


def _check_arraylike(fun_name: str, leaves, what: str = "argument") -> None:
    for i, x in enumerate(leaves):
        if not core.is_arraylike(x):
            raise TypeError(
                f"{fun_name}: {what} {i} of type {type(x).__name__} ({x!r:.60}) is not a valid "
                "hlodiff type. Pass arrays, numpy arrays, Python scalars, or pytrees of them; "
                "mark other arguments static or close over them."
            )


def _as_array(x):
    """Python scalars and numpy values become concrete `Array`s; tracers pass through."""
    if isinstance(x, (Array, core.Tracer)):
        return x
    aval = get_aval(x)
    return Array(np.asarray(x, aval.dtype), aval.weak_type)


def _flatten_fun(fun: Callable, in_tree, store: dict) -> Callable:
    """A flat-in flat-out version of `fun`; the output tree is left in `store['out_tree']`."""

    def flat_fun(*flat_args):
        args, kwargs = tree_unflatten(in_tree, flat_args)
        out = fun(*args, **kwargs)
        leaves, out_tree = tree_flatten(out)
        store["out_tree"] = out_tree
        return leaves

    return flat_fun


def _flatten_fun_nokwargs(fun: Callable, in_tree, store: dict) -> Callable:
    def flat_fun(*flat_args):
        args = tree_unflatten(in_tree, flat_args)
        out = fun(*args)
        leaves, out_tree = tree_flatten(out)
        store["out_tree"] = out_tree
        return leaves

    return flat_fun


def _split_aux(fun: Callable, has_aux: bool, store: dict) -> Callable:
    if not has_aux:
        return fun

    def wrapped(*args, **kwargs):
        out = fun(*args, **kwargs)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(
                "has_aux=True requires the function to return a pair (output, auxiliary data), "
                f"got {type(out).__name__}."
            )
        store["aux"] = out[1]
        return out[0]

    return wrapped


def _normalize_argnums(argnums, nargs: int, fun_name: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    out = []
    for n in nums:
        if not isinstance(n, (int, np.integer)):
            raise TypeError(f"{fun_name}: argnums must be ints, got {n!r}")
        if not -nargs <= n < nargs:
            raise TypeError(
                f"{fun_name}: argnums={argnums} is out of range for a function called with "
                f"{nargs} positional argument(s)."
            )
        out.append(int(n) % nargs)
    return tuple(out)


def _with_dynamic_args(fun: Callable, args, kwargs, nums) -> Callable:
    """`fun` as a function of the arguments at positions `nums`, the others fixed."""

    def partial_fun(*dyn_args):
        full = list(args)
        for i, a in zip(nums, dyn_args):
            full[i] = a
        return fun(*full, **kwargs)

    return partial_fun


def _fun_name(fun) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


# ---------------------------------------------------------------------------------------------
# Forward mode


def jvp(fun: Callable, primals, tangents, has_aux: bool = False):
    """Evaluates `fun(*primals)` and its Jacobian applied to `tangents`.

    Args:
      fun: a function of arrays (pytrees allowed) returning arrays.
      primals, tangents: tuples (or lists) of arguments and tangents of the same structure.
    Returns:
      `(primals_out, tangents_out)`, plus `aux` when `has_aux=True`.
    Raises:
      TypeError: when primals and tangents differ in structure, shape or dtype.

    >>> hd.jvp(hd.numpy.sin, (0.0,), (1.0,))
    (Array(0., dtype=float32, weak_type=True), Array(1., dtype=float32, weak_type=True))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            "primal and tangent arguments to jvp must be tuples or lists; found "
            f"{type(primals).__name__} and {type(tangents).__name__}."
        )
    flat_p, tree_p = tree_flatten(tuple(primals))
    flat_t, tree_t = tree_flatten(tuple(tangents))
    if tree_p != tree_t:
        raise TypeError(
            "primal and tangent arguments to jvp must have the same tree structure; got "
            f"primal {tree_p} and tangent {tree_t}."
        )
    _check_arraylike("jvp", flat_p)
    flat_p = [_as_array(p) for p in flat_p]
    flat_t = [_check_tangent(p, t) for p, t in zip(flat_p, flat_t)]
    store: dict = {}
    flat_fun = _flatten_fun_nokwargs(_split_aux(fun, has_aux, store), tree_p, store)
    out_p, out_t = jvp_mod.jvp_flat(flat_fun, flat_p, flat_t)
    out_tree = store["out_tree"]
    result = (tree_unflatten(out_tree, out_p), tree_unflatten(out_tree, out_t))
    return result + (store["aux"],) if has_aux else result


def _check_tangent(p, t):
    p_aval = get_aval(p)
    t = _as_array(t)
    t_aval = get_aval(t)
    if p_aval.shape != t_aval.shape:
        raise ValueError(
            "jvp called with different primal and tangent shapes: primal "
            f"{p_aval.str_short()}, tangent {t_aval.str_short()}."
        )
    expected = jvp_mod.tangent_dtype(p_aval.dtype)
    if t_aval.dtype != expected:
        raise TypeError(
            "primal and tangent arguments to jvp do not match; dtypes must be equal, or in "
            "case of int/bool primal dtype the tangent dtype must be float0. Got primal dtype "
            f"{p_aval.dtype.name} and so expected tangent dtype {expected.name}, but got "
            f"tangent dtype {t_aval.dtype.name} instead."
        )
    return t


def linearize(fun: Callable, *primals, has_aux: bool = False):
    """Returns `fun(*primals)` and a function evaluating its JVP at `primals` (linear jaxpr)."""
    flat_p, in_tree = tree_flatten(primals)
    _check_arraylike("linearize", flat_p)
    flat_p = [_as_array(p) for p in flat_p]
    store: dict = {}
    flat_fun = _flatten_fun_nokwargs(_split_aux(fun, has_aux, store), in_tree, store)
    out_p, linear = partial_eval.linearize_flat(flat_fun, flat_p)
    out_tree = store["out_tree"]

    def f_jvp(*tangents):
        flat_t, t_tree = tree_flatten(tangents)
        if t_tree != in_tree:
            raise TypeError(f"linearized function expects tangents of structure {in_tree}, "
                            f"got {t_tree}")
        outs = eval_closed_jaxpr(linear, *[_as_array(t) for t in flat_t])
        return tree_unflatten(out_tree, outs)

    result = (tree_unflatten(out_tree, out_p), f_jvp)
    return result + (store["aux"],) if has_aux else result


# ---------------------------------------------------------------------------------------------
# Reverse mode


class _VJPFun:
    """The pullback of a vjp: applies the transposed linear jaxpr to output cotangents.

    Instances are static (hashable by identity); the residuals travel as the leaves of the
    `Partial` that wraps it, so a vjp function is a pytree and can be passed to `jit`.
    """

    def __init__(self, jaxpr, in_tree, out_tree, in_avals, out_avals):
        self.jaxpr = jaxpr
        self.in_tree = in_tree
        self.out_tree = out_tree
        self.in_avals = in_avals
        self.out_avals = out_avals

    def __call__(self, residuals, *cts):
        if len(cts) != 1:
            raise TypeError(
                f"The function returned by vjp takes one argument (the output cotangent, of the "
                f"structure of the primal output), but was called with {len(cts)}."
            )
        flat_ct, ct_tree = tree_flatten(cts[0])
        if ct_tree != self.out_tree:
            raise TypeError(
                "Tree structure of cotangent input does not match structure of primal output: "
                f"expected {self.out_tree}, got {ct_tree}."
            )
        flat_ct = [self._check_ct(c, a) for c, a in zip(flat_ct, self.out_avals)]
        args = [tr.UndefPrimal(a) for a in self.in_avals]
        cts_in = tr.backward_pass(self.jaxpr.jaxpr, residuals, args, flat_ct)
        cts_in = [_instantiate_ct(c, a) for c, a in zip(cts_in, self.in_avals)]
        return tree_unflatten(self.in_tree, cts_in)

    @staticmethod
    def _check_ct(ct, aval):
        ct = _as_array(ct)
        ct_aval = get_aval(ct)
        if ct_aval.shape != aval.shape:
            raise ValueError(
                f"Shape of cotangent input to vjp pullback function {ct_aval.shape} must be the "
                f"same as the shape of corresponding primal input {aval.shape}."
            )
        expected = jvp_mod.tangent_dtype(aval.dtype)
        if ct_aval.dtype != expected and not ct_aval.weak_type:
            raise ValueError(
                f"Type of cotangent input to vjp pullback function ({ct_aval.dtype.name}) is "
                f"not the expected tangent type ({expected.name}) of the corresponding primal "
                f"output with dtype {aval.dtype.name}."
            )
        if ct_aval.dtype != expected and expected != dtypes.float0:
            from hlodiff.prims.elementwise import convert_element_type

            ct = convert_element_type(ct, expected, aval.weak_type)
        return ct


def _instantiate_ct(ct, aval):
    t_aval = jvp_mod.tangent_aval(aval)
    if type(ct) is jvp_mod.Zero:
        return jvp_mod.zeros_like_aval(t_aval)
    ct_aval = get_aval(ct)
    if ct_aval.dtype != t_aval.dtype:
        if t_aval.dtype == dtypes.float0:
            return jvp_mod.zeros_like_aval(t_aval)
        from hlodiff.prims.elementwise import convert_element_type

        return convert_element_type(ct, t_aval.dtype, ct_aval.weak_type)
    return ct


def vjp(fun: Callable, *primals, has_aux: bool = False):
    """Evaluates `fun(*primals)` and returns a function pulling back output cotangents.

    Returns:
      `(primals_out, vjp_fun)` (plus `aux` when `has_aux=True`). `vjp_fun(ct)` returns a tuple
      with one cotangent per primal argument. `vjp_fun` is a pytree (a `Partial` holding the
      residuals), so it can be passed to or returned from `jit`-compiled functions.

    >>> y, f_vjp = hd.vjp(hd.numpy.sin, 0.0)
    >>> f_vjp(1.0)
    (Array(1., dtype=float32, weak_type=True),)
    """
    flat_p, in_tree = tree_flatten(primals)
    _check_arraylike("vjp", flat_p)
    flat_p = [_as_array(p) for p in flat_p]
    store: dict = {}
    flat_fun = _flatten_fun_nokwargs(_split_aux(fun, has_aux, store), in_tree, store)
    out_p, linear = partial_eval.linearize_flat(flat_fun, flat_p)
    out_tree = store["out_tree"]
    pullback = _VJPFun(linear, in_tree, out_tree, [get_aval(p) for p in flat_p],
                       [get_aval(o) for o in out_p])
    f_vjp = Partial(pullback, linear.consts)
    result = (tree_unflatten(out_tree, out_p), f_vjp)
    return result + (store["aux"],) if has_aux else result


def linear_transpose(fun: Callable, *primals, reduce_axes=()):
    """Transposes `fun`, which must be linear in its arguments (given by example or spec)."""
    flat_p, in_tree = tree_flatten(primals)
    in_avals = [get_aval(p) for p in flat_p]
    store: dict = {}
    flat_fun = _flatten_fun_nokwargs(fun, in_tree, store)
    _, _, jaxpr = partial_eval.partial_eval_flat(flat_fun, [False] * len(flat_p), flat_p)
    out_tree = store["out_tree"]
    out_avals = jaxpr.out_avals

    def transposed(*cts):
        flat_ct, ct_tree = tree_flatten(cts if len(cts) != 1 else cts[0])
        if ct_tree != out_tree:
            raise TypeError(f"linear_transpose expected cotangents of structure {out_tree}, "
                            f"got {ct_tree}")
        args = [tr.UndefPrimal(a) for a in in_avals]
        outs = tr.backward_pass(jaxpr.jaxpr, jaxpr.consts, args, [_as_array(c) for c in flat_ct])
        return tree_unflatten(in_tree, [_instantiate_ct(c, a) for c, a in zip(outs, in_avals)])

    del out_avals
    return transposed


def _check_grad_inputs(name, leaves, holomorphic, allow_int):
    for x in leaves:
        dtype = get_aval(x).dtype
        if holomorphic:
            if not dtypes.is_complex(dtype):
                raise TypeError(
                    f"{name} with holomorphic=True requires inputs with complex dtype, but got "
                    f"{dtype.name}."
                )
        elif not dtypes.is_inexact(dtype) and not allow_int:
            raise TypeError(
                f"{name} requires real- or complex-valued inputs (input dtype that is a sub-dtype "
                f"of np.inexact), but got {dtype.name}. If you want to use Boolean- or "
                "integer-valued inputs, use vjp or set allow_int to True."
            )


def _check_scalar_output(name, y, holomorphic):
    aval = get_aval(y)
    if aval.shape != ():
        raise TypeError(
            "Gradient only defined for scalar-output functions. Output had shape: "
            f"{aval.shape}."
        )
    if holomorphic:
        if not dtypes.is_complex(aval.dtype):
            raise TypeError(
                f"{name} with holomorphic=True requires outputs with complex dtype, but got "
                f"{aval.dtype.name}."
            )
    elif dtypes.is_complex(aval.dtype):
        raise TypeError(
            f"{name} requires real-valued outputs (output dtype that is a sub-dtype of "
            f"np.floating), but got {aval.dtype.name}. For holomorphic differentiation, pass "
            "holomorphic=True. For differentiation of non-holomorphic functions involving "
            "complex outputs, use vjp directly."
        )
    elif not dtypes.is_inexact(aval.dtype):
        raise TypeError(
            f"{name} requires real-valued outputs (output dtype that is a sub-dtype of "
            f"np.floating), but got {aval.dtype.name}."
        )


def value_and_grad(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False,
                   allow_int: bool = False) -> Callable:
    """Returns a function computing `fun`'s value and its gradient w.r.t. `argnums`.

    Raises:
      TypeError: for non-scalar or complex outputs (without `holomorphic=True`), for integer
        inputs (without `allow_int=True`), or for `argnums` out of range.
    """

    @functools.wraps(fun)
    def value_and_grad_f(*args, **kwargs):
        nums = _normalize_argnums(argnums, len(args), "grad")
        dyn = tuple(args[i] for i in nums)
        dyn_leaves = tree_util.tree_leaves(dyn)
        _check_arraylike("grad", dyn_leaves)
        _check_grad_inputs("grad", dyn_leaves, holomorphic, allow_int)

        partial_fun = _with_dynamic_args(fun, args, kwargs, nums)

        if has_aux:
            ans, f_vjp, aux = vjp(partial_fun, *dyn, has_aux=True)
        else:
            ans, f_vjp = vjp(partial_fun, *dyn)
        _check_scalar_output("grad", ans, holomorphic)
        aval = get_aval(ans)
        g = f_vjp(Array(np.ones((), aval.dtype), aval.weak_type))
        g = g[0] if isinstance(argnums, int) else g
        return ((ans, aux), g) if has_aux else (ans, g)

    return value_and_grad_f


def grad(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False,
         allow_int: bool = False) -> Callable:
    """Returns a function computing the gradient of scalar-valued `fun` w.r.t. `argnums`.

    >>> hd.grad(lambda x: x ** 2)(3.0)
    Array(6., dtype=float32, weak_type=True)
    """
    vg = value_and_grad(fun, argnums, has_aux, holomorphic, allow_int)

    @functools.wraps(fun)
    def grad_f(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return grad_f


# ---------------------------------------------------------------------------------------------
# Jacobians (vmap over a standard basis, as the spec explains)


def _std_basis(flat_avals):
    """An identity matrix split into one block per leaf: shape (total, *leaf_shape)."""
    sizes = [a.size for a in flat_avals]
    total = sum(sizes)
    dtype = dtypes.result_type(*[a.dtype for a in flat_avals]) if flat_avals else np.float32
    eye = np.eye(total, dtype=dtype)
    blocks, start = [], 0
    for a, n in zip(flat_avals, sizes):
        block = eye[:, start:start + n].reshape((total,) + a.shape).astype(a.dtype)
        blocks.append(Array(block, False))
        start += n
    return blocks, total


def _check_jac_inputs(name, leaves, holomorphic):
    for x in leaves:
        dtype = get_aval(x).dtype
        if holomorphic and not dtypes.is_complex(dtype):
            raise TypeError(f"{name} with holomorphic=True requires inputs with complex dtype, "
                            f"but got {dtype.name}.")
        if not holomorphic and not dtypes.is_inexact(dtype):
            raise TypeError(f"{name} requires real- or complex-valued inputs (input dtype that "
                            f"is a sub-dtype of np.inexact), but got {dtype.name}.")


def jacfwd(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False):
    """Jacobian by forward mode: `vmap` of `jvp` over the standard basis of the inputs.

    The result has, for each output leaf and each input leaf, shape `out_shape + in_shape`.
    """

    def jacfun(*args, **kwargs):
        nums = _normalize_argnums(argnums, len(args), "jacfwd")
        dyn = tuple(args[i] for i in nums)
        flat_dyn, dyn_tree = tree_flatten(dyn)
        _check_arraylike("jacfwd", flat_dyn)
        _check_jac_inputs("jacfwd", flat_dyn, holomorphic)
        flat_dyn = [_as_array(x) for x in flat_dyn]
        store: dict = {}

        def flat_fun(*flat_args):
            full = list(args)
            for i, a in zip(nums, tree_unflatten(dyn_tree, flat_args)):
                full[i] = a
            out = _split_aux(fun, has_aux, store)(*full, **kwargs)
            leaves, store["out_tree"] = tree_flatten(out)
            return leaves

        in_avals = [get_aval(x) for x in flat_dyn]
        basis, total = _std_basis(in_avals)

        def push(*tangents):
            return jvp_mod.jvp_flat(flat_fun, flat_dyn, list(tangents))

        n_out_holder = {}

        def batched(*tangents):
            outs, jac = push(*tangents)
            n_out_holder["n"] = len(outs)
            return list(outs) + list(jac)

        res = _vmap_flat_known(batched, basis, [0] * len(basis), total, n_out_holder)
        n = n_out_holder["n"]
        outs, jacs = res[:n], res[n:]
        result = _fwd_jac_tree(store["out_tree"], dyn_tree, jacs, in_avals,
                               [get_aval(o) for o in outs], isinstance(argnums, int))
        return (result, store["aux"]) if has_aux else result

    return jacfun


def _vmap_flat_known(fun, vals, dims, size, holder):
    """vmap whose first `holder['n']` outputs (primal values) are unmapped and whose others are
    batched along their last axis (so Jacobian blocks come out as out_shape + (total_in,))."""
    trace = batching.BatchTrace(core.current_trace(), size)
    tracers = [trace.maybe_tracer(v, d) for v, d in zip(vals, dims)]
    with core.set_current_trace(trace):
        outs = fun(*tracers)
    n = holder["n"]
    results = []
    for i, out in enumerate(outs):
        v, d = trace.to_val_dim(out)
        if i < n:
            results.append(v)
            continue
        ndim = get_aval(v).ndim + (d is batching.not_mapped)
        results.append(batching.move_batch_dim(v, d, ndim - 1, size))
    return results


def _fwd_jac_tree(out_tree, in_tree, jacs, in_avals, out_avals, single_arg):
    """Splits each (out_shape + (total_in,)) block into out_tree-of-in_tree Jacobians."""
    from hlodiff.prims import shape as sp

    per_out = []
    for jac, o_aval in zip(jacs, out_avals):
        blocks, start = [], 0
        axis = len(o_aval.shape)
        for a in in_avals:
            part = sp.slice_in_dim(jac, start, start + a.size, axis=axis)
            blocks.append(sp.reshape(part, o_aval.shape + a.shape))
            start += a.size
        inner = tree_unflatten(in_tree, blocks)
        per_out.append(inner[0] if single_arg else inner)
    return tree_unflatten(out_tree, per_out)


def jacrev(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False,
           allow_int: bool = False):
    """Jacobian by reverse mode: `vmap` of the `vjp` pullback over the standard basis of the
    outputs. The result has, per output leaf and input leaf, shape `out_shape + in_shape`."""

    def jacfun(*args, **kwargs):
        nums = _normalize_argnums(argnums, len(args), "jacrev")
        dyn = tuple(args[i] for i in nums)
        flat_dyn, dyn_tree = tree_flatten(dyn)
        _check_arraylike("jacrev", flat_dyn)
        _check_jac_inputs("jacrev", flat_dyn, holomorphic)

        partial_fun = _with_dynamic_args(fun, args, kwargs, nums)

        if has_aux:
            y, pullback, aux = vjp(partial_fun, *dyn, has_aux=True)
        else:
            y, pullback = vjp(partial_fun, *dyn)
        flat_y, out_tree = tree_flatten(y)
        out_avals = [get_aval(o) for o in flat_y]
        basis, total = _std_basis(out_avals)
        cts = tree_unflatten(out_tree, basis)
        jac = vmap(pullback)(cts)  # tuple over args; each (total_out, *in_shape)
        flat_jac, _ = tree_flatten(jac)
        in_avals = [get_aval(x) for x in flat_dyn]
        result = _rev_jac_tree(out_tree, dyn_tree, flat_jac, in_avals, out_avals,
                               isinstance(argnums, int))
        return (result, aux) if has_aux else result

    return jacfun


def _rev_jac_tree(out_tree, in_tree, flat_jac, in_avals, out_avals, single_arg):
    from hlodiff.prims import shape as sp

    per_out, start = [], 0
    for o_aval in out_avals:
        n = o_aval.size
        blocks = []
        for jac, a in zip(flat_jac, in_avals):
            part = sp.slice_in_dim(jac, start, start + n, axis=0)
            blocks.append(sp.reshape(part, o_aval.shape + a.shape))
        start += n
        inner = tree_unflatten(in_tree, blocks)
        per_out.append(inner[0] if single_arg else inner)
    return tree_unflatten(out_tree, per_out)


def hessian(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False):
    """`jacfwd(jacrev(fun))`: forward-over-reverse, usually the fastest composition."""
    return jacfwd(jacrev(fun, argnums, has_aux=has_aux, holomorphic=holomorphic), argnums,
                  has_aux=has_aux, holomorphic=holomorphic)


# ---------------------------------------------------------------------------------------------
# vmap


def vmap(fun: Callable, in_axes=0, out_axes=0, axis_name=None, axis_size=None,
         spmd_axis_name=None) -> Callable:
    """Vectorizes `fun` over a batch axis of its arguments.

    Args:
      in_axes: an int, None, or a pytree prefix of the positional arguments giving each
        argument's batch axis (None: not batched). Keyword arguments are batched on axis 0.
      out_axes: the same for the outputs.
      axis_size: the batch size when no argument is batched.
    Raises:
      ValueError: for inconsistent batch sizes, axes out of range, or in_axes that are not a
        tree prefix of the arguments.
    """
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    _check_axes_spec(in_axes, "in_axes")
    _check_axes_spec(out_axes, "out_axes")

    @functools.wraps(fun)
    def vmap_f(*args, **kwargs):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(
                "vmap in_axes must be an int, None, or a tuple of entries corresponding to the "
                f"positional arguments passed to the function, but got len(in_axes)="
                f"{len(in_axes)}, len(args)={len(args)}"
            )
        flat_args, in_tree = tree_flatten((args, kwargs))
        in_dims = _flat_in_axes(in_axes, args, kwargs)
        _check_arraylike("vmap", flat_args)
        flat_args = [_as_array(x) if d is not None else x for x, d in zip(flat_args, in_dims)]
        in_dims = [_canonical_axis(x, d, i) for i, (x, d) in enumerate(zip(flat_args, in_dims))]
        size = _batch_size(fun, flat_args, in_dims, axis_size, args, in_tree)
        store: dict = {}
        flat_fun = _flatten_fun(fun, in_tree, store)
        out_dims_holder: dict = {}

        def fun_with_out_dims(*xs):
            outs = flat_fun(*xs)
            out_dims_holder["dims"] = _flat_out_axes(out_axes, store["out_tree"])
            return outs

        trace = batching.BatchTrace(core.current_trace(), size, axis_name)
        tracers = [trace.maybe_tracer(v, d) for v, d in zip(flat_args, in_dims)]
        with core.set_current_trace(trace):
            outs = fun_with_out_dims(*tracers)
        results = []
        for out, od in zip(outs, out_dims_holder["dims"]):
            v, d = trace.to_val_dim(out)
            if od is not None:
                v = _as_array(v) if not isinstance(v, core.Tracer) else v
                od = od % (get_aval(v).ndim + (d is batching.not_mapped))
            results.append(batching.move_batch_dim(v, d, od, size))
        return tree_unflatten(store["out_tree"], results)

    return vmap_f


def _check_axes_spec(axes, name):
    for leaf in tree_util.tree_leaves(axes, is_leaf=lambda x: x is None):
        if leaf is not None and not isinstance(leaf, (int, np.integer)):
            raise TypeError(f"vmap {name} must be an int, None, or (nested) container with "
                            f"those types as leaves, but got {leaf!r}.")


def _flat_in_axes(in_axes, args, kwargs):
    try:
        dims = tree_util.broadcast_prefix((in_axes, 0), (args, kwargs),
                                          is_leaf=lambda x: x is None)
    except ValueError as e:
        raise ValueError(
            "vmap in_axes specification must be a tree prefix of the corresponding value, got "
            f"specification {in_axes} for value tree {tree_structure(args)}. {e}"
        ) from None
    return dims


def _flat_out_axes(out_axes, out_tree):
    dummy = tree_unflatten(out_tree, [0] * out_tree.num_leaves)
    try:
        return tree_util.broadcast_prefix(out_axes, dummy, is_leaf=lambda x: x is None)
    except ValueError as e:
        raise ValueError(
            "vmap out_axes specification must be a tree prefix of the corresponding value, got "
            f"specification {out_axes} for value tree {out_tree}. {e}"
        ) from None


def _canonical_axis(x, d, i):
    if d is None:
        return None
    ndim = get_aval(x).ndim
    if not -ndim <= d < ndim:
        raise ValueError(
            f"vmap was requested to map its argument along axis {d}, which implies that its "
            f"rank should be at least {d + 1 if d >= 0 else -d}, but is only {ndim} (its shape "
            f"is {get_aval(x).shape})"
        )
    return d % ndim


def _batch_size(fun, flat_args, in_dims, axis_size, args, in_tree):
    sizes = {get_aval(x).shape[d] for x, d in zip(flat_args, in_dims) if d is not None}
    if axis_size is not None:
        sizes.add(int(axis_size))
    if not sizes:
        raise ValueError(
            "vmap must have at least one non-None value in in_axes (or be given axis_size)")
    if len(sizes) > 1:
        lines = []
        for i, (x, d) in enumerate(zip(flat_args, in_dims)):
            if d is not None:
                lines.append(f"  * one axis had size {get_aval(x).shape[d]}: axis {d} of "
                             f"argument leaf {i} of type {get_aval(x).str_short()}")
        raise ValueError(
            "vmap got inconsistent sizes for array axes to be mapped:\n" + "\n".join(lines))
    return sizes.pop()


# ---------------------------------------------------------------------------------------------
# Staging


def make_jaxpr(fun: Callable, static_argnums=(), return_shape: bool = False):
    """Returns a function that gives the jaxpr of `fun` for the given example arguments.

    >>> print(hd.make_jaxpr(lambda x: x * 2.0)(1.0))
    { lambda ; a:f32[]. let b:f32[] = mul a 2.0 in (b,) }
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def make_jaxpr_f(*args, **kwargs):
        dyn_idx = [i for i in range(len(args)) if i not in static]
        dyn = tuple(args[i] for i in dyn_idx)
        flat, in_tree = tree_flatten((dyn, kwargs))
        _check_arraylike("make_jaxpr", flat)
        in_avals = [get_aval(x) for x in flat]
        store: dict = {}

        def flat_fun(*xs):
            d, kw = tree_unflatten(in_tree, xs)
            full = list(args)
            for i, a in zip(dyn_idx, d):
                full[i] = a
            out = fun(*full, **kw)
            leaves, store["out_tree"] = tree_flatten(out)
            return leaves

        closed = staging.trace_to_jaxpr(flat_fun, in_avals)
        if return_shape:
            shapes = [ShapeDtypeStruct(a.shape, a.dtype) for a in closed.out_avals]
            return closed, tree_unflatten(store["out_tree"], shapes)
        return closed

    return make_jaxpr_f


class ShapeDtypeStruct:
    """A shape and dtype standing in for an array (for `eval_shape`, `jit(...).lower`, export)."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape, dtype, weak_type: bool = False):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = dtypes.canonicalize_dtype(dtype)
        self.weak_type = weak_type

    @property
    def aval(self):
        return ShapedArray(self.shape, self.dtype, self.weak_type)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self):
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name}{weak})"

    def __eq__(self, other):
        return (isinstance(other, ShapeDtypeStruct) and self.shape == other.shape
                and self.dtype == other.dtype and self.weak_type == other.weak_type)

    def __hash__(self):
        return hash((self.shape, self.dtype, self.weak_type))


def eval_shape(fun: Callable, *args, **kwargs):
    """Output shapes and dtypes of `fun(*args)` as `ShapeDtypeStruct`s, without computing it."""
    flat, in_tree = tree_flatten((args, kwargs))
    _check_arraylike("eval_shape", flat)
    in_avals = [get_aval(x) for x in flat]
    store: dict = {}
    closed = staging.trace_to_jaxpr(_flatten_fun(fun, in_tree, store), in_avals)
    shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in closed.out_avals]
    return tree_unflatten(store["out_tree"], shapes)


__all__ = [
    "jvp", "linearize", "vjp", "linear_transpose", "grad", "value_and_grad", "jacfwd", "jacrev",
    "hessian", "vmap", "make_jaxpr", "eval_shape", "ShapeDtypeStruct",
]
