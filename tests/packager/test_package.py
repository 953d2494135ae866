"""What package() writes: layout, manifests, codecs, languages, bandwidths, trick play, key handling."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import m3u8
import pytest

from packager.errors import NotRenditions
from packager.mpd import read_mpd
from packager.package import package, parse_subtitle_arg
from tests.media import SRT
from vodflow.errors import UsageError


def test_layout_manifests_and_record(packages):
    pkg = packages["none"]
    root = Path(pkg.root)
    assert (root / "manifest.mpd").is_file() and (root / "master.m3u8").is_file()
    assert json.loads((root / "package.json").read_text())["title"] == "multilang"
    mpd = read_mpd(root / "manifest.mpd")
    assert mpd.type == "static"
    video_sets = [a for a in mpd.adaptation_sets if a.content_type == "video"]
    assert sorted({r.codecs.split(".")[0] for a in video_sets for r in a.representations}) == [
        "av01", "avc1", "hvc1", "vp09"
    ]  # fmt: skip
    assert all(len({r.codecs.split(".")[0] for r in a.representations}) == 1 for a in video_sets)
    assert {a.lang for a in mpd.adaptation_sets if a.content_type == "text"} == {"en"}
    master_text = (root / "master.m3u8").read_text()
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in master_text and "#EXT-X-VERSION:6" in master_text
    master = m3u8.loads(master_text)
    for v in master.playlists:
        s = pkg.streams[[x.playlist for x in pkg.streams].index(v.uri)]
        assert s.codecs in v.stream_info.codecs and v.stream_info.resolution == (s.width, s.height)
        assert v.stream_info.frame_rate == 25
        audio = [a for a in pkg.streams if a.kind == "audio" and a.id.startswith(v.stream_info.audio)]
        assert v.stream_info.bandwidth == s.bandwidth + max(a.bandwidth for a in audio)
        assert v.stream_info.average_bandwidth == s.average_bandwidth + max(a.average_bandwidth for a in audio)
    for s in pkg.streams:
        assert s.bandwidth >= max(8 * g.size / g.duration for g in s.segments) - 1
        if s.kind != "text":  # text segments are whole segment durations (2.4 s here)
            assert s.duration == pytest.approx(2.0, abs=0.05)
    video = [s for s in pkg.streams if s.kind == "video"]
    assert {tuple(round(g.duration, 3) for g in s.segments) for s in video} == {(0.8, 0.8, 0.4)}
    assert len(master.iframe_playlists) == len(video)


def test_audio_groups_languages_and_default(packages):
    master = m3u8.load(str(Path(packages["none"].root) / "master.m3u8"))
    audio = [(m.group_id, m.language, m.default) for m in master.media if m.type == "AUDIO"]
    assert sorted(audio) == [("aac", "en", "YES"), ("aac", "fr", "NO"), ("opus", "en", "YES"), ("opus", "fr", "NO")]
    subs = [(m.group_id, m.language) for m in master.media if m.type == "SUBTITLES"]
    assert subs == [("subs", "en")]
    vtt = (Path(packages["none"].root) / "text/eng/1.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "Hello" in vtt


def test_trick_play_sprite_and_index(packages):
    pkg = packages["none"]
    t = pkg.thumbnails
    assert t is not None and (t.count, t.columns, t.rows, t.tile_width, t.tile_height) == (3, 3, 1, 160, 90)
    cues = re.findall(r"sprite\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)", (Path(pkg.root) / t.index).read_text())
    assert cues == [("0", "0", "160", "90"), ("160", "0", "160", "90"), ("320", "0", "160", "90")]
    assert (Path(pkg.root) / t.path).read_bytes()[:2] == b"\xff\xd8"  # JPEG


def test_encrypted_packages_carry_key_ids_and_signalling_never_keys(packages, keystore):
    for scheme in ("cenc", "cbcs", "aes128"):
        pkg = packages[scheme]
        keys = keystore.load(pkg.title)
        assert set(pkg.key_ids) == {"audio", "sd"}
        assert all(keys.keys[c].kid == kid for c, kid in pkg.key_ids.items())
        blob = b"".join(p.read_bytes() for p in Path(pkg.root).rglob("*") if p.is_file())
        for k in keys.keys.values():
            assert k.key.encode() not in blob and k.key_bytes not in blob
        argv = " ".join(pkg.packager_argv)
        assert ("--flagfile" in argv) == (scheme != "aes128")
        assert not any(k.key in argv for k in keys.keys.values())
    assert stat.S_IMODE(keystore.path("multilang").stat().st_mode) == 0o600
    mpd = (Path(packages["cenc"].root) / "manifest.mpd").read_text()
    assert "urn:uuid:1077efec-c0b2-4d02-ace3-3c1e52e2fb4b" in mpd and 'value="cenc"' in mpd
    cbcs = (Path(packages["cbcs"].root) / packages["cbcs"].streams[0].playlist).read_text()
    assert "METHOD=SAMPLE-AES" in cbcs and f"/keys/multilang/{packages['cbcs'].key_ids['sd']}" in cbcs
    aes = packages["aes128"]
    assert aes.dash is None and not (Path(aes.root) / "manifest.mpd").exists()
    text = (Path(aes.root) / aes.streams[0].playlist).read_text()
    assert text.count("#EXT-X-KEY:METHOD=AES-128") == 3 and text.index("#EXT-X-MAP") < text.index("#EXT-X-KEY")


def test_sidecar_subtitles(pk_root, renditions, tmp_path):
    srt = tmp_path / "film.fr.srt"
    srt.write_text(SRT.replace("Hello", "Bonjour"))
    pkg = package(pk_root / "renditions", tmp_path / "out", segment_seconds=0.8, subtitles=[str(srt)])
    text = {s.language: s for s in pkg.streams if s.kind == "text"}
    assert set(text) == {"en", "fr"}
    assert text["fr"].source == str(srt) and text["en"].source.endswith("multilang.mp4#3")
    assert "Bonjour" in (tmp_path / "out" / text["fr"].segments[0].path).read_text()


def test_user_mistakes_are_one_line_errors(pk_root, renditions, tmp_path):
    cases = [
        (lambda: package(tmp_path / "nope", tmp_path / "o"), NotRenditions, "not a folder of renditions"),
        (
            lambda: package(pk_root / "renditions", tmp_path / "o", segment_seconds=1.0),
            UsageError,
            "whole number of GOPs",
        ),
        (lambda: package(pk_root / "renditions", tmp_path / "o", encrypt="rot13"), UsageError, "unknown encryption"),
        (lambda: package(pk_root / "renditions", pk_root / "src", segment_seconds=0.8), UsageError, "refusing"),
        (lambda: parse_subtitle_arg("subs.txt:en"), UsageError, "must be a .srt or .vtt"),
    ]
    for call, error, words in cases:
        with pytest.raises(error, match=words) as exc:
            call()
        assert "\n" not in str(exc.value)
