"""Argument specs on the command line: `f32[128,784]`, JSON pytrees of them, `--static` values.

parse_arg("f32[128,784]")                        # ShapeDtypeStruct((128, 784), float32)
parse_arg('{"w": "f32[3,4]", "b": "f32[4]"}')    # a dict pytree of them (lists stay lists)
parse_static("n_layers=2")                       # ("n_layers", 2)
"""

from __future__ import annotations

import ast
import json
import re

import numpy as np

from .errors import UsageError

# JAX's short names (what jaxprs print) and numpy's names.
DTYPES = {
    "bool": "bool", "pred": "bool",
    "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
    "u8": "uint8", "u16": "uint16", "u32": "uint32", "u64": "uint64",
    "bf16": "bfloat16", "f16": "float16", "f32": "float32", "f64": "float64",
    "c64": "complex64", "c128": "complex128",
}  # fmt: skip
DTYPES.update({name: name for name in set(DTYPES.values())})
_WIDE = {"int64", "uint64", "float64", "complex128"}
_SPEC = re.compile(r"([A-Za-z]\w*)\s*(?:\[([\d\s,]*)\])?")
_EXAMPLE = "like f32[128,784], i32[128] or f32[] (a scalar)"


def parse_arg(text: str, x64: bool = False):
    """One `--arg`: a spec string, or a JSON object/array of them for a pytree argument."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            tree = json.loads(stripped)
        except ValueError as e:
            raise UsageError(
                f"--arg {text!r} is not valid JSON ({e}); a pytree argument is a "
                'JSON object or array of specs, e.g. \'{"w": "f32[3,4]"}\''
            ) from None
        return _map_specs(tree, text, x64)
    return parse_spec(stripped, x64)


def _map_specs(tree, text: str, x64: bool):
    if isinstance(tree, dict):
        return {k: _map_specs(v, text, x64) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_map_specs(v, text, x64) for v in tree]
    if tree is None:
        return None
    if not isinstance(tree, str):
        raise UsageError(f"--arg {text!r}: {tree!r} is not a spec string ({_EXAMPLE})")
    return parse_spec(tree, x64)


def parse_spec(text: str, x64: bool = False):
    """`f32[128,784]` -> `ShapeDtypeStruct((128, 784), float32)`; `f32` alone is a scalar."""
    from hlodiff.api import ShapeDtypeStruct

    match = _SPEC.fullmatch(text.strip())
    if not match:
        raise UsageError(f"bad spec {text!r}: expected DTYPE[DIMS] {_EXAMPLE}")
    name, dims = match.groups()
    dtype = DTYPES.get(name.lower())
    if dtype is None:
        known = ", ".join(k for k in DTYPES if k not in DTYPES.values() or k == "bool")
        raise UsageError(f"bad spec {text!r}: unknown dtype {name!r}; use one of {known}")
    if dtype in _WIDE and not x64:
        raise UsageError(
            f"spec {text!r} is 64-bit: add --x64 (JAX's jax_enable_x64), or use the 32-bit type"
        )
    parts = [d.strip() for d in (dims or "").split(",")]
    if parts == [""]:
        parts = []
    if any(not d for d in parts):
        raise UsageError(f"bad spec {text!r}: an empty dimension; expected {_EXAMPLE}")
    return ShapeDtypeStruct(tuple(int(d) for d in parts), np.dtype(_numpy_dtype(dtype)))


def _numpy_dtype(name: str):
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return name


def parse_static(text: str) -> tuple[str, object]:
    """`NAME=VALUE` with VALUE a Python literal (`3`, `0.5`, `(1, 2)`, `'relu'`, `True`); a bare
    word that is no literal (`relu`) is taken as a string."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise UsageError(f"bad --static {text!r}: expected NAME=VALUE, e.g. --static n_layers=2")
    try:
        return name, ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        pass
    if re.fullmatch(r"[A-Za-z_][\w.\-]*", value.strip()):
        return name, value.strip()
    raise UsageError(
        f"bad --static {text!r}: {value!r} is not a Python literal; use a number, "
        "a tuple, True/False/None or a quoted string"
    )
