"""The book on a CUDA machine, in one prepared run of about eight minutes: `make gpu-check`.

1. the tests that need CUDA (every public function with the model on CUDA and its inputs on
   the CPU, agreeing with the CPU; mixed-precision training steps);
2. the smoke run (the full profile's code at a few hundred images) on CUDA;
3. one epoch of the full profile's standard network on all of CIFAR-10: images per second
   and peak GPU memory;
4. PGD, DeepFool, the Fourier heat map and a MoRF curve on that network beside their peers
   (torchattacks) and beside the bare network passes each must make (the floor).

Each step's output goes to the report (Markdown, default ``_build/gpu-check.md``); a step
that fails is reported and the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pytest(args: list[str], env: dict | None = None, timeout: int = 300) -> tuple[bool, str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as e:
        return False, f"timed out after {timeout} s\n{(e.stdout or '')[-3000:]}"
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
    return done.returncode == 0, tail


def _sync():
    import torch

    torch.cuda.synchronize()


def _timed(fn, repeat: int = 3) -> float:
    """The best of ``repeat`` runs, in seconds, after one warm-up run."""
    fn()
    _sync()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - start)
    return best


def environment() -> str:
    import torch

    props = torch.cuda.get_device_properties(0)
    return (f"torch {torch.__version__}, CUDA {torch.version.cuda}, {props.name}, "
            f"{props.total_memory / 2**30:.0f} GiB, bfloat16 "
            f"{'yes' if torch.cuda.is_bf16_supported() else 'no'}, {os.cpu_count()} CPU cores")


def one_epoch() -> tuple[str, object]:
    import torch

    from freqlens.train import TrainConfig, train

    config = TrainConfig.full(epochs=1)
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = train(config, progress=False, cache=False, device="cuda")
    _sync()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30
    h = result.history
    text = (f"{config.describe()}, batch {config.batch_size}: {seconds:.1f} s for the epoch and its "
            f"measurements, {50000 / seconds:,.0f} training images/s (upper bound of the epoch's "
            f"own cost), peak GPU memory {peak:.2f} GiB; test accuracy after one epoch "
            f"{h.test_acc[-1]:.3f}")
    return text, result.model


def attacks_beside_peers(model) -> str:
    import torch
    import torchattacks
    from torch.nn import functional as F

    from freqlens import attacks, heatmaps, saliency
    from freqlens.data import cifar10_tensors

    model = model.eval()
    x, y = cifar10_tensors("test", n=1000, seed=0)
    xg, yg = x.cuda(), y.cuda()
    rows = ["| method | images | ours (s) | peer (s) | peer/ours | floor (s) | floor/ours |",
            "|---|---|---|---|---|---|---|"]

    def passes(n_images, forward_backward, batch):
        def run():
            for i in range(0, n_images, batch):
                xb = xg[i % 1000:i % 1000 + batch].clone().requires_grad_(forward_backward)
                out = model(xb)
                if forward_backward:
                    torch.autograd.grad(F.cross_entropy(out, yg[i % 1000:i % 1000 + batch]), xb)
        return run

    steps, batch = 10, 1000
    ours = _timed(lambda: attacks.pgd(model, x, y, eps=8 / 255, alpha=2 / 255, steps=steps,
                                      random_start=False, batch_size=batch))
    peer = _timed(lambda: torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=steps,
                                           random_start=False)(xg, yg))
    floor = _timed(passes(1000 * steps, True, batch))
    rows.append(f"| PGD, 10 steps | 1000 | {ours:.3f} | {peer:.3f} | {peer / ours:.2f} | {floor:.3f} | "
                f"{floor / ours:.2f} |")

    xs, ys = x[:100], y[:100]
    ours = _timed(lambda: attacks.deepfool(model, xs, ys, steps=50), repeat=1)
    peer = _timed(lambda: torchattacks.DeepFool(model, steps=50)(xs.cuda(), ys.cuda()), repeat=1)
    rows.append(f"| DeepFool, 50 steps | 100 | {ours:.3f} | {peer:.3f} | {peer / ours:.2f} | | |")

    xh, yh = x[:100], y[:100]
    ours = _timed(lambda: heatmaps.fourier_heat_map(model, xh, yh, eps=4.0), repeat=1)
    floor = _timed(passes(100 * 481, False, 2048), repeat=1)
    rows.append(f"| Fourier heat map | 100 | {ours:.3f} | | | {floor:.3f} | {floor / ours:.2f} |")

    xm, ym = x[:200], y[:200]
    scores = torch.rand(200, 1, 32, 32)
    ours = _timed(lambda: saliency.perturbation_curve(model, xm, ym, scores, order="morf"), repeat=1)
    n_steps = 58
    floor = _timed(passes(200 * (n_steps + 1), False, 2048), repeat=1)
    rows.append(f"| MoRF curve, 16 pixels a step | 200 | {ours:.3f} | | | {floor:.3f} | "
                f"{floor / ours:.2f} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", default=str(ROOT / "_build" / "gpu-check.md"))
    parser.add_argument("--skip-epoch", action="store_true", help="leave out step 3 (and so step 4)")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("gpu-check needs a CUDA device, and torch sees none here.", file=sys.stderr)
        return 2
    report = [f"# gpu-check\n\n{environment()}\n"]
    failed = []

    def step(title, fn):
        print(f"== {title}", flush=True)
        start = time.perf_counter()
        try:
            ok, text = fn()
        except Exception:
            ok, text = False, traceback.format_exc()
        seconds = time.perf_counter() - start
        status = "passed" if ok else "FAILED"
        if not ok:
            failed.append(title)
        print(text, flush=True)
        report.append(f"## {title}: {status} ({seconds:.0f} s)\n\n```\n{text}\n```\n")
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text("\n".join(report))

    step("tests that need CUDA", lambda: _pytest(["-m", "cuda", "tests"]))
    step("smoke run on CUDA", lambda: _pytest(["tests/test_smoke.py"], env={"FREQLENS_DEVICE": "cuda"},
                                              timeout=240))
    model = {}

    def epoch():
        text, model["net"] = one_epoch()
        return True, text

    if not args.skip_epoch:
        step("one epoch of the full profile's standard network", epoch)
    if "net" in model:
        step("attacks and maps beside their peers and the floor",
             lambda: (True, attacks_beside_peers(model["net"])))
    print(f"report: {args.report}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
