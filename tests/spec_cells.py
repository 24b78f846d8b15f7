"""Helpers to run spec-tutorial cells and compare what they print with the spec's output.

Numbers are compared to the printed precision (a float32 computed by numpy rather than XLA may
differ in the last printed digit); every other character must match exactly.
"""

from __future__ import annotations

import contextlib
import io
import re
import textwrap

_NUM = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?j?|nan|inf")


def run_cell(src: str, ns: dict):
    """Executes `src` in `ns`; returns (stdout, value of a trailing bare expression)."""
    src = textwrap.dedent(src).strip("\n")
    lines = src.split("\n")
    last = lines[-1]
    value = None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if last and not last[0].isspace() and _is_expression(last):
            exec("\n".join(lines[:-1]), ns)
            value = eval(last, ns)
        else:
            exec(src, ns)
    return out.getvalue(), value


def _is_expression(line: str) -> bool:
    try:
        compile(line, "<cell>", "eval")
        return True
    except SyntaxError:
        return False


def _tolerance(token: str) -> float:
    mantissa = token.rstrip("j").split("e")[0].split("E")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exp = 0
    if "e" in token.lower():
        exp = int(token.lower().rstrip("j").split("e")[1])
    return 1.01 * 10.0 ** (exp - decimals)


def _to_number(token: str) -> complex:
    return complex(token) if token.endswith("j") else float(token)


def assert_printed(actual: str, expected: str) -> None:
    """Asserts `actual` prints the same as `expected`, numbers to the printed precision."""
    norm = lambda s: re.sub(r"\s+", " ", s.strip())  # noqa: E731
    a, e = norm(actual), norm(expected)
    a_nums, e_nums = _NUM.findall(a), _NUM.findall(e)
    a_skel, e_skel = _NUM.sub("#", a), _NUM.sub("#", e)
    a_skel = re.sub(r"\s*([\[\](),])\s*", r"\1", a_skel)
    e_skel = re.sub(r"\s*([\[\](),])\s*", r"\1", e_skel)
    assert a_skel == e_skel, f"printed text differs:\n--- got\n{actual}\n--- spec\n{expected}"
    assert len(a_nums) == len(e_nums), f"number count differs:\n{actual}\nvs\n{expected}"
    for x, y in zip(a_nums, e_nums):
        if x in ("nan", "inf") or y in ("nan", "inf"):
            assert x == y, f"{x} != {y} in\n{actual}\nvs spec\n{expected}"
            continue
        tol = max(_tolerance(x), _tolerance(y))
        assert abs(_to_number(x) - _to_number(y)) <= tol, (
            f"{x} != {y} (to printed precision) in\n{actual}\nvs spec\n{expected}")
