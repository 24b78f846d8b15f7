"""Argument handling shared by the numpy API: validation, dtype promotion, rank promotion.

JAX's numpy functions accept arrays, numpy values and Python scalars, promote them on JAX's
lattice (weak Python scalars do not widen arrays), broadcast their ranks numpy-style, and then
bind lax primitives. Everything here is on the eager hot path: keep it lean.
"""

from __future__ import annotations

import numpy as np

from hlodiff import core, dtypes
from hlodiff.config import config
from hlodiff.core import Array, Tracer, get_aval
from hlodiff.prims import elementwise as ew
from hlodiff.prims import shape as sp

_scalar_types = (bool, int, float, complex)


def check_arraylike(name: str, *args) -> None:
    for i, x in enumerate(args):
        if not (isinstance(x, (Array, Tracer, np.ndarray, np.generic) + _scalar_types)
                or hasattr(x, "aval")):
            raise TypeError(
                f"{name} requires ndarray or scalar arguments, got {type(x).__name__} at "
                f"position {i}."
            )


def asarray(x, dtype=None):
    """`x` as an `Array` (or tracer), converted to `dtype` if given."""
    if isinstance(x, (Array, Tracer)):
        return x if dtype is None else astype(x, dtype)
    if isinstance(x, (list, tuple)):
        return _from_sequence(x, dtype)
    check_arraylike("asarray", x)
    aval = get_aval(x)
    target = aval.dtype if dtype is None else dtypes.canonicalize_dtype(dtype)
    weak = aval.weak_type and dtype is None
    return Array(np.asarray(np.asarray(x).astype(target, copy=False)), weak)


def _from_sequence(seq, dtype):
    leaves = _flatten_nested(seq)
    if any(isinstance(x, Tracer) for x in leaves):
        from hlodiff.numpy import stack

        parts = [asarray(x) for x in seq]
        out = stack(parts)
        return out if dtype is None else astype(out, dtype)
    values = [np.asarray(core.to_numpy(x)) if isinstance(x, Array) else x for x in leaves]
    if dtype is None:
        dtype, weak = dtypes.result_type(*values, return_weak_type_flag=True) if values else (
            dtypes.default_float_dtype(), False)
        # A list builds a strong array (JAX: jnp.array([1., 2.]) is float32, not weak).
    else:
        dtype = dtypes.canonicalize_dtype(dtype)
    arr = np.array(_to_numpy_nested(seq), dtype=dtype)
    return Array(arr, False)


def _flatten_nested(seq):
    out = []
    for x in seq:
        if isinstance(x, (list, tuple)):
            out.extend(_flatten_nested(x))
        else:
            out.append(x)
    return out


def _to_numpy_nested(seq):
    if isinstance(seq, (list, tuple)):
        return [_to_numpy_nested(x) for x in seq]
    return np.asarray(core.to_numpy(seq)) if isinstance(seq, Array) else seq


def astype(x, dtype):
    dtype = dtypes.canonicalize_dtype(dtype)
    if isinstance(x, _scalar_types):
        return Array(np.asarray(x, dtype), False)
    if get_aval(x).dtype == dtype and not get_aval(x).weak_type:
        return x
    return ew.convert_element_type(x, dtype, False)


def convert_to(x, dtype, weak: bool):
    """Converts one promoted operand; Python scalars become concrete arrays directly."""
    t = type(x)
    if t is Array:
        if x.dtype == dtype and x.weak_type == weak:
            return x
    elif t in _scalar_types:
        return Array(np.array(x, dtype), weak)
    elif isinstance(x, (np.ndarray, np.generic)):
        return Array(np.asarray(x, dtype), weak)
    else:
        aval = x.aval
        if aval.dtype == dtype and aval.weak_type == weak:
            return x
    return ew.convert_element_type_p.bind(x, new_dtype=dtype, weak_type=weak)


def _same_array_dtypes(args) -> bool:
    """True when all arguments are hlodiff Arrays of one dtype and weak flag (the fast path)."""
    first = args[0]
    if type(first) is not Array:
        return False
    dtype, weak = first.dtype, first.weak_type
    for x in args[1:]:
        if type(x) is not Array or x.weak_type != weak or x.dtype != dtype:
            return False
    return dtypes.canonicalize_dtype(dtype) == dtype


def promote_dtypes(name: str, *args):
    """Converts all arguments to their common dtype on JAX's lattice."""
    if _same_array_dtypes(args):
        return list(args)
    check_arraylike(name, *args)
    dtype, weak = dtypes.result_type(*args, return_weak_type_flag=True)
    return [convert_to(x, dtype, weak) for x in args]


_INEXACT_OF: dict = {}


def _inexact_of(dtype):
    key = (dtype, config.enable_x64)
    out = _INEXACT_OF.get(key)
    if out is None:
        out = dtypes.to_inexact_dtype(dtype)
        if not dtypes.is_inexact(out):
            out = dtypes.default_float_dtype()
        out = _INEXACT_OF[key] = dtypes.canonicalize_dtype(out)
    return out


def promote_dtypes_inexact(name: str, *args):
    if _same_array_dtypes(args) and args[0].dtype.kind in "fcV":
        return list(args)
    check_arraylike(name, *args)
    dtype, weak = dtypes.result_type(*args, return_weak_type_flag=True)
    return [convert_to(x, _inexact_of(dtype), weak) for x in args]


def promote_dtypes_numeric(name: str, *args):
    """Like promote_dtypes, but bool becomes the default int (for arithmetic like sum)."""
    out = promote_dtypes(name, *args)
    if out and get_aval(out[0]).dtype == np.bool_:
        return [convert_to(x, dtypes.default_int_dtype(), False) for x in out]
    return out


def broadcast_shapes(*shapes) -> tuple:
    """numpy's broadcasting; raises ValueError like JAX for incompatible shapes."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(
            f"Incompatible shapes for broadcasting: shapes={[tuple(s) for s in shapes]}"
        ) from None


def promote_shapes(name: str, *args):
    """Gives operands equal rank (rank-0 operands stay rank 0), adding leading size-1 dims."""
    shapes = [x.shape for x in args]
    if len(shapes) == 2 and shapes[0] == shapes[1]:
        return list(args)
    ranks = {len(s) for s in shapes if s}
    if len(ranks) <= 1:
        if len(ranks) == 1:
            broadcast_shapes(*shapes)
        return list(args)
    result = broadcast_shapes(*shapes)
    rank = len(result)
    out = []
    for x, s in zip(args, shapes):
        if s and len(s) < rank:
            x = sp.broadcast_in_dim(x, (1,) * (rank - len(s)) + s,
                                    tuple(range(rank - len(s), rank)))
        out.append(x)
    return out


def promote_args(name: str, *args):
    return promote_shapes(name, *promote_dtypes(name, *args))


def promote_args_inexact(name: str, *args):
    return promote_shapes(name, *promote_dtypes_inexact(name, *args))


def promote_args_numeric(name: str, *args):
    return promote_shapes(name, *promote_dtypes_numeric(name, *args))


def canonicalize_axis(axis: int, ndim: int) -> int:
    axis = int(axis)
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise ValueError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    return axis % ndim if ndim else 0


def canonicalize_axes(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    axes = tuple(canonicalize_axis(a, ndim) for a in axis)
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in {axis}")
    return axes

