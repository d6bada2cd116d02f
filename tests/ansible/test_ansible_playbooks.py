"""The Ansible side for real on this machine: ansible-lint (production profile), a --check run of the whole
site on the lab inventory that changes nothing, a real run of the tuning tags on localhost that a second run
finds converged (changed=0) and that the test then reverts, and the engine's unit checked by systemd-analyze.

Writes host state: sysctls and sysfs values, files under /etc, /usr/local/sbin, /opt (ROLE_FILES). Each test holds
the host-wide lock (hoststate.exclusive: two checkouts running `make test` at once take turns) and restores the
values and removes the files it created in a ``finally`` block, so a failure half-way restores them too."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import hoststate
from ansiblerun import VENV, engine_render_playbook, recap, run

pytestmark = pytest.mark.root  # the lab playbook runs as root on localhost

# Files the roles create on the host; the test removes the ones that were not there before.
ROLE_FILES = ("/etc/sysctl.d/90-tickwire.conf", "/etc/tickwire/sysfs.json", "/etc/tickwire",
              "/usr/local/sbin/tickwire-sysfs", "/etc/systemd/system/tickwire-sysfs.service",
              "/etc/default/grub.d/90-tickwire.cfg", "/etc/systemd/system.conf.d/90-tickwire.conf",
              "/etc/systemd/system/tickwire-hugepages.service", "/etc/systemd/system/tickwire-engine.service",
              "/opt/tickwire", "/dev/hugepages-1G", "/dev/hugepages-2M")


@pytest.fixture(autouse=True)
def _one_run_at_a_time():
    with hoststate.exclusive():
        yield


def _existing() -> set[str]:
    return {path for path in ROLE_FILES if os.path.lexists(path)}


def _revert(before: dict[str, str], created: set[str]) -> None:
    """Write back every sysctl/sysfs/procfs value that differs from `before`; remove the files the run created."""
    for key, (old, _new) in hoststate.differences(before, hoststate.capture()).items():
        if old is None:
            continue
        path = key if key.startswith("/") else "/proc/sys/" + key.replace(".", "/")
        value = old.split("[", 1)[1].split("]", 1)[0] if "[" in old else old  # "always [madvise] never"
        try:
            Path(path).write_text(value)
        except OSError:
            pass  # a value the kernel will not take back is reported by the comparison below
    for path in sorted(created, reverse=True):
        if os.path.isdir(path) and not os.path.islink(path):
            subprocess.run(["rm", "-rf", "--one-file-system", path], check=True)
        elif os.path.lexists(path):
            os.unlink(path)


def test_ansible_lint_production_profile_is_clean():
    out = run("ansible-lint", "--offline")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in out.stdout + out.stderr


def test_check_mode_on_the_lab_changes_nothing():
    before, files = hoststate.capture(), _existing()
    out = run("ansible-playbook", "-i", "inventories/lab", "site.yml", "--check")
    assert out.returncode == 0, out.stdout[-4000:]
    assert recap(out.stdout)["failed"] == 0
    assert _existing() == files
    assert hoststate.differences(before, hoststate.capture()) == {}


def test_tuning_tags_converge_then_a_second_run_changes_nothing_then_revert():
    before, files = hoststate.capture(), _existing()
    try:
        first = run("ansible-playbook", "-i", "inventories/lab", "site.yml", "--tags", "tuning")
        assert first.returncode == 0, first.stdout[-4000:]
        assert recap(first.stdout)["changed"] > 0
        assert Path("/proc/sys/net/core/busy_read").read_text().strip() == "50"
        assert "[never]" in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
        assert "net.core.busy_read=50" in Path("/etc/sysctl.d/90-tickwire.conf").read_text().replace(" ", "")

        audit = subprocess.run([str(VENV / "bin" / "tickwire"), "tune", "audit", "--only", "net,vm,kernel",
                                "--strict"], capture_output=True, text=True, timeout=120)
        assert audit.returncode == 0, audit.stdout[-3000:]  # what the role applied is what the catalogue wants

        second = run("ansible-playbook", "-i", "inventories/lab", "site.yml", "--tags", "tuning")
        assert second.returncode == 0, second.stdout[-4000:]
        assert recap(second.stdout)["changed"] == 0, second.stdout[-4000:]
    finally:
        _revert(before, _existing() - files)
    assert _existing() == files
    assert hoststate.differences(before, hoststate.capture()) == {}


def _render(tmp_path: Path, *extra: str) -> Path:
    playbook = tmp_path / "render.yml"
    playbook.write_text(engine_render_playbook())
    out = run("ansible-playbook", "-i", "localhost,", str(playbook), "-e", f"out={tmp_path}", *extra,
              cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:]
    return tmp_path / "tickwire-engine.service"


def test_engine_unit_passes_systemd_analyze_verify(tmp_path):
    from tickwire.config import load

    venv = VENV
    unit = _render(tmp_path, "-e", f"tickwire_engine_venv={venv}", "-e", "tickwire_nic=eth0",
                   "-e", "tickwire_engine_cpus=1")
    text = unit.read_text()
    assert "CPUAffinity=1" in text and "LimitMEMLOCK=infinity" in text and "Restart=always" in text
    assert f"ExecStart={venv}/bin/tickwire run --config /etc/tickwire/engine.toml\n" in text
    assert "--only irq.nic_affinity --nic eth0" in text
    verify = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                            timeout=60)
    assert verify.returncode == 0, verify.stderr
    config = load(tmp_path / "engine.toml")  # the engine accepts its config
    assert config.session.socket_profile == "latency" and config.duration_s == 86400

    broken = tmp_path / "broken"
    broken.mkdir()
    bad = _render(broken, "-e", "tickwire_engine_venv=/nonexistent/venv")
    verify = subprocess.run(["systemd-analyze", "verify", "--man=no", str(bad)], capture_output=True, text=True,
                            timeout=60)
    assert verify.returncode != 0 and "/nonexistent/venv/bin/tickwire" in verify.stderr  # the check can fail


def test_colo_inventory_parses_and_the_site_passes_syntax_check():
    import json

    inventory = run("ansible-inventory", "-i", "inventories/colo", "--list")
    assert inventory.returncode == 0, inventory.stderr
    hostvars = json.loads(inventory.stdout)["_meta"]["hostvars"]
    assert set(hostvars) == {"ld4-trade-01", "ld4-trade-02"}
    assert hostvars["ld4-trade-01"]["tickwire_isolated_cpus"] == "16-18,48-50"
    assert hostvars["ld4-trade-01"]["tickwire_nic"] == "ens1f0"  # from group_vars
    syntax = run("ansible-playbook", "-i", "inventories/colo", "site.yml", "--syntax-check")
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
