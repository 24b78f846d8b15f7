"""Function signatures read from IREE's reflection (`iree.abi.declaration`).

IREE records each public function as text, e.g.
`sync func @main(%input0: tensor<3xi32> {iree.abi.encoding = tensor<3xui32>}) -> (%output0: ...)`;
the `iree.abi.encoding` (when present) is the type the caller sees (unsigned ints are stored
signless). Used for arity, converting Python scalars, and readable argument errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

try:
    import ml_dtypes
except ImportError:
    ml_dtypes = None

_TENSOR = r"tensor<(?:[^<>]|<[^<>]*>)*>"
_TYPE = rf"{_TENSOR}|[!\w.]+(?:<[^<>]*>)?"
_VALUE = re.compile(
    rf"%(input|output)\d+: ({_TYPE})(?: \{{[^{{}}]*?iree\.abi\.encoding = ({_TENSOR})[^{{}}]*\}})?"
)

_ELEMENT_DTYPES = {
    "i1": np.bool_, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
    "si8": np.int8, "si16": np.int16, "si32": np.int32, "si64": np.int64,
    "ui8": np.uint8, "ui16": np.uint16, "ui32": np.uint32, "ui64": np.uint64,
    "f16": np.float16, "f32": np.float32, "f64": np.float64,
    "complex<f32>": np.complex64, "complex<f64>": np.complex128,
}  # fmt: skip
if ml_dtypes is not None:
    _ELEMENT_DTYPES["bf16"] = ml_dtypes.bfloat16


@dataclass(frozen=True)
class TensorType:
    """`shape` (None for a dynamic dim) and numpy `dtype` (None if numpy has none)."""

    shape: tuple
    dtype: np.dtype | None
    mlir: str

    def __str__(self) -> str:
        name = _short_name(self.dtype) if self.dtype is not None else self.mlir
        return f"{name}[{','.join('?' if d is None else str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class Signature:
    inputs: tuple  # TensorType, or the raw MLIR type text for non-tensors
    outputs: tuple

    def __str__(self) -> str:
        ins = ", ".join(str(t) for t in self.inputs)
        outs = ", ".join(str(t) for t in self.outputs)
        return f"({ins}) -> ({outs})"


def parse_declaration(text: str | None) -> Signature | None:
    """The signature in an `iree.abi.declaration`; None when absent or unreadable."""
    if not text:
        return None
    inputs, outputs = [], []
    for kind, raw, encoding in _VALUE.findall(text):
        (inputs if kind == "input" else outputs).append(_parse_type(encoding or raw))
    return Signature(tuple(inputs), tuple(outputs))


def _parse_type(text: str):
    if not text.startswith("tensor<"):
        return text
    body = text[len("tensor<") : -1]
    dims, element = _split_dims(body)
    shape = tuple(None if d == "?" else int(d) for d in dims)
    dtype = _ELEMENT_DTYPES.get(element)
    return TensorType(shape, np.dtype(dtype) if dtype is not None else None, text)


def _split_dims(body: str) -> tuple[list[str], str]:
    parts = body.split("x")
    dims = []
    while len(parts) > 1 and re.fullmatch(r"\d+|\?", parts[0]):
        dims.append(parts.pop(0))
    return dims, "x".join(parts)


def _short_name(dtype: np.dtype) -> str:
    """JAX's short names: f32, i64, u8, bool, bf16, c64."""
    if dtype == np.bool_:
        return "bool"
    if dtype.name == "bfloat16":
        return "bf16"
    return f"{dtype.kind}{dtype.itemsize * 8}"
