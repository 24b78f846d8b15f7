"""Interleaved, thread-pinned timing of several implementations of one workload.

Two layers. `compare`/`print_table` are the small interface of the standalone scripts
(`python -m hlodiff.bench.autodiff`). `measure` is what `hlodiff bench` uses: warm-up excluded,
calls batched to a target sample length, libraries interleaved sample by sample, and a fixed
numpy probe timed between samples, so that samples taken while the machine ran slow can be
dropped and counted. `checksum`/`checksums_match` compare results across libraries.

Thread pinning: environment variables cap numpy's BLAS, OpenMP and torch's pools; XLA's CPU
client (jax 0.10) ignores its thread flags, so the process is also bound to N CPUs with
`sched_setaffinity`, which caps every library, JAX included.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

PINNED_VAR = "HLODIFF_BENCH_THREADS"


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps numpy/BLAS, OpenMP, XLA and torch at `threads` threads."""
    n = str(threads)
    eigen = "true" if threads > 1 else "false"
    return {
        "OPENBLAS_NUM_THREADS": n,
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "VECLIB_MAXIMUM_THREADS": n,
        "NUMEXPR_NUM_THREADS": n,
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={eigen}",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        PINNED_VAR: n,
    }


def pinned_cpus(threads: int) -> set[int] | None:
    """The CPUs to bind a process to for `threads` threads: the last ones it may run on (CPU 0
    takes most interrupts); None where affinity is not supported."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    return set(allowed[-threads:]) if threads < len(allowed) else set(allowed)


def bind_cpus(threads: int) -> None:
    """Binds the calling process (and the threads it starts later) to `threads` CPUs."""
    cpus = pinned_cpus(threads)
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


def is_pinned(threads: int) -> bool:
    return os.environ.get(PINNED_VAR) == str(threads)


def pin_single_thread() -> None:
    """Re-executes the process with every library limited to one thread (must run first)."""
    if is_pinned(1):
        return
    bind_cpus(1)  # affinity survives exec
    env = dict(os.environ, JAX_PLATFORMS="cpu", **thread_env(1))
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
            print(
                f"{workload:34} {r.impl:16} {fmt_time(r.median_s):>11} {r.spread:6.0%} "
                f"{ratio:10.2f}x"
            )


def ready(thunk):
    """`thunk` with its result forced ready (`block_until_ready`) before the timer stops."""

    def run():
        out = thunk()
        getattr(out, "block_until_ready", lambda: None)()
        return out

    return run


def optional_import(name: str):
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # noqa: BLE001 -- a broken install counts as absent
        return None


# ---------------------------------------------------------------------------------------------
# `hlodiff bench`: measurement with a slow-machine probe, and result checksums


class Probe:
    """A fixed amount of numpy work (256x256 float32 matmuls), timed between samples. When the
    machine slows down (another process, frequency drop) the probe slows too, which flags the
    samples beside it. The work runs once untimed first: a workload that filled the caches
    would otherwise slow the probe as much as a busy machine does."""

    description = "numpy f32[256,256] @ f32[256,256], twice, caches warm"

    def __init__(
        self,
        work: Callable | None = None,
        clock: Callable[[], float] = time.perf_counter,
        warm_up: bool = True,
    ):
        self.clock = clock
        self.work = work or _matmul_work()
        self.warm_up = warm_up

    def __call__(self) -> float:
        if self.warm_up:
            self.work()
        start = self.clock()
        self.work()
        return self.clock() - start

    def baseline(self, count: int = 31) -> float:
        """The probe's typical duration on this machine now: median of `count` runs."""
        return statistics.median(self() for _ in range(count))


def _matmul_work() -> Callable:
    import numpy as np

    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)

    def work():
        a @ a
        a @ a

    return work


@dataclass
class Timed:
    """What a self-timed implementation returns: the seconds it measured itself (e.g. inside a
    child process) and, optionally, its output or the checksum of its output."""

    seconds: float
    output: object = None
    checksum: dict | None = None
    phases: dict | None = None


@dataclass
class Timing:
    """The measurement of one implementation of one workload."""

    samples_s: list = field(default_factory=list)  # seconds per call, in the order taken
    slowdowns: list = field(default_factory=list)  # probe slowdown beside each sample
    kept: list = field(default_factory=list)  # indices of the samples that count
    number: int = 1  # calls per sample
    first_call_s: float = float("nan")  # the warm-up call (tracing, compiling, caches)
    output: object = None  # the warm-up call's output
    phases: list = field(default_factory=list)  # per-sample phase breakdowns (self-timed)
    error: BaseException | None = None

    @property
    def kept_s(self) -> list:
        return [self.samples_s[i] for i in self.kept]

    @property
    def dropped(self) -> int:
        return len(self.samples_s) - len(self.kept)

    @property
    def median_s(self) -> float:
        return statistics.median(self.kept_s) if self.kept else float("nan")

    @property
    def spread(self) -> float:
        """Interquartile range over the median of the kept samples (0 with under 4 samples)."""
        kept = self.kept_s
        if len(kept) < 4 or not self.median_s:
            return 0.0
        q1, _, q3 = statistics.quantiles(kept, n=4)
        return (q3 - q1) / self.median_s


def keep_samples(slowdowns: list[float], slow_factor: float) -> list[int]:
    """Indices of the samples to keep: those whose probe ran within `slow_factor` of its
    baseline. Never drops more than half: when more ran slow, the least slowed half stays."""
    fast = [i for i, s in enumerate(slowdowns) if s <= slow_factor]
    min_keep = math.ceil(len(slowdowns) / 2)
    if len(fast) >= min_keep:
        return fast
    by_speed = sorted(range(len(slowdowns)), key=lambda i: slowdowns[i])
    return sorted(by_speed[:min_keep])


def measure(
    impls: dict[str, Callable],
    repeat: int,
    *,
    probe: Probe | None = None,
    probe_baseline: float | None = None,
    slow_factor: float = 1.5,
    target_s: float = 0.02,
    budget_s: float = 15.0,
    min_samples: int = 3,
    self_timed: bool = False,
    clock: Callable[[], float] = time.perf_counter,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Timing]:
    """Times each implementation: a warm-up call (kept as `first_call_s` and `output`), then up
    to `repeat` samples each, interleaved across implementations and separated by probe runs.

    Each implementation is a thunk whose result is already forced ready. A sample averages
    `number` calls, chosen so a sample lasts about `target_s`; an implementation gets fewer
    samples (never under `min_samples`) when `repeat` of them would pass `budget_s`. With
    `self_timed`, each call returns a `Timed` and its own seconds are the sample.
    Returns {name: Timing}; an implementation that raised has `error` set and no samples.
    """
    probe = probe or Probe(clock=clock)
    timings = {name: Timing() for name in impls}
    counts = {}
    for name, fn in impls.items():
        _say(on_progress, f"{name}: warm-up")
        try:
            counts[name] = _warm_up(
                fn, timings[name], repeat, target_s, budget_s, min_samples, clock, self_timed
            )
        except Exception as e:  # noqa: BLE001 -- reported in the table, the run goes on
            timings[name].error = e
    probes = _interleave(impls, counts, timings, probe, clock, self_timed, on_progress)
    baseline = statistics.median(probes)
    if probe_baseline:  # the run's calibration, unless this workload's probes ran faster
        baseline = min(baseline, probe_baseline)
    for timing in timings.values():
        if timing.error is not None:
            timing.samples_s, timing.slowdowns, timing.kept = [], [], []
            continue
        timing.slowdowns = [p / baseline for p in timing.slowdowns]
        timing.kept = keep_samples(timing.slowdowns, slow_factor)
    return timings


def _warm_up(fn, timing: Timing, repeat, target_s, budget_s, min_samples, clock, self_timed):
    """Makes the first call (kept), sizes a sample, and returns how many samples to take."""
    timing.first_call_s, timing.output = _timed_call(fn, clock, self_timed)
    if self_timed:  # one call per sample; each call may be a whole child process
        per_call = timing.first_call_s
    else:
        per_call, _ = _timed_call(fn, clock, self_timed)
        timing.number = max(1, min(1_000_000, round(target_s / max(per_call, 1e-9))))
    budget_n = int(budget_s // max(per_call * timing.number, 1e-9))
    return max(min_samples, min(repeat, budget_n))


def _interleave(impls, counts, timings, probe, clock, self_timed, on_progress) -> list[float]:
    """Takes the samples round by round, one per implementation, each between two probe runs;
    records each sample's slower neighbouring probe. Returns every probe duration."""
    before = probe()
    probes = [before]
    order = list(counts)
    for r in range(max(counts.values(), default=0)):
        shift = r % max(1, len(order))  # rotate, so no library always follows the same one
        for name in order[shift:] + order[:shift]:
            timing = timings[name]
            if r >= counts[name] or timing.error is not None:
                continue
            _say(on_progress, f"{name}: sample {r + 1}/{counts[name]}")
            try:
                seconds, phases = _sample(impls[name], timing.number, clock, self_timed)
            except Exception as e:  # noqa: BLE001
                timing.error = e
                continue
            after = probe()
            probes.append(after)
            timing.samples_s.append(seconds)
            timing.slowdowns.append(max(before, after))  # seconds; made relative at the end
            if phases is not None:
                timing.phases.append(phases)
            before = after
    return probes


def _say(on_progress, message: str) -> None:
    if on_progress is not None:
        on_progress(message)


def _timed_call(fn: Callable, clock, self_timed: bool) -> tuple[float, object]:
    start = clock()
    out = fn()
    elapsed = clock() - start
    if self_timed:
        return out.seconds, out
    return elapsed, out


def _sample(fn: Callable, number: int, clock, self_timed: bool) -> tuple[float, dict | None]:
    if self_timed:
        out = fn()
        return out.seconds, out.phases
    start = clock()
    for _ in range(number):
        fn()
    return (clock() - start) / number, None


def checksum(leaves: list) -> dict:
    """A short fingerprint of a result (its leaves as host arrays): sizes and shapes, sum, sum of
    absolute values and a sum weighted by a fixed pseudo-random sign-and-scale pattern (which
    catches permuted or transposed results that the plain sums miss)."""
    import numpy as np

    flat = [np.asarray(leaf, dtype=np.float64).ravel() for leaf in leaves]
    v = np.concatenate(flat) if flat else np.zeros(0)
    weights = np.cos(np.arange(v.size) * 0.7 + 0.3)
    return {
        "shapes": [list(np.shape(leaf)) for leaf in leaves],
        "size": int(v.size),
        "finite": bool(np.all(np.isfinite(v))),
        "sum": float(v.sum()),
        "abs_sum": float(np.abs(v).sum()),
        "weighted_sum": float(weights @ v),
    }


def checksums_match(a: dict, b: dict, rtol: float = 1e-3, atol: float = 1e-6) -> tuple[bool, str]:
    """Whether two checksums agree: same size, both finite, and every sum within
    rtol * (sum of absolute values) + atol * size. Returns (ok, why not)."""
    if a["size"] != b["size"]:
        return False, f"{a['size']} vs {b['size']} elements (shapes {a['shapes']} vs {b['shapes']})"
    if a["finite"] != b["finite"]:
        return False, "one result has nan/inf and the other has not"
    if not a["finite"]:
        return True, ""
    tol = rtol * max(a["abs_sum"], b["abs_sum"]) + atol * a["size"]
    for key in ("sum", "abs_sum", "weighted_sum"):
        if abs(a[key] - b[key]) > tol:
            return False, f"{key} {a[key]:.6g} vs {b[key]:.6g} (tolerance {tol:.2g})"
    return True, ""
