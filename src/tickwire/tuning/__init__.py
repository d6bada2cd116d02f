"""Host tuning: one catalogue of knobs (catalogue.toml) behind `tickwire tune audit|apply|rollback` and the
Ansible roles, plus the engine's socket options.

Public API:
- `socket_options(profile="latency") -> dict[str, int]`: the per-socket options the engine sets.
- `socket_option_specs(profile)`: the same as (name, level, optname, value) for raw setsockopt / cffi shims.
- `apply_socket_options(sock, profile)`: set them on a Python socket, returns what the kernel granted.
- `load_catalogue()`, `Knob`, `TuningError`, `PROFILES`.
"""
from __future__ import annotations

from tickwire.tuning._catalogue import PROFILES, Knob, TuningError, load_catalogue
from tickwire.tuning._sockets import SocketOption, apply_socket_options, socket_option_specs, socket_options

__all__ = [
    "PROFILES", "Knob", "SocketOption", "TuningError", "apply_socket_options", "load_catalogue",
    "socket_option_specs", "socket_options",
]
