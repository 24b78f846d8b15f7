"""Devices: `hd.devices()`, `hd.default_device()`, `hd.device_put(x, device)`.

The default device comes from `hd.config.update("platform", ...)`, else the `HLODIFF_PLATFORM`
environment variable, else the embedded CPU. An absent device raises an error listing the present
ones (from `hlodiff.runtime`).
"""

from __future__ import annotations

import numpy as np

from hlodiff.config import config
from hlodiff.core import Array, Tracer, get_aval


def _runtime():
    from hlodiff import runtime

    return runtime


def default_device():
    """The device `jit` compiles for when none is given."""
    return _runtime().get_device(config.platform)


def devices(backend: str | None = None) -> list:
    """The present devices of `backend` (default: the default device's platform)."""
    platform = backend or default_device().platform
    found = _runtime().devices(platform)
    if not found:
        _runtime().get_device(platform)  # raises DeviceNotFoundError listing what is present
    return found


def local_devices(backend: str | None = None) -> list:
    return devices(backend)


def get_device(device=None):
    return _runtime().get_device(device if device is not None else config.platform)


def device_put(x, device=None):
    """Copies the leaves of `x` (a pytree) to `device`; they stay there until read on host."""
    from hlodiff.tree_util import tree_map

    dev = get_device(device)

    def put(leaf):
        if isinstance(leaf, Tracer):
            return leaf
        aval = get_aval(leaf)
        value = np.asarray(leaf._value if type(leaf) is Array and leaf._value is not None
                           else np.asarray(leaf), aval.dtype)
        return Array.from_buffer(_runtime().DeviceBuffer.from_host(value, dev), aval.weak_type)

    return tree_map(put, x)
