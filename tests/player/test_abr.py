"""Each algorithm's defining behaviour on hand-made movies and traces."""

from __future__ import annotations

import math

import pytest

from player import abr, trace
from player.abr.bba import Bba
from player.abr.bola import Bola, BolaE
from player.errors import UnknownAbr
from player.estimate import DualEwma
from player.movie import Movie
from player.network import Network
from player.qoe import qoe
from player.records import Player
from player.session import Session

RATES = (0.5e6, 1e6, 2e6, 4e6)


def movie(n=40, seg=2.0, vmaf=None):
    return Movie(seg, RATES, tuple(tuple(r * seg for r in RATES) for _ in range(n)), vmaf)


def player(m, level, tput=None, max_buffer=25.0):
    p = Player(m, max_buffer, DualEwma(m.segment_duration))
    if tput is not None:
        p.estimator.push(1.0, tput, 0.0)
    for _ in range(math.ceil(level / m.segment_duration)):
        p.push(0, m.segment_duration)
    p.consumed = p.buffered - level
    return p


def test_dual_ewma_takes_the_lower_throughput_and_corrects_its_zero_start():
    e = DualEwma(2.0)
    e.push(1.0, 4e6, 0.1)
    assert e.throughput == pytest.approx(4e6) and e.latency == pytest.approx(0.1)
    e.push(1.0, 1e6, 0.1)
    # the 3 s half-life forgets faster, so it is the lower of the two after a drop
    a = 0.5 ** (1 / 3)
    fast = (a * (1 - a) * 4e6 + (1 - a) * 1e6) / (1 - 0.5 ** (2 / 3))
    assert e.throughput == pytest.approx(fast)


def test_bba_rate_map_and_hysteresis():
    b = Bba(reservoir=5, cushion=10)
    b.start(player(movie(), 0))
    assert b.rate_map(4) == 0.5e6 and b.rate_map(15) == 4e6 and b.rate_map(10) == pytest.approx(2.25e6)
    for level, want in [(4, 0), (10.5, 2), (7.0, 2), (6.0, 1), (16, 3)]:
        b.player = player(movie(), level)
        assert b.choose(5)[0] == want, level


def test_bola_picks_by_buffer_capped_one_above_throughput():
    m = movie(n=100)
    b = Bola()
    b.start(player(m, 0, 100e6))
    u_top = math.log(8)
    v = (25 - 2) / (u_top + 5)

    # the rendition maximising (V(u+gp) - level)/bitrate, worked out for each level
    def expected(level):
        scores = [(v * (math.log(r / RATES[0]) + 5) - level) / r for r in RATES]
        return scores.index(max(scores))

    for level in (1.0, 8.0, 14.0, 20.0):
        b.player = player(m, level, 100e6)
        b.last_quality = 3
        assert b.choose(50)[0] == expected(level), level
    # low throughput: it may step up only one rendition above what the throughput supports
    b.player = player(m, 20.0, 0.6e6)
    b.last_quality = 0
    assert expected(20.0) == 3 and b.choose(50)[0] == 1


def test_bolae_starts_at_the_throughput_rendition_with_a_placeholder():
    m = movie()
    b = BolaE()
    p = player(m, 2.0, 3e6)
    b.start(p)
    q, delay = b.choose(1)
    assert q == 2 and delay == 0  # 2 Mb/s fits 3 Mb/s, 4 does not
    assert b.placeholder == pytest.approx(max(0.0, b.min_buffer_for(2) - 2.0)) and b.placeholder > 0


@pytest.mark.parametrize("name", sorted(abr.ALGORITHMS))
def test_every_algorithm_plays_a_steady_network_without_stalling(name):
    r = Session(movie(30), Network(trace.steady(6e6)), abr.make(name)).run()
    q = qoe(r)
    assert q.rebuffer_s == 0 and len(r.played) == 30
    assert q.time_average_bitrate_kbps > 1500, name


@pytest.mark.parametrize("name", sorted(abr.ALGORITHMS))
def test_every_algorithm_plays_a_title_of_one_rendition(name):
    one = Movie(2.0, (1e6,), tuple((2e6,) for _ in range(10)), None)
    r = Session(one, Network(trace.steady(3e6)), abr.make(name)).run()
    assert len(r.played) == 10 and qoe(r).rebuffer_s == 0


def test_mpc_stays_low_on_a_slow_network_and_climbs_on_a_fast_one():
    slow = qoe(Session(movie(30), Network(trace.steady(0.7e6)), abr.make("mpc")).run())
    fast = qoe(Session(movie(30), Network(trace.steady(20e6)), abr.make("mpc")).run())
    assert slow.rebuffer_ratio < 0.02 and slow.time_average_bitrate_kbps < 700
    assert fast.time_average_bitrate_kbps > 3500


def test_quality_aware_does_not_pay_for_vmaf_it_cannot_see():
    # renditions 2 and 3 look the same (VMAF 95): the quality-aware algorithm stops at 2, MPC buys 3
    vmaf = tuple((60.0, 85.0, 95.0, 95.0) for _ in range(30))
    m = movie(30, vmaf=vmaf)
    qa = Session(m, Network(trace.steady(8e6)), abr.make("quality")).run()
    mpc = Session(m, Network(trace.steady(8e6)), abr.make("mpc")).run()
    assert 3 not in [q for _, _, q in qa.played] and 2 in [q for _, _, q in qa.played]
    assert 3 in [q for _, _, q in mpc.played]
    assert qoe(qa).time_average_vmaf == pytest.approx(qoe(mpc).time_average_vmaf, abs=2)
    assert qoe(qa).bytes_downloaded < qoe(mpc).bytes_downloaded


def test_unknown_algorithm():
    with pytest.raises(UnknownAbr, match="nope"):
        abr.make("nope")
