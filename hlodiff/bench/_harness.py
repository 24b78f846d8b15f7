"""Interleaved, single-threaded timing of several implementations of one workload."""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

_THREAD_VARS = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "JAX_PLATFORMS": "cpu",
}


def pin_single_thread() -> None:
    """Re-executes the process with every library limited to one thread (must run first)."""
    if os.environ.get("HLODIFF_BENCH_PINNED") == "1":
        return
    env = dict(os.environ, HLODIFF_BENCH_PINNED="1", **_THREAD_VARS)
    os.execve(sys.executable, [sys.executable] + sys.orig_argv[1:], env)


@dataclass
class Result:
    workload: str
    impl: str
    samples_s: list = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples_s)

    @property
    def spread(self) -> float:
        qs = statistics.quantiles(self.samples_s, n=4) if len(self.samples_s) > 3 else [0, 0, 0]
        return (qs[2] - qs[0]) / self.median_s if self.median_s else 0.0


def _per_call(fn: Callable, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def _calibrate(fn: Callable, target_s: float = 0.02) -> int:
    number = 1
    while _per_call(fn, number) * number < target_s and number < 1_000_000:
        number *= 4
    return number


def compare(workload: str, impls: dict[str, Callable], repeat: int = 15) -> list[Result]:
    """Times each implementation `repeat` times, interleaved; each sample averages a batch."""
    for fn in impls.values():
        fn()  # warm-up (tracing, compilation, caches)
    numbers = {name: _calibrate(fn) for name, fn in impls.items()}
    results = {name: Result(workload, name) for name in impls}
    for _ in range(repeat):
        for name, fn in impls.items():
            results[name].samples_s.append(_per_call(fn, numbers[name]))
    return list(results.values())


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:8.2f} us"
    if s < 1:
        return f"{s * 1e3:8.2f} ms"
    return f"{s:8.2f} s "


def print_table(results: list[Result], baseline: str = "hlodiff") -> None:
    by_workload: dict[str, list[Result]] = {}
    for r in results:
        by_workload.setdefault(r.workload, []).append(r)
    print(f"{'workload':34} {'impl':16} {'median':>11} {'spread':>7} {'vs ' + baseline:>11}")
    for workload, rs in by_workload.items():
        base = next((r for r in rs if r.impl == baseline), rs[0])
        for r in rs:
            ratio = r.median_s / base.median_s if base.median_s else float("nan")
            print(f"{workload:34} {r.impl:16} {fmt_time(r.median_s):>11} {r.spread:6.0%} "
                  f"{ratio:10.2f}x")


def optional_import(name: str):
    try:
        return __import__(name, fromlist=["_"])
    except Exception:
        return None
