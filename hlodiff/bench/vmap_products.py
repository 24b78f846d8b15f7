"""The spec's loop-vs-vmap matrix-Jacobian and Jacobian-matrix products (eager), next to JAX and
torch.func when installed.

    python -m hlodiff.bench.vmap_products
"""

from __future__ import annotations

import numpy as np

from hlodiff.bench._harness import (
    compare,
    optional_import,
    pin_single_thread,
    print_table,
    ready,
)

INPUTS = np.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30],
                   [0.74, -2.49, 1.39]], np.float32)


def _products(lib, np_mod):
    vjp, jvp, vmap = lib.vjp, lib.jvp, lib.vmap

    def predict(W, b, inputs):
        return 0.5 * (np_mod.tanh((np_mod.dot(inputs, W) + b) / 2) + 1)

    def make_f(W, b):
        return lambda W_: predict(W_, b, np_mod.asarray(INPUTS))

    def loop_mjp(f, x, M):
        y, vjp_fun = vjp(f, x)
        return np_mod.vstack([vjp_fun(mi)[0] for mi in M])

    def vmap_mjp(f, x, M):
        y, vjp_fun = vjp(f, x)
        outs, = vmap(vjp_fun)(M)
        return outs

    def loop_jmp(f, W, M):
        return np_mod.vstack([jvp(f, (W,), (mi,))[1] for mi in M])

    def vmap_jmp(f, W, M):
        return vmap(lambda s: jvp(f, (W,), (s,))[1])(M)

    return make_f, {"loop_mjp": loop_mjp, "vmap_mjp": vmap_mjp, "loop_jmp": loop_jmp,
                    "vmap_jmp": vmap_jmp}


def _torch_impls(torch):
    from torch.func import jvp, vjp, vmap

    torch.set_num_threads(1)
    inputs = torch.tensor(INPUTS)

    def make_f(W, b):
        return lambda W_: 0.5 * (torch.tanh((inputs @ W_ + b) / 2) + 1)

    def loop_mjp(f, x, M):
        _, vjp_fun = vjp(f, x)
        return torch.vstack([vjp_fun(mi)[0] for mi in M])

    def vmap_mjp(f, x, M):
        _, vjp_fun = vjp(f, x)
        return vmap(vjp_fun)(M)[0]

    def loop_jmp(f, W, M):
        return torch.vstack([jvp(f, (W,), (mi,))[1] for mi in M])

    def vmap_jmp(f, W, M):
        return vmap(lambda s: jvp(f, (W,), (s,))[1])(M)

    return make_f, {"loop_mjp": loop_mjp, "vmap_mjp": vmap_mjp, "loop_jmp": loop_jmp,
                    "vmap_jmp": vmap_jmp}


def run(repeat: int = 7):
    import hlodiff as hd
    import hlodiff.numpy as hnp

    rng = np.random.default_rng(0)
    W = rng.standard_normal(3).astype(np.float32)
    b = np.float32(rng.standard_normal())
    U = rng.standard_normal((128, 4)).astype(np.float32)
    S = rng.standard_normal((128, 3)).astype(np.float32)
    libs = {"hlodiff": (_products(hd, hnp), hnp.asarray)}
    jax = optional_import("jax")
    if jax is not None:
        libs["jax"] = (_products(jax, jax.numpy), jax.numpy.asarray)
    torch = optional_import("torch")
    if torch is not None and optional_import("torch.func") is not None:
        libs["torch.func"] = (_torch_impls(torch), torch.tensor)
    results = []
    for name in ("loop_mjp", "vmap_mjp", "loop_jmp", "vmap_jmp"):
        impls = {}
        for lib, ((make_f, fns), conv) in libs.items():
            f = make_f(conv(W), conv(b))
            M = conv(U) if "mjp" in name else conv(S)
            impls[lib] = ready(lambda fn=fns[name], f=f, M=M, w=conv(W): fn(f, w, M))
        results += compare(name, impls, repeat)
    return results


if __name__ == "__main__":
    pin_single_thread()
    print_table(run())
