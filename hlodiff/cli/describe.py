"""Text shared by `compile`, `inspect` and `run`: a signature's inputs, outputs and how to run it."""

from __future__ import annotations

import shlex
from pathlib import Path

from hlodiff.export import FILES, signature_str, spec_str


def signature_lines(signature: dict) -> list[str]:
    lines = [f"  signature  {signature_str(signature)}"]
    lines += _table("inputs", signature["inputs"])
    lines += _table("outputs", signature["outputs"])
    statics = [f"{s['name']}={s['value']}" for s in signature.get("static_args", [])]
    if statics:
        lines.append(f"  static     {', '.join(statics)} (baked in)")
    return lines


def _table(title: str, specs: list[dict]) -> list[str]:
    if not specs:
        return [f"  {title:<9}  (none)"]
    width = max(len(s["name"]) for s in specs)
    return [
        f"  {title if i == 0 else '':<9}  {i:>2} {s['name']:<{width}}  {spec_str(s)}"
        for i, s in enumerate(specs)
    ]


def file_sizes(directory: Path) -> str:
    return ", ".join(
        f"{name} {_size(directory / name)}" for name in FILES if (directory / name).exists()
    )


def _size(path: Path) -> str:
    n = path.stat().st_size
    return (
        f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / 2**20:.1f} MiB"
    )


def input_file_names(signature: dict) -> list[str]:
    return [s["name"].replace("/", "_") + ".npy" for s in signature["inputs"]]


def run_commands(signature: dict, directory: Path) -> list[str]:
    """How to run the export with `hlodiff run` and with `iree-run-module` (inputs as .npy)."""
    d = shlex.quote(str(directory))
    files = input_file_names(signature)
    hlodiff_run = f"hlodiff run {d}" + "".join(f" --input {f}" for f in files)
    iree = (
        f"iree-run-module --module={d}/module.vmfb --device={signature['driver']} "
        f"--function={signature['entry']}" + "".join(f" --input=@{f}" for f in files)
    )
    return [hlodiff_run, iree]
