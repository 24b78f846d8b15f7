"""Control flow (`cond`, `switch`, `while_loop`, `fori_loop`, `scan`, `map`): eager results
against Python references, derivatives against finite differences, vmap against Python loops,
JAX's error messages, the tutorial's `fixed_point` example, and jit where lowering is available.
Differential checks against JAX run where JAX is installed."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff.lax.control_flow import cond, fori_loop, scan, switch, while_loop
from hlodiff.lax.control_flow import map as lax_map
from hlodiff.lowering.rules import control_flow as control_flow_lowering
from hlodiff.test_util import check_grads

_REVERSE_ERROR = ("Reverse-mode differentiation does not work for lax.while_loop or "
                  "lax.fori_loop with dynamic start/stop values. Try using lax.scan, or using "
                  "fori_loop with static start/stop.")


@pytest.fixture
def x64():
    prev = hd.config.enable_x64
    hd.config.update("enable_x64", True)
    yield
    hd.config.update("enable_x64", prev)


def _close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **kw)


def _tree_close(a, b, **kw):
    la, ta = hd.tree_flatten(a)
    lb, tb = hd.tree_flatten(b)
    assert ta == tb, (ta, tb)
    for x, y in zip(la, lb):
        _close(x, y, **kw)


# ---------------------------------------------------------------------------------------------
# Eager evaluation vs Python


def test_cond_eager_picks_branch_and_keeps_pytrees():
    def f(p, x):
        return cond(p, lambda d: {"a": d["x"] * 2.0, "b": (d["x"], 1.0)},
                    lambda d: {"a": d["x"] - 1.0, "b": (-d["x"], 2.0)}, {"x": x})

    x = np.array([1.0, 2.0], np.float32)
    _tree_close(f(True, x), {"a": x * 2, "b": (x, 1.0)})
    _tree_close(f(False, x), {"a": x - 1, "b": (-x, 2.0)})
    assert float(cond(3, lambda: 1.0, lambda: 0.0)) == 1.0  # numbers compare with 0
    assert float(cond(0.0, lambda: 1.0, lambda: 0.0)) == 0.0
    assert float(cond(hnp.array(True), lambda x: x, lambda x: -x, operand=2.0)) == 2.0


def test_cond_output_weak_type_follows_false_branch_like_jax():
    out = cond(True, lambda: 1.0, lambda: hnp.asarray(2.0, hnp.float32))
    assert float(out) == 1.0 and out.dtype == np.float32 and not out.weak_type
    out = cond(False, lambda: hnp.asarray(2.0, hnp.float32), lambda: 1.0)
    assert out.weak_type


def test_switch_clamps_the_index():
    branches = [lambda x: x, lambda x: 2.0 * x, lambda x: x ** 2]
    for i, expect in [(-3, 3.0), (0, 3.0), (1, 6.0), (2, 9.0), (7, 9.0)]:
        assert float(switch(i, branches, 3.0)) == expect
    assert float(switch(5, [lambda x: x + 1.0], 1.0)) == 2.0  # one branch: just called


def test_while_loop_eager():
    assert int(while_loop(lambda i: i < 10, lambda i: i + 1, 0)) == 10
    out = while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * 2.0),
                     (0, np.float32(1.0)))
    assert int(out[0]) == 5 and float(out[1]) == 32.0
    # zero iterations return the init, with the loop's output type
    out = while_loop(lambda c: c > 100.0, lambda c: c * 2.0, np.float32(3.0))
    assert float(out) == 3.0 and out.dtype == np.float32


def test_while_loop_promotes_weak_init_like_jax():
    out = while_loop(lambda c: c < 3.0, lambda c: c + np.float32(1.5), 0)
    assert out.dtype == np.float32 and float(out) == 3.0


def test_fori_loop_static_and_dynamic_bounds():
    assert int(fori_loop(0, 4, lambda i, acc: acc + i, 0)) == 6
    assert int(fori_loop(3, 1, lambda i, acc: acc + i, 0)) == 0
    x = fori_loop(0, 5, lambda i, c: c * 2.0 + i, np.float32(1.0))
    ref = 1.0
    for i in range(5):
        ref = ref * 2.0 + i
    assert float(x) == ref
    static = str(hd.make_jaxpr(lambda x: fori_loop(0, 3, lambda i, c: c * x, x))(1.0))
    dynamic = str(hd.make_jaxpr(lambda n, x: fori_loop(0, n, lambda i, c: c * x, x))(3, 1.0))
    assert "scan[" in static and "while[" not in static
    assert "while[" in dynamic and "scan[" not in dynamic


def _py_scan(f, init, xs, reverse=False):
    carry, ys = init, []
    idx = range(len(xs) - 1, -1, -1) if reverse else range(len(xs))
    for i in idx:
        carry, y = f(carry, xs[i])
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, np.stack(ys)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_eager_matches_python(reverse):
    xs = np.arange(5, dtype=np.float32)

    def f(c, x):
        return c * 0.5 + x, c + x * x

    c, ys = scan(f, np.float32(1.0), xs, reverse=reverse)
    c_ref, ys_ref = _py_scan(lambda c, x: (c * 0.5 + x, c + x * x), np.float32(1.0), xs, reverse)
    _close(c, c_ref, rtol=1e-6)
    _close(ys, ys_ref, rtol=1e-6)


def test_scan_pytrees_length_and_none():
    xs = {"a": np.ones((3, 2), np.float32), "b": np.arange(3, dtype=np.int32)}
    carry, ys = scan(lambda c, x: ((c[0] + x["a"], c[1] + x["b"]), None),
                     (np.zeros(2, np.float32), 0), xs)
    _close(carry[0], [3.0, 3.0])
    assert int(carry[1]) == 3 and ys is None
    c, ys = scan(lambda c, _: (c + 1, c), 0, None, length=4)
    assert int(c) == 4
    _close(ys, [0, 1, 2, 3])
    c, ys = scan(lambda c, _: (c, c), np.float32(1.0), None, length=0)
    assert ys.shape == (0,) and float(c) == 1.0


def test_map_with_and_without_batch_size():
    xs = np.arange(7, dtype=np.float32)
    _close(lax_map(lambda x: x * 2.0, xs), xs * 2)
    for bs in (0, 2, 3, 7, 10):
        _close(lax_map(lambda x: hnp.sin(x), xs, batch_size=bs), np.sin(xs), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Errors (JAX's types and wording)


def test_cond_errors():
    with pytest.raises(TypeError, match="cond branch outputs must have the same pytree "
                                        "structure, but they differ"):
        cond(True, lambda x: x, lambda x: (x, x), 1.0)
    with pytest.raises(TypeError, match="pytree metadata"):
        cond(True, lambda x: {"a": x}, lambda x: {"b": x}, 1.0)
    with pytest.raises(TypeError) as e:
        cond(True, lambda x: x, lambda x: hnp.ones(3), 1.0)
    msg = str(e.value)
    assert "cond branches must have equal output types but they differ" in msg
    assert ("The output of true_fun has type float32[] but the corresponding output of "
            "false_fun has type float32[3], so the shapes do not match.") in msg
    assert "true_fun is <lambda> at " in msg and "false_fun is <lambda> at " in msg
    with pytest.raises(TypeError, match=r"Pred must be a scalar, got \[ True  True\] of shape "):
        cond(np.array([True, True]), lambda x: x, lambda x: x, 1.0)
    with pytest.raises(TypeError, match="Pred must be a scalar, got a of type <class 'str'>"):
        cond("a", lambda x: x, lambda x: x, 1.0)
    with pytest.raises(TypeError, match="true_fun and false_fun arguments should be callable"):
        cond(True, 1, lambda x: x, 1.0)
    with pytest.raises(TypeError, match="cond predicate is None"):
        cond(None, lambda: 1.0, lambda: 1.0)


def test_cond_weak_type_mismatch_is_allowed():
    out = cond(True, lambda x: x, lambda x: hnp.asarray(x, hnp.float32), 1.0)
    assert float(out) == 1.0


def test_switch_errors():
    with pytest.raises(TypeError) as e:
        switch(1, [lambda x: x, lambda x: hnp.asarray(1, hnp.int32), lambda x: x], 1.0)
    assert ("The output of branch 0 has type float32[] but the corresponding output of branch1 "
            "has type int32[], so the dtypes do not match.") in str(e.value)
    with pytest.raises(TypeError, match="Index type must be an integer, got 1.5 as float32"):
        switch(1.5, [lambda x: x], 1.0)
    with pytest.raises(TypeError, match="Branch index must be scalar"):
        switch(np.array([0, 1]), [lambda x: x, lambda x: x], 1.0)
    with pytest.raises(ValueError, match="Empty branch sequence"):
        switch(0, [], 1.0)


def test_while_loop_errors():
    with pytest.raises(TypeError, match=r"cond_fun must return a boolean scalar, but got output "
                                        r"type\(s\)"):
        while_loop(lambda c: c, lambda c: c + 1, 0)
    with pytest.raises(TypeError, match="cond_fun must return a boolean scalar, but got pytree"):
        while_loop(lambda c: (c < 2, c < 3), lambda c: c + 1, 0)
    with pytest.raises(TypeError, match="while_loop body function carry input and carry output "
                                        "must have the same pytree structure"):
        while_loop(lambda c: c < 2, lambda c: (c, c), 0)
    with pytest.raises(TypeError) as e:
        while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, hnp.ones(2)), (0, np.float32(1)))
    assert ("The input carry component c[1] has type float32[] but the corresponding output "
            "carry component has type float32[2], so the shapes do not match.") in str(e.value)
    with pytest.raises(TypeError, match="body_fun and cond_fun arguments should be callable"):
        while_loop(1, lambda c: c, 0)


def test_while_loop_reverse_mode_error():
    def f(x):
        return while_loop(lambda c: c < 10.0, lambda c: c * 2.0, x)

    with pytest.raises(ValueError) as e:
        hd.grad(f)(1.0)
    assert str(e.value) == _REVERSE_ERROR
    dyn = lambda n, x: fori_loop(0, n, lambda i, c: c * x, x)
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        hd.make_jaxpr(hd.grad(dyn, argnums=1))(3, 1.5)  # a traced bound: a while loop
    _close(hd.grad(dyn, argnums=1)(3, 1.5), 4 * 1.5 ** 3)  # a concrete bound: a scan


def test_scan_errors():
    with pytest.raises(TypeError, match="scan body output must be a pair, got ~float32"):
        scan(lambda c, x: c, 0.0, np.arange(3.0))
    with pytest.raises(ValueError, match="scan got values with different leading axis sizes: "
                                         "3, 4."):
        scan(lambda c, x: (c, x), 0.0, (np.arange(3.0), np.arange(4.0)))
    with pytest.raises(ValueError, match="scan got no values to scan over and `length` not "
                                         "provided."):
        scan(lambda c, x: (c, x), 0.0, None)
    with pytest.raises(ValueError, match=r"scan got `length` argument of 4 which disagrees with "
                                         r"leading axis sizes \[3\]."):
        scan(lambda c, x: (c, x), 0.0, np.arange(3.0), length=4)
    with pytest.raises(ValueError, match="scan got value with no leading axis to scan over"):
        scan(lambda c, x: (c, x), 0.0, 1.0)
    with pytest.raises(TypeError, match="scan body function carry input and carry output must "
                                        "have the same pytree structure"):
        scan(lambda carry, x: (carry[0], x), (0.0, 1.0), np.arange(3.0))
    with pytest.raises(TypeError, match="must have equal types"):
        scan(lambda c, x: (hnp.ones(2) * c, x), np.float32(0.0), np.arange(3.0))
    with pytest.raises(ValueError, match="`unroll` must be a `bool` or a non-negative `int`."):
        scan(lambda c, x: (c, x), 0.0, np.arange(3.0), unroll=-1)
    with pytest.raises(TypeError, match="lax.scan: f argument should be a callable."):
        scan(1, 0.0, np.arange(3.0))


# ---------------------------------------------------------------------------------------------
# Derivatives vs finite differences (float64)


def _f_cond(x, y):
    return cond(x > 0, lambda a, b: hnp.sin(a) * b, lambda a, b: a * a + b, x, y)


def _f_switch(x):
    i = hnp.asarray(x > 0, hnp.int32) + hnp.asarray(x > 1, hnp.int32)
    return switch(i, [hnp.sin, hnp.cos, lambda z: z ** 3], x)


@pytest.mark.parametrize("x", [-0.7, 0.4, 1.3])
def test_cond_switch_grads(x64, x):
    check_grads(_f_cond, (x, 2.0), order=2, modes=("fwd", "rev"))
    check_grads(_f_switch, (x,), order=2, modes=("fwd", "rev"))


def test_cond_closure_and_pytree_grads(x64):
    w = np.array([0.3, -0.2, 0.5])

    def f(x):
        return cond(hnp.sum(x) > 0, lambda d: {"o": hnp.tanh(d["x"] * w)},
                    lambda d: {"o": d["x"] ** 2 * hnp.sum(w)}, {"x": x})["o"]

    check_grads(f, (np.array([0.1, 0.2, 0.3]),), order=2)
    check_grads(f, (np.array([-0.1, -0.2, 0.1]),), order=2)


def test_cond_residuals_differ_across_branches(x64):
    # branch 0 saves one residual, branch 1 three of another shape: merged by type
    def f(x, y):
        return cond(x[0] > 0, lambda a, b: hnp.sin(a) * hnp.exp(b[0]),
                    lambda a, b: a * hnp.sum(hnp.cos(b) * b), x, y)

    for x0 in (0.5, -0.5):
        check_grads(f, (np.array([x0, 0.2]), np.array([0.1, 0.2, 0.3])), order=2)


def _f_scan(x, w, c0):
    def body(c, xi):
        h = hnp.tanh(c * w + xi)
        return h, h * c
    c, ys = scan(body, c0, x)
    return c + hnp.sum(ys ** 2)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_grads(x64, reverse):
    x = np.linspace(-1, 1, 4)

    def f(x, w, c0):
        def body(c, xi):
            h = hnp.tanh(c * w + xi)
            return h, h * c
        c, ys = scan(body, c0, x, reverse=reverse)
        return c + hnp.sum(ys ** 2)

    check_grads(f, (x, 0.7, 0.3), order=2)


def test_scan_pytree_carry_and_consts_grads(x64):
    W = np.array([[0.5, -0.3], [0.2, 0.4]])

    def f(W, xs, h0):
        def body(carry, x):
            h, acc = carry
            h = hnp.tanh(W @ h + x["in"])
            return (h, acc + hnp.sum(h)), {"out": h * x["scale"]}
        (h, acc), ys = scan(body, (h0, 0.0), xs)
        return hnp.sum(h) + acc + hnp.sum(ys["out"])

    xs = {"in": np.linspace(-1, 1, 6).reshape(3, 2), "scale": np.array([1.0, 2.0, 0.5])}
    check_grads(f, (W, xs, np.array([0.1, -0.1])), order=2)


def test_fori_loop_static_grads(x64):
    check_grads(lambda x: fori_loop(0, 3, lambda i, c: c * x + i, x), (1.3,), order=2)
    check_grads(lambda x: fori_loop(1, 4, lambda i, c: hnp.sin(c) * i, x), (0.4,), order=2)


def test_while_loop_forward_mode(x64):
    def f(x):
        return while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * x), (0, x))[1]

    check_grads(f, (1.3,), order=2, modes=("fwd",))
    _, t = hd.jvp(f, (1.3,), (1.0,))
    _close(t, 6 * 1.3 ** 5)  # f(x) = x * x**5
    y, f_jvp = hd.linearize(f, 1.3)
    _close(y, 1.3 ** 6)
    _close(f_jvp(1.0), 6 * 1.3 ** 5)


def _nested(x):
    def body(c, xi):
        c = cond(xi > 0, lambda c: c * xi, lambda c: hnp.sin(c) + xi, c)
        return c, fori_loop(0, 2, lambda i, a: a * c, xi)
    c, ys = scan(body, x[0], x)
    return c + hnp.sum(ys)


def test_nested_control_flow_grads(x64):
    check_grads(_nested, (np.array([0.3, -0.4, 0.8]),), order=2)


def test_map_grads(x64):
    check_grads(lambda x: hnp.sum(lax_map(lambda r: hnp.sin(r) * r, x) ** 2),
                (np.linspace(0, 1, 5),), order=2)


def test_jvp_through_cond_matches_formula():
    _, t = hd.jvp(lambda x: cond(x > 0, hnp.sin, hnp.cos, x), (0.5,), (1.0,))
    _close(t, np.cos(0.5), rtol=1e-6)
    g = hd.grad(lambda x: cond(x > 0, hnp.sin, hnp.cos, x))(-0.5)
    _close(g, -np.sin(-0.5), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# vmap vs Python loops


def _loop(f, *args, in_axes):
    n = next(np.shape(a)[0] for a, ax in zip(args, in_axes) if ax is not None)
    outs = [f(*[a[i] if ax == 0 else a for a, ax in zip(args, in_axes)]) for i in range(n)]
    return hd.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *outs)


@pytest.mark.parametrize("in_axes", [(0, 0), (None, 0), (0, None)])
def test_vmap_cond(in_axes):
    def f(p, x):
        return cond(p > 0, lambda x: (x * 2.0, hnp.sum(x)), lambda x: (x - 1.0, -hnp.sum(x)), x)

    p = np.array([1.0, -1.0, 2.0, -3.0], np.float32)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    if in_axes[0] is None:
        p = np.float32(1.0)
    if in_axes[1] is None:
        x = x[0]
    _tree_close(hd.vmap(f, in_axes=in_axes)(p, x), _loop(f, p, x, in_axes=in_axes))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # log of the negative operand, unused
def test_vmap_switch_batched_index_and_grad_has_no_nan_from_other_branch():
    def f(i, x):
        return switch(i, [lambda x: hnp.log(x), lambda x: -x, lambda x: x * x], x)

    i = np.array([0, 1, 2, 5, -1], np.int32)
    x = np.array([1.5, -2.0, 3.0, 0.5, 2.0], np.float32)
    _close(hd.vmap(f)(i, x), _loop(f, i, x, in_axes=(0, 0)), rtol=1e-6)
    g = hd.vmap(hd.grad(f, argnums=1))(i, x)
    assert np.all(np.isfinite(np.asarray(g)))
    _close(g, [1 / 1.5, -1.0, 6.0, 1.0, 1 / 2.0], rtol=1e-6)


def test_vmap_while_batched_predicate_runs_each_element_its_own_count():
    def f(n, x):
        return while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * 2.0 + 1.0),
                          (0, x))

    n = np.array([0, 1, 3, 5], np.int32)
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    _tree_close(hd.vmap(f)(n, x), _loop(f, n, x, in_axes=(0, 0)))
    _tree_close(hd.vmap(f, in_axes=(0, None))(n, np.float32(1.5)),
                _loop(f, n, np.float32(1.5), in_axes=(0, None)))


def test_vmap_while_unbatched_predicate_batched_carry():
    def f(x, w):
        return while_loop(lambda c: c[0] < 4, lambda c: (c[0] + 1, c[1] * w + 1.0), (0, x))

    x = np.arange(3, dtype=np.float32)
    out = hd.vmap(f, in_axes=(0, None))(x, np.float32(0.5))
    _tree_close(out, _loop(f, x, np.float32(0.5), in_axes=(0, None)))
    jaxpr = str(hd.make_jaxpr(hd.vmap(f, in_axes=(0, None)))(x, np.float32(0.5)))
    assert "reduce_or" not in jaxpr  # the predicate stays unbatched: no any-reduction
    w = np.array([0.5, 1.0, 2.0], np.float32)
    _tree_close(hd.vmap(f, in_axes=(None, 0))(np.float32(1.0), w),
                _loop(f, np.float32(1.0), w, in_axes=(None, 0)))


def test_vmap_fori_loop_with_batched_bound():
    f = lambda n, x: fori_loop(0, n, lambda i, c: c + i * x, x)
    n = np.array([0, 2, 4], np.int32)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    _close(hd.vmap(f)(n, x), _loop(f, n, x, in_axes=(0, 0)))


@pytest.mark.parametrize("in_axes", [(0, None, None), (None, 0, None), (None, None, 0),
                                     (1, 0, 0)])
def test_vmap_scan(in_axes):
    def f(xs, w, c0):
        return scan(lambda c, x: (c * w + x, hnp.sin(c) + x), c0, xs)

    B, T = 3, 4
    xs = np.linspace(-1, 1, T * B).reshape(T, B).astype(np.float32)
    xs = xs.T if in_axes[0] == 0 else (xs if in_axes[0] == 1 else xs[:, 0])
    w = np.array([0.5, -0.5, 0.9], np.float32) if in_axes[1] == 0 else np.float32(0.7)
    c0 = np.array([0.1, 0.2, 0.3], np.float32) if in_axes[2] == 0 else np.float32(0.2)
    out = hd.vmap(f, in_axes=in_axes)(xs, w, c0)
    loop_axes = tuple(None if a is None else 0 for a in in_axes)
    xs_l = xs.T if in_axes[0] == 1 else xs
    ref = _loop(f, xs_l, w, c0, in_axes=loop_axes)
    _tree_close(out, ref, rtol=1e-5, atol=1e-6)


def test_vmap_of_grad_and_grad_of_vmap_through_scan(x64):
    def f(x, w):
        c, ys = scan(lambda c, xi: (hnp.tanh(c * w + xi), c * xi), 0.1, x)
        return c + hnp.sum(ys)

    xs = np.linspace(-1, 1, 12).reshape(3, 4)
    w = np.array([0.3, 0.6, 0.9])
    _close(hd.vmap(hd.grad(f, argnums=(0, 1)))(xs, w)[0],
           _loop(lambda x, w: hd.grad(f)(x, w), xs, w, in_axes=(0, 0)), rtol=1e-10)
    check_grads(lambda xs, w: hnp.sum(hd.vmap(f)(xs, w)), (xs, w), order=1)


# ---------------------------------------------------------------------------------------------
# The tutorial's fixed_point (spec: advanced-autodiff-tutorial.md)


def _fixed_point_raw(f, a, x_guess):
    def cond_fun(carry):
        x_prev, x = carry
        return hnp.abs(x_prev - x) > 1e-6

    def body_fun(carry):
        _, x = carry
        return x, f(a, x)

    _, x_star = while_loop(cond_fun, body_fun, (x_guess, f(a, x_guess)))
    return x_star


fixed_point = hd.custom_vjp(_fixed_point_raw, nondiff_argnums=(0,))


def _fixed_point_fwd(f, a, x_init):
    x_star = fixed_point(f, a, x_init)
    return x_star, (a, x_star)


def _fixed_point_rev(f, res, x_star_bar):
    a, x_star = res
    _, vjp_a = hd.vjp(lambda a: f(a, x_star), a)
    a_bar, = vjp_a(fixed_point(partial(_rev_iter, f), (a, x_star, x_star_bar), x_star_bar))
    return a_bar, hnp.zeros_like(x_star)


def _rev_iter(f, packed, u):
    a, x_star, x_star_bar = packed
    _, vjp_x = hd.vjp(lambda x: f(a, x), x_star)
    return x_star_bar + vjp_x(u)[0]


fixed_point.defvjp(_fixed_point_fwd, _fixed_point_rev)


def _update(a, x):
    return 0.5 * (x + a / x)


def newton_sqrt_plain(a):
    return _fixed_point_raw(_update, a, a)


def newton_sqrt(a):
    return fixed_point(_update, a, a)


def test_spec_newton_sqrt_with_while_loop():
    assert str(newton_sqrt_plain(2.0)) == "1.4142135"
    assert str(hd.vmap(newton_sqrt_plain)(hnp.array([1.0, 2.0, 3.0, 4.0]))) == \
        "[1.        1.4142135 1.7320509 2.       ]"


def test_spec_fixed_point_custom_vjp():
    assert str(newton_sqrt(2.0)) == "1.4142135"
    assert str(hd.vmap(newton_sqrt)(hnp.array([1.0, 2.0, 3.0, 4.0]))) == \
        "[1.        1.4142135 1.7320509 2.       ]"
    assert str(hd.grad(newton_sqrt)(2.0)) == "0.35355338"
    _close(hd.grad(hd.grad(newton_sqrt))(2.0), -0.088388346, rtol=1e-6)


def test_integer_pow_rounds_like_xla():
    # XLA computes integer powers by repeated multiplication: x*x*x, not pow(x, 3).
    x = np.float32(1.4142135)
    assert float(hd.lax.integer_pow(x, 3)) == float(x * (x * x))


def test_spec_fixed_point_second_derivative_printed_digits():
    assert str(hd.grad(hd.grad(newton_sqrt))(2.0)) == "-0.088388346"


# ---------------------------------------------------------------------------------------------
# Staging: make_jaxpr shows nested jaxprs


def test_make_jaxpr_prints_nested_jaxprs():
    text = str(hd.make_jaxpr(lambda p, x: cond(p, lambda x: x * 2.0, lambda x: x + 1.0, x))(
        True, 1.0))
    assert "convert_element_type[new_dtype=int32 weak_type=False]" in text
    assert "cond[" in text and "branches=" in text
    assert text.count("lambda") == 3 and "mul" in text and "add" in text
    text = str(hd.make_jaxpr(lambda x: scan(lambda c, x: (c + x, c * 2.0), 0.0, x))(
        np.arange(3.0, dtype=np.float32)))
    assert "scan[" in text and text.count("lambda") == 2
    for param in ("length=3", "num_carry=1", "num_consts=0", "reverse=False", "unroll=1"):
        assert param in text
    text = str(hd.make_jaxpr(lambda x: while_loop(lambda c: c < 3.0, lambda c: c * x, x))(1.0))
    assert "while[" in text and "body_nconsts=1" in text and "cond_nconsts=0" in text
    assert text.count("lambda") == 3


def test_closed_over_values_become_operands():
    w = np.arange(3, dtype=np.float32)
    jaxpr = hd.make_jaxpr(lambda x: scan(lambda c, xi: (c + w * xi, None), x, np.ones(4)))(w)
    (eqn,) = [e for e in jaxpr.eqns if e.primitive.name == "scan"]
    inner = eqn.params["jaxpr"]
    assert not inner.jaxpr.constvars and eqn.params["num_consts"] == 1


# ---------------------------------------------------------------------------------------------
# jit (compiled through lowering/rules/control_flow.py)


def _jit_available() -> bool:
    try:
        return float(hd.jit(lambda x: cond(x > 0, lambda x: x, lambda x: -x, x))(2.0)) == 2.0
    except Exception:  # noqa: BLE001 -- no IREE / no lowering: jit is tested elsewhere
        return False


jit_only = pytest.mark.skipif(not _jit_available(), reason="jit of control flow unavailable")


@pytest.mark.cpu
@jit_only
def test_jit_control_flow_matches_eager():
    xs = np.linspace(-1, 1, 5).astype(np.float32)
    fns = [
        (lambda p, x: cond(p, lambda x: x * 2.0, lambda x: x + 1.0, x), (True, xs)),
        (lambda p, x: cond(p, lambda x: x * 2.0, lambda x: x + 1.0, x), (False, xs)),
        (lambda i, x: switch(i, [hnp.sin, hnp.cos, lambda x: -x], x), (7, xs)),
        (lambda n, x: fori_loop(0, n, lambda i, c: c * 0.5 + i, x), (4, xs)),
        (lambda x: scan(lambda c, x: (c * 0.5 + x, c * x), 1.0, x), (xs,)),
        (lambda x: scan(lambda c, x: (c * 0.5 + x, c * x), 1.0, x, reverse=True), (xs,)),
        (lambda x: lax_map(lambda r: hnp.sum(r * r), x), (xs.reshape(5, 1),)),
        (hd.grad(lambda x: hnp.sum(scan(lambda c, x: (hnp.sin(c) * x, c), 0.5, x)[1])), (xs,)),
        (hd.grad(lambda x: cond(x > 0, lambda: hnp.sin(x), lambda: x ** 2)), (2.0,)),
        (hd.vmap(lambda p, x: cond(p > 0, lambda x: x * 2.0, lambda x: -x, x)), (xs, xs)),
        # a branch returning its operand, stored by a scan next to a nested loop's result
        (hd.grad(_nested), (xs[:3],)),
        (hd.vmap(_nested), (np.stack([xs[:3], -xs[:3]]),)),
    ]
    for f, args in fns:
        _tree_close(hd.jit(f)(*args), f(*args), rtol=1e-5, atol=1e-6)


def test_lowered_modules_parse_and_verify():
    ir = pytest.importorskip("iree.compiler.ir")
    from hlodiff.lowering import lower_jaxpr

    xs = np.linspace(-1, 1, 3).astype(np.float32)
    for f, args in [(_nested, (xs,)), (hd.grad(_nested), (xs,)),
                    (hd.vmap(newton_sqrt_plain), (xs + 2,)),
                    (lambda i, x: switch(i, [hnp.sin, lambda x: x], x), (1, xs))]:
        text = lower_jaxpr(hd.make_jaxpr(f)(*args)).text
        with ir.Context():
            assert ir.Module.parse(text).operation.verify()


@pytest.mark.cpu
@jit_only
def test_spec_jit_vmap_newton_sqrt():
    out = hd.jit(hd.vmap(newton_sqrt))(hnp.array([1.0, 2.0, 3.0, 4.0]))
    assert str(out) == "[1.        1.4142135 1.7320509 2.       ]"


# ---------------------------------------------------------------------------------------------
# Differential checks against JAX (where installed)


def test_against_jax():
    jax = pytest.importorskip("jax")
    jnp, jlax = jax.numpy, jax.lax
    xs = np.linspace(-1, 1, 6).astype(np.float32)

    def pair(lax_scan, lax_cond, np_):
        def f(x, w):
            def body(c, xi):
                c = lax_cond(xi > 0, lambda c: c * w + xi, lambda c: np_.sin(c) - xi, c)
                return c, c * xi
            return lax_scan(body, np.float32(0.5), x)
        return f

    ours = pair(scan, cond, hnp)
    theirs = pair(jlax.scan, jlax.cond, jnp)
    _tree_close(ours(xs, 0.7), theirs(xs, 0.7), rtol=1e-6)
    g = lambda f: lambda x, w: f(x, w)[0] + (f(x, w)[1] ** 2).sum()
    _tree_close(hd.grad(g(ours), argnums=(0, 1))(xs, 0.7),
                tuple(jax.grad(g(theirs), argnums=(0, 1))(xs, 0.7)), rtol=1e-5, atol=1e-6)
    n = np.array([0, 3, 5], np.int32)
    wl = lambda lax_while: lambda n, x: lax_while(
        lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * 1.5), (0, x))
    _tree_close(hd.vmap(wl(while_loop))(n, xs[:3]), jax.vmap(wl(jlax.while_loop))(n, xs[:3]))
    with pytest.raises(ValueError) as e:
        jax.grad(lambda x: jlax.while_loop(lambda c: c < 10.0, lambda c: c * 2.0, x))(1.0)
    assert str(e.value) == _REVERSE_ERROR


@pytest.mark.parametrize("unroll", [1, 2, 3, 7, 10, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_unroll_lowering_matches_eager(unroll, reverse):
    xs = hnp.asarray(np.random.default_rng(0).random((7, 3)).astype(np.float32))

    def f(xs):
        def cell(c, x):
            c = hnp.tanh(c * 0.5 + x)
            return c, c * 2.0

        return scan(cell, hnp.zeros(3), xs, reverse=reverse, unroll=unroll)

    eager, jitted = f(xs), hd.jit(f)(xs)
    for a, b in zip(hd.tree_leaves(eager), hd.tree_leaves(jitted)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-6)
    text = hd.jit(f).lower(xs).as_text()
    assert ("stablehlo.while" in text) == (unroll is not True and 7 // int(unroll) > 1)


def _rnn_loss(reverse):
    def loss(xs, w):
        def cell(c, x):
            new = hnp.tanh(c * w + x)
            return new, (new * x, c)  # the old carry is stacked too (a forwarded value)

        c, (ys, prev) = scan(cell, hnp.full(3, 0.1), xs, reverse=reverse)
        return hnp.sum(ys ** 2) + hnp.sum(c) + 0.5 * hnp.sum(prev)

    return loss


@pytest.mark.cpu
@jit_only
@pytest.mark.parametrize("length", [8, 11])
@pytest.mark.parametrize("reverse", [False, True])
def test_jit_grad_and_vmap_through_nested_scan_loops(monkeypatch, length, reverse):
    # Two slots a loop: 8 steps are loops three levels deep (2 x 2 x 2), 11 a loop nest per
    # binary digit; in the forward scan, in the transposed (reversed) one, and batched.
    monkeypatch.setattr(control_flow_lowering, "_LOOP_SLOTS", 2)
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((length, 3)).astype(np.float32)
    w = np.float32(0.8)
    loss = _rnn_loss(reverse)
    grad = hd.grad(loss, argnums=(0, 1))
    assert hd.jit(grad).lower(xs, w).as_text().count('"stablehlo.while"') >= 6
    _tree_close(hd.jit(grad)(xs, w), grad(xs, w), rtol=1e-5, atol=1e-6)
    batched = hd.vmap(loss, in_axes=(0, None))
    xb = np.stack([xs, -xs, 0.5 * xs])
    _tree_close(hd.jit(batched)(xb, w), batched(xb, w), rtol=1e-5, atol=1e-6)
    _tree_close(hd.jit(hd.vmap(grad, in_axes=(0, None)))(xb, w),
                hd.vmap(grad, in_axes=(0, None))(xb, w), rtol=1e-5, atol=1e-6)
