"""Shared start-up of the DPDK child processes: arguments in, one EAL, a JSON result line out."""
from __future__ import annotations

import json
import sys
from typing import Any

from tickwire.netstack.dpdk import Eal, EalConfig, init_eal


def args() -> dict[str, Any]:
    """The JSON object the parent passed as argv[1]."""
    return json.loads(sys.argv[1])


def eal(a: dict[str, Any], vdevs: list[str], **config: Any) -> Eal:
    """Initialise this process's EAL with the parent's file prefix (so the parent can remove its files)."""
    return init_eal(EalConfig(vdevs=tuple(vdevs), file_prefix=a["prefix"], **config))


def emit(obj: Any) -> None:
    """Print the result line the parent parses (the last line of stdout)."""
    print(json.dumps(obj), flush=True)
