"""Real audit / apply / rollback on this host (root), always restoring what changed: the test compares
`sysctl -a` and the catalogue's sysfs/procfs files before and after. Only net, vm, kernel and irq knobs are applied
(other engineers share this machine); boot knobs go to a GRUB drop-in in a temp dir.

Writes host state (/proc/sys, /sys, /proc/irq): every test holds the host-wide lock (hoststate.exclusive, so two
checkouts running `make test` at once take turns) and rolls back in a ``finally`` block, even when it fails half-way."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import hoststate
from unprivileged import as_nobody
from tickwire.hw.nics import nics
from tickwire.tuning import TuningError, load_catalogue
from tickwire.tuning._apply import apply, rollback
from tickwire.tuning._catalogue import Knob
from tickwire.tuning._context import host_context

pytestmark = pytest.mark.root  # apply/rollback write /proc/sys and /sys

TICKWIRE = [sys.executable, "-m", "tickwire.cli", "tune"]


@pytest.fixture(autouse=True)
def _one_run_at_a_time():
    with hoststate.exclusive():
        yield


def tune(*args: str, unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    if unprivileged:
        return as_nobody([*TICKWIRE, *args])
    return subprocess.run([*TICKWIRE, *args], capture_output=True, text=True, timeout=120)


def _nic() -> list[str]:
    with_irqs = [nic.name for nic in nics(with_ethtool=False) if nic.irqs]
    return ["--nic", with_irqs[0]] if with_irqs else []


def _rollback_all(state: Path) -> None:
    """Safety net: roll back any snapshot a failed test left open."""
    for path in sorted(state.glob("*.json"), reverse=True):
        if json.loads(path.read_text()).get("rolled_back") is None:
            rollback(str(path))


def test_audit_reads_live_values():
    out = tune("audit", "--only", "net,vm,kernel", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    rows = {row["id"]: row for row in report["rows"]}
    for knob in load_catalogue():
        if knob.kind == "sysctl" and knob.id in rows:
            live = subprocess.run(["sysctl", "-n", knob.key], capture_output=True, text=True).stdout
            assert rows[knob.id]["current"] == " ".join(live.split()), knob.id
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    assert f"[{rows['vm.thp_enabled']['current']}]" in thp
    counts = report["counts"]
    assert counts["OK"] + counts["DIFF"] + counts["UNAVAILABLE"] == len(rows)
    assert report["score"] == round(100 * counts["OK"] / (counts["OK"] + counts["DIFF"]), 1)
    strict = tune("audit", "--only", "net,vm,kernel", "--strict")
    assert strict.returncode == (1 if counts["DIFF"] else 0)
    assert "score" in strict.stdout


def test_apply_then_audit_ok_then_rollback_restores_every_value(tmp_path):
    before = hoststate.capture()
    nic = _nic()
    try:
        out = tune("apply", "--profile", "latency", "--only", "net,vm,kernel,irq", *nic, "--state-dir", str(tmp_path),
                   "--json")
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        applied = {c["knob"] for c in result["changes"] if c["status"] == "applied"}
        skipped = {c["knob"] for c in result["changes"] if c["status"] == "skipped"}  # e.g. a managed IRQ
        assert {"net.busy_read", "vm.swappiness", "vm.thp_enabled"} <= applied
        assert Path("/proc/sys/net/core/busy_read").read_text().strip() == "50"

        audit = json.loads(tune("audit", "--only", "net,vm,kernel,irq", *nic, "--json").stdout)
        status = {row["id"]: row["status"] for row in audit["rows"]}
        assert all(status[knob] == "OK" for knob in applied - skipped), status

        again = tune("apply", "--profile", "latency", "--only", "net,vm,kernel", "--state-dir", str(tmp_path))
        assert again.returncode == 0 and "nothing to change" in again.stdout  # idempotent: no second snapshot
        assert len(list(tmp_path.glob("*.json"))) == 1

        back = tune("rollback", "--state-dir", str(tmp_path))
        assert back.returncode == 0, back.stderr
        assert "rolled back" in back.stdout
    finally:
        _rollback_all(tmp_path)
    assert hoststate.differences(before, hoststate.capture()) == {}
    assert tune("rollback", "--state-dir", str(tmp_path)).returncode == 2  # nothing left to roll back


def test_dry_run_changes_nothing(tmp_path):
    before = hoststate.capture()
    out = tune("apply", "--only", "net,vm", "--dry-run", "--state-dir", str(tmp_path))
    assert out.returncode == 0 and "would change" in out.stdout
    assert not list(tmp_path.iterdir())
    assert hoststate.differences(before, hoststate.capture()) == {}


@pytest.mark.parametrize("args, message", [
    (["--profile", "fast"], "unknown profile 'fast'"),
    (["--only", "net,bogus"], "unknown group or knob bogus"),
    (["--set", "net.busy_read=5000"], "outside 0..1000"),
    (["--set", "net.nope=1"], "unknown knob 'net.nope'"),
    (["--set", "vm.thp_enabled=sometimes"], "expected one of"),
    (["--isolated", "1-x"], "bad cpu list"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(tmp_path, args, message):
    before = hoststate.capture()
    out = tune("apply", "--only", "net,vm", *[a for a in args if a], "--state-dir", str(tmp_path))
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not list(tmp_path.iterdir())
    assert hoststate.differences(before, hoststate.capture()) == {}


def test_not_root_is_a_clear_error_and_changes_nothing(tmp_path):
    before = hoststate.capture()
    tmp_path.chmod(0o777)
    out = tune("apply", "--only", "net", "--state-dir", str(tmp_path), unprivileged=True)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "this needs root" in out.stderr and "Traceback" not in out.stderr
    assert tune("rollback", "--state-dir", str(tmp_path), unprivileged=True).returncode == 2
    audit = tune("audit", "--only", "net", "--json", unprivileged=True)  # a non-root audit is not refused
    assert audit.returncode == 0 and json.loads(audit.stdout)["counts"]["UNAVAILABLE"] == 0
    assert not list(tmp_path.iterdir())
    assert hoststate.differences(before, hoststate.capture()) == {}


def test_a_write_the_kernel_refuses_restores_what_was_written(tmp_path):
    """All-or-nothing: busy_read is written, then the kernel rejects vm.dirty_ratio=101 (EINVAL): busy_read goes
    back. The second knob is a test-only catalogue entry without a range, so the kernel is what refuses."""
    before = hoststate.capture()
    good = next(k for k in load_catalogue() if k.id == "net.busy_read")
    bad = Knob("test.dirty_ratio", "vm", "sysctl", "vm.dirty_ratio", "w", "s", False, "low", "sysctl",
               format="int", values={"latency": 101})
    try:
        with pytest.raises(TuningError, match="test.dirty_ratio: writing '101'.*failed"):
            apply("latency", host_context(), snapshots=tmp_path, knobs=(good, bad))
        snapshot = json.loads(next(tmp_path.glob("*.json")).read_text())
        assert snapshot["rolled_back"].startswith("apply failed")
    finally:
        _rollback_all(tmp_path)
    assert hoststate.differences(before, hoststate.capture()) == {}


def test_boot_knobs_render_a_grub_drop_in_and_rollback_removes_it(tmp_path):
    grub = tmp_path / "grub.d"
    state = tmp_path / "state"
    out = tune("apply", "--boot", "--only", "boot,dpdk", "--housekeeping", "0", "--isolated", "1",
               "--grub-dir", str(grub), "--state-dir", str(state))
    assert out.returncode == 0, out.stderr
    drop_in = grub / "90-tickwire.cfg"
    words = subprocess.run(["sh", "-c", f'GRUB_CMDLINE_LINUX_DEFAULT="quiet"; . {drop_in}; '
                                        'echo "$GRUB_CMDLINE_LINUX_DEFAULT"'],
                           capture_output=True, text=True, check=True).stdout.split()
    assert words[0] == "quiet"
    for word in ("isolcpus=managed_irq,domain,1", "nohz_full=1", "rcu_nocbs=1", "irqaffinity=0", "nosoftlockup",
                 "intel_iommu=on", "iommu=pt"):
        assert word in words
    assert "mitigations=off" not in " ".join(words)  # opt-in only
    assert "reboot" in out.stdout
    snapshot = next(state.glob("*.json"))
    assert tune("rollback", snapshot.stem, "--state-dir", str(state)).returncode == 0  # by name
    assert not drop_in.exists()
    again = tune("rollback", snapshot.stem, "--state-dir", str(state))
    assert again.returncode == 2 and "already rolled back" in again.stderr


def test_a_second_apply_while_one_runs_is_refused(tmp_path):
    import fcntl

    before = hoststate.capture()
    with open(tmp_path / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        out = tune("apply", "--only", "net", "--state-dir", str(tmp_path))
    assert out.returncode == 2 and "another `tickwire tune apply/rollback` is running" in out.stderr
    assert not list(tmp_path.glob("*.json"))
    assert hoststate.differences(before, hoststate.capture()) == {}
