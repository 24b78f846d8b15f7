"""Presenting a benchmark report: progress on stderr, the terminal table, the JSON file and the
PNG chart of ratios (matplotlib, the optional `plot` extra).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

_LIB_ORDER = ("hlodiff", "jax", "torch", "autograd", "numpy")


class Progress:
    """`[ 3/30] title - lib: sample 4/11` on stderr: rewritten in place on a terminal, one line
    per workload otherwise."""

    def __init__(self, enabled: bool = True, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.start_time = time.perf_counter()
        self.head = ""
        self.count = 0

    def start(self, index: int, total: int, title: str) -> None:
        self.count = total
        self.head = f"[{index + 1:>{len(str(total))}}/{total}] {title}"
        if self.enabled and not self.live:
            print(self.head, file=self.stream, flush=True)
        self.update("")

    def update(self, message: str) -> None:
        if not self.live:
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        line = f"{self.head} - {message}" if message else self.head
        self.stream.write("\r" + line[:width].ljust(width))
        self.stream.flush()

    def finish(self) -> None:
        if not self.enabled:
            return
        if self.live:
            self.stream.write("\r" + " " * (shutil.get_terminal_size((100, 20)).columns - 1) + "\r")
        elapsed = time.perf_counter() - self.start_time
        print(f"done: {self.count} workloads in {elapsed:.0f} s", file=self.stream, flush=True)


# --- the table -----------------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    """Three significant digits: `15.0us`, `5.20ms`, `123ms`, `1.23s`."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            digits = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:.{digits}f}{unit}"
    return "?"


def fmt_ratio(ratio: float) -> str:
    if ratio >= 100:
        return f"{ratio:.0f}x"
    if ratio >= 0.1:
        return f"{ratio:.2f}x"
    return f"{ratio:.2g}x"


def libraries(report: dict) -> list[str]:
    names = list(report["libraries"])
    return sorted(names, key=lambda n: _LIB_ORDER.index(n) if n in _LIB_ORDER else 99)


def _cell_text(name: str, cell: dict, notes: dict) -> str:
    status = cell["status"]
    if status == "ok":
        text = f"{fmt_time(cell['median_s'])} ±{cell['spread'] * 100:.0f}%"
        if name == "hlodiff":
            return text
        if cell.get("check") == "mismatch":
            return f"{text} WRONG"
        ratio = cell.get("ratio_vs_hlodiff")
        return f"{text} {fmt_ratio(ratio)}" if ratio is not None else text
    if status == "not installed":
        return "not installed"
    label = {"failed": "FAILED", "not available": "not available"}.get(status, "n/a")
    number = notes.setdefault(f"{name}: {cell['reason']}", len(notes) + 1)
    return f"{label} [{number}]"


def _check_text(workload: dict) -> str:
    cells = workload["results"]
    wrong = [n for n, c in cells.items() if c.get("check") == "mismatch"]
    if wrong:
        return "MISMATCH: " + ",".join(wrong)
    if any(c.get("check") == "ok" for c in cells.values()):
        return "ok"
    return "-"


def _dropped_text(workload: dict) -> str:
    ok = [c for c in workload["results"].values() if c["status"] == "ok"]
    return f"{sum(c['dropped'] for c in ok)}/{sum(c['samples'] for c in ok)}" if ok else "-"


def format_table(report: dict) -> str:
    """The report as a terminal table with footnotes, legend and a mismatch block."""
    names = libraries(report)
    notes: dict[str, int] = {}
    rows = []
    for w in report["workloads"]:
        cells = [_cell_text(n, w["results"][n], notes) for n in names]
        rows.append((w["suite"], w["label"], cells, _dropped_text(w), _check_text(w)))
    label_w = max([len(r[1]) for r in rows] + [8])
    widths = [max([len(r[2][i]) for r in rows] + [len(n)]) for i, n in enumerate(names)]
    head = [f"{'workload':<{label_w}}"] + [f"{n:<{w}}" for n, w in zip(names, widths)]
    lines = _preamble(report)
    lines.append("  ".join(head + ["dropped", "check"]))
    suite = None
    for s, label, cells, dropped, check in rows:
        if s != suite:
            lines.append(f"-- {s} --")
            suite = s
        body = [f"{label:<{label_w}}"] + [f"{c:<{w}}" for c, w in zip(cells, widths)]
        lines.append("  ".join(body + [f"{dropped:<7}", check]).rstrip())
    lines += [f"[{i}] {text}" for text, i in notes.items()]
    lines += _legend(report) + _phases(report) + _problems(report)
    return "\n".join(lines)


def _preamble(report: dict) -> list[str]:
    cfg = report["config"]
    pinned = report["machine"].get("pinned_cpus")
    threads = f"{cfg['threads']} thread(s)" if cfg["threads"] else "threads unpinned"
    if cfg["threads"] and pinned is not None:
        threads += f" on CPU {','.join(map(str, pinned))}"
    return [
        (
            f"hlodiff bench: suite {cfg['suite']}, device {cfg['device']}, {threads}, up to "
            f"{cfg['repeat']} samples per library{', quick sizes' if cfg['quick'] else ''}"
        ),
        (
            "cell: median ±spread (IQR/median), then time / hlodiff's time (under 1x: faster "
            "than hlodiff; WRONG: checksum differs, no ratio)"
        ),
        "",
    ]


def _legend(report: dict) -> list[str]:
    lines = [""]
    versions = report["versions"]
    for name, where in report["device"]["libraries"].items():
        version = versions.get("hlodiff" if name == "hlodiff" else name) or ""
        lines.append(f"{name:<9} {version:<14} {where}")
    lines.append(
        "models rows: hlodiff and jax run jitted; torch (torch.func), autograd and "
        "numpy (hand-written derivatives) run eagerly"
    )
    summary, probe = report["summary"], report["probe"]
    lines.append(
        f"dropped {summary['dropped_samples']} of {summary['samples']} samples taken while the "
        f"probe ({probe['description']}, baseline {fmt_time(probe['baseline_s'])}) ran over "
        f"{probe['slow_factor']}x its baseline; elapsed {summary['elapsed_s']:.0f} s; "
        f"load average {', '.join(f'{x:.2f}' for x in report['machine'].get('load_average', []))}"
    )
    return lines


def _phases(report: dict) -> list[str]:
    rows = [
        (w["title"], n, c["phases_median_s"])
        for w in report["workloads"]
        for n, c in w["results"].items()
        if c.get("phases_median_s")
    ]
    if not rows:
        return []
    keys = list(rows[0][2])
    label_w = max(len(r[0]) for r in rows)
    lines = ["", "compile phases (median seconds): " + ", ".join(keys)]
    for title, name, phases in rows:
        values = "  ".join(f"{phases.get(k, float('nan')):8.3f}" for k in keys)
        lines.append(f"  {title:<{label_w}}  {name:<8} {values}")
    return lines


def _problems(report: dict) -> list[str]:
    lines = []
    mismatches = report["summary"]["mismatches"]
    if mismatches:
        lines += [
            "",
            (
                "!!! CHECKSUM MISMATCHES: these results differ from the reference; "
                "their times are not comparable !!!"
            ),
        ]
        lines += [f"!!! {m['workload']} {m['library']}: {m['detail']}" for m in mismatches]
    failures = report["summary"]["failures"]
    if failures:
        lines += [
            "",
            f"{len(failures)} failed: "
            + "; ".join(f"{f['workload']} {f['library']}" for f in failures),
        ]
    plot = report.get("plot")
    if plot:
        lines.append(f"chart: {plot['path']}" if plot["written"] else f"chart: {plot['reason']}")
    return lines


# --- JSON and chart ------------------------------------------------------------------------------


def write_json(report: dict, path: str) -> None:
    Path(path).write_text(json.dumps(report, indent=1, default=str) + "\n")


def plot(report: dict, path: str) -> dict:
    """Writes a PNG bar chart of each library's time / hlodiff's time (log scale). Returns
    {"path", "written", "reason"}; without matplotlib nothing is written and `reason` says so."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {
            "path": path,
            "written": False,
            "reason": "matplotlib is not installed (pip install 'hlodiff[plot]'); no chart",
        }
    others = [n for n in libraries(report) if n != "hlodiff"]
    rows = [
        w
        for w in report["workloads"]
        if any(w["results"][n].get("ratio_vs_hlodiff") for n in others)
    ]
    if not rows:
        return {"path": path, "written": False, "reason": "no ratios to chart"}
    fig, ax = plt.subplots(figsize=(10, 1.0 + 0.16 * len(rows) * max(1, len(others))))
    height = 0.8 / max(1, len(others))
    labeled = set()
    for k, name in enumerate(others):
        for i, w in enumerate(rows):
            cell = w["results"][name]
            ratio = cell.get("ratio_vs_hlodiff")
            if not ratio:
                continue
            wrong = cell.get("check") == "mismatch"
            y = i + (k - (len(others) - 1) / 2) * height
            ax.barh(
                y,
                ratio,
                height,
                color=f"C{k}",
                hatch="xx" if wrong else None,
                edgecolor="red" if wrong else None,
                label=None if name in labeled else name,
            )
            labeled.add(name)
            if wrong:
                ax.text(ratio, y, " WRONG", va="center", color="red", fontsize=7)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(rows)), [f"{w['suite']}: {w['label']}" for w in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time / hlodiff time (log; under 1: faster than hlodiff)")
    cfg = report["config"]
    ax.set_title(f"hlodiff bench, device {cfg['device']}, {cfg['threads'] or 'unpinned'} thread(s)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"path": path, "written": True, "reason": None}
