"""Turns the suite's results into the markdown table (every figure also as a ratio to y-websocket's) and plots."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABELS = {
    "yws": "y-websocket server",
    "hocus": "Hocuspocus",
    "pycrdt": "pycrdt-websocket",
    "collab": "MediaWiki Collab",
}
COLORS = {"yws": "#1f77b4", "hocus": "#ff7f0e", "pycrdt": "#2ca02c", "collab": "#d62728"}
REFERENCE = "yws"

Results = dict[str, dict[str, dict[str, Any]]]  # label -> server -> {"ok":..., "result":...}


def _get(results: Results, label: str, server: str) -> dict[str, Any] | None:
    out = results.get(label, {}).get(server)
    if not out or not out.get("ok"):
        return None
    res: dict[str, Any] = out["result"]
    return res


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure of one workload, and our target for it."""

    title: str
    label: str
    value: Callable[[dict[str, Any]], float | None]
    fmt: str = "{:.2f}"
    # target(ours, reference values by server) -> (text, met?) ; None: no target
    target: Callable[[float, dict[str, float]], tuple[str, bool]] | None = None
    ratio: bool = True


def _ratio_target(limit: float, against: str = REFERENCE) -> Callable[[float, dict[str, float]], tuple[str, bool]]:
    def check(ours: float, values: dict[str, float]) -> tuple[str, bool]:
        ref = values.get(against)
        name = LABELS[against].split()[0]
        if not ref:
            return (f"<= {limit:g}x {name} (no reference)", False)
        r = ours / ref
        return (f"<= {limit:g}x {name}: {r:.2f}x", r <= limit)

    return check


def _absolute_target(limit: float, unit: str) -> Callable[[float, dict[str, float]], tuple[str, bool]]:
    def check(ours: float, _values: dict[str, float]) -> tuple[str, bool]:
        return (f"< {limit:g} {unit}", ours < limit)

    return check


def _lat(key: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda r: r.get("latency", {}).get(key)


def _flag(key: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda r: 1.0 if r.get(key) else 0.0


def _delivered(r: dict[str, Any]) -> float | None:
    return r["delivered"] / r["expected"] if r.get("expected") else None


def _converged_target(ours: float, _v: dict[str, float]) -> tuple[str, bool]:
    return ("converges", ours == 1.0)


def _all_delivered(ours: float, _v: dict[str, float]) -> tuple[str, bool]:
    return ("every update delivered", ours >= 1.0)


def rows(results: Results) -> list[Row]:
    trace = next((v["result"] for v in results.get("trace", {}).values() if v.get("ok")), {})
    edits = trace.get("edits", "?")
    join = next((v["result"] for v in results.get("join-trace", {}).values() if v.get("ok")), {})
    return [
        Row(
            f"trace full speed, {edits} edits, 3 clients: time (s)",
            "trace",
            lambda r: r["timeS"],
            target=_ratio_target(1.0),
        ),
        Row(
            "trace full speed: server CPU per edit (us)",
            "trace",
            lambda r: r["serverCpuPerEditUs"],
            "{:.1f}",
            _ratio_target(0.8),
        ),
        Row("trace full speed: server peak RSS (MB)", "trace", lambda r: r["hwmMB"], "{:.0f}"),
        Row(
            "trace full speed: final text = trace's end text",
            "trace",
            _flag("converged"),
            "{:.0f}",
            _converged_target,
            False,
        ),
        Row("trace paced 300 edits/s: p50 (ms)", "paced", _lat("p50"), "{:.2f}"),
        Row("trace paced 300 edits/s: p99 (ms)", "paced", _lat("p99"), "{:.2f}", _ratio_target(1.0)),
        Row(
            "concurrent friendsforever (2 agents): time (s)",
            "friendsforever",
            lambda r: r["timeS"],
            target=_ratio_target(1.0),
        ),
        Row(
            "concurrent friendsforever: converged",
            "friendsforever",
            _flag("converged"),
            "{:.0f}",
            _converged_target,
            False,
        ),
        Row(
            "concurrent clownschool (3 agents): time (s)",
            "clownschool",
            lambda r: r["timeS"],
            target=_ratio_target(1.0),
        ),
        Row("concurrent clownschool: converged", "clownschool", _flag("converged"), "{:.0f}", _converged_target, False),
        Row("fanout 50 pages x 4 editors x 5 edits/s: p50 (ms)", "fanout", _lat("p50"), "{:.2f}"),
        Row("fanout: p99 (ms)", "fanout", _lat("p99"), "{:.2f}", _ratio_target(1.0)),
        Row(
            "fanout: server CPU per edit (us)",
            "fanout",
            lambda r: r["serverCpuPerEditUs"],
            "{:.1f}",
            _ratio_target(0.8),
        ),
        Row("fanout: server CPU (% of one core)", "fanout", lambda r: r["serverCpuPct"], "{:.1f}"),
        Row("fanout: server peak RSS (MB)", "fanout", lambda r: r["hwmMB"], "{:.0f}", _ratio_target(1.0, "pycrdt")),
        Row("fanout: delivered / expected", "fanout", _delivered, "{:.4f}", _all_delivered, False),
        Row(
            f"join: page with a history of {join.get('label', '?')} (ms, median)",
            "join-trace",
            lambda r: r["p50"],
            "{:.1f}",
            _ratio_target(1.0),
        ),
        Row(
            "join: 2 MB wikitext page (ms, median)",
            "join-2mb",
            lambda r: r["p50"],
            "{:.1f}",
            _absolute_target(100, "ms"),
        ),
        Row(
            "idle: RSS per connection, 1,000 over 100 pages (KB)",
            "idle",
            lambda r: r["perConnKB"],
            "{:.1f}",
            _ratio_target(1.0),
        ),
        Row("idle: server RSS with 1,000 connections (MB)", "idle", lambda r: r["rssAfterMB"], "{:.0f}"),
        Row(
            "saturation, 50x4 editors: highest edits/s with p99 <= 100 ms", "ramp", lambda r: r["saturation"], "{:.0f}"
        ),
    ]


def _cell(row: Row, value: float | None, ref: float | None) -> str:
    if value is None:
        return "failed"
    text = row.fmt.format(value)
    if row.ratio and ref and value is not None:
        text += f" ({value / ref:.2f}x)"
    return text


def markdown(results: Results, names: list[str], meta: dict[str, str]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Mode: {meta['mode']}; {meta['machine']}; run {meta['date']} in {meta['elapsed']}; trace: {meta['trace']}; "
        f"runs per figure: {meta['repeat']} (median).",
        "",
        "Each figure of a peer and of ours is followed by its ratio to the y-websocket server's in the same run.",
        "Server pinned to CPU 0, load generator (one Node process of real Yjs clients) to CPU 1.",
        "",
    ]
    head = ["workload / figure", *[LABELS[n] for n in names], "target (ours)", "met"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for row in rows(results):
        values: dict[str, float] = {}
        cells = []
        for name in names:
            res = _get(results, row.label, name)
            try:
                v = row.value(res) if res is not None else None
            except (KeyError, TypeError, ZeroDivisionError):
                v = None
            if v is not None:
                values[name] = float(v)
        ref = values.get(REFERENCE)
        for name in names:
            cells.append(_cell(row, values.get(name), ref) if name in values or _get(results, row.label, name) else "-")
        target, met = "", ""
        if row.target is not None and "collab" in names:
            if "collab" in values:
                target, ok = row.target(values["collab"], values)
                met = "yes" if ok else "**no**"
            else:
                target, met = "", "**no**"
        lines.append("| " + " | ".join([row.title, *cells, target, met]) + " |")
    save = _get(results, "save", "collab")
    if save is not None:
        lines += [
            "",
            "## save: relay latency while a 1 MB page is saved to the dev wiki (ours only)",
            "",
            "| figure | without a save | during saves | ratio | target | met |",
            "|---|---|---|---|---|---|",
        ]
        b, d = save["baseline"], save["during"]
        ratio = d.get("p99", 0) / b["p99"] if b.get("p99") else float("nan")
        lines.append(
            f"| relay p99 (ms), 20 pages x 4 editors x 5 edits/s | {b.get('p99', 0):.2f} (n={b.get('n')}) | "
            f"{d.get('p99', 0):.2f} (n={d.get('n')}) | {ratio:.2f}x | <= 1.2x | {'yes' if ratio <= 1.2 else '**no**'} |"
        )
        lines.append(f"| relay p50 (ms) | {b.get('p50', 0):.2f} | {d.get('p50', 0):.2f} | | | |")
        durations = ", ".join(f"{s['ms'] / 1000:.1f} s" + ("" if s.get("ok") else " (failed)") for s in save["saves"])
        lines.append(f"| save durations ({save['bytes'] / 1e6:.2f} MB page) | | {durations} | | | |")
    ramp = {n: _get(results, "ramp", n) for n in names}
    if any(ramp.values()):
        lines += ["", "## saturation ramp (50 pages x 4 editors)", ""]
        lines.append("| server | offered edits/s: p99 ms (server CPU %, generator CPU %) | saturation | limited by |")
        lines.append("|---|---|---|---|")
        for name, r in ramp.items():
            if r is None:
                continue
            steps = "; ".join(
                f"{s['offered']}: {s['latency'].get('p99', float('nan')):.1f}"
                f" ({s['serverCpuPct']:.0f}%, {s['genCpuPct']:.0f}%){'' if s['ok'] else ' FAIL'}"
                for s in r["steps"]
            )
            lines.append(f"| {LABELS[name]} | {steps} | {r['saturation']} | {r['limitedBy']} |")
    failures = [
        f"- {label} / {LABELS.get(name, name)}: {out.get('error', '')[:500]}"
        for label, by in results.items()
        for name, out in by.items()
        if not out.get("ok")
    ]
    if failures:
        lines += ["", "## failed runs", "", *failures]
    lines.append("")
    return "\n".join(lines)


def machine_info(*, mode: str, trace: Path, repeat: int, elapsed_s: float, names: list[str]) -> dict[str, str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return {
        "mode": mode,
        "machine": f"{os.cpu_count()} x {cpu}, {mem_gb:.0f} GB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, Node {node}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "elapsed": f"{elapsed_s / 60:.1f} min",
        "trace": trace.name,
        "repeat": str(repeat),
    }


def plots(results: Results, names: list[str], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    ramp = {n: _get(results, "ramp", n) for n in names}
    if any(ramp.values()):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
        for name, r in ramp.items():
            if r is None:
                continue
            xs = [s["offered"] for s in r["steps"]]
            ax1.plot(xs, [s["latency"].get("p50") for s in r["steps"]], "o--", color=COLORS[name], alpha=0.6)
            ax1.plot(xs, [s["latency"].get("p99") for s in r["steps"]], "o-", color=COLORS[name], label=LABELS[name])
            ax2.plot(xs, [s["serverCpuPct"] for s in r["steps"]], "o-", color=COLORS[name], label=LABELS[name])
        ax1.axhline(100, color="grey", lw=0.8, ls=":")
        ax1.set_yscale("log")
        ax1.set_xlabel("offered edits/s (50 pages x 4 editors)")
        ax1.set_ylabel("relay latency, ms (solid p99, dashed p50)")
        ax1.set_title("Latency vs offered load")
        ax1.legend()
        ax2.set_xlabel("offered edits/s")
        ax2.set_ylabel("server CPU, % of one core")
        ax2.set_title("Server CPU vs offered load")
        ax2.legend()
        fig.tight_layout()
        path = out / "latency-vs-load.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    idle = {n: _get(results, "idle", n) for n in names}
    if any(idle.values()):
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        for name, r in idle.items():
            if r is None:
                continue
            curve = r["curve"]
            ax.plot(
                [c["pages"] for c in curve], [c["rssMB"] for c in curve], "o-", color=COLORS[name], label=LABELS[name]
            )
        ax.set_xlabel("pages open (10 idle connections each)")
        ax.set_ylabel("server RSS, MB")
        ax.set_title("RSS vs pages (idle connections)")
        ax.legend()
        fig.tight_layout()
        path = out / "rss-vs-pages.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    bars = [
        ("trace time", "trace", lambda r: r["timeS"]),
        ("trace CPU/edit", "trace", lambda r: r["serverCpuPerEditUs"]),
        ("paced p99", "paced", lambda r: r["latency"]["p99"]),
        ("fanout p99", "fanout", lambda r: r["latency"]["p99"]),
        ("fanout CPU/edit", "fanout", lambda r: r["serverCpuPerEditUs"]),
        ("fanout RSS", "fanout", lambda r: r["hwmMB"]),
        ("join history", "join-trace", lambda r: r["p50"]),
        ("idle RSS/conn", "idle", lambda r: r["perConnKB"]),
    ]
    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / max(1, len(names))
    any_bar = False
    for k, name in enumerate(names):
        ratios = []
        for _title, label, fn in bars:
            ref, res = _get(results, label, REFERENCE), _get(results, label, name)
            try:
                ratios.append(fn(res) / fn(ref) if ref and res else 0.0)
            except (KeyError, TypeError, ZeroDivisionError):
                ratios.append(0.0)
        any_bar = any_bar or any(ratios)
        ax.bar([i + k * width for i in range(len(bars))], ratios, width, color=COLORS[name], label=LABELS[name])
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(bars))], [b[0] for b in bars])
    ax.set_ylabel("ratio to y-websocket server (lower is better)")
    ax.set_title("Every figure as a ratio to y-websocket's, same run")
    ax.legend()
    fig.tight_layout()
    if any_bar:
        path = out / "ratios.png"
        fig.savefig(path, dpi=110)
        written.append(path)
    plt.close(fig)
    return written
