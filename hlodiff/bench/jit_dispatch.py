"""Compiled-call overhead: a jitted `x * 2.0` on a 3-vector (result ready), and the spec's jitted
per-example gradients, next to JAX.

    python -m hlodiff.bench.jit_dispatch
"""

from __future__ import annotations

import numpy as np

from hlodiff.bench._harness import compare, optional_import, pin_single_thread, print_table


def _td_perex(lib, np_mod):
    def td_loss(theta, s_tm1, r_t, s_t):
        v_tm1 = np_mod.dot(theta, s_tm1)
        target = r_t + np_mod.dot(theta, s_t)
        return -0.5 * ((lib.lax.stop_gradient(target) - v_tm1) ** 2)

    return lib.jit(lib.vmap(lib.grad(td_loss), in_axes=(None, 0, 0, 0)))


def run(repeat: int = 15):
    import hlodiff as hd
    import hlodiff.numpy as hnp

    x = np.array([1.0, 2.0, 3.0], np.float32)
    theta = np.array([0.1, -0.1, 0.0], np.float32)
    s_tm1 = np.stack([np.array([1.0, 2.0, -1.0], np.float32)] * 2)
    r_t = np.ones(2, np.float32)
    s_t = np.stack([np.array([2.0, 1.0, 0.0], np.float32)] * 2)
    f = hd.jit(lambda v: v * 2.0)
    xh = hnp.asarray(x)
    mul = {"hlodiff": lambda: f(xh).block_until_ready()}
    perex_h = _td_perex(hd, hnp)
    args_h = [hnp.asarray(a) for a in (theta, s_tm1, r_t, s_t)]
    perex = {"hlodiff": lambda: perex_h(*args_h).block_until_ready()}
    jax = optional_import("jax")
    if jax is not None:
        fj = jax.jit(lambda v: v * 2.0)
        xj = jax.numpy.asarray(x)
        mul["jax"] = lambda: fj(xj).block_until_ready()
        perex_j = _td_perex(jax, jax.numpy)
        args_j = [jax.numpy.asarray(a) for a in (theta, s_tm1, r_t, s_t)]
        perex["jax"] = lambda: perex_j(*args_j).block_until_ready()
    return (compare("jit x * 2.0 (f32[3]) dispatch", mul, repeat)
            + compare("jit per-example grads", perex, repeat))


if __name__ == "__main__":
    pin_single_thread()
    print_table(run())
