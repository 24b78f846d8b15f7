"""Products of the numpy API, all on `dot_general`: dot, vdot, matmul, tensordot, einsum, ..."""

from __future__ import annotations

import string

import numpy as np

from hlodiff.core import get_aval
from hlodiff.numpy._core import asarray, canonicalize_axis, check_arraylike, promote_dtypes
from hlodiff.prims import elementwise as ew
from hlodiff.prims import linalg as la
from hlodiff.prims import reduce as rp
from hlodiff.prims import shape as sp


def _ndim(x):
    return get_aval(x).ndim


def dot(a, b, *, precision=None, preferred_element_type=None):
    """numpy.dot: scalars multiply; otherwise contract a's last axis with b's second-to-last."""
    check_arraylike("dot", a, b)
    a, b = promote_dtypes("dot", a, b)
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        from hlodiff.numpy._ufuncs import multiply

        return multiply(a, b)
    contract_b = 0 if nb == 1 else nb - 2
    return la.dot_general(a, b, (((na - 1,), (contract_b,)), ((), ())))


def vdot(a, b, *, precision=None, preferred_element_type=None):
    """Flattened dot product, conjugating `a` when complex."""
    check_arraylike("vdot", a, b)
    a, b = promote_dtypes("vdot", a, b)
    from hlodiff.numpy._ufuncs import conjugate

    a = sp.reshape(conjugate(a), (get_aval(a).size,))
    b = sp.reshape(b, (get_aval(b).size,))
    return la.dot_general(a, b, (((0,), (0,)), ((), ())))


def inner(a, b):
    a, b = promote_dtypes("inner", a, b)
    if _ndim(a) == 0 or _ndim(b) == 0:
        from hlodiff.numpy._ufuncs import multiply

        return multiply(a, b)
    return la.dot_general(a, b, (((_ndim(a) - 1,), (_ndim(b) - 1,)), ((), ())))


def outer(a, b):
    a, b = promote_dtypes("outer", a, b)
    a = sp.reshape(a, (get_aval(a).size, 1))
    b = sp.reshape(b, (1, get_aval(b).size))
    return ew.mul(a, b)


def matmul(a, b, *, precision=None, preferred_element_type=None):
    """numpy.matmul: batched over leading dimensions, broadcast numpy-style."""
    check_arraylike("matmul", a, b)
    a, b = promote_dtypes("matmul", a, b)
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        raise ValueError("matmul: input operand does not have enough dimensions (scalars are "
                         "not allowed; use * instead)")
    a_vec, b_vec = na == 1, nb == 1
    if a_vec:
        a = sp.reshape(a, (1,) + get_aval(a).shape)
    if b_vec:
        b = sp.reshape(b, get_aval(b).shape + (1,))
    a_shape, b_shape = get_aval(a).shape, get_aval(b).shape
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(
            f"matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc "
            f"signature (n?,k),(k,m?)->(n?,m?) (size {b_shape[-2]} is different from "
            f"{a_shape[-1]})")
    batch = tuple(np.broadcast_shapes(a_shape[:-2], b_shape[:-2]))
    a = _broadcast_batch(a, batch)
    b = _broadcast_batch(b, batch)
    nbatch = len(batch)
    bd = tuple(range(nbatch))
    out = la.dot_general(a, b, (((nbatch + 1,), (nbatch,)), (bd, bd)))
    if a_vec:
        out = sp.squeeze(out, (nbatch,))
    if b_vec:
        out = sp.squeeze(out, (_ndim(out) - 1,))
    return out


def _broadcast_batch(x, batch):
    shape = get_aval(x).shape
    target = batch + shape[-2:]
    if shape == target:
        return x
    lead = len(target) - len(shape)
    return sp.broadcast_in_dim(x, target, tuple(range(lead, len(target))))


def tensordot(a, b, axes=2, *, precision=None, preferred_element_type=None):
    check_arraylike("tensordot", a, b)
    a, b = promote_dtypes("tensordot", a, b)
    na, nb = _ndim(a), _ndim(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n > min(na, nb):
            raise TypeError(f"Number of tensordot axes (axes {n}) exceeds input ranks "
                            f"({na} and {nb})")
        ca, cb = tuple(range(na - n, na)), tuple(range(n))
    else:
        ca, cb = axes
        ca = (ca,) if isinstance(ca, (int, np.integer)) else tuple(ca)
        cb = (cb,) if isinstance(cb, (int, np.integer)) else tuple(cb)
        ca = tuple(canonicalize_axis(i, na) for i in ca)
        cb = tuple(canonicalize_axis(i, nb) for i in cb)
    return la.dot_general(a, b, ((ca, cb), ((), ())))


def kron(a, b):
    a, b = promote_dtypes("kron", a, b)
    na, nb = _ndim(a), _ndim(b)
    nd = max(na, nb)
    a = sp.reshape(a, (1,) * (nd - na) + get_aval(a).shape)
    b = sp.reshape(b, (1,) * (nd - nb) + get_aval(b).shape)
    sa, sb = get_aval(a).shape, get_aval(b).shape
    a_exp = sp.reshape(a, tuple(x for s in sa for x in (s, 1)))
    b_exp = sp.reshape(b, tuple(x for s in sb for x in (1, s)))
    from hlodiff.numpy._ufuncs import multiply

    out = multiply(a_exp, b_exp)
    return sp.reshape(out, tuple(x * y for x, y in zip(sa, sb)))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    from hlodiff.numpy._reductions import sum as np_sum

    return np_sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diagonal(a, offset=0, axis1=0, axis2=1):
    a = asarray(a)
    nd = _ndim(a)
    axis1, axis2 = canonicalize_axis(axis1, nd), canonicalize_axis(axis2, nd)
    perm = [i for i in range(nd) if i not in (axis1, axis2)] + [axis1, axis2]
    a = sp.transpose(a, perm)
    shape = get_aval(a).shape
    n, m = shape[-2], shape[-1]
    rows = np.arange(max(0, -offset), min(n, m - offset)) if offset < m else np.arange(0)
    cols = rows + offset
    mask = np.zeros((n, m), bool)
    mask[rows, cols] = True
    masked = ew.select_n(sp.broadcast_in_dim(np.asarray(mask), shape, (nd - 2, nd - 1)),
                         ew._const(a, 0) if True else None, a)
    summed_cols = rp.reduce_sum(masked, (nd - 2,))  # picks a[row(col), col]
    start = max(offset, 0)
    return sp.slice_in_dim(summed_cols, start, start + len(rows), 1, nd - 2)


def diag(v, k=0):
    v = asarray(v)
    nd = _ndim(v)
    if nd == 1:
        n = get_aval(v).shape[0]
        size = n + abs(k)
        mask = np.eye(size, k=k, dtype=bool)
        if k >= 0:
            padded = sp.pad(v, ew._const(v, 0), [(0, abs(k), 0)])
            vals = sp.broadcast_in_dim(padded, (size, size), (0,))
        else:
            padded = sp.pad(v, ew._const(v, 0), [(abs(k), 0, 0)])
            vals = sp.broadcast_in_dim(padded, (size, size), (1,))
        if k >= 0:
            vals = sp.broadcast_in_dim(sp.pad(v, ew._const(v, 0), [(k, 0, 0)]), (size, size),
                                       (1,))
        else:
            vals = sp.broadcast_in_dim(sp.pad(v, ew._const(v, 0), [(0, -k, 0)]), (size, size),
                                       (0,))
        return ew.select_n(np.asarray(mask), ew._const(v, 0), vals)
    if nd == 2:
        return diagonal(v, k)
    raise ValueError("diag input must be 1d or 2d")


def _tri_mask(shape, k, lower):
    n, m = shape[-2], shape[-1]
    mask = np.tri(n, m, k, dtype=bool) if lower else ~np.tri(n, m, k - 1, dtype=bool)
    return np.asarray(mask)


def tril(m, k=0):
    m = asarray(m)
    shape = get_aval(m).shape
    nd = len(shape)
    mask = sp.broadcast_in_dim(_tri_mask(shape, k, True), shape, (nd - 2, nd - 1))
    return ew.select_n(mask, ew._const(m, 0), m)


def triu(m, k=0):
    m = asarray(m)
    shape = get_aval(m).shape
    nd = len(shape)
    mask = sp.broadcast_in_dim(_tri_mask(shape, k, False), shape, (nd - 2, nd - 1))
    return ew.select_n(mask, ew._const(m, 0), m)


def einsum(subscripts, *operands, optimize=None, precision=None, preferred_element_type=None):
    """Einstein summation, contracted pairwise (left to right) with dot_general."""
    if not isinstance(subscripts, str):
        raise TypeError("einsum: only the string form of subscripts is supported")
    operands = promote_dtypes("einsum", *operands)
    inputs, output = _parse_einsum(subscripts, [get_aval(o).ndim for o in operands])
    ops = list(zip(operands, inputs))
    ops = [_einsum_diagonals_and_sums(x, s, output, [t for _, t in ops if t is not s])
           for x, s in ops]
    while len(ops) > 1:
        (x, sx), (y, sy) = ops[0], ops[1]
        rest = "".join(s for _, s in ops[2:]) + output
        ops = [_contract_pair(x, sx, y, sy, rest)] + ops[2:]
    x, s = ops[0]
    return _finish(x, s, output)


def _parse_einsum(subscripts, ndims):
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, output = subscripts.split("->")
    else:
        lhs, output = subscripts, None
    inputs = lhs.split(",")
    if len(inputs) != len(ndims):
        raise ValueError(f"einsum: {len(inputs)} operand subscripts for {len(ndims)} operands")
    used = set("".join(inputs).replace(".", ""))
    free = [c for c in string.ascii_letters if c not in used]
    ell = None
    for i, (s, nd) in enumerate(zip(inputs, ndims)):
        if "..." in s:
            n_ell = nd - (len(s) - 3)
            ell = ell if ell is not None and len(ell) >= n_ell else "".join(free[:n_ell])
            inputs[i] = s.replace("...", ell[len(ell) - n_ell:] if n_ell else "")
    if output is None:
        counts = {}
        for c in "".join(inputs):
            counts[c] = counts.get(c, 0) + 1
        output = (ell or "") + "".join(sorted(c for c, n in counts.items() if n == 1 and (
            not ell or c not in ell)))
    else:
        output = output.replace("...", ell or "")
    for s, nd in zip(inputs, ndims):
        if len(s) != nd:
            raise ValueError(f"einsum: subscript {s!r} does not match operand rank {nd}")
    return inputs, output


def _einsum_diagonals_and_sums(x, s, output, others):
    """Takes repeated-index diagonals and sums indices that appear nowhere else."""
    for c in set(s):
        while s.count(c) > 1:
            i = s.index(c)
            j = s.index(c, i + 1)
            x = diagonal(x, 0, i, j)
            s = s[:i] + s[i + 1:j] + s[j + 1:] + c
    elsewhere = set(output) | set("".join(others))
    drop = tuple(i for i, c in enumerate(s) if c not in elsewhere)
    if drop:
        x = rp.reduce_sum(x, drop)
        s = "".join(c for i, c in enumerate(s) if i not in drop)
    return x, s


def _contract_pair(x, sx, y, sy, rest):
    batch = [c for c in sx if c in sy and c in rest]
    contract = [c for c in sx if c in sy and c not in rest]
    dims = ((tuple(sx.index(c) for c in contract), tuple(sy.index(c) for c in contract)),
            (tuple(sx.index(c) for c in batch), tuple(sy.index(c) for c in batch)))
    out = la.dot_general(x, y, dims)
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
