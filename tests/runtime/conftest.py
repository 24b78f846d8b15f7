"""Shared setup for the runtime tests: the package under test, devices, and small modules.

`runtime/` must work without the rest of hlodiff, so when `hlodiff.runtime` cannot be
imported (hlodiff half-written, not installed) the folder is loaded by path as
`hlodiff_runtime_standalone`. Tests reach it through the `rt` fixture and submodules through
`rt_sub("cache")`. Compiles go to a session-wide temporary cache, so each module is compiled
once per platform for the whole run.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"
STANDALONE_NAME = "hlodiff_runtime_standalone"


def _load_runtime():
    try:
        import hlodiff.runtime as rt
    except Exception:  # noqa: BLE001 -- hlodiff missing or half-written: test the folder alone
        return _load_standalone()
    return rt


def _load_standalone():
    if STANDALONE_NAME in sys.modules:
        return sys.modules[STANDALONE_NAME]
    spec = importlib.util.spec_from_file_location(
        STANDALONE_NAME, RUNTIME_DIR / "__init__.py", submodule_search_locations=[str(RUNTIME_DIR)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[STANDALONE_NAME] = module
    spec.loader.exec_module(module)
    return module


RT = _load_runtime()


def pytest_configure(config):
    for line in (
        "cpu: runs compiled code on the IREE CPU device",
        "vulkan: needs a Vulkan device (lavapipe in CI)",
        "cuda: needs a CUDA device",
    ):
        config.addinivalue_line("markers", line)


@pytest.fixture(scope="session")
def rt():
    return RT


@pytest.fixture(scope="session")
def rt_sub():
    """`rt_sub("cache")` is the runtime's `cache` submodule (whatever the package is named)."""
    return lambda name: importlib.import_module(f"{RT.__name__}.{name}")


@pytest.fixture
def compiler_calls(rt_sub, monkeypatch):
    """Counts the real compiler invocations."""
    compile_mod = rt_sub("compile")
    calls = []
    real = compile_mod._run_compiler

    def counting(text, flags, source_name):
        calls.append(flags)
        return real(text, flags, source_name)

    monkeypatch.setattr(compile_mod, "_run_compiler", counting)
    return calls


_CLEARED_ENV = (
    "HLODIFF_DUMP_DIR",
    "HLODIFF_PLATFORM",
    "HLODIFF_CPU_DRIVER",
    "HLODIFF_VULKAN_TARGET",
    "HLODIFF_CUDA_TARGET",
)


@pytest.fixture(scope="session", autouse=True)
def session_cache_dir(tmp_path_factory):
    """Every test compiles into one temporary cache (never the user's ~/.cache/hlodiff)."""
    path = tmp_path_factory.mktemp("hlodiff-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HLODIFF_CACHE_DIR", str(path))
        for name in _CLEARED_ENV:
            mp.delenv(name, raising=False)
        yield path


_HOW_TO_GET = {"vulkan": "ci/install_vulkan.sh installs Mesa lavapipe",
               "cuda": "needs an NVIDIA GPU and its driver"}


def _present_or_skip(platform: str):
    found = RT.devices(platform)
    if not found:
        reason = importlib.import_module(f"{RT.__name__}.devices")._probes[platform]["error"]
        pytest.skip(f"no {platform} device ({reason}); {_HOW_TO_GET[platform]}")
    return found[0]


@pytest.fixture(scope="session")
def vulkan_device():
    return _present_or_skip("vulkan")


DEVICE_PARAMS = [
    pytest.param("cpu", marks=pytest.mark.cpu, id="cpu-local-sync"),
    pytest.param("cpu:local-task", marks=pytest.mark.cpu, id="cpu-local-task"),
    pytest.param("vulkan", marks=pytest.mark.vulkan, id="vulkan"),
    pytest.param("cuda", marks=pytest.mark.cuda, id="cuda"),
]


@pytest.fixture(scope="module", params=DEVICE_PARAMS)
def device(request):
    """Each device kind in turn: CPU with both drivers, then Vulkan and CUDA (skipped when
    absent)."""
    if request.param in _HOW_TO_GET:
        return _present_or_skip(request.param)
    platform, _, driver = request.param.partition(":")
    return RT.get_device(platform, driver=driver or None)


@pytest.fixture(scope="session")
def build():
    """`build(mlir_text, device)` compiles (once per platform, via the cache) and loads."""

    def build_for(text: str, device):
        return RT.load(RT.compile_module(text, device), device)

    return build_for


ADD_F32 = """
func.func @main(%a: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<3xf32> {
  %0 = stablehlo.add %a, %b : tensor<3xf32>
  return %0 : tensor<3xf32>
}
"""


@pytest.fixture(scope="session")
def add_f32():
    return ADD_F32
