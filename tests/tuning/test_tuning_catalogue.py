"""The packaged catalogue loads, is complete and self-consistent; bad catalogues and values are rejected."""
from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from tickwire.tuning import TuningError, apply_socket_options, load_catalogue, socket_option_specs, socket_options
from tickwire.tuning._catalogue import KINDS, check_value, parse_overrides, select


def test_catalogue_covers_every_kind_and_both_profiles():
    knobs = load_catalogue()
    assert {k.kind for k in knobs} == set(KINDS)
    assert len({k.id for k in knobs}) == len(knobs)
    for knob in knobs:
        assert knob.why and knob.source and knob.risk in ("low", "medium", "high")
    assert any(k.wanted("baseline") is not None for k in knobs)
    assert sum(k.wanted("latency") is not None for k in knobs) > 50


def test_socket_options_come_from_the_catalogue():
    opts = socket_options("latency")
    by_key = {k.key: k.wanted("latency") for k in load_catalogue() if k.kind == "sockopt"}
    assert opts == {name: value for name, value in by_key.items() if value is not None}
    assert opts["TCP_NODELAY"] == 1 and opts["SO_BUSY_POLL"] > 0
    assert "SO_BUSY_POLL" not in socket_options("baseline")
    specs = {s.name: s for s in socket_option_specs()}
    assert specs["TCP_NODELAY"].level == socket.IPPROTO_TCP and specs["TCP_NODELAY"].optname == socket.TCP_NODELAY


def test_apply_socket_options_on_a_real_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        granted = apply_socket_options(sock, "latency")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert granted["TCP_NODELAY"] == 1
    assert granted["TCP_NOTSENT_LOWAT"] == socket_options()["TCP_NOTSENT_LOWAT"]


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(TuningError, match="unknown profile 'fast'.*latency, baseline"):
        socket_options("fast")


def test_selection_and_overrides_reject_unknown_names_and_ranges():
    knobs = load_catalogue()
    assert {k.group for k in select(knobs, "net,vm")} == {"net", "vm"}
    assert [k.id for k in select(knobs, "net.busy_read")] == ["net.busy_read"]
    with pytest.raises(TuningError, match="unknown group or knob nope"):
        select(knobs, "net,nope")
    with pytest.raises(TuningError, match="outside 0..1000"):
        parse_overrides(knobs, ["net.busy_read=5000"])
    with pytest.raises(TuningError, match="unknown knob"):
        parse_overrides(knobs, ["net.nope=1"])
    with pytest.raises(TuningError, match="expected one of"):
        parse_overrides(knobs, ["vm.thp_enabled=sometimes"])
    assert parse_overrides(knobs, ["net.busy_read=100"]) == {"net.busy_read": 100}
    thp = next(k for k in knobs if k.id == "vm.thp_enabled")
    assert check_value(thp, "never") == "never"


def test_a_catalogue_with_an_out_of_range_value_does_not_load(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[knob]]\nid = "x"\ngroup = "net"\nkind = "sysctl"\nkey = "net.core.busy_read"\n'
                   'latency = 99999\nformat = "int"\nmin = 0\nmax = 1000\nwhy = "w"\nsource = "s"\n'
                   'reboot = false\nrisk = "low"\ntag = "sysctl"\n')
    with pytest.raises(TuningError, match="knob x: bad value '99999'"):
        load_catalogue(bad)
    bad.write_text(bad.read_text().replace('kind = "sysctl"', 'kind = "registry"').replace("99999", "1"))
    with pytest.raises(TuningError, match="kind 'registry'"):
        load_catalogue(bad)


def test_tune_list_prints_the_catalogue():
    cli = [sys.executable, "-m", "tickwire.cli", "tune", "list"]
    out = subprocess.run([*cli, "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    listed = json.loads(out.stdout)
    assert [k["id"] for k in listed] == [k.id for k in load_catalogue()]
    assert {"id", "kind", "key", "values", "why", "source", "reboot", "risk"} <= set(listed[0])
    bad = subprocess.run([*cli, "--only", "nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown group or knob nope" in bad.stderr
