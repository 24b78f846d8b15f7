"""The primitives, one file per family, each primitive declared once with all its rules beside it.

How to add a primitive:

1. In `hlodiff/prims/<family>.py`, write one block: `foo_p = Primitive("foo")` (or a family
   constructor such as `unop`/`naryop` that supplies the shape rule and batching), then its
   `impl` (numpy), `abstract_eval`, `jvp` (`defjvp`/`defjvp2`/`deflinear` help), `transpose` if
   it is linear, and `batch`. Export a thin wrapper `foo(x, ...) = foo_p.bind(x, ...)`.
2. In `lowering/rules/<family>.py`, register its StableHLO rule.

`tests/test_prims_registry.py` fails, naming the file, if a primitive misses a rule.
"""

from hlodiff.prims import elementwise, shape, reduce, linalg, indexing, custom, call  # noqa: F401
from hlodiff.prims import decompositions  # noqa: F401
from hlodiff.prims import control_flow, random, remat  # noqa: F401
