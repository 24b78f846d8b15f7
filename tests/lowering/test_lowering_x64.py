"""64-bit types under `enable_x64`: f64, i64, u64 and c128 lowered, run on IREE llvm-cpu and
compared with eager. IREE demotes f64 to f32 unless `--iree-input-demote-f64-to-f32=false`, and
cannot link several f64 libm functions, which lowering/libm.py writes out (checked here)."""

from __future__ import annotations

import numpy as np
import pytest

import hlodiff as hd
from hlodiff.prims import elementwise as ew
from hlodiff.prims import linalg as lp
from hlodiff.prims import reduce as rp
from hlodiff.prims import shape as sp

from tests.lowering.harness import Batch, Case, avals_str

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
rng = np.random.default_rng(5)
f64, i64, u64, c128 = np.float64, np.int64, np.uint64, np.complex128

cases: list[Case] = []


def case(name, fn, *args, tol=0.0, atol=None, expected=None):
    atol = (tol and 1e-15) if atol is None else atol
    cases.append(Case(f"{name}-{avals_str(*args)}", fn, args, tol, atol, expected))


def _table():
    # (denormals are left out: IREE flushes them to zero, like XLA on CPU)
    tiny = [0.0, -0.0, 1e-300, -2.5e-8, 1e-12, 3e-5, -0.1]
    x = np.concatenate([rng.standard_normal(6) * 3, tiny, [700.0, 1e5, -123456.789, np.inf,
                                                           -np.inf, np.nan]])
    unit = np.concatenate([rng.uniform(-1, 1, 6), tiny, [1.0, -1.0, 0.9999999999]])
    pos = np.concatenate([rng.uniform(0, 10, 6), [0.0, 1e-300, 1e-12, 8.0, 1e300, np.inf, 27.0]])
    for name, fn, arg, tol in [
        ("exp", ew.exp, x, 1e-15), ("log", ew.log, pos, 1e-15), ("sqrt", ew.sqrt, pos, 1e-15),
        # exp2 is exp(x log 2) (JAX's formula): the rounding of x log 2 grows with |x|
        ("rsqrt", ew.rsqrt, pos, 1e-15), ("exp2", ew.exp2, x, 1e-13),
        ("floor", ew.floor, x, 0), ("logistic", ew.logistic, x, 1e-15),
        # written out in lowering/libm.py:
        ("sinh", ew.sinh, x, 4e-16), ("cosh", ew.cosh, x, 4e-16), ("asinh", ew.asinh, x, 4e-16),
        ("acosh", ew.acosh, pos + 1, 4e-16), ("atanh", ew.atanh, unit, 4e-16),
        ("expm1", ew.expm1, x, 4e-16), ("log1p", ew.log1p, np.concatenate([pos, unit]), 4e-16),
        ("sin", ew.sin, x, 2e-16), ("cos", ew.cos, x, 2e-16), ("tan", ew.tan, x, 4e-16),
        ("tanh", ew.tanh, x, 4e-16), ("cbrt", ew.cbrt, np.concatenate([x, -pos]), 2e-16),
        ("asin", ew.asin, unit, 4e-16), ("acos", ew.acos, unit, 4e-16),
        ("atan", ew.atan, x, 2e-16),
    ]:
        case(name, fn, arg, tol=tol, atol=tol and 1e-300)
    big = rng.uniform(1e5, 1e6, 4) * np.array([1, -1, 1, -1])
    case("sin-large", ew.sin, big, tol=1e-14)
    ys = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3.0, -2.0, 1e-300])
    xs = np.array([0.0, -0.0, -1.0, 1.0, np.inf, -np.inf, 1.0, -3.0, 0.0, -1e300])
    grid_y, grid_x = np.meshgrid(ys, xs)
    case("atan2", ew.atan2, grid_y.ravel(), grid_x.ravel(), tol=4e-16, atol=1e-300)
    case("atan2", ew.atan2, rng.standard_normal(8), rng.standard_normal(8), tol=4e-16)
    num = np.array([7.5, -7.5, 7.5, -7.5, 1e15 + 0.5, 5.0, 0.0, -0.0, np.inf, 3.0, 1e-300, 0.3])
    den = np.array([2.0, 2.0, -2.0, -2.0, 0.7, np.inf, 3.0, 3.0, 2.0, 0.0, 7.0, 0.1])
    case("rem", ew.rem, num, den)  # exact
    # IREE's pow is exp(y log x): the relative error grows with |y log x| (here 16)
    case("pow", ew.pow, np.array([-2.0, 0, 2, -8, 1.5]), np.array([3.0, 0, 0.5, 1 / 3, 40]),
         tol=4e-15)
    z = (rng.standard_normal(6) + 1j * rng.standard_normal(6)) * 1.5
    z = np.concatenate([z, [0j, 1 + 0j, -1 + 0j, 1j, -2j, 25 + 3j]])
    for name, fn in [("exp", ew.exp), ("log", ew.log), ("log1p", ew.log1p),
                     ("expm1", ew.expm1), ("sqrt", ew.sqrt), ("rsqrt", ew.rsqrt),
                     ("sin", ew.sin), ("cos", ew.cos), ("tan", ew.tan), ("tanh", ew.tanh),
                     ("sinh", ew.sinh), ("cosh", ew.cosh), ("asinh", ew.asinh),
                     ("asin", ew.asin), ("acos", ew.acos), ("atan", ew.atan),
                     ("atanh", ew.atanh), ("acosh", ew.acosh), ("logistic", ew.logistic),
                     ("exp2", ew.exp2), ("abs", ew.abs), ("sign", ew.sign)]:
        arg = z[:6] if name in ("rsqrt", "log", "atanh", "atan", "asinh", "acosh") else z
        case(name, fn, arg, tol=1e-13, atol=1e-13)
    case("pow", ew.pow, z, z[::-1].copy(), tol=1e-12, atol=1e-13)
    case("add", ew.add, np.array([2**40, -3], i64), np.array([2**41, 5], i64))
    case("mul", ew.mul, np.array([2**40, -3], i64), np.array([3, 5], i64))
    case("div", ew.div, np.array([2**40 + 7, -7], i64), np.array([3, 2], i64))
    case("add", ew.add, np.array([2**63, 1], u64), np.array([2**62, 2], u64))
    case("lt", ew.lt, np.array([2**63, 1], u64), np.array([2**62, 2], u64))
    case("shift_left", ew.shift_left, np.array([1, 3, 5], i64), np.array([40, 63, 64], i64))
    case("convert-f64-i64", lambda v: ew.convert_element_type(v, i64),
         np.array([1e19, -1e19, np.nan, -3.5]),
         expected=[np.array([2**63 - 1, -2**63, 0, -3], i64)])
    case("convert-i64-f64", lambda v: ew.convert_element_type(v, f64),
         np.array([2**53 + 1, -5], i64))
    case("convert-f64-f32", lambda v: ew.convert_element_type(v, np.float32), x)
    case("convert-c128-f64", lambda v: ew.convert_element_type(v, f64), z)
    m = rng.standard_normal((3, 4))
    case("dot", lambda a, b: lp.dot_general(a, b, (((1,), (0,)), ((), ()))), m, m.T.copy(),
         tol=1e-15)
    case("reduce_sum", lambda v: rp.reduce_sum(v, (1,)), m, tol=1e-15)
    case("reduce_max", lambda v: rp.reduce_max(v, (0, 1)), np.array([[1, 2**60], [3, -4]], i64))
    case("argmax", lambda v: rp.argmax(v, 1, i64), m)
    case("cumsum", lambda v: rp.cumsum(v, 1), m, tol=1e-15)
    case("sort", lambda v: rp.sort(v, 1), m)
    case("iota", lambda: sp.broadcasted_iota(i64, (2, 3), 1))
    case("constant", lambda: np.array([1e-300, np.pi, 2**60]) * 1.0)


hd.config.update("enable_x64", True)
try:
    _table()
finally:
    hd.config.update("enable_x64", False)


@pytest.fixture(scope="module")
def batch():
    hd.config.update("enable_x64", True)
    try:
        yield Batch(cases)
    finally:
        hd.config.update("enable_x64", False)


@pytest.fixture
def x64():
    hd.config.update("enable_x64", True)
    yield
    hd.config.update("enable_x64", False)


@pytest.mark.cpu
@pytest.mark.parametrize("name", [c.name for c in cases])
def test_x64(batch, x64, name):
    batch.check(name)
