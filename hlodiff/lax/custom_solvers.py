"""`lax.custom_root` and `lax.custom_linear_solve`: solvers differentiated implicitly, as JAX's.

Neither differentiates *through* the solver's iterations (which may be a `while_loop`, which
reverse mode cannot go through): derivatives come from the equation the solution satisfies.

- `custom_root(f, x0, solve, tangent_solve)`: x* = solve(f, x0) with f(x*) = 0. By the implicit
  function theorem, for parameters p that f closes over, dx* = -(df/dx)^{-1} (df/dp dp), where
  `tangent_solve(g, y)` solves the linear system g(x) = y with g = df/dx at x*. Written on
  `custom_jvp`, so reverse mode is the transposed rule.
- `custom_linear_solve(matvec, b, solve, transpose_solve)`: x = solve(matvec, b) with
  matvec(x) = b. A primitive (`custom_linear_solve` in hlodiff/prims/remat.py): its JVP is
  another solve, and its transpose solves the transposed system with `transpose_solve`.

    >>> def newton_sqrt(a):
    ...     f = lambda x: x ** 2 - a
    ...     solve = lambda f, x0: lax.fori_loop(0, 20, lambda i, x: x - f(x) / (2 * x), x0)
    ...     return lax.custom_root(f, 1.0, solve, lambda g, y: y / g(1.0))
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from hlodiff.api import linear_transpose, linearize
from hlodiff.core import get_aval
from hlodiff.ir import eval_jaxpr
from hlodiff.lax.control_flow import _trace
from hlodiff.prims.custom import custom_jvp
from hlodiff.prims.elementwise import neg
from hlodiff.prims.remat import LinearSolveTuple, linear_solve_p
from hlodiff.transforms.jvp import Zero, jvp_flat, tangent_aval
from hlodiff.tree_util import tree_flatten, tree_leaves, tree_structure, tree_unflatten


def _check_tree(func_name, expected_name, actual_tree, expected_tree, has_aux=False):
    """JAX's check (and wording) that a user function returns the structure of its input."""
    if has_aux:
        children = actual_tree.children()
        if len(children) != 2:
            raise ValueError(
                f"{func_name}() produced a pytree with structure {actual_tree}, but a pytree "
                "tuple with auxiliary output was expected because has_aux was set to True.")
        actual_tree = children[0]
    if actual_tree != expected_tree:
        raise TypeError(f"{func_name}() output pytree structure must match {expected_name}, "
                        f"got {actual_tree} and {expected_tree}.")


def _call(closed, *args) -> list:
    return eval_jaxpr(closed.jaxpr, closed.consts, *args)


def _split(args, lengths) -> tuple[list, list]:
    parts, i = [], 0
    for n in lengths:
        parts.append(list(args[i:i + n]))
        i += n
    return parts, list(args[i:])


# ---------------------------------------------------------------------------------------------
# custom_root


class _RootTuple(NamedTuple):
    f: Any
    solve: Any
    l_and_s: Any


def custom_root(f: Callable, initial_guess: Any, solve: Callable, tangent_solve: Callable,
                has_aux: bool = False) -> Any:
    """Differentiably solves for a root of `f`, with gradients by implicit differentiation.

    Gradients are defined with respect to the values `f` closes over (not `initial_guess`),
    assuming `f(solve(f, initial_guess)) == 0`.

    Args:
      f: function of one argument returning a pytree of its structure; the root is where it
        is zero.
      initial_guess: the starting point for `solve` (a pytree of arrays).
      solve: `solve(f, initial_guess) -> solution` (with `has_aux`: `(solution, aux)`). It is
        never differentiated, so it may use `lax.while_loop`.
      tangent_solve: `tangent_solve(g, y) -> x` with `g(x) = y`, `g` being `f` linearized at the
        root: for a scalar, `lambda g, y: y / g(1.0)`.
      has_aux: whether `solve` returns auxiliary data (given zero derivatives) as well.
    Returns:
      `solve(f, initial_guess)`, differentiable in both modes.
    Raises:
      TypeError / ValueError: when `f`, `solve` or `tangent_solve` return the wrong structure.
    """
    guess_leaves, guess_tree = tree_flatten(initial_guess)
    avals = [get_aval(x) for x in guess_leaves]
    in_tree = tree_structure((initial_guess,))
    f_jaxpr, f_consts, out_tree = _trace(f, in_tree, avals)
    _check_tree("f", "initial_guess", out_tree, guess_tree)
    solve_jaxpr, solve_consts, solution_tree = _trace(partial(solve, f), in_tree, avals)
    _check_tree("solve", "initial_guess", solution_tree, guess_tree, has_aux)

    def linearize_and_solve(x, b):
        _, f_jvp = linearize(f, x)
        return tangent_solve(f_jvp, b)

    pair_tree = tree_structure((initial_guess, initial_guess))
    l_and_s_jaxpr, l_and_s_consts, out_tree = _trace(linearize_and_solve, pair_tree,
                                                     avals + avals)
    _check_tree("tangent_solve", "x", out_tree, guess_tree)
    jaxprs = _RootTuple(f_jaxpr, solve_jaxpr, l_and_s_jaxpr)
    consts = _RootTuple(f_consts, solve_consts, l_and_s_consts)
    lengths = _RootTuple(*[len(c) for c in consts])
    out = _custom_root(lengths, jaxprs, *[c for cs in consts for c in cs], *guess_leaves)
    return tree_unflatten(solution_tree, out)


@partial(custom_jvp, nondiff_argnums=(0, 1))
def _custom_root(const_lengths, jaxprs, *args):
    (_, solve_consts, _), guess = _split(args, const_lengths)
    return _call(jaxprs.solve, *solve_consts, *guess)


@_custom_root.defjvp
def _custom_root_jvp(const_lengths, jaxprs, primals, tangents):
    # F(p, x*(p)) = 0  =>  d_p F + d_x F dx* = 0  =>  dx* = -(d_x F)^{-1} (d_p F dp)
    (f_consts, _, l_and_s_consts), _ = _split(primals, const_lengths)
    (f_consts_dot, _, _), _ = _split(tangents, const_lengths)
    out = _custom_root(const_lengths, jaxprs, *primals)
    n = len(jaxprs.f.out_avals)
    solution, aux = list(out[:n]), list(out[n:])
    f_at_solution = lambda *ps: _call(jaxprs.f, *ps, *solution)
    _, rhs = jvp_flat(f_at_solution, f_consts, f_consts_dot)
    solution_dot = [neg(t) for t in _call(jaxprs.l_and_s, *l_and_s_consts, *solution, *rhs)]
    aux_dot = [Zero(tangent_aval(get_aval(a))) for a in aux]
    return solution + aux, solution_dot + aux_dot


# ---------------------------------------------------------------------------------------------
# custom_linear_solve


def custom_linear_solve(matvec: Callable, b: Any, solve: Callable,
                        transpose_solve: Callable | None = None, symmetric: bool = False,
                        has_aux: bool = False) -> Any:
    """Performs a matrix-free linear solve with gradients by implicit differentiation.

    Args:
      matvec: the linear function to invert, `matvec(x)` with `x` shaped like `b`. It must be
        differentiable (derivatives w.r.t. what it closes over flow through it).
      b: the right-hand side (a pytree of arrays).
      solve: `solve(matvec, b) -> x` with `matvec(x) == b` (with `has_aux`: `(x, aux)`). It is
        never differentiated.
      transpose_solve: `transpose_solve(vecmat, b) -> x` solving the transposed system, `vecmat`
        being the transpose of `matvec` (computed automatically). Needed for reverse mode,
        unless `symmetric=True`, in which case `solve` is used.
      symmetric: whether `matvec` is symmetric (`matvec == vecmat`).
      has_aux: whether `solve` and `transpose_solve` return auxiliary data as well.
    Returns:
      `solve(matvec, b)`, differentiable w.r.t. `b` and the values `matvec` closes over.
    Raises:
      TypeError: for functions returning the wrong structure; in reverse mode, when there is
        neither `transpose_solve` nor `symmetric=True`.
    """
    if transpose_solve is None and symmetric:
        transpose_solve = solve
    b_leaves, tree = tree_flatten(b)
    avals = [get_aval(x) for x in b_leaves]
    in_tree = tree_structure((b,))

    def trace(fun, name, aux):
        jaxpr, consts, out_tree = _trace(_shape_checked(fun, name, avals, aux), in_tree, avals)
        _check_tree(name, "b", out_tree, tree, aux)
        return jaxpr, consts, out_tree

    matvec_jaxpr, matvec_consts, _ = trace(matvec, "matvec", False)
    solve_jaxpr, solve_consts, out_tree = trace(partial(solve, matvec), "solve", has_aux)
    vecmat_jaxpr = tr_solve_jaxpr = None
    vecmat_consts = tr_solve_consts = []
    if transpose_solve is not None:
        if symmetric:
            vecmat, vecmat_jaxpr, vecmat_consts = matvec, matvec_jaxpr, matvec_consts
        else:
            vecmat = _transpose_one_output(matvec, b)
            vecmat_jaxpr, vecmat_consts, _ = trace(vecmat, "vecmat", False)
        tr_solve_jaxpr, tr_solve_consts, _ = trace(partial(transpose_solve, vecmat),
                                                   "transpose_solve", has_aux)
    consts = LinearSolveTuple(matvec_consts, vecmat_consts, solve_consts, tr_solve_consts)
    jaxprs = LinearSolveTuple(matvec_jaxpr, vecmat_jaxpr, solve_jaxpr, tr_solve_jaxpr)
    lengths = LinearSolveTuple(*[len(c) for c in consts])
    out = linear_solve_p.bind(*[c for cs in consts for c in cs], *b_leaves,
                              const_lengths=lengths, jaxprs=jaxprs)
    return tree_unflatten(out_tree, out)


def _shape_checked(fun, name, b_avals, has_aux):
    def checked(x):
        out = fun(x)
        y = out[0] if has_aux else out
        shapes = [get_aval(v).shape for v in tree_leaves(y)]
        expected = [a.shape for a in b_avals]
        if shapes != expected:
            raise ValueError(f"{name}() output shapes must match b, got {shapes} and {expected}")
        return out

    return checked


def _transpose_one_output(linear_fun, b):
    transpose_fun = linear_transpose(linear_fun, b)

    def vecmat(x):
        (y,) = transpose_fun(x)
        return y

    return vecmat


__all__ = ["custom_linear_solve", "custom_root"]
