"""`hlodiff compile PATH.py:FUNC --arg SPEC ... [--static NAME=VALUE ...] [--grad] --out DIR`:
export a function (or its gradient) ahead of time and print a summary."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .describe import file_sizes, run_commands, signature_lines
from .errors import CliError, UsageError
from .specs import parse_arg, parse_static
from .userfunc import bind_arguments, load_function

_EPILOG = """examples:
  hlodiff compile model.py:predict --arg 'f32[128,784]' --out predict_cpu
  hlodiff compile model.py:loss --arg '{"w": "f32[784,10]", "b": "f32[10]"}' \\
      --arg 'f32[128,784]' --arg 'i32[128]' --static l2=0.01 --grad --out loss_grad
dtypes: bool, i8, i16, i32, i64, u8, u16, u32, u64, bf16, f16, f32, f64, c64, c128
(64-bit types need --x64)."""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compile",
        help="export a function to StableHLO and an IREE .vmfb",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "function",
        metavar="PATH.py:FUNC",
        help="the function: a file (or importable module) and a name in it",
    )
    p.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="SPEC",
        help="the next positional array argument, e.g. 'f32[128,784]'; a JSON "
        "object/array of specs for a pytree argument",
    )
    p.add_argument(
        "--static",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a static (compile-time) argument by parameter name; VALUE is a Python literal",
    )
    p.add_argument(
        "--target",
        default="cpu",
        choices=("cpu", "vulkan", "cuda"),
        help="what to compile for (default: cpu); no device is needed to compile",
    )
    p.add_argument(
        "--cpu",
        default="host",
        metavar="CPU",
        help="cpu target only: 'host' (default: this CPU's features, fastest), "
        "'generic' (portable), or an LLVM CPU name like x86-64-v3",
    )
    p.add_argument(
        "--grad", action="store_true", help="export hd.grad(FUNC) with respect to the first --arg"
    )
    p.add_argument("--x64", action="store_true", help="enable 64-bit types (jax_enable_x64)")
    p.add_argument("--name", help="the name recorded in the signature (default: FUNC)")
    p.add_argument("-o", "--out", metavar="DIR", help="where to write (default: ./NAME_TARGET)")
    p.add_argument("--emit", choices=("mlir", "vmfb", "both"), default="both",
                   help="which module files to write beside signature.json (default: both)")
    p.set_defaults(handler=main)


def main(args) -> int:
    import hlodiff as hd
    from hlodiff.export import export

    if args.cpu != "host" and args.target != "cpu":
        raise UsageError(f"--cpu {args.cpu} applies to --target cpu only")
    if args.x64:
        hd.config.update("enable_x64", True)
    fun, fname = load_function(args.function)
    specs = [parse_arg(a, args.x64) for a in args.arg]
    statics = dict(parse_static(s) for s in args.static)
    fun, call_args, static_argnums, dynamic = bind_arguments(fun, fname, specs, statics)
    name = args.name or fname
    if args.grad:
        if not dynamic:
            raise UsageError("--grad differentiates with respect to the first --arg; give one")
        fun = hd.grad(fun, argnums=dynamic[0])
        name = args.name or f"{fname}_grad"
    out = Path(args.out or f"{name}_{args.target}")
    start = time.perf_counter()
    try:
        exported = export(
            fun,
            *call_args,
            target=args.target,
            static_argnums=static_argnums,
            name=name,
            cpu=args.cpu,
        )
    except Exception as e:
        raise CliError(f"exporting {name} failed: {type(e).__name__}: {e}") from e
    total = time.perf_counter() - start
    exported.save(out, emit=args.emit)
    _summary(exported, out, args, total)
    return 0


def _summary(exported, out: Path, args, total: float) -> None:
    sig, t = exported.signature, exported.timings
    what = f"grad of {args.function}" if args.grad else args.function
    cpu = f", cpu={sig['cpu']}" if "cpu" in sig else ""
    print(f"exported {sig['name']} ({what}) for {sig['target']}{cpu} to {out}/")
    for line in signature_lines(sig):
        print(line)
    print(f"  files      {file_sizes(out)}")
    print(
        f"  time       {_secs(total)}: trace {_secs(t['trace_s'])}, lower {_secs(t['lower_s'])}, "
        f"compile {_secs(t['compile_s'])}"
    )
    hlodiff_run, iree_run = run_commands(sig, out)
    print(f"run it with  {hlodiff_run}")
    print(f"        or   {iree_run}")


def _secs(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 0.1 else f"{seconds:.2f} s"
