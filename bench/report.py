"""The benchmark's results: the targets, the BENCHMARKS.md table and the latency plot."""

from __future__ import annotations

import argparse
import datetime as dt
import platform
from dataclasses import dataclass
from pathlib import Path

MAIN_CASES = ("list page_size=100", "list page_size=1000", "list is_active=true", "list last page")


@dataclass(frozen=True)
class Measurement:
    """One case on one server at one table size (medians over the rounds)."""

    size: int
    case: str
    target: str
    rps: float
    p50_ms: float
    p99_ms: float
    queries: int
    requests: int


@dataclass(frozen=True)
class Verdict:
    """A target of the list endpoint, what was measured and whether it is met."""

    target: str
    measured: str
    met: bool | None  # None: the run did not include what the target needs


def _index(measurements: list[Measurement]) -> dict[tuple[int, str, str], Measurement]:
    return {(m.size, m.case, m.target): m for m in measurements}


def _ratio(a: Measurement | None, b: Measurement | None) -> float | None:
    return a.rps / b.rps if a and b and b.rps else None


def check_targets(measurements: list[Measurement]) -> list[Verdict]:
    """Evaluate the targets on whatever sizes the run covered (10k and 1M in a full run)."""
    by = _index(measurements)
    small, large = 10_000, 1_000_000
    verdicts = []

    def verdict(target: str, value: float | None, threshold: float, unit: str = "", *, at_most: bool = False) -> None:
        if value is None:
            verdicts.append(Verdict(target, "not measured in this run", None))
        else:
            met = value <= threshold if at_most else value >= threshold
            verdicts.append(Verdict(target, f"{value:.2f}{unit}", met))

    for case in ("list page_size=100", "list page_size=1000"):
        verdict(
            f"10k nodes, {case}: project/floor throughput >= 0.6",
            _ratio(by.get((small, case, "project")), by.get((small, case, "floor"))),
            0.6,
        )
    for case in ("list page_size=100", "list is_active=true"):
        verdict(
            f"1M nodes, {case}: throughput >= 0.5 of the project's own at 10k",
            _ratio(by.get((large, case, "project")), by.get((small, case, "project"))),
            0.5,
        )
    verdict(
        "1M nodes, last page: project/reference throughput >= 2",
        _ratio(by.get((large, "list last page", "project")), by.get((large, "list last page", "reference"))),
        2.0,
    )
    list_queries = {m.queries for m in measurements if m.target == "project" and m.case.startswith("list")}
    verdicts.append(
        Verdict(
            "a constant number of SQL queries per list request",
            ", ".join(str(q) for q in sorted(list_queries)),
            len(list_queries) == 1,
        )
    )
    for case in ("detail", "PATCH"):
        for size in sorted({m.size for m in measurements}):
            project, floor = by.get((size, case, "project")), by.get((size, case, "floor"))
            cost = floor.rps / project.rps if project and floor and project.rps else None
            verdict(f"{size:,} nodes, {case}: project/floor time per request <= 1.5", cost, 1.5, at_most=True)
    return verdicts


def _size_label(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 and size % 1_000_000 == 0 else f"{size:,}"


def write_markdown(
    measurements: list[Measurement],
    *,
    verdicts: list[Verdict],
    log: list[str],
    started: dt.datetime,
    loader: str,
    args: argparse.Namespace,
    command: str,
) -> str:
    """The report: targets, then one table row per size and case."""
    by = _index(measurements)
    lines = [
        "# Benchmarks of the node endpoints",
        "",
        f"Produced by `{command}` on {started:%Y-%m-%d %H:%M} UTC ({platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}; load from {loader}, one connection; "
        f"{args.rounds} rounds of {args.seconds:g} s per case and server, medians shown).",
        "",
        "Three servers, each gunicorn with one sync worker, `DEBUG` off, on the same seeded PostgreSQL database:",
        "**project** is the service, **reference** a plain-DRF version of the same endpoints (`bench/reference.py`),",
        "**floor** a bare WSGI app replaying the project's own SQL with psycopg2 and orjson (`bench/floor.py`).",
        "The harness checks first that all three answer every read with the same bytes. The machine is shared,",
        "so absolute figures drift; the ratios compare servers measured side by side in the same rounds.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for verdict in verdicts:
        met = {True: "yes", False: "**no**", None: "-"}[verdict.met]
        lines.append(f"| {verdict.target} | {verdict.measured} | {met} |")
    lines += [
        "",
        "## Results",
        "",
        "Throughput in requests per second, latency in milliseconds; queries are SQL queries per request.",
        "",
        "| nodes | case | project req/s | p50 | p99 | queries | reference req/s | p50 | queries "
        "| floor req/s | p50 | project/floor | project/reference |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    cases = list(dict.fromkeys(m.case for m in measurements))
    for size in sorted({m.size for m in measurements}):
        for case in cases:
            project, reference, floor = (by[(size, case, target)] for target in ("project", "reference", "floor"))
            lines.append(
                f"| {_size_label(size)} | {case} | {project.rps:,.0f} | {project.p50_ms:.2f} | {project.p99_ms:.2f} "
                f"| {project.queries} | {reference.rps:,.1f} | {reference.p50_ms:.2f} | {reference.queries} "
                f"| {floor.rps:,.0f} | {floor.p50_ms:.2f} | {project.rps / floor.rps:.2f} "
                f"| {project.rps / reference.rps:.2f} |"
            )
    if log:
        lines += ["", "## Problems", "", *[f"- {entry}" for entry in log]]
    return "\n".join(lines) + "\n"


def write_plot(measurements: list[Measurement], path: Path) -> None:
    """Median latency against table size for the main list cases, one panel per case."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = _index(measurements)
    sizes = sorted({m.size for m in measurements})
    figure, axes = plt.subplots(1, len(MAIN_CASES), figsize=(4 * len(MAIN_CASES), 3.6), sharey=True)
    for axis, case in zip(axes, MAIN_CASES, strict=True):
        for target, style in (("project", "o-"), ("reference", "s--"), ("floor", "^:")):
            points = [(size, by[(size, case, target)].p50_ms) for size in sizes if (size, case, target) in by]
            axis.plot([p[0] for p in points], [p[1] for p in points], style, label=target)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(sizes, [_size_label(size) for size in sizes])
        axis.set_title(case, fontsize=10)
        axis.set_xlabel("nodes in the table")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("median latency (ms)")
    axes[0].legend()
    figure.suptitle("GET /v6/nodes/: latency against table size")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
