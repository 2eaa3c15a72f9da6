"""freqlens.attacks against torchattacks (the test oracle), on real CIFAR-10 and the book's models."""

import copy

import pytest
import torch
import torchattacks   # the oracle; `make setup` installs it, so a missing one fails, never skips
from torch.nn import functional as F

from freqlens import attacks, evaluate, fourier
from freqlens.data import cifar10_tensors
from freqlens.models import SmallCNN

EPS, ALPHA, STEPS = 8 / 255, 2 / 255, 5


@pytest.fixture(scope="module")
def batch():
    return cifar10_tensors("test", n=64, seed=3)


@pytest.fixture
def model(trained_small_cnn):
    """The trained network as the trainer leaves it: eval mode, channels-last."""
    return trained_small_cnn.eval()


@pytest.fixture
def oracle_model(trained_small_cnn):
    """The same network in the default memory format: torchattacks' PGDL2 calls ``.view`` on
    the input gradient, which fails for a channels-last network's gradient."""
    return copy.deepcopy(trained_small_cnn).to(memory_format=torch.contiguous_format).eval()


def _loss(model, x, y):
    with torch.no_grad():
        return float(F.cross_entropy(model(x), y))


def test_fgsm_equals_torchattacks_exactly(oracle_model, batch):
    x, y = batch
    ours = attacks.FGSM(oracle_model, eps=EPS)(x, y)
    theirs = torchattacks.FGSM(oracle_model, eps=EPS)(x, y)
    assert torch.equal(ours, theirs)


def test_targeted_fgsm_at_the_least_likely_class_equals_torchattacks_least_likely_mode(oracle_model, batch):
    x, y = batch
    target = evaluate.least_likely(oracle_model, x)
    ours = attacks.fgsm(oracle_model, x, target, EPS, targeted=True)
    oracle = torchattacks.FGSM(oracle_model, eps=EPS)
    oracle.set_mode_targeted_least_likely(kth_min=1)
    theirs = oracle(x, y)
    # torchattacks picks the least likely of the classes other than the label; Dong et al.'s
    # (and ours) is the least likely of all. They differ only where the label is the least likely.
    same = target != y
    assert same.float().mean() > 0.8
    assert torch.equal(ours[same], theirs[same])
    with torch.no_grad():   # the step raises the target's logit for most images
        raised = oracle_model(ours).gather(1, target[:, None]) > oracle_model(x).gather(1, target[:, None])
    assert raised.float().mean() > 0.9


def test_targeted_pgd_at_the_least_likely_class_equals_torchattacks_least_likely_mode(oracle_model, batch):
    x, y = batch
    target = evaluate.least_likely(oracle_model, x)
    ours = attacks.pgd(oracle_model, x, target, EPS, ALPHA, STEPS, random_start=False, targeted=True)
    oracle = torchattacks.PGD(oracle_model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=False)
    oracle.set_mode_targeted_least_likely(kth_min=1)
    theirs = oracle(x, y)
    same = target != y   # torchattacks leaves the label out of its choice (see the FGSM test)
    assert same.float().mean() > 0.8
    assert torch.equal(ours[same], theirs[same])
    assert float((ours - x).abs().max()) <= EPS + 1e-6


def test_pgd_without_random_start_equals_torchattacks_exactly(oracle_model, batch):
    x, y = batch
    ours = attacks.PGD(oracle_model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=False)(x, y)
    theirs = torchattacks.PGD(oracle_model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=False)(x, y)
    assert torch.equal(ours, theirs)
    assert not torch.equal(ours, x)


@pytest.mark.parametrize("cls, kwargs", [
    ("PGD", dict(eps=EPS, alpha=ALPHA, steps=STEPS)),
    ("PGDL2", dict(eps=0.5, alpha=0.1, steps=STEPS)),
])
def test_random_starts_equal_torchattacks_exactly_from_the_same_seed(oracle_model, batch, cls, kwargs):
    x, y = batch
    torch.manual_seed(11)
    ours = getattr(attacks, cls)(oracle_model, **kwargs)(x, y)
    torch.manual_seed(11)
    theirs = getattr(torchattacks, cls)(oracle_model, **kwargs)(x, y)
    assert torch.equal(ours, theirs)


def test_pgdl2_without_random_start_equals_torchattacks_exactly(oracle_model, batch):
    x, y = batch
    ours = attacks.PGDL2(oracle_model, eps=0.5, alpha=0.1, steps=STEPS, random_start=False)(x, y)
    theirs = torchattacks.PGDL2(oracle_model, eps=0.5, alpha=0.1, steps=STEPS, random_start=False)(x, y)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("norm, eps, alpha", [("linf", EPS, ALPHA), ("l2", 0.5, 0.1)])
def test_random_start_stays_in_the_ball_and_the_box_and_raises_the_loss(model, batch, norm, eps, alpha):
    x, y = batch
    adv = attacks.pgd(model, x, y, eps, alpha, STEPS, norm=norm, generator=torch.Generator().manual_seed(0))
    delta = (adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert bool((size <= eps + 1e-5).all())
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    assert _loss(model, adv, y) > _loss(model, x, y) + 0.1


def test_a_seeded_generator_gives_the_same_attack_twice(model, batch):
    x, y = batch
    runs = [attacks.pgd(model, x, y, EPS, ALPHA, 2, generator=torch.Generator().manual_seed(5))
            for _ in range(2)]
    other = attacks.pgd(model, x, y, EPS, ALPHA, 2, generator=torch.Generator().manual_seed(6))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], other)


def test_without_a_box_the_result_may_leave_zero_to_one(model, batch):
    x, y = batch
    _, hfc = fourier.split(x, 8)   # signed, around 0
    adv = attacks.pgd(model, hfc, y, EPS, ALPHA, 2, clip=None, random_start=False)
    assert float(adv.min()) < 0
    assert float((adv - hfc).abs().max()) <= EPS + 1e-6
    boxed = attacks.pgd(model, hfc, y, EPS, ALPHA, 2, random_start=False)
    assert float(boxed.min()) >= 0


@pytest.mark.parametrize("random_start", [False, True])
def test_l2_with_a_zero_budget_returns_the_images_even_where_the_gradient_is_zero(batch, random_start):
    """A confident network's loss can have an exactly zero gradient (its softmax saturates
    in float32); an eps sweep that starts at 0 must then give the images, not nan."""
    x, y = batch
    model = SmallCNN(width=8).eval()
    torch.nn.init.zeros_(model.head.weight)   # logits that ignore the input: gradient 0
    adv = attacks.pgd(model, x, y, 0.0, 0.1, 2, norm="l2", random_start=random_start)
    assert torch.equal(adv, x)


def test_attacks_leave_batchnorm_statistics_and_modes_as_they_were(batch):
    x, y = batch
    model = SmallCNN(width=8).train()
    model.features[0].eval()   # a submodule in its own mode must get it back too
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    for atk in (attacks.FGSM(model), attacks.PGD(model, steps=2), attacks.PGDL2(model, steps=2)):
        atk(x, y)
    assert model.training and not model.features[0].training and model.features[1].training
    for k, v in model.state_dict().items():
        assert torch.equal(v, stats[k]), f"{k} changed"
    assert all(p.grad is None for p in model.parameters())


def test_the_mode_comes_back_when_the_model_raises(batch):
    x, y = batch

    class Broken(SmallCNN):
        def forward(self, x):
            raise RuntimeError("broken")

    model = Broken(width=8).train()
    with pytest.raises(RuntimeError, match="broken"):
        attacks.pgd(model, x, y, EPS, ALPHA, 2)
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize("call, message", [
    (lambda m, x, y: attacks.fgsm(m, (x * 255).to(torch.uint8), y, EPS),
     r"images must be float images \(B, C, H, W\) \(e.g. images / 255.0\), got torch.uint8"),
    (lambda m, x, y: attacks.FGSM(m, eps=8), r"eps must be a finite number in \[0, 1\]"),
    (lambda m, x, y: attacks.pgd(m, x, y, EPS, ALPHA, 2, norm="l3"),
     r"norm must be one of \('linf', 'l2'\), got 'l3'"),
    (lambda m, x, y: attacks.PGD(m, steps=0), r"steps must be an integer >= 1, got 0"),
    (lambda m, x, y: attacks.fgsm(m, x, y[:3], EPS), r"labels must be integer class labels of shape \(64,\)"),
    (lambda m, x, y: attacks.pgd(m, x, y, EPS, 0, 2), r"alpha must be a finite number > 0, got 0"),
    (lambda m, x, y: attacks.pgd(m, x, y, EPS, ALPHA, 2, clip=(1, 0)), r"clip must be a \(low, high\) pair"),
    (lambda m, x, y: attacks.FGSM("model"), r"model must be a torch.nn.Module, got str"),
])
def test_bad_inputs_get_the_checks_messages(batch, call, message):
    x, y = batch
    with pytest.raises(ValueError, match=message):
        call(SmallCNN(width=8), x, y)


def test_repr_names_the_settings():
    assert repr(attacks.PGD(SmallCNN(width=8), steps=3)) == (
        "PGD(model=SmallCNN, eps=0.03137254901960784, alpha=0.00784313725490196, steps=3, "
        "random_start=True)")


# --------------------------------------------------------------------------- DeepFool

def test_deepfool_takes_the_closed_form_step_on_an_affine_classifier():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3)).double()
    x = 0.4 + 0.2 * torch.rand(5, 3, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        y = net(x).argmax(1)
    adv = attacks.deepfool(net, x, y, steps=1, overshoot=0.02, clip=None)
    w, b = net[1].weight.detach(), net[1].bias.detach()
    for i in range(5):
        f = w @ x[i].flatten() + b
        gaps = [(abs(f[k] - f[y[i]]) / (w[k] - w[y[i]]).norm(), k) for k in range(3) if k != y[i]]
        _, k = min(gaps)
        step = 1.02 * abs(f[k] - f[y[i]]) * (w[k] - w[y[i]]) / (w[k] - w[y[i]]).norm() ** 2
        torch.testing.assert_close(adv[i].flatten(), x[i].flatten() + step)
    with torch.no_grad():   # one step crosses the linear boundary, by the overshoot
        assert (net(adv).argmax(1) != y).all()


def _top_two_gap(logits):
    top = logits.topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


def test_deepfool_matches_torchattacks_image_by_image(oracle_model, batch):
    x, y = batch[0][:24], batch[1][:24]
    ours = attacks.DeepFool(oracle_model, steps=50, overshoot=0.02)(x, y)
    theirs = torchattacks.DeepFool(oracle_model, steps=50, overshoot=0.02)(x, y)
    with torch.no_grad():
        logits_ours, logits_theirs = oracle_model(ours), oracle_model(theirs)
    # both end at the same outputs. DeepFool stops just past the boundary, so whether an image
    # is fooled after a step, or takes one more, can be a tie that rounding decides (batched
    # gradients against one image's): an image whose runs part there ends a little elsewhere
    # (on one CPU, 23 of 24 images agreed to 7e-7 and one to 1.3e-4)
    apart = (logits_ours - logits_theirs).abs().amax(1)
    assert float((apart <= 1e-4).float().mean()) >= 0.9 and float(apart.max()) <= 1e-3, apart
    # most attacked images end with two classes within 1e-4, where which one wins is the
    # arithmetic's choice (another CPU's kernels flip it): the labels are compared where it is decided
    decided = (_top_two_gap(logits_ours) > 1e-3) & (_top_two_gap(logits_theirs) > 1e-3)
    assert torch.equal(logits_ours.argmax(1)[decided], logits_theirs.argmax(1)[decided])
    assert (logits_ours.argmax(1) != y).float().mean() >= 0.9
    norms = lambda adv: (adv - x).flatten(1).norm(dim=1)
    torch.testing.assert_close(norms(ours), norms(theirs), rtol=1e-3, atol=1e-5)


def test_deepfool_leaves_misclassified_images_alone_and_stays_in_the_box(model, batch):
    x, y = batch
    with torch.no_grad():
        wrong = model(x).argmax(1) != y
    adv = attacks.deepfool(model, x, y, steps=20)
    assert torch.equal(adv[wrong], x[wrong])
    assert adv.min() >= 0 and adv.max() <= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, r"steps must be an integer >= 1, got 0"),
    ({"overshoot": -0.1}, r"overshoot must be a finite number >= 0, got -0.1"),
])
def test_deepfool_refuses_bad_settings(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        attacks.DeepFool(model, **kwargs)


# --------------------------------------------------------------------------- band-limited PGD

BAND_CASES = [("low", 8), ("high", 8), ("dct_low", 8)]


def _outside_share(band, delta):
    """Share of each perturbation's energy outside the band."""
    inside = band(delta)
    return ((delta - inside).flatten(1).square().sum(1) / delta.flatten(1).square().sum(1).clamp_min(1e-30))


@pytest.mark.parametrize("kind, size", BAND_CASES)
@pytest.mark.parametrize("norm, eps, alpha", [("linf", 8 / 255, 2 / 255), ("l2", 0.5, 0.1)])
def test_band_limited_pgd_stays_in_its_band_ball_and_box(model, batch, kind, size, norm, eps, alpha):
    x, y = batch[0][:16], batch[1][:16]
    band = attacks.frequency_band(kind, size)
    adv = attacks.pgd(model, x, y, eps=eps, alpha=alpha, steps=5, norm=norm, band=band,
                      generator=torch.Generator().manual_seed(0))
    delta = (adv - x).double()
    assert (_outside_share(band, delta) < 1e-6).all()
    size_of = delta.flatten(1).abs().amax(1) if norm == "linf" else delta.flatten(1).norm(dim=1)
    assert (size_of <= eps + 1e-6).all() and (size_of > 0.5 * eps).all()
    assert _loss(model, adv, y) > _loss(model, x, y)


def test_band_limited_pgd_will_not_clamp_into_a_box(model, batch):
    x, y = batch[0][:2], batch[1][:2]
    with pytest.raises(ValueError, match=r"clip must be None with a band: .*got \(0.0, 1.0\)"):
        attacks.pgd(model, x, y, 0.03, 0.01, 2, band=attacks.frequency_band("low", 8), clip=(0.0, 1.0))


def test_taking_the_sign_after_projecting_leaves_the_band(model, batch):
    # Guo et al.'s low-frequency PGD keeps the low DCT block of the gradient, then takes its sign
    x, y = batch[0][:8], batch[1][:8]
    band = attacks.frequency_band("dct_low", 8)
    grad = attacks.gradient.loss_gradient(model, x, y).double()
    assert (_outside_share(band, band(grad).sign()) > 0.1).all()


def test_frequency_bands_are_orthogonal_projections_and_low_plus_high_is_everything(batch):
    d = batch[0][:4].double() - 0.5
    low, high = attacks.frequency_band("low", 6), attacks.frequency_band("high", 6)
    torch.testing.assert_close(low(d) + high(d), d)
    dct = attacks.frequency_band("dct_low", 4)
    torch.testing.assert_close(dct(dct(d)), dct(d))
    torch.testing.assert_close((dct(d) * (d - dct(d))).sum(), torch.tensor(0.0, dtype=torch.float64), atol=1e-9, rtol=0)


@pytest.mark.parametrize("kind, size, message", [
    ("middle", 4, r"kind must be one of \('low', 'high', 'dct_low', 'random', 'smooth'\), got 'middle'"),
    ("smooth", 0, r"size must be a finite number > 0, got 0"),
    ("low", -1, r"size must be a finite number >= 0, got -1"),
    ("dct_low", 2.5, r"size must be an integer >= 1, got 2.5"),
])
def test_bad_bands_get_a_clear_error(kind, size, message):
    with pytest.raises(ValueError, match=message):
        attacks.frequency_band(kind, size)


def test_a_band_beyond_the_spectrum_is_named(model, batch):
    x, y = batch[0][:2], batch[1][:2]
    with pytest.raises(ValueError, match=r"size must be at most 32 for 32x32 images \(a band beyond the spectrum\), got 40"):
        attacks.pgd(model, x, y, eps=0.03, alpha=0.01, steps=1, band=attacks.frequency_band("dct_low", 40))
    with pytest.raises(ValueError, match=r"radius must be at most 22.627"):
        attacks.pgd(model, x, y, eps=0.03, alpha=0.01, steps=1, band=attacks.frequency_band("low", 30))


# --------------------------------------------------------------------------- minimal distortion

def test_minimal_distortion_brackets_the_smallest_budget_that_flips(model, batch):
    x, y = batch[0][:16], batch[1][:16]
    budgets, adv = attacks.minimal_distortion(model, x, y, norm="l2", high=4.0, iterations=6, steps=10)
    with torch.no_grad():
        right = model(x).argmax(1) == y
        flipped = model(adv).argmax(1) != y
    assert (budgets[~right] == 0).all()
    found = right & torch.isfinite(budgets)
    assert found.any() and flipped[found].all()
    assert ((adv - x).flatten(1).norm(dim=1)[found] <= budgets[found] + 1e-4).all()
    # below the budget by more than the bisection's resolution, PGD no longer flips them
    lower = (budgets[found] - 4.0 / 2 ** 6).clamp_min(0)
    retry = attacks.gradient.pgd_steps(model, x[found], x[found].clone(), y[found], lower.view(-1, 1, 1, 1),
                                       2.5 * lower.view(-1, 1, 1, 1) / 10, 10, "l2", None, (0.0, 1.0))
    with torch.no_grad():
        assert (model(retry).argmax(1) == y[found]).float().mean() > 0.5


def test_minimal_distortion_in_a_band_stays_in_the_band(model, batch):
    x, y = batch[0][:8], batch[1][:8]
    band = attacks.frequency_band("high", 8)
    budgets, adv = attacks.minimal_distortion(model, x, y, band=band, iterations=4, steps=5)
    delta = (adv - x).double()
    moved = delta.flatten(1).norm(dim=1) > 0
    assert (_outside_share(band, delta[moved]) < 1e-6).all()


def test_minimal_distortion_unboxed_may_leave_the_box_and_needs_no_more(model, batch):
    x, y = batch[0][:8], batch[1][:8]
    boxed, _ = attacks.minimal_distortion(model, x, y, iterations=4, steps=5)
    free, adv = attacks.minimal_distortion(model, x, y, iterations=4, steps=5, clip=None)
    assert torch.isfinite(free).any()
    assert (free[torch.isfinite(boxed)] <= boxed[torch.isfinite(boxed)] + 4.0 / 2 ** 4).all()
    with pytest.raises(ValueError, match="clip must be None with a band"):
        attacks.minimal_distortion(model, x, y, band=attacks.frequency_band("low", 8), clip=(0.0, 1.0))


@pytest.mark.parametrize("kind, size", [("low", 8), ("high", 8), ("dct_low", 8), ("random", 193)])
def test_band_dimension_is_the_trace_of_the_bands_projection(kind, size):
    band = attacks.frequency_band(kind, size)
    basis = torch.eye(32 * 32).view(1024, 1, 32, 32)   # every pixel of one channel, one at a time
    trace = band(basis).flatten(1).diagonal().sum()
    assert round(float(trace)) == attacks.band_dimension(kind, size)


def test_a_random_band_is_an_orthogonal_projection_drawn_from_its_seed():
    band = attacks.frequency_band("random", 100, seed=3)
    a, b = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)).unbind(0)
    a, b = a[None], b[None]
    torch.testing.assert_close(band(band(a)), band(a), atol=1e-5, rtol=0)
    torch.testing.assert_close((band(a) * b).sum(), (a * band(b)).sum(), atol=1e-4, rtol=0)
    torch.testing.assert_close(attacks.frequency_band("random", 100, seed=3)(a), band(a))
    assert not torch.allclose(attacks.frequency_band("random", 100, seed=4)(a), band(a))


def test_pgd_in_a_random_band_keeps_its_perturbation_there(batch):
    x, y = batch[0][:8], batch[1][:8]
    band = attacks.frequency_band("random", 64, seed=1)
    adv = attacks.pgd(SmallCNN(width=8), x, y, eps=1.0, alpha=0.3, steps=3, norm="l2", band=band)
    delta = adv - x
    torch.testing.assert_close(band(delta), delta, atol=1e-5, rtol=0)
    assert ((delta.flatten(1).norm(dim=1)) <= 1.0 + 1e-5).all()


def test_a_random_band_names_its_limits():
    with pytest.raises(ValueError, match="size"):
        attacks.frequency_band("random", 2000)
    with pytest.raises(ValueError, match="16x16"):
        attacks.frequency_band("random", 10, height=16, width=16)(torch.rand(1, 3, 32, 32))


def test_targeted_pgdl2_equals_torchattacks_targeted_mode(oracle_model, batch):
    # the attack that makes Ilyas et al.'s non-robust sets: towards (y + 1) mod 10, under L2
    x, y = batch
    target = (y + 1) % 10
    ours = attacks.pgd(oracle_model, x, target, 0.5, 0.1, STEPS, norm="l2", random_start=False, targeted=True)
    oracle = torchattacks.PGDL2(oracle_model, eps=0.5, alpha=0.1, steps=STEPS, random_start=False)
    oracle.set_mode_targeted_by_function(lambda images, labels: (labels + 1) % 10)
    torch.testing.assert_close(ours, oracle(x, y), atol=1e-6, rtol=0)


def test_smooth_pgd_is_a_sum_of_filtered_steps(model, batch):
    # one step from the image: the filtered gradient, scaled to alpha; no second filtering
    x, y = batch[0][:8], batch[1][:8]
    smooth = attacks.frequency_band("smooth", 3)
    adv = attacks.pgd(model, x, y, eps=1.0, alpha=0.2, steps=1, norm="l2", band=smooth, random_start=False)
    g = fourier.low_pass(attacks.gradient.loss_gradient(model, x, y), 3, mask="gaussian")
    expected = 0.2 * g / g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    torch.testing.assert_close(adv - x, expected, atol=1e-6, rtol=0)


def test_smooth_pgd_puts_less_energy_in_the_high_frequencies_and_stays_in_the_ball(model, batch):
    x, y = batch[0][:16], batch[1][:16]
    kwargs = dict(eps=1.0, alpha=0.2, steps=10, norm="l2", random_start=False, clip=None)
    plain = attacks.pgd(model, x, y, **kwargs) - x
    smooth = attacks.pgd(model, x, y, band=attacks.frequency_band("smooth", 3), **kwargs) - x
    assert (smooth.flatten(1).norm(dim=1) <= 1.0 + 1e-5).all()
    high = lambda d: 1 - fourier.energy_below(d, 8)
    assert (high(smooth) < 0.5 * high(plain)).all()
    assert _loss(model, x + smooth, y) > _loss(model, x, y)


def test_smooth_band_has_the_whole_dimension():
    assert attacks.band_dimension("smooth", 4) == 32 * 32
