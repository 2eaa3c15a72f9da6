"""The one execution path: every public function that calls a network holds one batch at a time,
in eval mode, on the model's device, and gives the results back on the caller's."""

import pytest
import torch
from captum.attr import FeatureAblation, IntegratedGradients, LayerGradCam, Saliency
from torch import nn

from freqlens import activations, attacks, evaluate, heatmaps, neurons, saliency
from freqlens.attribution import FrequencyAttribution, NoiseMask, PixelAttribution, band_mask
from freqlens.data import cifar10_tensors
from freqlens.execution import default_batch_size, forward, model_device, num_classes, run
from freqlens.models import SmallCNN

N, BATCH = 10, 4


class Recording(nn.Module):
    """A small CNN that records the batch size and mode of every input it is given."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = SmallCNN(width=8)
        self.sizes, self.modes = [], []

    def forward(self, x):
        assert x.device == next(self.parameters()).device
        self.sizes.append(x.shape[0])
        self.modes.append(self.training)
        return self.net(x)


@pytest.fixture(scope="module")
def data():
    return cifar10_tensors("test", n=N, seed=5)


def _calls(x, y, batch=None, layer="net.features.3.relu"):
    """Every public function of the package that calls a network, with ``batch`` as its batch
    size (``None``: the default); ``layer`` names a ReLU of the network."""
    n = 0 if x is None else x.shape[0]
    b = {} if batch is None else {"batch_size": batch}
    ib = {} if batch is None else {"internal_batch_size": batch}
    return {
        "predictions": lambda m: evaluate.predictions(m, x, **b),
        "accuracy": lambda m: evaluate.accuracy(m, x, y, **b),
        "frequency_accuracy": lambda m: evaluate.frequency_accuracy(m, x, y, radii=[4, 8], **b),
        "probabilities": lambda m: evaluate.probabilities(m, x, **b),
        "hfc_keeps_label": lambda m: evaluate.hfc_keeps_label(m, x, y, radius=8, **b),
        "fgsm": lambda m: attacks.fgsm(m, x, y, eps=8 / 255, **b),
        "pgd": lambda m: attacks.pgd(m, x, y, eps=8 / 255, alpha=2 / 255, steps=2, **b),
        "pgd, seeded start": lambda m: attacks.pgd(m, x, y, eps=8 / 255, alpha=2 / 255, steps=2,
                                                   generator=torch.Generator().manual_seed(0), **b),
        "pgd, low band": lambda m: attacks.pgd(m, x, y, eps=1.0, alpha=0.2, steps=2, norm="l2",
                                               band=attacks.frequency_band("low", 8), **b),
        "pgd, dct block": lambda m: attacks.pgd(m, x, y, eps=1.0, alpha=0.2, steps=2, norm="l2",
                                                band=attacks.frequency_band("dct_low", 8), **b),
        "minimal_distortion": lambda m: attacks.minimal_distortion(m, x, y, iterations=2, steps=2, **b),
        "deepfool": lambda m: attacks.deepfool(m, x, y, steps=3, **b),
        "frequency IG": lambda m: FrequencyAttribution(IntegratedGradients, m).attribute(
            x, target=y, n_steps=8, **ib),
        "frequency saliency": lambda m: FrequencyAttribution(Saliency, m).attribute(x, target=y, **ib),
        "band occlusion": lambda m: FrequencyAttribution(FeatureAblation, m).attribute(
            x, target=y, feature_mask=band_mask(32, 32), **ib),
        "pixel IG": lambda m: PixelAttribution(IntegratedGradients, m).attribute(
            x, target=y, baselines=0.0, n_steps=8, **ib),
        "Grad-CAM": lambda m: PixelAttribution(LayerGradCam, m, dict(m.named_modules())[layer]).attribute(
            x, target=y, **ib),
        "noise mask": lambda m: NoiseMask(m).attribute(x, target=y, n_steps=3, **b),
        "noise mask, layer": lambda m: NoiseMask(m, layer=layer).attribute(x, n_steps=3, **b),
        "heat map": lambda m: heatmaps.fourier_heat_map(m, x, y, **b),
        "morf, pixels": lambda m: saliency.perturbation_curve(m, x, y, torch.rand(n, 1, 32, 32),
                                                              n_steps=5, **b),
        "lerf, frequencies": lambda m: saliency.perturbation_curve(
            m, x, y, torch.rand(n, 3, 32, 32), order="lerf", space="frequency", n_steps=5, **b),
        "record": lambda m: activations.record(m, x, [layer], **b),
        "signal_ratio": lambda m: activations.signal_ratio(m, x, x / 2, [layer], **b),
        "top_activating": lambda m: neurons.top_activating(m, x, layer, fraction=0.2, **b),
        "consistency": lambda m: neurons.consistency(m, x, y, layer, fraction=0.2, **b),
        "forward": lambda m: forward(m, x, **b),
    }


CALLS = list(_calls(None, None))


@pytest.mark.parametrize("name", CALLS)
def test_no_public_function_passes_the_model_more_than_a_batch(data, name):
    model = Recording().train()
    model.net.features[0].eval()   # a frozen layer stays frozen
    _calls(*data, batch=BATCH)[name](model)
    assert model.sizes, f"{name} never called the model"
    assert max(model.sizes) <= BATCH, f"{name} passed the model batches of {sorted(set(model.sizes))}"
    assert not any(model.modes), f"{name} called the model in training mode"
    assert model.training and model.net.training and not model.net.features[0].training, \
        f"{name} did not give every submodule its mode back"


@pytest.mark.parametrize("name", CALLS)
def test_without_a_batch_size_every_function_holds_the_default_batch(data, name, monkeypatch):
    monkeypatch.setenv("FREQLENS_BATCH_SIZE", "3")
    model = Recording().eval()
    _calls(*data)[name](model)
    assert max(model.sizes) <= 3, f"{name} passed the model batches of {sorted(set(model.sizes))}"


def test_results_do_not_depend_on_the_batch_size(data):
    x, y = data
    net = SmallCNN(width=8).eval()
    gen = lambda: torch.Generator().manual_seed(1)   # noqa: E731
    one = attacks.pgd(net, x, y, eps=8 / 255, alpha=2 / 255, steps=3, generator=gen(), batch_size=N)
    many = attacks.pgd(net, x, y, eps=8 / 255, alpha=2 / 255, steps=3, generator=gen(), batch_size=3)
    assert torch.allclose(one, many, atol=1e-6)
    masks = [NoiseMask(net).attribute(x, target=y, n_steps=5, batch_size=b) for b in (N, 3)]
    assert torch.allclose(*masks, atol=1e-6)
    ig = [FrequencyAttribution(IntegratedGradients, net).attribute(x, target=y, n_steps=8,
                                                                   internal_batch_size=b) for b in (N, 3)]
    assert torch.allclose(*ig, atol=1e-5)


def test_run_joins_tensors_tuples_and_dicts_on_the_callers_device(data):
    x, y = data
    net = SmallCNN(width=8)
    out = run(net, lambda m, xb, yb: {"logits": m(xb), "pair": (yb, xb.sum((1, 2, 3)))}, x, y, batch_size=3)
    assert out["logits"].shape == (N, 10) and torch.equal(out["pair"][0], y)
    assert out["pair"][1].shape == (N,) and out["logits"].device == x.device
    assert run(net, lambda m, xb: None, x) is None


def test_run_computes_in_float32_inside_a_callers_autocast(data):
    x, _ = data
    lin = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert lin(x).dtype == torch.bfloat16
        assert run(lin, lambda m, xb: m(xb), x).dtype == torch.float32
        assert forward(lin, x).dtype == torch.float32


def test_run_differentiates_only_when_asked(data):
    x, y = data
    net = SmallCNN(width=8)

    def grad_norm(m, xb, yb):
        xb = xb.clone().requires_grad_()
        loss = nn.functional.cross_entropy(m(xb), yb)
        return torch.autograd.grad(loss, xb)[0].flatten(1).norm(dim=1)

    with torch.no_grad():
        assert run(net, grad_norm, x, y, grad=True).shape == (N,)
    with pytest.raises(RuntimeError):
        run(net, grad_norm, x, y)


def test_run_gives_the_modes_back_when_fn_raises(data):
    net = SmallCNN(width=8).train()

    def fail(m, xb):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        run(net, fail, data[0])
    assert all(m.training for m in net.modules())


@pytest.mark.parametrize("call, message", [
    (lambda net, x: run("net", lambda m, xb: xb, x), "model must be a torch.nn.Module, got str"),
    (lambda net, x: run(net, 3, x), "fn must be a function of"),
    (lambda net, x: run(net, lambda m, xb: xb), "tensors must be one or more tensors"),
    (lambda net, x: run(net, lambda m, a, b: a, x, x[:2]), r"same length along dimension 0, got \[10, 2\]"),
    (lambda net, x: run(net, lambda m, xb: xb, x[:0]), "at least one image, got 0"),
    (lambda net, x: run(net, lambda m, xb: xb, x, batch_size=0), "batch_size must be an integer >= 1"),
    (lambda net, x: run(net, lambda m, xb: 3, x), "fn must return tensors"),
])
def test_run_refuses_bad_arguments_clearly(data, call, message):
    with pytest.raises(ValueError, match=message):
        call(SmallCNN(width=8), data[0])


def test_the_default_batch_follows_the_device_and_the_environment(monkeypatch):
    assert default_batch_size("cpu") == default_batch_size(SmallCNN(width=8)) == 256
    monkeypatch.setenv("FREQLENS_BATCH_SIZE", "17")
    assert default_batch_size(SmallCNN(width=8)) == 17
    monkeypatch.setenv("FREQLENS_BATCH_SIZE", "many")
    with pytest.raises(ValueError, match="FREQLENS_BATCH_SIZE must be an integer >= 1, got 'many'"):
        default_batch_size("cpu")


def test_model_device_and_num_classes(data):
    net = SmallCNN(width=8)
    assert model_device(net) == torch.device("cpu") and model_device(nn.ReLU()) == torch.device("cpu")
    assert num_classes(net, data[0]) == 10


def test_deepfool_stays_finite_where_two_classes_have_the_same_gradient(data):
    """A class whose logit is a copy of the true class's offers no boundary: no 0 / 0."""
    x, y = data
    torch.manual_seed(0)
    net = SmallCNN(width=8).eval()
    head = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        for label in y.unique():
            twin = (int(label) + 1) % 10
            head.weight[twin] = head.weight[label]
            head.bias[twin] = head.bias[label]
    adv = attacks.deepfool(net, x, y, steps=5)
    assert torch.isfinite(adv).all()


# ---------------------------------------------------------------- on CUDA (make gpu-check)

# calls whose results depend on random draws made on the model's device
_DEVICE_RANDOM = {"pgd"}


def _close(a, b, name) -> None:
    """Equal within float32 rounding; an attack may flip a few signs where a gradient is ~0."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), name
        for k in a:
            _close(a[k], b[k], f"{name}[{k}]")
    elif isinstance(a, (tuple, list)):
        for i, (p, q) in enumerate(zip(a, b)):
            _close(p, q, f"{name}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert b.device == a.device == torch.device("cpu"), f"{name}: results must come back on the CPU"
        assert a.shape == b.shape, name
        if a.is_floating_point():
            near = torch.isclose(a, b, rtol=1e-3, atol=1e-3) | (torch.isinf(a) & torch.isinf(b))
            assert near.float().mean() >= 0.99, f"{name}: {1 - near.float().mean():.2%} of values differ"
        else:
            assert (a == b).float().mean() >= 0.9, name
    else:
        assert a == pytest.approx(b, abs=0.15), name


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", [c for c in CALLS if c not in _DEVICE_RANDOM])
def test_on_cuda_with_inputs_on_the_cpu_every_function_agrees_with_the_cpu(data, name):
    x, y = data
    cpu = Recording().eval()
    gpu = Recording().eval().cuda()
    gpu.load_state_dict(cpu.state_dict())
    torch.manual_seed(3)
    on_cpu = _calls(x, y, batch=BATCH)[name](cpu)
    torch.manual_seed(3)
    on_gpu = _calls(x, y, batch=BATCH)[name](gpu)
    _close(on_cpu, on_gpu, name)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_default_batch_fits_the_memory_and_measurements_stay_float32(data):
    x, y = data
    net = SmallCNN(width=8).cuda().eval()
    size = default_batch_size(net)
    assert 32 <= size <= 4096 and size & (size - 1) == 0
    assert default_batch_size(net, grad=True) <= size
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert forward(net, x).dtype == torch.float32
    assert forward(net, x, autocast=True).dtype == torch.float32   # logits cast back
    assert evaluate.accuracy(net, x, y) == evaluate.accuracy(net.cpu(), x, y)
