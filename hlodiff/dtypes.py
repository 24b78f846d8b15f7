"""Dtypes and JAX's type promotion.

Owns the supported dtypes, 64-bit canonicalization under `enable_x64`, weak types, and the
promotion lattice of JAX's "Type promotion semantics" document. `result_type` is the entry point
every primitive uses:

    >>> result_type(np.zeros(3, np.float16), 2.0)          # a Python float is weak
    dtype('float16')
    >>> result_type(np.int8, 1)
    dtype('int8')
    >>> result_type(1, 2.0, return_weak_type_flag=True)
    (dtype('float32'), True)

The lattice joins are computed once into tables at import; `result_type` then costs a few dict
lookups, memoized on the (dtype, weak) signature of its arguments.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from hlodiff.config import config

# --- The supported dtypes ---------------------------------------------------------------------

bool_ = np.dtype(np.bool_)
int8, int16, int32, int64 = (np.dtype(t) for t in ("int8", "int16", "int32", "int64"))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in ("uint8", "uint16", "uint32", "uint64"))
bfloat16 = np.dtype(ml_dtypes.bfloat16)
float16, float32, float64 = (np.dtype(t) for t in ("float16", "float32", "float64"))
complex64, complex128 = np.dtype("complex64"), np.dtype("complex128")
# The tangent dtype of integer and boolean primals: a zero-sized "no information" type.
float0 = np.dtype([("float0", np.void, 0)])

_SIGNED = (int8, int16, int32, int64)
_UNSIGNED = (uint8, uint16, uint32, uint64)
_FLOATS = (bfloat16, float16, float32, float64)
_COMPLEX = (complex64, complex128)
# The dtypes that take part in promotion, in the order of JAX's table.
_PROMOTABLE = (bool_, *_UNSIGNED, *_SIGNED, *_FLOATS, *_COMPLEX)
_SUPPORTED = frozenset((*_PROMOTABLE, float0))

_SHORT_NAMES = {
    bool_: "bool",
    float0: "float0",
    bfloat16: "bf16",
    **{dt: dt.name.replace("uint", "u").replace("int", "i") for dt in _SIGNED + _UNSIGNED},
    **{dt: "f" + dt.name[5:] for dt in (float16, float32, float64)},
    **{dt: "c" + dt.name[7:] for dt in _COMPLEX},
}

# Python scalar type -> dtype before canonicalization (JAX's `python_scalar_types_to_dtypes`).
python_scalar_dtypes: dict[type, np.dtype] = {
    bool: bool_,
    int: int64,
    float: float64,
    complex: complex128,
}

_TO_32BIT = {int64: int32, uint64: uint32, float64: float32, complex128: complex64}
# Per x64 mode: supported dtype -> its canonical dtype. A KeyError means "not supported".
_CANONICAL = {
    False: {dt: _TO_32BIT.get(dt, dt) for dt in _SUPPORTED},
    True: {dt: dt for dt in _SUPPORTED},
}


def _supported_list() -> str:
    return ", ".join(dt.name for dt in _PROMOTABLE) + " (and float0 for tangents)"


def _unsupported(what: str) -> TypeError:
    return TypeError(f"{what} is not a dtype hlodiff supports. Supported: {_supported_list()}.")


def _np_dtype(x: Any) -> np.dtype:
    """A dtype-like or a value's dtype as an np.dtype; only Python scalar values canonicalize."""
    if isinstance(x, np.dtype):
        return x
    if isinstance(x, (type, str)):
        try:
            return np.dtype(x)
        except TypeError:
            raise _unsupported(f"{x!r}") from None
    dt = getattr(x, "dtype", None)
    return dt if isinstance(dt, np.dtype) else dtype(x)


# --- Canonicalization and defaults ----------------------------------------------------------------


def canonicalize_dtype(dtype_like: Any) -> np.dtype:
    """The dtype arrays of `dtype_like` get: 64-bit types become 32-bit unless x64 is enabled.

    Args:
      dtype_like: a dtype, a scalar type (`np.float64`, `float`) or a name (`"float64"`).
    Returns:
      A supported `np.dtype`, e.g. `canonicalize_dtype("float64") -> float32` with x64 off.
    Raises:
      TypeError: the dtype is not one hlodiff supports (strings, objects, ...).
    """
    canonical = _CANONICAL[config.enable_x64]
    try:
        return canonical[dtype_like]
    except (KeyError, TypeError):
        pass
    dt = _np_dtype(dtype_like)
    if dt not in canonical:
        raise _unsupported(f"dtype {dt} (from {dtype_like!r})")
    return canonical[dt]


def default_int_dtype() -> np.dtype:
    return int64 if config.enable_x64 else int32


def default_float_dtype() -> np.dtype:
    return float64 if config.enable_x64 else float32


def default_complex_dtype() -> np.dtype:
    return complex128 if config.enable_x64 else complex64


def _default_of_kind(dt: np.dtype) -> np.dtype:
    """The default dtype of `dt`'s category; weak results are reported with it, as in JAX."""
    if dt in _COMPLEX:
        return default_complex_dtype()
    if dt in _FLOATS:
        return default_float_dtype()
    if dt in _SIGNED:
        return default_int_dtype()
    if dt in _UNSIGNED:
        return uint64 if config.enable_x64 else uint32
    return dt


# --- Values -> dtypes -----------------------------------------------------------------------------


def is_weakly_typed(x: Any) -> bool:
    """True for Python int/float/complex values and values carrying a true `weak_type`.

    Like JAX, Python `bool` values are not weak: bool sits at the bottom of the lattice, so a
    strong bool already never widens anything.
    """
    if type(x) in _WEAK_SCALAR_TYPES:
        return True
    weak = getattr(x, "weak_type", None)
    if weak is None:
        weak = getattr(getattr(x, "aval", None), "weak_type", False)
    return bool(weak)


def dtype(x: Any) -> np.dtype:
    """The canonical dtype of a value or dtype-like.

    Python scalars and scalar types get the default dtype of their kind (`1.0 -> float32`);
    numpy arrays, numpy scalars, dtypes, scalar types and names are canonicalized; other objects
    with a `.dtype` (hlodiff arrays, tracers) keep theirs, as JAX keeps a jax.Array's.

    Raises:
      TypeError: `x` has no dtype hlodiff supports, e.g. `dtype("abc")` or `dtype(object())`.
    """
    scalar_dtype = python_scalar_dtypes.get(type(x))
    if scalar_dtype is not None:
        return _CANONICAL[config.enable_x64][scalar_dtype]
    if isinstance(x, (np.ndarray, np.generic)):
        return canonicalize_dtype(x.dtype)
    if isinstance(x, type):
        if x in python_scalar_dtypes or issubclass(x, np.generic):
            return canonicalize_dtype(x)
        raise _unsupported(f"type {x.__name__}")
    if isinstance(x, (str, np.dtype)):
        return canonicalize_dtype(x)
    if isinstance(x, (bool, *_WEAK_SCALAR_TYPES)):  # a subclass, e.g. an IntEnum member
        return dtype(next(t for t in (bool, *_WEAK_SCALAR_TYPES) if isinstance(x, t)))
    dt = getattr(x, "dtype", None)
    if isinstance(dt, np.dtype):
        if dt not in _SUPPORTED:
            raise _unsupported(f"dtype {dt} of a {type(x).__name__} value")
        return dt
    raise TypeError(
        f"Cannot determine the dtype of a value of type {type(x).__name__}: {x!r:.80}. "
        f"Expected a Python scalar, an array, or a dtype; supported dtypes: {_supported_list()}."
    )


# --- The promotion lattice ------------------------------------------------------------------------


class _WeakNode:
    """A weak node of the lattice: i*, f* or c* (a Python int/float/complex, or a weak value).

    Sentinels rather than the Python types themselves, because `np.dtype("int64") == int`.
    """

    __slots__ = ("name", "scalar_type")

    def __init__(self, name: str, scalar_type: type):
        self.name, self.scalar_type = name, scalar_type

    def __repr__(self):
        return self.name


_I, _F, _C = _WeakNode("i*", int), _WeakNode("f*", float), _WeakNode("c*", complex)
_WEAK_SCALAR_TYPES = (int, float, complex)


def _weak_node_of(x: Any) -> _WeakNode | None:
    """The weak node a Python scalar type stands for (`int` -> i*), else None."""
    return _I if x is int else _F if x is float else _C if x is complex else None


def _lattice(x64: bool) -> dict[Any, list[Any]]:
    """Each node's immediate successors (JAX's lattice, standard promotion mode)."""
    return {
        bool_: [_I],
        _I: [uint8, int8],
        uint8: [int16, uint16], uint16: [int32, uint32],
        # Without x64, u32 joins i32 at i32 so no 64-bit type forms from 32-bit inputs.
        uint32: [int64, uint64] if x64 else [int32, uint64],
        uint64: [_F],
        int8: [int16], int16: [int32], int32: [int64], int64: [_F],
        _F: [bfloat16, float16, _C],
        bfloat16: [float32], float16: [float32],
        float32: [float64, complex64], float64: [complex128],
        _C: [complex64], complex64: [complex128], complex128: [],
    }  # fmt: skip


def _upper_bounds(lattice: dict) -> dict[Any, frozenset]:
    """UB(n) = every node reachable from n, n included (the transitive closure)."""
    bounds = {}
    for node in lattice:
        seen, todo = {node}, [node]
        while todo:
            for succ in lattice[todo.pop()]:
                if succ not in seen:
                    seen.add(succ)
                    todo.append(succ)
        bounds[node] = frozenset(seen)
    return bounds


def _join_table(x64: bool) -> dict[tuple, Any]:
    """(a, b) -> least upper bound, for every pair of lattice nodes.

    The join is the common upper bound c whose own upper bounds contain all the others:
    LUB(a, b) = the c in UB(a) & UB(b) with UB(a) & UB(b) <= UB(c).
    """
    ub = _upper_bounds(_lattice(x64))
    table = {}
    for a in ub:
        for b in ub:
            common = ub[a] & ub[b]
            (join,) = [c for c in common if common <= ub[c]]
            table[a, b] = join
    return table


_JOIN = {False: _join_table(False), True: _join_table(True)}


def _node(dt: np.dtype, weak: bool) -> Any:
    """The lattice node of a (dtype, weak) pair: weak values sit on i*, f* or c*."""
    if not weak or dt == bool_:
        return dt
    if dt in _COMPLEX:
        return _C
    return _F if dt in _FLOATS else _I


def _join(nodes, x64: bool) -> Any:
    table = _JOIN[x64]
    nodes = iter(nodes)
    out = next(nodes)
    for node in nodes:
        try:
            out = table[out, node]
        except KeyError:
            bad = next(n for n in (out, node) if (n, n) not in table)
            raise _unsupported(f"dtype {bad} (in type promotion)") from None
    return out


def _node_dtype(node: Any, x64: bool) -> np.dtype:
    """The canonical dtype of a lattice node (a weak node gives its default dtype)."""
    dt = python_scalar_dtypes[node.scalar_type] if type(node) is _WeakNode else node
    return _CANONICAL[x64][dt]


def promote_types(a: Any, b: Any) -> np.dtype:
    """The dtype a binary operation on dtypes `a` and `b` computes in (JAX's lattice join).

    Dtypes, scalar types and names are strong; the Python types `int`, `float` and `complex` are
    the weak nodes i*, f*, c*, as in `jnp.promote_types`. Like JAX, the result is not
    canonicalized: `promote_types(int, float)` is float64.

        >>> promote_types("int32", "float16")
        dtype('float16')
        >>> promote_types(bfloat16, float16)
        dtype('float32')

    Raises:
      TypeError: either dtype is unsupported.
    """
    nodes = [_weak_node_of(t) or _np_dtype(t) for t in (a, b)]
    join = _join(nodes, config.enable_x64)
    return python_scalar_dtypes[join.scalar_type] if type(join) is _WeakNode else join


# --- result_type ----------------------------------------------------------------------------------


class _WeakValue:
    """Memo key of a weakly typed value of dtype `dtype` (one interned instance per dtype)."""

    __slots__ = ("dtype",)

    def __init__(self, dt: np.dtype):
        self.dtype = dt


# Memo keys: a dtype (strong value), a _WeakValue (weak value), a _WeakNode (Python scalar).
_STRONG_KEYS = {dt: dt for dt in _SUPPORTED}
_WEAK_KEYS = {dt: _WeakValue(dt) for dt in _SUPPORTED}
_SCALAR_KEYS = {bool: bool_, int: _I, float: _F, complex: _C}  # by type(value)
# dtype-like -> memo key, per x64 mode: dtypes, their names, scalar types, Python scalar types.
_DTYPE_LIKE_KEYS = {
    x64: {
        **{dt: canonical[dt] for dt in _SUPPORTED},
        **{dt.name: canonical[dt] for dt in _PROMOTABLE},
        **{dt.type: canonical[dt] for dt in _PROMOTABLE},
        bool: bool_,
        int: _I,
        float: _F,
        complex: _C,
    }
    for x64, canonical in _CANONICAL.items()
}
_RESULT_MEMO: dict[bool, dict[tuple, tuple[np.dtype, bool]]] = {False: {}, True: {}}
_MEMO_LIMIT = 4096


def _make_arg_key(x64: bool):
    """The memo key of one argument under one x64 mode; raises KeyError, TypeError or
    AttributeError where the slow path must decide. Built per mode so the hot path reads no flag
    and passes no extra argument."""
    canonical, dtype_likes = _CANONICAL[x64], _DTYPE_LIKE_KEYS[x64]
    scalar_keys, strong_keys, weak_keys = _SCALAR_KEYS, _STRONG_KEYS, _WEAK_KEYS
    numpy_types = frozenset((np.ndarray, *(dt.type for dt in _SUPPORTED)))

    def arg_key(x):
        t = type(x)
        key = scalar_keys.get(t)
        if key is not None:
            return key
        if t in numpy_types:  # numpy arrays and scalars are canonicalized, as in JAX
            return canonical[x.dtype]
        if t is type:
            return dtype_likes[x]
        dt = getattr(x, "dtype", None)
        if dt is None:  # an np.dtype or a dtype name
            return dtype_likes[x]
        weak = getattr(x, "weak_type", None)
        if weak is None:  # a tracer; anything else (an ndarray subclass) takes the slow path
            weak = x.aval.weak_type
        return weak_keys[dt] if weak else strong_keys[dt]

    return arg_key


_ARG_KEY = {False: _make_arg_key(False), True: _make_arg_key(True)}


def _arg_key_slow(x: Any, x64: bool) -> Any:
    """The memo key of one argument, with a helpful error for unsupported ones."""
    if x is None:  # JAX: None stands for the default float dtype
        return default_float_dtype()
    if isinstance(x, (type, str, np.dtype)):
        return _weak_node_of(x) or canonicalize_dtype(x)
    if isinstance(x, (bool, *_WEAK_SCALAR_TYPES)) and not isinstance(x, np.generic):
        # A subclass of a Python scalar type (an IntEnum, say): weak like its base type.
        return next(_SCALAR_KEYS[t] for t in (bool, *_WEAK_SCALAR_TYPES) if isinstance(x, t))
    dt = dtype(x)
    return _WEAK_KEYS[dt] if is_weakly_typed(x) else dt


def _resolve(keys: tuple, x64: bool) -> tuple[np.dtype, bool]:
    """JAX's `lattice_result_type` followed by `result_type`'s weak-dtype normalization."""
    pairs = [
        (_node_dtype(k, x64), True) if type(k) is _WeakNode
        else (k.dtype, True) if type(k) is _WeakValue
        else (k, False)
        for k in keys
    ]  # fmt: skip
    dtypes_, weaks = zip(*pairs)
    if len(pairs) == 1:
        out, weak = pairs[0]
    elif len(set(dtypes_)) == 1 and not all(weaks):
        out, weak = dtypes_[0], False  # trivial case; lets float0 through, as in JAX
    elif all(weaks):
        # All weak: join the strong counterparts, then mark weak (avoids e.g. a weak int16).
        out, weak = _node_dtype(_join(dtypes_, x64), x64), True
    else:
        node = _join([_node(d, w) for d, w in pairs], x64)
        out, weak = _node_dtype(node, x64), type(node) is _WeakNode
    out = _CANONICAL[x64][out]
    weak = weak and out != bool_
    return (_default_of_kind(out) if weak else out), weak


def result_type(*args: Any, return_weak_type_flag: bool = False):
    """The dtype an operation on `args` computes in, by JAX's promotion rules.

    Args:
      *args: values (Python scalars, numpy arrays and scalars, objects with `.dtype` and
        optionally `.weak_type` / `.aval.weak_type`) or dtype-likes (`np.float32`, `"int8"`,
        and the weak Python types `int`, `float`, `complex`). `None` means the default float.
      return_weak_type_flag: also return whether the result is weakly typed, which happens only
        when every input is weak.
    Returns:
      The canonical result dtype, or `(dtype, weak_type)` with `return_weak_type_flag=True`.
    Raises:
      TypeError: an argument has no supported dtype.
      ValueError: no arguments.

        >>> result_type(np.zeros(2, np.int32), 1.5)      # a weak float and an int array
        dtype('float32')
    """
    x64 = config.enable_x64
    memo, arg_key = _RESULT_MEMO[x64], _ARG_KEY[x64]
    try:
        # Two operands is the common case; building that tuple directly saves ~150 ns.
        key = (arg_key(args[0]), arg_key(args[1])) if len(args) == 2 else tuple(map(arg_key, args))
        out = memo[key]
    except (KeyError, TypeError, AttributeError, IndexError):
        # An uncommon kind of argument, a first sighting, or an error to explain: the slow path.
        out = _result_type_slow(args, x64, memo)
    return out if return_weak_type_flag else out[0]


def _result_type_slow(args: tuple, x64: bool, memo: dict) -> tuple[np.dtype, bool]:
    if not args:
        raise ValueError("result_type needs at least one value or dtype")
    keys = tuple(_arg_key_slow(x, x64) for x in args)
    out = memo.get(keys)
    if out is None:
        out = _resolve(keys, x64)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[keys] = out
    return out


# --- Dtype categories -----------------------------------------------------------------------------

# bfloat16's scalar type is not a subclass of np.floating, so numpy's issubdtype misfiles it.
_BF16_PARENTS = frozenset((ml_dtypes.bfloat16, np.floating, np.inexact, np.number, np.generic))


def _scalar_type(x: Any) -> type:
    if isinstance(x, type) and issubclass(x, np.generic):
        return x
    return _np_dtype(x).type


def issubdtype(a: Any, b: Any) -> bool:
    """`np.issubdtype` that knows bfloat16 is a floating type.

    >>> issubdtype(bfloat16, np.floating), issubdtype("int8", np.integer)
    (True, True)
    """
    a_type, b_type = _scalar_type(a), _scalar_type(b)
    if a_type is ml_dtypes.bfloat16:
        return b_type in _BF16_PARENTS
    return bool(np.issubdtype(a_type, b_type))


def is_bool(dtype_like: Any) -> bool:
    return _np_dtype(dtype_like) == bool_


def is_integer(dtype_like: Any) -> bool:
    """Signed or unsigned integer; bool is not an integer here (see `is_bool`)."""
    return _np_dtype(dtype_like).kind in "iu"


def is_float(dtype_like: Any) -> bool:
    """A real floating dtype, bfloat16 included."""
    return _np_dtype(dtype_like) in _FLOATS


def is_complex(dtype_like: Any) -> bool:
    return _np_dtype(dtype_like) in _COMPLEX


def is_inexact(dtype_like: Any) -> bool:
    dt = _np_dtype(dtype_like)
    return dt in _FLOATS or dt in _COMPLEX


def finfo(dtype_like: Any) -> ml_dtypes.finfo:
    """Machine limits of a float or complex dtype (bfloat16 included), not canonicalized."""
    dt = _np_dtype(dtype_like)
    if dt not in _FLOATS and dt not in _COMPLEX:
        raise TypeError(f"finfo needs a floating or complex dtype, got {dt}; use iinfo for ints")
    return ml_dtypes.finfo(dt)


def iinfo(dtype_like: Any) -> ml_dtypes.iinfo:
    """Machine limits of an integer dtype, not canonicalized."""
    dt = _np_dtype(dtype_like)
    if dt.kind not in "iu":
        raise TypeError(f"iinfo needs an integer dtype, got {dt}; use finfo for floats")
    return ml_dtypes.iinfo(dt)


def real_dtype(dtype_like: Any) -> np.dtype:
    """complex64 -> float32, complex128 -> float64; any other dtype is returned unchanged."""
    dt = _np_dtype(dtype_like)
    return {complex64: float32, complex128: float64}.get(dt, dt)


def to_inexact_dtype(dtype_like: Any) -> np.dtype:
    """Floats and complex stay; bool and ints become float32, (u)int64 float64 (JAX's rule).

    On canonical dtypes this is the default float: int32 -> float32, and int64 only exists
    with x64 enabled, where it gives float64.
    """
    dt = _np_dtype(dtype_like)
    if dt in (int64, uint64):
        return float64
    return float32 if dt == bool_ or dt.kind in "iu" else dt


def to_complex_dtype(dtype_like: Any) -> np.dtype:
    """The complex dtype holding `dtype_like`'s values: float64 -> complex128, else complex64."""
    dt = to_inexact_dtype(dtype_like)
    return complex128 if dt in (float64, complex128) else complex64


def short_name(dtype_like: Any) -> str:
    """The dtype as jaxprs spell it: `f32`, `bf16`, `i8`, `u32`, `c64`, `bool`, `float0`."""
    dt = _np_dtype(dtype_like)
    try:
        return _SHORT_NAMES[dt]
    except KeyError:
        raise _unsupported(f"dtype {dt}") from None
