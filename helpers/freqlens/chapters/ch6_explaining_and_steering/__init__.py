"""Chapter 6, explaining and steering frequency use: the class proposal's own programme.

The chapter reuses chapter 3's vanilla, BatchNorm and adversarially trained networks. It
attributes attacks to frequencies (Integrated Gradients over the Fourier coefficients
from each clean image to its adversarial twin, :func:`attack_split`), rebuilds images
from their most- and least-attributed frequencies (:func:`rebuilt`), attacks with
smoothed steps (:func:`smooth_distortion_table`), builds Ilyas et al.'s non-robust
training sets with their perturbations cut to a band (:func:`nonrobust_configs`),
chooses a band-stop defense from where the attacks act (:func:`choose_band`), and
trains two networks steered towards the low frequencies (:func:`steered_configs`).
Every slow measurement goes through :func:`freqlens.memo.cached`.

One submodule per part of the chapter, every public name of each also a name of this
package (``ch6.attack_split``): :mod:`.settings` (the radius, rings, names and the
sources' numbers), :mod:`.training` (the networks), :mod:`.split` (attacks split by
frequency), :mod:`.rebuilding` (images rebuilt from chosen frequencies),
:mod:`.defending` (smooth perturbations and the band-stop defense), :mod:`.steering`
(the steered networks and the non-robust sets), :mod:`.findings` (the numbers of a run
and the verdicts) and :mod:`.graders` (the exercises' self-checks).

Example:
    >>> sorted(configs("quick"))[:3]
    ['BatchNorm', 'HFC dropped', 'HFC gradient penalty']
"""

from freqlens.chapters.ch6_explaining_and_steering.settings import (ATTACKED, BANDS_OF_SETS, ILYAS,
                                                                    NOISE_SHARE, RADIUS, RINGS, STEERED)
from freqlens.chapters.ch6_explaining_and_steering.training import (configs, networks, nonrobust_configs,
                                                                    steered_configs, train_networks)
from freqlens.chapters.ch6_explaining_and_steering.split import (attack_bands, attack_split, attack_table,
                                                                 attacked, beside_the_sources,
                                                                 effect_profiles, ring_shares, split_verdicts)
from freqlens.chapters.ch6_explaining_and_steering.rebuilding import (keep_mask, rebuilt, rebuilt_accuracy,
                                                                      rebuilt_images)
from freqlens.chapters.ch6_explaining_and_steering.defending import (band_candidates, choose_band,
                                                                     defense_table, smooth_distortion_table)
from freqlens.chapters.ch6_explaining_and_steering.steering import (attribution_map, nonrobust_table,
                                                                    steered_table)
from freqlens.chapters.ch6_explaining_and_steering.findings import (claims, defense_claim, nonrobust_claims,
                                                                    smooth_claim, steering_claim,
                                                                    steering_verdicts, summary)
from freqlens.chapters.ch6_explaining_and_steering.graders import check_effect_share, check_rebuilt_answer

__all__ = ["ATTACKED", "BANDS_OF_SETS", "ILYAS", "NOISE_SHARE", "NOTEBOOK", "RADIUS", "RINGS", "STEERED",
           "attack_bands", "attack_split", "attack_table", "attacked", "attribution_map", "band_candidates",
           "beside_the_sources", "check_effect_share", "check_rebuilt_answer", "choose_band", "claims",
           "configs", "defense_claim", "defense_table", "effect_profiles", "keep_mask", "networks",
           "nonrobust_claims", "nonrobust_configs", "nonrobust_table", "rebuilt", "rebuilt_accuracy",
           "rebuilt_images", "ring_shares", "smooth_claim", "smooth_distortion_table", "split_verdicts",
           "steered_configs", "steered_table", "steering_claim", "steering_verdicts", "summary",
           "train_networks"]

NOTEBOOK = "06_explaining_and_steering"
