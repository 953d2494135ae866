"""The network model and trace readers, on traces small enough to work out by hand."""

from __future__ import annotations

import json

import pytest

from player import trace
from player.errors import BadTrace
from player.network import Network


def test_latency_then_bits_at_the_period_rates():
    net = Network(trace.step([(1.0, 1e6), (1.0, 2e6)], latency_s=0.1))
    assert net.first_bit() == pytest.approx(0.1)
    # 0.9 s left at 1 Mb/s moves 0.9 Mb, the other 1.1 Mb take 0.55 s at 2 Mb/s
    assert net.transfer(2e6) == pytest.approx(1.45)
    assert net.now == pytest.approx(1.55)


def test_latency_crossing_a_period_continues_pro_rata_and_the_trace_loops():
    t = trace.Trace("t", (trace.Period(0.05, 1e6, 0.1), trace.Period(1.0, 1e6, 0.2)))
    net = Network(t)
    # half the first latency fits in 0.05 s; the other half costs half of 0.2 s
    assert net.first_bit() == pytest.approx(0.15)
    net.wait(1.0)  # 0.1 s left in period 2, then loops into period 1 again for 0.05 s, then 0.85 s of period 2
    assert net.now == pytest.approx(1.15)
    assert net.latency == pytest.approx(0.2)


def test_progress_steps_are_at_least_50ms_and_12000_bits():
    net = Network(trace.steady(1e6))
    assert net.transfer_step(1e6) == (pytest.approx(50000), pytest.approx(0.05))
    fast = Network(trace.steady(1e9))
    assert fast.transfer_step(1e9) == (pytest.approx(5e7), pytest.approx(0.05))
    assert fast.transfer_step(100.0) == (pytest.approx(100.0), pytest.approx(1e-7))


def test_text_sabre_and_mahimahi_readers(tmp_path):
    text = tmp_path / "t.log"
    text.write_text("0.0 2.0\n1.0 4.0\n3.0 1.0\n")
    t = trace.load(text, latency_s=0.05)
    assert [(p.duration, p.bandwidth, p.latency) for p in t.periods] == [
        (1.0, 2e6, 0.05), (2.0, 4e6, 0.05), (2.0, 1e6, 0.05)
    ]  # fmt: skip
    assert t.mean_bandwidth == pytest.approx((2 + 8 + 2) / 5 * 1e6)

    sabre = tmp_path / "n.json"
    sabre.write_text(json.dumps([{"duration_ms": 500, "bandwidth_kbps": 300, "latency_ms": 20}]))
    assert trace.load(sabre).periods == (trace.Period(0.5, 3e5, 0.02),)

    mm = tmp_path / "mm"
    mm.write_text("\n".join(str(ms) for ms in range(200)) + "\n")  # one 1500-byte packet per ms
    t = trace.load(mm, bin_ms=100)
    assert [p.bandwidth for p in t.periods] == [pytest.approx(12e6)] * 2


@pytest.mark.parametrize("body", ["", "0 x\n", "[{}]", "0 0\n1 0\n", "5 1\n4 1\n"])
def test_bad_traces_are_one_line_errors(tmp_path, body):
    f = tmp_path / "bad"
    f.write_text(body)
    with pytest.raises(BadTrace, match="bad"):
        trace.load(f)


def test_synthetic_traces():
    m1 = trace.markov([1e6, 3e6, 6e6], duration=100, seed=7)
    m2 = trace.markov([1e6, 3e6, 6e6], duration=100, seed=7)
    assert m1 == m2 and len(m1.periods) == 100
    assert len({round(p.bandwidth / 1e6) for p in m1.periods}) > 1
    assert trace.markov([1e6], duration=10, seed=1) != trace.markov([1e6], duration=10, seed=2)
    assert trace.steady(2e6).mean_bandwidth == 2e6
    assert trace.step([(1, 1e6), (3, 3e6)]).mean_bandwidth == pytest.approx(2.5e6)
