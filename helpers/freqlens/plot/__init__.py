"""The book's figures, one module per idea: images, spectra, training curves.

Every function that draws returns a :class:`matplotlib.figure.Figure` built without
pyplot, so a notebook shows it once (as the cell's value). Radii have one colour across
the whole book (:func:`radius_colour`). Later chapters add their own modules here.

Example:
    >>> import torch
    >>> from freqlens import plot
    >>> len(plot.image_grid(torch.rand(2, 3, 32, 32)).axes)
    2
"""

from freqlens.plot.attacks import (accuracy_figure, bars_figure, consistency_histograms, distortion_figure,
                                   heat_map_grid, kernel_grid, top_images_grid)
from freqlens.plot.attribution import (band_figure, class_map_grid, curves_figure, frequency_map_grid,
                                       layer_mask_grid, radial_profile_figure, saliency_grid)
from freqlens.plot.heuristics import (gain_figure, heuristics_figure, k_gain_figure,
                                      layer_ratio_figure, matched_figure)
from freqlens.plot.images import confidence_grid, image_grid, radius_explorer, signed_stretch, split_grid
from freqlens.plot.spectra import mask_grid, power_spectrum_plot, ringing_figure, spectrum_grid
from freqlens.plot.steering import rebuilt_grid, split_figure
from freqlens.plot.style import OKABE_ITO, figure_png, radius_colour, register_notebook_display
from freqlens.plot.training import history_figure, radius_figure, training_copies_figure

__all__ = ["OKABE_ITO", "accuracy_figure", "bars_figure", "consistency_histograms", "distortion_figure",
           "heat_map_grid", "kernel_grid", "top_images_grid", "band_figure", "layer_mask_grid", "class_map_grid", "curves_figure", "frequency_map_grid", "radial_profile_figure",
           "saliency_grid", "confidence_grid", "figure_png", "gain_figure", "heuristics_figure", "history_figure",
           "image_grid", "k_gain_figure", "layer_ratio_figure", "mask_grid", "matched_figure",
           "power_spectrum_plot", "radius_colour", "radius_explorer", "radius_figure",
           "rebuilt_grid", "ringing_figure", "split_figure", "signed_stretch", "spectrum_grid", "split_grid", "training_copies_figure"]

register_notebook_display()
