"""Batching: the vmap interpreter. Each value carries the position of its batch dimension.

A batching rule has the signature `rule(axis_size, vals, dims, **params) -> (out, out_dim)`
where `dims[i]` is the batch dimension of `vals[i]` or `not_mapped` (None). Rules move batch
dimensions instead of looping: the batched program is one program, whatever the batch size.
"""

from __future__ import annotations

from typing import Callable

from hlodiff import core
from hlodiff.core import Trace, Tracer, get_aval, set_current_trace

not_mapped = None


class BatchTracer(Tracer):
    __slots__ = ("val", "batch_dim")

    def __init__(self, trace, val, batch_dim: int):
        self._trace = trace
        self.val = val
        self.batch_dim = batch_dim

    @property
    def aval(self):
        aval = get_aval(self.val)
        shape = aval.shape[: self.batch_dim] + aval.shape[self.batch_dim + 1 :]
        return aval.update(shape=shape)


class BatchTrace(Trace):
    def __init__(self, parent: Trace, axis_size: int, axis_name=None):
        self.parent = parent
        self.axis_size = axis_size
        self.axis_name = axis_name

    def to_val_dim(self, x):
        if type(x) is BatchTracer and x._trace is self:
            return x.val, x.batch_dim
        return x, not_mapped

    def process_primitive(self, primitive, args, params):
        vals, dims = [], []
        for x in args:
            v, d = self.to_val_dim(x)
            vals.append(v)
            dims.append(d)
        if all(d is not_mapped for d in dims):
            return primitive.bind_with_trace(self.parent, vals, params)
        rule = primitive.batch
        if rule is None:
            raise NotImplementedError(
                f"Batching rule for '{primitive}' not implemented. Add a `batch` rule to its "
                "block in hlodiff/prims/."
            )
        with set_current_trace(self.parent):
            out, out_dim = rule(self.axis_size, vals, dims, **params)
        if primitive.multiple_results:
            return [self.maybe_tracer(o, d) for o, d in zip(out, out_dim)]
        return self.maybe_tracer(out, out_dim)

    def maybe_tracer(self, val, dim):
        return val if dim is not_mapped else BatchTracer(self, val, dim)

    def process_custom_jvp_call(self, primitive, fun, jvp, args, params):
        from hlodiff.prims.custom import batch_custom_jvp

        return batch_custom_jvp(self, primitive, fun, jvp, args, params)

    def process_custom_vjp_call(self, primitive, fun, fwd, bwd, args, params):
        from hlodiff.prims.custom import batch_custom_vjp

        return batch_custom_vjp(self, primitive, fun, fwd, bwd, args, params)


def batch_flat(fun: Callable, axis_size: int, vals, in_dims, out_dims, axis_name=None) -> list:
    """Runs `fun` on per-example slices of `vals` (flat lists); returns batched outputs."""
    trace = BatchTrace(core.current_trace(), axis_size, axis_name)
    tracers = [trace.maybe_tracer(v, d) for v, d in zip(vals, in_dims)]
    with set_current_trace(trace):
        outs = fun(*tracers)
    results = []
    for out, out_dim in zip(outs, out_dims):
        v, d = trace.to_val_dim(out)
        results.append(move_batch_dim(v, d, out_dim, axis_size))
    return results


def move_batch_dim(x, src, dst, axis_size: int):
    """Moves the batch dim of `x` from `src` to `dst` (None: must be unbatched / broadcast)."""
    if dst is not_mapped:
        if src is not not_mapped:
            raise ValueError(
                "vmap has mapped output but out_axes is None: an output that depends on a "
                "mapped input cannot be returned unmapped."
            )
        return x
    if src is not_mapped:
        return sp.broadcast_along(x, axis_size, dst)
    return sp.moveaxis(x, src, dst)


# ---------------------------------------------------------------------------------------------
# Helpers for rules


def bdim_at_front(x, d, axis_size: int):
    """`x` with its batch dim moved to 0, or broadcast to have one if unmapped."""
    if d is not_mapped:
        return sp.broadcast_along(x, axis_size, 0)
    return sp.moveaxis(x, d, 0)


def broadcast_batcher(primitive, axis_size: int, vals, dims, **params):
    """Batching for elementwise primitives whose operands share one shape."""
    ndims = [get_aval(v).ndim for v in vals]
    first = next(d for d in dims if d is not not_mapped)
    if all(d == first for d in dims) and len(set(ndims)) == 1:
        return primitive.bind(*vals, **params), first
    vals = [bdim_at_front(v, d, axis_size) for v, d in zip(vals, dims)]
    return primitive.bind(*vals, **params), 0


def defvectorized(primitive) -> None:
    """A unary elementwise primitive: the batch dim stays where it is."""
    primitive.batch = lambda axis_size, vals, dims, **params: (
        primitive.bind(*vals, **params),
        dims[0],
    )



def batch_jaxpr(closed, axis_size: int, in_dims, out_dims_at=0):
    """A closed jaxpr computing `closed` over a batch: inputs batched along `in_dims` (None:
    unbatched), every output batched along `out_dims_at`."""
    from hlodiff.ir import eval_jaxpr
    from hlodiff.transforms.staging import trace_to_jaxpr

    in_avals = []
    for a, d in zip(closed.in_avals, in_dims):
        if d is not_mapped:
            in_avals.append(a)
        else:
            in_avals.append(a.update(shape=a.shape[:d] + (axis_size,) + a.shape[d:]))

    def fun(*args):
        return batch_flat(lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs), axis_size,
                          list(args), list(in_dims), [out_dims_at] * len(closed.out_avals))

    return trace_to_jaxpr(fun, in_avals)


# The shape primitives use the helpers above; imported last to close the cycle without a
# function-level import on every batched primitive.
from hlodiff.prims import shape as sp  # noqa: E402
