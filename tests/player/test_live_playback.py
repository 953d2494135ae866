"""The live playhead and the catch-up rule on their own, in made-up time: no channel, no clock."""

from __future__ import annotations

import math

import pytest

from player.live_playback import CatchUp, Playhead

T0 = 1_000_000.0  # a wall-clock instant; media times are on the same clock
TARGET = 1.5


def test_catch_up_follows_dash_js_default_rule():
    c = CatchUp()  # 0.9-1.1x
    # behind the target: (1 - c) + 2c / (1 + e^(-5 d)) with c = playbackRate.max
    assert c.rate(TARGET + 1.0, TARGET, 2.0, 1.0, False) == pytest.approx(0.9 + 0.2 / (1 + math.exp(-5)))
    # too close: slower than real time, by playbackRate.min at most
    slow = c.rate(TARGET - 0.5, TARGET, 1.0, 1.0, False)
    assert 0.9 <= slow < 1.0 and slow == pytest.approx(0.9 + 0.2 / (1 + math.exp(2.5)))
    assert c.rate(TARGET + 0.01, TARGET, 2.0, 1.05, False) == 1.0  # within min_drift: real time
    assert c.rate(TARGET + 2.0, TARGET, 2.0, 1.0, True) == 1.0  # the buffer ran dry: real time until it refills
    assert c.rate(TARGET + 2.0, TARGET, 0.3, 1.0, False) == 1.0  # too little buffered to speed up
    assert c.rate(TARGET + 0.3, TARGET, 2.0, 1.0641, False) == 1.0641  # a change below 0.004 is not made
    wide = CatchUp(min_rate=-0.5, max_rate=0.5)  # dash.js's own default range
    assert 1.45 < wide.rate(TARGET + 3.0, TARGET, 3.0, 1.0, False) <= 1.5


def _playhead(**kw) -> Playhead:
    return Playhead(T0, TARGET, CatchUp(), resume_s=0.5, **kw)


def test_latency_is_the_wall_clock_less_the_date_of_what_is_shown():
    ph = _playhead()
    ph.begin_at(T0 - 3.0)
    ph.at_edge = True
    for k in range(8):  # 4 s of media from 3 s before the session
        ph.push(T0 - 3.0 + 0.5 * k, 0.5, 0)
    ph.advance(T0 + 2.0)
    # playback began at once, one target behind the clock: what lay before that was skipped
    assert ph.started_at == T0 and ph.samples[0].latency_s == pytest.approx(TARGET)
    assert [s.t_s for s in ph.samples] == [0.5, 1.0, 1.5, 2.0]
    assert all(s.state == "playing" and s.rate == 1.0 for s in ph.samples)
    assert ph.level() == pytest.approx(0.5)  # media up to T0 + 1, shown up to T0 + 2 - TARGET
    assert ph.stalls == []


def test_a_buffer_that_runs_dry_is_one_stall_and_latency_grows_through_it():
    ph = _playhead()
    ph.begin_at(T0 - TARGET)
    ph.at_edge = True
    ph.push(T0 - TARGET, 1.0, 0)
    ph.advance(T0 + 3.0)  # 1 s plays, then 2 s with nothing
    assert len(ph.stalls) == 1
    assert ph.stalls[0].start == pytest.approx(1.0) and ph.stalls[0].duration == pytest.approx(2.0)
    stalled = [s for s in ph.samples if s.state == "stalled"]
    assert [s.latency_s for s in stalled] == pytest.approx([TARGET + 0.5, TARGET + 1.0, TARGET + 1.5, TARGET + 2.0])
    ph.push(T0 - TARGET + 1.0, 0.25, 1)  # less than resume_s: still stalled
    ph.advance(T0 + 3.5)
    assert len(ph.stalls) == 1 and ph.stalls[0].duration == pytest.approx(2.5)
    ph.push(T0 - TARGET + 1.25, 1.0, 1)
    ph.advance(T0 + 4.0)
    assert ph.samples[-1].state == "playing" and ph.samples[-1].rendition is None  # no labels given
    assert ph.played == [(0, pytest.approx(1.0)), (1, pytest.approx(0.5))]


def _dry_at_one_second() -> Playhead:
    ph = _playhead()
    ph.begin_at(T0 - TARGET)
    ph.at_edge = True
    ph.push(T0 - TARGET, 1.0, 0)
    ph.advance(T0 + 1.5)  # ran dry at T0 + 1, waiting for parts
    assert len(ph.stalls) == 1
    return ph


def test_the_end_plays_out_and_the_wait_for_it_is_no_stall():
    ph = _dry_at_one_second()
    ph.drain()  # the playlist ended: nothing more was coming, so that was the stream's end
    assert ph.stalls == []
    ph = _dry_at_one_second()
    ph.push(T0 - TARGET + 1.0, 0.2, 0)  # one more, short, part came, then the end
    ph.drain()
    assert len(ph.stalls) == 1 and ph.level() == pytest.approx(0.0)
    assert sum(m for _, m in ph.played) == pytest.approx(1.2)


def test_far_behind_it_asks_for_a_seek_and_the_wait_after_it_is_no_stall():
    ph = Playhead(T0, TARGET, CatchUp(max_drift=1.0), resume_s=0.5)
    ph.begin_at(T0 - 6.0)
    ph.at_edge = True
    ph.push(T0 - 6.0, 2.0, 0)  # all there is ends 4 s ago: it starts as late as it must, 4.5 s behind
    ph.advance(T0 + 0.5)
    assert ph.samples[0].latency_s == pytest.approx(4.5) and ph.seek_wanted  # 3 s past the target
    ph.flush()
    ph.advance(T0 + 1.5)
    assert ph.samples[-1].state == "seeking" and ph.stalls == [] and ph.waiting == pytest.approx(1.0)
    ph.begin_at(T0 + 1.5 - TARGET)
    ph.push(T0 + 1.5 - TARGET, 1.0, 0)
    ph.advance(T0 + 2.0)
    assert ph.samples[-1].state == "playing" and ph.samples[-1].latency_s == pytest.approx(TARGET, abs=0.01)
