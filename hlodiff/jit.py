"""`hd.jit`: trace once per signature, lower to StableHLO, compile with IREE, call fast.

The trace cache is keyed by the pytree structure of the arguments, their avals (shape, dtype,
weak type) and the static arguments. Under another transformation a jitted function binds the
`pjit` primitive (see `hlodiff/prims/call.py`), so `grad(jit(f))`, `vmap(jit(f))` etc. rewrite
its jaxpr and stay compiled. Called eagerly it runs the compiled executable directly.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from hlodiff import core
from hlodiff.core import Array, Tracer, get_aval
from hlodiff.devices import get_device
from hlodiff.prims.call import pjit_p
from hlodiff.transforms import staging
from hlodiff.tree_util import tree_flatten, tree_unflatten

_ctx = core._ctx
_eval_trace = core.eval_trace


class _Entry:
    """One traced signature: its jaxpr, output tree and (lazily) its compiled executable."""

    __slots__ = ("jaxpr", "out_tree", "consts", "compiled", "out_avals")

    def __init__(self, jaxpr, out_tree):
        self.jaxpr = jaxpr
        self.out_tree = out_tree
        self.compiled = None
        self.out_avals = jaxpr.out_avals


def _static_positions(fun, static_argnums, static_argnames):
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums or ())
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(
        static_argnames or ())
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    nums = set(nums) | {positional.index(n) for n in names if n in positional}
    names = set(names) | {positional[i] for i in nums if 0 <= i < len(positional)}
    return frozenset(nums), frozenset(names)


def _hashable(value, what: str):
    try:
        hash(value)
    except TypeError as e:
        raise ValueError(
            f"Non-hashable static arguments are not supported. An error occurred while trying "
            f"to hash an object of type {type(value).__name__}, {value!r:.80}, passed as {what}. "
            f"The error was:\n{e}\nPass a hashable value (e.g. a tuple instead of a list), or "
            "make the argument non-static (an array)."
        ) from None
    return value


class JitWrapped:
    """A jit-compiled function. Call it, or `.lower(*args)` to see its StableHLO."""

    def __init__(self, fun: Callable, static_argnums=(), static_argnames=(), donate_argnums=(),
                 device=None, keep_unused: bool = False):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.static_nums, self.static_names = _static_positions(fun, static_argnums,
                                                                static_argnames)
        self.device = device
        self.donate_argnums = donate_argnums
        self._cache: dict = {}
        # The fast path's cache: a call whose arguments are all Arrays is keyed by their avals
        # alone (a flat tuple of leaves needs no pytree structure in the key).
        self._by_avals: dict = {}

    # -- signature handling -------------------------------------------------------------------
    def _split(self, args, kwargs):
        nums, names = self.static_nums, self.static_names
        if not nums and not names:
            return (), (), args, kwargs
        static = tuple(_hashable(args[i], f"static argument {i}") for i in sorted(nums)
                       if i < len(args))
        static_kw = tuple(sorted((k, _hashable(v, f"static argument {k!r}"))
                                 for k, v in kwargs.items() if k in names))
        dyn_args = tuple(a for i, a in enumerate(args) if i not in nums)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in names}
        return static, static_kw, dyn_args, dyn_kwargs

    def _rebuild(self, static, static_kw, dyn_args, dyn_kwargs):
        it_s, it_d = iter(static), iter(dyn_args)
        n = len(static) + len(dyn_args)
        args = [next(it_s) if i in self.static_nums else next(it_d) for i in range(n)]
        kwargs = dict(dyn_kwargs)
        kwargs.update(static_kw)
        return args, kwargs

    def _entry(self, args, kwargs):
        static, static_kw, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs) if dyn_kwargs else dyn_args)
        avals = []
        for i, x in enumerate(leaves):
            try:
                avals.append(get_aval(x))
            except TypeError:
                raise TypeError(
                    f"Argument {i} of type {type(x).__name__} ({x!r:.60}) of jitted function "
                    f"{self.__name__} is not a valid JAX-like type; mark it static with "
                    "static_argnums/static_argnames or pass an array."
                ) from None
        has_kwargs = bool(dyn_kwargs)
        key = (in_tree, tuple(avals), static, static_kw, has_kwargs)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._trace(in_tree, avals, static, static_kw, has_kwargs)
            if entry.consts is None:
                self._cache[key] = entry
        return entry, leaves

    def _trace(self, in_tree, avals, static, static_kw, has_kwargs) -> _Entry:
        store: dict = {}

        def flat_fun(*xs):
            tree = tree_unflatten(in_tree, xs)
            dyn_args, dyn_kwargs = tree if has_kwargs else (tree, {})
            args, kwargs = self._rebuild(static, static_kw, dyn_args, dyn_kwargs)
            out = self.fun(*args, **kwargs)
            leaves, store["out_tree"] = tree_flatten(out)
            return leaves

        names = _arg_names(self.fun, self.static_nums, in_tree, has_kwargs)
        closed = staging.trace_to_jaxpr(flat_fun, avals, names)
        closed, tracer_consts = staging.closed_over_tracers(closed)
        entry = _Entry(closed, store["out_tree"])
        entry.consts = tracer_consts or None
        return entry

    # -- calling ------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        flat = not kwargs and not self.static_nums and not self.static_names
        if flat and _ctx.trace is _eval_trace:  # the common case, kept short
            avals = tuple([x.aval for x in args if type(x) is Array])
            entry = self._by_avals.get(avals) if len(avals) == len(args) else None
            if entry is not None:
                return tree_unflatten(entry.out_tree, entry.compiled.call(args, entry.out_avals))
        entry, leaves = self._entry(args, kwargs)
        consts = entry.consts
        if _ctx.trace is _eval_trace and not consts:
            outs = execute(entry.jaxpr, leaves, self.device, entry)
            if flat and all(type(x) is Array for x in args):
                self._by_avals[tuple([x.aval for x in args])] = entry
        else:
            outs = pjit_p.bind(*(consts or ()), *leaves, jaxpr=entry.jaxpr, name=self.__name__,
                               device=self.device)
        return tree_unflatten(entry.out_tree, outs)

    def lower(self, *args, **kwargs) -> "Lowered":
        entry, leaves = self._entry(args, kwargs)
        return Lowered(entry.jaxpr, entry.out_tree, self.device)

    def trace(self, *args, **kwargs):
        entry, _ = self._entry(args, kwargs)
        return entry.jaxpr

    def eval_shape(self, *args, **kwargs):
        from hlodiff.api import ShapeDtypeStruct

        entry, _ = self._entry(args, kwargs)
        shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in entry.jaxpr.out_avals]
        return tree_unflatten(entry.out_tree, shapes)

    def clear_cache(self):
        self._cache.clear()
        self._by_avals.clear()

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __repr__(self):
        return f"<jitted function {self.__name__}>"


def _arg_names(fun, static_nums, in_tree, has_kwargs) -> list[str] | None:
    """A readable name per flat argument: `x`, `params['w']`, `args[2]` (for error messages)."""
    from hlodiff.tree_util import keystr, tree_flatten_with_path

    try:
        params = [p.name for p in inspect.signature(fun).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    dyn_params = [n for i, n in enumerate(params) if i not in static_nums]
    dummy = tree_unflatten(in_tree, list(range(in_tree.num_leaves)))
    names = []
    for path, _ in tree_flatten_with_path(dummy)[0]:
        keys = list(path)
        if has_kwargs:
            top, keys = keys[0], keys[1:]
            if getattr(top, "idx", 0) == 1:  # keyword arguments: the dict key is the name
                names.append(keystr(keys[:1], simple=True) + keystr(keys[1:]))
                continue
        if not keys:
            names.append("args")
            continue
        i = getattr(keys[0], "idx", None)
        base = dyn_params[i] if i is not None and i < len(dyn_params) else f"args[{i}]"
        names.append(base + keystr(keys[1:]))
    return names


def jit(fun: Callable | None = None, *, static_argnums=(), static_argnames=(), donate_argnums=(),
        device=None, keep_unused: bool = False, inline: bool = False, backend=None):
    """Compiles `fun` with IREE for the default (or given) device.

    Args:
      static_argnums / static_argnames: arguments treated as compile-time constants (hashable);
        a new value traces and compiles again.
      donate_argnums: accepted for compatibility; buffers are never reused in place.
      device: a device or platform name ("cpu", "vulkan", "cuda").
    Raises:
      ConcretizationTypeError: when Python control flow depends on a traced argument.
      ValueError: for unhashable static arguments.

    >>> f = hd.jit(lambda x: x * 2.0)
    >>> f(hnp.arange(3.0))
    Array([0., 2., 4.], dtype=float32)
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames, donate_argnums=donate_argnums,
                                 device=device or backend, keep_unused=keep_unused)
    return JitWrapped(fun, static_argnums, static_argnames, donate_argnums, device or backend,
                      keep_unused)


# ---------------------------------------------------------------------------------------------
# Lowered / compiled objects


class Lowered:
    """The StableHLO of one traced signature (`.as_text()`), ready to `.compile()`."""

    def __init__(self, jaxpr, out_tree, device):
        self.jaxpr = jaxpr
        self.out_tree = out_tree
        self.device = device
        self._lowered = None

    def _lower(self):
        if self._lowered is None:
            from hlodiff.lowering import lower_jaxpr

            self._lowered = lower_jaxpr(self.jaxpr)
        return self._lowered

    def as_text(self) -> str:
        return self._lower().text

    def compile(self) -> "Compiled":
        return Compiled(self.jaxpr, self.out_tree, _compiled_for(self.jaxpr, self.device))


class Compiled:
    def __init__(self, jaxpr, out_tree, executable):
        self.jaxpr = jaxpr
        self.out_tree = out_tree
        self._executable = executable

    def __call__(self, *args, **kwargs):
        leaves, _ = tree_flatten((args, kwargs))
        outs = self._executable.call(leaves, self.jaxpr.out_avals)
        return tree_unflatten(self.out_tree, outs)

    def as_text(self) -> str:
        return self._executable.text


# ---------------------------------------------------------------------------------------------
# Execution


class _Executable:
    """A compiled jaxpr: the runtime function plus what calling it needs."""

    def __init__(self, lowered, function, device):
        from hlodiff.runtime import DeviceBuffer

        self.text = lowered.text
        self.const_args = [DeviceBuffer.from_host(c, device) for c in lowered.const_args]
        self.function = function
        self.device = device

    def call(self, args: Sequence[Any], out_avals: Sequence[core.ShapedArray]) -> list:
        device = self.device
        operands = []
        for x in args:  # the common case inline: an Array already on this device
            buf = x._buffer if type(x) is Array else None
            operands.append(buf if buf is not None and buf.device is device
                            else _operand(x, device))
        if self.const_args:
            operands = self.const_args + operands
        outs = []
        for buf, aval in zip(self.function.call_buffers(operands), out_avals):
            out = Array(None, aval.weak_type, buf)
            out._aval = aval
            outs.append(out)
        return outs


def _operand(x, device):
    """The device buffer for an argument. An Array keeps the buffer it was uploaded to (Arrays
    are immutable), so passing the same array again costs no transfer."""
    from hlodiff.runtime import DeviceBuffer

    if type(x) is Array:
        buf = x._buffer
        if buf is not None and buf.device is device:
            return buf
        buf = DeviceBuffer.from_host(x._value if x._value is not None else x._fetch(), device)
        if x._buffer is None:
            x._buffer = buf
        return buf
    if isinstance(x, Tracer):
        value = core.concrete_value(x)
        if value is None:
            raise core.UnexpectedTracerError(pjit_p, x)
        return _operand(value, device)
    return DeviceBuffer.from_host(np.asarray(x, get_aval(x).dtype), device)


_compiled: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _compiled_for(jaxpr, device) -> _Executable:
    from hlodiff import runtime
    from hlodiff.lowering import lower_jaxpr

    per_jaxpr = _compiled.setdefault(jaxpr, {})
    dev = get_device(device)  # None: the default device (hd.config "platform", else env)
    exe = per_jaxpr.get(dev)
    if exe is None:
        lowered = lower_jaxpr(jaxpr)
        vmfb = runtime.compile_module(lowered.text, dev.platform)
        function = runtime.load(vmfb, dev).function("main")
        exe = per_jaxpr[dev] = _Executable(lowered, function, dev)
    return exe


def execute(jaxpr, args, device=None, entry: _Entry | None = None) -> list:
    """Runs a closed jaxpr compiled for `device` on concrete arguments."""
    if entry is None:
        return _compiled_for(jaxpr, device).call(args, jaxpr.out_avals)
    exe = entry.compiled
    if exe is None:
        exe = entry.compiled = _compiled_for(jaxpr, device)
    return exe.call(args, entry.out_avals)


__all__ = ["jit", "JitWrapped", "Lowered", "Compiled"]
