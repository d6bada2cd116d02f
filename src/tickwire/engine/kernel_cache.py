"""The compiled pass of a strategy kernel, cached on disk: a generated module per kernel.

:func:`build_hot_pass` returns the module of tickwire.engine.passes specialised on one kernel. For a kernel that
another process can import (an ``@njit`` function at the top level of an importable module), the module is a
file in the cache directory: the template's source with ``kernel`` imported from the strategy's module and
numba's ``cache=True`` on, so numba keeps the compiled pass next to it and the next process loads it instead of
compiling (a warm start). The file's name carries a digest of everything the compiled code depends on —
the template, every tickwire source file, the kernel's module, numba and Python versions — because numba checks
only the time stamp of the file it caches, not of the functions a cached function inlined: any change makes a
new file, never a stale load. Older files of the same kernel are removed when a new one is written.

A kernel no other process could import (defined in a function, in ``__main__``, or made at run time) gets the
same pass compiled in this process only, from the same source with caching off.

The cache directory is ``$TICKWIRE_CACHE_DIR``, else ``$XDG_CACHE_HOME/tickwire``, else ``~/.cache/tickwire``
(``tickwire warm`` fills it ahead of a first start; see the README).
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numba

import tickwire

TEMPLATE = Path(__file__).with_name("passes.py")
_SPECIALISE = re.compile(r"^from tickwire\.engine\.hotpath import no_strategy as kernel.*\nCACHE = False$", re.M)
_MEMO: dict[Any, ModuleType] = {}
log = logging.getLogger("tickwire.engine.kernel_cache")
_CONFIGURED: list[Path] = []


def set_cache_dir(directory: str | os.PathLike[str]) -> None:
    """Use ``directory`` for the generated modules of this process (the config's ``cache_dir``; wins over the
    environment). Takes effect for kernels whose pass is built after the call."""
    _CONFIGURED[:] = [Path(directory)]


def cache_dir() -> Path:
    """Where generated pass modules (and numba's cache of them, unless NUMBA_CACHE_DIR moves it) live."""
    if _CONFIGURED:
        return _CONFIGURED[0]
    configured = os.environ.get("TICKWIRE_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tickwire"


def build_hot_pass(kernel: Callable[..., int]) -> ModuleType:
    """The compiled pass specialised on the numba strategy ``kernel`` (a module; see tickwire.engine.passes for
    its entry points). Memoised per kernel; compiled at the first call of each entry, or loaded from the disk
    cache when the kernel is importable."""
    module = _MEMO.get(kernel)
    if module is None:
        ref = importable_ref(kernel)
        module = None
        if ref is not None:
            try:
                module = _cached_module(*ref)
            except OSError as exc:  # a read-only or missing cache directory must not stop an engine
                log.warning("compiled pass not cached (%s: %s); compiling it in this process", cache_dir(), exc)
        module = _MEMO[kernel] = module if module is not None else _process_module(kernel)
    return module


def is_cached(kernel: Callable[..., int]) -> bool:
    """Whether ``kernel``'s pass is kept on disk (False: compiled in every process; see the module docstring)."""
    module = _MEMO.get(kernel)
    return bool(module.CACHE) if module is not None else importable_ref(kernel) is not None


def compiled_here(module: ModuleType) -> int:
    """How many functions of a pass ``module`` this process compiled rather than loaded from the disk cache (0
    after a warm start; all it used for a kernel that cannot be cached)."""
    n = 0
    for value in vars(module).values():
        if getattr(getattr(value, "py_func", None), "__module__", None) != module.__name__:
            continue  # not one of the module's own compiled functions
        stats = value.stats
        n += sum(stats.cache_misses.values()) if stats.cache_path else len(value.overloads)
    return n


def importable_ref(kernel: Callable[..., int]) -> tuple[str, str] | None:
    """(module, name) under which another process imports ``kernel``, or None when it cannot."""
    py_func = getattr(kernel, "py_func", None)
    if py_func is None:
        return None
    module_name, name = py_func.__module__, py_func.__qualname__
    module = sys.modules.get(module_name)
    if module_name == "__main__" or module is None or not getattr(module, "__file__", None):
        return None
    if "." in name or getattr(module, name, None) is not kernel:
        return None
    return module_name, name


def _specialise(header: str) -> str:
    template = TEMPLATE.read_text()
    source, n = _SPECIALISE.subn(header, template)
    if n != 1:
        raise RuntimeError(f"{TEMPLATE}: the specialisation lines are missing")
    return source


def _cached_module(module_name: str, name: str) -> ModuleType:
    header = f"from {module_name} import {name} as kernel  # noqa: E402\nCACHE = True"
    source = _specialise(header)
    digest = _digest(source, sys.modules[module_name].__file__)
    stem = "tw_pass_" + re.sub(r"\W", "_", f"{module_name}_{name}")
    directory = cache_dir() / "passes"
    path = directory / f"{stem}_{digest}.py"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        _prune(directory, stem)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)  # atomic: a concurrent process sees the whole file or none
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # numba's cache pickles references to it
    spec.loader.exec_module(module)
    return module


def _process_module(kernel: Callable[..., int]) -> ModuleType:
    module = ModuleType(f"tw_pass_local_{id(kernel):x}")
    module.__dict__["_tickwire_kernel"] = kernel
    code = compile(_specialise("kernel = _tickwire_kernel\nCACHE = False"), str(TEMPLATE), "exec")
    exec(code, module.__dict__)  # noqa: S102 - the package's own template
    return module


def _digest(source: str, kernel_file: str | None) -> str:
    h = hashlib.sha256(source.encode())
    package = Path(tickwire.__file__).parent
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode())
        h.update(path.read_bytes())
    if kernel_file:
        h.update(Path(kernel_file).read_bytes())
    h.update(f"{numba.__version__} {sys.version}".encode())
    return h.hexdigest()[:20]


def _prune(directory: Path, stem: str) -> None:
    """Remove the older generated modules of one kernel and numba's cache files of them."""
    for old in directory.glob(f"{stem}_*.py"):
        if not re.fullmatch(re.escape(stem) + r"_[0-9a-f]{20}", old.stem):
            continue  # another kernel whose name starts like this one's
        old.unlink(missing_ok=True)
        for cached in (directory / "__pycache__").glob(f"{old.stem}.*"):
            cached.unlink(missing_ok=True)
