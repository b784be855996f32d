"""Plots of the benchmark results, as PNG files for docs/benchmarks.rst.

Run the benchmarks with ``--json`` into benchmarks/results/, then this script:

    python benchmarks/handler_crawl.py --json benchmarks/results/handler_crawl.json
    python benchmarks/stream_latency.py --seconds 10 --json benchmarks/results/stream_latency.json
    python benchmarks/files_to_disk.py --repeat 3 --json benchmarks/results/files_to_disk_https.json
    python benchmarks/files_to_disk.py --repeat 3 --server h2 --json benchmarks/results/files_to_disk_h2.json
    python benchmarks/plots.py

From whichever of those JSON files exist it writes, into docs/_static/benchmarks/:

* ``handler_crawl.png``: pages/s and CPU ms per page of each handler at each
  concurrency, with the targets against the baseline (HTTP11) marked and
  the CPU spent outside the event loop's thread hatched;
* ``stream_latency.png``: event latency p50 and p99 per stream count, with
  the targets drawn as lines (log scale);
* ``files_to_disk.png``: a large body to disk, ``curl -o`` against the
  ``body_file`` crawl per server, every run as a dot, the time target marked.

Every number drawn comes from the JSON; the only date in an image is the
date the JSON says the data was measured, and the PNG carries no software
version or time stamp, so the same JSON gives the same files. Needs
matplotlib (``pip install matplotlib``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
OUTPUT = HERE.parent / "docs" / "_static" / "benchmarks"
FILES_TO_DISK = ("files_to_disk_https.json", "files_to_disk_h2.json")
SERVER_NAMES = {"https": "HTTP/1.1 over TLS", "h2": "HTTP/2", "http": "HTTP/1.1 plain"}
# One hue per handler, lighter shades for its further configurations.
COLORS = {
    "tlsclient": ("#1f77b4", "#6baed6", "#08519c"),
    "http11": ("#ff7f0e", "#fdae6b", "#a63603"),
    "curl": ("#7f7f7f",),
    "body_file": ("#1f77b4",),
}
OTHER_COLORS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
TARGET_STYLE = {"color": "#d62728", "linestyle": "--", "linewidth": 1.5}
# The hatched foot of a CPU bar: the part spent outside the event loop's thread.
THREADS_STYLE = {"edgecolor": "white", "hatch": "///", "linewidth": 0}
DPI = 100


def color(name: str, index: int = 0) -> str:
    shades = COLORS.get(name, OTHER_COLORS)
    return shades[index % len(shades)]


def load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        print(f"skipped: no {path}")
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def joined(values: Iterable[str]) -> str:
    """Distinct values in order, joined: one machine or date, or each of several."""
    return " / ".join(dict.fromkeys(values))


def headed(fig: Figure, what: str, reports: list[dict[str, Any]]) -> None:
    """Title the figure with what it shows, and below it the machine and the date measured."""
    fig.suptitle(what, fontsize=12, fontweight="bold", y=0.985)
    machine = joined(report["machine"] for report in reports)
    date = joined(report["date"][:10] for report in reports)
    fig.text(0.5, 0.925, f"{machine}\nmeasured {date}", ha="center", va="top", fontsize=8, color="#444444")


def label_bar(ax: Axes, x: float, height: float, text: str, log: bool = False) -> None:
    y = height * 1.08 if log else height
    ax.annotate(
        text, (x, y), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=7.5
    )


def save(fig: Figure, name: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    # No "Software" entry: the file depends on the data, not on matplotlib's version.
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    print(f"wrote {path}")


# --- (a) handler_crawl -----------------------------------------------------


def plot_handler_crawl(report: dict[str, Any], out: Path) -> None:
    rows = report["results"]
    baseline = report["baseline"]
    handlers = list(dict.fromkeys(row["handler"] for row in rows))
    levels = list(dict.fromkeys(row["concurrency"] for row in rows))
    by_key = {(row["concurrency"], row["handler"]): row for row in rows}
    targets = report["targets"]
    panels = (
        (
            "pages_per_s",
            "pages/s (higher is better)",
            "pages_per_s_ratio",
            targets["pages_per_s_ratio_min"],
            "≥",
        ),
        ("cpu_ms_per_page", "CPU ms per page (lower is better)", "cpu_ratio", targets["cpu_ratio_max"], "≤"),
    )
    # Wider with more handlers, up to what docs/benchmarks.rst shows at three
    # quarters of its size or more (tests/integration/test_docs_render.py).
    fig, axes = plt.subplots(1, 2, figsize=(min(12.0, 11 + 0.5 * max(0, len(handlers) - 3)), 5.6))
    width = 0.8 / len(handlers)
    for ax, (field, ylabel, ratio_field, factor, sign) in zip(axes, panels, strict=True):
        top = 0.0
        target_label: str | None = "target"  # in the legend once
        for h, handler in enumerate(handlers):
            for c, concurrency in enumerate(levels):
                row = by_key.get((concurrency, handler))
                x = c + (h - (len(handlers) - 1) / 2) * width
                if row is None:
                    continue
                if row["failure"]:
                    ax.annotate("failed", (x, 0), ha="center", va="bottom", fontsize=7.5, rotation=90)
                    continue
                value = row[field]
                label = f"{handler} ({report['handlers'][handler].rpartition('.')[2]})" if c == 0 else None
                shade = color(handler) if handler in COLORS else OTHER_COLORS[h % len(OTHER_COLORS)]
                ax.bar(x, value, width * 0.92, color=shade, label=label)
                other = row.get("other_threads_ms_per_page") or 0.0  # absent from older JSON
                if field == "cpu_ms_per_page" and other > 0.0005:
                    ax.bar(x, other, width * 0.92, color="none", **THREADS_STYLE)
                peak = value  # the label goes above the bar and its target
                base = by_key.get((concurrency, baseline))
                if handler != baseline and base is not None and not base["failure"]:
                    goal = base[field] * factor
                    ax.hlines(goal, x - width / 2, x + width / 2, label=target_label, **TARGET_STYLE)
                    target_label = None
                    peak = max(peak, goal)
                top = max(top, peak)
                text = f"{value:,.0f}" if field == "pages_per_s" else f"{value:.2f}"
                if row[ratio_field] is not None:  # against the baseline, as the panel's title says
                    text += f"\n{row[ratio_field]:.2f}x"
                label_bar(ax, x, peak, text)
        ax.set_xticks(range(len(levels)), [f"{level} in flight" for level in levels])
        ax.set_xlabel("concurrency (CONCURRENT_REQUESTS)")
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, top * 1.45)
        ax.set_title(f"target (dashed): {sign} {factor:g}x {baseline}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    # One legend for both panels, below them, where it covers no bar.
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(text, handle)
    if any(row.get("other_threads_ms_per_page") for row in rows):
        entries["CPU outside the event loop's thread"] = Patch(facecolor="#888888", **THREADS_STYLE)
    fig.legend(entries.values(), entries.keys(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    runs = f"median of {report['repeat']} runs" if report["repeat"] > 1 else "single run"
    others = ", ".join(handler for handler in handlers if handler != baseline)
    what = (
        f"Crawl: {others} vs {baseline}, {report['pages']:,} pages of {report['size']:,} bytes "
        f"over {report['server']} ({runs})"
    )
    headed(fig, what, [report])
    fig.tight_layout(rect=(0, 0.12, 1, 0.88))
    save(fig, "handler_crawl.png", out)


# --- (b) stream_latency ----------------------------------------------------


def plot_stream_latency(report: dict[str, Any], out: Path) -> None:
    rows = [row for row in report["results"] if not row["failure"]]
    failed = [row for row in report["results"] if row["failure"]]
    configs = list(dict.fromkeys((row["handler"], row["server"]) for row in report["results"]))
    counts = list(dict.fromkeys(row["streams"] for row in report["results"]))
    by_key = {(row["handler"], row["server"], row["streams"]): row for row in rows}
    protocols = {(row["handler"], row["server"]): row["protocol"] for row in rows}
    shade: dict[str, int] = {}
    colors = {}
    for handler, server in configs:
        colors[handler, server] = color(handler, shade.get(handler, 0))
        shade[handler] = shade.get(handler, 0) + 1
    targets = report["targets"]
    panels = (("p50", targets["p50_ms_max"]), ("p99", targets["p99_ms_max"]))
    values = [row[p] for row in rows for p, _ in panels] + [t for _, t in panels]
    low, high = min(values) / 2, max(values) * 3
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), sharey=True)
    width = 0.8 / len(configs)
    for ax, (percentile, target) in zip(axes, panels, strict=True):
        for k, (handler, server) in enumerate(configs):
            protocol = protocols.get((handler, server), server)
            for s, streams in enumerate(counts):
                x = s + (k - (len(configs) - 1) / 2) * width
                row = by_key.get((handler, server, streams))
                if row is None:
                    if any(f["handler"] == handler and f["streams"] == streams for f in failed):
                        ax.annotate("failed", (x, low), ha="center", va="bottom", fontsize=7.5, rotation=90)
                    continue
                label = f"{handler}, {server} ({protocol})" if s == 0 else None
                ax.bar(x, row[percentile], width * 0.92, color=colors[handler, server], label=label)
                label_bar(ax, x, row[percentile], f"{row[percentile]:.2f}", log=True)
        ax.axhline(target, label=f"target for tlsclient: {percentile} ≤ {target:g} ms", **TARGET_STYLE)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(low, high)
        ax.set_xticks(range(len(counts)), [f"{n} stream{'s' if n != 1 else ''}" for n in counts])
        ax.set_xlabel(f"concurrent streams, {1000 / report['interval_ms']:g} events/s each")
        ax.set_ylabel(f"{percentile} latency, ms (log scale)")
        ax.set_title(f"{percentile}: server write → spider", fontsize=9)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(fontsize=7.5, loc="upper left")
    what = (
        f"Event latency: tlsclient stream vs {report['baseline']} bytes_received "
        f"({report['seconds']:g} s per run, first {report['warmup']:g} s skipped)"
    )
    headed(fig, what, [report])
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    save(fig, "stream_latency.png", out)


# --- (c) files_to_disk -----------------------------------------------------


def size_text(mib: int) -> str:
    return f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"


def plot_files_to_disk(reports: list[dict[str, Any]], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5.4))
    width = 0.36
    top = 0.0
    target_drawn = False
    for s, report in enumerate(reports):
        bars = (
            ("curl", "curl -o", report["curl_s"], [run["curl_s"] for run in report["runs"]]),
            (
                "body_file",
                "body_file crawl",
                report["crawl_s"],
                [run["crawl"]["seconds"] for run in report["runs"]],
            ),
        )
        for b, (name, label, median, runs) in enumerate(bars):
            x = s + (b - 0.5) * width
            ax.bar(x, median, width * 0.92, color=color(name), label=label if s == 0 else None)
            ax.plot(
                [x] * len(runs),
                runs,
                "o",
                color="black",
                markersize=4,
                alpha=0.7,
                label="each run" if s == 0 and b == 0 else None,
            )
            text = f"{median:.2f} s"
            if name == "body_file":
                text += f"\n{report['time_ratio']:.2f}x curl"
            # At the foot of the bar, clear of the run dots above.
            ax.annotate(
                text,
                (x, 0),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
                color="white",
                fontweight="bold",
            )
            top = max(top, median, *runs)
        goal = report["curl_s"] * report["targets"]["time_ratio_max"]
        x = s + 0.5 * width
        target_label = f"target: ≤ {report['targets']['time_ratio_max']:g}x curl"
        ax.hlines(
            goal, x - width / 2, x + width / 2, label=None if target_drawn else target_label, **TARGET_STYLE
        )
        target_drawn = True
        top = max(top, goal)
    ax.set_xticks(
        range(len(reports)),
        [f"{r['server']}: {SERVER_NAMES.get(r['server'], r['server'])}" for r in reports],
    )
    ax.set_xlabel("loopback test server")
    ax.set_ylabel("time to download, s (bars: median)")
    ax.set_ylim(0, top * 1.25)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, loc="upper left")
    sizes = joined(size_text(r["mib"]) for r in reports)
    repeats = joined(str(r["repeat"]) for r in reports)
    headed(fig, f"{sizes} to disk: curl -o vs body_file crawl (medians of {repeats})", reports)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    save(fig, "files_to_disk.png", out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON files are")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="where the PNG files go")
    args = parser.parse_args()
    matplotlib.use("Agg")  # files only, no display
    plt.rcParams.update({"font.family": "DejaVu Sans", "figure.dpi": DPI})
    crawl = load(args.results / "handler_crawl.json")
    if crawl is not None:
        plot_handler_crawl(crawl, args.out)
    latency = load(args.results / "stream_latency.json")
    if latency is not None:
        plot_stream_latency(latency, args.out)
    disks = [report for name in FILES_TO_DISK if (report := load(args.results / name)) is not None]
    if disks:
        plot_files_to_disk(disks, args.out)


if __name__ == "__main__":
    main()
