"""Array creation: array, asarray, zeros, ones, full, *_like, eye, arange, linspace, meshgrid...

Eager constants are numpy values wrapped in `Array` (broadcast views where possible, so `zeros`
allocates one element). Weak types follow JAX: `full(3, 2.0)` and `zeros_like(2.0)` are weak,
anything given a `dtype` is strong, and `array([1, 2.5])` (a list) is strong.
"""

from __future__ import annotations

import builtins

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Array, Tracer, get_aval
from hlodiff.numpy._core import asarray as _asarray
from hlodiff.numpy._core import check_arraylike
from hlodiff.prims import elementwise as ew
from hlodiff.prims import shape as sp

_CONVERTIBLE = (Array, Tracer, list, tuple, np.ndarray, np.generic, bool, int, float, complex)


def array(object, dtype=None, copy=True, order=None, ndmin=0):
    """An array from an array, a Python scalar or a (nested) list or tuple.

    Python scalars give weakly typed arrays, lists and tuples strong ones (`array([1, 2.5])` is
    float32). `ndmin` prepends size-1 dimensions.
    """
    out = asarray(object, dtype)
    nd = out.ndim
    if ndmin > nd:
        out = sp.reshape(out, (1,) * (ndmin - nd) + out.shape)
    return out


def asarray(a, dtype=None, order=None, copy=None):
    """`a` as an array (no copy for arrays of the right dtype).

    Raises:
      TypeError: `a` is not array-like (a string, a dict, an arbitrary object).
    """
    if type(a) is bool and dtype is None:  # Python bools are strong, as in JAX
        return Array(np.asarray(a), False)
    if isinstance(a, _CONVERTIBLE):
        return _asarray(a, dtype)
    if hasattr(a, "__array__") and not isinstance(a, (str, bytes)):
        return _asarray(np.asarray(a), dtype)
    raise TypeError(
        f"asarray: cannot convert a value of type {type(a).__name__} to an array; "
        "pass an array, a number, or a (nested) list of numbers."
    )


def astype(x, dtype, /, *, copy=False, device=None):
    """`x` converted to `dtype` (strongly typed, as `x.astype(dtype)`)."""
    check_arraylike("astype", x)
    return _asarray(asarray(x), dtype)


def _dtype_or_default(dtype, default=None):
    if dtype is None:
        return default if default is not None else dtypes.default_float_dtype()
    return dtypes.canonicalize_dtype(dtype)


def _shape(shape):
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return sp._shape_tuple(shape)


def _constant(shape, value, dtype, weak=False):
    """A broadcast view of one value: no per-element allocation."""
    return Array(np.broadcast_to(np.array(value, dtype), shape), weak)


def zeros(shape, dtype=None, *, device=None):
    """An array of zeros (float32 by default)."""
    return _constant(_shape(shape), 0, _dtype_or_default(dtype))


def ones(shape, dtype=None, *, device=None):
    """An array of ones (float32 by default)."""
    return _constant(_shape(shape), 1, _dtype_or_default(dtype))


def empty(shape, dtype=None, *, device=None):
    """Like `zeros`: arrays are immutable, so there is nothing to leave uninitialized."""
    return zeros(shape, dtype)


def full(shape, fill_value, dtype=None, *, device=None):
    """An array of `shape` filled with `fill_value` (broadcast if it is an array).

    Without `dtype`, a Python scalar gives a weakly typed result, as in JAX: `full(3, 2.0)`.
    """
    check_arraylike("full", fill_value)
    shape = _shape(shape)
    if type(fill_value) is bool and dtype is None:
        dtype = dtypes.bool_  # Python bools are strong
    if get_aval(fill_value).shape:
        return broadcast_to(asarray(fill_value, dtype), shape)
    return sp.full(shape, fill_value, dtype)


def _like(a, dtype, shape):
    aval = get_aval(a)
    return (
        aval.shape if shape is None else _shape(shape),
        aval.dtype if dtype is None else dtypes.canonicalize_dtype(dtype),
        dtype is None and dtypes.is_weakly_typed(a),  # (Python bools are strong)
    )


def zeros_like(a, dtype=None, shape=None, *, device=None):
    """Zeros with `a`'s shape and dtype (and weak type, unless `dtype` is given)."""
    check_arraylike("zeros_like", a)
    return _fill_like(a, 0, dtype, shape)


def ones_like(a, dtype=None, shape=None, *, device=None):
    """Ones with `a`'s shape and dtype (and weak type, unless `dtype` is given)."""
    check_arraylike("ones_like", a)
    return _fill_like(a, 1, dtype, shape)


def full_like(a, fill_value, dtype=None, shape=None, *, device=None):
    """`fill_value` with `a`'s shape and dtype (and weak type, unless `dtype` is given)."""
    check_arraylike("full_like", a, fill_value)
    return _fill_like(a, fill_value, dtype, shape)


def _fill_like(a, fill_value, dtype, shape):
    shape, dtype, weak = _like(a, dtype, shape)
    if isinstance(fill_value, Tracer) or get_aval(fill_value).shape:
        value = ew.convert_element_type(_asarray(fill_value), dtype, weak)
        return broadcast_to(value, shape)
    return _constant(shape, np.asarray(fill_value).astype(dtype), dtype, weak)


empty_like = zeros_like


def _concrete_int(name, value, what):
    """`value` as a Python int; arguments that set a shape must be concrete."""
    if isinstance(value, Tracer) and value.to_concrete_value() is None:
        from hlodiff.errors import ConcretizationTypeError

        raise ConcretizationTypeError(value, f"The {what} argument of {name}")
    return int(value)


def eye(N, M=None, k=0, dtype=None, *, device=None):
    """A 2-D array with ones on the k-th diagonal (float32 by default)."""
    n = _concrete_int("eye", N, "N")
    m = n if M is None else _concrete_int("eye", M, "M")
    dtype = _dtype_or_default(dtype)
    return Array(np.eye(n, m, _concrete_int("eye", k, "k"), dtype=dtype), False)


def identity(n, dtype=None):
    """The n x n identity matrix."""
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):
    """Ones at and below the k-th diagonal."""
    n = _concrete_int("tri", N, "N")
    m = n if M is None else _concrete_int("tri", M, "M")
    return Array(np.tri(n, m, int(k), dtype=_dtype_or_default(dtype)), False)


def arange(start, stop=None, step=None, dtype=None, *, device=None):
    """Evenly spaced values in [start, stop), like numpy.arange.

    The arguments must be concrete (the size depends on them). Integers give int32, any float
    gives float32; the result is never weak.
    """
    vals = [None if v is None else _scalar_value("arange", v) for v in (start, stop, step)]
    if dtype is None:
        dtype = dtypes.result_type(*(v for v in vals if v is not None))
    dtype = dtypes.canonicalize_dtype(dtype)
    start, stop, step = vals
    if stop is None:
        start, stop = 0, start
    return Array(np.arange(start, stop, 1 if step is None else step, dtype=dtype), False)


def _scalar_value(name, v):
    if isinstance(v, Tracer):
        value = v.to_concrete_value()
        if value is None:
            from hlodiff.errors import ConcretizationTypeError

            raise ConcretizationTypeError(v, f"An argument of {name} (it sets the size)")
        v = value
    check_arraylike(name, v)
    if isinstance(v, (Array, np.ndarray, np.generic)):
        if np.ndim(v) != 0:
            raise ValueError(f"{name}: arguments must be scalars, got shape {np.shape(v)}")
        return np.asarray(v)[()]
    return v


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    """`num` evenly spaced samples over [start, stop] (over [start, stop) without endpoint).

    `start` and `stop` may be arrays (the samples run along `axis`) and may be traced.
    """
    num = _concrete_int("linspace", num, "num")
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    check_arraylike("linspace", start, stop)
    out_dtype = _dtype_or_default(dtype, dtypes.default_float_dtype())
    comp = out_dtype if dtypes.is_inexact(out_dtype) else dtypes.default_float_dtype()
    start = ew.convert_element_type(_asarray(start), comp, False)
    stop = ew.convert_element_type(_asarray(stop), comp, False)
    shape = np.broadcast_shapes(start.shape, stop.shape)
    start, stop = broadcast_to(start, shape), broadcast_to(stop, shape)
    div = (num - 1) if endpoint else num
    delta = ew.sub(stop, start)
    step = ew.div(delta, np.array(div, comp)) if div > 0 else ew.mul(delta, np.array(np.nan, comp))
    out = _linspace_body(start, stop, delta, num, div, endpoint, shape)
    if not dtypes.is_inexact(out_dtype):
        out = ew.floor(out)
    out = sp.moveaxis(
        ew.convert_element_type(out, out_dtype, False), 0, _axis_in(axis, len(shape) + 1)
    )
    return (out, step) if retstep else out


def _linspace_body(start, stop, delta, num, div, endpoint, shape):
    """start + i * delta / div for i < num, with the last sample exactly `stop`."""
    dims = tuple(range(1, len(shape) + 1))
    frac = np.arange(num, dtype=start.dtype) / np.array(builtins.max(div, 1), start.dtype)
    frac = sp.broadcast_in_dim(Array(frac, False), (num,) + shape, (0,))
    body = ew.add(
        sp.broadcast_in_dim(start, (num,) + shape, dims),
        ew.mul(frac, sp.broadcast_in_dim(delta, (num,) + shape, dims)),
    )
    if endpoint and num > 1:
        head = sp.slice_in_dim(body, 0, num - 1)
        body = sp.concatenate([head, sp.broadcast_in_dim(stop, (1,) + shape, dims)], 0)
    return body


def _axis_in(axis, ndim):
    from hlodiff.numpy._core import canonicalize_axis

    return canonicalize_axis(axis, ndim)


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """base ** linspace(start, stop, num)."""
    from hlodiff.numpy._ufuncs import power

    out = power(base, linspace(start, stop, num, endpoint, dtype=None, axis=axis))
    return out if dtype is None else ew.convert_element_type(out, dtype, False)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """Samples evenly spaced on a log scale from start to stop (both nonzero)."""
    from hlodiff.numpy._ufuncs import exp, log

    out = exp(linspace(log(start), log(stop), num, endpoint, axis=axis))
    return out if dtype is None else ew.convert_element_type(out, dtype, False)


def broadcast_to(array, shape):
    """`array` broadcast to `shape` (numpy's rules).

    Raises:
      ValueError: the shapes are incompatible.
    """
    check_arraylike("broadcast_to", array)
    x = _asarray(array)
    shape = _shape(shape)
    in_shape = x.shape
    if in_shape == shape:
        return x
    lead = len(shape) - len(in_shape)
    if lead < 0 or any(a not in (1, b) for a, b in zip(in_shape, shape[lead:])):
        raise ValueError(
            f"Incompatible shapes for broadcasting: {in_shape} and requested shape {shape}"
        )
    return sp.broadcast_in_dim(x, shape, tuple(range(lead, len(shape))))


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate arrays from 1-D coordinate vectors (`indexing='xy'` swaps the first two)."""
    check_arraylike("meshgrid", *xi)
    if indexing not in ("xy", "ij"):
        raise ValueError(f"Valid values for indexing are 'xy' and 'ij', got {indexing}")
    args = [_asarray(x) for x in xi]
    if any(a.ndim != 1 for a in args):
        raise ValueError(
            f"Arguments to hlodiff.numpy.meshgrid must be 1D, got shapes {[a.shape for a in args]}"
        )
    if indexing == "xy" and len(args) >= 2:
        args[0], args[1] = args[1], args[0]
    shape = tuple(1 if sparse else a.shape[0] for a in args)
    out = []
    for i, a in enumerate(args):
        target = shape[:i] + (a.shape[0],) + shape[i + 1 :] if sparse else shape
        out.append(sp.broadcast_in_dim(a, target, (i,)))
    if indexing == "xy" and len(args) >= 2:
        out[0], out[1] = out[1], out[0]
    return out


def indices(dimensions, dtype=None, sparse=False):
    """The index grids of an array of shape `dimensions` (stacked unless `sparse`)."""
    dtype = _dtype_or_default(dtype, dtypes.default_int_dtype())
    dims = tuple(int(d) for d in dimensions)
    out = np.indices(dims, dtype=dtype, sparse=sparse)
    return tuple(Array(o, False) for o in out) if sparse else Array(out, False)


def _index_pair(rows, cols):
    int_dtype = dtypes.default_int_dtype()
    return Array(rows.astype(int_dtype), False), Array(cols.astype(int_dtype), False)


def tril_indices(n, k=0, m=None):
    """The (row, column) indices of the lower triangle of an n x m array."""
    return _index_pair(*np.tril_indices(int(n), int(k), None if m is None else int(m)))


def triu_indices(n, k=0, m=None):
    """The (row, column) indices of the upper triangle of an n x m array."""
    return _index_pair(*np.triu_indices(int(n), int(k), None if m is None else int(m)))


def diag_indices(n, ndim=2):
    """The indices of the main diagonal of an n x ... x n array."""
    idx = Array(np.arange(int(n), dtype=dtypes.default_int_dtype()), False)
    return (idx,) * int(ndim)


__all__ = [
    n
    for n, v in list(globals().items())
    if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == __name__
]
