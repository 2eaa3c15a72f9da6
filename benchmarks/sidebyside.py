"""What every benchmark shares: timing a call, printing a measurement beside its peer, recording it.

Each ``bench_*.py`` prints its lines as it runs. With ``BENCH_RESULTS=path`` set (``make
bench`` sets it), every line is also appended to that file as one JSON record, and
``python benchmarks/sidebyside.py RESULTS BENCHMARKS.md`` turns the records of one run into
the report: the machine, each comparison with a peer as a ratio with its outputs checked,
each target, and how throughput grows with the batch and the number of images.

Beside its peer, a method is also timed against its floor: the bare passes of the network
it makes (:func:`count_passes` watches one run of the method; :func:`bare_passes` makes the
same forward and backward passes again, at the same batches, on the same model and
images, with nothing else around them). floor / ours is 1.0 for a method that costs no
more than its network passes, the limit of the machine for that method.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
            agree: bool, width: int = 36, *, floor: float | None = None, passes: str | None = None) -> None:
    """Print and record ``name``: our seconds beside the peer's, their ratio, and how the outputs compare.

    ``floor`` is the seconds of the bare network passes the method makes (see
    :func:`bare_passes`), ``passes`` what they are (:func:`describe`); floor / ours is
    printed and recorded beside the peer's ratio.
    """
    line = f"{name:{width}} ours {ours:7.2f} s   {peer_name} {peer:7.2f} s   ratio {peer / ours:6.1f}x"
    if floor is not None:
        line += f"   floor {floor:7.2f} s = {floor / ours:4.2f} of ours"
    print(f"{line}   {outputs}")
    extra = {} if floor is None else dict(floor_s=floor, floor_ratio=floor / ours, passes=passes or "")
    record(bench, "peer", what=name, peer=peer_name, ours_s=ours, peer_s=peer, ratio=peer / ours,
           outputs=outputs, agree=bool(agree), **extra)


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


def memory(bench: str, name: str, before: int, after: int, before_label: str, after_label: str) -> None:
    """Print and record the peak resident memory (bytes above the start) of ``name`` done two ways."""
    print(f"{name:40} {before_label}: {before / 2**20:7.0f} MB   {after_label}: {after / 2**20:7.0f} MB   "
          f"{before / max(after, 1):5.1f}x less")
    record(bench, "memory", what=name, before_bytes=before, after_bytes=after, before_label=before_label,
           after_label=after_label, ratio=before / max(after, 1))


# --------------------------------------------------------------------------- the floor

@dataclass(frozen=True)
class Pass:
    """One call of the network: the shape of its input, whether it built a graph, and its backward passes.

    ``backward`` counts the backward passes that went through the call's output (DeepFool
    makes one per class); ``train`` marks a training step's pass (train mode, the loss
    differentiated with respect to the weights, not the input).
    """

    shape: tuple[int, ...]
    grad: bool = False
    backward: int = 0
    train: bool = False


def count_passes(model, fn: Callable) -> tuple[list[Pass], object]:
    """Run ``fn()`` once with ``model`` watched: every call of the network it makes, and ``fn``'s output.

    A forward hook notes each call's input shape and whether gradients were on; a hook on
    its output counts the backward passes that reach it. Watching costs a little, so the
    timed runs of the method are made without it.
    """
    import torch

    seen: list[list] = []

    def on_forward(module, args, output):
        entry = [tuple(args[0].shape), torch.is_grad_enabled(), 0]
        seen.append(entry)
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(lambda grad: entry.__setitem__(2, entry[2] + 1))

    handle = model.register_forward_hook(on_forward)
    try:
        out = fn()
    finally:
        handle.remove()
    return [Pass(shape, grad, backward) for shape, grad, backward in seen], out


def training_passes(n: int, batch_size: int, epochs: int, image_shape=(3, 32, 32)) -> list[Pass]:
    """The passes of ``epochs`` epochs over ``n`` images in batches of ``batch_size`` (the last one short)."""
    sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)] * epochs
    return [Pass((b, *image_shape), grad=True, backward=1, train=True) for b in sizes]


def describe(passes: Sequence[Pass]) -> str:
    """The passes in a few words: how many forward and backward passes, over how many images, at what batch."""
    forward = len(passes)
    seen = sum(p.shape[0] for p in passes)
    largest = max(p.shape[0] for p in passes)
    if all(p.train for p in passes):
        return (f"{forward:,} forward + backward passes to the weights ({seen:,} images), "
                f"batch ≤ {largest:,}")
    backward = sum(p.backward for p in passes)
    text = f"{forward:,} forward ({seen:,} images)"
    if backward:
        text += f" + {backward:,} backward to the input ({sum(p.shape[0] * p.backward for p in passes):,} images)"
    return f"{text}, batch ≤ {largest:,}"


@dataclass
class Timed:
    """Ours and the peer's seconds and outputs, and the floor of ours: its passes' seconds and what they are."""

    ours_s: float
    ours: object
    peer_s: float
    peer: object
    floor_s: float
    passes: str


def side_by_side(model, ours: Callable, peer: Callable, images=None, labels=None, repeats: int = 2) -> Timed:
    """The best of ``repeats`` times of ``ours()``, ``peer()`` and the bare passes of ``model`` that ``ours()`` makes.

    The passes are counted in one run of ``ours()`` before the timed ones (which is
    also their warm-up); the floor runs on ``images`` (and ``labels``). The three take
    turns, one run each per round, so that a shared machine's changing load falls on
    all of them alike.
    """
    passes, _ = count_passes(model, ours)
    floor = bare_passes(model, passes, images, labels)
    best = {"ours": float("inf"), "peer": float("inf"), "floor": float("inf")}
    outputs = {}
    for _ in range(repeats):
        for name, fn in (("ours", ours), ("peer", peer), ("floor", floor)):
            seconds, outputs[name] = timed(fn, 1)
            best[name] = min(best[name], seconds)
    return Timed(best["ours"], outputs["ours"], best["peer"], outputs["peer"], best["floor"], describe(passes))


def _inputs_like(images, labels, shape, device):
    """``shape[0]`` of ``images`` (repeated if needed) and their labels; noise where the shapes differ."""
    import torch

    n = shape[0]
    if images is not None and tuple(images.shape[1:]) == tuple(shape[1:]):
        idx = torch.arange(n) % images.shape[0]
        x = images[idx].contiguous()
        y = labels[idx] if labels is not None else torch.zeros(n, dtype=torch.long)
    else:
        x, y = torch.rand(shape), torch.zeros(n, dtype=torch.long)
    return x.to(device), y.to(device)


def bare_passes(model, passes: Sequence[Pass], images=None, labels=None, channels_last: bool = False) -> Callable:
    """A function that makes ``passes`` of ``model`` and nothing else: the floor of the method that made them.

    Each pass runs on inputs of its shape drawn from ``images`` (made once, before
    timing), on the model's device, in float32, as :func:`freqlens.execution.run` runs
    the methods: eval mode; no graph for a pass without gradients; for a pass with
    ``backward`` passes, the input gradient of the output (against a fixed output
    gradient) that many times, the graph kept until the last. A training pass runs in
    train mode and differentiates the cross-entropy with respect to the weights; no
    optimiser step (``channels_last`` as the trainer runs its network).
    """
    import torch
    from torch.nn import functional as F

    from freqlens.execution import model_device, precision
    from freqlens.models import eval_mode

    device = model_device(model)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    inputs = {}
    for p in passes:
        if p.shape not in inputs:
            x, y = _inputs_like(images, labels, p.shape, device)
            inputs[p.shape] = (x.contiguous(memory_format=fmt), y)

    def one(p: Pass) -> None:
        x, y = inputs[p.shape]
        if p.train:
            F.cross_entropy(model(x), y).backward()
            model.zero_grad(set_to_none=True)
        elif not p.grad:
            with torch.no_grad():
                model(x)
        else:
            x = x.detach().requires_grad_(True)
            out = model(x)
            if p.backward:
                seed = torch.ones_like(out)
                for j in range(p.backward):
                    torch.autograd.grad(out, x, seed, retain_graph=j + 1 < p.backward)

    def make() -> None:
        if passes and passes[0].train:
            was = model.training
            model.train()
            try:
                for p in passes:
                    one(p)
            finally:
                model.train(was)
            return
        with eval_mode(model), precision(device):
            for p in passes:
                one(p)

    return make


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


def _floor_cells(r) -> str:
    if "floor_s" not in r:
        return "— | —"
    return f"{r['floor_s']:.3g} s | **{r['floor_ratio']:.2f}**"


def _peer_table(rows) -> list[str]:
    lines = ["| benchmark | what | peer | ours | peer | ratio | floor | floor / ours | outputs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        check = "✓" if r["agree"] else "✗"
        lines.append(f"| {r['bench']} | {_cell(r['what'])} | {_cell(r['peer'])} | {r['ours_s']:.3g} s "
                     f"| {r['peer_s']:.3g} s | **{r['ratio']:.1f}×** | {_floor_cells(r)} "
                     f"| {check} {_cell(r['outputs'])} |")
    return lines


def _passes_list(rows) -> list[str]:
    return [f"- {r['bench']}, {r['what']}: {r['passes']}" for r in rows if r.get("passes")]


def _memory_table(rows) -> list[str]:
    lines = ["| benchmark | what | before | peak | after | peak | before / after |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['bench']} | {_cell(r['what'])} | {_cell(r['before_label'])} | {r['before_bytes'] / 2**20:,.0f} MB "
              f"| {_cell(r['after_label'])} | {r['after_bytes'] / 2**20:,.0f} MB | **{r['ratio']:.1f}×** |"
              for r in rows]
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
        "and agree as stated. Floor: the bare network passes the method makes (the same forward "
        "and backward passes, at the same batches, on the same model and images, with nothing else "
        "around them), timed in the same run; floor / ours is 1.00 for a method at the limit of the "
        "machine, and the share of our time the network itself takes. —: no floor measured (the "
        "Fourier split makes no network pass).", "",
        *_peer_table(peers), "",
    ]
    above = [r["what"] for r in peers if r.get("floor_ratio", 0) > 1.05]
    if above:
        lines += [f"Floor / ours above 1 ({', '.join(above)}): the bare passes took longer than the method "
                  "that makes them, so the method runs at the limit of the machine. Each side is the best of "
                  "one or two timed runs, so a few percent is the machine's noise; a larger gap is not "
                  "explained.", ""]
    passes = _passes_list(peers)
    if passes:
        lines += ["The floors' passes, as counted in a run of each method:", "", *passes, ""]
    held = [r for r in records if r["kind"] == "memory"]
    if held:
        lines += ["## Memory", "",
                  "Peak resident memory above the resident memory just before the call, each case in a "
                  "fresh process (`benchmarks/bench_memory.py`): all images in one batch, as the package "
                  "ran them before every model call went through `freqlens.execution.run`, against the "
                  "default batch.", "", *_memory_table(held), ""]
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
