"""What a benchmark workload is: a name, a size (full and `--quick`), and one builder per
library that returns a thunk to time. Suites are lists of workloads (`spec.py`, `models.py`,
`compile.py`); `select` picks them by suite and `--only` names.

A builder takes `(lib, params)` — a `libs.Lib` and the size parameters — and returns a
zero-argument callable whose result is the workload's output (the harness forces it ready).
It raises `Unavailable` when the library cannot do the workload (no vmap, no jit, a missing
hlodiff feature); the table shows the reason instead of a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


class Unavailable(Exception):
    """This library cannot run this workload; the message says why."""


@dataclass
class Workload:
    """One benchmark row.

    Args:
      id: a short dotted name (`models.mlp_step`), what `--only` matches.
      title: the row label in the table.
      suite: `spec`, `models` or `compile`.
      mode: `eager`, `jit`, or `process` (timed inside child processes).
      builders: {library name: builder(lib, params) -> thunk}. A library that is missing
        here is shown as "n/a" with `missing` (or "no implementation").
      full / quick: size parameters for a normal and a `--quick` run.
      size: describes the size, formatted with the parameters (`"batch {batch}"`).
      check: host leaves -> arrays to checksum (default: the leaves themselves).
      rtol: relative tolerance of the checksum comparison.
      self_timed: builders return thunks that return `_harness.Timed`.
      max_repeat: a cap on the samples per library (for workloads whose samples are processes).
      notes: {library: text} shown as a footnote of that cell.
      missing: {library: reason} for libraries that have no builder.
    """

    id: str
    title: str
    suite: str
    mode: str
    builders: dict[str, Callable]
    full: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    size: str = ""
    check: Callable | None = None
    rtol: float = 1e-3
    self_timed: bool = False
    max_repeat: int | None = None
    notes: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)

    def params(self, quick: bool) -> dict:
        return dict(self.full, **(self.quick if quick else {}))

    def size_text(self, quick: bool) -> str:
        return self.size.format(**self.params(quick))

    def label(self) -> str:
        return f"{self.title} ({self.mode})" if self.mode in ("eager", "jit") else self.title


SUITES = ("spec", "models", "compile")


def all_workloads() -> list[Workload]:
    from hlodiff.bench import compile as compile_suite
    from hlodiff.bench import models, spec

    return spec.workloads() + models.workloads() + compile_suite.workloads()


def matches(workload: Workload, name: str) -> bool:
    """`--only NAME`: NAME is part of the workload's id (`spec.hvp`, `hvp`, `mlp_step`,
    `models.dp_sgd`), ignoring case."""
    return name.lower() in workload.id.lower()


def select(
    suite: str = "spec", only: list[str] | None = None, workloads: list[Workload] | None = None
) -> list[Workload]:
    """The workloads of `suite` (`all` for every suite) whose id matches one of `only`.

    Raises:
      ValueError: an unknown suite, or an `only` name that matches nothing (listing the ids).
    """
    pool = all_workloads() if workloads is None else list(workloads)
    if suite not in SUITES + ("all",):
        raise ValueError(f"unknown suite {suite!r}; use one of {', '.join(SUITES + ('all',))}")
    chosen = [w for w in pool if suite == "all" or w.suite == suite]
    if not only:
        return chosen
    unknown = [n for n in only if not any(matches(w, n) for w in chosen)]
    if unknown:
        ids = ", ".join(w.id for w in chosen)
        raise ValueError(
            f"no workload of suite {suite!r} matches {', '.join(unknown)}; known: {ids}"
        )
    return [w for w in chosen if any(matches(w, n) for n in only)]
