"""Elementwise primitives lowered, compiled for IREE llvm-cpu, run, and compared with eager."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from hlodiff import dtypes
from hlodiff.prims import elementwise as ew
from hlodiff.transforms.jvp import add_any_p

from tests.lowering.harness import Case, avals_str, batch_fixture

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
rng = np.random.default_rng(0)
f32, i32, u8, u32, c64 = np.float32, np.int32, np.uint8, np.uint32, np.complex64
bf16, f16 = ml_dtypes.bfloat16, np.float16


def randn(shape, dtype=f32):
    if np.dtype(dtype).kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def uniform(lo, hi, shape, dtype=f32):
    return rng.uniform(lo, hi, shape).astype(dtype)


def ints(lo, hi, shape, dtype=i32):
    return rng.integers(lo, hi, shape).astype(dtype)


SPECIAL = np.array([0.0, -0.0, 1.5, -2.5, np.inf, -np.inf, np.nan, 2.5, -0.5, 1e-30], f32)

cases: list[Case] = []


def case(name, fn, *args, tol=0.0, atol=0.0, expected=None):
    cases.append(Case(f"{name}-{avals_str(*args)}", fn, args, tol, atol, expected))


# --- unary ops: (primitive wrapper, input generator, rtol for f32)
_UNARY = [
    ("neg", ew.neg, lambda s, d: randn(s, d), 0),
    ("sign", ew.sign, lambda s, d: randn(s, d), 0),
    ("floor", ew.floor, lambda s, d: randn(s, d) * 3, 0),
    ("ceil", ew.ceil, lambda s, d: randn(s, d) * 3, 0),
    ("exp", ew.exp, lambda s, d: randn(s, d), 2e-7),
    ("exp2", ew.exp2, lambda s, d: randn(s, d) * 3, 1e-6),
    ("log", ew.log, lambda s, d: uniform(0.1, 5, s, d), 2e-7),
    ("log1p", ew.log1p, lambda s, d: uniform(-0.5, 2, s, d), 2e-7),
    ("expm1", ew.expm1, lambda s, d: randn(s, d), 2e-7),
    ("tanh", ew.tanh, lambda s, d: randn(s, d) * 2, 3e-7),
    ("logistic", ew.logistic, lambda s, d: randn(s, d) * 4, 3e-7),
    ("sin", ew.sin, lambda s, d: randn(s, d) * 3, 1e-6),
    ("cos", ew.cos, lambda s, d: randn(s, d) * 3, 1e-6),
    ("tan", ew.tan, lambda s, d: uniform(-1.4, 1.4, s, d), 3e-7),
    ("asin", ew.asin, lambda s, d: uniform(-0.95, 0.95, s, d), 3e-7),
    ("acos", ew.acos, lambda s, d: uniform(-0.95, 0.95, s, d), 3e-7),
    ("atan", ew.atan, lambda s, d: randn(s, d) * 3, 3e-7),
    ("sinh", ew.sinh, lambda s, d: randn(s, d) * 2, 3e-7),
    ("cosh", ew.cosh, lambda s, d: randn(s, d) * 2, 3e-7),
    ("asinh", ew.asinh, lambda s, d: randn(s, d) * 3, 3e-7),
    ("acosh", ew.acosh, lambda s, d: uniform(1.01, 5, s, d), 3e-7),
    ("atanh", ew.atanh, lambda s, d: uniform(-0.95, 0.95, s, d), 3e-7),
    ("sqrt", ew.sqrt, lambda s, d: uniform(0, 5, s, d), 2e-7),
    ("rsqrt", ew.rsqrt, lambda s, d: uniform(0.1, 5, s, d), 2e-7),
    ("cbrt", ew.cbrt, lambda s, d: randn(s, d) * 5, 1e-6),
    ("abs", ew.abs, lambda s, d: randn(s, d), 0),
    ("square", ew.square, lambda s, d: randn(s, d), 0),
    ("is_finite", ew.is_finite, lambda s, d: randn(s, d), 0),
    ("stop_gradient", ew.stop_gradient, lambda s, d: randn(s, d), 0),
]
for name, fn, gen, tol in _UNARY:
    for shape in [(2, 3), ()]:
        # near zero crossings a relative tolerance is too strict: allow ~1 ulp of 1.0 too
        case(name, fn, gen(shape, f32), tol=tol, atol=1e-7 if tol else 0)
    for dtype in [bf16, f16]:
        if name not in ("is_finite", "stop_gradient"):
            case(name, fn, gen((4,), dtype), tol=0 if tol == 0 else 1e-2)

for name, fn in [("neg", ew.neg), ("floor", ew.floor), ("ceil", ew.ceil), ("sign", ew.sign),
                 ("abs", ew.abs), ("is_finite", ew.is_finite), ("exp", ew.exp),
                 ("sqrt", ew.sqrt), ("round", ew.round)]:
    case(f"{name}-special", fn, SPECIAL, tol=2e-7 if name in ("exp", "sqrt") else 0)

# tiny arguments, where naive formulas (exp(x) - 1, log(1 + x)) lose every digit
TINY = np.array([1e-30, -2.5e-8, 1e-5, -0.1, 0.0, -0.0, 3e-4], f32)
for name, fn in [("expm1", ew.expm1), ("log1p", ew.log1p), ("sinh", ew.sinh),
                 ("asinh", ew.asinh), ("atanh", ew.atanh), ("tanh", ew.tanh), ("sin", ew.sin),
                 ("tan", ew.tan), ("asin", ew.asin), ("atan", ew.atan), ("cbrt", ew.cbrt)]:
    case(f"{name}-tiny", fn, TINY, tol=4e-7, atol=1e-37)

# atan2 (written out in lowering/libm.py) on signed zeros, infinities and nan
_ys = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3.0, -2.0, 1e-30], f32)
_gy, _gx = np.meshgrid(_ys, -_ys[::-1])
case("atan2-special", ew.atan2, _gy.ravel(), _gx.ravel(), tol=3e-7, atol=1e-37)
for name, fn in [("asin", ew.asin), ("acos", ew.acos), ("atan", ew.atan)]:
    case(f"{name}-special", fn, np.array([1, -1, 0, -0.0, 1.5, -np.inf, np.nan], f32),
         tol=3e-7)

# complex64 unary ops
for name, fn, tol in [("neg", ew.neg, 0), ("sign", ew.sign, 1e-6), ("exp", ew.exp, 1e-6),
                      ("log", ew.log, 1e-6), ("sin", ew.sin, 1e-6), ("cos", ew.cos, 1e-6),
                      ("tanh", ew.tanh, 1e-5), ("sqrt", ew.sqrt, 1e-6), ("rsqrt", ew.rsqrt, 1e-6),
                      ("abs", ew.abs, 1e-6), ("square", ew.square, 1e-6), ("real", ew.real, 0),
                      ("imag", ew.imag, 0), ("conj", ew.conj, 0), ("log1p", ew.log1p, 1e-5),
                      ("expm1", ew.expm1, 1e-5), ("tan", ew.tan, 1e-5), ("sinh", ew.sinh, 1e-5),
                      ("cosh", ew.cosh, 1e-5), ("asinh", ew.asinh, 1e-5),
                      ("atan", ew.atan, 1e-5), ("asin", ew.asin, 1e-5),
                      ("acos", ew.acos, 1e-5), ("atanh", ew.atanh, 1e-5),
                      ("acosh", ew.acosh, 1e-5)]:
    case(name, fn, randn((2, 3), c64) * np.complex64(0.7), tol=tol, atol=1e-6 if tol else 0)

# integer unary ops
for dtype in [i32, np.int8, u8]:
    x = ints(-100 if np.dtype(dtype).kind == "i" else 0, 100, (2, 3), dtype)
    for name, fn in [("neg", ew.neg), ("sign", ew.sign), ("abs", ew.abs), ("not", ew.not_),
                     ("square", ew.square)]:
        case(name, fn, x)
case("not", ew.not_, np.array([True, False, True]))
case("population_count", ew.population_count, np.array([0, 1, 7, 2**31 - 1, 255], i32))
case("population_count", ew.population_count, np.array([0, 1, 7, 128, 255], u8))
# negative values count the bits of their two's complement (JAX; numpy counts |x|)
case("population_count-negative", ew.population_count, np.array([-1, -2**31, -3], i32),
     expected=[np.array([32, 1, 31], i32)])
case("population_count-negative", ew.population_count, np.array([-1, -128, -3], np.int8),
     expected=[np.array([8, 1, 7], np.int8)])

# round: both rounding methods, on halves
halves = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 3.7, -3.2, np.nan], f32)
# (0.49999997 rounds to 0; the eager floor(|x| + 0.5) gives 1)
case("round_afz", lambda x: ew.round(x, 0), halves,
     expected=[np.array([1, 2, 3, -1, -2, -3, 0, 4, -3, np.nan], f32)])
case("round_even", lambda x: ew.round(x, 1), halves)

# integer_pow
for y in [0, 1, 2, 3, 5, 8, -1, -3]:
    case(f"integer_pow{y}", lambda x, y=y: ew.integer_pow(x, y), uniform(0.5, 2, (2, 3)),
         tol=1e-6)
case("integer_pow3", lambda x: ew.integer_pow(x, 3), ints(-20, 20, (5,)))
case("integer_pow-2", lambda x: ew.integer_pow(x, -2), randn((3,), c64), tol=1e-6)

# --- binary ops with implicit broadcasting: equal shapes, a rank-0 operand, size-1 dims
SHAPES = [((2, 3), (2, 3)), ((2, 3), ()), ((), (2, 3)), ((1, 3), (2, 1))]
for name, fn, tol in [("add", ew.add, 0), ("sub", ew.sub, 0), ("mul", ew.mul, 0),
                      ("div", ew.div, 0), ("max", ew.max, 0), ("min", ew.min, 0),
                      ("atan2", ew.atan2, 3e-7), ("nextafter", ew.nextafter, 0),
                      ("complex", ew.complex_, 0), ("rem", ew.rem, 0), ("pow", ew.pow, 2e-6)]:
    for sx, sy in SHAPES:
        x = randn(sx) if name != "pow" else uniform(0.1, 3, sx)
        case(name, fn, x, randn(sy), tol=tol)
case("add_any", lambda x, y: add_any_p.bind(x, y), randn((2, 3)), randn((2, 3)))
case("add_any", lambda x, y: add_any_p.bind(x, y), ints(-9, 9, (3,)), ints(-9, 9, (3,)))

for dtype in [i32, u8, np.int16]:
    lo = -50 if np.dtype(dtype).kind == "i" else 0
    for sx, sy in SHAPES[:2] + SHAPES[3:]:
        x, y = ints(lo, 50, sx, dtype), ints(1, 9, sy, dtype)
        for name, fn in [("add", ew.add), ("sub", ew.sub), ("mul", ew.mul), ("div", ew.div),
                         ("rem", ew.rem), ("max", ew.max), ("min", ew.min)]:
            case(name, fn, x, y)
# truncating division and remainder with negative divisors
case("div", ew.div, ints(-50, 50, (8,)), np.array([3, -3, 7, -7, 1, -1, 2, -5], i32))
case("rem", ew.rem, ints(-50, 50, (8,)), np.array([3, -3, 7, -7, 1, -1, 2, -5], i32))
case("rem", ew.rem, randn((6,)) * 10, np.array([3, -3, 0.7, -0.7, 1, 2.5], f32))
# max/min propagate NaN
case("max", ew.max, SPECIAL, SPECIAL[::-1].copy())
case("min", ew.min, SPECIAL, SPECIAL[::-1].copy())
bools = np.array([True, False, True, False]), np.array([True, True, False, False])
for name, fn in [("max", ew.max), ("min", ew.min), ("and", ew.and_), ("or", ew.or_),
                 ("xor", ew.xor)]:
    case(name, fn, *bools)
for name, fn in [("and", ew.and_), ("or", ew.or_), ("xor", ew.xor)]:
    case(name, fn, ints(-100, 100, (2, 3)), ints(-100, 100, (2, 3)))
    case(name, fn, ints(0, 255, (3,), u8), np.array(7, u8))

# complex arithmetic
for name, fn, tol in [("add", ew.add, 0), ("sub", ew.sub, 0), ("mul", ew.mul, 1e-6),
                      ("div", ew.div, 1e-6), ("pow", ew.pow, 1e-5)]:
    case(name, fn, randn((2, 3), c64), randn((2, 3), c64), tol=tol, atol=1e-6 if tol else 0)

# pow: C99 special cases (negative bases with integer exponents, 0^0, 1^nan, (-1)^inf, ...)
PX = np.array([0, 0, 0, -2, -2, -2, 2, np.inf, -np.inf, np.nan, 1, -1, -1, 0.5, -0.0, -0.0, -8,
               -np.inf, -3, 2, -2], f32)
PY = np.array([0, 2, -1, 3, 2, 0.5, -2, 2, 3, 0, np.nan, np.inf, 1e9 + 1, np.inf, -1, 3, 1 / 3,
               0.5, -3, 10, 7], f32)
case("pow-special", ew.pow, PX, PY, tol=2e-6)

# nextafter toward every kind of neighbour
NA = np.array([0, 0, 1, 1, -1, np.inf, np.nan, 1, 3.4028235e38, -0.0], f32)
NB = np.array([1, -1, 2, 0, -np.inf, 0, 1, np.nan, np.inf, 1], f32)
case("nextafter-special", ew.nextafter, NA, NB)

# comparisons: every direction, every compare type
for name, fn in [("eq", ew.eq), ("ne", ew.ne), ("lt", ew.lt), ("le", ew.le), ("gt", ew.gt),
                 ("ge", ew.ge)]:
    case(name, fn, SPECIAL, SPECIAL[::-1].copy())
    case(name, fn, ints(-3, 3, (2, 3)), ints(-3, 3, (1, 3)))
    case(name, fn, np.array([0, 1, 200, 255], u8), np.array([255, 1, 3, 0], u8))
    case(name, fn, np.array([2**31 + 5, 1, 0], u32), np.array(7, u32))
    case(name, fn, *bools)
    z = np.array([1 + 1j, 1 + 2j, 2 + 0j, 1 - 1j, 0j, 1 + 1j], c64)
    case(name, fn, z, z[::-1].copy())

# shifts, including amounts >= bit width (XLA: 0 / sign fill)
xs = np.array([3, -8, 1, 2**30, -1, 12345, -2**31, 77], i32)
amounts = np.array([1, 1, 31, 1, 32, 40, 31, 0], i32)
for name, fn in [("shift_left", ew.shift_left), ("shift_right_logical", ew.shift_right_logical),
                 ("shift_right_arithmetic", ew.shift_right_arithmetic)]:
    case(name, fn, xs, amounts)
    if name != "shift_right_arithmetic":
        case(name, fn, np.array([1, 128, 255, 7], u8), np.array([1, 7, 8, 9], u8))
# negative amounts read as unsigned (out of range), and arithmetic shifts of unsigned values
# shift the bits arithmetically, as in JAX/XLA (the eager numpy rules differ there).
neg = np.array([-1, -33], i32), np.array([5, -8], i32)
case("shift_left-negative", ew.shift_left, neg[1], neg[0], expected=[np.array([0, 0], i32)])
case("shift_right_logical-negative", ew.shift_right_logical, neg[1], neg[0],
     expected=[np.array([0, 0], i32)])
case("shift_right_arithmetic-negative", ew.shift_right_arithmetic, neg[1], neg[0],
     expected=[np.array([0, -1], i32)])
case("shift_right_arithmetic-unsigned", ew.shift_right_arithmetic,
     np.array([2**31, 7, 2**32 - 1], u32), np.array([1, 1, 40], u32),
     expected=[np.array([3221225472, 3, 4294967295], u32)])
case("shift_right_arithmetic-unsigned", ew.shift_right_arithmetic,
     np.array([1, 128, 255, 7], u8), np.array([1, 7, 8, 9], u8),
     expected=[np.array([0, 255, 255, 0], u8)])

# select_n: boolean and integer selectors, scalar selectors and scalar cases
p23 = randn((2, 3)) > 0
case("select_n", ew.select_n, p23, randn((2, 3)), randn((2, 3)))
case("select_n", ew.select_n, np.array(True), randn((2, 3)), randn((2, 3)))
case("select_n", ew.select_n, p23, np.array(1.5, f32), randn((2, 3)))
case("select_n", ew.select_n, ints(0, 3, (2, 3)), randn((2, 3)), randn((2, 3)), randn((2, 3)))
case("select_n", ew.select_n, ints(0, 5, (7,)), *[randn((7,)) for _ in range(5)])
case("select_n", ew.select_n, ints(0, 2, (4,)), ints(0, 9, (4,)), ints(0, 9, (4,)))
case("select_n-single", ew.select_n, ints(0, 1, (3,)), randn((3,)))

# clamp: scalar and array bounds
case("clamp", ew.clamp, np.array(-0.5, f32), randn((2, 3)), np.array(0.5, f32))
case("clamp", ew.clamp, randn((2, 3)) - 1, randn((2, 3)), randn((2, 3)) + 1)
case("clamp", ew.clamp, np.array(-3, i32), ints(-9, 9, (5,)), np.array(4, i32))
case("clamp-nan", ew.clamp, np.array(-1, f32), SPECIAL, np.array(1, f32))

# convert_element_type between kinds
_conv_inputs = {
    f32: SPECIAL * 3,
    i32: np.array([-7, 0, 1, 300, -2**31, 2**31 - 1], i32),
    u8: np.array([0, 1, 128, 255], u8),
    u32: np.array([0, 1, 2**31 + 7, 2**32 - 1], u32),
    np.bool_: np.array([True, False, True]),
    c64: np.array([1.5 - 2j, 0 + 3j, -0.0 + 0j, np.nan + 1j], c64),
    bf16: np.array([1.5, -2.25, 3e38, np.nan], bf16),
    f16: np.array([1.5, -2.25, 65504, -np.inf], f16),
    np.int8: np.array([-128, -1, 0, 127], np.int8),
}
_targets = [f32, i32, u8, u32, np.bool_, c64, bf16, f16, np.int8]
for src, x in _conv_inputs.items():
    for dst in _targets:
        if np.dtype(src) == np.dtype(dst):
            continue
        if dtypes.is_float(src) and np.dtype(dst).kind in "iu":
            continue  # float -> int: see the saturation cases below
        case(f"convert-{np.dtype(dst).name}", lambda v, d=dst: ew.convert_element_type(v, d), x)
# float -> int truncates toward zero, nan -> 0, saturates (XLA). Expected values from JAX.
big = np.array([1e10, -1e10, np.nan, 3.7, -3.7, 2.1e9, np.inf, -np.inf, -0.5, 2**31], f32)
_sat = {
    i32: [2147483647, -2147483648, 0, 3, -3, 2100000000, 2147483647, -2147483648, 0, 2147483647],
    u8: [255, 0, 0, 3, 0, 255, 255, 0, 0, 255],
    u32: [4294967295, 0, 0, 3, 0, 2100000000, 4294967295, 0, 0, 2147483648],
    np.int8: [127, -128, 0, 3, -3, 127, 127, -128, 0, 127],
}
for dst, want in _sat.items():
    case(f"convert-saturating-{np.dtype(dst).name}",
         lambda v, d=dst: ew.convert_element_type(v, d), big,
         expected=[np.array(want, dst)])
case("convert-bf16-i32", lambda v: ew.convert_element_type(v, i32),
     np.array([1.5, -2.75, 3e10, np.nan], bf16),
     expected=[np.array([1, -2, 2147483647, 0], i32)])
case("convert-f16-u8", lambda v: ew.convert_element_type(v, u8),
     np.array([1.5, 300, -2.75, np.inf], f16), expected=[np.array([1, 255, 0, 255], u8)])

batch = batch_fixture(cases)


@pytest.mark.cpu
@pytest.mark.parametrize("name", [c.name for c in cases])
def test_elementwise(batch, name):
    batch.check(name)
