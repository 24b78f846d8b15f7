"""Lowering a ClosedJaxpr to a StableHLO module: a loop over equations, one rule per primitive.

    lowered = lower_jaxpr(hd.make_jaxpr(f)(x))
    lowered.text          # MLIR text of `module { func.func public @main(...) }`
    lowered.const_args    # arrays to pass before the arguments (large closed-over constants)

Constants: literals and small closed-over arrays are inlined as `stablehlo.constant`; a closed-over
array larger than `const_args` bytes (and not a splat) becomes a leading parameter of the entry
function, so the module text stays small and the array is uploaded once per call.

Higher-order primitives (jit's call, cond, while, scan, custom_jvp_call, ...) lower the ClosedJaxprs
in their params with `lower_sub_jaxpr` (inline, in the current block or region) or
`call_sub_jaxpr` (a private `func.func` and a `func.call`); see their docstrings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from hlodiff import core
from hlodiff.ir import ClosedJaxpr, Jaxpr, Literal

from .emitter import FunctionBuilder, Value, aval, module_text, physical_dtype, splat_value
from .registry import get_rule

# Closed-over arrays larger than this many bytes become leading parameters.
DEFAULT_CONST_ARG_BYTES = 1 << 20


@dataclass
class Lowered:
    """One lowered function and the module text that holds it.

    Attributes:
      text: the whole module's MLIR text.
      name: the exported function's symbol name.
      const_args: numpy arrays to pass first, before the arguments (in this order).
      in_avals: the avals of the jaxpr's arguments (after `const_args` in the signature).
      out_avals: the avals of the results.
    """

    text: str
    name: str
    const_args: list = field(default_factory=list)
    in_avals: list = field(default_factory=list)
    out_avals: list = field(default_factory=list)

    @property
    def const_avals(self) -> list:
        return [aval(c.shape, c.dtype) for c in self.const_args]


class LoweringContext:
    """State of one module being lowered: its functions and the one being emitted into."""

    def __init__(self, const_arg_bytes: int | None = DEFAULT_CONST_ARG_BYTES):
        self.const_arg_bytes = const_arg_bytes
        self.functions: list[FunctionBuilder] = []
        self.fb: FunctionBuilder | None = None  # the function now being emitted
        self.entry: FunctionBuilder | None = None
        self.const_args: list[np.ndarray] = []
        self._const_params: dict[int, Value] = {}
        self._callees: dict[int, tuple[str, ClosedJaxpr]] = {}
        self._names: set[str] = set()

    @property
    def b(self) -> FunctionBuilder:
        return self.fb

    def unique_name(self, base: str) -> str:
        name, i = base, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def const_value(self, x, dtype=None) -> Value:
        """The Value of a closed-over array: inlined, or a leading parameter if it is large."""
        arr = np.asarray(core.to_numpy(x) if isinstance(x, core.Array) else x)
        dtype = np.dtype(dtype) if dtype is not None else arr.dtype
        threshold = self.const_arg_bytes
        if (self.fb is self.entry and threshold is not None and arr.nbytes > threshold
                and splat_value(arr) is None):
            param = self._const_params.get(id(x))
            if param is None:
                param = self.entry.add_param(aval(arr.shape, dtype))
                self._const_params[id(x)] = param
                self.const_args.append(np.asarray(arr, physical_dtype(dtype)))
            return param
        return self.fb.constant(arr, dtype, arr.shape)


class RuleContext:
    """What a rule sees besides its operands: the builder and the equation's avals.

    Attributes:
      b: the FunctionBuilder to emit into (its current block).
      lowering: the module's LoweringContext (for `lower_sub_jaxpr`, `call_sub_jaxpr`).
      primitive, avals_in, avals_out: the equation being lowered.
    """

    __slots__ = ("lowering", "primitive", "avals_in", "avals_out")

    def __init__(self, lowering: LoweringContext, primitive, avals_in, avals_out):
        self.lowering = lowering
        self.primitive = primitive
        self.avals_in = avals_in
        self.avals_out = avals_out

    @property
    def b(self) -> FunctionBuilder:
        return self.lowering.fb


class _LazyConst:
    __slots__ = ("value", "dtype")

    def __init__(self, value, dtype):
        self.value, self.dtype = value, dtype


def _lctx(ctx) -> LoweringContext:
    return ctx.lowering if isinstance(ctx, RuleContext) else ctx


# ---------------------------------------------------------------------------------------------
# The equation loop


def lower_sub_jaxpr(ctx, closed: ClosedJaxpr | Jaxpr, args: Sequence[Value],
                    consts: Sequence[Any] | None = None) -> list[Value]:
    """Emits `closed`'s equations inline, at the current point, and returns its outputs' Values.

    Args:
      ctx: the RuleContext (or LoweringContext) of the rule that lowers the higher-order
        primitive.
      closed: a ClosedJaxpr from the equation's params (or a Jaxpr with `consts` given).
      args: one Value per invar of the jaxpr, with matching avals.
    Returns:
      One Value per outvar.

    The ops go to the builder's current block, so a control-flow rule builds a region around it:

        @register(while_p)
        def _while_lower(ctx, *args, cond_jaxpr, body_jaxpr, ...):
            b = ctx.b
            with b.region([a.aval for a in args]) as cond:
                (p,) = lower_sub_jaxpr(ctx, cond_jaxpr, cond.args)
                b.ret([p], op="stablehlo.return")
            with b.region([a.aval for a in args]) as body:
                b.ret(lower_sub_jaxpr(ctx, body_jaxpr, body.args), op="stablehlo.return")
            return b.op("stablehlo.while", args, [a.aval for a in args], regions=[cond, body])

    A jit call (`pjit`) can simply return `lower_sub_jaxpr(ctx, params["jaxpr"], args)`.
    """
    if isinstance(closed, ClosedJaxpr):
        jaxpr, consts = closed.jaxpr, closed.consts if consts is None else consts
    else:
        jaxpr, consts = closed, consts or ()
    return _lower_eqns(_lctx(ctx), jaxpr, consts, list(args))


def call_sub_jaxpr(ctx, closed: ClosedJaxpr, args: Sequence[Value],
                   name: str = "closed_call") -> list[Value]:
    """Lowers `closed` once as a private `func.func` and emits a `func.call` to it.

    Use it instead of `lower_sub_jaxpr` when the same jaxpr is called several times (the private
    function is emitted once per ClosedJaxpr object). Constants inside are always inlined.
    """
    lctx = _lctx(ctx)
    entry = lctx._callees.get(id(closed))
    if entry is None:
        fname = lctx.unique_name(name)
        fb = FunctionBuilder(fname, [v.aval for v in closed.jaxpr.invars], public=False)
        lctx.functions.append(fb)
        saved, lctx.fb = lctx.fb, fb
        try:
            fb.ret(_lower_eqns(lctx, closed.jaxpr, closed.consts, fb.args))
        finally:
            lctx.fb = saved
        lctx._callees[id(closed)] = entry = (fname, closed)
    fname = entry[0]
    out_avals = [aval(v.aval.shape, v.aval.dtype) for v in closed.jaxpr.outvars]
    outs = lctx.fb.op("func.call", list(args), out_avals, {"callee": f"@{fname}"})
    return outs


def _lower_eqns(lctx: LoweringContext, jaxpr: Jaxpr, consts, args: list[Value]) -> list[Value]:
    if len(args) != len(jaxpr.invars):
        raise TypeError(f"lowering a jaxpr with {len(jaxpr.invars)} inputs on {len(args)} values")
    env: dict = {}
    for v, c in zip(jaxpr.constvars, consts):
        env[v] = c if isinstance(c, Value) else _LazyConst(c, v.aval.dtype)
    for v, a in zip(jaxpr.invars, args):
        env[v] = a

    def read(atom) -> Value:
        if type(atom) is Literal:
            return lctx.fb.constant(np.asarray(atom.val), atom.aval.dtype, atom.aval.shape)
        val = env[atom]
        if type(val) is _LazyConst:
            return lctx.const_value(val.value, val.dtype)
        return val

    for eqn in jaxpr.eqns:
        avals_in = [v.aval for v in eqn.invars]
        avals_out = [v.aval for v in eqn.outvars]
        rule = get_rule(eqn.primitive, avals_in)
        if avals_out and all(0 in a.shape for a in avals_out):
            # Empty results carry no data (and IREE mis-compiles some empty ops): constants.
            outs = [lctx.fb.constant(np.zeros((), physical_dtype(a.dtype)), a.dtype, a.shape)
                    for a in avals_out]
        else:
            rctx = RuleContext(lctx, eqn.primitive, avals_in, avals_out)
            outs = rule(rctx, *[read(v) for v in eqn.invars], **eqn.params)
            outs = [outs] if isinstance(outs, Value) else list(outs)
        _check_outs(eqn.primitive, outs, avals_out)
        for v, o in zip(eqn.outvars, outs):
            env[v] = o
    return [read(v) for v in jaxpr.outvars]


def _check_outs(primitive, outs: list[Value], avals_out):
    if len(outs) != len(avals_out):
        raise TypeError(f"lowering rule of '{primitive}' returned {len(outs)} values, the "
                        f"equation has {len(avals_out)} outputs")
    for o, a in zip(outs, avals_out):
        if tuple(o.shape) != tuple(a.shape) or physical_dtype(o.dtype) != physical_dtype(a.dtype):
            raise TypeError(f"lowering rule of '{primitive}' produced {o.aval.str_short()}, the "
                            f"equation's output is {a.str_short()}")


# ---------------------------------------------------------------------------------------------
# Entry points


def lower_jaxpr(closed: ClosedJaxpr, name: str = "main", *,
                const_args: int | None = DEFAULT_CONST_ARG_BYTES) -> Lowered:
    """Lowers a ClosedJaxpr to a StableHLO module with one public function.

    Args:
      closed: the jaxpr (from `hd.make_jaxpr(f)(*args)` or a jit trace).
      name: the function's symbol name.
      const_args: closed-over arrays larger than this many bytes are passed as leading
        parameters (`Lowered.const_args`); None inlines all of them, 0 passes every non-splat.
    Returns:
      A `Lowered` (text, const_args, in_avals, out_avals).
    Raises:
      NotImplementedError: a primitive has no lowering rule (the message names the file).

        >>> lowered = lower_jaxpr(hd.make_jaxpr(lambda x: x * 2.0)(1.0))
        >>> print(lowered.text)   # module { func.func public @main(%arg0: ...) ... }
    """
    text, (fn,) = _lower_functions({name: closed}, const_args)
    fn.text = text
    return fn


def lower_jaxprs(closed_by_name: Mapping[str, ClosedJaxpr], *,
                 const_args: int | None = DEFAULT_CONST_ARG_BYTES) -> tuple[str, dict]:
    """Lowers several jaxprs into one module, one public function each (names must differ).

    Returns the module text and a dict name -> Lowered (each `.text` is the whole module).
    """
    text, fns = _lower_functions(dict(closed_by_name), const_args)
    for fn in fns:
        fn.text = text
    return text, {fn.name: fn for fn in fns}


def _lower_functions(closed_by_name: dict, const_args) -> tuple[str, list[Lowered]]:
    lctx = LoweringContext(const_args)
    entries = []
    for name in closed_by_name:
        lctx.unique_name(name)
    for name, closed in closed_by_name.items():
        entries.append(_lower_entry(lctx, name, closed))
    publics = [fb for fb, _ in entries]
    return module_text(publics + lctx.functions), [lw for _, lw in entries]


def _lower_entry(lctx: LoweringContext, name: str, closed: ClosedJaxpr):
    in_avals = [v.aval for v in closed.jaxpr.invars]
    fb = FunctionBuilder(name, in_avals)
    lctx.fb = lctx.entry = fb
    lctx.const_args, lctx._const_params = [], {}
    outs = _lower_eqns(lctx, closed.jaxpr, closed.consts, fb.args)
    fb.ret(outs)
    lowered = Lowered("", name, lctx.const_args, in_avals, [v.aval for v in closed.jaxpr.outvars])
    return fb, lowered


# Registers every rule; last, because call/control-flow rules import `lower_sub_jaxpr` from here.
from . import rules  # noqa: E402,F401
