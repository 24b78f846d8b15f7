"""jit vs eager for every op of `op_specs.OP_SPECS` (float32, and int32 where the op takes
integers), on the CPU and, when present, on Vulkan (lavapipe in CI). All ops of one device are
compiled as ONE module, so the check costs one compile per device, and the derivatives (grad of
the sum of each op) as a second one."""

from __future__ import annotations

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff import runtime
from tests.op_specs import OP_SPECS, make_args

CASES = [(s, np.float32) for s in OP_SPECS] + [(s, np.int32) for s in OP_SPECS if s.int_ok]
IDS = [f"{s.name}-{np.dtype(d).name}" for s, d in CASES]
ARGS = [[hnp.asarray(a) for a in make_args(s, d, seed=7)] for s, d in CASES]
GRAD_CASES = [i for i, (s, d) in enumerate(CASES) if s.differentiable and d == np.float32]


def _all_ops(arg_lists):
    return [spec.fun(*args) for (spec, _), args in zip(CASES, arg_lists)]


def _all_grads(arg_lists):
    outs = []
    for i in GRAD_CASES:
        spec = CASES[i][0]
        outs.append(hd.grad(lambda *xs, f=spec.fun: hnp.sum(f(*xs)))(*arg_lists[i]))
    return outs


_ABSENT = {"vulkan": "ci/install_vulkan.sh installs Mesa's lavapipe",
           "cuda": "needs an NVIDIA GPU and its driver"}


@pytest.fixture(scope="module", params=[pytest.param(p, marks=getattr(pytest.mark, p))
                                        for p in ("cpu", "vulkan", "cuda")])
def compiled(request):
    platform = request.param
    if platform not in [d.platform for d in runtime.devices()]:
        pytest.skip(f"no {platform} device ({_ABSENT[platform]})")
    ops = hd.jit(_all_ops, device=platform)(ARGS)
    grads = hd.jit(_all_grads, device=platform)(ARGS)
    return platform, ops, grads


@pytest.mark.parametrize("index", range(len(CASES)), ids=IDS)
def test_jit_matches_eager(compiled, index):
    platform, ops, _ = compiled
    spec, _ = CASES[index]
    eager = spec.fun(*ARGS[index])
    got = ops[index]
    assert got.shape == eager.shape and got.dtype == eager.dtype, (got, eager)
    np.testing.assert_allclose(np.asarray(got), np.asarray(eager), rtol=2e-5, atol=2e-5,
                               err_msg=f"{spec.name} on {platform}")


@pytest.mark.parametrize("k", range(len(GRAD_CASES)), ids=[IDS[i] for i in GRAD_CASES])
def test_jit_grad_matches_eager(compiled, k):
    platform, _, grads = compiled
    i = GRAD_CASES[k]
    spec = CASES[i][0]
    eager = hd.grad(lambda *xs: hnp.sum(spec.fun(*xs)))(*ARGS[i])
    np.testing.assert_allclose(np.asarray(grads[k]), np.asarray(eager), rtol=1e-4, atol=1e-5,
                               err_msg=f"grad of {spec.name} on {platform}")
