"""`hlodiff inspect DIR`: an export's signature, provenance and the first lines of its MLIR."""

from __future__ import annotations

import json
from pathlib import Path

from hlodiff.export import read_signature

from .describe import file_sizes, run_commands, signature_lines
from .errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="show an export's signature and MLIR", description=__doc__)
    p.add_argument("directory", metavar="DIR", help="an export directory (hlodiff compile --out)")
    p.add_argument(
        "--lines",
        type=int,
        default=20,
        metavar="N",
        help="how many lines of module.mlir to print (default 20; 0 for none)",
    )
    p.add_argument("--json", action="store_true", help="print signature.json as it is")
    p.set_defaults(handler=main)


def main(args) -> int:
    directory = Path(args.directory)
    try:
        sig = read_signature(directory)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from e
    if args.json:
        print(json.dumps(sig, indent=1))
        return 0
    print(
        f"{directory}/: {sig['name']} for {sig['target']} (driver {sig['driver']}), entry "
        f"@{sig['entry']}"
    )
    for line in signature_lines(sig):
        print(line)
    if "cpu" in sig:
        print(f"  cpu        {sig['cpu']}" + (f" ({sig['host_cpu']})" if "host_cpu" in sig else ""))
    print(
        f"  built by   hlodiff {sig['hlodiff_version']}, iree-base-compiler "
        f"{sig['iree_compiler_version']}"
    )
    print(f"  flags      {' '.join(sig['compile_flags'])}")
    print(f"  files      {file_sizes(directory)}")
    hlodiff_run, iree_run = run_commands(sig, directory)
    print(f"  run        {hlodiff_run}")
    print(f"             {iree_run}")
    _print_mlir(directory / "module.mlir", args.lines)
    return 0


def _print_mlir(path: Path, n: int) -> None:
    if n <= 0:
        return
    if not path.is_file():
        print(f"({path} is missing)")
        return
    with path.open() as f:
        lines = [line.rstrip("\n") for _, line in zip(range(n + 1), f)]
    total = sum(1 for _ in path.open())
    print(f"{path.name} (first {min(n, total)} of {total} lines):")
    for line in lines[:n]:
        print("  " + (line if len(line) <= 160 else line[:157] + "..."))
