"""Makes `hlodiff.lowering` importable from a plain checkout (no `pip install -e .`)."""

import importlib.util
import os

import hlodiff

if importlib.util.find_spec("hlodiff.lowering") is None:
    # pyproject maps hlodiff.lowering -> lowering/; emulate that mapping for an uninstalled tree.
    hlodiff.__path__.append(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
