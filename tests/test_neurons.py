"""Neuron consistency on real CIFAR-10 images: the taxonomy's similarity, and neurons whose classes are known."""

import pytest
import torch
from torch import nn

from freqlens.data import CLASSES, cifar10_tensors
from freqlens.neurons import TAXONOMY, class_similarity, consistency, top_activating


@pytest.fixture(scope="module")
def data():
    return cifar10_tensors("test", n=500, seed=13)


class ClassNeurons(nn.Module):
    """A 'network' whose channel k fires (value 1 + its rank among the images) for images of class k only:
    it looks each image up among the known ones."""

    def __init__(self, x, y):
        super().__init__()
        self.register_buffer("x", x.flatten(1))
        self.register_buffer("y", y)
        self.conv = nn.Identity()

    def forward(self, xb):
        hit = torch.cdist(xb.flatten(1), self.x).argmin(1)
        act = torch.nn.functional.one_hot(self.y[hit], 10).float() * (1 + hit.float())[:, None]
        return self.conv(act[:, :, None, None].expand(-1, -1, 2, 2))


def test_similarity_follows_the_taxonomy():
    a = class_similarity(2.0)
    assert torch.equal(a, a.T) and torch.equal(torch.diagonal(a), torch.ones(10, dtype=torch.float64))
    index = {c: i for i, c in enumerate(CLASSES)}
    assert a[index["cat"], index["dog"]] == a[index["automobile"], index["truck"]]      # same subgroup
    assert a[index["cat"], index["bird"]] > a[index["cat"], index["truck"]]              # same group beats none
    assert sorted(c for group in TAXONOMY.values() for names in group.values() for c in names) == sorted(CLASSES)


def test_class_pure_neurons_score_one(data):
    x, y = data
    net = ClassNeurons(x, y)
    scores = consistency(net, x, y, "conv", fraction=0.02)
    torch.testing.assert_close(scores, torch.ones(10, dtype=torch.float64))


def test_neurons_blind_to_the_class_score_the_similarity_of_their_mix(data):
    x, y = data
    net = ClassNeurons(x, y)
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    top = top_activating(net, x, "conv", fraction=0.02)
    scores = consistency(net, x, shuffled, "conv", fraction=0.02)
    a = class_similarity()
    for n in range(10):
        p = torch.bincount(shuffled[top[n]], minlength=10).double() / top.shape[1]
        assert scores[n] == pytest.approx(float(p @ a @ p))
    assert scores.mean() < 0.6


def test_top_activating_finds_the_strongest_images_first(data):
    x, y = data
    top = top_activating(ClassNeurons(x, y), x, "conv", fraction=0.01)
    assert top.shape == (10, 5)
    for k in range(10):
        assert (y[top[k]] == k).all()
        assert top[k].tolist() == sorted(top[k].tolist(), reverse=True)   # the activation grows with the index


def test_bad_arguments_get_a_clear_error(data):
    x, y = data
    net = ClassNeurons(x, y)
    with pytest.raises(ValueError, match=r"fraction must be a finite number in \(0, 1\], got 0"):
        consistency(net, x, y, "conv", fraction=0)
    with pytest.raises(ValueError, match="similarity must be a square matrix"):
        consistency(net, x, y, "conv", similarity=torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"sigma must be a finite number > 0"):
        class_similarity(0)
