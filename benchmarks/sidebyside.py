"""What every benchmark shares: timing a call, printing a measurement beside its peer, recording it.

Each ``bench_*.py`` prints its lines as it runs. With ``BENCH_RESULTS=path`` set (``make
bench`` sets it), every line is also appended to that file as one JSON record, and
``python benchmarks/sidebyside.py RESULTS BENCHMARKS.md`` turns the records of one run into
the report: the machine, each comparison with a peer as a ratio with its outputs checked,
each target, and how throughput grows with the batch and the number of images.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = "BENCH_RESULTS"


def timed(fn: Callable, repeats: int = 2, pick: Callable = min):
    """``pick`` (default the best) of ``repeats`` wall-clock times of ``fn()``, and its last output.

    The best time leaves out what the first run alone pays (allocations, plans); pass
    ``pick=statistics.median`` for the median.
    """
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return pick(times), out


def record(bench: str, kind: str, **fields) -> None:
    """Append one measurement to ``$BENCH_RESULTS`` (if set) as a JSON line."""
    path = os.environ.get(RESULTS)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"bench": bench, "kind": kind, **fields}) + "\n")


def compare(bench: str, name: str, ours: float, peer: float, peer_name: str, outputs: str,
            agree: bool, width: int = 36) -> None:
    """Print and record ``name``: our seconds beside the peer's, their ratio, and how the outputs compare."""
    print(f"{name:{width}} ours {ours:7.2f} s   {peer_name} {peer:7.2f} s   ratio {peer / ours:6.1f}x   {outputs}")
    record(bench, "peer", what=name, peer=peer_name, ours_s=ours, peer_s=peer, ratio=peer / ours,
           outputs=outputs, agree=bool(agree))


def target(bench: str, name: str, measured: float, goal: float, unit: str, detail: str = "",
           lower_is_better: bool = True) -> None:
    """Record a measurement against its target (the ratio is measured / target)."""
    record(bench, "target", what=name, measured=measured, target=goal, unit=unit, detail=detail,
           ratio=measured / goal, lower_is_better=lower_is_better)


def scaling(bench: str, name: str, axis: str, value: int, images: int, seconds: float) -> None:
    """Print and record images per second of ``name`` at one point along ``axis`` ("batch" or "images")."""
    rate = images / seconds
    print(f"{name:40} {axis} {value:>6}: {images:>6} images in {seconds:7.3f} s = {rate:9.0f} images/s")
    record(bench, "scaling", what=name, axis=axis, value=value, images=images, seconds=seconds,
           images_per_s=rate)


# --------------------------------------------------------------------------- the report

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """The machine a run measured: CPU model, cores, torch and its threads, GPU if any."""
    import torch

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
            "load": "%.2f %.2f %.2f" % os.getloadavg()}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")   # a bar inside a cell would end it


def _peer_table(rows) -> list[str]:
    lines = ["| benchmark | what | peer | ours | peer | ratio | outputs |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        check = "✓" if r["agree"] else "✗"
        lines.append(f"| {r['bench']} | {_cell(r['what'])} | {_cell(r['peer'])} | {r['ours_s']:.3g} s "
                     f"| {r['peer_s']:.3g} s | **{r['ratio']:.1f}×** | {check} {_cell(r['outputs'])} |")
    return lines


def _target_table(rows) -> list[str]:
    lines = ["| benchmark | what | target | measured | measured / target |", "|---|---|---|---|---|"]
    for r in rows:
        sign = "≤" if r["lower_is_better"] else "≥"
        detail = f" ({r['detail']})" if r["detail"] else ""
        lines.append(f"| {r['bench']} | {_cell(r['what'])} | {sign} {r['target']:g} {r['unit']} "
                     f"| {r['measured']:.3g} {r['unit']}{detail} | {r['ratio']:.2f} |")
    return lines


def _scaling_tables(rows) -> list[str]:
    lines = []
    groups = {}
    for r in rows:
        groups.setdefault((r["what"], r["axis"]), []).append(r)
    for (what, axis), rs in groups.items():
        lines += ["", f"**{what}**, as the {'batch' if axis == 'batch' else 'number of images'} grows:", ""]
        if axis == "batch":
            lines += ["| batch | images | seconds | images/s |", "|---|---|---|---|"]
            lines += [f"| {r['value']:,} | {r['images']:,} | {r['seconds']:.3f} | {r['images_per_s']:,.0f} |"
                      for r in rs]
        else:
            lines += ["| images | seconds | images/s |", "|---|---|---|"]
            lines += [f"| {r['images']:,} | {r['seconds']:.3f} | {r['images_per_s']:,.0f} |" for r in rs]
    return lines


def _book_tables(rows, sweeps) -> list[str]:
    lines = ["| chapter | cold (empty cache) | warm (same cache) |", "|---|---|---|"]
    lines += [f"| {r['what']} | {r['cold_s']:.0f} s | {r['warm_s']:.1f} s |" for r in rows]
    cold, warm = sum(r["cold_s"] for r in rows), sum(r["warm_s"] for r in rows)
    lines.append(f"| the whole book | {cold / 60:.1f} min | {warm:.0f} s |")
    for r in sweeps:
        lines += ["", f"`freqlens-sweep` filled an empty cache in {r['sweep_s'] / 60:.1f} min; the chapters then "
                      f"ran in {r['chapters_s'] / 60:.1f} min, against {r['sequential_s'] / 60:.1f} min for the "
                      "chapters training their networks one after another."]
    return lines


def write_markdown(records: list[dict], info: dict, out: Path, seconds: float | None = None) -> None:
    """Write ``out`` (BENCHMARKS.md) from one run's records and its machine."""
    peers = [r for r in records if r["kind"] == "peer"]
    targets = [r for r in records if r["kind"] == "target"]
    scale = [r for r in records if r["kind"] == "scaling"]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    took = f", {seconds / 60:.1f} min in all" if seconds else ""
    lines = [
        "# Benchmarks", "",
        f"Written by `make bench` from one run ({when}{took}); each benchmark is in `benchmarks/`.", "",
        "## The machine", "",
        f"- CPU: {info['cpu']}, {info['cores']} cores; GPU: {info['gpu']}",
        f"- torch {info['torch']} on {info['threads']} threads, Python {info['python']}",
        f"- load average when the report was written: {info['load']} (a shared machine slows every "
        "timing alike for the two sides of a comparison, which run in turn)", "",
        "## Beside their peers", "",
        "Ratio: the peer's time over ours (above 1: ours is faster). ✓: the outputs were checked "
        "and agree as stated.", "",
        *_peer_table(peers), "",
    ]
    if targets:
        lines += ["## Against the targets", "", *_target_table(targets), ""]
    if scale:
        lines += ["## How throughput scales", "",
                  "Images per second of one call, as the batch it is given and the number of images grow.",
                  *_scaling_tables(scale), ""]
    book = [r for r in records if r["kind"] == "book"]
    if book:
        lines += ["## The whole book", "",
                  "Each chapter executed top to bottom in a fresh kernel (nbclient), in order: first with an "
                  "empty experiment cache, as from a fresh clone (every network trained, every measurement "
                  "computed), then again on the same cache.", "",
                  *_book_tables(book, [r for r in records if r["kind"] == "sweep"]), ""]
    out.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description="Write BENCHMARKS.md from one run's records")
    parser.add_argument("results", type=Path, help="the JSON lines the benchmarks appended ($BENCH_RESULTS)")
    parser.add_argument("out", type=Path, help="the Markdown file to write")
    parser.add_argument("--seconds", type=float, default=None, help="how long the run took")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    if not records:
        raise SystemExit(f"{args.results} holds no measurements: did the benchmarks run with {RESULTS} set?")
    write_markdown(records, machine(), args.out, args.seconds)
    print(f"wrote {args.out}: {len(records)} measurements")


if __name__ == "__main__":
    main()
