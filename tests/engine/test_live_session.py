"""The Deribit session against the real simulator, plaintext and ``--tls`` (OpenSSL on our side): signed auth
accepted, a wrong secret refused at once with the venue's code, the token refreshed before it expires, a
certificate that does not verify fatal (no retry loop), a URL that does not answer named in the error."""
from __future__ import annotations

import asyncio
import socket

import orjson
import pytest

from tickwire.config import SessionConfig
from tickwire.deribit import venue as venues
from tickwire.deribit.auth import Credentials, auth_params, signature
from tickwire.deribit.errors import INVALID_CREDENTIALS, UNAUTHORIZED
from tickwire.deribit.session import DeribitSession, VenueError
from tickwire.deribit.transport import CertificateError
from tickwire.netstack import ws

pytestmark = pytest.mark.timeout(300)


class Handler:
    """The engine's part for a bare session: deframe the venue's bytes, give every message to the session."""

    def __init__(self) -> None:
        self.deframer = ws.Deframer(mask=ws.MASK_NO)
        self.session: DeribitSession | None = None
        self.lost: list[str] = []

    def on_bytes(self, data: bytes, tsc: int) -> None:
        for opcode, payload in self.deframer.feed(data):
            if opcode == ws.OP_TEXT and self.session is not None:
                self.session.on_message(orjson.loads(payload))

    async def on_ready(self, session: DeribitSession) -> None:
        """Nothing to reconcile: no orders."""

    def on_lost(self, reason: str) -> None:
        self.lost.append(reason)
        self.deframer = ws.Deframer(mask=ws.MASK_NO)


@pytest.fixture(scope="module", params=["plain", "tls"])
def sim(request):
    v = venues.start_sim(rate=5.0, tls=request.param == "tls", extra=("--token-ttl", "2"))
    yield v
    v.close()


def _session(venue: venues.Venue, creds: Credentials, **cfg) -> tuple[DeribitSession, Handler]:
    handler = Handler()
    session = DeribitSession(venue.url, creds, ["user.portfolio.btc"], handler,
                             SessionConfig(cafile=venue.cafile, **cfg))
    handler.session = session
    return session, handler


def test_signed_auth_never_sends_the_secret():
    creds = Credentials("AbCd", "s3cret-value")
    params = auth_params(creds, "client_signature", "session:tw trade:read_write")
    assert "s3cret-value" not in orjson.dumps(params).decode()
    assert params["signature"] == signature("s3cret-value", params["timestamp"], params["nonce"])
    assert params["scope"] == "session:tw trade:read_write"
    assert auth_params(creds)["nonce"] != params["nonce"]  # a fresh nonce every time


def test_signed_auth_ready_then_token_refreshed_before_it_expires(sim):
    async def main():
        session, handler = _session(sim, sim.creds)
        session.start()
        try:
            await session.wait_ready(30)
            assert "trade:read_write" in session.scope
            assert session.transport.tls.startswith("TLSv1") == sim.url.startswith("wss:")
            # tokens live 2 s: refreshed at 80 %, so private calls keep working well past the first expiry
            deadline = asyncio.get_running_loop().time() + 60
            while session.refreshes < 3:
                assert asyncio.get_running_loop().time() < deadline, "token not refreshed"
                await asyncio.sleep(0.1)
            positions = await session.request("private/get_positions", {"currency": "BTC", "kind": "future"})
            assert isinstance(positions, list)
            assert session.reconnects == 0 and not handler.lost
        finally:
            await session.stop()

    asyncio.run(main())


@pytest.mark.parametrize("grant", ["client_signature", "client_credentials"])
def test_wrong_secret_is_refused_at_once_with_the_venues_code(sim, grant):
    async def main():
        session, _ = _session(sim, Credentials(sim.creds.client_id, "not-the-secret"), auth=grant)
        session.start()
        try:
            with pytest.raises(VenueError) as info:
                await session.wait_ready(30)
        finally:
            await session.stop()
        assert info.value.code == INVALID_CREDENTIALS and info.value.method == "public/auth"
        assert "not-the-secret" not in str(info.value)

    asyncio.run(main())


def test_certificate_that_does_not_verify_is_fatal():
    venue = venues.start_sim(rate=5.0, tls=True)
    try:
        venue.cafile = ""  # trust only the system CA store, which does not know the simulator's certificate

        async def main():
            session, _ = _session(venue, venue.creds)
            session.start()
            try:
                with pytest.raises(CertificateError, match="self-signed certificate.*--cafile"):
                    await session.wait_ready(30)  # fatal at once, not a 30 s retry loop
            finally:
                await session.stop()
            assert session.reconnects == 0

        asyncio.run(main())
    finally:
        venue.close()


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_url_that_does_not_answer_is_named_in_the_error(scheme):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    venue = venues.remote("sim", f"{scheme}://127.0.0.1:{port}/ws/api/v2")

    async def main():
        session, _ = _session(venue, Credentials("id", "secret-xyz"), ready_timeout_s=1.0, reconnect_min_ms=50)
        session.start()
        try:
            with pytest.raises(asyncio.TimeoutError, match=f"cannot connect to {scheme}://127.0.0.1:{port}"):
                await session.wait_ready(1.5)
        finally:
            await session.stop()

    asyncio.run(main())


def test_expired_token_reconnects_and_authenticates_again(sim):
    """A refresh that never happened (as after a stall longer than the token's life): the venue answers 13009,
    the session reconnects with a new signature and serves private calls again."""
    async def main():
        session, handler = _session(sim, sim.creds, reconnect_min_ms=50)
        session.start()
        try:
            await session.wait_ready(30)
            session._refresh_task.cancel()  # the missed refresh
            await asyncio.sleep(2.5)  # tokens live 2 s
            with pytest.raises(VenueError) as info:
                await session.request("private/get_positions", {"currency": "BTC", "kind": "future"})
            assert info.value.code == UNAUTHORIZED
            deadline = asyncio.get_running_loop().time() + 30
            while not (session.ready.is_set() and session.reconnects == 1):
                assert asyncio.get_running_loop().time() < deadline, "no new session after the expired token"
                await asyncio.sleep(0.05)
            assert isinstance(await session.request("private/get_positions", {"currency": "BTC", "kind": "future"}),
                              list)
            assert handler.lost == ["disconnect"]
        finally:
            await session.stop()

    asyncio.run(main())


def test_failed_tls_session_is_never_written_by_the_hot_path(sim):
    """When OpenSSL fails, the session is freed at once: the hot path's handle must be withdrawn in the same step,
    not when connection_lost arrives later from the event loop."""
    from tickwire.deribit.transport import WsTransport
    from tickwire.netstack.tls import TlsError

    async def main():
        lost: list[Exception | None] = []
        t = await WsTransport.open(sim.url, lambda data, tsc: None, lost.append, cafile=sim.cafile)
        try:
            assert t.can_send_direct() and t.direct_fd >= 0
            if t._tls is None:
                return  # plaintext: the kernel socket outlives a failure until close
            t._tls._shutdown(TlsError("TLS read failed: EPROTO"))  # what a failed SSL_read does
            assert not t.can_send_direct()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert len(lost) == 1 and isinstance(lost[0], TlsError) and t.direct_fd == -1
        finally:
            t.close()

    asyncio.run(main())


def test_the_simulator_checks_our_signature_and_refuses_a_replay_or_a_stale_one(sim):
    """Both sides of client_signature agree: our fresh signature passes, the same one again (a replayed nonce),
    one signed an hour ago and one made with another secret are refused with invalid_credentials."""
    async def main():
        session, _ = _session(sim, sim.creds)
        session.start()
        try:
            await session.wait_ready(30)
            params = auth_params(sim.creds)
            assert "access_token" in await session.request("public/auth", params)
            stale = auth_params(sim.creds)
            stale["timestamp"] = int(stale["timestamp"]) - 3_600_000
            stale["signature"] = signature(sim.creds.client_secret, stale["timestamp"], str(stale["nonce"]))
            forged = auth_params(Credentials(sim.creds.client_id, "another-secret"))
            for bad in (params, stale, forged):
                with pytest.raises(VenueError) as info:
                    await session.request("public/auth", bad)
                assert info.value.code == INVALID_CREDENTIALS
        finally:
            await session.stop()

    asyncio.run(main())
