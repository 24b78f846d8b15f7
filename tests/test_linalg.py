"""hlodiff.numpy.linalg and hlodiff.lax.linalg (hlodiff/prims/decompositions.py).

Each function against numpy on random well-conditioned inputs (float32 / float64, complex,
batched); derivatives with `check_grads` (fwd and rev); vmap against a Python loop; jit (IREE
llvm-cpu, lowering/rules/decompositions.py) against eager; bad inputs; and the tutorial's
complex Cholesky gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff.lax import linalg as lax_linalg
from hlodiff.test_util import check_grads, check_jvp
from hlodiff.tree_util import tree_leaves, tree_map

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

la = hnp.linalg
F32, F64, C64, C128 = (np.dtype(d) for d in ("float32", "float64", "complex64", "complex128"))


@pytest.fixture
def x64():
    prev = hd.config.enable_x64
    hd.config.update("enable_x64", True)
    yield
    hd.config.update("enable_x64", prev)


# ---------------------------------------------------------------------------------------------
# Inputs


def _rand(rng, shape, dtype):
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def _general(rng, shape, dtype):
    """Well-conditioned square matrices: random plus sqrt(n) on the diagonal."""
    n = shape[-1]
    return (_rand(rng, shape, dtype) + np.sqrt(n) * np.eye(n)).astype(dtype)


def _spd(rng, shape, dtype):
    """Hermitian positive definite: X X^H / n + I."""
    x = _rand(rng, shape, dtype)
    n = shape[-1]
    return (x @ np.conj(np.swapaxes(x, -1, -2)) / n + np.eye(n)).astype(dtype)


def _tol(dtype):
    return 2e-4 if np.dtype(dtype) in (F32, C64) else 1e-9


def _close(actual, expected, dtype, scale=1.0):
    tol = _tol(dtype) * scale
    for a, e in zip(tree_leaves(actual), tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=tol, atol=tol)


def _gram(v):
    """|v|^2 elementwise: eigen/singular vectors up to their sign or phase."""
    return hnp.abs(v) ** 2


# ---------------------------------------------------------------------------------------------
# The op table: name -> (function, make_args(rng, dtype, batch), numpy reference)


def _tri_ref(a, b, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        t = t - np.einsum("...ii->...i", t)[..., None] * np.eye(a.shape[-1]) + np.eye(a.shape[-1])
    t = np.conj(t) if conjugate_a else t
    t = np.swapaxes(t, -1, -2) if transpose_a else t
    if left_side:
        return np.linalg.solve(t, b)
    return np.swapaxes(np.linalg.solve(np.swapaxes(t, -1, -2), np.swapaxes(b, -1, -2)), -1, -2)


_TRI_KEYS = ("left_side", "lower", "transpose_a", "conjugate_a", "unit_diagonal")
TRI_FLAGS = [dict(zip(_TRI_KEYS, flags)) for flags in [
    (True, True, False, False, False),
    (True, False, True, True, False),
    (False, True, False, False, True),
    (False, False, True, False, False),
]]


def _tri_all(a, b, c):
    """Every TRI_FLAGS solve: b for left-side solves, c (b transposed) for right-side ones."""
    return [lax_linalg.triangular_solve(a, b if f["left_side"] else c, **f) for f in TRI_FLAGS]


def _tri_all_ref(a, b, c):
    return [_tri_ref(a, b if f["left_side"] else c, **f) for f in TRI_FLAGS]


def _lu_recon(a):
    lu_, _, perm = lax_linalg.lu(a)
    n = a.shape[-1]
    ell = hnp.tril(lu_, -1) + hnp.eye(n, dtype=lu_.dtype)
    return ell @ hnp.triu(lu_), hnp.take_along_axis(a, perm[..., :, None], axis=-2)


def _eigh_parts(a):
    w, v = la.eigh(a)
    return w, _gram(v)


def _svd_parts(a):
    u, s, vh = la.svd(a, full_matrices=False)
    return s, _gram(u), _gram(vh)


def _svd_parts_ref(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return s, np.abs(u) ** 2, np.abs(vh) ** 2


def _eigh_parts_ref(a):
    w, v = np.linalg.eigh(a)
    return w, np.abs(v) ** 2


def _lstsq_ref(a, b):
    return np.linalg.lstsq(a, b, rcond=None)[0]


OPS = {
    "cholesky": (la.cholesky, lambda r, d, bt: (_spd(r, bt + (4, 4), d),), np.linalg.cholesky),
    "cholesky_upper": (lambda a: la.cholesky(a, upper=True),
                       lambda r, d, bt: (_spd(r, bt + (4, 4), d),),
                       lambda a: np.conj(np.swapaxes(np.linalg.cholesky(a), -1, -2))),
    "solve": (la.solve, lambda r, d, bt: (_general(r, bt + (4, 4), d), _rand(r, bt + (4, 2), d)),
              np.linalg.solve),
    "inv": (la.inv, lambda r, d, bt: (_general(r, bt + (4, 4), d),), np.linalg.inv),
    "det": (la.det, lambda r, d, bt: (_general(r, bt + (5, 5), d),), np.linalg.det),
    "det3": (la.det, lambda r, d, bt: (_general(r, bt + (3, 3), d),), np.linalg.det),
    "slogdet": (lambda a: tuple(la.slogdet(a)), lambda r, d, bt: (_general(r, bt + (4, 4), d),),
                lambda a: tuple(np.linalg.slogdet(a))),
    "triangular_solve": (_tri_all, lambda r, d, bt: (_general(r, bt + (4, 4), d),
                                                     _rand(r, bt + (4, 3), d),
                                                     _rand(r, bt + (3, 4), d)), _tri_all_ref),
    "lu": (lambda a: _lu_recon(a)[0], lambda r, d, bt: (_general(r, bt + (4, 4), d),),
           lambda a: np.asarray(_lu_recon(a)[1])),
    "qr": (lambda a: tuple(la.qr(a)), lambda r, d, bt: (_rand(r, bt + (5, 3), d),),
           lambda a: tuple(np.linalg.qr(a))),
    "eigh": (_eigh_parts, lambda r, d, bt: (_spd(r, bt + (4, 4), d),), _eigh_parts_ref),
    "eigvalsh": (la.eigvalsh, lambda r, d, bt: (_spd(r, bt + (4, 4), d),), np.linalg.eigvalsh),
    "svd": (_svd_parts, lambda r, d, bt: (_rand(r, bt + (4, 3), d),), _svd_parts_ref),
    "pinv": (la.pinv, lambda r, d, bt: (_rand(r, bt + (5, 3), d),), np.linalg.pinv),
    "norm2": (lambda a: la.norm(a, 2, axis=(-2, -1)), lambda r, d, bt: (_rand(r, bt + (4, 3), d),),
              lambda a: np.linalg.norm(a, 2, axis=(-2, -1))),
    "norm_nuc": (lambda a: la.norm(a, "nuc", axis=(-2, -1)),
                 lambda r, d, bt: (_rand(r, bt + (4, 3), d),),
                 lambda a: np.linalg.norm(a, "nuc", axis=(-2, -1))),
    "matrix_power": (lambda a: la.matrix_power(a, -3), lambda r, d, bt: (_general(r, bt + (3, 3), d),),
                     lambda a: np.linalg.matrix_power(a, -3)),
}
UNBATCHED = {"lstsq": (lambda a, b: la.lstsq(a, b)[0], lambda r, d, bt: (_rand(r, (6, 3), d),
                                                                        _rand(r, (6, 2), d)),
                       _lstsq_ref)}
# Derivatives are checked on functions whose outputs do not depend on a gauge choice.
NO_GRAD = {"lu"}


def _args(name, dtype, batch=(), seed=0):
    fn, make, ref = {**OPS, **UNBATCHED}[name]
    return fn, make(np.random.default_rng(seed), dtype, batch), ref


# ---------------------------------------------------------------------------------------------
# Values against numpy


@pytest.mark.parametrize("dtype", [F32, C64], ids=str)
@pytest.mark.parametrize("name", sorted({**OPS, **UNBATCHED}))
def test_matches_numpy(name, dtype):
    batch = () if name in UNBATCHED else (2,)
    fn, args, ref = _args(name, dtype, batch)
    out = fn(*args)
    assert all(np.asarray(o).dtype in (dtype, np.dtype(dtype.char.lower())) for o in
               tree_leaves(out)), [np.asarray(o).dtype for o in tree_leaves(out)]
    _close(out, ref(*args), dtype, 10)


@pytest.mark.parametrize("dtype", [F64, C128], ids=str)
@pytest.mark.parametrize("name", sorted({**OPS, **UNBATCHED}))
def test_matches_numpy_x64(name, dtype, x64):
    fn, args, ref = _args(name, dtype, () if name in UNBATCHED else (3,))
    _close(fn(*args), ref(*args), dtype)


@pytest.mark.parametrize("shape", [(150, 150), (2, 70, 70), (7, 4), (4, 7)])
def test_lu_blocked_and_rectangular(shape, x64):
    """The eager LU is blocked (64 columns): P a = L U, |L| <= 1, and pivots as numpy's solve."""
    a = _rand(np.random.default_rng(14), shape, F64)
    lu_, piv, perm = (np.asarray(o) for o in lax_linalg.lu(a))
    m, n = shape[-2:]
    k = min(m, n)
    ell = np.tril(lu_[..., :, :k], -1) + np.eye(m, k)
    u = np.triu(lu_[..., :k, :])
    np.testing.assert_allclose(ell @ u, np.take_along_axis(a, perm[..., :, None], -2),
                               atol=1e-10)
    assert np.abs(ell).max() <= 1 + 1e-12 and piv.shape == shape[:-2] + (k,)
    if m == n:
        b = _rand(np.random.default_rng(15), shape[:-1] + (2,), F64)
        np.testing.assert_allclose(np.asarray(la.solve(a, b)), np.linalg.solve(a, b),
                                   rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# Derivatives


def _check_vjp_complex(f, args, atol=1e-5, rtol=1e-5, seed=1):
    """<u, J v> == <J^T u, v> in JAX's convention for complex values, where vjp(u) is
    conj(J^H conj(u)) (jax.test_util.check_vjp conjugates the same way)."""
    rng = np.random.default_rng(seed)
    rnd = lambda x: _rand(rng, np.shape(x), np.asarray(x).dtype)
    v = tree_map(rnd, tuple(args))
    out, jv = hd.jvp(f, tuple(args), v)
    u = tree_map(rnd, out)
    jtu = tree_map(np.conj, hd.vjp(f, *args)[1](tree_map(np.conj, u)))

    def inner(xs, ys):
        return sum(np.vdot(np.asarray(x), np.asarray(y)).real
                   for x, y in zip(tree_leaves(xs), tree_leaves(ys)))

    np.testing.assert_allclose(inner(u, jv), inner(jtu, v), atol=atol, rtol=rtol)


@pytest.mark.parametrize("dtype", [F64, C128], ids=str)
@pytest.mark.parametrize("name", sorted(set(OPS) - NO_GRAD | set(UNBATCHED)))
def test_grads(name, dtype, x64):
    fn, args, _ = _args(name, dtype, () if name in UNBATCHED else (2,), seed=1)
    if dtype.kind == "f":
        check_grads(fn, args, order=1, modes=("fwd", "rev"))
    else:  # hd.test_util.check_vjp does not conjugate complex cotangents (see _check_vjp_complex)
        check_jvp(fn, args)
        _check_vjp_complex(fn, args)


def test_grads_second_order(x64):
    a = _spd(np.random.default_rng(2), (3, 3), F64)
    check_grads(lambda x: hnp.sum(la.cholesky(x) ** 2), (a,), order=2, modes=("fwd", "rev"))
    g = _general(np.random.default_rng(3), (3, 3), F64)
    check_grads(lambda x: la.slogdet(x)[1], (g,), order=2, modes=("fwd", "rev"))


def test_qr_jvp_complete_and_wide(x64):
    rng = np.random.default_rng(4)
    for shape in [(5, 3), (3, 5)]:
        a = _rand(rng, shape, F64)
        check_grads(lambda x: tuple(lax_linalg.qr(x, full_matrices=True)), (a,), order=1,
                    modes=("fwd", "rev"))


def test_triangular_solve_transpose_is_linear_in_b(x64):
    a, b = _general(np.random.default_rng(5), (3, 3), F64), np.ones((3, 2))
    ts = lambda y: lax_linalg.triangular_solve(a, y, left_side=True, lower=True)
    (ct,) = hd.linear_transpose(ts, b)(np.ones((3, 2)))
    ref = np.linalg.solve(np.tril(a).T, np.ones((3, 2)))
    np.testing.assert_allclose(np.asarray(ct), ref, rtol=1e-12)


def test_spec_complex_cholesky_gradient():
    """The tutorial's holomorphic gradient through a complex Cholesky factorization."""
    A = hnp.array([[5., 2. + 3j, 5j], [2. - 3j, 7., 1. + 7j], [-5j, 1. - 7j, 12.]])

    def f(X):
        L = hnp.linalg.cholesky(X)
        return hnp.sum((L - hnp.sin(L)) ** 2)

    g = hd.grad(f, holomorphic=True)(A)
    expected = np.array(
        [[-0.7534186 + 0.j, -3.0509028 - 10.940544j, 5.9896846 + 3.5423026j],
         [-3.0509028 + 10.940544j, -8.904491 + 0.j, -5.1351523 - 6.559373j],
         [5.9896846 - 3.5423026j, -5.1351523 + 6.559373j, 0.01320427 + 0.j]])
    assert g.dtype == np.complex64
    # The spec printed float32 results; the exact value differs from them by up to ~2e-6.
    np.testing.assert_allclose(np.asarray(g), expected, rtol=2e-6, atol=2e-6)


# ---------------------------------------------------------------------------------------------
# vmap against a loop


@pytest.mark.parametrize("name", sorted(OPS))
def test_vmap_matches_loop(name):
    fn, args, _ = _args(name, F32, (3,), seed=6)
    batched = hd.vmap(fn)(*args)
    looped = [fn(*[a[i] for a in args]) for i in range(3)]
    stacked = tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *looped)
    _close(batched, stacked, F32)


def test_vmap_triangular_solve_unbatched_matrix():
    rng = np.random.default_rng(7)
    a, bs = _general(rng, (4, 4), F32), _rand(rng, (5, 4, 2), F32)
    for f in TRI_FLAGS:
        b = bs if f["left_side"] else np.swapaxes(bs, -1, -2)
        out = hd.vmap(lambda y, f=f: lax_linalg.triangular_solve(a, y, **f))(b)
        _close(out, _tri_ref(a, b, **f), F32)


def test_vmap_of_grad():
    a = _spd(np.random.default_rng(8), (3, 4, 4), F32)
    per = hd.vmap(hd.grad(lambda x: hnp.sum(la.cholesky(x))))(a)
    loop = np.stack([np.asarray(hd.grad(lambda x: hnp.sum(la.cholesky(x)))(m)) for m in a])
    _close(per, loop, F32)


# ---------------------------------------------------------------------------------------------
# Failure modes and bad inputs


def test_cholesky_not_positive_definite_is_nan():
    out = np.asarray(la.cholesky(-np.eye(2, dtype=np.float32)))
    assert np.isnan(out[np.tril_indices(2)]).all() and out[0, 1] == 0
    batch = np.stack([np.eye(2), -np.eye(2)]).astype(np.float32)
    out = np.asarray(la.cholesky(batch))
    np.testing.assert_array_equal(out[0], np.eye(2))
    assert np.isnan(out[1][np.tril_indices(2)]).all()


def test_singular_matrix():
    a = np.array([[1.0, 2.0], [2.0, 4.0]], np.float32)
    sign, logdet = la.slogdet(a)
    assert float(sign) == 0 and float(logdet) == -np.inf
    assert float(la.det(a)) == 0
    assert not np.isfinite(np.asarray(la.solve(a, np.ones(2, np.float32)))).all()


@pytest.mark.parametrize("fn, args, match", [
    (la.cholesky, (np.ones((2, 3)),), r"f32\[2,3\]"),
    (lax_linalg.cholesky, (np.ones(3, np.float32),), r"f32\[3\]"),
    (la.solve, (np.ones((3, 3)), np.ones(4)), r"\(3, 3\).*\(4,\)"),
    (la.solve, (np.ones((2, 3, 3)), np.ones((4, 3, 1))), "broadcast|shape"),
    (la.inv, (np.ones((3, 4)),), r"\(3, 4\)"),
    (la.det, (np.ones((3, 4)),), r"\(3, 4\)"),
    (la.slogdet, (np.ones((2,)),), r"\(2,\)"),
    (la.eigh, (np.ones((2, 3)),), r"f32\[2,3\]"),
    (lambda a, b: lax_linalg.triangular_solve(a, b, left_side=True), (np.ones((3, 3), np.float32),
                                                                        np.ones((4, 2), np.float32)),
     r"f32\[3,3\].*f32\[4,2\]"),
    (lambda a, b: lax_linalg.triangular_solve(a, b, left_side=True),
     (np.ones((2, 3, 3), np.float32), np.ones((4, 3, 2), np.float32)), "batch dimensions"),
])
def test_bad_shapes_raise_value_error(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


def test_bad_dtypes():
    with pytest.raises(TypeError, match="int32"):
        lax_linalg.cholesky(np.eye(2, dtype=np.int32))
    with pytest.raises(TypeError, match="same dtype"):
        lax_linalg.triangular_solve(np.eye(2, dtype=np.float32), np.ones((2, 2), np.complex64),
                                    left_side=True)
    # the numpy API promotes integers to float
    np.testing.assert_allclose(np.asarray(la.inv(np.eye(2, dtype=np.int32))), np.eye(2))


# ---------------------------------------------------------------------------------------------
# jit on IREE (llvm-cpu) against eager


def _jit_available() -> bool:
    try:
        return float(hd.jit(lambda x: x * 2.0)(1.0)) == 2.0
    except Exception:  # noqa: BLE001 -- no IREE: compiled execution is tested elsewhere
        return False


jit_only = pytest.mark.skipif(not _jit_available(), reason="IREE CPU compilation unavailable")

# (name, dtype, batch, n): n = 1, 3 and 64 are one block, 100 pads to two 64-column blocks,
# 180 to three (an uneven split: a recursion two levels deep); triangular solves use 32-row
# blocks beyond 64.
JIT_CASES = [
    ("cholesky", F32, (), 1), ("cholesky", F32, (2,), 3), ("cholesky", F32, (), 64),
    ("cholesky", F32, (2,), 100), ("cholesky", C64, (2,), 3), ("cholesky", C64, (), 100),
    ("cholesky", F32, (), 180),
    ("triangular_solve", F32, (2,), 3), ("triangular_solve", F32, (), 100),
    ("triangular_solve", C64, (2,), 3),
    ("solve", F32, (), 1), ("solve", F32, (2,), 3), ("solve", F32, (), 100),
    ("solve", C64, (2,), 3), ("solve", F32, (), 180),
]
_JIT_FNS = {
    "cholesky": (hd.jit(la.cholesky), lambda r, d, bt, n: (_spd(r, bt + (n, n), d),)),
    "triangular_solve": (hd.jit(_tri_all), lambda r, d, bt, n: (
        _general(r, bt + (n, n), d), _rand(r, bt + (n, 3), d), _rand(r, bt + (3, n), d))),
    "solve": (hd.jit(la.solve), lambda r, d, bt, n: (_general(r, bt + (n, n), d),
                                                     _rand(r, bt + (n, 2), d))),
}


@pytest.mark.cpu
@jit_only
@pytest.mark.parametrize("name, dtype, batch, n", JIT_CASES,
                         ids=[f"{c[0]}-{c[1]}{list(c[2] + (c[3], c[3]))}" for c in JIT_CASES])
def test_jit_matches_eager(name, dtype, batch, n):
    jitted, make = _JIT_FNS[name]
    args = make(np.random.default_rng(n), dtype, batch, n)
    _close(jitted(*args), jitted.fun(*args), dtype, 10 * max(1, n / 10))


@pytest.mark.cpu
@jit_only
def test_jit_x64(x64):
    rng = np.random.default_rng(9)
    a, g, b = _spd(rng, (2, 100, 100), F64), _general(rng, (100, 100), F64), _rand(rng, (100,),
                                                                                   F64)
    fn = hd.jit(lambda a, g, b: (la.cholesky(a), la.solve(g, b)))
    _close(fn(a, g, b), (np.linalg.cholesky(a), np.linalg.solve(g, b)), F64, 100)


@pytest.mark.cpu
@jit_only
@pytest.mark.parametrize("shape", [(2, 150, 150), (3, 3)])
def test_jit_lu_pivots_match_eager(shape, x64):
    """The recursive LU under jit picks LAPACK's pivots (float64: no near ties)."""
    a = _general(np.random.default_rng(16), shape, F64)
    (lu_j, piv_j, perm_j), (lu_e, piv_e, perm_e) = hd.jit(lax_linalg.lu)(a), lax_linalg.lu(a)
    np.testing.assert_array_equal(np.asarray(piv_j), np.asarray(piv_e))
    np.testing.assert_array_equal(np.asarray(perm_j), np.asarray(perm_e))
    np.testing.assert_allclose(np.asarray(lu_j), np.asarray(lu_e), rtol=1e-9, atol=1e-9)


@pytest.mark.cpu
@jit_only
def test_jit_lu_det_inv_slogdet():
    rng = np.random.default_rng(10)
    a = _general(rng, (2, 5, 5), F32)
    fn = hd.jit(lambda a: (lax_linalg.lu(a), la.inv(a), la.det(a), tuple(la.slogdet(a))))
    (lu_j, piv_j, perm_j), *rest = fn(a)
    (lu_e, piv_e, perm_e), *rest_e = fn.fun(a)
    np.testing.assert_array_equal(np.asarray(piv_j), np.asarray(piv_e))
    np.testing.assert_array_equal(np.asarray(perm_j), np.asarray(perm_e))
    _close([lu_j, rest], [lu_e, rest_e], F32, 10)


@pytest.mark.cpu
@jit_only
def test_jit_cholesky_not_positive_definite_is_nan():
    out = np.asarray(hd.jit(la.cholesky)(np.stack([np.eye(3), -np.eye(3)]).astype(np.float32)))
    np.testing.assert_array_equal(out[0], np.eye(3))
    assert np.isnan(out[1][np.tril_indices(3)]).all() and (out[1][np.triu_indices(3, 1)] == 0).all()


_JIT_GRAD = """
import numpy as np, hlodiff as hd, hlodiff.numpy as hnp
if np.dtype("{dtype}").kind == "c":
    A = np.array([[5., 2. + 3j, 5j], [2. - 3j, 7., 1. + 7j], [-5j, 1. - 7j, 12.]], "{dtype}")
else:
    A = np.array([[5., 2., 1.], [2., 7., 1.], [1., 1., 12.]], "{dtype}")
def f(X):
    L = hnp.linalg.cholesky(X)
    return hnp.sum((L - hnp.sin(L)) ** 2)
g = hd.grad(f, holomorphic=A.dtype.kind == "c")
np.testing.assert_allclose(np.asarray(hd.jit(g)(A)), np.asarray(g(A)), rtol=1e-4, atol=1e-4)
"""


@pytest.mark.cpu
@jit_only
# IREE 3.13's --iree-opt-data-tiling segfaulted on this program; runtime/compile.py now gives
# modules with loops or complex numbers the safe flags. A subprocess keeps a crash out of pytest.
@pytest.mark.parametrize("dtype", ["float32", "complex64"])
def test_jit_of_grad_spec_cholesky(dtype):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _JIT_GRAD.format(dtype=dtype)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.cpu
@jit_only
def test_jit_of_grad_solve_and_slogdet():
    a = _general(np.random.default_rng(12), (5, 5), F32)
    b = _rand(np.random.default_rng(13), (5, 2), F32)
    g = hd.grad(lambda a: hnp.sum(la.solve(a, b)) + la.slogdet(a)[1])
    _close(hd.jit(g)(a), g(a), F32, 10)
