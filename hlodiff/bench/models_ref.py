"""The `models` workloads in torch (eager, torch.func), autograd (eager) and hand-written numpy
(derivatives by hand, the same algorithm: per-example gradients are materialized, not taken
through the |a|^2 |b|^2 shortcut). Each returns the same pytree as the hlodiff/JAX version in
`models.py`, so checksums compare leaf by leaf.
"""

from __future__ import annotations

import numpy as np

from hlodiff.bench import models

# --- MLP loss per library ------------------------------------------------------------------------


def _torch_loss(torch):
    def loss(params, x, y):
        for W, b in params[:-1]:
            x = torch.tanh(x @ W + b)
        W, b = params[-1]
        logits = x @ W + b
        top = torch.amax(logits, dim=-1, keepdim=True)
        lse = torch.log(torch.sum(torch.exp(logits - top), dim=-1)) + top[:, 0]
        onehot = (y[:, None] == torch.arange(logits.shape[-1], device=y.device)).to(logits.dtype)
        return torch.mean(lse - torch.sum(onehot * logits, dim=-1))

    return loss


def _mlp_args(lib, params, with_tangent=False):
    ps, x, y, v = models._mlp_inputs(params)
    args = [lib.tree_put(ps), lib.put(x), lib.put(y.astype(np.int64) if lib.name == "torch" else y)]
    return args + [lib.tree_put(v)] if with_tangent else args


def mlp_step_torch(lib, params):
    from torch.func import grad_and_value

    step_grads = grad_and_value(_torch_loss(lib.mod))

    def step(ps, x, y):
        grads, value = step_grads(ps, x, y)
        new = [(W - models.LR * gW, b - models.LR * gb) for (W, b), (gW, gb) in zip(ps, grads)]
        return new, value

    args = _mlp_args(lib, params)
    return lambda: step(*args)


def mlp_step_autograd(lib, params):
    value_and_grad = lib.mod.value_and_grad(models.mlp_loss(lib.np))

    def step(ps, x, y):
        value, grads = value_and_grad(ps, x, y)
        new = [(W - models.LR * gW, b - models.LR * gb) for (W, b), (gW, gb) in zip(ps, grads)]
        return new, value

    args = _mlp_args(lib, params)
    return lambda: step(*args)


def _numpy_backprop(ps, x, y, per_example: bool):
    """Gradients of the mean softmax cross-entropy by hand; per example (leading batch axis)
    when `per_example`. Returns (loss, [(gW, gb), ...])."""
    acts = [x]
    for W, b in ps[:-1]:
        acts.append(np.tanh(acts[-1] @ W + b))
    logits = acts[-1] @ ps[-1][0] + ps[-1][1]
    top = logits.max(-1, keepdims=True)
    e = np.exp(logits - top)
    lse = np.log(e.sum(-1)) + top[:, 0]
    onehot = (y[:, None] == np.arange(logits.shape[-1])).astype(logits.dtype)
    loss = np.mean(lse - (onehot * logits).sum(-1))
    delta = e / e.sum(-1, keepdims=True) - onehot  # d loss_i / d logits_i
    if not per_example:
        delta = delta / np.float32(len(x))
    grads = []
    for i in range(len(ps) - 1, -1, -1):
        a = acts[i]
        if per_example:
            grads.append((np.einsum("bi,bj->bij", a, delta), delta))
        else:
            grads.append((a.T @ delta, delta.sum(0)))
        if i:
            delta = (delta @ ps[i][0].T) * (1 - a * a)
    return loss, grads[::-1]


def mlp_step_numpy(lib, params):
    ps, x, y, _ = models._mlp_inputs(params)

    def step():
        value, grads = _numpy_backprop(ps, x, y, per_example=False)
        new = [(W - models.LR * gW, b - models.LR * gb) for (W, b), (gW, gb) in zip(ps, grads)]
        return new, value

    return step


# --- DP-SGD --------------------------------------------------------------------------------------


def _clip_mean(grads, scale):
    return [
        tuple((g * scale.reshape((-1,) + (1,) * (g.ndim - 1))).mean(0) for g in pair)
        for pair in grads
    ]


def _clip_scale(norm_sq):  # min(1, C / |g_i|), per example
    return np.minimum(1.0, models.CLIP / (np.sqrt(norm_sq) + 1e-6))


def dp_sgd_torch(lib, params):
    torch = lib.mod
    from torch.func import grad, vmap

    loss = _torch_loss(torch)
    per_example = vmap(grad(lambda p, xi, yi: loss(p, xi[None], yi[None])), in_dims=(None, 0, 0))

    def clipped_mean_grad(ps, x, y):
        grads = per_example(ps, x, y)
        sq = sum(torch.sum(g.reshape(g.shape[0], -1) ** 2, 1) for pair in grads for g in pair)
        return _clip_mean(grads, torch.clamp(models.CLIP / (torch.sqrt(sq) + 1e-6), max=1.0))

    args = _mlp_args(lib, params)
    return lambda: clipped_mean_grad(*args)


def dp_sgd_autograd(lib, params):
    loss = models.mlp_loss(lib.np)
    grad1 = lib.mod.grad(lambda p, xi, yi: loss(p, xi[None], yi[None]))
    ps, x, y, _ = models._mlp_inputs(params)

    def clipped_mean_grad():  # autograd has no vmap: a Python loop over the examples
        each = [grad1(ps, x[i], y[i]) for i in range(len(x))]
        grads = [tuple(np.stack([g[k][j] for g in each]) for j in range(2)) for k in range(len(ps))]
        sq = sum(np.sum(g.reshape(len(x), -1) ** 2, 1) for pair in grads for g in pair)
        return _clip_mean(grads, _clip_scale(sq))

    return clipped_mean_grad


def dp_sgd_numpy(lib, params):
    ps, x, y, _ = models._mlp_inputs(params)

    def clipped_mean_grad():
        _, grads = _numpy_backprop(ps, x, y, per_example=True)
        sq = sum(np.sum(g.reshape(len(x), -1) ** 2, 1) for pair in grads for g in pair)
        return _clip_mean(grads, _clip_scale(sq))

    return clipped_mean_grad


# --- HVP of the MLP loss -------------------------------------------------------------------------


def mlp_hvp_torch(lib, params):
    from torch.func import grad, jvp

    loss = _torch_loss(lib.mod)
    ps, x, y, v = _mlp_args(lib, params, with_tangent=True)
    return lambda: jvp(lambda p: grad(loss)(p, x, y), (ps,), (v,))[1]


def mlp_hvp_autograd(lib, params):
    from autograd.differential_operators import make_hvp

    hvp_at = make_hvp(models.mlp_loss(lib.np))
    ps, x, y, v = models._mlp_inputs(params)
    return lambda: hvp_at(ps, x, y)[0](v)  # reverse-over-reverse: autograd has no forward mode


# --- Jacobians of a tanh layer -------------------------------------------------------------------


def jacobian_torch(which: str):
    def build(lib, params):
        import torch.func

        jac = getattr(torch.func, which)(models.tanh_layer(lib.mod))
        args = lib.tree_put(models.layer_init(params["n"]))
        return lambda: jac(*args)

    return build


def jacobian_autograd(lib, params):
    jac = lib.mod.jacobian(models.tanh_layer(lib.np))
    args = models.layer_init(params["n"])
    return lambda: jac(*args)


def jacobian_numpy(lib, params):
    x, W, b = models.layer_init(params["n"])

    def jac():  # d tanh(W x + b) / dx = diag(1 - t^2) W
        t = np.tanh(W @ x + b)
        return (1 - t * t)[:, None] * W

    return jac


# --- RNN -----------------------------------------------------------------------------------------


def _loop_rnn_loss(np_):
    """The scan RNN as a Python loop: mean over steps of mean(h_t^2)."""

    def loss(p, xs):
        Wx, Wh, b = p
        h = np_.zeros((xs.shape[1], Wh.shape[0]), dtype=xs.dtype)
        total = 0.0
        for x in xs:
            h = np_.tanh(x @ Wx + h @ Wh + b)
            total = total + np_.mean(h**2)
        return total / xs.shape[0]

    return loss


def rnn_torch(grad: bool):
    def build(lib, params):
        from torch.func import grad_and_value

        loss = _loop_rnn_loss(lib.mod)
        grads_and_value = grad_and_value(loss)

        def value_and_grad(p, xs):
            grads, value = grads_and_value(p, xs)
            return value, grads

        fn = value_and_grad if grad else loss
        args = lib.tree_put(models._rnn_inputs(params))
        return lambda: fn(*args)

    return build


def rnn_autograd(grad: bool):
    def build(lib, params):
        loss = _loop_rnn_loss(lib.np)
        fn = lib.mod.value_and_grad(loss) if grad else loss
        args = models._rnn_inputs(params)
        return lambda: fn(*args)

    return build


def rnn_numpy(grad: bool):
    def build(lib, params):
        (Wx, Wh, b), xs = models._rnn_inputs(params)

        def forward():
            hs, h = [], np.zeros((xs.shape[1], Wh.shape[0]), np.float32)
            for x in xs:
                h = np.tanh(x @ Wx + h @ Wh + b)
                hs.append(h)
            return hs

        def value_and_grad():  # backpropagation through time, by hand
            hs = forward()
            scale = np.float32(2.0 / (len(hs) * hs[0].size))
            gWx, gWh, gb = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
            dh = np.zeros_like(hs[0])
            for t in range(len(hs) - 1, -1, -1):
                dz = (dh + scale * hs[t]) * (1 - hs[t] * hs[t])
                gWx += xs[t].T @ dz
                gWh += (hs[t - 1] if t else np.zeros_like(dz)).T @ dz
                gb += dz.sum(0)
                dh = dz @ Wh.T
            return _value(hs), (gWx, gWh, gb)

        def _value(hs):
            return np.mean([np.mean(h * h) for h in hs])

        return value_and_grad if grad else (lambda: _value(forward()))

    return build


# --- cholesky + solve ----------------------------------------------------------------------------


def cholesky_solve_torch(lib, params):
    torch = lib.mod
    A, rhs = lib.tree_put(models.spd_init(params["n"]))
    return lambda: (torch.linalg.cholesky(A), torch.linalg.solve(A, rhs))


def cholesky_solve_numpy(lib, params):
    A, rhs = models.spd_init(params["n"])
    return lambda: (np.linalg.cholesky(A), np.linalg.solve(A, rhs))
