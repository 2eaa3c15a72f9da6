"""Chapter 4's pixel maps beside Liao's Noise Mask, layer by layer, and their judging in pixel and
in frequency space.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from captum.attr import (LRP, DeepLift, GuidedBackprop, IntegratedGradients, LayerAttribution, LayerGradCam,
                         Occlusion, Saliency)
from tqdm.auto import tqdm

from freqlens import activations, memo, saliency
from freqlens.attribution import FrequencyAttribution, NoiseMask, PixelAttribution, lrp_ready
from freqlens.execution import forward

__all__ = ["deeplift_miss", "frequency_maps", "judge_frequency_maps", "judge_pixel_maps", "layer_noise_masks",
           "layer_tables", "layer_verdict", "ordering_verdicts", "pixel_maps"]


# Captum says at every DeepLift and guided backprop call that it sets hooks on the ReLUs
# for the duration; nothing to act on.
_HOOKS_NOTICE = "Setting (forward, )?backward hooks"


# --------------------------------------------------------------------------- pixel methods

def deeplift_miss(model, x: torch.Tensor, target: torch.Tensor) -> float:
    """How far Captum's DeepLift (black baseline) misses completeness: the median of ``|sum - gap| / |gap|``."""
    black = torch.zeros_like(x)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_HOOKS_NOTICE)
        dl = PixelAttribution(DeepLift, model).attribute(x, target=target, baselines=black)
    gap = (forward(model, x) - forward(model, black)).gather(1, target[:, None])[:, 0]
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
