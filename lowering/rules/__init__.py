"""Lowering rules, one module per primitive family, mirroring `hlodiff/prims/`.

Every module in this package is imported here, so a new family file
(`lowering/rules/control_flow.py`) registers its rules just by existing.
"""

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_info.name}")
