"""freqlens: the helper package of the book on how CNNs use the frequencies of images."""

from freqlens import data, device, fourier
from freqlens.fourier import band_pass, high_pass, low_pass, split

__version__ = "0.1.0"
__all__ = ["band_pass", "data", "device", "fourier", "high_pass", "low_pass", "split"]
