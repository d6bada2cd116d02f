"""Loading of the cffi native modules and their registration with numba.

``native.lib`` is the ``_tw_native`` library: call its ``tw_*`` shims from Python or from ``@njit`` code
(``from tickwire.native import lib`` at module level, then ``lib.tw_rdtsc()`` inside the jitted function).
Functions that call cffi cannot use numba's on-disk cache: keep them small and the cacheable kernels apart.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from numba.core.typing import cffi_utils


class NativeUnavailableError(RuntimeError):
    """A native module was not built on this host; the message says how to get it."""


_HOW_TO_BUILD = {
    "_tw_native": "reinstall tickwire with a C compiler present (`make install` or `pip install -e .`)",
    "_tw_dpdk": "install DPDK (`apt-get install dpdk libdpdk-dev dpdk-dev`), then reinstall tickwire (`make install`)",
}


def load(name: str) -> ModuleType:
    """Import ``tickwire.<name>`` and register it with numba, or raise NativeUnavailableError."""
    try:
        module = importlib.import_module(f"tickwire.{name}")
    except ImportError as exc:
        raise NativeUnavailableError(f"native module {name} is not built: {_HOW_TO_BUILD.get(name, 'reinstall')}") from exc
    cffi_utils.register_module(module)
    return module


def available(name: str) -> bool:
    """True when ``tickwire.<name>`` was built and imports."""
    try:
        load(name)
    except NativeUnavailableError:
        return False
    return True


_native = load("_tw_native")
ffi = _native.ffi
lib = _native.lib
