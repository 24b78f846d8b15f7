"""Linear algebra primitives: dot_general (matmul, einsum and tensordot are written on it).

Decompositions (cholesky, triangular_solve, ...) are declared in `hlodiff/prims/decompositions.py`.
"""

from __future__ import annotations

import numpy as np

from hlodiff.core import Primitive, ShapedArray, get_aval
from hlodiff.prims import shape as sp
from hlodiff.transforms.batching import not_mapped
from hlodiff.transforms.jvp import Zero, add_tangents, tangent_aval


def _remaining(n, *removed):
    drop = {d for group in removed for d in group}
    return [i for i in range(n) if i not in drop]


def _ranges_like(*groups):
    start = 0
    for g in groups:
        yield list(range(start, start + len(g)))
        start += len(g)


def _dot_general_abstract(lhs, rhs, *, dimension_numbers, precision, preferred_element_type):
    (lc, rc), (lb, rb) = dimension_numbers
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise TypeError(f"dot_general dimension_numbers {dimension_numbers} pair unequal counts")
    for a, b, kind in ((lc, rc, "contracting"), (lb, rb, "batch")):
        for i, j in zip(a, b):
            if not (0 <= i < lhs.ndim and 0 <= j < rhs.ndim) or lhs.shape[i] != rhs.shape[j]:
                raise TypeError(
                    f"dot_general requires {kind} dimensions to have the same shape, got "
                    f"lhs {lhs.str_short()} and rhs {rhs.str_short()} with "
                    f"dimension_numbers={dimension_numbers}."
                )
    if lhs.dtype != rhs.dtype and preferred_element_type is None:
        raise TypeError(
            f"dot_general requires operands of the same dtype, got {lhs.dtype.name} and "
            f"{rhs.dtype.name}."
        )
    batch = tuple(lhs.shape[i] for i in lb)
    lhs_free = tuple(lhs.shape[i] for i in _remaining(lhs.ndim, lc, lb))
    rhs_free = tuple(rhs.shape[i] for i in _remaining(rhs.ndim, rc, rb))
    dtype = preferred_element_type or lhs.dtype
    return ShapedArray(batch + lhs_free + rhs_free, dtype, lhs.weak_type and rhs.weak_type)


def _dot_general_impl(lhs, rhs, *, dimension_numbers, precision, preferred_element_type):
    (lc, rc), (lb, rb) = dimension_numbers
    out_dtype = preferred_element_type or lhs.dtype
    if preferred_element_type is not None and lhs.dtype != out_dtype:
        lhs, rhs = lhs.astype(out_dtype), rhs.astype(out_dtype)  # accumulate in the wide type
    if not lb and lhs.ndim <= 2 and rhs.ndim <= 2 and _is_plain_matmul(lhs, rhs, lc, rc):
        return np.asarray(np.dot(lhs, rhs), dtype=out_dtype)
    lf = _remaining(lhs.ndim, lc, lb)
    rf = _remaining(rhs.ndim, rc, rb)
    bshape = [lhs.shape[i] for i in lb]
    m = int(np.prod([lhs.shape[i] for i in lf], dtype=np.int64))
    n = int(np.prod([rhs.shape[i] for i in rf], dtype=np.int64))
    k = int(np.prod([lhs.shape[i] for i in lc], dtype=np.int64))
    b = int(np.prod(bshape, dtype=np.int64))
    lt = np.transpose(lhs, list(lb) + lf + list(lc)).reshape(b, m, k)
    rt = np.transpose(rhs, list(rb) + list(rc) + rf).reshape(b, k, n)
    out = np.matmul(lt, rt)
    shape = bshape + [lhs.shape[i] for i in lf] + [rhs.shape[i] for i in rf]
    return out.reshape(shape).astype(out_dtype, copy=False)


def _is_plain_matmul(lhs, rhs, lc, rc):
    """True when np.dot computes exactly this contraction (BLAS fast path)."""
    lc, rc = tuple(lc), tuple(rc)
    if lhs.ndim == 0 or rhs.ndim == 0:
        return not lc
    return lc == (lhs.ndim - 1,) and rc == (0,)


def _dot_general_jvp(primals, tangents, **params):
    lhs, rhs = primals
    lt, rt = tangents
    out = dot_general_p.bind(lhs, rhs, **params)
    t_out = Zero(tangent_aval(get_aval(out)))
    if type(lt) is not Zero:
        t_out = add_tangents(t_out, dot_general_p.bind(lt, rhs, **params))
    if type(rt) is not Zero:
        t_out = add_tangents(t_out, dot_general_p.bind(lhs, rt, **params))
    return out, t_out


def _transpose_lhs(ct, x_aval, y, dimension_numbers, precision, preferred_element_type,
                   swap_ans=False):
    (xc, yc), (xb, yb) = dimension_numbers
    x_ndim, y_ndim = x_aval.ndim, get_aval(y).ndim
    x_kept = _remaining(x_ndim, xc, xb)
    y_kept = _remaining(y_ndim, yc, yb)
    if swap_ans:
        ans_batch, ans_y, _ = _ranges_like(xb, y_kept, x_kept)
    else:
        ans_batch, _, ans_y = _ranges_like(xb, x_kept, y_kept)
    dims = ((tuple(ans_y), tuple(y_kept)), (tuple(ans_batch), tuple(yb)))
    xc_sorted_by_y = list(np.take(xc, np.argsort(yc))) if len(xc) else []
    out_axes = np.argsort(list(xb) + x_kept + xc_sorted_by_y)
    prod = dot_general_p.bind(ct, y, dimension_numbers=dims, precision=precision,
                              preferred_element_type=preferred_element_type)
    return sp.transpose(prod, tuple(int(a) for a in out_axes))


def _dot_general_transpose(ct, lhs, rhs, *, dimension_numbers, precision,
                           preferred_element_type):
    from hlodiff.transforms.transpose import is_undefined_primal

    (lc, rc), (lb, rb) = dimension_numbers
    if is_undefined_primal(lhs):
        x_bar = _transpose_lhs(ct, lhs.aval, rhs, dimension_numbers, precision, None)
        return [_cast_like(x_bar, lhs.aval), None]
    swapped = ((rc, lc), (rb, lb))
    y_bar = _transpose_lhs(ct, rhs.aval, lhs, swapped, precision, None, swap_ans=True)
    return [None, _cast_like(y_bar, rhs.aval)]


def _cast_like(x, aval):
    from hlodiff.prims.elementwise import convert_element_type

    return convert_element_type(x, aval.dtype, aval.weak_type) if get_aval(
        x).dtype != aval.dtype else x


def _dot_general_batch(axis_size, vals, dims, *, dimension_numbers, precision,
                       preferred_element_type):
    (lhs, rhs), (ld, rd) = vals, dims
    (lc, rc), (lb, rb) = dimension_numbers
    params = dict(precision=precision, preferred_element_type=preferred_element_type)
    shift = lambda ds, d: tuple(i + (i >= d) for i in ds)  # noqa: E731
    if ld is not not_mapped and rd is not not_mapped:
        lhs, rhs = sp.moveaxis(lhs, ld, 0), sp.moveaxis(rhs, rd, 0)
        new = ((shift(lc, 0), shift(rc, 0)), ((0,) + shift(lb, 0), (0,) + shift(rb, 0)))
        return dot_general_p.bind(lhs, rhs, dimension_numbers=new, **params), 0
    if ld is not not_mapped:
        new = ((shift(lc, ld), rc), (shift(lb, ld), rb))
        lhs_ndim = get_aval(lhs).ndim
        kept = _remaining(lhs_ndim, new[0][0], new[1][0])
        out_dim = len(lb) + kept.index(ld)
        return dot_general_p.bind(lhs, rhs, dimension_numbers=new, **params), out_dim
    new = ((lc, shift(rc, rd)), (lb, shift(rb, rd)))
    rhs_ndim = get_aval(rhs).ndim
    kept = _remaining(rhs_ndim, new[0][1], new[1][1])
    lhs_kept = _remaining(get_aval(lhs).ndim, lc, lb)
    out_dim = len(lb) + len(lhs_kept) + kept.index(rd)
    return dot_general_p.bind(lhs, rhs, dimension_numbers=new, **params), out_dim


dot_general_p = Primitive("dot_general")
dot_general_p.impl = _dot_general_impl
dot_general_p.abstract_eval = _dot_general_abstract
dot_general_p.weak_type_rule = lambda lhs, rhs, **k: bool(
    getattr(lhs, "weak_type", False) and getattr(rhs, "weak_type", False))
dot_general_p.jvp = _dot_general_jvp
dot_general_p.transpose = _dot_general_transpose
dot_general_p.batch = _dot_general_batch


def dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    (lc, rc), (lb, rb) = dimension_numbers
    dims = ((tuple(int(i) for i in lc), tuple(int(i) for i in rc)),
            (tuple(int(i) for i in lb), tuple(int(i) for i in rb)))
    return dot_general_p.bind(lhs, rhs, dimension_numbers=dims, precision=None,
                              preferred_element_type=preferred_element_type)


def dot(lhs, rhs, precision=None, preferred_element_type=None):
    """lax.dot: vector/matrix products contracting lhs's last with rhs's first dimension."""
    ln, rn = get_aval(lhs).ndim, get_aval(rhs).ndim
    if ln not in (1, 2) or rn not in (1, 2):
        raise TypeError(f"lax.dot takes rank-1 or rank-2 operands, got ranks {ln} and {rn}")
    return dot_general(lhs, rhs, (((ln - 1,), (0,)), ((), ())), precision,
                       preferred_element_type)
