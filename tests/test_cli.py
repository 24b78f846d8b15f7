"""The `hlodiff` command line, driven as users drive it: `python -m hlodiff.cli ...` (and the
installed `hlodiff` script where it is on PATH) in subprocesses.

Two exports are compiled once for the module (a gradient with a pytree argument, and a function
with a static argument) into a temporary HLODIFF_CACHE_DIR; the bad-input cases run in parallel.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hlodiff as hd

pytestmark = pytest.mark.cpu

MODEL = textwrap.dedent("""
    import hlodiff.numpy as hnp

    def loss(params, x, y):
        h = hnp.tanh(x @ params["w1"] + params["b1"])
        logits = h @ params["w2"]
        logp = logits - hnp.log(hnp.sum(hnp.exp(logits), axis=1, keepdims=True))
        return -hnp.mean(hnp.sum(logp * hnp.eye(3)[y], axis=1))

    def scaled(x, n, activation="tanh"):
        return getattr(hnp, activation)(x) * n

    def broken(x):
        return x["no such key"]
""")
PARAMS_SPEC = '{"w1": "f32[6,5]", "b1": "f32[5]", "w2": "f32[5,3]"}'


def _params(rng):
    return {
        "b1": rng.normal(size=5).astype(np.float32),
        "w1": rng.normal(size=(6, 5)).astype(np.float32),
        "w2": rng.normal(size=(5, 3)).astype(np.float32),
    }


class Cli:
    """Runs `python -m hlodiff.cli` in a working directory with a private compile cache."""

    def __init__(self, cwd, env):
        self.cwd, self.env = cwd, env

    def __call__(self, *args, program=None, timeout=120) -> subprocess.CompletedProcess:
        cmd = list(program or [sys.executable, "-m", "hlodiff.cli"]) + [str(a) for a in args]
        return subprocess.run(
            cmd,
            check=False,
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    (cwd / "model.py").write_text(MODEL)
    rng = np.random.default_rng(0)
    for name, value in _params(rng).items():  # inputs in signature order: params/b1, w1, w2
        np.save(cwd / f"params_{name}.npy", value)
    np.save(cwd / "x.npy", rng.normal(size=(4, 6)).astype(np.float32))
    np.save(cwd / "y.npy", rng.integers(0, 3, 4).astype(np.int32))
    np.save(cwd / "x64.npy", np.ones((4, 6)))
    env = dict(os.environ, HLODIFF_CACHE_DIR=str(cwd / "cache"), PYTHONWARNINGS="ignore")
    return Cli(cwd, env)


GRAD_INPUTS = ["params_b1.npy", "params_w1.npy", "params_w2.npy", "x.npy", "y.npy"]


def _inputs(files):
    return [a for f in files for a in ("--input", f)]


@pytest.fixture(scope="module")
def grad_export(cli):
    done = cli(
        "compile",
        "model.py:loss",
        "--arg",
        PARAMS_SPEC,
        "--arg",
        "f32[4,6]",
        "--arg",
        "i32[4]",
        "--grad",
        "--out",
        "loss_grad",
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def static_export(cli):
    done = cli(
        "compile",
        "model.py:scaled",
        "--arg",
        "f32[4,6]",
        "--static",
        "n=3",
        "--static",
        "activation=sin",
    )
    assert done.returncode == 0, done.stderr
    return done


def _in_process_grad(cli):
    params = {k: np.load(cli.cwd / f"params_{k}.npy") for k in ("b1", "w1", "w2")}
    spec = importlib.util.spec_from_file_location("cli_model", cli.cwd / "model.py")
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    return hd.grad(model.loss)(params, np.load(cli.cwd / "x.npy"), np.load(cli.cwd / "y.npy"))


# ------------------------------------------------------------------------------------ commands


def test_compile_prints_a_summary(cli, grad_export):
    out = grad_export.stdout
    assert "exported loss_grad (grad of model.py:loss) for cpu" in out
    assert "params/w1  f32[6,5]" in out and "y          i32[4]" in out
    assert "module.vmfb" in out and "compile" in out and "iree-run-module" in out
    assert sorted(p.name for p in (cli.cwd / "loss_grad").iterdir()) == [
        "module.mlir",
        "module.vmfb",
        "signature.json",
    ]


def test_run_prints_and_saves_outputs(cli, grad_export):
    done = cli("run", "loss_grad", *_inputs(GRAD_INPUTS))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("b1: f32[5]\narray([") and "w2: f32[5,3]" in done.stdout
    done = cli(
        "run", "loss_grad", *_inputs(GRAD_INPUTS), "--output", "grads.npz", "--device", "cpu"
    )
    assert done.returncode == 0, done.stderr
    saved = np.load(cli.cwd / "grads.npz")
    for name, want in _in_process_grad(cli).items():
        np.testing.assert_allclose(saved[name], np.asarray(want), rtol=1e-5, atol=1e-6)


def test_static_arguments(cli, static_export):
    assert "static     n=3, activation='sin'" in static_export.stdout
    done = cli("run", "scaled_cpu", "--input", "x.npy", "--output", "s.npy")
    assert done.returncode == 0, done.stderr
    x = np.load(cli.cwd / "x.npy")
    np.testing.assert_allclose(np.load(cli.cwd / "s.npy"), np.sin(x) * 3, rtol=1e-5, atol=1e-6)


def test_inspect(cli, grad_export):
    done = cli("inspect", "loss_grad", "--lines", "3")
    assert done.returncode == 0, done.stderr
    assert "loss_grad(params={'b1': f32[5], 'w1': f32[6,5], 'w2': f32[5,3]}" in done.stdout
    assert "module.mlir (first 3 of" in done.stdout and "func.func public @main(" in done.stdout
    assert "--iree-hal-target-device=local" in done.stdout
    done = cli("inspect", "loss_grad", "--json")
    assert '"entry": "main"' in done.stdout


def test_devices(cli):
    done = cli("devices")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("cpu     CpuDevice(id=0)     driver local-")
    assert "\nvulkan " in done.stdout and "\ncuda " in done.stdout


def test_bench_slot(cli):
    done = cli("bench", "--help")
    if importlib.util.find_spec("hlodiff.bench.cli") is None:
        assert done.returncode == 2 and "hlodiff bench is not available yet" in done.stderr
    else:
        assert "not available yet" not in done.stderr


def test_run_never_loads_the_compiler(cli, grad_export):
    args = ["run", "loss_grad", *_inputs(GRAD_INPUTS), "--output", "g2.npz"]
    code = (
        "import sys; from hlodiff.cli import main; rc = main(sys.argv[1:]); "
        "assert rc == 0, rc; assert 'iree.compiler' not in sys.modules; "
        "assert 'hlodiff.lowering' not in sys.modules"
    )
    done = cli(*args, program=[sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr


def test_installed_script(cli, grad_export):
    script = shutil.which("hlodiff", path=os.path.dirname(sys.executable))
    script = script or shutil.which("hlodiff")
    if script is None:
        pytest.skip("the hlodiff console script is not on PATH")
    done = cli("inspect", "loss_grad", "--lines", "0", program=[script])
    assert done.returncode == 0, done.stderr
    assert "loss_grad(params=" in done.stdout
    done = cli("run", "nowhere", program=[script])
    assert done.returncode == 2 and done.stderr.startswith("hlodiff run: error: no export")


def test_debug_shows_the_traceback(cli):
    done = cli("--debug", "compile", "model.py:broken", "--arg", "f32[3]")
    assert done.returncode == 1 and "Traceback (most recent call last)" in done.stderr
    assert "exporting broken failed" in done.stderr


# ---------------------------------------------------------------------------------- bad input

G = ["loss_grad"]
BAD = {
    # usage errors (exit 2): the command line is wrong
    "no-command": ([], 2, "usage: hlodiff"),
    "unknown-command": (["frobnicate"], 2, "hlodiff: error: argument COMMAND: invalid choice"),
    "missing-file": (["compile", "nofile.py:loss"], 2, "no such file: nofile.py"),
    "no-colon": (["compile", "model.py"], 2, "expected PATH.py:FUNC"),
    "no-module": (["compile", "no_such_module:f"], 2, "no module or file named"),
    "unknown-function": (
        ["compile", "model.py:nope"],
        2,
        "model.py has no 'nope' (it defines: loss, scaled, broken)",
    ),
    "bad-spec": (["compile", "model.py:scaled", "--arg", "f32[4,x]"], 2, "bad spec 'f32[4,x]'"),
    "bad-dtype": (["compile", "model.py:scaled", "--arg", "q8[4]"], 2, "unknown dtype 'q8'"),
    "wide-dtype": (["compile", "model.py:scaled", "--arg", "f64[4]"], 2, "add --x64"),
    "bad-json": (["compile", "model.py:loss", "--arg", "{w: 1"], 2, "is not valid JSON"),
    "bad-static": (["compile", "model.py:scaled", "--static", "n"], 2, "expected NAME=VALUE"),
    "unknown-static": (
        ["compile", "model.py:scaled", "--arg", "f32[2]", "--static", "k=1"],
        2,
        "scaled has no parameter 'k'",
    ),
    "missing-arg": (
        ["compile", "model.py:loss", "--arg", PARAMS_SPEC],
        2,
        "loss's parameter 'x' has no value",
    ),
    "extra-arg": (
        [
            "compile",
            "model.py:scaled",
            "--arg",
            "f32[2]",
            "--arg",
            "f32[2]",
            "--static",
            "n=1",
            "--arg",
            "f32[2]",
        ],
        2,
        "takes 3 positional argument",
    ),
    "bad-target": (["compile", "model.py:scaled", "--target", "tpu"], 2, "invalid choice: 'tpu'"),
    "cpu-for-gpu": (
        ["compile", "model.py:scaled", "--target", "cuda", "--cpu", "generic"],
        2,
        "--cpu generic applies to --target cpu only",
    ),
    "no-export": (["run", "nowhere"], 2, "no export directory nowhere"),
    "not-an-export": (["inspect", "."], 2, "is not an hlodiff export"),
    "missing-input": (["run", *G, "--input", "absent.npy"], 2, "no such input file: absent.npy"),
    "npy-output": (
        ["run", *G, *_inputs(GRAD_INPUTS), "--output", "g.npy"],
        2,
        "has 3 outputs; save them to a .npz",
    ),
    # runtime errors (exit 1): well formed, but failed
    "user-error": (
        ["compile", "model.py:broken", "--arg", "f32[3]"],
        1,
        "exporting broken failed: TypeError",
    ),
    "grad-of-vector": (
        ["compile", "model.py:scaled", "--arg", "f32[3]", "--static", "n=2", "--grad"],
        1,
        "exporting scaled_grad failed",
    ),
    "input-count": (["run", *G, "--input", "x.npy"], 1, "takes 5 input array(s)"),
    "input-shape": (
        [
            "run",
            *G,
            *_inputs(GRAD_INPUTS[:3]),
            "--input",
            "params_w1.npy",
            "--input",
            "y.npy",
        ],
        1,
        "input 3 ('x') of loss_grad has shape f32[6,5], expected f32[4,6]",
    ),
    "input-dtype": (
        [
            "run",
            *G,
            *_inputs(GRAD_INPUTS[:3]),
            "--input",
            "x64.npy",
            "--input",
            "y.npy",
        ],
        1,
        "has dtype f64[4,6], expected f32[4,6]",
    ),
    "absent-device": (
        ["run", *G, *_inputs(GRAD_INPUTS), "--device", "cuda:7"],
        1,
        "No cuda device 'cuda:7' is present",
    ),
}


@pytest.fixture(scope="module")
def bad_results(cli, grad_export):
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(cli, *args) for name, (args, _, _) in BAD.items()}
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input(bad_results, case):
    _, code, message = BAD[case]
    done = bad_results[case]
    first = done.stderr.splitlines()[0] if done.stderr else ""
    assert done.returncode == code, done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    if case != "no-command":
        assert first.startswith("hlodiff") and ": error: " in first, first


def test_version(cli):
    done = cli("--version")
    assert done.returncode == 0 and done.stdout.startswith("hlodiff ") and "iree" in done.stdout


def test_run_reads_npz_keys(cli, grad_export):
    arrays = {f.removesuffix(".npy"): np.load(cli.cwd / f) for f in GRAD_INPUTS}
    np.savez(cli.cwd / "all_inputs.npz", **arrays)
    from_npy = cli("run", "loss_grad", *_inputs(GRAD_INPUTS))
    from_npz = cli("run", "loss_grad", *_inputs([f"all_inputs.npz:{k}" for k in arrays]))
    assert from_npz.returncode == 0, from_npz.stderr
    assert from_npz.stdout == from_npy.stdout
    missing = cli("run", "loss_grad", *_inputs(["all_inputs.npz:nope"] * 5))
    assert missing.returncode == 2 and "has no array 'nope'" in missing.stderr


def test_emit_and_short_out_flag(cli):
    done = cli("compile", "model.py:scaled", "--arg", "f32[4,6]", "--static", "n=2.0",
               "-o", "scaled_mlir", "--emit", "mlir")
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in (cli.cwd / "scaled_mlir").iterdir())
    assert files == ["module.mlir", "signature.json"]


def test_failed_export_leaves_no_partial_directory(cli):
    done = cli("compile", "model.py:loss", "--arg", "f32[4,6]", "--out", "never_written")
    assert done.returncode != 0
    assert not (cli.cwd / "never_written").exists()
    assert not [p for p in cli.cwd.iterdir() if p.name.startswith(".never_written")]
