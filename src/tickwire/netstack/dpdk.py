"""DPDK from Python: EAL, ports, mempools, and the handles that numba receive/transmit loops use.

The slow path (EAL init, port set-up, link and stats) is plain Python here; the fast path is ``_tw_dpdk``'s
``tw_dpdk_*`` shims called from ``@njit`` code (see ``tickwire.netstack._dpdk_loops``) with integer handles:
``Port.port_id``, ``Mempool.addr`` and uint64 arrays of mbuf addresses.

One EAL per process (DPDK's rule): ``init_eal`` runs once and keeps its argv alive for the life of the process.
Typical use on a virtual device, without hugepages::

    eal = init_eal(EalConfig(vdevs=("net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap",)))
    pool = Mempool.create("rx", 8191)
    port = Port.by_name("net_pcap0")
    port.setup(pool)                       # 1 rx + 1 tx queue, promiscuous, started
    ...                                    # numba loop: lib.tw_dpdk_rx_burst(port.port_id, 0, mbufs.ctypes.data, 32)
    port.close(); eal.cleanup()

Errors say what to do: ``DpdkUnavailableError`` (not installed), ``EalInitError`` (with hugepage advice),
``NoSuchPortError``, ``LinkDownError``; every other failing DPDK call raises ``DpdkError`` with its errno.
"""
from __future__ import annotations

import atexit
import errno as _errno
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tickwire.native import NativeUnavailableError, load

__all__ = [
    "DpdkError", "DpdkUnavailableError", "EalInitError", "NoSuchPortError", "LinkDownError",
    "EalConfig", "Eal", "init_eal", "current_eal", "Mempool", "Port", "PortInfo", "LinkStatus", "PortStats", "dpdk_module",
    "version", "hugepages_reserved", "BatchReceiver",
]


class DpdkError(RuntimeError):
    """A DPDK call failed; ``errno`` is the positive error number DPDK returned."""

    def __init__(self, message: str, errno: int = 0) -> None:
        super().__init__(message)
        self.errno = errno


class DpdkUnavailableError(NativeUnavailableError):
    """``_tw_dpdk`` was not built on this host (DPDK's development files were missing at install)."""


class EalInitError(DpdkError):
    """rte_eal_init failed; the message carries the EAL arguments and what to try."""


class NoSuchPortError(DpdkError):
    """No ethdev port with that id or name (a --vdev that was not given, or that failed to probe)."""


class LinkDownError(DpdkError):
    """The port's link stayed down for the whole wait."""


def dpdk_module() -> ModuleType:
    """The registered ``_tw_dpdk`` module, or DpdkUnavailableError saying how to get it."""
    try:
        return load("_tw_dpdk")
    except NativeUnavailableError as exc:
        raise DpdkUnavailableError(str(exc)) from exc


def version() -> str:
    """The DPDK version string the module was built against, e.g. ``DPDK 22.11.11``."""
    mod = dpdk_module()
    return mod.ffi.string(mod.lib.tw_dpdk_version()).decode()


def hugepages_reserved() -> int:
    """Total hugepages reserved on this host (any size), from /proc/meminfo."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("HugePages_Total:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _strerror(err: int) -> str:
    mod = dpdk_module()
    return mod.ffi.string(mod.lib.tw_dpdk_strerror(err)).decode(errors="replace")


def _check(rc: int, what: str, exc: type[DpdkError] = DpdkError) -> int:
    if rc < 0:
        raise exc(f"{what} failed: {_strerror(-rc)} (errno {-rc})", -rc)
    return rc


# --- EAL --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EalConfig:
    """Arguments for rte_eal_init. The defaults run anywhere: no hugepages, no PCI, no shared runtime files.

    cores: the -l core list ("0", "2-3"). memory_mb: -m. no_huge: --no-huge (anonymous memory instead of
    hugepages). in_memory: --in-memory (no runtime files; needs hugepages in 22.11). no_shconf: --no-shconf (no
    shared config files; works with --no-huge). file_prefix: --file-prefix (names /var/run/dpdk/<prefix>).
    vdevs: --vdev strings such as ``net_null0`` or ``net_pcap0,rx_pcap=a.pcap``. pci_allow: -a PCI addresses;
    empty means --no-pci. telemetry: keep DPDK's telemetry socket (off: --no-telemetry, no runtime file left).
    log_level: --log-level. extra: anything else, appended verbatim.
    """

    cores: str = "0"
    memory_mb: int = 256
    no_huge: bool = True
    in_memory: bool = False
    no_shconf: bool = True
    file_prefix: str | None = None
    vdevs: tuple[str, ...] = ()
    pci_allow: tuple[str, ...] = ()
    telemetry: bool = False
    log_level: str = "error"
    extra: tuple[str, ...] = field(default_factory=tuple)

    def argv(self, program: str = "tickwire") -> list[str]:
        """The argv rte_eal_init receives; raises ValueError on combinations 22.11 rejects."""
        if self.in_memory and self.no_huge:
            raise ValueError("DPDK 22.11 rejects --in-memory with --no-huge (it implies --legacy-mem): "
                             "use no_shconf=True or a file_prefix instead")
        if self.memory_mb <= 0:
            raise ValueError(f"memory_mb must be positive, got {self.memory_mb}")
        args = [program, "-l", self.cores, "-m", str(self.memory_mb), f"--log-level={self.log_level}"]
        if self.no_huge:
            args.append("--no-huge")
        if self.in_memory:
            args.append("--in-memory")
        if self.no_shconf:
            args.append("--no-shconf")
        if self.file_prefix:
            args.append(f"--file-prefix={self.file_prefix}")
        if not self.telemetry:
            args.append("--no-telemetry")
        for vdev in self.vdevs:
            args += ["--vdev", vdev]
        if self.pci_allow:
            for pci in self.pci_allow:
                args += ["-a", pci]
        else:
            args.append("--no-pci")
        args += list(self.extra)
        return args


_EAL_ERRNO_HINTS = {
    _errno.EALREADY: "the EAL is already initialised in this process; DPDK allows one EAL per process "
                     "(run a second one in a subprocess)",
    _errno.EACCES: "permission denied: DPDK needs root (or CAP_SYS_ADMIN/CAP_IPC_LOCK and access to /dev/hugepages)",
    _errno.EINVAL: "invalid EAL arguments (see the argv above)",
    _errno.EPROTO: "the EAL could not read its runtime configuration; try a distinct file_prefix or no_shconf=True",
    _errno.ENOEXEC: "a device or plug-in failed to probe: check each --vdev name and arguments "
                    "(interface exists for net_af_packet, pcap file readable for net_pcap)",
    _errno.ENODEV: "a bus or device failed to probe: check each --vdev and -a argument",
}


class Eal:
    """The process's initialised EAL. Create it with ``init_eal``; ``cleanup()`` releases DPDK memory."""

    def __init__(self, config: EalConfig, argv: list[str], keepalive: list[Any]) -> None:
        self.config = config
        self.argv = argv
        self._keepalive = keepalive  # rte_eal_init keeps pointers into these C strings

    def cleanup(self) -> None:
        """rte_eal_cleanup (idempotent), then remove the runtime directory if the EAL left it empty.
        The process cannot init the EAL again afterwards. Also runs at interpreter exit."""
        dpdk_module().lib.tw_dpdk_eal_cleanup()
        _remove_empty_runtime_dir(self.config)


def _remove_empty_runtime_dir(config: EalConfig) -> None:
    """Remove /var/run/dpdk/<prefix> (and /var/run/dpdk) when empty: never another process's files."""
    for path in (_RUNTIME_DIR / (config.file_prefix or "rte"), _RUNTIME_DIR):
        try:
            path.rmdir()
        except OSError:
            break


_EAL: Eal | None = None
_RUNTIME_DIR = Path("/var/run/dpdk")


def current_eal() -> Eal | None:
    """The EAL this process initialised, or None."""
    return _EAL


def init_eal(config: EalConfig | None = None) -> Eal:
    """Initialise the EAL once for this process; a second call with the same config returns the same Eal."""
    global _EAL
    config = config or EalConfig()
    mod = dpdk_module()
    if _EAL is not None:
        if _EAL.config != config:
            raise EalInitError("the EAL is already initialised in this process with another config; "
                               "DPDK allows one EAL per process (run the second one in a subprocess)", _errno.EALREADY)
        return _EAL
    argv = config.argv()
    c_args = [mod.ffi.new("char[]", a.encode()) for a in argv]
    c_argv = mod.ffi.new("char *[]", c_args + [mod.ffi.NULL])
    rc = mod.lib.tw_dpdk_eal_init(len(argv), c_argv)
    if rc < 0:
        _remove_empty_runtime_dir(config)
        raise EalInitError(_eal_failure_message(config, argv, -rc), -rc)
    _EAL = Eal(config, argv, [c_args, c_argv])
    atexit.register(_EAL.cleanup)
    return _EAL


def _eal_failure_message(config: EalConfig, argv: list[str], err: int) -> str:
    hints = []
    root = os.geteuid() == 0
    if err in _EAL_ERRNO_HINTS and not (err == _errno.EACCES and root):
        hints.append(_EAL_ERRNO_HINTS[err])
    if not config.no_huge and hugepages_reserved() == 0:
        hints.insert(0, "no hugepages are reserved: reserve some "
                     "(echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages; mount -t hugetlbfs "
                     "nodev /dev/hugepages) or run without them (EalConfig(no_huge=True), i.e. --no-huge)")
    if not root:
        hints.append("not running as root: DPDK usually needs root")
    if not hints:
        hints.append("the EAL's own log lines above (stderr) name the failing step; raise log_level to 'debug' "
                     "for more")
    return f"rte_eal_init failed: {_strerror(err)} (errno {err}); argv: {' '.join(argv)}. " + "; ".join(hints)


# --- mempools ---------------------------------------------------------------------------------------------

@dataclass
class Mempool:
    """A packet-mbuf pool; ``addr`` is the handle numba code passes to tw_dpdk_mbuf_alloc / tx_copy."""

    name: str
    addr: int
    size: int

    @classmethod
    def create(cls, name: str, n: int = 8191, cache: int = 256, data_room: int = 2048 + 128,
               socket_id: int = -1) -> Mempool:
        """rte_pktmbuf_pool_create; n (best 2**k - 1) mbufs of data_room bytes (including the 128-byte headroom)."""
        mod = dpdk_module()
        _require_eal()
        if not 0 < n < 2**32 or not 0 <= cache <= 512 or not 128 < data_room < 2**16:
            raise ValueError(f"mempool {name!r}: need 0 < n, cache <= 512, 128 < data_room < 65536 "
                             f"(got n={n}, cache={cache}, data_room={data_room})")
        addr = mod.lib.tw_dpdk_mempool_create(name.encode(), n, cache, data_room, socket_id)
        if addr == 0:
            err = mod.lib.tw_dpdk_errno()
            raise DpdkError(f"mempool {name!r} ({n} x {data_room} B) could not be created: {_strerror(err)}; "
                            "with --no-huge raise EalConfig.memory_mb, or use fewer mbufs", err)
        return cls(name, addr, n)

    @property
    def available(self) -> int:
        """Free mbufs in the pool."""
        return int(dpdk_module().lib.tw_dpdk_mempool_avail(self.addr))

    @property
    def in_use(self) -> int:
        """Mbufs currently allocated (held by the PMD's rings or by the application)."""
        return int(dpdk_module().lib.tw_dpdk_mempool_in_use(self.addr))

    @property
    def data_room(self) -> int:
        """Largest packet one mbuf holds (data room minus headroom)."""
        return int(dpdk_module().lib.tw_dpdk_mempool_data_room(self.addr))

    def free(self) -> None:
        """Release the pool (every mbuf must be back; stop the ports using it first)."""
        if self.addr:
            dpdk_module().lib.tw_dpdk_mempool_free(self.addr)
            self.addr = 0


def _require_eal() -> None:
    if not dpdk_module().lib.tw_dpdk_eal_ready():
        raise DpdkError("the EAL is not initialised: call tickwire.netstack.dpdk.init_eal() first")


# --- ports ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PortInfo:
    """What rte_eth_dev_info_get says about a port."""

    port_id: int
    name: str
    driver: str
    mac: str
    if_index: int
    min_mtu: int
    max_mtu: int
    max_rx_pktlen: int
    max_rx_queues: int
    max_tx_queues: int
    rx_desc: tuple[int, int]
    tx_desc: tuple[int, int]
    socket_id: int
    rx_timestamp_capable: bool


@dataclass(frozen=True)
class LinkStatus:
    """rte_eth_link_get: carrier, speed (Mb/s), duplex, autonegotiation."""

    up: bool
    speed_mbps: int
    full_duplex: bool
    autoneg: bool


@dataclass(frozen=True)
class PortStats:
    """rte_eth_stats_get counters (imissed: dropped by the device for lack of rx descriptors)."""

    ipackets: int
    opackets: int
    ibytes: int
    obytes: int
    imissed: int
    ierrors: int
    oerrors: int
    rx_nombuf: int


_RX_OFFLOAD_TIMESTAMP = 1 << 14  # RTE_ETH_RX_OFFLOAD_TIMESTAMP in 22.11


class Port:
    """One ethdev port. ``port_id`` is the integer the numba loops pass to tw_dpdk_rx_burst/tx_burst."""

    def __init__(self, port_id: int) -> None:
        _require_eal()
        lib = dpdk_module().lib
        if not 0 <= port_id < 2**16 or not lib.tw_dpdk_port_valid(port_id):
            raise NoSuchPortError(f"no DPDK port {port_id}; ports: {_port_names()}", _errno.ENODEV)
        self.port_id = port_id
        self.started = False
        self.vdev_name: str | None = None

    @classmethod
    def by_name(cls, name: str) -> Port:
        """The port of a device name such as ``net_null0`` or a PCI address."""
        _require_eal()
        rc = dpdk_module().lib.tw_dpdk_port_by_name(name.encode())
        if rc < 0:
            raise NoSuchPortError(f"no DPDK port named {name!r}; ports: {_port_names()}. A virtual device must be "
                                  f"given to the EAL (EalConfig(vdevs=('{name},...',))) and probe successfully",
                                  -rc)
        return cls(rc)

    @classmethod
    def attach(cls, devargs: str) -> Port:
        """Hot-plug a virtual device into the running EAL (``net_pcap7,rx_pcap=a.pcap``); ``detach()`` removes it.

        This is how one process opens several vdevs over its life despite the one-EAL rule."""
        _require_eal()
        name, _, args = devargs.partition(",")
        rc = dpdk_module().lib.tw_dpdk_vdev_attach(name.encode(), args.encode())
        if rc < 0:
            raise NoSuchPortError(f"could not attach virtual device {devargs!r}: {_strerror(-rc)}; check the driver "
                                  "name and its arguments (files readable, interfaces present)", -rc)
        port = cls.by_name(name)
        port.vdev_name = name
        return port

    def detach(self) -> None:
        """Close the port and remove the virtual device ``attach`` created."""
        self.close()
        name = self.vdev_name
        if name is None:
            raise DpdkError(f"port {self.port_id} was not attached with Port.attach: nothing to detach")
        _check(dpdk_module().lib.tw_dpdk_vdev_detach(name.encode()), f"detach {name}")

    def info(self) -> PortInfo:
        """Name, driver, MAC, MTU range, queue and descriptor limits."""
        mod = dpdk_module()
        out = mod.ffi.new("tw_dpdk_port_info *")
        _check(mod.lib.tw_dpdk_port_info_get(self.port_id, out), f"port {self.port_id} info")
        return PortInfo(
            port_id=self.port_id,
            name=mod.ffi.string(out.name).decode(),
            driver=mod.ffi.string(out.driver).decode(),
            mac=":".join(f"{b:02x}" for b in out.mac),
            if_index=out.if_index, min_mtu=out.min_mtu, max_mtu=out.max_mtu, max_rx_pktlen=out.max_rx_pktlen,
            max_rx_queues=out.max_rx_queues, max_tx_queues=out.max_tx_queues,
            rx_desc=(out.rx_desc_min, out.rx_desc_max), tx_desc=(out.tx_desc_min, out.tx_desc_max),
            socket_id=out.socket_id, rx_timestamp_capable=bool(out.rx_offload_capa & _RX_OFFLOAD_TIMESTAMP),
        )

    def configure(self, pool: Mempool, rx_queues: int = 1, tx_queues: int = 1, rx_desc: int = 1024,
                  tx_desc: int = 1024, rx_timestamp: bool = False) -> tuple[int, int]:
        """Configure queues and descriptor rings (adjusted to the device's limits); returns (rx_desc, tx_desc).

        rx_timestamp asks the PMD to stamp each mbuf (net_pcap stamps the capture time); it is only requested
        when the device advertises it.
        """
        mod = dpdk_module()
        lib, ffi = mod.lib, mod.ffi
        info = self.info()
        if not 1 <= rx_queues <= max(info.max_rx_queues, 1) or not 0 <= tx_queues <= max(info.max_tx_queues, 1):
            raise ValueError(f"port {info.name}: {rx_queues} rx / {tx_queues} tx queues requested, device allows "
                             f"{info.max_rx_queues} / {info.max_tx_queues}")
        stamp = int(rx_timestamp and info.rx_timestamp_capable)
        _check(lib.tw_dpdk_port_configure(self.port_id, rx_queues, tx_queues, stamp), f"configure {info.name}")
        nb_rx, nb_tx = ffi.new("uint16_t *", rx_desc), ffi.new("uint16_t *", tx_desc)
        _check(lib.tw_dpdk_adjust_desc(self.port_id, nb_rx, nb_tx), f"adjust descriptors of {info.name}")
        for q in range(rx_queues):
            _check(lib.tw_dpdk_rx_queue_setup(self.port_id, q, nb_rx[0], pool.addr), f"{info.name} rx queue {q}")
        for q in range(tx_queues):
            _check(lib.tw_dpdk_tx_queue_setup(self.port_id, q, nb_tx[0]), f"{info.name} tx queue {q}")
        return int(nb_rx[0]), int(nb_tx[0])

    def start(self) -> None:
        """rte_eth_dev_start (after configure)."""
        _check(dpdk_module().lib.tw_dpdk_port_start(self.port_id), f"start port {self.port_id}")
        self.started = True

    def stop(self) -> None:
        """rte_eth_dev_stop, when started."""
        if self.started:
            _check(dpdk_module().lib.tw_dpdk_port_stop(self.port_id), f"stop port {self.port_id}")
            self.started = False

    def close(self) -> None:
        """Stop and release the port (its mbufs go back to their pool)."""
        self.stop()
        _check(dpdk_module().lib.tw_dpdk_port_close(self.port_id), f"close port {self.port_id}")

    def setup(self, pool: Mempool, promiscuous: bool = True, rx_timestamp: bool = False,
              mtu: int | None = None, **queues: int) -> None:
        """configure + optional MTU + start + promiscuous: the common case in one call."""
        self.configure(pool, rx_timestamp=rx_timestamp, **queues)
        if mtu is not None:
            self.mtu = mtu
        self.start()
        self.promiscuous = promiscuous

    @property
    def promiscuous(self) -> bool:
        """Whether the port accepts frames for any MAC (setting it raises DpdkError where the PMD cannot)."""
        return dpdk_module().lib.tw_dpdk_promiscuous_get(self.port_id) == 1

    @promiscuous.setter
    def promiscuous(self, on: bool) -> None:
        _check(dpdk_module().lib.tw_dpdk_promiscuous_set(self.port_id, int(on)),
               f"promiscuous {'on' if on else 'off'} on port {self.port_id}")

    def allmulticast(self, on: bool = True) -> None:
        """Receive every multicast group (not needed in promiscuous mode)."""
        _check(dpdk_module().lib.tw_dpdk_allmulticast_set(self.port_id, int(on)), f"allmulticast on {self.port_id}")

    @property
    def mtu(self) -> int:
        """The port's MTU (setting it checks the device's range first)."""
        return _check(dpdk_module().lib.tw_dpdk_mtu_get(self.port_id), f"MTU of port {self.port_id}")

    @mtu.setter
    def mtu(self, value: int) -> None:
        info = self.info()
        if not info.min_mtu <= value <= info.max_mtu:
            raise ValueError(f"MTU {value} outside {info.name}'s range {info.min_mtu}..{info.max_mtu}")
        _check(dpdk_module().lib.tw_dpdk_mtu_set(self.port_id, value), f"set MTU {value} on {info.name}")

    def link(self, wait: bool = False) -> LinkStatus:
        """Link state now (wait=True lets the PMD take up to 9 s to settle, as rte_eth_link_get does)."""
        mod = dpdk_module()
        out = mod.ffi.new("tw_dpdk_link *")
        _check(mod.lib.tw_dpdk_link_get(self.port_id, int(wait), out), f"link of port {self.port_id}")
        return LinkStatus(bool(out.up), int(out.speed_mbps), bool(out.full_duplex), bool(out.autoneg))

    def wait_link_up(self, timeout_s: float = 5.0) -> LinkStatus:
        """Poll until the link is up, or raise LinkDownError with what to check."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.link()
            if status.up:
                return status
            if time.monotonic() >= deadline:
                info = self.info()
                raise LinkDownError(f"link of {info.name} ({info.driver}) still down after {timeout_s:.1f} s: "
                                    "check the cable/peer, or for net_af_packet/net_tap that the interface and "
                                    "its peer are up (ip link set <dev> up)", _errno.ENETDOWN)
            time.sleep(0.05)

    def stats(self) -> PortStats:
        """The port's basic counters."""
        mod = dpdk_module()
        out = mod.ffi.new("tw_dpdk_stats *")
        _check(mod.lib.tw_dpdk_stats_get(self.port_id, out), f"stats of port {self.port_id}")
        return PortStats(out.ipackets, out.opackets, out.ibytes, out.obytes, out.imissed, out.ierrors,
                         out.oerrors, out.rx_nombuf)

    def reset_stats(self) -> None:
        """Zero the port's counters."""
        _check(dpdk_module().lib.tw_dpdk_stats_reset(self.port_id), f"reset stats of port {self.port_id}")


def _port_names() -> str:
    mod = dpdk_module()
    names = []
    out = mod.ffi.new("tw_dpdk_port_info *")
    for port in range(64):
        if mod.lib.tw_dpdk_port_valid(port) and mod.lib.tw_dpdk_port_info_get(port, out) == 0:
            names.append(f"{port}={mod.ffi.string(out.name).decode()}")
    return ", ".join(names) or "none"


# --- packet batches -----------------------------------------------------------------------------------------

_TS_MULT = {"net_pcap": 1000}  # PMD timestamp unit -> ns (net_pcap in 22.11 stamps microseconds)


class BatchReceiver:
    """Receives one port queue into a preallocated packet batch: ``buf`` (bytes), ``offsets`` (int64),
    ``lengths`` (int32), ``stamps`` (int64 ns; the PMD's capture time where it gives one, else receive time).

    ``fill()`` overwrites the batch and returns its packet count; a packet that does not fit waits for the next
    fill. The arrays are reused: consume them before the next fill. A spin loop in numba calls
    ``_dpdk_loops.rx_into_batch`` on these same arrays instead.
    """

    def __init__(self, port: Port, queue: int = 0, max_packets: int = 1024, buf_bytes: int = 1 << 20,
                 burst: int = 32) -> None:
        import numpy as np

        if not 0 < burst <= max_packets or buf_bytes < 2048:
            raise ValueError(f"need 0 < burst <= max_packets and buf_bytes >= 2048 (got burst={burst}, "
                             f"max_packets={max_packets}, buf_bytes={buf_bytes})")
        self.port, self.queue, self.burst = port, queue, burst
        self.ts_mult = _TS_MULT.get(port.info().driver, 1)
        self.mbufs = np.zeros(burst, np.uint64)
        self.state = np.zeros(4, np.uint64)
        self.buf = np.zeros(buf_bytes, np.uint8)
        self.offsets = np.zeros(max_packets, np.int64)
        self.lengths = np.zeros(max_packets, np.int32)
        self.stamps = np.zeros(max_packets, np.int64)

    def fill(self, max_idle_polls: int = 1) -> int:
        """Receive until the batch is full or the queue stayed empty for max_idle_polls polls in a row."""
        from tickwire.netstack._dpdk_loops import rx_into_batch

        self.state[1] = 0
        return int(rx_into_batch(self.port.port_id, self.queue, self.mbufs, self.burst, self.state, self.buf,
                                 self.offsets, self.lengths, self.stamps, 0, self.offsets.size, self.ts_mult,
                                 max_idle_polls))

    @property
    def pending(self) -> int:
        """Packets received but held back because the last batch was full."""
        return int(self.state[0])

    @property
    def dropped_oversize(self) -> int:
        """Packets larger than the whole buffer (dropped and counted, never truncated)."""
        return int(self.state[2])

    def release(self) -> None:
        """Free held-back mbufs (call before closing the port)."""
        if self.state[0]:
            mod = dpdk_module()
            mod.lib.tw_dpdk_free_bulk(mod.ffi.cast("void *", self.mbufs.ctypes.data), int(self.state[0]))
            self.state[0] = 0
