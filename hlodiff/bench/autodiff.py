"""The spec's eager autodiff timing cells, next to JAX and autograd.

HVP forward-over-reverse / reverse-over-forward / reverse-over-reverse and the full Hessian on a
30x40 input; per-example gradients of the TD loss without jit.

    python -m hlodiff.bench.autodiff
"""

from __future__ import annotations

from hlodiff.bench._harness import (
    compare,
    optional_import,
    pin_single_thread,
    print_table,
    ready,
)


def _hvps(hd, hnp):
    grad, jvp = hd.grad, hd.jvp

    def f(X):
        return hnp.sum(hnp.tanh(X) ** 2)

    def fwd_rev(x, v):
        return jvp(grad(f), (x,), (v,))[1]

    def rev_fwd(x, v):
        return grad(lambda p: jvp(f, (p,), (v,))[1])(x)

    def rev_rev(x, v):
        return grad(lambda p: hnp.vdot(grad(f)(p), v))(x)

    def full(x, v):
        return hnp.tensordot(hd.jacfwd(hd.jacrev(f))(x), v, 2)

    return {"hvp fwd-over-rev": fwd_rev, "hvp rev-over-fwd": rev_fwd,
            "hvp rev-over-rev": rev_rev, "hessian then tensordot": full}


def _td_perex(hd, hnp, stop_gradient):
    def td_loss(theta, s_tm1, r_t, s_t):
        v_tm1 = hnp.dot(theta, s_tm1)
        target = r_t + hnp.dot(theta, s_t)
        return -0.5 * ((stop_gradient(target) - v_tm1) ** 2)

    return hd.vmap(hd.grad(td_loss), in_axes=(None, 0, 0, 0))


def _autograd_impls(ag, anp):
    def f(X):
        return anp.sum(anp.tanh(X) ** 2)

    def fwd_rev(x, v):
        return ag.make_jvp(ag.grad(f))(x)(v)[1]

    def rev_fwd(x, v):
        return ag.grad(lambda p: ag.make_jvp(f)(p)(v)[1])(x)

    def rev_rev(x, v):
        return ag.grad(lambda p: anp.sum(ag.grad(f)(p) * v))(x)  # autograd has no vdot vjp

    def full(x, v):
        return anp.tensordot(ag.hessian(f)(x), v, 2)

    return {"hvp fwd-over-rev": fwd_rev, "hvp rev-over-fwd": rev_fwd,
            "hvp rev-over-rev": rev_rev, "hessian then tensordot": full}


def run(repeat: int = 7):
    import numpy as np

    import hlodiff as hd
    import hlodiff.numpy as hnp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 40)).astype(np.float32)
    V = rng.standard_normal((30, 40)).astype(np.float32)
    impls = {"hlodiff": _hvps(hd, hnp)}
    jax = optional_import("jax")
    if jax is not None:
        impls["jax"] = _hvps(jax, optional_import("jax.numpy"))
    ag = optional_import("autograd")
    if ag is not None:
        import autograd.numpy as anp

        impls["autograd"] = _autograd_impls(ag, anp)
    results = []
    for name in impls["hlodiff"]:
        per_lib = {}
        for lib, fns in impls.items():
            fn = fns[name]
            xs = (hnp.asarray(X), hnp.asarray(V)) if lib == "hlodiff" else (X, V)
            if lib == "jax":
                xs = (jax.numpy.asarray(X), jax.numpy.asarray(V))
            per_lib[lib] = ready(lambda fn=fn, xs=xs: fn(*xs))
        results += compare(name, per_lib, repeat)
    results += _perex(hd, hnp, jax, ag, repeat)
    return results


def _perex(hd, hnp, jax, ag, repeat):
    import numpy as np

    theta = np.array([0.1, -0.1, 0.0], np.float32)
    s_tm1 = np.stack([np.array([1.0, 2.0, -1.0], np.float32)] * 2)
    r_t = np.ones(2, np.float32)
    s_t = np.stack([np.array([2.0, 1.0, 0.0], np.float32)] * 2)
    args = (theta, s_tm1, r_t, s_t)
    per = {"hlodiff": (_td_perex(hd, hnp, hd.lax.stop_gradient),
                       tuple(hnp.asarray(a) for a in args))}
    if jax is not None:
        per["jax"] = (_td_perex(jax, jax.numpy, jax.lax.stop_gradient),
                      tuple(jax.numpy.asarray(a) for a in args))
    if ag is not None:
        import autograd.numpy as anp

        from autograd.tracer import getval  # autograd's stop_gradient

        def td_loss(th, a, r, b):
            target = getval(r + anp.dot(th, b))
            return -0.5 * ((target - anp.dot(th, a)) ** 2)

        g = ag.grad(td_loss)
        per["autograd"] = (lambda th, a, r, b: np.stack([g(th, a[i], r[i], b[i])
                                                         for i in range(len(a))]), args)
    impls = {lib: ready(lambda fn=fn, xs=xs: fn(*xs)) for lib, (fn, xs) in per.items()}
    return compare("per-example grads (eager)", impls, repeat)


if __name__ == "__main__":
    pin_single_thread()
    print_table(run())
