"""`hlodiff.lax`: the primitive-level API (as `jax.lax`) that `hlodiff.numpy` is written on.

Unlike `hlodiff.numpy`, these functions do not promote dtypes between arrays: operands of
elementwise functions must share a dtype. Python scalars are accepted and take the dtype of the
array operand (they are weakly typed), as in JAX.
"""

from __future__ import annotations

import numpy as _np

from hlodiff import dtypes as _dtypes
from hlodiff.core import get_aval as _get_aval
from hlodiff.prims import elementwise as _ew
from hlodiff.prims.elementwise import (  # noqa: F401
    abs, acos, acosh, asin, asinh, atan, atanh, cbrt, ceil, conj, convert_element_type, cos,
    cosh, exp, exp2, expm1, floor, imag, integer_pow, is_finite, log, log1p, logistic, neg,
    not_, population_count, real, round, rsqrt, sign, sin, sinh, sqrt, square, stop_gradient,
    tan, tanh, select_n, clamp,
)
from hlodiff.prims.shape import (  # noqa: F401
    broadcast, broadcast_in_dim, broadcasted_iota, concatenate, expand_dims, full, index_in_dim,
    iota, pad, reshape, rev, slice, slice_in_dim, squeeze, transpose,
)
from hlodiff.prims.reduce import (  # noqa: F401
    argmax, argmin, cummax, cummin, cumprod, cumsum, reduce_and, reduce_max, reduce_min,
    reduce_or, reduce_prod, reduce_sum, sort,
)
from hlodiff.prims.linalg import dot, dot_general  # noqa: F401
from hlodiff.prims.random import erf, erf_inv  # noqa: F401
from hlodiff.prims.indexing import *  # noqa: F401,F403


def _weak_to(x, like):
    """A Python scalar takes the dtype of the array operand `like` (weak typing)."""
    if type(x) in (bool, int, float, complex) and type(like) not in (bool, int, float, complex):
        return _np.array(x, _get_aval(like).dtype)
    return x


def _binary(prim):
    def fn(x, y):
        return prim.bind(_weak_to(x, y), _weak_to(y, x))

    fn.__name__ = prim.name
    return fn


add = _binary(_ew.add_p)
sub = _binary(_ew.sub_p)
mul = _binary(_ew.mul_p)
div = _binary(_ew.div_p)
rem = _binary(_ew.rem_p)
pow = _binary(_ew.pow_p)  # noqa: A001
max = _binary(_ew.max_p)  # noqa: A001
min = _binary(_ew.min_p)  # noqa: A001
atan2 = _binary(_ew.atan2_p)
nextafter = _binary(_ew.nextafter_p)
complex = _binary(_ew.complex_p)  # noqa: A001
eq = _binary(_ew.eq_p)
ne = _binary(_ew.ne_p)
lt = _binary(_ew.lt_p)
le = _binary(_ew.le_p)
gt = _binary(_ew.gt_p)
ge = _binary(_ew.ge_p)
bitwise_and = _binary(_ew.and_p)
bitwise_or = _binary(_ew.or_p)
bitwise_xor = _binary(_ew.xor_p)
bitwise_not = not_
shift_left = _binary(_ew.shift_left_p)
shift_right_logical = _binary(_ew.shift_right_logical_p)
shift_right_arithmetic = _binary(_ew.shift_right_arithmetic_p)


def select(pred, on_true, on_false):
    """`on_true` where `pred` else `on_false` (lax.select)."""
    return _ew.select_n(pred, on_false, on_true)


def zeros_like_array(x):
    from hlodiff.numpy import zeros_like

    return zeros_like(x)


def full_like(x, fill_value, dtype=None, shape=None):
    from hlodiff.numpy import full_like as _fl

    return _fl(x, fill_value, dtype, shape)


def dtype(x):
    return _dtypes.dtype(x)


from hlodiff.lax.control_flow import (  # noqa: E402,F401
    cond, fori_loop, map, scan, switch, while_loop,
)
from hlodiff.lax.custom_solvers import custom_linear_solve, custom_root  # noqa: E402,F401
from hlodiff.lax import linalg  # noqa: E402,F401
