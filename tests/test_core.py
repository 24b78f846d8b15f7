"""hd.Array, weak types, errors, jaxpr printing, eval_shape, and that hlodiff never imports jax."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hlodiff as hd
import hlodiff.numpy as hnp
from hlodiff import lax


def test_array_repr_like_jax():
    assert repr(hnp.array([1.2, 2.4])) == "Array([1.2, 2.4], dtype=float32)"
    assert repr(hnp.asarray(3.0)) == "Array(3., dtype=float32, weak_type=True)"
    assert repr(hnp.ones((2, 2))) == "Array([[1., 1.],\n       [1., 1.]], dtype=float32)"
    assert repr(hnp.zeros((0, 3))) == "Array([], shape=(0, 3), dtype=float32)"
    assert str(hnp.arange(3.0)) == "[0. 1. 2.]"


def test_array_properties_and_methods():
    x = hnp.arange(6.0).reshape(2, 3)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.dtype == np.float32
    np.testing.assert_array_equal(x.T, np.arange(6.0).reshape(2, 3).T)
    assert float(x.sum()) == 15.0 and float(x.mean()) == 2.5
    assert float(x.max()) == 5.0 and float(x.min()) == 0.0
    assert x.astype(np.int32).dtype == np.int32
    assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert x[1, 2].item() == 5.0
    assert len(x) == 2 and [r.shape for r in x] == [(3,), (3,)]
    np.testing.assert_array_equal(np.asarray(x @ x.T), np.arange(6.0).reshape(2, 3) @
                                  np.arange(6.0).reshape(2, 3).T)
    assert x.block_until_ready() is x
    z = hnp.array([1 + 2j])
    assert z.real.dtype == np.float32 and float(z.imag[0]) == 2.0
    np.testing.assert_array_equal(z.conj(), [1 - 2j])


def test_operators_and_reflected():
    x = hnp.array([1.0, 2.0])
    np.testing.assert_array_equal(2.0 - x, [1.0, 0.0])
    np.testing.assert_array_equal(1.0 / x, [1.0, 0.5])
    np.testing.assert_array_equal(x ** 2, [1.0, 4.0])
    np.testing.assert_array_equal(-x, [-1.0, -2.0])
    np.testing.assert_array_equal(x > 1.5, [False, True])
    np.testing.assert_array_equal(np.array([1.0, 1.0], np.float32) + x, [2.0, 3.0])


def test_hash_raises_type_error():
    with pytest.raises(TypeError, match="unhashable"):
        hash(hnp.ones(3))


def test_weak_types():
    assert (hnp.ones(3, np.float32) * 2.0).weak_type is False
    assert hnp.asarray(2.0).weak_type is True
    assert (hnp.asarray(2.0) * 3.0).weak_type is True
    assert (hnp.ones(3, np.float16) + 1.0).dtype == np.float16
    assert (hnp.ones(3, np.int32) * 2.5).dtype == np.float32


def test_bad_arguments_raise_type_error():
    with pytest.raises(TypeError, match="str"):
        hnp.sin("hello")
    with pytest.raises(TypeError, match="object"):
        hnp.add(hnp.ones(3), object())
    with pytest.raises(TypeError, match="add got incompatible shapes"):
        lax.add(hnp.ones(3), hnp.ones(4))
    with pytest.raises(ValueError, match="Incompatible shapes for broadcasting"):
        hnp.add(hnp.ones(3), hnp.ones(4))
    with pytest.raises(TypeError, match="requires arguments to have the same dtypes"):
        lax.add(hnp.ones(3), hnp.ones(3, np.int32))
    with pytest.raises(TypeError, match="not a valid hlodiff type"):
        hd.grad(lambda x: x)("a")


def test_make_jaxpr_log1pexp_matches_spec():
    def log1pexp(x):
        return hnp.log(1.0 + hnp.exp(x))

    assert str(hd.make_jaxpr(hd.grad(log1pexp))(100.0)) == textwrap.dedent("""\
        { lambda ; a:f32[]. let
            b:f32[] = exp a
            c:f32[] = add 1.0 b
            _:f32[] = log c
            d:f32[] = div 1.0 c
            e:f32[] = mul d b
          in (e,) }""")


def test_make_jaxpr_consts_and_params():
    c = np.ones(3, np.float32)
    text = str(hd.make_jaxpr(lambda x: hnp.sum(x * c, axis=0))(hnp.ones(3)))
    assert text.startswith("{ lambda a:f32[3]; b:f32[3]. let")
    assert "reduce_sum[axes=(0,)" in text


def test_eval_shape():
    out = hd.eval_shape(lambda x, y: {"s": x @ y, "t": x.sum()}, hnp.ones((2, 3)),
                        hnp.ones((3, 4)))
    assert out["s"].shape == (2, 4) and out["s"].dtype == np.float32
    assert out["t"].shape == ()


def test_tracer_bool_raises_concretization_error():
    def f(x):
        return x if x > 0 else -x

    with pytest.raises(hd.errors.ConcretizationTypeError, match="static_argnums"):
        hd.make_jaxpr(f)(1.0)
    assert issubclass(hd.errors.ConcretizationTypeError, TypeError)


def test_x64_flag():
    try:
        hd.config.update("enable_x64", True)
        assert hnp.asarray(1.0).dtype == np.float64
        assert hnp.arange(3).dtype == np.int64
    finally:
        hd.config.update("enable_x64", False)
    assert hnp.asarray(1.0).dtype == np.float32


def test_library_never_imports_jax():
    code = textwrap.dedent("""
        import sys
        class _Poison:
            def find_spec(self, name, path=None, target=None):
                if name == "jax" or name.startswith(("jax.", "jaxlib")):
                    raise ImportError("hlodiff must not import " + name)
        sys.meta_path.insert(0, _Poison())
        import hlodiff as hd, hlodiff.numpy as hnp
        import hlodiff.lowering, hlodiff.runtime
        print(float(hd.grad(lambda x: hnp.sin(x) * x)(1.0)))
        assert not any(m == "jax" or m.startswith(("jax.", "jaxlib")) for m in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert abs(float(out.stdout) - (np.cos(1.0) + np.sin(1.0))) < 1e-5
