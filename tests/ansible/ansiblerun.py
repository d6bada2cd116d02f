"""Helpers for the Ansible tests: run ansible-* from the venv inside ansible/ (so ansible.cfg applies)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = ROOT / "ansible"
BIN = Path(sys.executable).parent
VENV = Path(sys.prefix)  # the venv running the tests, wherever `make VENV=...` put it
COLLECTIONS = VENV / "ansible_collections"


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "NO_COLOR": "1",
            # ansible.cfg names ../.venv; the collections are wherever this venv is
            "ANSIBLE_COLLECTIONS_PATH": f"{VENV}:~/.ansible/collections:/usr/share/ansible/collections"}


def run(tool: str, *args: str, cwd: Path = ANSIBLE_DIR, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], cwd=cwd, capture_output=True, text=True, env=env(),
                          timeout=timeout)


def recap(output: str) -> dict[str, int]:
    """The PLAY RECAP counters of the single host."""
    match = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", output)
    assert match, output[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed", "skipped"), map(int, match.groups())))


ENGINE_ROLE = ANSIBLE_DIR / "roles/tickwire_engine"

_ENGINE_RENDER = """---
- name: Render the engine role's templates
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  vars_files:
    - {role}/defaults/main.yml
{vars_files}  tasks:
{tasks}    - name: Render the unit
      ansible.builtin.template:
        src: {role}/templates/tickwire-engine.service.j2
        dest: "{{ out }}/tickwire-engine.service"
        mode: "0644"
    - name: Render the config
      ansible.builtin.template:
        src: {role}/templates/engine.toml.j2
        dest: "{{ out }}/engine.toml"
        mode: "0644"
  handlers:
    - name: Restart the tickwire engine
      ansible.builtin.debug:
        msg: the engine would restart
"""


def engine_render_playbook(vars_files: tuple[str, ...] = (), credentials: bool = False) -> str:
    """A playbook rendering the engine role's unit and config into ``{{ out }}``; with ``credentials`` the role's
    credential tasks run first (the unit then loads what they wrote)."""
    tasks = (f"    - name: The role's credential tasks\n      ansible.builtin.include_tasks: {ENGINE_ROLE}/tasks/"
             "credentials.yml\n") if credentials else ""
    return (_ENGINE_RENDER.replace("{role}", str(ENGINE_ROLE)).replace("{tasks}", tasks)
            .replace("{vars_files}", "".join(f"    - {f}\n" for f in vars_files)))
