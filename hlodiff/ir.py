"""The jaxpr: a first-order program of primitive applications, its printer and its evaluator.

    { lambda c:f32[3]; a:f32[3]. let
        b:f32[3] = mul a c
      in (b,) }

`constvars` are bound to closed-over arrays (`ClosedJaxpr.consts`), `invars` to the arguments.
An equation applies one primitive; a higher-order primitive carries `ClosedJaxpr`s in its params.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np

from hlodiff import core
from hlodiff.core import ShapedArray


class Var:
    """A variable. Identity matters; `count` only orders variables for stable printing."""

    __slots__ = ("aval", "count")
    _counter = itertools.count()

    def __init__(self, aval: ShapedArray):
        self.aval = aval
        self.count = next(Var._counter)

    def __repr__(self):
        return f"Var({self.count}:{self.aval.str_short()})"


class Literal:
    """A scalar constant inlined into an equation (printed as its value)."""

    __slots__ = ("val", "aval")

    def __init__(self, val, aval: ShapedArray):
        self.val = val
        self.aval = aval

    def __repr__(self):
        return _format_literal(self.val)


Atom = Var | Literal


class JaxprEqn:
    __slots__ = ("primitive", "invars", "outvars", "params")

    def __init__(self, primitive, invars: list, outvars: list, params: dict):
        self.primitive = primitive
        self.invars = invars
        self.outvars = outvars
        self.params = params

    def replace(self, **kw) -> "JaxprEqn":
        fields = dict(primitive=self.primitive, invars=self.invars, outvars=self.outvars,
                      params=self.params)
        fields.update(kw)
        return JaxprEqn(**fields)


class Jaxpr:
    __slots__ = ("constvars", "invars", "outvars", "eqns")

    def __init__(self, constvars: list, invars: list, outvars: list, eqns: list):
        self.constvars = list(constvars)
        self.invars = list(invars)
        self.outvars = list(outvars)
        self.eqns = list(eqns)

    @property
    def in_avals(self):
        return [v.aval for v in self.invars]

    @property
    def out_avals(self):
        return [v.aval for v in self.outvars]

    def __str__(self):
        return pp_jaxpr(self)

    __repr__ = __str__


class ClosedJaxpr:
    """A jaxpr with its constants bound. Hashable by identity (used as a param)."""

    __slots__ = ("jaxpr", "consts", "__weakref__")

    def __init__(self, jaxpr: Jaxpr, consts: Sequence[Any]):
        self.jaxpr = jaxpr
        self.consts = list(consts)

    @property
    def in_avals(self):
        return self.jaxpr.in_avals

    @property
    def out_avals(self):
        return self.jaxpr.out_avals

    @property
    def eqns(self):
        return self.jaxpr.eqns

    def __str__(self):
        return pp_jaxpr(self.jaxpr)

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


# ---------------------------------------------------------------------------------------------
# Evaluation


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence[Any], *args) -> list:
    """Evaluates `jaxpr` by binding each equation's primitive on the current trace."""
    env: dict[Var, Any] = {}

    def read(v):
        return v.val if type(v) is Literal else env[v]

    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for v, x in zip(jaxpr.invars, args):
        env[v] = x
    for eqn in jaxpr.eqns:
        outs = eqn.primitive.bind(*map(read, eqn.invars), **eqn.params)
        if not eqn.primitive.multiple_results:
            outs = (outs,)
        for v, x in zip(eqn.outvars, outs):
            env[v] = x
    return [read(v) for v in jaxpr.outvars]


def eval_closed_jaxpr(closed: ClosedJaxpr, *args) -> list:
    return eval_jaxpr(closed.jaxpr, closed.consts, *args)


# ---------------------------------------------------------------------------------------------
# Printing, in JAX's format


def _format_literal(val) -> str:
    v = np.asarray(val)
    if v.dtype == np.bool_:
        return str(bool(v))
    if v.dtype.kind in "iu":
        return str(int(v))
    return str(v[()]) if v.dtype.kind != "c" else str(complex(v[()]))


class _Namer:
    def __init__(self):
        self.names: dict[Var, str] = {}

    def __call__(self, v) -> str:
        if type(v) is Literal:
            return _format_literal(v.val)
        name = self.names.get(v)
        if name is None:
            name = self.names[v] = _var_name(len(self.names))
        return name


def _var_name(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = letters[r] + name
    return name


def _used_vars(jaxpr: Jaxpr) -> set:
    used = {v for eqn in jaxpr.eqns for v in eqn.invars if type(v) is not Literal}
    used.update(v for v in jaxpr.outvars if type(v) is not Literal)
    return used


def pp_jaxpr(jaxpr: Jaxpr, indent: int = 0, namer: _Namer | None = None) -> str:
    namer = namer or _Namer()
    pad = " " * indent
    decl = lambda v: f"{namer(v)}:{v.aval.str_short()}"  # noqa: E731
    consts = " ".join(decl(v) for v in jaxpr.constvars)
    args = " ".join(decl(v) for v in jaxpr.invars)
    used = _used_vars(jaxpr)
    lines = [f"{pad}{{ lambda {consts}; {args}. let"]
    for eqn in jaxpr.eqns:
        lines.append(_pp_eqn(eqn, namer, used, indent + 4))
    outs = " ".join(namer(v) for v in jaxpr.outvars)
    outs = f"({outs},)" if len(jaxpr.outvars) == 1 else f"({outs})"
    lines.append(f"{pad}  in {outs} }}")
    return "\n".join(lines)


def _pp_eqn(eqn: JaxprEqn, namer: _Namer, used: set, indent: int) -> str:
    outs = " ".join(
        f"{namer(v) if v in used else '_'}:{v.aval.str_short()}" for v in eqn.outvars
    )
    params = _pp_params(eqn.params, namer, indent)
    ins = " ".join(namer(v) for v in eqn.invars)
    return f"{' ' * indent}{outs} = {eqn.primitive.name}{params} {ins}".rstrip()


def _pp_params(params: dict, namer: _Namer, indent: int) -> str:
    if not params:
        return ""
    items = []
    for k, v in sorted(params.items()):
        if isinstance(v, ClosedJaxpr):
            v = "\n" + pp_jaxpr(v.jaxpr, indent + 2, namer)
        elif isinstance(v, Jaxpr):
            v = "\n" + pp_jaxpr(v, indent + 2, namer)
        elif isinstance(v, tuple) and v and all(isinstance(j, ClosedJaxpr) for j in v):
            inner = "\n".join(pp_jaxpr(j.jaxpr, indent + 4, namer) for j in v)
            v = f"(\n{inner}\n{' ' * (indent + 2)})"
        elif isinstance(v, np.dtype):
            v = v.name
        elif callable(v) and hasattr(v, "__name__"):
            v = v.__name__
        items.append(f"{k}={v}")
    return "[" + " ".join(items) + "]"


def typecheck_jaxpr(jaxpr: Jaxpr) -> None:
    """Checks each equation's input avals against its primitive's abstract_eval (tests use it)."""
    env = set(jaxpr.constvars) | set(jaxpr.invars)
    for eqn in jaxpr.eqns:
        for v in eqn.invars:
            if type(v) is not Literal and v not in env:
                raise TypeError(f"jaxpr uses {v} before it is defined in `{eqn.primitive}`")
        avals = [v.aval for v in eqn.invars]
        out = eqn.primitive.abstract_eval(*avals, **eqn.params)
        out = out if eqn.primitive.multiple_results else [out]
        for v, a in zip(eqn.outvars, out):
            if (v.aval.shape, v.aval.dtype) != (a.shape, a.dtype):
                raise TypeError(f"`{eqn.primitive}` output {v.aval} does not match rule {a}")
        env.update(eqn.outvars)


core.Literal = Literal  # staging code checks `type(x) is Literal` through core
