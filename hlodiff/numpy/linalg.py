"""`hlodiff.numpy.linalg` (as `jax.numpy.linalg`): norms, solves, inverses, determinants and
decompositions, written on the primitives of `hlodiff/prims/decompositions.py`.

    import hlodiff.numpy as hnp
    L = hnp.linalg.cholesky(a)
    x = hnp.linalg.solve(a, b)              # LU with partial pivoting
    sign, logdet = hnp.linalg.slogdet(a)

Inputs are promoted to an inexact dtype (ints to float32, or float64 with x64) and may carry
leading batch dimensions, as in numpy.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Array, get_aval
from hlodiff.lax import linalg as lax_linalg
from hlodiff.numpy import _reductions as red
from hlodiff.numpy import _ufuncs as uf
from hlodiff.numpy._core import asarray, canonicalize_axes, promote_dtypes_inexact
from hlodiff.prims import decompositions as dp
from hlodiff.prims import elementwise as ew
from hlodiff.prims import shape as sp


class EighResult(NamedTuple):
    eigenvalues: Array
    eigenvectors: Array


class QRResult(NamedTuple):
    Q: Array
    R: Array


class SlogdetResult(NamedTuple):
    sign: Array
    logabsdet: Array


class SVDResult(NamedTuple):
    U: Array
    S: Array
    Vh: Array


def _inexact(name, *args):
    return promote_dtypes_inexact(name, *[asarray(a) for a in args])


def _shape(x):
    return get_aval(x).shape


def _check_square(name, a, what=None):
    shape = _shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{what or f'Argument to {name}()'} must have shape [..., n, n], got "
                         f"{shape}.")


def _bcast(x, shape):
    return x if _shape(x) == tuple(shape) else uf_broadcast_to(x, shape)


def uf_broadcast_to(x, shape):
    from hlodiff.numpy import broadcast_to

    return broadcast_to(x, shape)


# ---------------------------------------------------------------------------------------------
# Factorizations


def cholesky(a, *, upper: bool = False, symmetrize_input: bool = True):
    """Cholesky factor of Hermitian positive-definite `a` `[..., n, n]`: lower L with
    `a = L @ L^H` (or upper `L^H` with `upper=True`). All NaN where `a` is not positive
    definite (as JAX), never an exception."""
    (a,) = _inexact("cholesky", a)
    L = lax_linalg.cholesky(a, symmetrize_input=symmetrize_input)
    return dp._H(L) if upper else L


def qr(a, mode: str = "reduced"):
    """QR decomposition: `QRResult(Q, R)` for mode "reduced" / "complete", `R` for mode "r"."""
    (a,) = _inexact("qr", a)
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"Unsupported QR decomposition mode '{mode}'"
                         + (" (mode='raw' is not implemented in hlodiff)" if mode == "raw"
                            else ""))
    q, r = lax_linalg.qr(a, full_matrices=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


def eigh(a, UPLO: str | None = None, symmetrize_input: bool = True):
    """Eigenvalues (ascending) and eigenvectors of Hermitian `a`: `EighResult(w, v)`."""
    if UPLO not in (None, "L", "U"):
        raise ValueError(f"UPLO must be one of None, 'L', or 'U', got {UPLO}")
    (a,) = _inexact("eigh", a)
    v, w = lax_linalg.eigh(a, lower=UPLO != "U", symmetrize_input=symmetrize_input)
    return EighResult(w, v)


def eigvalsh(a, UPLO: str | None = "L", *, symmetrize_input: bool = True):
    """Eigenvalues (ascending) of Hermitian `a`."""
    return eigh(a, UPLO, symmetrize_input).eigenvalues


def svd(a, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False,
        subset_by_index=None):
    """`SVDResult(U, S, Vh)` with `a = U @ diag(S) @ Vh` (S descending), or `S`."""
    (a,) = _inexact("svd", a)
    if hermitian:
        return _svd_hermitian(a, compute_uv)
    out = lax_linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv,
                         subset_by_index=subset_by_index)
    return SVDResult(*out) if compute_uv else out


def _svd_hermitian(a, compute_uv):
    from hlodiff.numpy import argsort, flip, take_along_axis

    vecs, w = lax_linalg.eigh(a)
    s = uf.absolute(w)
    order = flip(argsort(s, axis=-1), axis=-1)
    s = take_along_axis(s, order, axis=-1)
    if not compute_uv:
        return s
    sign = take_along_axis(uf.sign(w), order, axis=-1)
    u = take_along_axis(vecs, order[..., None, :], axis=-1)
    vh = dp._H(u * sign[..., None, :].astype(get_aval(u).dtype))
    return SVDResult(u, s, vh)


def svdvals(x):
    """Singular values of `x`, descending."""
    return svd(x, compute_uv=False)


# ---------------------------------------------------------------------------------------------
# Solves and inverses


def solve(a, b):
    """Solves `a @ x = b` for square `a` `[..., n, n]` by LU with partial pivoting.

    b is a vector `[n]` (only when it is 1-D) or `[..., n, k]`; batch dimensions broadcast.

    Raises:
      ValueError: shapes that do not fit.
    """
    a, b = _inexact("solve", a, b)
    _check_square("solve", a, "The first argument to solve")
    a_shape, b_shape = _shape(a), _shape(b)
    n = a_shape[-1]
    vector = len(b_shape) == 1
    if (vector and b_shape[0] != n) or (not vector and (len(b_shape) < 2 or b_shape[-2] != n)):
        raise ValueError("solve: the arguments must have shapes a=[..., n, n] and b=[n] or "
                         f"b=[..., n, k]; got a={a_shape} and b={b_shape}.")
    if vector:
        b = sp.reshape(b, (n, 1))
    batch = np.broadcast_shapes(a_shape[:-2], _shape(b)[:-2])
    a = _bcast(a, batch + a_shape[-2:])
    b = _bcast(b, batch + _shape(b)[-2:])
    lu_, _, perm = lax_linalg.lu(a)
    x = dp.lu_solve(lu_, perm, b)
    return sp.reshape(x, batch + (n,)) if vector else x


def inv(a):
    """Inverse of square `a` `[..., n, n]` (through `solve`)."""
    (a,) = _inexact("inv", a)
    _check_square("inv", a, "Argument to inv")
    shape = _shape(a)
    return solve(a, _identity(shape, get_aval(a).dtype))


def _identity(shape, dtype):
    """Identity matrices of `shape` [..., n, n]: a real constant converted to `dtype`. IREE 3.13
    crashes (SIGFPE in PackConstants) on a non-splat complex128 constant, and its constant
    hoisting fails on an iota-built complex identity."""
    eye = np.eye(shape[-1], dtype=dtypes.real_dtype(dtype))
    eye = sp.broadcast_in_dim(eye, tuple(shape), (len(shape) - 2, len(shape) - 1))
    return ew.convert_element_type(eye, dtype)


def matrix_power(a, n: int):
    """`a` multiplied by itself `n` times (repeated squaring; `inv(a)` for negative n)."""
    a = asarray(a)
    shape = _shape(a)
    if len(shape) < 2:
        raise TypeError(f"{len(shape)}-dimensional array given. Array must be at least "
                        "two-dimensional")
    if shape[-2] != shape[-1]:
        raise TypeError("Last 2 dimensions of the array must be square")
    try:
        n = operator.index(n)
    except TypeError as err:
        raise TypeError(f"exponent must be an integer, got {n}") from err
    from hlodiff.numpy import matmul

    if n == 0:
        return _identity(shape, get_aval(a).dtype)
    if n < 0:
        a, n = inv(a), -n
    result, z = None, None
    while n > 0:
        z = a if z is None else matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else matmul(result, z)
    return result


def pinv(a, rtol=None, hermitian: bool = False, *, rcond=None):
    """Moore-Penrose pseudo-inverse `[..., n, m]` of `a` `[..., m, n]` via the SVD.

    Singular values at or below `rtol * max(s)` are dropped; the default rtol is
    `10 * max(m, n) * eps`, as JAX (numpy uses 1e-15).
    """
    if rcond is not None:
        if rtol is not None:
            raise ValueError("pinv: only one of rtol and rcond may be specified.")
        rtol = rcond
    (a,) = _inexact("pinv", a)
    return _pinv(a, None if rtol is None else float(rtol), bool(hermitian))


def _pinv_impl(a, rtol, hermitian):
    from hlodiff.numpy import matmul

    shape = _shape(a)
    m, n = shape[-2:]
    dtype = get_aval(a).dtype
    a = uf.conj(a) if dtypes.is_complex(dtype) else a
    if rtol is None:
        rtol = 10.0 * max(m, n) * float(dtypes.finfo(dtype).eps)
    u, s, vh = svd(a, full_matrices=False, hermitian=hermitian)
    cutoff = s[..., 0:1] * np.asarray(rtol, get_aval(s).dtype)
    s = uf.where(s > cutoff, s, np.inf).astype(dtype)
    return matmul(dp._T(vh), dp._T(u) / s[..., None])


def _pinv_jvp(rtol, hermitian, primals, tangents):
    # Golub & Pereyra (1973): the derivative of the pseudo-inverse, smooth in a.
    from hlodiff.numpy import matmul

    (a,), (a_dot,) = primals, tangents
    p = _pinv(a, rtol, hermitian)
    m, n = _shape(a)[-2:]
    H = dp._H
    if m >= n:
        s = matmul(matmul(p, H(p)), H(a_dot))
        t = matmul(matmul(H(a_dot), H(p)), p)
        p_dot = (-matmul(matmul(p, a_dot), p) + s - matmul(matmul(s, a), p) + t
                 - matmul(matmul(p, a), t))
    else:
        s = matmul(p, matmul(H(p), H(a_dot)))
        t = matmul(H(a_dot), matmul(H(p), p))
        p_dot = (-matmul(p, matmul(a_dot, p)) + s - matmul(s, matmul(a, p)) + t
                 - matmul(p, matmul(a, t)))
    return p, p_dot


def _make_pinv():
    from hlodiff.prims.custom import custom_jvp

    fn = custom_jvp(_pinv_impl, nondiff_argnums=(1, 2))
    fn.defjvp(_pinv_jvp)
    return fn


_pinv = _make_pinv()


def lstsq(a, b, rcond=None, *, numpy_resid: bool = False):
    """Least-squares solution of `a @ x = b` via the SVD: `(x, resid, rank, s)`.

    a is `[m, n]`, b `[m]` or `[m, k]`; resid is `|b - a x|^2` per column (always returned
    unless `numpy_resid`, which follows numpy's empty result for rank-deficient or wide a).
    """
    from hlodiff.numpy import matmul

    a, b = _inexact("lstsq", a, b)
    if _shape(a)[0] != _shape(b)[0]:
        raise ValueError("Leading dimensions of input arrays must match")
    b_orig_ndim = len(_shape(b))
    if b_orig_ndim == 1:
        b = b[:, None]
    if len(_shape(a)) != 2:
        raise TypeError(f"{len(_shape(a))}-dimensional array given. Array must be "
                        "two-dimensional")
    if len(_shape(b)) != 2:
        raise TypeError(f"{len(_shape(b))}-dimensional array given. Array must be one or "
                        "two-dimensional")
    m, n = _shape(a)
    dtype = get_aval(a).dtype
    eps = float(dtypes.finfo(dtype).eps)
    rcond = eps * max(n, m) if rcond is None else (eps if rcond < 0 else rcond)
    u, s, vt = svd(a, full_matrices=False)
    rdtype = get_aval(s).dtype
    mask = (s > 0) & (s >= np.asarray(rcond, rdtype) * s[0])
    rank = red.sum(mask)
    safe_s = uf.where(mask, s, 1).astype(dtype)
    s_inv = uf.where(mask, 1 / safe_s, 0)[:, None]
    x = matmul(dp._H(vt), s_inv * matmul(dp._H(u), b))
    if numpy_resid and (int(rank) < n or m <= n):
        from hlodiff.numpy import asarray as _asarray

        resid = _asarray(np.zeros((0,), rdtype))
    else:
        resid = norm(b - matmul(a, x), axis=0) ** 2
    if b_orig_ndim == 1:
        x = sp.reshape(x, (_shape(x)[0],))
    return x, resid, rank, s


# ---------------------------------------------------------------------------------------------
# Determinants


def _det_2x2(a):
    return a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]


def _det_3x3(a):
    return (a[..., 0, 0] * a[..., 1, 1] * a[..., 2, 2]
            + a[..., 0, 1] * a[..., 1, 2] * a[..., 2, 0]
            + a[..., 0, 2] * a[..., 1, 0] * a[..., 2, 1]
            - a[..., 0, 2] * a[..., 1, 1] * a[..., 2, 0]
            - a[..., 0, 0] * a[..., 1, 2] * a[..., 2, 1]
            - a[..., 0, 1] * a[..., 1, 0] * a[..., 2, 2])


def det(a):
    """Determinant of square `a` `[..., n, n]` (closed form for n <= 3, else via LU)."""
    (a,) = _inexact("det", a)
    _check_square("det", a, "Argument to _det()")
    n = _shape(a)[-1]
    if n == 1:
        return a[..., 0, 0]
    if n == 2:
        return _det_2x2(a)
    if n == 3:
        return _det_3x3(a)
    sign, logdet = slogdet(a)
    return sign * uf.exp(logdet).astype(get_aval(sign).dtype)


def slogdet(a, *, method: str | None = None):
    """`SlogdetResult(sign, logabsdet)` of square `a` via LU: det = sign * exp(logabsdet).

    sign is 0 and logabsdet -inf for singular a. The derivative of logabsdet is
    real(trace(a^{-1} da)), here by differentiating through the LU factorization.
    """
    from hlodiff.numpy import arange
    from hlodiff.numpy import asarray as _asarray

    (a,) = _inexact("slogdet", a)
    _check_square("slogdet", a)
    if method not in (None, "lu"):
        raise ValueError(f"Unknown slogdet method '{method}'. Supported methods are 'lu' "
                         "(`None`).")
    dtype = get_aval(a).dtype
    lu_, pivot, _ = lax_linalg.lu(a)
    diag = dp._diagonal(lu_)
    zero = _asarray(np.zeros((), dtype))
    is_zero = red.any(diag == zero, axis=-1)
    parity = red.count_nonzero(pivot != arange(_shape(a)[-1], dtype=np.int32), axis=-1)
    if dtypes.is_complex(dtype):
        sign = red.prod(diag / uf.absolute(diag).astype(dtype), axis=-1)
    else:
        sign = _asarray(np.ones((), dtype))
        parity = parity + red.count_nonzero(diag < zero, axis=-1)
    parity_sign = (-2 * (parity % 2) + 1).astype(dtype)
    sign = uf.where(is_zero, zero, sign * parity_sign)
    logdet = uf.where(is_zero, _asarray(np.array(-np.inf, dtypes.real_dtype(dtype))),
                      red.sum(uf.log(uf.absolute(diag)), axis=-1))
    return SlogdetResult(sign, logdet)


# ---------------------------------------------------------------------------------------------
# Norms


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector or matrix norm (Frobenius / 2-norm by default); matrix ord 2, -2 and 'nuc' use
    the singular values."""
    x = asarray(x)
    if not dtypes.is_inexact(get_aval(x).dtype):
        x = ew.convert_element_type(x, dtypes.default_float_dtype())
    ndim = get_aval(x).ndim
    axes = canonicalize_axes(axis, ndim) if axis is not None else tuple(range(ndim))
    absx = uf.absolute(x)
    if ord is None or ord == "fro" or (ord == 2 and len(axes) == 1):
        return uf.sqrt(red.sum(ew.mul(absx, absx), axis=axes, keepdims=keepdims))
    if len(axes) == 1:
        if ord == np.inf:
            return red.max(absx, axis=axes, keepdims=keepdims)
        if ord == -np.inf:
            return red.min(absx, axis=axes, keepdims=keepdims)
        if ord == 0:
            return red.sum(ew.convert_element_type(ew.ne(x, ew._const(x, 0)),
                                                   get_aval(absx).dtype), axis=axes,
                           keepdims=keepdims)
        if ord == 1:
            return red.sum(absx, axis=axes, keepdims=keepdims)
        p = float(ord)
        return uf.power(red.sum(uf.power(absx, p), axis=axes, keepdims=keepdims), 1.0 / p)
    if len(axes) == 2:
        r, c = axes
        if ord == 1:
            return red.max(red.sum(absx, axis=r, keepdims=True), axis=(r, c), keepdims=keepdims)
        if ord == np.inf:
            return red.max(red.sum(absx, axis=c, keepdims=True), axis=(r, c), keepdims=keepdims)
        if ord == -1:
            return red.min(red.sum(absx, axis=r, keepdims=True), axis=(r, c), keepdims=keepdims)
        if ord == -np.inf:
            return red.min(red.sum(absx, axis=c, keepdims=True), axis=(r, c), keepdims=keepdims)
        if ord in ("nuc", 2, -2):
            return _svd_norm(x, ord, r, c, keepdims)
    raise ValueError(f"Invalid norm order {ord!r} for an array of rank {ndim}")


def _svd_norm(x, ord, r, c, keepdims):
    from hlodiff.numpy import expand_dims, moveaxis

    s = svd(moveaxis(x, (r, c), (-2, -1)), compute_uv=False)
    if ord == 2:
        y = red.max(s, axis=-1)
    elif ord == -2:
        y = red.min(s, axis=-1)
    else:
        y = red.sum(s, axis=-1)
    return expand_dims(y, (r, c)) if keepdims else y


def matrix_rank(M, rtol=None, *, tol=None, hermitian: bool = False):
    """Number of singular values above `rtol * max(s)` (default `max(m, n) * eps`)."""
    if tol is not None:
        if rtol is not None:
            raise ValueError("matrix_rank: only one of tol or rtol may be specified.")
        rtol = tol
    (M,) = _inexact("matrix_rank", M)
    shape = _shape(M)
    if len(shape) < 2:
        return red.any(M != 0).astype(np.int32)
    S = svd(M, full_matrices=False, compute_uv=False, hermitian=hermitian)
    if rtol is None:
        rtol = red.max(S, axis=-1) * np.asarray(max(shape[-2:]) * float(dtypes.finfo(
            get_aval(S).dtype).eps), get_aval(S).dtype)
    rtol = asarray(rtol)
    rtol = sp.reshape(rtol, _shape(rtol) + (1,))
    return red.sum(S > rtol, axis=-1)


__all__ = [
    "EighResult",
    "QRResult",
    "SVDResult",
    "SlogdetResult",
    "cholesky",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "lstsq",
    "matrix_power",
    "matrix_rank",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
]
