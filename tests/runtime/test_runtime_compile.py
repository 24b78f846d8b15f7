"""compile_module: errors a user can act on, the dump directory, the safe-flag fallback, CUDA."""

from __future__ import annotations

import numpy as np
import pytest

BROKEN = """
func.func @main(%x: tensor<3xf32>) -> tensor<4xf32> {
  %0 = stablehlo.add %x, %x : tensor<3xf32>
  return %0 : tensor<4xf32>
}
"""

# Parses and verifies, but IREE's pipeline has no lowering for it (see DESIGN.md).
UNSUPPORTED = """
func.func @main(%a: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %0 = "stablehlo.cholesky"(%a) {lower = true} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}
"""


def test_compiles_to_vm_bytecode(rt, add_f32):
    vmfb = rt.compile_module(add_f32, "cpu")
    assert isinstance(vmfb, bytes) and len(vmfb) > 1000


def test_broken_module_error_says_target_flags_diagnostics_and_dump(rt):
    with pytest.raises(rt.CompileError) as info:
        rt.compile_module(BROKEN, "cpu")
    error = info.value
    message = str(error)
    assert isinstance(error, RuntimeError)
    assert message.startswith("IREE could not parse the module for target cpu")
    assert "expects different type than prior uses" in message  # IREE's own words
    assert "Flags: " in message and "--iree-hal-target-device=local" in message
    assert "HLODIFF_DUMP_DIR=" in message
    assert "CompilerToolError" not in message
    assert len(message) < 6000
    assert error.flags and error.diagnostics


def test_pipeline_failure_is_a_compile_error(rt):
    with pytest.raises(rt.CompileError, match="could not compile the module") as info:
        rt.compile_module(UNSUPPORTED, "cpu")
    assert "cholesky" in info.value.diagnostics


def test_dump_dir_keeps_module_and_flags(rt, tmp_path, monkeypatch):
    monkeypatch.setenv("HLODIFF_DUMP_DIR", str(tmp_path / "dump"))
    with pytest.raises(rt.CompileError) as info:
        rt.compile_module(BROKEN, "cpu")
    (module,) = (tmp_path / "dump").glob("*.mlir")
    flags = module.with_suffix(".flags").read_text().split()
    assert module.read_text() == BROKEN
    assert "--iree-hal-target-device=local" in flags
    assert f"Reproduce with: iree-compile {module}" in str(info.value)
    assert str(module) in info.value.diagnostics  # locations point at the dumped file


def _matmul(n: int) -> str:
    return f"""
func.func @main(%a: tensor<{n}x{n}xf32>, %b: tensor<{n}x{n}xf32>) -> tensor<{n}x{n}xf32> {{
  %0 = stablehlo.dot %a, %b : (tensor<{n}x{n}xf32>, tensor<{n}x{n}xf32>) -> tensor<{n}x{n}xf32>
  return %0 : tensor<{n}x{n}xf32>
}}
"""


def test_failing_optimized_flags_fall_back_to_safe_flags(rt, compiler_calls):
    good = rt.target_for("cpu")
    broken = good.flags + ("--iree-hal-target-device=nosuchdevice",)
    vmfb = rt.compile_module(_matmul(128), rt.Target("cpu", broken, good.safe_flags), cache=False)
    x = np.eye(128, dtype=np.float32)
    np.testing.assert_array_equal(rt.load(vmfb, "cpu")(x, x)[0].to_host(), x)
    assert compiler_calls == [broken, good.safe_flags]


def test_dumped_flags_are_the_ones_that_compiled(rt, tmp_path, monkeypatch, compiler_calls):
    monkeypatch.setenv("HLODIFF_DUMP_DIR", str(tmp_path))
    good = rt.target_for("cpu")
    broken = good.flags + ("--iree-hal-target-device=nosuchdevice",)
    fallback = rt.Target("cpu", broken, good.safe_flags)
    for text, target in [(_matmul(8), good), (_matmul(128), fallback)]:
        rt.compile_module(text, target, cache=False)
        assert compiler_calls[-1] == good.safe_flags
    for flags_file in tmp_path.glob("*.flags"):
        assert flags_file.read_text().split() == list(good.safe_flags)


@pytest.mark.parametrize("n, optimized", [(8, False), (128, True)])
def test_data_tiling_only_for_matmuls_that_gain(rt, compiler_calls, n, optimized):
    target = rt.target_for("cpu")
    rt.compile_module(_matmul(n), target, cache=False)
    assert compiler_calls == [target.flags if optimized else target.safe_flags]
    assert ("--iree-opt-data-tiling" in compiler_calls[0]) == optimized


def test_cuda_compiles_without_a_gpu(rt, add_f32):
    target = rt.target_for("cuda")
    assert "--iree-cuda-target=sm_80" in target.flags
    vmfb = rt.compile_module(add_f32, "cuda", cache=False)
    assert isinstance(vmfb, bytes) and vmfb


def test_bad_target_type(rt, add_f32):
    with pytest.raises(TypeError, match="compile target"):
        rt.compile_module(add_f32, 42)
