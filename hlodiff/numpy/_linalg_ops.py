"""Products of the numpy API on `dot_general`: dot, vdot, inner, outer, matmul, tensordot,
einsum, vecdot, matvec, vecmat, kron, cross, convolve; and the matrix helpers trace, diagonal,
diag, tril, triu. Operands promote together (JAX's lattice), so `int32 @ float32` is float32.
"""

from __future__ import annotations

import string

import numpy as np

from hlodiff.core import Array
from hlodiff.numpy._core import (
    asarray,
    broadcast_shapes,
    canonicalize_axis,
    check_arraylike,
    promote_dtypes,
    promote_dtypes_inexact,
)
from hlodiff.prims import elementwise as ew
from hlodiff.prims import linalg as la
from hlodiff.prims import reduce as rp
from hlodiff.prims import shape as sp


def _promoted(name, a, b):
    return promote_dtypes(name, a, b)  # (checks that both are array-like)


def _dot(a, b, contract, batch=((), ()), preferred_element_type=None):
    return la.dot_general(a, b, (contract, batch), preferred_element_type=preferred_element_type)


def _multiply(a, b):
    from hlodiff.numpy._ufuncs import multiply

    return multiply(a, b)


def _zero_like(x):
    """A 0-d zero of x's dtype and weak type (`select_n` keeps weak only if all cases are)."""
    return Array(np.zeros((), x.dtype), x.weak_type)


# --- dot, vdot, inner, outer --------------------------------------------------------------------


def dot(a, b, *, precision=None, preferred_element_type=None):
    """numpy.dot: scalars multiply; otherwise a's last axis contracts with b's second-to-last
    (its only axis if 1-D)."""
    a, b = _promoted("dot", a, b)
    if a.ndim == 0 or b.ndim == 0:
        return _multiply(a, b)
    contract_b = 0 if b.ndim == 1 else b.ndim - 2
    return _dot(a, b, ((a.ndim - 1,), (contract_b,)), preferred_element_type=preferred_element_type)


def vdot(a, b, *, precision=None, preferred_element_type=None):
    """The dot product of the flattened arrays, conjugating `a` if complex."""
    from hlodiff.numpy._ufuncs import conjugate

    a, b = _promoted("vdot", a, b)
    a = sp.reshape(conjugate(a), (a.size,))
    return _dot(
        a, sp.reshape(b, (b.size,)), ((0,), (0,)), preferred_element_type=preferred_element_type
    )


def inner(a, b, *, precision=None, preferred_element_type=None):
    """Contraction of the last axes of a and b (a product for scalars)."""
    a, b = _promoted("inner", a, b)
    if a.ndim == 0 or b.ndim == 0:
        return _multiply(a, b)
    return _dot(a, b, ((a.ndim - 1,), (b.ndim - 1,)), preferred_element_type=preferred_element_type)


def outer(a, b, out=None):
    """The outer product of the flattened arrays: shape (a.size, b.size)."""
    a, b = _promoted("outer", a, b)
    return _multiply(sp.reshape(a, (a.size, 1)), sp.reshape(b, (1, b.size)))


# --- matmul and friends ---------------------------------------------------------------------------


def matmul(a, b, *, precision=None, preferred_element_type=None):
    """numpy.matmul: a matrix product batched over leading axes (broadcast numpy-style); a
    1-D operand is a vector (its axis is dropped from the result)."""
    a, b = _promoted("matmul", a, b)
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]:  # the common case
        return _dot(a, b, ((1,), (0,)), preferred_element_type=preferred_element_type)
    for i, x in enumerate((a, b)):
        if x.ndim == 0:
            raise ValueError(
                f"matmul input operand {i} must have ndim at least 1, but it has "
                "ndim 0 (use * to multiply by a scalar)"
            )
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        a = sp.reshape(a, (1,) + a.shape)
    if b_vec:
        b = sp.reshape(b, b.shape + (1,))
    if a.shape[-1] != b.shape[-2]:
        raise TypeError(
            f"matmul: contracting dimensions differ: a has shape {a.shape} and b has shape "
            f"{b.shape} (a's last axis must match b's second-to-last)."
        )
    batch = (
        a.shape[:-2]
        if a.shape[:-2] == b.shape[:-2]
        else broadcast_shapes(a.shape[:-2], b.shape[:-2])
    )
    a, b = _broadcast_batch(a, batch), _broadcast_batch(b, batch)
    n = len(batch)
    bd = tuple(range(n))
    out = _dot(a, b, ((n + 1,), (n,)), (bd, bd), preferred_element_type)
    if a_vec:
        out = sp.squeeze(out, (n,))
    if b_vec:
        out = sp.squeeze(out, (out.ndim - 1,))
    return out


def _broadcast_batch(x, batch):
    target = batch + x.shape[-2:]
    if x.shape == target:
        return x
    return sp.broadcast_in_dim(x, target, tuple(range(len(target) - x.ndim, len(target))))


def vecdot(x1, x2, /, *, axis=-1, precision=None, preferred_element_type=None):
    """The dot product of vectors along `axis` (conjugating x1), batched with broadcasting."""
    from hlodiff.numpy._ufuncs import conjugate

    x1, x2 = _promoted("vecdot", x1, x2)
    x1, x2 = _moved_last(conjugate(x1), axis), _moved_last(x2, axis)
    if x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"vecdot: vector lengths differ: {x1.shape} and {x2.shape}")
    batch = broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    x1, x2 = (
        sp.broadcast_in_dim(
            x, batch + x.shape[-1:], tuple(range(len(batch) + 1 - x.ndim, len(batch) + 1))
        )
        for x in (x1, x2)
    )
    n = len(batch)
    return _dot(x1, x2, ((n,), (n,)), (tuple(range(n)),) * 2, preferred_element_type)


def _moved_last(x, axis):
    axis = canonicalize_axis(axis, x.ndim)
    return x if axis == x.ndim - 1 else sp.moveaxis(x, axis, x.ndim - 1)


def matvec(x1, x2, /):
    """A batched matrix-vector product: x1 (..., m, n) and x2 (..., n) give (..., m)."""
    x1, x2 = _promoted("matvec", x1, x2)
    out = matmul(x1, sp.expand_dims(x2, (x2.ndim,)))
    return sp.squeeze(out, (out.ndim - 1,))


def vecmat(x1, x2, /):
    """A batched vector-matrix product, conjugating x1: (..., m) and (..., m, n) give (..., n)."""
    from hlodiff.numpy._ufuncs import conjugate

    x1, x2 = _promoted("vecmat", x1, x2)
    out = matmul(sp.expand_dims(conjugate(x1), (x1.ndim - 1,)), x2)
    return sp.squeeze(out, (out.ndim - 2,))


def tensordot(a, b, axes=2, *, precision=None, preferred_element_type=None):
    """Contraction over `axes`: the last n of a with the first n of b, or explicit pairs."""
    a, b = _promoted("tensordot", a, b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > min(a.ndim, b.ndim):
            raise TypeError(
                f"Number of tensordot axes (axes {n}) exceeds input ranks ({a.ndim} and {b.ndim})"
            )
        ca, cb = tuple(range(a.ndim - n, a.ndim)), tuple(range(n))
    else:
        if len(axes) != 2:
            raise TypeError(f"tensordot axes must be an int or a pair of sequences, got {axes}")
        ca, cb = ((x,) if isinstance(x, (int, np.integer)) else tuple(x) for x in axes)
        if len(ca) != len(cb):
            raise TypeError(f"tensordot requires axes lists of equal length, got {ca} and {cb}")
        ca = tuple(canonicalize_axis(i, a.ndim) for i in ca)
        cb = tuple(canonicalize_axis(i, b.ndim) for i in cb)
    return _dot(a, b, (ca, cb), preferred_element_type=preferred_element_type)


def kron(a, b):
    """The Kronecker product: blocks a[i, j] * b."""
    a, b = _promoted("kron", a, b)
    nd = max(a.ndim, b.ndim)
    a = sp.reshape(a, (1,) * (nd - a.ndim) + a.shape)
    b = sp.reshape(b, (1,) * (nd - b.ndim) + b.shape)
    a_exp = sp.reshape(a, tuple(x for s in a.shape for x in (s, 1)))
    b_exp = sp.reshape(b, tuple(x for s in b.shape for x in (1, s)))
    return sp.reshape(_multiply(a_exp, b_exp), tuple(x * y for x, y in zip(a.shape, b.shape)))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 3-vectors (or 2-vectors: the z component) along the given axes."""
    from hlodiff.numpy._ufuncs import multiply, subtract

    a, b = _promoted("cross", a, b)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _moved_last(a, axisa), _moved_last(b, axisb)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError(
            "Dimension must be either 2 or 3 for cross product, got "
            f"{a.shape[-1]} and {b.shape[-1]}"
        )

    def part(x, i):
        return sp.squeeze(sp.slice_in_dim(x, i, i + 1, 1, x.ndim - 1), (x.ndim - 1,))

    def cross2(u0, u1, v0, v1):
        return subtract(multiply(u0, v1), multiply(u1, v0))

    a0, a1, b0, b1 = part(a, 0), part(a, 1), part(b, 0), part(b, 1)
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return cross2(a0, a1, b0, b1)
    a2 = part(a, 2) if a.shape[-1] == 3 else _zeros_of(a0)
    b2 = part(b, 2) if b.shape[-1] == 3 else _zeros_of(b0)
    from hlodiff.numpy._shape_ops import moveaxis, stack

    c = stack([cross2(a1, a2, b1, b2), cross2(a2, a0, b2, b0), cross2(a0, a1, b0, b1)], -1)
    return moveaxis(c, -1, axisc)


def _zeros_of(x):
    return Array(np.zeros(x.shape, x.dtype), x.weak_type)


# --- convolution ----------------------------------------------------------------------------------


def convolve(a, v, mode="full", *, precision=None, preferred_element_type=None):
    """The discrete linear convolution of 1-D arrays (in an inexact dtype, like JAX)."""
    return _conv("convolve", a, v, mode)


def correlate(a, v, mode="valid", *, precision=None, preferred_element_type=None):
    """The cross-correlation of 1-D arrays: sum_n a[n + k] conj(v[n])."""
    return _conv("correlate", a, v, mode)


def _conv(name, x, y, mode):
    from hlodiff.numpy._ufuncs import conjugate

    check_arraylike(name, x, y)
    x, y = promote_dtypes_inexact(name, x, y)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"{name}() only supports 1-dimensional inputs.")
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError(f"{name}: inputs cannot be empty, got shapes {x.shape} and {y.shape}.")
    reverse_out = False
    if name == "correlate":
        y = conjugate(y)
        if x.shape[0] < y.shape[0]:
            x, y, reverse_out = y, x, True
    else:
        if x.shape[0] < y.shape[0]:
            x, y = y, x
        y = sp.rev(y, (0,))
    out = _sliding_dot(x, y, mode)
    return sp.rev(out, (0,)) if reverse_out else out


def _sliding_dot(x, y, mode):
    """out[t] = sum_i y[i] * x_padded[t + i]: one multiply-add per element of the shorter y."""
    n, m = x.shape[0], y.shape[0]
    pads = {"valid": (0, 0), "same": (m // 2, m - m // 2 - 1), "full": (m - 1, m - 1)}
    if mode not in pads:
        raise ValueError("mode must be one of ['full', 'same', 'valid']")
    lo, hi = pads[mode]
    xp = sp.pad(x, _zero_like(x), [(lo, hi, 0)])
    length = n + lo + hi - m + 1
    out = None
    for i in range(m):
        term = ew.mul(sp.slice_in_dim(xp, i, i + length), sp.slice_in_dim(y, i, i + 1))
        out = term if out is None else ew.add(out, term)
    return out


# --- diagonals and triangles ------------------------------------------------------------------------


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """The sum along a diagonal (sums of bool and narrow ints in int32, like `sum`)."""
    from hlodiff.numpy._reductions import sum as np_sum

    check_arraylike("trace", a)
    return np_sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The `offset` diagonal of the (axis1, axis2) planes, as the last axis of the result."""
    check_arraylike("diagonal", a)
    a = asarray(a)
    if a.ndim < 2:
        raise ValueError("diagonal requires an array of at least two dimensions.")
    axis1, axis2 = canonicalize_axis(axis1, a.ndim), canonicalize_axis(axis2, a.ndim)
    if axis1 == axis2:
        raise ValueError(f"axis1 and axis2 cannot be the same, got {axis1} and {axis2}")
    perm = [i for i in range(a.ndim) if i not in (axis1, axis2)] + [axis1, axis2]
    a = sp.transpose(a, perm)
    *batch, n, m = a.shape
    offset = int(offset)
    size = max(0, min(n + min(offset, 0), m - max(offset, 0)))
    # In the row-major flattening of the (n, m) plane, a[i, i + k] sits at i * (m + 1) + k
    # (k >= 0) or at (i - k) * m + i (k < 0): a strided slice, no gather.
    flat = sp.reshape(a, (*batch, n * m))
    start = offset if offset >= 0 else -offset * m
    if size == 0:
        return sp.slice_in_dim(flat, 0, 0, 1, len(batch))
    return sp.slice_in_dim(flat, start, start + (size - 1) * (m + 1) + 1, m + 1, len(batch))


def diag(v, k=0):
    """The k-th diagonal of a 2-D array, or a 2-D array with 1-D `v` on its k-th diagonal."""
    check_arraylike("diag", v)
    v = asarray(v)
    k = int(k)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag input must be 1d or 2d, got shape {v.shape}")
    size = v.shape[0] + abs(k)
    padded = sp.pad(v, _zero_like(v), [(0, abs(k), 0)])
    # Row r holds v[r] on the diagonal for k >= 0; column c holds v[c] for k < 0.
    vals = sp.broadcast_in_dim(padded, (size, size), (0,) if k >= 0 else (1,))
    mask = Array(np.eye(size, k=k, dtype=bool), False)
    return ew.select_n(mask, _zero_like(v), vals)


def _triangle(name, m, k, lower):
    check_arraylike(name, m)
    m = asarray(m)
    if m.ndim < 2:
        raise ValueError(
            f"Argument to hlodiff.numpy.{name} must be at least 2D, got shape {m.shape}"
        )
    n_rows, n_cols = m.shape[-2:]
    keep = (
        np.tri(n_rows, n_cols, k, dtype=bool)
        if lower
        else ~np.tri(n_rows, n_cols, k - 1, dtype=bool)
    )
    mask = sp.broadcast_in_dim(Array(keep, False), m.shape, (m.ndim - 2, m.ndim - 1))
    return ew.select_n(mask, _zero_like(m), m)


def tril(m, k=0):
    """`m` with the elements above the k-th diagonal zeroed (batched over leading axes)."""
    return _triangle("tril", m, k, True)


def triu(m, k=0):
    """`m` with the elements below the k-th diagonal zeroed (batched over leading axes)."""
    return _triangle("triu", m, k, False)


# --- einsum -------------------------------------------------------------------------------------------


def einsum(
    subscripts, *operands, optimize=None, precision=None, preferred_element_type=None, out=None
):
    """Einstein summation: repeated labels in one operand take diagonals, labels absent from the
    output are summed, the rest contract pairwise (left to right) with `dot_general`. `...`
    stands for broadcast leading axes.

        >>> einsum("bij,bjk->bik", a, b)     # batched matrix product
    """
    if not isinstance(subscripts, str):
        raise TypeError(
            "einsum: only the string form of subscripts is supported, e.g. "
            "einsum('ij,jk->ik', a, b)"
        )
    check_arraylike("einsum", *operands)
    operands = (
        promote_dtypes("einsum", *operands)
        if len(operands) > 1
        else [asarray(operands[0])]
        if operands
        else []
    )
    inputs, output = _parse_einsum(subscripts, [o.ndim for o in operands])
    operands = _broadcast_labels(operands, inputs)
    ops = [_diagonals(x, s) for x, s in zip(operands, inputs)]
    ops = [
        _sum_unused(x, s, output, [t for j, (_, t) in enumerate(ops) if j != i])
        for i, (x, s) in enumerate(ops)
    ]
    while len(ops) > 1:
        (x, sx), (y, sy) = ops[0], ops[1]
        rest = "".join(s for _, s in ops[2:]) + output
        ops = [_contract_pair(x, sx, y, sy, rest, preferred_element_type)] + ops[2:]
    return _finish(*ops[0], output)


def _parse_einsum(subscripts, ndims):
    subscripts = subscripts.replace(" ", "")
    lhs, arrow, output = subscripts.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(ndims):
        raise ValueError(f"einsum: {len(inputs)} operand subscripts for {len(ndims)} operands")
    used = set(lhs.replace(".", "").replace(",", ""))
    free = [c for c in string.ascii_letters if c not in used]
    n_ell = max([nd - (len(s) - 3) for s, nd in zip(inputs, ndims) if "..." in s], default=0)
    ell = "".join(free[:n_ell])
    for i, (s, nd) in enumerate(zip(inputs, ndims)):
        if "..." in s:
            k = nd - (len(s) - 3)
            if k < 0:
                raise ValueError(
                    f"einsum: operand {i} has {nd} dimensions, fewer than its subscripts {s!r} name"
                )
            inputs[i] = s.replace("...", ell[len(ell) - k :] if k else "")
        if len(inputs[i]) != nd:
            raise ValueError(f"einsum: subscripts {s!r} do not match operand {i} of rank {nd}")
    if not arrow:
        counts = {c: "".join(inputs).count(c) for c in set("".join(inputs))}
        output = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        output = output.replace("...", ell)
        missing = set(output) - set("".join(inputs))
        if missing:
            raise ValueError(f"einsum: output subscripts {sorted(missing)} appear in no input")
    return inputs, output


def _broadcast_labels(operands, inputs):
    """Checks that each label has one size; size-1 axes broadcast to it (numpy's rule)."""
    sizes = {}
    for i, (x, s) in enumerate(zip(operands, inputs)):
        for c, n in zip(s, x.shape):
            if n != 1 and sizes.get(c, 1) not in (1, n):
                raise ValueError(
                    f"Size of label '{c}' for operand {i} ({n}) does not match "
                    f"previous terms ({sizes[c]})."
                )
            if n != 1 or c not in sizes:
                sizes[c] = n
    out = []
    for x, s in zip(operands, inputs):
        target = tuple(sizes[c] for c in s)
        same_labels = len(set(s)) == len(s)
        out.append(
            sp.broadcast_in_dim(x, target, tuple(range(x.ndim)))
            if target != x.shape and same_labels
            else x
        )
    return out


def _diagonals(x, s):
    """Takes the diagonal of each label repeated within one operand."""
    for c in dict.fromkeys(s):
        while s.count(c) > 1:
            i = s.index(c)
            j = s.index(c, i + 1)
            x = diagonal(x, 0, i, j)
            s = s[:i] + s[i + 1 : j] + s[j + 1 :] + c
    return x, s


def _sum_unused(x, s, output, others):
    """Sums the labels that appear neither in the output nor in another operand."""
    elsewhere = set(output).union(*others) if others else set(output)
    drop = tuple(i for i, c in enumerate(s) if c not in elsewhere)
    if not drop:
        return x, s
    return rp.reduce_sum(x, drop), "".join(c for i, c in enumerate(s) if i not in drop)


def _contract_pair(x, sx, y, sy, rest, preferred_element_type):
    batch = [c for c in sx if c in sy and c in rest]
    contract = [c for c in sx if c in sy and c not in rest]
    dims = (
        (tuple(sx.index(c) for c in contract), tuple(sy.index(c) for c in contract)),
        (tuple(sx.index(c) for c in batch), tuple(sy.index(c) for c in batch)),
    )
    out = la.dot_general(x, y, dims, preferred_element_type=preferred_element_type)
    sx_free = "".join(c for c in sx if c not in batch and c not in contract)
    sy_free = "".join(c for c in sy if c not in batch and c not in contract)
    return out, "".join(batch) + sx_free + sy_free


def _finish(x, s, output):
    drop = tuple(i for i, c in enumerate(s) if c not in output)
    if drop:
        x = rp.reduce_sum(x, drop)
        s = "".join(c for i, c in enumerate(s) if i not in drop)
    if s != output:
        x = sp.transpose(x, tuple(s.index(c) for c in output))
    return x


__all__ = [
    "convolve",
    "correlate",
    "cross",
    "diag",
    "diagonal",
    "dot",
    "einsum",
    "inner",
    "kron",
    "matmul",
    "matvec",
    "outer",
    "tensordot",
    "trace",
    "tril",
    "triu",
    "vdot",
    "vecdot",
    "vecmat",
]
