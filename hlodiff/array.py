"""`hd.Array`: a concrete array, held as a numpy value on host or as a device buffer.

Arrays made eagerly hold numpy values. Results of compiled (`jit`) functions hold device
buffers and copy to host lazily, the first time their values are needed (`np.asarray`, printing,
`.item()`). Operators and methods are attached by `hlodiff.numpy._methods`, shared with tracers.
"""

from __future__ import annotations

import math

import numpy as np

from hlodiff import dtypes


class Array:
    """A concrete array with JAX's semantics (immutable, dtype-canonical, weakly typed or not)."""

    __slots__ = ("_value", "_buffer", "weak_type", "_aval", "__weakref__")
    __array_priority__ = 100

    def __init__(self, value, weak_type: bool = False, buffer=None):
        self._value = value
        self._buffer = buffer
        self.weak_type = weak_type
        self._aval = None

    @classmethod
    def from_buffer(cls, buffer, weak_type: bool = False) -> "Array":
        return cls(None, weak_type, buffer)

    def _fetch(self):
        self._value = self._buffer.to_host()
        return self._value

    @property
    def value(self) -> np.ndarray:
        v = self._value
        return v if v is not None else self._fetch()

    # -- abstract properties -----------------------------------------------------------------
    @property
    def aval(self):
        aval = self._aval
        if aval is None:
            from hlodiff.core import ShapedArray

            aval = self._aval = ShapedArray(self.shape, self.dtype, self.weak_type)
        return aval

    @property
    def shape(self) -> tuple:
        v = self._value
        return v.shape if v is not None else tuple(self._buffer.shape)

    @property
    def dtype(self) -> np.dtype:
        v = self._value
        return v.dtype if v is not None else self._buffer.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __len__(self):
        shape = self.shape
        if not shape:
            raise TypeError("len() of unsized object")
        return shape[0]

    # -- conversion to host values -------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        v = np.asarray(self.value)
        if dtype is not None and np.dtype(dtype) != v.dtype:
            return v.astype(dtype)
        return v.copy() if copy else v

    def __bool__(self):
        return bool(self.value)

    def __int__(self):
        return int(self.value)

    def __float__(self):
        return float(self.value)

    def __complex__(self):
        return complex(self.value)

    def __index__(self):
        if not dtypes.is_integer(self.dtype) and not dtypes.is_bool(self.dtype):
            raise TypeError(f"only integer arrays can be used as an index, got {self.dtype.name}")
        return int(self.value)

    def item(self, *args):
        return np.asarray(self.value).item(*args)

    def tolist(self):
        return np.asarray(self.value).tolist()

    def block_until_ready(self) -> "Array":
        """Waits for the value to be computed (compiled calls return when their work is done)."""
        wait = getattr(self._buffer, "block_until_ready", None)
        if wait is not None:
            wait()
        return self

    def copy_to_host_async(self):
        pass

    def devices(self) -> set:
        """The devices holding this array (host values live on the default CPU device)."""
        from hlodiff.devices import get_device

        return {self._buffer.device if self._buffer is not None else get_device("cpu")}

    def __hash__(self):
        raise TypeError(
            "unhashable type: 'Array'. Arrays are mutable-looking values without a stable hash; "
            "use `.item()` for a scalar or `tuple(np.asarray(x).ravel())` as a key."
        )

    def __reduce__(self):
        return (_rebuild, (np.asarray(self.value), self.weak_type))

    # -- printing ------------------------------------------------------------------------------
    def __repr__(self):
        prefix = "Array("
        dtype_str = f"dtype={self.dtype.name}"
        dtype_str += ", weak_type=True)" if self.weak_type else ")"
        value = np.asarray(self.value)
        if value.size == 0:
            body = f"[], shape={value.shape}"
        else:
            body = np.array2string(value, prefix=prefix, suffix=",", separator=", ")
        width = np.get_printoptions()["linewidth"]
        last_line_len = len(body) - body.rfind("\n") + 1
        sep = " " * len(prefix) if last_line_len + len(dtype_str) + 1 > width else " "
        if sep != " ":
            sep = "\n" + sep
        return f"{prefix}{body},{sep}{dtype_str}"

    def __str__(self):
        return str(np.asarray(self.value))

    def __format__(self, spec):
        if self.ndim == 0:
            return format(self.value[()], spec)
        return format(str(self), spec)


def _rebuild(value, weak_type):
    return Array(value, weak_type)
