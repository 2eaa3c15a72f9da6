"""freqlens.attacks against torchattacks (the test oracle), on real CIFAR-10 and the book's models."""

import copy

import pytest
import torch
import torchattacks   # the oracle; `make setup` installs it, so a missing one fails, never skips
from torch.nn import functional as F

from freqlens import attacks, fourier
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
