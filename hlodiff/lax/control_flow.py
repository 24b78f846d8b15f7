"""Structured control flow, as `jax.lax`: `cond`, `switch`, `while_loop`, `fori_loop`, `scan`, `map`.

Each wrapper traces the user's functions to jaxprs (once, with abstract values), checks that
branch outputs or loop carries agree in structure and type, and binds a primitive of
`hlodiff/prims/control_flow.py`. Values the functions close over become explicit operands, so
the nested jaxprs print without constants, as JAX's do.

    >>> lax.cond(x > 0, lambda x: x, lambda x: -x, x)
    >>> lax.fori_loop(0, 10, lambda i, acc: acc + i, 0)
    >>> lax.scan(lambda c, x: (c + x, c), 0.0, hnp.arange(3.0))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import numpy as np

from hlodiff import core, dtypes
from hlodiff.core import get_aval
from hlodiff.errors import ConcretizationTypeError
from hlodiff.ir import ClosedJaxpr, Jaxpr, Var
from hlodiff.prims import elementwise as _ew
from hlodiff.prims.control_flow import cond_p, scan_p, while_p
from hlodiff.transforms.staging import concrete_consts_to_invars, trace_to_jaxpr
from hlodiff.tree_util import (
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_map,
    tree_structure,
    tree_unflatten,
)

_no_operand = object()


# ---------------------------------------------------------------------------------------------
# Tracing the user's functions


def _avals(leaves) -> list:
    return [get_aval(x) for x in leaves]


def _trace(fun: Callable, in_tree, in_avals, check_out: Callable | None = None):
    """Traces `fun(*args)` (args rebuilt from `in_tree`) to a jaxpr without constants.

    Returns `(jaxpr, consts, out_tree)`: the closed-over values (concrete arrays and tracers of
    enclosing transformations) are the jaxpr's leading inputs, `consts`.
    """
    store: dict = {}

    def flat_fun(*leaves):
        out = fun(*tree_unflatten(in_tree, leaves))
        if check_out is not None:
            check_out(out)
        out_leaves, store["tree"] = tree_flatten(out)
        return out_leaves

    closed = trace_to_jaxpr(flat_fun, in_avals)
    jaxpr, consts = concrete_consts_to_invars(closed)
    return jaxpr, consts, store["tree"]


def _merge_consts(jaxprs, consts_lists):
    """One const list for several jaxprs: each takes all of them, ignoring the others' ones."""
    position: dict = {}
    merged: list = []
    for consts in consts_lists:
        for c in consts:
            if id(c) not in position:
                position[id(c)] = len(merged)
                merged.append(c)
    out = []
    for closed, consts in zip(jaxprs, consts_lists):
        j = closed.jaxpr
        invars = [Var(get_aval(c)) for c in merged]
        for v, c in zip(j.invars, consts):
            invars[position[id(c)]] = v
        new = Jaxpr(j.constvars, invars + j.invars[len(consts):], j.outvars, j.eqns)
        out.append(ClosedJaxpr(new, closed.consts))
    return out, merged


# ---------------------------------------------------------------------------------------------
# Messages (JAX's wording)


def _fun_info(fun) -> str:
    name = getattr(fun, "__name__", type(fun).__name__)
    code = getattr(fun, "__code__", None)
    return f"{name} at {code.co_filename}:{code.co_firstlineno}" if code else name


def _type_str(aval, weak: bool = False) -> str:
    tilde = "~" if weak and aval.weak_type else ""
    return f"{tilde}{aval.dtype.name}[{','.join(str(d) for d in aval.shape)}]"


def _typematch(a, b) -> bool:
    """Same shape and dtype; weak types may differ (JAX's `core.typematch`)."""
    return a.shape == b.shape and a.dtype == b.dtype


def _mismatch_extra(a, b) -> str:
    what = []
    if a.dtype != b.dtype:
        what.append("the dtypes do not match")
    if a.shape != b.shape:
        what.append("the shapes do not match")
    return ", so " + " and ".join(what) if what else ""


def _tree_diffs(t1, t2, path: str = "") -> list[tuple[str, str, str, str]]:
    """Where two structures differ: (key path, what the first has, what the second has, why)."""
    n1, n2 = t1.node_data(), t2.node_data()
    if n1 is None and n2 is None:
        return []
    kind = lambda n: "pytree leaf" if n is None else str(n[0])
    if n1 is None or n2 is None or n1[0] is not n2[0]:
        return [(path, kind(n1), kind(n2), "their Python types differ")]
    c1, c2 = t1.children(), t2.children()
    if n1[0] in (tuple, list) and len(c1) != len(c2):
        return [(path, f"{kind(n1)} of length {len(c1)}", f"{kind(n2)} of length {len(c2)}",
                 "the lengths do not match")]
    if n1[1] != n2[1]:
        return [(path, f"{kind(n1)} with pytree metadata {_meta(n1[1])}",
                 f"{kind(n2)} with pytree metadata {_meta(n2[1])}",
                 "the pytree node metadata does not match")]
    keys = n1[1] if isinstance(n1[1], list) else range(len(c1))
    diffs = []
    for k, a, b in zip(keys, c1, c2):
        diffs += _tree_diffs(a, b, f"{path}[{k!r}]")
    return diffs


def _meta(aux):
    return tuple(aux) if isinstance(aux, list) else aux


def _bullets(diffs: list[str]) -> str:
    if len(diffs) == 1:
        return diffs[0][0].upper() + diffs[0][1:] + ".\n"
    return "\n".join(f"  * {d};" for d in diffs[:-1]) + f"\n  * {diffs[-1]}.\n"


def _leaf_paths(tree) -> list[str]:
    pairs, _ = tree_flatten_with_path(tree_unflatten(tree, [0] * tree.num_leaves))
    return [keystr(p) for p, _ in pairs]


def _check_branch_outputs(api: str, name1, name2, f1, f2, tree1, avals1, tree2, avals2):
    header = f"{name1} is {_fun_info(f1)}\n{name2} is {_fun_info(f2)}\n\n"
    at = lambda p: f" at path {p}" if p else ""
    if tree1 != tree2:
        diffs = [f"{name1} output{at(p)} is a {a} but {name2} output{at(p)} is a {b}, so {why}"
                 for p, a, b, why in _tree_diffs(tree1, tree2)]
        raise TypeError(
            f"{api} branch outputs must have the same pytree structure, but they differ:\n\n"
            f"{header}{_bullets(diffs)}\n"
            f"Revise {name1} and/or {name2} so that they have the same pytree structure.")
    diffs = [f"the output of {name1}{at(p)} has type {_type_str(a)} but the corresponding "
             f"output of {name2} has type {_type_str(b)}{_mismatch_extra(a, b)}"
             for p, a, b in zip(_leaf_paths(tree1), avals1, avals2) if not _typematch(a, b)]
    if diffs:
        raise TypeError(
            f"{api} branches must have equal output types but they differ.\n\n"
            f"{header}{_bullets(diffs)}\n"
            f"Revise {name1} and/or {name2} so that all output types match.")


def _carry_name(body_fun) -> str | None:
    try:
        params = list(inspect.signature(body_fun).parameters)
    except (TypeError, ValueError):
        return None
    return params[0] if params else None


def _check_carry_structure(name: str, body_fun, in_tree, out_tree) -> None:
    if in_tree == out_tree:
        return
    component = _carry_component(body_fun)
    diffs = [f"{component(p)} is a {a} but the corresponding component of the carry output is "
             f"a {b}, so {why}" for p, a, b, why in _tree_diffs(in_tree, out_tree)]
    raise TypeError(
        f"{name} function carry input and carry output must have the same pytree structure, "
        f"but they differ:\n\n{_bullets(diffs)}\n"
        "Revise the function so that the carry output has the same pytree structure as the "
        "carry input.")


def _check_carry_types(name: str, body_fun, in_tree, in_avals, out_avals) -> None:
    component = _carry_component(body_fun)
    diffs = [f"{component(p)} has type {_type_str(a)} but the corresponding output carry "
             f"component has type {_type_str(b)}{_mismatch_extra(a, b)}"
             for p, a, b in zip(_leaf_paths(in_tree), in_avals, out_avals)
             if not _typematch(a, b)]
    if diffs:
        raise TypeError(
            f"{name} function carry input and carry output must have equal types, but they "
            f"differ:\n\n{_bullets(diffs)}\n"
            "Revise the function so that all output types match the corresponding input types.")


def _carry_component(body_fun):
    carry = _carry_name(body_fun)
    if carry:
        return lambda p: (f"the input carry component {carry}{p}" if p
                          else f"the input carry {carry}")
    return lambda p: f"the input carry at path {p}" if p else "the input carry"


def _promote_weak_inputs(vals, in_avals, out_avals):
    """A weakly typed init (a Python scalar, say) takes the type the loop body gives it."""
    new, changed = [], False
    for x, a, b in zip(vals, in_avals, out_avals):
        if a.weak_type and not _typematch(a, b):
            x = _ew.convert_element_type(x, dtypes.result_type(x, b))
            changed = True
        new.append(x)
    return new, changed


# ---------------------------------------------------------------------------------------------
# cond / switch


def cond(pred, true_fun: Callable, false_fun: Callable, *operands, operand=_no_operand):
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)`; both are traced.

    Args:
      pred: a boolean (or number, compared with 0) scalar.
      true_fun, false_fun: functions of `operands` returning the same structure and types.
      operands: arrays or pytrees of arrays.
    Returns:
      The output of the branch `pred` selects. Under `vmap` with a batched `pred`, both
      branches run and the results are selected per element (as JAX does).
    Raises:
      TypeError: for a non-scalar or non-numeric `pred`, or branches whose outputs differ.

    >>> lax.cond(True, lambda x: x + 1.0, lambda x: x - 1.0, 1.0)
    Array(2., dtype=float32, weak_type=True)
    """
    if not (callable(true_fun) and callable(false_fun)):
        if callable(false_fun) and len(operands) == 2 and callable(operands[1]):
            x_true, f_true, x_false, f_false = true_fun, false_fun, *operands
            return cond(pred, lambda x, _: f_true(x), lambda _, x: f_false(x), x_true, x_false)
        raise TypeError("lax.cond: true_fun and false_fun arguments should be callable.")
    operands = _single_operand(operands, operand)
    if pred is None:
        raise TypeError("cond predicate is None")
    if isinstance(pred, Sequence) or np.ndim(pred) != 0:
        raise TypeError(f"Pred must be a scalar, got {pred} of " + (
            f"type {type(pred)}" if isinstance(pred, Sequence) else f"shape {np.shape(pred)}."))
    try:
        pred_dtype = dtypes.result_type(pred)
    except TypeError as err:
        raise TypeError(f"Pred type must be either boolean or number, got {pred}.") from err
    if pred_dtype.kind != "b":
        if pred_dtype.kind not in "iuf":
            raise TypeError(f"Pred type must be either boolean or number, got {pred_dtype}.")
        pred = pred != 0
    leaves, in_tree = tree_flatten(operands)
    avals = _avals(leaves)
    true_j, true_c, true_tree = _trace(true_fun, in_tree, avals)
    false_j, false_c, false_tree = _trace(false_fun, in_tree, avals)
    _check_branch_outputs("cond", "true_fun", "false_fun", true_fun, false_fun,
                          true_tree, true_j.out_avals, false_tree, false_j.out_avals)
    (false_j, true_j), consts = _merge_consts([false_j, true_j], [false_c, true_c])
    index = _ew.convert_element_type(pred, np.int32)
    outs = cond_p.bind(index, *consts, *leaves, branches=(false_j, true_j))
    return tree_unflatten(true_tree, outs)


def switch(index, branches: Sequence[Callable], *operands, operand=_no_operand):
    """`branches[clamp(index, 0, len(branches) - 1)](*operands)`; every branch is traced.

    >>> lax.switch(1, [lambda x: x, lambda x: 2 * x], 3.0)
    Array(6., dtype=float32, weak_type=True)
    """
    if not all(callable(b) for b in branches):
        raise TypeError("lax.switch: branches argument should be a sequence of callables.")
    operands = _single_operand(operands, operand)
    if np.ndim(index) != 0:
        raise TypeError(f"Branch index must be scalar, got {index} of shape {np.shape(index)}.")
    try:
        index_dtype = dtypes.result_type(index)
    except TypeError as err:
        raise TypeError(f"Index type must be an integer, got {index}.") from err
    if index_dtype.kind not in "iu":
        raise TypeError(f"Index type must be an integer, got {index} as {index_dtype}")
    branches = tuple(branches)
    if not branches:
        raise ValueError("Empty branch sequence")
    if len(branches) == 1:
        return branches[0](*operands)
    leaves, in_tree = tree_flatten(operands)
    avals = _avals(leaves)
    traced = [_trace(b, in_tree, avals) for b in branches]
    j0, _, tree0 = traced[0]
    for i, (j, _, tree) in enumerate(traced[1:]):
        _check_branch_outputs("switch", "branch 0", f"branch{i + 1}", branches[0],
                              branches[i + 1], tree0, j0.out_avals, tree, j.out_avals)
    jaxprs, consts = _merge_consts([t[0] for t in traced], [t[1] for t in traced])
    index = _ew.convert_element_type(index, np.int32)
    index = _ew.clamp(np.array(0, np.int32), index, np.array(len(branches) - 1, np.int32))
    outs = cond_p.bind(index, *consts, *leaves, branches=tuple(jaxprs))
    return tree_unflatten(tree0, outs)


def _single_operand(operands, operand):
    if operand is _no_operand:
        return operands
    if operands:
        raise TypeError("if 'operand' keyword is passed then no positional operands can be "
                        f"passed, got operand={operand} and positional operands {operands}")
    return (operand,)


# ---------------------------------------------------------------------------------------------
# while_loop / fori_loop


def while_loop(cond_fun: Callable, body_fun: Callable, init_val):
    """`val = init_val; while cond_fun(val): val = body_fun(val); return val`, as one primitive.

    The carry keeps one structure, shape and dtype across iterations. Forward-mode
    differentiation works; reverse mode does not (use `scan`, or `fori_loop` with static
    bounds), as in JAX.

    >>> lax.while_loop(lambda i: i < 10, lambda i: i + 1, 0)
    Array(10, dtype=int32, weak_type=True)
    """
    if not (callable(body_fun) and callable(cond_fun)):
        raise TypeError("lax.while_loop: body_fun and cond_fun arguments should be callable.")
    init, in_tree = tree_flatten(init_val)
    in_avals = _avals(init)
    cond_j, cond_c, body_j, body_c = _while_jaxprs(cond_fun, body_fun, in_tree, in_avals)
    init, changed = _promote_weak_inputs(init, in_avals, body_j.out_avals)
    if changed:
        in_avals = _avals(init)
        cond_j, cond_c, body_j, body_c = _while_jaxprs(cond_fun, body_fun, in_tree, in_avals)
    _check_carry_types("while_loop body", body_fun, in_tree, in_avals, body_j.out_avals)
    outs = while_p.bind(*cond_c, *body_c, *init, cond_jaxpr=cond_j, body_jaxpr=body_j,
                        cond_nconsts=len(cond_c), body_nconsts=len(body_c))
    return tree_unflatten(in_tree, outs)


def _while_jaxprs(cond_fun, body_fun, in_tree, in_avals):
    carry_tree = tree_structure((tree_unflatten(in_tree, [0] * in_tree.num_leaves),))
    cond_j, cond_c, cond_tree = _trace(cond_fun, carry_tree, in_avals)
    body_j, body_c, body_tree = _trace(body_fun, carry_tree, in_avals)
    if cond_tree.node_data() is not None or len(cond_j.out_avals) != 1:
        raise TypeError(f"cond_fun must return a boolean scalar, but got pytree {cond_tree}.")
    pred = cond_j.out_avals[0]
    if pred.shape != () or pred.dtype != np.bool_:
        raise TypeError("cond_fun must return a boolean scalar, but got output type(s) "
                        f"[{pred!r}].")
    _check_carry_structure("while_loop body", body_fun, in_tree, body_tree)
    return cond_j, cond_c, body_j, body_c


def fori_loop(lower, upper, body_fun: Callable, init_val, *, unroll: int | bool | None = None):
    """`for i in range(lower, upper): val = body_fun(i, val)`.

    With concrete (static) bounds this is a `scan`, so reverse-mode differentiation works; with
    traced bounds it is a `while_loop` (forward mode only), as in JAX.

    >>> lax.fori_loop(0, 4, lambda i, acc: acc + i, 0)
    Array(6, dtype=int32, weak_type=True)
    """
    if not callable(body_fun):
        raise TypeError("lax.fori_loop: body_fun argument should be callable.")
    dtype = _fori_index_dtype(lower, upper)
    lo, hi = core.concrete_value(lower), core.concrete_value(upper)
    if lo is not None and hi is not None:
        lower_, upper_ = int(lo), int(hi)

        def scanned(carry, _):
            i, x = carry
            return (i + 1, body_fun(i, x)), None

        (_, result), _ = scan(scanned, (lower_, init_val), None,
                              length=max(upper_ - lower_, 0),
                              unroll=False if unroll is None else unroll)
        return result
    if unroll is not None and unroll is not False and unroll != 1:
        raise ValueError("Can only use `unroll` in `fori_loop` if the loop bounds are "
                         "statically known.")
    lower = _ew.convert_element_type(lower, dtype, dtypes.is_weakly_typed(lower)) \
        if dtypes.dtype(lower) != dtype else lower
    upper = _ew.convert_element_type(upper, dtype, dtypes.is_weakly_typed(upper)) \
        if dtypes.dtype(upper) != dtype else upper

    def body(carry):
        i, stop, x = carry
        return i + 1, stop, body_fun(i, x)

    _, _, result = while_loop(lambda carry: carry[0] < carry[1], body, (lower, upper, init_val))
    return result


def _fori_index_dtype(lower, upper):
    lower_dtype, upper_dtype = dtypes.dtype(lower), dtypes.dtype(upper)
    if lower_dtype == upper_dtype:
        return lower_dtype
    if dtypes.issubdtype(lower_dtype, np.signedinteger) and dtypes.issubdtype(
            upper_dtype, np.signedinteger):
        lower_weak, upper_weak = dtypes.is_weakly_typed(lower), dtypes.is_weakly_typed(upper)
        if lower_weak and not upper_weak:
            return upper_dtype
        if upper_weak and not lower_weak:
            return lower_dtype
    raise TypeError("lower and upper arguments to fori_loop must have equal types, got "
                    f"{lower_dtype.name} and {upper_dtype.name}")


# ---------------------------------------------------------------------------------------------
# scan / map


def scan(f: Callable, init, xs=None, length: int | None = None, reverse: bool = False,
         unroll: int | bool = 1, _split_transpose: bool = False):
    """Scans `f: (carry, x) -> (carry, y)` over the leading axis of `xs`.

    Semantics (`xs`, `ys` may be pytrees; `ys` are stacked along a new leading axis)::

        carry, ys = init, []
        for x in (reversed(xs) if reverse else xs):
            carry, y = f(carry, x)
            ys.append(y)
        return carry, stack(ys if not reverse else ys[::-1])

    Args:
      f: the body; its carry output must match `init` in structure, shape and dtype.
      init: the initial carry.
      xs: values to scan over (None: nothing, then `length` is required).
      length: the number of iterations; must agree with the leading axis of `xs`.
      reverse: iterate from the end (outputs keep their positions).
      unroll: accepted for compatibility (a bool or non-negative int); the loop is not unrolled.
    Returns:
      `(final_carry, stacked_ys)`.

    >>> lax.scan(lambda c, x: (c + x, c), 0.0, hnp.arange(3.0))
    (Array(3., dtype=float32), Array([0., 0., 1.], dtype=float32, weak_type=True))
    """
    if not callable(f):
        raise TypeError("lax.scan: f argument should be a callable.")
    init_flat, init_tree = tree_flatten(init)
    xs_flat, xs_tree = tree_flatten(xs)
    length = _infer_scan_length(xs_flat, length)
    unroll = _scan_unroll(unroll, length)
    init_avals = _avals(init_flat)
    x_avals = [a.update(shape=a.shape[1:]) for a in _avals(xs_flat)]
    jaxpr, consts, carry_tree, ys_tree = _scan_jaxpr(f, init_tree, xs_tree, init_avals, x_avals)
    _check_carry_structure("scan body", f, init_tree, carry_tree)
    num_carry = len(init_flat)
    init_flat, changed = _promote_weak_inputs(init_flat, init_avals,
                                              jaxpr.out_avals[:num_carry])
    if changed:
        init_avals = _avals(init_flat)
        jaxpr, consts, carry_tree, ys_tree = _scan_jaxpr(f, init_tree, xs_tree, init_avals,
                                                         x_avals)
    _check_carry_types("scan body", f, init_tree, init_avals, jaxpr.out_avals[:num_carry])
    outs = scan_p.bind(*consts, *init_flat, *xs_flat, jaxpr=jaxpr, length=length,
                       reverse=bool(reverse), num_consts=len(consts), num_carry=num_carry,
                       unroll=unroll)
    return tree_unflatten(init_tree, outs[:num_carry]), tree_unflatten(ys_tree,
                                                                       outs[num_carry:])


def _scan_jaxpr(f, init_tree, xs_tree, init_avals, x_avals):
    trees: dict = {}

    def body(carry, x):
        out = f(carry, x)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            shown = tree_map(lambda leaf: _type_str(get_aval(leaf), weak=True), out)
            raise TypeError(f"scan body output must be a pair, got {shown}.")
        trees["carry"] = tree_structure(out[0])
        trees["ys"] = tree_structure(out[1])
        return out

    in_tree = tree_structure((tree_unflatten(init_tree, [0] * init_tree.num_leaves),
                              tree_unflatten(xs_tree, [0] * xs_tree.num_leaves)))
    jaxpr, consts, _ = _trace(body, in_tree, list(init_avals) + list(x_avals))
    return jaxpr, consts, trees["carry"], trees["ys"]


def _infer_scan_length(xs_flat, length) -> int:
    for x in xs_flat:
        if not get_aval(x).shape:
            raise ValueError(f"scan got value with no leading axis to scan over: {x}.")
    lengths = [get_aval(x).shape[0] for x in xs_flat]
    if length is not None:
        try:
            length = int(length)
        except ConcretizationTypeError:
            raise ConcretizationTypeError(
                length, "The `length` argument to `scan` expects a concrete `int` value. For "
                "scan-like iteration with a dynamic length, use `while_loop` or "
                "`fori_loop`.") from None
        if any(n != length for n in lengths):
            raise ValueError(f"scan got `length` argument of {length} which disagrees with "
                             f"leading axis sizes {lengths}.")
        return length
    if len(set(lengths)) > 1:
        raise ValueError("scan got values with different leading axis sizes: "
                         f"{', '.join(str(n) for n in lengths)}.")
    if not lengths:
        raise ValueError("scan got no values to scan over and `length` not provided.")
    return lengths[0]


def _scan_unroll(unroll, length: int) -> int:
    value = core.concrete_value(unroll)
    if value is None:
        raise ConcretizationTypeError(
            unroll, "The `unroll` argument to `scan` expects a concrete `int` or `bool` value.")
    if isinstance(unroll, bool):
        return max(length, 1) if unroll else 1
    if int(value) < 0:
        raise ValueError("`unroll` must be a `bool` or a non-negative `int`.")
    return int(value)


def map(f: Callable, xs, *, batch_size: int | None = None):
    """`stack([f(x) for x in xs])` as a `scan`; with `batch_size`, `vmap` over chunks.

    >>> lax.map(lambda x: x * 2.0, hnp.arange(3.0))
    Array([0., 2., 4.], dtype=float32)
    """
    if batch_size is None:
        _, ys = scan(lambda _, x: ((), f(x)), (), xs)
        return ys
    from hlodiff.api import vmap

    scan_xs, remainder_xs = _batch_and_remainder(xs, batch_size)
    scan_ys = remainder_ys = None
    if scan_xs is not None:
        _, scan_ys = scan(lambda _, x: ((), vmap(f)(x)), (), scan_xs)
        scan_ys = tree_map(_merge_leading, scan_ys)
    if remainder_xs is not None:
        remainder_ys = vmap(f)(remainder_xs)
    if scan_ys is None:
        return remainder_ys
    if remainder_ys is None:
        return scan_ys
    from hlodiff.prims.shape import concatenate

    return tree_map(lambda a, b: concatenate([a, b], 0), scan_ys, remainder_ys)


def _merge_leading(x):
    from hlodiff.prims.shape import reshape

    shape = get_aval(x).shape
    return reshape(x, (shape[0] * shape[1],) + shape[2:])


def _batch_and_remainder(xs, batch_size: int):
    from hlodiff.prims.shape import reshape, slice_in_dim

    leaves, tree = tree_flatten(xs)
    if not leaves:
        return xs, None
    n = get_aval(leaves[0]).shape[0]
    num_batches, remainder = (0, n) if batch_size == 0 else divmod(n, batch_size)
    used = num_batches * batch_size

    def batched(x):
        shape = get_aval(x).shape
        return reshape(slice_in_dim(x, 0, used), (num_batches, batch_size) + shape[1:])

    scan_xs = tree_unflatten(tree, [batched(x) for x in leaves]) if num_batches else None
    rest = tree_unflatten(tree, [slice_in_dim(x, used, n) for x in leaves]) if remainder \
        else None
    return scan_xs, rest


__all__ = ["cond", "fori_loop", "map", "scan", "switch", "while_loop"]
