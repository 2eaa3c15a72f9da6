"""freqlens: the helper package of the book on how CNNs use the frequencies of images."""

from freqlens import data, device, evaluate, experiments, fourier, models, train
from freqlens.fourier import band_pass, high_pass, low_pass, split
from freqlens.profiles import current_profile
from freqlens.train import TrainConfig

__version__ = "0.1.0"
__all__ = ["TrainConfig", "band_pass", "current_profile", "data", "device", "evaluate",
           "experiments", "fourier", "high_pass", "low_pass", "models", "split", "train"]
