"""Install the collections of ansible/requirements.yml into a project-local path (idempotent, offline-safe).

Galaxy is not among the registries this project's machines and CI reach, so the collections come from PyPI's
`ansible` package (the community bundle of the same collections): download its wheel, extract only the requested
collections, then let ansible-galaxy verify the versions against requirements.yml (it contacts nothing with
--offline). Usage: python ansible/install_collections.py DEST   (DEST ends in ansible_collections)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.yml"
BUNDLE = "ansible>=12,<13"  # the bundle whose collections match ansible-core 2.19


def satisfied(dest: Path) -> bool:
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    out = subprocess.run([str(galaxy), "collection", "install", "--offline", "-r", str(REQUIREMENTS), "-p", str(dest)],
                         capture_output=True, text=True, env={"ANSIBLE_COLLECTIONS_PATH": str(dest.parent),
                                                              "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    return out.returncode == 0 and "Nothing to do" in out.stdout


def main(dest: Path) -> int:
    if satisfied(dest):
        return 0
    names = [entry["name"] for entry in yaml.safe_load(REQUIREMENTS.read_text())["collections"]]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, BUNDLE], check=True)
        wheel = next(Path(tmp).glob("ansible-*.whl"))
        prefixes = tuple(f"ansible_collections/{name.replace('.', '/')}/" for name in names)
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.startswith(prefixes)]
            archive.extractall(dest.parent, members)
    if not satisfied(dest):
        print(f"install_collections: {dest} does not satisfy {REQUIREMENTS}", file=sys.stderr)
        return 1
    print(f"install_collections: {', '.join(names)} -> {dest}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or Path(sys.argv[1]).name != "ansible_collections":
        sys.exit("usage: install_collections.py DEST/ansible_collections")
    sys.exit(main(Path(sys.argv[1]).resolve()))
