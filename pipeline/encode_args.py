"""The ffmpeg arguments of an encode: each rung's encoder settings, and the command lines that decode a
title once and write every rung of one codec (or every audio rendition).

Rate control (``RateControl.mode``) per codec:

=========== ==================================== ==================================== =========================
codec       crf                                  capped_crf                           bitrate
=========== ==================================== ==================================== =========================
h264/hevc   ``-crf``                             ``-crf -maxrate -bufsize`` (VBV)     ``-b:v`` [+ VBV cap]
av1         ``-crf``                             ``-crf -maxrate -bufsize`` (SVT mbr) ``-b:v`` (VBR; no cap)
vp9         ``-crf -b:v 0`` (constant quality)   ``-crf -b:v MAX`` (constrained q.)   ``-b:v`` (VBR; no cap)
=========== ==================================== ==================================== =========================

x264/x265 hold a true VBV cap. SVT-AV1 caps CRF with ``mbr`` (we pass ``mbr-overshoot-pct=10``; its
buffer size applies to CBR only) and refuses a cap in VBR. libvpx bounds the *average* in constrained
quality and has no VBV outside CBR. So a capped *bitrate* rung is refused for AV1 and VP9; capped CRF
works for all four, tightest for H.264/HEVC.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.codecs import AUDIO_ENCODERS, ENCODERS
from pipeline.probe import AudioStream
from pipeline.renditions import AudioRendition, Rendition, TitleSpec

__all__ = ["OUTPUT_TAIL", "audio_args", "audio_command", "audio_suffixes", "video_args", "video_command"]


def video_args(r: Rendition, *, gop_frames: int) -> list[str]:
    """The encoder arguments of one rung (after ``-map``): codec, preset, fixed closed GOP, rate control."""
    rc = r.rate
    args = ["-c:v", ENCODERS[r.codec]]
    # Every encoder gets the same fixed keyframe interval; each also needs its own switch to stop
    # placing extra keyframes at scene cuts, or keyframes would drift apart between rungs and codecs.
    if r.codec == "h264":
        args += ["-preset", r.effective_preset, "-g", str(gop_frames)]
        args += ["-sc_threshold", "0", "-flags", "+cgop"]  # no scene-cut I-frames; closed GOPs
        args += ["-profile:v", r.profile] if r.profile else []
        args += ["-level:v", r.level] if r.level else []
    elif r.codec == "hevc":
        x265 = ["scenecut=0", "open-gop=0"]  # IDR at every GOP start, none in between
        if r.level:
            x265.append(f"level-idc={r.level}")  # libx265 ignores ffmpeg's generic -level
        args += ["-preset", r.effective_preset, "-g", str(gop_frames), "-x265-params", ":".join(x265)]
        args += ["-tag:v", "hvc1"]  # the sample entry Apple players require for HEVC in MP4
        args += ["-profile:v", r.profile] if r.profile else []
    elif r.codec == "av1":
        # ffmpeg maps -g to SVT's keyint; irefresh-type=2 makes each keyframe a closed-GOP key frame.
        svt = ["irefresh-type=2", "scd=0"]
        if rc.maxrate_kbps is not None:
            svt.append("mbr-overshoot-pct=10")
        if r.level:
            svt.append(f"level={r.level.replace('.', '')}")  # SVT wants 41 for level 4.1
        args += ["-preset", r.effective_preset, "-g", str(gop_frames), "-svtav1-params", ":".join(svt)]
        args += ["-profile:v", r.profile] if r.profile else []
    else:  # vp9
        args += ["-deadline", "good", "-cpu-used", r.effective_preset, "-row-mt", "1"]
        # libvpx places a keyframe anywhere between kf-min-dist and kf-max-dist: equal means fixed.
        args += ["-g", str(gop_frames), "-keyint_min", str(gop_frames)]
        args += ["-profile:v", r.profile] if r.profile else []
        args += ["-level", r.level] if r.level else []

    if rc.mode == "bitrate":
        args += ["-b:v", f"{rc.bitrate_kbps}k"]
    else:
        args += ["-crf", f"{rc.crf:g}"]
    if r.codec == "vp9" and rc.mode != "bitrate":
        # libvpx: crf with -b:v 0 is constant quality; crf with -b:v N is constrained quality, where N
        # bounds the average rate. libvpx has no VBV outside CBR (-maxrate/-bufsize change nothing),
        # so this is its capped CRF.
        args += ["-b:v", f"{rc.maxrate_kbps}k" if rc.maxrate_kbps else "0"]
    elif r.codec == "av1" and rc.maxrate_kbps is not None:
        # ffmpeg maps -maxrate to SVT's mbr (capped CRF). SVT lets the cap leak by mbr-overshoot-pct,
        # 50 % by default; 10 holds it. -bufsize would only set SVT's buf-sz, which is for CBR.
        args += ["-maxrate", f"{rc.maxrate_kbps}k"]
    elif rc.maxrate_kbps is not None:
        args += ["-maxrate", f"{rc.maxrate_kbps}k", "-bufsize", f"{rc.bufsize_kbits}k"]  # x264/x265 VBV
    args += ["-pix_fmt", r.pix_fmt]
    return args


def audio_args(a: AudioRendition) -> list[str]:
    """The encoder arguments of one audio rendition: codec, bitrate, channel count (downmix), rate."""
    args = ["-c:a", AUDIO_ENCODERS[a.codec], "-b:a", f"{a.bitrate_kbps}k"]
    if a.codec == "opus":
        # libopus' default unconstrained VBR overshoots 96k by half on tonal content; constrained VBR
        # keeps the rate a manifest can promise.
        args += ["-vbr", "constrained"]
    # A 5.1 source is downmixed by swresample's standard matrix.
    return [*args, "-ac", str(a.channels), "-ar", str(a.sample_rate)]


# Rendition files are plain MP4 (no fragments): the packager cuts CMAF segments at the aligned keyframes.
OUTPUT_TAIL = ["-map_metadata", "-1", "-map_chapters", "-1", "-f", "mp4"]


def video_command(title: TitleSpec, jobs: Sequence[tuple[Rendition, Path]]) -> list[str]:
    """The ffmpeg arguments that decode ``title`` once and write each ``(rung, path)`` of ``jobs``."""
    chain = []
    if title.deinterlace:
        chain.append("bwdif=mode=send_frame:parity=auto:deint=all")  # one frame per frame: rate unchanged
    chain.append(f"fps={title.fps}")  # one constant rate for every rung; VFR sources become CFR here
    chain.append(f"split={len(jobs)}" + "".join(f"[s{i}]" for i in range(len(jobs))))
    graph = [f"[{title.stream}]" + ",".join(chain)]
    for i, (r, _) in enumerate(jobs):
        graph.append(f"[s{i}]scale={r.width}:{r.height}:flags=lanczos,setsar=1,format={r.pix_fmt}[v{i}]")
    args = ["-xerror", "-i", str(title.src), "-filter_complex", ";".join(graph)]
    for i, (r, path) in enumerate(jobs):
        args += ["-map", f"[v{i}]", *video_args(r, gop_frames=title.gop_frames), "-an", "-sn", "-dn"]
        args += [*OUTPUT_TAIL, str(path)]
    return args


def audio_suffixes(streams: Sequence[AudioStream]) -> list[str]:
    """File-name suffix per source audio stream: none for one stream, else its language (``_eng``),
    or its position (``_a2``) where the language is unknown or shared."""
    if len(streams) == 1:
        return [""]
    langs = [s.language for s in streams]
    return [f"_{lang}" if lang != "und" and langs.count(lang) == 1 else f"_a{i + 1}" for i, lang in enumerate(langs)]


def audio_command(title: TitleSpec, jobs: Sequence[tuple[AudioRendition, AudioStream, Path]]) -> list[str]:
    """The ffmpeg arguments that write each ``(rendition, source stream, path)`` of ``jobs`` (no video decode)."""
    args = ["-xerror", "-i", str(title.src)]
    for a, stream, path in jobs:
        args += ["-map", f"0:{stream.index}", *audio_args(a), "-vn", "-sn", "-dn"]
        args += ["-metadata:s:a:0", f"language={stream.language}", *OUTPUT_TAIL, str(path)]
    return args
