"""Compile-and-run tests: hand-written StableHLO on CPU (local-sync, local-task) and Vulkan.

Every module is compiled once per platform (session cache) and run on each device kind.
Values are checked against numpy, bit-exactly where the math is exact.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

DOT = """
func.func @main(%a: tensor<2x3xf32>, %b: tensor<3x2xf32>) -> tensor<2x2xf32> {
  %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0]
       : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}
"""

SCALAR = """
func.func @main(%x: tensor<f32>) -> (tensor<f32>, tensor<i1>) {
  %0 = stablehlo.multiply %x, %x : tensor<f32>
  %1 = stablehlo.compare GT, %x, %0 : (tensor<f32>, tensor<f32>) -> tensor<i1>
  return %0, %1 : tensor<f32>, tensor<i1>
}
"""

EMPTY = """
func.func @main(%x: tensor<2x0xf32>) -> tensor<2x0xf32> {
  %0 = stablehlo.add %x, %x : tensor<2x0xf32>
  return %0 : tensor<2x0xf32>
}
"""

# (MLIR element type, numpy dtype, op applied as `op(x, x)`, sample values)
ZOO = [
    ("i1", np.bool_, "xor", [True, False, True]),
    ("i8", np.int8, "add", [-100, 3, 60]),
    ("ui8", np.uint8, "add", [200, 3, 100]),
    ("i16", np.int16, "add", [-3, 7, 1000]),
    ("ui16", np.uint16, "add", [60000, 1, 2]),
    ("i32", np.int32, "add", [-7, 2**30, 5]),
    ("ui32", np.uint32, "add", [2**31 + 5, 1, 2]),
    ("i64", np.int64, "add", [2**40 + 1, -(2**50), 3]),
    ("ui64", np.uint64, "add", [2**63 + 7, 1, 2]),
    ("f16", np.float16, "multiply", [1.5, -2.0, 0.25]),
    ("bf16", ml_dtypes.bfloat16, "multiply", [1.5, -2.0, 0.25]),
    ("f32", np.float32, "multiply", [1.5, -2.0, 3.0]),  # (denormal results flush to 0, as in XLA)
    ("f64", np.float64, "multiply", [1e-150, -2.0, 1.0 + 2**-40]),  # f32 would flush/round
    ("complex<f32>", np.complex64, "multiply", [1 + 2j, -3j, 0.5]),
    ("complex<f64>", np.complex128, "multiply", [1e-150 + 1j, -3j, 0.5]),
]


def _zoo_module() -> str:
    args = ", ".join(f"%a{i}: tensor<3x{ty}>" for i, (ty, *_rest) in enumerate(ZOO))
    results = ", ".join(f"tensor<3x{ty}>" for ty, *_rest in ZOO)
    body = "\n".join(
        f"  %r{i} = stablehlo.{op} %a{i}, %a{i} : tensor<3x{ty}>"
        for i, (ty, _dt, op, _v) in enumerate(ZOO)
    )
    names = ", ".join(f"%r{i}" for i in range(len(ZOO)))
    return f"func.func @main({args}) -> ({results}) {{\n{body}\n  return {names} : {results}\n}}"


def _numpy_op(op, x):
    return {"xor": np.logical_xor, "add": np.add, "multiply": np.multiply}[op](x, x)


def test_add(build, device, add_f32):
    a, b = np.array([1, 2, 3], np.float32), np.array([10, 20, 30], np.float32)
    (out,) = build(add_f32, device)(a, b)
    assert out.shape == (3,) and out.dtype == np.float32 and out.device is device
    np.testing.assert_array_equal(out.to_host(), a + b)
    assert repr(out) == f"DeviceBuffer(float32[3], {device!r})"


def test_dot(build, device):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.arange(6, dtype=np.float32).reshape(3, 2) - 2
    (out,) = build(DOT, device)(a, b)
    np.testing.assert_array_equal(out.to_host(), a @ b)


def test_zero_d_and_multiple_results(build, device):
    square, greater = build(SCALAR, device)(np.float32(0.5))
    assert square.shape == () and greater.dtype == np.bool_
    assert square.to_host()[()] == np.float32(0.25) and greater.to_host()[()]
    square, greater = build(SCALAR, device)(3.0)  # a Python float takes the declared f32
    assert square.to_host()[()] == 9.0 and not greater.to_host()[()]


def test_zero_size(build, device):
    (out,) = build(EMPTY, device)(np.zeros((2, 0), np.float32))
    assert out.shape == (2, 0) and out.to_host().shape == (2, 0)


def test_every_dtype_round_trips(build, device):
    inputs = [np.array(values, dtype) for _ty, dtype, _op, values in ZOO]
    outputs = build(_zoo_module(), device)(*inputs)
    for (ty, dtype, op, _v), x, out in zip(ZOO, inputs, outputs):
        host = out.to_host()
        assert host.dtype == np.dtype(dtype), ty
        np.testing.assert_array_equal(host, _numpy_op(op, x), err_msg=ty)


def test_staged_downloads_reuse_pinned_buffers(rt, rt_sub, build, device):
    """The GPU download path (pooled staging buffers), run here on whatever device is present:
    every dtype and size comes back intact, and a second download of the same size class
    reuses the staging buffer."""
    buffers = rt_sub("buffers")
    staged = buffers._StagedDownloads(device)
    inputs = [np.array(values, dtype) for _ty, dtype, _op, values in ZOO]
    outputs = build(_zoo_module(), device)(*inputs)
    for (ty, dtype, op, _v), x, out in zip(ZOO, inputs, outputs):
        host = staged.download(out.buffer_view)
        assert host.dtype == np.dtype(dtype), ty
        np.testing.assert_array_equal(host, _numpy_op(op, x), err_msg=ty)
    big = rt.DeviceBuffer.from_host(np.arange(5000, dtype=np.float32), device)
    np.testing.assert_array_equal(staged.download(big.buffer_view), np.arange(5000))
    pooled = {size: [id(b) for b, _ in pool] for size, pool in staged.free.items()}
    np.testing.assert_array_equal(staged.download(big.buffer_view), np.arange(5000))
    assert {size: [id(b) for b, _ in pool] for size, pool in staged.free.items()} == pooled


COMPLEX_PARTS = """
func.func @main(%z: tensor<2xcomplex<f64>>)
    -> (tensor<2xf64>, tensor<2xf64>, tensor<2xcomplex<f64>>) {
  %re = stablehlo.real %z : (tensor<2xcomplex<f64>>) -> tensor<2xf64>
  %im = stablehlo.imag %z : (tensor<2xcomplex<f64>>) -> tensor<2xf64>
  %w = stablehlo.complex %im, %re : tensor<2xcomplex<f64>>
  return %re, %im, %w : tensor<2xf64>, tensor<2xf64>, tensor<2xcomplex<f64>>
}
"""


def test_complex_crosses_the_abi(build, device):
    z = np.array([1 + 2j, -3.5 + 0.25j])
    re, im, w = (out.to_host() for out in build(COMPLEX_PARTS, device)(z))
    np.testing.assert_array_equal(re, z.real)
    np.testing.assert_array_equal(im, z.imag)
    np.testing.assert_array_equal(w, z.imag + 1j * z.real)


def test_outputs_feed_inputs_without_host_trip(rt, build, device, add_f32):
    fn = build(add_f32, device).function("main")
    x = rt.DeviceBuffer.from_host(np.ones(3, np.float32), device)
    (y,) = fn(x, x)
    (z,) = fn(y, [1.0, 2.0, 3.0])  # a list takes the declared dtype
    np.testing.assert_array_equal(z.to_host(), [3, 4, 5])


def test_to_host_is_cached_and_read_only(build, device, add_f32):
    (out,) = build(add_f32, device)(np.ones(3, np.float32), np.ones(3, np.float32))
    host = out.to_host()
    assert out.to_host() is host
    assert not host.flags.writeable
    np.testing.assert_array_equal(np.asarray(out), host)


def test_argument_errors_name_the_signature(build, device, add_f32):
    fn = build(add_f32, device).function()
    good = np.ones(3, np.float32)
    with pytest.raises(TypeError, match=r"argument 1 has dtype int32, expected f32\[3\]"):
        fn(good, np.ones(3, np.int32))
    with pytest.raises(ValueError, match=r"argument 0 has shape \(4,\), expected f32\[3\]"):
        fn(np.ones(4, np.float32), good)
    with pytest.raises(TypeError, match="takes 2 arguments"):
        fn(good)
    assert str(fn.signature) == "(f32[3], f32[3]) -> (f32[3])"


def test_unknown_function_name(build, device, add_f32):
    with pytest.raises(KeyError, match="exports: main"):
        build(add_f32, device).function("nope")


@pytest.mark.vulkan
def test_vulkan_module_does_not_load_on_cpu(rt, vulkan_device, add_f32):
    vmfb = rt.compile_module(add_f32, vulkan_device)
    x = np.ones(3, np.float32)
    with pytest.raises(RuntimeError, match="compiled for another platform"):
        rt.load(vmfb, "cpu")(x, x)


TEARDOWN_SCRIPT = """
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location(
    "rt_teardown", {init!r}, submodule_search_locations=[{folder!r}])
rt = importlib.util.module_from_spec(spec); sys.modules["rt_teardown"] = rt
spec.loader.exec_module(rt)
device = rt.get_device({platform!r}, driver={driver!r})
exe = rt.load(rt.compile_module({text!r}, device), device)
held = exe(np.ones(3, np.float32), np.ones(3, np.float32))
host = held[0].to_host()
more = exe(held[0], held[0])
print("done")
"""


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("cpu:local-task", marks=pytest.mark.cpu),
        pytest.param("vulkan", marks=pytest.mark.vulkan),
    ],
)
def test_buffers_alive_at_exit_do_not_crash(request, rt_sub, add_f32, spec):
    """IREE 3.13 segfaults freeing async-driver buffers during interpreter teardown."""
    platform, _, driver = spec.partition(":")
    if platform == "vulkan":
        request.getfixturevalue("vulkan_device")  # skips when there is none
    folder = Path(rt_sub("devices").__file__).parent
    script = TEARDOWN_SCRIPT.format(
        init=str(folder / "__init__.py"),
        folder=str(folder),
        platform=platform,
        driver=driver or None,
        text=add_f32,
    )
    command = [sys.executable, "-c", textwrap.dedent(script)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "done"
    assert done.stderr.strip() == ""
