"""The device table: per platform, the IREE drivers that run it and the compile flags beside them.

Each platform has *optimized* flags, chosen by measurement, and *safe* flags that `compile.py`
falls back to when the optimized ones fail to compile a module. Measured with IREE 3.13 on a
2-core x86 VM:

* CPU: `--iree-llvmcpu-target-cpu=host` runs 7x faster than the generic CPU on matmuls;
  `--iree-opt-data-tiling` runs 1024^2 matmuls 3.4x faster (no gain below ~256^2) and costs
  compile time only for modules with contractions (+0.15-0.5 s); `--iree-opt-level=O2/O3`
  gained nothing (O3 was slower). Host targeting puts the CPU identity into the cache key.
* Every platform sets `--iree-input-demote-f64-to-f32=false`: IREE 3.13 defaults it to *true*,
  which silently rewrites f64 signatures to f32. i64 is kept by default; we pin it anyway.
* Vulkan: IREE's default SPIR-V target (`vp_android_baseline_2022`) lacks f64; lavapipe is a
  known IREE target (`--iree-vulkan-target=llvmpipe`) with f64/i64/f16/i8 support.
* CUDA: `sm_90` fails in IREE 3.13 ("missing GPU target"); we compile sm_80, whose PTX the
  driver can JIT for newer GPUs (compile-only tested here: no GPU on the test machine).

Environment overrides: `HLODIFF_VULKAN_TARGET`, `HLODIFF_CUDA_TARGET`, `HLODIFF_CPU_DRIVER`.
"""

from __future__ import annotations

import hashlib
import os
import platform as _platform
from dataclasses import dataclass
from functools import lru_cache

PLATFORMS = ("cpu", "vulkan", "cuda")

# Flags every target gets: keep 64-bit types 64-bit (x64 mode must not be silently demoted).
_COMMON = ("--iree-input-demote-f64-to-f32=false", "--iree-input-demote-i64-to-i32=false")


@dataclass(frozen=True)
class PlatformSpec:
    """One row of the device table."""

    drivers: tuple[str, ...]  # IREE HAL driver names; the first is the default
    flags: tuple[str, ...]  # optimized compile flags
    safe_flags: tuple[str, ...]  # fallback when the optimized flags fail to compile


_CPU_BASE = (
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=llvm-cpu",
    "--iree-llvmcpu-target-cpu=host",
)

DEVICE_TABLE: dict[str, PlatformSpec] = {
    "cpu": PlatformSpec(
        drivers=("local-sync", "local-task"),
        flags=_CPU_BASE + ("--iree-opt-data-tiling",),
        safe_flags=_CPU_BASE,
    ),
    "vulkan": PlatformSpec(
        drivers=("vulkan",),
        flags=("--iree-hal-target-device=vulkan",),
        safe_flags=("--iree-hal-target-device=vulkan",),
    ),
    "cuda": PlatformSpec(
        drivers=("cuda",),
        flags=("--iree-hal-target-device=cuda",),
        safe_flags=("--iree-hal-target-device=cuda",),
    ),
}

DEFAULT_CUDA_TARGET = "sm_80"

# Substrings of Vulkan device names -> IREE's `--iree-vulkan-target` for them. Only names IREE
# knows: in 3.13 an unknown `--iree-vulkan-target` crashes the compiler (SIGSEGV), not an error.
_VULKAN_TARGETS = {"llvmpipe": "llvmpipe", "lavapipe": "llvmpipe"}


@dataclass(frozen=True)
class Target:
    """What to compile for: a platform plus the flags to use, and what identifies the output.

    `identity` goes into the cache key beside the flags (the host CPU when compiling for `host`).
    """

    platform: str
    flags: tuple[str, ...]
    safe_flags: tuple[str, ...]
    identity: str = ""

    def describe(self) -> str:
        return self.platform if not self.identity else f"{self.platform} ({self.identity})"


def target_for(platform: str, *, device_name: str | None = None) -> Target:
    """The compile target for `platform`; `device_name` refines Vulkan (e.g. lavapipe)."""
    spec = platform_spec(platform)
    extra = _platform_flags(platform, device_name)
    flags = _COMMON + spec.flags + extra
    safe = _COMMON + spec.safe_flags + extra
    identity = cpu_identity() if any(f.endswith("target-cpu=host") for f in flags) else ""
    return Target(platform, flags, safe, identity)


def platform_spec(platform: str) -> PlatformSpec:
    try:
        return DEVICE_TABLE[platform]
    except KeyError:
        known = ", ".join(PLATFORMS)
        raise ValueError(f"Unknown platform {platform!r}; known platforms: {known}.") from None


def _platform_flags(platform: str, device_name: str | None) -> tuple[str, ...]:
    if platform == "vulkan":
        arch = vulkan_target(device_name)
        return (f"--iree-vulkan-target={arch}",) if arch else ()
    if platform == "cuda":
        arch = os.environ.get("HLODIFF_CUDA_TARGET") or DEFAULT_CUDA_TARGET
        return (f"--iree-cuda-target={arch}",)
    return ()


def vulkan_target(device_name: str | None) -> str | None:
    """IREE's Vulkan target for a device name; None keeps IREE's conservative default.

    `HLODIFF_VULKAN_TARGET` overrides it; it must be a target IREE knows (e.g. `llvmpipe`,
    `ampere`, `rdna3`, `valhall`): IREE 3.13 crashes on an unknown one."""
    override = os.environ.get("HLODIFF_VULKAN_TARGET")
    if override:
        return override
    lowered = (device_name or "").lower()
    return next((arch for key, arch in _VULKAN_TARGETS.items() if key in lowered), None)


def default_cpu_driver() -> str:
    """`local-sync` (lowest per-call cost) unless `HLODIFF_CPU_DRIVER` says otherwise."""
    driver = os.environ.get("HLODIFF_CPU_DRIVER") or DEVICE_TABLE["cpu"].drivers[0]
    if driver not in DEVICE_TABLE["cpu"].drivers:
        known = ", ".join(DEVICE_TABLE["cpu"].drivers)
        raise ValueError(f"HLODIFF_CPU_DRIVER={driver!r} is not a CPU driver; use one of {known}.")
    return driver


@lru_cache(maxsize=1)
def cpu_identity() -> str:
    """A short, stable name for this CPU: model name plus a hash of its feature flags.

    Code compiled with `--iree-llvmcpu-target-cpu=host` may use any of these features, so a
    cache shared between machines must not hand it to a CPU that lacks them.
    """
    model, flags = _read_cpuinfo()
    model = model or _platform.processor() or _platform.machine()
    digest = hashlib.sha256(flags.encode()).hexdigest()[:12]
    return f"{model} [{_platform.machine()} {digest}]"


def _read_cpuinfo() -> tuple[str, str]:
    model = flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    return model, flags
