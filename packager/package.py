"""``package``: a title's renditions → one DASH + HLS presentation from one set of CMAF segments.

Steps: check the renditions and the segment duration (a whole number of GOPs), convert subtitles to
WebVTT, run one Shaka Packager process for every stream, then finish what Shaka does not do:

- key URIs per media playlist (Shaka takes one ``--hls_key_uri`` for all; each playlist needs its own
  key's URI), and AES-128 whole-segment encryption (Shaka writes AES-128 HLS only with TS);
- measured bandwidths: Shaka estimates ``BANDWIDTH``/``@bandwidth`` while it writes, before AES-128
  padding changes the sizes, and a variant's audio share is its group's largest rendition. We measure
  every segment file as published (peak = max over segments of bits / EXTINF, average = bits / seconds)
  and write those into the master playlist and the MPD, so a declared bandwidth always bounds what a
  player will fetch;
- one ``DEFAULT=YES`` audio rendition per group (the source's first language);
- trick-play thumbnails (a JPEG sprite and its WebVTT index).

Everything is written into a staging folder beside ``out_dir`` and moved into place at the end; a
failure leaves any previous package untouched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from packager import hls
from packager.errors import NotRenditions
from packager.keys import KeyStore, TitleKeys, track_class
from packager.model import DASH_MANIFEST, HLS_MASTER, PACKAGE_RECORD, Encryption, Package, Segment, Stream, Thumbnails
from packager.mpd import read_mpd, set_bandwidths
from packager.shaka import Descriptor, RawKey, packager_argv, run_packager
from pipeline.probe import probe
from pipeline.renditions import ENCODE_RECORD, EncodedFile, EncodeResult
from pipeline.subtitles import to_webvtt
from pipeline.thumbs import sprite
from vodflow.errors import ProbeError, UsageError
from vodflow.ids import title_from

__all__ = ["DEFAULT_KEY_URI", "ENCRYPTIONS", "SubtitleInput", "package", "parse_subtitle_arg"]

log = logging.getLogger(__name__)

ENCRYPTIONS: tuple[Encryption, ...] = ("none", "cenc", "cbcs", "aes128")
DEFAULT_KEY_URI = "/keys/{title}/{kid}"


@dataclass(frozen=True, slots=True)
class SubtitleInput:
    """A sidecar subtitle file (``.srt``/``.vtt``) and its language."""

    path: Path
    language: str = "und"


def parse_subtitle_arg(text: str) -> SubtitleInput:
    """``FILE[:lang]`` → ``SubtitleInput``; without ``:lang`` a ``name.fr.srt`` style suffix is used."""
    path, sep, lang = text.rpartition(":")
    if not sep or "/" in lang or not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]+)?", lang):
        path, lang = text, ""
    p = Path(path)
    if not lang:
        parts = p.name.split(".")
        lang = parts[-2] if len(parts) >= 3 and re.fullmatch(r"[A-Za-z]{2,3}", parts[-2]) else "und"
    if p.suffix.lower() not in (".srt", ".vtt"):
        raise UsageError(f"{p}: subtitles must be a .srt or .vtt file")
    return SubtitleInput(p, lang.lower())


def _load(renditions: str | os.PathLike[str] | EncodeResult) -> tuple[EncodeResult, Path]:
    if isinstance(renditions, EncodeResult):
        return renditions, Path(renditions.video[0].path).parent if renditions.video else Path(".")
    base = Path(renditions)
    record = base / ENCODE_RECORD
    if not base.is_dir():
        raise NotRenditions(f"{base}: not a folder of renditions (give the --out folder of `vodflow encode`)")
    if not record.is_file():
        raise NotRenditions(f"{base}: no encode.json here (give the --out folder of `vodflow encode`)")
    try:
        return EncodeResult.load(record), base
    except ValueError as exc:
        raise NotRenditions(f"{record}: not an encode record ({str(exc).splitlines()[0]})") from None


def _locate(f: EncodedFile, base: Path) -> Path:
    """A rendition's file: where the record says, or beside encode.json if the folder moved."""
    for p in (Path(f.path), base / Path(f.path).name):
        if p.is_file():
            return p.resolve()
    raise NotRenditions(f"{base / Path(f.path).name}: rendition file listed in encode.json is missing")


def _gop_multiple(segment_seconds: float, gop_seconds: float) -> int:
    n = round(segment_seconds / gop_seconds)
    if n < 1 or abs(segment_seconds - n * gop_seconds) > 0.01 * gop_seconds:
        raise UsageError(
            f"segment duration {segment_seconds:g} s is not a whole number of GOPs "
            f"({gop_seconds:g} s each): use {gop_seconds:g}, {2 * gop_seconds:g}, {3 * gop_seconds:g} ..."
        )
    return n


@dataclass(frozen=True, slots=True)
class _Input:
    desc: Descriptor
    kind: str
    codec: str
    file: EncodedFile | None
    language: str | None
    origin: str = ""  # text: the sidecar file or "source.mp4#stream" it came from


def _plan(
    result: EncodeResult, base: Path, subtitle_vtts: Sequence[tuple[Path, str, str]], encrypt: Encryption
) -> list[_Input]:
    inputs: list[_Input] = []
    for f in result.video:
        r = f.rendition
        folder = f"video/{Path(f.path).stem}"
        cls = track_class("video", f.height)
        d = Descriptor(_locate(f, base), "video", folder, drm_label=cls.upper(), iframes=encrypt != "aes128")
        inputs.append(_Input(d, "video", r.codec, f, None))
    audio_names: dict[tuple[str, str], int] = {}
    for f in result.audio:
        lang = f.language or "und"
        key = (f.rendition.codec, lang)
        audio_names[key] = audio_names.get(key, 0) + 1
    for f in result.audio:
        codec, lang = f.rendition.codec, f.language or "und"
        stem = Path(f.path).stem
        name = lang if lang != "und" and audio_names[(codec, lang)] == 1 else stem
        d = Descriptor(
            _locate(f, base),
            "audio",
            f"audio/{stem}",
            language=lang if lang != "und" else None,
            hls_group=codec,
            hls_name=name,
            drm_label="AUDIO",
        )
        inputs.append(_Input(d, "audio", codec, f, lang))
    seen: dict[str, int] = {}
    for vtt, lang, origin in subtitle_vtts:
        seen[lang] = seen.get(lang, 0) + 1
        folder = f"text/{lang}" + (f"_{seen[lang]}" if seen[lang] > 1 else "")
        d = Descriptor(
            vtt,
            "text",
            folder,
            language=lang if lang != "und" else None,
            hls_group="subs",
            hls_name=folder.removeprefix("text/"),
        )
        inputs.append(_Input(d, "text", "webvtt", None, lang, origin))
    return inputs


def _subtitles(
    result: EncodeResult, subtitles: Sequence[SubtitleInput], work: Path, from_source: bool
) -> list[tuple[Path, str, str]]:
    """WebVTT files in ``work`` with (file, language, where it came from), sidecars first."""
    out: list[tuple[Path, str, str]] = []
    for i, s in enumerate(subtitles):
        out.append((to_webvtt(s.path, work / f"sidecar{i}.vtt"), s.language, str(s.path)))
    src = Path(result.source)
    if from_source and src.is_file():
        try:
            info = probe(src)
        except ProbeError:
            info = None
        for s in info.subtitles if info else []:
            if s.codec in ("mov_text", "subrip", "webvtt", "ass", "ssa", "text"):
                vtt = to_webvtt(src, work / f"stream{s.index}.vtt", stream=s.index)
                out.append((vtt, s.language, f"{src}#{s.index}"))
    return out


def _measure(root: Path, playlist: str) -> tuple[list[Segment], int, int, float]:
    _, segs = hls.read_media_playlist(root / playlist)
    folder = Path(playlist).parent
    out = []
    for s in segs:
        rel = (folder / s.uri).as_posix()
        out.append(Segment(path=rel, size=(root / rel).stat().st_size, start=s.start, duration=s.duration))
    return out, *_rates([(s.size, s.duration) for s in out])


def _rates(parts: Sequence[tuple[int, float]]) -> tuple[int, int, float]:
    """(peak, average) bits/s over (bytes, seconds) segments, and the total seconds."""
    total = sum(d for _, d in parts)
    if not parts or total <= 0:
        return 0, 0, 0.0
    peak = max(8 * b / d for b, d in parts if d > 0)
    return int(peak + 0.999), int(8 * sum(b for b, _ in parts) / total + 0.999), total


def _iframe_rates(root: Path, playlist: str) -> tuple[int, int]:
    _, segs = hls.read_media_playlist(root / playlist)
    parts = [(int((s.byterange or "0").split("@")[0]), s.duration) for s in segs]
    peak, avg, _ = _rates(parts)
    return peak, avg


def _cue_time(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _thumbnails(result: EncodeResult, base: Path, root: Path, duration: float, every: float) -> Thumbnails | None:
    # The largest rendition the encoding FFmpeg build can decode (it has no AV1 decoder), H.264 first.
    candidates = sorted(
        (f for f in result.video if f.rendition.codec != "av1"),
        key=lambda f: (f.rendition.codec == "h264", f.width or 0),
    )
    if not candidates:
        return None
    src = _locate(candidates[-1], base)
    sp = sprite(src, root / "thumbs" / "sprite.jpg", duration=duration, every=every)
    cues = ["WEBVTT", ""]
    for i in range(sp.count):
        x, y = (i % sp.columns) * sp.tile_width, (i // sp.columns) * sp.tile_height
        start, end = i * every, min((i + 1) * every, duration)
        cues += [
            f"{_cue_time(start)} --> {_cue_time(end)}",
            f"sprite.jpg#xywh={x},{y},{sp.tile_width},{sp.tile_height}",
            "",
        ]
    (root / "thumbs" / "thumbs.vtt").write_text("\n".join(cues))
    return Thumbnails(**{**sp.model_dump(), "path": "thumbs/sprite.jpg"}, index="thumbs/thumbs.vtt")


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / PACKAGE_RECORD).is_file():
        raise UsageError(f"{out}: folder is not empty and holds no package; refusing to overwrite it")


def _install(staging: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def package(
    renditions: str | os.PathLike[str] | EncodeResult,
    out_dir: str | os.PathLike[str],
    *,
    encrypt: Encryption = "none",
    segment_seconds: float = 4.0,
    keystore: KeyStore | str | os.PathLike[str] | None = None,
    title: str | None = None,
    subtitles: Sequence[SubtitleInput | str] = (),
    subtitles_from_source: bool = True,
    key_uri: str = DEFAULT_KEY_URI,
    thumbnail_seconds: float | None = None,
) -> Package:
    """Package ``renditions`` (a folder with encode.json, or an ``EncodeResult``) into ``out_dir``.

    Returns the ``Package`` record, also saved as ``out_dir/package.json``. Keys (``encrypt`` other than
    ``none``) come from ``keystore`` (a ``KeyStore`` or its folder; default ``$VODFLOW_KEYS`` or
    ``.vodflow/keys``), created on first use for ``title`` (default: the source file's stem).

    Raises ``NotRenditions`` (no encode.json, a listed file missing), ``UsageError`` (unknown encryption,
    a segment duration that is not a whole number of GOPs, a non-empty folder that is not a package,
    a bad key URI), ``KeyStoreError``, ``MediaError`` (unreadable subtitles) and ``ProcessError`` (Shaka
    Packager or ffmpeg failed).
    """
    started = time.monotonic()
    if encrypt not in ENCRYPTIONS:
        raise UsageError(f"unknown encryption {encrypt!r}: use one of {', '.join(ENCRYPTIONS)}")
    result, base = _load(renditions)
    if not result.video:
        raise NotRenditions(f"{base}: encode.json lists no video rendition")
    gop_seconds = float(result.gop_frames / Fraction(result.frame_rate))
    n_gops = _gop_multiple(segment_seconds, gop_seconds)
    segment_seconds = n_gops * gop_seconds
    title = title or title_from(Path(result.source).stem)
    if encrypt in ("cbcs", "aes128") and ("{kid}" not in key_uri or '"' in key_uri):
        raise UsageError(f"key URI {key_uri!r} needs a {{kid}} placeholder (and no quotes)")
    subs = [s if isinstance(s, SubtitleInput) else parse_subtitle_arg(s) for s in subtitles]
    out = Path(out_dir).absolute()
    _prepare_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    try:
        record = _package(
            result, base, staging, out, encrypt, segment_seconds, gop_seconds, keystore, title, subs,
            subtitles_from_source, key_uri, thumbnail_seconds, started,
        )  # fmt: skip
        _install(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return record


def _package(
    result: EncodeResult,
    base: Path,
    root: Path,
    out: Path,
    encrypt: Encryption,
    segment_seconds: float,
    gop_seconds: float,
    keystore: KeyStore | str | os.PathLike[str] | None,
    title: str,
    subs: Sequence[SubtitleInput],
    subtitles_from_source: bool,
    key_uri: str,
    thumbnail_seconds: float | None,
    started: float,
) -> Package:
    # Private (0700) scratch space outside the package: converted subtitles and the key flag file.
    work = Path(tempfile.mkdtemp(prefix="vodflow-package-"))
    try:
        vtts = _subtitles(result, subs, work, subtitles_from_source)
        inputs = _plan(result, base, vtts, encrypt)
        keys: TitleKeys | None = None
        raw: list[RawKey] = []
        if encrypt != "none":
            store = keystore if isinstance(keystore, KeyStore) else KeyStore(keystore)
            keys = store.get_or_create(title)
            labels = sorted({i.desc.drm_label for i in inputs if i.desc.drm_label})
            raw = [RawKey(lab, keys.keys[lab.lower()].kid, keys.keys[lab.lower()].key) for lab in labels]
        languages = [i.language for i in inputs if i.kind == "audio" and i.language and i.language != "und"]
        text_langs = [i.language for i in inputs if i.kind == "text" and i.language and i.language != "und"]
        argv = packager_argv(
            [i.desc for i in inputs],
            segment_seconds=segment_seconds,
            mpd=DASH_MANIFEST,
            master=HLS_MASTER,
            scheme=encrypt if encrypt in ("cenc", "cbcs") else None,
            keys=raw,
            default_language=languages[0] if languages else None,
            default_text_language=text_langs[0] if text_langs else None,
            keyfile=work / "keys.flags",
        )
        run_packager(argv, cwd=root)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mpd = read_mpd(root / DASH_MANIFEST)
    reps = {}
    for aset in mpd.adaptation_sets:
        for rep in aset.representations:
            where = rep.initialization or (rep.segments[0].url if rep.segments else "")
            reps[where.rsplit("/", 1)[0]] = (rep, aset)

    streams: list[Stream] = []
    default_audio: dict[str, str] = {}
    first_lang = next((i.language for i in inputs if i.kind == "audio"), None)
    for i in inputs:
        d = i.desc
        rep, aset = reps[d.folder]
        playlist = f"{d.folder}/media.m3u8"
        cls = track_class(i.kind, i.file.height if i.file else None) if i.kind != "text" else None
        kid = keys.keys[cls].kid if keys and cls else None
        if encrypt == "cbcs" and kid:
            hls.set_key_uri(root / playlist, key_uri.format(title=title, kid=kid))
        if encrypt == "aes128" and keys and cls:
            hls.encrypt_playlist_aes128(root / playlist, keys.keys[cls].key_bytes, key_uri.format(title=title, kid=kid))
        init = f"{d.folder}/init.mp4" if i.kind != "text" else None
        segs, peak, avg, seconds = _measure(root, playlist)
        # EXTINF is rounded to the millisecond; the MPD's timeline is exact: bound both readings.
        sizes = {g.path: g.size for g in segs}
        exact = [(sizes.get(r.url, 0), r.duration) for r in rep.segments]
        peak = max(peak, _rates(exact)[0])
        default = False
        if i.kind == "audio" and d.hls_group not in default_audio and i.language == first_lang:
            default_audio[d.hls_group or ""] = playlist
            default = True
        f = i.file
        streams.append(
            Stream(
                id=d.folder.split("/", 1)[1],
                kind=i.kind,  # type: ignore[arg-type]
                codec=i.codec,
                codecs=rep.codecs,  # empty for WebVTT text segments
                source=i.origin or str(d.src),
                language=aset.lang,
                default=default,
                width=f.width if f and i.kind == "video" else None,
                height=f.height if f and i.kind == "video" else None,
                frame_rate=result.frame_rate if i.kind == "video" else None,
                channels=f.channels if f and i.kind == "audio" else None,
                init=init,
                playlist=playlist,
                iframe_playlist=f"{d.folder}/iframes.m3u8" if d.iframes else None,
                segments=segs,
                duration=seconds,
                bandwidth=peak,
                average_bandwidth=avg,
                track_class=cls.value if kid and cls else None,
                key_id=kid,
            )
        )

    by_playlist = {s.playlist: s for s in streams}
    groups: dict[str, list[Stream]] = {}
    for i, s in zip(inputs, streams, strict=True):
        if i.kind == "audio":
            groups.setdefault(i.desc.hls_group or "", []).append(s)

    def variant(uri: str, group: str | None) -> tuple[int, int]:
        v = by_playlist[uri]
        audio = groups.get(group or "", [])
        return (
            v.bandwidth + max((a.bandwidth for a in audio), default=0),
            v.average_bandwidth + max((a.average_bandwidth for a in audio), default=0),
        )

    hls.rewrite_master(
        root / HLS_MASTER,
        bandwidths=variant,
        iframe_bandwidths=(lambda uri: _iframe_rates(root, uri)) if encrypt != "aes128" else None,
        default_audio=default_audio,
    )
    if encrypt == "aes128":
        # Whole-segment encryption serves HLS only: DASH has no such scheme, and byte ranges into an
        # encrypted segment (I-frame playlists) cannot be decrypted on their own.
        (root / DASH_MANIFEST).unlink()
        for s in streams:
            if s.iframe_playlist:
                (root / s.iframe_playlist).unlink(missing_ok=True)
        streams = [s.model_copy(update={"iframe_playlist": None}) for s in streams]
    else:
        ids = {}
        for aset in mpd.adaptation_sets:
            for rep in aset.representations:
                where = (rep.initialization or (rep.segments[0].url if rep.segments else "")).rsplit("/", 1)[0]
                ids[rep.id] = next(s.bandwidth for i, s in zip(inputs, streams, strict=True) if i.desc.folder == where)
        set_bandwidths(root / DASH_MANIFEST, ids)

    duration = max(s.duration for s in streams if s.kind == "video")
    thumbs = _thumbnails(result, base, root, duration, thumbnail_seconds or segment_seconds)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    record = Package(
        title=title,
        root=str(out),
        encryption=encrypt,
        segment_seconds=round(segment_seconds, 6),
        gop_seconds=round(gop_seconds, 6),
        duration=duration,
        dash=DASH_MANIFEST if encrypt != "aes128" else None,
        hls=HLS_MASTER,
        key_uri=key_uri if encrypt in ("cbcs", "aes128") else None,
        key_ids={s.track_class: s.key_id for s in streams if s.track_class and s.key_id},
        streams=streams,
        thumbnails=thumbs,
        files=[*files, PACKAGE_RECORD],
        total_bytes=sum((root / f).stat().st_size for f in files),
        rendition_bytes=sum(f.size_bytes for f in [*result.video, *result.audio]),
        packager_argv=argv,
        seconds=time.monotonic() - started,
    )
    record.save(root / PACKAGE_RECORD)
    return record
