"""API credentials and the parameters of Deribit's ``public/auth``.

Where the key pair comes from (:meth:`Credentials.load`): the systemd credentials ``client_id`` and
``client_secret`` in ``$CREDENTIALS_DIRECTORY`` (what the Ansible role delivers), else the environment variables
``TICKWIRE_CLIENT_ID`` / ``TICKWIRE_CLIENT_SECRET``, else a default (the simulator's local keys).

How it is presented (:func:`auth_params`): ``client_signature`` (the default) sends
``hex(HMAC-SHA256(secret, timestamp + "\\n" + nonce + "\\n" + data))`` with a fresh nonce, so the secret never
crosses the wire; ``client_credentials`` sends the secret itself (inside TLS on a real venue). Neither the secret
nor these parameters are ever logged or put into an exception.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

ENV_ID, ENV_SECRET = "TICKWIRE_CLIENT_ID", "TICKWIRE_CLIENT_SECRET"
CRED_ID, CRED_SECRET = "client_id", "client_secret"  # systemd credential names (LoadCredential=NAME:PATH)
_MAX_LEN = 256


class CredentialsError(ValueError):
    """No usable key pair: the message says where it was looked for (never the secret)."""


@dataclass(frozen=True)
class Credentials:
    """API key pair; ``repr``/``str`` never show the secret."""

    client_id: str
    client_secret: str = field(repr=False)

    @classmethod
    def load(cls, default: Credentials | None = None, environ: dict[str, str] | None = None) -> Credentials:
        """From ``$CREDENTIALS_DIRECTORY``, else the environment, else ``default``; CredentialsError otherwise."""
        env = os.environ if environ is None else environ
        found = _from_directory(env.get("CREDENTIALS_DIRECTORY")) or _from_environment(env)
        if found is not None:
            return found
        if default is None:
            raise CredentialsError(f"no API key: set {ENV_ID} and {ENV_SECRET}, or deliver the systemd credentials "
                                   f"{CRED_ID} and {CRED_SECRET} (the Ansible role does)")
        return default

    def __str__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret=***)"


def _checked(client_id: str, secret: str, where: str) -> Credentials:
    for what, value in (("client id", client_id), ("client secret", secret)):
        if not 0 < len(value) <= _MAX_LEN or not value.isprintable() or value.strip() != value:
            raise CredentialsError(f"{where}: the {what} is empty, too long or holds spaces or control characters")
    return Credentials(client_id, secret)


def _from_environment(env: dict[str, str] | os._Environ[str]) -> Credentials | None:
    cid, secret = env.get(ENV_ID), env.get(ENV_SECRET)
    if not cid and not secret:
        return None
    if not cid or not secret:
        missing, present = (ENV_ID, ENV_SECRET) if not cid else (ENV_SECRET, ENV_ID)
        raise CredentialsError(f"{missing} is not set ({present} is): set both")
    return _checked(cid, secret, "environment")


def _from_directory(directory: str | None) -> Credentials | None:
    if not directory:
        return None
    base = Path(directory)
    paths = base / CRED_ID, base / CRED_SECRET
    if not any(p.exists() for p in paths):
        return None
    try:
        cid, secret = (_read_credential(p) for p in paths)
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read the systemd credentials {CRED_ID}/{CRED_SECRET} in {base}: "
                               f"{type(exc).__name__}") from None
    return _checked(cid, secret, f"systemd credentials in {base}")


def _read_credential(path: Path) -> str:
    # one trailing newline is what an editor or `echo` leaves; bounded read: the file is not trusted
    with path.open("rb") as f:
        return f.read(_MAX_LEN + 2).decode().removesuffix("\n")


def signature(secret: str, timestamp_ms: int, nonce: str, data: str = "") -> str:
    """Deribit's client_signature: hex HMAC-SHA256 of ``timestamp\\nnonce\\ndata`` keyed by the client secret."""
    return hmac.new(secret.encode(), f"{timestamp_ms}\n{nonce}\n{data}".encode(), hashlib.sha256).hexdigest()


def auth_params(creds: Credentials, grant: str = "client_signature", scope: str = "") -> dict[str, object]:
    """The params of one ``public/auth`` (a fresh timestamp and nonce for every signed one)."""
    if grant == "client_signature":
        stamp, nonce = time.time_ns() // 1_000_000, secrets.token_hex(8)
        params: dict[str, object] = {"grant_type": grant, "client_id": creds.client_id, "timestamp": stamp,
                                     "nonce": nonce, "data": "",
                                     "signature": signature(creds.client_secret, stamp, nonce)}
    elif grant == "client_credentials":
        params = {"grant_type": grant, "client_id": creds.client_id, "client_secret": creds.client_secret}
    else:
        raise ValueError(f"unknown grant_type {grant!r}")
    if scope:
        params["scope"] = scope
    return params
