"""Tests for `hlodiff.random` and the PRNG primitives in `hlodiff/prims/random.py`.

- Bits recorded from JAX (`tests/data/random_bits.json`, made by `record_random_bits.py`) must be
  reproduced exactly, for both `threefry_partitionable` settings, with x64 off and on.
- Without JAX: Threefry's published test vectors, sample statistics, vmap against a Python
  loop, staging under `jit`, the key type's behaviour and errors, derivatives.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import pathlib
import re

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff import random
from hlodiff.prims import elementwise as ew
from hlodiff.prims import random as prandom

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "random_bits.json").read_text())


@contextlib.contextmanager
def flags(x64: bool = False, partitionable: bool = False):
    saved = hd.config.enable_x64, hd.config.threefry_partitionable
    hd.config.update("enable_x64", x64)
    hd.config.update("threefry_partitionable", partitionable)
    try:
        yield
    finally:
        hd.config.update("enable_x64", saved[0])
        hd.config.update("threefry_partitionable", saved[1])


@contextlib.contextmanager
def xla_log_kernels():
    """lax.log/log1p evaluated with XLA's CPU kernels (see `prims/random.py`), as JAX does."""
    saved = ew.log_p.impl, ew.log1p_p.impl
    ew.log_p.impl, ew.log1p_p.impl = prandom.xla_log_impl, prandom.xla_log1p_impl
    try:
        yield
    finally:
        ew.log_p.impl, ew.log1p_p.impl = saved


def both_modes(fn):
    return pytest.mark.parametrize("partitionable", [False, True],
                                   ids=["original", "partitionable"])(fn)


def arr(x) -> np.ndarray:
    return np.asarray(x)


# ---------------------------------------------------------------------------------------------
# Recorded JAX bits


def _decode(x):
    if isinstance(x, dict) and "__array__" in x:
        return np.asarray(x["__array__"], x["dtype"])
    if isinstance(x, dict) and "__dtype__" in x:
        return np.dtype(x["__dtype__"])
    if isinstance(x, list):
        return tuple(_decode(v) for v in x)
    if isinstance(x, dict):
        return {k: _decode(v) for k, v in x.items()}
    return x


def _describe(x) -> str:
    if isinstance(x, dict) and "__array__" in x:
        return f"{x['dtype']}{list(np.shape(x['__array__']))}".replace(" ", "")
    if isinstance(x, dict) and "__dtype__" in x:
        return x["__dtype__"]
    return str(x).replace(" ", "")


def _case_id(case) -> str:
    parts = [case["fn"]] + [_describe(a) for a in case["args"]]
    parts += [f"{k}={_describe(v)}" for k, v in case["kwargs"].items()]
    parts += [f"seed{case['seed']}", "x64" if case["x64"] else "x32",
              "part" if case["partitionable"] else "orig"] + (["raw"] if case["raw_key"] else [])
    return "-".join(parts)


# Samplers that go through lax.log / lax.log1p, whose eager kernels are not yet XLA's.
LOG_DEPENDENT = {"exponential", "gumbel", "categorical"}


def _uses_log(case) -> bool:
    kw = case["kwargs"]
    return case["fn"] in LOG_DEPENDENT or (case["fn"] == "choice" and "p" in kw
                                           and kw.get("replace") is False)


def _run_case(case):
    args, kwargs, seed = _decode(case["args"]), _decode(case["kwargs"]), case["seed"]
    fn = case["fn"]
    if fn == "key":
        return random.key_data(random.key(seed))
    if fn == "PRNGKey":
        return random.PRNGKey(seed)
    key = random.PRNGKey(seed) if case["raw_key"] else random.key(seed)
    out = getattr(random, fn)(key, *args, **kwargs)
    return random.key_data(out) if fn in ("split", "fold_in") and not case["raw_key"] else out


def assert_recorded(out, rec, what=""):
    out = np.array(out, order="C")
    assert (out.dtype.name, list(out.shape)) == (rec["dtype"], rec["shape"]), what
    if "hex" in rec:
        want = np.frombuffer(bytes.fromhex(rec["hex"]), out.dtype).reshape(out.shape)
        np.testing.assert_array_equal(out, want, err_msg=what)
    else:
        assert hashlib.sha256(out.tobytes()).hexdigest() == rec["sha256"], what


@pytest.mark.parametrize("case", DATA["cases"], ids=[_case_id(c) for c in DATA["cases"]])
def test_recorded_bits(case):
    kernels = xla_log_kernels() if _uses_log(case) else contextlib.nullcontext()
    with flags(case["x64"], case["partitionable"]), kernels:
        assert_recorded(_run_case(case), case["out"], _case_id(case))


LOG_CASES = [c for c in DATA["cases"] if c["fn"] in ("exponential", "gumbel")
             and "hex" in c["out"]]


@pytest.mark.parametrize("case", LOG_CASES, ids=[_case_id(c) for c in LOG_CASES])
def test_log_samplers_close_with_current_log_kernels(case):
    """With the elementwise log/log1p as they are (correctly rounded): a few ulp off, absolute
    near the zero of -log(-log(u))."""
    with flags(case["x64"], case["partitionable"]):
        out = arr(_run_case(case))
    rec = case["out"]
    want = np.frombuffer(bytes.fromhex(rec["hex"]), rec["dtype"]).reshape(rec["shape"])
    tol = (16 if out.dtype == np.float32 else 1024) * np.finfo(out.dtype).eps
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)


def test_recorded_data_covers_every_sampler_and_mode():
    seen = {(c["fn"], c["x64"], c["partitionable"]) for c in DATA["cases"]}
    for fn in ["key", "PRNGKey", "split", "fold_in", "bits", "uniform", "normal",
               "truncated_normal", "bernoulli", "randint", "exponential", "gumbel",
               "categorical", "permutation", "choice", "multivariate_normal"]:
        for x64 in (False, True):
            for part in (False, True):
                assert (fn, x64, part) in seen, (fn, x64, part)


# ---------------------------------------------------------------------------------------------
# The tutorial's values


def test_spec_model_initialisation():
    """`key, W_key, b_key = random.split(random.key(0), 3)` and the normals drawn from it."""
    spec = DATA["spec"]
    with flags():
        key = random.key(0)
        key, W_key, b_key = random.split(key, 3)
        W = random.normal(W_key, (3,))
        b = random.normal(b_key, ())
    assert_recorded(W, spec["W"], "W")
    assert_recorded(b, spec["b"], "b")
    assert_recorded(random.key_data(key), spec["key"], "key")
    assert str(W) == spec["W_str"] == "[-0.36838785 -2.275689    0.01144757]"
    assert str(b) == spec["b_str"] == "0.8535516"


# The tutorial's `print(J)` after `J = jacfwd(f)(W)`.
SPEC_JACFWD = """\
[[ 0.05981758  0.12883787  0.08857603]
 [ 0.04015916 -0.04928625  0.00684531]
 [ 0.12188288  0.01406341 -0.3047072 ]
 [ 0.00140431 -0.00472531  0.00263782]]"""


def test_spec_jacobian_with_xla_tanh_kernel():
    """The tutorial's `jacfwd` print needs W and b from here and XLA's float32 tanh kernel
    (`prims.random.xla_tanh_f32_impl`, patched in for this test): with numpy's tanh the last
    row is off in its last two digits (1 - tanh^2 amplifies tanh's last-bit differences)."""

    def sigmoid(x):
        return 0.5 * (hnp.tanh(x / 2) + 1)

    def predict(W, b, inputs):
        return sigmoid(hnp.dot(inputs, W) + b)

    inputs = hnp.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30],
                        [0.74, -2.49, 1.39]])
    saved = ew.tanh_p.impl
    ew.tanh_p.impl = lambda x: (prandom.xla_tanh_f32_impl(x) if x.dtype == np.float32
                                else saved(x))
    try:
        with flags():
            _, W_key, b_key = random.split(random.key(0), 3)
            W, b = random.normal(W_key, (3,)), random.normal(b_key, ())
            J = hd.jacfwd(lambda W: predict(W, b, inputs))(W)
    finally:
        ew.tanh_p.impl = saved
    assert J.shape == (4, 3) and str(J) == SPEC_JACFWD


# ---------------------------------------------------------------------------------------------
# threefry2x32 without JAX: Random123's known-answer vectors (20 rounds)


@pytest.mark.parametrize("key, count, expected", [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
])
def test_threefry_known_answers(key, count, expected):
    u = [np.uint32(v) for v in (*key, *count)]
    out = prandom.threefry2x32(*u)
    assert [int(o) for o in out] == list(expected)


def test_threefry_broadcasts_and_batches():
    k1, k2 = np.uint32(7), np.uint32(9)
    x1 = np.arange(6, dtype=np.uint32).reshape(2, 3)
    x2 = x1 * np.uint32(3)
    y1, y2 = prandom.threefry2x32(k1, k2, x1, x2)
    for i in range(2):
        for j in range(3):
            e1, e2 = prandom.threefry2x32(k1, k2, x1[i, j], x2[i, j])
            assert (int(y1[i, j]), int(y2[i, j])) == (int(e1), int(e2))
    keys = np.array([[1, 2], [3, 4], [5, 6]], np.uint32)
    batched = hd.vmap(lambda k: prandom.threefry2x32(k[0], k[1], x1, x2))(keys)
    for i, k in enumerate(keys):
        loop = prandom.threefry2x32(k[0], k[1], x1, x2)
        for b, l in zip(batched, loop):
            np.testing.assert_array_equal(arr(b)[i], arr(l))
    with pytest.raises(TypeError, match="uint32"):
        prandom.threefry2x32(np.int32(1), k2, x1, x2)


# ---------------------------------------------------------------------------------------------
# Keys


def test_key_repr_dtype_and_shape():
    key = random.key(0)
    assert repr(key) == "Array((), dtype=key<fry>) overlaying:\n[0 0]"
    assert key.shape == () and key.ndim == 0 and str(key.dtype) == "key<fry>"
    assert key.dtype.name == "key<fry>" and random.key_impl(key) == "threefry2x32"
    keys = random.split(key, 3)
    assert repr(keys).startswith("Array((3,), dtype=key<fry>) overlaying:\n[[")
    assert keys.shape == (3,) and len(keys) == 3


@both_modes
def test_split_unpacks_into_keys(partitionable):
    with flags(partitionable=partitionable):
        key, W_key, b_key = random.split(random.key(0), 3)
        data = arr(random.key_data(random.split(random.key(0), 3)))
    for i, k in enumerate((key, W_key, b_key)):
        assert isinstance(k, random.PRNGKeyArray) and k.shape == ()
        np.testing.assert_array_equal(arr(random.key_data(k)), data[i])
    grid = random.split(random.key(1), (2, 3))
    assert grid.shape == (2, 3) and grid[1, 2].shape == () and grid[0].shape == (3,)
    assert random.key_data(grid).shape == (2, 3, 2)


def test_key_data_round_trip_equality_and_pytree():
    k = random.key(5)
    k2 = random.wrap_key_data(random.key_data(k))
    assert bool(k == k2) and not bool(k != k2)
    assert not bool(k == random.key(6))
    leaves, tree = hd.tree_flatten({"k": k, "x": 1.0})
    assert len(leaves) == 2 and arr(leaves[0]).dtype == np.uint32
    rebuilt = hd.tree_unflatten(tree, leaves)
    assert isinstance(rebuilt["k"], random.PRNGKeyArray)
    mapped = hd.tree_map(lambda x: x, random.split(k, 4))
    assert isinstance(mapped, random.PRNGKeyArray) and mapped.shape == (4,)


def test_raw_keys():
    raw = random.PRNGKey(3)
    assert arr(raw).dtype == np.uint32 and arr(raw).tolist() == [0, 3]
    sub = random.split(raw)
    assert not isinstance(sub, random.PRNGKeyArray) and arr(sub).shape == (2, 2)
    typed = random.split(random.key(3))
    np.testing.assert_array_equal(arr(sub), arr(random.key_data(typed)))
    np.testing.assert_array_equal(arr(random.normal(raw, (3,))),
                                  arr(random.normal(random.key(3), (3,))))


@pytest.mark.parametrize("x64", [False, True], ids=["x32", "x64"])
def test_seeds_like_jax(x64):
    with flags(x64=x64):
        data = {s: arr(random.key_data(random.key(s))).tolist()
                for s in (0, 7, -1, 2**32 + 5, 2**40 + 7)}
    hi = lambda s: (s >> 32) & 0xFFFFFFFF if x64 else 0
    for s, words in data.items():
        lo = s & 0xFFFFFFFF
        assert words == [hi(s), lo], s
    with pytest.raises(OverflowError):
        random.key(2**64)


def test_key_errors():
    with pytest.raises(TypeError, match="integer"):
        random.key(1.0)
    with pytest.raises(TypeError, match="scalar seed"):
        random.key(np.array([1, 2]))
    with pytest.raises(TypeError, match="scalar seed"):
        random.key(random.key(0))
    with pytest.raises(ValueError, match="single key.*vmap"):
        random.normal(random.split(random.key(0)), (2,))
    with pytest.raises(TypeError, match="shapes must be"):
        random.normal(random.key(0), 3)
    with pytest.raises(TypeError, match="scalar"):
        random.fold_in(random.key(0), np.arange(2))
    with pytest.raises(TypeError, match="raw PRNG key"):
        random.normal(np.zeros(2, np.int32))
    with pytest.raises(TypeError, match="key_data"):
        np.asarray(random.key(0))
    with pytest.raises(TypeError, match="0-d"):
        iter(random.key(0))
    with pytest.raises(ValueError, match="dtype"):
        random.uniform(random.key(0), (2,), np.int32)


# ---------------------------------------------------------------------------------------------
# vmap against a Python loop, jit staging


def _stack(xs):
    return np.stack([arr(x) for x in xs])


SAMPLERS = {
    "normal": lambda k: random.normal(k, (3,)),
    "uniform": lambda k: random.uniform(k, (2, 2), minval=-1.0, maxval=3.0),
    "bits8": lambda k: random.bits(k, (5,), np.uint8),
    "randint": lambda k: random.randint(k, (4,), -5, 17),
    "bernoulli": lambda k: random.bernoulli(k, 0.3, (4,)),
    "truncated_normal": lambda k: random.truncated_normal(k, -1.0, 1.0, (3,)),
    "permutation": lambda k: random.permutation(k, 6),
    "choice": lambda k: random.choice(k, 7, (3,), replace=False),
    "exponential": lambda k: random.exponential(k, (3,)),
    "categorical": lambda k: random.categorical(k, hnp.array([0.1, 1.0, 2.0])),
    "split": lambda k: random.key_data(random.split(k, 3)),
    "fold_in": lambda k: random.key_data(random.fold_in(k, 11)),
}


@both_modes
@pytest.mark.parametrize("name", list(SAMPLERS))
def test_vmap_over_keys_matches_loop(name, partitionable):
    f = SAMPLERS[name]
    with flags(partitionable=partitionable):
        keys = random.split(random.key(2), 4)
        batched = hd.vmap(f)(keys)
        loop = _stack([f(k) for k in keys])
    np.testing.assert_array_equal(arr(batched), loop)


def test_vmap_over_raw_keys_seeds_and_data():
    raw = random.split(random.PRNGKey(1), 3)
    np.testing.assert_array_equal(arr(hd.vmap(lambda k: random.normal(k, (2,)))(raw)),
                                  _stack([random.normal(k, (2,)) for k in arr(raw)]))
    seeds = hnp.arange(4)
    keys = hd.vmap(random.key)(seeds)
    assert isinstance(keys, random.PRNGKeyArray) and keys.shape == (4,)
    np.testing.assert_array_equal(arr(random.key_data(keys)),
                                  _stack([random.key_data(random.key(s)) for s in range(4)]))
    k = random.key(0)
    folded = hd.vmap(lambda d: random.key_data(random.fold_in(k, d)))(hnp.arange(3))
    np.testing.assert_array_equal(arr(folded),
                                  _stack([random.key_data(random.fold_in(k, d))
                                          for d in range(3)]))
    lows = hnp.array([0, 10, 20])
    out = hd.vmap(lambda lo: random.randint(k, (5,), lo, lo + 3))(lows)
    np.testing.assert_array_equal(arr(out), _stack([random.randint(k, (5,), lo, lo + 3)
                                                   for lo in (0, 10, 20)]))


def test_keys_returned_from_vmap_are_keys():
    keys = random.split(random.key(0), 3)
    out = hd.vmap(lambda k: random.split(k, 2))(keys)
    assert isinstance(out, random.PRNGKeyArray) and out.shape == (3, 2)
    np.testing.assert_array_equal(arr(random.key_data(out)),
                                  _stack([random.key_data(random.split(k, 2)) for k in keys]))


def _primitive_names(jaxpr) -> list:
    return [str(e.primitive) for e in jaxpr.jaxpr.eqns] if hasattr(jaxpr, "jaxpr") else []


@both_modes
def test_threefry_is_staged_under_jit(partitionable):
    with flags(partitionable=partitionable):
        jaxpr = hd.make_jaxpr(lambda k: random.normal(k, (3,)))(random.key(0))
        traced = hd.jit(lambda k: random.uniform(random.split(k)[1], (2,))).trace(
            random.key(0))
    text = str(jaxpr)
    assert re.search(r"; \w+:u32\[2\]\. let", text)  # the key arrives as its uint32 data
    assert "threefry2x32" in text and "erf_inv" in text
    assert str(traced).count("threefry2x32") == 2


@both_modes
@pytest.mark.parametrize("x64", [False, True], ids=["x32", "x64"])
def test_jit_matches_eager(x64, partitionable):
    """Compiled with IREE: the bits are exact; floats (IREE's erf_inv) within a few ulp."""
    pytest.importorskip("hlodiff.lowering")
    pytest.importorskip("iree.runtime")

    def f(k):
        k1, k2 = random.split(k)
        return (random.bits(k1, (7,), np.uint8), random.randint(k2, (3, 2), -4, 9),
                random.key_data(random.fold_in(k, 3)), random.uniform(k1, (4,), minval=-1.0),
                random.normal(k2, (5,)), random.permutation(k1, 6))

    with flags(x64, partitionable):
        key = random.key(4)
        compiled, eager = hd.jit(f)(key), f(key)
        keys = random.split(key, 3)
        g = hd.vmap(lambda k: (random.normal(k, (4,)), random.randint(k, (2,), 0, 5)))
        compiled, eager = compiled + hd.jit(g)(keys), eager + g(keys)
    for a, b in zip(compiled, eager):
        a, b = arr(a), arr(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        if np.issubdtype(a.dtype, np.floating):
            np.testing.assert_allclose(a, b, rtol=32 * np.finfo(a.dtype).eps)
        else:
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# Distributions (no reference needed)

N = 200_000


@both_modes
def test_normal_moments(partitionable):
    with flags(partitionable=partitionable):
        x = arr(random.normal(random.key(0), (N,)))
    assert x.dtype == np.float32
    assert abs(x.mean()) < 0.01 and abs(x.var() - 1) < 0.02
    assert abs(np.mean(np.abs(x) < 1) - 0.6827) < 0.005


def test_normal_float64_and_complex():
    with flags(x64=True):
        x = arr(random.normal(random.key(1), (N,)))
    assert x.dtype == np.float64 and abs(x.mean()) < 0.01 and abs(x.var() - 1) < 0.02
    z = arr(random.normal(random.key(1), (N,), np.complex64))
    assert z.dtype == np.complex64 and abs(z.real.var() - 0.5) < 0.01


def test_uniform_range_and_mean():
    x = arr(random.uniform(random.key(0), (N,), minval=-2.0, maxval=3.0))
    assert x.min() >= -2.0 and x.max() < 3.0 and abs(x.mean() - 0.5) < 0.02
    u = arr(random.uniform(random.key(1), (N,)))
    assert u.min() >= 0 and u.max() < 1
    assert abs(np.mean(u < 0.25) - 0.25) < 0.005


def test_bits_are_balanced():
    b = arr(random.bits(random.key(0), (N,)))
    assert b.dtype == np.uint32
    ones = np.unpackbits(b.view(np.uint8)).mean()
    assert abs(ones - 0.5) < 0.002


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.uint32])
def test_randint_bounds(dtype):
    lo = -3 if np.dtype(dtype).kind == "i" else 0
    x = arr(random.randint(random.key(0), (20_000,), lo, 11, dtype))
    assert x.dtype == dtype
    assert x.min() == lo and x.max() == 10 and set(np.unique(x)) == set(range(lo, 11))
    full = arr(random.randint(random.key(1), (1000,), 0, 256, np.uint8))
    assert full.max() > 250  # maxval beyond the dtype's range samples the whole range
    empty = arr(random.randint(random.key(1), (10,), 5, 5))
    assert (empty == 5).all()


def test_bernoulli_truncated_exponential_gumbel():
    key = random.key(3)
    assert abs(arr(random.bernoulli(key, 0.3, (N,))).mean() - 0.3) < 0.005
    assert abs(arr(random.bernoulli(key, 0.3, (N,), mode="high")).mean() - 0.3) < 0.005
    t = arr(random.truncated_normal(key, -0.5, 1.5, (N,)))
    assert t.min() > -0.5 and t.max() < 1.5
    assert abs(arr(random.exponential(key, (N,))).mean() - 1) < 0.01
    assert abs(arr(random.gumbel(key, (N,))).mean() - np.euler_gamma) < 0.01
    assert abs(arr(random.gumbel(key, (N,), mode="high")).mean() - np.euler_gamma) < 0.01


def test_permutation_and_choice():
    key = random.key(7)
    perm = arr(random.permutation(key, 50))
    assert sorted(perm.tolist()) == list(range(50)) and perm.tolist() != list(range(50))
    x = np.arange(20).reshape(4, 5)
    rows = arr(random.permutation(key, x))
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, x.tolist()))
    cols = arr(random.permutation(key, x, axis=1, independent=True))
    assert all(sorted(r) == sorted(o) for r, o in zip(cols.tolist(), x.tolist()))
    picks = arr(random.choice(key, 10, (6,), replace=False))
    assert len(set(picks.tolist())) == 6
    sub = arr(random.choice(key, x, (2,), replace=False, axis=1))
    assert sub.shape == (4, 2)
    p = np.array([0.0, 0.5, 0.5], np.float32)
    drawn = arr(random.choice(key, 3, (1000,), p=p))
    assert set(drawn.tolist()) == {1, 2}
    taken = arr(random.choice(key, np.array([10.0, 20.0, 30.0]), (4, 2)))
    assert set(taken.ravel().tolist()) <= {10.0, 20.0, 30.0}


def test_categorical_frequencies():
    logits = np.log(np.array([0.2, 0.3, 0.5], np.float32))
    draws = arr(random.categorical(random.key(0), logits, shape=(50_000,)))
    freq = np.bincount(draws, minlength=3) / draws.size
    np.testing.assert_allclose(freq, [0.2, 0.3, 0.5], atol=0.01)
    no_rep = arr(random.categorical(random.key(0), logits, shape=(3,), replace=False))
    assert sorted(no_rep.tolist()) == [0, 1, 2]


def test_multivariate_normal_covariance():
    mean = np.array([1.0, -2.0], np.float32)
    cov = np.array([[2.0, 0.6], [0.6, 0.5]], np.float32)
    x = arr(random.multivariate_normal(random.key(0), mean, cov, (N,)))
    np.testing.assert_allclose(x.mean(0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.03)
    for method in ("eigh", "svd"):
        y = arr(random.multivariate_normal(random.key(0), mean, cov, (N,), method=method))
        np.testing.assert_allclose(np.cov(y.T), cov, atol=0.03)


def test_multivariate_normal_with_traced_cov():
    mean, cov = np.zeros(2, np.float32), np.array([[2.0, 0.5], [0.5, 1.0]], np.float32)
    f = lambda c: random.multivariate_normal(random.key(0), mean, c, (3,))
    assert "cholesky" in str(hd.make_jaxpr(f)(cov))
    np.testing.assert_array_equal(arr(hd.vmap(f)(np.stack([cov, cov]))[1]), arr(f(cov)))


# ---------------------------------------------------------------------------------------------
# Derivatives


@pytest.mark.parametrize("name", ["erf_inv", "erf"])
def test_special_function_jvp(name):
    fn = getattr(prandom, name)
    with flags(x64=True):
        x = np.array([-0.7, -0.1, 0.3, 0.9])
        eps = 1e-6
        num = (arr(fn(x + eps)) - arr(fn(x - eps))) / (2 * eps)
        _, tangent = hd.jvp(fn, (x,), (np.ones_like(x),))
        np.testing.assert_allclose(arr(tangent), num, rtol=1e-6)


def test_mul_add_matches_fma_and_differentiates():
    x, y, z = (np.float32(v) for v in (1 + 2**-23, 1 - 2**-23, -1.0))
    assert float(prandom.mul_add(x, y, z)) == -(2.0**-46)  # x*y - 1 exactly, not rounded to 0
    with flags(x64=True):
        a, b, c = 1.5, -2.0, 0.25
        grads = hd.grad(lambda a, b, c: prandom.mul_add(a, b, c), argnums=(0, 1, 2))(a, b, c)
    assert [float(g) for g in grads] == [-2.0, 1.5, 1.0]


def test_grad_through_samplers():
    key = random.key(0)
    u = arr(random.uniform(key, (4,)))
    g = hd.grad(lambda lo: hnp.sum(random.uniform(key, (4,), minval=lo, maxval=3.0)))(1.0)
    np.testing.assert_allclose(float(g), np.sum(1 - u), rtol=1e-6)
    gm = hd.grad(lambda m: hnp.sum(random.multivariate_normal(key, m, np.eye(2), (3,))))(
        hnp.zeros(2))
    np.testing.assert_allclose(arr(gm), [3.0, 3.0])


def test_xla_kernels_special_values():
    f32 = np.float32
    x = np.array([0, -0.0, 1, np.inf, -1, np.nan, 1e-40], f32)
    log = prandom.xla_log_impl(x)
    assert log[0] == -np.inf and log[2] == 0 and log[3] == np.inf and np.isnan(log[4])
    assert log[6] == -np.inf  # subnormals read as zero, as on XLA's CPU runtime
    e = prandom.erf_inv_p.impl(np.array([1, -1, 0, 0.5], f32))
    assert e[0] == np.inf and e[1] == -np.inf and e[2] == 0
    assert abs(float(e[3]) - 0.4769362762) < 1e-6
    assert math.isclose(float(prandom.erf_p.impl(np.array(0.5, f32))), math.erf(0.5),
                        rel_tol=1e-6)
