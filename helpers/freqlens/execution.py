"""One way to run a network on a user's images: on the model's device, in eval mode, a batch at a time.

Every public function of the package that calls a network (the attacks, the
attributions, the heat maps, the perturbation curves, the activations, the
evaluation and the exercises' checkers) does it through :func:`run`, as Captum's
``internal_batch_size`` and Lightning's ``Trainer`` keep the device and the batch
out of a method. A method written once then

- runs on the CPU, CUDA or MPS, wherever the model's parameters are, with the
  caller's tensors on any device: each batch is moved to the model's device
  (asynchronously from pinned memory) and the results come back to the caller's;
- holds one batch at a time, whatever the number of images: the work is done in
  chunks of ``batch_size`` images (:func:`default_batch_size` by device and model);
- sees the model in eval mode, and every submodule gets its own mode back;
- computes in float32 unless ``autocast=True`` asks for mixed precision (CUDA only):
  a measurement on faint HFC copies, or an attack's input gradient, is not to be
  rounded to bfloat16 behind the reader's back.

Example:
    >>> from freqlens.models import SmallCNN
    >>> net = SmallCNN(width=8)
    >>> logits = run(net, lambda m, x: m(x), torch.rand(10, 3, 32, 32), batch_size=4)
    >>> logits.shape, logits.device.type
    (torch.Size([10, 10]), 'cpu')
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable

import torch
from torch import nn

from freqlens import checks, device as devices
from freqlens.models import eval_mode

__all__ = ["default_batch_size", "forward", "model_device", "num_classes", "precision", "run"]

# Images of (C, H, W) a default batch is sized for, and the bytes a batch may take.
_CPU_BATCH = 256
_MAX_ACCELERATOR_BATCH = 4096
_MIN_ACCELERATOR_BATCH = 32
_MEMORY_SHARE = 0.25


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model with neither.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> model_device(SmallCNN(width=8))
        device(type='cpu')
    """
    checks.model(model)
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


_ACTIVATION_BYTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _activation_bytes(model: nn.Module, shape: tuple[int, ...], device: torch.device) -> int:
    """The bytes of every leaf module's output for one image of ``shape``, by one forward pass."""
    per_model = _ACTIVATION_BYTES.setdefault(model, {})
    if shape not in per_model:
        total = [0]

        def count(module, args, output):
            if isinstance(output, torch.Tensor):
                total[0] += output.numel() * 4

        leaves = [m for m in model.modules() if not list(m.children())]
        handles = [m.register_forward_hook(count) for m in leaves]
        try:
            with eval_mode(model), torch.no_grad():
                model(torch.zeros((1, *shape), device=device))
        finally:
            for h in handles:
                h.remove()
        per_model[shape] = max(total[0], 1)
    return per_model[shape]


def _free_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":
        mps = getattr(torch, "mps", None)
        recommended = getattr(mps, "recommended_max_memory", None)
        if recommended is not None:
            return int(recommended()) - int(mps.current_allocated_memory())
    return None


def default_batch_size(model: nn.Module | str | torch.device | None = None, *,
                       image_shape: tuple[int, ...] = (3, 32, 32), grad: bool = False) -> int:
    """The batch size used when none is given, for a model (or a device): 256 on a CPU.

    On a CPU small batches stay in the caches (a batch of 256 runs a small CNN about
    1.4x faster than one of 1,000, measured on 2 cores). On CUDA and MPS the batch for
    a model is the power of two whose activations (every layer's output, counted by
    one forward pass; three times that with ``grad``, for the saved activations and
    their gradients) fill at most a quarter of the free memory, between 32 and 4096;
    for a device alone, 2048. ``$FREQLENS_BATCH_SIZE`` overrides all of these (a
    laptop short of memory, a larger GPU).

    Example:
        >>> default_batch_size("cpu")
        256
    """
    chosen = os.environ.get("FREQLENS_BATCH_SIZE")
    if chosen:
        return checks.integer(int(chosen) if chosen.strip().isdigit() else chosen,
                              "FREQLENS_BATCH_SIZE", minimum=1)
    if model is None or isinstance(model, (str, torch.device)):
        device, model = torch.device(model or "cpu"), None
    else:
        device = model_device(model)
    if device.type == "cpu":
        return _CPU_BATCH
    if model is None:
        return 2048
    free = _free_memory(device)
    if free is None:
        return 1024
    per_image = _activation_bytes(model, tuple(image_shape), device) * (3 if grad else 1)
    fits = max(1, int(free * _MEMORY_SHARE) // per_image)
    size = 1 << (fits.bit_length() - 1)
    return int(min(max(size, _MIN_ACCELERATOR_BATCH), _MAX_ACCELERATOR_BATCH))


def precision(device: str | torch.device, autocast: bool = False):
    """The arithmetic of a measurement: float32, even inside a caller's autocast, unless ``autocast``.

    ``autocast=True`` runs in mixed precision where it pays (CUDA; see
    :func:`freqlens.device.autocast`) and in float32 elsewhere.
    """
    device = torch.device(device)
    if autocast:
        return devices.autocast(device)
    if device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def _to(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "mps" and t.dtype == torch.float64:   # MPS has no float64
        t = t.float()
    return t.to(device, non_blocking=t.device.type == "cpu" and t.is_pinned())


def _gather(parts: list, device: torch.device):
    """The batches' results joined along dimension 0, on ``device``; tuples, lists and dicts kept."""
    first = parts[0]
    if first is None:
        return None
    if isinstance(first, torch.Tensor):
        return torch.cat([p.to(device) for p in parts]) if first.dim() else \
            torch.stack([p.to(device) for p in parts])
    if isinstance(first, (tuple, list)):
        return type(first)(_gather([p[i] for p in parts], device) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _gather([p[k] for p in parts], device) for k in first}
    raise ValueError(f"fn must return tensors (or tuples, lists or dicts of them) or None, "
                     f"got {type(first).__name__}")


def run(model: nn.Module, fn: Callable, *tensors: torch.Tensor, batch_size: int | None = None,
        grad: bool = False, autocast: bool = False, desc: str | None = None, show_progress: bool = False):
    """``fn(model, *batch)`` for each batch of ``tensors`` on the model's device, results joined on the caller's.

    The tensors are split along dimension 0 into batches of ``batch_size`` (default
    :func:`default_batch_size` for the model, with or without ``grad``) and moved to
    the model's device. ``fn`` returns a tensor with one row per image, a tuple, list
    or dict of them, or ``None``; the rows of all batches are joined and moved to the
    first tensor's device. ``grad=True`` lets ``fn`` differentiate (an attack, an
    attribution), ``False`` runs it without gradients. The model is in eval mode
    throughout, each submodule's mode given back afterwards, also if ``fn`` raises.

    Shapes: ``tensors`` ``(N, ...)`` each -> ``fn``'s rows for all ``N``.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> x, y = torch.rand(6, 3, 32, 32), torch.arange(6) % 10
        >>> right = run(SmallCNN(width=8), lambda m, xb, yb: m(xb).argmax(1) == yb, x, y, batch_size=4)
        >>> right.shape
        torch.Size([6])
    """
    checks.model(model)
    if not callable(fn):
        raise ValueError(f"fn must be a function of (model, *batch), got {fn!r}")
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise ValueError(f"tensors must be one or more tensors, got "
                         f"{[type(t).__name__ for t in tensors]}")
    n = tensors[0].shape[0] if tensors[0].dim() else 0
    sizes = [t.shape[0] if t.dim() else None for t in tensors]
    if any(s != n for s in sizes):
        raise ValueError(f"tensors must have the same length along dimension 0, got {sizes}")
    grad = checks.boolean(grad, "grad")
    autocast = checks.boolean(autocast, "autocast")
    device = model_device(model)
    batch_size = checks.batch_size(batch_size) or default_batch_size(
        model, image_shape=tuple(tensors[0].shape[1:]) if tensors[0].dim() == 4 else (3, 32, 32),
        grad=grad)
    caller = tensors[0].device
    starts = range(0, n, batch_size)
    if show_progress and len(starts) > 1:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc or "batches", unit="batch", leave=False)
    parts = []
    with eval_mode(model), (torch.enable_grad() if grad else torch.no_grad()), precision(device, autocast):
        for i in starts:
            parts.append(fn(model, *(_to(t[i:i + batch_size], device) for t in tensors)))
    if not parts:
        raise ValueError("tensors must hold at least one image, got 0")
    return _gather(parts, caller)


def forward(model: nn.Module, x: torch.Tensor, batch_size: int | None = None, autocast: bool = False) -> torch.Tensor:
    """The model's outputs (logits) for ``x``, without gradients, in float32; on ``x``'s device.

    Shapes: ``(N, C, H, W) -> (N, classes)``.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> forward(SmallCNN(width=8), torch.rand(3, 3, 32, 32)).shape
        torch.Size([3, 10])
    """
    return run(model, lambda m, xb: m(xb).float(), x, batch_size=batch_size, autocast=autocast)


def num_classes(model: nn.Module, x: torch.Tensor) -> int:
    """The number of outputs of ``model`` on an image like ``x[0]`` (one forward pass of one image).

    Example:
        >>> from freqlens.models import SmallCNN
        >>> num_classes(SmallCNN(width=8), torch.rand(2, 3, 32, 32))
        10
    """
    return int(forward(model, x[:1]).shape[-1])
