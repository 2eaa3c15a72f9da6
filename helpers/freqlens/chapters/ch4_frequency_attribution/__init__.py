"""Chapter 4, frequency attribution: its networks, experiments and checks.

The chapter reuses chapter 3's vanilla, BatchNorm and adversarially trained networks
and the vanilla network trained on LFC copies at r = 4 as a control. Its experiments
attribute each network's prediction to the Fourier coefficients of the input
(Integrated Gradients over frequencies, band occlusion), read where the attribution
lies, and judge pixel maps beside Liao's Noise Mask (PNG size, SSIM, MoRF/LeRF, ABPC),
in pixel space and in frequency space.

One submodule per part of the chapter, every public name of each also a name of this
package (``ch4.frequency_ig``): :mod:`.training` (the networks), :mod:`.frequency`
(attributions over frequencies and band occlusion), :mod:`.pixels` (pixel maps, Noise
Mask layer by layer, and their judging), :mod:`.findings` (beside the thesis, and the
verdicts) and :mod:`.graders` (the exercises' self-checks).

Example:
    >>> list(configs("quick"))
    ['vanilla', 'BatchNorm', 'adversarial', 'LFC r = 4 (control)']
"""

from freqlens.chapters.ch4_frequency_attribution.training import configs, networks, train_networks
from freqlens.chapters.ch4_frequency_attribution.frequency import (band_drops, band_labels, class_titles,
                                                                   completeness_table, flat_baseline,
                                                                   frequency_ig, lean_verdict, logit_gaps,
                                                                   radial_shares, share_below, shares_table)
from freqlens.chapters.ch4_frequency_attribution.pixels import (deeplift_miss, frequency_maps,
                                                                judge_frequency_maps, judge_pixel_maps,
                                                                layer_noise_masks, layer_tables,
                                                                layer_verdict, ordering_verdicts, pixel_maps)
from freqlens.chapters.ch4_frequency_attribution.findings import (THESIS_METHODS, THESIS_TABLES,
                                                                  beside_the_thesis, claims)
from freqlens.chapters.ch4_frequency_attribution.graders import check_black_baseline, check_share_below

__all__ = ["NOTEBOOK", "THESIS_METHODS", "THESIS_TABLES", "band_drops", "band_labels", "beside_the_thesis",
           "check_black_baseline", "check_share_below", "claims", "class_titles", "completeness_table",
           "configs", "deeplift_miss", "flat_baseline", "frequency_ig", "frequency_maps",
           "judge_frequency_maps", "judge_pixel_maps", "layer_noise_masks", "layer_tables", "layer_verdict",
           "lean_verdict", "logit_gaps", "networks", "ordering_verdicts", "pixel_maps", "radial_shares",
           "share_below", "shares_table", "train_networks"]

NOTEBOOK = "04_frequency_attribution"
