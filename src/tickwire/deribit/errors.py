"""Deribit's error codes (JSON-RPC and venue codes), defined once: the engine reads them, the simulator answers
with them."""
from __future__ import annotations

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
AUTHORIZATION_REQUIRED = 10000
QTY_TOO_LOW = 10002
ORDER_NOT_FOUND = 10004
ALREADY_CLOSED = 10010
INVALID_OR_UNSUPPORTED_INSTRUMENT = 10020
INVALID_AMOUNT = 10021
INVALID_PRICE = 10023
TOO_MANY_REQUESTS = 10028
MUST_BE_WEBSOCKET_REQUEST = 10030
PRICE_WRONG_TICK = 10043
ALREADY_FILLED = 11008
OTHER_REJECT = 11030
NOT_OPEN_ORDER = 11044
BAD_REQUEST = 11050
NOT_SUBSCRIBED = 11052
POST_ONLY_REJECT = 11054
INTERNAL_SERVER_ERROR = 11094
INVALID_CREDENTIALS = 13004
UNAUTHORIZED = 13009
NOT_FOUND = 13020
MMP_TRIGGER = 13030
NON_UNIQUE_ORDER_LABEL = 13032
COD_NOT_ENABLED = 13042
QUOTES_FROZEN = 13043
SCOPE_EXCEEDED = 13403
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
    ALREADY_CLOSED: "already_closed",
    INVALID_OR_UNSUPPORTED_INSTRUMENT: "invalid_or_unsupported_instrument",
    INVALID_AMOUNT: "invalid_amount",
    INVALID_PRICE: "invalid_price",
    TOO_MANY_REQUESTS: "too_many_requests",
    MUST_BE_WEBSOCKET_REQUEST: "must_be_websocket_request",
    PRICE_WRONG_TICK: "price_wrong_tick",
    ALREADY_FILLED: "already_filled",
    OTHER_REJECT: "other_reject",
    NOT_OPEN_ORDER: "not_open_order",
    BAD_REQUEST: "bad_request",
    NOT_SUBSCRIBED: "not_subscribed",
    POST_ONLY_REJECT: "post_only_reject",
    INTERNAL_SERVER_ERROR: "internal_server_error",
    INVALID_CREDENTIALS: "invalid_credentials",
    UNAUTHORIZED: "unauthorized",
    NOT_FOUND: "not_found",
    MMP_TRIGGER: "mmp_trigger",
    NON_UNIQUE_ORDER_LABEL: "non_unique_order_label",
    COD_NOT_ENABLED: "cod_not_enabled",
    QUOTES_FROZEN: "quotes_frozen",
    SCOPE_EXCEEDED: "scope_exceeded",
    RAW_SUBSCRIPTIONS_NOT_AVAILABLE_FOR_UNAUTHORIZED: "raw_subscriptions_not_available_for_unauthorized",
}

# A cancel or edit of an order that is not open (any more): the order is finished, not lost.
NOT_OPEN_CODES = frozenset({NOT_OPEN_ORDER, ORDER_NOT_FOUND, ALREADY_CLOSED, ALREADY_FILLED})
# Refused credentials: retrying cannot help, the run stops with the venue's code.
FATAL_AUTH_CODES = frozenset({INVALID_CREDENTIALS, UNAUTHORIZED, SCOPE_EXCEEDED})


def message(code: int) -> str:
    """Deribit's message for a code ("error" for a code not in the table)."""
    return MESSAGES.get(code, "error")
