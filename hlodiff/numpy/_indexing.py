"""numpy-style indexing on lax primitives: `x[idx]`, `x.at[idx]` updates, take, sort, nonzero...

`x[idx]` follows JAX: static ints, slices, None and Ellipsis become `slice` (+ `rev`, `squeeze`,
`expand_dims`); traced scalar indices become one `dynamic_slice` (clamped); anything else
(integer arrays, boolean masks, strided slices mixed with arrays) becomes one `gather`, with
numpy's rule for where the advanced dimensions go. Out-of-bounds array indices clamp on
retrieval and are dropped on update, as in JAX; static Python ints out of bounds raise.
"""

from __future__ import annotations

import enum
import itertools
import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from hlodiff import core, dtypes
from hlodiff.core import Array, Tracer, get_aval
from hlodiff.errors import ConcretizationTypeError, NonConcreteBooleanIndexError
from hlodiff.numpy._core import asarray, canonicalize_axis, promote_dtypes
from hlodiff.prims import elementwise as ew
from hlodiff.prims import indexing as ix
from hlodiff.prims import reduce as rp
from hlodiff.prims import shape as sp

_Mode = ix.GatherScatterMode


# ---------------------------------------------------------------------------------------------
# Parsing an index against a shape


class _Kind(enum.Enum):
    NONE = "none"
    ELLIPSIS = "ellipsis"
    INT = "int"  # a static Python / numpy integer
    SLICE = "slice"
    BOOL = "bool"  # a boolean mask or scalar
    ARRAY = "array"  # an integer array (numpy, concrete or traced), 0-d included


class _Parsed(NamedTuple):
    index: Any
    kind: _Kind
    axes: tuple  # the axes of x this entry consumes


def _as_tuple(idx) -> tuple:
    if isinstance(idx, tuple):
        return idx
    if isinstance(idx, (list, range)):
        raise TypeError(
            "Using a non-tuple sequence for multidimensional indexing is not allowed; use "
            "`arr[array(seq)]` instead of `arr[seq]` (or `arr[tuple(seq)]` for one index per "
            "dimension). See https://github.com/jax-ml/jax/issues/4564.")
    return (idx,)


def _classify(i, position):
    """(index value, kind): lists become arrays; concrete arrays become numpy values."""
    if i is None:
        return None, _Kind.NONE
    if i is Ellipsis:
        return i, _Kind.ELLIPSIS
    if isinstance(i, slice):
        return _static_slice_entries(i, position), _Kind.SLICE
    if isinstance(i, (bool, np.bool_)):
        return bool(i), _Kind.BOOL
    if isinstance(i, (int, np.integer)):
        return i, _Kind.INT
    if isinstance(i, (list, tuple, range)):
        i = np.zeros(0, np.int32) if len(i) == 0 else asarray(list(i))
    if isinstance(i, (Array, np.ndarray)):
        i = np.asarray(core.to_numpy(i))
    if isinstance(i, (np.ndarray, Tracer)):
        dtype = get_aval(i).dtype if isinstance(i, Tracer) else i.dtype
        if dtypes.is_bool(dtype):
            return i, _Kind.BOOL
        if dtypes.is_integer(dtype):
            return i, _Kind.ARRAY
        raise TypeError(f"Indexer must have integer or boolean type, got indexer with type "
                        f"{np.dtype(dtype).name} at position {position}, indexer value {i!r}")
    if isinstance(i, (float, complex, np.generic)):
        raise TypeError(f"Indexer must have integer or boolean type, got indexer with type "
                        f"{np.dtype(type(i)).name} at position {position}, indexer value {i}")
    if isinstance(i, str):
        raise TypeError(f"hlodiff does not support string indexing; got {i!r}")
    raise IndexError("only integers, slices (`:`), ellipsis (`...`), newaxis (`None`) and "
                     f"integer or boolean arrays are valid indices. Got {i!r}")


def _static_slice_entries(s: slice, position) -> slice:
    def entry(v):
        if v is None:
            return None
        try:
            return operator.index(v)
        except TypeError:
            raise IndexError(
                f"Slice entries must be static integers. Got {s} at position {position}. For a "
                "traced start, use `lax.dynamic_slice` (or `lax.dynamic_slice_in_dim`), which "
                "takes traced starts and static sizes.") from None
    return slice(entry(s.start), entry(s.stop), entry(s.step))


def _parse(idx, shape) -> list[_Parsed]:
    entries = [_classify(i, k) for k, i in enumerate(_as_tuple(idx))]
    consumed = []
    for value, kind in entries:
        if kind is _Kind.BOOL:
            consumed.append(np.ndim(value) if not isinstance(value, Tracer) else value.ndim)
        else:
            consumed.append(0 if kind in (_Kind.NONE, _Kind.ELLIPSIS) else 1)
    ellipses = [k for k, (_, kind) in enumerate(entries) if kind is _Kind.ELLIPSIS]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    total = sum(consumed)
    if total > len(shape):
        raise IndexError(f"Too many indices: array is {len(shape)}-dimensional, but {total} "
                         "were indexed")
    if ellipses:
        consumed[ellipses[0]] = len(shape) - total
    out, dim = [], 0
    for (value, kind), n in zip(entries, consumed):
        out.append(_Parsed(value, kind, tuple(range(dim, dim + n))))
        dim += n
    return out


def _validate_static_ints(parsed, shape):
    for p in parsed:
        if p.kind is _Kind.INT:
            (axis,) = p.axes
            i, size = int(p.index), shape[axis]
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")


def _expand_ellipsis(parsed, ndim):
    out = []
    for p in parsed:
        if p.kind is _Kind.ELLIPSIS:
            out.extend(_Parsed(slice(None), _Kind.SLICE, (a,)) for a in p.axes)
        else:
            out.append(p)
    used = sum(len(p.axes) for p in out)
    out.extend(_Parsed(slice(None), _Kind.SLICE, (a,)) for a in range(used, ndim))
    return out


def _expand_bool_masks(parsed, shape):
    """Concrete boolean masks become one integer array per masked axis (numpy's nonzero)."""
    out = []
    for position, p in enumerate(parsed):
        if p.kind is not _Kind.BOOL:
            out.append(p)
            continue
        mask = core.concrete_value(p.index) if isinstance(p.index, Tracer) else p.index
        if mask is None:
            raise NonConcreteBooleanIndexError(get_aval(p.index).str_short())
        mask = np.asarray(mask)
        if mask.ndim == 0:
            out.append(_Parsed(bool(mask), _Kind.BOOL, ()))
            continue
        expected = [shape[a] for a in p.axes]
        if any(s not in (0, e) for s, e in zip(mask.shape, expected)):
            raise IndexError(f"boolean index did not match shape of indexed array in index "
                             f"{position}: got {mask.shape}, expected {tuple(expected)}")
        out.extend(_Parsed(i, _Kind.ARRAY, (a,)) for i, a in zip(np.nonzero(mask), p.axes))
    return out


# ---------------------------------------------------------------------------------------------
# x[idx]


def getitem(x, idx, *, mode=None, fill_value=None, indices_are_sorted=False,
            unique_indices=False):
    """`x[idx]` with numpy's indexing rules and JAX's out-of-bounds behaviour (see module)."""
    shape = get_aval(x).shape
    parsed = _parse(idx, shape)
    parsed_mode = None if mode is None else _Mode.from_any(mode)
    if parsed_mode in (None, _Mode.PROMISE_IN_BOUNDS):
        _validate_static_ints(parsed, shape)
    if parsed_mode in (None, _Mode.PROMISE_IN_BOUNDS, _Mode.CLIP):
        kinds = {p.kind for p in parsed}
        if kinds <= {_Kind.INT, _Kind.SLICE, _Kind.NONE, _Kind.ELLIPSIS}:
            return _static_slice(x, _expand_ellipsis(parsed, len(shape)), shape)
        if _dynamic_sliceable(parsed):
            return _dynamic_slice(x, _expand_ellipsis(parsed, len(shape)), shape)
    indexer = _index_to_gather(shape, _expand_bool_masks(parsed, shape))
    return _gather(x, indexer, mode, fill_value, indices_are_sorted, unique_indices)


def _slice_window(s: slice, size: int):
    """(start, limit, stride, reversed) of a lax.slice that, reversed if needed, gives x[s]."""
    start, stop, step = s.indices(size)
    if step > 0:
        return start, max(start, stop), step, False
    lo = min(size, stop + 1 + abs(start - stop - 1) % -step)
    return lo, max(lo, start + 1), -step, True


def _static_slice(x, parsed, shape):
    starts, limits, strides, rev_axes, squeeze_axes, newaxis_dims = [], [], [], [], [], []
    for p in parsed:
        if p.kind is _Kind.NONE:
            newaxis_dims.append(len(starts) - len(squeeze_axes) + len(newaxis_dims))
            continue
        (axis,) = p.axes
        size = shape[axis]
        if p.kind is _Kind.INT:
            if size == 0:
                raise IndexError(f"index is out of bounds for axis {axis} with size 0")
            i = int(p.index)
            i = min(max(i + size if i < 0 else i, 0), size - 1)
            lo, hi, step, rev = i, i + 1, 1, False
            squeeze_axes.append(axis)
        else:
            lo, hi, step, rev = _slice_window(p.index, size)
        starts.append(lo)
        limits.append(hi)
        strides.append(step)
        if rev:
            rev_axes.append(axis)
    out = sp.slice(x, starts, limits, strides)
    out = sp.rev(out, rev_axes)
    out = sp.squeeze(out, squeeze_axes)
    return sp.expand_dims(out, newaxis_dims) if newaxis_dims else out


def _dynamic_sliceable(parsed) -> bool:
    for p in parsed:
        if p.kind is _Kind.SLICE and p.index.step not in (None, 1, -1):
            return False
        if p.kind is _Kind.ARRAY and np.ndim(p.index) != 0:
            return False
        if p.kind is _Kind.BOOL:
            return False
    return True


def _dynamic_slice(x, parsed, shape):
    starts, sizes, rev_axes, squeeze_axes, newaxis_dims = [], [], [], [], []
    for p in parsed:
        if p.kind is _Kind.NONE:
            newaxis_dims.append(len(starts) - len(squeeze_axes) + len(newaxis_dims))
            continue
        (axis,) = p.axes
        if p.kind is _Kind.SLICE:
            start, stop, step = p.index.indices(shape[axis])
            lo, size = (stop + 1, start - stop) if step < 0 else (start, stop - start)
            starts.append(lo)
            sizes.append(max(0, size))
            if step < 0:
                rev_axes.append(axis)
            continue
        if shape[axis] == 0:
            raise IndexError(f"index is out of bounds for axis {axis} with size 0")
        starts.append(p.index)
        sizes.append(1)
        squeeze_axes.append(axis)
    out = ix.dynamic_slice(x, starts, sizes)
    out = sp.rev(out, rev_axes)
    out = sp.squeeze(out, squeeze_axes)
    return sp.expand_dims(out, newaxis_dims) if newaxis_dims else out


# ---------------------------------------------------------------------------------------------
# The general case: one gather (or, for updates, one scatter)


class _Indexer(NamedTuple):
    slice_shape: tuple  # shape of x[idx]
    gather_slice_shape: tuple
    gather_indices: Any  # (..., n) integer array: numpy when every index is concrete
    dnums: ix.GatherDimensionNumbers
    unique_indices: bool  # no advanced indices: windows cannot overlap
    reversed_y_dims: tuple  # negative strides: reverse these dims after the gather
    newaxis_dims: tuple  # None entries: dims to add after the gather
    scalar_bool_dims: tuple  # scalar boolean entries: dims to add to x before the gather


def _index_dtype(shape):
    big = any(d >= 2**31 for d in shape)
    return dtypes.canonicalize_dtype(np.int64 if big else np.int32)


def _normalize(value, size):
    """Negative indices count from the end (not for unsigned dtypes)."""
    if isinstance(value, Tracer):
        dtype = value.aval.dtype
        if np.dtype(dtype).kind == "u":
            return value
        return ew.select_n(ew.lt(value, np.zeros((), dtype)), value,
                           ew.add(value, np.array(size, dtype)))
    if isinstance(value, (int, np.integer)):
        return value + size if value < 0 and not isinstance(value, np.unsignedinteger) else value
    return np.where(value < 0, value + size, value) if value.dtype.kind == "i" else value


def _expand_scalar_bools(parsed, shape):
    """A scalar boolean adds an axis of size 1 to x and indexes it with arange(0 or 1)."""
    shape, out, dims, cur = list(shape), [], [], 0
    for p in parsed:
        if p.kind is _Kind.BOOL:
            shape.insert(cur, 1)
            dims.append(cur)
            out.append(_Parsed(np.arange(int(p.index)), _Kind.ARRAY, (cur,)))
            cur += 1
        else:
            out.append(_Parsed(p.index, p.kind, tuple(range(cur, cur + len(p.axes)))))
            cur += len(p.axes)
    return out, tuple(shape), tuple(dims)


def _index_to_gather(shape, parsed, normalize=True) -> _Indexer:
    advanced_pos = [k for k, p in enumerate(parsed) if p.kind in (_Kind.ARRAY, _Kind.INT,
                                                                  _Kind.BOOL)]
    contiguous = all(b - a == 1 for a, b in itertools.pairwise(advanced_pos))
    parsed = _expand_ellipsis(parsed, len(shape))
    parsed, shape, scalar_bool_dims = _expand_scalar_bools(parsed, shape)
    if normalize:
        parsed = [p._replace(index=_normalize(p.index, shape[p.axes[0]]))
                  if p.kind in (_Kind.INT, _Kind.ARRAY) else p for p in parsed]
    is_advanced = any(p.kind is _Kind.ARRAY and np.ndim(p.index) > 0 for p in parsed)
    adv = [(p.index, k, p.axes[0]) for k, p in enumerate(parsed)
           if is_advanced and p.kind in (_Kind.ARRAY, _Kind.INT)]
    adv_positions = [k for _, k, _ in adv]
    index_dtype = _index_dtype(shape)

    offset_dims, collapsed, start_index_map = [], [], []
    pieces, gi_shape = [], []  # (array, first dim in the gather batch shape)
    slice_shape, newaxis_dims, reversed_y_dims, gather_slice_shape = [], [], [], []
    y_axis = collapsed_y_axis = 0
    for k, p in enumerate(parsed):
        if adv and ((contiguous and k == adv_positions[0]) or (not contiguous and k == 0)):
            arrays = _broadcast_index_arrays([a for a, _, _ in adv])
            adv_shape = tuple(np.shape(arrays[0])) if not isinstance(arrays[0], Tracer) else \
                arrays[0].shape
            pieces.extend((a, len(gi_shape)) for a in arrays)
            gi_shape.extend(adv_shape)
            start_index_map.extend(a for _, _, a in adv)
            collapsed.extend(a for _, _, a in adv)
            slice_shape.extend(adv_shape)
            y_axis += len(adv_shape)
            collapsed_y_axis += len(adv_shape)
        if k in adv_positions:
            gather_slice_shape.append(1)
            continue
        if p.kind in (_Kind.INT, _Kind.ARRAY):  # scalar index, no advanced indexing
            (axis,) = p.axes
            if shape[axis] == 0:
                raise IndexError(f"index is out of bounds for axis {axis} with size 0")
            pieces.append((p.index, len(gi_shape)))
            collapsed.append(axis)
            gather_slice_shape.append(1)
            start_index_map.append(axis)
        elif p.kind is _Kind.NONE:
            slice_shape.append(1)
            newaxis_dims.append(y_axis)
            y_axis += 1
        else:  # a static slice
            (axis,) = p.axes
            start, stop, step = p.index.indices(shape[axis])
            size = len(range(start, stop, step))
            slice_shape.append(size)
            if step == 1:
                if size != shape[axis]:
                    pieces.append((np.asarray(start), len(gi_shape)))
                    start_index_map.append(axis)
                gather_slice_shape.append(size)
                offset_dims.append(collapsed_y_axis)
            else:  # a strided slice is an index array of its own
                positions = np.arange(start, stop, step)
                if step < 0:
                    reversed_y_dims.append(collapsed_y_axis)
                    positions = positions[::-1]
                pieces.append((positions, len(gi_shape)))
                gi_shape.append(size)
                gather_slice_shape.append(1)
                start_index_map.append(axis)
                collapsed.append(axis)
            collapsed_y_axis += 1
            y_axis += 1
    dnums = ix.GatherDimensionNumbers(tuple(offset_dims), tuple(sorted(collapsed)),
                                      tuple(start_index_map))
    return _Indexer(tuple(slice_shape), tuple(gather_slice_shape),
                    _assemble_indices(pieces, tuple(gi_shape), index_dtype), dnums,
                    not adv, tuple(reversed_y_dims), tuple(newaxis_dims), scalar_bool_dims)


def _broadcast_index_arrays(arrays):
    shapes = [get_aval(a).shape if isinstance(a, Tracer) else np.shape(a) for a in arrays]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise IndexError("shape mismatch: indexing arrays could not be broadcast together with "
                         "shapes " + " ".join(str(tuple(s)) for s in shapes)) from None
    out = []
    for a, s in zip(arrays, shapes):
        if isinstance(a, Tracer):
            dims = tuple(range(len(shape) - len(s), len(shape)))
            out.append(sp.broadcast_in_dim(a, shape, dims))
        else:
            out.append(np.broadcast_to(a, shape))
    return out


def _assemble_indices(pieces, gi_shape, dtype):
    """The (gi_shape..., n) gather index array; piece dims start at its given dim."""
    if not pieces:
        return np.zeros((0,), dtype)
    full = gi_shape + (1,)
    if not any(isinstance(a, Tracer) for a, _ in pieces):
        cols = []
        for a, start in pieces:
            a = np.asarray(a).astype(dtype)
            cols.append(np.broadcast_to(ix._place(a, range(start, start + a.ndim), len(full)),
                                        full))
        return np.concatenate(cols, axis=-1)
    cols = []
    for a, start in pieces:
        a = ew.convert_element_type(a, dtype) if isinstance(a, Tracer) else np.asarray(
            a).astype(dtype)
        ndim = get_aval(a).ndim
        cols.append(sp.broadcast_in_dim(a, full, tuple(range(start, start + ndim))))
    return sp.concatenate(cols, len(full) - 1)


def _gather(x, indexer: _Indexer, mode, fill_value, indices_are_sorted, unique_indices):
    if fill_value is not None:
        fill_value = np.asarray(fill_value)
        if fill_value.ndim:
            raise ValueError("fill_value argument to indexed get() must be a scalar")
        fill_value = fill_value.item()
    y = x
    if indexer.scalar_bool_dims:
        y = sp.expand_dims(y, indexer.scalar_bool_dims)
    if 0 in indexer.slice_shape:
        aval = get_aval(x)
        return Array(np.zeros(indexer.slice_shape, aval.dtype), aval.weak_type)
    if 0 not in get_aval(indexer.gather_indices).shape:
        unique = unique_indices or indexer.unique_indices
        y = ix.gather(y, indexer.gather_indices, indexer.dnums, indexer.gather_slice_shape,
                      unique_indices=unique, indices_are_sorted=indices_are_sorted or
                      indexer.unique_indices, mode=mode, fill_value=fill_value)
    y = sp.rev(y, indexer.reversed_y_dims)
    return sp.expand_dims(y, indexer.newaxis_dims) if indexer.newaxis_dims else y


# ---------------------------------------------------------------------------------------------
# x.at[idx].set(y) and friends


def _broadcast_to(y, shape):
    y_shape = get_aval(y).shape
    if y_shape == tuple(shape):
        return y
    try:
        ok = np.broadcast_shapes(y_shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"Incompatible shapes for broadcasting: updates of shape {y_shape} "
                         f"cannot be broadcast to the indexed shape {tuple(shape)}.")
    dims = tuple(range(len(shape) - len(y_shape), len(shape)))
    return sp.broadcast_in_dim(y, tuple(shape), dims)


def _scatter_update(x, idx, y, scatter_op: Callable, indices_are_sorted=False,
                    unique_indices=False, mode=None):
    """`x[idx] op= y` without mutation: one scatter primitive."""
    x = asarray(x)
    x_aval = get_aval(x)
    if (type(y) is int and dtypes.is_integer(x_aval.dtype)
            and dtypes.iinfo(x_aval.dtype).min <= y <= dtypes.iinfo(x_aval.dtype).max):
        y = Array(np.asarray(y, x_aval.dtype), False)
    else:
        y = asarray(y)
    parsed = _expand_bool_masks(_parse(idx, x_aval.shape), x_aval.shape)
    indexer = _index_to_gather(x_aval.shape, parsed)
    if 0 in indexer.slice_shape:
        return x
    x2, y2 = promote_dtypes("at[].update", x, y)
    y2 = _broadcast_to(y2, indexer.slice_shape)
    y2 = sp.squeeze(y2, indexer.newaxis_dims)
    y2 = sp.rev(y2, indexer.reversed_y_dims)
    if indexer.scalar_bool_dims:
        x2 = sp.expand_dims(x2, indexer.scalar_bool_dims)
    dn = indexer.dnums
    dnums = ix.ScatterDimensionNumbers(dn.offset_dims, dn.collapsed_slice_dims,
                                       dn.start_index_map)
    out = scatter_op(x2, indexer.gather_indices, y2, dnums,
                     indices_are_sorted=indexer.unique_indices or indices_are_sorted,
                     unique_indices=indexer.unique_indices or unique_indices, mode=mode)
    out = sp.squeeze(out, indexer.scalar_bool_dims)
    return ew.convert_element_type(out, x_aval.dtype, x_aval.weak_type)


class IndexUpdateHelper:
    """`x.at`: indexable helper for functional updates, `x.at[idx].set(y)` etc. (as in JAX)."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __getitem__(self, index):
        return IndexUpdateRef(self.array, index)

    def __repr__(self):
        return f"IndexUpdateHelper({self.array!r})"


class IndexUpdateRef:
    """`x.at[idx]`. Each method returns an updated copy; out-of-bounds updates are dropped
    (`mode="drop"`, the default) or clamped (`mode="clip"`); `get` clamps like `x[idx]` or
    fills (`mode="fill"`, `fill_value=`)."""

    __slots__ = ("array", "index")

    def __init__(self, array, index):
        self.array = array
        self.index = index

    def __repr__(self):
        return f"IndexUpdateRef({self.array!r}, {self.index!r})"

    def get(self, *, indices_are_sorted=False, unique_indices=False, mode=None,
            fill_value=None):
        """`x[idx]` with explicit out-of-bounds handling."""
        return getitem(self.array, self.index, mode=mode, fill_value=fill_value,
                       indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)

    def _update(self, values, op, indices_are_sorted, unique_indices, mode, array=None):
        return _scatter_update(self.array if array is None else array, self.index, values, op,
                               indices_are_sorted, unique_indices, mode)

    def set(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """`x[idx] = values`."""
        return self._update(values, ix.scatter, indices_are_sorted, unique_indices, mode)

    def add(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """`x[idx] += values` (repeated indices accumulate)."""
        return self._update(values, ix.scatter_add, indices_are_sorted, unique_indices, mode)

    def subtract(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """`x[idx] -= values`."""
        from hlodiff.numpy._ufuncs import negative

        return self._update(negative(values), ix.scatter_add, indices_are_sorted,
                            unique_indices, mode)

    def multiply(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """`x[idx] *= values`."""
        return self._update(values, ix.scatter_mul, indices_are_sorted, unique_indices, mode)

    mul = multiply

    def divide(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """`x[idx] /= values`."""
        from hlodiff.numpy._ufuncs import true_divide

        ones = _ones_like(self.array)
        scale = self._update(values, ix.scatter_mul, indices_are_sorted, unique_indices, mode,
                             ones)
        return true_divide(self.array, scale)

    def power(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """`x[idx] **= values`."""
        from hlodiff.numpy._ufuncs import power

        ones = _ones_like(self.array)
        exponent = self._update(values, ix.scatter_mul, indices_are_sorted, unique_indices,
                                mode, ones)
        return power(self.array, exponent)

    def min(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """`x[idx] = minimum(x[idx], values)`."""
        return self._update(values, ix.scatter_min, indices_are_sorted, unique_indices, mode)

    def max(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """`x[idx] = maximum(x[idx], values)`."""
        return self._update(values, ix.scatter_max, indices_are_sorted, unique_indices, mode)

    def apply(self, func, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """`x[idx] = func(x[idx])` for an elementwise `func`. As in JAX, a position indexed k
        times gets `func` applied k times (counted exactly when the indices are concrete;
        under tracing, a repeated position gets `func` once)."""
        x, idx = asarray(self.array), self.index
        kw = {"indices_are_sorted": indices_are_sorted, "unique_indices": unique_indices,
                  "mode": mode}
        rounds, hits = 1, None
        if not unique_indices and not _has_tracer(_parse(idx, get_aval(x).shape)):
            with core.set_current_trace(core.eval_trace):  # concrete indices: count eagerly
                counts = _scatter_update(np.zeros(get_aval(x).shape, np.int32), idx, 1,
                                         ix.scatter_add, mode=mode)
            c = core.to_numpy(counts)
            if c.size and int(c.max()) > 1:
                rounds, hits = int(c.max()), getitem(counts, idx, mode="clip")
        y = x
        for r in range(rounds):
            old = getitem(y, idx, mode="clip")
            new = func(old)
            if r:
                from hlodiff.numpy._ufuncs import where

                new = where(ew.gt(hits, np.array(r, np.int32)), new, old)
            y = _scatter_update(y, idx, new, ix.scatter, **kw)
        return y


def _has_tracer(parsed) -> bool:
    return any(isinstance(p.index, Tracer) for p in parsed)


def _ones_like(x):
    aval = get_aval(x)
    return sp.broadcast_in_dim(Array(np.ones((), aval.dtype), aval.weak_type), aval.shape, ())


# ---------------------------------------------------------------------------------------------
# take, take_along_axis


def _int_indices(name, indices):
    indices = asarray(indices)
    if not dtypes.is_integer(get_aval(indices).dtype):
        raise TypeError(f"{name} indices must be of integer type, got "
                        f"{get_aval(indices).dtype.name}")
    return indices


def _wrap_negative(indices, size):
    if isinstance(indices, Tracer):
        return _normalize(indices, size)
    v = core.to_numpy(indices)
    return Array(np.asarray(_normalize(v, size), v.dtype), False)


def take(a, indices, axis=None, out=None, mode=None, unique_indices=False,
         indices_are_sorted=False, fill_value=None):
    """Elements of `a` at `indices` along `axis` (flattened if None). Out-of-bounds indices give
    `fill_value` (NaN for floats) with `mode="fill"` (the default) or clamp with "clip"."""
    if out is not None:
        raise NotImplementedError("The 'out' argument to hnp.take is not supported.")
    a = asarray(a)
    indices = _int_indices("take", indices)
    if axis is None:
        a = sp.reshape(a, (get_aval(a).size,))
        axis = 0
    shape = get_aval(a).shape
    axis = canonicalize_axis(axis, len(shape))
    if mode is None or mode == "fill":
        gather_mode, indices = _Mode.FILL_OR_DROP, _wrap_negative(indices, shape[axis])
    elif mode == "raise":
        raise NotImplementedError("The 'raise' mode to hnp.take is not supported.")
    elif mode == "wrap":
        from hlodiff.numpy._ufuncs import mod

        gather_mode, indices = _Mode.PROMISE_IN_BOUNDS, mod(indices, shape[axis])
    elif mode == "clip":
        gather_mode = _Mode.CLIP
    else:
        raise ValueError(f"Invalid mode '{mode}' for hnp.take")
    idx_shape = get_aval(indices).shape
    if shape[axis] == 0:
        if get_aval(indices).size:
            raise IndexError("Cannot do a non-empty hnp.take() from an empty axis.")
        return a
    if 0 in idx_shape:
        aval = get_aval(a)
        return Array(np.zeros(shape[:axis] + idx_shape + shape[axis + 1:], aval.dtype),
                     aval.weak_type)
    n = len(idx_shape)
    dnums = ix.GatherDimensionNumbers(
        tuple(range(axis)) + tuple(range(axis + n, len(shape) + n - 1)), (axis,), (axis,))
    sizes = shape[:axis] + (1,) + shape[axis + 1:]
    return ix.gather(a, sp.expand_dims(indices, (n,)), dnums, sizes, mode=gather_mode,
                     fill_value=fill_value, unique_indices=unique_indices,
                     indices_are_sorted=indices_are_sorted)


def take_along_axis(arr, indices, axis=-1, mode=None, fill_value=None):
    """`arr` indexed by `indices` along `axis`, the other dimensions matched (broadcast).
    Negative indices wrap; out-of-bounds ones give `fill_value` (default mode "fill")."""
    a = asarray(arr)
    indices = _int_indices("take_along_axis", indices)
    if axis is None:
        if get_aval(indices).ndim != 1:
            raise ValueError("take_along_axis indices must be 1D if axis=None, got shape "
                             f"{get_aval(indices).shape}")
        a, axis = sp.reshape(a, (get_aval(a).size,)), 0
    shape, idx_shape = get_aval(a).shape, get_aval(indices).shape
    if len(shape) != len(idx_shape):
        raise ValueError("indices and arr must have the same number of dimensions; "
                         f"{len(idx_shape)} vs. {len(shape)}")
    axis = canonicalize_axis(axis, len(shape))
    if shape[axis] == 0:
        out = np.broadcast_shapes(idx_shape, shape[:axis] + (1,) + shape[axis + 1:])
        return Array(np.zeros(out, get_aval(a).dtype), get_aval(a).weak_type)
    if mode != "promise_in_bounds":
        indices = _wrap_negative(indices, shape[axis])
    return ix.take_along_axis(a, indices, axis, mode="fill" if mode is None else mode,
                              fill_value=fill_value)


# ---------------------------------------------------------------------------------------------
# sort, argsort, searchsorted


def _flatten_for_axis(a, axis):
    a = asarray(a)
    if axis is None:
        return sp.reshape(a, (get_aval(a).size,)), 0
    return a, canonicalize_axis(axis, get_aval(a).ndim)


def sort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False):
    """A sorted copy of `a` along `axis` (flattened if None); NaNs sort last."""
    if order is not None:
        raise ValueError("'order' argument to sort is not supported.")
    a, axis = _flatten_for_axis(a, axis)
    out = rp.sort(a, dimension=axis, is_stable=stable)
    return sp.rev(out, (axis,)) if descending else out


def argsort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False):
    """Indices that sort `a` along `axis`; stable (ties keep their order, also descending)."""
    if order is not None:
        raise ValueError("'order' argument to argsort is not supported.")
    a, axis = _flatten_for_axis(a, axis)
    shape = get_aval(a).shape
    iota = sp.broadcasted_iota(dtypes.default_int_dtype(), shape, axis)
    if descending:  # reverse, sort ascending (stable), reverse back: ties stay in order
        a = sp.rev(a, (axis,))
    _, perm = rp.sort((a, iota), dimension=axis, is_stable=stable, num_keys=1)
    if descending:
        last = np.array(shape[axis] - 1, get_aval(perm).dtype)
        perm = ew.sub(last, sp.rev(perm, (axis,)))
    return perm


def _total_lt(x, y):
    """x < y in the total order that sorts use: NaN is largest; complex is lexicographic."""
    dtype = get_aval(x).dtype
    if dtypes.is_complex(dtype):
        xr, yr = ew.real(x), ew.real(y)
        return ew.or_(_total_lt(xr, yr), ew.and_(ew.eq(xr, yr),
                                                 _total_lt(ew.imag(x), ew.imag(y))))
    if dtypes.is_inexact(dtype):
        y_nan, x_nan = ew.ne(y, y), ew.ne(x, x)
        return ew.or_(ew.lt(x, y), ew.and_(y_nan, ew.not_(x_nan)))
    return ew.lt(x, y)


def searchsorted(a, v, side="left", sorter=None, *, method="scan"):
    """Insertion points of `v` in the sorted 1-D array `a` (NaN sorts last). A vectorised
    binary search: ceil(log2(len(a) + 1)) gather/compare steps, whatever `method` says."""
    if side not in ("left", "right"):
        raise ValueError(f"{side!r} is an invalid value for keyword 'side'. Expected one of "
                         "['left', 'right'].")
    if method not in ("scan", "scan_unrolled", "sort", "compare_all"):
        raise ValueError(f"{method!r} is an invalid value for keyword 'method'.")
    a, v = promote_dtypes("searchsorted", asarray(a), asarray(v))
    if get_aval(a).ndim != 1:
        raise ValueError("a should be 1-dimensional")
    if sorter is not None:
        a = take(a, sorter, mode="clip")
    out_dtype = np.dtype(np.int32)
    if not isinstance(a, Tracer) and not isinstance(v, Tracer):
        res = np.searchsorted(core.to_numpy(a), core.to_numpy(v), side=side)
        return Array(np.asarray(res, out_dtype), False)
    n, v_shape = get_aval(a).shape[0], get_aval(v).shape
    lo = sp.full(v_shape, 0, out_dtype)
    hi = sp.full(v_shape, n, out_dtype)
    one = np.ones((), out_dtype)
    for _ in range(n.bit_length()):
        mid = ew.div(ew.add(lo, hi), np.array(2, out_dtype))
        a_mid = take(a, mid, mode="clip")
        right = _total_lt(a_mid, v) if side == "left" else ew.not_(_total_lt(v, a_mid))
        active = ew.lt(lo, hi)
        lo = ew.select_n(ew.and_(active, right), lo, ew.add(mid, one))
        hi = ew.select_n(ew.and_(active, ew.not_(right)), hi, mid)
    return lo


# ---------------------------------------------------------------------------------------------
# nonzero, flatnonzero, argwhere, unique (data-dependent shapes: concrete input or `size=`)


def _concrete_or_none(x):
    return core.concrete_value(x) if isinstance(x, Tracer) else core.to_numpy(x)


def _needs_size(x, fun):
    return ConcretizationTypeError(
        x, f"hnp.{fun} (its output shape depends on the values of its input; pass a static "
           f"`size=` argument to {fun} to get a fixed-size output)")


def _int_array(v):
    return Array(np.asarray(v, dtypes.default_int_dtype()), False)


def _pad_to(values, size, fill):
    values = np.asarray(values)[:size]
    pad = np.full(size - len(values), fill, values.dtype)
    return np.concatenate([values, pad])


def nonzero(a, *, size=None, fill_value=None):
    """Indices of the nonzero elements of `a`, one array per dimension.

    With `size=`, the result has that many entries (truncated, or padded with `fill_value`,
    default 0), which also works on traced inputs.
    """
    a = asarray(a)
    aval = get_aval(a)
    if aval.ndim == 0:
        raise ValueError("Calling nonzero on 0d arrays is not allowed. Use "
                         "hnp.atleast_1d(scalar).nonzero() instead.")
    value = _concrete_or_none(a)
    if value is not None:
        found = np.nonzero(value)
        if size is None:
            return tuple(_int_array(i) for i in found)
        fills = fill_value if isinstance(fill_value, (tuple, list)) else [fill_value] * len(found)
        return tuple(_int_array(_pad_to(i, int(size), 0 if f is None else f))
                     for i, f in zip(found, fills))
    if size is None:
        raise _needs_size(a, "nonzero")
    return _traced_nonzero(a, int(size), fill_value)


def _traced_nonzero(a, size, fill_value):
    """flat[k] = #{j : cumsum(mask)[j] <= k} is the position of the (k+1)-th nonzero."""
    aval = get_aval(a)
    int_dtype = dtypes.default_int_dtype()
    n = aval.size
    mask = sp.reshape(ew.ne(a, np.zeros((), aval.dtype)), (n,))
    cs = rp.cumsum(ew.convert_element_type(mask, int_dtype), 0)
    bins = ix.scatter_add(np.zeros(size, int_dtype), sp.reshape(cs, (n, 1)),
                          np.ones(n, int_dtype), ix.ScatterDimensionNumbers((), (0,), (0,)))
    flat = rp.cumsum(bins, 0)
    strides = np.cumprod((1,) + aval.shape[::-1])[::-1][1:]
    out = [ew.rem(ew.div(flat, np.array(s, int_dtype)), np.array(d, int_dtype))
           for s, d in zip(strides, aval.shape)]
    if fill_value is not None:
        total = rp.reduce_sum(ew.convert_element_type(mask, int_dtype), (0,))
        pad = ew.ge(sp.iota(int_dtype, size), total)
        fills = fill_value if isinstance(fill_value, (tuple, list)) else [fill_value] * len(out)
        out = [ew.select_n(pad, o, np.array(f, int_dtype)) for o, f in zip(out, fills)]
    return tuple(out)


def flatnonzero(a, *, size=None, fill_value=None):
    """Indices of the nonzero elements of the flattened `a`."""
    a = asarray(a)
    return nonzero(sp.reshape(a, (get_aval(a).size,)), size=size, fill_value=fill_value)[0]


def argwhere(a, *, size=None, fill_value=None):
    """Indices of the nonzero elements, one row per element: shape (count, a.ndim)."""
    a = asarray(a)
    ndim = get_aval(a).ndim
    idx = nonzero(a if ndim else sp.reshape(a, (1,)), size=size, fill_value=fill_value)
    count = get_aval(idx[0]).shape[0]
    if ndim == 0:
        return Array(np.zeros((count, 0), dtypes.default_int_dtype()), False)
    cols = [sp.reshape(i, (count, 1)) for i in idx]
    return sp.concatenate(cols, 1)


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, size=None, fill_value=None, sorted=True):
    """The sorted unique elements of `ar` (and optionally first indices, inverse, counts).

    Needs a concrete input, or `size=` (then the result has `size` entries, padded with
    `fill_value`, default the smallest element; works traced for `axis=None`).
    """
    ar = asarray(ar)
    value = _concrete_or_none(ar)
    if value is not None:
        res = np.unique(value, return_index=True, return_inverse=True, return_counts=True,
                        axis=axis, equal_nan=equal_nan)
        res = _pad_unique(res, size, fill_value, axis)
        out = [Array(res[0], get_aval(ar).weak_type)] + [_int_array(r) for r in res[1:]]
    elif size is None:
        raise _needs_size(ar, "unique")
    elif axis is not None:
        raise NotImplementedError("hnp.unique with a traced input supports only axis=None")
    else:
        out = _traced_unique(ar, int(size), fill_value, equal_nan)
    flags = (True, return_index, return_inverse, return_counts)
    picked = [o for o, f in zip(out, flags) if f]
    return picked[0] if len(picked) == 1 else tuple(picked)


def _pad_unique(res, size, fill_value, axis):
    if size is None:
        return res
    values, index, inverse, counts = res
    size = int(size)
    ax = 0 if axis is None else axis
    values = np.moveaxis(values, ax, 0)
    fill = values[:1] if fill_value is None else np.full((1,) + values.shape[1:], fill_value,
                                                         values.dtype)
    extra = max(size - values.shape[0], 0)
    values = np.concatenate([values[:size], np.repeat(fill, extra, axis=0)])
    index = _pad_to(index, size, index[0] if len(index) else 0)
    counts = _pad_to(counts, size, 0)
    return np.moveaxis(values, 0, ax), index, inverse, counts


def _traced_unique(ar, size, fill_value, equal_nan):
    aval = get_aval(ar)
    n = aval.size
    int_dtype = dtypes.default_int_dtype()
    flat = sp.reshape(ar, (n,))
    perm = argsort(flat)
    aux = take(flat, perm, mode="clip")
    head, tail = sp.slice(aux, (1,), (n,)), sp.slice(aux, (0,), (n - 1,))
    new = ew.ne(head, tail)
    if equal_nan and dtypes.is_inexact(aval.dtype):
        new = ew.and_(new, ew.not_(ew.and_(ew.ne(head, head), ew.ne(tail, tail))))
    mask = sp.concatenate([np.ones(1, bool), new], 0)
    (ind,) = _traced_nonzero(mask, size, None)
    values = take(aux, ind, mode="clip")
    if fill_value is not None:
        total = rp.reduce_sum(ew.convert_element_type(mask, int_dtype), (0,))
        values = ew.select_n(ew.ge(sp.iota(int_dtype, size), total), values,
                             np.array(fill_value, aval.dtype))
    index = take(perm, ind, mode="clip")
    inv_sorted = ew.sub(rp.cumsum(ew.convert_element_type(mask, int_dtype), 0),
                        np.ones((), int_dtype))
    inverse = _scatter_update(np.zeros(n, int_dtype), perm, inv_sorted, ix.scatter)
    counts = _scatter_update(np.zeros(size, int_dtype), inv_sorted, 1, ix.scatter_add)
    return [values, index, sp.reshape(inverse, aval.shape), counts]


# ---------------------------------------------------------------------------------------------
# Index helpers


def diag_indices(n, ndim=2):
    """Indices of the main diagonal of an n x ... x n array (`ndim` dimensions)."""
    n, ndim = operator.index(n), operator.index(ndim)
    if n < 0 or ndim < 0:
        raise ValueError("n and ndim argument to diag_indices must be nonnegative, got "
                         f"n={n} and ndim={ndim}")
    return (_int_array(np.arange(n)),) * ndim


def diag_indices_from(arr):
    shape = get_aval(asarray(arr)).shape
    if len(shape) < 2 or len(set(shape)) != 1:
        raise ValueError("All dimensions of input must be of equal length, at least 2")
    return diag_indices(shape[0], len(shape))


def tril_indices(n, k=0, m=None):
    """Row and column indices of the lower triangle of an (n, m) array."""
    return tuple(_int_array(i) for i in np.tril_indices(operator.index(n), operator.index(k),
                                                        None if m is None else operator.index(m)))


def triu_indices(n, k=0, m=None):
    """Row and column indices of the upper triangle of an (n, m) array."""
    return tuple(_int_array(i) for i in np.triu_indices(operator.index(n), operator.index(k),
                                                        None if m is None else operator.index(m)))


def tril_indices_from(arr, k=0):
    shape = get_aval(asarray(arr)).shape
    if len(shape) != 2:
        raise ValueError("Only 2-D inputs are accepted")
    return tril_indices(shape[0], k, shape[1])


def triu_indices_from(arr, k=0):
    shape = get_aval(asarray(arr)).shape
    if len(shape) != 2:
        raise ValueError("Only 2-D inputs are accepted")
    return triu_indices(shape[0], k, shape[1])


def ix_(*args):
    """Open-mesh index arrays: `x[ix_(rows, cols)]` picks the rows x cols sub-block."""
    n = len(args)
    out = []
    for k, a in enumerate(args):
        a = asarray(a)
        aval = get_aval(a)
        if aval.ndim != 1:
            raise ValueError(f"Cross index must be 1 dimensional, got shape {aval.shape}")
        if dtypes.is_bool(aval.dtype):
            (a,) = nonzero(a)
            aval = get_aval(a)
        shape = [1] * n
        shape[k] = aval.shape[0]
        out.append(sp.reshape(a, tuple(shape)))
    return tuple(out)


__all__ = [
    "argsort", "argwhere", "diag_indices", "diag_indices_from", "flatnonzero", "ix_", "nonzero",
    "searchsorted", "sort", "take", "take_along_axis", "tril_indices", "tril_indices_from",
    "triu_indices", "triu_indices_from", "unique",
]
