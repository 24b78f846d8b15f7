"""`check_grads`: numerical checks of derivatives, like `jax.test_util.check_grads`.

Forward mode is compared with central finite differences along a random direction; reverse mode
with forward mode through the dot-product identity <u, J v> = <J^T u, v>. Higher orders apply
the same checks to the JVP and VJP functions themselves.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from hlodiff import api, dtypes
from hlodiff.tree_util import tree_flatten, tree_map

_EPS = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 3e-3, np.dtype(np.float64): 1e-5}
_TOL = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 2e-2, np.dtype(np.float64): 1e-5}


def _leaves(x):
    return [np.asarray(leaf) for leaf in tree_flatten(x)[0]]


def _random_like(rng, x):
    x = np.asarray(x)
    if np.iscomplexobj(x):
        v = rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)
    else:
        v = rng.standard_normal(x.shape)
    return np.asarray(v, dtype=x.dtype)


def _inner(xs, ys) -> complex:
    return sum(np.vdot(np.asarray(x, np.complex128), np.asarray(y, np.complex128)).real
               for x, y in zip(_leaves(xs), _leaves(ys)))


def _scale_add(xs, ts, c):
    return tree_map(lambda x, t: np.asarray(np.asarray(x) + c * np.asarray(t),
                                            dtype=np.asarray(x).dtype), xs, ts)


def _tol(args, eps=None, atol=None, rtol=None):
    dts = [np.asarray(x).dtype for x in _leaves(args) if dtypes.is_inexact(np.asarray(x).dtype)]
    worst = max(dts, key=lambda d: _EPS.get(np.dtype(dtypes.real_dtype(d)), 1e-3),
                default=np.dtype(np.float32))
    base = np.dtype(dtypes.real_dtype(worst))
    return (eps or _EPS.get(base, 1e-3), atol or _TOL.get(base, 1e-2), rtol or _TOL.get(base,
                                                                                       1e-2))


def _assert_close(name, a, b, atol, rtol):
    for x, y in zip(_leaves(a), _leaves(b)):
        np.testing.assert_allclose(np.asarray(x, np.complex128), np.asarray(y, np.complex128),
                                   atol=atol, rtol=rtol, err_msg=f"{name} mismatch")


def check_jvp(f: Callable, args: Sequence, eps=None, atol=None, rtol=None, seed=0) -> None:
    """JVP along a random direction vs central finite differences."""
    rng = np.random.default_rng(seed)
    eps, atol, rtol = _tol(args, eps, atol, rtol)
    tangents = tree_map(lambda x: _random_like(rng, x), tuple(args))
    _, out_t = api.jvp(f, tuple(args), tangents)
    plus = f(*_scale_add(tuple(args), tangents, eps))
    minus = f(*_scale_add(tuple(args), tangents, -eps))
    numeric = tree_map(lambda p, m: (np.asarray(p, np.complex128) - np.asarray(m, np.complex128))
                       / (2 * eps), plus, minus)
    _assert_close("JVP vs finite differences", out_t, numeric, atol, rtol)


def check_vjp(f: Callable, args: Sequence, atol=None, rtol=None, seed=0) -> None:
    """<u, J v> == <J^T u, v> with J v from jvp and J^T u from vjp."""
    rng = np.random.default_rng(seed + 1)
    _, atol, rtol = _tol(args, None, atol, rtol)
    v = tree_map(lambda x: _random_like(rng, x), tuple(args))
    out, jv = api.jvp(f, tuple(args), v)
    _, pullback = api.vjp(f, *args)
    u = tree_map(lambda y: _random_like(rng, y), out)
    # Cotangents are covectors: conjugate in and out so <u, Jv> pairs with J^T u (as JAX).
    jtu = tree_map(np.conj, pullback(tree_map(np.conj, u)))
    lhs = _inner(u, jv)
    rhs = _inner(jtu, v)
    np.testing.assert_allclose(lhs, rhs, atol=atol * 10, rtol=rtol,
                               err_msg="VJP inconsistent with JVP (<u, Jv> != <J^T u, v>)")


def check_grads(f: Callable, args: Sequence, order: int, modes=("fwd", "rev"), atol=None,
                rtol=None, eps=None) -> None:
    """Checks derivatives of `f` at `args` up to `order`, in the given modes.

    Raises:
      AssertionError: naming the failing check.
    """
    args = tuple(args)
    for leaf in _leaves(args):
        if not dtypes.is_inexact(leaf.dtype):
            raise TypeError(f"check_grads needs floating-point arguments, got {leaf.dtype}")

    def _check(fun, xs, k):
        if "fwd" in modes:
            check_jvp(fun, xs, eps, atol, rtol)
        if "rev" in modes:
            check_vjp(fun, xs, atol, rtol)
        if k > 1:
            rng = np.random.default_rng(k)
            if "fwd" in modes:
                ts = tree_map(lambda x: _random_like(rng, x), xs)
                _check(lambda *ys: api.jvp(fun, ys, ts)[1], xs, k - 1)
            if "rev" in modes:
                out = fun(*xs)
                cts = tree_map(lambda y: _random_like(rng, y), out)
                _check(lambda *ys: api.vjp(fun, *ys)[1](cts), xs, k - 1)

    _check(f, args, order)


__all__ = ["check_grads", "check_jvp", "check_vjp"]
