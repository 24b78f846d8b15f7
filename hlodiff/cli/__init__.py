"""The `hlodiff` command line: ahead-of-time compile, run, inspect, devices (and bench).

    hlodiff compile model.py:loss --arg 'f32[128,784]' --arg 'i32[128]' --grad --out loss_grad
    hlodiff run loss_grad --input x.npy --input y.npy --output grads.npz
    hlodiff inspect loss_grad
    hlodiff devices

One module per subcommand (`cmd_compile`, `cmd_run`, `cmd_inspect`, `cmd_devices`), each with
`add_parser(subparsers)` and a handler `main(args) -> int`; `hlodiff bench` dispatches to
`hlodiff.bench.cli.main(argv)` when that module exists.

Errors: a failure prints one line on stderr, `hlodiff <command>: error: <what, and what to do>`
(details, e.g. IREE's diagnostics, may follow on later lines), never a traceback unless
`--debug` is given. Exit status 2: the command line is wrong (unknown option, malformed
`PATH:FUNC` or spec, a named file, function or export that does not exist). Exit status 1: the
command was well formed but failed (the user's code raised, tracing or compiling failed, inputs
do not match the module's signature, the device is absent).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import traceback

from .errors import CliError, UsageError

__all__ = ["CliError", "UsageError", "main"]

_COMMANDS = ("cmd_compile", "cmd_run", "cmd_inspect", "cmd_devices")
_NAMES = ("compile", "run", "inspect", "devices", "bench")


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as one-line `UsageError`s instead of usage + exit."""

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hlodiff", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show Python tracebacks for errors (may appear anywhere)",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    sub.add_parser("bench", help="device benchmarks (hlodiff bench --help)", add_help=False)
    return parser


def _version() -> str:
    from hlodiff import __version__

    try:
        from importlib.metadata import version

        iree = version("iree-base-compiler")
    except Exception:  # noqa: BLE001 -- the version line must never fail
        iree = "unknown"
    return f"hlodiff {__version__} (iree-base-compiler {iree})"


def main(argv=None) -> int:
    """Runs the `hlodiff` command line with `argv` (default: `sys.argv[1:]`); returns the exit
    status (0 ok, 1 failed, 2 bad command line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "bench" in argv and all(a == "--debug" for a in argv[: argv.index("bench")]):
        return _bench(argv[argv.index("bench") + 1 :])  # its options are its own
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    command = argv[0] if argv and argv[0] in _NAMES else None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return args.handler(args) or 0
    except CliError as e:
        caused = e.__cause__ is not None and e.code == 1
        _report(command, str(e), debug, hint="rerun with --debug for the traceback" * caused)
        return e.code
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 -- the user's code or IREE failed: one line first
        detail = str(e).strip() or type(e).__name__
        _report(
            command,
            f"{type(e).__name__}: {detail}",
            debug,
            hint="rerun with --debug for the traceback",
        )
        return 1


def _report(command: str | None, message: str, debug: bool, hint: str = "") -> None:
    if debug:
        traceback.print_exc()
    prog = f"hlodiff {command}" if command else "hlodiff"
    first, _, rest = message.partition("\n")
    print(f"{prog}: error: {first}", file=sys.stderr)
    if rest.strip():
        print("\n".join("  " + line for line in rest.splitlines()), file=sys.stderr)
    if hint and not debug:
        print(f"({hint})", file=sys.stderr)


def _bench(argv: list[str]) -> int:
    """`hlodiff bench ...`: hlodiff.bench.cli.main(argv) when it exists."""
    try:
        found = importlib.util.find_spec("hlodiff.bench.cli") is not None
    except ImportError:
        found = False
    if not found:
        print("hlodiff bench is not available yet", file=sys.stderr)
        return 2
    from hlodiff.bench import cli as bench_cli

    return bench_cli.main(argv) or 0
