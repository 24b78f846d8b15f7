"""The core model: abstract values, primitives, traces and tracers, and the current-trace context.

Every operation in hlodiff is a `Primitive`. `prim.bind(*args, **params)` hands the primitive to
the *current trace*: eager evaluation at the bottom (numpy, no compilation), or an interpreter set
up by a transformation (JVP, batching, partial evaluation, staging). An interpreter processes the
primitive with the rule it owns and usually binds simpler primitives on its *parent* trace. This is
JAX's "stackless" design: no global level counter, each trace knows its parent, and a tracer from a
trace that is not the current one is just a constant to it.

A primitive is declared once, with all its rules beside it (see `hlodiff/prims/__init__.py`).
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Sequence

import numpy as np

from hlodiff import dtypes
from hlodiff.errors import ConcretizationTypeError, UnexpectedTracerError


# ---------------------------------------------------------------------------------------------
# Abstract values


class ShapedArray:
    """The abstract value of an array: shape, dtype and whether the dtype is weak."""

    __slots__ = ("shape", "dtype", "weak_type", "_hash")
    array_abstraction_level = 1

    def __init__(self, shape: Sequence[int], dtype, weak_type: bool = False):
        self.shape = shape if type(shape) is tuple else tuple(shape)
        self.dtype = dtype if type(dtype) is np.dtype else np.dtype(dtype)
        self.weak_type = weak_type if type(weak_type) is bool else bool(weak_type)
        self._hash = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def update(self, shape=None, dtype=None, weak_type=None) -> "ShapedArray":
        return ShapedArray(
            self.shape if shape is None else shape,
            self.dtype if dtype is None else dtype,
            self.weak_type if weak_type is None else weak_type,
        )

    def strip_weak_type(self) -> "ShapedArray":
        return ShapedArray(self.shape, self.dtype) if self.weak_type else self

    def str_short(self) -> str:
        return f"{dtypes.short_name(self.dtype)}[{','.join(map(str, self.shape))}]"

    def __eq__(self, other):
        return (
            type(other) is ShapedArray
            and self.shape == other.shape
            and self.dtype == other.dtype
            and self.weak_type == other.weak_type
        )

    def __hash__(self):
        h = self._hash
        if h is None:
            h = self._hash = hash((self.shape, self.dtype, self.weak_type))
        return h

    def __repr__(self):
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapedArray({self.str_short()}{weak})"

    __str__ = str_short


def _scalar_aval(x) -> ShapedArray:
    # Python bools are strongly typed in JAX; ints, floats and complexes are weak.
    return ShapedArray((), dtypes.dtype(x), weak_type=type(x) is not bool)


def get_aval(x) -> ShapedArray:
    """The abstract value of any array-like value: Array, Tracer, numpy value or Python scalar."""
    if type(x) is Array:
        aval = x._aval
        return aval if aval is not None else x.aval
    aval = getattr(x, "aval", None)
    if aval is not None:
        return aval
    if type(x) in _python_scalar_types:
        return _scalar_aval(x)
    if isinstance(x, (np.ndarray, np.generic)):
        return ShapedArray(x.shape, dtypes.canonicalize_dtype(x.dtype))
    raise TypeError(
        f"Value {x!r} of type {type(x).__name__} is not a valid hlodiff type: expected an "
        "array, a numpy array or a Python scalar (bool, int, float, complex)."
    )


_python_scalar_types = {bool, int, float, complex}


def is_arraylike(x) -> bool:
    return (
        type(x) in _python_scalar_types
        or isinstance(x, (np.ndarray, np.generic, Tracer))
        or hasattr(x, "aval")
    )


# ---------------------------------------------------------------------------------------------
# Primitives


class Primitive:
    """A named operation. Its rules are attributes, set by the block that declares it.

    - `impl(*np_values, **params)`: eager evaluation on numpy values.
    - `abstract_eval(*avals, **params)`: output aval(s); raises `TypeError` on bad input.
    - `jvp(primals, tangents, **params) -> (primal_out, tangent_out)`.
    - `transpose(cts, *invals, **params) -> list of cts` (linear primitives only).
    - `batch(axis_size, vals, dims, **params) -> (out, out_dim)`.
    - `weak_type_rule(*invals, **params)` (eager path; default: weak iff all inputs are weak).
    """

    multiple_results = False
    higher_order = False

    def __init__(self, name: str):
        self.name = name
        self.impl: Callable | None = None
        self.abstract_eval: Callable | None = None
        self.jvp: Callable | None = None
        self.transpose: Callable | None = None
        self.batch: Callable | None = None
        self.partial_eval: Callable | None = None
        # Eager evaluation that takes `Array`s as they are (e.g. compiled calls keep device
        # buffers); None means `impl` on numpy values.
        self.eval_rule: Callable | None = None
        self.weak_type_rule: Callable = _all_weak
        self.linear = False
        _registry.append(self)

    def bind(self, *args, **params):
        return _ctx.trace.process_primitive(self, args, params)

    def bind_with_trace(self, trace, args, params):
        if trace is eval_trace:  # evaluation binds nothing further: no need to switch traces
            return trace.process_primitive(self, args, params)
        with set_current_trace(trace):
            return trace.process_primitive(self, args, params)

    def __repr__(self):
        return self.name


_registry: list[Primitive] = []


def all_primitives() -> list[Primitive]:
    return list(_registry)


def _all_weak(*args, **params):
    for a in args:
        t = type(a)
        if t is Array:
            if not a.weak_type:
                return False
        elif not getattr(a, "weak_type", t in _python_scalar_types):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Traces and tracers


class Trace:
    """An interpreter. Subclasses implement `process_primitive` and the higher-order hooks."""

    parent: "Trace | None" = None

    def process_primitive(self, primitive: Primitive, args, params):
        raise NotImplementedError

    def process_custom_jvp_call(self, primitive, fun, jvp, args, params):
        raise NotImplementedError(f"{type(self).__name__} cannot process custom_jvp calls")

    def process_custom_vjp_call(self, primitive, fun, fwd, bwd, args, params):
        raise NotImplementedError(f"{type(self).__name__} cannot process custom_vjp calls")


class Tracer:
    """A value flowing through an interpreter. Array methods come from `_array_methods`."""

    __slots__ = ("_trace", "__weakref__")
    __array_priority__ = 1000

    @property
    def aval(self) -> ShapedArray:
        raise NotImplementedError

    def to_concrete_value(self):
        """The concrete value this tracer stands for, or None if it has none."""
        return None

    @property
    def shape(self):
        return self.aval.shape

    @property
    def dtype(self):
        return self.aval.dtype

    @property
    def weak_type(self):
        return self.aval.weak_type

    @property
    def ndim(self):
        return len(self.aval.shape)

    @property
    def size(self):
        return self.aval.size

    def __len__(self):
        if not self.aval.shape:
            raise TypeError("len() of unsized object")
        return self.aval.shape[0]

    def _concrete(self, what: str):
        value = self.to_concrete_value()
        if value is None:
            raise ConcretizationTypeError(self, what)
        return value

    def __bool__(self):
        return bool(self._concrete("The truth value of a traced array (bool())"))

    def __int__(self):
        return int(self._concrete("int() of a traced array"))

    def __float__(self):
        return float(self._concrete("float() of a traced array"))

    def __complex__(self):
        return complex(self._concrete("complex() of a traced array"))

    def __index__(self):
        return int(self._concrete("Using a traced array as an index (__index__)"))

    def __array__(self, dtype=None, copy=None):
        value = self._concrete("Converting a traced array to a numpy array (np.asarray)")
        return np.asarray(value, dtype=dtype)

    def item(self):
        return self._concrete("item() of a traced array").item()

    def tolist(self):
        return np.asarray(self._concrete("tolist() of a traced array")).tolist()

    def __hash__(self):
        raise TypeError(f"unhashable type: {type(self).__name__}")

    def __repr__(self):
        return f"Traced<{self.aval.str_short()}>with<{type(self._trace).__name__}>"


class EvalTrace(Trace):
    """The bottom interpreter: runs each primitive's numpy implementation."""

    def process_primitive(self, primitive, args, params):
        for x in args:
            if isinstance(x, Tracer):
                raise UnexpectedTracerError(primitive, x)
        if primitive.eval_rule is not None:
            return primitive.eval_rule(*args, **params)
        return eval_impl(primitive, args, params)

    def process_custom_jvp_call(self, primitive, fun, jvp, args, params):
        with set_current_trace(self):
            return fun(*args)

    def process_custom_vjp_call(self, primitive, fun, fwd, bwd, args, params):
        with set_current_trace(self):
            return fun(*args)


def eval_impl(primitive: Primitive, args, params):
    """Runs `primitive.impl` on numpy values and wraps the results as `Array`s."""
    weak = primitive.weak_type_rule(*args, **params)
    np_args = [to_numpy(x) for x in args]
    try:
        out = primitive.impl(*np_args, **params)
    except Exception:
        # The shape/dtype rule explains bad input better than numpy does; raise its error.
        primitive.abstract_eval(*[get_aval(x) for x in args], **params)
        raise
    if primitive.multiple_results:
        return [Array(o, weak) if not isinstance(o, Array) else o for o in out]
    return Array(out, weak)


def to_numpy(x):
    """The numpy value of an eager operand (an Array, numpy value or Python scalar)."""
    if type(x) is Array:
        return x._value if x._value is not None else x._fetch()
    if type(x) in _python_scalar_types:
        return np.asarray(x, dtypes.dtype(x))
    return x


class _TraceContext(threading.local):
    def __init__(self):
        self.trace: Trace = eval_trace


eval_trace = EvalTrace()
_ctx = _TraceContext()


def current_trace() -> Trace:
    return _ctx.trace


class set_current_trace:
    """`with set_current_trace(trace):` makes `trace` current for the block (a plain class, not
    a generator: this runs for every primitive a transformation processes)."""

    __slots__ = ("trace", "prev")

    def __init__(self, trace: Trace):
        self.trace = trace

    def __enter__(self):
        self.prev = _ctx.trace
        _ctx.trace = self.trace

    def __exit__(self, *exc):
        _ctx.trace = self.prev
        return False


# ---------------------------------------------------------------------------------------------
# Concrete arrays (defined here so the eager path has no import indirection).

from hlodiff.array import Array  # noqa: E402  (Array uses ShapedArray/Tracer above)


def concrete_value(x) -> Any:
    """numpy value of `x` if it is concrete (possibly through tracers that carry one), else None."""
    if isinstance(x, Tracer):
        x = x.to_concrete_value()
        if x is None:
            return None
    return to_numpy(x) if isinstance(x, Array) else x
