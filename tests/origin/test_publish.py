"""Publishing to a real SeaweedFS with real boto3: what is stored, in which order, and what never is."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import threading
import time
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from origin.errors import KeyMaterialFound, NotAPackage, NotPublished, OriginUnreachable
from origin.files import IMMUTABLE, MANIFEST, POINTER
from origin.pointers import current, rollback, unpublish
from origin.publish import publish
from origin.records import Publication
from packager.keys import KeyStore
from vodflow.errors import UsageError


def _tracked(origin):
    """A client whose writes are recorded as (phase, key) with start and end, via boto3 events."""
    s3 = origin.client()
    events: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def before(params, model, context, **_):
        context["vf_key"] = params.get("Key", "")
        with lock:
            events.append(("start", model.name, params.get("Key", "")))

    def after(model, context, **_):
        with lock:
            events.append(("done", model.name, context.get("vf_key", "")))

    s3.meta.events.register("before-parameter-build.s3", before)
    s3.meta.events.register("after-call.s3", after)
    return s3, events


WRITES = {
    "PutObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "DeleteObject",
    "DeleteObjects",
}


def _writes(events):
    return [e for e in events if e[1] in WRITES]


def test_publish_stores_types_cache_control_and_checksums(origin, pub_packages, pub_keys, tmp_path):
    pkg = pub_packages["none"]
    pub = publish(pkg.root, "clear", origin, keystore=pub_keys, record=tmp_path / "pub.json")
    assert Publication.load(tmp_path / "pub.json") == pub
    assert pub.sent == len(pkg.files) + 2  # every file, the publication record, the pointer
    assert pub.root == origin.location.key("titles", "clear", "v", pub.version)
    assert pub.manifests == {"dash": f"{pub.root}/manifest.mpd", "hls": f"{pub.root}/master.m3u8"}
    s3 = origin.client()
    bucket = origin.location.bucket
    expected = {
        "manifest.mpd": ("application/dash+xml", MANIFEST),
        "master.m3u8": ("application/vnd.apple.mpegurl", MANIFEST),
        "package.json": ("application/json", MANIFEST),
        "video/h264_320x180_crf30max400k/init.mp4": ("video/mp4", IMMUTABLE),
        "video/h264_320x180_crf30max400k/2.m4s": ("video/mp4", IMMUTABLE),
        "video/h264_160x90_crf30max400k/media.m3u8": ("application/vnd.apple.mpegurl", MANIFEST),
        "video/h264_160x90_crf30max400k/iframes.m3u8": ("application/vnd.apple.mpegurl", MANIFEST),
        "audio/aac_128k_eng/init.mp4": ("audio/mp4", IMMUTABLE),
        "audio/opus_96k_fra/3.m4s": ("audio/mp4", IMMUTABLE),
        "text/eng/1.vtt": ("text/vtt", IMMUTABLE),
        "thumbs/sprite.jpg": ("image/jpeg", IMMUTABLE),
        "thumbs/thumbs.vtt": ("text/vtt", MANIFEST),
    }
    assert set(expected) <= {o.path for o in pub.objects}
    for obj in pub.objects:
        head = s3.head_object(Bucket=bucket, Key=obj.key, ChecksumMode="ENABLED")
        local = Path(pkg.root, obj.path).read_bytes()
        assert head["ContentLength"] == len(local) == obj.size
        assert head["ETag"].strip('"') == obj.etag == hashlib.md5(local).hexdigest()
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(local).digest()).decode()
        assert head["Metadata"]["sha256"] == obj.sha256
        if obj.path in expected:
            assert (head["ContentType"], head["CacheControl"]) == expected[obj.path], obj.path
    got = s3.get_object(Bucket=bucket, Key=f"{pub.root}/video/h264_320x180_crf30max400k/1.m4s")["Body"].read()
    assert got == Path(pkg.root, "video/h264_320x180_crf30max400k/1.m4s").read_bytes()
    ptr_head = s3.head_object(Bucket=bucket, Key=pub.pointer)
    assert (ptr_head["ContentType"], ptr_head["CacheControl"]) == ("application/json", POINTER)
    ptr = current(origin, "clear")
    assert (ptr.version, ptr.root, ptr.dash, ptr.hls, ptr.history) == (
        pub.version,
        pub.root,
        "manifest.mpd",
        "master.m3u8",
        [],
    )


def test_republish_sends_nothing(origin, pub_packages, pub_keys):
    first = publish(pub_packages["cenc"].root, "again", origin, keystore=pub_keys)
    s3, events = _tracked(origin)
    second = publish(pub_packages["cenc"].root, "again", origin, keystore=pub_keys, client=s3)
    assert second.version == first.version
    assert second.sent == 0 and second.sent_bytes == 0
    assert _writes(events) == []
    assert [o.etag for o in second.objects] == [o.etag for o in first.objects]


def test_phases_in_order_and_pointer_last(origin, pub_packages, pub_keys):
    s3, events = _tracked(origin)
    pub = publish(pub_packages["cenc"].root, "ordered", origin, keystore=pub_keys, client=s3)
    writes = _writes(events)
    assert {k for _, op, k in writes if op == "PutObject"} == {o.key for o in pub.objects} | {
        pub.pointer,
        origin.location.key("titles", "ordered", "publications", f"{pub.version}.json"),
    }

    def phase(key: str) -> int:
        rel = key.removeprefix(pub.root + "/")
        if key == pub.pointer:
            return 5
        if "/publications/" in key:
            return 4
        if rel in ("manifest.mpd", "master.m3u8", "package.json"):
            return 3
        if rel.endswith(".m3u8") or rel == "thumbs/thumbs.vtt":
            return 2
        return 1

    # Every write of a phase starts only after every write of the phases before it has completed.
    finished: dict[int, int] = {}
    for i, (what, _, key) in enumerate(writes):
        if what == "done":
            finished[phase(key)] = i
    for i, (what, _, key) in enumerate(writes):
        if what == "start":
            earlier = [finished[p] for p in finished if p < phase(key)]
            assert all(e < i for e in earlier), f"{key} started before phase {phase(key) - 1} finished"
    assert writes[-1] == ("done", "PutObject", pub.pointer)
    assert [k for what, _, k in writes if what == "start"][-1] == pub.pointer


def _references(s3, bucket: str, root: str) -> list[str]:
    """Every object key a player starting from ``root``'s master playlist and MPD would fetch."""
    keys = []

    def get(key: str) -> str:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()

    def resolve(base: str, uri: str) -> str:
        return os.path.normpath(os.path.join(os.path.dirname(base), uri))

    master = f"{root}/master.m3u8"
    for line in get(master).splitlines():
        uris = re.findall(r'URI="([^"]+)"', line) if line.startswith("#") else [line.strip()] if line.strip() else []
        for uri in uris:
            playlist = resolve(master, uri)
            keys.append(playlist)
            for pl in get(playlist).splitlines():
                inner = re.findall(r'URI="([^"]+)"', pl) if pl.startswith("#EXT-X-MAP") else []
                if pl.strip() and not pl.startswith("#"):
                    inner.append(pl.strip())
                keys.extend(resolve(playlist, u) for u in inner if not u.startswith(("http", "/", "skd:", "data:")))
    mpd = get(f"{root}/manifest.mpd")
    for init, media in re.findall(r'initialization="([^"]+)"\s+media="([^"]+)"', mpd):
        keys.append(f"{root}/{init}")
        keys.append(f"{root}/{media.replace('$Number$', '1')}")
    return keys


def test_reader_never_sees_a_manifest_with_missing_objects(origin, pub_packages, pub_keys):
    s3 = origin.client(max_connections=4)
    bucket = origin.location.bucket
    seen: list[str] = []
    problems: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            ptr = current(origin, "watched", client=s3)
            if ptr is None:
                seen.append("none")
                continue
            seen.append(ptr.version)
            try:
                refs = _references(s3, bucket, ptr.root)
            except ClientError as exc:
                problems.append(f"{ptr.version}: manifest unreadable: {exc}")
                continue
            for key in refs:
                try:
                    s3.head_object(Bucket=bucket, Key=key)
                except ClientError:
                    problems.append(f"{ptr.version}: {key} missing")

    def observed(version: str) -> None:
        # Each change waits until the reader has seen the version before it (a full read of it, since
        # it appends the next observation only after checking every object of the one before).
        deadline = time.monotonic() + 30
        while seen.count(version) < 2 and t.is_alive() and time.monotonic() < deadline:
            stop.wait(0.01)

    t = threading.Thread(target=reader)
    t.start()
    try:
        a = publish(pub_packages["none"].root, "watched", origin, keystore=pub_keys)
        observed(a.version)
        b = publish(pub_packages["cenc"].root, "watched", origin, keystore=pub_keys)
        observed(b.version)
        rollback(origin, "watched")
        n = len(seen)
        while len(seen) < n + 2 and t.is_alive():  # let the reader see the rolled-back version too
            stop.wait(0.01)
    finally:
        stop.set()
        t.join()
    assert problems == []
    assert {a.version, b.version} <= set(seen)
    # The reader saw "not published", then A, then B, then A again: never a mix.
    order = [v for i, v in enumerate(seen) if i == 0 or seen[i - 1] != v]
    assert order[-3:] == [a.version, b.version, a.version]


def test_rollback_and_unpublish(origin, pub_packages, pub_keys):
    with pytest.raises(NotPublished):
        rollback(origin, "rb")
    a = publish(pub_packages["none"].root, "rb", origin, keystore=pub_keys)
    with pytest.raises(NotPublished, match="no version before"):
        rollback(origin, "rb")
    b = publish(pub_packages["cenc"].root, "rb", origin, keystore=pub_keys)
    assert b.previous == a.version
    assert current(origin, "rb").history == [a.version]
    back = rollback(origin, "rb")
    assert back.version == a.version
    ptr = current(origin, "rb")
    assert (ptr.version, ptr.root, ptr.dash, ptr.history) == (a.version, a.root, "manifest.mpd", [])
    # Publishing B again moves forward and keeps A for the next rollback; nothing of B is re-sent.
    b2 = publish(pub_packages["cenc"].root, "rb", origin, keystore=pub_keys)
    assert b2.version == b.version and b2.sent == 1  # only the pointer
    assert current(origin, "rb").history == [a.version]

    s3, events = _tracked(origin)
    removed = unpublish(origin, "rb", client=s3)
    assert removed == len(a.objects) + len(b.objects) + 3  # two versions, two records, one pointer
    deletes = [e for e in _writes(events) if e[0] == "start"]
    assert deletes[0][1:] == ("DeleteObject", b.pointer)  # players lose the title before its files go
    assert current(origin, "rb") is None
    left = origin.client().list_objects_v2(Bucket=origin.location.bucket, Prefix=origin.location.key("titles", "rb"))
    assert left.get("KeyCount", 0) == 0
    with pytest.raises(NotPublished):
        unpublish(origin, "rb")


def test_published_objects_refuse_anonymous_readers(origin, pub_packages, pub_keys):
    pub = publish(pub_packages["none"].root, "private", origin, keystore=pub_keys)
    anon = boto3.client(
        "s3", endpoint_url=origin.endpoint_url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )
    for key in (pub.pointer, pub.manifests["hls"], pub.objects[0].key):
        with pytest.raises(ClientError) as err:
            anon.get_object(Bucket=origin.location.bucket, Key=key)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def _key_forms(store: KeyStore, title: str) -> list[bytes]:
    forms = []
    for k in store.load(title).keys.values():
        raw = k.key_bytes
        forms += [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw)]
        forms += [base64.b64encode(raw).rstrip(b"="), base64.urlsafe_b64encode(raw).rstrip(b"=")]
    return forms


def test_no_key_material_in_the_bucket(origin, pub_packages, pub_keys):
    for enc in ("cenc", "aes128"):
        publish(pub_packages[enc].root, f"enc-{enc}", origin, keystore=pub_keys)
    s3 = origin.client()
    forms = _key_forms(pub_keys, "multilang")
    scanned = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=origin.location.bucket):
        for obj in page.get("Contents", ()):
            body = s3.get_object(Bucket=origin.location.bucket, Key=obj["Key"])["Body"].read()
            scanned += 1
            assert not any(f in body for f in forms), obj["Key"]
    assert scanned > 2 * len(pub_packages["cenc"].files)
    # The scan can fail: the keys are in the store, in the forms it looks for.
    store_text = pub_keys.path("multilang").read_bytes()
    assert any(f in store_text for f in forms)


def _copy(pkg, dst: Path) -> Path:
    shutil.copytree(pkg.root, dst)
    return dst


def test_key_material_in_a_file_is_refused_before_anything_is_sent(origin, pub_packages, pub_keys, tmp_path):
    key = pub_keys.load("multilang").keys["sd"].key_bytes
    for i, form in enumerate((key.hex(), base64.b64encode(key).decode(), key.hex().upper())):
        d = _copy(pub_packages["cenc"], tmp_path / f"leak{i}")
        playlist = d / "video/h264_320x180_crf30max400k/media.m3u8"
        playlist.write_text(playlist.read_text() + f'#EXT-X-SESSION-DATA:DATA-ID="k",VALUE="{form}"\n')
        s3, events = _tracked(origin)
        with pytest.raises(KeyMaterialFound, match=re.escape("media.m3u8: contains a content key")):
            publish(d, "leaky", origin, keystore=pub_keys, client=s3)
        assert _writes(events) == []
    raw = _copy(pub_packages["cenc"], tmp_path / "raw")
    seg = raw / "audio/aac_128k_eng/2.m4s"
    seg.write_bytes(seg.read_bytes()[:100] + key + seg.read_bytes()[100:])
    with pytest.raises(KeyMaterialFound, match=re.escape("2.m4s")):
        publish(raw, "leaky", origin, keystore=pub_keys)
    assert current(origin, "leaky") is None


def test_package_and_key_store_must_be_apart(origin, pub_packages, tmp_path):
    d = _copy(pub_packages["cenc"], tmp_path / "pkg")
    with pytest.raises(KeyMaterialFound, match="key store"):
        publish(d, "apart", origin, keystore=d / "keys")
    with pytest.raises(KeyMaterialFound, match="key store"):
        publish(d, "apart", origin, keystore=tmp_path)
    # An encrypted package whose keys the store does not hold cannot be proven clean: refused.
    with pytest.raises(UsageError, match="has no keys for title 'multilang'"):
        publish(d, "apart", origin, keystore=tmp_path / "empty-store")


def test_not_a_package(origin, pub_packages, pub_keys, tmp_path):
    with pytest.raises(NotAPackage, match="no such folder"):
        publish(tmp_path / "nope", "x", origin, keystore=pub_keys)
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAPackage, match=re.escape("no package.json")):
        publish(tmp_path / "empty", "x", origin, keystore=pub_keys)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "package.json").write_text("{}")
    with pytest.raises(NotAPackage, match="not a package record"):
        publish(tmp_path / "bad", "x", origin, keystore=pub_keys)
    extra = _copy(pub_packages["none"], tmp_path / "extra")
    (extra / "keys.json").write_text("{}")
    with pytest.raises(NotAPackage, match=re.escape("keys.json: not listed in package.json")):
        publish(extra, "x", origin, keystore=pub_keys)
    missing = _copy(pub_packages["none"], tmp_path / "missing")
    (missing / "audio/aac_128k_eng/1.m4s").unlink()
    with pytest.raises(NotAPackage, match=re.escape("1.m4s: listed in package.json but missing")):
        publish(missing, "x", origin, keystore=pub_keys)
    link = _copy(pub_packages["none"], tmp_path / "link")
    (link / "text/eng/1.vtt").unlink()
    (link / "text/eng/1.vtt").symlink_to(pub_keys.path("multilang"))
    with pytest.raises(NotAPackage, match="symlink"):
        publish(link, "x", origin, keystore=pub_keys)
    with pytest.raises(UsageError, match="not a valid title"):
        publish(pub_packages["none"].root, "../evil", origin, keystore=pub_keys)


def test_multipart_objects_are_checked_and_not_resent(origin, pub_packages, pub_keys, tmp_path):
    d = _copy(pub_packages["none"], tmp_path / "big")
    (d / "thumbs/sprite.jpg").write_bytes(os.urandom(11 * 1024 * 1024))
    small = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, max_concurrency=4)
    s3, events = _tracked(origin)
    pub = publish(d, "big", origin, keystore=pub_keys, transfer=small, client=s3)
    assert sum(1 for e in events if e[:2] == ("start", "UploadPart")) == 3
    sprite = next(o for o in pub.objects if o.path == "thumbs/sprite.jpg")
    assert sprite.etag.endswith("-3")
    body = origin.client().get_object(Bucket=origin.location.bucket, Key=sprite.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sprite.sha256
    s3, events = _tracked(origin)
    assert publish(d, "big", origin, keystore=pub_keys, transfer=small, client=s3).sent == 0
    assert _writes(events) == []


def test_origin_stopped_during_publish(seaweed_factory, pub_packages, pub_keys):
    sw = seaweed_factory()
    origin = sw.origin()
    a = publish(pub_packages["none"].root, "crash", origin, keystore=pub_keys)
    s3, events = _tracked(origin)
    stopped = threading.Event()

    def kill_after_some(**_):
        if sum(1 for e in events if e[:2] == ("done", "PutObject")) >= 5 and not stopped.is_set():
            stopped.set()
            sw.down()

    s3.meta.events.register("after-call.s3.PutObject", kill_after_some)
    with pytest.raises(OriginUnreachable) as err:
        publish(pub_packages["cenc"].root, "crash", origin, keystore=pub_keys, client=s3)
    msg = str(err.value)
    assert "\n" not in msg and origin.endpoint_url in msg and "crash/v/" in msg, msg
    sw.up()
    assert current(origin, "crash").version == a.version  # players still get A, complete
    b = publish(pub_packages["cenc"].root, "crash", origin, keystore=pub_keys)
    assert 0 < b.sent < len(pub_packages["cenc"].files) + 2  # what reached the origin is not sent again
    assert current(origin, "crash").version == b.version and b.previous == a.version


def test_the_origin_refuses_bytes_that_do_not_match_our_checksum(origin, pub_packages, tmp_path):
    from origin.files import LocalFile as _File
    from origin.upload import DEFAULT_TRANSFER
    from origin.upload import send as _upload

    path = Path(pub_packages["none"].root, "thumbs/sprite.jpg")
    wrong = hashlib.sha256(b"not these bytes").hexdigest()
    f = _File("sprite.jpg", path, path.stat().st_size, wrong, "", "image/jpeg", IMMUTABLE, 1)
    root = origin.location.key("checksum")
    with pytest.raises(OriginUnreachable, match="BadDigest"):
        _upload(origin.client(), origin, [f], root, DEFAULT_TRANSFER)
    listed = origin.client().list_objects_v2(Bucket=origin.location.bucket, Prefix=root)
    assert listed.get("KeyCount", 0) == 0
