"""The stack's compiled functions run without numba's runtime (``_nrt=False``): with it every call between them
reference-counts the state's 18 arrays (the poll that received a segment took 6.8 us instead of 1.5 us), and
without it an allocation cannot creep into the hot path (it fails to compile)."""
from __future__ import annotations

import pytest
from numba.core.registry import CPUDispatcher

from tickwire.netstack import _dpdk_loops, utcp, utcp_arp, utcp_ip, utcp_stack, utcp_tcp, utcp_tcp_in, utcp_tcp_out

MODULES = [utcp, utcp_arp, utcp_ip, utcp_stack, utcp_tcp, utcp_tcp_in, utcp_tcp_out]


def _compiled(module: object) -> dict[str, CPUDispatcher]:
    return {name: f for name, f in vars(module).items()
            if isinstance(f, CPUDispatcher) and f.py_func.__module__ == module.__name__}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_kernel_of_the_stack_compiles_without_the_runtime(module: object) -> None:
    kernels = _compiled(module)
    assert kernels, f"no compiled function found in {module.__name__}"
    with_runtime = sorted(name for name, f in kernels.items() if f.targetoptions.get("_nrt", True))
    assert with_runtime == []


def test_the_port_loop_helpers_the_stack_calls_too() -> None:
    for f in (_dpdk_loops.rx_into_batch, _dpdk_loops.tx_batch):
        assert f.targetoptions.get("_nrt") is False, f.__name__
