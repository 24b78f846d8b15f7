"""Lowering rules of the decomposition primitives (hlodiff/prims/decompositions.py).

IREE 3.13 rejects `stablehlo.cholesky` and `stablehlo.triangular_solve` and links no LAPACK, so
these rules spell the algorithms out in ops it compiles. What IREE 3.13 on CPU makes fast or slow
decides their shape (measured on a 2-core x86 VM, local-sync driver):

- A `stablehlo.while` iteration costs 3-10 us, and IREE copies every loop-carried tensor that
  the body changes, once per iteration (a 1024x1024 matrix: ~1 ms). Loops therefore carry only small
  blocks; large matrices are split by recursion at trace time, with static shapes.
- A dispatch in straight-line code costs well under 1 us, but elementwise kernels run at only
  ~0.2 ns per element, so a column step should touch a block, not the whole matrix.
- Each distinct kernel adds ~0.1 s of compile time. The recursions halve the matrix, so both
  halves of one level share their kernels; the number of leaves grows as n / 64.

Matrices are padded to a multiple of the block size with an identity block, which every
algorithm here leaves untouched. Complex matrices are carried as (real, imaginary) pairs of real
tensors (`_Field`) and joined only at the end. Operands and results pass
`stablehlo.optimization_barrier`s, keeping neighbouring ops out of these rules' matmul dispatches:
with `--iree-opt-data-tiling` IREE 3.13 segfaults on a matmul whose result is transposed and
combined with an iota mask in one dispatch, and on a row gather fused into a matmul's consumer;
it reports stack or vector-size errors on some other transposed fusions.

- cholesky: recursive, [[A11, .], [A21, A22]] -> L11 = chol(A11), L21 = A21 L11^{-H},
  L22 = chol(A22 - L21 L21^H), with L^{-1} built alongside ([[I11, 0], [-I22 L21 I11, I22]]).
  A 64-column leaf is a column loop (8 columns per iteration) of one elementwise update of the
  whole block, which also turns an identity into L^{-1}. Matrices that are not positive
  definite come out all NaN (lower triangle), as in JAX.
- triangular_solve: transposes / conjugates the operands into a left solve; the inverses of all
  32x32 diagonal blocks at once (`_tri_inverse`, no loop), then a loop over blocks that changes
  only the right-hand side: X_blk = D^{-1} B_blk, B[rest] -= T[rest, blk] X_blk.
- lu: recursive (LAPACK's recursive getrf): factor the left half of the columns, apply its row
  order to the right half (one gather), U12 = L11^{-1} A12, factor A22 - L21 U12, apply its row
  order to L21. A 64-column leaf is a column loop on the transposed panel: the pivot search is
  one int64 max-reduction, the row swap and rank-1 update one elementwise kernel; no pivot index
  goes to the host. Square matrices only; batches run in every kernel at once.
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
BLOCK = 64  # columns of a leaf block; matrices up to this size are one block
SOLVE_BLOCK = 32  # rows of a triangular-solve block
UNROLL = 8  # column steps per loop iteration in the leaves


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


def _fori(b, n: int, carry: list, body, unroll: int = 1) -> list:
    """`for i in range(n): carry = body(i, *carry)` as a `stablehlo.while`. Carried items are
    Values or tuples of Values (complex pairs); the body must use only those and constants.
    `unroll` steps run per loop iteration (an iteration costs IREE several microseconds): the
    loop runs n // unroll times, the remaining n % unroll steps follow it."""
    if n == 1:
        return list(body(hlo.full(b, 0, I32), *carry))
    unroll = max(1, min(unroll, n))
    if unroll > 1:
        def steps(it, *c):
            i0 = _times(b, it, unroll)
            for u in range(unroll):
                c = body(i0 if u == 0 else _plus(b, i0, u), *c)
            return c

        carry = _fori(b, n // unroll, carry, steps)
        for i in range(n - n % unroll, n):
            carry = list(body(hlo.full(b, i, I32), *carry))
        return list(carry)
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


def _blocking(n: int, block: int = 0) -> tuple[int, int]:
    """(block size, padded size) for n columns, blocks of `block` (default BLOCK) columns."""
    size = max(1, min(n, block or BLOCK))
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
# Padding, blocks


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


def _block(F, x, r0, c0, rows, cols):
    """x[..., r0:r0+rows, c0:c0+cols] (static)."""
    shape = x[0].shape
    nb = len(shape) - 2
    return F.map(lambda p: hlo.slice_(F.b, p, [0] * nb + [r0, c0],
                                      list(shape[:-2]) + [r0 + rows, c0 + cols]), x)


def _concat(F, parts, axis):
    nd = len(parts[0][0].shape)
    return tuple(hlo.concatenate(F.b, list(ps), axis % nd) for ps in zip(*parts))


def _assemble(F, x11, x21, x22):
    """The block lower triangular matrix [[X11, 0], [X21, X22]]."""
    upper = F.zeros(x11[0].shape[:-1] + (x22[0].shape[-1],))
    return _concat(F, [_concat(F, [x11, upper], -1), _concat(F, [x21, x22], -1)], -2)


# ---------------------------------------------------------------------------------------------
# Triangular kernels


def _tri_inverse(F, tmat, unit: bool, lower: bool = True):
    """Inverse of the lower (or upper) triangle of (..., k, k) `tmat` in log2(k) steps of two
    k x k matmuls: the inverse X of T's block diagonal with blocks of size s grows to blocks of
    size 2s by [[A, 0], [B, C]]^-1 = [[A^-1, 0], [-C^-1 B A^-1, C^-1]], i.e.
    X <- X - X (T_s X), where T_s keeps the B blocks of T. (A loop over the steps: one set of
    kernels to compile instead of one per step.)"""
    if not lower:
        return F.swap(_tri_inverse(F, F.swap(tmat), unit, True))
    b = F.b
    shape = tmat[0].shape
    nd, k = len(shape), shape[-1]
    eye = _rows_vs_cols(b, shape, "EQ")
    if unit:
        x = F.select(eye, F.full(1, shape), F.zeros(shape))
    else:
        diag = F.sum(F.select(eye, tmat, F.zeros(shape)), [nd - 1])
        x = F.select(eye, F.broadcast(F.reshape(F.recip(diag), shape[:-1] + (1,)), shape),
                     F.zeros(shape))
    if k == 1:
        return x

    def step(i, t, x):
        s = hlo.binary(b, "shift_left", hlo.full(b, 1, I32), i)
        # (r, c), r > c, is in a B block of size s iff the highest bit where r and c differ is s
        diff = hlo.binary(b, "xor", hlo.iota(b, shape, I32, nd - 2),
                          hlo.iota(b, shape, I32, nd - 1))
        in_b = hlo.and_(b, _iota_cmp_value(b, diff, s, "GE"),
                        _iota_cmp_value(b, diff, hlo.add(b, s, s), "LT"))
        t_s = F.select(hlo.and_(b, in_b, _rows_vs_cols(b, shape, "GT")), t, F.zeros(shape))
        return t, F.sub(x, F.matmul(x, F.matmul(t_s, x)))

    return _fori(b, (k - 1).bit_length(), [tmat, x], step)[1]


def _iota_cmp_value(b, x, s, direction):
    """x (int32 tensor) compared with the scalar Value s."""
    return hlo.compare(b, x, hlo.broadcast_in_dim(b, s, x.shape, ()), direction)


def _tri_solve(F, t, rhs, unit: bool, lower: bool):
    """Solves T X = B for the lower (upper) triangle of T (..., m, m); B (..., m, k): blocks
    of rows from the top (bottom), each solved with its diagonal block's inverse and then
    subtracted from the rows still to come. The inverses of all diagonal blocks are computed
    at once, before the loop; the loop changes only B."""
    b = F.b
    m, nd = t[0].shape[-1], len(t[0].shape)
    size, m_pad = _blocking(m)
    if m_pad > size:  # (inverting 32-column blocks costs a quarter of 64-column ones)
        size, m_pad = _blocking(m, SOLVE_BLOCK)
    t, rhs = _pad_identity(F, t, m_pad), _pad_rows(F, rhs, m_pad)
    zeros, batch, k = [0] * (nd - 2), t[0].shape[:-2], rhs[0].shape[-1]
    nblocks = m_pad // size
    if nblocks == 1:  # (no dynamic_update_slice of a matmul: see `_Field.barrier`)
        return _unpad(F, F.matmul(_tri_inverse(F, t, unit, lower), rhs), m)
    dinv = _tri_inverse(F, _diagonal_blocks(F, t, size), unit, lower)  # (..., nblocks, s, s)

    def step(kb, t, dinv, rhs):
        kb = kb if lower else hlo.sub(b, hlo.full(b, nblocks - 1, I32), kb)
        j0 = _times(b, kb, size)
        inv = F.reshape(F.dslice(dinv, zeros + [kb, 0, 0], batch + (1, size, size)),
                        batch + (size, size))
        x = F.matmul(inv, F.dslice(rhs, zeros + [j0, 0], batch + (size, k)))
        rhs = F.dupdate(rhs, x, zeros + [j0, 0])
        col = F.dslice(t, zeros + [0, j0], batch + (m_pad, size))  # B[rest] -= T[rest, blk] X
        shape = col[0].shape
        rest = (_iota_cmp(b, shape, nd - 2, _plus(b, j0, size), "GE") if lower else
                _iota_cmp(b, shape, nd - 2, j0, "LT"))
        return t, dinv, F.sub(rhs, F.matmul(F.select(rest, col, F.zeros(shape)), x))

    *_, x = _fori(b, nblocks, [t, dinv, rhs], step)
    return _unpad(F, x, m)


def _diagonal_blocks(F, t, size):
    """The diagonal blocks of (..., m, m) `t`, m a multiple of `size`: (..., m / size, size,
    size)."""
    b = F.b
    shape = t[0].shape
    nd, m = len(shape), shape[-1]
    batch, nb = shape[:-2], m // size
    blocks = F.reshape(t, batch + (nb, size, nb, size))
    perm = tuple(range(nd - 2)) + (nd - 2, nd, nd - 1, nd + 1)
    blocks = F.map(lambda p: hlo.transpose(b, p, perm), blocks)
    blocks = F.reshape(blocks, batch + (nb * nb, size, size))
    return F.map(lambda p: hlo.slice_in_dim(b, p, 0, nb * nb, nb + 1, nd - 2), blocks)


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


@register(dp.cholesky_p)
def _cholesky_lower(ctx, x):
    F = _Field(ctx.b, x.dtype)
    n = x.shape[-1]
    size, n_pad = _blocking(n)
    a = _pad_identity(F, F.split(x), n_pad)
    lmat, _ = _cholesky_rec(F, a, size, False)
    return F.join(_tril_or_nan(F, _unpad(F, lmat, n, n)))


def _cholesky_rec(F, a, size, want_inv):
    """(L, L^{-1} or None) for the lower triangle of `a` (..., m, m), m a multiple of `size`.
    The strict upper triangles of L's diagonal blocks hold junk; L^{-1} is exact."""
    m = a[0].shape[-1]
    if m <= size:
        return _cholesky_leaf(F, a, want_inv)
    m1 = size * math.ceil(m // size / 2)
    m2 = m - m1
    l11, i11 = _cholesky_rec(F, _block(F, a, 0, 0, m1, m1), size, True)
    l21 = F.matmul(_block(F, a, m1, 0, m2, m1), F.adjoint(i11))  # A21 L11^{-H}
    s = F.sub(_block(F, a, m1, m1, m2, m2), F.matmul(l21, F.adjoint(l21)))
    l22, i22 = _cholesky_rec(F, s, size, want_inv)
    lmat = _assemble(F, l11, l21, l22)
    if not want_inv:
        return lmat, None
    i21 = F.map(lambda p: hlo.neg(F.b, p), F.matmul(i22, F.matmul(l21, i11)))
    return lmat, _assemble(F, i11, i21, i22)


def _cholesky_block(F, d):
    """Lower Cholesky factor (zeros above the diagonal) of the lower triangle of (..., k, k)
    `d`; not positive definite: NaN on the diagonal from the failing pivot on."""
    b = F.b
    lmat, _ = _cholesky_leaf(F, d, False)
    shape = d[0].shape
    return F.select(_rows_vs_cols(b, shape, "GE"), lmat, F.zeros(shape))


def _cholesky_leaf(F, d, want_inv: bool):
    """(L, L^{-1} or None) for the lower triangle of (..., k, k) `d`, one column per step:
    right-looking elimination on W = d^H (rows are contiguous), reading only W's upper
    triangle; row j of W becomes row j of L^H, and the same row operations turn the identity
    into L^{-1}. The strict upper triangle of L holds junk."""
    b = F.b
    shape = d[0].shape
    nd, k = len(shape), shape[-1]
    batch, zeros = shape[:-2], [0] * (nd - 2)
    row_shape = batch + (1, k)

    def bcast(v):
        return hlo.broadcast_in_dim(b, v, shape, range(nd))

    def step(j, w, *r):
        row = F.dslice(w, zeros + [j, 0], row_shape)  # W[j, :]
        p = _dslice(b, row[0], zeros + [0, j], batch + (1, 1))  # real: A is Hermitian
        p = hlo.select(b, hlo.compare(b, p, hlo.full_like(b, p, 0), "GT"), p,
                       hlo.full_like(b, p, np.nan))  # not positive definite: NaN
        inv_s = bcast(hlo.unary(b, "rsqrt", p))
        mult = F.scale(_transposed_row(F, row, shape),
                       bcast(hlo.div(b, hlo.full_like(b, p, 1), p)))  # W[j, r]^* / p
        below, at = _iota_cmp(b, shape, nd - 2, j, "GT"), _iota_cmp(b, shape, nd - 2, j, "EQ")
        trailing = hlo.and_(b, below, _iota_cmp(b, shape, nd - 1, j, "GT"))
        w = F.select(trailing, F.sub(w, F.mul(mult, F.broadcast(row, shape))),
                     F.select(at, F.scale(w, inv_s), w))
        if not r:
            return [w]
        r_row = F.broadcast(F.dslice(r[0], zeros + [j, 0], row_shape), shape)
        return [w, F.select(below, F.sub(r[0], F.mul(mult, r_row)),
                            F.select(at, F.scale(r[0], inv_s), r[0]))]

    w = F.adjoint(d)
    if not want_inv:
        (w,) = _fori(b, k, [w], step, unroll=UNROLL)
        return F.adjoint(w), None
    eye = F.select(_rows_vs_cols(b, shape, "EQ"), F.full(1, shape), F.zeros(shape))
    w, inv = _fori(b, k, [w, eye], step, unroll=UNROLL)
    return F.adjoint(w), inv


def _transposed_row(F, row, shape):
    """conj(row) (..., 1, k) broadcast along the columns: out[r, c] = row[r]^*."""
    nd = len(shape)
    flat = F.reshape(row, shape[:-2] + (shape[-1],))
    return F.conj(F.map(lambda q: hlo.broadcast_in_dim(F.b, q, shape, list(range(nd - 1))), flat))


def _tril_or_nan(F, a):
    """The lower triangle of a, or NaN (lower triangle) where the diagonal of a holds a NaN
    (a failed pivot, or a NaN anywhere in the input, reaches the diagonal)."""
    b = F.b
    shape, nd = a[0].shape, len(a[0].shape)
    n = shape[-1]
    diag = F.map(lambda p: hlo.slice_in_dim(b, hlo.reshape(b, p, shape[:-2] + (n * n,)), 0,
                                            n * n, n + 1, nd - 2), a)
    (bad,) = hlo.reduce(b, [F.isnan(diag)], [hlo.full(b, False, np.bool_)], [nd - 2],
                        hlo.monoid_body("or"))
    a = F.select(hlo.broadcast_in_dim(b, bad, shape, range(nd - 2)), F.full(np.nan, shape), a)
    return F.select(_rows_vs_cols(b, shape, "GE"), a, F.zeros(shape))


# ---------------------------------------------------------------------------------------------
# LU with partial pivoting


def _argmax_rows(F, col, j):
    """(...,) int32: the first row index >= j of the largest |re| + |im| in the (..., m, 1)
    column `col` (LAPACK's choice; a NaN is chosen only when nothing else is left)."""
    b = F.b
    shape = col[0].shape
    nd, m = len(shape), shape[-2]
    mag = F.cabs1(col)
    valid = _iota_cmp(b, shape, nd - 2, j, "GE")
    rows = hlo.iota(b, shape, I32, nd - 2)
    if mag.dtype == np.float32:
        return _argmax_by_key(b, mag, valid, rows)
    mag = hlo.select(b, hlo.is_nan(b, mag), hlo.full_like(b, mag, -1), mag)
    mag = hlo.select(b, valid, mag, hlo.full_like(b, mag, -2))

    def pick(b, accs, xs):
        (m1, i1), (m2, i2) = accs, xs
        first = hlo.or_(b, hlo.compare(b, m1, m2, "GT"),
                        hlo.and_(b, hlo.compare(b, m1, m2, "EQ"), hlo.compare(b, i1, i2, "LT")))
        return [hlo.select(b, first, m1, m2), hlo.select(b, first, i1, i2)]

    _, p = hlo.reduce(b, [mag, rows], [hlo.full(b, -3, mag.dtype), hlo.full(b, m, I32)],
                      [nd - 2, nd - 1], pick)
    return p


def _argmax_by_key(b, mag, valid, rows):
    """argmax of float32 `mag` >= 0 over the last two axes with one int64 max-reduction: the
    key is (bits of mag + 2, or 1 for NaN, or 0 where not `valid`) << 32 | (2^31 - 1 - row),
    so the first of equal maxima wins (float bits of non-negative numbers sort like them)."""
    i64 = np.dtype(np.int64)
    shape, nd = mag.shape, len(mag.shape)
    bits = hlo.convert(b, hlo.bitcast(b, mag, I32), i64)
    hi = hlo.select(b, hlo.is_nan(b, mag), hlo.full(b, 1, i64, shape),
                    hlo.add(b, bits, hlo.full(b, 2, i64, shape)))
    hi = hlo.select(b, valid, hi, hlo.full(b, 0, i64, shape))
    lo = hlo.sub(b, hlo.full(b, 2 ** 31 - 1, i64, shape), hlo.convert(b, rows, i64))
    key = hlo.or_(b, hlo.binary(b, "shift_left", hi, hlo.full(b, 32, i64, shape)), lo)
    (top,) = hlo.reduce(b, [key], [hlo.full(b, 0, i64)], [nd - 2, nd - 1],
                        hlo.monoid_body("maximum"))
    low = hlo.binary(b, "and", top, hlo.full(b, 2 ** 32 - 1, i64, top.shape))
    return hlo.convert(b, hlo.sub(b, hlo.full(b, 2 ** 31 - 1, i64, top.shape), low), I32)


def _take_rows(F, x, rows):
    """x[..., rows[..., i], :] for int32 row indices `rows` (..., k): one gather per part."""
    b = F.b
    shape = x[0].shape
    batch, (m, w) = shape[:-2], shape[-2:]
    k = rows.shape[-1]
    count = int(np.prod(batch, dtype=np.int64))
    idx = hlo.reshape(b, rows, (count, k))
    if count > 1:  # rows of the flattened (count * m, w) matrix
        idx = hlo.add(b, idx, hlo.mul(b, hlo.iota(b, (count, k), I32, 0),
                                      hlo.full(b, m, I32, (count, k))))
    idx = hlo.reshape(b, idx, (count * k, 1))
    dn = ("#stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], "
          "operand_batching_dims = [], start_indices_batching_dims = [], start_index_map = [0], "
          "index_vector_dim = 1>")
    attrs = {"dimension_numbers": dn, "slice_sizes": i64_array((1, w)),
             "indices_are_sorted": "false"}

    def one(p):
        flat = hlo.reshape(b, p, (count * m, w))
        out = b.op("stablehlo.gather", [flat, idx], aval((count * k, w), p.dtype), attrs)
        return hlo.reshape(b, out, batch + (k, w))

    return F.map(one, x)


def _take(b, v, idx):
    """v[..., idx[..., i]] for int32 vectors v (..., m) and idx (..., k)."""
    col = _take_rows(_Field(b, v.dtype), (hlo.reshape(b, v, v.shape + (1,)),), idx)[0]
    return hlo.reshape(b, col, idx.shape)


def _lu_panel(F, a):
    """Pivoted LU of the (..., m, w) panel `a`, m >= w, one column per step: (lu, pivots
    (..., w), permutation (..., m)), local to the panel. The panel is held transposed, so the
    pivot search and the swap-and-update kernel run along contiguous rows of length m."""
    b = F.b
    shape0 = a[0].shape
    nd, (m, w) = len(shape0), shape0[-2:]
    batch, zeros = shape0[:-2], [0] * (nd - 2)
    shape = batch + (w, m)
    vshape = batch + (m,)

    def step(j, t, perm, piv):
        row = F.dslice(t, zeros + [j, 0], batch + (1, m))  # column j of the panel
        p = _argmax_rows(F, F.swap(row), j)
        pcol = F.swap(_take_rows(F, F.swap(t), hlo.reshape(b, p, batch + (1,))))  # row p
        jcol = F.dslice(t, zeros + [0, j], batch + (w, 1))  # row j
        is_j = _iota_cmp(b, shape, nd - 1, j, "EQ")
        is_p = hlo.compare(b, hlo.iota(b, shape, I32, nd - 1),
                           hlo.broadcast_in_dim(b, p, shape, range(nd - 2)), "EQ")
        swapped = F.select(is_j, F.broadcast(pcol, shape),
                           F.select(is_p, F.broadcast(jcol, shape), t))
        pivot = F.broadcast(F.dslice(pcol, zeros + [j, 0], batch + (1, 1)), shape)
        # column j after the swap, from its pieces (a slice of `swapped` would split the kernel)
        srow = F.select(is_j, pivot, F.select(is_p, F.broadcast(F.dslice(
            jcol, zeros + [j, 0], batch + (1, 1)), shape), F.broadcast(row, shape)))
        below = _iota_cmp(b, shape, nd - 1, j, "GT")
        ell = F.select(hlo.and_(b, below, F.nonzero(pivot)), F.mul(srow, F.recip(pivot)), srow)
        right, at = _iota_cmp(b, shape, nd - 2, j, "GT"), _iota_cmp(b, shape, nd - 2, j, "EQ")
        t = F.select(hlo.and_(b, below, right),
                     F.sub(swapped, F.mul(ell, F.broadcast(pcol, shape))),
                     F.select(hlo.and_(b, below, at), ell, swapped))
        perm_p = hlo.broadcast_in_dim(b, _take(b, perm, hlo.reshape(b, p, batch + (1,))),
                                      vshape, range(nd - 1))
        perm_j = hlo.broadcast_in_dim(b, _dslice(b, perm, zeros + [j], batch + (1,)), vshape,
                                      range(nd - 1))
        vrows = hlo.iota(b, vshape, I32, nd - 2)
        perm = hlo.select(b, _iota_cmp(b, vshape, nd - 2, j, "EQ"), perm_p, hlo.select(
            b, hlo.compare(b, vrows, hlo.broadcast_in_dim(b, p, vshape, range(nd - 2)), "EQ"),
            perm_j, perm))
        piv = _dupdate(b, piv, hlo.reshape(b, p, batch + (1,)), zeros + [j])
        return t, perm, piv

    perm = hlo.iota(b, vshape, I32, nd - 2)
    piv = hlo.full(b, 0, I32, batch + (w,))
    t, perm, piv = _fori(b, w, [F.swap(a), perm, piv], step, unroll=UNROLL)
    return F.swap(t), piv, perm


def _lu_rec(F, a, size, want_inv):
    """Recursive LU of the (..., m, n) panel `a` (m >= n, n a multiple of `size` or at most
    it): (lu, pivots, permutation, and with `want_inv` the inverse of the unit lower n x n top
    of L)."""
    b = F.b
    shape = a[0].shape
    m, n = shape[-2:]
    batch = shape[:-2]
    if n <= size:
        lu_, piv, perm = _lu_panel(F, a)
        inv = _tri_inverse(F, _block(F, lu_, 0, 0, n, n), True) if want_inv else None
        return lu_, piv, perm, inv
    n1 = size * math.ceil(n // size / 2)
    n2 = n - n1
    lu1, piv1, perm1, i11 = _lu_rec(F, _block(F, a, 0, 0, m, n1), size, True)
    # (barriers: a gather fused into a matmul's consumer crashes IREE 3.13 with data tiling)
    a2 = F.barrier(_take_rows(F, _block(F, a, 0, n1, m, n2), perm1))
    u12 = F.matmul(i11, _block(F, a2, 0, 0, n1, n2))  # L11^{-1} A12
    l21 = _block(F, lu1, n1, 0, m - n1, n1)
    s = F.sub(_block(F, a2, n1, 0, m - n1, n2), F.matmul(l21, u12))
    lu2, piv2, perm2, i22 = _lu_rec(F, s, size, want_inv)
    l21 = F.barrier(_take_rows(F, l21, perm2))  # the rows in the order of A22's pivots
    top = _concat(F, [_block(F, lu1, 0, 0, n1, n1), u12], -1)
    lu_ = _concat(F, [top, _concat(F, [l21, lu2], -1)], -2)
    nb = len(batch)
    piv = hlo.concatenate(b, [piv1, hlo.add(b, piv2, hlo.full(b, n1, I32, piv2.shape))], nb)
    rest = _take(b, hlo.slice_in_dim(b, perm1, n1, m, 1, nb), perm2)
    perm = hlo.concatenate(b, [hlo.slice_in_dim(b, perm1, 0, n1, 1, nb), rest], nb)
    if not want_inv:
        return lu_, piv, perm, None
    i21 = F.map(lambda q: hlo.neg(b, q),
                F.matmul(i22, F.matmul(_block(F, l21, 0, 0, n2, n1), i11)))
    return lu_, piv, perm, _assemble(F, i11, i21, i22)


@register(dp.lu_p)
def _lu_lower(ctx, x):
    b = ctx.b
    F = _Field(b, x.dtype)
    *batch, m, n = x.shape
    if m != n:
        raise NotImplementedError(
            f"lu of a non-square matrix ({ctx.avals_in[0].str_short()}) has no IREE lowering "
            "in hlodiff yet; call it outside jit (eager) or pad the matrix to square.")
    size, n_pad = _blocking(n)
    a = _pad_identity(F, F.split(x), n_pad)
    lu_, piv, perm, _ = _lu_rec(F, a, size, False)
    nb = len(batch)
    return [F.join(_unpad(F, lu_, n, n)), hlo.slice_in_dim(b, piv, 0, n, 1, nb),
            hlo.slice_in_dim(b, perm, 0, n, 1, nb)]
