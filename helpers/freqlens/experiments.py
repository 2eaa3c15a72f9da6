"""The experiment cache: a trained model and its history, stored under a hash of its config.

A result lives in ``$FREQLENS_CACHE`` (default ``data/cache/``, git-ignored) as
``<key>.pt``; while training, ``<key>.ckpt.pt`` holds the last finished epoch so a
killed run resumes. The key is the SHA-256 of the config's canonical JSON together
with :func:`code_fingerprint`, a hash of the code that produces a result, so a change
to that code retrains instead of serving a stale model (comments and docstrings do not
count). Files are written atomically (temporary file, then ``os.replace``) and read with
``torch.load(weights_only=True)``: nothing in the cache can run code.

Several processes, on one machine or on several sharing the folder, may fill the cache at
once: :func:`training_lock` holds ``<key>.lock`` while one of them trains a config, so the
others wait and then read its result. With ``$FREQLENS_REQUEST_LOG`` set, every config a
process asks :func:`freqlens.train.train` for is appended to that file (:func:`log_request`),
so a run of the notebooks can be checked against :mod:`freqlens.grid`.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import threading
from pathlib import Path

import torch

__all__ = ["REQUEST_LOG", "TRAINING_MODULES", "cache_dir", "canonical_json", "checkpoint_path",
           "code_fingerprint", "config_key", "entry_path", "is_cached", "lock_path", "log_request", "read",
           "source_fingerprint", "training_lock", "write"]

# The modules whose code decides what a config trains into. Figures, exercises, input
# checks and the profiles' presets (which only choose configs) are not among them.
TRAINING_MODULES = ("attacks", "data", "device", "evaluate", "experiments", "fourier", "models",
                    "train")

# The environment variable naming the file that :func:`log_request` appends to.
REQUEST_LOG = "FREQLENS_REQUEST_LOG"


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def source_fingerprint(source: str) -> str:
    """SHA-256 of Python source as the interpreter runs it: comments, docstrings and layout aside.

    Example:
        >>> a = source_fingerprint("def f(x):\\n    'Twice x.'\\n    return 2 * x  # doubled\\n")
        >>> a == source_fingerprint("def f(x):\\n    return 2*x\\n")
        True
        >>> a == source_fingerprint("def f(x):\\n    return 3 * x\\n")
        False
    """
    tree = _without_docstrings(ast.parse(source))
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """One hash of the code of :data:`TRAINING_MODULES`, computed once per process.

    Example:
        >>> len(code_fingerprint())
        64
    """
    parts = []
    for name in TRAINING_MODULES:
        path = Path(importlib.util.find_spec(f"freqlens.{name}").origin)
        parts.append(f"{name}:{source_fingerprint(path.read_text(encoding='utf-8'))}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


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
    """SHA-256 (hex) of the config's canonical JSON and :func:`code_fingerprint`.

    Example:
        >>> from freqlens.train import TrainConfig
        >>> len(config_key(TrainConfig()))
        64
    """
    text = canonical_json(config) + "\n" + code_fingerprint()
    return hashlib.sha256(text.encode()).hexdigest()


def entry_path(config) -> Path:
    """Where the finished result of ``config`` is (or will be) stored."""
    return cache_dir() / f"{config_key(config)}.pt"


def checkpoint_path(config) -> Path:
    """Where the last finished epoch of an unfinished run of ``config`` is stored."""
    return cache_dir() / f"{config_key(config)}.ckpt.pt"


def lock_path(config) -> Path:
    """The lock file held while one process trains ``config`` (see :func:`training_lock`)."""
    return cache_dir() / f"{config_key(config)}.lock"


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
        if obj.get("code") != code_fingerprint() or obj.get("config") != canonical_json(config):
            raise ValueError("it was written for another config or by other code")
        for field in ("model", "history"):
            if field not in obj:
                raise ValueError(f"it lacks {field!r}")
    except Exception as e:  # any failure to read means the same thing: train again
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        print(f"freqlens.experiments: {what} {path.name} is unusable ({reason}); training again",
              file=sys.stderr)
        return None
    return obj


@contextlib.contextmanager
def training_lock(config):
    """Hold the lock on ``config``'s cache entry: one process at a time trains it.

    An exclusive ``flock`` on ``<key>.lock``, blocking until the holder lets go. The
    kernel drops the lock when its holder exits, killed or not, so no lock outlives its
    process and there is no stale lock to clear. The empty lock files stay in the cache:
    deleting one while another process waits on it would let a third lock a new file of
    the same name. Re-entrant within a thread. On a cluster the cache must sit on storage whose locks every node sees
    (NFSv4, CephFS, Lustre, a local disk for one machine).

    Example:
        >>> from freqlens.train import TrainConfig
        >>> with training_lock(TrainConfig(epochs=1)) as path:   # look in the cache, train if need be
        ...     path.name.endswith(".lock")
        True
    """
    path = lock_path(config)
    held = (path, threading.get_ident())
    if held in _HELD:   # this thread holds it already (a sweep's task calling train())
        _HELD[held] += 1
        try:
            yield path
        finally:
            _HELD[held] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _HELD[held] = 1
        try:
            yield path
        finally:
            del _HELD[held]
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


# The locks each thread of this process holds, and how deeply: flock conflicts between two
# descriptors of one process too, so a nested request must not open the file again.
_HELD: dict[tuple[Path, int], int] = {}


def log_request(config) -> None:
    """Append ``config``'s canonical JSON as one line to ``$FREQLENS_REQUEST_LOG``, if it is set.

    Each line goes in one ``write`` to a file opened for appending, under an exclusive
    ``flock``, so lines from concurrent processes never interleave.

    Example:
        >>> import tempfile
        >>> from freqlens.train import TrainConfig
        >>> log = Path(tempfile.mkdtemp()) / "requests.jsonl"
        >>> os.environ[REQUEST_LOG] = str(log)
        >>> log_request(TrainConfig(epochs=1)); log_request(TrainConfig(epochs=2))
        >>> del os.environ[REQUEST_LOG]
        >>> [json.loads(line)["epochs"] for line in log.read_text().splitlines()]
        [1, 2]
    """
    target = os.environ.get(REQUEST_LOG)
    if not target:
        return
    line = (canonical_json(config) + "\n").encode()
    path = Path(target).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)
