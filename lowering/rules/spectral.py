"""Lowering rules of qr, eigh and svd (hlodiff/prims/decompositions.py).

IREE 3.13 links no LAPACK, so these rules spell the algorithms out in ops it compiles:
`stablehlo.while` loops, `dynamic_slice` / `dynamic_update_slice` at the loop index, `iota`
masks, batched matrix-vector `dot_general`s and gathers at constant indices. Leading dims are
flattened into one batch dim and every loop runs over the whole batch at once; the emitted code
has the same size for every matrix size. Complex matrices are carried as (real, imaginary) pairs
of real tensors (`_Field`; lowering/rules/decompositions.py says why). Inputs are divided by
their largest entry first, so no sum of squares overflows or underflows; results are scaled
back. NaN inputs give NaN results.

- qr: Householder QR in LAPACK's conventions: geqrf's reflectors H = I - tau v v^H leaving a
  real beta on R's diagonal (one column per loop step), then orgqr's backward accumulation of
  Q. Results match numpy's up to rounding. Tall, wide, reduced and complete factorizations.
- eigh: cyclic Jacobi, n/2 rotations at a time. A round rotates the disjoint index pairs
  (k, p + k), p = n/2: A <- J^H A J is an update of A's rows (row k becomes a combination of
  rows k and p + k, with per-row coefficients) and the same update of the transpose (A is
  Hermitian); V <- V J is the same on V^T; the pair entries of A are then set to zero. The
  updates also move the rows to the next round's positions, in the round-robin "circle"
  ordering (index 0 stays, the others move one place around a circle), so n - 1 rounds pair
  every two indices once: one sweep. Sweeps stop once the off-diagonal norm is at most eps
  times the Frobenius norm (random matrices take 5-10 sweeps; at most MAX_SWEEPS). Odd n gets a
  zero row and column at index 0, which the ordering never moves and no rotation touches. Only
  the `lower` (or upper) triangle is read, like LAPACK's UPLO. The eigenvalues are sorted
  ascending (with or without `sort_eigenvalues`, as in eager numpy), the eigenvectors with them.
- svd: one-sided (Hestenes) Jacobi on the columns of A (of A^H for wide matrices), in the same
  round-robin order: each rotation makes a pair of columns orthogonal and is accumulated into
  V. Sweeps stop when every pair of a sweep had |a_i^H a_j| <= eps sqrt(m) |a_i| |a_j| (LAPACK
  gesvj's test). The singular values are the column norms, sorted descending; U is the Q of a
  QR of the orthogonal columns times the signs of R's diagonal, which normalizes the columns,
  completes the basis where singular values are zero and gives the full U of `full_matrices`.
  Unlike an eigendecomposition of A^H A, this keeps small singular values accurate.

Speed (llvm-cpu, one core): a round costs about one memory pass per updated matrix, e.g. 90 us
for n = 256; eigh of a 256x256 float32 matrix takes ~0.17 s, svd ~0.3 s (LAPACK: 4-9 ms).
"""

from __future__ import annotations

import math

import numpy as np

from hlodiff.prims import decompositions as dp

from .. import hlo
from ..emitter import aval, i64_array, int_list
from ..registry import register
from .decompositions import (
    I32,
    _Field,
    _flatten,
    _fori,
    _iota_cmp,
    _real_matmul,
    _rows_vs_cols,
    _unflatten,
)

MAX_SWEEPS = 30  # LAPACK gesvj's cap; the quadratic convergence takes 5-10 sweeps


# ---------------------------------------------------------------------------------------------
# Loops


def _while(b, carry: list, cond, body) -> list:
    """`while cond(*carry): carry = body(*carry)` as a `stablehlo.while`; cond returns a
    boolean scalar. As in `_fori`, the regions use only carried values and constants."""
    flat, spec = _flatten(carry)
    avals = [v.aval for v in flat]
    with b.region(avals) as cond_block:
        b.ret([cond(*_unflatten(cond_block.args, spec))], op="stablehlo.return")
    with b.region(avals) as body_block:
        new, _ = _flatten(body(*_unflatten(body_block.args, spec)))
        b.ret(new, op="stablehlo.return")
    return _unflatten(b.op("stablehlo.while", flat, avals, regions=[cond_block, body_block]),
                      spec)


def _sweep_until_done(b, carry: list, sweep) -> list:
    """`carry, done = sweep(*carry)` until `done` (a boolean scalar), at most MAX_SWEEPS times."""

    def cond(count, done, *_):
        more = hlo.compare(b, count, hlo.full(b, MAX_SWEEPS, I32), "LT")
        return hlo.and_(b, more, hlo.not_(b, done))

    def body(count, _, *carry):
        carry, done = sweep(*carry)
        return [hlo.add(b, count, hlo.full(b, 1, I32)), done, *carry]

    start = [hlo.full(b, 0, I32), hlo.full(b, False, np.bool_)]
    return _while(b, start + list(carry), cond, body)[2:]


# ---------------------------------------------------------------------------------------------
# Reductions, slices and shapes (values are tuples of parts, see `_Field`)


def _reduce(b, x, axes, name: str):
    init = {"add": 0, "maximum": -np.inf, "and": True}[name]
    return hlo.reduce(b, [x], [hlo.full(b, init, x.dtype)], axes, hlo.monoid_body(name))[0]


def _abs2(F, x):
    """|x|^2 elementwise (a real Value)."""
    squares = [hlo.mul(F.b, p, p) for p in x]
    return squares[0] if len(squares) == 1 else hlo.add(F.b, *squares)


def _bcast(F, x, shape, dims):
    """`broadcast_in_dim` of a field value, or of a real Value."""
    if isinstance(x, tuple):
        return F.map(lambda p: hlo.broadcast_in_dim(F.b, p, shape, dims), x)
    return hlo.broadcast_in_dim(F.b, x, shape, dims)


def _cut(F, x, start: int, stop: int, axis: int):
    return F.map(lambda p: hlo.slice_in_dim(F.b, p, start, stop, axis=axis), x)


def _diagonal(F, x):
    """The diagonal (B, n) of (B, n, n) x."""
    shape = x[0].shape
    return F.sum(F.select(_rows_vs_cols(F.b, shape, "EQ"), x, F.zeros(shape)), [2])


def _eye(F, shape):
    """(B, m, k) identity matrices."""
    return F.select(_rows_vs_cols(F.b, shape, "EQ"), F.full(1, shape), F.zeros(shape))


def _pad_front(F, x, widths):
    zero = hlo.full(F.b, 0, F.part)
    nd = len(widths)
    return F.map(lambda p: hlo.pad(F.b, p, zero, widths, [0] * nd, [0] * nd), x)


def _batched(F, x):
    """(..., m, n) operand -> (B, m, n) parts."""
    *batch, m, n = x.shape
    return F.reshape(F.split(x), (math.prod(batch), m, n))


def _normalized(F, x):
    """x / scale, and the (B,) scale: each matrix's largest |re| or |im| (1 for zeros)."""
    b = F.b
    mags = [hlo.unary(b, "abs", p) for p in x]
    scale = _reduce(b, mags[0] if len(mags) == 1 else hlo.maximum(b, *mags), [1, 2], "maximum")
    zero = hlo.compare(b, scale, hlo.full_like(b, scale, 0), "EQ")  # (NaN stays, and spreads)
    scale = hlo.select(b, zero, hlo.full_like(b, scale, 1), scale)
    inv = hlo.div(b, hlo.full_like(b, scale, 1), scale)
    return F.scale(x, _bcast(F, inv, x[0].shape, [0])), scale


def _empty_input_results(ctx, unitary):
    """The results for an input without elements: identity matrices at the indices `unitary`
    (the orthogonal factors), zeros (all empty) elsewhere."""
    b = ctx.b
    outs = []
    for i, out in enumerate(ctx.avals_out):
        result = hlo.full(b, 0, out.dtype, out.shape)
        if i in unitary:
            diagonal = _rows_vs_cols(b, out.shape, "EQ")
            result = hlo.select(b, diagonal, hlo.full(b, 1, out.dtype, out.shape), result)
        outs.append(result)
    return outs


def _sort_rows(F, key, mats, descending: bool):
    """Sorts the (B, n) real `key` along n and the rows of the (B, n, r) `mats` with it: ranks
    from comparing all pairs (ties broken by position), then a product with the permutation
    matrix, which is exact. (IREE's `sort` of large matrices' rows exceeds its stack limit.)"""
    b = F.b
    batch, n = key.shape
    square = (batch, n, n)
    k_i, k_j = _bcast(F, key, square, [0, 1]), _bcast(F, key, square, [0, 2])
    ahead = hlo.compare(b, k_j, k_i, "GT" if descending else "LT")
    tie = hlo.and_(b, hlo.compare(b, k_j, k_i, "EQ"), _rows_vs_cols(b, square, "GT"))
    rank = _reduce(b, hlo.convert(b, hlo.or_(b, ahead, tie), I32), [2], "add")
    # perm[k, i] = 1 where row i moves to row k. (A `convert` of the mask would reach the matmul
    # as an i1 operand, which IREE 3.13 fails to compile.)
    perm = hlo.compare(b, hlo.iota(b, square, I32, 1), _bcast(F, rank, square, [0, 2]), "EQ")
    perm = hlo.select(b, perm, hlo.full(b, 1, F.part, square), hlo.full(b, 0, F.part, square))
    key = hlo.reshape(b, _real_matmul(b, perm, hlo.reshape(b, key, (batch, n, 1))), (batch, n))
    return key, [F.map(lambda p: _real_matmul(b, perm, p), m) for m in mats]


# ---------------------------------------------------------------------------------------------
# qr: Householder reflections (LAPACK geqrf / orgqr)


def _householder(F, col, j):
    """LAPACK's larfg on rows j: of the (B, m, 1) columns: (v, tau, beta) with v[j] = 1, zeros
    above, and (I - tau v v^H)^H col = beta e_j on rows j:, beta real. tau = 0 (H = I) where
    nothing is to be eliminated."""
    b = F.b
    shape = col[0].shape
    batch = shape[0]
    below = F.select(_iota_cmp(b, shape, 1, j, "GT"), col, F.zeros(shape))
    alpha = F.reshape(F.dslice(col, [0, j, 0], (batch, 1, 1)), (batch,))
    xnorm2 = _reduce(b, _abs2(F, below), [1, 2], "add")
    norm = hlo.unary(b, "sqrt", hlo.add(b, _abs2(F, alpha), xnorm2))
    zero = hlo.full_like(b, norm, 0)
    rest2 = hlo.add(b, xnorm2, hlo.mul(b, alpha[1], alpha[1])) if F.complex else xnorm2
    trivial = hlo.compare(b, rest2, zero, "EQ")  # larfg: xnorm = 0 and Im(alpha) = 0
    beta = hlo.select(b, hlo.compare(b, alpha[0], zero, "GE"), hlo.neg(b, norm), norm)
    beta = hlo.select(b, trivial, alpha[0], beta)
    safe_beta = hlo.select(b, trivial, hlo.full_like(b, norm, 1), beta)
    tau = F.map(lambda p: hlo.div(b, p, safe_beta), F.sub(F.from_real(beta), alpha))
    tau = F.select(trivial, F.zeros((batch,)), tau)
    denom = F.select(trivial, F.full(1, (batch,)), F.sub(alpha, F.from_real(beta)))
    v = F.mul(below, _bcast(F, F.recip(denom), shape, [0]))
    v = F.select(_iota_cmp(b, shape, 1, j, "EQ"), F.full(1, shape), v)
    return v, tau, beta


def _qr_factor(F, a):
    """geqrf of (B, m, n) `a`: R on and above the diagonal, the reflectors' v below it (v[j] = 1
    implied), and taus (B, min(m, n))."""
    b = F.b
    batch, m, n = a[0].shape
    col_shape, row_shape = (batch, m, 1), (batch, 1, n)

    def step(j, a, taus):
        col = F.dslice(a, [0, 0, j], col_shape)
        v, tau, beta = _householder(F, col, j)
        w = F.matmul(F.adjoint(v), a)  # A -= conj(tau) v (v^H A), right of column j
        w = F.select(_iota_cmp(b, row_shape, 2, j, "GT"), w, F.zeros(row_shape))
        a = F.sub(a, F.outer(F.mul(v, _bcast(F, F.conj(tau), col_shape, [0])), w))
        col = F.select(_iota_cmp(b, col_shape, 1, j, "GT"), v, col)
        col = F.select(_iota_cmp(b, col_shape, 1, j, "EQ"), _bcast(F, F.from_real(beta),
                                                                   col_shape, [0]), col)
        return F.dupdate(a, col, [0, 0, j]), F.dupdate(taus, F.reshape(tau, (batch, 1)), [0, j])

    return _fori(b, min(m, n), [a, F.zeros((batch, min(m, n)))], step)


def _qr_q(F, packed, taus, cols: int):
    """orgqr: the first `cols` columns of Q = H_0 H_1 ... H_{k-1}, applied to I from the
    last reflector to the first."""
    b = F.b
    batch, m, _ = packed[0].shape
    k = taus[0].shape[1]
    col_shape = (batch, m, 1)

    def step(it, packed, taus, q):
        j = hlo.sub(b, hlo.full(b, k - 1, I32), it)
        v = F.dslice(packed, [0, 0, j], col_shape)
        v = F.select(_iota_cmp(b, col_shape, 1, j, "GT"), v, F.zeros(col_shape))
        v = F.select(_iota_cmp(b, col_shape, 1, j, "EQ"), F.full(1, col_shape), v)
        tau = _bcast(F, F.reshape(F.dslice(taus, [0, j], (batch, 1)), (batch,)), col_shape, [0])
        return packed, taus, F.sub(q, F.outer(F.mul(v, tau), F.matmul(F.adjoint(v), q)))

    return _fori(b, k, [packed, taus, _eye(F, (batch, m, cols))], step)[2]


@register(dp.qr_p)
def _qr_lower(ctx, x, *, full_matrices):
    if x.aval.size == 0:
        return _empty_input_results(ctx, unitary={0})
    F = _Field(ctx.b, x.dtype)
    q_aval, r_aval = ctx.avals_out
    a, scale = _normalized(F, _batched(F, x))
    packed, taus = _qr_factor(F, a)
    q = _qr_q(F, packed, taus, q_aval.shape[-1])
    upper = F.select(_rows_vs_cols(ctx.b, packed[0].shape, "LE"), packed,
                     F.zeros(packed[0].shape))
    r = _cut(F, upper, 0, r_aval.shape[-2], 1)
    r = F.scale(r, _bcast(F, scale, r[0].shape, [0]))
    return [F.join(F.reshape(q, q_aval.shape)), F.join(F.reshape(r, r_aval.shape))]


# ---------------------------------------------------------------------------------------------
# Jacobi rotations in round-robin order (shared by eigh and svd). Rotated indices run along the
# rows (axis 1), which are contiguous: a move to the next round's positions is then a gather of
# whole rows, which IREE fuses into the rotation at the cost of a plain elementwise pass (a
# gather of columns costs about four times as much).


def _circle(n: int):
    """The round-robin ordering of n (even) indices, paired as (k, p + k) with p = n/2: `src[k]`,
    the position moving to k for the next round (0 stays; the others move one place around the
    circle 1, 2, .., p-1, n-1, n-2, .., p), and `partner`, each position's pair."""
    p = n // 2
    partner = np.concatenate([np.arange(p, n), np.arange(p)])
    if p == 1:
        return np.arange(n), partner
    src = np.concatenate([[0, p], np.arange(1, p - 1), np.arange(p + 1, n), [p - 1]])
    return src, partner


def _indices(b, idx):
    """A constant (k, 1) int32 index Value for `_take`."""
    return b.constant(np.asarray(idx, np.int32).reshape(-1, 1), I32, (len(idx), 1))


def _take(b, x, indices):
    """x[:, idx] for a constant (k, 1) index Value (a gather along axis 1)."""
    shape = list(x.shape)
    sizes, out = list(shape), list(shape)
    sizes[1], out[1] = 1, indices.shape[0]
    dn = (f"#stablehlo.gather<offset_dims = {int_list([0] + list(range(2, len(shape))))}, "
          "collapsed_slice_dims = [1], start_index_map = [1], index_vector_dim = 1>")
    attrs = {"dimension_numbers": dn, "slice_sizes": i64_array(sizes),
             "indices_are_sorted": "false"}
    return b.op("stablehlo.gather", [x, indices], aval(out, x.dtype), attrs)


def _entries(b, x, rows, cols):
    """(B, k): x[:, rows[i], cols[i]] of (B, r, c) x, for constant index vectors."""
    dn = ("#stablehlo.gather<offset_dims = [0], collapsed_slice_dims = [1, 2], "
          "start_index_map = [1, 2], index_vector_dim = 1>")
    indices = np.stack([rows, cols], 1).astype(np.int32)
    attrs = {"dimension_numbers": dn, "slice_sizes": i64_array((x.shape[0], 1, 1)),
             "indices_are_sorted": "false"}
    return b.op("stablehlo.gather", [x, b.constant(indices, I32, indices.shape)],
                aval((x.shape[0], len(rows)), x.dtype), attrs)


def _magnitude(F, x):
    """|x| elementwise (exact for real x)."""
    if not F.complex:
        return hlo.unary(F.b, "abs", x[0])
    return hlo.unary(F.b, "sqrt", _abs2(F, x))


def _rotation(F, a, d, off):
    """Vectors c (real) and g of the rotations J = [[c, g], [-conj(g), c]] that make
    J^H [[a, off], [conj(off), d]] J diagonal (Rutishauser's formulas, the smaller angle);
    J = I where off = 0. a, d: real (B, p); off: a field value (B, p)."""
    b = F.b
    mag = _magnitude(F, off)
    zero, one = hlo.full_like(b, mag, 0), hlo.full_like(b, mag, 1)
    nonzero = hlo.compare(b, mag, zero, "NE")  # (true for NaN, which then spreads)
    safe = hlo.select(b, nonzero, mag, one)
    theta = hlo.div(b, hlo.sub(b, d, a), hlo.add(b, safe, safe))
    sign = hlo.select(b, hlo.compare(b, theta, zero, "GE"), one, hlo.neg(b, one))
    root = hlo.unary(b, "sqrt", hlo.add(b, hlo.mul(b, theta, theta), one))  # inf: t = 0
    t = hlo.div(b, sign, hlo.add(b, hlo.unary(b, "abs", theta), root))
    t = hlo.select(b, nonzero, t, zero)
    # c = 1/sqrt(1 + t^2), as sqrt(1 / (1 + t^2)): IREE's rsqrt (and 1/sqrt) is off by up to
    # 1.5 ulp, upwards just above 1 (rsqrt(1 + ulp) = 1), where the small rotations near
    # convergence all land: their common scaling error made V 7x less orthogonal.
    c = hlo.unary(b, "sqrt", hlo.div(b, one, hlo.add(b, hlo.mul(b, t, t), one)))
    phase = F.select(nonzero, F.map(lambda p: hlo.div(b, p, safe), off), F.from_real(one))
    return c, F.scale(phase, hlo.mul(b, t, c))


class _Round:
    """A round's rotations J (on the pairs (k, p + k)) and the move P to the next round's
    positions, applied to the rows of a matrix: `left(x)` is P^T J^H x, `right_t(x^T)` is
    (x J P)^T = P^T J^T x^T. Row k of either is c[k] x[src[k]] + h[k] x[partner[src[k]]], h
    being J's off-diagonal entry of each column (conjugated for J^H)."""

    def __init__(self, F, c, g):
        b = F.b
        self.F = F
        src, partner = _circle(2 * c.shape[1])
        self.src, self.partner_src = _indices(b, src), _indices(b, partner[src])
        h = F.map(lambda x, y: hlo.concatenate(b, [hlo.neg(b, x), y], 1), F.conj(g), g)
        c = _take(b, hlo.concatenate(b, [c, c], 1), self.src)
        h = F.map(lambda p: _take(b, p, self.src), h)  # J[partner(j), j], moved
        # Behind a barrier, or IREE fuses their computation into the matrix updates and repeats
        # it for every element: 4x slower.
        self.c, *h = F.barrier((c, *h))
        self.h = tuple(h)

    def left(self, x):
        return self._rows(x, self.F.conj(self.h))

    def right_t(self, xt):
        return self._rows(xt, self.h)

    def _rows(self, x, h):
        F = self.F
        shape = x[0].shape
        here = F.map(lambda p: _take(F.b, p, self.src), x)
        there = F.map(lambda p: _take(F.b, p, self.partner_src), x)
        return F.add(F.scale(here, _bcast(F, self.c, shape, [0, 1])),
                     F.mul(there, _bcast(F, h, shape, [0, 1])))


# ---------------------------------------------------------------------------------------------
# eigh: two-sided Jacobi


def _hermitian(F, a, lower: bool):
    """The Hermitian matrix whose lower (upper) triangle is a's; the diagonal's real part."""
    b = F.b
    shape = a[0].shape
    full = F.select(_rows_vs_cols(b, shape, "GT" if lower else "LT"), a, F.adjoint(a))
    if not F.complex:
        return full
    zero = hlo.full(b, 0, F.part, shape)
    return full[0], hlo.select(b, _rows_vs_cols(b, shape, "EQ"), zero, full[1])


def _pair_positions(b, n: int):
    """(n,) int32: where the partner of each position's index is after a round's move."""
    src, partner = _circle(n)
    dest = np.argsort(src)
    return b.constant(dest[partner[src]].astype(np.int32), I32, (n,))


def _eigh_round(F):
    """One round on Hermitian (B, n, n) a and vt = V^T: A <- P^T J^H A J P, V <- V J P; the
    pair entries of A are set to zero."""
    b = F.b

    def round_(_, a, vt):
        n = a[0].shape[1]
        p = n // 2
        top, bot = np.arange(p), np.arange(p, n)
        diag = _entries(b, a[0], np.arange(n), np.arange(n))
        c, g = _rotation(F, hlo.slice_in_dim(b, diag, 0, p, axis=1),
                         hlo.slice_in_dim(b, diag, p, n, axis=1),
                         F.map(lambda x: _entries(b, x, top, bot), a))
        rnd = _Round(F, c, g)
        # Barriers around the transpose: fused with the gathers it runs several times slower.
        y = F.barrier(rnd.left(a))  # Y = P^T J^H A
        z = F.conj(rnd.right_t(F.barrier(F.swap(y))))  # (Y J P)^T = conj(Z): Z is Hermitian
        shape = z[0].shape
        pair = hlo.compare(b, hlo.iota(b, shape, I32, 2),
                           _bcast(F, _pair_positions(b, n), shape, [1]), "EQ")
        return F.select(pair, F.zeros(shape), z), rnd.right_t(vt)

    return round_


def _eigh_jacobi(F, a):
    """Eigenvalues (B, n), unsorted, and V^T of Hermitian (B, n, n) a, n even."""
    b = F.b
    batch, n, _ = a[0].shape
    eps2 = float(np.finfo(F.part).eps) ** 2
    round_ = _eigh_round(F)

    def sweep(a, vt, norm2):
        a, vt = _fori(b, n - 1, [a, vt], round_)
        shape = a[0].shape
        off = F.select(_rows_vs_cols(b, shape, "EQ"), F.zeros(shape), a)
        off2 = _reduce(b, _abs2(F, off), [1, 2], "add")
        small = hlo.compare(b, off2, hlo.mul(b, norm2, hlo.full_like(b, norm2, eps2)), "LE")
        return [a, vt, norm2], _reduce(b, small, [0], "and")

    norm2 = _reduce(b, _abs2(F, a), [1, 2], "add")
    a, vt, _ = _sweep_until_done(b, [a, _eye(F, (batch, n, n)), norm2], sweep)
    return _diagonal(F, a)[0], vt


@register(dp.eigh_p)
def _eigh_lower(ctx, x, *, lower, sort_eigenvalues):
    if x.aval.size == 0:
        return _empty_input_results(ctx, unitary={0})
    b = ctx.b
    F = _Field(b, x.dtype)
    v_aval, w_aval = ctx.avals_out
    n = x.shape[-1]
    a, scale = _normalized(F, _hermitian(F, _batched(F, x), lower))
    pad = n % 2
    w, vt = _eigh_jacobi(F, _pad_front(F, a, [0, pad, pad]))
    w = hlo.slice_in_dim(b, w, pad, n + pad, axis=1)
    w, (vt,) = _sort_rows(F, w, [_cut(F, _cut(F, vt, pad, n + pad, 1), pad, n + pad, 2)], False)
    w = hlo.mul(b, w, _bcast(F, scale, w.shape, [0]))
    return [F.join(F.reshape(F.swap(vt), v_aval.shape)), hlo.reshape(b, w, w_aval.shape)]


# ---------------------------------------------------------------------------------------------
# svd: one-sided Jacobi


def _svd_round(F):
    """One round on at = A^T (B, n, m) and vt = V^T: A <- A J P and V <- V J P with the
    rotations orthogonalizing column pairs, and `worst`, the largest |a_i^H a_j| / (|a_i| |a_j|)
    seen."""
    b = F.b

    def round_(_, worst, at, *vt):
        p = at[0].shape[1] // 2
        norms2 = _reduce(b, _abs2(F, at), [2], "add")
        alpha = hlo.slice_in_dim(b, norms2, 0, p, axis=1)
        beta = hlo.slice_in_dim(b, norms2, p, 2 * p, axis=1)
        gamma = F.sum(F.mul(F.conj(_cut(F, at, 0, p, 1)), _cut(F, at, p, 2 * p, 1)), [2])
        c, g = _rotation(F, alpha, beta, gamma)
        norms = hlo.unary(b, "sqrt", hlo.mul(b, alpha, beta))
        zero = hlo.full_like(b, norms, 0)
        positive = hlo.compare(b, norms, zero, "GT")
        ratio = hlo.div(b, hlo.unary(b, "sqrt", _abs2(F, gamma)),
                        hlo.select(b, positive, norms, hlo.full_like(b, norms, 1)))
        worst = hlo.maximum(b, worst, _reduce(b, hlo.select(b, positive, ratio, zero), [0, 1],
                                              "maximum"))
        rnd = _Round(F, c, g)
        return [worst, *(rnd.right_t(x) for x in (at, *vt))]

    return round_


def _svd_jacobi(F, at, compute_uv: bool):
    """One-sided Jacobi on the columns of A (the rows of at = A^T, (B, n, m), m >= n): the
    singular values (B, n), descending, and [A^T, V^T] with their rows in that order (the
    orthogonalized columns and the right singular vectors) if compute_uv, else []."""
    b = F.b
    batch, n, m = at[0].shape
    pad = n % 2
    mats = [_pad_front(F, at, [0, pad, 0])]
    if compute_uv:
        mats.append(_eye(F, (batch, n + pad, n + pad)))
    tol = float(np.finfo(F.part).eps * np.sqrt(m))
    round_ = _svd_round(F)

    def sweep(*mats):
        worst, *mats = _fori(b, n + pad - 1, [hlo.full(b, 0, F.part), *mats], round_)
        return mats, hlo.compare(b, worst, hlo.full(b, tol, F.part), "LE")

    at, *vt = _sweep_until_done(b, mats, sweep)
    at = _cut(F, at, pad, n + pad, 1)
    vt = [_cut(F, _cut(F, x, pad, n + pad, 1), pad, n + pad, 2) for x in vt]
    s = hlo.unary(b, "sqrt", _reduce(b, _abs2(F, at), [2], "add"))
    return _sort_rows(F, s, [at, *vt] if compute_uv else [], True)


def _left_vectors(F, a, cols: int):
    """U with A = U diag(s) for the (B, m, n) `a` of orthogonal columns, m >= n: the first
    `cols` columns of Q from a = Q R, the first n of them times the signs of R's diagonal."""
    b = F.b
    n = a[0].shape[2]
    packed, taus = _qr_factor(F, a)
    q = _qr_q(F, packed, taus, cols)
    beta = _diagonal(F, _cut(F, packed, 0, n, 1))[0]
    one = hlo.full_like(b, beta, 1)
    sign = hlo.select(b, hlo.compare(b, beta, hlo.full_like(b, beta, 0), "LT"), hlo.neg(b, one),
                      one)
    sign = hlo.pad(b, sign, hlo.full(b, 1, F.part), [0, 0], [0, cols - n], [0, 0])
    return F.scale(q, _bcast(F, sign, q[0].shape, [0, 2]))


@register(dp.svd_p)
def _svd_lower(ctx, x, *, full_matrices, compute_uv):
    if x.aval.size == 0:
        return _empty_input_results(ctx, unitary={1, 2})
    b = ctx.b
    F = _Field(b, x.dtype)
    m, n = x.shape[-2:]
    a = _batched(F, x)
    wide = m < n  # then A = x^H = U S V^H, so x = V S U^H
    at, scale = _normalized(F, F.conj(a) if wide else F.swap(a))
    s, mats = _svd_jacobi(F, at, compute_uv)
    s = hlo.mul(b, s, _bcast(F, scale, s.shape, [0]))
    outs = [hlo.reshape(b, s, ctx.avals_out[0].shape)]
    if not compute_uv:
        return outs
    at, vt = mats
    rows, cols = at[0].shape[2], at[0].shape[1]
    u = _left_vectors(F, F.swap(at), rows if full_matrices else cols)
    u, vh = (F.swap(vt), F.adjoint(u)) if wide else (u, F.conj(vt))
    return outs + [F.join(F.reshape(y, out.shape)) for y, out in zip((u, vh),
                                                                      ctx.avals_out[1:])]
