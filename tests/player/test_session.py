"""The playback model and QoE on movies and traces whose outcome is worked out by hand."""

from __future__ import annotations

import pytest

from player import abr, trace
from player.movie import Movie
from player.network import Network
from player.qoe import qoe, summarise
from player.session import Session


def movie(rates, n, seg=1.0, vmaf=None):
    return Movie(seg, tuple(rates), tuple(tuple(r * seg for r in rates) for _ in range(n)), vmaf)


def run(m, t, name, **kw):
    return Session(m, Network(t), abr.make(name), **kw).run()


def test_fast_network_first_segment_lowest_then_top():
    # 0.5 Mb first at 10 Mb/s: 0.05 s startup; the estimate (10 Mb/s) x 0.9 fits 2 Mb/s; no stall
    r = run(movie([0.5e6, 2e6], 5), trace.steady(10e6, latency_s=0.0), "throughput")
    q = qoe(r)
    assert [p[2] for p in r.played] == [0, 1, 1, 1, 1]
    assert q.startup_s == pytest.approx(0.05)
    assert q.total_time_s == pytest.approx(5.05)
    assert q.rebuffer_ratio == 0 and q.rebuffer_count == 0
    assert q.time_average_bitrate_kbps == pytest.approx((0.5e6 + 4 * 2e6) / 5.05 / 1000)
    assert q.switches == 1 and q.mean_bitrate_change_kbps == pytest.approx(1500 / 4)
    assert q.qoe_lin == pytest.approx((0.5 + 8 - 1.5) / 5)
    assert q.bytes_downloaded == (0.5e6 + 4 * 2e6) / 8


def test_slow_network_stalls_once_per_segment():
    # 1 Mb segments at 0.5 Mb/s take 2 s each: 2 s startup, then every segment plays 1 s and stalls 1 s
    r = run(movie([1e6], 3), trace.steady(0.5e6, latency_s=0.0), "bola")
    q = qoe(r)
    assert q.startup_s == pytest.approx(2.0)
    assert [(s.start, s.duration) for s in r.stalls] == [(pytest.approx(3.0), pytest.approx(1.0)),
                                                         (pytest.approx(5.0), pytest.approx(1.0))]  # fmt: skip
    assert q.total_time_s == pytest.approx(7.0)
    assert q.rebuffer_ratio == pytest.approx(2 / 7) and q.rebuffer_count == 2
    assert q.qoe_lin == pytest.approx((3 - 4.3 * 2) / 3)
    s = summarise([q, qoe(run(movie([1e6], 3), trace.steady(10e6, latency_s=0.0), "bola"))])
    assert s.stall_share == 0.5 and s.sessions == 2


def test_startup_threshold_and_full_buffer_waits():
    # 4 s of buffer before playing: 4 downloads of 0.1 s; a 3 s buffer cap then paces downloads to playback
    m = movie([1e6], 10)
    r = run(m, trace.steady(10e6, latency_s=0.0), "bba", startup=4.0, max_buffer=5.0)
    q = qoe(r)
    assert q.startup_s == pytest.approx(0.4)
    assert q.rebuffer_s == 0
    assert q.total_time_s == pytest.approx(10.4)
    assert max(d.buffer_after for d in r.downloads) <= 5.0 + 1e-9


def test_a_session_longer_than_the_title_loops_its_segments():
    m = Movie(2.0, (1e6, 2e6), ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0)))
    long = m.looped(13)
    assert long.segments == 7 and long.title_segments == 3
    assert long.sizes[3] == (1.0, 2.0) and long.source_index(5) == 2
    r = run(Movie(1.0, (1e6,), ((1e6,),) * 3).looped(10), trace.steady(5e6), "bola")
    assert len(r.played) == 10


def test_a_short_last_segment_plays_for_its_own_duration_every_loop():
    # a 5 s title: 2 s, 2 s and a 1 s last segment; 12 s of session are 2+2+1+2+2+1+2 = 7 segments
    m = Movie(2.0, (1e6,), ((2e6,), (2e6,), (1e6,)), durations=(2.0, 2.0, 1.0))
    long = m.looped(12)
    assert long.segments == 7 and long.duration == 12.0 and long.durations[5] == 1.0
    assert long.start_of(6) == 10.0 and long.index_at(9.5) == 5
    # 10 Mb/s, no latency: every segment arrives well ahead (0.2 s for a 2 s one), so nothing stalls and
    # the session lasts the first download plus 12 s of media, not 7 x 2 s
    q = qoe(run(long, trace.steady(10e6, latency_s=0.0), "throughput"))
    assert q.segments == 7 and q.rebuffer_count == 0 and q.rebuffer_s == 0
    assert q.total_time_s == pytest.approx(0.2 + 12.0)
    assert q.time_average_bitrate_kbps == pytest.approx(1000 * 12.0 / 12.2)


def test_seek_empties_the_buffer_and_waits_without_counting_a_stall():
    m = movie([1e6], 20)
    r = run(m, trace.steady(4e6, latency_s=0.0), "throughput", seeks=[(5.0, 15.0)])
    q = qoe(r)
    indices = [i for _, i, _ in r.played]
    assert indices[-1] == 19 and 15 in indices and 10 not in indices
    assert q.rebuffer_s == 0 and q.seek_wait_s == pytest.approx(0.25)


def test_throughput_rule_abandons_when_the_network_collapses():
    m = movie([0.3e6, 1e6, 4e6], 8, seg=2.0)
    t = trace.step([(1.0, 20e6), (60.0, 0.4e6)], latency_s=0.0)
    r = run(m, t, "throughput")
    abandoned = [d for d in r.downloads if d.abandoned]
    assert abandoned and all(d.abandoned_to < d.quality and d.downloaded < d.size for d in abandoned)
    # as in Sabre, the segment is asked for again at a fresh choice (the estimate has not moved)...
    after = r.downloads[r.downloads.index(abandoned[0]) + 1]
    assert after.index == abandoned[0].index and after.quality == abandoned[0].quality
    # ... unless the player honours the rendition it abandoned to, as dash.js does
    honour = run(m, t, "throughput", abandon_to_target=True)
    first = next(d for d in honour.downloads if d.abandoned)
    after = honour.downloads[honour.downloads.index(first) + 1]
    assert after.index == first.index and after.quality == first.abandoned_to
    assert qoe(honour).rebuffer_s < qoe(r).rebuffer_s
    off = run(m, t, "throughput", abandon=False)
    assert not any(d.abandoned for d in off.downloads)
    assert qoe(off).rebuffer_s > qoe(r).rebuffer_s
