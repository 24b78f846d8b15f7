"""hlodiff's IREE runtime: StableHLO text in, device buffers out. Knows nothing of hlodiff.

    from hlodiff import runtime as rt
    vmfb = rt.compile_module(mlir_text, "cpu")          # in-process, disk-cached
    exe = rt.load(vmfb, rt.get_device("cpu"))
    (out,) = exe.function("main")(np.ones(3, np.float32))
    out.to_host()                                       # read-only numpy array

Modules: `targets` (device table and flags), `compile` (compiler + errors), `cache` (disk and
memory caches), `devices` (discovery and selection), `buffers` (DeviceBuffer and transfers),
`signature` (function types from IREE reflection), `executable` (load and call).

Environment: HLODIFF_PLATFORM (cpu|vulkan|cuda), HLODIFF_CPU_DRIVER (local-sync|local-task),
HLODIFF_CACHE_DIR, HLODIFF_DUMP_DIR, HLODIFF_VULKAN_TARGET, HLODIFF_CUDA_TARGET.
"""

from .buffers import DeviceBuffer
from .cache import cache_dir
from .compile import CompileError, compile_module
from .devices import Device, DeviceNotFoundError, devices, get_device
from .executable import Executable, Function, load
from .signature import Signature, TensorType
from .targets import Target, target_for

__all__ = [
    "CompileError",
    "Device",
    "DeviceBuffer",
    "DeviceNotFoundError",
    "Executable",
    "Function",
    "Signature",
    "Target",
    "TensorType",
    "cache_dir",
    "compile_module",
    "devices",
    "get_device",
    "load",
    "target_for",
]
