"""Builders of small media files for tests, good and bad, made with the real ffmpeg in a temp folder.

Each function takes a folder and returns the path it wrote. Nothing here is committed media.
"""

from __future__ import annotations

import struct
from pathlib import Path

from pipeline.ffmpeg import run_ffmpeg
from vodflow import tools

TONE = "aevalsrc='0.1*sin(2*PI*440*t)|0.1*sin(2*PI*660*t)':s=48000"


def _ff(*args: object) -> None:
    run_ffmpeg(["-y", *[str(a) for a in args]], show_progress=False)


def clip(
    d: Path,
    name: str = "clip.mp4",
    *,
    size: str = "320x180",
    fps: int = 30,
    seconds: float = 2,
    audio: bool | str = True,
    audio_args: tuple[str, ...] = ("-ac", "2"),
    source: str = "testsrc2",
    extra: tuple[str, ...] = (),
) -> Path:
    """A plain progressive H.264 clip with AAC audio from ``audio`` (an lavfi source; True: stereo TONE)."""
    out = d / name
    inputs = ["-f", "lavfi", "-i", f"{source}=s={size}:r={fps}:d={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-t", str(seconds), "-i", TONE if audio is True else audio]
    _ff(
        *inputs,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        *(["-c:a", "aac", *audio_args] if audio else []),
        *extra,
        "-shortest",
        out,
    )
    return out


def odd_dimensions(d: Path) -> Path:
    # testsrc keeps odd sizes (testsrc2 rounds them down to even); 4:4:4 so odd sizes are codable.
    return clip(d, "odd.mp4", size="853x479", source="testsrc", extra=("-pix_fmt", "yuv444p"))


def vfr(d: Path) -> Path:
    """1 s at 30 fps followed by 1 s at 10 fps in one stream, timestamps kept as they are."""
    out = d / "vfr.mp4"
    _ff(
        "-filter_complex",
        "testsrc2=s=320x180:r=30:d=1[a];testsrc2=s=320x180:r=10:d=1[b];[a][b]concat=n=2:v=1:a=0[v]",
        "-map",
        "[v]",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        out,
    )
    return out


def interlaced(d: Path) -> Path:
    """25 interlaced frames/s (top field first) woven from 50 fps motion, coded as interlaced H.264."""
    out = d / "interlaced.mp4"
    _ff(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x180:r=50:d=2",
        "-vf",
        "tinterlace=mode=interleave_top,setfield=tff",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-flags",
        "+ildct+ilme",
        "-x264-params",
        "tff=1",
        out,
    )
    return out


def single_frame(d: Path) -> Path:
    out = d / "single.mp4"
    _ff("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30", "-frames:v", "1", "-c:v", "libx264", out)
    return out


def no_audio(d: Path) -> Path:
    return clip(d, "silent_video.mp4", audio=False)


def audio_only(d: Path) -> Path:
    out = d / "audio_only.m4a"
    _ff("-f", "lavfi", "-t", "2", "-i", TONE, "-c:a", "aac", out)
    return out


def huge_frame(d: Path) -> Path:
    """One grey 10000x10000 frame: real, decodable, and far beyond any delivery resolution."""
    out = d / "huge.mp4"
    _ff("-f", "lavfi", "-i", "color=c=gray:s=10000x10000:r=25:d=0.04", "-c:v", "libx264", "-preset", "ultrafast", out)
    return out


def lying_duration(d: Path) -> Path:
    """A 2 s Matroska file whose Segment Duration claims 60 s."""
    src = clip(d, "lie_src.mkv", audio=False)
    data = bytearray(src.read_bytes())
    i = data.find(b"\x44\x89\x88")  # EBML Duration element, 8-byte float, in TimecodeScale units (ms)
    assert i > 0, "no Duration element in the Matroska header"
    data[i + 3 : i + 11] = struct.pack(">d", 60000.0)
    out = d / "lying.mkv"
    out.write_bytes(bytes(data))
    src.unlink()
    return out


def truncated(d: Path, *, faststart: bool = False) -> Path:
    """An MP4 cut in half: with the index at the end (default) or at the front (faststart)."""
    name = "cut_faststart.mp4" if faststart else "cut.mp4"
    full = clip(d, f"full_{name}", seconds=4, extra=("-movflags", "+faststart") if faststart else ())
    data = full.read_bytes()
    out = d / name
    out.write_bytes(data[: len(data) // 2])
    full.unlink()
    return out


def text_as_mp4(d: Path) -> Path:
    out = d / "notes.mp4"
    out.write_text("this is not a video\n" * 50)
    return out


def empty(d: Path) -> Path:
    out = d / "empty.mp4"
    out.write_bytes(b"")
    return out


def stretches(
    d: Path,
    name: str = "stretches.mp4",
    *,
    black: tuple[float, float] = (2.0, 3.0),
    frozen: tuple[float, float] = (5.0, 6.0),
    silence: tuple[float, float] = (3.0, 6.0),
    seconds: float = 12.0,
) -> Path:
    """A clip with one black, one frozen and one silent stretch, each given as (start, length) in seconds.

    Video: motion, black, motion, one still frame held, motion (the black stretch must come first). Audio:
    a 1 kHz tone, digital silence over the silent stretch.
    """
    (b0, bl), (f0, fl) = black, frozen
    assert b0 + bl <= f0 and f0 + fl <= seconds, "black, then frozen, both inside the clip"
    parts = [
        (b0, "testsrc2=s=320x180:r=30"),
        (bl, "color=c=black:s=320x180:r=30"),
        (f0 - b0 - bl, "testsrc2=s=320x180:r=30"),
        # One frame held: trim keeps frame 0, tpad clones it for the rest of the stretch.
        (fl, "testsrc2=s=320x180:r=30,trim=end_frame=1,tpad=stop_mode=clone:stop=-1"),
        # A different pattern after the freeze, so its first frame does not extend the freeze.
        (seconds - f0 - fl, "testsrc=s=320x180:r=30"),
    ]
    parts = [(length, src) for length, src in parts if length > 0]
    graph = ";".join(f"{src},trim=duration={length},setpts=PTS-STARTPTS[p{i}]" for i, (length, src) in enumerate(parts))
    graph += ";" + "".join(f"[p{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=1:a=0[v]"
    s0, sl = silence
    tone = f"0.1*sin(2*PI*1000*t)*not(between(t,{s0},{s0 + sl}))"
    out = d / name
    _ff(
        "-filter_complex",
        graph,
        "-f",
        "lavfi",
        "-t",
        str(seconds),
        "-i",
        f"aevalsrc='{tone}|{tone}':s=48000",
        "-map",
        "[v]",
        "-map",
        "0:a",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        out,
    )
    return out


def tone(d: Path, name: str, *, amplitude: float, freq: float = 997.0, seconds: float = 3.0) -> Path:
    """A testsrc2 clip whose audio is one sine of peak ``amplitude`` (1.0 = full scale) in both stereo channels.

    997 Hz is the frequency BS.1770 calibrates its K-weighting at; 192 kb/s AAC keeps the level exact.
    """
    wave = f"{amplitude}*sin(2*PI*{freq}*t)"
    audio = f"aevalsrc='{wave}|{wave}':s=48000"
    return clip(d, name, seconds=seconds, audio=audio, audio_args=("-b:a", "192k"))


def reencode(
    d: Path,
    src: Path,
    name: str,
    *,
    crf: int,
    size: str | None = None,
    seconds: float | None = None,
    fps: int | None = None,
) -> Path:
    """``src``'s video as H.264 at ``crf``, optionally scaled to ``size`` ("WxH"), cut or resampled; no audio."""
    out = d / name
    vf = [f"scale={size.replace('x', ':')}"] if size else []
    if fps:
        vf.append(f"fps={fps}")
    _ff(
        "-i",
        src,
        *(["-t", str(seconds)] if seconds else []),
        *(["-vf", ",".join(vf)] if vf else []),
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        out,
    )
    return out


def remux(d: Path, src: Path, name: str, *extra: str) -> Path:
    """``src``'s streams copied unchanged into ``name`` (its extension picks the container), with ``extra`` options."""
    out = d / name
    _ff("-i", src, "-c", "copy", *extra, out)
    return out


def scene_cut(d: Path, *, cut: float = 1.5, seconds: float = 3.0, fps: int = 30) -> Path:
    """Moving test pattern, then a hard cut at ``cut`` s to a Mandelbrot zoom: video only.

    Stored with scene-cut detection off, so the cut itself carries no keyframe; an encoder with its
    defaults places one there (x264 and x265 do), one with scene cuts disabled must not.
    """
    out = d / "scene_cut.mp4"
    tail = seconds - cut
    _ff(
        "-filter_complex",
        f"testsrc2=s=320x180:r={fps}:d={cut}[a];"
        f"mandelbrot=s=320x180:r={fps},trim=duration={tail},setpts=PTS-STARTPTS[b];"
        "[a][b]concat=n=2:v=1:a=0,format=yuv420p[v]",
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "16",
        "-x264-params",
        "scenecut=0:keyint=300",
        out,
    )
    return out


def surround(d: Path, *, sample_rate: int = 44100, seconds: float = 2.0) -> Path:
    """A 320x180 clip with 5.1 AAC audio (a different tone on each channel) at ``sample_rate``."""
    tones = "|".join(f"0.1*sin(2*PI*{f}*t)" for f in (220, 330, 440, 550, 60, 660))
    audio = f"aevalsrc='{tones}':s={sample_rate}:c=5.1"
    return clip(d, "surround.mp4", seconds=seconds, audio=audio, audio_args=("-b:a", "384k"))


def lying_everywhere(d: Path) -> Path:
    """Like ``lying_duration``, but the video stream's own DURATION tag claims 60 s too.

    Nothing in the header gives the lie away; only decoding shows that 2 s are there.
    """
    data = bytearray(lying_duration(d).read_bytes())
    i = data.find(b"00:00:02.000000000")  # the Matroska DURATION tag ffmpeg writes for the stream
    assert i > 0, "no DURATION tag in the Matroska file"
    data[i : i + 18] = b"00:01:00.000000000"
    out = d / "lying_everywhere.mkv"
    out.write_bytes(bytes(data))
    return out


def corrupted(d: Path) -> Path:
    """A complete, well-indexed MP4 whose second half of video data is overwritten with zeros."""
    src = clip(d, "corrupted_src.mp4", audio=False)
    data = bytearray(src.read_bytes())
    start = data.find(b"mdat") + 4
    end = data.find(b"moov") if data.find(b"moov") > start else len(data)
    mid = (start + end) // 2
    data[mid : mid + (end - mid) // 2] = bytes((end - mid) // 2)
    out = d / "corrupted.mp4"
    out.write_bytes(bytes(data))
    src.unlink()
    return out


SRT = "1\n00:00:00,000 --> 00:00:01,000\nHello\n\n2\n00:00:01,000 --> 00:00:02,000\nWorld\n"


def multilang(d: Path, *, seconds: float = 2.0, fps: int = 25) -> Path:
    """A 320x180 clip with English stereo and French 5.1 audio and an English subtitle stream (mov_text)."""
    srt = d / "multilang_en.srt"
    srt.write_text(SRT)
    fra = "|".join(f"0.1*sin(2*PI*{f}*t)" for f in (220, 330, 440, 550, 60, 660))
    out = d / "multilang.mp4"
    _ff(
        "-f", "lavfi", "-i", f"testsrc2=s=320x180:r={fps}:d={seconds}",
        "-f", "lavfi", "-t", str(seconds), "-i", TONE,
        "-f", "lavfi", "-t", str(seconds), "-i", f"aevalsrc='{fra}':s=48000:c=5.1",
        "-i", srt,
        "-map", "0", "-map", "1", "-map", "2", "-map", "3",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-c:s", "mov_text",
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra", "-metadata:s:s:0", "language=eng",
        out,
    )  # fmt: skip
    return out


# --- colour: HDR10, HLG, 10-bit SDR and sources whose colour metadata lies (issue 16) ----------------

# A P3-D65 mastering display of 1000 cd/m² peak and 0.005 cd/m² black, in x265's units (0.00002 for the
# chromaticities, 0.0001 cd/m² for the luminances); ffprobe prints them back as "34000/50000", "50/10000".
MASTER_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
MASTER_DISPLAY_DARK = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(0,0)"


def x265_clip(
    d: Path,
    name: str,
    *,
    primaries: str = "bt2020",
    transfer: str = "smpte2084",
    matrix: str = "bt2020nc",
    master_display: str | None = MASTER_DISPLAY,
    max_cll: str | None = "1000,400",
    size: str = "64x64",
    seconds: float = 1.0,
) -> Path:
    """A 10-bit HEVC clip (FFmpeg 6.0's libx265) tagged ``primaries``/``transfer``/``matrix`` in its VUI, with
    the mastering display and MaxCLL,MaxFALL SEI when given; video only. The HDR10 default."""
    params = [f"log-level=error:colorprim={primaries}:transfer={transfer}:colormatrix={matrix}"]
    if master_display:
        params.append(f"master-display={master_display}")
    if max_cll:
        params.append(f"max-cll={max_cll}")
    if master_display or max_cll:
        params.append("hdr10=1")
    out = d / name
    run_ffmpeg(
        ["-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d={seconds}", "-pix_fmt", "yuv420p10le",
         "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", ":".join(params), str(out)],
        show_progress=False,
        tool=tools.Tool.FFMPEG_VMAF,
    )  # fmt: skip
    return out


def hdr10(d: Path) -> Path:
    """HDR10: PQ, BT.2020, 10-bit, the P3 1000 cd/m² mastering display, MaxCLL 1000 and MaxFALL 400."""
    return x265_clip(d, "hdr10.mp4")


def hdr10_bare(d: Path) -> Path:
    """PQ, BT.2020, 10-bit, but neither mastering display nor content light level metadata."""
    return x265_clip(d, "hdr10_bare.mp4", master_display=None, max_cll=None)


def hlg(d: Path) -> Path:
    """HLG: ARIB STD-B67 transfer, BT.2020, 10-bit, no static metadata (HLG needs none)."""
    return x265_clip(d, "hlg.mp4", transfer="arib-std-b67", master_display=None, max_cll=None)


def sdr10(d: Path) -> Path:
    """10-bit SDR: BT.709 tags on 10-bit HEVC."""
    return x265_clip(
        d, "sdr10.mp4", primaries="bt709", transfer="bt709", matrix="bt709", master_display=None, max_cll=None
    )


def pq_bt709(d: Path) -> Path:
    """A lie: PQ transfer with BT.709 primaries and matrix (10-bit, HDR10 metadata present)."""
    return x265_clip(d, "pq_bt709.mp4", primaries="bt709", matrix="bt709")


def mastering_dark(d: Path) -> Path:
    """A lie: HDR10 whose mastering display says 0 cd/m² max (and min); x265 writes MaxCLL/MaxFALL 0,0."""
    return x265_clip(d, "mastering_dark.mp4", master_display=MASTER_DISPLAY_DARK, max_cll=None)


def pq_8bit(d: Path, *, transfer: int = 16) -> Path:
    """A lie: 8-bit H.264 whose VUI says BT.2020 and PQ (``transfer`` 16; 18 for HLG), set by h264_metadata."""
    out = d / ("pq_8bit.mp4" if transfer == 16 else "hlg_8bit.mp4")
    _ff(
        "-f", "lavfi", "-i", "testsrc2=s=64x64:r=25:d=1", "-pix_fmt", "yuv420p", "-c:v", "libx264",
        "-preset", "ultrafast",
        "-bsf:v", f"h264_metadata=colour_primaries=9:transfer_characteristics={transfer}:matrix_coefficients=9",
        out,
    )  # fmt: skip
    return out
