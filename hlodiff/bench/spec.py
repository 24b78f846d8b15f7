"""The `spec` suite: every `%timeit` cell of the tutorial (spec/advanced-autodiff-tutorial.md),
eager as the tutorial times them and jitted.

- per-example gradients of the TD loss: `vmap(grad(td_loss), in_axes=(None, 0, 0, 0))` eager
  (`inefficient_perex_grads`) and jitted (`perex_grads`);
- the four Hessian-vector products of `f(X) = sum(tanh(X)**2)` on f32[30,40];
- loop vs vmap matrix-Jacobian (128 covectors) and Jacobian-matrix (128 vectors) products of the
  toy logistic model.

JAX and hlodiff run the tutorial's code (the builders of `autodiff.py`, `vmap_products.py`);
autograd and torch.func the same algorithm in their APIs; numpy the closed-form derivative.
"""

from __future__ import annotations

import numpy as np

from hlodiff.bench import autodiff, vmap_products
from hlodiff.bench.workload import Unavailable, Workload

_NO_JIT = "no jit"
_NO_VMAP = "no vmap"


# --- per-example gradients of the TD loss -----------------------------------------------------


def _td_inputs():
    theta = np.array([0.1, -0.1, 0.0], np.float32)
    s_tm1 = np.stack([np.array([1.0, 2.0, -1.0], np.float32)] * 2)
    r_t = np.ones(2, np.float32)
    s_t = np.stack([np.array([2.0, 1.0, 0.0], np.float32)] * 2)
    return theta, s_tm1, r_t, s_t


def _perex_tracing(jitted: bool):
    def build(lib, params):
        fn = autodiff._td_perex(lib.mod, lib.np, lib.mod.lax.stop_gradient)
        fn = lib.mod.jit(fn) if jitted else fn
        args = [lib.put(a) for a in _td_inputs()]
        return lambda: fn(*args)

    return build


def _perex_numpy(lib, params):
    theta, s_tm1, r_t, s_t = _td_inputs()

    def perex():  # d/dtheta -0.5 (stop_gradient(target) - v)^2 = (target - v) s_tm1
        delta = r_t + s_t @ theta - s_tm1 @ theta
        return delta[:, None] * s_tm1

    return perex


def _perex_autograd(lib, params):
    ag, anp = lib.mod, lib.np

    def td_loss(theta, s_tm1, r_t, s_t):
        target = r_t + anp.dot(theta, s_t)
        target = ag.tracer.getval(target)  # autograd's stop_gradient
        return -0.5 * ((target - anp.dot(theta, s_tm1)) ** 2)

    g = ag.grad(td_loss)
    theta, s_tm1, r_t, s_t = _td_inputs()
    return lambda: np.stack([g(theta, s_tm1[i], r_t[i], s_t[i]) for i in range(len(r_t))])


def _perex_torch(lib, params):
    torch = lib.mod
    from torch.func import grad, vmap

    def td_loss(theta, s_tm1, r_t, s_t):
        target = (r_t + torch.dot(theta, s_t)).detach()
        return -0.5 * ((target - torch.dot(theta, s_tm1)) ** 2)

    fn = vmap(grad(td_loss), in_dims=(None, 0, 0, 0))
    args = [lib.put(a) for a in _td_inputs()]
    return lambda: fn(*args)


def _perex(mode: str) -> Workload:
    jitted = mode == "jit"
    builders = {
        "hlodiff": _perex_tracing(jitted),
        "jax": _perex_tracing(jitted),
        "numpy": _perex_numpy,
    }
    if not jitted:
        builders.update(autograd=_perex_autograd, torch=_perex_torch)
    return Workload(
        id=f"spec.perex.{mode}",
        title="per-example grads",
        suite="spec",
        mode=mode,
        builders=builders,
        size="TD loss, 2 examples of f32[3]",
        missing={} if not jitted else {"autograd": _NO_JIT, "torch": "torch.compile not timed"},
    )


# --- Hessian-vector products --------------------------------------------------------------------

_HVPS = {
    "fwd_rev": "hvp fwd-over-rev",
    "rev_fwd": "hvp rev-over-fwd",
    "rev_rev": "hvp rev-over-rev",
    "hessian": "hessian then tensordot",
}


def _hvp_inputs(params):
    rng = np.random.default_rng(0)
    shape = (params["rows"], params["cols"])
    return (
        rng.standard_normal(shape).astype(np.float32),
        rng.standard_normal(shape).astype(np.float32),
    )


def _hvp_tracing(kind: str, jitted: bool):
    def build(lib, params):
        fn = list(autodiff._hvps(lib.mod, lib.np).values())[list(_HVPS).index(kind)]
        fn = lib.mod.jit(fn) if jitted else fn
        x, v = (lib.put(a) for a in _hvp_inputs(params))
        return lambda: fn(x, v)

    return build


def _hvp_autograd(kind: str):
    def build(lib, params):
        fn = list(autodiff._autograd_impls(lib.mod, lib.np).values())[list(_HVPS).index(kind)]
        x, v = _hvp_inputs(params)
        return lambda: fn(x, v)

    return build


def _hvp_torch(kind: str):
    def build(lib, params):
        torch = lib.mod
        from torch.func import grad, hessian, jvp

        def f(x):
            return torch.sum(torch.tanh(x) ** 2)

        fns = {
            "fwd_rev": lambda x, v: jvp(grad(f), (x,), (v,))[1],
            "rev_fwd": lambda x, v: grad(lambda p: jvp(f, (p,), (v,))[1])(x),
            "rev_rev": lambda x, v: grad(lambda p: torch.sum(grad(f)(p) * v))(x),
            "hessian": lambda x, v: torch.tensordot(hessian(f)(x), v, 2),
        }
        x, v = (lib.put(a) for a in _hvp_inputs(params))
        return lambda: fns[kind](x, v)

    return build


def _hvp_numpy(kind: str):
    def build(lib, params):
        x, v = _hvp_inputs(params)

        def diag():  # d^2/dx^2 tanh(x)^2 = 2 (1 - t^2)(1 - 3 t^2), the Hessian is diagonal
            t = np.tanh(x)
            return 2 * (1 - t * t) * (1 - 3 * t * t)

        if kind == "hessian":

            def full():
                h = np.diag(diag().ravel()).reshape(x.shape + x.shape)
                return np.tensordot(h, v, 2)

            return full
        return lambda: diag() * v

    return build


def _hvp(kind: str, mode: str) -> Workload:
    jitted = mode == "jit"
    builders = {
        "hlodiff": _hvp_tracing(kind, jitted),
        "jax": _hvp_tracing(kind, jitted),
        "numpy": _hvp_numpy(kind),
    }
    if not jitted:
        builders.update(autograd=_hvp_autograd(kind), torch=_hvp_torch(kind))
    return Workload(
        id=f"spec.hvp.{kind}.{mode}",
        title=_HVPS[kind],
        suite="spec",
        mode=mode,
        builders=builders,
        full={"rows": 30, "cols": 40},
        quick={"rows": 6, "cols": 8},
        size="f(X)=sum(tanh(X)**2), X f32[{rows},{cols}]",
        missing={} if not jitted else {"autograd": _NO_JIT, "torch": "torch.compile not timed"},
        rtol=2e-3,
    )


# --- loop vs vmap matrix-Jacobian and Jacobian-matrix products ---------------------------------

_PRODUCTS = ("loop_mjp", "vmap_mjp", "loop_jmp", "vmap_jmp")


def _product_inputs(params):
    rng = np.random.default_rng(0)
    W = rng.standard_normal(3).astype(np.float32)
    b = np.float32(rng.standard_normal())
    U = rng.standard_normal((params["vecs"], 4)).astype(np.float32)
    S = rng.standard_normal((params["vecs"], 3)).astype(np.float32)
    return W, b, U, S


def _product_tracing(kind: str, jitted: bool):
    def build(lib, params):
        make_f, fns = vmap_products._products(lib.mod, lib.np)
        W, b, U, S = _product_inputs(params)
        f = make_f(lib.put(W), lib.put(b))
        fn = fns[kind]
        call = lambda w, m: fn(f, w, m)
        call = lib.mod.jit(call) if jitted else call
        w, m = lib.put(W), lib.put(U if "mjp" in kind else S)
        return lambda: call(w, m)

    return build


def _product_torch(kind: str):
    def build(lib, params):
        torch = lib.mod
        threads = torch.get_num_threads()
        make_f, fns = vmap_products._torch_impls(torch)  # it sets one thread; keep ours
        torch.set_num_threads(threads)
        W, b, U, S = _product_inputs(params)
        f = make_f(lib.put(W), lib.put(b))
        w, m = lib.put(W), lib.put(U if "mjp" in kind else S)
        return lambda: fns[kind](f, w, m)

    return build


def _product_autograd(kind: str):
    def build(lib, params):
        if kind.startswith("vmap"):
            raise Unavailable(_NO_VMAP)
        ag, anp = lib.mod, lib.np
        W, b, U, S = _product_inputs(params)
        inputs = vmap_products.INPUTS

        def f(w):
            return 0.5 * (anp.tanh((anp.dot(inputs, w) + b) / 2) + 1)

        if kind == "loop_mjp":

            def loop_mjp():
                vjp_fun, _ = ag.make_vjp(f)(W)
                return np.vstack([vjp_fun(m) for m in U])

            return loop_mjp
        return lambda: np.vstack([ag.make_jvp(f)(W)(s)[1] for s in S])

    return build


def _product_numpy(kind: str):
    def build(lib, params):
        W, b, U, S = _product_inputs(params)
        inputs = vmap_products.INPUTS

        def jac():  # sigmoid(inputs @ W + b): J = diag(s (1 - s)) inputs
            s = 0.5 * (np.tanh((inputs @ W + b) / 2) + 1)
            return (s * (1 - s))[:, None] * inputs

        fns = {
            "loop_mjp": lambda: np.vstack([m @ jac() for m in U]),
            "vmap_mjp": lambda: U @ jac(),
            "loop_jmp": lambda: np.vstack([jac() @ s for s in S]),
            "vmap_jmp": lambda: S @ jac().T,
        }
        return fns[kind]

    return build


def _product(kind: str, mode: str) -> Workload:
    jitted = mode == "jit"
    builders = {
        "hlodiff": _product_tracing(kind, jitted),
        "jax": _product_tracing(kind, jitted),
        "numpy": _product_numpy(kind),
    }
    if not jitted:
        builders.update(autograd=_product_autograd(kind), torch=_product_torch(kind))
    what = "covectors" if "mjp" in kind else "vectors"
    return Workload(
        id=f"spec.{kind}.{mode}",
        title=kind,
        suite="spec",
        mode=mode,
        builders=builders,
        full={"vecs": 128},
        quick={"vecs": 8},
        size=f"{{vecs}} {what}, toy logistic model",
        missing={} if not jitted else {"autograd": _NO_JIT, "torch": "torch.compile not timed"},
    )


def workloads() -> list[Workload]:
    out = [_perex("eager"), _perex("jit")]
    out += [_hvp(kind, mode) for kind in _HVPS for mode in ("eager", "jit")]
    out += [_product(kind, mode) for kind in _PRODUCTS for mode in ("eager", "jit")]
    return out
