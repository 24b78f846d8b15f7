"""Tests for indexing: `x[idx]`, `x.at[idx]`, take/sort/nonzero/unique..., and the rules of the
indexing primitives (gather, scatter family, dynamic_slice, dynamic_update_slice).

Every test asserts against numpy, a formula or finite differences; the tests named `*_jax` also
compare with real JAX where it is installed (skipped otherwise).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff import lax
from hlodiff.errors import ConcretizationTypeError, NonConcreteBooleanIndexError
from hlodiff.ir import eval_jaxpr, typecheck_jaxpr
from hlodiff.test_util import check_grads

I = np.array
X = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)


def _jax():
    jax = pytest.importorskip("jax")
    return jax, jax.numpy


@pytest.fixture
def x64():
    old = hd.config.enable_x64
    hd.config.update("enable_x64", True)
    yield
    hd.config.update("enable_x64", old)


def _eqn_names(closed):
    return [e.primitive.name for e in closed.jaxpr.eqns]


def _assert_same(got, want):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# x[idx] against numpy

GETITEM = [
    ("int", (1,)),
    ("neg-int", (-1,)),
    ("np-int", (np.int64(1), slice(-3, None))),
    ("full", (slice(None),)),
    ("start", (slice(1, None),)),
    ("rev", (slice(None, None, -1),)),
    ("rev2-int", (slice(None, None, -2), 0)),
    ("neg-step-bounds", (slice(1, 3), slice(None, None, 2), slice(3, 0, -1))),
    ("neg-step-5", (Ellipsis, slice(4, 0, -3))),
    ("empty-slice", (slice(None), slice(2, 2))),
    ("int-slice-int", (1, slice(None), 2)),
    ("ellipsis", (Ellipsis, 1)),
    ("none-ellipsis", (None, 0, Ellipsis, None)),
    ("array", (I([0, 1, 1]),)),
    ("array-2d", (I([[0], [1]]), I([0, 2, 1]))),
    ("slice-array", (slice(None), I([2, 0]))),
    ("separated", (slice(None), I([0, 1]), slice(None), I([1, 2]))),
    ("int-separated", (0, slice(None), I([1, 2]))),
    ("adjacent-int", (slice(None), 0, I([1, 2]))),
    ("strided-array", (slice(None, None, -1), I([0, 2]), slice(None, None, 2))),
    ("none-separates", (slice(None), I([1, -1]), None, I([0]))),
    ("list-in-tuple", ([0, 1], 0)),
    ("neg-array", (I([-1, -2]), Ellipsis, I([-5]))),
    ("0d-array", (I(1),)),
    ("0d-arrays", (I(-1), slice(None), I(0))),
    ("empty-array", (I([], dtype=np.int32),)),
    ("mask", (I([True, False]),)),
    ("mask-mid", (slice(None), I([True, False, True]))),
    ("mask-list", (slice(None), [True, False, True])),
    ("mask-2d", (X[:, :, 0, 0] > 20,)),
    ("mask-trailing", (Ellipsis, X[0, 0] > 7)),
    ("bool-true", (True,)),
    ("bool-false", (False,)),
    ("none-bool", (None, True)),
    ("bool-array", (slice(None), True, I([0, 2]))),
]


@pytest.mark.parametrize("idx", [c[1] for c in GETITEM], ids=[c[0] for c in GETITEM])
def test_getitem_matches_numpy(idx):
    got = hnp.asarray(X)[idx]
    assert isinstance(got, hd.Array)
    _assert_same(got, X[idx])


@pytest.mark.parametrize("idx", [c[1] for c in GETITEM], ids=[c[0] for c in GETITEM])
def test_getitem_staged_matches_numpy(idx):
    closed = hd.make_jaxpr(lambda x: x[idx])(X)
    typecheck_jaxpr(closed.jaxpr)
    (out,) = eval_jaxpr(closed.jaxpr, closed.consts, X)
    _assert_same(out, X[idx])


@pytest.mark.parametrize("idx", [c[1] for c in GETITEM if c[0] != "none-bool"],
                         ids=[c[0] for c in GETITEM if c[0] != "none-bool"])
def test_getitem_jax(idx):
    want = X[idx]  # (JAX itself mishandles x[None, True], hence that case is left out)
    _assert_same(hnp.asarray(X)[idx], want)
    _, jnp = _jax()
    _assert_same(jnp.asarray(X)[idx], want)


def test_getitem_keeps_dtype_and_weak_type():
    x = hnp.asarray(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert x[1].dtype == np.int32
    assert x[I([1, 0])].dtype == np.int32
    w = hnp.ones(3) * 2.0
    assert w[1:].weak_type == w.weak_type


def test_getitem_jaxpr_basic_slice_like_jax():
    jaxpr = hd.make_jaxpr(lambda x: x[1:, 0])(np.zeros((3, 4), np.float32))
    assert str(jaxpr) == (
        "{ lambda ; a:f32[3,4]. let\n"
        "    b:f32[2,1] = slice[limit_indices=(3, 1) start_indices=(1, 0) strides=None] a\n"
        "    c:f32[2] = squeeze[dimensions=(1,)] b\n"
        "  in (c,) }")


def test_getitem_jaxpr_primitives():
    x = np.zeros((3, 4), np.float32)
    assert _eqn_names(hd.make_jaxpr(lambda x: x[::-1, 0])(x)) == ["slice", "rev", "squeeze"]
    assert _eqn_names(hd.make_jaxpr(lambda x: x[...])(x)) == []
    assert _eqn_names(hd.make_jaxpr(lambda x: x[None, 1])(x)) == [
        "slice", "squeeze", "broadcast_in_dim"]
    names = _eqn_names(hd.make_jaxpr(lambda x, i: x[i])(x, np.int32(1)))
    assert names.count("dynamic_slice") == 1 and "gather" not in names
    names = _eqn_names(hd.make_jaxpr(lambda x: x[I([0, 2]), 1:])(x))
    assert names == ["gather"]  # concrete indices are normalized in numpy: one op
    names = _eqn_names(hd.make_jaxpr(lambda x, i: x[i, ::2])(x, I([0, 2])))
    assert names.count("gather") == 1


def test_traced_scalar_index_clamps_like_jax():
    x = hnp.asarray(X[0, :, 0, 0])  # [0, 20, 40]
    out = hd.vmap(lambda i: x[i])(I([-1, 5, -9, 1]))
    # negative counts from the end, then the start is clamped into range
    _assert_same(out, I([40.0, 40.0, 0.0, 20.0]))
    idx = I([-1, 5, -9, 1])
    jax, jnp = _jax()
    _assert_same(jax.vmap(lambda i: jnp.asarray(X[0, :, 0, 0])[i])(idx), out)


def test_traced_scalar_index_with_slices_and_newaxes():
    x = X[0]
    for idx_fn in [lambda i: (i, slice(None, None, -1), slice(1, 3)),
                   lambda i: (slice(None, None, -1), None, i),
                   lambda i: (Ellipsis, i, None),
                   lambda i: (i, slice(2, None), slice(None, None, 2))]:
        out = hd.vmap(lambda i, f=idx_fn: hnp.asarray(x)[f(i)])(I([0, 2, -1]))
        want = np.stack([x[idx_fn(i)] for i in (0, 2, -1)])
        _assert_same(out, want)
        names = _eqn_names(hd.make_jaxpr(lambda i, f=idx_fn: hnp.asarray(x)[f(i)])(I(1)))
        strided = any(isinstance(e, slice) and e.step == 2 for e in idx_fn(0))
        assert ("gather" in names) == strided  # unit steps: one dynamic_slice, as in JAX


def test_array_index_out_of_bounds_clamps():
    x = hnp.arange(5.0)
    i = I([7, -1, -9, 2])
    ref = np.clip(np.where(i < 0, i + 5, i), 0, 4).astype(np.float32)
    _assert_same(x[i], ref)
    _, jnp = _jax()
    _assert_same(jnp.arange(5.0)[i], ref)


def test_getitem_errors():
    x = hnp.asarray(X[0])
    with pytest.raises(IndexError, match="out of bounds"):
        x[3]
    with pytest.raises(IndexError, match="out of bounds"):
        x[0, -5]
    with pytest.raises(IndexError, match="Too many indices"):
        x[0, 0, 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., 0, ...]
    with pytest.raises(TypeError, match="integer or boolean"):
        x[1.0]
    with pytest.raises(TypeError, match="integer or boolean"):
        x[I([0.5])]
    with pytest.raises(TypeError, match="non-tuple sequence"):
        x[[0, 1]]
    with pytest.raises(IndexError, match="boolean index did not match"):
        x[I([True, False])]
    with pytest.raises(IndexError, match="could not be broadcast"):
        x[I([0, 1]), I([0, 1, 2])]
    with pytest.raises(NonConcreteBooleanIndexError):
        hd.make_jaxpr(lambda x: x[x > 3])(X[0])
    with pytest.raises(IndexError, match="static integers"):
        hd.make_jaxpr(lambda x, i: x[i:])(X[0], 1)
    assert issubclass(NonConcreteBooleanIndexError, IndexError)


def test_boolean_mask_concrete_under_transformations():
    mask = I([True, False, True])
    x = X[0, :, :, 0]
    with pytest.raises(NonConcreteBooleanIndexError):  # a mask that depends on a mapped value
        hd.vmap(lambda r: r[r > 5], in_axes=1)(x)
    _assert_same(hd.vmap(lambda r: r[mask], in_axes=1, out_axes=1)(x), x[mask])
    g = hd.grad(lambda x: hnp.sum(x[mask] ** 2))(x)
    _assert_same(g, 2 * x * mask[:, None])


def test_iteration_and_index_method_paths():
    x = hnp.asarray(X[0, 0])
    rows = list(x)
    assert len(rows) == 4
    _assert_same(rows[2], X[0, 0, 2])


# ---------------------------------------------------------------------------------------------
# x.at[idx] against numpy (ufunc.at accumulates repeated indices)

AT_INDICES = [
    ("int", 1),
    ("pair", (1, 2)),
    ("array-dup", I([0, 0, 3])),
    ("arrays-dup", (I([0, 0, -1]), I([1, 1, 4]))),
    ("slice-array", (slice(None), I([4, 4, 0]))),
    ("neg-step", slice(None, None, -2)),
    ("ellipsis", (Ellipsis, 1)),
    ("none", (None, 2)),
    ("mask", I([True, False, True, False])),
    ("strided-2d", (slice(1, 3), slice(None, None, 2))),
    ("0d", (I(1), I(2))),
]

_UFUNC_AT = {"add": np.add, "multiply": np.multiply, "min": np.minimum, "max": np.maximum,
             "subtract": np.subtract}


def _np_at(x, idx, op, v):
    y = x.copy()
    if op in _UFUNC_AT:
        _UFUNC_AT[op].at(y, idx, v)
    elif op == "set":
        y[idx] = v
    elif op == "divide":
        s = np.ones_like(x)
        np.multiply.at(s, idx, v)
        y = x / s
    elif op == "power":
        s = np.ones_like(x)
        np.multiply.at(s, idx, v)
        y = x ** s
    return y


def _has_duplicates(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    arrays = [p for p in parts if isinstance(p, np.ndarray) and p.dtype.kind == "i" and p.ndim]
    return any(len(set(a.tolist())) < len(a) for a in arrays)


AT_CASES = [pytest.param(idx, op, id=f"{op}-{name}") for name, idx in AT_INDICES
            for op in ["set", "add", "subtract", "multiply", "divide", "power", "min", "max"]
            if not (op == "set" and _has_duplicates(idx))]  # which duplicate wins is unspecified


@pytest.mark.parametrize("idx,op", AT_CASES)
def test_at_updates_match_numpy(idx, op):
    rng = np.random.RandomState(0)
    x = np.abs(rng.randn(4, 5)).astype(np.float32) + 0.5
    v = np.asarray(np.abs(rng.randn(*x[idx].shape)) + 0.5, np.float32)
    got = getattr(hnp.asarray(x).at[idx], op)(v)
    np.testing.assert_allclose(np.asarray(got), _np_at(x, idx, op, v), rtol=1e-5)
    assert got.dtype == np.float32


@pytest.mark.parametrize("idx", [c[1] for c in AT_INDICES], ids=[c[0] for c in AT_INDICES])
def test_at_get_and_apply_match_numpy(idx):
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    _assert_same(hnp.asarray(x).at[idx].get(), x[idx])
    y = x.copy()
    if _has_duplicates(idx):  # as in JAX: func applies once per occurrence
        np.add.at(y, idx, 0)
        counts = np.zeros_like(x, dtype=np.int64)
        np.add.at(counts, idx, 1)
        for k in range(counts.max()):
            y = np.where(counts > k, y * 2 + 1, y)
    else:
        y[idx] = x[idx] * 2 + 1
    _assert_same(hnp.asarray(x).at[idx].apply(lambda t: t * 2 + 1), y)


@pytest.mark.parametrize("idx", [c[1] for c in AT_INDICES], ids=[c[0] for c in AT_INDICES])
def test_at_updates_jax(idx):
    rng = np.random.RandomState(1)
    x = np.abs(rng.randn(4, 5)).astype(np.float32) + 0.5
    v = np.asarray(np.abs(rng.randn(*x[idx].shape)) + 0.5, np.float32)
    np.testing.assert_allclose(np.asarray(hnp.asarray(x).at[idx].add(v)),
                               _np_at(x, idx, "add", v), rtol=1e-6)
    _, jnp = _jax()
    for op in ["add", "multiply", "min", "max", "divide", "power"]:
        want = getattr(jnp.asarray(x).at[idx], op)(v)
        np.testing.assert_allclose(np.asarray(getattr(hnp.asarray(x).at[idx], op)(v)),
                                   np.asarray(want), rtol=1e-5)
    _assert_same(hnp.asarray(x).at[idx].apply(hnp.sin),
                 jnp.asarray(x).at[idx].apply(jnp.sin))


def test_at_add_duplicates_accumulate():
    out = hnp.zeros(4).at[I([0, 0, 2, 0])].add(1.0)
    _assert_same(out, I([3.0, 0.0, 1.0, 0.0]))
    out = hnp.zeros((2, 3)).at[I([1, 1]), I([2, 2])].add(I([1.0, 2.0]))
    _assert_same(out, I([[0, 0, 0], [0, 0, 3.0]]))


def test_at_out_of_bounds():
    x = hnp.arange(5.0)
    # updates: dropped by default ("drop"), clamped with "clip"
    _assert_same(x.at[I([-1, 7, -9])].add(100.0), I([0, 1, 2, 3, 104.0]))
    _assert_same(x.at[7].set(9.0), I([0, 1, 2, 3, 4.0]))
    _assert_same(x.at[I([7, -9])].set(9.0, mode="clip"), I([9, 1, 2, 3, 9.0]))
    # retrieval: clamped by default, filled with mode="fill"
    _assert_same(x.at[I([7, -1])].get(), I([4.0, 4.0]))
    got = x.at[I([7, -1, -6])].get(mode="fill")
    assert np.isnan(np.asarray(got)[0]) and np.asarray(got)[1] == 4.0
    _assert_same(x.at[I([7, -1])].get(mode="fill", fill_value=-3.0), I([-3.0, 4.0]))
    _assert_same(x.at[9].get(mode="fill", fill_value=-1), -1.0)
    xi = hnp.arange(3)
    assert int(xi.at[5].get(mode="fill")) == np.iinfo(np.int32).min


def _np_oob(idx, mode, n=5):
    """Reference: normalize negatives once, then drop or clamp what is still out of range."""
    i = np.atleast_1d(idx)
    i = np.where(i < 0, i + n, i)
    return np.clip(i, 0, n - 1) if mode == "clip" else i[(i >= 0) & (i < n)]


def test_at_out_of_bounds_jax():
    cases = [I([-1, 7, -9]), 7, I([2, 2, -6])]
    for idx in cases:
        for mode in [None, "clip", "drop"]:
            want = np.arange(5.0)
            np.add.at(want, _np_oob(idx, mode), 100.0)
            _assert_same(hnp.arange(5.0).at[idx].add(100.0, mode=mode), want)
        want = np.arange(5.0)[_np_oob(idx, "clip")].reshape(np.shape(idx))
        _assert_same(hnp.arange(5.0).at[idx].get(mode="clip"), want)
    _, jnp = _jax()
    for idx in cases:
        for mode in [None, "clip", "drop"]:
            _assert_same(hnp.arange(5.0).at[idx].add(100.0, mode=mode),
                         jnp.arange(5.0).at[idx].add(100.0, mode=mode))
        for mode in ["clip", "fill"]:
            _assert_same(hnp.arange(5.0).at[idx].get(mode=mode),
                         jnp.arange(5.0).at[idx].get(mode=mode))


def test_at_dtype_rules():
    xi = hnp.arange(3)
    out = xi.at[0].add(1.5)  # computed in float, cast back: 1.5 -> 1 (as JAX)
    assert out.dtype == np.int32
    _assert_same(out, I([1, 1, 2]))
    w = hnp.zeros(3).at[1].set(2)
    assert w.dtype == np.float32
    with pytest.raises(ValueError, match="broadcast"):
        hnp.zeros(3).at[I([0, 1])].set(hnp.ones(3))


def test_at_jaxpr_is_one_scatter():
    closed = hd.make_jaxpr(lambda x: x.at[1].set(3.0))(np.zeros((3, 4), np.float32))
    names = _eqn_names(closed)
    assert names.count("scatter") == 1
    (eqn,) = [e for e in closed.jaxpr.eqns if e.primitive.name == "scatter"]
    assert eqn.params["unique_indices"] and eqn.params["indices_are_sorted"]
    assert eqn.params["mode"] is lax.GatherScatterMode.FILL_OR_DROP
    closed = hd.make_jaxpr(lambda x: x.at[I([0, 2])].add(3.0))(np.zeros((3, 4), np.float32))
    assert _eqn_names(closed).count("scatter-add") == 1


# ---------------------------------------------------------------------------------------------
# take, take_along_axis, sort, argsort, searchsorted


def test_take():
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    hx = hnp.asarray(x)
    _assert_same(hnp.take(hx, I([0, -1, 3])), np.take(x, [0, -1, 3]))
    _assert_same(hnp.take(hx, I([[0, -1], [2, 3]]), axis=1), np.take(x, [[0, -1], [2, 3]], 1))
    _assert_same(hnp.take(hx, I([0, 9]), axis=0, mode="clip"), np.take(x, [0, 9], 0, mode="clip"))
    _assert_same(hnp.take(hx, I([-1, 9]), axis=0, mode="wrap"), np.take(x, [-1, 9], 0,
                                                                         mode="wrap"))
    filled = np.asarray(hnp.take(hx, I([1, 9]), axis=0))
    assert np.isnan(filled[1]).all() and (filled[0] == x[1]).all()
    _assert_same(hnp.take(hx, I([1, 9]), axis=0, fill_value=0.0)[1], np.zeros(5))
    _assert_same(hx.take(I([1, 2])), x.ravel()[[1, 2]])
    with pytest.raises(ValueError, match="Invalid mode"):
        hnp.take(hx, I([0]), mode="bogus")


def test_take_jax():
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    for mode in ("clip", "wrap"):
        _assert_same(hnp.take(x, I([[0, -1], [7, 3]]), axis=0, mode=mode),
                     np.take(x, I([[0, -1], [7, 3]]), axis=0, mode=mode))
    _, jnp = _jax()
    for kw in [{}, {"axis": 1}, {"axis": 0, "mode": "clip"}, {"axis": 0, "mode": "wrap"},
               {"axis": 0, "mode": "fill", "fill_value": -2.0}]:
        idx = I([[0, -1], [7, 3]])
        _assert_same(hnp.take(x, idx, **kw), jnp.take(x, idx, **kw))


def test_take_along_axis():
    rng = np.random.RandomState(0)
    x = rng.randn(3, 4, 5).astype(np.float32)
    for axis in (0, 1, 2, -1):
        idx = np.argsort(x, axis=axis)
        _assert_same(hnp.take_along_axis(x, idx, axis), np.take_along_axis(x, idx, axis))
    idx = rng.randint(0, 4, size=(3, 6, 1))  # broadcasts along the last axis
    _assert_same(hnp.take_along_axis(x, idx, 1), np.take_along_axis(x, idx, 1))
    _assert_same(hnp.take_along_axis(x[:1], idx, 1), np.take_along_axis(x[:1], idx, 1))
    _assert_same(hnp.take_along_axis(x.ravel(), I([3, -1]), None), x.ravel()[[3, -1]])
    out = np.asarray(hnp.take_along_axis(x, np.full((3, 1, 5), 9), 1))
    assert np.isnan(out).all()
    with pytest.raises(ValueError, match="same number of dimensions"):
        hnp.take_along_axis(x, I([0]), 0)


def test_take_along_axis_jax():
    x = np.arange(12.0).reshape(3, 4)
    idx = I([[0, -1, 9]])
    _assert_same(hnp.take_along_axis(x, idx, 1, mode="clip"), x[:, [0, 3, 3]])
    _, jnp = _jax()
    for mode in [None, "clip", "fill"]:
        _assert_same(hnp.take_along_axis(x, idx, 1, mode=mode),
                     jnp.take_along_axis(x, idx, 1, mode=mode))


def test_sort_and_argsort():
    rng = np.random.RandomState(0)
    x = rng.randint(0, 4, size=(5, 6)).astype(np.float32)
    x[1, 2] = np.nan
    for axis in (0, 1, -1, None):
        _assert_same(hnp.sort(x, axis=axis), np.sort(x, axis=axis))
        _assert_same(hnp.argsort(x, axis=axis), np.argsort(x, axis=axis, kind="stable"))
    v = I([3, 1, 3, 2, 1, 5])
    _assert_same(hnp.sort(v, descending=True), np.sort(v)[::-1])
    # stable descending: ties keep their original order
    _assert_same(hnp.argsort(v, descending=True), np.argsort(-v, kind="stable"))
    _assert_same(hnp.asarray(x).sort(axis=0), np.sort(x, axis=0))
    _assert_same(hnp.asarray(x).argsort(), np.argsort(x, kind="stable"))
    assert hnp.argsort(v).dtype == np.int32


def test_sort_jax():
    v = I([3.0, 1, np.nan, 2, 1, 5])
    _assert_same(hnp.sort(v), np.sort(v))
    _assert_same(hnp.sort(v, descending=True), np.sort(v)[::-1])  # NaN first, as in JAX
    _, jnp = _jax()
    for kw in [{}, {"descending": True}]:
        _assert_same(hnp.sort(v, **kw), jnp.sort(v, **kw))
        _assert_same(hnp.argsort(v, **kw), jnp.argsort(v, **kw))


def test_searchsorted():
    a = I([1.0, 2.0, 2.0, 3.0, np.nan])
    v = I([[2.0, 0.0], [5.0, np.nan]])
    for side in ("left", "right"):
        want = np.searchsorted(a, v, side=side)
        _assert_same(hnp.searchsorted(a, v, side=side), want)
        # traced: a vectorised binary search
        _assert_same(hd.vmap(lambda q, side=side: hnp.searchsorted(a, q, side=side))(v), want)
        _assert_same(hd.vmap(lambda q, side=side: hnp.searchsorted(a, q, side=side), in_axes=1,
                             out_axes=1)(v), want)
    b = a[[2, 3, 1, 4, 0]]
    sorter = np.argsort(b)
    _assert_same(hnp.searchsorted(b, v, sorter=sorter), np.searchsorted(b, v, sorter=sorter))
    with pytest.raises(ValueError, match="side"):
        hnp.searchsorted(a, v, side="middle")


def test_searchsorted_jax():
    a = I([1.0, 2.0, 2.0, 3.0, np.nan])
    v = I([2.0, 0.0, 5.0, np.nan, 2.5])
    _assert_same(hd.vmap(lambda q: hnp.searchsorted(a, q))(v), np.searchsorted(a, v))
    _, jnp = _jax()
    for side in ("left", "right"):
        _assert_same(hd.vmap(lambda q, side=side: hnp.searchsorted(a, q, side=side))(v),
                     jnp.searchsorted(a, v, side=side))


# ---------------------------------------------------------------------------------------------
# nonzero and friends, unique, index helpers


def test_nonzero_family():
    x = np.array([[0, 1.5, 0], [2, 0, 3]], np.float32)
    for got, want in zip(hnp.nonzero(x), np.nonzero(x)):
        _assert_same(got, want)
    _assert_same(hnp.flatnonzero(x), np.flatnonzero(x))
    _assert_same(hnp.argwhere(x), np.argwhere(x))
    _assert_same(hnp.argwhere(hnp.asarray(3.0)), np.argwhere(np.array(3.0)))
    for got, want in zip(hnp.where(x), np.where(x)):
        _assert_same(got, want)
    rows, cols = hnp.nonzero(x, size=5, fill_value=-1)
    _assert_same(rows, I([0, 1, 1, -1, -1]))
    _assert_same(cols, I([1, 0, 2, -1, -1]))
    rows, cols = hnp.nonzero(x, size=2)
    _assert_same(rows, I([0, 1]))
    _assert_same(hnp.argwhere(x, size=4), I([[0, 1], [1, 0], [1, 2], [0, 0]]))
    assert hnp.nonzero(x)[0].dtype == np.int32
    with pytest.raises(ValueError, match="0d"):
        hnp.nonzero(hnp.asarray(1.0))


def test_nonzero_traced_needs_size():
    x = np.array([[0, 1.5, 0], [2, 0, 3]], np.float32)
    with pytest.raises(ConcretizationTypeError, match="size="):
        hd.make_jaxpr(hnp.nonzero)(x)
    with pytest.raises(ConcretizationTypeError, match="size="):
        hd.make_jaxpr(hnp.argwhere)(x)
    # with size= it traces: vmap against a Python loop of the concrete version
    batch = np.stack([x, x[::-1], np.zeros_like(x)])
    for fill in (None, -1):
        out = hd.vmap(lambda m, fill=fill: hnp.nonzero(m, size=4, fill_value=fill))(batch)
        for k, m in enumerate(batch):
            for got, want in zip(out, hnp.nonzero(m, size=4, fill_value=fill)):
                _assert_same(got[k], want)
        out = hd.vmap(lambda m, fill=fill: hnp.argwhere(m, size=4, fill_value=fill))(batch)
        _assert_same(out[1], hnp.argwhere(batch[1], size=4, fill_value=fill))


def test_nonzero_jax():
    x = np.array([[0, 1.5, 0], [2, 0, 3]], np.float32)
    _assert_same(hd.vmap(lambda m: hnp.flatnonzero(m, size=4))(np.stack([x, -x])),
                 I([[1, 3, 5, 0], [1, 3, 5, 0]]))
    jax, jnp = _jax()
    for kw in [{}, {"size": 5}, {"size": 5, "fill_value": -1}, {"size": 2}]:
        for got, want in zip(hnp.nonzero(x, **kw), jnp.nonzero(x, **kw)):
            _assert_same(got, want)
    got = hd.vmap(lambda m: hnp.flatnonzero(m, size=4))(np.stack([x, -x]))
    _assert_same(got, jax.vmap(lambda m: jnp.flatnonzero(m, size=4))(np.stack([x, -x])))


def test_unique():
    u = I([3, 1, 3, 2, 1, 5])
    vals, index, inverse, counts = hnp.unique(u, return_index=True, return_inverse=True,
                                              return_counts=True)
    for got, want in zip((vals, index, inverse, counts),
                         np.unique(u, return_index=True, return_inverse=True,
                                   return_counts=True)):
        _assert_same(got, want)
    _assert_same(hnp.unique(I([1.0, np.nan, np.nan, 0.0])), I([0.0, 1.0, np.nan]))
    _assert_same(hnp.unique(I([[1, 2], [1, 2], [0, 5]]), axis=0), I([[0, 5], [1, 2]]))
    _assert_same(hnp.unique(u, size=6), I([1, 2, 3, 5, 1, 1]))  # padded with the minimum
    _assert_same(hnp.unique(u, size=6, fill_value=-1), I([1, 2, 3, 5, -1, -1]))
    _assert_same(hnp.unique(u, size=2, return_counts=True)[1], I([2, 1]))
    with pytest.raises(ConcretizationTypeError, match="size="):
        hd.make_jaxpr(hnp.unique)(u)


def test_unique_traced_matches_concrete():
    batch = I([[3, 1, 3, 2, 1, 5], [5, 5, 0, 0, 0, 7], [4, 4, 4, 4, 4, 4]])
    for fill in (None, -1):
        out = hd.vmap(lambda a, fill=fill: hnp.unique(a, size=5, fill_value=fill, return_index=True,
                                           return_inverse=True, return_counts=True))(batch)
        for k, row in enumerate(batch):
            want = hnp.unique(row, size=5, fill_value=fill, return_index=True,
                              return_inverse=True, return_counts=True)
            for got, w in zip(out, want):
                _assert_same(got[k], w)
    floats = I([[1.0, np.nan, np.nan, 0.0], [2.0, 2.0, 1.0, np.nan]])
    out = hd.vmap(lambda a: hnp.unique(a, size=4))(floats)
    for k, row in enumerate(floats):
        _assert_same(out[k], hnp.unique(row, size=4))


def test_unique_jax():
    u = I([3, 1, 3, 2, 1, 5])
    _assert_same(hnp.unique(u, size=6, return_index=True)[1], I([1, 3, 0, 5, 1, 1]))
    _, jnp = _jax()
    for kw in [{}, {"size": 6}, {"size": 6, "fill_value": -1}, {"size": 2}]:
        kw.update(return_index=True, return_inverse=True, return_counts=True)
        for got, want in zip(hnp.unique(u, **kw), jnp.unique(u, **kw)):
            _assert_same(got, want)


def test_index_helpers():
    for got, want in zip(hnp.diag_indices(3, 3), np.diag_indices(3, 3)):
        _assert_same(got, want)
    for fn in ("tril_indices", "triu_indices"):
        for args in [(4,), (4, 1), (3, -1, 5)]:
            for got, want in zip(getattr(hnp, fn)(*args), getattr(np, fn)(*args)):
                _assert_same(got, want)
    a = np.zeros((3, 3))
    for got, want in zip(hnp.tril_indices_from(a, 1), np.tril_indices_from(a, 1)):
        _assert_same(got, want)
    for got, want in zip(hnp.diag_indices_from(a), np.diag_indices_from(a)):
        _assert_same(got, want)
    x = np.arange(20.0).reshape(4, 5)
    mesh = hnp.ix_(I([0, 2]), I([1, 3, 4]))
    for got, want in zip(mesh, np.ix_([0, 2], [1, 3, 4])):
        _assert_same(got, want)
    _assert_same(hnp.asarray(x)[mesh], x[np.ix_([0, 2], [1, 3, 4])])
    _assert_same(hnp.asarray(x)[hnp.ix_(I([True, False, True, True]), I([4]))],
                 x[np.ix_([True, False, True, True], [4])])
    assert hnp.tril_indices(3)[0].dtype == np.int32


def test_namespace():
    import hlodiff.numpy._indexing as mod

    assert "getitem" not in mod.__all__ and "IndexUpdateHelper" not in mod.__all__
    for name in mod.__all__:
        assert getattr(hnp, name) is getattr(mod, name)
    for name in ("gather", "scatter", "scatter_add", "scatter_mul", "scatter_min", "scatter_max",
                 "dynamic_slice", "dynamic_update_slice", "dynamic_slice_in_dim",
                 "dynamic_index_in_dim", "dynamic_update_slice_in_dim",
                 "dynamic_update_index_in_dim", "GatherDimensionNumbers",
                 "ScatterDimensionNumbers", "GatherScatterMode"):
        assert hasattr(lax, name), name


# ---------------------------------------------------------------------------------------------
# lax-level primitives: semantics, shape errors

GDN = lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,),
                                 start_index_map=(0,))
SDN = lax.ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(0,),
                                  scatter_dims_to_operand_dims=(0,))


def test_dynamic_slice_clamps():
    x = np.arange(24.0).reshape(4, 6)
    for start in [(0, 0), (3, 5), (-1, 1), (10, -10)]:
        r, c = [s + n if s < 0 else s for s, n in zip(start, x.shape)]
        r, c = min(max(r, 0), 2), min(max(c, 0), 3)
        _assert_same(lax.dynamic_slice(x, start, (2, 3)), x[r:r + 2, c:c + 3])
        want = x.copy()
        want[r:r + 2, c:c + 3] = -1
        _assert_same(lax.dynamic_update_slice(x, -np.ones((2, 3)), start), want)
    _assert_same(lax.dynamic_slice_in_dim(x, 1, 2, axis=1), x[:, 1:3])
    _assert_same(lax.dynamic_index_in_dim(x, -1, 0, keepdims=False), x[-1])
    _assert_same(lax.dynamic_update_index_in_dim(x, np.zeros(4), 2, 1)[:, 2], np.zeros(4))
    _assert_same(lax.dynamic_update_slice_in_dim(x, np.zeros((4, 2)), 5, 1)[:, 4:], 0 * x[:, 4:])


def test_dynamic_slice_jax():
    x = np.arange(24.0).reshape(4, 6)
    _assert_same(lax.dynamic_slice(x, (-1, 10), (2, 3)), x[2:, 3:])
    _jax()
    from jax import lax as jlax

    for start in [(0, 0), (3, 5), (-1, 1), (10, -10)]:
        _assert_same(lax.dynamic_slice(x, start, (2, 3)), jlax.dynamic_slice(x, start, (2, 3)))
        u = -np.ones((2, 3))
        _assert_same(lax.dynamic_update_slice(x, u, start),
                     jlax.dynamic_update_slice(x, u, start))


def test_gather_scatter_modes():
    x = np.arange(12.0).reshape(4, 3)
    idx = I([[1], [5], [-1]])
    _assert_same(lax.gather(x, idx, GDN, (1, 3), mode="clip"), x[[1, 3, 0]])
    _assert_same(lax.gather(x, idx, GDN, (1, 3)), x[[1, 3, 0]])  # promise: clamps like XLA
    filled = np.asarray(lax.gather(x, idx, GDN, (1, 3), mode="fill", fill_value=-7.0))
    _assert_same(filled, np.stack([x[1], np.full(3, -7.0), np.full(3, -7.0)]))
    u = np.ones((3, 3))
    want = x.copy()
    want[1] += 1
    _assert_same(lax.scatter_add(x, idx, u, SDN), want)  # out-of-bounds rows are dropped
    want[3] += 1
    want[0] += 1
    _assert_same(lax.scatter_add(x, idx, u, SDN, mode="clip"), want)
    # a window that only partly fits is dropped whole
    dn = lax.ScatterDimensionNumbers((1,), (0,), (0, 1))
    out = lax.scatter_add(np.zeros((2, 4)), I([[0, 3], [1, 1]]), np.ones((2, 2)), dn)
    _assert_same(out, I([[0, 0, 0, 0], [0, 1, 1, 0.0]]))
    for fn, ref in [(lax.scatter_mul, np.multiply), (lax.scatter_min, np.minimum),
                    (lax.scatter_max, np.maximum), (lax.scatter, None)]:
        v = np.arange(9.0).reshape(3, 3) - 4
        i = I([[0], [2], [0]]) if ref is not None else I([[0], [2], [3]])
        want = x.copy()
        if ref is None:
            want[[0, 2, 3]] = v
        else:
            ref.at(want, i[:, 0], v)
        _assert_same(fn(x, i, v, SDN), want)


def test_gather_with_batching_dims():
    rng = np.random.RandomState(0)
    x = rng.randn(3, 5, 2)
    idx = rng.randint(0, 5, size=(3, 4, 1))
    dn = lax.GatherDimensionNumbers(offset_dims=(2,), collapsed_slice_dims=(1,),
                                    start_index_map=(1,), operand_batching_dims=(0,),
                                    start_indices_batching_dims=(0,))
    want = np.stack([x[b][idx[b, :, 0]] for b in range(3)])
    _assert_same(lax.gather(x, idx, dn, (1, 1, 2)), want)
    sdn = lax.ScatterDimensionNumbers((2,), (1,), (1,), (0,), (0,))
    v = rng.randn(3, 4, 2)
    want = x.copy()
    for b in range(3):
        np.add.at(want[b], idx[b, :, 0], v[b])
    _assert_same(lax.scatter_add(x, idx, v, sdn), want)


def _start(x_shape, idx, b, index_map, batching, indices_batching):
    start = [0] * len(x_shape)
    for k, d in enumerate(index_map):
        start[d] = int(idx[b + (k,)])
    for od, bd in zip(batching, indices_batching):
        start[od] = b[bd]
    return start


def _gather_ref(x, idx, dn, sizes, mode, fill=np.nan):
    """XLA's gather, one window at a time (a Python loop: the spec, not the implementation)."""
    batch_shape = idx.shape[:-1]
    window = [d for d in range(x.ndim)
              if d not in dn.collapsed_slice_dims + dn.operand_batching_dims]
    rank = len(batch_shape) + len(window)
    batch_pos = [i for i in range(rank) if i not in dn.offset_dims]
    out_shape = [0] * rank
    for p, n in zip(batch_pos, batch_shape):
        out_shape[p] = n
    for p, d in zip(dn.offset_dims, window):
        out_shape[p] = sizes[d]
    out = np.zeros(out_shape, x.dtype)
    for b in np.ndindex(*batch_shape):
        start = _start(x.shape, idx, b, dn.start_index_map, dn.operand_batching_dims,
                       dn.start_indices_batching_dims)
        fits = all(0 <= s <= n - w for s, n, w in zip(start, x.shape, sizes))
        start = [min(max(s, 0), n - w) for s, n, w in zip(start, x.shape, sizes)]
        block = x[tuple(slice(s, s + w) for s, w in zip(start, sizes))]
        block = block.reshape([sizes[d] for d in window])
        if mode == "fill" and not fits:
            block = np.full_like(block, fill)
        sel = [slice(None)] * rank
        for p, i in zip(batch_pos, b):
            sel[p] = i
        out[tuple(sel)] = block
    return out


_COMBINE = {"scatter_add": np.add, "scatter_mul": np.multiply, "scatter_min": np.minimum,
            "scatter_max": np.maximum, "scatter": lambda old, new: new}


def _scatter_ref(x, idx, u, dn, name, mode):
    """XLA's scatter, one update window at a time; windows that do not fit are dropped."""
    out = x.copy()
    scatter_pos = [i for i in range(u.ndim) if i not in dn.update_window_dims]
    window = [d for d in range(x.ndim)
              if d not in dn.inserted_window_dims + dn.operand_batching_dims]
    sizes = [1] * x.ndim
    for d, ud in zip(window, dn.update_window_dims):
        sizes[d] = u.shape[ud]
    for b in np.ndindex(*idx.shape[:-1]):
        start = _start(x.shape, idx, b, dn.scatter_dims_to_operand_dims,
                       dn.operand_batching_dims, dn.scatter_indices_batching_dims)
        if mode == "clip":
            start = [min(max(s, 0), n - w) for s, n, w in zip(start, x.shape, sizes)]
        elif not all(0 <= s <= n - w for s, n, w in zip(start, x.shape, sizes)):
            continue
        sel = [slice(None)] * u.ndim
        for p, i in zip(scatter_pos, b):
            sel[p] = i
        target = tuple(slice(s, s + w) for s, w in zip(start, sizes))
        out[target] = _COMBINE[name](out[target], u[tuple(sel)].reshape(out[target].shape))
    return out


def _gather_scatter_cases():
    rng = np.random.RandomState(0)
    return [
        (I([[0], [2], [4], [7], [-1]]), {"offset_dims": (1, 2), "collapsed_slice_dims": (0,),
                                             "start_index_map": (0,)}, (1, 4, 3)),
        (I([[0, 1], [2, 3], [4, 0], [1, 1]]), {"offset_dims": (1,), "collapsed_slice_dims": (0, 1),
                                                   "start_index_map": (0, 1)}, (1, 1, 3)),
        (I([[1, 0], [3, 2], [2, 4]]), {"offset_dims": (1, 2), "collapsed_slice_dims": (2,),
                                           "start_index_map": (2, 0)}, (2, 4, 1)),
        (I([[[1, 3]], [[-1, 0]]]), {"offset_dims": (2, 3, 4), "collapsed_slice_dims": (),
                                        "start_index_map": (0, 1)}, (3, 2, 3)),
        (rng.randint(-1, 6, size=(5, 2, 1)), {
            "offset_dims": (2,), "collapsed_slice_dims": (1,), "start_index_map": (1,),
            "operand_batching_dims": (0,), "start_indices_batching_dims": (0,)}, (1, 1, 3)),
    ]


def _scatter_dnums(dn):
    return {"update_window_dims": dn["offset_dims"],
                "inserted_window_dims": dn["collapsed_slice_dims"],
                "scatter_dims_to_operand_dims": dn["start_index_map"],
                "operand_batching_dims": dn.get("operand_batching_dims", ()),
                "scatter_indices_batching_dims": dn.get("start_indices_batching_dims", ())}


@pytest.mark.parametrize("mode", ["clip", "fill", "promise_in_bounds"])
def test_gather_scatter_match_reference(mode):
    rng = np.random.RandomState(1)
    x = rng.randn(5, 4, 3).astype(np.float32)
    for idx, dn, sizes in _gather_scatter_cases():
        gdn = lax.GatherDimensionNumbers(**dn)
        want = _gather_ref(x, idx, gdn, sizes, mode)
        _assert_same(lax.gather(x, idx, gdn, sizes, mode=mode), want)
        u = rng.randn(*want.shape).astype(np.float32)
        sdn = lax.ScatterDimensionNumbers(**_scatter_dnums(dn))
        for name in ["scatter_add", "scatter_mul", "scatter_min", "scatter_max", "scatter"]:
            if name == "scatter" and len({tuple(r) for r in idx.reshape(-1, idx.shape[-1])}) \
                    < idx.reshape(-1, idx.shape[-1]).shape[0]:
                continue  # overlapping windows: which update wins is unspecified
            got = getattr(lax, name)(x, idx, u, sdn, mode=mode)
            np.testing.assert_allclose(np.asarray(got), _scatter_ref(x, idx, u, sdn, name, mode),
                                       rtol=1e-6, err_msg=f"{name} {dn}")


def test_gather_scatter_jax():
    rng = np.random.RandomState(2)
    x = rng.randn(5, 4, 3).astype(np.float32)
    idx, dn, sizes = _gather_scatter_cases()[0]
    _assert_same(lax.gather(x, idx, lax.GatherDimensionNumbers(**dn), sizes, mode="clip"),
                 x[np.clip(idx[:, 0], 0, 4)])  # lax.gather does not wrap negatives
    _jax()
    from jax import lax as jlax

    for idx, dn, sizes in _gather_scatter_cases():
        sdn = _scatter_dnums(dn)
        for mode in ["clip", "fill", "promise_in_bounds"]:
            want = jlax.gather(x, idx, jlax.GatherDimensionNumbers(**dn), sizes, mode=mode)
            _assert_same(lax.gather(x, idx, lax.GatherDimensionNumbers(**dn), sizes, mode=mode),
                         want)
            u = rng.randn(*want.shape).astype(np.float32)
            for name in ["scatter_add", "scatter_mul", "scatter_min", "scatter_max"]:
                _assert_same(getattr(lax, name)(x, idx, u, lax.ScatterDimensionNumbers(**sdn),
                                                mode=mode),
                             getattr(jlax, name)(x, idx, u, jlax.ScatterDimensionNumbers(**sdn),
                                                 mode=mode))


def test_shape_errors_name_the_primitive():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(TypeError, match=r"gather.*f32\[4,3\]"):
        lax.gather(x, I([[0]]), GDN, (1, 4))
    with pytest.raises(TypeError, match="gather indices must have an integer"):
        lax.gather(x, I([[0.0]]), GDN, (1, 3))
    with pytest.raises(TypeError, match="scatter-add"):
        lax.scatter_add(x, I([[0]]), np.ones((2, 3), np.float32), SDN)
    with pytest.raises(TypeError, match="scatter updates must have the operand's dtype"):
        lax.scatter(x, I([[0]]), np.ones((1, 3), np.int32), SDN)
    with pytest.raises(TypeError, match="dynamic_slice"):
        lax.dynamic_slice(x, (0, 0), (5, 1))
    with pytest.raises(TypeError, match="dynamic_update_slice"):
        lax.dynamic_update_slice(x, np.ones((5,), np.float32), (0, 0))
    with pytest.raises(ValueError, match="Unknown gather mode"):
        lax.gather(x, I([[0]]), GDN, (1, 3), mode="wrap")


def test_params_are_hashable_and_print_like_jax():
    closed = hd.make_jaxpr(lambda x: lax.gather(x, I([[0], [2]]), GDN, (1, 3), mode="fill"))(
        np.zeros((4, 3), np.float32))
    (eqn,) = closed.jaxpr.eqns
    hash(tuple(sorted(eqn.params.items())))
    text = str(closed)
    assert "dimension_numbers=GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,)" \
        in text
    assert "mode=GatherScatterMode.FILL_OR_DROP" in text and "fill_value=nan" in text


# ---------------------------------------------------------------------------------------------
# Derivatives: finite differences (fwd), dot-product identity (rev), to order 2, in float64

IDX = I([[0], [2], [2], [4]])
UIDX = I([[0], [2], [3]])
RNG = np.random.RandomState(3)
X54 = RNG.randn(5, 4)
U44 = RNG.randn(4, 4)
U34 = RNG.randn(3, 4)

GRAD_CASES = [
    ("gather", lambda x: lax.gather(x, IDX, GDN, (1, 4)), (X54,)),
    ("gather-clip-oob", lambda x: lax.gather(x, IDX + 3, GDN, (1, 4), mode="clip"), (X54,)),
    ("gather-fill-oob", lambda x: lax.gather(x, IDX + 3, GDN, (1, 4), mode="fill",
                                             fill_value=2.0), (X54,)),
    ("dynamic_slice", lambda x: lax.dynamic_slice(x, (1, 2), (3, 2)), (X54,)),
    ("dynamic_slice-clamped", lambda x: lax.dynamic_slice(x, (4, -1), (3, 2)), (X54,)),
    ("dynamic_update_slice", lambda x, u: lax.dynamic_update_slice(x, u, (4, 1)),
     (X54, U34[:2, :2])),
    ("scatter_add", lambda x, u: lax.scatter_add(x, IDX, u, SDN), (X54, U44)),
    ("scatter-dup", lambda x, u: lax.scatter(x, IDX, u, SDN), (X54, U44)),
    ("scatter-unique", lambda x, u: lax.scatter(x, UIDX, u, SDN, unique_indices=True),
     (X54, U34)),
    ("scatter_mul-unique", lambda x, u: lax.scatter_mul(x, UIDX, u, SDN, unique_indices=True),
     (X54, U34)),
    ("scatter_min", lambda x, u: lax.scatter_min(x, IDX, u, SDN), (X54, U44)),
    ("scatter_max", lambda x, u: lax.scatter_max(x, IDX, u, SDN), (X54, U44)),
    ("getitem-adv", lambda x: x[1:, I([0, 0, 3])], (X54,)),
    ("getitem-strided", lambda x: x[::-2, 1], (X54,)),
    ("getitem-mask", lambda x: x[X54[:, 0] > 0], (X54,)),
    ("at-set-dup", lambda x, u: x.at[I([0, 0, 3])].set(u), (X54, U34)),
    ("at-set-slices", lambda x, u: x.at[1:3, ::2].set(u), (X54, U34[:2, :2])),
    ("at-add-dup", lambda x, u: x.at[I([0, 0, 3])].add(u), (X54, U34)),
    ("at-multiply", lambda x: x.at[I([0, 0, 3])].multiply(U34), (X54,)),
    ("at-apply", lambda x: x.at[I([1, 3])].apply(hnp.sin), (X54,)),
    ("take_along_axis", lambda x: hnp.take_along_axis(x, np.argsort(X54, 1), 1), (X54,)),
    ("sort", lambda x: hnp.sort(x, axis=0), (X54,)),
]


@pytest.mark.parametrize("fun,args", [c[1:] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_grads(fun, args, x64):
    check_grads(lambda *xs: fun(*[hnp.asarray(x) for x in xs]), args, order=2,
                modes=("fwd", "rev"))


def test_grad_formulas(x64):
    x = hnp.asarray(X54)
    g = hd.grad(lambda x: hnp.sum(x[I([0, 0, 3]), 1:] ** 2))(x)
    want = np.zeros_like(X54)
    want[0, 1:] = 2 * 2 * X54[0, 1:]
    want[3, 1:] = 2 * X54[3, 1:]
    _assert_same(g, want)
    # overwritten entries get no gradient; the update gets the cotangent of its slot
    gx, gu = hd.grad(lambda x, u: hnp.sum(x.at[1:3].set(u) * 3.0), argnums=(0, 1))(
        x, hnp.asarray(U34[:2]))
    want = np.full_like(X54, 3.0)
    want[1:3] = 0
    _assert_same(gx, want)
    _assert_same(gu, np.full((2, 4), 3.0))
    # scatter-add: the update cotangent is the gathered output cotangent
    gu = hd.grad(lambda u: hnp.sum(x.at[I([0, 0, 3])].add(u) * hnp.arange(5.0)[:, None]))(
        hnp.asarray(U34))
    _assert_same(gu, np.repeat(I([[0.0], [0.0], [3.0]]), 4, axis=1))
    # duplicates in set: exactly one update wins, and only it gets the gradient
    gu = hd.grad(lambda u: hnp.sum(hnp.zeros(3).at[I([1, 1])].set(u)))(hnp.asarray([2.0, 5.0]))
    assert sorted(np.asarray(gu).tolist()) == [0.0, 1.0]
    # traced dynamic index: the gradient lands on the clamped row
    g = hd.grad(lambda x, i: hnp.sum(x[i]))(x, I(9))
    want = np.zeros_like(X54)
    want[4] = 1
    _assert_same(g, want)


def test_grad_out_of_bounds_jax(x64):
    x = hnp.arange(5.0)
    # promise_in_bounds gathers clamp forward but drop out-of-bounds cotangents (as JAX does)
    _assert_same(hd.grad(lambda x: hnp.sum(x[I([9, 0])]))(x), I([1.0, 0, 0, 0, 0]))
    _assert_same(hd.grad(lambda x: hnp.sum(x.at[I([9, 1])].add(x[:2] ** 2)))(x),
                 I([1.0, 3, 1, 1, 1]))
    jax, jnp = _jax()
    for f, jf in [(lambda x: hnp.sum(x[I([9, 0])]), lambda x: jnp.sum(x[I([9, 0])])),
                  (lambda x: hnp.sum(x.at[I([9, 1])].get(mode="fill", fill_value=0.0)),
                   lambda x: jnp.sum(x.at[I([9, 1])].get(mode="fill", fill_value=0.0))),
                  (lambda x: hnp.sum(x.at[I([9, 1])].add(x[:2] ** 2)),
                   lambda x: jnp.sum(x.at[I([9, 1])].add(x[:2] ** 2)))]:
        _assert_same(hd.grad(f)(hnp.arange(5.0)), jax.grad(jf)(jnp.arange(5.0)))


def test_scatter_mul_update_grad_needs_unique_indices(x64):
    with pytest.raises(NotImplementedError, match="unique_indices"):
        hd.jvp(lambda u: lax.scatter_mul(X54, IDX, u, SDN), (U44,), (U44,))


# ---------------------------------------------------------------------------------------------
# vmap against a Python loop, for operand / indices / both batched and several in_axes

B = 3


def _batched(a, axis):
    if axis is None:
        return a
    a = np.asarray(a)
    parts = [a + 0.5 * k if a.dtype.kind == "f" else (a + k) % 4 for k in range(B)]
    return np.stack(parts, axis=axis)


def _vmap_vs_loop(fun, args, in_axes):
    out = hd.vmap(fun, in_axes=in_axes)(*args)
    loop = []
    for b in range(B):
        sl = [a if ax is None else np.take(a, b, axis=ax) for a, ax in zip(args, in_axes)]
        loop.append(np.asarray(fun(*[hnp.asarray(s) for s in sl])))
    np.testing.assert_allclose(np.asarray(out), np.stack(loop), rtol=1e-6, err_msg=str(in_axes))


X54F = X54.astype(np.float32)
VMAP_CASES = [
    ("gather", lambda x, i: lax.gather(x, i, GDN, (1, 4)), (X54F, IDX)),
    ("gather-fill", lambda x, i: lax.gather(x, i, GDN, (1, 4), mode="fill"), (X54F, IDX + 2)),
    ("gather-clip", lambda x, i: lax.gather(x, i, GDN, (1, 4), mode="clip"), (X54F, IDX + 2)),
    ("dynamic_slice", lambda x, s: lax.dynamic_slice(x, (s, 1), (2, 3)), (X54F, I(3))),
    ("dynamic_update_slice", lambda x, s: lax.dynamic_update_slice(
        x, np.ones((2, 3), np.float32), (s, 2)), (X54F, I(4))),
    ("getitem-scalar", lambda x, s: x[s], (X54F, I(-1))),
    ("getitem-array", lambda x, i: x[i[:, 0], 1:], (X54F, IDX)),
    ("at-add", lambda x, i: x.at[i[:, 0], ::2].add(1.0), (X54F, IDX)),
    ("at-set", lambda x, i: x.at[i[:, 0]].set(-1.0), (X54F, IDX)),
    ("take_along_axis", lambda x, i: hnp.take_along_axis(x, i % 4 + hnp.zeros((1, 4), np.int32),
                                                         0), (X54F, IDX)),
]
SCATTERS = ["scatter_add", "scatter_mul", "scatter_min", "scatter_max"]
AXES = [0, 1, -1]


def _in_axes_combos(n_batchable):
    for axes in itertools.product([None] + AXES, repeat=n_batchable):
        if any(a is not None for a in axes) and len({a for a in axes if a is not None}) <= 2:
            yield axes


@pytest.mark.parametrize("in_axes", list(_in_axes_combos(2)), ids=str)
@pytest.mark.parametrize("fun,args", [c[1:] for c in VMAP_CASES], ids=[c[0] for c in VMAP_CASES])
def test_vmap_matches_loop(fun, args, in_axes):
    if np.ndim(args[1]) == 0 and in_axes[1] not in (None, 0):
        in_axes = (in_axes[0], 0)
    args = [_batched(a, ax) for a, ax in zip(args, in_axes)]
    _vmap_vs_loop(lambda *xs: fun(*[hnp.asarray(x) for x in xs]), args, in_axes)


@pytest.mark.parametrize("name", SCATTERS + ["scatter"])
@pytest.mark.parametrize("in_axes", [(0, None, None), (None, 0, None), (None, None, 1),
                                     (1, 0, None), (None, -1, -1), (-1, 1, 0), (0, 0, 0)],
                         ids=str)
def test_vmap_scatter_matches_loop(name, in_axes):
    idx = UIDX if name == "scatter" else IDX
    upd = U34 if name == "scatter" else U44
    fn = getattr(lax, name)
    args = [_batched(a, ax) for a, ax in zip((X54F, idx, upd.astype(np.float32)), in_axes)]
    _vmap_vs_loop(lambda x, i, u: fn(x, i, u, SDN), args, in_axes)


def test_vmap_gives_one_primitive():
    x, idx = _batched(X54F, 0), _batched(IDX, 0)
    closed = hd.make_jaxpr(hd.vmap(lambda x, i: lax.gather(x, i, GDN, (1, 4))))(x, idx)
    assert _eqn_names(closed) == ["gather"]
    (eqn,) = closed.jaxpr.eqns
    assert eqn.params["dimension_numbers"].operand_batching_dims == (0,)
    assert eqn.params["dimension_numbers"].start_indices_batching_dims == (0,)
    closed = hd.make_jaxpr(hd.vmap(lambda x, i, u: lax.scatter_add(x, i, u, SDN),
                                   in_axes=(1, 0, 2)))(
        _batched(X54F, 1), idx, _batched(U44.astype(np.float32), 2))
    assert _eqn_names(closed).count("scatter-add") == 1
    names = _eqn_names(hd.make_jaxpr(hd.vmap(lambda x, s: lax.dynamic_slice(x, (s, 1), (2, 3))))(
        x, I([0, 1, 2])))
    assert names.count("gather") == 1 and "dynamic_slice" not in names
    names = _eqn_names(hd.make_jaxpr(hd.vmap(lambda x: lax.dynamic_slice(x, (1, 1), (2, 3)),
                                             in_axes=1, out_axes=1))(_batched(X54F, 1)))
    assert names == ["dynamic_slice"]
    names = _eqn_names(hd.make_jaxpr(hd.vmap(lambda x, s: lax.dynamic_update_slice(
        x, np.ones((2, 3), np.float32), (s, 1))))(x, I([0, 1, 2])))
    assert names.count("scatter") == 1 and "dynamic_update_slice" not in names


def test_vmap_of_grad_through_indexing(x64):
    x = _batched(X54, 0)

    def loss(x, i):
        return hnp.sum(x.at[i].add(x[i] ** 2) ** 2)

    out = hd.vmap(hd.grad(loss), in_axes=(0, None))(x, I([0, 0, 2]))
    for b in range(B):
        _assert_same(out[b], hd.grad(loss)(hnp.asarray(x[b]), I([0, 0, 2])))


def test_transformed_jaxprs_typecheck():
    def loss(x, i):
        x = hnp.asarray(x)
        y = x.at[i].set(x[i[::-1]] * 2.0)
        return hnp.sum(hnp.sort(y, axis=0)[1:, ::2] ** 2)

    i = I([0, 0, 3], np.int32)
    cases = [(hd.grad(loss), (X54F, i)),
             (hd.vmap(hd.grad(loss), in_axes=(0, None)), (_batched(X54F, 0), i)),
             (hd.vmap(loss, in_axes=(None, 0)), (X54F, np.stack([i, i[::-1]])))]
    for f, args in cases:
        closed = hd.make_jaxpr(f)(*args)
        typecheck_jaxpr(closed.jaxpr)
        (out,) = eval_jaxpr(closed.jaxpr, closed.consts, *args)
        _assert_same(out, f(*args))
