"""Hardware facts and setup: inventory (CPUs, NUMA, NICs, IRQs, hugepages), a core plan, DPDK driver binding."""
