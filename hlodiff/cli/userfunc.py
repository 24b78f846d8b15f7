"""Finding the user's function (`PATH.py:FUNC` or `package.module:FUNC`) and binding the command
line's specs and statics to its parameters."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from .errors import CliError, UsageError


def load_function(ref: str):
    """The callable named by `PATH.py:FUNC` (FUNC may be dotted: `Model.loss`) and its name."""
    where, sep, attr = ref.rpartition(":")
    if not sep or not where or not attr:
        raise UsageError(
            f"bad function {ref!r}: expected PATH.py:FUNC (or module:FUNC), e.g. model.py:loss"
        )
    module = _import(where)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            defined = ", ".join(_functions_in(module)) or "no functions"
            raise UsageError(
                f"{where} has no {attr!r} (it defines: {defined}); name a function "
                "defined at its top level"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"{where}:{attr} is a {type(obj).__name__}, not a function")
    return obj, attr.split(".")[-1]


def _import(where: str):
    path = Path(where)
    if where.endswith(".py") or path.exists() or "/" in where or "\\" in where:
        if not path.is_file():
            raise UsageError(
                f"no such file: {where}; give the path of the Python file that defines the function"
            )
        return _import_file(path.resolve())
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        if e.name and where.startswith(e.name):
            raise UsageError(f"no module or file named {where!r}; give PATH.py:FUNC") from None
        raise


def _import_file(path: Path):
    name = f"_hlodiff_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # so the file's own sibling imports work
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise CliError(f"{path.name} has a syntax error at line {e.lineno}: {e.msg}") from e
    except Exception as e:
        raise CliError(f"importing {path.name} raised {type(e).__name__}: {e}") from e
    return module


def _functions_in(module) -> list[str]:
    return [
        n
        for n, v in vars(module).items()
        if inspect.isfunction(v)
        and not n.startswith("_")
        and getattr(v, "__module__", None) == module.__name__
    ][:12]


def bind_arguments(fun, fname: str, specs: list, statics: dict):
    """Lays out positional arguments: each static at its parameter's position, the specs in the
    remaining positions in order; statics that are keyword-only are bound with a partial.

    Returns:
      (fun, args, static_argnums, dynamic_positions).
    """
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    by_name = {p.name: p for p in params}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    for name in statics:
        if name not in by_name and not var_kw:
            names = ", ".join(by_name) or "none"
            raise UsageError(
                f"--static {name}=...: {fname} has no parameter {name!r} (its parameters: {names})"
            )
    args, static_argnums, pending, statics = [], [], list(specs), dict(statics)
    for p in params:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        if p.name in statics:
            static_argnums.append(len(args))
            args.append(statics.pop(p.name))
        elif pending:
            args.append(pending.pop(0))
        elif p.default is p.empty:
            raise UsageError(
                f"{fname}'s parameter {p.name!r} has no value: add --arg SPEC "
                f"(arrays, in parameter order) or --static {p.name}=VALUE"
            )
        else:
            break
    if pending and not any(p.kind is p.VAR_POSITIONAL for p in params):
        raise UsageError(
            f"{fname} takes {len(args)} positional argument(s) here, but "
            f"{len(specs)} --arg were given"
        )
    args += pending
    if statics:  # keyword-only parameters, or past the last positional argument
        fun = functools.partial(fun, **statics)
    dynamic = [i for i in range(len(args)) if i not in static_argnums]
    return fun, args, tuple(static_argnums), dynamic
