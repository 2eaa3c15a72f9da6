"""Chapter 4, frequency attribution: its networks, experiments and checks.

The chapter reuses chapter 3's vanilla, BatchNorm and adversarially trained networks
and the vanilla network trained on LFC copies at r = 4 as a control. Its experiments
attribute each network's prediction to the Fourier coefficients of the input
(Integrated Gradients over frequencies, band occlusion), read where the attribution
lies, and judge pixel maps beside Liao's Noise Mask (PNG size, SSIM, MoRF/LeRF, ABPC),
in pixel space and in frequency space.

Example:
    >>> list(configs("quick"))
    ['vanilla', 'BatchNorm', 'adversarial', 'LFC r = 4 (control)']
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from captum.attr import (LRP, DeepLift, FeatureAblation, GuidedBackprop, IntegratedGradients,
                         LayerAttribution, LayerGradCam, Occlusion, Saliency)
from tqdm.auto import tqdm

from freqlens import activations, attribution, checks, data, exercises, fourier, heuristics, memo, saliency
from freqlens import train
from freqlens.attribution import FrequencyAttribution, NoiseMask, PixelAttribution, lrp_ready
from freqlens.execution import forward
from freqlens.train import TrainConfig

__all__ = ["NOTEBOOK", "THESIS_METHODS", "THESIS_TABLES", "band_drops", "band_labels", "beside_the_thesis",
           "check_black_baseline", "check_share_below", "claims", "class_titles", "completeness_table",
           "configs", "deeplift_miss", "flat_baseline", "frequency_ig", "frequency_maps",
           "judge_frequency_maps", "judge_pixel_maps", "layer_noise_masks", "layer_tables", "layer_verdict",
           "lean_verdict",
           "logit_gaps", "networks",
           "ordering_verdicts", "pixel_maps", "radial_shares", "share_below", "shares_table",
           "train_networks"]

NOTEBOOK = "04_frequency_attribution"
# Captum says at every DeepLift and guided backprop call that it sets hooks on the ReLUs
# for the duration; nothing to act on.
_HOOKS_NOTICE = "Setting (forward, )?backward hooks"


# --------------------------------------------------------------------------- networks

def configs(profile: str | None = None) -> dict[str, TrainConfig]:
    """The chapter's networks by the name it gives them: chapter 3's, and the LFC r = 4 control."""
    return {"vanilla": heuristics.config("vanilla", profile), "BatchNorm": heuristics.config("batchnorm", profile),
            "adversarial": heuristics.config("adversarial", profile),
            "LFC r = 4 (control)": heuristics.config("vanilla", profile, view="lfc", radius=4)}


def networks(profile: str | None = None) -> list[TrainConfig]:
    """Chapter 3's vanilla, BatchNorm and adversarial networks, and its LFC r = 4 control."""
    return list(configs(profile).values())


def train_networks(profile: str | None = None) -> dict[str, torch.nn.Module]:
    """The chapter's trained networks (from the cache, or trained), by name."""
    return {name: train.train(c).model for name, c in configs(profile).items()}


# --------------------------------------------------------------------------- frequency IG

def _logits(model, x: torch.Tensor) -> torch.Tensor:
    return forward(model, x)


def flat_baseline(x: torch.Tensor) -> torch.Tensor:
    """Each image's own mean colour as a flat image: the same zero frequency, no structure.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.
    """
    return x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()


def frequency_ig(models: Mapping, x: torch.Tensor, targets: Mapping, baselines: torch.Tensor,
                 n_steps: int = 32, internal_batch_size: int = 800) -> tuple[dict, dict]:
    """Integrated Gradients over frequencies for each network's ``targets``: ``(maps, convergence deltas)``."""
    maps, deltas = {}, {}
    for name, model in models.items():
        maps[name], deltas[name] = FrequencyAttribution(IntegratedGradients, model).attribute(
            x, target=targets[name], baselines=baselines, n_steps=n_steps,
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
    return maps, deltas


def logit_gaps(models: Mapping, x: torch.Tensor, baselines: torch.Tensor, targets: Mapping) -> dict:
    """``f(x) - f(b)`` of each network's target logit, per image: what the attributions share out."""
    return {n: (_logits(m, x) - _logits(m, baselines)).gather(1, targets[n][:, None])[:, 0]
            for n, m in models.items()}


def completeness_table(gaps: Mapping, deltas: Mapping) -> pd.DataFrame:
    """Per network: the mean ``|f(x) - f(b)|``, the mean completeness gap, and its median share of ``f(x) - f(b)``."""
    rows = {name: {"|f(x) - f(b)|": float(gaps[name].abs().mean()),
                   "|gap|": float(deltas[name].abs().mean()),
                   "median share": float((deltas[name].abs() / gaps[name].abs().clamp_min(1e-6)).median())}
            for name in gaps}
    return pd.DataFrame(rows).T


def radial_shares(attributions: torch.Tensor) -> torch.Tensor:
    """The mean over the images of each ring's share of the image's absolute attribution.

    Shapes: ``(B, C, H, W) -> (R,)``.
    """
    profile = attribution.radial_profile(attributions.abs())
    return (profile / profile.sum(1, keepdim=True)).mean(0)


def _shares_below(attributions: torch.Tensor, radius: float, strict: bool = True, absolute: bool = True,
                  rounded: bool = False) -> torch.Tensor:
    a = attributions.detach().double().cpu()
    a = a.abs().sum(1) if absolute else a.sum(1)
    d = fourier.centred_distance(*a.shape[-2:])
    d = torch.round(d) if rounded else d
    inside = (d < radius) if strict else (d <= radius)
    return (a * inside).sum(dim=(1, 2)) / a.sum(dim=(1, 2))


def share_below(attributions: torch.Tensor, radius: float) -> torch.Tensor:
    """Each map's share of its absolute attribution (summed over channels) strictly below ``radius``.

    The maps are over the centred spectrum, the distance that from ``(H//2, W//2)``.

    Shapes: ``(B, C, H, W) -> (B,)`` float64.

    Example:
        >>> a = torch.zeros(1, 3, 32, 32); a[0, :, 16, 16] = 1.0; a[0, :, 0, 0] = -1.0
        >>> share_below(a, 4).tolist()
        [0.5]
    """
    checks.images(attributions, "attributions")
    return _shares_below(attributions, checks.radius(radius, *attributions.shape[-2:]))


def shares_table(maps: Mapping, radii: Sequence[float] = (4, 8, 16)) -> pd.DataFrame:
    """Per network, the mean :func:`share_below` each radius."""
    return pd.DataFrame({name: {f"below r = {r}": float(share_below(a, r).mean()) for r in radii}
                         for name, a in maps.items()}).T


def lean_verdict(low: Mapping[str, float]) -> str:
    """Whether the adversarially trained network puts more of its attribution below r = 4 than the vanilla one.

    Example:
        >>> lean_verdict({"vanilla": 0.2, "adversarial": 0.3})
        'the adversarially trained network puts more of its attribution below r = 4 than the vanilla one (0.300 vs 0.200), as the argument predicts'
    """
    adv, van = low["adversarial"], low["vanilla"]
    if adv > van:
        return ("the adversarially trained network puts more of its attribution below r = 4 than the "
                f"vanilla one ({adv:.3f} vs {van:.3f}), as the argument predicts")
    return f"the adversarially trained network does not lean more on r < 4 ({adv:.3f} vs {van:.3f})"


def class_titles(targets: torch.Tensor) -> list[str]:
    """``"class (count)"`` for each CIFAR-10 class, the count of images predicted as it."""
    return [f"{c} ({int((targets == k).sum())})" for k, c in enumerate(data.CLASSES)]


# --------------------------------------------------------------------------- band occlusion

def band_labels(edges: Sequence[float]) -> list[str]:
    """The names of the bands of :func:`freqlens.attribution.band_mask` for ``edges``.

    Example:
        >>> band_labels((2, 4))
        ['d < 2', '2 ≤ d < 4', 'd ≥ 4']
    """
    return [f"d < {edges[0]}"] + [f"{a} ≤ d < {b}" for a, b in zip(edges, edges[1:])] + [f"d ≥ {edges[-1]}"]


def band_drops(models: Mapping, x: torch.Tensor, targets: Mapping, baselines: torch.Tensor, gaps: Mapping,
               edges: Sequence[float] = (2, 4, 8, 12, 16)) -> dict[str, list[float]]:
    """Per network, the drop of the target's logit when each band is occluded, over its mean ``f(x) - f(b)``.

    Captum's ``FeatureAblation`` over :func:`freqlens.attribution.band_mask`: a band's
    coefficients are replaced by the baseline's.
    """
    bands = attribution.band_mask(*x.shape[-2:], edges)
    drops = {}
    for name, model in models.items():
        occluded = FrequencyAttribution(FeatureAblation, model).attribute(
            x, target=targets[name], baselines=baselines, feature_mask=bands)
        scale = float(gaps[name].abs().mean())
        drops[name] = [float(occluded[:, 0][:, bands[0, 0] == k].mean()) / scale for k in range(len(edges) + 1)]
    return drops


# --------------------------------------------------------------------------- pixel methods

def deeplift_miss(model, x: torch.Tensor, target: torch.Tensor) -> float:
    """How far Captum's DeepLift (black baseline) misses completeness: the median of ``|sum - gap| / |gap|``."""
    black = torch.zeros_like(x)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_HOOKS_NOTICE)
        dl = PixelAttribution(DeepLift, model).attribute(x, target=target, baselines=black)
    gap = (_logits(model, x) - _logits(model, black)).gather(1, target[:, None])[:, 0]
    return float(((dl.sum(dim=(1, 2, 3)) - gap).abs() / gap.abs().clamp_min(1e-6)).median())


def pixel_maps(net, x: torch.Tensor, target: torch.Tensor, noise_mask_steps: int = 4000,
               noise_mask_tol: float = 0.01, show_progress: bool = True) -> tuple[dict, torch.Tensor]:
    """Captum's pixel methods, Noise Mask and a random map for ``net`` at ``x``, by name; and Noise Mask's steps.

    Gradient saliency (the thesis's "sensitivity"), Integrated Gradients (black
    baseline, 32 steps), guided backpropagation, Grad-CAM on the last ReLU (upsampled),
    DeepLift (black baseline), ε-LRP (Captum's ``LRP``, its default ε = 1e-9, on
    :func:`freqlens.attribution.lrp_ready`), occlusion (Captum's, black 4 x 4 patches
    at a stride of 2: the thesis's "perturbation"),
    :class:`freqlens.attribution.NoiseMask` until its objective settles (relative change
    below ``noise_mask_tol`` between two windows of 250 steps, at most
    ``noise_mask_steps``; each image's number of steps is returned beside the maps)
    and uniform noise (seeded 0).
    """
    black = torch.zeros_like(x)
    last_stage = dict(net.named_modules())[activations.layer_names(net)[-1]]

    def pixel(method, *args, model=net, **kwargs):
        return PixelAttribution(method, model, *args).attribute(x, target=target, **kwargs)

    mask = NoiseMask(net)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_HOOKS_NOTICE)
        gradcam = pixel(LayerGradCam, last_stage, relu_attributions=True)
        maps = {
            "saliency": pixel(Saliency),
            "integrated gradients": pixel(IntegratedGradients, baselines=black, n_steps=32),
            "guided backprop": pixel(GuidedBackprop),
            "Grad-CAM": LayerAttribution.interpolate(gradcam, tuple(x.shape[-2:]), interpolate_mode="bilinear"),
            "DeepLift": pixel(DeepLift, baselines=black),
            "ε-LRP": pixel(LRP, model=lrp_ready(net)),
            "occlusion": pixel(Occlusion, baselines=0.0, sliding_window_shapes=(x.shape[1], 4, 4),
                               strides=(x.shape[1], 2, 2)),
            "Noise Mask": mask.attribute(x, n_steps=noise_mask_steps, tol=noise_mask_tol,
                                         show_progress=show_progress),
        }
    maps = {k: v.detach() for k, v in maps.items()}
    maps["random"] = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    return maps, torch.as_tensor(mask.steps)


def layer_noise_masks(net, x: torch.Tensor, n_steps: int = 2000, tol: float = 0.01,
                      show_progress: bool = False) -> tuple[dict[str, dict[str, float]], dict[str, torch.Tensor]]:
    """Noise Mask on what each stage of ``net`` sees, as the thesis applies it to intermediate layers.

    For the last ReLU of each stage (:func:`freqlens.activations.stage_layers`) and for
    the logits, the masks of ``x`` that keep that layer's output (``beta = beta_0``
    from a noise image, until settled as in :func:`pixel_maps`, at most ``n_steps``).
    Per layer: ``"kept"``, the mean of the masks (the share of the image the layer
    needs); ``"loss term"``, the loss term at the end, the share of a noise image's
    change of the layer's output that the mask still lets through (the thesis's
    percentages); the median ``"steps"``. Returns those rows and the masks, by layer.
    """
    rows, masks = {}, {}
    layers = [*activations.stage_layers(net, tuple(x.shape[1:])), None]
    for layer in tqdm(layers, desc="layers", disable=not show_progress):
        mask = NoiseMask(net, layer=layer)
        name = layer or "logits"
        masks[name] = mask.attribute(x, n_steps=n_steps, tol=tol)
        rows[name] = {"kept": float(masks[name].mean()), "loss term": float(mask.loss.mean()),
                      "steps": float(torch.as_tensor(mask.steps).float().median())}
    return rows, masks


def layer_tables(models: Mapping, x: torch.Tensor, names: Sequence[str] = ("vanilla", "BatchNorm", "adversarial"),
                 **settings) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, torch.Tensor]]]:
    """:func:`layer_noise_masks` of each network of ``names`` (kept in the cache): its table and its masks."""
    tables, masks = {}, {}
    for name in names:
        rows, masks[name] = memo.cached("layer noise masks", layer_noise_masks, models[name], x, **settings)
        tables[name] = pd.DataFrame(rows).T.rename_axis("layer")
    return tables, masks


def layer_verdict(tables: Mapping[str, pd.DataFrame]) -> tuple[str, str, str | None]:
    """``(measured, verdict, why)`` on the thesis's reading of Noise Mask layer by layer, from :func:`layer_tables`.

    The thesis: through the last layers "the information about the image is gradually
    discarded but the losses on the layer's outputs are also decreased". Judged per
    network: the logits keep less of the image than the first stage does, and let
    less of the loss through than the last stage does.
    """
    holds, parts = [], []
    for name, t in tables.items():
        stages = [layer for layer in t.index if layer != "logits"]
        kept_less = t.loc["logits", "kept"] < t.loc[stages[0], "kept"]
        loss_less = t.loc["logits", "loss term"] < t.loc[stages[-1], "loss term"]
        holds += [kept_less, loss_less]
        parts.append(f"{name}: kept {t.loc[stages[0], 'kept']:.2f} → {t.loc['logits', 'kept']:.2f}, loss "
                     f"term {t.loc[stages[-1], 'loss term']:.3f} → {t.loc['logits', 'loss term']:.3f}")
    verdict = (("reproduced", None) if all(holds) else ("partly", "scale") if any(holds)
               else ("not reproduced", "scale"))
    return ("first stage → logits; last stage → logits: " + "; ".join(parts), *verdict)


def _curves(net, x, target, maps, space: str = "pixel") -> dict:
    return {k: tuple(saliency.perturbation_curve(net, x, target, a, order=o, space=space, features_in_step=32)
                     for o in ("morf", "lerf")) for k, a in maps.items()}


def judge_pixel_maps(net, x: torch.Tensor, target: torch.Tensor, maps: Mapping) -> tuple[pd.DataFrame, dict]:
    """Liao's measures of each map: PNG bytes, SSIM to the input, MoRF and LeRF means, ABPC; and the curves."""
    curves = _curves(net, x, target, maps)
    rows = {k: {"PNG bytes": float(saliency.png_size(a).float().mean()),
                "SSIM": float(saliency.ssim_to_input(a, x).mean()),
                "MoRF": float(curves[k][0].mean()), "LeRF": float(curves[k][1].mean()),
                "ABPC": float(saliency.abpc(*curves[k]).mean())} for k, a in maps.items()}
    return pd.DataFrame(rows).T, curves


def ordering_verdicts(evaluation: pd.DataFrame) -> dict[str, str]:
    """For each of the thesis's three orderings (smallest PNG, highest SSIM, largest ABPC), the method that wins here."""
    methods = evaluation.drop(index="random")
    winners = {"smallest PNG": methods["PNG bytes"].idxmin(), "highest SSIM": methods["SSIM"].idxmax(),
               "largest ABPC": methods["ABPC"].idxmax()}
    return {what: f"{w} — the thesis's ordering {'holds' if w == 'Noise Mask' else 'does not hold'}"
            for what, w in winners.items()}


def frequency_maps(net, x: torch.Tensor, target: torch.Tensor, frequency_ig_map: torch.Tensor) -> dict:
    """Frequency IG (given), gradient saliency over the spectrum, and a random map (seeded 1), by name."""
    return {"frequency IG": frequency_ig_map,
            "frequency saliency": FrequencyAttribution(Saliency, net).attribute(x, target=target),
            "random": torch.rand(x.shape, generator=torch.Generator().manual_seed(1))}


def judge_frequency_maps(net, x: torch.Tensor, target: torch.Tensor, maps: Mapping) -> pd.DataFrame:
    """MoRF and LeRF means and ABPC of frequency maps, frequencies (with their mirrors) replaced 32 at a time."""
    curves = _curves(net, x, target, maps, space="frequency")
    return pd.DataFrame({k: {"MoRF": float(c[0].mean()), "LeRF": float(c[1].mean()),
                             "ABPC": float(saliency.abpc(*c).mean())} for k, c in curves.items()}).T


# --------------------------------------------------------------------------- verdicts

# The thesis's Tables 1-3 (Liao, 2018; Inception V3, 200 ImageNet-like images), by the
# name the chapter gives each method (its "sensitivity" is gradient saliency, its
# "perturbation" an occlusion; Grad-CAM and guided backprop are not in its tables): PNG
# size of the grey map (KB), SSIM to the grey input, ABPC (summed over its 800 steps of
# 100 pixels; the score is not stated).
THESIS_TABLES = {"DeepLift": (75.3, 0.039, 1783.62), "integrated gradients": (77.5, 0.022, 885.839),
                 "ε-LRP": (76.8, 0.030, 345.742), "saliency": (75.5, 0.007, 1926.34),
                 "occlusion": (32.3, 0.039, 1092.98), "Noise Mask": (30.2, 0.599, 5243.72)}
# The pixel methods of those tables, which the chapter runs too.
THESIS_METHODS = tuple(THESIS_TABLES)


def beside_the_thesis(evaluation: pd.DataFrame, steps: int) -> pd.DataFrame:
    """The thesis's Tables 1-3 and this run's measures side by side, one row per method of its tables.

    ``evaluation`` is :func:`judge_pixel_maps`'s table and ``steps`` the number of
    replacement steps of its curves. Its ABPC is the area on the softmax probability
    with the steps scaled to [0, 1] (at most 1, comparable across step sizes);
    ``"ABPC × steps"`` sums over the steps instead, as the thesis's does. A method the
    run lacks has NaN in its columns.
    """
    thesis = pd.DataFrame(THESIS_TABLES, index=["PNG KB, thesis", "SSIM, thesis", "ABPC, thesis"]).T
    here = evaluation.reindex(thesis.index)
    return pd.DataFrame({"PNG KB, thesis": thesis["PNG KB, thesis"], "PNG KB": here["PNG bytes"] / 1000,
                         "SSIM, thesis": thesis["SSIM, thesis"], "SSIM": here["SSIM"],
                         "ABPC, thesis": thesis["ABPC, thesis"], "ABPC": here["ABPC"],
                         "ABPC × steps": here["ABPC"] * steps})


def claims(completeness: pd.DataFrame, evaluation: pd.DataFrame,
           layers: Mapping[str, pd.DataFrame]) -> dict[str, tuple[str, str, str | None]]:
    """The chapter's verdicts on the sources' claims, from :func:`completeness_table`, :func:`judge_pixel_maps`
    and :func:`layer_tables` (``layers``, its tables).

    The thesis's orderings are judged among the methods of its tables that the chapter
    runs (:data:`THESIS_METHODS`).
    """
    worst = completeness["median share"].max()
    out = {"frequency_ig_complete": (
        f"frequency IG misses at most {worst:.2%} of f(x) − f(b) (the median, worst network)",
        *(("reproduced", None) if worst < 0.05 else ("not reproduced", "scale: too few steps")))}
    methods = evaluation.loc[[m for m in THESIS_METHODS if m in evaluation.index]]
    for claim, column, best in (("noise_mask_smallest_png", "PNG bytes", "min"),
                                ("noise_mask_highest_ssim", "SSIM", "max"),
                                ("noise_mask_largest_abpc", "ABPC", "max")):
        ranked = methods[column].sort_values(ascending=best == "min")
        place = list(ranked.index).index("Noise Mask") + 1
        listed = ", ".join(f"{k} {v:.3g}" for k, v in ranked.items())
        out[claim] = (f"{column}, best first: {listed}",
                      *(("reproduced", None) if place == 1 else
                        ("partly", "scale") if place == 2 else ("not reproduced", "scale")))
    out["noise_mask_layers"] = layer_verdict(layers)
    return out


# --------------------------------------------------------------------------- exercise 1

def check_share_below(answer, attributions: torch.Tensor, radius: float = 8, tol: float = 1e-3) -> bool:
    """Exercise 1: the mean share of |attribution| at frequencies strictly closer than ``radius`` to the centre.

    ``attributions`` are frequency maps ``(B, C, H, W)`` over the centred spectrum. For
    each image, the absolute attributions (summed over channels after taking absolute
    values), at distance strictly below
    ``radius`` from the zero frequency ``(H//2, W//2)``, over all of them; the mean over
    the images. Prints a verdict (with a hint when wrong) and returns whether it passed.

    Example:
        >>> check_share_below(None, torch.randn(2, 3, 32, 32))
        … not answered yet: replace None with your number, then run the cell.
        False
    """
    checks.images(attributions, "attributions")
    radius = checks.radius(radius, *attributions.shape[-2:])
    expected = float(_shares_below(attributions, radius).mean())
    if answer is None:
        return exercises.todo("replace None with your number, then run the cell.")
    value = exercises.as_number(answer)
    if value is None:
        return exercises.verdict(False, f"expected a single number (a float or a one-element tensor), got "
                                        f"{answer!r}.")
    if math.isclose(value, expected, abs_tol=tol):
        return exercises.verdict(True, f"{value:.4f} of the |attribution| lies strictly below r = {radius:g}.")
    a = attributions
    pooled = a.detach().double().cpu().abs().sum(1)
    slips = [
        ("Take absolute values first: positive and negative attributions would cancel.",
         float(_shares_below(a, radius, absolute=False).mean())),
        ("'Below r' means strictly below (d < r), as everywhere in the book.",
         float(_shares_below(a, radius, strict=False).mean())),
        ("Use each frequency's exact distance, not the ring it rounds to.",
         float(_shares_below(a, radius, rounded=True).mean())),
        ("Average each image's share; do not pool all images' attributions first.",
         float((pooled * (fourier.centred_distance(*a.shape[-2:]) < radius)).sum() / pooled.sum())),
        ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
    ]
    hints = exercises.slips_matching(value, slips, expected, tol)
    fact = f"{value:.4g} is off by more than {tol:g}."
    return exercises.verdict(False, f"{fact} {exercises.hint(hints)}" if hints else fact)


# --------------------------------------------------------------------------- exercise 2

def _centre_share(attributions: torch.Tensor, absolute: bool = True, pooled: bool = False) -> float:
    """The mean share of attribution (summed over channels) at the zero frequency of centred maps."""
    a = attributions.detach().double().cpu()
    a = a.abs().sum(1) if absolute else a.sum(1)
    h, w = a.shape[-2:]
    centre = a[:, h // 2, w // 2]
    if pooled:
        return float(centre.sum() / a.sum())
    return float((centre / a.sum(dim=(1, 2))).mean())


def check_black_baseline(answer, reason, model, x: torch.Tensor, target: torch.Tensor, n_steps: int = 32,
                         tol: float = 2e-3) -> bool:
    """Exercise 2: with a black baseline, the mean share of |frequency IG| at the zero frequency, and why.

    The expected answer is, for Integrated Gradients over frequencies
    (:class:`freqlens.attribution.FrequencyAttribution`) of ``model`` at ``x`` ``(B, C,
    H, W)`` for ``target``, baseline the black image and ``n_steps`` steps, each map's
    absolute attribution (summed over channels) at the centre ``(H//2, W//2)`` over its
    total, averaged over the images. ``reason`` is the letter of the explanation. Prints
    a verdict for each and returns whether both passed.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> x = torch.rand(2, 3, 32, 32)
        >>> check_black_baseline(None, "a", SmallCNN(width=8).eval(), x, torch.tensor([0, 1]))
        … not answered yet: replace None with your number, then run the cell.
        ✓ correct: (a) is the explanation.
        False
    """
    x = checks.images(x)

    def ig(baselines):
        return FrequencyAttribution(IntegratedGradients, model).attribute(
            x, target=target, baselines=baselines, n_steps=n_steps)

    black = ig(torch.zeros_like(x))
    expected = _centre_share(black)
    value = exercises.as_number(answer)
    slips = []
    if value is not None and not math.isclose(value, expected, abs_tol=tol):
        slips = [
            ("that is the flat baseline's share (it is zero there): change the baseline to the black image.",
             _centre_share(ig(flat_baseline(x)))),
            ("Take absolute values first: positive and negative attributions would cancel.",
             _centre_share(black, absolute=False)),
            ("Average each image's share; do not pool all images' attributions first.",
             _centre_share(black, pooled=True)),
            ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
        ]
    number = exercises.judge_number(answer, expected, slips, tol,
                                    "{value:.4f} of |attribution| sits at the zero frequency with a black "
                                    "baseline.")
    why = exercises.judge_reason(reason, "a", {
        "b": "a black image is flat too: its only frequency is the zero frequency, and it is 0 there.",
        "c": "Integrated Gradients is complete for any baseline: the maps sum to f(x) - f(baseline)."})
    return number and why
