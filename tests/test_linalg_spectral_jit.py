"""jit of qr, eigh and svd (lowering/rules/spectral.py) on IREE's CPU device, against numpy.

For each decomposition: the factors reconstruct the input (Q R = A, V diag(w) V^H = A,
U diag(s) V^H = A), are unitary, R is upper triangular, and the eigen- and singular values
match numpy's; over float32 / float64 / complex64 / complex128, square, tall, wide, odd, 1x1
and batched shapes, both `full_matrices` modes and both triangles of eigh. Then degenerate,
NaN and empty inputs, and jit(grad) of a loss on each decomposition against the eager grad.
Errors are measured against 10 eps n |A|. Every case compiles one module (about 1-2 s).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff.lax import linalg as lax_linalg

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

F32, F64, C64, C128 = (np.dtype(d) for d in ("float32", "float64", "complex64", "complex128"))


def _jit_available() -> bool:
    try:
        return float(hd.jit(lambda x: x * 2.0)(1.0)) == 2.0
    except Exception:  # noqa: BLE001 -- no IREE: compiled execution is tested elsewhere
        return False


jit_only = pytest.mark.skipif(not _jit_available(), reason="IREE CPU compilation unavailable")


@contextlib.contextmanager
def _precision(dtype):
    """x64 mode for 64-bit dtypes."""
    prev = hd.config.enable_x64
    hd.config.update("enable_x64", np.dtype(dtype) in (F64, C128))
    try:
        yield
    finally:
        hd.config.update("enable_x64", prev)


def _rand(rng, shape, dtype):
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def _H(x):
    return np.conj(np.swapaxes(x, -1, -2))


def _assert_small(err, dtype, n, scale=1.0, what=""):
    """err <= 10 eps n scale elementwise (eps of dtype's precision; scale broadcasts)."""
    ratio = np.max(err / (10 * np.finfo(dtype).eps * max(n, 1) * scale))
    assert np.isfinite(ratio) and ratio <= 1, f"{what}: {ratio:.3g} times the tolerance"


def _norm(a):
    """Frobenius norms of the matrices (in double: no overflow), shaped to broadcast."""
    norm = np.linalg.norm(a.astype(np.complex128), axis=(-2, -1), keepdims=True)
    return np.maximum(norm, np.finfo(np.float64).tiny)  # exact results for zeros


def _unitarity_error(x):
    """|x^H x - I|: zero where x has orthonormal columns."""
    return np.abs(_H(x) @ x - np.eye(x.shape[-1]))


def _case_id(dtype, shape, flag):
    return f"{dtype}{list(shape)}-{flag}"


def _check_qr(a, q, r, full_matrices):
    dtype, m = a.dtype, a.shape[-2]
    q_np, r_np = np.linalg.qr(a, mode="complete" if full_matrices else "reduced")
    assert (q.shape, r.shape, q.dtype, r.dtype) == (q_np.shape, r_np.shape, dtype, dtype)
    _assert_small(np.abs(q @ r - a), dtype, m, _norm(a), "Q R - A")
    _assert_small(_unitarity_error(q), dtype, m, what="Q^H Q - I")
    assert np.all(np.tril(r, -1) == 0)
    # LAPACK's conventions (geqrf / orgqr), so the very factors numpy returns
    _assert_small(np.abs(q - q_np), dtype, m, what="Q - Q_numpy")
    _assert_small(np.abs(r - r_np), dtype, m, _norm(a), "R - R_numpy")


def _check_singular_values(a, s):
    s_np = np.linalg.svd(a, compute_uv=False)
    assert s.shape == s_np.shape and s.dtype == s_np.dtype
    assert np.all(np.diff(s, axis=-1) <= 0)
    _assert_small(np.abs(s - s_np), a.dtype, max(a.shape[-2:]), _norm(a)[..., 0], "s - s_np")


def _check_svd(a, u, s, vh, full_matrices):
    dtype = a.dtype
    u_np, _, vh_np = np.linalg.svd(a, full_matrices=full_matrices)
    assert (u.shape, vh.shape, u.dtype, vh.dtype) == (u_np.shape, vh_np.shape, dtype, dtype)
    _check_singular_values(a, s)
    n, k = max(a.shape[-2:]), s.shape[-1]
    us = u[..., :, :k] * s[..., None, :]
    _assert_small(np.abs(us @ vh[..., :k, :] - a), dtype, n, _norm(a), "U s V^H - A")
    _assert_small(_unitarity_error(u), dtype, n, what="U^H U - I")
    _assert_small(_unitarity_error(_H(vh)), dtype, n, what="V^H V - I")


def _hermitian_part(a, lower):
    """The Hermitian matrix LAPACK sees in one triangle of a (the diagonal's real part)."""
    tri = np.tril(a, -1) if lower else np.triu(a, 1)
    diag = np.real(np.einsum("...ii->...i", a))[..., None] * np.eye(a.shape[-1])
    return tri + _H(tri) + diag


def _check_eigh(a, v, w, lower=True):
    dtype, n = a.dtype, a.shape[-1]
    h = _hermitian_part(a, lower)
    w_np = np.linalg.eigvalsh(a, UPLO="L" if lower else "U")
    assert (v.shape, w.shape, v.dtype, w.dtype) == (a.shape, w_np.shape, dtype, w_np.dtype)
    assert np.all(np.diff(w, axis=-1) >= 0)
    _assert_small(np.abs(w - w_np), dtype, n, _norm(h)[..., 0], "w - w_numpy")
    _assert_small(np.abs((v * w[..., None, :]) @ _H(v) - h), dtype, n, _norm(h), "V w V^H - A")
    _assert_small(_unitarity_error(v), dtype, n, what="V^H V - I")


# ---------------------------------------------------------------------------------------------
# qr and svd (one module per case: the svd's QR and the qr share their code)


# (dtype, shape, full_matrices)
QR_SVD_CASES = [
    (F32, (1, 1), True), (F32, (5, 3), False), (F32, (3, 5), True), (F32, (60, 45), True),
    (C64, (2, 4, 6), False), (F64, (6, 4), True), (C128, (3, 5), False),
]


@pytest.mark.cpu
@jit_only
@pytest.mark.parametrize("dtype, shape, full_matrices", QR_SVD_CASES,
                         ids=[_case_id(*c) for c in QR_SVD_CASES])
def test_jit_qr_and_svd(dtype, shape, full_matrices):
    a = _rand(np.random.default_rng(1), shape, dtype)
    with _precision(dtype):
        (q, r), (u, s, vh), s_only = hd.jit(lambda x: (
            lax_linalg.qr(x, full_matrices=full_matrices),
            lax_linalg.svd(x, full_matrices=full_matrices),
            lax_linalg.svd(x, compute_uv=False)))(a)
    _check_qr(a, np.asarray(q), np.asarray(r), full_matrices)
    _check_svd(a, np.asarray(u), np.asarray(s), np.asarray(vh), full_matrices)
    _check_singular_values(a, np.asarray(s_only))


# ---------------------------------------------------------------------------------------------
# eigh


# (dtype, shape, lower)
EIGH_CASES = [
    (F32, (1, 1), True), (F32, (3, 4, 4), True), (F32, (33, 33), True), (C64, (5, 5), False),
    (F64, (6, 6), True), (C128, (2, 3, 3), False),
]


@pytest.mark.cpu
@jit_only
@pytest.mark.parametrize("dtype, shape, lower", EIGH_CASES,
                         ids=[_case_id(*c) for c in EIGH_CASES])
def test_jit_eigh(dtype, shape, lower):
    """Only the `lower` (upper) triangle is read: the input is not Hermitian."""
    a = _rand(np.random.default_rng(2), shape, dtype)
    with _precision(dtype):
        v, w = hd.jit(lambda x: lax_linalg.eigh(x, lower=lower, symmetrize_input=False))(a)
    _check_eigh(a, np.asarray(v), np.asarray(w), lower)


# ---------------------------------------------------------------------------------------------
# Degenerate, NaN and empty inputs


def _degenerate_batch():
    """Zero, identity (repeated eigenvalues), rank one (repeated zero singular values) at three
    scales, and a rotated diag(2, 2, -1, -1)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(4)
    rank1 = np.outer(x, x)
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    pairs = q @ np.diag([2.0, 2.0, -1.0, -1.0]) @ q.T
    return np.stack([np.zeros((4, 4)), np.eye(4), rank1, rank1 * 1e20, rank1 * 1e-20,
                     pairs]).astype(F32)


@pytest.mark.cpu
@jit_only
def test_jit_degenerate_inputs():
    """Finite factors that reconstruct the input; a NaN matrix in the same batch gives NaN
    results and leaves the others alone."""
    a = _degenerate_batch()
    nan = np.full((1, 4, 4), np.nan, F32)
    fn = hd.jit(lambda x: (lax_linalg.qr(x), lax_linalg.eigh(x), lax_linalg.svd(x)))
    (q, r), (v, w), (u, s, vh) = (tuple(np.asarray(o) for o in out)
                                  for out in fn(np.concatenate([a, nan])))
    assert all(np.isnan(o[-1]).all() for o in (q, r, v, w, u, s, vh))
    q, r, v, w, u, s, vh = (o[:-1] for o in (q, r, v, w, u, s, vh))
    _assert_small(np.abs(q @ r - a), F32, 4, _norm(a), "Q R - A")
    _assert_small(_unitarity_error(q), F32, 4, what="Q^H Q - I")
    _check_eigh(a, v, w)
    _check_svd(a, u, s, vh, True)
    np.testing.assert_array_equal(v[1], np.eye(4))
    np.testing.assert_array_equal(s[0], 0)


@pytest.mark.cpu
@jit_only
@pytest.mark.parametrize("shape", [(3, 0), (0, 3), (2, 0, 0)], ids=str)
def test_jit_empty_inputs(shape):
    a = np.zeros(shape, F32)
    fn = hd.jit(lambda x: (lax_linalg.qr(x), lax_linalg.svd(x),
                           lax_linalg.svd(x, full_matrices=False)))
    got = [np.asarray(o) for out in fn(a) for o in out]
    expected = [*np.linalg.qr(a, mode="complete"), *np.linalg.svd(a),
                *np.linalg.svd(a, full_matrices=False)]
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape
        np.testing.assert_array_equal(g, e)


# ---------------------------------------------------------------------------------------------
# jit(grad) against eager grad


def _qr_loss(a):
    q, r = lax_linalg.qr(a, full_matrices=False)
    return hnp.sum(q * hnp.arange(3.0)) + hnp.sum(r ** 2)


def _svd_loss(a):
    """Depends on singular vectors only through their squares (their signs are arbitrary)."""
    u, s, vh = lax_linalg.svd(a, full_matrices=False)
    return (hnp.sum(s * hnp.arange(1.0, 4.0)) + hnp.sum(u ** 2 * hnp.arange(5.0)[:, None])
            + hnp.sum(vh ** 2 * hnp.arange(3.0)))


def _eigh_loss(a):
    v, w = lax_linalg.eigh(a)
    return hnp.sum(w * hnp.arange(3.0)) + hnp.sum(v ** 2 * hnp.arange(3.0)[:, None])


def _grads(a, sym):
    return hd.grad(_qr_loss)(a), hd.grad(_svd_loss)(a), hd.grad(_eigh_loss)(sym)


@pytest.mark.cpu
@jit_only
def test_jit_of_grad():
    """The gradients of a loss on each decomposition (in one module) equal the eager ones."""
    a = _rand(np.random.default_rng(6), (5, 3), F32)
    sym = a.T @ a
    jitted, eager = hd.jit(_grads)(a, sym), _grads(a, sym)
    for name, gj, ge in zip(("qr", "svd", "eigh"), jitted, eager, strict=True):
        ge = np.asarray(ge)
        np.testing.assert_allclose(np.asarray(gj), ge, rtol=1e-4, atol=1e-4 * np.abs(ge).max(),
                                   err_msg=name)
