"""Array creation: array, zeros, ones, full, eye, arange, linspace, *_like."""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Array, Tracer, get_aval
from hlodiff.numpy._core import asarray as _asarray
from hlodiff.numpy._core import check_arraylike
from hlodiff.prims import elementwise as ew
from hlodiff.prims import shape as sp


def array(object, dtype=None, copy=True, order=None, ndmin=0):  # noqa: A002
    """Creates an array (Python scalars give weakly typed arrays, lists strong ones)."""
    out = asarray(object, dtype)
    if ndmin > get_aval(out).ndim:
        out = sp.reshape(out, (1,) * (ndmin - get_aval(out).ndim) + get_aval(out).shape)
    return out


def asarray(a, dtype=None, order=None, copy=None):
    if isinstance(a, (Array, Tracer, list, tuple, np.ndarray, np.generic, bool, int, float,
                      complex)):
        return _asarray(a, dtype)
    if hasattr(a, "__array__"):
        return _asarray(np.asarray(a), dtype)
    raise TypeError(f"asarray: cannot convert {type(a).__name__} to an array.")


def _dtype_or_default(dtype, default=None):
    if dtype is None:
        return default if default is not None else dtypes.default_float_dtype()
    return dtypes.canonicalize_dtype(dtype)


def _shape(shape):
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return sp._shape_tuple(shape)


def zeros(shape, dtype=None):
    return sp.full(_shape(shape), 0, _dtype_or_default(dtype))


def ones(shape, dtype=None):
    return sp.full(_shape(shape), 1, _dtype_or_default(dtype))


def empty(shape, dtype=None):
    return zeros(shape, dtype)


def full(shape, fill_value, dtype=None):
    check_arraylike("full", fill_value)
    shape = _shape(shape)
    if get_aval(fill_value).shape:
        return broadcast_to(asarray(fill_value, dtype), shape)
    if dtype is None:
        dtype = dtypes.dtype(fill_value)
    return sp.full(shape, fill_value, dtypes.canonicalize_dtype(dtype))


def _like(a, dtype, shape):
    aval = get_aval(a)
    return (aval.shape if shape is None else _shape(shape),
            aval.dtype if dtype is None else dtypes.canonicalize_dtype(dtype),
            aval.weak_type and dtype is None)


def zeros_like(a, dtype=None, shape=None):
    check_arraylike("zeros_like", a)
    shape, dtype, weak = _like(a, dtype, shape)
    return Array(np.broadcast_to(np.zeros((), dtype), shape), weak)


def ones_like(a, dtype=None, shape=None):
    check_arraylike("ones_like", a)
    shape, dtype, weak = _like(a, dtype, shape)
    return Array(np.broadcast_to(np.ones((), dtype), shape), weak)


def full_like(a, fill_value, dtype=None, shape=None):
    check_arraylike("full_like", a, fill_value)
    shape, dtype, weak = _like(a, dtype, shape)
    if isinstance(fill_value, Tracer):
        return sp.broadcast_in_dim(ew.convert_element_type(fill_value, dtype, weak), shape, ())
    value = np.asarray(np.asarray(fill_value).astype(dtype))
    return Array(np.broadcast_to(value, shape), weak)


empty_like = zeros_like


def eye(N, M=None, k=0, dtype=None):
    dtype = _dtype_or_default(dtype)
    return Array(np.eye(int(N), None if M is None else int(M), int(k), dtype=dtype), False)


def identity(n, dtype=None):
    return eye(n, dtype=dtype)


def arange(start, stop=None, step=None, dtype=None):
    """Like numpy.arange; arguments must be concrete (the size depends on them)."""
    for v in (start, stop, step):
        if isinstance(v, Tracer) and v.to_concrete_value() is None:
            from hlodiff.errors import ConcretizationTypeError

            raise ConcretizationTypeError(v, "The size argument of arange")
    vals = [np.asarray(v).item() if isinstance(v, (Array, Tracer)) else v
            for v in (start, stop, step)]
    start, stop, step = vals
    if dtype is None:
        args = [v for v in (start, stop, step) if v is not None]
        dtype = dtypes.result_type(*args)
    dtype = dtypes.canonicalize_dtype(dtype)
    if stop is None:
        out = np.arange(start, dtype=dtype) if step is None else np.arange(0, start, step,
                                                                          dtype=dtype)
    else:
        out = np.arange(start, stop, 1 if step is None else step, dtype=dtype)
    return Array(out, False)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """`num` evenly spaced samples over [start, stop] (traced endpoints allowed)."""
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    check_arraylike("linspace", start, stop)
    out_dtype = _dtype_or_default(dtype, dtypes.default_float_dtype())
    comp = dtypes.to_inexact_dtype(out_dtype) if not dtypes.is_inexact(out_dtype) else out_dtype
    start_a = ew.convert_element_type(_asarray(start), comp, False)
    stop_a = ew.convert_element_type(_asarray(stop), comp, False)
    div = (num - 1) if endpoint else num
    steps = np.arange(num, dtype=comp)
    if get_aval(start_a).shape or get_aval(stop_a).shape:
        return _linspace_nd(start_a, stop_a, num, div, endpoint, retstep, out_dtype, axis)
    delta = ew.sub(stop_a, start_a)
    step = ew.div(delta, ew._const(delta, div)) if div > 0 else ew.mul(delta, ew._const(delta,
                                                                                         np.nan))
    body = ew.add(start_a, ew.mul(Array(steps, False), step)) if num else Array(
        np.zeros(0, comp), False)
    if endpoint and num > 1:
        body = _set_last(body, stop_a)
    out = ew.convert_element_type(body, out_dtype, False)
    return (out, step) if retstep else out


def _set_last(body, value):
    n = get_aval(body).shape[0]
    head = sp.slice_in_dim(body, 0, n - 1)
    return sp.concatenate([head, sp.reshape(value, (1,))], 0)


def _linspace_nd(start, stop, num, div, endpoint, retstep, out_dtype, axis):
    shape = np.broadcast_shapes(get_aval(start).shape, get_aval(stop).shape)
    start = broadcast_to(start, shape)
    stop = broadcast_to(stop, shape)
    frac = np.arange(num, dtype=get_aval(start).dtype) / max(div, 1)
    frac_b = sp.broadcast_in_dim(Array(frac, False), (num,) + shape, (0,))
    delta = ew.sub(stop, start)
    body = ew.add(sp.broadcast_in_dim(start, (num,) + shape, tuple(range(1, len(shape) + 1))),
                  ew.mul(frac_b, sp.broadcast_in_dim(delta, (num,) + shape,
                                                     tuple(range(1, len(shape) + 1)))))
    out = sp.moveaxis(ew.convert_element_type(body, out_dtype, False), 0, axis)
    step = ew.div(delta, ew._const(delta, max(div, 1)))
    return (out, step) if retstep else out


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    from hlodiff.numpy._ufuncs import power

    return power(base, linspace(start, stop, num, endpoint, dtype=dtype, axis=axis))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    from hlodiff.numpy._ufuncs import exp, log

    return exp(linspace(log(start), log(stop), num, endpoint, dtype=dtype, axis=axis))


def broadcast_to(array, shape):
    check_arraylike("broadcast_to", array)
    x = _asarray(array)
    shape = _shape(shape)
    in_shape = get_aval(x).shape
    if in_shape == shape:
        return x
    if len(in_shape) > len(shape):
        raise ValueError(f"Cannot broadcast array of shape {in_shape} to shape {shape}: the "
                         "target has fewer dimensions.")
    lead = len(shape) - len(in_shape)
    for a, b in zip(in_shape, shape[lead:]):
        if a not in (1, b):
            raise ValueError(f"Incompatible shapes for broadcasting: {in_shape} and requested "
                             f"shape {shape}")
    return sp.broadcast_in_dim(x, shape, tuple(range(lead, len(shape))))


def tri(N, M=None, k=0, dtype=None):
    dtype = _dtype_or_default(dtype)
    return Array(np.tri(int(N), None if M is None else int(M), int(k), dtype=dtype), False)
