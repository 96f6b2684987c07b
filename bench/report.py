"""The bench's outputs: summaries, the markdown table and the plot."""

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


def _best(v: dict[str, Any]) -> str:
    best = v.get("ratio_throughput_best")
    return f"; best runs {best:.2f}" if best is not None else ""


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# txi2p benchmarks ({results['started']}, {'quick' if results['quick'] else 'full'} run)",
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
                         f"{_best(v)} | "
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
                  f"{_ratio(t['ratio_throughput'], '>= 0.9')}{_best(t)} (goal >= 0.9) |", ""]
    s = results.get("shim")
    if s:
        lines += [f"| shim sendall/recv, {s['transfer_mib']:.0f} MiB | MB/s | ratio |", "|---|---|---|",
                  f"| raw | {_fmt(s['raw'])} | baseline |",
                  f"| txi2p.socket | {_fmt(s['shim'])} | {_ratio(s['ratio_throughput'], '>= 0.8')}{_best(s)} "
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
            f"NAMING LOOKUP, {ctl['lookups']} on one connection: one at a time raw "
            f"{ctl['raw_sequential_per_s']:.0f}/s, txi2p {ctl['txi2p_sequential_per_s']:.0f}/s; "
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
    ax.set_title("txi2p throughput on the private I2P network")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def results_dir(quick: bool) -> Path:
    """Full runs write bench/results/; quick runs bench/results/quick/ (the committed figures stay)."""
    return RESULTS / "quick" if quick else RESULTS


def write_outputs(results: dict[str, Any], notes: Path | None) -> None:
    out = results_dir(results["quick"])
    out.mkdir(parents=True, exist_ok=True)
    if notes is not None and notes.exists() and not results["quick"]:
        results["notes"] = [line[2:].strip() for line in notes.read_text().splitlines() if line.startswith("- ")]
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "latest.md").write_text(markdown(results))
    plot(results, out / "throughput.png")
