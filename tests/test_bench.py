"""`hlodiff bench`: report structure, checksum comparison, probe-based dropping, the CLI.

Speed is reported by the harness, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import hlodiff.bench
from hlodiff.bench import _harness, libs, report, runner
from hlodiff.bench.workload import Unavailable, Workload, select


def _quick(**kw):
    return hlodiff.bench.run(quick=True, progress=False, table=False, **kw)


# --- a real run, in its pinned child process -----------------------------------------------------


@pytest.fixture(scope="module")
def perex_report(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "out.json"
    out = _quick(only=["spec.perex.eager"], compare="numpy", json_path=str(path))
    return out, json.loads(path.read_text())


def test_report_structure(perex_report):
    out, written = perex_report
    assert out == written
    assert out["schema"] == runner.SCHEMA
    assert out["config"]["threads"] == 1 and out["config"]["quick"]
    assert out["machine"]["cpu_count"] >= 1 and len(out["machine"]["pinned_cpus"]) == 1
    assert out["machine"]["thread_env"]["OPENBLAS_NUM_THREADS"] == "1"
    assert out["device"]["requested"] == "cpu"
    assert out["versions"]["numpy"] == np.__version__
    assert out["libraries"] == {"hlodiff": "installed", "numpy": "installed"}
    assert out["probe"]["baseline_s"] > 0
    (w,) = out["workloads"]
    assert w["id"] == "spec.perex.eager" and w["reference"] == "hlodiff"
    base, ref = w["results"]["hlodiff"], w["results"]["numpy"]
    for cell in (base, ref):
        assert cell["status"] == "ok" and cell["median_s"] > 0 and cell["spread"] >= 0
        assert (
            cell["samples"] >= 1 and 0 <= cell["dropped"] < cell["samples"] or cell["samples"] == 1
        )
        assert cell["checksum"]["size"] == 6 and cell["checksum"]["finite"]
    assert base["check"] == "reference" and ref["check"] == "ok"
    assert base["ratio_vs_hlodiff"] == 1.0
    assert ref["ratio_vs_hlodiff"] == pytest.approx(ref["median_s"] / base["median_s"])
    assert base["checksum"]["sum"] == pytest.approx(2 * (1.2 + 2.4 - 1.2), rel=1e-5)
    assert out["summary"]["mismatches"] == [] and out["summary"]["failures"] == []


def test_table_shows_every_library(perex_report):
    text = report.format_table(perex_report[0])
    assert "per-example grads (eager)" in text and "hlodiff" in text and "numpy" in text
    assert "MISMATCH" not in text and "dropped" in text


# --- checksums -----------------------------------------------------------------------------------


def test_checksum_comparison():
    x = np.random.default_rng(0).standard_normal((8, 5)).astype(np.float32)
    a = _harness.checksum([x])
    assert _harness.checksums_match(a, _harness.checksum([x * (1 + 1e-6)]))[0]
    transposed = _harness.checksum([np.ascontiguousarray(x.T)])
    ok, why = _harness.checksums_match(a, transposed)  # same sums, other order
    assert not ok and "weighted_sum" in why
    assert not _harness.checksums_match(a, _harness.checksum([x[:4]]))[0]
    assert not _harness.checksums_match(a, _harness.checksum([x * np.nan]))[0]
    assert not _harness.checksums_match(a, _harness.checksum([x + 0.01]))[0]


def _sum_times_two(lib, params):
    x = lib.put(np.arange(6, dtype=np.float32))
    return lambda: lib.np.sum(x * 2.0)


def _off_by_one(lib, params):
    x = np.arange(6, dtype=np.float32)
    return lambda: np.sum(x * 2.0) + 1.0


def _fails(lib, params):
    raise Unavailable("deliberately absent")


def test_wrong_implementation_is_flagged(monkeypatch):
    real_installed = libs.installed
    monkeypatch.setattr(libs, "installed", lambda name: name != "torch" and real_installed(name))
    wrong = Workload(
        id="test.sum",
        title="sum",
        suite="spec",
        mode="eager",
        builders={"hlodiff": _sum_times_two, "numpy": _off_by_one, "autograd": _fails},
    )
    out = _quick(workloads=[wrong], compare="numpy,autograd,torch", isolate=False)
    cells = out["workloads"][0]["results"]
    assert cells["hlodiff"]["check"] == "reference"
    assert cells["numpy"]["check"] == "mismatch" and "sum" in cells["numpy"]["check_detail"]
    if real_installed("autograd"):
        assert cells["autograd"]["status"] == "n/a"
        assert cells["autograd"]["reason"] == "deliberately absent"
    assert cells["torch"]["status"] == "not installed"
    assert out["summary"]["mismatches"][0]["library"] == "numpy"
    text = report.format_table(out)
    numpy_row = next(line for line in text.splitlines() if line.startswith("sum"))
    assert "WRONG" in numpy_row and "MISMATCH: numpy" in numpy_row and "x " not in numpy_row
    assert "not installed" in numpy_row and "CHECKSUM MISMATCHES" in text


def test_failed_implementation_is_reported(monkeypatch):
    def boom(lib, params):
        def call():
            raise RuntimeError("kaboom")

        return call

    w = Workload(
        id="test.boom",
        title="boom",
        suite="spec",
        mode="eager",
        builders={"hlodiff": _sum_times_two, "numpy": boom},
    )
    out = _quick(workloads=[w], compare="numpy", isolate=False)
    cell = out["workloads"][0]["results"]["numpy"]
    assert cell["status"] == "failed" and "kaboom" in cell["reason"]
    assert out["summary"]["failures"] == [
        {"workload": "test.boom", "library": "numpy", "reason": cell["reason"]}
    ]


# --- probe-based dropping, with a fake clock -----------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_slow_probe_drops_neighbouring_samples():
    clock = FakeClock()  # every duration below is a power of two: exact float arithmetic
    probe_runs = []

    def probe_work():  # the 6th probe run takes 8x longer: the machine was busy then
        probe_runs.append(None)
        clock.now += 1 / 8 if len(probe_runs) == 6 else 1 / 64

    calls = {"a": 0, "b": 0}

    def impl(name, seconds):
        def call():
            calls[name] += 1
            slow = name == "a" and calls[name] == 2 + 3  # a's 3rd sample, beside that probe
            clock.now += seconds * (4 if slow else 1)
            return np.float32(seconds)

        return call

    timings = _harness.measure(
        {"a": impl("a", 1.0), "b": impl("b", 2.0)},
        repeat=6,
        probe=_harness.Probe(work=probe_work, clock=clock, warm_up=False),
        clock=clock,
        target_s=0.5,
        budget_s=1e9,
        slow_factor=1.5,
    )
    a, b = timings["a"], timings["b"]
    assert len(a.samples_s) == len(b.samples_s) == 6 and a.number == b.number == 1
    # probe, a, probe, b, probe | b, probe, a, probe | a, SLOW PROBE, b, probe | ...
    assert a.samples_s[2] == 4.0 and a.dropped == 1 and b.dropped == 1
    assert a.kept == [0, 1, 3, 4, 5] and b.kept == [0, 1, 3, 4, 5]
    assert a.median_s == 1.0 and b.median_s == 2.0 and a.spread == 0.0
    assert a.slowdowns[2] == 8.0 and b.slowdowns[2] == 8.0 and max(a.slowdowns[:2]) == 1.0


def test_never_drops_more_than_half():
    assert _harness.keep_samples([1.0, 3.0, 1.1, 2.0], 1.5) == [0, 2]
    assert _harness.keep_samples([3.0, 2.0, 4.0, 5.0], 1.5) == [0, 1]
    assert _harness.keep_samples([9.0], 1.5) == [0]


# --- selection, chart, CLI -----------------------------------------------------------------------


def test_selection():
    ids = [w.id for w in select("all")]
    assert {
        "spec.perex.eager",
        "spec.hvp.fwd_rev.jit",
        "spec.vmap_jmp.eager",
        "models.mlp_step",
        "models.cholesky_solve",
        "compile.cold.mlp_step",
        "compile.warm.jacrev",
        "compile.dispatch.jit",
    } <= set(ids)
    assert len([i for i in ids if i.startswith("spec.")]) == 18
    assert [w.id for w in select("all", ["hvp"])] == [i for i in ids if "hvp" in i]
    with pytest.raises(runner.BenchError, match="nonesuch"):
        hlodiff.bench.run(only=["nonesuch"])
    with pytest.raises(runner.BenchError, match="unknown library"):
        hlodiff.bench.run(compare="tensorflow")


def test_chart_without_matplotlib(monkeypatch, perex_report):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = report.plot(perex_report[0], "never.png")
    assert not result["written"] and "matplotlib is not installed" in result["reason"]


def test_chart(tmp_path, perex_report):
    pytest.importorskip("matplotlib")
    result = report.plot(perex_report[0], str(tmp_path / "r.png"))
    assert result["written"] and (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "hlodiff.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli(tmp_path):
    path = tmp_path / "cli.json"
    done = _cli(
        "--quick",
        "--only",
        "compile.dispatch.eager",
        "--compare",
        "numpy",
        "--json",
        str(path),
        "--plot",
        str(tmp_path / "cli.png"),
    )
    assert done.returncode == 0, done.stderr
    assert "dispatch x * 2.0 (eager)" in done.stdout and "chart:" in done.stdout
    assert "[1/1] dispatch x * 2.0 (eager)" in done.stderr  # progress
    written = json.loads(path.read_text())
    assert [w["id"] for w in written["workloads"]] == ["compile.dispatch.eager"]
    assert written["workloads"][0]["results"]["numpy"]["check"] == "ok"


def test_cli_errors():
    done = _cli("--only", "nonesuch")
    assert done.returncode == 2 and "no workload" in done.stderr and "Traceback" not in done.stderr
    done = _cli("--device", "tpu")
    assert done.returncode == 2 and "invalid choice" in done.stderr
    listed = _cli("--list", "--suite", "models")
    assert listed.returncode == 0 and "models.dp_sgd" in listed.stdout
    assert "spec." not in listed.stdout
