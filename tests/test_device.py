"""Device selection: the override, the fallback order, the one-line banner."""

import pytest
import torch

from freqlens import device as dev
from freqlens.device import autocast, banner, get_device, supports_mixed_precision


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)


def test_freqlens_device_cpu_is_honoured(monkeypatch):
    monkeypatch.setenv("FREQLENS_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_prefer_overrides_freqlens_device(monkeypatch):
    monkeypatch.setenv("FREQLENS_DEVICE", "not-a-device")
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("value", ["gpu", "banana", "cuda:x", "cpu cpu"])
def test_a_bogus_freqlens_device_raises_value_error_naming_it(monkeypatch, value):
    monkeypatch.setenv("FREQLENS_DEVICE", value)
    with pytest.raises(ValueError, match=rf"FREQLENS_DEVICE.*got {value!r}"):
        get_device()


def test_asking_for_cuda_without_cuda_raises_value_error(monkeypatch, no_accelerator):
    monkeypatch.setenv("FREQLENS_DEVICE", "cuda")
    with pytest.raises(ValueError, match=r"'cuda' was asked for, but CUDA is not available"):
        get_device()
    with pytest.raises(ValueError, match=r"'mps' was asked for, but MPS is not available"):
        get_device("mps")


def test_asking_for_a_cuda_index_beyond_the_visible_devices_raises(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert get_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match=r"'cuda:3' was asked for, but only 1 CUDA device"):
        get_device("cuda:3")


def test_without_override_the_order_is_cuda_then_mps_then_cpu(monkeypatch, no_accelerator):
    monkeypatch.delenv("FREQLENS_DEVICE", raising=False)
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv("FREQLENS_DEVICE", "")
    assert get_device() == torch.device("cpu")
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_banner_is_one_line_naming_profile_device_torch_and_threads(monkeypatch, profile):
    monkeypatch.setenv("FREQLENS_DEVICE", "cpu")
    monkeypatch.setenv("FREQLENS_PROFILE", profile)
    line = banner()
    assert "\n" not in line and line == line.strip()
    assert line.startswith(f"profile: {profile} | device: cpu |")
    assert f"torch {torch.__version__}" in line
    assert f"{torch.get_num_threads()} threads" in line
    assert line.endswith("| float32") and len(line) <= 80


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_banner_names_the_gpu_and_mixed_precision_on_cuda():
    line = banner("cuda")
    assert "\n" not in line and torch.cuda.get_device_name() in line
    assert line.endswith("| mixed-precision training")


def test_mixed_precision_only_on_cuda():
    assert supports_mixed_precision("cuda") and supports_mixed_precision(torch.device("cuda:0"))
    assert not supports_mixed_precision("cpu") and not supports_mixed_precision("mps")


def test_autocast_leaves_cpu_computation_in_float32():
    a = torch.rand(4, 4)
    with autocast("cpu"):
        assert (a @ a).dtype == torch.float32
    with autocast("cuda", enabled=False):
        assert (a @ a).dtype == torch.float32
