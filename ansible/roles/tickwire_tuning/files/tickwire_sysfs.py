#!/usr/bin/env python3
"""Apply (or check) sysfs/procfs settings and NIC ethtool settings from a JSON list; stdlib only.

Usage: tickwire_sysfs.py --apply|--check CONFIG
CONFIG is a JSON file or "b64:<base64 JSON>". Each entry is one of
  {"id": ..., "path": GLOB, "value": TEXT}            write TEXT (compared as text, or as a cpu list/number)
  {"id": ..., "path": GLOB, "cpus": CPULIST}          write the hex mask of CPULIST (cpumask files)
  {"id": ..., "nic": NIC, "key": "features:gro" | "coalesce:rx-usecs", "value": TEXT}   via ethtool
optional keys: "format" (str | int | cpulist), "compare" (eq | min).
Prints "changed: ..." / "would change: ..." per target; "absent: ..." for settings this host does not have;
"refused: ..." when the kernel refuses one of several matched files (a managed IRQ). Exit 1 on any other failure.
Installed by the tickwire_tuning Ansible role; tickwire-sysfs.service runs it at boot.
"""
import base64
import glob
import json
import re
import subprocess
import sys

FEATURES = {"gro": "generic-receive-offload", "lro": "large-receive-offload"}
UNSUPPORTED = ("notsupported", "notimplemented")


def cpulist(text):
    cpus = set()
    for part in str(text).replace(" ", ",").split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            cpus.update(range(int(lo), int(hi) + 1))
        elif part.strip():
            cpus.add(int(part))
    return cpus


def mask_set(text):
    value = int(str(text).replace(",", "").strip() or "0", 16)
    return {bit for bit in range(value.bit_length()) if value >> bit & 1}


def same(entry, current, wanted):
    fmt = entry.get("format", "str")
    if "cpus" in entry:
        return mask_set(current) == cpulist(wanted)
    if fmt == "cpulist":
        return cpulist(current) == cpulist(wanted)
    if fmt == "int":
        have, want = [int(x) for x in current.split()], [int(x) for x in str(wanted).split()]
        if entry.get("compare") == "min":
            return len(have) == len(want) and all(h >= w for h, w in zip(have, want))
        return have == want
    return current == str(wanted)


def read_file(path):
    with open(path) as handle:
        text = " ".join(handle.read().split())
    match = re.search(r"\[([^\]]+)\]", text)  # "always [madvise] never"
    return match.group(1) if match else text


def ethtool_read(nic, key):
    section, _, name = key.partition(":")
    out = subprocess.run(["ethtool", "-k" if section == "features" else "-c", nic], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    for line in out.stdout.splitlines():
        field, _, value = line.strip().partition(":")
        if section == "coalesce" and field == "Adaptive RX" and name in ("adaptive-rx", "adaptive-tx"):
            rx, _, tx = value.partition("TX:")
            value = rx if name == "adaptive-rx" else tx
            field = name
        if field == FEATURES.get(name, name) and value.strip() and value.strip() != "n/a":
            return value.split()[0]
    return None


def main(mode, config):
    if config.startswith("b64:"):
        entries = json.loads(base64.b64decode(config[4:]))
    else:
        with open(config) as handle:
            entries = json.load(handle)
    check = mode == "--check"
    failed = False
    for entry in entries:
        wanted = entry.get("cpus", entry.get("value"))
        if "nic" in entry:
            if not entry["nic"]:
                continue
            current = ethtool_read(entry["nic"], entry["key"])
            target = f"{entry['nic']}:{entry['key']}"
            if current is None:
                print(f"absent: {target}")
                continue
            if same(entry, current, wanted):
                continue
            print(f"{'would change' if check else 'changed'}: {target}: {current} -> {wanted}")
            if not check:
                section, _, name = entry["key"].partition(":")
                flag = "-K" if section == "features" else "-C"
                out = subprocess.run(["ethtool", flag, entry["nic"], name, str(wanted)], capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"failed: {target}: {out.stderr.strip()}", file=sys.stderr)
                    failed = True
            continue
        paths = sorted(glob.glob(entry["path"]))
        if not paths:
            print(f"absent: {entry['path']}")
            continue
        for path in paths:
            try:
                current = read_file(path)
            except OSError as exc:
                print(f"absent: {path}: {exc.strerror}")
                continue
            if current in UNSUPPORTED or same(entry, current, wanted):
                continue
            text = format(sum(1 << cpu for cpu in cpulist(wanted)), "x") if "cpus" in entry else str(wanted)
            if check:
                print(f"would change: {path}: {current} -> {text}")
                continue
            try:
                with open(path, "w") as handle:
                    handle.write(text)
            except OSError as exc:
                if len(paths) > 1:
                    print(f"refused: {path}: {exc.strerror}")
                    continue
                print(f"failed: {path}: {exc.strerror}", file=sys.stderr)
                failed = True
                continue
            print(f"changed: {path}: {current} -> {text}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("--apply", "--check"):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
