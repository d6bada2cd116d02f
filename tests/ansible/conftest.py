"""Ansible tests need the collections of ansible/requirements.yml (installed into the venv by `make install`; the
suite never downloads them) and systemd-analyze."""
from __future__ import annotations

import pytest

import requires
from ansiblerun import COLLECTIONS


@pytest.fixture(scope="session", autouse=True)
def _collections() -> None:
    """The roles need ansible.posix and community.general, installed by `make install` next to the venv."""
    if not (COLLECTIONS / "ansible" / "posix").is_dir():
        requires.missing("tools", f"Ansible collections missing in {COLLECTIONS}: run `make install`")
    requires.need_tool("systemd-analyze", "the Makefile installs Debian's systemd package")
