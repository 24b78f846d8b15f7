"""The libraries `hlodiff bench` compares: how to import each, its version, where it runs, how
to move inputs in and results out, and how to wait for a result.

A `Lib` wraps one library. `load(name, device)` returns None when the library is not installed,
so its column says "not installed" instead of failing the run.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

BASELINE = "hlodiff"
OPTIONAL = ("jax", "numpy", "autograd", "torch")  # the libraries --compare may name
ALL = (BASELINE,) + OPTIONAL


@dataclass
class Lib:
    """One library as the workloads see it: `name`, `mod` (the top-level module), `np` (its
    numpy-like module), `device` (where its arrays live, in words) and converters."""

    name: str
    mod: Any
    np: Any
    version: str
    device: str
    put: Callable[[np.ndarray], Any]  # host array -> library array on its device
    extra: dict = field(default_factory=dict)
    platform: str = "cpu"  # the device the run asked for (`--device`)

    def tree_put(self, tree):
        return tree_map(self.put, tree)

    def block(self, out):
        """Waits until `out` is computed (asynchronous libraries return before that)."""
        for leaf in tree_leaves(out):
            wait = getattr(leaf, "block_until_ready", None)
            if wait is not None:
                wait()
        sync = self.extra.get("synchronize")
        if sync is not None:
            sync()
        return out

    def to_host(self, out) -> list[np.ndarray]:
        return [_host(leaf) for leaf in tree_leaves(out)]


def _host(leaf) -> np.ndarray:
    detach = getattr(leaf, "detach", None)  # torch
    if detach is not None:
        return detach().cpu().numpy()
    return np.asarray(leaf)


# A tiny pytree walker that works for every library's containers (tuples, lists, dicts,
# namedtuples); anything else is a leaf.


def tree_leaves(tree) -> list:
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in tree_leaves(tree[k])]
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in tree_leaves(item)]
    if tree is None:
        return []
    return [tree]


def tree_map(fn, tree):
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(tree_map(fn, v) for v in tree))
    if isinstance(tree, (tuple, list)):
        return type(tree)(tree_map(fn, v) for v in tree)
    return fn(tree)


def version_of(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def load(name: str, device: str = "cpu", threads: int = 1) -> Lib | None:
    """The library `name` set up for `device`; None when it is not installed."""
    if name != BASELINE and not installed(name):
        return None
    lib = _LOADERS[name](device, threads)
    lib.platform = device
    return lib


def _load_hlodiff(device: str, threads: int) -> Lib:
    import hlodiff as hd
    import hlodiff.lowering  # noqa: F401 -- jit imports it on first use; `import jax` loads
    import hlodiff.numpy as hnp  # its lowering up front, so timings start from the same point

    if threads > 1 and device == "cpu":  # local-task: as many worker groups as threads
        _iree_flags(f"--task_topology_max_group_count={threads}")
    hd.config.update("platform", device)
    dev = hd.default_device()  # raises DeviceNotFoundError listing the present devices
    where = f"{dev.platform} ({dev.name}, driver {dev.driver})"
    return Lib(BASELINE, hd, hnp, hd.__version__, where, hnp.asarray)


def _iree_flags(*flags: str) -> None:
    try:
        from iree.runtime import flags as iree_flags

        iree_flags.parse_flags(*flags)
    except (ImportError, RuntimeError, ValueError):  # no such flag: the default topology
        return


def _load_jax(device: str, threads: int) -> Lib:
    # The comparison library, imported only when a benchmark asks for it (never by hlodiff).
    jax = importlib.import_module("jax")
    jnp = importlib.import_module("jax.numpy")

    jdev = jax.devices()[0]
    where = jdev.platform if jdev.platform == device else f"{jdev.platform} (no jax {device})"
    return Lib("jax", jax, jnp, jax.__version__, where, jnp.asarray)


def _load_numpy(device: str, threads: int) -> Lib:
    return Lib("numpy", np, np, np.__version__, "cpu (host)", np.asarray)


def _load_autograd(device: str, threads: int) -> Lib:
    import autograd
    import autograd.numpy as anp

    return Lib("autograd", autograd, anp, version_of("autograd") or "?", "cpu (host)", np.asarray)


def _load_torch(device: str, threads: int) -> Lib:
    import torch

    if threads:
        torch.set_num_threads(threads)
    tdev = "cuda" if device == "cuda" and torch.cuda.is_available() else "cpu"
    where = tdev if tdev == device else f"cpu (no torch {device})"
    extra = {"synchronize": torch.cuda.synchronize} if tdev == "cuda" else {}

    def put(x):
        return torch.tensor(np.asarray(x), device=tdev)

    return Lib("torch", torch, torch, torch.__version__, where, put, extra)


_LOADERS = {
    "hlodiff": _load_hlodiff,
    "jax": _load_jax,
    "numpy": _load_numpy,
    "autograd": _load_autograd,
    "torch": _load_torch,
}


def versions() -> dict[str, str | None]:
    """Versions of everything that can change a number in the report (None: not installed)."""
    import platform

    dists = [
        "numpy",
        "iree-base-compiler",
        "iree-base-runtime",
        "jax",
        "jaxlib",
        "autograd",
        "torch",
        "matplotlib",
    ]
    found = {d: version_of(d) for d in dists}
    found["hlodiff"] = version_of("hlodiff")
    found["python"] = platform.python_version()
    return found
