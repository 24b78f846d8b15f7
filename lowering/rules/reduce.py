"""Lowering rules of the reductions (hlodiff/prims/reduce.py): reduce, argmax/argmin and
cumulative reductions. (sort has a file of its own, sort.py.)"""

from __future__ import annotations

import numpy as np

from hlodiff.prims import reduce as rp

from .. import hlo
from ..emitter import aval, dense_attr, i64_array
from ..registry import register
from .elementwise import _complex_order

# ---------------------------------------------------------------------------------------------
# Monoid reductions: (op on numbers, op on bools, identity(dtype))

_MONOIDS = {
    rp.reduce_sum_p: ("add", "or", lambda dt: 0),
    rp.reduce_prod_p: ("multiply", "and", lambda dt: 1),
    rp.reduce_max_p: ("maximum", "or", hlo.min_value),
    rp.reduce_min_p: ("minimum", "and", hlo.max_value),
    rp.reduce_and_p: ("and", "and", lambda dt: -1 if hlo.is_signed(dt) else hlo.max_value(dt)),
    rp.reduce_or_p: ("or", "or", lambda dt: 0),
}


def _monoid(prim):
    name, bool_name, identity = _MONOIDS[prim]

    def rule(ctx, x, *, axes, **_):
        b = ctx.b
        if hlo.is_complex(x.dtype) and name in ("maximum", "minimum"):
            raise NotImplementedError(f"{prim} of complex values has no lowering")
        op = bool_name if hlo.is_bool(x.dtype) else name
        init = hlo.full(b, identity(x.dtype), x.dtype)
        (out,) = hlo.reduce(b, [x], [init], axes, hlo.monoid_body(op))
        return out

    return rule


for _prim in _MONOIDS:
    register(_prim)(_monoid(_prim))


# ---------------------------------------------------------------------------------------------
# argmax / argmin: a variadic reduce over (value, index)


def _arg_rule(kind):
    direction = "GT" if kind == "max" else "LT"

    def rule(ctx, x, *, axes, index_dtype):
        b = ctx.b
        (axis,) = axes
        index_dtype = np.dtype(index_dtype)
        idx = hlo.iota(b, x.shape, index_dtype, axis)
        worst = hlo.min_value(x.dtype) if kind == "max" else hlo.max_value(x.dtype)
        if hlo.is_complex(x.dtype):
            worst = complex(worst, worst)
        inits = [hlo.full(b, worst, x.dtype), hlo.full(b, 0, index_dtype)]
        body = lambda b, accs, xs: _arg_pick(b, direction, accs, xs)  # noqa: E731
        return hlo.reduce(b, [x, idx], inits, [axis], body)[1]

    return rule


def _arg_pick(b, direction, accs, xs):
    """Keeps the better of two (value, index) pairs: the larger value (smaller for argmin), NaN
    beating every number, the smaller index on ties. A total preorder, so the reduction order does
    not matter."""
    (v1, i1), (v2, i2) = accs, xs
    better, same = _better(b, v1, v2, direction), _same(b, v1, v2)
    first = hlo.compare(b, i1, i2, "LT")
    pick = hlo.or_(b, better, hlo.and_(b, same, first))
    return [hlo.select(b, pick, v1, v2), hlo.select(b, pick, i1, i2)]


def _better(b, x, y, direction):
    if hlo.is_complex(x.dtype):
        return _complex_order(b, x, y, direction)
    out = hlo.compare(b, x, y, direction)
    if hlo.is_float(x.dtype):
        out = hlo.or_(b, out, hlo.and_(b, hlo.is_nan(b, x), hlo.not_(b, hlo.is_nan(b, y))))
    return out


def _same(b, x, y):
    out = hlo.compare(b, x, y, "EQ")
    if hlo.is_float(x.dtype):
        out = hlo.or_(b, out, hlo.and_(b, hlo.is_nan(b, x), hlo.is_nan(b, y)))
    return out


register(rp.argmax_p)(_arg_rule("max"))
register(rp.argmin_p)(_arg_rule("min"))


# ---------------------------------------------------------------------------------------------
# Cumulative reductions: a reduce_window whose window spans the whole axis, padded in front
# (behind when reversed) with the identity, as JAX lowers them on CPU.

_CUMULATIVE = {
    rp.cumsum_p: rp.reduce_sum_p,
    rp.cumprod_p: rp.reduce_prod_p,
    rp.cummax_p: rp.reduce_max_p,
    rp.cummin_p: rp.reduce_min_p,
}


def _cumulative(prim):
    name, bool_name, identity = _MONOIDS[_CUMULATIVE[prim]]

    def rule(ctx, x, *, axis, reverse):
        b = ctx.b
        if not x.shape:
            return x
        op = bool_name if hlo.is_bool(x.dtype) else name
        return reduce_window_scan(b, x, axis, reverse, op, identity(x.dtype))

    return rule


def reduce_window_scan(b, x, axis: int, reverse: bool, op: str, identity):
    """Inclusive scan of `x` along `axis` by the monoid `op` with one `stablehlo.reduce_window`."""
    if hlo.is_bool(x.dtype):
        # IREE cannot compile reduce_window on i1: scan 0/1 bytes (or = max, and = min).
        i8 = np.dtype(np.int8)
        op = {"or": "maximum", "and": "minimum"}[op]
        out = reduce_window_scan(b, hlo.convert(b, x, i8), axis, reverse, op, int(identity))
        return hlo.compare(b, out, hlo.full_like(b, out, 0), "NE")
    n = x.shape[axis]
    rank = len(x.shape)
    window = [1] * rank
    window[axis] = n
    padding = np.zeros((rank, 2), np.int64)
    padding[axis] = (0, n - 1) if reverse else (n - 1, 0)
    init = hlo.full(b, identity, x.dtype)
    scalar = aval((), x.dtype)
    with b.region([scalar, scalar]) as body:
        b.ret([hlo.binary(b, op, *body.args)], op="stablehlo.return")
    attrs = {
        "window_dimensions": i64_array(window),
        "window_strides": i64_array([1] * rank),
        "padding": dense_attr(padding, np.int64),
    }
    return b.op("stablehlo.reduce_window", [x, init], x.aval, attrs, regions=[body])


for _prim in _CUMULATIVE:
    register(_prim)(_cumulative(_prim))
