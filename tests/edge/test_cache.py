"""The byte-bounded LRU, the disk tier and request coalescing (in one event loop, no server)."""

from __future__ import annotations

import asyncio
import time

import pytest

from edge.cache import Cache, Coalescer, DiskTier, Entry, MemoryLRU
from tests.edge.aio import aio, until


def entry(body: bytes, ttl: float = 60, *, compress: bool = False) -> Entry:
    return Entry.make(body, content_type="video/mp4", etag='"e"', ttl=ttl, last_modified=None, compress=compress)


def test_lru_stays_under_its_byte_bound_and_evicts_least_recently_used():
    lru = MemoryLRU(3 * entry(b"x" * 1000).size, max_entry=2000, admit=False)
    for k in "abc":
        assert lru.put(k, entry(b"x" * 1000)) == []
    lru.get("a")  # a is now the most recent
    evicted = lru.put("d", entry(b"x" * 1000))
    assert [k for k, _ in evicted] == ["b"]
    assert "a" in lru and "d" in lru and "b" not in lru
    assert lru.bytes <= lru.capacity
    too_big = entry(b"x" * 2000)
    assert lru.put("big", too_big) == [("big", too_big)]
    assert "big" not in lru


def test_admission_keeps_what_is_asked_for_often_from_one_off_objects():
    one = entry(b"x" * 1000)
    lru = MemoryLRU(3 * one.size, max_entry=2000)
    for k in "abc":  # room for all three: no admission question yet
        assert lru.get(k) is None
        assert lru.put(k, entry(b"x" * 1000)) == []
    for _ in range(3):
        lru.get("a")
    lru.get("b")
    # Least recently used is c (one lookup): a new key asked for once does not beat it...
    assert lru.get("d") is None
    d = entry(b"x" * 1000)
    assert lru.put("d", d) == [("d", d)]
    assert "d" not in lru and "c" in lru and lru.bytes <= lru.capacity
    # ...asked for a second time it does, and pushes out c, not the frequently read a.
    assert lru.get("d") is None
    assert [k for k, _ in lru.put("d", entry(b"x" * 1000))] == ["c"]
    assert "a" in lru and "b" in lru and "d" in lru
    # Needing two entries' room, a key must beat both: b and d (2 lookups each) hold off a key asked for
    # twice.
    lru.get("a")  # least recently used first: b, d, a
    big = entry(b"y" * 1700)
    lru.get("big"), lru.get("big")
    assert lru.put("big", big) == [("big", big)]
    lru.get("big")
    assert [k for k, _ in lru.put("big", big)] == ["b", "d"]
    # A key already held is replaced whatever its count.
    assert lru.put("big", entry(b"z" * 1700)) == [] and lru.peek("big").body == b"z" * 1700


def test_admission_counts_fade():
    lru = MemoryLRU(10_000)
    for _ in range(8):
        lru.count("old")
    for i in range(MemoryLRU._AGE_MIN):  # a table's worth of other lookups halves every count
        lru.count(f"k{i % 7}")
    assert lru.frequency("old") == 4
    assert len(lru._freq) <= 8  # keys seen once are forgotten at a halving


def test_manifest_entries_carry_gzip_once():
    text = b"#EXTM3U\n" + b"#EXTINF:2.000,\nvideo/1.m4s\n" * 200
    e = entry(text, compress=True)
    assert e.gz is not None and len(e.gz) < len(text) // 5
    assert entry(b"\x00\x01", compress=True).gz is None  # gzip would grow it


@aio
async def test_disk_tier_takes_memory_evictions_and_gives_them_back(tmp_path):
    one = entry(b"y" * 4000)
    cache = Cache(one.size * 2, disk=DiskTier(tmp_path / "disk", one.size * 10), max_entry=one.size, admit=False)
    for i in range(6):
        await cache.put(f"k{i}", entry(bytes([i]) * 4000))
    await cache.drain()
    assert cache.memory.bytes <= one.size * 2
    assert len(cache.disk) == 4
    back = await cache.get("k0")
    assert back is not None and back.body == bytes([0]) * 4000
    assert "k0" in cache.memory
    await cache.drain()  # the promotion pushed another entry down
    # The disk tier is bounded too, and a new tier empties its folder of old objects.
    small = DiskTier(tmp_path / "disk", one.size * 2)
    assert list((tmp_path / "disk").glob("*.obj")) == []
    for i in range(5):
        await small.put(f"s{i}", entry(b"z" * 4000))
    assert len(small) == 2 and small.bytes <= one.size * 2
    assert len(list((tmp_path / "disk").glob("*.obj"))) == 2


def test_expiry():
    e = entry(b"x", ttl=5)
    assert e.fresh()
    assert not e.fresh(time.monotonic() + 5)


@aio
async def test_coalescer_runs_one_fetch_for_many_waiters_and_releases_them_together():
    co: Coalescer[bytes] = Coalescer()
    gate = asyncio.Event()
    calls = 0
    released: list[float] = []

    async def fetch() -> bytes:
        nonlocal calls
        calls += 1
        await gate.wait()
        return b"body"

    async def waiter() -> tuple[bytes, bool]:
        got = await co.run("k", fetch)
        released.append(asyncio.get_running_loop().time())
        return got

    tasks = [asyncio.create_task(waiter()) for _ in range(100)]
    await until(lambda: co.waiting("k"), what="the fetch to start")
    await asyncio.sleep(0)
    set_at = asyncio.get_running_loop().time()
    gate.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert [r[0] for r in results] == [b"body"] * 100
    assert sum(joined for _, joined in results) == 99
    assert max(released) - set_at < 0.05  # all woken by the one completion, not by a polling tick
    assert not co.waiting("k")


@aio
async def test_coalescer_errors_reach_every_waiter_and_the_next_call_retries():
    co: Coalescer[bytes] = Coalescer()
    gate = asyncio.Event()

    async def failing() -> bytes:
        await gate.wait()
        raise RuntimeError("upstream 503")

    tasks = [asyncio.create_task(co.run("k", failing)) for _ in range(10)]
    await until(lambda: co.waiting("k"))
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def ok() -> bytes:
        return b"fine"

    assert await co.run("k", ok) == (b"fine", False)


@aio
async def test_a_cancelled_leader_does_not_strand_its_waiters():
    co: Coalescer[bytes] = Coalescer()
    gate = asyncio.Event()
    calls = 0

    async def fetch() -> bytes:
        nonlocal calls
        calls += 1
        await gate.wait()
        return b"body"

    leader = asyncio.create_task(co.run("k", fetch))
    await until(lambda: co.waiting("k"))
    waiters = [asyncio.create_task(co.run("k", fetch)) for _ in range(5)]
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    gate.set()
    assert [await w for w in waiters] == [(b"body", True)] * 5
    assert calls == 1
