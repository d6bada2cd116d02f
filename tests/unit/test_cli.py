"""The `tickwire` command line: version and doctor print true facts about this host."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import tickwire
from tickwire import clock

TICKWIRE = [sys.executable, "-m", "tickwire.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TICKWIRE, *args], capture_output=True, text=True, timeout=120)


def test_version_prints_the_package_version():
    out = run("version")
    assert out.returncode == 0
    assert out.stdout.strip() == tickwire.__version__


def test_help_lists_commands():
    out = run("--help")
    assert out.returncode == 0
    assert "doctor" in out.stdout and "version" in out.stdout


def test_doctor_json_reports_true_facts():
    out = run("doctor", "--json")
    assert out.returncode == 0, out.stderr
    facts = {f["name"]: f["value"] for f in json.loads(out.stdout)}
    assert facts["native _tw_native"] == "built"
    assert facts["CPUs"] == str(os.cpu_count())
    assert facts["running as root"] == ("yes" if os.geteuid() == 0 else "no")
    assert facts["TSC invariant"] == ("yes" if clock.tsc_is_invariant() else "no")
    ghz = float(facts["TSC frequency"].split()[0])
    assert abs(ghz * 1e9 - clock.tsc_hz()) / clock.tsc_hz() < 0.02
    isolated = Path("/sys/devices/system/cpu/isolated").read_text().strip() or "none"
    assert facts["isolated cores"] == isolated


def test_doctor_table_renders():
    out = run("doctor")
    assert out.returncode == 0
    assert "TSC frequency" in out.stdout and "hugepages" in out.stdout


def test_tsc_invariance_reads_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu tsc constant_tsc nonstop_tsc rdtscp\n")
    assert clock.tsc_is_invariant(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu tsc constant_tsc\n")
    assert not clock.tsc_is_invariant(cpuinfo)
    assert not clock.tsc_is_invariant(tmp_path / "missing")


def test_bench_seed_refuses_unknown_sides_before_starting_anything(tmp_path):
    out = run("bench", "--seed", "--sides", "sideways", "--duration", "1s", "--out", str(tmp_path / "seed"))
    assert out.returncode == 2
    assert "--sides must be after, before or both" in out.stderr
    assert not (tmp_path / "seed").exists()
