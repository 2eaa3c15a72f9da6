"""The results cache: computed once, served warm, recomputed whenever an input or the code changes."""

import pytest
import torch

from freqlens import memo
from freqlens.data import cifar10_tensors
from freqlens.models import SmallCNN


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FREQLENS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _counting(fn):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        return fn(*args, **kwargs)

    wrapper.calls = calls
    return wrapper


def mean_logits(model, x, scale=1.0):
    with torch.no_grad():
        return {"mean": model.eval()(x).mean(0) * scale, "n": len(x), "label": "logits"}


def test_a_result_is_computed_once_then_read_back_equal(cache):
    x, _ = cifar10_tensors("test", n=16)
    torch.manual_seed(0)
    model = SmallCNN(width=8)
    fn = _counting(mean_logits)
    first = memo.cached("mean logits", fn, model, x, scale=2.0)
    second = memo.cached("mean logits", fn, model, x, scale=2.0)
    assert len(fn.calls) == 1
    assert torch.equal(first["mean"], second["mean"]) and second["n"] == 16 and second["label"] == "logits"
    assert len(list((cache / "results").glob("mean-logits-*.pt"))) == 1


def test_any_changed_input_computes_again():
    x, _ = cifar10_tensors("test", n=16)
    torch.manual_seed(0)
    model = SmallCNN(width=8)
    fn = _counting(mean_logits)
    memo.cached("m", fn, model, x)
    memo.cached("m", fn, model, x[:8])                     # other images
    memo.cached("m", fn, model, x, scale=3.0)              # another keyword
    with torch.no_grad():
        model.head.bias[0] += 1e-3                         # another weight
    memo.cached("m", fn, model, x)
    memo.cached("m", fn, SmallCNN(width=8, batchnorm=False), x)   # another network
    assert len(fn.calls) == 5
    memo.cached("m", fn, model, x)
    assert len(fn.calls) == 5


def test_the_functions_source_is_part_of_the_key():
    def a(t):
        return t + 1

    def b(t):
        return t + 2

    t = torch.zeros(2)
    assert memo.fingerprint(a, t) != memo.fingerprint(b, t)
    assert torch.equal(memo.cached("f", a, t), torch.ones(2))
    assert torch.equal(memo.cached("f", b, t), torch.full((2,), 2.0))


def test_a_corrupt_entry_is_reported_and_computed_again(cache, capsys):
    fn = _counting(lambda t: t * 2)
    memo.cached("double", fn, torch.ones(3))
    (path,) = (cache / "results").glob("double-*.pt")
    path.write_bytes(b"not a torch file")
    assert torch.equal(memo.cached("double", fn, torch.ones(3)), torch.full((3,), 2.0))
    assert len(fn.calls) == 2 and "double-" in capsys.readouterr().err


def test_results_are_kept_on_the_cpu_and_read_back_without_running_code(cache):
    value = memo.cached("nested", lambda: {"a": [torch.ones(2, requires_grad=True) * 1, 3.5], "b": (1, "x")})
    assert value["a"][0].device.type == "cpu" and not value["a"][0].requires_grad
    (path,) = (cache / "results").glob("nested-*.pt")
    assert torch.load(path, weights_only=True)["value"]["b"] == (1, "x")


def test_arguments_that_cannot_be_keyed_are_refused_naming_them():
    with pytest.raises(TypeError, match=r"args\[1\] must be a tensor, a network.*got object"):
        memo.cached("bad", lambda a, b: 0, torch.ones(1), object())
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        memo.cached("", lambda: 0)
    with pytest.raises(ValueError, match="fn must be callable"):
        memo.cached("x", 3)
