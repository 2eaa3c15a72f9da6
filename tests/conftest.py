"""Shared fixtures: the real CIFAR-10, loaded once per test session through freqlens.data."""

import pytest
from hypothesis import HealthCheck, settings

from freqlens.data import load_cifar10

# Timings vary on shared machines; correctness, not speed, is what the properties check.
# `pytest --hypothesis-profile=thorough` searches harder.
settings.register_profile("default", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=1000)
settings.load_profile("default")


@pytest.fixture(scope="session")
def cifar():
    """The verified CIFAR-10 arrays (uint8 NHWC images, int64 labels)."""
    return load_cifar10()


@pytest.fixture(scope="session")
def trained_small_cnn(tmp_path_factory):
    """A narrow small CNN trained briefly on 2,000 real CIFAR-10 images (a private cache),
    so that its predictions are far from constant; in eval mode."""
    from freqlens.train import TrainConfig, train

    mp = pytest.MonkeyPatch()
    mp.setenv("FREQLENS_CACHE", str(tmp_path_factory.mktemp("cache")))
    config = TrainConfig(width=8, train_size=2000, test_size=100, epochs=3, batch_size=100,
                         lr=0.05, eval_radii=(), train_eval_size=0)
    try:
        return train(config, progress=False, device="cpu").model
    finally:
        mp.undo()
