"""Scalar types like `jnp.float32`: usable as dtypes (`hnp.zeros(3, hnp.float32)`) and callable
(`hnp.float32(2.0)` gives a 0-d float32 Array, `hnp.int32([1, 2])` a converted array)."""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes


class ScalarType:
    """A dtype that can also be called to build arrays of that dtype."""

    def __init__(self, name: str, dtype):
        self.__name__ = name
        self.dtype = np.dtype(dtype)

    def __call__(self, x):
        from hlodiff.numpy._creation import asarray

        return asarray(x, self.dtype)

    def __eq__(self, other):
        try:
            return self.dtype == np.dtype(other)
        except TypeError:
            return NotImplemented

    def __hash__(self):
        return hash(self.dtype)

    def __repr__(self):
        return f"<class 'hlodiff.numpy.{self.__name__}'>"


def _make(name, dtype):
    return ScalarType(name, dtype)


bool_ = _make("bool_", np.bool_)
int8, int16, int32, int64 = (_make(f"int{b}", f"int{b}") for b in (8, 16, 32, 64))
uint8, uint16, uint32, uint64 = (_make(f"uint{b}", f"uint{b}") for b in (8, 16, 32, 64))
float16 = _make("float16", np.float16)
bfloat16 = _make("bfloat16", dtypes.bfloat16)
float32 = _make("float32", np.float32)
float64 = _make("float64", np.float64)
complex64 = _make("complex64", np.complex64)
complex128 = _make("complex128", np.complex128)

__all__ = ["ScalarType", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16",
           "uint32", "uint64", "float16", "bfloat16", "float32", "float64", "complex64",
           "complex128"]
