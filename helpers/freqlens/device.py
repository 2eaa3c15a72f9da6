"""Which device the book runs on, said in one line, and mixed precision where it helps.

CUDA first, then Apple's MPS, then the CPU; ``FREQLENS_DEVICE`` overrides
(``cpu``, ``cuda``, ``cuda:1``, ``mps``).
"""

from __future__ import annotations

import contextlib
import os

import torch

__all__ = ["autocast", "banner", "bfloat16_autocast", "get_device", "supports_mixed_precision"]


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to compute on: ``prefer``, else ``$FREQLENS_DEVICE``, else CUDA, MPS, CPU.

    Example:
        >>> get_device("cpu")
        device(type='cpu')
    """
    choice = prefer if prefer is not None else os.environ.get("FREQLENS_DEVICE")
    if choice:
        try:
            device = torch.device(choice)
        except (RuntimeError, TypeError) as e:
            raise ValueError(f"FREQLENS_DEVICE/prefer must name a torch device such as 'cpu', "
                             f"'cuda' or 'mps', got {choice!r}") from e
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {choice!r} was asked for, but CUDA is not available here")
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"device {choice!r} was asked for, but only "
                             f"{torch.cuda.device_count()} CUDA device(s) are visible here")
        if device.type == "mps" and not _mps_available():
            raise ValueError(f"device {choice!r} was asked for, but MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def supports_mixed_precision(device: str | torch.device) -> bool:
    """True where autocast speeds training up without hurting it: CUDA only.

    CPU autocast to bfloat16 is slower than float32 on most laptop CPUs, and MPS
    autocast is still incomplete, so both train in float32.
    """
    return torch.device(device).type == "cuda"


def autocast(device: str | torch.device, enabled: bool = True):
    """A mixed-precision context on CUDA (float16, or bfloat16 where supported); a no-op elsewhere."""
    device = torch.device(device)
    if not (enabled and supports_mixed_precision(device)):
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def bfloat16_autocast(device: str | torch.device) -> bool:
    """True where :func:`autocast` computes in bfloat16 (CUDA with bfloat16 support).

    bfloat16 has float32's range of exponents, so an input gradient taken under it
    cannot underflow; float16's can, without loss scaling. Adversarial training crafts
    its examples in mixed precision only where this holds, in float32 elsewhere.
    """
    device = torch.device(device)
    return supports_mixed_precision(device) and torch.cuda.is_bf16_supported()


def banner(device: str | torch.device | None = None) -> str:
    """One line naming the profile, the device, torch's version, the CPU threads and the arithmetic.

    A chapter's first cell prints it, so a reader knows which run they are looking at.

    Example:
        >>> banner("cpu").split(" | ")[1]
        'device: cpu'
    """
    from freqlens.profiles import current_profile

    device = get_device(device)
    name = str(device)
    if device.type == "cuda":
        name += f" ({torch.cuda.get_device_name(device)})"
    # measurements are float32 everywhere; training mixes precisions on CUDA only
    arithmetic = "mixed-precision training" if supports_mixed_precision(device) else "float32"
    return (f"profile: {current_profile()} | device: {name} | torch {torch.__version__} | "
            f"{torch.get_num_threads()} threads | {arithmetic}")
