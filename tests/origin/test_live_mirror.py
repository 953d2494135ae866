"""The live mirror against a real SeaweedFS: files land under live/<channel>/ in order, drops delete
them, and an origin that goes away is counted and reported, never raised into the channel."""

from __future__ import annotations

from origin import layout
from origin.live_mirror import LiveMirror
from origin.store import Store
from tests.wait import wait_for


def test_files_are_mirrored_and_dropped(origin, tmp_path):
    store = Store(origin)
    files = []
    for i in range(3):
        f = tmp_path / f"seg-0-{i + 1}.m4s"
        f.write_bytes(bytes([i]) * (1000 + i))
        files.append(f)
    with LiveMirror(origin, "mirrored") as mirror:
        for f in files:
            mirror.put(f)
        mirror.drop(files[0].name)
    stats = mirror.stats
    assert (stats.stored, stats.deleted, stats.failed, stats.pending) == (3, 1, 0, 0)
    assert stats.sent_bytes == sum(f.stat().st_size for f in files)
    prefix = store.key(layout.live_root("mirrored")) + "/"
    assert sorted(store.list(prefix)) == [prefix + f.name for f in files[1:]]
    assert store.get(prefix + files[2].name) == files[2].read_bytes()
    assert mirror.remove_all() == 2 and store.list(prefix) == {}


def test_an_origin_that_goes_away_is_counted_not_raised(seaweed_factory, tmp_path):
    sw = seaweed_factory()
    f = tmp_path / "seg-0-1.m4s"
    f.write_bytes(b"x" * 100)
    mirror = LiveMirror(sw.origin(), "gone")
    mirror.put(f)
    wait_for(lambda: mirror.stats.stored == 1, "the first file stored", 10)
    sw.down()
    mirror.put(f)
    mirror.put(tmp_path / "seg-0-2.m4s")  # never written: reported, not raised
    stats = wait_for(lambda: (s := mirror.stats).failed == 2 and s, "both failures counted", 60)
    assert stats.stored == 1 and stats.last_error
    mirror.close()
