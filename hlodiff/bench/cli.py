"""`hlodiff bench`: the tutorial's timing cells and larger workloads on a chosen device, side by
side with JAX, numpy, autograd and torch, as a table, JSON and a PNG chart (see `runner.run`).

    hlodiff bench                                  # the tutorial's %timeit cells, vs everything
    hlodiff bench --suite all --json bench.json --plot bench.png
    hlodiff bench --only mlp_step dp_sgd --compare jax --repeat 21
    hlodiff bench --quick --only spec.perex --compare numpy
    hlodiff bench --list

Exit status: 0 done (checksum mismatches are reported, not fatal), 1 the benchmark could not
run (absent device, a failed child process), 2 a bad command line.
"""

from __future__ import annotations

import argparse
import sys

_EPILOG = """\
--only NAME picks the workloads whose id (see --list) contains NAME: spec.hvp, hvp, mlp_step,
models.dp_sgd. Without --suite, --only searches every suite.
Method: warm-up excluded, results forced ready, calls batched into samples of ~20 ms, libraries
interleaved sample by sample, a numpy probe between samples to drop those taken while the
machine ran slow, medians and IQR/median spreads, result checksums compared across libraries.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"hlodiff bench: error: {message} (see `hlodiff bench --help`)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="hlodiff bench",
        description=__doc__.split("\n\n")[0],
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--device",
        choices=("cpu", "vulkan", "cuda"),
        default="cpu",
        help="hlodiff's device (default cpu)",
    )
    p.add_argument(
        "--suite",
        choices=("spec", "models", "compile", "all"),
        help="which workloads (default spec, or all with --only)",
    )
    p.add_argument("--only", nargs="+", metavar="NAME", help="just these workloads")
    p.add_argument(
        "--compare",
        default="jax,numpy,autograd,torch",
        metavar="LIBS",
        help="libraries beside hlodiff, comma-separated, or none "
        "(default jax,numpy,autograd,torch)",
    )
    p.add_argument(
        "--repeat", type=int, metavar="N", help="samples per library (default 11, 3 with --quick)"
    )
    p.add_argument("--json", metavar="OUT.json", help="write the full report as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="write a chart of the ratios (matplotlib)")
    p.add_argument("--quick", action="store_true", help="small sizes, few short samples")
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="threads (and CPUs) per library (default 1, on every device; 0 leaves them unpinned)",
    )
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads is not None and args.threads < 0:
        build_parser().error("--threads must be 0 or more")
    from hlodiff.bench import runner

    if args.list:
        return _list(args)
    try:
        report = runner.run(
            suite=args.suite,
            only=args.only,
            compare=args.compare,
            repeat=args.repeat,
            json_path=args.json,
            plot_path=args.plot,
            quick=args.quick,
            threads=args.threads,
            device=args.device,
            progress=not args.no_progress,
        )
    except runner.BenchError as e:
        unknown = str(e).startswith(("unknown", "no workload", "--repeat"))
        print(f"hlodiff bench: error: {e}", file=sys.stderr)
        return 2 if unknown else 1
    except KeyboardInterrupt:
        return 130
    return 0 if report is not None else 1


def _list(args) -> int:
    from hlodiff.bench.workload import select

    try:
        chosen = select(args.suite or "all", args.only)
    except ValueError as e:
        print(f"hlodiff bench: error: {e}", file=sys.stderr)
        return 2
    width = max(len(w.id) for w in chosen)
    for w in chosen:
        print(f"{w.id:<{width}}  {w.label():<44} {w.size_text(args.quick)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
