"""The package layering holds: every ``import`` in src/tickwire is walked (ast) and checked against the rule.

netstack <- deribit <- md <- engine (each may import the ones before it); the simulator uses netstack and deribit,
never md or engine (the engine must not be able to tell it from Deribit, and the simulator does not borrow the
engine's code); tuning and hw stand alone (tuning may use hw's public modules, never ``hw._*``).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tickwire

SRC = Path(tickwire.__file__).parent
BASE = {"types", "native", "clock", "config", "__version__"}  # shared leaves every package may use
ALLOWED: dict[str, set[str]] = {
    "netstack": BASE | {"hw"},
    "deribit": BASE | {"netstack", "tuning"},
    "md": BASE | {"netstack", "deribit"},
    "engine": BASE | {"netstack", "deribit", "md", "tuning", "hw"},
    "sim": BASE | {"netstack", "deribit"},
    "tuning": {"hw", "__version__"},
    "hw": {"__version__"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module path) of every tickwire import in a file, at any depth (function-local too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(line, name) for line, name in found if name.startswith("tickwire.")]


def forbidden_edges(src: Path = SRC) -> list[str]:
    """Every import that breaks the rule, as ``file:line imports module``."""
    bad = []
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        pkg = parts[0]
        if pkg not in ALLOWED:
            continue  # cli, doctor, bench: the application layer may import any package
        for line, name in _imports(path):
            target = name.split(".")
            if target[1] == pkg:
                continue
            private_hw = pkg == "tuning" and target[1] == "hw" and len(target) > 2 and target[2].startswith("_")
            if target[1] not in ALLOWED[pkg] or private_hw:
                bad.append(f"{path.relative_to(src)}:{line} imports {name}")
    return bad


def test_no_forbidden_import_edge() -> None:
    assert forbidden_edges() == []


@pytest.mark.parametrize("pkg,module,line", [
    ("netstack", "tickwire.deribit.json_decode", "from tickwire.deribit.json_decode import decode_read"),
    ("sim", "tickwire.engine.engine", "from tickwire.engine.engine import Engine"),
    ("md", "tickwire.engine.hotpath", "def f():\n    from tickwire.engine import hotpath"),
    ("tuning", "tickwire.hw._sysfs", "from tickwire.hw._sysfs import read"),
])
def test_the_walker_catches_a_forbidden_edge(tmp_path: Path, pkg: str, module: str, line: str) -> None:
    """The check itself can fail: a planted bad import (also a function-local one) is reported."""
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "bad.py").write_text(line + "\n")
    bad = forbidden_edges(tmp_path)
    assert len(bad) == 1 and bad[0].startswith(f"{pkg}/bad.py:")
