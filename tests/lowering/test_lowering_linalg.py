"""dot_general lowered, compiled for IREE llvm-cpu, run, and compared with eager."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from hlodiff.prims import linalg as lp

from tests.lowering.harness import Case, avals_str, batch_fixture

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
rng = np.random.default_rng(3)
f32, i32, c64 = np.float32, np.int32, np.complex64


def arr(shape, dtype=f32):
    x = rng.standard_normal(shape) * 3
    if dtype == np.bool_:
        return x > 1
    if np.dtype(dtype).kind == "c":
        return (x + 1j * rng.standard_normal(shape)).astype(dtype)
    return x.astype(dtype)


cases: list[Case] = []


def case(name, lhs_shape, rhs_shape, dims, dtype=f32, preferred=None, tol=1e-6):
    fn = lambda x, y: lp.dot_general(x, y, dims, preferred_element_type=preferred)  # noqa: E731
    x, y = arr(lhs_shape, dtype), arr(rhs_shape, dtype)
    tol = tol if np.dtype(preferred or dtype).kind in "fcV" else 0.0
    expected = None
    if preferred is not None and np.dtype(dtype).kind in "fV":
        # products accumulate in the preferred type (JAX); the eager rule rounds to bf16/f16 first
        wide = (x.astype(np.float64), y.astype(np.float64))
        expected = [np.asarray(lp.dot_general(*wide, dims)).astype(preferred)]
    cases.append(Case(f"{name}-{avals_str(x, y)}", fn, (x, y), tol, tol and 1e-5, expected))


for dtype in [f32, i32, c64, np.bool_]:
    case("matmul", (3, 4), (4, 5), (((1,), (0,)), ((), ())), dtype)
    case("batch_matmul", (2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,))), dtype)
case("matvec", (3, 4), (4,), (((1,), (0,)), ((), ())))
case("vecvec", (4,), (4,), (((0,), (0,)), ((), ())))
case("outer", (3,), (5,), (((), ()), ((), ())))
case("transposed", (4, 3), (5, 4), (((0,), (1,)), ((), ())))
case("two_contracting", (2, 3, 4), (4, 3, 5), (((1, 2), (1, 0)), ((), ())))
case("batch_not_leading", (3, 2, 4), (4, 2), (((2,), (0,)), ((1,), (1,))))
case("two_batch", (2, 3, 4, 5), (3, 2, 5, 6), (((3,), (2,)), ((0, 1), (1, 0))))
case("scalar_lhs", (), (3, 4), (((), ()), ((), ())))
case("empty_contraction", (3, 0), (0, 4), (((1,), (0,)), ((), ())))
case("int8->int32", (3, 4), (4, 5), (((1,), (0,)), ((), ())), np.int8, np.int32)
case("bf16->f32", (3, 4), (4, 5), (((1,), (0,)), ((), ())), ml_dtypes.bfloat16, f32)
case("f16->f32", (3, 4), (4, 5), (((1,), (0,)), ((), ())), np.float16, f32)
case("bf16", (3, 8), (8, 2), (((1,), (0,)), ((), ())), ml_dtypes.bfloat16, tol=2e-2)
case("large", (64, 96), (96, 48), (((1,), (0,)), ((), ())), tol=1e-5)

batch = batch_fixture(cases)


@pytest.mark.cpu
@pytest.mark.parametrize("name", [c.name for c in cases])
def test_linalg(batch, name):
    batch.check(name)
