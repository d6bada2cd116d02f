"""Build hook: chooses the cffi native modules by what this host has (see ffi/)."""
import shutil
import subprocess
from pathlib import Path

from setuptools import setup


def _has_libdpdk() -> bool:
    if shutil.which("pkg-config") is None:
        return False
    return subprocess.run(["pkg-config", "--exists", "libdpdk"]).returncode == 0


def _cffi_modules() -> list[str]:
    modules = ["ffi/native_build.py:ffibuilder"]
    if _has_libdpdk() and Path("ffi/dpdk_build.py").exists():
        modules.append("ffi/dpdk_build.py:ffibuilder")
    return modules


setup(cffi_modules=_cffi_modules())
