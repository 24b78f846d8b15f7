"""`checkpoint`/`remat` and `lax.custom_root`/`lax.custom_linear_solve`.

Checkpoint: that the backward pass really recomputes (sin counted in the jaxpr and in eager
evaluation, fewer residuals in the vjp), that values equal the un-checkpointed ones exactly, that
policies save what they say, nesting, vmap, jit and scan. Solvers: implicit derivatives against
the closed forms and finite differences (float64), vmap against loops, jit against eager, JAX's
errors. Differential checks against JAX run where JAX is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff import lax
from hlodiff.checkpoint import checkpoint, checkpoint_policies, remat
from hlodiff.errors import ConcretizationTypeError
from hlodiff.ir import ClosedJaxpr
from hlodiff.lax.custom_solvers import custom_linear_solve, custom_root
from hlodiff.prims import elementwise as ew
from hlodiff.prims.remat import checkpoint_p, linear_solve_p
from hlodiff.test_util import check_grads


@pytest.fixture
def x64():
    prev = hd.config.enable_x64
    hd.config.update("enable_x64", True)
    yield
    hd.config.update("enable_x64", prev)


def _close(a, b, **kw):
    kw.setdefault("rtol", 1e-6)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **kw)


def _count(closed, name: str) -> int:
    """Equations named `name` in a jaxpr, nested jaxprs included."""
    n = 0
    for eqn in closed.jaxpr.eqns:
        n += eqn.primitive.name == name
        for v in eqn.params.values():
            inner = v if isinstance(v, tuple) else (v,)
            n += sum(_count(j, name) for j in inner if isinstance(j, ClosedJaxpr))
    return n


def _sum_sin_sin(x):
    return hnp.sum(hnp.sin(hnp.sin(x)))


X = np.array([0.5, 1.0, 2.0], np.float32)


# ---------------------------------------------------------------------------------------------
# checkpoint: the primitive and its API


def test_checkpoint_primitive_has_every_rule():
    from hlodiff.lowering import has_rule

    for p in (checkpoint_p, linear_solve_p):
        assert None not in (p.impl, p.abstract_eval, p.jvp, p.transpose, p.batch), p
        assert has_rule(p), p


def test_checkpoint_jaxpr_reads_like_jax():
    text = str(hd.make_jaxpr(checkpoint(_sum_sin_sin))(X))
    assert "checkpoint[differentiated=False jaxpr=" in text
    assert "policy=None prevent_cse=True]" in text
    assert remat is checkpoint


def test_checkpoint_eager_pytrees_kwargs_and_static_argnums():
    def f(xs, scale, *, shift):
        return {"y": xs[0] * scale + shift, "z": (xs[1],)}

    out = checkpoint(f)((X, 2.0), 3.0, shift=1.0)
    _close(out["y"], X * 3 + 1)
    _close(out["z"][0], 2.0)

    def g(x, mode):
        return hnp.sin(x) if mode == "sin" else hnp.cos(x)  # Python branch on a static arg

    _close(checkpoint(g, static_argnums=1)(X, "sin"), np.sin(X))
    _close(hd.grad(lambda x: hnp.sum(checkpoint(g, static_argnums=(1,))(x, "cos")))(X),
           -np.sin(X))


def test_checkpoint_errors_like_jax():
    with pytest.raises(TypeError, match="static_argnums"):
        checkpoint(lambda x, s: x)(1.0, "mode")
    with pytest.raises(ConcretizationTypeError):  # a traced argument cannot pick a branch
        checkpoint(lambda x: x if x > 0 else -x)(1.0)


def test_checkpoint_returning_constants_and_inputs():
    out = checkpoint(lambda x: (x, 1.0, x * 2.0))(X)
    _close(out[0], X)
    assert float(out[1]) == 1.0 and out[1].weak_type
    g = hd.grad(lambda x: hnp.sum(checkpoint(lambda y: (y, 1.0))(x)[0]))(X)
    _close(g, np.ones(3))


# ---------------------------------------------------------------------------------------------
# checkpoint: the backward pass recomputes


def test_grad_jaxpr_recomputes_the_forward_ops():
    plain = hd.make_jaxpr(hd.grad(_sum_sin_sin))(X)
    remat_jaxpr = hd.make_jaxpr(hd.grad(checkpoint(_sum_sin_sin)))(X)
    # Forward: sin, sin. The backward needs cos(x) and cos(sin x): it recomputes sin x.
    assert _count(plain, "sin") == 2
    assert _count(remat_jaxpr, "sin") == 3
    (bwd,) = [e for e in remat_jaxpr.jaxpr.eqns if e.primitive is checkpoint_p]
    assert bwd.params["differentiated"] and _count(bwd.params["jaxpr"], "sin") == 1
    assert _count(bwd.params["jaxpr"], "cos") == 2


def test_grad_evaluates_sin_again_in_the_backward_pass(monkeypatch):
    calls = []
    impl = ew.sin_p.impl

    def counting(*args, **params):
        calls.append(1)
        return impl(*args, **params)

    monkeypatch.setattr(ew.sin_p, "impl", counting)
    plain = hd.grad(_sum_sin_sin)(X)
    n_plain = len(calls)
    calls.clear()
    rematted = hd.grad(checkpoint(_sum_sin_sin))(X)
    assert (n_plain, len(calls)) == (2, 3)
    np.testing.assert_array_equal(np.asarray(plain), np.asarray(rematted))


def test_vjp_saves_only_the_inputs():
    def f(x):
        return hnp.sum(hnp.tanh(hnp.sin(hnp.exp(x))))

    y0, pull0 = hd.vjp(f, X)
    y1, pull1 = hd.vjp(checkpoint(f), X)
    y2, pull2 = hd.vjp(checkpoint(f, policy=checkpoint_policies.everything_saveable), X)
    res0, res1, res2 = (hd.tree_leaves(p) for p in (pull0, pull1, pull2))
    assert len(res1) == 1 and np.array_equal(np.asarray(res1[0]), X)  # just the input
    assert len(res0) > 1 and len(res2) == len(res0)  # saving everything: as without remat
    for y, pull in ((y1, pull1), (y2, pull2)):
        np.testing.assert_array_equal(np.asarray(y), np.asarray(y0))
        np.testing.assert_array_equal(np.asarray(pull(1.0)[0]), np.asarray(pull0(1.0)[0]))


def test_dots_saveable_saves_matmul_outputs_only():
    def mlp(w, x):
        return hnp.sum(hnp.tanh(w @ hnp.tanh(w @ x)))

    w = np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3)
    _, pull = hd.vjp(checkpoint(mlp, policy=checkpoint_policies.dots_saveable), w, X)
    _, pull_none = hd.vjp(checkpoint(mlp), w, X)
    shapes = sorted(np.shape(r) for r in hd.tree_leaves(pull))
    assert sorted(np.shape(r) for r in hd.tree_leaves(pull_none)) == [(3,), (3, 3)]
    assert shapes == [(3,), (3, 1), (3, 1), (3, 3)]  # inputs + the two dot_general outputs
    jaxpr = hd.make_jaxpr(hd.grad(checkpoint(mlp, policy=checkpoint_policies.dots_saveable)))(
        w, X)
    (bwd,) = [e for e in jaxpr.jaxpr.eqns if e.primitive is checkpoint_p]
    assert _count(bwd.params["jaxpr"], "tanh") == 2  # recomputed from the saved dots
    assert _count(bwd.params["jaxpr"], "dot_general") == 3  # transposes only, no forward dot
    for policy in (None, checkpoint_policies.dots_saveable,
                   checkpoint_policies.dots_with_no_batch_dims_saveable):
        g = hd.grad(checkpoint(mlp, policy=policy), argnums=(0, 1))(w, X)
        g0 = hd.grad(mlp, argnums=(0, 1))(w, X)
        for a, b in zip(g, g0):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_nested_checkpoint():
    inner = checkpoint(lambda y: hnp.sin(hnp.sin(y)))
    outer = checkpoint(lambda x: hnp.sum(hnp.sin(inner(x))))
    plain = lambda x: hnp.sum(hnp.sin(hnp.sin(hnp.sin(x))))
    np.testing.assert_array_equal(np.asarray(hd.grad(outer)(X)), np.asarray(hd.grad(plain)(X)))
    jaxpr = hd.make_jaxpr(hd.grad(outer))(X)
    assert _count(jaxpr, "checkpoint") == 2  # the inner backward checkpoint nests in the outer
    _close(hd.jvp(outer, (X,), (np.ones(3, np.float32),))[1],
           hd.jvp(plain, (X,), (np.ones(3, np.float32),))[1])


def test_checkpoint_derivatives_numerically(x64):
    f = checkpoint(lambda x, y: hnp.sin(x) * hnp.exp(y) + x * y)
    x, y = np.array([0.3, -1.2]), np.array([0.7, 0.1])
    check_grads(f, (x, y), order=2, modes=("fwd", "rev"))
    check_grads(checkpoint(checkpoint(lambda x: hnp.tanh(x) ** 3)), (x,), order=2)


def test_checkpoint_under_vmap_matches_loop():
    xs = np.stack([X, X + 1, X * 2])
    f = checkpoint(_sum_sin_sin)
    _close(hd.vmap(f)(xs), [f(x) for x in xs])
    _close(hd.vmap(hd.grad(f))(xs), np.stack([hd.grad(_sum_sin_sin)(x) for x in xs]))
    # one batched, one unbatched input: the unbatched output stays unbatched
    h = checkpoint(lambda x, c: (x * c, c * 2.0))
    out, c2 = hd.vmap(h, in_axes=(0, None), out_axes=(0, None))(xs, X)
    _close(out, xs * X)
    _close(c2, X * 2)
    _close(hd.grad(lambda xs: hnp.sum(hd.vmap(f)(xs)))(xs),
           np.stack([hd.grad(_sum_sin_sin)(x) for x in xs]))


def test_checkpoint_under_jit_matches_eager():
    f = checkpoint(lambda w, x: hnp.sum(hnp.tanh(w * hnp.sin(x))))
    w = np.float32(0.7)
    xs = np.stack([X, -X])
    cases = [(f, (w, X)), (hd.grad(f, argnums=(0, 1)), (w, X)),
             (hd.vmap(hd.grad(f, argnums=1), (None, 0)), (w, xs))]
    for fun, args in cases:
        eager, jitted = fun(*args), hd.jit(fun)(*args)
        for a, b in zip(hd.tree_leaves(eager), hd.tree_leaves(jitted)):
            _close(a, b, rtol=1e-5, atol=1e-6)


def test_checkpoint_lowers_with_an_optimization_barrier():
    from hlodiff.lowering import lower_jaxpr

    text = lower_jaxpr(hd.make_jaxpr(hd.grad(checkpoint(_sum_sin_sin)))(X)).text
    assert text.count("stablehlo.optimization_barrier") == 1
    assert "stablehlo.optimization_barrier" not in lower_jaxpr(
        hd.make_jaxpr(checkpoint(_sum_sin_sin))(X)).text
    ir = pytest.importorskip("iree.compiler.ir")
    with ir.Context():
        assert ir.Module.parse(text).operation.verify()


def test_checkpointed_scan_body_matches():
    def body(c, x):
        c = hnp.sin(c) * x + c
        return c, c ** 2

    def run(b):
        def f(c0, xs):
            c, ys = lax.scan(b, c0, xs)
            return c + hnp.sum(ys)
        return f

    xs = np.linspace(0.1, 1.0, 5, dtype=np.float32)
    g0 = hd.grad(run(body), argnums=(0, 1))(np.float32(0.3), xs)
    g1 = hd.grad(run(checkpoint(body)), argnums=(0, 1))(np.float32(0.3), xs)
    for a, b in zip(g0, g1):
        _close(a, b, rtol=1e-6)


def test_linearize_through_checkpoint():
    _, f_jvp = hd.linearize(checkpoint(_sum_sin_sin), X)
    _, t = hd.jvp(_sum_sin_sin, (X,), (np.ones(3, np.float32),))
    _close(f_jvp(np.ones(3, np.float32)), t)


# ---------------------------------------------------------------------------------------------
# custom_root


def _newton_sqrt(a):
    """sqrt(a) by Newton's method in a while_loop (reverse mode cannot go through the loop)."""

    def f(x):
        return x ** 2 - a

    def solve(f, x0):
        def cond(state):
            i, x = state
            return (i < 50) & hnp.any(hnp.abs(f(x)) > 1e-12 * a)

        def step(state):
            i, x = state
            return i + 1, x - f(x) / (2 * x)

        return lax.while_loop(cond, step, (0, x0))[1]

    # f is elementwise, so its Jacobian is diagonal: g(1) is that diagonal.
    return custom_root(f, hnp.ones_like(a), solve, lambda g, y: y / g(hnp.ones_like(y)))


def test_custom_root_newton_sqrt_gradients(x64):
    a = np.array([0.5, 2.0, 9.0])
    _close(_newton_sqrt(a), np.sqrt(a), rtol=1e-12)
    g = hd.vmap(hd.grad(_newton_sqrt))(a)
    _close(g, hd.vmap(hd.grad(hnp.sqrt))(a), rtol=1e-10)
    _close(hd.grad(_newton_sqrt)(2.0), hd.grad(hnp.sqrt)(2.0), rtol=1e-10)
    _close(hd.jvp(_newton_sqrt, (a,), (np.ones(3),))[1], 0.5 / np.sqrt(a), rtol=1e-10)
    _close(hd.grad(hd.grad(_newton_sqrt))(2.0), -0.25 * 2.0 ** -1.5, rtol=1e-8)
    check_grads(_newton_sqrt, (a,), order=1, modes=("fwd", "rev"))


def test_custom_root_scalar_form_from_jax_docs():
    def sqrt(a):
        f = lambda x: x ** 2 - a
        solve = lambda f, x0: lax.fori_loop(0, 20, lambda i, x: x - f(x) / (2 * x), x0)
        return custom_root(f, 1.0, solve, lambda g, y: y / g(1.0))

    _close(sqrt(2.0), np.sqrt(2.0))
    _close(hd.grad(sqrt)(2.0), hd.grad(hnp.sqrt)(2.0))
    assert "custom_jvp_call" in str(hd.make_jaxpr(sqrt)(2.0))


def test_custom_root_vmap_matches_loop_and_jit_matches_eager(x64):
    a = np.array([0.5, 2.0, 9.0])
    _close(hd.vmap(_newton_sqrt)(a), [_newton_sqrt(x) for x in a], rtol=1e-12)
    _close(hd.jit(_newton_sqrt)(a), _newton_sqrt(a), rtol=1e-12)
    _close(hd.jit(hd.grad(lambda a: hnp.sum(_newton_sqrt(a))))(a), 0.5 / np.sqrt(a),
           rtol=1e-10)


def test_custom_root_vector_system_and_aux(x64):
    # x**3 + x = p, elementwise; tangent_solve by a dense solve with the Jacobian.
    def f_of(p):
        return lambda x: x ** 3 + x - p

    def solve(f, x0):
        def step(i, x):
            return x - f(x) / (3 * x ** 2 + 1)

        return lax.fori_loop(0, 40, step, x0), 40

    def tangent_solve(g, y):
        return hnp.linalg.solve(hd.jacobian(g)(y), y)

    def root(p):
        x, iters = custom_root(f_of(p), hnp.zeros_like(p), solve, tangent_solve, has_aux=True)
        return x, iters

    p = np.array([0.5, 2.0, -3.0])
    x, iters = root(p)
    _close(x ** 3 + x, p, rtol=1e-12)
    assert int(iters) == 40
    _close(hd.jacobian(lambda p: root(p)[0])(p), np.diag(1 / (3 * np.asarray(x) ** 2 + 1)),
           rtol=1e-10, atol=1e-14)
    check_grads(lambda p: root(p)[0], (p,), order=1, modes=("fwd", "rev"))


def test_custom_root_structure_errors():
    with pytest.raises(TypeError, match=r"f\(\) output pytree structure must match"):
        custom_root(lambda x: (x, x), 1.0, lambda f, x: x, lambda g, y: y)
    with pytest.raises(ValueError, match="has_aux was set to True"):
        custom_root(lambda x: x, 1.0, lambda f, x: x, lambda g, y: y, has_aux=True)


# ---------------------------------------------------------------------------------------------
# custom_linear_solve


def _cg(matvec, b, maxiter=20, tol=1e-12):
    """Conjugate gradients in a while_loop."""

    def cond(state):
        i, _, _, _, rs = state
        return (i < maxiter) & (rs > tol ** 2)

    def step(state):
        i, x, r, p, rs = state
        ap = matvec(p)
        alpha = rs / hnp.vdot(p, ap)
        x, r = x + alpha * p, r - alpha * ap
        rs_new = hnp.vdot(r, r)
        return i + 1, x, r, r + (rs_new / rs) * p, rs_new

    return lax.while_loop(cond, step, (0, hnp.zeros_like(b), b, b, hnp.vdot(b, b)))[1]


def _spd(m):
    return m @ m.T + 3.0 * hnp.eye(m.shape[0], dtype=m.dtype)


def _cg_solve(m, b):
    a = _spd(m)
    return custom_linear_solve(lambda x: a @ x, b, _cg, symmetric=True)


def _direct_solve(a, b):
    return custom_linear_solve(lambda x: a @ x, b, lambda mv, y: hnp.linalg.solve(a, y),
                               transpose_solve=lambda vm, y: hnp.linalg.solve(a.T, y))


M = np.array([[1.0, 0.2, -0.3], [0.1, 0.8, 0.4], [-0.5, 0.3, 1.2]])
B = np.array([1.0, -2.0, 0.5])


def test_custom_linear_solve_values_and_jaxpr(x64):
    a = np.asarray(_spd(M))
    _close(_cg_solve(M, B), np.linalg.solve(a, B), rtol=1e-10)
    _close(_direct_solve(M, B), np.linalg.solve(M, B), rtol=1e-10)
    assert "custom_linear_solve[" in str(hd.make_jaxpr(_cg_solve)(M, B))


def test_custom_linear_solve_derivatives_numerically(x64):
    check_grads(_cg_solve, (M, B), order=1, modes=("fwd", "rev"))
    check_grads(_direct_solve, (M, B), order=1, modes=("fwd", "rev"))
    check_grads(_direct_solve, (M, B), order=2, modes=("rev",))
    # and against differentiating straight through a dense solve
    loss = lambda m, b: hnp.sum(_direct_solve(m, b) ** 2)
    ref = lambda m, b: hnp.sum(hnp.linalg.solve(m, b) ** 2)
    for g, g0 in zip(hd.grad(loss, (0, 1))(M, B), hd.grad(ref, (0, 1))(M, B)):
        _close(g, g0, rtol=1e-10)


def test_custom_linear_solve_reverse_mode_needs_transpose_solve(x64):
    def f(a, b):
        return custom_linear_solve(lambda x: a @ x, b, lambda mv, y: hnp.linalg.solve(a, y))

    t = hd.jvp(lambda b: f(M, b), (B,), (np.ones(3),))[1]  # forward mode works
    _close(t, np.linalg.solve(M, np.ones(3)), rtol=1e-10)
    with pytest.raises(TypeError, match="transpose_solve required for backwards mode"):
        hd.grad(lambda b: hnp.sum(f(M, b)))(B)


def test_custom_linear_solve_pytree_b_and_aux(x64):
    def matvec(x):
        return {"u": 2.0 * x["u"], "v": x["v"] * np.array([1.0, 4.0])}

    def solve(mv, b):
        return {"u": b["u"] / 2.0, "v": b["v"] / np.array([1.0, 4.0])}, 7

    b = {"u": np.float64(3.0), "v": np.array([1.0, 2.0])}
    x, aux = custom_linear_solve(matvec, b, solve, symmetric=True, has_aux=True)
    _close(x["u"], 1.5)
    _close(x["v"], [1.0, 0.5])
    assert int(aux) == 7
    g = hd.grad(lambda b: hnp.sum(custom_linear_solve(
        matvec, b, solve, symmetric=True, has_aux=True)[0]["v"]))(b)
    _close(g["v"], [1.0, 0.25])
    _close(g["u"], 0.0)


def test_custom_linear_solve_vmap_matches_loop(x64):
    bs = np.stack([B, 2 * B, B - 1])
    ms = np.stack([M, M.T, 0.5 * M])
    _close(hd.vmap(_cg_solve, (None, 0))(M, bs), [_cg_solve(M, b) for b in bs], rtol=1e-10)
    _close(hd.vmap(_cg_solve, (0, None))(ms, B), [_cg_solve(m, B) for m in ms], rtol=1e-10)
    _close(hd.vmap(_direct_solve)(ms, bs), [_direct_solve(m, b) for m, b in zip(ms, bs)],
           rtol=1e-10)
    grad = hd.grad(lambda m, b: hnp.sum(_cg_solve(m, b)), argnums=(0, 1))
    batched = hd.vmap(grad)(ms, bs)
    for i, (m, b) in enumerate(zip(ms, bs)):
        for g_b, g in zip(batched, grad(m, b)):
            _close(g_b[i], g, rtol=1e-9)


def test_custom_linear_solve_jit_matches_eager(x64):
    loss = lambda m, b: hnp.sum(_cg_solve(m, b) ** 2)
    _close(hd.jit(_cg_solve)(M, B), _cg_solve(M, B), rtol=1e-10)
    for g_jit, g in zip(hd.jit(hd.grad(loss, (0, 1)))(M, B), hd.grad(loss, (0, 1))(M, B)):
        _close(g_jit, g, rtol=1e-9)


def test_against_jax_where_installed():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")

    def ours(a, b):
        return hnp.sum(hnp.sin(_direct_solve(a, b)))

    def theirs(a, b):
        x = jax.lax.custom_linear_solve(lambda x: a @ x, b,
                                        lambda mv, y: jnp.linalg.solve(a, y),
                                        transpose_solve=lambda vm, y: jnp.linalg.solve(a.T, y))
        return jnp.sum(jnp.sin(x))

    m, b = M.astype(np.float32), B.astype(np.float32)
    for g, g0 in zip(hd.grad(ours, (0, 1))(m, b), jax.grad(theirs, (0, 1))(m, b)):
        _close(g, g0, rtol=1e-4, atol=1e-6)
    f = lambda x: jnp.sum(jnp.sin(jnp.sin(x)))
    _close(hd.grad(checkpoint(_sum_sin_sin))(X), jax.grad(jax.checkpoint(f))(X), rtol=1e-6)
