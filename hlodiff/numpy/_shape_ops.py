"""Shape manipulation of the numpy API: reshape, transpose, stack, concatenate, split, tile..."""

from __future__ import annotations

import numpy as np

from hlodiff.core import get_aval
from hlodiff.numpy._core import (
    asarray,
    canonicalize_axes,
    canonicalize_axis,
    check_arraylike,
    promote_dtypes,
)
from hlodiff.numpy._creation import broadcast_to
from hlodiff.prims import elementwise as ew
from hlodiff.prims import shape as sp


def _resolve_shape(newshape, size):
    if isinstance(newshape, (int, np.integer)):
        newshape = (int(newshape),)
    newshape = [int(d) for d in newshape]
    if newshape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in newshape:
        known = int(np.prod([d for d in newshape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise TypeError(f"cannot reshape array of size {size} into shape {tuple(newshape)}")
        newshape[newshape.index(-1)] = size // known
    if int(np.prod(newshape, dtype=np.int64)) != size:
        raise TypeError(f"cannot reshape array of size {size} into shape {tuple(newshape)}")
    return tuple(newshape)


def reshape(a, shape=None, order="C", *, newshape=None):
    check_arraylike("reshape", a)
    a = asarray(a)
    shape = newshape if shape is None else shape
    if order != "C":
        raise NotImplementedError("hlodiff.numpy.reshape supports only order='C'")
    return sp.reshape(a, _resolve_shape(shape, get_aval(a).size))


def ravel(a, order="C"):
    a = asarray(a)
    return sp.reshape(a, (get_aval(a).size,))


def transpose(a, axes=None):
    check_arraylike("transpose", a)
    a = asarray(a)
    ndim = get_aval(a).ndim
    axes = tuple(range(ndim))[::-1] if axes is None else tuple(
        canonicalize_axis(i, ndim) for i in axes)
    if sorted(axes) != list(range(ndim)):
        raise ValueError(f"axes {axes} don't match array of dimension {ndim}")
    return sp.transpose(a, axes)


def matrix_transpose(x):
    ndim = get_aval(x).ndim
    if ndim < 2:
        raise ValueError(f"matrix_transpose requires at least 2 dimensions, got {ndim}")
    return sp.transpose(x, tuple(range(ndim - 2)) + (ndim - 1, ndim - 2))


def swapaxes(a, axis1, axis2):
    a = asarray(a)
    ndim = get_aval(a).ndim
    perm = list(range(ndim))
    i, j = canonicalize_axis(axis1, ndim), canonicalize_axis(axis2, ndim)
    perm[i], perm[j] = perm[j], perm[i]
    return sp.transpose(a, perm)


def moveaxis(a, source, destination):
    a = asarray(a)
    ndim = get_aval(a).ndim
    src = canonicalize_axes(source, ndim)
    dst = canonicalize_axes(destination, ndim)
    if len(src) != len(dst):
        raise ValueError("moveaxis: source and destination must have the same number of axes")
    order = [i for i in range(ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return sp.transpose(a, order)


def expand_dims(a, axis):
    a = asarray(a)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    ndim = get_aval(a).ndim + len(axes)
    return sp.expand_dims(a, tuple(canonicalize_axis(d, ndim) for d in axes))


def squeeze(a, axis=None):
    a = asarray(a)
    shape = get_aval(a).shape
    if axis is None:
        axes = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        axes = canonicalize_axes(axis, len(shape))
        for i in axes:
            if shape[i] != 1:
                raise ValueError("cannot select an axis to squeeze out which has size not "
                                 f"equal to one (axis {i} of shape {shape})")
    return sp.squeeze(a, axes)


def atleast_1d(*arys):
    outs = [reshape(a, (1,)) if get_aval(asarray(a)).ndim == 0 else asarray(a) for a in arys]
    return outs[0] if len(outs) == 1 else outs


def atleast_2d(*arys):
    outs = []
    for a in arys:
        a = asarray(a)
        nd = get_aval(a).ndim
        outs.append(reshape(a, (1,) * (2 - nd) + get_aval(a).shape) if nd < 2 else a)
    return outs[0] if len(outs) == 1 else outs


def atleast_3d(*arys):
    outs = []
    for a in arys:
        a = asarray(a)
        shape = get_aval(a).shape
        if len(shape) == 0:
            a = reshape(a, (1, 1, 1))
        elif len(shape) == 1:
            a = reshape(a, (1, shape[0], 1))
        elif len(shape) == 2:
            a = reshape(a, shape + (1,))
        outs.append(a)
    return outs[0] if len(outs) == 1 else outs


def _as_operands(name, arrays):
    if not isinstance(arrays, (list, tuple)):
        arrays = list(arrays) if hasattr(arrays, "__iter__") else [arrays]
    if not arrays:
        raise ValueError(f"{name}: need at least one array")
    check_arraylike(name, *arrays)
    return promote_dtypes(name, *arrays)


def concatenate(arrays, axis=0, dtype=None):
    if axis is None:
        return concatenate([ravel(a) for a in arrays], 0, dtype)
    arrays = _as_operands("concatenate", arrays)
    ndim = get_aval(arrays[0]).ndim
    if ndim == 0:
        raise ValueError("Zero-dimensional arrays cannot be concatenated.")
    out = sp.concatenate(arrays, canonicalize_axis(axis, ndim))
    return out if dtype is None else ew.convert_element_type(out, dtype)


concat = concatenate


def stack(arrays, axis=0, dtype=None):
    arrays = _as_operands("stack", arrays)
    shape = get_aval(arrays[0]).shape
    for a in arrays:
        if get_aval(a).shape != shape:
            raise ValueError("All input arrays must have the same shape, got "
                             + ", ".join(str(get_aval(x).shape) for x in arrays))
    axis = canonicalize_axis(axis, len(shape) + 1)
    parts = [sp.expand_dims(a, (axis,)) for a in arrays]
    out = sp.concatenate(parts, axis)
    return out if dtype is None else ew.convert_element_type(out, dtype)


def vstack(tup, dtype=None):
    return concatenate([atleast_2d(a) for a in _seq(tup)], 0, dtype)


def hstack(tup, dtype=None):
    arrs = [atleast_1d(a) for a in _seq(tup)]
    return concatenate(arrs, 0 if get_aval(arrs[0]).ndim == 1 else 1, dtype)


def dstack(tup, dtype=None):
    return concatenate([atleast_3d(a) for a in _seq(tup)], 2, dtype)


def column_stack(tup):
    arrs = []
    for a in _seq(tup):
        a = asarray(a)
        arrs.append(reshape(a, (-1, 1)) if get_aval(a).ndim < 2 else a)
    return concatenate(arrs, 1)


def _seq(tup):
    """Elements as arrays; a nested tuple (such as a vjp function's result) is converted like
    numpy's `asarray` would, so `vstack([(x,), (y,)])` stacks `x` and `y`."""
    return [asarray(a) if isinstance(a, (tuple, list)) else a for a in tup]


def split(ary, indices_or_sections, axis=0):
    ary = asarray(ary)
    shape = get_aval(ary).shape
    axis = canonicalize_axis(axis, len(shape))
    size = shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        n = int(indices_or_sections)
        if n <= 0 or size % n:
            raise ValueError("array split does not result in an equal division")
        bounds = [i * size // n for i in range(n + 1)]
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [size]
    return [sp.slice_in_dim(ary, max(min(a, size), 0), max(min(max(a, b), size), 0), 1, axis)
            for a, b in zip(bounds[:-1], bounds[1:])]


def array_split(ary, indices_or_sections, axis=0):
    ary = asarray(ary)
    size = get_aval(ary).shape[canonicalize_axis(axis, get_aval(ary).ndim)]
    if isinstance(indices_or_sections, (int, np.integer)):
        n = int(indices_or_sections)
        q, r = divmod(size, n)
        sizes = [q + 1] * r + [q] * (n - r)
        indices_or_sections = list(np.cumsum(sizes)[:-1])
    return split(ary, indices_or_sections, axis)


def hsplit(ary, sections):
    return split(ary, sections, 1 if get_aval(asarray(ary)).ndim > 1 else 0)


def vsplit(ary, sections):
    return split(ary, sections, 0)


def tile(A, reps):
    A = asarray(A)
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    shape = get_aval(A).shape
    nd = max(len(shape), len(reps))
    shape = (1,) * (nd - len(shape)) + shape
    reps = (1,) * (nd - len(reps)) + reps
    A = sp.reshape(A, shape)
    big = tuple(x for r, s in zip(reps, shape) for x in (r, s))
    dims = tuple(2 * i + 1 for i in range(nd))
    out = sp.broadcast_in_dim(A, big, dims)
    return sp.reshape(out, tuple(r * s for r, s in zip(reps, shape)))


def repeat(a, repeats, axis=None, *, total_repeat_length=None):
    a = asarray(a)
    if axis is None:
        a = ravel(a)
        axis = 0
    shape = get_aval(a).shape
    axis = canonicalize_axis(axis, len(shape))
    if isinstance(repeats, (int, np.integer)):
        r = int(repeats)
        big = shape[: axis + 1] + (r,) + shape[axis + 1:]
        dims = tuple(range(axis + 1)) + tuple(range(axis + 2, len(big)))
        out = sp.broadcast_in_dim(a, big, dims)
        return sp.reshape(out, shape[:axis] + (shape[axis] * r,) + shape[axis + 1:])
    counts = np.asarray(repeats)
    idx = np.repeat(np.arange(shape[axis]), counts)
    from hlodiff.numpy._indexing import take

    return take(a, idx, axis=axis)


def flip(m, axis=None):
    m = asarray(m)
    return sp.rev(m, canonicalize_axes(axis, get_aval(m).ndim))


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def roll(a, shift, axis=None):
    a = asarray(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), get_aval(a).shape)
    shifts = (shift,) if isinstance(shift, (int, np.integer)) else tuple(shift)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    for s, ax in zip(shifts, axes):
        ax = canonicalize_axis(ax, get_aval(a).ndim)
        n = get_aval(a).shape[ax]
        if n == 0:
            continue
        s = int(s) % n
        if s:
            a = sp.concatenate([sp.slice_in_dim(a, n - s, n, 1, ax),
                                sp.slice_in_dim(a, 0, n - s, 1, ax)], ax)
    return a


def rot90(m, k=1, axes=(0, 1)):
    m = asarray(m)
    k %= 4
    ax0, ax1 = axes
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, ax0), ax1)
    perm = list(range(get_aval(m).ndim))
    perm[ax0], perm[ax1] = perm[ax1], perm[ax0]
    if k == 1:
        return sp.transpose(flip(m, ax1), perm)
    return flip(sp.transpose(m, perm), ax1)


def broadcast_arrays(*args):
    args = [asarray(a) for a in args]
    from hlodiff.numpy._core import broadcast_shapes

    shape = broadcast_shapes(*(get_aval(a).shape for a in args))
    return [broadcast_to(a, shape) for a in args]


def pad(array, pad_width, mode="constant", constant_values=0):
    """Pads with a constant (mode='constant'), or by 'edge', 'reflect', 'wrap'."""
    array = asarray(array)
    nd = get_aval(array).ndim
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2)).tolist()
    if mode == "constant":
        (value,) = promote_dtypes("pad", constant_values) if not isinstance(
            constant_values, (int, float, complex, bool)) else (constant_values,)
        value = ew.convert_element_type(asarray(value), get_aval(array).dtype, False)
        return sp.pad(array, value, [(lo, hi, 0) for lo, hi in widths])
    for axis, (lo, hi) in enumerate(widths):
        array = _pad_axis(array, axis, lo, hi, mode)
    return array


def _pad_axis(x, axis, lo, hi, mode):
    n = get_aval(x).shape[axis]
    if mode == "edge":
        idx = np.clip(np.arange(-lo, n + hi), 0, n - 1)
    elif mode == "wrap":
        idx = np.arange(-lo, n + hi) % n
    elif mode in ("reflect", "symmetric"):
        period = 2 * n - 2 if mode == "reflect" else 2 * n
        idx = np.arange(-lo, n + hi) % max(period, 1)
        if mode == "reflect":
            idx = np.where(idx >= n, period - idx, idx)
        else:
            idx = np.where(idx >= n, period - 1 - idx, idx)
    else:
        raise NotImplementedError(f"pad mode {mode!r} is not supported")
    from hlodiff.numpy._indexing import take

    return take(x, idx, axis=axis)


__all__ = [n for n in dir() if not n.startswith("_")]
_ = canonicalize_axes
