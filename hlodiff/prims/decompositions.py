"""Matrix decompositions and triangular solves: cholesky, triangular_solve, lu, qr, eigh, svd.

Every primitive takes a stack of matrices `(..., m, n)`: leading dimensions are batch dimensions,
so the batching rules only move the vmapped dimension to the front. Eager rules call numpy
(LAPACK) on the whole stack. Reverse mode comes from transposing the JVP rules, which are written
with operations that are linear in the tangents (`triangular_solve` is linear in its right-hand
side and has a transpose rule). The JVP formulas are JAX's (`jax/_src/lax/linalg.py`).

Failure modes follow JAX: the Cholesky factor of a matrix that is not positive definite is all
NaN (lower triangle; the upper stays zero), never an exception; a singular matrix gives an LU
factor with a zero on U's diagonal, and solves with it give inf/NaN.
"""

from __future__ import annotations

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Primitive, ShapedArray, get_aval
from hlodiff.prims import elementwise as ew
from hlodiff.prims import indexing as ix
from hlodiff.prims import reduce as rp
from hlodiff.prims import shape as sp
from hlodiff.prims.linalg import dot_general
from hlodiff.transforms.batching import bdim_at_front, not_mapped
from hlodiff.transforms.jvp import Zero, add_tangents, tangent_aval
from hlodiff.transforms.transpose import is_undefined_primal

# ---------------------------------------------------------------------------------------------
# Shape checks (shared by the abstract rules)


def _check_inexact(name: str, *avals) -> None:
    for a in avals:
        if not dtypes.is_inexact(a.dtype):
            raise TypeError(f"{name} does not accept dtype {a.dtype.name}: its operands must be "
                            "floating point or complex (float32/64, complex64/128).")


def _check_matrix(name: str, x, square: bool = True) -> None:
    if x.ndim < 2 or (square and x.shape[-1] != x.shape[-2]):
        what = "a square matrix or a stack of them, shape [..., n, n]" if square else \
            "a matrix or a stack of them, shape [..., m, n]"
        raise ValueError(f"{name} expects {what}; got {x.str_short()}.")
    _check_inexact(name, x)


def _front(axis_size, vals, dims):
    return [bdim_at_front(v, d, axis_size) for v, d in zip(vals, dims)]


# ---------------------------------------------------------------------------------------------
# Matrix helpers on primitives (usable in rules under any trace)


def _ndim(x) -> int:
    return get_aval(x).ndim


def _T(x):
    """Swaps the last two dimensions."""
    n = _ndim(x)
    return sp.transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _conj(x):
    return ew.conj(x) if dtypes.is_complex(get_aval(x).dtype) else x


def _H(x):
    return _conj(_T(x))


def _real(x):
    return ew.real(x) if dtypes.is_complex(get_aval(x).dtype) else x


def _mm(a, b):
    """Batched matmul `(..., m, k) @ (..., k, n)`; a rank-2 operand is broadcast."""
    na, nb = _ndim(a), _ndim(b)
    if na != nb:
        a, b = (_lead(a, get_aval(b).shape[:-2]), b) if na < nb else (a, _lead(b, get_aval(
            a).shape[:-2]))
        na = nb = max(na, nb)
    bd = tuple(range(na - 2))
    return dot_general(a, b, (((na - 1,), (nb - 2,)), (bd, bd)))


def _lead(x, batch):
    shape = get_aval(x).shape
    n = len(batch)
    return sp.broadcast_in_dim(x, tuple(batch) + shape, tuple(range(n, n + len(shape))))


def _tri_mask(shape, k: int, lower: bool):
    """Bool mask of the lower (col <= row + k) or upper (col >= row + k) part of matrices."""
    nd = len(shape)
    rows = sp.broadcasted_iota(np.int32, shape, nd - 2)
    cols = sp.broadcasted_iota(np.int32, shape, nd - 1)
    shifted = ew.add(rows, np.int32(k))
    return ew.le(cols, shifted) if lower else ew.ge(cols, shifted)


def _tril(x, k: int = 0):
    return ew.select_n(_tri_mask(get_aval(x).shape, k, True), ew._const(x, 0), x)


def _triu(x, k: int = 0):
    return ew.select_n(_tri_mask(get_aval(x).shape, k, False), ew._const(x, 0), x)


def _eye_mask(n: int, ndim: int = 2, start: int = 0):
    """Bool mask of the diagonal (from row `start` on), shaped `(1, ..., 1, n, n)` to
    broadcast against rank-`ndim` stacks.

    Rules select with masks instead of multiplying by an identity matrix: a constant-foldable
    complex (or float-to-complex) identity makes IREE 3.13's constant hoisting fail ("jit
    global source initialization order invalid").
    """
    rows = sp.broadcasted_iota(np.int32, (n, n), 0)
    eq = ew.eq(rows, sp.broadcasted_iota(np.int32, (n, n), 1))
    if start:
        eq = ew.and_(eq, ew.ge(rows, np.int32(start)))
    return sp.reshape(eq, (1,) * (ndim - 2) + (n, n))


def _on_diag(mask, diag_value, x):
    """`diag_value` on the diagonal `mask`, x elsewhere."""
    return ew.select_n(mask, x, diag_value)


def _diagonal(x):
    """`(..., n, n) -> (..., n)`: the main diagonal (a masked column sum, linear in x)."""
    shape = get_aval(x).shape
    eye = _tri_mask(shape, 0, True)
    eye = ew.and_(eye, _tri_mask(shape, 0, False))
    return rp.reduce_sum(ew.select_n(eye, ew._const(x, 0), x), (len(shape) - 2,))


def _row_vector(v):
    """`(..., n) -> (..., 1, n)`."""
    shape = get_aval(v).shape
    return sp.reshape(v, shape[:-1] + (1, shape[-1]))


def _col_vector(v):
    """`(..., n) -> (..., n, 1)`."""
    return sp.reshape(v, get_aval(v).shape + (1,))


def _permute_rows(x, perm):
    """`x[..., perm[..., i], :]`: rows of `x` taken in the order of `perm` (linear in x)."""
    return ix.take_along_axis(x, _col_vector(perm), get_aval(x).ndim - 2)


def _symmetrize(x):
    """(x + x^H) / 2: the Hermitian part, which JAX factorizes."""
    return ew.div(ew.add(x, _H(x)), ew._const(x, 2))


# ---------------------------------------------------------------------------------------------
# cholesky: A = L L^H for Hermitian positive-definite A (only A's lower triangle is read)


def _cholesky_impl(x):
    try:
        return np.linalg.cholesky(x)
    except np.linalg.LinAlgError:
        pass
    flat = x.reshape((-1,) + x.shape[-2:])
    out = np.empty_like(flat)
    for i, m in enumerate(flat):
        try:
            out[i] = np.linalg.cholesky(m)
        except np.linalg.LinAlgError:  # not positive definite: NaN, as JAX
            out[i] = np.tril(np.full_like(m, np.nan))
    return out.reshape(x.shape)


def _cholesky_abstract(x):
    _check_matrix("cholesky", x)
    return ShapedArray(x.shape, x.dtype, x.weak_type)


def _phi(x):
    """The lower triangle of x with its diagonal halved (Murray, arXiv:1602.07527)."""
    n = get_aval(x).shape[-1]
    return _on_diag(_eye_mask(n, _ndim(x)), ew.mul(x, ew._const(x, 0.5)), _tril(x))


def _cholesky_jvp(primals, tangents):
    # dL = L phi(L^{-1} dA L^{-H})
    (x,), (sigma_dot,) = primals, tangents
    L = cholesky_p.bind(x)
    tmp = triangular_solve(L, sigma_dot, left_side=False, transpose_a=True, conjugate_a=True,
                           lower=True)
    inner = triangular_solve(L, tmp, left_side=True, transpose_a=False, lower=True)
    return L, _mm(L, _phi(inner))


def _cholesky_batch(axis_size, vals, dims):
    return cholesky_p.bind(*_front(axis_size, vals, dims)), 0


cholesky_p = Primitive("cholesky")
cholesky_p.impl = _cholesky_impl
cholesky_p.abstract_eval = _cholesky_abstract
cholesky_p.jvp = _cholesky_jvp
cholesky_p.batch = _cholesky_batch


def cholesky(x, *, symmetrize_input: bool = True):
    """Lower Cholesky factor of Hermitian positive-definite matrices `[..., n, n]` (NaN where
    the factorization fails). With `symmetrize_input`, factorizes (x + x^H) / 2."""
    _check_matrix("cholesky", get_aval(x))
    if symmetrize_input:
        x = _symmetrize(x)
    return cholesky_p.bind(x)


# ---------------------------------------------------------------------------------------------
# triangular_solve: op(A) X = B (left_side) or X op(A) = B, op = identity/transpose/adjoint


def _triangle(a, lower, unit_diagonal):
    tri = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        tri = tri.copy()
        np.einsum("...ii->...i", tri)[...] = 1
    return tri


def _substitute(a, b):
    """Solves a x = b for lower-triangular a by forward substitution (inf/NaN where singular)."""
    x = np.array(b, copy=True)
    with np.errstate(all="ignore"):
        for i in range(a.shape[-1]):
            if i:
                x[..., i, :] -= np.einsum("...k,...kj->...j", a[..., i, :i], x[..., :i, :])
            x[..., i, :] /= a[..., i, i, None]
    return x


def _triangular_solve_impl(a, b, *, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    if a.dtype != b.dtype or a.shape[:-2] != b.shape[:-2]:
        raise TypeError("operands do not match")  # eval_impl reports the shape rule's error
    tri = _triangle(a, lower, unit_diagonal)
    if conjugate_a:
        tri = np.conj(tri)
    if transpose_a:
        tri, lower = np.swapaxes(tri, -1, -2), not lower
    if not left_side:  # X T = B  <=>  T^T X^T = B^T
        tri, lower, b = np.swapaxes(tri, -1, -2), not lower, np.swapaxes(b, -1, -2)
    try:
        x = np.linalg.solve(tri, b)
    except np.linalg.LinAlgError:  # singular: substitute, giving inf/NaN as JAX does
        if lower:
            x = _substitute(tri, b)
        else:  # reversing rows and columns makes an upper triangle lower
            x = _substitute(tri[..., ::-1, ::-1], b[..., ::-1, :])[..., ::-1, :]
    if not left_side:
        x = np.swapaxes(x, -1, -2)
    return np.asarray(x, dtype=b.dtype)


def _triangular_solve_abstract(a, b, *, left_side, lower, transpose_a, conjugate_a,
                               unit_diagonal):
    _check_matrix("triangular_solve", a)
    _check_inexact("triangular_solve", b)
    if a.dtype != b.dtype:
        raise TypeError(f"triangular_solve requires operands of the same dtype, got "
                        f"{a.str_short()} and {b.str_short()}.")
    if b.ndim != a.ndim or a.shape[:-2] != b.shape[:-2]:
        raise ValueError(f"triangular_solve: a and b must have the same batch dimensions, "
                         f"got a {a.str_short()} and b {b.str_short()}.")
    common = b.shape[-2] if left_side else b.shape[-1]
    if common != a.shape[-1]:
        side = "b.shape[-2] (left_side=True)" if left_side else "b.shape[-1] (left_side=False)"
        raise ValueError(f"Incompatible shapes for arguments to triangular_solve: a "
                         f"{a.str_short()} and b {b.str_short()}; {side} must equal "
                         f"{a.shape[-1]}.")
    return ShapedArray(b.shape, b.dtype, a.weak_type and b.weak_type)


def _triangular_solve_jvp_a(g_a, ans, a, b, *, left_side, lower, transpose_a, conjugate_a,
                            unit_diagonal):
    # d(op(A)^{-1} B) = -op(A)^{-1} op(dA) X, with dA restricted to the triangle that is read.
    m, n = get_aval(b).shape[-2:]
    k = 1 if unit_diagonal else 0
    g_a = ew.neg(_tril(g_a, -k) if lower else _triu(g_a, k))
    g_a = _T(g_a) if transpose_a else g_a
    g_a = _conj(g_a) if conjugate_a else g_a
    params = {"left_side": left_side, "lower": lower, "transpose_a": transpose_a,
              "conjugate_a": conjugate_a, "unit_diagonal": unit_diagonal}

    def a_inverse(rhs):
        return triangular_solve_p.bind(a, rhs, **params)

    if left_side:
        return a_inverse(_mm(g_a, ans)) if m > n else _mm(a_inverse(g_a), ans)
    return a_inverse(_mm(ans, g_a)) if m < n else _mm(ans, a_inverse(g_a))


def _triangular_solve_jvp(primals, tangents, **params):
    (a, b), (a_dot, b_dot) = primals, tangents
    ans = triangular_solve_p.bind(a, b, **params)
    out = Zero(tangent_aval(get_aval(ans)))
    if type(b_dot) is not Zero:
        out = add_tangents(out, triangular_solve_p.bind(a, b_dot, **params))
    if type(a_dot) is not Zero:
        out = add_tangents(out, _triangular_solve_jvp_a(a_dot, ans, a, b, **params))
    return ans, out


def _triangular_solve_transpose(ct, a, b, *, left_side, lower, transpose_a, conjugate_a,
                                unit_diagonal):
    # Linear in b: the transpose solves with op(A)^T.
    if is_undefined_primal(a):
        raise ValueError("triangular_solve is not linear in its matrix operand `a`")
    if type(ct) is Zero:
        return [None, Zero(b.aval)]
    return [None, triangular_solve_p.bind(a, ct, left_side=left_side, lower=lower,
                                          transpose_a=not transpose_a, conjugate_a=conjugate_a,
                                          unit_diagonal=unit_diagonal)]


def _triangular_solve_batch(axis_size, vals, dims, **params):
    (a, b), (ad, bd) = vals, dims
    if ad is not_mapped:
        # One matrix, many right-hand sides: fold the batch into b's columns (or rows).
        nd = _ndim(b)
        if params["left_side"]:
            y = sp.moveaxis(b, bd, nd - 1)
            shape = get_aval(y).shape
            out = triangular_solve_p.bind(a, sp.reshape(y, shape[:-2] + (shape[-2] * shape[-1],
                                                                          )), **params)
            return sp.reshape(out, shape), nd - 1
        y = sp.moveaxis(b, bd, nd - 2)
        shape = get_aval(y).shape
        flat = shape[:-3] + (shape[-3] * shape[-2], shape[-1])
        out = triangular_solve_p.bind(a, sp.reshape(y, flat), **params)
        return sp.reshape(out, shape), nd - 2
    a, b = _front(axis_size, vals, dims)
    return triangular_solve_p.bind(a, b, **params), 0


triangular_solve_p = Primitive("triangular_solve")
triangular_solve_p.impl = _triangular_solve_impl
triangular_solve_p.abstract_eval = _triangular_solve_abstract
triangular_solve_p.jvp = _triangular_solve_jvp
triangular_solve_p.transpose = _triangular_solve_transpose
triangular_solve_p.batch = _triangular_solve_batch


def triangular_solve(a, b, *, left_side: bool = False, lower: bool = False,
                     transpose_a: bool = False, conjugate_a: bool = False,
                     unit_diagonal: bool = False):
    """Solves op(a) @ x = b (left_side) or x @ op(a) = b for triangular `a` (lax semantics:
    a rank-(n-1) `b` is a vector). Only the `lower` (or upper) triangle of `a` is read."""
    a_aval, b_aval = get_aval(a), get_aval(b)
    conjugate_a = bool(conjugate_a) and dtypes.is_complex(a_aval.dtype)
    vector = b_aval.ndim == a_aval.ndim - 1
    if vector:
        b = sp.expand_dims(b, (b_aval.ndim if left_side else b_aval.ndim - 1,))
    out = triangular_solve_p.bind(a, b, left_side=bool(left_side), lower=bool(lower),
                                  transpose_a=bool(transpose_a), conjugate_a=conjugate_a,
                                  unit_diagonal=bool(unit_diagonal))
    if vector:
        nd = _ndim(out)
        out = sp.squeeze(out, (nd - 1,) if left_side else (nd - 2,))
    return out


# ---------------------------------------------------------------------------------------------
# lu: P A = L U with partial pivoting (LAPACK getrf); returns (lu, pivots, permutation)


def _cabs1(x):
    """|re| + |im|: LAPACK's pivot magnitude (i?amax), so pivots match JAX on CPU."""
    return np.abs(x.real) + np.abs(x.imag) if np.iscomplexobj(x) else np.abs(x)


def _lu_panel(a, perm, piv, j0, j1, bi):
    """Unblocked LU of columns j0:j1 (row swaps applied to whole rows)."""
    for j in range(j0, j1):
        p = j + np.argmax(_cabs1(a[:, j:, j]), axis=1)
        piv[:, j] = p
        row = a[bi, j].copy()
        a[bi, j] = a[bi, p]
        a[bi, p] = row
        pj = perm[bi, j].copy()
        perm[bi, j] = perm[bi, p]
        perm[bi, p] = pj
        d = a[:, j, j]
        nonzero = d != 0
        col = a[:, j + 1:, j] / np.where(nonzero, d, 1)[:, None]
        a[:, j + 1:, j] = np.where(nonzero[:, None], col, a[:, j + 1:, j])
        a[:, j + 1:, j + 1:j1] -= a[:, j + 1:, j, None] * a[:, j, None, j + 1:j1]


def _lu_impl(x, block: int = 64):
    *batch, m, n = x.shape
    k = min(m, n)
    a = np.array(x.reshape((-1, m, n)), copy=True)
    nb = a.shape[0]
    perm = np.tile(np.arange(m, dtype=np.int32), (nb, 1))
    piv = np.zeros((nb, k), np.int32)
    bi = np.arange(nb)
    with np.errstate(all="ignore"):
        for j0 in range(0, k, block):
            j1 = min(j0 + block, k)
            _lu_panel(a, perm, piv, j0, j1, bi)
            if j1 < n:  # U12 = L11^{-1} A12; A22 -= L21 U12
                l11 = _triangle(a[:, j0:j1, j0:j1], True, True)
                a[:, j0:j1, j1:] = _substitute(l11, a[:, j0:j1, j1:])
                a[:, j1:, j1:] -= a[:, j1:, j0:j1] @ a[:, j0:j1, j1:]
    return (a.reshape(x.shape), piv.reshape(tuple(batch) + (k,)),
            perm.reshape(tuple(batch) + (m,)))


def _lu_abstract(x):
    _check_matrix("lu", x, square=False)
    m, n = x.shape[-2:]
    batch = x.shape[:-2]
    return [ShapedArray(x.shape, x.dtype), ShapedArray(batch + (min(m, n),), np.int32),
            ShapedArray(batch + (m,), np.int32)]


def lu_factors(lu):
    """(L, U) of a packed LU factor: L `(..., m, m)` unit lower, U `(..., n, n)` (padded with
    an identity block where m < n)."""
    shape = get_aval(lu).shape
    m, n = shape[-2:]
    k = min(m, n)
    nd = len(shape)
    zero = ew._const(lu, 0)
    lk = sp.slice_in_dim(lu, 0, k, axis=nd - 1)
    l_pad = [(0, 0, 0)] * (nd - 1) + [(0, m - k, 0)]
    ell = _on_diag(_eye_mask(m, nd), ew._const(lu, 1), sp.pad(_tril(lk, -1), zero, l_pad))
    uk = sp.slice_in_dim(lu, 0, k, axis=nd - 2)
    u_pad = [(0, 0, 0)] * (nd - 2) + [(0, n - k, 0), (0, 0, 0)]
    u = sp.pad(_triu(uk), zero, u_pad)
    if n > k:
        u = _on_diag(_eye_mask(n, nd, start=k), ew._const(lu, 1), u)
    return ell, u


def _lu_jvp(primals, tangents):
    (a,), (a_dot,) = primals, tangents
    lu, pivots, permutation = lu_p.bind(a)
    ell, u = lu_factors(lu)
    # L^{-1} P dA U^{-1} = L^{-1} dL + dU U^{-1}: split into strictly lower and upper parts.
    la = triangular_solve(ell, _permute_rows(a_dot, permutation), left_side=True, lower=True,
                          unit_diagonal=True)
    lau = triangular_solve(u, la, left_side=False, lower=False)
    lu_dot = ew.add(_mm(ell, _tril(lau, -1)), _mm(_triu(lau), u))
    return [lu, pivots, permutation], [lu_dot, Zero.from_primal_value(pivots),
                                       Zero.from_primal_value(permutation)]


def _lu_batch(axis_size, vals, dims):
    return lu_p.bind(*_front(axis_size, vals, dims)), [0, 0, 0]


lu_p = Primitive("lu")
lu_p.multiple_results = True
lu_p.impl = _lu_impl
lu_p.abstract_eval = _lu_abstract
lu_p.jvp = _lu_jvp
lu_p.batch = _lu_batch


def lu(x):
    """LU decomposition with partial pivoting of `[..., m, n]` matrices.

    Returns `(lu, pivots, permutation)`: L (unit diagonal, strictly below) and U (on and above
    the diagonal) packed in one array; the row swapped with row i at step i (int32); and the
    resulting row permutation, `a[permutation] == L @ U` (int32).
    """
    return tuple(lu_p.bind(x))


# ---------------------------------------------------------------------------------------------
# qr: A = Q R (Householder; numpy's geqrf/orgqr)


def _qr_impl(x, *, full_matrices):
    q, r = np.linalg.qr(x, mode="complete" if full_matrices else "reduced")
    return [q.astype(x.dtype, copy=False), r.astype(x.dtype, copy=False)]


def _qr_abstract(x, *, full_matrices):
    _check_matrix("qr", x, square=False)
    *batch, m, n = x.shape
    k = m if full_matrices else min(m, n)
    batch = tuple(batch)
    return [ShapedArray(batch + (m, k), x.dtype), ShapedArray(batch + (k, n), x.dtype)]


def _thin_qr_jvp(q, r, dx):
    """JVP of a thin QR of `[..., m, n]`, m >= n (j-towns.github.io/papers/qr-derivative.pdf)."""
    dx_rinv = triangular_solve(r, dx)  # right-side solve: dX R^{-1}
    qt_dx_rinv = _mm(_H(q), dx_rinv)
    lower = _tril(qt_dx_rinv, -1)
    do = ew.sub(lower, _H(lower))  # skew-Hermitian
    if dtypes.is_complex(get_aval(do).dtype):
        n = get_aval(r).shape[-1]
        imag_diag = ew.sub(qt_dx_rinv, ew.convert_element_type(ew.real(qt_dx_rinv),
                                                              get_aval(do).dtype))
        do = ew.add(do, _on_diag(_eye_mask(n, _ndim(do)), imag_diag, ew._const(do, 0)))
    dq = ew.add(_mm(q, ew.sub(do, qt_dx_rinv)), dx_rinv)
    dr = _mm(ew.sub(qt_dx_rinv, do), r)
    return dq, dr


def _qr_jvp(primals, tangents, *, full_matrices):
    (x,), (dx,) = primals, tangents
    q, r = qr_p.bind(x, full_matrices=full_matrices)
    *_, m, n = get_aval(x).shape
    nd = _ndim(x)
    if m < n:  # X = [X1 X2]: QR of the square X1, then R2 = Q^H X2
        x2 = sp.slice_in_dim(x, m, n, axis=nd - 1)
        dx1 = sp.slice_in_dim(dx, 0, m, axis=nd - 1)
        dx2 = sp.slice_in_dim(dx, m, n, axis=nd - 1)
        dq, dr1 = _thin_qr_jvp(q, sp.slice_in_dim(r, 0, m, axis=nd - 1), dx1)
        dr2 = ew.add(_mm(_H(dq), x2), _mm(_H(q), dx2))
        return [q, r], [dq, sp.concatenate([dr1, dr2], nd - 1)]
    q_mn = sp.slice_in_dim(q, 0, n, axis=nd - 1) if full_matrices else q
    r_nn = sp.slice_in_dim(r, 0, n, axis=nd - 2) if full_matrices else r
    dq_mn, dr_nn = _thin_qr_jvp(q_mn, r_nn, dx)
    if not full_matrices or m == n:
        return [q, r], [dq_mn, dr_nn]
    # Complete Q of a tall matrix (arXiv:2409.13374, eqs. 32-33).
    dtype = get_aval(q).dtype
    q_nn = sp.slice_in_dim(q_mn, 0, n, axis=nd - 2)
    q_pn = sp.slice_in_dim(q_mn, n, m, axis=nd - 2)
    q_mp = sp.slice_in_dim(q, n, m, axis=nd - 1)
    dq_nn = sp.slice_in_dim(dq_mn, 0, n, axis=nd - 2)
    dq_pn = sp.slice_in_dim(dq_mn, n, m, axis=nd - 2)
    q_nn_minus_eye = _on_diag(_eye_mask(n, nd), ew.sub(q_nn, ew._const(q_nn, 1)), q_nn)
    z_pn_h = _solve_general(_H(q_nn_minus_eye), _H(q_pn))
    z_pn = _H(z_pn_h)
    dq_mp = ew.sub(_mm(dq_mn, z_pn_h), _mm(ew.add(q_mn, _mm(q_mp, z_pn)),
                                            _H(ew.sub(dq_pn, _mm(z_pn, dq_nn)))))
    zeros = sp.full(get_aval(dr_nn).shape[:-2] + (m - n, n), 0, dtype)
    return [q, r], [sp.concatenate([dq_mn, dq_mp], nd - 1),
                    sp.concatenate([dr_nn, zeros], nd - 2)]


def _qr_batch(axis_size, vals, dims, **params):
    return qr_p.bind(*_front(axis_size, vals, dims), **params), [0, 0]


qr_p = Primitive("qr")
qr_p.multiple_results = True
qr_p.impl = _qr_impl
qr_p.abstract_eval = _qr_abstract
qr_p.jvp = _qr_jvp
qr_p.batch = _qr_batch


def qr(x, *, full_matrices: bool = True):
    """QR decomposition of `[..., m, n]` matrices: `(q, r)` with q `[..., m, m]` (or
    `[..., m, k]`, k = min(m, n), without `full_matrices`) and r upper triangular."""
    q, r = qr_p.bind(x, full_matrices=bool(full_matrices))
    return q, r


def _solve_general(a, b):
    """a^{-1} b through LU (b `[..., n, k]`, same batch dims)."""
    lu_, _, perm = lu_p.bind(a)
    return lu_solve(lu_, perm, b)


def lu_solve(lu_, permutation, b):
    """Solves A x = b from A's LU factorization; b `[..., n, k]` with lu's batch dims."""
    x = _permute_rows(b, permutation)
    x = triangular_solve(lu_, x, left_side=True, lower=True, unit_diagonal=True)
    return triangular_solve(lu_, x, left_side=True, lower=False)


# ---------------------------------------------------------------------------------------------
# eigh: A = V diag(w) V^H for Hermitian A, eigenvalues ascending


def _eigh_impl(x, *, lower, sort_eigenvalues):
    w, v = np.linalg.eigh(x, UPLO="L" if lower else "U")
    return [v.astype(x.dtype, copy=False), w.astype(dtypes.real_dtype(x.dtype), copy=False)]


def _eigh_abstract(x, *, lower, sort_eigenvalues):
    _check_matrix("eigh", x)
    return [ShapedArray(x.shape, x.dtype), ShapedArray(x.shape[:-1], dtypes.real_dtype(x.dtype))]


def _eigh_jvp(primals, tangents, *, lower, sort_eigenvalues):
    # Non-degenerate perturbation theory: dw = diag(V^H dA V), dV = V (F * (V^H dA V)) with
    # F_ij = 1 / (w_j - w_i) off the diagonal.
    (a,), (a_dot,) = primals, tangents
    v, w_real = eigh_p.bind(_symmetrize(a), lower=lower, sort_eigenvalues=sort_eigenvalues)
    dtype = get_aval(a).dtype
    n = get_aval(a).shape[-1]
    w = ew.convert_element_type(w_real, dtype)
    eye = _eye_mask(n, _ndim(a))
    diffs = ew.sub(_row_vector(w), _col_vector(w))
    f = _on_diag(eye, ew._const(w, 0), ew.integer_pow(_on_diag(eye, ew._const(w, 1), diffs), -1))
    vdag_adot_v = _mm(_mm(_H(v), a_dot), v)
    dv = _mm(v, ew.mul(f, vdag_adot_v))
    dw = _real(_diagonal(vdag_adot_v))
    return [v, w_real], [dv, dw]


def _eigh_batch(axis_size, vals, dims, **params):
    return eigh_p.bind(*_front(axis_size, vals, dims), **params), [0, 0]


eigh_p = Primitive("eigh")
eigh_p.multiple_results = True
eigh_p.impl = _eigh_impl
eigh_p.abstract_eval = _eigh_abstract
eigh_p.jvp = _eigh_jvp
eigh_p.batch = _eigh_batch


def eigh(x, *, lower: bool = True, symmetrize_input: bool = True,
         sort_eigenvalues: bool = True):
    """Eigendecomposition of Hermitian `[..., n, n]` matrices: `(v, w)`, eigenvectors in the
    columns of v, real eigenvalues w in ascending order."""
    _check_matrix("eigh", get_aval(x))
    if symmetrize_input:
        x = _symmetrize(x)
    v, w = eigh_p.bind(x, lower=bool(lower), sort_eigenvalues=bool(sort_eigenvalues))
    return v, w


# ---------------------------------------------------------------------------------------------
# svd: A = U diag(s) V^H, singular values descending


def _svd_impl(x, *, full_matrices, compute_uv):
    if not compute_uv:
        return [np.linalg.svd(x, compute_uv=False).astype(dtypes.real_dtype(x.dtype))]
    u, s, vt = np.linalg.svd(x, full_matrices=full_matrices)
    return [s.astype(dtypes.real_dtype(x.dtype), copy=False), u.astype(x.dtype, copy=False),
            vt.astype(x.dtype, copy=False)]


def _svd_abstract(x, *, full_matrices, compute_uv):
    _check_matrix("svd", x, square=False)
    *batch, m, n = x.shape
    batch, k = tuple(batch), min(m, n)
    s = ShapedArray(batch + (k,), dtypes.real_dtype(x.dtype))
    if not compute_uv:
        return [s]
    u = ShapedArray(batch + (m, m if full_matrices else k), x.dtype)
    vt = ShapedArray(batch + (n if full_matrices else k, n), x.dtype)
    return [s, u, vt]


def _svd_jvp(primals, tangents, *, full_matrices, compute_uv):
    (a,), (da,) = primals, tangents
    s, u, vt = svd_p.bind(a, full_matrices=False, compute_uv=True)
    m, n = get_aval(a).shape[-2:]
    if compute_uv and full_matrices and m != n:
        raise NotImplementedError(
            "Singular value decomposition JVP not implemented for full matrices of a "
            "non-square input; use full_matrices=False.")
    dtype = get_aval(a).dtype
    ut, v = _H(u), _H(vt)
    ds_full = _mm(_mm(ut, da), v)
    ds = _real(_diagonal(ds_full))
    if not compute_uv:
        return [s], [ds]
    return _svd_uv_jvp(a, da, s, u, vt, ut, v, ds_full, ds, dtype)


def _svd_uv_jvp(a, da, s, u, vt, ut, v, dS, ds, dtype):
    k = get_aval(s).shape[-1]
    m, n = get_aval(a).shape[-2:]
    s_row = _row_vector(s)
    s_col = _col_vector(s)
    rdtype = get_aval(s).dtype
    s_diffs = ew.mul(ew.add(s_row, s_col), ew.sub(s_row, s_col))
    eye = _eye_mask(k, _ndim(a))
    f = _on_diag(eye, ew._const(s, 0), ew.div(ew._const(s, 1), _on_diag(eye, ew._const(s, 1),
                                                                      s_diffs)))
    f = ew.convert_element_type(f, dtype)
    s_row_c = ew.convert_element_type(s_row, dtype)
    s_col_c = ew.convert_element_type(s_col, dtype)
    dss = ew.mul(s_row_c, dS)
    sds = ew.mul(s_col_c, dS)
    s_zeros = ew.convert_element_type(ew.eq(s, ew._const(s, 0)), rdtype)
    s_inv = ew.sub(ew.div(ew._const(s, 1), ew.add(s, s_zeros)), s_zeros)
    s_inv_row = _row_vector(ew.convert_element_type(s_inv, dtype))
    s_inv_mat = _on_diag(eye, s_inv_row, ew._const(s_inv_row, 0))
    half = ew._const(dS, 0.5)
    dudv_diag = ew.mul(ew.mul(half, ew.sub(dS, _H(dS))), s_inv_mat)
    du = _mm(u, ew.add(ew.mul(f, ew.add(dss, _H(dss))), dudv_diag))
    dv = _mm(v, ew.mul(f, ew.add(sds, _H(sds))))
    if m > n:
        dav = _mm(da, v)
        du = ew.add(du, ew.div(ew.sub(dav, _mm(u, _mm(ut, dav))), s_row_c))
    if n > m:
        dahu = _mm(_H(da), u)
        dv = ew.add(dv, ew.div(ew.sub(dahu, _mm(v, _mm(vt, dahu))), s_row_c))
    return [s, u, vt], [ds, du, _H(dv)]


def _svd_batch(axis_size, vals, dims, *, compute_uv, **params):
    outs = svd_p.bind(*_front(axis_size, vals, dims), compute_uv=compute_uv, **params)
    return outs, [0] * len(outs)


svd_p = Primitive("svd")
svd_p.multiple_results = True
svd_p.impl = _svd_impl
svd_p.abstract_eval = _svd_abstract
svd_p.jvp = _svd_jvp
svd_p.batch = _svd_batch


def svd(x, *, full_matrices: bool = True, compute_uv: bool = True):
    """Singular value decomposition of `[..., m, n]` matrices: `(s, u, vt)` (or `[s]`)."""
    return svd_p.bind(x, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))
