"""The engine's per-socket options, taken from the catalogue (group `socket`, kind `sockopt`)."""
from __future__ import annotations

import socket
from dataclasses import dataclass

from tickwire.tuning._catalogue import Knob, check_profile, load_catalogue

# (level, optname) on Linux; SO_BUSY_POLL is missing from Python's socket module on some builds (asm-generic: 46).
_OPTIONS: dict[str, tuple[int, int]] = {
    "TCP_NODELAY": (socket.IPPROTO_TCP, socket.TCP_NODELAY),
    "TCP_QUICKACK": (socket.IPPROTO_TCP, getattr(socket, "TCP_QUICKACK", 12)),
    "TCP_NOTSENT_LOWAT": (socket.IPPROTO_TCP, getattr(socket, "TCP_NOTSENT_LOWAT", 25)),
    "SO_BUSY_POLL": (socket.SOL_SOCKET, getattr(socket, "SO_BUSY_POLL", 46)),
    "SO_RCVBUF": (socket.SOL_SOCKET, socket.SO_RCVBUF),
    "SO_SNDBUF": (socket.SOL_SOCKET, socket.SO_SNDBUF),
}
# The kernel doubles these on set (bookkeeping overhead) and reports the doubled value.
_DOUBLED = ("SO_RCVBUF", "SO_SNDBUF")


@dataclass(frozen=True)
class SocketOption:
    """One setsockopt call: option name, level, optname and the integer value."""

    name: str
    level: int
    optname: int
    value: int


def _socket_knobs() -> tuple[Knob, ...]:
    return tuple(knob for knob in load_catalogue() if knob.kind == "sockopt")


def socket_option_specs(profile: str = "latency") -> tuple[SocketOption, ...]:
    """The setsockopt calls for `profile`, in catalogue order, with Linux level/optname numbers."""
    check_profile(profile)
    specs = []
    for knob in _socket_knobs():
        value = knob.wanted(profile)
        if value is not None:
            level, optname = _OPTIONS[knob.key]
            specs.append(SocketOption(knob.key, level, optname, int(value)))  # type: ignore[arg-type]
    return tuple(specs)


def socket_options(profile: str = "latency") -> dict[str, int]:
    """The engine's socket options for `profile` as {name: value}, e.g. {"TCP_NODELAY": 1, "SO_BUSY_POLL": 50, ...}.

    Names: TCP_NODELAY, TCP_QUICKACK (not sticky: re-arm after each receive), SO_BUSY_POLL (us), TCP_NOTSENT_LOWAT,
    SO_RCVBUF, SO_SNDBUF (bytes; setting them turns off autotuning for that socket). A profile that leaves an option
    alone omits it. Raises TuningError for an unknown profile.
    """
    return {spec.name: spec.value for spec in socket_option_specs(profile)}


def apply_socket_options(sock: socket.socket, profile: str = "latency") -> dict[str, int]:
    """Set `profile`'s options on a TCP socket; return what the kernel reports back for each (OSError propagates)."""
    granted = {}
    for spec in socket_option_specs(profile):
        sock.setsockopt(spec.level, spec.optname, spec.value)
        granted[spec.name] = sock.getsockopt(spec.level, spec.optname)
    return granted


def probe(name: str, value: int) -> tuple[str, bool]:
    """Set one option on a fresh TCP socket and report (what the kernel granted, whether it is the full value)."""
    level, optname = _OPTIONS[name]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.setsockopt(level, optname, value)
        except OSError as exc:
            return f"refused: {exc.strerror}", False
        got = sock.getsockopt(level, optname)
    if name in _DOUBLED:
        return str(got // 2), got >= 2 * value
    return str(got), got == value
