"""`hlodiff.lax.linalg`: the decomposition primitives' API (as `jax.lax.linalg`).

    from hlodiff.lax import linalg as lax_linalg
    L = lax_linalg.cholesky(a)                      # lower factor, (a + a^H) / 2 factorized
    x = lax_linalg.triangular_solve(L, b, left_side=True, lower=True)
    lu, pivots, perm = lax_linalg.lu(a)

Operands are stacks of matrices `[..., m, n]`; no dtype promotion happens here (see
`hlodiff.numpy.linalg` for the numpy API).
"""

from __future__ import annotations

import numpy as np

from hlodiff.core import get_aval
from hlodiff.prims import decompositions as _dp
from hlodiff.prims import shape as _sp
from hlodiff.prims.decompositions import lu, triangular_solve  # noqa: F401


def cholesky(x, *, symmetrize_input: bool = True):
    """Cholesky factor L (lower, `x = L @ L^H`) of Hermitian positive-definite `[..., n, n]`.

    Args:
      x: a stack of square matrices.
      symmetrize_input: factorize `(x + x^H) / 2` (JAX's default); otherwise only the lower
        triangle of x is read.
    Returns:
      L with zeros above the diagonal; all-NaN (lower triangle) where x is not positive definite.
    Raises:
      ValueError: x is not a stack of square matrices.
    """
    return _dp.cholesky(x, symmetrize_input=symmetrize_input)


def qr(x, *, pivoting: bool = False, full_matrices: bool = True):
    """QR decomposition `(q, r)` of `[..., m, n]` (`pivoting` is not supported)."""
    if pivoting:
        raise NotImplementedError("qr(pivoting=True) is not implemented in hlodiff")
    return _dp.qr(x, full_matrices=full_matrices)


def eigh(x, *, lower: bool = True, symmetrize_input: bool = True,
         sort_eigenvalues: bool = True, subset_by_index=None):
    """Eigenvectors and eigenvalues `(v, w)` of Hermitian `[..., n, n]` (w ascending)."""
    if subset_by_index is not None and tuple(subset_by_index) != (0, get_aval(x).shape[-1]):
        raise NotImplementedError("eigh(subset_by_index=...) is not implemented in hlodiff")
    return _dp.eigh(x, lower=lower, symmetrize_input=symmetrize_input,
                    sort_eigenvalues=sort_eigenvalues)


def svd(x, *, full_matrices: bool = True, compute_uv: bool = True, subset_by_index=None,
        algorithm=None):
    """`(u, s, vh)` with `x = u @ diag(s) @ vh` (s descending), or just `s` without
    `compute_uv`."""
    if subset_by_index is not None:
        raise NotImplementedError("svd(subset_by_index=...) is not implemented in hlodiff")
    outs = _dp.svd(x, full_matrices=full_matrices, compute_uv=compute_uv)
    if not compute_uv:
        return outs[0]
    s, u, vt = outs
    return u, s, vt


def lu_pivots_to_permutation(pivots, permutation_size: int):
    """The permutation that applying the row swaps `pivots` (from `lu`) to `arange(n)` gives.

    Computed on concrete values (the swaps are sequential); under tracing use `lu`'s third
    output instead.
    """
    p = np.asarray(pivots)
    perm = np.broadcast_to(np.arange(permutation_size, dtype=np.int32),
                           p.shape[:-1] + (permutation_size,)).copy()
    flat, pflat = perm.reshape(-1, permutation_size), p.reshape(-1, p.shape[-1])
    for row, piv in zip(flat, pflat):
        for i, j in enumerate(piv):
            row[i], row[j] = row[j], row[i]
    from hlodiff.numpy import asarray

    return asarray(flat.reshape(perm.shape))


def lu_solve(lu_, permutation, b, trans: int = 0):
    """Solves `a x = b` (trans 0), `a^T x = b` (1) or `a^H x = b` (2) from `lu(a)`.

    b is `[..., n]` (a vector per matrix, when its rank is one less than lu's) or `[..., n, k]`.
    """
    lu_aval, b_aval = get_aval(lu_), get_aval(b)
    vector = b_aval.ndim == lu_aval.ndim - 1
    if vector:
        b = _sp.expand_dims(b, (b_aval.ndim,))
    if trans == 0:
        x = _dp.lu_solve(lu_, permutation, b)
    elif trans in (1, 2):
        conj = trans == 2
        x = triangular_solve(lu_, b, left_side=True, lower=False, transpose_a=True,
                             conjugate_a=conj)
        x = triangular_solve(lu_, x, left_side=True, lower=True, unit_diagonal=True,
                             transpose_a=True, conjugate_a=conj)
        x = _dp._permute_rows(x, _inverse_permutation(permutation))
    else:
        raise ValueError(f"'trans' value must be 0, 1, or 2, got {trans}")
    return _sp.squeeze(x, (get_aval(x).ndim - 1,)) if vector else x


def _inverse_permutation(perm):
    """inv[perm[i]] = i, as an argsort of perm."""
    from hlodiff.numpy import argsort

    return argsort(perm, axis=-1).astype(np.int32)
