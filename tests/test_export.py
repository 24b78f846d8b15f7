"""`hd.export` / `hd.load_exported`: round trips, pytrees, statics, constants, errors, and the
exported `.vmfb` run without hlodiff (iree-run-module, and iree.runtime in a bare subprocess).

Exports are shared per module (each compile costs ~0.3-1 s) and compiled into a temporary
HLODIFF_CACHE_DIR.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff.export import (
    Exported,
    export,
    load_exported,
    tree_from_json,
    tree_leaf_names,
    tree_to_json,
)
from hlodiff.tree_util import register_pytree_node, tree_flatten, tree_structure

pytestmark = pytest.mark.cpu

Point = collections.namedtuple("Point", "x y")
BIG = np.linspace(-1.0, 1.0, 640 * 512, dtype=np.float32).reshape(640, 512)  # 1.25 MiB


def mlp_loss(params, x, y):
    h = hnp.tanh(x @ params["w1"] + params["b1"])
    logits = h @ params["w2"] + params["b2"]
    logp = logits - hnp.log(hnp.sum(hnp.exp(logits), axis=1, keepdims=True))
    return -hnp.mean(hnp.sum(logp * hnp.eye(4)[y], axis=1))


def tree_fun(p, scale, pair, n):
    """Pytrees in and out, a static `n`, a constant above the const-arg threshold."""
    a, b = pair
    features = p.x @ BIG[:3, :8]
    return {
        "sum": hnp.sum(hnp.tanh(features)) * scale + hnp.sum(BIG) * 0.0,
        "pt": Point(p.y * n, None),
        "list": [a + b[0], b[1] - 1],
    }


def _mlp_params(rng):
    return {
        "w1": rng.normal(size=(8, 16)).astype(np.float32) * 0.3,
        "b1": np.zeros(16, np.float32),
        "w2": rng.normal(size=(16, 4)).astype(np.float32) * 0.3,
        "b2": np.full(4, 0.1, np.float32),
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HLODIFF_CACHE_DIR", str(path / "cache"))
        yield path


@pytest.fixture(scope="module")
def mlp(workdir):
    rng = np.random.default_rng(0)
    params = _mlp_params(rng)
    x = rng.normal(size=(5, 8)).astype(np.float32)
    y = rng.integers(0, 4, 5).astype(np.int32)
    spec = {k: hd.ShapeDtypeStruct(v.shape, v.dtype) for k, v in params.items()}
    exp = export(hd.grad(mlp_loss), spec, hd.ShapeDtypeStruct((5, 8), "float32"), y)
    directory = exp.save(workdir / "mlp_grad")
    return exp, directory, (params, x, y)


@pytest.fixture(scope="module")
def tree(workdir):
    p = Point(hd.ShapeDtypeStruct((2, 3), "float32"), np.zeros(4, np.int32))
    pair = (np.float32(0), [np.ones(2, np.float32), hd.ShapeDtypeStruct((2,), "float32")])
    exp = export(tree_fun, p, 2.0, pair, 3, static_argnums=(3,), name="treeish", cpu="generic")
    return exp, exp.save(workdir / "tree")


def _tree_args():
    p = Point(np.arange(6, dtype=np.float32).reshape(2, 3) / 6, np.arange(4, dtype=np.int32))
    return p, 0.5, (np.float32(2), [np.ones(2, np.float32), np.full(2, 3.0, np.float32)])


def _assert_trees_close(got, want, **tol):
    got_leaves, got_tree = tree_flatten(got)
    want_leaves, want_tree = tree_flatten(want)
    assert tree_to_json(got_tree) == tree_to_json(want_tree)
    for g, w in zip(got_leaves, want_leaves):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), **tol)


# --------------------------------------------------------------------------------- round trips


def test_public_api():
    assert hd.export is export and hd.load_exported is load_exported


def test_mlp_grad_round_trip(mlp):
    exp, directory, args = mlp
    want = hd.grad(mlp_loss)(*args)
    _assert_trees_close(load_exported(directory)(*args), want, rtol=1e-5, atol=1e-6)
    _assert_trees_close(exp(*args), want, rtol=1e-5, atol=1e-6)  # in memory, unsaved


def test_saved_files_match(mlp):
    exp, directory, _ = mlp
    assert sorted(p.name for p in directory.iterdir()) == [
        "module.mlir",
        "module.vmfb",
        "signature.json",
    ]
    assert (directory / "module.mlir").read_text() == exp.mlir_text
    assert (directory / "module.vmfb").read_bytes() == exp.vmfb
    assert json.loads((directory / "signature.json").read_text()) == exp.signature
    assert isinstance(exp, Exported) and set(exp.timings) == {"trace_s", "lower_s", "compile_s"}


def test_signature_contents(mlp):
    sig = mlp[0].signature
    assert sig["format"] == "hlodiff-export" and sig["format_version"] == 1
    assert (sig["entry"], sig["target"], sig["driver"], sig["cpu"]) == (
        "main",
        "cpu",
        "local-sync",
        "host",
    )
    assert sig["name"] == "mlp_loss" and sig["hlodiff_version"] == hd.__version__
    assert sig["iree_compiler_version"].startswith("3.") and sig["host_cpu"]
    assert sig["arg_names"] == ["params", "x", "y"]
    assert [(s["name"], s["shape"], s["dtype"]) for s in sig["inputs"]] == [
        ("params/b1", [16], "float32"),
        ("params/b2", [4], "float32"),
        ("params/w1", [8, 16], "float32"),
        ("params/w2", [16, 4], "float32"),
        ("x", [5, 8], "float32"),
        ("y", [5], "int32"),
    ]
    assert [s["name"] for s in sig["outputs"]] == ["b1", "b2", "w1", "w2"]
    params_tree = {"node": "dict", "keys": ["b1", "b2", "w1", "w2"], "children": ["*"] * 4}
    assert sig["in_tree"] == {"node": "tuple", "children": [params_tree, "*", "*"]}
    assert sig["out_tree"] == params_tree
    assert "--iree-llvmcpu-target-cpu=host" in sig["compile_flags"]


def test_pytrees_statics_and_scalars(tree):
    exp, directory = tree
    args = _tree_args()
    got = load_exported(directory)(*args)
    want = tree_fun(*args, 3)
    # namedtuples come back as a namedtuple of the same name and fields, lists as lists
    assert type(got["pt"]).__name__ == "Point" and got["pt"]._fields == ("x", "y")
    assert got["pt"].y is None and isinstance(got["list"], list)
    _assert_trees_close(tuple(got["pt"]), tuple(want["pt"]))
    _assert_trees_close([got["sum"], got["list"]], [want["sum"], want["list"]], rtol=1e-6)
    sig = exp.signature
    assert sig["static_args"] == [{"position": 3, "name": "n", "value": "3"}]
    assert sig["arg_names"] == ["p", "scale", "pair"]
    assert [s["name"] for s in sig["inputs"]] == [
        "p/x",
        "p/y",
        "scale",
        "pair/0",
        "pair/1/0",
        "pair/1/1",
    ]
    assert sig["inputs"][2] == {"name": "scale", "shape": [], "dtype": "float32"}


def test_generic_cpu_is_recorded(tree):
    sig = tree[0].signature
    assert sig["cpu"] == "generic" and "host_cpu" not in sig
    assert sig["compile_flags"][-1] == "--iree-llvmcpu-target-cpu=generic"


def test_large_constants_are_inlined(tree):
    from hlodiff.lowering import DEFAULT_CONST_ARG_BYTES, lower_jaxpr

    assert BIG.nbytes > DEFAULT_CONST_ARG_BYTES
    jaxpr = hd.make_jaxpr(tree_fun, static_argnums=3)(*_tree_args(), 3)
    assert lower_jaxpr(jaxpr).const_args, "jit would pass BIG as a leading parameter"
    exp = tree[0]
    header = next(line for line in exp.mlir_text.splitlines() if "@main(" in line)
    assert header.split("->")[0].count("%arg") == len(exp.signature["inputs"]) == 6


def test_python_float64_and_array_inputs_are_accepted(mlp):
    _, directory, (params, x, y) = mlp
    f = load_exported(directory)
    as64 = {k: v.astype(np.float64) for k, v in params.items()}  # cast like jit with x64 off
    wrapped = {k: hnp.asarray(v) for k, v in params.items()}  # hlodiff Arrays
    _assert_trees_close(f(as64, x, y), f(wrapped, x, y), rtol=1e-6)


# ------------------------------------------------------------------------------ tree JSON form


@pytest.mark.parametrize(
    "value",
    [
        (1, [2, None], {"b": 3, "a": (4,)}),
        Point(1, {"k": [2, 3]}),
        collections.OrderedDict([("z", 1), ("a", 2)]),
        {1: "x", 2: None},
        7,
    ],
    ids=["nested", "namedtuple", "ordereddict", "int-keys", "leaf"],
)
def test_tree_json_round_trip(value):
    leaves, treedef = tree_flatten(value)
    form = json.loads(json.dumps(tree_to_json(treedef)))
    rebuilt = tree_from_json(form, leaves)
    assert rebuilt == value
    assert tree_to_json(tree_structure(rebuilt)) == form


class _Box:
    def __init__(self, a, b):
        self.a, self.b = a, b


register_pytree_node(_Box, lambda x: ((x.a, x.b), None), lambda _, cs: _Box(*cs))


def test_custom_nodes_are_named_and_rebuilt_as_tuples():
    leaves, treedef = tree_flatten(_Box(1, [2]))
    form = tree_to_json(treedef)
    assert form["node"] == "custom" and form["name"].endswith("test_export._Box")
    assert tree_from_json(form, leaves) == (1, [2])
    assert tree_leaf_names(form) == ["0", "1/0"]


def test_unwritable_dict_keys_are_refused():
    with pytest.raises(TypeError, match="cannot be recorded in signature.json"):
        tree_to_json(tree_structure({(1, 2): 3}))


# ------------------------------------------------------------------------------------- errors


def test_call_errors_name_the_input(mlp):
    _, directory, (params, x, y) = mlp
    f = load_exported(directory)
    with pytest.raises(ValueError, match=r"input 4 \('x'\).*shape f32\[4,8\], expected f32\[5,8\]"):
        f(params, x[:4], y)
    with pytest.raises(TypeError, match=r"'y'.*dtype f32\[5\], expected i32\[5\].*astype"):
        f(params, x, y.astype(np.float32))
    with pytest.raises(TypeError, match=r"structured as \(\{'b1': \*.*called with"):
        f({"w1": params["w1"]}, x, y)
    with pytest.raises(TypeError, match=r"takes 3 argument\(s\).*but 2 were given"):
        f(params, x)


def test_statics_are_baked_in(tree):
    with pytest.raises(TypeError, match=r"baked in: n=3"):
        load_exported(tree[1])(*_tree_args(), 3)


def test_python_scalar_must_fit(tree):
    p, _, pair = _tree_args()
    with pytest.raises(TypeError, match="Python complex"):
        load_exported(tree[1])(p, 1j, pair)


def test_export_argument_errors():
    spec = hd.ShapeDtypeStruct((3,), "float32")
    with pytest.raises(ValueError, match="unknown export target 'tpu'"):
        export(lambda x: x, spec, target="tpu")
    with pytest.raises(ValueError, match="cpu='generic' applies to target 'cpu' only"):
        export(lambda x: x, spec, target="vulkan", cpu="generic")
    with pytest.raises(ValueError, match="static_argnums has 2"):
        export(lambda x, n: x, spec, 1, static_argnums=2)
    with pytest.raises(TypeError, match="not an array, a ShapeDtypeStruct"):
        export(lambda x, s: x, spec, "relu")


def test_load_errors(tmp_path, mlp):
    with pytest.raises(FileNotFoundError, match="no export directory"):
        load_exported(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="signature.json is missing"):
        load_exported(tmp_path)
    (tmp_path / "signature.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not an hlodiff export signature"):
        load_exported(tmp_path)
    sig = dict(mlp[0].signature, format_version=99)
    (tmp_path / "signature.json").write_text(json.dumps(sig))
    with pytest.raises(ValueError, match="format_version 99.*upgrade"):
        load_exported(tmp_path)


def test_device_of_another_platform_is_refused(mlp):
    from hlodiff import runtime

    if not runtime.devices("vulkan"):
        pytest.skip("no Vulkan device")
    with pytest.raises(ValueError, match="exported for cpu, not vulkan"):
        load_exported(mlp[1], device="vulkan")


# ------------------------------------------------------------------- running without hlodiff


def _iree_run_module() -> str:
    found = shutil.which("iree-run-module", path=os.path.dirname(sys.executable))
    found = found or shutil.which("iree-run-module")
    if not found:
        pytest.skip("iree-run-module is not installed")
    return found


def _save_inputs(directory: Path, args) -> list[Path]:
    leaves, _ = tree_flatten(args)
    paths = []
    for i, leaf in enumerate(leaves):
        paths.append(directory / f"in{i}.npy")
        np.save(paths[-1], np.asarray(leaf))
    return paths


def test_iree_run_module_matches_in_process(mlp, tmp_path):
    _, directory, args = mlp
    inputs = _save_inputs(tmp_path, args)
    outputs = [tmp_path / f"out{i}.npy" for i in range(4)]
    cmd = [
        _iree_run_module(),
        f"--module={directory / 'module.vmfb'}",
        "--device=local-sync",
        "--function=main",
        *[f"--input=@{p}" for p in inputs],
        *[f"--output=@{p}" for p in outputs],
    ]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    want, _ = tree_flatten(load_exported(directory)(*args))
    for path, w in zip(outputs, want):
        np.testing.assert_array_equal(np.load(path), np.asarray(w))


_BARE_RUNNER = textwrap.dedent("""
    import json, sys
    sys.modules["hlodiff"] = None  # poisoned: any import of hlodiff fails
    import numpy as np
    import iree.runtime as ireert

    directory, inputs, result = sys.argv[1], sys.argv[2:-1], sys.argv[-1]
    sig = json.load(open(f"{directory}/signature.json"))
    module = ireert.load_vm_flatbuffer(open(f"{directory}/module.vmfb", "rb").read(),
                                       driver=sig["driver"])
    arrays = [np.load(p) for p in inputs]
    for a, spec in zip(arrays, sig["inputs"]):
        assert list(a.shape) == spec["shape"] and a.dtype.name == spec["dtype"], spec
    outs = getattr(module, sig["entry"])(*arrays)
    outs = outs if isinstance(outs, tuple) else (outs,)
    np.savez(result, **{s["name"]: o.to_host() for s, o in zip(sig["outputs"], outs)})
    assert not any(m == "hlodiff" or m.startswith("hlodiff.") for m in sys.modules
                   if sys.modules[m] is not None)
""")


def test_vmfb_runs_with_iree_runtime_alone(mlp, tmp_path):
    _, directory, args = mlp
    script = tmp_path / "bare.py"
    script.write_text(_BARE_RUNNER)
    inputs = _save_inputs(tmp_path, args)
    result = tmp_path / "result.npz"
    done = subprocess.run(
        [sys.executable, str(script), str(directory), *map(str, inputs), str(result)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    got = np.load(result)
    want = load_exported(directory)(*args)
    for name, w in want.items():
        np.testing.assert_array_equal(got[name], np.asarray(w))


@pytest.mark.parametrize("target", ["vulkan", "cuda"])
def test_cross_compile(target, workdir):
    """Compiling needs no device; running does (the test runs it where the device is present)."""
    from hlodiff import runtime

    exp = export(lambda x: hnp.sin(x) * 2.0, hd.ShapeDtypeStruct((3,), "float32"), target=target)
    sig = exp.signature
    assert (sig["target"], sig["driver"]) == (target, target) and "cpu" not in sig
    assert f"--iree-hal-target-device={target}" in sig["compile_flags"] and exp.vmfb
    directory = exp.save(workdir / f"sin_{target}")
    x = np.linspace(0, 1, 3, dtype=np.float32)
    if not runtime.devices(target):
        with pytest.raises(runtime.DeviceNotFoundError, match=f"No {target} device"):
            load_exported(directory)
        return
    np.testing.assert_allclose(np.asarray(load_exported(directory)(x)), np.sin(x) * 2, rtol=1e-6)
