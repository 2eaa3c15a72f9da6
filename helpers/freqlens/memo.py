"""Results of slow measurements, kept in the experiment cache so a chapter re-executes warm.

``memo.cached("heat maps", fourier_heat_map, model, x, y, eps=4.0)`` calls the function
once and stores what it returns under a key made of everything that decides it:

- the code it runs: the function and every function, class and constant it reaches,
  followed through this package and through the notebook or script that defined it
  (:func:`freqlens.provenance.code_digest`), so editing a helper the function calls
  computes again, and editing code it never reaches (a figure, an exercise's hint)
  computes nothing; a ``functools.partial`` by its function and its arguments;
- the versions of torch, torchvision and Captum, whose code is not followed;
- the arguments: a tensor by its bytes, a network by its class, structure, weights and
  the code of its layers, a function by its code, a number or a string by its value.

Change any of them and the measurement runs again; nothing is ever served for inputs
it was not computed from. Entries sit in ``<cache>/results/`` and are written atomically
like the trained networks; a result holds tensors, numbers, strings and containers of
them (what ``torch.load(weights_only=True)`` reads back), always on the CPU.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import types
from collections.abc import Callable

import torch
from torch import nn

from freqlens import experiments, provenance

__all__ = ["cached", "fingerprint"]

# The cache's own code: it keeps results, it does not make them.
_NOT_FOLLOWED = ("freqlens.memo", "freqlens.experiments")
# Bumped when the key's recipe changes, so that no older entry is ever taken for a newer one.
_KEY_VERSION = "freqlens.memo 2"


def _code(*roots) -> str:
    return provenance.code_digest(*roots, stop=_NOT_FOLLOWED)


def _feed_network(h, value: nn.Module, where: str) -> None:
    # the structure (repr names every layer and its settings), every weight and buffer, and
    # the code the layers run: their classes and any function a layer holds (a transform, a hook)
    h.update(f"module {type(value).__qualname__} {value!r}".encode())
    for name, t in value.state_dict().items():
        _feed(h, name, where)
        _feed(h, t, f"{where}.{name}")
    code = []
    for layer in value.modules():
        code.append(type(layer))
        code.extend(v for v in vars(layer).values() if isinstance(v, (types.FunctionType, functools.partial)))
        for hooks in (layer._forward_pre_hooks, layer._forward_hooks):
            code.extend(hooks.values())
    h.update(f"code {_code(*code)}".encode())


def _feed_callable(h, fn, where: str) -> None:
    if isinstance(fn, functools.partial):
        h.update(b"partial")
        _feed_callable(h, fn.func, f"{where}.func")
        _feed(h, list(fn.args), f"{where}.args")
        _feed(h, dict(fn.keywords), f"{where}.keywords")
    elif isinstance(fn, types.MethodType):
        h.update(b"method")
        _feed_callable(h, fn.__func__, f"{where}.__func__")
        _feed(h, fn.__self__, f"{where}.__self__")
    elif isinstance(fn, nn.Module):
        _feed_network(h, fn, where)
    elif isinstance(fn, (types.FunctionType, type)) or hasattr(fn, "__wrapped__") or not hasattr(fn, "__dict__"):
        h.update(f"code {_code(fn)}".encode())
    else:   # an object with a __call__: its class's code and its settings
        h.update(f"code {_code(type(fn))}".encode())
        _feed(h, dict(vars(fn)), f"{where}'s attributes")


def _feed(h, value, where: str) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"tensor{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, nn.Module):
        _feed_network(h, value, where)
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
    elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial,
                            type)):
        _feed_callable(h, value, where)
    else:
        raise TypeError(f"{where} must be a tensor, a network, a function, a number, a string or a list, "
                        f"tuple or dict of them (what a cached result can be keyed on), "
                        f"got {type(value).__name__}")


def fingerprint(fn: Callable, *args, **kwargs) -> str:
    """The key of ``fn(*args, **kwargs)``: SHA-256 of the code it runs, the libraries' versions and the arguments.

    Example:
        >>> import torch
        >>> fingerprint(torch.sum, torch.ones(2)) == fingerprint(torch.sum, torch.ones(2))
        True
        >>> fingerprint(torch.sum, torch.ones(2)) == fingerprint(torch.sum, torch.zeros(2))
        False
    """
    h = hashlib.sha256()
    h.update(f"{_KEY_VERSION} {provenance.library_versions()}".encode())
    _feed_callable(h, fn, "fn")
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
        fn: a function of its arguments and of code: data it reads must come in through
            ``args`` and ``kwargs`` (of a global or a closure, only numbers, strings and
            tuples of them are part of the key; a tensor or a network there is not).

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
