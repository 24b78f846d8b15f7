"""The shared checks over `op_specs.OP_SPECS`: eager vs numpy, check_grads (order 2, both modes,
float64), vmap vs a Python loop over several in_axes, and the jaxpr's type check."""

from __future__ import annotations

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff.ir import typecheck_jaxpr
from hlodiff.test_util import check_grads
from tests.op_specs import OP_SPECS, make_args

IDS = [s.name for s in OP_SPECS]


@pytest.fixture
def x64():
    hd.config.update("enable_x64", True)
    yield
    hd.config.update("enable_x64", False)


def _cases(int_too=True):
    for s in OP_SPECS:
        yield pytest.param(s, np.float32, id=f"{s.name}-f32")
        if int_too and s.int_ok:
            yield pytest.param(s, np.int32, id=f"{s.name}-i32")


@pytest.mark.parametrize("spec,dtype", list(_cases()))
def test_eager_matches_numpy(spec, dtype):
    args = make_args(spec, dtype)
    out = spec.fun(*[hnp.asarray(a) for a in args])
    expected = spec.ref(*args)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=2e-5 if dtype == np.float32 else 0,
                               atol=2e-5 if dtype == np.float32 else 0)
    assert np.asarray(out).shape == np.shape(expected)


@pytest.mark.parametrize("spec", [s for s in OP_SPECS if s.differentiable], ids=[
    s.name for s in OP_SPECS if s.differentiable])
def test_grads_order2(spec, x64):
    args = make_args(spec, np.float64, seed=1)
    fun = spec.fun
    check_grads(lambda *xs: fun(*xs), args, order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("spec", [s for s in OP_SPECS if s.differentiable], ids=[
    s.name for s in OP_SPECS if s.differentiable])
def test_grads_order1_float32(spec):
    args = make_args(spec, np.float32, seed=4)
    check_grads(lambda *xs: spec.fun(*xs), args, order=1, modes=("fwd", "rev"))


def _loop(fun, args, in_axes):
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    outs = []
    for i in range(size):
        sl = [a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, in_axes)]
        outs.append(np.asarray(fun(*[hnp.asarray(x) for x in sl])))
    return np.stack(outs)


def _axes_choices(n_args, ndims):
    yield (0,) * n_args
    yield tuple(-1 for _ in range(n_args))
    if n_args == 2:
        yield (None, 0)
        yield (1 if ndims[0] > 1 else 0, None)


@pytest.mark.parametrize("spec,dtype", list(_cases()))
def test_vmap_matches_loop(spec, dtype):
    base = make_args(spec, dtype, seed=2)
    ndims = [a.ndim + 1 for a in base]
    for in_axes in _axes_choices(len(base), ndims):
        rng = np.random.default_rng(3)
        args = []
        for a, ax in zip(base, in_axes):
            if ax is None:
                args.append(a)
            else:
                batch = np.stack([a + (rng.uniform(0, 0.1, a.shape).astype(dtype)
                                       if a.dtype.kind == "f" else 0) for _ in range(3)])
                args.append(np.moveaxis(batch, 0, ax))
        out = hd.vmap(spec.fun, in_axes=in_axes)(*[hnp.asarray(a) for a in args])
        expected = _loop(spec.fun, args, in_axes)
        np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5,
                                   err_msg=f"in_axes={in_axes}")


@pytest.mark.parametrize("spec", OP_SPECS, ids=IDS)
def test_jaxpr_typechecks(spec):
    args = make_args(spec, np.float32)
    closed = hd.make_jaxpr(spec.fun)(*args)
    typecheck_jaxpr(closed.jaxpr)
    if spec.differentiable:
        closed = hd.make_jaxpr(hd.grad(lambda *xs: hnp.sum(spec.fun(*xs))))(*args)
        typecheck_jaxpr(closed.jaxpr)
