"""What a result was computed by: the code a function runs, followed through its calls, as one hash.

:func:`code_digest` starts from a function and follows everything its code refers to:
its globals and the cells of its closure, the attributes it reads of a module
(``attacks.pgd(...)`` follows ``pgd``, not the rest of ``attacks``), modules it imports
inside its body, a class's methods and bases, a ``functools.partial``'s function and
arguments, and the function a decorator wraps. It follows the code of this package and
of its caller (a notebook or a script, ``__main__``, or any module outside the installed
libraries); a library's code is named, not followed: :func:`library_versions` stands for
it. Code is hashed as the interpreter runs it (bytecode, constants, names), so comments,
docstrings, layout and line numbers do not count, and it is read from the live objects:
the digest is that of the code the process runs.

A value that code reads from a global or a closure counts by value when it is a number,
a string, ``None`` or a tuple of them; a list, dict or set is searched for the functions
it holds, but its other contents (which may be state, such as a counter) do not count;
anything else (a tensor, a network) counts by its type only, so such inputs must come in
as arguments.

Example:
    >>> def twice(x):
    ...     return 2 * x
    >>> def four_times(x):
    ...     return twice(twice(x))
    >>> len(code_digest(four_times))
    64
"""

from __future__ import annotations

import dis
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import site
import sys
import sysconfig
import types
from pathlib import Path

__all__ = ["LIBRARIES", "code_digest", "library_versions"]

# The libraries whose code a result depends on without being followed: their versions count.
LIBRARIES = ("torch", "torchvision", "captum")

_SCALARS = (bool, int, float, complex, str, bytes, type(None), type(Ellipsis))
# Attributes every class has, or that a decorator adds, which are not code of the class.
_CLASS_RECORDS = frozenset({"__dict__", "__weakref__", "__doc__", "__module__", "__qualname__",
                            "__annotations__", "__dataclass_fields__", "__dataclass_params__",
                            "__match_args__", "_abc_impl", "__orig_bases__", "__parameters__",
                            "__abstractmethods__", "__static_attributes__", "__firstlineno__"})
_MAX_ITEMS = 1000   # a container this large is data, not a registry of functions


@functools.lru_cache(maxsize=1)
def library_versions() -> str:
    """The installed versions of :data:`LIBRARIES`, as ``"torch==2.14.1 torchvision==..."``.

    Example:
        >>> library_versions().split()[0].startswith("torch==")
        True
    """
    parts = []
    for name in LIBRARIES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        parts.append(f"{name}=={version}")
    return " ".join(parts)


@functools.lru_cache(maxsize=1)
def _library_folders() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    folders = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    folders.update(site.getsitepackages() if hasattr(site, "getsitepackages") else ())
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        folders.add(site.getusersitepackages())
    return tuple(str(Path(f).resolve()) + os.sep for f in folders)


_OURS: dict[str, bool] = {}


def _module_is_ours(name: str) -> bool:
    """True for this package, ``__main__`` and modules outside the installed libraries."""
    if name in ("__main__", "freqlens") or name.startswith("freqlens."):
        return True
    if name not in _OURS:
        module = sys.modules.get(name)
        if module is None:   # not imported (yet): nothing of it can be running
            return False
        file = getattr(module, "__file__", None)
        _OURS[name] = bool(file) and not str(Path(file).resolve()).startswith(_library_folders())
    return _OURS[name]


def _submodule_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):   # a parent that is not a package, or no such module
        return False


def _name(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
    return f"{getattr(obj, '__module__', None) or ''}.{qualname}"


# --------------------------------------------------------------------------- code as text

def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _const_text(const) -> str:
    if isinstance(const, types.CodeType):
        return f"code({_code_text(const)})"
    if isinstance(const, tuple):
        return "(" + ",".join(map(_const_text, const)) + ")"
    if isinstance(const, frozenset):   # its order follows string hashing, which varies by process
        return "frozenset(" + ",".join(sorted(map(_const_text, const))) + ")"
    return f"{type(const).__name__}:{const!r}"


@functools.lru_cache(maxsize=4096)
def _code_text(code: types.CodeType) -> str:
    """A code object as text: what it does, without its docstring, file or line numbers."""
    consts = list(code.co_consts)
    # CPython keeps a function's docstring as its first constant (None when there is none);
    # lambdas and comprehensions, whose names start with "<", have no docstring.
    if consts and isinstance(consts[0], str) and not code.co_name.startswith("<"):
        consts[0] = None
    return "|".join([code.co_name, str(code.co_argcount), str(code.co_posonlyargcount),
                     str(code.co_kwonlyargcount), str(code.co_flags), code.co_code.hex(),
                     _const_text(tuple(consts)), ",".join(code.co_names), ",".join(code.co_varnames),
                     ",".join(code.co_freevars), ",".join(code.co_cellvars)])


@functools.lru_cache(maxsize=4096)
def _reads(code: types.CodeType) -> tuple[frozenset, tuple]:
    """The names the code (and the code nested in it) reads, and the modules it imports."""
    names, imported = set(), set()
    for c in _code_objects(code):
        names.update(c.co_names)
        imported.update(ins.argval for ins in dis.get_instructions(c)
                        if ins.opname == "IMPORT_NAME" and isinstance(ins.argval, str))
    return frozenset(names), tuple(sorted(imported))


# --------------------------------------------------------------------------- the walk

class _Walk:
    """Every piece of code reachable from the roots, one line of text each."""

    def __init__(self, stop: tuple[str, ...]):
        self.stop = stop
        self.queued: dict[int, object] = {}   # by id; the objects are kept so ids stay unique
        self.todo: list = []
        self.lines: list[str] = []

    def stopped(self, name: str) -> bool:
        return any(name == s or name.startswith(s + ".") for s in self.stop)

    def queue(self, obj) -> None:
        if id(obj) not in self.queued:
            self.queued[id(obj)] = obj
            self.todo.append(obj)

    def follows(self, obj) -> bool:
        module = getattr(obj, "__module__", None)
        return isinstance(module, str) and _module_is_ours(module) and not self.stopped(_name(obj))

    def describe(self, value, depth: int = 0) -> str:
        """How a referrer names ``value``; code of ours is queued to be hashed on its own line."""
        try:
            return self._describe(value, depth)
        except Exception:   # an object that cannot be looked into (a lazy proxy, a broken property)
            return f"unreadable {_name(type(value))}"

    def _describe(self, value, depth: int) -> str:
        if isinstance(value, _SCALARS):
            return f"{type(value).__name__}:{value!r}"
        if isinstance(value, types.ModuleType):
            return f"module {value.__name__}"
        if depth > 8:
            return type(value).__qualname__
        if isinstance(value, functools.partial):
            args = ",".join(self.describe(a, depth + 1) for a in value.args)
            kwargs = ",".join(f"{k}={self.describe(v, depth + 1)}" for k, v in sorted(value.keywords.items()))
            return f"partial({self.describe(value.func, depth + 1)};{args};{kwargs})"
        if isinstance(value, types.MethodType):
            return f"method {self.describe(value.__func__, depth + 1)} of {_name(type(value.__self__))}"
        if isinstance(value, (staticmethod, classmethod)):
            return f"{type(value).__name__} {self.describe(value.__func__, depth + 1)}"
        if isinstance(value, property):
            return "property(" + ",".join(self.describe(f, depth + 1)
                                          for f in (value.fget, value.fset, value.fdel)) + ")"
        if isinstance(value, (tuple, frozenset)):
            items = [self.describe(v, depth + 1) for v in value]
            return f"{type(value).__name__}({','.join(sorted(items) if isinstance(value, frozenset) else items)})"
        if isinstance(value, (list, dict, set)):
            return f"{type(value).__name__}[{self._functions_in(value, depth)}]"
        if isinstance(value, (types.FunctionType, type)):
            if self.follows(value):
                self.queue(value)
            return self._wrapped(value, _name(value), depth)
        if callable(value) and hasattr(value, "__qualname__"):   # builtins, C functions, lru_cache
            return self._wrapped(value, _name(value), depth)
        if self.follows(type(value)):   # an instance of a class of ours
            self.queue(type(value))
        return f"instance of {_name(type(value))}"

    def _wrapped(self, value, text: str, depth: int) -> str:
        inner = getattr(value, "__wrapped__", None)
        if callable(inner) and inner is not value:
            return f"{text} wrapping {self.describe(inner, depth + 1)}"
        return text

    def _functions_in(self, container, depth: int) -> str:
        """The functions a container holds, however deep; its other contents do not count."""
        if len(container) > _MAX_ITEMS or depth > 8:
            return ""
        items = container.items() if isinstance(container, dict) else zip(range(len(container)), container)
        found = []
        for key, value in items:
            key = repr(key) if isinstance(key, _SCALARS) and isinstance(container, dict) else ""
            if isinstance(value, (list, dict, set, tuple, frozenset)):
                inner = self._functions_in(value, depth + 1)
                if inner:
                    found.append(f"{key}:[{inner}]")
            elif callable(value):
                found.append(f"{key}:{self.describe(value, depth + 1)}")
        return ",".join(sorted(found))

    # the lines

    def run(self) -> None:
        while self.todo:
            obj = self.todo.pop()
            if isinstance(obj, type):
                self.lines.append(self._class_line(obj))
            elif isinstance(obj, types.FunctionType):
                self.lines.append(self._function_line(obj))

    def _function_line(self, fn: types.FunctionType) -> str:
        code = fn.__code__
        names, imported = _reads(code)
        parts = [f"def {_name(fn)}", hashlib.sha256(_code_text(code).encode()).hexdigest(),
                 f"defaults={self.describe(fn.__defaults__)}",
                 f"kwdefaults={self.describe(tuple(sorted((fn.__kwdefaults__ or {}).items())))}"]
        modules = []
        home = fn.__globals__.get("__name__", "")
        for name in sorted(names):
            if name not in fn.__globals__:
                continue
            if self.stopped(f"{home}.{name}"):   # a stopped name counts, whatever it holds now
                parts.append(f"{name}=<{home}.{name}>")
                continue
            value = fn.__globals__[name]
            parts.append(f"{name}={self.describe(value)}")
            if isinstance(value, types.ModuleType):
                modules.append(value)
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:   # a cell not yet filled
                parts.append(f"{name}=<empty>")
                continue
            parts.append(f"{name}={self.describe(value)}")
            if isinstance(value, types.ModuleType):
                modules.append(value)
        for module_name in imported:
            parts.append(f"import {module_name}")
            if module_name in sys.modules:
                modules.append(sys.modules[module_name])
            elif _module_is_ours(module_name):
                # one of this package's modules, imported by the function when it runs: import
                # it now, so that the digest does not depend on what the process imported first
                modules.append(importlib.import_module(module_name))
        for module in modules:
            parts.extend(self._attributes(module, names))
        return " ".join(parts)

    def _attributes(self, module: types.ModuleType, names: frozenset, depth: int = 0) -> list[str]:
        """The attributes of one of our modules that the code reads (``module.name``)."""
        if depth > 4 or not _module_is_ours(module.__name__) or self.stopped(module.__name__):
            return []
        parts = []
        if hasattr(module, "__path__"):   # a package: its submodules the code names, imported or not yet
            for name in sorted(names.difference(vars(module))):
                if name.isidentifier() and _submodule_exists(f"{module.__name__}.{name}"):
                    importlib.import_module(f"{module.__name__}.{name}")
        namespace = vars(module)
        for name in sorted(names.intersection(namespace)):
            value = namespace[name]
            if isinstance(value, types.ModuleType):
                parts.extend(self._attributes(value, names, depth + 1))
            elif self.stopped(f"{module.__name__}.{name}"):
                parts.append(f"{module.__name__}.{name}=<not followed>")
            else:
                parts.append(f"{module.__name__}.{name}={self.describe(value)}")
        return parts

    def _class_line(self, cls: type) -> str:
        parts = [f"class {_name(cls)}", "bases=" + ",".join(self.describe(b) for b in cls.__bases__)]
        for name, value in sorted(vars(cls).items()):
            if name not in _CLASS_RECORDS:
                parts.append(f"{name}={self.describe(value)}")
        return " ".join(parts)


def code_digest(*roots, stop: tuple[str, ...] = ()) -> str:
    """SHA-256 (hex) of the code reachable from ``roots``, as the module docstring describes.

    Args:
        roots: functions, classes or other callables to start from.
        stop: qualified names that are named but not followed: a module
            (``"freqlens.experiments"``: whatever is defined in it), or a function or class
            or a module's global (``"freqlens.data.load_cifar10"``: whatever that name holds,
            so a replacement stays out too).

    Example:
        >>> import math
        >>> def area(r):
        ...     return math.pi * r * r
        >>> first = code_digest(area)
        >>> def area(r):
        ...     'The area of a disk of radius r.'
        ...     return math.pi * r*r   # pi r squared
        >>> code_digest(area) == first
        True
        >>> def area(r):
        ...     return math.pi * r ** 2
        >>> code_digest(area) == first
        False
    """
    walk = _Walk(tuple(stop))
    for root in roots:
        # a root function's own code counts wherever it comes from; a library's class is named
        if (isinstance(root, types.FunctionType) and not walk.stopped(_name(root))
                or isinstance(root, type) and walk.follows(root)):
            walk.queue(root)
        else:
            walk.lines.append(f"root {walk.describe(root)}")
    walk.run()
    return hashlib.sha256("\n".join(sorted(walk.lines)).encode()).hexdigest()
