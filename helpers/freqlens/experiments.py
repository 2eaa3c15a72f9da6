"""The experiment cache: a trained model and its history, stored under a hash of its config.

A result lives in ``$FREQLENS_CACHE`` (default ``data/cache/``, git-ignored) as
``<key>.pt``; while training, ``<key>.ckpt.pt`` holds the last finished epoch so a
killed run resumes. The key is the SHA-256 of the config's canonical JSON together
with :data:`CODE_VERSION`, so changing the training code invalidates old entries.
Files are written atomically (temporary file, then ``os.replace``) and read with
``torch.load(weights_only=True)``: nothing in the cache can run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

__all__ = ["CODE_VERSION", "cache_dir", "canonical_json", "checkpoint_path", "config_key",
           "entry_path", "is_cached", "read", "write"]

# Bump whenever a change to the training code would change a result for the same config.
CODE_VERSION = "freqlens-train-3"


def cache_dir() -> Path:
    """The cache folder: ``$FREQLENS_CACHE``, else ``data/cache`` next to the CIFAR-10 cache.

    Example:
        >>> cache_dir().name in ("cache", os.path.basename(os.environ.get("FREQLENS_CACHE", "cache")))
        True
    """
    env = os.environ.get("FREQLENS_CACHE")
    if env:
        return Path(env).expanduser()
    from freqlens.data import data_dir

    return data_dir() / "cache"


def canonical_json(config) -> str:
    """The config as JSON with sorted keys and no spaces: the same text for equal configs."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True, separators=(",", ":"))


def config_key(config) -> str:
    """SHA-256 (hex) of the config's canonical JSON and the code version.

    Example:
        >>> from freqlens.train import TrainConfig
        >>> len(config_key(TrainConfig()))
        64
    """
    text = canonical_json(config) + "\n" + CODE_VERSION
    return hashlib.sha256(text.encode()).hexdigest()


def entry_path(config) -> Path:
    """Where the finished result of ``config`` is (or will be) stored."""
    return cache_dir() / f"{config_key(config)}.pt"


def checkpoint_path(config) -> Path:
    """Where the last finished epoch of an unfinished run of ``config`` is stored."""
    return cache_dir() / f"{config_key(config)}.ckpt.pt"


def is_cached(config) -> bool:
    """True when a finished result for ``config`` is in the cache (it may still prove corrupt)."""
    return entry_path(config).is_file()


def write(obj: dict, path: Path) -> None:
    """Save ``obj`` with ``torch.save`` atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: Path, config, what: str = "cache entry") -> dict | None:
    """Load an entry written by :func:`write` for ``config``; ``None`` if missing or unusable.

    An entry that cannot be read, or that was written for another config or code
    version, is reported in one line on stderr and ignored (the caller retrains).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict):
            raise ValueError(f"expected a dict, found {type(obj).__name__}")
        if obj.get("code_version") != CODE_VERSION or obj.get("config") != canonical_json(config):
            raise ValueError("it was written for another config or code version")
        for field in ("model", "history"):
            if field not in obj:
                raise ValueError(f"it lacks {field!r}")
    except Exception as e:  # any failure to read means the same thing: train again
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        print(f"freqlens.experiments: {what} {path.name} is unusable ({reason}); training again",
              file=sys.stderr)
        return None
    return obj
