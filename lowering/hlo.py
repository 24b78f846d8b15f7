"""Typed helpers over `FunctionBuilder.op`: the StableHLO vocabulary the rules are written in.

Each helper takes the builder `b` and `Value`s and returns `Value`s; result avals are computed
here, so rules rarely spell shapes. Scalar constants are splat tensors of the needed shape.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from hlodiff import dtypes

from .emitter import FunctionBuilder, Value, aval, enum_attr, i64_array, i64_attr

Builder = FunctionBuilder


# ---------------------------------------------------------------------------------------------
# Constants and dtype queries


def full(b: Builder, value, dtype, shape=()) -> Value:
    """A constant of `shape` whose elements are all `value` (a splat)."""
    return b.constant(np.asarray(value), dtype, shape)


def full_like(b: Builder, x: Value, value) -> Value:
    return full(b, value, x.dtype, x.shape)


def is_float(dtype) -> bool:
    return dtypes.is_float(dtype)


def is_complex(dtype) -> bool:
    return dtypes.is_complex(dtype)


def is_signed(dtype) -> bool:
    return np.dtype(dtype).kind == "i"


def is_unsigned(dtype) -> bool:
    return np.dtype(dtype).kind == "u"


def is_bool(dtype) -> bool:
    return np.dtype(dtype) in (dtypes.bool_, dtypes.float0)


def int_of_width(dtype, signed: bool = True) -> np.dtype:
    """The integer dtype with the same width as `dtype` (for bitcasts)."""
    size = np.dtype(dtype).itemsize
    return np.dtype(f"{'i' if signed else 'u'}{size}")


def min_value(dtype):
    """The identity of max: -inf, the smallest integer, or False."""
    if is_bool(dtype):
        return False
    if dtypes.is_inexact(dtype):
        return -np.inf
    return np.iinfo(dtype).min


def max_value(dtype):
    """The identity of min: +inf, the largest integer, or True."""
    if is_bool(dtype):
        return True
    if dtypes.is_inexact(dtype):
        return np.inf
    return np.iinfo(dtype).max


# ---------------------------------------------------------------------------------------------
# Elementwise ops


def unary(b: Builder, name: str, x: Value, dtype=None) -> Value:
    return b.op(f"stablehlo.{name}", [x], aval(x.shape, dtype or x.dtype))


def binary(b: Builder, name: str, x: Value, y: Value, dtype=None) -> Value:
    return b.op(f"stablehlo.{name}", [x, y], aval(x.shape, dtype or x.dtype))


def add(b, x, y):
    return binary(b, "add", x, y)


def sub(b, x, y):
    return binary(b, "subtract", x, y)


def mul(b, x, y):
    return binary(b, "multiply", x, y)


def div(b, x, y):
    return binary(b, "divide", x, y)


def neg(b, x):
    return unary(b, "negate", x)


def and_(b, x, y):
    return binary(b, "and", x, y)


def or_(b, x, y):
    return binary(b, "or", x, y)


def not_(b, x):
    return unary(b, "not", x)


def maximum(b, x, y):
    return binary(b, "maximum", x, y)


def minimum(b, x, y):
    return binary(b, "minimum", x, y)


def default_compare_type(dtype) -> str:
    """JAX's compare_type: FLOAT for floats and complex, SIGNED for ints, UNSIGNED otherwise."""
    if dtypes.is_inexact(dtype):
        return "FLOAT"
    return "SIGNED" if is_signed(dtype) else "UNSIGNED"


def compare(b: Builder, x: Value, y: Value, direction: str, compare_type: str | None = None):
    """`stablehlo.compare` (direction EQ/NE/LT/LE/GT/GE), boolean result."""
    attrs = {
        "comparison_direction": enum_attr("comparison_direction", direction),
        "compare_type": enum_attr("comparison_type", compare_type or default_compare_type(
            x.dtype)),
    }
    return b.op("stablehlo.compare", [x, y], aval(x.shape, dtypes.bool_), attrs)


def select(b: Builder, pred: Value, on_true: Value, on_false: Value) -> Value:
    return b.op("stablehlo.select", [pred, on_true, on_false], aval(on_true.shape, on_true.dtype))


def is_nan(b: Builder, x: Value) -> Value:
    return compare(b, x, x, "NE", "FLOAT")


def convert(b: Builder, x: Value, dtype) -> Value:
    """A raw `stablehlo.convert` (see rules/elementwise.py for JAX's conversion semantics)."""
    if np.dtype(dtype) == x.dtype:
        return x
    return b.op("stablehlo.convert", [x], aval(x.shape, dtype))


def bitcast(b: Builder, x: Value, dtype) -> Value:
    return b.op("stablehlo.bitcast_convert", [x], aval(x.shape, dtype))


# ---------------------------------------------------------------------------------------------
# Shape ops


def broadcast_in_dim(b: Builder, x: Value, shape, dims) -> Value:
    return b.op("stablehlo.broadcast_in_dim", [x], aval(shape, x.dtype),
                {"broadcast_dimensions": i64_array(dims)})


def broadcast_to(b: Builder, x: Value, shape) -> Value:
    """JAX's implicit elementwise broadcasting: a rank-0 operand, or size-1 dims of equal rank."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    dims = range(len(x.shape)) if x.shape else ()
    if x.shape and len(x.shape) != len(shape):
        raise ValueError(f"cannot implicitly broadcast {x.shape} to {shape}")
    return broadcast_in_dim(b, x, shape, dims)


def reshape(b: Builder, x: Value, shape) -> Value:
    shape = tuple(shape)
    return x if x.shape == shape else b.op("stablehlo.reshape", [x], aval(shape, x.dtype))


def transpose(b: Builder, x: Value, perm) -> Value:
    perm = tuple(perm)
    if perm == tuple(range(len(perm))):
        return x
    shape = tuple(x.shape[p] for p in perm)
    return b.op("stablehlo.transpose", [x], aval(shape, x.dtype), {"permutation": i64_array(perm)})


def slice_(b: Builder, x: Value, start, limit, strides=None) -> Value:
    strides = tuple(strides) if strides is not None else (1,) * len(start)
    shape = tuple(-(-(hi - lo) // st) for lo, hi, st in zip(start, limit, strides))
    if shape == x.shape:
        return x
    attrs = {"start_indices": i64_array(start), "limit_indices": i64_array(limit),
             "strides": i64_array(strides)}
    return b.op("stablehlo.slice", [x], aval(shape, x.dtype), attrs)


def slice_in_dim(b: Builder, x: Value, start: int, limit: int, stride: int = 1, axis: int = 0):
    starts, limits, strides = [0] * len(x.shape), list(x.shape), [1] * len(x.shape)
    starts[axis], limits[axis], strides[axis] = start, limit, stride
    return slice_(b, x, starts, limits, strides)


def pad(b: Builder, x: Value, pv: Value, lo, hi, interior) -> Value:
    shape = tuple(a + z + s + max(s - 1, 0) * i for s, a, z, i in zip(x.shape, lo, hi, interior))
    attrs = {"edge_padding_low": i64_array(lo), "edge_padding_high": i64_array(hi),
             "interior_padding": i64_array(interior)}
    return b.op("stablehlo.pad", [x, pv], aval(shape, x.dtype), attrs)


def concatenate(b: Builder, xs: Sequence[Value], dim: int) -> Value:
    if len(xs) == 1:
        return xs[0]
    shape = list(xs[0].shape)
    shape[dim] = sum(x.shape[dim] for x in xs)
    return b.op("stablehlo.concatenate", list(xs), aval(shape, xs[0].dtype),
                {"dimension": i64_attr(dim)})


def iota(b: Builder, shape, dtype, dim: int) -> Value:
    return b.op("stablehlo.iota", [], aval(shape, dtype), {"iota_dimension": i64_attr(dim)})


# ---------------------------------------------------------------------------------------------
# Reductions

Body = Callable[[Builder, list, list], list]


def reduce(b: Builder, operands: Sequence[Value], inits: Sequence[Value], axes,
           body: Body) -> list[Value]:
    """Variadic `stablehlo.reduce` over `axes`; `body(b, accs, xs) -> new accs` (rank-0 Values)."""
    axes = tuple(axes)
    out_shape = tuple(s for i, s in enumerate(operands[0].shape) if i not in axes)
    scalars = [aval((), x.dtype) for x in operands]
    with b.region(scalars + scalars) as region:
        n = len(operands)
        outs = body(b, region.args[:n], region.args[n:])
        b.ret(outs, op="stablehlo.return")
    out_avals = [aval(out_shape, x.dtype) for x in operands]
    return b.op("stablehlo.reduce", list(operands) + list(inits), out_avals,
                {"dimensions": i64_array(axes)}, regions=[region])


def monoid_body(name: str) -> Body:
    """The body of a reduction by one binary elementwise op (`add`, `maximum`, `and`, ...)."""
    return lambda b, accs, xs: [binary(b, name, accs[0], xs[0])]
