"""Shape primitives lowered, compiled for IREE llvm-cpu, run, and compared with eager."""

from __future__ import annotations

import numpy as np
import pytest

from hlodiff.prims import shape as sp

from tests.lowering.harness import Case, avals_str, batch_fixture

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
rng = np.random.default_rng(1)
f32, i32 = np.float32, np.int32


def arr(shape, dtype=f32):
    x = rng.standard_normal(shape) * 10
    return (x > 0) if dtype == np.bool_ else x.astype(dtype)


cases: list[Case] = []


def case(name, fn, *args):
    cases.append(Case(f"{name}-{avals_str(*args)}", fn, args))


for dtype in [f32, i32, np.bool_, np.complex64, np.uint8]:
    x = arr((2, 3), dtype)
    case("broadcast_in_dim", lambda x: sp.broadcast_in_dim(x, (4, 2, 3), (1, 2)), x)
    case("reshape", lambda x: sp.reshape(x, (3, 2)), x)
    case("transpose", lambda x: sp.transpose(x, (1, 0)), x)
    case("rev", lambda x: sp.rev(x, (0, 1)), x)
    case("concatenate", lambda x: sp.concatenate([x, x, x], 1), x)
    case("pad", lambda x: sp.pad(x, np.zeros((), x.dtype), ((1, 2, 1), (0, -1, 2))), x)
    case("slice", lambda x: sp.slice(x, (0, 1), (2, 3)), x)

x = arr((2, 1, 3))
case("broadcast_in_dim-size1", lambda x: sp.broadcast_in_dim(x, (2, 5, 3), (0, 1, 2)), x)
case("broadcast_in_dim-scalar", lambda x: sp.broadcast_in_dim(x, (2, 3), ()), arr(()))
case("broadcast_in_dim-new", lambda x: sp.broadcast_in_dim(x, (3, 2, 4), (1,)), arr((2,)))
case("reshape-flatten", lambda x: sp.reshape(x, (6,)), x)
case("reshape-scalar", lambda x: sp.reshape(x, ()), arr((1, 1)))
case("reshape-dimensions", lambda x: sp.reshape(x, (6,), (2, 0, 1)), x)
case("squeeze", lambda x: sp.squeeze(x, (1,)), x)
case("squeeze-all", lambda x: sp.squeeze(x, (0, 1)), arr((1, 1)))
case("expand_dims", lambda x: sp.expand_dims(x, (0, 3)), arr((2, 3)))
case("transpose3", lambda x: sp.transpose(x, (2, 0, 1)), arr((2, 3, 4)))
case("concatenate-0", lambda x, y: sp.concatenate([x, y], 0), arr((2, 3)), arr((4, 3)))
case("concatenate-empty", lambda x, y: sp.concatenate([x, y], 0), arr((0, 3)), arr((2, 3)))
case("rev-1", lambda x: sp.rev(x, (1,)), arr((2, 3, 4)))

y = arr((4, 5))
pv = np.array(-1.5, f32)
for config in [((1, 2, 0), (3, 0, 0)), ((0, 0, 2), (0, 0, 1)), ((-1, -2, 0), (1, -3, 0)),
               ((-2, 3, 1), (2, -4, 1)), ((0, 0, 0), (0, 0, 0))]:
    case(f"pad{config}", lambda x, p, c=config: sp.pad(x, p, c), y, pv)
case("pad-scalar-operand", lambda x, p: sp.pad(x, p, ()), arr(()), pv)
case("pad-bool", lambda x: sp.pad(x, np.array(True), ((1, 1, 1),)), arr((3,), np.bool_))

for start, limit, strides in [((0, 0), (4, 5), (2, 3)), ((1, 2), (4, 4), None),
                              ((3, 1), (4, 5), (1, 2)), ((2, 2), (2, 5), None)]:
    case(f"slice{start}{limit}{strides}",
         lambda x, s=start, e=limit, st=strides: sp.slice(x, s, e, st), y)

for dtype in [np.int32, np.float32, np.uint8, np.int8, np.complex64, np.float16]:
    case(f"iota-{np.dtype(dtype).name}", lambda d=dtype: sp.broadcasted_iota(d, (3, 4), 1))
case("iota-0", lambda: sp.broadcasted_iota(np.int32, (3, 4), 0))
case("iota-1d", lambda: sp.iota(np.float32, 7))

batch = batch_fixture(cases)


@pytest.mark.cpu
@pytest.mark.parametrize("name", [c.name for c in cases])
def test_shape(batch, name):
    batch.check(name)
