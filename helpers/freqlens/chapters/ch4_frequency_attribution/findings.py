"""Chapter 4's tables beside the thesis's, and its verdicts on the sources' claims."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from freqlens.chapters.ch4_frequency_attribution.pixels import layer_verdict

__all__ = ["THESIS_METHODS", "THESIS_TABLES", "beside_the_thesis", "claims"]


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
