"""tickwire: a low-latency trading toolkit for Deribit whose hot path runs as compiled code."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tickwire")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
