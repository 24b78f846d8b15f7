"""StableHLO text builder: SSA values, types, constants, attributes and ops in MLIR generic syntax.

This is the only module that spells `tensor<...>` types. Rules never write MLIR text; they call
`FunctionBuilder.op` (or the typed helpers in `hlo.py`) with operand `Value`s and result avals:

    fb = FunctionBuilder("main", [ShapedArray((3,), np.float32)])
    (x,) = fb.args
    y = fb.op("stablehlo.exponential", [x], x.aval)
    fb.ret([y])
    text = module_text([fb])

Every op is printed in MLIR's generic form, `%3 = "stablehlo.add"(%1, %2) : (t, t) -> t`, which
parses the same for every dialect (stablehlo, chlo) and needs no per-op custom syntax.
Values are numbered per function (`%0`, `%1`, ...), so a region may use any value defined above it.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Iterable, Sequence

import numpy as np

from hlodiff import dtypes
from hlodiff.core import ShapedArray

# ---------------------------------------------------------------------------------------------
# Types

_ELEMENT_TYPES = {
    dtypes.bool_: "i1",
    dtypes.float0: "i1",  # float0 tangents are zero-sized in meaning; carried as i1 like JAX
    dtypes.int8: "i8",
    dtypes.int16: "i16",
    dtypes.int32: "i32",
    dtypes.int64: "i64",
    dtypes.uint8: "ui8",
    dtypes.uint16: "ui16",
    dtypes.uint32: "ui32",
    dtypes.uint64: "ui64",
    dtypes.bfloat16: "bf16",
    dtypes.float16: "f16",
    dtypes.float32: "f32",
    dtypes.float64: "f64",
    dtypes.complex64: "complex<f32>",
    dtypes.complex128: "complex<f64>",
}


def element_type(dtype) -> str:
    """The MLIR element type of a dtype: `f32`, `i1` (bool), `ui32`, `complex<f32>`, ..."""
    try:
        return _ELEMENT_TYPES[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"dtype {dtype} has no StableHLO element type") from None


def tensor_type(aval_or_shape, dtype=None) -> str:
    """`tensor<3x4xf32>` for an aval (or a shape and a dtype); rank 0 gives `tensor<f32>`."""
    if dtype is None:
        shape, dtype = aval_or_shape.shape, aval_or_shape.dtype
    else:
        shape = aval_or_shape
    return _tensor_type(tuple(shape), np.dtype(dtype))


@functools.lru_cache(maxsize=4096)
def _tensor_type(shape: tuple, dtype: np.dtype) -> str:
    dims = "".join(f"{int(d)}x" for d in shape)
    return f"tensor<{dims}{element_type(dtype)}>"


def physical_dtype(dtype) -> np.dtype:
    """The numpy dtype whose buffers back a tensor of `dtype` (float0 travels as bool)."""
    dtype = np.dtype(dtype)
    return dtypes.bool_ if dtype == dtypes.float0 else dtype


# ---------------------------------------------------------------------------------------------
# Constants

# Non-splat constants with more elements than this are printed as one hex string.
HEX_MIN_ELEMENTS = 16

_UINT_OF_SIZE = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _format_float(v, dtype) -> str:
    """Exact text for one float: shortest round-trip decimal, or the bit pattern for nan/inf."""
    f = float(v)
    if math.isfinite(f):
        text = repr(f)  # exact: a float16/bfloat16/float32 value is exactly a Python float
        mantissa, _, exponent = text.partition("e")
        if "." not in mantissa:
            mantissa += ".0"  # MLIR needs a dot in a float literal: 1e+20 -> 1.0e+20
        return mantissa + ("e" + exponent if exponent else "")
    bits = np.asarray(v, dtype).reshape(1).view(_UINT_OF_SIZE[np.dtype(dtype).itemsize])[0]
    return f"0x{int(bits):0{2 * np.dtype(dtype).itemsize}X}"


def _format_element(v, dtype: np.dtype) -> str:
    kind = dtype.kind
    if kind == "b":
        return "true" if v else "false"
    if kind in "iu":
        return str(int(v))
    if kind == "c":
        part = dtypes.real_dtype(dtype)
        return f"({_format_float(v.real, part)}, {_format_float(v.imag, part)})"
    return _format_float(v, dtype)


def _compact(value: np.ndarray) -> np.ndarray:
    """Drops the repeated axes of a broadcast view (stride 0), so splat checks stay cheap."""
    if value.ndim and 0 in value.strides and value.size:
        value = value[tuple(0 if s == 0 else slice(None) for s in value.strides)]
    return value


def splat_value(value: np.ndarray):
    """The single element of an array whose elements are all bitwise equal, else None."""
    if value.size == 0:
        return None
    small = np.ascontiguousarray(_compact(value))
    flat = small.reshape(-1)
    if flat.size > 1:
        rows = flat.view(np.uint8).reshape(flat.size, -1)
        if not (rows == rows[0]).all():
            return None
    return flat[0]


def dense_attr(value, dtype, shape=None) -> str:
    """A `dense<...> : tensor<...>` attribute holding `value` (broadcast to `shape` if given).

    Splats print one element; larger arrays print as hex (`dense<"0x...">`, little-endian bytes,
    one byte per bool); others as a nested list. Floats are exact (nan/inf/-0.0 included).
    """
    dtype = np.dtype(dtype)
    phys = physical_dtype(dtype)
    value = np.asarray(value)
    shape = value.shape if shape is None else tuple(shape)
    if value.shape != shape:
        value = np.broadcast_to(value, shape)
    ty = tensor_type(shape, phys)
    if value.size == 0:
        return f"dense<> : {ty}"
    splat = splat_value(_compact(value).astype(phys, copy=False))  # no copy of a broadcast
    if splat is not None:
        return f"dense<{_format_element(splat, phys)}> : {ty}"
    value = value.astype(phys, copy=False)
    if value.size > HEX_MIN_ELEMENTS:
        data = np.ascontiguousarray(value).astype(phys.newbyteorder("<"), copy=False)
        return f'dense<"0x{data.tobytes().hex().upper()}"> : {ty}'
    return f"dense<{_nested(value, phys)}> : {ty}"


def _nested(value: np.ndarray, dtype: np.dtype) -> str:
    if value.ndim == 0:
        return _format_element(value[()], dtype)
    return "[" + ", ".join(_nested(v, dtype) for v in value) + "]"


# ---------------------------------------------------------------------------------------------
# Attributes


def i64_array(values: Iterable[int]) -> str:
    """A dense i64 array attribute: `array<i64: 1, 2>` (`array<i64>` when empty)."""
    values = [int(v) for v in values]
    return f"array<i64: {', '.join(map(str, values))}>" if values else "array<i64>"


def i64_attr(value: int) -> str:
    return f"{int(value)} : i64"


def bool_attr(value: bool) -> str:
    return "true" if value else "false"


def enum_attr(kind: str, value: str) -> str:
    """A StableHLO enum attribute: `enum_attr("comparison_direction", "LT")`."""
    return f"#stablehlo<{kind} {value}>"


def int_list(values: Iterable[int]) -> str:
    """`[0, 1]`, the list syntax inside `#stablehlo.dot<...>` / `#stablehlo.gather<...>`."""
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


# ---------------------------------------------------------------------------------------------
# Values, blocks, functions


class Value:
    """An SSA value: its name (`%3`, `%2#1`, `%arg0`) and its aval (shape and dtype)."""

    __slots__ = ("name", "aval", "type")

    def __init__(self, name: str, aval):
        self.name = name
        self.aval = aval
        self.type = tensor_type(aval)  # `tensor<...>`, spelled once

    @property
    def shape(self) -> tuple:
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self.aval.dtype

    def __repr__(self):
        return f"{self.name}:{self.aval.str_short()}"


def aval(shape, dtype) -> ShapedArray:
    return ShapedArray(tuple(shape), dtype)


class Block:
    """A block of ops: the function body or a region's single block, with its own const cache."""

    def __init__(self, args: Sequence[Value]):
        self.args = list(args)
        self.lines: list[str] = []
        self.consts: dict = {}
        self.terminated = False


class FunctionBuilder:
    """Builds one `func.func`. Ops go to the current block (the body, or a region being built).

    Args:
      name: the symbol name (`main`).
      arg_avals: the avals of the function's parameters (their Values are `self.args`).
      public: exported from the module (True) or `private`.
    """

    def __init__(self, name: str, arg_avals: Sequence, public: bool = True):
        self.name = name
        self.public = public
        self._count = 0
        self.inputs: list[Value] = [Value(f"%arg{i}", a) for i, a in enumerate(arg_avals)]
        self.leading: list[Value] = []  # parameters added in front (constants passed as args)
        self.body = Block(self.inputs)
        self._blocks = [self.body]
        self.results: list[Value] | None = None

    @property
    def args(self) -> list[Value]:
        """The Values of the function's own arguments (not the leading constant parameters)."""
        return list(self.inputs)

    @property
    def params(self) -> list[Value]:
        return self.leading + self.inputs

    @property
    def block(self) -> Block:
        return self._blocks[-1]

    def fresh_name(self, prefix: str = "") -> str:
        name = f"%{prefix}{self._count}"
        self._count += 1
        return name

    def add_param(self, aval, prefix: str = "c") -> Value:
        """Adds a leading parameter (after earlier ones, before the arguments); returns it."""
        v = Value(self.fresh_name(prefix), aval)
        self.leading.append(v)
        return v

    # -- ops ------------------------------------------------------------------------------

    def op(self, name: str, operands: Sequence[Value], result_avals, attrs: dict | None = None,
           regions: Sequence[Block] = ()):
        """Emits one op in generic syntax.

        Args:
          name: the op name, `stablehlo.add`.
          operands: operand Values.
          result_avals: one aval (returns one Value) or a list of avals (returns a list).
          attrs: attribute name -> attribute text (see `i64_array`, `enum_attr`, `dense_attr`).
          regions: finished Blocks (see `region`), printed in order.
        """
        single = not isinstance(result_avals, (list, tuple))
        avals = [result_avals] if single else list(result_avals)
        results = self._result_values(avals)
        lhs = ""
        if len(results) == 1:
            lhs = f"{results[0].name} = "
        elif results:
            lhs = f"{results[0].name.split('#')[0]}:{len(results)} = "
        ins = ", ".join(v.name for v in operands)
        attr_text = ""
        if attrs:
            attr_text = " {" + ", ".join(f"{k} = {v}" for k, v in attrs.items()) + "}"
        region_text = ""
        if regions:
            region_text = " (" + ", ".join(self._region_text(r) for r in regions) + ")"
        in_types = ", ".join(v.type for v in operands)
        out_types = ", ".join(tensor_type(a) for a in avals)
        out_types = out_types if len(avals) == 1 else f"({out_types})"
        self._emit(f'{lhs}"{name}"({ins}){region_text}{attr_text} : ({in_types}) -> {out_types}')
        return results[0] if single else results

    def _result_values(self, avals) -> list[Value]:
        if len(avals) == 1:
            return [Value(self.fresh_name(), avals[0])]
        base = self.fresh_name()
        return [Value(f"{base}#{i}", a) for i, a in enumerate(avals)]

    def _emit(self, line: str):
        block = self.block
        if block.terminated:
            raise RuntimeError(f"op emitted after the terminator of a block: {line}")
        block.lines.append(line)

    def constant(self, value, dtype, shape=()) -> Value:
        """A `stablehlo.constant` of `value` (broadcast to `shape`), reused within the block."""
        value = np.asarray(value)
        dtype = np.dtype(dtype)
        shape = tuple(shape)
        key = self._const_key(value, dtype, shape)
        block = self.block
        cached = block.consts.get(key) if key is not None else None
        if cached is not None:
            return cached
        if dtype == np.complex128 and value.size > 1 and not np.all(value == value.flat[0]):
            # IREE 3.13 dies with SIGFPE on non-splat complex<f64> dense constants: build the
            # value from its real and imaginary parts instead.
            re = self.constant(np.real(value), np.float64, shape)
            im = self.constant(np.imag(value), np.float64, shape)
            v = self.op("stablehlo.complex", [re, im], aval(shape or value.shape, dtype), {})
        else:
            attr = dense_attr(value, dtype, shape)
            v = self.op("stablehlo.constant", [], aval(shape, dtype), {"value": attr})
        if key is not None:
            block.consts[key] = v
        return v

    @staticmethod
    def _const_key(value: np.ndarray, dtype, shape):
        if value.size > 64:
            return None
        return (dtype, shape, value.shape, np.asarray(value, physical_dtype(dtype)).tobytes())

    # -- regions and terminators --------------------------------------------------------------

    @contextlib.contextmanager
    def region(self, arg_avals: Sequence = ()):
        """Builds a single-block region: ops emitted inside the `with` go to the new block.

            with fb.region([s, s]) as body:
                a, b = body.args
                fb.ret([fb.op("stablehlo.add", [a, b], s)], op="stablehlo.return")
            fb.op("stablehlo.reduce", [x, init], out, attrs, regions=[body])
        """
        block = Block([Value(self.fresh_name(), a) for a in arg_avals])
        self._blocks.append(block)
        try:
            yield block
        finally:
            self._blocks.pop()

    def ret(self, values: Sequence[Value], op: str = "func.return"):
        """Terminates the current block with `op` (`stablehlo.return` inside regions)."""
        types = ", ".join(v.type for v in values)
        ins = ", ".join(v.name for v in values)
        self._emit(f'"{op}"({ins}) : ({types}) -> ()')
        self.block.terminated = True
        if self.block is self.body:
            self.results = list(values)

    def _region_text(self, block: Block) -> str:
        if not block.terminated:
            raise RuntimeError("a region was closed without a terminator (call `ret`)")
        lines = []
        if block.args:
            args = ", ".join(f"{v.name}: {v.type}" for v in block.args)
            lines.append(f"^bb0({args}):")
        lines.extend("  " + line for line in block.lines)
        inner = "\n".join("  " + line.replace("\n", "\n  ") for line in lines)
        return "{\n" + inner + "\n}"

    # -- output -------------------------------------------------------------------------------

    def text(self) -> str:
        if self.results is None:
            raise RuntimeError(f"function @{self.name} has no return (call `ret`)")
        vis = "public" if self.public else "private"
        params = ", ".join(f"{v.name}: {v.type}" for v in self.params)
        outs = ", ".join(v.type for v in self.results)
        body = "\n".join("    " + line.replace("\n", "\n    ") for line in self.body.lines)
        return f"  func.func {vis} @{self.name}({params}) -> ({outs}) {{\n{body}\n  }}"


def module_text(functions: Sequence[FunctionBuilder]) -> str:
    """The module holding `functions`, in order."""
    return "module {\n" + "\n".join(f.text() for f in functions) + "\n}\n"

