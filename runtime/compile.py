"""Compile StableHLO text to IREE VM bytecode, in process, with the disk cache in front.

Uses the compiler's C embedding API through `iree.compiler.api` (a fresh `Session` per compile:
measured 0.26 s for a small module vs 0.31 s for `iree.compiler.compile_str`, which spawns
`iree-compile`; reusing a Session saved nothing measurable and is not thread-safe). IREE's
diagnostics are captured through `ireeCompilerInvocationEnableCallbackDiagnostics`, so errors
carry them instead of spraying stderr.

`HLODIFF_DUMP_DIR=/some/dir` writes every module (`<key>.mlir`) and its flags (`<key>.flags`)
there *before* compiling, so even a compiler crash leaves a reproducer:
`iree-compile <key>.mlir $(cat <key>.flags) -o out.vmfb`.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import re
from pathlib import Path

from .cache import cache_key, compiled_cache
from .targets import Target, target_for

logger = logging.getLogger("hlodiff.runtime")

_MAX_DIAGNOSTIC_LINES = 40
_MAX_DIAGNOSTIC_CHARS = 4000
_SEVERITY = {0: "note", 1: "warning", 2: "error", 3: "remark"}


class CompileError(RuntimeError):
    """IREE rejected a module. Carries `target`, `flags`, `diagnostics` and `dump_path`."""

    def __init__(self, message, *, target, flags, diagnostics, dump_path=None):
        super().__init__(message)
        self.target = target
        self.flags = tuple(flags)
        self.diagnostics = diagnostics
        self.dump_path = dump_path


class _Failure(Exception):
    """Internal: one compile attempt failed at `stage` ('flags', 'parse' or 'compile')."""

    def __init__(self, stage: str, diagnostics: list[tuple[int, str]]):
        super().__init__(stage)
        self.stage = stage
        self.diagnostics = diagnostics


def compile_module(mlir_text: str, target, *, extra_flags=(), cache: bool = True) -> bytes:
    """Compile a StableHLO module (MLIR text) into IREE VM bytecode (a `.vmfb`).

    Args:
      mlir_text: the module, e.g. `func.func @main(%x: tensor<3xf32>) -> ... { ... }`.
      target: a platform name (`"cpu"`, `"vulkan"`, `"cuda"`), a `Device`, or a `Target`.
      extra_flags: more `iree-compile` flags, appended to the target's.
      cache: look up and store the result in the compile cache (memory and disk).
    Returns:
      The bytecode, ready for `load(vmfb, device)`.
    Raises:
      CompileError: IREE rejected the module; the message has target, flags and diagnostics.
    """
    tgt = resolve_target(target)
    extra = tuple(extra_flags)
    key = cache_key(mlir_text, tgt.flags + extra + ("|",) + tgt.safe_flags, tgt.identity)
    attempts = _flag_attempts(mlir_text, tgt, extra)
    dump_path = _dump(mlir_text, attempts[0], key)
    store = compiled_cache() if cache else None
    data = store.get(key) if store else None
    if data is None:
        data = _compile_with_fallback(mlir_text, tgt, attempts, dump_path)
        if store:
            store.put(key, data)
    return data


def resolve_target(target) -> Target:
    """A `Target` from a platform name, a `Device` (anything with `.platform`) or a `Target`."""
    if isinstance(target, Target):
        return target
    if isinstance(target, str):
        return target_for(target, device_name=_default_device_name(target))
    if hasattr(target, "platform"):
        return target_for(target.platform, device_name=getattr(target, "name", None))
    raise TypeError(f"compile target must be a platform name, a Device or a Target, not {target!r}")


def _default_device_name(platform: str) -> str | None:
    if platform != "vulkan":
        return None
    from .devices import present_device_names

    names = present_device_names(platform)
    return names[0] if names else None


# IREE 3.13's optimized CPU flags (--iree-opt-data-tiling) segfault the compiler on some modules
# with complex matmuls or loops around matmuls (e.g. the blocked Cholesky). A segfault kills the
# process, so no fallback could catch it: such modules get the safe flags from the start.
_OPTIMIZED_FLAG_CRASHERS = ("complex<", "stablehlo.while")


# The optimized CPU flags (data tiling) pay off only for matmuls of some size: a module whose
# contractions are all smaller than this many multiply-adds gets the plain flags, which compile
# faster and run small programs faster (measured: the spec's per-example gradients, two 2x3
# matvecs, 6.7 us per call with data tiling and 6.0 without; compile 0.54 s vs 0.38 s).
_DATA_TILING_MIN_MACS = 64**3
_DOT_LINE = re.compile(r"stablehlo\.(?:dot_general|dot|convolution)\b.*$", re.MULTILINE)
_TENSOR = re.compile(r"tensor<([^>]*)>")


def _largest_contraction(text: str) -> float:
    """The multiply-adds of the module's largest dot/convolution, estimated from its operand
    and result types as sqrt(|lhs| |rhs| |out|) (exactly m n k for a matmul). A type this
    cannot read (dynamic dimensions, another printing) counts as large."""
    largest = 0.0
    for line in _DOT_LINE.findall(text):
        types = _TENSOR.findall(line)[-3:]
        if len(types) < 3:
            return math.inf
        sizes = [_element_count(t) for t in types]
        if None in sizes:
            return math.inf
        largest = max(largest, math.sqrt(sizes[0] * sizes[1] * sizes[2]))
    return largest


def _element_count(tensor_type: str) -> int | None:
    *dims, _element = tensor_type.split("x")
    return math.prod(int(d) for d in dims) if all(d.isdigit() for d in dims) else None


def _flag_attempts(text: str, tgt: Target, extra: tuple) -> list[tuple[str, ...]]:
    """The flag sets to try in order: the optimized flags then the safe ones, or only the safe
    ones where the optimized flags are known to crash or not to pay off."""
    if tgt.safe_flags == tgt.flags:
        return [tgt.flags + extra]
    if (any(p in text for p in _OPTIMIZED_FLAG_CRASHERS)
            or _largest_contraction(text) < _DATA_TILING_MIN_MACS):
        return [tgt.safe_flags + extra]
    return [tgt.flags + extra, tgt.safe_flags + extra]


def _compile_with_fallback(text: str, tgt: Target, attempts, dump_path) -> bytes:
    source_name = str(dump_path) if dump_path else "module.mlir"
    *first, last = attempts
    for flags in first:
        try:
            return _run_compiler(text, flags, source_name)
        except _Failure as failure:
            if failure.stage != "compile":
                raise _compile_error(tgt, flags, failure, dump_path) from None
        logger.info("optimized flags failed for %s; retrying with safe flags", tgt.describe())
        _dump_flags(dump_path, last)  # the reproducer gets the flags of the last attempt
    try:
        return _run_compiler(text, last, source_name)
    except _Failure as failure:
        raise _compile_error(tgt, last, failure, dump_path) from None


def _run_compiler(text: str, flags, source_name: str) -> bytes:
    api = _compiler_api()
    diagnostics: list[tuple[int, str]] = []
    callback = _diagnostic_callback(diagnostics)  # referenced until the session is closed
    session = api.Session()
    try:
        try:
            session.set_flags(*flags)
        except ValueError as e:
            raise _Failure("flags", [(2, str(e))]) from None
        return _invoke(api, session, text, source_name, callback, diagnostics)
    finally:
        session.close()


def _invoke(api, session, text: str, source_name: str, callback, diagnostics) -> bytes:
    inv = session.invocation()
    _enable_callback(inv, callback)
    source = api.Source.wrap_buffer(session, text.encode(), buffer_name=source_name)
    if not inv.parse_source(source):
        raise _Failure("parse", diagnostics)
    if not inv.execute():
        raise _Failure("compile", diagnostics)
    output = api.Output.open_membuffer()
    try:
        inv.output_vm_bytecode(output)
        return bytes(output.map_memory())
    finally:
        output.close()


_api = None
_CALLBACK_TYPE = ctypes.CFUNCTYPE(
    None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p
)


def _compiler_api():
    """`iree.compiler.api`, imported on first compile (it loads the 100 MB compiler library)."""
    global _api
    if _api is None:
        try:
            from iree.compiler import api
            from iree.compiler.api import ctypes_dl
        except ImportError as e:
            raise ImportError(
                "compile_module needs the IREE compiler: pip install 'iree-base-compiler>=3.13,"
                "<3.14' (running compiled .vmfb files needs only iree-base-runtime)"
            ) from e

        fn = ctypes_dl._dylib.ireeCompilerInvocationEnableCallbackDiagnostics
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int, _CALLBACK_TYPE, ctypes.c_void_p]
        _api = api
    return _api


def _diagnostic_callback(sink: list):
    """A C callback that appends (severity, message) pairs to `sink`."""

    def on_diagnostic(severity, message, size, _user):
        sink.append((severity, ctypes.string_at(message, size).decode("utf-8", "replace")))

    return _CALLBACK_TYPE(on_diagnostic)


def _enable_callback(inv, callback) -> None:
    from iree.compiler.api import ctypes_dl

    ctypes_dl._dylib.ireeCompilerInvocationEnableCallbackDiagnostics(inv._inv_p, 0, callback, None)


def _compile_error(tgt: Target, flags, failure: _Failure, dump_path) -> CompileError:
    text = format_diagnostics(failure.diagnostics)
    what = {"flags": "rejected the flags", "parse": "could not parse the module"}
    lines = [
        f"IREE {what.get(failure.stage, 'could not compile the module')} for target "
        + f"{tgt.describe()}.",
        "IREE diagnostics:",
        _indent(text or "(IREE reported no diagnostics)"),
        "Flags: " + " ".join(flags),
        _reproducer_hint(dump_path),
    ]
    return CompileError(
        "\n".join(lines), target=tgt, flags=flags, diagnostics=text, dump_path=dump_path
    )


def format_diagnostics(diagnostics: list[tuple[int, str]]) -> str:
    """Errors and notes (warnings only when there is nothing else), trimmed to a readable size."""
    chosen = [(s, m) for s, m in diagnostics if s in (0, 2)] or diagnostics
    lines = [f"{_SEVERITY.get(s, 'diag')}: {m.strip()}" for s, m in chosen]
    text = "\n".join(lines)
    all_lines = text.splitlines()
    kept = all_lines[:_MAX_DIAGNOSTIC_LINES]
    trimmed = "\n".join(kept)[:_MAX_DIAGNOSTIC_CHARS]
    if len(kept) < len(all_lines) or len(trimmed) < len("\n".join(kept)):
        trimmed += f"\n... (trimmed; {len(all_lines)} lines in all)"
    return trimmed


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _reproducer_hint(dump_path) -> str:
    if dump_path:
        flags_file = Path(dump_path).with_suffix(".flags")
        return f"Reproduce with: iree-compile {dump_path} $(cat {flags_file}) -o out.vmfb"
    return (
        "To keep a reproducer, set HLODIFF_DUMP_DIR=/some/dir: every module and its flags "
        "are written there before compiling."
    )


def _dump(text: str, flags, key: str):
    """Write module and flags under HLODIFF_DUMP_DIR; returns the module's path (or None)."""
    folder = os.environ.get("HLODIFF_DUMP_DIR")
    if not folder:
        return None
    stem = Path(folder).expanduser() / f"module-{key[:16]}"
    if stem.with_suffix(".flags").exists():
        return stem.with_suffix(".mlir")  # same key, same module and flags: already there
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".mlir").write_text(text)
    except OSError as e:
        logger.warning("HLODIFF_DUMP_DIR=%s is not writable (%s); nothing dumped", folder, e)
        return None
    _dump_flags(stem.with_suffix(".mlir"), flags)
    return stem.with_suffix(".mlir")


def _dump_flags(dump_path, flags) -> None:
    if dump_path is None:
        return
    try:
        Path(dump_path).with_suffix(".flags").write_text("\n".join(flags) + "\n")
    except OSError as e:
        logger.warning("could not write the flags beside %s (%s)", dump_path, e)
