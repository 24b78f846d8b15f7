"""The spec tutorial, cell by cell: each cell runs as written (imports ported) and prints what the
spec prints. Cells are grouped by section; a section shares one namespace, as in the notebook."""

from __future__ import annotations

import textwrap

import pytest

from tests.spec_cells import assert_printed, run_cell

PRELUDE = """
import hlodiff as jax
import hlodiff.numpy as jnp
from hlodiff import grad, jit, vmap
"""


def new_ns() -> dict:
    ns: dict = {}
    exec(PRELUDE, ns)
    return ns


def check(ns, src, expected_stdout="", expected_value=None):
    out, value = run_cell(src, ns)
    assert_printed(out, expected_stdout)
    if expected_value is not None:
        assert_printed(repr(value), expected_value)
    return value


# ---------------------------------------------------------------------------------------------
# Taking gradients (part 2)


def test_hessian_of_dot():
    ns = new_ns()
    check(ns, """
    def hessian(f):
      return jax.jacfwd(jax.grad(f))
    def f(x):
      return jnp.dot(x, x)
    hessian(f)(jnp.array([1., 2., 3.]))
    """, expected_value="""Array([[2., 0., 0.],
       [0., 2., 0.],
       [0., 0., 2.]], dtype=float32)""")


def td_ns():
    ns = new_ns()
    run_cell("""
    value_fn = lambda theta, state: jnp.dot(theta, state)
    theta = jnp.array([0.1, -0.1, 0.])
    s_tm1 = jnp.array([1., 2., -1.])
    r_t = jnp.array(1.)
    s_t = jnp.array([2., 1., 0.])
    """, ns)
    return ns


def test_td_loss_naive_and_stop_gradient():
    ns = td_ns()
    check(ns, """
    def td_loss(theta, s_tm1, r_t, s_t):
      v_tm1 = value_fn(theta, s_tm1)
      target = r_t + value_fn(theta, s_t)
      return -0.5 * ((target - v_tm1) ** 2)
    td_update = jax.grad(td_loss)
    delta_theta = td_update(theta, s_tm1, r_t, s_t)
    delta_theta
    """, expected_value="Array([-1.2, 1.2, -1.2], dtype=float32)")
    check(ns, """
    def td_loss(theta, s_tm1, r_t, s_t):
      v_tm1 = value_fn(theta, s_tm1)
      target = r_t + value_fn(theta, s_t)
      return -0.5 * ((jax.lax.stop_gradient(target) - v_tm1) ** 2)
    td_update = jax.grad(td_loss)
    delta_theta = td_update(theta, s_tm1, r_t, s_t)
    delta_theta
    """, expected_value="Array([ 1.2, 2.4, -1.2], dtype=float32)")
    check(ns, """
    s_grad = jax.grad(value_fn)(theta, s_tm1)
    delta_theta_original_calculation = (r_t + value_fn(theta, s_t) - value_fn(theta, s_tm1)) * s_grad
    delta_theta_original_calculation # [1.2, 2.4, -1.2], same as `delta_theta`
    """, expected_value="Array([ 1.2, 2.4, -1.2], dtype=float32)")


def test_straight_through_estimator():
    ns = new_ns()
    check(ns, """
    def f(x):
      return jnp.round(x) # non-differentiable
    def straight_through_f(x):
      zero = x - jax.lax.stop_gradient(x)
      return zero + jax.lax.stop_gradient(f(x))
    print("f(x): ", f(3.2))
    print("straight_through_f(x):", straight_through_f(3.2))
    print("grad(f)(x):", jax.grad(f)(3.2))
    print("grad(straight_through_f)(x):", jax.grad(straight_through_f)(3.2))
    """, """f(x): 3.0
straight_through_f(x): 3.0
grad(f)(x): 0.0
grad(straight_through_f)(x): 1.0""")


PEREX_OUT = """Array([[ 1.2, 2.4, -1.2],
       [ 1.2, 2.4, -1.2]], dtype=float32)"""


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
def test_per_example_gradients(jitted):
    ns = td_ns()
    run_cell("""
    def td_loss(theta, s_tm1, r_t, s_t):
      v_tm1 = value_fn(theta, s_tm1)
      target = r_t + value_fn(theta, s_t)
      return -0.5 * ((jax.lax.stop_gradient(target) - v_tm1) ** 2)
    batched_s_tm1 = jnp.stack([s_tm1, s_tm1])
    batched_r_t = jnp.stack([r_t, r_t])
    batched_s_t = jnp.stack([s_t, s_t])
    """, ns)
    check(ns, """
    dtdloss_dtheta = jax.grad(td_loss)
    dtdloss_dtheta(theta, s_tm1, r_t, s_t)
    """, expected_value="Array([ 1.2, 2.4, -1.2], dtype=float32)")
    check(ns, """
    almost_perex_grads = jax.vmap(dtdloss_dtheta)
    batched_theta = jnp.stack([theta, theta])
    almost_perex_grads(batched_theta, batched_s_tm1, batched_r_t, batched_s_t)
    """, expected_value=PEREX_OUT)
    check(ns, """
    inefficient_perex_grads = jax.vmap(dtdloss_dtheta, in_axes=(None, 0, 0, 0))
    inefficient_perex_grads(theta, batched_s_tm1, batched_r_t, batched_s_t)
    """, expected_value=PEREX_OUT)
    if jitted:
        check(ns, """
        perex_grads = jax.jit(inefficient_perex_grads)
        perex_grads(theta, batched_s_tm1, batched_r_t, batched_s_t)
        """, expected_value=PEREX_OUT)
        check(ns, """
        perex_grads = jax.jit(jax.vmap(jax.grad(td_loss), in_axes=(None, 0, 0, 0)))
        perex_grads(theta, batched_s_tm1, batched_r_t, batched_s_t)
        """, expected_value=PEREX_OUT)


# ---------------------------------------------------------------------------------------------
# How it's made: vector-valued gradients, the vjp of Python control flow


def test_vgrad():
    ns = new_ns()
    ns["vjp"] = ns["jax"].vjp
    check(ns, """
    def vgrad(f, x):
      y, vjp_fn = vjp(f, x)
      return vjp_fn(jnp.ones(y.shape))[0]
    print(vgrad(lambda x: 3*x**2, jnp.ones((2, 2))))
    """, """[[6. 6.]
 [6. 6.]]""")


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
def test_vjp_of_python_control_flow(jitted):
    ns = new_ns()
    ns["vjp"] = ns["jax"].vjp
    run_cell("""
    def f(x):
      try:
        if x < 3:
          return 2 * x ** 3
        else:
          raise ValueError
      except ValueError:
        return jnp.pi * x
    y, f_vjp = vjp(f, 4.)
    """, ns)
    src = "print(jit(f_vjp)(1.))" if jitted else "print(f_vjp(1.))"
    check(ns, src, "(Array(3.1415927, dtype=float32, weak_type=True),)")


# ---------------------------------------------------------------------------------------------
# Complex numbers and differentiation


def test_grad_of_complex_to_real():
    ns = new_ns()
    check(ns, """
    def f(z):
      x, y = jnp.real(z), jnp.imag(z)
      return x**2 + y**2
    z = 3. + 4j
    grad(f)(z)
    """, expected_value="Array(6.-8.j, dtype=complex64)")


def test_grad_holomorphic():
    ns = new_ns()
    check(ns, """
    def f(z):
      return jnp.sin(z)
    z = 3. + 4j
    grad(f, holomorphic=True)(z)
    """, expected_value="Array(-27.034946-3.8511534j, dtype=complex64, weak_type=True)")
    check(ns, """
    def f(z):
      return jnp.conjugate(z)
    z = 3. + 4j
    grad(f, holomorphic=True)(z) # f is not actually holomorphic!
    """, expected_value="Array(1.-0.j, dtype=complex64, weak_type=True)")


def test_grad_of_complex_output_needs_holomorphic():
    ns = new_ns()
    with pytest.raises(TypeError, match="holomorphic=True"):
        run_cell("grad(jnp.sin)(3. + 4j)", ns)


# ---------------------------------------------------------------------------------------------
# Custom derivative rules


def test_log1pexp_jaxpr_and_nan():
    ns = new_ns()
    check(ns, """
    def log1pexp(x):
      return jnp.log(1. + jnp.exp(x))
    log1pexp(3.)
    """, expected_value="Array(3.0485873, dtype=float32, weak_type=True)")
    check(ns, "print(grad(log1pexp)(100.))", "nan")
    check(ns, """
    from hlodiff import make_jaxpr
    print(make_jaxpr(grad(log1pexp))(100.))
    """, """{ lambda ; a:f32[]. let
    b:f32[] = exp a
    c:f32[] = add 1.0 b
    _:f32[] = log c
    d:f32[] = div 1.0 c
    e:f32[] = mul d b
  in (e,) }""")


def test_log1pexp_jitted_cells():
    ns = new_ns()
    run_cell("""
    def log1pexp(x):
      return jnp.log(1. + jnp.exp(x))
    """, ns)
    check(ns, """
    print(jit(log1pexp)(3.))
    print(jit(grad(log1pexp))(3.))
    print(vmap(jit(grad(log1pexp)))(jnp.arange(3.)))
    """, """3.0485873
0.95257413
[0.5 0.7310586 0.8807971]""")


CUSTOM_PRELUDE = """
from hlodiff import custom_jvp, custom_vjp, jvp, vjp
from functools import partial
"""


def custom_ns():
    ns = new_ns()
    exec(CUSTOM_PRELUDE, ns)
    return ns


def test_custom_jvp_tldr():
    ns = custom_ns()
    run_cell("""
    @custom_jvp
    def f(x, y):
      return jnp.sin(x) * y
    @f.defjvp
    def f_jvp(primals, tangents):
      x, y = primals
      x_dot, y_dot = tangents
      primal_out = f(x, y)
      tangent_out = jnp.cos(x) * x_dot * y + jnp.sin(x) * y_dot
      return primal_out, tangent_out
    """, ns)
    expected = "2.7278922\n2.7278922\n-1.2484405\n-1.2484405"
    cell = """
    print(f(2., 3.))
    y, y_dot = jvp(f, (2., 3.), (1., 0.))
    print(y)
    print(y_dot)
    print(grad(f)(2., 3.))
    """
    check(ns, cell, expected)
    run_cell("""
    @custom_jvp
    def f(x, y):
      return jnp.sin(x) * y
    f.defjvps(lambda x_dot, primal_out, x, y: jnp.cos(x) * x_dot * y,
              lambda y_dot, primal_out, x, y: jnp.sin(x) * y_dot)
    """, ns)
    check(ns, cell, expected)


def test_custom_vjp_tldr():
    ns = custom_ns()
    check(ns, """
    @custom_vjp
    def f(x, y):
      return jnp.sin(x) * y
    def f_fwd(x, y):
      return f(x, y), (jnp.cos(x), jnp.sin(x), y)
    def f_bwd(res, g):
      cos_x, sin_x, y = res
      return (cos_x * g * y, sin_x * g)
    f.defvjp(f_fwd, f_bwd)
    print(grad(f)(2., 3.))
    """, "-1.2484405")


def test_log1pexp_custom_jvp():
    ns = custom_ns()
    run_cell("""
    @custom_jvp
    def log1pexp(x):
      return jnp.log(1. + jnp.exp(x))
    @log1pexp.defjvp
    def log1pexp_jvp(primals, tangents):
      x, = primals
      x_dot, = tangents
      ans = log1pexp(x)
      ans_dot = (1 - 1/(1 + jnp.exp(x))) * x_dot
      return ans, ans_dot
    """, ns)
    check(ns, "print(grad(log1pexp)(100.))", "1.0")
    jitted = """
    print(jit(log1pexp)(3.))
    print(jit(grad(log1pexp))(3.))
    print(vmap(jit(grad(log1pexp)))(jnp.arange(3.)))
    """
    check(ns, jitted, "3.0485873\n0.95257413\n[0.5 0.7310586 0.8807971]")
    run_cell("""
    @custom_jvp
    def log1pexp(x):
      return jnp.log(1. + jnp.exp(x))
    log1pexp.defjvps(lambda t, ans, x: (1 - 1/(1 + jnp.exp(x))) * t)
    """, ns)
    check(ns, "print(grad(log1pexp)(100.))\n" + textwrap.dedent(jitted),
          "1.0\n3.0485873\n0.95257413\n[0.5 0.7310586 0.8807971]")


def test_differentiation_convention():
    ns = custom_ns()
    check(ns, """
    def f(x):
      return x / (1 + jnp.sqrt(x))
    print(grad(f)(0.))
    """, "nan")
    check(ns, """
    @custom_jvp
    def f(x):
      return x / (1 + jnp.sqrt(x))
    @f.defjvp
    def f_jvp(primals, tangents):
      x, = primals
      x_dot, = tangents
      ans = f(x)
      ans_dot = ((jnp.sqrt(x) + 2) / (2 * (jnp.sqrt(x) + 1)**2)) * x_dot
      return ans, ans_dot
    print(grad(f)(0.))
    """, "1.0")
    check(ns, """
    @custom_jvp
    def f(x):
      return x / (1 + jnp.sqrt(x))
    f.defjvps(lambda t, ans, x: ((jnp.sqrt(x) + 2) / (2 * (jnp.sqrt(x) + 1)**2)) * t)
    print(grad(f)(0.))
    """, "1.0")


def test_gradient_clipping():
    ns = custom_ns()
    run_cell("""
    @custom_vjp
    def clip_gradient(lo, hi, x):
      return x # identity function
    def clip_gradient_fwd(lo, hi, x):
      return x, (lo, hi) # save bounds as residuals
    def clip_gradient_bwd(res, g):
      lo, hi = res
      return (None, None, jnp.clip(g, lo, hi))
    clip_gradient.defvjp(clip_gradient_fwd, clip_gradient_bwd)
    def clip_sin(x):
      x = clip_gradient(-0.75, 0.75, x)
      return jnp.sin(x)
    t = jnp.linspace(0, 10, 1000)
    """, ns)
    import numpy as np

    t = np.linspace(0, 10, 1000).astype(np.float32)
    np.testing.assert_allclose(np.asarray(ns["vmap"](ns["grad"](ns["clip_sin"]))(ns["t"])),
                               np.clip(np.cos(t), -0.75, 0.75), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ns["vmap"](ns["grad"](ns["jnp"].sin))(ns["t"])),
                               np.cos(t), rtol=1e-5, atol=1e-6)


def test_custom_jvp_basic_usage_and_side_effects():
    ns = custom_ns()
    out, value = run_cell("""
    @custom_jvp
    def f(x):
      return jnp.sin(x)
    def f_jvp(primals, tangents):
      x, = primals
      t, = tangents
      return f(x), jnp.cos(x) * t
    f.defjvp(f_jvp)
    """, ns)
    assert value is ns["f_jvp"]  # defjvp returns the rule, as the spec shows
    check(ns, """
    print(f(3.))
    y, y_dot = jvp(f, (3.,), (1.,))
    print(y)
    print(y_dot)
    """, "0.14112\n0.14112\n-0.9899925")
    check(ns, "print(grad(f)(3.))\nprint(grad(grad(f))(3.))", "-0.9899925\n-0.14112")
    run_cell("""
    @custom_jvp
    def f(x):
      print('called f!') # a harmless side-effect
      return jnp.sin(x)
    @f.defjvp
    def f_jvp(primals, tangents):
      print('called f_jvp!') # a harmless side-effect
      x, = primals
      t, = tangents
      return f(x), jnp.cos(x) * t
    """, ns)
    check(ns, "print(f(3.))", "called f!\n0.14112")
    check(ns, "print(vmap(f)(jnp.arange(3.)))\nprint(jit(f)(3.))",
          "called f!\n[0. 0.84147096 0.9092974 ]\ncalled f!\n0.14112")
    check(ns, "y, y_dot = jvp(f, (3.,), (1.,))\nprint(y_dot)",
          "called f_jvp!\ncalled f!\n-0.9899925")
    check(ns, "print(grad(f)(3.))", "called f_jvp!\ncalled f!\n-0.9899925")
    check(ns, "grad(grad(f))(3.)", "called f_jvp!\ncalled f_jvp!\ncalled f!",
          "Array(-0.14112, dtype=float32, weak_type=True)")


def test_custom_jvp_multiple_args_and_defjvps():
    ns = custom_ns()
    check(ns, """
    @custom_jvp
    def f(x, y):
      return x ** 2 * y
    @f.defjvp
    def f_jvp(primals, tangents):
      x, y = primals
      x_dot, y_dot = tangents
      primal_out = f(x, y)
      tangent_out = 2 * x * y * x_dot + x ** 2 * y_dot
      return primal_out, tangent_out
    print(grad(f)(2., 3.))
    """, "12.0")
    check(ns, """
    @custom_jvp
    def f(x):
      return jnp.sin(x)
    f.defjvps(lambda t, ans, x: jnp.cos(x) * t)
    print(grad(f)(3.))
    """, "-0.9899925")
    check(ns, """
    @custom_jvp
    def f(x, y):
      return x ** 2 * y
    f.defjvps(lambda x_dot, primal_out, x, y: 2 * x * y * x_dot,
              lambda y_dot, primal_out, x, y: x ** 2 * y_dot)
    print(grad(f)(2., 3.))
    print(grad(f, 0)(2., 3.)) # same as above
    print(grad(f, 1)(2., 3.))
    """, "12.0\n12.0\n4.0")
    check(ns, """
    @custom_jvp
    def f(x, y):
      return x ** 2 * y
    f.defjvps(lambda x_dot, primal_out, x, y: 2 * x * y * x_dot,
              None)
    print(grad(f)(2., 3.))
    print(grad(f, 0)(2., 3.)) # same as above
    print(grad(f, 1)(2., 3.))
    """, "12.0\n12.0\n0.0")


def test_custom_jvp_python_control_flow():
    ns = custom_ns()
    check(ns, """
    @custom_jvp
    def f(x):
      if x > 0:
        return jnp.sin(x)
      else:
        return jnp.cos(x)
    @f.defjvp
    def f_jvp(primals, tangents):
      x, = primals
      x_dot, = tangents
      ans = f(x)
      if x > 0:
        return ans, 2 * x_dot
      else:
        return ans, 3 * x_dot
    print(grad(f)(1.))
    print(grad(f)(-1.))
    """, "2.0\n3.0")


def test_custom_vjp_basic_usage_and_side_effects():
    ns = custom_ns()
    check(ns, """
    @custom_vjp
    def f(x):
      return jnp.sin(x)
    def f_fwd(x):
      return f(x), jnp.cos(x)
    def f_bwd(cos_x, y_bar):
      return (cos_x * y_bar,)
    f.defvjp(f_fwd, f_bwd)
    print(f(3.))
    print(grad(f)(3.))
    """, "0.14112\n-0.9899925")
    check(ns, """
    @custom_vjp
    def f(x, y):
      return jnp.sin(x) * y
    def f_fwd(x, y):
      return f(x, y), (jnp.cos(x), jnp.sin(x), y)
    def f_bwd(res, g):
      cos_x, sin_x, y = res
      return (cos_x * g * y, sin_x * g)
    f.defvjp(f_fwd, f_bwd)
    print(grad(f)(2., 3.))
    """, "-1.2484405")
    run_cell("""
    @custom_vjp
    def f(x):
      print("called f!")
      return jnp.sin(x)
    def f_fwd(x):
      print("called f_fwd!")
      return f(x), jnp.cos(x)
    def f_bwd(cos_x, y_bar):
      print("called f_bwd!")
      return (cos_x * y_bar,)
    f.defvjp(f_fwd, f_bwd)
    """, ns)
    check(ns, "print(f(3.))", "called f!\n0.14112")
    check(ns, "print(grad(f)(3.))", "called f_fwd!\ncalled f!\ncalled f_bwd!\n-0.9899925")
    check(ns, "y, f_vjp = vjp(f, 3.)\nprint(y)", "called f_fwd!\ncalled f!\n0.14112")
    check(ns, "print(f_vjp(1.))",
          "called f_bwd!\n(Array(-0.9899925, dtype=float32, weak_type=True),)")
    check(ns, """
    from hlodiff import jvp
    try:
      jvp(f, (3.,), (1.,))
    except TypeError as e:
      print('ERROR! {}'.format(e))
    """, "called f_fwd!\ncalled f!\n"
         "ERROR! can't apply forward-mode autodiff (jvp) to a custom_vjp function.")


def test_debug_custom_vjp_without_pdb():
    ns = custom_ns()
    run_cell("""
    seen = []
    @custom_vjp
    def debug(x):
      return x # acts like identity
    def debug_fwd(x):
      return x, x
    def debug_bwd(x, g):
      seen.append((x, g))
      return g
    debug.defvjp(debug_fwd, debug_bwd)
    def foo(x):
      y = x ** 2
      y = debug(y) # insert pdb in corresponding backward pass step
      return jnp.sin(y)
    """, ns)
    with pytest.raises(TypeError, match="Custom VJP bwd rule"):
        run_cell("jax.grad(foo)(3.)", ns)  # bwd returns g, not a tuple: JAX raises too
    x, g = ns["seen"][0]
    assert_printed(repr(x), "Array(9., dtype=float32, weak_type=True)")
    assert_printed(repr(g), "Array(-0.91113025, dtype=float32, weak_type=True)")


POINT_SRC = """
from collections import namedtuple
Point = namedtuple("Point", ["x", "y"])
"""
F_OF_PT = ("{'a': 1.0, 'b': (Array(0.84147096, dtype=float32, weak_type=True), "
           "Array(-0.41614684, dtype=float32, weak_type=True))}")


def test_pytrees_with_custom_jvp_and_vjp():
    ns = custom_ns()
    run_cell(POINT_SRC, ns)
    run_cell("""
    @custom_jvp
    def f(pt):
      x, y = pt.x, pt.y
      return {'a': x ** 2,
              'b': (jnp.sin(x), jnp.cos(y))}
    @f.defjvp
    def f_jvp(primals, tangents):
      pt, = primals
      pt_dot, = tangents
      ans = f(pt)
      ans_dot = {'a': 2 * pt.x * pt_dot.x,
                 'b': (jnp.cos(pt.x) * pt_dot.x, -jnp.sin(pt.y) * pt_dot.y)}
      return ans, ans_dot
    def fun(pt):
      dct = f(pt)
      return dct['a'] + dct['b'][0]
    """, ns)
    check(ns, "pt = Point(1., 2.)\nprint(f(pt))", F_OF_PT)
    check(ns, "print(grad(fun)(pt))", "Point(x=Array(2.5403023, dtype=float32, "
          "weak_type=True), y=Array(0., dtype=float32, weak_type=True))")
    run_cell("""
    @custom_vjp
    def f(pt):
      x, y = pt.x, pt.y
      return {'a': x ** 2,
              'b': (jnp.sin(x), jnp.cos(y))}
    def f_fwd(pt):
      return f(pt), pt
    def f_bwd(pt, g):
      a_bar, (b0_bar, b1_bar) = g['a'], g['b']
      x_bar = 2 * pt.x * a_bar + jnp.cos(pt.x) * b0_bar
      y_bar = -jnp.sin(pt.y) * b1_bar
      return (Point(x_bar, y_bar),)
    f.defvjp(f_fwd, f_bwd)
    def fun(pt):
      dct = f(pt)
      return dct['a'] + dct['b'][0]
    """, ns)
    check(ns, "pt = Point(1., 2.)\nprint(f(pt))", F_OF_PT)
    check(ns, "print(grad(fun)(pt))", "Point(x=Array(2.5403023, dtype=float32, "
          "weak_type=True), y=Array(-0., dtype=float32, weak_type=True))")


def test_nondiff_argnums():
    ns = custom_ns()
    run_cell("""
    @partial(custom_jvp, nondiff_argnums=(0,))
    def app(f, x):
      return f(x)
    @app.defjvp
    def app_jvp(f, primals, tangents):
      x, = primals
      x_dot, = tangents
      return f(x), 2. * x_dot
    """, ns)
    check(ns, "print(app(lambda x: x ** 3, 3.))", "27.0")
    check(ns, "print(grad(app, 1)(lambda x: x ** 3, 3.))", "2.0")
    run_cell("""
    @partial(custom_jvp, nondiff_argnums=(0, 2))
    def app2(f, x, g):
      return f(g((x)))
    @app2.defjvp
    def app2_jvp(f, g, primals, tangents):
      x, = primals
      x_dot, = tangents
      return f(g(x)), 3. * x_dot
    """, ns)
    check(ns, "print(app2(lambda x: x ** 3, 3., lambda y: 5 * y))", "3375.0")
    check(ns, "print(grad(app2, 1)(lambda x: x ** 3, 3., lambda y: 5 * y))", "3.0")
    run_cell("""
    @partial(custom_vjp, nondiff_argnums=(0,))
    def app(f, x):
      return f(x)
    def app_fwd(f, x):
      return f(x), x
    def app_bwd(f, x, g):
      return (5 * g,)
    app.defvjp(app_fwd, app_bwd)
    """, ns)
    check(ns, "print(app(lambda x: x ** 2, 4.))", "16.0")
    check(ns, "print(grad(app, 1)(lambda x: x ** 2, 4.))", "5.0")


# ---------------------------------------------------------------------------------------------
# Cells that use the PRNG: the spec's printed numbers come from random.key(0)

PREDICT_SRC = """
from hlodiff import random, jacfwd, jacrev, jvp, vjp
key = random.key(0)
def sigmoid(x):
  return 0.5 * (jnp.tanh(x / 2) + 1)
def predict(W, b, inputs):
  return sigmoid(jnp.dot(inputs, W) + b)
inputs = jnp.array([[0.52, 1.12, 0.77],
                    [0.88, -1.08, 0.15],
                    [0.52, 0.06, -1.30],
                    [0.74, -2.49, 1.39]])
key, W_key, b_key = random.split(key, 3)
W = random.normal(W_key, (3,))
b = random.normal(b_key, ())
f = lambda W: predict(W, b, inputs)
"""

JAC = """[[ 0.05981758 0.12883787 0.08857603]
 [ 0.04015916 -0.04928625 0.00684531]
 [ 0.12188288 0.01406341 -0.3047072 ]
 [ 0.00140431 -0.00472531 0.00263782]]"""


def predict_ns():
    ns = new_ns()
    run_cell(PREDICT_SRC, ns)
    return ns


def test_key_prints_like_jax():
    ns = new_ns()
    check(ns, "from hlodiff import random\nprint(random.key(0))",
          "Array((), dtype=key<fry>) overlaying:\n[0 0]")


def test_jacfwd_jacrev_and_dict_and_hessian():
    ns = predict_ns()
    check(ns, """
    J = jacfwd(f)(W)
    print("jacfwd result, with shape", J.shape)
    print(J)
    J = jacrev(f)(W)
    print("jacrev result, with shape", J.shape)
    print(J)
    """, "jacfwd result, with shape (4, 3)\n" + JAC + "\njacrev result, with shape (4, 3)\n"
         + JAC)
    check(ns, """
    def predict_dict(params, inputs):
      return predict(params['W'], params['b'], inputs)
    J_dict = jacrev(predict_dict)({'W': W, 'b': b}, inputs)
    for k, v in J_dict.items():
      print("Jacobian from {} to logits is".format(k))
      print(v)
    """, "Jacobian from W to logits is\n" + JAC + "\nJacobian from b to logits is\n"
         "[0.11503381 0.04563541 0.23439017 0.00189771]")
    check(ns, """
    def hessian(f):
      return jacfwd(jacrev(f))
    H = hessian(f)(W)
    print("hessian, with shape", H.shape)
    print(H)
    """, """hessian, with shape (4, 3, 3)
[[[ 0.02285465 0.04922541 0.03384247]
  [ 0.04922541 0.10602397 0.07289147]
  [ 0.03384247 0.07289147 0.05011288]]
 [[-0.03195215 0.03921401 -0.00544639]
  [ 0.03921401 -0.04812629 0.00668421]
  [-0.00544639 0.00668421 -0.00092836]]
 [[-0.01583708 -0.00182736 0.03959271]
  [-0.00182736 -0.00021085 0.00456839]
  [ 0.03959271 0.00456839 -0.09898177]]
 [[-0.00103524 0.00348343 -0.00194457]
  [ 0.00348343 -0.01172127 0.0065432 ]
  [-0.00194457 0.0065432 -0.00365263]]]""")


def test_jvp_vjp_cells_and_hvp_agreement():
    ns = predict_ns()
    run_cell("""
    key, subkey = random.split(key)
    v = random.normal(subkey, W.shape)
    y, u = jvp(f, (W,), (v,))
    y, vjp_fun = vjp(f, W)
    key, subkey = random.split(key)
    u = random.normal(subkey, y.shape)
    v = vjp_fun(u)
    """, ns)
    assert ns["v"][0].shape == (3,)
    check(ns, """
    def hvp(f, primals, tangents):
      return jvp(grad(f), primals, tangents)[1]
    def hessian(f):
      return jacfwd(jacrev(f))
    def f(X):
      return jnp.sum(jnp.tanh(X)**2)
    key, subkey1, subkey2 = random.split(key, 3)
    X = random.normal(subkey1, (30, 40))
    V = random.normal(subkey2, (30, 40))
    ans1 = hvp(f, (X,), (V,))
    ans2 = jnp.tensordot(hessian(f)(X), V, 2)
    print(jnp.allclose(ans1, ans2, 1e-4, 1e-4))
    """, "True")
    check(ns, """
    def hvp_revfwd(f, primals, tangents):
      g = lambda primals: jvp(f, primals, tangents)[1]
      return grad(g)(primals)
    def hvp_revrev(f, primals, tangents):
      x, = primals
      v, = tangents
      return grad(lambda x: jnp.vdot(grad(f)(x), v))(x)
    print(jnp.allclose(hvp_revfwd(f, (X,), (V,))[0], ans1, 1e-4, 1e-4))
    print(jnp.allclose(hvp_revrev(f, (X,), (V,)), ans1, 1e-4, 1e-4))
    """, "True\nTrue")


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
def test_matrix_jacobian_products(jitted):
    ns = predict_ns()
    run_cell("""
    y = f(W)
    def loop_mjp(f, x, M):
      y, vjp_fun = vjp(f, x)
      return jnp.vstack([vjp_fun(mi) for mi in M])
    def vmap_mjp(f, x, M):
      y, vjp_fun = vjp(f, x)
      outs, = vmap(vjp_fun)(M)
      return outs
    key = random.key(0)
    num_covecs = 128
    U = random.normal(key, (num_covecs,) + y.shape)
    def loop_jmp(f, W, M):
      return jnp.vstack([jvp(f, (W,), (mi,))[1] for mi in M])
    def vmap_jmp(f, W, M):
      _jvp = lambda s: jvp(f, (W,), (s,))[1]
      return vmap(_jvp)(M)
    num_vecs = 128
    S = random.normal(key, (num_vecs,) + W.shape)
    """, ns)
    if jitted:
        run_cell("vmap_mjp = jit(vmap_mjp, static_argnums=0)\n"
                 "vmap_jmp = jit(vmap_jmp, static_argnums=0)", ns)
    check(ns, """
    loop_vs = loop_mjp(f, W, M=U)
    vmap_vs = vmap_mjp(f, W, M=U)
    assert jnp.allclose(loop_vs, vmap_vs), 'Vmap and non-vmapped Matrix-Jacobian Products should be identical'
    loop_vs = loop_jmp(f, W, M=S)
    vmap_vs = vmap_jmp(f, W, M=S)
    assert jnp.allclose(loop_vs, vmap_vs), 'Vmap and non-vmapped Jacobian-Matrix products should be identical'
    print(loop_vs.shape, vmap_vs.shape)
    """, "(128, 4) (128, 4)")
    check(ns, """
    def our_jacrev(f):
      def jacfun(x):
        y, vjp_fun = vjp(f, x)
        J, = vmap(vjp_fun, in_axes=0)(jnp.eye(len(y)))
        return J
      return jacfun
    assert jnp.allclose(jacrev(f)(W), our_jacrev(f)(W)), 'Incorrect reverse-mode Jacobian results!'
    def our_jacfwd(f):
      def jacfun(x):
        _jvp = lambda s: jvp(f, (x,), (s,))[1]
        Jt = vmap(_jvp, in_axes=1)(jnp.eye(len(x)))
        return jnp.transpose(Jt)
      return jacfun
    assert jnp.allclose(jacfwd(f)(W), our_jacfwd(f)(W)), 'Incorrect forward-mode Jacobian results!'
    """)


def test_complex_jvp_and_vjp_checks():
    ns = new_ns()
    run_cell("from hlodiff import random, jvp, vjp", ns)
    check(ns, """
    def check(seed):
      key = random.key(seed)
      key, subkey = random.split(key)
      a, b, c, d = random.uniform(subkey, (4,))
      def fun(z):
        x, y = jnp.real(z), jnp.imag(z)
        return u(x, y) + v(x, y) * 1j
      def u(x, y):
        return a * x + b * y
      def v(x, y):
        return c * x + d * y
      key, subkey = random.split(key)
      x, y = random.uniform(subkey, (2,))
      z = x + y * 1j
      key, subkey = random.split(key)
      c, d = random.uniform(subkey, (2,))
      z_dot = c + d * 1j
      _, ans = jvp(fun, (z,), (z_dot,))
      expected = (grad(u, 0)(x, y) * c +
                  grad(u, 1)(x, y) * d +
                  grad(v, 0)(x, y) * c * 1j+
                  grad(v, 1)(x, y) * d * 1j)
      print(jnp.allclose(ans, expected))
    check(0)
    check(1)
    check(2)
    """, "True\nTrue\nTrue")
    check(ns, """
    def check(seed):
      key = random.key(seed)
      key, subkey = random.split(key)
      a, b, c, d = random.uniform(subkey, (4,))
      def fun(z):
        x, y = jnp.real(z), jnp.imag(z)
        return u(x, y) + v(x, y) * 1j
      def u(x, y):
        return a * x + b * y
      def v(x, y):
        return c * x + d * y
      key, subkey = random.split(key)
      x, y = random.uniform(subkey, (2,))
      z = x + y * 1j
      key, subkey = random.split(key)
      c, d = random.uniform(subkey, (2,))
      z_bar = jnp.array(c + d * 1j) # for dtype control
      _, fun_vjp = vjp(fun, z)
      ans, = fun_vjp(z_bar)
      expected = (grad(u, 0)(x, y) * c +
                  grad(v, 0)(x, y) * (-d) +
                  grad(u, 1)(x, y) * c * (-1j) +
                  grad(v, 1)(x, y) * (-d) * (-1j))
      assert jnp.allclose(ans, expected, atol=1e-5, rtol=1e-5)
    check(0)
    check(1)
    check(2)
    """)


# ---------------------------------------------------------------------------------------------
# Implicit differentiation of a while_loop fixed point


FIXED_POINT_SRC = """
from functools import partial
from hlodiff import custom_vjp, vjp
from hlodiff.lax import while_loop
def fixed_point(f, a, x_guess):
  def cond_fun(carry):
    x_prev, x = carry
    return jnp.abs(x_prev - x) > 1e-6
  def body_fun(carry):
    _, x = carry
    return x, f(a, x)
  _, x_star = while_loop(cond_fun, body_fun, (x_guess, f(a, x_guess)))
  return x_star
def newton_sqrt(a):
  update = lambda a, x: 0.5 * (x + a / x)
  return fixed_point(update, a, a)
"""


def test_newton_sqrt_and_implicit_gradients():
    ns = new_ns()
    run_cell(FIXED_POINT_SRC, ns)
    check(ns, "print(newton_sqrt(2.))", "1.4142135")
    check(ns, "print(jit(vmap(newton_sqrt))(jnp.array([1., 2., 3., 4.])))",
          "[1. 1.4142135 1.7320509 2. ]")
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work for "
                                         "lax.while_loop"):
        run_cell("grad(newton_sqrt)(2.)", ns)
    run_cell("""
    @partial(custom_vjp, nondiff_argnums=(0,))
    def fixed_point(f, a, x_guess):
      def cond_fun(carry):
        x_prev, x = carry
        return jnp.abs(x_prev - x) > 1e-6
      def body_fun(carry):
        _, x = carry
        return x, f(a, x)
      _, x_star = while_loop(cond_fun, body_fun, (x_guess, f(a, x_guess)))
      return x_star
    def fixed_point_fwd(f, a, x_init):
      x_star = fixed_point(f, a, x_init)
      return x_star, (a, x_star)
    def fixed_point_rev(f, res, x_star_bar):
      a, x_star = res
      _, vjp_a = vjp(lambda a: f(a, x_star), a)
      a_bar, = vjp_a(fixed_point(partial(rev_iter, f),
                                 (a, x_star, x_star_bar),
                                 x_star_bar))
      return a_bar, jnp.zeros_like(x_star)
    def rev_iter(f, packed, u):
      a, x_star, x_star_bar = packed
      _, vjp_x = vjp(lambda x: f(a, x), x_star)
      return x_star_bar + vjp_x(u)[0]
    fixed_point.defvjp(fixed_point_fwd, fixed_point_rev)
    """, ns)
    check(ns, "print(newton_sqrt(2.))", "1.4142135")
    check(ns, "print(grad(newton_sqrt)(2.))\nprint(grad(grad(newton_sqrt))(2.))",
          "0.35355338\n-0.088388346")
    check(ns, "print(grad(jnp.sqrt)(2.))\nprint(grad(grad(jnp.sqrt))(2.))",
          "0.35355338\n-0.08838835")
    check(ns, "print(jit(grad(newton_sqrt))(2.))", "0.35355338")
