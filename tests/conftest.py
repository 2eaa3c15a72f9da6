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
