"""Global configuration flags: `hd.config.update("enable_x64", True)`.

Flag names are accepted bare (`enable_x64`) or with JAX's `jax_` prefix (`jax_enable_x64`), so
code ported from JAX by changing imports keeps working. Each flag may also be set from the
environment as `HLODIFF_<NAME>` (e.g. `HLODIFF_ENABLE_X64=1`).
"""

from __future__ import annotations

import os

_TRUE = {"1", "true", "yes", "on"}


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get("HLODIFF_" + name.upper())
    return default if value is None else value.strip().lower() in _TRUE


class Config:
    """Holds the flags. Read them as attributes (`config.enable_x64`)."""

    _defaults = {
        "enable_x64": False,
        # False reproduces the PRNG streams of JAX's `jax_threefry_partitionable=False`.
        "threefry_partitionable": False,
        # None means: HLODIFF_PLATFORM or "cpu".
        "platform": None,
    }

    def __init__(self):
        for name, default in self._defaults.items():
            if isinstance(default, bool):
                default = _env_bool(name, default)
            elif name == "platform":
                default = os.environ.get("HLODIFF_PLATFORM") or None
            object.__setattr__(self, name, default)

    def _canonical(self, name: str) -> str:
        for prefix in ("jax_", "hlodiff_"):
            if name.startswith(prefix):
                name = name[len(prefix):]
        if name not in self._defaults:
            known = ", ".join(sorted(self._defaults))
            raise AttributeError(f"Unrecognized config option: {name!r}. Known options: {known}.")
        return name

    def update(self, name: str, value) -> None:
        """Sets a flag, e.g. `config.update("enable_x64", True)`."""
        object.__setattr__(self, self._canonical(name), value)

    def read(self, name: str):
        return getattr(self, self._canonical(name))

    def __setattr__(self, name, value):
        raise AttributeError("use config.update(name, value) to change a flag")

    def __repr__(self):
        flags = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._defaults)
        return f"Config({flags})"


config = Config()
