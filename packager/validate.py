"""``validate``: check a package from its manifests and files, the way a careful player would.

Checks (each problem is one line naming the file):

- every URI in the master playlist, the media playlists and the MPD exists;
- each stream's segment durations add up to the title's duration within one segment;
- every video segment starts with a keyframe, at the same times in every rendition;
- ``CODECS`` (HLS) and ``@codecs`` (DASH) match ffprobe's view of each stream (profile, level, depth);
- declared bandwidths bound the measured ones (BANDWIDTH >= peak segment rate, AVERAGE-BANDWIDTH >=
  average, for every variant with its audio group; ``@bandwidth`` >= each Representation's peak);
- encrypted packages: no segment decodes to the picture without its key, the key store's keys open
  them, and no key (in any form ``packager.leaks`` knows: raw, hex, UUID, base64) appears in any file
  of the tree.

Returns a ``ValidationReport``; ``InvalidPackage`` is for callers that want an exception.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import m3u8

from packager import hls
from packager.errors import InvalidPackage, KeyStoreError
from packager.keys import KeyStore, TitleKeys
from packager.leaks import contains_key, needles
from packager.model import DASH_MANIFEST, HLS_MASTER, PACKAGE_RECORD, Package, load_package
from packager.mpd import read_mpd
from pipeline.streams import StreamFacts, concat_url, decode, keyframe_times, stream_facts
from vodflow.errors import MediaError, UsageError
from vodflow.records import Record

__all__ = ["ValidationReport", "codecs_problem", "validate"]

_AVC_PROFILES = {"Baseline": 66, "Constrained Baseline": 66, "Main": 77, "Extended": 88, "High": 100, "High 10": 110}
_HEVC_PROFILES = {"Main": 1, "Main 10": 2, "Main Still Picture": 3, "Rext": 4}
_AV1_PROFILES = {"Main": 0, "High": 1, "Professional": 2}
_AAC = {"LC": "2", "HE-AAC": "5", "HE-AACv2": "29"}


class ValidationReport(Record):
    """What ``validate`` found: ``ok`` when ``problems`` is empty; ``skipped`` lists checks not run."""

    root: str
    ok: bool
    problems: list[str]
    checked: dict[str, int]
    skipped: list[str]
    seconds: float

    def raise_for_problems(self) -> None:
        """Raise ``InvalidPackage`` (exit 1) when there are problems."""
        if self.problems:
            raise InvalidPackage(self.root, self.problems)


def codecs_problem(codecs: str, f: StreamFacts) -> str | None:
    """Why an RFC 6381 codec string disagrees with ffprobe's facts about the stream (None: it agrees)."""
    parts = codecs.split(".")
    fourcc = parts[0]
    try:
        if f.codec == "h264":
            want = _AVC_PROFILES.get(f.profile or "")
            if fourcc not in ("avc1", "avc3") or len(parts[1]) != 6:
                return f"{codecs} is not an avc1 string"
            if want is not None and int(parts[1][:2], 16) != want:
                return f"{codecs} says profile {int(parts[1][:2], 16)}, the stream is {f.profile}"
            if f.level is not None and int(parts[1][4:], 16) != f.level:
                return f"{codecs} says level {int(parts[1][4:], 16)}, the stream has {f.level}"
        elif f.codec == "hevc":
            if fourcc != (f.tag or fourcc) or fourcc not in ("hvc1", "hev1"):
                return f"{codecs} does not match the {f.tag} sample entry"
            want = _HEVC_PROFILES.get(f.profile or "")
            if want is not None and int(parts[1].lstrip("ABC") or 0) != want:
                return f"{codecs} says profile {parts[1]}, the stream is {f.profile}"
            if f.level is not None and int(parts[3][1:]) != f.level:
                return f"{codecs} says level {parts[3][1:]}, the stream has {f.level}"
        elif f.codec == "vp9":
            if fourcc != "vp09" or int(parts[1]) != int((f.profile or "Profile 0").split()[-1]):
                return f"{codecs} does not match VP9 {f.profile}"
            if int(parts[3]) != f.bit_depth:
                return f"{codecs} says {int(parts[3])}-bit, the stream is {f.bit_depth}-bit"
        elif f.codec == "av1":
            if fourcc != "av01" or int(parts[1]) != _AV1_PROFILES.get(f.profile or "Main", 0):
                return f"{codecs} does not match AV1 {f.profile}"
            if f.level is not None and int(parts[2][:-1]) != f.level:
                return f"{codecs} says level {parts[2][:-1]}, the stream has {f.level}"
            if int(parts[3]) != f.bit_depth:
                return f"{codecs} says {int(parts[3])}-bit, the stream is {f.bit_depth}-bit"
        elif f.codec == "aac" and codecs != f"mp4a.40.{_AAC.get(f.profile or 'LC', '2')}":
            return f"{codecs} does not match AAC {f.profile}"
        elif f.codec == "opus" and codecs != "opus":
            return f"{codecs} is not opus"
    except (IndexError, ValueError):
        return f"{codecs} is not a well-formed {f.codec} codec string"
    return None


@dataclass
class _Stream:
    playlist: str
    kind: str
    codecs: str | None = None
    group: str | None = None
    segments: list[hls.MediaSegment] = field(default_factory=list)
    init: str | None = None
    keys: list[tuple[str, str | None]] = field(default_factory=list)  # (method, iv) per segment
    facts: StreamFacts | None = None

    def peak_avg(self, root: Path) -> tuple[float, float]:
        folder = (root / self.playlist).parent
        parts = [((folder / s.uri).stat().st_size, s.duration) for s in self.segments if (folder / s.uri).is_file()]
        total = sum(d for _, d in parts)
        if not parts or total <= 0:
            return 0.0, 0.0
        return max(8 * b / d for b, d in parts if d > 0), 8 * sum(b for b, _ in parts) / total


class _Checker:
    def __init__(self, root: Path, keys: TitleKeys | None, record: Package | None) -> None:
        self.root = root
        self.keys = keys
        self.record = record
        self.problems: list[str] = []
        self.checked: dict[str, int] = {}
        self.skipped: list[str] = []

    def problem(self, where: str | Path, what: str) -> None:
        rel = Path(where).relative_to(self.root) if Path(where).is_absolute() else Path(where)
        self.problems.append(f"{rel.as_posix()}: {what}")

    def count(self, what: str, n: int = 1) -> None:
        self.checked[what] = self.checked.get(what, 0) + n

    def exists(self, rel: str, referrer: str) -> bool:
        self.count("uris")
        if not (self.root / rel).is_file():
            self.problem(referrer, f"references {rel}, which does not exist")
            return False
        return True

    # --- HLS --------------------------------------------------------------------------------------

    def read_hls(self) -> list[_Stream]:
        master_path = self.root / HLS_MASTER
        if not master_path.is_file():
            self.problem(HLS_MASTER, "missing")
            return []
        try:
            master = m3u8.loads(master_path.read_text(), uri=str(master_path))
        except ValueError as exc:
            self.problem(HLS_MASTER, f"not a playlist ({exc})")
            return []
        text = master_path.read_text()
        if "#EXT-X-INDEPENDENT-SEGMENTS" not in text:
            self.problem(HLS_MASTER, "lacks EXT-X-INDEPENDENT-SEGMENTS")
        streams: dict[str, _Stream] = {}
        for m in master.media:
            if m.uri:
                kind = {"AUDIO": "audio", "SUBTITLES": "text"}.get(m.type, "other")
                streams.setdefault(m.uri, _Stream(m.uri, kind, group=m.group_id))
        self.variants = []
        for p in master.playlists:
            streams.setdefault(p.uri, _Stream(p.uri, "video"))
            self.variants.append(p)
        self.iframes = list(master.iframe_playlists)
        for p in self.iframes:
            self.exists(p.uri, HLS_MASTER)
        for s in streams.values():
            if self.exists(s.playlist, HLS_MASTER):
                self._read_media(s)
        return list(streams.values())

    def _read_media(self, s: _Stream) -> None:
        path = self.root / s.playlist
        text = path.read_text()
        version = re.search(r"#EXT-X-VERSION:(\d+)", text)
        if version is None or int(version.group(1)) < 6:
            self.problem(path, "EXT-X-VERSION is missing or below 6")
        pl, s.segments = hls.read_media_playlist(path)
        folder = Path(s.playlist).parent
        maps = {seg.init_section.uri for seg in pl.segments if seg.init_section is not None}
        if s.kind != "text":
            if len(maps) != 1:
                self.problem(path, f"expected one EXT-X-MAP, found {len(maps)}")
            else:
                s.init = (folder / maps.pop()).as_posix()
                self.exists(s.init, s.playlist)
        for seg in pl.segments:
            self.exists((folder / seg.uri).as_posix(), s.playlist)
            key = seg.key
            s.keys.append((key.method if key else "NONE", key.iv if key else None))

    # --- checks -----------------------------------------------------------------------------------

    def durations(self, streams: list[_Stream], title: float, segment: float) -> None:
        for s in streams:
            total = sum(x.duration for x in s.segments)
            self.count("durations")
            if abs(total - title) > segment + 1e-3:
                self.problem(s.playlist, f"segments add up to {total:.3f} s, the title is {title:.3f} s")

    def probe(self, streams: list[_Stream], decrypted: dict[str, list[Path]]) -> None:
        """ffprobe each stream's init segment with its first media segment: profile and level come
        from the decoder's first look at the stream, which an init segment alone does not give."""
        for s in streams:
            if not (s.init and (self.root / s.init).is_file() and s.kind != "text" and s.segments):
                continue
            first = (decrypted.get(s.playlist) or [(self.root / s.playlist).parent / s.segments[0].uri])[0]
            if not first.is_file():
                continue
            try:
                s.facts = stream_facts(concat_url([self.root / s.init, first]))
            except MediaError as exc:
                self.problem(s.init, f"unreadable init segment ({exc.problem})")

    def codecs(self, streams: list[_Stream]) -> None:
        by_uri = {s.playlist: s for s in streams}
        groups: dict[str, list[_Stream]] = {}
        for s in streams:
            if s.kind == "audio" and s.group:
                groups.setdefault(s.group, []).append(s)
        for v in self.variants:
            declared = (v.stream_info.codecs or "").split(",")
            video = by_uri.get(v.uri)
            audio = groups.get(v.stream_info.audio or "", [])
            for s in [video, *audio]:
                if s is None or s.facts is None:
                    continue
                self.count("codecs")
                mine = next((c for c in declared if _family(c) == s.facts.codec), None)
                if mine is None:
                    self.problem(HLS_MASTER, f"variant {v.uri} CODECS lacks the {s.facts.codec} of {s.playlist}")
                elif why := codecs_problem(mine, s.facts):
                    self.problem(HLS_MASTER, f"variant {v.uri}: {why}")
            if video is None:
                continue
            peak, avg = video.peak_avg(self.root)
            apeak = max((a.peak_avg(self.root)[0] for a in audio), default=0.0)
            aavg = max((a.peak_avg(self.root)[1] for a in audio), default=0.0)
            self.count("bandwidths")
            bw, abw = v.stream_info.bandwidth or 0, v.stream_info.average_bandwidth or 0
            if bw < peak + apeak - 1:
                self.problem(
                    HLS_MASTER, f"variant {v.uri} BANDWIDTH {bw} is below the measured peak {peak + apeak:.0f}"
                )
            if abw < avg + aavg - 1 or abw > bw:
                self.problem(
                    HLS_MASTER,
                    f"variant {v.uri} AVERAGE-BANDWIDTH {abw} does not bound the measured {avg + aavg:.0f}",
                )

    def dash(self, streams: list[_Stream], title: float, segment: float) -> None:
        path = self.root / DASH_MANIFEST
        if not path.is_file():
            if self.record is None or self.record.dash is not None:
                self.problem(DASH_MANIFEST, "missing")
            return
        try:
            mpd = read_mpd(path)
        except MediaError as exc:
            self.problem(DASH_MANIFEST, exc.problem)
            return
        if mpd.type != "static":
            self.problem(DASH_MANIFEST, f"type is {mpd.type}, not static")
        facts = {s.init: s.facts for s in streams if s.init}
        for rep in mpd.representations:
            if rep.initialization:
                self.exists(rep.initialization, DASH_MANIFEST)
            for seg in rep.segments:
                self.exists(seg.url, DASH_MANIFEST)
            total = sum(seg.duration for seg in rep.segments)
            self.count("durations")
            if abs(total - title) > segment + 1e-3:
                self.problem(DASH_MANIFEST, f"representation {rep.id} lasts {total:.3f} s, the title {title:.3f} s")
            f = facts.get(rep.initialization)
            if f is not None:
                self.count("codecs")
                if why := codecs_problem(rep.codecs, f):
                    self.problem(DASH_MANIFEST, f"representation {rep.id}: {why}")
            files = [self.root / seg.url for seg in rep.segments if (self.root / seg.url).is_file()]
            rates = [8 * p.stat().st_size / seg.duration for p, seg in zip(files, rep.segments, strict=False)]
            self.count("bandwidths")
            if rates and rep.bandwidth < max(rates) - 1:
                self.problem(
                    DASH_MANIFEST, f"representation {rep.id} @bandwidth {rep.bandwidth} < peak {max(rates):.0f}"
                )

    def keyframes(self, streams: list[_Stream], decrypted: dict[str, list[Path]]) -> None:
        starts: dict[str, list[float]] = {}
        for s in streams:
            if s.kind != "video" or not s.init:
                continue
            folder = (self.root / s.playlist).parent
            files = decrypted.get(s.playlist) or [folder / x.uri for x in s.segments]
            if not all(f.is_file() for f in files):
                continue
            keys = keyframe_times(concat_url([self.root / s.init, *files]))
            frame = 1 / float(eval_rate(s.facts.frame_rate if s.facts else None))
            first = keys[0] if keys else 0.0
            starts[s.playlist] = [round(x.start, 3) for x in s.segments]
            for x in s.segments:
                self.count("keyframes")
                if not any(abs(k - first - x.start) < frame / 2 for k in keys):
                    self.problem((folder / x.uri), f"does not start with a keyframe (at {x.start:.3f} s)")
        if len({tuple(v) for v in starts.values()}) > 1:
            self.problem(HLS_MASTER, "video renditions cut their segments at different times")

    def encryption(self, streams: list[_Stream], encryption: str) -> dict[str, list[Path]]:
        """Check every encrypted segment; return the decrypted files of AES-128 playlists (for keyframes)."""
        decrypted: dict[str, list[Path]] = {}
        media = [s for s in streams if s.kind in ("video", "audio") and s.init]
        if encryption == "aes128":
            for s in media:
                decrypted[s.playlist] = self._aes128(s)
            return decrypted
        for s in media:
            folder = (self.root / s.playlist).parent
            url = concat_url([self.root / s.init, *(folder / x.uri for x in s.segments)])
            codec = _init_codec(self.root / s.init)
            plain = decode(url, codec=codec)
            self.count("encryption")
            if self.keys is None:
                if plain.clean:
                    self.problem(s.playlist, "decodes without errors with no key: not encrypted?")
                continue
            kid = _default_kid(self.root / s.init)
            try:
                key = self.keys.by_kid(kid).key if kid else None
            except KeyStoreError:
                key = None
            if key is None:
                self.problem(s.init, f"key ID {kid} is not in the key store")
                continue
            keyed = decode(url, codec=codec, key=key)
            if not keyed.clean:
                self.problem(s.playlist, f"does not decode with its key: {keyed.errors[0]}")
            if plain.clean and plain.md5s == keyed.md5s:
                self.problem(s.playlist, "decodes to the same pictures without the key: not encrypted")
        return decrypted

    def _aes128(self, s: _Stream) -> list[Path]:
        folder = (self.root / s.playlist).parent
        out: list[Path] = []
        tmp = Path(tempfile.mkdtemp(prefix="vodflow-validate-"))
        self._tmp.append(tmp)
        uri_kid = re.compile(r"([0-9a-f]{32})")
        text = (self.root / s.playlist).read_text()
        m = uri_kid.search(next((ln for ln in text.splitlines() if ln.startswith("#EXT-X-KEY")), ""))
        for i, (seg, (method, iv)) in enumerate(zip(s.segments, s.keys, strict=True)):
            self.count("encryption")
            path = folder / seg.uri
            if method != "AES-128" or not iv:
                self.problem(path, "is not AES-128 encrypted with an IV")
                continue
            data = path.read_bytes() if path.is_file() else b""
            if data[4:8] in (b"styp", b"moof", b"sidx"):
                self.problem(path, "is an MP4 segment in the clear")
            if self.keys is None or m is None:
                continue
            try:
                plain = hls.aes128_decrypt(data, self.keys.by_kid(m.group(1)).key_bytes, bytes.fromhex(iv[2:]))
            except (ValueError, KeyStoreError):
                plain = b""
            if plain[4:8] not in (b"styp", b"moof", b"sidx"):
                self.problem(path, "does not decrypt to an MP4 segment with the key its URI names")
            out.append(tmp / f"{i}.m4s")
            out[-1].write_bytes(plain)
        return out if len(out) == len(s.segments) else []

    def leaks(self, keys: TitleKeys) -> None:
        forms = needles(keys)
        for p in sorted(self.root.rglob("*")):
            if p.is_file():
                self.count("files scanned for keys")
                if contains_key(p, forms):
                    self.problem(p, "contains key material")

    _tmp: list[Path]


def eval_rate(text: str | None) -> float:
    try:
        num, _, den = (text or "25").partition("/")
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 25.0


def _family(codecs: str) -> str:
    fourcc = codecs.split(".")[0]
    return {"avc1": "h264", "avc3": "h264", "hvc1": "hevc", "hev1": "hevc", "vp09": "vp9", "av01": "av1"}.get(
        fourcc, {"mp4a": "aac", "opus": "opus"}.get(fourcc, fourcc)
    )


def _init_codec(init: Path) -> str:
    """The codec of an init segment from its sample description (enough to pick a decoder build)."""
    data = init.read_bytes()
    return next((c for fourcc, c in ((b"av01", "av1"), (b"vp09", "vp9"), (b"hvc1", "hevc")) if fourcc in data), "")


def _default_kid(init: Path) -> str | None:
    """The default KID of an encrypted init segment (its ``tenc`` box), as hex."""
    data = init.read_bytes()
    i = data.find(b"tenc")
    if i < 0:
        return None
    # tenc: version/flags (4), reserved (1), pattern or reserved (1), isProtected (1), IV size (1), KID (16)
    return data[i + 12 : i + 28].hex()


def validate(
    root: str | os.PathLike[str], *, keys: KeyStore | str | os.PathLike[str] | None = None
) -> ValidationReport:
    """Validate the package at ``root``; returns a ``ValidationReport`` (``ok`` false with problems).

    ``keys`` is the key store (a ``KeyStore`` or its folder; default ``$VODFLOW_KEYS`` or
    ``.vodflow/keys``). Without the title's keys the checks that need them are listed in ``skipped``.
    Raises ``UsageError`` when ``root`` is not a folder.
    """
    started = time.monotonic()
    root_path = Path(root).absolute()
    if not root_path.is_dir():
        raise UsageError(f"{root_path}: no such package folder")
    # MediaError when package.json is there but is not a package record
    record = load_package(root_path) if (root_path / PACKAGE_RECORD).is_file() else None
    title_keys = None
    if record is not None and record.encryption != "none":
        store = keys if isinstance(keys, KeyStore) else KeyStore(keys)
        try:
            title_keys = store.load(record.title)
        except KeyStoreError as exc:
            if keys is not None:
                raise
            title_keys = None
            skipped_keys = str(exc)
    c = _Checker(root_path, title_keys, record)
    c._tmp = []
    if record is None:
        c.problem(PACKAGE_RECORD, "missing: cannot tell the title, its duration or its encryption")
    elif record.encryption != "none" and title_keys is None:
        c.skipped.append(f"decryption and key-leak checks: {skipped_keys}")
    try:
        streams = c.read_hls()
        decrypted = c.encryption(streams, record.encryption) if record and record.encryption != "none" else {}
        c.probe(streams, decrypted)
        segment = (
            record.segment_seconds if record else max((x.duration for s in streams for x in s.segments), default=0)
        )
        title = record.duration if record else max((sum(x.duration for x in s.segments) for s in streams), default=0)
        c.durations(streams, title, segment)
        if streams:
            c.codecs(streams)
        c.dash(streams, title, segment)
        if record is None or record.encryption != "aes128" or any(decrypted.values()):
            c.keyframes(streams, decrypted)
        elif record.encryption == "aes128":
            c.skipped.append("keyframe alignment: AES-128 segments need the key store to be read")
        if title_keys is not None:
            c.leaks(title_keys)
    finally:
        for t in c._tmp:
            for f in t.iterdir():
                f.unlink()
            t.rmdir()
    return ValidationReport(
        root=str(root_path),
        ok=not c.problems,
        problems=c.problems,
        checked=c.checked,
        skipped=c.skipped,
        seconds=time.monotonic() - started,
    )
