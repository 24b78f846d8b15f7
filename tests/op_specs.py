"""One entry per public operation: the function, a numpy reference, argument shapes and domain.

`tests/test_ops.py` expands this table into the shared checks: eager vs numpy, derivatives to
second order in both modes (`check_grads`), vmap vs a Python loop, and jit vs eager.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import hlodiff.numpy as hnp
from hlodiff import lax


@dataclass(frozen=True)
class OpSpec:
    name: str
    fun: Callable
    ref: Callable
    shapes: tuple  # one shape per argument
    domain: tuple = (-2.0, 2.0)
    differentiable: bool = True
    int_ok: bool = False  # also run with int32 inputs
    positive: bool = False
    extra: dict = field(default_factory=dict)


def _u(name, f, ref, shape=(3, 4), **kw):
    return OpSpec(name, f, ref, (shape,), **kw)


def _b(name, f, ref, shapes=((3, 4), (3, 4)), **kw):
    return OpSpec(name, f, ref, shapes, **kw)


OP_SPECS = [
    _u("sin", hnp.sin, np.sin),
    _u("cos", hnp.cos, np.cos),
    _u("tan", hnp.tan, np.tan, domain=(-1.2, 1.2)),
    _u("arcsin", hnp.arcsin, np.arcsin, domain=(-0.9, 0.9)),
    _u("arccos", hnp.arccos, np.arccos, domain=(-0.9, 0.9)),
    _u("arctan", hnp.arctan, np.arctan),
    _u("sinh", hnp.sinh, np.sinh),
    _u("cosh", hnp.cosh, np.cosh),
    _u("tanh", hnp.tanh, np.tanh),
    _u("arcsinh", hnp.arcsinh, np.arcsinh),
    _u("arccosh", hnp.arccosh, np.arccosh, domain=(1.2, 3.0)),
    _u("arctanh", hnp.arctanh, np.arctanh, domain=(-0.9, 0.9)),
    _u("exp", hnp.exp, np.exp),
    _u("exp2", hnp.exp2, np.exp2),
    _u("log", hnp.log, np.log, domain=(0.2, 3.0)),
    _u("log1p", hnp.log1p, np.log1p, domain=(-0.5, 2.0)),
    _u("expm1", hnp.expm1, np.expm1),
    _u("sqrt", hnp.sqrt, np.sqrt, domain=(0.2, 3.0)),
    _u("cbrt", hnp.cbrt, np.cbrt, domain=(0.2, 3.0)),
    _u("rsqrt", lax.rsqrt, lambda x: 1 / np.sqrt(x), domain=(0.2, 3.0)),
    _u("logistic", lax.logistic, lambda x: 1 / (1 + np.exp(-x))),
    _u("negative", hnp.negative, np.negative, int_ok=True),
    _u("abs", hnp.abs, np.abs, int_ok=True, domain=(0.1, 2.0)),
    _u("square", hnp.square, np.square, int_ok=True),
    _u("reciprocal", hnp.reciprocal, np.reciprocal, domain=(0.5, 2.0)),
    _u("integer_pow3", lambda x: x ** 3, lambda x: x ** 3, int_ok=True),
    _u("integer_pow-2", lambda x: x ** -2, lambda x: x ** -2.0, domain=(0.5, 2.0)),
    _u("sign", hnp.sign, np.sign, differentiable=False, int_ok=True),
    _u("floor", hnp.floor, np.floor, differentiable=False),
    _u("ceil", hnp.ceil, np.ceil, differentiable=False),
    _u("round", hnp.round, np.round, differentiable=False),
    _u("sum", hnp.sum, np.sum, int_ok=True),
    _u("sum_axis0", lambda x: hnp.sum(x, axis=0), lambda x: np.sum(x, axis=0), int_ok=True),
    _u("sum_keepdims", lambda x: hnp.sum(x, axis=-1, keepdims=True),
       lambda x: np.sum(x, axis=-1, keepdims=True)),
    _u("prod", lambda x: hnp.prod(x, axis=1), lambda x: np.prod(x, axis=1)),
    _u("mean", lambda x: hnp.mean(x, axis=1), lambda x: np.mean(x, axis=1)),
    _u("var", hnp.var, np.var),
    _u("std", lambda x: hnp.std(x, axis=0), lambda x: np.std(x, axis=0)),
    _u("max", lambda x: hnp.max(x, axis=1), lambda x: np.max(x, axis=1), int_ok=True),
    _u("min", hnp.min, np.min, int_ok=True),
    _u("argmax", lambda x: hnp.argmax(x, axis=0), lambda x: np.argmax(x, axis=0),
       differentiable=False, int_ok=True),
    _u("cumsum", lambda x: hnp.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1), int_ok=True),
    _u("cumprod", lambda x: hnp.cumprod(x, axis=0), lambda x: np.cumprod(x, axis=0)),
    _u("logsumexp", lambda x: hnp.logaddexp(x[0], x[1]),
       lambda x: np.logaddexp(x[0], x[1])),
    _u("transpose", lambda x: x.T, lambda x: x.T, int_ok=True),
    _u("reshape", lambda x: x.reshape(4, 3), lambda x: x.reshape(4, 3), int_ok=True),
    _u("ravel", hnp.ravel, np.ravel, int_ok=True),
    _u("expand_squeeze", lambda x: hnp.squeeze(hnp.expand_dims(x, 1), 1), lambda x: x),
    _u("flip", lambda x: hnp.flip(x, 1), lambda x: np.flip(x, 1), int_ok=True),
    _u("roll", lambda x: hnp.roll(x, 1, axis=1), lambda x: np.roll(x, 1, axis=1)),
    _u("tile", lambda x: hnp.tile(x, (2, 1)), lambda x: np.tile(x, (2, 1))),
    _u("repeat", lambda x: hnp.repeat(x, 2, axis=0), lambda x: np.repeat(x, 2, axis=0)),
    _u("pad", lambda x: hnp.pad(x, ((1, 0), (0, 2))), lambda x: np.pad(x, ((1, 0), (0, 2)))),
    _u("broadcast_to", lambda x: hnp.broadcast_to(x, (2, 3, 4)),
       lambda x: np.broadcast_to(x, (2, 3, 4))),
    _u("split", lambda x: hnp.split(x, 2, axis=1)[1], lambda x: np.split(x, 2, axis=1)[1]),
    _u("tril", hnp.tril, np.tril),
    _u("triu", lambda x: hnp.triu(x, 1), lambda x: np.triu(x, 1)),
    _u("trace", hnp.trace, np.trace),
    _u("diagonal", lambda x: hnp.diagonal(x, 1), lambda x: np.diagonal(x, 1)),
    _u("outer", lambda x: hnp.outer(x[0], x[1]), lambda x: np.outer(x[0], x[1])),
    _u("norm", hnp.linalg.norm, np.linalg.norm, domain=(0.5, 2.0)),
    _u("clip", lambda x: hnp.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7)),
    _u("where", lambda x: hnp.where(x > 0, x, 2 * x), lambda x: np.where(x > 0, x, 2 * x)),
    _u("sin_scalar", hnp.sin, np.sin, shape=()),
    _u("exp_empty", hnp.exp, np.exp, shape=(0, 3)),
    _u("sum_empty", lambda x: hnp.sum(x, axis=0), lambda x: np.sum(x, axis=0), shape=(0, 3)),
    _u("tanh_3d", hnp.tanh, np.tanh, shape=(2, 1, 3)),
    _b("add", hnp.add, np.add, int_ok=True),
    _b("subtract", hnp.subtract, np.subtract, int_ok=True),
    _b("multiply", hnp.multiply, np.multiply, int_ok=True),
    _b("divide", hnp.divide, np.divide, domain=(0.5, 2.0)),
    _b("power", hnp.power, np.power, domain=(0.5, 2.0)),
    _b("maximum", hnp.maximum, np.maximum, int_ok=True),
    _b("minimum", hnp.minimum, np.minimum, int_ok=True),
    _b("arctan2", hnp.arctan2, np.arctan2, domain=(0.3, 2.0)),
    _b("add_broadcast", hnp.add, np.add, shapes=((3, 1), (1, 4)), int_ok=True),
    _b("mul_rank_broadcast", hnp.multiply, np.multiply, shapes=((4,), (3, 4))),
    _b("mul_scalar_vector", hnp.multiply, np.multiply, shapes=((), (4,)), int_ok=True),
    _b("greater", hnp.greater, np.greater, differentiable=False, int_ok=True),
    _b("equal", hnp.equal, np.equal, differentiable=False, int_ok=True),
    _b("dot_vv", hnp.dot, np.dot, shapes=((4,), (4,))),
    _b("dot_mv", hnp.dot, np.dot, shapes=((3, 4), (4,)), int_ok=True),
    _b("matmul", hnp.matmul, np.matmul, shapes=((3, 4), (4, 2))),
    _b("matmul_batched", hnp.matmul, np.matmul, shapes=((2, 3, 4), (4, 2))),
    _b("vdot", hnp.vdot, np.vdot),
    _b("tensordot", lambda a, b: hnp.tensordot(a, b, ((0, 1), (0, 1))),
       lambda a, b: np.tensordot(a, b, ((0, 1), (0, 1)))),
    _b("einsum_ij_jk", lambda a, b: hnp.einsum("ij,kj->ik", a, b),
       lambda a, b: np.einsum("ij,kj->ik", a, b)),
    _b("einsum_batch", lambda a, b: hnp.einsum("bij,bjk->bk", a, b),
       lambda a, b: np.einsum("bij,bjk->bk", a, b), shapes=((2, 3, 4), (2, 4, 5))),
    _b("concatenate", lambda a, b: hnp.concatenate([a, b], axis=1),
       lambda a, b: np.concatenate([a, b], axis=1), int_ok=True),
    _b("stack", lambda a, b: hnp.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], -1)),
    _b("kron", hnp.kron, np.kron, shapes=((2, 2), (2, 3))),
    _b("select", lambda a, b: hnp.where(a > b, a, b), lambda a, b: np.where(a > b, a, b)),
]


def make_args(spec: OpSpec, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    lo, hi = spec.domain
    args = []
    for shape in spec.shapes:
        if np.dtype(dtype).kind in "iu":
            args.append(rng.integers(int(max(lo, -3)), int(min(hi, 3)) + 2, shape).astype(dtype))
        else:
            args.append(rng.uniform(lo, hi, shape).astype(dtype))
    return args
