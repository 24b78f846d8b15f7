"""The `models` suite: workloads the size of real training code, jitted.

- an MLP training step (784-512-512-10, tanh, batch 128, float32, SGD);
- DP-SGD per-example gradient clipping (batch 64): vmap(grad) + per-example norm clip + mean;
- a Hessian-vector product of the MLP loss (forward-over-reverse);
- jacfwd and jacrev of a 200 -> 200 tanh layer;
- an RNN of 100 steps with `lax.scan`, forward and value-and-grad;
- cholesky + solve of a 512x512 SPD system (when hlodiff's linalg jits; else "not available").

hlodiff and JAX share the code below (same API); torch (eager, torch.func), autograd (eager) and
hand-written numpy live in `models_ref.py`. Inputs come from `numpy.random.default_rng(0)`.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import pairwise

import numpy as np

from hlodiff.bench import models_ref
from hlodiff.bench.workload import Unavailable, Workload

LR = 0.1  # SGD step size
CLIP = 20.0  # DP-SGD per-example norm bound (full size: norms 18-24, so some are clipped)

_JIT_ONLY = {"autograd": "eager", "torch": "eager", "numpy": "eager"}


# --- inputs -------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def mlp_init(sizes: tuple, batch: int, seed: int = 0):
    """Parameters [(W, b), ...] (W ~ N(0, 1/fan_in)), inputs f32[batch, sizes[0]], labels."""
    rng = np.random.default_rng(seed)
    params = [
        (
            rng.standard_normal((m, n)).astype(np.float32) / np.float32(np.sqrt(m)),
            (0.1 * rng.standard_normal(n)).astype(np.float32),
        )
        for m, n in pairwise(sizes)
    ]
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int32)
    tangent = [
        (
            rng.standard_normal(W.shape).astype(np.float32),
            rng.standard_normal(b.shape).astype(np.float32),
        )
        for W, b in params
    ]
    return params, x, y, tangent


def _mlp_inputs(params):
    return mlp_init(tuple(params["sizes"]), params["batch"])


@lru_cache(maxsize=4)
def layer_init(n: int):
    rng = np.random.default_rng(1)
    W = rng.standard_normal((n, n)).astype(np.float32) / np.float32(np.sqrt(n))
    b = (0.1 * rng.standard_normal(n)).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    return x, W, b


@lru_cache(maxsize=4)
def rnn_init(steps: int, batch: int, inputs: int, hidden: int):
    rng = np.random.default_rng(2)
    Wx = rng.standard_normal((inputs, hidden)).astype(np.float32) / np.float32(np.sqrt(inputs))
    Wh = rng.standard_normal((hidden, hidden)).astype(np.float32) / np.float32(np.sqrt(hidden))
    b = (0.1 * rng.standard_normal(hidden)).astype(np.float32)
    xs = rng.standard_normal((steps, batch, inputs)).astype(np.float32)
    return (Wx, Wh, b), xs


def _rnn_inputs(params):
    return rnn_init(params["steps"], params["batch"], params["inputs"], params["hidden"])


@lru_cache(maxsize=4)
def spd_init(n: int):
    rng = np.random.default_rng(3)
    M = rng.standard_normal((n, n)).astype(np.float32)
    A = (M @ M.T / np.float32(n) + np.eye(n, dtype=np.float32)).astype(np.float32)
    return A, rng.standard_normal(n).astype(np.float32)


# --- the models, written once for hlodiff and JAX ------------------------------------------------


def mlp_loss(np_):
    def forward(params, x):
        for W, b in params[:-1]:
            x = np_.tanh(x @ W + b)
        W, b = params[-1]
        return x @ W + b

    def loss(params, x, y):
        logits = forward(params, x)
        top = np_.max(logits, axis=-1, keepdims=True)
        lse = np_.log(np_.sum(np_.exp(logits - top), axis=-1)) + top[:, 0]
        onehot = (y[:, None] == np_.arange(logits.shape[-1])).astype(logits.dtype)
        return np_.mean(lse - np_.sum(onehot * logits, axis=-1))

    return loss


def mlp_step_fn(lib):
    """The jitted SGD step: (params, x, y) -> (new params, loss)."""
    loss, tree_map = mlp_loss(lib.np), lib.mod.tree_util.tree_map

    @lib.mod.jit
    def step(ps, x, y):
        value, grads = lib.mod.value_and_grad(loss)(ps, x, y)
        return tree_map(lambda p, g: p - LR * g, ps, grads), value

    return step


def mlp_step_args(lib, params) -> tuple:
    ps, x, y, _ = _mlp_inputs(params)
    return lib.tree_put((ps, x, y))


def _mlp_step(lib, params):
    step, args = mlp_step_fn(lib), mlp_step_args(lib, params)
    return lambda: step(*args)


def mlp_step_check(leaves, params):
    """The update (p0 - p1) / LR is the gradient: compare that, not p1 (where p0 dominates)."""
    p0 = [leaf for pair in _mlp_inputs(params)[0] for leaf in pair]
    return [(np.float64(a) - b) / LR for a, b in zip(p0, leaves[:-1])] + [leaves[-1]]


def _dp_sgd(lib, params):
    hd, np_ = lib.mod, lib.np
    loss, tree_map = mlp_loss(np_), hd.tree_util.tree_map

    def loss1(p, xi, yi):
        return loss(p, xi[None], yi[None])

    @hd.jit
    def clipped_mean_grad(ps, x, y):
        grads = hd.vmap(hd.grad(loss1), in_axes=(None, 0, 0))(ps, x, y)
        leaves = hd.tree_util.tree_leaves(grads)
        sq = sum(np_.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in leaves)
        scale = np_.minimum(1.0, CLIP / (np_.sqrt(sq) + 1e-6))
        return tree_map(
            lambda g: np_.mean(g * scale.reshape((-1,) + (1,) * (g.ndim - 1)), 0), grads
        )

    ps, x, y, _ = _mlp_inputs(params)
    args = lib.tree_put((ps, x, y))
    return lambda: clipped_mean_grad(*args)


def _mlp_hvp(lib, params):
    hd = lib.mod
    loss = mlp_loss(lib.np)

    @hd.jit
    def hvp(ps, v, x, y):  # forward-over-reverse
        return hd.jvp(lambda p: hd.grad(loss)(p, x, y), (ps,), (v,))[1]

    ps, x, y, v = _mlp_inputs(params)
    args = lib.tree_put((ps, v, x, y))
    return lambda: hvp(*args)


def tanh_layer(np_):
    return lambda x, W, b: np_.tanh(W @ x + b)


def jacobian_fn(lib, which: str):
    """jit(jacfwd or jacrev of the tanh layer): (x, W, b) -> f32[n, n]."""
    return lib.mod.jit(getattr(lib.mod, which)(tanh_layer(lib.np)))


def _jacobian(which: str):
    def build(lib, params):
        fn, args = jacobian_fn(lib, which), lib.tree_put(layer_init(params["n"]))
        return lambda: fn(*args)

    return build


def rnn_loss(np_, scan):
    def loss(p, xs):
        Wx, Wh, b = p

        def cell(h, x):
            h = np_.tanh(x @ Wx + h @ Wh + b)
            return h, h

        _, hs = scan(cell, np_.zeros((xs.shape[1], Wh.shape[0]), xs.dtype), xs)
        return np_.mean(hs**2)

    return loss


def _rnn(grad: bool):
    def build(lib, params):
        loss = rnn_loss(lib.np, lib.mod.lax.scan)
        fn = lib.mod.jit(lib.mod.value_and_grad(loss) if grad else loss)
        args = lib.tree_put(_rnn_inputs(params))
        return lambda: fn(*args)

    return build


def _cholesky_solve(lib, params):
    linalg = lib.np.linalg
    absent = [name for name in ("cholesky", "solve") if not hasattr(linalg, name)]
    if absent:
        raise Unavailable(f"{lib.np.__name__}.linalg has no {' or '.join(absent)}")

    @lib.mod.jit
    def chol_solve(A, rhs):
        return linalg.cholesky(A), linalg.solve(A, rhs)

    try:
        chol_solve(*lib.tree_put(spd_init(4)))
    except Exception as e:  # e.g. a lowering IREE rejects: the row says why
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise Unavailable(f"jit(cholesky, solve) fails: {type(e).__name__}: {first}") from e
    args = lib.tree_put(spd_init(params["n"]))
    return lambda: chol_solve(*args)


# --- the suite ------------------------------------------------------------------------------------

_MLP = {"sizes": [784, 512, 512, 10], "batch": 128}
_MLP_QUICK = {"sizes": [32, 16, 16, 10], "batch": 8}
_MLP_SIZE = "{sizes[0]}-{sizes[1]}-{sizes[2]}-{sizes[3]} tanh, batch {batch}, f32"
_RNN = {"steps": 100, "batch": 32, "inputs": 64, "hidden": 128}
_RNN_QUICK = {"steps": 5, "batch": 2, "inputs": 4, "hidden": 8}
_RNN_SIZE = "{steps} steps, batch {batch}, {inputs} -> {hidden}, f32"


def _model(id, title, builders, full, quick, size, **kw) -> Workload:
    return Workload(
        id=f"models.{id}",
        title=title,
        suite="models",
        mode="jit",
        builders=builders,
        full=full,
        quick=quick,
        size=size,
        notes=_JIT_ONLY,
        **kw,
    )


def workloads() -> list[Workload]:
    ref = models_ref
    return [
        _model(
            "mlp_step",
            "MLP train step (SGD)",
            {
                "hlodiff": _mlp_step,
                "jax": _mlp_step,
                "torch": ref.mlp_step_torch,
                "autograd": ref.mlp_step_autograd,
                "numpy": ref.mlp_step_numpy,
            },
            _MLP,
            _MLP_QUICK,
            _MLP_SIZE,
            check=mlp_step_check,
        ),
        _model(
            "dp_sgd",
            "DP-SGD clipped per-example grads",
            {
                "hlodiff": _dp_sgd,
                "jax": _dp_sgd,
                "torch": ref.dp_sgd_torch,
                "autograd": ref.dp_sgd_autograd,
                "numpy": ref.dp_sgd_numpy,
            },
            dict(_MLP, batch=64),
            _MLP_QUICK,
            _MLP_SIZE + f", clip {CLIP}",
        ),
        _model(
            "mlp_hvp",
            "HVP of the MLP loss",
            {
                "hlodiff": _mlp_hvp,
                "jax": _mlp_hvp,
                "torch": ref.mlp_hvp_torch,
                "autograd": ref.mlp_hvp_autograd,
            },
            _MLP,
            _MLP_QUICK,
            _MLP_SIZE + ", fwd-over-rev",
            missing={"numpy": "no hand-written HVP"},
            rtol=2e-3,
        ),
        _model(
            "jacfwd",
            "jacfwd tanh layer",
            {
                "hlodiff": _jacobian("jacfwd"),
                "jax": _jacobian("jacfwd"),
                "torch": ref.jacobian_torch("jacfwd"),
                "numpy": ref.jacobian_numpy,
            },
            {"n": 200},
            {"n": 16},
            "tanh(W x + b), {n} -> {n}",
            missing={"autograd": "no forward-mode Jacobian"},
        ),
        _model(
            "jacrev",
            "jacrev tanh layer",
            {
                "hlodiff": _jacobian("jacrev"),
                "jax": _jacobian("jacrev"),
                "torch": ref.jacobian_torch("jacrev"),
                "autograd": ref.jacobian_autograd,
                "numpy": ref.jacobian_numpy,
            },
            {"n": 200},
            {"n": 16},
            "tanh(W x + b), {n} -> {n}",
        ),
        _model(
            "rnn_forward",
            "RNN lax.scan forward",
            {
                "hlodiff": _rnn(False),
                "jax": _rnn(False),
                "torch": ref.rnn_torch(False),
                "autograd": ref.rnn_autograd(False),
                "numpy": ref.rnn_numpy(False),
            },
            _RNN,
            _RNN_QUICK,
            _RNN_SIZE,
        ),
        _model(
            "rnn_grad",
            "RNN lax.scan value_and_grad",
            {
                "hlodiff": _rnn(True),
                "jax": _rnn(True),
                "torch": ref.rnn_torch(True),
                "autograd": ref.rnn_autograd(True),
                "numpy": ref.rnn_numpy(True),
            },
            _RNN,
            _RNN_QUICK,
            _RNN_SIZE,
        ),
        _model(
            "cholesky_solve",
            "cholesky + solve",
            {
                "hlodiff": _cholesky_solve,
                "jax": _cholesky_solve,
                "torch": ref.cholesky_solve_torch,
                "numpy": ref.cholesky_solve_numpy,
            },
            {"n": 512},
            {"n": 16},
            "SPD f32[{n},{n}], rhs f32[{n}]",
            missing={"autograd": "the same LAPACK calls as numpy"},
        ),
    ]
