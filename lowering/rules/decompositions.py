"""Lowering rules of the decomposition primitives (hlodiff/prims/decompositions.py).

IREE 3.13 rejects `stablehlo.cholesky` and `stablehlo.triangular_solve` and links no LAPACK, so
these rules spell the algorithms out in ops it compiles: `stablehlo.while` loops over blocks of
columns, `dynamic_slice` / `dynamic_update_slice` at the loop index, masks built from `iota`, and
`dot_general` for the block updates. The emitted code has the same size for every matrix size;
matrices are padded to a multiple of the block size with an identity block, which every
algorithm here leaves untouched. Loop-carried values travel through the `while` operands, so
no region captures values from outside.

Complex matrices are carried as (real, imaginary) pairs of real tensors (`_Field`) and joined
only at the end: IREE 3.13 with `--iree-opt-data-tiling` (hlodiff's optimized CPU flags) crashes
the compiler process (SIGSEGV / LLVM abort) on dispatches that mix complex element types with
matmuls, e.g. a complex `dot_general` feeding a `subtract`. Operands and results pass
`stablehlo.optimization_barrier`s, keeping the neighbours' ops out of these rules' matmul
dispatches (data tiling fails on some such fusions). Data tiling still crashes on some larger
programs built around these rules (e.g. `jit(grad(cholesky loss))`); the safe CPU flags compile
them (see tests/test_linalg.py::test_jit_of_grad_spec_cholesky).

- triangular_solve: transposes / conjugates the operands into a left solve, then blocked
  substitution (forward for lower, backward for upper triangles): invert the diagonal block
  (a row-by-row loop), solve that block with a matmul, subtract its contribution from the rows
  still to come (a matmul).
- cholesky: right-looking blocked Cholesky: factor the diagonal block (a column loop), solve
  the panel below it with the block's inverse, update the trailing matrix with one matmul.
  Matrices that are not positive definite come out all NaN (lower triangle), as in JAX.
- lu: partial pivoting needs a per-matrix pivot row, so the batch is a loop over matrices; each
  is a blocked right-looking LU (LAPACK getrf): pivoted factorization of an (n, 64) panel with
  row swaps inside the panel, one gather applying the panel's row order to the matrix, then
  U12 = L11^{-1} A12 and the trailing update A22 -= L21 U12. Square matrices only.
- qr, eigh, svd: lowered in lowering/rules/spectral.py.
"""

from __future__ import annotations

import math

import numpy as np

from hlodiff import dtypes
from hlodiff.prims import decompositions as dp

from .. import hlo
from ..emitter import aval, i64_array
from ..registry import register

I32 = np.dtype(np.int32)
BLOCK = 64  # columns per block; matrices up to this size are one block


# ---------------------------------------------------------------------------------------------
# Loops, slices and masks on plain Values


def _flatten(items):
    flat, spec = [], []
    for it in items:
        parts = it if isinstance(it, tuple) else (it,)
        spec.append(len(parts) if isinstance(it, tuple) else None)
        flat.extend(parts)
    return flat, spec


def _unflatten(flat, spec):
    out, i = [], 0
    for s in spec:
        out.append(flat[i] if s is None else tuple(flat[i:i + s]))
        i += 1 if s is None else s
    return out


def _fori(b, n: int, carry: list, body) -> list:
    """`for i in range(n): carry = body(i, *carry)` as a `stablehlo.while`. Carried items are
    Values or tuples of Values (complex pairs); the body must use only those and constants."""
    if n == 1:
        return list(body(hlo.full(b, 0, I32), *carry))
    flat, spec = _flatten(carry)
    operands = [hlo.full(b, 0, I32)] + flat
    avals = [v.aval for v in operands]
    with b.region(avals) as cond:
        b.ret([hlo.compare(b, cond.args[0], hlo.full(b, n, I32), "LT")], op="stablehlo.return")
    with b.region(avals) as loop:
        i = loop.args[0]
        new, _ = _flatten(body(i, *_unflatten(loop.args[1:], spec)))
        b.ret([hlo.add(b, i, hlo.full(b, 1, I32))] + new, op="stablehlo.return")
    return _unflatten(b.op("stablehlo.while", operands, avals, regions=[cond, loop])[1:], spec)


def _index(b, s):
    return hlo.full(b, int(s), I32) if isinstance(s, (int, np.integer)) else s


def _dslice(b, x, starts, sizes):
    """x[starts : starts + sizes] with scalar i32 Values (or ints) as starts."""
    return b.op("stablehlo.dynamic_slice", [x, *[_index(b, s) for s in starts]],
                aval(sizes, x.dtype), {"slice_sizes": i64_array(sizes)})


def _dupdate(b, x, update, starts):
    return b.op("stablehlo.dynamic_update_slice", [x, update, *[_index(b, s) for s in starts]],
                x.aval)


def _iota_cmp(b, shape, dim, s, direction):
    """iota along `dim` compared with the scalar (Value or int) `s`: a bool mask of `shape`."""
    s = hlo.broadcast_in_dim(b, _index(b, s), shape, ())
    return hlo.compare(b, hlo.iota(b, shape, I32, dim), s, direction)


def _rows_vs_cols(b, shape, direction):
    nd = len(shape)
    return hlo.compare(b, hlo.iota(b, shape, I32, nd - 2), hlo.iota(b, shape, I32, nd - 1),
                       direction)


def _plus(b, i, k: int):
    return hlo.add(b, i, hlo.full(b, k, I32))


def _times(b, i, k: int):
    return hlo.mul(b, i, hlo.full(b, k, I32))


def _blocking(n: int) -> tuple[int, int]:
    """(block size, padded size) for n columns."""
    size = max(1, min(n, BLOCK))
    return size, size * math.ceil(n / size)


def _real_matmul(b, x, y):
    """Batched `x @ y` over equal leading dims."""
    nb = len(x.shape) - 2
    bd = list(range(nb))
    dn = (f"#stablehlo.dot<lhs_batching_dimensions = {bd}, rhs_batching_dimensions = {bd}, "
          f"lhs_contracting_dimensions = [{nb + 1}], rhs_contracting_dimensions = [{nb}]>")
    return b.op("stablehlo.dot_general", [x, y], aval(x.shape[:-1] + (y.shape[-1],), x.dtype),
                {"dot_dimension_numbers": dn})


# ---------------------------------------------------------------------------------------------
# Matrices over R or C: a value is a tuple of real Values, (x,) or (re, im)


class _Field:
    """Arithmetic on matrices stored as tuples of real tensors of the part dtype."""

    def __init__(self, b, dtype):
        self.b = b
        self.dtype = np.dtype(dtype)
        self.complex = hlo.is_complex(dtype)
        self.part = dtypes.real_dtype(dtype)

    # -- conversion ---------------------------------------------------------------------------

    def split(self, x):
        """An operand as a tuple of real tensors, behind a barrier (see `barrier`)."""
        b = self.b
        if not self.complex:
            return self.barrier((x,))
        return self.barrier((hlo.unary(b, "real", x, self.part),
                             hlo.unary(b, "imag", x, self.part)))

    def barrier(self, v):
        """`stablehlo.optimization_barrier`: keeps what follows out of the dispatch of the
        matmul that produced v. IREE 3.13 with data tiling fails on matmuls fused with some
        consumers, e.g. "vector.transfer_read requires valid padding vector elemental type"
        for a `complex` consumer, a segfault for dot_general -> dynamic_update_slice ->
        reverse -> transpose -> divide."""
        return tuple(self.b.op("stablehlo.optimization_barrier", list(v), [p.aval for p in v]))

    def join(self, v):
        """The value as one tensor, behind a barrier (see `barrier`)."""
        v = self.barrier(v)
        if not self.complex:
            return v[0]
        return self.b.op("stablehlo.complex", list(v), aval(v[0].shape, self.dtype))

    def from_real(self, r):
        return (r, hlo.full_like(self.b, r, 0)) if self.complex else (r,)

    def full(self, value, shape):
        return self.from_real(hlo.full(self.b, value, self.part, shape))

    def zeros(self, shape):
        return self.full(0, shape)

    # -- structure (applied to each part) -------------------------------------------------------

    def map(self, fn, *vs):
        return tuple(fn(*parts) for parts in zip(*vs))

    def dslice(self, x, starts, sizes):
        return self.map(lambda p: _dslice(self.b, p, starts, sizes), x)

    def dupdate(self, x, u, starts):
        return self.map(lambda p, q: _dupdate(self.b, p, q, starts), x, u)

    def select(self, mask, x, y):
        return self.map(lambda p, q: hlo.select(self.b, mask, p, q), x, y)

    def reshape(self, x, shape):
        return self.map(lambda p: hlo.reshape(self.b, p, shape), x)

    def broadcast(self, x, shape):
        """Size-1 dimensions of x (same rank) expanded to `shape`."""
        return self.map(lambda p: hlo.broadcast_in_dim(self.b, p, shape, range(len(shape))), x)

    def swap(self, x):
        n = len(x[0].shape)
        return self.map(lambda p: hlo.transpose(self.b, p, tuple(range(n - 2)) + (n - 1, n - 2)),
                        x)

    def pad(self, x, hi):
        nd = len(hi)
        zero = hlo.full(self.b, 0, self.part)
        return self.map(lambda p: hlo.pad(self.b, p, zero, [0] * nd, hi, [0] * nd), x)

    def slice(self, x, limit):
        return self.map(lambda p: hlo.slice_(self.b, p, [0] * len(limit), limit), x)

    def sum(self, x, axes):
        init = hlo.full(self.b, 0, self.part)
        return self.map(lambda p: hlo.reduce(self.b, [p], [init], axes,
                                             hlo.monoid_body("add"))[0], x)

    # -- arithmetic ---------------------------------------------------------------------------

    def add(self, x, y):
        return self.map(lambda p, q: hlo.add(self.b, p, q), x, y)

    def sub(self, x, y):
        return self.map(lambda p, q: hlo.sub(self.b, p, q), x, y)

    def scale(self, x, r):
        """x times the real Value r."""
        return self.map(lambda p: hlo.mul(self.b, p, r), x)

    def mul(self, x, y):
        b = self.b
        if not self.complex:
            return (hlo.mul(b, x[0], y[0]),)
        (xr, xi), (yr, yi) = x, y
        return (hlo.sub(b, hlo.mul(b, xr, yr), hlo.mul(b, xi, yi)),
                hlo.add(b, hlo.mul(b, xr, yi), hlo.mul(b, xi, yr)))

    def recip(self, x):
        b = self.b
        if not self.complex:
            return (hlo.div(b, hlo.full_like(b, x[0], 1), x[0]),)
        re, im = x
        norm = hlo.add(b, hlo.mul(b, re, re), hlo.mul(b, im, im))
        return hlo.div(b, re, norm), hlo.div(b, hlo.neg(b, im), norm)

    def matmul(self, x, y):
        b = self.b
        if not self.complex:
            return (_real_matmul(b, x[0], y[0]),)
        (xr, xi), (yr, yi) = x, y
        return (hlo.sub(b, _real_matmul(b, xr, yr), _real_matmul(b, xi, yi)),
                hlo.add(b, _real_matmul(b, xr, yi), _real_matmul(b, xi, yr)))

    def conj(self, x):
        return (x[0], hlo.neg(self.b, x[1])) if self.complex else x

    def adjoint(self, x):
        return self.conj(self.swap(x))

    def outer(self, col, row):
        """(..., m, 1) * (..., 1, n) -> (..., m, n)."""
        shape = col[0].shape[:-1] + (row[0].shape[-1],)
        return self.mul(self.broadcast(col, shape), self.broadcast(row, shape))

    # -- predicates and magnitudes (real results) -----------------------------------------------

    def _any(self, masks):
        out = masks[0]
        for m in masks[1:]:
            out = hlo.or_(self.b, out, m)
        return out

    def isnan(self, x):
        return self._any([hlo.is_nan(self.b, p) for p in x])

    def nonzero(self, x):
        return self._any([hlo.compare(self.b, p, hlo.full_like(self.b, p, 0), "NE") for p in x])

    def cabs1(self, x):
        """|re| + |im| (LAPACK's pivot magnitude)."""
        mags = [hlo.unary(self.b, "abs", p) for p in x]
        return mags[0] if len(mags) == 1 else hlo.add(self.b, *mags)


# ---------------------------------------------------------------------------------------------
# Padding to the block size


def _pad_identity(F, x, n_pad):
    """(..., n, n) -> (..., n_pad, n_pad) with an identity block in the new corner."""
    n, nd = x[0].shape[-1], len(x[0].shape)
    if n_pad == n:
        return x
    x = F.pad(x, [0] * (nd - 2) + [n_pad - n] * 2)
    shape, b = x[0].shape, F.b
    corner = hlo.and_(b, _rows_vs_cols(b, shape, "EQ"), _iota_cmp(b, shape, nd - 1, n, "GE"))
    return F.select(corner, F.full(1, shape), x)


def _pad_rows(F, x, n_pad):
    n, nd = x[0].shape[-2], len(x[0].shape)
    return x if n == n_pad else F.pad(x, [0] * (nd - 2) + [n_pad - n, 0])


def _unpad(F, x, rows, cols=None):
    shape = x[0].shape
    return F.slice(x, list(shape[:-2]) + [rows, shape[-1] if cols is None else cols])


# ---------------------------------------------------------------------------------------------
# Triangular kernels


def _tri_inverse(F, tmat, unit: bool, lower: bool = True):
    """Inverse of the lower (or upper) triangle of (..., k, k) `tmat`, by substitution row by
    row (from the top for lower, from the bottom for upper triangles)."""
    b = F.b
    shape = tmat[0].shape
    nd, k = len(shape), shape[-1]
    zero = F.zeros(shape)
    strict = F.select(_rows_vs_cols(b, shape, "GT" if lower else "LT"), tmat, zero)
    inv_diag = F.recip(F.sum(F.select(_rows_vs_cols(b, shape, "EQ"), tmat, zero), [nd - 1]))
    batch, zeros = shape[:-2], [0] * (nd - 2)
    row_shape = batch + (1, k)

    def step(it, strict, inv_diag, x):
        i = it if lower else hlo.sub(b, hlo.full(b, k - 1, I32), it)
        r = F.dslice(strict, zeros + [i, 0], row_shape)
        e = F.from_real(hlo.convert(b, _iota_cmp(b, row_shape, nd - 1, i, "EQ"), F.part))
        row = F.sub(e, F.matmul(r, x))
        if not unit:
            d = F.reshape(F.dslice(inv_diag, zeros + [i], batch + (1,)), batch + (1, 1))
            row = F.mul(row, F.broadcast(d, row_shape))
        return strict, inv_diag, F.dupdate(x, row, zeros + [i, 0])

    return _fori(b, k, [strict, inv_diag, zero], step)[2]


def _tri_solve(F, t, rhs, unit: bool, lower: bool):
    """Solves T X = B for the lower (upper) triangle of T (..., m, m); B (..., m, k): blocks
    of rows from the top (bottom), each solved with its diagonal block's inverse and then
    subtracted from the rows still to come."""
    b = F.b
    m, nd = t[0].shape[-1], len(t[0].shape)
    size, m_pad = _blocking(m)
    t, rhs = _pad_identity(F, t, m_pad), _pad_rows(F, rhs, m_pad)
    zeros, batch, k = [0] * (nd - 2), t[0].shape[:-2], rhs[0].shape[-1]
    nblocks = m_pad // size
    if nblocks == 1:  # (no dynamic_update_slice of a matmul: see `_Field.barrier`)
        return _unpad(F, F.matmul(_tri_inverse(F, t, unit, lower), rhs), m)

    def step(kb, t, rhs):
        j0 = _times(b, kb if lower else hlo.sub(b, hlo.full(b, nblocks - 1, I32), kb), size)
        inv = _tri_inverse(F, F.dslice(t, zeros + [j0, j0], batch + (size, size)), unit, lower)
        x = F.matmul(inv, F.dslice(rhs, zeros + [j0, 0], batch + (size, k)))
        rhs = F.dupdate(rhs, x, zeros + [j0, 0])
        col = F.dslice(t, zeros + [0, j0], batch + (m_pad, size))  # B[rest] -= T[rest, blk] X
        shape = col[0].shape
        rest = (_iota_cmp(b, shape, nd - 2, _plus(b, j0, size), "GE") if lower else
                _iota_cmp(b, shape, nd - 2, j0, "LT"))
        return t, F.sub(rhs, F.matmul(F.select(rest, col, F.zeros(shape)), x))

    _, x = _fori(b, nblocks, [t, rhs], step)
    return _unpad(F, x, m)


@register(dp.triangular_solve_p)
def _triangular_solve_lower(ctx, a, rhs, *, left_side, lower, transpose_a, conjugate_a,
                            unit_diagonal):
    F = _Field(ctx.b, a.dtype)
    t, rhs = F.split(a), F.split(rhs)
    transpose = transpose_a
    if not left_side:  # X op(A) = B  <=>  op(A)^T X^T = B^T
        transpose, rhs = not transpose, F.swap(rhs)
    t = F.swap(t) if transpose else t
    t = F.conj(t) if conjugate_a else t
    x = _tri_solve(F, t, rhs, unit_diagonal, lower != transpose)
    return F.join(x if left_side else F.swap(F.barrier(x)))


# ---------------------------------------------------------------------------------------------
# Cholesky


def _cholesky_block(F, d):
    """Lower Cholesky factor of the lower triangle of (..., k, k) `d` (column loop)."""
    b = F.b
    shape = d[0].shape
    nd, k = len(shape), shape[-1]
    batch, zeros = shape[:-2], [0] * (nd - 2)
    col_shape = batch + (k, 1)

    def step(j, d, lmat):
        col = F.dslice(d, zeros + [0, j], col_shape)
        djj = F.dslice(col, zeros + [j, 0], batch + (1, 1))[0]  # real part: A is Hermitian
        positive = hlo.compare(b, djj, hlo.full_like(b, djj, 0), "GT")
        djj = hlo.select(b, positive, djj, hlo.full_like(b, djj, np.nan))  # not PD: NaN
        ljj = hlo.broadcast_in_dim(b, hlo.unary(b, "sqrt", djj), col_shape, range(nd))
        below = _iota_cmp(b, col_shape, nd - 2, j, "GT")
        inv = hlo.div(b, hlo.full_like(b, ljj, 1), ljj)
        c = F.select(below, F.scale(col, inv), F.zeros(col_shape))
        lcol = F.select(_iota_cmp(b, col_shape, nd - 2, j, "EQ"), F.from_real(ljj), c)
        lmat = F.dupdate(lmat, lcol, zeros + [0, j])
        row = F.conj(F.reshape(c, batch + (1, k)))
        return F.sub(d, F.outer(c, row)), lmat

    return _fori(b, k, [d, F.zeros(shape)], step)[1]


@register(dp.cholesky_p)
def _cholesky_lower(ctx, x):
    b = ctx.b
    F = _Field(b, x.dtype)
    n, nd = x.shape[-1], len(x.shape)
    size, n_pad = _blocking(n)
    a = _pad_identity(F, F.split(x), n_pad)
    zeros, batch = [0] * (nd - 2), x.shape[:-2]
    nblocks = n_pad // size
    panel_shape = batch + (n_pad, size)

    def step(kb, a):
        j0 = _times(b, kb, size)
        panel = F.dslice(a, zeros + [0, j0], panel_shape)
        l11 = _cholesky_block(F, F.dslice(panel, zeros + [j0, 0], batch + (size, size)))
        if nblocks == 1:
            return [l11]
        below = _iota_cmp(b, panel_shape, nd - 2, _plus(b, j0, size), "GE")
        # Masks go on matmul inputs: with data tiling, IREE 3.13 overflows its 32 KiB stack
        # limit compiling a matmul fused with a select on its result.
        a21 = F.select(below, panel, F.zeros(panel_shape))
        l21 = F.matmul(a21, F.adjoint(_tri_inverse(F, l11, False)))  # L21 = A21 L11^{-H}
        a = F.dupdate(a, F.dupdate(l21, l11, zeros + [j0, 0]), zeros + [0, j0])
        return [F.sub(a, F.matmul(l21, F.adjoint(l21)))]  # A22 -= L21 L21^H

    (a,) = _fori(b, nblocks, [a], step)
    return F.join(_tril_or_nan(F, _unpad(F, a, n, n)))


def _tril_or_nan(F, a):
    """The lower triangle of a, or NaN (lower triangle) where a holds any NaN."""
    b = F.b
    shape, nd = a[0].shape, len(a[0].shape)
    (bad,) = hlo.reduce(b, [F.isnan(a)], [hlo.full(b, False, np.bool_)], [nd - 2, nd - 1],
                        hlo.monoid_body("or"))
    a = F.select(hlo.broadcast_in_dim(b, bad, shape, range(nd - 2)), F.full(np.nan, shape), a)
    return F.select(_rows_vs_cols(b, shape, "GE"), a, F.zeros(shape))


# ---------------------------------------------------------------------------------------------
# LU with partial pivoting


def _argmax_from(F, col, j):
    """First row index >= j of the largest magnitude in the (n, 1) column `col`."""
    b = F.b
    shape = col[0].shape
    n = shape[0]
    mag = F.cabs1(col)
    mag = hlo.select(b, _iota_cmp(b, shape, 0, j, "GE"), mag, hlo.full_like(b, mag, -1))
    (top,) = hlo.reduce(b, [mag], [hlo.full(b, -np.inf, mag.dtype)], [0, 1],
                        hlo.monoid_body("maximum"))
    hit = hlo.compare(b, mag, hlo.broadcast_in_dim(b, top, shape, ()), "EQ")
    rows = hlo.select(b, hit, hlo.iota(b, shape, I32, 0), hlo.full(b, n, I32, shape))
    (p,) = hlo.reduce(b, [rows], [hlo.full(b, n, I32)], [0, 1], hlo.monoid_body("minimum"))
    return hlo.select(b, hlo.compare(b, p, hlo.full(b, n, I32), "LT"), p, j)  # NaN column: j


def _swap_rows(F, x, i, j):
    width = x[0].shape[-1]
    ri, rj = F.dslice(x, [i, 0], (1, width)), F.dslice(x, [j, 0], (1, width))
    return F.dupdate(F.dupdate(x, rj, [i, 0]), ri, [j, 0])


def _swap_entries(b, v, i, j):
    vi, vj = _dslice(b, v, [i], (1,)), _dslice(b, v, [j], (1,))
    return _dupdate(b, _dupdate(b, v, vj, [i]), vi, [j])


def _take_rows(F, x, rows):
    """x[rows] for an (n,) int32 vector of row indices (one gather per part)."""
    b = F.b
    width = x[0].shape[1]
    dn = ("#stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], "
          "operand_batching_dims = [], start_indices_batching_dims = [], start_index_map = [0], "
          "index_vector_dim = 1>")
    attrs = {"dimension_numbers": dn, "slice_sizes": i64_array((1, width)),
             "indices_are_sorted": "false"}
    idx = hlo.reshape(b, rows, (rows.shape[0], 1))
    return F.map(lambda p: b.op("stablehlo.gather", [p, idx], aval((rows.shape[0], width),
                                                                     p.dtype), attrs), x)


def _lu_panel_step(F, size, n):
    """One column of the pivoted factorization of the (n, size) panel at column j0. Rows are
    swapped inside the panel only; `swaps` records the panel's row order for the rest."""
    b = F.b

    def step(jj, panel, swaps, perm, piv, j0):
        j = hlo.add(b, j0, jj)
        p = _argmax_from(F, F.dslice(panel, [0, jj], (n, 1)), j)
        piv = _dupdate(b, piv, hlo.reshape(b, p, (1,)), [j])
        panel = _swap_rows(F, panel, j, p)
        swaps, perm = _swap_entries(b, swaps, j, p), _swap_entries(b, perm, j, p)
        prow = F.dslice(panel, [j, 0], (1, size))
        pivot = F.dslice(prow, [0, jj], (1, 1))
        col = F.dslice(panel, [0, jj], (n, 1))
        scaled = F.mul(col, F.broadcast(F.recip(pivot), (n, 1)))
        nonzero = hlo.broadcast_in_dim(b, F.nonzero(pivot), (n, 1), (0, 1))
        below = _iota_cmp(b, (n, 1), 0, j, "GT")
        ell = F.select(hlo.and_(b, below, nonzero), scaled, F.select(below, col, F.zeros(
            (n, 1))))
        right = _iota_cmp(b, (1, size), 1, jj, "GT")
        prow = F.select(right, prow, F.zeros((1, size)))  # update only columns right of jj
        panel = F.sub(panel, F.outer(ell, prow))
        panel = F.dupdate(panel, F.select(below, ell, col), [0, jj])  # multipliers below j
        return panel, swaps, perm, piv, j0

    return step


def _lu_single(F, a):
    """Blocked LU of one (n, n) matrix: (lu, pivots, permutation)."""
    b = F.b
    n = a[0].shape[-1]
    size, n_pad = _blocking(n)
    a = _pad_identity(F, a, n_pad)
    nblocks = n_pad // size
    panel_step = _lu_panel_step(F, size, n_pad)

    def block(kb, a, perm, piv):
        j0 = _times(b, kb, size)
        panel = F.dslice(a, [0, j0], (n_pad, size))
        swaps = hlo.iota(b, (n_pad,), I32, 0)
        panel, swaps, perm, piv, _ = _fori(b, size, [panel, swaps, perm, piv, j0], panel_step)
        if nblocks == 1:
            return panel, perm, piv
        a = F.dupdate(_take_rows(F, a, swaps), panel, [0, j0])  # the panel's row swaps
        rows = F.dslice(a, [j0, 0], (size, n_pad))
        inv = _tri_inverse(F, F.dslice(a, [j0, j0], (size, size)), True)
        right = _iota_cmp(b, (size, n_pad), 1, _plus(b, j0, size), "GE")
        keep = F.select(right, F.zeros((size, n_pad)), rows)
        u12 = F.matmul(inv, F.sub(rows, keep))  # L11^{-1} A12, zero left of A12
        a = F.dupdate(a, F.add(u12, keep), [j0, 0])
        below = _iota_cmp(b, (n_pad, size), 0, _plus(b, j0, size), "GE")
        l21 = F.select(below, F.dslice(a, [0, j0], (n_pad, size)), F.zeros((n_pad, size)))
        return F.sub(a, F.matmul(l21, u12)), perm, piv  # A22 -= L21 U12

    perm = hlo.iota(b, (n_pad,), I32, 0)
    piv = hlo.full(b, 0, I32, (n_pad,))
    a, perm, piv = _fori(b, nblocks, [a, perm, piv], block)
    return _unpad(F, a, n, n), hlo.slice_(b, piv, [0], [n]), hlo.slice_(b, perm, [0], [n])


@register(dp.lu_p)
def _lu_lower(ctx, x):
    b = ctx.b
    F = _Field(b, x.dtype)
    *batch, m, n = x.shape
    if m != n:
        raise NotImplementedError(
            f"lu of a non-square matrix ({ctx.avals_in[0].str_short()}) has no IREE lowering "
            "in hlodiff yet; call it outside jit (eager) or pad the matrix to square.")
    count = int(np.prod(batch, dtype=np.int64))
    shapes = [a.shape for a in ctx.avals_out]
    if count == 1:
        lu_, piv, perm = _lu_single(F, F.reshape(F.split(x), (n, n)))
        return [F.join(F.reshape(lu_, shapes[0])), hlo.reshape(b, piv, shapes[1]),
                hlo.reshape(b, perm, shapes[2])]

    def one(i, flat, lus, pivs, perms):
        lu_, piv, perm = _lu_single(F, F.reshape(F.dslice(flat, [i, 0, 0], (1, n, n)), (n, n)))
        lus = F.dupdate(lus, F.reshape(lu_, (1, n, n)), [i, 0, 0])
        pivs = _dupdate(b, pivs, hlo.reshape(b, piv, (1, n)), [i, 0])
        perms = _dupdate(b, perms, hlo.reshape(b, perm, (1, n)), [i, 0])
        return flat, lus, pivs, perms

    flat = F.reshape(F.split(x), (count, n, n))
    ints = hlo.full(b, 0, I32, (count, n))
    _, lus, pivs, perms = _fori(b, count, [flat, F.zeros((count, n, n)), ints, ints], one)
    return [F.join(F.reshape(lus, shapes[0])), hlo.reshape(b, pivs, shapes[1]),
            hlo.reshape(b, perms, shapes[2])]
