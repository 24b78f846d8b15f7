"""Devices: what is present, how to pick one, and the IREE objects behind each.

`devices()` lists present devices: the CPU always; Vulkan and CUDA devices when their IREE
driver can actually create one. Vulkan/CUDA are probed lazily, once per process, in a
subprocess (`_probe.py`), because a broken driver stack can hang or abort the prober.

A `Device` is a process-wide singleton per (platform, id, driver) that owns its IREE
`HalDevice` and HAL module (created on first use). Pick one with `get_device("vulkan")`,
`get_device("cpu:0")`, `get_device(None)` (reads `HLODIFF_PLATFORM`, default `cpu`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from .targets import PLATFORMS, default_cpu_driver, platform_spec

PROBE_TIMEOUT_S = 60
_CLASS_NAMES = {"cpu": "CpuDevice", "vulkan": "VulkanDevice", "cuda": "CudaDevice"}
_CPU_BACKED_VULKAN = ("llvmpipe", "lavapipe", "swiftshader")


class DeviceNotFoundError(RuntimeError):
    """The requested platform or device is unknown or not present on this machine."""


class Device:
    """One IREE device: `platform` ('cpu'|'vulkan'|'cuda'), `id`, `driver` and `name`."""

    def __init__(self, platform: str, id: int, driver: str, info: dict | None = None):
        self.platform = platform
        self.id = id
        self.driver = driver
        self.info = info or {}
        self.name = self.info.get("name") or platform
        self._hal_device = None
        self._hal_module = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"{_CLASS_NAMES[self.platform]}(id={self.id})"

    @property
    def device_kind(self) -> str:
        return self.name

    @property
    def cpu_backed(self) -> bool:
        """True when device memory is host memory (CPU drivers, lavapipe/SwiftShader)."""
        lowered = self.name.lower()
        return self.platform == "cpu" or any(key in lowered for key in _CPU_BACKED_VULKAN)

    @property
    def hal_device(self):
        """The `iree.runtime.HalDevice`, created on first use."""
        if self._hal_device is None:
            with self._lock:
                if self._hal_device is None:
                    self._hal_device = _create_hal_device(self)
        return self._hal_device

    @property
    def hal_module(self):
        """The HAL `VmModule` for this device, shared by every executable loaded on it."""
        if self._hal_module is None:
            import iree.runtime as rt

            with self._lock:
                if self._hal_module is None:
                    self._hal_module = rt.create_hal_module(vm_instance(), self.hal_device)
        return self._hal_module


def _create_hal_device(device: Device):
    import iree.runtime as rt

    try:
        driver = rt.get_driver(device.driver)
        if device.info.get("device_id") is not None:
            return driver.create_device(device.info)
        return driver.create_default_device()
    except Exception as e:
        raise DeviceNotFoundError(
            f"IREE driver {device.driver!r} could not create {device!r} ({device.name}): {e}"
        ) from e


_instance = None
_instance_lock = threading.Lock()


def vm_instance():
    """The process-wide `iree.runtime.VmInstance`."""
    global _instance
    with _instance_lock:
        if _instance is None:
            import iree.runtime as rt

            _instance = rt.VmInstance()
    return _instance


# ----------------------------------------------------------------------------- discovery

_probes: dict[str, dict] = {}
_registry: dict[tuple, Device] = {}
_registry_lock = threading.Lock()


def devices(platform: str | None = None, *, driver: str | None = None) -> list[Device]:
    """Present devices of `platform`, or of every platform (CPU first) when it is None.

    Raises:
      DeviceNotFoundError: `platform` is not one of 'cpu', 'vulkan', 'cuda'.
    """
    if platform is None:
        return [d for p in PLATFORMS for d in _present(p)]
    _check_platform_name(platform)
    return _present(platform, driver)


def get_device(platform_or_device=None, *, driver: str | None = None) -> Device:
    """A `Device` from a Device, `"cpu"`, `"vulkan:1"`, or None (`HLODIFF_PLATFORM`, else cpu).

    Raises:
      DeviceNotFoundError: the platform is unknown or has no such device here; the message
        lists the devices that are present and how to select one.
    """
    if isinstance(platform_or_device, Device):
        return platform_or_device
    spec = platform_or_device or os.environ.get("HLODIFF_PLATFORM") or "cpu"
    platform, _, index = str(spec).strip().lower().partition(":")
    _check_platform_name(platform, spec)
    found = _present(platform, driver)
    wanted = int(index) if index.isdigit() else 0
    if wanted >= len(found):
        raise DeviceNotFoundError(_absent_message(platform, spec))
    return found[wanted]


def present_device_names(platform: str) -> list[str]:
    return [d.name for d in _present(platform)]


def _check_platform_name(platform: str, spec=None) -> None:
    if platform not in PLATFORMS:
        raise DeviceNotFoundError(f"Unknown platform {spec or platform!r}. " + _selection_hint())


def _present(platform: str, driver: str | None = None) -> list[Device]:
    if platform == "cpu":
        drv = driver or default_cpu_driver()
        _check_driver(platform, drv)
        return [_device("cpu", 0, drv, None)]
    _check_driver(platform, driver or platform)
    report = _probe(platform)
    return [_device(platform, i, platform, info) for i, info in enumerate(report["devices"])]


def _check_driver(platform: str, driver: str) -> None:
    drivers = platform_spec(platform).drivers
    if driver not in drivers:
        raise DeviceNotFoundError(
            f"{platform} has no IREE driver {driver!r}; its drivers are {', '.join(drivers)}."
        )


def _device(platform: str, index: int, driver: str, info) -> Device:
    key = (platform, index, driver)
    with _registry_lock:
        device = _registry.get(key)
        if device is None:
            device = _registry[key] = Device(platform, index, driver, info)
        return device


def _probe(platform: str) -> dict:
    """The driver's report from a subprocess, cached for the life of this process."""
    report = _probes.get(platform)
    if report is None:
        report = _run_probe(platform)
        report["devices"].sort(key=lambda info: _is_cpu_backed_name(info.get("name")))
        _probes[platform] = report
    return report


def _run_probe(platform: str) -> dict:
    script = Path(__file__).with_name("_probe.py")
    try:
        done = subprocess.run(
            [sys.executable, str(script), platform],
            check=False,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    except subprocess.TimeoutExpired:
        return {"devices": [], "error": f"probing the driver hung (> {PROBE_TIMEOUT_S} s)"}
    except OSError as e:
        return {"devices": [], "error": f"could not start the probe: {e}"}
    return _parse_probe(done)


def _parse_probe(done: subprocess.CompletedProcess) -> dict:
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
        if isinstance(report.get("devices"), list):
            return report
    except (IndexError, ValueError, AttributeError):
        pass
    return {"devices": [], "error": f"the driver probe crashed (exit status {done.returncode})"}


def _is_cpu_backed_name(name) -> bool:
    lowered = (name or "").lower()
    return any(key in lowered for key in _CPU_BACKED_VULKAN)


def _absent_message(platform: str, spec) -> str:
    reason = _probes.get(platform, {}).get("error")
    lines = [f"No {platform} device {str(spec)!r} is present on this machine."]
    if reason:
        lines.append(f"IREE's {platform} driver says: {reason}")
    lines.append(_selection_hint())
    return "\n".join(lines)


def _selection_hint() -> str:
    present = ", ".join(f"{d.platform} ({d!r}: {d.name})" for d in devices())
    return (
        f"Present devices: {present}. Select a platform with HLODIFF_PLATFORM=cpu|vulkan|cuda "
        "or pass a device, e.g. get_device('cpu')."
    )
