"""The exception that carries a Deribit error (codes: :mod:`tickwire.deribit.errors`) to the response."""
from __future__ import annotations

from typing import Any

from tickwire.deribit import errors
from tickwire.deribit.errors import INVALID_PARAMS


class RpcError(Exception):
    """A JSON-RPC error response: ``{"code", "message", "data"}`` (no ``data`` when Deribit gives none)."""

    def __init__(self, code: int, data: dict[str, Any] | None = None, message: str | None = None) -> None:
        self.code = code
        self.message = message or errors.message(code)
        self.data = data
        super().__init__(f"{self.code} {self.message} {self.data or ''}".strip())

    def to_json(self) -> dict[str, Any]:
        """The ``error`` member of the response."""
        if self.data is None:
            return {"code": self.code, "message": self.message}
        return {"code": self.code, "message": self.message, "data": self.data}


def invalid_param(param: str, reason: str) -> RpcError:
    """-32602 Invalid params with Deribit's ``{"param", "reason"}`` data."""
    return RpcError(INVALID_PARAMS, {"param": param, "reason": reason})
