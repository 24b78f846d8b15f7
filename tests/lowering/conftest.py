"""Test setup for tests/lowering: the repository root on sys.path (so `tests.lowering.harness`
imports under plain `pytest` too), and `hlodiff.lowering` importable from an uninstalled tree."""

import importlib.util
import os
import sys

import hlodiff

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

if importlib.util.find_spec("hlodiff.lowering") is None:
    # pyproject maps hlodiff.lowering -> lowering/; emulate that mapping for an uninstalled tree.
    hlodiff.__path__.append(_ROOT)
