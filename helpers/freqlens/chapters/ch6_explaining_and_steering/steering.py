"""Chapter 6's steered networks and its non-robust training sets, measured."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import torch
from captum.attr import IntegratedGradients

from freqlens import data, evaluate, memo, train
from freqlens.attribution import FrequencyAttribution
from freqlens.chapters import ch4_frequency_attribution as ch4, ch5_attacks_defenses as ch5
from freqlens.chapters.ch6_explaining_and_steering.settings import RADIUS

__all__ = ["attribution_map", "nonrobust_table", "steered_table"]


# --------------------------------------------------------------------------- steered networks

def attribution_map(model, x: torch.Tensor, y: torch.Tensor, n_steps: int = 32) -> torch.Tensor:
    """Chapter 4's frequency attribution: Integrated Gradients of the class ``y`` from the flat baseline.

    Shapes: ``x (B, C, H, W)``, ``y (B,)`` -> ``(B, C, H, W)`` over the centred spectrum.
    """
    return FrequencyAttribution(IntegratedGradients, model).attribute(x, target=y, baselines=ch4.flat_baseline(x),
                                                                       n_steps=n_steps)


def steered_table(results: Mapping[str, train.Result], x: torch.Tensor, y: torch.Tensor, x_ig: torch.Tensor,
                  y_ig: torch.Tensor) -> pd.DataFrame:
    """Per network, what chapters 2-5 measure: accuracy on the test images and their LFC/HFC copies, the
    attribution's share below ``RADIUS`` and accuracy under PGD at 2/255 and 8/255.

    The LFC/HFC accuracies are the history's last epoch (the training's test images);
    ``"LFC r < 4 / clean"`` divides out the networks' different clean accuracies.
    """
    rows = {}
    for name, r in results.items():
        h, m = r.history, r.model
        attributions = memo.cached("frequency IG", attribution_map, m, x_ig, y_ig)
        rows[name] = {"clean": h.test_acc[-1], "LFC r < 4": h.test_lfc_acc[4.0][-1],
                      f"LFC r < {RADIUS}": h.test_lfc_acc[float(RADIUS)][-1],
                      f"HFC r ≥ {RADIUS}": h.test_hfc_acc[float(RADIUS)][-1],
                      "LFC r < 4 / clean": h.test_lfc_acc[4.0][-1] / h.test_acc[-1],
                      f"IG below {RADIUS}": float(ch4.share_below(attributions, RADIUS).mean()),
                      "PGD 2/255": memo.cached("pgd accuracy", ch5.pgd_accuracy, m, x, y, 2 / 255),
                      # chapter 5's attack, from its cache where chapter 5 attacked the network
                      "PGD 8/255": evaluate.accuracy(m, memo.cached("pgd", ch5.pgd_images, m, x, y), y)}
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------- non-robust features

def _agreement(source, x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor, band: str,
               radius: float | None) -> dict:
    from freqlens import nonrobust

    images = nonrobust.cut(x, adv, band, radius)
    return {"source says t": evaluate.accuracy(source, images, nonrobust.next_class(y)),
            "perturbation L2": float((images - x).flatten(1).norm(dim=1).mean())}


def nonrobust_table(results: Mapping[str, train.Result], source, n: int = 1000) -> pd.DataFrame:
    """Per non-robust set: how often the source network gives its images their new label ``t``, the
    perturbation's mean L2 size (both on the set's first ``n`` images), and the network trained on it:
    its accuracy on the real test images against their labels, and how often it says ``y + 1``.

    The attacked images are the sets' own, from the cache where making the sets left them.
    """
    from freqlens import nonrobust

    rows, attacked_sets = {}, {}
    for name, r in results.items():
        c, spec = r.config, r.config.nonrobust
        made = (c.train_size, c.subset_seed, spec.eps, spec.alpha, spec.steps)
        if made not in attacked_sets:   # the sets of one attack share its images: read them once
            x, y = data.cifar10_tensors("train", n=c.train_size, seed=c.subset_seed)
            adv = memo.cached("non-robust set", nonrobust.attack, source, x, y, spec.eps, spec.alpha, spec.steps)
            attacked_sets[made] = (x[:n], adv[:n], y[:n])
        x, adv, y = attacked_sets[made]
        rows[name] = _agreement(source, x, adv, y, spec.band, spec.radius)
        xt, yt = data.cifar10_tensors("test", n=c.test_size, seed=c.subset_seed)
        rows[name]["test accuracy"] = evaluate.accuracy(r.model, xt, yt)
        rows[name]["says y + 1"] = evaluate.accuracy(r.model, xt, nonrobust.next_class(yt))
    return pd.DataFrame(rows).T
