"""`hlodiff.bench.run(...)`: selects workloads, pins threads, times every library, compares
checksums, and writes the table, the JSON report and the chart.

Thread pinning has to happen before numpy, BLAS or XLA start their thread pools, so unless this
process is already pinned to the requested thread count, `run` starts itself again in a child
process (`python -m hlodiff.bench.runner CONFIG.json`) with the thread environment and a CPU
affinity mask, and returns the report that child wrote.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from hlodiff.bench import _harness, libs, report
from hlodiff.bench.workload import Unavailable, Workload, select

SCHEMA = "hlodiff-bench/1"
DEFAULT_COMPARE = ("jax", "numpy", "autograd", "torch")
REPEAT, QUICK_REPEAT = 11, 3
TARGET_S, QUICK_TARGET_S = 0.02, 0.002  # length of one sample (calls are batched up to it)
BUDGET_S, QUICK_BUDGET_S = 12.0, 0.5  # time one library may spend on one workload's samples
SLOW_FACTOR = 1.5  # a sample is slow when the probe beside it took this much over baseline


class BenchError(RuntimeError):
    """The benchmark could not run (bad arguments, absent device, a failed child process)."""


def run(
    suite: str | None = None,
    only: list[str] | str | None = None,
    compare=DEFAULT_COMPARE,
    repeat: int | None = None,
    json_path: str | None = None,
    plot_path: str | None = None,
    quick: bool = False,
    threads: int | None = None,
    device: str = "cpu",
    *,
    isolate: bool | None = None,
    workloads: list[Workload] | None = None,
    progress: bool = True,
    table: bool = True,
) -> dict:
    """Runs benchmarks and returns the report (the dict written as JSON).

    Args:
      suite: `spec`, `models`, `compile` or `all` (default: `spec`, or `all` with `only`).
      only: workload names: a workload runs when its id contains one (`hvp`, `models.mlp_step`).
      compare: libraries beside hlodiff, a list or `"jax,numpy"` (`"none"` for hlodiff alone).
      repeat: samples per library and workload (default 11, 3 with `quick`).
      json_path / plot_path: where to write the JSON report and the PNG chart of ratios.
      quick: small sizes, few short samples: a smoke run.
      threads: threads (and CPUs) every library may use; default 1, also for vulkan and cuda
        (lavapipe's threads and multi-threaded BLAS oversubscribe a small machine); 0 leaves
        them unpinned.
      device: hlodiff's device, `cpu`, `vulkan` or `cuda`.
      isolate: run in a pinned child process (default: when this process is not pinned).
      workloads: run these `Workload`s instead of the built-in suites (in this process).
      progress / table: progress on stderr, the table on stdout.
    Raises:
      BenchError: unknown suite, workload or library; absent device; a child that failed.

    >>> report = hlodiff.bench.run(only=["spec.perex"], compare="numpy", quick=True)
    """
    config = _config(suite, only, compare, repeat, json_path, plot_path, quick, threads, device)
    if isolate is None:
        isolate = bool(config["threads"]) and not _harness.is_pinned(config["threads"])
    if isolate and workloads is not None:
        raise BenchError("custom workloads run in this process: pass isolate=False")
    _select(config, workloads)  # a bad name fails here, before any child starts
    if isolate:
        return _run_child(config, progress, table)
    return _run_here(config, workloads, progress, table)


def _config(suite, only, compare, repeat, json_path, plot_path, quick, threads, device) -> dict:
    if isinstance(only, str):
        only = [only]
    if isinstance(compare, str):
        compare = [c.strip() for c in compare.split(",") if c.strip() and c.strip() != "none"]
    compare = [c for c in dict.fromkeys(compare or ()) if c != libs.BASELINE]
    unknown = [c for c in compare if c not in libs.OPTIONAL]
    if unknown:
        raise BenchError(
            f"unknown library {', '.join(unknown)} for --compare; "
            f"choose from {', '.join(libs.OPTIONAL)}"
        )
    if device not in ("cpu", "vulkan", "cuda"):
        raise BenchError(f"unknown device {device!r}; use cpu, vulkan or cuda")
    if repeat is not None and repeat < 1:
        raise BenchError("--repeat must be at least 1")
    return {
        "suite": suite or ("all" if only else "spec"),
        "only": list(only or []),
        "compare": compare,
        "repeat": repeat or (QUICK_REPEAT if quick else REPEAT),
        "json_path": json_path and str(json_path),
        "plot_path": plot_path and str(plot_path),
        "quick": bool(quick),
        "threads": 1 if threads is None else int(threads),
        "device": device,
    }


# --- a pinned child ------------------------------------------------------------------------------


def _run_child(config: dict, progress: bool, table: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="hlodiff-bench-") as tmp:
        child = dict(
            config,
            progress=progress,
            table=table,
            report_path=config["json_path"] or str(Path(tmp) / "report.json"),
        )
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(child))
        env = dict(os.environ, **_harness.thread_env(config["threads"]))
        if config["threads"] > 1:  # IREE's multi-threaded CPU driver, unless one was chosen
            env.setdefault("HLODIFF_CPU_DRIVER", "local-task")
        if config["device"] != "cuda":
            env.setdefault("JAX_PLATFORMS", "cpu")
        cpus = _harness.pinned_cpus(config["threads"])
        done = subprocess.run(
            [sys.executable, "-m", "hlodiff.bench.runner", str(path)],
            env=env,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(
                f"the benchmark process failed (exit status {done.returncode}); its error is above"
            )
        return json.loads(Path(child["report_path"]).read_text())


def _child_main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    progress, table = config.pop("progress"), config.pop("table")
    report_path = config.pop("report_path")
    try:
        result = _run_here(config, None, progress, table)
    except BenchError as e:
        print(f"hlodiff bench: error: {e}", file=sys.stderr)
        return 1
    if not config["json_path"]:
        Path(report_path).write_text(json.dumps(result))
    return 0


# --- running in this process ---------------------------------------------------------------------


def _run_here(config: dict, workloads, progress: bool, table: bool) -> dict:
    from hlodiff import config as hd_config

    platform_before = hd_config.platform  # `--device` sets it; a caller's stays theirs
    try:
        return _run_selected(config, workloads, progress, table)
    finally:
        hd_config.update("platform", platform_before)


def _run_selected(config: dict, workloads, progress: bool, table: bool) -> dict:
    start = time.perf_counter()
    chosen = _select(config, workloads)
    loaded = _load_libs(config)
    say = report.Progress(enabled=progress)
    probe = _harness.Probe()
    baseline = probe.baseline()
    results = []
    for i, workload in enumerate(chosen):
        say.start(i, len(chosen), workload.label())
        results.append(_run_workload(workload, loaded, config, probe, baseline, say.update))
    say.finish()
    out = _report(config, loaded, results, baseline, time.perf_counter() - start)
    out["plot"] = report.plot(out, config["plot_path"]) if config["plot_path"] else None
    if config["json_path"]:
        report.write_json(out, config["json_path"])
    if table:
        print(report.format_table(out), flush=True)
    return out


def _select(config: dict, workloads) -> list[Workload]:
    try:
        return select(config["suite"], config["only"], workloads)
    except ValueError as e:
        raise BenchError(str(e)) from None


def _load_libs(config: dict) -> dict:
    """{name: Lib or None (not installed)} for hlodiff and the compared libraries."""
    loaded = {}
    for name in (libs.BASELINE, *config["compare"]):
        try:
            loaded[name] = libs.load(name, config["device"], config["threads"])
        except Exception as e:  # a broken install: its column says so
            if name == libs.BASELINE:  # e.g. DeviceNotFoundError: nothing to compare against
                raise BenchError(f"{type(e).__name__}: {e}") from e
            loaded[name] = e
    return loaded


def _run_workload(workload: Workload, loaded: dict, config: dict, probe, baseline, say) -> dict:
    params = workload.params(config["quick"])
    cells, impls = _build(workload, loaded, params)
    quick = config["quick"]
    repeat = min(config["repeat"], workload.max_repeat or config["repeat"])
    timings = _harness.measure(
        impls,
        repeat,
        probe=probe,
        probe_baseline=baseline,
        slow_factor=SLOW_FACTOR,
        target_s=QUICK_TARGET_S if quick else TARGET_S,
        budget_s=QUICK_BUDGET_S if quick else BUDGET_S,
        min_samples=1 if quick else 3,
        self_timed=workload.self_timed,
        on_progress=say,
    )
    for name, timing in timings.items():
        cells[name].update(_cell(workload, loaded[name], timing, params))
    reference = _compare_checksums(workload, cells)
    _ratios(cells)
    return {
        "id": workload.id,
        "title": workload.title,
        "label": workload.label(),
        "suite": workload.suite,
        "mode": workload.mode,
        "size": workload.size_text(config["quick"]),
        "rtol": workload.rtol,
        "reference": reference,
        "results": cells,
    }


def _build(workload: Workload, loaded: dict, params: dict) -> tuple[dict, dict]:
    """A result cell per library, and the thunks of those that can run the workload."""
    cells, impls = {}, {}
    for name, lib in loaded.items():
        cells[name] = cell = {
            "status": None,
            "reason": None,
            "mode": workload.notes.get(name, workload.mode),
        }
        if lib is None:
            cell.update(status="not installed")
        elif isinstance(lib, Exception):
            cell.update(status="failed", reason=f"import: {_one_line(lib)}")
        elif name not in workload.builders:
            cell.update(status="n/a", reason=workload.missing.get(name, "no implementation"))
        else:
            try:
                impls[name] = _forced(lib, workload.builders[name](lib, params))
            except Unavailable as e:
                status = "not available" if name == libs.BASELINE else "n/a"
                cell.update(status=status, reason=str(e))
            except Exception as e:  # noqa: BLE001 -- the row says so, the run goes on
                cell.update(status="failed", reason=_one_line(e))
    return cells, impls


def _one_line(error: BaseException) -> str:
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first[:200]}"


def _forced(lib, thunk):
    def run():
        return lib.block(thunk())

    return run


def _cell(workload: Workload, lib, timing: _harness.Timing, params: dict) -> dict:
    if timing.error is not None:
        return {"status": "failed", "reason": _one_line(timing.error)}
    cell = {
        "status": "ok",
        "median_s": timing.median_s,
        "spread": timing.spread,
        "min_s": min(timing.kept_s),
        "samples_s": timing.samples_s,
        "probe_slowdowns": [round(s, 3) for s in timing.slowdowns],
        "samples": len(timing.samples_s),
        "dropped": timing.dropped,
        "calls_per_sample": timing.number,
        "first_call_s": timing.first_call_s,
    }
    if timing.phases:
        keys = timing.phases[0]
        cell["phases_median_s"] = {k: _median([p[k] for p in timing.phases]) for k in keys}
    try:
        cell["checksum"] = _checksum_of(workload, lib, timing.output, params)
    except Exception as e:  # noqa: BLE001 -- an output we cannot read is a wrong output
        cell["checksum"] = None
        cell["check_detail"] = f"could not read the result: {type(e).__name__}: {e}"
    return cell


def _median(values):
    import statistics

    return statistics.median(values)


def _checksum_of(workload: Workload, lib, output, params: dict) -> dict:
    if isinstance(output, _harness.Timed):
        if output.checksum is not None:
            return output.checksum
        output = output.output
    leaves = lib.to_host(output)
    if workload.check is not None:
        leaves = workload.check(leaves, params)
    return _harness.checksum(leaves)


def _compare_checksums(workload: Workload, cells: dict) -> str | None:
    """Marks every measured library `ok` or `mismatch` against the reference (hlodiff when it
    ran, else the first library that did). Returns the reference's name."""
    ran = [name for name, c in cells.items() if c["status"] == "ok"]
    if not ran:
        return None
    reference = libs.BASELINE if libs.BASELINE in ran else ran[0]
    ref_sum = cells[reference].get("checksum")
    for name in ran:
        cell = cells[name]
        if name == reference:
            cell["check"] = "reference" if len(ran) > 1 else "unchecked"
            continue
        if cell.get("checksum") is None or ref_sum is None:
            cell["check"] = "mismatch"
            cell.setdefault("check_detail", "no checksum")
            continue
        ok, why = _harness.checksums_match(ref_sum, cell["checksum"], workload.rtol)
        cell["check"] = "ok" if ok else "mismatch"
        if not ok:
            cell["check_detail"] = f"vs {reference}: {why}"
    return reference


def _ratios(cells: dict) -> None:
    """time / hlodiff's time for each library (below 1: faster than hlodiff)."""
    base = cells.get(libs.BASELINE, {})
    for cell in cells.values():
        if cell["status"] == "ok" and base.get("status") == "ok" and base["median_s"] > 0:
            cell["ratio_vs_hlodiff"] = cell["median_s"] / base["median_s"]
        else:
            cell["ratio_vs_hlodiff"] = None


def _report(config, loaded, results, baseline, elapsed) -> dict:
    mismatches = [
        {"workload": w["id"], "library": name, "detail": c.get("check_detail", "")}
        for w in results
        for name, c in w["results"].items()
        if c.get("check") == "mismatch"
    ]
    failures = [
        {"workload": w["id"], "library": name, "reason": c["reason"]}
        for w in results
        for name, c in w["results"].items()
        if c["status"] == "failed"
    ]
    cells = [c for w in results for c in w["results"].values() if c["status"] == "ok"]
    return {
        "schema": SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": dict(
            config,
            target_sample_s=QUICK_TARGET_S if config["quick"] else TARGET_S,
            budget_s=QUICK_BUDGET_S if config["quick"] else BUDGET_S,
        ),
        "machine": machine_info(),
        "device": {
            "requested": config["device"],
            "libraries": {n: _where(lib) for n, lib in loaded.items()},
        },
        "versions": libs.versions(),
        "libraries": {n: _status(lib) for n, lib in loaded.items()},
        "probe": {
            "description": _harness.Probe.description,
            "baseline_s": baseline,
            "slow_factor": SLOW_FACTOR,
            "rule": "a sample is dropped when the probe before or after it ran over "
            "slow_factor x baseline; never more than half of a library's samples",
        },
        "workloads": results,
        "summary": {
            "workloads": len(results),
            "mismatches": mismatches,
            "failures": failures,
            "samples": sum(c["samples"] for c in cells),
            "dropped_samples": sum(c["dropped"] for c in cells),
            "elapsed_s": elapsed,
        },
    }


def _where(lib) -> str:
    if lib is None:
        return "not installed"
    return lib.device if isinstance(lib, libs.Lib) else f"failed to load: {lib}"


def _status(lib) -> str:
    if lib is None:
        return "not installed"
    return "installed" if isinstance(lib, libs.Lib) else "failed to load"


def machine_info() -> dict:
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "pinned_cpus": sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "thread_env": {k: os.environ.get(k) for k in _harness.thread_env(1)},
    }
    if hasattr(os, "getloadavg"):
        info["load_average"] = list(os.getloadavg())
    try:
        mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()
        info["memory_gib"] = round(int(mem[1]) / 2**20, 1)
    except (OSError, IndexError, ValueError):
        pass
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
