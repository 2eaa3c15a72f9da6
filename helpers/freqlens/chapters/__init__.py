"""The book's chapters, one module each: its networks per profile, its named experiments, its graders.

The library (:mod:`freqlens.fourier`, :mod:`freqlens.attacks`, ...) knows nothing of
chapters; a chapter's module is built from it, as a notebook is. Each module names its
notebook (``NOTEBOOK``); a chapter that trains networks lists them per profile
(``networks(profile)``), and :mod:`freqlens.grid` is the union of those lists. Its
experiments are what the notebook's cells call, and its ``check_*`` functions grade the
chapter's exercises (judged with :mod:`freqlens.exercises`).

A chapter that grows long becomes a package of one submodule per part (its networks, each
group of experiments, its findings, its graders) whose every public name is also the
package's, so the notebook still reads ``ch5.pgd_images``.

A new chapter is a notebook in ``book/``, a module here added to :data:`MODULES`, and a
line in ``_toc.yml``.

Example:
    >>> [m.NOTEBOOK for m in MODULES][:2]
    ['01_frequencies', '02_hfc_generalization']
"""

from freqlens.chapters import (ch1_frequencies, ch2_hfc_generalization, ch3_heuristics_batchnorm,
                               ch4_frequency_attribution, ch5_attacks_defenses, ch6_explaining_and_steering)

__all__ = ["MODULES", "ch1_frequencies", "ch2_hfc_generalization", "ch3_heuristics_batchnorm",
           "ch4_frequency_attribution", "ch5_attacks_defenses", "ch6_explaining_and_steering"]

MODULES = (ch1_frequencies, ch2_hfc_generalization, ch3_heuristics_batchnorm, ch4_frequency_attribution,
           ch5_attacks_defenses, ch6_explaining_and_steering)
