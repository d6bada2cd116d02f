"""A core plan: housekeeping, rx and engine cores, NUMA-local to the NIC, never sharing a physical core."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tickwire.hw.sysfs import read_int
from tickwire.hw.cpuset import format_cpulist
from tickwire.hw.topology import Cpu, cpus


@dataclass
class CorePlan:
    """Which CPUs do what. `isolated` = rx + engine cores (and their idle SMT siblings) that are not housekeeping."""

    housekeeping: list[int]
    rx: list[int]
    engine: list[int]
    isolated: list[int]
    idle_siblings: list[int] = field(default_factory=list)
    nic: str | None = None
    nic_node: int | None = None
    notes: list[str] = field(default_factory=list)

    def cli_flags(self) -> str:
        """The plan as command-line flags for `tickwire run` and `tickwire tune`."""
        engine = format_cpulist(self.engine)
        run = (f"tickwire run --cpu {self.engine[0]}  # pins itself (default: this plan's engine CPU); "
               f"or CPUAffinity={engine} in its systemd unit")
        tune = (f"tickwire tune apply --profile latency --housekeeping {format_cpulist(self.housekeeping)} "
                f"--isolated {format_cpulist(self.isolated) or 'none'} --rx {format_cpulist(self.rx)}")
        return f"{run}\n{tune}" + (f" --nic {self.nic}" if self.nic else "")

    def ansible_vars(self) -> dict[str, object]:
        """The plan as the Ansible variables the roles read (group_vars / host_vars)."""
        return {
            "tickwire_housekeeping_cpus": format_cpulist(self.housekeeping),
            "tickwire_isolated_cpus": format_cpulist(self.isolated),
            "tickwire_rx_cpus": format_cpulist(self.rx),
            "tickwire_engine_cpus": format_cpulist(self.engine),
            "tickwire_nic": self.nic or "",
        }

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _physical_cores(topology: list[Cpu]) -> list[tuple[int, ...]]:
    """Physical cores as tuples of their logical CPUs (siblings), ordered by first CPU."""
    cores = {tuple(sorted({c.cpu, *c.siblings})) for c in topology}
    return sorted(cores)


def make_plan(topology: list[Cpu], nic: str | None = None, nic_node: int | None = None,
              rx_cores: int = 1, engine_cores: int = 1) -> CorePlan:
    """Plan cores: the first physical core of each NUMA node keeps the OS (housekeeping); rx then engine cores take
    whole physical cores on the NIC's node (their SMT siblings stay idle); the rest also do housekeeping.
    With too few cores, rx (then engine) shares a housekeeping core, and the plan's notes say so."""
    if not topology:
        raise ValueError("no online CPUs in the topology")
    node_of = {c.cpu: c.node for c in topology}
    cores = _physical_cores(topology)
    nodes = sorted({c.node for c in topology})
    target = nic_node if nic_node in nodes else nodes[0]
    notes: list[str] = []
    if nic_node is not None and nic_node not in nodes:
        notes.append(f"NIC NUMA node {nic_node} has no online CPU; planning on node {target}")
    first_core_of_node = {node: next(core for core in cores if node_of[core[0]] == node) for node in nodes}
    reserved = set(first_core_of_node.values())
    free = [core for core in cores if core not in reserved and node_of[core[0]] == target]
    engine_taken = free[:engine_cores]
    rx_taken = free[len(engine_taken):len(engine_taken) + rx_cores]
    fallback = first_core_of_node[target][0]
    engine = [core[0] for core in engine_taken]
    rx = [core[0] for core in rx_taken]
    if len(engine) < engine_cores:
        notes.append(f"only {len(free)} free physical core(s) on node {target}: "
                     f"engine shares housekeeping CPU {fallback}")
        engine = engine or [fallback]
    if len(rx) < rx_cores:
        notes.append(f"not enough physical cores for a dedicated rx core: rx shares housekeeping CPU {fallback}")
        rx = rx or [fallback]
    idle = sorted(cpu for core in engine_taken + rx_taken for cpu in core[1:])
    isolated = sorted({*engine, *rx, *idle} - set(first_core_of_node[target]))
    housekeeping = sorted(c.cpu for c in topology if c.cpu not in isolated)
    return CorePlan(housekeeping=housekeeping, rx=sorted(rx), engine=sorted(engine), isolated=isolated,
                    idle_siblings=idle, nic=nic, nic_node=nic_node, notes=notes)


def plan_host(nic: str | None = None, root: str = "/", rx_cores: int = 1, engine_cores: int = 1) -> CorePlan:
    """Plan this host's cores (NUMA-local to `nic` when given; ValueError when that NIC does not exist)."""
    from tickwire.hw.sysfs import under

    node = None
    if nic is not None:
        if not under(root, f"/sys/class/net/{nic}").exists():
            raise ValueError(f"no network interface {nic!r} (see `tickwire hw inventory`)")
        numa = read_int(root, f"/sys/class/net/{nic}/device/numa_node")
        node = numa if numa is not None and numa >= 0 else None
    return make_plan(cpus(root), nic=nic, nic_node=node, rx_cores=rx_cores, engine_cores=engine_cores)


@dataclass(frozen=True)
class RunCpus:
    """Where `tickwire run` / `tickwire bench` put their processes: the engine alone on ``engine``, the
    simulator and the capture on ``others`` (the OS shares them)."""

    engine: int
    others: list[int]
    source: str  # "--cpu" (asked for) or "core plan"
    notes: list[str] = field(default_factory=list)


def run_cpus(plan: CorePlan, allowed: list[int], requested: int | None = None) -> RunCpus:
    """The engine's CPU (``requested``, else the plan's first engine CPU that this process may use) and the CPUs
    left for the simulator and everything else. ``allowed``: the CPUs this process may run on. ValueError when
    ``requested`` is not one of them. With a single allowed CPU nothing can be kept apart: the engine and the
    simulator share it, and the notes say so."""
    if not allowed:
        raise ValueError("this process may run on no CPU")
    if requested is not None:
        if requested not in allowed:
            raise ValueError(f"cpu: CPU {requested} is not available to this process (allowed: "
                             f"{format_cpulist(allowed)})")
        engine, source = requested, "--cpu"
    else:
        engine = next((c for c in plan.engine if c in allowed), allowed[-1])
        source = "core plan"
    others = [c for c in allowed if c != engine]
    notes = []
    if not others:
        notes.append(f"one CPU only: the engine and the simulator share CPU {engine}")
        others = [engine]
    elif len(allowed) == 2:
        notes.append(f"2 CPUs: the engine has CPU {engine} to itself; the simulator, the capture and the OS "
                     f"share CPU {format_cpulist(others)}")
    return RunCpus(engine, others, source, notes)
