"""What the layers of a network make of an input: activations recorded with forward hooks.

:func:`record` runs a model over images in batches and keeps the outputs of the
submodules it is given by name (``"features.0.relu"``, as ``model.named_modules()``
names them), optionally reduced per batch so that a whole test set fits in memory
(:func:`channel_rms`, :func:`image_norm`). :func:`signal_ratio` compares what two
versions of the same images produce layer by layer: chapter 3 asks how strongly a
network responds to the high-frequency part of an image relative to the image itself.

Example:
    >>> from freqlens.models import SmallCNN
    >>> net = SmallCNN(width=8)
    >>> acts = record(net, torch.rand(5, 3, 32, 32), ["features.0.relu", "head"])
    >>> {name: tuple(a.shape) for name, a in acts.items()}
    {'features.0.relu': (5, 8, 16, 16), 'head': (5, 10)}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from freqlens import checks
from freqlens.execution import run

__all__ = ["channel_rms", "image_norm", "layer_names", "record", "signal_ratio", "stage_layers"]


def layer_names(model: nn.Module, kind: type | tuple = nn.ReLU) -> list[str]:
    """The names of the submodules of type ``kind``, in the order ``named_modules`` gives them.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> layer_names(SmallCNN(width=8))[:2]
        ['features.0.relu', 'features.1.relu']
    """
    checks.model(model)
    return [name for name, m in model.named_modules() if name and isinstance(m, kind)]


def stage_layers(model: nn.Module, shape: Sequence[int] = (3, 32, 32)) -> list[str]:
    """The last ReLU of each stage: the ReLUs in order, grouped by the shape of their output.

    A stage ends where the resolution or the number of channels changes (a pooling, a
    strided block), so the names are where each stage hands on what it has seen. The
    shapes come from one blank image of ``shape`` through the model.

    Example:
        >>> from freqlens.models import ResNet18, SmallCNN
        >>> stage_layers(SmallCNN(width=8))
        ['features.0.relu', 'features.1.relu', 'features.2.relu', 'features.3.relu']
        >>> stage_layers(ResNet18(width=8))
        ['layers.1.relu2', 'layers.3.relu2', 'layers.5.relu2', 'layers.7.relu2']
    """
    names = layer_names(model)
    if not names:
        raise ValueError(f"model must hold a torch.nn.ReLU, found none in {type(model).__name__}")
    probe = torch.zeros(1, *shape, device=next(model.parameters()).device)
    shapes = {n: tuple(a.shape[1:]) for n, a in record(model, probe, names).items()}
    return [n for n, after in zip(names, [*names[1:], None]) if after is None or shapes[after] != shapes[n]]


def channel_rms(a: torch.Tensor) -> torch.Tensor:
    """Root mean square of each channel over its positions: ``(B, C, H, W) -> (B, C)``; ``(B, C)`` is kept.

    Example:
        >>> channel_rms(torch.full((2, 3, 4, 4), -2.0))[0]
        tensor([2., 2., 2.])
    """
    return a.pow(2).mean(dim=(2, 3)).sqrt() if a.dim() == 4 else a.abs()


def image_norm(a: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each image's whole activation: ``(B, ...) -> (B,)``.

    Example:
        >>> image_norm(torch.ones(2, 4, 2, 2))
        tensor([4., 4.])
    """
    return a.flatten(1).norm(dim=1)


def _modules(model: nn.Module, layers) -> dict[str, nn.Module]:
    checks.model(model)
    if isinstance(layers, str) or not isinstance(layers, Iterable):
        raise ValueError(f"layers must be a list of submodule names, got {layers!r}")
    layers = list(layers)
    if not layers:
        raise ValueError("layers must name at least one submodule, got an empty list")
    named = dict(model.named_modules())
    unknown = [name for name in layers if name not in named or not name]
    if unknown:
        known = [n for n in named if n]
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        raise ValueError(f"layers must be names of the model's submodules ({shown}), got {unknown}")
    return {name: named[name] for name in dict.fromkeys(layers)}


def _run(model: nn.Module, modules: dict[str, nn.Module], xb: torch.Tensor,
         to_input: bool) -> dict[str, torch.Tensor]:
    """One forward pass of ``xb``; the output (or first input) of each module in ``modules``."""
    seen: dict[str, list] = {name: [] for name in modules}

    def keep(name):
        return lambda module, args, output: seen[name].append(
            (args[0] if to_input else output).detach().float())

    handles = [m.register_forward_hook(keep(name)) for name, m in modules.items()]
    try:
        model(xb)
    finally:
        for h in handles:
            h.remove()
    twice = [name for name, outs in seen.items() if len(outs) != 1]
    if twice:
        raise ValueError(f"layers must run exactly once per forward pass; {twice} ran "
                         f"{[len(seen[n]) for n in twice]} times")
    return {name: outs[0] for name, outs in seen.items()}


def record(model: nn.Module, inputs: torch.Tensor, layers: Sequence[str], *,
           batch_size: int | None = None,
           reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
           attribute_to_layer_input: bool = False) -> dict[str, torch.Tensor]:
    """The outputs of the submodules named ``layers`` for ``inputs``, in eval mode, without gradients.

    ``attribute_to_layer_input=True`` (Captum's name) keeps each layer's first input instead.

    Images go through the model ``batch_size`` at a time (default: the device's batch
    for the model; see :func:`freqlens.execution.run`); ``reduce`` (e.g.
    :func:`channel_rms`) is applied to each batch's output before the batches are
    joined, so only what it keeps is held. Every submodule gets its mode back
    afterwards and the hooks are removed, also when the model raises.

    Shapes: ``inputs (N, C, H, W)`` -> ``{name: (N, ...)}`` (float32, on ``inputs``' device).

    Example:
        >>> from freqlens.models import SmallCNN
        >>> net = SmallCNN(width=8)
        >>> rms = record(net, torch.rand(6, 3, 32, 32), ["features.3.relu"], batch_size=4,
        ...              reduce=channel_rms)
        >>> rms["features.3.relu"].shape
        torch.Size([6, 64])
    """
    checks.images(inputs, "inputs")
    if inputs.shape[0] == 0:
        raise ValueError("inputs must hold at least one image, got 0")
    modules = _modules(model, layers)
    batch_size = checks.batch_size(batch_size)
    if reduce is not None and not callable(reduce):
        raise ValueError(f"reduce must be a function of a batch's activations, got {reduce!r}")
    to_input = checks.boolean(attribute_to_layer_input, "attribute_to_layer_input")

    def kept(m, xb):
        outputs = _run(m, modules, xb, to_input)
        return {name: a if reduce is None else reduce(a) for name, a in outputs.items()}

    return run(model, kept, inputs, batch_size=batch_size)


def signal_ratio(model: nn.Module, inputs: torch.Tensor, altered: torch.Tensor, layers: Sequence[str],
                 *, baselines: torch.Tensor | float = 0.0, batch_size: int | None = None,
                 attribute_to_layer_input: bool = False) -> dict[str, torch.Tensor]:
    """How strongly each layer responds to ``altered`` relative to ``inputs``, image by image.

    For a layer with activation ``a``: ``||a(altered) - a(b)|| / ||a(inputs) - a(b)||``
    with ``b`` the baseline image (default all zeros: an HFC copy has no mean, so its
    natural reference is the blank image). Subtracting ``a(b)`` removes what the
    layer outputs for no content at all (biases, BatchNorm shifts), leaving the
    response to the content. For the input itself the ratio is
    ``||altered - b|| / ||inputs - b||``. ``attribute_to_layer_input=True`` measures each
    layer's input instead of its output, so that a layer's own effect is the ratio after
    it over the ratio before it.

    Shapes: ``inputs``, ``altered (N, C, H, W)``; ``baselines`` a number or ``(C, H, W)``
    -> ``{name: (N,)}``.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> x = torch.rand(4, 3, 32, 32)
        >>> r = signal_ratio(SmallCNN(width=8), x, x / 2, ["normalize"])
        >>> torch.allclose(r["normalize"], torch.full((4,), 0.5))
        True
    """
    checks.images(inputs, "inputs")
    checks.images(altered, "altered")
    if altered.shape != inputs.shape:
        raise ValueError(f"altered must have the shape of inputs {tuple(inputs.shape)}, "
                         f"got {tuple(altered.shape)}")
    if isinstance(baselines, torch.Tensor):
        if baselines.shape != inputs.shape[1:]:
            raise ValueError(f"baselines must be a number or one image {tuple(inputs.shape[1:])}, "
                             f"got shape {tuple(baselines.shape)}")
        base = baselines.to(inputs)[None]
    else:
        base = torch.full((1, *inputs.shape[1:]), checks.number(baselines, "baselines"),
                          dtype=inputs.dtype, device=inputs.device)
    batch_size = checks.batch_size(batch_size)
    to_input = checks.boolean(attribute_to_layer_input, "attribute_to_layer_input")
    modules = _modules(model, layers)
    reference = record(model, base, layers, attribute_to_layer_input=to_input)

    def ratios(m, xb, ab):
        clean, changed = _run(m, modules, xb, to_input), _run(m, modules, ab, to_input)
        ref = {name: r.to(xb.device) for name, r in reference.items()}
        return {name: image_norm(changed[name] - ref[name])
                / image_norm(clean[name] - ref[name]).clamp_min(1e-12) for name in modules}

    return run(model, ratios, inputs, altered, batch_size=batch_size)
