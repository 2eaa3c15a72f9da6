"""Fourier heat maps on real CIFAR-10 images: the bases, the symmetry, and a per-basis loop by hand."""

import pytest
import torch
from torch import nn

from freqlens.data import cifar10_tensors
from freqlens.heatmaps import fourier_basis, fourier_heat_map


@pytest.fixture(scope="module")
def data():
    return cifar10_tensors("test", n=16, seed=9)


def test_bases_are_unit_norm_mirror_symmetric_and_orthogonal():
    seen = []
    for u, v in [(0, 0), (0, 3), (2, -5), (7, 7), (-15, 15)]:
        b = fourier_basis(u, v)
        assert b.norm().item() == pytest.approx(1.0)
        torch.testing.assert_close(b, fourier_basis(-u, -v))
        for other in seen:
            assert abs(float((b * other).sum())) < 1e-12
        seen.append(b)


def test_a_basis_is_the_cosine_of_its_frequency():
    b = fourier_basis(3, 5, 32, 32)
    m, n = torch.meshgrid(torch.arange(32, dtype=torch.float64), torch.arange(32, dtype=torch.float64),
                          indexing="ij")
    cosine = torch.cos(2 * torch.pi * (3 * m + 5 * n) / 32)
    torch.testing.assert_close(b, cosine / cosine.norm())


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Linear(3 * 32 * 32, 10)

    def forward(self, x):
        return self.head(x.flatten(1))


def test_the_map_is_the_per_basis_loop_on_a_linear_model(data):
    x, y = data
    net = Linear().eval()
    with torch.no_grad():
        y = net(x).argmax(1)   # every image right before the noise: the map is the noise's doing
    ours = fourier_heat_map(net, x, y, eps=4.0, random_sign=False, batch_size=300)
    by_hand = torch.zeros(31, 31)
    with torch.no_grad():
        for u in range(-15, 16):
            for v in range(-15, 16):
                noisy = (x + 4.0 * fourier_basis(u, v).float()).clamp(0, 1)
                by_hand[u + 15, v + 15] = (net(noisy).argmax(1) != y).float().mean()
    torch.testing.assert_close(ours, by_hand)
    assert ours.max() > 0   # the noise does flip some images


def test_the_map_is_symmetric_and_does_not_depend_on_the_batch_size(trained_small_cnn, data):
    x, y = data
    a = fourier_heat_map(trained_small_cnn, x, y, eps=4.0, batch_size=64)
    b = fourier_heat_map(trained_small_cnn, x, y, eps=4.0, batch_size=1000)
    torch.testing.assert_close(a, a.flip(0, 1))
    torch.testing.assert_close(a, b)


def test_no_noise_gives_the_clean_error_everywhere(trained_small_cnn, data):
    x, y = data
    hm = fourier_heat_map(trained_small_cnn, x, y, eps=0.0)
    with torch.no_grad():
        clean = (trained_small_cnn(x).argmax(1) != y).float().mean()
    torch.testing.assert_close(hm, torch.full((31, 31), float(clean)))


@pytest.mark.parametrize("kwargs, message", [
    ({"eps": -1.0}, r"eps must be a finite number >= 0, got -1.0"),
    ({"batch_size": 0}, r"batch_size must be an integer >= 1 \(or None for the device.s default\), got 0"),
])
def test_bad_settings_get_a_clear_error(trained_small_cnn, data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fourier_heat_map(trained_small_cnn, *data, **kwargs)


def test_bad_images_and_labels_get_a_clear_error(trained_small_cnn, data):
    x, y = data
    with pytest.raises(ValueError, match=r"images must be images in \[0, 1\]"):
        fourier_heat_map(trained_small_cnn, x * 2, y)
    with pytest.raises(ValueError, match=r"labels must be integer class labels of shape \(16,\)"):
        fourier_heat_map(trained_small_cnn, x, y[:3])
    with pytest.raises(ValueError, match=r"u must be an integer in \[-16, 15\], got 16"):
        fourier_basis(16, 0)
