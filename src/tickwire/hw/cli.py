"""`tickwire hw inventory|plan|bind|unbind` (heavy imports stay inside the commands)."""
from __future__ import annotations

import json
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Hardware: inventory, a core plan, DPDK driver binding.", no_args_is_help=True)
console = Console()


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def inventory(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """CPUs (sockets/cores/threads, SMT, NUMA, isolation, governor, C-states), hugepages, NICs, DPDK devices."""
    from tickwire.hw.inventory import inventory as collect

    facts = collect()
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    cpu = facts["cpu"]
    table = Table(title="CPU", show_header=False)
    for key, value in cpu.items():  # type: ignore[union-attr]
        table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    console.print(table)
    huge = Table(title="hugepages")
    for column in ("size", "total", "free"):
        huge.add_column(column)
    for size, counts in facts["hugepages"]["sizes"].items():  # type: ignore[index]
        huge.add_row(size, str(counts["total"]), str(counts["free"]))
    console.print(huge)
    mounts = facts["hugepages"]["mounts"]  # type: ignore[index]
    console.print("hugetlbfs mounts: " + (", ".join(f"{m['path']} ({m['pagesize']})" for m in mounts) or "none"))
    nic_table = Table(title="NICs")
    for column in ("name", "driver", "pci", "numa", "queues rx/tx", "speed", "state", "irqs -> cpus", "offloads"):
        nic_table.add_column(column, overflow="fold")
    for nic in facts["nics"]:  # type: ignore[union-attr]
        nic_table.add_row(nic["name"], nic["driver"], nic["pci"], str(nic["numa_node"] if nic["numa_node"] is not None
                                                                       else "-"),
                          f"{nic['rx_queues']}/{nic['tx_queues']}", f"{nic['speed_mbps'] or '-'}", str(nic["state"]),
                          " ".join(f"{irq}:{aff}" for irq, aff in nic["irqs"].items()),
                          " ".join(f"{k}={v.split()[0]}" for k, v in nic["offloads"].items()))
    console.print(nic_table)
    bound = facts["dpdk_devices"]
    console.print("DPDK-bound devices: " + (", ".join(f"{d['pci']} ({d['driver']})" for d in bound) or "none"))


@app.command()
def plan(nic: str = typer.Option(None, "--nic", help="the trading NIC: rx and engine cores go on its NUMA node"),
         rx_cores: int = typer.Option(1, "--rx-cores", min=1, help="dedicated rx cores"),
         engine_cores: int = typer.Option(1, "--engine-cores", min=1, help="engine cores"),
         as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """A core plan (housekeeping, rx, engine; NUMA-local to the NIC; no shared SMT siblings) as CLI flags and
    Ansible vars."""
    from tickwire.hw.plan import plan_host

    try:
        result = plan_host(nic=nic, rx_cores=rx_cores, engine_cores=engine_cores)
    except ValueError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps({**result.as_dict(), "ansible_vars": result.ansible_vars()}, indent=2))
        return
    typer.echo("# core plan")
    for name in ("housekeeping", "rx", "engine", "isolated", "idle_siblings"):
        typer.echo(f"#   {name:13} {','.join(map(str, getattr(result, name))) or '-'}")
    for note in result.notes:
        typer.echo(f"#   note: {note}")
    typer.echo("# CLI flags")
    typer.echo(result.cli_flags())
    typer.echo("# Ansible vars (group_vars/host_vars)")
    for key, value in result.ansible_vars().items():
        typer.echo(f'{key}: "{value}"')


@app.command()
def bind(bdf: str = typer.Argument(..., help="PCI address, e.g. 0000:03:00.0"),
         driver: str = typer.Option("vfio-pci", "--driver", help="vfio-pci | uio_pci_generic | igb_uio"),
         force: bool = typer.Option(False, "--force", help="bind even if its kernel interface is up")) -> None:
    """Bind a PCI NIC to a DPDK driver via sysfs driver_override (records the original driver for unbind)."""
    from tickwire.hw.bind import BindError, bind as do_bind

    try:
        result = do_bind(bdf, driver, force=force)
    except BindError as exc:
        _fail(str(exc))
    typer.echo(f"{result.pci}: {result.previous or '(no driver)'} -> {result.driver}")


@app.command()
def unbind(bdf: str = typer.Argument(..., help="PCI address"),
           driver: str = typer.Option(None, "--driver", help="driver to bind back (default: the one before bind)")
           ) -> None:
    """Detach a device from its driver, clear driver_override, and re-bind the original kernel driver."""
    from tickwire.hw.bind import BindError, unbind as do_unbind

    try:
        result = do_unbind(bdf, driver)
    except BindError as exc:
        _fail(str(exc))
    typer.echo(f"{result.pci}: {result.previous or '(no driver)'} -> {result.driver or '(no driver)'}")
