"""Shape functions of the numpy API: reshape, transpose, stack, concatenate, split, tile, repeat,
flip, roll, pad, diff... Each validates its arguments like `jax.numpy` (TypeError for non-arrays,
ValueError for bad axes and shapes) and binds shape primitives; dtypes and weak types pass
through unchanged, except where several arrays are joined (they promote together).
"""

from __future__ import annotations

import itertools
import math
import operator

import numpy as np

from hlodiff.numpy._core import (
    asarray,
    canonicalize_axes,
    canonicalize_axis,
    check_arraylike,
    promote_dtypes,
)
from hlodiff.numpy._core import (
    broadcast_shapes as _broadcast_shapes,
)
from hlodiff.numpy._creation import broadcast_to
from hlodiff.prims import elementwise as ew
from hlodiff.prims import shape as sp


def _arr(name, a):
    check_arraylike(name, a)
    return asarray(a)


def _axes_tuple(axis):
    if isinstance(axis, (int, np.integer)):
        return (operator.index(axis),)
    return tuple(map(operator.index, axis))


# --- reshaping ------------------------------------------------------------------------------------


def _resolve_shape(newshape, size):
    shape = _axes_tuple(newshape)
    if -1 in shape:
        if shape.count(-1) > 1:
            raise ValueError("can only specify one unknown dimension")
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        i = shape.index(-1)
        shape = shape[:i] + (size // known,) + shape[i + 1 :]
    if math.prod(shape) != size or (shape and min(shape) < 0):
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    return shape


def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    """`a` with a new shape of the same size (one dimension may be -1)."""
    a = _arr("reshape", a)
    shape = newshape if shape is None else shape
    if shape is None:
        raise TypeError("reshape() needs a shape")
    if order != "C":
        raise NotImplementedError("hlodiff.numpy.reshape supports only order='C'")
    shape = _resolve_shape(shape, math.prod(a.shape))
    return a if shape == a.shape else sp.reshape(a, shape)


def ravel(a, order="C"):
    """`a` flattened to one dimension."""
    a = _arr("ravel", a)
    return a if a.ndim == 1 else sp.reshape(a, (math.prod(a.shape),))


def transpose(a, axes=None):
    """`a` with its axes permuted (reversed when `axes` is None)."""
    a = _arr("transpose", a)
    ndim = a.ndim
    if axes is None:
        axes = tuple(range(ndim))[::-1]
    else:
        axes = _axes_tuple(axes)
        if len(axes) != ndim:
            raise ValueError(f"axes {axes} don't match array of dimension {ndim}")
        axes = canonicalize_axes(axes, ndim)  # raises on repeated axes
    return sp.transpose(a, axes)


def permute_dims(a, /, axes):
    """The Array API's transpose with explicit axes."""
    return transpose(a, axes)


def matrix_transpose(x, /):
    """`x` with its last two axes swapped."""
    x = _arr("matrix_transpose", x)
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose requires at least 2 dimensions, got {x.ndim}")
    return sp.transpose(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def swapaxes(a, axis1, axis2):
    """`a` with two axes exchanged."""
    a = _arr("swapaxes", a)
    perm = list(range(a.ndim))
    i, j = canonicalize_axis(axis1, a.ndim), canonicalize_axis(axis2, a.ndim)
    perm[i], perm[j] = perm[j], perm[i]
    return sp.transpose(a, perm)


def moveaxis(a, source, destination):
    """`a` with axes moved from `source` to `destination` (ints or sequences)."""
    a = _arr("moveaxis", a)
    src = canonicalize_axes(source, a.ndim)
    dst = canonicalize_axes(destination, a.ndim)
    if len(src) != len(dst):
        raise ValueError(
            "moveaxis: source and destination must have the same number of "
            f"elements, got {source} and {destination}"
        )
    order = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return sp.transpose(a, order)


def expand_dims(a, axis):
    """`a` with size-1 axes inserted at the positions `axis` of the result."""
    a = _arr("expand_dims", a)
    axes = _axes_tuple(axis)
    return sp.expand_dims(a, canonicalize_axes(axes, a.ndim + len(axes)))


def squeeze(a, axis=None):
    """`a` without size-1 axes (only those in `axis`, if given; they must have size 1)."""
    a = _arr("squeeze", a)
    shape = a.shape
    if axis is None:
        axes = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        axes = canonicalize_axes(axis, len(shape))
        bad = [i for i in axes if shape[i] != 1]
        if bad:
            raise ValueError(
                "cannot select an axis to squeeze out which has size not equal to "
                f"one, got shape={shape} and dimensions={axes}"
            )
    return sp.squeeze(a, axes) if axes else a


def _atleast(name, nd, arys):
    outs = []
    for a in arys:
        a = _arr(name, a)
        if a.ndim < nd:
            if nd == 3 and a.ndim == 1:
                a = sp.reshape(a, (1, a.shape[0], 1))
            elif nd == 3 and a.ndim == 2:
                a = sp.reshape(a, a.shape + (1,))
            else:
                a = sp.reshape(a, (1,) * (nd - a.ndim) + a.shape)
        outs.append(a)
    return outs[0] if len(outs) == 1 else outs


def atleast_1d(*arys):
    """Each input with at least one dimension."""
    return _atleast("atleast_1d", 1, arys)


def atleast_2d(*arys):
    """Each input with at least two dimensions (new axes in front)."""
    return _atleast("atleast_2d", 2, arys)


def atleast_3d(*arys):
    """Each input with at least three dimensions ((N,) -> (1, N, 1), (M, N) -> (M, N, 1))."""
    return _atleast("atleast_3d", 3, arys)


# --- joining and splitting ----------------------------------------------------------------------


def _as_operands(name, arrays):
    if not isinstance(arrays, (list, tuple)):
        if hasattr(arrays, "ndim") and arrays.ndim > 0:  # an array: its rows
            arrays = [arrays[i] for i in range(arrays.shape[0])]
        else:
            raise TypeError(f"{name} requires a sequence of arrays, got {type(arrays).__name__}")
    if not arrays:
        raise ValueError(f"Need at least one array to {name}.")
    check_arraylike(name, *arrays)
    return promote_dtypes(name, *arrays)


def _with_dtype(out, dtype):
    return out if dtype is None else ew.convert_element_type(out, dtype, False)


def concatenate(arrays, axis=0, dtype=None):
    """Arrays joined along an existing axis (flattened first when `axis` is None)."""
    arrays = _as_operands("concatenate", arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    ndim = arrays[0].ndim
    if ndim == 0:
        raise ValueError("Zero-dimensional arrays cannot be concatenated.")
    axis = canonicalize_axis(axis, ndim)
    shape = arrays[0].shape
    for a in arrays[1:]:
        if a.shape != shape and (
            a.ndim != ndim
            or any(s != t for i, (s, t) in enumerate(zip(a.shape, shape)) if i != axis)
        ):
            raise ValueError(
                "Cannot concatenate arrays with shapes that differ in dimensions "
                f"other than the one being concatenated (axis {axis}): "
                + ", ".join(str(x.shape) for x in arrays)
            )
    out = arrays[0] if len(arrays) == 1 else sp.concatenate(arrays, axis)
    return _with_dtype(out, dtype)


concat = concatenate


def stack(arrays, axis=0, dtype=None):
    """Arrays of one shape joined along a new axis."""
    arrays = _as_operands("stack", arrays)
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ValueError(
            "All input arrays must have the same shape, got "
            + ", ".join(str(x.shape) for x in arrays)
        )
    axis = canonicalize_axis(axis, len(shape) + 1)
    out = sp.concatenate([sp.expand_dims(a, (axis,)) for a in arrays], axis)
    return _with_dtype(out, dtype)


def _seq(name, tup):
    """The elements of `tup` as arrays; nested lists and tuples are converted like `array`."""
    from hlodiff.numpy._creation import asarray as creation_asarray

    if not isinstance(tup, (list, tuple)):
        return _as_operands(name, tup)
    return [creation_asarray(a) if isinstance(a, (list, tuple)) else _arr(name, a) for a in tup]


def vstack(tup, dtype=None):
    """Arrays stacked along the first axis (1-D arrays become rows)."""
    return concatenate([atleast_2d(a) for a in _seq("vstack", tup)], 0, dtype)


row_stack = vstack


def hstack(tup, dtype=None):
    """Arrays stacked along the second axis (the first for 1-D arrays)."""
    arrs = [atleast_1d(a) for a in _seq("hstack", tup)]
    return concatenate(arrs, 0 if arrs[0].ndim == 1 else 1, dtype)


def dstack(tup, dtype=None):
    """Arrays stacked along the third axis."""
    return concatenate([atleast_3d(a) for a in _seq("dstack", tup)], 2, dtype)


def column_stack(tup):
    """1-D arrays as the columns of a 2-D array (2-D arrays are joined as they are)."""
    arrs = [reshape(a, (-1, 1)) if a.ndim < 2 else a for a in _seq("column_stack", tup)]
    return concatenate(arrs, 1)


def append(arr, values, axis=None):
    """`values` appended to `arr` along `axis` (both flattened when None)."""
    check_arraylike("append", arr, values)
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], 0)
    return concatenate([arr, values], axis)


def split(ary, indices_or_sections, axis=0):
    """Sub-arrays: `n` equal sections, or cut at the given indices along `axis`."""
    return _split("split", ary, indices_or_sections, axis, equal=True)


def array_split(ary, indices_or_sections, axis=0):
    """Like `split`, but `n` sections may differ in size by one."""
    return _split("array_split", ary, indices_or_sections, axis, equal=False)


def _split(name, ary, sections, axis, equal):
    ary = _arr(name, ary)
    axis = canonicalize_axis(axis, ary.ndim)
    size = ary.shape[axis]
    if isinstance(sections, (int, np.integer)):
        n = int(sections)
        if n <= 0:
            raise ValueError(f"{name}: number of sections must be larger than 0, got {n}")
        if equal and size % n:
            raise ValueError(
                f"array split does not result in an equal division: {size} into {n} sections"
            )
        q, r = divmod(size, n)
        bounds = list(np.cumsum([0] + [q + 1] * r + [q] * (n - r)))
    else:
        bounds = [0] + [int(i) for i in np.asarray(sections).reshape(-1)] + [size]
    bounds = [min(max(b if b >= 0 else b + size, 0), size) for b in bounds]
    return [sp.slice_in_dim(ary, a, max(a, b), 1, axis) for a, b in itertools.pairwise(bounds)]


def hsplit(ary, indices_or_sections):
    """`split` along the second axis (the first for 1-D arrays)."""
    ary = _arr("hsplit", ary)
    return split(ary, indices_or_sections, 1 if ary.ndim > 1 else 0)


def vsplit(ary, indices_or_sections):
    """`split` along the first axis."""
    return split(ary, indices_or_sections, 0)


def dsplit(ary, indices_or_sections):
    """`split` along the third axis."""
    return split(ary, indices_or_sections, 2)


# --- repetition, reversal, rotation --------------------------------------------------------------


def tile(A, reps):
    """`A` repeated `reps` times along each axis."""
    A = _arr("tile", A)
    reps = _axes_tuple(reps)
    nd = max(A.ndim, len(reps))
    shape = (1,) * (nd - A.ndim) + A.shape
    reps = (1,) * (nd - len(reps)) + reps
    big = tuple(x for r, s in zip(reps, shape) for x in (r, s))
    out = sp.broadcast_in_dim(sp.reshape(A, shape), big, tuple(range(1, 2 * nd, 2)))
    return sp.reshape(out, tuple(r * s for r, s in zip(reps, shape)))


def repeat(a, repeats, axis=None, *, total_repeat_length=None):
    """Each element repeated `repeats` times (an int, or one count per element) along `axis`
    (of the flattened array when None). Array counts must be concrete."""
    a = _arr("repeat", a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = canonicalize_axis(axis, a.ndim)
    shape = a.shape
    if isinstance(repeats, (int, np.integer)):
        r = int(repeats)
        big = shape[: axis + 1] + (r,) + shape[axis + 1 :]
        dims = tuple(range(axis + 1)) + tuple(range(axis + 2, len(big)))
        out = sp.broadcast_in_dim(a, big, dims)
        return sp.reshape(out, shape[:axis] + (shape[axis] * r,) + shape[axis + 1 :])
    counts = np.broadcast_to(np.asarray(repeats, dtype=np.int64).reshape(-1), (shape[axis],))
    return _take_static(a, np.repeat(np.arange(shape[axis]), counts), axis)


def _take_static(x, idx, axis):
    """`x` gathered along `axis` at a static index table (one gather)."""
    from hlodiff.numpy._indexing import take

    return take(x, np.asarray(idx, dtype=np.int32), axis=axis)


def flip(m, axis=None):
    """`m` with the order of elements reversed along `axis` (all axes when None)."""
    m = _arr("flip", m)
    return sp.rev(m, canonicalize_axes(axis, m.ndim))


def fliplr(m):
    """`m` reversed along its second axis."""
    return flip(m, 1)


def flipud(m):
    """`m` reversed along its first axis."""
    return flip(m, 0)


def roll(a, shift, axis=None):
    """Elements shifted cyclically by `shift` along `axis` (of the flattened array if None)."""
    a = _arr("roll", a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), a.shape)
    shifts, axes = _axes_tuple(shift), _axes_tuple(axis)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    if len(shifts) != len(axes):
        raise ValueError("roll: shift and axis must have the same length")
    for s, ax in zip(shifts, axes):
        ax = canonicalize_axis(ax, a.ndim)
        n = a.shape[ax]
        s = s % n if n else 0
        if s:
            a = sp.concatenate(
                [sp.slice_in_dim(a, n - s, n, 1, ax), sp.slice_in_dim(a, 0, n - s, 1, ax)], ax
            )
    return a


def rot90(m, k=1, axes=(0, 1)):
    """`m` rotated by 90 degrees `k` times in the plane of `axes`."""
    m = _arr("rot90", m)
    ax0, ax1 = (canonicalize_axis(x, m.ndim) for x in axes)
    if ax0 == ax1:
        raise ValueError("rot90: the two axes must differ")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(m, (ax0, ax1))
    perm = list(range(m.ndim))
    perm[ax0], perm[ax1] = perm[ax1], perm[ax0]
    if k == 1:
        return sp.transpose(flip(m, ax1), perm)
    return flip(sp.transpose(m, perm), ax1)


def broadcast_arrays(*args):
    """The arguments broadcast to their common shape."""
    check_arraylike("broadcast_arrays", *args)
    args = [asarray(a) for a in args]
    shape = _broadcast_shapes(*(a.shape for a in args))
    return [broadcast_to(a, shape) for a in args]


def broadcast_shapes(*shapes):
    """The shape numpy's broadcasting gives `shapes` (ValueError if incompatible)."""
    return _broadcast_shapes(*(_axes_tuple(s) for s in shapes))


# --- padding and differences ---------------------------------------------------------------------


def pad(array, pad_width, mode="constant", constant_values=0):
    """`array` padded by `pad_width` ((before, after) per axis, or one number for all) with a
    constant, or by 'edge', 'reflect', 'symmetric' or 'wrap'."""
    array = _arr("pad", array)
    nd = array.ndim
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2)).tolist()
    if mode == "constant":
        check_arraylike("pad", constant_values)
        value = ew.convert_element_type(asarray(constant_values), array.dtype, False)
        if value.shape:
            raise NotImplementedError("pad with per-axis constant_values is not supported")
        return sp.pad(array, value, [(lo, hi, 0) for lo, hi in widths])
    for axis, (lo, hi) in enumerate(widths):
        array = _pad_axis(array, axis, lo, hi, mode)
    return array


def _pad_axis(x, axis, lo, hi, mode):
    """Pads one axis by gathering with a static index table."""
    n = x.shape[axis]
    if mode == "edge":
        idx = np.clip(np.arange(-lo, n + hi), 0, n - 1)
    elif mode == "wrap":
        idx = np.arange(-lo, n + hi) % n
    elif mode in ("reflect", "symmetric"):
        period = 2 * n - 2 if mode == "reflect" else 2 * n
        idx = np.arange(-lo, n + hi) % max(period, 1)
        idx = np.where(idx >= n, period - idx - (mode == "symmetric"), idx)
    else:
        raise NotImplementedError(
            f"pad mode {mode!r} is not supported; use 'constant', 'edge', "
            "'reflect', 'symmetric' or 'wrap'"
        )
    return _take_static(x, idx, axis)


def diff(a, n=1, axis=-1, prepend=None, append=None):
    """The n-th discrete difference along `axis` (`!=` for booleans)."""
    a = _arr("diff", a)
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n}")
    if n == 0:
        return a
    if a.ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = canonicalize_axis(axis, a.ndim)
    parts = (
        [_diff_edge(v, a, axis) for v in (prepend,) if v is not None]
        + [a]
        + [_diff_edge(v, a, axis) for v in (append,) if v is not None]
    )
    if len(parts) > 1:
        a = concatenate(parts, axis)
    from hlodiff.numpy._ufuncs import not_equal, subtract

    op = not_equal if a.dtype == np.bool_ else subtract
    for _ in range(n):
        size = a.shape[axis]
        a = op(
            sp.slice_in_dim(a, 1, max(size, 1), 1, axis),
            sp.slice_in_dim(a, 0, max(size - 1, 0), 1, axis),
        )
    return a


def _diff_edge(v, a, axis):
    v = _arr("diff", v)
    if v.ndim == 0:
        v = broadcast_to(v, tuple(1 if i == axis else s for i, s in enumerate(a.shape)))
    return v


def ediff1d(ary, to_end=None, to_begin=None):
    """The differences of consecutive elements of the flattened array."""
    from hlodiff.numpy._ufuncs import subtract

    arr = ravel(_arr("ediff1d", ary))
    size = arr.shape[0]
    out = subtract(sp.slice_in_dim(arr, 1, max(size, 1)), sp.slice_in_dim(arr, 0, max(size - 1, 0)))
    parts = [out]
    if to_begin is not None:
        parts.insert(0, ravel(ew.convert_element_type(_arr("ediff1d", to_begin), arr.dtype)))
    if to_end is not None:
        parts.append(ravel(ew.convert_element_type(_arr("ediff1d", to_end), arr.dtype)))
    return concatenate(parts) if len(parts) > 1 else out


__all__ = [
    "append",
    "array_split",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "broadcast_arrays",
    "broadcast_shapes",
    "broadcast_to",
    "column_stack",
    "concat",
    "concatenate",
    "diff",
    "dsplit",
    "dstack",
    "ediff1d",
    "expand_dims",
    "flip",
    "fliplr",
    "flipud",
    "hsplit",
    "hstack",
    "matrix_transpose",
    "moveaxis",
    "pad",
    "permute_dims",
    "ravel",
    "repeat",
    "reshape",
    "roll",
    "rot90",
    "row_stack",
    "split",
    "squeeze",
    "stack",
    "swapaxes",
    "tile",
    "transpose",
    "vsplit",
    "vstack",
]
