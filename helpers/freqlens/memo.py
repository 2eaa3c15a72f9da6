"""Results of slow measurements, kept in the experiment cache so a chapter re-executes warm.

``memo.cached("heat maps", fourier_heat_map, model, x, y, eps=4.0)`` calls the function
once and stores what it returns under a key made of everything that decides it: the
function's source, the code of the whole ``freqlens`` package, and the arguments — a
tensor by its bytes, a network by its class, structure and weights, a number or a string
by its value. Change any of them and the measurement runs again; nothing is ever served
for inputs it was not computed from. Entries sit in ``<cache>/results/`` and are written
atomically like the trained networks; a result holds tensors, numbers, strings and
containers of them (what ``torch.load(weights_only=True)`` reads back), always on the CPU.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from freqlens import experiments

__all__ = ["cached", "fingerprint", "package_fingerprint"]


@functools.lru_cache(maxsize=1)
def package_fingerprint() -> str:
    """One hash of every module of the ``freqlens`` package (docstrings and comments do not count)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(experiments.source_fingerprint(path.read_text(encoding="utf-8")).encode())
    return h.hexdigest()


def _feed(h, value, where: str) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"tensor{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, nn.Module):
        # the structure (repr names every layer and its settings) and every weight and buffer
        h.update(f"module {type(value).__qualname__} {value!r}".encode())
        for name, t in value.state_dict().items():
            _feed(h, name, where)
            _feed(h, t, f"{where}.{name}")
    elif isinstance(value, (bool, int, float, str, type(None))):
        h.update(f"{type(value).__name__}:{value!r}".encode())
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__}[{len(value)}]".encode())
        for i, v in enumerate(value):
            _feed(h, v, f"{where}[{i}]")
    elif isinstance(value, dict):
        h.update(f"dict[{len(value)}]".encode())
        for k in sorted(value, key=repr):
            _feed(h, k, where)
            _feed(h, value[k], f"{where}[{k!r}]")
    else:
        raise TypeError(f"{where} must be a tensor, a network, a number, a string or a list, tuple "
                        f"or dict of them (what a cached result can be keyed on), got {type(value).__name__}")


def _source(fn: Callable) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        # a builtin or a C function: its qualified name is all there is, and it does not change
        return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"


def fingerprint(fn: Callable, *args, **kwargs) -> str:
    """The key of ``fn(*args, **kwargs)``: SHA-256 of its source, the package's code and the arguments.

    Example:
        >>> import torch
        >>> fingerprint(torch.sum, torch.ones(2)) == fingerprint(torch.sum, torch.ones(2))
        True
        >>> fingerprint(torch.sum, torch.ones(2)) == fingerprint(torch.sum, torch.zeros(2))
        False
    """
    h = hashlib.sha256()
    h.update(_source(fn).encode())
    h.update(package_fingerprint().encode())
    _feed(h, list(args), "args")
    _feed(h, dict(kwargs), "kwargs")
    return h.hexdigest()


def _to_cpu(value):
    # the same result, first run or warm: a warm run reads it back on the CPU
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    return value


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40] or "result"


def cached(name: str, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``, computed once and then read from the cache.

    Args:
        name: a label for the entry's file name (the key alone decides what is served).
        fn: a function of its arguments only: whatever it reads must come in through
            ``args`` and ``kwargs`` (a closure over other data would not be part of the key).

    Example:
        >>> import torch
        >>> def total(t):
        ...     return t.sum()
        >>> float(cached("total", total, torch.arange(4.)))   # computed, or read back
        6.0
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    key = fingerprint(fn, *args, **kwargs)
    path = experiments.cache_dir() / "results" / f"{_slug(name)}-{key[:32]}.pt"
    if path.is_file():
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(entry, dict) and entry.get("key") == key and "value" in entry:
                return entry["value"]
            raise ValueError("it was written for other inputs")
        except Exception as e:  # unreadable means the same as absent: compute again
            print(f"freqlens.memo: {path.name} is unusable ({type(e).__name__}: {str(e)[:120]}); "
                  "computing again", file=sys.stderr)
    value = _to_cpu(fn(*args, **kwargs))
    experiments.write({"key": key, "name": name, "value": value}, path)
    return value
