"""Chapter 4's building blocks beside their peers, on real CIFAR-10 images and the quick BatchNorm network.

1. Integrated Gradients over frequencies (``FrequencyAttribution``) against the same
   Captum method written by hand on the model composed with the inverse FFT.
2. MoRF curves (``saliency.perturbation_curve``) against Quantus's ``PixelFlipping``
   on the same inputs and maps (Quantus flips single values, so both run on grey images).
3. Noise Mask on a batch against the same images one at a time.

Each line prints both timings, their ratio and the largest difference between the outputs,
and the floor: the network passes ours makes (counted in one run of it: IG, a forward and a
backward pass over each image at each of the 32 steps; MoRF, forward passes over the 65
perturbed copies of each image; Noise Mask, a forward and a backward pass per step), made bare.
Run: ``python benchmarks/bench_attribution.py [--n N]``.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from captum.attr import IntegratedGradients
from torch import nn

from freqlens import heuristics, train
from freqlens.attribution import FrequencyAttribution, NoiseMask
from freqlens.data import cifar10_tensors
from freqlens.saliency import perturbation_curve
from sidebyside import compare, side_by_side


def report(name, t, diff, peer_name, tolerance=0.0):
    """One line: both timings, their ratio, the floor, and whether the outputs agree within ``tolerance``."""
    compare("attribution", name, t.ours_s, t.peer_s, peer_name, f"max |diff| {diff:.2e}", diff <= tolerance,
            width=34, floor=t.floor_s, passes=t.passes)


def frequency_ig(net, x, t):
    def by_hand():
        def on_unshifted(re, im):
            return net(torch.fft.ifft2(torch.complex(re, im), norm="ortho").real)

        f = torch.fft.fft2(x, norm="ortho")
        re, im = IntegratedGradients(on_unshifted).attribute((f.real.contiguous(), f.imag.contiguous()),
                                                             target=t, n_steps=32)
        return torch.fft.fftshift(re + im, dim=(-2, -1))

    ig = side_by_side(net, lambda: FrequencyAttribution(IntegratedGradients, net).attribute(x, target=t, n_steps=32),
                      by_hand, x, t)
    # ours runs the 3,200 scaled inputs through the network a batch at a time, the hand-written
    # one in one pass: convolutions over batches of other sizes round differently in float32, so
    # the two agree to rounding, relative to the size of the maps
    scale = float(ig.peer.abs().max())
    diff = float((ig.ours - ig.peer).abs().max())
    compare("attribution", "frequency IG (32 steps)", ig.ours_s, ig.peer_s, "Captum by hand",
            f"max |diff| {diff:.2e} = {diff / scale:.1e} of max |attribution|", diff <= 1e-5 * scale,
            width=34, floor=ig.floor_s, passes=ig.passes)


class Grey(nn.Module):
    def forward(self, x):
        return x.expand(-1, 3, -1, -1)


def curves(net, x, t):
    import quantus

    grey_net = nn.Sequential(Grey(), net).eval()
    grey = x.mean(1, keepdim=True)
    a = torch.rand(grey.shape, generator=torch.Generator().manual_seed(0))
    metric = quantus.PixelFlipping(features_in_step=16, perturb_baseline=0.0, abs=False, normalise=False,
                                   disable_warnings=True, display_progressbar=False)
    morf = side_by_side(grey_net, lambda: perturbation_curve(grey_net, grey, t, a, features_in_step=16, n_steps=64,
                                                             replacement=0.0),
                        lambda: np.asarray(metric(model=grey_net, x_batch=grey.numpy(), y_batch=t.numpy(),
                                                  a_batch=a.numpy(), device="cpu", softmax=True)), grey, t)
    report(f"MoRF curve (64 steps, {len(x)} images)", morf, float(np.abs(morf.ours[:, 1:].numpy() - morf.peer).max()),
           "Quantus")


def noise_mask(net, x):
    n = min(16, len(x))
    mask = side_by_side(net, lambda: NoiseMask(net).attribute(x[:n], n_steps=100, seed=0),
                        lambda: torch.cat([NoiseMask(net).attribute(x[i:i + 1], n_steps=100, seed=i)
                                           for i in range(n)]), x[:n])
    # batched and single-image convolutions round differently, and 100 Adam steps carry it on
    report(f"Noise Mask (100 steps, {n} images)", mask, float((mask.ours - mask.peer).abs().max()),
           "one at a time", tolerance=1e-2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="number of test images")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
    net = train.train(heuristics.config("batchnorm", "quick"), progress=False).model
    x, _ = cifar10_tensors("test", n=args.n, seed=4)
    with torch.no_grad():
        t = net(x).argmax(1)
    print(f"{args.n} CIFAR-10 test images, the quick profile's BatchNorm network, "
          f"{torch.get_num_threads()} torch threads")
    with torch.no_grad():   # warm-up: the thread pool and the first convolutions' kernels
        for _ in range(3):
            net(x)
    FrequencyAttribution(IntegratedGradients, net).attribute(x[:8], target=t[:8], n_steps=4)   # FFT plans
    frequency_ig(net, x, t)
    curves(net, x, t)
    noise_mask(net, x)


if __name__ == "__main__":
    main()
