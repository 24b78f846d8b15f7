"""`hlodiff.numpy`: the numpy API (as `jax.numpy`), written on `hlodiff.lax` primitives.

    import hlodiff.numpy as hnp
    hnp.sum(hnp.tanh(x) ** 2)
"""

from __future__ import annotations

import numpy as _np

from hlodiff import dtypes as _dtypes
from hlodiff.core import Array as ndarray  # noqa: F401
from hlodiff.numpy._creation import *  # noqa: F401,F403
from hlodiff.numpy._creation import array, asarray  # noqa: F401
from hlodiff.numpy._indexing import *  # noqa: F401,F403
from hlodiff.numpy._linalg_ops import *  # noqa: F401,F403
from hlodiff.numpy._reductions import *  # noqa: F401,F403
from hlodiff.numpy._shape_ops import *  # noqa: F401,F403
from hlodiff.numpy._ufuncs import *  # noqa: F401,F403
from hlodiff.numpy._ufuncs import abs, pow, round  # noqa: F401,A004
from hlodiff.numpy._reductions import all, any, max, min, sum  # noqa: F401,A004
from hlodiff.numpy import _methods  # noqa: F401  (installs operators on Array and Tracer)
from hlodiff.numpy._predicates import *  # noqa: F401,F403
from hlodiff.numpy._statistics import *  # noqa: F401,F403

pi = _np.pi
e = _np.e
inf = _np.inf
nan = _np.nan
euler_gamma = _np.euler_gamma
newaxis = None

from hlodiff.numpy._scalar_types import (  # noqa: E402,F401
    bfloat16, bool_, complex64, complex128, float16, float32, float64, int8, int16, int32,
    int64, uint8, uint16, uint32, uint64,
)

float_ = float64
complex_ = complex128
int_ = int64
dtype = _np.dtype
generic, number, inexact, floating = _np.generic, _np.number, _np.inexact, _np.floating
complexfloating, integer = _np.complexfloating, _np.integer
signedinteger, unsignedinteger = _np.signedinteger, _np.unsignedinteger

promote_types = _dtypes.promote_types
result_type = _dtypes.result_type
issubdtype = _dtypes.issubdtype
finfo = _dtypes.finfo
iinfo = _dtypes.iinfo
can_cast = _np.can_cast


def shape(a):
    from hlodiff.core import get_aval

    return get_aval(a).shape if not isinstance(a, (list, tuple)) else _np.shape(a)


def ndim(a):
    return len(shape(a))


def size(a, axis=None):
    s = shape(a)
    return int(_np.prod(s)) if axis is None else s[axis]


def iscomplexobj(x):
    from hlodiff.core import get_aval

    return _dtypes.is_complex(get_aval(asarray(x)).dtype)


def isrealobj(x):
    return not iscomplexobj(x)


def isscalar(element):
    return isinstance(element, (bool, int, float, complex, _np.generic)) or (
        hasattr(element, "shape") and element.shape == ())


from hlodiff.numpy import linalg  # noqa: E402,F401
