"""API behaviour and errors of grad/jvp/vjp/jacobians/vmap/linearize, checked without JAX (formulas,
finite differences) and against JAX where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff import lax


def test_grad_errors():
    with pytest.raises(TypeError, match="Gradient only defined for scalar-output functions. "
                                        r"Output had shape: \(3,\)"):
        hd.grad(lambda x: x * 2)(hnp.ones(3))
    with pytest.raises(TypeError, match="input dtype that is a sub-dtype of np.inexact"):
        hd.grad(lambda x: x * 2)(3)
    with pytest.raises(TypeError, match="holomorphic=True requires inputs with complex dtype"):
        hd.grad(lambda x: x * 2, holomorphic=True)(3.0)
    with pytest.raises(TypeError, match="argnums"):
        hd.grad(lambda x: x * 2, argnums=2)(3.0)
    with pytest.raises(TypeError, match="pair"):
        hd.grad(lambda x: x * 2, has_aux=True)(3.0)


def test_grad_argnums_has_aux_allow_int():
    f = lambda x, y: (x * y ** 2, {"aux": x})  # noqa: E731
    (g, aux) = hd.grad(f, argnums=(0, 1), has_aux=True)(2.0, 3.0)
    assert float(g[0]) == 9.0 and float(g[1]) == 12.0 and float(aux["aux"]) == 2.0
    (v, aux2), g1 = hd.value_and_grad(f, has_aux=True)(2.0, 3.0)
    assert float(v) == 18.0 and float(g1) == 9.0
    gi = hd.grad(lambda x, n: x * n, argnums=(0, 1), allow_int=True)(2.0, 3)
    assert float(gi[0]) == 3.0 and gi[1].dtype == hd.dtypes.float0


def test_stop_gradient_and_integer_inputs_give_exact_zeros():
    assert float(hd.grad(lambda x: lax.stop_gradient(x) * x)(3.0)) == 3.0
    _, t = hd.jvp(lambda x, n: x * n, (2.0, 3), (1.0, np.zeros((), hd.dtypes.float0)))
    assert float(t) == 3.0


def test_jacobians_of_pytrees():
    def f(p):
        return {"y": p["w"] * p["b"], "s": hnp.sum(p["w"])}

    p = {"w": hnp.array([1.0, 2.0, 3.0]), "b": hnp.asarray(2.0)}
    for jac in (hd.jacfwd, hd.jacrev):
        J = jac(f)(p)
        np.testing.assert_allclose(J["y"]["w"], 2 * np.eye(3))
        np.testing.assert_allclose(J["y"]["b"], [1.0, 2.0, 3.0])
        np.testing.assert_allclose(J["s"]["w"], np.ones(3))
        assert J["s"]["b"].shape == ()


def test_hessian_and_jacfwd_of_jacrev_shapes():
    f = lambda x: hnp.tanh(x) * hnp.sum(x ** 2)  # noqa: E731
    x = hnp.array([0.1, 0.2, 0.3, 0.4])
    H = hd.jacfwd(hd.jacrev(f))(x)
    assert H.shape == (4, 4, 4)
    np.testing.assert_allclose(H, hd.jacrev(hd.jacfwd(f))(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hd.hessian(lambda x: hnp.sum(x ** 3))(x), np.diag(6 * np.asarray(x)),
                               rtol=1e-6)


def test_maml_grad_of_grad():
    def loss(w, x):
        return hnp.sum((hnp.tanh(x @ w)) ** 2)

    def meta_loss(w, x):
        return loss(w - 0.1 * hd.grad(loss)(w, x), x)

    w = hnp.array([[0.1, -0.2], [0.3, 0.4], [0.5, -0.6]])
    x = hnp.array([[1.0, 2.0, -1.0]])
    g = hd.grad(meta_loss)(w, x)
    eps = 1e-3
    e = np.zeros((3, 2), np.float32)
    e[1, 0] = eps
    fd = (float(meta_loss(w + e, x)) - float(meta_loss(w - e, x))) / (2 * eps)
    assert abs(float(g[1, 0]) - fd) < 1e-2


def test_linearize_and_linear_transpose():
    y, f_jvp = hd.linearize(hnp.sin, 1.0)
    assert abs(float(f_jvp(2.0)) - 2 * np.cos(1.0)) < 1e-6
    t = hd.linear_transpose(lambda x: 3.0 * x, 1.0)
    assert float(t(2.0)[0]) == 6.0


def test_vjp_function_is_a_pytree():
    x = hnp.array([1.0, 2.0])
    _, f_vjp = hd.vjp(lambda x: x * hnp.sin(x), x)
    leaves = hd.tree_util.tree_leaves(f_vjp)
    assert leaves, "residuals are the leaves of the vjp function"
    g = hd.jit(lambda fn, ct: fn(ct))(f_vjp, hnp.ones(2))
    np.testing.assert_allclose(g[0], np.sin([1.0, 2.0]) + np.array([1.0, 2.0]) * np.cos(
        [1.0, 2.0]), rtol=1e-6)


def test_vmap_errors():
    with pytest.raises(ValueError, match="inconsistent sizes"):
        hd.vmap(lambda x, y: x + y)(hnp.ones(3), hnp.ones(4))
    with pytest.raises(ValueError, match="axis 2"):
        hd.vmap(lambda x: x, in_axes=2)(hnp.ones(3))
    with pytest.raises(ValueError, match="tree prefix"):
        hd.vmap(lambda x: x, in_axes=({"a": 0},))((hnp.ones(3),))
    with pytest.raises(ValueError, match="at least one non-None"):
        hd.vmap(lambda x: x, in_axes=None)(hnp.ones(3))


def test_vmap_in_out_axes_and_kwargs():
    x = hnp.arange(6.0).reshape(2, 3)
    out = hd.vmap(lambda a: a * 2, in_axes=1, out_axes=1)(x)
    np.testing.assert_array_equal(out, 2 * np.arange(6.0).reshape(2, 3))
    out = hd.vmap(lambda a, k: a + k)(x, k=hnp.ones((2, 3)))
    np.testing.assert_array_equal(out, np.arange(6.0).reshape(2, 3) + 1)
    out = hd.vmap(lambda a: 5.0, axis_size=3, in_axes=None)(x)
    np.testing.assert_array_equal(out, [5.0, 5.0, 5.0])
    nested = hd.vmap(hd.vmap(lambda a, b: a * b, in_axes=(0, None)), in_axes=(None, 0))
    np.testing.assert_array_equal(nested(hnp.arange(3.0), hnp.arange(2.0)),
                                  np.outer(np.arange(2.0), np.arange(3.0)))


def test_our_jacfwd_and_jacrev_via_vmap():
    W = hnp.array([0.3, -0.2, 0.5])
    f = lambda w: hnp.tanh(hnp.array([[1.0, 2.0, 3.0], [0.5, 0.1, -1.0]]) @ w)  # noqa: E731

    def our_jacrev(f):
        def jacfun(x):
            y, vjp_fun = hd.vjp(f, x)
            J, = hd.vmap(vjp_fun, in_axes=0)(hnp.eye(len(y)))
            return J
        return jacfun

    def our_jacfwd(f):
        def jacfun(x):
            _jvp = lambda s: hd.jvp(f, (x,), (s,))[1]  # noqa: E731
            Jt = hd.vmap(_jvp, in_axes=1)(hnp.eye(len(x)))
            return hnp.transpose(Jt)
        return jacfun

    np.testing.assert_allclose(our_jacrev(f)(W), hd.jacrev(f)(W), rtol=1e-6)
    np.testing.assert_allclose(our_jacfwd(f)(W), hd.jacfwd(f)(W), rtol=1e-6)


def test_jit_cache_and_static_args():
    calls = []

    def f(x, n):
        calls.append(1)
        return x * n

    jf = hd.jit(f, static_argnums=1)
    jf(hnp.ones(3), 2)
    jf(hnp.ones(3), 2)
    assert len(calls) == 1
    jf(hnp.ones(3), 3)
    assert len(calls) == 2
    with pytest.raises(ValueError, match="Non-hashable static arguments"):
        jf(hnp.ones(3), [1])


def test_jit_fast_path_keys_on_avals_including_weak_type():
    calls = []

    def f(x, y):
        calls.append(1)
        return x * y, y

    jf = hd.jit(f)
    x = hnp.arange(3.0)
    strong = hnp.asarray(2.0, dtype=np.float32)
    weak = hd.jit(lambda: 2.0)()  # the same value, weakly typed
    assert weak.weak_type and not strong.weak_type
    for _ in range(2):  # the second round goes through the all-Arrays fast path
        out, y = jf(x, strong)
        assert not y.weak_type and out.dtype == np.float32
        out, y = jf(x, weak)
        assert y.weak_type and out.dtype == np.float32
        np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])
    assert len(calls) == 2
    out, _ = jf(hnp.arange(4.0), strong)  # a new shape traces again
    assert len(calls) == 3 and out.shape == (4,)
    out, _ = jf(np.arange(3.0, dtype=np.float32), 2.0)  # numpy and Python scalars: general path
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])
    assert len(calls) == 3  # same avals as (x, weak): the trace cache still hits
    jf.clear_cache()
    jf(x, strong)
    assert len(calls) == 4


def test_against_jax_where_installed():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    def f(x):
        return jnp.sum(jnp.tanh(x) ** 2 * jnp.sin(x)) if isinstance(x, jax.Array) else hnp.sum(
            hnp.tanh(x) ** 2 * hnp.sin(x))

    x = np.linspace(-1, 1, 5).astype(np.float32)
    np.testing.assert_allclose(hd.hessian(f)(hnp.asarray(x)), jax.hessian(f)(jnp.asarray(x)),
                               rtol=1e-5, atol=1e-6)


def test_concretization_error_names_the_argument():
    def f(x, params):
        return x if params["w"] > 0 else -x

    with pytest.raises(hd.errors.ConcretizationTypeError,
                       match=r"depends on the value of the argument params\['w'\]") as e:
        hd.jit(f)(hnp.ones(3), {"w": 1.0, "b": 2.0})
    assert "static_argnums" in str(e.value) and "lax.cond" in str(e.value)
