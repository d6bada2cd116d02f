"""Credentials checks shared by HTTP and WebSocket: request signatures (timestamp, nonce, HMAC-SHA256) and the
three HTTP ``Authorization`` schemes Deribit documents.

- ``Bearer <access_token>``
- ``Basic base64(client_id:client_secret)``
- ``deri-hmac-sha256 id=<client_id>,ts=<ms>,sig=<hex>,nonce=<nonce>``, where ``sig`` is
  ``hex(HMAC-SHA256(secret, ts + "\\n" + nonce + "\\n" + VERB + "\\n" + URI + "\\n" + BODY + "\\n"))``

``public/auth`` with ``grant_type=client_signature`` signs ``timestamp + "\\n" + nonce + "\\n" + data`` and is
checked by the same ``SignatureGuard``: a wrong signature, a timestamp off the venue's clock by more than
``MAX_CLOCK_SKEW_MS`` and a nonce used before are all refused.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections import deque
from typing import NamedTuple

from tickwire.deribit.errors import UNAUTHORIZED
from tickwire.sim.errors import RpcError

MAX_CLOCK_SKEW_MS = 60_000   # a signed request this far from the venue's clock is refused (replays expire)
NONCES_KEPT = 1 << 16        # remembered (client_id, nonce) pairs; older ones fall out of the skew window anyway


class SignatureGuard:
    """Verifies signed requests against the configured secrets and refuses replays."""

    def __init__(self, credentials: dict[str, str]) -> None:
        self.credentials = credentials
        self._seen: dict[tuple[str, str], int] = {}
        self._order: deque[tuple[int, tuple[str, str]]] = deque()

    def verify(self, client_id: str, stamp: int, nonce: str, data: str, signature: str, code: int) -> str:
        """The client id of a valid signature; RpcError(``code``) with the reason otherwise."""
        secret = self.credentials.get(client_id)
        if secret is None:
            raise RpcError(code, {"reason": "unknown client_id"})
        now = time.time_ns() // 1_000_000
        if abs(now - stamp) > MAX_CLOCK_SKEW_MS:
            raise RpcError(code, {"reason": f"timestamp is more than {MAX_CLOCK_SKEW_MS} ms away from server time"})
        want = hmac.new(secret.encode(), f"{stamp}\n{nonce}\n{data}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, signature.lower()):
            raise RpcError(code, {"reason": "invalid signature"})
        self._forget_before(now - 2 * MAX_CLOCK_SKEW_MS)
        key = (client_id, nonce)
        if key in self._seen:
            raise RpcError(code, {"reason": "nonce already used"})
        self._seen[key] = now
        self._order.append((now, key))
        while len(self._order) > NONCES_KEPT:
            _, old = self._order.popleft()
            self._seen.pop(old, None)
        return client_id

    def _forget_before(self, cutoff: int) -> None:
        order = self._order
        while order and order[0][0] < cutoff:
            _, old = order.popleft()
            self._seen.pop(old, None)


class HttpIdentity(NamedTuple):
    """Who an HTTP request acts for: a bearer token to resolve, or a client id already verified."""

    bearer: str | None = None
    client_id: str | None = None


def http_identity(header: str, verb: str, target: str, body: bytes, guard: SignatureGuard) -> HttpIdentity:
    """Parse and check an ``Authorization`` header (empty: anonymous); 13009 unauthorized when it fails."""
    scheme, _, value = header.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if not scheme:
        return HttpIdentity()
    if scheme == "bearer":
        return HttpIdentity(bearer=value)
    if scheme == "basic":
        return HttpIdentity(client_id=_basic(value, guard.credentials))
    if scheme == "deri-hmac-sha256":
        fields = dict(part.strip().partition("=")[::2] for part in value.split(",") if part.strip())
        client_id, stamp_text = fields.get("id", ""), fields.get("ts", "")
        if not client_id or not stamp_text.isdigit() or len(stamp_text) > 16 or "sig" not in fields:
            raise RpcError(UNAUTHORIZED, {"reason": "deri-hmac-sha256 needs id, ts (ms), sig and nonce"})
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise RpcError(UNAUTHORIZED, {"reason": "body is not UTF-8"}) from None
        data = f"{verb.upper()}\n{target}\n{text}\n"
        return HttpIdentity(client_id=guard.verify(client_id, int(stamp_text), fields.get("nonce", ""), data,
                                                   fields["sig"], UNAUTHORIZED))
    raise RpcError(UNAUTHORIZED, {"reason": "unsupported authorization scheme"})


def _basic(value: str, credentials: dict[str, str]) -> str:
    try:
        client_id, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        client_id, sep, secret = "", "", ""
    expected = credentials.get(client_id) if sep else None
    if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
        raise RpcError(UNAUTHORIZED, {"reason": "invalid credentials"})
    return client_id
