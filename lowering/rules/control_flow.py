"""Lowering rules of the control-flow primitives (hlodiff/prims/control_flow.py).

- cond: `stablehlo.case` on the int32 branch index (the wrappers clamp it), one region per
  branch; the regions use the operands from above. An operand a branch returns unchanged is
  selected after the case instead (works around an IREE miscompile, see `_cond_lower`).
- while: `stablehlo.while` over (cond consts, body consts, carry); the consts ride along
  unchanged, as JAX lowers them, so neither region captures values from outside.
- scan: `stablehlo.while` over (trip, start step, consts, carry, xs, output slots): each step
  reads x_i with `dynamic_slice` and runs the body inline; each iteration's outputs go to a
  fresh loop-carried slot, the slots rotate and are concatenated after the loop (no buffer
  updated in place: see `_Scan`). `reverse` walks i from the end. `unroll=k` inlines k steps
  per innermost iteration (the remainder straight-line after it); `unroll=True` (or
  k >= length) emits the whole scan straight-line, no loop.
"""

from __future__ import annotations

import numpy as np

from hlodiff.prims.control_flow import cond_p, scan_p, while_p

from .. import hlo
from ..emitter import aval, i64_array
from ..lower import lower_sub_jaxpr
from ..registry import register


@register(cond_p)
def _cond_lower(ctx, index, *ops, branches):
    b = ctx.b
    regions, forwarded = [], []
    for branch in branches:
        with b.region() as region:
            outs = lower_sub_jaxpr(ctx, branch, ops)
            fwd = [next((x for x in ops if x is o), None) for o in outs]
            b.ret([hlo.full_like(b, o, 0) if f is not None else o for o, f in zip(outs, fwd)],
                  op="stablehlo.return")
        regions.append(region)
        forwarded.append(fwd)
    outs = b.op("stablehlo.case", [index], _avals(ctx.avals_out), regions=regions)
    # A branch returning one of its operands unchanged yields a zero instead, and the operand is
    # selected here: IREE 3.13 miscompiles a `case` result that is a value captured from above
    # (a runtime "indirect buffer reference ... out of range" once the result is stored).
    for i, fwd in enumerate(forwarded):
        for j, x in enumerate(fwd):
            if x is not None:
                taken = hlo.compare(b, index, hlo.full(b, i, index.dtype), "EQ")
                outs[j] = hlo.select(b, taken, x, outs[j])
    return outs


@register(while_p)
def _while_lower(ctx, *args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    b = ctx.b
    n = cond_nconsts + body_nconsts
    avals = [a.aval for a in args]
    with b.region(avals) as cond:
        (pred,) = lower_sub_jaxpr(ctx, cond_jaxpr, cond.args[:cond_nconsts] + cond.args[n:])
        b.ret([pred], op="stablehlo.return")
    with b.region(avals) as body:
        new = lower_sub_jaxpr(ctx, body_jaxpr, body.args[cond_nconsts:])
        b.ret(body.args[:n] + new, op="stablehlo.return")
    outs = b.op("stablehlo.while", list(args), avals, regions=[cond, body])
    return outs[n:]


@register(scan_p)
def _scan_lower(ctx, *args, jaxpr, length, reverse, num_consts, num_carry, unroll):
    consts = list(args[:num_consts])
    carry = list(args[num_consts:num_consts + num_carry])
    xs = list(args[num_consts + num_carry:])
    steps = length if unroll is True else max(1, min(int(unroll), length))
    scan = _Scan(ctx, jaxpr, length, reverse, num_carry, steps)
    if length == 0:
        return carry + [hlo.full(ctx.b, 0, a.dtype, (0,) + a.shape) for a in scan.y_avals]
    carry, parts = scan.block(length, hlo.full(ctx.b, 0, scan.idx), consts, carry, xs)
    return carry + [scan.stack(p) for p in parts]


# Loop-carried slots per loop, over all stacked outputs. IREE 3.13's compile time grows fast
# with the number of loop-carried values (a 1024-step scan of one output: 0.5 s with at most
# 32 slots a loop, 1.1 s with 128, 4.7 s with 256, 460 s as one loop of 1024 slots), while
# each level of nesting copies the outputs once more. With 32, the RNN benchmark (100 to 10000
# steps, forward and value_and_grad) compiles within 0.05-0.3 s of the old in-place lowering.
_LOOP_SLOTS = 32


class _Scan:
    """One scan being lowered: its body, direction and `steps` per innermost loop iteration.

    Stacked outputs are never updated in place: IREE 3.13 copies a loop-carried tensor in every
    iteration that uses it (a stream transfer of the loop's block argument, never elided), so a
    `dynamic_update_slice` (or `scatter`) into the stacked outputs of a 100-step RNN made it 6x
    slower. Instead each iteration's outputs become a new loop-carried *slot*: the slots rotate
    (`slots[1:] + [new]`, a permutation IREE forwards without copying) and are concatenated
    after the loop. A loop holds at most `_LOOP_SLOTS` slots, so a long scan is a loop of loops
    (each level copies the outputs once, concatenating them); see `split`.
    """

    def __init__(self, ctx, jaxpr, length, reverse, num_carry, steps):
        self.ctx, self.b, self.jaxpr = ctx, ctx.b, jaxpr
        self.length, self.reverse, self.num_carry, self.steps = length, reverse, num_carry, steps
        self.idx = np.dtype(np.int32 if length < 2**31 else np.int64)
        self.y_avals = list(jaxpr.out_avals[num_carry:])
        self.slots = max(2, _LOOP_SLOTS // len(self.y_avals)) if self.y_avals else length

    def block(self, n, i, consts, carry, xs):
        """Emits the `n` steps from step number `i` (a Value).

        Returns the carry and, per stacked output, its parts in step order (concatenate them
        with `stack`).
        """
        if n <= self.steps:
            return self.straight(n, i, consts, carry, xs)
        trips, size = self.split(n)
        if trips == 1:
            carry, parts = self.block(size, i, consts, carry, xs)
        else:
            carry, parts = self.loop(trips, size, i, consts, carry, xs)
        rest = n - trips * size
        if rest:
            carry, more = self.block(rest, self.offset(i, trips * size), consts, carry, xs)
            parts = [p + m for p, m in zip(parts, more)]
        return carry, parts

    def split(self, n):
        """(trips, size): `n` steps as a loop of `trips` blocks of `size` steps, and the rest.

        When the number of loop iterations `n // steps` has no prime factor above `slots`, the
        loops nest with trip counts that divide it, the largest innermost (1000 steps: 2 x 20 x
        25), so the body is emitted once and the rest is under `steps`. Otherwise the
        iterations are counted in base `slots`, a loop nest per nonzero digit (1009 steps in
        base 32: 31 x 32, then 17).
        """
        iterations = n // self.steps
        factors = _trip_counts(iterations, self.slots)
        if factors:
            return factors[-1], iterations // factors[-1] * self.steps
        size = self.steps
        while n // size > self.slots:
            size *= self.slots
        return n // size, size

    def loop(self, trips, size, i, consts, carry, xs):
        """A `stablehlo.while` of `trips` iterations, each `size` steps; one slot per iteration."""
        b, idx, ny = self.b, self.idx, len(self.y_avals)
        empty = [hlo.full(b, 0, a.dtype, (size,) + a.shape) for a in self.y_avals]
        operands = [hlo.full(b, 0, idx), i, *consts, *carry, *xs]
        operands += [e for e in empty for _ in range(trips)]
        avals = [v.aval for v in operands]
        sizes = [2, len(consts), len(carry), len(xs)]
        with b.region(avals) as cond:
            b.ret([hlo.compare(b, cond.args[0], hlo.full(b, trips, idx), "LT")],
                  op="stablehlo.return")
        with b.region(avals) as body:
            (t, i0), bconsts, bcarry, bxs, slots = _split(body.args, sizes)
            start = hlo.add(b, i0, t if size == 1 else hlo.mul(b, t, hlo.full(b, size, idx)))
            new_carry, parts = self.block(size, start, bconsts, bcarry, bxs)
            rotated = []
            for j, p in enumerate(parts):
                rotated += slots[j * trips + 1:(j + 1) * trips] + [self.slot(p)]
            b.ret([hlo.add(b, t, hlo.full(b, 1, idx)), i0, *bconsts, *new_carry, *bxs, *rotated],
                  op="stablehlo.return")
        outs = b.op("stablehlo.while", operands, avals, regions=[cond, body])
        _, _, out_carry, _, slots = _split(outs, sizes)
        return out_carry, [slots[j * trips:(j + 1) * trips] for j in range(ny)]

    def straight(self, n, i, consts, carry, xs):
        """`n` steps emitted straight-line; each step's outputs are one part (a row)."""
        b = self.b
        parts = [[] for _ in self.y_avals]
        for k in range(n):
            pos = self.position(self.offset(i, k))
            outs = lower_sub_jaxpr(self.ctx, self.jaxpr,
                                   consts + carry + [_read(b, x, pos) for x in xs])
            carry = list(outs[:self.num_carry])
            for p, y in zip(parts, outs[self.num_carry:]):
                p.append(hlo.reshape(b, y, (1,) + tuple(y.shape)))
        return carry, parts

    def slot(self, parts):
        """The value one loop iteration leaves in its slot: its parts, stacked."""
        if len(parts) > 1:
            return self.stack(parts)  # a concatenation: a new value
        # A slot that receives an incoming carry (or a view of one) unchanged makes IREE 3.13
        # fail to compile ("successor operand type '!stream.resource<external>' should match
        # successor input type '!stream.resource<transient>'"); the barrier gives the row a
        # value of its own, at no measured cost. (Outside loops it cost 1.5x: rows are not
        # written straight into the concatenation then.)
        (row,) = parts
        return self.b.op("stablehlo.optimization_barrier", [row], row.aval)

    def stack(self, parts):
        """The parts of consecutive steps (in step order) concatenated in position order."""
        return hlo.concatenate(self.b, parts[::-1] if self.reverse else parts, 0)

    def offset(self, i, k):
        return i if k == 0 else hlo.add(self.b, i, hlo.full(self.b, k, self.idx))

    def position(self, i):
        b = self.b
        return hlo.sub(b, hlo.full(b, self.length - 1, self.idx), i) if self.reverse else i


def _trip_counts(n, most):
    """Factors of `n`, each at most `most`, largest first (few of them); None if there are none."""
    factors = []
    while n > most:
        d = next((d for d in range(most, 1, -1) if n % d == 0), None)
        if d is None:  # a prime factor above `most`
            return None
        factors.append(d)
        n //= d
    return factors + [n]


def _split(values, sizes):
    """`values` cut into consecutive lists of `sizes`, then the rest."""
    out, start = [], 0
    for n in sizes:
        out.append(list(values[start:start + n]))
        start += n
    return out + [list(values[start:])]


def _avals(avals) -> list:
    return [aval(a.shape, a.dtype) for a in avals]


def _read(b, x, pos):
    """x[pos] along the leading axis."""
    zero = hlo.full(b, 0, pos.dtype)
    row = b.op("stablehlo.dynamic_slice", [x, pos] + [zero] * (len(x.shape) - 1),
               aval((1,) + x.shape[1:], x.dtype), {"slice_sizes": i64_array((1,) + x.shape[1:])})
    return hlo.reshape(b, row, x.shape[1:])
