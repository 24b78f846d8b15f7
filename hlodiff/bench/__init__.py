"""Benchmarks: workloads timed side by side with the libraries a user would pick instead.

    hlodiff bench --suite all --json bench.json --plot bench.png
    report = hlodiff.bench.run(suite="models", compare="jax", quick=True)

Suites: `spec` (the tutorial's %timeit cells), `models` (MLP step, DP-SGD, HVP, Jacobians, scan
RNN, cholesky+solve), `compile` (cold compile, warm disk-cache load, dispatch). Method (see
`_harness`): warm-up excluded, results forced ready, libraries interleaved sample by sample,
threads pinned, a probe to drop samples taken while the machine ran slow, medians and spreads,
checksums compared across libraries, ratios against hlodiff.

The older standalone scripts keep working: `python -m hlodiff.bench.autodiff` (and
`eager_overhead`, `vmap_products`, `jit_dispatch`) print their own table.
"""

from __future__ import annotations


def run(*args, **kwargs) -> dict:
    """Runs benchmarks and returns the report; see `hlodiff.bench.runner.run`."""
    from hlodiff.bench.runner import run as _run

    return _run(*args, **kwargs)


__all__ = ["run"]
