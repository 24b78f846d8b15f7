"""Eager dispatch overhead: one primitive application, `x * 2.0` on a 3-vector, and a unary op.

    python -m hlodiff.bench.eager_overhead
"""

from __future__ import annotations

from hlodiff.bench._harness import compare, optional_import, pin_single_thread, print_table


def run(repeat: int = 15):
    import numpy as np

    import hlodiff.numpy as hnp

    impls_mul = {"hlodiff": (lambda x: lambda: x * 2.0)(hnp.array([1.0, 2.0, 3.0])),
                 "numpy": (lambda x: lambda: x * 2.0)(np.array([1.0, 2.0, 3.0], np.float32))}
    impls_sin = {"hlodiff": (lambda x: lambda: hnp.sin(x))(hnp.array([1.0, 2.0, 3.0])),
                 "numpy": (lambda x: lambda: np.sin(x))(np.array([1.0, 2.0, 3.0], np.float32))}
    jnp = optional_import("jax.numpy")
    if jnp is not None:
        xj = jnp.array([1.0, 2.0, 3.0])
        impls_mul["jax"] = lambda: (xj * 2.0).block_until_ready()
        impls_sin["jax"] = lambda: jnp.sin(xj).block_until_ready()
    torch = optional_import("torch")
    if torch is not None:
        torch.set_num_threads(1)
        xt = torch.tensor([1.0, 2.0, 3.0])
        impls_mul["torch"] = lambda: xt * 2.0
        impls_sin["torch"] = lambda: torch.sin(xt)
    return (compare("eager x * 2.0 (f32[3])", impls_mul, repeat)
            + compare("eager sin(x) (f32[3])", impls_sin, repeat))


if __name__ == "__main__":
    pin_single_thread()
    print_table(run())
