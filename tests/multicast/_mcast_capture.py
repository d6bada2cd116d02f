"""Where the real Deribit multicast capture lives (a module of its own: test files import it by a unique name,
since `conftest` is ambiguous when the whole suite runs)."""
from __future__ import annotations

from pathlib import Path

CAPTURE = Path(__file__).resolve().parents[1] / "data" / "deribit-multicast" / "sample_capture_v1_6.pcapng"
