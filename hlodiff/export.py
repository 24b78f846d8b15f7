"""`hd.export` and `hd.load_exported`: compile a function ahead of time into a module that runs
with iree-base-runtime alone.

    exp = hd.export(hd.grad(loss), params, hd.ShapeDtypeStruct((128, 784), "float32"), y_spec)
    exp.save("loss_grad")                  # module.mlir, module.vmfb, signature.json
    grads = hd.load_exported("loss_grad")(params, x, y)   # the same pytree as grad(loss)(...)

The module's entry function is always `main`. Its parameters are the leaves of the dynamic
(non-static) arguments in `tree_flatten` order; its results are the leaves of the output.
Static arguments are baked in (pass only the dynamic ones when calling). Every closed-over
constant is inlined (the jaxpr is lowered with `const_args=None`), so a module needs only the
user's inputs: `iree-run-module --module=module.vmfb --device=local-sync --function=main
--input=@x.npy ...`. Shapes are fixed at export; export again for other shapes.

signature.json (`format_version` 1) records what a caller needs without hlodiff:

    {"format": "hlodiff-export", "format_version": 1, "name": "loss_grad", "entry": "main",
     "target": "cpu", "driver": "local-sync", "cpu": "host", "host_cpu": "<model [flags hash]>",
     "compile_flags": [...], "hlodiff_version": "0.1.0", "iree_compiler_version": "3.13.0",
     "iree_runtime_version": "3.13.0", "arg_names": ["params", "x", "y"],
     "inputs":  [{"name": "params/w1", "shape": [784, 128], "dtype": "float32"}, ...],
     "outputs": [{"name": "w1", "shape": [784, 128], "dtype": "float32"}, ...],
     "in_tree": <tree of the tuple of dynamic arguments>, "out_tree": <tree of the output>,
     "static_args": [{"position": 3, "name": "n_layers", "value": "2"}]}

`dtype` is numpy's name (`float32`, `int32`, `bool`, `bfloat16` — the last needs `ml_dtypes`).
`name` is the leaf's key path joined by "/" (an input starts with its parameter's name; a lone
output leaf is "out"). `cpu`/`host_cpu` appear for the cpu target: "host" code may use every
feature of the compiling CPU; export with `cpu="generic"` for a module any CPU of the
architecture can run. A tree is JSON:

    "*"                                           a leaf
    null                                          None
    {"node": "tuple" | "list", "children": [...]}
    {"node": "dict", "keys": [...], "children": [...]}       keys are str/int/float/bool/null,
                                                             children in flatten (sorted) order;
                                                             "ordered": true for an OrderedDict
    {"node": "namedtuple", "name": "Point", "fields": ["x", "y"], "children": [...]}
    {"node": "custom", "name": "module.Class", "children": [...]}   any other registered node

Rebuilding (`tree_from_json`): tuples, lists, dicts, OrderedDicts and None as themselves;
namedtuples as a namedtuple class of the same name and fields (a new class, equal by fields,
not the original); custom nodes as tuples of their children (a JSON file cannot name an
importable class safely). A defaultdict is recorded as a dict (its factory is not kept).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from hlodiff import dtypes
from hlodiff.tree_util import tree_flatten

FORMAT = "hlodiff-export"
FORMAT_VERSION = 1
ENTRY = "main"
FILES = ("module.mlir", "module.vmfb", "signature.json")
TARGETS = ("cpu", "vulkan", "cuda")
# The IREE driver that runs each target's modules (what `iree-run-module --device=` takes).
DRIVERS = {"cpu": "local-sync", "vulkan": "vulkan", "cuda": "cuda"}


# ---------------------------------------------------------------------------------------------
# Pytree structures as JSON


def tree_to_json(treedef) -> Any:
    """The JSON form (see the module docstring) of a `PyTreeDef`.

    Raises:
      TypeError: a dict key cannot be written to JSON (use str, int, float or bool keys).
    """
    data = treedef.node_data()
    if data is None:
        return "*"
    nodetype, aux = data
    if nodetype is type(None):
        return None
    children = [tree_to_json(c) for c in treedef.children()]
    if nodetype in (tuple, list):
        return {"node": nodetype.__name__, "children": children}
    if nodetype is collections.OrderedDict:
        return {"node": "dict", "keys": _json_keys(aux), "children": children, "ordered": True}
    if nodetype is collections.defaultdict:
        return {"node": "dict", "keys": _json_keys(aux[1]), "children": children}
    if nodetype is dict:
        return {"node": "dict", "keys": _json_keys(aux), "children": children}
    if issubclass(nodetype, tuple) and hasattr(nodetype, "_fields"):
        return {
            "node": "namedtuple",
            "name": nodetype.__name__,
            "fields": list(nodetype._fields),
            "children": children,
        }
    name = f"{nodetype.__module__}.{nodetype.__qualname__}"
    return {"node": "custom", "name": name, "children": children}


def _json_keys(keys) -> list:
    for k in keys:
        if not (k is None or isinstance(k, (str, int, float, bool))):
            raise TypeError(
                f"dict key {k!r} ({type(k).__name__}) cannot be recorded in "
                "signature.json; use str, int, float or bool keys"
            )
    return list(keys)


def tree_from_json(tree, leaves: Sequence | Iterator) -> Any:
    """Rebuilds a pytree from its JSON form and its leaves (see the module docstring)."""
    return _build(tree, iter(leaves))


def _build(tree, leaves: Iterator):
    if tree == "*":
        return next(leaves)
    if tree is None:
        return None
    kids = [_build(c, leaves) for c in tree["children"]]
    node = tree["node"]
    if node == "list":
        return kids
    if node == "dict":
        return (collections.OrderedDict if tree.get("ordered") else dict)(zip(tree["keys"], kids))
    if node == "namedtuple":
        return _namedtuple_class(tree["name"], tuple(tree["fields"]))(*kids)
    return tuple(kids)  # "tuple", and "custom" nodes rebuilt as tuples


_NAMEDTUPLES: dict[tuple, type] = {}


def _namedtuple_class(name: str, fields: tuple) -> type:
    key = (name, fields)
    if key not in _NAMEDTUPLES:
        _NAMEDTUPLES[key] = collections.namedtuple(name, fields)
    return _NAMEDTUPLES[key]


def tree_leaf_count(tree) -> int:
    if tree == "*":
        return 1
    return 0 if tree is None else sum(tree_leaf_count(c) for c in tree["children"])


def tree_leaf_names(tree, prefix: str = "") -> list[str]:
    """Each leaf's key path joined by "/" (`params/w1`), in flatten order."""
    if tree == "*":
        return [prefix or "out"]
    if tree is None:
        return []
    keys = tree.get("keys") or tree.get("fields") or range(len(tree["children"]))
    return [
        name
        for k, c in zip(keys, tree["children"])
        for name in tree_leaf_names(c, f"{prefix}/{k}" if prefix else str(k))
    ]


def tree_str(tree, leaf: Callable[[], str] = lambda: "*") -> str:
    """A PyTreeDef-like rendering, `(*, {'w': *})`; `leaf()` gives each leaf's text in order."""
    if tree == "*":
        return leaf()
    if tree is None:
        return "None"
    cs = [tree_str(c, leaf) for c in tree["children"]]
    node = tree["node"]
    if node == "list":
        return "[" + ", ".join(cs) + "]"
    if node == "dict":
        return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(tree["keys"], cs)) + "}"
    if node in ("namedtuple", "custom"):
        return f"{tree['name']}(" + ", ".join(cs) + ")"
    return "(" + ", ".join(cs) + ("," if len(cs) == 1 else "") + ")"


# ---------------------------------------------------------------------------------------------
# Exporting


@dataclass
class Exported:
    """A function compiled ahead of time for one target.

    Attributes:
      mlir_text: the StableHLO module (every constant inlined).
      vmfb: the IREE bytecode; its entry function is `main`.
      signature: the dict saved as signature.json (see the module docstring).
      timings: seconds spent tracing, lowering and compiling (`trace_s`, `lower_s`, `compile_s`).
    """

    mlir_text: str
    vmfb: bytes
    signature: dict
    timings: dict = field(default_factory=dict)

    def save(self, directory, emit: str = "both") -> Path:
        """Writes module.mlir and/or module.vmfb (`emit`: "mlir", "vmfb" or "both") and
        signature.json into `directory`, and returns its path.

        The files are written into a temporary sibling directory that is then renamed into
        place, so a failure never leaves a partial export behind.
        """
        if emit not in ("mlir", "vmfb", "both"):
            raise ValueError(f"emit must be 'mlir', 'vmfb' or 'both', got {emit!r}")
        path = Path(directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            if emit in ("mlir", "both"):
                (tmp / "module.mlir").write_text(self.mlir_text)
            if emit in ("vmfb", "both"):
                (tmp / "module.vmfb").write_bytes(self.vmfb)
            (tmp / "signature.json").write_text(json.dumps(self.signature, indent=1) + "\n")
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    _loaded: ExportedFunction | None = field(default=None, repr=False, compare=False)

    def __call__(self, *args):
        """Runs the compiled module in process on the target's default device."""
        if self._loaded is None:
            self._loaded = ExportedFunction(self.vmfb, self.signature)
        return self._loaded(*args)

    def __repr__(self) -> str:
        return f"Exported({signature_str(self.signature)} for {self.signature['target']})"


def export(
    fun: Callable,
    *arg_specs,
    target: str = "cpu",
    static_argnums=(),
    name: str | None = None,
    cpu: str = "host",
) -> Exported:
    """Traces `fun` for the given argument specs and compiles it for `target`.

    Args:
      fun: the function; its output must be a pytree of arrays.
      arg_specs: one per positional argument: `hd.ShapeDtypeStruct`s, example arrays or Python
        scalars (only their shape and dtype are used), pytrees of them, or for the positions in
        `static_argnums` the static values themselves.
      target: "cpu", "vulkan" or "cuda". Compiling needs no device of that kind.
      static_argnums: positions of arguments baked into the module as Python values.
      name: recorded in the signature (default: `fun.__name__`); the entry is always `main`.
      cpu: for target "cpu", the LLVM CPU to compile for: "host" (this machine, fastest; what
        `jit` uses), "generic" (any CPU of this architecture) or a name like "x86-64-v3".
    Returns:
      An `Exported`: `.mlir_text`, `.vmfb`, `.signature`, `.save(directory)`.
    Raises:
      ValueError: an unknown target, `cpu` given for another target, a static position out of
        range.
      TypeError: an argument leaf is not array-like, or a dict key is not JSON-writable.

        >>> exp = hd.export(lambda x: x * 2.0, hd.ShapeDtypeStruct((3,), "float32"))
        >>> exp.save("double")      # then: hd.load_exported("double")(np.ones(3, np.float32))
    """
    _check_target(target, cpu)
    static = _static_positions(static_argnums, len(arg_specs))
    t0 = time.perf_counter()
    closed, in_tree, specs, out_tree, out_specs = _trace(fun, arg_specs, static)
    t1 = time.perf_counter()
    from hlodiff.lowering import lower_jaxpr

    lowered = lower_jaxpr(closed, ENTRY, const_args=None)  # inline every constant
    t2 = time.perf_counter()
    from hlodiff import runtime
    from hlodiff.runtime.compile import resolve_target

    extra = (f"--iree-llvmcpu-target-cpu={cpu}",) if cpu != "host" else ()
    vmfb = runtime.compile_module(lowered.text, target, extra_flags=extra)
    t3 = time.perf_counter()
    arg_names = _arg_names(fun, len(arg_specs))
    dyn_names = [n for i, n in enumerate(arg_names) if i not in static]
    signature = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "name": name or getattr(fun, "__name__", "fun"), "entry": ENTRY,
        "target": target, "driver": DRIVERS[target], **_cpu_fields(target, cpu),
        "compile_flags": list(resolve_target(target).flags + extra), **_versions(),
        "arg_names": dyn_names,
        "inputs": _leaf_specs(tree_to_json(in_tree), specs, dyn_names),
        "outputs": _leaf_specs(tree_to_json(out_tree), out_specs),
        "in_tree": tree_to_json(in_tree), "out_tree": tree_to_json(out_tree),
        "static_args": [{"position": i, "name": arg_names[i], "value": repr(arg_specs[i])}
                        for i in sorted(static)],
    }  # fmt: skip
    timings = {"trace_s": t1 - t0, "lower_s": t2 - t1, "compile_s": t3 - t2}
    return Exported(lowered.text, vmfb, signature, timings)


def _trace(fun, arg_specs, static: set[int]):
    """The closed jaxpr of `fun` on the specs, with the flat input and output specs and trees."""
    from hlodiff.api import make_jaxpr

    dyn = tuple(a for i, a in enumerate(arg_specs) if i not in static)
    leaves, in_tree = tree_flatten(dyn)
    specs = [_as_spec(x, i) for i, x in enumerate(leaves)]
    it = iter(in_tree.unflatten(specs))
    args = [a if i in static else next(it) for i, a in enumerate(arg_specs)]
    closed, out_shape = make_jaxpr(fun, static_argnums=tuple(static), return_shape=True)(*args)
    out_specs, out_tree = tree_flatten(out_shape)
    return closed, in_tree, specs, out_tree, out_specs


def _check_target(target, cpu: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"unknown export target {target!r}; use one of {', '.join(TARGETS)}")
    if cpu != "host" and target != "cpu":
        raise ValueError(f"cpu={cpu!r} applies to target 'cpu' only, not {target!r}")


def _static_positions(static_argnums, n_args: int) -> set[int]:
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    for i in nums:
        if not -n_args <= i < n_args:
            raise ValueError(f"static_argnums has {i}, but only {n_args} arguments were given")
    return {i % n_args for i in nums}


def _as_spec(x, index: int):
    """A ShapeDtypeStruct for one argument leaf (examples keep only shape, dtype, weak type)."""
    from hlodiff.api import ShapeDtypeStruct
    from hlodiff.core import get_aval

    if isinstance(x, ShapeDtypeStruct):
        return x
    try:
        aval = get_aval(x)
    except TypeError:
        raise TypeError(
            f"export: argument leaf {index} ({type(x).__name__}: {x!r:.60}) is not an "
            "array, a ShapeDtypeStruct or a Python scalar; pass one, or make that "
            "argument static with static_argnums"
        ) from None
    return ShapeDtypeStruct(aval.shape, aval.dtype, aval.weak_type)


def _arg_names(fun, n_args: int) -> list[str]:
    """The parameter name of each positional argument (`arg3` where there is none)."""
    import inspect

    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [names[i] if i < len(names) else f"arg{i}" for i in range(n_args)]


def _leaf_specs(tree, specs, arg_names: list[str] | None = None) -> list[dict]:
    if arg_names is None:
        names = tree_leaf_names(tree)
    else:  # inputs: each argument's leaves are named after its parameter
        names = [
            n
            for child, arg in zip(tree["children"], arg_names)
            for n in tree_leaf_names(child, arg)
        ]
    return [
        {"name": n, "shape": list(s.shape), "dtype": np.dtype(s.dtype).name}
        for n, s in zip(names, specs)
    ]


def _cpu_fields(target: str, cpu: str) -> dict:
    if target != "cpu":
        return {}
    from hlodiff.runtime.targets import cpu_identity

    return {"cpu": cpu, **({"host_cpu": cpu_identity()} if cpu == "host" else {})}


def _versions() -> dict:
    from hlodiff import __version__

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {
        "hlodiff_version": __version__,
        "iree_compiler_version": version("iree-base-compiler"),
        "iree_runtime_version": version("iree-base-runtime"),
    }


# ---------------------------------------------------------------------------------------------
# Loading and calling


def load_exported(directory, device=None) -> ExportedFunction:
    """Loads a directory written by `Exported.save` (or `hlodiff compile`) as a callable.

    Args:
      directory: holds module.vmfb and signature.json.
      device: where to run it (a Device or platform name); default: the export's target.
    Returns:
      An `ExportedFunction`: call it with the dynamic arguments (statics are baked in); it
      checks their structure, shapes and dtypes and returns the output pytree of `Array`s.
    Raises:
      FileNotFoundError: a file is missing. ValueError: not an hlodiff export, a newer format,
      or a device of another platform than the export's target.
    """
    path = Path(directory)
    signature = read_signature(path)
    vmfb_path = path / "module.vmfb"
    if not vmfb_path.is_file():
        raise FileNotFoundError(
            f"{vmfb_path} is missing; export again with Exported.save or `hlodiff compile`"
        )
    return ExportedFunction(vmfb_path.read_bytes(), signature, device)


def read_signature(directory) -> dict:
    """The signature.json of an export directory, checked for format and version."""
    path = Path(directory) / "signature.json"
    if not Path(directory).is_dir():
        raise FileNotFoundError(
            f"no export directory {directory}; write one with "
            "Exported.save(directory) or `hlodiff compile ... --out DIR`"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: {directory} is not an hlodiff export "
            "(expected module.vmfb and signature.json)"
        )
    try:
        signature = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); export again") from None
    if not isinstance(signature, dict) or signature.get("format") != FORMAT:
        raise ValueError(f'{path} is not an hlodiff export signature (no "format": "{FORMAT}")')
    if signature.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version {signature['format_version']}; this hlodiff "
            f"reads version {FORMAT_VERSION}; upgrade hlodiff"
        )
    return signature


class ExportedFunction:
    """A loaded export: call it like the original function (dynamic arguments only)."""

    def __init__(self, vmfb: bytes, signature: dict, device=None):
        from hlodiff import runtime

        self.signature = signature
        self.device = runtime.get_device(device or signature["target"])
        if self.device.platform != signature["target"]:
            raise ValueError(
                f"{signature['name']} was exported for {signature['target']}, not "
                f"{self.device.platform}; export again with target="
                f"{self.device.platform!r}"
            )
        note = host_cpu_mismatch(signature)
        if note:
            warnings.warn(note, RuntimeWarning, stacklevel=3)
        self._function = runtime.load(vmfb, self.device).function(ENTRY)

    def __call__(self, *args):
        from hlodiff.core import Array

        sig = self.signature
        n_args = len(sig["in_tree"]["children"])
        if len(args) != n_args:
            raise TypeError(
                f"{sig['name']} takes {n_args} argument(s) {signature_str(sig)}, "
                f"but {len(args)} were given" + _static_note(sig)
            )
        leaves, treedef = tree_flatten(args)
        given = tree_to_json(treedef)
        if given != sig["in_tree"]:
            raise TypeError(
                f"{sig['name']} was exported for arguments structured as "
                f"{tree_str(sig['in_tree'])}, but was called with {tree_str(given)}"
            )
        arrays = [_host_value(x, spec, sig["name"]) for x, spec in zip(leaves, sig["inputs"])]
        check_inputs(sig, arrays)
        outs = [Array.from_buffer(b) for b in self._function(*arrays)]
        return tree_from_json(sig["out_tree"], outs)

    def __repr__(self) -> str:
        return f"ExportedFunction({signature_str(self.signature)} on {self.device!r})"


def _static_note(sig) -> str:
    statics = ", ".join(f"{s['name']}={s['value']}" for s in sig.get("static_args", []))
    return f" (static arguments are baked in: {statics})" if statics else ""


# A 64-bit array is accepted (and cast) where its 32-bit kind was exported: jit's rule with x64
# off, so numpy's float64 defaults work as they do with `hd.jit`.
_NARROWED = {"float64": "float32", "int64": "int32", "uint64": "uint32", "complex128": "complex64"}
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _host_value(x, spec: dict, fname: str):
    from hlodiff.core import Array

    want = np.dtype(spec["dtype"])
    if isinstance(x, (bool, int, float, complex)):
        if _KIND_RANK[np.asarray(x).dtype.kind] > _KIND_RANK.get(want.kind, 2):
            raise TypeError(
                f"{fname}: input {spec['name']!r} is the Python {type(x).__name__} "
                f"{x!r}, which does not fit {spec_str(spec)}"
            )
        return np.asarray(x, want)
    arr = np.asarray(x) if isinstance(x, Array) else x
    if not isinstance(arr, (np.ndarray, np.generic)):
        arr = np.asarray(arr)
    if arr.dtype != want and _NARROWED.get(arr.dtype.name) == want.name:
        arr = arr.astype(want)
    return arr


def check_inputs(signature: dict, arrays: Sequence[np.ndarray]) -> None:
    """Checks numpy inputs against the signature's flat inputs (count, dtype, shape).

    Raises:
      TypeError: wrong count or dtype. ValueError: wrong shape. Each message names the input.
    """
    specs = signature["inputs"]
    if len(arrays) != len(specs):
        expected = ", ".join(f"{s['name']}: {spec_str(s)}" for s in specs)
        raise TypeError(
            f"{signature['name']} takes {len(specs)} input array(s) ({expected}), "
            f"but {len(arrays)} were given"
        )
    for i, (arr, spec) in enumerate(zip(arrays, specs)):
        got = f"{_short(arr.dtype)}[{','.join(map(str, arr.shape))}]"
        where = f"input {i} ({spec['name']!r}) of {signature['name']}"
        if arr.dtype != np.dtype(spec["dtype"]):
            raise TypeError(
                f"{where} has dtype {got}, expected {spec_str(spec)}; convert it "
                f"with .astype(np.{np.dtype(spec['dtype']).name})"
            )
        if list(arr.shape) != list(spec["shape"]):
            raise ValueError(
                f"{where} has shape {got}, expected {spec_str(spec)}; the module "
                "was exported for fixed shapes: export again for this shape"
            )


def host_cpu_mismatch(signature: dict) -> str | None:
    """A warning when a module compiled for the host CPU is run on a different CPU."""
    recorded = signature.get("host_cpu")
    if not recorded:
        return None
    from hlodiff.runtime.targets import cpu_identity

    if recorded == cpu_identity():
        return None
    return (
        f"{signature['name']} was compiled for the host CPU {recorded!r}, and this is "
        f"{cpu_identity()!r}; it may crash on missing instructions. Export with "
        "cpu='generic' (`hlodiff compile --cpu generic`) for a portable module."
    )


# ---------------------------------------------------------------------------------------------
# Rendering


def _short(dtype) -> str:
    try:
        return dtypes.short_name(dtype)
    except TypeError:
        return np.dtype(dtype).name


def spec_str(spec: dict) -> str:
    """`f32[128,784]` for one input or output entry of a signature."""
    return f"{_short(np.dtype(spec['dtype']))}[{','.join(map(str, spec['shape']))}]"


def signature_str(signature: dict) -> str:
    """`loss(params={'w': f32[3,3]}, x=f32[2,3]) -> f32[]`."""
    ins = iter([spec_str(s) for s in signature["inputs"]])
    outs = iter([spec_str(s) for s in signature["outputs"]])
    children = signature["in_tree"]["children"]
    names = signature.get("arg_names") or [f"arg{i}" for i in range(len(children))]
    args = ", ".join(f"{n}={tree_str(c, ins.__next__)}" for n, c in zip(names, children))
    return f"{signature['name']}({args}) -> {tree_str(signature['out_tree'], outs.__next__)}"
