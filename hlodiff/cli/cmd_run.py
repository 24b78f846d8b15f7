"""`hlodiff run DIR --input a.npy ... [--output out.npz] [--device cpu]`: run an export.

Reads signature.json and runs module.vmfb through hlodiff's IREE runtime layer (iree-base-runtime
plus device discovery and transfers; no tracing, lowering or compiler). Inputs are .npy files,
one per input array in signature order (`hlodiff inspect DIR` lists them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hlodiff.export import ENTRY, check_inputs, host_cpu_mismatch, read_signature, spec_str

from .errors import CliError, UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run an exported module on .npy inputs", description=__doc__)
    p.add_argument("directory", metavar="DIR", help="an export directory (hlodiff compile --out)")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="FILE.npy|FILE.npz:KEY",
        help="the next input array, in signature order",
    )
    p.add_argument(
        "--output",
        metavar="FILE",
        help="save the outputs: .npz (keys: output names) or .npy (one output)",
    )
    p.add_argument("--device", help="cpu, vulkan, cuda or e.g. vulkan:1 (default: the target)")
    p.set_defaults(handler=main)


def main(args) -> int:
    directory = Path(args.directory)
    try:
        sig = read_signature(directory)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from e
    vmfb = directory / "module.vmfb"
    if not vmfb.is_file():
        raise UsageError(f"{vmfb} is missing; export again with hlodiff compile")
    arrays = [_load_npy(f) for f in args.input]
    _check_output_path(args.output, sig)
    try:
        check_inputs(sig, arrays)
    except (TypeError, ValueError) as e:
        raise CliError(f"{e} (hlodiff inspect {directory} lists the inputs)") from None
    device = _device(args.device or sig["target"], sig)
    warning = host_cpu_mismatch(sig)
    if warning:
        print(f"hlodiff run: warning: {warning}", file=sys.stderr)
    from hlodiff import runtime

    function = runtime.load(vmfb.read_bytes(), device).function(ENTRY)
    outs = [np.asarray(b.to_host()) for b in function(*arrays)]
    _emit(sig, outs, args.output)
    return 0


def _load_npy(path: str) -> np.ndarray:
    """One input array: `a.npy`, or `b.npz:key` for an array inside an .npz archive."""
    name, _, key = path.partition(".npz:")
    if key:
        name += ".npz"
    p = Path(name)
    if not p.is_file():
        raise UsageError(f"no such input file: {name}")
    if p.suffix not in (".npy", ".npz") or (p.suffix == ".npz" and not key):
        raise UsageError(f"--input {path}: give a .npy file or FILE.npz:KEY per input array")
    try:
        if key:
            with np.load(p, allow_pickle=False) as archive:
                if key not in archive:
                    raise UsageError(f"--input {path}: {name} has no array {key!r} (it has "
                                     f"{', '.join(archive.files)})")
                return archive[key]
        return np.load(p, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UsageError(f"--input {path} is not a readable .npy/.npz file ({e})") from None


def _check_output_path(output: str | None, sig: dict) -> None:
    if output is None:
        return
    suffix = Path(output).suffix
    if suffix not in (".npz", ".npy"):
        raise UsageError(f"--output {output}: use a .npz file (or .npy for a single output)")
    if suffix == ".npy" and len(sig["outputs"]) != 1:
        raise UsageError(
            f"--output {output}: {sig['name']} has {len(sig['outputs'])} outputs; "
            "save them to a .npz file"
        )


def _device(spec: str, sig: dict):
    from hlodiff import runtime

    try:
        device = runtime.get_device(spec)
    except runtime.DeviceNotFoundError as e:
        first = str(e).splitlines()[0]
        raise CliError(
            f"{first} `hlodiff devices` lists the devices here; compile for one of "
            "them with `hlodiff compile --target ...`"
        ) from None
    if device.platform != sig["target"]:
        raise CliError(
            f"{sig['name']} was compiled for {sig['target']}, not {device.platform}; "
            f"recompile with `hlodiff compile ... --target {device.platform}`"
        )
    return device


def _emit(sig: dict, outs: list[np.ndarray], output: str | None) -> None:
    names = [s["name"] for s in sig["outputs"]]
    if output is None:
        for name, spec, arr in zip(names, sig["outputs"], outs):
            print(f"{name}: {spec_str(spec)}")
            print(repr(arr))
        return
    if output.endswith(".npy"):
        np.save(output, outs[0])
    else:
        np.savez(output, **dict(zip(names, outs)))
    print(
        f"wrote {output}: {', '.join(f'{n} {spec_str(s)}' for n, s in zip(names, sig['outputs']))}"
    )
