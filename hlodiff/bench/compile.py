"""The `compile` suite: what a user waits for before the first result, and per call.

- cold compile: a fresh process with an empty compilation cache (a new `HLODIFF_CACHE_DIR`; for
  JAX a new persistent-cache directory) traces, lowers, compiles and runs the MLP training step
  and a 200x200 jacrev once;
- warm load: a second process finds the module in that disk cache (for JAX: in its persistent
  compilation cache) and only traces, lowers, loads and runs;
- dispatch: the per-call cost of a jitted `x * 2.0` on f32[3], and of the same op eagerly.

Cold and warm samples are timed inside the child process, from after the imports to the first
result ready; the child reports its phases (trace+lower, compile or load, first run), and the
parent the whole process's wall time (interpreter start and imports included, not counted).
At most 5 samples each: every sample is a process.
Run one child by hand with `python -m hlodiff.bench.compile '{"lib": "hlodiff", ...}'`.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from hlodiff.bench._harness import Timed
from hlodiff.bench.workload import Workload

_PROGRAMS = {
    "mlp_step": (
        "MLP train step",
        "models.mlp_step, {sizes[0]}-{sizes[1]}-{sizes[2]}-{sizes[3]}, batch {batch}",
        {"sizes": [784, 512, 512, 10], "batch": 128},
        {"sizes": [32, 16, 16, 10], "batch": 8},
    ),
    "jacrev": (
        "jacrev tanh layer",
        "jit(jacrev(tanh(W x + b))), {n} -> {n}",
        {"n": 200},
        {"n": 16},
    ),
}
_CHILD_LIBS = ("hlodiff", "jax")
_NO_AOT = "no ahead-of-time compile to time"


# --- the child process ---------------------------------------------------------------------------


def _program(lib, program: str, params: dict):
    """(jitted function, its arguments, check of its host leaves) for `program`."""
    from hlodiff.bench import models

    if program == "mlp_step":
        return (
            models.mlp_step_fn(lib),
            models.mlp_step_args(lib, params),
            lambda leaves: models.mlp_step_check(leaves, params),
        )
    return (
        models.jacobian_fn(lib, "jacrev"),
        lib.tree_put(models.layer_init(params["n"])),
        lambda leaves: leaves,
    )


def child_main(config: dict) -> dict:
    """Runs in the child: imports, then times one first call phase by phase."""
    from hlodiff.bench import _harness, libs

    lib = libs.load(config["lib"], config["device"], config["threads"])
    if lib.name == "jax":
        for name, value in (
            ("jax_compilation_cache_dir", config["cache_dir"]),
            ("jax_persistent_cache_min_compile_time_secs", 0),
            ("jax_persistent_cache_min_entry_size_bytes", 0),
        ):
            lib.mod.config.update(name, value)
    fn, args, check = _program(lib, config["program"], config["params"])
    t0 = time.perf_counter()
    lowered = fn.lower(*args)
    lowered.as_text()
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    out = lib.block(compiled(*args))
    t3 = time.perf_counter()
    return {
        "seconds": t3 - t0,
        "phases": {"trace+lower": t1 - t0, "compile or load": t2 - t1, "first run": t3 - t2},
        "checksum": _harness.checksum(check(lib.to_host(out))),
    }


def run_child(config: dict) -> Timed:
    """Starts `python -m hlodiff.bench.compile CONFIG` with this process's environment (thread
    pins included) plus the cache directory, and returns its `Timed`."""
    env = dict(os.environ, HLODIFF_CACHE_DIR=config["cache_dir"])
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hlodiff.bench.compile", json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"child process failed (exit {done.returncode}): {tail}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    phases = dict(report["phases"], **{"whole process (not counted)": wall})
    return Timed(report["seconds"], checksum=report["checksum"], phases=phases)


def _tempdir(tag: str) -> str:
    path = tempfile.mkdtemp(prefix=f"hlodiff-bench-{tag}-")
    atexit.register(shutil.rmtree, path, True)
    return path


def _config(lib, program: str, params: dict, cache_dir: str) -> dict:
    threads = int(os.environ.get("HLODIFF_BENCH_THREADS") or 0)
    return {
        "lib": lib.name,
        "program": program,
        "params": params,
        "cache_dir": cache_dir,
        "device": lib.platform,
        "threads": threads,
    }


def _cold(program: str):
    def build(lib, params):
        def cold():
            cache = tempfile.mkdtemp(prefix=f"hlodiff-bench-cold-{lib.name}-")
            try:
                return run_child(_config(lib, program, params, cache))
            finally:
                shutil.rmtree(cache, ignore_errors=True)

        return cold

    return build


def _warm(program: str):
    def build(lib, params):
        cache = _tempdir(f"warm-{lib.name}")
        config = _config(lib, program, params, cache)
        populated = []

        def warm():
            if not populated:  # the warm-up call: a first process fills the cache
                run_child(config)
                populated.append(True)
            return run_child(config)

        return warm

    return build


def _process_workload(kind: str, program: str) -> Workload:
    title, size, full, quick = _PROGRAMS[program]
    build = _cold(program) if kind == "cold" else _warm(program)
    what = "cold compile" if kind == "cold" else "warm load, 2nd process"
    return Workload(
        id=f"compile.{kind}.{program}",
        title=f"{what}: {title}",
        suite="compile",
        mode="process",
        builders={name: build for name in _CHILD_LIBS},
        full=full,
        quick=quick,
        size=size,
        self_timed=True,
        max_repeat=5,
        missing={"torch": _NO_AOT, "autograd": _NO_AOT, "numpy": _NO_AOT},
    )


# --- dispatch ------------------------------------------------------------------------------------

_X = np.array([1.0, 2.0, 3.0], np.float32)


def _jit_dispatch(lib, params):
    fn = lib.mod.jit(lambda v: v * 2.0)
    x = lib.put(_X)
    return lambda: fn(x)


def _eager_dispatch(lib, params):
    x = lib.put(_X)
    return lambda: x * 2.0


def _dispatch(mode: str) -> Workload:
    builders = {"hlodiff": _jit_dispatch, "jax": _jit_dispatch}
    missing = {"torch": "no jit (torch.compile not timed)", "autograd": "no jit", "numpy": "no jit"}
    if mode == "eager":
        builders = {name: _eager_dispatch for name in ("hlodiff", "jax", "torch", "numpy")}
        missing = {"autograd": "numpy underneath"}
    return Workload(
        id=f"compile.dispatch.{mode}",
        title="dispatch x * 2.0",
        suite="compile",
        mode=mode,
        builders=builders,
        size="f32[3], result ready",
        missing=missing,
    )


def workloads() -> list[Workload]:
    out = [_process_workload(kind, program) for program in _PROGRAMS for kind in ("cold", "warm")]
    return out + [_dispatch("jit"), _dispatch("eager")]


if __name__ == "__main__":
    print(json.dumps(child_main(json.loads(sys.argv[1]))))
