"""numpy-style indexing: basic and advanced `x[idx]`, `.at[idx]` updates, take, sort, nonzero."""

from __future__ import annotations

import numpy as np

from hlodiff.core import get_aval
from hlodiff.prims import shape as sp


def getitem(x, idx):
    """Basic indexing only (ints, slices, None, Ellipsis) — extended by the indexing work."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    shape = get_aval(x).shape
    n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if Ellipsis in idx:
        k = idx.index(Ellipsis)
        idx = idx[:k] + (slice(None),) * (len(shape) - n_real) + idx[k + 1:]
    idx = idx + (slice(None),) * (len(shape) - sum(1 for i in idx if i is not None))
    starts, limits, strides, squeeze_dims, new_shape_ops = [], [], [], [], []
    dim = 0
    out_dims = []
    for i in idx:
        if i is None:
            out_dims.append("new")
            continue
        size = shape[dim]
        if isinstance(i, slice):
            a, b, c = i.indices(size)
            if c < 0:
                raise NotImplementedError
            starts.append(a); limits.append(max(a, b)); strides.append(c)
            out_dims.append(dim)
        else:
            i = int(i)
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for axis {dim} with size {size}")
            i %= size
            starts.append(i); limits.append(i + 1); strides.append(1)
            squeeze_dims.append(dim)
        dim += 1
    out = sp.slice(x, starts, limits, strides)
    out = sp.squeeze(out, squeeze_dims)
    new_positions = [k for k, d in enumerate([d for d in out_dims]) if d == "new"]
    if new_positions:
        out = sp.expand_dims(out, tuple(new_positions))
    return out
