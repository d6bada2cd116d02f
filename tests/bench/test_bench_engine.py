"""Engine vs the plain baseline client on the same simulator in the same run (opt-in), plus a smoke test."""
from __future__ import annotations

import json
import math

import pytest

from tickwire.bench.report import markdown, write
from tickwire.bench.scenarios import BASELINE, BASELINE_LOGGED, SCENARIOS, run_bench
from tickwire.md.wire import WIRE_ROWS

# the first engine in a process compiles the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)



@pytest.mark.bench
def test_bench_ours_vs_baseline(tmp_path):
    result = run_bench("all", duration_s=20.0)
    files = write(result, tmp_path)
    print("\n" + markdown(result))
    print("report:", ", ".join(map(str, files)))
    for c in result.comparisons:
        assert c.ours.count > 50 and c.baseline.count > 50
        print(f"{c.scenario}: p50 ratio {c.ratio_p50:.3f}, p99 ratio {c.ratio_p99:.3f} (goal p50 <= 0.5)")


def _every_row_sampled(result) -> bool:
    return (all(c.ours.count > 0 and c.baseline.count > 0 for c in result.comparisons)
            and all(rows[WIRE_ROWS[0]].count > 0 for rows in result.clients.values()))


def test_bench_smoke_writes_a_report(tmp_path):
    """A second per client, longer only while a client has no sample yet (a loaded host can leave a client's
    first book message behind its first order): every scenario produces samples on both sides and a full
    report."""
    for duration_s in (1.0, 3.0, 9.0):
        result = run_bench("all", duration_s=duration_s)
        if _every_row_sampled(result):
            break
    assert [c.scenario for c in result.comparisons] == list(SCENARIOS)
    for c in result.comparisons:
        assert c.ours.count > 0 and c.baseline.count > 0, c.scenario
        assert math.isfinite(c.ratio_p50) and c.ratio_p50 > 0
    md, png, js = write(result, tmp_path)
    assert "| orders |" in md.read_text() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(js.read_text())["comparisons"][0]["scenario"] == "orders"
    # the run was recorded: every client has the wire rows, every round trip of it found in the capture
    assert set(result.clients) == {"ours (async)", BASELINE, BASELINE_LOGGED}
    for client in result.clients:
        assert result.clients[client][WIRE_ROWS[0]].count > 0, client
        assert result.wire_counts[client]["order_round_trips_not_in_capture"] == 0, client
    for client in ("ours (async)", BASELINE):
        assert all(result.clients[client][row].count > 0 for row in WIRE_ROWS), client
    assert "## Before / after" in md.read_text() and result.notes[0].startswith("engine on CPU")


def test_unknown_scenario_or_driver_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown scenario 'latency'"):
        run_bench("latency", duration_s=0.1)
    with pytest.raises(ValueError, match="unknown driver 'warp'"):
        run_bench("all", duration_s=0.1, drivers=("warp",))
