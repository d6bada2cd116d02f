"""The compiled pass of a strategy kernel on disk (tickwire.engine.kernel_cache): a generated module per kernel whose
name changes with everything its machine code depends on, old ones removed, and a warm start that compiles nothing.

The module tests only generate and import the modules (numba compiles at the first call); the CLI test compiles
the demo strategy's pass once (in the suite's cache, usually warm already) and checks that the next process loads
every function from the disk instead of compiling it."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from numba import njit

from tickwire.engine import kernel_cache
from tickwire.engine.kernel_cache import build_hot_pass, compiled_here, importable_ref, is_cached

KERNELS = '''
from numba import njit


@njit(cache=True)
def quiet(kind, inst, ev, mkt, acct, params, out):
    return {quiet}


@njit(cache=True)
def quiet_more(kind, inst, ev, mkt, acct, params, out):
    return 0
'''


@pytest.fixture
def kernels(tmp_path, monkeypatch):
    """An importable module of two kernels (a fresh name: the memo of build_hot_pass is per process) and a cache
    directory of its own."""
    name = f"tw_test_kernels_{uuid.uuid4().hex[:8]}"
    source = tmp_path / f"{name}.py"
    source.write_text(KERNELS.format(quiet=0))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TICKWIRE_CACHE_DIR", str(tmp_path / "cache"))
    module = importlib.import_module(name)
    yield module, source
    sys.modules.pop(name, None)


def test_an_importable_kernel_gets_a_cached_module_in_the_cache_directory(kernels, tmp_path):
    module, _ = kernels
    assert importable_ref(module.quiet) == (module.__name__, "quiet") and is_cached(module.quiet)
    passes = build_hot_pass(module.quiet)
    path = Path(passes.__file__)
    assert path.parent == tmp_path / "cache" / "passes"
    text = path.read_text()
    assert f"from {module.__name__} import quiet as kernel" in text and "\nCACHE = True\n" in text
    assert passes.kernel is module.quiet and build_hot_pass(module.quiet) is passes  # memoised
    assert compiled_here(passes) == 0  # nothing compiled yet: numba compiles at the first call


def test_a_changed_kernel_gets_a_new_module_and_the_old_one_is_removed(kernels, tmp_path):
    module, source = kernels
    first = Path(build_hot_pass(module.quiet).__file__)
    neighbour = Path(build_hot_pass(module.quiet_more).__file__)  # a name that starts like quiet's
    source.write_text(KERNELS.format(quiet=1))
    changed = importlib.reload(module)
    second = Path(build_hot_pass(changed.quiet).__file__)
    assert second != first and second.exists()
    assert not first.exists()  # never a stale pass next to the new one
    assert neighbour.exists()  # another kernel's pass is left alone


def test_a_kernel_no_other_process_can_import_is_compiled_in_this_process_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKWIRE_CACHE_DIR", str(tmp_path / "cache"))

    @njit
    def local(kind, inst, ev, mkt, acct, params, out):
        return 0

    assert importable_ref(local) is None and not is_cached(local)
    passes = build_hot_pass(local)
    assert passes.kernel is local and passes.CACHE is False
    assert not (tmp_path / "cache").exists()  # nothing written


def test_a_cache_directory_that_cannot_be_written_falls_back_to_an_in_process_pass(kernels, tmp_path, monkeypatch,
                                                                                   caplog):
    module, _ = kernels
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("TICKWIRE_CACHE_DIR", str(blocker / "cache"))  # mkdir under a file fails, even as root
    passes = build_hot_pass(module.quiet_more)
    assert passes.kernel is module.quiet_more and passes.CACHE is False
    assert not is_cached(module.quiet_more)  # and the run report says so
    assert "compiled pass not cached" in caplog.text


def test_the_template_keeps_its_specialisation_lines():
    # kernel_cache rewrites exactly these two lines; an edit of passes.py that loses them must fail here
    assert kernel_cache._SPECIALISE.search(kernel_cache.TEMPLATE.read_text())


def _warm(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "tickwire.cli", "warm", "--json", *args], capture_output=True,
                         text=True, timeout=1500)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@pytest.mark.timeout(1800)
def test_a_second_process_loads_the_pass_from_the_disk_instead_of_compiling_it():
    first = _warm()  # compiles the demo market maker's pass unless an earlier process of the suite did
    assert first["cached"]
    second = _warm()
    assert second["cached"] and second["compiled"] == 0, second
    assert "loaded from the cache" in second["summary"]


def test_warm_with_a_strategy_that_does_not_load_is_a_clear_error():
    out = subprocess.run([sys.executable, "-m", "tickwire.cli", "warm", "--strategy", "no_such_module:Nothing"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "no_such_module" in out.stderr and "Traceback" not in out.stderr
