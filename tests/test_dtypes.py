"""Tests for hlodiff.dtypes: JAX's promotion table, weak types, canonicalization and helpers.

Every test asserts against literals (JAX's documented table and examples); the differential tests
at the end also compare with real JAX where it is installed.
"""

import contextlib
import itertools

import ml_dtypes
import numpy as np
import pytest

from hlodiff import dtypes
from hlodiff.config import config

# JAX's "Type promotion semantics" table (docs/type_promotion.rst), copied as printed: the join of
# row and column on the lattice, with x64 enabled. `i*`/`f*`/`c*` are the weak nodes.
DOC_HEADER = [
    "b1",
    "u1",
    "u2",
    "u4",
    "u8",
    "i1",
    "i2",
    "i4",
    "i8",
    "bf",
    "f2",
    "f4",
    "f8",
    "c8",
    "c16",
    "i*",
    "f*",
    "c*",
]
DOC_TABLE = """
b1   b1  u1  u2  u4  u8  i1  i2  i4  i8  bf  f2  f4  f8  c8  c16 i*  f*  c*
u1   u1  u1  u2  u4  u8  i2  i2  i4  i8  bf  f2  f4  f8  c8  c16 u1  f*  c*
u2   u2  u2  u2  u4  u8  i4  i4  i4  i8  bf  f2  f4  f8  c8  c16 u2  f*  c*
u4   u4  u4  u4  u4  u8  i8  i8  i8  i8  bf  f2  f4  f8  c8  c16 u4  f*  c*
u8   u8  u8  u8  u8  u8  f*  f*  f*  f*  bf  f2  f4  f8  c8  c16 u8  f*  c*
i1   i1  i2  i4  i8  f*  i1  i2  i4  i8  bf  f2  f4  f8  c8  c16 i1  f*  c*
i2   i2  i2  i4  i8  f*  i2  i2  i4  i8  bf  f2  f4  f8  c8  c16 i2  f*  c*
i4   i4  i4  i4  i8  f*  i4  i4  i4  i8  bf  f2  f4  f8  c8  c16 i4  f*  c*
i8   i8  i8  i8  i8  f*  i8  i8  i8  i8  bf  f2  f4  f8  c8  c16 i8  f*  c*
bf   bf  bf  bf  bf  bf  bf  bf  bf  bf  bf  f4  f4  f8  c8  c16 bf  bf  c8
f2   f2  f2  f2  f2  f2  f2  f2  f2  f2  f4  f2  f4  f8  c8  c16 f2  f2  c8
f4   f4  f4  f4  f4  f4  f4  f4  f4  f4  f4  f4  f4  f8  c8  c16 f4  f4  c8
f8   f8  f8  f8  f8  f8  f8  f8  f8  f8  f8  f8  f8  f8  c16 c16 f8  f8  c16
c8   c8  c8  c8  c8  c8  c8  c8  c8  c8  c8  c8  c8  c16 c8  c16 c8  c8  c8
c16  c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16
i*   i*  u1  u2  u4  u8  i1  i2  i4  i8  bf  f2  f4  f8  c8  c16 i*  f*  c*
f*   f*  f*  f*  f*  f*  f*  f*  f*  f*  bf  f2  f4  f8  c8  c16 f*  f*  c*
c*   c*  c*  c*  c*  c*  c*  c*  c*  c*  c8  c8  c8  c16 c8  c16 c*  c*  c*
"""
TABLE = {
    (row[0], col): cell
    for row in (line.split() for line in DOC_TABLE.strip().splitlines())
    for col, cell in zip(DOC_HEADER, row[1:], strict=True)
}
# Doc spelling -> what promote_types takes: a dtype, or a Python type for a weak node.
DOC_NAMES = {
    "b1": np.bool_, "u1": np.uint8, "u2": np.uint16, "u4": np.uint32, "u8": np.uint64,
    "i1": np.int8, "i2": np.int16, "i4": np.int32, "i8": np.int64, "bf": ml_dtypes.bfloat16,
    "f2": np.float16, "f4": np.float32, "f8": np.float64, "c8": np.complex64,
    "c16": np.complex128, "i*": int, "f*": float, "c*": complex,
}  # fmt: skip
WEAK = {"i*", "f*", "c*"}
TO_32BIT = {"i8": "i4", "u8": "u4", "f8": "f4", "c16": "c8"}
PAIRS = list(itertools.product(DOC_HEADER, DOC_HEADER))
PAIR_IDS = [f"{a}-{b}" for a, b in PAIRS]
ALL = [dtypes.bool_, dtypes.uint8, dtypes.uint16, dtypes.uint32, dtypes.uint64, dtypes.int8,
       dtypes.int16, dtypes.int32, dtypes.int64, dtypes.bfloat16, dtypes.float16, dtypes.float32,
       dtypes.float64, dtypes.complex64, dtypes.complex128]  # fmt: skip


def np_dtype(doc_name: str) -> np.dtype:
    """The dtype numpy gives a doc node: a weak node's Python type becomes its 64-bit dtype."""
    return np.dtype(DOC_NAMES[doc_name])


@contextlib.contextmanager
def x64_mode(enabled: bool):
    old = config.enable_x64
    config.update("enable_x64", enabled)
    try:
        yield
    finally:
        config.update("enable_x64", old)


@pytest.fixture(params=[False, True], ids=["x32", "x64"])
def x64(request):
    with x64_mode(request.param):
        yield request.param


class Val:
    """A stand-in for an hlodiff array: a dtype and a weak_type flag."""

    def __init__(self, dtype, weak_type=False):
        self.dtype, self.weak_type = np.dtype(dtype), weak_type


class Traced:
    """A stand-in for a tracer: the weak flag lives on `.aval`."""

    def __init__(self, dtype, weak_type):
        self.aval = Val(dtype, weak_type)
        self.dtype = self.aval.dtype


# --- The promotion table ---------------------------------------------------------------------


def test_table_is_symmetric():
    assert all(TABLE[a, b] == TABLE[b, a] for a, b in PAIRS)


@pytest.mark.parametrize("a,b", PAIRS, ids=PAIR_IDS)
def test_promote_types_matches_doc_table_x64(a, b):
    with x64_mode(True):
        assert dtypes.promote_types(DOC_NAMES[a], DOC_NAMES[b]) == np_dtype(TABLE[a, b])


@pytest.mark.parametrize("a,b", PAIRS, ids=PAIR_IDS)
def test_promote_types_x32_only_changes_uint32_with_signed(a, b):
    # Without x64, JAX's lattice joins u32 with i8/i16/i32 at i32 instead of i64; nothing
    # else changes, and promote_types does not canonicalize (as in jnp.promote_types).
    expected = TABLE[a, b]
    if {a, b} & {"u4"} and {a, b} & {"i1", "i2", "i4"}:
        expected = "i4"
    with x64_mode(False):
        assert dtypes.promote_types(DOC_NAMES[a], DOC_NAMES[b]) == np_dtype(expected)


def expected_result(a: str, b: str, x64: bool) -> tuple[np.dtype, bool]:
    """result_type of two dtype-likes per the table: inputs and output canonicalized, and a weak
    result reported with the default dtype of its kind (JAX's result_type does the same)."""
    canon = (lambda n: n) if x64 else (lambda n: TO_32BIT.get(n, n))
    cell = canon(TABLE[canon(a), canon(b)])
    if cell in WEAK:
        return np_dtype(canon({"i*": "i8", "f*": "f8", "c*": "c16"}[cell])), True
    return np_dtype(cell), False


@pytest.mark.parametrize("a,b", PAIRS, ids=PAIR_IDS)
def test_result_type_of_dtypes_matches_doc_table(a, b, x64):
    got = dtypes.result_type(DOC_NAMES[a], DOC_NAMES[b], return_weak_type_flag=True)
    assert got == expected_result(a, b, x64)


@pytest.mark.parametrize("a,b", PAIRS, ids=PAIR_IDS)
def test_result_type_of_values_matches_doc_table(a, b, x64):
    # Strong nodes as numpy arrays, weak nodes as Python scalars.
    def value(name):
        return DOC_NAMES[name](1) if name in WEAK else np.zeros(2, DOC_NAMES[name])

    got = dtypes.result_type(value(a), value(b), return_weak_type_flag=True)
    assert got == expected_result(a, b, x64)


# --- Weak types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,expected",
    [
        ((np.zeros(3, np.float16), 2.0), np.float16),  # a weak float keeps f16
        ((np.zeros(3, ml_dtypes.bfloat16), 2.0), ml_dtypes.bfloat16),
        ((np.zeros(3, np.float16), 2), np.float16),  # a weak int keeps f16
        ((np.int8, 1), np.int8),
        ((np.zeros(3, np.uint8), 300), np.uint8),
        ((np.zeros(3, np.int32), 1.5), np.float32),  # weak float with ints: the default float
        ((np.zeros(3, np.int8), 1j), np.complex64),
        ((np.float16, 1j), np.complex64),
        ((np.zeros(3, np.float32), Val(np.float32, weak_type=True)), np.float32),
        ((Val(np.int16), Traced(np.int32, weak_type=True)), np.int16),
        ((True, np.int8), np.int8),
    ],
)
def test_weak_scalars_do_not_widen(args, expected):
    with x64_mode(False):
        assert dtypes.result_type(*args) == np.dtype(expected)


def test_weak_only_when_every_input_is_weak(x64):
    f, i, c = (
        dtypes.default_float_dtype(),
        dtypes.default_int_dtype(),
        dtypes.default_complex_dtype(),
    )
    assert dtypes.result_type(1, 2.0, return_weak_type_flag=True) == (f, True)
    assert dtypes.result_type(1, return_weak_type_flag=True) == (i, True)
    assert dtypes.result_type(1.0, 1j, return_weak_type_flag=True) == (c, True)
    assert dtypes.result_type(True, 1, return_weak_type_flag=True) == (i, True)
    assert dtypes.result_type(True, return_weak_type_flag=True) == (np.dtype(bool), False)
    assert dtypes.result_type(np.float32(1), 1.0, return_weak_type_flag=True) == (
        np.dtype(np.float32),
        False,
    )
    # An int array and a weak float meet at f*: the result is weak.
    assert dtypes.result_type(np.zeros(2, np.int8), 1.0, return_weak_type_flag=True) == (f, True)


def test_weak_values_report_the_default_dtype(x64):
    # JAX reports any weak result with the default dtype of its kind: weak f16 -> weak f32.
    f = dtypes.default_float_dtype()
    assert dtypes.result_type(Val(np.float16, True), return_weak_type_flag=True) == (f, True)
    assert dtypes.result_type(Val(np.float16, True), 1.0, return_weak_type_flag=True) == (f, True)
    assert dtypes.result_type(Val(np.float16, True), np.float16) == np.float16


def test_is_weakly_typed():
    assert dtypes.is_weakly_typed(1) and dtypes.is_weakly_typed(1.0)
    assert dtypes.is_weakly_typed(1j)
    assert not dtypes.is_weakly_typed(True)  # as in JAX: bool is the lattice's bottom anyway
    assert not dtypes.is_weakly_typed(np.float64(1.0))  # a float subclass, but numpy's
    assert not dtypes.is_weakly_typed(np.zeros(3))
    assert not dtypes.is_weakly_typed(float)
    assert dtypes.is_weakly_typed(Val(np.float32, weak_type=True))
    assert not dtypes.is_weakly_typed(Val(np.float32))
    assert dtypes.is_weakly_typed(Traced(np.float32, weak_type=True))


def test_result_type_memo_follows_the_x64_flag():
    a = np.zeros(2, np.float64)
    with x64_mode(False):
        assert dtypes.result_type(a, 1) == np.float32
    with x64_mode(True):
        assert dtypes.result_type(a, 1) == np.float64
    with x64_mode(False):
        assert dtypes.result_type(a, 1) == np.float32


def test_result_type_many_args_and_none(x64):
    f = dtypes.default_float_dtype()
    assert dtypes.result_type(np.int8, np.uint8, 1.0, return_weak_type_flag=True) == (f, True)
    assert dtypes.result_type(np.int8, np.uint8, np.float16) == np.float16
    assert dtypes.result_type(np.int8, np.uint8, np.int8, np.uint8) == np.int16
    assert dtypes.result_type(None) == dtypes.default_float_dtype()
    assert dtypes.result_type(np.float16, None) == dtypes.default_float_dtype()


def test_result_type_keeps_uncanonical_object_dtypes_out_of_the_result():
    # An object with a float64 dtype (made under x64) still promotes to a canonical result.
    with x64_mode(False):
        assert dtypes.dtype(Val(np.float64)) == np.float64
        assert dtypes.result_type(Val(np.float64), 1.0) == np.float32


# --- Canonicalization and dtype() -------------------------------------------------------------


@pytest.mark.parametrize(
    "wide,narrow",
    [(np.int64, np.int32), (np.uint64, np.uint32), (np.float64, np.float32),
     (np.complex128, np.complex64)],
)  # fmt: skip
def test_canonicalize_dtype(wide, narrow):
    with x64_mode(False):
        assert dtypes.canonicalize_dtype(wide) == np.dtype(narrow)
        assert dtypes.canonicalize_dtype(np.dtype(wide).name) == np.dtype(narrow)
    with x64_mode(True):
        assert dtypes.canonicalize_dtype(wide) == np.dtype(wide)
    assert dtypes.canonicalize_dtype(narrow) == np.dtype(narrow)


def test_canonicalize_dtype_keeps_narrow_types(x64):
    for dt in ALL:
        if dt.itemsize < 8 or x64:
            assert dtypes.canonicalize_dtype(dt) == dt
    assert dtypes.canonicalize_dtype(dtypes.float0) == dtypes.float0
    assert dtypes.canonicalize_dtype(float) == dtypes.default_float_dtype()


def test_defaults(x64):
    bits = 64 if x64 else 32
    assert dtypes.default_int_dtype() == np.dtype(f"int{bits}")
    assert dtypes.default_float_dtype() == np.dtype(f"float{bits}")
    assert dtypes.default_complex_dtype() == np.dtype(f"complex{2 * bits}")


def test_dtype_of_values_and_dtype_likes(x64):
    f, i, c = (
        dtypes.default_float_dtype(),
        dtypes.default_int_dtype(),
        dtypes.default_complex_dtype(),
    )
    assert dtypes.dtype(1) == i and dtypes.dtype(1.0) == f and dtypes.dtype(1j) == c
    assert dtypes.dtype(True) == np.dtype(bool)
    assert dtypes.dtype(int) == i and dtypes.dtype(float) == f and dtypes.dtype(complex) == c
    assert dtypes.dtype(np.float64) == f and dtypes.dtype("float64") == f
    assert dtypes.dtype(np.zeros(3, np.int64)) == i
    assert dtypes.dtype(np.float64(2.0)) == f
    assert dtypes.dtype(np.zeros(3, np.float16)) == np.float16
    assert dtypes.dtype(ml_dtypes.bfloat16) == dtypes.bfloat16
    assert dtypes.dtype("bfloat16") == dtypes.bfloat16
    assert dtypes.dtype(Val(np.int8, weak_type=True)) == np.int8


@pytest.mark.parametrize(
    "bad,words",
    [
        ("abc", ["'abc'", "float32"]),
        (object(), ["object", "float32"]),
        (None, ["NoneType"]),
        ([1, 2], ["list"]),
        (np.array(["a"]), ["<U1", "Supported"]),
        (np.dtype("U3"), ["<U3"]),
        (str, ["str"]),
        (Val(np.dtype("O")), ["object", "Val"]),
    ],
    ids=["str", "object", "None", "list", "str-array", "str-dtype", "str-type", "object-dtype"],
)
def test_dtype_errors_say_what_and_what_is_supported(bad, words):
    with pytest.raises(TypeError) as info:
        dtypes.dtype(bad)
    for word in words:
        assert word in str(info.value)


def test_promotion_errors():
    with pytest.raises(TypeError, match="float0"):
        dtypes.result_type(np.zeros(2, dtypes.float0), np.float32)
    with pytest.raises(TypeError, match="<U3"):
        dtypes.promote_types("U3", np.float32)
    with pytest.raises(TypeError, match="Cannot determine the dtype"):
        dtypes.result_type(object(), 1.0)
    with pytest.raises(TypeError, match="not understood|not a dtype"):
        dtypes.canonicalize_dtype("not-a-dtype")
    with pytest.raises(ValueError, match="at least one"):
        dtypes.result_type()


def test_float0_passes_through_trivial_promotion():
    z = np.zeros(3, dtypes.float0)
    assert dtypes.dtype(z) == dtypes.float0
    assert dtypes.result_type(z) == dtypes.float0
    assert dtypes.result_type(z, z) == dtypes.float0
    assert dtypes.float0.itemsize == 0


# --- Categories and helpers -------------------------------------------------------------------


def test_issubdtype_knows_bfloat16():
    assert not np.issubdtype(ml_dtypes.bfloat16, np.floating)  # why we have our own
    for parent in (np.floating, np.inexact, np.number, np.generic, dtypes.bfloat16, "bfloat16"):
        assert dtypes.issubdtype(dtypes.bfloat16, parent)
    assert not dtypes.issubdtype(dtypes.bfloat16, np.integer)
    assert not dtypes.issubdtype(dtypes.bfloat16, np.complexfloating)
    assert not dtypes.issubdtype(np.float32, dtypes.bfloat16)


@pytest.mark.parametrize(
    "dt,parent,expected",
    [
        (np.int8, np.integer, True), (np.uint32, np.signedinteger, False),
        (np.uint32, np.unsignedinteger, True), ("float16", np.floating, True),
        (np.complex64, np.complexfloating, True), (np.complex64, np.floating, False),
        (np.complex64, np.inexact, True), (np.bool_, np.integer, False),
        (np.float32, np.float32, True), (np.float32, np.float64, False),
        (float, np.floating, True), (dtypes.float0, np.floating, False),
    ],
)  # fmt: skip
def test_issubdtype(dt, parent, expected):
    assert dtypes.issubdtype(dt, parent) is expected


CATEGORIES = {
    # dtype: (is_bool, is_integer, is_float, is_complex, is_inexact)
    "bool": (True, False, False, False, False),
    "int8": (False, True, False, False, False),
    "uint64": (False, True, False, False, False),
    "bfloat16": (False, False, True, False, True),
    "float16": (False, False, True, False, True),
    "float64": (False, False, True, False, True),
    "complex64": (False, False, False, True, True),
    "complex128": (False, False, False, True, True),
}


@pytest.mark.parametrize("name", CATEGORIES)
def test_category_predicates(name):
    dt = np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)
    predicates = (dtypes.is_bool, dtypes.is_integer, dtypes.is_float, dtypes.is_complex,
                  dtypes.is_inexact)  # fmt: skip
    assert tuple(p(dt) for p in predicates) == CATEGORIES[name]
    assert tuple(p(np.zeros(1, dt)) for p in predicates) == CATEGORIES[name]


def test_finfo_and_iinfo():
    assert dtypes.finfo(dtypes.bfloat16).eps == 2.0**-7
    assert dtypes.finfo("bfloat16").bits == 16
    assert dtypes.finfo(np.float32).eps == np.finfo(np.float32).eps
    assert dtypes.finfo(np.complex64).dtype == np.float32
    assert dtypes.finfo(np.zeros(2, np.float64)).bits == 64  # a value's own dtype
    assert dtypes.iinfo(np.int8).min == -128 and dtypes.iinfo(np.uint16).max == 65535
    with pytest.raises(TypeError, match="int32"):
        dtypes.finfo(np.int32)
    with pytest.raises(TypeError, match="float32"):
        dtypes.iinfo(np.float32)
    with pytest.raises(TypeError, match="bool"):
        dtypes.iinfo(np.bool_)


@pytest.mark.parametrize(
    "fn,arg,expected",
    [
        (dtypes.real_dtype, np.complex64, np.float32),
        (dtypes.real_dtype, np.complex128, np.float64),
        (dtypes.real_dtype, np.float16, np.float16),
        (dtypes.real_dtype, np.int32, np.int32),
        (dtypes.to_complex_dtype, np.float32, np.complex64),
        (dtypes.to_complex_dtype, np.float64, np.complex128),
        (dtypes.to_complex_dtype, ml_dtypes.bfloat16, np.complex64),
        (dtypes.to_complex_dtype, np.int32, np.complex64),
        (dtypes.to_complex_dtype, np.complex128, np.complex128),
        (dtypes.to_inexact_dtype, np.int32, np.float32),
        (dtypes.to_inexact_dtype, np.bool_, np.float32),
        (dtypes.to_inexact_dtype, np.uint8, np.float32),
        (dtypes.to_inexact_dtype, np.int64, np.float64),
        (dtypes.to_inexact_dtype, np.float16, np.float16),
        (dtypes.to_inexact_dtype, ml_dtypes.bfloat16, ml_dtypes.bfloat16),
        (dtypes.to_inexact_dtype, np.complex64, np.complex64),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_dtype_conversions(fn, arg, expected):
    assert fn(arg) == np.dtype(expected)


def test_short_names():
    expected = [
        "bool",
        "u8",
        "u16",
        "u32",
        "u64",
        "i8",
        "i16",
        "i32",
        "i64",
        "bf16",
        "f16",
        "f32",
        "f64",
        "c64",
        "c128",
    ]
    assert [dtypes.short_name(dt) for dt in ALL] == expected
    assert dtypes.short_name(dtypes.float0) == "float0"
    assert dtypes.short_name("float32") == "f32"
    with pytest.raises(TypeError, match="<U2"):
        dtypes.short_name("U2")


def test_dtype_objects_and_python_scalar_dtypes():
    assert dtypes.bfloat16 == np.dtype(ml_dtypes.bfloat16)
    assert dtypes.float0 == np.dtype([("float0", np.void, 0)])
    assert all(isinstance(dt, np.dtype) for dt in ALL)
    assert dtypes.python_scalar_dtypes == {
        bool: np.dtype(bool), int: np.dtype(np.int64), float: np.dtype(np.float64),
        complex: np.dtype(np.complex128),
    }  # fmt: skip


# --- Differential tests against JAX (skipped where JAX is not installed) ----------------------


@contextlib.contextmanager
def both_x64(jax, enabled: bool):
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", enabled)
    try:
        with x64_mode(enabled):
            yield
    finally:
        jax.config.update("jax_enable_x64", old)


def jax_weak_values(jax):
    """Weak jax arrays: the public kind (jnp.asarray(1.0)) and, where JAX's internal converter
    exists, weak arrays of every non-bool dtype."""
    jnp = jax.numpy
    values = [jnp.asarray(1), jnp.asarray(1.0), jnp.asarray(1j)]
    try:
        from jax._src.lax.lax import _convert_element_type

        return values + [_convert_element_type(1, dt, weak_type=True) for dt in ALL[1:]]
    # A private API: where it changed, the public weak values still cover the weak nodes.
    except (ImportError, AttributeError, TypeError, ValueError):
        return values


@pytest.mark.parametrize("enabled", [False, True], ids=["x32", "x64"])
def test_promote_types_matches_jax(enabled):
    jax = pytest.importorskip("jax")
    nodes = [*ALL, int, float, complex]
    with both_x64(jax, enabled):
        for a, b in itertools.product(nodes, nodes):
            assert dtypes.promote_types(a, b) == jax.numpy.promote_types(a, b), (a, b)


# JAX warns when asked for a 64-bit dtype with x64 off; it truncates, as hlodiff does silently.
@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")
@pytest.mark.parametrize("enabled", [False, True], ids=["x32", "x64"])
def test_result_type_matches_jax(enabled):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    with both_x64(jax, enabled):
        values = [np.zeros(2, dt) for dt in ALL] + [np.ones((), dt)[()] for dt in ALL]
        values += [True, 1, 1.0, 1j, None, int, float, complex, "float64", "int8"]
        values += [jnp.zeros(2, dt) for dt in ALL] + ALL + [dt.type for dt in ALL]
        values += jax_weak_values(jax)
        mismatches = []
        for args in itertools.chain(((v,) for v in values), itertools.product(values, repeat=2)):
            expected = jax.dtypes.result_type(*args, return_weak_type_flag=True)
            got = dtypes.result_type(*args, return_weak_type_flag=True)
            if got != expected:
                mismatches.append((args, got, expected))
        assert not mismatches, mismatches[:5]


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")
@pytest.mark.parametrize("enabled", [False, True], ids=["x32", "x64"])
def test_three_way_result_type_matches_jax(enabled):
    jax = pytest.importorskip("jax")
    with both_x64(jax, enabled):
        values = [np.zeros(2, dt) for dt in ALL] + [True, 1, 1.0, 1j] + jax_weak_values(jax)
        for args in itertools.product(values, repeat=3):
            expected = jax.dtypes.result_type(*args, return_weak_type_flag=True)
            assert dtypes.result_type(*args, return_weak_type_flag=True) == expected, args
