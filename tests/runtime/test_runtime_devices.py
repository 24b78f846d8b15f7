"""Device discovery and selection, the device table, and errors for absent devices."""

from __future__ import annotations

import subprocess

import pytest


@pytest.fixture
def no_cuda(rt_sub, monkeypatch):
    """Pretend the CUDA probe found nothing, whatever this machine has."""
    probes = dict(rt_sub("devices")._probes)
    probes["cuda"] = {"devices": [], "error": "CUDA driver library 'libcuda.so' not available"}
    monkeypatch.setattr(rt_sub("devices"), "_probes", probes)


def test_cpu_is_always_present(rt):
    cpu = rt.get_device("cpu")
    assert repr(cpu) == "CpuDevice(id=0)"
    assert cpu.platform == "cpu" and cpu.id == 0 and cpu.driver == "local-sync"
    assert rt.devices()[0] is cpu and rt.devices("cpu") == [cpu]
    assert rt.get_device("cpu:0") is cpu and rt.get_device(cpu) is cpu


def test_platform_and_cpu_driver_from_environment(rt, monkeypatch):
    monkeypatch.setenv("HLODIFF_PLATFORM", "cpu")
    monkeypatch.setenv("HLODIFF_CPU_DRIVER", "local-task")
    device = rt.get_device()
    assert device.platform == "cpu" and device.driver == "local-task"
    assert device is not rt.get_device("cpu", driver="local-sync")


def test_unknown_platform_lists_present_devices(rt):
    with pytest.raises(rt.DeviceNotFoundError) as info:
        rt.get_device("tpu")
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "Unknown platform 'tpu'" in message and "CpuDevice(id=0)" in message
    assert "HLODIFF_PLATFORM=cpu|vulkan|cuda" in message


def test_absent_platform_says_why_and_how_to_select(rt, no_cuda):
    with pytest.raises(rt.DeviceNotFoundError) as info:
        rt.get_device("cuda")
    message = str(info.value)
    assert "No cuda device" in message and "libcuda.so" in message
    assert "CpuDevice(id=0)" in message and "HLODIFF_PLATFORM=" in message


def test_missing_device_index(rt):
    with pytest.raises(rt.DeviceNotFoundError, match="'cpu:3'"):
        rt.get_device("cpu:3")


def test_unknown_cpu_driver(rt, monkeypatch):
    monkeypatch.setenv("HLODIFF_CPU_DRIVER", "local-fast")
    with pytest.raises(ValueError, match="local-sync, local-task"):
        rt.get_device("cpu")


def test_crashed_probe_is_an_answer(rt_sub):
    done = subprocess.CompletedProcess(["probe"], -11, stdout="", stderr="Segmentation fault")
    report = rt_sub("devices")._parse_probe(done)
    assert report["devices"] == [] and "crashed" in report["error"]


def test_probe_is_quiet(rt_sub, capfd):
    report = rt_sub("devices")._run_probe("cuda")
    assert isinstance(report["devices"], list)
    assert capfd.readouterr() == ("", "")


@pytest.mark.vulkan
def test_vulkan_devices(rt, vulkan_device):
    assert repr(vulkan_device) == "VulkanDevice(id=0)"
    assert rt.get_device("vulkan") is vulkan_device
    assert vulkan_device in rt.devices()
    if "llvmpipe" in vulkan_device.name:
        assert (
            "--iree-vulkan-target=llvmpipe"
            in rt.target_for("vulkan", device_name=vulkan_device.name).flags
        )


def test_device_table(rt):
    cpu, vulkan = rt.target_for("cpu"), rt.target_for("vulkan", device_name="llvmpipe (LLVM 15)")
    for target in (cpu, vulkan, rt.target_for("cuda")):
        assert "--iree-input-demote-f64-to-f32=false" in target.flags  # x64 must stay x64
        assert "--iree-input-demote-f64-to-f32=false" in target.safe_flags
    assert "--iree-hal-local-target-device-backends=llvm-cpu" in cpu.safe_flags
    assert "--iree-vulkan-target=llvmpipe" in vulkan.flags
    assert not any("vulkan-target" in f for f in rt.target_for("vulkan", device_name="Mali").flags)
