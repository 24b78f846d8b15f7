"""`checkpoint` (alias `remat`): trade compute for memory in reverse mode, as `jax.checkpoint`.

    f = hd.checkpoint(lambda x: hnp.sin(hnp.sin(x)))
    hd.grad(f)(1.0)     # the backward pass recomputes sin(x) instead of storing cos(x), ...

The function is traced once per call to a jaxpr and bound as the `checkpoint` primitive
(`hlodiff/prims/remat.py`). Differentiating it saves only its inputs for the backward pass, plus
the values a `policy` (from `checkpoint_policies`) calls saveable.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Sequence

from hlodiff.core import get_aval
from hlodiff.prims.linalg import dot_general_p
from hlodiff.prims.remat import checkpoint_p
from hlodiff.transforms.staging import concrete_consts_to_invars, trace_to_jaxpr
from hlodiff.tree_util import tree_flatten, tree_unflatten

# ---------------------------------------------------------------------------------------------
# Policies: `policy(prim, *avals, **params) -> bool`, whether an equation's outputs may be saved


def everything_saveable(*_, **__) -> bool:
    """Save every residual: no recomputation (as if there were no checkpoint)."""
    return True


def nothing_saveable(*_, **__) -> bool:
    """Save only the checkpointed function's inputs; recompute everything else (the default)."""
    return False


def dots_saveable(prim, *_, **__) -> bool:
    """Save the results of matrix products (`dot_general`); recompute the rest."""
    return prim is dot_general_p


def dots_with_no_batch_dims_saveable(prim, *_, **params) -> bool:
    """Save the results of `dot_general`s without batch dimensions; recompute the rest."""
    if prim is not dot_general_p:
        return False
    (_, _), (lhs_batch, rhs_batch) = params["dimension_numbers"]
    return not lhs_batch and not rhs_batch


checkpoint_policies = types.SimpleNamespace(
    everything_saveable=everything_saveable,
    nothing_saveable=nothing_saveable,
    dots_saveable=dots_saveable,
    checkpoint_dots=dots_saveable,
    dots_with_no_batch_dims_saveable=dots_with_no_batch_dims_saveable,
    checkpoint_dots_with_no_batch_dims=dots_with_no_batch_dims_saveable,
)


# ---------------------------------------------------------------------------------------------
# The transformation


def checkpoint(fun: Callable, *, prevent_cse: bool = True, policy: Callable | None = None,
               static_argnums: int | Sequence[int] = ()) -> Callable:
    """Makes `fun` recompute its intermediate values in the backward pass instead of storing
    them (JAX's `jax.checkpoint`, also called `remat`).

    Args:
      fun: a function of arrays (pytrees allowed; keyword arguments too) returning arrays.
      prevent_cse: keep the compiler from merging the recomputation with the forward pass
        (under `jit`, an optimization barrier on the checkpoint's inputs).
      policy: which intermediate values may be saved after all, e.g.
        `checkpoint_policies.dots_saveable`; None saves nothing but the inputs.
      static_argnums: positions of arguments that are not arrays (Python values the function
        branches on); they are passed to `fun` as they are.
    Returns:
      A function with `fun`'s signature and values.
    Raises:
      TypeError: for an argument that is not an array and not marked static.

    >>> f = hd.checkpoint(lambda x: hnp.sin(hnp.sin(x)))
    >>> hd.grad(f)(1.0)
    Array(0.36003947, dtype=float32, weak_type=True)
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    static_argnums = tuple(static_argnums)

    @functools.wraps(fun)
    def fun_remat(*args, **kwargs):
        static = _static_positions(static_argnums, len(args))
        dyn = tuple(a for i, a in enumerate(args) if i not in static)
        leaves, in_tree = tree_flatten((dyn, kwargs))
        avals = [_arg_aval(x, fun) for x in leaves]
        store: dict = {}

        def flat_fun(*xs):
            dyn_args, kw = tree_unflatten(in_tree, xs)
            it = iter(dyn_args)
            full = [args[i] if i in static else next(it) for i in range(len(args))]
            out_leaves, store["tree"] = tree_flatten(fun(*full, **kw))
            return out_leaves

        jaxpr, consts = concrete_consts_to_invars(trace_to_jaxpr(flat_fun, avals))
        outs = checkpoint_p.bind(*consts, *leaves, jaxpr=jaxpr, prevent_cse=prevent_cse,
                                 differentiated=False, policy=policy)
        return tree_unflatten(store["tree"], outs)

    return fun_remat


remat = checkpoint


def _static_positions(static_argnums, nargs: int) -> set:
    positions = set()
    for i in static_argnums:
        if not -nargs <= i < nargs:
            raise ValueError(f"checkpoint: static_argnums {i} is out of range for a call with "
                             f"{nargs} positional arguments.")
        positions.add(i % nargs)
    return positions


def _arg_aval(x, fun):
    try:
        return get_aval(x)
    except TypeError:
        name = getattr(fun, "__name__", repr(fun))
        raise TypeError(
            f"checkpoint of {name}: argument {x!r:.60} of type {type(x).__name__} is not a valid "
            "array type. Pass non-array arguments as static with "
            "`checkpoint(fun, static_argnums=...)`."
        ) from None


__all__ = ["checkpoint", "checkpoint_policies", "remat"]
