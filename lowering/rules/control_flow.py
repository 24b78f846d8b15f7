"""Lowering rules of the control-flow primitives (hlodiff/prims/control_flow.py).

- cond: `stablehlo.case` on the int32 branch index (the wrappers clamp it), one region per
  branch; the regions use the operands from above. An operand a branch returns unchanged is
  selected after the case instead (works around an IREE miscompile, see `_cond_lower`).
- while: `stablehlo.while` over (cond consts, body consts, carry); the consts ride along
  unchanged, as JAX lowers them, so neither region captures values from outside.
- scan: `stablehlo.while` over (i, consts, carry, xs, ys buffers): each step reads x_i with
  `dynamic_slice`, runs the body inline and writes y_i with `dynamic_update_slice`; `reverse`
  walks i from the end. `unroll=k` inlines k steps per loop iteration (the remainder after
  the loop); `unroll=True` (or k >= length) emits the whole scan straight-line, no loop.
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
    b = ctx.b
    idx = np.dtype(np.int32 if length < 2**31 else np.int64)
    u = length if unroll is True else max(1, min(int(unroll), length))
    looped = (length // u) * u  # steps done by the while loop, `u` per iteration
    ys = [hlo.full(b, 0, a.dtype, (length,) + a.shape) for a in jaxpr.out_avals[num_carry:]]
    consts = list(args[:num_consts])
    carry = list(args[num_consts:num_consts + num_carry])
    xs = list(args[num_consts + num_carry:])
    i = hlo.full(b, 0, idx)
    if looped and looped // u > 1:
        i, carry, ys = _scan_loop(ctx, jaxpr, length, reverse, num_carry, u, looped, idx,
                                  i, consts, carry, xs, ys)
        remaining = length - looped
    else:  # a single iteration is emitted inline, like the remainder
        remaining = length
    _, carry, ys = _scan_steps(ctx, jaxpr, length, reverse, num_carry, remaining, idx,
                               i, consts, carry, xs, ys)
    return carry + ys


def _scan_loop(ctx, jaxpr, length, reverse, num_carry, u, looped, idx, i, consts, carry, xs,
               ys):
    """A `stablehlo.while` running `looped` steps, `u` inlined steps per iteration."""
    b = ctx.b
    operands = [i, *consts, *carry, *xs, *ys]
    avals = [v.aval for v in operands]
    nc, nk, nx = len(consts), len(carry), len(xs)
    with b.region(avals) as cond:
        b.ret([hlo.compare(b, cond.args[0], hlo.full(b, looped, idx), "LT")],
              op="stablehlo.return")
    with b.region(avals) as body:
        a = body.args
        bi, bconsts, bcarry = a[0], a[1:1 + nc], a[1 + nc:1 + nc + nk]
        bxs, bys = a[1 + nc + nk:1 + nc + nk + nx], a[1 + nc + nk + nx:]
        bi, bcarry, bys = _scan_steps(ctx, jaxpr, length, reverse, num_carry, u, idx, bi,
                                      list(bconsts), list(bcarry), list(bxs), list(bys))
        b.ret([bi, *bconsts, *bcarry, *bxs, *bys], op="stablehlo.return")
    outs = b.op("stablehlo.while", operands, avals, regions=[cond, body])
    return outs[0], list(outs[1 + nc:1 + nc + nk]), list(outs[1 + nc + nk + nx:])


def _scan_steps(ctx, jaxpr, length, reverse, num_carry, count, idx, i, consts, carry, xs, ys):
    """`count` scan steps emitted straight-line from step index `i`."""
    b = ctx.b
    for _ in range(count):
        pos = hlo.sub(b, hlo.full(b, length - 1, idx), i) if reverse else i
        outs = lower_sub_jaxpr(ctx, jaxpr, consts + carry + [_read(b, x, pos) for x in xs])
        ys = [_write(b, buf, y, pos) for buf, y in zip(ys, outs[num_carry:])]
        carry = list(outs[:num_carry])
        i = hlo.add(b, i, hlo.full(b, 1, idx))
    return i, carry, ys


def _avals(avals) -> list:
    return [aval(a.shape, a.dtype) for a in avals]


def _read(b, x, pos):
    """x[pos] along the leading axis."""
    zero = hlo.full(b, 0, pos.dtype)
    row = b.op("stablehlo.dynamic_slice", [x, pos] + [zero] * (len(x.shape) - 1),
               aval((1,) + x.shape[1:], x.dtype), {"slice_sizes": i64_array((1,) + x.shape[1:])})
    return hlo.reshape(b, row, x.shape[1:])


def _write(b, buf, y, pos):
    """buf with buf[pos] = y."""
    zero = hlo.full(b, 0, pos.dtype)
    row = hlo.reshape(b, y, (1,) + tuple(y.shape))
    return b.op("stablehlo.dynamic_update_slice", [buf, row, pos] + [zero] * len(y.shape),
                buf.aval)
