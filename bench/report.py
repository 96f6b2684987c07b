"""The bench's outputs: summaries, the markdown table and the plot of one router's run,
and the routers' key figures side by side.

    .venv/bin/python bench/report.py [--quick] [--since EPOCH] ROUTER...

writes bench/results[/quick]/latest.md (and latest.json, throughput.png)
from each ROUTER's bench/results[/quick]/ROUTER/latest.json; scripts/bench.sh
runs it after its passes.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def say(text: str) -> None:
    import time

    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _fmt(s: dict[str, float], unit: str = "") -> str:
    if not s.get("n"):
        return "-"
    return f"{s['median']:.2f}{unit} [{s['min']:.2f}-{s['max']:.2f}]"


def _ratio(value: float | None, goal: str) -> str:
    if value is None:
        return "-"
    bound = float(goal.split()[-1])
    met = value >= bound if goal.startswith(">=") else value <= bound
    return f"{value:.2f} ({'met' if met else 'missed'})"


def _best(v: dict[str, Any], goal: str | None = None) -> str:
    """The best runs' ratio beside the median's, with its own verdict when
    there is a *goal* (a median alone can hide a router's two speed modes)."""
    best = v.get("ratio_throughput_best")
    if best is None:
        return ""
    return f"; best runs {_ratio(best, goal)}" if goal else f"; best runs {best:.2f}"


def _lookup_rate(ctl: dict[str, Any], name: str) -> str:
    spread = ctl.get(f"{name}_sequential")
    if spread:
        return f"{spread['median']:.0f}/s [{spread['min']:.0f}-{spread['max']:.0f}]"
    return f"{ctl[f'{name}_sequential_per_s']:.0f}/s"


def markdown(results: dict[str, Any]) -> str:
    router = results.get("router", "system")
    lines = [
        f"# txi2p benchmarks on {router} ({results['started']}, {'quick' if results['quick'] else 'full'} run)",
        "",
        f"Routers: {results.get('router_version', '?')} ({results.get('i2pd') or 'the default i2pd'}); "
        f"sections: {', '.join(results.get('sections', [])) or '-'}. "
        "All routers side by side: [latest.md](../latest.md).",
        "",
        f"Bulk transfers of {results['transfer_mib']} MiB, {results['repetitions']} repetitions interleaved, "
        f"{results['cpus']} CPUs; median [min-max]; ratios to the baseline measured in the same run.",
        "",
    ]
    b = results.get("bulk")
    if b:
        lines += ["| bulk, one stream | MB/s | ratio to raw (goal >= 0.97) | CPU ms per MiB | "
                  "ratio to raw (goal <= 1.1) |", "|---|---|---|---|---|"]
        for name, v in b.items():
            lines.append(f"| {name} | {_fmt(v['mbps'])} | "
                         f"{_ratio(v.get('ratio_throughput'), '>= 0.97') if name != 'raw' else 'baseline'}"
                         f"{_best(v, '>= 0.97') if name != 'raw' else ''} | "
                         f"{_fmt(v['cpu_ms_per_mib'])} | "
                         f"{_ratio(v.get('ratio_cpu'), '<= 1.1') if name != 'raw' else 'baseline'} |")
        events = {k: v["receive_events_per_mib"]["median"] for k, v in b.items()
                  if v.get("receive_events_per_mib", {}).get("n")}
        lines += ["", f"txi2p's CPU per MiB is {b['txi2p']['ratio_cpu_to_twisted']:.2f} x that of a minimal "
                      "Twisted SAM client written in the bench (\"twisted, no txi2p\"): the rest of the gap to "
                      "raw is the reactor's cost per read. Receive events per MiB (median): "
                      + ", ".join(f"{k} {v:.0f}" for k, v in events.items()) + "."]
        lines.append("")
    for name, status in results.get("peers", {}).items():
        if status != "ready":
            lines.append(f"- peer **{name}**: {status}")
    lines.append("")
    t = results.get("tunnels")
    if t:
        lines += ["| tunnel relay | MB/s | ratio |", "|---|---|---|",
                  f"| i2pd native tunnels | {_fmt(t['i2pd native'])} | baseline |",
                  f"| txi2p TunnelServer + TunnelClient | {_fmt(t['txi2p'])} | "
                  f"{_ratio(t['ratio_throughput'], '>= 0.9')}{_best(t, '>= 0.9')} (goal >= 0.9) |", ""]
    s = results.get("shim")
    if s:
        lines += [f"| shim sendall/recv, {s['transfer_mib']:.0f} MiB | MB/s | ratio |", "|---|---|---|",
                  f"| raw | {_fmt(s['raw'])} | baseline |",
                  f"| txi2p.socket | {_fmt(s['shim'])} | {_ratio(s['ratio_throughput'], '>= 0.8')}{_best(s, '>= 0.8')} "
                  "(goal >= 0.8) |", ""]
    c = results.get("concurrency")
    if c:
        lines += ["| concurrent streams | bytes each | total MB/s | failed |", "|---|---|---|---|"]
        for value in sorted((v for v in c.values() if isinstance(v, dict)), key=lambda v: v["streams"]):
            lines.append(f"| {value['streams']} | {value['bytes_each'] // 1024} KiB | {value['mbps']:.1f} | "
                         f"{value['failed']} |")
        if "rss_kib_per_stream" in c:
            lines += ["", f"Memory per open stream end ({c['idle_streams']} streams open before sending, both "
                          f"ends in the bench process): RSS {c['rss_kib_per_stream']:.1f} KiB, Python heap "
                          f"(tracemalloc) {c['python_kib_per_stream']:.1f} KiB (goal < 30 KiB)."]
        lines.append("")
    ctl = results.get("control")
    if ctl:
        lines += [
            f"NAMING LOOKUP, {ctl['lookups']} one at a time, raw and txi2p interleaved in "
            f"{ctl.get('lookup_rounds', 1)} rounds (median [min-max] per round): raw "
            f"{_lookup_rate(ctl, 'raw')}, txi2p {_lookup_rate(ctl, 'txi2p')}; "
            f"pipelined (all sent at once, raw): {ctl['raw_pipelined_replies']} of {ctl['lookups']} answered "
            f"(txi2p pipelines on this router: {ctl['txi2p_pipelines']}).",
            "",
            "| listen() to a first accepted stream (s) | raw | txi2p |", "|---|---|---|",
            f"| ready session (listen, connect, 64 KiB) | "
            f"{_fmt(ctl['ready_session_listen_to_first_stream_s']['raw'])} | "
            f"{_fmt(ctl['ready_session_listen_to_first_stream_s']['txi2p'])} |",
            f"| new session (router's session start included) | "
            f"{_fmt(ctl['new_session_listen_to_first_stream_s']['raw'])} | "
            f"{_fmt(ctl['new_session_listen_to_first_stream_s']['txi2p'])} |",
            "",
            f"Private network start to first ready sessions: {results.get('router_session_start_s')} s.",
            ""]
    failover = _dig(results, "failover", "seconds_to_first_response")
    if failover:
        missed = _dig(results, "failover", "not_within_bound") or {}
        lines += [f"| a multihomed site's home killed: s to a client's first response (bound "
                  f"{_dig(results, 'failover', 'bound_s')} s) | median [min-max] | not within the bound |",
                  "|---|---|---|"]
        lines += [f"| {kind.replace('_', ' ')} | {_fmt(s)} | {missed.get(kind, 0)} |" for kind, s in failover.items()]
        lines.append("")
    launched = _dig(results, "launch", "launch_to_ready_s")
    if launched:
        lines += ["| txi2p.launch() to ready (s), joining the private network | median [min-max] |", "|---|---|",
                  f"| first start (reseed file) | {_fmt(launched['first_start'])} |",
                  f"| restart, data directory kept | {_fmt(launched['restart_kept_data_directory'])} |", ""]
    if results.get("failures"):
        lines += ["**Failures:** " + "; ".join(results["failures"]), ""]
    if results.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        say("matplotlib is not installed: no plot")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted((v for v in results.get("concurrency", {}).values() if isinstance(v, dict)),
                    key=lambda v: v["streams"])
    if not points:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p["streams"] for p in points], [p["mbps"] for p in points], marker="o", label="txi2p, total")
    bulk = results.get("bulk", {})
    for name, style in (("raw", "--"), ("txi2p-tahoe", ":")):
        if name in bulk and bulk[name]["mbps"]["n"]:
            ax.axhline(bulk[name]["mbps"]["median"], color="grey", linestyle=style, label=f"{name}, 1 stream")
    ax.set_xscale("log")
    ax.set_xlabel("concurrent streams on one session")
    ax.set_ylabel("total throughput (MB/s)")
    ax.set_title(f"txi2p throughput, {results.get('router', 'system')} ({results.get('router_version', '?')})",
                 fontsize="medium")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def results_dir(quick: bool, router: str | None = None) -> Path:
    """Full runs write bench/results/; quick runs bench/results/quick/ (the committed figures stay).

    A router's own run goes into the subdirectory named after it; the routers
    side by side are in the directory itself.
    """
    out = RESULTS / "quick" if quick else RESULTS
    return out / router if router else out


def write_outputs(results: dict[str, Any], notes: Path | None) -> None:
    out = results_dir(results["quick"], results.get("router", "system"))
    out.mkdir(parents=True, exist_ok=True)
    if notes is not None and notes.exists() and not results["quick"]:
        results["notes"] = [line[2:].strip() for line in notes.read_text().splitlines() if line.startswith("- ")]
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "latest.md").write_text(markdown(results))
    plot(results, out / "throughput.png")


# Figures that are not measured by this bench (not in CI): written here by
# hand, with how and when they were measured, and shown under the routers'
# side-by-side table.  The lead fills in the placeholder.
MEASURED_BY_HAND = [
    "Java I2P 2.7.0, session start: SESSION CREATE answered in 2.1-5.1 s (1-hop tunnels, "
    "2 each way; 8 runs on 2026-11-23, a Java router in this private network with i2pd 2.56.0 "
    "floodfills); its SAM port accepts 0.6-1.0 s after launch. i2pd's own session start is the "
    "new-session figure above.",
]


def _dig(results: dict[str, Any] | None, *keys: str) -> Any:
    value: Any = results
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _cell_fmt(s: dict[str, float] | None) -> str:
    return _fmt(s) if s else "-"


def _cell_ratio(section: dict[str, Any] | None, goal: str) -> str:
    if not section or section.get("ratio_throughput") is None:
        return "-"
    return f"{_ratio(section['ratio_throughput'], goal)}{_best(section, goal)}"


def _peer_cell(results: dict[str, Any] | None, name: str) -> str | None:
    """What to show instead of a peer's figure when it did not run."""
    status = _dig(results, "peers", name)
    if status is None or status == "ready":
        return None
    return "does not run (below)" if status.startswith("does not run") else "failed (below)"


def side_by_side(runs: dict[str, dict[str, Any] | None]) -> list[tuple[str, list[str]]]:
    """The key figures of each router's run: (row heading, one cell per router)."""
    results = list(runs.values())
    rows: list[tuple[str, list[str]]] = []

    def row(heading: str, cell: Any) -> None:
        rows.append((heading, [cell(r) if r is not None else "no results" for r in results]))

    row("router version", lambda r: r.get("router_version", "?"))
    row("run", lambda r: f"{r['started']}, {'quick' if r['quick'] else 'full'}, "
                         f"{r.get('duration_s', '?')} s; {', '.join(r.get('sections', [])) or '-'}")
    contenders: list[str] = []
    for r in results:
        for name in list(_dig(r, "bulk") or {}) + list(_dig(r, "peers") or {}):
            if name not in contenders:
                contenders.append(name)
    for metric, unit in (("mbps", "MB/s"), ("cpu_ms_per_mib", "CPU ms per MiB")):
        for name in contenders:
            row(f"bulk, one stream: {name}, {unit}",
                lambda r, name=name, metric=metric: (
                    _cell_fmt(_dig(r, "bulk", name, metric)) if _dig(r, "bulk", name, metric, "n")
                    else (_peer_cell(r, name) if "bulk" in r else None) or "-"))
    row("tunnel relay: txi2p / i2pd native tunnels, MB/s ratio (goal >= 0.9)",
        lambda r: _cell_ratio(r.get("tunnels"), ">= 0.9"))
    row("shim: txi2p.socket / raw, MB/s ratio (goal >= 0.8)", lambda r: _cell_ratio(r.get("shim"), ">= 0.8"))
    counts = sorted({v["streams"] for r in results for v in (_dig(r, "concurrency") or {}).values()
                     if isinstance(v, dict)})
    if not counts:
        row("concurrent streams: failed", lambda r: "-")
    for n in counts:
        row(f"concurrent streams, {n} at once: failed",
            lambda r, n=n: (lambda v: f"{v['failed']} of {n} ({v['mbps']:.1f} MB/s total)" if v else "-")(
                _dig(r, "concurrency", str(n))))
    row("memory per open stream end: RSS / Python heap",
        lambda r: (f"{c['rss_kib_per_stream']:.1f} / {c['python_kib_per_stream']:.1f} KiB "
                   f"({c['idle_streams']} open)")
        if (c := _dig(r, "concurrency")) and "rss_kib_per_stream" in c else "-")
    for name in ("raw", "txi2p"):
        row(f"NAMING LOOKUP one at a time (interleaved): {name}",
            lambda r, name=name: _lookup_rate(c, name) if (c := _dig(r, "control")) else "-")
    row("NAMING LOOKUP pipelined (raw): answered",
        lambda r: f"{c['raw_pipelined_replies']} of {c['lookups']} (txi2p pipelines: {c['txi2p_pipelines']})"
        if (c := _dig(r, "control")) else "-")
    for which, heading in (("ready", "ready session"), ("new", "new session (the router's session start)")):
        for name in ("raw", "txi2p"):
            row(f"listen() to a first stream, {heading}: {name}, s",
                lambda r, which=which, name=name: _cell_fmt(
                    _dig(r, "control", f"{which}_session_listen_to_first_stream_s", name)))
    row("private network start to first ready sessions, s",
        lambda r: str(r["router_session_start_s"]) if r.get("router_session_start_s") is not None else "-")
    row("failures", lambda r: str(len(r.get("failures") or [])) + (" (below)" if r.get("failures") else ""))
    return rows


def combined_markdown(runs: dict[str, dict[str, Any] | None], quick: bool,
                      stale: dict[str, str] | None = None) -> str:
    stale = stale or {}
    labels = list(runs)
    lines = [
        f"# txi2p benchmarks, the routers side by side ({'quick' if quick else 'full'} runs)",
        "",
        "The same bench on each router, each on a private network of its own whose routers all run "
        "that build; median [min-max] of the repetitions, ratios to the baseline measured in the same run; "
        "\"-\": not measured in that run (a section left out with --only, or a step that failed). "
        "The new-session listen() figure is the router's own session start (SESSION CREATE until a "
        "first stream is accepted).",
        "",
        "Each router's run in detail: " + ", ".join(
            f"[{label}]({label}/latest.md) ({_dig(r, 'router_version') or 'no results'})"
            for label, r in runs.items()) + ".",
        "",
    ]
    for label in labels:
        if label in stale:
            lines += [f"**{label}: these results are from an earlier run ({stale[label]}): this run's pass "
                      "wrote none (see its log).**", ""]
    lines += ["| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for heading, cells in side_by_side(runs):
        lines.append(f"| {heading} | " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines.append("")
    peers = [f"- **{name}** on {label}: {status}" for label, r in runs.items()
             for name, status in (_dig(r, "peers") or {}).items() if status != "ready"]
    if peers:
        lines += ["Peers that did not run:", "", *peers, ""]
    failures = [f"- {label}: {'; '.join(r['failures'])}" for label, r in runs.items() if r and r.get("failures")]
    if failures:
        lines += ["**Failures:**", "", *failures, ""]
    lines += ["## Measured by hand (not in CI)", "",
              "Not measured by this bench and not comparable with its figures run for run:", ""]
    lines += [f"- {note}" for note in MEASURED_BY_HAND] + [""]
    return "\n".join(lines)


def combined_plot(runs: dict[str, dict[str, Any] | None], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        say("matplotlib is not installed: no plot")
        return
    series = {}
    for label, r in runs.items():
        points = sorted((v for v in (_dig(r, "concurrency") or {}).values() if isinstance(v, dict)),
                        key=lambda v: v["streams"])
        if points:
            series[f"{label} ({_dig(r, 'router_version')})"] = points
    if not series:
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in series.items():
        ax.plot([p["streams"] for p in points], [p["mbps"] for p in points], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("concurrent streams on one session")
    ax.set_ylabel("txi2p total throughput (MB/s)")
    ax.set_title("txi2p throughput on the private I2P network, per router", fontsize="medium")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_combined(labels: list[str], quick: bool, since: float | None = None) -> Path:
    """bench/results[/quick]/latest.md (and .json, .png): *labels*' runs side by side."""
    out = results_dir(quick)
    runs: dict[str, dict[str, Any] | None] = {}
    stale: dict[str, str] = {}
    for label in labels:
        path = results_dir(quick, label) / "latest.json"
        runs[label] = json.loads(path.read_text()) if path.exists() else None
        started = _dig(runs[label], "started_epoch")
        if since is not None and runs[label] is not None and (started is None or started < since):
            stale[label] = runs[label]["started"]  # type: ignore[index]
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(combined_markdown(runs, quick, stale))
    (out / "latest.json").write_text(json.dumps({
        "quick": quick,
        "routers": {label: {"router_version": _dig(r, "router_version"), "started": _dig(r, "started"),
                            "stale": label in stale, "details": f"{label}/latest.json"}
                    for label, r in runs.items()},
        "key_figures": [{"figure": heading, **dict(zip(labels, cells, strict=True))}
                        for heading, cells in side_by_side(runs)],
        "measured_by_hand": MEASURED_BY_HAND}, indent=2))
    combined_plot(runs, out / "throughput.png")
    return out / "latest.md"


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="The routers' bench results side by side.")
    parser.add_argument("--quick", action="store_true", help="the quick runs' results (bench/results/quick/)")
    parser.add_argument("--since", type=float, help="mark runs started before this Unix time as stale")
    parser.add_argument("routers", nargs="+", help="router labels (bench/results[/quick]/LABEL/latest.json)")
    args = parser.parse_args()
    path = write_combined(args.routers, args.quick, args.since)
    say(f"wrote {path} (and latest.json, throughput.png there): {', '.join(args.routers)} side by side")
    print(path.read_text())


if __name__ == "__main__":
    main()
