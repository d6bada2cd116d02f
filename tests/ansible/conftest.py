"""Ansible tests need the collections of ansible/requirements.yml and systemd-analyze."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from ansiblerun import ANSIBLE_DIR, COLLECTIONS


@pytest.fixture(scope="session", autouse=True)
def _collections() -> None:
    """The roles need ansible.posix and community.general: installed by `make install`, or here the same way."""
    if not (COLLECTIONS / "ansible" / "posix").is_dir():
        subprocess.run([sys.executable, str(ANSIBLE_DIR / "install_collections.py"), str(COLLECTIONS)], check=True,
                       timeout=300)
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze missing (the Makefile installs Debian's systemd package)")
