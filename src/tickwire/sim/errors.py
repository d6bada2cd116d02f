"""Deribit error codes the simulator answers with, and the exception that carries one to the response."""
from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
AUTHORIZATION_REQUIRED = 10000
QTY_TOO_LOW = 10002
ORDER_NOT_FOUND = 10004
INVALID_OR_UNSUPPORTED_INSTRUMENT = 10020
INVALID_AMOUNT = 10021
INVALID_PRICE = 10023
TOO_MANY_REQUESTS = 10028
MUST_BE_WEBSOCKET_REQUEST = 10030
PRICE_WRONG_TICK = 10043
OTHER_REJECT = 11030
NOT_OPEN_ORDER = 11044
BAD_REQUEST = 11050
POST_ONLY_REJECT = 11054
INTERNAL_SERVER_ERROR = 11094
INVALID_CREDENTIALS = 13004
UNAUTHORIZED = 13009
NOT_FOUND = 13020
RAW_SUBSCRIPTIONS_NOT_AVAILABLE_FOR_UNAUTHORIZED = 13778

MESSAGES: dict[int, str] = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
    AUTHORIZATION_REQUIRED: "authorization_required",
    QTY_TOO_LOW: "qty_too_low",
    ORDER_NOT_FOUND: "order_not_found",
    INVALID_OR_UNSUPPORTED_INSTRUMENT: "invalid_or_unsupported_instrument",
    INVALID_AMOUNT: "invalid_amount",
    INVALID_PRICE: "invalid_price",
    TOO_MANY_REQUESTS: "too_many_requests",
    MUST_BE_WEBSOCKET_REQUEST: "must_be_websocket_request",
    PRICE_WRONG_TICK: "price_wrong_tick",
    OTHER_REJECT: "other_reject",
    NOT_OPEN_ORDER: "not_open_order",
    BAD_REQUEST: "bad_request",
    POST_ONLY_REJECT: "post_only_reject",
    INTERNAL_SERVER_ERROR: "internal_server_error",
    INVALID_CREDENTIALS: "invalid_credentials",
    UNAUTHORIZED: "unauthorized",
    NOT_FOUND: "not_found",
    RAW_SUBSCRIPTIONS_NOT_AVAILABLE_FOR_UNAUTHORIZED: "raw_subscriptions_not_available_for_unauthorized",
}


class RpcError(Exception):
    """A JSON-RPC error response: ``{"code", "message", "data"}`` (data is null when Deribit gives none)."""

    def __init__(self, code: int, data: dict[str, Any] | None = None, message: str | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "error")
        self.data = data
        super().__init__(f"{self.code} {self.message} {self.data or ''}".strip())

    def to_json(self) -> dict[str, Any]:
        """The ``error`` member of the response."""
        return {"code": self.code, "message": self.message, "data": self.data}


def invalid_param(param: str, reason: str) -> RpcError:
    """-32602 Invalid params with Deribit's ``{"param", "reason"}`` data."""
    return RpcError(INVALID_PARAMS, {"param": param, "reason": reason})
