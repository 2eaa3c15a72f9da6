"""The full profile's code, run at the smoke profile's size: its networks (ResNet-18), their
optimisers, schedules, views and adversarial steps, and every public function of the package
on such a network. Finite results of the right shapes; no claim is asserted at this size.

On a machine with a GPU this runs there (``make gpu-check`` runs it with the device set).
"""

import math

import pytest
import torch

from freqlens import grid, profiles
from freqlens.data import cifar10_tensors
from freqlens.device import get_device
from freqlens.train import train
from test_execution import CALLS, _calls

pytestmark = pytest.mark.smoke


def _path(config) -> tuple:
    """What decides which code a config's training runs (not its sizes, radii or seeds)."""
    return (config.model, config.optimizer, config.schedule, config.view, config.rescale,
            config.shuffled_labels > 0, config.batchnorm, config.dropout > 0, config.mixup_alpha > 0,
            config.augment, config.adv_eps > 0, config.adv_attack, config.adv_clean_weight > 0,
            config.adv_consistency > 0, config.label_smoothing > 0, bool(config.eval_radii))


def _one_per_path(configs) -> list:
    seen, out = set(), []
    for c in configs:
        if _path(c) not in seen:
            seen.add(_path(c))
            out.append(c)
    return out


SMOKE = _one_per_path(grid.configs("smoke"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("FREQLENS_CACHE", str(tmp_path_factory.mktemp("smoke-cache")))
    yield
    mp.undo()


def test_the_smoke_profile_is_the_full_profile_cut_down():
    full = {_path(c) for c in grid.configs("full")}
    smoke = {_path(c) for c in grid.configs("smoke")}
    assert smoke == full, "the smoke profile must run every training code path of the full one"
    for c in grid.configs("smoke"):
        assert c.model == "resnet18" and c.epochs == 1 and c.train_size <= 64
        assert c.batch_size <= max(profiles.SMOKE_MAX_BATCH * 4, 1)


@pytest.mark.parametrize("config", SMOKE, ids=lambda c: c.describe())
def test_every_training_code_path_of_the_full_profile_runs(cache, config):
    result = train(config, progress=False, device=get_device())
    history = result.history
    assert len(history.train_loss) == config.epochs
    assert all(math.isfinite(v) for v in history.train_loss)
    assert all(0.0 <= v <= 1.0 for v in history.test_acc)
    params = torch.cat([p.detach().flatten().cpu() for p in result.model.parameters()])
    assert torch.isfinite(params).all()


@pytest.fixture(scope="module")
def resnet(cache):
    """The full profile's standard network, trained at the smoke size."""
    return train(grid.configs("smoke")[0], progress=False, device=get_device()).model


def _finite(out) -> bool:
    if isinstance(out, torch.Tensor):
        return bool(torch.isfinite(out.float()).all()) if out.is_floating_point() else True
    if isinstance(out, (tuple, list)):
        return all(_finite(o) for o in out)
    if isinstance(out, dict):
        return all(_finite(o) for o in out.values())
    return math.isfinite(out) if isinstance(out, float) else True


# the calls that return one row per image
PER_IMAGE = {"predictions", "probabilities", "fgsm", "pgd", "pgd, seeded start", "pgd, low band",
             "pgd, dct block", "deepfool", "frequency IG", "pixel IG", "Grad-CAM", "frequency saliency", "band occlusion",
             "noise mask", "noise mask, layer", "morf, pixels", "lerf, frequencies", "forward"}


@pytest.mark.parametrize("name", CALLS)
def test_every_public_function_runs_on_the_full_profiles_network(resnet, name):
    # two images in one batch: the batching itself is tested in test_execution.py
    x, y = cifar10_tensors("test", n=2, seed=2)
    layer = [n for n, m in resnet.named_modules() if isinstance(m, torch.nn.ReLU)][-1]
    out = _calls(x, y, batch=64, layer=layer)[name](resnet)
    if name == "minimal_distortion":   # inf is the budget of an image PGD cannot flip
        budgets, out = out
        assert not torch.isnan(budgets).any() and (budgets >= 0).all()
    assert _finite(out), f"{name} gave non-finite results on ResNet-18"
    if name in PER_IMAGE:
        assert out.shape[0] == 2 and out.device == x.device
    if name == "heat map":
        assert out.shape == (31, 31)
