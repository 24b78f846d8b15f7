"""Scan lowered, run on IREE llvm-cpu and compared with eager: loops of rotating output slots,
nested loops for long scans (with small slot limits, so short scans nest several levels),
remainders, `unroll`, `reverse`, pytrees, forwarded carries, `xs=None`, zero-length scans; and
the shape of the emitted loops (bounded loop-carried values, bounded copies of the body)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff.lax.control_flow import scan
from hlodiff.lowering import lower_jaxpr
from hlodiff.lowering.rules import control_flow

from tests.lowering.harness import Batch, Case, parse_and_verify

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
rng = np.random.default_rng(5)
f32, i32 = np.float32, np.int32
TOL = 1e-5


def rnn(length, reverse, unroll):
    """Four outputs: the new carry, the old one forwarded, a view of it, and an int of x."""

    def f(xs, w):
        def cell(c, x):
            new = hnp.tanh(c * w + x)
            return new, (new, c, c.reshape(2, 2), (x > 0).astype(i32))

        return scan(cell, hnp.ones(4, f32) * 0.5, xs, reverse=reverse, unroll=unroll)

    return f, (rng.standard_normal((length, 4)).astype(f32), f32(0.7))


def pytree(length, reverse, unroll):
    """Dict xs, a (carry, counter) carry, a tuple of outputs, one of them a scalar."""

    def f(a, b):
        def cell(c, x):
            h, n = c
            h = h * 0.5 + x["a"] * x["b"]
            return (h, n + 1), (h.sum(), x["b"] - h)

        return scan(cell, (hnp.zeros(3, f32), 0), {"a": a, "b": b}, reverse=reverse,
                    unroll=unroll)

    return f, tuple(rng.standard_normal((length, 3)).astype(f32) for _ in "ab")


def counter(length, reverse, unroll):
    """xs=None with `length`: the outputs are the carry before each step."""

    def f(c0):
        return scan(lambda c, _: (c * 2 + 1, c), c0, None, length=length, reverse=reverse,
                    unroll=unroll)

    return f, (i32(1),)


def carry_only(length, reverse, unroll):
    """No stacked outputs (`None`): a plain loop."""

    def f(xs):
        return scan(lambda c, x: (c + hnp.sin(x), None), f32(0), xs, reverse=reverse,
                    unroll=unroll)

    return f, (rng.standard_normal(length).astype(f32),)


def empty_rows(length, reverse, unroll):
    """Outputs with a zero-size row, beside a float one."""

    def f(xs):
        return scan(lambda c, x: (c + x, (hnp.zeros((0, 2), f32), c)), f32(1), xs,
                    reverse=reverse, unroll=unroll)

    return f, (rng.standard_normal(length).astype(f32),)


BODIES = {"rnn": rnn, "pytree": pytree, "counter": counter, "carry_only": carry_only,
          "empty_rows": empty_rows}

cases: list[Case] = []
for body, make in BODIES.items():
    lengths = (0, 1, 2, 5, 8, 9, 12, 17, 23) if body in ("rnn", "counter") else (0, 7, 17)
    for length in lengths:
        for unroll in (1, 2, 3, True):
            for reverse in (False, True):
                if length == 0 and (unroll != 1 or reverse):
                    continue
                fn, args = make(length, reverse, unroll)
                cases.append(Case(f"{body}-len{length}-unroll{unroll}-{'rev' if reverse else 'fwd'}",
                                  fn, args, TOL, TOL))


@pytest.fixture(scope="module")
def batch():
    # At most 4 slots a loop (2 a stacked output for most bodies): 8 steps nest three loops.
    saved = control_flow._LOOP_SLOTS
    control_flow._LOOP_SLOTS = 4
    try:
        return Batch(cases)
    finally:
        control_flow._LOOP_SLOTS = saved


@pytest.mark.parametrize("name", [c.name for c in cases])
def test_scan_lowering_matches_eager(batch, name):
    batch.check(name)


# ---------------------------------------------------------------------------------------------
# The shape of the emitted loops


def _whiles(text):
    """Operand counts of the module's `stablehlo.while` ops."""
    return [len(m.group(1).split(",")) for m in
            re.finditer(r'"stablehlo\.while"\(([^)]*)\)', text)]


def _lowered(length, unroll=1, outputs=2):
    """A scan with one const (w), one carry, one xs and `outputs` stacked outputs."""

    def f(xs, w):
        def cell(c, x):
            c = hnp.tanh(c * w + x)
            return c, tuple(c * (k + 2.0) for k in range(outputs))

        return scan(cell, hnp.zeros(3, f32), xs, unroll=unroll)

    xs = np.zeros((length, 3), f32)
    return lower_jaxpr(hd.make_jaxpr(f)(xs, f32(1))).text


def _smooth(n, most):
    return all(p <= most for p in range(2, n + 1) if n % p == 0 and all(p % q for q in range(2, p)))


@pytest.mark.parametrize("length", [5, 32, 100, 1000, 1009, 4097, 10_000, 100_003])
@pytest.mark.parametrize("outputs", [1, 3])
def test_long_scans_nest_bounded_loops(length, outputs):
    text = _lowered(length, outputs=outputs)
    parse_and_verify(text)
    assert "dynamic_update_slice" not in text
    slots = max(2, control_flow._LOOP_SLOTS // outputs)
    fixed = 2 + 1 + 1 + 1  # the trip and start step, w, the carry, xs
    assert all(n <= fixed + slots * outputs for n in _whiles(text))
    # One loop nest (one copy of the body) when the length factors into trip counts up to
    # `slots`; otherwise at most one per nonzero digit of the length in base `slots`.
    bodies = text.count('"stablehlo.tanh"')
    if _smooth(length, slots):
        assert bodies == 1
    else:
        assert 2 <= bodies <= len([d for d in np.base_repr(length, slots) if d != "0"])


def test_unroll_true_is_straight_line_and_unroll_k_inlines_k_steps():
    assert "stablehlo.while" not in _lowered(7, unroll=True)
    text = _lowered(20, unroll=4)
    assert _whiles(text) and text.count('"stablehlo.tanh"') == 4
    text = _lowered(22, unroll=4)  # 5 iterations of 4 steps, then 2 steps straight-line
    assert text.count('"stablehlo.tanh"') == 4 + 2
