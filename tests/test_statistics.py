"""Tests for `hlodiff.numpy`'s statistics: median, quantile, percentile, their nan-ignoring
variants, cov, corrcoef, bincount, histogram, histogram_bin_edges and digitize.

Every test asserts against numpy (run in float64 on the same inputs), a formula or finite
differences: eagerly for each function over dtypes, axes, keepdims and every quantile method;
under `jit` (a few jitted functions that each check many results at once, to keep compiles few);
under `vmap` against a Python loop; and gradients with `check_grads`. Where JAX is installed,
`test_dtypes_like_jax` also compares dtype, weak type and shape with `jax.eval_shape`.

Two JAX behaviours differ from numpy on purpose (JAX is the reference): "nearest" sends a tie
(q * (n - 1) exactly halfway) to the lower value where numpy rounds to even, and `bincount`
counts negative values in bin 0 where numpy raises.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff.errors import ConcretizationTypeError
from hlodiff.test_util import check_grads

F32, I32, BOOL = np.dtype("float32"), np.dtype("int32"), np.dtype("bool")
RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 5)).astype(np.float32)
XI = RNG.integers(-5, 6, (3, 4, 5)).astype(np.int32)
XB = RNG.random((3, 4, 5)) > 0.5
XN = X.copy()
XN[0, 0, :] = np.nan  # an all-NaN slice along the last axis
XN[1, 2, 3] = np.nan
XN[2, :, 1] = np.nan
DATA = {F32: X, I32: XI, BOOL: XB}
METHODS = ("linear", "lower", "higher", "midpoint", "nearest", "inverted_cdf")
# No q * (n - 1) is exactly halfway for these n (the nearest-tie rule differs from numpy's).
Q = np.array([0.0, 0.13, 0.42, 0.77, 1.0], np.float32)
Q_SCALAR = 0.31
AXES = (None, 0, 1, -1, (0, 2), (2, 0))
TOL = {"rtol": 2e-5, "atol": 2e-6}


def assert_close(got, want, dtype=F32, **tol):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == dtype, (got.dtype, dtype)
    np.testing.assert_allclose(got, want, equal_nan=True, **(tol or TOL))


def np_ref(fn, *args, **kw):
    """numpy's `fn` in float64, quiet about all-NaN slices and zero-size means."""
    args = [np.asarray(a, np.float64) if isinstance(a, np.ndarray) else a for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kw)


# --- quantile, percentile, median ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [F32, I32, BOOL], ids=["f32", "i32", "bool"])
@pytest.mark.parametrize("method", METHODS)
def test_quantile_and_percentile_match_numpy(method, dtype):
    x = DATA[dtype]
    for axis in AXES:
        for keepdims in (False, True):
            for q in (Q, Q_SCALAR):
                kw = {"axis": axis, "method": method, "keepdims": keepdims}
                want = np_ref(np.quantile, x, q, **kw)
                assert_close(hnp.quantile(x, q, **kw), want)
                assert_close(hnp.percentile(x, np.asarray(q) * 100, **kw), want)


@pytest.mark.parametrize("method", METHODS)
def test_nan_variants_match_numpy(method):
    for axis in AXES:
        for keepdims in (False, True):
            kw = {"axis": axis, "method": method, "keepdims": keepdims}
            assert_close(hnp.nanquantile(XN, Q, **kw), np_ref(np.nanquantile, XN, Q, **kw))
            assert_close(
                hnp.nanpercentile(XN, Q_SCALAR * 100, **kw),
                np_ref(np.nanpercentile, XN, Q_SCALAR * 100, **kw),
            )
            # Without the nan- prefix a NaN makes its whole slice NaN.
            assert_close(hnp.quantile(XN, Q, **kw), np_ref(np.quantile, XN, Q, **kw))


def test_median_matches_numpy():
    for x in (X, XI, XB, XN, X[:, :, :4]):  # odd and even lengths, ints, bools, NaNs
        for axis in AXES:
            for keepdims in (False, True):
                kw = {"axis": axis, "keepdims": keepdims}
                assert_close(hnp.median(x, **kw), np_ref(np.median, x, **kw))
                assert_close(hnp.nanmedian(x, **kw), np_ref(np.nanmedian, x, **kw))
    assert_close(hnp.median(np.float32(2.5)), 2.5)
    assert_close(hnp.median(3, keepdims=True), np.median(3, keepdims=True))


def test_quantile_q_as_array_types_and_empty_input():
    want = np_ref(np.quantile, X, Q, axis=1)
    assert_close(hnp.quantile(X, hnp.asarray(Q), axis=1), want)
    q16 = Q.astype(np.float16)  # the interpolation weights are computed in q's dtype, as JAX
    want16 = np_ref(np.quantile, X, q16, axis=1)
    assert_close(hnp.quantile(hnp.asarray(X), q16, axis=1), want16, rtol=2e-3, atol=1e-3)
    assert_close(hnp.quantile(X, 1, axis=1), np.max(X, axis=1))  # int q promotes (numpy does)
    assert_close(hnp.quantile(np.zeros((0, 3), np.float32), Q, axis=0), np.full((5, 3), np.nan))


def test_weighted_quantile_inverted_cdf_matches_numpy():
    w = RNG.random(X.shape).astype(np.float32)
    kw = {"method": "inverted_cdf"}
    for axis in (None, 1, (0, 2)):
        got = hnp.quantile(X, Q, axis=axis, weights=w, **kw)
        assert_close(got, np_ref(np.quantile, X, Q, axis=axis, weights=w, **kw))
    # Weights shaped like the reduced axes, in the order `axis` names them.
    w1, w20 = RNG.random(4).astype(np.float32), RNG.random((5, 3)).astype(np.float32)
    assert_close(
        hnp.percentile(X, Q * 100, axis=1, weights=w1, **kw),
        np_ref(np.quantile, X, Q, axis=1, weights=np.broadcast_to(w1[:, None], X.shape), **kw),
    )
    assert_close(
        hnp.quantile(X, Q, axis=(2, 0), weights=w20, **kw),
        np_ref(
            np.quantile, X, Q, axis=(0, 2), weights=np.broadcast_to(w20.T[:, None], X.shape), **kw
        ),
    )
    got = hnp.nanquantile(XN, Q, axis=-1, weights=w, **kw)
    assert_close(got, np_ref(np.nanquantile, XN, Q, axis=-1, weights=w, **kw))
    # A negative weight makes its slice NaN (numpy raises instead; JAX cannot check values).
    bad = w.copy()
    bad[0, 0, 0] = -1.0
    got = np.asarray(hnp.quantile(X, 0.5, axis=-1, weights=bad, **kw))
    assert np.isnan(got[0, 0]) and not np.isnan(np.delete(got.ravel(), 0)).any()
    np.testing.assert_array_equal(
        np.delete(got.ravel(), 0),
        np.delete(np.quantile(X, 0.5, axis=-1, weights=w, **kw).ravel(), 0),
    )


def test_nearest_sends_ties_to_the_lower_value():
    """q * (n - 1) = 1.5: JAX (and hlodiff) take the lower order statistic, numpy rounds to even."""
    x = np.array([4.0, 0.0, 3.0, 1.0, 2.0], np.float32)
    got = hnp.quantile(x, 0.375, method="nearest")
    assert_close(got, np.quantile(x, 0.375, method="lower"))
    assert float(got) != float(np.quantile(x, 0.375, method="nearest"))


# --- cov, corrcoef -------------------------------------------------------------------------------

M = RNG.standard_normal((3, 6)).astype(np.float32)
MI = RNG.integers(-4, 5, (3, 6)).astype(np.int32)
FW = np.array([1, 2, 1, 3, 1, 2], np.int32)
AW = RNG.random(6).astype(np.float32)
COV_CASES = [
    ((M,), {}),
    ((MI,), {}),
    ((M[0],), {}),
    ((M.T,), {"rowvar": False}),
    ((M, M[:2] ** 2), {}),
    ((M.T, M[0]), {"rowvar": False}),
    ((M,), {"bias": True}),
    ((M,), {"ddof": 2}),
    ((M,), {"fweights": FW}),
    ((M,), {"aweights": AW}),
    ((M,), {"fweights": FW, "aweights": AW}),
    ((M,), {"fweights": FW, "aweights": AW, "ddof": 0}),
    ((M,), {"fweights": FW, "aweights": AW, "bias": True}),
    ((M,), {"dtype": np.float32}),
]


def test_cov_and_corrcoef_match_numpy():
    for args, kw in COV_CASES:
        assert_close(hnp.cov(*args, **kw), np_ref(np.cov, *args, **kw), rtol=2e-5, atol=1e-5)
        if not ({"bias", "ddof", "fweights", "aweights"} & kw.keys()):
            assert_close(hnp.corrcoef(*args, **kw), np_ref(np.corrcoef, *args, **kw), atol=1e-5)
    assert hnp.cov(np.zeros((0, 4), np.float32)).shape == (0, 0)
    assert_close(hnp.cov(np.zeros((2, 0), np.float32)), np.full((2, 2), np.nan))


# --- bincount, digitize, histogram ---------------------------------------------------------------


def test_bincount_matches_numpy():
    x = RNG.integers(0, 7, 30).astype(np.int32)
    w = RNG.standard_normal(30).astype(np.float32)
    assert_close(hnp.bincount(x), np.bincount(x), dtype=I32)
    assert_close(hnp.bincount(x, minlength=12), np.bincount(x, minlength=12), dtype=I32)
    assert_close(hnp.bincount(x, w), np.bincount(x, w.astype(np.float64)))
    assert_close(hnp.bincount(x, x), np.bincount(x, x), dtype=I32, rtol=0)
    assert_close(hnp.bincount(x, length=9), np.bincount(x, minlength=9), dtype=I32)
    assert_close(hnp.bincount(x > 3), np.bincount(x > 3), dtype=I32)
    assert_close(hnp.bincount(np.zeros(0, np.int32)), np.bincount(np.zeros(0, np.int64)), I32)
    # As JAX: negative values count in bin 0, values past `length` are dropped.
    got = hnp.bincount(np.array([-1, -1, 1, 3, 10]), length=5)
    assert_close(got, np.bincount(np.array([0, 0, 1, 3]), minlength=5), dtype=I32)


def test_digitize_matches_numpy():
    x = np.concatenate([X.ravel(), [-1.0, 0.0, 1.0]]).astype(np.float32)  # values on edges too
    bins = np.array([-1.0, -0.3, 0.0, 0.5, 1.0], np.float32)
    for b in (bins, bins[::-1], bins[:1]):
        for right in (False, True):
            assert_close(hnp.digitize(x, b, right=right), np.digitize(x, b, right), dtype=I32)
    assert_close(hnp.digitize(XI, np.array([-2, 0, 3])), np.digitize(XI, [-2, 0, 3]), dtype=I32)
    assert_close(hnp.digitize(X, np.zeros(0, np.float32)), np.zeros(X.shape), dtype=I32)


def test_histogram_matches_numpy():
    w = RNG.random(X.shape).astype(np.float32)
    edges = np.array([-2.0, -0.5, 0.0, 0.3, 2.5], np.float32)
    for bins, rng, weights, density in [
        (10, None, None, None),
        (7, (-1.0, 2.0), None, None),
        (5, None, w, True),
        (edges, None, None, None),
        (edges, None, w, True),
    ]:
        got = hnp.histogram(X, bins, rng, weights, density)
        want = np_ref(np.histogram, X, bins, rng, weights=weights, density=density)
        assert_close(got[0], want[0], rtol=1e-5, atol=1e-6)
        assert_close(got[1], want[1], rtol=1e-6, atol=1e-6)
        assert_close(hnp.histogram_bin_edges(X, bins, rng), want[1], rtol=1e-6, atol=1e-6)
    # Integer data on the edges, and constant data (the range widens by 0.5 either side).
    for a, bins, rng in [(XI, 5, (-5, 5)), (XI, 4, None), (np.full(4, 3, np.int32), 3, None)]:
        got, want = hnp.histogram(a, bins, rng), np.histogram(a, bins, rng)
        assert_close(got[0], want[0])
        assert_close(got[1], want[1], rtol=1e-6)


# --- transformations -----------------------------------------------------------------------------


@pytest.mark.cpu
def test_quantiles_under_jit_match_numpy():
    """One compiled module (~6 s to compile cold, cached after): every method, nan variants,
    keepdims, q arrays and a gradient."""

    def f(x, xn, xi, q):
        out = {m: hnp.quantile(x, q, axis=(2, 0), method=m) for m in METHODS}
        out["nan"] = hnp.nanquantile(xn, q, axis=-1, keepdims=True)
        out["nanmedian"] = hnp.nanmedian(xn, axis=0)
        out["median_int"] = hnp.median(xi, axis=1)
        out["percentile"] = hnp.percentile(x, 30.0)
        out["grad_median"] = hd.grad(lambda y: hnp.sum(hnp.median(y, axis=-1)))(x)
        return out

    got = hd.jit(f)(X, XN, XI, Q)
    for m in METHODS:
        assert_close(got[m], np_ref(np.quantile, X, Q, axis=(2, 0), method=m))
    assert_close(got["nan"], np_ref(np.nanquantile, XN, Q, axis=-1, keepdims=True))
    assert_close(got["nanmedian"], np_ref(np.nanmedian, XN, axis=0))
    assert_close(got["median_int"], np.median(XI, axis=1))
    assert_close(got["percentile"], np_ref(np.percentile, X, 30.0))
    # d sum(median) / dx is one at each row's median element (odd rows, no ties).
    assert_close(got["grad_median"], X == np.median(X, axis=-1, keepdims=True))


@pytest.mark.cpu
def test_cov_and_binning_under_jit_match_numpy():
    def f(m, fw, aw, x, xi, edges):
        return {
            "cov": hnp.cov(m, fweights=fw, aweights=aw),
            "corrcoef": hnp.corrcoef(m, rowvar=False),
            "bincount": hnp.bincount(xi, xi, length=8),
            "hist": hnp.histogram(x, 6, range=(-2.0, 2.0)),
            "hist_edges": hnp.histogram(x, edges, density=True)[0],
            "digitize": hnp.digitize(x, edges[::-1], right=True),
        }

    xi = np.abs(XI[0, 0])
    edges = np.array([-2.0, -0.5, 0.0, 0.3, 2.5], np.float32)
    got = hd.jit(f)(M, FW, AW, X, xi, edges)
    assert_close(got["cov"], np_ref(np.cov, M, fweights=FW, aweights=AW), atol=1e-5)
    assert_close(got["corrcoef"], np_ref(np.corrcoef, M, rowvar=False), atol=1e-5)
    assert_close(got["bincount"], np.bincount(xi, xi, minlength=8), dtype=I32)
    want = np_ref(np.histogram, X, 6, (-2.0, 2.0))
    assert_close(got["hist"][0], want[0])
    assert_close(got["hist"][1], want[1], rtol=1e-6)
    assert_close(got["hist_edges"], np_ref(np.histogram, X, edges, density=True)[0], rtol=1e-5)
    assert_close(got["digitize"], np.digitize(X, edges[::-1], True), dtype=I32)


def test_under_vmap_matches_a_loop():
    both, finite = (X, XN), (X,)
    cases = [
        (lambda r: hnp.quantile(r, Q, axis=0), lambda r: np_ref(np.quantile, r, Q, axis=0), both),
        (lambda r: hnp.nanmedian(r, axis=-1), lambda r: np_ref(np.nanmedian, r, axis=-1), both),
        (hnp.cov, lambda r: np_ref(np.cov, r), both),
        (hnp.corrcoef, lambda r: np_ref(np.corrcoef, r), both),
        (lambda r: hnp.histogram(r, 4)[0], lambda r: np.histogram(r, 4)[0], finite),
        (
            lambda r: hnp.digitize(r, hnp.sort(r[0])),
            lambda r: np.digitize(r, np.sort(r[0])),
            finite,
        ),
    ]
    for f, ref, data in cases:
        for x in data:
            got = hd.vmap(f)(x)
            want = np.stack([ref(r) for r in x])
            assert_close(got, want, dtype=got.dtype, rtol=2e-5, atol=1e-5)
    xi = np.abs(XI[:, 0])
    got = hd.vmap(lambda r: hnp.bincount(r, length=6))(xi)
    assert_close(got, np.stack([np.bincount(r, minlength=6) for r in xi]), dtype=I32)


def test_grads_match_finite_differences():
    x = X[:, :, :4]  # even rows: the median averages two elements
    check_grads(lambda a: hnp.quantile(a, Q[1:4], axis=1), (X,), order=1)
    check_grads(lambda q: hnp.quantile(X, q, axis=(0, 2)), (Q[1:4],), order=1)
    check_grads(lambda a: hnp.median(a, axis=-1), (x,), order=2)
    check_grads(lambda a: hnp.percentile(a, 40.0, method="midpoint"), (X,), order=1)
    check_grads(lambda a: hnp.nanquantile(a, Q[1:4], axis=-1), (XN[1:],), order=1)
    check_grads(lambda a: hnp.cov(a, aweights=AW), (M,), order=2)
    check_grads(hnp.corrcoef, (M,), order=1)
    # The median's gradient is 1/2 at each of the two middle elements of a row.
    g = np.asarray(hd.grad(lambda a: hnp.sum(hnp.median(a, axis=-1)))(x))
    s = np.sort(x, axis=-1)
    middle = (x == s[..., 1:2]) | (x == s[..., 2:3])
    np.testing.assert_array_equal(g, np.where(middle, 0.5, 0.0))


# --- errors --------------------------------------------------------------------------------------


def test_bincount_errors():
    with pytest.raises(TypeError, match="integer type"):
        hnp.bincount(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="1-dimensional"):
        hnp.bincount(np.zeros((2, 2), np.int32))
    with pytest.raises(ValueError, match="shape"):
        hnp.bincount(np.array([1, 2]), np.ones(3))
    for transform in (hd.jit, hd.vmap):
        with pytest.raises(ConcretizationTypeError, match="length"):
            transform(hnp.bincount)(np.array([[1, 2]]) if transform is hd.vmap else np.array([1]))
    # The documented way out: a static length (and numpy's answer).
    got = hd.jit(hnp.bincount, static_argnames="length")(np.array([1, 1, 3]), length=5)
    assert_close(got, np.bincount([1, 1, 3], minlength=5), dtype=I32)


def test_argument_errors():
    with pytest.raises(ValueError, match="method"):
        hnp.quantile(X, 0.5, method="median_unbiased")
    with pytest.raises(ValueError, match="complex"):
        hnp.median(np.ones(3, np.complex64))
    with pytest.raises(ValueError, match="rank"):
        hnp.quantile(X, np.ones((2, 2)) / 2)
    with pytest.raises(ValueError, match="out"):
        hnp.median(X, out=np.zeros(()))
    with pytest.raises(NotImplementedError, match="inverted_cdf"):
        hnp.quantile(X, 0.5, weights=np.ones_like(X))
    with pytest.raises(ValueError, match="Weights shape"):
        hnp.quantile(X, 0.5, axis=None, weights=np.ones(5), method="inverted_cdf")
    with pytest.raises(TypeError, match="ndarray"):
        hnp.quantile([1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match="2 dimensions"):
        hnp.cov(X)
    with pytest.raises(TypeError, match="fweights must be integer"):
        hnp.cov(M, fweights=np.ones(6))
    with pytest.raises(RuntimeError, match="aweights"):
        hnp.cov(M, aweights=np.ones(5))
    with pytest.raises(ValueError, match="1-dimensional"):
        hnp.digitize(X, np.ones((2, 2)))
    with pytest.raises(ValueError, match="same shape"):
        hnp.histogram(X, weights=np.ones(3))
    with pytest.raises(ConcretizationTypeError, match="bins"):
        hd.jit(lambda b: hnp.histogram(X, b)[0])(4)
    assert_close(hnp.quantile(X, 0.5, axis=1), np_ref(np.quantile, X, 0.5, axis=1))


# --- dtypes and weak types against JAX -----------------------------------------------------------


def _length(np_, n):
    """A static output length for bincount: `length` (JAX traces x), numpy's `minlength`."""
    return {"minlength": n} if np_ is np else {"length": n}


JAX_CASES = [
    ("median-f32", lambda np_, x: np_.median(x, axis=1), X),
    ("median-i32", lambda np_, x: np_.median(x), XI),
    ("median-bool-keepdims", lambda np_, x: np_.median(x, axis=(0, 2), keepdims=True), XB),
    ("median-weak-scalar", lambda np_, x: np_.median(2.0), X),
    ("nanmedian", lambda np_, x: np_.nanmedian(x, axis=-1), XN),
    ("quantile-q-array", lambda np_, x: np_.quantile(x, Q, axis=1, keepdims=True), X),
    ("quantile-f16-q-f32", lambda np_, x: np_.quantile(x.astype("float16"), Q), X),
    ("quantile-lower-int", lambda np_, x: np_.quantile(x, 0.3, method="lower"), XI),
    ("nanquantile", lambda np_, x: np_.nanquantile(x, Q, axis=0, method="nearest"), XN),
    ("percentile-int", lambda np_, x: np_.percentile(x, 30), XI),
    ("nanpercentile", lambda np_, x: np_.nanpercentile(x, Q * 100), XN),
    ("cov", lambda np_, x: np_.cov(x[0]), X),
    ("cov-int", lambda np_, x: np_.cov(x[0], fweights=np_.arange(5)), XI),
    ("cov-weak", lambda np_, x: np_.cov(2.0), X),
    ("corrcoef", lambda np_, x: np_.corrcoef(x[0], x[1]), X),
    ("bincount", lambda np_, x: np_.bincount(x, **_length(np_, 8)), np.abs(XI[0, 0])),
    ("bincount-weights", lambda np_, x: np_.bincount(x, x * 0.5, **_length(np_, 6)), XI[0, 0] % 6),
    ("digitize", lambda np_, x: np_.digitize(x, np_.asarray([0.0, 1.0])), X),
    ("digitize-weak", lambda np_, x: np_.digitize(1.0, np_.asarray([0, 2])), X),
    ("histogram", lambda np_, x: np_.histogram(x, 4), XI),
    ("histogram-weights", lambda np_, x: np_.histogram(x, 4, weights=np_.ones_like(x)), XI),
    ("histogram-weak", lambda np_, x: np_.histogram(1.0, 3), X),
    ("histogram_bin_edges", lambda np_, x: np_.histogram_bin_edges(x, 3, (0, 1)), XB),
]


@pytest.mark.parametrize("call,x", [c[1:] for c in JAX_CASES], ids=[c[0] for c in JAX_CASES])
def test_dtypes_like_jax(call, x):
    jax = pytest.importorskip("jax")
    ours = call(hnp, x)
    theirs = jax.eval_shape(lambda v: call(jax.numpy, v), x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = call(np, x)
    ours, theirs, want = (hd.tree_util.tree_leaves(t) for t in (ours, theirs, want))
    assert len(ours) == len(theirs) == len(want)
    for a, b, ref in zip(ours, theirs, want):
        assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)
        np.testing.assert_allclose(np.asarray(a), ref, rtol=2e-3, atol=1e-3, equal_nan=True)
