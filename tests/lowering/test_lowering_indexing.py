"""Indexing primitives lowered, compiled for IREE llvm-cpu, run, and compared with eager.

Out-of-bounds indices are part of every table: IREE itself neither clamps gathers nor drops
scatters, so these cases check the semantics the lowering spells out (and that nothing reads or
writes out of bounds).
"""

from __future__ import annotations

import numpy as np
import pytest

from hlodiff.prims import indexing as ip

from tests.lowering.harness import Case, avals_str, batch_fixture

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
rng = np.random.default_rng(4)
f32, i32 = np.float32, np.int32
GDN, SDN, Mode = ip.GatherDimensionNumbers, ip.ScatterDimensionNumbers, ip.GatherScatterMode
MODES = [Mode.CLIP, Mode.FILL_OR_DROP, Mode.PROMISE_IN_BOUNDS]


def arr(shape, dtype=f32):
    x = rng.standard_normal(shape) * 5
    return (x > 0) if dtype == np.bool_ else x.astype(dtype)


cases: list[Case] = []


def case(name, fn, *args):
    cases.append(Case(f"{name}-{avals_str(*args)}", fn, args))


# --- dynamic_slice / dynamic_update_slice, starts in and out of range
x = arr((5, 6))
for starts in [(1, 2), (4, 5), (-3, 1), (100, -100)]:
    s = [np.array(v, i32) for v in starts]
    case(f"dynamic_slice{starts}", lambda x, a, b: ip.dynamic_slice_p.bind(
        x, a, b, slice_sizes=(2, 3)), x, *s)
    case(f"dynamic_update_slice{starts}", lambda x, u, a, b: ip.dynamic_update_slice_p.bind(
        x, u, a, b), x, arr((2, 3)), *s)
case("dynamic_slice-u8", lambda x, a: ip.dynamic_slice_p.bind(x, a, slice_sizes=(2,)),
     arr((5,), np.uint8), np.array(4, np.uint8))
case("dynamic_slice-bool", lambda x, a, b: ip.dynamic_slice_p.bind(x, a, b, slice_sizes=(1, 2)),
     arr((3, 4), np.bool_), np.array(2, i32), np.array(1, i32))

# --- gather
rows = GDN(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,))
points = GDN(offset_dims=(), collapsed_slice_dims=(0, 1), start_index_map=(0, 1))
windows = GDN(offset_dims=(1, 2), collapsed_slice_dims=(), start_index_map=(0, 1))
cols = GDN(offset_dims=(0,), collapsed_slice_dims=(1,), start_index_map=(1,))
row_idx = np.array([[0], [4], [5], [-1], [100], [2]], i32)
point_idx = np.array([[0, 0], [3, 4], [4, 0], [-1, 2], [2, 5], [1, 1]], i32)
window_idx = np.array([[0, 0], [2, 3], [3, 1], [-1, 4]], i32)
x45 = arr((5, 4))


def gather(dn, sizes, mode, fill=None):
    return lambda x, i: ip.gather(x, i, dn, sizes, mode=mode, fill_value=fill)


for mode in MODES:
    m = mode.name
    case(f"gather-rows-{m}", gather(rows, (1, 4), mode), x45, row_idx)
    case(f"gather-points-{m}", gather(points, (1, 1), mode), x45, point_idx)
    case(f"gather-windows-{m}", gather(windows, (2, 2), mode), x45, window_idx)
    case(f"gather-cols-{m}", gather(cols, (5, 1), mode), x45, np.array([[3], [0], [4]], i32))
case("gather-fill-value", gather(rows, (1, 4), Mode.FILL_OR_DROP, -7.0), x45, row_idx)
case("gather-int", gather(rows, (1, 3), Mode.FILL_OR_DROP), arr((5, 3), i32), row_idx)
case("gather-bool", gather(rows, (1, 3), Mode.FILL_OR_DROP), arr((5, 3), np.bool_), row_idx)
for idx_dtype in [np.int8, np.uint32, np.int16, np.uint8]:
    idx = np.array([[0], [4], [3], [250 if np.dtype(idx_dtype).kind == "u" else -1]], idx_dtype)
    case("gather-idx-fill", gather(rows, (1, 4), Mode.FILL_OR_DROP), x45, idx)
    case("gather-idx-clip", gather(rows, (1, 4), Mode.CLIP), x45, idx)
case("gather-batch-idx", gather(rows, (1, 4), Mode.FILL_OR_DROP), x45,
     np.array([[[1], [2]], [[7], [0]], [[3], [3]]], i32))
case("gather-empty-indices", gather(rows, (1, 4), Mode.CLIP), x45, np.zeros((0, 1), i32))
case("gather-no-index", gather(GDN((0, 1), (), ()), (2, 3), Mode.CLIP), x45,
     np.zeros((0,), i32))
case("take_along_axis", lambda x, i: ip.take_along_axis(x, i, 1), arr((3, 6)),
     np.array([[0, 5], [2, 2], [1, 4]], i32))
case("take_along_axis0", lambda x, i: ip.take_along_axis(x, i, 0), arr((3, 4)),
     np.array([[0, 2, 1, 1]], i32))
# batching dims: operand dim 0 pairs with index batch dim 0
batched = GDN(offset_dims=(), collapsed_slice_dims=(1,), start_index_map=(1,),
              operand_batching_dims=(0,), start_indices_batching_dims=(0,))
for mode in MODES:
    case(f"gather-batching-{mode.name}", gather(batched, (1, 1), mode), arr((4, 3)),
         np.array([[0], [2], [3], [-1]], i32))

# --- scatter family
_SCATTERS = [("scatter", ip.scatter), ("scatter_add", ip.scatter_add),
             ("scatter_mul", ip.scatter_mul), ("scatter_min", ip.scatter_min),
             ("scatter_max", ip.scatter_max)]
srows = SDN(update_window_dims=(1,), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,))
spoints = SDN(update_window_dims=(), inserted_window_dims=(0, 1),
              scatter_dims_to_operand_dims=(0, 1))
swin = SDN(update_window_dims=(1, 2), inserted_window_dims=(), scatter_dims_to_operand_dims=(0, 1))
sbatched = SDN(update_window_dims=(), inserted_window_dims=(1,), scatter_dims_to_operand_dims=(1,),
               operand_batching_dims=(0,), scatter_indices_batching_dims=(0,))
# unique in-range rows (and out-of-range ones) for replace; duplicates for the combiners
uniq_rows = np.array([[3], [0], [5], [-1], [100]], i32)
dup_rows = np.array([[1], [3], [1], [5], [-2], [3]], i32)
uniq_points = np.array([[0, 1], [4, 3], [2, 2], [5, 0], [1, -1]], i32)
dup_points = np.array([[0, 1], [4, 3], [0, 1], [5, 0], [1, -1], [4, 3]], i32)
win_idx = np.array([[0, 0], [3, 2], [4, 0], [-1, 1]], i32)


def scatter(fn, dn, mode):
    return lambda x, i, u: fn(x, i, u, dn, mode=mode)


for name, fn in _SCATTERS:
    r_idx, p_idx = (uniq_rows, uniq_points) if name == "scatter" else (dup_rows, dup_points)
    for mode in MODES:
        m = mode.name
        case(f"{name}-rows-{m}", scatter(fn, srows, mode), x45, r_idx, arr((len(r_idx), 4)))
        case(f"{name}-points-{m}", scatter(fn, spoints, mode), x45, p_idx, arr((len(p_idx),)))
        if name != "scatter" or mode is not Mode.CLIP:  # clipped windows may overlap
            case(f"{name}-windows-{m}", scatter(fn, swin, mode), x45, win_idx, arr((4, 2, 2)))
        case(f"{name}-batching-{m}", scatter(fn, sbatched, mode), arr((4, 3)),
             np.array([[0], [2], [5], [-1]], i32), arr((4,)))
    case(f"{name}-int", scatter(fn, srows, Mode.FILL_OR_DROP), arr((5, 3), i32), r_idx,
         arr((len(r_idx), 3), i32))
case("scatter_add-bool", scatter(ip.scatter_add, srows, Mode.FILL_OR_DROP), arr((5, 3), np.bool_),
     dup_rows, arr((6, 3), np.bool_))
case("scatter-bool", scatter(ip.scatter, srows, Mode.FILL_OR_DROP), arr((5, 3), np.bool_),
     uniq_rows, arr((5, 3), np.bool_))
case("scatter_add-u8-idx", scatter(ip.scatter_add, srows, None), x45,
     np.array([[1], [250], [4]], np.uint8), arr((3, 4)))
case("scatter_add-empty", scatter(ip.scatter_add, srows, None), x45, np.zeros((0, 1), i32),
     arr((0, 4)))

batch = batch_fixture(cases)


@pytest.mark.cpu
@pytest.mark.parametrize("name", [c.name for c in cases])
def test_indexing(batch, name):
    batch.check(name)
