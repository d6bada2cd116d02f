"""What catalogue placeholders stand for on this host: the core plan, the NIC and its IRQs."""
from __future__ import annotations

from dataclasses import dataclass, field

from tickwire.hw.sysfs import under
from tickwire.hw.cpuset import format_cpulist, format_cpumask, parse_cpulist
from tickwire.hw.nics import nic_irqs
from tickwire.hw.plan import plan_host
from tickwire.tuning._catalogue import TuningError


@dataclass(frozen=True)
class Context:
    """Cores, NIC and filesystem root that placeholders in knob keys and values resolve against."""

    housekeeping: tuple[int, ...]
    isolated: tuple[int, ...]
    rx: tuple[int, ...]
    nic: str | None = None
    root: str = "/"
    nic_irqs: tuple[int, ...] = field(default=())
    other_irqs: tuple[int, ...] = field(default=())

    def scalars(self) -> dict[str, str]:
        """Placeholder -> text; a placeholder that cannot be filled on this host is absent."""
        values = {"housekeeping": format_cpulist(self.housekeeping),
                  "housekeeping_mask": format_cpumask(self.housekeeping),
                  "rx": format_cpulist(self.rx)}
        if self.isolated:
            values["isolated"] = format_cpulist(self.isolated)
        if self.nic:
            values["nic"] = self.nic
        return {k: v for k, v in values.items() if v}

    def lists(self) -> dict[str, tuple[int, ...]]:
        """Placeholders that expand one path into one path per element (IRQ numbers)."""
        return {"nic_irqs": self.nic_irqs, "other_irqs": self.other_irqs}


def _cpus(text: str | None, name: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(parse_cpulist(text))
    except ValueError:
        raise TuningError(f"--{name}: bad cpu list {text!r} (example: 0,2-3)") from None


def host_context(nic: str | None = None, housekeeping: str | None = None, isolated: str | None = None,
                 rx: str | None = None, root: str = "/") -> Context:
    """The context from `tickwire hw plan` for this host, with any cpu list the user gave instead."""
    try:
        plan = plan_host(nic=nic, root=root)
    except ValueError as exc:
        raise TuningError(str(exc)) from None
    hk = _cpus(housekeeping, "housekeeping") or tuple(plan.housekeeping)
    iso = _cpus(isolated, "isolated")
    iso = tuple(plan.isolated) if iso is None else iso
    rx_cpus = _cpus(rx, "rx") or tuple(plan.rx)
    if set(hk) & set(iso):
        raise TuningError(f"housekeeping {format_cpulist(hk)} and isolated {format_cpulist(iso)} overlap")
    irq_dir = under(root, "/proc/irq")
    all_irqs = sorted(int(p.name) for p in irq_dir.iterdir() if p.name.isdigit()) if irq_dir.is_dir() else []
    mine = tuple(nic_irqs(nic, root)) if nic else ()
    others = tuple(irq for irq in all_irqs if irq not in mine)
    return Context(housekeeping=hk, isolated=iso, rx=rx_cpus, nic=nic, root=root, nic_irqs=mine, other_irqs=others)
