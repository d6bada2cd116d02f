"""The roles' variables and the tuning catalogue must agree: every knob of the `latency` profile is carried by a
role with the same key and value (placeholders map to the roles' cpu/NIC variables), and the roles carry no
setting the catalogue does not know."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from ansiblerun import ANSIBLE_DIR
from tickwire.hw.cpuset import parse_cpulist, parse_cpumask
from tickwire.tuning import PROFILES, load_catalogue, socket_options

ROLES = ANSIBLE_DIR / "roles"


def role_defaults() -> dict[str, dict]:
    return {role.name: yaml.safe_load((role / "defaults/main.yml").read_text()) for role in sorted(ROLES.iterdir())}


def _jinja(text: str, mapping: dict[str, str]) -> str:
    for placeholder, variable in mapping.items():
        text = text.replace("{" + placeholder + "}", "{{ " + variable + " }}")
    return text


def drift(knobs, defaults: dict[str, dict]) -> list[str]:
    """Every disagreement between the catalogue's latency profile and the role defaults, as readable lines (a
    setting the latency profile leaves alone, such as the no-op net.ipv4.tcp_low_latency, is drift too)."""
    problems: list[str] = []
    covered: set[str] = set()
    tuning, isolation = defaults["tickwire_tuning"], defaults["tickwire_isolation"]
    hugepages, dpdk, engine = defaults["tickwire_hugepages"], defaults["tickwire_dpdk"], defaults["tickwire_engine"]
    tuning_vars = {"housekeeping": "tickwire_tuning_housekeeping_cpus", "isolated": "tickwire_tuning_isolated_cpus",
                   "nic": "tickwire_tuning_nic", "housekeeping_mask": "tickwire_tuning_housekeeping_cpus"}
    isolation_vars = {"housekeeping": "tickwire_isolation_housekeeping_cpus",
                      "isolated": "tickwire_isolation_isolated_cpus"}
    sysfs = {entry["id"]: entry for entry in tuning["tickwire_tuning_sysfs"]}
    cmdline = {**isolation["tickwire_isolation_cmdline"], **hugepages["tickwire_hugepages_cmdline"],
               **dpdk["tickwire_dpdk_cmdline"]}
    wanted_cmdline: set[str] = set()

    def expect(knob_id: str, have: object, want: object) -> None:
        covered.add(knob_id)
        if str(have) != str(want):
            problems.append(f"{knob_id}: role has {have!r}, catalogue wants {want!r}")

    for knob in knobs:
        value = knob.wanted("latency")
        if value is None:
            continue
        if knob.kind == "sysctl":
            expect(knob.id, tuning["tickwire_tuning_sysctl"].get(knob.key, "<missing>"), value)
        elif knob.id == "hugepages.2m":
            expect(knob.id, hugepages["tickwire_hugepages_2m_count"], value)
        elif knob.id == "irq.nic_affinity":  # the engine's unit pins its NIC's IRQs with the CLI, from the catalogue
            unit = (ROLES / "tickwire_engine/templates/tickwire-engine.service.j2").read_text()
            expect(knob.id, "--only irq.nic_affinity" in unit and "--rx {{ tickwire_engine_rx_cpus }}" in unit, True)
        elif knob.kind in ("sysfs", "procfs"):
            entry = sysfs.get(knob.id)
            if entry is None:
                expect(knob.id, "<missing>", value)
                continue
            expect(knob.id, entry["path"], _jinja(knob.key, tuning_vars).replace("{other_irqs}", "*"))
            if "cpus" in entry:  # a cpumask written from a cpu list
                if str(value).startswith("{"):
                    expect(knob.id, entry["cpus"], _jinja(str(value), tuning_vars))
                else:
                    expect(knob.id, parse_cpulist(entry["cpus"]), parse_cpumask(str(value)))
            else:
                expect(knob.id, entry["value"], _jinja(str(value), tuning_vars))
        elif knob.kind == "ethtool":
            expect(knob.id, tuning["tickwire_tuning_ethtool"].get(knob.key, "<missing>"), value)
        elif knob.kind == "cmdline":
            wanted_cmdline.add(knob.key)
            have = cmdline.get(knob.key, "<missing>")
            want = value if knob.format == "flag" else _jinja(str(value), isolation_vars)
            expect(knob.id, have, want)
        elif knob.kind == "systemd":
            expect(knob.id, isolation["tickwire_isolation_systemd_cpu_affinity"],
                   _jinja(str(value), isolation_vars))
        elif knob.kind == "service" and knob.key.startswith("unit:"):
            masked = knob.key.removeprefix("unit:") in tuning["tickwire_tuning_masked_services"]
            expect(knob.id, masked, value == "masked")
        elif knob.kind == "service":
            expect(knob.id, tuning["tickwire_tuning_irqbalance_banned_cpus"], _jinja(str(value), tuning_vars))
        elif knob.kind == "sockopt":  # the engine reads them from the catalogue at run time, by profile
            profile = engine["tickwire_engine_socket_profile"]
            expect(knob.id, profile in PROFILES and knob.key in socket_options(profile), True)
    managed = [k for k in knobs if k.wanted("latency") is not None]
    extra_sysctl = set(tuning["tickwire_tuning_sysctl"]) - {k.key for k in managed if k.kind == "sysctl"}
    extra_sysfs = set(sysfs) - {k.id for k in managed}
    extra_cmdline = set(cmdline) - wanted_cmdline
    extra_ethtool = set(tuning["tickwire_tuning_ethtool"]) - {k.key for k in managed if k.kind == "ethtool"}
    for name, extra in (("sysctl", extra_sysctl), ("sysfs", extra_sysfs), ("cmdline", extra_cmdline),
                        ("ethtool", extra_ethtool)):
        if extra:
            problems.append(f"roles set {name} {sorted(extra)} that the catalogue does not know")
    uncovered = {k.id for k in knobs if k.wanted("latency") is not None} - covered
    if uncovered:
        problems.append(f"catalogue knobs no role carries: {sorted(uncovered)}")
    return problems


def test_roles_and_catalogue_agree():
    assert drift(load_catalogue(), role_defaults()) == []


def test_the_drift_check_catches_a_changed_value_a_missing_knob_and_an_extra_setting():
    knobs = load_catalogue()
    changed = copy.deepcopy(role_defaults())
    changed["tickwire_tuning"]["tickwire_tuning_sysctl"]["net.core.busy_read"] = 100
    assert drift(knobs, changed) == ["net.busy_read: role has 100, catalogue wants 50"]
    missing = copy.deepcopy(role_defaults())
    del missing["tickwire_isolation"]["tickwire_isolation_cmdline"]["nohz_full"]
    assert any(p.startswith("boot.nohz_full: role has '<missing>'") for p in drift(knobs, missing))
    extra = copy.deepcopy(role_defaults())
    extra["tickwire_tuning"]["tickwire_tuning_sysctl"]["net.ipv4.tcp_low_latency"] = 1
    assert drift(knobs, extra) == ["roles set sysctl ['net.ipv4.tcp_low_latency'] that the catalogue does not know"]


def test_every_role_has_documented_defaults_argument_specs_handlers_and_meta():
    for role in sorted(ROLES.iterdir()):
        defaults = yaml.safe_load((role / "defaults/main.yml").read_text())
        specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
        assert set(defaults) == set(specs), role.name  # every default is specified, every option has a default
        assert all(option.get("description") for option in specs.values()), role.name
        assert (role / "handlers/main.yml").exists() and (role / "meta/main.yml").exists(), role.name
        assert (role / "defaults/main.yml").read_text().count("#") >= 3, f"{role.name}: defaults are not documented"
    site = yaml.safe_load((ANSIBLE_DIR / "site.yml").read_text())
    tags = {tuple(role["tags"]) for role in site[0]["roles"]}
    assert tags == {("tuning",), ("isolation",), ("hugepages",), ("dpdk",), ("engine",)}
    assert Path(ANSIBLE_DIR / "inventories/colo/group_vars/tickwire.yml").exists()
