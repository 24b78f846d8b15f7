"""Operators and methods shared by `Array` and every `Tracer` (x + y, x @ y, x.sum(), x.T...).

Binary operators on an eager float array and a Python scalar take a fast path straight to numpy
(the result is exactly what the primitive would give: NEP 50 keeps the array's dtype and a weak
scalar never widens it), because `x * 2.0` is the most common eager operation there is.
"""

from __future__ import annotations

import operator

import numpy as np

from hlodiff import core
from hlodiff.core import Array, Tracer, eval_trace
from hlodiff.numpy import _creation, _indexing, _linalg_ops, _reductions, _shape_ops
from hlodiff.numpy import _ufuncs as uf

_ctx = core._ctx
_fast_scalars = (float, int)
_INEXACT = "fc"


def _fast_binary(np_op, slow, reflected=False):
    def method(self, other):
        if type(other) in _fast_scalars and _ctx.trace is eval_trace and type(self) is Array:
            v = self._value
            if v is not None and v.dtype.kind in _INEXACT:
                out = np_op(other, v) if reflected else np_op(v, other)
                return Array(out, self.weak_type)
        if not _is_operand(other):
            return NotImplemented
        return slow(other, self) if reflected else slow(self, other)

    return method


def _binary(fn, reflected=False):
    def method(self, other):
        if not _is_operand(other):
            return NotImplemented
        return fn(other, self) if reflected else fn(self, other)

    return method


def _is_operand(x) -> bool:
    return isinstance(x, (Array, Tracer, np.ndarray, np.generic, bool, int, float, complex))


_BASIC = (int, slice)


def _is_basic_index(idx, shape) -> bool:
    """In-range ints and slices (and tuples of them): numpy's basic indexing, same as JAX's."""
    items = idx if type(idx) is tuple else (idx,)
    if len(items) > len(shape):
        return False
    for i, d in zip(items, shape):
        t = type(i)
        if t is int:
            if not -d <= i < d:
                return False
        elif t is not slice:
            return False
    return True


def _getitem(self, idx):
    if type(self) is Array and _ctx.trace is eval_trace and self._value is not None and (
            _is_basic_index(idx, self._value.shape)):
        return Array(self._value[idx], self.weak_type)  # eager fast path: a numpy view
    return _indexing.getitem(self, idx)


def _iter(self):
    shape = self.shape
    if not shape:
        raise TypeError("iteration over a 0-d array")
    return (_indexing.getitem(self, i) for i in range(shape[0]))


def _astype(self, dtype, copy=False):
    return _creation.asarray(self, dtype)


def _reshape(self, *shape, order="C"):
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return _shape_ops.reshape(self, shape, order)


def _transpose(self, *axes):
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return _shape_ops.transpose(self, axes or None)


def _matmul_check(self, other):
    return _linalg_ops.matmul(self, other)


_METHODS = {
    "__add__": _fast_binary(operator.add, uf.add),
    "__radd__": _fast_binary(operator.add, uf.add, reflected=True),
    "__sub__": _fast_binary(operator.sub, uf.subtract),
    "__rsub__": _fast_binary(operator.sub, uf.subtract, reflected=True),
    "__mul__": _fast_binary(operator.mul, uf.multiply),
    "__rmul__": _fast_binary(operator.mul, uf.multiply, reflected=True),
    "__truediv__": _fast_binary(operator.truediv, uf.true_divide),
    "__rtruediv__": _fast_binary(operator.truediv, uf.true_divide, reflected=True),
    "__floordiv__": _binary(uf.floor_divide),
    "__rfloordiv__": _binary(uf.floor_divide, True),
    "__mod__": _binary(uf.remainder),
    "__rmod__": _binary(uf.remainder, True),
    "__pow__": _binary(uf.power),
    "__rpow__": _binary(uf.power, True),
    "__matmul__": _binary(_linalg_ops.matmul),
    "__rmatmul__": _binary(_linalg_ops.matmul, True),
    "__and__": _binary(uf.bitwise_and),
    "__rand__": _binary(uf.bitwise_and, True),
    "__or__": _binary(uf.bitwise_or),
    "__ror__": _binary(uf.bitwise_or, True),
    "__xor__": _binary(uf.bitwise_xor),
    "__rxor__": _binary(uf.bitwise_xor, True),
    "__lshift__": _binary(uf.left_shift),
    "__rlshift__": _binary(uf.left_shift, True),
    "__rshift__": _binary(uf.right_shift),
    "__rrshift__": _binary(uf.right_shift, True),
    "__eq__": _binary(uf.equal),
    "__ne__": _binary(uf.not_equal),
    "__lt__": _binary(uf.less),
    "__le__": _binary(uf.less_equal),
    "__gt__": _binary(uf.greater),
    "__ge__": _binary(uf.greater_equal),
    "__neg__": lambda self: uf.negative(self),
    "__pos__": lambda self: uf.positive(self),
    "__abs__": lambda self: uf.absolute(self),
    "__invert__": lambda self: uf.invert(self),
    "__divmod__": lambda self, o: (uf.floor_divide(self, o), uf.remainder(self, o)),
    "__rdivmod__": lambda self, o: (uf.floor_divide(o, self), uf.remainder(o, self)),
    "__round__": lambda self, ndigits=None: uf.round(self, ndigits or 0),
    "__getitem__": _getitem,
    "__iter__": _iter,
    "astype": _astype,
    "reshape": _reshape,
    "transpose": _transpose,
    "ravel": lambda self, order="C": _shape_ops.ravel(self),
    "flatten": lambda self, order="C": _shape_ops.ravel(self),
    "squeeze": lambda self, axis=None: _shape_ops.squeeze(self, axis),
    "swapaxes": lambda self, a, b: _shape_ops.swapaxes(self, a, b),
    "repeat": lambda self, repeats, axis=None: _shape_ops.repeat(self, repeats, axis),
    "sum": _reductions.sum,
    "prod": _reductions.prod,
    "mean": _reductions.mean,
    "var": _reductions.var,
    "std": _reductions.std,
    "max": _reductions.max,
    "min": _reductions.min,
    "all": _reductions.all,
    "any": _reductions.any,
    "argmax": _reductions.argmax,
    "argmin": _reductions.argmin,
    "cumsum": _reductions.cumsum,
    "cumprod": _reductions.cumprod,
    "ptp": _reductions.ptp,
    "dot": lambda self, b: _linalg_ops.dot(self, b),
    "conj": lambda self: uf.conjugate(self),
    "conjugate": lambda self: uf.conjugate(self),
    "clip": lambda self, min=None, max=None: uf.clip(self, min, max),  # noqa: A002
    "round": lambda self, decimals=0: uf.round(self, decimals),
    "trace": lambda self, offset=0, axis1=0, axis2=1: _linalg_ops.trace(self, offset, axis1,
                                                                         axis2),
    "diagonal": lambda self, offset=0, axis1=0, axis2=1: _linalg_ops.diagonal(self, offset,
                                                                               axis1, axis2),
    "sort": lambda self, axis=-1: _indexing.sort(self, axis),
    "argsort": lambda self, axis=-1: _indexing.argsort(self, axis),
    "take": lambda self, indices, axis=None, mode=None: _indexing.take(self, indices, axis,
                                                                       mode=mode),
    "nonzero": lambda self: _indexing.nonzero(self),
}

_PROPERTIES = {
    "T": lambda self: _shape_ops.transpose(self),
    "mT": lambda self: _shape_ops.matrix_transpose(self),
    "real": lambda self: uf.real(self),
    "imag": lambda self: uf.imag(self),
    "at": lambda self: _indexing.IndexUpdateHelper(self),
    "flat": lambda self: iter(_shape_ops.ravel(self)),
}


def install(cls) -> None:
    for name, fn in _METHODS.items():
        setattr(cls, name, fn)
    for name, fn in _PROPERTIES.items():
        setattr(cls, name, property(fn))


install(Array)
install(Tracer)
