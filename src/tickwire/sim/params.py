"""Typed access to JSON-RPC ``params`` that turns every bad value into -32602 with ``{"param", "reason"}``.

HTTP GET query strings carry only strings, so a ``lenient`` Params also accepts "10", "0.5", "true".
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tickwire.sim.errors import invalid_param

_MISSING = object()


class Params:
    """Validated getters over one request's params object."""

    __slots__ = ("raw", "lenient")

    def __init__(self, raw: Any, lenient: bool = False) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise invalid_param("params", "must be an object")
        self.raw = raw
        self.lenient = lenient

    def __contains__(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def _get(self, name: str, required: bool) -> Any:
        value = self.raw.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise invalid_param(name, "value required")
            return _MISSING
        return value

    def str_(self, name: str, default: str | None = None, required: bool = False,
             choices: tuple[str, ...] | None = None, max_len: int | None = None) -> str | None:
        """A string parameter (optionally one of ``choices``)."""
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            raise invalid_param(name, "must be a string")
        if choices is not None and value not in choices:
            raise invalid_param(name, f"must be one of {', '.join(choices)}")
        if max_len is not None and len(value) > max_len:
            raise invalid_param(name, f"longer than {max_len} characters")
        return value

    def num(self, name: str, default: float | None = None, required: bool = False) -> float | None:
        """A finite number."""
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if isinstance(value, str) and self.lenient:
            try:
                value = float(value)
            except ValueError:
                raise invalid_param(name, "must be a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid_param(name, "must be a number")
        if not math.isfinite(value):
            raise invalid_param(name, "must be finite")
        return float(value)

    def int_(self, name: str, default: int | None = None, required: bool = False,
             lo: int | None = None, hi: int | None = None) -> int | None:
        """An integer (a float with an integral value is accepted), optionally bounded."""
        value = self.num(name, None, required)
        if value is None:
            return default
        if value != int(value):
            raise invalid_param(name, "must be an integer")
        result = int(value)
        if (lo is not None and result < lo) or (hi is not None and result > hi):
            raise invalid_param(name, f"must be between {lo} and {hi}")
        return result

    def bool_(self, name: str, default: bool = False) -> bool:
        """A boolean."""
        value = self._get(name, False)
        if value is _MISSING:
            return default
        if isinstance(value, str) and self.lenient and value in ("true", "false"):
            return value == "true"
        if not isinstance(value, bool):
            raise invalid_param(name, "must be a boolean")
        return value

    def str_list(self, name: str, required: bool = False) -> list[str]:
        """A list of strings (HTTP: also a comma-separated string)."""
        value = self._get(name, required)
        if value is _MISSING:
            return []
        if isinstance(value, str) and self.lenient:
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_param(name, "must be an array of strings")
        return value
