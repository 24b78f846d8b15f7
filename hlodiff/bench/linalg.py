"""Decompositions under jit: Cholesky and an LU solve of n x n float32 matrices (n = 256, 1024),
next to JAX (XLA + LAPACK) and numpy (LAPACK). hlodiff lowers them to recursive blocked
algorithms in StableHLO, with small column loops at the leaves, that IREE compiles
(lowering/rules/decompositions.py); no LAPACK is involved. Timings exclude compilation (the
first call; for n = 1024 about 7 s for Cholesky and 20 s for solve on a 2-core machine, then
cached on disk).

    python -m hlodiff.bench.linalg
"""

from __future__ import annotations

import numpy as np

from hlodiff.bench._harness import compare, optional_import, pin_single_thread, print_table

SIZES = (256, 1024)


def _inputs(n: int):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, n))
    spd = (x @ x.T / n + np.eye(n)).astype(np.float32)  # well conditioned
    b = rng.standard_normal((n,)).astype(np.float32)
    return spd, b


def _impls(n: int):
    import hlodiff as hd
    import hlodiff.numpy as hnp

    a, b = _inputs(n)
    chol_h, solve_h = hd.jit(hnp.linalg.cholesky), hd.jit(hnp.linalg.solve)
    ah, bh = hnp.asarray(a), hnp.asarray(b)
    chol = {"hlodiff": lambda: chol_h(ah).block_until_ready(),
            "numpy": lambda: np.linalg.cholesky(a)}
    solve = {"hlodiff": lambda: solve_h(ah, bh).block_until_ready(),
             "numpy": lambda: np.linalg.solve(a, b)}
    jax = optional_import("jax")
    if jax is not None:
        chol_j, solve_j = jax.jit(jax.numpy.linalg.cholesky), jax.jit(jax.numpy.linalg.solve)
        aj, bj = jax.numpy.asarray(a), jax.numpy.asarray(b)
        chol["jax"] = lambda: chol_j(aj).block_until_ready()
        solve["jax"] = lambda: solve_j(aj, bj).block_until_ready()
    return chol, solve


def run(repeat: int = 15):
    results = []
    for n in SIZES:
        chol, solve = _impls(n)
        results += compare(f"jit cholesky f32[{n},{n}]", chol, repeat)
        results += compare(f"jit solve f32[{n},{n}] @ f32[{n}]", solve, repeat)
    return results


if __name__ == "__main__":
    pin_single_thread()
    print_table(run())
