"""hlodiff: JAX's programming model — grad, jit, vmap, custom rules, pytrees, a numpy API —
emitting StableHLO for IREE, with no jaxlib.

    import hlodiff as hd
    import hlodiff.numpy as hnp

    hd.grad(lambda x: hnp.sum(hnp.tanh(x) ** 2))(hnp.ones(3))
"""

from __future__ import annotations

import warnings as _warnings

# numpy reports 0/0, log(0) etc. as RuntimeWarnings; JAX returns nan/inf silently.
_warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"hlodiff(\.|$)")

from hlodiff.config import config  # noqa: E402,F401
from hlodiff import dtypes  # noqa: E402,F401
from hlodiff.core import Array, ShapedArray  # noqa: E402,F401
from hlodiff import prims as _prims  # noqa: E402,F401
from hlodiff import numpy  # noqa: E402,F401
from hlodiff import lax, tree_util, errors, test_util, random  # noqa: E402,F401
from hlodiff.api import (  # noqa: E402,F401
    ShapeDtypeStruct,
    eval_shape,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linear_transpose,
    linearize,
    make_jaxpr,
    value_and_grad,
    vjp,
    vmap,
)
from hlodiff.jit import jit  # noqa: E402,F401
from hlodiff.export import export, load_exported  # noqa: E402,F401
from hlodiff.devices import default_device, device_put, devices, local_devices  # noqa: E402,F401
from hlodiff.prims.custom import custom_jvp, custom_vjp  # noqa: E402,F401
from hlodiff.checkpoint import checkpoint, checkpoint_policies, remat  # noqa: E402,F401
from hlodiff.tree_util import (  # noqa: E402,F401
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)

jacobian = jacrev
__version__ = "0.1.0"
