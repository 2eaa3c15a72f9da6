"""Chapter 5, attacks and defenses in frequency: its networks, experiments and checks.

The chapter reuses chapter 3's vanilla, BatchNorm and adversarially trained networks and
its LFC r = 4 control, and trains two networks as Dong et al. train theirs: adversarial
training on one FGSM step towards the least-likely class that keeps half the loss on the
clean images, with and without their consistency term on the last convolutional stage's
features (:func:`config`). Its experiments attack the networks (FGSM, PGD, DeepFool,
band-limited PGD), smooth their kernels, put them behind a low-pass filter, draw their
Fourier heat maps and measure neuron consistency. Every slow measurement goes through
:func:`freqlens.memo.cached`, so the chapter re-executes warm.

One submodule per part of the chapter, every public name of each also a name of this
package (``ch5.pgd_images``): :mod:`.training` (the networks), :mod:`.robustness` (the
attacks and the heat maps), :mod:`.defended` (the kernels' smoothness and the low-pass
defense), :mod:`.consistency` (neuron consistency), :mod:`.findings` (the numbers of a
run and the verdicts) and :mod:`.graders` (the exercises' self-checks).

Example:
    >>> c = config("consistency", "quick")
    >>> c.adv_attack, c.adv_consistency, config("fgsm adversarial", "quick").adv_consistency
    ('fgsm_ll', 0.1, 0.0)
"""

from freqlens.chapters.ch5_attacks_defenses.training import (ADVERSARIAL, DONG, DONG_NAMES, NAMES, config,
                                                             configs, networks, overfitting_verdicts,
                                                             pgd_along_training, train_networks)
from freqlens.chapters.ch5_attacks_defenses.robustness import (accuracy_against_eps, adversarial_images,
                                                               attack_table_row, band_verdicts, bands,
                                                               distortion_row, distortion_table,
                                                               energy_verdicts, eps_curves, heat_maps,
                                                               high_share, perturbation_spectra, pgd_accuracy,
                                                               pgd_images, ring_errors, robustness_table)
from freqlens.chapters.ch5_attacks_defenses.defended import (defense_rows, defense_table, defense_verdicts,
                                                             kernel_table, kernel_verdicts, smoothed_networks,
                                                             smoothing_gains, smoothing_row, smoothing_table)
from freqlens.chapters.ch5_attacks_defenses.consistency import (DONG_TABLE1, DONG_TABLE3, consistency_row,
                                                                consistency_table, consistency_values,
                                                                consistency_verdicts, dong_tables,
                                                                ensemble_set, fixed_set_consistency,
                                                                neuron_consistencies, term_effects,
                                                                top_images)
from freqlens.chapters.ch5_attacks_defenses.findings import claims, summary
from freqlens.chapters.ch5_attacks_defenses.graders import check_energy_below, check_low_pass_radius

__all__ = ["ADVERSARIAL", "DONG", "DONG_NAMES", "DONG_TABLE1", "DONG_TABLE3", "NAMES", "NOTEBOOK",
           "accuracy_against_eps", "adversarial_images", "attack_table_row", "band_verdicts", "bands",
           "check_energy_below", "check_low_pass_radius", "claims", "config", "configs", "consistency_row",
           "consistency_table", "consistency_values", "consistency_verdicts", "defense_rows", "defense_table",
           "defense_verdicts", "distortion_row", "distortion_table", "dong_tables", "energy_verdicts",
           "ensemble_set", "eps_curves", "fixed_set_consistency", "heat_maps", "high_share", "kernel_table",
           "kernel_verdicts", "networks", "neuron_consistencies", "overfitting_verdicts",
           "perturbation_spectra", "pgd_accuracy", "pgd_along_training", "pgd_images", "ring_errors",
           "robustness_table", "smoothed_networks", "smoothing_gains", "smoothing_row", "smoothing_table",
           "summary", "term_effects", "top_images", "train_networks"]

NOTEBOOK = "05_attacks_defenses"
