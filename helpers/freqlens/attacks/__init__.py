"""Adversarial attacks on images in [0, 1]: FGSM, PGD (L-inf, L2, band-limited) and DeepFool, batched.

A functional core (:func:`fgsm`, :func:`pgd`, :func:`deepfool`) that the trainer's
adversarial training calls, and thin classes named and parametrised as in torchattacks
(:class:`FGSM`, :class:`PGD`, :class:`PGDL2`, :class:`DeepFool`, called as
``atk(images, labels)``), so a reader who knows torchattacks knows these. The
arithmetic is torchattacks' step for step: without a random start the results are
equal to theirs bit for bit. DeepFool runs every image of the batch at once, where
torchattacks' loops over them one at a time.

``pgd(..., band=frequency_band("low", 8))`` keeps the perturbation inside a band of
frequencies (a disk of the centred spectrum, its complement, or the low block of the
orthonormal DCT): every step is projected onto the band and the ball is enforced by
*scaling* the perturbation, which keeps it in the band; the public low-frequency
attacks take the sign after projecting, which leaves the band. A band-limited
perturbation cannot also be clamped into the [0, 1] box without leaving the band (and
scaling it into the box would freeze it on any saturated pixel), so band-limited PGD
leaves the box alone: its images may step outside [0, 1] by at most ``eps``.

Every attack runs the model in eval mode (BatchNorm's running statistics are neither
used from the batch nor updated) and gives each submodule its mode back afterwards;
it differentiates the loss with respect to the images only, so the parameters'
gradients are left as they were. The step loop reads no values back to the host.

The submodules, one concern each: :mod:`~freqlens.attacks.gradient` (FGSM, PGD and the
pieces every attack shares), :mod:`~freqlens.attacks.bands` (the bands and PGD's step in
one), :mod:`~freqlens.attacks.distortion` (the smallest budget that flips each image),
:mod:`~freqlens.attacks.boundary` (DeepFool) and :mod:`~freqlens.attacks.classes` (the
torchattacks-style classes).

Example:
    >>> from freqlens.data import cifar10_tensors
    >>> from freqlens.models import SmallCNN
    >>> x, y = cifar10_tensors("test", n=8)
    >>> adv = PGD(SmallCNN(width=8), eps=8/255, alpha=2/255, steps=3)(x, y)
    >>> bool((adv - x).abs().max() <= 8/255 + 1e-6), bool(adv.min() >= 0), bool(adv.max() <= 1)
    (True, True, True)
"""

from freqlens.attacks.bands import BANDS, band_dimension, frequency_band
from freqlens.attacks.boundary import deepfool
from freqlens.attacks.classes import FGSM, PGD, PGDL2, Attack, DeepFool
from freqlens.attacks.distortion import minimal_distortion
from freqlens.attacks.gradient import NORMS, fgsm, pgd

__all__ = ["BANDS", "DeepFool", "FGSM", "NORMS", "PGD", "PGDL2", "Attack", "band_dimension", "deepfool", "fgsm",
           "frequency_band", "minimal_distortion", "pgd"]
