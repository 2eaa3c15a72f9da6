"""Chapter 6's settings: the radius that splits low from high, the rings, the networks' names, the
bands and the sources' numbers.
"""

from __future__ import annotations

from freqlens import fourier

__all__ = ["ATTACKED", "BANDS_OF_SETS", "ILYAS", "NOISE_SHARE", "RADIUS", "RINGS", "STEERED"]


RADIUS = 8   # the chapter's split between the low and the high frequencies
# White noise's share of energy at distance RADIUS or more on 32 x 32 images: the share of the
# frequencies that lie there, since its spectrum is flat (831 of 1,024, about 0.81).
NOISE_SHARE = 1 - float(fourier.frequency_mask(32, 32, RADIUS).float().mean())
# The rings the chapter reads a profile in: the lowest frequencies, the rest of the LFC, the HFC.
RINGS = ((0.0, 4.0), (4.0, 8.0), (8.0, 23.0))
# The networks attacked and attributed: chapter 3's, by chapter 5's names.
ATTACKED = ("vanilla", "BatchNorm", "adversarial")
STEERED = ("HFC dropped", "HFC gradient penalty")
# The bands a non-robust set's perturbations are cut to, and their names in the chapter.
BANDS_OF_SETS = {"whole perturbation": "all", f"its LFC r < {RADIUS}": "lfc", f"its HFC r ≥ {RADIUS}": "hfc",
                 "no perturbation": "none"}
# Ilyas et al.'s CIFAR-10 test accuracies of networks trained on their sets (the authors'
# published datasets' README, rounded): the deterministic set, the random one, the images.
ILYAS = {"D_det": 0.44, "D_rand": 0.63}
