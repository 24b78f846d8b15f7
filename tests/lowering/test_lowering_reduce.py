"""Reductions, argmax/argmin, cumulative reductions and sort lowered, run on IREE llvm-cpu,
and compared with eager."""

from __future__ import annotations

import numpy as np
import pytest

from hlodiff.prims import reduce as rp

from tests.lowering.harness import Case, avals_str, batch_fixture

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
rng = np.random.default_rng(2)
f32, i32, u8, c64 = np.float32, np.int32, np.uint8, np.complex64


def arr(shape, dtype=f32):
    x = rng.standard_normal(shape) * 4
    if dtype == np.bool_:
        return x > 0
    if np.dtype(dtype).kind == "c":
        return (x + 1j * rng.standard_normal(shape)).astype(dtype)
    if np.dtype(dtype).kind == "u":
        return np.abs(x).astype(dtype)
    return x.astype(dtype)


cases: list[Case] = []


def case(name, fn, *args, tol=0.0, expected=None):
    cases.append(Case(f"{name}-{avals_str(*args)}", fn, args, tol, tol and 1e-6, expected))


_REDUCERS = [("sum", rp.reduce_sum), ("prod", rp.reduce_prod), ("max", rp.reduce_max),
             ("min", rp.reduce_min), ("and", rp.reduce_and), ("or", rp.reduce_or)]
for dtype in [f32, i32, np.bool_, u8, c64]:
    x = arr((3, 4, 2), dtype)
    for name, fn in _REDUCERS:
        if (name in ("and", "or") and dtype in (f32, c64)) or (
                name in ("max", "min") and dtype == c64):
            continue
        for axes in [(0,), (1, 2), (0, 1, 2)]:
            tol = 1e-6 if dtype in (f32, c64) and name in ("sum", "prod") else 0.0
            case(f"reduce_{name}{axes}", lambda x, f=fn, a=axes: f(x, a), x, tol=tol)
nan_row = np.array([[1, np.nan, 3], [-np.inf, -np.inf, -np.inf], [2, 5, 5]], f32)
for name, fn in _REDUCERS[:4]:
    case(f"reduce_{name}-special", lambda x, f=fn: f(x, (1,)), nan_row)
case("reduce_sum-empty", lambda x: rp.reduce_sum(x, (0,)), arr((0, 3)))
case("reduce_max-empty", lambda x: rp.reduce_max(x, (0,)), arr((0, 3)))

# argmax/argmin: NaN wins, the first occurrence wins ties
ties = np.array([[1, 3, 3, 0], [np.nan, 1, np.nan, 2], [-np.inf, -np.inf, -np.inf, -np.inf],
                 [0.0, -0.0, 0.0, -1], [5, 5, np.nan, 5]], f32)
for name, fn in [("argmax", rp.argmax), ("argmin", rp.argmin)]:
    for axis in [0, 1]:
        case(f"{name}{axis}", lambda x, f=fn, a=axis: f(x, a, np.int32), ties)
        case(f"{name}{axis}", lambda x, f=fn, a=axis: f(x, a, np.int32), arr((4, 5), i32) // 3)
    case(name, lambda x, f=fn: f(x, 0, np.int32), np.array([True, False, True, True]))
    case(name, lambda x, f=fn: f(x, 2, np.int32), arr((2, 3, 7)))
    case(name, lambda x, f=fn: f(x, 0, np.int32), arr((6,), u8))
    case(name, lambda x, f=fn: f(x, 0, np.int32),
         np.array([1 + 2j, 3 - 1j, 3 + 0j, -2j, 3 + 0j], c64))

# cumulative reductions, both directions
for name, fn in [("cumsum", rp.cumsum), ("cumprod", rp.cumprod), ("cummax", rp.cummax),
                 ("cummin", rp.cummin)]:
    for dtype in [f32, i32, np.bool_]:
        x = arr((3, 5), dtype) if not (name == "cumprod" and dtype == f32) else \
            rng.uniform(0.5, 1.5, (3, 5)).astype(f32)
        for axis in [0, 1]:
            for reverse in [False, True]:
                tol = 1e-6 if dtype == f32 else 0.0
                case(f"{name}{axis}{'r' if reverse else ''}",
                     lambda x, f=fn, a=axis, r=reverse: f(x, a, r), x, tol=tol)
    case(f"{name}-nan", lambda x, f=fn: f(x, 0), np.array([1, np.nan, 3, -2], f32))
case("cumsum-long", lambda x: rp.cumsum(x, 0), arr((300,)), tol=1e-5)

# sort: NaNs last, -0.0 == 0.0 (stable), multiple operands, several keys
special = np.array([3, np.nan, -np.inf, 0.0, -0.0, np.inf, 1, -np.nan, -2, 0.0], f32)
case("sort-special", lambda x: rp.sort(x), special, expected=[np.sort(special)])
case("sort-special-payload", lambda k, v: rp.sort((k, v), num_keys=1), special,
     np.arange(10, dtype=i32),
     expected=[np.sort(special), np.argsort(special, kind="stable").astype(i32)])
for dtype in [f32, i32, u8, np.bool_]:
    for dim in [0, 1]:
        case(f"sort{dim}", lambda x, d=dim: rp.sort(x, d), arr((4, 6), dtype))
keys1, keys2 = arr((12,), i32) // 4, arr((12,))
case("sort-2keys", lambda a, b, c: rp.sort((a, b, c), num_keys=2), keys1, keys2,
     np.arange(12, dtype=i32))
case("sort-stable", lambda a, b: rp.sort((a, b), num_keys=1), arr((16,), i32) // 6,
     np.arange(16, dtype=f32))
case("sort-complex", lambda x: rp.sort(x),
     np.array([1 + 2j, 1 - 1j, -3 + 0j, 1 + 2j, 0j], c64))
case("sort-scalar", lambda x: rp.sort(x), np.array(2.5, f32), expected=[np.array(2.5, f32)])

batch = batch_fixture(cases)


@pytest.mark.cpu
@pytest.mark.parametrize("name", [c.name for c in cases])
def test_reduce(batch, name):
    batch.check(name)
