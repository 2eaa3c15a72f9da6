"""Defenses: kernel smoothness and smoothing against SciPy, the low-pass input defense, BPDA."""

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d
from torch import nn

from freqlens import attacks, defenses, fourier
from freqlens.data import cifar10_tensors
from freqlens.models import SmallCNN


@pytest.fixture(scope="module")
def batch():
    return cifar10_tensors("test", n=16, seed=11)


def test_smoothing_is_the_references_spatial_convolution_slice_by_slice():
    torch.manual_seed(0)
    net = SmallCNN(width=8)
    rho = 0.3
    smoothed = defenses.smooth_kernels(net, rho)
    m = np.full((3, 3), rho)
    m[1, 1] = 1.0
    w = net.features[0].conv.weight.detach().double().numpy()
    expected = np.stack([[convolve2d(w[o, i], m, mode="same", boundary="symm") for i in range(w.shape[1])]
                         for o in range(w.shape[0])])
    np.testing.assert_allclose(smoothed.features[0].conv.weight.detach().double().numpy(), expected,
                               rtol=1e-5, atol=1e-6)
    # only the first convolution changes, and the original is left alone
    assert torch.equal(smoothed.features[1].conv.weight, net.features[1].conv.weight)
    assert not torch.equal(smoothed.features[0].conv.weight, net.features[0].conv.weight)


def test_smoothing_with_rho_zero_is_the_identity_and_raises_smoothness():
    torch.manual_seed(1)
    net = SmallCNN(width=8)
    torch.testing.assert_close(defenses.smooth_kernels(net, 0.0).features[0].conv.weight, net.features[0].conv.weight)
    before = defenses.kernel_smoothness(net).mean()
    assert defenses.kernel_smoothness(defenses.smooth_kernels(net, 0.5)).mean() > before


def test_kernel_smoothness_is_the_dc_share_of_the_dft_energy():
    torch.manual_seed(2)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    power = torch.fft.fft2(w).abs().square()
    expected = power[..., 0, 0] / power.sum(dim=(2, 3))
    torch.testing.assert_close(defenses.kernel_smoothness(w), expected.float())


def test_a_low_pass_defense_filters_the_input_and_is_differentiable(trained_small_cnn, batch):
    x, y = batch
    defended = defenses.low_pass_defense(trained_small_cnn, 8)
    with torch.no_grad():
        torch.testing.assert_close(defended(x), trained_small_cnn(fourier.low_pass(x, 8)))
    adv = attacks.pgd(defended, x, y, eps=8 / 255, alpha=2 / 255, steps=3, random_start=False)
    assert (adv - x).abs().max() > 0   # gradients flow through the filter


def test_straight_through_uses_the_transform_forward_and_the_identity_backward(batch):
    x = batch[0][:2].clone().requires_grad_()
    quantise = defenses.StraightThrough(lambda t: torch.round(t * 4) / 4)
    out = quantise(x)
    torch.testing.assert_close(out, torch.round(x.detach() * 4) / 4)
    (out * torch.arange(out.numel()).view(out.shape)).sum().backward()
    torch.testing.assert_close(x.grad, torch.arange(out.numel()).view(out.shape).float())


def test_bad_arguments_get_a_clear_error():
    with pytest.raises(ValueError, match=r"rho must be a finite number >= 0, got -0.1"):
        defenses.smooth_kernels(SmallCNN(width=8), -0.1)
    with pytest.raises(ValueError, match="model must hold a torch.nn.Conv2d, found none in Linear"):
        defenses.first_conv(nn.Linear(3, 3))
    with pytest.raises(ValueError, match=r"kernels must be a model or float convolution weights"):
        defenses.kernel_smoothness(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="transform must be a function or module"):
        defenses.StraightThrough("jpeg")


def test_adjacent_differences_of_noise_kernels_average_24_over_9():
    w = torch.randn(4000, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    assert abs(float(defenses.adjacent_differences(w).mean()) - 24 / 9) < 0.05
    board = torch.tensor([[1., -1., 1.], [-1., 1., -1.], [1., -1., 1.]]).view(1, 1, 3, 3)
    torch.testing.assert_close(defenses.adjacent_differences(board), torch.tensor([[48 / 9]]))


def test_adjacent_differences_follow_a_straightforward_loop():
    w = torch.randn(5, 2, 3, 3, generator=torch.Generator().manual_seed(1)).double()
    expected = torch.zeros(5, 2)
    for o in range(5):
        for i in range(2):
            k = w[o, i]
            diffs = sum((k[a, b] - k[a, b + 1]) ** 2 for a in range(3) for b in range(2))
            diffs += sum((k[a, b] - k[a + 1, b]) ** 2 for a in range(2) for b in range(3))
            expected[o, i] = diffs / k.square().sum()
    torch.testing.assert_close(defenses.adjacent_differences(w), expected)


def test_kernel_high_share_agrees_with_numpy_and_is_the_frequencies_share_for_noise():
    w = torch.randn(3, 3, 3, 3, generator=torch.Generator().manual_seed(2))
    response = np.abs(np.fft.fftshift(np.fft.fft2(w.double().numpy(), s=(32, 32)), axes=(-2, -1))) ** 2
    u = np.arange(32)[:, None] - 16
    v = np.arange(32)[None, :] - 16
    high = np.sqrt(u * u + v * v) >= 8
    expected = (response * high).sum(axis=(2, 3)) / response.sum(axis=(2, 3))
    np.testing.assert_allclose(defenses.kernel_high_share(w).numpy(), expected, atol=1e-6)
    assert high.sum() == 831
    noise = torch.randn(4000, 3, 3, 3, generator=torch.Generator().manual_seed(3))
    assert abs(float(defenses.kernel_high_share(noise).mean()) - 831 / 1024) < 0.01


def test_smoothing_the_kernels_lowers_both_roughness_measures():
    net = SmallCNN(width=16)
    smoothed = defenses.smooth_kernels(net, 0.5)
    for measure in (defenses.adjacent_differences, defenses.kernel_high_share):
        assert measure(smoothed).mean() < measure(net).mean(), measure.__name__


def test_kernel_high_share_rejects_a_size_below_the_kernel():
    with pytest.raises(ValueError, match="size"):
        defenses.kernel_high_share(torch.ones(1, 1, 3, 3), size=2)


# --------------------------------------------------------------------------- the kernels' low frequencies

def test_low_pass_kernels_keep_the_dct_coefficients_up_to_their_order():
    torch.manual_seed(0)
    net = SmallCNN(width=8)
    w = defenses.first_conv(net).weight.detach()
    d = fourier.dct_matrix(3, w)
    for order in range(5):
        kept = defenses.first_conv(defenses.low_pass_kernels(net, order)).weight.detach()
        # by hand: the slice's DCT, the coefficients of u + v > order zeroed, and back
        coeffs = d @ w @ d.T
        u = torch.arange(3)[:, None] + torch.arange(3)[None, :]
        torch.testing.assert_close(kept, d.T @ (coeffs * (u <= order)) @ d, atol=1e-6, rtol=0)
    everything = defenses.first_conv(defenses.low_pass_kernels(net, 4)).weight
    torch.testing.assert_close(everything, w, atol=1e-6, rtol=0)
    flat = defenses.first_conv(defenses.low_pass_kernels(net, 0)).weight
    torch.testing.assert_close(flat, w.mean(dim=(2, 3), keepdim=True).expand_as(w), atol=1e-6, rtol=0)


def test_low_pass_kernels_change_the_first_convolution_only_and_smooth_it():
    torch.manual_seed(0)
    net = SmallCNN(width=16)
    filtered = defenses.low_pass_kernels(net, 1)
    first = defenses.first_conv(net)
    for (name, a), b in zip(net.state_dict().items(), filtered.state_dict().values()):
        if a.data_ptr() != first.weight.data_ptr():
            assert torch.equal(a, b), name
    # from random kernels (2.67 and 0.81 expected) to smooth ones
    assert defenses.adjacent_differences(filtered).mean() < 0.5 * defenses.adjacent_differences(net).mean()
    assert defenses.kernel_high_share(filtered).mean() < 0.7 * defenses.kernel_high_share(net).mean()
    # a ramp (u + v = 1) passes; a checkerboard-like bump (u + v = 4) does not
    ramp = torch.tensor([[-1., 0., 1.]] * 3).view(1, 1, 3, 3)
    conv = nn.Conv2d(1, 1, 3, bias=False)
    conv.weight.data = ramp.clone()
    torch.testing.assert_close(defenses.first_conv(defenses.low_pass_kernels(conv, 1)).weight.data, ramp,
                               atol=1e-6, rtol=0)
    bump = torch.tensor([[1., -2., 1.]]).T @ torch.tensor([[1., -2., 1.]])
    conv.weight.data = bump.view(1, 1, 3, 3).clone()
    assert float(defenses.first_conv(defenses.low_pass_kernels(conv, 3)).weight.abs().max()) < 1e-6


def test_low_pass_kernels_refuse_an_order_outside_the_kernels_coefficients():
    with pytest.raises(ValueError, match=r"order must be an integer in \[0, 4\], got 5"):
        defenses.low_pass_kernels(SmallCNN(width=8), 5)
    with pytest.raises(ValueError, match=r"order must be an integer in \[0, 4\], got -1"):
        defenses.low_pass_kernels(SmallCNN(width=8), -1)


def test_roughness_is_adjacent_differences_in_the_graph():
    torch.manual_seed(0)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    r = defenses.roughness(w)
    torch.testing.assert_close(r.detach(), defenses.adjacent_differences(w.detach()), atol=1e-6, rtol=1e-6)
    (grad,) = torch.autograd.grad(r.sum(), w)
    # a scale-free measure: its gradient is orthogonal to the weights of each slice
    torch.testing.assert_close((grad * w).sum(dim=(2, 3)), torch.zeros(4, 3), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"weights must be float convolution weights"):
        defenses.roughness(torch.zeros(3, 3))
