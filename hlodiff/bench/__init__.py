"""Benchmarks: workloads timed side by side with the libraries a user would pick instead.

Each workload module has a `run(repeat=...) -> list[Result]`; `python -m hlodiff.bench.<name>`
prints its table. Timing method (see `_harness`): warm-up excluded, results forced ready,
libraries interleaved sample by sample, single-threaded, medians and ratios reported.
"""
