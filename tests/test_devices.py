"""Devices seen from the frontend: `hd.devices()`, `hd.default_device()`, `hd.device_put`, and
where `jit` runs (the `platform` config, `jit(device=...)`). Vulkan and CUDA cases skip, with the
reason, when the machine has no such device."""

from __future__ import annotations

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff import runtime

PLATFORMS = [pytest.param(p, marks=getattr(pytest.mark, p)) for p in ("cpu", "vulkan", "cuda")]


def _present_or_skip(platform):
    if not runtime.devices(platform):
        pytest.skip(f"no {platform} device on this machine")


@pytest.fixture
def platform_config():
    """Restores the `platform` config after a test changes it."""
    saved = hd.config.platform
    yield
    hd.config.update("platform", saved)


def _device_of(array):
    return array._buffer.device


def test_default_device_is_the_cpu(platform_config, monkeypatch):
    monkeypatch.delenv("HLODIFF_PLATFORM", raising=False)
    hd.config.update("platform", None)
    assert hd.default_device().platform == "cpu"
    assert hd.default_device() in hd.devices()
    assert hd.devices("cpu")[0].platform == "cpu"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_platform_config_picks_where_jit_runs(platform, platform_config):
    _present_or_skip(platform)
    hd.config.update("platform", platform)
    f = hd.jit(lambda x: hnp.sin(x) * 2.0)
    x = np.linspace(0, 1, 5, dtype=np.float32)
    out = f(x)
    assert _device_of(out).platform == platform
    np.testing.assert_allclose(np.asarray(out), np.sin(x) * 2.0, rtol=1e-6)
    again = f(out)  # a result stays on its device and is passed on without a host round trip
    assert _device_of(again).platform == platform
    np.testing.assert_allclose(np.asarray(again), np.sin(np.sin(x) * 2.0) * 2.0, rtol=1e-5)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_jit_device_argument_and_device_put(platform):
    _present_or_skip(platform)
    default = hd.default_device()
    x = hd.device_put(np.arange(4.0, dtype=np.float32), platform)
    assert _device_of(x).platform == platform
    out = hd.jit(lambda v: v @ v, device=platform)(x)
    assert _device_of(out).platform == platform and float(out) == 14.0
    assert hd.default_device() is default  # unchanged by an explicit device


def test_absent_or_unknown_device_lists_the_present_ones():
    with pytest.raises(runtime.DeviceNotFoundError, match="cpu"):
        hd.jit(lambda x: x, device="tpu")(1.0)
    absent = [p for p in ("vulkan", "cuda") if not runtime.devices(p)]
    for platform in absent:
        with pytest.raises(runtime.DeviceNotFoundError, match=f"No {platform} device"):
            hd.jit(lambda x: x, device=platform)(1.0)
