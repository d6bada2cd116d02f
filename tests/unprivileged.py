"""Run a command as an unprivileged user (uid/gid 65534, no groups) that can still READ the checkout and the venv.

A clone under a 0700 directory (mktemp -d, /root) is unreadable by that user, and Python would then fail with
"No module named 'tickwire'" instead of showing the message under test. The child keeps one capability in its
ambient set, CAP_DAC_READ_SEARCH (read any file, search any directory); it writes nothing a normal user could not:
no /proc/sys, no /sys, no driver binding. Root only (setpriv needs CAP_SETUID).
"""
from __future__ import annotations

import subprocess
from collections.abc import Sequence

NOBODY = 65534


def as_nobody(cmd: Sequence[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` as uid/gid 65534 with read access to every file (see module doc); text output captured."""
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
              "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    return subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=timeout, cwd="/")
