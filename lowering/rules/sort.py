"""Lowering of sort (hlodiff/prims/reduce.py): stable, lexicographic over the first `num_keys`
operands; NaNs last (all equal), -0.0 == 0.0, complex keys by real then imaginary part.

IREE 3.13's `stablehlo.sort` ignores `is_stable`, fails to compile when two operands end up as
one value (argsort's iota and a tie-breaking position iota, merged by IREE's CSE), stages every
operand but one and any producer fused into it on the stack (the sorted dimension times up to
128 rows; IREE rejects more than 32 KiB), and takes quadratic time. So a sort is lowered in three
steps, and is always stable (`is_stable` is moot):

1. The keys become unsigned *fields* whose integer order is the sort order (`_fields`), packed
   with each element's position, most significant first, into as few 32/64-bit words as hold
   them (`_pack`). No two elements have equal words, so any sort of them is stable.
2. The words are sorted along the dimension: by `stablehlo.sort` when they are one word and
   the sort is short (`_native_sort`), else by a bitonic sorting network (`_bitonic`).
3. Every operand (each distinct value once) is gathered by the sorted positions (`_take`).
"""

from __future__ import annotations

import math

import numpy as np

from hlodiff import dtypes
from hlodiff.prims import reduce as rp

from .. import hlo
from ..emitter import aval, bool_attr, i64_array, i64_attr
from ..registry import register

_U32, _U64, _I32 = np.dtype(np.uint32), np.dtype(np.uint64), np.dtype(np.int32)


@register(rp.sort_p)
def _sort_lower(ctx, *operands, dimension, is_stable, num_keys):
    b = ctx.b
    shape = operands[0].shape
    if not shape or shape[dimension] <= 1 or 0 in shape:
        return list(operands)
    # Sorting along the middle axis of (before, n, after); a repeated key adds nothing.
    P, n, Q = math.prod(shape[:dimension]), shape[dimension], math.prod(shape[dimension + 1 :])
    keys = {}
    for k in operands[:num_keys]:
        if k.name not in keys:
            keys[k.name] = hlo.reshape(b, k, (P, n, Q))
    fields = [f for k in keys.values() for f in _fields(b, k)]
    if _native_is_better(fields, P * Q, n):
        pos = _native_sort(b, fields, n)
    else:
        pos = _bitonic(b, fields, n)
    outs = {}
    for x in operands:
        if x.name not in outs:
            outs[x.name] = hlo.reshape(b, _take(b, hlo.reshape(b, x, (P, n, Q)), pos), shape)
    return [outs[x.name] for x in operands]


def _native_is_better(fields, rows: int, n: int) -> bool:
    """IREE's sort, for one word (more operands need stack: see the module docstring) where its
    quadratic time wins. Measured (2-core x86, one word of f32 key and position): IREE's sort
    takes ~0.8 ns x rows x n^2, the network ~0.1 ms plus ~1 ns x rows x N x steps; IREE's is
    faster up to rows x n^2 = 2^17 (n = 362 for one row, 45 for 64 rows) and, for any number of
    rows, up to n = 16."""
    one_word = sum(bits for _, bits in fields) + _position_bits(n) <= 64
    return one_word and (n <= 16 or rows * n * n <= 1 << 17)


# ---------------------------------------------------------------------------------------------
# Keys as unsigned fields, packed with the position into words


def _fields(b, x):
    """[(unsigned Value, bits)]: fields whose lexicographic order is the key order of `x`."""
    dt = x.dtype
    if hlo.is_complex(dt):
        part = dtypes.real_dtype(dt)
        return _fields(b, hlo.unary(b, "real", x, part)) + _fields(b, hlo.unary(b, "imag", x, part))
    if hlo.is_bool(dt):
        return [(hlo.convert(b, x, np.uint8), 1)]
    bits = dt.itemsize * 8
    if hlo.is_unsigned(dt):
        return [(x, bits)]
    u = hlo.int_of_width(dt, signed=False)
    sign = hlo.full(b, 1 << (bits - 1), u, x.shape)
    if hlo.is_signed(dt):  # two's complement with the sign bit flipped counts up from the minimum
        return [(hlo.binary(b, "xor", hlo.bitcast(b, x, u), sign), bits)]
    # IEEE floats: set the sign bit of positives and flip every bit of negatives; -0.0 becomes
    # +0.0 and every NaN the largest value.
    i = hlo.bitcast(b, x, u)
    magnitude = hlo.binary(b, "and", i, hlo.full(b, (1 << (bits - 1)) - 1, u, x.shape))
    flipped = hlo.select(b, hlo.compare(b, i, sign, "GE"), hlo.not_(b, i), hlo.or_(b, i, sign))
    zero = hlo.compare(b, magnitude, hlo.full_like(b, magnitude, 0), "EQ")
    out = hlo.select(b, zero, sign, flipped)
    inf = int(np.array(np.inf, dt).view(u))
    nan = hlo.compare(b, magnitude, hlo.full_like(b, magnitude, inf), "GT")
    return [(hlo.select(b, nan, hlo.full_like(b, out, (1 << bits) - 1), out), bits)]


def _pack(b, fields):
    """The fields, most significant first, in words (uint32 or uint64) of whole fields."""
    groups, used = [[]], 0
    for v, bits in fields:
        if used + bits > 64:
            groups.append([])
            used = 0
        groups[-1].append((v, bits))
        used += bits
    return [_word(b, g) for g in groups]


def _word(b, group):
    dt = _U32 if sum(bits for _, bits in group) <= 32 else _U64
    word = None
    for v, bits in group:
        v = hlo.convert(b, v, dt)
        if word is None:
            word = v
        else:
            word = hlo.or_(b, hlo.binary(b, "shift_left", word, hlo.full_like(b, word, bits)), v)
    return word


def _position_bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


def _position_field(b, shape, n: int):
    """The position along axis 1 as a field of `_position_bits(n)` bits."""
    bits = _position_bits(n)
    return hlo.iota(b, shape, _U32 if bits <= 32 else _U64, 1), bits


def _position_of(b, word, bits: int):
    """The position: the low `bits` of the last word, as int32 (int64 from 2^31)."""
    if word.dtype.itemsize * 8 > bits:
        word = hlo.binary(b, "and", word, hlo.full_like(b, word, (1 << bits) - 1))
    return hlo.convert(b, word, _I32 if bits < 32 else np.dtype(np.int64))


def _words_lt(b, xs, ys):
    """Lexicographic x < y over lists of unsigned words."""
    lt = hlo.compare(b, xs[-1], ys[-1], "LT")
    for x, y in zip(xs[-2::-1], ys[-2::-1]):
        lt = hlo.or_(b, hlo.compare(b, x, y, "LT"), hlo.and_(b, hlo.compare(b, x, y, "EQ"), lt))
    return lt


# ---------------------------------------------------------------------------------------------
# Gathers along axis 1


def _take(b, x, pos):
    """x[p, pos[p, i, q], q] for x of shape (P, n, Q) and integer `pos` of the same shape."""
    index = _index_dtype(x)
    step = hlo.sub(b, hlo.convert(b, pos, index), hlo.iota(b, pos.shape, index, 1))
    return _gather_flat(b, x, hlo.mul(b, step, hlo.full(b, x.shape[2], index, pos.shape)))


_GATHER_ELEMENTS = {  # out[i] = x[indices[i, 0]] for a 1-d x
    "dimension_numbers": (
        "#stablehlo.gather<offset_dims = [], collapsed_slice_dims = [0], start_index_map = [0], "
        "index_vector_dim = 1>"
    ),
    "slice_sizes": i64_array((1,)),
    "indices_are_sorted": bool_attr(False),
}


def _gather_flat(b, x, offset):
    """x at (flat index of each element + offset), one gather from the flattened x. IREE fuses
    this index arithmetic into the gather; a gather with batching dimensions (along P and Q)
    would first write out every index."""
    flat = hlo.iota(b, (x.aval.size,), offset.dtype, 0)
    indices = hlo.add(b, flat, hlo.reshape(b, offset, flat.shape))
    operands = [hlo.reshape(b, x, flat.shape), hlo.reshape(b, indices, flat.shape + (1,))]
    out = b.op("stablehlo.gather", operands, aval(flat.shape, x.dtype), _GATHER_ELEMENTS)
    return hlo.reshape(b, out, x.shape)


def _index_dtype(x):
    return _I32 if x.aval.size < 2**31 else np.dtype(np.int64)


# ---------------------------------------------------------------------------------------------
# Short sorts of one word: IREE's sort


def _native_sort(b, fields, n: int):
    """Positions sorting the (P, n, Q) `fields` along axis 1, by `stablehlo.sort` of one word."""
    pos, bits = _position_field(b, fields[0][0].shape, n)
    (word,) = _pack(b, fields + [(pos, bits)])
    # Keeps the packing out of the sort's dispatch (where IREE would stage it on the stack).
    word = b.op("stablehlo.optimization_barrier", [word], word.aval)
    with b.region([aval((), word.dtype)] * 2) as body:
        b.ret([hlo.compare(b, *body.args, "LT")], op="stablehlo.return")
    attrs = {"dimension": i64_attr(1), "is_stable": bool_attr(False)}  # the words are distinct
    word = b.op("stablehlo.sort", [word], word.aval, attrs, regions=[body])
    return _position_of(b, word, bits)


# ---------------------------------------------------------------------------------------------
# Long sorts: a bitonic sorting network over the padded power-of-two length N = 2^m.
#
# Stage s = 1..m merges sorted runs of 2^(s-1) into runs of 2^s (ascending where bit s of the
# index is clear, else descending), in steps over the bits b = s-1, ..., 0: each element compares
# itself with its partner at i ^ 2^b (a gather) and keeps the smaller of the two if it is the
# lower one in an ascending run or the upper one in a descending run, else the larger. The
# m(m+1)/2 steps (153 for 10^5 elements) run in one `stablehlo.while`, `_UNROLL` steps an
# iteration, the remainder straight-line before it. Each step is one dispatch, vectorized.

# IREE allocates and copies the loop-carried words in every iteration. Argsort of 1e5 floats:
# 65 ms with one step an iteration, 37 with 4, 27 with 8, 22 with 16 (compile 0.7, 0.8, 0.9 and
# 1.4 s of CPU).
_UNROLL = 8


def _bitonic(b, fields, n: int):
    """Positions sorting the (P, n, Q) `fields` along axis 1 with a bitonic network."""
    P, _, Q = fields[0][0].shape
    m = (n - 1).bit_length()
    N = 1 << m
    if N > n:  # padding sorts last: the largest keys, then the largest positions
        fields = [(_pad_axis1(b, v, N, (1 << bits) - 1), bits) for v, bits in fields]
    pos, bits = _position_field(b, (P, N, Q), N)
    words = _pack(b, fields + [(pos, bits)])
    steps = [(s, bit) for s in range(1, m + 1) for bit in range(s - 1, -1, -1)]
    rest = len(steps) % _UNROLL
    for s, bit in steps[:rest]:
        words = _merge_step(b, words, *_opaque(b, s, bit))
    if len(steps) > rest:
        words = _merge_loop(b, words, *steps[rest], (len(steps) - rest) // _UNROLL)
    return _position_of(b, hlo.slice_(b, words[-1], (0, 0, 0), (P, n, Q)), bits)


def _pad_axis1(b, x, size: int, value):
    fill = hlo.full(b, value, x.dtype)
    return hlo.pad(b, x, fill, (0, 0, 0), (0, size - x.shape[1], 0), (0, 0, 0))


def _opaque(b, *values):
    """int32 scalars IREE cannot see through. Else it evaluates the steps with known constants
    at compile time (JIT-compiling them: +1 s) and stores their index arrays in the module."""
    scalars = [hlo.full(b, v, _I32) for v in values]
    return b.op("stablehlo.optimization_barrier", scalars, [v.aval for v in scalars])


def _merge_loop(b, words, s0: int, bit0: int, trips: int):
    """`trips` iterations of `_UNROLL` steps, from stage `s0` and bit `bit0`."""
    c = lambda v: hlo.full(b, v, _I32)
    init = [*_opaque(b, 0, trips, s0, bit0), *words]
    avals = [v.aval for v in init]
    with b.region(avals) as cond:
        b.ret([hlo.compare(b, cond.args[0], cond.args[1], "LT")], op="stablehlo.return")
    with b.region(avals) as body:
        t, count, s, bit, *ws = body.args
        for _ in range(_UNROLL):
            ws = _merge_step(b, ws, s, bit)
            # then the bit below, or the next stage from its top bit (s + 1 - 1 = s)
            last = hlo.compare(b, bit, c(0), "EQ")
            s, bit = (
                hlo.select(b, last, hlo.add(b, s, c(1)), s),
                hlo.select(b, last, s, hlo.sub(b, bit, c(1))),
            )
        b.ret([hlo.add(b, t, c(1)), count, s, bit, *ws], op="stablehlo.return")
    return b.op("stablehlo.while", init, avals, regions=[cond, body])[4:]


def _merge_step(b, words, s, bit):
    """The step of stage `s` on bit `bit` (int32 scalars) on (P, N, Q) words."""
    shape = words[0].shape
    index = _index_dtype(words[0])
    spread = lambda v: hlo.broadcast_in_dim(b, v, shape, ())
    one, zero = hlo.full(b, 1, index), hlo.full(b, 0, index, shape)
    distance = hlo.binary(b, "shift_left", one, hlo.convert(b, bit, index))
    run = hlo.binary(b, "shift_left", one, hlo.convert(b, s, index))
    i = hlo.iota(b, shape, index, 1)
    lower = hlo.compare(b, hlo.binary(b, "and", i, spread(distance)), zero, "EQ")
    ascending = hlo.compare(b, hlo.binary(b, "and", i, spread(run)), zero, "EQ")
    # the partner is `distance` along axis 1 up (from the lower one) or down: Q apart per step
    up = hlo.mul(b, distance, hlo.full(b, shape[2], index))
    offset = hlo.select(b, lower, spread(up), spread(hlo.neg(b, up)))
    partner = [_gather_flat(b, w, offset) for w in words]
    keep_smaller = hlo.compare(b, lower, ascending, "EQ")
    take = hlo.compare(b, _words_lt(b, partner, words), keep_smaller, "EQ")
    new = [hlo.select(b, take, p, w) for p, w in zip(partner, words)]
    # Else IREE fuses each step into the next one's gather, recomputing it for every element
    # read: the compile time grows exponentially with the number of steps.
    return b.op("stablehlo.optimization_barrier", new, [w.aval for w in new])
